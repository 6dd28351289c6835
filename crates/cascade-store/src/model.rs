//! Rows the store reads and writes, as plain structs.

use cascade_core::callbacks::CallbackState;
use cascade_core::machines::{EngineError, FlowStatus};
use cascade_core::ports::JobPayload;
use cascade_core::sandbox::{Scenario, SendKind};
use cascade_core::{Channel, FlowId, Micros, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub balance: Micros,
    /// ISO 4217 code.
    pub currency: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub id: String,
    pub account_id: String,
    pub name: String,
    /// PHC string (argon2id).
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub token_lifetime_s: u32,
    /// HMAC key for callback signatures.
    pub webhook_secret: String,
    /// Per-application rate limit overriding the server default.
    pub rate_limit: Option<RateLimit>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViberSender {
    /// `senderInfoTrackingId`.
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub created_at: Timestamp,
}

/// An issued bearer token. Only its digest is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub digest: String,
    pub application_id: String,
    pub account_id: String,
    pub scopes: Vec<String>,
    pub expires_at: Timestamp,
}

/// What applying events to a flow produced that the caller must act on.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The flow's status afterwards (`None` when no flow was touched).
    pub status: Option<FlowStatus>,
    /// Submit jobs created and leased to the caller: hand them to the dispatcher.
    pub jobs: Vec<Job>,
    /// The earliest timer set, so the caller can wake its timer loop sooner.
    pub earliest_timer: Option<Timestamp>,
    /// Events the engine refused (recorded in the timeline, state unchanged).
    pub rejected: Vec<EngineError>,
    /// Callbacks added to the outbox, so the caller can wake the delivery worker.
    pub callbacks: u32,
    /// What happened to the flows, for the product's metrics.
    pub changes: FlowChanges,
}

/// What an operation did to its flows, as the metrics count it (each operation counts on
/// the node that applied it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowChanges {
    /// Flows accepted, by the channel of their first step.
    pub accepted: Vec<cascade_core::Channel>,
    /// Flows that ended: their status and termination channel.
    pub finished: Vec<(FlowStatus, Option<cascade_core::Channel>)>,
    /// Failovers: the channel of the step that ended and of the step that started.
    pub failovers: Vec<(cascade_core::Channel, cascade_core::Channel)>,
    /// Steps whose outcome was decided: channel, outcome, and milliseconds since the
    /// step started.
    pub steps_ended: Vec<(cascade_core::Channel, cascade_core::StatusKind, i64)>,
}

impl FlowChanges {
    pub fn merge(&mut self, other: FlowChanges) {
        self.accepted.extend(other.accepted);
        self.finished.extend(other.finished);
        self.failovers.extend(other.failovers);
        self.steps_ended.extend(other.steps_ended);
    }
}

impl Applied {
    pub fn merge(&mut self, other: Applied) {
        if other.status.is_some() {
            self.status = other.status;
        }
        self.jobs.extend(other.jobs);
        self.earliest_timer = match (self.earliest_timer, other.earliest_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.rejected.extend(other.rejected);
        self.callbacks += other.callbacks;
        self.changes.merge(other.changes);
    }
}

/// A durable request to hand one step's messages to a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub flow_id: FlowId,
    pub order: u32,
    pub attempts: u32,
    /// Claimed from the table (a retry or a recovery) rather than handed over by the
    /// transaction that created it.
    pub reclaimed: bool,
    pub payload: JobPayload,
}

/// What became of a provider report.
#[derive(Debug, Clone)]
pub enum ReportOutcome {
    /// Matched to its message and applied.
    Applied(Applied),
    /// No message carries this provider id yet; kept until one does.
    Held,
}

#[derive(Debug, Clone, Default)]
pub struct FiredTimers {
    pub fired: u32,
    pub applied: Applied,
    /// How late each timer taken fired, in milliseconds (now − its due time).
    pub lags_ms: Vec<i64>,
}

/// The callback outbox now (`GET /metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Callbacks waiting to be delivered (pending or being retried).
    pub pending: u64,
    /// When the oldest of them was created.
    pub oldest_pending: Option<Timestamp>,
    /// Callbacks given up (dead letters).
    pub dead: u64,
}

