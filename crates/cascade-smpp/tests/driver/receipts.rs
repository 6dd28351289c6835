//! `deliver_sm` from the server: receipts, MO messages, automatic and manual acks.

use bytes::Bytes;
use cascade_smpp::driver::{AckError, ClientEvent, ConnSeq, DeliverOutcome, ServerEvent};
use cascade_smpp::pdu::consts::{ESM_CLASS_DELIVERY_RECEIPT, TON_ALPHANUMERIC};
use cascade_smpp::pdu::{DeliverSm, Tlv, TlvList};
use cascade_smpp::{CommandStatus, EsmeConfig, IncomingMessage, ReceiptState};

use crate::harness::{
    Esme, Smsc, bound, bound_default, esme_config, is_pending, sm, smsc_config, within,
};

const TEXT: &[u8] = b"id:6699 sub:001 dlvrd:001 submit date:2501031415 done date:2501031416 stat:DELIVRD err:000 text:hello";

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

fn manual() -> EsmeConfig {
    EsmeConfig {
        manual_deliver_ack: true,
        ..esme_config()
    }
}

/// The next event, which must be a `Receipt`.
async fn expect_receipt(
    esme: &mut Esme,
) -> (ConnSeq, cascade_smpp::DeliveryReceipt, IncomingMessage) {
    match esme.next().await {
        ClientEvent::Receipt {
            seq,
            receipt,
            message,
        } => (seq, receipt, message),
        other => panic!("expected Receipt, got {other:?}"),
    }
}

/// One submit round trip: everything the client read before it has been processed (and
/// everything it wrote before has reached the server).
async fn round_trip(smsc: &mut Smsc, esme: &Esme, n: u32) {
    let submission = esme.client.submit(sm(n));
    let (conn, seq, _) = smsc.expect_submit().await;
    smsc.server.accept(conn, seq, "RT").await.expect("pending");
    assert!(within("the round trip", submission).await.is_ok());
}

#[tokio::test]
async fn receipt_text_and_tlvs_become_a_receipt_event_and_are_acked() {
    let (smsc, mut esme, conn) = bound_default().await;
    let tlvs = TlvList::new()
        .with(Tlv::receipted_message_id(&"1A2B".into()))
        .with(Tlv::message_state(
            ReceiptState::Undeliverable.message_state(),
        ));
    let delivery = smsc.server.send_deliver_sm(conn, receipt(TEXT, tlvs));
    let (seq, receipt, message) = expect_receipt(&mut esme).await;
    assert_eq!(seq.connection, 1);
    assert_eq!(seq.seq, message.seq());
    // The TLVs win over the text; the rest comes from the text.
    assert_eq!(receipt.message_id.as_deref(), Some("1A2B"));
    assert_eq!(receipt.state, Some(ReceiptState::Undeliverable));
    assert_eq!(receipt.stat.as_deref(), Some("DELIVRD"));
    assert_eq!(receipt.text.as_deref(), Some("hello"));
    assert_eq!(message.source_addr(), "306912345678");
    assert_eq!(message.esm_class(), ESM_CLASS_DELIVERY_RECEIPT);
    assert_eq!(
        within("the delivery", delivery).await,
        DeliverOutcome::Acked
    );
    assert_eq!(esme.client.stats().receipts, 1);
    // Automatic mode: nothing waits for a manual ack.
    assert_eq!(
        esme.client.ack_incoming(seq, CommandStatus::ESME_ROK).await,
        Err(AckError::Unknown { seq })
    );
}

#[tokio::test]
async fn mobile_originated_message_is_reported_and_acked() {
    let (smsc, mut esme, conn) = bound_default().await;
    let mo = DeliverSm {
        source_addr: "306912345678".into(),
        destination_addr: "54321".into(),
        short_message: Bytes::from_static(b"STOP"),
        ..DeliverSm::default()
    };
    let delivery = smsc.server.send_deliver_sm(conn, mo);
    match esme.next().await {
        ClientEvent::MobileOriginated { seq, message } => {
            assert_eq!(seq.connection, 1);
            assert_eq!(message.message(), b"STOP");
            assert_eq!(message.destination_addr(), "54321");
        }
        other => panic!("expected MobileOriginated, got {other:?}"),
    }
    assert_eq!(
        within("the delivery", delivery).await,
        DeliverOutcome::Acked
    );
    assert_eq!(esme.client.stats().mobile_originated, 1);
}

#[tokio::test]
async fn manual_ack_holds_the_deliver_sm_resp_until_ack_incoming() {
    let (mut smsc, mut esme, conn) = bound(manual(), smsc_config()).await;
    let mut delivery = smsc
        .server
        .send_deliver_sm(conn, receipt(TEXT, TlvList::new()));
    let (seq, receipt, _) = expect_receipt(&mut esme).await;
    assert_eq!(receipt.message_id.as_deref(), Some("6699"));
    assert_eq!(receipt.state, Some(ReceiptState::Delivered));

    // The client has read the deliver_sm and a whole submit round trip after it: an
    // automatic answer would have reached the server before that submit did.
    round_trip(&mut smsc, &esme, 1).await;
    assert!(
        is_pending(&mut delivery).await,
        "answered before ack_incoming"
    );

    esme.client
        .ack_incoming(seq, CommandStatus::ESME_ROK)
        .await
        .expect("waiting for an ack");
    assert_eq!(
        within("the delivery", delivery).await,
        DeliverOutcome::Acked
    );
    assert_eq!(
        esme.client.ack_incoming(seq, CommandStatus::ESME_ROK).await,
        Err(AckError::Unknown { seq }),
        "a second answer"
    );
}

