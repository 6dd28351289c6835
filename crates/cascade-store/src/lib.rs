//! Cascade's storage layer.
//!
//! Everything durable goes through the [`Store`] trait: tenancy and credentials, flows
//! with their state and timeline, durable timers and submit jobs, provider message-id
//! correlation and the sandbox's scenario rules. The engine never sees SQL: flow changes
//! are requested as [`cascade_core::machines::Event`]s and each is applied in one
//! transaction together with every row it implies (balance, jobs, timers, timeline).
//!
//! [`sqlite::SqliteStore`] is the embedded default: one writer task that groups many
//! requests into each transaction, and a pool of readers. A PostgreSQL implementation
//! (several nodes, `FOR UPDATE SKIP LOCKED` claims) implements the same trait.

mod callbacks;
mod engine_tx;
mod error;
mod model;
pub mod postgres;
mod rows;
mod sandbox;
mod search;
pub mod sqlite;

pub use callbacks::CallbackStore;
pub use error::StoreError;
pub use model::*;
pub use sandbox::SandboxStore;
pub use search::SearchStore;

use async_trait::async_trait;
use cascade_core::flow::FlowDefinition;
use cascade_core::machines::{Event, FlowState, Report, TimelineEntry};
use cascade_core::{FlowId, Micros, Timestamp};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Accounts, applications, credentials and Viber senders.
#[async_trait]
pub trait TenancyStore: Send + Sync {
    async fn create_account(&self, account: &Account) -> Result<()>;
    async fn account(&self, id: &str) -> Result<Option<Account>>;
    /// Every account, oldest first, at most `limit` (the operators' console lists them).
    async fn accounts(&self, limit: u32) -> Result<Vec<Account>>;
    /// An account's applications, oldest first.
    async fn applications(&self, account_id: &str) -> Result<Vec<Application>>;
    /// The account a flow belongs to (the operator looks a flow up by its id alone).
    async fn flow_account(&self, id: FlowId) -> Result<Option<String>>;
    /// Sets the balance; `None` when the account does not exist.
    async fn set_balance(&self, id: &str, balance: Micros) -> Result<Option<Account>>;

    /// # Errors
    /// [`StoreError::Conflict`] when the id is taken.
    async fn create_application(&self, app: &Application) -> Result<()>;
    async fn application(&self, id: &str) -> Result<Option<Application>>;
    async fn set_application_secret(&self, id: &str, secret_hash: &str) -> Result<bool>;
    async fn set_webhook_secret(&self, id: &str, secret: &str) -> Result<bool>;

    async fn add_viber_sender(&self, sender: &ViberSender) -> Result<()>;
    async fn viber_senders(&self, account_id: &str) -> Result<Vec<ViberSender>>;

    async fn insert_token(&self, token: &AccessToken) -> Result<()>;
    /// A token by its digest, whether or not it has expired.
    async fn token(&self, digest: &str) -> Result<Option<AccessToken>>;
    /// Deletes tokens that expired before `now`; returns how many.
    async fn purge_tokens(&self, now: Timestamp) -> Result<u64>;

    async fn setting(&self, key: &str) -> Result<Option<String>>;
    async fn put_setting(&self, key: &str, value: &str) -> Result<()>;
}

/// Flows and the engine's durable machinery.
#[async_trait]
pub trait FlowStore: Send + Sync {
    /// Store a new flow and start it, in one transaction: the flow is durable when this
    /// returns. The first step's funds are reserved and its submit job is leased to the
    /// caller (see [`Applied::jobs`]).
    async fn accept_flow(&self, def: FlowDefinition, now: Timestamp) -> Result<Applied>;

    /// Claim an `Idempotency-Key` for a request whose body hashes to `request_hash`, in
    /// one transaction: the rules of `cascade_core::idempotency::on_arrival` decide, and a
    /// claim is stored (in flight, with a lease) before this returns.
    async fn claim_idempotency_key(
        &self,
        application_id: &str,
        key: &str,
        request_hash: &str,
        now: Timestamp,
    ) -> Result<KeyClaim>;

