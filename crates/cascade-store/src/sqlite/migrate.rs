//! Schema migrations: numbered SQL files compiled into the binary, applied in order, each
//! in its own transaction, recorded in `schema_migrations`.

use sqlx::{Connection, SqliteConnection};

use crate::Result;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "core",
        include_str!("../../migrations/sqlite/0001_core.sql"),
    ),
    (
        2,
        "search",
        include_str!("../../migrations/sqlite/0002_search.sql"),
    ),
    (
        3,
        "callbacks_idempotency",
        include_str!("../../migrations/sqlite/0003_callbacks_idempotency.sql"),
    ),
    (
        4,
        "search_indexes",
        include_str!("../../migrations/sqlite/0004_search_indexes.sql"),
    ),
    (
        5,
        "report_candidates",
        include_str!("../../migrations/sqlite/0005_report_candidates.sql"),
    ),
];

pub(super) async fn run(conn: &mut SqliteConnection) -> Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    for &(version, name, sql) in MIGRATIONS {
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *conn)
                .await?;
        if done.is_some() {
            continue;
        }
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, datetime('now'))")
            .bind(version)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, name, "applied migration");
    }
    Ok(())
}
