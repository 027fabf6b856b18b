//! `/admin/rules`: the rules as loaded, the last reload and its result (with each problem's
//! file, line and column), and a dry run of a pasted message — the same answer as
//! `switchboard rules test --json`, so the page and the command never disagree.

use axum::Form;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{CookieJar, SignedCookieJar};
use serde::Deserialize;
use serde_json::{Value, json};

use super::guard::{self, Staff};
use super::submission::{self, CallFields, Problems, Submission};
use super::{FormPage, WebState, form_page, language, refusal};
use crate::domain::Channel;

/// `?lang=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AdminQuery {
    lang: Option<String>,
}

/// The dry-run boxes: a pasted message, or a call as the receptionist would log it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DryRunForm {
    csrf: String,
    /// `message` or `call`.
    kind: String,
    message: String,
    caller_name: String,
    phone: String,
    email: String,
    site: String,
    summary: String,
    details: String,
    urgency: String,
}

/// The signed-in admin, else where to go instead.
async fn admin(state: &WebState, signed: &SignedCookieJar, lang: &str) -> Result<Staff, Response> {
    super::signed_in(state, signed, lang, Staff::is_admin, "/admin/rules").await
}

/// What the page and `GET /api/v1/admin/rules` say about the live rules.
fn rules_status(state: &WebState) -> Value {
    let engine = state.engine();
    json!({
        "last_reload": state.live().last_reload(),
        "rules": engine.rules.rule_names(),
        "files": engine.rules.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        "agents": engine.rules.agents.len(),
        "sites": engine.rules.sites.len(),
    })
}

/// The dry run of one message against the live rules and the database (read only).
async fn dry_run(state: &WebState, raw: &[u8]) -> Result<Value, crate::store::StoreError> {
    let engine = state.engine();
    crate::ingest::dry_run(&engine, Some(&state.store), raw)
        .await
        .map(|run| run.0)
}

/// `GET /admin/rules`.
pub(crate) async fn page(
    State(state): State<WebState>,
    Query(query): Query<AdminQuery>,
    jar: CookieJar,
    signed: SignedCookieJar,
    headers: HeaderMap,
) -> Response {
    let (jar, lang) = language(&state, jar, query.lang.as_deref(), &headers);
    let staff = match admin(&state, &signed, &lang).await {
        Ok(staff) => staff,
        Err(response) => return (jar, response).into_response(),
    };
    render(&state, jar, &lang, &staff, &DryRunForm::default(), None)
}

/// The dry run of a call filled in on the page: checked like the call form, then judged by
/// the live rules like a logged call (nothing is stored).
async fn call_dry_run(state: &WebState, lang: &str, form: &DryRunForm) -> Result<Value, String> {
    let engine = state.engine();
    let mut problems = Problems::new();
    let fields = CallFields {
        caller_name: &form.caller_name,
        phone: &form.phone,
        email: &form.email,
        site: &form.site,
        summary: &form.summary,
        details: &form.details,
        best_time: "",
        urgency: &form.urgency,
    };
    let checked = submission::check_call(
        &mut problems,
        fields,
        &engine.rules,
        state.region(&form.site),
    );
    let (Some(urgency), true) = (checked.urgency, problems.is_empty()) else {
        let said: Vec<String> = problems
            .iter()
            .map(|(field, problem)| {
                format!("{field}: {}", super::words::problem(state, lang, problem))
            })
            .collect();
        return Err(said.join("; "));
    };
    let description = if checked.details.is_empty() {
        checked.summary.clone()
    } else {
        checked.details.clone()
    };
    let call = Submission {
        channel: Channel::Call,
        name: checked.caller_name,
        email: checked.email,
        phone: checked.phone,
        site: checked.site,
        subject: checked.summary,
        description,
        urgency,
        callback: None,
        ticket: None,
        attachment: None,
        page_language: None,
        source_key: "dry-run".to_owned(),
    };
    let intake = call
        .into_input(chrono::Utc::now())
        .intake
        .ok_or_else(|| "the call could not be read".to_owned())?;
    crate::ingest::dry_run_intake(&engine, Some(&state.store), *intake)
        .await
        .map(|run| run.0)
        .map_err(|e| e.to_string())
}

