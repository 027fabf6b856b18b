//! All keyword lists and regexes of all rules, compiled into one automaton and one regex set
//! per field, so a thousand rules cost one pass over each field, about as much as ten.

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexSet};

use super::Field;

/// The free-text fields that get compiled matchers.
pub(crate) const TEXT_FIELDS: [Field; 6] = [
    Field::From,
    Field::FromDomain,
    Field::To,
    Field::Subject,
    Field::Body,
    Field::Text,
];

/// Whether a field is scanned by the compiled matchers (so its hits are known up front).
pub(crate) fn is_text_field(field: &Field) -> bool {
    slot(field).is_some()
}

fn slot(field: &Field) -> Option<usize> {
    TEXT_FIELDS.iter().position(|f| f == field)
}

/// Collects patterns while rules are checked.
#[derive(Default)]
pub(crate) struct MatcherBuilder {
    keywords: Vec<String>,
    keyword_fields: Vec<Option<usize>>,
    regexes: Vec<Regex>,
    regex_fields: Vec<Option<usize>>,
    aliases: Vec<(String, String)>,
}

impl MatcherBuilder {
    /// Registers a keyword list for a field; returns the keywords' ids.
    pub(crate) fn keywords(&mut self, field: &Field, words: &[String]) -> Vec<usize> {
        words
            .iter()
            .map(|word| {
                self.keywords.push(word.trim().to_lowercase());
                self.keyword_fields.push(slot(field));
                self.keywords.len() - 1
            })
            .collect()
    }

    /// Registers a regex for a field; returns its id or the compile error.
    pub(crate) fn regex(&mut self, field: &Field, pattern: &str) -> Result<usize, String> {
        let regex = regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                format!(
                    "invalid regex: {}",
                    e.to_string()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            })?;
        self.regexes.push(regex);
        self.regex_fields.push(slot(field));
        Ok(self.regexes.len() - 1)
    }

    /// Registers a site alias.
    pub(crate) fn alias(&mut self, site: &str, alias: &str) {
        let alias = alias.trim().to_lowercase();
        if !alias.is_empty() {
            self.aliases.push((alias, site.to_owned()));
        }
    }

    pub(crate) fn build(self) -> Result<Matcher, String> {
        let mut automata = Vec::new();
        let mut sets = Vec::new();
        for index in 0..TEXT_FIELDS.len() {
            let ids: Vec<usize> = (0..self.keywords.len())
                .filter(|&k| self.keyword_fields[k] == Some(index) && !self.keywords[k].is_empty())
                .collect();
            let automaton = if ids.is_empty() {
                None
            } else {
                let patterns: Vec<&str> = ids.iter().map(|&k| self.keywords[k].as_str()).collect();
                // A DFA: more memory than the default NFA, but overlapping search (every
                // keyword of every rule) runs several times faster on it.
                let ac = AhoCorasick::builder()
                    .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                    .match_kind(MatchKind::Standard)
                    .build(patterns)
                    .map_err(|e| e.to_string())?;
                Some((ac, ids))
            };
            automata.push(automaton);

            let ids: Vec<usize> = (0..self.regexes.len())
                .filter(|&r| self.regex_fields[r] == Some(index))
                .collect();
            let set = if ids.is_empty() {
                None
            } else {
                let set = RegexSet::new(ids.iter().map(|&r| self.regexes[r].as_str()))
                    .map_err(|e| e.to_string())?;
                Some((set, ids))
            };
            sets.push(set);
        }
        let alias_automaton = if self.aliases.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(self.aliases.iter().map(|(a, _)| a.as_str()))
                    .map_err(|e| e.to_string())?,
            )
        };
        Ok(Matcher {
            keywords: self.keywords,
            regexes: self.regexes,
            automata,
            sets,
            alias_automaton,
            aliases: self.aliases,
        })
    }
}

