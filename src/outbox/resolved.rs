//! The message that tells a requester their request is resolved, with one-click ratings.

use chrono::{DateTime, Utc};

use super::compose::{self, ComposeError, ResolvedData, Sender};
use crate::domain::TicketRef;
use crate::engine::Engine;
use crate::store::{OutboxRow, TicketDetail};

/// The `resolved` message for `ticket`, threaded under our acknowledgement when there was
/// one; `None` when the requester has no address (a phone call without e-mail).
pub fn resolved_message(
    engine: &Engine,
    ticket: &TicketDetail,
    resolution: &str,
    acknowledgement: Option<&str>,
    now: DateTime<Utc>,
) -> Option<Result<OutboxRow, ComposeError>> {
    let address = ticket.requester_email.as_deref()?;
    let settings = &engine.settings;
    let reference = TicketRef::new(&settings.desk.ticket_prefix, ticket.number);
    let status_url = format!("{}/t/{}", settings.desk.public_url, ticket.access_token);
    let language = ticket.language.as_str();
    let data = ResolvedData {
        reference: reference.to_string(),
        subject: crate::pipeline::thread::clean_subject(
            &ticket.subject,
            &settings.desk.ticket_prefix,
        ),
        first_name: compose::first_name(ticket.requester_name.as_deref(), Some(address)),
        summary: ticket.summary.clone(),
        agent_first_name: ticket
            .agent
            .as_deref()
            .and_then(|id| engine.rules.agent(id))
            .and_then(|a| a.name.split_whitespace().next().map(str::to_owned)),
        resolution: Some(resolution.trim().to_owned()).filter(|r| !r.is_empty()),
        ratings: compose::rating_links(&engine.words, language, &status_url),
        status_url,
        desk_name: settings.desk.name.clone(),
    };
    let sender = Sender::of(engine);
    Some(compose::compose(
        &engine.templates,
        &sender,
        ("resolved", "resolved"),
        &reference,
        (address, ticket.requester_name.as_deref()),
        language,
        &data,
        acknowledgement.map(|id| (id, &[][..])),
        now,
    ))
}
