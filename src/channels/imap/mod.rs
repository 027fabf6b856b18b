//! E-mail intake over IMAP: one task per `[[mailbox]]`, each isolated (one failing account
//! never stalls another), reconnecting with exponential back-off and jitter.

mod connect;
mod session;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::Mailbox;
use crate::engine::LiveEngine;
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
}

/// Starts one intake task per mailbox.
pub fn spawn(
    live: &LiveEngine,
    store: &Store,
    wake_outbox: Arc<Notify>,
    connected: Connected,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let engine = live.current();
    if let Ok(mut map) = connected.lock() {
        for mailbox in &engine.settings.mailboxes {
            map.insert(mailbox.name.clone(), false);
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
                connected: connected.clone(),
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
    pub(crate) connected: Connected,
}

/// Which mailboxes have a working session now, by name (for `/readyz`).
pub type Connected = Arc<std::sync::Mutex<std::collections::BTreeMap<String, bool>>>;

impl MailboxTask {
    pub(crate) fn set_connected(&self, up: bool) {
        if let Ok(mut map) = self.connected.lock() {
            map.insert(self.mailbox.name.clone(), up);
        }
    }

    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut failures: u32 = 0;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let started = Instant::now();
            match session::serve(&self, &mut shutdown).await {
                Ok(()) => return,
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
