//! Turning a `POST /failover` body into a [`FlowDefinition`]: every rule of the contract's
//! §3, all problems reported at once, keyed by field path.
//!
//! The body is read as a [`serde_json::Value`] (not through serde derive) so that every
//! problem carries the exact path of the field (`flow[2].dialPlan.verbs[1].message.text`)
//! and so that all problems are collected, not only the first. Unknown fields are ignored,
//! and JSON `null` counts as an absent field.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use serde_json::Value;

use super::model::*;
use crate::address::{Msisdn, SenderId, SipUri};
use crate::channel::{Channel, StatusKind};
use crate::fields::Presence::{Optional, Required};
use crate::fields::{FieldReader, JsonObject, Presence, ValidationErrors};
use crate::ids::FlowId;
use crate::pricing::{OperatorTable, PriceList};
use crate::time::Timestamp;

/// How long one TTL minute lasts per channel, in milliseconds (60 000 in production;
/// shorter in the sandbox so TTL paths can be exercised quickly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlClock {
    pub sms_minute_ms: i64,
    pub viber_minute_ms: i64,
    pub voice_minute_ms: i64,
}

/// Voice steps have no TTL, but a call whose provider never reports its end must not
/// hold the flow forever: after this many minutes the call counts as `Failed`.
pub const VOICE_REPORT_DEADLINE_MINUTES: i64 = 120;

impl Default for TtlClock {
    fn default() -> Self {
        Self {
            sms_minute_ms: 60_000,
            viber_minute_ms: 60_000,
            voice_minute_ms: 60_000,
        }
    }
}

/// What parsing needs beyond the body itself.
#[derive(Debug, Clone, Copy)]
pub struct AcceptContext<'a> {
    pub tracking_id: FlowId,
    pub now: Timestamp,
    pub account_id: &'a str,
    pub application_id: &'a str,
    /// The account's Viber senders: `senderInfoTrackingId` → sender name.
    pub viber_senders: &'a HashMap<String, String>,
    pub prices: &'a PriceList,
    pub operators: &'a OperatorTable,
    pub ttl_clock: TtlClock,
}

/// Parse and check a request body.
///
/// # Errors
/// Returns every problem found, keyed by field path.
pub fn parse_flow(
    body: &Value,
    ctx: &AcceptContext<'_>,
) -> Result<FlowDefinition, ValidationErrors> {
    let mut checker = Checker::default();
    let (steps, callback) = match body.as_object() {
        Some(map) => {
            let root = JsonObject::new(map, "");
            (checker.steps(&root, ctx), checker.callback(&root))
        }
        None => {
            checker.r.report(
                "flow",
                "is required: the body must be a JSON object with a flow array",
            );
            (Vec::new(), None)
        }
    };
    checker.r.finish()?;
    Ok(FlowDefinition {
        tracking_id: ctx.tracking_id,
        account_id: ctx.account_id.to_owned(),
        application_id: ctx.application_id.to_owned(),
        created_at: ctx.now,
        steps,
        callback,
    })
}

// ---- limits and vocabularies of §3 ----

const MAX_STEPS: usize = 10;
const MAX_VERBS: usize = 10;
const ORDER_RULE: &str = "must be a positive integer";
const SMS_TTL_MINUTES: RangeInclusive<i64> = 1..=1440;
const SMS_TTL_RULE: &str = "must be an integer from 1 to 1440";
const SMS_DEFAULT_TTL_MINUTES: u32 = 1200;
/// Viber TTL in tenths of a minute: 0.5 to 1440 minutes.
const VIBER_TTL_TENTHS: RangeInclusive<i64> = 5..=14_400;
const VIBER_TTL_RULE: &str =
    "must be a number of minutes from 0.5 to 1440 with at most one decimal";
