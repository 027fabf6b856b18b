//! The JSON API (DESIGN §9): requests, calls, a ticket's state, resolving. Bearer tokens made
//! by `switchboard token add`; errors as `{error, field?}` with a message a person can act on.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::guard::{self, Staff};
use super::submission::{self, CallFields, Problems, RequestFields, Submission, max};
use super::work::{self, Action, Refused};
use super::{WebState, filed_ticket, words};
use crate::domain::{Channel, TicketRef};
use crate::ingest::OutcomeKind;
use crate::queue::Filter;
use crate::store::TicketDetail;
use crate::store::time_text;

fn error(status: StatusCode, message: &str, field: Option<&str>) -> Response {
    let body = match field {
        Some(field) => json!({"error": message, "field": field}),
        None => json!({"error": message}),
    };
    (status, Json(body)).into_response()
}

/// The first problem in the order the fields are documented.
fn first_problem(state: &WebState, problems: &Problems, order: &[&str]) -> Response {
    let first = order
        .iter()
        .find_map(|field| problems.get_key_value(field))
        .or_else(|| problems.iter().next());
    match first {
        Some((field, problem)) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("{field}: {}", words::problem(state, "en", problem)),
            Some(field),
        ),
        None => error(StatusCode::UNPROCESSABLE_ENTITY, "invalid request", None),
    }
}

/// A refusal, boxed: a response is large and the happy path should not carry it.
type Refusal = Box<Response>;

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes, shape: &str) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            &format!("the body must be a JSON object like {shape}: {e}"),
            None,
        ))
    })
}

async fn caller(state: &WebState, headers: &HeaderMap, roles: &[&str]) -> Result<Staff, Refusal> {
    match guard::bearer(state, headers).await {
        Some(staff) if roles.contains(&staff.role.as_str()) => Ok(staff),
        Some(staff) => Err(Box::new(error(
            StatusCode::FORBIDDEN,
            &format!(
                "a token with role {} cannot do this; it needs one of: {}",
                staff.role,
                roles.join(", ")
            ),
            None,
        ))),
        None => Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "send Authorization: Bearer <token>, made with `switchboard token add NAME --role ROLE`",
            None,
        ))),
    }
}

/// The input key of an API submission. An `Idempotency-Key` is the caller's own, never the
/// desk's: it counts only within the token that sent it, or, without a token, within the
/// requester's address (keyed with the desk secret, so the stored key names neither), so
/// another caller sending the same key files a request of their own and never gets the
/// first caller's ticket or status link.
fn idempotency(
    state: &WebState,
    headers: &HeaderMap,
    prefix: &str,
    caller: Option<&Staff>,
    email: Option<&str>,
) -> String {
    use hmac::Mac as _;
    let Some(key) = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 200)
    else {
        return format!("{prefix}:{}", guard::random_hex(12));
    };
    let scope = match caller {
        Some(staff) => format!("token\0{}", staff.name),
        None => format!("address\0{}", email.unwrap_or("")),
    };
    let engine = state.engine();
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&engine.key) else {
        return format!("{prefix}:{}", guard::random_hex(12));
    };
    mac.update(scope.as_bytes());
    mac.update(b"\0");
    mac.update(key.as_bytes());
    let digest = hex::encode(&mac.finalize().into_bytes()[..16]);
    format!("{prefix}:key:{digest}")
}

