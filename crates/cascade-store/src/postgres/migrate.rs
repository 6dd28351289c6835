//! Schema migrations for PostgreSQL: numbered SQL files compiled into the binary, each
//! applied in its own transaction and recorded in `schema_migrations`, all under a
//! transaction-level advisory lock so nodes starting at once apply each one once.

use sqlx::PgPool;

use crate::Result;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../../migrations/postgres/0001_schema.sql"),
    ),
    (
        2,
        "leases",
        include_str!("../../migrations/postgres/0002_leases.sql"),
    ),
];

/// The advisory lock key that serialises migrations ("cascade" in ASCII).
const LOCK_KEY: i64 = 0x0063_6173_6361_6465;

/// Boxed: a transaction borrowed across awaits otherwise makes callers' futures fail
/// the `Send` check when they are spawned.
pub(super) fn run(pool: &PgPool) -> futures_util::future::BoxFuture<'_, Result<()>> {
    Box::pin(run_all(pool))
}

async fn run_all(pool: &PgPool) -> Result<()> {
    for (version, name, sql) in MIGRATIONS {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LOCK_KEY)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .execute(&mut *tx)
        .await?;
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_none() {
            sqlx::Executor::execute(&mut *tx, *sql).await?;
            sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
                .bind(version)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tracing::info!(version, name, "applied migration");
        }
        tx.commit().await?;
    }
    Ok(())
}
