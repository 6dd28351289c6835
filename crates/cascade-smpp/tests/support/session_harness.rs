// Arbitrary peer input into both sessions; shared by the cargo-fuzz `session` target and
// the proptest suite (`tests/session_props.rs`) via `include!`.

/// Feeds `data` (cut into chunks whose sizes and time steps come from the data itself) to a
/// bound `EsmeSession` and to a fresh `SmscSession`, submitting and answering along the way.
///
/// Panics on: any panic inside a session, a transmitted frame that is not exactly one valid
/// PDU, an event after `Closed`, a second `Closed`, a timer still armed after `Closed`.
pub fn check_sessions(data: &[u8]) {
    use cascade_smpp::pdu::{BindResp, DeliverSm, SubmitSm};
    use cascade_smpp::{
        EsmeConfig, EsmeEvent, EsmeSession, Pdu, PduBody, SessionState, SmscConfig, SmscEvent,
        SmscSession,
    };
    use std::time::{Duration, Instant};

    fn one_pdu(frame: &[u8]) {
        let mut buf = bytes::BytesMut::from(frame);
        let pdu = cascade_smpp::decode(&mut buf, usize::MAX);
        assert!(matches!(pdu, Ok(Some(_))), "frame is a PDU: {pdu:?}");
        assert!(buf.is_empty(), "frame is exactly one PDU");
    }

    let t0 = Instant::now();
    let config = EsmeConfig {
        system_id: "fuzz".into(),
        ..EsmeConfig::default()
    };
    let mut esme = EsmeSession::new(config, t0).expect("valid config");
    let bound = Pdu::new(1, PduBody::BindTransceiverResp(BindResp::default()));
    let bound = cascade_smpp::codec::encode_to_bytes(&bound).expect("valid");
    esme.handle_bytes(t0, &bound);
    let mut smsc = SmscSession::new(SmscConfig::default(), t0).expect("valid config");

    let mut now = t0;
    let mut esme_closed = false;
    let mut smsc_closed = false;
    let mut rest = data;
    while let Some((&control, tail)) = rest.split_first() {
        let len = usize::from(control & 0x3F).min(tail.len());
        let (chunk, tail) = tail.split_at(len);
        rest = tail;
        now += Duration::from_millis(u64::from(control >> 6) * 7_000);

        esme.handle_bytes(now, chunk);
        smsc.handle_bytes(now, chunk);
        esme.handle_timeout(now);
        smsc.handle_timeout(now);
        if control & 0x01 == 1 {
            let _ = esme.submit(now, &SubmitSm::default());
            let _ = smsc.send_deliver_sm(now, &DeliverSm::default());
        }
        if control == 0xFF {
            esme.unbind(now);
            smsc.unbind(now);
        }

        while let Some(frame) = esme.poll_transmit() {
            one_pdu(&frame);
        }
        while let Some(frame) = smsc.poll_transmit() {
            one_pdu(&frame);
        }
        while let Some(event) = esme.poll_event() {
            assert!(!esme_closed, "ESME event after Closed: {event:?}");
            esme_closed = matches!(event, EsmeEvent::Closed { .. });
        }
        let mut to_accept = Vec::new();
        while let Some(event) = smsc.poll_event() {
            assert!(!smsc_closed, "SMSC event after Closed: {event:?}");
            smsc_closed = matches!(event, SmscEvent::Closed { .. });
            if let SmscEvent::SubmitReceived { seq, .. } = event {
                to_accept.push(seq);
            }
        }
        for seq in to_accept {
            let answered = smsc.accept(seq, "ID");
            // A submit followed by an unbind in the same chunk: the close dropped it.
            if smsc.state() != SessionState::Closed {
                answered.expect("pending submit");
            }
        }
        if esme.state() == SessionState::Closed {
            assert!(esme_closed, "Closed state without Closed event");
            assert_eq!(esme.poll_timeout(), None, "no timers after Closed");
        }
        if smsc.state() == SessionState::Closed {
            assert!(smsc_closed, "Closed state without Closed event");
            assert_eq!(smsc.poll_timeout(), None, "no timers after Closed");
        }
    }
}
