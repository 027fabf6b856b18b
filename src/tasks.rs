//! The daemon's background tasks, kept running: a task that fails (a panic) is started
//! again after a pause, and until it runs again `/readyz` says so.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

/// Which background tasks run now; cheap to clone.
#[derive(Clone, Default)]
pub struct Tasks(Arc<Mutex<BTreeMap<&'static str, TaskState>>>);

/// A background task as readiness reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Running; `restarts` says how often it failed before.
    Running {
        /// Failures so far.
        restarts: u32,
    },
    /// It failed and waits to be started again.
    Restarting {
        /// Failures so far, this one included.
        restarts: u32,
    },
}

impl Tasks {
    /// Runs the task `start` makes, and makes and runs a new one whenever it panics. It ends
    /// when a task ends by itself (the daemon is stopping).
    pub fn supervise<F, Fut>(&self, name: &'static str, mut start: F) -> JoinHandle<()>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let tasks = self.clone();
        tasks.set(name, TaskState::Running { restarts: 0 });
        tokio::spawn(async move {
            let mut restarts = 0;
            loop {
                match tokio::spawn(start()).await {
                    Err(failure) if failure.is_panic() => {
                        restarts += 1;
                        tasks.set(name, TaskState::Restarting { restarts });
                        tracing::error!(
                            task = name,
                            restarts,
                            "A background task failed; it is started again shortly."
                        );
                        metrics::counter!("switchboard_task_restarts_total", "task" => name)
                            .increment(1);
                        tokio::time::sleep(pause(restarts)).await;
                        tasks.set(name, TaskState::Running { restarts });
                    }
                    _ => return,
                }
            }
        })
    }

    /// Every task and its state, by name.
    pub fn states(&self) -> Vec<(&'static str, TaskState)> {
        self.0
            .lock()
            .map(|tasks| tasks.iter().map(|(name, state)| (*name, *state)).collect())
            .unwrap_or_default()
    }

    fn set(&self, name: &'static str, state: TaskState) {
        if let Ok(mut tasks) = self.0.lock() {
            tasks.insert(name, state);
        }
    }
}

/// A short pause before a restart, longer for a task that keeps failing (at most 30 s), so a
/// failure that repeats at once does not spin a core.
fn pause(restarts: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << restarts.min(7)).min(30_000))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_task_that_panics_is_started_again_and_shows_as_restarting_meanwhile() {
        let tasks = Tasks::default();
        let runs = Arc::new(AtomicU32::new(0));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let counted = runs.clone();
        let handle = tasks.supervise("outbox", move || {
            let run = counted.fetch_add(1, Ordering::SeqCst);
            let mut stopped = stopped.clone();
            async move {
                if run < 2 {
                    panic!("planted failure {run}");
                }
                let _ = stopped.changed().await;
            }
        });
        // The first run fails at once; the task then waits to be started again.
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            tasks.states(),
            vec![("outbox", TaskState::Restarting { restarts: 1 })]
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert_eq!(
            tasks.states(),
            vec![("outbox", TaskState::Running { restarts: 2 })]
        );
        let _ = stop.send(true);
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .expect("the supervisor ends when its task ends")
            .expect("no panic escapes");
    }
}
