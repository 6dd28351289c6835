//! `state`, `state_changes` and `stats`: what metrics see.

use cascade_smpp::driver::{BindState, ClientEvent, ShutdownOutcome};
use cascade_smpp::{CommandStatus, EsmeConfig};

use crate::harness::{
    Esme, Smsc, bound, client_options, esme_config, eventually, sm, smsc_config, within,
};

#[tokio::test]
async fn state_changes_walk_through_the_life_of_a_bind() {
    let smsc = Smsc::start(smsc_config()).await;
    let esme = Esme::connect(smsc.target(), esme_config(), client_options());
    let mut states = esme.client.state_changes();
    let mut seen = vec![*states.borrow_and_update()];
    let record = async {
        while states.changed().await.is_ok() {
            let state = *states.borrow_and_update();
            seen.push(state);
            if state == BindState::Bound {
                break;
            }
        }
    };
    within("Bound", record).await;
    // Connecting, (Binding: may be skipped over by a fast bind), Bound.
    assert_eq!(seen.first(), Some(&BindState::Connecting));
    assert_eq!(seen.last(), Some(&BindState::Bound));
    assert!(
        seen.iter().all(|s| matches!(
            s,
            BindState::Connecting | BindState::Binding | BindState::Bound
        )),
        "{seen:?}"
    );

    assert_eq!(
        within("shutdown", esme.client.shutdown()).await,
        ShutdownOutcome::Unbound
    );
    assert_eq!(*states.borrow_and_update(), BindState::Stopped);
    assert_eq!(esme.client.stats().state, BindState::Stopped);
}

/// The client publishes its state before it tells anyone: whoever sees an event (or a
/// submit's fate) sees the state and gauges that go with it. Multi-threaded, so the test task runs while the client works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_never_run_ahead_of_the_state() {
    // A slow reconnect, so that the state read right after `Disconnected` cannot already
    // belong to the next connection.
    let options = cascade_smpp::driver::ClientOptions {
        reconnect_min: crate::harness::ms(100),
        ..client_options()
    };
    for _ in 0..10 {
        let mut smsc = Smsc::start(smsc_config()).await;
        let mut esme = Esme::connect(smsc.target(), esme_config(), options.clone());
        assert!(matches!(esme.next().await, ClientEvent::Bound { .. }));
        assert_eq!(esme.client.state(), BindState::Bound);
        let conn = smsc.expect_bound().await;

        // A caller holding its submit's fate sees the gauges and counters without it.
        let submission = esme.client.submit(sm(1));
        let (_, seq, _) = smsc.expect_submit().await;
        smsc.server.accept(conn, seq, "1").await.expect("pending");
        assert!(within("the submit", submission).await.is_ok());
        let stats = esme.client.stats();
        assert_eq!((stats.in_flight, stats.accepted), (0, 1), "{stats:?}");

        smsc.server.disconnect(conn).expect("open");
        assert!(matches!(
            esme.next().await,
            ClientEvent::Disconnected { .. }
        ));
        assert_ne!(esme.client.state(), BindState::Bound);
        assert!(matches!(esme.next().await, ClientEvent::Bound { .. }));
        assert_eq!(esme.client.state(), BindState::Bound);
        assert_eq!(esme.client.stats().binds, 2);
        drop(esme);
    }
}

#[tokio::test]
async fn stats_count_what_happened() {
    let config = EsmeConfig {
        window: 2,
        ..esme_config()
    };
    let (mut smsc, esme, conn) = bound(config, smsc_config()).await;
    let stats = esme.client.stats();
    assert_eq!(stats.state, BindState::Bound);
    assert_eq!((stats.connections, stats.binds), (1, 1));
    assert_eq!(
        (stats.in_flight, stats.queued, stats.submits_sent),
        (0, 0, 0)
    );

    let submissions: Vec<_> = (0..3).map(|n| esme.client.submit(sm(n))).collect();
    let (_, seq0, _) = smsc.expect_submit().await;
    let (_, seq1, _) = smsc.expect_submit().await;
    eventually("two in flight, one queued", || {
        let s = esme.client.stats();
        (s.in_flight, s.queued, s.submits_sent) == (2, 1, 2)
    })
    .await;

    smsc.server.accept(conn, seq0, "0").await.expect("pending");
    smsc.server
        .reject(conn, seq1, CommandStatus::ESME_RSUBMITFAIL)
        .await
        .expect("pending");
    let (_, seq2, _) = smsc.expect_submit().await;
    smsc.server.accept(conn, seq2, "2").await.expect("pending");
    for submission in submissions {
        let _ = within("a submit", submission).await;
    }
    eventually("nothing in flight", || {
        let s = esme.client.stats();
        (s.in_flight, s.queued) == (0, 0)
    })
    .await;
    let stats = esme.client.stats();
    assert_eq!(stats.submits_sent, 3);
    assert_eq!((stats.accepted, stats.rejected), (2, 1));
    assert_eq!(
        (
            stats.throttled,
            stats.timed_out,
            stats.aborted,
            stats.expired
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(esme.client.name(), "test");
}
