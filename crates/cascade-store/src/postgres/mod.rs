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
pub mod copy;
mod flows;
mod group;
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
    /// How long a claim on shared work (a job, a callback, a sandbox report) lasts
    /// unless its node renews it (`CASCADE_LEASE_MS`): a dead node's work is taken
    /// over after this.
    pub lease_ms: i64,
    /// Tasks writing the engine's operations in groups ([`group`]): each holds one
    /// connection while it writes; operations that arrive meanwhile share the next
    /// transaction.
    pub writers: usize,
}

impl PgConfig {
    pub fn new(url: impl Into<String>, node_id: impl Into<String>) -> Self {
        PgConfig {
            url: url.into(),
            connections: 16,
            node_id: node_id.into(),
            lease_ms: 15_000,
            // Measured on 2 cores with the 16-connection pool: 1, 2, 4, 8 and 16
            // writers accepted 421, 435, 515, 682 and 695 flows/s (BENCHMARKS.md).
            writers: 8,
        }
    }
}

/// PostgreSQL behind the [`crate::Store`] trait. Cheap to share behind an `Arc`.
pub struct PgStore {
    pub(crate) pool: PgPool,
    pub(crate) node_id: String,
    pub(crate) lease_ms: i64,
    pub(crate) group: group::Group,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
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
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        migrate::run(&pool).await?;
        let lease_ms = config.lease_ms.max(1_000);
        heartbeat(&pool, &config.node_id, lease_ms).await?;
        let beat = {
            let (pool, node) = (pool.clone(), config.node_id.clone());
            tokio::spawn(async move {
                let every =
                    std::time::Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(5_000));
                let mut beats = 0u64;
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = heartbeat(&pool, &node, lease_ms).await {
                        tracing::warn!(error = %e, "node heartbeat");
                    }
                    beats += 1;
                    // About once a minute with the default lease.
                    if beats.is_multiple_of(12)
                        && let Err(e) = compact_flow_counts(&pool).await
                    {
                        tracing::warn!(error = %e, "folding flow counts");
                    }
                }
            })
        };
        Ok(PgStore {
            group: group::Group::start(pool.clone(), config.node_id.clone(), config.writers),
            pool,
            node_id: config.node_id.clone(),
            lease_ms,
            heartbeat: beat,
        })
    }

    /// SQL true for a row claimed (`claimed_by` of `table`) by a node that is gone: no
    /// heartbeat after the bound parameter `$param` ([`PgStore::live_since`]). Its work
    /// is taken over whatever lease it had. (A parameter, not a literal: the statement
    /// stays the same and is prepared once per connection.)
    pub(crate) fn holder_gone(table: &str, param: u32) -> String {
        format!(
            "NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = {table}.claimed_by AND n.heartbeat > ${param})"
        )
    }

    /// Fold `flow_counts` now (each node does it about once a minute on its own).
    ///
    /// # Errors
    /// When the database cannot be written.
    pub async fn fold_flow_counts(&self) -> Result<()> {
        compact_flow_counts(&self.pool).await
    }

    /// A node with no heartbeat since this instant (wall clock, ms) is gone.
    pub(crate) fn live_since(&self) -> i64 {
        wall_clock_ms() - self.lease_ms
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The advisory lock key that keeps two nodes from folding at once ("count" in ASCII).
const COUNTS_LOCK_KEY: i64 = 0x0063_6f75_6e74;

/// Fold `flow_counts`' +1 / -1 rows into one row per key. Under an advisory lock, so
/// two nodes never fold at once; readers see the same sums before and after.
async fn compact_flow_counts(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    // Bound, not written into the SQL: PostgreSQL before 16 reads no hexadecimal or
    // underscored numeric literals.
    let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(COUNTS_LOCK_KEY)
        .fetch_one(&mut *tx)
        .await?;
    if !free {
        return Ok(());
    }
    sqlx::query(
        "WITH gone AS (DELETE FROM flow_counts RETURNING account_id, day, status, channels, n)
         INSERT INTO flow_counts (account_id, day, status, channels, n)
         SELECT account_id, day, status, channels, SUM(n) FROM gone
         GROUP BY account_id, day, status, channels HAVING SUM(n) <> 0",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// This node is alive: its row in `nodes` says so (the work it holds stays its own).
async fn heartbeat(pool: &PgPool, node: &str, _lease_ms: i64) -> Result<()> {
    let now = wall_clock_ms();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO nodes (id, started_at, heartbeat) VALUES ($1, $2, $2)
         ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat",
    )
    .bind(node)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[async_trait::async_trait]
impl crate::Store for PgStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.heartbeat.abort();
        self.pool.close().await;
    }

    async fn nodes(
        &self,
        now: cascade_core::Timestamp,
        live_ms: i64,
    ) -> Result<Vec<crate::NodeRecord>> {
        let now_ms = now.as_millis();
        let rows: Vec<(String, i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT n.id, n.started_at, n.heartbeat,
                    (SELECT COUNT(*) FROM jobs j WHERE j.claimed_by = n.id AND j.claimed_until > $1),
                    (SELECT COUNT(*) FROM callbacks c WHERE c.claimed_by = n.id AND c.claimed_until > $1),
                    (SELECT COUNT(*) FROM sandbox_reports r WHERE r.claimed_by = n.id AND r.claimed_until > $1)
             FROM nodes n WHERE n.heartbeat > $2 ORDER BY n.started_at, n.id",
        )
        .bind(now_ms)
        .bind(now_ms - live_ms)
        .fetch_all(&self.pool)
        .await?;
        let leases: Vec<(String, String)> =
            sqlx::query_as("SELECT node, name FROM leases ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(rows
            .into_iter()
            .map(
                |(id, started, beat, jobs, callbacks, reports)| crate::NodeRecord {
                    leases: leases
                        .iter()
                        .filter(|(node, _)| *node == id)
                        .map(|(_, name)| name.clone())
                        .collect(),
                    id,
                    started_at: cascade_core::Timestamp::from_millis(started),
                    heartbeat: cascade_core::Timestamp::from_millis(beat),
                    jobs: count(jobs),
                    callbacks: count(callbacks),
                    sandbox_reports: count(reports),
                },
            )
            .collect())
    }

    async fn hold_lease(&self, name: &str) -> Result<bool> {
        // Taken when free, kept when ours, taken over when its holder has no heartbeat
        // within the lease; otherwise left as it is.
        let holder: String = sqlx::query_scalar(
            "INSERT INTO leases AS l (name, node, since) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET
                 node = CASE WHEN l.node = EXCLUDED.node
                               OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = l.node AND n.heartbeat > $4)
                             THEN EXCLUDED.node ELSE l.node END,
                 since = CASE WHEN l.node = EXCLUDED.node THEN l.since
                              WHEN NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = l.node AND n.heartbeat > $4)
                              THEN EXCLUDED.since ELSE l.since END
             RETURNING node",
        )
        .bind(name)
        .bind(&self.node_id)
        .bind(wall_clock_ms())
        .bind(self.live_since())
        .fetch_one(&self.pool)
        .await?;
        Ok(holder == self.node_id)
    }

    async fn release_lease(&self, name: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND node = $2")
            .bind(name)
            .bind(&self.node_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

pub(crate) use crate::rows::{flow_id as parse_flow_id, to_u32};
