//! The accepted flow: every value checked, defaults filled in, prices quoted, SMS parts
//! planned. Built only by [`crate::flow::parse_flow`]; immutable once stored.

use serde::{Deserialize, Serialize};

use crate::address::{Msisdn, SenderId, SipUri};
use crate::channel::{Channel, StatusKind};
use crate::ids::FlowId;
use crate::money::Micros;
use crate::sms::SmsEncoding;
use crate::time::Timestamp;

/// An accepted flow. Steps are sorted by `order`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowDefinition {
    pub tracking_id: FlowId,
    pub account_id: String,
    pub application_id: String,
    pub created_at: Timestamp,
    pub steps: Vec<Step>,
    pub callback: Option<Callback>,
}

impl FlowDefinition {
    /// Index of the step with this `order`.
    pub fn step_index(&self, order: u32) -> Option<usize> {
        self.steps.iter().position(|s| s.order == order)
    }

    /// The channels the flow uses, each once.
    pub fn channels(&self) -> Vec<Channel> {
        let mut out: Vec<Channel> = Vec::new();
        for s in &self.steps {
            if !out.contains(&s.channel()) {
                out.push(s.channel());
            }
        }
        out
    }
}

/// One step of a flow, with what the engine needs to run and price it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub order: u32,
    pub failover_on: Vec<StatusKind>,
    /// ISO 3166-1 alpha-2 of the recipient, when the number has one.
    pub country: Option<String>,
    /// From the operator prefix table; empty when unknown.
    pub operator: String,
    /// Price per SMS part, per Viber message, or per started voice minute.
    pub unit_price: Micros,
    /// Effective time to live in milliseconds (a TTL minute may be shortened in the
    /// sandbox). For voice, which has no TTL, the deadline for the call's final report
    /// ([`crate::ttl::VOICE_REPORT_DEADLINE_MINUTES`]).
    pub ttl_ms: Option<i64>,
    pub kind: StepKind,
}

impl Step {
    pub fn channel(&self) -> Channel {
        match self.kind {
            StepKind::Sms(_) => Channel::Sms,
            StepKind::Viber(_) => Channel::Viber,
            StepKind::Voice(_) => Channel::Voice,
        }
    }

    /// How many message entries the step produces: SMS parts, otherwise one.
    pub fn message_count(&self) -> usize {
        match &self.kind {
            StepKind::Sms(sms) => sms.parts.len().max(1),
            StepKind::Viber(_) | StepKind::Voice(_) => 1,
        }
    }

    /// Whether the step only succeeds on `SEEN` (Viber with `expireOnDelivery`).
    pub fn needs_seen(&self) -> bool {
        matches!(&self.kind, StepKind::Viber(v) if v.expire_on_delivery)
    }

    /// The recipient as a string (for voice: the destination the call goes to).
    pub fn recipient(&self) -> String {
        match &self.kind {
            StepKind::Sms(s) => s.to.to_string(),
            StepKind::Viber(v) => v.to.to_string(),
            StepKind::Voice(v) => v.to.destination(),
        }
    }
}

