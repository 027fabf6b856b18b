//! How many messages the outbox hands to the relay at once: fewer while an intake works
//! through a backlog, so a backlog's requests are all recorded first (the relay and the
//! intake share the machine when the relay runs beside the daemon) and answered at full
//! speed right after. A single new message is never a backlog: its acknowledgement goes out
//! at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Deliveries at once normally: 32 took acknowledgements from ~275/s to ~400/s against
/// Postfix when each still cost five round trips, intake unchanged.
pub const CONCURRENCY: usize = 32;

/// Deliveries at once while a backlog is taken in.
pub const DURING_BACKLOG: usize = 4;

/// Counts the mailboxes taking in a backlog now; shared by the intake and the outbox.
#[derive(Debug, Clone, Default)]
pub struct Backlog(Arc<AtomicUsize>);

/// Held while one mailbox takes in a backlog; dropping it ends that.
#[derive(Debug)]
pub struct TakingBacklog(Arc<AtomicUsize>);

impl Backlog {
    /// Marks a backlog as being taken in until the returned guard is dropped.
    pub fn enter(&self) -> TakingBacklog {
        self.0.fetch_add(1, Ordering::Relaxed);
        TakingBacklog(self.0.clone())
    }

    /// Deliveries the outbox may have running now.
    pub fn concurrency(&self) -> usize {
        if self.0.load(Ordering::Relaxed) > 0 {
            DURING_BACKLOG
        } else {
            CONCURRENCY
        }
    }
}

impl Drop for TakingBacklog {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::{Backlog, CONCURRENCY, DURING_BACKLOG};

    #[test]
    fn fewer_deliveries_only_while_some_mailbox_takes_in_a_backlog() {
        let backlog = Backlog::default();
        assert_eq!(backlog.concurrency(), CONCURRENCY);
        let first = backlog.enter();
        let second = backlog.clone().enter();
        assert_eq!(backlog.concurrency(), DURING_BACKLOG);
        drop(first);
        assert_eq!(
            backlog.concurrency(),
            DURING_BACKLOG,
            "one mailbox still has one"
        );
        drop(second);
        assert_eq!(backlog.concurrency(), CONCURRENCY);
    }
}
