//! The server side of SMPP, for Cascade's SMSC simulator: one accepted connection as a
//! sans-IO state machine. See [`SmscSession`].

mod config;
mod event;
mod incoming;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;

pub use crate::error::AnswerError;
pub use config::{BindPolicy, SmscConfig};
pub use event::{DeliverRefused, SmscEvent};

use crate::codec;
use crate::error::EncodeError;
use crate::esme_session::{CloseReason, SessionState};
use crate::link::{Keepalive, Link};
use crate::pdu::{
    Bind, BindMode, BindResp, COctetString, CommandStatus, DataSmResp, DeliverSm, Pdu, PduBody,
    SubmitSmResp, Tlv, TlvList,
};
use crate::timer::{Timer, TimerTable};
use crate::window::{InFlight, Window};

/// One ESME connection as seen by the SMSC, without I/O.
///
/// Same shape and rules as [`EsmeSession`](crate::EsmeSession): inputs are
/// `handle_bytes`/`handle_pdu`/`handle_timeout`/`handle_disconnect` plus the owner's answers,
/// outputs are `poll_transmit`/`poll_event`/`poll_timeout`, time is an `Instant` that never
/// goes backwards, and the driver loop is the one documented there.
///
/// # Life
///
/// Created when a connection is accepted; the ESME has `bind_timeout` to bind. Binds are
/// checked against the [`BindPolicy`] and answered with our `system_id` and the
/// `sc_interface_version` TLV. Once bound:
///
/// - every `submit_sm` (and `data_sm`) becomes [`SmscEvent::SubmitReceived`]
///   ([`SmscEvent::DataSmReceived`]); the owner answers each with [`SmscSession::accept`]
///   (message id) or [`SmscSession::reject`] (status, e.g. `ESME_RTHROTTLED`), in any order
///   and at any later time;
/// - [`SmscSession::send_deliver_sm`] pushes receipts and MO messages, tracked in a window
///   until `DeliverAcked` / `DeliverRejected` / `DeliverTimedOut`;
/// - `enquire_link` is answered, and sent after idle periods;
/// - `unbind` works both ways; junk is answered with `generic_nack`.
///
/// Requests before the bind are answered `ESME_RINVBNDSTS`, a second bind
/// `ESME_RALYBND`, commands an SMSC does not serve `ESME_RINVCMDID`.
#[derive(Debug)]
pub struct SmscSession {
    config: SmscConfig,
    phase: Phase,
    link: Link,
    timers: TimerTable,
    keepalive: Keepalive,
    pending: BTreeMap<u32, PendingRequest>,
    deliveries: Window,
    unbind_seq: Option<u32>,
    events: VecDeque<SmscEvent>,
}

/// Where the connection is; finer than [`SessionState`] because of manual binds.
#[derive(Debug, Clone)]
enum Phase {
    AwaitingBind,
    BindPending {
        seq: u32,
        mode: BindMode,
        bind: Bind,
    },
    Bound {
        mode: BindMode,
    },
    Unbinding,
    Closed,
}

/// A request waiting for the owner's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PendingRequest {
    SubmitSm,
    DataSm,
}

impl SmscSession {
    /// Starts serving a freshly accepted connection.
    ///
    /// # Errors
    ///
    /// `config.system_id` does not fit a bind response (over 15 characters).
    pub fn new(config: SmscConfig, now: Instant) -> Result<Self, EncodeError> {
        codec::encode_to_bytes(&Pdu::new(
            1,
            PduBody::BindTransceiverResp(bind_resp(&config)),
        ))?;
        let mut timers = TimerTable::default();
        timers.set(Timer::Bind, now + config.bind_timeout);
        Ok(SmscSession {
            link: Link::new(config.max_pdu_len),
            keepalive: Keepalive::new(config.enquire_link_interval, config.enquire_link_timeout),
            deliveries: Window::new(config.deliver_window),
            config,
            phase: Phase::AwaitingBind,
            timers,
            pending: BTreeMap::new(),
            unbind_seq: None,
            events: VecDeque::new(),
        })
    }

    // ----- getters -------------------------------------------------------------------

    /// Where the session is (`Binding` until the ESME is bound).
    pub fn state(&self) -> SessionState {
        match self.phase {
            Phase::AwaitingBind | Phase::BindPending { .. } => SessionState::Binding,
            Phase::Bound { .. } => SessionState::Bound,
            Phase::Unbinding => SessionState::Unbinding,
            Phase::Closed => SessionState::Closed,
        }
    }

