//! One accepted connection: the [`SmscSession`] loop, the owner's answers, and the
//! `deliver_sm` waiting for a window slot.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep_until;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, trace, warn};

use super::{ConnId, DeliverOutcome, IO_TIMEOUT, ServerError, ServerEvent, Shared};
use crate::driver::transport::{Io, write_frames};
use crate::driver::{now, sleep_target};
use crate::esme_session::{CloseReason, SessionState};
use crate::pdu::{COctetString, CommandStatus, DeliverSm};
use crate::smsc_session::{DeliverRefused, SmscEvent, SmscSession};

const TARGET: &str = "cascade_smpp::driver::smsc::event";

/// A request from the [`SmscServer`](super::SmscServer) handle to one connection.
#[derive(Debug)]
pub(super) enum ConnAction {
    /// `accept` (`ESME_ROK` + id) or `reject` (status, empty id).
    Answer {
        seq: u32,
        status: CommandStatus,
        message_id: COctetString,
        reply: oneshot::Sender<Result<(), ServerError>>,
    },
    /// Manual bind policy: `ESME_ROK` accepts, anything else refuses.
    Bind {
        status: CommandStatus,
        reply: oneshot::Sender<Result<(), ServerError>>,
    },
    Deliver {
        deliver: DeliverSm,
        reply: oneshot::Sender<DeliverOutcome>,
    },
    Unbind,
    Disconnect,
}

/// The state of one connection besides its session.
struct Conn {
    shared: Arc<Shared>,
    id: ConnId,
    /// `deliver_sm` sent, by sequence number.
    deliveries: HashMap<u32, oneshot::Sender<DeliverOutcome>>,
    /// `deliver_sm` waiting for a window slot, in order.
    waiting: VecDeque<(DeliverSm, oneshot::Sender<DeliverOutcome>)>,
    reason: Option<CloseReason>,
}

/// Serves one connection until it closes, then reports `Disconnected`.
pub(super) async fn run(
    shared: Arc<Shared>,
    id: ConnId,
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    mut actions: mpsc::UnboundedReceiver<ConnAction>,
) {
    let _ = tcp.set_nodelay(true);
    let mut conn = Conn {
        shared: Arc::clone(&shared),
        id,
        deliveries: HashMap::new(),
        waiting: VecDeque::new(),
        reason: None,
    };
    let io: io::Result<Box<dyn Io>> = match tls {
        None => Ok(Box::new(tcp)),
        // A shutdown does not wait for a handshake: like a connection that has not bound
        // yet, it is simply closed.
        Some(acceptor) => tokio::select! {
            accepted = tokio::time::timeout(shared.config.bind_timeout, acceptor.accept(tcp)) => {
                accepted
                    .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")))
                    .map(|tls| Box::new(tls) as Box<dyn Io>)
            }
            () = shared.shutdown.cancelled() => {
                Err(io::Error::new(io::ErrorKind::Interrupted, "server shutting down"))
            }
        },
    };
    match io {
        Ok(io) => conn.serve(io, &mut actions).await,
        Err(error) => {
            warn!(target: "cascade_smpp::driver::smsc::accept", %error, "TLS handshake failed")
        }
    }
    conn.finish(&mut actions);
}

