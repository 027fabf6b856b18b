//! `/t/{token}`: the requester's own page for one request, reached from the acknowledgement:
//! where it stands, who has it, what happened; add a comment; rate it once it is solved.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::submission::{self, Problems, max};
use super::{FormPage, WebState, form_page, guard, language, pages, refusal, words};
use crate::domain::TicketRef;
use crate::pipeline::secrets;
use crate::store::TicketDetail;

/// `?lang=` and what was just done.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StatusQuery {
    lang: Option<String>,
    done: Option<String>,
}

/// A comment or a rating as posted.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    rating: String,
}

/// Event kinds the requester sees; the rest (routing, auto-reply notes) is the desk's.
const SHOWN: [&str; 6] = [
    "created", "message", "comment", "callback", "resolved", "rating",
];

fn render(
    state: &WebState,
    jar: CookieJar,
    lang: &str,
    ticket: &TicketDetail,
    notice: Option<String>,
    comment: (&str, Option<String>),
) -> Response {
    let strings = &state.strings;
    let prefix = &state.engine().settings.desk.ticket_prefix;
    let reference = TicketRef::new(prefix, ticket.number).to_string();
    let rules = &state.engine().rules;
    let tz = ticket
        .site
        .as_deref()
        .and_then(|id| rules.sites.get(id))
        .map_or(chrono_tz::UTC, |s| s.calendar.tz);
    let who = match (ticket.agent.as_deref(), ticket.team.as_deref()) {
        (Some(agent), _) => {
            let name = rules
                .agent(agent)
                .map(|a| {
                    a.name
                        .split_whitespace()
                        .next()
                        .unwrap_or(&a.name)
                        .to_owned()
                })
                .unwrap_or_else(|| agent.to_owned());
            strings.text(lang, "status_who_agent", &[("name", &name)])
        }
        (None, Some(team)) => {
            let name = rules.teams.get(team).map_or(team, |t| t.name.as_str());
            strings.text(lang, "status_who_team", &[("team", name)])
        }
        (None, None) => strings.text(lang, "status_who_desk", &[]),
    };
    let open = matches!(ticket.status.as_str(), "new" | "assigned" | "waiting");
    let promise = open.then(|| {
        words::promise(
            state,
            lang,
            ticket.due_at,
            ticket.site.as_deref(),
            Utc::now(),
        )
    });
    let events: Vec<Value> = ticket
        .events
        .iter()
        .filter(|e| SHOWN.contains(&e.kind.as_str()))
        .map(|e| {
            json!({
                "at": e.at.with_timezone(&tz).format("%d.%m.%Y %H:%M").to_string(),
                "label": strings.text(lang, &format!("event_{}", e.kind), &[]),
                "text": e.text,
            })
        })
        .collect();
    let ratings: Vec<Value> = (1..=5)
        .map(|n| json!({"value": n, "label": strings.text(lang, &format!("rating_{n}"), &[])}))
        .collect();
    let rated = ticket
        .rating
        .map(|r| strings.text(lang, "status_rated_already", &[("rating", &r.to_string())]));
    let title = strings.text(lang, "status_title", &[("ticket", &reference)]);
    let page = json!({
        "heading": title,
        "notice": notice,
        "state": strings.text(lang, &format!("state_{}", ticket.status), &[]),
        "who": who,
        "promise": promise,
        "summary": ticket.summary,
        "can_rate": !open,
        "rated": rated,
        "ratings": ratings,
        "events": events,
        "open": open,
        "token": ticket.access_token,
        "comment": comment.0,
        "comment_error": comment.1,
    });
    let status = if comment.1.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let form = FormPage {
        template: "status",
        title: &title,
        staff: None,
        page,
        status,
    };
    form_page(state, jar, lang, form)
}

/// The ticket of a status link, for a post that carries a valid CSRF token.
async fn posted_to(
    state: &WebState,
    jar: &CookieJar,
    lang: &str,
    token: &str,
    csrf: &str,
) -> Result<TicketDetail, Response> {
    let Ok(Some(ticket)) = state.store.ticket_by_token(token).await else {
        return Err(pages::not_found(state, lang));
    };
    if guard::check_csrf(state, jar, csrf).is_none() {
        return Err(refusal(state, lang, StatusCode::FORBIDDEN, "err_csrf"));
    }
    Ok(ticket)
}

