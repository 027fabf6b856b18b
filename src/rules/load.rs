//! Reads every `*.toml` in the rules folder, checks it as a whole, and reports every problem
//! as `file:line:col: message`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use toml::Spanned;

use super::matcher::MatcherBuilder;
use super::model::{ActionsDef, ConditionsDef, FileDef, SkillsDef, TestDef};
use super::{
    Actions, Agent, Condition, Field, Group, Rule, RuleSet, Site, Target, Team, Test, Triggers,
    line_col,
};
use crate::domain::Priority;
use crate::sla::{Calendar, Clock, Hours};

/// One problem in a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// The desk's languages; sites, agents and rules may only name these.
pub const DESK_LANGUAGES: [&str; 5] = ["en", "pl", "ru", "hr", "de"];

/// Loads the rules folder. `templates` lists the template purposes that exist.
pub fn load_dir(dir: &Path, templates: &[String]) -> Result<RuleSet, Vec<Diagnostic>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
            .collect(),
        Err(e) => {
            return Err(vec![Diagnostic {
                file: dir.to_path_buf(),
                line: 1,
                column: 1,
                message: format!(
                    "cannot read the rules folder: {e} (set [paths] rules in the config)"
                ),
            }]);
        }
    };
    files.sort();
    let mut sources = Vec::new();
    let mut problems = Vec::new();
    for path in files {
        match std::fs::read_to_string(&path) {
            Ok(text) => sources.push((path, text)),
            Err(e) => problems.push(Diagnostic {
                file: path,
                line: 1,
                column: 1,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    load_sources(&sources, templates)
}

/// Loads rules from (path, text) pairs, in the given order.
pub fn load_sources(
    sources: &[(PathBuf, String)],
    templates: &[String],
) -> Result<RuleSet, Vec<Diagnostic>> {
    let mut checker = Checker::default();
    let mut parsed = Vec::new();
    for (path, text) in sources {
        match toml::from_str::<FileDef>(text) {
            Ok(def) => parsed.push((path, text.as_str(), def)),
            Err(e) => {
                let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
                checker.problems.push(Diagnostic {
                    file: path.clone(),
                    line,
                    column,
                    message: e.message().trim().to_owned(),
                });
            }
        }
    }
    // Definitions first, from every file, so rules may name things from any file.
    for (path, text, def) in &parsed {
        let at = At { path, text };
        checker.sites(&at, def);
        checker.teams_groups(&at, def);
        checker.sla(&at, def);
    }
    for (path, text, def) in &parsed {
        checker.agents(&At { path, text }, def);
    }
    for (path, text, def) in &parsed {
        checker.check_team_leads(&At { path, text }, def);
    }
    for (path, text, def) in &parsed {
        checker.rules(&At { path, text }, def, templates);
    }
    if checker.targets.len() < Priority::ALL.len() && !sources.is_empty() {
        let missing: Vec<&str> = Priority::ALL
            .iter()
            .filter(|p| !checker.targets.contains_key(p))
            .map(|p| p.as_str())
            .collect();
        let file = sources.first().map(|(p, _)| p.clone()).unwrap_or_default();
        checker.problems.push(Diagnostic {
            file,
            line: 1,
            column: 1,
            message: format!(
                "no first-response target for {}: add [priority.NAME] with first_response and clock",
                missing.join(", ")
            ),
        });
    }
    if !checker.problems.is_empty() {
        return Err(checker.problems);
    }
    let matcher = checker.builder.build().map_err(|message| {
        vec![Diagnostic {
            file: PathBuf::from("rules"),
            line: 1,
            column: 1,
            message,
        }]
    })?;
    let (keywords, regexes) = matcher.counts();
    let triggers = Triggers::build(&checker.rules, keywords, regexes);
    Ok(RuleSet {
        triggers,
        sites: checker.sites,
        agents: checker.agents,
        teams: checker.teams,
        groups: checker.groups,
        targets: checker.targets,
        files: sources.iter().map(|(p, _)| p.clone()).collect(),
        rules: checker.rules,
        matcher,
    })
}

struct At<'a> {
    path: &'a Path,
    text: &'a str,
}

impl At<'_> {
    fn diag(&self, offset: usize, message: impl Into<String>) -> Diagnostic {
        let (line, column) = line_col(self.text, offset);
        Diagnostic {
            file: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }
}

#[derive(Default)]
struct Checker {
    problems: Vec<Diagnostic>,
    sites: BTreeMap<String, Site>,
    agents: Vec<Agent>,
    teams: BTreeMap<String, Team>,
    groups: BTreeMap<String, Group>,
    targets: BTreeMap<Priority, Target>,
    rules: Vec<Rule>,
    rule_names: BTreeSet<String>,
    builder: MatcherBuilder,
}

fn check_languages(
    at: &At<'_>,
    offset: usize,
    languages: &[String],
    problems: &mut Vec<Diagnostic>,
) {
    for language in languages {
        if !DESK_LANGUAGES.contains(&language.as_str()) {
            problems.push(at.diag(
                offset,
                format!(
                    "unknown language \"{language}\"; the desk's languages are {}",
                    DESK_LANGUAGES.join(", ")
                ),
            ));
        }
    }
}

impl Checker {
    fn sites(&mut self, at: &At<'_>, def: &FileDef) {
        for spanned in &def.site {
            let start = spanned.span().start;
            let site = spanned.get_ref();
            if self.sites.contains_key(&site.id) {
                self.problems
                    .push(at.diag(start, format!("site \"{}\" is defined twice", site.id)));
                continue;
            }
            let tz = match site.timezone.get_ref().parse::<chrono_tz::Tz>() {
                Ok(tz) => tz,
                Err(_) => {
                    self.problems.push(at.diag(
                        site.timezone.span().start,
                        format!(
                            "unknown time zone \"{}\" (use an IANA name like Europe/Warsaw)",
                            site.timezone.get_ref()
                        ),
                    ));
                    chrono_tz::UTC
                }
            };
            let hours = Hours::parse(site.hours.get_ref()).unwrap_or_else(|e| {
                self.problems.push(at.diag(site.hours.span().start, e));
                Hours::Always
            });
            let mut holidays = Vec::new();
            for day in &site.holidays {
                match NaiveDate::parse_from_str(day.get_ref(), "%Y-%m-%d") {
                    Ok(date) => holidays.push(date),
                    Err(_) => self.problems.push(at.diag(
                        day.span().start,
                        format!("\"{}\" is not a date like 2026-12-24", day.get_ref()),
                    )),
                }
            }
            if site.languages.is_empty() {
                self.problems.push(at.diag(
                    start,
                    format!("site \"{}\" needs at least one language", site.id),
                ));
            }
            check_languages(at, start, &site.languages, &mut self.problems);
            let named: Vec<String> = site.city.keys().cloned().collect();
            check_languages(at, start, &named, &mut self.problems);
            for alias in site.aliases.iter().chain([&site.id, &site.name]) {
                self.builder.alias(&site.id, alias);
            }
            self.sites.insert(
                site.id.clone(),
                Site {
                    id: site.id.clone(),
                    name: site.name.clone(),
                    calendar: Calendar {
                        tz,
                        hours,
                        holidays,
                    },
                    aliases: site.aliases.clone(),
                    mailboxes: site.mailboxes.iter().map(|m| m.to_lowercase()).collect(),
                    phone_prefixes: site.phone_prefixes.clone(),
                    languages: site.languages.clone(),
                    desk_phone: site.desk_phone.clone(),
                    city: site.city.clone(),
                },
            );
        }
    }

    fn teams_groups(&mut self, at: &At<'_>, def: &FileDef) {
        for spanned in &def.team {
            let team = spanned.get_ref();
            if self.teams.contains_key(&team.id) {
                self.problems.push(at.diag(
                    spanned.span().start,
                    format!("team \"{}\" is defined twice", team.id),
                ));
                continue;
            }
            self.teams.insert(
                team.id.clone(),
                Team {
                    id: team.id.clone(),
                    name: team.name.clone(),
                    email: team.email.clone(),
                    lead: team.lead.as_ref().map(|l| l.get_ref().clone()),
                },
            );
        }
        for spanned in &def.group {
            let group = spanned.get_ref();
            if self.groups.contains_key(&group.id) {
                self.problems.push(at.diag(
                    spanned.span().start,
                    format!("group \"{}\" is defined twice", group.id),
                ));
                continue;
            }
            self.groups.insert(
                group.id.clone(),
                Group {
                    id: group.id.clone(),
                    members: group
                        .members
                        .iter()
                        .map(|m| m.trim().to_lowercase())
                        .collect(),
                },
            );
        }
    }

    fn sla(&mut self, at: &At<'_>, def: &FileDef) {
        for (name, spanned) in &def.priority {
            let Some(priority) = Priority::parse(name) else {
                self.problems.push(at.diag(
                    spanned.span().start,
                    format!("unknown priority \"{name}\" (use critical, high, normal or low)"),
                ));
                continue;
            };
            let sla = spanned.get_ref();
            let first_response = crate::config::parse_duration(sla.first_response.get_ref())
                .unwrap_or_else(|e| {
                    self.problems
                        .push(at.diag(sla.first_response.span().start, e));
                    std::time::Duration::ZERO
                });
            let clock = match sla.clock.get_ref().as_str() {
                "24x7" => Clock::Always,
                "business" => Clock::Business,
                other => {
                    self.problems.push(at.diag(
                        sla.clock.span().start,
                        format!("clock must be \"24x7\" or \"business\", got \"{other}\""),
                    ));
                    Clock::Business
                }
            };
            let written = sla.first_response.get_ref().trim();
            let days = written
                .strip_suffix('d')
                .and_then(|n| n.parse::<u32>().ok());
            if self
                .targets
                .insert(
                    priority,
                    Target {
                        first_response,
                        clock,
                        days,
                    },
                )
                .is_some()
            {
                self.problems.push(at.diag(
                    spanned.span().start,
                    format!("priority.{name} is defined twice"),
                ));
            }
        }
    }

    fn agents(&mut self, at: &At<'_>, def: &FileDef) {
        for spanned in &def.agent {
            let start = spanned.span().start;
            let agent = spanned.get_ref();
            if self.agents.iter().any(|a| a.id == agent.id) {
                self.problems
                    .push(at.diag(start, format!("agent \"{}\" is defined twice", agent.id)));
                continue;
            }
            for site in &agent.sites {
                if !self.sites.contains_key(site.get_ref()) {
                    self.problems.push(at.diag(
                        site.span().start,
                        format!("unknown site \"{}\"", site.get_ref()),
                    ));
                }
            }
            if let Some(team) = &agent.team
                && !self.teams.contains_key(team.get_ref())
            {
                self.problems.push(at.diag(
                    team.span().start,
                    format!("unknown team \"{}\"", team.get_ref()),
                ));
            }
            check_languages(at, start, &agent.languages, &mut self.problems);
            let mut skills = BTreeMap::new();
            for (skill, level) in &agent.skills {
                match u8::try_from(*level.get_ref()) {
                    Ok(l @ 1..=3) => {
                        skills.insert(skill.clone(), l);
                    }
                    _ => self.problems.push(at.diag(
                        level.span().start,
                        format!(
                            "skill level of \"{skill}\" must be 1, 2 or 3, got {}",
                            level.get_ref()
                        ),
                    )),
                }
            }
            let capacity = u32::try_from(*agent.capacity.get_ref()).unwrap_or_else(|_| {
                self.problems
                    .push(at.diag(agent.capacity.span().start, "capacity must be 0 or more"));
                0
            });
            self.agents.push(Agent {
                id: agent.id.clone(),
                name: agent.name.clone(),
                email: agent.email.to_lowercase(),
                sites: agent.sites.iter().map(|s| s.get_ref().clone()).collect(),
                remote: agent.remote,
                languages: agent.languages.clone(),
                skills,
                capacity,
                team: agent.team.as_ref().map(|t| t.get_ref().clone()),
            });
        }
    }

    fn check_team_leads(&mut self, at: &At<'_>, def: &FileDef) {
        for spanned in &def.team {
            if let Some(lead) = &spanned.get_ref().lead
                && !self.agents.iter().any(|a| &a.id == lead.get_ref())
            {
                self.problems.push(at.diag(
                    lead.span().start,
                    format!("unknown agent \"{}\" as team lead", lead.get_ref()),
                ));
            }
        }
    }

    fn rules(&mut self, at: &At<'_>, def: &FileDef, templates: &[String]) {
        for spanned in &def.rule {
            let start = spanned.span().start;
            let rule = spanned.get_ref();
            if !self.rule_names.insert(rule.name.clone()) {
                self.problems
                    .push(at.diag(start, format!("rule name \"{}\" is used twice", rule.name)));
            }
            if rule.when.is_none() && rule.when_any.is_none() {
                self.problems.push(at.diag(
                    start,
                    format!("rule \"{}\" has no `when` or `when_any`", rule.name),
                ));
            }
            let when = rule
                .when
                .as_ref()
                .map(|c| self.conditions(at, c))
                .unwrap_or_default();
            let when_any = rule
                .when_any
                .as_ref()
                .map(|c| self.conditions(at, c))
                .unwrap_or_default();
            let set = self.actions(at, start, &rule.set, templates);
            self.rules.push(Rule {
                name: rule.name.clone(),
                when,
                when_any,
                set,
                stop: rule.stop,
            });
        }
    }

    fn conditions(&mut self, at: &At<'_>, def: &ConditionsDef) -> Vec<Condition> {
        let mut out = Vec::new();
        let fields = [
            (Field::Channel, &def.channel),
            (Field::From, &def.from),
            (Field::FromDomain, &def.from_domain),
            (Field::To, &def.to),
            (Field::Subject, &def.subject),
            (Field::Body, &def.body),
            (Field::Text, &def.text),
            (Field::Language, &def.language),
            (Field::Site, &def.site),
            (Field::Group, &def.group),
        ];
        for (field, test) in fields {
            if let Some(test) = test
                && let Some(test) = self.test(at, &field, test)
            {
                out.push(Condition::Field(field, test));
            }
        }
        for (name, test) in &def.header {
            let field = Field::Header(name.to_lowercase());
            if let Some(test) = self.test(at, &field, test) {
                out.push(Condition::Field(field, test));
            }
        }
        out.extend(def.has_attachment.map(Condition::HasAttachment));
        out.extend(def.business_hours.map(Condition::BusinessHours));
        out.extend(def.machine.map(Condition::Machine));
        out
    }

    fn test(&mut self, at: &At<'_>, field: &Field, spanned: &Spanned<TestDef>) -> Option<Test> {
        let start = spanned.span().start;
        let def = spanned.get_ref();
        let count = [
            def.equals.is_some(),
            def.any.is_some(),
            def.matches.is_some(),
            def.in_list.is_some(),
            def.exists.is_some(),
            def.not.is_some(),
        ]
        .iter()
        .filter(|&&b| b)
        .count();
        if count != 1 {
            self.problems.push(at.diag(
                start,
                format!("the test on {} needs exactly one of equals, any, matches, in, exists, not (found {count})", field.name()),
            ));
            return None;
        }
        if let Field::Group = field {
            let named: Vec<&String> = def
                .equals
                .iter()
                .chain(def.in_list.iter().flatten())
                .collect();
            for group in named {
                if !self.groups.contains_key(group) {
                    self.problems
                        .push(at.diag(start, format!("unknown group \"{group}\"")));
                }
            }
        }
        if let Field::Site = field {
            for site in def.equals.iter().chain(def.in_list.iter().flatten()) {
                if !self.sites.contains_key(site) {
                    self.problems
                        .push(at.diag(start, format!("unknown site \"{site}\"")));
                }
            }
        }
        if let Some(value) = &def.equals {
            return Some(Test::Equals(value.to_lowercase()));
        }
        if let Some(words) = &def.any {
            if words.iter().any(|w| w.trim().is_empty()) {
                self.problems
                    .push(at.diag(start, "an `any` list may not hold an empty keyword"));
            }
            return Some(Test::Any(self.builder.keywords(field, words)));
        }
        if let Some(pattern) = &def.matches {
            return match self.builder.regex(field, pattern.get_ref()) {
                Ok(id) => Some(Test::Matches(id)),
                Err(message) => {
                    self.problems.push(at.diag(pattern.span().start, message));
                    None
                }
            };
        }
        if let Some(list) = &def.in_list {
            return Some(Test::In(list.iter().map(|v| v.to_lowercase()).collect()));
        }
        if let Some(exists) = def.exists {
            return Some(Test::Exists(exists));
        }
        let inner = def.not.as_ref()?;
        self.test(at, field, inner).map(|t| Test::Not(Box::new(t)))
    }

    fn actions(
        &mut self,
        at: &At<'_>,
        start: usize,
        def: &ActionsDef,
        templates: &[String],
    ) -> Actions {
        let mut actions = Actions {
            raise_priority: def.raise_priority.unwrap_or(0),
            category: def.category.clone(),
            tags: def.tags.clone(),
            language: def.language.clone(),
            ack: def.ack,
            confirm_reply: def.confirm_reply,
            ticket: def.ticket,
            ..Actions::default()
        };
        if let Some(priority) = &def.priority {
            actions.priority = Priority::parse(priority.get_ref());
            if actions.priority.is_none() {
                self.problems.push(at.diag(
                    priority.span().start,
                    format!(
                        "unknown priority \"{}\" (use critical, high, normal or low)",
                        priority.get_ref()
                    ),
                ));
            }
        }
        if let Some(language) = &def.language {
            check_languages(
                at,
                start,
                std::slice::from_ref(language),
                &mut self.problems,
            );
        }
        if let Some(skills) = &def.skills {
            let levels: Vec<(String, i64)> = match skills.get_ref() {
                SkillsDef::List(names) => names.iter().map(|n| (n.clone(), 1)).collect(),
                SkillsDef::Levels(map) => map.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            };
            for (skill, level) in levels {
                if !self.agents.iter().any(|a| a.skills.contains_key(&skill)) {
                    self.problems.push(at.diag(
                        skills.span().start,
                        format!("no agent has the skill \"{skill}\""),
                    ));
                }
                match u8::try_from(level) {
                    Ok(l @ 1..=3) => {
                        actions.skills.insert(skill, l);
                    }
                    _ => self.problems.push(at.diag(
                        skills.span().start,
                        format!("skill level must be 1, 2 or 3, got {level}"),
                    )),
                }
            }
        }
        if let Some(site) = &def.site {
            if !self.sites.contains_key(site.get_ref()) {
                self.problems.push(at.diag(
                    site.span().start,
                    format!("unknown site \"{}\"", site.get_ref()),
                ));
            }
            actions.site = Some(site.get_ref().clone());
        }
        if let Some(agent) = &def.agent {
            if !self.agents.iter().any(|a| &a.id == agent.get_ref()) {
                self.problems.push(at.diag(
                    agent.span().start,
                    format!("unknown agent \"{}\"", agent.get_ref()),
                ));
            }
            actions.agent = Some(agent.get_ref().clone());
        }
        if let Some(team) = &def.team {
            if !self.teams.contains_key(team.get_ref()) {
                self.problems.push(at.diag(
                    team.span().start,
                    format!("unknown team \"{}\"", team.get_ref()),
                ));
            }
            actions.team = Some(team.get_ref().clone());
        }
        if let Some(template) = &def.template {
            if !templates.iter().any(|t| t == template.get_ref()) {
                self.problems.push(at.diag(
                    template.span().start,
                    format!(
                        "unknown template \"{}\" (there is no templates/{}/ folder)",
                        template.get_ref(),
                        template.get_ref()
                    ),
                ));
            }
            actions.template = Some(template.get_ref().clone());
        }
        actions
    }
}

#[cfg(test)]
mod tests_support {
    pub(super) use super::tests::load;
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[[site]]
id = "warsaw"
name = "Warsaw office"
timezone = "Europe/Warsaw"
hours = "Mon-Fri 08:00-17:00"
languages = ["pl", "en"]

[[team]]
id = "infra"
name = "Infrastructure"

[[agent]]
id = "anna"
name = "Anna Kowalska"
email = "anna@example.com"
sites = ["warsaw"]
languages = ["pl", "en"]
skills = { vpn = 2 }
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

    pub(super) fn load(rules: &str) -> Result<RuleSet, Vec<Diagnostic>> {
        load_sources(
            &[
                (PathBuf::from("rules/00-base.toml"), BASE.to_owned()),
                (PathBuf::from("rules/10-triage.toml"), rules.to_owned()),
            ],
            &["ack".to_owned()],
        )
    }

    fn first_error(rules: &str) -> String {
        load(rules).unwrap_err()[0].to_string()
    }

    #[test]
    fn a_valid_set_loads() {
        let set = load("[[rule]]\nname = \"vpn\"\nwhen = { text = { any = [\"vpn\"] } }\nset = { skills = { vpn = 2 } }\n").unwrap();
        assert_eq!(set.rule_count(), 1);
        assert_eq!(set.agents.len(), 1);
    }

    #[test]
    fn errors_point_at_file_line_and_column() {
        assert_eq!(
            first_error("[[rule]]\nname = \"x\"\nwhen = { text = { matches = '(' } }\nset = {}\n"),
            "rules/10-triage.toml:3:29: invalid regex: regex parse error: ( ^ error: unclosed group"
        );
        let err =
            first_error("[[rule]]\nname = \"x\"\nwhen = { txet = { any = [\"a\"] } }\nset = {}\n");
        assert!(err.starts_with("rules/10-triage.toml:3:"), "{err}");
        assert!(err.contains("txet"), "{err}");
        let err = first_error(
            "[[rule]]\nname = \"x\"\nwhen = { text = { any = [\"a\"] } }\nset = { site = \"paris\" }\n",
        );
        assert!(
            err.starts_with("rules/10-triage.toml:4:16") && err.contains("unknown site \"paris\""),
            "{err}"
        );
        let err = first_error(
            "[[rule]]\nname = \"x\"\nwhen = { text = { any = [\"a\"] } }\nset = { skills = [\"juggling\"] }\n",
        );
        assert!(err.contains("no agent has the skill \"juggling\""), "{err}");
        let err = first_error(
            "[[rule]]\nname = \"x\"\nwhen = { text = { any = [\"a\"], equals = \"b\" } }\nset = {}\n",
        );
        assert!(err.contains("exactly one"), "{err}");
        let err = first_error(
            "[[rule]]\nname = \"x\"\nwhen = { text = { any = [\"a\"] } }\nset = { template = \"nope\" }\n",
        );
        assert!(err.contains("unknown template"), "{err}");
        let err = first_error("[[rule]\n");
        assert!(err.starts_with("rules/10-triage.toml:1:"), "{err}");
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::tests_support::load;
    use crate::rules::Facts;

    #[test]
    fn the_fast_path_decides_exactly_like_the_full_evaluation() {
        let set = load(
            r#"
[[rule]]
name = "printer"
when = { text = { any = ["printer"] } }
set = { category = "printing" }
[[rule]]
name = "urgent"
when_any = { subject = { any = ["urgent"] }, text = { any = ["asap"] } }
set = { priority = "high" }
[[rule]]
name = "mail, not a test"
when = { channel = { equals = "email" }, text = { not = { any = ["test"] } } }
set = { tags = ["mail"] }
[[rule]]
name = "vpn stops"
when = { text = { matches = '(?i)\bvpn\b' }, from_domain = { equals = "example.com" } }
set = { category = "vpn" }
stop = true
[[rule]]
name = "after stop"
when = { text = { any = ["printer"] } }
set = { tags = ["late"] }
"#,
        )
        .unwrap();
        for (subject, text) in [
            ("printer broken", "printer broken"),
            ("urgent", "urgent vpn"),
            ("x", "asap printer VPN"),
            ("nothing", "nothing"),
            ("test", "test printer"),
        ] {
            let facts = Facts {
                channel: "email",
                from: "a@example.com",
                to: &[],
                subject,
                body: text,
                text,
                headers: &[],
                language: "en",
                site: None,
                groups: &[],
                has_attachment: false,
                business_hours: true,
                machine: None,
                urgency: None,
            };
            let fast = set.classify(&facts, false);
            let full = set.classify(&facts, true);
            let matched = |c: &crate::rules::Classification| -> Vec<String> {
                c.trace
                    .iter()
                    .filter(|t| t.matched)
                    .map(|t| t.name.clone())
                    .collect()
            };
            assert_eq!(matched(&fast), matched(&full), "{text}");
            assert_eq!(
                (fast.priority, &fast.category, &fast.tags),
                (full.priority, &full.category, &full.tags),
                "{text}"
            );
        }
    }
}
