//! Why a message has its status: every reason Cascade itself gives (`detailedStatus` and
//! `description` of `status.reason`), in one catalogue, so the engine, the dispatcher and
//! the connectors say the same thing the same way, and a client can match on the texts.
//!
//! A provider's own reasons (what an SMSC or an HTTP API reports) pass through as they
//! come; only the names Cascade gives a provider's states are here
//! ([`receipt`]).

use std::fmt::Display;

use crate::channel::{Channel, StatusKind};

/// A status with its reason texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub status: StatusKind,
    /// `status.reason.detailedStatus`.
    pub detailed_status: String,
    /// `status.reason.description`.
    pub description: String,
}

impl Reason {
    /// A reason from its parts, for catalogues beside this one (`sip_outcome`).
    pub(crate) fn from_parts(
        status: StatusKind,
        detailed_status: &str,
        description: impl Into<String>,
    ) -> Self {
        Self::new(status, detailed_status, description)
    }

    fn new(status: StatusKind, detailed_status: &str, description: impl Into<String>) -> Self {
        Reason {
            status,
            detailed_status: detailed_status.to_owned(),
            description: description.into(),
        }
    }
}

/// The step's TTL ran out before its messages were final: what each channel calls it.
/// `delivered` is a Viber message delivered but not seen (its step wanted `SEEN`).
pub fn ttl_expired(channel: Channel, delivered: bool) -> Reason {
    match channel {
        Channel::Sms => Reason::new(
            StatusKind::Undelivered,
            receipt::EXPIRED,
            "No final delivery report arrived within the message's TTL.",
        ),
        Channel::Viber => Reason::new(
            StatusKind::Expired,
            "TTL Expired",
            if delivered {
                "Delivered but not seen within the message's TTL."
            } else {
                "Not delivered within the message's TTL."
            },
        ),
        Channel::Voice => Reason::new(
            StatusKind::Failed,
            "No final report",
            "The provider did not report the call's outcome in time.",
        ),
    }
}

/// The account's balance could not cover the step when it was about to start.
pub fn insufficient_balance() -> Reason {
    Reason::new(
        StatusKind::Unsent,
        "Insufficient balance",
        "The account's balance cannot cover this step.",
    )
}

/// Something failed that could not be retried (no provider for the channel, a provider
/// answering nonsense).
pub fn internal_error() -> Reason {
    Reason::new(
        StatusKind::Failed,
        "Internal error",
        "Cascade could not send this message.",
    )
}

/// The message waited in Cascade's own queue (retries, a restart) past its TTL: it must
/// not leave any more.
pub fn expired_before_submit() -> Reason {
    Reason::new(
        StatusKind::Unsent,
        receipt::EXPIRED,
        "The time to live ran out before the message could be handed to the provider.",
    )
}

/// The message waited for an SMSC bind (full window, throttling, a reconnect) past its
/// TTL.
pub fn expired_waiting_for_smsc() -> Reason {
    Reason::new(
        StatusKind::Unsent,
        receipt::EXPIRED,
        "The time to live ran out while the message waited for the SMSC.",
    )
}

/// Temporary failures went on until the dispatcher gave up.
pub fn provider_unavailable(attempts: u32, last_error: impl Display) -> Reason {
    Reason::new(
        StatusKind::Unsent,
        "Provider unavailable",
        format!("Not sent after {attempts} attempts: {last_error}"),
    )
}

/// The SMSC refused the `submit_sm` with `status` (an SMPP command status).
pub fn rejected_by_smsc(status: impl Display) -> Reason {
    Reason::new(
        StatusKind::Failed,
        "Rejected by SMSC",
        format!("The SMSC refused the message: {status}."),
    )
}

/// No configured SMSC serves the destination.
pub fn no_route(destination: &str) -> Reason {
    Reason::new(
        StatusKind::Failed,
        "No route",
        format!("No SMSC is configured for {destination}."),
    )
}

