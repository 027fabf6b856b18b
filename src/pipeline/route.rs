//! Picks the agent who fits a request: skills, language, availability, site, load, turn.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::rules::{Agent, Classification, RuleSet};

/// What the store knows about an agent right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentState {
    /// Open tickets assigned to them.
    pub open: u32,
    /// Marked away.
    pub away: bool,
    /// When they were last given a ticket.
    pub last_assigned: Option<DateTime<Utc>>,
}

/// Agent states by id; an agent missing here is present with no load.
pub type AgentStates = HashMap<String, AgentState>;

/// The routing decision and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Route {
    /// The chosen agent, or none: the ticket waits in the team queue.
    pub agent: Option<String>,
    /// The team whose queue holds it.
    pub team: Option<String>,
    /// Why, in words an admin can follow.
    pub reason: String,
}

/// Whether an agent can take work now: present, at work by their home site's clock, and
/// under capacity.
fn free_now(rules: &RuleSet, agent: &Agent, state: &AgentState, now: DateTime<Utc>) -> bool {
    !state.away && at_work(rules, agent, now) && state.open < agent.capacity
}

/// Whether it is working time at the agent's home site (an agent without one always is).
fn at_work(rules: &RuleSet, agent: &Agent, now: DateTime<Utc>) -> bool {
    agent
        .sites
        .first()
        .and_then(|home| rules.sites.get(home))
        .is_none_or(|home| home.calendar.is_open(now))
}

/// Whether anyone at all could take work now (live routing skips its round when nobody can).
pub fn anyone_free(rules: &RuleSet, states: &AgentStates, now: DateTime<Utc>) -> bool {
    let default_state = AgentState::default();
    rules
        .agents
        .iter()
        .any(|a| free_now(rules, a, states.get(&a.id).unwrap_or(&default_state), now))
}

/// Chooses an agent for a classified request.
pub fn route(
    rules: &RuleSet,
    classification: &Classification,
    site: Option<&str>,
    language: &str,
    states: &AgentStates,
    now: DateTime<Utc>,
) -> Route {
    let default_state = AgentState::default();
    let state = |agent: &Agent| states.get(&agent.id).unwrap_or(&default_state);
    let team_of = |agent: Option<&Agent>| {
        classification
            .team
            .clone()
            .or_else(|| agent.and_then(|a| a.team.clone()))
            .or_else(|| rules.teams.keys().next().cloned())
    };

    let mut lacking_skill = 0;
    let mut away = 0;
    let mut off_hours = 0;
    let mut full = 0;
    let mut available: Vec<&Agent> = Vec::new();
    for agent in &rules.agents {
        if let Some(team) = &classification.team
            && agent.team.as_ref() != Some(team)
            && classification.agent.as_ref() != Some(&agent.id)
        {
            continue;
        }
        if let Some(wanted) = &classification.agent
            && wanted != &agent.id
        {
            continue;
        }
        if !classification
            .skills
            .iter()
            .all(|(skill, level)| agent.skills.get(skill).is_some_and(|l| l >= level))
        {
            lacking_skill += 1;
            continue;
        }
        if state(agent).away {
            away += 1;
            continue;
        }
        if !at_work(rules, agent, now) {
            off_hours += 1;
            continue;
        }
        if state(agent).open >= agent.capacity {
            full += 1;
            continue;
        }
        available.push(agent);
    }

    // The request's language first; English is the common fallback.
    let mut candidates: Vec<&Agent> = available
        .iter()
        .copied()
        .filter(|a| a.languages.iter().any(|l| l == language))
        .collect();
    let mut language_note = String::new();
    if candidates.is_empty() && language != "en" {
        candidates = available
            .iter()
            .copied()
            .filter(|a| a.languages.iter().any(|l| l == "en"))
            .collect();
        if !candidates.is_empty() {
            language_note = format!(" (nobody free speaks {language}; English fallback)");
        }
    }

    let tier = |agent: &Agent| -> u8 {
        match site {
            Some(site) if agent.sites.iter().any(|s| s == site) => 0,
            _ if agent.remote => 1,
            _ => 2,
        }
    };
    let skill_score = |agent: &Agent| -> u32 {
        classification
            .skills
            .keys()
            .map(|skill| u32::from(agent.skills.get(skill).copied().unwrap_or(0)))
            .sum()
    };
    let best = candidates.into_iter().min_by(|a, b| {
        let load = |agent: &Agent| f64::from(state(agent).open) / f64::from(agent.capacity.max(1));
        tier(a)
            .cmp(&tier(b))
            .then(skill_score(b).cmp(&skill_score(a)))
            .then(load(a).total_cmp(&load(b)))
            .then(state(a).last_assigned.cmp(&state(b).last_assigned))
            .then(a.id.cmp(&b.id))
    });

    match best {
        Some(agent) => {
            let place = match tier(agent) {
                0 => "on the spot at the requester's site",
                1 => "remotely",
                _ => "from another site",
            };
            let load = state(agent).open;
            Route {
                agent: Some(agent.id.clone()),
                team: team_of(Some(agent)),
                reason: format!(
                    "{} fits {place}{}; load {load}/{}{language_note}",
                    agent.id,
                    skills_text(classification),
                    agent.capacity
                ),
            }
        }
        None => {
            let mut why = Vec::new();
            if lacking_skill > 0 {
                why.push(format!(
                    "{lacking_skill} lack {}",
                    skill_list(classification)
                ));
            }
            if away > 0 {
                why.push(format!("{away} away"));
            }
            if off_hours > 0 {
                why.push(format!("{off_hours} outside their hours"));
            }
            if full > 0 {
                why.push(format!("{full} at capacity"));
            }
            if !available.is_empty() {
                why.push(format!(
                    "{} free but none speaks {language} or English",
                    available.len()
                ));
            }
            if why.is_empty() {
                why.push("no agent is configured for this team".to_owned());
            }
            let team = team_of(None);
            Route {
                agent: None,
                reason: format!(
                    "nobody fits now ({}); waiting in the {} queue",
                    why.join(", "),
                    team.as_deref().unwrap_or("desk")
                ),
                team,
            }
        }
    }
}

