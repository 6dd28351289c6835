//! `POST /failover` rejects every bad body of the contract's §3 with `400022001` and the
//! path of each bad field, stores and sends nothing, answers in the error shape for bad
//! JSON, content types, sizes and tokens, and echoes an accepted flow with its defaults.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use serde_json::{Value, json};

use crate::helpers::*;

// --- private helpers -------------------------------------------------------------------------

/// `value` with the member at JSON pointer `pointer` set to `new` (`None` removes it).
fn edit(mut value: Value, pointer: &str, new: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    match (value.pointer_mut(parent), new) {
        (Some(Value::Object(map)), Some(v)) => {
            map.insert(key.to_owned(), v);
        }
        (Some(Value::Object(map)), None) => {
            map.remove(key);
        }
        (Some(Value::Array(items)), Some(v)) => {
            items[key.parse::<usize>().expect("an index")] = v;
        }
        (other, _) => panic!("cannot edit {pointer} in {other:?}"),
    }
    value
}

fn set(value: Value, pointer: &str, new: Value) -> Value {
    edit(value, pointer, Some(new))
}

fn del(value: Value, pointer: &str) -> Value {
    edit(value, pointer, None)
}

fn one(step: Value) -> Value {
    flow(vec![step])
}

fn long(n: usize) -> String {
    "x".repeat(n)
}

/// A voice step whose dial plan is exactly `verbs`.
fn voice_verbs(verbs: Value) -> Value {
    one(set(voice_step(1), "/dialPlan/verbs", verbs))
}

/// A voice step with one SAY verb whose `message` is `message`.
fn say(message: Value) -> Value {
    voice_verbs(json!([{"type": "SAY", "message": message}]))
}

fn with_callback(callback: Value) -> Value {
    json!({"flow": [sms_step(1, "Hi")], "callback": callback})
}

/// Status, headers and the JSON body (`Value::Null` when the body is not JSON).
async fn parts(r: reqwest::Response) -> (StatusCode, HeaderMap, Value) {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, headers, body)
}

/// `POST /failover` with the test token, the raw bytes and the given content type.
async fn post_raw(app: &TestApp, content_type: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/failover"))
        .bearer_auth(app.token().await)
        .body(body);
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    req.send().await.expect("request sent")
}

/// The API error shape with `code`; `developerMessage` is a non-empty string.
fn assert_api_error(context: &str, status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{context}: {body}");
    assert_eq!(body["code"], code, "{context}: {body}");
    assert!(
        body["developerMessage"]
            .as_str()
            .is_some_and(|m| !m.trim().is_empty()),
        "{context}: developerMessage is a non-empty string: {body}"
    );
}

/// Nothing stored, nothing handed to a provider.
async fn assert_nothing_stored(app: &TestApp, context: &str) {
    assert_eq!(app.flow_count().await, 0, "{context}: no flow is stored");
    let sent = app.sandbox_messages().await;
    assert!(sent.is_empty(), "{context}: nothing is sent: {sent:?}");
}

/// `createdAt` as the contract prints it: `2026-03-01T09:15:02.113Z`.
fn assert_rfc3339_millis_z(text: &str) {
    let b = text.as_bytes();
    let digit_at = |positions: &[usize]| positions.iter().all(|&i| b[i].is_ascii_digit());
    assert_eq!(b.len(), 24, "{text:?} is YYYY-MM-DDTHH:MM:SS.mmmZ");
    assert!(
        digit_at(&[0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22])
            && (b[4], b[7], b[10], b[13], b[16], b[19], b[23])
                == (b'-', b'-', b'T', b':', b':', b'.', b'Z'),
        "{text:?} is YYYY-MM-DDTHH:MM:SS.mmmZ"
    );
    assert!(text.ends_with('Z'));
    let fraction = text.rsplit_once('.').expect("a fraction").1;
    assert_eq!(
        fraction.len(),
        4,
        "three fractional digits then Z: {text:?}"
    );
}

// --- the table ---------------------------------------------------------------------------

