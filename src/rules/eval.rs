//! Runs the rules over one request's facts, in order, and says what matched and why.

use std::collections::BTreeMap;

use serde::Serialize;

use super::matcher::{Hits, TEXT_FIELDS};
use super::{Condition, Field, RuleSet, Test};
use crate::domain::Priority;

/// What the rules may look at.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// `email`, `web`, `call` or `api`.
    pub channel: &'a str,
    /// Sender address, lowercase.
    pub from: &'a str,
    /// Addressees, lowercase.
    pub to: &'a [String],
    /// Subject.
    pub subject: &'a str,
    /// The whole body.
    pub body: &'a str,
    /// Subject and new text.
    pub text: &'a str,
    /// Headers (lowercase names).
    pub headers: &'a [(String, String)],
    /// The detected language.
    pub language: &'a str,
    /// The detected site.
    pub site: Option<&'a str>,
    /// The sender's groups.
    pub groups: &'a [&'a str],
    /// Whether it has attachments.
    pub has_attachment: bool,
    /// Whether the site is open now.
    pub business_hours: bool,
    /// The guard's machine reason, if any.
    pub machine: Option<&'a str>,
    /// How badly it stops work, as the requester or receptionist said on a form: the
    /// starting priority, and a floor no rule lowers it below.
    pub urgency: Option<Priority>,
}

/// Why one rule matched or not.
#[derive(Debug, Clone, Serialize)]
pub struct RuleTrace {
    /// The rule's name.
    pub name: String,
    /// Whether it matched.
    pub matched: bool,
    /// Which conditions held or failed, and which words or patterns matched.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub why: String,
}

/// The rules' decision.
#[derive(Debug, Clone, Serialize)]
pub struct Classification {
    /// Priority after every rule.
    pub priority: Priority,
    /// Category, or `general`.
    pub category: String,
    /// Required skills and minimum levels.
    pub skills: BTreeMap<String, u8>,
    /// Site set by a rule.
    pub site: Option<String>,
    /// Tags added.
    pub tags: Vec<String>,
    /// Language set by a rule.
    pub language: Option<String>,
    /// Whether to acknowledge (never for machine mail).
    pub ack: bool,
    /// Whether a reply that joins an open ticket gets a short note (template `added`).
    pub confirm_reply: bool,
    /// Whether machine mail becomes a ticket.
    pub ticket: bool,
    /// Template purpose for the acknowledgement.
    pub template: String,
    /// Agent named by a rule.
    pub agent: Option<String>,
    /// Team named by a rule.
    pub team: Option<String>,
    /// With `explain`, every rule in order with its result; without, the matched ones.
    pub trace: Vec<RuleTrace>,
}

impl Classification {
    /// A stored ticket's classification, for routing it again later (live routing): its
    /// priority, category, skills and team; no agent named.
    pub fn of_ticket(
        priority: Priority,
        category: &str,
        skills: BTreeMap<String, u8>,
        team: Option<String>,
    ) -> Classification {
        Classification {
            priority,
            category: category.to_owned(),
            skills,
            site: None,
            tags: Vec::new(),
            language: None,
            ack: false,
            confirm_reply: false,
            ticket: true,
            template: "ack".to_owned(),
            agent: None,
            team,
            trace: Vec::new(),
        }
    }
}

