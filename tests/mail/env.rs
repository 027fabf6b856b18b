//! The real mail servers started by `tests/env/mail.sh up`, and a daemon of our own wired to
//! them. Tests take turns (one support mailbox), each starting from empty mailboxes.

use crate::database::TestDatabase;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static TURN: Mutex<()> = Mutex::new(());

pub(crate) struct MailEnv {
    pub(crate) vars: HashMap<String, String>,
    _turn: MutexGuard<'static, ()>,
}

impl MailEnv {
    /// The running servers, with every mailbox emptied.
    pub(crate) fn take_turn() -> MailEnv {
        let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = std::env::var("SWITCHBOARD_TEST_MAIL_DIR")
            .unwrap_or_else(|_| "/tmp/switchboard-mail".into());
        let text = std::fs::read_to_string(Path::new(&dir).join("env")).unwrap_or_else(|_| {
            panic!("the test mail servers are not running: run `tests/env/mail.sh up` (looked in {dir}/env)")
        });
        let vars = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            .collect();
        let env = MailEnv { vars, _turn: turn };
        assert!(
            TcpStream::connect(("127.0.0.1", env.port("IMAP_PORT"))).is_ok()
                && TcpStream::connect(("127.0.0.1", env.port("SMTP_PORT"))).is_ok(),
            "the test mail servers do not answer: run `tests/env/mail.sh up`"
        );
        for maildir in [env.var("SUPPORT_MAILDIR"), env.var("SINK_MAILDIR")] {
            empty_maildir(Path::new(&maildir));
        }
        env
    }

