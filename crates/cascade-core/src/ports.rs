//! The ports between the engine's runtime and the channel connectors.
//!
//! A [`Provider`] takes a step's messages and answers at once with the provider's message
//! ids; what happens to the messages arrives later, asynchronously, as reports handed to a
//! [`ReportSink`] and matched by provider message id — the way SMSCs and HTTP messaging
//! APIs work. The runtime (`cascade-service`) holds the providers and is the sink; the
//! connectors (`cascade-providers`, `cascade-sandbox`) implement [`Provider`] and deliver
//! to the sink. Both sides depend on this module, neither on the other.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::channel::{Channel, StatusKind};
use crate::flow::Step;
use crate::ids::FlowId;
use crate::machines::Report;
use crate::time::Timestamp;

/// Everything a connector needs to send a step, captured when the step started (its
/// submit job's payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPayload {
    /// When the step started (the job was created).
    pub created_at: Timestamp,
    pub account_id: String,
    pub application_id: String,
    pub step: Step,
    /// The step's message id (SMS `messageId`).
    pub message_id: String,
    /// Per-message ids in part order (SMS `smsId`s, otherwise one id).
    pub message_ids: Vec<String>,
}

impl JobPayload {
    pub fn channel(&self) -> Channel {
        self.step.channel()
    }

    /// Whether at `now` the step's messages must no longer leave ([`crate::ttl::run_out`]).
    pub fn ttl_run_out(&self, now: Timestamp) -> bool {
        crate::ttl::run_out(&self.step, self.created_at, now)
    }

    /// What is left at `now` of the time the messages may still be handed over
    /// ([`crate::ttl::remaining`]; `None`: no limit).
    pub fn ttl_remaining(&self, now: Timestamp) -> Option<std::time::Duration> {
        crate::ttl::remaining(&self.step, self.created_at, now)
    }
}

/// One step's messages, ready for a provider.
#[derive(Debug, Clone)]
pub struct SubmitRequest {
    pub flow_id: FlowId,
    pub order: u32,
    /// True when this is the job's first hand-over, straight from the transaction that
    /// created it; false when it was claimed again (a retry, or after a restart), so the
    /// provider may have seen it already.
    pub first_attempt: bool,
    /// Everything about the step, as accepted.
    pub payload: JobPayload,
}

impl SubmitRequest {
    pub fn channel(&self) -> Channel {
        self.payload.channel()
    }
}

/// A provider took the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The name reports about these messages are matched under.
    pub provider: String,
    /// One provider message id per message, in part order. Several parts may share one
    /// id (a provider that answers one id for a whole long message).
    pub message_ids: Vec<String>,
}

/// Why a submission did not go through, by what the dispatcher does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The provider refused these messages for good (bad number, content refused):
    /// the step ends with `status`.
    #[error("rejected: {detailed_status}")]
    Rejected {
        status: StatusKind,
        detailed_status: String,
        description: String,
    },
    /// A passing failure (timeout, connection lost, 5xx): try again later.
    #[error("temporary failure: {reason}")]
    Retryable { reason: String },
    /// The provider asked to slow down.
    #[error("rate limited; retry after {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u64 },
    /// The provider refused Cascade's credentials (HTTP 401/403): a configuration error,
    /// treated as the provider being down (another provider may take the message, or it
    /// is tried again later).
    #[error("refused Cascade's credentials: {reason}")]
    Misconfigured { reason: String },
    /// The request went out but its answer was lost (a timeout, an unreadable success):
    /// the provider may have taken the message. Tried again with the same provider and
    /// reference, never handed to another provider.
    #[error("answer lost: {reason}")]
    Ambiguous { reason: String },
}

impl SubmitError {
    /// Whether this says the provider cannot take messages now (as opposed to a verdict
    /// on this message): another provider of the channel may take it instead.
    pub fn is_outage(&self) -> bool {
        !matches!(self, SubmitError::Rejected { .. })
    }
}

impl From<crate::reasons::Reason> for SubmitError {
    /// A refusal for good, for the reason given.
    fn from(reason: crate::reasons::Reason) -> Self {
        SubmitError::Rejected {
            status: reason.status,
            detailed_status: reason.detailed_status,
            description: reason.description,
        }
    }
}

