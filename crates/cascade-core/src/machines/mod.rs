//! The failover engine as pure state machines: `step(definition, state, event, now)`
//! returns the next state and the commands a runner must carry out. No I/O, no clock.

mod flow_state;
mod flow_state_machine;

pub use flow_state::*;
pub use flow_state_machine::{EngineError, step};

#[cfg(test)]
mod flow_state_machine_tests;
