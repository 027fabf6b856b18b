//! The queue's writes: assigning with the agent's capacity checked in the same statement,
//! taking, going away (untouched tickets offered back) and coming back, escalating.
//!
//! Every write takes the store's write turn and an IMMEDIATE transaction, and each
//! assignment is one conditional UPDATE that counts the agent's open tickets itself, so no
//! agent is ever over capacity however many assignments race.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{OutboxRow, Store, StoreError, parse_time, time_text};
use crate::pipeline::route::AgentStates;

type Result<T> = std::result::Result<T, StoreError>;

/// A ticket nobody has yet: what live routing needs to route it and notify the agent.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting {
    /// Database id.
    pub id: i64,
    /// Number (the reference without its prefix).
    pub number: i64,
    /// Base priority.
    pub priority: String,
    /// Category.
    pub category: String,
    /// Required skills and levels.
    pub skills: std::collections::BTreeMap<String, u8>,
    /// Team named for it.
    pub team: Option<String>,
    /// Site id.
    pub site: Option<String>,
    /// Language code.
    pub language: String,
    /// Subject.
    pub subject: String,
    /// One-line restatement.
    pub summary: String,
    /// Requester's address and name.
    pub requester: (Option<String>, Option<String>),
    /// Whether a secret was removed.
    pub secrets_found: bool,
    /// The status link's token.
    pub access_token: String,
    /// Arrival.
    pub created_at: DateTime<Utc>,
    /// First response due.
    pub due_at: DateTime<Utc>,
}

/// An open ticket near or past its due time that nobody has acted on yet.
#[derive(Debug, Clone)]
pub struct AtRisk {
    /// Database id.
    pub id: i64,
    /// Number.
    pub number: i64,
    /// Base priority.
    pub priority: String,
    /// Team.
    pub team: Option<String>,
    /// Subject.
    pub subject: String,
    /// One-line restatement.
    pub summary: String,
    /// Site id.
    pub site: Option<String>,
    /// Assigned agent.
    pub agent: Option<String>,
    /// The status link's token.
    pub access_token: String,
    /// Due.
    pub due_at: DateTime<Utc>,
}

impl Store {
    /// Open tickets nobody is assigned, oldest first.
    pub async fn waiting(&self) -> Result<Vec<Waiting>> {
        let rows = sqlx::query(self.backend.pick(
            "SELECT id, number, priority, category, skills, team, site, language, subject, summary,
                    requester_email, requester_name, secrets_found, access_token, created_at, due_at
             FROM tickets INDEXED BY tickets_waiting
             WHERE agent_id IS NULL AND status IN ('new', 'assigned', 'waiting') ORDER BY id",
            "SELECT id, number, priority, category, skills, team, site, language, subject, summary,
                    requester_email, requester_name, secrets_found, access_token, created_at, due_at
             FROM tickets
             WHERE agent_id IS NULL AND status IN ('new', 'assigned', 'waiting') ORDER BY id",
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Waiting {
                id: r.get(0),
                number: r.get(1),
                priority: r.get(2),
                category: r.get(3),
                skills: serde_json::from_str(&r.get::<String, _>(4)).unwrap_or_default(),
                team: r.get(5),
                site: r.get(6),
                language: r.get(7),
                subject: r.get(8),
                summary: r.get(9),
                requester: (r.get(10), r.get(11)),
                secrets_found: r.get::<i64, _>(12) != 0,
                access_token: r.get(13),
                created_at: parse_time(&r.get::<String, _>(14)),
                due_at: parse_time(&r.get::<String, _>(15)),
            })
            .collect())
    }

    /// Agents' open tickets, presence and last assignment.
    pub async fn agent_states(&self) -> Result<AgentStates> {
        let mut conn = self.pool.acquire().await?;
        super::queries::agent_states(&mut conn).await
    }

