//! The embedded SQLite store.
//!
//! SQLite allows one writer at a time, so all writes go through one task that owns the
//! write connection. Callers send it operations; it takes every operation waiting (up to
//! [`MAX_BATCH`]), runs them in one `BEGIN IMMEDIATE … COMMIT` and answers each caller
//! only after the commit, so one fsync covers the whole batch.
//!
//! Engine operations (flows, jobs, timers, reports) write into an in-memory
//! [`writeset::WriteSet`] that is flushed with multi-row statements at the end of the
//! batch; each operation's writes are its own until it succeeds, so one failing operation
//! never spoils the others. Other operations run SQL directly inside a savepoint; those
//! that read the engine's tables flush the batch first. Reads use a separate pool of
//! connections and run in parallel with the writer (WAL mode).
//!
//! Two libraries: the writer's connection is rusqlite's, executing on the writer's own
//! thread; the readers, migrations and tools go through sqlx's pool, whose connections
//! each hand their statements to a worker thread (fine for reads in parallel, a hop
//! per statement on the one writer). Both link the same SQLite.

mod batch;
mod callbacks;
mod flows;
mod migrate;
mod owner;
pub(crate) mod packed;
mod sandbox;
mod search;
mod tenancy;
#[cfg(test)]
mod test_flows;
mod writeset;

use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use self::batch::{BatchTx, Writer};
use self::writeset::WriteSet;
use crate::{Result, StoreError};

/// How long a connection waits for a lock another holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Settings of every connection, the readers' (sqlx) and the writer's (rusqlite), besides
/// WAL, foreign keys and [`BUSY_TIMEOUT`]: temporary tables in memory, a 4 MB page cache.
const SETTINGS: [(&str, &str); 2] = [("temp_store", "memory"), ("cache_size", "-4000")];
/// Prepared statements the writer keeps: each table's multi-row statements come in up to
/// 20 shapes (`writeset::chunks`), about 300 in all, besides the operations' own.
const STATEMENT_CACHE: usize = 1024;
/// Most operations one transaction takes.
const MAX_BATCH: usize = 1024;
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
    /// Open as the store's one server: hold the lock that keeps a second server away
    /// (see [`SqliteStore::open`]) and void the leases an earlier server left behind.
    /// Tools that only read or make a few writes (`cascade admin`) leave it false.
    pub owner: bool,
}

impl SqliteConfig {
    /// A tool's view of the store at `url` (not its owner).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            durability: Durability::Full,
            readers: 4,
            owner: false,
        }
    }

    /// The server's view: [`SqliteConfig::owner`] set.
    #[must_use]
    pub fn as_owner(mut self) -> Self {
        self.owner = true;
        self
    }
}

/// The writer's connection: rusqlite, executing on the writer's own thread.
pub(crate) type WriteConn = rusqlite::Connection;

type DirectFn = Box<dyn FnOnce(&mut WriteConn) -> OpOutcome + Send>;
type EngineFn = Box<dyn for<'c> FnOnce(&'c mut BatchTx) -> BoxFuture<'c, OpOutcome> + Send>;

/// A batched operation: runs against the open transaction and returns how to answer its
/// caller once the transaction's fate is known.
enum Op {
    /// Reads and writes through the batch's write set.
    Engine { flush_first: bool, run: EngineFn },
    /// Runs SQL itself, in a savepoint; `flush_first` when it reads the engine's tables.
    Direct { flush_first: bool, run: DirectFn },
}

struct OpOutcome {
    ok: bool,
    /// Called with `Ok` after COMMIT, or with the commit error.
    answer: Box<dyn FnOnce(Result<(), String>) + Send>,
}

