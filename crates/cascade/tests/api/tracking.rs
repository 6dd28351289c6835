//! The tracking object (§5 and the seed document `retrieve-failover-trackings.txt`): the
//! exact root keys, the members of each channel's messages, times, the state of a flow
//! still running, and the timeline at `/failover/tracking/{id}/events`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

const ROOT_KEYS: [&str; 10] = [
    "trackingId",
    "messages",
    "terminationChannel",
    "status",
    "statusCode",
    "totalPrice",
    "originatingService",
    "applicationId",
    "createdAt",
    "updatedAt",
];

const COMMON_KEYS: [&str; 8] = [
    "type",
    "order",
    "failoverOnStatuses",
    "createdAt",
    "from",
    "to",
    "price",
    "status",
];

const SMS_KEYS: [&str; 12] = [
    "messageId",
    "smsId",
    "body",
    "country",
    "operator",
    "part",
    "parts",
    "latency",
    "label",
    "ttl",
    "from",
    "to",
];

/// `expiredOnDeliveryAt` is not among them: the seed has it "present only when
/// expireOnDelivery was true and the message expired" (see `expired_on_delivery_*`).
const VIBER_KEYS: [&str; 8] = [
    "trackingId",
    "body",
    "country",
    "inboundUrl",
    "label",
    "ttl",
    "expireOnDelivery",
    "from",
];

const VOICE_KEYS: [&str; 5] = ["messageId", "country", "duration", "answeredBy", "to"];

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("an object, got {v}"))
        .keys()
        .cloned()
        .collect()
}

fn assert_has_keys(v: &Value, expected: &[&str], what: &str) {
    let have = keys(v);
    let missing: Vec<_> = expected.iter().filter(|k| !have.contains(**k)).collect();
    assert!(missing.is_empty(), "{what} lacks {missing:?}: {v:#}");
}

/// RFC 3339 UTC with milliseconds and a `Z`, e.g. `2026-03-01T09:15:02.113Z`.
fn assert_time(v: &Value, what: &str) {
    let text = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    let b = text.as_bytes();
    let ok = b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    assert!(ok, "{what} = {text:?} is not RFC 3339 UTC with ms and Z");
    assert!(
        cascade_core::Timestamp::parse(text).is_ok(),
        "{what} = {text:?} does not parse"
    );
}

fn millis(v: &Value) -> i64 {
    cascade_core::Timestamp::parse(v.as_str().unwrap())
        .unwrap()
        .as_millis()
}

/// The status member every message carries: `{name, reason{detailedStatus, description},
/// updatedDate}`.
fn assert_status_shape(m: &Value) {
    let status = &m["status"];
    assert_eq!(
        keys(status),
        ["name", "reason", "updatedDate"]
            .map(String::from)
            .into_iter()
            .collect(),
        "{m:#}"
    );
    assert!(status["name"].is_string());
    assert_eq!(
        keys(&status["reason"]),
        ["description", "detailedStatus"]
            .map(String::from)
            .into_iter()
            .collect(),
        "{m:#}"
    );
    assert!(status["reason"]["detailedStatus"].is_string());
    assert!(status["reason"]["description"].is_string());
    assert_time(&status["updatedDate"], "status.updatedDate");
}

fn assert_times(t: &Value) {
    assert_time(&t["createdAt"], "createdAt");
    assert_time(&t["updatedAt"], "updatedAt");
    assert!(millis(&t["updatedAt"]) >= millis(&t["createdAt"]), "{t:#}");
    for m in t["messages"].as_array().unwrap() {
        assert_time(&m["createdAt"], "message createdAt");
        assert!(millis(&m["createdAt"]) >= millis(&t["createdAt"]), "{t:#}");
        assert!(millis(&t["updatedAt"]) >= millis(&m["createdAt"]), "{t:#}");
        assert_status_shape(m);
    }
}

