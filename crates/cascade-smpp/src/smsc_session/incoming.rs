//! How an SMSC session reacts to each PDU from the ESME.

use std::time::Instant;

use super::{PendingRequest, Phase, SmscEvent, SmscSession};
use crate::error::DecodeError;
use crate::esme_session::CloseReason;
use crate::pdu::{BindMode, CommandStatus, DataSmResp, Pdu, PduBody, SubmitSmResp};
use crate::timer::Timer;

impl SmscSession {
    /// A PDU from the ESME, for drivers that decode themselves. Ignored once closed.
    pub fn handle_pdu(&mut self, now: Instant, pdu: Pdu) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        self.keepalive.on_receive(now, &mut self.timers);
        let seq = pdu.sequence_number;
        let status = pdu.command_status;
        if let Some((mode, bind)) = BindMode::from_request(&pdu.body) {
            let bind = bind.clone();
            self.on_bind(now, seq, mode, bind);
            return;
        }
        match pdu.body {
            PduBody::SubmitSm(submit) => {
                if matches!(self.phase, Phase::Bound { mode } if mode.can_transmit()) {
                    self.pending.insert(seq, PendingRequest::SubmitSm);
                    self.events
                        .push_back(SmscEvent::SubmitReceived { seq, submit });
                } else {
                    let resp = PduBody::SubmitSmResp(SubmitSmResp::default());
                    self.link.send_internal(&Pdu::with_status(
                        seq,
                        CommandStatus::ESME_RINVBNDSTS,
                        resp,
                    ));
                }
            }
            PduBody::DataSm(data) => {
                if matches!(self.phase, Phase::Bound { .. }) {
                    self.pending.insert(seq, PendingRequest::DataSm);
                    self.events
                        .push_back(SmscEvent::DataSmReceived { seq, data });
                } else {
                    let resp = PduBody::DataSmResp(DataSmResp::default());
                    self.link.send_internal(&Pdu::with_status(
                        seq,
                        CommandStatus::ESME_RINVBNDSTS,
                        resp,
                    ));
                }
            }
            PduBody::DeliverSmResp(_) => match self.deliveries.remove(seq) {
                Some(_) => {
                    self.timers
                        .set_opt(Timer::Response, self.deliveries.earliest_deadline());
                    let event = if status.is_ok() {
                        SmscEvent::DeliverAcked { seq }
                    } else {
                        SmscEvent::DeliverRejected { seq, status }
                    };
                    self.events.push_back(event);
                }
                None => {
                    let pdu = Pdu {
                        command_status: status,
                        sequence_number: seq,
                        body: pdu.body,
                    };
                    self.events.push_back(SmscEvent::UnexpectedResponse { pdu });
                }
            },
            PduBody::EnquireLink => self.link.send_internal(&Pdu::enquire_link_resp(seq)),
            PduBody::EnquireLinkResp => {
                self.keepalive.on_response(seq);
            }
            PduBody::Unbind => {
                self.link.send_internal(&Pdu::unbind_resp(seq));
                self.events.push_back(SmscEvent::PeerUnbound);
                self.close(CloseReason::PeerUnbound);
            }
            PduBody::UnbindResp if self.unbind_seq == Some(seq) => {
                self.events.push_back(SmscEvent::Unbound);
                self.close(CloseReason::Unbound);
            }
            PduBody::GenericNack => self.on_generic_nack(seq, status),
            body => {
                // A request an SMSC does not serve is refused; a stray response is reported.
                if let Some(pdu) = self.link.refuse_unhandled(status, seq, body) {
                    self.events.push_back(SmscEvent::UnexpectedResponse { pdu });
                }
            }
        }
    }

    pub(super) fn handle_decode_error(&mut self, now: Instant, error: DecodeError) {
        let fatal = self
            .link
            .on_decode_error(&error, now, &mut self.keepalive, &mut self.timers);
        self.events.push_back(SmscEvent::ProtocolError { error });
        if fatal {
            self.close(CloseReason::ProtocolViolation);
        }
    }

    fn on_bind(&mut self, now: Instant, seq: u32, mode: BindMode, bind: crate::pdu::Bind) {
        if !matches!(self.phase, Phase::AwaitingBind) {
            let resp = mode.response(Default::default());
            let pdu = Pdu::with_status(seq, CommandStatus::ESME_RALYBND, resp);
            self.link.send_internal(&pdu);
            return;
        }
        if matches!(self.config.bind_policy, super::BindPolicy::Manual) {
            self.phase = Phase::BindPending {
                seq,
                mode,
                bind: bind.clone(),
            };
            self.events
                .push_back(SmscEvent::BindRequested { mode, bind });
            return;
        }
        match self.config.bind_policy.check(&bind) {
            Ok(()) => self.complete_bind(now, seq, mode, bind),
            Err(status) => self.refuse_bind(seq, mode, status),
        }
    }

    fn on_generic_nack(&mut self, seq: u32, status: CommandStatus) {
        if self.deliveries.remove(seq).is_some() {
            self.timers
                .set_opt(Timer::Response, self.deliveries.earliest_deadline());
            self.events
                .push_back(SmscEvent::DeliverRejected { seq, status });
        } else if self.unbind_seq == Some(seq) {
            self.events.push_back(SmscEvent::Unbound);
            self.close(CloseReason::Unbound);
        } else if !self.keepalive.on_response(seq) {
            self.events
                .push_back(SmscEvent::GenericNack { seq, status });
        }
    }
}
