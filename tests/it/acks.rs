//! Acknowledgements people are glad to get: in their language, with their name, a promise
//! on their site's clock, and nothing raw from the request; a reply gets a short note only
//! when a rule asks for it.

use crate::helpers::{TestDesk, copy_dir, decoded, repo, request};

/// Signs of a placeholder that rendered empty: a space before punctuation ("Hello ,", "call
/// us on ."), empty brackets, or template syntax left in.
fn empty_placeholder(text: &str) -> Option<String> {
    for line in text.lines() {
        let trimmed = line.trim_end();
        for bad in [
            " ,", " .", " :", " !", " ?", "()", "(  )", "{{", "}}", "«»", "„”", "„“",
        ] {
            if trimmed.contains(bad) {
                return Some(format!("{bad:?} in {line:?}"));
            }
        }
    }
    None
}

#[test]
fn each_requester_is_answered_in_their_language_with_a_promise_on_their_sites_clock() {
    let desk = TestDesk::new();
    // (sender, subject, body, what the acknowledgement must say in that language)
    let cases = [
        (
            "\"Kowalska, Anna\" <anna.kowalska@example.com>",
            "Drukarka nie drukuje <script>alert(1)</script>",
            "Drukarka w biurze w Warszawie nie drukuje. Moje hasło: Zima2026!x",
            [
                "Dzień dobry Anna",
                "(czas: Warszawa)",
                "prosimy je od razu zmienić",
            ],
        ),
        (
            "Иван Петров <ivan.petrov@example.com>",
            "Не работает VPN <script>alert(1)</script>",
            "В московском офисе не подключается VPN. Пароль: Zima2026!x",
            [
                "Здравствуйте, Иван",
                "по местному времени (Москва)",
                "смените их прямо сейчас",
            ],
        ),
        (
            "Horvat, Ana <ana.horvat@example.com>",
            "Pisač ne radi <script>alert(1)</script>",
            "Pisač u uredu u Zagrebu ne ispisuje ništa. Lozinka: Zima2026!x",
            [
                "Dobar dan, Ana",
                "(lokalno vrijeme: Zagreb)",
                "odmah promijenite",
            ],
        ),
        (
            "Dr. Hans Meier <hans.meier@example.com>",
            "Drucker druckt nicht <script>alert(1)</script>",
            "Der Drucker im Berliner Büro druckt seit heute früh nicht mehr. Passwort: Zima2026!x",
            ["Hallo Hans", "(Ortszeit Berlin)", "Bitte ändern Sie es"],
        ),
        (
            "John Smith <john.smith@example.com>",
            "Printer is not printing <script>alert(1)</script>",
            "The printer in the London office stopped printing this morning. Password: Zima2026!x",
            ["Hello John", "(London time)", "please change it now"],
        ),
    ];
    for (i, (from, subject, body, expected)) in cases.iter().enumerate() {
        let line = desk.ingest_text(
            &format!("{i}.eml"),
            &request(from, subject, body, &format!("lang{i}@example.com")),
        );
        let ticket = line.ticket.clone().expect("ticket");
        let ack = desk
            .outbox_of(&ticket)
            .into_iter()
            .find(|o| o.0 == "ack")
            .unwrap_or_else(|| panic!("no acknowledgement for case {i}: {line:?}"))
            .3;
        let (subject, text, html) = decoded(&ack);
        assert!(subject.starts_with(&format!("[#{ticket}] ")), "{subject}");
        for needle in expected {
            assert!(text.contains(needle), "{needle:?} missing from\n{text}");
        }
        assert!(
            html.contains("&lt;script&gt;"),
            "the request's HTML is shown as text: {html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        for part in [&subject, &text, &html] {
            assert!(!part.contains("Zima2026"), "a raw secret went out: {part}");
        }
        if let Some(problem) = empty_placeholder(&text) {
            panic!("an empty placeholder in the {ticket} acknowledgement: {problem}\n{text}");
        }
    }
}

