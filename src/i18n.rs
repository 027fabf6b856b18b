//! The desk's words in its languages (`templates/web/i18n/<lang>.toml`): the web pages, and
//! the pieces the mail templates get ready-made (promised times, priorities, rating words);
//! and which language a visitor gets: `?lang=`, then their earlier choice, then
//! `Accept-Language`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

/// Built in, so a desk without a `templates/web/i18n` folder still shows every page.
const BUILT_IN: [(&str, &str); 5] = [
    ("en", include_str!("../templates/web/i18n/en.toml")),
    ("pl", include_str!("../templates/web/i18n/pl.toml")),
    ("ru", include_str!("../templates/web/i18n/ru.toml")),
    ("hr", include_str!("../templates/web/i18n/hr.toml")),
    ("de", include_str!("../templates/web/i18n/de.toml")),
];

/// Every language's strings, keyed by language code.
#[derive(Debug, Clone)]
pub struct Strings {
    languages: BTreeMap<String, Map<String, Value>>,
    default: String,
}

impl Strings {
    /// Loads the built-in languages, replaced by files of the same name in `dir`. Every
    /// language must have every key English has.
    pub fn load(dir: &Path, default: &str) -> Result<Strings, String> {
        let mut languages = BTreeMap::new();
        for (code, text) in BUILT_IN {
            let path = dir.join(format!("{code}.toml"));
            let (text, origin) = match std::fs::read_to_string(&path) {
                Ok(text) => (text, path.display().to_string()),
                Err(_) => (text.to_owned(), format!("built-in {code}.toml")),
            };
            let table: toml::Table = toml::from_str(&text).map_err(|e| format!("{origin}: {e}"))?;
            let value = serde_json::to_value(table).map_err(|e| format!("{origin}: {e}"))?;
            let Value::Object(map) = value else {
                return Err(format!("{origin}: expected a table of strings"));
            };
            languages.insert(code.to_owned(), map);
        }
        let english = languages.get("en").cloned().unwrap_or_default();
        for (code, map) in &languages {
            let missing: Vec<&str> = english
                .keys()
                .filter(|k| !map.contains_key(*k))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "templates/web/i18n/{code}.toml lacks {} (copy them from en.toml and translate)",
                    missing.join(", ")
                ));
            }
        }
        let default = if languages.contains_key(default) {
            default.to_owned()
        } else {
            "en".to_owned()
        };
        Ok(Strings { languages, default })
    }

    /// The strings of one language (the default's when unknown).
    pub fn of(&self, code: &str) -> &Map<String, Value> {
        self.languages
            .get(code)
            .or_else(|| self.languages.get(&self.default))
            .or_else(|| self.languages.values().next())
            .unwrap_or_else(|| empty())
    }

    /// One string, `{name}` placeholders filled.
    pub fn text(&self, code: &str, key: &str, fill: &[(&str, &str)]) -> String {
        let mut text = self
            .of(code)
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or(key)
            .to_owned();
        for (name, value) in fill {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    /// A list of strings (weekday names).
    pub fn list(&self, code: &str, key: &str) -> Vec<String> {
        self.of(code)
            .get(key)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether this language has strings.
    pub fn has(&self, code: &str) -> bool {
        self.languages.contains_key(code)
    }

    /// Every language: code and own name, for the switcher.
    pub fn choices(&self) -> Vec<(String, String)> {
        self.languages
            .iter()
            .map(|(code, map)| {
                let name = map
                    .get("language_name")
                    .and_then(Value::as_str)
                    .unwrap_or(code);
                (code.clone(), name.to_owned())
            })
            .collect()
    }

    /// Picks the language: an explicit choice, else the best of `Accept-Language`, else the
    /// desk default.
    pub fn negotiate(&self, chosen: Option<&str>, accept_language: Option<&str>) -> String {
        if let Some(code) = chosen.filter(|c| self.has(c)) {
            return code.to_owned();
        }
        let mut offers: Vec<(f32, String)> = accept_language
            .unwrap_or("")
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let tag = pieces.next()?.trim().to_lowercase();
                let primary = tag.split('-').next()?.to_owned();
                let quality = pieces
                    .find_map(|p| p.trim().strip_prefix("q=").map(str::to_owned))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                // Serbian and Bosnian readers read Croatian pages more easily than English ones.
                let primary = match primary.as_str() {
                    "sr" | "bs" | "sh" => "hr".to_owned(),
                    _ => primary,
                };
                Some((quality, primary))
            })
            .filter(|(quality, code)| *quality > 0.0 && self.has(code))
            .collect();
        offers.sort_by(|a, b| b.0.total_cmp(&a.0));
        offers
            .into_iter()
            .next()
            .map(|(_, code)| code)
            .unwrap_or_else(|| self.default.clone())
    }
}

fn empty() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings() -> Strings {
        Strings::load(Path::new("/nonexistent"), "en").unwrap()
    }

    #[test]
    fn every_language_has_every_key() {
        let strings = strings();
        assert_eq!(strings.choices().len(), 5);
        for (code, _) in strings.choices() {
            assert_eq!(strings.list(&code, "weekdays_by").len(), 7, "{code}");
            assert_eq!(strings.list(&code, "weekdays_short").len(), 7, "{code}");
        }
    }

    #[test]
    fn accept_language_picks_the_best_desk_language() {
        let strings = strings();
        assert_eq!(
            strings.negotiate(None, Some("pl-PL,pl;q=0.9,en;q=0.8")),
            "pl"
        );
        assert_eq!(strings.negotiate(None, Some("fr;q=1.0, de;q=0.5")), "de");
        assert_eq!(strings.negotiate(None, Some("sr-Latn")), "hr");
        assert_eq!(strings.negotiate(None, Some("ja")), "en");
        assert_eq!(strings.negotiate(Some("ru"), Some("de")), "ru");
        assert_eq!(strings.negotiate(Some("xx"), None), "en");
    }

    #[test]
    fn placeholders_are_filled() {
        let strings = strings();
        assert_eq!(
            strings.text("en", "sent_urgent", &[("phone", "+48 22 555 0100")]),
            "If it becomes urgent, call us: +48 22 555 0100."
        );
    }
}