/// Files it and answers `201 {ticket, status_url, promised_by}` (`200` + `appended` when it
/// joined an open ticket, `200` + `duplicate` when the idempotency key was seen).
async fn file(state: &WebState, submission: Submission) -> Response {
    let outcome = match state.writer.submit(submission.into_input(Utc::now())).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::warn!(error = %e, "An API request could not be stored.");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable; nothing was stored, send it again shortly",
                None,
            );
        }
    };
    let prefix = &state.engine().settings.desk.ticket_prefix;
    let ticket = filed_ticket(state, &outcome).await;
    let Some(ticket) = ticket else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!(
                "not filed: {}",
                outcome
                    .reason
                    .as_deref()
                    .unwrap_or(outcome.outcome.as_str())
            ),
            None,
        );
    };
    let mut body = json!({
        "ticket": TicketRef::new(prefix, ticket.number).to_string(),
        "status_url": format!("{}/t/{}", state.engine().settings.desk.public_url, ticket.access_token),
        "promised_by": time_text(ticket.due_at),
    });
    let status = match outcome.outcome {
        OutcomeKind::Appended => {
            body["appended"] = json!(true);
            StatusCode::OK
        }
        OutcomeKind::Duplicate => {
            body["duplicate"] = json!(true);
            StatusCode::OK
        }
        _ => StatusCode::CREATED,
    };
    (status, Json(body)).into_response()
}

const REQUEST_ORDER: [&str; 6] = ["name", "email", "site", "subject", "description", "urgency"];
const CALL_ORDER: [&str; 8] = [
    "caller_name",
    "phone",
    "email",
    "site",
    "summary",
    "details",
    "best_time",
    "urgency",
];

fn too_many() -> Response {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "too many requests from this address; wait a minute",
        None,
    )
}

/// `POST /api/v1/requests`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RequestBody {
    name: String,
    email: String,
    site: String,
    subject: String,
    description: String,
    urgency: String,
}

pub(crate) async fn requests(
    State(state): State<WebState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = if state.engine().settings.web.require_token_for_requests
        || headers.contains_key(axum::http::header::AUTHORIZATION)
    {
        match caller(&state, &headers, &["receptionist", "agent", "admin"]).await {
            Ok(staff) => Some(staff),
            Err(response) => return *response,
        }
    } else {
        None
    };
    if !state.limit.allow(client.ip()) {
        return too_many();
    }
    let body: RequestBody = match parse(
        &body,
        r#"{"name", "email", "site", "subject", "description", "urgency"}"#,
    ) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let mut problems = Problems::new();
    let fields = RequestFields {
        name: &body.name,
        email: &body.email,
        site: &body.site,
        subject: &body.subject,
        description: &body.description,
        urgency: &body.urgency,
    };
    let checked = submission::check_request(&mut problems, fields, &state.engine().rules);
    let (Some(urgency), true) = (checked.urgency, problems.is_empty()) else {
        return first_problem(&state, &problems, &REQUEST_ORDER);
    };
    let source_key = idempotency(
        &state,
        &headers,
        "api",
        token.as_ref(),
        checked.email.as_deref(),
    );
    let submission = Submission {
        channel: Channel::Api,
        name: checked.name,
        email: checked.email,
        phone: None,
        site: checked.site,
        subject: checked.subject,
        description: checked.description,
        urgency,
        callback: None,
        ticket: None,
        attachment: None,
        page_language: None,
        source_key,
    };
    file(&state, submission).await
}

/// `POST /api/v1/calls`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CallBody {
    caller_name: String,
    phone: String,
    email: String,
    site: String,
    summary: String,
    details: String,
    urgency: String,
    callback: Callback,
    ticket: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Callback {
    wanted: bool,
    best_time: String,
}

