use super::sms::SMS_TTL_RULE;
use super::url::check_url;
use super::viber::VIBER_TTL_RULE;
use super::*;
use crate::money::Micros;
use crate::pricing::CountryPrices;
use crate::sms::SmsEncoding;
use serde_json::json;

const NOW_MS: i64 = 1_772_356_502_113;

/// What an [`AcceptContext`] borrows: one Viber sender `snd-1` → `MyBrand`, default
/// prices, an empty operator table.
pub(crate) struct Fixture {
    pub tracking_id: FlowId,
    pub senders: HashMap<String, String>,
    pub prices: PriceList,
    pub operators: OperatorTable,
    pub ttl_clock: TtlClock,
}

impl Fixture {
    pub fn new() -> Self {
        Self {
            tracking_id: FlowId::new_v7(NOW_MS),
            senders: HashMap::from([("snd-1".to_owned(), "MyBrand".to_owned())]),
            prices: PriceList::default(),
            operators: OperatorTable::default(),
            ttl_clock: TtlClock::default(),
        }
    }

    pub fn ctx(&self) -> AcceptContext<'_> {
        AcceptContext {
            tracking_id: self.tracking_id,
            now: Timestamp::from_millis(NOW_MS),
            account_id: "acc-1",
            application_id: "app-1",
            viber_senders: &self.senders,
            prices: &self.prices,
            operators: &self.operators,
            ttl_clock: self.ttl_clock,
        }
    }

    pub fn parse(&self, body: &Value) -> Result<FlowDefinition, ValidationErrors> {
        parse_flow(body, &self.ctx())
    }

    fn ok(&self, body: &Value) -> FlowDefinition {
        self.parse(body)
            .unwrap_or_else(|e| panic!("expected a valid flow, got {e:?}"))
    }

    fn errors(&self, body: &Value) -> ValidationErrors {
        match self.parse(body) {
            Ok(def) => panic!("expected errors, got {def:?}"),
            Err(e) => e,
        }
    }
}

pub(crate) fn viber() -> Value {
    json!({"type": "Viber", "order": 1, "senderInfoTrackingId": "snd-1", "to": "+306912345678",
           "message": {"text": "Hello"}})
}

pub(crate) fn sms() -> Value {
    json!({"type": "Sms", "order": 2, "from": "Cascade", "to": "+306912345678", "message": {"body": "Hello"}})
}

pub(crate) fn voice() -> Value {
    json!({"type": "Voice", "order": 3, "from": "+306900000000", "to": {"phone": "+306912345678"},
           "dialPlan": {"verbs": [{"type": "SAY", "message": {"text": "Hello"}},
                                  {"type": "PLAY", "fileURL": "https://cdn.example.com/a.mp3"}]}})
}

/// `step` with the field at JSON pointer `pointer` set to `value` (`None` removes it).
fn with(mut step: Value, pointer: &str, value: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    let index = || key.parse::<usize>().expect("an array index");
    match (step.pointer_mut(parent).expect("the parent exists"), value) {
        (Value::Object(map), Some(v)) => {
            map.insert(key.to_owned(), v);
        }
        (Value::Object(map), None) => {
            map.remove(key);
        }
        (Value::Array(items), Some(v)) => items[index()] = v,
        (Value::Array(items), None) => {
            items.remove(index());
        }
        (other, _) => panic!("cannot edit {pointer} in {other}"),
    }
    step
}

fn set(step: Value, pointer: &str, value: Value) -> Value {
    with(step, pointer, Some(value))
}

fn del(step: Value, pointer: &str) -> Value {
    with(step, pointer, None)
}

fn flow(steps: &[Value]) -> Value {
    json!({"flow": steps})
}

fn one(step: Value) -> Value {
    flow(&[step])
}

fn voice_to(to: Value) -> Value {
    one(set(voice(), "/to", to))
}

fn verbs(verbs: Value) -> Value {
    one(set(voice(), "/dialPlan/verbs", verbs))
}

fn with_callback(callback: Value) -> Value {
    json!({"flow": [sms()], "callback": callback})
}

fn long(n: usize) -> String {
    "x".repeat(n)
}

fn https(n: usize) -> String {
    let prefix = "https://example.com/";
    format!("{prefix}{}", "a".repeat(n - prefix.len()))
}

