//! The two halves of a call's RTP stream, sans IO.
//!
//! - [`Sender`] numbers outgoing frames (sequence, timestamp) and says when each must
//!   leave: on absolute 20 ms deadlines from the start, so a late wake-up never makes the
//!   stream drift, and a sender that falls far behind skips ahead instead of bursting.
//! - [`Receiver`] turns packets, in any order, into one frame per 20 ms tick for the
//!   machine detector: the frame whose timestamp is due, or `None` when it did not come.

use std::collections::BTreeMap;
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
        Packet {
            marker: n == 0,
            payload_type: self.payload_type,
            sequence: self.first_sequence.wrapping_add(n as u16),
            timestamp: self
                .first_timestamp
                .wrapping_add((n as u32).wrapping_mul(FRAME_SAMPLES as u32)),
            ssrc: self.ssrc,
            payload,
        }
    }
}

/// Packets held at most, so a peer flooding odd timestamps cannot grow memory.
const MAX_HELD: usize = 64;

/// Frames the received audio into 20 ms ticks; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Receiver {
    /// The timestamp of the next frame to hand out, once the first packet set it.
    next: Option<u32>,
    ssrc: Option<u32>,
    held: BTreeMap<u32, Vec<u8>>,
}

impl Receiver {
    /// Take a packet of audio. Packets of another SSRC than the first, and frames
    /// already handed out, are dropped.
    pub fn push(&mut self, packet: Packet) {
        if *self.ssrc.get_or_insert(packet.ssrc) != packet.ssrc || !packet.is_audio() {
            return;
        }
        let next = *self.next.get_or_insert(packet.timestamp);
        // Behind the tick (in wrapping arithmetic): too late to be heard.
        if packet.timestamp.wrapping_sub(next) > u32::MAX / 2 {
            return;
        }
        if self.held.len() >= MAX_HELD {
            self.held.pop_last();
        }
        self.held
            .insert(packet.timestamp.wrapping_sub(next), packet.payload);
    }

    /// The 20 ms tick: the payload of the frame due now, or `None` when it did not come
    /// (silence for the detector).
    pub fn tick(&mut self) -> Option<Vec<u8>> {
        let next = self.next?;
        let frame = self.held.remove(&0);
        let step = FRAME_SAMPLES as u32;
        // Everything held moves one frame closer.
        self.held = std::mem::take(&mut self.held)
            .into_iter()
            .filter(|(offset, _)| *offset >= step)
            .map(|(offset, payload)| (offset - step, payload))
            .collect();
        self.next = Some(next.wrapping_add(step));
        frame
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
        assert_eq!(late.sequence, 50, "frame 50 is due at 1 s");
        assert_eq!(late.timestamp, 50 * 160);
        assert_eq!(s.next_deadline(), start + Duration::from_millis(1020));
    }

    #[test]
    fn packets_out_of_order_come_out_in_order_and_gaps_are_none() {
        let mut r = Receiver::default();
        assert_eq!(r.tick(), None, "nothing yet");
        r.push(packet(1, 10, 1600, 1));
        r.push(packet(1, 12, 1920, 3)); // 11 is lost
        r.push(packet(1, 13, 2080, 4));
        r.push(packet(2, 99, 1760, 9)); // another source
        assert_eq!(r.tick().map(|p| p[0]), Some(1));
        assert_eq!(r.tick(), None, "frame 11 never came");
        assert_eq!(r.tick().map(|p| p[0]), Some(3));
        r.push(packet(1, 11, 1760, 2)); // too late now
        assert_eq!(r.tick().map(|p| p[0]), Some(4));
        assert_eq!(r.tick(), None);
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
        assert!(r.held.len() <= MAX_HELD);
    }
}
