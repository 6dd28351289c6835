//! SMSC session unit tests: one session fed hand-made PDUs.

use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::*;
use crate::codec::{decode, encode};

fn sent(s: &mut SmscSession) -> Vec<Pdu> {
    let mut buf = BytesMut::new();
    while let Some(frame) = s.poll_transmit() {
        buf.extend_from_slice(&frame);
    }
    std::iter::from_fn(|| decode(&mut buf, 1 << 16).expect("session output decodes")).collect()
}

fn events(s: &mut SmscSession) -> Vec<SmscEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn feed(s: &mut SmscSession, now: Instant, pdu: Pdu) {
    let mut buf = BytesMut::new();
    encode(&pdu, &mut buf).expect("test PDU encodes");
    s.handle_bytes(now, &buf);
}

fn bind(mode: BindMode, seq: u32, password: &str) -> Pdu {
    Pdu::new(
        seq,
        mode.request(Bind {
            system_id: "esme".into(),
            password: password.into(),
            interface_version: 0x34,
            ..Bind::default()
        }),
    )
}

fn session(policy: BindPolicy) -> (SmscSession, Instant) {
    let t0 = Instant::now();
    let config = SmscConfig {
        bind_policy: policy,
        ..SmscConfig::default()
    };
    (SmscSession::new(config, t0).expect("valid config"), t0)
}

#[test]
fn accept_all_binds_with_sc_interface_version() {
    let (mut s, t0) = session(BindPolicy::AcceptAll);
    feed(&mut s, t0, bind(BindMode::Transceiver, 1, "x"));
    let out = sent(&mut s);
    let PduBody::BindTransceiverResp(resp) = &out[0].body else {
        panic!("expected bind_transceiver_resp, got {out:?}");
    };
    assert_eq!(resp.system_id, "cascade-sim");
    assert_eq!(resp.tlvs.sc_interface_version(), Some(0x34));
    assert!(matches!(
        &events(&mut s)[..],
        [SmscEvent::Bound {
            mode: BindMode::Transceiver,
            ..
        }]
    ));
    assert_eq!(s.state(), SessionState::Bound);
}

#[test]
fn wrong_password_is_refused_and_a_retry_may_succeed() {
    let (mut s, t0) = session(BindPolicy::Credentials {
        system_id: "esme".into(),
        password: "pw".into(),
    });
    feed(&mut s, t0, bind(BindMode::Transmitter, 1, "bad"));
    let out = sent(&mut s);
    assert_eq!(out[0].command_status, CommandStatus::ESME_RINVPASWD);
    assert_eq!(
        events(&mut s),
        [SmscEvent::BindRejected {
            mode: BindMode::Transmitter,
            status: CommandStatus::ESME_RINVPASWD
        }]
    );
    feed(&mut s, t0, bind(BindMode::Transmitter, 2, "pw"));
    assert_eq!(sent(&mut s)[0].command_status, CommandStatus::ESME_ROK);
    assert_eq!(s.bind_mode(), Some(BindMode::Transmitter));
}

#[test]
fn manual_bind_waits_for_the_owner() {
    let (mut s, t0) = session(BindPolicy::Manual);
    assert_eq!(s.accept_bind(t0), Err(AnswerError::NoBindPending));
    feed(&mut s, t0, bind(BindMode::Receiver, 1, "pw"));
    assert!(sent(&mut s).is_empty());
    assert!(matches!(
        &events(&mut s)[..],
        [SmscEvent::BindRequested {
            mode: BindMode::Receiver,
            ..
        }]
    ));
    s.accept_bind(t0).expect("pending");
    assert_eq!(sent(&mut s)[0].sequence_number, 1);
    assert_eq!(s.bind_mode(), Some(BindMode::Receiver));
}

#[test]
fn second_bind_is_already_bound() {
    let (mut s, t0) = session(BindPolicy::AcceptAll);
    feed(&mut s, t0, bind(BindMode::Transceiver, 1, "x"));
    sent(&mut s);
    feed(&mut s, t0, bind(BindMode::Transceiver, 2, "x"));
    assert_eq!(sent(&mut s)[0].command_status, CommandStatus::ESME_RALYBND);
}

