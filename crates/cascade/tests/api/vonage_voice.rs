//! Voice through the `vonage-voice` adapter, against the Vonage Voice mock
//! (`vonage_voice_mock`): what Cascade asks Vonage for (RS256-authenticated, validated
//! against the documented constraints), what each signed event does to the tracking, an
//! event that fails verification, machine detection, a 429 retried, and what Vonage
//! cannot do refused before any request.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::provider_mocks::{
    VONAGE_APPLICATION, VONAGE_SIGNATURE_SECRET, fixture, vonage_sign, vonage_sign_with,
};
use crate::vonage_voice_mock::*;

const DIGITS: &str = "306912345678";

fn section(base: &str, application_id: &str) -> String {
    format!(
        "[[provider]]\nname = \"vonage-voice\"\nkind = \"vonage-voice\"\nbase_url = \"{base}\"\ntimeout_seconds = 2\napplication_id = \"{application_id}\"\nprivate_key_file = \"{}\"\nsignature_secret = \"{VONAGE_SIGNATURE_SECRET}\"\n",
        fixture("vonage-test-private.pem")
    )
}

/// Cascade with a Vonage Voice section, and its webhook URL.
async fn app_with(section_text: &str) -> (TestApp, String) {
    let (app, public) = spawn_app_public(section_text, &[]).await;
    (app, format!("{public}/webhooks/vonage-voice"))
}

#[tokio::test]
async fn a_call_goes_through_every_status_with_its_duration_and_price() {
    let mock = VonageVoiceMock::start().await;
    mock.on(
        DIGITS,
        vec![
            event(10, "started", json!({})),
            event(10, "ringing", json!({})),
            event(10, "answered", json!({"start_time": null, "rate": "0.27000000", "network": "20201"})),
            event(
                10,
                "completed",
                json!({"duration": "7", "price": "0.03150000", "rate": "0.27000000", "disconnected_by": "user"}),
            ),
        ],
    );
    let (app, webhook_url) = app_with(&section(&mock.base, VONAGE_APPLICATION)).await;
    let mut step = voice_step(1);
    step["dialPlan"] = json!({"verbs": [
        {"type": "SAY", "message": {"text": "Ihr Code ist 1 2 3", "language": "de-DE", "gender": "female"}, "repeat": 2},
        {"type": "PLAY", "fileURL": "https://example.com/tone.mp3", "repeat": 1}
    ]});
    let id = app.send_flow(&flow(vec![step])).await;
    let t = wait_first_status(&app, &id, "Completed").await;
    assert_eq!(t["messages"][0]["duration"], 7, "{t:#}");
    assert_eq!(t["status"], "Succeeded");

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].2, 201,
        "the RS256 token and the body were accepted"
    );
    let body = &requests[0].1;
    assert_eq!(body["to"], json!([{"type": "phone", "number": DIGITS}]));
    assert_eq!(
        body["from"],
        json!({"type": "phone", "number": "306900000000"})
    );
    assert_eq!(
        body["ncco"],
        json!([
            {"action": "talk", "text": "Ihr Code ist 1 2 3", "language": "de-DE", "style": 0, "loop": 2},
            {"action": "stream", "streamUrl": ["https://example.com/tone.mp3"], "loop": 1}
        ])
    );
    assert_eq!(body["event_url"], json!([webhook_url]));
    assert_eq!(body["event_method"], "POST");
    assert!(body.get("machine_detection").is_none());

    eventually("four events answered", Duration::from_secs(10), || {
        mock.event_answers().len() == 4
    })
    .await;
    assert_eq!(mock.event_answers(), vec![200; 4]);
    let events = app.events(&id).await;
    let reports: Vec<&Value> = events.iter().filter(|e| e["type"] == "report").collect();
    let statuses: Vec<&str> = reports
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec!["Initiated", "Ringing", "InProgress", "Completed"],
        "{events:#?}"
    );
    let completed = reports.last().unwrap();
    assert_eq!(
        completed["providerPrice"], "0.03150000 EUR",
        "{completed:#}"
    );
    let submitted = events.iter().find(|e| e["type"] == "submitted").unwrap();
    assert_eq!(submitted["provider"], "vonage-voice");
}

