//! The shared corpus of real-world mail, when it is beside the repository: every message gets
//! an outcome, the command exits 0, nothing panics.

use crate::helpers::{TestDesk, parse_lines, repo};

#[test]
fn the_public_corpus_gets_an_outcome_for_every_message() {
    let corpus = repo().join("../shared/corpus/public");
    if !corpus.is_dir() {
        eprintln!(
            "skipped: {} is not here (it is not part of the repository)",
            corpus.display()
        );
        return;
    }
    let files = count_files(&corpus);
    let desk = TestDesk::new();
    let output = desk.run(&["ingest", "--json", &corpus.display().to_string()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {}: {stderr}", output.status);
    assert!(
        !stderr.contains("panicked at") || stderr.contains("Internal failure"),
        "{stderr}"
    );
    let lines = parse_lines(&output.stdout);
    assert_eq!(lines.len(), files, "one outcome per message");
    for line in &lines {
        assert!(
            ["new", "appended", "duplicate", "suppressed", "rejected"]
                .contains(&line.outcome.as_str()),
            "{line:?}"
        );
    }
}

fn count_files(dir: &std::path::Path) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).expect("read corpus").flatten() {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            count += count_files(&path);
        } else if path.is_file() {
            count += 1;
        }
    }
    count
}