impl Conn {
    async fn serve(
        &mut self,
        mut io: Box<dyn Io>,
        actions: &mut mpsc::UnboundedReceiver<ConnAction>,
    ) {
        let mut session = SmscSession::new(self.shared.config.clone(), now())
            .expect("config validated by bind()");
        let mut buf = vec![0u8; 16 * 1024];
        let mut out = BytesMut::new();
        let mut failed = false;
        let mut unbinding = false;
        loop {
            let at = now();
            while let Some(event) = session.poll_event() {
                self.on_event(event);
            }
            self.pump(&mut session, at);
            let frames = std::iter::from_fn(|| session.poll_transmit());
            if failed {
                frames.for_each(drop);
            } else if let Err(error) = write_frames(&mut io, frames, &mut out, IO_TIMEOUT).await {
                warn!(target: "cascade_smpp::driver::smsc::write", %error, "write failed");
                failed = true;
                session.handle_disconnect(at);
                continue;
            }
            if session.state() == SessionState::Closed {
                break;
            }
            let wake = session.poll_timeout();
            tokio::select! {
                read = io.read(&mut buf) => {
                    const TARGET: &str = "cascade_smpp::driver::smsc::read";
                    match read {
                        Ok(0) => {
                            debug!(target: TARGET, "ESME closed the connection");
                            session.handle_disconnect(now());
                        }
                        Ok(n) => {
                            trace!(target: TARGET, bytes = n, "read");
                            session.handle_bytes(now(), &buf[..n]);
                        }
                        Err(error) => {
                            warn!(target: TARGET, %error, "read failed");
                            failed = true;
                            session.handle_disconnect(now());
                        }
                    }
                }
                action = actions.recv() => {
                    const TARGET: &str = "cascade_smpp::driver::smsc::action";
                    match action {
                        Some(ConnAction::Disconnect) | None => {
                            info!(target: TARGET, "dropping the connection");
                            failed = true; // no goodbye: just close the socket
                            session.handle_disconnect(now());
                        }
                        Some(action) => self.on_action(&mut session, action),
                    }
                }
                () = self.shared.shutdown.cancelled(), if !unbinding => {
                    const TARGET: &str = "cascade_smpp::driver::smsc::shutdown";
                    info!(target: TARGET, "server shutting down: unbinding");
                    unbinding = true;
                    session.unbind(now());
                }
                () = sleep_until(sleep_target(wake)), if wake.is_some() => {
                    const TARGET: &str = "cascade_smpp::driver::smsc::timer";
                    trace!(target: TARGET, "timeout");
                    session.handle_timeout(now());
                }
            }
        }
        while let Some(event) = session.poll_event() {
            self.on_event(event);
        }
        if !failed {
            let frames = std::iter::from_fn(|| session.poll_transmit());
            let _ = write_frames(&mut io, frames, &mut out, IO_TIMEOUT).await;
            let _ = tokio::time::timeout(IO_TIMEOUT, io.shutdown()).await;
        }
    }

    fn on_action(&mut self, session: &mut SmscSession, action: ConnAction) {
        match action {
            ConnAction::Answer {
                seq,
                status,
                message_id,
                reply,
            } => {
                let result = if status.is_ok() {
                    session.accept(seq, message_id)
                } else {
                    session.reject(seq, status)
                };
                let _ = reply.send(result.map_err(ServerError::from));
            }
            ConnAction::Bind { status, reply } => {
                let result = if status.is_ok() {
                    session.accept_bind(now())
                } else {
                    session.reject_bind(status)
                };
                let _ = reply.send(result.map_err(ServerError::from));
            }
            ConnAction::Deliver { deliver, reply } => self.waiting.push_back((deliver, reply)),
            ConnAction::Unbind => session.unbind(now()),
            ConnAction::Disconnect => session.handle_disconnect(now()),
        }
    }

    /// Sends waiting `deliver_sm` while the window has room.
    fn pump(&mut self, session: &mut SmscSession, at: std::time::Instant) {
        while let Some((deliver, reply)) = self.waiting.front() {
            if reply.is_closed() {
                self.waiting.pop_front();
                continue;
            }
            let outcome = match session.send_deliver_sm(at, deliver) {
                Err(DeliverRefused::WindowFull) => return,
                Ok(seq) => {
                    let (_, reply) = self.waiting.pop_front().expect("front() was Some");
                    self.deliveries.insert(seq, reply);
                    continue;
                }
                Err(DeliverRefused::Closing) => DeliverOutcome::Gone,
                Err(refused) => DeliverOutcome::Refused(refused),
            };
            let (_, reply) = self.waiting.pop_front().expect("front() was Some");
            let _ = reply.send(outcome);
        }
    }

