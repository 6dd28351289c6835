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
    (
        6,
        "search_scale",
        include_str!("../../migrations/sqlite/0006_search_scale.sql"),
    ),
    (
        7,
        "idempotency_claims",
        include_str!("../../migrations/sqlite/0007_idempotency_claims.sql"),
    ),
    (
        8,
        "inbound",
        include_str!("../../migrations/sqlite/0008_inbound.sql"),
    ),
    (
        9,
        "call_dials",
        include_str!("../../migrations/sqlite/0009_call_dials.sql"),
    ),
    (
        10,
        "step_weights",
        include_str!("../../migrations/sqlite/0010_step_weights.sql"),
    ),
    (
        11,
        "packed_json",
        include_str!("../../migrations/sqlite/0011_packed_json.sql"),
    ),
    (
        12,
        "recipients",
        include_str!("../../migrations/sqlite/0012_recipients.sql"),
    ),
];

/// The newest schema version this build knows.
pub(super) const LAST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

pub(super) async fn run(conn: &mut SqliteConnection) -> Result<()> {
    run_until(conn, i64::MAX).await
}

/// Apply the migrations not applied yet, up to version `last`.
pub(super) async fn run_until(conn: &mut SqliteConnection, last: i64) -> Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    // A store a newer version has migrated may hold rows this one cannot read (0011:
    // packed JSON); going back a version needs the backup taken before the upgrade.
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(&mut *conn)
        .await?;
    let known = LAST;
    if let Some(newest) = newest.filter(|&n| n > known) {
        return Err(crate::StoreError::Settings(format!(
            "the store was migrated by a newer version of Cascade (schema version {newest}; \
             this one knows up to {known}): run that version, or restore the backup taken \
             before the upgrade"
        )));
    }
    let mut applied = false;
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 <= last) {
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *conn)
                .await?;
        if done.is_some() {
            continue;
        }
        let started = std::time::Instant::now();
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, datetime('now'))")
            .bind(version)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(
            version,
            name,
            elapsed_ms = started.elapsed().as_millis(),
            "applied migration"
        );
        applied = true;
    }
    if applied {
        // A migration that rewrites a large table leaves a WAL as large; write it back
        // now and give the space back, rather than keep a file that size for good.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
