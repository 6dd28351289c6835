//! What can happen to a flow: the events that move the machine.

use serde::{Deserialize, Serialize};

use super::command::TimerKind;
use crate::channel::StatusKind;
use crate::flow::AnsweredBy;
use crate::time::Timestamp;

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
    /// What the provider says it charged (`"0.0333 EUR"`): informational, shown in the
    /// timeline; the tracking's price comes from Cascade's price list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_price: Option<String>,
    /// A call that ended without ever being answered, said by a provider that knows
    /// (SIP: voice-sip §2): its `duration` and `answeredBy` stay null instead of the
    /// 0 / `unknown` every other ended call gets.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub never_answered: bool,
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
            provider_price: None,
            never_answered: false,
        }
    }
}

impl Event {
    /// The provider refused step `order` for `reason` (or Cascade did, on its behalf).
    pub fn submit_failed(order: u32, reason: crate::reasons::Reason) -> Event {
        Event::SubmitFailed {
            order,
            status: reason.status,
            detailed_status: reason.detailed_status,
            description: reason.description,
        }
    }
}

/// Everything that can happen to a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The flow was accepted: start its first step.
    Start,
    /// The runner reserved the funds asked for by [`super::Command::ReserveFunds`].
    FundsReserved { order: u32 },
    /// The account's balance could not cover [`super::Command::ReserveFunds`].
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
    /// A timer set by [`super::Command::SetTimer`] is due.
    TimerFired { order: u32, kind: TimerKind },
    /// Something failed that cannot be retried (e.g. no provider for the channel).
    InternalError { order: u32, detail: String },
}
