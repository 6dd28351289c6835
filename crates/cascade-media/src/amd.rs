//! Answering-machine detection, written from the published description of Asterisk's
//! `AMD()` application (its parameters, verdicts and causes; not its code).
//!
//! The detector is fed one 20 ms frame at a time, voiced or silent by its mean absolute
//! amplitude; `None` stands for a frame that did not arrive (it counts as silence, so a
//! caller ticking on wall time reaches a verdict even when the callee sends nothing). It
//! answers with a [`Verdict`] once it has one.
//!
//! | cause | verdict | when |
//! | --- | --- | --- |
//! | `INITIALSILENCE-<silence>-<initial_silence>` | machine (Cascade: `unknown`) | no word yet and that much silence |
//! | `HUMAN-<silence>-<after_greeting_silence>` | human | a greeting, then that much silence |
//! | `LONGGREETING-<voice>-<greeting>` | machine | that much voice since the greeting started |
//! | `MAXWORDLENGTH-<n>` | machine | one word that long |
//! | `MAXWORDS-<n>-<max>` | machine | that many words |
//! | `TOOLONG-<t>` | not sure | the analysis time is up |

use crate::FRAME_MS;

/// The nine parameters, milliseconds except the word count and the threshold; the
/// defaults are Asterisk's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmdSettings {
    pub initial_silence: u32,
    pub greeting: u32,
    pub after_greeting_silence: u32,
    pub total_analysis_time: u32,
    pub minimum_word_length: u32,
    pub between_words_silence: u32,
    pub maximum_number_of_words: u32,
    /// Mean absolute amplitude (0–32767) below which a frame is silent.
    pub silence_threshold: u32,
    pub maximum_word_length: u32,
}

impl Default for AmdSettings {
    fn default() -> Self {
        AmdSettings {
            initial_silence: 2500,
            greeting: 1500,
            after_greeting_silence: 800,
            total_analysis_time: 5000,
            minimum_word_length: 100,
            between_words_silence: 50,
            maximum_number_of_words: 3,
            silence_threshold: 256,
            maximum_word_length: 5000,
        }
    }
}

/// What answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Human,
    Machine,
    NotSure,
}

/// The detector's decision and its Asterisk-style cause (for the timeline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub answer: Answer,
    pub cause: String,
    /// Milliseconds of audio analysed.
    pub after_ms: u32,
}