    /// Like [`FlowStore::accept_flow`], completing the request's claimed key in the same
    /// transaction (`cascade_core::idempotency::on_commit` decides): the flow exists iff
    /// the key holds its response.
    async fn accept_flow_idempotent(
        &self,
        def: FlowDefinition,
        request: IdempotentRequest,
        now: Timestamp,
    ) -> Result<IdempotentAccept>;

    /// Let go of a claimed key whose request stored nothing (it failed validation, or
    /// was abandoned), so the key can be used again. A key no longer held by `token` is
    /// left alone.
    async fn release_idempotency_key(
        &self,
        application_id: &str,
        key: &str,
        token: &str,
    ) -> Result<()>;

    /// Forget idempotency keys stored before `before`.
    async fn purge_idempotency_keys(&self, before: Timestamp) -> Result<u64>;

    /// The flow, when it exists and belongs to `account_id`.
    async fn flow(&self, account_id: &str, id: FlowId) -> Result<Option<StoredFlow>>;

    /// Store flows as they are — definition and state, with everything search needs —
    /// without running the engine: no jobs, timers, timeline or callbacks are written, so
    /// the flows should be final. For copying flows between stores and for filling a store
    /// in benchmarks. One transaction.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a trackingId is already taken (nothing is stored).
    async fn import_flows(&self, flows: Vec<StoredFlow>) -> Result<()>;

    /// How many flows the store holds, over all accounts.
    async fn count_flows(&self) -> Result<u64>;

    /// The flow's timeline, oldest first, when it belongs to `account_id`.
    async fn timeline(&self, account_id: &str, id: FlowId) -> Result<Option<Vec<TimelineEntry>>>;

    /// Apply one event to a flow.
    async fn apply(&self, id: FlowId, event: Event, now: Timestamp) -> Result<Applied>;

    /// The provider accepted a job's messages: record the provider ids (so reports can be
    /// matched), apply [`Event::Submitted`], apply any reports that arrived before the
    /// ids were known, and delete the job — one transaction.
    async fn job_submitted(
        &self,
        job: &Job,
        provider: &str,
        provider_ids: Vec<String>,
        now: Timestamp,
    ) -> Result<Applied>;

    /// Apply `event` (the job's final answer, e.g. [`Event::SubmitFailed`]) and delete
    /// the job.
    async fn job_finished(&self, job: &Job, event: Event, now: Timestamp) -> Result<Applied>;

    /// Put a job back to be tried again at `due_at`.
    async fn job_retry(&self, job: &Job, due_at: Timestamp) -> Result<()>;

    /// Lease up to `limit` due jobs not leased by anyone else until `now + lease_ms`.
    async fn claim_jobs(&self, now: Timestamp, lease_ms: i64, limit: u32) -> Result<Vec<Job>>;

    /// [`FlowStore::claim_jobs`], leaving the jobs of `skip` channels to other nodes
    /// (this node cannot send them: another node holds the SMSC's binds). A store one
    /// server owns has no other node to leave them to, and claims them all.
    async fn claim_jobs_except(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
        skip: &[cascade_core::Channel],
    ) -> Result<Vec<Job>> {
        let _ = skip;
        self.claim_jobs(now, lease_ms, limit).await
    }

    /// Give up this node's lease on `job` without counting an attempt, so that another
    /// node claims it at once. A store one server owns has no other node: nothing to do.
    async fn release_job(&self, job: &Job) -> Result<()> {
        let _ = job;
        Ok(())
    }

    /// Match a provider report to its message by provider message id and apply it. A
    /// report for an id not known yet is kept and applied when the id is recorded.
    /// `provider_message_ids` are the forms the id may take, most likely first (one,
    /// unless the provider prints ids differently in reports than in submit answers).
    async fn apply_report(
        &self,
        provider: &str,
        provider_message_ids: &[String],
        report: Report,
        now: Timestamp,
    ) -> Result<ReportOutcome>;