const VIBER_DEFAULT_TTL_TENTHS: u32 = 100;
const LABEL_MAX: usize = 350;
const VIBER_TEXT_MAX: usize = 1000;
const VIBER_URL_MAX: usize = 1000;
const CAPTION_MAX: usize = 30;
const FILE_NAME_MAX: usize = 25;
const FILE_TYPES: [&str; 21] = [
    "doc", "docx", "rtf", "dot", "dotx", "odt", "odf", "fodt", "txt", "info", "pdf", "xps", "pdax",
    "eps", "xls", "xlsx", "ods", "fods", "csv", "xlsm", "xltx",
];
const VIDEO_SIZE_MAX_MB: f64 = 200.0;
const VIDEO_DURATION_MAX_S: f64 = 600.0;
const SAY_TEXT_MAX: usize = 4000;
const LANGUAGES: [&str; 14] = [
    "en-US", "en-GB", "de-DE", "fr-FR", "it-IT", "pt-BR", "es-ES", "es-LA", "el-GR", "bg-BG",
    "pl-PL", "hu-HU", "sv-SE", "ru-RU",
];
const DEFAULT_LANGUAGE: &str = "en-US";
const REPEAT: RangeInclusive<i64> = 0..=10;
const REPEAT_RULE: &str = "must be an integer from 0 to 10";
/// Where the dial plan may be, in order of preference.
const DIAL_PLAN_KEYS: [&str; 3] = ["dialPlan", "dialPlans", "dialplan"];
const NO_DESTINATION: &str = "must have at least one of phone, viber, sip";