#[tokio::test]
async fn calls_that_are_not_answered_end_with_their_status_and_reason() {
    let mock = VonageVoiceMock::start().await;
    let cases = [
        ("306910000001", "busy", json!({}), "Busy", None),
        (
            "306910000002",
            "timeout",
            json!({}),
            "NoAnswer",
            Some((
                "Timed Out",
                "vonage-voice: nobody answered before the ringing timer ran out.",
            )),
        ),
        (
            "306910000003",
            "unanswered",
            json!({"detail": "declined"}),
            "NoAnswer",
            Some(("Declined", "vonage-voice: the recipient declined the call.")),
        ),
        (
            "306910000004",
            "unanswered",
            json!({"detail": "unavailable"}),
            "NoAnswer",
            Some((
                "No Answer",
                "vonage-voice: the recipient was unreachable or did not answer (unavailable).",
            )),
        ),
        (
            "306910000005",
            "failed",
            json!({"detail": "invalid_number"}),
            "Failed",
            Some((
                "Call Failed",
                "vonage-voice could not place the call (invalid_number).",
            )),
        ),
        (
            "306910000006",
            "rejected",
            json!({"detail": "restricted"}),
            "Failed",
            Some((
                "Call Failed",
                "vonage-voice could not place the call (restricted).",
            )),
        ),
        (
            "306910000007",
            "cancelled",
            json!({}),
            "Failed",
            Some((
                "Canceled",
                "vonage-voice canceled the call before it was answered.",
            )),
        ),
    ];
    for (to, status, more, ..) in &cases {
        mock.on(
            to,
            vec![
                event(5, "started", json!({})),
                event(5, status, more.clone()),
            ],
        );
    }
    let (app, _) = app_with(&section(&mock.base, VONAGE_APPLICATION)).await;
    let mut ids = Vec::new();
    for (to, ..) in &cases {
        ids.push(app.send_flow(&call_to(&format!("+{to}"))).await);
    }
    for ((to, _, _, expected, reason), id) in cases.iter().zip(&ids) {
        let t = wait_first_status(&app, id, expected).await;
        assert_eq!(t["status"], "Failed", "{to}: {t:#}");
        if let Some((detailed, description)) = reason {
            let r = &t["messages"][0]["status"]["reason"];
            assert_eq!(r["detailedStatus"], *detailed, "{to}");
            assert_eq!(r["description"], *description, "{to}");
        }
    }
}

