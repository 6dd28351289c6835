//! The failover engine as a pure state machine: [`transition`]`(definition, state, event,
//! now)` returns the next state and the commands a runner must carry out, and [`Apply`]
//! is the loop that runs a batch of events through it. No I/O, no clock.
//!
//! - [`flow_state`]: a flow's state; [`event`]: what moves it; [`command`]: what it asks
//!   for; [`timeline`]: what it records.
//! - `flow_state_machine`: the (phase × event) table and its handlers.
//! - [`apply`]: the runner's loop (funds answers, refusals, callback decisions).

pub mod apply;
pub mod command;
pub mod event;
pub mod flow_state;
mod flow_state_machine;
pub mod timeline;

pub use apply::{Apply, Output};
pub use command::{Change, Command, TimerKind};
pub use event::{Event, Report};
pub use flow_state::*;
pub use flow_state_machine::{EngineError, transition};
pub use timeline::{TimelineEntry, TimelineKind};

#[cfg(test)]
mod flow_state_machine_tests;
