//! Property tests: arbitrary peer bytes never make a session panic or break its contract
//! (see `support/session_harness.rs`).

include!("support/session_harness.rs");

use proptest::prelude::*;

/// Valid PDUs (encoded) mixed into the random input, so the sessions get past framing.
fn valid_frames() -> impl Strategy<Value = Vec<u8>> {
    use cascade_smpp::pdu::{Bind, DeliverSm, SubmitSm, SubmitSmResp};
    use cascade_smpp::{CommandStatus, Pdu, PduBody};
    let pdu = prop_oneof![
        (1u32..40).prop_map(Pdu::enquire_link),
        (1u32..40).prop_map(Pdu::unbind),
        (1u32..40, any::<u32>()).prop_map(|(s, st)| Pdu::with_status(
            s,
            CommandStatus(st % 0x60),
            PduBody::SubmitSmResp(SubmitSmResp::new("X"))
        )),
        (1u32..40).prop_map(|s| Pdu::new(s, PduBody::DeliverSm(DeliverSm::default()))),
        (1u32..40).prop_map(|s| Pdu::generic_nack(s, CommandStatus::ESME_RSYSERR)),
        (1u32..40).prop_map(|s| Pdu::new(s, PduBody::BindTransceiver(Bind::default()))),
        (1u32..40).prop_map(|s| Pdu::new(s, PduBody::SubmitSm(SubmitSm::default()))),
    ];
    prop::collection::vec(pdu, 0..8).prop_map(|pdus| {
        let mut out = Vec::new();
        for pdu in pdus {
            let wire = cascade_smpp::codec::encode_to_bytes(&pdu).expect("valid");
            // A control byte giving the whole frame as one chunk, no time step (frames here
            // are under 64 bytes; an odd length also triggers a submit, which is fine).
            assert!(wire.len() < 0x40);
            out.push(u8::try_from(wire.len()).expect("small"));
            out.extend_from_slice(&wire);
        }
        out
    })
}

proptest! {
    #[test]
    fn sessions_survive_random_bytes(data in prop::collection::vec(any::<u8>(), 0..1024)) {
        check_sessions(&data);
    }

    #[test]
    fn sessions_survive_mixed_valid_and_random(
        valid in valid_frames(),
        noise in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut data = valid;
        data.extend_from_slice(&noise);
        check_sessions(&data);
    }
}
