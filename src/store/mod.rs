//! Persistence on SQLite (WAL, the embedded default) or PostgreSQL (several daemons, one
//! database): opening, migrating, and the queries every stage needs. One set of SQL serves
//! both through sqlx's Any driver; the few places the dialects differ go through [`dialect`].

pub mod dialect;
mod insert;
pub mod leases;
pub mod queries;
mod queue;
mod reads;
mod staff;
mod tickets;

pub use dialect::{Backend, begin_write};
pub(crate) use insert::insert_rows;
pub use queries::{NewTicket, OutboxRow};
pub use queue::{AtRisk, Waiting};
pub use reads::{OutboxItem, QueueEntry, SuppressedEntry, TicketView};
pub use staff::{Credentials, UserEntry};
pub use tickets::{CallerTicket, Delivery, EventEntry, RecentCall, TicketDetail};

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;

/// Why the store failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached, opened or written now (locked, missing folder, disk):
    /// a caller may try again later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// Anything else.
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    /// Whether trying again later may succeed (the MTA's EX_TEMPFAIL).
    pub fn is_temporary(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed => StoreError::Unavailable(error.to_string()),
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                if database_unavailable(&code) {
                    StoreError::Unavailable(error.to_string())
                } else {
                    StoreError::Other(error.to_string())
                }
            }
            _ => StoreError::Other(error.to_string()),
        }
    }
}

/// Whether a database error code means the database, not the data: SQLite's BUSY (5),
/// LOCKED (6), READONLY (8), IOERR (10), FULL (13), CANTOPEN (14), with extended codes; or
/// PostgreSQL's SQLSTATE classes 08 (connection), 53 (resources), 57 (shut down, cancelled),
/// 40001/40P01 (serialization failure, deadlock) and 55P03 (lock not available).
/// SQLSTATEs are five characters; SQLite's codes, even extended, at most four digits.
fn database_unavailable(code: &str) -> bool {
    if code.len() < 5
        && let Ok(number) = code.parse::<i64>()
    {
        return matches!(number & 0xff, 5 | 6 | 8 | 10 | 13 | 14);
    }
    ["08", "53", "57"]
        .iter()
        .any(|class| code.starts_with(class))
        || matches!(code, "40001" | "40P01" | "55P03")
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// One write transaction at a time in this process. SQLite allows one writer anyway; a
    /// second one would spin in the busy handler's sleeps (up to 100 ms each), which showed
    /// as latency spikes when form posts and the outbox worker wrote at once. On PostgreSQL
    /// the same turn keeps one daemon's writers from queueing on the shared write lock.
    write_gate: std::sync::Arc<tokio::sync::Mutex<()>>,
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How a pool is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Migrate; commits may checkpoint (CLI commands).
    Plain,
    /// Migrate; the daemon checkpoints in the background.
    Daemon,
    /// No migration, no writes (dry runs).
    ReadOnly,
}

impl Store {
    /// Opens (creating the file and its folder when missing) and migrates.
    pub async fn open(url: &str, busy_timeout: Duration) -> Result<Store, StoreError> {
        Store::open_with(url, busy_timeout, Mode::Plain).await
    }

    /// Opens for the daemon: on SQLite, commits never run a WAL checkpoint themselves (its
    /// flush to disk took hundreds of milliseconds and landed on one unlucky request); the
    /// daemon checkpoints in the background instead ([`Store::checkpoint`]).
    pub async fn open_for_daemon(url: &str, busy_timeout: Duration) -> Result<Store, StoreError> {
        Store::open_with(url, busy_timeout, Mode::Daemon).await
    }

