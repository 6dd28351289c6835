//! The client against a hand-driven SMSC, for answers the real server never gives:
//! unanswered unbinds, `generic_nack`, stray responses, alerts, malformed PDUs.

use cascade_smpp::driver::{
    ClientEvent, ClientOptions, ShutdownOutcome, SubmitError, SubmitOutcome,
};
use cascade_smpp::pdu::{AlertNotification, DataSmResp, PduBody, SubmitSmResp};
use cascade_smpp::{CloseReason, CommandStatus, EsmeConfig, Pdu};

use crate::harness::{Esme, RawConn, RawSmsc, client_options, esme_config, ms, sm, within};

async fn raw_bound(config: EsmeConfig, options: ClientOptions) -> (RawSmsc, RawConn, Esme) {
    let raw = RawSmsc::start().await;
    let mut esme = Esme::connect(raw.target(), config, options);
    let conn = raw.accept_bound().await;
    assert_eq!(esme.expect_bound().await, 1);
    (raw, conn, esme)
}

/// Reads the next PDU, which must be a `submit_sm`; returns its sequence number.
async fn expect_submit(conn: &mut RawConn) -> u32 {
    let pdu = conn.read_pdu().await.expect("a PDU");
    assert!(
        matches!(pdu.body, PduBody::SubmitSm(_)),
        "expected submit_sm, got {pdu:?}"
    );
    pdu.sequence_number
}

#[tokio::test]
async fn an_unanswered_unbind_times_out_and_still_stops() {
    let config = EsmeConfig {
        unbind_timeout: ms(100),
        ..esme_config()
    };
    let (_raw, mut conn, mut esme) = raw_bound(config, client_options()).await;
    let client = esme.client.clone();
    let shutdown = tokio::spawn(async move { client.shutdown().await });
    let unbind = conn.read_pdu().await.expect("the unbind");
    assert_eq!(unbind.body, PduBody::Unbind);
    assert_eq!(
        within("shutdown", shutdown).await.expect("no panic"),
        ShutdownOutcome::Closed {
            reason: CloseReason::UnbindTimedOut
        }
    );
    assert!(matches!(
        esme.next().await,
        ClientEvent::Disconnected {
            reason: CloseReason::UnbindTimedOut,
            retry_in: None,
            ..
        }
    ));
    assert!(matches!(esme.next().await, ClientEvent::Stopped { .. }));
    assert_eq!(
        conn.swallow_until_eof().await,
        [],
        "closed after the unbind"
    );
}

#[tokio::test]
async fn a_shutdown_that_outlasts_its_timeout_aborts_the_task() {
    let config = EsmeConfig {
        unbind_timeout: ms(2_000),
        ..esme_config()
    };
    let options = ClientOptions {
        shutdown_timeout: ms(100),
        ..client_options()
    };
    let (_raw, mut conn, mut esme) = raw_bound(config, options).await;
    let in_flight = esme.client.submit(sm(1));
    expect_submit(&mut conn).await;
    assert_eq!(
        within("shutdown", esme.client.shutdown()).await,
        ShutdownOutcome::TimedOut
    );
    assert_eq!(
        esme.client.state(),
        cascade_smpp::driver::BindState::Stopped
    );
    let result = within("the in-flight submit", in_flight).await;
    assert_eq!(result, Err(SubmitError::Aborted), "fate unknown");
    // The task is gone; its events end (without a `Stopped`: it was aborted).
    let mut rest = Vec::new();
    while let Some(event) = within("the end of the events", esme.events.recv()).await {
        rest.push(event);
    }
    assert!(
        rest.iter()
            .all(|e| !matches!(e, ClientEvent::Disconnected { .. })),
        "{rest:?}"
    );
    assert_eq!(
        within("submit after", esme.client.submit(sm(2))).await,
        Err(SubmitError::Closed)
    );
}

#[tokio::test]
async fn a_generic_nack_rejects_the_submit() {
    let (_raw, mut conn, esme) = raw_bound(esme_config(), client_options()).await;
    let submission = esme.client.submit(sm(1));
    let seq = expect_submit(&mut conn).await;
    conn.write_pdu(&Pdu::generic_nack(seq, CommandStatus::ESME_RINVCMDLEN))
        .await;
    assert_eq!(
        within("the submit", submission).await,
        Ok(SubmitOutcome::Rejected {
            status: CommandStatus::ESME_RINVCMDLEN
        })
    );
}

#[tokio::test]
async fn stray_responses_and_alerts_are_reported() {
    let (_raw, mut conn, mut esme) = raw_bound(esme_config(), client_options()).await;
    conn.write_pdu(&Pdu::new(
        77,
        PduBody::SubmitSmResp(SubmitSmResp::new("STRAY")),
    ))
    .await;
    match esme.next().await {
        ClientEvent::LateSubmitResponse {
            seq, message_id, ..
        } => {
            assert_eq!((seq.connection, seq.seq), (1, 77));
            assert_eq!(message_id, "STRAY");
        }
        other => panic!("expected LateSubmitResponse, got {other:?}"),
    }
    conn.write_pdu(&Pdu::new(78, PduBody::DataSmResp(DataSmResp::default())))
        .await;
    match esme.next().await {
        ClientEvent::UnexpectedResponse { connection, pdu } => {
            assert_eq!((connection, pdu.sequence_number), (1, 78));
        }
        other => panic!("expected UnexpectedResponse, got {other:?}"),
    }
    let alert = AlertNotification {
        source_addr: "306912345678".into(),
        esme_addr: "Cascade".into(),
        ..AlertNotification::default()
    };
    conn.write_pdu(&Pdu::new(79, PduBody::AlertNotification(alert.clone())))
        .await;
    match esme.next().await {
        ClientEvent::Alert {
            connection,
            alert: a,
        } => {
            assert_eq!((connection, a), (1, alert));
        }
        other => panic!("expected Alert, got {other:?}"),
    }
    assert_eq!(esme.client.stats().late_responses, 1);
}

#[tokio::test]
async fn a_malformed_request_is_nacked_and_the_bind_goes_on() {
    let (_raw, mut conn, mut esme) = raw_bound(esme_config(), client_options()).await;
    // A deliver_sm whose body ends inside its first C-string.
    let mut frame = Vec::new();
    frame.extend_from_slice(&18u32.to_be_bytes());
    frame.extend_from_slice(&0x0000_0005u32.to_be_bytes());
    frame.extend_from_slice(&0u32.to_be_bytes());
    frame.extend_from_slice(&90u32.to_be_bytes());
    frame.extend_from_slice(b"ab");
    conn.write_raw(&frame).await;
    assert!(matches!(
        esme.next().await,
        ClientEvent::ProtocolError { connection: 1, .. }
    ));
    let nack = conn.read_pdu().await.expect("a generic_nack");
    assert_eq!(nack.body, PduBody::GenericNack);
    assert_eq!(nack.sequence_number, 90);
    assert!(!nack.command_status.is_ok());

    let submission = esme.client.submit(sm(1));
    let seq = expect_submit(&mut conn).await;
    conn.write_pdu(&Pdu::new(
        seq,
        PduBody::SubmitSmResp(SubmitSmResp::new("OK")),
    ))
    .await;
    assert!(within("the submit", submission).await.is_ok());
}
