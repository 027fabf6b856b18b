//! `switchboard templates check` and `templates preview`.

use std::process::ExitCode;

use crate::config::Settings;
use crate::i18n::Strings;
use crate::outbox::samples::{render_all, sample};
use crate::outbox::templates::Templates;

/// The desk's words (for promised times and rating labels in the samples).
fn words(settings: &Settings) -> Result<Strings, String> {
    Strings::load(
        &settings.paths.templates.join("web").join("i18n"),
        &settings.desk.default_language,
    )
}

/// Loads the mail templates and the desk's words, printing every problem.
fn load(settings: &Settings) -> Option<(Templates, Strings)> {
    let templates = match Templates::load(&settings.paths.templates) {
        Ok(templates) => templates,
        Err(problems) => {
            for problem in problems {
                eprintln!("{problem}");
            }
            return None;
        }
    };
    match words(settings) {
        Ok(words) => Some((templates, words)),
        Err(problem) => {
            eprintln!("{problem}");
            None
        }
    }
}

pub(super) fn check(settings: &Settings) -> ExitCode {
    let Some((templates, words)) = load(settings) else {
        return ExitCode::FAILURE;
    };
    let (mut count, problems) = render_all(&templates, &words);
    let mut failures = problems.len();
    for problem in problems {
        eprintln!("{problem}");
    }
    // The web pages: every language file complete, every page compiled in every language.
    let web = settings.paths.templates.join("web");
    match crate::channels::web::render::Pages::load(&web, &words) {
        Ok(_) => count += words.choices().len(),
        Err(problem) => {
            eprintln!("{problem}");
            failures += 1;
        }
    }
    if failures > 0 {
        return ExitCode::FAILURE;
    }
    println!("templates OK: {count} rendered with sample data (web pages in every language)");
    ExitCode::SUCCESS
}

pub(super) fn preview(settings: &Settings, name: &str, lang: &str) -> ExitCode {
    let Some((templates, words)) = load(settings) else {
        return ExitCode::FAILURE;
    };
    if !templates.purposes().iter().any(|p| p == name) {
        eprintln!(
            "switchboard: no template \"{name}\"; there are: {}",
            templates.purposes().join(", ")
        );
        return ExitCode::from(super::exit::USAGE);
    }
    match templates.render(name, lang, &sample(name, lang, &words)) {
        Ok(rendered) => {
            println!("Subject: {}\n\n{}", rendered.subject, rendered.text);
            if let Some(html) = rendered.html {
                println!("\n----- HTML part -----\n{html}");
            }
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("{problem}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    const LANGUAGES: [&str; 5] = ["en", "pl", "ru", "hr", "de"];
    const PURPOSES: [&str; 5] = ["ack", "added", "escalated", "notify", "resolved"];

    fn project(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }

    /// Every mail template in every language, rendered with the samples (a fixed clock),
    /// must equal its golden file under `tests/fixtures/golden/`. After an intended change,
    /// `SWITCHBOARD_BLESS=1 cargo test --lib golden` rewrites them; review the diff before committing.
    #[test]
    fn every_template_in_every_language_matches_its_golden_file() {
        let templates = Templates::load(&project("templates")).expect("templates load");
        let words = Strings::load(&project("templates/web/i18n"), "en").expect("words load");
        let bless = std::env::var_os("SWITCHBOARD_BLESS").is_some();
        let mut differences = Vec::new();
        for purpose in PURPOSES {
            assert_eq!(
                templates.languages(purpose),
                {
                    let mut all = LANGUAGES.map(str::to_owned).to_vec();
                    all.sort();
                    all
                },
                "{purpose} has its own template in every desk language"
            );
            for language in LANGUAGES {
                let rendered = templates
                    .render(purpose, language, &sample(purpose, language, &words))
                    .unwrap_or_else(|e| panic!("{purpose}/{language}: {e}"));
                let text = format!("Subject: {}\n\n{}", rendered.subject, rendered.text);
                let html = rendered.html.expect("every template has an HTML part");
                for (extension, got) in [("txt", text), ("html", html)] {
                    let path = project(&format!(
                        "tests/fixtures/golden/{purpose}/{language}.{extension}"
                    ));
                    if bless {
                        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                        std::fs::write(&path, &got).expect("write golden file");
                        continue;
                    }
                    let want = std::fs::read_to_string(&path).unwrap_or_default();
                    if want != got {
                        differences.push(format!("{} differs; rendered:\n{got}", path.display()));
                    }
                }
            }
        }
        assert!(differences.is_empty(), "{}", differences.join("\n\n"));
    }

    #[test]
    fn the_samples_promise_a_local_time_in_each_language() {
        let words = Strings::load(&project("templates/web/i18n"), "en").expect("words load");
        let promised = |language| sample("ack", language, &words)["promised"].clone();
        assert_eq!(promised("en"), "by Monday 23 November, 14:55 (Warsaw time)");
        assert_eq!(
            promised("ru"),
            "до понедельника, 23 ноября, 14:55 по местному времени (Варшава)"
        );
    }
}
