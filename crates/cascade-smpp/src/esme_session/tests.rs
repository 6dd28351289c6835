//! ESME session unit tests: one session fed hand-made PDUs. The full conversation with an
//! SMSC is in `tests/session_pair/`.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::codec::{decode, encode};
use crate::error::{DecodeError, FieldError};
use crate::pdu::consts::ESM_CLASS_DELIVERY_RECEIPT;
use crate::pdu::{
    BindMode, BindResp, COctetString, CommandStatus, DataSm, DeliverSm, Tlv, TlvList,
};
use crate::receipt::ReceiptState;

const SECOND: Duration = Duration::from_secs(1);

fn config() -> EsmeConfig {
    EsmeConfig {
        system_id: "cascade".into(),
        password: "secret".into(),
        ..EsmeConfig::default()
    }
}

fn sent(s: &mut EsmeSession) -> Vec<Pdu> {
    let mut buf = BytesMut::new();
    while let Some(frame) = s.poll_transmit() {
        buf.extend_from_slice(&frame);
    }
    let mut out = Vec::new();
    while let Some(pdu) = decode(&mut buf, 1 << 16).expect("session output decodes") {
        out.push(pdu);
    }
    out
}

fn events(s: &mut EsmeSession) -> Vec<EsmeEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn feed(s: &mut EsmeSession, now: Instant, pdu: Pdu) {
    let mut buf = BytesMut::new();
    encode(&pdu, &mut buf).expect("test PDU encodes");
    s.handle_bytes(now, &buf);
}

fn bound(config: EsmeConfig) -> (EsmeSession, Instant) {
    let t0 = Instant::now();
    let mut s = EsmeSession::new(config, t0).expect("valid config");
    let bind = sent(&mut s);
    assert_eq!(bind.len(), 1);
    let mode = s.config().bind_mode;
    let resp = BindResp {
        system_id: "SMSC".into(),
        tlvs: TlvList::new().with(Tlv::sc_interface_version(0x34)),
    };
    feed(
        &mut s,
        t0,
        Pdu::new(bind[0].sequence_number, mode.response(resp)),
    );
    assert_eq!(
        events(&mut s),
        [EsmeEvent::Bound {
            system_id: "SMSC".into(),
            sc_interface_version: Some(0x34)
        }]
    );
    (s, t0)
}

fn sm() -> SubmitSm {
    SubmitSm {
        destination_addr: "306912345678".into(),
        short_message: Bytes::from_static(b"hello"),
        ..SubmitSm::default()
    }
}

#[test]
fn starts_with_a_transceiver_bind_at_version_34() {
    let t0 = Instant::now();
    let mut s = EsmeSession::new(config(), t0).expect("valid config");
    let out = sent(&mut s);
    let PduBody::BindTransceiver(bind) = &out[0].body else {
        panic!("expected bind_transceiver, got {out:?}");
    };
    assert_eq!(out[0].sequence_number, 1);
    assert_eq!(bind.interface_version, 0x34);
    assert_eq!(bind.system_id, "cascade");
    assert_eq!(s.state(), SessionState::Binding);
    assert_eq!(s.poll_timeout(), Some(t0 + 10 * SECOND));
    assert_eq!(s.submit(t0, &sm()), Err(SubmitRefused::NotBound));
}

#[test]
fn invalid_credentials_are_refused_up_front() {
    let config = EsmeConfig {
        password: "far-too-long".into(),
        ..config()
    };
    assert!(matches!(
        EsmeSession::new(config, Instant::now()),
        Err(EncodeError::CStringTooLong {
            field: "password",
            ..
        })
    ));
}

