//! What both sessions share: the read buffer and decoder loop, the transmit queue, sequence
//! numbers, and the enquire_link keep-alive.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::codec;
use crate::error::{DecodeError, EncodeError};
use crate::pdu::{CommandStatus, Pdu, PduBody};
use crate::sequence::SequenceNumbers;
use crate::timer::{Timer, TimerTable};

/// Byte-level side of a session: bytes in, PDUs out and back.
#[derive(Debug)]
pub(crate) struct Link {
    read_buf: BytesMut,
    scratch: BytesMut,
    transmit: VecDeque<Bytes>,
    sequence: SequenceNumbers,
    max_pdu_len: usize,
}

impl Link {
    pub(crate) fn new(max_pdu_len: usize) -> Self {
        Link {
            read_buf: BytesMut::new(),
            scratch: BytesMut::new(),
            transmit: VecDeque::new(),
            sequence: SequenceNumbers::new(),
            max_pdu_len,
        }
    }

    /// The next free sequence number (`in_use` says which are still waiting for answers).
    pub(crate) fn next_sequence(&mut self, in_use: impl Fn(u32) -> bool) -> u32 {
        self.sequence.next(in_use)
    }

    /// Encodes `pdu` onto the transmit queue, one frame per entry.
    pub(crate) fn send(&mut self, pdu: &Pdu) -> Result<(), EncodeError> {
        codec::encode(pdu, &mut self.scratch)?;
        self.transmit.push_back(self.scratch.split().freeze());
        Ok(())
    }

    /// Sends a PDU the session built itself from fixed or already-decoded values (responses
    /// with empty ids, enquire_link, unbind, generic_nack, binds validated at start).
    ///
    /// # Panics
    ///
    /// Never for such PDUs: none of them has a field that can break a limit. A failure here
    /// is a bug in this crate, so it is caught by a debug assertion and the PDU is dropped in
    /// release builds rather than taking the process down.
    pub(crate) fn send_internal(&mut self, pdu: &Pdu) {
        if let Err(e) = self.send(pdu) {
            debug_assert!(false, "session-built PDU failed to encode: {e}");
        }
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }

    pub(crate) fn push_bytes(&mut self, data: &[u8]) {
        self.read_buf.extend_from_slice(data);
    }

    pub(crate) fn next_pdu(&mut self) -> Result<Option<Pdu>, DecodeError> {
        codec::decode(&mut self.read_buf, self.max_pdu_len)
    }

    /// Drops unread input (after close).
    pub(crate) fn discard_input(&mut self) {
        self.read_buf.clear();
    }

    /// A PDU none of the session's handlers takes: a request is refused with
    /// `generic_nack` / `ESME_RINVCMDID`; a response is handed back for the owner to hear
    /// of (it answers nothing waiting, but may still carry something worth recording).
    pub(crate) fn refuse_unhandled(
        &mut self,
        command_status: CommandStatus,
        sequence_number: u32,
        body: PduBody,
    ) -> Option<Pdu> {
        let pdu = Pdu {
            command_status,
            sequence_number,
            body,
        };
        if pdu.is_response() {
            Some(pdu)
        } else {
            self.send_internal(&Pdu::generic_nack(
                sequence_number,
                CommandStatus::ESME_RINVCMDID,
            ));
            None
        }
    }

    /// Input that did not decode. Returns true when the session must close: the framing
    /// is lost. Otherwise the bad PDU still counts as a sign of life, and a malformed
    /// request is answered with `generic_nack` and the status the error suggests.
    pub(crate) fn on_decode_error(
        &mut self,
        error: &DecodeError,
        now: Instant,
        keepalive: &mut Keepalive,
        timers: &mut TimerTable,
    ) -> bool {
        if error.is_fatal() {
            return true;
        }
        keepalive.on_receive(now, timers);
        if let Some(header) = error.header().filter(|h| !h.command_id.is_response()) {
            let nack = Pdu::generic_nack(header.sequence_number, error.suggested_status());
            self.send_internal(&nack);
        }
        false
    }
}

/// The enquire_link keep-alive: after `interval` without receiving anything, send an
/// `enquire_link`; if nothing at all arrives within `timeout` after that, the link is dead.
/// Any received PDU counts as a sign of life, not only the `enquire_link_resp`.
#[derive(Debug, Clone)]
pub(crate) struct Keepalive {
    interval: Option<Duration>,
    timeout: Duration,
    active: bool,
    outstanding: Option<u32>,
}

impl Keepalive {
    /// `interval` `None` disables sending `enquire_link` (answering still happens).
    pub(crate) fn new(interval: Option<Duration>, timeout: Duration) -> Self {
        Keepalive {
            interval,
            timeout,
            active: false,
            outstanding: None,
        }
    }

    /// Starts watching (once bound).
    pub(crate) fn start(&mut self, now: Instant, timers: &mut TimerTable) {
        self.active = true;
        self.arm(now, timers);
    }

    /// Stops watching (unbinding, closed).
    pub(crate) fn stop(&mut self, timers: &mut TimerTable) {
        self.active = false;
        self.outstanding = None;
        timers.stop(Timer::EnquireLink);
        timers.stop(Timer::LinkDead);
    }

    fn arm(&self, now: Instant, timers: &mut TimerTable) {
        timers.set_opt(Timer::EnquireLink, self.interval.map(|i| now + i));
    }

    /// A PDU arrived: the link is alive.
    pub(crate) fn on_receive(&mut self, now: Instant, timers: &mut TimerTable) {
        if self.active {
            self.arm(now, timers);
            timers.stop(Timer::LinkDead);
        }
    }

    /// The `enquire_link_resp` with this sequence number arrived. Returns false when it
    /// answers nothing we sent.
    pub(crate) fn on_response(&mut self, seq: u32) -> bool {
        if self.outstanding == Some(seq) {
            self.outstanding = None;
            true
        } else {
            false
        }
    }

    /// `Timer::EnquireLink` fired: send the probe and start the dead-link clock.
    pub(crate) fn on_idle(
        &mut self,
        now: Instant,
        link: &mut Link,
        timers: &mut TimerTable,
        in_use: impl Fn(u32) -> bool,
    ) {
        if !self.active {
            return;
        }
        let seq = link.next_sequence(in_use);
        link.send_internal(&Pdu::enquire_link(seq));
        self.outstanding = Some(seq);
        timers.set(Timer::LinkDead, now + self.timeout);
    }
}
