//! Pipeline speed without I/O: normalize → guard → secrets → thread → classify → route with the
//! shipped rules, and classification alone with 1,000 generated rules.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard::config::Limits;
use switchboard::pipeline::normalize::normalize_email;
use switchboard::pipeline::{Desk, StoreFacts, analyze};
use switchboard::rules::{Facts, RuleSet, load_dir, load_sources};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn messages() -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    for folder in [
        "tests/fixtures/mail/requests",
        "tests/fixtures/mail/encodings",
        "tests/fixtures/mail/guard",
    ] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(repo().join(folder))
            .expect("fixtures")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        paths.sort();
        messages.extend(
            paths
                .iter()
                .map(|p| std::fs::read(p).expect("read fixture")),
        );
    }
    messages
}

fn shipped_rules() -> RuleSet {
    load_dir(
        &repo().join("rules"),
        &["ack".to_owned(), "notify".to_owned()],
    )
    .expect("shipped rules load")
}

fn monday() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

fn pipeline(c: &mut Criterion) {
    let rules = shipped_rules();
    let messages = messages();
    let own = vec!["support@example.com".to_owned()];
    let desk = Desk {
        own_addresses: &own,
        default_language: "en",
        default_site: "remote",
        ack_limit: 3,
        first_contact: Default::default(),
    };
    let facts = StoreFacts::default();
    let limits = Limits::default();
    let now = monday();
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("normalize_to_route_shipped_rules", |b| {
        b.iter(|| {
            for raw in &messages {
                if let Ok(intake) = normalize_email(raw, "bench".into(), now, &limits) {
                    black_box(analyze(&intake, &facts, &rules, &desk, now, false));
                }
            }
        })
    });
    group.finish();
}

/// 1,000 rules: keyword lists on text and subject, every tenth a regex, some on headers.
fn generated_rules(count: usize) -> RuleSet {
    let base = std::fs::read_to_string(repo().join("rules/agents.toml")).expect("agents");
    let sites = std::fs::read_to_string(repo().join("rules/sites.toml")).expect("sites");
    let teams = std::fs::read_to_string(repo().join("rules/teams.toml")).expect("teams");
    let sla = std::fs::read_to_string(repo().join("rules/sla.toml")).expect("sla");
    let mut text = String::new();
    for i in 0..count {
        let when = match i % 10 {
            0 => {
                format!("when = {{ text = {{ matches = '(?i)\\berror code {i}\\b|fault-{i}' }} }}")
            }
            1 => format!("when = {{ subject = {{ any = [\"subject{i}\", \"topic {i}\"] }} }}"),
            2 => format!("when = {{ from_domain = {{ equals = \"dept{i}.example.com\" }} }}"),
            _ => format!(
                "when = {{ text = {{ any = [\"word{i}a\", \"word{i}b\", \"two words {i}\", \"słowo{i}\", \"слово{i}\"] }} }}"
            ),
        };
        text.push_str(&format!(
            "[[rule]]\nname = \"generated {i}\"\n{when}\nset = {{ category = \"c{}\", tags = [\"t{}\"] }}\n\n",
            i % 9,
            i % 17
        ));
    }
    let sources = vec![
        (Path::new("agents.toml").to_path_buf(), base),
        (Path::new("sites.toml").to_path_buf(), sites),
        (Path::new("teams.toml").to_path_buf(), teams),
        (Path::new("sla.toml").to_path_buf(), sla),
        (Path::new("generated.toml").to_path_buf(), text),
    ];
    load_sources(&sources, &[]).expect("generated rules load")
}

fn classify(c: &mut Criterion) {
    let body = "Hello, since this morning the VPN client shows error code 512 and I cannot reach the \
                shared drive from home. I restarted the laptop twice. word7a appears here. Thanks, Anna";
    let text = format!("VPN problem\n{body}");
    let to = vec!["support@example.com".to_owned()];
    let facts = Facts {
        channel: "email",
        from: "anna@example.com",
        to: &to,
        subject: "VPN problem",
        body,
        text: &text,
        headers: &[],
        language: "en",
        site: Some("warsaw"),
        groups: &[],
        has_attachment: false,
        business_hours: true,
        machine: None,
        urgency: None,
    };
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(1));
    for count in [10, 1000] {
        let rules = generated_rules(count);
        group.bench_function(format!("{count}_rules"), |b| {
            b.iter(|| black_box(rules.classify(black_box(&facts), false)))
        });
    }
    group.finish();
}

criterion_group!(benches, pipeline, classify);
criterion_main!(benches);