/// `GET /t/{token}`.
pub(crate) async fn page(
    State(state): State<WebState>,
    Path(token): Path<String>,
    Query(query): Query<StatusQuery>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let (jar, lang) = language(&state, jar, query.lang.as_deref(), &headers);
    let Ok(Some(ticket)) = state.store.ticket_by_token(&token).await else {
        return (jar, pages::not_found(&state, &lang)).into_response();
    };
    let notice = match query.done.as_deref() {
        Some("comment") => Some(state.strings.text(&lang, "status_commented", &[])),
        Some("rated") => Some(state.strings.text(&lang, "status_rated", &[])),
        _ => None,
    };
    render(&state, jar, &lang, &ticket, notice, ("", None))
}

/// `POST /t/{token}/comment`: the requester adds to their open request.
pub(crate) async fn comment(
    State(state): State<WebState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<StatusForm>,
) -> Response {
    let (jar, lang) = language(&state, jar, None, &headers);
    let ticket = match posted_to(&state, &jar, &lang, &token, &form.csrf).await {
        Ok(ticket) => ticket,
        Err(response) => return response,
    };
    let mut problems = Problems::new();
    let text = submission::text(&mut problems, "comment", &form.comment, max::TEXT, true);
    if let Some(problem) = problems.get("comment") {
        let error = words::problem(&state, &lang, problem);
        return render(&state, jar, &lang, &ticket, None, (&text, Some(error)));
    }
    let redacted = secrets::redact(&text);
    let author = ticket
        .requester_email
        .as_deref()
        .or(ticket.requester_phone.as_deref());
    let stored = match ticket.status.as_str() {
        "new" | "assigned" | "waiting" => {
            state
                .store
                .add_event(ticket.id, "comment", author, &redacted.text, Utc::now())
                .await
        }
        _ => return (jar, Redirect::to(&format!("/t/{token}"))).into_response(),
    };
    match stored {
        Ok(()) => (jar, Redirect::to(&format!("/t/{token}?done=comment"))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "A comment could not be stored.");
            let text = state.strings.text(&lang, "err_unavailable", &[]);
            render(
                &state,
                jar,
                &lang,
                &ticket,
                None,
                (&form.comment, Some(text)),
            )
        }
    }
}

/// `POST /t/{token}/rate`: one click, 1–5, with an optional comment.
pub(crate) async fn rate(
    State(state): State<WebState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<StatusForm>,
) -> Response {
    let (jar, lang) = language(&state, jar, None, &headers);
    let ticket = match posted_to(&state, &jar, &lang, &token, &form.csrf).await {
        Ok(ticket) => ticket,
        Err(response) => return response,
    };
    let Some(rating) = form
        .rating
        .trim()
        .parse::<u8>()
        .ok()
        .filter(|r| (1..=5).contains(r))
    else {
        return (jar, Redirect::to(&format!("/t/{token}"))).into_response();
    };
    let mut problems = Problems::new();
    let comment = submission::text(&mut problems, "comment", &form.comment, max::TEXT, false);
    let comment = secrets::redact(&comment).text;
    let comment = (!comment.is_empty()).then_some(comment.as_str());
    let stored = state
        .store
        .rate(ticket.id, rating, comment, Utc::now())
        .await;
    after_rating(&state, jar, &lang, &token, stored)
}

/// Back to the status page, thanked when the rating counted.
fn after_rating(
    state: &WebState,
    jar: CookieJar,
    lang: &str,
    token: &str,
    stored: Result<bool, crate::store::StoreError>,
) -> Response {
    match stored {
        Ok(true) => (jar, Redirect::to(&format!("/t/{token}?done=rated"))).into_response(),
        Ok(false) => (jar, Redirect::to(&format!("/t/{token}"))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "A rating could not be stored.");
            refusal(
                state,
                lang,
                StatusCode::SERVICE_UNAVAILABLE,
                "err_unavailable",
            )
        }
    }
}

/// `GET /t/{token}/rate/{stars}`: the one-click rating from the resolution mail. Recorded at
/// once (a later click or the form on the page replaces it), then the page thanks them and
/// offers the comment box.
pub(crate) async fn rate_link(
    State(state): State<WebState>,
    Path((token, stars)): Path<(String, String)>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let (jar, lang) = language(&state, jar, None, &headers);
    let Ok(Some(ticket)) = state.store.ticket_by_token(&token).await else {
        return (jar, pages::not_found(&state, &lang)).into_response();
    };
    let Some(rating) = stars.parse::<u8>().ok().filter(|r| (1..=5).contains(r)) else {
        return (jar, Redirect::to(&format!("/t/{token}"))).into_response();
    };
    let stored = state.store.rate(ticket.id, rating, None, Utc::now()).await;
    after_rating(&state, jar, &lang, &token, stored)
}
