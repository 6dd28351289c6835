//! Black-box tests of the tokio drivers: an `EsmeClient` against an `SmscServer` over real
//! loopback TCP (port 0), with short real timeouts. See `harness` for the helpers.

mod harness;
mod keepalive;
mod raw;
mod receipts;
mod reconnect;
mod server;
mod shutdown;
mod stats;
mod throttle;
mod timeouts;
mod tls;
mod window;

use bytes::Bytes;
use cascade_smpp::driver::{
    BindState, ClientEvent, ConfigError, EsmeClient, ServerEvent, SubmitError, SubmitOutcome,
};
use cascade_smpp::pdu::BindMode;
use cascade_smpp::{BindPolicy, CloseReason, CommandStatus, EsmeConfig};

use harness::{Esme, Smsc, bound_default, client_options, esme_config, sm, smsc_config, within};

#[tokio::test]
async fn bind_transceiver_then_submit_is_accepted_with_the_servers_id() {
    let mut smsc = Smsc::start(smsc_config()).await;
    let mut esme = Esme::connect(smsc.target(), esme_config(), client_options());

    let conn = match smsc.next().await {
        ServerEvent::Connected { conn, .. } => conn,
        other => panic!("expected Connected, got {other:?}"),
    };
    match smsc.next().await {
        ServerEvent::Bound {
            conn: c,
            system_id,
            mode,
        } => {
            assert_eq!(c, conn);
            assert_eq!(system_id, "cascade");
            assert_eq!(mode, BindMode::Transceiver);
        }
        other => panic!("expected Bound, got {other:?}"),
    }
    match esme.next().await {
        ClientEvent::Bound {
            connection,
            system_id,
            sc_interface_version,
        } => {
            assert_eq!(connection, 1);
            assert_eq!(system_id, "cascade-sim");
            assert_eq!(sc_interface_version, Some(0x34));
        }
        other => panic!("expected Bound, got {other:?}"),
    }
    assert_eq!(esme.client.state(), BindState::Bound);
    assert_eq!(smsc.server.bound_receivers(), [conn]);
    assert_eq!(
        smsc.server.connections(),
        [(conn, Some(BindMode::Transceiver))]
    );

    let submission = esme.client.submit(sm(1));
    let (c, seq, submit) = smsc.expect_submit().await;
    assert_eq!((c, submit), (conn, sm(1)));
    smsc.server
        .accept(conn, seq, "MSG-1")
        .await
        .expect("pending");
    assert_eq!(
        within("the submit", submission).await,
        Ok(SubmitOutcome::Accepted {
            message_id: "MSG-1".into()
        })
    );
}

#[tokio::test]
async fn server_reject_resolves_rejected_with_its_status() {
    let (mut smsc, esme, _) = bound_default().await;
    let submission = esme.client.submit(sm(1));
    let (conn, seq, _) = smsc.expect_submit().await;
    smsc.server
        .reject(conn, seq, CommandStatus::ESME_RINVDSTADR)
        .await
        .expect("pending");
    assert_eq!(
        within("the submit", submission).await,
        Ok(SubmitOutcome::Rejected {
            status: CommandStatus::ESME_RINVDSTADR
        })
    );
    // Answering twice is refused by the server, the client is unaffected.
    assert!(smsc.server.accept(conn, seq, "X").await.is_err());
}

#[tokio::test]
async fn submits_resolve_in_any_order_the_server_answers() {
    let (mut smsc, esme, _) = bound_default().await;
    let first = esme.client.submit(sm(1));
    let second = esme.client.submit(sm(2));
    let (conn, seq1, s1) = smsc.expect_submit().await;
    let (_, seq2, s2) = smsc.expect_submit().await;
    assert_eq!((s1, s2), (sm(1), sm(2)), "sent in call order");
    smsc.server.accept(conn, seq2, "B").await.expect("pending");
    smsc.server.accept(conn, seq1, "A").await.expect("pending");
    let accepted = |id: &str| {
        Ok(SubmitOutcome::Accepted {
            message_id: id.into(),
        })
    };
    assert_eq!(within("second", second).await, accepted("B"));
    assert_eq!(within("first", first).await, accepted("A"));
}

#[tokio::test]
async fn invalid_submit_fails_without_disturbing_the_bind() {
    let (mut smsc, esme, conn) = bound_default().await;
    let too_long = cascade_smpp::pdu::SubmitSm {
        short_message: Bytes::from(vec![b'x'; 300]),
        ..sm(0)
    };
    let result = within("the invalid submit", esme.client.submit(too_long)).await;
    assert!(
        matches!(result, Err(SubmitError::Invalid(_))),
        "got {result:?}"
    );
    let submission = esme.client.submit(sm(1));
    let (c, seq, submit) = smsc.expect_submit().await;
    assert_eq!((c, submit), (conn, sm(1)), "the invalid one never left");
    smsc.server.accept(conn, seq, "OK").await.expect("pending");
    assert!(within("the submit", submission).await.is_ok());
}

