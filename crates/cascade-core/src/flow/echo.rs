//! Printing an accepted flow back in the request's own shape, defaults filled in.

use serde_json::{Map, Value, json};

use super::model::FlowDefinition;
use super::model::{SmsStep, Step, StepKind, Verb, ViberContent, ViberStep, VoiceStep};

/// The `POST /failover` response: `{"trackingId", "createdAt", "flow": [...], "callback"}`.
pub fn echo_flow(def: &FlowDefinition) -> Value {
    let mut out = Map::new();
    out.insert("trackingId".into(), json!(def.tracking_id.to_string()));
    out.insert("createdAt".into(), json!(def.created_at.to_rfc3339()));
    out.insert("flow".into(), def.steps.iter().map(echo_step).collect());
    if let Some(callback) = &def.callback {
        out.insert(
            "callback".into(),
            json!({"strategy": callback.strategy.name(), "url": callback.url}),
        );
    }
    Value::Object(out)
}

fn echo_step(step: &Step) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), json!(step.channel().name()));
    out.insert("order".into(), json!(step.order));
    let statuses: Vec<&str> = step.failover_on.iter().map(|s| s.pascal_name()).collect();
    out.insert("failoverOnStatuses".into(), json!(statuses));
    match &step.kind {
        StepKind::Sms(sms) => echo_sms(sms, &mut out),
        StepKind::Viber(viber) => echo_viber(viber, &mut out),
        StepKind::Voice(voice) => echo_voice(voice, &mut out),
    }
    Value::Object(out)
}

fn echo_sms(sms: &SmsStep, out: &mut Map<String, Value>) {
    out.insert("from".into(), json!(sms.from.as_ref()));
    out.insert("to".into(), json!(sms.to.as_ref()));
    out.insert("ttl".into(), json!(sms.ttl_minutes));
    let mut message = Map::new();
    message.insert("body".into(), json!(sms.body));
    message.insert("flash".into(), json!(sms.flash));
    message.insert("transcode".into(), json!(sms.transcode));
    put_opt(&mut message, "label", sms.label.as_deref());
    out.insert("message".into(), Value::Object(message));
}

fn echo_viber(viber: &ViberStep, out: &mut Map<String, Value>) {
    out.insert(
        "senderInfoTrackingId".into(),
        json!(viber.sender_info_tracking_id),
    );
    out.insert("to".into(), json!(viber.to.as_ref()));
    out.insert("ttl".into(), viber_ttl_json(viber));
    out.insert("expireOnDelivery".into(), json!(viber.expire_on_delivery));
    put_opt(out, "label", viber.label.as_deref());
    put_opt(out, "inboundUrl", viber.inbound_url.as_deref());
    out.insert("message".into(), viber_content_json(&viber.content));
}

/// A Viber step's `ttl` in minutes as the API prints it: `10`, `0.5` (an integer when whole).
pub fn viber_ttl_json(viber: &ViberStep) -> Value {
    number(viber.ttl_minutes())
}

/// A Viber message's content as the API prints it (the echo's `message`, the tracking's
/// `body`): `text`, `imageUrl`, `action`, `viberFile`, `viberVideo`, each only when present.
pub fn viber_content_json(content: &ViberContent) -> Value {
    let mut message = Map::new();
    put_opt(&mut message, "text", content.text.as_deref());
    put_opt(&mut message, "imageUrl", content.image_url.as_deref());
    if let Some(action) = &content.action {
        message.insert(
            "action".into(),
            json!({"caption": action.caption, "targetUrl": action.target_url}),
        );
    }
    if let Some(file) = &content.file {
        message.insert(
            "viberFile".into(),
            json!({"fileName": file.file_name, "fileType": file.file_type, "fileUrl": file.file_url}),
        );
    }
    if let Some(video) = &content.video {
        message.insert(
            "viberVideo".into(),
            json!({
                "videoUrl": video.video_url,
                "videoThumbnail": video.video_thumbnail,
                "fileSize": number(video.file_size),
                "duration": number(video.duration),
            }),
        );
    }
    Value::Object(message)
}

fn echo_voice(voice: &VoiceStep, out: &mut Map<String, Value>) {
    out.insert("from".into(), json!(voice.from.as_ref()));
    let mut to = Map::new();
    put_opt(&mut to, "phone", voice.to.phone.as_ref().map(AsRef::as_ref));
    put_opt(&mut to, "viber", voice.to.viber.as_ref().map(AsRef::as_ref));
    put_opt(&mut to, "sip", voice.to.sip.as_ref().map(AsRef::as_ref));
    out.insert("to".into(), Value::Object(to));
    let verbs: Vec<Value> = voice.dial_plan.iter().map(echo_verb).collect();
    out.insert("dialPlan".into(), json!({ "verbs": verbs }));
    if let Some(md) = voice.machine_detection {
        out.insert("machineDetection".into(), json!({"strategy": md.name()}));
    }
}

