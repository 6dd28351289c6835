//! `Pair`: an [`EsmeSession`] talking to an [`SmscSession`] in memory, under virtual time,
//! with latency and optional drops. No sockets, no runtime.
//!
//! Bytes leave a session through `poll_transmit`, travel for `latency`, and arrive through
//! `handle_bytes`; timers fire through `handle_timeout` when virtual time reaches
//! `poll_timeout`. The SMSC answers submits from a script (accept by default).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use cascade_smpp::{
    CommandStatus, EsmeConfig, EsmeEvent, EsmeSession, Pdu, SmscConfig, SmscEvent, SmscSession,
    decode,
};

/// How the simulated SMSC answers the next `submit_sm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `ESME_ROK` with the next message id (hex counter: "1A2B"-style).
    Accept,
    /// This error status.
    Reject(CommandStatus),
    /// No answer: the test answers (or not) through `held`.
    Hold,
}

/// Which way a frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    ToSmsc,
    ToEsme,
}

#[derive(Debug)]
pub struct Pair {
    pub now: Instant,
    pub esme: EsmeSession,
    pub smsc: SmscSession,
    /// One-way delay of every frame.
    pub latency: Duration,
    /// Drop everything the SMSC sends (the peer "stops answering").
    pub drop_to_esme: bool,
    /// Drop everything the ESME sends.
    pub drop_to_smsc: bool,
    /// Answers for the next submits, front first; `Accept` when empty.
    pub script: VecDeque<Reply>,
    /// Sequence numbers (SMSC side) of submits answered `Hold`.
    pub held: Vec<u32>,
    /// Every PDU each side put on the wire (dropped ones included), in order.
    pub esme_sent: Vec<Pdu>,
    pub smsc_sent: Vec<Pdu>,
    esme_events: Vec<EsmeEvent>,
    smsc_events: Vec<SmscEvent>,
    wire: VecDeque<(Instant, Dir, Bytes)>,
    next_message_id: u64,
}

impl Pair {
    pub fn new(esme: EsmeConfig, smsc: SmscConfig) -> Pair {
        let now = Instant::now();
        Pair {
            now,
            esme: EsmeSession::new(esme, now).expect("valid ESME config"),
            smsc: SmscSession::new(smsc, now).expect("valid SMSC config"),
            latency: Duration::from_millis(10),
            drop_to_esme: false,
            drop_to_smsc: false,
            script: VecDeque::new(),
            held: Vec::new(),
            esme_sent: Vec::new(),
            smsc_sent: Vec::new(),
            esme_events: Vec::new(),
            smsc_events: Vec::new(),
            wire: VecDeque::new(),
            next_message_id: 0x1A2B,
        }
    }

    /// A pair with default configs and credentials, already bound.
    pub fn bound() -> Pair {
        let mut pair = Pair::new(esme_config(), SmscConfig::default());
        pair.drive();
        assert!(
            matches!(pair.take_esme_events()[..], [EsmeEvent::Bound { .. }]),
            "ESME bound"
        );
        assert!(matches!(
            pair.take_smsc_events()[..],
            [SmscEvent::Bound { .. }]
        ));
        pair
    }

    /// Runs until no frame is in flight, moving time only as far as frames need to
    /// arrive (timers due on the way fire). Does not wait for timers beyond that.
    pub fn drive(&mut self) {
        loop {
            self.settle();
            let Some(&(at, _, _)) = self.wire.front() else {
                return;
            };
            self.run_until(at);
        }
    }

    /// Moves virtual time forward by `d`, delivering frames and firing timers in time order.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        self.run_until(target);
        self.settle();
    }

    /// Processes every frame and timer due up to `target`, in time order, then sets the
    /// clock to `target`.
    fn run_until(&mut self, target: Instant) {
        loop {
            self.settle();
            let next = [
                self.wire.front().map(|&(at, _, _)| at),
                self.esme.poll_timeout(),
                self.smsc.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(at) if at <= target => {
                    self.now = self.now.max(at);
                    self.deliver_due();
                    self.esme.handle_timeout(self.now);
                    self.smsc.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = self.now.max(target);
        self.deliver_due();
    }

    fn deliver_due(&mut self) {
        while let Some(&(at, dir, _)) = self.wire.front() {
            if at > self.now {
                break;
            }
            let (_, _, frame) = self.wire.pop_front().expect("front exists");
            match dir {
                Dir::ToSmsc => self.smsc.handle_bytes(self.now, &frame),
                Dir::ToEsme => self.esme.handle_bytes(self.now, &frame),
            }
        }
    }

    /// Moves outputs onto the wire (or drops them, per the drop flags) and events into the
    /// logs until both sides are quiet at the current instant. Time does not move.
    pub fn flush(&mut self) {
        self.settle();
    }

    fn settle(&mut self) {
        loop {
            let mut busy = false;
            while let Some(frame) = self.esme.poll_transmit() {
                busy = true;
                self.esme_sent.extend(decode_all(&frame));
                if !self.drop_to_smsc {
                    self.wire
                        .push_back((self.now + self.latency, Dir::ToSmsc, frame));
                }
            }
            while let Some(frame) = self.smsc.poll_transmit() {
                busy = true;
                self.smsc_sent.extend(decode_all(&frame));
                if !self.drop_to_esme {
                    self.wire
                        .push_back((self.now + self.latency, Dir::ToEsme, frame));
                }
            }
            while let Some(event) = self.esme.poll_event() {
                busy = true;
                self.esme_events.push(event);
            }
            while let Some(event) = self.smsc.poll_event() {
                busy = true;
                self.answer_submits(&event);
                self.smsc_events.push(event);
            }
            if !busy {
                break;
            }
        }
        // Frames were pushed in time order per call, but latency is constant, so the wire
        // stays sorted; keep it sorted anyway if a test changed `latency` mid-run.
        self.wire.make_contiguous().sort_by_key(|&(at, _, _)| at);
    }

    fn answer_submits(&mut self, event: &SmscEvent) {
        let SmscEvent::SubmitReceived { seq, .. } = event else {
            return;
        };
        match self.script.pop_front().unwrap_or(Reply::Accept) {
            Reply::Accept => {
                let id = format!("{:X}", self.next_message_id);
                self.next_message_id += 1;
                self.smsc.accept(*seq, id).expect("pending submit");
            }
            Reply::Reject(status) => self.smsc.reject(*seq, status).expect("pending submit"),
            Reply::Hold => self.held.push(*seq),
        }
    }

    pub fn take_esme_events(&mut self) -> Vec<EsmeEvent> {
        self.settle();
        std::mem::take(&mut self.esme_events)
    }

    pub fn take_smsc_events(&mut self) -> Vec<SmscEvent> {
        self.settle();
        std::mem::take(&mut self.smsc_events)
    }
}

/// ESME settings the scenarios share.
pub fn esme_config() -> EsmeConfig {
    EsmeConfig {
        system_id: "cascade".into(),
        password: "secret".into(),
        ..EsmeConfig::default()
    }
}

fn decode_all(frame: &[u8]) -> Vec<Pdu> {
    let mut buf = BytesMut::from(frame);
    std::iter::from_fn(|| decode(&mut buf, 1 << 16).expect("sessions emit valid PDUs")).collect()
}