#[tokio::test]
async fn a_dropped_submission_in_flight_reports_a_late_response() {
    let (mut smsc, mut esme, conn) = bound_default().await;
    let submission = esme.client.submit(sm(1));
    let (_, seq, _) = smsc.expect_submit().await;
    // On the wire: dropping the Submission can no longer recall it.
    drop(submission);
    smsc.server
        .accept(conn, seq, "ORPHAN")
        .await
        .expect("pending");
    match esme.next().await {
        ClientEvent::LateSubmitResponse {
            seq: s,
            status,
            message_id,
        } => {
            assert_eq!((s.connection, s.seq), (1, seq));
            assert_eq!(status, CommandStatus::ESME_ROK);
            assert_eq!(message_id, "ORPHAN");
        }
        other => panic!("expected LateSubmitResponse, got {other:?}"),
    }
}

#[tokio::test]
async fn submit_before_the_bind_fails_not_bound_unless_it_waits() {
    let mut smsc = Smsc::start(cascade_smpp::SmscConfig {
        bind_policy: BindPolicy::Manual,
        ..smsc_config()
    })
    .await;
    let mut esme = Esme::connect(smsc.target(), esme_config(), client_options());
    let conn = match smsc.next().await {
        ServerEvent::Connected { conn, .. } => conn,
        other => panic!("expected Connected, got {other:?}"),
    };
    assert!(matches!(
        smsc.next().await,
        ServerEvent::BindRequested { conn: c, mode: BindMode::Transceiver, .. } if c == conn
    ));
    assert_eq!(esme.client.state(), BindState::Binding);

    let refused = esme.client.submit(sm(0));
    assert_eq!(
        within("the refused submit", refused).await,
        Err(SubmitError::NotBound)
    );
    let waiting = esme.client.submit_with(
        sm(1),
        cascade_smpp::driver::SubmitOptions {
            wait_for_bind: true,
            ..Default::default()
        },
    );
    harness::eventually("the submit to queue", || esme.client.stats().queued == 1).await;

    smsc.server.accept_bind(conn).await.expect("bind pending");
    assert!(matches!(smsc.next().await, ServerEvent::Bound { .. }));
    assert_eq!(esme.expect_bound().await, 1);
    let (_, seq, submit) = smsc.expect_submit().await;
    assert_eq!(submit, sm(1));
    smsc.server.accept(conn, seq, "W").await.expect("pending");
    assert!(within("the waiting submit", waiting).await.is_ok());
}

#[tokio::test]
async fn refused_binds_are_retried_with_growing_delays() {
    let mut smsc = Smsc::start(cascade_smpp::SmscConfig {
        bind_policy: BindPolicy::Credentials {
            system_id: "cascade".into(),
            password: "other".into(),
        },
        ..smsc_config()
    })
    .await;
    let mut esme = Esme::connect(smsc.target(), esme_config(), client_options());
    let status = CommandStatus::ESME_RINVPASWD;
    for (connection, delay) in [(1, 50), (2, 100), (3, 200)] {
        match esme.next().await {
            ClientEvent::BindFailed {
                connection: c,
                status: s,
            } => assert_eq!((c, s), (connection, status)),
            other => panic!("expected BindFailed, got {other:?}"),
        }
        match esme.next().await {
            ClientEvent::Disconnected {
                connection: c,
                reason,
                retry_in,
                ..
            } => {
                assert_eq!(c, connection);
                assert_eq!(reason, CloseReason::BindFailed(status));
                assert_eq!(retry_in, Some(harness::ms(delay)));
            }
            other => panic!("expected Disconnected, got {other:?}"),
        }
    }
    let stats = esme.client.stats();
    assert!(stats.bind_failures >= 3, "{stats:?}");
    assert_eq!(stats.binds, 0);
    // The server saw each try as a connection whose bind it refused.
    let mut rejected = 0;
    while rejected < 3 {
        if let ServerEvent::BindRejected { status: s, .. } = smsc.next().await {
            assert_eq!(s, status);
            rejected += 1;
        }
    }
}

#[tokio::test]
async fn a_bind_that_cannot_encode_is_refused_up_front() {
    let config = EsmeConfig {
        system_id: "a-system-id-far-too-long".into(),
        ..esme_config()
    };
    let target = harness::target("127.0.0.1:9".parse().expect("address"));
    let result = EsmeClient::connect(target, config, client_options());
    assert!(
        matches!(result, Err(ConfigError::Bind(_))),
        "got {result:?}"
    );
}
