//! The agent's notification, in the agent's first language: from intake when a request is
//! routed at once, and from live routing when a waiting request finds someone later.

use chrono::{DateTime, Utc};

use super::compose::{self, ComposeError, NotifyData, Sender};
use crate::domain::{Priority, TicketRef};
use crate::engine::Engine;
use crate::promise::{Style, promise};
use crate::rules::Agent;
use crate::store::OutboxRow;

/// What the notification says about the ticket.
#[derive(Debug, Clone)]
pub struct Assignment<'a> {
    /// The ticket.
    pub reference: &'a TicketRef,
    /// Its subject.
    pub subject: &'a str,
    /// The one-line restatement.
    pub summary: &'a str,
    /// Requester's display name and address.
    pub requester: (Option<&'a str>, Option<&'a str>),
    /// Site id.
    pub site: Option<&'a str>,
    /// Base priority.
    pub priority: Priority,
    /// Category.
    pub category: &'a str,
    /// First response due.
    pub due_at: DateTime<Utc>,
    /// Why this agent.
    pub reason: &'a str,
    /// Whether a secret was removed.
    pub secrets_found: bool,
    /// The status link's token.
    pub access_token: &'a str,
}

/// The notification to `agent` about `assignment`.
pub fn notification(
    engine: &Engine,
    agent: &Agent,
    assignment: &Assignment<'_>,
    now: DateTime<Utc>,
) -> Result<OutboxRow, ComposeError> {
    let language = agent.languages.first().map_or("en", String::as_str);
    let words = &engine.words;
    let settings = &engine.settings;
    let site = assignment
        .site
        .or(Some(settings.desk.default_site.as_str()))
        .and_then(|id| engine.rules.sites.get(id));
    let data = NotifyData {
        reference: assignment.reference.to_string(),
        subject: assignment.subject.to_owned(),
        summary: assignment.summary.to_owned(),
        agent_first_name: agent
            .name
            .split_whitespace()
            .next()
            .unwrap_or(&agent.name)
            .to_owned(),
        requester: match assignment.requester {
            (Some(name), Some(from)) => format!("{name} <{from}>"),
            (None, Some(from)) => from.to_owned(),
            (Some(name), None) => name.to_owned(),
            (None, None) => "(unknown)".to_owned(),
        },
        site_name: site
            .map(|s| s.name.clone())
            .unwrap_or_else(|| "unknown".into()),
        priority: words.text(
            language,
            &format!("priority_{}", assignment.priority.as_str()),
            &[],
        ),
        category: assignment.category.to_owned(),
        promised: promise(words, language, assignment.due_at, site, Style::Mail),
        route_reason: assignment.reason.to_owned(),
        secrets_found: assignment.secrets_found,
        ticket_url: format!("{}/t/{}", settings.desk.public_url, assignment.access_token),
        desk_name: settings.desk.name.clone(),
    };
    compose::compose(
        &engine.templates,
        &Sender::of(engine),
        ("notify", "notify"),
        assignment.reference,
        (&agent.email, Some(&agent.name)),
        language,
        &data,
        None,
        now,
    )
}
