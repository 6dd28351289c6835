//! Receipts and mobile-originated messages from the SMSC.

use bytes::Bytes;
use cascade_smpp::pdu::consts::{ESM_CLASS_DELIVERY_RECEIPT, TON_ALPHANUMERIC};
use cascade_smpp::pdu::{BindMode, DeliverSm, PduBody, SubmitSm, Tlv, TlvList};
use cascade_smpp::receipt::ids_match;
use cascade_smpp::{
    DeliverRefused, EsmeConfig, EsmeEvent, MessageIdForm, ReceiptState, SmscConfig, SmscEvent,
};

use crate::harness::{Pair, Reply, esme_config};

fn receipt(text: &'static [u8], tlvs: TlvList) -> DeliverSm {
    DeliverSm {
        source_addr: "306912345678".into(),
        dest_addr_ton: TON_ALPHANUMERIC,
        destination_addr: "Cascade".into(),
        esm_class: ESM_CLASS_DELIVERY_RECEIPT,
        short_message: Bytes::from_static(text),
        tlvs,
        ..DeliverSm::default()
    }
}

#[test]
fn receipt_in_decimal_matches_hex_submit_id() {
    let mut pair = Pair::bound();
    let seq = pair
        .esme
        .submit(pair.now, &SubmitSm::default())
        .expect("bound");
    pair.drive();
    let events = pair.take_esme_events();
    let [
        EsmeEvent::Submitted {
            seq: s,
            ref message_id,
        },
    ] = events[..]
    else {
        panic!("expected Submitted, got {events:?}");
    };
    assert_eq!((s, message_id.to_str()), (seq, Some("1A2B")));

    // The SMSC reports on the message in decimal (0x1A2B = 6699).
    let text = b"id:6699 sub:001 dlvrd:001 submit date:2501031415 done date:2501031416 stat:DELIVRD err:000 text:hello";
    let dseq = pair
        .smsc
        .send_deliver_sm(pair.now, &receipt(text, TlvList::new()))
        .expect("transceiver");
    pair.drive();

    assert!(
        pair.esme_sent.iter().any(|p| p.sequence_number == dseq
            && matches!(p.body, PduBody::DeliverSmResp(_))
            && p.command_status.is_ok()),
        "deliver_sm answered with ESME_ROK"
    );
    assert_eq!(
        pair.take_smsc_events(),
        [
            SmscEvent::SubmitReceived {
                seq,
                submit: SubmitSm::default()
            },
            SmscEvent::DeliverAcked { seq: dseq }
        ]
    );

    let events = pair.take_esme_events();
    let [
        EsmeEvent::Receipt {
            ref receipt,
            ref message,
        },
    ] = events[..]
    else {
        panic!("expected Receipt, got {events:?}");
    };
    assert_eq!(message.seq(), dseq);
    assert_eq!(receipt.state, Some(ReceiptState::Delivered));
    let id = receipt.message_id.as_deref().expect("id in text");
    assert!(ids_match("1A2B", id, MessageIdForm::Auto));
    assert!(ids_match("1A2B", id, MessageIdForm::HexSubmitDecReceipt));
    assert!(!ids_match("1A2B", id, MessageIdForm::Same));
}

#[test]
fn tlv_only_receipt() {
    let mut pair = Pair::bound();
    let tlvs = TlvList::new()
        .with(Tlv::receipted_message_id(&"1A2B".into()))
        .with(Tlv::message_state(
            ReceiptState::Undeliverable.message_state(),
        ));
    pair.smsc
        .send_deliver_sm(pair.now, &receipt(b"", tlvs))
        .expect("transceiver");
    pair.drive();
    let events = pair.take_esme_events();
    let [EsmeEvent::Receipt { ref receipt, .. }] = events[..] else {
        panic!("expected Receipt, got {events:?}");
    };
    assert_eq!(receipt.message_id.as_deref(), Some("1A2B"));
    assert_eq!(receipt.state, Some(ReceiptState::Undeliverable));
}