impl RuleSet {
    /// Applies every rule in order. With `explain`, each trace says why.
    pub fn classify(&self, facts: &Facts<'_>, explain: bool) -> Classification {
        let hits = self.scan(facts);
        let to: Vec<&str> = facts.to.iter().map(String::as_str).collect();
        let mut result = Classification {
            priority: facts.urgency.unwrap_or(Priority::Normal),
            category: "general".to_owned(),
            skills: BTreeMap::new(),
            site: None,
            tags: Vec::new(),
            language: None,
            ack: true,
            confirm_reply: false,
            ticket: false,
            template: "ack".to_owned(),
            agent: None,
            team: None,
            trace: Vec::new(),
        };
        // Without `explain`, only rules that can still match are visited: those whose
        // keywords or patterns hit, and those that test no keywords or patterns (see
        // `Triggers`). A thousand keyword rules then cost about what ten do.
        let candidates: Vec<usize> = if explain {
            (0..self.rules.len()).collect()
        } else {
            self.triggers.candidates(&hits)
        };
        let mut stopped = false;
        for index in candidates {
            let rule = &self.rules[index];
            if stopped {
                result.trace.push(RuleTrace {
                    name: rule.name.clone(),
                    matched: false,
                    why: "not evaluated: an earlier rule stopped".into(),
                });
                continue;
            }
            let mut why = Vec::new();
            let matched = if explain {
                // Evaluate every condition, so the trace says which held and which did not.
                let mut all = true;
                for condition in &rule.when {
                    all &= self.condition(condition, facts, &to, &hits, Some(&mut why));
                }
                let mut any = rule.when_any.is_empty();
                for condition in &rule.when_any {
                    any |= self.condition(condition, facts, &to, &hits, Some(&mut why));
                }
                all && any
            } else {
                rule.when
                    .iter()
                    .all(|c| self.condition(c, facts, &to, &hits, None))
                    && (rule.when_any.is_empty()
                        || rule
                            .when_any
                            .iter()
                            .any(|c| self.condition(c, facts, &to, &hits, None)))
            };
            // The hot path keeps only the rules that matched; a dry run keeps every rule and why.
            if explain || matched {
                result.trace.push(RuleTrace {
                    name: rule.name.clone(),
                    matched,
                    why: why.join("; "),
                });
            }
            if !matched {
                continue;
            }
            apply(&rule.set, &mut result);
            stopped = rule.stop;
            if stopped && !explain {
                break;
            }
        }
        if facts.machine.is_some() {
            // Machine mail is never acknowledged, whatever a rule says.
            result.ack = false;
            result.confirm_reply = false;
        }
        // A person who says many people cannot work is not overruled by a keyword rule.
        if let Some(urgency) = facts.urgency
            && urgency.rank() > result.priority.rank()
        {
            result.priority = urgency;
        }
        result
    }

    fn scan(&self, facts: &Facts<'_>) -> Vec<Hits> {
        TEXT_FIELDS
            .iter()
            .enumerate()
            .map(|(index, field)| {
                if !self.matcher.used(index) {
                    return Hits::default();
                }
                match field {
                    Field::To => self.matcher.scan(index, &facts.to.join("\n")),
                    _ => self
                        .matcher
                        .scan(index, single_value(field, facts).unwrap_or("")),
                }
            })
            .collect()
    }

    /// Whether a condition holds; with `why`, adds a line saying what was tested and found.
    fn condition(
        &self,
        condition: &Condition,
        facts: &Facts<'_>,
        to: &[&str],
        hits: &[Hits],
        why: Option<&mut Vec<String>>,
    ) -> bool {
        let explain = why.is_some();
        let (ok, detail) = match condition {
            Condition::HasAttachment(want) => (facts.has_attachment == *want, String::new()),
            Condition::BusinessHours(want) => (facts.business_hours == *want, String::new()),
            Condition::Machine(want) => (facts.machine.is_some() == *want, String::new()),
            Condition::Field(field, test) => {
                let single;
                let values: &[&str] = match field {
                    Field::To => to,
                    Field::Group => facts.groups,
                    _ => {
                        single = single_value(field, facts);
                        single.as_slice()
                    }
                };
                let slot = TEXT_FIELDS.iter().position(|f| f == field);
                self.test(test, values, slot.map(|s| &hits[s]), explain)
            }
        };
        if let Some(why) = why {
            let mark = if ok { "✓" } else { "✗" };
            let line = match condition {
                Condition::HasAttachment(want) => format!("has_attachment = {want}"),
                Condition::BusinessHours(want) => format!("business_hours = {want}"),
                Condition::Machine(want) => match facts.machine {
                    Some(reason) => format!("machine = {want} (guard: {reason})"),
                    None => format!("machine = {want} (guard: a person)"),
                },
                Condition::Field(field, _) => format!("{} {detail}", field.name()),
            };
            why.push(format!("{mark} {line}"));
        }
        ok
    }

