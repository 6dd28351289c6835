//! `Idempotency-Key` on `POST /failover` (§7): replays, conflicts, concurrent requests,
//! the scope of a key, invalid keys, and requests that fail validation.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use crate::helpers::*;

/// The answer to one `POST /failover`.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn replayed(&self) -> bool {
        self.headers
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true")
    }

    fn tracking_id(&self) -> &str {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        self.body["trackingId"].as_str().unwrap()
    }

    fn assert_conflict(&self) {
        assert_eq!(self.status, StatusCode::CONFLICT, "{}", self.body);
        assert_eq!(self.body["code"], "409022001", "{}", self.body);
    }
}

/// `POST /failover` with a raw JSON text and (optionally) an `Idempotency-Key`.
async fn post_raw(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    key: Option<HeaderValue>,
    text: String,
) -> Answer {
    let mut req = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(text);
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

async fn post_keyed(app: &TestApp, key: &str, body: &Value) -> Answer {
    let token = app.token().await;
    post_raw(
        &app.client,
        &app.url("/failover"),
        &token,
        Some(HeaderValue::from_str(key).unwrap()),
        body.to_string(),
    )
    .await
}

fn sms_flow(text: &str) -> Value {
    flow(vec![sms_step(1, text)])
}

#[tokio::test]
async fn the_same_key_and_body_replays_the_original_response_and_creates_nothing() {
    let app = spawn_app().await;
    let body = sms_flow("Your code is 1234");
    let first = post_keyed(&app, "order-1001", &body).await;
    let id = first.tracking_id().to_owned();
    assert!(
        first.headers.get("idempotent-replayed").is_none(),
        "the first answer is not a replay"
    );
    app.wait_final(&id).await;

    for _ in 0..2 {
        let again = post_keyed(&app, "order-1001", &body).await;
        assert_eq!(again.tracking_id(), id);
        assert!(again.replayed(), "Idempotent-Replayed: true");
        assert_eq!(again.body, first.body, "the original response, as it was");
    }
    assert_eq!(app.flow_count().await, 1, "no new flow");
    assert_eq!(app.sandbox_messages().await.len(), 1, "nothing sent again");

    // Without the key, the same body is a new request.
    let fresh = app.send_flow(&body).await;
    assert_ne!(fresh, id);
    assert_eq!(app.flow_count().await, 2);
}

#[tokio::test]
async fn key_order_and_whitespace_do_not_make_another_request() {
    let app = spawn_app().await;
    let token = app.token().await;
    let key = || Some(HeaderValue::from_static("spaced-out"));
    let compact = format!(
        r#"{{"flow":[{{"type":"Sms","order":1,"from":"Cascade","to":"{PHONE}","message":{{"body":"Hi"}}}}]}}"#
    );
    let spaced = format!(
        "{{\n  \"flow\" : [ {{ \"message\": {{ \"body\": \"Hi\" }},\n    \"to\": \"{PHONE}\", \"from\": \"Cascade\",\n    \"order\": 1, \"type\": \"Sms\" }} ]\n}}\n"
    );
    let first = post_raw(&app.client, &app.url("/failover"), &token, key(), compact).await;
    let id = first.tracking_id().to_owned();
    let again = post_raw(&app.client, &app.url("/failover"), &token, key(), spaced).await;
    assert_eq!(again.tracking_id(), id);
    assert!(again.replayed());
    assert_eq!(app.flow_count().await, 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_409_and_leaves_the_first_alone() {
    let app = spawn_app().await;
    let first = post_keyed(&app, "k-409", &sms_flow("first")).await;
    let id = first.tracking_id().to_owned();

    let other = post_keyed(&app, "k-409", &sms_flow("second")).await;
    other.assert_conflict();
    let mut reordered = sms_flow("first");
    reordered["flow"][0]["order"] = json!(2);
    post_keyed(&app, "k-409", &reordered)
        .await
        .assert_conflict();
    assert_eq!(app.flow_count().await, 1, "a conflict creates nothing");

    // The key still means the first request.
    let again = post_keyed(&app, "k-409", &sms_flow("first")).await;
    assert_eq!(again.tracking_id(), id);
    assert!(again.replayed());
    app.wait_final(&id).await;
    assert_eq!(app.sandbox_messages().await.len(), 1);
}

#[tokio::test]
async fn identical_concurrent_requests_create_exactly_one_flow() {
    let app = spawn_app().await;
    let token = app.token().await;
    let text = sms_flow("concurrent").to_string();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, url, token, text) = (
            app.client.clone(),
            app.url("/failover"),
            token.clone(),
            text.clone(),
        );
        set.spawn(async move {
            post_raw(
                &client,
                &url,
                &token,
                Some(HeaderValue::from_static("same-time")),
                text,
            )
            .await
        });
    }
    let answers = set.join_all().await;
    let mut ids: Vec<String> = Vec::new();
    for a in &answers {
        match a.status {
            StatusCode::OK => ids.push(a.tracking_id().to_owned()),
            _ => a.assert_conflict(),
        }
    }
    assert!(!ids.is_empty(), "at least one is accepted: {answers:#?}");
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        1,
        "every 200 carries the same trackingId: {ids:?}"
    );
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.status == StatusCode::OK && !a.replayed())
            .count(),
        1,
        "exactly one original answer, the rest are replays or 409: {answers:#?}"
    );
    assert_eq!(app.flow_count().await, 1);

    let again = post_keyed(&app, "same-time", &sms_flow("concurrent")).await;
    assert_eq!(again.tracking_id(), ids[0]);
    app.wait_final(&ids[0]).await;
    assert_eq!(app.sandbox_messages().await.len(), 1);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_and_different_bodies_accept_exactly_one() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (client, url, token) = (app.client.clone(), app.url("/failover"), token.clone());
        set.spawn(async move {
            let text = sms_flow(&format!("variant {i}")).to_string();
            (
                i,
                post_raw(
                    &client,
                    &url,
                    &token,
                    Some(HeaderValue::from_static("racing")),
                    text,
                )
                .await,
            )
        });
    }
    let answers = set.join_all().await;
    let winners: Vec<_> = answers
        .iter()
        .filter(|(_, a)| a.status == StatusCode::OK)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:#?}");
    for (_, a) in answers.iter().filter(|(_, a)| a.status != StatusCode::OK) {
        a.assert_conflict();
    }
    assert_eq!(app.flow_count().await, 1);
    let (i, winner) = winners[0];
    let again = post_keyed(&app, "racing", &sms_flow(&format!("variant {i}"))).await;
    assert_eq!(again.tracking_id(), winner.tracking_id());
    assert!(again.replayed());
}

