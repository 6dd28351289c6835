//! Viber through real provider adapters (Vonage Messages, Infobip), against mocks of the
//! providers' APIs (`provider_mocks`): what Cascade sends, what each webhook does to the
//! tracking, verification, statuses that overtake the submit answer, duplicates and
//! out-of-order statuses, 401/429/5xx/timeouts, and failover between providers.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::provider_mocks::*;

pub(crate) const DIGITS: &str = "306912345678";

pub(crate) fn vonage_section(name: &str, base: &str, priority: u32, jwt: bool) -> String {
    let auth = if jwt {
        format!(
            "application_id = \"{VONAGE_APPLICATION}\"\nprivate_key_file = \"{}\"",
            fixture("vonage-test-private.pem")
        )
    } else {
        format!("api_key = \"{VONAGE_KEY}\"\napi_secret = \"{VONAGE_SECRET}\"")
    };
    format!(
        "[[provider]]\nname = \"{name}\"\nkind = \"vonage-messages\"\nbase_url = \"{base}\"\npriority = {priority}\ntimeout_seconds = 1\nsignature_secret = \"{VONAGE_SIGNATURE_SECRET}\"\n{auth}\n"
    )
}

fn infobip_section(name: &str, base: &str, priority: u32) -> String {
    format!(
        "[[provider]]\nname = \"{name}\"\nkind = \"infobip-viber\"\nbase_url = \"{base}\"\npriority = {priority}\ntimeout_seconds = 1\napi_key = \"{INFOBIP_KEY}\"\nwebhook_token = \"{INFOBIP_TOKEN}\"\nsenders = {{ \"TestBrand\" = \"brand-77\" }}\n"
    )
}

/// Cascade with these provider sections, reachable at its public URL.
async fn app_with(sections: &[String], extra: &[(&str, &str)]) -> TestApp {
    spawn_app_public(&sections.concat(), extra).await.0
}

fn viber_flow(app: &TestApp) -> Value {
    flow(vec![viber_step(1, &app.sender_id), sms_step(2, "Fallback")])
}

#[tokio::test]
async fn a_viber_step_goes_to_vonage_and_its_signed_webhooks_move_it() {
    let mock = MockProvider::start(Kind::Vonage { jwt: false }).await;
    mock.on(
        DIGITS,
        vec![
            hook(10, json!({"status": "submitted"})),
            hook(
                20,
                json!({"status": "delivered", "usage": {"currency": "EUR", "price": "0.0333"}}),
            ),
            hook(30, json!({"status": "read"})),
        ],
    );
    let app = app_with(&[vonage_section("vonage-viber", &mock.base, 1, false)], &[]).await;
    let id = app.send_flow(&viber_flow(&app)).await;
    let t = wait_first_status(&app, &id, "SEEN").await;
    assert_eq!(t["status"], "Succeeded", "delivered ends the flow: {t:#}");
    assert_eq!(
        t["messages"].as_array().unwrap().len(),
        1,
        "no failover to SMS"
    );

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let body = &requests[0].1;
    assert_eq!(body["channel"], "viber_service");
    assert_eq!(body["message_type"], "text");
    assert_eq!(body["text"], "Hello");
    assert_eq!(body["to"], DIGITS, "E.164 without +");
    assert_eq!(body["from"], "TestBrand");
    assert_eq!(
        body["client_ref"], t["messages"][0]["trackingId"],
        "the stable reference"
    );
    assert!(
        body["webhook_url"]
            .as_str()
            .unwrap()
            .ends_with("/webhooks/vonage-viber")
    );
    assert_eq!(body["webhook_version"], "v1");
    assert_eq!(body["viber_service"]["category"], "transaction");
    let ttl = body["viber_service"]["ttl"].as_u64().unwrap();
    assert!(
        (30..=86_400).contains(&ttl),
        "the step's remaining TTL: {ttl}"
    );
    assert_eq!(mock.webhook_answers(), vec![200, 200, 200]);

    let events = app.events(&id).await;
    let submitted = events.iter().find(|e| e["type"] == "submitted").unwrap();
    assert_eq!(submitted["provider"], "vonage-viber");
    let delivered = events
        .iter()
        .find(|e| e["type"] == "report" && e["status"] == "DELIVERED")
        .unwrap();
    assert_eq!(delivered["providerPrice"], "0.0333 EUR");
    let m = app.metrics().await;
    assert_eq!(
        m.get("cascade_provider_cost_total{provider=\"vonage-viber\",currency=\"EUR\"}"),
        Some(&0.0333),
        "{m:#?}"
    );
}

