//! Crash safety of `ingest`: kill -9 part-way, run again over the same files: every message
//! ends up with exactly one ticket, none twice, none lost.

use std::time::{Duration, Instant};

use crate::helpers::{TestDesk, request};

#[test]
fn killing_ingest_midway_then_rerunning_loses_and_duplicates_nothing() {
    let desk = TestDesk::new();
    // 600 people new to the desk, each acknowledged once: no first-contact budget here.
    desk.set_desk("first_contact_limit = \"off\"");
    let total = 600;
    for i in 0..total {
        desk.write_message(
            &format!("bulk/{i:04}.eml"),
            &request(
                &format!("user{i}@example.com"),
                &format!("Request {i}"),
                "My laptop will not start.",
                &format!("k{i}@example.com"),
            ),
        );
    }
    let folder = desk.path("in/bulk");
    let mut child = desk
        .command(&["ingest", &folder.display().to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some batches are committed but before it is done.
    let started = Instant::now();
    let mut killed_midway = false;
    while started.elapsed() < Duration::from_secs(60) {
        if desk.ticket_count() > 0 {
            let _ = child.kill();
            killed_midway = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.wait();
    let after_kill: usize = desk.query("SELECT COUNT(*) FROM tickets")[0][0]
        .parse()
        .unwrap();
    eprintln!("tickets after kill -9: {after_kill} of {total}");
    assert!(
        killed_midway && after_kill < total,
        "the kill must land mid-way ({after_kill} of {total})"
    );

    let lines = desk.ingest(&[&folder]);
    assert_eq!(lines.len(), total);
    let new = lines.iter().filter(|l| l.outcome == "new").count();
    let duplicate = lines.iter().filter(|l| l.outcome == "duplicate").count();
    assert_eq!(new + duplicate, total, "every message has an outcome");
    assert_eq!(
        duplicate, after_kill,
        "what was committed before the kill is recognised"
    );
    assert_eq!(
        desk.query("SELECT COUNT(*) FROM tickets")[0][0],
        total.to_string(),
        "one ticket per message"
    );
    assert_eq!(
        desk.query("SELECT COUNT(DISTINCT requester_email) FROM tickets")[0][0],
        total.to_string()
    );
    assert_eq!(
        desk.query("SELECT COUNT(*) FROM outbox WHERE kind = 'ack'")[0][0],
        total.to_string(),
        "one ack each"
    );
}
