//! One call's logic, sans IO (spec: voice-sip §2): what Cascade does when the callee
//! rings, answers, speaks, hangs up, or a timer runs out. The SIP and RTP driver feeds
//! [`Event`]s and carries out the [`Action`]s; time comes in with the events.
//!
//! With machine detection the call listens first (sending silence): a human or an
//! unsure verdict starts the dial plan; a machine on a `Hangup` step is hung up on; a
//! machine on a `Continue` step is heard out until its greeting ends (silence after the
//! last word), then the dial plan plays. Without machine detection the plan plays at
//! once and the detector still listens, to say who answered.

use std::time::Instant;

use cascade_core::flow::{AnsweredBy, MachineDetection};
use cascade_core::sip_outcome::CallEnd;
use cascade_media::amd::{AmdSettings, Answer, Detector};

/// What happened on the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// 180 or 183.
    Ringing,
    /// 200 OK to the INVITE (ACK sent by the driver).
    Answered,
    /// A final non-2xx answer to the INVITE.
    Refused { code: u16, reason: String },
    /// The ring timeout passed without an answer.
    RingTimeout,
    /// The call could not be placed or got no answer at all (no response, transport).
    Unreachable(CallEnd),
    /// 20 ms of received audio (decoded), or `None` when none arrived.
    Frame(Option<Vec<i16>>),
    /// The dial plan finished playing.
    PlaybackDone,
    /// The callee hung up (BYE).
    RemoteBye,
    /// The longest call allowed was reached.
    MaxDuration,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Report the call ringing.
    ReportRinging,
    /// Report the call answered (in progress).
    ReportAnswered,
    /// Send CANCEL.
    Cancel,
    /// Start playing the dial plan.
    Play,
    /// Send BYE.
    Hangup,
    /// Record the machine detector's verdict (its cause in the timeline).
    NoteDetection {
        cause: String,
        answered_by: AnsweredBy,
    },
    /// The call is over: report its end.
    Finish {
        end: CallEnd,
        answered_by: Option<AnsweredBy>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Dialing,
    Listening,
    /// A machine on a `Continue` step: waiting for its greeting to end.
    HearingOut {
        silence_ms: u32,
    },
    Playing,
    Ended,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Call {
    strategy: Option<MachineDetection>,
    detector: Detector,
    settings: AmdSettings,
    phase: Phase,
    answered_at: Option<Instant>,
    answered_by: Option<AnsweredBy>,
}

impl Call {
    pub fn new(strategy: Option<MachineDetection>, settings: AmdSettings) -> Self {
        Call {
            strategy,
            detector: Detector::new(settings),
            settings,
            phase: Phase::Dialing,
            answered_at: None,
            answered_by: None,
        }
    }

    /// Whether the call has ended.
    pub fn is_over(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// Handle `event`, which happened at `now`.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        if self.phase == Phase::Ended {
            return Vec::new();
        }
        match (self.phase, event) {
            (Phase::Dialing, Event::Ringing) => vec![Action::ReportRinging],
            (Phase::Dialing, Event::Answered) => {
                self.answered_at = Some(now);
                if self.strategy.is_some() {
                    self.phase = Phase::Listening;
                    vec![Action::ReportAnswered]
                } else {
                    self.phase = Phase::Playing;
                    vec![Action::ReportAnswered, Action::Play]
                }
            }
            (Phase::Dialing, Event::Refused { code, reason }) => {
                self.end(CallEnd::Response { code, reason })
            }
            (Phase::Dialing, Event::Unreachable(end)) => self.end(end),
            (Phase::Dialing, Event::RingTimeout) => {
                let mut out = vec![Action::Cancel];
                out.extend(self.end(CallEnd::RingTimeout));
                out
            }
            (Phase::Dialing, _) => Vec::new(),
            (_, Event::RemoteBye) => {
                // A hang-up before the detector decided: nobody can tell who it was.
                self.answered_by.get_or_insert(AnsweredBy::Unknown);
                let duration_s = self.duration(now);
                self.end(CallEnd::Completed { duration_s })
            }
            (_, Event::MaxDuration) => {
                self.answered_by.get_or_insert(AnsweredBy::Unknown);
                let duration_s = self.duration(now);
                let mut out = vec![Action::Hangup];
                out.extend(self.end(CallEnd::Completed { duration_s }));
                out
            }
            (phase, Event::Frame(samples)) => self.frame(phase, samples.as_deref(), now),
            (Phase::Playing, Event::PlaybackDone) => {
                self.answered_by.get_or_insert(AnsweredBy::Unknown);
                let duration_s = self.duration(now);
                let mut out = vec![Action::Hangup];
                out.extend(self.end(CallEnd::Completed { duration_s }));
                out
            }
            _ => Vec::new(),
        }
    }

    fn frame(&mut self, phase: Phase, samples: Option<&[i16]>, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if let Phase::HearingOut { silence_ms } = phase {
            let silent = samples.is_none_or(|s| self.detector.is_silent(s));
            let silence_ms = if silent {
                silence_ms + cascade_media::FRAME_MS
            } else {
                0
            };
            if silence_ms >= self.settings.after_greeting_silence {
                self.phase = Phase::Playing;
                out.push(Action::Play);
            } else {
                self.phase = Phase::HearingOut { silence_ms };
            }
            return out;
        }
        let Some(verdict) = self.detector.frame(samples).cloned() else {
            return out;
        };
        self.answered_by = Some(match verdict.answered_by() {
            "human" => AnsweredBy::Human,
            "machine" => AnsweredBy::Machine,
            _ => AnsweredBy::Unknown,
        });
        out.push(Action::NoteDetection {
            cause: verdict.cause.clone(),
            answered_by: self.answered_by.unwrap_or(AnsweredBy::Unknown),
        });
        if phase != Phase::Listening {
            // Passive detection while playing: it only says who answered.
            return out;
        }
        let machine =
            verdict.answer == Answer::Machine && self.answered_by == Some(AnsweredBy::Machine);
        match (machine, self.strategy) {
            (true, Some(MachineDetection::Hangup)) => {
                out.push(Action::Hangup);
                let duration_s = self.duration(now);
                out.extend(self.end(CallEnd::MachineHungUp { duration_s }));
            }
            (true, _) => self.phase = Phase::HearingOut { silence_ms: 0 },
            (false, _) => {
                self.phase = Phase::Playing;
                out.push(Action::Play);
            }
        }
        out
    }

    fn duration(&self, now: Instant) -> u32 {
        self.answered_at.map_or(0, |at| {
            let ms = now.saturating_duration_since(at).as_millis();
            u32::try_from((ms + 500) / 1000).unwrap_or(u32::MAX)
        })
    }

    fn end(&mut self, end: CallEnd) -> Vec<Action> {
        self.phase = Phase::Ended;
        let answered_by = self.answered_at.and(self.answered_by);
        vec![Action::Finish { end, answered_by }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn voiced() -> Option<Vec<i16>> {
        Some(
            (0..160)
                .map(|i| if (i / 10) % 2 == 0 { 3000 } else { -3000 })
                .collect(),
        )
    }

    /// Feed `ms` of voice or silence from `t`, returning every action and the new time.
    fn audio(call: &mut Call, t: &mut Instant, ms: u32, loud: bool, out: &mut Vec<Action>) {
        for _ in 0..ms / 20 {
            *t += Duration::from_millis(20);
            let frame = if loud { voiced() } else { None };
            out.extend(call.handle(Event::Frame(frame), *t));
        }
    }

    fn finish(actions: &[Action]) -> Option<(CallEnd, Option<AnsweredBy>)> {
        actions.iter().find_map(|a| match a {
            Action::Finish { end, answered_by } => Some((end.clone(), *answered_by)),
            _ => None,
        })
    }

    #[test]
    fn busy_and_ring_timeout_end_before_an_answer() {
        let t = Instant::now();
        let mut call = Call::new(None, AmdSettings::default());
        assert_eq!(call.handle(Event::Ringing, t), vec![Action::ReportRinging]);
        let out = call.handle(
            Event::Refused {
                code: 486,
                reason: "Busy Here".into(),
            },
            t,
        );
        assert_eq!(
            finish(&out),
            Some((
                CallEnd::Response {
                    code: 486,
                    reason: "Busy Here".into()
                },
                None
            ))
        );
        let mut call = Call::new(None, AmdSettings::default());
        let out = call.handle(Event::RingTimeout, t);
        assert_eq!(out[0], Action::Cancel);
        assert_eq!(finish(&out), Some((CallEnd::RingTimeout, None)));
        assert!(call.is_over() && call.handle(Event::Answered, t).is_empty());
    }

    #[test]
    fn without_detection_the_plan_plays_at_once_and_the_detector_still_listens() {
        let mut t = Instant::now();
        let mut call = Call::new(None, AmdSettings::default());
        assert_eq!(
            call.handle(Event::Answered, t),
            vec![Action::ReportAnswered, Action::Play]
        );
        let mut out = Vec::new();
        audio(&mut call, &mut t, 500, true, &mut out);
        audio(&mut call, &mut t, 1000, false, &mut out);
        assert!(out.contains(&Action::NoteDetection {
            cause: "HUMAN-800-800".into(),
            answered_by: AnsweredBy::Human,
        }));
        t += Duration::from_millis(1700);
        let out = call.handle(Event::PlaybackDone, t);
        assert_eq!(out[0], Action::Hangup);
        assert_eq!(
            finish(&out),
            Some((
                CallEnd::Completed { duration_s: 3 },
                Some(AnsweredBy::Human)
            ))
        );
    }

    #[test]
    fn a_human_hears_the_plan_after_the_verdict() {
        let mut t = Instant::now();
        let mut call = Call::new(Some(MachineDetection::Hangup), AmdSettings::default());
        assert_eq!(
            call.handle(Event::Answered, t),
            vec![Action::ReportAnswered]
        );
        let mut out = Vec::new();
        audio(&mut call, &mut t, 500, true, &mut out);
        assert!(!out.contains(&Action::Play), "still listening");
        audio(&mut call, &mut t, 800, false, &mut out);
        assert!(out.contains(&Action::Play));
    }

    #[test]
    fn a_machine_on_a_hangup_step_is_hung_up_on() {
        let mut t = Instant::now();
        let mut call = Call::new(Some(MachineDetection::Hangup), AmdSettings::default());
        call.handle(Event::Answered, t);
        let mut out = Vec::new();
        audio(&mut call, &mut t, 2000, true, &mut out);
        assert!(out.contains(&Action::Hangup));
        assert!(!out.contains(&Action::Play));
        assert_eq!(
            finish(&out),
            Some((
                CallEnd::MachineHungUp { duration_s: 2 },
                Some(AnsweredBy::Machine)
            ))
        );
    }

    #[test]
    fn a_machine_on_a_continue_step_is_heard_out_then_hears_the_plan() {
        let mut t = Instant::now();
        let mut call = Call::new(Some(MachineDetection::Continue), AmdSettings::default());
        call.handle(Event::Answered, t);
        let mut out = Vec::new();
        audio(&mut call, &mut t, 3000, true, &mut out); // a long greeting: machine at 1.5 s
        assert!(out.iter().any(
            |a| matches!(a, Action::NoteDetection { cause, answered_by: AnsweredBy::Machine } if cause.starts_with("LONGGREETING"))
        ));
        assert!(!out.contains(&Action::Play), "the greeting is still going");
        audio(&mut call, &mut t, 780, false, &mut out);
        assert!(!out.contains(&Action::Play), "not yet 800 ms of silence");
        audio(&mut call, &mut t, 20, false, &mut out);
        assert!(out.contains(&Action::Play));
        let out = call.handle(Event::RemoteBye, t + Duration::from_secs(10));
        assert_eq!(
            finish(&out),
            Some((
                CallEnd::Completed { duration_s: 14 },
                Some(AnsweredBy::Machine)
            ))
        );
    }

    #[test]
    fn a_hang_up_during_analysis_is_unknown_and_silence_is_unknown() {
        let t = Instant::now();
        let mut call = Call::new(Some(MachineDetection::Hangup), AmdSettings::default());
        call.handle(Event::Answered, t);
        let out = call.handle(Event::RemoteBye, t + Duration::from_millis(400));
        assert_eq!(
            finish(&out),
            Some((
                CallEnd::Completed { duration_s: 0 },
                Some(AnsweredBy::Unknown)
            ))
        );

        let mut t = Instant::now();
        let mut call = Call::new(Some(MachineDetection::Hangup), AmdSettings::default());
        call.handle(Event::Answered, t);
        let mut out = Vec::new();
        audio(&mut call, &mut t, 2500, false, &mut out);
        assert!(
            out.contains(&Action::Play),
            "initial silence is unknown: the plan plays"
        );
        assert!(!out.contains(&Action::Hangup));
    }
}
