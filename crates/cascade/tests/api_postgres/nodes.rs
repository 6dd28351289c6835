//! Several nodes on one PostgreSQL database (scale-out §2): three `cascade serve`
//! applications built as the binary builds them, sharing a fresh database, each with
//! its own node id.

use serde_json::{Value, json};

use crate::helpers::*;

async fn three_nodes() -> (TestApp, TestApp, TestApp) {
    let a = spawn_app_with(&[("CASCADE_NODE_ID", "node-a")]).await;
    let b = a.another_node("node-b").await;
    let c = a.another_node("node-c").await;
    (a, b, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_accepted_by_one_node_is_seen_by_the_others_and_ends_once() {
    let (a, b, c) = three_nodes().await;
    let id = a
        .send_flow(&flow(vec![sms_step(1, "first"), sms_step(2, "second")]))
        .await;
    // Visible at once from every node: tracking, events and search.
    for node in [&b, &c] {
        let t = node.tracking(&id).await;
        assert_eq!(t["trackingId"], id);
        assert!(!node.events(&id).await.is_empty());
    }
    let t = b.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded");
    let t = c.tracking(&id).await;
    assert_eq!(status_of(&t["messages"][0]), "Delivered");
    assert_eq!(
        t["messages"].as_array().unwrap().len(),
        1,
        "the first step delivered: the second never started"
    );
    // Whichever node's worker took the job and the report, each happened once.
    let events = a.events(&id).await;
    let submitted = events.iter().filter(|e| e["type"] == "submitted").count();
    let applied = events
        .iter()
        .filter(|e| e["type"] == "report" && e["duplicate"].is_null() && e["ignored"].is_null())
        .count();
    assert_eq!((submitted, applied), (1, 1), "{events:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_created_through_one_node_applies_to_flows_sent_through_another() {
    let (a, b, _c) = three_nodes().await;
    b.scenario(json!({"channel": "sms", "to": PHONE, "events": [
        {"afterMs": 5, "status": "undelivered", "detailedStatus": "Unknown Number"}
    ], "times": 1}))
        .await;
    assert_eq!(a.scenarios().await.len(), 1, "listed by every node");
    let id = a.send_flow(&flow(vec![sms_step(1, "hi")])).await;
    let t = a.wait_final(&id).await;
    assert_eq!(status_of(&t["messages"][0]), "Undelivered");
    // `times: 1` was used up by that send, whichever node made it.
    let id = b.send_flow(&flow(vec![sms_step(1, "again")])).await;
    let t = b.wait_final(&id).await;
    assert_eq!(status_of(&t["messages"][0]), "Delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_sent_to_two_nodes_at_once_creates_one_flow() {
    let (a, b, _c) = three_nodes().await;
    let body = flow(vec![sms_step(1, "once")]);
    let before = a.flow_count().await;
    for round in 0..5 {
        let key = format!("key-{round}");
        let (ta, tb) = (a.token().await, b.token().await);
        let send = |node: &TestApp, token: String| {
            let request = node
                .client
                .post(node.url("/failover"))
                .bearer_auth(token)
                .header("Idempotency-Key", key.clone())
                .json(&body);
            async move { request.send().await.unwrap() }
        };
        let (ra, rb) = tokio::join!(send(&a, ta), send(&b, tb));
        let (sa, sb) = (ra.status().as_u16(), rb.status().as_u16());
        let (ja, jb): (Value, Value) = (ra.json().await.unwrap(), rb.json().await.unwrap());
        // One of them creates the flow; the other replays it or is told it is in flight.
        let created: Vec<&Value> = [(&sa, &ja), (&sb, &jb)]
            .into_iter()
            .filter(|(s, _)| **s == 200)
            .map(|(_, j)| &j["trackingId"])
            .collect();
        assert!(!created.is_empty(), "{sa} {ja} / {sb} {jb}");
        assert!(
            created.windows(2).all(|w| w[0] == w[1]),
            "both answers name the same flow: {ja} / {jb}"
        );
        for (s, j) in [(sa, &ja), (sb, &jb)] {
            assert!(s == 200 || s == 409, "{s} {j}");
        }
    }
    assert_eq!(a.flow_count().await, before + 5, "one flow per key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_live_node_is_listed_with_its_heartbeat() {
    let (a, _b, _c) = three_nodes().await;
    let r = a
        .client
        .get(a.url("/admin/nodes"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let mut ids: Vec<&str> = body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["node-a", "node-b", "node-c"]);
    assert!(
        body["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == "node-a" && n["self"] == true)
    );
    let r = a.client.get(a.url("/admin/nodes")).send().await.unwrap();
    assert_eq!(r.status(), 401, "the admin token is required");
}
