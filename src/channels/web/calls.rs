//! `/calls`: the receptionist's call form. A known caller's open requests are shown as soon
//! as the number or address is typed, so a repeat call joins its request instead of opening
//! a new one. After saving: the reference and the promised time to read back, and an empty
//! form for the next call.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use axum_extra::extract::cookie::{CookieJar, SignedCookieJar};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::guard::Staff;
use super::submission::{self, CallFields, Problems, Submission};
use super::{FormPage, WebState, filed_ticket, form_page, guard, language, refusal, words};
use crate::domain::{Channel, TicketRef};
use crate::ingest::OutcomeKind;

/// What the call form holds, as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct CallForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    caller_name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    urgency: String,
    #[serde(default)]
    callback: Option<String>,
    #[serde(default)]
    best_time: String,
    #[serde(default)]
    ticket: String,
}

const CALL_FIELDS: [&str; 8] = [
    "caller_name",
    "phone",
    "email",
    "site",
    "summary",
    "details",
    "urgency",
    "best_time",
];

/// `?saved=N&how=new|appended`, `?lang=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CallsQuery {
    lang: Option<String>,
    saved: Option<i64>,
    how: Option<String>,
}

/// The signed-in receptionist (or admin), else where to go instead.
async fn receptionist(
    state: &WebState,
    signed: &SignedCookieJar,
    lang: &str,
) -> Result<Staff, Response> {
    super::signed_in(state, signed, lang, Staff::takes_calls, "/calls").await
}

struct View<'a> {
    form: &'a CallForm,
    problems: &'a Problems,
    known: Option<Vec<Value>>,
    saved: Option<Value>,
}

async fn render(
    state: &WebState,
    jar: CookieJar,
    lang: &str,
    staff: &Staff,
    view: View<'_>,
) -> Response {
    let (errors, summary) = words::problems(state, lang, view.problems, &CALL_FIELDS);
    let prefix = &state.engine().settings.desk.ticket_prefix;
    let recent: Vec<Value> = state
        .store
        .recent_calls(10)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|call| {
            json!({
                "reference": TicketRef::new(prefix, call.number).to_string(),
                "name": call.name.unwrap_or_default(),
                "summary": call.summary,
                "at": call.created_at.format("%d.%m. %H:%M UTC").to_string(),
            })
        })
        .collect();
    let title = state.strings.text(lang, "calls_title", &[]);
    let page = json!({
        "form": {
            "caller_name": view.form.caller_name,
            "phone": view.form.phone,
            "email": view.form.email,
            "summary": view.form.summary,
            "details": view.form.details,
            "callback": view.form.callback.is_some(),
            "best_time": view.form.best_time,
            "ticket": view.form.ticket,
        },
        "errors": errors,
        "problems": if view.problems.is_empty() { Value::Null } else { summary },
        "sites": words::sites(state, &view.form.site),
        "urgencies": words::urgencies(state, lang, &view.form.urgency),
        "looked_up": view.known.is_some(),
        "known": view.known,
        "saved": view.saved,
        "recent": recent,
    });
    let form = FormPage {
        template: "calls",
        title: &title,
        staff: Some(staff),
        page,
        status: words::form_status(view.problems),
    };
    form_page(state, jar, lang, form)
}

/// `GET /calls`: an empty form, with what was just saved to read back.
pub(crate) async fn page(
    State(state): State<WebState>,
    Query(query): Query<CallsQuery>,
    jar: CookieJar,
    signed: SignedCookieJar,
    headers: HeaderMap,
) -> Response {
    let (jar, lang) = language(&state, jar, query.lang.as_deref(), &headers);
    let staff = match receptionist(&state, &signed, &lang).await {
        Ok(staff) => staff,
        Err(response) => return (jar, response).into_response(),
    };
    let saved = match query.saved {
        Some(number) => saved_banner(&state, &lang, number, query.how.as_deref()).await,
        None => None,
    };
    let view = View {
        form: &CallForm::default(),
        problems: &Problems::new(),
        known: None,
        saved,
    };
    render(&state, jar, &lang, &staff, view).await
}

async fn saved_banner(
    state: &WebState,
    lang: &str,
    number: i64,
    how: Option<&str>,
) -> Option<Value> {
    let ticket = state.store.ticket_detail(number).await.ok()??;
    let prefix = &state.engine().settings.desk.ticket_prefix;
    let reference = TicketRef::new(prefix, number).to_string();
    let key = if how == Some("appended") {
        "calls_appended"
    } else {
        "calls_saved"
    };
    let line = state.strings.text(lang, key, &[("ticket", &reference)]);
    let promise = words::promise(
        state,
        lang,
        ticket.due_at,
        ticket.site.as_deref(),
        Utc::now(),
    );
    let read_back = state.strings.text(
        lang,
        "calls_read_back",
        &[("ticket", &reference), ("promise", &promise)],
    );
    Some(json!({"line": line, "read_back": read_back}))
}

/// The caller's open requests as choices, the one picked marked.
async fn known_tickets(
    state: &WebState,
    lang: &str,
    phone: Option<&str>,
    email: Option<&str>,
    picked: &str,
) -> Vec<Value> {
    let prefix = &state.engine().settings.desk.ticket_prefix;
    state
        .store
        .open_tickets_of(phone, email)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            let reference = TicketRef::new(prefix, t.number).to_string();
            json!({
                "number": t.number,
                "label": state.strings.text(lang, "calls_join", &[("ticket", &reference), ("summary", &t.summary)]),
                "checked": t.number.to_string() == picked,
            })
        })
        .collect()
}

