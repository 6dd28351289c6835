//! Flows: the checked model ([`model`]), parsing a request into it ([`parse`]) and
//! printing it back ([`echo`]).

pub mod echo;
pub mod model;
pub mod parse;

pub use crate::fields::ValidationErrors;
pub use echo::echo_flow;
pub use model::*;
pub use parse::{AcceptContext, TtlClock, parse_flow};
