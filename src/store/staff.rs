//! Staff users and API tokens: who may sign in, with which role.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError, time_text};

type Result<T> = std::result::Result<T, StoreError>;

/// A staff user as listed (never with the hash).
#[derive(Debug, Clone, Serialize)]
pub struct UserEntry {
    /// Sign-in name (an agent's id in `rules/agents.toml`).
    pub name: String,
    /// `receptionist`, `agent` or `admin`.
    pub role: String,
    /// When the user was added.
    pub created_at: String,
}

/// What signing in needs to check.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The role.
    pub role: String,
    /// The argon2 PHC string.
    pub password_hash: String,
    /// Sessions made before the last log-out carry an older epoch and are refused.
    pub session_epoch: i64,
}

impl Store {
    /// Adds a user; `false` when the name is taken.
    pub async fn add_user(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(role)
        .bind(password_hash)
        .bind(time_text(at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<UserEntry>> {
        let rows = sqlx::query("SELECT name, role, created_at FROM users ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| UserEntry {
                name: r.get(0),
                role: r.get(1),
                created_at: r.get(2),
            })
            .collect())
    }

    /// Removes a user; `false` when there was none.
    pub async fn remove_user(&self, name: &str) -> Result<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// What is needed to check a user's password and sessions.
    pub async fn credentials(&self, name: &str) -> Result<Option<Credentials>> {
        let row =
            sqlx::query("SELECT role, password_hash, session_epoch FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| Credentials {
            role: r.get(0),
            password_hash: r.get(1),
            session_epoch: r.get(2),
        }))
    }

    /// Ends every session of a user (log-out).
    pub async fn end_sessions(&self, name: &str) -> Result<()> {
        let _turn = self.write_turn().await;
        sqlx::query("UPDATE users SET session_epoch = session_epoch + 1 WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a new API token's digest; `false` when the name is taken.
    pub async fn add_token(
        &self,
        name: &str,
        role: &str,
        sha256: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "INSERT INTO api_tokens (sha256, name, role, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(sha256)
        .bind(name)
        .bind(role)
        .bind(time_text(at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The name and role of the token with this digest.
    pub async fn token(&self, sha256: &str) -> Result<Option<(String, String)>> {
        let row = sqlx::query("SELECT name, role FROM api_tokens WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }
}