/// A message handed to a sandbox provider (or received by the SMSC simulator).
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxSend {
    /// No earlier attempt can exist, so the duplicate check may be skipped.
    pub first_attempt: bool,
    pub provider: String,
    pub channel: Channel,
    /// Cascade's own message id: a resend with the same ref is not sent again.
    pub client_ref: String,
    pub to: String,
    pub payload: serde_json::Value,
    /// The ids to give the messages, one per part (a resend gets the first send's back).
    pub provider_ids: Vec<String>,
    /// What the reports are planned for.
    pub kind: SendKind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SandboxSendOutcome {
    pub provider_ids: Vec<String>,
    /// True when `client_ref` had been sent before (nothing new was scheduled).
    pub duplicate: bool,
    /// The rule the send follows (`None` for a duplicate, or when no rule matched).
    pub scenario: Option<Scenario>,
}

impl SandboxSendOutcome {
    /// A send whose `client_ref` was sent before: its first send's ids, nothing new.
    pub(crate) fn repeat_of(provider_ids: Vec<String>) -> Self {
        SandboxSendOutcome {
            provider_ids,
            duplicate: true,
            scenario: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SandboxReport {
    pub id: i64,
    pub provider: String,
    pub provider_message_id: String,
    pub delivery: cascade_core::sandbox::Delivery,
}

impl SandboxReport {
    /// The status report, unless this is a scripted reply.
    pub fn report(&self) -> Option<&cascade_core::machines::Report> {
        match &self.delivery {
            cascade_core::sandbox::Delivery::Report(r) => Some(r),
            cascade_core::sandbox::Delivery::Inbound(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SandboxMessage {
    pub provider_message_ids: Vec<String>,
    pub provider: String,
    pub channel: Channel,
    pub client_ref: String,
    pub to: String,
    pub payload: serde_json::Value,
    pub scenario_id: Option<i64>,
    pub received_at: Timestamp,
}

/// A callback claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub id: i64,
    /// `X-Cascade-Event-Id`, the same on every attempt.
    pub event_id: String,
    pub flow_id: FlowId,
    /// `X-Cascade-Sequence`.
    pub seq: i64,
    pub application_id: String,
    pub url: String,
    /// The tracking object as it was after the change.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: u32,
    pub first_attempt_at: Option<Timestamp>,
}

/// A callback as the operator sees it (admin API, CLI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRecord {
    pub id: i64,
    pub event_id: String,
    pub flow_id: FlowId,
    pub seq: i64,
    pub application_id: String,
    pub url: String,
    pub state: CallbackState,
    pub attempts: u32,
    pub next_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
}

/// Which callbacks to list.
#[derive(Debug, Clone, Default)]
pub struct CallbackFilter {
    pub state: Option<CallbackState>,
    pub flow_id: Option<FlowId>,
    pub limit: u32,
}

/// What a request found when it claimed its `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key is this request's until it completes or releases it.
    Claimed { token: String },
    /// The key's request committed with the same body: its response again.
    Replay { response: String },
    /// The key was used with another body.
    Conflict,
    /// Another request holds the key right now.
    InFlight,
}

/// What `POST /failover` with an `Idempotency-Key` came to.
#[derive(Debug, Clone)]
pub enum IdempotentAccept {
    /// A new flow was stored and started.
    Accepted(Applied),
    /// Another request completed the key meanwhile, with the same body: its response.
    Replayed { response: String },
    /// Another request completed the key meanwhile, with a different body.
    Conflict,
    /// Another request took the key over (this one's claim had run out).
    InFlight,
}

/// A request completing its claimed key: the response to keep with it.
#[derive(Debug, Clone)]
pub struct IdempotentRequest {
    pub application_id: String,
    pub key: String,
    pub request_hash: String,
    /// The claim's token ([`KeyClaim::Claimed`]).
    pub token: String,
    pub response: String,
}

/// A reply as recorded: the message, and what it was matched to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRecord {
    pub id: i64,
    pub message: cascade_core::inbound::InboundMessage,
    /// The flow, step and message it answers, when one was found.
    pub matched: Option<InboundMatch>,
    /// Whether it was queued for the step's `inboundUrl`.
    pub forwarded: bool,
}

/// What a reply answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMatch {
    pub flow: FlowId,
    pub order: u32,
    /// The answered message's own `trackingId`.
    pub message_id: String,
}

/// A channel's bit in `flows.channels` (both stores).
pub(crate) fn channel_bit(channel: cascade_core::Channel) -> i64 {
    match channel {
        cascade_core::Channel::Sms => 1,
        cascade_core::Channel::Viber => 2,
        cascade_core::Channel::Voice => 4,
    }
}

/// `flows.channels` of a flow whose steps use `channels`.
pub(crate) fn channel_set(channels: impl IntoIterator<Item = cascade_core::Channel>) -> i64 {
    channels.into_iter().fold(0, |set, c| set | channel_bit(c))
}

/// A node sharing the store (`GET /admin/nodes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub id: String,
    pub started_at: Timestamp,
    pub heartbeat: Timestamp,
    /// Submit jobs, callbacks and sandbox reports it holds leases on now.
    pub jobs: u64,
    pub callbacks: u64,
    pub sandbox_reports: u64,
    /// Deployment-wide leases it holds (`smsc:<name>:bind:<slot>`), by name.
    pub leases: Vec<String>,
}
