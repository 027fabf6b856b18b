//! Hostile input: one request must never stop the desk, keep a secret, or reach into
//! somebody else's ticket.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{TestDesk, request};
use crate::web::{Served, api_post, new_client, read_raw};

/// The headers of a mail we sent (up to the blank line), unfolded lines as written.
fn headers_of(mail: &str) -> Vec<String> {
    mail.split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_line_break_in_a_mailed_name_or_subject_stops_nothing_and_adds_no_header() {
    let desk = TestDesk::new();
    // "Eve\r\nX" as the name and "Printer jams\r\nBcc: victim@example.net" as the subject,
    // both hidden in RFC 2047 words, as an attacker would send them.
    let mail = "From: =?utf-8?B?RXZlDQpY?= <eve@example.org>\n\
                To: support@example.com\n\
                Subject: =?utf-8?B?UHJpbnRlciBqYW1zDQpCY2M6IHZpY3RpbUBleGFtcGxlLm5ldA==?=\n\
                Message-ID: <crlf-1@example.org>\n\
                MIME-Version: 1.0\n\
                Content-Type: text/plain; charset=utf-8\n\n\
                The printer on floor 3 jams on every page.\n";
    let first = desk.ingest_text("crlf.eml", mail);
    assert_eq!(first.outcome, "new", "{first:?}");
    let ticket = first.ticket.expect("a ticket");
    let ack = desk
        .outbox_of(&ticket)
        .into_iter()
        .find(|o| o.0 == "ack")
        .expect("the requester is acknowledged")
        .3;
    let headers = headers_of(&ack);
    assert!(
        !headers.iter().any(|h| h.to_lowercase().starts_with("bcc:")),
        "a header was injected: {headers:?}"
    );
    let to = headers
        .iter()
        .find(|h| h.starts_with("To:"))
        .expect("To header");
    assert!(to.contains("eve@example.org"), "{to}");
    // The next message is taken as usual.
    let next = desk.ingest_text(
        "next.eml",
        &request(
            "ann@example.org",
            "Monitor flickers",
            "My monitor flickers.",
            "next-1@example.org",
        ),
    );
    assert_eq!(next.outcome, "new");
}

#[test]
fn a_line_break_in_a_form_name_or_subject_costs_only_itself_and_the_desk_stays_ready() {
    let served = Served::start();
    let url = served.url("/api/v1/requests");
    let hostile = api_post(
        &url,
        None,
        &json!({
            "name": "Eve\r\nX", "email": "eve@example.org", "site": "warsaw",
            "subject": "Help\r\nBcc: victim@example.net\r\n\r\nFree gift cards at http://evil.example",
            "description": "My laptop will not start.", "urgency": "normal"
        }),
    );
    assert_eq!(hostile.status, 201, "{}", hostile.body);
    let after = api_post(
        &url,
        None,
        &json!({
            "name": "Ann Lee", "email": "ann@example.org", "site": "warsaw",
            "subject": "Mouse", "description": "My mouse is broken.", "urgency": "low"
        }),
    );
    assert_eq!(
        after.status, 201,
        "the next request is taken: {}",
        after.body
    );
    let ready = read_raw(new_client().get(&served.url("/readyz")).call());
    assert_eq!(ready.status, 200, "{}", ready.body);

    let mail = served.wait_for_mail_to("eve@example.org");
    let headers = headers_of(&mail);
    assert!(
        !headers.iter().any(|h| h.to_lowercase().starts_with("bcc:")),
        "{headers:?}"
    );
    // The attacker's text is not a line of its own anywhere in the acknowledgement.
    assert!(
        !mail
            .lines()
            .any(|l| l.trim_start().starts_with("Free gift cards")),
        "{mail}"
    );
}

/// Every stored byte of the desk: the database files (or, on PostgreSQL, every row of every
/// table as text, byte columns in hex) and the outbox.
fn everything_stored(desk: &TestDesk) -> String {
    let mut all = String::new();
    let mut stack = vec![desk.path("var")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                all.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    if desk.db.is_postgres() {
        for table in
            desk.query("SELECT CAST(tablename AS TEXT) FROM pg_tables WHERE schemaname = 'public'")
        {
            for row in desk.query(&format!("SELECT CAST(t AS TEXT) FROM {} t", table[0])) {
                all.push_str(&row[0]);
            }
        }
    }
    all
}

#[test]
fn no_stored_byte_holds_a_planted_secret() {
    let served = Served::start_with_config(
        "[limits]\nmax_body_chars = 400\nmax_message_bytes = 30000",
        &[("SWITCHBOARD_WEB_RATE_LIMIT", "off")],
    );
    let desk = &served.desk;
    let secrets = [
        "Qw7#formSecret",
        "Np4!callbackSecret",
        "Zx8$topicSecret",
        "Lm3%tailSecret",
        "Tg5&bigSecret",
        "Rj6*oddSecret",
    ];
    // A form's fields: the record kept of it is one line of JSON.
    let form = api_post(
        &served.url("/api/v1/requests"),
        None,
        &json!({
            "name": "Ann Lee", "email": "ann@example.org", "site": "warsaw",
            "subject": "Cannot log in",
            "description": format!("I cannot log in, my password: {}", secrets[0]),
            "urgency": "high"
        }),
    );
    assert_eq!(form.status, 201, "{}", form.body);
    let token = served.token("desk-phone", "receptionist");
    let call = api_post(
        &served.url("/api/v1/calls"),
        Some(&token),
        &json!({
            "caller_name": "Bo Berg", "phone": "+48 22 555 0101", "site": "warsaw",
            "summary": "Locked out", "details": "Account locked.", "urgency": "high",
            "callback": {"wanted": true, "best_time": format!("after 3pm, password: {}", secrets[1])}
        }),
    );
    assert!(call.status == 201 || call.status == 200, "{}", call.body);

    // A mail whose secret is only in Outlook's Thread-Topic header.
    let topic = "From: Cy <cy@example.org>\nTo: support@example.com\nSubject: VPN\n\
         Thread-Topic: =?utf-8?B?VlBOIHBhc3N3b3JkOiBaeDgkdG9waWNTZWNyZXQ=?=\n\
         Message-ID: <topic-1@example.org>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n\
         The VPN refuses me.\n"
        .to_string();
    // A mail whose secret comes after the part kept for length.
    let tail = request(
        "dee@example.org",
        "Long log",
        &format!(
            "{}\nAnd by the way my password: {}\n",
            "The log says nothing useful. ".repeat(30),
            secrets[3]
        ),
        "tail-1@example.org",
    );
    // A message over the size limit.
    let big = request(
        "eli@example.org",
        "Huge",
        &format!(
            "my password: {}\n{}",
            secrets[4],
            "padding padding padding\n".repeat(2_000)
        ),
        "big-1@example.org",
    );
    // Something that is hardly a message at all.
    let odd = format!("\u{1}\u{2}\u{3} password: {}\n", secrets[5]);
    let paths: Vec<_> = [
        ("topic.eml", topic),
        ("tail.eml", tail),
        ("big.eml", big),
        ("odd.eml", odd),
    ]
    .iter()
    .map(|(name, text)| desk.write_message(name, text))
    .collect();
    let paths: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
    let outcomes = desk.ingest(&paths);
    assert_eq!(
        outcomes.len(),
        4,
        "every input got an outcome: {outcomes:?}"
    );

    // The form and the header were recognised: their tickets are flagged.
    let flagged = desk
        .db
        .count("SELECT COUNT(*) FROM tickets WHERE secrets_found = 1");
    assert!(
        flagged >= 3,
        "form, call and Thread-Topic tickets are flagged: {flagged}"
    );
    // Let the outbox write what it queued, then look at every byte.
    let deadline = Instant::now() + Duration::from_secs(20);
    while desk
        .db
        .count("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
        > 0
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let stored = everything_stored(desk);
    assert!(stored.len() > 10_000, "the desk stored something");
    for secret in secrets {
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(
            !stored.contains(secret) && !stored.contains(&hex),
            "{secret} is stored"
        );
    }
}

#[test]
fn strangers_never_write_into_or_read_someone_elses_ticket() {
    let served = Served::start();
    let desk = &served.desk;
    let url = served.url("/api/v1/requests");
    let anna = json!({
        "name": "Anna Nowak", "email": "anna@example.com", "site": "warsaw",
        "subject": "Printer", "description": "The printer jams.", "urgency": "normal"
    });
    let first = api_post(&url, None, &anna);
    assert_eq!(first.status, 201, "{}", first.body);
    let ticket = first.json()["ticket"].as_str().expect("ticket").to_owned();
    let status_url = first.json()["status_url"]
        .as_str()
        .expect("link")
        .to_owned();

    // The form and the open API: the tag plus Anna's address, typed by anyone.
    let mut claim = anna.clone();
    claim["subject"] = json!(format!("[#{ticket}] please reset my password to 1234"));
    let forged = api_post(&url, None, &claim);
    assert_eq!(
        forged.status, 201,
        "a new ticket, not an append: {}",
        forged.body
    );
    let forged = forged.json();
    assert_ne!(forged["ticket"], json!(ticket));
    assert_ne!(
        forged["status_url"],
        json!(status_url),
        "never the other ticket's link"
    );
    assert!(forged.get("appended").is_none());

    // By mail: a forged From with the tag, and a stranger citing a stored Message-ID.
    let tagged = desk.ingest_text(
        "tagged.eml",
        &request(
            "anna@example.com",
            &format!("Re: [#{ticket}] Printer"),
            "Please send the new password to eve@example.org.",
            "forged-1@example.org",
        ),
    );
    assert_eq!(tagged.outcome, "new", "{tagged:?}");
    let ack_id = desk.ack_message_id(&ticket);
    let citing = request(
        "eve@example.org",
        "Re: Printer",
        "Add me to this.",
        "eve-1@example.org",
    )
    .replace(
        "MIME-Version",
        &format!("In-Reply-To: <{ack_id}>\nCc: mallory@example.org\nMIME-Version"),
    );
    let cited = desk.ingest_text("cited.eml", &citing);
    assert_eq!(cited.outcome, "new", "{cited:?}");
    let number = ticket.rsplit('-').next().expect("number");
    let participants = desk.query(&format!(
        "SELECT p.address FROM participants p JOIN tickets t ON t.id = p.ticket_id WHERE t.number = {number}"
    ));
    assert!(
        !participants
            .iter()
            .any(|p| p[0].contains("mallory") || p[0].contains("eve")),
        "{participants:?}"
    );
    // Both new tickets name the one they tried, for an agent to merge.
    let linked = desk.db.count(&format!(
        "SELECT COUNT(*) FROM tickets WHERE linked_ticket_id = (SELECT id FROM tickets WHERE number = {number})"
    ));
    assert_eq!(linked, 3, "form, tag and citation each got a linked ticket");
    // Anna's own reply to our acknowledgement still joins her ticket.
    let reply = request(
        "anna@example.com",
        "Re: Printer",
        "It jams again.",
        "anna-2@example.com",
    )
    .replace(
        "MIME-Version",
        &format!("In-Reply-To: <{ack_id}>\nMIME-Version"),
    );
    let joined = desk.ingest_text("reply.eml", &reply);
    assert_eq!(
        (joined.outcome.as_str(), joined.ticket.as_deref()),
        ("appended", Some(ticket.as_str()))
    );
}

#[test]
fn an_idempotency_key_counts_only_for_the_caller_who_sent_it() {
    let served = Served::start();
    let url = served.url("/api/v1/requests");
    let send = |email: &str| {
        let mut request = new_client().post(&url);
        request = request.header("Idempotency-Key", "retry-7");
        read_raw(request.send_json(json!({
            "name": "Ann Lee", "email": email, "site": "warsaw",
            "subject": "Keyboard", "description": "Keys stick.", "urgency": "low"
        })))
    };
    let first = send("ann@example.org");
    assert_eq!(first.status, 201, "{}", first.body);
    let retry = send("ann@example.org");
    assert_eq!(retry.status, 200, "{}", retry.body);
    assert_eq!(retry.json()["duplicate"], json!(true));
    assert_eq!(retry.json()["ticket"], first.json()["ticket"]);
    // Someone else with the same key files their own request and learns nothing of Ann's.
    let other = send("eve@example.org");
    assert_eq!(other.status, 201, "{}", other.body);
    assert_ne!(other.json()["ticket"], first.json()["ticket"]);
    assert_ne!(other.json()["status_url"], first.json()["status_url"]);
}
