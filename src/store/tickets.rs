//! One ticket as people see it (status page, API, call form), and what they may do to it:
//! comment, resolve, rate.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{OutboxRow, Store, StoreError, parse_time, time_text};

type Result<T> = std::result::Result<T, StoreError>;

/// A ticket with its history and delivery state.
#[derive(Debug, Clone, Serialize)]
pub struct TicketDetail {
    /// Database id.
    #[serde(skip)]
    pub id: i64,
    /// Number (the reference without its prefix).
    pub number: i64,
    /// `new|assigned|waiting|resolved|closed`.
    pub status: String,
    /// Priority word.
    pub priority: String,
    /// Category.
    pub category: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Site id.
    pub site: Option<String>,
    /// Language code.
    pub language: String,
    /// Team that holds it.
    pub team: Option<String>,
    /// Assigned agent's id.
    pub agent: Option<String>,
    /// Channel word.
    pub channel: String,
    /// Requester's address.
    pub requester_email: Option<String>,
    /// Requester's name.
    pub requester_name: Option<String>,
    /// Requester's phone.
    pub requester_phone: Option<String>,
    /// Subject (redacted).
    pub subject: String,
    /// One-line restatement.
    pub summary: String,
    /// The status link's token.
    #[serde(skip)]
    pub access_token: String,
    /// A password or key was found in what arrived (and removed).
    pub secrets_found: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// First response due.
    pub due_at: DateTime<Utc>,
    /// Resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The requester's rating, 1–5.
    pub rating: Option<i64>,
    /// The requester's comment with the rating.
    pub rating_comment: Option<String>,
    /// History, oldest first.
    pub events: Vec<EventEntry>,
    /// Mail we sent about it.
    pub deliveries: Vec<Delivery>,
}

/// One entry in a ticket's history.
#[derive(Debug, Clone, Serialize)]
pub struct EventEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// `created`, `message`, `note`, `comment`, `callback`, `resolved`, `rating`, ...
    pub kind: String,
    /// Who (an address, a phone, a staff name), when known.
    pub author: Option<String>,
    /// What (redacted).
    pub text: String,
}

/// One outgoing message and how its delivery went.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// `ack`, `notify`, `added` or `resolved`.
    pub kind: String,
    /// To whom.
    pub recipient: String,
    /// `pending`, `sent`, `failed` or `bounced`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The last failure, as the server said it.
    pub last_error: Option<String>,
}

/// A caller's open ticket, for the receptionist's look-up.
#[derive(Debug, Clone, Serialize)]
pub struct CallerTicket {
    /// Number.
    pub number: i64,
    /// Status word.
    pub status: String,
    /// One line.
    pub summary: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A call logged lately, for the receptionist's list.
#[derive(Debug, Clone, Serialize)]
pub struct RecentCall {
    /// Number.
    pub number: i64,
    /// The caller's name.
    pub name: Option<String>,
    /// One line.
    pub summary: String,
    /// Logged.
    pub created_at: DateTime<Utc>,
}

const DETAIL_COLUMNS: &str = "id, number, status, priority, category, tags, site, language, team,
    agent_id, channel, requester_email, requester_name, requester_phone, subject, summary,
    access_token, secrets_found, created_at, due_at, resolved_at, rating, rating_comment";

fn detail(row: &AnyRow) -> TicketDetail {
    let tags: String = row.get("tags");
    TicketDetail {
        id: row.get("id"),
        number: row.get("number"),
        status: row.get("status"),
        priority: row.get("priority"),
        category: row.get("category"),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        site: row.get("site"),
        language: row.get("language"),
        team: row.get("team"),
        agent: row.get("agent_id"),
        channel: row.get("channel"),
        requester_email: row.get("requester_email"),
        requester_name: row.get("requester_name"),
        requester_phone: row.get("requester_phone"),
        subject: row.get("subject"),
        summary: row.get("summary"),
        access_token: row.get("access_token"),
        secrets_found: row.get::<i64, _>("secrets_found") != 0,
        created_at: parse_time(row.get("created_at")),
        due_at: parse_time(row.get("due_at")),
        resolved_at: row
            .get::<Option<String>, _>("resolved_at")
            .map(|t| parse_time(&t)),
        rating: row.get("rating"),
        rating_comment: row.get("rating_comment"),
        events: Vec::new(),
        deliveries: Vec::new(),
    }
}

impl Store {
    /// A ticket by its number, with history and deliveries.
    pub async fn ticket_detail(&self, number: i64) -> Result<Option<TicketDetail>> {
        let sql = format!("SELECT {DETAIL_COLUMNS} FROM tickets WHERE number = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(number)
            .fetch_optional(&self.pool)
            .await?;
        self.with_history(row).await
    }

    /// A ticket by its number, without history (what a confirmation needs).
    pub async fn ticket_head(&self, number: i64) -> Result<Option<TicketDetail>> {
        let sql = format!("SELECT {DETAIL_COLUMNS} FROM tickets WHERE number = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(number)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(detail))
    }

    /// A ticket by its status-link token.
    pub async fn ticket_by_token(&self, token: &str) -> Result<Option<TicketDetail>> {
        let sql = format!("SELECT {DETAIL_COLUMNS} FROM tickets WHERE access_token = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        self.with_history(row).await
    }

    async fn with_history(&self, row: Option<AnyRow>) -> Result<Option<TicketDetail>> {
        let Some(row) = row else {
            return Ok(None);
        };
        let mut ticket = detail(&row);
        ticket.events = sqlx::query(
            "SELECT at, kind, author, text FROM events WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(ticket.id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| EventEntry {
            at: parse_time(r.get(0)),
            kind: r.get(1),
            author: r.get(2),
            text: r.get(3),
        })
        .collect();
        ticket.deliveries = sqlx::query(
            "SELECT kind, recipient, status, attempts, last_error FROM outbox
             WHERE ticket_id = $1 ORDER BY created_at, id",
        )
        .bind(ticket.id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Delivery {
            kind: r.get(0),
            recipient: r.get(1),
            status: r.get(2),
            attempts: r.get(3),
            last_error: r.get(4),
        })
        .collect();
        Ok(Some(ticket))
    }

    /// Open tickets of a caller, found by phone (E.164) or address, newest first.
    pub async fn open_tickets_of(
        &self,
        phone: Option<&str>,
        email: Option<&str>,
    ) -> Result<Vec<CallerTicket>> {
        if phone.is_none() && email.is_none() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT number, status, summary, created_at FROM tickets
             WHERE status IN ('new', 'assigned', 'waiting')
               AND ((requester_phone IS NOT NULL AND requester_phone = $1)
                 OR (requester_email IS NOT NULL AND requester_email = $2))
             ORDER BY id DESC LIMIT 20",
        )
        .bind(phone)
        .bind(email)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| CallerTicket {
                number: r.get(0),
                status: r.get(1),
                summary: r.get(2),
                created_at: parse_time(r.get(3)),
            })
            .collect())
    }