    fn test(
        &self,
        test: &Test,
        values: &[&str],
        hits: Option<&Hits>,
        explain: bool,
    ) -> (bool, String) {
        match test {
            Test::Equals(expected) => {
                let ok = values
                    .iter()
                    .any(|v| v.chars().flat_map(char::to_lowercase).eq(expected.chars()));
                (
                    ok,
                    if explain {
                        format!("equals \"{expected}\"")
                    } else {
                        String::new()
                    },
                )
            }
            Test::In(list) => {
                let ok = values.iter().any(|v| {
                    list.iter()
                        .any(|item| v.chars().flat_map(char::to_lowercase).eq(item.chars()))
                });
                (
                    ok,
                    if explain {
                        format!("in [{}]", list.join(", "))
                    } else {
                        String::new()
                    },
                )
            }
            Test::Exists(want) => {
                let exists = values.iter().any(|v| !v.is_empty());
                (
                    exists == *want,
                    if explain {
                        format!("exists = {want}")
                    } else {
                        String::new()
                    },
                )
            }
            Test::Any(ids) => {
                let found: Vec<usize> = ids
                    .iter()
                    .copied()
                    .filter(|&id| match hits {
                        Some(h) => h.keyword(id),
                        None => values.iter().any(|v| self.matcher.keyword_in(id, v)),
                    })
                    .collect();
                let detail = if !explain {
                    String::new()
                } else if found.is_empty() {
                    "has none of the keywords".to_owned()
                } else {
                    let words: Vec<&str> = found
                        .iter()
                        .map(|&id| self.matcher.keyword_text(id))
                        .collect();
                    format!("has \"{}\"", words.join("\", \""))
                };
                (!found.is_empty(), detail)
            }
            Test::Matches(id) => {
                let regex = self.matcher.regex(*id);
                let ok = match hits {
                    Some(h) => h.regex(*id),
                    None => values.iter().any(|v| regex.is_match(v)),
                };
                let detail = if !explain {
                    String::new()
                } else if ok {
                    let sample = values
                        .iter()
                        .find_map(|v| regex.find(v))
                        .map(|m| m.as_str())
                        .unwrap_or("");
                    format!(
                        "matches /{}/ at \"{}\"",
                        regex.as_str(),
                        sample.chars().take(60).collect::<String>()
                    )
                } else {
                    format!("does not match /{}/", regex.as_str())
                };
                (ok, detail)
            }
            Test::Not(inner) => {
                let (ok, detail) = self.test(inner, values, hits, explain);
                (
                    !ok,
                    if explain {
                        format!("not ({detail})")
                    } else {
                        String::new()
                    },
                )
            }
        }
    }
}

/// Applies a matching rule's actions: later rules replace earlier values, tags add up.
fn apply(set: &super::Actions, result: &mut Classification) {
    if let Some(priority) = set.priority {
        result.priority = priority;
    }
    result.priority = result.priority.raised(set.raise_priority);
    if let Some(category) = &set.category {
        result.category.clone_from(category);
    }
    if !set.skills.is_empty() {
        result.skills.clone_from(&set.skills);
    }
    for tag in &set.tags {
        if !result.tags.contains(tag) {
            result.tags.push(tag.clone());
        }
    }
    if set.site.is_some() {
        result.site.clone_from(&set.site);
    }
    if set.language.is_some() {
        result.language.clone_from(&set.language);
    }
    if let Some(ack) = set.ack {
        result.ack = ack;
    }
    if let Some(confirm) = set.confirm_reply {
        result.confirm_reply = confirm;
    }
    if let Some(ticket) = set.ticket {
        result.ticket = ticket;
    }
    if let Some(template) = &set.template {
        result.template.clone_from(template);
    }
    if set.agent.is_some() {
        result.agent.clone_from(&set.agent);
    }
    if set.team.is_some() {
        result.team.clone_from(&set.team);
    }
}

fn single_value<'a>(field: &Field, facts: &Facts<'a>) -> Option<&'a str> {
    match field {
        Field::Channel => Some(facts.channel),
        Field::From => Some(facts.from),
        Field::FromDomain => Some(crate::domain::address_domain(facts.from)),
        Field::Subject => Some(facts.subject),
        Field::Body => Some(facts.body),
        Field::Text => Some(facts.text),
        Field::Header(name) => facts
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str()),
        Field::Language => Some(facts.language),
        Field::Site => facts.site,
        Field::To | Field::Group => None,
    }
}
