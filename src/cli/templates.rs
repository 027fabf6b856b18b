//! `switchboard templates check` and `templates preview`.

use std::process::ExitCode;

use serde_json::Value;

use crate::config::Settings;
use crate::outbox::compose::{AckData, NotifyData};
use crate::outbox::templates::Templates;

/// Realistic sample data for a purpose; every variable a template may use is present.
pub(crate) fn sample(purpose: &str) -> Value {
    let ack = AckData {
        reference: "SD-1042".into(),
        subject: "VPN disconnects every few minutes".into(),
        first_name: Some("Anna".into()),
        summary: "VPN disconnects every few minutes".into(),
        agent_first_name: Some("Ivan".into()),
        team_name: "Infrastructure".into(),
        promised: "Monday 23 November, 14:55 (Warsaw time)".into(),
        secrets_found: true,
        desk_phone: "+48 22 555 0100".into(),
        status_url: "http://localhost:8080/t/3f9a1c".into(),
        desk_name: "IT Service Desk".into(),
    };
    let notify = NotifyData {
        reference: "SD-1042".into(),
        subject: "VPN disconnects every few minutes".into(),
        summary: "VPN disconnects every few minutes".into(),
        agent_first_name: "Ivan".into(),
        requester: "Anna Kowalska <anna.kowalska@example.com>".into(),
        site_name: "Warsaw office".into(),
        priority: "high".into(),
        category: "vpn_remote".into(),
        promised: "Monday 23 November, 14:55 (Warsaw time)".into(),
        route_reason: "ivan fits remotely with vpn≥1; load 2/8".into(),
        secrets_found: false,
        desk_name: "IT Service Desk".into(),
    };
    let value = if purpose == "notify" {
        serde_json::to_value(notify)
    } else {
        serde_json::to_value(ack)
    };
    value.unwrap_or(Value::Null)
}

pub(super) fn check(settings: &Settings) -> ExitCode {
    let templates = match Templates::load(&settings.paths.templates) {
        Ok(templates) => templates,
        Err(problems) => {
            for problem in problems {
                eprintln!("{problem}");
            }
            return ExitCode::FAILURE;
        }
    };
    let mut failures = 0;
    let mut count = 0;
    for purpose in templates.purposes() {
        for language in templates.languages(&purpose) {
            count += 1;
            if let Err(problem) = templates.render(&purpose, &language, &sample(&purpose)) {
                eprintln!("{problem}");
                failures += 1;
            }
        }
    }
    // The web pages: every language file complete, every page compiled in every language.
    let web = settings.paths.templates.join("web");
    let pages = crate::channels::web::i18n::Strings::load(
        &web.join("i18n"),
        &settings.desk.default_language,
    )
    .and_then(|strings| {
        crate::channels::web::render::Pages::load(&web, &strings).map(|_| strings.choices().len())
    });
    match pages {
        Ok(languages) => count += languages,
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
    let templates = match Templates::load(&settings.paths.templates) {
        Ok(templates) => templates,
        Err(problems) => {
            for problem in problems {
                eprintln!("{problem}");
            }
            return ExitCode::FAILURE;
        }
    };
    if !templates.purposes().iter().any(|p| p == name) {
        eprintln!(
            "switchboard: no template \"{name}\"; there are: {}",
            templates.purposes().join(", ")
        );
        return ExitCode::from(super::exit::USAGE);
    }
    match templates.render(name, lang, &sample(name)) {
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