    /// Opens an existing database read-only, without migrating (dry runs).
    pub async fn open_read_only(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, Duration::from_secs(5), Mode::ReadOnly).await
    }

    async fn open_with(url: &str, busy_timeout: Duration, mode: Mode) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or_else(|| {
            StoreError::Other(format!(
                "bad database url \"{url}\": it must start with sqlite:// or postgres://"
            ))
        })?;
        let (url, after_connect) = match backend {
            Backend::Sqlite => sqlite_url(url, busy_timeout, mode)?,
            // A held write lock answers "unavailable" after the same wait as SQLite's busy
            // handler, so the MTA pipe exits 75 instead of hanging.
            Backend::Postgres => (
                url.to_string(),
                vec![format!("SET lock_timeout = {}", busy_timeout.as_millis())],
            ),
        };
        let after_connect = std::sync::Arc::new(after_connect);
        let pool = AnyPoolOptions::new()
            .max_connections(match (backend, mode) {
                (_, Mode::ReadOnly) => 1,
                (Backend::Sqlite, _) => 4,
                (Backend::Postgres, _) => 8,
            })
            .acquire_timeout(busy_timeout + Duration::from_secs(5))
            .after_connect(move |conn, _| {
                let pragmas = after_connect.clone();
                Box::pin(async move {
                    for pragma in pragmas.iter() {
                        sqlx::query(sqlx::AssertSqlSafe(pragma.as_str()))
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let store = Store {
            pool,
            backend,
            write_gate: Default::default(),
        };
        match mode {
            // Read-only opens never make a schema; one without it is no database to read.
            Mode::ReadOnly => {
                sqlx::query("SELECT 1 FROM tickets LIMIT 1")
                    .execute(&store.pool)
                    .await?;
            }
            _ => store.migrate().await?,
        }
        Ok(store)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Copies SQLite's write-ahead log into the database without blocking readers or
    /// writers; the daemon calls it every second. Nothing to do on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => StoreError::from(inner),
            other => StoreError::Migration(other.to_string()),
        })
    }

    /// The connection pool, for transactions.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Waits for this process's turn to write; hold the guard for the whole transaction.
    pub async fn write_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.write_gate.lock().await
    }

    /// Closes every connection (checkpointing SQLite's WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The SQLite url the Any driver opens (creating the file unless read-only), its folder
/// made, and the settings each new connection gets — the Any driver takes only a url, so
/// what `SqliteConnectOptions` would set goes in as PRAGMAs.
fn sqlite_url(
    url: &str,
    busy_timeout: Duration,
    mode: Mode,
) -> Result<(String, Vec<String>), StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Other(format!("bad database url \"{url}\": {e}")))?;
    if mode != Mode::ReadOnly
        && let Some(parent) = Path::new(options.get_filename()).parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
        })?;
    }
    let url = match (mode, url.contains("mode=")) {
        (_, true) => url.to_string(),
        (Mode::ReadOnly, false) => with_query(url, "mode=ro"),
        (_, false) => with_query(url, "mode=rwc"),
    };
    // A number formatted into the text: nothing from outside reaches the SQL.
    let mut pragmas = vec![format!(
        "PRAGMA busy_timeout = {}",
        busy_timeout.as_millis()
    )];
    if mode != Mode::ReadOnly {
        pragmas.extend(
            [
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA foreign_keys = ON",
            ]
            .map(String::from),
        );
    }
    if mode == Mode::Daemon {
        pragmas.push("PRAGMA wal_autocheckpoint = 0".into());
    }
    Ok((url, pragmas))
}

fn with_query(url: &str, query: &str) -> String {
    if url.contains('?') {
        format!("{url}&{query}")
    } else {
        format!("{url}?{query}")
    }
}

/// Times are stored as RFC 3339 UTC text with milliseconds: sortable as text.
pub fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a stored time; the epoch if the text is damaged.
pub fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_that_mean_try_later_are_told_apart_from_bad_data() {
        assert!(database_unavailable("5")); // SQLITE_BUSY
        assert!(database_unavailable("517")); // SQLITE_BUSY_SNAPSHOT
        assert!(!database_unavailable("19")); // SQLITE_CONSTRAINT
        assert!(database_unavailable("08006")); // connection failure
        assert!(database_unavailable("57P01")); // admin shutdown
        assert!(database_unavailable("40001"));
        assert!(!database_unavailable("23505")); // unique violation
    }
}