#[tokio::test]
async fn every_rule_of_section_3_is_a_400_with_the_field_path_and_nothing_is_stored() {
    let app = spawn_app().await;
    let sender = app.sender_id.clone();
    let other_account = app.create_account(10.0).await;
    let foreign_sender = app.add_viber_sender(&other_account, "OtherBrand").await;

    let sms = || sms_step(1, "Hello");
    let viber = || viber_step(1, &sender);
    let voice = || voice_step(1);
    let viber_message = |m: Value| one(set(viber(), "/message", m));
    let action = || json!({"caption": "Buy", "targetUrl": "https://example.com/buy"});
    let file = || json!({"fileName": "terms.pdf", "fileType": "pdf", "fileUrl": "https://example.com/t.pdf"});
    let video = || {
        json!({"videoUrl": "https://example.com/v.mp4", "videoThumbnail": "https://example.com/v.jpg",
               "fileSize": 10, "duration": 30})
    };
    let cb = || json!({"strategy": "OnChange", "url": "https://hooks.example.com/cb"});
    let eleven_steps: Vec<Value> = (1..=11).map(|o| sms_step(o, "Hi")).collect();
    let eleven_verbs = json!(vec![json!({"type": "SAY", "message": {"text": "Hi"}}); 11]);

    // (what is wrong, request body, the field path reported)
    #[rustfmt::skip]
    let rows: Vec<(&str, Value, &str)> = vec![
        // the flow
        ("no steps", json!({"flow": []}), "flow"),
        ("eleven steps", flow(eleven_steps), "flow"),
        ("flow missing", json!({}), "flow"),
        ("flow not an array", json!({"flow": sms()}), "flow"),
        // every step
        ("type missing", one(del(sms(), "/type")), "flow[0].type"),
        ("type unknown", one(set(sms(), "/type", json!("Email"))), "flow[0].type"),
        ("order missing", one(del(sms(), "/order")), "flow[0].order"),
        ("order zero", one(set(sms(), "/order", json!(0))), "flow[0].order"),
        ("order negative", one(set(sms(), "/order", json!(-2))), "flow[0].order"),
        ("order non-integer", one(set(sms(), "/order", json!(1.5))), "flow[0].order"),
        ("order a string", one(set(sms(), "/order", json!("1"))), "flow[0].order"),
        ("order duplicated", flow(vec![sms_step(1, "Hi"), voice_step(1)]), "flow[1].order"),
        ("Seen on Sms", one(set(sms(), "/failoverOnStatuses", json!(["Seen"]))), "flow[0].failoverOnStatuses"),
        ("Busy on Viber", one(set(viber(), "/failoverOnStatuses", json!(["Expired", "Busy"]))), "flow[0].failoverOnStatuses"),
        ("Expired on Voice", one(set(voice(), "/failoverOnStatuses", json!("Busy,Expired"))), "flow[0].failoverOnStatuses"),
        ("statuses a number", one(set(sms(), "/failoverOnStatuses", json!(3))), "flow[0].failoverOnStatuses"),
        ("a bad third step is reported at its index", flow(vec![viber_step(1, &sender), sms_step(2, "Hi"), set(sms_step(3, "Hi"), "/ttl", json!(0))]), "flow[2].ttl"),
        // sms
        ("sms from missing", one(del(sms(), "/from")), "flow[0].from"),
        ("sms from 12 alphanumeric chars", one(set(sms(), "/from", json!("TwelveChars1"))), "flow[0].from"),
        ("sms from 17 digits", one(set(sms(), "/from", json!("12345678901234567"))), "flow[0].from"),
        ("sms from bad characters", one(set(sms(), "/from", json!("Cas*cade!"))), "flow[0].from"),
        ("sms to not E.164", one(set(sms(), "/to", json!("306912345678"))), "flow[0].to"),
        ("sms to missing", one(del(sms(), "/to")), "flow[0].to"),
        ("sms ttl 0", one(set(sms(), "/ttl", json!(0))), "flow[0].ttl"),
        ("sms ttl 1441", one(set(sms(), "/ttl", json!(1441))), "flow[0].ttl"),
        ("sms ttl 1.5", one(set(sms(), "/ttl", json!(1.5))), "flow[0].ttl"),
        ("sms message missing", one(del(sms(), "/message")), "flow[0].message"),
        ("sms body missing", one(del(sms(), "/message/body")), "flow[0].message.body"),
        ("sms body empty", one(set(sms(), "/message/body", json!(""))), "flow[0].message.body"),
        ("sms label 351 chars", one(set(sms(), "/message/label", json!(long(351)))), "flow[0].message.label"),
        ("sms flash not a bool", one(set(sms(), "/message/flash", json!("yes"))), "flow[0].message.flash"),
        // viber
        ("viber sender missing", one(del(viber(), "/senderInfoTrackingId")), "flow[0].senderInfoTrackingId"),
        ("viber sender unknown", one(set(viber(), "/senderInfoTrackingId", json!("no-such-sender"))), "flow[0].senderInfoTrackingId"),
        ("viber sender of another account", one(set(viber(), "/senderInfoTrackingId", json!(foreign_sender))), "flow[0].senderInfoTrackingId"),
        ("viber to not E.164", one(set(viber(), "/to", json!("+0306912345678"))), "flow[0].to"),
        ("viber ttl 0.4", one(set(viber(), "/ttl", json!(0.4))), "flow[0].ttl"),
        ("viber ttl 0.55", one(set(viber(), "/ttl", json!(0.55))), "flow[0].ttl"),
        ("viber ttl 1441", one(set(viber(), "/ttl", json!(1441))), "flow[0].ttl"),
        ("viber text 1001 chars", viber_message(json!({"text": long(1001)})), "flow[0].message.text"),
        ("viber imageUrl http", viber_message(json!({"imageUrl": "http://example.com/i.png"})), "flow[0].message.imageUrl"),
        ("viber action caption empty", viber_message(json!({"text": "t", "action": set(action(), "/caption", json!(""))})), "flow[0].message.action.caption"),
        ("viber action caption 31 chars", viber_message(json!({"text": "t", "action": set(action(), "/caption", json!(long(31)))})), "flow[0].message.action.caption"),
        ("viber action targetUrl not https", viber_message(json!({"text": "t", "action": set(action(), "/targetUrl", json!("http://example.com/buy"))})), "flow[0].message.action.targetUrl"),
        ("viber file type bad", viber_message(json!({"viberFile": set(file(), "/fileType", json!("exe"))})), "flow[0].message.viberFile.fileType"),
        ("viber file name 26 chars", viber_message(json!({"viberFile": set(file(), "/fileName", json!(long(26)))})), "flow[0].message.viberFile.fileName"),
        ("viber file with text", viber_message(json!({"viberFile": file(), "text": "Hi"})), "flow[0].message"),
        ("viber video with image", viber_message(json!({"viberVideo": video(), "imageUrl": "https://example.com/i.png"})), "flow[0].message"),
        ("viber video size too big", viber_message(json!({"viberVideo": set(video(), "/fileSize", json!(200.5))})), "flow[0].message.viberVideo.fileSize"),
        ("viber no content at all", viber_message(json!({})), "flow[0].message"),
        ("viber message missing", one(del(viber(), "/message")), "flow[0].message"),
        ("viber inboundUrl not a URL", one(set(viber(), "/inboundUrl", json!("not a url"))), "flow[0].inboundUrl"),
        ("viber label 351 chars", one(set(viber(), "/label", json!(long(351)))), "flow[0].label"),
        // voice
        ("voice from alphanumeric", one(set(voice(), "/from", json!("MyBrand"))), "flow[0].from"),
        ("voice from missing", one(del(voice(), "/from")), "flow[0].from"),
        ("voice to missing", one(del(voice(), "/to")), "flow[0].to"),
        ("voice to empty object", one(set(voice(), "/to", json!({}))), "flow[0].to"),
        ("voice to only empty members", one(set(voice(), "/to", json!({"phone": "", "sip": ""}))), "flow[0].to"),
        ("voice to bad phone", one(set(voice(), "/to", json!({"phone": "+30 691"}))), "flow[0].to.phone"),
        ("voice to bad sip", one(set(voice(), "/to", json!({"sip": "alice"}))), "flow[0].to.sip"),
        ("voice dialPlan missing", one(del(voice(), "/dialPlan")), "flow[0].dialPlan"),
        ("voice verbs empty", voice_verbs(json!([])), "flow[0].dialPlan.verbs"),
        ("voice 11 verbs", voice_verbs(eleven_verbs), "flow[0].dialPlan.verbs"),
        ("SAY text missing", say(json!({})), "flow[0].dialPlan.verbs[0].message.text"),
        ("SAY text 4001 chars", say(json!({"text": long(4001)})), "flow[0].dialPlan.verbs[0].message.text"),
        ("SAY bad language", say(json!({"text": "Hi", "language": "en-AU"})), "flow[0].dialPlan.verbs[0].message.language"),
        ("SAY bad gender", say(json!({"text": "Hi", "gender": "robot"})), "flow[0].dialPlan.verbs[0].message.gender"),
        ("SAY repeat 11", voice_verbs(json!([{"type": "SAY", "message": {"text": "Hi"}, "repeat": 11}])), "flow[0].dialPlan.verbs[0].repeat"),
        ("PLAY fileURL ftp", voice_verbs(json!([{"type": "PLAY", "fileURL": "ftp://cdn.example.com/a.mp3"}])), "flow[0].dialPlan.verbs[0].fileURL"),
        ("machineDetection strategy bad", one(set(voice(), "/machineDetection", json!({"strategy": "Ignore"}))), "flow[0].machineDetection.strategy"),
        // callback
        ("callback strategy bad", with_callback(set(cb(), "/strategy", json!("Always"))), "callback.strategy"),
        ("callback url not absolute", with_callback(set(cb(), "/url", json!("/hooks/cascade"))), "callback.url"),
        ("callback url ftp", with_callback(set(cb(), "/url", json!("ftp://hooks.example.com/cb"))), "callback.url"),
        ("callback url missing", with_callback(del(cb(), "/url")), "callback.url"),
    ];
    assert!(rows.len() >= 45, "{} rows", rows.len());

    for (name, body, key) in rows {
        let (status, _, body) = parts(app.post_flow(&body).await).await;
        assert_api_error(name, status, &body, StatusCode::BAD_REQUEST, "400022001");
        let properties = body["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: properties is an object: {body}"));
        assert!(
            properties.contains_key(key),
            "{name}: properties has {key:?}: {body}"
        );
        assert!(
            properties[key].as_str().is_some_and(|m| !m.is_empty()),
            "{name}: {key:?} says what is wrong: {body}"
        );
        assert_eq!(
            properties.keys().collect::<Vec<_>>(),
            [key],
            "{name}: only the broken field is reported: {body}"
        );
        assert_nothing_stored(&app, name).await;
    }
}

