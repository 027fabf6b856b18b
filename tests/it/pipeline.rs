//! The pipeline end to end through `ingest`: threading, duplicates, secrets, the ack limit,
//! machine mail that rules turn into tickets, bounces of our acknowledgements, release.

use serde_json::{Value, json};

use crate::helpers::{Line, TestDesk, request};

#[test]
fn an_ordinary_request_is_acknowledged_with_the_right_headers() {
    let desk = TestDesk::new();
    let line = desk.ingest_text(
        "a.eml",
        &request(
            "\"Kowalska, Anna\" <anna.kowalska@example.com>",
            "Drukarka nie drukuje",
            "Drukarka w pokoju 12 w biurze w Warszawie nie drukuje.",
            "a1@example.com",
        ),
    );
    assert_eq!(line.outcome, "new");
    let ticket = line.ticket.expect("ticket");
    assert_eq!(ticket, "SD-1000");
    let outbox = desk.outbox_of(&ticket);
    let (_, recipient, message_id, body) =
        outbox.iter().find(|o| o.0 == "ack").expect("ack queued");
    assert_eq!(recipient, "anna.kowalska@example.com");
    assert!(message_id.starts_with("SD-1000."), "{message_id}");
    for header in [
        "Subject: [#SD-1000] ",
        "In-Reply-To: <a1@example.com>",
        "References: <a1@example.com>",
        "Auto-Submitted: auto-replied",
        "X-Auto-Response-Suppress: All",
        &format!("Message-ID: <{message_id}>"),
    ] {
        assert!(body.contains(header), "missing {header:?} in\n{body}");
    }
    // Written in Polish, answered in Polish, on the Warsaw clock.
    let (_, text, _) = crate::helpers::decoded(body);
    assert!(text.contains("Dzień dobry Anna"), "{text}");
    assert!(
        text.contains("(czas: Warszawa)"),
        "the promise is on the requester's clock: {text}"
    );
}

#[test]
fn replies_thread_by_tag_in_reply_to_and_references() {
    let desk = TestDesk::new();
    let first = desk.ingest_text(
        "1.eml",
        &request(
            "anna@example.com",
            "VPN drops",
            "The VPN drops every hour.",
            "t1@example.com",
        ),
    );
    let ticket = first.ticket.expect("ticket");
    let ack_id = desk.ack_message_id(&ticket);

    // A mangled subject tag alone proves nothing (anyone can type a tag and a From): a new
    // ticket that names this one, for an agent to merge.
    let tag_only = desk.ingest_text(
        "2a.eml",
        &request(
            "anna@example.com",
            &format!("AW: Odp: Re: [#{ticket}] VPN drops"),
            "Still dropping.",
            "t2a@example.com",
        ),
    );
    assert_eq!(tag_only.outcome, "new", "{tag_only:?}");
    assert_ne!(tag_only.ticket.as_deref(), Some(ticket.as_str()));

    // The same mangled tag in a real reply (its client keeps the References) joins.
    let tagged = desk.ingest_text(
        "2.eml",
        &request(
            "anna@example.com",
            &format!("AW: Odp: Re: [#{ticket}] VPN drops"),
            "Still dropping.",
            "t2@example.com",
        )
        .replace("MIME-Version", "References: <t1@example.com>\nMIME-Version"),
    );
    assert_eq!(
        (tagged.outcome.as_str(), tagged.ticket.as_deref()),
        ("appended", Some(ticket.as_str()))
    );

    // A reply to our acknowledgement whose subject was rewritten completely.
    let mut reply = request(
        "anna@example.com",
        "something else entirely",
        "Here is a screenshot.",
        "t3@example.com",
    );
    reply = reply.replace(
        "MIME-Version",
        &format!("In-Reply-To: <{ack_id}>\nMIME-Version"),
    );
    let replied = desk.ingest_text("3.eml", &reply);
    assert_eq!(
        (replied.outcome.as_str(), replied.ticket.as_deref()),
        ("appended", Some(ticket.as_str()))
    );

    // References to the requester's own earlier message.
    let mut followup = request(
        "anna@example.com",
        "one more thing",
        "It also happens on Wi-Fi.",
        "t4@example.com",
    );
    followup = followup.replace(
        "MIME-Version",
        "References: <unknown@example.org> <t2@example.com>\nMIME-Version",
    );
    let referenced = desk.ingest_text("4.eml", &followup);
    assert_eq!(
        (referenced.outcome.as_str(), referenced.ticket.as_deref()),
        ("appended", Some(ticket.as_str()))
    );

    // No second acknowledgement for any of them.
    let acks = desk
        .outbox_of(&ticket)
        .into_iter()
        .filter(|o| o.0 == "ack")
        .count();
    assert_eq!(acks, 1);
    let events = desk.query(&format!("SELECT COUNT(*) FROM events e JOIN tickets t ON t.id = e.ticket_id WHERE t.number = {} AND e.kind = 'message'", &ticket[3..]));
    assert_eq!(events[0][0], "3");
}

