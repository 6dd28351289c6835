//! Ending things: client shutdown, dropped handles, server shutdown.

use cascade_smpp::driver::{
    AckError, BindState, ClientEvent, ConnSeq, ServerEvent, ShutdownOutcome, SubmitError,
    SubmitOptions,
};
use cascade_smpp::{BindPolicy, CloseReason, CommandStatus, SmscConfig};

use crate::harness::{
    Esme, Smsc, bound_default, client_options, esme_config, ms, sm, smsc_config, within,
};

#[tokio::test]
async fn shutdown_unbinds_and_stops() {
    let (mut smsc, mut esme, conn) = bound_default().await;
    let outcome = within("shutdown", esme.client.shutdown()).await;
    assert_eq!(outcome, ShutdownOutcome::Unbound);
    assert_eq!(esme.client.state(), BindState::Stopped);

    match esme.next().await {
        ClientEvent::Disconnected {
            connection,
            reason,
            retry_in,
            error,
        } => {
            assert_eq!(connection, 1);
            assert_eq!(reason, CloseReason::Unbound);
            assert_eq!(retry_in, None, "no reconnect");
            assert!(error.is_none(), "{error:?}");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(matches!(
        esme.next().await,
        ClientEvent::Stopped {
            outcome: ShutdownOutcome::Unbound
        }
    ));
    assert!(
        within("the end of the events", esme.events.recv())
            .await
            .is_none(),
        "Stopped is the last event"
    );
    assert_eq!(
        smsc.expect_disconnected(conn).await,
        CloseReason::PeerUnbound
    );

    // Everything after is refused, and shutting down again says the same.
    assert_eq!(
        within("a submit after shutdown", esme.client.submit(sm(1))).await,
        Err(SubmitError::Closed)
    );
    let seq = ConnSeq {
        connection: 1,
        seq: 1,
    };
    assert_eq!(
        esme.client.ack_incoming(seq, CommandStatus::ESME_ROK).await,
        Err(AckError::Closed)
    );
    let clone = esme.client.clone();
    assert_eq!(
        within("shutdown again", clone.shutdown()).await,
        ShutdownOutcome::Unbound
    );
    smsc.expect_quiet(ms(100)).await;
}

#[tokio::test]
async fn shutdown_fails_queued_submits_closed() {
    let config = cascade_smpp::EsmeConfig {
        window: 1,
        ..esme_config()
    };
    let (mut smsc, esme, conn) = crate::harness::bound(config, smsc_config()).await;
    let in_flight = esme.client.submit(sm(1));
    let (_, seq, _) = smsc.expect_submit().await;
    let queued = esme.client.submit(sm(2));
    crate::harness::eventually("the second to queue", || esme.client.stats().queued == 1).await;

    let client = esme.client.clone();
    let shutdown = tokio::spawn(async move { client.shutdown().await });
    assert_eq!(
        within("the queued submit", queued).await,
        Err(SubmitError::Closed),
        "never sent"
    );
    // The server unbinds on the ESME's unbind: the submit it never answered has an
    // unknown fate.
    assert_eq!(
        smsc.expect_disconnected(conn).await,
        CloseReason::PeerUnbound
    );
    assert!(smsc.server.accept(conn, seq, "too late").await.is_err());
    assert_eq!(
        within("the in-flight submit", in_flight).await,
        Err(SubmitError::Aborted)
    );
    assert_eq!(
        within("shutdown", shutdown).await.expect("no panic"),
        ShutdownOutcome::Unbound
    );
}

#[tokio::test]
async fn shutdown_before_the_bind_stops_without_unbinding() {
    let mut smsc = Smsc::start(SmscConfig {
        bind_policy: BindPolicy::Manual,
        ..smsc_config()
    })
    .await;
    let mut esme = Esme::connect(smsc.target(), esme_config(), client_options());
    assert!(matches!(smsc.next().await, ServerEvent::Connected { .. }));
    assert!(matches!(
        smsc.next().await,
        ServerEvent::BindRequested { .. }
    ));
    let patient = esme.client.submit_with(
        sm(1),
        SubmitOptions {
            wait_for_bind: true,
            ..SubmitOptions::default()
        },
    );
    assert_eq!(
        within("shutdown", esme.client.shutdown()).await,
        ShutdownOutcome::NotBound
    );
    assert_eq!(
        within("the waiting submit", patient).await,
        Err(SubmitError::Closed)
    );
    assert!(matches!(
        esme.next().await,
        ClientEvent::Disconnected {
            reason: CloseReason::Cancelled,
            retry_in: None,
            ..
        }
    ));
    assert!(matches!(
        esme.next().await,
        ClientEvent::Stopped {
            outcome: ShutdownOutcome::NotBound
        }
    ));
    assert!(matches!(
        smsc.next().await,
        ServerEvent::Disconnected {
            reason: CloseReason::Disconnected,
            ..
        }
    ));
}

#[tokio::test]
async fn dropping_every_handle_unbinds() {
    let (mut smsc, mut esme, conn) = bound_default().await;
    let clone = esme.client.clone();
    drop(esme.client);
    smsc.expect_quiet(ms(30)).await; // a clone still holds the client
    drop(clone);
    assert_eq!(
        smsc.expect_disconnected(conn).await,
        CloseReason::PeerUnbound
    );
    let mut last = None;
    while let Some(event) = within("the client to stop", esme.events.recv()).await {
        last = Some(event);
    }
    assert!(
        matches!(last, Some(ClientEvent::Stopped { .. })),
        "last event {last:?}"
    );
}

#[tokio::test]
async fn server_shutdown_unbinds_the_client_which_then_retries() {
    let (mut smsc, mut esme, conn) = bound_default().await;
    within("server shutdown", smsc.server.shutdown()).await;
    assert_eq!(smsc.expect_disconnected(conn).await, CloseReason::Unbound);
    match esme.next().await {
        ClientEvent::Disconnected {
            reason, retry_in, ..
        } => {
            assert_eq!(reason, CloseReason::PeerUnbound);
            assert_eq!(retry_in, Some(ms(50)), "the client keeps trying");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    // Nobody listens any more: the retries fail and back off.
    match esme.next().await {
        ClientEvent::ConnectFailed { retry_in, .. } => assert_eq!(retry_in, ms(100)),
        other => panic!("expected ConnectFailed, got {other:?}"),
    }
    assert_eq!(
        within("client shutdown", esme.client.shutdown()).await,
        ShutdownOutcome::NotBound
    );
}

#[tokio::test]
async fn dropping_the_server_unbinds_its_clients() {
    let (smsc, mut esme, _) = bound_default().await;
    let Smsc { server, events } = smsc;
    drop(server);
    drop(events);
    match esme.next().await {
        ClientEvent::Disconnected { reason, .. } => {
            assert_eq!(reason, CloseReason::PeerUnbound);
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

/// A submit handed over just before the shutdown must not be dropped unanswered (which
/// reads as `Aborted`, fate unknown): it never left, so it is `Closed`. The task picks
/// between the two at random, so try it many times.
#[tokio::test]
async fn a_submit_racing_the_shutdown_is_closed_not_aborted() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address")
    };
    let patient = SubmitOptions {
        wait_for_bind: true,
        ..SubmitOptions::default()
    };
    for _ in 0..32 {
        let mut esme = Esme::connect(
            crate::harness::target(addr),
            esme_config(),
            client_options(),
        );
        assert!(matches!(
            esme.next().await,
            ClientEvent::ConnectFailed { .. }
        ));
        let submission = esme.client.submit_with(sm(1), patient);
        let seq = ConnSeq {
            connection: 1,
            seq: 1,
        };
        let client = esme.client.clone();
        let ack =
            tokio::spawn(async move { client.ack_incoming(seq, CommandStatus::ESME_ROK).await });
        assert_eq!(
            within("shutdown", esme.client.shutdown()).await,
            ShutdownOutcome::NotBound
        );
        assert_eq!(
            within("the submit", submission).await,
            Err(SubmitError::Closed)
        );
        let ack = within("the ack", ack).await.expect("no panic");
        assert!(
            matches!(ack, Err(AckError::Gone { .. } | AckError::Closed)),
            "{ack:?}"
        );
    }
}
