//! A flow's timeline: what happened to it, in order, as
//! `GET /failover/tracking/{id}/events` shows it. An audit projection written beside the
//! state (the state itself is stored as a snapshot), not an event log to replay.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// What a timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// The flow was accepted (`Start`).
    Accepted,
    /// A step began: its messages were created and its funds asked for.
    StepStarted,
    /// The balance could not cover a step.
    FundsRefused,
    /// The provider took a step's messages (or answered a submission again: `ignored`).
    Submitted,
    /// The provider refused a step's messages.
    SubmitFailed,
    /// A provider report about one message.
    Report,
    /// A step's TTL ran out.
    TtlExpired,
    /// Something failed that could not be retried.
    InternalError,
    /// A step's outcome was decided.
    StepCompleted,
    /// The flow reached its final status.
    FlowCompleted,
    /// The engine refused an event that cannot belong to this flow; nothing changed.
    Rejected,
    /// A callback delivery attempt.
    Callback,
    /// A provider could not take a step's messages (down, circuit open); the next
    /// provider of the channel, or a later retry, takes over.
    ProviderAttempt,
    /// What a provider says it charged for a message, learnt after its reports.
    ProviderPrice,
    /// A reply from the recipient answering one of the flow's messages.
    Inbound,
}

impl TimelineKind {
    /// The name in the timeline's `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Accepted => "accepted",
            TimelineKind::StepStarted => "step_started",
            TimelineKind::FundsRefused => "funds_refused",
            TimelineKind::Submitted => "submitted",
            TimelineKind::SubmitFailed => "submit_failed",
            TimelineKind::Report => "report",
            TimelineKind::TtlExpired => "ttl_expired",
            TimelineKind::InternalError => "internal_error",
            TimelineKind::StepCompleted => "step_completed",
            TimelineKind::FlowCompleted => "flow_completed",
            TimelineKind::Rejected => "rejected",
            TimelineKind::Callback => "callback",
            TimelineKind::ProviderAttempt => "provider_attempt",
            TimelineKind::ProviderPrice => "provider_price",
            TimelineKind::Inbound => "inbound",
        }
    }
}

/// One line of a flow's history, as `GET /failover/tracking/{id}/events` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub at: Timestamp,
    #[serde(rename = "type")]
    pub kind: TimelineKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What a call's report says in words (the SIP response, the machine detector's
    /// cause); other channels leave it out to keep the timeline small.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub provider_ids: Vec<String>,
    /// The provider that handled a submission attempt.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub provider: Option<String>,
    /// What the provider says it charged (informational).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub provider_price: Option<String>,
    /// The node that wrote the entry, when several serve one store (PostgreSQL).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub duplicate: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub late: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub ignored: bool,
}

impl TimelineEntry {
    pub fn new(at: Timestamp, kind: TimelineKind) -> Self {
        Self {
            at,
            kind,
            order: None,
            part: None,
            status: None,
            detail: None,
            description: None,
            provider_ids: Vec::new(),
            provider: None,
            provider_price: None,
            node: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_as_their_names() {
        for kind in [
            TimelineKind::Accepted,
            TimelineKind::StepStarted,
            TimelineKind::FundsRefused,
            TimelineKind::Submitted,
            TimelineKind::SubmitFailed,
            TimelineKind::Report,
            TimelineKind::TtlExpired,
            TimelineKind::InternalError,
            TimelineKind::StepCompleted,
            TimelineKind::FlowCompleted,
            TimelineKind::Rejected,
            TimelineKind::Callback,
            TimelineKind::ProviderAttempt,
            TimelineKind::ProviderPrice,
            TimelineKind::Inbound,
        ] {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
            assert_eq!(serde_json::from_value::<TimelineKind>(json).unwrap(), kind);
        }
    }
}