    fn resolve(&mut self, seq: u32, outcome: DeliverOutcome) {
        if let Some(reply) = self.deliveries.remove(&seq) {
            let _ = reply.send(outcome);
        }
    }

    fn set_mode(&self, mode: Option<crate::pdu::BindMode>) {
        if let Some(entry) = self.shared.conns().get_mut(&self.id) {
            entry.mode = mode;
        }
    }

    fn on_event(&mut self, event: SmscEvent) {
        let conn = self.id;
        match event {
            SmscEvent::BindRequested { mode, bind } => {
                self.shared.emit(ServerEvent::BindRequested {
                    conn,
                    mode,
                    system_id: bind.system_id,
                });
            }
            SmscEvent::Bound { mode, bind } => {
                info!(target: TARGET, ?mode, system_id = %bind.system_id.to_string_lossy(), "bound");
                self.set_mode(Some(mode));
                self.shared.emit(ServerEvent::Bound {
                    conn,
                    system_id: bind.system_id,
                    mode,
                });
            }
            SmscEvent::BindRejected { status, .. } => {
                info!(target: TARGET, %status, "bind refused");
                self.shared.emit(ServerEvent::BindRejected { conn, status });
            }
            SmscEvent::SubmitReceived { seq, submit } => {
                self.shared.emit(ServerEvent::Submit { conn, seq, submit });
            }
            SmscEvent::DataSmReceived { seq, data } => {
                self.shared.emit(ServerEvent::DataSm { conn, seq, data });
            }
            SmscEvent::DeliverAcked { seq } => self.resolve(seq, DeliverOutcome::Acked),
            SmscEvent::DeliverRejected { seq, status } => {
                self.resolve(seq, DeliverOutcome::Rejected(status));
            }
            SmscEvent::DeliverTimedOut { seq } => self.resolve(seq, DeliverOutcome::TimedOut),
            SmscEvent::DeliverAborted { seq } => self.resolve(seq, DeliverOutcome::Aborted),
            SmscEvent::LinkLost => warn!(target: TARGET, "enquire_link unanswered: link lost"),
            SmscEvent::Unbound => info!(target: TARGET, "unbound"),
            SmscEvent::PeerUnbound => info!(target: TARGET, "ESME unbound"),
            SmscEvent::GenericNack { seq, status } => {
                warn!(target: TARGET, seq, %status, "unmatched generic_nack");
            }
            SmscEvent::UnexpectedResponse { pdu } => {
                warn!(target: TARGET, command = %pdu.command_id(), seq = pdu.sequence_number, "unexpected response");
            }
            SmscEvent::ProtocolError { error } => {
                warn!(target: TARGET, %error, "undecodable PDU from the ESME");
            }
            SmscEvent::Closed { reason } => {
                debug!(target: TARGET, ?reason, "session closed");
                self.set_mode(None);
                self.reason = Some(reason);
            }
        }
    }

    /// Unregisters the connection, settles every waiter and reports `Disconnected`.
    fn finish(mut self, actions: &mut mpsc::UnboundedReceiver<ConnAction>) {
        self.shared.conns().remove(&self.id);
        actions.close();
        for (_, reply) in self.deliveries.drain() {
            let _ = reply.send(DeliverOutcome::Aborted);
        }
        let late = std::iter::from_fn(|| actions.try_recv().ok());
        for action in late {
            match action {
                ConnAction::Answer { reply, .. } | ConnAction::Bind { reply, .. } => {
                    let _ = reply.send(Err(ServerError::Gone { conn: self.id }));
                }
                ConnAction::Deliver { reply, .. } => {
                    let _ = reply.send(DeliverOutcome::Gone);
                }
                ConnAction::Unbind | ConnAction::Disconnect => {}
            }
        }
        for (_, reply) in self.waiting.drain(..) {
            let _ = reply.send(DeliverOutcome::Gone);
        }
        let reason = self.reason.unwrap_or(CloseReason::Disconnected);
        self.shared.emit(ServerEvent::Disconnected {
            conn: self.id,
            reason,
        });
    }
}
