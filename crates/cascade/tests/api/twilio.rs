//! Voice through the `twilio-voice` adapter, against the Twilio mock (`twilio_mock`): what
//! Cascade asks Twilio for, what each signed status callback does to the tracking, a
//! callback that fails verification, machine detection with `Hangup`, the price fetched
//! after the call, and a 429 retried.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::twilio_mock::*;

fn twilio_section(base: &str) -> String {
    format!(
        "[[provider]]\nname = \"twilio\"\nkind = \"twilio-voice\"\nbase_url = \"{base}\"\ntimeout_seconds = 2\naccount_sid = \"{ACCOUNT_SID}\"\nauth_token = \"{AUTH_TOKEN}\"\n"
    )
}

/// Cascade with a Twilio section, reachable at its public URL.
async fn app_with(base: &str) -> (TestApp, String) {
    let (app, public) = spawn_app_public(&twilio_section(base), &[]).await;
    (app, format!("{public}/webhooks/twilio"))
}

#[tokio::test]
async fn a_call_goes_through_every_status_and_its_price_is_fetched_later() {
    let mock = TwilioMock::start().await;
    mock.on(
        PHONE,
        vec![
            status(10, "initiated", &[]),
            status(10, "ringing", &[]),
            status(10, "in-progress", &[]),
            status(10, "completed", &[("CallDuration", "7")]),
        ],
    );
    let (app, webhook_url) = app_with(&mock.base).await;
    let mut step = voice_step(1);
    step["dialPlan"] = json!({"verbs": [
        {"type": "SAY", "message": {"text": "Your code is 1 2 3 & <4>", "language": "de-DE", "gender": "female"}, "repeat": 2},
        {"type": "PLAY", "fileURL": "https://example.com/tone.mp3", "repeat": 1}
    ]});
    let id = app.send_flow(&flow(vec![step])).await;
    let t = wait_first_status(&app, &id, "Completed").await;
    let m = &t["messages"][0];
    assert_eq!(m["duration"], 7, "{t:#}");
    assert_eq!(t["status"], "Succeeded");

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let form = &requests[0].1;
    assert_eq!(requests[0].2, 201);
    assert_eq!(value(form, "To"), Some(PHONE));
    assert_eq!(value(form, "From"), Some("+306900000000"));
    assert_eq!(
        value(form, "Twiml"),
        Some(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
             <Say voice=\"Polly.Marlene\" language=\"de-DE\" loop=\"2\">Your code is 1 2 3 &amp; &lt;4&gt;</Say>\
             <Play loop=\"1\">https://example.com/tone.mp3</Play></Response>"
        )
    );
    assert_eq!(value(form, "StatusCallback"), Some(webhook_url.as_str()));
    assert_eq!(value(form, "StatusCallbackMethod"), Some("POST"));
    assert_eq!(
        values(form, "StatusCallbackEvent"),
        vec!["initiated", "ringing", "answered", "completed"]
    );
    assert_eq!(value(form, "MachineDetection"), None);

    eventually("four callbacks answered", Duration::from_secs(10), || {
        mock.callback_answers().len() == 4
    })
    .await;
    assert_eq!(mock.callback_answers(), vec![200; 4]);
    let events = app.events(&id).await;
    let reported: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "report")
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        reported,
        vec!["Initiated", "Ringing", "InProgress", "Completed"]
    );

    // Twilio has no price at the first fetch; the adapter asks again.
    let sid = mock.sids_to(PHONE).pop().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let price_line = loop {
        let events = app.events(&id).await;
        if let Some(e) = events.into_iter().find(|e| e["type"] == "provider_price") {
            break e;
        }
        assert!(Instant::now() < deadline, "no provider_price line");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        price_line["providerPrice"], "-0.01300 USD",
        "{price_line:#}"
    );
    assert_eq!(price_line["provider"], "twilio");
    assert_eq!(mock.fetches(&sid), 2, "null first, then priced");
}

