//! The submit window, response timeouts, throttling and the throughput cap.

use std::num::NonZeroU32;
use std::time::Duration;

use bytes::Bytes;
use cascade_smpp::pdu::SubmitSm;
use cascade_smpp::{
    CloseReason, CommandStatus, EsmeConfig, EsmeEvent, SmscConfig, SubmitRefused, ThroughputLimit,
};

use crate::SECOND;
use crate::harness::{Pair, Reply, esme_config};

fn sm(n: u32) -> SubmitSm {
    SubmitSm {
        source_addr: "Cascade".into(),
        destination_addr: "306912345678".into(),
        short_message: Bytes::from(format!("message {n}")),
        ..SubmitSm::default()
    }
}

#[test]
fn window_fills_at_ten_and_responses_free_slots() {
    let mut pair = Pair::bound();
    pair.script.extend([Reply::Hold; 10]);
    let mut seqs = Vec::new();
    for n in 0..10 {
        seqs.push(
            pair.esme
                .submit(pair.now, &sm(n))
                .expect("room in the window"),
        );
    }
    assert_eq!(
        pair.esme.submit(pair.now, &sm(10)),
        Err(SubmitRefused::WindowFull)
    );
    pair.drive();
    assert_eq!(pair.held.len(), 10, "the SMSC got all ten");
    assert_eq!(pair.esme.in_flight(), 10);
    assert_eq!(
        pair.esme.submit(pair.now, &sm(10)),
        Err(SubmitRefused::WindowFull)
    );

    // Answer two: two slots free up, in the order answered.
    let held = pair.held.clone();
    pair.smsc.accept(held[3], "ABC").expect("pending");
    pair.smsc
        .reject(held[0], CommandStatus::ESME_RINVDSTADR)
        .expect("pending");
    pair.drive();
    assert_eq!(
        pair.take_esme_events(),
        [
            EsmeEvent::Submitted {
                seq: seqs[3],
                message_id: "ABC".into()
            },
            EsmeEvent::SubmitRejected {
                seq: seqs[0],
                status: CommandStatus::ESME_RINVDSTADR
            },
        ]
    );
    assert_eq!(pair.esme.in_flight(), 8);
    pair.esme.submit(pair.now, &sm(11)).expect("slot freed");
    pair.esme.submit(pair.now, &sm(12)).expect("slot freed");
    assert_eq!(
        pair.esme.submit(pair.now, &sm(13)),
        Err(SubmitRefused::WindowFull)
    );
}

#[test]
fn accepted_submits_carry_the_smsc_message_id() {
    let mut pair = Pair::bound();
    let seq = pair.esme.submit(pair.now, &sm(0)).expect("bound");
    pair.drive();
    assert_eq!(
        pair.take_esme_events(),
        [EsmeEvent::Submitted {
            seq,
            message_id: "1A2B".into()
        }]
    );
}

#[test]
fn unanswered_submit_times_out_and_frees_its_slot() {
    let mut pair = Pair::bound();
    pair.script.push_back(Reply::Hold);
    let seq = pair.esme.submit(pair.now, &sm(0)).expect("bound");
    pair.advance(29 * SECOND);
    assert!(pair.take_esme_events().is_empty());
    pair.advance(SECOND);
    assert_eq!(pair.take_esme_events(), [EsmeEvent::SubmitTimedOut { seq }]);
    assert_eq!(pair.esme.in_flight(), 0);
    // The late answer is still reported, with its message id.
    let held = pair.held[0];
    pair.smsc
        .accept(held, "LATE")
        .expect("SMSC still has it pending");
    pair.drive();
    let events = pair.take_esme_events();
    assert!(
        matches!(&events[..], [EsmeEvent::UnexpectedResponse { pdu }] if pdu.sequence_number == seq),
        "{events:?}"
    );
}

