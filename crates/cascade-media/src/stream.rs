//! The two halves of a call's RTP stream, sans IO.
//!
//! - [`Sender`] numbers outgoing frames (sequence, timestamp) and says when each must
//!   leave: on absolute 20 ms deadlines from the start, so a late wake-up never makes the
//!   stream drift, and a sender that falls far behind skips ahead instead of bursting.
//! - [`Receiver`] turns packets, in any order, into one frame per 20 ms tick for the
//!   machine detector: the frame whose timestamp is due, or `None` when it did not come.

use std::time::{Duration, Instant};

use crate::rtp::Packet;
use crate::{FRAME_MS, FRAME_SAMPLES};

const FRAME: Duration = Duration::from_millis(FRAME_MS as u64);
/// Frames a late sender may send back to back to catch up before it skips ahead.
const MAX_CATCH_UP: u64 = 3;

/// Numbers and times outgoing frames; see the module documentation.
#[derive(Debug, Clone)]
pub struct Sender {
    start: Instant,
    frames: u64,
    /// Packets sent: the sequence number counts these (RFC 3550: one per packet), while
    /// the timestamp counts frames of time, skipped ones included.
    sent: u64,
    ssrc: u32,
    payload_type: u8,
    first_sequence: u16,
    first_timestamp: u32,
}

impl Sender {
    /// A stream starting at `start`; the initial sequence and timestamp should be random
    /// (RFC 3550 §5.1).
    pub fn new(start: Instant, ssrc: u32, payload_type: u8, sequence: u16, timestamp: u32) -> Self {
        Sender {
            start,
            frames: 0,
            sent: 0,
            ssrc,
            payload_type,
            first_sequence: sequence,
            first_timestamp: timestamp,
        }
    }

    /// When the next frame must leave.
    pub fn next_deadline(&self) -> Instant {
        self.start + FRAME * u32::try_from(self.frames).unwrap_or(u32::MAX)
    }

    /// The next frame's packet, to send at [`Sender::next_deadline`]. When `now` is more
    /// than a few frames past it, the frames missed are skipped (their timestamps too, as
    /// the audio they held is gone).
    pub fn next_packet(&mut self, payload: Vec<u8>, now: Instant) -> Packet {
        let due = now.saturating_duration_since(self.start).as_millis() / u128::from(FRAME_MS);
        let due = u64::try_from(due).unwrap_or(u64::MAX);
        if due > self.frames + MAX_CATCH_UP {
            self.frames = due;
        }
        let n = self.frames;
        self.frames += 1;
        let sent = self.sent;
        self.sent += 1;
        Packet {
            marker: sent == 0,
            payload_type: self.payload_type,
            sequence: self.first_sequence.wrapping_add(sent as u16),
            timestamp: self
                .first_timestamp
                .wrapping_add((n as u32).wrapping_mul(FRAME_SAMPLES as u32)),
            ssrc: self.ssrc,
            payload,
        }
    }
}

/// Audio held ahead of the tick at most, in samples (1 s): a peer flooding far-future
/// timestamps cannot grow memory.
const MAX_AHEAD: usize = 8_000;
/// Frames of playout delay: a packet up to this late is still heard.
const PLAYOUT_FRAMES: u32 = 2;
/// Packets in a row from a new source before the receiver follows it (a re-INVITE or an
/// SBC switching streams).
const SWITCH_AFTER: u32 = 3;

/// Frames the received audio into 20 ms ticks; see the module documentation. Works on
/// samples, not packets, so peers sending 10 or 30 ms packets are framed the same way.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// The RTP timestamp of the next sample to hand out, once the first packet set it.
    next: Option<u32>,
    ssrc: Option<u32>,
    /// A different source seen this many packets in a row.
    other: Option<(u32, u32)>,
    /// Samples from `next` on (`None`: not received).
    ahead: std::collections::VecDeque<Option<u8>>,
    /// The codec's silence byte, for the gaps inside a partly received frame.
    silence: u8,
}

impl Default for Receiver {
    /// A μ-law receiver (silence 0xFF).
    fn default() -> Self {
        Receiver::new(0xFF)
    }
}

