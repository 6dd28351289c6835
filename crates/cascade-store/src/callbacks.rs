//! The callback outbox.

use async_trait::async_trait;
use cascade_core::{FlowId, Timestamp};

use crate::Result;
use crate::model::{Callback, CallbackFilter, CallbackOutcome, CallbackRecord};

/// Durable callbacks: rows written with the change they report, delivered in order per
/// flow, retried, and dead-lettered when the schedule runs out.
#[async_trait]
pub trait CallbackStore: Send + Sync {
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

    /// Void every lease (single-node start-up).
    async fn release_callback_claims(&self) -> Result<u64>;

    async fn callbacks(&self, filter: &CallbackFilter) -> Result<Vec<CallbackRecord>>;

    /// Put a dead callback back in the queue (a fresh retry schedule). False when there
    /// is no dead callback with this id.
    async fn redeliver_callback(&self, id: i64, now: Timestamp) -> Result<bool>;

    /// Put every dead callback of a flow back; returns how many.
    async fn redeliver_flow_callbacks(&self, flow: FlowId, now: Timestamp) -> Result<u64>;
}
