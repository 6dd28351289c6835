//! The sandbox providers' script: scenario rules (what `POST /sandbox/scenarios` stores),
//! which rule a send follows, and the reports it then owes. Pure; the store keeps the
//! rules and the owed reports, the sandbox providers send and deliver them.

use serde::{Deserialize, Serialize};

use crate::channel::{Channel, StatusKind};
use crate::flow::{AnsweredBy, MachineDetection, StepKind};
use crate::machines::Report;
use crate::time::Timestamp;

/// A scenario rule as submitted to `POST /sandbox/scenarios`; `rule` is a [`Rule`] as
/// JSON, stored as is.
#[derive(Debug, Clone, PartialEq)]
pub struct NewScenario {
    pub channel: Channel,
    /// `+E164` or `*`.
    pub to: String,
    pub rule: serde_json::Value,
    pub times: Option<u32>,
}

/// A stored scenario rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub id: i64,
    pub channel: Channel,
    pub to: String,
    pub rule: serde_json::Value,
    /// Sends left (`None`: unlimited).
    pub times_left: Option<u32>,
    pub created_at: Timestamp,
}

/// The provider ids of a send and the reports it owes.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxPlan {
    /// One provider message id per message part.
    pub provider_ids: Vec<String>,
    pub reports: Vec<PlannedReport>,
}

/// A report the sandbox owes, due at `due_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedReport {
    pub provider_message_id: String,
    pub due_at: Timestamp,
    pub delivery: Delivery,
}

/// What the sandbox delivers when a planned report falls due: a status report about the
/// message, or the recipient's scripted reply to it. Stored as JSON: a reply has an
/// `inbound` member, a report never does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Delivery {
    Inbound(ScriptedReply),
    Report(Report),
}

/// A scripted reply: `from` the recipient `to` the sender that wrote to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptedReply {
    pub inbound: String,
    pub at: Timestamp,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
}

impl Delivery {
    /// Whether this is a final status report (after it, nothing more is owed about the
    /// message but replies).
    pub fn is_final_report(&self) -> bool {
        matches!(self, Delivery::Report(r) if r.status.is_final())
    }
}

impl PlannedReport {
    /// The status report, unless this is a scripted reply.
    pub fn report(&self) -> Option<&Report> {
        match &self.delivery {
            Delivery::Report(r) => Some(r),
            Delivery::Inbound(_) => None,
        }
    }
}

impl SandboxPlan {
    /// Address the plan's scripted replies: they come from `recipient` (the number the
    /// message went to) to `sender` (who sent it).
    pub fn address_replies(&mut self, recipient: &str, sender: &str) {
        for r in &mut self.reports {
            if let Delivery::Inbound(reply) = &mut r.delivery {
                reply.from = recipient.to_owned();
                reply.to = sender.to_owned();
            }
        }
    }
}

/// One scripted report, `after_ms` after the send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScriptedEvent {
    pub after_ms: u64,
    /// The status reported; `None` for a scripted reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusKind>,
    /// The recipient answers with this text (instead of a status report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detailed_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// SMS only: the event concerns this part (1-based) alone; unset, every part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
}

/// A rule's behaviour, stored as the scenario's `rule` JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// `None`: the channel's default reports; `Some(vec![])`: never report.
    #[serde(default)]
    pub events: Option<Vec<ScriptedEvent>>,
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub answered_by: Option<AnsweredBy>,
    #[serde(default)]
    pub duration_seconds: Option<u32>,
    /// SMS only: the SMSC refuses the `submit_sm` with this command status (e.g. 11,
    /// `ESME_RINVDSTADR`) instead of accepting it; no receipt follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_with: Option<u32>,
    /// SMS only: the SMSC answers the first N `submit_sm` of each part with
    /// `ESME_RTHROTTLED` before accepting it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<u32>,
}

impl Rule {
    /// The rule a stored scenario carries (the default behaviour when it no longer reads).
    pub fn from_scenario(s: &Scenario) -> Rule {
        serde_json::from_value(s.rule.clone()).unwrap_or_default()
    }
}

/// The reports a provider owes when no rule sets `events`.
fn default_events(channel: Channel) -> Vec<ScriptedEvent> {
    let ev = |after_ms, status| ScriptedEvent {
        after_ms,
        status: Some(status),
        inbound: None,
        detailed_status: None,
        description: None,
        part: None,
    };
    match channel {
        Channel::Sms => vec![ev(20, StatusKind::Delivered)],
        Channel::Viber => vec![ev(20, StatusKind::Delivered), ev(40, StatusKind::Seen)],
        Channel::Voice => vec![ev(0, StatusKind::Ringing), ev(30, StatusKind::Completed)],
    }
}

const DEFAULT_CALL_SECONDS: u32 = 5;

/// What a sandbox send is, as far as planning its reports goes.
#[derive(Debug, Clone, PartialEq)]
pub enum SendKind {
    /// A step handed to a sandbox provider (Viber, Voice; SMS in tests); a machine
    /// answering a call is hung up on when its machine detection says `Hangup`.
    Step {
        channel: Channel,
        hang_up_on_machine: bool,
    },
    /// A message the SMSC simulator received: it knows no step, only `submit_sm`s.
    /// `wants_receipt` is false when the ESME asked for none (`registered_delivery` 0).
    SmscMessage { wants_receipt: bool },
}

