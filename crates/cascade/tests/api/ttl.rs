//! TTL expiry (§4): an SMS step nobody reports on becomes `Undelivered` / `Expired`, a
//! Viber step `EXPIRED` / `TTL Expired`, and with `expireOnDelivery` a Viber message that
//! is DELIVERED but never SEEN expires too — only then does the flow move on. A TTL
//! minute lasts `CASCADE_SANDBOX_MINUTE_MS` so these paths run in well under a second.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

const OTHER_PHONE: &str = "+306900000002";

/// Milliseconds since the epoch of an RFC 3339 time printed by the API.
fn millis(v: &Value) -> i64 {
    let text = v.as_str().unwrap_or_else(|| panic!("a time, got {v}"));
    cascade_core::Timestamp::parse(text)
        .unwrap_or_else(|_| panic!("{text} is not RFC 3339"))
        .as_millis()
}

/// RFC 3339 UTC with milliseconds and a `Z`, e.g. `2026-03-01T09:15:02.113Z`.
fn is_rfc3339_ms_z(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

fn entries<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// Every tracking snapshot seen while polling until the flow is final (the last one is final).
async fn snapshots_until_final(app: &TestApp, id: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let t = app.tracking(id).await;
        let done = matches!(t["status"].as_str(), Some("Succeeded" | "Failed"));
        seen.push(t);
        if done {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "flow {id} not final within 20 s; last: {:#}",
            seen.last().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_sms_nobody_reports_on_expires_after_its_ttl_and_the_flow_fails_over() {
    let app = spawn_app_with(&[("CASCADE_SANDBOX_MINUTE_MS", "100")]).await;
    app.scenario(json!({"channel": "Sms", "to": PHONE, "events": []}))
        .await;
    let mut sms = sms_step(1, "Hello");
    sms["ttl"] = json!(1);
    let id = app.send_flow(&flow(vec![sms, voice_step(2)])).await;

    let t = app.wait_final(&id).await;

    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Voice");
    assert_eq!(t["statusCode"], Value::Null);
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    let sms = &messages[0];
    assert_eq!(sms["type"], "Sms");
    assert_eq!(status_of(sms), "Undelivered");
    assert_eq!(sms["status"]["reason"]["detailedStatus"], "Expired");
    assert_eq!(sms["ttl"], 1);
    assert_eq!(status_of(&messages[1]), "Completed");

    let events = app.events(&id).await;
    let expired = entries(&events, "ttl_expired");
    assert_eq!(expired.len(), 1, "one ttl_expired entry: {events:#?}");
    assert_eq!(expired[0]["order"], 1);
    // The expiry comes before the next step starts.
    let pos = |pred: &dyn Fn(&Value) -> bool| events.iter().position(pred).unwrap();
    assert!(
        pos(&|e| e["type"] == "ttl_expired")
            < pos(&|e| e["type"] == "step_started" && e["order"] == 2),
        "{events:#?}"
    );
}

#[tokio::test]
async fn an_sms_is_not_expired_before_its_ttl_has_elapsed() {
    // 2 TTL minutes of 200 ms: the message may not expire before 400 ms after it was sent.
    let app = spawn_app_with(&[("CASCADE_SANDBOX_MINUTE_MS", "200")]).await;
    app.scenario(json!({"channel": "Sms", "to": PHONE, "events": []}))
        .await;
    let mut sms = sms_step(1, "Hello");
    sms["ttl"] = json!(2);
    let ttl_ms: i64 = 400;

    let started = Instant::now();
    let id = app.send_flow(&flow(vec![sms, voice_step(2)])).await;
    let first = app.tracking(&id).await;
    let read_within = started.elapsed();

    // Whatever the first read shows, nothing may be final yet if it was answered before the
    // TTL could possibly have elapsed (the send happens after the request started).
    if read_within < Duration::from_millis(ttl_ms as u64) {
        assert!(
            matches!(first["status"].as_str(), Some("Queued" | "InProgress")),
            "{first:#}"
        );
        let messages = first["messages"].as_array().unwrap();
        assert!(messages.len() <= 1, "{first:#}");
        if let Some(m) = messages.first() {
            assert!(
                matches!(status_of(m), "Queued" | "Sent"),
                "the SMS must not be final before its TTL: {first:#}"
            );
        }
    }

    let t = app.wait_final(&id).await;
    let sms = &t["messages"][0];
    assert_eq!(status_of(sms), "Undelivered");
    assert_eq!(sms["status"]["reason"]["detailedStatus"], "Expired");
    assert!(
        millis(&sms["status"]["updatedDate"]) - millis(&sms["createdAt"]) >= ttl_ms,
        "expired before its TTL: {sms:#}"
    );
    // The server's own record: the expiry is at least one TTL after the submission.
    let events = app.events(&id).await;
    let submitted = entries(&events, "submitted")
        .into_iter()
        .find(|e| e["order"] == 1)
        .expect("the SMS was submitted");
    let expired = entries(&events, "ttl_expired");
    assert_eq!(expired.len(), 1, "{events:#?}");
    assert!(
        millis(&expired[0]["at"]) - millis(&submitted["at"]) >= ttl_ms,
        "expired early: {events:#?}"
    );
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Voice");
}

#[tokio::test]
async fn a_viber_message_never_delivered_expires_with_ttl_expired() {
    let app = spawn_app_with(&[("CASCADE_SANDBOX_MINUTE_MS", "200")]).await;
    app.scenario(json!({"channel": "Viber", "to": PHONE, "events": []}))
        .await;
    let mut viber = viber_step(1, &app.sender_id);
    viber["ttl"] = json!(0.5);
    let id = app
        .send_flow(&flow(vec![viber, sms_step(2, "Fallback")]))
        .await;

    let t = app.wait_final(&id).await;

    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Sms");
    let viber = &t["messages"][0];
    assert_eq!(viber["type"], "Viber");
    assert_eq!(viber["ttl"], 0.5);
    assert_eq!(status_of(viber), "EXPIRED");
    assert_eq!(viber["status"]["reason"]["detailedStatus"], "TTL Expired");
    assert!(
        viber.get("expiredOnDeliveryAt").is_none(),
        "never delivered, so not expired on delivery: the key is absent"
    );
    // 0.5 of a 200 ms minute.
    assert!(millis(&viber["status"]["updatedDate"]) - millis(&viber["createdAt"]) >= 100);
    assert_eq!(status_of(&t["messages"][1]), "Delivered");
    let events = app.events(&id).await;
    let expired = entries(&events, "ttl_expired");
    assert_eq!(expired.len(), 1, "{events:#?}");
    assert_eq!(expired[0]["order"], 1);
}

#[tokio::test]
async fn expire_on_delivery_without_seen_expires_and_only_then_fails_over() {
    // 2 minutes of 200 ms: DELIVERED arrives at 5 ms, SEEN never.
    let app = spawn_app_with(&[("CASCADE_SANDBOX_MINUTE_MS", "200")]).await;
    app.scenario(
        json!({"channel": "Viber", "to": PHONE, "events": [{"afterMs": 5, "status": "DELIVERED"}]}),
    )
    .await;
    let mut viber = viber_step(1, &app.sender_id);
    viber["ttl"] = json!(2);
    viber["expireOnDelivery"] = json!(true);
    let id = app
        .send_flow(&flow(vec![viber, sms_step(2, "Fallback")]))
        .await;

    let snapshots = snapshots_until_final(&app, &id).await;

    for t in &snapshots {
        let messages = t["messages"].as_array().unwrap();
        if messages.len() > 1 {
            assert_eq!(
                status_of(&messages[0]),
                "EXPIRED",
                "the next step started before the Viber message expired: {t:#}"
            );
        }
        if status_of(&messages[0]) == "DELIVERED" {
            assert_eq!(
                t["status"], "InProgress",
                "DELIVERED is not final here: {t:#}"
            );
            assert_eq!(messages.len(), 1, "{t:#}");
        }
    }
    let t = snapshots.last().unwrap();
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Sms");
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    let viber = &messages[0];
    assert_eq!(status_of(viber), "EXPIRED");
    assert_eq!(viber["expireOnDelivery"], true);
    let at = viber["expiredOnDeliveryAt"]
        .as_str()
        .unwrap_or_else(|| panic!("expiredOnDeliveryAt must be set: {viber:#}"));
    assert!(is_rfc3339_ms_z(at), "{at}");
    assert!(
        millis(&viber["expiredOnDeliveryAt"]) - millis(&viber["createdAt"]) >= 400,
        "expired before its TTL: {viber:#}"
    );
    let sms = &messages[1];
    assert!(
        millis(&sms["createdAt"]) >= millis(&viber["expiredOnDeliveryAt"]),
        "the SMS step started before the expiry: {t:#}"
    );
    assert_eq!(status_of(sms), "Delivered");

    let events = app.events(&id).await;
    let pos = |pred: &dyn Fn(&Value) -> bool| {
        events
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("missing entry in {events:#?}"))
    };
    let delivered = pos(&|e| e["type"] == "report" && e["status"] == "DELIVERED");
    let expired = pos(&|e| e["type"] == "ttl_expired" && e["order"] == 1);
    let next = pos(&|e| e["type"] == "step_started" && e["order"] == 2);
    assert!(delivered < expired && expired < next, "{events:#?}");
}

#[tokio::test]
async fn expire_on_delivery_succeeds_on_seen() {
    let app = spawn_app_with(&[("CASCADE_SANDBOX_MINUTE_MS", "200")]).await;
    app.scenario(json!({"channel": "Viber", "to": PHONE, "events": [
        {"afterMs": 5, "status": "DELIVERED"},
        {"afterMs": 30, "status": "SEEN"}
    ]}))
    .await;
    let mut viber = viber_step(1, &app.sender_id);
    viber["ttl"] = json!(2);
    viber["expireOnDelivery"] = json!(true);
    let id = app
        .send_flow(&flow(vec![viber, sms_step(2, "Fallback")]))
        .await;

    let t = app.wait_final(&id).await;

    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Viber");
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "the SMS step never starts");
    assert_eq!(status_of(&messages[0]), "SEEN");
    assert_eq!(messages[0]["expireOnDelivery"], true);
    assert!(messages[0].get("expiredOnDeliveryAt").is_none());
    let events = app.events(&id).await;
    assert!(entries(&events, "ttl_expired").is_empty(), "{events:#?}");
}

#[tokio::test]
async fn without_expire_on_delivery_delivered_alone_succeeds_and_never_expires() {
    let app = spawn_app_with(&[("CASCADE_SANDBOX_MINUTE_MS", "200")]).await;
    let delivered_only = json!([{"afterMs": 5, "status": "DELIVERED"}]);
    app.scenario(json!({"channel": "Viber", "to": OTHER_PHONE, "events": delivered_only}))
        .await;
    app.scenario(json!({"channel": "Viber", "to": PHONE, "events": delivered_only}))
        .await;
    // The plain flow starts first, with the same TTL as an expireOnDelivery flow started
    // after it: once the latter has expired, the former's TTL has passed as well.
    let mut plain = viber_step(1, &app.sender_id);
    plain["to"] = json!(OTHER_PHONE);
    plain["ttl"] = json!(1);
    let plain_id = app
        .send_flow(&flow(vec![plain, sms_step(2, "Fallback")]))
        .await;
    let mut eod = viber_step(1, &app.sender_id);
    eod["ttl"] = json!(1);
    eod["expireOnDelivery"] = json!(true);
    let eod_id = app.send_flow(&flow(vec![eod])).await;

    let t = app.wait_final(&plain_id).await;
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Viber");
    assert_eq!(t["messages"].as_array().unwrap().len(), 1);
    assert_eq!(status_of(&t["messages"][0]), "DELIVERED");
    assert_eq!(t["messages"][0]["expireOnDelivery"], false);
    assert!(t["messages"][0].get("expiredOnDeliveryAt").is_none());

    let eod = app.wait_final(&eod_id).await;
    assert_eq!(eod["status"], "Failed", "{eod:#}");
    assert_eq!(eod["statusCode"], "2");
    assert_eq!(status_of(&eod["messages"][0]), "EXPIRED");

    let t = app.tracking(&plain_id).await;
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(status_of(&t["messages"][0]), "DELIVERED", "{t:#}");
    assert_eq!(t["messages"].as_array().unwrap().len(), 1);
    let events = app.events(&plain_id).await;
    assert!(entries(&events, "ttl_expired").is_empty(), "{events:#?}");
}

#[tokio::test]
async fn expire_on_delivery_never_delivered_expires_without_expired_on_delivery_at() {
    let app = spawn_app_with(&[("CASCADE_SANDBOX_MINUTE_MS", "200")]).await;
    app.scenario(json!({"channel": "Viber", "to": PHONE, "events": []}))
        .await;
    let mut viber = viber_step(1, &app.sender_id);
    viber["ttl"] = json!(0.5);
    viber["expireOnDelivery"] = json!(true);
    let id = app
        .send_flow(&flow(vec![viber, sms_step(2, "Fallback")]))
        .await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Sms");
    let viber = &t["messages"][0];
    assert_eq!(status_of(viber), "EXPIRED");
    assert_eq!(viber["status"]["reason"]["detailedStatus"], "TTL Expired");
    assert!(
        viber.get("expiredOnDeliveryAt").is_none(),
        "it was never delivered: {viber:#}"
    );
}

#[tokio::test]
async fn expire_on_delivery_does_not_hold_back_a_failure() {
    // UNDELIVERED is final whatever expireOnDelivery says: no waiting for the TTL (which is
    // 1200 minutes of 60 s here).
    let app = spawn_app().await;
    app.scenario(json!({"channel": "Viber", "to": PHONE, "events": [
        {"afterMs": 5, "status": "UNDELIVERED"}
    ]}))
    .await;
    let mut viber = viber_step(1, &app.sender_id);
    viber["ttl"] = json!(1200);
    viber["expireOnDelivery"] = json!(true);
    let id = app
        .send_flow(&flow(vec![viber, sms_step(2, "Fallback")]))
        .await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Sms");
    assert_eq!(status_of(&t["messages"][0]), "UNDELIVERED");
    assert!(t["messages"][0].get("expiredOnDeliveryAt").is_none());
}

#[tokio::test]
async fn every_part_of_an_unreported_multipart_sms_expires_and_the_flow_fails_over_once() {
    let app = spawn_app_with(&[("CASCADE_SANDBOX_MINUTE_MS", "100")]).await;
    app.scenario(json!({"channel": "Sms", "to": PHONE, "events": []}))
        .await;
    let mut sms = sms_step(1, &"x".repeat(200));
    sms["ttl"] = json!(1);
    let id = app.send_flow(&flow(vec![sms, voice_step(2)])).await;

    let t = app.wait_final(&id).await;

    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Voice");
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "two parts, then the call: {t:#}");
    for part in &messages[..2] {
        assert_eq!(status_of(part), "Undelivered");
        assert_eq!(part["status"]["reason"]["detailedStatus"], "Expired");
    }
    let events = app.events(&id).await;
    assert_eq!(entries(&events, "ttl_expired").len(), 1, "{events:#?}");
    let started: Vec<_> = entries(&events, "step_started")
        .iter()
        .map(|e| e["order"].clone())
        .collect();
    assert_eq!(started, [json!(1), json!(2)], "{events:#?}");
}