/// A step of another channel reached the SMS connector.
pub fn not_an_sms() -> Reason {
    Reason::new(
        StatusKind::Failed,
        "Not an SMS",
        "An SMSC only carries SMS steps.",
    )
}

/// The message cannot be put into SMPP PDUs.
pub fn invalid_message(error: impl Display) -> Reason {
    Reason::new(
        StatusKind::Failed,
        "Invalid message",
        format!("The message cannot be encoded for SMPP: {error}"),
    )
}

/// A machine answered a call whose machine detection says `Hangup`.
pub fn answered_by_machine() -> Reason {
    Reason::new(
        StatusKind::NoAnswer,
        "Answered by machine",
        "A machine answered and the call was hung up.",
    )
}

/// An HTTP provider refused this message for good (a 4xx other than 401/403/408/429):
/// `text` is the provider's own error text.
pub fn rejected_by_provider(provider: &str, text: impl Display) -> Reason {
    Reason::new(
        StatusKind::Failed,
        viber::MESSAGE_REJECTED,
        format!("{provider} refused the message: {text}"),
    )
}

/// The step asks for something this provider cannot do (e.g. a call to a Viber user).
pub fn unsupported_by_provider(provider: &str, what: impl Display) -> Reason {
    Reason::new(
        StatusKind::Failed,
        "Not supported",
        format!("{provider} cannot send this: {what}"),
    )
}

/// A call could not be placed (bad number, carrier error); `sip_code` is the SIP
/// response the provider reports, when it does.
pub fn call_failed(provider: &str, sip_code: Option<&str>) -> Reason {
    Reason::new(
        StatusKind::Failed,
        "Call Failed",
        match sip_code {
            Some(code) => format!("{provider} could not place the call (SIP {code})."),
            None => format!("{provider} could not place the call."),
        },
    )
}

/// A call could not be placed, for the reason the provider gives (`invalid_number`,
/// `cannot_route`, …).
pub fn call_failed_because(provider: &str, detail: &str) -> Reason {
    Reason::new(
        StatusKind::Failed,
        "Call Failed",
        format!("{provider} could not place the call ({detail})."),
    )
}

/// The call rang until the provider's ringing timer gave up.
pub fn call_timed_out(provider: &str) -> Reason {
    Reason::new(
        StatusKind::NoAnswer,
        "Timed Out",
        format!("{provider}: nobody answered before the ringing timer ran out."),
    )
}

/// The recipient rejected the call.
pub fn call_declined(provider: &str) -> Reason {
    Reason::new(
        StatusKind::NoAnswer,
        "Declined",
        format!("{provider}: the recipient declined the call."),
    )
}

/// The recipient could not be reached or did not answer; `detail` is the provider's
/// word for why, when it gives one.
pub fn call_unanswered(provider: &str, detail: Option<&str>) -> Reason {
    Reason::new(
        StatusKind::NoAnswer,
        "No Answer",
        match detail {
            Some(d) => {
                format!("{provider}: the recipient was unreachable or did not answer ({d}).")
            }
            None => format!("{provider}: the recipient was unreachable or did not answer."),
        },
    )
}

/// The call was canceled before it was answered.
pub fn call_canceled(provider: &str) -> Reason {
    Reason::new(
        StatusKind::Failed,
        "Canceled",
        format!("{provider} canceled the call before it was answered."),
    )
}

/// A Voice step's call was not placed within `CASCADE_VOICE_SUBMIT_WINDOW` of the step
/// starting: a call that late would surprise its recipient, so it is not placed at all.
pub fn voice_submit_window_passed(window_s: u64) -> Reason {
    Reason::new(
        StatusKind::Failed,
        "Submit window passed",
        format!("The call could not be placed within {window_s} s of the step starting."),
    )
}

/// The step's dial plan does not fit what the provider accepts in one request.
pub fn dial_plan_too_long(provider: &str, limit: usize) -> Reason {
    Reason::new(
        StatusKind::Failed,
        "Not supported",
        format!(
            "{provider} cannot send this: the dial plan is longer than {limit} characters once rendered."
        ),
    )
}

