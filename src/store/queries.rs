//! Look-ups for one intake, on the connection of its batch's transaction.

use chrono::{DateTime, Utc};

use sqlx::{AnyConnection, Row};

use super::{Backend, StoreError, parse_time};
use crate::domain::TicketRef;
use crate::pipeline::route::AgentStates;
use crate::pipeline::thread::{KnownTicket, TicketFace};

type Result<T> = std::result::Result<T, StoreError>;

/// A ticket to create.
#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    /// `critical` … `low`.
    pub priority: &'a str,
    /// Category.
    pub category: &'a str,
    /// Required skills as JSON.
    pub skills_json: String,
    /// Tags as JSON.
    pub tags_json: String,
    /// Site id.
    pub site: Option<&'a str>,
    /// Language code.
    pub language: &'a str,
    /// Team id.
    pub team: Option<&'a str>,
    /// Assigned agent id.
    pub agent_id: Option<&'a str>,
    /// Channel word.
    pub channel: &'a str,
    /// Requester's address.
    pub requester_email: Option<&'a str>,
    /// Requester's name.
    pub requester_name: Option<&'a str>,
    /// Requester's phone.
    pub requester_phone: Option<&'a str>,
    /// Subject (redacted).
    pub subject: &'a str,
    /// One-line restatement.
    pub summary: &'a str,
    /// Why the guard called it machine mail, when it did.
    pub machine_reason: Option<&'a str>,
    /// Whether secrets were removed.
    pub secrets_found: bool,
    /// A ticket this one names.
    pub linked_ticket_id: Option<i64>,
    /// Token of the requester's status link.
    pub access_token: &'a str,
    /// Arrival.
    pub created_at: DateTime<Utc>,
    /// First response due.
    pub due_at: DateTime<Utc>,
}

/// A message to send, stored with its ticket.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// Unique id (also the file name of the file transport).
    pub id: String,
    /// `ack`, `notify`, `added` or `resolved`.
    pub kind: &'static str,
    /// Envelope recipient.
    pub recipient: String,
    /// Our Message-ID, without brackets.
    pub message_id: String,
    /// Subject, for listings.
    pub subject: String,
    /// The whole formatted message.
    pub body: Vec<u8>,
}

/// The ticket number recorded for the first known of these input keys (`Some(None)`: known,
/// A ticket's reference by id.
pub async fn ticket_number(conn: &mut AnyConnection, id: i64) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT number FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// A ticket by number, with its participants.
pub async fn ticket_by_number(
    conn: &mut AnyConnection,
    prefix: &str,
    number: i64,
) -> Result<Option<KnownTicket>> {
    let row = sqlx::query(
        "SELECT id, status, access_token, agent_id, team, site, due_at FROM tickets WHERE number = $1",
    )
        .bind(number)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let id: i64 = row.get(0);
    let status: String = row.get(1);
    let participants = sqlx::query_scalar("SELECT address FROM participants WHERE ticket_id = $1")
        .bind(id)
        .fetch_all(conn)
        .await?;
    Ok(Some(KnownTicket {
        id,
        reference: TicketRef::new(prefix, number),
        open: !matches!(status.as_str(), "resolved" | "closed"),
        participants,
        face: TicketFace {
            access_token: row.get(2),
            agent: row.get(3),
            team: row.get(4),
            site: row.get(5),
            due_at: row.get::<Option<String>, _>(6).map(|t| parse_time(&t)),
        },
    }))
}

/// The ticket of the newest of these Message-IDs we know.
pub async fn ticket_by_message_ids(
    conn: &mut AnyConnection,
    prefix: &str,
    ids: &[String],
) -> Result<Option<KnownTicket>> {
    for id in ids.iter().rev() {
        let number: Option<i64> = sqlx::query_scalar(
            "SELECT t.number FROM message_ids m JOIN tickets t ON t.id = m.ticket_id WHERE m.message_id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(number) = number {
            return ticket_by_number(conn, prefix, number).await;
        }
    }
    Ok(None)
}

/// What we know of a sender: acknowledgements queued for them since `since`, and the
/// Open load, away flag and last assignment of every agent with any.
pub async fn agent_states(conn: &mut AnyConnection) -> Result<AgentStates> {
    let mut states = AgentStates::new();
    let loads = sqlx::query(Backend::of(conn).pick(
        // Without the hint SQLite picks the status index and reads every open ticket, so a
        // large unassigned queue made each batch slower (seen at 25,000 open tickets).
        "SELECT agent_id, COUNT(*) FROM tickets INDEXED BY tickets_agent_open
         WHERE agent_id IS NOT NULL AND status IN ('new', 'assigned', 'waiting') GROUP BY agent_id",
        "SELECT agent_id, COUNT(*) FROM tickets
         WHERE agent_id IS NOT NULL AND status IN ('new', 'assigned', 'waiting') GROUP BY agent_id",
    ))
    .fetch_all(&mut *conn)
    .await?;
    for row in loads {
        let open: i64 = row.get(1);
        states.entry(row.get(0)).or_default().open = u32::try_from(open).unwrap_or(u32::MAX);
    }
    let rows = sqlx::query("SELECT agent_id, away, last_assigned_at FROM agent_state")
        .fetch_all(conn)
        .await?;
    for row in rows {
        let state = states.entry(row.get(0)).or_default();
        state.away = row.get::<i64, _>(1) != 0;
        state.last_assigned = row.get::<Option<String>, _>(2).map(|t| parse_time(&t));
    }
    Ok(states)
}

/// The outbox row (id, ticket id) of one of our messages, by its Message-ID.
pub async fn outbox_by_message_ids(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<Option<(String, i64)>> {
    for id in ids {
        let row = sqlx::query("SELECT id, ticket_id FROM outbox WHERE message_id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = row {
            return Ok(Some((row.get(0), row.get(1))));
        }
    }
    Ok(None)
}