const GENDERS: [(&str, Gender); 2] = [("male", Gender::Male), ("female", Gender::Female)];
const MACHINE_DETECTION: [(&str, MachineDetection); 2] = [
    ("Hangup", MachineDetection::Hangup),
    ("Continue", MachineDetection::Continue),
];
const STRATEGIES: [(&str, CallbackStrategy); 3] = [
    ("OnChange", CallbackStrategy::OnChange),
    ("OnStep", CallbackStrategy::OnStep),
    ("OnCompletion", CallbackStrategy::OnCompletion),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VerbKind {
    Say,
    Play,
}
const VERB_KINDS: [(&str, VerbKind); 2] = [("SAY", VerbKind::Say), ("PLAY", VerbKind::Play)];

/// What a URL field accepts.
#[derive(Debug, Clone, Copy)]
struct UrlRule {
    https_only: bool,
    max_chars: Option<usize>,
}
const ANY_HTTP_URL: UrlRule = UrlRule {
    https_only: false,
    max_chars: None,
};
const HTTPS_URL: UrlRule = UrlRule {
    https_only: true,
    max_chars: None,
};
const VIBER_HTTPS_URL: UrlRule = UrlRule {
    https_only: true,
    max_chars: Some(VIBER_URL_MAX),
};

// ---- the checker ----

/// The flow's own rules on top of the shared [`FieldReader`], which holds every problem
/// found so far.
#[derive(Debug, Default)]
struct Checker {
    r: FieldReader,
}

impl Checker {
    /// A [`FieldReader::str_field`] holding an absolute URL that `rule` accepts. Reports
    /// what [`check_url`] finds wrong, or a URL longer than `rule` allows.
    fn url(
        &mut self,
        obj: &JsonObject<'_>,
        key: &str,
        presence: Presence,
        rule: UrlRule,
    ) -> Option<String> {
        let text = self.r.str_field(obj, key, presence)?;
        if let Err(message) = check_url(text, rule.https_only) {
            return self.r.fail(obj.at(key), message);
        }
        if let Some(max) = rule.max_chars.filter(|&max| text.chars().count() > max) {
            return self
                .r
                .fail(obj.at(key), format!("must be at most {max} characters"));
        }
        Some(text.to_owned())
    }
}

// ---- the flow ----

impl Checker {
    fn steps(&mut self, root: &JsonObject<'_>, ctx: &AcceptContext<'_>) -> Vec<Step> {
        let Some(items) = self
            .r
            .array(root, "flow", Required, "must be an array of steps")
        else {
            return Vec::new();
        };
        if !(1..=MAX_STEPS).contains(&items.len()) {
            self.r
                .report("flow", format!("must have 1 to {MAX_STEPS} steps"));
        }
        let mut orders: HashMap<u32, usize> = HashMap::new();
        let mut steps = Vec::new();
        for (index, item) in items.iter().enumerate() {
            if let Some(obj) = self.r.object(item, format!("flow[{index}]")) {
                steps.extend(self.step(&obj, index, &mut orders, ctx));
            }
        }
        steps.sort_by_key(|s| s.order);
        steps
    }

    fn step(
        &mut self,
        obj: &JsonObject<'_>,
        index: usize,
        orders: &mut HashMap<u32, usize>,
        ctx: &AcceptContext<'_>,
    ) -> Option<Step> {
        let channels = Channel::ALL.map(|c| (c.name(), c));
        let channel = self.r.choice(obj, "type", Required, &channels);
        let order: Option<u32> =
            self.r
                .integer(obj, "order", Required, 1..=i64::from(u32::MAX), ORDER_RULE);
        if let Some(order) = order {
            if let Some(first) = orders.get(&order) {
                self.r.report(
                    obj.at("order"),
                    format!("must be unique: flow[{first}] has the same order"),
                );
            } else {
                orders.insert(order, index);
            }
        }
        let channel = channel?;
        let failover_on = self.failover_statuses(obj, channel);
        let kind = match channel {
            Channel::Sms => self.sms(obj),
            Channel::Viber => self.viber(obj, ctx),
            Channel::Voice => self.voice(obj),
        };
        let kind = kind?;

        let number = match &kind {
            StepKind::Sms(s) => Some(&s.to),
            StepKind::Viber(v) => Some(&v.to),
            StepKind::Voice(v) => v.to.number(),
        };
        let country = number.and_then(Msisdn::country);
        let operator = number.map(|n| ctx.operators.lookup(n)).unwrap_or_default();
        let prices = match &kind {
            StepKind::Sms(_) => &ctx.prices.sms,
            StepKind::Viber(v) if v.content.is_rich() => &ctx.prices.viber_rich,
            StepKind::Viber(_) => &ctx.prices.viber_text,
            StepKind::Voice(_) => &ctx.prices.voice_minute,
        };
        let ttl_ms = match &kind {
            StepKind::Sms(s) => Some(i64::from(s.ttl_minutes) * ctx.ttl_clock.sms_minute_ms),
            StepKind::Viber(v) => {
                Some(i64::from(v.ttl_tenths) * ctx.ttl_clock.viber_minute_ms / 10)
            }
            StepKind::Voice(_) => {
                Some(VOICE_REPORT_DEADLINE_MINUTES * ctx.ttl_clock.voice_minute_ms)
            }
        };
        Some(Step {
            order: order?,
            failover_on,
            unit_price: prices.for_country(country.as_deref()),
            country,
            operator,
            ttl_ms,
            kind,
        })
    }

    /// `failoverOnStatuses`: an array of names or one comma-separated string, matched
    /// case-insensitively against the channel's allowed statuses, duplicates dropped (first
    /// occurrence kept).
    ///
    /// An explicitly empty list (`[]`, `""`, `" , "`) means the channel's default, exactly
    /// like an absent field: clients send it for "not set", and a step that fails over on
    /// nothing is already expressed by making it the last step.
    fn failover_statuses(&mut self, obj: &JsonObject<'_>, channel: Channel) -> Vec<StatusKind> {
        const KEY: &str = "failoverOnStatuses";
        let allowed = channel.failover_statuses();
        let defaults = channel.default_failover_statuses().to_vec();
        let names: Vec<&str> = match obj.get(KEY) {
            None => Vec::new(),
            Some(Value::String(text)) => text.split(',').collect(),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                items.iter().filter_map(Value::as_str).collect()
            }
            Some(_) => {
                self.r.report(
                    obj.at(KEY),
                    "must be an array of status names or a comma-separated string",
                );
                return defaults;
            }
        };
        let mut statuses: Vec<StatusKind> = Vec::new();
        let mut unknown: Vec<&str> = Vec::new();
        for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
            match allowed
                .iter()
                .find(|s| s.pascal_name().eq_ignore_ascii_case(name))
            {
                Some(status) if !statuses.contains(status) => statuses.push(*status),
                Some(_) => {}
                None => unknown.push(name),
            }
        }
        if !unknown.is_empty() {
            let allowed: Vec<&str> = allowed.iter().map(|s| s.pascal_name()).collect();
            self.r.report(
                obj.at(KEY),
                format!(
                    "must be one of {} (not allowed: {})",
                    allowed.join(", "),
                    unknown.join(", ")
                ),
            );
        }
        if statuses.is_empty() {
            defaults
        } else {
            statuses
        }
    }

    fn sms(&mut self, obj: &JsonObject<'_>) -> Option<StepKind> {
        let from = self.r.parsed(obj, "from", Required, SenderId::parse);
        let to = self.r.parsed(obj, "to", Required, Msisdn::parse);
        let ttl_minutes = self
            .r
            .integer(obj, "ttl", Optional, SMS_TTL_MINUTES, SMS_TTL_RULE);
        let message = self.r.object_field(obj, "message", Required)?;
        let body = self.r.str_field(&message, "body", Required);
        let flash = self.r.flag(&message, "flash");
        let label = self.r.text(&message, "label", Optional, LABEL_MAX);
        let transcode = self.r.flag(&message, "transcode");

        let body = body?.to_owned();
        let plan = crate::sms::plan(&body, transcode);
        Some(StepKind::Sms(SmsStep {
            from: from?,
            to: to?,
            ttl_minutes: ttl_minutes.unwrap_or(SMS_DEFAULT_TTL_MINUTES),
            body,
            flash,
            label,
            transcode,
            encoding: plan.encoding,
            parts: plan.parts,
        }))
    }

    fn viber(&mut self, obj: &JsonObject<'_>, ctx: &AcceptContext<'_>) -> Option<StepKind> {
        let sender = self
            .r
            .str_field(obj, "senderInfoTrackingId", Required)
            .and_then(|id| match ctx.viber_senders.get(id) {
                Some(name) => Some((id.to_owned(), name.clone())),
                None => self.r.fail(
                    obj.at("senderInfoTrackingId"),
                    "is not a Viber sender of this account",
                ),
            });
        let to = self.r.parsed(obj, "to", Required, Msisdn::parse);
        let ttl_tenths = self.viber_ttl(obj);
        let expire_on_delivery = self.r.flag(obj, "expireOnDelivery");
        let label = self.r.text(obj, "label", Optional, LABEL_MAX);
        let inbound_url = self.url(obj, "inboundUrl", Optional, ANY_HTTP_URL);
        let content = self
            .r
            .object_field(obj, "message", Required)
            .and_then(|m| self.viber_content(&m));

        let (sender_info_tracking_id, sender_name) = sender?;
        Some(StepKind::Viber(ViberStep {
            sender_info_tracking_id,
            sender_name,
            to: to?,
            ttl_tenths: ttl_tenths.unwrap_or(VIBER_DEFAULT_TTL_TENTHS),
            expire_on_delivery,
            label,
            inbound_url,
            content: content?,
        }))
    }

    /// Viber `ttl` in tenths of a minute. The float is scaled by 10 and must then be within
    /// 1e-9 of an integer, so `0.5` passes and `0.55` does not despite binary rounding.
    fn viber_ttl(&mut self, obj: &JsonObject<'_>) -> Option<u32> {
        let value = self.r.field(obj, "ttl", Optional)?;
        let tenths = value
            .as_f64()
            .map(|minutes| minutes * 10.0)
            .and_then(|scaled| {
                let whole = scaled.round();
                ((scaled - whole).abs() <= 1e-9).then_some(whole as i64)
            });
        match tenths
            .filter(|t| VIBER_TTL_TENTHS.contains(t))
            .and_then(|t| u32::try_from(t).ok())
        {
            Some(t) => Some(t),
            None => self.r.fail(obj.at("ttl"), VIBER_TTL_RULE),
        }
    }

    fn viber_content(&mut self, message: &JsonObject<'_>) -> Option<ViberContent> {
        let text = self.r.text(message, "text", Optional, VIBER_TEXT_MAX);
        let image_url = self.url(message, "imageUrl", Optional, VIBER_HTTPS_URL);
        let action = self
            .r
            .object_field(message, "action", Optional)
            .map(|a| self.viber_action(&a));
        let file = self
            .r
            .object_field(message, "viberFile", Optional)
            .map(|f| self.viber_file(&f));
        let video = self
            .r
            .object_field(message, "viberVideo", Optional)
            .map(|v| self.viber_video(&v));

        // What goes together is judged on what the client gave, valid or not, so a bad
        // imageUrl is reported once (at its own path), not again as "missing content".
        let [has_text, has_image, has_action, has_file, has_video] =
            ["text", "imageUrl", "action", "viberFile", "viberVideo"].map(|k| message.has(k));
        if !(has_text || has_image || has_file || has_video) {
            self.r.report(
                message.path(),
                "must have at least one of text, imageUrl, viberFile, viberVideo",
            );
        }
        let conflicts = |pairs: &[(&'static str, bool)]| -> Vec<&'static str> {
            pairs
                .iter()
                .filter(|(_, has)| *has)
                .map(|(name, _)| *name)
                .collect()
        };
        if has_file {
            let others = conflicts(&[
                ("text", has_text),
                ("imageUrl", has_image),
                ("action", has_action),
                ("viberVideo", has_video),
            ]);
            if !others.is_empty() {
                self.r.report(
                    message.path(),
                    format!("a viberFile goes alone, not with {}", others.join(", ")),
                );
            }
        } else if has_video {
            let others = conflicts(&[("imageUrl", has_image), ("action", has_action)]);
            if !others.is_empty() {
                let others = others.join(", ");
                self.r.report(
                    message.path(),
                    format!("a viberVideo goes alone (text is allowed), not with {others}"),
                );
            }
        }
        Some(ViberContent {
            text,
            image_url,
            action: action.flatten(),
            file: file.flatten(),
            video: video.flatten(),
        })
    }

    fn viber_action(&mut self, action: &JsonObject<'_>) -> Option<ViberAction> {
        let caption = self.r.text(action, "caption", Required, CAPTION_MAX);
        let target_url = self.url(action, "targetUrl", Required, VIBER_HTTPS_URL);
        Some(ViberAction {
            caption: caption?,
            target_url: target_url?,
        })
    }

    fn viber_file(&mut self, file: &JsonObject<'_>) -> Option<ViberFile> {
        let file_name = self.r.text(file, "fileName", Required, FILE_NAME_MAX);
        let file_type = self
            .r
            .choice(file, "fileType", Required, &FILE_TYPES.map(|t| (t, t)));
        let file_url = self.url(file, "fileUrl", Required, VIBER_HTTPS_URL);
        Some(ViberFile {
            file_name: file_name?,
            file_type: file_type?.to_owned(),
            file_url: file_url?,
        })
    }

    fn viber_video(&mut self, video: &JsonObject<'_>) -> Option<ViberVideo> {
        let video_url = self.url(video, "videoUrl", Required, HTTPS_URL);
        let video_thumbnail = self.url(video, "videoThumbnail", Required, HTTPS_URL);
        let file_size = self
            .r
            .positive_number(video, "fileSize", VIDEO_SIZE_MAX_MB, "megabytes");
        let duration = self
            .r
            .positive_number(video, "duration", VIDEO_DURATION_MAX_S, "seconds");
        Some(ViberVideo {
            video_url: video_url?,
            video_thumbnail: video_thumbnail?,
            file_size: file_size?,
            duration: duration?,
        })
    }

    fn voice(&mut self, obj: &JsonObject<'_>) -> Option<StepKind> {
        let from =
            self.r
                .str_field(obj, "from", Required)
                .and_then(|text| match SenderId::parse(text) {
                    Ok(id) if id.is_numeric() => Some(id),
                    _ => self.r.fail(obj.at("from"), "must be a phone number"),
                });
        let to = self.voice_to(obj);
        let dial_plan = self.dial_plan(obj);
        let machine_detection = self
            .r
            .object_field(obj, "machineDetection", Optional)
            .and_then(|md| self.r.choice(&md, "strategy", Required, &MACHINE_DETECTION));
        Some(StepKind::Voice(VoiceStep {
            from: from?,
            to: to?,
            dial_plan: dial_plan?,
            machine_detection,
        }))
    }

    /// `to` of a voice step: `{phone, viber, sip}` (empty members count as absent), or a
    /// plain string meaning `{phone}`.
    fn voice_to(&mut self, obj: &JsonObject<'_>) -> Option<VoiceTo> {
        let path = obj.at("to");
        match self.r.field(obj, "to", Required)? {
            Value::String(text) if text.is_empty() => self.r.fail(path, NO_DESTINATION),
            Value::String(text) => match Msisdn::parse(text) {
                Ok(phone) => Some(VoiceTo {
                    phone: Some(phone),
                    viber: None,
                    sip: None,
                }),
                Err(message) => self.r.fail(path, message),
            },
            Value::Object(map) => {
                let to = JsonObject::new(map, path);
                if !["phone", "viber", "sip"].iter().any(|k| to.has(k)) {
                    return self.r.fail(to.path(), NO_DESTINATION);
                }
                let phone = self.r.parsed(&to, "phone", Optional, Msisdn::parse);
                let viber = self.r.parsed(&to, "viber", Optional, Msisdn::parse);
                let sip = self.r.parsed(&to, "sip", Optional, SipUri::parse);
                Some(VoiceTo { phone, viber, sip })
            }
            _ => self.r.fail(
                path,
                "must be an object {phone, viber, sip} or a phone number",
            ),
        }
    }

    /// The dial plan, under the first of `dialPlan`, `dialPlans`, `dialplan` present (errors
    /// use the key the client used).
    fn dial_plan(&mut self, obj: &JsonObject<'_>) -> Option<Vec<Verb>> {
        let key = DIAL_PLAN_KEYS
            .into_iter()
            .find(|k| obj.get(k).is_some())
            .unwrap_or(DIAL_PLAN_KEYS[0]);
        let plan = self.r.object_field(obj, key, Required)?;
        let items = self
            .r
            .array(&plan, "verbs", Required, "must be an array of verbs")?;
        if !(1..=MAX_VERBS).contains(&items.len()) {
            self.r.report(
                plan.at("verbs"),
                format!("must have 1 to {MAX_VERBS} verbs"),
            );
        }
        let verbs: Vec<Option<Verb>> = items
            .iter()
            .enumerate()
            .map(|(k, item)| {
                let path = format!("{}[{k}]", plan.at("verbs"));
                self.r.object(item, path).and_then(|verb| self.verb(&verb))
            })
            .collect();
        verbs.into_iter().collect()
    }

    fn verb(&mut self, verb: &JsonObject<'_>) -> Option<Verb> {
        let kind = self.r.choice(verb, "type", Required, &VERB_KINDS);
        let repeat = self
            .r
            .integer(verb, "repeat", Optional, REPEAT, REPEAT_RULE)
            .unwrap_or(0);
        let barge_in = self.r.flag(verb, "bargeIn");
        match kind? {
            VerbKind::Say => {
                let message = self.r.object_field(verb, "message", Required)?;
                let text = self.r.text(&message, "text", Required, SAY_TEXT_MAX);
                let language =
                    self.r
                        .choice(&message, "language", Optional, &LANGUAGES.map(|l| (l, l)));
                let gender = self.r.choice(&message, "gender", Optional, &GENDERS);
                Some(Verb::Say {
                    text: text?,
                    language: language.unwrap_or(DEFAULT_LANGUAGE).to_owned(),
                    gender: gender.unwrap_or(Gender::Female),
                    repeat,
                    barge_in,
                })
            }
            VerbKind::Play => {
                let key = if verb.get("fileURL").is_none() && verb.get("fileUrl").is_some() {
                    "fileUrl"
                } else {
                    "fileURL"
                };
                let file_url = self.url(verb, key, Required, ANY_HTTP_URL)?;
                Some(Verb::Play {
                    file_url,
                    repeat,
                    barge_in,
                })
            }
        }
    }

    fn callback(&mut self, root: &JsonObject<'_>) -> Option<Callback> {
        let callback = self.r.object_field(root, "callback", Optional)?;
        let strategy = self.r.choice(&callback, "strategy", Required, &STRATEGIES);
        let url = self.url(&callback, "url", Required, ANY_HTTP_URL);
        Some(Callback {
            strategy: strategy?,
            url: url?,
        })
    }
}

/// A small absolute-URL check (no URL crate in this crate): an `http`/`https` scheme (or
/// `https` only), `://`, a non-empty host, an optional numeric port, no whitespace or
/// control characters anywhere.
fn check_url(text: &str, https_only: bool) -> Result<(), &'static str> {
    let bad = if https_only {
        "must be an absolute https URL"
    } else {
        "must be an absolute http(s) URL"
    };
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad);
    }
    let (scheme, rest) = text.split_once("://").ok_or(bad)?;
    let scheme_ok = scheme.eq_ignore_ascii_case("https")
        || (!https_only && scheme.eq_ignore_ascii_case("http"));
    if !scheme_ok {
        return Err(bad);
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host_port)| host_port);
    let (host, port) = split_port(host_port).ok_or(bad)?;
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if host.is_empty() || !port_ok {
        return Err(bad);
    }
    Ok(())
}

/// `host[:port]` or `[v6]:port` split into host and port; `None` for an unclosed `[`.
fn split_port(host_port: &str) -> Option<(&str, Option<&str>)> {
    let Some(v6) = host_port.strip_prefix('[') else {
        return Some(match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        });
    };
    let (addr, after) = v6.split_once(']')?;
    match after {
        "" => Some((addr, None)),
        _ => Some((addr, Some(after.strip_prefix(':')?))),
    }
}

#[cfg(test)]
pub(super) mod tests {
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
        let action = json!({"text": "t", "action": {"caption": caption, "targetUrl": "https://example.com"}});
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
}