#[tokio::test]
async fn a_non_ok_manual_ack_reaches_the_server() {
    let (smsc, mut esme, conn) = bound(manual(), smsc_config()).await;
    let delivery = smsc
        .server
        .send_deliver_sm(conn, receipt(TEXT, TlvList::new()));
    let (seq, _, _) = expect_receipt(&mut esme).await;
    esme.client
        .ack_incoming(seq, CommandStatus::ESME_RX_T_APPN)
        .await
        .expect("waiting for an ack");
    assert_eq!(
        within("the delivery", delivery).await,
        DeliverOutcome::Rejected(CommandStatus::ESME_RX_T_APPN)
    );
}

#[tokio::test]
async fn an_ack_for_a_closed_connection_is_gone() {
    let (mut smsc, mut esme, conn) = bound(manual(), smsc_config()).await;
    let delivery = smsc
        .server
        .send_deliver_sm(conn, receipt(TEXT, TlvList::new()));
    let (seq, _, _) = expect_receipt(&mut esme).await;
    smsc.server.disconnect(conn).expect("open");
    assert_eq!(
        within("the delivery", delivery).await,
        DeliverOutcome::Aborted
    );
    assert!(matches!(
        esme.next().await,
        ClientEvent::Disconnected { connection: 1, .. }
    ));
    assert_eq!(
        esme.client.ack_incoming(seq, CommandStatus::ESME_ROK).await,
        Err(AckError::Gone { seq })
    );
    assert_eq!(esme.expect_bound().await, 2);
    assert_eq!(
        esme.client.ack_incoming(seq, CommandStatus::ESME_ROK).await,
        Err(AckError::Gone { seq }),
        "still gone once the next connection is bound"
    );
    assert!(matches!(
        smsc.next().await,
        ServerEvent::Disconnected { conn: c, .. } if c == conn
    ));
}

#[tokio::test]
async fn deliveries_beyond_the_server_window_wait_for_acks_in_order() {
    let smsc_cfg = cascade_smpp::SmscConfig {
        deliver_window: 2,
        ..smsc_config()
    };
    let (smsc, mut esme, conn) = bound(manual(), smsc_cfg).await;
    let texts: [&'static [u8]; 4] = [
        b"id:1 stat:DELIVRD",
        b"id:2 stat:DELIVRD",
        b"id:3 stat:DELIVRD",
        b"id:4 stat:DELIVRD",
    ];
    let deliveries: Vec<_> = texts
        .iter()
        .map(|text| {
            smsc.server
                .send_deliver_sm(conn, receipt(text, TlvList::new()))
        })
        .collect();
    // Two go out; the others wait for a slot.
    let mut unacked = std::collections::VecDeque::new();
    for id in ["1", "2"] {
        let (seq, receipt, _) = expect_receipt(&mut esme).await;
        assert_eq!(receipt.message_id.as_deref(), Some(id));
        unacked.push_back(seq);
    }
    esme.expect_quiet(crate::harness::ms(50)).await;
    // Each ack lets the next one through, in the order they were queued.
    for id in ["3", "4"] {
        let oldest = unacked.pop_front().expect("unacked");
        esme.client
            .ack_incoming(oldest, CommandStatus::ESME_ROK)
            .await
            .expect("waiting");
        let (seq, receipt, _) = expect_receipt(&mut esme).await;
        assert_eq!(receipt.message_id.as_deref(), Some(id));
        unacked.push_back(seq);
    }
    for seq in unacked {
        esme.client
            .ack_incoming(seq, CommandStatus::ESME_ROK)
            .await
            .expect("waiting");
    }
    for delivery in deliveries {
        assert_eq!(within("a delivery", delivery).await, DeliverOutcome::Acked);
    }
}

#[tokio::test]
async fn an_unacked_delivery_times_out_at_the_server() {
    let smsc_cfg = cascade_smpp::SmscConfig {
        response_timeout: crate::harness::ms(100),
        ..smsc_config()
    };
    let (smsc, mut esme, conn) = bound(manual(), smsc_cfg).await;
    let delivery = smsc
        .server
        .send_deliver_sm(conn, receipt(TEXT, TlvList::new()));
    let (seq, _, _) = expect_receipt(&mut esme).await;
    assert_eq!(
        within("the delivery", delivery).await,
        DeliverOutcome::TimedOut
    );
    // The client does not know; its late answer is still taken (and ignored by the server).
    esme.client
        .ack_incoming(seq, CommandStatus::ESME_ROK)
        .await
        .expect("still waiting on the client side");
    assert_eq!(smsc.server.bound_receivers(), [conn], "still bound");
}