#[test]
fn a_stranger_quoting_a_ticket_tag_gets_a_new_linked_ticket() {
    let desk = TestDesk::new();
    let first = desk.ingest_text(
        "1.eml",
        &request(
            "anna@example.com",
            "Laptop broken",
            "Screen is black.",
            "s1@example.com",
        ),
    );
    let ticket = first.ticket.expect("ticket");
    let stranger = desk.ingest_text(
        "2.eml",
        &request(
            "eve@example.org",
            &format!("Re: [#{ticket}] Laptop broken"),
            "Please send me the details.",
            "s2@example.org",
        ),
    );
    assert_eq!(stranger.outcome, "new");
    assert_ne!(stranger.ticket.as_deref(), Some(ticket.as_str()));
    let linked = desk.query(&format!(
        "SELECT l.number FROM tickets t JOIN tickets l ON l.id = t.linked_ticket_id WHERE t.number = {}",
        &stranger.ticket.expect("ticket")[3..]
    ));
    assert_eq!(linked[0][0], ticket[3..]);
    let written = desk.query(&format!(
        "SELECT COUNT(*) FROM events e JOIN tickets t ON t.id = e.ticket_id WHERE t.number = {} AND e.kind = 'message'",
        &ticket[3..]
    ));
    assert_eq!(
        written[0][0], "0",
        "nothing was written into the first ticket"
    );
}

#[test]
fn a_repeated_message_id_is_a_duplicate() {
    let desk = TestDesk::new();
    let text = request(
        "anna@example.com",
        "Monitor flickers",
        "It flickers.",
        "d1@example.com",
    );
    let first = desk.ingest_text("1.eml", &text);
    // Same Message-ID, different bytes (another relay added a header).
    let again = desk.ingest_text(
        "2.eml",
        &format!("Received: from relay.example.net\n{text}"),
    );
    assert_eq!(again.outcome, "duplicate");
    assert_eq!(again.ticket, first.ticket);
    // The very same file again: keyed by its digest.
    let path = desk.path("in/1.eml");
    assert_eq!(desk.ingest(&[&path])[0].outcome, "duplicate");
}

#[test]
fn a_password_is_redacted_everywhere_and_the_person_is_told_kindly() {
    let desk = TestDesk::new();
    let line = desk.ingest_text(
        "p.eml",
        &request(
            "jan@example.com",
            "Cannot log in",
            "My login is jan and my password: Zima2026! but it fails.",
            "p1@example.com",
        ),
    );
    let ticket = line.ticket.expect("ticket");
    let number = &ticket[3..];
    let stored = desk.query(&format!(
        "SELECT e.text, r.bytes, t.secrets_found FROM events e JOIN tickets t ON t.id = e.ticket_id \
         JOIN raw_messages r ON r.id = e.raw_id WHERE t.number = {number}"
    ));
    assert!(
        !stored[0][0].contains("Zima2026"),
        "event text: {}",
        stored[0][0]
    );
    assert!(
        !stored[0][1].contains("Zima2026"),
        "raw copy: {}",
        stored[0][1]
    );
    assert!(stored[0][0].contains("[password removed]"));
    assert_eq!(stored[0][2], "1");
    let raw = desk.query("SELECT bytes FROM raw_messages");
    assert!(!raw.is_empty());
    assert!(raw.iter().all(|r| !r[0].contains("Zima2026")), "{raw:?}");
    let ack = desk
        .outbox_of(&ticket)
        .into_iter()
        .find(|o| o.0 == "ack")
        .expect("ack")
        .3;
    assert!(ack.contains("please change it now"), "{ack}");
    assert!(!ack.contains("Zima2026"));
}

#[test]
fn a_sender_over_the_ack_limit_still_gets_tickets_but_no_more_acks() {
    let desk = TestDesk::new();
    let mut lines = Vec::new();
    for i in 0..4 {
        lines.push(desk.ingest_text(
            &format!("{i}.eml"),
            &request(
                "busy@example.com",
                &format!("Problem number {i}"),
                "Help.",
                &format!("l{i}@example.com"),
            ),
        ));
    }
    assert!(lines.iter().all(|l| l.outcome == "new"), "{lines:?}");
    assert_eq!(lines[3].reason.as_deref(), Some("ack-limit"));
    let acks = desk
        .query("SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND recipient = 'busy@example.com'");
    assert_eq!(acks[0][0], "3");
}