#[test]
fn unparsable_receipt_is_still_answered_and_reported() {
    let mut pair = Pair::bound();
    pair.smsc
        .send_deliver_sm(pair.now, &receipt(b"garbage", TlvList::new()))
        .expect("transceiver");
    pair.drive();
    let events = pair.take_esme_events();
    let [EsmeEvent::Receipt { ref receipt, .. }] = events[..] else {
        panic!("expected Receipt, got {events:?}");
    };
    assert_eq!(receipt.message_id, None);
    assert!(matches!(
        pair.take_smsc_events()[..],
        [SmscEvent::DeliverAcked { .. }]
    ));
}

#[test]
fn mobile_originated_is_answered_and_reported() {
    let mut pair = Pair::bound();
    let mo = DeliverSm {
        source_addr: "306912345678".into(),
        destination_addr: "12345".into(),
        short_message: Bytes::from_static(b"STOP"),
        ..DeliverSm::default()
    };
    pair.smsc
        .send_deliver_sm(pair.now, &mo)
        .expect("transceiver");
    pair.drive();
    let events = pair.take_esme_events();
    let [EsmeEvent::MobileOriginated { ref message }] = events[..] else {
        panic!("expected MO, got {events:?}");
    };
    assert_eq!(message.message(), b"STOP");
    assert!(matches!(
        pair.take_smsc_events()[..],
        [SmscEvent::DeliverAcked { .. }]
    ));
}

#[test]
fn many_receipts_fill_the_smsc_window_and_drain() {
    let mut pair = Pair::bound();
    for _ in 0..10 {
        pair.smsc
            .send_deliver_sm(pair.now, &receipt(b"id:1 stat:DELIVRD", TlvList::new()))
            .expect("room");
    }
    assert_eq!(
        pair.smsc
            .send_deliver_sm(pair.now, &receipt(b"id:1 stat:DELIVRD", TlvList::new())),
        Err(DeliverRefused::WindowFull)
    );
    pair.drive();
    assert_eq!(pair.smsc.deliveries_in_flight(), 0);
    let receipts = pair
        .take_esme_events()
        .into_iter()
        .filter(|e| matches!(e, EsmeEvent::Receipt { .. }))
        .count();
    assert_eq!(receipts, 10);
}

#[test]
fn receiver_bind_gets_receipts_transmitter_bind_does_not() {
    let receiver = EsmeConfig {
        bind_mode: BindMode::Receiver,
        ..esme_config()
    };
    let mut pair = Pair::new(receiver, SmscConfig::default());
    pair.drive();
    pair.smsc
        .send_deliver_sm(pair.now, &receipt(b"id:7 stat:EXPIRED", TlvList::new()))
        .expect("receiver bind");
    pair.drive();
    assert!(
        pair.take_esme_events()
            .iter()
            .any(|e| matches!(e, EsmeEvent::Receipt { receipt, .. } if receipt.state == Some(ReceiptState::Expired)))
    );

    let transmitter = EsmeConfig {
        bind_mode: BindMode::Transmitter,
        ..esme_config()
    };
    let mut pair = Pair::new(transmitter, SmscConfig::default());
    pair.drive();
    assert_eq!(
        pair.smsc.send_deliver_sm(pair.now, &DeliverSm::default()),
        Err(DeliverRefused::NotBound)
    );
}

#[test]
fn receipt_may_overtake_the_submit_response() {
    let mut pair = Pair::bound();
    pair.script.push_back(Reply::Hold);
    let seq = pair
        .esme
        .submit(pair.now, &SubmitSm::default())
        .expect("bound");
    pair.drive();
    // The SMSC delivers and reports before answering the submit.
    pair.smsc
        .send_deliver_sm(pair.now, &receipt(b"id:77 stat:DELIVRD", TlvList::new()))
        .expect("transceiver");
    pair.drive();
    let held = pair.held[0];
    pair.smsc.accept(held, "77").expect("pending");
    pair.drive();
    let events = pair.take_esme_events();
    assert!(
        matches!(&events[..], [
            EsmeEvent::Receipt { receipt, .. },
            EsmeEvent::Submitted { seq: s, message_id },
        ] if receipt.message_id.as_deref() == Some("77") && *s == seq && message_id == "77"),
        "the connector sees the receipt first and must hold it: {events:?}"
    );
}
