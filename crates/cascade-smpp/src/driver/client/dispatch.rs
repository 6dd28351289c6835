//! The client's bookkeeping between the caller and the session: which submit waits where
//! (queue or window), turning session events into submit fates and [`ClientEvent`]s, and
//! feeding queued submits to the session as it can take them.
//!
//! No I/O here: the connection task calls these methods and moves the bytes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::queue::{Queued, Reply, SubmitQueue};
use super::stats::{Shared, bump};
use super::{AckError, ClientEvent, ConnSeq, SubmitError, SubmitOptions, SubmitOutcome};
use crate::esme_session::{CloseReason, EsmeEvent, EsmeSession, SessionState, SubmitRefused};
use crate::pdu::{CommandStatus, Pdu, PduBody, SubmitSm};

const TARGET: &str = "cascade_smpp::driver::esme::event";

/// A request from an [`EsmeClient`](super::EsmeClient) handle to its task.
// `Submit` is by far the most frequent request: boxing it to shrink the rare `Ack` would
// cost an allocation per submit and save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Action {
    Submit {
        submit: SubmitSm,
        options: SubmitOptions,
        reply: Reply,
    },
    Ack {
        seq: ConnSeq,
        status: CommandStatus,
        reply: oneshot::Sender<Result<(), AckError>>,
    },
}

/// Queue, window waiters and event output of one client, across its connections.
#[derive(Debug)]
pub(super) struct Core {
    queue: SubmitQueue,
    /// Submits on the wire, by sequence number on the current connection.
    in_flight: HashMap<u32, Queued>,
    /// The current (or last) connection's number; 0 before the first.
    connection: u64,
    /// Shutting down: nothing new is taken.
    stopping: bool,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<ClientEvent>,
}

impl Core {
    pub(super) fn new(shared: Arc<Shared>, events: mpsc::UnboundedSender<ClientEvent>) -> Self {
        Core {
            queue: SubmitQueue::default(),
            in_flight: HashMap::new(),
            connection: 0,
            stopping: false,
            shared,
            events,
        }
    }

    pub(super) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// A new connection starts; returns its number.
    pub(super) fn next_connection(&mut self) -> u64 {
        self.connection += 1;
        bump(&self.shared.counters.connections);
        self.connection
    }

    /// Reports to the owner. A dropped receiver only means nobody listens.
    pub(super) fn emit(&self, event: ClientEvent) {
        let _ = self.events.send(event);
    }

    /// When the queue next needs [`Core::expire`].
    pub(super) fn wake_at(&self) -> Option<Instant> {
        self.queue.next_deadline()
    }

    /// Publishes the gauges.
    pub(super) fn publish(&self) {
        self.shared
            .set_gauges(self.in_flight.len(), self.queue.len());
    }

    /// Hands a submit's fate to its caller, after publishing the gauges without it (so a
    /// caller that has its answer never sees its submit still counted). Gives the fate back
    /// when the caller is gone.
    fn settle(
        &self,
        queued: Queued,
        result: Result<SubmitOutcome, SubmitError>,
    ) -> Result<(), Result<SubmitOutcome, SubmitError>> {
        self.publish();
        queued.finish(result)
    }

    // ----- caller requests -------------------------------------------------------------

    /// A request from a handle; `session` is the current one, if connected.
    pub(super) fn on_action(
        &mut self,
        session: Option<&mut EsmeSession>,
        action: Action,
        now: Instant,
    ) {
        match action {
            Action::Submit {
                submit,
                options,
                reply,
            } => {
                let refusal = self.admission(session.as_deref(), &options, now);
                match refusal {
                    Some(error) => {
                        debug!(target: TARGET, %error, "submit refused");
                        let _ = reply.send(Err(error));
                    }
                    None => self.queue.push(submit, options, reply),
                }
            }
            Action::Ack { seq, status, reply } => {
                let result = match session {
                    Some(session) if seq.connection == self.connection => session
                        .ack_incoming(seq.seq, status)
                        .map_err(|_| AckError::Unknown { seq }),
                    None if self.stopping => Err(AckError::Closed),
                    _ => Err(AckError::Gone { seq }),
                };
                let _ = reply.send(result);
            }
        }
    }

    /// Why a new submit cannot even be queued, if it cannot.
    fn admission(
        &self,
        session: Option<&EsmeSession>,
        options: &SubmitOptions,
        now: Instant,
    ) -> Option<SubmitError> {
        if self.stopping {
            return Some(SubmitError::Closed);
        }
        if options.deadline.is_some_and(|d| d <= now) {
            bump(&self.shared.counters.expired);
            return Some(SubmitError::Expired);
        }
        match session.map(|s| (s.state(), s.config().bind_mode.can_transmit())) {
            Some((SessionState::Bound, true)) => None,
            Some((SessionState::Bound, false)) => Some(SubmitError::NotBound),
            _ if options.wait_for_bind => None,
            _ => Some(SubmitError::NotBound),
        }
    }

