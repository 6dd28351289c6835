//! SMS parts (§4): a body splits GSM-7 (160 single / 153 per part, extension characters
//! count twice) or UCS-2 (70 / 67) after optional transcoding; each part is its own entry
//! in `messages` with the step's `messageId`, its own `smsId`, price and status, and the
//! step's outcome is the worst part's.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::*;

/// Send a one-step SMS flow and return its messages once the flow is final.
async fn final_parts(app: &TestApp, body: &str, transcode: bool) -> (Value, Vec<Value>) {
    let mut step = sms_step(1, body);
    step["message"]["transcode"] = json!(transcode);
    let id = app.send_flow(&flow(vec![step])).await;
    let t = app.wait_final(&id).await;
    let messages = t["messages"].as_array().unwrap().clone();
    (t, messages)
}

fn bodies(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["body"].as_str().expect("a body").to_owned())
        .collect()
}

/// A GSM-7 text of `n` characters that is not just one letter repeated, so a wrong cut
/// or order shows.
fn gsm_text(n: usize) -> String {
    "The quick brown fox jumps over the lazy dog 0123456789. "
        .chars()
        .cycle()
        .take(n)
        .collect()
}

/// Greek lowercase (outside GSM 03.38), `n` characters.
fn greek_text(n: usize) -> String {
    "αβγδεζηθικλμνξοπρστυφχψω".chars().cycle().take(n).collect()
}

fn sandbox_content_for<'a>(sent: &'a [Value], message_id: &Value) -> &'a Value {
    &sent
        .iter()
        .find(|m| m["clientRef"] == *message_id)
        .unwrap_or_else(|| panic!("no sandbox message for {message_id} in {sent:#?}"))["content"]
}

#[tokio::test]
async fn a_161_character_gsm_body_goes_as_two_parts_of_one_message() {
    let app = spawn_app().await;
    let body = gsm_text(161);

    let (t, messages) = final_parts(&app, &body, false).await;

    assert_eq!(t["status"], "Succeeded");
    assert_eq!(messages.len(), 2, "{t:#}");
    assert_eq!(messages[0]["messageId"], messages[1]["messageId"]);
    assert!(messages[0]["messageId"].is_string());
    assert_ne!(messages[0]["smsId"], messages[1]["smsId"]);
    assert!(messages[0]["smsId"].is_string() && messages[1]["smsId"].is_string());
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(m["type"], "Sms");
        assert_eq!(m["order"], 1);
        assert_eq!(m["part"], i + 1);
        assert_eq!(m["parts"], 2);
        assert_eq!(price(&m["price"]), 50_000);
        assert_eq!(status_of(m), "Delivered");
        assert!(m["latency"].is_number(), "each part has its latency: {m:#}");
    }
    assert_eq!(price(&t["totalPrice"]), 100_000);
    let parts = bodies(&messages);
    assert_eq!(parts[0].chars().count(), 153);
    assert_eq!(parts[1].chars().count(), 8);
    assert_eq!(parts.concat(), body);
    assert!((app.account_balance(&app.account_id).await - (100.0 - 0.10)).abs() < 1e-9);

    let sent = app.sandbox_messages().await;
    assert_eq!(sent.len(), 1, "one send carrying both parts");
    assert_eq!(sent[0]["channel"], "Sms");
    assert_eq!(sent[0]["providerMessageIds"].as_array().unwrap().len(), 2);
    let content = sandbox_content_for(&sent, &messages[0]["messageId"]);
    assert_eq!(content["parts"], json!(parts));
    let encoding = content["encoding"].as_str().expect("an encoding");
    assert!(encoding.to_ascii_lowercase().contains("gsm"), "{content}");

    let events = app.events(t["trackingId"].as_str().unwrap()).await;
    let submitted = events
        .iter()
        .find(|e| e["type"] == "submitted")
        .expect("a submitted entry");
    assert_eq!(
        submitted["providerIds"], sent[0]["providerMessageIds"],
        "one provider id per part"
    );
}

#[tokio::test]
async fn gsm_part_boundaries_are_160_single_and_153_per_part() {
    let app = spawn_app().await;
    for (len, expected) in [(160, 1), (161, 2), (306, 2), (307, 3)] {
        let body = gsm_text(len);
        let (t, messages) = final_parts(&app, &body, false).await;
        assert_eq!(messages.len(), expected, "{len} characters: {t:#}");
        for (i, m) in messages.iter().enumerate() {
            assert_eq!(m["part"], i + 1, "{len}");
            assert_eq!(m["parts"], expected, "{len}");
        }
        let ids: HashSet<_> = messages.iter().map(|m| m["smsId"].to_string()).collect();
        assert_eq!(ids.len(), expected, "distinct smsIds for {len}");
        assert_eq!(bodies(&messages).concat(), body, "{len}");
        assert_eq!(
            price(&t["totalPrice"]),
            50_000 * i64::try_from(expected).unwrap(),
            "{len}"
        );
    }
}

#[tokio::test]
async fn an_extension_character_counts_as_two_septets() {
    let app = spawn_app().await;
    // 80 × € = 160 septets: one SMS.
    let (_, one) = final_parts(&app, &"€".repeat(80), false).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["parts"], 1);
    assert_eq!(one[0]["body"], "€".repeat(80));
    // 81 × € = 162 septets: two parts, 76 € (152 septets) and 5 € — an escape and its
    // character never separate.
    let body = "€".repeat(81);
    let (_, two) = final_parts(&app, &body, false).await;
    assert_eq!(two.len(), 2);
    let parts = bodies(&two);
    assert_eq!(parts.concat(), body);
    assert_eq!(parts[0].chars().count(), 76);
    assert_eq!(parts[1].chars().count(), 5);
    // 159 plain characters + € = 161 septets: two parts, though only 160 characters.
    let body = format!("{}€", gsm_text(159));
    let (_, mixed) = final_parts(&app, &body, false).await;
    assert_eq!(mixed.len(), 2, "160 characters but 161 septets");
    assert_eq!(bodies(&mixed).concat(), body);
}