impl SendKind {
    /// A step's send.
    pub fn of_step(step: &StepKind) -> SendKind {
        let (channel, hang_up_on_machine) = match step {
            StepKind::Sms(_) => (Channel::Sms, false),
            StepKind::Viber(_) => (Channel::Viber, false),
            StepKind::Voice(v) => (
                Channel::Voice,
                v.machine_detection == Some(MachineDetection::Hangup),
            ),
        };
        SendKind::Step {
            channel,
            hang_up_on_machine,
        }
    }

    fn channel(&self) -> Channel {
        match self {
            SendKind::Step { channel, .. } => *channel,
            SendKind::SmscMessage { .. } => Channel::Sms,
        }
    }
}

/// The scenario a send follows: the newest rule of its channel for its recipient (or for
/// `*`) that has sends left. `used` says how many sends not yet counted in a rule's
/// `times_left` already used it (a store counts them while its transaction is open).
pub fn choose_rule<'a>(
    rules: &'a [Scenario],
    channel: Channel,
    to: &str,
    used: impl Fn(i64) -> u32,
) -> Option<&'a Scenario> {
    rules.iter().rev().find(|s| {
        s.channel == channel
            && (s.to == to || s.to == "*")
            && s.times_left.is_none_or(|left| left > used(s.id))
    })
}

/// Decide the reports of one send: every message (SMS part) gets the same script, except
/// events scoped to one `part`. `provider_ids` are the send's ids, one per message.
pub fn plan(
    kind: &SendKind,
    scenario: Option<&Scenario>,
    provider_ids: Vec<String>,
    now: Timestamp,
) -> SandboxPlan {
    let hangup_on_machine = matches!(
        kind,
        SendKind::Step {
            hang_up_on_machine: true,
            ..
        }
    );
    let rule = scenario.map(Rule::from_scenario).unwrap_or_default();
    let mut plan = plan_rule(kind.channel(), &rule, hangup_on_machine, provider_ids, now);
    if matches!(
        kind,
        SendKind::SmscMessage {
            wants_receipt: false
        }
    ) {
        plan.reports.clear();
    }
    plan
}

fn plan_rule(
    channel: Channel,
    rule: &Rule,
    hangup_on_machine: bool,
    provider_ids: Vec<String>,
    now: Timestamp,
) -> SandboxPlan {
    let events = rule
        .events
        .clone()
        .unwrap_or_else(|| default_events(channel));
    let mut reports = Vec::new();
    if rule.reject_with.is_some() {
        // The SMSC refuses the message: nothing will be reported about it.
        return SandboxPlan {
            provider_ids,
            reports,
        };
    }
    for (index, pmid) in provider_ids.iter().enumerate() {
        let part = u32::try_from(index + 1).unwrap_or(u32::MAX);
        for e in events.iter().filter(|e| e.part.is_none_or(|p| p == part)) {
            let at = now.plus_millis(i64::try_from(e.after_ms).unwrap_or(i64::MAX));
            if let Some(text) = &e.inbound {
                // A reply answers the message once, not once per part.
                if part == 1 {
                    reports.push(PlannedReport {
                        provider_message_id: pmid.clone(),
                        due_at: at,
                        delivery: Delivery::Inbound(ScriptedReply {
                            inbound: text.clone(),
                            at,
                            from: String::new(),
                            to: String::new(),
                        }),
                    });
                }
                continue;
            }
            let Some(status) = e.status else { continue };
            let mut report = Report::status(status, at);
            report.detailed_status.clone_from(&e.detailed_status);
            report.description.clone_from(&e.description);
            report.operator.clone_from(&rule.operator);
            if channel == Channel::Voice && status.is_final() {
                voice_outcome(&mut report, rule, hangup_on_machine);
            }
            reports.push(PlannedReport {
                provider_message_id: pmid.clone(),
                due_at: at,
                delivery: Delivery::Report(report),
            });
        }
    }
    SandboxPlan {
        provider_ids,
        reports,
    }
}

