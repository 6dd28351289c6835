//! SMS over SMPP through the sandbox SMSC: what the simulator received, what the scenario
//! rules do on the SMPP level (per-part receipts, `rejectWith`, `throttle`, receipt
//! states), and `/metrics`. The third-party peers are in interop.rs.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// 153 + 153 + 4 GSM-7 characters: three parts.
fn three_part_body() -> String {
    let mut body = "a".repeat(153);
    body.push_str(&"b".repeat(153));
    body.push_str("cccc");
    body
}

fn metric(m: &std::collections::HashMap<String, f64>, series: &str) -> f64 {
    *m.get(series)
        .unwrap_or_else(|| panic!("no series {series} in {:#?}", m.keys().collect::<Vec<_>>()))
}

#[tokio::test]
async fn a_long_sms_travels_as_concatenated_submit_sm_with_a_receipt_per_part() {
    let app = spawn_app().await;
    let body = three_part_body();
    let id = app.send_flow(&flow(vec![sms_step(1, &body)])).await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded", "{t:#}");
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert!(
        messages.iter().all(|m| status_of(m) == "Delivered"),
        "{t:#}"
    );

    // The SMSC saw one message in three parts, GSM-7, from an alphanumeric sender.
    let sent = app.sandbox_messages().await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let content = &sent[0]["content"];
    assert_eq!(content["systemId"], "cascade");
    assert_eq!(content["dataCoding"], 0);
    assert_eq!(content["from"], "Cascade");
    assert_eq!(
        content["parts"],
        json!(["a".repeat(153), "b".repeat(153), "cccc"])
    );
    assert!(
        sent[0]["provider"]
            .as_str()
            .unwrap()
            .starts_with("smsc-sim:")
    );

    // Each part's receipt matched its message; nothing was left unmatched.
    let m = app.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"cascade_smpp_bind_state{smsc="sandbox-smsc",bind="0",state="bound"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            r#"cascade_smpp_submits_accepted_total{smsc="sandbox-smsc",bind="0"}"#
        ),
        3.0
    );
    assert_eq!(
        metric(
            &m,
            r#"cascade_smpp_receipts_recorded_total{smsc="sandbox-smsc",outcome="matched"}"#
        ),
        3.0
    );
    assert_eq!(
        metric(
            &m,
            r#"cascade_smpp_receipts_recorded_total{smsc="sandbox-smsc",outcome="unmatched"}"#
        ),
        0.0
    );
    assert_eq!(
        metric(
            &m,
            r#"cascade_smpp_receipt_latency_seconds_count{smsc="sandbox-smsc"}"#
        ),
        3.0
    );
    assert_eq!(
        metric(
            &m,
            r#"cascade_smpp_in_flight{smsc="sandbox-smsc",bind="0"}"#
        ),
        0.0
    );
}

#[tokio::test]
async fn one_flow_after_another_each_get_their_receipt_promptly() {
    // The simulator's receipt rows are deleted once acknowledged and SQLite reuses the
    // row ids: a receipt must never be mistaken for one already delivered.
    let app = spawn_app().await;
    for round in 0..3 {
        let id = app.send_flow(&flow(vec![sms_step(1, "Hi")])).await;
        let t = app
            .wait_for(&id, std::time::Duration::from_secs(5), |t| {
                t["status"] == "Succeeded"
            })
            .await;
        assert_eq!(status_of(&t["messages"][0]), "Delivered", "round {round}");
    }
}

#[tokio::test]
async fn ucs2_and_flash_go_with_their_data_coding() {
    let app = spawn_app().await;
    let mut step = sms_step(1, "Καλημέρα");
    step["message"]["flash"] = json!(true);
    let id = app.send_flow(&flow(vec![step])).await;
    assert_eq!(app.wait_final(&id).await["status"], "Succeeded");
    let sent = app.sandbox_messages().await;
    assert_eq!(
        sent[0]["content"]["dataCoding"], 0x18,
        "UCS-2, message class 0"
    );
    assert_eq!(sent[0]["content"]["flash"], true);
    assert_eq!(sent[0]["content"]["parts"], json!(["Καλημέρα"]));
}

#[tokio::test]
async fn a_part_scripted_alone_decides_the_step() {
    let app = spawn_app().await;
    // Each part has its own script: part 2 is undelivered, so the step is.
    app.scenario(json!({"channel": "Sms", "to": PHONE, "events": [
        {"afterMs": 5, "status": "Delivered", "part": 1},
        {"afterMs": 5, "status": "Undelivered", "detailedStatus": "Handset full", "part": 2},
        {"afterMs": 5, "status": "Delivered", "part": 3}
    ]}))
    .await;
    let id = app
        .send_flow(&flow(vec![
            sms_step(1, &three_part_body()),
            viber_step(2, &app.sender_id),
        ]))
        .await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["terminationChannel"], "Viber", "{t:#}");
    let sms: Vec<&Value> = t["messages"].as_array().unwrap()[..3].iter().collect();
    assert_eq!(status_of(sms[0]), "Delivered");
    assert_eq!(status_of(sms[1]), "Undelivered");
    assert_eq!(sms[1]["status"]["reason"]["detailedStatus"], "Handset full");
    assert_eq!(status_of(sms[2]), "Delivered");
}