pub(crate) async fn calls(
    State(state): State<WebState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let staff = match caller(&state, &headers, &["receptionist", "admin"]).await {
        Ok(staff) => staff,
        Err(response) => return *response,
    };
    if !state.limit.allow(client.ip()) {
        return too_many();
    }
    let body: CallBody = match parse(
        &body,
        r#"{"caller_name", "phone", "email", "site", "summary", "details", "urgency", "callback": {"wanted", "best_time"}, "ticket"}"#,
    ) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let mut problems = Problems::new();
    let fields = CallFields {
        caller_name: &body.caller_name,
        phone: &body.phone,
        email: &body.email,
        site: &body.site,
        summary: &body.summary,
        details: &body.details,
        best_time: &body.callback.best_time,
        urgency: &body.urgency,
    };
    let region = state.region(body.site.trim());
    let checked = submission::check_call(&mut problems, fields, &state.engine().rules, region);
    let urgency = checked.urgency;
    let prefix = &state.engine().settings.desk.ticket_prefix;
    let ticket = match body
        .ticket
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        Some(text) => match TicketRef::parse(prefix, text) {
            Some(reference) => Some(reference.number()),
            None => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("ticket: \"{text}\" is not a reference like {prefix}-1042"),
                    Some("ticket"),
                );
            }
        },
        None => None,
    };
    let (Some(urgency), true) = (urgency, problems.is_empty()) else {
        return first_problem(&state, &problems, &CALL_ORDER);
    };
    let submission = Submission {
        channel: Channel::Call,
        name: checked.caller_name,
        email: checked.email,
        phone: checked.phone,
        site: checked.site,
        description: if checked.details.is_empty() {
            checked.summary.clone()
        } else {
            checked.details
        },
        subject: checked.summary,
        urgency,
        callback: body.callback.wanted.then(|| {
            if checked.best_time.is_empty() {
                "any time".to_owned()
            } else {
                checked.best_time
            }
        }),
        ticket,
        attachment: None,
        page_language: None,
        source_key: idempotency(&state, &headers, "api-call", Some(&staff), None),
    };
    file(&state, submission).await
}

/// `GET /api/v1/tickets/{ref}`.
pub(crate) async fn ticket(
    State(state): State<WebState>,
    Path(reference): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = caller(&state, &headers, &["receptionist", "agent", "admin"]).await {
        return *response;
    }
    let prefix = &state.engine().settings.desk.ticket_prefix;
    let Some(number) = TicketRef::parse(prefix, &reference).map(|r| r.number()) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("\"{reference}\" is not a reference like {prefix}-1042"),
            None,
        );
    };
    match state.store.ticket_detail(number).await {
        Ok(Some(ticket)) => {
            let events: Vec<Value> = ticket
                .events
                .iter()
                .map(|e| json!({"at": time_text(e.at), "kind": e.kind, "text": e.text}))
                .collect();
            Json(json!({
                "ticket": TicketRef::new(prefix, ticket.number).to_string(),
                "status": ticket.status,
                "priority": ticket.priority,
                "category": ticket.category,
                "tags": ticket.tags,
                "site": ticket.site,
                "language": ticket.language,
                "agent": ticket.agent,
                "team": ticket.team,
                "channel": ticket.channel,
                "created_at": time_text(ticket.created_at),
                "due_at": time_text(ticket.due_at),
                "resolved_at": ticket.resolved_at.map(time_text),
                "rating": ticket.rating,
                "events": events,
                "deliveries": ticket.deliveries,
            }))
            .into_response()
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            &format!("no ticket {reference}"),
            None,
        ),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
    }
}

/// `POST /api/v1/tickets/{ref}/resolve` `{text}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResolveBody {
    text: String,
}

pub(crate) async fn resolve(
    State(state): State<WebState>,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let staff = match caller(&state, &headers, &["agent", "admin"]).await {
        Ok(staff) => staff,
        Err(response) => return *response,
    };
    let body: ResolveBody = if body.is_empty() {
        ResolveBody::default()
    } else {
        match parse(&body, r#"{"text"}"#) {
            Ok(body) => body,
            Err(response) => return *response,
        }
    };
    let mut problems = Problems::new();
    let text = submission::text(&mut problems, "text", &body.text, max::TEXT, false);
    if !problems.is_empty() {
        return first_problem(&state, &problems, &["text"]);
    }
    acted(
        &state,
        &staff,
        &reference,
        Action::Resolve { text },
        "resolved",
    )
    .await
}

