//! Voice over SIP (issue #10), in progress: what is here works on its own and is tested;
//! the `sip` provider kind that places calls is not built yet.
//!
//! - [`tts`]: speech for SAY verbs from the configured TTS command (espeak-ng by
//!   default), run as a subprocess, resampled to 8 kHz and cached.

pub mod tts;