#[tokio::test]
async fn receipt_states_map_to_cascade_statuses() {
    let app = spawn_app().await;
    let cases = [
        ("+306900000011", "Undelivered", "Expired", "Undelivered"),
        ("+306900000012", "Failed", "Unknown Status", "Failed"),
        ("+306900000013", "Failed", "Rejected", "Failed"),
    ];
    for (to, status, detailed, _) in &cases {
        app.scenario(json!({"channel": "Sms", "to": to, "events": [
            {"afterMs": 5, "status": status, "detailedStatus": detailed}
        ]}))
        .await;
    }
    for (to, _, detailed, expected) in cases {
        let mut step = sms_step(1, "Hi");
        step["to"] = json!(to);
        let id = app.send_flow(&flow(vec![step])).await;
        let t = app.wait_final(&id).await;
        assert_eq!(t["status"], "Failed", "{t:#}");
        let m = &t["messages"][0];
        assert_eq!(status_of(m), expected, "{to}: {m:#}");
        assert_eq!(
            m["status"]["reason"]["detailedStatus"], detailed,
            "{to}: {m:#}"
        );
    }
}

#[tokio::test]
async fn an_smsc_rejection_fails_the_step_with_the_smsc_reason() {
    let app = spawn_app().await;
    app.scenario(json!({"channel": "Sms", "to": PHONE, "rejectWith": "ESME_RINVDSTADR"}))
        .await;
    let id = app
        .send_flow(&flow(vec![
            sms_step(1, "Hi"),
            viber_step(2, &app.sender_id),
        ]))
        .await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded", "failed over to Viber: {t:#}");
    let sms = &t["messages"][0];
    assert_eq!(status_of(sms), "Failed");
    assert_eq!(
        sms["status"]["reason"]["detailedStatus"],
        "Rejected by SMSC"
    );
    let description = sms["status"]["reason"]["description"].as_str().unwrap();
    assert!(description.contains("ESME_RINVDSTADR"), "{description}");
    let m = app.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"cascade_smpp_submits_rejected_total{smsc="sandbox-smsc",bind="0"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn throttling_pauses_the_bind_and_the_message_still_goes() {
    let app = spawn_app().await;
    app.scenario(json!({"channel": "Sms", "to": PHONE, "throttle": 2}))
        .await;
    let id = app.send_flow(&flow(vec![sms_step(1, "Hi")])).await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded", "{t:#}");
    let m = app.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"cascade_smpp_submits_throttled_total{smsc="sandbox-smsc",bind="0"}"#
        ),
        2.0
    );
    assert_eq!(
        metric(
            &m,
            r#"cascade_smpp_submits_accepted_total{smsc="sandbox-smsc",bind="0"}"#
        ),
        1.0
    );
    assert_eq!(
        app.sandbox_messages().await.len(),
        1,
        "one message, sent once"
    );
    // The SMSC scheduled the receipt when the message first arrived, so it came while
    // the bind was paused, before Cascade knew the message id: held, then applied.
    assert_eq!(
        metric(
            &m,
            r#"cascade_smpp_receipts_recorded_total{smsc="sandbox-smsc",outcome="unmatched"}"#
        ),
        1.0
    );
    assert_eq!(status_of(&t["messages"][0]), "Delivered");
}

#[tokio::test]
async fn smpp_scenario_fields_are_validated() {
    let app = spawn_app().await;
    for (rule, key) in [
        (
            json!({"channel": "Sms", "to": "*", "rejectWith": 0}),
            "rejectWith",
        ),
        (
            json!({"channel": "Sms", "to": "*", "rejectWith": "ESME_RTHROTTLED"}),
            "rejectWith",
        ),
        (
            json!({"channel": "Sms", "to": "*", "rejectWith": "NOT_A_STATUS"}),
            "rejectWith",
        ),
        (
            json!({"channel": "Viber", "to": "*", "rejectWith": 11}),
            "rejectWith",
        ),
        (
            json!({"channel": "Sms", "to": "*", "throttle": -1}),
            "throttle",
        ),
        (
            json!({"channel": "Voice", "to": "*", "throttle": 1}),
            "throttle",
        ),
        (
            json!({"channel": "Sms", "to": "*", "events": [{"status": "Delivered", "part": 0}]}),
            "events[0].part",
        ),
        (
            json!({"channel": "Viber", "to": "*", "events": [{"status": "Delivered", "part": 1}]}),
            "events[0].part",
        ),
    ] {
        let r = app.admin_post("/sandbox/scenarios", rule.clone()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{rule}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "400000001", "{v}");
        assert!(v["properties"][key].is_string(), "{key} in {v}");
    }
    assert!(app.scenarios().await.is_empty(), "nothing was stored");
    // A numeric status is accepted and echoed.
    let ok = app
        .scenario(json!({"channel": "Sms", "to": "*", "rejectWith": 11, "throttle": 1}))
        .await;
    assert_eq!(ok["rejectWith"], 11);
    assert_eq!(ok["throttle"], 1);
}

#[tokio::test]
async fn metrics_need_the_admin_token() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("# TYPE cascade_smpp_receipt_latency_seconds histogram"),
        "{text}"
    );
    assert!(!text.contains("password"), "{text}");
}
