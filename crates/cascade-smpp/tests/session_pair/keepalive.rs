//! enquire_link both ways, and link loss.

use std::time::Duration;

use cascade_smpp::pdu::PduBody;
use cascade_smpp::{CloseReason, EsmeConfig, EsmeEvent, SessionState, SmscConfig};

use crate::SECOND;
use crate::harness::{Pair, Reply, esme_config};

fn count(pdus: &[cascade_smpp::Pdu], f: impl Fn(&PduBody) -> bool) -> usize {
    pdus.iter().filter(|p| f(&p.body)).count()
}

fn quiet_smsc() -> SmscConfig {
    SmscConfig {
        enquire_link_interval: None,
        ..SmscConfig::default()
    }
}

#[test]
fn enquire_link_after_idle_is_answered() {
    let mut pair = Pair::new(esme_config(), quiet_smsc());
    pair.drive();
    pair.take_esme_events();
    pair.advance(29 * SECOND);
    assert_eq!(
        count(&pair.esme_sent, |b| matches!(b, PduBody::EnquireLink)),
        0
    );
    pair.advance(SECOND);
    assert_eq!(
        count(&pair.esme_sent, |b| matches!(b, PduBody::EnquireLink)),
        1
    );
    pair.drive();
    assert_eq!(
        count(&pair.smsc_sent, |b| matches!(b, PduBody::EnquireLinkResp)),
        1
    );
    // A quiet but healthy link stays up: one probe per idle interval, counted from the
    // last answer (30 s + 20 ms round trip), so nine more in the next 300 s.
    pair.advance(300 * SECOND);
    assert_eq!(pair.esme.state(), SessionState::Bound);
    assert!(pair.take_esme_events().is_empty());
    assert_eq!(
        count(&pair.esme_sent, |b| matches!(b, PduBody::EnquireLink)),
        10
    );
}

#[test]
fn traffic_postpones_enquire_link() {
    let mut pair = Pair::new(esme_config(), quiet_smsc());
    pair.drive();
    for _ in 0..10 {
        pair.advance(20 * SECOND);
        let sm = cascade_smpp::pdu::SubmitSm::default();
        pair.esme.submit(pair.now, &sm).expect("bound");
        pair.drive();
    }
    assert_eq!(
        count(&pair.esme_sent, |b| matches!(b, PduBody::EnquireLink)),
        0
    );
}

#[test]
fn link_lost_when_the_peer_stops_answering() {
    let mut pair = Pair::new(esme_config(), quiet_smsc());
    pair.drive();
    pair.take_esme_events();
    pair.script.push_back(Reply::Hold);
    let seq = pair
        .esme
        .submit(pair.now, &cascade_smpp::pdu::SubmitSm::default())
        .expect("bound");
    pair.drive();
    pair.drop_to_esme = true; // the SMSC goes silent
    pair.advance(30 * SECOND);
    let events = pair.take_esme_events();
    // The submit's own timeout (30 s after sending) comes first; the probe went out when
    // the link had been idle for 30 s.
    assert_eq!(events, [EsmeEvent::SubmitTimedOut { seq }]);
    assert_eq!(
        count(&pair.esme_sent, |b| matches!(b, PduBody::EnquireLink)),
        1
    );
    pair.advance(10 * SECOND);
    assert_eq!(
        pair.take_esme_events(),
        [
            EsmeEvent::LinkLost,
            EsmeEvent::Closed {
                reason: CloseReason::LinkLost
            }
        ]
    );
    assert_eq!(pair.esme.state(), SessionState::Closed);
    assert_eq!(pair.esme.poll_timeout(), None);
}

#[test]
fn link_lost_detection_time_is_configurable() {
    let config = EsmeConfig {
        enquire_link_interval: Some(5 * SECOND),
        enquire_link_timeout: 2 * SECOND,
        ..esme_config()
    };
    let mut pair = Pair::new(config, quiet_smsc());
    pair.drive();
    pair.take_esme_events();
    pair.drop_to_esme = true;
    pair.advance(5 * SECOND + 2 * SECOND - Duration::from_millis(1));
    assert!(pair.take_esme_events().is_empty());
    pair.advance(Duration::from_millis(1));
    assert_eq!(pair.take_esme_events()[0], EsmeEvent::LinkLost);
}

#[test]
fn smsc_probes_and_esme_answers() {
    let esme = EsmeConfig {
        enquire_link_interval: None,
        ..esme_config()
    };
    let smsc = SmscConfig {
        enquire_link_interval: Some(5 * SECOND),
        ..SmscConfig::default()
    };
    let mut pair = Pair::new(esme, smsc);
    pair.drive();
    pair.advance(5 * SECOND);
    pair.drive();
    assert_eq!(
        count(&pair.smsc_sent, |b| matches!(b, PduBody::EnquireLink)),
        1
    );
    assert_eq!(
        count(&pair.esme_sent, |b| matches!(b, PduBody::EnquireLinkResp)),
        1
    );
    assert_eq!(
        count(&pair.esme_sent, |b| matches!(b, PduBody::EnquireLink)),
        0
    );
}

#[test]
fn smsc_detects_a_silent_esme() {
    let smsc = SmscConfig {
        enquire_link_interval: Some(5 * SECOND),
        enquire_link_timeout: 5 * SECOND,
        ..SmscConfig::default()
    };
    let mut pair = Pair::new(esme_config(), smsc);
    pair.drive();
    pair.take_smsc_events();
    pair.drop_to_smsc = true;
    pair.advance(10 * SECOND);
    assert_eq!(
        pair.take_smsc_events(),
        [
            cascade_smpp::SmscEvent::LinkLost,
            cascade_smpp::SmscEvent::Closed {
                reason: CloseReason::LinkLost
            }
        ]
    );
}
