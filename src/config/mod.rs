//! Typed settings (`switchboard.toml`), as the daemon and the CLI use them.

mod duration;
mod load;

pub use duration::{parse_duration, parse_rate};
pub use load::{ConfigError, load};

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Every setting, with relative paths already resolved against the config file's folder.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The folder relative paths were resolved against.
    pub root: PathBuf,
    /// Desk identity and behaviour.
    pub desk: Desk,
    /// Folders for rules, templates and runtime state.
    pub paths: Paths,
    /// Where tickets are kept.
    pub database: Database,
    /// The HTTP listener.
    pub web: Web,
    /// How acknowledgements and notifications leave.
    pub outbound: Outbound,
    /// Size budgets for input.
    pub limits: Limits,
    /// IMAP mailboxes to read (none: no e-mail intake).
    pub mailboxes: Vec<Mailbox>,
}

/// `[desk]`
#[derive(Debug, Clone)]
pub struct Desk {
    /// Shown in mails and pages.
    pub name: String,
    /// `SD` in `SD-1042`.
    pub ticket_prefix: String,
    /// Language when nothing better is known.
    pub default_language: String,
    /// Site whose clock counts when the requester's site is unknown.
    pub default_site: String,
    /// Base of links in mails.
    pub public_url: String,
    /// File holding the desk's secret key.
    pub secret_file: PathBuf,
    /// At most this many acknowledgements per sender ...
    pub ack_limit_count: u32,
    /// ... in this window.
    pub ack_limit_window: Duration,
    /// At most this many acknowledgements per window to addresses the desk has never had a
    /// request from (`None`: no budget).
    pub first_contact_limit: Option<(u32, Duration)>,
    /// The same budget per sender domain, for domains other than the desk's own.
    pub first_contact_limit_per_domain: Option<(u32, Duration)>,
}

/// `[paths]`
#[derive(Debug, Clone)]
pub struct Paths {
    /// Rule files.
    pub rules: PathBuf,
    /// Templates (override the built-in ones file by file).
    pub templates: PathBuf,
    /// Runtime state.
    pub var: PathBuf,
}

/// `[database]`
#[derive(Debug, Clone)]
pub struct Database {
    /// `sqlite://...` URL (a relative path resolved against the config folder) or
    /// `postgres://...`.
    pub url: String,
    /// Variable holding the PostgreSQL password, when the url has none.
    pub password_env: String,
    /// How long a writer waits on a lock.
    pub busy_timeout: Duration,
}

impl Database {
    /// The url to connect with: a `postgres://` url without a password gets the one in the
    /// variable `password_env`, read now (it never sits in the config or its file).
    pub fn connect_url(&self) -> String {
        let password = (!self.password_env.is_empty())
            .then(|| std::env::var(&self.password_env).ok())
            .flatten()
            .filter(|p| !p.is_empty());
        match password {
            Some(password) => with_password(&self.url, &password),
            None => self.url.clone(),
        }
    }
}

/// Puts a percent-encoded password into a `postgres://` url that has none.
fn with_password(url: &str, password: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    if !scheme.starts_with("postgres") {
        return url.to_owned();
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let encoded: String = password
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    match authority.rsplit_once('@') {
        Some((user, _)) if user.contains(':') => url.to_owned(),
        Some((user, host)) => format!("{scheme}://{user}:{encoded}@{host}{tail}"),
        None => format!("{scheme}://:{encoded}@{authority}{tail}"),
    }
}

#[cfg(test)]
mod database_tests {
    use super::with_password;

    #[test]
    fn a_password_from_the_environment_goes_into_a_postgres_url_encoded() {
        assert_eq!(
            with_password("postgres://desk@db:5432/switchboard", "p@ss w/rd"),
            "postgres://desk:p%40ss%20w%2Frd@db:5432/switchboard"
        );
        assert_eq!(
            with_password("postgres://desk:given@db/switchboard", "other"),
            "postgres://desk:given@db/switchboard",
            "a password in the url wins"
        );
        assert_eq!(
            with_password("sqlite://var/x.db", "secret"),
            "sqlite://var/x.db"
        );
    }
}

/// `[web]`
#[derive(Debug, Clone)]
pub struct Web {
    /// Address and port to listen on.
    pub listen: String,
    /// Whether `POST /api/v1/requests` needs a bearer token (the form never does).
    pub require_token_for_requests: bool,
    /// Form and API posts per client address per window; `None` is off.
    pub rate_limit: Option<(u32, Duration)>,
    /// The largest request body (an attachment and the fields), in bytes.
    pub max_upload_bytes: usize,
    /// How long a staff login lasts.
    pub session_lifetime: Duration,
}

/// How outgoing mail leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// One `.eml` file per message in a folder.
    File,
    /// An SMTP relay.
    Smtp,
}

/// `[outbound]`
#[derive(Debug, Clone)]
pub struct Outbound {
    /// File or SMTP.
    pub transport: Transport,
    /// The folder of the file transport.
    pub dir: PathBuf,
    /// The SMTP relay.
    pub smtp_url: String,
    /// SMTP login, empty for none.
    pub smtp_username: String,
    /// The variable holding the SMTP password.
    pub smtp_password_env: String,
    /// Extra CA certificate to trust for the relay.
    pub ca_file: Option<PathBuf>,
    /// Our From header.
    pub from: String,
    /// Our bare From address (lowercase).
    pub from_address: String,
    /// How long temporary failures are retried.
    pub retry_for: Duration,
    /// The first wait after a temporary failure (doubling after each).
    pub retry_base: Duration,
}

/// `[limits]`
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Messages above this are not parsed.
    pub max_message_bytes: usize,
    /// Body text is cut here.
    pub max_body_chars: usize,
    /// HTML above this gets the cheap tag stripper.
    pub max_html_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 30 * 1024 * 1024,
            max_body_chars: 200_000,
            max_html_bytes: 2 * 1024 * 1024,
        }
    }
}

/// `[[mailbox]]`
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mailbox {
    /// A short name for logs.
    pub name: String,
    /// `imap://` or `imaps://`.
    pub url: String,
    /// Login name.
    pub username: String,
    /// Variable holding the password.
    #[serde(default)]
    pub password_env: String,
    /// File holding the password (used when `password_env` is empty or unset).
    #[serde(default)]
    pub password_file: String,
    /// Folder to read.
    #[serde(default = "default_folder")]
    pub folder: String,
    /// What to do after the commit.
    #[serde(default = "default_after")]
    pub after: String,
    /// Our own address at this mailbox.
    #[serde(default)]
    pub address: String,
    /// Extra CA certificate to trust.
    #[serde(default)]
    pub ca_file: String,
    /// Folder that messages the pipeline rejects are moved to.
    #[serde(default = "default_quarantine")]
    pub quarantine: String,
    /// Seconds between checks when the server has no IDLE, and the IDLE safety net.
    #[serde(default = "default_poll")]
    pub poll_seconds: u64,
}

fn default_quarantine() -> String {
    "Quarantine".to_owned()
}

fn default_poll() -> u64 {
    60
}

fn default_folder() -> String {
    "INBOX".to_owned()
}

fn default_after() -> String {
    "move:Processed".to_owned()
}

impl Settings {
    /// Our own addresses: the outbound From and every mailbox address (loop guard).
    pub fn own_addresses(&self) -> Vec<String> {
        let mut own = vec![self.outbound.from_address.clone()];
        for mailbox in &self.mailboxes {
            if !mailbox.address.is_empty() {
                own.push(crate::domain::normalize_address(&mailbox.address));
            }
        }
        own.retain(|a| !a.is_empty());
        own
    }
}
