//! How a SIP call attempt ends, in Cascade's Voice statuses (spec: voice-sip §2). The
//! SIP driver reports what happened ([`CallEnd`]); the status, `detailedStatus` and
//! `description` come from here, so every provider of calls over SIP says the same.

use crate::channel::StatusKind;
use crate::reasons::Reason;

/// What ended a call that was never answered, or the answered call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEnd {
    /// A final response other than 2xx to the INVITE (after one digest retry for 401 /
    /// 407), with its reason phrase.
    Response { code: u16, reason: String },
    /// No answer within the ring timeout: Cascade sent CANCEL.
    RingTimeout,
    /// No response at all (SIP timer B).
    NoResponse,
    /// The transport failed (connection refused, reset, DNS).
    Transport(String),
    /// Answered, the dial plan played, then BYE from either side.
    Completed { duration_s: u32 },
    /// Answered by a machine on a step whose strategy is `Hangup`: Cascade sent BYE.
    MachineHungUp { duration_s: u32 },
    /// A Cascade restart cut the call.
    Interrupted,
    /// Answered (200 OK) with an SDP that takes none of the codecs offered, or no audio
    /// stream: Cascade hung up at once.
    NoCommonCodec,
}

/// The status of a call that ended so.
pub fn outcome(end: &CallEnd) -> Reason {
    let sip = |code: u16, reason: &str| {
        if reason.is_empty() {
            format!("SIP {code}")
        } else {
            format!("SIP {code} {reason}")
        }
    };
    match end {
        CallEnd::Response { code, reason } => {
            let description = sip(*code, reason);
            match code {
                486 | 600 | 603 => Reason::from_parts(StatusKind::Busy, "Busy", description),
                408 | 480 | 487 => {
                    Reason::from_parts(StatusKind::NoAnswer, "No Answer", description)
                }
                _ => Reason::from_parts(StatusKind::Failed, "Call Failed", description),
            }
        }
        CallEnd::RingTimeout => Reason::from_parts(
            StatusKind::NoAnswer,
            "No Answer",
            "No answer before the ring timeout; the call was cancelled.",
        ),
        CallEnd::NoResponse => Reason::from_parts(
            StatusKind::Failed,
            "Call Failed",
            "SIP: no response to the INVITE (timer B).",
        ),
        CallEnd::Transport(error) => Reason::from_parts(
            StatusKind::Failed,
            "Call Failed",
            format!("SIP transport error: {error}"),
        ),
        CallEnd::Completed { .. } => Reason::from_parts(
            StatusKind::Completed,
            "Completed",
            "The call was answered and the dial plan played.",
        ),
        CallEnd::MachineHungUp { .. } => crate::reasons::answered_by_machine(),
        CallEnd::NoCommonCodec => Reason::from_parts(
            StatusKind::Failed,
            "Call Failed",
            "SIP 200 OK without a usable audio stream (no codec Cascade offered); hung up.",
        ),
        CallEnd::Interrupted => Reason::from_parts(
            StatusKind::Failed,
            "Interrupted",
            "A Cascade restart cut the call.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(code: u16, reason: &str) -> CallEnd {
        CallEnd::Response {
            code,
            reason: reason.into(),
        }
    }

    #[test]
    fn every_row_of_the_spec_table() {
        for (code, status) in [
            (486, StatusKind::Busy),
            (600, StatusKind::Busy),
            (603, StatusKind::Busy),
            (408, StatusKind::NoAnswer),
            (480, StatusKind::NoAnswer),
            (403, StatusKind::Failed),
            (404, StatusKind::Failed),
            (410, StatusKind::Failed),
            (484, StatusKind::Failed),
            (604, StatusKind::Failed),
            (488, StatusKind::Failed),
            (415, StatusKind::Failed),
            (401, StatusKind::Failed),
            (407, StatusKind::Failed),
            (500, StatusKind::Failed),
            (503, StatusKind::Failed),
        ] {
            assert_eq!(outcome(&response(code, "X")).status, status, "SIP {code}");
        }
        assert_eq!(
            outcome(&response(486, "Busy Here")).description,
            "SIP 486 Busy Here"
        );
        assert_eq!(outcome(&CallEnd::RingTimeout).status, StatusKind::NoAnswer);
        assert_eq!(outcome(&CallEnd::NoResponse).status, StatusKind::Failed);
        assert_eq!(
            outcome(&CallEnd::Transport("refused".into())).status,
            StatusKind::Failed
        );
        assert_eq!(
            outcome(&CallEnd::Completed { duration_s: 3 }).status,
            StatusKind::Completed
        );
        let machine = outcome(&CallEnd::MachineHungUp { duration_s: 2 });
        assert_eq!(
            (machine.status, machine.detailed_status.as_str()),
            (StatusKind::NoAnswer, "Answered by machine")
        );
        let cut = outcome(&CallEnd::Interrupted);
        assert_eq!(
            (cut.status, cut.detailed_status.as_str()),
            (StatusKind::Failed, "Interrupted")
        );
    }

    #[test]
    fn every_outcome_is_a_final_voice_status() {
        let ends = [
            response(486, "Busy Here"),
            response(404, "Not Found"),
            CallEnd::RingTimeout,
            CallEnd::NoResponse,
            CallEnd::Transport("reset".into()),
            CallEnd::Completed { duration_s: 1 },
            CallEnd::MachineHungUp { duration_s: 1 },
            CallEnd::Interrupted,
        ];
        for end in ends {
            let r = outcome(&end);
            assert!(
                crate::Channel::Voice.statuses().contains(&r.status) && r.status.is_final(),
                "{end:?}"
            );
        }
    }
}
