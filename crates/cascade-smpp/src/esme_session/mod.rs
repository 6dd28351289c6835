//! The client side of SMPP: one bind from Cascade (the ESME) to an SMSC, as a sans-IO state
//! machine. See [`EsmeSession`].

mod config;
mod event;
mod incoming;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;

pub use config::{EsmeConfig, ThroughputLimit};
pub use event::{CloseReason, EsmeEvent, IncomingMessage, SessionState, SubmitRefused};

use crate::error::{AnswerError, EncodeError};
use crate::link::{Keepalive, Link};
use crate::pdu::{CommandStatus, DataSmResp, DeliverSmResp, Pdu, PduBody, SubmitSm};
use crate::timer::{Timer, TimerTable};
use crate::window::{InFlight, Window};
use cascade_pace::TokenBucket;

/// One ESME bind, without I/O: bytes and time in, bytes, events and a wake-up time out.
///
/// It owns no socket, reads no clock and never blocks. Time is a [`std::time::Instant`]
/// passed to every call that may depend on it; it must never go backwards between calls
/// (earlier values are treated as "no time passed"). In tests any `Instant` plus offsets
/// works as virtual time.
///
/// # Life
///
/// [`EsmeSession::new`] queues the bind (`bind_transceiver` by default, `interface_version`
/// 0x34). The bind response yields [`EsmeEvent::Bound`] (then `submit` works) or
/// [`EsmeEvent::BindFailed`]. While bound the session answers `enquire_link`, every
/// `deliver_sm`/`data_sm` (`ESME_ROK`, reported as `Receipt` or `MobileOriginated`; or, with
/// `manual_deliver_ack`, when the owner calls [`EsmeSession::ack_incoming`]) and the
/// peer's `unbind`; probes an idle link with `enquire_link`; tracks the submit window and
/// its timeouts; and pauses after throttling responses. [`EsmeSession::unbind`] ends it
/// politely. Every end is reported by a final [`EsmeEvent::Closed`].
///
/// # Driver loop
///
/// A driver (e.g. tokio) owns the socket and calls, in this order, until `Closed`:
///
/// ```text
/// let mut session = EsmeSession::new(config, Instant::now())?;
/// loop {
///     while let Some(frame) = session.poll_transmit() { socket.write_all(&frame) }  // then flush once
///     while let Some(event) = session.poll_event() { /* hand to the connector */ }
///     if session.state() == SessionState::Closed { break }   // after flushing, close the socket
///     select! {
///         n = socket.read(&mut buf)         => if n == 0 { session.handle_disconnect(now()) }
///                                              else { session.handle_bytes(now(), &buf[..n]) }
///         cmd = actions.recv()              => match cmd {
///             Submit(sm, reply) => reply.send(session.submit(now(), &sm)),
///             Ack(seq, status)  => session.ack_incoming(seq, status),   // manual_deliver_ack
///             Unbind            => session.unbind(now()),
///         }
///         _ = sleep_until(session.poll_timeout()) => session.handle_timeout(now()),
///     }
/// }
/// ```
///
/// Drain `poll_transmit` and `poll_event` after **every** `handle_*`/`submit`/`unbind` call:
/// each may queue output and move the next timeout. `poll_timeout` is `None` when nothing is
/// scheduled (sleep until other input).
///
/// One session is one TCP connection and one bind. Reconnecting (with capped back-off) is
/// the driver's layer: after `Closed`, open a new socket and a new `EsmeSession`; the
/// submits reported `SubmitAborted`/`SubmitTimedOut` are the ones whose fate is unknown.
/// A transmitter + receiver pair is two sessions.
///
/// # Guarantees
///
/// - Every `submit` that returned `Ok(seq)` gets exactly one of `Submitted`,
///   `SubmitRejected`, `Throttled`, `SubmitTimedOut` or `SubmitAborted` for `seq`.
/// - A response with no waiter is reported (`UnexpectedResponse`), never dropped; so is a
///   receipt without a parsable id (`Receipt` with `message_id: None`).
/// - Nothing here panics on peer input.
#[derive(Debug)]
pub struct EsmeSession {
    config: EsmeConfig,
    state: SessionState,
    link: Link,
    timers: TimerTable,
    keepalive: Keepalive,
    window: Window,
    bind_seq: u32,
    unbind_seq: Option<u32>,
    paused_until: Option<Instant>,
    bucket: Option<TokenBucket>,
    unacked: BTreeMap<u32, IncomingKind>,
    events: VecDeque<EsmeEvent>,
}