    /// The ESME's bind mode, while bound.
    pub fn bind_mode(&self) -> Option<BindMode> {
        match self.phase {
            Phase::Bound { mode } => Some(mode),
            _ => None,
        }
    }

    /// Requests waiting for `accept`/`reject`.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    /// `deliver_sm` waiting for their response.
    pub fn deliveries_in_flight(&self) -> usize {
        self.deliveries.len()
    }

    // ----- the owner's answers -------------------------------------------------------

    /// Answers `submit_sm`/`data_sm` `seq` with `ESME_ROK` and `message_id`.
    ///
    /// # Errors
    ///
    /// `UnknownSequence` (already answered, never received, or session closed), or `Invalid`
    /// (message id over 64 characters; the request stays pending).
    pub fn accept(
        &mut self,
        seq: u32,
        message_id: impl Into<COctetString>,
    ) -> Result<(), AnswerError> {
        let message_id = message_id.into();
        self.answer(seq, CommandStatus::ESME_ROK, message_id)
    }

    /// Answers `submit_sm`/`data_sm` `seq` with an error `status` (`ESME_RTHROTTLED`,
    /// `ESME_RMSGQFUL`, `ESME_RINVDSTADR`, ...) and an empty body.
    ///
    /// # Errors
    ///
    /// `UnknownSequence`, as for [`SmscSession::accept`].
    pub fn reject(&mut self, seq: u32, status: CommandStatus) -> Result<(), AnswerError> {
        self.answer(seq, status, COctetString::new())
    }

    fn answer(
        &mut self,
        seq: u32,
        status: CommandStatus,
        message_id: COctetString,
    ) -> Result<(), AnswerError> {
        let kind = *self
            .pending
            .get(&seq)
            .ok_or(AnswerError::UnknownSequence { seq })?;
        let body = match kind {
            PendingRequest::SubmitSm => PduBody::SubmitSmResp(SubmitSmResp {
                message_id,
                tlvs: TlvList::new(),
            }),
            PendingRequest::DataSm => PduBody::DataSmResp(DataSmResp {
                message_id,
                tlvs: TlvList::new(),
            }),
        };
        self.link
            .send(&Pdu::with_status(seq, status, body))
            .map_err(AnswerError::Invalid)?;
        self.pending.remove(&seq);
        Ok(())
    }

    /// (`BindPolicy::Manual`.) Accepts the pending bind.
    ///
    /// # Errors
    ///
    /// `NoBindPending` when no `BindRequested` is waiting.
    pub fn accept_bind(&mut self, now: Instant) -> Result<(), AnswerError> {
        let Phase::BindPending { seq, mode, bind } = self.phase.clone() else {
            return Err(AnswerError::NoBindPending);
        };
        self.complete_bind(now, seq, mode, bind);
        Ok(())
    }

    /// (`BindPolicy::Manual`.) Refuses the pending bind with `status` (`ESME_RBINDFAIL`,
    /// `ESME_RINVPASWD`, ...). The ESME may try again.
    ///
    /// # Errors
    ///
    /// `NoBindPending` when no `BindRequested` is waiting.
    pub fn reject_bind(&mut self, status: CommandStatus) -> Result<(), AnswerError> {
        let Phase::BindPending { seq, mode, .. } = self.phase else {
            return Err(AnswerError::NoBindPending);
        };
        self.refuse_bind(seq, mode, status);
        Ok(())
    }

    /// Sends a `deliver_sm` (receipt or MO) and returns its sequence number.
    ///
    /// # Errors
    ///
    /// [`DeliverRefused`]: `NotBound` (not bound, or a transmitter bind), `Closing`,
    /// `WindowFull`, `Invalid`. Nothing is sent when it fails.
    pub fn send_deliver_sm(
        &mut self,
        now: Instant,
        deliver: &DeliverSm,
    ) -> Result<u32, DeliverRefused> {
        match self.phase {
            Phase::Bound { mode } if mode.can_receive() => {}
            Phase::Unbinding => return Err(DeliverRefused::Closing),
            _ => return Err(DeliverRefused::NotBound),
        }
        if self.deliveries.is_full() {
            return Err(DeliverRefused::WindowFull);
        }
        let deliveries = &self.deliveries;
        let seq = self.link.next_sequence(|s| deliveries.contains(s));
        self.link
            .send(&Pdu::new(seq, PduBody::DeliverSm(deliver.clone())))
            .map_err(DeliverRefused::Invalid)?;
        self.deliveries.insert(
            seq,
            InFlight {
                sent_at: now,
                deadline: now + self.config.response_timeout,
            },
        );
        self.timers
            .set_opt(Timer::Response, self.deliveries.earliest_deadline());
        Ok(seq)
    }