/// SQLite behind the [`crate::Store`] trait. Cheap to share behind an `Arc`.
pub struct SqliteStore {
    writer: mpsc::Sender<Op>,
    readers: SqlitePool,
    writer_thread: Mutex<Option<WriterThread>>,
    /// Held by the store's server until the store is closed (or the process ends).
    owner: Mutex<Option<owner::OwnerLock>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Open (creating when missing) and migrate the database, and start the writer.
    ///
    /// As the store's owner ([`SqliteConfig::owner`]) it first takes the lock file beside
    /// the database (`<file>.lock`), which the operating system holds until this process
    /// ends; then, being the only server, it voids the job and callback leases of earlier
    /// runs — their holder is gone — so the work they held is picked up at once.
    ///
    /// # Errors
    /// [`StoreError::InUse`] naming the holder when another server owns the store;
    /// [`StoreError::Unavailable`] when the file cannot be opened or migrated.
    pub async fn open(config: &SqliteConfig) -> Result<SqliteStore> {
        check_url_options(&config.url)?;
        let options = SqliteConnectOptions::from_str(&config.url)?;
        let file = options.get_filename().to_owned();
        let lock = if config.owner && file != std::path::Path::new(":memory:") {
            let since = now_rfc3339();
            Some(owner::OwnerLock::acquire(
                &file,
                &owner::describe_this_process(&since),
            )?)
        } else {
            None
        };
        let base = SETTINGS.iter().fold(
            options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(BUSY_TIMEOUT)
                .foreign_keys(true),
            |options, (name, value)| options.pragma(*name, *value),
        );
        let write_opts = base.clone().synchronous(match config.durability {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        });
        // Migrations and the leases go through sqlx; the writer then opens its own
        // connection (below), once the readers hold the database open (an in-memory
        // one lives only as long as a connection to it).
        let mut setup = SqliteConnection::connect_with(&write_opts).await?;
        migrate::run(&mut setup).await?;
        if let Some(lock) = &lock {
            tracing::info!(lock = %lock.path().display(), "this server owns the store");
            release_leases(&mut setup).await?;
        }
        // No test before each acquire: a SQLite connection is a handle in this process
        // and cannot go stale, and the test is a round trip to the connection's worker
        // thread (two context switches) on every read. sqlx still checks each one as it
        // comes back to the pool.
        let readers = SqlitePoolOptions::new()
            .max_connections(config.readers.max(1))
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(base.read_only(true))
            .await?;
        let conn = open_writer(&file, config.durability)?;
        setup.close().await?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let thread = WriterThread::start(conn, rx)?;
        Ok(SqliteStore {
            writer: tx,
            readers,
            writer_thread: Mutex::new(Some(thread)),
            owner: Mutex::new(lock),
        })
    }

    /// Run `f` against the connection in the writer's next transaction (in a savepoint)
    /// and return its value after COMMIT. For tables the engine's write set never
    /// touches.
    ///
    /// # Errors
    /// `f`'s own error (its changes are rolled back, the batch's others stand), or
    /// [`StoreError::CommitFailed`], or [`StoreError::Closed`].
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteConn) -> Result<T> + Send + 'static,
    {
        self.direct(false, f).await
    }

    /// Like [`SqliteStore::write`], after writing the batch's pending engine rows, for
    /// operations that read or change the engine's tables (jobs, timers, balances).
    pub(crate) async fn write_after_flush<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteConn) -> Result<T> + Send + 'static,
    {
        self.direct(true, f).await
    }

    async fn direct<T, F>(&self, flush_first: bool, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteConn) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T>>();
        let run: DirectFn = Box::new(move |conn| outcome(f(conn), reply));
        self.writer
            .send(Op::Direct { flush_first, run })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Run an engine operation against the batch's write set.
    async fn write_engine<T, F>(&self, flush_first: bool, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut BatchTx) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T>>();
        let run: EngineFn =
            Box::new(move |tx| Box::pin(async move { outcome(f(tx).await, reply) }));
        self.writer
            .send(Op::Engine { flush_first, run })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub(crate) fn readers(&self) -> &SqlitePool {
        &self.readers
    }

    /// `PRAGMA integrity_check`: `["ok"]` for a sound database, otherwise what SQLite
    /// found wrong (a store that went through a crash or a full disk is checked so).
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn integrity_check(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
            .fetch_all(&self.readers)
            .await?;
        Ok(rows.into_iter().map(|(r,)| r).collect())
    }

    /// Stop accepting writes, finish the queued ones, close the connections and let go of
    /// the store (its owner lock).
    pub async fn shutdown(&self) {
        let thread = self
            .writer_thread
            .lock()
            .expect("no panics while holding this lock")
            .take();
        // Closing happens when every sender is gone; this store keeps one, so instead the
        // writer is stopped after the queue is drained by a final no-op write.
        let _ = self.write_after_flush(|_| Ok(())).await;
        if let Some(thread) = thread {
            thread.stop().await;
        }
        self.readers.close().await;
        // Closed: another server may take the store from here on.
        self.owner
            .lock()
            .expect("no panics while holding this lock")
            .take();
    }
}

