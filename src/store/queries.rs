//! The writes and look-ups of one intake, all on one connection so they share a transaction.

use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};

use super::{StoreError, parse_time, time_text};
use crate::domain::TicketRef;
use crate::pipeline::route::AgentStates;
use crate::pipeline::thread::KnownTicket;

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
    /// `ack` or `notify`.
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

/// The outcome and ticket recorded for an input key.
pub async fn find_key(
    conn: &mut SqliteConnection,
    key: &str,
) -> Result<Option<(String, Option<i64>)>> {
    let row = sqlx::query("SELECT outcome, ticket_id FROM intake_keys WHERE key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Records an input key's outcome (ignored when the key exists).
pub async fn insert_key(
    conn: &mut SqliteConnection,
    key: &str,
    outcome: &str,
    ticket_id: Option<i64>,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT OR IGNORE INTO intake_keys (key, outcome, ticket_id, at) VALUES ($1, $2, $3, $4)",
    )
    .bind(key)
    .bind(outcome)
    .bind(ticket_id)
    .bind(time_text(at))
    .execute(conn)
    .await?;
    Ok(())
}

/// A ticket's reference by id.
pub async fn ticket_number(conn: &mut SqliteConnection, id: i64) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT number FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// A ticket by number, with its participants.
pub async fn ticket_by_number(
    conn: &mut SqliteConnection,
    prefix: &str,
    number: i64,
) -> Result<Option<KnownTicket>> {
    let row = sqlx::query("SELECT id, status FROM tickets WHERE number = $1")
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
    }))
}

/// The ticket of the newest of these Message-IDs we know.
pub async fn ticket_by_message_ids(
    conn: &mut SqliteConnection,
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

/// Acknowledgements queued for a recipient since a moment.
pub async fn acks_since(
    conn: &mut SqliteConnection,
    recipient: &str,
    since: DateTime<Utc>,
) -> Result<u32> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND kind = 'ack' AND created_at >= $2",
    )
    .bind(recipient)
    .bind(time_text(since))
    .fetch_one(conn)
    .await?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// The language and site of the requester's latest ticket.