/// `POST /admin/rules`: the dry run of the pasted message.
pub(crate) async fn test(
    State(state): State<WebState>,
    jar: CookieJar,
    signed: SignedCookieJar,
    headers: HeaderMap,
    Form(form): Form<DryRunForm>,
) -> Response {
    let (jar, lang) = language(&state, jar, None, &headers);
    let staff = match admin(&state, &signed, &lang).await {
        Ok(staff) => staff,
        Err(response) => return (jar, response).into_response(),
    };
    if guard::check_csrf(&state, &jar, &form.csrf).is_none() {
        return refusal(&state, &lang, StatusCode::FORBIDDEN, "err_csrf");
    }
    if form.kind == "call" {
        return match call_dry_run(&state, &lang, &form).await {
            Ok(result) => render(&state, jar, &lang, &staff, &form, Some(result)),
            Err(problem) => render_problem(&state, jar, &lang, &staff, &form, problem),
        };
    }
    // A pasted message has the browser's line ends; a bare text is taken as the body.
    let raw = if form.message.contains(':')
        && form.message.lines().next().is_some_and(|l| l.contains(':'))
    {
        form.message.clone()
    } else {
        format!(
            "From: someone@example.com\nSubject: (pasted)\n\n{}",
            form.message
        )
    };
    match dry_run(&state, raw.as_bytes()).await {
        Ok(result) => render(&state, jar, &lang, &staff, &form, Some(result)),
        Err(e) => {
            tracing::warn!(error = %e, "A dry run could not read the database.");
            refusal(
                &state,
                &lang,
                StatusCode::SERVICE_UNAVAILABLE,
                "err_unavailable",
            )
        }
    }
}

fn render_problem(
    state: &WebState,
    jar: CookieJar,
    lang: &str,
    staff: &Staff,
    form: &DryRunForm,
    problem: String,
) -> Response {
    render_with(state, jar, lang, staff, form, None, Some(problem))
}

fn render(
    state: &WebState,
    jar: CookieJar,
    lang: &str,
    staff: &Staff,
    form: &DryRunForm,
    result: Option<Value>,
) -> Response {
    render_with(state, jar, lang, staff, form, result, None)
}

fn render_with(
    state: &WebState,
    jar: CookieJar,
    lang: &str,
    staff: &Staff,
    form: &DryRunForm,
    result: Option<Value>,
    problem: Option<String>,
) -> Response {
    let status = rules_status(state);
    let pretty = result
        .as_ref()
        .and_then(|r| serde_json::to_string_pretty(r).ok());
    let engine = state.engine();
    let mut sites: Vec<_> = engine.rules.sites.values().collect();
    sites.sort_by(|a, b| a.name.cmp(&b.name));
    let page = json!({
        "status": status,
        "pasted": form.message,
        "call": {
            "caller_name": form.caller_name, "phone": form.phone, "email": form.email,
            "summary": form.summary, "details": form.details,
        },
        "sites": sites.iter().map(|s| json!({"id": s.id, "name": s.name, "selected": s.id == form.site})).collect::<Vec<_>>(),
        "urgencies": super::words::urgencies(state, lang, &form.urgency),
        "problem": problem,
        "result": result,
        "result_json": pretty,
    });
    let title = state.strings.text(lang, "admin_rules_title", &[]);
    form_page(
        state,
        jar,
        lang,
        FormPage {
            template: "admin_rules",
            title: &title,
            staff: Some(staff),
            page,
            status: StatusCode::OK,
        },
    )
}

/// `GET /api/v1/admin/rules` (admin token): the live rules and the last reload.
pub(crate) async fn api_status(State(state): State<WebState>, headers: HeaderMap) -> Response {
    if let Err(response) = api_admin(&state, &headers).await {
        return response;
    }
    Json(rules_status(&state)).into_response()
}

/// `POST /api/v1/admin/rules/test` (admin token; the body is the message): the dry run.
pub(crate) async fn api_test(
    State(state): State<WebState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = api_admin(&state, &headers).await {
        return response;
    }
    match dry_run(&state, &body).await {
        Ok(result) => Json(result).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn api_admin(state: &WebState, headers: &HeaderMap) -> Result<Staff, Response> {
    match guard::bearer(state, headers).await {
        Some(staff) if staff.role == "admin" => Ok(staff),
        Some(_) => Err((
            StatusCode::FORBIDDEN,
            Json(json!({"error": "this needs a token with role admin"})),
        )
            .into_response()),
        None => Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "send Authorization: Bearer <token>"})),
        )
            .into_response()),
    }
}