/// A channel connector.
#[async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The name reports are matched under (provider message ids are unique per provider).
    fn name(&self) -> &str;

    /// Hand the messages over. Returns, per message in part order, the provider's id for
    /// it, and the name reports will come under (a provider with several upstream
    /// connections answers with the one used).
    ///
    /// # Errors
    /// See [`SubmitError`].
    async fn submit(&self, request: &SubmitRequest) -> Result<Accepted, SubmitError>;

    /// Whether the provider can take a message now without first waiting for a
    /// connection (an SMSC with no bind up cannot; an HTTP API connects per request, so
    /// it always can). Failover passes over a provider that is not ready when another
    /// one can take the message.
    fn ready(&self) -> bool {
        true
    }

    /// Whether this node can send through the provider at all. False for an SMSC whose
    /// bind slots other nodes of the deployment hold ([`Leases`]): this node then leaves
    /// the channel's jobs to them.
    fn held_here(&self) -> bool {
        true
    }

    /// What an operator sees of the provider now: one entry per upstream it sends
    /// through (a channel's providers list each of theirs).
    fn states(&self) -> Vec<ProviderState> {
        vec![ProviderState {
            name: self.name().to_owned(),
            ready: self.ready(),
            held_here: self.held_here(),
            circuit: None,
            detail: String::new(),
        }]
    }
}

/// One upstream's state, as the operators' console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderState {
    pub name: String,
    /// It can take a message now (an SMSC: a transmitting bind is up).
    pub ready: bool,
    /// This node may send through it (an SMSC: it holds a bind slot).
    pub held_here: bool,
    /// Its circuit breaker, when it has one: `closed`, `open` or `half_open`.
    pub circuit: Option<&'static str>,
    /// Anything else worth reading: binds, counts.
    pub detail: String,
}

/// Deployment-wide leases on resources only one node may use at a time (an SMSC bind
/// slot). With one server every lease is its own; with several nodes on one store the
/// store decides, and a dead node's leases go to another node.
#[async_trait]
pub trait Leases: Send + Sync + std::fmt::Debug {
    /// Take, or keep, `name` for this node: `Ok(true)` when this node holds it now.
    ///
    /// # Errors
    /// A message when the store could not be asked.
    async fn hold(&self, name: &str) -> Result<bool, String>;

    /// Give `name` up (a clean stop), so another node takes it at once.
    async fn release(&self, name: &str);

    /// How often a holder confirms its leases.
    fn renew_every(&self) -> std::time::Duration;

    /// How long a lease not confirmed since may still be trusted: after this another
    /// node may have taken it over, so the holder must let the resource go.
    fn trust_for(&self) -> std::time::Duration;
}

/// What became of a delivered report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Matched to its message and applied.
    Applied,
    /// No message carries the id yet (the report came before the submit was recorded, or
    /// it is about a message Cascade does not know); kept and applied once one does.
    Held,
}

/// Where providers deliver reports. Returns once the report is durably recorded.
#[async_trait]
pub trait ReportSink: Send + Sync {
    /// Record a report about the message with `provider_message_ids` — the forms its id
    /// may take, most likely first (usually one; an SMSC may print receipt ids in another
    /// base than its submit answers).
    ///
    /// # Errors
    /// A message when the report could not be recorded; the provider keeps it and
    /// delivers it again.
    async fn deliver(
        &self,
        provider: &str,
        provider_message_ids: &[String],
        report: Report,
    ) -> Result<Recorded, String>;

    /// Note in the flow's timeline that `provider` could not take step `order`'s
    /// messages (`outcome` says why) and another provider, or a later retry, takes over.
    /// Best effort: a note that cannot be written is logged, never retried.
    async fn note_attempt(&self, flow: FlowId, order: u32, provider: &str, outcome: &str);

