//! The database a test desk uses: SQLite in the desk's folder, or — when
//! `SWITCHBOARD_TEST_POSTGRES` names a server (tests/env/pg.sh prints it) — a fresh
//! PostgreSQL database of its own, dropped again when the test ends. The same tests run on
//! both; tests/run.sh runs them once per database.

// Shared by two test binaries; each uses a different part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{AnyConnection, Connection, Row};

/// The server to make test databases on, if the suite runs on PostgreSQL.
pub(crate) fn postgres_server() -> Option<String> {
    std::env::var("SWITCHBOARD_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.is_empty())
}

/// One test's database.
pub(crate) struct TestDatabase {
    /// What the desk's config says.
    pub(crate) config_url: String,
    /// How a test reads it (absolute).
    pub(crate) read_url: String,
    /// (server url, database name) to drop at the end, on PostgreSQL.
    made: Option<(String, String)>,
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// `postgres://user@host:port/NAME` from the server's url.
fn with_database(server: &str, name: &str) -> String {
    let base = server.rsplit_once('/').map_or(server, |(base, _)| base);
    format!("{base}/{name}")
}

impl TestDatabase {
    /// A database for a desk in `dir` (SQLite at `var/switchboard.db` there).
    pub(crate) fn new(dir: &Path) -> TestDatabase {
        let Some(server) = postgres_server() else {
            let file: PathBuf = dir.join("var/switchboard.db");
            return TestDatabase {
                config_url: "sqlite://var/switchboard.db".into(),
                read_url: format!("sqlite://{}?mode=ro", file.display()),
                made: None,
            };
        };
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "sbt_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        sqlx::any::install_default_drivers();
        block_on(async {
            let mut admin = AnyConnection::connect(&server)
                .await
                .expect("connect to the test PostgreSQL (tests/env/pg.sh up)");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .expect("create a test database");
        });
        let url = with_database(&server, &name);
        TestDatabase {
            config_url: url.clone(),
            read_url: url,
            made: Some((server, name)),
        }
    }

    /// The same database for a second daemon; the first one's drops it.
    pub(crate) fn shared(&self) -> TestDatabase {
        TestDatabase {
            config_url: self.config_url.clone(),
            read_url: self.read_url.clone(),
            made: None,
        }
    }

    /// Whether this is PostgreSQL.
    pub(crate) fn is_postgres(&self) -> bool {
        self.made.is_some()
    }

    /// Rows of a query as text (numbers formatted, blobs read as UTF-8); an error when the
    /// database cannot be opened (e.g. not made yet).
    pub(crate) fn try_query(&self, sql: &str) -> Result<Vec<Vec<String>>, sqlx::Error> {
        sqlx::any::install_default_drivers();
        block_on(async {
            let mut conn = AnyConnection::connect(&self.read_url).await?;
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_all(&mut conn)
                .await?;
            let _ = conn.close().await;
            Ok(rows
                .iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| {
                            row.try_get::<String, _>(i)
                                .or_else(|_| row.try_get::<i64, _>(i).map(|n| n.to_string()))
                                .or_else(|_| row.try_get::<f64, _>(i).map(|n| n.to_string()))
                                .or_else(|_| {
                                    row.try_get::<Vec<u8>, _>(i)
                                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                                })
                                .unwrap_or_default()
                        })
                        .collect()
                })
                .collect())
        })
    }

    /// Rows of a query; panics when it fails.
    pub(crate) fn query(&self, sql: &str) -> Vec<Vec<String>> {
        self.try_query(sql)
            .unwrap_or_else(|e| panic!("query {sql:?} failed: {e}"))
    }

    /// The first column of the first row as a number; 0 when there is none yet.
    pub(crate) fn count(&self, sql: &str) -> i64 {
        self.try_query(sql)
            .ok()
            .and_then(|rows| rows.first().and_then(|r| r.first()).cloned())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server, name)) = self.made.take() else {
            return;
        };
        // Best effort: a daemon killed by the test may still hold connections.
        let _ = std::panic::catch_unwind(|| {
            block_on(async {
                if let Ok(mut admin) = AnyConnection::connect(&server).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
            })
        });
    }
}
