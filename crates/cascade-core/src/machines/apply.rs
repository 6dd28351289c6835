//! Running the machine over a batch of events: the loop every runner needs, written once.
//!
//! [`Apply`] feeds events to [`transition`] one at a time and hands out what the runner
//! must do, in order, through [`Apply::poll`] — sans-IO, so the store's transaction (which
//! awaits the database for a balance) and the tests' simulator (which answers from a
//! number) drive the very same loop:
//!
//! - [`Output::ReserveFunds`]: answer with [`Apply::funds`] before polling again; the
//!   answer is applied next, before any other queued event (the machine waits on it).
//! - [`Output::Command`]: everything else the machine asked for, in the order it asked.
//! - [`Output::Callback`]: the event just applied changed something the flow's callback
//!   subscriber hears about (every change for `OnChange`/`OnStep`, the end for
//!   `OnCompletion`): report the state as it is now, before the next poll.
//! - [`Output::Refused`]: the machine refused an event (already recorded in the timeline
//!   as `rejected`). A refused answer to a submission ends the step as an internal error:
//!   its submit job is gone, so nothing else would ever move it.

use std::collections::VecDeque;

use super::command::{Change, Command};
use super::event::Event;
use super::flow_state::FlowState;
use super::flow_state_machine::{EngineError, transition};
use super::timeline::{TimelineEntry, TimelineKind};
use crate::flow::FlowDefinition;
use crate::money::Micros;
use crate::time::Timestamp;

/// What the runner must do next; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Check that the account's balance covers `amount` and, when `debit`, take it; then
    /// call [`Apply::funds`] with the answer.
    ReserveFunds {
        order: u32,
        amount: Micros,
        debit: bool,
    },
    /// A command other than `ReserveFunds`.
    Command(Command),
    /// The state as it is now is due to the flow's callback subscriber.
    Callback,
    /// An event the machine refused; the state did not change.
    Refused(EngineError),
}

/// One run of events over one flow.
#[derive(Debug)]
pub struct Apply<'d> {
    def: &'d FlowDefinition,
    now: Timestamp,
    queue: VecDeque<Event>,
    ready: VecDeque<Output>,
    /// The step whose funds were asked for and not answered yet.
    awaiting_funds: Option<u32>,
}

impl<'d> Apply<'d> {
    /// A run applying `events` in order, at `now`.
    pub fn new(def: &'d FlowDefinition, events: Vec<Event>, now: Timestamp) -> Self {
        Apply {
            def,
            now,
            queue: events.into(),
            ready: VecDeque::new(),
            awaiting_funds: None,
        }
    }

    /// The next thing to do, applying the next event to `state` when nothing is pending;
    /// `None` when every event (and everything it provoked) has been applied.
    ///
    /// # Panics
    /// When called while an [`Output::ReserveFunds`] is unanswered.
    pub fn poll(&mut self, state: &mut FlowState) -> Option<Output> {
        assert!(
            self.awaiting_funds.is_none(),
            "answer ReserveFunds with Apply::funds before polling again"
        );
        loop {
            if let Some(output) = self.ready.pop_front() {
                if let Output::ReserveFunds { order, .. } = output {
                    self.awaiting_funds = Some(order);
                }
                return Some(output);
            }
            let event = self.queue.pop_front()?;
            self.step(state, event);
        }
    }

    /// The answer to the last [`Output::ReserveFunds`]: applied before anything else.
    ///
    /// # Panics
    /// When no funds were asked for.
    pub fn funds(&mut self, reserved: bool) {
        let order = self
            .awaiting_funds
            .take()
            .expect("Apply::funds answers an Output::ReserveFunds");
        self.queue.push_front(if reserved {
            Event::FundsReserved { order }
        } else {
            Event::FundsRefused { order }
        });
    }

    fn step(&mut self, state: &mut FlowState, event: Event) {
        let submission_of = match &event {
            Event::Submitted { order, .. } | Event::SubmitFailed { order, .. } => Some(*order),
            _ => None,
        };
        let name = event_name(&event);
        let commands = match transition(self.def, state.clone(), event, self.now) {
            Ok((next, commands)) => {
                *state = next;
                commands
            }
            Err(e) => {
                let mut entry = TimelineEntry::new(self.now, TimelineKind::Rejected)
                    .detail(format!("{name}: {e}"));
                entry.ignored = true;
                self.ready
                    .push_back(Output::Command(Command::Record(entry)));
                if let Some(order) = submission_of {
                    self.queue.push_front(Event::InternalError {
                        order,
                        detail: format!("{name}: {e}"),
                    });
                }
                self.ready.push_back(Output::Refused(e));
                return;
            }
        };
        let mut changed = false;
        let mut completed = false;
        for command in commands {
            match command {
                Command::ReserveFunds {
                    order,
                    amount,
                    debit,
                } => self.ready.push_back(Output::ReserveFunds {
                    order,
                    amount,
                    debit,
                }),
                other => {
                    if let Command::Notify(change) = &other {
                        changed = true;
                        completed |= matches!(change, Change::Flow { status } if status.is_final());
                    }
                    self.ready.push_back(Output::Command(other));
                }
            }
        }
        if let Some(callback) = &self.def.callback
            && ((changed && callback.strategy.on_every_change()) || completed)
        {
            self.ready.push_back(Output::Callback);
        }
    }
}

/// The name of an event's kind, for the timeline.
fn event_name(event: &Event) -> &'static str {
    match event {
        Event::Start => "Start",
        Event::FundsReserved { .. } => "FundsReserved",
        Event::FundsRefused { .. } => "FundsRefused",
        Event::Submitted { .. } => "Submitted",
        Event::SubmitFailed { .. } => "SubmitFailed",
        Event::Report { .. } => "Report",
        Event::TimerFired { .. } => "TimerFired",
        Event::InternalError { .. } => "InternalError",
    }
}
