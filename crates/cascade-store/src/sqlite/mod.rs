//! The embedded SQLite store.
//!
//! SQLite allows one writer at a time, so all writes go through one task that owns the
//! write connection. Callers send it operations; it takes every operation waiting (up to
//! [`MAX_BATCH`]), runs them in one `BEGIN IMMEDIATE … COMMIT`, each inside its own
//! savepoint so one failing operation does not spoil the others, and answers each caller
//! only after the commit. Under load this turns thousands of small transactions into a
//! few large ones (one fsync each) without making a lone request wait. Reads use a
//! separate pool of connections and run in parallel with the writer (WAL mode).

mod flows;
mod migrate;
mod sandbox;
mod tenancy;
mod tx;

use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::{Result, StoreError};

/// Most operations one transaction takes.
const MAX_BATCH: usize = 512;
/// Operations that may wait for the writer before callers are slowed down.
const QUEUE_DEPTH: usize = 16_384;

/// How hard a commit is pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync on every commit: an acknowledged flow survives power loss.
    #[default]
    Full,
    /// fsync at WAL checkpoints only: survives a process crash, not a power cut.
    Normal,
}

/// Settings for [`SqliteStore::open`].
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// `sqlite://path/to/file.db` (created when missing) or `sqlite::memory:`.
    pub url: String,
    pub durability: Durability,
    pub readers: u32,
}

impl SqliteConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            durability: Durability::Full,
            readers: 4,
        }
    }
}

/// A batched operation: runs against the open transaction and returns how to answer its
/// caller once the transaction's fate is known.
type Op = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, OpOutcome> + Send>;

struct OpOutcome {
    ok: bool,
    /// Called with `Ok` after COMMIT, or with the commit error.
    answer: Box<dyn FnOnce(Result<(), String>) + Send>,
}

/// SQLite behind the [`crate::Store`] trait. Cheap to share behind an `Arc`.
pub struct SqliteStore {
    writer: mpsc::Sender<Op>,
    readers: SqlitePool,
    writer_task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Open (creating when missing) and migrate the database, and start the writer.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be opened or migrated.
    pub async fn open(config: &SqliteConfig) -> Result<SqliteStore> {
        let base = SqliteConnectOptions::from_str(&config.url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-32000");
        let write_opts = base.clone().synchronous(match config.durability {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        });
        let mut conn = SqliteConnection::connect_with(&write_opts).await?;
        migrate::run(&mut conn).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(config.readers.max(1))
            .min_connections(1)
            .connect_with(base.read_only(true))
            .await?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let task = tokio::spawn(run_writer_until_stopped(conn, rx));
        Ok(SqliteStore {
            writer: tx,
            readers,
            writer_task: Mutex::new(Some(task)),
        })
    }

    /// Run `f` in the writer's next transaction and return its value after COMMIT.
    ///
    /// # Errors
    /// `f`'s own error (its changes are rolled back, the batch's others stand), or
    /// [`StoreError::Unavailable`] when the commit failed, or [`StoreError::Closed`].
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T>>();
        let op: Op = Box::new(move |conn| {
            Box::pin(async move {
                match f(conn).await {
                    Ok(value) => OpOutcome {
                        ok: true,
                        answer: Box::new(move |commit| {
                            let _ = reply
                                .send(commit.map(|()| value).map_err(StoreError::CommitFailed));
                        }),
                    },
                    Err(e) => OpOutcome {
                        ok: false,
                        answer: Box::new(move |_| {
                            let _ = reply.send(Err(e));
                        }),
                    },
                }
            })
        });
        self.writer.send(op).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub(crate) fn readers(&self) -> &SqlitePool {
        &self.readers
    }

    /// Stop accepting writes, finish the queued ones and close the connections.
    pub async fn shutdown(&self) {
        let task = self
            .writer_task
            .lock()
            .expect("no panics while holding this lock")
            .take();
        // Closing happens when every sender is gone; this store keeps one, so instead the
        // task is aborted after the queue is drained by a final no-op write.
        let _ = self.write(|_| Box::pin(async { Ok(()) })).await;
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        self.readers.close().await;
    }
}

async fn run_writer_until_stopped(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Op>) {
    let mut batch: Vec<Op> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        run_batch(&mut conn, &mut batch).await;
    }
    let _ = conn.close().await;
}

/// Boxed so the spawned writer future stays `Send` for every connection lifetime (a
/// known limit of inference with sqlx's `Executor` on `&mut` connections).
fn run_batch<'a>(conn: &'a mut SqliteConnection, batch: &'a mut Vec<Op>) -> BoxFuture<'a, ()> {
    Box::pin(run_batch_inner(conn, batch))
}

async fn run_batch_inner(conn: &mut SqliteConnection, batch: &mut Vec<Op>) {
    let mut answers = Vec::with_capacity(batch.len());
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE").await {
        tracing::error!(error = %e, "could not begin a write transaction");
        for op in batch.drain(..) {
            // Run nothing; answer every caller with the failure.
            drop(op);
        }
        return;
    }
    for op in batch.drain(..) {
        if let Err(e) = exec(conn, "SAVEPOINT op").await {
            tracing::error!(error = %e, "savepoint failed");
        }
        let outcome = op(conn).await;
        if !outcome.ok
            && let Err(e) = exec(conn, "ROLLBACK TO op").await
        {
            tracing::error!(error = %e, "savepoint rollback failed");
        }
        if let Err(e) = exec(conn, "RELEASE op").await {
            tracing::error!(error = %e, "savepoint release failed");
        }
        answers.push(outcome.answer);
    }
    let commit = exec(conn, "COMMIT").await;
    let result = match commit {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!(error = %e, "commit failed; the batch is lost and its callers told");
            let _ = exec(conn, "ROLLBACK").await;
            Err(e.to_string())
        }
    };
    for answer in answers {
        answer(result.clone());
    }
}

#[async_trait::async_trait]
impl crate::Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        if self.writer.is_closed() {
            return Err(StoreError::Closed);
        }
        Ok(())
    }

    async fn close(&self) {
        self.shutdown().await;
    }
}

/// Run one statement on the writer connection. A plain (non-generic) function keeps the
/// writer future provably `Send`.
fn exec<'a>(
    conn: &'a mut SqliteConnection,
    sql: &'static str,
) -> BoxFuture<'a, Result<(), sqlx::Error>> {
    Box::pin(async move { sqlx::query(sql).execute(conn).await.map(|_| ()) })
}
