//! The command line's contracts: exit statuses, rule errors with positions, dry-run JSON keys.

use crate::helpers::{TestDesk, fixture, request};

#[test]
fn a_broken_rule_file_names_file_line_and_column_and_exits_1() {
    let rules = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(crate::helpers::repo().join("rules"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(entry.path(), rules.path().join(entry.file_name())).unwrap();
    }
    std::fs::write(
        rules.path().join("30-broken.toml"),
        "[[rule]]\nname = \"Bad regex\"\nwhen = { subject = { matches = '(unclosed' } }\nset = { priority = \"high\" }\n",
    )
    .unwrap();
    let desk = TestDesk::with_rules(rules.path());
    let output = desk.run(&["rules", "check"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("30-broken.toml:3:32: invalid regex"),
        "{stderr}"
    );

    // The daemon refuses to start on broken rules, with the same message.
    let serve = desk.run(&["serve"]);
    assert_eq!(serve.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&serve.stderr).contains("30-broken.toml:3:32"));
}

#[test]
fn the_shipped_rules_and_templates_check_clean() {
    let desk = TestDesk::new();
    let rules = desk.run(&["rules", "check"]);
    assert!(
        rules.status.success(),
        "{}",
        String::from_utf8_lossy(&rules.stderr)
    );
    let out = String::from_utf8_lossy(&rules.stdout);
    let agents: usize = out
        .split(" agents")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(agents >= 12, "{out}");
    assert!(desk.run(&["templates", "check"]).status.success());
    let preview = desk.run(&["templates", "preview", "ack", "--lang", "en"]);
    let text = String::from_utf8_lossy(&preview.stdout);
    assert!(text.starts_with("Subject: [#SD-1042] "), "{text}");
}

#[test]
fn rules_test_json_has_the_documented_keys_and_no_side_effects() {
    let desk = TestDesk::new();
    let answer = desk.dry_run(&fixture("mail/requests/07-ru-vpn.eml"));
    for key in [
        "intake",
        "language",
        "site",
        "priority",
        "category",
        "skills",
        "tags",
        "machine",
        "ack",
        "suppressed",
        "rules",
        "thread",
        "agent",
        "ack_preview",
        "secrets",
    ] {
        assert!(answer.get(key).is_some(), "missing key {key}: {answer}");
    }
    for key in ["channel", "from", "name", "subject", "body", "text"] {
        assert!(answer["intake"].get(key).is_some(), "missing intake.{key}");
    }
    assert!(
        answer["skills"].is_object() && answer["tags"].is_array() && answer["rules"].is_array()
    );
    assert!(["critical", "high", "normal", "low"].contains(&answer["priority"].as_str().unwrap()));
    let matched: Vec<&str> = answer["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["matched"] == true)
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(!matched.is_empty(), "{answer}");
    assert!(
        answer["ack_preview"]["subject"]
            .as_str()
            .unwrap()
            .starts_with("[#SD-1000]")
    );
    assert!(
        desk.db.try_query("SELECT COUNT(*) FROM tickets").is_err(),
        "a dry run must not create a database"
    );
}

#[test]
fn an_unavailable_database_exits_75_so_the_mta_retries() {
    let desk = TestDesk::new();
    let path = desk.write_message(
        "m.eml",
        &request("a@example.com", "Hi", "Help", "u1@example.com"),
    );
    // SQLite: a file where the database's folder should be, so it cannot be created.
    // PostgreSQL: a port nothing listens on.
    std::fs::write(desk.path("blocker"), "not a folder").unwrap();
    let url = if desk.db.is_postgres() {
        "postgres://switchboard@127.0.0.1:1/nowhere".to_owned()
    } else {
        format!("sqlite://{}/db.sqlite", desk.path("blocker").display())
    };
    let output = desk
        .command(&["ingest", &path.display().to_string()])
        .env("SWITCHBOARD_DATABASE_URL", url)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_locked_database_exits_75_and_loses_nothing() {
    let desk = TestDesk::new();
    assert!(desk.run(&["migrate"]).status.success());
    let path = desk.write_message(
        "m.eml",
        &request("a@example.com", "Locked", "Help", "lk1@example.com"),
    );
    let (url, lock, unlock) = if desk.db.is_postgres() {
        // The advisory lock every write transaction of Switchboard's takes ("SWBT").
        (
            desk.db.read_url.clone(),
            "SELECT pg_advisory_lock(1398227540)",
            "SELECT pg_advisory_unlock(1398227540)",
        )
    } else {
        (
            format!("sqlite://{}", desk.path("var/switchboard.db").display()),
            "BEGIN EXCLUSIVE",
            "ROLLBACK",
        )
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    sqlx::any::install_default_drivers();
    let output = runtime.block_on(async {
        use sqlx::Connection;
        let mut holder = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::query(lock).execute(&mut holder).await.unwrap();
        let output = desk.run(&["ingest", &path.display().to_string()]);
        sqlx::query(unlock).execute(&mut holder).await.unwrap();
        output
    });
    assert_eq!(
        output.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Once the lock is gone the same message goes in, exactly once.
    let lines = desk.ingest(&[&path]);
    assert_eq!(lines[0].outcome, "new");
    assert_eq!(desk.query("SELECT COUNT(*) FROM tickets")[0][0], "1");
}

#[test]
fn configuration_errors_exit_78_and_usage_errors_64() {
    let desk = TestDesk::new();
    std::fs::write(desk.config(), "[desk]\nticket_prefix = \"sd\"\n").unwrap();
    let output = desk.run(&["rules", "check"]);
    assert_eq!(output.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&output.stderr).contains("desk.ticket_prefix"));
    let usage = desk.run(&["ingest"]);
    assert_eq!(usage.status.code(), Some(64));
}
