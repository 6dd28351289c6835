//! Group commit on PostgreSQL: the engine's operations that arrive while others are being
//! written share one transaction, as the SQLite writer's batches do.
//!
//! A few writer tasks take whatever operations are waiting (up to [`MAX_BATCH`]) and run
//! them one after the other in one transaction, then commit once: one `BEGIN`, one
//! `COMMIT`, one WAL flush and one balance update per account for the whole group,
//! instead of one each. Every caller learns its outcome only after that commit, so
//! nothing is acknowledged before it is durable.
//!
//! When any operation of a group fails (a conflict, a flow not found, a deadlock), the
//! group is rolled back as a whole and each of its operations runs again alone, in its
//! own transaction, exactly as it would have without grouping: a failure is never shared,
//! and no operation sees half of another's writes. Operations must therefore be
//! repeatable ([`Op`] is `Fn`). A commit that fails leaves every operation of the group
//! in the same unknown state as a lone commit would ([`StoreError::CommitFailed`]).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sqlx::PgPool;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::tx::PgTx;
use crate::{Result, StoreError};

/// Operations in one transaction at most.
pub(crate) const MAX_BATCH: usize = 64;

/// One engine operation on a transaction, repeatable.
pub(crate) type Op = Box<dyn for<'a> Fn(&'a mut PgTx) -> BoxFuture<'a, Result<()>> + Send + Sync>;

struct Work {
    op: Op,
    done: oneshot::Sender<Result<()>>,
}

/// The queue the writers take from.
#[derive(Clone)]
pub(crate) struct Group {
    queue: mpsc::UnboundedSender<Work>,
}

impl Group {
    /// Starts `writers` writer tasks on `pool` for `node`. They stop when every [`Group`]
    /// handle is gone.
    pub(crate) fn start(pool: PgPool, node: String, writers: usize) -> Group {
        let (queue, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..writers.max(1) {
            tokio::spawn(writer(pool.clone(), node.clone(), Arc::clone(&rx)));
        }
        Group { queue }
    }

    /// Run `op` in the next group and wait for the group's commit.
    pub(crate) async fn run(&self, op: Op) -> Result<()> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Work { op, done })
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn writer(pool: PgPool, node: String, rx: Arc<Mutex<mpsc::UnboundedReceiver<Work>>>) {
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(work) => batch.push(work),
                    Err(_) => break,
                }
            }
            batch
        };
        run_batch(&pool, &node, batch).await;
    }
}

async fn run_batch(pool: &PgPool, node: &str, batch: Vec<Work>) {
    if batch.len() > 1 {
        match together(pool, node, &batch).await {
            Together::Committed => {
                for work in batch {
                    let _ = work.done.send(Ok(()));
                }
                return;
            }
            Together::CommitFailed(e) => {
                for work in batch {
                    let _ = work.done.send(Err(StoreError::CommitFailed(e.clone())));
                }
                return;
            }
            // Rolled back: each goes alone below.
            Together::OpFailed => {}
        }
    }
    for work in batch {
        let outcome = alone(pool, node, &work.op).await;
        let _ = work.done.send(outcome);
    }
}

enum Together {
    Committed,
    CommitFailed(String),
    OpFailed,
}

async fn together(pool: &PgPool, node: &str, batch: &[Work]) -> Together {
    let Ok(mut tx) = pool.begin().await else {
        return Together::OpFailed;
    };
    // A group that waits on another's lock gives up soon and its operations go alone:
    // two groups holding many rows each would otherwise wait for PostgreSQL's deadlock
    // detector (a second) whenever their rows cross.
    if sqlx::query("SET LOCAL lock_timeout = '50ms'")
        .execute(&mut *tx)
        .await
        .is_err()
    {
        return Together::OpFailed;
    }
    let mut tx = PgTx::new(tx, node);
    for work in batch {
        if (work.op)(&mut tx).await.is_err() {
            // Dropping the transaction rolls it back.
            return Together::OpFailed;
        }
    }
    match tx.commit().await {
        Ok(()) => Together::Committed,
        Err(StoreError::CommitFailed(e)) => Together::CommitFailed(e),
        // The balance updates before the commit failed: nothing was committed.
        Err(_) => Together::OpFailed,
    }
}

async fn alone(pool: &PgPool, node: &str, op: &Op) -> Result<()> {
    let mut tx = PgTx::new(pool.begin().await?, node);
    op(&mut tx).await?;
    tx.commit().await
}
