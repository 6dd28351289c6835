//! Call media for Voice over SIP, sans IO (issue #10's foundation).
//!
//! - [`g711`]: PCMU (μ-law) and PCMA (A-law), the two codecs Cascade offers;
//! - [`rtp`]: the RTP fixed header (RFC 3550 §5.1), written and read;
//! - [`playback`]: what a call plays (verbs, repeats, gaps) and the TTS command and voices;
//! - [`remote`]: whose RTP is the callee's and where Cascade's goes (symmetric RTP,
//!   learned only for a private answer, after a probation);
//! - [`sdp`]: the offer (PCMU, PCMA, telephone events) and what an answer means;
//! - [`stream`]: the RTP sender on absolute 20 ms deadlines and the receiver's 20 ms frames;
//! - [`wav`]: the WAV a TTS command writes (16-bit PCM, streamed headers accepted);
//! - [`resample`]: a windowed-sinc converter to 8 kHz;
//! - [`amd`]: answering-machine detection, re-implemented from the published description
//!   of Asterisk's `AMD()` (its nine parameters, its verdicts and causes), fed one 20 ms
//!   frame at a time; a missing frame counts as silence, so a caller that ticks on wall
//!   time reaches a verdict even when the callee sends nothing.
//!
//! Nothing here touches a socket or a clock; the call driver that will sit on top owns
//! both.

#![forbid(unsafe_code)]
#![deny(missing_debug_implementations)]

pub mod amd;
pub mod g711;
pub mod playback;
pub mod remote;
pub mod resample;
pub mod rtp;
pub mod sdp;
pub mod stream;
pub mod wav;

/// Samples per second of G.711 audio.
pub const SAMPLE_RATE: u32 = 8_000;
/// Milliseconds of audio in one RTP frame.
pub const FRAME_MS: u32 = 20;
/// Samples (and, for G.711, bytes) in one 20 ms frame.
pub const FRAME_SAMPLES: usize = 160;
