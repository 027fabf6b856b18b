//! E-mail in and out against real Dovecot and Postfix on loopback (`tests/env/mail.sh up`).

#[path = "../support/database.rs"]
mod database;
mod env;

use std::time::{Duration, Instant};

use env::{Daemon, MailEnv, header, request};

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn a_mailed_request_is_acknowledged_through_the_real_servers_without_polling() {
    let env = MailEnv::take_turn();
    // poll_seconds = 300: only IDLE can bring the message in within the wait below.
    let daemon = Daemon::start(&env);
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    env.send(
        "anna.nowak@example.org",
        "support@example.com",
        &request(
            "Anna Nowak <anna.nowak@example.org>",
            "Drukarka nie drukuje",
            "Drukarka w biurze w Warszawie nie drukuje od rana.",
            "m1@example.com",
        ),
    );
    let sink = env.wait_for_acks(1, Duration::from_secs(10));
    eprintln!(
        "request sent to acknowledgement delivered: {:?}",
        sent.elapsed()
    );
    let ack = sink
        .iter()
        .find(|m| header(m, "To").is_some_and(|t| t.contains("anna.nowak")))
        .expect("ack to Anna");
    assert!(
        header(ack, "Subject").unwrap().starts_with("[#SD-1000]"),
        "{ack}"
    );
    assert_eq!(
        header(ack, "In-Reply-To").as_deref(),
        Some("<m1@example.com>")
    );
    assert_eq!(
        header(ack, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        header(ack, "X-Auto-Response-Suppress").as_deref(),
        Some("All")
    );
    assert!(header(ack, "Message-ID").unwrap().starts_with("<SD-1000."));
    // The original left the inbox for the processed folder, after the commit. Dovecot's
    // maildir MOVE links the copy before it unlinks the original, and later renames it from
    // new/ to cur/ (a listing can see it in both for an instant): wait for the settled state.
    let started = Instant::now();
    while (env.support_folder(".Processed").len() != 1 || !env.support_folder("").is_empty())
        && started.elapsed() < WAIT
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(env.support_folder("").len(), 0, "the inbox is empty");
    assert_eq!(env.support_folder(".Processed").len(), 1);
    assert_eq!(
        daemon.count("SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND status = 'sent'"),
        1,
        "{}",
        daemon.log()
    );
}

#[test]
fn machine_mail_gets_no_acknowledgement_and_a_reply_joins_its_ticket() {
    let env = MailEnv::take_turn();
    let daemon = Daemon::start(&env);
    env.send(
        "ivan@example.org",
        "support@example.com",
        &request(
            "ivan@example.org",
            "VPN ne radi",
            "VPN se ne spaja od jutros.",
            "r1@example.org",
        ),
    );
    let first = env.wait_for_acks(1, WAIT);
    let ack = first
        .iter()
        .find(|m| header(m, "To").is_some_and(|to| to.contains("ivan@example.org")))
        .expect("the acknowledgement to Ivan");
    let ack_id = header(ack, "Message-ID").expect("ack id");
    env.send(
        "ivan@example.org",
        "support@example.com",
        &request(
            "ivan@example.org",
            "odgovor",
            "Evo snimke zaslona.",
            "r2@example.org",
        )
        .replace(
            "MIME-Version",
            &format!("In-Reply-To: {ack_id}\nMIME-Version"),
        ),
    );
    env.send("ivan@example.org", "support@example.com",
        "From: ivan@example.org\nTo: support@example.com\nSubject: Out of office\nAuto-Submitted: auto-replied\nMessage-ID: <r3@example.org>\n\nI am away.\n");
    env.send("news@example.net", "support@example.com",
        "From: news@example.net\nTo: support@example.com\nSubject: Newsletter\nList-Id: <news.example.net>\nMessage-ID: <r4@example.net>\n\nNews.\n");
    daemon.wait_count(
        "SELECT COUNT(*) FROM intake_keys WHERE key LIKE 'imap:%'",
        4,
        WAIT,
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        env.acks().len(),
        1,
        "only the first request was acknowledged"
    );
    assert_eq!(daemon.count("SELECT COUNT(*) FROM tickets"), 1);
    assert_eq!(
        daemon.count("SELECT COUNT(*) FROM events WHERE kind = 'message'"),
        1,
        "the reply joined SD-1000"
    );
    assert_eq!(daemon.count("SELECT COUNT(*) FROM suppressed"), 2);
}

#[test]
fn restarting_the_daemon_reads_nothing_twice() {
    let env = MailEnv::take_turn();
    let mut daemon = Daemon::start(&env);
    env.send(
        "a@example.org",
        "support@example.com",
        &request("a@example.org", "Monitor", "Flickers.", "s1@example.org"),
    );
    env.wait_for_acks(1, WAIT);
    daemon.stop(false);
    daemon.run(&env);
    env.send(
        "b@example.org",
        "support@example.com",
        &request("b@example.org", "Mouse", "Broken.", "s2@example.org"),
    );
    env.wait_for_acks(2, WAIT);
    daemon.wait_count("SELECT COUNT(*) FROM tickets", 2, WAIT);
    daemon.stop(true);
    daemon.run(&env);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(daemon.count("SELECT COUNT(*) FROM tickets"), 2);
    assert_eq!(env.acks().len(), 2);
}

#[test]
fn with_smtp_down_nothing_is_lost_and_everything_goes_out_when_it_is_back() {
    let env = MailEnv::take_turn();
    let daemon = Daemon::start(&env);
    env.postfix("stop");
    for i in 0..3 {
        env.drop_into_inbox(
            &format!("outage{i}"),
            &request(
                &format!("u{i}@example.org"),
                "Laptop",
                "Broken.",
                &format!("o{i}@example.org"),
            ),
        );
    }
    daemon.wait_count(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND attempts > 0",
        3,
        WAIT,
    );
    assert_eq!(env.acks().len(), 0);
    env.postfix("start");
    let sink = env.wait_for_acks(3, WAIT);
    assert_eq!(sink.len(), 3);
    daemon.wait_count("SELECT COUNT(*) FROM outbox WHERE status = 'sent'", 3, WAIT);
}

#[test]
fn a_password_is_gone_from_the_server_and_the_processed_folder_holds_a_redacted_copy() {
    let env = MailEnv::take_turn();
    let daemon = Daemon::start(&env);
    env.send(
        "jan@example.org",
        "support@example.com",
        &request(
            "jan@example.org",
            "Login",
            "My password: Zima2026! does not work.",
            "p1@example.org",
        ),
    );
    let sink = env.wait_for_acks(1, WAIT);
    assert!(sink[0].contains("change it now"), "the ack warns kindly");
    daemon.wait_count(
        "SELECT COUNT(*) FROM tickets WHERE secrets_found = 1",
        1,
        WAIT,
    );
    // The redacted copy is appended first, then the original expunged: wait for both.
    let started = Instant::now();
    while (env.support_folder(".Processed").is_empty() || !env.support_folder("").is_empty())
        && started.elapsed() < WAIT
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let processed = env.support_folder(".Processed");
    let copy = processed.iter().find(|m| m.contains("p1@example.org"));
    let copy = copy.unwrap_or_else(|| panic!("no redacted copy in Processed: {processed:?}"));
    assert!(copy.contains("[password removed]"), "{copy}");
    for folder in ["", ".Processed", ".Quarantine"] {
        for message in env.support_folder(folder) {
            assert!(
                !message.contains("Zima2026"),
                "the secret is still on the server in {folder:?}"
            );
        }
    }
}

#[test]
fn imaps_works_with_the_right_ca_and_fails_clearly_with_the_wrong_one() {
    let env = MailEnv::take_turn();
    let url = format!("imaps://127.0.0.1:{}", env.port("IMAPS_PORT"));
    let mut wrong = Daemon::configure(
        &env,
        &url.replace("127.0.0.1", "localhost"),
        &env.var("OTHER_CA_FILE"),
        "poll_seconds = 1",
    );
    wrong.run(&env);
    env.send(
        "t@example.org",
        "support@example.com",
        &request("t@example.org", "TLS", "Hello.", "tls1@example.org"),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(wrong.count("SELECT COUNT(*) FROM tickets"), 0);
    let log = wrong.log();
    assert!(
        log.contains("TLS with localhost:") && log.to_lowercase().contains("certificate"),
        "{log}"
    );
    wrong.stop(true);

    let mut right = Daemon::configure(
        &env,
        &url.replace("127.0.0.1", "localhost"),
        &env.var("CA_FILE"),
        "poll_seconds = 1",
    );
    right.run(&env);
    right.wait_count("SELECT COUNT(*) FROM tickets", 1, WAIT);
    // Let its acknowledgement land, so it cannot spill into the next test's sink.
    env.wait_for_acks(1, WAIT);
}

#[test]
fn kill_9_during_a_backlog_loses_nothing_and_duplicates_no_ticket() {
    let env = MailEnv::take_turn();
    let total = 2000;
    let backlog: Vec<(String, String)> = (0..total)
        .map(|i| {
            let from = format!("user{i}@example.org");
            (
                format!("backlog{i:05}"),
                request(
                    &from,
                    &format!("Request {i}"),
                    "My laptop will not start.",
                    &format!("k{i}@example.org"),
                ),
            )
        })
        .collect();
    env.seed_inbox(&backlog);
    let mut daemon = Daemon::start(&env);
    // Kill while acknowledgements are going out: the first is marked sent, more are in the
    // hands of Postfix or on their way, and the backlog is still being read.
    let started = Instant::now();
    while daemon.count("SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND status = 'sent'") == 0
        && started.elapsed() < WAIT
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    daemon.stop(true);
    let at_kill = daemon.count("SELECT COUNT(*) FROM tickets");
    let sent_at_kill =
        daemon.count("SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND status = 'sent'");
    assert!(
        at_kill > 0 && at_kill < total,
        "the kill must land mid-backlog ({at_kill} of {total})"
    );
    assert!(
        sent_at_kill > 0,
        "the kill must land while acknowledgements go out"
    );
    daemon.run(&env);
    daemon.wait_count(
        "SELECT COUNT(*) FROM tickets",
        total,
        Duration::from_secs(120),
    );
    // Every request's acknowledgement (a duplicate delivery must not stand in for one).
    daemon.wait_count(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND status = 'sent'",
        total,
        Duration::from_secs(180),
    );
    // Postfix hands them to the sink a moment later; wait until each request's is there.
    let distinct = |acks: &[String]| {
        let mut ids: Vec<String> = acks
            .iter()
            .filter_map(|m| header(m, "In-Reply-To"))
            .collect();
        ids.sort();
        ids.dedup();
        ids.len()
    };
    let started = Instant::now();
    let mut acks = env.acks();
    while distinct(&acks) < total as usize && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
        acks = env.acks();
    }
    // Exactly one ticket per message, and every message acknowledged.
    assert_eq!(daemon.count("SELECT COUNT(*) FROM tickets"), total);
    assert_eq!(
        daemon.count("SELECT COUNT(DISTINCT requester_email) FROM tickets"),
        total
    );
    let mut replied: Vec<String> = acks
        .iter()
        .filter_map(|m| header(m, "In-Reply-To"))
        .collect();
    replied.sort();
    let delivered = replied.len();
    replied.dedup();
    assert_eq!(
        replied.len(),
        total as usize,
        "every request got its acknowledgement"
    );
    // Only a message in flight at the kill (handed to Postfix, not yet marked sent) may go twice.
    let twice = delivered - replied.len();
    eprintln!(
        "kill -9 after {at_kill} tickets ({sent_at_kill} acks marked sent): {twice} acknowledgements delivered twice"
    );
    // In flight: handed to Postfix (at most CONCURRENCY at once) or accepted and not yet
    // marked sent (fewer than MARK_EVERY).
    let in_flight =
        switchboard::outbox::worker::CONCURRENCY + switchboard::outbox::worker::MARK_EVERY;
    assert!(
        twice <= in_flight,
        "{twice} acknowledgements went out twice (at most the {in_flight} in flight may)"
    );
    assert!(
        env.support_folder("").is_empty(),
        "the inbox was worked through"
    );
}

#[test]
fn a_recreated_mailbox_with_a_new_uidvalidity_is_reread_without_duplicating_tickets() {
    let env = MailEnv::take_turn();
    let mut daemon = Daemon::configure(
        &env,
        &format!("imap://127.0.0.1:{}", env.port("IMAP_PORT")),
        &env.var("CA_FILE"),
        "poll_seconds = 1",
    );
    // Messages stay in the inbox (\Seen), so a re-read finds them all again.
    let config = daemon.dir.path().join("switchboard.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("after = \"move:Processed\"", "after = \"seen\"");
    std::fs::write(&config, text).unwrap();
    daemon.run(&env);
    for i in 0..3 {
        env.send(
            "v@example.org",
            "support@example.com",
            &request(
                "v@example.org",
                &format!("Thing {i}"),
                "Help.",
                &format!("uv{i}@example.org"),
            ),
        );
    }
    daemon.wait_count("SELECT COUNT(*) FROM tickets", 3, WAIT);
    env.wait_for_acks(3, WAIT);
    daemon.stop(false);
    // The mailbox is recreated on the server: a new UIDVALIDITY, new UIDs, same messages.
    env.recreate_inbox();
    daemon.run(&env);
    let started = Instant::now();
    while daemon.log().matches("outcome=\"duplicate\"").count() < 3 {
        assert!(
            started.elapsed() < WAIT,
            "the folder was not read again:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(daemon.count("SELECT COUNT(*) FROM tickets"), 3);
    assert!(daemon.log().contains("UIDVALIDITY changed"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(env.acks().len(), 3, "no second acknowledgement");
}

#[test]
fn the_daemon_reconnects_by_itself_when_the_imap_server_restarts() {
    let env = MailEnv::take_turn();
    let daemon = Daemon::start(&env);
    env.send(
        "w@example.org",
        "support@example.com",
        &request("w@example.org", "Before", "One.", "rc1@example.org"),
    );
    daemon.wait_count("SELECT COUNT(*) FROM tickets", 1, WAIT);
    env.restart_dovecot();
    env.send(
        "w@example.org",
        "support@example.com",
        &request("w@example.org", "After", "Two.", "rc2@example.org"),
    );
    daemon.wait_count("SELECT COUNT(*) FROM tickets", 2, WAIT);
    assert!(daemon.log().contains("reconnecting"), "{}", daemon.log());
    env.wait_for_acks(2, WAIT);
}

#[test]
fn a_permanent_smtp_refusal_marks_the_acknowledgement_failed_with_the_reply() {
    let env = MailEnv::take_turn();
    let daemon = Daemon::start(&env);
    // Postfix here delivers only example.com/.org/.net: any other domain is refused for good.
    env.drop_into_inbox(
        "refused",
        &request(
            "someone@elsewhere.test",
            "Hi",
            "Hello.",
            "pf1@elsewhere.test",
        ),
    );
    daemon.wait_count(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND status = 'failed'",
        1,
        WAIT,
    );
    assert_eq!(
        daemon.count("SELECT COUNT(*) FROM outbox WHERE last_error LIKE '%5%'"),
        1
    );
}

#[test]
fn a_message_the_pipeline_rejects_goes_to_quarantine_and_does_not_block_the_mailbox() {
    let env = MailEnv::take_turn();
    let daemon = Daemon::start(&env);
    let poison = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/mail/hostile/nested-rfc822-in-rfc822.eml"),
    )
    .unwrap()
    .replace("\r\n", "\n");
    env.drop_into_inbox("poison", &poison);
    env.drop_into_inbox(
        "after-poison",
        &request("x@example.org", "Keyboard", "Keys stick.", "q1@example.org"),
    );
    daemon.wait_count("SELECT COUNT(*) FROM tickets", 1, WAIT);
    let started = Instant::now();
    while env.support_folder(".Quarantine").is_empty() && started.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        env.support_folder(".Quarantine").len(),
        1,
        "the poison message is quarantined"
    );
    assert_eq!(
        daemon.count("SELECT COUNT(*) FROM suppressed WHERE reason = 'parser-failure'"),
        1,
        "with its reason recorded"
    );
    env.wait_for_acks(1, WAIT);
}

/// Distinct requests acknowledged (by In-Reply-To) and all deliveries, in the sink.
fn acknowledged(env: &MailEnv) -> (usize, usize) {
    let acks = env.acks();
    let mut ids: Vec<String> = acks
        .iter()
        .filter_map(|m| header(m, "In-Reply-To"))
        .collect();
    let delivered = ids.len();
    ids.sort();
    ids.dedup();
    (ids.len(), delivered)
}

fn wait_acknowledged(env: &MailEnv, want: usize, limit: Duration) -> (usize, usize) {
    let started = Instant::now();
    loop {
        let seen = acknowledged(env);
        if seen.0 >= want || started.elapsed() > limit {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn two_daemons_on_postgresql_share_one_mailbox_and_the_survivor_of_a_kill_9_finishes() {
    let env = MailEnv::take_turn();
    if database::postgres_server().is_none() {
        eprintln!(
            "skipped: several daemons share a database only on PostgreSQL \
             (tests/run.sh runs this suite again with SWITCHBOARD_TEST_POSTGRES)"
        );
        return;
    }
    let per_round = 5000;
    let round = |tag: &str| -> Vec<(String, String)> {
        (0..per_round)
            .map(|i| {
                (
                    format!("two-{tag}-{i:05}"),
                    request(
                        &format!("user-{tag}-{i}@example.org"),
                        &format!("Request {tag} {i}"),
                        "My laptop will not start.",
                        &format!("two-{tag}-{i}@example.org"),
                    ),
                )
            })
            .collect()
    };
    const TICKETS: &str = "SELECT COUNT(*) FROM tickets";
    const SENT: &str = "SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND status = 'sent'";

    // Both alive: one holds the mailbox, both drain the outbox.
    env.seed_inbox(&round("a"));
    let mut first = Daemon::start(&env);
    let mut second = Daemon::beside(&env, &first);
    first.wait_count(TICKETS, per_round, Duration::from_secs(180));
    first.wait_count(SENT, per_round, Duration::from_secs(240));
    let (distinct, delivered) = wait_acknowledged(&env, per_round as usize, WAIT);
    assert_eq!(distinct, per_round as usize, "every request acknowledged");
    assert_eq!(delivered, distinct, "nothing sent twice while both live");
    assert_eq!(first.count(TICKETS), per_round, "one ticket per message");
    let leases = first.db.query("SELECT holder FROM mailbox_leases");
    assert_eq!(leases.len(), 1, "{leases:?}");
    let holder_name = leases[0][0].clone();
    let first_holds = first
        .pid()
        .is_some_and(|pid| holder_name.contains(&format!(":{pid}:")));
    let (holder, other) = if first_holds {
        (&mut first, &mut second)
    } else {
        (&mut second, &mut first)
    };
    assert!(
        holder
            .readiness()
            .contains("mailbox support: connected, held by this daemon"),
        "{}",
        holder.readiness()
    );
    let standby = other.readiness();
    assert!(
        standby.contains("200 OK")
            && standby.contains(&format!("mailbox support: held by {holder_name}")),
        "{standby}"
    );
    // Both delivered acknowledgements.
    let senders = other.count("SELECT COUNT(*) FROM outbox WHERE status = 'sent'");
    assert_eq!(
        senders,
        other.count("SELECT COUNT(*) FROM outbox"),
        "nothing left unsent"
    );

    // kill -9 the holder half-way through the next backlog: the other takes the mailbox over.
    env.seed_inbox(&round("b"));
    let started = Instant::now();
    while holder.count(TICKETS) < per_round + per_round / 2 && started.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(5));
    }
    holder.stop(true);
    let killed = Instant::now();
    let at_kill = other.count(TICKETS);
    assert!(
        at_kill > per_round && at_kill < 2 * per_round,
        "the kill must land mid-backlog ({at_kill})"
    );
    other.wait_count(TICKETS, 2 * per_round, Duration::from_secs(180));
    let taken_over = killed.elapsed();
    other.wait_count(SENT, 2 * per_round, Duration::from_secs(240));
    let (distinct, delivered) =
        wait_acknowledged(&env, 2 * per_round as usize, Duration::from_secs(60));
    assert_eq!(
        distinct,
        2 * per_round as usize,
        "every request acknowledged"
    );
    assert_eq!(other.count(TICKETS), 2 * per_round, "no ticket duplicated");
    assert_eq!(
        other.count("SELECT COUNT(DISTINCT requester_email) FROM tickets"),
        2 * per_round
    );
    let twice = delivered - distinct;
    eprintln!(
        "two daemons: kill -9 of the holder at {at_kill} tickets; the other finished the mailbox \
         {:.1} s later; {twice} acknowledgements delivered twice",
        taken_over.as_secs_f64()
    );
    let in_flight =
        switchboard::outbox::worker::CONCURRENCY + switchboard::outbox::worker::MARK_EVERY;
    assert!(
        twice <= in_flight,
        "{twice} acknowledgements went out twice (at most the {in_flight} in flight may)"
    );
    assert!(
        other
            .readiness()
            .contains("mailbox support: connected, held by this daemon")
    );
    assert!(
        env.support_folder("").is_empty(),
        "the inbox was worked through"
    );
}

/// The [outbound] block for a relay that wants TLS and a login.
fn submission(env: &MailEnv, url: &str, login: bool, ca_file: &str) -> String {
    let mut outbound =
        format!("transport = \"smtp\"\nsmtp_url = \"{url}\"\nca_file = \"{ca_file}\"\n");
    if login {
        outbound.push_str(&format!(
            "smtp_username = \"{}\"\nsmtp_password_env = \"SWITCHBOARD_TEST_SMTP_PASSWORD\"\n",
            env.var("SUPPORT_USER")
        ));
    }
    outbound
}

/// A daemon delivering through `outbound`, started, with a request from `who@example.org`
/// dropped into its mailbox.
fn relaying(env: &MailEnv, outbound: &str, who: &str) -> Daemon {
    let imap = format!("imap://127.0.0.1:{}", env.port("IMAP_PORT"));
    let mut daemon = Daemon::configure_with(
        env,
        &imap,
        &env.var("CA_FILE"),
        "poll_seconds = 1",
        outbound,
    );
    daemon.run(env);
    let from = format!("{who}@example.org");
    env.drop_into_inbox(
        who,
        &request(&from, "Printer jam", "The printer on floor 2 jams.", &from),
    );
    daemon
}

#[test]
fn acknowledgements_go_out_over_starttls_and_implicit_tls_with_a_login() {
    let env = MailEnv::take_turn();
    let relays = [
        (
            "starttls",
            format!("smtp://127.0.0.1:{}", env.port("SUBMISSION_PORT")),
        ),
        (
            "implicit",
            format!("smtps://127.0.0.1:{}", env.port("SUBMISSIONS_PORT")),
        ),
    ];
    for (name, url) in &relays {
        let mut daemon = relaying(
            &env,
            &submission(&env, url, true, &env.var("CA_FILE")),
            name,
        );
        let from = format!("{name}@example.org");
        let started = Instant::now();
        let ack = loop {
            let found = env
                .acks()
                .into_iter()
                .find(|m| header(m, "To").is_some_and(|to| to.contains(&from)));
            if let Some(ack) = found {
                break ack;
            }
            assert!(
                started.elapsed() < WAIT,
                "no acknowledgement via {url}\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        // Postfix writes how it was handed over: ESMTPSA is ESMTP with TLS and a login.
        assert!(ack.contains("with ESMTPSA"), "{name}: {ack}");
        assert!(
            ack.contains("Authenticated sender: support"),
            "{name}: {ack}"
        );
        assert!(ack.contains("(using TLSv1."), "{name}: {ack}");
        daemon.stop(false);
    }

    // No login: the relay refuses to relay, a permanent answer, recorded with its text.
    let outbound = submission(&env, &relays[0].1, false, &env.var("CA_FILE"));
    let mut refused = relaying(&env, &outbound, "nologin");
    refused.wait_count(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND status = 'failed' AND last_error LIKE '%554%'",
        1,
        WAIT,
    );
    refused.stop(false);

    // A relay whose certificate the config does not trust: nothing is sent in the clear;
    // the acknowledgement waits (temporary) with the reason.
    let outbound = submission(&env, &relays[0].1, true, &env.var("OTHER_CA_FILE"));
    let mut distrust = relaying(&env, &outbound, "distrust");
    distrust.wait_count(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND status = 'pending' AND attempts > 0",
        1,
        WAIT,
    );
    let reason = distrust
        .db
        .query("SELECT last_error FROM outbox WHERE kind = 'ack'")
        .concat()
        .join(" ");
    assert!(reason.to_lowercase().contains("certificate"), "{reason}");
    assert!(
        !env.acks()
            .iter()
            .any(|m| m.contains("distrust@example.org")),
        "nothing reached the relay without trusted TLS"
    );
    distrust.stop(false);
}