    /// A submission attempt that did not take (a provider down or its circuit open):
    /// a `provider_attempt` line in the flow's timeline, nothing else.
    async fn note_attempt(
        &self,
        flow: FlowId,
        order: u32,
        provider: &str,
        outcome: &str,
        now: Timestamp,
    ) -> Result<()>;

    /// What a provider says it charged for the message with this id (learnt after its
    /// reports): a `provider_price` line in its flow's timeline. False when no message
    /// carries the id.
    async fn note_provider_price(
        &self,
        provider: &str,
        provider_message_id: &str,
        price: &str,
        now: Timestamp,
    ) -> Result<bool>;

    /// Record a reply from a recipient: matched to the flow it answers, noted in its
    /// timeline and queued for the step's `inboundUrl` (see `engine_tx`), or kept
    /// unmatched. `None`: the provider sent this reply (same provider message id) before,
    /// and nothing was recorded again. The returned [`Applied`] counts the callbacks
    /// queued.
    async fn record_inbound(
        &self,
        message: cascade_core::inbound::InboundMessage,
        now: Timestamp,
    ) -> Result<(Option<InboundRecord>, Applied)>;

    /// Record, durably, that `provider` places step `order`'s call now: true the first
    /// time, false when an earlier run placed it (the call must not be placed again).
    async fn claim_dial(
        &self,
        flow: FlowId,
        order: u32,
        provider: &str,
        now: Timestamp,
    ) -> Result<bool>;

    /// Calls placed (claimed) whose flow is still running and whose carrier is gone, as
    /// (provider, provider message id) of their step: their steps are ended as
    /// `Interrupted`. A store one server owns (SQLite) lists every such call — at
    /// start-up the process that carried them is gone. A shared store (PostgreSQL) lists
    /// the calls of nodes without a recent heartbeat, and this node's own only when
    /// `own_too` (at start-up: a node restarted under the same id).
    async fn dials_in_flight(&self, own_too: bool) -> Result<Vec<(String, String)>>;

    /// Replies, newest first: from `from` (E.164) when given, received at or after
    /// `since` when given, at most `limit`.
    async fn inbound_messages(
        &self,
        from: Option<&str>,
        since: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<InboundRecord>>;

    /// Fire up to `limit` timers due at `now`, each in the transaction that applies it.
    async fn fire_due_timers(&self, now: Timestamp, limit: u32) -> Result<FiredTimers>;

    /// The earliest timer, if any.
    async fn next_timer_due(&self) -> Result<Option<Timestamp>>;
}

/// The whole storage API.
#[async_trait]
pub trait Store:
    TenancyStore + FlowStore + SandboxStore + SearchStore + CallbackStore + std::fmt::Debug
{
    /// Succeeds when the store answers.
    async fn ping(&self) -> Result<()>;

    /// The nodes sharing the store with a heartbeat within `live_ms` of `now`, and the
    /// work each holds. A store only one server may use (SQLite) knows no nodes: empty.
    async fn nodes(&self, now: Timestamp, live_ms: i64) -> Result<Vec<NodeRecord>>;

    /// Take, or keep, the deployment-wide lease `name` (an SMSC bind slot) for this
    /// node: true when this node holds it now, false while another live node does. A
    /// lease whose holder has no heartbeat within the lease time is taken over. A store
    /// one server owns (SQLite) grants every lease.
    async fn hold_lease(&self, name: &str) -> Result<bool> {
        let _ = name;
        Ok(true)
    }

    /// Give up the lease `name` if this node holds it (a clean shutdown), so another
    /// node takes it at once rather than after the lease time.
    async fn release_lease(&self, name: &str) -> Result<()> {
        let _ = name;
        Ok(())
    }

    /// Flush and stop background work (the SQLite writer); later calls fail.
    async fn close(&self);
}

/// A flow as read back.
#[derive(Debug, Clone)]
pub struct StoredFlow {
    pub definition: FlowDefinition,
    pub state: FlowState,
}
