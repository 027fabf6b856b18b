//! Reads `switchboard.toml` (or the built-in default), applies `SWITCHBOARD_<SECTION>_<KEY>`
//! overrides, and resolves it into [`Settings`], reporting every problem at once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    Database, Desk, Limits, Mailbox, Outbound, Paths, Settings, Transport, Web, parse_duration,
    parse_rate,
};

/// The shipped configuration, used when no file is given and `./switchboard.toml` is absent.
const BUILT_IN: &str = include_str!("../../switchboard.toml");

/// Why the configuration could not be used (exit status 78).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Values that parse but make no sense; every one is listed.
    #[error("{path}: {}", .problems.join("; "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// One line per problem, naming the key and the fix.
        problems: Vec<String>,
    },
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    desk: RawDesk,
    #[serde(default)]
    paths: RawPaths,
    #[serde(default)]
    database: RawDatabase,
    #[serde(default)]
    web: RawWeb,
    #[serde(default)]
    outbound: RawOutbound,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    mailbox: Vec<Mailbox>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawDesk {
    name: String,
    ticket_prefix: String,
    default_language: String,
    default_site: String,
    public_url: String,
    secret_file: String,
    ack_limit: String,
    first_contact_limit: String,
    first_contact_limit_per_domain: String,
}

impl Default for RawDesk {
    fn default() -> Self {
        RawDesk {
            name: "IT Service Desk".into(),
            ticket_prefix: "SD".into(),
            default_language: "en".into(),
            default_site: "remote".into(),
            public_url: "http://localhost:8080".into(),
            secret_file: "var/secret.key".into(),
            ack_limit: "3/1h".into(),
            first_contact_limit: "300/1h".into(),
            first_contact_limit_per_domain: "30/1h".into(),
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawPaths {
    rules: String,
    templates: String,
    var: String,
}

impl Default for RawPaths {
    fn default() -> Self {
        RawPaths {
            rules: "rules".into(),
            templates: "templates".into(),
            var: "var".into(),
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawDatabase {
    url: String,
    password_env: String,
    busy_timeout: String,
}

impl Default for RawDatabase {
    fn default() -> Self {
        RawDatabase {
            url: "sqlite://var/switchboard.db".into(),
            password_env: String::new(),
            busy_timeout: "5s".into(),
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawWeb {
    listen: String,
    require_token_for_requests: bool,
    rate_limit: String,
    max_upload_bytes: usize,
    session_lifetime: String,
}

impl Default for RawWeb {
    fn default() -> Self {
        RawWeb {
            listen: "127.0.0.1:8080".into(),
            require_token_for_requests: false,
            rate_limit: "60/1m".into(),
            max_upload_bytes: 10 * 1024 * 1024,
            session_lifetime: "12h".into(),
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawOutbound {
    transport: String,
    dir: String,
    smtp_url: String,
    smtp_username: String,
    smtp_password_env: String,
    ca_file: String,
    from: String,
    retry_for: String,
    retry_base: String,
}

impl Default for RawOutbound {
    fn default() -> Self {
        RawOutbound {
            transport: "file".into(),
            dir: "var/outbox".into(),
            smtp_url: "smtp://127.0.0.1:25".into(),
            smtp_username: String::new(),
            smtp_password_env: "SWITCHBOARD_SMTP_PASSWORD".into(),
            ca_file: String::new(),
            from: "IT Service Desk <support@example.com>".into(),
            retry_for: "3d".into(),
            retry_base: "30s".into(),
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    max_message_bytes: usize,
    max_body_chars: usize,
    max_html_bytes: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        let limits = Limits::default();
        RawLimits {
            max_message_bytes: limits.max_message_bytes,
            max_body_chars: limits.max_body_chars,
            max_html_bytes: limits.max_html_bytes,
        }
    }
}

/// Environment variables that are not key overrides.
const NOT_OVERRIDES: [&str; 2] = ["SWITCHBOARD_CONFIG", "SWITCHBOARD_DESK_SECRET"];
const SECTIONS: [&str; 6] = ["desk", "paths", "database", "web", "outbound", "limits"];

/// Loads the configuration: `explicit` (from `--config` or `SWITCHBOARD_CONFIG`), else
/// `./switchboard.toml`, else the built-in default rooted at the current folder.
pub fn load(explicit: Option<&Path>) -> Result<Settings, ConfigError> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let (path, text) = match explicit {
        Some(path) => (path.to_path_buf(), read(path)?),
        None => {
            let local = PathBuf::from("switchboard.toml");
            if local.is_file() {
                let text = read(&local)?;
                (local, text)
            } else {
                (
                    PathBuf::from("<built-in switchboard.toml>"),
                    BUILT_IN.to_owned(),
                )
            }
        }
    };
    let root = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() && path.is_file() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    from_text(&path, &text, &root, &env)
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses config text with the given environment; the seam tests use.
pub(crate) fn from_text(
    path: &Path,
    text: &str,
    root: &Path,
    env: &[(String, String)],
) -> Result<Settings, ConfigError> {
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let (line, column) = e
            .span()
            .map(|span| crate::rules::line_col(text, span.start))
            .unwrap_or((1, 1));
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().to_owned(),
        }
    })?;
    let mut problems = Vec::new();
    // Start from the defaults so an override of a key the file leaves out still has a type.
    let mut merged = toml::Table::try_from(RawConfig::default()).unwrap_or_default();
    merge(&mut merged, std::mem::take(&mut table));
    let mut table = merged;
    apply_env_overrides(&mut table, env, &mut problems);
    let raw: RawConfig = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Invalid {
            path: path.to_path_buf(),
            problems: vec![e.message().to_owned()],
        })?;
    let settings = resolve(raw, root, &mut problems);
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }
}

/// Lays `over` onto `base`, table by table.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base)), toml::Value::Table(over)) => merge(base, over),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// `SWITCHBOARD_WEB_LISTEN=...` sets `[web] listen`; the type follows the key's current value.
fn apply_env_overrides(
    table: &mut toml::Table,
    env: &[(String, String)],
    problems: &mut Vec<String>,
) {
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("SWITCHBOARD_") else {
            continue;
        };
        if NOT_OVERRIDES.contains(&name.as_str()) {
            continue;
        }
        let lower = rest.to_lowercase();
        let Some(section) = SECTIONS
            .iter()
            .find(|s| lower.starts_with(&format!("{s}_")))
        else {
            continue;
        };
        let key = &lower[section.len() + 1..];
        let section_table = table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(section_table) = section_table.as_table_mut() else {
            continue;
        };
        let typed = match section_table.get(key) {
            Some(toml::Value::Integer(_)) => match value.parse::<i64>() {
                Ok(n) => toml::Value::Integer(n),
                Err(_) => {
                    problems.push(format!("{name}: expected a whole number, got \"{value}\""));
                    continue;
                }
            },
            Some(toml::Value::Boolean(_)) => match value.as_str() {
                "true" | "1" | "yes" => toml::Value::Boolean(true),
                "false" | "0" | "no" => toml::Value::Boolean(false),
                _ => {
                    problems.push(format!("{name}: expected true or false, got \"{value}\""));
                    continue;
                }
            },
            _ => toml::Value::String(value.clone()),
        };
        section_table.insert(key.to_owned(), typed);
    }
}

fn resolve(raw: RawConfig, root: &Path, problems: &mut Vec<String>) -> Settings {
    let path = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            root.join(p)
        }
    };
    let rate_limit = if raw.web.rate_limit.trim() == "off" {
        None
    } else {
        parse_rate(&raw.web.rate_limit)
            .map_err(|e| problems.push(format!("web.rate_limit: {e} (or \"off\")")))
            .ok()
    };
    let session_lifetime = parse_duration(&raw.web.session_lifetime).unwrap_or_else(|e| {
        problems.push(format!("web.session_lifetime: {e}"));
        Duration::from_secs(12 * 3600)
    });
    let (ack_limit_count, ack_limit_window) = parse_rate(&raw.desk.ack_limit).unwrap_or_else(|e| {
        problems.push(format!("desk.ack_limit: {e}"));
        (3, std::time::Duration::from_secs(3600))
    });
    let mut budget = |key: &str, text: &str| {
        if text.trim() == "off" {
            return None;
        }
        parse_rate(text)
            .map_err(|e| problems.push(format!("desk.{key}: {e} (or \"off\")")))
            .ok()
    };
    let first_contact_limit = budget("first_contact_limit", &raw.desk.first_contact_limit);
    let first_contact_limit_per_domain = budget(
        "first_contact_limit_per_domain",
        &raw.desk.first_contact_limit_per_domain,
    );
    if raw.desk.ticket_prefix.is_empty()
        || !raw
            .desk
            .ticket_prefix
            .bytes()
            .all(|b| b.is_ascii_uppercase())
    {
        problems.push(format!(
            "desk.ticket_prefix must be capital letters A-Z, e.g. \"SD\"; got \"{}\"",
            raw.desk.ticket_prefix
        ));
    }
    let busy_timeout = parse_duration(&raw.database.busy_timeout).unwrap_or_else(|e| {
        problems.push(format!("database.busy_timeout: {e}"));
        std::time::Duration::from_secs(5)
    });
    let retry_for = parse_duration(&raw.outbound.retry_for).unwrap_or_else(|e| {
        problems.push(format!("outbound.retry_for: {e}"));
        std::time::Duration::from_secs(3 * 86_400)
    });
    let retry_base = parse_duration(&raw.outbound.retry_base).unwrap_or_else(|e| {
        problems.push(format!("outbound.retry_base: {e}"));
        std::time::Duration::from_secs(30)
    });
    let transport = match raw.outbound.transport.as_str() {
        "file" => Transport::File,
        "smtp" => Transport::Smtp,
        other => {
            problems.push(format!(
                "outbound.transport must be \"file\" or \"smtp\", got \"{other}\""
            ));
            Transport::File
        }
    };
    let from_address = from_address(&raw.outbound.from);
    if !from_address.contains('@') {
        problems.push(format!(
            "outbound.from must hold an address, e.g. \"IT Service Desk <support@example.com>\"; got \"{}\"",
            raw.outbound.from
        ));
    }
    let url = resolve_sqlite_url(&raw.database.url, root, problems);
    if !(raw.outbound.smtp_url.starts_with("smtp://")
        || raw.outbound.smtp_url.starts_with("smtps://"))
    {
        problems.push(format!(
            "outbound.smtp_url must start with smtp:// or smtps://, got \"{}\"",
            raw.outbound.smtp_url
        ));
    }
    let mut mailboxes = raw.mailbox;
    for mailbox in &mut mailboxes {
        // Relative certificate and password paths follow the config file, like every path.
        for file in [&mut mailbox.ca_file, &mut mailbox.password_file] {
            if !file.is_empty() {
                let resolved = path(file).display().to_string();
                *file = resolved;
            }
        }
        if mailbox.after != "seen"
            && mailbox.after != "delete"
            && !mailbox.after.starts_with("move:")
        {
            problems.push(format!(
                "mailbox \"{}\": after must be \"move:FOLDER\", \"seen\" or \"delete\", got \"{}\"",
                mailbox.name, mailbox.after
            ));
        }
        if !(mailbox.url.starts_with("imap://") || mailbox.url.starts_with("imaps://")) {
            problems.push(format!(
                "mailbox \"{}\": url must start with imap:// or imaps://, got \"{}\"",
                mailbox.name, mailbox.url
            ));
        }
    }
    Settings {
        root: root.to_path_buf(),
        desk: Desk {
            name: raw.desk.name,
            ticket_prefix: raw.desk.ticket_prefix,
            default_language: raw.desk.default_language,
            default_site: raw.desk.default_site,
            public_url: raw.desk.public_url.trim_end_matches('/').to_owned(),
            secret_file: path(&raw.desk.secret_file),
            ack_limit_count,
            ack_limit_window,
            first_contact_limit,
            first_contact_limit_per_domain,
        },
        paths: Paths {
            rules: path(&raw.paths.rules),
            templates: path(&raw.paths.templates),
            var: path(&raw.paths.var),
        },
        database: Database {
            url,
            password_env: raw.database.password_env,
            busy_timeout,
        },
        web: Web {
            listen: raw.web.listen,
            require_token_for_requests: raw.web.require_token_for_requests,
            rate_limit,
            max_upload_bytes: raw.web.max_upload_bytes,
            session_lifetime,
        },
        outbound: Outbound {
            transport,
            dir: path(&raw.outbound.dir),
            smtp_url: raw.outbound.smtp_url,
            smtp_username: raw.outbound.smtp_username,
            smtp_password_env: raw.outbound.smtp_password_env,
            ca_file: (!raw.outbound.ca_file.is_empty()).then(|| path(&raw.outbound.ca_file)),
            from: raw.outbound.from,
            from_address,
            retry_for,
            retry_base,
        },
        limits: Limits {
            max_message_bytes: raw.limits.max_message_bytes,
            max_body_chars: raw.limits.max_body_chars,
            max_html_bytes: raw.limits.max_html_bytes,
        },
        mailboxes,
    }
}

fn from_address(from: &str) -> String {
    let inner = match (from.rfind('<'), from.rfind('>')) {
        (Some(start), Some(end)) if start < end => &from[start + 1..end],
        _ => from,
    };
    crate::domain::normalize_address(inner)
}

/// Makes a relative `sqlite://` path relative to the config folder; a `postgres://` url is
/// taken as it is.
fn resolve_sqlite_url(url: &str, root: &Path, problems: &mut Vec<String>) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return url.to_owned();
    }
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        problems.push(format!(
            "database.url: use sqlite://PATH (one daemon) or postgres://USER@HOST:PORT/DATABASE \
             (several daemons), got \"{url}\""
        ));
        return url.to_owned();
    };
    let (file, query) = match rest.split_once('?') {
        Some((file, query)) => (file, Some(query)),
        None => (rest, None),
    };
    if file == ":memory:" || Path::new(file).is_absolute() {
        return url.to_owned();
    }
    let joined = root.join(file);
    match query {
        Some(query) => format!("sqlite://{}?{query}", joined.display()),
        None => format!("sqlite://{}", joined.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_text(Path::new("test.toml"), text, Path::new("/srv/desk"), &env)
    }

    #[test]
    fn the_shipped_config_loads_and_resolves_paths_against_its_folder() {
        let settings = load_text(BUILT_IN, &[]).unwrap();
        assert_eq!(
            settings.database.url,
            "sqlite:///srv/desk/var/switchboard.db"
        );
        assert_eq!(settings.outbound.dir, Path::new("/srv/desk/var/outbox"));
        assert_eq!(settings.outbound.from_address, "support@example.com");
        assert_eq!(settings.desk.ack_limit_count, 3);
    }

    #[test]
    fn environment_overrides_keys_with_their_type() {
        let settings = load_text(
            BUILT_IN,
            &[
                ("SWITCHBOARD_WEB_LISTEN", "127.0.0.1:9999"),
                ("SWITCHBOARD_LIMITS_MAX_BODY_CHARS", "77"),
                ("SWITCHBOARD_DATABASE_URL", "sqlite:///tmp/x.db"),
            ],
        )
        .unwrap();
        assert_eq!(settings.web.listen, "127.0.0.1:9999");
        assert_eq!(settings.limits.max_body_chars, 77);
        assert_eq!(settings.database.url, "sqlite:///tmp/x.db");
        let bad = load_text(BUILT_IN, &[("SWITCHBOARD_LIMITS_MAX_BODY_CHARS", "many")]);
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("SWITCHBOARD_LIMITS_MAX_BODY_CHARS")
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let err = load_text("[desk]\nnmae = \"x\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("nmae"), "{err}");
        let err = load_text(
            "[desk]\nack_limit = \"lots\"\n[outbound]\ntransport = \"pigeon\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("desk.ack_limit") && err.contains("outbound.transport"),
            "{err}"
        );
        let err = load_text("[desk\n", &[]).unwrap_err().to_string();
        assert!(err.starts_with("test.toml:1:"), "{err}");
    }
}