#[test]
fn monitoring_alerts_become_tickets_without_acknowledgement() {
    let desk = TestDesk::new();
    let alert = "From: zabbix@monitor.example.com\nTo: support@example.com\nSubject: PROBLEM: core switch down\n\
                 Auto-Submitted: auto-generated\nMessage-ID: <z1@monitor.example.com>\n\nSwitch sw-core-1 unreachable.\n";
    let line = desk.ingest_text("z.eml", alert);
    assert_eq!(line.outcome, "new", "{line:?}");
    assert_eq!(line.reason.as_deref(), Some("auto-submitted"));
    let ticket = line.ticket.expect("ticket");
    assert!(
        desk.outbox_of(&ticket).iter().all(|o| o.0 != "ack"),
        "never acknowledged"
    );
    let team = desk.query(&format!(
        "SELECT team, category FROM tickets WHERE number = {}",
        &ticket[3..]
    ));
    assert_eq!(team[0], vec!["infra".to_owned(), "network".to_owned()]);
    // The same alert from anyone else waits in the suppressed list.
    let other = alert
        .replace("zabbix@monitor.example.com", "robot@example.org")
        .replace("z1@", "z2@");
    assert_eq!(desk.ingest_text("o.eml", &other).outcome, "suppressed");
}

#[test]
fn a_bounce_of_our_ack_marks_it_bounced_and_an_auto_reply_becomes_a_note() {
    let desk = TestDesk::new();
    let first = desk.ingest_text(
        "1.eml",
        &request(
            "gone@example.org",
            "Keyboard",
            "Keys stick.",
            "b1@example.org",
        ),
    );
    let ticket = first.ticket.expect("ticket");
    let ack_id = desk.ack_message_id(&ticket);
    let bounce = format!(
        "From: MAILER-DAEMON@mx.example.net\nTo: support@example.com\nSubject: Undelivered Mail Returned to Sender\n\
         Message-ID: <dsn1@mx.example.net>\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\n\
         Content-Type: text/plain\n\nThe mail could not be delivered.\n--B\nContent-Type: message/delivery-status\n\n\
         Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; gone@example.org\nAction: failed\nStatus: 5.1.1\n\
         --B\nContent-Type: text/rfc822-headers\n\nFrom: support@example.com\nTo: gone@example.org\nMessage-ID: <{ack_id}>\n--B--\n"
    );
    let line = desk.ingest_text("bounce.eml", &bounce);
    assert_eq!(
        (
            line.outcome.as_str(),
            line.reason.as_deref(),
            line.ticket.as_deref()
        ),
        ("suppressed", Some("bounce-of-ack"), Some(ticket.as_str()))
    );
    let status = desk.query(&format!(
        "SELECT status FROM outbox WHERE message_id = '{ack_id}'"
    ));
    assert_eq!(status[0][0], "bounced");

    let oof = format!(
        "From: gone@example.org\nTo: support@example.com\nSubject: Out of office\nAuto-Submitted: auto-replied\n\
         In-Reply-To: <{ack_id}>\nMessage-ID: <oof1@example.org>\n\nI am away until Monday.\n"
    );
    let line = desk.ingest_text("oof.eml", &oof);
    assert_eq!(
        (line.outcome.as_str(), line.ticket.as_deref()),
        ("suppressed", Some(ticket.as_str()))
    );
    let notes = desk.query(&format!("SELECT COUNT(*) FROM events e JOIN tickets t ON t.id = e.ticket_id WHERE t.number = {} AND e.kind = 'note'", &ticket[3..]));
    assert_eq!(notes[0][0], "1");
}