    /// Record, durably, that `provider` is about to place the call of step `order` of
    /// `flow` (a provider that dials itself asks before each INVITE). `Ok(false)`: an
    /// earlier run placed it already, and it must not be placed again.
    ///
    /// # Errors
    /// A message when it could not be recorded (then nothing may be dialled).
    async fn claim_dial(&self, flow: FlowId, order: u32, provider: &str) -> Result<bool, String>;

    /// Record a reply from a recipient: matched to the flow it answers (posted to the
    /// step's `inboundUrl` through the callback outbox) or kept unmatched. Returns once
    /// it is durably recorded.
    ///
    /// # Errors
    /// A message when it could not be recorded; the provider delivers it again.
    async fn inbound(&self, message: crate::inbound::InboundMessage) -> Result<(), String>;

    /// Record what `provider` says it charged for the message with this id (`"0.0130
    /// USD"`), learnt after its reports: a timeline line. `Ok(false)`: no message carries
    /// the id.
    ///
    /// # Errors
    /// A message when it could not be recorded.
    async fn note_price(
        &self,
        provider: &str,
        provider_message_id: &str,
        price: &str,
    ) -> Result<bool, String>;
}

/// The provider serving each channel.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    sms: Option<Arc<dyn Provider>>,
    viber: Option<Arc<dyn Provider>>,
    voice: Option<Arc<dyn Provider>>,
}

impl Providers {
    pub fn with(mut self, channel: Channel, provider: Arc<dyn Provider>) -> Self {
        match channel {
            Channel::Sms => self.sms = Some(provider),
            Channel::Viber => self.viber = Some(provider),
            Channel::Voice => self.voice = Some(provider),
        }
        self
    }

    pub fn for_channel(&self, channel: Channel) -> Option<&Arc<dyn Provider>> {
        match channel {
            Channel::Sms => self.sms.as_ref(),
            Channel::Viber => self.viber.as_ref(),
            Channel::Voice => self.voice.as_ref(),
        }
    }

    /// Every configured provider's state, by channel.
    pub fn states(&self) -> Vec<(Channel, ProviderState)> {
        Channel::ALL
            .into_iter()
            .filter_map(|c| Some((c, self.for_channel(c)?)))
            .flat_map(|(c, p)| p.states().into_iter().map(move |s| (c, s)))
            .collect()
    }

    /// Channels this node leaves to other nodes of the deployment: its providers for
    /// them are all held elsewhere ([`Provider::held_here`]).
    pub fn held_elsewhere(&self) -> Vec<Channel> {
        Channel::ALL
            .into_iter()
            .filter(|&c| self.for_channel(c).is_some_and(|p| !p.held_here()))
            .collect()
    }
}

/// A provider's webhook request, as it arrived (before anything is trusted).
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    /// The URL the provider was given for this endpoint (Cascade's public URL and path),
    /// which some providers sign.
    pub public_url: String,
    /// The last path segment after the provider's name, when there is one (a token).
    pub path_token: Option<String>,
    /// Header names in lower case, values as sent.
    pub headers: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl WebhookRequest {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One thing a verified webhook said.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookItem {
    /// A status report about the message(s) with these provider ids.
    Report {
        provider_message_ids: Vec<String>,
        report: Report,
    },
    /// A reply from a recipient.
    Inbound(crate::inbound::InboundMessage),
    /// Something Cascade does not act on (a status with no meaning for the message).
    Ignored { what: String },
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// It could not be shown to come from the provider: 401, nothing recorded.
    #[error("not verified: {0}")]
    Unauthorized(String),
    /// It came from the provider but could not be read: 400, nothing recorded.
    #[error("malformed: {0}")]
    Malformed(String),
}

/// The receiving side of a provider: checks a webhook came from it and reads it.
/// Pure with respect to Cascade's state: recording what it says is the caller's job.
pub trait WebhookReceiver: Send + Sync + std::fmt::Debug {
    /// The provider section's name (the `{name}` of `/webhooks/{name}`).
    fn name(&self) -> &str;

    /// Verify and read a webhook received at `now`.
    ///
    /// # Errors
    /// See [`WebhookError`].
    fn receive(
        &self,
        request: &WebhookRequest,
        now: Timestamp,
    ) -> Result<Vec<WebhookItem>, WebhookError>;
}