#[test]
fn valid_three_step_flow_gets_defaults_and_is_sorted() {
    let fx = Fixture::new();
    let def = fx.ok(&flow(&[voice(), viber(), sms()]));
    assert_eq!(def.tracking_id, fx.tracking_id);
    assert_eq!(def.account_id, "acc-1");
    assert_eq!(def.application_id, "app-1");
    assert_eq!(def.created_at, Timestamp::from_millis(NOW_MS));
    assert_eq!(def.callback, None);
    assert_eq!(
        def.steps.iter().map(|s| s.order).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        def.channels(),
        [Channel::Viber, Channel::Sms, Channel::Voice]
    );

    let [viber, sms, voice] = &def.steps[..] else {
        panic!("three steps")
    };
    assert_eq!(
        viber.failover_on,
        Channel::Viber.default_failover_statuses()
    );
    assert_eq!(viber.country.as_deref(), Some("GR"));
    assert_eq!(viber.operator, "");
    assert_eq!(
        viber.unit_price,
        Micros::new(20_000),
        "text-only Viber is priced as text"
    );
    assert_eq!(viber.ttl_ms, Some(600_000));
    let StepKind::Viber(v) = &viber.kind else {
        panic!("viber")
    };
    assert_eq!(v.ttl_tenths, 100);
    assert_eq!(v.sender_info_tracking_id, "snd-1");
    assert_eq!(v.sender_name, "MyBrand");
    assert!(!v.expire_on_delivery);
    assert_eq!((v.label.as_deref(), v.inbound_url.as_deref()), (None, None));
    assert_eq!(v.content.text.as_deref(), Some("Hello"));

    assert_eq!(
        sms.failover_on,
        [StatusKind::Undelivered, StatusKind::Failed]
    );
    assert_eq!(sms.unit_price, Micros::new(50_000));
    assert_eq!(sms.ttl_ms, Some(1200 * 60_000));
    let StepKind::Sms(s) = &sms.kind else {
        panic!("sms")
    };
    assert_eq!(s.ttl_minutes, 1200);
    assert_eq!(s.from.as_ref(), "Cascade");
    assert_eq!(s.to.as_ref(), "+306912345678");
    assert!(!s.flash && !s.transcode);
    assert_eq!(s.label, None);
    assert_eq!(s.encoding, SmsEncoding::Gsm7);
    assert_eq!(s.parts, ["Hello"]);

    assert_eq!(voice.failover_on, [StatusKind::Busy, StatusKind::NoAnswer]);
    assert_eq!(voice.ttl_ms, Some(120 * 60_000), "the report deadline");
    assert_eq!(voice.unit_price, Micros::new(100_000));
    assert_eq!(voice.country.as_deref(), Some("GR"));
    let StepKind::Voice(v) = &voice.kind else {
        panic!("voice")
    };
    assert_eq!(v.machine_detection, None);
    assert_eq!(
        v.dial_plan,
        [
            Verb::Say {
                text: "Hello".into(),
                language: "en-US".into(),
                gender: Gender::Female,
                repeat: 0,
                barge_in: false
            },
            Verb::Play {
                file_url: "https://cdn.example.com/a.mp3".into(),
                repeat: 0,
                barge_in: false
            },
        ]
    );
}