#[test]
fn an_admin_can_release_a_held_back_message() {
    let desk = TestDesk::new();
    let text = "From: newsletter-person@example.org\nTo: support@example.com\nSubject: My account is locked\n\
                Precedence: bulk\nMessage-ID: <r1@example.org>\n\nI really am a person, please help.\n";
    assert_eq!(desk.ingest_text("r.eml", text).outcome, "suppressed");
    let listed = desk.run(&["suppressed", "--json"]);
    let entry: serde_json::Value =
        serde_json::from_slice(listed.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(entry["reason"], "precedence-bulk");
    let id = entry["id"].to_string();
    let released = desk.run(&["suppressed", "--release", &id]);
    let out = String::from_utf8_lossy(&released.stdout);
    assert!(
        released.status.success() && out.contains("\tnew\tSD-"),
        "{out} {}",
        String::from_utf8_lossy(&released.stderr)
    );
    assert_eq!(
        desk.query("SELECT COUNT(*) FROM outbox WHERE kind = 'ack'")[0][0],
        "1"
    );
    // Released once only.
    assert!(!desk.run(&["suppressed", "--release", &id]).status.success());
}

#[test]
fn a_folder_is_read_recursively_whatever_the_file_names() {
    let desk = TestDesk::new();
    desk.write_message(
        "deep/er/one",
        &request("a@example.com", "One", "first", "f1@example.com"),
    );
    desk.write_message(
        "deep/two.txt",
        &request("b@example.com", "Two", "second", "f2@example.com"),
    );
    desk.write_message(
        "deep/.hidden",
        &request("c@example.com", "Hidden", "skip me", "f3@example.com"),
    );
    desk.write_message("deep/garbage.bin", "\u{1}\u{2}\u{3}");
    let lines = desk.ingest(&[&desk.path("in/deep")]);
    let outcomes: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l.path.rsplit('/').next().unwrap(), l.outcome.as_str()))
        .collect();
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert!(
        outcomes.contains(&("one", "new")) && outcomes.contains(&("two.txt", "new")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("garbage.bin", "rejected"))
            || outcomes.contains(&("garbage.bin", "new")),
        "{outcomes:?}"
    );
}

#[test]
fn stdin_is_one_message_and_the_text_output_has_three_columns() {
    let desk = TestDesk::new();
    let mut child = desk
        .command(&["ingest", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            request(
                "p@example.com",
                "Phone",
                "Desk phone dead.",
                "in1@example.com",
            )
            .as_bytes(),
        )
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "-\tnew\tSD-1000"
    );
}

