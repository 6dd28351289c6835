//! Unbinding in both directions.

use cascade_smpp::pdu::{PduBody, SubmitSm};
use cascade_smpp::{CloseReason, EsmeEvent, SessionState, SmscEvent, SubmitRefused};

use crate::SECOND;
use crate::harness::{Pair, Reply};

#[test]
fn esme_unbinds() {
    let mut pair = Pair::bound();
    pair.esme.unbind(pair.now);
    assert_eq!(pair.esme.state(), SessionState::Unbinding);
    assert_eq!(
        pair.esme.submit(pair.now, &SubmitSm::default()),
        Err(SubmitRefused::Closing)
    );
    pair.drive();
    assert_eq!(
        pair.take_esme_events(),
        [
            EsmeEvent::Unbound,
            EsmeEvent::Closed {
                reason: CloseReason::Unbound
            }
        ]
    );
    assert_eq!(
        pair.take_smsc_events(),
        [
            SmscEvent::PeerUnbound,
            SmscEvent::Closed {
                reason: CloseReason::PeerUnbound
            }
        ]
    );
    assert!(matches!(
        pair.smsc_sent.last().map(|p| &p.body),
        Some(PduBody::UnbindResp)
    ));
    assert_eq!(pair.esme.poll_timeout(), None);
    assert_eq!(pair.smsc.poll_timeout(), None);
}

#[test]
fn smsc_unbinds() {
    let mut pair = Pair::bound();
    pair.smsc.unbind(pair.now);
    pair.drive();
    assert_eq!(
        pair.take_esme_events(),
        [
            EsmeEvent::PeerUnbound,
            EsmeEvent::Closed {
                reason: CloseReason::PeerUnbound
            }
        ]
    );
    assert_eq!(
        pair.take_smsc_events(),
        [
            SmscEvent::Unbound,
            SmscEvent::Closed {
                reason: CloseReason::Unbound
            }
        ]
    );
}

#[test]
fn responses_in_flight_still_arrive_while_unbinding() {
    let mut pair = Pair::bound();
    pair.script.push_back(Reply::Hold);
    let seq = pair
        .esme
        .submit(pair.now, &SubmitSm::default())
        .expect("bound");
    pair.drive();
    pair.esme.unbind(pair.now);
    let held = pair.held[0];
    pair.smsc.accept(held, "99").expect("pending");
    pair.drive();
    let events = pair.take_esme_events();
    assert_eq!(
        events,
        [
            EsmeEvent::Submitted {
                seq,
                message_id: "99".into()
            },
            EsmeEvent::Unbound,
            EsmeEvent::Closed {
                reason: CloseReason::Unbound
            }
        ]
    );
}

#[test]
fn unbind_without_answer_times_out() {
    let mut pair = Pair::bound();
    pair.drop_to_esme = true;
    pair.esme.unbind(pair.now);
    pair.advance(5 * SECOND);
    assert_eq!(
        pair.take_esme_events(),
        [EsmeEvent::Closed {
            reason: CloseReason::UnbindTimedOut
        }]
    );
}
