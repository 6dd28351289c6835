//! Provider reports arriving twice, out of order, or after the flow moved on (§4 "Exactly
//! once"): each step advances the flow at most once, a message never moves backwards, a
//! late report is recorded on its message without re-opening the flow, and the timeline
//! marks each such report.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

/// Poll the timeline until `done` holds (20 s at most).
async fn wait_events(app: &TestApp, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = app.events(id).await;
        if done(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "timeline condition not reached within 20 s: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn flag(entry: &Value, name: &str) -> bool {
    entry.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// The timeline records each step start, step completion and the flow's end once.
fn assert_advanced_once(events: &[Value], orders: &[u64]) {
    let mut started: BTreeMap<u64, usize> = BTreeMap::new();
    for e in of_type(events, "step_started") {
        *started.entry(e["order"].as_u64().unwrap()).or_default() += 1;
    }
    let expected: BTreeMap<u64, usize> = orders.iter().map(|o| (*o, 1)).collect();
    assert_eq!(started, expected, "one step_started per order: {events:#?}");
    let mut completed: BTreeMap<u64, usize> = BTreeMap::new();
    for e in of_type(events, "step_completed") {
        *completed.entry(e["order"].as_u64().unwrap()).or_default() += 1;
    }
    assert_eq!(
        completed, expected,
        "one step_completed per order: {events:#?}"
    );
    assert_eq!(
        of_type(events, "flow_completed").len(),
        1,
        "the flow completes once: {events:#?}"
    );
}

#[tokio::test]
async fn a_duplicate_report_is_recorded_once_as_duplicate_and_changes_nothing() {
    let app = spawn_app().await;
    app.scenario(json!({"channel": "Sms", "to": PHONE, "events": [
        {"afterMs": 5, "status": "Delivered"},
        {"afterMs": 15, "status": "Delivered"}
    ]}))
    .await;
    let id = app
        .send_flow(&flow(vec![sms_step(1, "Hi"), voice_step(2)]))
        .await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded");

    let events = wait_events(&app, &id, |ev| of_type(ev, "report").len() >= 2).await;

    let reports = of_type(&events, "report");
    assert_eq!(reports.len(), 2, "{events:#?}");
    assert!(reports.iter().all(|r| r["status"] == "Delivered"));
    assert!(!flag(reports[0], "duplicate"), "{events:#?}");
    assert!(flag(reports[1], "duplicate"), "{events:#?}");
    assert_eq!(
        reports.iter().filter(|r| flag(r, "duplicate")).count(),
        1,
        "{events:#?}"
    );
    assert_advanced_once(&events, &[1]);
    let t = app.tracking(&id).await;
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Sms");
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "the voice step never starts");
    assert_eq!(status_of(&messages[0]), "Delivered");
    assert_eq!(price(&t["totalPrice"]), 50_000);
}

#[tokio::test]
async fn a_stale_report_after_a_final_one_is_ignored() {
    let app = spawn_app().await;
    app.scenario(json!({"channel": "Sms", "to": PHONE, "events": [
        {"afterMs": 5, "status": "Delivered"},
        {"afterMs": 15, "status": "Sent"}
    ]}))
    .await;
    let id = app
        .send_flow(&flow(vec![sms_step(1, "Hi"), voice_step(2)]))
        .await;
    app.wait_final(&id).await;

    let events = wait_events(&app, &id, |ev| of_type(ev, "report").len() >= 2).await;

    let reports = of_type(&events, "report");
    assert_eq!(reports.len(), 2, "{events:#?}");
    assert_eq!(reports[0]["status"], "Delivered");
    assert!(!flag(reports[0], "ignored"));
    assert_eq!(reports[1]["status"], "Sent");
    assert!(flag(reports[1], "ignored"), "the stale Sent: {events:#?}");
    assert_advanced_once(&events, &[1]);
    let t = app.tracking(&id).await;
    assert_eq!(t["status"], "Succeeded");
    let sms = &t["messages"][0];
    assert_eq!(status_of(sms), "Delivered", "never moved backwards: {t:#}");
    assert_eq!(sms["status"]["reason"]["detailedStatus"], "Delivered");
    assert!(sms["latency"].is_number(), "{sms:#}");
}

#[tokio::test]
async fn viber_delivered_after_seen_is_stale_and_seen_stands() {
    let app = spawn_app().await;
    app.scenario(json!({"channel": "Viber", "to": PHONE, "events": [
        {"afterMs": 5, "status": "SEEN"},
        {"afterMs": 15, "status": "DELIVERED"}
    ]}))
    .await;
    let id = app
        .send_flow(&flow(vec![
            viber_step(1, &app.sender_id),
            sms_step(2, "Hi"),
        ]))
        .await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded");

    let events = wait_events(&app, &id, |ev| of_type(ev, "report").len() >= 2).await;
    let reports = of_type(&events, "report");
    assert_eq!(reports[1]["status"], "DELIVERED");
    assert!(flag(reports[1], "ignored"), "{events:#?}");
    assert_advanced_once(&events, &[1]);
    let t = app.tracking(&id).await;
    assert_eq!(t["messages"].as_array().unwrap().len(), 1);
    assert_eq!(status_of(&t["messages"][0]), "SEEN");
}

#[tokio::test]
async fn a_conflicting_final_report_does_not_advance_the_flow_again() {
    let app = spawn_app().await;
    app.scenario(json!({"channel": "Sms", "to": PHONE, "events": [
        {"afterMs": 5, "status": "Delivered"},
        {"afterMs": 15, "status": "Undelivered"}
    ]}))
    .await;
    let id = app
        .send_flow(&flow(vec![sms_step(1, "Hi"), voice_step(2)]))
        .await;
    app.wait_final(&id).await;

    let events = wait_events(&app, &id, |ev| of_type(ev, "report").len() >= 2).await;

    assert_advanced_once(&events, &[1]);
    let t = app.tracking(&id).await;
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Sms");
    assert_eq!(t["statusCode"], Value::Null);
    assert_eq!(t["messages"].as_array().unwrap().len(), 1, "no failover");
    assert_eq!(app.sandbox_messages().await.len(), 1);
}

#[tokio::test]
async fn a_late_report_is_recorded_on_its_message_without_reopening_the_flow() {
    // SMS TTL 1 minute of 100 ms; its provider reports Delivered only at 600 ms.
    let app = spawn_app_with(&[("CASCADE_SANDBOX_MINUTE_MS", "100")]).await;
    app.scenario(json!({"channel": "Sms", "to": PHONE, "events": [
        {"afterMs": 600, "status": "Delivered"}
    ]}))
    .await;
    let mut sms = sms_step(1, "Hi");
    sms["ttl"] = json!(1);
    let id = app.send_flow(&flow(vec![sms, voice_step(2)])).await;

    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Voice");
    let before = t.clone();

    let t = app
        .wait_for(&id, Duration::from_secs(20), |t| {
            status_of(&t["messages"][0]) == "Delivered"
        })
        .await;

    assert_eq!(t["status"], "Succeeded", "the flow stays final: {t:#}");
    assert_eq!(t["terminationChannel"], "Voice");
    assert_eq!(t["statusCode"], Value::Null);
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "no step starts again: {t:#}");
    assert_eq!(messages[0]["type"], "Sms");
    assert_eq!(messages[1]["type"], "Voice");
    assert_eq!(messages[1], before["messages"][1], "the call is untouched");
    assert_eq!(t["totalPrice"], before["totalPrice"]);
    assert_eq!(app.sandbox_messages().await.len(), 2);

    let events = app.events(&id).await;
    let late: Vec<_> = of_type(&events, "report")
        .into_iter()
        .filter(|r| r["order"] == 1 && r["status"] == "Delivered")
        .collect();
    assert_eq!(late.len(), 1, "{events:#?}");
    assert!(
        flag(late[0], "late"),
        "the report is marked late: {events:#?}"
    );
    assert_eq!(of_type(&events, "ttl_expired").len(), 1);
    assert_advanced_once(&events, &[1, 2]);
    // The late report is recorded after the flow completed.
    let last_flow_completed = events
        .iter()
        .rposition(|e| e["type"] == "flow_completed")
        .unwrap();
    let late_pos = events
        .iter()
        .position(|e| e["type"] == "report" && flag(e, "late"))
        .unwrap();
    assert!(last_flow_completed < late_pos, "{events:#?}");
}

