//! State and counters a client shares with its handles, for metrics and for waiting on.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::ShutdownOutcome;
use crate::esme_session::SessionState;

/// Where a client is. `Connecting → Binding → Bound → (Unbinding) → Disconnected →
/// Connecting ...` until `Stopped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BindState {
    /// Opening the TCP connection (and TLS).
    #[default]
    Connecting,
    /// Connected, bind sent.
    Binding,
    /// Bound: submits flow.
    Bound,
    /// Our unbind is out (shutting down).
    Unbinding,
    /// Between connections, waiting out the reconnect delay.
    Disconnected,
    /// Shut down for good.
    Stopped,
}

impl From<SessionState> for BindState {
    fn from(state: SessionState) -> Self {
        match state {
            SessionState::Binding => BindState::Binding,
            SessionState::Bound => BindState::Bound,
            SessionState::Unbinding => BindState::Unbinding,
            SessionState::Closed => BindState::Disconnected,
        }
    }
}

/// A snapshot of one client's state and counters ([`EsmeClient::stats`](super::EsmeClient::stats)).
/// Counters only grow, over the client's whole life (all connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClientStats {
    /// Current state.
    pub state: BindState,
    /// Submits sent and waiting for their response.
    pub in_flight: usize,
    /// Submits waiting in the client's queue (window full, paused, or waiting for a bind).
    pub queued: usize,
    /// Connections opened (TCP, and TLS when on).
    pub connections: u64,
    /// Successful binds.
    pub binds: u64,
    /// Binds the SMSC refused.
    pub bind_failures: u64,
    /// `submit_sm` written (a throttled one resent counts again).
    pub submits_sent: u64,
    /// `submit_sm_resp` with `ESME_ROK`.
    pub accepted: u64,
    /// `submit_sm_resp` with a final error (or `generic_nack`).
    pub rejected: u64,
    /// `submit_sm_resp` with `ESME_RTHROTTLED` / `ESME_RMSGQFUL`.
    pub throttled: u64,
    /// Submits without a response within `response_timeout`.
    pub timed_out: u64,
    /// Submits in flight when a connection was lost.
    pub aborted: u64,
    /// Submits whose deadline passed in the queue.
    pub expired: u64,
    /// Delivery receipts received.
    pub receipts: u64,
    /// Mobile-originated messages received.
    pub mobile_originated: u64,
    /// `submit_sm_resp` that no caller received (see `ClientEvent::LateSubmitResponse`).
    pub late_responses: u64,
}

/// The counters behind [`ClientStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) connections: AtomicU64,
    pub(super) binds: AtomicU64,
    pub(super) bind_failures: AtomicU64,
    pub(super) submits_sent: AtomicU64,
    pub(super) accepted: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) throttled: AtomicU64,
    pub(super) timed_out: AtomicU64,
    pub(super) aborted: AtomicU64,
    pub(super) expired: AtomicU64,
    pub(super) receipts: AtomicU64,
    pub(super) mobile_originated: AtomicU64,
    pub(super) late_responses: AtomicU64,
}

/// Adds one to a counter. Relaxed: each counter is read on its own, for metrics.
pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What the task and the handles share.
#[derive(Debug)]
pub(super) struct Shared {
    state: watch::Sender<BindState>,
    in_flight: AtomicUsize,
    queued: AtomicUsize,
    pub(super) counters: Counters,
    outcome: OnceLock<ShutdownOutcome>,
    pub(super) abort: OnceLock<AbortHandle>,
}

impl Shared {
    pub(super) fn new() -> Self {
        Shared {
            state: watch::Sender::new(BindState::Connecting),
            in_flight: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            counters: Counters::default(),
            outcome: OnceLock::new(),
            abort: OnceLock::new(),
        }
    }

    pub(super) fn state(&self) -> BindState {
        *self.state.borrow()
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<BindState> {
        self.state.subscribe()
    }

    /// Publishes `state` (no-op when unchanged, so watchers only wake on changes). Never
    /// leaves `Stopped`.
    pub(super) fn set_state(&self, state: BindState) {
        self.state.send_if_modified(|current| {
            let changed = *current != state && *current != BindState::Stopped;
            if changed {
                *current = state;
            }
            changed
        });
    }

    pub(super) fn set_gauges(&self, in_flight: usize, queued: usize) {
        self.in_flight.store(in_flight, Ordering::Relaxed);
        self.queued.store(queued, Ordering::Relaxed);
    }

    /// Records how the client ended (the first call wins) and moves to `Stopped`.
    pub(super) fn finish(&self, outcome: ShutdownOutcome) -> ShutdownOutcome {
        let outcome = *self.outcome.get_or_init(|| outcome);
        self.set_gauges(0, 0);
        self.state.send_replace(BindState::Stopped);
        outcome
    }

    pub(super) fn outcome(&self) -> Option<ShutdownOutcome> {
        self.outcome.get().copied()
    }

    pub(super) fn snapshot(&self) -> ClientStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ClientStats {
            state: self.state(),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            connections: get(&c.connections),
            binds: get(&c.binds),
            bind_failures: get(&c.bind_failures),
            submits_sent: get(&c.submits_sent),
            accepted: get(&c.accepted),
            rejected: get(&c.rejected),
            throttled: get(&c.throttled),
            timed_out: get(&c.timed_out),
            aborted: get(&c.aborted),
            expired: get(&c.expired),
            receipts: get(&c.receipts),
            mobile_originated: get(&c.mobile_originated),
            late_responses: get(&c.late_responses),
        }
    }
}
