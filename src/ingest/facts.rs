//! Looks up what the store knows about an intake: duplicates, threads, ack memory, history.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{Outcome, OutcomeKind};
use crate::domain::TicketRef;
use crate::engine::Engine;
use crate::intake::Intake;
use crate::pipeline::StoreFacts;
use crate::pipeline::route::AgentStates;
use crate::pipeline::thread::{ThreadFacts, subject_tag, ticket_in_our_ids};
use crate::store::StoreError;
use crate::store::queries;

/// The earlier outcome of an input key, as a `duplicate` outcome.
pub(super) async fn duplicate(
    conn: &mut SqliteConnection,
    prefix: &str,
    key: &str,
) -> Result<Option<Outcome>, StoreError> {
    let Some((_, ticket_id)) = queries::find_key(conn, key).await? else {
        return Ok(None);
    };
    let ticket = match ticket_id {
        Some(id) => queries::ticket_number(conn, id)
            .await?
            .map(|n| TicketRef::new(prefix, n).to_string()),
        None => None,
    };
    Ok(Some(Outcome::new(OutcomeKind::Duplicate, ticket, None)))
}

/// Everything the pipeline needs from the store for one intake.
pub(crate) async fn gather(
    engine: &Engine,
    conn: &mut SqliteConnection,
    intake: &Intake,
    agents: &AgentStates,
    now: DateTime<Utc>,
) -> Result<StoreFacts, StoreError> {
    let prefix = &engine.settings.desk.ticket_prefix;
    let references: Vec<String> = intake
        .references
        .iter()
        .chain(&intake.in_reply_to)
        .cloned()
        .collect();

    let mut replied = None;
    if let Some(ticket) = ticket_in_our_ids(&engine.key, prefix, &references) {
        replied = queries::ticket_by_number(conn, prefix, ticket.number()).await?;
    }
    if replied.is_none() && !references.is_empty() {
        replied = queries::ticket_by_message_ids(conn, prefix, &references).await?;
    }
    let tagged = match subject_tag(&intake.subject, prefix) {
        Some(tag) => queries::ticket_by_number(conn, prefix, tag.number()).await?,
        None => None,
    };

    let (recent_acks, history) = match intake.from.as_deref() {
        Some(from) => {
            let window = chrono::Duration::from_std(engine.settings.desk.ack_limit_window)
                .unwrap_or_default();
            (
                queries::acks_since(conn, from, now - window).await?,
                queries::requester_history(conn, from).await?,
            )
        }
        None => (0, None),
    };

    let bounced = if intake.reported_ids.is_empty() {
        None
    } else {
        match queries::outbox_by_message_ids(conn, &intake.reported_ids).await? {
            Some((outbox_id, ticket_id)) => queries::ticket_number(conn, ticket_id)
                .await?
                .map(|n| (outbox_id, ticket_id, TicketRef::new(prefix, n))),
            None => None,
        }
    };

    Ok(StoreFacts {
        thread: ThreadFacts { replied, tagged },
        recent_acks,
        history,
        agents: agents.clone(),
        bounced,
        released: false,
    })
}