impl Receiver {
    /// `silence`: the codec's encoded silence (μ-law 0xFF, A-law 0xD5).
    pub fn new(silence: u8) -> Self {
        Receiver {
            next: None,
            ssrc: None,
            other: None,
            ahead: std::collections::VecDeque::new(),
            silence,
        }
    }

    /// Take a packet of audio. Frames already handed out are dropped; a new source is
    /// followed once it has sent a few packets in a row.
    pub fn push(&mut self, packet: Packet) {
        if !packet.is_audio() {
            return;
        }
        match self.ssrc {
            None => self.ssrc = Some(packet.ssrc),
            Some(current) if current != packet.ssrc => {
                let seen = match self.other {
                    Some((ssrc, n)) if ssrc == packet.ssrc => n + 1,
                    _ => 1,
                };
                self.other = Some((packet.ssrc, seen));
                if seen < SWITCH_AFTER {
                    return;
                }
                self.ssrc = Some(packet.ssrc);
                self.next = None;
                self.ahead.clear();
                self.other = None;
            }
            Some(_) => self.other = None,
        }
        let step = FRAME_SAMPLES as u32;
        let next = *self
            .next
            .get_or_insert(packet.timestamp.wrapping_sub(PLAYOUT_FRAMES * step));
        let offset = packet.timestamp.wrapping_sub(next);
        // Behind the tick (in wrapping arithmetic): too late to be heard.
        if offset > u32::MAX / 2 {
            return;
        }
        let offset = offset as usize;
        if offset + packet.payload.len() > MAX_AHEAD {
            return;
        }
        if self.ahead.len() < offset + packet.payload.len() {
            self.ahead.resize(offset + packet.payload.len(), None);
        }
        for (i, byte) in packet.payload.into_iter().enumerate() {
            self.ahead[offset + i] = Some(byte);
        }
    }

