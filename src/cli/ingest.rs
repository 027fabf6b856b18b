//! `switchboard ingest`: files, folders and stdin through the pipeline, one line per message.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::Utc;
use serde::Serialize;

use super::{load_engine, open_store, store_exit};
use crate::config::Settings;
use crate::ingest::{Input, Outcome, OutcomeKind, PreparedBatch, commit_batch, prepare_batch};

/// Messages per transaction: large enough to amortise the commit, small enough that a crash
/// redoes little.
const BATCH: usize = 128;

/// One batch as the reader thread hands it over.
struct ReadBatch {
    paths: Vec<PathBuf>,
    unreadable: Vec<(PathBuf, String)>,
    prepared: PreparedBatch,
}

#[derive(Serialize)]
struct JsonLine<'a> {
    path: &'a str,
    outcome: &'a str,
    ticket: Option<&'a str>,
    reason: Option<&'a str>,
}

pub(super) async fn run(settings: Settings, json: bool, args: &[PathBuf]) -> ExitCode {
    let engine = match load_engine(settings) {
        Ok(engine) => engine,
        Err(code) => return code,
    };
    let mut paths = Vec::new();
    for arg in args {
        if let Err(e) = collect(arg, &mut paths) {
            eprintln!("switchboard: {}: {e}", arg.display());
            return ExitCode::from(super::exit::USAGE);
        }
    }
    let store = match open_store(&engine.settings).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let progress = (std::io::stderr().is_terminal() && paths.len() > 200).then(|| {
        let bar = indicatif::ProgressBar::new(paths.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} messages, {per_sec}, {eta} left",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    // A reader thread reads and parses the next batch while this one is written: the
    // database work and the parsing then run on both cores.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<ReadBatch>(1);
    let reader_engine = engine.clone();
    let reader = std::thread::spawn(move || {
        for chunk in paths.chunks(BATCH) {
            let mut inputs = Vec::with_capacity(chunk.len());
            let mut read_paths = Vec::with_capacity(chunk.len());
            let mut unreadable = Vec::new();
            for path in chunk {
                match read(path) {
                    Ok(raw) => {
                        inputs.push(Input::raw(raw, None, Utc::now()));
                        read_paths.push(path.clone());
                    }
                    Err(e) => unreadable.push((path.clone(), e.to_string())),
                }
            }
            let prepared = prepare_batch(&reader_engine, inputs);
            if sender
                .blocking_send(ReadBatch {
                    paths: read_paths,
                    unreadable,
                    prepared,
                })
                .is_err()
            {
                return;
            }
        }
    });
    let mut stdout = std::io::stdout().lock();
    let mut code = ExitCode::SUCCESS;
    while let Some(batch) = receiver.recv().await {
        for (path, error) in &batch.unreadable {
            tracing::warn!(path = %path.display(), %error, "Cannot read input.");
            let outcome = Outcome {
                outcome: OutcomeKind::Rejected,
                ticket: None,
                reason: Some("unreadable".into()),
                redacted_copy: None,
                link: None,
            };
            print_line(&mut stdout, json, path, &outcome);
        }
        match commit_batch(&engine, &store, &batch.prepared).await {
            Ok(outcomes) => {
                for (path, outcome) in batch.paths.iter().zip(&outcomes) {
                    print_line(&mut stdout, json, path, outcome);
                }
            }
            Err(e) => {
                code = store_exit(&e);
                break;
            }
        }
        if let Some(bar) = &progress {
            bar.inc((batch.paths.len() + batch.unreadable.len()) as u64);
        }
    }
    drop(receiver);
    let _ = reader.join();
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let _ = stdout.flush();
    store.close().await;
    code
}

fn print_line(out: &mut impl Write, json: bool, path: &Path, outcome: &Outcome) {
    let path = path.display().to_string();
    let line = if json {
        serde_json::to_string(&JsonLine {
            path: &path,
            outcome: outcome.outcome.as_str(),
            ticket: outcome.ticket.as_deref(),
            reason: outcome.reason.as_deref(),
        })
        .unwrap_or_default()
    } else {
        let detail = outcome
            .ticket
            .as_deref()
            .or(outcome.reason.as_deref())
            .unwrap_or("-");
        format!("{path}\t{}\t{detail}", outcome.outcome.as_str())
    };
    let _ = writeln!(out, "{line}");
}

/// `-`, a file, or every regular file below a folder (hidden ones skipped), sorted.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.as_os_str() == "-" {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut found = Vec::new();
    let mut folders = vec![path.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                folders.push(entry.path());
            } else if kind.is_file() || (kind.is_symlink() && entry.path().is_file()) {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    out.extend(found);
    Ok(())
}

fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut raw = Vec::new();
        std::io::stdin().lock().read_to_end(&mut raw)?;
        Ok(raw)
    } else {
        std::fs::read(path)
    }
}
