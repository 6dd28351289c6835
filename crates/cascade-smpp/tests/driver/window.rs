//! The submit window: at most `window` unanswered submits on the wire, the rest queued in
//! call order and sent as answers free slots.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::Instant;

use cascade_smpp::driver::SubmitOutcome;
use cascade_smpp::{EsmeConfig, ThroughputLimit};

use crate::harness::{bound, esme_config, eventually, ms, sm, sm_number, smsc_config, within};

#[tokio::test]
async fn the_server_never_sees_more_than_window_unanswered_submits() {
    const WINDOW: usize = 3;
    const TOTAL: u32 = 10;
    let config = EsmeConfig {
        window: WINDOW,
        ..esme_config()
    };
    let (mut smsc, esme, conn) = bound(config, smsc_config()).await;
    let submissions: Vec<_> = (0..TOTAL).map(|n| esme.client.submit(sm(n))).collect();

    // The first WINDOW go out; the client holds the rest.
    let mut unanswered = VecDeque::new();
    for expected in 0..WINDOW as u32 {
        let (_, seq, submit) = smsc.expect_submit().await;
        assert_eq!(sm_number(&submit), expected);
        unanswered.push_back((seq, expected));
    }
    let queued = TOTAL as usize - WINDOW;
    eventually("the queue to hold the rest", || {
        let stats = esme.client.stats();
        stats.in_flight == WINDOW && stats.queued == queued
    })
    .await;
    // The gauges say all TOTAL submits reached the task and were offered to the session;
    // a further submit on the wire would have raised `in_flight` past WINDOW.
    smsc.expect_quiet(ms(50)).await;

    // Each answer (newest first, then oldest: order must not matter) frees exactly one
    // slot, filled with the next submit in call order.
    let mut next = WINDOW as u32;
    let mut newest_first = true;
    while let Some((seq, n)) = if newest_first {
        unanswered.pop_back()
    } else {
        unanswered.pop_front()
    } {
        newest_first = !newest_first;
        smsc.server
            .accept(conn, seq, format!("ID-{n}"))
            .await
            .expect("pending");
        if next < TOTAL {
            let (_, seq, submit) = smsc.expect_submit().await;
            assert_eq!(sm_number(&submit), next, "FIFO");
            unanswered.push_back((seq, next));
            assert!(unanswered.len() <= WINDOW);
            next += 1;
        }
    }
    for (n, submission) in submissions.into_iter().enumerate() {
        assert_eq!(
            within("a submit", submission).await,
            Ok(SubmitOutcome::Accepted {
                message_id: format!("ID-{n}").into()
            })
        );
    }
    let stats = esme.client.stats();
    assert_eq!((stats.in_flight, stats.queued), (0, 0));
    assert_eq!((stats.submits_sent, stats.accepted), (10, 10));
}

#[tokio::test]
async fn a_cancelled_queued_submit_is_never_sent() {
    let config = EsmeConfig {
        window: 1,
        ..esme_config()
    };
    let (mut smsc, esme, conn) = bound(config, smsc_config()).await;
    let first = esme.client.submit(sm(1));
    let (_, seq, _) = smsc.expect_submit().await;
    drop(esme.client.submit(sm(2)));
    let third = esme.client.submit(sm(3));
    eventually("both to queue", || esme.client.stats().queued >= 1).await;
    smsc.server.accept(conn, seq, "1").await.expect("pending");
    let (_, seq, submit) = smsc.expect_submit().await;
    assert_eq!(sm_number(&submit), 3, "the dropped one was skipped");
    smsc.server.accept(conn, seq, "3").await.expect("pending");
    assert!(within("first", first).await.is_ok());
    assert!(within("third", third).await.is_ok());
}

#[tokio::test]
async fn the_throughput_cap_spaces_submits() {
    let config = EsmeConfig {
        throughput: Some(ThroughputLimit::per_second(
            NonZeroU32::new(20).expect("non-zero"),
        )),
        ..esme_config()
    };
    let (mut smsc, esme, conn) = bound(config, smsc_config()).await;
    let start = Instant::now();
    let submissions: Vec<_> = (0..4).map(|n| esme.client.submit(sm(n))).collect();
    for n in 0..4 {
        let (_, seq, submit) = smsc.expect_submit().await;
        assert_eq!(sm_number(&submit), n);
        smsc.server.accept(conn, seq, "ok").await.expect("pending");
    }
    // 20/s with a burst of one: 50 ms apart, so the fourth leaves 150 ms after the first
    // at the earliest (scheduling delays only make it later).
    let elapsed = start.elapsed();
    assert!(elapsed >= ms(150), "four submits within {elapsed:?}");
    for submission in submissions {
        assert!(within("a submit", submission).await.is_ok());
    }
}