#[test]
fn bind_failure_closes() {
    let t0 = Instant::now();
    let mut s = EsmeSession::new(config(), t0).expect("valid config");
    sent(&mut s);
    feed(
        &mut s,
        t0,
        Pdu::with_status(
            1,
            CommandStatus::ESME_RBINDFAIL,
            PduBody::BindTransceiverResp(BindResp::default()),
        ),
    );
    let status = CommandStatus::ESME_RBINDFAIL;
    assert_eq!(
        events(&mut s),
        [
            EsmeEvent::BindFailed { status },
            EsmeEvent::Closed {
                reason: CloseReason::BindFailed(status)
            }
        ]
    );
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn bind_timeout_closes() {
    let t0 = Instant::now();
    let mut s = EsmeSession::new(config(), t0).expect("valid config");
    s.handle_timeout(t0 + 9 * SECOND);
    assert!(events(&mut s).is_empty());
    s.handle_timeout(t0 + 10 * SECOND);
    assert_eq!(
        events(&mut s),
        [EsmeEvent::Closed {
            reason: CloseReason::BindTimedOut
        }]
    );
}

#[test]
fn receiver_bind_cannot_submit() {
    let (mut s, t0) = bound(EsmeConfig {
        bind_mode: BindMode::Receiver,
        ..config()
    });
    assert_eq!(s.submit(t0, &sm()), Err(SubmitRefused::NotBound));
}

#[test]
fn invalid_submit_sends_nothing() {
    let (mut s, t0) = bound(config());
    let bad = SubmitSm {
        source_addr: "a-sender-name-far-too-long".into(),
        ..sm()
    };
    assert!(matches!(s.submit(t0, &bad), Err(SubmitRefused::Invalid(_))));
    assert!(sent(&mut s).is_empty());
    assert_eq!(s.in_flight(), 0);
}

#[test]
fn submit_timeout_then_late_response() {
    let (mut s, t0) = bound(config());
    let seq = s.submit(t0, &sm()).expect("bound");
    assert_eq!(s.poll_timeout(), Some(t0 + 30 * SECOND));
    // Keep the link alive so only the response timer matters.
    feed(&mut s, t0 + 29 * SECOND, Pdu::enquire_link(99));
    s.handle_timeout(t0 + 30 * SECOND);
    assert_eq!(events(&mut s), [EsmeEvent::SubmitTimedOut { seq }]);
    let late = Pdu::new(
        seq,
        PduBody::SubmitSmResp(crate::pdu::SubmitSmResp::new("m1")),
    );
    feed(&mut s, t0 + 31 * SECOND, late.clone());
    assert_eq!(
        events(&mut s),
        [EsmeEvent::UnexpectedResponse { pdu: late }]
    );
}

#[test]
fn generic_nack_for_a_submit_is_a_rejection() {
    let (mut s, t0) = bound(config());
    let seq = s.submit(t0, &sm()).expect("bound");
    feed(
        &mut s,
        t0,
        Pdu::generic_nack(seq, CommandStatus::ESME_RINVCMDLEN),
    );
    assert_eq!(
        events(&mut s),
        [EsmeEvent::SubmitRejected {
            seq,
            status: CommandStatus::ESME_RINVCMDLEN
        }]
    );
    assert_eq!(s.in_flight(), 0);
}

#[test]
fn throughput_cap_pauses_with_exact_until() {
    let (mut s, t0) = bound(EsmeConfig {
        throughput: Some(ThroughputLimit::per_second(NonZeroU32::new(4).expect("4"))),
        ..config()
    });
    s.submit(t0, &sm()).expect("first token");
    assert_eq!(
        s.submit(t0, &sm()),
        Err(SubmitRefused::Paused {
            until: t0 + Duration::from_millis(250)
        })
    );
    assert!(s.submit(t0 + Duration::from_millis(250), &sm()).is_ok());
}

#[test]
fn throttling_pauses_and_resumes() {
    let (mut s, t0) = bound(config());
    let seq = s.submit(t0, &sm()).expect("bound");
    let status = CommandStatus::ESME_RMSGQFUL;
    feed(
        &mut s,
        t0,
        Pdu::with_status(seq, status, PduBody::SubmitSmResp(Default::default())),
    );
    let until = t0 + SECOND;
    assert_eq!(
        events(&mut s),
        [EsmeEvent::Throttled { seq, status, until }]
    );
    assert_eq!(s.submit(t0, &sm()), Err(SubmitRefused::Paused { until }));
    assert_eq!(s.poll_timeout(), Some(until));
    s.handle_timeout(until);
    assert_eq!(events(&mut s), [EsmeEvent::Resumed]);
    assert!(s.submit(until, &sm()).is_ok());
}

#[test]
fn receipts_and_mo_are_answered_and_reported() {
    let (mut s, t0) = bound(config());
    let receipt = DeliverSm {
        esm_class: ESM_CLASS_DELIVERY_RECEIPT,
        short_message: Bytes::from_static(b"id:1A2B stat:DELIVRD err:000"),
        ..DeliverSm::default()
    };
    feed(&mut s, t0, Pdu::new(500, PduBody::DeliverSm(receipt)));
    let mo = DataSm {
        source_addr: "3069".into(),
        tlvs: TlvList::new().with(Tlv::message_payload(&b"STOP"[..])),
        ..DataSm::default()
    };
    feed(&mut s, t0, Pdu::new(501, PduBody::DataSm(mo)));
    let out = sent(&mut s);
    assert_eq!(
        out[0],
        Pdu::new(500, PduBody::DeliverSmResp(Default::default()))
    );
    assert_eq!(
        out[1],
        Pdu::new(501, PduBody::DataSmResp(Default::default()))
    );
    let evs = events(&mut s);
    let EsmeEvent::Receipt { receipt, message } = &evs[0] else {
        panic!("expected a receipt, got {evs:?}");
    };
    assert_eq!(receipt.message_id.as_deref(), Some("1A2B"));
    assert_eq!(receipt.state, Some(ReceiptState::Delivered));
    assert_eq!(message.seq(), 500);
    let EsmeEvent::MobileOriginated { message } = &evs[1] else {
        panic!("expected an MO, got {evs:?}");
    };
    assert_eq!(message.message(), b"STOP");
    assert_eq!(message.source_addr(), &COctetString::from("3069"));
}

#[test]
fn malformed_request_gets_a_field_specific_nack() {
    let (mut s, t0) = bound(config());
    // deliver_sm whose source_addr runs past 21 octets without NUL.
    let mut wire = vec![0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 42, 0, 1, 1];
    wire.extend_from_slice(&[b'9'; 30]);
    let len = u32::try_from(wire.len()).expect("small");
    wire[..4].copy_from_slice(&len.to_be_bytes());
    s.handle_bytes(t0, &wire);
    assert_eq!(
        sent(&mut s),
        [Pdu::generic_nack(42, CommandStatus::ESME_RINVSRCADR)]
    );
    let evs = events(&mut s);
    assert!(matches!(
        &evs[..],
        [EsmeEvent::ProtocolError {
            error: DecodeError::Malformed {
                error: FieldError::CStringTooLong {
                    field: "source_addr",
                    max: 21
                },
                ..
            }
        }]
    ));
    assert_eq!(s.state(), SessionState::Bound);
}

#[test]
fn unknown_request_gets_invcmdid() {
    let (mut s, t0) = bound(config());
    s.handle_bytes(t0, &[0, 0, 0, 16, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0, 9]);
    assert_eq!(
        sent(&mut s),
        [Pdu::generic_nack(9, CommandStatus::ESME_RINVCMDID)]
    );
}

#[test]
fn bad_length_is_fatal() {
    let (mut s, t0) = bound(config());
    let seq = s.submit(t0, &sm()).expect("bound");
    s.handle_bytes(t0, &[0, 0, 0, 3]);
    let evs = events(&mut s);
    assert!(matches!(evs[0], EsmeEvent::ProtocolError { .. }));
    assert_eq!(evs[1], EsmeEvent::SubmitAborted { seq });
    assert_eq!(
        evs[2],
        EsmeEvent::Closed {
            reason: CloseReason::ProtocolViolation
        }
    );
    assert_eq!(s.state(), SessionState::Closed);
}

#[test]
fn disconnect_aborts_in_flight_in_sending_order() {
    let (mut s, t0) = bound(config());
    let a = s.submit(t0, &sm()).expect("bound");
    let b = s.submit(t0 + SECOND, &sm()).expect("bound");
    s.handle_disconnect(t0 + 2 * SECOND);
    assert_eq!(
        events(&mut s),
        [
            EsmeEvent::SubmitAborted { seq: a },
            EsmeEvent::SubmitAborted { seq: b },
            EsmeEvent::Closed {
                reason: CloseReason::Disconnected
            }
        ]
    );
    s.handle_disconnect(t0 + 3 * SECOND);
    assert!(events(&mut s).is_empty(), "Closed comes once");
}

#[test]
fn unbind_before_bound_cancels() {
    let t0 = Instant::now();
    let mut s = EsmeSession::new(config(), t0).expect("valid config");
    s.unbind(t0);
    assert_eq!(
        events(&mut s),
        [EsmeEvent::Closed {
            reason: CloseReason::Cancelled
        }]
    );
}

#[test]
fn unbind_timeout_closes() {
    let (mut s, t0) = bound(config());
    sent(&mut s);
    s.unbind(t0);
    assert_eq!(sent(&mut s), [Pdu::unbind(2)]);
    assert_eq!(s.submit(t0, &sm()), Err(SubmitRefused::Closing));
    s.handle_timeout(t0 + 5 * SECOND);
    assert_eq!(
        events(&mut s),
        [EsmeEvent::Closed {
            reason: CloseReason::UnbindTimedOut
        }]
    );
}

#[test]
fn manual_ack_waits_for_the_owner() {
    let (mut s, t0) = bound(EsmeConfig {
        manual_deliver_ack: true,
        ..config()
    });
    sent(&mut s);
    let receipt = DeliverSm {
        esm_class: ESM_CLASS_DELIVERY_RECEIPT,
        short_message: Bytes::from_static(b"id:9 stat:DELIVRD"),
        ..DeliverSm::default()
    };
    feed(&mut s, t0, Pdu::new(70, PduBody::DeliverSm(receipt)));
    assert!(
        sent(&mut s).is_empty(),
        "not answered before the owner says so"
    );
    assert!(matches!(events(&mut s)[..], [EsmeEvent::Receipt { .. }]));
    assert_eq!(s.unacked_incoming(), 1);
    s.ack_incoming(70, CommandStatus::ESME_RX_T_APPN)
        .expect("pending");
    assert_eq!(
        sent(&mut s),
        [Pdu::with_status(
            70,
            CommandStatus::ESME_RX_T_APPN,
            PduBody::DeliverSmResp(Default::default())
        )]
    );
    assert_eq!(
        s.ack_incoming(70, CommandStatus::ESME_ROK),
        Err(crate::error::AnswerError::UnknownSequence { seq: 70 })
    );
}

#[test]
fn automatic_mode_has_nothing_to_ack() {
    let (mut s, t0) = bound(config());
    feed(
        &mut s,
        t0,
        Pdu::new(71, PduBody::DeliverSm(DeliverSm::default())),
    );
    assert!(s.ack_incoming(71, CommandStatus::ESME_ROK).is_err());
}