/// Refuse an SQLite URL option the store would not honour everywhere. The writer opens
/// the file itself (rusqlite) and the readers through sqlx, so an option only sqlx reads
/// would apply to the readers alone: `mode=memory` on a named database (the writer would
/// create a file of that name; `sqlite::memory:` is the in-memory store), `mode=ro` (a
/// server writes), `immutable`, `vfs`, `cache`. `mode=rw` and `mode=rwc` are accepted:
/// the store creates a missing file either way. So are the values that ask for what both
/// libraries do anyway (`cache=private`, `immutable=0`, `vfs=unix`), which a URL from an
/// earlier version may carry.
///
/// # Errors
/// [`StoreError::Settings`] naming the first option refused and why.
pub fn check_url_options(url: &str) -> Result<()> {
    let Some((_, query)) = url.split_once('?') else {
        return Ok(());
    };
    for option in query.split('&').filter(|o| !o.is_empty()) {
        let (key, value) = option.split_once('=').unwrap_or((option, ""));
        let refused = match key {
            "mode" if matches!(value, "rw" | "rwc") => continue,
            "cache" if value == "private" => continue,
            "immutable" if matches!(value, "0" | "false") => continue,
            // SQLite's default file system on Linux and the other Unixes.
            "vfs" if value == "unix" => continue,
            "mode" if value == "memory" => {
                "`mode=memory` is not supported on a named database; use `sqlite::memory:` for an in-memory store"
            }
            "mode" => "the store must be writable (`mode=rw` or `mode=rwc`)",
            _ => {
                "the store accepts only `mode=rw` or `mode=rwc` and the defaults \
                 `cache=private`, `immutable=0`, `vfs=unix`"
            }
        };
        return Err(StoreError::Settings(format!(
            "the SQLite URL option `{option}` cannot be used: {refused}"
        )));
    }
    Ok(())
}

/// The writer's connection, with the settings the readers have (WAL, foreign keys,
/// [`BUSY_TIMEOUT`], [`SETTINGS`]) and the durability asked for. `file` is
/// sqlx's name for the database: an in-memory one (`file:sqlx-in-memory-N`) is opened
/// as the same shared-cache URI sqlx uses, so the writer and the readers share it (a
/// table a reader holds there makes the writer wait, rusqlite's `unlock_notify`). With
/// [`WRITER_SQL`] at debug level when the store opens, each statement is logged with its
/// time (decided once: a filter changed later does not turn it on or off).
fn open_writer(file: &std::path::Path, durability: Durability) -> Result<WriteConn> {
    let mut conn = connect_writer(file)?;
    if tracing::enabled!(target: WRITER_SQL, tracing::Level::DEBUG) {
        conn.profile(Some(log_statement));
    }
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    // `journal_mode` answers with a row: read it rather than execute it.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    let mut pragmas = format!("PRAGMA foreign_keys = ON; PRAGMA synchronous = {synchronous};");
    for (name, value) in SETTINGS {
        pragmas.push_str(&format!(" PRAGMA {name} = {value};"));
    }
    conn.execute_batch(&pragmas)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Every row `stmt` answers for `params`, each read by `read`. (rusqlite's `query_map`
/// wants the reader to fail with rusqlite's error; the store's row readers fail with
/// its own.)
pub(crate) fn all_rows<T>(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
    mut read: impl FnMut(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(read(row)?);
    }
    Ok(out)
}

/// The tracing target of the writer's statements (debug level: each statement's SQL
/// and time; sqlx logs the readers' as `sqlx::query`).
pub const WRITER_SQL: &str = "cascade_store::writer_sql";

fn log_statement(sql: &str, took: Duration) {
    let summary: String = sql.split_whitespace().take(6).collect::<Vec<_>>().join(" ");
    tracing::debug!(target: WRITER_SQL, summary, elapsed_us = took.as_micros() as u64, "statement");
}

/// The writer's connection, opened: the shared in-memory database, or the file.
fn connect_writer(file: &std::path::Path) -> Result<WriteConn> {
    use rusqlite::OpenFlags;
    let name = file.to_string_lossy();
    let conn = if name.starts_with("file:sqlx-in-memory-") {
        WriteConn::open_with_flags(
            format!("{name}?mode=memory&cache=shared"),
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?
    } else {
        WriteConn::open_with_flags(
            file,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?
    };
    Ok(conn)
}

/// Void every lease: only the store's owner calls this, at start, when no other process
/// can hold one.
async fn release_leases(conn: &mut SqliteConnection) -> Result<()> {
    let jobs = sqlx::query("UPDATE jobs SET claimed_until = 0 WHERE claimed_until > 0")
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let callbacks = sqlx::query("UPDATE callbacks SET claimed_until = 0 WHERE claimed_until > 0")
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if jobs > 0 || callbacks > 0 {
        tracing::info!(jobs, callbacks, "released the leases the previous run left");
    }
    Ok(())
}

/// The wall-clock time for the lock file's record (informational only).
fn now_rfc3339() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    cascade_core::Timestamp::from_millis(ms).to_rfc3339()
}

/// How an operation's result reaches its caller once the batch commits (or not).
fn outcome<T: Send + 'static>(result: Result<T>, reply: oneshot::Sender<Result<T>>) -> OpOutcome {
    match result {
        Ok(value) => OpOutcome {
            ok: true,
            answer: Box::new(move |commit| {
                let _ = reply.send(commit.map(|()| value).map_err(StoreError::CommitFailed));
            }),
        },
        Err(e) => OpOutcome {
            ok: false,
            answer: Box::new(move |_| {
                let _ = reply.send(Err(e));
            }),
        },
    }
}

/// The writer runs on a thread of its own, on a single-threaded runtime, and executes its
/// statements itself (rusqlite): the batch is the store's bottleneck, so it gets a
/// thread that does nothing else, and no statement waits for another thread. (Through
/// sqlx each statement was a round trip to its SQLite worker thread; on the shared
/// runtime the writer also waited after each for a worker busy with HTTP.)
struct WriterThread {
    stop: oneshot::Sender<()>,
    done: oneshot::Receiver<()>,
}

impl WriterThread {
    fn start(conn: WriteConn, rx: mpsc::Receiver<Op>) -> Result<WriterThread> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Io(format!("the store writer's runtime: {e}")))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let (finished, done) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("cascade-writer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        () = run_writer_until_stopped(conn, rx) => {}
                        _ = stopped => {}
                    }
                });
                let _ = finished.send(());
            })
            .map_err(|e| StoreError::Io(format!("the store writer's thread: {e}")))?;
        Ok(WriterThread { stop, done })
    }

    /// Stop the writer between two batches' awaits and wait until its thread is done.
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.done.await;
    }
}