#[tokio::test]
async fn several_errors_in_one_request_are_all_reported_at_once() {
    let app = spawn_app().await;
    let body = json!({
        "flow": [
            set(set(sms_step(1, "Hi"), "/ttl", json!(0)), "/message/body", json!("")),
            set(viber_step(2, &app.sender_id), "/senderInfoTrackingId", json!("nope")),
            set(del(voice_step(3), "/from"), "/dialPlan/verbs/0/message/language", json!("xx-XX")),
            sms_step(3, "Hi"),
        ],
        "callback": {"strategy": "Never"},
    });
    let (status, _, body) = parts(app.post_flow(&body).await).await;
    assert_api_error(
        "several errors",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "400022001",
    );
    let mut keys: Vec<&str> = body["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "callback.strategy",
            "callback.url",
            "flow[0].message.body",
            "flow[0].ttl",
            "flow[1].senderInfoTrackingId",
            "flow[2].dialPlan.verbs[0].message.language",
            "flow[2].from",
            "flow[3].order",
        ],
        "{body}"
    );
    assert_nothing_stored(&app, "several errors").await;
}

// --- what is not a flow body ---------------------------------------------------------------

#[tokio::test]
async fn bodies_that_are_not_json_objects_or_not_json_are_rejected_in_the_error_shape() {
    let app = spawn_app().await;
    let valid = serde_json::to_vec(&flow(vec![sms_step(1, "Hi")])).unwrap();

    let (status, _, body) = parts(
        post_raw(
            &app,
            Some("application/json"),
            br#"{"flow": [{"type": "Sms""#.to_vec(),
        )
        .await,
    )
    .await;
    assert_api_error(
        "malformed JSON",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "400000000",
    );

    let (status, _, body) = parts(post_raw(&app, Some("application/json"), Vec::new()).await).await;
    assert_api_error(
        "empty body",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "400000000",
    );

    for not_an_object in ["[]", r#""x""#, "42", "null", "true"] {
        let context = format!("JSON {not_an_object}");
        let r = post_raw(&app, Some("application/json"), not_an_object.into()).await;
        let (status, _, body) = parts(r).await;
        assert_api_error(
            &context,
            status,
            &body,
            StatusCode::BAD_REQUEST,
            "400022001",
        );
        assert!(
            body["properties"]["flow"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{context}: a flow key: {body}"
        );
    }

    let (status, _, body) = parts(post_raw(&app, Some("text/plain"), valid.clone()).await).await;
    assert_api_error(
        "text/plain",
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "415000000",
    );

    let (status, _, body) = parts(post_raw(&app, None, valid.clone()).await).await;
    assert_api_error(
        "no content type",
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "415000000",
    );

    let (status, _, body) = parts(
        post_raw(
            &app,
            Some("application/x-www-form-urlencoded"),
            b"flow=1".to_vec(),
        )
        .await,
    )
    .await;
    assert_api_error(
        "a form",
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "415000000",
    );
    assert_nothing_stored(&app, "bodies that are not flows").await;

    // Parameters on the JSON media type are fine.
    let r = post_raw(&app, Some("application/json; charset=utf-8"), valid).await;
    let (status, _, body) = parts(r).await;
    assert_eq!(status, StatusCode::OK, "json with a charset: {body}");
    assert_eq!(app.flow_count().await, 1);
}

/// A valid one-step body of exactly `len` bytes (the SMS body is padded).
fn body_of_len(len: usize) -> Vec<u8> {
    let shell = serde_json::to_vec(&flow(vec![sms_step(1, "")])).unwrap();
    let padded = flow(vec![sms_step(1, &long(len - shell.len()))]);
    let bytes = serde_json::to_vec(&padded).unwrap();
    assert_eq!(bytes.len(), len);
    bytes
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_and_a_body_at_the_limit_is_read() {
    let app = spawn_app_with(&[("CASCADE_BODY_LIMIT_BYTES", "2048")]).await;

    for len in [2049, 4096] {
        let context = format!("{len} bytes");
        let r = post_raw(&app, Some("application/json"), body_of_len(len)).await;
        let (status, _, body) = parts(r).await;
        assert_api_error(
            &context,
            status,
            &body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "413000000",
        );
    }
    assert_nothing_stored(&app, "over the limit").await;

    // Just under the limit: validated normally (an invalid one is a 400, not a 413) ...
    let mut invalid = body_of_len(2000);
    let at = invalid
        .windows(5)
        .position(|w| w == b"\"Sms\"")
        .expect("the step type");
    invalid.splice(at..at + 5, *b"\"Xyz\"");
    let (status, _, body) = parts(post_raw(&app, Some("application/json"), invalid).await).await;
    assert_api_error(
        "2000 invalid bytes",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "400022001",
    );
    assert!(body["properties"]["flow[0].type"].is_string(), "{body}");

    // ... and a valid body of exactly the limit is accepted.
    let r = post_raw(&app, Some("application/json"), body_of_len(2048)).await;
    let (status, _, body) = parts(r).await;
    assert_eq!(status, StatusCode::OK, "2048 bytes: {body}");
    assert!(body["trackingId"].is_string(), "{body}");
    assert_eq!(app.flow_count().await, 1);
}

// --- tokens and scopes ---------------------------------------------------------------------

#[tokio::test]
async fn a_flow_needs_a_valid_token_with_the_failover_scope_and_each_channel_scope() {
    let app = spawn_app().await;
    let body = flow(vec![
        viber_step(1, &app.sender_id),
        sms_step(2, "Hi"),
        voice_step(3),
    ]);

    // No token at all.
    let r = app
        .client
        .post(app.url("/failover"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, headers, json) = parts(r).await;
    assert_api_error(
        "no token",
        status,
        &json,
        StatusCode::UNAUTHORIZED,
        "401000000",
    );
    assert!(
        headers.contains_key(WWW_AUTHENTICATE),
        "a 401 says how to authenticate: {headers:?}"
    );

    // A token that was never issued, and a non-bearer scheme.
    let (status, headers, json) = parts(app.post_flow_with("garbage-token", &body).await).await;
    assert_api_error(
        "garbage token",
        status,
        &json,
        StatusCode::UNAUTHORIZED,
        "401000000",
    );
    assert!(headers.contains_key(WWW_AUTHENTICATE));
    let r = app
        .client
        .post(app.url("/failover"))
        .basic_auth(&app.app_id, Some(&app.app_secret))
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, _, json) = parts(r).await;
    assert_api_error(
        "basic credentials",
        status,
        &json,
        StatusCode::UNAUTHORIZED,
        "401000000",
    );

    // Every channel scope but not failover.
    let no_failover = app
        .token_for(
            &app.app_id,
            &app.app_secret,
            Some("sms viber voice account"),
        )
        .await;
    let (status, _, json) = parts(app.post_flow_with(&no_failover, &body).await).await;
    assert_api_error(
        "no failover scope",
        status,
        &json,
        StatusCode::FORBIDDEN,
        "403000000",
    );

    // failover and sms, but the flow also has Viber (and Voice) steps.
    let sms_only = app
        .token_for(&app.app_id, &app.app_secret, Some("failover sms"))
        .await;
    let viber_flow = flow(vec![viber_step(1, &app.sender_id), sms_step(2, "Hi")]);
    let (status, _, json) = parts(app.post_flow_with(&sms_only, &viber_flow).await).await;
    assert_api_error(
        "viber without its scope",
        status,
        &json,
        StatusCode::FORBIDDEN,
        "403000000",
    );
    let voice_flow = flow(vec![sms_step(1, "Hi"), voice_step(2)]);
    let (status, _, json) = parts(app.post_flow_with(&sms_only, &voice_flow).await).await;
    assert_api_error(
        "voice without its scope",
        status,
        &json,
        StatusCode::FORBIDDEN,
        "403000000",
    );

    assert_nothing_stored(&app, "refused tokens").await;

    // The same narrow token may send what it has the scopes for.
    let (status, _, json) = parts(
        app.post_flow_with(&sms_only, &flow(vec![sms_step(1, "Hi")]))
            .await,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an sms flow with failover sms: {json}"
    );
    assert_eq!(app.flow_count().await, 1);
}

// --- what an accepted flow echoes ----------------------------------------------------------

#[tokio::test]
async fn an_accepted_flow_echoes_its_defaults() {
    let app = spawn_app().await;
    let r = app
        .post_flow(&flow(vec![
            viber_step(1, &app.sender_id),
            sms_step(2, "Hello"),
            voice_step(3),
        ]))
        .await;
    let (status, _, echo) = parts(r).await;
    assert_eq!(status, StatusCode::OK, "{echo}");

    let tracking_id = echo["trackingId"].as_str().expect("a trackingId");
    assert_eq!(tracking_id.len(), 36, "a UUID: {tracking_id}");
    assert_rfc3339_millis_z(echo["createdAt"].as_str().expect("a createdAt"));
    assert!(
        echo.get("callback").is_none(),
        "no callback, no key: {echo}"
    );

    let steps = echo["flow"].as_array().expect("the flow");
    assert_eq!(steps.len(), 3, "{echo}");
    let (viber, sms, voice) = (&steps[0], &steps[1], &steps[2]);

    assert_eq!(viber["type"], "Viber");
    assert_eq!(viber["order"], 1);
    assert_eq!(viber["ttl"], 10);
    assert_eq!(viber["expireOnDelivery"], false);
    assert_eq!(
        viber["failoverOnStatuses"],
        json!(["Expired", "Failed", "Undelivered"])
    );
    assert_eq!(viber["senderInfoTrackingId"], app.sender_id.as_str());
    assert_eq!(viber["message"], json!({"text": "Hello"}));

    assert_eq!(sms["type"], "Sms");
    assert_eq!(sms["order"], 2);
    assert_eq!(sms["ttl"], 1200);
    assert_eq!(sms["failoverOnStatuses"], json!(["Undelivered", "Failed"]));
    assert_eq!(sms["from"], "Cascade");
    assert_eq!(sms["to"], PHONE);
    assert_eq!(sms["message"]["body"], "Hello");
    assert_eq!(sms["message"]["flash"], false);

    assert_eq!(voice["type"], "Voice");
    assert_eq!(voice["order"], 3);
    assert_eq!(voice["failoverOnStatuses"], json!(["Busy", "NoAnswer"]));
    assert_eq!(
        voice["to"],
        json!({"phone": PHONE}),
        "a plain number means phone"
    );
    assert_eq!(
        voice["dialPlan"],
        json!({"verbs": [{
            "type": "SAY",
            "message": {"text": "Hello", "language": "en-US", "gender": "female"},
            "repeat": 0,
            "bargeIn": false,
        }]})
    );
    assert!(
        voice.get("ttl").is_none(),
        "voice steps have no ttl: {voice}"
    );

    // The echoed trackingId is the stored flow's.
    let t = app.tracking(tracking_id).await;
    assert_eq!(t["trackingId"], tracking_id);
    assert_eq!(app.flow_count().await, 1);
}

#[tokio::test]
async fn input_is_read_case_insensitively_and_echoed_canonically() {
    let app = spawn_app().await;
    let mut sms = sms_step(1, "Hi");
    sms["type"] = json!("sMs");
    sms["failoverOnStatuses"] = json!(["undelivered"]);
    let mut viber = viber_step(2, &app.sender_id);
    viber["type"] = json!("VIBER");
    viber["failoverOnStatuses"] = json!("failed, EXPIRED");
    let mut voice = del(voice_step(3), "/dialPlan");
    voice["type"] = json!("voice");
    voice["failoverOnStatuses"] = json!("noanswer,Busy,terminated");
    voice["dialPlans"] = json!({"verbs": [
        {"type": "say", "message": {"text": "Γεια", "language": "EL-gr", "gender": "MALE"}, "repeat": 2},
        {"type": "play", "fileURL": "https://cdn.example.com/a.mp3", "bargeIn": true},
    ]});
    voice["machineDetection"] = json!({"strategy": "hangup"});
    let body = json!({
        "flow": [voice, sms, viber],
        "callback": {"strategy": "onstep", "url": "https://hooks.example.com/cascade"},
    });

    let (status, _, echo) = parts(app.post_flow(&body).await).await;
    assert_eq!(status, StatusCode::OK, "{echo}");
    let steps = echo["flow"].as_array().expect("the flow");
    assert_eq!(
        steps.iter().map(|s| s["type"].clone()).collect::<Vec<_>>(),
        [json!("Sms"), json!("Viber"), json!("Voice")],
        "canonical types, in order: {echo}"
    );
    assert_eq!(steps[0]["failoverOnStatuses"], json!(["Undelivered"]));
    assert_eq!(
        steps[1]["failoverOnStatuses"],
        json!(["Failed", "Expired"]),
        "a comma-separated string is accepted"
    );
    let voice = &steps[2];
    assert_eq!(
        voice["failoverOnStatuses"],
        json!(["NoAnswer", "Busy", "Terminated"])
    );
    assert!(voice.get("dialPlans").is_none(), "{voice}");
    assert_eq!(
        voice["dialPlan"],
        json!({"verbs": [
            {"type": "SAY", "message": {"text": "Γεια", "language": "el-GR", "gender": "male"},
             "repeat": 2, "bargeIn": false},
            {"type": "PLAY", "fileURL": "https://cdn.example.com/a.mp3", "repeat": 0, "bargeIn": true},
        ]}),
        "the dialPlans alias is echoed as dialPlan"
    );
    assert_eq!(voice["machineDetection"], json!({"strategy": "Hangup"}));
    assert_eq!(
        echo["callback"],
        json!({"strategy": "OnStep", "url": "https://hooks.example.com/cascade"})
    );
}

#[tokio::test]
async fn every_limit_itself_is_accepted() {
    let app = spawn_app().await;
    let https = |n: usize| {
        let prefix = "https://example.com/";
        format!("{prefix}{}", "a".repeat(n - prefix.len()))
    };
    let mut sms_alnum = sms_step(10, "Hi");
    sms_alnum["from"] = json!("Elevenchars");
    sms_alnum["ttl"] = json!(1440);
    sms_alnum["message"]["label"] = json!("é".repeat(350));
    sms_alnum["message"]["flash"] = json!(true);
    let mut sms_digits = sms_step(20, "Hi");
    sms_digits["from"] = json!("+1234567890123456");
    sms_digits["ttl"] = json!(1);
    let mut viber_rich = viber_step(30, &app.sender_id);
    viber_rich["ttl"] = json!(0.5);
    viber_rich["label"] = json!(long(350));
    viber_rich["inboundUrl"] = json!("http://inbound.example.com/v");
    viber_rich["message"] = json!({
        "text": long(1000),
        "imageUrl": https(1000),
        "action": {"caption": "ü".repeat(30), "targetUrl": https(1000)},
    });
    let mut viber_file = viber_step(40, &app.sender_id);
    viber_file["ttl"] = json!(1440);
    viber_file["message"] = json!({"viberFile": {
        "fileName": long(25), "fileType": "xltx", "fileUrl": https(1000)}});
    let mut viber_video = viber_step(50, &app.sender_id);
    viber_video["ttl"] = json!(1439.9);
    viber_video["message"] = json!({"text": "Watch", "viberVideo": {
        "videoUrl": "https://example.com/v.mp4", "videoThumbnail": "https://example.com/v.jpg",
        "fileSize": 200, "duration": 600}});
    let say = json!({"type": "SAY", "message": {"text": long(4000), "language": "ru-RU",
                     "gender": "male"}, "repeat": 10, "bargeIn": true});
    let play = json!({"type": "PLAY", "fileURL": "http://cdn.example.com/a.wav", "repeat": 10});
    let mut verbs = vec![say];
    verbs.extend(std::iter::repeat_n(play, 9));
    let mut voice_max = voice_step(60);
    voice_max["from"] = json!("+1234567890123456");
    voice_max["dialPlan"] = json!({ "verbs": verbs });
    voice_max["machineDetection"] = json!({"strategy": "Continue"});
    voice_max["failoverOnStatuses"] = json!(["Busy", "NoAnswer", "Failed", "Unsent", "Terminated"]);
    let mut voice_sip = voice_step(70);
    voice_sip["to"] = json!({"phone": "", "sip": "alice@pbx.example.com:5060"});
    let mut voice_viber = voice_step(80);
    voice_viber["to"] = json!({"viber": "+4915123456789"});
    let body = json!({
        "flow": [
            sms_alnum, sms_digits, viber_rich, viber_file, viber_video,
            voice_max, voice_sip, voice_viber, sms_step(90, "Hi"), sms_step(100, "Hi"),
        ],
        "callback": {"strategy": "OnCompletion", "url": "http://hooks.example.com:8080/cb"},
    });
    assert_eq!(body["flow"].as_array().unwrap().len(), 10);

    let (status, _, echo) = parts(app.post_flow(&body).await).await;
    assert_eq!(status, StatusCode::OK, "{echo}");
    let steps = echo["flow"].as_array().expect("the flow");
    assert_eq!(steps.len(), 10);
    assert_eq!(steps[0]["ttl"], 1440);
    assert_eq!(steps[0]["message"]["flash"], true);
    assert_eq!(steps[2]["ttl"], 0.5);
    assert_eq!(steps[4]["ttl"], 1439.9);
    assert_eq!(steps[5]["dialPlan"]["verbs"].as_array().unwrap().len(), 10);
    assert_eq!(steps[6]["to"], json!({"sip": "alice@pbx.example.com:5060"}));
    assert_eq!(steps[7]["to"], json!({"viber": "+4915123456789"}));
    assert_eq!(echo["callback"]["strategy"], "OnCompletion");
    assert_eq!(app.flow_count().await, 1);
}
