//! E-mail intake over IMAP: one task per `[[mailbox]]`, each isolated (one failing account
//! never stalls another), reconnecting with exponential back-off and jitter. A task works
//! only while its daemon holds the mailbox's lease in the database, so of several daemons
//! sharing one database exactly one polls each mailbox; when it dies, another takes over
//! once the lease runs out ([`LEASE`]).

mod connect;
mod session;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::Mailbox;
use crate::engine::LiveEngine;
use crate::outbox::pace::Backlog;
use crate::store::{Store, StoreError};

/// Why a mailbox session ended.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// The mailbox's settings are unusable (URL, password, CA file).
    #[error("configuration: {0}")]
    Config(String),
    /// The TLS handshake failed (certificate not trusted, wrong host name).
    #[error("{0}")]
    Tls(String),
    /// The server refused the login.
    #[error("{0}")]
    Login(String),
    /// The server failed, refused a command or went away.
    #[error("{0}")]
    Server(String),
    /// The database failed; the batch was not kept and will be fetched again.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another daemon holds the mailbox now (this one could not renew its lease in time).
    #[error("the mailbox's lease was lost to another daemon")]
    LeaseLost,
}

/// How long a lease lasts unless renewed: how soon another daemon takes over a mailbox
/// whose daemon died.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often the holder renews it (three tries before it would run out).
const RENEW_EVERY: Duration = Duration::from_secs(3);
/// How often a daemon without the lease asks for it again.
const ASK_EVERY: Duration = Duration::from_secs(2);

/// Starts one intake task per mailbox; `holder` names this daemon in the leases.
pub fn spawn(
    live: &LiveEngine,
    store: &Store,
    wake_outbox: Arc<Notify>,
    backlog: Backlog,
    connected: Connected,
    holder: Arc<str>,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let engine = live.current();
    if let Ok(mut map) = connected.lock() {
        for mailbox in &engine.settings.mailboxes {
            map.insert(mailbox.name.clone(), MailboxState::Starting);
        }
    }
    engine
        .settings
        .mailboxes
        .iter()
        .cloned()
        .map(|mailbox| {
            let task = MailboxTask {
                live: live.clone(),
                store: store.clone(),
                mailbox,
                wake_outbox: wake_outbox.clone(),
                backlog: backlog.clone(),
                connected: connected.clone(),
                holder: holder.clone(),
            };
            tokio::spawn(task.run(shutdown.clone()))
        })
        .collect()
}

/// What one mailbox's task works with.
pub(crate) struct MailboxTask {
    pub(crate) live: LiveEngine,
    pub(crate) store: Store,
    pub(crate) mailbox: Mailbox,
    pub(crate) wake_outbox: Arc<Notify>,
    /// Told while this mailbox takes in a backlog (the outbox then sends with fewer
    /// connections).
    pub(crate) backlog: Backlog,
    pub(crate) connected: Connected,
    /// This daemon's name in the leases.
    pub(crate) holder: Arc<str>,
}

/// Where a mailbox's task is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxState {
    /// Not yet asked for the lease.
    Starting,
    /// Another daemon holds it (named), or held it until lately.
    HeldElsewhere(String),
    /// This daemon holds it and is connecting (or reconnecting).
    Connecting,
    /// This daemon holds it and has a working session.
    Connected,
}

impl MailboxState {
    /// Whether the mailbox is being served, by this daemon or another.
    pub fn served(&self) -> bool {
        matches!(
            self,
            MailboxState::Connected | MailboxState::HeldElsewhere(_)
        )
    }
}

/// Every mailbox's state in this daemon, by name (for `/readyz` and the metrics).
pub type Connected = Arc<std::sync::Mutex<std::collections::BTreeMap<String, MailboxState>>>;

impl MailboxTask {
    pub(crate) fn set_state(&self, state: MailboxState) {
        if let Ok(mut map) = self.connected.lock() {
            map.insert(self.mailbox.name.clone(), state);
        }
    }