#[test]
fn every_rule_reports_its_path() {
    let fx = Fixture::new();
    let eleven: Vec<Value> = (1..=11).map(|o| set(sms(), "/order", json!(o))).collect();
    let file = || json!({"fileName": "terms.pdf", "fileType": "pdf", "fileUrl": "https://example.com/t.pdf"});
    let video = || {
        json!({"videoUrl": "https://example.com/v.mp4", "videoThumbnail": "https://example.com/v.jpg",
               "fileSize": 10, "duration": 30})
    };
    let action = || json!({"caption": "Buy", "targetUrl": "https://example.com/buy"});
    let cb = || json!({"strategy": "OnChange", "url": "https://hooks.example.com/cb"});
    let image = "https://example.com/i.png";
    let message = |m: Value| one(set(viber(), "/message", m));
    let act = |a: Value| one(set(viber(), "/message/action", a));
    let vfile = |f: Value| message(json!({ "viberFile": f }));
    let vvideo = |v: Value| one(set(viber(), "/message/viberVideo", v));
    let say = |verb: Value| verbs(json!([verb]));
    // (what is wrong, request body, the one path reported)
    #[rustfmt::skip]
    let rows: Vec<(&str, Value, &str)> = vec![
        // the flow
        ("body is not an object", json!([sms()]), "flow"),
        ("flow missing", json!({}), "flow"),
        ("flow is null", json!({"flow": null}), "flow"),
        ("flow not an array", json!({"flow": sms()}), "flow"),
        ("flow empty", json!({"flow": []}), "flow"),
        ("eleven steps", flow(&eleven), "flow"),
        ("step not an object", json!({"flow": ["Sms"]}), "flow[0]"),
        // every step
        ("type missing", one(del(sms(), "/type")), "flow[0].type"),
        ("type unknown", one(set(sms(), "/type", json!("Email"))), "flow[0].type"),
        ("type not a string", one(set(sms(), "/type", json!(1))), "flow[0].type"),
        ("order missing", one(del(sms(), "/order")), "flow[0].order"),
        ("order zero", one(set(sms(), "/order", json!(0))), "flow[0].order"),
        ("order negative", one(set(sms(), "/order", json!(-1))), "flow[0].order"),
        ("order fractional", one(set(sms(), "/order", json!(1.5))), "flow[0].order"),
        ("order a string", one(set(sms(), "/order", json!("1"))), "flow[0].order"),
        ("order too large", one(set(sms(), "/order", json!(4_294_967_296_u64))), "flow[0].order"),
        ("order duplicated", flow(&[sms(), set(viber(), "/order", json!(2))]), "flow[1].order"),
        ("sms status not allowed", one(set(sms(), "/failoverOnStatuses", json!(["Seen"]))), "flow[0].failoverOnStatuses"),
        ("voice status not allowed", one(set(voice(), "/failoverOnStatuses", json!("Busy,Expired"))), "flow[0].failoverOnStatuses"),
        ("statuses a number", one(set(sms(), "/failoverOnStatuses", json!(3))), "flow[0].failoverOnStatuses"),
        ("statuses hold a number", one(set(sms(), "/failoverOnStatuses", json!(["Failed", 1]))), "flow[0].failoverOnStatuses"),
        // sms
        ("sms from missing", one(del(sms(), "/from")), "flow[0].from"),
        ("sms from too long", one(set(sms(), "/from", json!("TwelveChars1"))), "flow[0].from"),
        ("sms from empty", one(set(sms(), "/from", json!(""))), "flow[0].from"),
        ("sms to missing", one(del(sms(), "/to")), "flow[0].to"),
        ("sms to not E.164", one(set(sms(), "/to", json!("306912345678"))), "flow[0].to"),
        ("sms to a number", one(set(sms(), "/to", json!(306_912_345_678_u64))), "flow[0].to"),
        ("sms ttl zero", one(set(sms(), "/ttl", json!(0))), "flow[0].ttl"),
        ("sms ttl too long", one(set(sms(), "/ttl", json!(1441))), "flow[0].ttl"),
        ("sms ttl fractional", one(set(sms(), "/ttl", json!(1.5))), "flow[0].ttl"),
        ("sms ttl a string", one(set(sms(), "/ttl", json!("60"))), "flow[0].ttl"),
        ("sms message missing", one(del(sms(), "/message")), "flow[0].message"),
        ("sms message a string", one(set(sms(), "/message", json!("Hello"))), "flow[0].message"),
        ("sms body missing", one(del(sms(), "/message/body")), "flow[0].message.body"),
        ("sms body empty", one(set(sms(), "/message/body", json!(""))), "flow[0].message.body"),
        ("sms body not a string", one(set(sms(), "/message/body", json!(["a"]))), "flow[0].message.body"),
        ("sms flash not a bool", one(set(sms(), "/message/flash", json!("yes"))), "flow[0].message.flash"),
        ("sms label too long", one(set(sms(), "/message/label", json!(long(351)))), "flow[0].message.label"),
        ("sms transcode not a bool", one(set(sms(), "/message/transcode", json!(1))), "flow[0].message.transcode"),
        // viber
        ("viber sender missing", one(del(viber(), "/senderInfoTrackingId")), "flow[0].senderInfoTrackingId"),
        ("viber sender unknown", one(set(viber(), "/senderInfoTrackingId", json!("snd-2"))), "flow[0].senderInfoTrackingId"),
        ("viber to missing", one(del(viber(), "/to")), "flow[0].to"),
        ("viber to not E.164", one(set(viber(), "/to", json!("+0306912345678"))), "flow[0].to"),
        ("viber ttl below 0.5", one(set(viber(), "/ttl", json!(0.4))), "flow[0].ttl"),
        ("viber ttl two decimals", one(set(viber(), "/ttl", json!(0.55))), "flow[0].ttl"),
        ("viber ttl too long", one(set(viber(), "/ttl", json!(1441))), "flow[0].ttl"),
        ("viber ttl zero", one(set(viber(), "/ttl", json!(0))), "flow[0].ttl"),
        ("viber ttl a string", one(set(viber(), "/ttl", json!("10"))), "flow[0].ttl"),
        ("viber expireOnDelivery not a bool", one(set(viber(), "/expireOnDelivery", json!("true"))), "flow[0].expireOnDelivery"),
        ("viber label too long", one(set(viber(), "/label", json!(long(351)))), "flow[0].label"),
        ("viber inboundUrl ftp", one(set(viber(), "/inboundUrl", json!("ftp://example.com/in"))), "flow[0].inboundUrl"),
        ("viber inboundUrl relative", one(set(viber(), "/inboundUrl", json!("/inbound"))), "flow[0].inboundUrl"),
        ("viber message missing", one(del(viber(), "/message")), "flow[0].message"),
        ("viber message without content", message(json!({})), "flow[0].message"),
        ("viber action alone", message(json!({"action": action()})), "flow[0].message"),
        ("viber text too long", message(json!({"text": long(1001)})), "flow[0].message.text"),
        ("viber imageUrl http", message(json!({"imageUrl": "http://example.com/i.png"})), "flow[0].message.imageUrl"),
        ("viber imageUrl too long", message(json!({"imageUrl": https(1001)})), "flow[0].message.imageUrl"),
        ("viber action not an object", act(json!("Buy")), "flow[0].message.action"),
        ("viber action caption missing", act(del(action(), "/caption")), "flow[0].message.action.caption"),
        ("viber action caption empty", act(set(action(), "/caption", json!(""))), "flow[0].message.action.caption"),
        ("viber action caption too long", act(set(action(), "/caption", json!(long(31)))), "flow[0].message.action.caption"),
        ("viber action targetUrl missing", act(del(action(), "/targetUrl")), "flow[0].message.action.targetUrl"),
        ("viber action targetUrl http", act(set(action(), "/targetUrl", json!("http://example.com"))), "flow[0].message.action.targetUrl"),
        ("viber file name missing", vfile(del(file(), "/fileName")), "flow[0].message.viberFile.fileName"),
        ("viber file name too long", vfile(set(file(), "/fileName", json!(long(26)))), "flow[0].message.viberFile.fileName"),
        ("viber file type unknown", vfile(set(file(), "/fileType", json!("exe"))), "flow[0].message.viberFile.fileType"),
        ("viber file type missing", vfile(del(file(), "/fileType")), "flow[0].message.viberFile.fileType"),
        ("viber file url http", vfile(set(file(), "/fileUrl", json!("http://example.com/t.pdf"))), "flow[0].message.viberFile.fileUrl"),
        ("viber file url too long", vfile(set(file(), "/fileUrl", json!(https(1001)))), "flow[0].message.viberFile.fileUrl"),
        ("viber file with text", message(json!({"viberFile": file(), "text": "Hi"})), "flow[0].message"),
        ("viber file with image", message(json!({"viberFile": file(), "imageUrl": image})), "flow[0].message"),
        ("viber file with video", message(json!({"viberFile": file(), "viberVideo": video()})), "flow[0].message"),
        ("viber video with image", message(json!({"viberVideo": video(), "imageUrl": image})), "flow[0].message"),
        ("viber video with action", message(json!({"viberVideo": video(), "text": "t", "action": action()})), "flow[0].message"),
        ("viber video url http", vvideo(set(video(), "/videoUrl", json!("http://example.com/v.mp4"))), "flow[0].message.viberVideo.videoUrl"),
        ("viber video thumbnail missing", vvideo(del(video(), "/videoThumbnail")), "flow[0].message.viberVideo.videoThumbnail"),
        ("viber video size zero", vvideo(set(video(), "/fileSize", json!(0))), "flow[0].message.viberVideo.fileSize"),
        ("viber video size too big", vvideo(set(video(), "/fileSize", json!(200.5))), "flow[0].message.viberVideo.fileSize"),
        ("viber video duration too long", vvideo(set(video(), "/duration", json!(601))), "flow[0].message.viberVideo.duration"),
        ("viber video duration missing", vvideo(del(video(), "/duration")), "flow[0].message.viberVideo.duration"),
        ("viber video duration a string", vvideo(set(video(), "/duration", json!("30"))), "flow[0].message.viberVideo.duration"),
        // voice
        ("voice from missing", one(del(voice(), "/from")), "flow[0].from"),
        ("voice from alphanumeric", one(set(voice(), "/from", json!("MyBrand"))), "flow[0].from"),
        ("voice from too many digits", one(set(voice(), "/from", json!("12345678901234567"))), "flow[0].from"),
        ("voice to missing", one(del(voice(), "/to")), "flow[0].to"),
        ("voice to empty object", voice_to(json!({})), "flow[0].to"),
        ("voice to empty members", voice_to(json!({"phone": "", "viber": "", "sip": null})), "flow[0].to"),
        ("voice to empty string", voice_to(json!("")), "flow[0].to"),
        ("voice to bad plain string", voice_to(json!("12345")), "flow[0].to"),
        ("voice to a number", voice_to(json!(306_912_345_678_u64)), "flow[0].to"),
        ("voice to bad phone", voice_to(json!({"phone": "+30 691"})), "flow[0].to.phone"),
        ("voice to bad viber", voice_to(json!({"viber": "0691234567"})), "flow[0].to.viber"),
        ("voice to bad sip", voice_to(json!({"sip": "alice"})), "flow[0].to.sip"),
        ("voice to phone not a string", voice_to(json!({"phone": 30, "sip": "alice@pbx"})), "flow[0].to.phone"),
        ("dial plan missing", one(del(voice(), "/dialPlan")), "flow[0].dialPlan"),
        ("dial plan not an object", one(set(voice(), "/dialPlan", json!([]))), "flow[0].dialPlan"),
        ("dialPlans alias reports its key", one(set(del(voice(), "/dialPlan"), "/dialPlans", json!({"verbs": []}))), "flow[0].dialPlans.verbs"),
        ("dialplan alias reports its key", one(set(del(voice(), "/dialPlan"), "/dialplan", json!({}))), "flow[0].dialplan.verbs"),
        ("verbs missing", one(set(voice(), "/dialPlan", json!({}))), "flow[0].dialPlan.verbs"),
        ("verbs not an array", verbs(json!({"type": "SAY"})), "flow[0].dialPlan.verbs"),
        ("verbs empty", verbs(json!([])), "flow[0].dialPlan.verbs"),
        ("eleven verbs", verbs(json!(vec![json!({"type": "PLAY", "fileURL": "https://a.example/x.mp3"}); 11])), "flow[0].dialPlan.verbs"),
        ("verb not an object", verbs(json!(["SAY"])), "flow[0].dialPlan.verbs[0]"),
        ("verb type unknown", say(json!({"type": "DIAL"})), "flow[0].dialPlan.verbs[0].type"),
        ("verb type missing", say(json!({"message": {"text": "Hi"}})), "flow[0].dialPlan.verbs[0].type"),
        ("say message missing", say(json!({"type": "SAY"})), "flow[0].dialPlan.verbs[0].message"),
        ("say text missing", say(json!({"type": "SAY", "message": {}})), "flow[0].dialPlan.verbs[0].message.text"),
        ("say text too long", say(json!({"type": "SAY", "message": {"text": long(4001)}})), "flow[0].dialPlan.verbs[0].message.text"),
        ("say language unknown", say(json!({"type": "SAY", "message": {"text": "Hi", "language": "en-AU"}})), "flow[0].dialPlan.verbs[0].message.language"),
        ("say gender unknown", say(json!({"type": "SAY", "message": {"text": "Hi", "gender": "robot"}})), "flow[0].dialPlan.verbs[0].message.gender"),
        ("say repeat too many", say(json!({"type": "SAY", "message": {"text": "Hi"}, "repeat": 11})), "flow[0].dialPlan.verbs[0].repeat"),
        ("say repeat negative", say(json!({"type": "SAY", "message": {"text": "Hi"}, "repeat": -1})), "flow[0].dialPlan.verbs[0].repeat"),
        ("say bargeIn not a bool", say(json!({"type": "SAY", "message": {"text": "Hi"}, "bargeIn": "no"})), "flow[0].dialPlan.verbs[0].bargeIn"),
        ("play fileURL missing", one(del(voice(), "/dialPlan/verbs/1/fileURL")), "flow[0].dialPlan.verbs[1].fileURL"),
        ("play fileURL not http", one(set(voice(), "/dialPlan/verbs/1/fileURL", json!("ftp://a/b.mp3"))), "flow[0].dialPlan.verbs[1].fileURL"),
        ("play fileUrl alias reports its key", say(json!({"type": "PLAY", "fileUrl": "file:///etc/passwd"})), "flow[0].dialPlan.verbs[0].fileUrl"),
        ("play repeat fractional", one(set(voice(), "/dialPlan/verbs/1/repeat", json!(1.5))), "flow[0].dialPlan.verbs[1].repeat"),
        ("machineDetection not an object", one(set(voice(), "/machineDetection", json!("Hangup"))), "flow[0].machineDetection"),
        ("machineDetection strategy unknown", one(set(voice(), "/machineDetection", json!({"strategy": "Ignore"}))), "flow[0].machineDetection.strategy"),
        ("machineDetection strategy missing", one(set(voice(), "/machineDetection", json!({}))), "flow[0].machineDetection.strategy"),
        // callback
        ("callback not an object", with_callback(json!("https://hooks.example.com")), "callback"),
        ("callback strategy missing", with_callback(del(cb(), "/strategy")), "callback.strategy"),
        ("callback strategy unknown", with_callback(set(cb(), "/strategy", json!("Always"))), "callback.strategy"),
        ("callback url missing", with_callback(del(cb(), "/url")), "callback.url"),
        ("callback url not http", with_callback(set(cb(), "/url", json!("mailto:ops@example.com"))), "callback.url"),
        ("callback url without host", with_callback(set(cb(), "/url", json!("https:///cb"))), "callback.url"),
        ("callback url with a space", with_callback(set(cb(), "/url", json!("https://hooks.example.com/a b"))), "callback.url"),
        ("callback url bad port", with_callback(set(cb(), "/url", json!("https://hooks.example.com:http/"))), "callback.url"),
    ];
    assert!(rows.len() >= 100, "{} rows", rows.len());
    for (name, body, path) in rows {
        let errors = fx.errors(&body);
        let paths: Vec<&str> = errors.iter().map(|(p, _)| p).collect();
        assert_eq!(paths, [path], "{name}: {errors:?}");
        assert!(
            !errors.get(path).unwrap_or_default().is_empty(),
            "{name}: a message"
        );
    }
}