    // ----- feeding the session ---------------------------------------------------------

    /// Sends queued submits, front first, while the session takes them. Returns when the
    /// throughput cap frees the next slot (a wake-up the session's timers do not cover).
    pub(super) fn pump(&mut self, session: &mut EsmeSession, now: Instant) -> Option<Instant> {
        self.expire(now);
        while let Some(front) = self.queue.front() {
            if front.is_cancelled() {
                self.queue.pop_front();
                continue;
            }
            let error = match session.submit(now, &front.submit) {
                Ok(seq) => {
                    let queued = self.pop_front();
                    bump(&self.shared.counters.submits_sent);
                    self.in_flight.insert(seq, queued);
                    continue;
                }
                Err(SubmitRefused::WindowFull) => return None,
                Err(SubmitRefused::Paused { until }) => {
                    let smsc_pause = session.paused_until().is_some_and(|p| p > now);
                    if !(smsc_pause && front.options.fail_when_throttled) {
                        return Some(until);
                    }
                    SubmitError::Throttled { until }
                }
                Err(SubmitRefused::NotBound) => {
                    if session.state() != SessionState::Bound {
                        return None; // still binding: wait for `Bound`
                    }
                    SubmitError::NotBound // a receiver bind never transmits
                }
                Err(SubmitRefused::Closing) => SubmitError::Closed,
                Err(SubmitRefused::Invalid(error)) => SubmitError::Invalid(error),
            };
            let queued = self.pop_front();
            let _ = self.settle(queued, Err(error));
        }
        None
    }

    fn pop_front(&mut self) -> Queued {
        self.queue
            .pop_front()
            .expect("called right after front() returned Some")
    }

    /// Fails queued submits whose deadline has passed.
    pub(super) fn expire(&mut self, now: Instant) {
        for queued in self.queue.take_expired(now) {
            bump(&self.shared.counters.expired);
            debug!(target: TARGET, "queued submit expired");
            let _ = self.settle(queued, Err(SubmitError::Expired));
        }
    }

    /// The connection is gone: whatever was in flight has unknown fate (the session already
    /// reported those; this catches none in practice), and queued submits that will not
    /// wait for the next bind fail `NotBound`.
    pub(super) fn on_link_down(&mut self) {
        let lost: Vec<Queued> = self.in_flight.drain().map(|(_, queued)| queued).collect();
        for queued in lost {
            bump(&self.shared.counters.aborted);
            let _ = self.settle(queued, Err(SubmitError::Aborted));
        }
        for queued in self.queue.take_where(|q| !q.options.wait_for_bind) {
            let _ = self.settle(queued, Err(SubmitError::NotBound));
        }
    }

    /// Shutting down: everything still queued fails `Closed` (never sent).
    pub(super) fn begin_stop(&mut self) {
        self.stopping = true;
        for queued in self.queue.take_where(|_| true) {
            let _ = self.settle(queued, Err(SubmitError::Closed));
        }
    }

    // ----- session events --------------------------------------------------------------

