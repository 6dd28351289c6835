//! The callback outbox, and the one procedure that records a delivery attempt.

use async_trait::async_trait;
use cascade_core::callbacks::{CallbackOutcome, CallbackState};
use cascade_core::{FlowId, Timestamp};

use crate::Result;
use crate::engine_tx::FlowTx;
use crate::model::{Callback, CallbackFilter, CallbackRecord};

/// Durable callbacks: rows written with the change they report, delivered in order per
/// flow, retried, and dead-lettered when the schedule runs out.
#[async_trait]
pub trait CallbackStore: Send + Sync {
    /// The outbox now: callbacks waiting, when the oldest of them was created, and the
    /// dead letters.
    async fn outbox_stats(&self) -> Result<crate::OutboxStats>;

    /// Lease up to `limit` callbacks due at `now`, at most one per flow and only the
    /// lowest pending sequence of each, so a flow's callbacks go out in order.
    async fn claim_callbacks(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<Callback>>;

    /// Record an attempt: mark the callback delivered, schedule its retry or
    /// dead-letter it, and note the attempt in the flow's timeline.
    async fn callback_attempted(
        &self,
        callback: &Callback,
        outcome: CallbackOutcome,
        now: Timestamp,
    ) -> Result<()>;

    async fn callbacks(&self, filter: &CallbackFilter) -> Result<Vec<CallbackRecord>>;

    /// Put a dead callback back in the queue (a fresh retry schedule). False when there
    /// is no dead callback with this id.
    async fn redeliver_callback(&self, id: i64, now: Timestamp) -> Result<bool>;

    /// Put every dead callback of a flow back; returns how many.
    async fn redeliver_flow_callbacks(&self, flow: FlowId, now: Timestamp) -> Result<u64>;
}

/// A callback's row after an attempt.
#[derive(Debug, Clone)]
pub(crate) struct CallbackUpdate {
    pub id: i64,
    pub state: CallbackState,
    pub attempts: u32,
    pub first_attempt_at: Timestamp,
    pub next_at: Timestamp,
    pub last_error: Option<String>,
}

/// Record an attempt of `callback`: its new state (the lease ends with it) and a line in
/// its flow's timeline, in one transaction.
pub(crate) async fn record_attempt<T: FlowTx + ?Sized>(
    tx: &mut T,
    callback: &Callback,
    outcome: &CallbackOutcome,
    now: Timestamp,
) -> Result<()> {
    let attempts = callback.attempts + 1;
    tx.update_callback(CallbackUpdate {
        id: callback.id,
        state: outcome.state(),
        attempts,
        first_attempt_at: callback.first_attempt_at.unwrap_or(now),
        next_at: outcome.next_at(now),
        last_error: outcome.error().map(str::to_owned),
    })
    .await?;
    if let Some(mut flow) = tx.load_flow(callback.flow_id).await? {
        let entry = outcome.timeline_entry(callback.seq, attempts, now);
        tx.append_timeline(callback.flow_id, flow.event_seq, &[entry])
            .await?;
        flow.event_seq += 1;
        tx.save_flow(&flow).await?;
    }
    Ok(())
}
