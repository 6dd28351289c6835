//! The PostgreSQL store (scale-out §1): the same traits as SQLite, for deployments that
//! outgrow one machine and run several `cascade serve` nodes on one database.
//!
//! Every operation is one PostgreSQL transaction. The engine's operations lock their
//! flow's row (`SELECT … FOR UPDATE`), so reports for one flow arriving at different
//! nodes apply one after the other, each exactly once; work is claimed with
//! `FOR UPDATE SKIP LOCKED` and a lease, so each job, timer, callback and sandbox report
//! is worked by one node at a time, and a dead node's leases simply run out.
//!
//! - [`migrate`]: the schema, applied under an advisory lock (nodes starting together
//!   apply it once);
//! - [`flows`]: [`crate::FlowStore`] through [`crate::engine_tx`] on a transaction;
//! - [`tenancy`], [`callbacks`], [`sandbox`], [`search`]: the other traits;
//! - [`cluster`]: a throwaway PostgreSQL cluster for tests.

mod callbacks;
pub mod cluster;
mod flows;
mod migrate;
mod sandbox;
mod search;
mod tenancy;
mod tx;

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::{Result, StoreError};

/// Settings for [`PgStore::open`].
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// `postgres://user:password@host:5432/db` (also `postgresql://`).
    pub url: String,
    /// Connections in the pool.
    pub connections: u32,
    /// This node's id (`CASCADE_NODE_ID`).
    pub node_id: String,
}

impl PgConfig {
    pub fn new(url: impl Into<String>, node_id: impl Into<String>) -> Self {
        PgConfig {
            url: url.into(),
            connections: 16,
            node_id: node_id.into(),
        }
    }
}

/// PostgreSQL behind the [`crate::Store`] trait. Cheap to share behind an `Arc`.
pub struct PgStore {
    pub(crate) pool: PgPool,
    pub(crate) node_id: String,
}

impl std::fmt::Debug for PgStore {
    /// The URL (and its password) is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// Check a PostgreSQL URL without connecting. The problem never repeats the URL (it
/// may hold a password).
///
/// # Errors
/// What is wrong, in words.
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    match PgConnectOptions::from_str(url) {
        Ok(_) => Ok(()),
        Err(e) => {
            let secret = url.split_once("://").map_or(url, |(_, rest)| rest);
            let said = e.to_string();
            let said = if secret.is_empty() {
                said
            } else {
                said.replace(secret, "…")
            };
            Err(format!(
                "not a PostgreSQL URL like postgres://user:password@host:5432/cascade ({said})"
            ))
        }
    }
}

/// Whether `url` selects PostgreSQL.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl PgStore {
    /// Connect and migrate.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached or migrated;
    /// [`StoreError::Io`] for a URL that cannot be read.
    pub async fn open(config: &PgConfig) -> Result<PgStore> {
        let options = PgConnectOptions::from_str(&config.url)
            .map_err(|e| StoreError::Io(format!("the database URL: {e}")))?
            .application_name("cascade");
        let pool = PgPoolOptions::new()
            .max_connections(config.connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(StoreError::Unavailable)?;
        migrate::run(&pool).await?;
        Ok(PgStore {
            pool,
            node_id: config.node_id.clone(),
        })
    }
}

#[async_trait::async_trait]
impl crate::Store for PgStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

pub(crate) fn to_u32(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{v} is out of range")))
}

pub(crate) fn parse_flow_id(text: &str) -> Result<cascade_core::FlowId> {
    cascade_core::FlowId::parse(text)
        .map_err(|e| StoreError::Corrupt(format!("flow id {text}: {e}")))
}
