//! The rule files' TOML shape, exactly as admins write it (unknown keys are errors).

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// One file in `rules/`: any mix of sections.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDef {
    #[serde(default)]
    pub(crate) site: Vec<Spanned<SiteDef>>,
    #[serde(default)]
    pub(crate) agent: Vec<Spanned<AgentDef>>,
    #[serde(default)]
    pub(crate) team: Vec<Spanned<TeamDef>>,
    #[serde(default)]
    pub(crate) group: Vec<Spanned<GroupDef>>,
    #[serde(default)]
    pub(crate) priority: BTreeMap<String, Spanned<SlaDef>>,
    #[serde(default)]
    pub(crate) rule: Vec<Spanned<RuleDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SiteDef {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) timezone: Spanned<String>,
    pub(crate) hours: Spanned<String>,
    #[serde(default)]
    pub(crate) holidays: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) aliases: Vec<String>,
    #[serde(default)]
    pub(crate) mailboxes: Vec<String>,
    #[serde(default)]
    pub(crate) phone_prefixes: Vec<String>,
    pub(crate) languages: Vec<String>,
    #[serde(default)]
    pub(crate) desk_phone: String,
    #[serde(default)]
    pub(crate) city: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentDef {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) sites: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) remote: bool,
    pub(crate) languages: Vec<String>,
    #[serde(default)]
    pub(crate) skills: BTreeMap<String, Spanned<i64>>,
    pub(crate) capacity: Spanned<i64>,
    #[serde(default)]
    pub(crate) team: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TeamDef {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) email: String,
    #[serde(default)]
    pub(crate) lead: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupDef {
    pub(crate) id: String,
    pub(crate) members: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SlaDef {
    pub(crate) first_response: Spanned<String>,
    pub(crate) clock: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleDef {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) when: Option<ConditionsDef>,
    #[serde(default)]
    pub(crate) when_any: Option<ConditionsDef>,
    pub(crate) set: ActionsDef,
    #[serde(default)]
    pub(crate) stop: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConditionsDef {
    pub(crate) channel: Option<Spanned<TestDef>>,
    pub(crate) from: Option<Spanned<TestDef>>,
    pub(crate) from_domain: Option<Spanned<TestDef>>,
    pub(crate) to: Option<Spanned<TestDef>>,
    pub(crate) subject: Option<Spanned<TestDef>>,
    pub(crate) body: Option<Spanned<TestDef>>,
    pub(crate) text: Option<Spanned<TestDef>>,
    #[serde(default)]
    pub(crate) header: BTreeMap<String, Spanned<TestDef>>,
    pub(crate) language: Option<Spanned<TestDef>>,
    pub(crate) site: Option<Spanned<TestDef>>,
    pub(crate) group: Option<Spanned<TestDef>>,
    pub(crate) has_attachment: Option<bool>,
    pub(crate) business_hours: Option<bool>,
    pub(crate) machine: Option<bool>,
}

/// One test on a field: exactly one operator.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestDef {
    pub(crate) equals: Option<String>,
    pub(crate) any: Option<Vec<String>>,
    pub(crate) matches: Option<Spanned<String>>,
    #[serde(rename = "in")]
    pub(crate) in_list: Option<Vec<String>>,
    pub(crate) exists: Option<bool>,
    pub(crate) not: Option<Box<Spanned<TestDef>>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum SkillsDef {
    List(Vec<String>),
    Levels(BTreeMap<String, i64>),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionsDef {
    pub(crate) priority: Option<Spanned<String>>,
    pub(crate) raise_priority: Option<i64>,
    pub(crate) category: Option<String>,
    pub(crate) skills: Option<Spanned<SkillsDef>>,
    pub(crate) site: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    pub(crate) language: Option<String>,
    pub(crate) ack: Option<bool>,
    pub(crate) confirm_reply: Option<bool>,
    pub(crate) ticket: Option<bool>,
    pub(crate) template: Option<Spanned<String>>,
    pub(crate) agent: Option<Spanned<String>>,
    pub(crate) team: Option<Spanned<String>>,
}
