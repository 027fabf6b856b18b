//! Hot reload: the rules folder is watched while the daemon runs; a valid change goes live
//! within a second, an invalid one is refused (logged with file, line and column, and kept
//! for the admin page) and the rules before stay live.

use std::path::Path;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::engine::LiveEngine;

/// How often the folder is looked at. Polling a dozen small files costs nothing and works the
/// same on every filesystem (bind mounts, network shares, editors that replace files).
const EVERY: Duration = Duration::from_millis(400);

/// Each file's name, size and modification time: any edit, new file or removal changes it.
type Fingerprint = Vec<(String, u64, Option<SystemTime>)>;

fn fingerprint(dir: &Path) -> Fingerprint {
    let mut files: Fingerprint = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let meta = entry.metadata().ok()?;
                    Some((
                        entry.file_name().to_string_lossy().into_owned(),
                        meta.len(),
                        meta.modified().ok(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Watches until shutdown.
pub async fn watch(live: LiveEngine, mut shutdown: watch::Receiver<bool>) {
    let dir = live.current().settings.paths.rules.clone();
    let mut seen = fingerprint(&dir);
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now = fingerprint(&dir);
        if now == seen {
            continue;
        }
        seen = now;
        let live = live.clone();
        let reload = match tokio::task::spawn_blocking(move || live.reload_rules()).await {
            Ok(reload) => reload,
            Err(e) => {
                tracing::error!(error = %e, "Reading the rules folder failed; the rules before stay live.");
                continue;
            }
        };
        if reload.ok {
            metrics::counter!("switchboard_rule_reloads_total", "result" => "ok").increment(1);
            tracing::info!(rules = reload.rules, "The changed rules are live.");
        } else {
            metrics::counter!("switchboard_rule_reloads_total", "result" => "failed").increment(1);
            for problem in &reload.problems {
                tracing::error!(%problem, "A rule change was refused; the rules before stay live.");
            }
        }
    }
}
