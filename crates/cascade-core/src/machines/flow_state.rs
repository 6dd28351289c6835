//! A flow's mutable state: the flow's status, and each started step with its messages.

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

    /// Move to a status Cascade decided, with its reason (see [`crate::reasons`]).
    pub fn set_reason(&mut self, reason: &crate::reasons::Reason, at: Timestamp) {
        self.set_status(
            reason.status,
            Some(&reason.detailed_status),
            Some(&reason.description),
            at,
        );
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