async fn run_writer_until_stopped(conn: WriteConn, mut rx: mpsc::Receiver<Op>) {
    let mut writer = match Writer::new(conn) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "the store writer could not start");
            return;
        }
    };
    let mut batch: Vec<Op> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        writer = run_batch(writer, &mut batch).await;
    }
    if let Err((_, e)) = writer.conn.close() {
        tracing::warn!(error = %e, "the store writer's connection did not close cleanly");
    }
}

async fn run_batch(mut writer: Writer, batch: &mut Vec<Op>) -> Writer {
    let started = std::time::Instant::now();
    let ops = batch.len();
    let mut answers = Vec::with_capacity(batch.len());
    if writer.held_reports.is_none() {
        match writer
            .conn
            .query_row("SELECT COUNT(*) FROM orphan_reports", [], |r| r.get(0))
        {
            Ok(n) => writer.held_reports = Some(n),
            Err(e) => tracing::warn!(error = %e, "could not count held reports"),
        }
    }
    if let Err(e) = exec(&writer.conn, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "could not begin a write transaction");
        // Dropping the operations drops their reply channels: callers see the store closed
        // for this attempt.
        batch.clear();
        return writer;
    }
    let mut failure: Option<String> = None;
    for op in batch.drain(..) {
        if failure.is_some() {
            // A flush already failed: the transaction is lost; answer without running.
            drop(op);
            continue;
        }
        match op {
            Op::Engine { flush_first, run } => {
                if flush_first && let Err(e) = writer.flush() {
                    failure = Some(e.to_string());
                    continue;
                }
                let mut tx = BatchTx {
                    w: writer,
                    own: WriteSet::default(),
                };
                let outcome = run(&mut tx).await;
                writer = tx.w;
                if outcome.ok {
                    writer.batch.merge(tx.own);
                }
                answers.push(outcome.answer);
            }
            Op::Direct { flush_first, run } => {
                if flush_first && let Err(e) = writer.flush() {
                    failure = Some(e.to_string());
                    continue;
                }
                let conn = &mut writer.conn;
                if let Err(e) = exec(conn, "SAVEPOINT op") {
                    tracing::error!(error = %e, "savepoint failed");
                }
                let outcome = run(conn);
                if !outcome.ok
                    && let Err(e) = exec(conn, "ROLLBACK TO op")
                {
                    tracing::error!(error = %e, "savepoint rollback failed");
                }
                if let Err(e) = exec(conn, "RELEASE op") {
                    tracing::error!(error = %e, "savepoint release failed");
                }
                answers.push(outcome.answer);
            }
        }
    }
    let ops_done = started.elapsed();
    if failure.is_none()
        && let Err(e) = writer.flush()
    {
        failure = Some(e.to_string());
    }
    let flushed = started.elapsed();
    let result = match failure {
        None => match exec(&writer.conn, "COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => Err(e.to_string()),
        },
        Some(e) => Err(e),
    };
    if let Err(e) = &result {
        tracing::error!(error = %e, "the write batch failed; its callers are told");
        let _ = exec(&writer.conn, "ROLLBACK");
        writer.forget();
    }
    for answer in answers {
        answer(result.clone());
    }
    tracing::debug!(
        ops,
        ops_us = u64::try_from(ops_done.as_micros()).unwrap_or(u64::MAX),
        flush_us = u64::try_from((flushed - ops_done).as_micros()).unwrap_or(u64::MAX),
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "write batch"
    );
    writer
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

    async fn nodes(&self, _: cascade_core::Timestamp, _: i64) -> Result<Vec<crate::NodeRecord>> {
        Ok(Vec::new())
    }

    async fn close(&self) {
        self.shutdown().await;
    }
}

