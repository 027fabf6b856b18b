//! Drains the outbox: every due message is delivered by the configured transport and marked;
//! temporary failures are retried with back-off until `retry_for` has passed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use super::pace::Backlog;
use crate::store::{OutboxItem, Store, StoreError};

/// A delivery failure: temporary ones are retried.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeliveryError {
    /// Worth trying again later.
    #[error("temporary: {0}")]
    Temporary(String),
    /// Will never succeed.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Writes each message as `<id>.eml` into a folder (the embedded default transport).
#[derive(Debug, Clone)]
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    /// A transport writing into `dir` (created when missing).
    pub fn new(dir: &Path) -> FileTransport {
        FileTransport {
            dir: dir.to_path_buf(),
        }
    }

    /// Writes atomically (temporary file, then rename), so a reader never sees half a message
    /// and a crash between the write and the database update leaves the same file again.
    fn write(&self, item: &OutboxItem) -> Result<(), DeliveryError> {
        let temporary =
            |e: std::io::Error| DeliveryError::Temporary(format!("{}: {e}", self.dir.display()));
        let name: String = item
            .id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let final_path = self.dir.join(format!("{name}.eml"));
        let partial = self.dir.join(format!(".{name}.eml.part"));
        std::fs::write(&partial, &item.body).map_err(temporary)?;
        std::fs::rename(&partial, &final_path).map_err(temporary)
    }

    /// Writes a round of messages one after another on one blocking thread: parallel creates
    /// in one folder only contend for its lock, and each async file call is a thread hop.
    pub async fn deliver_all(
        &self,
        items: Vec<OutboxItem>,
    ) -> Vec<(OutboxItem, Result<(), DeliveryError>)> {
        let transport = self.clone();
        let count = items.len();
        let written = tokio::task::spawn_blocking(move || {
            let made = std::fs::create_dir_all(&transport.dir)
                .map_err(|e| DeliveryError::Temporary(format!("{}: {e}", transport.dir.display())));
            items
                .into_iter()
                .map(|item| {
                    let result = match &made {
                        Ok(()) => transport.write(&item),
                        Err(e) => Err((*e).clone()),
                    };
                    (item, result)
                })
                .collect::<Vec<_>>()
        })
        .await;
        written.unwrap_or_else(|e| {
            tracing::error!(error = %e, count, "The outbox file writer stopped.");
            Vec::new()
        })
    }
}

/// Where delivered mail goes.
#[derive(Debug, Clone)]
pub enum Transport {
    /// `.eml` files in a folder.
    File(FileTransport),
    /// An SMTP relay.
    Smtp(super::smtp::SmtpTransport),
}

impl Transport {
    /// The transport `[outbound]` asks for.
    pub fn from_settings(outbound: &crate::config::Outbound) -> Result<Transport, String> {
        Ok(match outbound.transport {
            crate::config::Transport::File => Transport::File(FileTransport::new(&outbound.dir)),
            crate::config::Transport::Smtp => {
                Transport::Smtp(super::smtp::SmtpTransport::new(outbound)?)
            }
        })
    }
}

pub use super::pace::CONCURRENCY;

/// Back-off after `attempts` failures: `base` doubling, at most an hour.
pub fn backoff(attempts: i64, base: Duration) -> Duration {
    let exponent = u32::try_from(attempts.clamp(0, 10)).unwrap_or(10);
    base.saturating_mul(1u32 << exponent)
        .min(Duration::from_secs(3600))
}

/// How the worker retries.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// First wait after a temporary failure.
    pub base: Duration,
    /// Give up (mark failed) after this long.
    pub give_up_after: Duration,
}

/// Messages read from the outbox per round. A round ends when its last message is handed
/// over, so the sending thins out at each round's end; bigger rounds thin out less often.
const ROUND: i64 = 1000;

/// Delivered messages are marked sent in groups of this many (one commit each).
pub const MARK_EVERY: usize = 8;

/// What one round of delivery has done so far.
#[derive(Default)]
struct Round {
    delivered: Vec<String>,
    temporary_failures: usize,
}