    pub(crate) fn var(&self, key: &str) -> String {
        self.vars
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} missing from the mail env file"))
    }

    pub(crate) fn port(&self, key: &str) -> u16 {
        self.var(key).parse().expect("port")
    }

    /// Sends a message through the real Postfix, as a mail client would.
    pub(crate) fn send(&self, from: &str, to: &str, message: &str) {
        smtp_send(self.port("SMTP_PORT"), from, to, message)
            .unwrap_or_else(|e| panic!("SMTP send failed: {e}"));
    }

    /// Drops a message straight into the support INBOX (as Postfix would), without SMTP.
    pub(crate) fn drop_into_inbox(&self, name: &str, message: &str) {
        let maildir = PathBuf::from(self.var("SUPPORT_MAILDIR"));
        let tmp = maildir.join("tmp").join(name);
        std::fs::write(&tmp, message.replace('\n', "\r\n")).expect("write to tmp");
        let owner = std::fs::metadata(&maildir)
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .unwrap_or(0);
        let _ = Command::new("chown")
            .arg(format!("{owner}:{owner}"))
            .arg(&tmp)
            .status();
        std::fs::rename(&tmp, maildir.join("new").join(name)).expect("move to new");
    }

    /// Drops many messages into the support INBOX at once (a backlog).
    pub(crate) fn seed_inbox(&self, messages: &[(String, String)]) {
        let maildir = PathBuf::from(self.var("SUPPORT_MAILDIR"));
        for (name, message) in messages {
            std::fs::write(
                maildir.join("tmp").join(name),
                message.replace('\n', "\r\n"),
            )
            .expect("write to tmp");
        }
        let owner = std::fs::metadata(&maildir)
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .unwrap_or(0);
        let _ = Command::new("chown")
            .arg("-R")
            .arg(format!("{owner}:{owner}"))
            .arg(maildir.join("tmp"))
            .status();
        for (name, _) in messages {
            std::fs::rename(
                maildir.join("tmp").join(name),
                maildir.join("new").join(name),
            )
            .expect("move to new");
        }
    }

    /// Stops and starts Dovecot (the IMAP server restarts under a connected daemon).
    pub(crate) fn restart_dovecot(&self) {
        self.stop_dovecot();
        self.start_dovecot();
    }

    /// Recreates the support INBOX as a server would: Dovecot stopped, the mailbox's UID
    /// list and indexes removed, Dovecot started again — it then gives the INBOX a new
    /// UIDVALIDITY and new UIDs for the same messages.
    pub(crate) fn recreate_inbox(&self) {
        self.stop_dovecot();
        let maildir = PathBuf::from(self.var("SUPPORT_MAILDIR"));
        for entry in std::fs::read_dir(&maildir).expect("maildir").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("dovecot") && entry.path().is_file() {
                std::fs::remove_file(entry.path()).expect("remove Dovecot's mailbox state");
            }
        }
        // Dovecot makes a new UIDVALIDITY from the clock, in seconds.
        std::thread::sleep(Duration::from_millis(1100));
        self.start_dovecot();
    }

    fn dovecot_config(&self) -> PathBuf {
        PathBuf::from(self.var("SWITCHBOARD_TEST_MAIL_DIR")).join("dovecot/dovecot.conf")
    }

    fn stop_dovecot(&self) {
        let config = self.dovecot_config();
        let _ = quiet(
            "doveadm",
            &["-c".as_ref(), config.as_os_str(), "stop".as_ref()],
        );
        // Sessions outlive Dovecot's master process: end them too, as a crash would.
        let _ = quiet(
            "pkill",
            &["-KILL".as_ref(), "-u".as_ref(), "vmail".as_ref()],
        );
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port("IMAP_PORT"))).is_ok()
            && started.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn start_dovecot(&self) {
        let config = self.dovecot_config();
        let started = Instant::now();
        let status = quiet("dovecot", &["-c".as_ref(), config.as_os_str()]).expect("start dovecot");
        assert!(status.success(), "dovecot did not start again");
        while TcpStream::connect(("127.0.0.1", self.port("IMAP_PORT"))).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "dovecot does not answer again"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Messages in a Maildir folder of the support account ("" for INBOX, ".Processed" ...).
    pub(crate) fn support_folder(&self, folder: &str) -> Vec<String> {
        read_maildir(&Path::new(&self.var("SUPPORT_MAILDIR")).join(folder))
    }

    /// Messages that reached anyone but support (acknowledgements, notifications).
    pub(crate) fn sink(&self) -> Vec<String> {
        read_maildir(Path::new(&self.var("SINK_MAILDIR")))
    }

    /// Acknowledgements in the sink: mail to requesters, who write from example.org in these
    /// tests (agents' notifications go to example.com and depend on the hour of the run).
    pub(crate) fn acks(&self) -> Vec<String> {
        self.sink()
            .into_iter()
            .filter(|m| header(m, "To").is_some_and(|to| to.contains("@example.org")))
            .collect()
    }

    /// Waits (bounded) until `count` acknowledgements are in the sink.
    pub(crate) fn wait_for_acks(&self, count: usize, limit: Duration) -> Vec<String> {
        let started = Instant::now();
        loop {
            let messages = self.acks();
            if messages.len() >= count {
                return messages;
            }
            assert!(
                started.elapsed() < limit,
                "{} of {count} messages reached the sink in {limit:?}",
                messages.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn postfix(&self, action: &str) {
        let dir = self.var("SWITCHBOARD_TEST_MAIL_DIR");
        let status = Command::new("postfix")
            .arg("-c")
            .arg(Path::new(&dir).join("postfix"))
            .arg(action)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run postfix");
        assert!(status.success(), "postfix {action} failed");
    }
}

fn empty_maildir(maildir: &Path) {
    for folder in ["", ".Processed", ".Quarantine"] {
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(maildir.join(folder).join(sub)) {
                for entry in entries.flatten() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

fn read_maildir(folder: &Path) -> Vec<String> {
    let mut messages = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = std::fs::read_dir(folder.join(sub)) {
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                if let Ok(bytes) = std::fs::read(&path) {
                    messages.push(String::from_utf8_lossy(&bytes).into_owned());
                }
            }
        }
    }
    messages
}

/// A minimal SMTP client: enough to hand Postfix one message.
pub(crate) fn smtp_send(port: u16, from: &str, to: &str, message: &str) -> std::io::Result<()> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut expect = |code: &str| -> std::io::Result<()> {
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if line.len() < 4 || !line.starts_with(code) {
                return Err(std::io::Error::other(format!(
                    "expected {code}, got {line:?}"
                )));
            }
            if line.as_bytes()[3] == b' ' {
                return Ok(());
            }
        }
    };
    expect("220")?;
    writer.write_all(b"EHLO test.example.org\r\n")?;
    expect("250")?;
    writer.write_all(format!("MAIL FROM:<{from}>\r\nRCPT TO:<{to}>\r\nDATA\r\n").as_bytes())?;
    expect("250")?;
    expect("250")?;
    expect("354")?;
    let mut body = String::new();
    for line in message.lines() {
        if line.starts_with('.') {
            body.push('.');
        }
        body.push_str(line);
        body.push_str("\r\n");
    }
    body.push_str(".\r\nQUIT\r\n");
    writer.write_all(body.as_bytes())?;
    expect("250")?;
    Ok(())
}

/// A daemon of ours, configured for the test servers, in its own folder.
pub(crate) struct Daemon {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) db: TestDatabase,
    child: Option<Child>,
    pub(crate) stderr_path: PathBuf,
    /// Where its web server listens, once started.
    pub(crate) address: Option<String>,
}

impl Daemon {
    /// Writes the config (`extra` is appended to the [[mailbox]] table) without starting.
    pub(crate) fn configure(
        env: &MailEnv,
        mailbox_url: &str,
        ca_file: &str,
        extra: &str,
    ) -> Daemon {
        let outbound = format!(
            "transport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{}\"\n",
            env.port("SMTP_PORT")
        );
        Daemon::configure_with(env, mailbox_url, ca_file, extra, &outbound)
    }

    /// As [`Daemon::configure`], with the delivery settings of `[outbound]` given
    /// (`from` and `retry_base` are added).
    pub(crate) fn configure_with(
        env: &MailEnv,
        mailbox_url: &str,
        ca_file: &str,
        extra: &str,
        outbound: &str,
    ) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = TestDatabase::new(dir.path());
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        // The suites acknowledge thousands of people new to the desk: no first-contact budget.
        let config = format!(
            "[desk]\nfirst_contact_limit = \"off\"\nfirst_contact_limit_per_domain = \"off\"\n\
             [paths]\nrules = \"{rules}\"\ntemplates = \"{templates}\"\n\
             [database]\nurl = \"{database}\"\n\
             [web]\nlisten = \"127.0.0.1:0\"\n\
             [outbound]\n{outbound}\
             from = \"IT Service Desk <support@example.com>\"\nretry_base = \"1s\"\n\
             [[mailbox]]\nname = \"support\"\nurl = \"{mailbox_url}\"\nusername = \"{user}\"\n\
             password_env = \"SWITCHBOARD_TEST_IMAP_PASSWORD\"\nfolder = \"INBOX\"\nafter = \"move:Processed\"\n\
             address = \"support@example.com\"\nca_file = \"{ca_file}\"\n{extra}\n",
            rules = repo.join("rules").display(),
            templates = repo.join("templates").display(),
            user = env.var("SUPPORT_USER"),
            database = db.config_url,
        );
        std::fs::write(dir.path().join("switchboard.toml"), config).expect("config");
        let stderr_path = dir.path().join("daemon.log");
        Daemon {
            dir,
            db,
            child: None,
            stderr_path,
            address: None,
        }
    }

    /// A second daemon with `first`'s configuration and database, in a folder of its own.
    pub(crate) fn beside(env: &MailEnv, first: &Daemon) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = std::fs::read_to_string(first.dir.path().join("switchboard.toml"))
            .expect("the first daemon's config");
        std::fs::write(dir.path().join("switchboard.toml"), config).expect("config");
        let stderr_path = dir.path().join("daemon.log");
        let mut daemon = Daemon {
            dir,
            db: first.db.shared(),
            child: None,
            stderr_path,
            address: None,
        };
        daemon.run(env);
        daemon
    }

    /// The body of `GET /readyz`.
    pub(crate) fn readiness(&self) -> String {
        let Some(address) = &self.address else {
            return String::new();
        };
        let Ok(mut stream) = TcpStream::connect(address) else {
            return String::new();
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = write!(
            stream,
            "GET /readyz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        );
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    }

    /// The running process's id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A daemon reading the support mailbox over IMAP with STARTTLS.
    pub(crate) fn start(env: &MailEnv) -> Daemon {
        let mut daemon = Daemon::configure(
            env,
            &format!("imap://127.0.0.1:{}", env.port("IMAP_PORT")),
            &env.var("CA_FILE"),
            "poll_seconds = 300",
        );
        daemon.run(env);
        daemon
    }

    /// Starts (or restarts) the process and waits until it listens.
    pub(crate) fn run(&mut self, env: &MailEnv) {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .expect("log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("--config")
            .arg(self.dir.path().join("switchboard.toml"))
            .arg("serve")
            .current_dir(self.dir.path())
            .env(
                "SWITCHBOARD_TEST_IMAP_PASSWORD",
                env.var("SUPPORT_PASSWORD"),
            )
            .env(
                "SWITCHBOARD_TEST_SMTP_PASSWORD",
                env.var("SUPPORT_PASSWORD"),
            )
            .env("RUST_LOG", "warn,switchboard=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start switchboard serve");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let _ = stdout.read_line(&mut line);
        assert!(
            line.starts_with("listening on"),
            "the daemon did not start: {line:?}\n{}",
            self.log()
        );
        self.address = line
            .trim()
            .strip_prefix("listening on ")
            .map(|a| a.trim_start_matches("http://").to_owned());
        self.child = Some(child);
    }

    /// Stops the process: `kill -9` when `hard`, else SIGTERM and a clean shutdown.
    pub(crate) fn stop(&mut self, hard: bool) {
        if let Some(mut child) = self.child.take() {
            if hard {
                let _ = child.kill();
            } else {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(child.id().to_string())
                    .status();
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(15) {
                    if child.try_wait().ok().flatten().is_some() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    pub(crate) fn log(&self) -> String {
        let mut text = String::new();
        let _ =
            std::fs::File::open(&self.stderr_path).and_then(|mut f| f.read_to_string(&mut text));
        text
    }

    /// A query against the daemon's database.
    pub(crate) fn count(&self, sql: &str) -> i64 {
        self.db.count(sql)
    }

    /// Waits (bounded) until a count reaches `want`.
    pub(crate) fn wait_count(&self, sql: &str, want: i64, limit: Duration) {
        let started = Instant::now();
        loop {
            let count = self.count(sql);
            if count >= want {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "{sql}: {count}, wanted {want} within {limit:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop(true);
    }
}

/// A request from a person.
pub(crate) fn request(from: &str, subject: &str, body: &str, message_id: &str) -> String {
    format!(
        "From: {from}\nTo: support@example.com\nSubject: {subject}\nDate: Mon, 23 Nov 2026 09:00:00 +0100\n\
         Message-ID: <{message_id}>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
    )
}

/// The value of a header in a raw message (first occurrence, unfolded).
pub(crate) fn header(message: &str, name: &str) -> Option<String> {
    let head = message.split("\r\n\r\n").next().unwrap_or(message);
    let mut value: Option<String> = None;
    for line in head.lines() {
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_owned());
        }
    }
    value
}

/// Runs a program with no output; Dovecot keeps running after it, so none of it may hold
/// the test's output pipes.
fn quiet(program: &str, args: &[&std::ffi::OsStr]) -> std::io::Result<std::process::ExitStatus> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
}
