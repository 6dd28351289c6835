//! [`TenancyStore`] for SQLite.

use async_trait::async_trait;
use cascade_core::{Micros, Timestamp};
use rusqlite::params;
use sqlx::Row;

use super::SqliteStore;
use crate::model::{AccessToken, Account, Application, ViberSender};
use crate::{Result, TenancyStore};

#[async_trait]
impl TenancyStore for SqliteStore {
    async fn create_account(&self, account: &Account) -> Result<()> {
        let a = account.clone();
        self.write(move |conn| {
            conn.prepare_cached("INSERT INTO accounts (id, name, balance_micros, currency, created_at) VALUES (?, ?, ?, ?, ?)")?
                .execute(params![a.id, a.name, a.balance.get(), a.currency, a.created_at.as_millis()])?;
            Ok(())
        })
        .await
    }

    async fn account(&self, id: &str) -> Result<Option<Account>> {
        let row = sqlx::query(
            "SELECT id, name, balance_micros, currency, created_at FROM accounts WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(self.readers())
        .await?;
        row.map(|r| crate::rows::account(&r)).transpose()
    }

    async fn accounts(&self, limit: u32) -> Result<Vec<Account>> {
        let rows = sqlx::query(
            "SELECT id, name, balance_micros, currency, created_at FROM accounts
             ORDER BY created_at, id LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(self.readers())
        .await?;
        rows.iter().map(crate::rows::account).collect()
    }

    async fn applications(&self, account_id: &str) -> Result<Vec<Application>> {
        let rows = sqlx::query(
            "SELECT id, account_id, name, secret_hash, scopes, token_lifetime_s, webhook_secret,
                    rate_per_second, rate_burst, created_at
             FROM applications WHERE account_id = ? ORDER BY created_at, id",
        )
        .bind(account_id)
        .fetch_all(self.readers())
        .await?;
        rows.iter().map(crate::rows::application).collect()
    }

    async fn flow_account(&self, id: cascade_core::FlowId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT account_id FROM flows WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(self.readers())
            .await?;
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    async fn set_balance(&self, id: &str, balance: Micros) -> Result<Option<Account>> {
        let id = id.to_owned();
        self.write_after_flush(move |conn| {
            let mut stmt = conn.prepare_cached(
                "UPDATE accounts SET balance_micros = ? WHERE id = ?
                     RETURNING id, name, balance_micros, currency, created_at",
            )?;
            let mut rows = stmt.query(params![balance.get(), id])?;
            // `id` is the key: at most one row, but the statement is stepped to its end.
            let mut account = None;
            while let Some(row) = rows.next()? {
                if account.is_none() {
                    account = Some(crate::rows::account(row)?);
                }
            }
            Ok(account)
        })
        .await
    }

    async fn create_application(&self, app: &Application) -> Result<()> {
        let a = app.clone();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO applications (id, account_id, name, secret_hash, scopes, token_lifetime_s,
                        webhook_secret, rate_per_second, rate_burst, created_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                a.id,
                a.account_id,
                a.name,
                a.secret_hash,
                a.scopes.join(" "),
                i64::from(a.token_lifetime_s),
                a.webhook_secret,
                a.rate_limit.map(|r| i64::from(r.per_second)),
                a.rate_limit.map(|r| i64::from(r.burst)),
                a.created_at.as_millis(),
            ])?;
            Ok(())
        })
        .await
    }

    async fn application(&self, id: &str) -> Result<Option<Application>> {
        let row = sqlx::query(
            "SELECT id, account_id, name, secret_hash, scopes, token_lifetime_s, webhook_secret,
                    rate_per_second, rate_burst, created_at
             FROM applications WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(self.readers())
        .await?;
        row.map(|r| crate::rows::application(&r)).transpose()
    }

    async fn set_application_secret(&self, id: &str, secret_hash: &str) -> Result<bool> {
        self.update_application(id, "secret_hash", secret_hash)
            .await
    }

    async fn set_webhook_secret(&self, id: &str, secret: &str) -> Result<bool> {
        self.update_application(id, "webhook_secret", secret).await
    }

    async fn add_viber_sender(&self, sender: &ViberSender) -> Result<()> {
        let s = sender.clone();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO viber_senders (id, account_id, name, created_at) VALUES (?, ?, ?, ?)",
            )?
            .execute(params![
                s.id,
                s.account_id,
                s.name,
                s.created_at.as_millis()
            ])?;
            Ok(())
        })
        .await
    }

    async fn viber_senders(&self, account_id: &str) -> Result<Vec<ViberSender>> {
        let rows = sqlx::query(
            "SELECT id, account_id, name, created_at FROM viber_senders WHERE account_id = ? ORDER BY created_at, id",
        )
        .bind(account_id)
        .fetch_all(self.readers())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ViberSender {
                    id: r.try_get(0)?,
                    account_id: r.try_get(1)?,
                    name: r.try_get(2)?,
                    created_at: Timestamp::from_millis(r.try_get(3)?),
                })
            })
            .collect()
    }

    async fn insert_token(&self, token: &AccessToken) -> Result<()> {
        let t = token.clone();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO tokens (digest, application_id, account_id, scopes, expires_at) VALUES (?, ?, ?, ?, ?)",
            )?
            .execute(params![
                t.digest,
                t.application_id,
                t.account_id,
                t.scopes.join(" "),
                t.expires_at.as_millis(),
            ])?;
            Ok(())
        })
        .await
    }

    async fn token(&self, digest: &str) -> Result<Option<AccessToken>> {
        let row = sqlx::query("SELECT digest, application_id, account_id, scopes, expires_at FROM tokens WHERE digest = ?")
            .bind(digest)
            .fetch_optional(self.readers())
            .await?;
        row.map(|r| {
            Ok(AccessToken {
                digest: r.try_get(0)?,
                application_id: r.try_get(1)?,
                account_id: r.try_get(2)?,
                scopes: crate::rows::scopes(&r, 3)?,
                expires_at: Timestamp::from_millis(r.try_get(4)?),
            })
        })
        .transpose()
    }

    async fn purge_tokens(&self, now: Timestamp) -> Result<u64> {
        self.write(move |conn| {
            let deleted = conn
                .prepare_cached("DELETE FROM tokens WHERE expires_at < ?")?
                .execute(params![now.as_millis()])?;
            Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
        })
        .await
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
                .bind(key)
                .fetch_optional(self.readers())
                .await?,
        )
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |conn| {
            conn.prepare_cached("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")?
                .execute(params![key, value])?;
            Ok(())
        })
        .await
    }
}

impl SqliteStore {
    async fn update_application(
        &self,
        id: &str,
        column: &'static str,
        value: &str,
    ) -> Result<bool> {
        let (id, value) = (id.to_owned(), value.to_owned());
        self.write(move |conn| {
            let sql = format!("UPDATE applications SET {column} = ? WHERE id = ?");
            let updated = conn.prepare_cached(&sql)?.execute(params![value, id])?;
            Ok(updated == 1)
        })
        .await
    }
}