/// Run one statement without parameters on the writer connection (cached: these run
/// in every batch).
fn exec(conn: &WriteConn, sql: &'static str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use cascade_core::{Micros, Timestamp};

    use super::{SqliteConfig, SqliteStore};
    use crate::StoreError;
    use crate::TenancyStore;
    use crate::model::Account;

    /// URL options only one of the two libraries would read are refused before anything
    /// is opened or created; the two that mean "read-write" are accepted, and so are the
    /// defaults spelt out.
    #[tokio::test]
    async fn url_options_the_writer_would_not_honour_are_refused() {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let file = dir.path().join("named.db");
        for (option, says) in [
            ("mode=memory", "use `sqlite::memory:`"),
            ("mode=ro", "must be writable"),
            ("immutable=1", "accepts only"),
            ("vfs=unix-none", "accepts only"),
            ("cache=shared", "accepts only"),
            ("mode=rwc&vfs=unix-dotfile", "accepts only"),
        ] {
            let url = format!("sqlite://{}?{option}", file.display());
            let err = SqliteStore::open(&SqliteConfig::new(&url).as_owner())
                .await
                .expect_err(option);
            assert!(
                matches!(&err, StoreError::Settings(m) if m.contains(says)),
                "{option}: {err}"
            );
            assert!(!file.exists(), "{option}: nothing is created");
            assert!(
                !dir.path().join("named.db.lock").exists(),
                "{option}: no lock is taken"
            );
        }
        for option in [
            "mode=rwc",
            "mode=rw",
            "",
            "cache=private&immutable=0&vfs=unix",
            "immutable=false&mode=rwc",
        ] {
            let url = format!("sqlite://{}?{option}", file.display());
            let store = SqliteStore::open(&SqliteConfig::new(&url))
                .await
                .unwrap_or_else(|e| panic!("{option}: {e}"));
            store.shutdown().await;
        }
        assert!(file.exists());
    }

    /// A store a newer version migrated is refused with the versions named, before
    /// anything is written to it.
    #[tokio::test]
    async fn a_store_migrated_by_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let url = format!("sqlite://{}", dir.path().join("c.db").display());
        let store = SqliteStore::open(&SqliteConfig::new(&url))
            .await
            .expect("a new store");
        store
            .write(|conn| {
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) \
                     VALUES (99, 'from the future', datetime('now'))",
                    [],
                )?;
                Ok(())
            })
            .await
            .expect("a newer version's migration recorded");
        store.shutdown().await;
        let err = SqliteStore::open(&SqliteConfig::new(&url))
            .await
            .expect_err("a newer store");
        assert!(
            matches!(&err, StoreError::Settings(m)
                if m.contains("schema version 99")
                    && m.contains(&format!("knows up to {}", super::migrate::LAST))),
            "{err}"
        );
    }

    /// `sqlite::memory:`: the writer (rusqlite) and the readers (sqlx) share one
    /// in-memory database, and writes go on while the readers read it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_in_memory_store_is_one_database_for_the_writer_and_the_readers() {
        let store = std::sync::Arc::new(
            SqliteStore::open(&SqliteConfig::new("sqlite::memory:"))
                .await
                .expect("the store opens"),
        );
        let reading = {
            let store = std::sync::Arc::clone(&store);
            tokio::spawn(async move {
                for _ in 0..200 {
                    store.accounts(1_000).await.expect("a read");
                }
            })
        };
        for i in 0..200 {
            store
                .create_account(&Account {
                    id: format!("acc-{i}"),
                    name: format!("Account {i}"),
                    balance: Micros::new(1_000),
                    currency: "EUR".to_owned(),
                    created_at: Timestamp::from_millis(1_780_000_000_000),
                })
                .await
                .expect("written while the readers read");
        }
        reading.await.expect("the reads");
        assert_eq!(store.accounts(1_000).await.expect("a read").len(), 200);
        store.shutdown().await;
    }
}
