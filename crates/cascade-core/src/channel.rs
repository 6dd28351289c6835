//! Channels and their message statuses, with the rules the engine needs about them:
//! which statuses end a message, which count as success, which may trigger failover.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A delivery channel. Printed as `Sms`, `Viber`, `Voice`; parsed case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Channel {
    Sms,
    Viber,
    Voice,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Sms, Channel::Viber, Channel::Voice];

    pub fn name(self) -> &'static str {
        match self {
            Channel::Sms => "Sms",
            Channel::Viber => "Viber",
            Channel::Voice => "Voice",
        }
    }

    /// Case-insensitive parse of a channel name.
    pub fn parse(text: &str) -> Option<Channel> {
        Channel::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(text.trim()))
    }

    /// The OAuth scope a flow needs to use this channel.
    pub fn scope(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Viber => "viber",
            Channel::Voice => "voice",
        }
    }

    /// Statuses a message of this channel can have.
    pub fn statuses(self) -> &'static [StatusKind] {
        use StatusKind::*;
        match self {
            Channel::Sms => &[Queued, Sent, Delivered, Undelivered, Failed, Unsent],
            Channel::Viber => &[
                Queued,
                Sent,
                Delivered,
                Seen,
                Undelivered,
                Expired,
                Failed,
                Unsent,
            ],
            Channel::Voice => &[
                Queued, Initiated, Ringing, InProgress, Completed, Busy, NoAnswer, Failed, Unsent,
                Terminated,
            ],
        }
    }

    /// Statuses allowed in a step's `failoverOnStatuses`.
    pub fn failover_statuses(self) -> &'static [StatusKind] {
        use StatusKind::*;
        match self {
            Channel::Sms => &[Undelivered, Failed],
            Channel::Viber => &[Expired, Failed, Undelivered],
            Channel::Voice => &[Busy, NoAnswer, Failed, Unsent, Terminated],
        }
    }

    /// `failoverOnStatuses` when the request leaves it out.
    pub fn default_failover_statuses(self) -> &'static [StatusKind] {
        use StatusKind::*;
        match self {
            Channel::Sms => &[Undelivered, Failed],
            Channel::Viber => &[Expired, Failed, Undelivered],
            Channel::Voice => &[Busy, NoAnswer],
        }
    }

    /// The status a message is in once handed to the provider.
    pub fn sent_status(self) -> StatusKind {
        match self {
            Channel::Sms | Channel::Viber => StatusKind::Sent,
            Channel::Voice => StatusKind::Initiated,
        }
    }

    /// Parse a status name valid for this channel, case-insensitively.
    pub fn parse_status(self, text: &str) -> Option<StatusKind> {
        let text = text.trim();
        self.statuses()
            .iter()
            .copied()
            .find(|s| s.pascal_name().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every status of every channel. Which ones a channel uses is [`Channel::statuses`];
/// how a status is spelled on the wire depends on the channel ([`StatusKind::name_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StatusKind {
    Queued,
    Sent,
    Initiated,
    Ringing,
    InProgress,
    Delivered,
    Seen,
    Completed,
    Undelivered,
    Expired,
    Failed,
    Unsent,
    Busy,
    NoAnswer,
    Terminated,
}

impl StatusKind {
    pub fn pascal_name(self) -> &'static str {
        use StatusKind::*;
        match self {
            Queued => "Queued",
            Sent => "Sent",
            Initiated => "Initiated",
            Ringing => "Ringing",
            InProgress => "InProgress",
            Delivered => "Delivered",
            Seen => "Seen",
            Completed => "Completed",
            Undelivered => "Undelivered",
            Expired => "Expired",
            Failed => "Failed",
            Unsent => "Unsent",
            Busy => "Busy",
            NoAnswer => "NoAnswer",
            Terminated => "Terminated",
        }
    }

    /// The wire spelling: Viber statuses are upper case (`DELIVERED`), the others PascalCase.
    pub fn name_for(self, channel: Channel) -> String {
        match channel {
            Channel::Viber => self.pascal_name().to_ascii_uppercase(),
            Channel::Sms | Channel::Voice => self.pascal_name().to_owned(),
        }
    }

    /// Whether a message in this status has reached an outcome. Viber `DELIVERED` is final
    /// (a success), though `SEEN` may still follow it.
    pub fn is_final(self) -> bool {
        use StatusKind::*;
        !matches!(self, Queued | Sent | Initiated | Ringing | InProgress)
    }

    pub fn is_success(self) -> bool {
        matches!(
            self,
            StatusKind::Delivered | StatusKind::Seen | StatusKind::Completed
        )
    }

    /// Progress rank used to discard stale reports: a report never moves a message to a
    /// lower rank. Finals share one rank (a conflicting final is judged separately), and
    /// `Seen` ranks above `Delivered` because it may follow it.
    pub fn rank(self) -> u8 {
        use StatusKind::*;
        match self {
            Queued => 0,
            Sent | Initiated => 1,
            Ringing => 2,
            InProgress => 3,
            Seen => 11,
            _ => 10,
        }
    }

    /// How bad an outcome is, for rolling SMS parts up into the step outcome: the worst
    /// part decides.
    pub fn severity(self) -> u8 {
        use StatusKind::*;
        match self {
            Delivered | Seen | Completed => 0,
            Expired | NoAnswer | Busy => 1,
            Undelivered => 2,
            Terminated => 3,
            Failed => 4,
            Unsent => 5,
            Queued | Sent | Initiated | Ringing | InProgress => 6,
        }
    }

    /// The `detailedStatus` shown when a provider gives none: the status's own name,
    /// written as words.
    pub fn default_detail(self) -> &'static str {
        match self {
            StatusKind::InProgress => "In progress",
            StatusKind::NoAnswer => "No answer",
            other => other.pascal_name(),
        }
    }

    /// The `description` shown when a provider gives none.
    pub fn default_description(self) -> &'static str {
        use StatusKind::*;
        match self {
            Queued => "The message is queued for sending.",
            Sent => "The message was handed to the provider.",
            Initiated => "The call was placed with the provider.",
            Ringing => "The destination is ringing.",
            InProgress => "The call is in progress.",
            Delivered => "The message was delivered to the recipient.",
            Seen => "The recipient has seen the message.",
            Completed => "The call was answered and completed.",
            Undelivered => "The message could not be delivered to the recipient.",
            Expired => "The message was not delivered before its time to live ran out.",
            Failed => "The message failed.",
            Unsent => "The message was not sent.",
            Busy => "The destination was busy.",
            NoAnswer => "The call was not answered.",
            Terminated => "The call was terminated.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively_and_prints_canonically() {
        assert_eq!(Channel::parse("sMs"), Some(Channel::Sms));
        assert_eq!(Channel::parse(" VIBER "), Some(Channel::Viber));
        assert_eq!(Channel::parse("email"), None);
        assert_eq!(
            Channel::Voice.parse_status("noanswer"),
            Some(StatusKind::NoAnswer)
        );
        assert_eq!(
            Channel::Sms.parse_status("seen"),
            None,
            "Seen is Viber only"
        );
        assert_eq!(StatusKind::Seen.name_for(Channel::Viber), "SEEN");
        assert_eq!(StatusKind::NoAnswer.name_for(Channel::Voice), "NoAnswer");
    }

    #[test]
    fn failover_statuses_are_final_failures_of_their_channel() {
        for channel in Channel::ALL {
            for s in channel.failover_statuses() {
                assert!(channel.statuses().contains(s));
                assert!(s.is_final() && !s.is_success(), "{channel}: {s:?}");
            }
            for s in channel.default_failover_statuses() {
                assert!(channel.failover_statuses().contains(s));
            }
        }
    }

    #[test]
    fn every_channel_has_exactly_one_family_of_success() {
        let successes = |c: Channel| -> Vec<StatusKind> {
            c.statuses()
                .iter()
                .copied()
                .filter(|s| s.is_success())
                .collect()
        };
        assert_eq!(successes(Channel::Sms), [StatusKind::Delivered]);
        assert_eq!(
            successes(Channel::Viber),
            [StatusKind::Delivered, StatusKind::Seen]
        );
        assert_eq!(successes(Channel::Voice), [StatusKind::Completed]);
    }
}
