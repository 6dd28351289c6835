//! Pacing: how fast something may go ([`TokenBucket`]), how long to wait before trying
//! again ([`Backoff`]), and when to stop trying a failing peer for a while
//! ([`CircuitBreaker`]).
//!
//! Both are plain values with no clock of their own: the caller passes `now` (a
//! [`std::time::Instant`], so tests can use any instant they like) and decides what to do
//! with the answer. The SMPP session paces `submit_sm` with the bucket, the HTTP API limits
//! each application's requests with it; the SMPP driver's reconnects and the dispatcher's
//! submit retries wait by the back-off.

#![forbid(unsafe_code)]
#![deny(missing_debug_implementations)]
#![warn(missing_docs)]

mod backoff;
mod bucket;
mod circuit;
mod share;

pub use backoff::{Backoff, BackoffSeries};
pub use bucket::{Rate, TokenBucket};
pub use circuit::{CircuitBreaker, CircuitPolicy, CircuitState};
pub use share::NodeShare;
