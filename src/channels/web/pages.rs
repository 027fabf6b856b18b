//! The public pages: how the desk works (`/`), the employee's request form (`/request`) and
//! its confirmation.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::submission::{self, Problem, Problems, RequestFields, Submission, Upload, max};
use super::{
    FormPage, WebState, filed_ticket, form_page, guard, html, language, message, page_data,
    refusal, words,
};
use crate::domain::{Channel, TicketRef};
use crate::ingest::OutcomeKind;

/// `?lang=` on any page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LangQuery {
    lang: Option<String>,
}

/// `/`: what the desk is, how a request travels, hours and phones per site.
pub(crate) async fn home(
    State(state): State<WebState>,
    Query(query): Query<LangQuery>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let (jar, lang) = language(&state, jar, query.lang.as_deref(), &headers);
    let strings = &state.strings;
    let days = strings.list(&lang, "weekdays_short");
    let always = strings.text(&lang, "hours_always", &[]);
    let engine = state.engine();
    let mut sites: Vec<_> = engine.rules.sites.values().collect();
    sites.sort_by(|a, b| a.name.cmp(&b.name));
    let sites: Vec<Value> = sites
        .into_iter()
        .map(|site| {
            json!({
                "name": site.name,
                "hours": site.calendar.hours.describe(&days, &always),
                "phone": (!site.desk_phone.is_empty()).then_some(&site.desk_phone),
                "phone_link": site.desk_phone.replace(' ', ""),
            })
        })
        .collect();
    let desk = &state.engine().settings.desk.name;
    let intro = strings.text(&lang, "home_intro", &[("desk", desk)]);
    let title = strings.text(&lang, "home_title", &[]);
    let data = page_data(
        &state,
        &lang,
        &title,
        "",
        None,
        json!({"intro": intro, "sites": sites}),
    );
    (jar, html(&state, StatusCode::OK, "home", &data)).into_response()
}

/// What the request form holds, as typed.
#[derive(Debug, Default, Clone)]
struct RequestForm {
    name: String,
    email: String,
    site: String,
    subject: String,
    description: String,
    urgency: String,
}

const REQUEST_FIELDS: [&str; 7] = [
    "name",
    "email",
    "site",
    "subject",
    "description",
    "urgency",
    "attachment",
];

fn request_page(
    state: &WebState,
    jar: CookieJar,
    lang: &str,
    form: &RequestForm,
    problems: &Problems,
) -> Response {
    let (errors, summary) = words::problems(state, lang, problems, &REQUEST_FIELDS);
    let title = state.strings.text(lang, "request_title", &[]);
    let size = words::size_text(state.engine().settings.web.max_upload_bytes);
    let page = json!({
        "form": {
            "name": form.name,
            "email": form.email,
            "subject": form.subject,
            "description": form.description,
        },
        "errors": errors,
        "problems": if problems.is_empty() { Value::Null } else { summary },
        "sites": words::sites(state, &form.site),
        "urgencies": words::urgencies(state, lang, &form.urgency),
        "max_upload": state.strings.text(lang, "field_attachment_hint", &[("size", &size)]),
    });
    let form = FormPage {
        template: "request",
        title: &title,
        staff: None,
        page,
        status: words::form_status(problems),
    };
    form_page(state, jar, lang, form)
}

/// `GET /request`: the empty form.
pub(crate) async fn request_form(
    State(state): State<WebState>,
    Query(query): Query<LangQuery>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let (jar, lang) = language(&state, jar, query.lang.as_deref(), &headers);
    request_page(
        &state,
        jar,
        &lang,
        &RequestForm::default(),
        &Problems::new(),
    )
}