#[test]
fn all_errors_are_collected_at_once() {
    let fx = Fixture::new();
    let body = json!({
        "flow": [
            set(set(sms(), "/ttl", json!(0)), "/message/body", json!("")),
            set(viber(), "/senderInfoTrackingId", json!("nope")),
            set(del(voice(), "/from"), "/dialPlan/verbs/0/message/language", json!("xx-XX")),
            set(sms(), "/order", json!(3)),
        ],
        "callback": {"strategy": "Never"},
    });
    let errors = fx.errors(&body);
    let paths: Vec<&str> = errors.iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "callback.strategy",
            "callback.url",
            "flow[0].message.body",
            "flow[0].ttl",
            "flow[1].senderInfoTrackingId",
            "flow[2].dialPlan.verbs[0].message.language",
            "flow[2].from",
            "flow[3].order",
        ]
    );
    assert_eq!(
        errors.get("flow[0].ttl"),
        Some("must be an integer from 1 to 1440")
    );
    assert_eq!(
        errors.get("flow[1].senderInfoTrackingId"),
        Some("is not a Viber sender of this account")
    );
    assert_eq!(errors.get("flow[2].from"), Some("is required"));
    assert_eq!(errors.get("callback.url"), Some("is required"));
    assert_eq!(
        errors.get("callback.strategy"),
        Some("must be one of OnChange, OnStep, OnCompletion")
    );
    assert_eq!(
        errors.get("flow[3].order"),
        Some("must be unique: flow[2] has the same order")
    );
    assert_eq!(errors.len(), 8);
}