    /// Handles one session event; returns the close reason on `Closed`.
    pub(super) fn on_event(&mut self, event: EsmeEvent) -> Option<CloseReason> {
        let connection = self.connection;
        let counters = &self.shared.counters;
        match event {
            EsmeEvent::Bound {
                system_id,
                sc_interface_version,
            } => {
                bump(&counters.binds);
                info!(target: TARGET, smsc = %system_id.to_string_lossy(), "bound");
                self.emit(ClientEvent::Bound {
                    connection,
                    system_id,
                    sc_interface_version,
                });
            }
            EsmeEvent::BindFailed { status } => {
                bump(&counters.bind_failures);
                warn!(target: TARGET, %status, "bind refused");
                self.emit(ClientEvent::BindFailed { connection, status });
            }
            EsmeEvent::Submitted { seq, message_id } => {
                bump(&counters.accepted);
                self.resolve(seq, CommandStatus::ESME_ROK, || SubmitOutcome::Accepted {
                    message_id,
                });
            }
            EsmeEvent::SubmitRejected { seq, status } => {
                bump(&counters.rejected);
                self.resolve(seq, status, || SubmitOutcome::Rejected { status });
            }
            EsmeEvent::Throttled { seq, status, until } => {
                bump(&counters.throttled);
                debug!(target: TARGET, seq, %status, "throttled: pausing");
                self.emit(ClientEvent::Throttled { status, until });
                self.on_throttled(seq, until);
            }
            EsmeEvent::Resumed => self.emit(ClientEvent::Resumed),
            EsmeEvent::SubmitTimedOut { seq } => {
                bump(&counters.timed_out);
                warn!(target: TARGET, seq, "submit_sm timed out: fate unknown");
                let seq = ConnSeq { connection, seq };
                self.fail(seq.seq, SubmitError::TimedOut { seq });
            }
            EsmeEvent::SubmitAborted { seq } => {
                bump(&counters.aborted);
                self.fail(seq, SubmitError::Aborted);
            }
            EsmeEvent::Receipt { receipt, message } => {
                bump(&counters.receipts);
                let seq = ConnSeq {
                    connection,
                    seq: message.seq(),
                };
                self.emit(ClientEvent::Receipt {
                    seq,
                    receipt,
                    message,
                });
            }
            EsmeEvent::MobileOriginated { message } => {
                bump(&counters.mobile_originated);
                let seq = ConnSeq {
                    connection,
                    seq: message.seq(),
                };
                self.emit(ClientEvent::MobileOriginated { seq, message });
            }
            EsmeEvent::Alert { alert } => self.emit(ClientEvent::Alert { connection, alert }),
            EsmeEvent::LinkLost => warn!(target: TARGET, "enquire_link unanswered: link lost"),
            EsmeEvent::Unbound => info!(target: TARGET, "unbound"),
            EsmeEvent::PeerUnbound => info!(target: TARGET, "SMSC unbound"),
            EsmeEvent::GenericNack { seq, status } => {
                warn!(target: TARGET, seq, %status, "unmatched generic_nack");
            }
            EsmeEvent::UnexpectedResponse { pdu } => self.on_unexpected(pdu),
            EsmeEvent::ProtocolError { error } => {
                warn!(target: TARGET, %error, "undecodable PDU from the SMSC");
                self.emit(ClientEvent::ProtocolError { connection, error });
            }
            EsmeEvent::Closed { reason } => {
                debug!(target: TARGET, ?reason, "session closed");
                return Some(reason);
            }
        }
        None
    }

    /// A `submit_sm_resp` for `seq`: to its caller, or to the owner if the caller is gone.
    fn resolve(
        &mut self,
        seq: u32,
        status: CommandStatus,
        outcome: impl FnOnce() -> SubmitOutcome,
    ) {
        let outcome = outcome();
        let unclaimed = match self.in_flight.remove(&seq) {
            Some(queued) => self.settle(queued, Ok(outcome)).err(),
            None => Some(Ok(outcome)),
        };
        if let Some(Ok(outcome)) = unclaimed {
            let message_id = match outcome {
                SubmitOutcome::Accepted { message_id } => message_id,
                SubmitOutcome::Rejected { .. } => Default::default(),
            };
            self.late_response(seq, status, message_id);
        }
    }

    fn fail(&mut self, seq: u32, error: SubmitError) {
        if let Some(queued) = self.in_flight.remove(&seq) {
            let _ = self.settle(queued, Err(error));
        }
    }

    /// The SMSC did not take it: back in the queue at its place (resent after the pause), or
    /// `Throttled` to a caller that would rather not wait.
    fn on_throttled(&mut self, seq: u32, until: Instant) {
        let Some(queued) = self.in_flight.remove(&seq) else {
            return;
        };
        if queued.options.fail_when_throttled {
            let _ = self.settle(queued, Err(SubmitError::Throttled { until }));
        } else if !queued.is_cancelled() {
            self.queue.requeue(queued);
        }
    }

    fn on_unexpected(&mut self, pdu: Pdu) {
        match pdu.body {
            PduBody::SubmitSmResp(resp) => {
                self.late_response(pdu.sequence_number, pdu.command_status, resp.message_id);
            }
            body => {
                let pdu = Pdu { body, ..pdu };
                warn!(target: TARGET, command = %pdu.command_id(), seq = pdu.sequence_number, "unexpected response");
                self.emit(ClientEvent::UnexpectedResponse {
                    connection: self.connection,
                    pdu,
                });
            }
        }
    }

    fn late_response(&mut self, seq: u32, status: CommandStatus, message_id: crate::COctetString) {
        bump(&self.shared.counters.late_responses);
        let seq = ConnSeq {
            connection: self.connection,
            seq,
        };
        info!(target: TARGET, %seq, %status, message_id = %message_id.to_string_lossy(), "submit_sm_resp nobody awaited");
        self.emit(ClientEvent::LateSubmitResponse {
            seq,
            status,
            message_id,
        });
    }
}
