//! `ESME_RTHROTTLED` / `ESME_RMSGQFUL`: the pause, the resend, and `fail_when_throttled`.

use std::time::Instant;

use cascade_smpp::driver::{ClientEvent, SubmitError, SubmitOptions, SubmitOutcome};
use cascade_smpp::{CommandStatus, EsmeConfig};

use crate::harness::{bound, esme_config, ms, sm, sm_number, smsc_config, within};

#[tokio::test]
async fn a_throttled_submit_is_resent_after_the_pause_and_accepted() {
    let config = EsmeConfig {
        throttle_backoff: ms(150),
        ..esme_config()
    };
    let (mut smsc, mut esme, conn) = bound(config, smsc_config()).await;
    let first = esme.client.submit(sm(1));
    let (_, seq1, submit) = smsc.expect_submit().await;
    assert_eq!(sm_number(&submit), 1);
    let throttled_at = Instant::now();
    smsc.server
        .reject(conn, seq1, CommandStatus::ESME_RTHROTTLED)
        .await
        .expect("pending");

    let until = match esme.next().await {
        ClientEvent::Throttled { status, until } => {
            assert_eq!(status, CommandStatus::ESME_RTHROTTLED);
            assert!(until >= throttled_at + ms(150), "pause too short");
            until
        }
        other => panic!("expected Throttled, got {other:?}"),
    };
    // Submitted during the pause: it waits, behind the throttled one.
    let second = esme.client.submit(sm(2));

    let (_, seq2, submit) = smsc.expect_submit().await;
    let resent_at = Instant::now();
    assert_eq!(sm_number(&submit), 1, "the throttled submit goes first");
    assert_ne!(seq2, seq1, "a new PDU");
    assert!(resent_at >= until, "resent {:?} early", until - resent_at);
    assert!(matches!(esme.next().await, ClientEvent::Resumed));
    smsc.server
        .accept(conn, seq2, "ONE")
        .await
        .expect("pending");
    assert_eq!(
        within("the throttled submit", first).await,
        Ok(SubmitOutcome::Accepted {
            message_id: "ONE".into()
        })
    );

    let (_, seq3, submit) = smsc.expect_submit().await;
    assert_eq!(sm_number(&submit), 2);
    smsc.server
        .accept(conn, seq3, "TWO")
        .await
        .expect("pending");
    assert!(within("the second submit", second).await.is_ok());

    let stats = esme.client.stats();
    assert_eq!(stats.throttled, 1);
    assert_eq!(stats.submits_sent, 3, "a resend counts again");
    assert_eq!(stats.accepted, 2);
    assert_eq!(stats.rejected, 0);
}

#[tokio::test]
async fn fail_when_throttled_gives_the_submit_back() {
    let config = EsmeConfig {
        throttle_backoff: ms(400),
        ..esme_config()
    };
    let (mut smsc, mut esme, conn) = bound(config, smsc_config()).await;
    let impatient = SubmitOptions {
        fail_when_throttled: true,
        ..SubmitOptions::default()
    };

    // Throttled on the wire: fails instead of being resent.
    let first = esme.client.submit_with(sm(1), impatient);
    let (_, seq, _) = smsc.expect_submit().await;
    smsc.server
        .reject(conn, seq, CommandStatus::ESME_RMSGQFUL)
        .await
        .expect("pending");
    let until = match within("the throttled submit", first).await {
        Err(SubmitError::Throttled { until }) => until,
        other => panic!("expected Throttled, got {other:?}"),
    };
    assert!(matches!(
        esme.next().await,
        ClientEvent::Throttled {
            status: CommandStatus::ESME_RMSGQFUL,
            ..
        }
    ));

    // During the pause: an impatient submit fails at once, a patient one waits.
    let second = esme.client.submit_with(sm(2), impatient);
    let third = esme.client.submit(sm(3));
    assert_eq!(
        within("the impatient submit", second).await,
        Err(SubmitError::Throttled { until })
    );
    assert!(Instant::now() < until, "failed only after the pause");

    let (_, seq, submit) = smsc.expect_submit().await;
    assert!(Instant::now() >= until);
    assert_eq!(sm_number(&submit), 3, "neither impatient submit was resent");
    smsc.server.accept(conn, seq, "3").await.expect("pending");
    assert!(within("the patient submit", third).await.is_ok());
}

