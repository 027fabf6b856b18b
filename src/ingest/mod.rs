//! Takes inputs from any channel through the pipeline into the store: exactly once in, one
//! transaction per batch (group commit), an outcome for every input.

mod batch;
mod dry_run;
mod facts;
mod persist;
mod raw_copy;
mod writer;

pub use dry_run::{DryRun, dry_run, dry_run_intake};
pub use raw_copy::redacted_copy;
pub use writer::Writer;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::engine::Engine;
use crate::pipeline::normalize::normalize_email;

use crate::domain::TicketRef;
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
    /// Built by a form channel, which knows its fields; `raw` is then the record kept.
    pub intake: Option<Box<crate::intake::Intake>>,
}

impl Input {
    /// A message as it arrived (mail, a file, stdin).
    pub fn raw(raw: Vec<u8>, source_key: Option<String>, received_at: DateTime<Utc>) -> Input {
        Input {
            raw,
            source_key,
            received_at,
            released: false,
            intake: None,
        }
    }
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
    /// When secrets were found: the redacted copy kept instead of the original (a channel
    /// replaces the original with it at the source too).
    #[serde(skip)]
    pub redacted_copy: Option<Vec<u8>>,
    /// For a new ticket: its status link and promised time, so a form can answer without
    /// reading the ticket back.
    #[serde(skip)]
    pub link: Option<TicketLink>,
}

/// What a requester is told about a new ticket besides its reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketLink {
    /// The status page's token.
    pub access_token: String,
    /// First response due.
    pub due_at: DateTime<Utc>,
}

impl Outcome {
    fn new(outcome: OutcomeKind, ticket: Option<String>, reason: Option<&str>) -> Outcome {
        Outcome {
            outcome,
            ticket,
            reason: reason.map(str::to_owned),
            redacted_copy: None,
            link: None,
        }
    }
}

/// What can be worked out about an input before touching the database.
enum Parsed {
    Message(Box<crate::intake::Intake>),
    TooLarge,
    Rejected(&'static str),
}

struct Prepared {
    digest: String,
    /// The source key, then (for a message with a Message-ID) sender + Message-ID.
    keys: Vec<String>,
    parsed: Parsed,
}

fn prepare(engine: &Engine, input: &Input) -> Prepared {
    let limits = &engine.settings.limits;
    let digest = hex::encode(Sha256::digest(&input.raw));
    let source_key = input
        .source_key
        .clone()
        .unwrap_or_else(|| format!("sha256:{digest}"));
    let parsed = if let Some(intake) = &input.intake {
        Parsed::Message(Box::new(intake.as_ref().clone().without_nul()))
    } else if input.raw.len() > limits.max_message_bytes {
        Parsed::TooLarge
    } else {
        match normalize_email(&input.raw, source_key.clone(), input.received_at, limits) {
            Ok(intake) => Parsed::Message(Box::new(intake.without_nul())),
            Err(rejection) => Parsed::Rejected(rejection.reason()),
        }
    };
    let mut keys = vec![source_key];
    if let Parsed::Message(intake) = &parsed
        && let Some(id) = &intake.message_id
    {
        keys.push(format!("mid:{}:{id}", intake.from.as_deref().unwrap_or("")));
    }
    Prepared {
        digest,
        keys,
        parsed,
    }
}

/// A batch whose inputs have been parsed: the part of the work that needs no database, so a
/// channel can do it for the next batch while the current one is being written.
pub struct PreparedBatch {
    inputs: Vec<Input>,
    prepared: Vec<Prepared>,
}

impl PreparedBatch {
    /// How many inputs it holds.
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }
}

/// Parses a batch (pure work, no database).
pub fn prepare_batch(engine: &Engine, inputs: Vec<Input>) -> PreparedBatch {
    let prepared = inputs.iter().map(|input| prepare(engine, input)).collect();
    PreparedBatch { inputs, prepared }
}

/// Runs a batch of inputs through the pipeline in one transaction. On a database error
/// nothing of the batch is kept, so the caller may retry it whole.
pub async fn ingest_batch(
    engine: &Engine,
    store: &Store,
    inputs: Vec<Input>,
) -> Result<Vec<Outcome>, StoreError> {
    commit_batch(engine, store, &prepare_batch(engine, inputs)).await
}

