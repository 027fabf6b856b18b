//! Persistence on SQLite (WAL): opening, migrating, and the queries every stage needs.

pub mod queries;
mod queue;
mod reads;
mod staff;
mod tickets;

pub use queries::{NewTicket, OutboxRow};
pub use queue::{AtRisk, Waiting};
pub use reads::{OutboxItem, QueueEntry, SuppressedEntry, TicketView};
pub use staff::{Credentials, UserEntry};
pub use tickets::{CallerTicket, Delivery, EventEntry, RecentCall, TicketDetail};

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

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
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                StoreError::Unavailable(error.to_string())
            }
            sqlx::Error::Database(db) => {
                // SQLITE_BUSY (5), SQLITE_LOCKED (6), SQLITE_IOERR (10), SQLITE_FULL (13),
                // SQLITE_CANTOPEN (14), SQLITE_READONLY (8): the database, not the data.
                let code = db.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0);
                if matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14) {
                    StoreError::Unavailable(error.to_string())
                } else {
                    StoreError::Other(error.to_string())
                }
            }
            _ => StoreError::Other(error.to_string()),
        }
    }
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// One write transaction at a time in this process. SQLite allows one writer anyway; a
    /// second one would spin in the busy handler's sleeps (up to 100 ms each), which showed
    /// as latency spikes when form posts and the outbox worker wrote at once.
    write_gate: std::sync::Arc<tokio::sync::Mutex<()>>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

impl Store {
    /// Opens (creating the file and its folder when missing) and migrates.
    pub async fn open(url: &str, busy_timeout: Duration) -> Result<Store, StoreError> {
        Store::open_with(url, busy_timeout, false).await
    }

    /// Opens for the daemon: commits never run a WAL checkpoint themselves (its flush to
    /// disk took hundreds of milliseconds and landed on one unlucky request); the daemon
    /// checkpoints in the background instead ([`Store::checkpoint`]).
    pub async fn open_for_daemon(url: &str, busy_timeout: Duration) -> Result<Store, StoreError> {
        Store::open_with(url, busy_timeout, true).await
    }

    async fn open_with(
        url: &str,
        busy_timeout: Duration,
        background_checkpoints: bool,
    ) -> Result<Store, StoreError> {
        let mut options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("bad database url \"{url}\": {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(busy_timeout)
            .foreign_keys(true);
        if background_checkpoints {
            options = options.pragma("wal_autocheckpoint", "0");
        }
        if let Some(parent) = Path::new(options.get_filename()).parent()
            && !parent.as_os_str().is_empty()
            && !parent.exists()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(busy_timeout + Duration::from_secs(5))
            .connect_with(options)
            .await?;
        let store = Store {
            pool,
            write_gate: Default::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Copies the write-ahead log into the database without blocking readers or writers;
    /// the daemon calls it every second.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => StoreError::from(inner),
            other => StoreError::Migration(other.to_string()),
        })
    }

    /// The connection pool, for transactions.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Waits for this process's turn to write; hold the guard for the whole transaction.
    pub async fn write_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.write_gate.lock().await
    }

    /// Closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
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

impl Store {
    /// Opens an existing database read-only, without migrating (dry runs).
    pub async fn open_read_only(url: &str) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("bad database url \"{url}\": {e}")))?
            .read_only(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        Ok(Store {
            pool,
            write_gate: Default::default(),
        })
    }
}