// Steps live in a Vec inside a flow that is allocated anyway; boxing the larger
// variants would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StepKind {
    Sms(SmsStep),
    Viber(ViberStep),
    Voice(VoiceStep),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsStep {
    pub from: SenderId,
    pub to: Msisdn,
    pub ttl_minutes: u32,
    /// The body as the client sent it.
    pub body: String,
    pub flash: bool,
    pub label: Option<String>,
    /// Where replies to this SMS go (not part of the tracking object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_url: Option<String>,
    pub transcode: bool,
    pub encoding: SmsEncoding,
    /// The text actually sent, split into parts (after transcoding).
    pub parts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViberStep {
    pub sender_info_tracking_id: String,
    /// The registered sender's name, shown as the message's `from`.
    pub sender_name: String,
    pub to: Msisdn,
    /// TTL in tenths of a minute (0.5 min = 5), so it stays an exact integer.
    pub ttl_tenths: u32,
    pub expire_on_delivery: bool,
    pub label: Option<String>,
    pub inbound_url: Option<String>,
    pub content: ViberContent,
}

impl ViberStep {
    /// TTL in minutes as the API shows it (`0.5`, `10`).
    pub fn ttl_minutes(&self) -> f64 {
        f64::from(self.ttl_tenths) / 10.0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViberContent {
    pub text: Option<String>,
    pub image_url: Option<String>,
    pub action: Option<ViberAction>,
    pub file: Option<ViberFile>,
    pub video: Option<ViberVideo>,
}

impl ViberContent {
    /// Anything beyond plain text is "rich" and may be priced differently.
    pub fn is_rich(&self) -> bool {
        self.image_url.is_some()
            || self.action.is_some()
            || self.file.is_some()
            || self.video.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViberAction {
    pub caption: String,
    pub target_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViberFile {
    pub file_name: String,
    pub file_type: String,
    pub file_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViberVideo {
    pub video_url: String,
    pub video_thumbnail: String,
    /// Megabytes, 0 < x ≤ 200.
    pub file_size: f64,
    /// Seconds, 0 < x ≤ 600.
    pub duration: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceStep {
    /// Caller id.
    pub from: SenderId,
    pub to: VoiceTo,
    pub dial_plan: Vec<Verb>,
    pub machine_detection: Option<MachineDetection>,
}

/// Where a call goes. At least one member is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceTo {
    pub phone: Option<Msisdn>,
    pub viber: Option<Msisdn>,
    pub sip: Option<SipUri>,
}

impl VoiceTo {
    /// The destination used: the phone number, else the Viber number, else the SIP address.
    pub fn destination(&self) -> String {
        if let Some(p) = &self.phone {
            p.to_string()
        } else if let Some(v) = &self.viber {
            v.to_string()
        } else {
            self.sip
                .as_ref()
                .map(|s| s.as_ref().to_owned())
                .unwrap_or_default()
        }
    }

    /// The number used, when the destination is a number.
    pub fn number(&self) -> Option<&Msisdn> {
        self.phone.as_ref().or(self.viber.as_ref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verb {
    Say {
        text: String,
        language: String,
        gender: Gender,
        repeat: u8,
        barge_in: bool,
    },
    Play {
        file_url: String,
        repeat: u8,
        barge_in: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    pub fn name(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
        }
    }
}

/// What to do when a machine answers the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MachineDetection {
    Hangup,
    Continue,
}

impl MachineDetection {
    pub fn name(self) -> &'static str {
        match self {
            MachineDetection::Hangup => "Hangup",
            MachineDetection::Continue => "Continue",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    pub strategy: CallbackStrategy,
    pub url: String,
}

/// `OnStep` is an alias of `OnChange`; it is kept apart only to echo what the client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallbackStrategy {
    OnChange,
    OnStep,
    OnCompletion,
}

impl CallbackStrategy {
    pub fn name(self) -> &'static str {
        match self {
            CallbackStrategy::OnChange => "OnChange",
            CallbackStrategy::OnStep => "OnStep",
            CallbackStrategy::OnCompletion => "OnCompletion",
        }
    }

    /// Whether every change is delivered (as opposed to only the completion).
    pub fn on_every_change(self) -> bool {
        !matches!(self, CallbackStrategy::OnCompletion)
    }
}

/// Who answered a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnsweredBy {
    Human,
    Machine,
    Unknown,
}

impl AnsweredBy {
    pub fn name(self) -> &'static str {
        match self {
            AnsweredBy::Human => "human",
            AnsweredBy::Machine => "machine",
            AnsweredBy::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<AnsweredBy> {
        match text.trim().to_ascii_lowercase().as_str() {
            "human" => Some(AnsweredBy::Human),
            "machine" => Some(AnsweredBy::Machine),
            "unknown" => Some(AnsweredBy::Unknown),
            _ => None,
        }
    }
}
