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
    // Whatever a parser or a cleaner does with one hostile input costs that input alone.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parse(limits, input, &source_key)
    }))
    .unwrap_or(Parsed::Rejected("internal-error"));
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

fn parse(limits: &crate::config::Limits, input: &Input, source_key: &str) -> Parsed {
    if let Some(intake) = &input.intake {
        Parsed::Message(Box::new(made_safe(intake.as_ref().clone())))
    } else if input.raw.len() > limits.max_message_bytes {
        Parsed::TooLarge
    } else {
        match normalize_email(&input.raw, source_key.to_owned(), input.received_at, limits) {
            Ok(intake) => Parsed::Message(Box::new(made_safe(intake))),
            Err(rejection) => Parsed::Rejected(rejection.reason()),
        }
    }
}

/// An intake fit for the pipeline, whatever its channel: one-line names and headers, and the
/// secrets outside subject and body already redacted (they still flag the ticket).
pub fn made_safe(intake: crate::intake::Intake) -> crate::intake::Intake {
    let mut intake = intake.sanitized();
    crate::pipeline::secrets::redact_outside_body(&mut intake);
    intake
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

/// Parses a batch on a thread of its own: parsing is CPU work whose length the sender
/// decides, and the runtime's few threads also serve the mailboxes and the web.
pub async fn prepare_batch_apart(engine: &Engine, inputs: Vec<Input>) -> PreparedBatch {
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || prepare_batch(&engine, inputs))
        .await
        .unwrap_or(PreparedBatch {
            inputs: Vec::new(),
            prepared: Vec::new(),
        })
}

/// Runs a batch of inputs through the pipeline in one transaction. On a database error
/// nothing of the batch is kept, so the caller may retry it whole.
pub async fn ingest_batch(
    engine: &Engine,
    store: &Store,
    inputs: Vec<Input>,
) -> Result<Vec<Outcome>, StoreError> {
    commit_batch(engine, store, &prepare_batch_apart(engine, inputs).await).await
}

/// Decides and writes a prepared batch in one transaction (one outcome per input, in order).
///
/// A panic while deciding or writing (a bug one odd input found) costs only that input: the
/// batch is tried again input by input, and the one that fails alone is kept as `rejected`
/// (`internal-error`), so the rest commit and the channel moves on.
pub async fn commit_batch(
    engine: &Engine,
    store: &Store,
    batch: &PreparedBatch,
) -> Result<Vec<Outcome>, StoreError> {
    let (inputs, prepared) = (&batch.inputs, &batch.prepared);
    match guarded(commit_together(engine, store, inputs, prepared)).await {
        Some(result) => return result,
        None if inputs.len() == 1 => {}
        None => tracing::error!(
            inputs = inputs.len(),
            "Deciding a batch failed unexpectedly; trying its inputs one by one."
        ),
    }
    let mut outcomes = Vec::with_capacity(inputs.len());
    for (input, prepared) in inputs.iter().zip(prepared) {
        let one = (std::slice::from_ref(input), std::slice::from_ref(prepared));
        let outcome = match guarded(commit_together(engine, store, one.0, one.1)).await {
            Some(result) => result?,
            None => {
                tracing::error!(
                    key = %prepared.keys[0],
                    "One input made the intake fail; it is kept as rejected (internal-error) and the rest go on."
                );
                metrics::counter!("switchboard_intake_failures_total").increment(1);
                let set_aside = Prepared {
                    digest: prepared.digest.clone(),
                    keys: prepared.keys.clone(),
                    parsed: Parsed::Rejected("internal-error"),
                };
                let only = std::slice::from_ref(&set_aside);
                commit_together(engine, store, one.0, only).await?
            }
        };
        outcomes.extend(outcome);
    }
    Ok(outcomes)
}

/// Runs `work`, turning a panic inside it into `None`.
async fn guarded<T>(work: impl std::future::Future<Output = T>) -> Option<T> {
    use futures::FutureExt as _;
    std::panic::AssertUnwindSafe(work).catch_unwind().await.ok()
}

/// Decides and writes `inputs` in one transaction.
async fn commit_together(
    engine: &Engine,
    store: &Store,
    inputs: &[Input],
    prepared: &[Prepared],
) -> Result<Vec<Outcome>, StoreError> {
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
    let windows = facts::Windows::at(engine, Utc::now());
    let mut pending = batch::Batch::start(&mut tx, &keys, &senders, &windows).await?;
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
    #[cfg(test)]
    tests::planted_fault(intake);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A subject that makes deciding fail, standing in for a bug an input may find.
    const FAULT: &str = "planted fault";

    /// Panics on the planted subject.
    pub(super) fn planted_fault(intake: &crate::intake::Intake) {
        if intake.subject.contains(FAULT) {
            panic!("{FAULT}");
        }
    }

    fn mail(from: &str, subject: &str) -> Input {
        let raw = format!(
            "From: {from}\r\nTo: support@example.com\r\nSubject: {subject}\r\nMessage-ID: <{}@example.org>\r\n\r\nMy printer on floor 2 does not print.\r\n",
            subject.replace(' ', ".")
        );
        Input::raw(raw.into_bytes(), None, Utc::now())
    }

    #[tokio::test]
    async fn an_input_that_fails_while_being_decided_costs_only_itself() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = env!("CARGO_MANIFEST_DIR");
        let config = dir.path().join("switchboard.toml");
        std::fs::write(
            &config,
            format!(
                "[paths]\nrules = \"{root}/rules\"\ntemplates = \"{root}/templates\"\nvar = \"var\"\n\
                 [database]\nurl = \"sqlite://var/switchboard.db\"\n"
            ),
        )
        .expect("config written");
        let settings = crate::config::load(Some(&config)).expect("config loads");
        let url = settings.database.connect_url();
        let engine = Engine::load(settings).expect("engine loads");
        let store = Store::open(&url, std::time::Duration::from_secs(5))
            .await
            .expect("database opens");
        let inputs = vec![
            mail("ann@example.org", "Printer one"),
            mail("bob@example.org", &format!("Printer {FAULT}")),
            mail("cy@example.org", "Printer three"),
        ];
        let outcomes = ingest_batch(&engine, &store, inputs.clone())
            .await
            .expect("the batch commits");
        let kinds: Vec<_> = outcomes.iter().map(|o| o.outcome).collect();
        assert_eq!(
            kinds,
            [OutcomeKind::New, OutcomeKind::Rejected, OutcomeKind::New]
        );
        assert_eq!(outcomes[1].reason.as_deref(), Some("internal-error"));
        // Kept, not lost: the same input again is a duplicate of what was kept, and the two
        // good ones made exactly two tickets.
        let again = ingest_batch(&engine, &store, inputs)
            .await
            .expect("commits");
        assert!(
            again.iter().all(|o| o.outcome == OutcomeKind::Duplicate),
            "{again:?}"
        );
        let tickets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets")
            .fetch_one(store.pool())
            .await
            .expect("count");
        assert_eq!(tickets, 2);
        let held: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM suppressed WHERE reason = 'internal-error'")
                .fetch_one(store.pool())
                .await
                .expect("count");
        assert_eq!(held, 1);
    }
}
