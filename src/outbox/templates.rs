//! Handlebars templates for the mail we send: `templates/<purpose>/<lang>.hbs` (text, subject
//! on the first line) and `<lang>.html.hbs`. Built-in English ones are embedded; files in the
//! templates folder override or add to them. Strict: a missing variable is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use handlebars::Handlebars;
use serde::Serialize;

/// The built-in templates of one purpose: text and HTML in each desk language.
macro_rules! built_in {
    ($purpose:literal) => {
        built_in!(@langs $purpose, "en", "pl", "ru", "hr", "de")
    };
    (@langs $purpose:literal, $($lang:literal),*) => {
        [$(
            (
                concat!($purpose, "/", $lang, ".hbs"),
                include_str!(concat!("../../templates/", $purpose, "/", $lang, ".hbs")),
            ),
            (
                concat!($purpose, "/", $lang, ".html.hbs"),
                include_str!(concat!("../../templates/", $purpose, "/", $lang, ".html.hbs")),
            ),
        )*]
    };
}

/// Built-in templates, so a bare binary still answers everyone in their language; files in
/// the templates folder replace them one by one.
const BUILT_IN: [[(&str, &str); 10]; 5] = [
    built_in!("ack"),
    built_in!("added"),
    built_in!("escalated"),
    built_in!("notify"),
    built_in!("resolved"),
];

/// A template problem, with the file and position.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct TemplateProblem {
    /// The template file (or built-in name).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A rendered message: subject, text and HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// First line of the text template.
    pub subject: String,
    /// The rest of the text template.
    pub text: String,
    /// The HTML template, if there is one.
    pub html: Option<String>,
}

/// Every template, compiled.
pub struct Templates {
    text: Handlebars<'static>,
    html: Handlebars<'static>,
    /// (purpose, language) → whether an HTML part exists.
    available: BTreeMap<(String, String), bool>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("available", &self.available)
            .finish()
    }
}

impl Templates {
    /// Loads the built-ins, then every `*.hbs` under `dir/<purpose>/` (except `web/`).
    pub fn load(dir: &Path) -> Result<Templates, Vec<TemplateProblem>> {
        let mut sources: BTreeMap<String, (String, String)> = BTreeMap::new();
        for &(name, text) in BUILT_IN.iter().flatten() {
            sources.insert(
                name.to_owned(),
                (format!("<built-in>/{name}"), text.to_owned()),
            );
        }
        let mut problems = Vec::new();
        if let Ok(purposes) = std::fs::read_dir(dir) {
            for purpose in purposes
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
            {
                let Some(purpose_name) = purpose
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(str::to_owned)
                else {
                    continue;
                };
                if purpose_name == "web" || purpose_name == "partials" {
                    continue;
                }
                let Ok(files) = std::fs::read_dir(&purpose) else {
                    continue;
                };
                for file in files.filter_map(Result::ok).map(|e| e.path()) {
                    let Some(file_name) =
                        file.file_name().and_then(|n| n.to_str()).map(str::to_owned)
                    else {
                        continue;
                    };
                    if !file_name.ends_with(".hbs") {
                        continue;
                    }
                    match std::fs::read_to_string(&file) {
                        Ok(text) => {
                            sources.insert(
                                format!("{purpose_name}/{file_name}"),
                                (display(&file), text),
                            );
                        }
                        Err(e) => problems.push(TemplateProblem {
                            file: display(&file),
                            line: 1,
                            column: 1,
                            message: format!("cannot read: {e}"),
                        }),
                    }
                }
            }
        }
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        let mut available = BTreeMap::new();
        for (key, (file, source)) in &sources {
            let (registry, key_name) = match key.strip_suffix(".html.hbs") {
                Some(stem) => (&mut html, stem),
                None => (&mut text, key.trim_end_matches(".hbs")),
            };
            if let Err(e) = registry.register_template_string(key_name, source) {
                let (line, column) = e.pos().unwrap_or((1, 1));
                problems.push(TemplateProblem {
                    file: file.clone(),
                    line,
                    column,
                    message: e.reason().to_string(),
                });
                continue;
            }
            if let Some((purpose, lang)) = key_name.split_once('/') {
                let entry = available
                    .entry((purpose.to_owned(), lang.to_owned()))
                    .or_insert(false);
                *entry |= key.ends_with(".html.hbs");
            }
        }
        if problems.is_empty() {
            Ok(Templates {
                text,
                html,
                available,
            })
        } else {
            Err(problems)
        }
    }