/// Which response an incoming message awaits (with `manual_deliver_ack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IncomingKind {
    DeliverSm,
    DataSm,
}

impl EsmeSession {
    /// Starts a session on a freshly connected socket: queues the bind and arms its timer.
    ///
    /// # Errors
    ///
    /// The bind does not encode (`system_id` over 15 characters, `password` over 8, ...).
    pub fn new(config: EsmeConfig, now: Instant) -> Result<Self, EncodeError> {
        let mut link = Link::new(config.max_pdu_len);
        let bind_seq = link.next_sequence(|_| false);
        link.send(&Pdu::new(bind_seq, config.bind_mode.request(config.bind())))?;
        let mut timers = TimerTable::default();
        timers.set(Timer::Bind, now + config.bind_timeout);
        Ok(EsmeSession {
            keepalive: Keepalive::new(config.enquire_link_interval, config.enquire_link_timeout),
            window: Window::new(config.window),
            bucket: config.throughput.map(|limit| TokenBucket::new(limit, now)),
            config,
            state: SessionState::Binding,
            link,
            timers,
            bind_seq,
            unbind_seq: None,
            paused_until: None,
            unacked: BTreeMap::new(),
            events: VecDeque::new(),
        })
    }

    // ----- getters -------------------------------------------------------------------

