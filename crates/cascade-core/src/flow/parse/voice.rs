//! The rules of a voice step: caller, destinations and the dial plan.

use std::ops::RangeInclusive;

use serde_json::Value;

use super::Checker;
use super::url::ANY_HTTP_URL;
use crate::address::{Msisdn, SenderId, SipUri};
use crate::fields::JsonObject;
use crate::fields::Presence::{Optional, Required};
use crate::flow::model::*;

const MAX_VERBS: usize = 10;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VerbKind {
    Say,
    Play,
}
const VERB_KINDS: [(&str, VerbKind); 2] = [("SAY", VerbKind::Say), ("PLAY", VerbKind::Play)];

impl Checker {
    pub(super) fn voice(&mut self, obj: &JsonObject<'_>) -> Option<StepKind> {
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
}