    /// Gives a ticket to `agent` if it is still open and (with `from` = `None`) unassigned,
    /// or assigned to `from`, and the agent has fewer than `capacity` open tickets. The
    /// decision, its reason and the agent's notification land together. `false`: it did
    /// not happen (taken meanwhile, closed, or the agent is full).
    #[allow(clippy::too_many_arguments)]
    pub async fn assign(
        &self,
        ticket_id: i64,
        agent: &str,
        from: Option<&str>,
        capacity: u32,
        reason: &str,
        notification: Option<&OutboxRow>,
        touched: bool,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let _turn = self.write_turn().await;
        let mut conn = self.pool.acquire().await?;
        let mut tx = super::begin_write(&mut conn).await?;
        let now = time_text(at);
        let done = sqlx::query(self.backend.pick(
            "UPDATE tickets SET agent_id = $1, status = 'assigned', updated_at = $2,
                    touched_at = CASE WHEN $6 THEN $2 ELSE touched_at END
             WHERE id = $3 AND status IN ('new', 'assigned', 'waiting') AND agent_id IS $4
               AND (SELECT COUNT(*) FROM tickets INDEXED BY tickets_agent_open
                    WHERE agent_id = $1 AND status IN ('new', 'assigned', 'waiting')) < $5",
            "UPDATE tickets SET agent_id = $1, status = 'assigned', updated_at = $2,
                    touched_at = CASE WHEN $6 THEN $2 ELSE touched_at END
             WHERE id = $3 AND status IN ('new', 'assigned', 'waiting')
               AND agent_id IS NOT DISTINCT FROM $4
               AND (SELECT COUNT(*) FROM tickets
                    WHERE agent_id = $1 AND status IN ('new', 'assigned', 'waiting')) < $5",
        ))
        .bind(agent)
        .bind(&now)
        .bind(ticket_id)
        .bind(from)
        .bind(i64::from(capacity))
        .bind(touched)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO routing_decisions (ticket_id, at, agent_id, team, reason)
             VALUES ($1, $2, $3, (SELECT team FROM tickets WHERE id = $1), $4)",
        )
        .bind(ticket_id)
        .bind(&now)
        .bind(agent)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO events (ticket_id, at, kind, author, text) VALUES ($1, $2, 'routed', NULL, $3)")
            .bind(ticket_id)
            .bind(&now)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO agent_state (agent_id, last_assigned_at) VALUES ($1, $2)
             ON CONFLICT (agent_id) DO UPDATE SET last_assigned_at = excluded.last_assigned_at",
        )
        .bind(agent)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if let Some(row) = notification {
            insert_outbox(&mut tx, ticket_id, row, &now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Marks a ticket as worked on by its agent (taken, answered): it is no longer offered
    /// back when they go away.
    pub async fn touch(&self, ticket_id: i64, agent: &str, at: DateTime<Utc>) -> Result<bool> {
        let _turn = self.write_turn().await;
        let mut conn = self.pool.acquire().await?;
        let mut tx = super::begin_write(&mut conn).await?;
        let now = time_text(at);
        let done = sqlx::query(
            "UPDATE tickets SET touched_at = COALESCE(touched_at, $1), updated_at = $1
             WHERE id = $2 AND agent_id = $3 AND status IN ('new', 'assigned', 'waiting')",
        )
        .bind(&now)
        .bind(ticket_id)
        .bind(agent)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("INSERT INTO events (ticket_id, at, kind, author, text) VALUES ($1, $2, 'taken', $3, $4)")
            .bind(ticket_id)
            .bind(&now)
            .bind(agent)
            .bind(format!("{agent} took it."))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Marks an agent away (their untouched tickets go back to waiting, each with the
    /// reason, for live routing to offer to others) or back. Gives the tickets offered back.
    pub async fn set_away(&self, agent: &str, away: bool, at: DateTime<Utc>) -> Result<Vec<i64>> {
        let _turn = self.write_turn().await;
        let mut conn = self.pool.acquire().await?;
        let mut tx = super::begin_write(&mut conn).await?;
        let now = time_text(at);
        sqlx::query(
            "INSERT INTO agent_state (agent_id, away) VALUES ($1, $2)
             ON CONFLICT (agent_id) DO UPDATE SET away = excluded.away",
        )
        .bind(agent)
        .bind(i64::from(away))
        .execute(&mut *tx)
        .await?;
        let mut offered = Vec::new();
        if away {
            offered = sqlx::query_scalar(
                "UPDATE tickets SET agent_id = NULL, status = 'new', updated_at = $2
                 WHERE agent_id = $1 AND status = 'assigned' AND touched_at IS NULL
                 RETURNING id",
            )
            .bind(agent)
            .bind(&now)
            .fetch_all(&mut *tx)
            .await?;
            let reason = format!("{agent} went away before taking it; offered to others.");
            for id in &offered {
                sqlx::query(
                    "INSERT INTO routing_decisions (ticket_id, at, agent_id, team, reason)
                     VALUES ($1, $2, NULL, (SELECT team FROM tickets WHERE id = $1), $3)",
                )
                .bind(id)
                .bind(&now)
                .bind(&reason)
                .execute(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO events (ticket_id, at, kind, author, text) VALUES ($1, $2, 'offered-back', NULL, $3)")
                    .bind(id)
                    .bind(&now)
                    .bind(&reason)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(offered)
    }

    /// Open tickets due before `by` that nobody has acted on and that were not escalated.
    pub async fn at_risk(&self, by: DateTime<Utc>) -> Result<Vec<AtRisk>> {
        let rows = sqlx::query(
            "SELECT id, number, priority, team, subject, summary, site, agent_id, access_token, due_at
             FROM tickets
             WHERE status IN ('new', 'assigned', 'waiting') AND escalated_at IS NULL AND touched_at IS NULL
               AND due_at <= $1 ORDER BY due_at",
        )
        .bind(time_text(by))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AtRisk {
                id: r.get(0),
                number: r.get(1),
                priority: r.get(2),
                team: r.get(3),
                subject: r.get(4),
                summary: r.get(5),
                site: r.get(6),
                agent: r.get(7),
                access_token: r.get(8),
                due_at: parse_time(&r.get::<String, _>(9)),
            })
            .collect())
    }

    /// Escalates once: the priority raised, the reason recorded, the lead's message queued.
    pub async fn escalate(
        &self,
        ticket_id: i64,
        priority: &str,
        reason: &str,
        message: Option<&OutboxRow>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let _turn = self.write_turn().await;
        let mut conn = self.pool.acquire().await?;
        let mut tx = super::begin_write(&mut conn).await?;
        let now = time_text(at);
        let done = sqlx::query(
            "UPDATE tickets SET priority = $1, escalated_at = $2, updated_at = $2
             WHERE id = $3 AND escalated_at IS NULL AND status IN ('new', 'assigned', 'waiting')",
        )
        .bind(priority)
        .bind(&now)
        .bind(ticket_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("INSERT INTO events (ticket_id, at, kind, author, text) VALUES ($1, $2, 'escalated', NULL, $3)")
            .bind(ticket_id)
            .bind(&now)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
        if let Some(row) = message {
            insert_outbox(&mut tx, ticket_id, row, &now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// Queues one message with its ticket, in the caller's transaction.
pub(super) async fn insert_outbox(
    conn: &mut sqlx::AnyConnection,
    ticket_id: i64,
    row: &OutboxRow,
    now: &str,
) -> Result<()> {
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
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
