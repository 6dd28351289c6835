//! The engine's vocabulary: a flow's mutable state, the events that move it and the
//! commands it asks a runner to carry out.

use serde::{Deserialize, Serialize};

use crate::channel::{Channel, StatusKind};
use crate::flow::{AnsweredBy, FlowDefinition};
use crate::money::Micros;
use crate::time::Timestamp;

/// A flow's overall status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FlowStatus {
    /// Accepted; nothing handed to a provider yet.
    Queued,
    InProgress,
    Succeeded,
    Failed,
}

impl FlowStatus {
    pub fn name(self) -> &'static str {
        match self {
            FlowStatus::Queued => "Queued",
            FlowStatus::InProgress => "InProgress",
            FlowStatus::Succeeded => "Succeeded",
            FlowStatus::Failed => "Failed",
        }
    }

    pub fn parse(text: &str) -> Option<FlowStatus> {
        [
            FlowStatus::Queued,
            FlowStatus::InProgress,
            FlowStatus::Succeeded,
            FlowStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.name().eq_ignore_ascii_case(text.trim()))
    }

    pub fn is_final(self) -> bool {
        matches!(self, FlowStatus::Succeeded | FlowStatus::Failed)
    }
}

/// Why a flow failed: the API's `statusCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailureCode {
    /// `"0"`: an internal error that could not be retried.
    Internal,
    /// `"1"`: the balance could not cover a step when it was about to start.
    InsufficientBalance,
    /// `"2"`: the last step failed with a status listed in its `failoverOnStatuses`.
    StepsExhausted,
    /// `"3"`: a step failed with a status not listed in its `failoverOnStatuses`.
    NotListed,
}

impl FailureCode {
    pub fn code(self) -> &'static str {
        match self {
            FailureCode::Internal => "0",
            FailureCode::InsufficientBalance => "1",
            FailureCode::StepsExhausted => "2",
            FailureCode::NotListed => "3",
        }
    }
}

/// A flow's mutable state. Steps appear once attempted, in the order they started; the
/// last one is the current step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowState {
    pub status: FlowStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<FailureCode>,
    pub steps: Vec<StepState>,
    pub updated_at: Timestamp,
}

impl FlowState {
    /// The state of a flow that was just accepted.
    pub fn new(created_at: Timestamp) -> Self {
        Self {
            status: FlowStatus::Queued,
            status_code: None,
            steps: Vec::new(),
            updated_at: created_at,
        }
    }

    pub fn is_final(&self) -> bool {
        self.status.is_final()
    }

    /// Sum of every message's price.
    pub fn total_price(&self) -> Micros {
        self.steps
            .iter()
            .flat_map(|s| &s.messages)
            .map(|m| m.price)
            .sum()
    }

    /// The channel of the last step attempted.
    pub fn termination_channel(&self, def: &FlowDefinition) -> Option<Channel> {
        let last = self.steps.last()?;
        def.steps
            .iter()
            .find(|s| s.order == last.order)
            .map(crate::flow::Step::channel)
    }

    pub fn step(&self, order: u32) -> Option<&StepState> {
        self.steps.iter().find(|s| s.order == order)
    }

    pub fn current(&self) -> Option<&StepState> {
        self.steps.last()
    }
}

/// Where a started step is before its outcome is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepPhase {
    /// Waiting for the runner to reserve the step's price.
    Reserving,
    /// Funds reserved; waiting for the provider to accept the messages.
    Submitting,
    /// Handed to the provider; waiting for reports or the TTL.
    Sent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepState {
    pub order: u32,
    pub phase: StepPhase,
    /// Set exactly once, when the step's outcome is decided; the flow advances only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<StatusKind>,
    pub started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Timestamp>,
    /// SMS `messageId` (shared by the parts); for Viber and Voice the message's own id.
    pub message_id: String,
    /// What was debited when the step started, refunded if the provider refuses it.
    pub reserved: Micros,
    pub messages: Vec<MessageState>,
}

/// Who decided a message's final status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FinalSource {
    /// A provider report or a refused submission.
    Provider,
    /// Cascade itself: a TTL expiry, a missing report, a refused reservation.
    Engine,
}

/// One message (one SMS part, or the step's single Viber or Voice message).
///
/// Stored on every change, so absent values are left out of the stored form and the
/// status's own reason texts are not stored at all (see [`MessageState::set_status`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageState {
    /// `smsId`, or the Viber message's `trackingId`, or the voice `messageId`.
    pub id: String,
    /// 1-based part number.
    pub part: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    pub status: StatusKind,
    /// `detailedStatus` when it differs from the status's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    /// `description` when it differs from the status's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    pub updated_at: Timestamp,
    pub created_at: Timestamp,
    pub price: Micros,
    /// Milliseconds from send to the final report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<AnsweredBy>,
    /// An operator reported by the provider, overriding the prefix table's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_on_delivery_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_source: Option<FinalSource>,
}