#[tokio::test]
async fn the_same_key_from_another_application_is_independent() {
    let app = spawn_app().await;
    let body = sms_flow("shared key");
    let mine = post_keyed(&app, "shared", &body).await;
    let (other_id, other_secret) = app
        .create_application(&app.account_id.clone(), json!({"name": "second"}))
        .await;
    let other_token = app.token_for(&other_id, &other_secret, None).await;
    let theirs = post_raw(
        &app.client,
        &app.url("/failover"),
        &other_token,
        Some(HeaderValue::from_static("shared")),
        body.to_string(),
    )
    .await;
    assert_ne!(theirs.tracking_id(), mine.tracking_id());
    assert!(!theirs.replayed());
    // Even another body is fine under that key for the other application.
    let theirs_too = post_raw(
        &app.client,
        &app.url("/failover"),
        &other_token,
        Some(HeaderValue::from_static("shared-2")),
        sms_flow("something else").to_string(),
    )
    .await;
    assert_eq!(theirs_too.status, StatusCode::OK);
    assert_eq!(app.flow_count().await, 3);
    // And each application's key still replays its own flow.
    let again = post_keyed(&app, "shared", &body).await;
    assert_eq!(again.tracking_id(), mine.tracking_id());
}

#[tokio::test]
async fn invalid_keys_are_400_and_store_nothing() {
    let app = spawn_app().await;
    let token = app.token().await;
    let long = "k".repeat(256);
    let invalid: Vec<(&str, HeaderValue)> = vec![
        ("empty", HeaderValue::from_static("")),
        ("256 characters", HeaderValue::from_str(&long).unwrap()),
        ("a tab inside", HeaderValue::from_static("ab\tcd")),
        (
            "not ASCII",
            HeaderValue::from_bytes("ключ".as_bytes()).unwrap(),
        ),
    ];
    for (what, key) in invalid {
        let a = post_raw(
            &app.client,
            &app.url("/failover"),
            &token,
            Some(key),
            sms_flow("Hi").to_string(),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{what}: {}", a.body);
        assert_eq!(a.body["code"], "400022001", "{what}: {}", a.body);
        assert!(
            a.body["properties"].get("Idempotency-Key").is_some(),
            "{what}: {}",
            a.body
        );
    }
    assert_eq!(app.flow_count().await, 0);
    assert!(app.sandbox_messages().await.is_empty());

    // The limits themselves are fine: 1 and 255 printable characters.
    for key in [
        "x".to_owned(),
        "~".repeat(255),
        "a key with spaces".to_owned(),
    ] {
        let a = post_keyed(&app, &key, &sms_flow("Hi")).await;
        assert_eq!(a.status, StatusCode::OK, "{key:?}: {}", a.body);
    }
    assert_eq!(app.flow_count().await, 3);
}

#[tokio::test]
async fn a_request_failing_validation_stores_nothing_under_its_key() {
    let app = spawn_app().await;
    let mut bad = sms_flow("Hi");
    bad["flow"][0]["to"] = json!("not a number");
    let a = post_keyed(&app, "retry-me", &bad).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert_eq!(a.body["code"], "400022001");
    assert!(
        a.body["properties"].get("flow[0].to").is_some(),
        "{}",
        a.body
    );
    assert_eq!(app.flow_count().await, 0);

    // The same invalid request again is validated again (not replayed, no 409).
    let b = post_keyed(&app, "retry-me", &bad).await;
    assert_eq!(b.status, StatusCode::BAD_REQUEST);
    assert!(!b.replayed());

    // The key is free for the corrected request.
    let good = post_keyed(&app, "retry-me", &sms_flow("Hi")).await;
    let id = good.tracking_id().to_owned();
    assert!(!good.replayed(), "a fresh request, not a replay");
    assert_eq!(app.flow_count().await, 1);
    let again = post_keyed(&app, "retry-me", &sms_flow("Hi")).await;
    assert_eq!(again.tracking_id(), id);
    assert!(again.replayed());
    post_keyed(&app, "retry-me", &bad).await.assert_conflict();
}

#[tokio::test]
async fn a_key_is_remembered_across_a_restart() {
    let app = spawn_app().await;
    let body = sms_flow("durable");
    let first = post_keyed(&app, "durable-key", &body).await;
    let id = first.tracking_id().to_owned();
    let app = app.restart().await;
    let again = post_keyed(&app, "durable-key", &body).await;
    assert_eq!(again.tracking_id(), id);
    assert!(again.replayed());
    assert_eq!(again.body, first.body);
    post_keyed(&app, "durable-key", &sms_flow("changed"))
        .await
        .assert_conflict();
    assert_eq!(app.flow_count().await, 1);
}