#[tokio::test]
async fn vonage_with_an_application_key_signs_each_request_with_rs256() {
    let mock = MockProvider::start(Kind::Vonage { jwt: true }).await;
    mock.on(DIGITS, vec![hook(10, json!({"status": "delivered"}))]);
    let app = app_with(&[vonage_section("vonage-viber", &mock.base, 1, true)], &[]).await;
    let id = app.send_flow(&viber_flow(&app)).await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded", "{t:#}");
    assert_eq!(mock.accepted(), 1);
}

#[tokio::test]
async fn every_vonage_outcome_maps_to_its_status_and_reason() {
    let mock = MockProvider::start(Kind::Vonage { jwt: false }).await;
    let cases: Vec<(&str, Value, &str, Option<&str>)> = vec![
        (
            "306910000001",
            json!({"status": "delivered"}),
            "DELIVERED",
            Some("Delivered"),
        ),
        (
            "306910000002",
            json!({"status": "read"}),
            "SEEN",
            Some("Seen"),
        ),
        (
            "306910000003",
            json!({"status": "undeliverable"}),
            "UNDELIVERED",
            Some("System Failure"),
        ),
        (
            "306910000004",
            json!({"status": "rejected", "error": {"title": "1360", "detail": "TTL"}}),
            "EXPIRED",
            Some("TTL Expired"),
        ),
        (
            "306910000005",
            json!({"status": "rejected", "error": {"title": "1300", "detail": "Not a user"}}),
            "UNDELIVERED",
            Some("Not Viber User"),
        ),
        (
            "306910000006",
            json!({"status": "rejected", "error": {"title": "1310", "detail": "Device"}}),
            "UNDELIVERED",
            Some("Unsupported Equipment"),
        ),
        (
            "306910000007",
            json!({"status": "rejected", "error": {"title": "1240", "detail": "Opted out"}}),
            "UNDELIVERED",
            Some("Opted Out"),
        ),
        (
            "306910000008",
            json!({"status": "rejected", "error": {"title": "1331", "detail": "Provider"}}),
            "UNDELIVERED",
            Some("Timed Out"),
        ),
        (
            "306910000009",
            json!({"status": "rejected", "error": {"title": "1020", "detail": "Invalid"}}),
            "FAILED",
            Some("Message Rejected"),
        ),
        (
            "306910000010",
            json!({"status": "rejected", "error": {"title": "1030", "detail": "Internal"}}),
            "FAILED",
            Some("System Failure"),
        ),
    ];
    for (to, fields, _, _) in &cases {
        mock.on(to, vec![hook(5, fields.clone())]);
    }
    let app = app_with(&[vonage_section("vonage-viber", &mock.base, 1, false)], &[]).await;
    let mut ids = Vec::new();
    for (to, _, _, _) in &cases {
        let mut step = viber_step(1, &app.sender_id);
        step["to"] = json!(format!("+{to}"));
        ids.push(app.send_flow(&flow(vec![step])).await);
    }
    for ((to, _, status, detailed), id) in cases.iter().zip(&ids) {
        let t = wait_first_status(&app, id, status).await;
        let m = &t["messages"][0];
        assert_eq!(
            m["status"]["reason"]["detailedStatus"].as_str(),
            *detailed,
            "{to}: {m:#}"
        );
    }
}

#[tokio::test]
async fn a_webhook_that_fails_verification_gets_401_and_changes_nothing() {
    let mock = MockProvider::start(Kind::Vonage { jwt: false }).await;
    let app = app_with(&[vonage_section("vonage-viber", &mock.base, 1, false)], &[]).await;
    let id = app.send_flow(&viber_flow(&app)).await;
    wait_first_status(&app, &id, "SENT").await;
    let before = app.events(&id).await.len();
    let body = json!({"message_uuid": "whatever", "status": "delivered"}).to_string();
    let url = app.url("/webhooks/vonage-viber");
    let (name, good) = vonage_sign(body.as_bytes());
    let (_, wrong_secret) = vonage_sign_with("not-the-secret", body.as_bytes());
    let (_, other_body) = vonage_sign(b"{}");
    for (header, why) in [
        (None, "unsigned"),
        (Some(wrong_secret), "another secret"),
        (Some(other_body), "signed over another body"),
    ] {
        let mut r = app
            .client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(h) = header {
            r = r.header(name.as_str(), h);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{why}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["code"], "401000000", "the API's error shape");
    }
    let (_, signed_garbage) = vonage_sign(b"not json");
    let r = app
        .client
        .post(&url)
        .header(name.as_str(), signed_garbage)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "signed but unreadable");
    let r = app
        .client
        .post(&url)
        .header(name.as_str(), good)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "signed properly: an unknown id is held"
    );
    let r = app
        .client
        .post(app.url("/webhooks/nobody"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.events(&id).await.len(),
        before,
        "nothing recorded on this flow"
    );
    assert_eq!(status_of(&app.tracking(&id).await["messages"][0]), "SENT");
}

