//! Takes inputs from any channel through the pipeline into the store: exactly once in, one
//! transaction per batch (group commit), an outcome for every input.

mod dry_run;
mod facts;
mod persist;
mod raw_copy;

pub use dry_run::{DryRun, dry_run};
pub use raw_copy::redacted_copy;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::engine::Engine;
use crate::pipeline::normalize::normalize_email;
use crate::store::{Store, StoreError};

/// One input as a channel hands it over.
#[derive(Debug, Clone)]
pub struct Input {
    /// The raw message.
    pub raw: Vec<u8>,
    /// The channel's own id (mailbox/UIDVALIDITY/UID); `None` keys it by its SHA-256.
    pub source_key: Option<String>,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// An admin released it from the suppressed list: treat it as a person's request.
    pub released: bool,
}

/// What happened to an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    /// A new ticket.
    New,
    /// Added to an existing ticket.
    Appended,
    /// Seen before.
    Duplicate,
    /// Held back by the guard, recorded with its reason.
    Suppressed,
    /// Not a message at all.
    Rejected,
}

impl OutcomeKind {
    /// The bare word.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::New => "new",
            OutcomeKind::Appended => "appended",
            OutcomeKind::Duplicate => "duplicate",
            OutcomeKind::Suppressed => "suppressed",
            OutcomeKind::Rejected => "rejected",
        }
    }
}

/// The outcome of one input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// What happened.
    pub outcome: OutcomeKind,
    /// The ticket reference, when there is one.
    pub ticket: Option<String>,
    /// A short kebab-case reason, when there is one.
    pub reason: Option<String>,
}

impl Outcome {
    fn new(outcome: OutcomeKind, ticket: Option<String>, reason: Option<&str>) -> Outcome {
        Outcome {
            outcome,
            ticket,
            reason: reason.map(str::to_owned),
        }
    }
}

/// Runs a batch of inputs through the pipeline in one transaction. On a database error
/// nothing of the batch is kept, so the caller may retry it whole.
pub async fn ingest_batch(
    engine: &Engine,
    store: &Store,
    inputs: &[Input],
) -> Result<Vec<Outcome>, StoreError> {
    let mut tx = store.pool().begin().await?;
    let mut agents = crate::store::queries::agent_states(&mut tx).await?;
    let mut outcomes = Vec::with_capacity(inputs.len());
    for input in inputs {
        outcomes.push(ingest_one(engine, &mut tx, &mut agents, input).await?);
    }
    tx.commit().await?;
    Ok(outcomes)
}

async fn ingest_one(
    engine: &Engine,
    conn: &mut sqlx::SqliteConnection,
    agents: &mut crate::pipeline::route::AgentStates,
    input: &Input,
) -> Result<Outcome, StoreError> {
    let settings = &engine.settings;
    let prefix = &settings.desk.ticket_prefix;
    let digest = hex::encode(Sha256::digest(&input.raw));
    let source_key = input
        .source_key
        .clone()
        .unwrap_or_else(|| format!("sha256:{digest}"));
    if !input.released
        && let Some(outcome) = facts::duplicate(conn, prefix, &source_key).await?
    {
        return Ok(outcome);
    }

    if input.raw.len() > settings.limits.max_message_bytes {
        let note = format!("(message of {} bytes, over the limit)", input.raw.len());
        return persist::hold_back(conn, input, &digest, &source_key, None, &note, "too-large")
            .await;
    }
    let intake = match normalize_email(
        &input.raw,
        source_key.clone(),
        input.received_at,
        &settings.limits,
    ) {
        Ok(intake) => intake,
        Err(rejection) => {
            return persist::reject(conn, input, &digest, &source_key, rejection.reason()).await;
        }
    };
    let message_key = intake
        .message_id
        .as_ref()
        .map(|id| format!("mid:{}:{id}", intake.from.as_deref().unwrap_or("")));
    if let Some(key) = &message_key
        && !input.released
        && let Some(outcome) = facts::duplicate(conn, prefix, key).await?
    {
        // Same message through another path: remember this path too.
        crate::store::queries::insert_key(conn, &source_key, "duplicate", None, input.received_at)
            .await?;
        return Ok(outcome);
    }

    let now = Utc::now().max(input.received_at);
    let mut store_facts = facts::gather(engine, conn, &intake, agents, now).await?;
    store_facts.released = input.released;
    let analysis = crate::pipeline::analyze(
        &intake,
        &store_facts,
        &engine.rules,
        &engine.desk(),
        now,
        false,
    );
    let keys: Vec<&str> = std::iter::once(source_key.as_str())
        .chain(message_key.as_deref())
        .collect();
    persist::commit(
        engine,
        conn,
        agents,
        input,
        &intake,
        &analysis,
        &store_facts,
        &digest,
        &keys,
        now,
    )
    .await
}