#[tokio::test]
async fn several_throttled_submits_are_resent_in_their_original_order() {
    let config = EsmeConfig {
        throttle_backoff: ms(100),
        ..esme_config()
    };
    let (mut smsc, esme, conn) = bound(config, smsc_config()).await;
    let submissions: Vec<_> = (0..4).map(|n| esme.client.submit(sm(n))).collect();
    let mut seqs = Vec::new();
    for n in 0..4 {
        let (_, seq, submit) = smsc.expect_submit().await;
        assert_eq!(sm_number(&submit), n);
        seqs.push(seq);
    }
    // The SMSC takes 1 and throttles the others, answering out of order.
    for &i in &[2, 0, 3] {
        smsc.server
            .reject(conn, seqs[i], CommandStatus::ESME_RTHROTTLED)
            .await
            .expect("pending");
    }
    smsc.server
        .accept(conn, seqs[1], "1")
        .await
        .expect("pending");
    for n in [0, 2, 3] {
        let (_, seq, submit) = smsc.expect_submit().await;
        assert_eq!(sm_number(&submit), n, "resent in call order");
        smsc.server
            .accept(conn, seq, n.to_string())
            .await
            .expect("pending");
    }
    for (n, submission) in submissions.into_iter().enumerate() {
        assert_eq!(
            within("a submit", submission).await,
            Ok(SubmitOutcome::Accepted {
                message_id: n.to_string().into()
            })
        );
    }
    assert_eq!(esme.client.stats().throttled, 3);
}

#[tokio::test]
async fn a_throttled_submit_can_expire_during_the_pause() {
    let config = EsmeConfig {
        throttle_backoff: ms(300),
        ..esme_config()
    };
    let (mut smsc, esme, conn) = bound(config, smsc_config()).await;
    let deadline = Instant::now() + ms(100);
    let submission = esme
        .client
        .submit_with(sm(1), SubmitOptions::with_deadline(deadline));
    let (_, seq, _) = smsc.expect_submit().await;
    smsc.server
        .reject(conn, seq, CommandStatus::ESME_RTHROTTLED)
        .await
        .expect("pending");
    // Not taken by the SMSC, and not resent before its deadline: never sent, in effect.
    assert_eq!(
        within("the throttled submit", submission).await,
        Err(SubmitError::Expired)
    );
    assert!(Instant::now() >= deadline);
    let next = esme.client.submit(sm(2));
    let (_, seq, submit) = smsc.expect_submit().await;
    assert_eq!(sm_number(&submit), 2, "the expired one was not resent");
    smsc.server.accept(conn, seq, "2").await.expect("pending");
    assert!(within("the next submit", next).await.is_ok());
}

#[tokio::test]
async fn a_dropped_throttled_submit_is_not_resent() {
    let config = EsmeConfig {
        throttle_backoff: ms(100),
        ..esme_config()
    };
    let (mut smsc, mut esme, conn) = bound(config, smsc_config()).await;
    let first = esme.client.submit(sm(1));
    let (_, seq, _) = smsc.expect_submit().await;
    smsc.server
        .reject(conn, seq, CommandStatus::ESME_RTHROTTLED)
        .await
        .expect("pending");
    assert!(matches!(esme.next().await, ClientEvent::Throttled { .. }));
    drop(first);
    let second = esme.client.submit(sm(2));
    let (_, seq, submit) = smsc.expect_submit().await;
    assert_eq!(sm_number(&submit), 2);
    smsc.server.accept(conn, seq, "2").await.expect("pending");
    assert!(within("the second submit", second).await.is_ok());
}
