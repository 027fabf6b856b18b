//! One connected session: select the folder, take everything after the cursor in bounded
//! batches, apply the after-ingest action only once the batch is committed, advance the
//! cursor, then wait with IDLE (or poll) for more.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{Response, Status};
use futures::TryStreamExt;
use tokio::sync::watch;

use super::connect::{ImapSession, connect, timed};
use super::{ImapError, MailboxTask};
use crate::ingest::{Input, Outcome, OutcomeKind, commit_batch, prepare_batch};
use crate::store::StoreError;

/// At most this many messages are committed at a time: memory stays flat whatever the
/// backlog. With commits running beside the session, 500 a batch took 10,000 messages in at
/// 2,261-2,605 messages/s against 1,642-2,368 with 200 (benches/mail_e2e.py, same hour).
const BATCH: usize = 500;

/// A batch is committed early once it holds this many bytes...
const BATCH_BYTES: usize = 24 * 1024 * 1024;

/// ... checked after each fetch of this many messages: at most BATCH_BYTES plus one slice
/// is held at once.
const SLICE: usize = 50;

/// Serves the mailbox until shutdown (Ok) or a failure (Err: the caller reconnects).
pub(super) async fn serve(
    task: &MailboxTask,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), ImapError> {
    let mailbox = &task.mailbox;
    let mut session = connect(mailbox).await?;
    let capabilities = timed("CAPABILITY", session.capabilities()).await?;
    let can_idle = capabilities.has_str("IDLE");
    let can_move = capabilities.has_str("MOVE");
    tracing::info!(mailbox = %mailbox.name, can_idle, "Mailbox connected.");
    task.set_connected(true);
    loop {
        take_new(task, &mut session, can_move).await?;
        if *shutdown.borrow() {
            let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
            return Ok(());
        }
        let poll = Duration::from_secs(mailbox.poll_seconds.max(1));
        if can_idle {
            let mut idle = session.idle();
            timed("IDLE", idle.init()).await?;
            let woke = {
                let (wait, _stop) = idle.wait_with_timeout(poll);
                tokio::select! {
                    result = wait => Some(result),
                    _ = shutdown.changed() => None,
                }
            };
            match woke {
                // Shutting down: the connection is simply dropped mid-IDLE.
                None => return Ok(()),
                Some(Err(e)) => return Err(ImapError::Server(format!("IDLE: {e}"))),
                // The stream ended: the server closed the connection.
                Some(Ok(IdleResponse::ManualInterrupt)) => {
                    return Err(ImapError::Server(
                        "the server closed the connection during IDLE".into(),
                    ));
                }
                // A `* BYE`: the server is going away and will not answer DONE.
                Some(Ok(IdleResponse::NewData(data)))
                    if matches!(
                        data.parsed(),
                        Response::Data {
                            status: Status::Bye,
                            ..
                        }
                    ) =>
                {
                    return Err(ImapError::Server("the server said BYE during IDLE".into()));
                }
                Some(Ok(IdleResponse::NewData(_) | IdleResponse::Timeout)) => {}
            }
            session = timed("DONE", idle.done()).await?;
        } else {
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }
}

/// Takes every message after the cursor, batch by batch. Each batch is committed on a task
/// of its own while the session tells the server about the batch before it and fetches the
/// next: the database and the IMAP server work at the same time. The cursor still only
/// passes a batch once it is committed and the server has been told, in order.
async fn take_new(
    task: &MailboxTask,
    session: &mut ImapSession,
    can_move: bool,
) -> Result<(), ImapError> {
    let mailbox = &task.mailbox;
    let selected = timed("SELECT", session.select(&mailbox.folder)).await?;
    let uidvalidity = selected.uid_validity.unwrap_or(0);
    let mut last = match task.store.cursor(&mailbox.name).await? {
        Some((validity, last)) if validity == uidvalidity => last,
        Some((validity, _)) => {
            // The mailbox was recreated: every UID is new. Message-IDs keep this from
            // making second tickets for messages already taken.
            tracing::warn!(mailbox = %mailbox.name, old = validity, new = uidvalidity, "UIDVALIDITY changed; reading the folder again.");
            0
        }
        None => 0,
    };
    loop {
        let found = timed(
            "UID SEARCH",
            session.uid_search(format!("UID {}:*", last.saturating_add(1))),
        )
        .await?;
        let mut uids: Vec<u32> = found.into_iter().filter(|&uid| uid > last).collect();
        if uids.is_empty() {
            return Ok(());
        }
        uids.sort_unstable();
        // More than a batch waiting is a backlog: its requests are recorded first.
        let _backlog = (uids.len() > BATCH).then(|| task.backlog.enter());
        let mut in_flight: Option<InFlight> = None;
        for window in uids.chunks(BATCH) {
            // Fetched a slice at a time; once the batch holds BATCH_BYTES it is committed, so
            // a run of large messages never piles up in memory (at most two batches are
            // held: one committing, one being fetched).
            let mut pending: Vec<(u32, Vec<u8>)> = Vec::new();
            let mut bytes = 0usize;
            for slice in window.chunks(SLICE) {
                let messages = fetch(session, slice).await?;
                bytes += messages.iter().map(|(_, raw)| raw.len()).sum::<usize>();
                pending.extend(messages);
                let highest = slice.last().copied().unwrap_or(last);
                if bytes >= BATCH_BYTES || highest == window.last().copied().unwrap_or(last) {
                    let messages = std::mem::take(&mut pending);
                    bytes = 0;
                    // The next commit starts only once the one before is in, so the outbox,
                    // waiting to mark what it sent, never queues behind two intake commits.
                    let before = match in_flight.take() {
                        Some(before) => Some(before.committed().await?),
                        None => None,
                    };
                    in_flight = Some(InFlight::start(task, uidvalidity, messages, highest));
                    if let Some(before) = before {
                        last = before.tell(task, session, uidvalidity, can_move).await?;
                    }
                }
            }
        }
        if let Some(before) = in_flight.take() {
            let before = before.committed().await?;
            last = before.tell(task, session, uidvalidity, can_move).await?;
        }
    }
}

/// A committed batch's outcomes, with how long parsing and committing took.
type Committed = Result<(Vec<Outcome>, Duration, Duration), StoreError>;

/// A batch whose commit runs beside the session.
struct InFlight {
    uids: Vec<u32>,
    highest: u32,
    commit: tokio::task::JoinHandle<Committed>,
}

impl InFlight {
    /// Parses and commits `messages` on a task of its own.
    fn start(
        task: &MailboxTask,
        uidvalidity: u32,
        messages: Vec<(u32, Vec<u8>)>,
        highest: u32,
    ) -> InFlight {
        let name = &task.mailbox.name;
        let uids: Vec<u32> = messages.iter().map(|(uid, _)| *uid).collect();
        let inputs: Vec<Input> = messages
            .into_iter()
            .map(|(uid, raw)| {
                let key = format!("imap:{name}:{uidvalidity}:{uid}");
                Input::raw(raw, Some(key), chrono::Utc::now())
            })
            .collect();
        let engine = task.live.current();
        let store = task.store.clone();
        let commit = tokio::spawn(async move {
            let started = Instant::now();
            let prepared = prepare_batch(&engine, inputs);
            let parsed = started.elapsed();
            let outcomes = commit_batch(&engine, &store, &prepared).await?;
            Ok((outcomes, parsed, started.elapsed() - parsed))
        });
        InFlight {
            uids,
            highest,
            commit,
        }
    }

    /// Waits for the commit.
    async fn committed(self) -> Result<CommittedBatch, ImapError> {
        let (outcomes, parse, commit) = self
            .commit
            .await
            .map_err(|e| ImapError::Server(format!("the batch's commit stopped: {e}")))??;
        Ok(CommittedBatch {
            uids: self.uids,
            highest: self.highest,
            outcomes,
            parse,
            commit,
        })
    }
}

/// A batch whose outcomes are committed; the server is not told yet.
struct CommittedBatch {
    uids: Vec<u32>,
    highest: u32,
    outcomes: Vec<Outcome>,
    parse: Duration,
    commit: Duration,
}

impl CommittedBatch {
    /// Tells the server (the after-ingest action) and moves the cursor past the batch;
    /// returns the new cursor.
    async fn tell(
        self,
        task: &MailboxTask,
        session: &mut ImapSession,
        uidvalidity: u32,
        can_move: bool,
    ) -> Result<u32, ImapError> {
        let mailbox = &task.mailbox;
        let (outcomes, parse, commit) = (self.outcomes, self.parse, self.commit);
        task.wake_outbox.notify_one();
        // Only now, with the batch committed, is the server told.
        let told = Instant::now();
        after_commit(task, session, &self.uids, &outcomes, can_move).await?;
        // Every UID up to here was fetched, its outcome committed and the server told.
        task.store
            .set_cursor(&mailbox.name, uidvalidity, self.highest)
            .await?;
        tracing::debug!(
            mailbox = %mailbox.name,
            messages = self.uids.len(),
            parse_ms = parse.as_millis() as u64,
            commit_ms = commit.as_millis() as u64,
            server_ms = told.elapsed().as_millis() as u64,
            "Batch taken."
        );
        for outcome in &outcomes {
            tracing::debug!(mailbox = %mailbox.name, outcome = outcome.outcome.as_str(), ticket = ?outcome.ticket, "Message taken.");
        }
        Ok(self.highest)
    }
}

async fn fetch(session: &mut ImapSession, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
    let set = uid_set(uids);
    let fetches: Vec<_> = timed("UID FETCH", async {
        session
            .uid_fetch(&set, "(UID BODY.PEEK[])")
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    Ok(fetches
        .iter()
        .filter_map(|fetch| Some((fetch.uid?, fetch.body()?.to_vec())))
        .collect())
}

/// What happens at the source after the commit: rejected mail to quarantine, mail with a
/// secret replaced by its redacted copy, everything else the mailbox's `after` action.
async fn after_commit(
    task: &MailboxTask,
    session: &mut ImapSession,
    uids: &[u32],
    outcomes: &[Outcome],
    can_move: bool,
) -> Result<(), ImapError> {
    let mailbox = &task.mailbox;
    let target = mailbox.after.strip_prefix("move:").map(str::to_owned);
    let mut groups: HashMap<&'static str, Vec<u32>> = HashMap::new();
    for (uid, outcome) in uids.iter().zip(outcomes) {
        if let Some(copy) = &outcome.redacted_copy {
            // The original holds a secret: leave only the redacted copy on the server.
            let folder = target.as_deref().unwrap_or(&mailbox.folder);
            timed(
                "APPEND",
                session.append(folder, Some("(\\Seen)"), None, copy),
            )
            .await?;
            groups.entry("delete").or_default().push(*uid);
            continue;
        }
        let action = match (outcome.outcome, &target) {
            (OutcomeKind::Rejected, _) => "quarantine",
            (_, Some(_)) => "move",
            _ if mailbox.after == "delete" => "delete",
            _ => "seen",
        };
        groups.entry(action).or_default().push(*uid);
    }
    for (action, uids) in groups {
        let set = uid_set(&uids);
        match action {
            "quarantine" => move_to(session, &set, &mailbox.quarantine, can_move).await?,
            "move" => {
                move_to(
                    session,
                    &set,
                    target.as_deref().unwrap_or("Processed"),
                    can_move,
                )
                .await?
            }
            "delete" => delete(session, &set).await?,
            _ => {
                timed("UID STORE", async {
                    session
                        .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
                        .await?
                        .try_collect::<Vec<_>>()
                        .await
                })
                .await?;
            }
        }
    }
    Ok(())
}

async fn move_to(
    session: &mut ImapSession,
    set: &str,
    folder: &str,
    can_move: bool,
) -> Result<(), ImapError> {
    if can_move {
        return timed("UID MOVE", session.uid_mv(set, folder)).await;
    }
    timed("UID COPY", session.uid_copy(set, folder)).await?;
    delete(session, set).await
}

async fn delete(session: &mut ImapSession, set: &str) -> Result<(), ImapError> {
    timed("UID STORE", async {
        session
            .uid_store(set, "+FLAGS.SILENT (\\Deleted)")
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    timed("UID EXPUNGE", async {
        session
            .uid_expunge(set)
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    Ok(())
}

/// `1:3,7,9:10` for a sorted list of UIDs.
fn uid_set(uids: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = uids.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::uid_set;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }
}
