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
        let at_work = agent
            .sites
            .first()
            .and_then(|home| rules.sites.get(home))
            .is_none_or(|home| home.calendar.is_open(now));
        if !at_work {
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
