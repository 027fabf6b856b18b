//! The queue's order: effective priority (base priority plus ageing), then age.
//!
//! A ticket that has waited its own first-response target is ordered as if one priority
//! higher, and so on up to critical, so low-priority work cannot starve.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::Priority;
use crate::rules::RuleSet;
use crate::store::QueueEntry;

/// A queue line with its effective priority.
#[derive(Debug, Clone, Serialize)]
pub struct QueueLine {
    /// Reference.
    pub ticket: String,
    /// Priority after ageing.
    pub effective_priority: Priority,
    /// The stored ticket.
    #[serde(flatten)]
    pub entry: QueueEntry,
}

/// Base priority raised one step per full first-response target waited.
pub fn effective_priority(
    rules: &RuleSet,
    base: Priority,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Priority {
    let target = rules.target(base).first_response.as_secs().max(60);
    let waited = u64::try_from((now - created_at).num_seconds()).unwrap_or(0);
    let steps = i64::try_from(waited / target).unwrap_or(i64::MAX);
    base.raised(steps)
}

/// Orders open tickets for the queue, most urgent first.
pub fn order(
    rules: &RuleSet,
    prefix: &str,
    entries: Vec<QueueEntry>,
    now: DateTime<Utc>,
) -> Vec<QueueLine> {
    let mut lines: Vec<QueueLine> = entries
        .into_iter()
        .map(|entry| {
            let base = Priority::parse(&entry.priority).unwrap_or(Priority::Normal);
            QueueLine {
                ticket: format!("{prefix}-{}", entry.number),
                effective_priority: effective_priority(rules, base, entry.created_at, now),
                entry,
            }
        })
        .collect();
    lines.sort_by(|a, b| {
        b.effective_priority
            .rank()
            .cmp(&a.effective_priority.rank())
            .then(a.entry.due_at.cmp(&b.entry.due_at))
            .then(a.entry.created_at.cmp(&b.entry.created_at))
    });
    lines
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn rules() -> RuleSet {
        let sla = "[priority.critical]\nfirst_response = \"30m\"\nclock = \"24x7\"\n\
                   [priority.high]\nfirst_response = \"2h\"\nclock = \"business\"\n\
                   [priority.normal]\nfirst_response = \"8h\"\nclock = \"business\"\n\
                   [priority.low]\nfirst_response = \"1d\"\nclock = \"business\"\n";
        crate::rules::load_sources(&[(PathBuf::from("sla.toml"), sla.to_owned())], &[]).unwrap()
    }

    #[test]
    fn waiting_work_rises_one_step_per_target_waited() {
        let rules = rules();
        let now = Utc::now();
        let hours = |h: i64| now - chrono::Duration::hours(h);
        assert_eq!(
            effective_priority(&rules, Priority::Low, hours(1), now),
            Priority::Low
        );
        assert_eq!(
            effective_priority(&rules, Priority::Low, hours(25), now),
            Priority::Normal
        );
        assert_eq!(
            effective_priority(&rules, Priority::Low, hours(49), now),
            Priority::High
        );
        assert_eq!(
            effective_priority(&rules, Priority::Normal, hours(9), now),
            Priority::High
        );
        assert_eq!(
            effective_priority(&rules, Priority::Normal, hours(100), now),
            Priority::Critical
        );
        assert_eq!(
            effective_priority(&rules, Priority::Critical, hours(100), now),
            Priority::Critical
        );
    }
}
