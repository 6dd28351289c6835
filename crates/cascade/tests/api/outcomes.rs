//! The six outcome rules of the engine, end to end through the sandbox.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn the_readme_flow_fails_over_viber_then_sms_and_succeeds_on_voice() {
    let app = spawn_app().await;
    app.scenario(
        json!({"channel": "Viber", "to": PHONE, "events": [{"afterMs": 10, "status": "EXPIRED"}]}),
    )
    .await;
    app.scenario(json!({"channel": "Sms", "to": PHONE, "events": [{"afterMs": 10, "status": "Undelivered", "detailedStatus": "Unknown Number"}]})).await;
    let id = app
        .send_flow(&flow(vec![
            viber_step(1, &app.sender_id),
            sms_step(2, "Hello"),
            voice_step(3),
        ]))
        .await;

    let t = app.wait_final(&id).await;

    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["statusCode"], serde_json::Value::Null);
    assert_eq!(t["terminationChannel"], "Voice");
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(
        messages
            .iter()
            .map(|m| m["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Viber", "Sms", "Voice"]
    );
    assert_eq!(status_of(&messages[0]), "EXPIRED");
    assert_eq!(status_of(&messages[1]), "Undelivered");
    assert_eq!(
        messages[1]["status"]["reason"]["detailedStatus"],
        "Unknown Number"
    );
    assert_eq!(status_of(&messages[2]), "Completed");
    assert_eq!(messages[2]["answeredBy"], "human");
    assert_eq!(messages[2]["duration"], 5);
    // Viber 0.02 + SMS 0.05 + one started voice minute 0.10.
    assert_eq!(price(&t["totalPrice"]), 170_000);
    assert_eq!(price(&messages[2]["price"]), 100_000);
    assert_eq!(app.account_balance(&app.account_id).await, 100.0 - 0.17);
}

#[tokio::test]
async fn rule_1_success_ends_the_flow_without_touching_later_steps() {
    let app = spawn_app().await;
    let id = app
        .send_flow(&flow(vec![sms_step(1, "Hi"), voice_step(2)]))
        .await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Sms");
    assert_eq!(
        t["messages"].as_array().unwrap().len(),
        1,
        "the voice step never starts"
    );
    assert_eq!(app.sandbox_messages().await.len(), 1);
}

#[tokio::test]
async fn rule_3_listed_failure_on_the_last_step_is_status_code_2() {
    let app = spawn_app().await;
    app.scenario(
        json!({"channel": "Sms", "to": "*", "events": [{"afterMs": 5, "status": "Failed"}]}),
    )
    .await;
    let id = app.send_flow(&flow(vec![sms_step(1, "Hi")])).await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Failed");
    assert_eq!(t["statusCode"], "2");
    assert_eq!(t["terminationChannel"], "Sms");
}

#[tokio::test]
async fn rule_4_unlisted_failure_is_status_code_3() {
    let app = spawn_app().await;
    app.scenario(
        json!({"channel": "Sms", "to": "*", "events": [{"afterMs": 5, "status": "Failed"}]}),
    )
    .await;
    let mut step = sms_step(1, "Hi");
    step["failoverOnStatuses"] = json!(["Undelivered"]);
    let id = app.send_flow(&flow(vec![step, voice_step(2)])).await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Failed");
    assert_eq!(t["statusCode"], "3");
    assert_eq!(
        t["messages"].as_array().unwrap().len(),
        1,
        "no failover on an unlisted status"
    );
}

#[tokio::test]
async fn rule_5_a_step_the_balance_cannot_cover_is_unsent_with_status_code_1() {
    let app = spawn_app().await;
    // Enough for the Viber message (0.02), not for the SMS after it (0.05).
    app.set_balance(&app.account_id, 0.03).await;
    app.scenario(
        json!({"channel": "Viber", "to": "*", "events": [{"afterMs": 5, "status": "UNDELIVERED"}]}),
    )
    .await;
    let id = app
        .send_flow(&flow(vec![
            viber_step(1, &app.sender_id),
            sms_step(2, "Hi"),
        ]))
        .await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Failed");
    assert_eq!(t["statusCode"], "1");
    assert_eq!(t["terminationChannel"], "Sms");
    let sms = &t["messages"][1];
    assert_eq!(status_of(sms), "Unsent");
    assert_eq!(price(&sms["price"]), 0);
    assert_eq!(price(&t["totalPrice"]), 20_000);
    let sent: Vec<_> = app
        .sandbox_messages()
        .await
        .iter()
        .map(|m| m["channel"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent, ["Viber"], "the SMS never reached a provider");
    assert!((app.account_balance(&app.account_id).await - 0.01).abs() < 1e-9);
}

#[tokio::test]
async fn rule_6_a_channel_without_provider_fails_with_status_code_0() {
    let app = spawn_app_with(&[("CASCADE_SANDBOX_CHANNELS", "sms,viber")]).await;
    app.scenario(
        json!({"channel": "Sms", "to": "*", "events": [{"afterMs": 5, "status": "Undelivered"}]}),
    )
    .await;
    let id = app
        .send_flow(&flow(vec![sms_step(1, "Hi"), voice_step(2)]))
        .await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Failed");
    assert_eq!(t["statusCode"], "0");
    assert_eq!(t["terminationChannel"], "Voice");
    assert_eq!(status_of(&t["messages"][1]), "Failed");
    assert_eq!(
        t["messages"][1]["status"]["reason"]["detailedStatus"],
        "Internal error"
    );
}

#[tokio::test]
async fn voice_machine_answer_with_hangup_is_no_answer_and_fails_over() {
    let app = spawn_app().await;
    app.scenario(
        json!({"channel": "Voice", "to": "*", "answeredBy": "machine", "durationSeconds": 3}),
    )
    .await;
    let mut voice = voice_step(1);
    voice["machineDetection"] = json!({"strategy": "Hangup"});
    let id = app
        .send_flow(&flow(vec![voice, sms_step(2, "We tried to call you")]))
        .await;
    let t = app.wait_final(&id).await;
    let call = &t["messages"][0];
    assert_eq!(status_of(call), "NoAnswer");
    assert_eq!(
        call["status"]["reason"]["detailedStatus"],
        "Answered by machine"
    );
    assert_eq!(call["answeredBy"], "machine");
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["terminationChannel"], "Sms");
}