#[test]
fn submit_before_bind_is_invbndsts() {
    let (mut s, t0) = session(BindPolicy::AcceptAll);
    feed(
        &mut s,
        t0,
        Pdu::new(5, PduBody::SubmitSm(Default::default())),
    );
    let out = sent(&mut s);
    assert_eq!(out[0].command_status, CommandStatus::ESME_RINVBNDSTS);
    assert_eq!(out[0].command_id(), crate::pdu::CommandId::SUBMIT_SM_RESP);
}

#[test]
fn answers_are_checked() {
    let (mut s, t0) = session(BindPolicy::AcceptAll);
    feed(&mut s, t0, bind(BindMode::Transceiver, 1, "x"));
    sent(&mut s);
    feed(
        &mut s,
        t0,
        Pdu::new(2, PduBody::SubmitSm(Default::default())),
    );
    assert_eq!(
        s.accept(99, "id"),
        Err(AnswerError::UnknownSequence { seq: 99 })
    );
    assert!(matches!(
        s.accept(2, "x".repeat(65)),
        Err(AnswerError::Invalid(_))
    ));
    assert_eq!(
        s.pending_requests(),
        1,
        "still pending after an invalid answer"
    );
    s.reject(2, CommandStatus::ESME_RTHROTTLED)
        .expect("pending");
    let out = sent(&mut s);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].command_status, CommandStatus::ESME_RTHROTTLED);
    assert_eq!(
        s.reject(2, CommandStatus::ESME_RSYSERR),
        Err(AnswerError::UnknownSequence { seq: 2 })
    );
}

#[test]
fn deliver_needs_a_receiving_bind() {
    let (mut s, t0) = session(BindPolicy::AcceptAll);
    assert_eq!(
        s.send_deliver_sm(t0, &DeliverSm::default()),
        Err(DeliverRefused::NotBound)
    );
    feed(&mut s, t0, bind(BindMode::Transmitter, 1, "x"));
    assert_eq!(
        s.send_deliver_sm(t0, &DeliverSm::default()),
        Err(DeliverRefused::NotBound)
    );
}

#[test]
fn deliver_timeout() {
    let (mut s, t0) = session(BindPolicy::AcceptAll);
    feed(&mut s, t0, bind(BindMode::Receiver, 1, "x"));
    events(&mut s);
    let seq = s.send_deliver_sm(t0, &DeliverSm::default()).expect("bound");
    s.handle_timeout(t0 + Duration::from_secs(30));
    assert_eq!(events(&mut s), [SmscEvent::DeliverTimedOut { seq }]);
    assert_eq!(s.deliveries_in_flight(), 0);
}

#[test]
fn never_bound_connection_times_out() {
    let (mut s, t0) = session(BindPolicy::AcceptAll);
    s.handle_timeout(t0 + Duration::from_secs(30));
    assert_eq!(
        events(&mut s),
        [SmscEvent::Closed {
            reason: CloseReason::BindTimedOut
        }]
    );
}

#[test]
fn esme_only_commands_get_invcmdid() {
    let (mut s, t0) = session(BindPolicy::AcceptAll);
    feed(&mut s, t0, bind(BindMode::Transceiver, 1, "x"));
    sent(&mut s);
    feed(
        &mut s,
        t0,
        Pdu::new(7, PduBody::DeliverSm(Default::default())),
    );
    assert_eq!(
        sent(&mut s),
        [Pdu::generic_nack(7, CommandStatus::ESME_RINVCMDID)]
    );
}

#[test]
fn overlong_system_id_is_refused_up_front() {
    let config = SmscConfig {
        system_id: "a-system-id-longer-than-15".into(),
        ..SmscConfig::default()
    };
    assert!(SmscSession::new(config, Instant::now()).is_err());
}