    pub(crate) fn set_connected(&self, up: bool) {
        self.set_state(if up {
            MailboxState::Connected
        } else {
            MailboxState::Connecting
        });
    }

    /// Asks for the lease until it is granted (true) or the daemon stops (false).
    async fn acquire(&self, shutdown: &mut watch::Receiver<bool>) -> bool {
        loop {
            if *shutdown.borrow() {
                return false;
            }
            let now = chrono::Utc::now();
            match self
                .store
                .hold_mailbox(&self.mailbox.name, &self.holder, now, now + lease())
                .await
            {
                Ok(true) => {
                    tracing::info!(mailbox = %self.mailbox.name, holder = %self.holder, "Mailbox lease taken.");
                    self.set_state(MailboxState::Connecting);
                    return true;
                }
                Ok(false) => {
                    let other = self
                        .store
                        .leases()
                        .await
                        .ok()
                        .and_then(|all| all.into_iter().find(|l| l.mailbox == self.mailbox.name))
                        .map(|l| l.holder)
                        .unwrap_or_default();
                    self.set_state(MailboxState::HeldElsewhere(other));
                }
                Err(e) => {
                    tracing::warn!(mailbox = %self.mailbox.name, error = %e, "Cannot ask for the mailbox's lease.");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(ASK_EVERY) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Renews the lease while the session works; returns when it is lost: refused (another
    /// daemon has it) or not renewed before it would run out (the database is away).
    async fn keep(&self) -> ImapError {
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            let now = chrono::Utc::now();
            match self
                .store
                .hold_mailbox(&self.mailbox.name, &self.holder, now, now + lease())
                .await
            {
                Ok(true) => renewed = Instant::now(),
                Ok(false) => return ImapError::LeaseLost,
                Err(e) => {
                    tracing::warn!(mailbox = %self.mailbox.name, error = %e, "Cannot renew the mailbox's lease.");
                    if renewed.elapsed() + RENEW_EVERY >= LEASE {
                        return ImapError::LeaseLost;
                    }
                }
            }
        }
    }

    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut failures: u32 = 0;
        loop {
            if !self.acquire(&mut shutdown).await {
                return;
            }
            let started = Instant::now();
            // Losing the lease drops the session wherever it is: an uncommitted batch rolls
            // back, and a committed one is known by its intake keys to whoever reads it next.
            let result = tokio::select! {
                result = session::serve(&self, &mut shutdown) => result,
                lost = self.keep() => Err(lost),
            };
            match result {
                Ok(()) => {
                    // A clean stop: hand the mailbox over at once rather than on expiry.
                    let _ = self
                        .store
                        .release_mailbox(&self.mailbox.name, &self.holder)
                        .await;
                    return;
                }
                Err(error) => {
                    self.set_connected(false);
                    // A session that ran a while was healthy: start the back-off afresh.
                    if started.elapsed() > Duration::from_secs(60) {
                        failures = 0;
                    }
                    failures = failures.saturating_add(1);
                    let delay = backoff(failures);
                    tracing::warn!(
                        mailbox = %self.mailbox.name,
                        error = %error,
                        retry_in_ms = delay.as_millis() as u64,
                        "Mailbox session ended; reconnecting."
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        }
    }
}

fn lease() -> chrono::Duration {
    chrono::Duration::from_std(LEASE).unwrap_or_default()
}

/// 0.5 s doubling up to 5 minutes, with up to 25 % jitter so many daemons do not reconnect
/// in step.
fn backoff(failures: u32) -> Duration {
    let base = Duration::from_millis(500).saturating_mul(1 << failures.saturating_sub(1).min(10));
    let base = base.min(Duration::from_secs(300));
    let jitter = base.mul_f64(rand::random::<f64>() * 0.25);
    base + jitter
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn reconnects_back_off_with_jitter_and_a_ceiling() {
        let first = backoff(1);
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_millis(625));
        let fourth = backoff(4);
        assert!(fourth >= Duration::from_secs(4) && fourth <= Duration::from_secs(5));
        assert!(backoff(40) <= Duration::from_secs(375));
    }
}
