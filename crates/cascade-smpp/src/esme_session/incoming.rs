//! How an ESME session reacts to each PDU from the SMSC.

use std::time::Instant;

use super::{CloseReason, EsmeEvent, EsmeSession, IncomingKind, IncomingMessage, SessionState};
use crate::error::DecodeError;
use crate::pdu::{BindMode, CommandStatus, Pdu, PduBody, SubmitSmResp};
use crate::receipt::DeliveryReceipt;
use crate::timer::Timer;

impl EsmeSession {
    /// A PDU from the SMSC, for drivers that decode themselves. `handle_bytes` calls this
    /// for each PDU it decodes. Ignored once closed.
    pub fn handle_pdu(&mut self, now: Instant, pdu: Pdu) {
        if self.state == SessionState::Closed {
            return;
        }
        self.keepalive.on_receive(now, &mut self.timers);
        let seq = pdu.sequence_number;
        let status = pdu.command_status;
        match pdu.body {
            PduBody::SubmitSmResp(resp) => self.on_submit_resp(now, seq, status, resp),
            PduBody::DeliverSm(sm) => {
                self.answer_incoming(seq, IncomingKind::DeliverSm);
                let receipt = sm
                    .is_receipt()
                    .then(|| DeliveryReceipt::from_deliver_sm(&sm));
                self.report_incoming(IncomingMessage::DeliverSm { seq, pdu: sm }, receipt);
            }
            PduBody::DataSm(sm) => {
                self.answer_incoming(seq, IncomingKind::DataSm);
                let receipt = sm.is_receipt().then(|| DeliveryReceipt::from_data_sm(&sm));
                self.report_incoming(IncomingMessage::DataSm { seq, pdu: sm }, receipt);
            }
            PduBody::EnquireLink => self.link.send_internal(&Pdu::enquire_link_resp(seq)),
            PduBody::EnquireLinkResp => {
                // Any PDU already proved the link alive; an unmatched resp is harmless.
                self.keepalive.on_response(seq);
            }
            PduBody::Unbind => {
                self.link.send_internal(&Pdu::unbind_resp(seq));
                self.events.push_back(EsmeEvent::PeerUnbound);
                self.close(CloseReason::PeerUnbound);
            }
            PduBody::UnbindResp if self.unbind_seq == Some(seq) => {
                self.events.push_back(EsmeEvent::Unbound);
                self.close(CloseReason::Unbound);
            }
            PduBody::GenericNack => self.on_generic_nack(seq, status),
            PduBody::AlertNotification(alert) => {
                self.events.push_back(EsmeEvent::Alert { alert });
            }
            body @ (PduBody::BindTransmitterResp(_)
            | PduBody::BindReceiverResp(_)
            | PduBody::BindTransceiverResp(_))
                if self.state == SessionState::Binding && seq == self.bind_seq =>
            {
                self.on_bind_resp(now, status, &body);
            }
            body => {
                // A request an ESME does not serve is refused; a stray response is reported.
                if let Some(pdu) = self.link.refuse_unhandled(status, seq, body) {
                    self.events.push_back(EsmeEvent::UnexpectedResponse { pdu });
                }
            }
        }
    }

    pub(super) fn handle_decode_error(&mut self, now: Instant, error: DecodeError) {
        let fatal = self
            .link
            .on_decode_error(&error, now, &mut self.keepalive, &mut self.timers);
        self.events.push_back(EsmeEvent::ProtocolError { error });
        if fatal {
            self.close(CloseReason::ProtocolViolation);
        }
    }

    fn on_bind_resp(&mut self, now: Instant, status: CommandStatus, body: &PduBody) {
        self.timers.stop(Timer::Bind);
        if !status.is_ok() {
            self.events.push_back(EsmeEvent::BindFailed { status });
            self.close(CloseReason::BindFailed(status));
            return;
        }
        let Some((_, resp)) = BindMode::from_response(body) else {
            return;
        };
        self.state = SessionState::Bound;
        self.keepalive.start(now, &mut self.timers);
        self.events.push_back(EsmeEvent::Bound {
            system_id: resp.system_id.clone(),
            sc_interface_version: resp.tlvs.sc_interface_version(),
        });
    }

    fn on_submit_resp(
        &mut self,
        now: Instant,
        seq: u32,
        status: CommandStatus,
        resp: SubmitSmResp,
    ) {
        if self.window.remove(seq).is_none() {
            let pdu = Pdu::with_status(seq, status, PduBody::SubmitSmResp(resp));
            self.events.push_back(EsmeEvent::UnexpectedResponse { pdu });
            return;
        }
        self.timers
            .set_opt(Timer::Response, self.window.earliest_deadline());
        let event = if status.is_ok() {
            EsmeEvent::Submitted {
                seq,
                message_id: resp.message_id,
            }
        } else if status.is_throttling() {
            let until = self
                .paused_until
                .filter(|&u| u > now)
                .map_or(now + self.config.throttle_backoff, |u| {
                    u.max(now + self.config.throttle_backoff)
                });
            self.paused_until = Some(until);
            self.timers.set(Timer::ThrottleResume, until);
            EsmeEvent::Throttled { seq, status, until }
        } else {
            EsmeEvent::SubmitRejected { seq, status }
        };
        self.events.push_back(event);
    }

    fn on_generic_nack(&mut self, seq: u32, status: CommandStatus) {
        if self.window.remove(seq).is_some() {
            self.timers
                .set_opt(Timer::Response, self.window.earliest_deadline());
            self.events
                .push_back(EsmeEvent::SubmitRejected { seq, status });
        } else if self.state == SessionState::Binding && seq == self.bind_seq {
            self.events.push_back(EsmeEvent::BindFailed { status });
            self.close(CloseReason::BindFailed(status));
        } else if self.unbind_seq == Some(seq) {
            self.events.push_back(EsmeEvent::Unbound);
            self.close(CloseReason::Unbound);
        } else if !self.keepalive.on_response(seq) {
            self.events
                .push_back(EsmeEvent::GenericNack { seq, status });
        }
    }

    /// Answers `ESME_ROK` now, or leaves it to `ack_incoming` in manual mode.
    fn answer_incoming(&mut self, seq: u32, kind: IncomingKind) {
        if self.config.manual_deliver_ack {
            self.unacked.insert(seq, kind);
        } else {
            self.send_incoming_resp(seq, CommandStatus::ESME_ROK, kind);
        }
    }

    fn report_incoming(&mut self, message: IncomingMessage, receipt: Option<DeliveryReceipt>) {
        let event = match receipt {
            Some(receipt) => EsmeEvent::Receipt { receipt, message },
            None => EsmeEvent::MobileOriginated { message },
        };
        self.events.push_back(event);
    }
}