fn echo_verb(verb: &Verb) -> Value {
    match verb {
        Verb::Say {
            text,
            language,
            gender,
            repeat,
            barge_in,
        } => json!({
            "type": "SAY",
            "message": {"text": text, "language": language, "gender": gender.name()},
            "repeat": repeat,
            "bargeIn": barge_in,
        }),
        Verb::Play {
            file_url,
            repeat,
            barge_in,
        } => json!({
            "type": "PLAY",
            "fileURL": file_url,
            "repeat": repeat,
            "bargeIn": barge_in,
        }),
    }
}

fn put_opt(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        map.insert(key.to_owned(), json!(value));
    }
}

/// A JSON number, written as an integer when the value is whole (`10`, not `10.0`).
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::flow::parse::tests::{self as fixture, Fixture};

    /// Parse `body`, echo it, and check that the echo parses back to the same definition.
    fn echo_round_trip(fx: &Fixture, body: &Value) -> Value {
        let def = fx
            .parse(body)
            .unwrap_or_else(|e| panic!("valid flow expected: {e:?}"));
        let echo = echo_flow(&def);
        let again = json!({"flow": echo["flow"], "callback": echo["callback"]});
        assert_eq!(
            fx.parse(&again),
            Ok(def),
            "the echo re-parses to the same definition"
        );
        echo
    }

    #[test]
    fn minimal_flow_echoes_with_defaults() {
        let fx = Fixture::new();
        let echo = echo_round_trip(
            &fx,
            &json!({"flow": [fixture::voice(), fixture::sms(), fixture::viber()]}),
        );
        let expected = json!({
            "trackingId": fx.tracking_id.to_string(),
            "createdAt": "2026-03-01T09:15:02.113Z",
            "flow": [
                {
                    "type": "Viber", "order": 1,
                    "failoverOnStatuses": ["Expired", "Failed", "Undelivered"],
                    "senderInfoTrackingId": "snd-1", "to": "+306912345678",
                    "ttl": 10, "expireOnDelivery": false,
                    "message": {"text": "Hello"},
                },
                {
                    "type": "Sms", "order": 2,
                    "failoverOnStatuses": ["Undelivered", "Failed"],
                    "from": "Cascade", "to": "+306912345678", "ttl": 1200,
                    "message": {"body": "Hello", "flash": false, "transcode": false},
                },
                {
                    "type": "Voice", "order": 3,
                    "failoverOnStatuses": ["Busy", "NoAnswer"],
                    "from": "+306900000000", "to": {"phone": "+306912345678"},
                    "dialPlan": {"verbs": [
                        {"type": "SAY", "message": {"text": "Hello", "language": "en-US", "gender": "female"},
                         "repeat": 0, "bargeIn": false},
                        {"type": "PLAY", "fileURL": "https://cdn.example.com/a.mp3", "repeat": 0, "bargeIn": false},
                    ]},
                },
            ],
        });
        assert_eq!(echo, expected);
        assert!(echo.get("callback").is_none(), "no callback, no key");
        assert!(
            echo["flow"][0]["ttl"].is_u64(),
            "a whole Viber ttl is an integer"
        );
    }

    #[test]
    fn full_flow_echoes_every_field() {
        let fx = Fixture::new();
        let body = json!({
            "flow": [
                {"type": "viber", "order": 10, "failoverOnStatuses": "failed,EXPIRED",
                 "senderInfoTrackingId": "snd-1", "to": "+306912345678", "ttl": 0.5,
                 "expireOnDelivery": true, "label": "promo", "inboundUrl": "https://in.example.com/v",
                 "message": {"text": "Hi", "imageUrl": "https://example.com/i.png",
                             "action": {"caption": "Buy", "targetUrl": "https://example.com/b"}}},
                {"type": "Viber", "order": 20, "senderInfoTrackingId": "snd-1", "to": "+306912345678", "ttl": 1439.9,
                 "message": {"viberFile": {"fileName": "terms.pdf", "fileType": "PDF", "fileUrl": "https://example.com/t"}}},
                {"type": "Viber", "order": 30, "senderInfoTrackingId": "snd-1", "to": "+306912345678",
                 "message": {"text": "Watch", "viberVideo": {"videoUrl": "https://example.com/v.mp4",
                             "videoThumbnail": "https://example.com/v.jpg", "fileSize": 10.5, "duration": 30}}},
                {"type": "SMS", "order": 40, "failoverOnStatuses": ["failed"], "from": "+306900000000",
                 "to": "+4915123456789", "ttl": 60,
                 "message": {"body": "ΑΒΕ", "flash": true, "label": "otp", "transcode": true}},
                {"type": "Voice", "order": 50, "failoverOnStatuses": ["failed", "busy", "Unsent"],
                 "from": "306900000000", "to": {"phone": "+306912345678", "viber": "", "sip": "sip:alice@pbx.example.com:5060"},
                 "dialPlans": {"verbs": [
                     {"type": "say", "message": {"text": "Γεια", "language": "EL-gr", "gender": "MALE"}, "repeat": 2, "bargeIn": true},
                     {"type": "play", "fileUrl": "http://cdn.example.com/b.wav", "repeat": 1},
                 ]},
                 "machineDetection": {"strategy": "continue"}},
                {"type": "Voice", "order": 60, "from": "+306900000000", "to": "+306912345678",
                 "dialplan": {"verbs": [{"type": "PLAY", "fileURL": "https://cdn.example.com/c.mp3"}]},
                 "machineDetection": {"strategy": "HANGUP"}},
            ],
            "callback": {"strategy": "onstep", "url": "https://hooks.example.com/cascade"},
        });
        let echo = echo_round_trip(&fx, &body);
        let expected = json!([
            {"type": "Viber", "order": 10, "failoverOnStatuses": ["Failed", "Expired"],
             "senderInfoTrackingId": "snd-1", "to": "+306912345678", "ttl": 0.5,
             "expireOnDelivery": true, "label": "promo", "inboundUrl": "https://in.example.com/v",
             "message": {"text": "Hi", "imageUrl": "https://example.com/i.png",
                         "action": {"caption": "Buy", "targetUrl": "https://example.com/b"}}},
            {"type": "Viber", "order": 20, "failoverOnStatuses": ["Expired", "Failed", "Undelivered"],
             "senderInfoTrackingId": "snd-1", "to": "+306912345678", "ttl": 1439.9, "expireOnDelivery": false,
             "message": {"viberFile": {"fileName": "terms.pdf", "fileType": "pdf", "fileUrl": "https://example.com/t"}}},
            {"type": "Viber", "order": 30, "failoverOnStatuses": ["Expired", "Failed", "Undelivered"],
             "senderInfoTrackingId": "snd-1", "to": "+306912345678", "ttl": 10, "expireOnDelivery": false,
             "message": {"text": "Watch", "viberVideo": {"videoUrl": "https://example.com/v.mp4",
                         "videoThumbnail": "https://example.com/v.jpg", "fileSize": 10.5, "duration": 30}}},
            {"type": "Sms", "order": 40, "failoverOnStatuses": ["Failed"], "from": "+306900000000",
             "to": "+4915123456789", "ttl": 60,
             "message": {"body": "ΑΒΕ", "flash": true, "transcode": true, "label": "otp"}},
            {"type": "Voice", "order": 50, "failoverOnStatuses": ["Failed", "Busy", "Unsent"],
             "from": "306900000000", "to": {"phone": "+306912345678", "sip": "alice@pbx.example.com:5060"},
             "dialPlan": {"verbs": [
                 {"type": "SAY", "message": {"text": "Γεια", "language": "el-GR", "gender": "male"}, "repeat": 2, "bargeIn": true},
                 {"type": "PLAY", "fileURL": "http://cdn.example.com/b.wav", "repeat": 1, "bargeIn": false},
             ]},
             "machineDetection": {"strategy": "Continue"}},
            {"type": "Voice", "order": 60, "failoverOnStatuses": ["Busy", "NoAnswer"],
             "from": "+306900000000", "to": {"phone": "+306912345678"},
             "dialPlan": {"verbs": [{"type": "PLAY", "fileURL": "https://cdn.example.com/c.mp3", "repeat": 0, "bargeIn": false}]},
             "machineDetection": {"strategy": "Hangup"}},
        ]);
        assert_eq!(echo["flow"], expected);
        assert_eq!(
            echo["callback"],
            json!({"strategy": "OnStep", "url": "https://hooks.example.com/cascade"})
        );
        assert_eq!(echo["trackingId"], json!(fx.tracking_id.to_string()));
        assert_eq!(echo["createdAt"], json!("2026-03-01T09:15:02.113Z"));
    }

    #[test]
    fn viber_ttl_prints_as_a_plain_number() {
        assert_eq!(number(10.0), json!(10));
        assert_eq!(number(0.5), json!(0.5));
        assert_eq!(number(1439.9), json!(1439.9));
        assert_eq!(serde_json::to_string(&number(1440.0)).unwrap(), "1440");
    }
}
