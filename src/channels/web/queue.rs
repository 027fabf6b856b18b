//! `/queue`: the agents' page. Open tickets by effective priority with their due times (a
//! warning as they near), filters by site, skill, priority and state; take, give to another
//! agent, resolve; mark yourself away or back.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{CookieJar, SignedCookieJar};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::guard::{self, Staff};
use super::work::{self, Action, Refused};
use super::{FormPage, WebState, form_page, language, refusal};
use crate::domain::{Priority, TicketRef};
use crate::queue::{Filter, Sla};

/// Filters, the language, and what was just done (`?done=take&ticket=SD-1000`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct QueueQuery {
    #[serde(flatten)]
    filter: Filter,
    lang: Option<String>,
    done: Option<String>,
    ticket: Option<String>,
    agent: Option<String>,
    count: Option<usize>,
}

/// One of the page's buttons.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct QueueForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    text: String,
}

/// The signed-in agent (or admin), else where to go instead.
async fn worker(state: &WebState, signed: &SignedCookieJar, lang: &str) -> Result<Staff, Response> {
    super::signed_in(state, signed, lang, Staff::works_tickets, "/queue").await
}

/// `GET /queue`.
pub(crate) async fn page(
    State(state): State<WebState>,
    Query(query): Query<QueueQuery>,
    jar: CookieJar,
    signed: SignedCookieJar,
    headers: HeaderMap,
) -> Response {
    let (jar, lang) = language(&state, jar, query.lang.as_deref(), &headers);
    let staff = match worker(&state, &signed, &lang).await {
        Ok(staff) => staff,
        Err(response) => return (jar, response).into_response(),
    };
    let notice = query.done.as_deref().map(|done| {
        let count = query.count.unwrap_or(0).to_string();
        let fill = [
            ("ticket", query.ticket.as_deref().unwrap_or("")),
            ("agent", query.agent.as_deref().unwrap_or("")),
            ("count", count.as_str()),
        ];
        state
            .strings
            .text(&lang, &format!("queue_done_{done}"), &fill)
    });
    let mut filter = query.filter;
    filter.agent = Some(staff.name.clone());
    render(
        &state,
        jar,
        &lang,
        &staff,
        &filter,
        notice,
        None,
        StatusCode::OK,
    )
    .await
}

