//! The command line (DESIGN §8): parsing, exit statuses, and one module per command group.

mod ingest;
mod lists;
mod rules;
mod staff;
mod templates;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::engine::Engine;
use crate::store::{Store, StoreError};

/// Exit statuses from sysexits.h, which MTAs understand.
pub mod exit {
    /// Wrong usage.
    pub const USAGE: u8 = 64;
    /// Try again later (database unavailable).
    pub const TEMPFAIL: u8 = 75;
    /// Configuration error.
    pub const CONFIG: u8 = 78;
}

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "The front door of an IT service desk."
)]
struct Cli {
    /// Configuration file (default: ./switchboard.toml, else the built-in default).
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: intake, outbox worker, health endpoints.
    Serve,
    /// Run messages through the pipeline: files, folders (recursively) or `-` for stdin.
    Ingest {
        /// One JSON object per line instead of tab-separated text.
        #[arg(long)]
        json: bool,
        /// Files, folders, or `-`.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Check or try the rule files.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Check or preview the mail templates.
    Templates {
        #[command(subcommand)]
        command: TemplatesCommand,
    },
    /// The queue by effective priority.
    Queue {
        /// As JSON.
        #[arg(long)]
        json: bool,
        /// Only this site.
        #[arg(long)]
        site: Option<String>,
        /// Only tickets needing this skill.
        #[arg(long)]
        skill: Option<String>,
    },
    /// What the guard held back, and why.
    Suppressed {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Run a held-back message through the pipeline as a person's request.
        #[arg(long)]
        release: Option<i64>,
    },
    /// Create or update the database schema.
    Migrate,
    /// Staff who sign in to the web pages.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; without --password-stdin a strong password is made and printed once.
    Add {
        /// Sign-in name (an agent's id in rules/agents.toml).
        name: String,
        /// receptionist, agent or admin.
        #[arg(long)]
        role: String,
        /// Read the password from stdin instead.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Every user and role.
    List,
    /// Remove a user.
    Remove {
        /// Sign-in name.
        name: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a token; it is printed alone on stdout, once.
    Add {
        /// What the token is for.
        name: String,
        /// receptionist, agent or admin.
        #[arg(long)]
        role: String,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Check every rule file; errors as file:line:col.
    Check,
    /// Dry run: what the pipeline would do with a message, and why. No side effects.
    Test {
        /// As one JSON object.
        #[arg(long)]
        json: bool,
        /// The message.
        message: PathBuf,
    },
}

#[derive(Subcommand)]
enum TemplatesCommand {
    /// Compile every template and render it with sample data in every language.
    Check,
    /// Render one template with sample data.
    Preview {
        /// The purpose, e.g. `ack`.
        name: String,
        /// The language.
        #[arg(long, default_value = "en")]
        lang: String,
    },
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return if usage {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_tracing();
    // Panics inside parsers are caught per message; log them as one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(%location, "Internal failure on one input: {info}");
    }));
    let settings = match crate::config::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("switchboard: {e}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("switchboard: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli.command, settings))
}

async fn run(command: Command, settings: Settings) -> ExitCode {
    match command {
        Command::Serve => crate::app::serve(settings).await,
        Command::Ingest { json, paths } => ingest::run(settings, json, &paths).await,
        Command::Rules {
            command: RulesCommand::Check,
        } => rules::check(settings),
        Command::Rules {
            command: RulesCommand::Test { json, message },
        } => rules::test(settings, json, &message).await,
        Command::Templates {
            command: TemplatesCommand::Check,
        } => templates::check(&settings),
        Command::Templates {
            command: TemplatesCommand::Preview { name, lang },
        } => templates::preview(&settings, &name, &lang),
        Command::Queue { json, site, skill } => lists::queue(settings, json, site, skill).await,
        Command::Suppressed { json, release } => lists::suppressed(settings, json, release).await,
        Command::User {
            command:
                UserCommand::Add {
                    name,
                    role,
                    password_stdin,
                },
        } => staff::add(settings, &name, &role, password_stdin).await,
        Command::User {
            command: UserCommand::List,
        } => staff::list(settings).await,
        Command::User {
            command: UserCommand::Remove { name },
        } => staff::remove(settings, &name).await,
        Command::Token {
            command: TokenCommand::Add { name, role },
        } => staff::add_token(settings, &name, &role).await,
        Command::Migrate => match open_store(&settings).await {
            Ok(store) => {
                store.close().await;
                println!("database is up to date");
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
    }
}

/// Logs go to stderr; `RUST_LOG` filters, `SWITCHBOARD_LOG_FORMAT=json` for JSON lines.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,html5ever=error,switchboard=info")
    });
    // Colours only on a terminal: log files and journals get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if std::env::var("SWITCHBOARD_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Loads rules, templates and key; prints every problem and gives exit status 78.
fn load_engine(settings: Settings) -> Result<Engine, ExitCode> {
    Engine::load(settings).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(exit::CONFIG)
    })
}

/// Opens the database; an unavailable one gives exit status 75.
async fn open_store(settings: &Settings) -> Result<Store, ExitCode> {
    Store::open(
        &settings.database.connect_url(),
        settings.database.busy_timeout,
    )
    .await
    .map_err(|e| store_exit(&e))
}

/// Prints a store error and picks the exit status for it.
fn store_exit(error: &StoreError) -> ExitCode {
    eprintln!("switchboard: {error}");
    if error.is_temporary() {
        eprintln!("switchboard: nothing was lost; try again when the database is reachable");
        ExitCode::from(exit::TEMPFAIL)
    } else {
        ExitCode::FAILURE
    }
}