#[tokio::test]
async fn a_status_that_overtakes_the_submit_answer_is_held_and_applied() {
    let mock = MockProvider::start(Kind::Vonage { jwt: false }).await;
    mock.script(vec![Answer::AcceptAfterWebhooks]);
    mock.on(DIGITS, vec![hook(0, json!({"status": "delivered"}))]);
    let app = app_with(&[vonage_section("vonage-viber", &mock.base, 1, false)], &[]).await;
    let id = app.send_flow(&viber_flow(&app)).await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded", "{t:#}");
    assert_eq!(status_of(&t["messages"][0]), "DELIVERED");
    assert_eq!(mock.webhook_answers(), vec![200], "held is recorded: 2xx");
}

#[tokio::test]
async fn duplicate_and_out_of_order_statuses_never_move_a_message_backwards() {
    let mock = MockProvider::start(Kind::Vonage { jwt: false }).await;
    mock.on(
        DIGITS,
        vec![
            hook(10, json!({"status": "read"})),
            hook(20, json!({"status": "delivered"})),
            hook(30, json!({"status": "delivered"})),
            hook(40, json!({"status": "submitted"})),
        ],
    );
    let app = app_with(&[vonage_section("vonage-viber", &mock.base, 1, false)], &[]).await;
    let id = app.send_flow(&viber_flow(&app)).await;
    wait_first_status(&app, &id, "SEEN").await;
    eventually(
        "all four webhooks answered",
        Duration::from_secs(10),
        || mock.webhook_answers().len() >= 4,
    )
    .await;
    assert_eq!(mock.webhook_answers(), vec![200; 4]);
    let t = app.tracking(&id).await;
    assert_eq!(status_of(&t["messages"][0]), "SEEN", "still seen: {t:#}");
    let reports: Vec<&Value> = app
        .events(&id)
        .await
        .into_iter()
        .filter(|e| e["type"] == "report")
        .collect::<Vec<_>>()
        .leak()
        .iter()
        .collect();
    assert_eq!(reports.len(), 4, "each one in the timeline");
    assert!(
        reports[1..].iter().all(|e| e["ignored"] == true),
        "{reports:#?}"
    );
}

#[tokio::test]
async fn rate_limits_and_outages_are_retried_with_the_same_reference() {
    let mock = MockProvider::start(Kind::Vonage { jwt: false }).await;
    mock.script(vec![
        Answer::Status(429, Some(1)),
        Answer::Status(503, None),
        Answer::Stall(Duration::from_millis(1500)),
    ]);
    mock.on(DIGITS, vec![hook(5, json!({"status": "delivered"}))]);
    let app = app_with(&[vonage_section("vonage-viber", &mock.base, 1, false)], &[]).await;
    let id = app.send_flow(&viber_flow(&app)).await;
    let t = app
        .wait_for(&id, Duration::from_secs(30), |t| t["status"] == "Succeeded")
        .await;
    assert_eq!(status_of(&t["messages"][0]), "DELIVERED");
    let requests = mock.requests();
    assert_eq!(
        requests.iter().map(|r| r.2).collect::<Vec<_>>(),
        vec![429, 503, 0, 202],
        "429, 5xx and a timeout, then taken"
    );
    assert!(
        requests[1].0 - requests[0].0 >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    let refs: Vec<&Value> = requests.iter().map(|r| &r.1["client_ref"]).collect();
    assert!(
        refs.iter().all(|r| *r == refs[0]),
        "the same client_ref every time"
    );
    let attempts = app
        .events(&id)
        .await
        .into_iter()
        .filter(|e| e["type"] == "provider_attempt")
        .count();
    assert_eq!(
        attempts, 3,
        "each attempt that did not take is in the timeline"
    );
}

#[tokio::test]
async fn a_verdict_on_the_message_fails_the_step_and_does_not_fail_over() {
    let first = MockProvider::start(Kind::Vonage { jwt: false }).await;
    let second = MockProvider::start(Kind::Infobip).await;
    let app = app_with(
        &[
            vonage_section("vonage-viber", &first.base, 1, false),
            infobip_section("infobip-viber", &second.base, 2),
        ],
        &[("CASCADE_PROVIDER_FAILOVER_AFTER_MS", "0")],
    )
    .await;
    first.script(vec![Answer::Status(422, None)]);
    let id = app
        .send_flow(&flow(vec![viber_step(1, &app.sender_id)]))
        .await;
    let t = app.wait_final(&id).await;
    let m = &t["messages"][0];
    assert_eq!(status_of(m), "FAILED", "{t:#}");
    assert_eq!(m["status"]["reason"]["detailedStatus"], "Message Rejected");
    let description = m["status"]["reason"]["description"].as_str().unwrap();
    assert!(
        description.starts_with("vonage-viber refused the message: Scripted failure"),
        "the provider's text: {description}"
    );
    assert_eq!(second.requests().len(), 0, "no failover on a 4xx verdict");
}

#[tokio::test]
async fn when_the_first_provider_is_down_the_second_delivers_and_the_first_recovers() {
    let first = MockProvider::start(Kind::Vonage { jwt: false }).await;
    let second = MockProvider::start(Kind::Infobip).await;
    first.script((0..5).map(|_| Answer::Status(503, None)).collect());
    second.on(DIGITS, vec![hook(5, json!({"status": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET", "description": "Delivered"}, "error": {"id": 0, "name": "NO_ERROR"}}))]);
    first.on(DIGITS, vec![hook(5, json!({"status": "delivered"}))]);
    let app = app_with(
        &[
            vonage_section("vonage-viber", &first.base, 1, false),
            infobip_section("infobip-viber", &second.base, 2),
        ],
        &[
            ("CASCADE_PROVIDER_FAILOVER_AFTER_MS", "0"),
            ("CASCADE_PROVIDER_COOLDOWN_MS", "1500"),
        ],
    )
    .await;
    // Five flows: each tries the first (503), fails over to the second; the fifth 503
    // opens the first's circuit.
    for _ in 0..5 {
        let id = app.send_flow(&viber_flow(&app)).await;
        let t = app.wait_final(&id).await;
        assert_eq!(status_of(&t["messages"][0]), "DELIVERED", "{t:#}");
        let submitted = app
            .events(&id)
            .await
            .into_iter()
            .find(|e| e["type"] == "submitted")
            .unwrap();
        assert_eq!(submitted["provider"], "infobip-viber");
    }
    let m = app.metrics().await;
    assert_eq!(
        m.get("cascade_provider_circuit_state{provider=\"vonage-viber\",state=\"open\"}"),
        Some(&1.0),
        "{m:#?}"
    );
    assert_eq!(m.get("cascade_provider_requests_total{provider=\"vonage-viber\",channel=\"Viber\",outcome=\"error\"}"), Some(&5.0));
    // While open, the first is skipped without a request.
    let id = app.send_flow(&viber_flow(&app)).await;
    app.wait_final(&id).await;
    assert_eq!(first.requests().len(), 5);
    assert!(
        app.events(&id)
            .await
            .iter()
            .any(|e| e["type"] == "provider_attempt" && e["detail"] == "skipped: circuit open")
    );
    // After the cool-down the first takes a trial request, succeeds, and is back.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let id = app.send_flow(&viber_flow(&app)).await;
    let t = app.wait_final(&id).await;
    assert_eq!(status_of(&t["messages"][0]), "DELIVERED");
    let submitted = app
        .events(&id)
        .await
        .into_iter()
        .find(|e| e["type"] == "submitted")
        .unwrap();
    assert_eq!(submitted["provider"], "vonage-viber");
    let m = app.metrics().await;
    assert_eq!(
        m.get("cascade_provider_circuit_state{provider=\"vonage-viber\",state=\"closed\"}"),
        Some(&1.0)
    );
}

#[tokio::test]
async fn refused_credentials_and_a_closed_port_fail_over_to_the_next_provider() {
    let first = MockProvider::start(Kind::Infobip).await;
    let second = MockProvider::start(Kind::Vonage { jwt: false }).await;
    second.on(DIGITS, vec![hook(5, json!({"status": "delivered"}))]);
    let wrong_key = infobip_section("infobip-viber", &first.base, 1).replace(INFOBIP_KEY, "wrong");
    let app = app_with(
        &[
            wrong_key,
            vonage_section("vonage-viber", &second.base, 2, false),
        ],
        &[],
    )
    .await;
    let id = app.send_flow(&viber_flow(&app)).await;
    let t = app.wait_final(&id).await;
    assert_eq!(status_of(&t["messages"][0]), "DELIVERED", "{t:#}");
    assert_eq!(first.requests()[0].2, 401);
    let m = app.metrics().await;
    assert_eq!(m.get("cascade_provider_requests_total{provider=\"infobip-viber\",channel=\"Viber\",outcome=\"unauthorized\"}"), Some(&1.0));

    // Connection refused, past the budget: the second takes it too.
    first.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let app2 = app_with(
        &[
            infobip_section("infobip-viber", &first.base, 1),
            vonage_section("vonage-viber", &second.base, 2, false),
        ],
        &[("CASCADE_PROVIDER_FAILOVER_AFTER_MS", "0")],
    )
    .await;
    let id = app2.send_flow(&viber_flow(&app2)).await;
    let t = app2.wait_final(&id).await;
    assert_eq!(status_of(&t["messages"][0]), "DELIVERED", "{t:#}");
}

#[tokio::test]
async fn infobip_reports_arrive_under_the_path_token_and_seen_follows_delivered() {
    let mock = MockProvider::start(Kind::Infobip).await;
    mock.on(
        DIGITS,
        vec![
            hook(5, json!({"doneAt": "2026-12-05T10:00:01.000+0000", "price": {"pricePerMessage": 0.01, "currency": "EUR"}, "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET", "description": "Delivered"}, "error": {"id": 0, "name": "NO_ERROR"}})),
            hook(10, json!({"seenAt": "2026-12-05T10:00:02.000+0000"})),
        ],
    );
    let app = app_with(&[infobip_section("infobip-viber", &mock.base, 1)], &[]).await;
    let mut step = viber_step(1, &app.sender_id);
    step["expireOnDelivery"] = json!(true);
    let id = app.send_flow(&flow(vec![step])).await;
    let t = wait_first_status(&app, &id, "SEEN").await;
    let body = &mock.requests()[0].1["messages"][0];
    assert_eq!(body["sender"], "brand-77", "the mapped sender");
    assert_eq!(body["destinations"][0]["to"], DIGITS);
    assert_eq!(
        body["destinations"][0]["messageId"],
        t["messages"][0]["trackingId"]
    );
    assert_eq!(body["options"]["validityPeriod"]["timeUnit"], "SECONDS");
    assert!(
        body["webhooks"]["delivery"]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/webhooks/infobip-viber/{INFOBIP_TOKEN}"))
    );
    assert_eq!(t["status"], "Succeeded", "{t:#}");

    let r = app
        .client
        .post(app.url("/webhooks/infobip-viber/not-the-token-0123456789"))
        .header("content-type", "application/json")
        .body(
            json!({"results": [{"messageId": "x", "seenAt": "2026-12-05T10:00:02.000+0000"}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A reply forwarded by Infobip to the same URL is matched to the flow.
    let reply = json!({"results": [{"sender": DIGITS, "to": "brand-77", "integrationType": "VIBER",
        "receivedAt": "2026-12-05T10:00:03.000+0000", "messageId": "in-1",
        "message": {"type": "TEXT", "text": "STOP"}}], "messageCount": 1, "pendingMessageCount": 0});
    let r = app
        .client
        .post(app.url(&format!("/webhooks/infobip-viber/{INFOBIP_TOKEN}")))
        .header("content-type", "application/json")
        .body(reply.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let listed = admin_inbound(&app, "").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["trackingId"], id);
    assert_eq!(listed[0]["text"], "STOP");
}

#[tokio::test]
async fn infobip_answers_a_resent_message_id_as_a_duplicate_and_that_counts_as_sent() {
    let mock = MockProvider::start(Kind::Infobip).await;
    let app = app_with(&[infobip_section("infobip-viber", &mock.base, 1)], &[]).await;
    // The first request is taken but its answer is lost (it stalls past the timeout);
    // the retry carries the same messageId and Infobip answers it is a duplicate.
    mock.script(vec![Answer::Stall(Duration::from_millis(1500))]);
    let id = app.send_flow(&viber_flow(&app)).await;
    let t = wait_first_status(&app, &id, "SENT").await;
    let requests = mock.requests();
    assert!(requests.len() >= 2, "sent again after the timeout");
    let ids: Vec<&Value> = requests
        .iter()
        .map(|r| &r.1["messages"][0]["destinations"][0]["messageId"])
        .collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "the same messageId");
    assert_eq!(t["messages"][0]["trackingId"], *ids[0]);
}

/// A tiny HTTP receiver for `inboundUrl`: records each body and its headers.
struct Inbox {
    url: String,
    got: std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Inbox {
    async fn start() -> Inbox {
        type Got = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, Value)>>>;
        let got: Got = Default::default();
        let app = axum::Router::new()
            .route(
                "/inbound",
                axum::routing::post(
                    |axum::extract::State(got): axum::extract::State<Got>,
                     headers: axum::http::HeaderMap,
                     body: axum::body::Bytes| async move {
                        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        got.lock().unwrap().push((headers, v));
                        StatusCode::OK
                    },
                ),
            )
            .with_state(std::sync::Arc::clone(&got));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/inbound", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Inbox { url, got, task }
    }

    async fn wait_for(&self, n: usize) -> Vec<(axum::http::HeaderMap, Value)> {
        eventually(
            &format!("{n} inbound posts"),
            Duration::from_secs(15),
            || self.got.lock().unwrap().len() >= n,
        )
        .await;
        self.got.lock().unwrap().clone()
    }
}

async fn post_vonage_webhook(app: &TestApp, body: &Value) -> reqwest::Response {
    let bytes = serde_json::to_vec(body).unwrap();
    let (name, value) = vonage_sign(&bytes);
    app.client
        .post(app.url("/webhooks/vonage-viber"))
        .header("content-type", "application/json")
        .header(name, value)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn admin_inbound(app: &TestApp, query: &str) -> Vec<Value> {
    let r = app
        .client
        .get(app.url(&format!("/admin/inbound{query}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["inbound"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_viber_reply_reaches_the_inbound_url_and_an_unmatched_one_is_only_listed() {
    let inbox = Inbox::start().await;
    let mock = MockProvider::start(Kind::Vonage { jwt: false }).await;
    mock.on(DIGITS, vec![hook(5, json!({"status": "delivered"}))]);
    let app = app_with(
        &[vonage_section("vonage-viber", &mock.base, 1, false)],
        &[("CASCADE_ALLOW_PRIVATE_CALLBACKS", "1")],
    )
    .await;
    let mut step = viber_step(1, &app.sender_id);
    step["inboundUrl"] = json!(inbox.url);
    let id = app.send_flow(&flow(vec![step])).await;
    let t = app.wait_final(&id).await;
    let reply = json!({
        "channel": "viber_service", "message_uuid": uuid::Uuid::new_v4().to_string(),
        "to": "TestBrand", "from": DIGITS, "timestamp": "2026-12-05T10:00:00Z",
        "message_type": "text", "text": "STOP"
    });
    let r = post_vonage_webhook(&app, &reply).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["inbound"], 1);

    let got = inbox.wait_for(1).await;
    let (headers, body) = &got[0];
    assert_eq!(
        *body,
        json!({
            "trackingId": id, "messageTrackingId": t["messages"][0]["trackingId"],
            "type": "Viber", "from": PHONE, "to": "TestBrand", "text": "STOP",
            "receivedAt": "2026-12-05T10:00:00.000Z", "provider": "vonage-viber"
        })
    );
    assert!(
        headers.contains_key("x-cascade-signature"),
        "signed like callbacks"
    );
    assert!(headers.contains_key("x-cascade-event-id"));
    let inbound_line = app
        .events(&id)
        .await
        .into_iter()
        .find(|e| e["type"] == "inbound");
    assert_eq!(inbound_line.expect("in the timeline")["detail"], "STOP");

    // Vonage sends the same reply again (its answer was lost): recorded once.
    let r = post_vonage_webhook(&app, &reply).await;
    assert_eq!(r.status(), StatusCode::OK, "a repeat is acknowledged");
    // A reply to another sender from the same number answers no step of this flow.
    let to_another_brand = json!({
        "channel": "viber_service", "message_uuid": uuid::Uuid::new_v4().to_string(),
        "to": "OtherBrand", "from": DIGITS, "timestamp": "2026-12-05T10:00:00Z",
        "message_type": "text", "text": "not for TestBrand"
    });
    assert_eq!(
        post_vonage_webhook(&app, &to_another_brand).await.status(),
        StatusCode::OK
    );

    // A reply from a number Cascade never wrote to: listed, nothing posted or changed.
    let stranger = json!({
        "channel": "viber_service", "message_uuid": uuid::Uuid::new_v4().to_string(),
        "to": "TestBrand", "from": "306999999999", "timestamp": "2026-12-05T10:00:01Z",
        "message_type": "text", "text": "who is this"
    });
    assert_eq!(
        post_vonage_webhook(&app, &stranger).await.status(),
        StatusCode::OK
    );
    let all = admin_inbound(&app, "").await;
    assert_eq!(all.len(), 3, "the repeat was not kept twice: {all:#?}");
    assert_eq!(all[0]["from"], "+306999999999", "newest first");
    assert_eq!(all[0]["trackingId"], Value::Null);
    assert_eq!(all[0]["forwarded"], false);
    let other = all.iter().find(|m| m["to"] == "OtherBrand").unwrap();
    assert_eq!(
        other["trackingId"],
        Value::Null,
        "another sender's reply is not this flow's"
    );
    let stop = all.iter().find(|m| m["text"] == "STOP").unwrap();
    assert_eq!(stop["trackingId"], id);
    assert_eq!(stop["forwarded"], true);
    let only = admin_inbound(&app, "?from=%2B306999999999").await;
    assert_eq!(only.len(), 1);
    assert_eq!(
        admin_inbound(&app, "?since=2026-12-05T10:00:01Z")
            .await
            .len(),
        1
    );
    let r = app
        .client
        .get(app.url("/admin/inbound?since=yesterday"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A second reply to the flow, after the others: once it has arrived, anything posted
    // for the repeat, the other sender or the stranger would have arrived before it.
    let again = json!({
        "channel": "viber_service", "message_uuid": uuid::Uuid::new_v4().to_string(),
        "to": "TestBrand", "from": DIGITS, "timestamp": "2026-12-05T10:00:02Z",
        "message_type": "text", "text": "AGAIN"
    });
    assert_eq!(
        post_vonage_webhook(&app, &again).await.status(),
        StatusCode::OK
    );
    let got = inbox.wait_for(2).await;
    let texts: Vec<&str> = got
        .iter()
        .map(|(_, b)| b["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["STOP", "AGAIN"], "in order, and nothing else");
    let m = app.metrics().await;
    assert_eq!(
        m.get("cascade_inbound_total{channel=\"Viber\",matched=\"true\"}"),
        Some(&2.0)
    );
    assert_eq!(
        m.get("cascade_inbound_total{channel=\"Viber\",matched=\"false\"}"),
        Some(&2.0)
    );
}

#[tokio::test]
async fn a_sandbox_scenario_scripts_replies_for_viber_and_over_smpp_for_sms() {
    let inbox = Inbox::start().await;
    let app = spawn_app_with(&[("CASCADE_ALLOW_PRIVATE_CALLBACKS", "1")]).await;
    // Viber: delivered, then the recipient answers; SMS: the sandbox SMSC sends the
    // reply as a mobile-originated deliver_sm from the handset to the sender.
    app.scenario(json!({"channel": "Viber", "to": PHONE, "events": [
        {"afterMs": 5, "status": "DELIVERED"}, {"afterMs": 30, "inbound": "STOP"}]}))
        .await;
    app.scenario(json!({"channel": "Sms", "to": "+306911111111", "events": [
        {"afterMs": 5, "status": "Delivered"}, {"afterMs": 30, "inbound": "Ναι"}]}))
        .await;
    let mut viber = viber_step(1, &app.sender_id);
    viber["inboundUrl"] = json!(inbox.url);
    let viber_id = app.send_flow(&flow(vec![viber])).await;
    let mut sms = sms_step(1, "Reply YES");
    sms["to"] = json!("+306911111111");
    sms["inboundUrl"] = json!(inbox.url);
    let sms_id = app.send_flow(&flow(vec![sms])).await;

    let got = inbox.wait_for(2).await;
    let by_flow = |id: &str| {
        got.iter()
            .map(|(_, b)| b)
            .find(|b| b["trackingId"] == id)
            .unwrap_or_else(|| panic!("a reply for {id}: {got:?}"))
            .clone()
    };
    let v = by_flow(&viber_id);
    assert_eq!(
        (
            v["type"].as_str(),
            v["text"].as_str(),
            v["from"].as_str(),
            v["to"].as_str()
        ),
        (Some("Viber"), Some("STOP"), Some(PHONE), Some("TestBrand"))
    );
    let s = by_flow(&sms_id);
    assert_eq!(
        (
            s["type"].as_str(),
            s["text"].as_str(),
            s["from"].as_str(),
            s["to"].as_str()
        ),
        (
            Some("Sms"),
            Some("Ναι"),
            Some("+306911111111"),
            Some("Cascade")
        )
    );
    let listed = admin_inbound(&app, "").await;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|m| m["forwarded"] == true));

    // A bad scripted reply is refused in the error shape, and stores nothing.
    let r = app
        .client
        .post(app.url("/sandbox/scenarios"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"channel": "Viber", "to": PHONE, "events": [{"inbound": "x", "status": "DELIVERED"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.unwrap();
    assert!(e["properties"]["events[0].inbound"].is_string(), "{e}");
    let r = app
        .client
        .post(app.url("/sandbox/scenarios"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"channel": "Voice", "to": PHONE, "events": [{"inbound": "hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.scenarios().await.len(),
        2,
        "nothing stored by the refused ones"
    );
}

/// A reply scripted at once races the write that records the step as sent: the
/// provider (here the sandbox) answers right after accepting the message, before the
/// dispatcher's "sent" has committed. The reply still belongs to the step being
/// submitted, and reaches its `inboundUrl`.
#[tokio::test]
async fn a_reply_that_overtakes_the_steps_sent_write_is_still_matched() {
    let inbox = Inbox::start().await;
    let app = spawn_app_with(&[("CASCADE_ALLOW_PRIVATE_CALLBACKS", "1")]).await;
    const FLOWS: usize = 6;
    let mut ids = Vec::new();
    for i in 0..FLOWS {
        let to = format!("+30691000000{i}");
        let (channel, delivered) = if i % 2 == 0 {
            ("Sms", "Delivered")
        } else {
            ("Viber", "DELIVERED")
        };
        app.scenario(json!({"channel": channel, "to": to, "events": [
            {"afterMs": 0, "inbound": format!("reply {i}")},
            {"afterMs": 5, "status": delivered}]}))
            .await;
        let mut step = if i % 2 == 0 {
            sms_step(1, "Reply YES")
        } else {
            viber_step(1, &app.sender_id)
        };
        step["to"] = json!(to);
        step["inboundUrl"] = json!(inbox.url);
        ids.push(app.send_flow(&flow(vec![step])).await);
    }
    // Every reply is stored (matched or not) before it is forwarded: wait for all of
    // them, then say which were left unmatched.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let listed = loop {
        let listed = admin_inbound(&app, "").await;
        if listed.len() >= FLOWS || tokio::time::Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(listed.len(), FLOWS, "{listed:?}");
    let unmatched: Vec<_> = listed.iter().filter(|m| m["forwarded"] != true).collect();
    assert!(unmatched.is_empty(), "left unmatched: {unmatched:?}");
    let got = inbox.wait_for(FLOWS).await;
    for (i, id) in ids.iter().enumerate() {
        let body = got
            .iter()
            .map(|(_, b)| b)
            .find(|b| b["trackingId"] == id.as_str())
            .unwrap_or_else(|| panic!("the reply of flow {i} ({id}): {got:?}"));
        assert_eq!(body["text"], format!("reply {i}"));
    }
}

/// Replies one after the other, each sent when the sandbox owes nothing else: every one
/// is stored. (A reply was told apart from a repeat by its report row's number, which
/// SQLite gives out again once the table is empty: the second reply was taken for a
/// repeat of the first and dropped.)
#[tokio::test]
async fn sandbox_replies_sent_when_nothing_else_is_owed_are_each_stored() {
    let inbox = Inbox::start().await;
    let app = spawn_app_with(&[("CASCADE_ALLOW_PRIVATE_CALLBACKS", "1")]).await;
    for i in 0..3_usize {
        let to = format!("+30692000000{i}");
        app.scenario(json!({"channel": "Viber", "to": to, "events": [
            {"afterMs": 0, "inbound": format!("reply {i}")},
            {"afterMs": 5, "status": "DELIVERED"}]}))
            .await;
        let mut step = viber_step(1, &app.sender_id);
        step["to"] = json!(to);
        step["inboundUrl"] = json!(inbox.url);
        let id = app.send_flow(&flow(vec![step])).await;
        // Both of the message's reports delivered: the sandbox owes nothing now.
        let done = app.wait_final(&id).await;
        assert_eq!(done["status"], "Succeeded", "{done}");
        let got = inbox.wait_for(i + 1).await;
        assert!(
            got.iter()
                .any(|(_, b)| b["trackingId"] == id.as_str() && b["text"] == format!("reply {i}")),
            "reply {i} of {id}: {got:?}"
        );
    }
    let listed = admin_inbound(&app, "").await;
    assert_eq!(listed.len(), 3, "{listed:?}");
}

/// `cascade serve` as its own process, so it can be killed with SIGKILL.
async fn serve(
    dir: &std::path::Path,
    database: &str,
    port: u16,
    config: &str,
) -> tokio::process::Child {
    use tokio::io::AsyncBufReadExt;
    let path = dir.join("cascade.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cascade"))
        .arg("serve")
        .env("CASCADE_CONFIG", &path)
        .env("CASCADE_LISTEN", format!("127.0.0.1:{port}"))
        .env("CASCADE_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("CASCADE_SANDBOX_SMPP_LISTEN", "127.0.0.1:0")
        .env("CASCADE_DATABASE_URL", database)
        // PostgreSQL: a killed node's work is taken over two seconds after its last
        // heartbeat (SQLite ignores it: its next server voids the leases at start).
        .env("CASCADE_LEASE_MS", "2000")
        .env("CASCADE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the cascade binary starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("cascade: listening on ") {
                return;
            }
        }
        panic!("cascade exited before listening");
    })
    .await
    .expect("cascade listens within a minute");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

async fn admin_json(base: &str, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test]
async fn kill_9_between_the_provider_taking_a_message_and_cascade_recording_it_resends_with_the_same_reference()
 {
    let mock = MockProvider::start(Kind::Vonage { jwt: false }).await;
    // The first request is taken but answered only after the process is dead.
    mock.script(vec![Answer::Stall(Duration::from_secs(20))]);
    mock.on(DIGITS, vec![hook(5, json!({"status": "delivered"}))]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = vonage_section("vonage-viber", &mock.base, 1, false);
    let database = fresh_database_url(dir.path()).await;
    let mut first = serve(dir.path(), &database, port, &config).await;

    let account = admin_json(
        &base,
        "/admin/accounts",
        json!({"name": "k9", "balance": 100}),
    )
    .await["accountId"]
        .as_str()
        .unwrap()
        .to_owned();
    let app = admin_json(
        &base,
        &format!("/admin/accounts/{account}/applications"),
        json!({"name": "k9"}),
    )
    .await;
    let (app_id, secret) = (
        app["applicationId"].as_str().unwrap().to_owned(),
        app["secret"].as_str().unwrap().to_owned(),
    );
    let sender = admin_json(
        &base,
        &format!("/admin/accounts/{account}/viber-senders"),
        json!({"name": "TestBrand"}),
    )
    .await["senderInfoTrackingId"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let t = token_at(&base, &app_id, &secret).await;
    let id = http
        .post(format!("{base}/failover"))
        .bearer_auth(&t)
        .json(&json!({"flow": [viber_step(1, &sender)]}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["trackingId"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(
        "the first request reached the provider",
        Duration::from_secs(15),
        || !mock.requests().is_empty(),
    )
    .await;
    first.kill().await.expect("kill -9");

    let _second = serve(dir.path(), &database, port, &config).await;
    let t = token_at(&base, &app_id, &secret).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let tracking = loop {
        let tracking: Value = http
            .get(format!("{base}/failover/tracking/{id}"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if tracking["status"] == "Succeeded" {
            break tracking;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not finished after the restart: {tracking:#}\nrequests to the mock: {:?}\nwebhook answers: {:?}",
            mock.requests().iter().map(|r| r.2).collect::<Vec<_>>(),
            mock.webhook_answers()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let requests = mock.requests();
    assert_eq!(requests.len(), 2, "sent once more after the crash");
    assert_eq!(requests[0].1["client_ref"], requests[1].1["client_ref"]);
    assert_eq!(
        requests[1].1["client_ref"],
        tracking["messages"][0]["trackingId"]
    );
}

#[tokio::test]
async fn an_smsc_that_is_down_fails_over_to_the_next_one_by_priority() {
    let dir = tempfile::tempdir().unwrap();
    let (_sim, sim_port, _admin) = crate::interop::start_smsc_sim(dir.path()).await;
    let closed = free_port(); // nothing listens here: connections are refused
    let toml = format!(
        "[[smsc]]\nname = \"primary\"\nhost = \"127.0.0.1\"\nport = {closed}\nsystem_id = \"cascade\"\npriority = 1\n\n\
         [[smsc]]\nname = \"backup\"\nhost = \"127.0.0.1\"\nport = {sim_port}\nsystem_id = \"cascade\"\npriority = 2\n"
    );
    let app = spawn_app_with_file(&toml, &[("CASCADE_PROVIDER_FAILOVER_AFTER_MS", "0")]).await;
    let id = app
        .send_flow(&flow(vec![sms_step(1, "Your code is 1234")]))
        .await;
    // The primary has no bind up: the backup takes the message at once.
    let t = app
        .wait_for(&id, Duration::from_secs(15), |t| t["status"] == "Succeeded")
        .await;
    assert_eq!(status_of(&t["messages"][0]), "Delivered");
    let events = app.events(&id).await;
    let attempt = events
        .iter()
        .find(|e| e["type"] == "provider_attempt")
        .expect("the primary's attempt is in the timeline");
    assert_eq!(attempt["provider"], "primary");
    assert_eq!(attempt["detail"], "skipped: not connected");
    let submitted = events.iter().find(|e| e["type"] == "submitted").unwrap();
    assert_eq!(submitted["provider"], "smsc:backup");
}

#[tokio::test]
async fn a_provider_that_never_reports_is_decided_by_the_ttl() {
    let mock = MockProvider::start(Kind::Vonage { jwt: false }).await;
    // No webhooks scripted: Vonage takes the message and is never heard of again.
    let app = app_with(&[vonage_section("vonage-viber", &mock.base, 1, false)], &[]).await;
    let mut viber = viber_step(1, &app.sender_id);
    viber["ttl"] = json!(0.5); // the shortest Viber TTL: 30 s, real minutes with a provider
    let id = app
        .send_flow(&flow(vec![viber, sms_step(2, "Fallback")]))
        .await;
    let t = app
        .wait_for(&id, Duration::from_secs(60), |t| t["status"] == "Succeeded")
        .await;
    assert_eq!(status_of(&t["messages"][0]), "EXPIRED", "{t:#}");
    assert_eq!(
        status_of(&t["messages"][1]),
        "Delivered",
        "the SMS step took over"
    );
    let body = &mock.requests()[0].1;
    assert_eq!(
        body["viber_service"]["ttl"], 30,
        "the provider was given the same TTL"
    );
}