#[tokio::test]
async fn a_report_racing_the_ttl_advances_the_flow_exactly_once() {
    // TTL 1 minute of 100 ms; Delivered arrives around it. Whichever wins, the step is
    // decided once: either Delivered ends the flow on SMS, or the expiry fails it over to
    // Voice and the Delivered is a late report.
    let app = spawn_app_with(&[("CASCADE_SANDBOX_MINUTE_MS", "100")]).await;
    let delays = [60_u64, 85, 95, 100, 105, 115, 140];
    let mut flows = Vec::new();
    for (i, after) in delays.iter().enumerate() {
        let to = format!("+3069000001{i}");
        app.scenario(json!({"channel": "Sms", "to": to, "events": [
            {"afterMs": after, "status": "Delivered"}
        ]}))
        .await;
        let mut sms = sms_step(1, "Hi");
        sms["to"] = json!(to);
        sms["ttl"] = json!(1);
        let mut voice = voice_step(2);
        voice["to"] = json!(to);
        flows.push(app.send_flow(&flow(vec![sms, voice])).await);
    }

    let mut total_messages = 0;
    for (id, after) in flows.iter().zip(delays) {
        app.wait_final(id).await;
        // In both branches the SMS ends up Delivered once its report arrived.
        let t = app
            .wait_for(id, Duration::from_secs(20), |t| {
                status_of(&t["messages"][0]) == "Delivered"
            })
            .await;
        assert_eq!(t["status"], "Succeeded", "{after} ms: {t:#}");
        let events = app.events(id).await;
        let messages = t["messages"].as_array().unwrap();
        total_messages += messages.len();
        match t["terminationChannel"].as_str() {
            Some("Sms") => {
                assert_eq!(messages.len(), 1, "{after} ms: {t:#}");
                assert_advanced_once(&events, &[1]);
                assert!(of_type(&events, "ttl_expired").is_empty(), "{events:#?}");
            }
            Some("Voice") => {
                assert_eq!(messages.len(), 2, "{after} ms: {t:#}");
                assert_advanced_once(&events, &[1, 2]);
                assert_eq!(of_type(&events, "ttl_expired").len(), 1, "{events:#?}");
                let report = of_type(&events, "report")
                    .into_iter()
                    .find(|r| r["order"] == 1)
                    .expect("the SMS report");
                assert!(flag(report, "late"), "{after} ms: {events:#?}");
            }
            other => panic!("{after} ms: terminationChannel {other:?}"),
        }
    }
    assert_eq!(
        app.sandbox_messages().await.len(),
        total_messages,
        "one send per started step"
    );
}
