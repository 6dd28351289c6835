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
    // Every entry names the node that wrote it.
    assert!(
        events
            .iter()
            .all(|e| ["node-a", "node-b", "node-c"].contains(&e["node"].as_str().unwrap_or(""))),
        "{events:#?}"
    );
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
    // Each node's metrics name it.
    let m = a.metrics().await;
    assert_eq!(
        m.get("cascade_node_info{node=\"node-a\"}"),
        Some(&1.0),
        "{m:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_balance_near_zero_is_never_overdrawn_by_flows_through_two_nodes_at_once() {
    let (a, b, _c) = three_nodes().await;
    // Ten SMS at the default 0.05 EUR, thirty sent at once through two nodes.
    a.set_balance(&a.account_id, 0.5).await;
    let body = flow(vec![sms_step(1, "paid")]);
    let mut sends = Vec::new();
    for i in 0..30 {
        let node = if i % 2 == 0 { &a } else { &b };
        let token = node.token().await;
        let request = node
            .client
            .post(node.url("/failover"))
            .bearer_auth(token)
            .json(&body);
        sends.push(async move {
            request.send().await.unwrap().json::<Value>().await.unwrap()["trackingId"]
                .as_str()
                .unwrap()
                .to_owned()
        });
    }
    let ids = futures_util::future::join_all(sends).await;
    let mut paid = 0;
    for id in &ids {
        let t = a.wait_final(id).await;
        if status_of(&t["messages"][0]) != "Unsent" {
            paid += 1;
        }
    }
    assert_eq!(paid, 10, "exactly what the balance covers");
    assert_eq!(a.account_balance(&a.account_id).await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applications_rate_limit_holds_for_the_deployment_not_per_node() {
    let a = spawn_app_with(&[("CASCADE_NODE_ID", "node-a"), ("CASCADE_LEASE_MS", "1500")]).await;
    let b = a.another_node("node-b").await;
    // Both nodes have seen each other (their limiters divide by two).
    for node in [&a, &b] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let body: Value = node
                .client
                .get(node.url("/admin/nodes"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if body["rateLimitNodes"] == 2 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{body}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let (id, secret) = a
        .create_application(
            &a.account_id.clone(),
            json!({"name": "limited", "rateLimit": {"perSecond": 1, "burst": 10}}),
        )
        .await;
    let body = flow(vec![sms_step(1, "counted")]);
    let mut accepted = 0;
    // Twenty quick requests, alternating between the nodes: the burst of 10 is the
    // deployment's, so about 10 go through (each node admits its 5), not 20.
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        let token = node.token_for(&id, &secret, None).await;
        if node.post_flow_with(&token, &body).await.status() == 200 {
            accepted += 1;
        }
    }
    // (A token or two may come back while the requests run; per-node limits would admit 20.)
    assert!((10..=13).contains(&accepted), "{accepted} accepted");
}
