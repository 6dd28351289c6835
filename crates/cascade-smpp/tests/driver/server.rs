//! The server side on its own terms: bind modes, unbinding a connection, answers to gone
//! connections, ESMEs that never bind.

use bytes::Bytes;
use cascade_smpp::driver::{ClientEvent, DeliverOutcome, ServerError, ServerEvent, SubmitError};
use cascade_smpp::pdu::{BindMode, DeliverSm};
use cascade_smpp::{CloseReason, DeliverRefused, EsmeConfig, SmscConfig};
use tokio::io::AsyncReadExt;

use crate::harness::{Smsc, bound, bound_default, esme_config, ms, sm, smsc_config, within};

fn mo() -> DeliverSm {
    DeliverSm {
        source_addr: "306912345678".into(),
        destination_addr: "54321".into(),
        short_message: Bytes::from_static(b"hi"),
        ..DeliverSm::default()
    }
}

#[tokio::test]
async fn a_receiver_bind_takes_deliveries_but_cannot_submit() {
    let config = EsmeConfig {
        bind_mode: BindMode::Receiver,
        ..esme_config()
    };
    let (smsc, mut esme, conn) = bound(config, smsc_config()).await;
    assert_eq!(
        smsc.server.connections(),
        [(conn, Some(BindMode::Receiver))]
    );
    assert_eq!(smsc.server.bound_receivers(), [conn]);
    assert_eq!(
        within("a submit", esme.client.submit(sm(1))).await,
        Err(SubmitError::NotBound)
    );
    let delivery = smsc.server.send_deliver_sm(conn, mo());
    assert!(matches!(
        esme.next().await,
        ClientEvent::MobileOriginated { .. }
    ));
    assert_eq!(
        within("the delivery", delivery).await,
        DeliverOutcome::Acked
    );
}

#[tokio::test]
async fn a_transmitter_bind_gets_no_deliveries() {
    let config = EsmeConfig {
        bind_mode: BindMode::Transmitter,
        ..esme_config()
    };
    let (mut smsc, esme, conn) = bound(config, smsc_config()).await;
    assert!(smsc.server.bound_receivers().is_empty());
    assert_eq!(
        within("the delivery", smsc.server.send_deliver_sm(conn, mo())).await,
        DeliverOutcome::Refused(DeliverRefused::NotBound)
    );
    let submission = esme.client.submit(sm(1));
    let (_, seq, _) = smsc.expect_submit().await;
    smsc.server.accept(conn, seq, "1").await.expect("pending");
    assert!(within("the submit", submission).await.is_ok());
}

#[tokio::test]
async fn the_server_unbinding_a_connection_makes_the_client_rebind() {
    let (mut smsc, mut esme, conn) = bound_default().await;
    smsc.server.unbind(conn).expect("open");
    assert_eq!(smsc.expect_disconnected(conn).await, CloseReason::Unbound);
    match esme.next().await {
        ClientEvent::Disconnected {
            reason, retry_in, ..
        } => {
            assert_eq!(reason, CloseReason::PeerUnbound);
            assert_eq!(retry_in, Some(ms(50)));
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert_eq!(esme.expect_bound().await, 2);
    let conn2 = smsc.expect_bound().await;

    // The old connection is gone for every server call.
    let gone = ServerError::Gone { conn };
    assert_eq!(smsc.server.accept(conn, 1, "x").await, Err(gone.clone()));
    assert_eq!(smsc.server.unbind(conn), Err(gone.clone()));
    assert_eq!(smsc.server.disconnect(conn), Err(gone));
    assert_eq!(
        within("a delivery", smsc.server.send_deliver_sm(conn, mo())).await,
        DeliverOutcome::Gone
    );
    assert_eq!(smsc.server.bound_receivers(), [conn2]);
}

#[tokio::test]
async fn answering_an_unknown_sequence_number_is_an_error() {
    let (smsc, _esme, conn) = bound_default().await;
    let result = smsc.server.accept(conn, 4242, "x").await;
    assert!(
        matches!(result, Err(ServerError::Answer(_))),
        "got {result:?}"
    );
}

#[tokio::test]
async fn an_esme_that_never_binds_is_closed_after_bind_timeout() {
    let mut smsc = Smsc::start(SmscConfig {
        bind_timeout: ms(100),
        ..smsc_config()
    })
    .await;
    let mut socket = tokio::net::TcpStream::connect(smsc.server.local_addr())
        .await
        .expect("connect");
    let conn = match smsc.next().await {
        ServerEvent::Connected { conn, peer } => {
            assert_eq!(peer, socket.local_addr().expect("address"));
            conn
        }
        other => panic!("expected Connected, got {other:?}"),
    };
    assert_eq!(
        smsc.expect_disconnected(conn).await,
        CloseReason::BindTimedOut
    );
    let mut buf = [0u8; 64];
    let read = within("EOF", socket.read(&mut buf)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "got {read:?}");
    assert!(smsc.server.connections().is_empty());
}
