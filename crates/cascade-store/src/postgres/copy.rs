//! Moving an SQLite store into PostgreSQL (scale-out §3): every table the two schemas
//! share, row by row in batches, in one PostgreSQL transaction, so a copy that fails
//! leaves the target as empty as it was. The target must be empty (no flows, accounts
//! or settings); its migrations are applied first. Identity sequences are moved past the
//! copied ids; `flow_counts` is filled by the target's own triggers as flows arrive.

use sqlx::{Column, Postgres, QueryBuilder, Row, TypeInfo, ValueRef};

use super::{PgConfig, PgStore};
use crate::sqlite::{SqliteConfig, SqliteStore};
use crate::{Result, StoreError};

/// The tables copied, in an order that keeps references valid, with the columns both
/// schemas have (PostgreSQL's extra columns take their defaults).
const TABLES: &[(&str, &[&str])] = &[
    ("settings", &["key", "value"]),
    (
        "accounts",
        &["id", "name", "balance_micros", "currency", "created_at"],
    ),
    (
        "applications",
        &[
            "id",
            "account_id",
            "name",
            "secret_hash",
            "scopes",
            "token_lifetime_s",
            "webhook_secret",
            "rate_per_second",
            "rate_burst",
            "created_at",
        ],
    ),
    (
        "tokens",
        &[
            "digest",
            "application_id",
            "account_id",
            "scopes",
            "expires_at",
        ],
    ),
    ("viber_senders", &["id", "account_id", "name", "created_at"]),
    ("flow_definitions", &["id", "definition"]),
    (
        "flows",
        &[
            "id",
            "account_id",
            "application_id",
            "status",
            "termination_channel",
            "created_at",
            "updated_at",
            "state",
            "event_seq",
            "callback_seq",
            "channels",
        ],
    ),
    ("flow_events", &["flow_id", "seq", "entry"]),
    (
        "flow_steps",
        &[
            "id",
            "flow_id",
            "account_id",
            "channel",
            "recipient",
            "recipient_rev",
            "created_at",
        ],
    ),
    (
        "jobs",
        &[
            "id",
            "flow_id",
            "step_order",
            "payload",
            "due_at",
            "claimed_until",
            "attempts",
        ],
    ),
    ("timers", &["flow_id", "step_order", "kind", "due_at"]),
    (
        "provider_refs",
        &[
            "provider",
            "provider_message_id",
            "flow_id",
            "step_order",
            "part",
            "created_at",
        ],
    ),
    (
        "orphan_reports",
        &[
            "id",
            "provider",
            "provider_message_id",
            "report",
            "received_at",
            "hold_group",
        ],
    ),
    (
        "callbacks",
        &[
            "id",
            "event_id",
            "flow_id",
            "seq",
            "application_id",
            "url",
            "body",
            "state",
            "attempts",
            "first_attempt_at",
            "next_at",
            "claimed_until",
            "last_error",
            "created_at",
        ],
    ),
    (
        "idempotency_keys",
        &[
            "application_id",
            "key",
            "request_hash",
            "tracking_id",
            "response",
            "created_at",
            "state",
            "claim_token",
            "lease_until",
        ],
    ),
    (
        "sandbox_scenarios",
        &[
            "id",
            "channel",
            "recipient",
            "rule",
            "times_left",
            "created_at",
        ],
    ),
    (
        "sandbox_messages",
        &[
            "id",
            "provider",
            "channel",
            "client_ref",
            "recipient",
            "provider_ids",
            "payload",
            "scenario_id",
            "received_at",
        ],
    ),
    (
        "sandbox_reports",
        &["id", "provider", "provider_message_id", "report", "due_at"],
    ),
    (
        "inbound_messages",
        &[
            "id",
            "received_at",
            "channel",
            "sender",
            "recipient",
            "body",
            "provider",
            "provider_message_id",
            "flow_id",
            "step_order",
            "message_id",
            "forwarded",
        ],
    ),
    (
        "call_dials",
        &["flow_id", "step_order", "provider", "dialled_at"],
    ),
];

/// Columns that are booleans in PostgreSQL and 0/1 in SQLite.
const BOOLEAN_COLUMNS: &[&str] = &["forwarded"];

/// Rows per INSERT.
const BATCH: usize = 500;

/// One value as read from SQLite.
#[derive(Debug, Clone)]
enum Cell {
    Null,
    Int(i64),
    Text(String),
}

/// How far a copy is: called with the table, rows copied of it, and its row count.
pub trait Progress: Send + Sync {
    fn table(&self, table: &str, rows: u64);
    fn copied(&self, rows: u64);
}

