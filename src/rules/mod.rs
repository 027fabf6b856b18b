//! The admins' rule files: sites, agents, teams, groups, SLA targets and ordered rules,
//! checked as a whole and compiled so that matching costs one pass per field.

mod eval;
mod load;
mod matcher;
mod model;
pub mod watch;

pub use eval::{Classification, Facts, RuleTrace};
pub use load::{DESK_LANGUAGES, Diagnostic, load_dir, load_sources};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::domain::Priority;
use crate::sla::{Calendar, Clock};
use matcher::Matcher;

/// A site: an office, or `remote` for home workers.
#[derive(Debug, Clone)]
pub struct Site {
    /// Lowercase id.
    pub id: String,
    /// Shown to people.
    pub name: String,
    /// Time zone, hours and holidays.
    pub calendar: Calendar,
    /// Words in a message that point to this site.
    pub aliases: Vec<String>,
    /// Mail to these addresses comes from this site.
    pub mailboxes: Vec<String>,
    /// Phone numbers starting so belong to this site.
    pub phone_prefixes: Vec<String>,
    /// Languages spoken; the first is the site's default.
    pub languages: Vec<String>,
    /// "Call us" number.
    pub desk_phone: String,
    /// The city whose clock the site keeps, by language ("pl" → "Warszawa"), for promised
    /// times; a language not listed gets the time zone's own city name.
    pub city: BTreeMap<String, String>,
}

impl Site {
    /// The city to name in a promised time, in `language`.
    pub fn city_in(&self, language: &str) -> String {
        self.city
            .get(language)
            .cloned()
            .unwrap_or_else(|| crate::sla::zone_city(self.calendar.tz))
    }
}

/// A person who works requests.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Lowercase id, also the login name.
    pub id: String,
    /// Full name.
    pub name: String,
    /// Where notifications go.
    pub email: String,
    /// Sites where they work on the spot; the first is their home site.
    pub sites: Vec<String>,
    /// May take requests from any site remotely.
    pub remote: bool,
    /// Languages they answer in.
    pub languages: Vec<String>,
    /// Skill levels, 1..=3.
    pub skills: BTreeMap<String, u8>,
    /// Open tickets at most.
    pub capacity: u32,
    /// Their team.
    pub team: Option<String>,
}

/// A team: takes what nobody else fits.
#[derive(Debug, Clone)]
pub struct Team {
    /// Lowercase id.
    pub id: String,
    /// Shown to people.
    pub name: String,
    /// Shared address.
    pub email: String,
    /// The lead's agent id.
    pub lead: Option<String>,
}

/// A named group of requesters.
#[derive(Debug, Clone)]
pub struct Group {
    /// Lowercase id.
    pub id: String,
    /// Addresses, or `@domain` for a whole domain (lowercase).
    pub members: Vec<String>,
}

/// The first-response target of one priority.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// How long until the first response is due.
    pub first_response: Duration,
    /// Counted on which clock.
    pub clock: Clock,
    /// Set when the target was written in whole days ("3d"): on the business clock a day
    /// is one open day of the site, not 24 hours.
    pub days: Option<u32>,
}

impl Target {
    /// When a request received at `start` on `calendar` is due.
    pub fn due(
        &self,
        calendar: &Calendar,
        start: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        let span = match (self.clock, self.days) {
            (Clock::Business, Some(days)) => calendar.day_length() * days,
            _ => self.first_response,
        };
        calendar.due(start, span, self.clock)
    }
}

/// Everything in `rules/`, checked and compiled.
#[derive(Debug)]
pub struct RuleSet {
    /// Sites by id.
    pub sites: BTreeMap<String, Site>,
    /// Agents in file order.
    pub agents: Vec<Agent>,
    /// Teams by id.
    pub teams: BTreeMap<String, Team>,
    /// Groups by id.
    pub groups: BTreeMap<String, Group>,
    /// First-response targets per priority.
    pub targets: BTreeMap<Priority, Target>,
    /// The files that were read, in order.
    pub files: Vec<PathBuf>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) matcher: Matcher,
    pub(crate) triggers: Triggers,
}

/// Which rules can still match, given the keyword and pattern hits of a request. A rule
/// whose `when` tests a text field with `any` or `matches` cannot match unless one of that
/// test's keywords or patterns hit; only rules without such a test are always visited.
#[derive(Debug, Default)]
pub(crate) struct Triggers {
    keyword_rule: Vec<Option<usize>>,
    regex_rule: Vec<Option<usize>>,
    always: Vec<usize>,
}

impl Triggers {
    pub(crate) fn build(rules: &[Rule], keywords: usize, regexes: usize) -> Triggers {
        let mut triggers = Triggers {
            keyword_rule: vec![None; keywords],
            regex_rule: vec![None; regexes],
            always: Vec::new(),
        };
        let trigger_of = |condition: &Condition| match condition {
            Condition::Field(field, Test::Any(ids)) if matcher::is_text_field(field) => {
                Some((ids.clone(), Vec::new()))
            }
            Condition::Field(field, Test::Matches(id)) if matcher::is_text_field(field) => {
                Some((Vec::new(), vec![*id]))
            }
            _ => None,
        };
        for (index, rule) in rules.iter().enumerate() {
            let from_all = rule.when.iter().find_map(trigger_of);
            let from_any = (rule.when.is_empty() && !rule.when_any.is_empty())
                .then(|| {
                    let each: Option<Vec<_>> = rule.when_any.iter().map(trigger_of).collect();
                    each.map(|each| {
                        each.into_iter()
                            .fold((Vec::new(), Vec::new()), |mut acc, (k, r)| {
                                acc.0.extend(k);
                                acc.1.extend(r);
                                acc
                            })
                    })
                })
                .flatten();
            match from_all.or(from_any) {
                Some((keyword_ids, regex_ids)) => {
                    for id in keyword_ids {
                        triggers.keyword_rule[id] = Some(index);
                    }
                    for id in regex_ids {
                        triggers.regex_rule[id] = Some(index);
                    }
                }
                None => triggers.always.push(index),
            }
        }
        triggers
    }

