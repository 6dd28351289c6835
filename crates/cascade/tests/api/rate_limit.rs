//! Per-application rate limits (§8 `429000000`, §10 `CASCADE_RATE_LIMIT_*`) and the body
//! size limit.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// What one call answered.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
}

impl Answer {
    async fn from(r: reqwest::Response) -> Answer {
        let status = r.status();
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = r.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            retry_after,
            body,
        }
    }

    /// Assert a 429 in the API error shape; returns `Retry-After` in seconds.
    fn assert_limited(&self, what: &str) -> u64 {
        assert_eq!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{what}: {}",
            self.body
        );
        assert_eq!(self.body["code"], "429000000", "{what}: {}", self.body);
        assert!(self.body["developerMessage"].is_string(), "{what}");
        let secs: u64 = self
            .retry_after
            .as_deref()
            .unwrap_or_else(|| panic!("{what}: a Retry-After header"))
            .parse()
            .unwrap_or_else(|_| panic!("{what}: Retry-After is whole seconds"));
        assert!(secs >= 1, "{what}: Retry-After {secs}");
        secs
    }
}

async fn post_flow_as(app: &TestApp, token: &str) -> Answer {
    Answer::from(
        app.post_flow_with(token, &flow(vec![sms_step(1, "Hi")]))
            .await,
    )
    .await
}

async fn get_as(app: &TestApp, token: &str, path: &str) -> Answer {
    Answer::from(
        app.client
            .get(app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Create an application (optionally with its own limit); returns a token of it.
async fn limited_app(app: &TestApp, rate_limit: Option<Value>) -> String {
    let mut body = json!({"name": "limited"});
    if let Some(limit) = rate_limit {
        body["rateLimit"] = limit;
    }
    let (id, secret) = app.create_application(&app.account_id.clone(), body).await;
    app.token_for(&id, &secret, None).await
}

#[tokio::test]
async fn an_application_over_its_own_limit_gets_429_then_recovers() {
    let app = spawn_app().await;
    let token = limited_app(&app, Some(json!({"perSecond": 2, "burst": 3}))).await;

    for i in 1..=3 {
        let a = post_flow_as(&app, &token).await;
        assert_eq!(a.status, StatusCode::OK, "request {i} is within the burst");
    }
    let limited = post_flow_as(&app, &token).await;
    let retry_after = limited.assert_limited("the 4th quick request");
    assert_eq!(retry_after, 1, "one token comes back after half a second");
    assert_eq!(
        app.flow_count().await,
        3,
        "the refused request stored nothing"
    );

    // Another application of the same server is not affected.
    let other = app.token().await;
    for _ in 0..5 {
        assert_eq!(post_flow_as(&app, &other).await.status, StatusCode::OK);
    }

    // Once Retry-After has passed, requests go through again.
    let deadline = Instant::now() + Duration::from_secs(retry_after + 2);
    loop {
        let a = post_flow_as(&app, &token).await;
        if a.status == StatusCode::OK {
            break;
        }
        a.assert_limited("while waiting");
        assert!(Instant::now() < deadline, "still limited after Retry-After");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.flow_count().await, 3 + 5 + 1);
}

#[tokio::test]
async fn the_server_default_applies_to_applications_without_their_own_limit() {
    let app = spawn_app_with(&[
        ("CASCADE_RATE_LIMIT_PER_SECOND", "1"),
        ("CASCADE_RATE_LIMIT_BURST", "2"),
    ])
    .await;
    let default_app = app.token().await;
    let another = limited_app(&app, None).await;
    let own = limited_app(&app, Some(json!({"perSecond": 20, "burst": 20}))).await;

    for (name, token) in [
        ("the test application", &default_app),
        ("another", &another),
    ] {
        for i in 1..=2 {
            let a = get_as(&app, token, "/accounts/me/balance").await;
            assert_eq!(a.status, StatusCode::OK, "{name}: request {i}: {}", a.body);
        }
        get_as(&app, token, "/accounts/me/balance")
            .await
            .assert_limited(name);
    }
    // An application's own limit overrides the default.
    for i in 1..=15 {
        let a = get_as(&app, &own, "/accounts/me/balance").await;
        assert_eq!(a.status, StatusCode::OK, "own limit: request {i}");
    }
}

#[tokio::test]
async fn a_rate_of_zero_turns_limiting_off() {
    let app = spawn_app_with(&[
        ("CASCADE_RATE_LIMIT_PER_SECOND", "0"),
        ("CASCADE_RATE_LIMIT_BURST", "1"),
    ])
    .await;
    let token = app.token().await;
    let id = app.send_flow(&flow(vec![sms_step(1, "Hi")])).await;
    for i in 0..50 {
        let a = match i % 3 {
            0 => post_flow_as(&app, &token).await,
            1 => get_as(&app, &token, &format!("/failover/tracking/{id}")).await,
            _ => get_as(&app, &token, "/accounts/me/balance").await,
        };
        assert_eq!(a.status, StatusCode::OK, "request {i}: {}", a.body);
        assert!(a.retry_after.is_none());
    }

    // An application's own limit still applies.
    let limited = limited_app(&app, Some(json!({"perSecond": 1, "burst": 1}))).await;
    assert_eq!(
        get_as(&app, &limited, "/accounts/me/balance").await.status,
        StatusCode::OK
    );
    get_as(&app, &limited, "/accounts/me/balance")
        .await
        .assert_limited("own limit with the server's off");
}

#[tokio::test]
async fn tracking_events_and_balance_share_the_bucket() {
    let app = spawn_app().await;
    let id = app.send_flow(&flow(vec![sms_step(1, "Hi")])).await;
    let token = limited_app(&app, Some(json!({"perSecond": 1, "burst": 2}))).await;

    let tracking = format!("/failover/tracking/{id}");
    assert_eq!(get_as(&app, &token, &tracking).await.status, StatusCode::OK);
    assert_eq!(
        get_as(&app, &token, "/accounts/me/balance").await.status,
        StatusCode::OK
    );
    get_as(&app, &token, &tracking)
        .await
        .assert_limited("GET tracking");
    get_as(&app, &token, "/accounts/me/balance")
        .await
        .assert_limited("GET balance");
    get_as(&app, &token, &format!("{tracking}/events"))
        .await
        .assert_limited("GET events");
    post_flow_as(&app, &token)
        .await
        .assert_limited("POST /failover");
    let search = app
        .client
        .post(app.url("/failover/tracking"))
        .bearer_auth(&token)
        .json(&json!([]))
        .send()
        .await
        .unwrap();
    Answer::from(search)
        .await
        .assert_limited("POST /failover/tracking (search)");
    // The application's own limit does not touch the test application.
    assert_eq!(app.tracking(&id).await["trackingId"], id.as_str());
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = spawn_app_with(&[("CASCADE_BODY_LIMIT_BYTES", "2048")]).await;
    let a = Answer::from(
        app.post_flow(&flow(vec![sms_step(1, &"x".repeat(4000))]))
            .await,
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.body["code"], "413000000");
    assert_eq!(app.flow_count().await, 0);
}
