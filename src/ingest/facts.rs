//! Looks up what the store knows about an intake — threads, ack memory, history, bounces —
//! from the batch first (which has what earlier inputs of the batch added), then the database.

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

use super::batch::Batch;
use crate::domain::TicketRef;
use crate::engine::Engine;
use crate::intake::Intake;
use crate::pipeline::StoreFacts;
use crate::pipeline::thread::{KnownTicket, ThreadFacts, subject_tag, ticket_in_our_ids};
use crate::store::StoreError;
use crate::store::queries;

/// Everything the pipeline needs from the store for one intake.
pub(crate) async fn gather(
    engine: &Engine,
    conn: &mut AnyConnection,
    batch: &Batch<'_>,
    intake: &Intake,
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
        replied = by_number(conn, batch, prefix, ticket.number()).await?;
    }
    if replied.is_none() && !references.is_empty() {
        replied = match batch.new_ticket_by_message_ids(&references) {
            Some(ticket) => Some(ticket.clone()),
            None => queries::ticket_by_message_ids(conn, prefix, &references).await?,
        };
    }
    let tagged = match subject_tag(&intake.subject, prefix) {
        Some(tag) => by_number(conn, batch, prefix, tag.number()).await?,
        None => None,
    };
    let named = match intake.stated.ticket {
        Some(number) => by_number(conn, batch, prefix, number).await?,
        None => None,
    };
    let (recent_acks, history) = intake
        .from
        .as_deref()
        .map(|from| batch.sender(from))
        .unwrap_or_default();
    let first_contact = intake
        .from
        .as_deref()
        .and_then(|from| batch.first_contact(from));

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
        thread: ThreadFacts {
            replied,
            tagged,
            named,
        },
        recent_acks,
        first_contact,
        history,
        agents: batch.agents.clone(),
        bounced,
        released: false,
    })
}

async fn by_number(
    conn: &mut AnyConnection,
    batch: &Batch<'_>,
    prefix: &str,
    number: i64,
) -> Result<Option<KnownTicket>, StoreError> {
    match batch.new_ticket(number) {
        Some(ticket) => Ok(Some(ticket.clone())),
        None => queries::ticket_by_number(conn, prefix, number).await,
    }
}

/// Where the windows of the ack limit and of the first-contact budgets start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Windows {
    /// The ack limit's.
    pub(crate) acks: DateTime<Utc>,
    /// The first-contact budget in all (`None`: no budget).
    pub(crate) first_contact_total: Option<DateTime<Utc>>,
    /// The first-contact budget per domain (`None`: no budget).
    pub(crate) first_contact_domain: Option<DateTime<Utc>>,
}

impl Windows {
    /// The windows as they stand at `now`.
    pub(crate) fn at(engine: &Engine, now: DateTime<Utc>) -> Windows {
        let desk = &engine.settings.desk;
        let start = |window: std::time::Duration| {
            now - chrono::Duration::from_std(window).unwrap_or_default()
        };
        Windows {
            acks: start(desk.ack_limit_window),
            first_contact_total: desk.first_contact_limit.map(|(_, w)| start(w)),
            first_contact_domain: desk.first_contact_limit_per_domain.map(|(_, w)| start(w)),
        }
    }
}
