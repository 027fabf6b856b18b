//! Everything a running desk needs, loaded and checked once: settings, rules, templates and
//! the desk's secret key.

use std::path::Path;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Settings;
use crate::i18n::Strings;
use crate::outbox::templates::Templates;
use crate::pipeline::Desk;
use crate::rules::RuleSet;

/// Why the desk cannot start: each problem with its file and position.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Rule files are invalid.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Rules(Vec<crate::rules::Diagnostic>),
    /// Templates are invalid.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Templates(Vec<crate::outbox::templates::TemplateProblem>),
    /// A language file of the desk's words is invalid or incomplete.
    #[error("{0}")]
    Words(String),
    /// The secret key could not be read or made.
    #[error("{0}")]
    Secret(String),
}

/// Loaded configuration, rules, templates and key.
#[derive(Debug, Clone)]
pub struct Engine {
    /// Settings.
    pub settings: Arc<Settings>,
    /// Rules.
    pub rules: Arc<RuleSet>,
    /// Templates.
    pub templates: Arc<Templates>,
    /// The desk's words in every language (pages, promised times, priorities).
    pub words: Arc<Strings>,
    /// Keys our Message-IDs (and later links and cookies).
    pub key: Arc<Vec<u8>>,
    /// Our own addresses.
    pub own_addresses: Arc<Vec<String>>,
}

impl Engine {
    /// Loads templates, then rules (which may name templates), then the key.
    pub fn load(settings: Settings) -> Result<Engine, EngineError> {
        let templates =
            Templates::load(&settings.paths.templates).map_err(EngineError::Templates)?;
        let words = Strings::load(
            &settings.paths.templates.join("web").join("i18n"),
            &settings.desk.default_language,
        )
        .map_err(EngineError::Words)?;
        // A template that compiles can still fail on real data (a misspelt variable in strict
        // mode); render each once now, so it fails here and not in a requester's mail.
        let (_, problems) = crate::outbox::samples::render_all(&templates, &words);
        if !problems.is_empty() {
            return Err(EngineError::Templates(problems));
        }
        let rules = load_rules(&settings, &templates)?;
        let key = secret_key(&settings.desk.secret_file)?;
        let own_addresses = settings.own_addresses();
        Ok(Engine {
            settings: Arc::new(settings),
            rules: Arc::new(rules),
            templates: Arc::new(templates),
            words: Arc::new(words),
            key: Arc::new(key),
            own_addresses: Arc::new(own_addresses),
        })
    }

    /// The desk-wide values the pipeline reads.
    pub fn desk(&self) -> Desk<'_> {
        Desk {
            own_addresses: &self.own_addresses,
            default_language: &self.settings.desk.default_language,
            default_site: &self.settings.desk.default_site,
            ack_limit: self.settings.desk.ack_limit_count,
            first_contact: crate::pipeline::FirstContactLimits {
                total: self.settings.desk.first_contact_limit.map(|(n, _)| n),
                per_domain: self
                    .settings
                    .desk
                    .first_contact_limit_per_domain
                    .map(|(n, _)| n),
            },
        }
    }
}

/// Loads and checks the rules folder, including the desk's default site.
pub fn load_rules(settings: &Settings, templates: &Templates) -> Result<RuleSet, EngineError> {
    let rules = crate::rules::load_dir(&settings.paths.rules, &templates.purposes())
        .map_err(EngineError::Rules)?;
    if !rules.sites.is_empty() && !rules.sites.contains_key(&settings.desk.default_site) {
        return Err(EngineError::Rules(vec![crate::rules::Diagnostic {
            file: settings.paths.rules.clone(),
            line: 1,
            column: 1,
            message: format!(
                "desk.default_site is \"{}\" but no site has that id; add it to the rules or change the config",
                settings.desk.default_site
            ),
        }]));
    }
    Ok(rules)
}

/// The desk's secret: `SWITCHBOARD_DESK_SECRET`, else the secret file, made on first start.
fn secret_key(path: &Path) -> Result<Vec<u8>, EngineError> {
    if let Ok(secret) = std::env::var("SWITCHBOARD_DESK_SECRET")
        && !secret.trim().is_empty()
    {
        return Ok(secret.trim().as_bytes().to_vec());
    }
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().len() >= 32 => return Ok(text.trim().as_bytes().to_vec()),
        Ok(_) => {
            return Err(EngineError::Secret(format!(
                "{} holds fewer than 32 characters; delete it to have a new one made",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(EngineError::Secret(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    }
    let bytes: [u8; 32] = rand::random();
    let secret = hex::encode(bytes);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| EngineError::Secret(format!("cannot create {}: {e}", parent.display())))?;
    }
    write_private(path, &secret)
        .map_err(|e| EngineError::Secret(format!("cannot write {}: {e}", path.display())))?;
    // Read back: when two processes start at once, both use the file that won.
    std::fs::read_to_string(path)
        .map(|text| text.trim().as_bytes().to_vec())
        .map_err(|e| EngineError::Secret(format!("cannot read {}: {e}", path.display())))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => file.write_all(text.as_bytes()),
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The running desk's engine. A valid change to the rules folder replaces it whole (hot
/// reload); each unit of work takes one snapshot with [`LiveEngine::current`], so a message
/// is never judged half by the old rules and half by the new.
#[derive(Debug, Clone)]
pub struct LiveEngine {
    current: Arc<RwLock<Engine>>,
    last_reload: Arc<RwLock<Reload>>,
}

/// The last time the rules folder was read, and how it went.
#[derive(Debug, Clone, Serialize)]
pub struct Reload {
    /// When.
    pub at: DateTime<Utc>,
    /// Whether the new rules went live.
    pub ok: bool,
    /// Rules live after it.
    pub rules: usize,
    /// Each problem as `file:line:col: message` when it was refused.
    pub problems: Vec<String>,
}

impl LiveEngine {
    /// Starts with the engine loaded at start-up.
    pub fn new(engine: Engine) -> LiveEngine {
        let reload = Reload {
            at: Utc::now(),
            ok: true,
            rules: engine.rules.rule_count(),
            problems: Vec::new(),
        };
        LiveEngine {
            current: Arc::new(RwLock::new(engine)),
            last_reload: Arc::new(RwLock::new(reload)),
        }
    }

    /// The engine as it is now (a cheap clone of shared parts).
    pub fn current(&self) -> Engine {
        // A writer never panics while holding the lock, but a poisoned lock still holds a
        // whole engine: use it.
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The last reload and its result.
    pub fn last_reload(&self) -> Reload {
        self.last_reload
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the rules folder again: valid rules go live at once; invalid ones are refused
    /// and the rules before stay live. Either way the result is remembered for the admin.
    pub fn reload_rules(&self) -> Reload {
        let engine = self.current();
        let reload = match load_rules(&engine.settings, &engine.templates) {
            Ok(rules) => {
                let count = rules.rule_count();
                let mut next = engine;
                next.rules = Arc::new(rules);
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
                Reload {
                    at: Utc::now(),
                    ok: true,
                    rules: count,
                    problems: Vec::new(),
                }
            }
            Err(e) => Reload {
                at: Utc::now(),
                ok: false,
                rules: engine.rules.rule_count(),
                problems: e.to_string().lines().map(str::to_owned).collect(),
            },
        };
        *self
            .last_reload
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = reload.clone();
        reload
    }
}