/// Decides and writes a prepared batch in one transaction (one outcome per input, in order).
pub async fn commit_batch(
    engine: &Engine,
    store: &Store,
    batch: &PreparedBatch,
) -> Result<Vec<Outcome>, StoreError> {
    let (inputs, prepared) = (&batch.inputs, &batch.prepared);
    let keys: Vec<&str> = prepared
        .iter()
        .flat_map(|p| p.keys.iter().map(String::as_str))
        .collect();
    let senders: Vec<&str> = prepared
        .iter()
        .filter_map(|p| match &p.parsed {
            Parsed::Message(intake) => intake.from.as_deref(),
            _ => None,
        })
        .collect();
    let _turn = store.write_turn().await;
    let mut conn = store.pool().acquire().await?;
    // IMMEDIATE takes the write lock now: ticket numbers are handed out from memory.
    let mut tx = crate::store::begin_write(&mut conn).await?;
    let window_start = facts::ack_window_start(engine, Utc::now());
    let mut pending = batch::Batch::start(&mut tx, &keys, &senders, window_start).await?;
    let mut outcomes = Vec::with_capacity(inputs.len());
    for (input, prepared) in inputs.iter().zip(prepared) {
        outcomes.push(ingest_one(engine, &mut tx, &mut pending, input, prepared).await?);
    }
    pending.flush(&mut tx).await?;
    tx.commit().await?;
    count(inputs, &outcomes);
    Ok(outcomes)
}

/// Counts what came in, per channel and outcome, for `/metrics`.
fn count(inputs: &[Input], outcomes: &[Outcome]) {
    for (input, outcome) in inputs.iter().zip(outcomes) {
        let channel = input
            .intake
            .as_ref()
            .map_or("email", |intake| intake.channel.as_str());
        metrics::counter!("switchboard_intake_total", "channel" => channel, "outcome" => outcome.outcome.as_str())
            .increment(1);
        if outcome.outcome == OutcomeKind::Suppressed
            && let Some(reason) = &outcome.reason
        {
            metrics::counter!("switchboard_suppressed_total", "reason" => reason.clone())
                .increment(1);
        }
    }
}

async fn ingest_one<'a>(
    engine: &Engine,
    conn: &mut sqlx::AnyConnection,
    batch: &mut batch::Batch<'a>,
    input: &'a Input,
    prepared: &Prepared,
) -> Result<Outcome, StoreError> {
    let prefix = &engine.settings.desk.ticket_prefix;
    let keys: Vec<&str> = prepared.keys.iter().map(String::as_str).collect();
    if !input.released
        && let Some(ticket) = batch.known(&keys)
    {
        // Remember this path too, so its next delivery is recognised at once.
        batch.keys(&keys, "duplicate", ticket, input.received_at);
        let reference = ticket.map(|(_, number)| TicketRef::new(prefix, number).to_string());
        return Ok(Outcome::new(OutcomeKind::Duplicate, reference, None));
    }
    let digest = &prepared.digest;
    let intake = match &prepared.parsed {
        Parsed::Message(intake) => intake,
        Parsed::TooLarge => {
            let note = format!("(message of {} bytes, over the limit)", input.raw.len());
            let what = (OutcomeKind::Suppressed, note.as_str(), "too-large");
            return Ok(persist::hold_back(batch, input, digest, keys[0], what));
        }
        Parsed::Rejected(reason) => {
            let what = (OutcomeKind::Rejected, "(not a message)", *reason);
            return Ok(persist::hold_back(batch, input, digest, keys[0], what));
        }
    };
    let now = Utc::now().max(input.received_at);
    let mut store_facts = facts::gather(engine, conn, batch, intake).await?;
    store_facts.released = input.released;
    let analysis = crate::pipeline::analyze(
        intake,
        &store_facts,
        &engine.rules,
        &engine.desk(),
        now,
        false,
    );
    Ok(persist::commit(
        engine,
        batch,
        input,
        intake,
        &analysis,
        &store_facts,
        &prepared.digest,
        &keys,
        now,
    ))
}