#[test]
fn the_queue_puts_urgent_work_first_and_filters_by_site() {
    let desk = TestDesk::new();
    let normal = desk.ingest_text(
        "n.eml",
        &request(
            "a@example.com",
            "Mouse broken",
            "My mouse does not work.",
            "q1@example.com",
        ),
    );
    let outage = desk.ingest_text(
        "o.eml",
        &request(
            "b@example.com",
            "Outage in the Warsaw office",
            "Nobody can work, the whole floor is offline.",
            "q2@example.com",
        ),
    );
    let output = desk.run(&["queue", "--json"]);
    assert!(output.status.success());
    let queue: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let tickets: Vec<&str> = queue["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["ticket"].as_str())
        .collect();
    assert_eq!(
        tickets,
        vec![
            outage.ticket.as_deref().unwrap(),
            normal.ticket.as_deref().unwrap()
        ]
    );
    assert_eq!(queue["tickets"][0]["effective_priority"], "critical");
    let warsaw = desk.run(&["queue", "--json", "--site", "warsaw"]);
    let warsaw: serde_json::Value = serde_json::from_slice(&warsaw.stdout).unwrap();
    assert_eq!(warsaw["tickets"].as_array().unwrap().len(), 1);
}

#[test]
fn executives_are_raised_one_priority_and_tagged() {
    let desk = TestDesk::new();
    let ordinary = desk.write_message(
        "o.eml",
        &request(
            "staff@example.com",
            "Mouse broken",
            "My mouse does not work.",
            "v1@example.com",
        ),
    );
    let vip = desk.write_message(
        "v.eml",
        &request(
            "ceo@example.com",
            "Mouse broken",
            "My mouse does not work.",
            "v2@example.com",
        ),
    );
    let ordinary = desk.dry_run(&ordinary);
    let vip = desk.dry_run(&vip);
    assert_eq!(ordinary["priority"], "normal");
    assert_eq!(vip["priority"], "high");
    assert!(
        vip["tags"].as_array().unwrap().iter().any(|t| t == "vip"),
        "{}",
        vip["tags"]
    );
    let rule = vip["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["matched"] == true && r["name"].as_str().unwrap().contains("VIP"))
        .cloned();
    assert!(
        rule.is_some(),
        "the trace names the VIP rule: {}",
        vip["rules"]
    );
}

#[test]
fn an_oversized_message_is_kept_and_listed_not_parsed() {
    let desk = TestDesk::new();
    let path = desk.write_message(
        "big.eml",
        &request(
            "a@example.com",
            "Huge",
            &"x".repeat(5000),
            "big1@example.com",
        ),
    );
    let output = desk
        .command(&["ingest", "--json", &path.display().to_string()])
        .env("SWITCHBOARD_LIMITS_MAX_MESSAGE_BYTES", "1000")
        .output()
        .unwrap();
    assert!(output.status.success());
    let line = crate::helpers::parse_lines(&output.stdout).remove(0);
    assert_eq!(
        (line.outcome.as_str(), line.reason.as_deref()),
        ("suppressed", Some("too-large"))
    );
    let kept = desk.query("SELECT length(r.bytes) FROM suppressed s JOIN raw_messages r ON r.id = s.raw_id WHERE s.reason = 'too-large'");
    assert!(
        kept[0][0].parse::<usize>().unwrap() > 5000,
        "the whole message is kept for review"
    );
}

#[test]
fn inputs_in_one_batch_see_each_other() {
    let desk = TestDesk::new();
    let original = request(
        "anna@example.com",
        "Scanner broken",
        "The scanner jams.",
        "b-1@example.com",
    );
    desk.write_message("batch/1.eml", &original);
    desk.write_message(
        "batch/2.eml",
        &format!("Received: from relay.example.net\n{original}"),
    );
    let reply = request(
        "anna@example.com",
        "more",
        "It jams on every page.",
        "b-2@example.com",
    )
    .replace(
        "MIME-Version",
        "In-Reply-To: <b-1@example.com>\nMIME-Version",
    );
    desk.write_message("batch/3.eml", &reply);
    for i in 4..8 {
        desk.write_message(
            &format!("batch/{i}.eml"),
            &request(
                "anna@example.com",
                &format!("Other {i}"),
                "Help.",
                &format!("b-{i}@example.com"),
            ),
        );
    }
    let lines = desk.ingest(&[&desk.path("in/batch")]);
    let outcomes: Vec<(&str, Option<&str>, Option<&str>)> = lines
        .iter()
        .map(|l| (l.outcome.as_str(), l.ticket.as_deref(), l.reason.as_deref()))
        .collect();
    assert_eq!(outcomes[0], ("new", Some("SD-1000"), None));
    assert_eq!(outcomes[1], ("duplicate", Some("SD-1000"), None));
    assert_eq!(outcomes[2], ("appended", Some("SD-1000"), None));
    // The ack limit (3 per hour) counts acknowledgements queued earlier in the same batch.
    assert_eq!(outcomes[3], ("new", Some("SD-1001"), None));
    assert_eq!(outcomes[4], ("new", Some("SD-1002"), None));
    assert_eq!(outcomes[5], ("new", Some("SD-1003"), Some("ack-limit")));
}

#[test]
fn strangers_at_new_addresses_get_acks_only_within_the_first_contact_budgets() {
    let desk = TestDesk::new();
    desk.set_desk("first_contact_limit = \"3/1h\"\nfirst_contact_limit_per_domain = \"2/1h\"");
    let mail = |i: usize, from: &str| {
        desk.ingest_text(
            &format!("{i}.eml"),
            &request(from, &format!("Question {i}"), "Help.", &format!("fc{i}@x")),
        )
    };
    let a = mail(1, "a@stranger.org");
    let b = mail(2, "b@stranger.org");
    let c = mail(3, "c@stranger.org");
    // The desk's own domain is not held per domain: its people are whom the desk serves.
    let own = mail(4, "new.hire@example.com");
    let other = mail(5, "d@other.net");
    let again = mail(6, "a@stranger.org");
    let held = |line: &Line| line.reason.as_deref() == Some("first-contact-limit");
    assert!(!held(&a) && !held(&b) && !held(&own), "{a:?} {b:?} {own:?}");
    assert!(held(&c), "a third new address at one domain: {c:?}");
    assert!(held(&other), "the fourth new address in all: {other:?}");
    assert!(
        !held(&again),
        "a known sender is no first contact: {again:?}"
    );
    for line in [&a, &b, &c, &own, &other] {
        assert_eq!(line.outcome, "new", "every request is a ticket: {line:?}");
    }
    let acks = desk.query("SELECT recipient FROM outbox WHERE kind = 'ack' ORDER BY recipient");
    let acks: Vec<&str> = acks.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        acks,
        [
            "a@stranger.org",
            "a@stranger.org",
            "b@stranger.org",
            "new.hire@example.com"
        ]
    );
    // The held acknowledgements are listed with their tickets, never silent.
    let listed = desk.run(&["suppressed", "--json"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    let held_rows: Vec<Value> = listed
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &Value| v["reason"] == "first-contact-limit")
        .collect();
    assert_eq!(held_rows.len(), 2, "{listed}");
    assert!(
        held_rows.iter().any(|v| v["ticket"] == json!(c.ticket)),
        "{listed}"
    );
    assert!(
        held_rows.iter().any(|v| v["from"] == "d@other.net"),
        "{listed}"
    );
}
