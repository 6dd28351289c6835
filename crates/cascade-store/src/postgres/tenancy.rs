//! [`TenancyStore`] for PostgreSQL: plain statements on the pool (each its own
//! transaction).

use async_trait::async_trait;
use cascade_core::{Micros, Timestamp};
use sqlx::Row;

use super::PgStore;
use crate::model::{AccessToken, Account, Application, ViberSender};
use crate::{Result, TenancyStore};

#[async_trait]
impl TenancyStore for PgStore {
    async fn create_account(&self, a: &Account) -> Result<()> {
        sqlx::query(
            "INSERT INTO accounts (id, name, balance_micros, currency, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&a.id)
        .bind(&a.name)
        .bind(a.balance.get())
        .bind(&a.currency)
        .bind(a.created_at.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn account(&self, id: &str) -> Result<Option<Account>> {
        let row = sqlx::query(
            "SELECT id, name, balance_micros, currency, created_at FROM accounts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| crate::rows::account(&r)).transpose()
    }

    async fn accounts(&self, limit: u32) -> Result<Vec<Account>> {
        let rows = sqlx::query(
            "SELECT id, name, balance_micros, currency, created_at FROM accounts
             ORDER BY created_at, id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::rows::account).collect()
    }

    async fn applications(&self, account_id: &str) -> Result<Vec<Application>> {
        let rows = sqlx::query(
            "SELECT id, account_id, name, secret_hash, scopes, token_lifetime_s, webhook_secret,
                    rate_per_second, rate_burst, created_at
             FROM applications WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::rows::application).collect()
    }

    async fn flow_account(&self, id: cascade_core::FlowId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT account_id FROM flows WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    async fn set_balance(&self, id: &str, balance: Micros) -> Result<Option<Account>> {
        let row = sqlx::query(
            "UPDATE accounts SET balance_micros = $1 WHERE id = $2
             RETURNING id, name, balance_micros, currency, created_at",
        )
        .bind(balance.get())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| crate::rows::account(&r)).transpose()
    }

    async fn create_application(&self, a: &Application) -> Result<()> {
        sqlx::query(
            "INSERT INTO applications (id, account_id, name, secret_hash, scopes, token_lifetime_s,
                webhook_secret, rate_per_second, rate_burst, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&a.id)
        .bind(&a.account_id)
        .bind(&a.name)
        .bind(&a.secret_hash)
        .bind(a.scopes.join(" "))
        .bind(i64::from(a.token_lifetime_s))
        .bind(&a.webhook_secret)
        .bind(a.rate_limit.map(|r| i64::from(r.per_second)))
        .bind(a.rate_limit.map(|r| i64::from(r.burst)))
        .bind(a.created_at.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn application(&self, id: &str) -> Result<Option<Application>> {
        let row = sqlx::query(
            "SELECT id, account_id, name, secret_hash, scopes, token_lifetime_s, webhook_secret,
                    rate_per_second, rate_burst, created_at
             FROM applications WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| crate::rows::application(&r)).transpose()
    }

    async fn set_application_secret(&self, id: &str, secret_hash: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE applications SET secret_hash = $1 WHERE id = $2")
            .bind(secret_hash)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_webhook_secret(&self, id: &str, secret: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE applications SET webhook_secret = $1 WHERE id = $2")
            .bind(secret)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn add_viber_sender(&self, s: &ViberSender) -> Result<()> {
        sqlx::query(
            "INSERT INTO viber_senders (id, account_id, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&s.id)
        .bind(&s.account_id)
        .bind(&s.name)
        .bind(s.created_at.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn viber_senders(&self, account_id: &str) -> Result<Vec<ViberSender>> {
        let rows = sqlx::query(
            "SELECT id, account_id, name, created_at FROM viber_senders WHERE account_id = $1
             ORDER BY created_at, id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
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

    async fn insert_token(&self, t: &AccessToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO tokens (digest, application_id, account_id, scopes, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t.digest)
        .bind(&t.application_id)
        .bind(&t.account_id)
        .bind(t.scopes.join(" "))
        .bind(t.expires_at.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn token(&self, digest: &str) -> Result<Option<AccessToken>> {
        let row = sqlx::query(
            "SELECT digest, application_id, account_id, scopes, expires_at FROM tokens WHERE digest = $1",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
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
        let done = sqlx::query("DELETE FROM tokens WHERE expires_at < $1")
            .bind(now.as_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