pub async fn requester_history(
    conn: &mut SqliteConnection,
    email: &str,
) -> Result<Option<(String, Option<String>)>> {
    let row = sqlx::query(
        "SELECT language, site FROM tickets WHERE requester_email = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(email)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Open load, away flag and last assignment of every agent with any.
pub async fn agent_states(conn: &mut SqliteConnection) -> Result<AgentStates> {
    let mut states = AgentStates::new();
    let loads = sqlx::query(
        "SELECT agent_id, COUNT(*) FROM tickets WHERE agent_id IS NOT NULL AND status IN ('new', 'assigned', 'waiting') GROUP BY agent_id",
    )
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

/// Notes that an agent was just given a ticket (round robin).
pub async fn touch_agent(
    conn: &mut SqliteConnection,
    agent_id: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO agent_state (agent_id, last_assigned_at) VALUES ($1, $2)
         ON CONFLICT (agent_id) DO UPDATE SET last_assigned_at = excluded.last_assigned_at",
    )
    .bind(agent_id)
    .bind(time_text(at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Keeps a raw message; returns its id.
pub async fn insert_raw(
    conn: &mut SqliteConnection,
    sha256: &str,
    redacted: bool,
    bytes: &[u8],
) -> Result<i64> {
    let id = sqlx::query("INSERT INTO raw_messages (sha256, redacted, bytes) VALUES ($1, $2, $3)")
        .bind(sha256)
        .bind(redacted)
        .bind(bytes)
        .execute(conn)
        .await?
        .last_insert_rowid();
    Ok(id)
}

/// Creates a ticket numbered after the highest so far (starting at 1000).
pub async fn create_ticket(conn: &mut SqliteConnection, t: &NewTicket<'_>) -> Result<(i64, i64)> {
    let created = time_text(t.created_at);
    let row = sqlx::query(
        "INSERT INTO tickets (number, status, priority, category, skills, tags, site, language, team,
             agent_id, channel, requester_email, requester_name, requester_phone, subject, summary,
             machine_reason, secrets_found, linked_ticket_id, access_token, created_at, due_at, updated_at)
         VALUES ((SELECT COALESCE(MAX(number), 999) + 1 FROM tickets), $1, $2, $3, $4, $5, $6, $7, $8,
             $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $20)
         RETURNING id, number",
    )
    .bind(if t.agent_id.is_some() { "assigned" } else { "new" })
    .bind(t.priority)
    .bind(t.category)
    .bind(&t.skills_json)
    .bind(&t.tags_json)
    .bind(t.site)
    .bind(t.language)
    .bind(t.team)
    .bind(t.agent_id)
    .bind(t.channel)
    .bind(t.requester_email)
    .bind(t.requester_name)
    .bind(t.requester_phone)
    .bind(t.subject)
    .bind(t.summary)
    .bind(t.machine_reason)
    .bind(t.secrets_found)
    .bind(t.linked_ticket_id)
    .bind(t.access_token)
    .bind(&created)
    .bind(time_text(t.due_at))
    .fetch_one(conn)
    .await?;
    Ok((row.get(0), row.get(1)))
}

/// Adds addresses allowed to write into a ticket.
pub async fn add_participants(
    conn: &mut SqliteConnection,
    ticket_id: i64,
    addresses: &[String],
) -> Result<()> {
    for address in addresses {
        sqlx::query("INSERT OR IGNORE INTO participants (ticket_id, address) VALUES ($1, $2)")
            .bind(ticket_id)
            .bind(address)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Remembers a Message-ID as belonging to a ticket.
pub async fn add_message_id(
    conn: &mut SqliteConnection,
    ticket_id: i64,
    message_id: &str,
) -> Result<()> {
    sqlx::query("INSERT OR IGNORE INTO message_ids (message_id, ticket_id) VALUES ($1, $2)")
        .bind(message_id)
        .bind(ticket_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds an event to a ticket's history.
pub async fn add_event(
    conn: &mut SqliteConnection,
    ticket_id: i64,
    at: DateTime<Utc>,
    kind: &str,
    author: Option<&str>,
    text: &str,
    raw_id: Option<i64>,
) -> Result<()> {
    sqlx::query("INSERT INTO events (ticket_id, at, kind, author, text, raw_id) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(ticket_id)
        .bind(time_text(at))
        .bind(kind)
        .bind(author)
        .bind(text)
        .bind(raw_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2")
        .bind(time_text(at))
        .bind(ticket_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a routing decision.
pub async fn record_route(
    conn: &mut SqliteConnection,
    ticket_id: i64,
    at: DateTime<Utc>,
    agent_id: Option<&str>,
    team: Option<&str>,
    reason: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO routing_decisions (ticket_id, at, agent_id, team, reason) VALUES ($1, $2, $3, $4, $5)")
        .bind(ticket_id)
        .bind(time_text(at))
        .bind(agent_id)
        .bind(team)
        .bind(reason)
        .execute(conn)
        .await?;
    Ok(())
}

/// Puts a message in the outbox, due now.
pub async fn insert_outbox(
    conn: &mut SqliteConnection,
    ticket_id: i64,
    row: &OutboxRow,
    at: DateTime<Utc>,
) -> Result<()> {
    let now = time_text(at);
    sqlx::query(
        "INSERT INTO outbox (id, ticket_id, kind, recipient, message_id, subject, body, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&row.id)
    .bind(ticket_id)
    .bind(row.kind)
    .bind(&row.recipient)
    .bind(&row.message_id)
    .bind(&row.subject)
    .bind(&row.body)
    .bind(&now)
    .execute(&mut *conn)
    .await?;
    add_message_id(conn, ticket_id, &row.message_id).await
}

/// Records what the guard held back; returns its id.
pub async fn insert_suppressed(
    conn: &mut SqliteConnection,
    at: DateTime<Utc>,
    from: Option<&str>,
    subject: &str,
    reason: &str,
    ticket_id: Option<i64>,
    raw_id: Option<i64>,
) -> Result<i64> {
    let id = sqlx::query(
        "INSERT INTO suppressed (at, from_addr, subject, reason, ticket_id, raw_id) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(time_text(at))
    .bind(from)
    .bind(subject)
    .bind(reason)
    .bind(ticket_id)
    .bind(raw_id)
    .execute(conn)
    .await?
    .last_insert_rowid();
    Ok(id)
}

/// The outbox row (id, ticket id) of one of our messages, by its Message-ID.
pub async fn outbox_by_message_ids(
    conn: &mut SqliteConnection,
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

/// Marks one of our messages as bounced, with the reason.
pub async fn mark_bounced(
    conn: &mut SqliteConnection,
    outbox_id: &str,
    reason: &str,
) -> Result<()> {
    sqlx::query("UPDATE outbox SET status = 'bounced', last_error = $1 WHERE id = $2")
        .bind(reason)
        .bind(outbox_id)
        .execute(conn)
        .await?;
    Ok(())
}
