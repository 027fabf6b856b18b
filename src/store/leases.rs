//! Mailbox leases: each mailbox is polled by one daemon at a time. The holder renews its
//! lease while it works; when it dies the lease runs out and another daemon takes the
//! mailbox over. Expiry times come from the daemons' clocks, so they are assumed to agree
//! to well within the lease's length (NTP; on one machine, trivially).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError, parse_time, time_text};

type Result<T> = std::result::Result<T, StoreError>;

/// Who holds a mailbox, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Mailbox name.
    pub mailbox: String,
    /// The holding daemon's id.
    pub holder: String,
    /// When it runs out unless renewed.
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Takes or renews the lease on `mailbox` for `holder` until `until`: granted when the
    /// mailbox is free, its lease has run out, or `holder` has it already.
    pub async fn hold_mailbox(
        &self,
        mailbox: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "INSERT INTO mailbox_leases (name, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE mailbox_leases.holder = excluded.holder OR mailbox_leases.expires_at < $4",
        )
        .bind(mailbox)
        .bind(holder)
        .bind(time_text(until))
        .bind(time_text(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the lease up (a clean stop), so another daemon need not wait for it to run out.
    pub async fn release_mailbox(&self, mailbox: &str, holder: &str) -> Result<()> {
        let _turn = self.write_turn().await;
        sqlx::query("DELETE FROM mailbox_leases WHERE name = $1 AND holder = $2")
            .bind(mailbox)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every lease, expired or not.
    pub async fn leases(&self) -> Result<Vec<Lease>> {
        let rows = sqlx::query("SELECT name, holder, expires_at FROM mailbox_leases ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| Lease {
                mailbox: r.get(0),
                holder: r.get(1),
                expires_at: parse_time(&r.get::<String, _>(2)),
            })
            .collect())
    }
}
