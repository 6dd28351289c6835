//! The callback outbox.

use std::time::Duration;

use cascade_core::FlowId;
use cascade_core::callbacks::{Attempt, CallbackOutcome, CallbackState};
use cascade_core::machines::TimelineKind;
use cascade_store::{Callback, CallbackFilter};

use crate::support::*;

const LEASE_MS: i64 = 60_000;

/// An OnChange flow, submitted and delivered: Queued, Sent, Delivered — three callbacks.
async fn flow_with_callbacks(f: &Fixture) -> FlowId {
    let def = f.flow(with_callback(sms(10), "OnChange"), at(0));
    let id = def.tracking_id;
    let applied = f.store.accept_flow(def, at(0)).await.unwrap();
    assert_eq!(applied.callbacks, 1, "Queued");
    let job = applied.jobs.into_iter().next().unwrap();
    f.store
        .job_submitted(&job, "prov", vec![format!("p-{id}")], at(1))
        .await
        .unwrap();
    f.store
        .apply_report(
            "prov",
            &[format!("p-{id}")],
            cascade_core::machines::Report::status(cascade_core::StatusKind::Delivered, at(2)),
            at(2),
        )
        .await
        .unwrap();
    id
}

fn retry_at(ms: i64) -> CallbackOutcome {
    CallbackOutcome::Retry {
        next_at: at(ms),
        error: "HTTP 503".into(),
    }
}

async fn claim(f: &Fixture, now: i64) -> Vec<Callback> {
    f.store
        .claim_callbacks(at(now), LEASE_MS, 100)
        .await
        .unwrap()
}

pub async fn a_flow_callbacks_are_claimed_one_at_a_time_in_sequence(f: &Fixture) {
    let a = flow_with_callbacks(f).await;
    let b = flow_with_callbacks(f).await;
    let first = claim(f, 10).await;
    let mut got: Vec<(FlowId, i64)> = first.iter().map(|c| (c.flow_id, c.seq)).collect();
    got.sort();
    let mut want = vec![(a, 1), (b, 1)];
    want.sort();
    assert_eq!(got, want, "one per flow, its lowest sequence");
    assert!(
        claim(f, 11).await.is_empty(),
        "nothing of a flow while its earlier callback is out"
    );
    let a1 = first.iter().find(|c| c.flow_id == a).unwrap();
    f.store
        .callback_attempted(a1, CallbackOutcome::Delivered { status: 200 }, at(12))
        .await
        .unwrap();
    let next = claim(f, 13).await;
    assert_eq!(
        next.iter().map(|c| (c.flow_id, c.seq)).collect::<Vec<_>>(),
        [(a, 2)],
        "a's next; b's first is still out"
    );
    assert_eq!(next[0].attempts, 0);
}

pub async fn a_retry_waits_for_its_time(f: &Fixture) {
    let id = flow_with_callbacks(f).await;
    let c = claim(f, 10).await.remove(0);
    f.store
        .callback_attempted(&c, retry_at(5_000), at(20))
        .await
        .unwrap();
    assert!(claim(f, 4_999).await.is_empty());
    let again = claim(f, 5_000).await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].flow_id, again[0].seq), (id, 1));
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].first_attempt_at, Some(at(20)));
    assert_eq!(again[0].event_id, c.event_id, "the same event, again");
}

pub async fn dead_letters_are_listed_and_redelivered(f: &Fixture) {
    let id = flow_with_callbacks(f).await;
    let c = claim(f, 10).await.remove(0);
    let dead = CallbackOutcome::of(
        Attempt::Failed {
            error: "HTTP 500".into(),
        },
        0,
        at(20),
        &[] as &[Duration],
        at(20),
    );
    f.store.callback_attempted(&c, dead, at(20)).await.unwrap();
    let listed = f
        .store
        .callbacks(&CallbackFilter {
            state: Some(CallbackState::Dead),
            flow_id: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_error.as_deref(), Some("HTTP 500"));
    // A dead letter does not hold up the flow's later callbacks.
    assert_eq!(claim(f, 30).await[0].seq, 2);
    assert!(
        !f.store
            .redeliver_callback(listed[0].id + 1000, at(40))
            .await
            .unwrap(),
        "no such dead callback"
    );
    assert!(
        f.store
            .redeliver_callback(listed[0].id, at(40))
            .await
            .unwrap()
    );
    let pending = f
        .store
        .callbacks(&CallbackFilter {
            state: Some(CallbackState::Pending),
            flow_id: Some(id),
            limit: 100,
        })
        .await
        .unwrap();
    assert!(
        pending
            .iter()
            .any(|r| r.id == listed[0].id && r.attempts == 0)
    );
    assert_eq!(
        f.store.redeliver_flow_callbacks(id, at(50)).await.unwrap(),
        0
    );
}

pub async fn every_attempt_is_in_the_timeline(f: &Fixture) {
    let id = flow_with_callbacks(f).await;
    let c = claim(f, 10).await.remove(0);
    f.store
        .callback_attempted(&c, retry_at(100), at(20))
        .await
        .unwrap();
    let c = claim(f, 100).await.remove(0);
    f.store
        .callback_attempted(&c, CallbackOutcome::Delivered { status: 204 }, at(110))
        .await
        .unwrap();
    let lines: Vec<String> = f
        .store
        .timeline(&f.account, id)
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == TimelineKind::Callback)
        .map(|e| e.status.unwrap_or_default())
        .collect();
    assert_eq!(lines, ["retrying", "delivered"]);
}