#[test]
fn several_problems_with_one_field_are_joined() {
    let fx = Fixture::new();
    let errors = fx.errors(&one(set(
        sms(),
        "/failoverOnStatuses",
        json!("Seen, Delivered"),
    )));
    assert_eq!(
        errors.get("flow[0].failoverOnStatuses"),
        Some("must be one of Undelivered, Failed (not allowed: Seen, Delivered)")
    );
}

fn statuses_of(fx: &Fixture, step: Value) -> Vec<StatusKind> {
    fx.ok(&one(step)).steps[0].failover_on.clone()
}

#[test]
fn failover_statuses_accept_arrays_and_comma_strings() {
    use StatusKind::*;
    let fx = Fixture::new();
    assert_eq!(
        statuses_of(
            &fx,
            set(sms(), "/failoverOnStatuses", json!("failed, UNDELIVERED"))
        ),
        [Failed, Undelivered]
    );
    assert_eq!(
        statuses_of(&fx, set(sms(), "/failoverOnStatuses", json!("Failed"))),
        [Failed]
    );
    assert_eq!(
        statuses_of(
            &fx,
            set(
                voice(),
                "/failoverOnStatuses",
                json!(["noanswer", "TERMINATED", "NoAnswer"])
            )
        ),
        [NoAnswer, Terminated]
    );
    assert_eq!(
        statuses_of(
            &fx,
            set(viber(), "/failoverOnStatuses", json!("expired,,expired,"))
        ),
        [Expired]
    );
    // An explicitly empty list means the default.
    assert_eq!(
        statuses_of(&fx, set(sms(), "/failoverOnStatuses", json!([]))),
        [Undelivered, Failed]
    );
    assert_eq!(
        statuses_of(&fx, set(voice(), "/failoverOnStatuses", json!(""))),
        [Busy, NoAnswer]
    );
    assert_eq!(
        statuses_of(&fx, set(viber(), "/failoverOnStatuses", json!(null))),
        [Expired, Failed, Undelivered]
    );
}

