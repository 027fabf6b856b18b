//! Listings (queue, suppressed, a ticket) and the outbox worker's claims.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{Backend, Store, StoreError, parse_time, time_text};

type Result<T> = std::result::Result<T, StoreError>;

/// An open ticket as the queue shows it.
#[derive(Debug, Clone, Serialize)]
pub struct QueueEntry {
    /// Number part of the reference.
    #[serde(skip)]
    pub number: i64,
    /// `new`, `assigned` or `waiting`.
    pub status: String,
    /// Base priority.
    pub priority: String,
    /// Category.
    pub category: String,
    /// Required skills.
    pub skills: serde_json::Value,
    /// Site id.
    pub site: Option<String>,
    /// Assigned agent.
    pub agent: Option<String>,
    /// Team queue.
    pub team: Option<String>,
    /// Subject.
    pub subject: String,
    /// Requester's address.
    pub requester: Option<String>,
    /// Arrival.
    pub created_at: DateTime<Utc>,
    /// First response due.
    pub due_at: DateTime<Utc>,
    /// The status link's token (for the agent's link to the ticket's page; not in JSON).
    #[serde(skip)]
    pub access_token: String,
}

/// One suppressed input.
#[derive(Debug, Clone, Serialize)]
pub struct SuppressedEntry {
    /// Id for `--release`.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Sender.
    pub from: Option<String>,
    /// Subject.
    pub subject: String,
    /// Why.
    pub reason: String,
    /// The ticket it was attached to, as a number.
    #[serde(skip)]
    pub ticket_number: Option<i64>,
    /// Raw message id, for release.
    #[serde(skip)]
    pub raw_id: Option<i64>,
    /// Already released.
    #[serde(skip)]
    pub released: bool,
}

/// A due outbox message.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    /// Id (file name).
    pub id: String,
    /// `ack`, `notify`, `added` or `resolved`.
    pub kind: String,
    /// Recipient.
    pub recipient: String,
    /// Formatted message.
    pub body: Vec<u8>,
    /// Attempts so far.
    pub attempts: i64,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

/// A ticket with its history, for `rules test` and later the status page.
#[derive(Debug, Clone, Serialize)]
pub struct TicketView {
    /// Status word.
    pub status: String,
    /// Priority word.
    pub priority: String,
    /// Assigned agent.
    pub agent: Option<String>,
    /// Event kinds and texts, oldest first.
    pub events: Vec<(String, String)>,
}

/// How long a daemon's claim on messages it is sending lasts (PostgreSQL): a round of 200
/// takes well under a second against a working server; a server that accepts connections
/// and then hangs could stretch a round past this, and another daemon would then send the
/// rest of that round a second time.
pub(crate) const OUTBOX_CLAIM: std::time::Duration = std::time::Duration::from_secs(30);