fn skill_list(classification: &Classification) -> String {
    let skills: Vec<String> = classification
        .skills
        .iter()
        .map(|(skill, level)| format!("{skill}≥{level}"))
        .collect();
    skills.join(", ")
}

fn skills_text(classification: &Classification) -> String {
    if classification.skills.is_empty() {
        String::new()
    } else {
        format!(" with {}", skill_list(classification))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::rules::{Facts, load_sources};

    const RULES: &str = r#"
[[site]]
id = "warsaw"
name = "Warsaw"
timezone = "Europe/Warsaw"
hours = "Mon-Fri 08:00-17:00"
languages = ["pl", "en"]
[[site]]
id = "zagreb"
name = "Zagreb"
timezone = "Europe/Zagreb"
hours = "Mon-Fri 08:00-17:00"
languages = ["hr", "en"]
[[site]]
id = "moscow"
name = "Moscow"
timezone = "Europe/Moscow"
hours = "Mon-Fri 09:00-18:00"
languages = ["ru", "en"]

[[team]]
id = "infra"
name = "Infrastructure"

[[agent]]
id = "anna"
name = "Anna"
email = "anna@example.com"
sites = ["warsaw"]
remote = false
languages = ["pl", "en"]
skills = { vpn = 1, printing = 2 }
capacity = 2
team = "infra"
[[agent]]
id = "piotr"
name = "Piotr"
email = "piotr@example.com"
sites = ["warsaw"]
remote = true
languages = ["pl", "en"]
skills = { vpn = 3, printing = 2 }
capacity = 5
team = "infra"
[[agent]]
id = "ivan"
name = "Ivan"
email = "ivan@example.com"
sites = ["zagreb"]
remote = false
languages = ["hr", "en"]
skills = { vpn = 2, printing = 2 }
capacity = 5
team = "infra"
[[agent]]
id = "olga"
name = "Olga"
email = "olga@example.com"
sites = ["moscow"]
remote = true
languages = ["ru", "en"]
skills = { vpn = 2, printing = 1 }
capacity = 5
team = "infra"

[priority.critical]
first_response = "30m"
clock = "24x7"
[priority.high]
first_response = "2h"
clock = "business"
[priority.normal]
first_response = "8h"
clock = "business"
[priority.low]
first_response = "3d"
clock = "business"
"#;

    fn rules() -> RuleSet {
        load_sources(&[(PathBuf::from("rules.toml"), RULES.to_owned())], &[]).unwrap()
    }

    /// Monday 23 November 2026, 10:00 in Warsaw and Zagreb, 12:00 in Moscow.
    fn monday_morning() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn needing(rules: &RuleSet, skills: &[(&str, u8)]) -> Classification {
        let facts = Facts {
            channel: "email",
            from: "x@example.com",
            to: &[],
            subject: "",
            body: "",
            text: "",
            headers: &[],
            language: "en",
            site: None,
            groups: &[],
            has_attachment: false,
            business_hours: true,
            machine: None,
            urgency: None,
        };
        let mut classification = rules.classify(&facts, false);
        classification.skills = skills.iter().map(|(s, l)| (s.to_string(), *l)).collect();
        classification
    }

    fn pick(
        site: Option<&str>,
        language: &str,
        skills: &[(&str, u8)],
        states: &AgentStates,
    ) -> Route {
        let rules = rules();
        let classification = needing(&rules, skills);
        route(
            &rules,
            &classification,
            site,
            language,
            states,
            monday_morning(),
        )
    }

    fn state(open: u32, away: bool, last: Option<&str>) -> AgentState {
        AgentState {
            open,
            away,
            last_assigned: last
                .map(|t| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)),
        }
    }

    #[test]
    fn an_agent_on_the_spot_comes_first() {
        let chosen = pick(Some("zagreb"), "en", &[("vpn", 1)], &AgentStates::new());
        assert_eq!(chosen.agent.as_deref(), Some("ivan"), "{}", chosen.reason);
        assert!(chosen.reason.contains("on the spot"), "{}", chosen.reason);
    }

    #[test]
    fn remote_agents_come_before_other_sites() {
        // With no site known, remote-capable piotr and olga beat anna and ivan; piotr has
        // the higher printing skill.
        let chosen = pick(None, "en", &[("printing", 1)], &AgentStates::new());
        assert!(
            matches!(chosen.agent.as_deref(), Some("piotr")),
            "{}",
            chosen.reason
        );
        assert!(chosen.reason.contains("remotely"), "{}", chosen.reason);
    }

    #[test]
    fn higher_skill_wins_at_the_same_site() {
        let chosen = pick(Some("warsaw"), "pl", &[("vpn", 1)], &AgentStates::new());
        assert_eq!(chosen.agent.as_deref(), Some("piotr"), "{}", chosen.reason);
    }

    #[test]
    fn a_required_level_excludes_less_skilled_agents() {
        let states = AgentStates::from([("piotr".to_owned(), state(0, true, None))]);
        let chosen = pick(Some("warsaw"), "pl", &[("vpn", 2)], &states);
        // anna has vpn 1 and piotr is away: someone remote with vpn ≥ 2 (olga) gets it.
        assert_eq!(chosen.agent.as_deref(), Some("olga"), "{}", chosen.reason);
    }

    #[test]
    fn the_requesters_language_is_preferred_with_english_as_fallback() {
        let chosen = pick(Some("warsaw"), "ru", &[("vpn", 1)], &AgentStates::new());
        assert_eq!(chosen.agent.as_deref(), Some("olga"), "{}", chosen.reason);
        let states = AgentStates::from([("olga".to_owned(), state(0, true, None))]);
        let chosen = pick(Some("warsaw"), "ru", &[("vpn", 1)], &states);
        assert_eq!(chosen.agent.as_deref(), Some("piotr"), "{}", chosen.reason);
        assert!(
            chosen.reason.contains("English fallback"),
            "{}",
            chosen.reason
        );
    }

    #[test]
    fn agents_at_capacity_are_passed_over() {
        let states = AgentStates::from([("piotr".to_owned(), state(5, false, None))]);
        let chosen = pick(Some("warsaw"), "pl", &[("vpn", 1)], &states);
        assert_eq!(chosen.agent.as_deref(), Some("anna"), "{}", chosen.reason);
    }

    #[test]
    fn equal_agents_take_turns_by_last_assignment_and_load() {
        // anna and piotr both printing 2 at warsaw; equal load: the one who waited longer.
        let states = AgentStates::from([
            (
                "anna".to_owned(),
                state(1, false, Some("2026-11-23T08:00:00Z")),
            ),
            (
                "piotr".to_owned(),
                state(2, false, Some("2026-11-23T07:00:00Z")),
            ),
        ]);
        // anna 1/2 = 0.5 load, piotr 2/5 = 0.4: lower load wins first.
        let chosen = pick(Some("warsaw"), "pl", &[("printing", 2)], &states);
        assert_eq!(chosen.agent.as_deref(), Some("piotr"), "{}", chosen.reason);
        let states = AgentStates::from([
            (
                "anna".to_owned(),
                state(0, false, Some("2026-11-23T07:00:00Z")),
            ),
            (
                "piotr".to_owned(),
                state(0, false, Some("2026-11-23T08:00:00Z")),
            ),
        ]);
        let chosen = pick(Some("warsaw"), "pl", &[("printing", 2)], &states);
        assert_eq!(chosen.agent.as_deref(), Some("anna"), "{}", chosen.reason);
    }

    #[test]
    fn nobody_fits_leaves_the_ticket_in_the_team_queue_with_the_reason() {
        let chosen = pick(
            Some("warsaw"),
            "pl",
            &[("vpn", 3), ("printing", 3)],
            &AgentStates::new(),
        );
        assert_eq!(chosen.agent, None);
        assert_eq!(chosen.team.as_deref(), Some("infra"));
        assert!(
            chosen.reason.contains("4 lack printing≥3, vpn≥3"),
            "{}",
            chosen.reason
        );
    }

    #[test]
    fn agents_outside_their_hours_are_not_picked() {
        let rules = rules();
        let classification = needing(&rules, &[("vpn", 1)]);
        let night = DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let chosen = route(
            &rules,
            &classification,
            Some("warsaw"),
            "pl",
            &AgentStates::new(),
            night,
        );
        assert_eq!(chosen.agent, None);
        assert!(
            chosen.reason.contains("4 outside their hours"),
            "{}",
            chosen.reason
        );
    }
}