#[tokio::test]
async fn busy_no_answer_and_failed_calls_end_the_step_with_their_status() {
    let mock = TwilioMock::start().await;
    let cases = [
        ("+306910000001", "busy", vec![], "Busy", None),
        ("+306910000002", "no-answer", vec![], "NoAnswer", None),
        (
            "+306910000003",
            "failed",
            vec![("SipResponseCode", "404")],
            "Failed",
            Some(("Call Failed", "twilio could not place the call (SIP 404).")),
        ),
        (
            "+306910000004",
            "canceled",
            vec![],
            "Failed",
            Some((
                "Canceled",
                "twilio canceled the call before it was answered.",
            )),
        ),
    ];
    for (to, final_status, more, _, _) in &cases {
        mock.on(
            to,
            vec![status(5, "initiated", &[]), status(5, final_status, more)],
        );
    }
    let (app, _) = app_with(&mock.base).await;
    let mut ids = Vec::new();
    for (to, ..) in &cases {
        ids.push(app.send_flow(&call_to(to)).await);
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
async fn a_callback_that_fails_verification_gets_401_and_changes_nothing() {
    let mock = TwilioMock::start().await;
    mock.on(
        PHONE,
        vec![status(5, "initiated", &[]), status(5, "ringing", &[])],
    );
    let (app, webhook_url) = app_with(&mock.base).await;
    let id = app.send_flow(&call_to(PHONE)).await;
    wait_first_status(&app, &id, "Ringing").await;
    eventually("two callbacks answered", Duration::from_secs(10), || {
        mock.callback_answers().len() == 2
    })
    .await;
    let sid = mock.sids_to(PHONE).pop().unwrap();
    let before = app.events(&id).await.len();
    let params: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", sid.as_str()),
        ("CallStatus", "completed"),
        ("CallDuration", "9"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let body = form_body(&params);
    let mut tampered = params.clone();
    tampered[3].1 = "1".into();
    for (signature, why) in [
        (None, "unsigned"),
        (
            Some(twilio_sign("not-the-token", &webhook_url, &params)),
            "another token",
        ),
        (
            Some(twilio_sign(
                AUTH_TOKEN,
                &format!("{webhook_url}/other"),
                &params,
            )),
            "another URL",
        ),
        (
            Some(twilio_sign(AUTH_TOKEN, &webhook_url, &tampered)),
            "other parameters",
        ),
    ] {
        let mut r = app
            .client
            .post(&webhook_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone());
        if let Some(s) = signature {
            r = r.header("x-twilio-signature", s);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{why}");
    }
    assert_eq!(app.events(&id).await.len(), before, "nothing recorded");
    assert_eq!(
        status_of(&app.tracking(&id).await["messages"][0]),
        "Ringing"
    );

    // The same callback signed properly is taken.
    let r = app
        .client
        .post(&webhook_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "x-twilio-signature",
            twilio_sign(AUTH_TOKEN, &webhook_url, &params),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let t = wait_first_status(&app, &id, "Completed").await;
    assert_eq!(t["messages"][0]["duration"], 9);
}

#[tokio::test]
async fn a_machine_answer_with_hangup_is_hung_up_and_ends_as_no_answer() {
    let mock = TwilioMock::start().await;
    mock.on(
        PHONE,
        vec![
            status(5, "initiated", &[]),
            status(5, "ringing", &[]),
            status(5, "in-progress", &[]),
            amd(5, "machine_start"),
        ],
    );
    let (app, webhook_url) = app_with(&mock.base).await;
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

    let form = &mock.requests()[0].1;
    assert_eq!(value(form, "MachineDetection"), Some("Enable"));
    assert_eq!(value(form, "AsyncAmd"), Some("true"));
    assert_eq!(
        value(form, "AsyncAmdStatusCallback"),
        Some(webhook_url.as_str())
    );
    let updates = mock.updates();
    assert_eq!(updates.len(), 1, "hung up once: {updates:?}");
    assert_eq!(updates[0].0, mock.sids_to(PHONE)[0]);
    assert_eq!(value(&updates[0].1, "Status"), Some("completed"));
}

#[tokio::test]
async fn a_human_answer_is_recorded_and_the_call_goes_on() {
    let mock = TwilioMock::start().await;
    mock.on(
        PHONE,
        vec![
            status(5, "initiated", &[]),
            status(5, "in-progress", &[]),
            amd(5, "human"),
            status(30, "completed", &[("CallDuration", "12")]),
        ],
    );
    let (app, _) = app_with(&mock.base).await;
    let mut step = voice_step(1);
    step["machineDetection"] = json!({"strategy": "Hangup"});
    let id = app.send_flow(&flow(vec![step])).await;
    let t = wait_first_status(&app, &id, "Completed").await;
    let m = &t["messages"][0];
    assert_eq!(m["answeredBy"], "human", "{t:#}");
    assert_eq!(m["duration"], 12);
    assert!(mock.updates().is_empty(), "no hang-up for a human");
}

#[tokio::test]
async fn continue_asks_twilio_to_wait_for_the_end_of_the_greeting() {
    let mock = TwilioMock::start().await;
    mock.on(
        PHONE,
        vec![status(5, "completed", &[("CallDuration", "3")])],
    );
    let (app, _) = app_with(&mock.base).await;
    let mut step = voice_step(1);
    step["machineDetection"] = json!({"strategy": "Continue"});
    let id = app.send_flow(&flow(vec![step])).await;
    wait_first_status(&app, &id, "Completed").await;
    let form = &mock.requests()[0].1;
    assert_eq!(value(form, "MachineDetection"), Some("DetectMessageEnd"));
    assert_eq!(value(form, "AsyncAmd"), None);
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after() {
    let mock = TwilioMock::start().await;
    mock.script(vec![Answer::Status(429, Some(1))]);
    mock.on(
        PHONE,
        vec![status(5, "completed", &[("CallDuration", "2")])],
    );
    let (app, _) = app_with(&mock.base).await;
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
async fn a_call_to_a_viber_user_is_refused_and_a_sip_address_is_called() {
    let mock = TwilioMock::start().await;
    mock.on(
        "sip:alice@pbx.example.com",
        vec![status(5, "completed", &[("CallDuration", "1")])],
    );
    let (app, _) = app_with(&mock.base).await;
    let mut step = voice_step(1);
    step["to"] = json!({"viber": PHONE});
    let id = app.send_flow(&flow(vec![step])).await;
    let t = app.wait_final(&id).await;
    let m = &t["messages"][0];
    assert_eq!(status_of(m), "Failed", "{t:#}");
    assert_eq!(m["status"]["reason"]["detailedStatus"], "Not supported");
    assert!(mock.requests().is_empty(), "nothing sent to Twilio");

    let mut step = voice_step(1);
    step["to"] = json!({"sip": "alice@pbx.example.com"});
    let id = app.send_flow(&flow(vec![step])).await;
    wait_first_status(&app, &id, "Completed").await;
    assert_eq!(
        value(&mock.requests()[0].1, "To"),
        Some("sip:alice@pbx.example.com")
    );
}

#[tokio::test]
async fn wrong_credentials_are_refused_by_twilio_and_never_place_the_call() {
    let mock = TwilioMock::start().await;
    let (app, _public) = spawn_app_public(
        &twilio_section(&mock.base).replace(AUTH_TOKEN, "wrong-token"),
        &[],
    )
    .await;
    let _id = app.send_flow(&call_to(PHONE)).await;
    eventually("a request reached Twilio", Duration::from_secs(10), || {
        !mock.requests().is_empty()
    })
    .await;
    assert_eq!(mock.requests()[0].2, 401);
    assert!(mock.sids_to(PHONE).is_empty(), "no call created");
    let m = app.metrics().await;
    assert!(
        m.get("cascade_provider_requests_total{provider=\"twilio\",channel=\"Voice\",outcome=\"unauthorized\"}")
            .is_some_and(|n| *n >= 1.0),
        "{m:#?}"
    );
}