#[test]
fn throttled_then_paused_then_success() {
    let mut pair = Pair::bound();
    pair.script
        .push_back(Reply::Reject(CommandStatus::ESME_RTHROTTLED));
    let first = pair.esme.submit(pair.now, &sm(0)).expect("bound");
    pair.drive();
    let events = pair.take_esme_events();
    let [EsmeEvent::Throttled { seq, status, until }] = events[..] else {
        panic!("expected Throttled, got {events:?}");
    };
    assert_eq!((seq, status), (first, CommandStatus::ESME_RTHROTTLED));
    assert_eq!(
        until,
        pair.now + SECOND,
        "back-off counted from the response"
    );

    // Meanwhile submits are refused without touching the wire.
    let sent_before = pair.esme_sent.len();
    assert_eq!(
        pair.esme.submit(pair.now, &sm(0)),
        Err(SubmitRefused::Paused { until })
    );
    assert_eq!(pair.esme_sent.len(), sent_before);

    pair.advance(until - pair.now);
    assert_eq!(pair.take_esme_events(), [EsmeEvent::Resumed]);
    let retry = pair.esme.submit(pair.now, &sm(0)).expect("pause over");
    pair.drive();
    assert_eq!(
        pair.take_esme_events(),
        [EsmeEvent::Submitted {
            seq: retry,
            message_id: "1A2B".into()
        }]
    );
}

#[test]
fn message_queue_full_also_pauses() {
    let mut pair = Pair::bound();
    pair.script
        .push_back(Reply::Reject(CommandStatus::ESME_RMSGQFUL));
    pair.esme.submit(pair.now, &sm(0)).expect("bound");
    pair.drive();
    assert!(matches!(
        pair.take_esme_events()[..],
        [EsmeEvent::Throttled {
            status: CommandStatus::ESME_RMSGQFUL,
            ..
        }]
    ));
    assert!(matches!(
        pair.esme.submit(pair.now, &sm(1)),
        Err(SubmitRefused::Paused { .. })
    ));
}

#[test]
fn throughput_cap_holds_over_virtual_seconds() {
    let config = EsmeConfig {
        throughput: Some(ThroughputLimit::per_second(
            NonZeroU32::new(50).expect("50"),
        )),
        ..esme_config()
    };
    let mut pair = Pair::new(config, SmscConfig::default());
    pair.drive();
    let start = pair.now;
    let mut sent = 0;
    while pair.now < start + 2 * SECOND {
        match pair.esme.submit(pair.now, &sm(sent)) {
            Ok(_) => sent += 1,
            Err(SubmitRefused::Paused { until }) => pair.advance(until - pair.now),
            Err(SubmitRefused::WindowFull) => pair.advance(Duration::from_millis(1)),
            Err(other) => panic!("unexpected refusal {other:?}"),
        }
    }
    assert_eq!(sent, 100, "50 per second for two seconds");
    pair.drive();
    let submitted = pair
        .take_esme_events()
        .iter()
        .filter(|e| matches!(e, EsmeEvent::Submitted { .. }))
        .count();
    assert_eq!(submitted, 100);
}

#[test]
fn connection_drop_mid_window_aborts_every_submit() {
    let mut pair = Pair::bound();
    pair.script
        .extend([Reply::Accept, Reply::Hold, Reply::Hold]);
    let seqs: Vec<u32> = (0..3)
        .map(|n| pair.esme.submit(pair.now, &sm(n)).expect("bound"))
        .collect();
    pair.drive();
    pair.esme.handle_disconnect(pair.now);
    assert_eq!(
        pair.take_esme_events(),
        [
            EsmeEvent::Submitted {
                seq: seqs[0],
                message_id: "1A2B".into()
            },
            EsmeEvent::SubmitAborted { seq: seqs[1] },
            EsmeEvent::SubmitAborted { seq: seqs[2] },
            EsmeEvent::Closed {
                reason: CloseReason::Disconnected
            },
        ]
    );
}

#[test]
fn dropped_submit_times_out() {
    let mut pair = Pair::bound();
    pair.drop_to_smsc = true;
    let seq = pair.esme.submit(pair.now, &sm(0)).expect("bound");
    pair.flush();
    pair.drop_to_smsc = false;
    pair.advance(30 * SECOND);
    let events = pair.take_esme_events();
    assert!(
        events.contains(&EsmeEvent::SubmitTimedOut { seq }),
        "{events:?}"
    );
    assert!(pair.take_smsc_events().is_empty(), "the SMSC never saw it");
}