    /// Where the session is.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &EsmeConfig {
        &self.config
    }

    /// Submits waiting for their response.
    pub fn in_flight(&self) -> usize {
        self.window.len()
    }

    /// Incoming messages waiting for [`EsmeSession::ack_incoming`] (with
    /// `manual_deliver_ack`).
    pub fn unacked_incoming(&self) -> usize {
        self.unacked.len()
    }

    /// End of the current throttling pause, if one is running.
    pub fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    // ----- mutators ------------------------------------------------------------------

    /// Queues `submit_sm` and returns its sequence number, which every later event about it
    /// carries.
    ///
    /// # Errors
    ///
    /// [`SubmitRefused`], checked in this order: `NotBound` (binding, closed, or a receiver
    /// bind), `Closing`, `Paused` (throttling pause), `WindowFull`, `Paused` (throughput cap;
    /// no token is used), `Invalid`. Nothing is sent when it fails.
    pub fn submit(&mut self, now: Instant, submit: &SubmitSm) -> Result<u32, SubmitRefused> {
        match self.state {
            SessionState::Bound if self.config.bind_mode.can_transmit() => {}
            SessionState::Unbinding => return Err(SubmitRefused::Closing),
            _ => return Err(SubmitRefused::NotBound),
        }
        if let Some(until) = self.paused_until.filter(|&u| u > now) {
            return Err(SubmitRefused::Paused { until });
        }
        if self.window.is_full() {
            return Err(SubmitRefused::WindowFull);
        }
        if let Some(until) = self.bucket.as_mut().and_then(|b| b.next_available(now)) {
            return Err(SubmitRefused::Paused { until });
        }
        let window = &self.window;
        let seq = self.link.next_sequence(|s| window.contains(s));
        let pdu = Pdu::new(seq, PduBody::SubmitSm(submit.clone()));
        self.link.send(&pdu).map_err(SubmitRefused::Invalid)?;
        if let Some(bucket) = self.bucket.as_mut() {
            bucket.take();
        }
        self.window.insert(
            seq,
            InFlight {
                sent_at: now,
                deadline: now + self.config.response_timeout,
            },
        );
        self.timers
            .set_opt(Timer::Response, self.window.earliest_deadline());
        Ok(seq)
    }

    /// Ends the session: sends `unbind` and waits (up to `unbind_timeout`) for
    /// `unbind_resp`, still processing responses and receipts meanwhile. Before the bind
    /// completed it closes at once (`CloseReason::Cancelled`); once unbinding or closed it
    /// does nothing.
    pub fn unbind(&mut self, now: Instant) {
        match self.state {
            SessionState::Binding => self.close(CloseReason::Cancelled),
            SessionState::Bound => {
                let window = &self.window;
                let seq = self.link.next_sequence(|s| window.contains(s));
                self.link.send_internal(&Pdu::unbind(seq));
                self.unbind_seq = Some(seq);
                self.state = SessionState::Unbinding;
                self.keepalive.stop(&mut self.timers);
                self.timers
                    .set(Timer::Unbind, now + self.config.unbind_timeout);
            }
            SessionState::Unbinding | SessionState::Closed => {}
        }
    }

    /// (`manual_deliver_ack` only.) Answers the `deliver_sm`/`data_sm` with sequence number
    /// `seq` (from [`IncomingMessage::seq`]): `ESME_ROK` once it is safely stored, or e.g.
    /// `ESME_RX_T_APPN` to have the SMSC retry later.
    ///
    /// # Errors
    ///
    /// `UnknownSequence` when no such message waits (already answered, automatic mode, or
    /// the session closed: the SMSC will deliver it again on a later bind).
    pub fn ack_incoming(&mut self, seq: u32, status: CommandStatus) -> Result<(), AnswerError> {
        let kind = self
            .unacked
            .remove(&seq)
            .ok_or(AnswerError::UnknownSequence { seq })?;
        self.send_incoming_resp(seq, status, kind);
        Ok(())
    }

    fn send_incoming_resp(&mut self, seq: u32, status: CommandStatus, kind: IncomingKind) {
        let body = match kind {
            IncomingKind::DeliverSm => PduBody::DeliverSmResp(DeliverSmResp::default()),
            IncomingKind::DataSm => PduBody::DataSmResp(DataSmResp::default()),
        };
        self.link
            .send_internal(&Pdu::with_status(seq, status, body));
    }

    // ----- inputs --------------------------------------------------------------------

    /// Bytes read from the socket, in order. Any number of bytes, whole PDUs or not.
    pub fn handle_bytes(&mut self, now: Instant, data: &[u8]) {
        if self.state == SessionState::Closed {
            return;
        }
        self.link.push_bytes(data);
        while self.state != SessionState::Closed {
            match self.link.next_pdu() {
                Ok(Some(pdu)) => self.handle_pdu(now, pdu),
                Ok(None) => break,
                Err(error) => self.handle_decode_error(now, error),
            }
        }
    }

    /// The connection is gone (EOF or I/O error). In-flight submits are aborted.
    pub fn handle_disconnect(&mut self, _now: Instant) {
        if self.state != SessionState::Closed {
            self.close(CloseReason::Disconnected);
        }
    }

    /// Fires every timer due at `now`. Call it when `poll_timeout` passes (calling it early
    /// or twice is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        while self.state != SessionState::Closed {
            let Some(timer) = self.timers.pop_expired(now) else {
                break;
            };
            match timer {
                Timer::Bind => self.close(CloseReason::BindTimedOut),
                Timer::EnquireLink => {
                    let window = &self.window;
                    self.keepalive
                        .on_idle(now, &mut self.link, &mut self.timers, |s| {
                            window.contains(s)
                        });
                }
                Timer::LinkDead => {
                    self.events.push_back(EsmeEvent::LinkLost);
                    self.close(CloseReason::LinkLost);
                }
                Timer::Response => {
                    for seq in self.window.take_expired(now) {
                        self.events.push_back(EsmeEvent::SubmitTimedOut { seq });
                    }
                    self.timers
                        .set_opt(Timer::Response, self.window.earliest_deadline());
                }
                Timer::Unbind => self.close(CloseReason::UnbindTimedOut),
                Timer::ThrottleResume => {
                    self.paused_until = None;
                    self.events.push_back(EsmeEvent::Resumed);
                }
            }
        }
    }

    // ----- outputs -------------------------------------------------------------------

    /// The next frame to write: one whole PDU per call. Still drained after `Closed` (it
    /// may hold a final `unbind_resp`).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.link.poll_transmit()
    }

    /// When `handle_timeout` must be called next; `None` when nothing is scheduled.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<EsmeEvent> {
        self.events.pop_front()
    }

    // ----- internals -----------------------------------------------------------------

    fn close(&mut self, reason: CloseReason) {
        for seq in self.window.drain() {
            self.events.push_back(EsmeEvent::SubmitAborted { seq });
        }
        self.keepalive.stop(&mut self.timers);
        self.timers.clear();
        self.link.discard_input();
        self.unacked.clear();
        self.paused_until = None;
        self.state = SessionState::Closed;
        self.events.push_back(EsmeEvent::Closed { reason });
    }
}