#[test]
fn a_reply_gets_the_added_note_only_when_a_rule_asks_for_it() {
    // Without the rule: the reply joins the ticket and nothing more is sent.
    let desk = TestDesk::new();
    let first = desk.ingest_text(
        "1.eml",
        &request(
            "anna@example.com",
            "VPN drops",
            "The VPN drops every hour.",
            "a1@example.com",
        ),
    );
    let ticket = first.ticket.expect("ticket");
    let ack_id = desk.ack_message_id(&ticket);
    let reply = desk.ingest_text(
        "2.eml",
        &request(
            "anna@example.com",
            &format!("Re: [#{ticket}] VPN drops"),
            "Here is a screenshot of the error.",
            "a2@example.com",
        )
        .replace(
            "MIME-Version",
            &format!("In-Reply-To: <{ack_id}>\nMIME-Version"),
        ),
    );
    assert_eq!(reply.outcome, "appended");
    let kinds: Vec<String> = desk.outbox_of(&ticket).into_iter().map(|o| o.0).collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "added").count(),
        0,
        "{kinds:?}"
    );

    // With a rule that asks for it, in the requester's language.
    let rules = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(repo().join("rules")).expect("rules") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, rules.path().join(path.file_name().expect("name")))
                .expect("copy rule file");
        }
    }
    std::fs::write(
        rules.path().join("90-replies.toml"),
        "[[rule]]\nname = \"Tell people their reply arrived\"\nwhen = { channel = { equals = \"email\" } }\nset = { confirm_reply = true }\n",
    )
    .expect("write rule");
    let desk = TestDesk::with_rules(rules.path());
    let first = desk.ingest_text(
        "1.eml",
        &request(
            "Anna Nowak <anna.nowak@example.com>",
            "VPN się rozłącza",
            "VPN w biurze w Warszawie rozłącza się co godzinę.",
            "b1@example.com",
        ),
    );
    let ticket = first.ticket.expect("ticket");
    let ack_id = desk.ack_message_id(&ticket);
    let reply = desk.ingest_text(
        "2.eml",
        &request(
            "Anna Nowak <anna.nowak@example.com>",
            &format!("Odp: [#{ticket}] VPN się rozłącza"),
            "Przesyłam zrzut ekranu z błędem.",
            "b2@example.com",
        )
        .replace(
            "MIME-Version",
            &format!("In-Reply-To: <{ack_id}>\nMIME-Version"),
        ),
    );
    assert_eq!(reply.outcome, "appended");
    let outbox = desk.outbox_of(&ticket);
    let added: Vec<_> = outbox.iter().filter(|o| o.0 == "added").collect();
    assert_eq!(added.len(), 1, "{outbox:?}");
    let (subject, text, _) = decoded(&added[0].3);
    assert!(subject.starts_with(&format!("[#{ticket}]")), "{subject}");
    assert!(text.contains("Dzień dobry Anna"), "{text}");
    assert!(
        text.contains("Przesyłam zrzut ekranu z błędem."),
        "restates what was added: {text}"
    );
    assert!(text.contains("(czas: Warszawa)"), "{text}");
    assert!(text.contains("/t/"), "the status link: {text}");
    assert!(added[0].3.contains("In-Reply-To: <b2@example.com>"));
    if let Some(problem) = empty_placeholder(&text) {
        panic!("an empty placeholder in the added note: {problem}\n{text}");
    }
}

#[test]
fn a_template_that_fails_on_real_data_is_named_and_the_daemon_refuses_to_start() {
    let desk = TestDesk::new();
    let templates = desk.path("templates");
    copy_dir(&repo().join("templates"), &templates);
    // It compiles, but names a variable that does not exist: strict mode fails at render.
    let broken = std::fs::read_to_string(templates.join("ack/ru.hbs"))
        .expect("ru ack")
        .replacen("{{first_name}}", "{{first_nmae}}", 1);
    std::fs::write(templates.join("ack/ru.hbs"), broken).expect("break the template");
    let config = std::fs::read_to_string(desk.config()).expect("config");
    let shipped = repo().join("templates").display().to_string();
    std::fs::write(
        desk.config(),
        config.replace(&shipped, &templates.display().to_string()),
    )
    .expect("config");

    let check = desk.run(&["templates", "check"]);
    assert!(!check.status.success());
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(said.contains("ack/ru.hbs:2:"), "file and line: {said}");
    let serve = desk.run(&["serve"]);
    assert_eq!(serve.status.code(), Some(78));
    let said = String::from_utf8_lossy(&serve.stderr);
    assert!(said.contains("ack/ru.hbs:2:"), "{said}");

    // The shipped ones preview in each language.
    let desk = TestDesk::new();
    for (language, greeting) in [("ru", "Здравствуйте, Анна!"), ("de", "Hallo Anna,")]
    {
        let preview = desk.run(&["templates", "preview", "ack", "--lang", language]);
        let text = String::from_utf8_lossy(&preview.stdout);
        assert!(text.contains(greeting), "{text}");
    }
}
