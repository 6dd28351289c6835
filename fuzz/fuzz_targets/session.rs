//! Arbitrary peer bytes into a bound `EsmeSession` and a fresh `SmscSession`: nothing may
//! panic, every frame they send must be one valid PDU, `Closed` must come once and last.
//!
//! The property lives in `crates/cascade-smpp/tests/support/session_harness.rs`, shared with
//! the proptest suite.

#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../../crates/cascade-smpp/tests/support/session_harness.rs");

fuzz_target!(|data: &[u8]| {
    check_sessions(data);
});
