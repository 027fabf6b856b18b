//! `switchboard rules check` and `rules test`.

use std::path::Path;
use std::process::ExitCode;

use crate::config::Settings;
use crate::engine::{EngineError, load_rules};
use crate::outbox::templates::Templates;
use crate::store::Store;

pub(super) fn check(settings: Settings) -> ExitCode {
    let templates = match Templates::load(&settings.paths.templates) {
        Ok(templates) => templates,
        Err(problems) => {
            for problem in problems {
                eprintln!("{problem}");
            }
            return ExitCode::FAILURE;
        }
    };
    match load_rules(&settings, &templates) {
        Ok(rules) => {
            println!(
                "rules OK: {} files, {} sites, {} agents, {} teams, {} groups, {} rules",
                rules.files.len(),
                rules.sites.len(),
                rules.agents.len(),
                rules.teams.len(),
                rules.groups.len(),
                rules.rule_count()
            );
            ExitCode::SUCCESS
        }
        Err(EngineError::Rules(problems)) => {
            for problem in &problems {
                eprintln!("{problem}");
            }
            eprintln!("{} problem(s); the rules were not loaded", problems.len());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

pub(super) async fn test(settings: Settings, json: bool, message: &Path) -> ExitCode {
    let raw = match std::fs::read(message) {
        Ok(raw) => raw,
        Err(e) => {
            eprintln!("switchboard: {}: {e}", message.display());
            return ExitCode::from(super::exit::USAGE);
        }
    };
    let engine = match super::load_engine(settings) {
        Ok(engine) => engine,
        Err(code) => return code,
    };
    let store = match existing_database(&engine.settings.database.connect_url()) {
        Some(url) => Store::open_read_only(&url).await.ok(),
        None => None,
    };
    let result = crate::ingest::dry_run(&engine, store.as_ref(), &raw).await;
    let answer = match result {
        Ok(answer) => answer.0,
        Err(e) => return super::store_exit(&e),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&answer).unwrap_or_default()
        );
    } else {
        print_human(&answer);
    }
    ExitCode::SUCCESS
}

/// The database URL when its file exists: a dry run never creates one. A PostgreSQL
/// database is used when it has the schema (checked on opening).
fn existing_database(url: &str) -> Option<String> {
    if crate::store::Backend::of_url(url) == Some(crate::store::Backend::Postgres) {
        return Some(url.to_owned());
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let file = path.split('?').next()?;
    Path::new(file).is_file().then(|| url.to_owned())
}

fn print_human(answer: &serde_json::Value) {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let intake = &answer["intake"];
    println!("== Intake");
    println!(
        "from:     {} ({})",
        text(&intake["from"]),
        text(&intake["name"])
    );
    println!("subject:  {}", text(&intake["subject"]));
    println!(
        "new text: {}",
        text(&intake["text"])
            .lines()
            .take(6)
            .collect::<Vec<_>>()
            .join("\n          ")
    );
    println!("\n== Facts");
    println!(
        "language: {}   site: {}   machine: {}   secrets: {}",
        text(&answer["language"]),
        text(&answer["site"]),
        text(&answer["machine"]),
        text(&answer["secrets"])
    );
    println!(
        "database: {}",
        if answer["database"] == true {
            "read for threading and agent load"
        } else {
            "none: threading and agent load not considered"
        }
    );
    println!("\n== Rules");
    if let Some(rules) = answer["rules"].as_array() {
        for rule in rules {
            let mark = if rule["matched"] == true {
                "MATCH"
            } else {
                "  -  "
            };
            println!("{mark} {}", text(&rule["name"]));
            if rule["matched"] == true || rule["why"].as_str().is_some_and(|w| w.contains('✓')) {
                println!("        {}", text(&rule["why"]));
            }
        }
    }
    println!("\n== Decision");
    println!("{}", text(&answer["decision"]));
    println!(
        "priority: {}   category: {}   skills: {}   tags: {}",
        text(&answer["priority"]),
        text(&answer["category"]),
        text(&answer["skills"]),
        text(&answer["tags"])
    );
    println!("thread:   {}", text(&answer["thread"]));
    println!(
        "agent:    {} — {}",
        text(&answer["agent"]),
        text(&answer["route_reason"])
    );
    println!("due:      {}", text(&answer["due_at"]));
    println!("\n== Acknowledgement");
    match answer["ack_preview"].as_object() {
        Some(preview) => println!(
            "Subject: {}\n\n{}",
            text(&preview["subject"]),
            text(&preview["body"])
        ),
        None => println!("none ({})", text(&answer["suppressed"])),
    }
}