    /// The 20 ms tick: the frame due now (gaps inside it filled with silence), or `None`
    /// when none of it came (silence for the detector).
    pub fn tick(&mut self) -> Option<Vec<u8>> {
        let next = self.next?;
        self.next = Some(next.wrapping_add(FRAME_SAMPLES as u32));
        let n = FRAME_SAMPLES.min(self.ahead.len());
        let frame: Vec<Option<u8>> = self.ahead.drain(..n).collect();
        if frame.iter().all(Option::is_none) {
            return None;
        }
        let mut out: Vec<u8> = frame
            .into_iter()
            .map(|b| b.unwrap_or(self.silence))
            .collect();
        out.resize(FRAME_SAMPLES, self.silence);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(ssrc: u32, sequence: u16, timestamp: u32, byte: u8) -> Packet {
        Packet {
            marker: false,
            payload_type: 0,
            sequence,
            timestamp,
            ssrc,
            payload: vec![byte; FRAME_SAMPLES],
        }
    }

    #[test]
    fn frames_leave_on_absolute_deadlines_and_count_up() {
        let start = Instant::now();
        let mut s = Sender::new(start, 7, 0, 65_535, u32::MAX - 100);
        let p0 = s.next_packet(vec![0xFF; 160], start);
        assert!(p0.marker, "the first packet marks the talk spurt");
        assert_eq!(s.next_deadline(), start + Duration::from_millis(20));
        // Woken 7 ms late: the deadline after still counts from the start.
        let p1 = s.next_packet(vec![0xFF; 160], start + Duration::from_millis(27));
        assert_eq!(s.next_deadline(), start + Duration::from_millis(40));
        assert_eq!((p0.sequence, p1.sequence), (65_535, 0), "sequence wraps");
        assert_eq!(
            p1.timestamp,
            (u32::MAX - 100).wrapping_add(160),
            "timestamp wraps"
        );
        assert!(!p1.marker);
    }

    #[test]
    fn a_sender_far_behind_skips_ahead_instead_of_bursting() {
        let start = Instant::now();
        let mut s = Sender::new(start, 7, 8, 0, 0);
        s.next_packet(vec![], start);
        let late = s.next_packet(vec![], start + Duration::from_millis(1000));
        assert_eq!(
            late.sequence, 1,
            "one more packet: no loss for the receiver"
        );
        assert_eq!(late.timestamp, 50 * 160, "frame 50 is due at 1 s");
        assert_eq!(s.next_deadline(), start + Duration::from_millis(1020));
    }

    /// Ticks until the playout delay has passed.
    fn skip_delay(r: &mut Receiver) {
        for _ in 0..PLAYOUT_FRAMES {
            assert_eq!(r.tick(), None, "the playout delay");
        }
    }

    #[test]
    fn packets_out_of_order_come_out_in_order_and_gaps_are_none() {
        let mut r = Receiver::default();
        assert_eq!(r.tick(), None, "nothing yet");
        r.push(packet(1, 10, 1600, 1));
        r.push(packet(1, 12, 1920, 3)); // 11 is lost
        r.push(packet(1, 13, 2080, 4));
        r.push(packet(2, 99, 1760, 9)); // another source, once
        skip_delay(&mut r);
        assert_eq!(r.tick().map(|p| p[0]), Some(1));
        assert_eq!(r.tick(), None, "frame 11 never came");
        assert_eq!(r.tick().map(|p| p[0]), Some(3));
        r.push(packet(1, 11, 1760, 2)); // too late now
        assert_eq!(r.tick().map(|p| p[0]), Some(4));
        assert_eq!(r.tick(), None);
    }

    #[test]
    fn jitter_within_the_delay_keeps_every_frame() {
        let mut r = Receiver::default();
        r.push(packet(1, 1, 0, 1));
        assert_eq!(r.tick(), None);
        // Frame 2 comes 20 ms late (after one tick instead of before it).
        assert_eq!(r.tick(), None);
        r.push(packet(1, 2, 160, 2));
        assert_eq!(r.tick().map(|p| p[0]), Some(1));
        assert_eq!(r.tick().map(|p| p[0]), Some(2), "heard despite the jitter");
    }

    #[test]
    fn ten_and_thirty_ms_packets_are_framed_in_twenty() {
        let mut r = Receiver::default();
        let sized = |seq: u16, ts: u32, n: usize, byte: u8| Packet {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: ts,
            ssrc: 5,
            payload: vec![byte; n],
        };
        r.push(sized(1, 0, 240, 1)); // 30 ms
        r.push(sized(2, 240, 240, 2));
        r.push(sized(3, 480, 80, 3)); // 10 ms
        skip_delay(&mut r);
        let f1 = r.tick().unwrap();
        assert!(f1.iter().all(|&b| b == 1));
        let f2 = r.tick().unwrap();
        assert_eq!((f2[0], f2[79], f2[80], f2[159]), (1, 1, 2, 2));
        let f3 = r.tick().unwrap();
        assert!(f3.iter().all(|&b| b == 2));
        let f4 = r.tick().unwrap();
        assert_eq!(
            (f4[0], f4[79], f4[80], f4.len()),
            (3, 3, 0xFF, 160),
            "the rest is silence"
        );
        assert_eq!(r.tick(), None);
    }

    #[test]
    fn a_new_source_is_followed_after_a_few_packets() {
        let mut r = Receiver::default();
        r.push(packet(1, 1, 0, 1));
        skip_delay(&mut r);
        assert_eq!(r.tick().map(|p| p[0]), Some(1));
        for i in 0..3u32 {
            r.push(packet(9, 100 + i as u16, 50_000 + i * 160, 9));
        }
        skip_delay(&mut r);
        assert_eq!(
            r.tick().map(|p| p[0]),
            Some(9),
            "switched to the new stream"
        );
    }

    #[test]
    fn comfort_noise_is_not_audio_and_memory_is_bounded() {
        let mut r = Receiver::default();
        let mut cn = packet(1, 1, 0, 0);
        cn.payload_type = 13;
        r.push(cn);
        assert_eq!(r.tick(), None, "comfort noise does not start the stream");
        let mut r = Receiver::default();
        for i in 0..1000u32 {
            r.push(packet(1, i as u16, i * 160 * 3, 0));
        }
        assert!(r.ahead.len() <= MAX_AHEAD);
    }
}