/// The compiled form.
#[derive(Debug)]
pub(crate) struct Matcher {
    keywords: Vec<String>,
    regexes: Vec<Regex>,
    automata: Vec<Option<(AhoCorasick, Vec<usize>)>>,
    sets: Vec<Option<(RegexSet, Vec<usize>)>>,
    alias_automaton: Option<AhoCorasick>,
    aliases: Vec<(String, String)>,
}

/// What matched in one field: sorted keyword ids and regex ids.
#[derive(Debug, Default)]
pub(crate) struct Hits {
    pub(crate) keywords: Vec<usize>,
    pub(crate) regexes: Vec<usize>,
}

impl Hits {
    pub(crate) fn keyword(&self, id: usize) -> bool {
        self.keywords.binary_search(&id).is_ok()
    }

    pub(crate) fn regex(&self, id: usize) -> bool {
        self.regexes.binary_search(&id).is_ok()
    }
}

impl Matcher {
    /// Whether any rule tests this field with a keyword list or regex.
    pub(crate) fn used(&self, index: usize) -> bool {
        self.automata[index].is_some() || self.sets[index].is_some()
    }

    /// Every keyword (whole word) and regex hit in one field's value.
    pub(crate) fn scan(&self, index: usize, value: &str) -> Hits {
        let mut hits = Hits::default();
        if let Some((automaton, ids)) = &self.automata[index] {
            let lower = value.to_lowercase();
            for found in automaton.find_overlapping_iter(&lower) {
                if is_whole_word(&lower, found.start(), found.end()) {
                    hits.keywords.push(ids[found.pattern().as_usize()]);
                }
            }
            hits.keywords.sort_unstable();
            hits.keywords.dedup();
        }
        if let Some((set, ids)) = &self.sets[index] {
            hits.regexes = set.matches(value).iter().map(|i| ids[i]).collect();
            hits.regexes.sort_unstable();
        }
        hits
    }

    /// How many keywords and regexes were compiled.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.keywords.len(), self.regexes.len())
    }

    /// The keyword text of an id.
    pub(crate) fn keyword_text(&self, id: usize) -> &str {
        &self.keywords[id]
    }

    /// Whether keyword `id` occurs as a whole word in `value` (fields without an automaton).
    pub(crate) fn keyword_in(&self, id: usize, value: &str) -> bool {
        let lower = value.to_lowercase();
        let word = &self.keywords[id];
        !word.is_empty()
            && lower
                .match_indices(word.as_str())
                .any(|(start, w)| is_whole_word(&lower, start, start + w.len()))
    }

    /// The regex of an id.
    pub(crate) fn regex(&self, id: usize) -> &Regex {
        &self.regexes[id]
    }

    /// The site id of the first alias found as a whole word in `text`.
    pub(crate) fn site_alias(&self, text: &str) -> Option<&str> {
        let automaton = self.alias_automaton.as_ref()?;
        let lower = text.to_lowercase();
        automaton
            .find_iter(&lower)
            .find(|m| is_whole_word(&lower, m.start(), m.end()))
            .map(|m| self.aliases[m.pattern().as_usize()].1.as_str())
    }
}

/// True when the match is not glued to letters or digits on either side.
fn is_whole_word(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let first = text[start..end].chars().next();
    let last = text[start..end].chars().next_back();
    let edge_ok = |edge: Option<char>, neighbour: Option<char>| match (edge, neighbour) {
        (Some(e), Some(n)) if e.is_alphanumeric() => !n.is_alphanumeric(),
        _ => true,
    };
    edge_ok(first, before) && edge_ok(last, after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_match_whole_words_in_any_script() {
        let mut builder = MatcherBuilder::default();
        let ids = builder.keywords(
            &Field::Text,
            &["VPN".into(), "весь отдел".into(), "drukarka".into()],
        );
        let matcher = builder.build().unwrap();
        let slot = 5;
        let hits = matcher.scan(slot, "Не работает весь отдел, VPN!");
        assert!(hits.keyword(ids[0]) && hits.keyword(ids[1]));
        let hits = matcher.scan(slot, "myvpnclient drukarkami");
        assert!(!hits.keyword(ids[0]) && !hits.keyword(ids[2]));
    }
}
