//! Several nodes on one PostgreSQL database: deployment-wide leases (each SMSC bind slot
//! is one node's at a time), submit jobs left to the nodes that can send them, and the
//! search counters the nodes append to and fold.

#[allow(dead_code)]
#[path = "conformance/support.rs"]
mod support;

use std::time::{Duration, Instant};

use cascade_core::Channel;
use cascade_core::Timestamp;
use cascade_store::postgres::{PgConfig, PgStore, cluster};
use cascade_store::{FlowStore, Store};

use support::{Fixture, Opened, at, sms};

fn wall_clock() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    Timestamp::from_millis(i64::try_from(ms).unwrap())
}

async fn node(url: &str, id: &str) -> PgStore {
    let mut config = PgConfig::new(url, id);
    config.lease_ms = 1_000;
    PgStore::open(&config).await.expect("the store opens")
}

#[tokio::test]
async fn a_lease_is_one_nodes_at_a_time_and_goes_when_its_holder_dies() {
    let url = cluster::fresh_database().await;
    let (a, b) = (node(&url, "node-a").await, node(&url, "node-b").await);

    assert!(
        a.hold_lease("smsc:x:bind:0").await.unwrap(),
        "a free lease is taken"
    );
    assert!(
        !b.hold_lease("smsc:x:bind:0").await.unwrap(),
        "a live holder keeps it"
    );
    assert!(
        a.hold_lease("smsc:x:bind:0").await.unwrap(),
        "and its holder keeps it"
    );
    assert!(b.hold_lease("smsc:x:bind:1").await.unwrap());

    let now = wall_clock();
    let nodes = a.nodes(now, 10_000).await.unwrap();
    let held = |id: &str| {
        nodes
            .iter()
            .find(|n| n.id == id)
            .map(|n| n.leases.clone())
            .unwrap()
    };
    assert_eq!(held("node-a"), ["smsc:x:bind:0"]);
    assert_eq!(held("node-b"), ["smsc:x:bind:1"]);

    // Given up on a clean stop: the other node takes it at once.
    a.release_lease("smsc:x:bind:0").await.unwrap();
    b.release_lease("smsc:x:bind:0").await.unwrap(); // not b's: nothing happens
    assert!(b.hold_lease("smsc:x:bind:0").await.unwrap());
    assert!(!a.hold_lease("smsc:x:bind:0").await.unwrap());

    // b dies (no more heartbeats): its leases go once a lease has passed, not before.
    b.close().await;
    let died = Instant::now();
    assert!(
        !a.hold_lease("smsc:x:bind:1").await.unwrap(),
        "taken too early"
    );
    let deadline = died + Duration::from_secs(10);
    while !a.hold_lease("smsc:x:bind:1").await.unwrap() {
        assert!(
            Instant::now() < deadline,
            "the dead node's lease never went"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(a.hold_lease("smsc:x:bind:0").await.unwrap());
    let nodes = a.nodes(wall_clock(), 10_000).await.unwrap();
    let a_holds = &nodes.iter().find(|n| n.id == "node-a").unwrap().leases;
    assert_eq!(a_holds, &["smsc:x:bind:0", "smsc:x:bind:1"]);
}

#[tokio::test]
async fn a_node_that_cannot_send_a_channel_leaves_its_jobs_to_the_others() {
    let url = cluster::fresh_database().await;
    let a = std::sync::Arc::new(node(&url, "node-a").await);
    let b = node(&url, "node-b").await;
    let f = Fixture::new(Opened {
        store: a.clone(),
        keep: Box::new(()),
    })
    .await;
    let applied = a.accept_flow(f.flow(sms(10), at(0)), at(0)).await.unwrap();
    let job = &applied.jobs[0];
    assert!(
        b.claim_jobs_except(at(1), 60_000, 10, &[])
            .await
            .unwrap()
            .is_empty(),
        "the accepting node holds the job"
    );
    a.release_job(job).await.unwrap();
    assert!(
        b.claim_jobs_except(at(2), 60_000, 10, &[Channel::Sms])
            .await
            .unwrap()
            .is_empty(),
        "a node without SMS binds leaves it"
    );
    let claimed = b
        .claim_jobs_except(at(3), 60_000, 10, &[Channel::Voice])
        .await
        .unwrap();
    assert_eq!(
        claimed.len(),
        1,
        "a node that can send SMS takes it at once"
    );
    assert_eq!(
        (claimed[0].id, claimed[0].attempts),
        (job.id, 0),
        "no attempt counted"
    );
    // b holds it now: a's release of a job it no longer holds changes nothing.
    a.release_job(job).await.unwrap();
    assert!(a.claim_jobs(at(4), 60_000, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn folding_the_search_counters_keeps_every_total() {
    use cascade_core::search::{PageSize, SearchQuery};
    use cascade_store::SearchStore;
    let url = cluster::fresh_database().await;
    let store = std::sync::Arc::new(node(&url, "node-a").await);
    let f = Fixture::new(Opened {
        store: store.clone(),
        keep: Box::new(()),
    })
    .await;
    for i in 0..20 {
        let applied = store
            .accept_flow(f.flow(sms(10), at(i)), at(i))
            .await
            .unwrap();
        if i % 2 == 0 {
            let job = &applied.jobs[0];
            store
                .job_finished(
                    job,
                    cascade_core::machines::Event::InternalError {
                        order: 1,
                        detail: "no provider".into(),
                    },
                    at(i + 1),
                )
                .await
                .unwrap();
        }
    }
    let rows = || async {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM flow_counts")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        n
    };
    let query = SearchQuery {
        size: PageSize::new(1).unwrap(),
        ..SearchQuery::default()
    };
    let before = store.search(&f.account, &query).await.unwrap().total;
    let appended = rows().await;
    assert!(
        appended > 20,
        "one row per change before folding: {appended}"
    );
    store.fold_flow_counts().await.unwrap();
    let folded = rows().await;
    assert!(folded <= 4, "one row per (day, status, channels): {folded}");
    assert_eq!(
        store.search(&f.account, &query).await.unwrap().total,
        before
    );
    assert_eq!(before, 20);
}