/// No configured provider of the channel serves the destination.
pub fn no_provider_route(channel: Channel, destination: &str) -> Reason {
    Reason::new(
        StatusKind::Failed,
        "No route",
        format!("No {channel} provider is configured for {destination}."),
    )
}

/// The `detailedStatus` names Cascade gives Viber providers' outcomes (Routee's names).
pub mod viber {
    pub const DELIVERED: &str = "Delivered";
    pub const TTL_EXPIRED: &str = "TTL Expired";
    pub const NOT_VIBER_USER: &str = "Not Viber User";
    pub const UNSUPPORTED_EQUIPMENT: &str = "Unsupported Equipment";
    pub const OPTED_OUT: &str = "Opted Out";
    pub const TIMED_OUT: &str = "Timed Out";
    pub const SYSTEM_FAILURE: &str = "System Failure";
    pub const MESSAGE_REJECTED: &str = "Message Rejected";
}

/// The `detailedStatus` Cascade gives an SMSC's delivery receipt states (the description
/// carries the receipt's own `stat` and `err`).
pub mod receipt {
    /// UNDELIV.
    pub const UNDELIVERED: &str = "Undelivered";
    /// EXPIRED (also Cascade's own expiries of SMS).
    pub const EXPIRED: &str = "Expired";
    /// REJECTD.
    pub const REJECTED: &str = "Rejected";
    /// DELETED, UNKNOWN, or a state nobody recognises.
    pub const UNKNOWN_STATUS: &str = "Unknown Status";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_a_status_its_channels_allow_and_texts() {
        let all = [
            (ttl_expired(Channel::Sms, false), Channel::Sms),
            (ttl_expired(Channel::Viber, false), Channel::Viber),
            (ttl_expired(Channel::Viber, true), Channel::Viber),
            (ttl_expired(Channel::Voice, false), Channel::Voice),
            (insufficient_balance(), Channel::Sms),
            (internal_error(), Channel::Voice),
            (expired_before_submit(), Channel::Viber),
            (expired_waiting_for_smsc(), Channel::Sms),
            (provider_unavailable(8, "HTTP 503"), Channel::Viber),
            (rejected_by_smsc("ESME_RINVDSTADR"), Channel::Sms),
            (no_route("+306912345678"), Channel::Sms),
            (not_an_sms(), Channel::Sms),
            (invalid_message("too long"), Channel::Sms),
            (answered_by_machine(), Channel::Voice),
            (
                rejected_by_provider("vonage", "Invalid sender"),
                Channel::Viber,
            ),
            (
                unsupported_by_provider("twilio", "a Viber call"),
                Channel::Voice,
            ),
            (
                no_provider_route(Channel::Viber, "+306912345678"),
                Channel::Viber,
            ),
            (call_failed("twilio", Some("404")), Channel::Voice),
            (call_failed("twilio", None), Channel::Voice),
            (call_canceled("twilio"), Channel::Voice),
            (
                call_failed_because("vonage", "invalid_number"),
                Channel::Voice,
            ),
            (call_timed_out("vonage"), Channel::Voice),
            (call_declined("vonage"), Channel::Voice),
            (
                call_unanswered("vonage", Some("unavailable")),
                Channel::Voice,
            ),
            (call_unanswered("vonage", None), Channel::Voice),
            (voice_submit_window_passed(300), Channel::Voice),
            (dial_plan_too_long("twilio", 4000), Channel::Voice),
        ];
        for (reason, channel) in all {
            assert!(
                channel.statuses().contains(&reason.status) && reason.status.is_final(),
                "{reason:?} on {channel}"
            );
            assert!(!reason.detailed_status.is_empty() && !reason.description.is_empty());
        }
        assert_eq!(
            provider_unavailable(3, "timeout").description,
            "Not sent after 3 attempts: timeout"
        );
        assert_eq!(
            rejected_by_smsc("ESME_RINVDSTADR").description,
            "The SMSC refused the message: ESME_RINVDSTADR."
        );
    }
}