/// Who answered and for how long; a machine answering a call whose detection strategy is
/// `Hangup` turns a completed call into `NoAnswer` / "Answered by machine".
fn voice_outcome(report: &mut Report, rule: &Rule, hangup_on_machine: bool) {
    let answered = matches!(report.status, StatusKind::Completed);
    if !answered {
        report.duration_s = Some(0);
        return;
    }
    let by = rule.answered_by.unwrap_or(AnsweredBy::Human);
    report.answered_by = Some(by);
    report.duration_s = Some(rule.duration_seconds.unwrap_or(DEFAULT_CALL_SECONDS));
    if by == AnsweredBy::Machine && hangup_on_machine {
        let reason = crate::reasons::answered_by_machine();
        report.status = reason.status;
        report.detailed_status = Some(reason.detailed_status);
        report.description = Some(reason.description);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(id: i64, channel: Channel, to: &str, times_left: Option<u32>) -> Scenario {
        Scenario {
            id,
            channel,
            to: to.to_owned(),
            rule: serde_json::json!({}),
            times_left,
            created_at: Timestamp::from_millis(0),
        }
    }

    #[test]
    fn the_newest_matching_rule_with_sends_left_wins() {
        let rules = [
            scenario(1, Channel::Sms, "*", None),
            scenario(2, Channel::Sms, "+306912345678", Some(1)),
            scenario(3, Channel::Viber, "+306912345678", None),
            scenario(4, Channel::Sms, "+306900000000", None),
        ];
        let pick = |to: &str, used: u32| {
            choose_rule(
                &rules,
                Channel::Sms,
                to,
                |id| if id == 2 { used } else { 0 },
            )
            .map(|s| s.id)
        };
        assert_eq!(
            pick("+306912345678", 0),
            Some(2),
            "its own rule, newer than *"
        );
        assert_eq!(pick("+306912345678", 1), Some(1), "used up: the wildcard");
        assert_eq!(pick("+306999999999", 0), Some(1));
        assert_eq!(
            choose_rule(&rules, Channel::Voice, "+306912345678", |_| 0),
            None,
            "no rule of the channel"
        );
        let exhausted = [scenario(9, Channel::Sms, "*", Some(0))];
        assert_eq!(choose_rule(&exhausted, Channel::Sms, "+30691", |_| 0), None);
    }

    #[test]
    fn default_plans_per_channel() {
        let now = Timestamp::from_millis(1_000);
        let sms = plan(
            &SendKind::SmscMessage {
                wants_receipt: true,
            },
            None,
            vec!["a".into(), "b".into()],
            now,
        );
        assert_eq!(sms.reports.len(), 2, "one receipt per part");
        assert!(
            sms.reports
                .iter()
                .all(|r| r.report().unwrap().status == StatusKind::Delivered
                    && r.due_at == Timestamp::from_millis(1_020))
        );
        let silent = plan(
            &SendKind::SmscMessage {
                wants_receipt: false,
            },
            None,
            vec!["a".into()],
            now,
        );
        assert!(
            silent.reports.is_empty(),
            "registered_delivery 0: no receipt"
        );
    }

    #[test]
    fn part_scoped_events_and_rejections() {
        let now = Timestamp::from_millis(0);
        let mut s = scenario(1, Channel::Sms, "*", None);
        s.rule = serde_json::json!({"events": [
            {"afterMs": 5, "status": "Delivered", "part": 1},
            {"afterMs": 7, "status": "Undelivered", "part": 2}]});
        let kind = SendKind::SmscMessage {
            wants_receipt: true,
        };
        let p = plan(&kind, Some(&s), vec!["p1".into(), "p2".into()], now);
        let got: Vec<_> = p
            .reports
            .iter()
            .map(|r| (r.provider_message_id.as_str(), r.report().unwrap().status))
            .collect();
        assert_eq!(
            got,
            [
                ("p1", StatusKind::Delivered),
                ("p2", StatusKind::Undelivered)
            ]
        );
        s.rule = serde_json::json!({"rejectWith": 11});
        assert!(
            plan(&kind, Some(&s), vec!["p1".into()], now)
                .reports
                .is_empty()
        );
    }

    #[test]
    fn a_scripted_reply_is_planned_once_per_message_and_addressed() {
        let rule = Rule {
            events: Some(vec![
                ScriptedEvent {
                    after_ms: 5,
                    status: Some(StatusKind::Delivered),
                    inbound: None,
                    detailed_status: None,
                    description: None,
                    part: None,
                },
                ScriptedEvent {
                    after_ms: 50,
                    status: None,
                    inbound: Some("STOP".into()),
                    detailed_status: None,
                    description: None,
                    part: None,
                },
            ]),
            ..Rule::default()
        };
        let mut plan = plan_rule(
            Channel::Sms,
            &rule,
            false,
            vec!["a".into(), "b".into()],
            Timestamp::from_millis(1_000),
        );
        plan.address_replies("+306912345678", "Cascade");
        let replies: Vec<&PlannedReport> = plan
            .reports
            .iter()
            .filter(|r| r.report().is_none())
            .collect();
        assert_eq!(replies.len(), 1, "one reply for the two parts");
        assert_eq!(replies[0].due_at, Timestamp::from_millis(1_050));
        assert_eq!(
            replies[0].delivery,
            Delivery::Inbound(ScriptedReply {
                inbound: "STOP".into(),
                at: Timestamp::from_millis(1_050),
                from: "+306912345678".into(),
                to: "Cascade".into(),
            })
        );
        assert_eq!(
            plan.reports.len(),
            3,
            "a delivery report per part and the reply"
        );
        let json = serde_json::to_string(&replies[0].delivery).unwrap();
        assert_eq!(
            serde_json::from_str::<Delivery>(&json).unwrap(),
            replies[0].delivery
        );
        let report = plan.reports[0].delivery.clone();
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(
            serde_json::from_str::<Delivery>(&json).unwrap(),
            report,
            "a stored report reads back as one"
        );
    }
}