    /// Template purposes that exist (e.g. `ack`, `notify`).
    pub fn purposes(&self) -> Vec<String> {
        let mut purposes: Vec<String> = self.available.keys().map(|(p, _)| p.clone()).collect();
        purposes.dedup();
        purposes
    }

    /// Languages a purpose has.
    pub fn languages(&self, purpose: &str) -> Vec<String> {
        self.available
            .keys()
            .filter(|(p, _)| p == purpose)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Renders `purpose` in `language`, falling back to English when that language has none.
    pub fn render(
        &self,
        purpose: &str,
        language: &str,
        data: &impl Serialize,
    ) -> Result<Rendered, TemplateProblem> {
        let language = if self
            .available
            .contains_key(&(purpose.to_owned(), language.to_owned()))
        {
            language
        } else {
            "en"
        };
        let name = format!("{purpose}/{language}");
        let full = self
            .text
            .render(&name, data)
            .map_err(|e| problem(&name, ".hbs", &e))?;
        let (subject, body) = full.split_once('\n').unwrap_or((full.as_str(), ""));
        let html = if self
            .available
            .get(&(purpose.to_owned(), language.to_owned()))
            == Some(&true)
        {
            Some(
                self.html
                    .render(&name, data)
                    .map_err(|e| problem(&name, ".html.hbs", &e))?,
            )
        } else {
            None
        };
        let subject = subject.trim().to_owned();
        if subject.is_empty() {
            return Err(TemplateProblem {
                file: format!("{name}.hbs"),
                line: 1,
                column: 1,
                message: "the first line (the subject) rendered empty".to_owned(),
            });
        }
        Ok(Rendered {
            subject,
            text: body.trim_start_matches(['\r', '\n']).to_owned(),
            html,
        })
    }
}

fn problem(name: &str, suffix: &str, error: &handlebars::RenderError) -> TemplateProblem {
    TemplateProblem {
        file: format!("templates/{name}{suffix}"),
        line: error.line_no.unwrap_or(1),
        column: error.column_no.unwrap_or(1),
        message: error.reason().to_string(),
    }
}

fn display(path: &Path) -> String {
    PathBuf::from(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_template_names_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ack")).unwrap();
        std::fs::write(
            dir.path().join("ack/pl.hbs"),
            "Temat\n\nCześć {{#if first_name}}\n",
        )
        .unwrap();
        let problems = Templates::load(dir.path()).unwrap_err();
        assert!(problems[0].file.ends_with("ack/pl.hbs"), "{problems:?}");
        assert!(problems[0].line >= 3, "{problems:?}");
    }

    #[test]
    fn a_missing_variable_is_an_error_not_a_blank() {
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let err = templates
            .render("ack", "en", &serde_json::json!({"reference": "SD-1"}))
            .unwrap_err();
        assert!(err.file.contains("ack/en"), "{err}");
    }

    #[test]
    fn a_language_without_a_template_falls_back_to_english_and_a_file_replaces_a_built_in() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ack")).unwrap();
        std::fs::write(
            dir.path().join("ack/de.hbs"),
            "Betreff {{reference}}\n\nHallo.\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("ack/de.html.hbs"),
            "<p>Hallo {{reference}}</p>",
        )
        .unwrap();
        let templates = Templates::load(dir.path()).unwrap();
        let data = serde_json::json!({"reference": "SD-1"});
        let german = templates.render("ack", "de", &data).unwrap();
        assert_eq!(german.subject, "Betreff SD-1");
        assert_eq!(german.html.as_deref(), Some("<p>Hallo SD-1</p>"));
        let french = templates.render("ack", "fr", &data).unwrap_err();
        assert!(
            french.file.contains("ack/en"),
            "French falls back to English: {french}"
        );
    }
}