impl Round {
    /// Records one message's result: delivered (to be marked), failed for good, or retried.
    async fn record(
        &mut self,
        store: &Store,
        item: OutboxItem,
        result: Result<(), DeliveryError>,
        retry: Retry,
        now: chrono::DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match result {
            Ok(()) => {
                if item.kind == "ack" {
                    // From the request's arrival (the ack is queued in the same
                    // transaction) to the SMTP server's acceptance.
                    let waited = (Utc::now() - item.created_at).as_seconds_f64().max(0.0);
                    metrics::histogram!("switchboard_ack_delivery_seconds").record(waited);
                }
                self.delivered.push(item.id);
            }
            Err(DeliveryError::Permanent(reason)) => {
                tracing::warn!(outbox_id = %item.id, %reason, "Delivery failed for good.");
                store.mark_attempt_failed(&item.id, &reason, None).await?;
            }
            Err(DeliveryError::Temporary(reason)) => {
                self.temporary_failures += 1;
                let next = now
                    + chrono::Duration::from_std(backoff(item.attempts, retry.base))
                        .unwrap_or_default();
                let expires = item.created_at
                    + chrono::Duration::from_std(retry.give_up_after).unwrap_or_default();
                let retry_at = (next < expires).then_some(next);
                tracing::warn!(outbox_id = %item.id, %reason, retry = retry_at.is_some(), "Delivery failed.");
                store
                    .mark_attempt_failed(&item.id, &reason, retry_at)
                    .await?;
            }
        }
        Ok(())
    }

    /// Marks what was delivered as sent, in one statement.
    async fn mark(&mut self, store: &Store) -> Result<usize, StoreError> {
        let count = self.delivered.len();
        if count > 0 {
            store.mark_sent(&self.delivered, Utc::now()).await?;
            self.delivered.clear();
        }
        Ok(count)
    }
}

/// Delivers everything due now; returns how many were sent.
pub async fn drain_once(
    store: &Store,
    transport: &Transport,
    retry: Retry,
    backlog: &Backlog,
) -> Result<usize, StoreError> {
    let mut sent = 0;
    loop {
        let now = Utc::now();
        let due = store.due_outbox(now, ROUND).await?;
        if due.is_empty() {
            return Ok(sent);
        }
        let batch = due.len();
        let mut round = Round::default();
        match transport {
            Transport::File(files) => {
                for (item, result) in files.deliver_all(due).await {
                    round.record(store, item, result, retry, now).await?;
                }
            }
            Transport::Smtp(smtp) => {
                // Each delivery runs as a task of its own, so the relay's replies are read
                // while a group is being marked; a new one starts only once a finished one
                // is recorded. So at most CONCURRENCY + MARK_EVERY messages are ever
                // accepted and not yet marked: all a crash can send twice.
                let mut waiting = due.into_iter();
                let mut running = tokio::task::JoinSet::new();
                loop {
                    while running.len() < backlog.concurrency() {
                        let Some(item) = waiting.next() else { break };
                        let smtp = smtp.clone();
                        running.spawn(async move {
                            let result = smtp.deliver(&item.recipient, &item.body).await;
                            (item, result)
                        });
                    }
                    let Some(finished) = running.join_next().await else {
                        break;
                    };
                    let (item, result) = match finished {
                        Ok(done) => done,
                        Err(e) => {
                            // Its message stays pending in the outbox: a later round sends it.
                            tracing::error!(error = %e, "An SMTP delivery task stopped.");
                            continue;
                        }
                    };
                    round.record(store, item, result, retry, now).await?;
                    if round.delivered.len() >= MARK_EVERY {
                        sent += round.mark(store).await?;
                    }
                }
            }
        }
        sent += round.mark(store).await?;
        let temporary_failures = round.temporary_failures;
        if batch < ROUND as usize || temporary_failures > 0 {
            return Ok(sent);
        }
    }
}

/// Runs until `shutdown` turns true, checking for due mail every `interval` or when woken.
pub async fn run(
    store: Store,
    transport: Transport,
    retry: Retry,
    interval: Duration,
    wake: std::sync::Arc<tokio::sync::Notify>,
    backlog: Backlog,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match drain_once(&store, &transport, retry, &backlog).await {
            Ok(0) => {}
            Ok(sent) => tracing::info!(sent, "Outbox delivered."),
            Err(e) => tracing::error!(error = %e, "Outbox worker could not read the database."),
        }
        if let Transport::Smtp(smtp) = &transport {
            smtp.close_idle(super::smtp::IDLE_LIMIT).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
    }
    if let Transport::Smtp(smtp) = &transport {
        smtp.close_idle(Duration::ZERO).await;
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(0, base), Duration::from_secs(30));
        assert_eq!(backoff(1, base), Duration::from_secs(60));
        assert_eq!(backoff(20, base), Duration::from_secs(3600));
    }
}