/// The ticket a path names, or 404.
async fn ticket_named(state: &WebState, reference: &str) -> Result<TicketDetail, Refusal> {
    let prefix = &state.engine().settings.desk.ticket_prefix;
    let missing = || {
        Box::new(error(
            StatusCode::NOT_FOUND,
            &format!("no ticket {reference}"),
            None,
        ))
    };
    let number = TicketRef::parse(prefix, reference)
        .map(|r| r.number())
        .ok_or_else(missing)?;
    match state.store.ticket_detail(number).await {
        Ok(Some(ticket)) => Ok(ticket),
        Ok(None) => Err(missing()),
        Err(e) => Err(Box::new(error(
            StatusCode::SERVICE_UNAVAILABLE,
            &e.to_string(),
            None,
        ))),
    }
}

/// Finds the ticket a path names, does an agent's action on it, and answers with its new
/// state, or why not.
async fn acted(
    state: &WebState,
    staff: &Staff,
    reference: &str,
    action: Action,
    status: &str,
) -> Response {
    let ticket = match ticket_named(state, reference).await {
        Ok(ticket) => ticket,
        Err(response) => return *response,
    };
    match work::act(state, staff, &ticket, action).await {
        Ok(()) => Json(json!({"ticket": reference, "status": status})).into_response(),
        Err(refused) => refused_response(&refused),
    }
}

fn refused_response(refused: &Refused) -> Response {
    let (status, field) = match refused {
        Refused::NotAnAgent(_) => (StatusCode::FORBIDDEN, None),
        Refused::UnknownAgent(_) => (StatusCode::UNPROCESSABLE_ENTITY, Some("agent")),
        Refused::NotOpen | Refused::Full(_) => (StatusCode::CONFLICT, None),
        Refused::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, None),
    };
    error(status, &refused.to_string(), field)
}

/// `GET /api/v1/queue?site=&skill=&priority=&state=`: open tickets in queue order, the same
/// object `switchboard queue --json` prints.
pub(crate) async fn queue(
    State(state): State<WebState>,
    Query(mut filter): Query<Filter>,
    headers: HeaderMap,
) -> Response {
    let staff = match caller(&state, &headers, &["agent", "admin"]).await {
        Ok(staff) => staff,
        Err(response) => return *response,
    };
    filter.agent = Some(staff.name);
    match work::queue_lines(&state, &filter).await {
        Ok(lines) => Json(json!({ "tickets": lines })).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
    }
}

/// `POST /api/v1/tickets/{ref}/take`: the token's agent takes it.
pub(crate) async fn take(
    State(state): State<WebState>,
    Path(reference): Path<String>,
    headers: HeaderMap,
) -> Response {
    let staff = match caller(&state, &headers, &["agent", "admin"]).await {
        Ok(staff) => staff,
        Err(response) => return *response,
    };
    acted(&state, &staff, &reference, Action::Take, "assigned").await
}

/// `POST /api/v1/tickets/{ref}/assign` `{agent}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AssignBody {
    agent: String,
}

pub(crate) async fn assign(
    State(state): State<WebState>,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let staff = match caller(&state, &headers, &["agent", "admin"]).await {
        Ok(staff) => staff,
        Err(response) => return *response,
    };
    let body: AssignBody = match parse(&body, r#"{"agent"}"#) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let action = Action::Assign {
        to: body.agent.trim().to_lowercase(),
    };
    acted(&state, &staff, &reference, action, "assigned").await
}

/// `POST /api/v1/me/away` and `/api/v1/me/back`: the token's agent.
pub(crate) async fn away(State(state): State<WebState>, headers: HeaderMap) -> Response {
    presence(state, headers, true).await
}

pub(crate) async fn back(State(state): State<WebState>, headers: HeaderMap) -> Response {
    presence(state, headers, false).await
}

async fn presence(state: WebState, headers: HeaderMap, away: bool) -> Response {
    let staff = match caller(&state, &headers, &["agent", "admin"]).await {
        Ok(staff) => staff,
        Err(response) => return *response,
    };
    match work::presence(&state, &staff, away).await {
        Ok(offered) => Json(json!({"agent": staff.name, "away": away, "offered_back": offered}))
            .into_response(),
        Err(refused) => refused_response(&refused),
    }
}