    /// Rule indices to visit, in rule order.
    pub(crate) fn candidates(&self, hits: &[matcher::Hits]) -> Vec<usize> {
        let mut candidates = self.always.clone();
        for field in hits {
            candidates.extend(
                field
                    .keywords
                    .iter()
                    .filter_map(|&k| self.keyword_rule.get(k).copied().flatten()),
            );
            candidates.extend(
                field
                    .regexes
                    .iter()
                    .filter_map(|&r| self.regex_rule.get(r).copied().flatten()),
            );
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates
    }
}

/// One checked rule.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) when: Vec<Condition>,
    pub(crate) when_any: Vec<Condition>,
    pub(crate) set: Actions,
    pub(crate) stop: bool,
}

/// A field of the request that a condition tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    Channel,
    From,
    FromDomain,
    To,
    Subject,
    Body,
    Text,
    Header(String),
    Language,
    Site,
    Group,
}

impl Field {
    pub(crate) fn name(&self) -> String {
        match self {
            Field::Channel => "channel".into(),
            Field::From => "from".into(),
            Field::FromDomain => "from_domain".into(),
            Field::To => "to".into(),
            Field::Subject => "subject".into(),
            Field::Body => "body".into(),
            Field::Text => "text".into(),
            Field::Header(name) => format!("header {name}"),
            Field::Language => "language".into(),
            Field::Site => "site".into(),
            Field::Group => "group".into(),
        }
    }
}

/// A compiled test; keyword lists and regexes point into the [`Matcher`].
#[derive(Debug, Clone)]
pub(crate) enum Test {
    Equals(String),
    Any(Vec<usize>),
    Matches(usize),
    In(Vec<String>),
    Exists(bool),
    Not(Box<Test>),
}

/// One condition of a rule.
#[derive(Debug, Clone)]
pub(crate) enum Condition {
    Field(Field, Test),
    HasAttachment(bool),
    BusinessHours(bool),
    Machine(bool),
}

/// What a matching rule does.
#[derive(Debug, Default, Clone)]
pub(crate) struct Actions {
    pub(crate) priority: Option<Priority>,
    pub(crate) raise_priority: i64,
    pub(crate) category: Option<String>,
    pub(crate) skills: BTreeMap<String, u8>,
    pub(crate) site: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) language: Option<String>,
    pub(crate) ack: Option<bool>,
    pub(crate) confirm_reply: Option<bool>,
    pub(crate) ticket: Option<bool>,
    pub(crate) template: Option<String>,
    pub(crate) agent: Option<String>,
    pub(crate) team: Option<String>,
}

impl RuleSet {
    /// How many `[[rule]]`s are loaded.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The rules' names, in the order they are applied.
    pub fn rule_names(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.name.as_str()).collect()
    }

    /// The groups an address belongs to.
    pub fn groups_of(&self, address: &str) -> Vec<&str> {
        let domain = crate::domain::address_domain(address);
        self.groups
            .values()
            .filter(|g| {
                g.members
                    .iter()
                    .any(|m| m == address || m.strip_prefix('@').is_some_and(|d| d == domain))
            })
            .map(|g| g.id.as_str())
            .collect()
    }

    /// An agent by id.
    pub fn agent(&self, id: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// Whether an address belongs to one of our agents.
    pub fn is_agent_address(&self, address: &str) -> bool {
        self.agents
            .iter()
            .any(|a| a.email.eq_ignore_ascii_case(address))
    }

    /// The site that a piece of text names by one of its aliases (the first found).
    pub fn site_named_in(&self, text: &str) -> Option<&Site> {
        let id = self.matcher.site_alias(text)?;
        self.sites.get(id)
    }

    /// The site of a mailbox address.
    pub fn site_of_mailbox(&self, address: &str) -> Option<&Site> {
        self.sites
            .values()
            .find(|s| s.mailboxes.iter().any(|m| m.eq_ignore_ascii_case(address)))
    }

    /// The site of a phone number by its prefix (longest prefix wins).
    pub fn site_of_phone(&self, phone: &str) -> Option<&Site> {
        self.sites
            .values()
            .flat_map(|s| s.phone_prefixes.iter().map(move |p| (p, s)))
            .filter(|(p, _)| phone.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, s)| s)
    }

    /// The target for a priority; a 1-day business target when none is configured.
    pub fn target(&self, priority: Priority) -> Target {
        self.targets.get(&priority).copied().unwrap_or(Target {
            first_response: Duration::from_secs(86_400),
            clock: Clock::Business,
            days: Some(1),
        })
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}
