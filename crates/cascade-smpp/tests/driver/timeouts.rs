//! Submit deadlines (while queued) and response timeouts (while in flight).

use std::time::{Duration, Instant};

use cascade_smpp::driver::{ClientEvent, ConnSeq, SubmitError, SubmitOptions};
use cascade_smpp::{CommandStatus, EsmeConfig};

use crate::harness::{bound, bound_default, esme_config, ms, sm, sm_number, smsc_config, within};

#[tokio::test]
async fn a_deadline_passing_in_the_queue_expires_the_submit_unsent() {
    let config = EsmeConfig {
        window: 1,
        ..esme_config()
    };
    let (mut smsc, esme, conn) = bound(config, smsc_config()).await;
    let blocker = esme.client.submit(sm(1));
    let (_, seq, _) = smsc.expect_submit().await;

    let deadline = Instant::now() + ms(100);
    let doomed = esme
        .client
        .submit_with(sm(2), SubmitOptions::with_deadline(deadline));
    assert_eq!(
        within("the queued submit", doomed).await,
        Err(SubmitError::Expired)
    );
    assert!(Instant::now() >= deadline, "expired early");
    assert!(!SubmitError::Expired.is_fate_unknown());

    smsc.server.accept(conn, seq, "1").await.expect("pending");
    assert!(within("the blocker", blocker).await.is_ok());
    let after = esme.client.submit(sm(3));
    let (_, seq, submit) = smsc.expect_submit().await;
    assert_eq!(sm_number(&submit), 3, "the expired submit never left");
    smsc.server.accept(conn, seq, "3").await.expect("pending");
    assert!(within("the last submit", after).await.is_ok());
    let stats = esme.client.stats();
    assert_eq!((stats.expired, stats.submits_sent), (1, 2));
}

#[tokio::test]
async fn a_deadline_already_past_fails_at_once() {
    let (mut smsc, esme, _) = bound_default().await;
    let past = Instant::now();
    let submission = esme
        .client
        .submit_with(sm(1), SubmitOptions::with_deadline(past));
    assert_eq!(
        within("the submit", submission).await,
        Err(SubmitError::Expired)
    );
    smsc.expect_quiet(ms(50)).await;
}

#[tokio::test]
async fn a_far_deadline_does_not_get_in_the_way() {
    let (mut smsc, esme, conn) = bound_default().await;
    let submission = esme.client.submit_with(
        sm(1),
        SubmitOptions::with_deadline(Instant::now() + Duration::from_secs(60)),
    );
    let (_, seq, _) = smsc.expect_submit().await;
    smsc.server.accept(conn, seq, "1").await.expect("pending");
    assert!(within("the submit", submission).await.is_ok());
}

#[tokio::test]
async fn an_unanswered_submit_times_out_and_its_late_answer_is_reported() {
    let config = EsmeConfig {
        response_timeout: ms(200),
        ..esme_config()
    };
    let (mut smsc, mut esme, conn) = bound(config, smsc_config()).await;
    let sent = Instant::now();
    let submission = esme.client.submit(sm(1));
    let (_, seq, _) = smsc.expect_submit().await;
    let result = within("the timeout", submission).await;
    assert!(sent.elapsed() >= ms(200), "timed out early");
    let expected = ConnSeq { connection: 1, seq };
    assert_eq!(result, Err(SubmitError::TimedOut { seq: expected }));
    assert!(result.expect_err("timed out").is_fate_unknown());

    smsc.server
        .accept(conn, seq, "LATE")
        .await
        .expect("still pending at the server");
    match esme.next().await {
        ClientEvent::LateSubmitResponse {
            seq: s,
            status,
            message_id,
        } => {
            assert_eq!(s, expected);
            assert_eq!(status, CommandStatus::ESME_ROK);
            assert_eq!(message_id, "LATE");
        }
        other => panic!("expected LateSubmitResponse, got {other:?}"),
    }
    let stats = esme.client.stats();
    assert_eq!((stats.timed_out, stats.late_responses), (1, 1));
    assert_eq!(stats.in_flight, 0);

    // The bind is fine: the next submit works.
    let next = esme.client.submit(sm(2));
    let (_, seq, _) = smsc.expect_submit().await;
    smsc.server.accept(conn, seq, "2").await.expect("pending");
    assert!(within("the next submit", next).await.is_ok());
}
