//! Losing the link: in-flight submits, queued submits, the reconnect, and connect failures.

use cascade_smpp::driver::{BindState, ClientEvent, ServerEvent, SubmitError, SubmitOptions};
use cascade_smpp::{BindPolicy, CloseReason, EsmeConfig, SmscConfig};

use crate::harness::{
    Esme, Smsc, bound, client_options, esme_config, eventually, ms, sm, sm_number, smsc_config,
    target, within,
};

const WAIT_FOR_BIND: SubmitOptions = SubmitOptions {
    deadline: None,
    fail_when_throttled: false,
    wait_for_bind: true,
};

#[tokio::test]
async fn link_drop_mid_window_aborts_in_flight_and_reconnects() {
    let config = EsmeConfig {
        window: 2,
        ..esme_config()
    };
    let (mut smsc, mut esme, conn1) = bound(config, smsc_config()).await;
    let in_flight: Vec<_> = (0..2).map(|n| esme.client.submit(sm(n))).collect();
    let queued = esme.client.submit(sm(2));
    let patient = esme.client.submit_with(sm(3), WAIT_FOR_BIND);
    for n in 0..2 {
        let (_, _, submit) = smsc.expect_submit().await;
        assert_eq!(sm_number(&submit), n);
    }
    eventually("two queued", || esme.client.stats().queued == 2).await;

    smsc.server.disconnect(conn1).expect("open");
    for submission in in_flight {
        let result = within("an in-flight submit", submission).await;
        assert_eq!(result, Err(SubmitError::Aborted));
        assert!(result.expect_err("aborted").is_fate_unknown());
    }
    assert_eq!(
        within("the queued submit", queued).await,
        Err(SubmitError::NotBound),
        "never sent: still the caller's"
    );
    match esme.next().await {
        ClientEvent::Disconnected {
            connection,
            reason,
            retry_in,
            ..
        } => {
            assert_eq!(connection, 1);
            assert_eq!(reason, CloseReason::Disconnected);
            assert_eq!(retry_in, Some(ms(50)));
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert_eq!(esme.expect_bound().await, 2);
    assert_eq!(
        smsc.expect_disconnected(conn1).await,
        CloseReason::Disconnected
    );
    let conn2 = smsc.expect_bound().await;
    assert_ne!(conn2, conn1);

    // The submit that waited for a bind goes out on the new connection.
    let (c, seq, submit) = smsc.expect_submit().await;
    assert_eq!((c, sm_number(&submit)), (conn2, 3));
    smsc.server.accept(conn2, seq, "3").await.expect("pending");
    assert!(within("the waiting submit", patient).await.is_ok());

    let fresh = esme.client.submit(sm(4));
    let (c, seq, submit) = smsc.expect_submit().await;
    assert_eq!((c, sm_number(&submit)), (conn2, 4));
    smsc.server.accept(conn2, seq, "4").await.expect("pending");
    assert!(within("a new submit", fresh).await.is_ok());

    let stats = esme.client.stats();
    assert_eq!((stats.connections, stats.binds, stats.aborted), (2, 2, 2));
}

#[tokio::test]
async fn submits_during_the_outage_wait_for_the_next_bind() {
    let mut smsc = Smsc::start(SmscConfig {
        bind_policy: BindPolicy::Manual,
        ..smsc_config()
    })
    .await;
    let mut esme = Esme::connect(smsc.target(), esme_config(), client_options());
    let conn1 = accept_manual_bind(&mut smsc).await;
    assert_eq!(esme.expect_bound().await, 1);

    smsc.server.disconnect(conn1).expect("open");
    assert!(matches!(
        esme.next().await,
        ClientEvent::Disconnected { connection: 1, .. }
    ));
    assert_eq!(
        smsc.expect_disconnected(conn1).await,
        CloseReason::Disconnected
    );
    // The client reconnects and asks to bind; the server holds the answer, so the outage
    // lasts as long as this test wants.
    let conn2 = match smsc.next().await {
        ServerEvent::Connected { conn, .. } => conn,
        other => panic!("expected Connected, got {other:?}"),
    };
    assert!(matches!(
        smsc.next().await,
        ServerEvent::BindRequested { conn, .. } if conn == conn2
    ));
    assert_ne!(esme.client.state(), BindState::Bound);

    let impatient = esme.client.submit(sm(0));
    assert_eq!(
        within("the impatient submit", impatient).await,
        Err(SubmitError::NotBound)
    );
    let waiting: Vec<_> = (1..4)
        .map(|n| esme.client.submit_with(sm(n), WAIT_FOR_BIND))
        .collect();
    eventually("three queued", || esme.client.stats().queued == 3).await;
    smsc.expect_quiet(ms(30)).await;

    smsc.server.accept_bind(conn2).await.expect("bind pending");
    assert!(matches!(smsc.next().await, ServerEvent::Bound { conn, .. } if conn == conn2));
    assert_eq!(esme.expect_bound().await, 2);
    for n in 1..4 {
        let (c, seq, submit) = smsc.expect_submit().await;
        assert_eq!((c, sm_number(&submit)), (conn2, n), "in call order");
        smsc.server.accept(conn2, seq, "ok").await.expect("pending");
    }
    for submission in waiting {
        assert!(within("a waiting submit", submission).await.is_ok());
    }
}

#[tokio::test]
async fn a_waiting_submit_expires_if_the_bind_does_not_come_in_time() {
    let mut smsc = Smsc::start(SmscConfig {
        bind_policy: BindPolicy::Manual,
        ..smsc_config()
    })
    .await;
    let esme = Esme::connect(smsc.target(), esme_config(), client_options());
    let conn = match smsc.next().await {
        ServerEvent::Connected { conn, .. } => conn,
        other => panic!("expected Connected, got {other:?}"),
    };
    assert!(matches!(
        smsc.next().await,
        ServerEvent::BindRequested { .. }
    ));
    let options = SubmitOptions {
        deadline: Some(std::time::Instant::now() + ms(100)),
        ..WAIT_FOR_BIND
    };
    let submission = esme.client.submit_with(sm(1), options);
    assert_eq!(
        within("the waiting submit", submission).await,
        Err(SubmitError::Expired)
    );
    smsc.server.accept_bind(conn).await.expect("bind pending");
    assert!(matches!(smsc.next().await, ServerEvent::Bound { .. }));
    smsc.expect_quiet(ms(50)).await;
}

#[tokio::test]
async fn connect_failures_back_off_and_queued_submits_wait() {
    // A port nobody listens on (bound, then released).
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address")
    };
    let mut esme = Esme::connect(target(addr), esme_config(), client_options());
    let patient = esme.client.submit_with(sm(1), WAIT_FOR_BIND);
    let deadline = std::time::Instant::now() + ms(60);
    let doomed = esme.client.submit_with(
        sm(2),
        SubmitOptions {
            deadline: Some(deadline),
            ..WAIT_FOR_BIND
        },
    );
    let mut delays = Vec::new();
    for _ in 0..3 {
        match esme.next().await {
            ClientEvent::ConnectFailed { retry_in, .. } => delays.push(retry_in),
            other => panic!("expected ConnectFailed, got {other:?}"),
        }
    }
    assert_eq!(delays, [ms(50), ms(100), ms(200)]);
    // Waiting for a bind that does not come: the deadline still applies.
    assert_eq!(
        within("the submit with a deadline", doomed).await,
        Err(SubmitError::Expired)
    );
    assert!(std::time::Instant::now() >= deadline);
    let stats = esme.client.stats();
    assert_eq!((stats.connections, stats.queued), (0, 1));
    assert!(matches!(
        stats.state,
        BindState::Connecting | BindState::Disconnected
    ));
    assert_eq!(
        within(
            "the submit without wait_for_bind",
            esme.client.submit(sm(2))
        )
        .await,
        Err(SubmitError::NotBound)
    );

    let outcome = within("shutdown", esme.client.shutdown()).await;
    assert_eq!(outcome, cascade_smpp::driver::ShutdownOutcome::NotBound);
    assert_eq!(
        within("the waiting submit", patient).await,
        Err(SubmitError::Closed)
    );
}

async fn accept_manual_bind(smsc: &mut Smsc) -> cascade_smpp::driver::ConnId {
    let conn = match smsc.next().await {
        ServerEvent::Connected { conn, .. } => conn,
        other => panic!("expected Connected, got {other:?}"),
    };
    assert!(matches!(
        smsc.next().await,
        ServerEvent::BindRequested { conn: c, .. } if c == conn
    ));
    smsc.server.accept_bind(conn).await.expect("bind pending");
    assert!(matches!(smsc.next().await, ServerEvent::Bound { conn: c, .. } if c == conn));
    conn
}

#[tokio::test]
async fn a_bind_without_answer_times_out_and_is_retried() {
    let mut smsc = Smsc::start(SmscConfig {
        bind_policy: BindPolicy::Manual,
        ..smsc_config()
    })
    .await;
    let config = EsmeConfig {
        bind_timeout: ms(100),
        ..esme_config()
    };
    let mut esme = Esme::connect(smsc.target(), config, client_options());
    let conn1 = match smsc.next().await {
        ServerEvent::Connected { conn, .. } => conn,
        other => panic!("expected Connected, got {other:?}"),
    };
    assert!(matches!(
        smsc.next().await,
        ServerEvent::BindRequested { .. }
    ));
    match esme.next().await {
        ClientEvent::Disconnected {
            connection,
            reason,
            retry_in,
            ..
        } => {
            assert_eq!(connection, 1);
            assert_eq!(reason, CloseReason::BindTimedOut);
            assert_eq!(retry_in, Some(ms(50)));
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert_eq!(
        smsc.expect_disconnected(conn1).await,
        CloseReason::Disconnected
    );
    // The next try is answered.
    let conn2 = accept_manual_bind(&mut smsc).await;
    assert_ne!(conn2, conn1);
    assert_eq!(esme.expect_bound().await, 2);
}

#[tokio::test]
async fn throttled_submits_that_wait_for_a_bind_survive_a_link_drop() {
    let config = EsmeConfig {
        throttle_backoff: ms(5_000),
        ..esme_config()
    };
    let (mut smsc, mut esme, conn1) = bound(config, smsc_config()).await;
    let plain = esme.client.submit(sm(1));
    let patient = esme.client.submit_with(sm(2), WAIT_FOR_BIND);
    let mut seqs = Vec::new();
    for _ in 0..2 {
        let (_, seq, _) = smsc.expect_submit().await;
        seqs.push(seq);
    }
    for seq in seqs {
        smsc.server
            .reject(conn1, seq, cascade_smpp::CommandStatus::ESME_RTHROTTLED)
            .await
            .expect("pending");
    }
    for _ in 0..2 {
        assert!(matches!(esme.next().await, ClientEvent::Throttled { .. }));
    }
    eventually("both back in the queue", || esme.client.stats().queued == 2).await;

    // The link drops long before the pause ends; the new connection has no pause.
    smsc.server.disconnect(conn1).expect("open");
    assert_eq!(
        within("the plain submit", plain).await,
        Err(SubmitError::NotBound),
        "throttled means not taken: still the caller's"
    );
    assert_eq!(
        smsc.expect_disconnected(conn1).await,
        CloseReason::Disconnected
    );
    let conn2 = smsc.expect_bound().await;
    let (c, seq, submit) = smsc.expect_submit().await;
    assert_eq!((c, sm_number(&submit)), (conn2, 2));
    smsc.server.accept(conn2, seq, "2").await.expect("pending");
    assert!(within("the patient submit", patient).await.is_ok());
}
