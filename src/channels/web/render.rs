//! The web pages: handlebars templates in `templates/web/` (built in, overridable), HTML
//! escaping on, strict, so a missing value is an error and never a blank on a page.
//!
//! Each page is compiled once per language with its `{{t.key}}` words put in (escaped) at
//! load time: the words never change while the daemon runs, and copying every string into
//! each page's data was most of the cost of a page.

use std::collections::BTreeMap;
use std::path::Path;

use handlebars::Handlebars;
use regex::Regex;
use serde_json::{Map, Value};

use crate::i18n::Strings;

/// Page templates (the layout is a partial every page wraps itself in).
const PAGES: [(&str, &str); 11] = [
    ("layout", include_str!("../../../templates/web/layout.hbs")),
    ("home", include_str!("../../../templates/web/home.hbs")),
    (
        "request",
        include_str!("../../../templates/web/request.hbs"),
    ),
    ("sent", include_str!("../../../templates/web/sent.hbs")),
    ("calls", include_str!("../../../templates/web/calls.hbs")),
    ("status", include_str!("../../../templates/web/status.hbs")),
    ("queue", include_str!("../../../templates/web/queue.hbs")),
    (
        "admin_rules",
        include_str!("../../../templates/web/admin_rules.hbs"),
    ),
    ("stats", include_str!("../../../templates/web/stats.hbs")),
    ("login", include_str!("../../../templates/web/login.hbs")),
    (
        "message",
        include_str!("../../../templates/web/message.hbs"),
    ),
];

/// Static files: stylesheet and the call form's look-up script.
pub const STYLE: &str = include_str!("../../../templates/web/static/site.css");
/// The call form's caller look-up, an enhancement: the form works without it.
pub const CALLS_SCRIPT: &str = include_str!("../../../templates/web/static/calls.js");

/// The compiled page templates, one set per language.
#[derive(Debug)]
pub struct Pages {
    by_language: BTreeMap<String, Handlebars<'static>>,
}

impl Pages {
    /// Compiles the built-in pages, each replaced by `dir/<name>.hbs` when present, in every
    /// language of `strings`.
    pub fn load(dir: &Path, strings: &Strings) -> Result<Pages, String> {
        let mut sources = Vec::new();
        for (name, built_in) in PAGES {
            let path = dir.join(format!("{name}.hbs"));
            sources.push(match std::fs::read_to_string(&path) {
                Ok(text) => (name, text, path.display().to_string()),
                Err(_) => (
                    name,
                    built_in.to_owned(),
                    format!("built-in web/{name}.hbs"),
                ),
            });
        }
        let mut by_language = BTreeMap::new();
        for (lang, _) in strings.choices() {
            let mut registry = Handlebars::new();
            registry.set_strict_mode(true);
            registry.set_dev_mode(false);
            for (name, text, origin) in &sources {
                let text = localize(text, strings.of(&lang));
                let compiled = if *name == "layout" {
                    registry.register_partial(name, text)
                } else {
                    registry.register_template_string(name, text)
                };
                compiled.map_err(|e| format!("{origin}: {e}"))?;
            }
            by_language.insert(lang, registry);
        }
        Ok(Pages { by_language })
    }

    /// Renders a page in a language (English when it has none).
    pub fn render(&self, lang: &str, name: &str, data: &Value) -> Result<String, String> {
        let registry = self
            .by_language
            .get(lang)
            .or_else(|| self.by_language.get("en"))
            .ok_or_else(|| format!("no pages for language {lang}"))?;
        registry
            .render(name, data)
            .map_err(|e| format!("web/{name}.hbs ({lang}): {e}"))
    }
}

/// Puts the language's words into a template: `{{t.key}}` (also `{{@root.t.key}}`) becomes
/// the escaped string. Unknown keys stay, so strict mode reports them when rendering.
fn localize(template: &str, words: &Map<String, Value>) -> String {
    static WORD: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    let Some(word) = WORD
        .get_or_init(|| Regex::new(r"\{\{\s*(?:@root\.|\.\./)?t\.([A-Za-z0-9_]+)\s*\}\}").ok())
        .as_ref()
    else {
        return template.to_owned();
    };
    word.replace_all(template, |captures: &regex::Captures<'_>| {
        match words.get(&captures[1]).and_then(Value::as_str) {
            Some(text) => handlebars::html_escape(text),
            None => captures[0].to_owned(),
        }
    })
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_put_in_escaped_and_unknown_ones_stay() {
        let mut words = Map::new();
        words.insert("title".into(), Value::String("Tom & <Jerry>".into()));
        assert_eq!(
            localize(
                "<h1>{{t.title}}</h1>{{ @root.t.title }}{{t.missing}}",
                &words
            ),
            "<h1>Tom &amp; &lt;Jerry&gt;</h1>Tom &amp; &lt;Jerry&gt;{{t.missing}}"
        );
    }

    #[test]
    fn every_page_compiles_with_every_word_in_every_language() {
        let strings = Strings::load(Path::new("/nonexistent"), "en").unwrap();
        let pages = Pages::load(Path::new("/nonexistent"), &strings).unwrap();
        assert_eq!(pages.by_language.len(), 5);
        let leftover = Regex::new(r"\{\{[^}]*\bt\.[A-Za-z0-9_]+").unwrap();
        for (lang, _) in strings.choices() {
            for (name, source) in PAGES {
                let localized = localize(source, strings.of(&lang));
                assert!(
                    !leftover.is_match(&localized),
                    "{name} ({lang}) names a word the language file lacks: {:?}",
                    leftover.find(&localized).map(|m| m.as_str())
                );
            }
        }
    }
}