impl MessageState {
    /// A new message, `Queued`.
    pub fn queued(id: String, part: u32, price: Micros, now: Timestamp) -> Self {
        Self {
            id,
            part,
            provider_id: None,
            status: StatusKind::Queued,
            detail: None,
            description: None,
            updated_at: now,
            created_at: now,
            price,
            latency_ms: None,
            duration_s: None,
            answered_by: None,
            operator: None,
            expired_on_delivery_at: None,
            final_source: None,
        }
    }

    /// Move to `status` at `at`, with the given reason texts (`None`: the status's own).
    pub fn set_status(
        &mut self,
        status: StatusKind,
        detail: Option<&str>,
        description: Option<&str>,
        at: Timestamp,
    ) {
        self.status = status;
        self.detail = detail
            .filter(|d| *d != status.default_detail())
            .map(str::to_owned);
        self.description = description
            .filter(|d| *d != status.default_description())
            .map(str::to_owned);
        self.updated_at = at;
    }

    /// `status.reason.detailedStatus`.
    pub fn detailed_status(&self) -> &str {
        self.detail
            .as_deref()
            .unwrap_or(self.status.default_detail())
    }

    /// `status.reason.description`.
    pub fn description(&self) -> &str {
        self.description
            .as_deref()
            .unwrap_or(self.status.default_description())
    }
}

/// Durable timers a flow can hold; at most one of each kind per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimerKind {
    /// The step's TTL (for voice: the deadline for the provider's final report).
    Ttl,
}

impl TimerKind {
    pub fn name(self) -> &'static str {
        match self {
            TimerKind::Ttl => "ttl",
        }
    }

    pub fn parse(text: &str) -> Option<TimerKind> {
        (text == "ttl").then_some(TimerKind::Ttl)
    }
}

/// A provider's report about one message, already mapped to Cascade's statuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub status: StatusKind,
    pub detailed_status: Option<String>,
    pub description: Option<String>,
    /// When the provider says it happened (or when Cascade received it).
    pub at: Timestamp,
    pub duration_s: Option<u32>,
    pub answered_by: Option<AnsweredBy>,
    pub operator: Option<String>,
}

impl Report {
    pub fn status(status: StatusKind, at: Timestamp) -> Self {
        Self {
            status,
            detailed_status: None,
            description: None,
            at,
            duration_s: None,
            answered_by: None,
            operator: None,
        }
    }
}

/// Everything that can happen to a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The flow was accepted: start its first step.
    Start,
    /// The runner reserved the funds asked for by [`Command::ReserveFunds`].
    FundsReserved { order: u32 },
    /// The account's balance could not cover [`Command::ReserveFunds`].
    FundsRefused { order: u32 },
    /// The provider accepted the step: one provider message id per message, in part order.
    Submitted {
        order: u32,
        provider_ids: Vec<String>,
    },
    /// The provider refused the step outright (`Failed` or `Unsent`).
    SubmitFailed {
        order: u32,
        status: StatusKind,
        detailed_status: String,
        description: String,
    },
    /// A provider report for one message.
    Report {
        order: u32,
        part: u32,
        report: Report,
    },
    /// A timer set by [`Command::SetTimer`] is due.
    TimerFired { order: u32, kind: TimerKind },
    /// Something failed that cannot be retried (e.g. no provider for the channel).
    InternalError { order: u32, detail: String },
}

/// What the engine asks its runner to do. [`Command::ReserveFunds`] must be answered in
/// the same transaction (with [`Event::FundsReserved`] or [`Event::FundsRefused`]); the
/// others are written as durable rows or applied to the account with the new state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Check that the balance covers `amount`; when `debit`, take it as well.
    ReserveFunds {
        order: u32,
        amount: Micros,
        debit: bool,
    },
    /// Give money back (a refused submission).
    Credit {
        amount: Micros,
    },
    /// Take money regardless of the balance (a voice call's price, known at its end).
    Debit {
        amount: Micros,
    },
    /// Hand the step's messages to its provider (durably queued, at least once).
    Submit {
        order: u32,
    },
    /// Create or replace the step's timer of this kind.
    SetTimer {
        order: u32,
        kind: TimerKind,
        at: Timestamp,
    },
    CancelTimer {
        order: u32,
        kind: TimerKind,
    },
    /// Append to the flow's timeline.
    Record(TimelineEntry),
    /// Something a callback subscriber hears about changed.
    Notify(Change),
}

/// A change callbacks report: a message's status, or the flow's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    Message {
        order: u32,
        part: u32,
        status: StatusKind,
    },
    Flow {
        status: FlowStatus,
    },
}

/// One line of a flow's history, as `GET /failover/tracking/{id}/events` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub at: Timestamp,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub provider_ids: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub duplicate: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub late: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub ignored: bool,
}

impl TimelineEntry {
    pub fn new(at: Timestamp, kind: &str) -> Self {
        Self {
            at,
            kind: kind.to_owned(),
            order: None,
            part: None,
            status: None,
            detail: None,
            provider_ids: Vec::new(),
            duplicate: false,
            late: false,
            ignored: false,
        }
    }

    #[must_use]
    pub fn order(mut self, order: u32) -> Self {
        self.order = Some(order);
        self
    }

    #[must_use]
    pub fn part(mut self, part: u32) -> Self {
        self.part = Some(part);
        self
    }

    #[must_use]
    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }

    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}
