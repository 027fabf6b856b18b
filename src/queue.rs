//! The queue's order: effective priority (base priority plus ageing), then due time, then
//! age; the filters agents use; and how near each ticket is to its SLA.
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
    /// How near the first-response due time is.
    pub sla: Sla,
    /// Minutes until the due time (negative: overdue).
    pub minutes_left: i64,
    /// The stored ticket.
    #[serde(flatten)]
    pub entry: QueueEntry,
}

/// Where a ticket stands against its first-response due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sla {
    /// More than a quarter of its target left.
    Ok,
    /// A quarter of its target or less left (at least the last 15 minutes): warn.
    Near,
    /// Past due.
    Breached,
}

/// How near `due` is, for a ticket of `base` priority: a quarter of the priority's target
/// (and never less than 15 minutes) before it is due, it is near.
pub fn sla_state(rules: &RuleSet, base: Priority, due: DateTime<Utc>, now: DateTime<Utc>) -> Sla {
    let target = rules.target(base).first_response.as_secs();
    let warn = i64::try_from(target / 4).unwrap_or(i64::MAX).max(15 * 60);
    let left = (due - now).num_seconds();
    if left < 0 {
        Sla::Breached
    } else if left <= warn {
        Sla::Near
    } else {
        Sla::Ok
    }
}

/// What an agent narrows the queue to; empty fields do not filter.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Filter {
    /// A site id.
    #[serde(default)]
    pub site: Option<String>,
    /// A required skill.
    #[serde(default)]
    pub skill: Option<String>,
    /// A base priority.
    #[serde(default)]
    pub priority: Option<String>,
    /// `new` (waiting for someone), `assigned` or `waiting` (on the requester); or `mine`
    /// with [`Filter::agent`] set.
    #[serde(default)]
    pub state: Option<String>,
    /// Who is asking, for `state=mine`.
    #[serde(skip)]
    pub agent: Option<String>,
}

impl Filter {
    /// Whether an open ticket passes.
    pub fn keeps(&self, entry: &QueueEntry) -> bool {
        let given = |f: &Option<String>| f.as_deref().filter(|v| !v.is_empty()).map(str::to_owned);
        given(&self.site).is_none_or(|s| entry.site.as_deref() == Some(s.as_str()))
            && given(&self.skill).is_none_or(|k| entry.skills.get(&k).is_some())
            && given(&self.priority).is_none_or(|p| entry.priority == p)
            && match given(&self.state).as_deref() {
                None => true,
                Some("mine") => entry.agent.is_some() && entry.agent == self.agent,
                Some(state) => entry.status == state,
            }
    }
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
                sla: sla_state(rules, base, entry.due_at, now),
                minutes_left: (entry.due_at - now).num_minutes(),
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

    #[test]
    fn a_ticket_warns_in_the_last_quarter_of_its_target_and_breaches_after() {
        let rules = rules();
        let now = Utc::now();
        let due_in = |minutes: i64| now + chrono::Duration::minutes(minutes);
        // Normal: 8 h target, warned in the last 2 h.
        assert_eq!(
            sla_state(&rules, Priority::Normal, due_in(121), now),
            Sla::Ok
        );
        assert_eq!(
            sla_state(&rules, Priority::Normal, due_in(119), now),
            Sla::Near
        );
        assert_eq!(
            sla_state(&rules, Priority::Normal, due_in(-1), now),
            Sla::Breached
        );
        // Critical: 30 min target, but never less than 15 minutes of warning.
        assert_eq!(
            sla_state(&rules, Priority::Critical, due_in(16), now),
            Sla::Ok
        );
        assert_eq!(
            sla_state(&rules, Priority::Critical, due_in(14), now),
            Sla::Near
        );
    }

    #[test]
    fn an_old_low_ticket_is_ordered_above_a_fresh_normal_one() {
        let rules = rules();
        let now = Utc::now();
        let entry = |number: i64, priority: &str, hours_ago: i64| QueueEntry {
            number,
            status: "new".into(),
            priority: priority.into(),
            category: "general".into(),
            skills: serde_json::json!({}),
            site: None,
            agent: None,
            team: None,
            subject: String::new(),
            requester: None,
            created_at: now - chrono::Duration::hours(hours_ago),
            due_at: now + chrono::Duration::hours(8),
            access_token: String::new(),
        };
        // Low waited 49 h: two full 1-day targets, so it counts as high.
        let lines = order(
            &rules,
            "SD",
            vec![entry(1, "normal", 0), entry(2, "low", 49)],
            now,
        );
        assert_eq!(lines[0].ticket, "SD-2");
        assert_eq!(lines[0].effective_priority, Priority::High);
        // Waited 23 h: still low, below the fresh normal one.
        let lines = order(
            &rules,
            "SD",
            vec![entry(1, "normal", 0), entry(2, "low", 23)],
            now,
        );
        assert_eq!(lines[0].ticket, "SD-1");
    }
}