#[tokio::test]
async fn an_event_that_fails_verification_gets_401_and_changes_nothing() {
    let mock = VonageVoiceMock::start().await;
    mock.on(
        DIGITS,
        vec![
            event(5, "started", json!({})),
            event(5, "ringing", json!({})),
        ],
    );
    let (app, webhook_url) = app_with(&section(&mock.base, VONAGE_APPLICATION)).await;
    let id = app.send_flow(&call_to(PHONE)).await;
    wait_first_status(&app, &id, "Ringing").await;
    eventually("two events answered", Duration::from_secs(10), || {
        mock.event_answers().len() == 2
    })
    .await;
    let uuid = mock.calls_to(DIGITS).pop().unwrap();
    let before = app.events(&id).await.len();
    let body = serde_json::to_vec(&json!({
        "uuid": uuid, "conversation_uuid": "CON-x", "status": "completed",
        "duration": "9", "price": "0.01", "timestamp": "2026-11-26T10:15:00.000Z",
    }))
    .unwrap();
    let other_body =
        serde_json::to_vec(&json!({"uuid": uuid, "status": "completed", "duration": "1"})).unwrap();
    for (header, why) in [
        (None, "unsigned"),
        (
            Some(vonage_sign_with("not-the-secret", &body)),
            "another secret",
        ),
        (Some(vonage_sign(&other_body)), "signed over another body"),
        (
            Some(("authorization".to_owned(), "Bearer not.a.jwt".to_owned())),
            "not a token",
        ),
    ] {
        let mut r = app
            .client
            .post(&webhook_url)
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some((name, value)) = header {
            r = r.header(name, value);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{why}");
    }
    assert_eq!(app.events(&id).await.len(), before, "nothing recorded");
    assert_eq!(
        status_of(&app.tracking(&id).await["messages"][0]),
        "Ringing"
    );

    // The same event signed properly is taken.
    let (name, value) = vonage_sign(&body);
    let r = app
        .client
        .post(&webhook_url)
        .header("content-type", "application/json")
        .header(name, value)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let t = wait_first_status(&app, &id, "Completed").await;
    assert_eq!(t["messages"][0]["duration"], 9);
}

#[tokio::test]
async fn a_machine_answer_with_hangup_ends_as_no_answer() {
    let mock = VonageVoiceMock::start().await;
    // Vonage ends the call itself after `machine` (the mock sends `completed`); the
    // older event form names the leg `call_uuid`.
    mock.on(
        DIGITS,
        vec![
            event(5, "started", json!({})),
            event(5, "ringing", json!({})),
            event(5, "answered", json!({})),
            amd_old_form(5, "machine"),
        ],
    );
    let (app, _) = app_with(&section(&mock.base, VONAGE_APPLICATION)).await;
    let mut step = voice_step(1);
    step["machineDetection"] = json!({"strategy": "Hangup"});
    let id = app.send_flow(&flow(vec![step])).await;
    let t = wait_first_status(&app, &id, "NoAnswer").await;
    let m = &t["messages"][0];
    assert_eq!(
        m["status"]["reason"]["detailedStatus"], "Answered by machine",
        "{t:#}"
    );
    assert_eq!(m["answeredBy"], "machine");
    assert_eq!(mock.requests()[0].1["machine_detection"], "hangup");
}

#[tokio::test]
async fn a_human_answer_with_continue_is_recorded_and_the_call_completes() {
    let mock = VonageVoiceMock::start().await;
    mock.on(
        DIGITS,
        vec![
            event(5, "answered", json!({})),
            event(5, "human", json!({})),
            event(20, "completed", json!({"duration": 12, "price": 0.054})),
        ],
    );
    let (app, _) = app_with(&section(&mock.base, VONAGE_APPLICATION)).await;
    let mut step = voice_step(1);
    step["machineDetection"] = json!({"strategy": "Continue"});
    let id = app.send_flow(&flow(vec![step])).await;
    let t = wait_first_status(&app, &id, "Completed").await;
    let m = &t["messages"][0];
    assert_eq!(m["answeredBy"], "human", "{t:#}");
    assert_eq!(m["duration"], 12);
    assert_eq!(mock.requests()[0].1["machine_detection"], "continue");
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after() {
    let mock = VonageVoiceMock::start().await;
    mock.script(vec![Answer::Status(429, Some(1))]);
    mock.on(
        DIGITS,
        vec![event(5, "completed", json!({"duration": "2"}))],
    );
    let (app, _) = app_with(&section(&mock.base, VONAGE_APPLICATION)).await;
    let id = app.send_flow(&call_to(PHONE)).await;
    let t = app
        .wait_for(&id, Duration::from_secs(20), |t| {
            status_of(&t["messages"][0]) == "Completed"
        })
        .await;
    assert_eq!(t["status"], "Succeeded");
    let requests = mock.requests();
    assert_eq!(
        requests.iter().map(|r| r.2).collect::<Vec<_>>(),
        vec![429, 201]
    );
    assert!(
        requests[1].0 - requests[0].0 >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
}

#[tokio::test]
async fn what_vonage_cannot_do_fails_before_any_request_and_sip_is_called() {
    let mock = VonageVoiceMock::start().await;
    mock.on(
        "sip:alice@pbx.example.com",
        vec![event(5, "completed", json!({"duration": "1"}))],
    );
    let (app, _) = app_with(&section(&mock.base, VONAGE_APPLICATION)).await;

    let mut bulgarian = voice_step(1);
    bulgarian["dialPlan"] = json!({"verbs": [
        {"type": "SAY", "message": {"text": "Здравейте", "language": "bg-BG", "gender": "female"}}
    ]});
    let mut viber = voice_step(1);
    viber["to"] = json!({"viber": PHONE});
    for (step, what) in [(bulgarian, "the language bg-BG"), (viber, "a Viber call")] {
        let id = app.send_flow(&flow(vec![step])).await;
        let t = app.wait_final(&id).await;
        let m = &t["messages"][0];
        assert_eq!(status_of(m), "Failed", "{t:#}");
        assert_eq!(m["status"]["reason"]["detailedStatus"], "Not supported");
        let description = m["status"]["reason"]["description"].as_str().unwrap();
        assert!(description.contains(what), "{description}");
    }
    assert!(mock.requests().is_empty(), "nothing sent to Vonage");

    let mut step = voice_step(1);
    step["to"] = json!({"sip": "alice@pbx.example.com"});
    let id = app.send_flow(&flow(vec![step])).await;
    wait_first_status(&app, &id, "Completed").await;
    assert_eq!(
        mock.requests()[0].1["to"],
        json!([{"type": "sip", "uri": "sip:alice@pbx.example.com"}])
    );
}

#[tokio::test]
async fn a_token_for_another_application_is_refused_and_places_no_call() {
    let mock = VonageVoiceMock::start().await;
    let (app, _) = app_with(&section(&mock.base, "bbbbbbbb-0000-4000-8000-000000000002")).await;
    let _id = app.send_flow(&call_to(PHONE)).await;
    eventually("a request reached Vonage", Duration::from_secs(10), || {
        !mock.requests().is_empty()
    })
    .await;
    assert_eq!(mock.requests()[0].2, 401);
    assert!(mock.calls_to(DIGITS).is_empty(), "no call created");
    let m = app.metrics().await;
    assert!(
        m.get("cascade_provider_requests_total{provider=\"vonage-voice\",channel=\"Voice\",outcome=\"unauthorized\"}")
            .is_some_and(|n| *n >= 1.0),
        "{m:#?}"
    );
}
