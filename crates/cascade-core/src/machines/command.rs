//! What the machine asks its runner to do.

use serde::{Deserialize, Serialize};

use super::flow_state::FlowStatus;
use super::timeline::TimelineEntry;
use crate::channel::StatusKind;
use crate::money::Micros;
use crate::time::Timestamp;

/// What the engine asks its runner to do. [`Command::ReserveFunds`] must be answered in
/// the same transaction (with [`super::Event::FundsReserved`] or
/// [`super::Event::FundsRefused`]); the
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
