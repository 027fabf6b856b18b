//! The fixture sets in tests/fixtures/mail: charsets decode right, each kind of machine mail
//! is held back with its reason, and requests in the desk's languages are classified.

use std::path::PathBuf;

use crate::helpers::{TestDesk, fixture};

fn files_with(dir: &str, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture(dir))
        .expect("fixture folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

fn tsv(path: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(fixture(path))
        .expect("tsv")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

#[test]
fn every_encoding_decodes_to_the_right_text() {
    let desk = TestDesk::new();
    let expects = files_with("mail/encodings", "expect");
    assert!(expects.len() >= 11, "fixtures missing: {expects:?}");
    let mut failures = Vec::new();
    for expect in &expects {
        let message = expect.with_extension("eml");
        let answer = desk.dry_run(&message);
        let intake = &answer["intake"];
        let body = intake["body"].as_str().unwrap_or_default();
        let attachments = intake["attachments"].to_string();
        for line in std::fs::read_to_string(expect)
            .expect("expect file")
            .lines()
        {
            let Some((key, value)) = line.split_once(": ") else {
                continue;
            };
            let ok = match key {
                "subject" => intake["subject"].as_str() == Some(value),
                "from-name" => intake["name"].as_str() == Some(value),
                "contains" => body.contains(value),
                "absent" => !body.contains(value),
                "attachment" => attachments.contains(value),
                _ => true,
            };
            if !ok {
                failures.push(format!(
                    "{}: {line}\n  subject: {}\n  body: {body:?}",
                    message.display(),
                    intake["subject"]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn each_kind_of_machine_mail_is_held_back_with_its_reason() {
    let desk = TestDesk::new();
    let cases = tsv("mail/guard/expected.tsv");
    assert!(cases.len() >= 20);
    let paths: Vec<PathBuf> = cases
        .iter()
        .map(|c| fixture(&format!("mail/guard/{}", c[0])))
        .collect();
    let refs: Vec<&std::path::Path> = paths.iter().map(PathBuf::as_path).collect();
    let lines = desk.ingest(&refs);
    assert_eq!(lines.len(), cases.len());
    for (case, line) in cases.iter().zip(&lines) {
        if case[1] == "-" {
            assert_eq!(
                line.outcome, "new",
                "{} should be a person's request: {line:?}",
                case[0]
            );
            assert_eq!(
                line.reason, None,
                "{} should be acknowledged: {line:?}",
                case[0]
            );
        } else {
            assert_eq!(line.outcome, "suppressed", "{}: {line:?}", case[0]);
            assert_eq!(
                line.reason.as_deref(),
                Some(case[1].as_str()),
                "{}",
                case[0]
            );
        }
    }
    // Nothing machine-made got an acknowledgement; every person did.
    let acks = desk.query("SELECT COUNT(*) FROM outbox WHERE kind = 'ack'");
    let humans = cases.iter().filter(|c| c[1] == "-").count();
    assert_eq!(acks[0][0], humans.to_string());
    // Every suppression is listed for review, with its reason.
    let listed = desk.run(&["suppressed", "--json"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(listed.lines().count(), cases.len() - humans);
    assert!(listed.contains("\"reason\":\"read-receipt\""), "{listed}");
}

#[test]
fn requests_in_the_desk_languages_are_understood() {
    let desk = TestDesk::new();
    let cases = tsv("mail/requests/expected.tsv");
    assert!(cases.len() >= 15);
    let mut wrong = Vec::new();
    for case in &cases {
        let answer = desk.dry_run(&fixture(&format!("mail/requests/{}", case[0])));
        let (language, category) = (answer["language"].as_str(), answer["category"].as_str());
        if language != Some(case[1].as_str()) || category != Some(case[2].as_str()) {
            wrong.push(format!(
                "{}: got {language:?}/{category:?}, want {}/{}",
                case[0], case[1], case[2]
            ));
        }
        assert_eq!(answer["ack"], true, "{}", case[0]);
        assert_eq!(answer["secrets"], false, "{}", case[0]);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn hostile_input_gets_an_outcome_within_budget_and_never_a_crash() {
    let desk = TestDesk::new();
    let lines = desk.ingest(&[&fixture("mail/hostile")]);
    let outcome = |name: &str| {
        lines
            .iter()
            .find(|l| l.path.ends_with(name))
            .map(|l| (l.outcome.clone(), l.reason.clone()))
            .unwrap_or_else(|| panic!("no outcome for {name}: {lines:?}"))
    };
    assert_eq!(lines.len(), 5, "{lines:?}");
    // The MIME parser gives up on a message/rfc822 nested in a message/rfc822 whose outer
    // boundary closes early: the message is kept and listed, the intake goes on.
    assert_eq!(
        outcome("nested-rfc822-in-rfc822.eml"),
        ("rejected".to_owned(), Some("parser-failure".to_owned()))
    );
    assert_eq!(outcome("deeply-nested-html.eml").0, "new");
    assert_eq!(outcome("deep-multipart.eml").0, "new");
    assert_eq!(outcome("header-only.eml").0, "new");
    let body = desk.query("SELECT e.text FROM events e JOIN tickets t ON t.id = e.ticket_id WHERE t.subject = 'deep' AND e.kind = 'created'");
    assert_eq!(
        body[0][0], "help",
        "deeply nested HTML is reduced to its text"
    );
    let kept = desk.query(
        "SELECT COUNT(*) FROM suppressed WHERE reason = 'parser-failure' AND raw_id IS NOT NULL",
    );
    assert_eq!(kept[0][0], "1");
}