#[test]
fn types_verbs_and_names_are_case_insensitive() {
    let fx = Fixture::new();
    let body = flow(&[
        set(sms(), "/type", json!("sMS")),
        set(viber(), "/type", json!("VIBER")),
        set(
            set(
                set(voice(), "/type", json!(" voice ")),
                "/dialPlan/verbs/0",
                json!({"type": "say", "message": {"text": "Hi", "language": "EL-gr", "gender": "MALE"}, "repeat": 2, "bargeIn": true}),
            ),
            "/machineDetection",
            json!({"strategy": "hangup"}),
        ),
    ]);
    let def = fx.ok(&set(
        body,
        "/callback",
        json!({"strategy": "onstep", "url": "HTTPS://hooks.example.com"}),
    ));
    assert_eq!(
        def.channels(),
        [Channel::Viber, Channel::Sms, Channel::Voice]
    );
    let StepKind::Voice(v) = &def.steps[2].kind else {
        panic!("voice")
    };
    assert_eq!(
        v.dial_plan[0],
        Verb::Say {
            text: "Hi".into(),
            language: "el-GR".into(),
            gender: Gender::Male,
            repeat: 2,
            barge_in: true
        }
    );
    assert!(matches!(v.dial_plan[1], Verb::Play { .. }));
    assert_eq!(v.machine_detection, Some(MachineDetection::Hangup));
    assert_eq!(
        def.callback.map(|c| c.strategy),
        Some(CallbackStrategy::OnStep)
    );
}

fn dial_plan_of(fx: &Fixture, step: Value) -> Vec<Verb> {
    let def = fx.ok(&one(step));
    let StepKind::Voice(v) = &def.steps[0].kind else {
        panic!("voice")
    };
    v.dial_plan.clone()
}

#[test]
fn dial_plan_aliases() {
    let fx = Fixture::new();
    let plan = |text: &str| json!({"verbs": [{"type": "SAY", "message": {"text": text}}]});
    let text_of = |verbs: Vec<Verb>| match &verbs[..] {
        [Verb::Say { text, .. }] => text.clone(),
        other => panic!("one SAY verb, got {other:?}"),
    };
    let bare = del(voice(), "/dialPlan");
    assert_eq!(
        text_of(dial_plan_of(
            &fx,
            set(bare.clone(), "/dialPlans", plan("plans"))
        )),
        "plans"
    );
    assert_eq!(
        text_of(dial_plan_of(
            &fx,
            set(bare.clone(), "/dialplan", plan("lower"))
        )),
        "lower"
    );
    let all = set(
        set(
            set(bare, "/dialplan", plan("lower")),
            "/dialPlans",
            plan("plans"),
        ),
        "/dialPlan",
        plan("main"),
    );
    assert_eq!(
        text_of(dial_plan_of(&fx, all.clone())),
        "main",
        "dialPlan wins"
    );
    assert_eq!(
        text_of(dial_plan_of(&fx, del(all, "/dialPlan"))),
        "plans",
        "then dialPlans"
    );
    // PLAY takes fileURL or fileUrl.
    let play = set(
        voice(),
        "/dialPlan/verbs",
        json!([{"type": "PLAY", "fileUrl": "http://cdn.example.com/b.wav", "repeat": 10}]),
    );
    assert_eq!(
        dial_plan_of(&fx, play),
        [Verb::Play {
            file_url: "http://cdn.example.com/b.wav".into(),
            repeat: 10,
            barge_in: false
        }]
    );
}