#[tokio::test]
async fn a_three_channel_flow_renders_every_member_of_the_seed() {
    let app = spawn_app().await;
    app.scenario(json!({"channel": "Viber", "to": PHONE, "events": [{"afterMs": 5, "status": "UNDELIVERED"}]}))
        .await;
    app.scenario(json!({"channel": "Sms", "to": PHONE, "events": [{"afterMs": 5, "status": "Undelivered", "detailedStatus": "Unknown Number"}]}))
        .await;
    let mut viber = viber_step(1, &app.sender_id);
    viber["label"] = json!("viber-label");
    viber["inboundUrl"] = json!("https://hooks.example.com/inbound");
    let mut sms = sms_step(2, "Hello there");
    sms["message"]["label"] = json!("sms-label");
    sms["ttl"] = json!(30);
    let id = app.send_flow(&flow(vec![viber, sms, voice_step(3)])).await;

    let t = app.wait_final(&id).await;

    // Root: exactly the seed's members.
    assert_eq!(
        keys(&t),
        ROOT_KEYS.map(String::from).into_iter().collect(),
        "{t:#}"
    );
    assert_eq!(t["trackingId"], id);
    assert_eq!(t["originatingService"], "failover");
    assert_eq!(t["applicationId"], app.app_id);
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["statusCode"], Value::Null);
    assert_eq!(t["terminationChannel"], "Voice");
    // Viber 0.02 + SMS 0.05 + one voice minute 0.10.
    assert_eq!(price(&t["totalPrice"]), 170_000);
    assert_times(&t);

    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    for m in messages {
        assert_has_keys(m, &COMMON_KEYS, "every message");
    }

    // Viber.
    let viber = &messages[0];
    assert_has_keys(viber, &VIBER_KEYS, "a Viber message");
    assert_eq!(viber["type"], "Viber");
    assert_eq!(viber["order"], 1);
    assert_eq!(
        viber["failoverOnStatuses"],
        json!(["Expired", "Failed", "Undelivered"])
    );
    let own_id = viber["trackingId"].as_str().expect("its own trackingId");
    assert!(!own_id.is_empty());
    assert_ne!(own_id, id, "the message's own id, not the flow's");
    assert_eq!(viber["from"], "TestBrand", "the sender's name");
    assert_eq!(viber["to"], PHONE);
    assert_eq!(
        viber["body"],
        json!({"text": "Hello"}),
        "absent members omitted"
    );
    assert_eq!(status_of(viber), "UNDELIVERED");
    assert_eq!(viber["country"], "GR");
    assert_eq!(price(&viber["price"]), 20_000);
    assert_eq!(viber["inboundUrl"], "https://hooks.example.com/inbound");
    assert_eq!(viber["label"], "viber-label");
    assert_eq!(viber["ttl"], 10, "the default TTL");
    assert_eq!(viber["expireOnDelivery"], false);
    assert!(
        viber.get("expiredOnDeliveryAt").is_none(),
        "present only when the message expired on delivery"
    );

    // SMS.
    let sms = &messages[1];
    assert_has_keys(sms, &SMS_KEYS, "an SMS message");
    assert_eq!(sms["type"], "Sms");
    assert_eq!(sms["order"], 2);
    assert_eq!(sms["failoverOnStatuses"], json!(["Undelivered", "Failed"]));
    assert!(sms["messageId"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(sms["smsId"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(sms["from"], "Cascade");
    assert_eq!(sms["to"], PHONE);
    assert_eq!(sms["body"], "Hello there");
    assert_eq!(sms["country"], "GR");
    assert_eq!(
        sms["operator"], "",
        "no prefix table configured and none reported: empty"
    );
    assert_eq!(status_of(sms), "Undelivered");
    assert_eq!(sms["status"]["reason"]["detailedStatus"], "Unknown Number");
    assert_eq!(sms["part"], 1);
    assert_eq!(sms["parts"], 1);
    let latency = sms["latency"].as_i64().expect("a final SMS has a latency");
    assert!(latency >= 0);
    assert_eq!(price(&sms["price"]), 50_000);
    assert_eq!(sms["label"], "sms-label");
    assert_eq!(sms["ttl"], 30);

    // Voice.
    let call = &messages[2];
    assert_has_keys(call, &VOICE_KEYS, "a Voice message");
    assert_eq!(call["type"], "Voice");
    assert_eq!(call["order"], 3);
    assert_eq!(call["failoverOnStatuses"], json!(["Busy", "NoAnswer"]));
    assert!(call["messageId"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(call["from"], "+306900000000");
    assert_eq!(call["to"], PHONE, "the destination as a string");
    assert_eq!(call["country"], "GR");
    assert_eq!(status_of(call), "Completed");
    assert_eq!(call["duration"], 5);
    assert_eq!(price(&call["price"]), 100_000);
    assert_eq!(call["answeredBy"], "human");

    // Messages are ordered by order then part.
    let orders: Vec<_> = messages.iter().map(|m| m["order"].clone()).collect();
    assert_eq!(orders, [json!(1), json!(2), json!(3)]);
}

#[tokio::test]
async fn a_running_flow_lists_only_attempted_steps_and_has_no_status_code() {
    // The SMS provider never reports and the TTL (default 1200 minutes of 60 s) is far off.
    let app = spawn_app().await;
    app.scenario(json!({"channel": "Sms", "to": PHONE, "events": []}))
        .await;
    let r = app
        .post_flow(&flow(vec![sms_step(1, "Hi"), voice_step(2)]))
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let echo: Value = r.json().await.unwrap();
    let id = echo["trackingId"].as_str().unwrap().to_owned();

    let first = app.tracking(&id).await;
    assert_eq!(
        first["createdAt"], echo["createdAt"],
        "the accepted flow's time"
    );
    assert_eq!(
        keys(&first),
        ROOT_KEYS.map(String::from).into_iter().collect()
    );
    assert!(
        matches!(first["status"].as_str(), Some("Queued" | "InProgress")),
        "{first:#}"
    );
    assert_eq!(first["statusCode"], Value::Null);
    let messages = first["messages"].as_array().unwrap();
    assert!(messages.len() <= 1, "{first:#}");
    if messages.is_empty() {
        assert_eq!(first["terminationChannel"], Value::Null, "{first:#}");
    } else {
        assert_eq!(first["terminationChannel"], "Sms", "{first:#}");
        assert!(matches!(status_of(&messages[0]), "Queued" | "Sent"));
    }
    assert_times(&first);

    let t = app
        .wait_for(&id, Duration::from_secs(20), |t| {
            status_of(&t["messages"][0]) == "Sent"
        })
        .await;
    assert_eq!(t["status"], "InProgress");
    assert_eq!(t["statusCode"], Value::Null);
    assert_eq!(t["terminationChannel"], "Sms");
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "the voice step is not listed yet");
    assert_eq!(messages[0]["latency"], Value::Null, "not final yet");
    assert_eq!(price(&messages[0]["price"]), 50_000, "charged when sent");
    assert_eq!(price(&t["totalPrice"]), 50_000);
    assert_times(&t);
}

#[tokio::test]
async fn a_call_in_progress_has_no_duration_answer_or_price_yet() {
    let app = spawn_app().await;
    app.scenario(json!({"channel": "Voice", "to": PHONE, "events": []}))
        .await;
    let id = app.send_flow(&flow(vec![voice_step(1)])).await;
    let t = app
        .wait_for(&id, Duration::from_secs(20), |t| {
            status_of(&t["messages"][0]) == "Initiated"
        })
        .await;
    assert_eq!(t["status"], "InProgress");
    assert_eq!(t["terminationChannel"], "Voice");
    assert_eq!(t["statusCode"], Value::Null);
    let call = &t["messages"][0];
    assert_has_keys(call, &VOICE_KEYS, "a Voice message");
    assert_eq!(call["duration"], Value::Null, "null until the call ends");
    assert_eq!(call["answeredBy"], Value::Null, "null until known");
    assert_eq!(price(&call["price"]), 0, "a call is charged when it ends");
    assert_eq!(price(&t["totalPrice"]), 0);
    assert_times(&t);
}

#[tokio::test]
async fn a_rich_viber_message_carries_its_image_and_action() {
    let app = spawn_app().await;
    let mut viber = viber_step(1, &app.sender_id);
    viber["message"] = json!({
        "text": "Our offer",
        "imageUrl": "https://cdn.example.com/offer.png",
        "action": {"caption": "Open", "targetUrl": "https://shop.example.com/offer"}
    });
    let id = app.send_flow(&flow(vec![viber])).await;
    let t = app.wait_final(&id).await;
    let body = &t["messages"][0]["body"];
    assert_eq!(
        *body,
        json!({
            "text": "Our offer",
            "imageUrl": "https://cdn.example.com/offer.png",
            "action": {"caption": "Open", "targetUrl": "https://shop.example.com/offer"}
        }),
        "no viberFile or viberVideo members"
    );
}

#[tokio::test]
async fn a_sip_destination_is_rendered_as_a_string() {
    let app = spawn_app().await;
    let mut voice = voice_step(1);
    voice["to"] = json!({"sip": "alice@example.com"});
    let id = app.send_flow(&flow(vec![voice])).await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["messages"][0]["to"], "alice@example.com");
}

#[tokio::test]
async fn a_voice_destination_is_the_member_used_as_a_string() {
    let app = spawn_app().await;
    let mut by_viber = voice_step(1);
    by_viber["to"] = json!({"viber": PHONE});
    let mut empty_phone = voice_step(1);
    empty_phone["to"] = json!({"phone": "", "sip": "bob@example.com:5060"});
    let a = app.send_flow(&flow(vec![by_viber])).await;
    let b = app.send_flow(&flow(vec![empty_phone])).await;
    let a = app.wait_final(&a).await;
    let b = app.wait_final(&b).await;
    assert_eq!(a["messages"][0]["to"], PHONE);
    assert_eq!(a["messages"][0]["country"], "GR");
    assert_eq!(
        b["messages"][0]["to"], "bob@example.com:5060",
        "an empty phone counts as absent"
    );
}

#[tokio::test]
async fn country_is_the_recipients_iso_code() {
    let app = spawn_app().await;
    let mut sms = sms_step(1, "Hallo");
    sms["to"] = json!("+4915112345678");
    let id = app.send_flow(&flow(vec![sms])).await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["messages"][0]["country"], "DE");
}

#[tokio::test]
async fn an_operator_given_by_the_provider_shows_on_the_sms() {
    let app = spawn_app().await;
    app.scenario(json!({"channel": "Sms", "to": PHONE, "operator": "Cosmote"}))
        .await;
    let id = app.send_flow(&flow(vec![sms_step(1, "Hi")])).await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded");
    let sms = &t["messages"][0];
    assert_eq!(status_of(sms), "Delivered");
    assert_eq!(sms["operator"], "Cosmote");
}

#[tokio::test]
async fn the_timeline_tells_the_story_in_order() {
    let app = spawn_app().await;
    let id = app.send_flow(&flow(vec![sms_step(1, "Hi")])).await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded");

    let token = app.token().await;
    let r = app
        .client
        .get(app.url(&format!("/failover/tracking/{id}/events")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["trackingId"], id);
    let events = body["events"].as_array().unwrap();

    let kinds: Vec<_> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "accepted",
            "step_started",
            "submitted",
            "report",
            "step_completed",
            "flow_completed"
        ],
        "{events:#?}"
    );
    for e in events {
        assert_time(&e["at"], "event at");
    }
    for pair in events.windows(2) {
        assert!(
            millis(&pair[0]["at"]) <= millis(&pair[1]["at"]),
            "times go backwards: {events:#?}"
        );
    }
    assert_eq!(events[1]["order"], 1);
    assert_eq!(events[2]["order"], 1);
    let provider_ids = events[2]["providerIds"]
        .as_array()
        .expect("submitted carries the provider's ids");
    assert_eq!(provider_ids.len(), 1);
    let sent = app.sandbox_messages().await;
    assert_eq!(sent[0]["providerMessageIds"], json!(provider_ids));
    assert_eq!(events[3]["order"], 1);
    assert_eq!(events[3]["part"], 1);
    assert_eq!(events[3]["status"], "Delivered");
    assert_eq!(events[4]["order"], 1);
    assert_eq!(events[4]["status"], "Delivered");
    assert_eq!(events[5]["status"], "Succeeded");
    assert!(
        millis(&events[0]["at"]) >= millis(&t["createdAt"]),
        "{events:#?}"
    );
}
