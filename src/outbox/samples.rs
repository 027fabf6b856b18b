//! Realistic sample data for every mail template, with a fixed clock: what `templates
//! check` and `templates preview` render, what the daemon renders before it starts (a
//! template that fails on these would fail on a real request), and what the golden files hold.

use serde_json::Value;

use super::compose::{AckData, AddedData, EscalatedData, NotifyData, ResolvedData, rating_links};
use super::templates::{TemplateProblem, Templates};
use crate::i18n::Strings;
use crate::promise::{Style, promise};
use crate::rules::Site;
use crate::sla::{Calendar, Hours};

/// When the samples promise an answer: Monday 23 November 2026, 14:55 in Warsaw.
const SAMPLE_DUE: &str = "2026-11-23T13:55:00Z";

/// The Warsaw office, whose clock the samples' promises keep.
fn sample_site() -> Site {
    let city = [
        ("pl", "Warszawa"),
        ("ru", "Варшава"),
        ("hr", "Varšava"),
        ("de", "Warschau"),
    ];
    Site {
        id: "warsaw".into(),
        name: "Warsaw office".into(),
        calendar: Calendar {
            tz: chrono_tz::Europe::Warsaw,
            hours: Hours::Always,
            holidays: Vec::new(),
        },
        aliases: Vec::new(),
        mailboxes: Vec::new(),
        phone_prefixes: Vec::new(),
        languages: vec!["pl".into(), "en".into()],
        desk_phone: "+48 22 555 0100".into(),
        city: city
            .iter()
            .map(|(l, c)| ((*l).to_owned(), (*c).to_owned()))
            .collect(),
    }
}

/// What a requester might have written, in `language`.
fn sample_request(language: &str) -> (&'static str, &'static str, &'static str) {
    // (first name, subject, what was added later)
    match language {
        "pl" => (
            "Anna",
            "VPN rozłącza się co kilka minut",
            "Zrzut ekranu z błędem w załączniku.",
        ),
        "ru" => (
            "Анна",
            "VPN отключается каждые несколько минут",
            "Прикладываю скриншот ошибки.",
        ),
        "hr" => (
            "Ana",
            "VPN se prekida svakih nekoliko minuta",
            "Šaljem snimku zaslona s greškom.",
        ),
        "de" => (
            "Anna",
            "Das VPN bricht alle paar Minuten ab",
            "Anbei ein Screenshot der Fehlermeldung.",
        ),
        _ => (
            "Anna",
            "VPN disconnects every few minutes",
            "Here is a screenshot of the error.",
        ),
    }
}

/// Realistic sample data for a purpose in a language, with a fixed promised time; every
/// variable a template may use is present.
pub fn sample(purpose: &str, language: &str, words: &Strings) -> Value {
    let due = chrono::DateTime::parse_from_rfc3339(SAMPLE_DUE)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default();
    let site = sample_site();
    let promised = promise(words, language, due, Some(&site), Style::Mail);
    let (first_name, subject, added) = sample_request(language);
    let status_url = "http://localhost:8080/t/3f9a1c".to_owned();
    let desk_name = "IT Service Desk".to_owned();
    let value = match purpose {
        "notify" => serde_json::to_value(NotifyData {
            reference: "SD-1042".into(),
            subject: subject.into(),
            summary: subject.into(),
            agent_first_name: "Ivan".into(),
            requester: "Anna Kowalska <anna.kowalska@example.com>".into(),
            site_name: site.name.clone(),
            priority: words.text(language, "priority_high", &[]),
            category: "vpn_remote".into(),
            promised,
            route_reason: "ivan fits remotely with vpn≥1; load 2/8".into(),
            secrets_found: true,
            ticket_url: status_url,
            desk_name,
        }),
        "escalated" => serde_json::to_value(EscalatedData {
            reference: "SD-1042".into(),
            subject: subject.into(),
            summary: subject.into(),
            lead_first_name: "Anna".into(),
            agent_first_name: Some("Ivan".into()),
            priority: words.text(language, "priority_critical", &[]),
            promised,
            ticket_url: status_url,
            desk_name,
        }),
        "added" => serde_json::to_value(AddedData {
            reference: "SD-1042".into(),
            subject: subject.into(),
            first_name: Some(first_name.into()),
            summary: added.into(),
            agent_first_name: Some("Ivan".into()),
            team_name: Some("Infrastructure".into()),
            promised,
            status_url,
            desk_name,
        }),
        "resolved" => serde_json::to_value(ResolvedData {
            reference: "SD-1042".into(),
            subject: subject.into(),
            first_name: Some(first_name.into()),
            summary: subject.into(),
            agent_first_name: Some("Ivan".into()),
            resolution: Some(
                "New VPN profile installed; the old one dropped idle connections.".into(),
            ),
            ratings: rating_links(words, language, &status_url),
            status_url,
            desk_name,
        }),
        _ => serde_json::to_value(AckData {
            reference: "SD-1042".into(),
            subject: subject.into(),
            first_name: Some(first_name.into()),
            summary: subject.into(),
            agent_first_name: Some("Ivan".into()),
            team_name: Some("Infrastructure".into()),
            promised,
            secrets_found: true,
            desk_phone: Some(site.desk_phone.clone()),
            status_url,
            desk_name,
        }),
    };
    value.unwrap_or(Value::Null)
}

/// Renders every template purpose in every desk language with the samples: how many were
/// rendered, and each that failed.
pub fn render_all(templates: &Templates, words: &Strings) -> (usize, Vec<TemplateProblem>) {
    let mut count = 0;
    let mut problems = Vec::new();
    for purpose in templates.purposes() {
        // Every desk language, so a language that falls back to English is rendered too.
        for (language, _) in words.choices() {
            count += 1;
            let data = sample(&purpose, &language, words);
            if let Err(problem) = templates.render(&purpose, &language, &data) {
                problems.push(problem);
            }
        }
    }
    (count, problems)
}
