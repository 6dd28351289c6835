//! Pacing: how fast something may go ([`TokenBucket`]) and how long to wait before trying
//! again ([`Backoff`]).
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

pub use backoff::{Backoff, BackoffSeries};
pub use bucket::{Rate, TokenBucket};