impl Verdict {
    /// The tracking's `answeredBy`: a machine only when a greeting was heard; initial
    /// silence, like not sure, is `unknown` (spec: voice-sip §2).
    pub fn answered_by(&self) -> &'static str {
        match self.answer {
            Answer::Human => "human",
            Answer::Machine if self.cause.starts_with("INITIALSILENCE") => "unknown",
            Answer::Machine => "machine",
            Answer::NotSure => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InWord,
    InSilence,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Detector {
    settings: AmdSettings,
    state: State,
    /// No word heard yet.
    initial: bool,
    /// A word was heard: the greeting is under way.
    greeting: bool,
    total: u32,
    silence: u32,
    voice: u32,
    consecutive_voice: u32,
    words: u32,
    verdict: Option<Verdict>,
}

impl Detector {
    pub fn new(settings: AmdSettings) -> Self {
        Detector {
            settings,
            state: State::InSilence,
            initial: true,
            greeting: false,
            total: 0,
            silence: 0,
            voice: 0,
            consecutive_voice: 0,
            words: 0,
            verdict: None,
        }
    }

    /// The verdict, once there is one.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.verdict.as_ref()
    }

    /// Whether `samples` (8 kHz linear) is below the silence threshold.
    pub fn is_silent(&self, samples: &[i16]) -> bool {
        if samples.is_empty() {
            return true;
        }
        let sum: u64 = samples.iter().map(|s| u64::from(s.unsigned_abs())).sum();
        let mean = sum / samples.len() as u64;
        mean < u64::from(self.settings.silence_threshold)
    }

    /// Feed the next 20 ms (`None`: no audio arrived). Returns the verdict when this frame
    /// decided it; later frames change nothing.
    pub fn frame(&mut self, samples: Option<&[i16]>) -> Option<&Verdict> {
        if self.verdict.is_some() {
            return None;
        }
        let silent = samples.is_none_or(|s| self.is_silent(s));
        let decided = self.step(silent);
        if let Some((answer, cause)) = decided {
            self.verdict = Some(Verdict {
                answer,
                cause,
                after_ms: self.total,
            });
            return self.verdict.as_ref();
        }
        None
    }

    fn step(&mut self, silent: bool) -> Option<(Answer, String)> {
        let s = self.settings;
        self.total += FRAME_MS;
        if self.total >= s.total_analysis_time {
            return Some((Answer::NotSure, format!("TOOLONG-{}", self.total)));
        }
        if silent {
            self.silence += FRAME_MS;
            if self.silence >= s.between_words_silence {
                self.state = State::InSilence;
                self.consecutive_voice = 0;
            }
            if self.initial && self.silence >= s.initial_silence {
                return Some((
                    Answer::Machine,
                    format!("INITIALSILENCE-{}-{}", self.silence, s.initial_silence),
                ));
            }
            if self.greeting && self.silence >= s.after_greeting_silence {
                return Some((
                    Answer::Human,
                    format!("HUMAN-{}-{}", self.silence, s.after_greeting_silence),
                ));
            }
            return None;
        }
        self.consecutive_voice += FRAME_MS;
        self.voice += FRAME_MS;
        if self.consecutive_voice >= s.minimum_word_length && self.state == State::InSilence {
            self.words += 1;
            self.state = State::InWord;
            if self.initial {
                self.initial = false;
                self.greeting = true;
            }
        }
        if self.consecutive_voice >= s.maximum_word_length {
            return Some((
                Answer::Machine,
                format!("MAXWORDLENGTH-{}", self.consecutive_voice),
            ));
        }
        if self.words >= s.maximum_number_of_words {
            return Some((
                Answer::Machine,
                format!("MAXWORDS-{}-{}", self.words, s.maximum_number_of_words),
            ));
        }
        if self.greeting && self.voice >= s.greeting {
            return Some((
                Answer::Machine,
                format!("LONGGREETING-{}-{}", self.voice, s.greeting),
            ));
        }
        if self.voice >= s.minimum_word_length {
            self.silence = 0;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FRAME_SAMPLES;
    use proptest::prelude::*;

    /// A loud 20 ms frame (a 400 Hz square wave at ±3000).
    fn voiced() -> Vec<i16> {
        (0..FRAME_SAMPLES)
            .map(|i| if (i / 10) % 2 == 0 { 3000 } else { -3000 })
            .collect()
    }

    /// Quiet line noise, under the default threshold.
    fn quiet() -> Vec<i16> {
        (0..FRAME_SAMPLES)
            .map(|i| if i % 2 == 0 { 40 } else { -40 })
            .collect()
    }

    /// Run a script of (milliseconds, voiced) segments, then silence, to a verdict.
    fn run(settings: AmdSettings, script: &[(u32, bool)]) -> Verdict {
        let mut d = Detector::new(settings);
        let (v, q) = (voiced(), quiet());
        for &(ms, loud) in script {
            for _ in 0..ms / FRAME_MS {
                let frame = if loud { &v } else { &q };
                if let Some(verdict) = d.frame(Some(frame)) {
                    return verdict.clone();
                }
            }
        }
        loop {
            if let Some(verdict) = d.frame(None) {
                return verdict.clone();
            }
        }
    }

    #[test]
    fn a_short_hello_then_silence_is_a_human() {
        let v = run(AmdSettings::default(), &[(200, false), (500, true)]);
        assert_eq!(v.answer, Answer::Human);
        assert_eq!(v.cause, "HUMAN-800-800");
        assert_eq!(v.after_ms, 200 + 500 + 800);
        assert_eq!(v.answered_by(), "human");
    }

    #[test]
    fn three_words_are_a_machine() {
        let words = [
            (300, true),
            (100, false),
            (300, true),
            (100, false),
            (300, true),
        ];
        let v = run(AmdSettings::default(), &words);
        assert_eq!(v.answer, Answer::Machine);
        assert_eq!(v.cause, "MAXWORDS-3-3");
        assert_eq!(v.answered_by(), "machine");
    }

    #[test]
    fn a_long_greeting_is_a_machine() {
        let v = run(AmdSettings::default(), &[(3000, true)]);
        assert_eq!(v.cause, "LONGGREETING-1500-1500");
        assert_eq!(v.after_ms, 1500);
    }

    #[test]
    fn one_very_long_word_is_a_machine() {
        let settings = AmdSettings {
            greeting: 10_000,
            maximum_word_length: 1000,
            ..AmdSettings::default()
        };
        let v = run(settings, &[(3000, true)]);
        assert_eq!(v.cause, "MAXWORDLENGTH-1000");
    }

    #[test]
    fn silence_from_the_start_is_initial_silence_reported_as_unknown() {
        let v = run(AmdSettings::default(), &[]);
        assert_eq!(v.answer, Answer::Machine);
        assert_eq!(v.cause, "INITIALSILENCE-2500-2500");
        assert_eq!(v.answered_by(), "unknown", "Cascade's mapping, as Twilio's");
    }

    #[test]
    fn running_out_of_analysis_time_is_not_sure() {
        let settings = AmdSettings {
            total_analysis_time: 1000,
            initial_silence: 5000,
            ..AmdSettings::default()
        };
        let v = run(settings, &[]);
        assert_eq!(v.answer, Answer::NotSure);
        assert_eq!(v.cause, "TOOLONG-1000");
        assert_eq!(v.answered_by(), "unknown");
    }

    #[test]
    fn a_noise_burst_shorter_than_a_word_is_no_word() {
        // 60 ms of sound in the initial silence: under minimum_word_length, so still
        // initial silence when it runs out.
        let v = run(AmdSettings::default(), &[(1000, false), (60, true)]);
        assert!(v.cause.starts_with("INITIALSILENCE"), "{v:?}");
    }

    #[test]
    fn the_verdict_is_given_once() {
        let mut d = Detector::new(AmdSettings::default());
        let mut verdicts = 0;
        for _ in 0..400 {
            if d.frame(None).is_some() {
                verdicts += 1;
            }
        }
        assert_eq!(verdicts, 1);
        assert!(d.verdict().is_some());
    }

    proptest! {
        /// Whatever the audio, a verdict comes by the total analysis time.
        #[test]
        fn a_verdict_always_comes_in_time(frames in proptest::collection::vec(any::<Option<bool>>(), 250)) {
            let mut d = Detector::new(AmdSettings::default());
            let (v, q) = (voiced(), quiet());
            let mut decided_at = None;
            for (i, f) in frames.iter().enumerate() {
                let frame = f.map(|loud| if loud { v.as_slice() } else { q.as_slice() });
                if d.frame(frame).is_some() {
                    decided_at = Some((i as u32 + 1) * FRAME_MS);
                    break;
                }
            }
            let at = decided_at.expect("a verdict within 250 frames (5 s)");
            prop_assert!(at <= AmdSettings::default().total_analysis_time);
        }
    }
}
