//! A throw-away desk for each test: its own folder, config, database and outbox, with the
//! repository's shipped rules and templates; the real binary is run against it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub(crate) use crate::database::TestDatabase;
use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn fixture(path: &str) -> PathBuf {
    repo().join("tests/fixtures").join(path)
}

pub(crate) struct TestDesk {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) db: TestDatabase,
}

/// One outcome line of `ingest --json`.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub(crate) path: String,
    pub(crate) outcome: String,
    pub(crate) ticket: Option<String>,
    pub(crate) reason: Option<String>,
}

impl TestDesk {
    /// A desk with the shipped rules and templates.
    pub(crate) fn new() -> TestDesk {
        TestDesk::with_rules(&repo().join("rules"))
    }

    /// A desk with its own rules folder.
    pub(crate) fn with_rules(rules: &Path) -> TestDesk {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = TestDatabase::new(dir.path());
        let config = format!(
            "[desk]\nack_limit = \"3/1h\"\n[paths]\nrules = \"{}\"\ntemplates = \"{}\"\nvar = \"var\"\n\
             [database]\nurl = \"{}\"\nbusy_timeout = \"1s\"\n\
             [web]\nlisten = \"127.0.0.1:0\"\n[outbound]\ndir = \"var/outbox\"\n\
             from = \"IT Service Desk <support@example.com>\"\n",
            rules.display(),
            repo().join("templates").display(),
            db.config_url,
        );
        std::fs::write(dir.path().join("switchboard.toml"), config).expect("write config");
        TestDesk { dir, db }
    }

    /// Adds `lines` to the config's `[desk]` table.
    pub(crate) fn set_desk(&self, lines: &str) {
        let config = std::fs::read_to_string(self.config()).expect("config");
        let config = config.replacen("[desk]\n", &format!("[desk]\n{lines}\n"), 1);
        std::fs::write(self.config(), config).expect("config");
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub(crate) fn config(&self) -> PathBuf {
        self.path("switchboard.toml")
    }

    /// Runs the binary with this desk's config.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run switchboard")
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("--config")
            .arg(self.config())
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("SWITCHBOARD_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        command
    }

    /// Writes a message into the desk's folder and returns its path.
    pub(crate) fn write_message(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(&format!("in/{name}"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text.replace('\n', "\r\n")).expect("write message");
        path
    }

    /// `ingest --json` over paths; panics unless it exits 0.
    pub(crate) fn ingest(&self, paths: &[&Path]) -> Vec<Line> {
        let mut args = vec!["ingest".to_owned(), "--json".to_owned()];
        args.extend(paths.iter().map(|p| p.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = self.run(&args);
        assert!(
            output.status.success(),
            "ingest failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        parse_lines(&output.stdout)
    }

    /// Ingests one message text and returns its outcome.
    pub(crate) fn ingest_text(&self, name: &str, text: &str) -> Line {
        let path = self.write_message(name, text);
        self.ingest(&[&path]).remove(0)
    }

    /// `rules test --json` on a file.
    pub(crate) fn dry_run(&self, path: &Path) -> Value {
        let output = self.run(&["rules", "test", "--json", &path.display().to_string()]);
        assert!(
            output.status.success(),
            "rules test failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("rules test prints JSON")
    }

    /// Runs a query against the desk's database.
    pub(crate) fn query(&self, sql: &str) -> Vec<Vec<String>> {
        self.db.query(sql)
    }

    /// The outbox rows (kind, recipient, message_id, body) of a ticket.
    pub(crate) fn outbox_of(&self, ticket: &str) -> Vec<(String, String, String, String)> {
        let number = ticket.rsplit('-').next().expect("ticket number");
        self.query(&format!(
            "SELECT o.kind, o.recipient, o.message_id, o.body FROM outbox o JOIN tickets t ON t.id = o.ticket_id \
             WHERE t.number = {number} ORDER BY o.created_at, o.kind"
        ))
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone()))
        .collect()
    }

    /// How many tickets exist; 0 while the database is still being made.
    pub(crate) fn ticket_count(&self) -> usize {
        usize::try_from(self.db.count("SELECT COUNT(*) FROM tickets")).unwrap_or(0)
    }

    /// Our acknowledgement's Message-ID for a ticket.
    pub(crate) fn ack_message_id(&self, ticket: &str) -> String {
        self.outbox_of(ticket)
            .into_iter()
            .find(|(kind, ..)| kind == "ack")
            .map(|(_, _, id, _)| id)
            .unwrap_or_else(|| panic!("no acknowledgement for {ticket}"))
    }
}

pub(crate) fn parse_lines(stdout: &[u8]) -> Vec<Line> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            Line {
                path: v["path"].as_str().unwrap_or_default().to_owned(),
                outcome: v["outcome"].as_str().unwrap_or_default().to_owned(),
                ticket: v["ticket"].as_str().map(str::to_owned),
                reason: v["reason"].as_str().map(str::to_owned),
            }
        })
        .collect()
}

/// A plain request from a person.
pub(crate) fn request(from: &str, subject: &str, body: &str, message_id: &str) -> String {
    format!(
        "From: {from}\nTo: support@example.com\nSubject: {subject}\nDate: Mon, 23 Nov 2026 09:00:00 +0100\n\
         Message-ID: <{message_id}>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
    )
}

/// A message we composed, decoded: subject, text part, HTML part (empty when none).
pub(crate) fn decoded(body: &str) -> (String, String, String) {
    let message = mail_parser::MessageParser::default()
        .parse(body.as_bytes())
        .expect("our own message parses");
    (
        message.subject().unwrap_or_default().to_owned(),
        message
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
        message
            .body_html(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
    )
}

/// Copies a folder tree (a desk's own templates or rules to break or extend).
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}