fn voice_to_of(fx: &Fixture, to: Value) -> Step {
    fx.ok(&voice_to(to)).steps.remove(0)
}

#[test]
fn voice_destinations() {
    let mut fx = Fixture::new();
    fx.operators = OperatorTable::new([("+30691", "Cosmote")]).unwrap();
    let plain = voice_to_of(&fx, json!("+306912345678"));
    let StepKind::Voice(v) = &plain.kind else {
        panic!("voice")
    };
    assert_eq!(
        v.to.phone.as_ref().map(AsRef::as_ref),
        Some("+306912345678")
    );
    assert_eq!((v.to.viber.as_ref(), v.to.sip.as_ref()), (None, None));
    assert_eq!(plain.operator, "Cosmote");
    assert_eq!(plain.country.as_deref(), Some("GR"));

    let sip_only = voice_to_of(
        &fx,
        json!({"phone": "", "sip": "sip:alice@pbx.example.com:5060"}),
    );
    assert_eq!(sip_only.country, None);
    assert_eq!(sip_only.operator, "");
    assert_eq!(sip_only.recipient(), "alice@pbx.example.com:5060");
    assert_eq!(sip_only.unit_price, fx.prices.voice_minute.default);

    let viber = voice_to_of(&fx, json!({"viber": "+4915123456789", "sip": "bob@pbx"}));
    assert_eq!(viber.country.as_deref(), Some("DE"));
    assert_eq!(viber.recipient(), "+4915123456789");
}

#[test]
fn viber_ttl_has_at_most_one_decimal() {
    let fx = Fixture::new();
    let tenths = |ttl: Value| -> Result<(u32, Option<i64>), ValidationErrors> {
        let def = fx.parse(&one(set(viber(), "/ttl", ttl)))?;
        let StepKind::Viber(v) = &def.steps[0].kind else {
            panic!("viber")
        };
        Ok((v.ttl_tenths, def.steps[0].ttl_ms))
    };
    assert_eq!(tenths(json!(0.5)).unwrap(), (5, Some(30_000)));
    assert_eq!(tenths(json!(0.7)).unwrap(), (7, Some(42_000)));
    assert_eq!(tenths(json!(2.3)).unwrap(), (23, Some(138_000)));
    assert_eq!(tenths(json!(1440)).unwrap(), (14_400, Some(86_400_000)));
    assert_eq!(tenths(json!(1439.9)).unwrap().0, 14_399);
    for bad in [
        json!(0.55),
        json!(0.4),
        json!(1441),
        json!(1440.1),
        json!(10.01),
        json!(-1),
    ] {
        let errors = tenths(bad.clone()).expect_err("rejected");
        assert_eq!(errors.get("flow[0].ttl"), Some(VIBER_TTL_RULE), "{bad}");
    }
}

#[test]
fn sms_ttl_and_ttl_clock() {
    let mut fx = Fixture::new();
    fx.ttl_clock = TtlClock {
        sms_minute_ms: 100,
        viber_minute_ms: 10,
        voice_minute_ms: 1,
    };
    let def = fx.ok(&flow(&[
        set(sms(), "/ttl", json!(5.0)),
        set(viber(), "/ttl", json!(0.5)),
    ]));
    let StepKind::Sms(s) = &def.steps[1].kind else {
        panic!("sms")
    };
    assert_eq!(
        s.ttl_minutes, 5,
        "a whole number written as 5.0 is an integer"
    );
    assert_eq!(def.steps[1].ttl_ms, Some(500));
    assert_eq!(def.steps[0].ttl_ms, Some(5), "0.5 Viber minutes of 10 ms");
    assert_eq!(
        fx.errors(&one(set(sms(), "/ttl", json!(5.5))))
            .get("flow[0].ttl"),
        Some(SMS_TTL_RULE)
    );
}

fn sms_of(fx: &Fixture, message: Value) -> SmsStep {
    let def = fx.ok(&one(set(sms(), "/message", message)));
    let StepKind::Sms(s) = &def.steps[0].kind else {
        panic!("sms")
    };
    s.clone()
}

#[test]
fn sms_bodies_are_planned() {
    let fx = Fixture::new();
    let one_part = sms_of(&fx, json!({"body": long(160)}));
    assert_eq!(
        (one_part.encoding, one_part.parts.len()),
        (SmsEncoding::Gsm7, 1)
    );
    let two_parts = sms_of(&fx, json!({"body": long(161)}));
    assert_eq!(
        (two_parts.encoding, two_parts.parts.len()),
        (SmsEncoding::Gsm7, 2)
    );
    assert_eq!(two_parts.parts.concat(), long(161));

    let greek = "ΑΒΕ Καλημέρα";
    let plain = sms_of(&fx, json!({"body": "ΑΒΕ"}));
    assert_eq!(plain.encoding, SmsEncoding::Ucs2);
    let transcoded = sms_of(
        &fx,
        json!({"body": "ΑΒΕ", "transcode": true, "flash": true, "label": "promo"}),
    );
    assert_eq!(transcoded.encoding, SmsEncoding::Gsm7);
    assert_eq!(transcoded.parts, ["ABE"]);
    assert_eq!(transcoded.body, "ΑΒΕ", "the body is kept as sent");
    assert!(transcoded.transcode && transcoded.flash);
    assert_eq!(transcoded.label.as_deref(), Some("promo"));
    assert_eq!(
        sms_of(&fx, json!({"body": greek, "transcode": false})).encoding,
        SmsEncoding::Ucs2
    );
}

