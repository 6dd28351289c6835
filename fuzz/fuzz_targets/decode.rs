//! Arbitrary bytes into `cascade_smpp::decode`, repeatedly until it wants more or fails
//! fatally; every decoded PDU is re-encoded and must decode back to itself.
//!
//! The property lives in `crates/cascade-smpp/tests/support/decode_harness.rs`, shared with
//! the proptest suite so both check the same thing.

#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../../crates/cascade-smpp/tests/support/decode_harness.rs");

fuzz_target!(|data: &[u8]| {
    check_decode(data);
});