/// `POST /calls`: look the caller up, or save the call.
pub(crate) async fn post(
    State(state): State<WebState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    signed: SignedCookieJar,
    headers: HeaderMap,
    Form(mut form): Form<CallForm>,
) -> Response {
    let (jar, lang) = language(&state, jar, None, &headers);
    let staff = match receptionist(&state, &signed, &lang).await {
        Ok(staff) => staff,
        Err(response) => return (jar, response).into_response(),
    };
    if !state.limit.allow(client.ip()) {
        return refusal(&state, &lang, StatusCode::TOO_MANY_REQUESTS, "err_rate");
    }
    let Some(submission_id) = guard::check_csrf(&state, &jar, &form.csrf) else {
        return refusal(&state, &lang, StatusCode::FORBIDDEN, "err_csrf");
    };
    let mut problems = Problems::new();
    let region = state.region(form.site.trim());
    if form.action == "lookup" {
        let phone = submission::phone(&mut problems, "phone", &form.phone, region);
        let email = submission::email(&mut problems, "email", &form.email, false);
        // Only the contact fields matter for a look-up; the rest is kept as typed.
        let known = known_tickets(
            &state,
            &lang,
            phone.as_deref(),
            email.as_deref(),
            &form.ticket,
        )
        .await;
        let view = View {
            form: &form,
            problems: &problems,
            known: Some(known),
            saved: None,
        };
        return render(&state, jar, &lang, &staff, view).await;
    }
    let fields = CallFields {
        caller_name: &form.caller_name,
        phone: &form.phone,
        email: &form.email,
        site: &form.site,
        summary: &form.summary,
        details: &form.details,
        best_time: &form.best_time,
        urgency: &form.urgency,
    };
    let checked = submission::check_call(&mut problems, fields, &state.engine().rules, region);
    let (phone, email, urgency) = (checked.phone, checked.email, checked.urgency);
    form.caller_name = checked.caller_name;
    form.site = checked.site;
    form.summary = checked.summary;
    form.details = checked.details;
    form.best_time = checked.best_time;
    let (Some(urgency), true) = (urgency, problems.is_empty()) else {
        let known = if phone.is_some() || email.is_some() {
            Some(
                known_tickets(
                    &state,
                    &lang,
                    phone.as_deref(),
                    email.as_deref(),
                    &form.ticket,
                )
                .await,
            )
        } else {
            None
        };
        let view = View {
            form: &form,
            problems: &problems,
            known,
            saved: None,
        };
        return render(&state, jar, &lang, &staff, view).await;
    };
    let description = if form.details.is_empty() {
        form.summary.clone()
    } else {
        form.details.clone()
    };
    let callback = form.callback.is_some().then(|| {
        if form.best_time.is_empty() {
            "any time".to_owned()
        } else {
            form.best_time.clone()
        }
    });
    let filed = Submission {
        channel: Channel::Call,
        name: form.caller_name.clone(),
        email,
        phone,
        site: form.site.clone(),
        subject: form.summary.clone(),
        description,
        urgency,
        callback,
        ticket: form.ticket.trim().parse().ok(),
        attachment: None,
        page_language: None,
        source_key: format!("call:{submission_id}"),
    };
    let outcome = match state.writer.submit(filed.into_input(Utc::now())).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::warn!(error = %e, "A call could not be stored.");
            return refusal(
                &state,
                &lang,
                StatusCode::SERVICE_UNAVAILABLE,
                "err_unavailable",
            );
        }
    };
    let how = if outcome.outcome == OutcomeKind::Appended {
        "appended"
    } else {
        "new"
    };
    match filed_ticket(&state, &outcome).await {
        Some(ticket) => {
            tracing::info!(ticket = %outcome.ticket.as_deref().unwrap_or(""), by = %staff.name, how, "Call logged.");
            let next = format!("/calls?saved={}&how={how}", ticket.number);
            (jar, Redirect::to(&next)).into_response()
        }
        None => refusal(
            &state,
            &lang,
            StatusCode::SERVICE_UNAVAILABLE,
            "err_unavailable",
        ),
    }
}

/// `?phone=&email=&site=` for the look-up script.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LookupQuery {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    site: String,
}

/// `GET /calls/lookup`: the caller's open requests as JSON, for the form's script.
pub(crate) async fn lookup(
    State(state): State<WebState>,
    Query(query): Query<LookupQuery>,
    jar: CookieJar,
    signed: SignedCookieJar,
    headers: HeaderMap,
) -> Response {
    let (_, lang) = language(&state, jar, None, &headers);
    match guard::staff(&state, &signed).await {
        Some(staff) if staff.takes_calls() => {}
        _ => {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "sign in first"})),
            )
                .into_response();
        }
    }
    let region = state.region(query.site.trim());
    let phone = submission::phone_e164(query.phone.trim(), region);
    let email = Some(query.email.trim().to_lowercase()).filter(|e| e.contains('@'));
    let tickets = known_tickets(&state, &lang, phone.as_deref(), email.as_deref(), "").await;
    let none = state.strings.text(&lang, "calls_none_known", &[]);
    Json(json!({"tickets": tickets, "none": none})).into_response()
}
