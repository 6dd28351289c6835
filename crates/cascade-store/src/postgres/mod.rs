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

pub mod cluster;
mod migrate;

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