/// Rows in every table to copy (for a progress bar's length).
///
/// # Errors
/// When the source cannot be opened or read.
pub async fn count_rows(from: &str) -> Result<Vec<(&'static str, u64)>> {
    let source = SqliteStore::open(&SqliteConfig::new(from)).await?;
    let mut out = Vec::new();
    for (table, _) in TABLES {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(source.readers())
            .await?;
        out.push((*table, u64::try_from(n).unwrap_or(0)));
    }
    crate::Store::close(&source).await;
    Ok(out)
}

/// The SQLite store's JSON columns, which it packs (`crate::sqlite::packed`);
/// PostgreSQL holds them as text.
const PACKED_COLUMNS: &[(&str, &str)] = &[
    ("flows", "state"),
    ("flow_definitions", "definition"),
    ("flow_events", "entry"),
];

/// Copy the SQLite store at `from` into the (empty) PostgreSQL database at `to`.
///
/// # Errors
/// [`StoreError::Conflict`] when the target holds data; otherwise what reading or
/// writing failed on (then nothing was written).
pub async fn sqlite_to_postgres(from: &str, to: &str, progress: &dyn Progress) -> Result<u64> {
    let source = SqliteStore::open(&SqliteConfig::new(from)).await?;
    let target = PgStore::open(&PgConfig::new(to, "migrate-store")).await?;
    let taken: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM flows) + (SELECT COUNT(*) FROM accounts)
              + (SELECT COUNT(*) FROM settings)",
    )
    .fetch_one(&target.pool)
    .await?;
    if taken > 0 {
        return Err(StoreError::Conflict(
            "the target database is not empty (it holds accounts, flows or settings); \
             migrate-store only writes into an empty one"
                .into(),
        ));
    }
    let mut tx = target.pool.begin().await?;
    let mut total = 0u64;
    for (table, columns) in TABLES {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(source.readers())
            .await?;
        progress.table(table, u64::try_from(n).unwrap_or(0));
        let list = columns.join(", ");
        // One streamed read per table, written in batches.
        let select = format!("SELECT {list} FROM {table}");
        let mut rows = sqlx::query(&select).fetch(source.readers());
        let mut batch: Vec<Vec<Cell>> = Vec::with_capacity(BATCH);
        loop {
            let row = futures_util::TryStreamExt::try_next(&mut rows).await?;
            let end = row.is_none();
            if let Some(row) = row {
                let mut values = Vec::with_capacity(columns.len());
                for (i, column) in row.columns().iter().enumerate() {
                    let raw = row.try_get_raw(i)?;
                    let cell = if raw.is_null() {
                        Cell::Null
                    } else if PACKED_COLUMNS.contains(&(*table, column.name())) {
                        Cell::Text(crate::sqlite::packed::json_at(&row, i)?)
                    } else if matches!(column.type_info().name(), "INTEGER" | "BOOLEAN") {
                        Cell::Int(row.try_get(i)?)
                    } else {
                        Cell::Text(row.try_get(i)?)
                    };
                    values.push(cell);
                }
                batch.push(values);
            }
            if batch.len() >= BATCH || (end && !batch.is_empty()) {
                insert(&mut tx, table, &list, columns, &batch).await?;
                let copied = batch.len() as u64;
                total += copied;
                progress.copied(copied);
                batch.clear();
            }
            if end {
                break;
            }
        }
        drop(rows);
        if columns.first() == Some(&"id") {
            // Identity columns continue after the copied ids.
            let is_identity: Option<String> =
                sqlx::query_scalar("SELECT pg_get_serial_sequence($1, 'id')")
                    .bind(*table)
                    .fetch_one(&mut *tx)
                    .await?;
            if let Some(sequence) = is_identity {
                sqlx::query(&format!(
                    "SELECT setval($1, GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1), \
                     (SELECT COUNT(*) > 0 FROM {table}))"
                ))
                .bind(sequence)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    tx.commit().await?;
    crate::Store::close(&source).await;
    Ok(total)
}

async fn insert(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    table: &str,
    list: &str,
    columns: &[&str],
    rows: &[Vec<Cell>],
) -> Result<()> {
    let mut q = QueryBuilder::<Postgres>::new(format!("INSERT INTO {table} ({list}) "));
    q.push_values(rows, |mut b, values| {
        for (value, column) in values.iter().zip(columns.iter()) {
            let boolean = BOOLEAN_COLUMNS.contains(column);
            match value {
                Cell::Null => {
                    b.push("NULL");
                }
                Cell::Int(v) if boolean => {
                    b.push_bind(*v != 0);
                }
                Cell::Int(v) => {
                    b.push_bind(*v);
                }
                Cell::Text(t) => {
                    b.push_bind(t.clone());
                }
            }
        }
    });
    q.build().execute(&mut **tx).await?;
    Ok(())
}
