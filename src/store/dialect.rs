//! Where SQLite and PostgreSQL differ: which one a url or connection is, the few statements
//! written twice, and how a write transaction shuts out other writers on each.

use sqlx::{Any, AnyConnection, Connection, Transaction};

use super::StoreError;

/// The database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One file, one daemon (the embedded default).
    Sqlite,
    /// A server shared by several daemons.
    Postgres,
}

/// The key of the advisory lock every write transaction takes on PostgreSQL ("SWBT").
const WRITE_LOCK_KEY: i64 = 0x5357_4254;

impl Backend {
    /// The backend a `database.url` names, by its scheme.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    /// The backend of an open connection.
    pub fn of(conn: &AnyConnection) -> Backend {
        if conn.backend_name().eq_ignore_ascii_case("postgresql") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// One of two spellings of a statement.
    pub fn pick(self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }

    /// The name people know it by.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Starts a transaction that holds the database's write lock until it ends: SQLite's
/// `BEGIN IMMEDIATE`, or on PostgreSQL one transaction-scoped advisory lock shared by every
/// daemon. Ticket ids and numbers are handed out from what the transaction read, and agents'
/// loads are counted before assigning, so two writers must never interleave.
pub async fn begin_write(conn: &mut AnyConnection) -> Result<Transaction<'_, Any>, StoreError> {
    match Backend::of(conn) {
        Backend::Sqlite => Ok(conn.begin_with("BEGIN IMMEDIATE").await?),
        Backend::Postgres => {
            let mut tx = conn.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(WRITE_LOCK_KEY)
                .execute(&mut *tx)
                .await?;
            Ok(tx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_scheme_chooses_the_database() {
        assert_eq!(Backend::of_url("sqlite://var/x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("sqlite:x.db"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::of_url("postgres://desk@127.0.0.1/desk"),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::of_url("postgresql://desk@127.0.0.1/desk"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("mysql://desk@127.0.0.1/desk"), None);
    }
}
