//! Group commit for channels that take one input at a time (web form, call form, API): many
//! concurrent submissions share one transaction, so the database writes once for all of them.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};

use super::{Input, Outcome, ingest_batch};
use crate::engine::LiveEngine;
use crate::store::{Store, StoreError};

/// The most inputs one transaction takes.
const BATCH: usize = 128;

type Reply = oneshot::Sender<Result<Outcome, StoreError>>;

/// A handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<(Input, Reply)>,
}

impl Writer {
    /// Starts the writer task. It wakes the outbox after every commit and ends when every
    /// handle is dropped.
    pub fn spawn(live: LiveEngine, store: Store, wake_outbox: Arc<Notify>) -> Writer {
        let (queue, mut inbox) = mpsc::channel::<(Input, Reply)>(BATCH * 4);
        tokio::spawn(async move {
            let mut waiting = Vec::with_capacity(BATCH);
            while inbox.recv_many(&mut waiting, BATCH).await > 0 {
                let (inputs, replies): (Vec<Input>, Vec<Reply>) = waiting.drain(..).unzip();
                let engine = live.current();
                let store = store.clone();
                // On a task of its own, so that even a failure nobody foresaw ends only this
                // batch (each sender hears "try again"), never the writer every form needs.
                let work = tokio::spawn(async move { ingest_batch(&engine, &store, inputs).await });
                let result = work.await.unwrap_or_else(|_| {
                    Err(StoreError::Unavailable(
                        "the request could not be stored".into(),
                    ))
                });
                match result {
                    Ok(outcomes) => {
                        for (reply, outcome) in replies.into_iter().zip(outcomes) {
                            let _ = reply.send(Ok(outcome));
                        }
                        wake_outbox.notify_one();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "A batch of form submissions was not stored; each was told to try again.");
                        for reply in replies {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        Writer { queue }
    }

    /// Whether the writer task still takes inputs (readiness).
    pub fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }

    /// Runs one input through the pipeline and waits for its outcome.
    pub async fn submit(&self, input: Input) -> Result<Outcome, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.queue
            .send((input, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        outcome
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?
    }
}