/// `POST /request`: check, keep what was typed on error, else file it and show the reference.
pub(crate) async fn request_post(
    State(state): State<WebState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let (jar, lang) = language(&state, jar, None, &headers);
    if !state.limit.allow(client.ip()) {
        return refusal(&state, &lang, StatusCode::TOO_MANY_REQUESTS, "err_rate");
    }
    let mut form = RequestForm::default();
    let mut csrf = String::new();
    let mut upload = None;
    let mut problems = Problems::new();
    let max_upload = state.engine().settings.web.max_upload_bytes;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                tracing::info!(error = %e, "A request form could not be read.");
                let size = words::size_text(max_upload);
                let text = state.strings.text(&lang, "err_too_big", &[("size", &size)]);
                let heading = state.strings.text(&lang, "request_title", &[]);
                return message(
                    &state,
                    &lang,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &heading,
                    &text,
                );
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        if name == "attachment" {
            let file_name = field.file_name().unwrap_or("").to_owned();
            let content_type = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_lowercase();
            let bytes = field.bytes().await.unwrap_or_default();
            if bytes.len() > max_upload {
                problems.insert("attachment", Problem::Attachment);
            } else if !bytes.is_empty() || !file_name.is_empty() {
                upload = Some(Upload {
                    name: if file_name.is_empty() {
                        "attachment".to_owned()
                    } else {
                        file_name
                    },
                    content_type,
                    bytes: bytes.to_vec(),
                });
            }
            continue;
        }
        let value = field.text().await.unwrap_or_default();
        match name.as_str() {
            "csrf" => csrf = value,
            "name" => form.name = value,
            "email" => form.email = value,
            "site" => form.site = value,
            "subject" => form.subject = value,
            "description" => form.description = value,
            "urgency" => form.urgency = value,
            _ => {}
        }
    }
    let Some(submission_id) = guard::check_csrf(&state, &jar, &csrf) else {
        return refusal(&state, &lang, StatusCode::FORBIDDEN, "err_csrf");
    };
    let fields = RequestFields {
        name: &form.name,
        email: &form.email,
        site: &form.site,
        subject: &form.subject,
        description: &form.description,
        urgency: &form.urgency,
    };
    let checked = submission::check_request(&mut problems, fields, &state.engine().rules);
    let (email, urgency) = (checked.email, checked.urgency);
    form.name = checked.name;
    form.email = form.email.trim().chars().take(max::EMAIL).collect();
    form.site = checked.site;
    form.subject = checked.subject;
    form.description = checked.description;
    let (Some(urgency), true) = (urgency, problems.is_empty()) else {
        return request_page(&state, jar, &lang, &form, &problems);
    };
    let filed = Submission {
        channel: Channel::Web,
        name: form.name.clone(),
        email,
        phone: None,
        site: form.site.clone(),
        subject: form.subject.clone(),
        description: form.description.clone(),
        urgency,
        callback: None,
        ticket: None,
        attachment: upload,
        page_language: Some(lang.clone()),
        source_key: format!("web:{submission_id}"),
    };
    match state.writer.submit(filed.into_input(Utc::now())).await {
        Ok(outcome) => {
            let ticket = filed_ticket(&state, &outcome).await;
            match (outcome.outcome, ticket) {
                (OutcomeKind::New | OutcomeKind::Duplicate | OutcomeKind::Appended, Some(t)) => (
                    jar,
                    Redirect::to(&format!("/request/sent/{}", t.access_token)),
                )
                    .into_response(),
                _ => {
                    tracing::warn!(outcome = outcome.outcome.as_str(), reason = ?outcome.reason, "A web request got no ticket.");
                    unavailable(&state, &lang)
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "A web request could not be stored.");
            unavailable(&state, &lang)
        }
    }
}

fn unavailable(state: &WebState, lang: &str) -> Response {
    refusal(
        state,
        lang,
        StatusCode::SERVICE_UNAVAILABLE,
        "err_unavailable",
    )
}

/// `GET /request/sent/{token}`: the reference and the promised time.
pub(crate) async fn sent(
    State(state): State<WebState>,
    Path(token): Path<String>,
    Query(query): Query<LangQuery>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let (jar, lang) = language(&state, jar, query.lang.as_deref(), &headers);
    let Ok(Some(ticket)) = state.store.ticket_by_token(&token).await else {
        return (jar, not_found(&state, &lang)).into_response();
    };
    let strings = &state.strings;
    let reference = TicketRef::new(&state.engine().settings.desk.ticket_prefix, ticket.number);
    let when = words::promise(
        &state,
        &lang,
        ticket.due_at,
        ticket.site.as_deref(),
        Utc::now(),
    );
    let promise = strings.text(&lang, "sent_promise", &[("promise", &when)]);
    let mail_line = match &ticket.requester_email {
        Some(email) => strings.text(&lang, "sent_mail", &[("email", email)]),
        None => strings.text(&lang, "sent_nomail", &[]),
    };
    let phone = words::desk_phone(&state, ticket.site.as_deref());
    let urgent_line = phone.map(|p| strings.text(&lang, "sent_urgent", &[("phone", &p)]));
    let secret = ticket.secrets_found;
    let title = strings.text(&lang, "sent_title", &[]);
    let data = page_data(
        &state,
        &lang,
        &title,
        "",
        None,
        json!({
            "ticket": reference.to_string(),
            "summary": ticket.summary,
            "promise": promise,
            "mail_line": mail_line,
            "status_url": format!("/t/{token}"),
            "urgent_line": urgent_line,
            "secret": secret,
        }),
    );
    (jar, html(&state, StatusCode::OK, "sent", &data)).into_response()
}

/// The page for a link that leads nowhere.
pub(crate) fn not_found(state: &WebState, lang: &str) -> Response {
    let heading = state.strings.text(lang, "not_found_title", &[]);
    let text = state.strings.text(lang, "not_found_text", &[]);
    message(state, lang, StatusCode::NOT_FOUND, &heading, &text)
}