    /// Sends `unbind` and waits for `unbind_resp` (up to `unbind_timeout`). Before the bind
    /// it closes at once (`Cancelled`); once unbinding or closed it does nothing.
    pub fn unbind(&mut self, now: Instant) {
        match self.phase {
            Phase::AwaitingBind | Phase::BindPending { .. } => self.close(CloseReason::Cancelled),
            Phase::Bound { .. } => {
                let deliveries = &self.deliveries;
                let seq = self.link.next_sequence(|s| deliveries.contains(s));
                self.link.send_internal(&Pdu::unbind(seq));
                self.unbind_seq = Some(seq);
                self.phase = Phase::Unbinding;
                self.keepalive.stop(&mut self.timers);
                self.timers
                    .set(Timer::Unbind, now + self.config.unbind_timeout);
            }
            Phase::Unbinding | Phase::Closed => {}
        }
    }

    // ----- inputs --------------------------------------------------------------------

    /// Bytes read from the socket.
    pub fn handle_bytes(&mut self, now: Instant, data: &[u8]) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        self.link.push_bytes(data);
        while !matches!(self.phase, Phase::Closed) {
            match self.link.next_pdu() {
                Ok(Some(pdu)) => self.handle_pdu(now, pdu),
                Ok(None) => break,
                Err(error) => self.handle_decode_error(now, error),
            }
        }
    }

    /// The connection is gone.
    pub fn handle_disconnect(&mut self, _now: Instant) {
        if !matches!(self.phase, Phase::Closed) {
            self.close(CloseReason::Disconnected);
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while !matches!(self.phase, Phase::Closed) {
            let Some(timer) = self.timers.pop_expired(now) else {
                break;
            };
            match timer {
                Timer::Bind => self.close(CloseReason::BindTimedOut),
                Timer::EnquireLink => {
                    let deliveries = &self.deliveries;
                    self.keepalive
                        .on_idle(now, &mut self.link, &mut self.timers, |s| {
                            deliveries.contains(s)
                        });
                }
                Timer::LinkDead => {
                    self.events.push_back(SmscEvent::LinkLost);
                    self.close(CloseReason::LinkLost);
                }
                Timer::Response => {
                    for seq in self.deliveries.take_expired(now) {
                        self.events.push_back(SmscEvent::DeliverTimedOut { seq });
                    }
                    self.timers
                        .set_opt(Timer::Response, self.deliveries.earliest_deadline());
                }
                Timer::Unbind => self.close(CloseReason::UnbindTimedOut),
                Timer::ThrottleResume => {}
            }
        }
    }

    // ----- outputs -------------------------------------------------------------------

    /// The next frame to write, one PDU per call.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.link.poll_transmit()
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<SmscEvent> {
        self.events.pop_front()
    }

    // ----- internals -----------------------------------------------------------------

    fn complete_bind(&mut self, now: Instant, seq: u32, mode: BindMode, bind: Bind) {
        let resp = mode.response(bind_resp(&self.config));
        self.link.send_internal(&Pdu::new(seq, resp));
        self.timers.stop(Timer::Bind);
        self.phase = Phase::Bound { mode };
        self.keepalive.start(now, &mut self.timers);
        self.events.push_back(SmscEvent::Bound { mode, bind });
    }

    fn refuse_bind(&mut self, seq: u32, mode: BindMode, status: CommandStatus) {
        let resp = mode.response(BindResp::default());
        self.link
            .send_internal(&Pdu::with_status(seq, status, resp));
        self.phase = Phase::AwaitingBind;
        self.events
            .push_back(SmscEvent::BindRejected { mode, status });
    }

    fn close(&mut self, reason: CloseReason) {
        for seq in self.deliveries.drain() {
            self.events.push_back(SmscEvent::DeliverAborted { seq });
        }
        self.pending.clear();
        self.keepalive.stop(&mut self.timers);
        self.timers.clear();
        self.link.discard_input();
        self.phase = Phase::Closed;
        self.events.push_back(SmscEvent::Closed { reason });
    }
}

/// Our bind response body: `system_id` plus `sc_interface_version`.
fn bind_resp(config: &SmscConfig) -> BindResp {
    BindResp {
        system_id: config.system_id.clone(),
        tlvs: TlvList::new().with(Tlv::sc_interface_version(config.sc_interface_version)),
    }
}