#[test]
fn optional_empty_strings_and_nulls_count_as_absent() {
    let fx = Fixture::new();
    let s = sms_of(&fx, json!({"body": "Hi", "label": "", "flash": null}));
    assert_eq!((s.label, s.flash), (None, false));
    let def = fx.ok(&one(set(
        set(viber(), "/inboundUrl", json!("")),
        "/label",
        json!(null),
    )));
    let StepKind::Viber(v) = &def.steps[0].kind else {
        panic!("viber")
    };
    assert_eq!((v.inbound_url.as_deref(), v.label.as_deref()), (None, None));
    let no_callback = fx.ok(&json!({"flow": [sms()], "callback": null}));
    assert_eq!(no_callback.callback, None);
}

#[test]
fn labels_count_characters_not_bytes() {
    let fx = Fixture::new();
    let label = "é".repeat(350);
    assert_eq!(
        sms_of(&fx, json!({"body": "Hi", "label": label}))
            .label
            .as_deref(),
        Some(label.as_str())
    );
    let caption = "ü".repeat(30);
    let action =
        json!({"text": "t", "action": {"caption": caption, "targetUrl": "https://example.com"}});
    assert!(fx.parse(&one(set(viber(), "/message", action))).is_ok());
}

#[test]
fn unknown_fields_and_a_voice_ttl_are_ignored() {
    let fx = Fixture::new();
    let body = json!({
        "flow": [set(set(voice(), "/ttl", json!("whenever")), "/priority", json!("high")),
                 set(sms(), "/message/unicode", json!(true))],
        "extra": {"anything": 1},
    });
    let def = fx.ok(&body);
    assert_eq!(def.steps.len(), 2);
    assert_eq!(
        def.steps[1].ttl_ms,
        Some(VOICE_REPORT_DEADLINE_MINUTES * 60_000),
        "a voice ttl in the request is ignored; only the report deadline applies"
    );
}

#[test]
fn viber_content_and_pricing() {
    let mut fx = Fixture::new();
    fx.prices.viber_rich = CountryPrices::flat(Micros::new(31_000));
    fx.prices
        .viber_text
        .countries
        .insert("GR".into(), Micros::new(15_000));
    let parse = |message: Value| {
        let def = fx.ok(&one(set(viber(), "/message", message)));
        let StepKind::Viber(v) = &def.steps[0].kind else {
            panic!("viber")
        };
        (v.content.clone(), def.steps[0].unit_price)
    };
    let (text, price) = parse(json!({"text": "Hi"}));
    assert!(!text.is_rich());
    assert_eq!(price, Micros::new(15_000), "per-country text price");

    let (image, price) = parse(
        json!({"text": "Hi", "imageUrl": "https://example.com/i.png",
                                      "action": {"caption": "Buy", "targetUrl": "https://example.com/b"}}),
    );
    assert_eq!(price, Micros::new(31_000));
    assert_eq!(
        image.action,
        Some(ViberAction {
            caption: "Buy".into(),
            target_url: "https://example.com/b".into()
        })
    );

    let (file, _) = parse(
        json!({"viberFile": {"fileName": "terms.pdf", "fileType": "PDF", "fileUrl": "https://example.com/t"}}),
    );
    assert_eq!(
        file.file.map(|f| f.file_type),
        Some("pdf".to_owned()),
        "file types are stored lower case"
    );

    let (video, _) = parse(
        json!({"text": "Watch", "viberVideo": {"videoUrl": "https://example.com/v.mp4",
                                  "videoThumbnail": "https://example.com/v.jpg", "fileSize": 200, "duration": 0.5}}),
    );
    let v = video.video.expect("a video");
    assert_eq!((v.file_size, v.duration), (200.0, 0.5));
    assert_eq!(
        video.text.as_deref(),
        Some("Watch"),
        "text may go with a video"
    );
}

#[test]
fn url_check() {
    for good in [
        "https://example.com",
        "http://example.com:8080/a?b=c#d",
        "HTTPS://user:pw@example.com/x",
        "https://[::1]:8443/hook",
        "https://ελληνικά.gr/",
    ] {
        assert_eq!(check_url(good, false), Ok(()), "{good}");
    }
    for bad in [
        "",
        "example.com",
        "//example.com",
        "ftp://example.com",
        "https://",
        "https://:80/",
        "https://example.com:/",
        "https://example.com:99999999/",
        "https://exa mple.com",
        "https://example.com/\n",
        "https://[::1",
    ] {
        assert!(check_url(bad, false).is_err(), "{bad:?}");
    }
    assert!(check_url("http://example.com", true).is_err());
    assert!(check_url("https://example.com", true).is_ok());
}