/// `POST /queue`: take, assign, resolve, away, back.
pub(crate) async fn act(
    State(state): State<WebState>,
    jar: CookieJar,
    signed: SignedCookieJar,
    headers: HeaderMap,
    Form(form): Form<QueueForm>,
) -> Response {
    let (jar, lang) = language(&state, jar, None, &headers);
    let staff = match worker(&state, &signed, &lang).await {
        Ok(staff) => staff,
        Err(response) => return (jar, response).into_response(),
    };
    if guard::check_csrf(&state, &jar, &form.csrf).is_none() {
        return refusal(&state, &lang, StatusCode::FORBIDDEN, "err_csrf");
    }
    let outcome = match form.action.as_str() {
        "away" | "back" => work::presence(&state, &staff, form.action == "away")
            .await
            .map(|count| format!("/queue?done={}&count={count}", form.action)),
        "take" | "assign" | "resolve" => {
            let prefix = state.engine().settings.desk.ticket_prefix.clone();
            let ticket = match TicketRef::parse(&prefix, &form.ticket) {
                Some(reference) => state
                    .store
                    .ticket_detail(reference.number())
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            match ticket {
                None => Err(Refused::NotOpen),
                Some(ticket) => {
                    let reference = TicketRef::new(&prefix, ticket.number).to_string();
                    let action = match form.action.as_str() {
                        "take" => Action::Take,
                        "assign" => Action::Assign {
                            to: form.agent.trim().to_lowercase(),
                        },
                        _ => Action::Resolve {
                            text: form.text.trim().to_owned(),
                        },
                    };
                    work::act(&state, &staff, &ticket, action).await.map(|()| {
                        format!(
                            "/queue?done={}&ticket={reference}&agent={}",
                            form.action,
                            form.agent.trim().to_lowercase()
                        )
                    })
                }
            }
        }
        _ => return (jar, Redirect::to("/queue")).into_response(),
    };
    match outcome {
        Ok(to) => (jar, Redirect::to(&to)).into_response(),
        Err(refused) => {
            let text = match &refused {
                Refused::NotAnAgent(_) => state.strings.text(&lang, "queue_not_agent", &[]),
                other => other.to_string(),
            };
            let filter = Filter {
                agent: Some(staff.name.clone()),
                ..Filter::default()
            };
            render(
                &state,
                jar,
                &lang,
                &staff,
                &filter,
                None,
                Some(text),
                StatusCode::CONFLICT,
            )
            .await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn render(
    state: &WebState,
    jar: CookieJar,
    lang: &str,
    staff: &Staff,
    filter: &Filter,
    notice: Option<String>,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let engine = state.engine();
    let rules = &engine.rules;
    let lines = match work::queue_lines(state, filter).await {
        Ok(lines) => lines,
        Err(e) => {
            tracing::warn!(error = %e, "The queue could not be read.");
            return refusal(
                state,
                lang,
                StatusCode::SERVICE_UNAVAILABLE,
                "err_unavailable",
            );
        }
    };
    let now = Utc::now();
    let strings = &state.strings;
    let nobody = strings.text(lang, "queue_nobody", &[]);
    let rows: Vec<Value> = lines
        .iter()
        .map(|line| {
            let entry = &line.entry;
            let site = entry.site.as_deref().and_then(|s| rules.sites.get(s));
            let due = super::words::promise(state, lang, entry.due_at, entry.site.as_deref(), now);
            let warning = match line.sla {
                Sla::Ok => None,
                Sla::Near => Some(strings.text(lang, "queue_sla_near", &[])),
                Sla::Breached => Some(strings.text(lang, "queue_sla_breached", &[])),
            };
            let priority = line.effective_priority.as_str();
            json!({
                "ticket": line.ticket,
                "priority": strings.text(lang, &format!("priority_{priority}"), &[]),
                "subject": entry.subject,
                "site": site.map_or_else(|| entry.site.clone().unwrap_or_default(), |s| s.name.clone()),
                "agent": entry.agent.clone().unwrap_or_else(|| nobody.clone()),
                "mine": entry.agent.as_deref() == Some(staff.name.as_str()),
                "due": due,
                "sla": line.sla,
                "warning": warning,
                "status_url": format!("/t/{}", entry.access_token),
            })
        })
        .collect();
    let chosen = |value: &Option<String>| value.clone().unwrap_or_default();
    let mut sites: Vec<_> = rules.sites.values().collect();
    sites.sort_by(|a, b| a.name.cmp(&b.name));
    let site_choice = chosen(&filter.site);
    let mut skills: Vec<&String> = rules.agents.iter().flat_map(|a| a.skills.keys()).collect();
    skills.sort();
    skills.dedup();
    let skill_choice = chosen(&filter.skill);
    let priority_choice = chosen(&filter.priority);
    let state_choice = chosen(&filter.state);
    let states = ["new", "assigned", "waiting", "mine"];
    let away = state
        .store
        .agent_states()
        .await
        .ok()
        .and_then(|s| s.get(&staff.name).map(|a| a.away))
        .unwrap_or(false);
    let page = json!({
        "lines": rows,
        "notice": notice,
        "problem": problem,
        "away": away,
        "sites": sites.iter().map(|s| json!({"id": s.id, "name": s.name, "selected": s.id == site_choice})).collect::<Vec<_>>(),
        "skills": skills.iter().map(|k| json!({"value": k, "selected": **k == skill_choice})).collect::<Vec<_>>(),
        "priorities": Priority::ALL.iter().map(|p| json!({"value": p.as_str(), "label": strings.text(lang, &format!("priority_{}", p.as_str()), &[]), "selected": p.as_str() == priority_choice})).collect::<Vec<_>>(),
        "states": states.iter().map(|s| json!({"value": s, "label": strings.text(lang, &format!("queue_state_{s}"), &[]), "selected": *s == state_choice})).collect::<Vec<_>>(),
        "agents": rules.agents.iter().map(|a| json!({"id": a.id, "name": a.name})).collect::<Vec<_>>(),
    });
    let title = strings.text(lang, "queue_title", &[]);
    form_page(
        state,
        jar,
        lang,
        FormPage {
            template: "queue",
            title: &title,
            staff: Some(staff),
            page,
            status,
        },
    )
}