    /// The latest tickets opened by phone calls, newest first.
    pub async fn recent_calls(&self, limit: i64) -> Result<Vec<RecentCall>> {
        let rows = sqlx::query(
            "SELECT number, requester_name, summary, created_at FROM tickets
             WHERE channel = 'call' ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| RecentCall {
                number: r.get(0),
                name: r.get(1),
                summary: r.get(2),
                created_at: parse_time(r.get(3)),
            })
            .collect())
    }

    /// Adds an entry to a ticket's history and marks it changed.
    pub async fn add_event(
        &self,
        ticket_id: i64,
        kind: &str,
        author: Option<&str>,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let _turn = self.write_turn().await;
        let mut conn = self.pool.acquire().await?;
        let mut tx = super::begin_write(&mut conn).await?;
        sqlx::query(
            "INSERT INTO events (ticket_id, at, kind, author, text) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(ticket_id)
        .bind(time_text(at))
        .bind(kind)
        .bind(author)
        .bind(text)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2")
            .bind(time_text(at))
            .bind(ticket_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Resolves an open ticket; `false` when it was not open.
    pub async fn resolve(
        &self,
        ticket_id: i64,
        by: &str,
        text: &str,
        message: Option<&OutboxRow>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let _turn = self.write_turn().await;
        let mut conn = self.pool.acquire().await?;
        let mut tx = super::begin_write(&mut conn).await?;
        let done = sqlx::query(
            "UPDATE tickets SET status = 'resolved', resolved_at = $1, updated_at = $1
             WHERE id = $2 AND status IN ('new', 'assigned', 'waiting')",
        )
        .bind(time_text(at))
        .bind(ticket_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("INSERT INTO events (ticket_id, at, kind, author, text) VALUES ($1, $2, 'resolved', $3, $4)")
            .bind(ticket_id)
            .bind(time_text(at))
            .bind(by)
            .bind(text)
            .execute(&mut *tx)
            .await?;
        // The message to the requester lands with the resolution, or neither does.
        if let Some(row) = message {
            super::queue::insert_outbox(&mut tx, ticket_id, row, &time_text(at)).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The Message-ID of the acknowledgement a ticket's requester got, to thread later mail
    /// under it.
    pub async fn ack_message_id(&self, ticket_id: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT message_id FROM outbox WHERE ticket_id = $1 AND kind = 'ack'
             ORDER BY created_at LIMIT 1",
        )
        .bind(ticket_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records the requester's rating of a resolved ticket (a later one replaces it; a
    /// rating without a comment keeps the comment given before).
    pub async fn rate(
        &self,
        ticket_id: i64,
        rating: u8,
        comment: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let _turn = self.write_turn().await;
        let mut conn = self.pool.acquire().await?;
        let mut tx = super::begin_write(&mut conn).await?;
        let done = sqlx::query(
            "UPDATE tickets SET rating = $1, rating_comment = COALESCE($2, rating_comment), updated_at = $3
             WHERE id = $4 AND status IN ('resolved', 'closed')",
        )
        .bind(i64::from(rating))
        .bind(comment)
        .bind(time_text(at))
        .bind(ticket_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let text = match comment {
            Some(comment) => format!("Rated {rating} of 5: {comment}"),
            None => format!("Rated {rating} of 5."),
        };
        sqlx::query("INSERT INTO events (ticket_id, at, kind, text) VALUES ($1, $2, 'rating', $3)")
            .bind(ticket_id)
            .bind(time_text(at))
            .bind(text)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