#[tokio::test]
async fn ucs2_bodies_split_70_single_and_67_per_part() {
    let app = spawn_app().await;
    let (_, one) = final_parts(&app, &greek_text(70), false).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["body"], greek_text(70));
    assert_eq!(one[0]["parts"], 1);

    let body = greek_text(71);
    let (t, two) = final_parts(&app, &body, false).await;
    assert_eq!(two.len(), 2, "{t:#}");
    let parts = bodies(&two);
    assert_eq!(parts[0].chars().count(), 67);
    assert_eq!(parts[1].chars().count(), 4);
    assert_eq!(parts.concat(), body);
    assert_eq!(price(&t["totalPrice"]), 100_000);

    let sent = app.sandbox_messages().await;
    let content = sandbox_content_for(&sent, &two[0]["messageId"]);
    assert_eq!(content["parts"], json!(parts));
    let encoding = content["encoding"].as_str().expect("an encoding");
    assert!(encoding.to_ascii_lowercase().contains("ucs"), "{content}");
}

#[tokio::test]
async fn transcode_replaces_look_alikes_so_the_text_goes_as_gsm() {
    let app = spawn_app().await;
    let (t, messages) = final_parts(&app, "ΑΒΕΖΗ", true).await;
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0]["body"], "ABEZH",
        "the transcoded text is what was sent"
    );
    let sent = app.sandbox_messages().await;
    let content = sandbox_content_for(&sent, &messages[0]["messageId"]);
    assert_eq!(content["parts"], json!(["ABEZH"]));
    assert!(
        content["encoding"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("gsm"),
        "{content}"
    );

    // Without transcode a Greek text goes unchanged, as UCS-2.
    let (_, messages) = final_parts(&app, "καλημέρα", false).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["body"], "καλημέρα");
    let sent = app.sandbox_messages().await;
    let content = sandbox_content_for(&sent, &messages[0]["messageId"]);
    assert_eq!(content["parts"], json!(["καλημέρα"]));
    assert!(
        content["encoding"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("ucs"),
        "{content}"
    );
}

#[tokio::test]
async fn transcoding_can_turn_a_two_part_ucs2_body_into_one_gsm_part() {
    let app = spawn_app().await;
    // 100 Greek capitals: 2 UCS-2 parts as they are, 100 septets once transcoded.
    let body: String = "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ".chars().cycle().take(100).collect();
    let (_, plain) = final_parts(&app, &body, false).await;
    assert_eq!(plain.len(), 2);
    let (_, transcoded) = final_parts(&app, &body, true).await;
    assert_eq!(transcoded.len(), 1);
    let text = transcoded[0]["body"].as_str().unwrap();
    assert_eq!(text.chars().count(), 100);
    assert!(text.chars().all(|c| c.is_ascii_uppercase()), "{text}");
}

#[tokio::test]
async fn all_parts_delivered_roll_up_to_a_delivered_step() {
    let app = spawn_app().await;
    app.scenario(json!({"channel": "Sms", "to": PHONE, "events": [
        {"afterMs": 5, "status": "Sent"},
        {"afterMs": 15, "status": "Delivered"}
    ]}))
    .await;
    let id = app
        .send_flow(&flow(vec![sms_step(1, &gsm_text(400)), voice_step(2)]))
        .await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Sms");
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "3 parts, no voice step");
    assert!(messages.iter().all(|m| status_of(m) == "Delivered"));
    let events = app.events(&id).await;
    let completed: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "step_completed")
        .collect();
    assert_eq!(completed.len(), 1, "{events:#?}");
    assert_eq!(completed[0]["status"], "Delivered");
    // One report per part made the step final, not the first one.
    let delivered_reports: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "report" && e["status"] == "Delivered")
        .map(|e| e["part"].as_u64().unwrap())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(delivered_reports.len(), 3, "{events:#?}");
}

#[tokio::test]
async fn all_parts_undelivered_fail_over_to_the_next_step() {
    let app = spawn_app().await;
    app.scenario(json!({"channel": "Sms", "to": PHONE, "events": [
        {"afterMs": 5, "status": "Undelivered", "detailedStatus": "Unknown Number"}
    ]}))
    .await;
    let id = app
        .send_flow(&flow(vec![sms_step(1, &gsm_text(200)), voice_step(2)]))
        .await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Voice");
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "2 SMS parts then the call: {t:#}");
    for (i, m) in messages[..2].iter().enumerate() {
        assert_eq!(m["type"], "Sms");
        assert_eq!(m["part"], i + 1);
        assert_eq!(status_of(m), "Undelivered");
        assert_eq!(m["status"]["reason"]["detailedStatus"], "Unknown Number");
        assert_eq!(price(&m["price"]), 50_000, "each part is charged when sent");
    }
    assert_eq!(messages[2]["type"], "Voice");
    assert_eq!(status_of(&messages[2]), "Completed");
    // Two parts at 0.05 and a started voice minute at 0.10.
    assert_eq!(price(&t["totalPrice"]), 200_000);
    let events = app.events(&id).await;
    let started: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "step_started")
        .map(|e| e["order"].clone())
        .collect();
    assert_eq!(started, [json!(1), json!(2)], "{events:#?}");
}
