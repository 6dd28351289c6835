//! An `EsmeSession` against an `SmscSession`, in memory and virtual time (see `harness`).

mod harness;
mod keepalive;
mod receipts;
mod unbind;
mod window;

use std::time::Duration;

use cascade_smpp::pdu::{BindMode, PduBody};
use cascade_smpp::{EsmeConfig, EsmeEvent, SessionState, SmscConfig, SmscEvent};
use harness::{Pair, esme_config};

pub const SECOND: Duration = Duration::from_secs(1);

#[test]
fn bind_transceiver_reaches_bound_on_both_sides() {
    let mut pair = Pair::new(esme_config(), SmscConfig::default());
    pair.drive();
    assert_eq!(pair.esme.state(), SessionState::Bound);
    assert_eq!(pair.smsc.state(), SessionState::Bound);
    assert_eq!(
        pair.take_esme_events(),
        [EsmeEvent::Bound {
            system_id: "cascade-sim".into(),
            sc_interface_version: Some(0x34)
        }]
    );
    let smsc_events = pair.take_smsc_events();
    let [SmscEvent::Bound { mode, bind }] = &smsc_events[..] else {
        panic!("expected Bound, got {smsc_events:?}");
    };
    assert_eq!(*mode, BindMode::Transceiver);
    assert_eq!(bind.interface_version, 0x34);
    assert_eq!(bind.system_id, "cascade");
}

#[test]
fn transmitter_and_receiver_binds() {
    for mode in [BindMode::Transmitter, BindMode::Receiver] {
        let config = EsmeConfig {
            bind_mode: mode,
            ..esme_config()
        };
        let mut pair = Pair::new(config, SmscConfig::default());
        pair.drive();
        assert!(matches!(pair.esme_sent[0].body, ref b if b.command_id() == mode.command_id()));
        assert_eq!(pair.smsc.bind_mode(), Some(mode));
    }
}

#[test]
fn wrong_credentials_fail_the_bind() {
    let smsc = SmscConfig {
        bind_policy: cascade_smpp::BindPolicy::Credentials {
            system_id: "cascade".into(),
            password: "other".into(),
        },
        ..SmscConfig::default()
    };
    let mut pair = Pair::new(esme_config(), smsc);
    pair.drive();
    let status = cascade_smpp::CommandStatus::ESME_RINVPASWD;
    assert_eq!(
        pair.take_esme_events(),
        [
            EsmeEvent::BindFailed { status },
            EsmeEvent::Closed {
                reason: cascade_smpp::CloseReason::BindFailed(status)
            }
        ]
    );
}

#[test]
fn bind_without_answer_times_out() {
    let mut pair = Pair::new(esme_config(), SmscConfig::default());
    pair.drop_to_esme = true;
    pair.advance(10 * SECOND);
    assert_eq!(
        pair.take_esme_events(),
        [EsmeEvent::Closed {
            reason: cascade_smpp::CloseReason::BindTimedOut
        }]
    );
    assert!(
        pair.esme_sent
            .iter()
            .all(|p| !matches!(p.body, PduBody::Unbind))
    );
}
