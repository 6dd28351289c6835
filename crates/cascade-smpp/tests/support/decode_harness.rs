// The decoder check shared by the cargo-fuzz target (`fuzz/fuzz_targets/decode.rs`, via
// `include!`) and the proptest suite (`tests/codec_props.rs`), so both exercise exactly the
// same property. Plain functions only: it is compiled into both crates as-is.

/// The `max_len` the harness decodes with: large enough to let long bodies through.
pub const HARNESS_MAX_LEN: usize = 1 << 16;

/// Feeds `data` to `decode` until it wants more bytes or hits a fatal error, skipping
/// malformed frames as a session would. Every decoded PDU must re-encode, and the
/// re-encoded bytes must decode to the same PDU (the round trip agrees).
///
/// Returns how many PDUs decoded. Panics (which is what the fuzzer looks for) on any
/// violation; `decode` itself must never panic.
pub fn check_decode(data: &[u8]) -> usize {
    let mut buf = bytes::BytesMut::from(data);
    let mut decoded = 0;
    loop {
        let before = buf.len();
        match cascade_smpp::decode(&mut buf, HARNESS_MAX_LEN) {
            Ok(Some(pdu)) => {
                assert!(buf.len() < before, "a decoded PDU consumes bytes");
                decoded += 1;
                let wire = cascade_smpp::codec::encode_to_bytes(&pdu)
                    .unwrap_or_else(|e| panic!("decoded PDU does not re-encode: {e}: {pdu:?}"));
                let mut again = bytes::BytesMut::from(&wire[..]);
                let back = cascade_smpp::decode(&mut again, usize::MAX);
                assert!(again.is_empty(), "re-encoded PDU decodes whole");
                // Receipts are parsed from whatever arrives: that must not panic either.
                match &pdu.body {
                    cascade_smpp::PduBody::DeliverSm(sm) => {
                        let r = cascade_smpp::DeliveryReceipt::from_deliver_sm(sm);
                        if let Some(id) = r.message_id.as_deref() {
                            let _ = cascade_smpp::MessageIdForm::Auto.candidates(id);
                        }
                    }
                    cascade_smpp::PduBody::DataSm(sm) => {
                        let _ = cascade_smpp::DeliveryReceipt::from_data_sm(sm);
                    }
                    _ => {}
                }
                assert_eq!(back, Ok(Some(pdu)), "round trip disagrees");
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumes nothing");
                break;
            }
            Err(e) if e.is_fatal() => {
                assert_eq!(buf.len(), before, "a fatal error consumes nothing");
                break;
            }
            Err(e) => {
                assert!(buf.len() < before, "a malformed frame is consumed");
                assert!(e.sequence_number().is_some(), "malformed frames keep their header");
                let _ = e.to_string();
            }
        }
    }
    decoded
}