impl Store {
    /// How many open tickets there are of each priority.
    pub async fn open_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT priority, COUNT(*) FROM tickets WHERE status IN ('new', 'assigned', 'waiting')
             GROUP BY priority",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Open tickets (new, assigned, waiting), oldest first.
    pub async fn open_tickets(&self) -> Result<Vec<QueueEntry>> {
        let rows = sqlx::query(
            "SELECT number, status, priority, category, skills, site, agent_id, team, subject,
                    requester_email, created_at, due_at, access_token
             FROM tickets WHERE status IN ('new', 'assigned', 'waiting') ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| QueueEntry {
                number: r.get(0),
                status: r.get(1),
                priority: r.get(2),
                category: r.get(3),
                skills: serde_json::from_str(&r.get::<String, _>(4)).unwrap_or_default(),
                site: r.get(5),
                agent: r.get(6),
                team: r.get(7),
                subject: r.get(8),
                requester: r.get(9),
                created_at: parse_time(&r.get::<String, _>(10)),
                due_at: parse_time(&r.get::<String, _>(11)),
                access_token: r.get(12),
            })
            .collect())
    }

    /// Everything the guard held back, newest last.
    pub async fn suppressed(&self) -> Result<Vec<SuppressedEntry>> {
        let rows = sqlx::query(
            "SELECT s.id, s.at, s.from_addr, s.subject, s.reason, t.number, s.raw_id, s.released_at
             FROM suppressed s LEFT JOIN tickets t ON t.id = s.ticket_id ORDER BY s.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| SuppressedEntry {
                id: r.get(0),
                at: parse_time(&r.get::<String, _>(1)),
                from: r.get(2),
                subject: r.get(3),
                reason: r.get(4),
                ticket_number: r.get(5),
                raw_id: r.get(6),
                released: r.get::<Option<String>, _>(7).is_some(),
            })
            .collect())
    }

    /// The raw bytes of a kept message.
    pub async fn raw_message(&self, id: i64) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT bytes FROM raw_messages WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Marks a suppressed entry as released.
    pub async fn mark_released(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        let _turn = self.write_turn().await;
        sqlx::query("UPDATE suppressed SET released_at = $1 WHERE id = $2")
            .bind(time_text(at))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A ticket by number with its events.
    pub async fn ticket(&self, number: i64) -> Result<Option<TicketView>> {
        let Some(row) =
            sqlx::query("SELECT id, status, priority, agent_id FROM tickets WHERE number = $1")
                .bind(number)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let id: i64 = row.get(0);
        let events = sqlx::query("SELECT kind, text FROM events WHERE ticket_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        Ok(Some(TicketView {
            status: row.get(1),
            priority: row.get(2),
            agent: row.get(3),
            events,
        }))
    }

    /// Messages due for delivery, oldest first. On PostgreSQL, where several daemons drain
    /// one outbox, they are also claimed: their next attempt moves [`OUTBOX_CLAIM`] ahead, in
    /// one statement that skips rows another daemon is claiming at that moment, so no two
    /// daemons send the same message. A daemon that dies holding a claim leaves its messages
    /// to the others once the claim runs out. On SQLite one daemon owns the file; nothing to
    /// claim.
    pub async fn due_outbox(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<OutboxItem>> {
        let rows = match self.backend {
            Backend::Sqlite => {
                sqlx::query(
                    "SELECT id, recipient, body, attempts, created_at, kind FROM outbox
                     WHERE status = 'pending' AND next_attempt_at <= $1
                     ORDER BY next_attempt_at, id LIMIT $2",
                )
                .bind(time_text(now))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            Backend::Postgres => {
                let claim = chrono::Duration::from_std(OUTBOX_CLAIM).unwrap_or_default();
                let mut rows = sqlx::query(
                    "UPDATE outbox SET next_attempt_at = $3
                     WHERE id IN (SELECT id FROM outbox
                                  WHERE status = 'pending' AND next_attempt_at <= $1
                                  ORDER BY next_attempt_at, id LIMIT $2
                                  FOR UPDATE SKIP LOCKED)
                     RETURNING id, recipient, body, attempts, created_at, kind",
                )
                .bind(time_text(now))
                .bind(limit)
                .bind(time_text(now + claim))
                .fetch_all(&self.pool)
                .await?;
                rows.sort_by_cached_key(|r| (r.get::<String, _>(4), r.get::<String, _>(0)));
                rows
            }
        };
        Ok(rows
            .into_iter()
            .map(|r| OutboxItem {
                id: r.get(0),
                kind: r.get(5),
                recipient: r.get(1),
                body: r.get(2),
                attempts: r.get(3),
                created_at: parse_time(&r.get::<String, _>(4)),
            })
            .collect())
    }

    /// Records delivered messages.
    pub async fn mark_sent(&self, ids: &[String], at: DateTime<Utc>) -> Result<()> {
        let _turn = self.write_turn().await;
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(self.backend.pick(
            "UPDATE outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1
             WHERE id IN (SELECT value FROM json_each($2))",
            "UPDATE outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1
             WHERE id IN (SELECT value FROM json_array_elements_text($2::json))",
        ))
        .bind(time_text(at))
        .bind(serde_json::to_string(ids).unwrap_or_default())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or failed for good when `None`.
    pub async fn mark_attempt_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let _turn = self.write_turn().await;
        let (status, next) = match retry_at {
            Some(at) => ("pending", time_text(at)),
            None => ("failed", time_text(Utc::now())),
        };
        sqlx::query(
            "UPDATE outbox SET status = $1, next_attempt_at = $2, last_error = $3, attempts = attempts + 1 WHERE id = $4",
        )
        .bind(status)
        .bind(next)
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Open tickets past their first-response due time.
    pub async fn overdue_count(&self, now: DateTime<Utc>) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM tickets WHERE status IN ('new', 'assigned', 'waiting') AND due_at < $1",
        )
        .bind(time_text(now))
        .fetch_one(&self.pool)
        .await?)
    }

    /// Counts of outbox rows by status.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

impl Store {
    /// Where a mailbox was read up to: (UIDVALIDITY, last UID).
    pub async fn cursor(&self, mailbox: &str) -> Result<Option<(u32, u32)>> {
        let row = sqlx::query("SELECT uidvalidity, last_uid FROM mailbox_cursors WHERE name = $1")
            .bind(mailbox)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| {
            let validity: i64 = r.get(0);
            let last: i64 = r.get(1);
            (
                u32::try_from(validity).unwrap_or(0),
                u32::try_from(last).unwrap_or(0),
            )
        }))
    }

    /// Records that a mailbox was read up to `last_uid`.
    pub async fn set_cursor(&self, mailbox: &str, uidvalidity: u32, last_uid: u32) -> Result<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO mailbox_cursors (name, uidvalidity, last_uid, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET uidvalidity = excluded.uidvalidity,
                 last_uid = excluded.last_uid, updated_at = excluded.updated_at",
        )
        .bind(mailbox)
        .bind(i64::from(uidvalidity))
        .bind(i64::from(last_uid))
        .bind(time_text(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl Store {
    /// Every ticket created since `since`, as the desk's numbers see it.
    pub async fn stats_tickets(
        &self,
        prefix: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<crate::stats::TicketFacts>> {
        let rows = sqlx::query(
            "SELECT number, created_at, channel, site, category, priority, due_at, touched_at,
                    resolved_at, rating
             FROM tickets WHERE created_at >= $1 ORDER BY id",
        )
        .bind(time_text(since))
        .fetch_all(&self.pool)
        .await?;
        let time = |t: Option<String>| t.map(|t| parse_time(&t));
        Ok(rows
            .into_iter()
            .map(|r| {
                let touched = time(r.get(7));
                let resolved = time(r.get(8));
                crate::stats::TicketFacts {
                    ticket: format!("{prefix}-{}", r.get::<i64, _>(0)),
                    created_at: parse_time(&r.get::<String, _>(1)),
                    channel: r.get(2),
                    site: r.get::<Option<String>, _>(3).unwrap_or_default(),
                    category: r.get(4),
                    priority: r.get(5),
                    due_at: parse_time(&r.get::<String, _>(6)),
                    // Taking it, or resolving it without taking it first, is the response.
                    first_response_at: match (touched, resolved) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    },
                    resolved_at: resolved,
                    rating: r.get(9),
                }
            })
            .collect())
    }
}
