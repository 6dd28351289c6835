//! [`SmscServer`]: an SMPP server for Cascade's SMSC simulator.

mod conn;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, info_span, warn};

use super::now;
use crate::error::AnswerError;
use crate::esme_session::CloseReason;
use crate::pdu::{BindMode, COctetString, CommandStatus, DataSm, DeliverSm, SubmitSm};
use crate::smsc_session::{DeliverRefused, SmscConfig, SmscSession};
use conn::ConnAction;

/// One accepted connection, numbered from 1 in accept order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What the server reports, in order per connection; `Disconnected` is a connection's last.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A TCP connection was accepted (TLS not yet negotiated).
    Connected {
        /// Its id.
        conn: ConnId,
        /// The ESME's address.
        peer: SocketAddr,
    },
    /// (`BindPolicy::Manual`.) An ESME asks to bind: answer with
    /// [`SmscServer::accept_bind`] or [`SmscServer::reject_bind`].
    BindRequested {
        /// Which connection.
        conn: ConnId,
        /// Which bind.
        mode: BindMode,
        /// The ESME's `system_id`.
        system_id: COctetString,
    },
    /// The ESME is bound.
    Bound {
        /// Which connection.
        conn: ConnId,
        /// The ESME's `system_id`.
        system_id: COctetString,
        /// Which bind.
        mode: BindMode,
    },
    /// A bind was refused (bad credentials, or `reject_bind`).
    BindRejected {
        /// Which connection.
        conn: ConnId,
        /// The status sent.
        status: CommandStatus,
    },
    /// A `submit_sm`: answer with [`SmscServer::accept`] or [`SmscServer::reject`].
    Submit {
        /// Which connection.
        conn: ConnId,
        /// Its sequence number, the key of the answer.
        seq: u32,
        /// The PDU body.
        submit: SubmitSm,
    },
    /// A `data_sm` from the ESME: answer it like a submit.
    DataSm {
        /// Which connection.
        conn: ConnId,
        /// Its sequence number.
        seq: u32,
        /// The PDU body.
        data: DataSm,
    },
    /// The connection is over (`PeerUnbound` when the ESME unbound, `Unbound` after ours,
    /// `Disconnected` for EOF, an I/O error or [`SmscServer::disconnect`], ...).
    Disconnected {
        /// Which connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
}

/// How a `deliver_sm` from [`SmscServer::send_deliver_sm`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliverOutcome {
    /// The ESME answered `ESME_ROK`.
    Acked,
    /// The ESME answered with an error (or `generic_nack`).
    Rejected(CommandStatus),
    /// No answer within `response_timeout`.
    TimedOut,
    /// The connection closed while the `deliver_sm` was unanswered.
    Aborted,
    /// The connection was gone (or closing) before the `deliver_sm` could be sent.
    Gone,
    /// The session refused to send it (`NotBound`: not bound, or a transmitter bind;
    /// `Invalid`: a field breaks an SMPP limit).
    Refused(DeliverRefused),
}

/// Why an answer from the [`SmscServer`] handle was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// No such connection (closed, or never existed).
    #[error("connection {conn} is gone")]
    Gone {
        /// The connection asked for.
        conn: ConnId,
    },
    /// The session refused the answer (unknown sequence number, no bind pending, an
    /// invalid message id).
    #[error(transparent)]
    Answer(#[from] AnswerError),
}

/// An SMPP server: a listener and one [`SmscSession`] task per accepted connection.
///
/// Every bind, submit and disconnect is reported on the `UnboundedReceiver<ServerEvent>`
/// returned by [`SmscServer::bind`]; the owner answers submits through the handle, in any
/// order and at any time, and pushes receipts and MO messages with
/// [`SmscServer::send_deliver_sm`]. Cheap to clone; it runs until [`SmscServer::shutdown`]
/// or until the last handle is dropped (both unbind every bound ESME politely).
#[derive(Debug, Clone)]
pub struct SmscServer {
    inner: Arc<Guard>,
}

/// Stops the server when the last handle goes.
#[derive(Debug)]
struct Guard {
    shared: Arc<Shared>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

/// What the accept loop, the connection tasks and the handles share.
#[derive(Debug)]
struct Shared {
    local_addr: SocketAddr,
    config: SmscConfig,
    conns: Mutex<BTreeMap<ConnId, ConnEntry>>,
    events: mpsc::UnboundedSender<ServerEvent>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

#[derive(Debug)]
struct ConnEntry {
    actions: mpsc::UnboundedSender<ConnAction>,
    mode: Option<BindMode>,
}

impl Shared {
    /// The connection table. A poisoned lock only means a task panicked mid-update of
    /// a plain map; the map itself is still consistent.
    fn conns(&self) -> MutexGuard<'_, BTreeMap<ConnId, ConnEntry>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, event: ServerEvent) {
        let _ = self.events.send(event);
    }

    fn send(&self, conn: ConnId, action: ConnAction) -> Result<(), ServerError> {
        self.conns()
            .get(&conn)
            .and_then(|entry| entry.actions.send(action).ok())
            .ok_or(ServerError::Gone { conn })
    }
}

/// Longest a batch of writes may block on an ESME that does not read.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed `accept` (out of file descriptors, ...).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

impl SmscServer {
    /// Listens on `addr` (port 0 picks a free port; see [`SmscServer::local_addr`]).
    ///
    /// # Errors
    ///
    /// The address cannot be bound, or `config.system_id` is too long for a bind
    /// response (`InvalidInput`).
    pub async fn bind(
        addr: SocketAddr,
        config: SmscConfig,
    ) -> io::Result<(SmscServer, mpsc::UnboundedReceiver<ServerEvent>)> {
        Self::start(addr, config, None).await
    }

    /// As [`SmscServer::bind`], with TLS on every connection.
    ///
    /// # Errors
    ///
    /// As for `bind`.
    pub async fn bind_tls(
        addr: SocketAddr,
        config: SmscConfig,
        tls: Arc<rustls::ServerConfig>,
    ) -> io::Result<(SmscServer, mpsc::UnboundedReceiver<ServerEvent>)> {
        Self::start(addr, config, Some(TlsAcceptor::from(tls))).await
    }

    async fn start(
        addr: SocketAddr,
        config: SmscConfig,
        tls: Option<TlsAcceptor>,
    ) -> io::Result<(SmscServer, mpsc::UnboundedReceiver<ServerEvent>)> {
        SmscSession::new(config.clone(), now())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(addr).await?;
        let (events, events_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            local_addr: listener.local_addr()?,
            config,
            conns: Mutex::new(BTreeMap::new()),
            events,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
        });
        let span = info_span!("smsc_server", addr = %shared.local_addr);
        shared
            .tracker
            .spawn(accept_loop(listener, Arc::clone(&shared), tls).instrument(span));
        let server = SmscServer {
            inner: Arc::new(Guard { shared }),
        };
        Ok((server, events_rx))
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared().local_addr
    }

    /// Answers `submit_sm`/`data_sm` `seq` of `conn` with `ESME_ROK` and `message_id`.
    ///
    /// # Errors
    ///
    /// `Gone` (connection closed), or `Answer` (unknown `seq`, message id over 64 chars).
    pub async fn accept(
        &self,
        conn: ConnId,
        seq: u32,
        message_id: impl Into<COctetString>,
    ) -> Result<(), ServerError> {
        let message_id = message_id.into();
        self.ask(conn, |reply| ConnAction::Answer {
            seq,
            status: CommandStatus::ESME_ROK,
            message_id,
            reply,
        })
        .await
    }

    /// Answers `submit_sm`/`data_sm` `seq` of `conn` with an error `status`
    /// (`ESME_RTHROTTLED`, `ESME_RINVDSTADR`, ...).
    ///
    /// # Errors
    ///
    /// As for [`SmscServer::accept`].
    pub async fn reject(
        &self,
        conn: ConnId,
        seq: u32,
        status: CommandStatus,
    ) -> Result<(), ServerError> {
        self.ask(conn, |reply| ConnAction::Answer {
            seq,
            status,
            message_id: COctetString::new(),
            reply,
        })
        .await
    }

    /// (`BindPolicy::Manual`.) Accepts the bind `conn` asked for.
    ///
    /// # Errors
    ///
    /// `Gone`, or `Answer(NoBindPending)`.
    pub async fn accept_bind(&self, conn: ConnId) -> Result<(), ServerError> {
        self.ask(conn, |reply| ConnAction::Bind {
            status: CommandStatus::ESME_ROK,
            reply,
        })
        .await
    }

    /// (`BindPolicy::Manual`.) Refuses the bind `conn` asked for with `status`.
    ///
    /// # Errors
    ///
    /// As for [`SmscServer::accept_bind`].
    pub async fn reject_bind(
        &self,
        conn: ConnId,
        status: CommandStatus,
    ) -> Result<(), ServerError> {
        self.ask(conn, |reply| ConnAction::Bind { status, reply })
            .await
    }

    async fn ask(
        &self,
        conn: ConnId,
        action: impl FnOnce(oneshot::Sender<Result<(), ServerError>>) -> ConnAction,
    ) -> Result<(), ServerError> {
        let (reply, rx) = oneshot::channel();
        self.shared().send(conn, action(reply))?;
        rx.await.unwrap_or(Err(ServerError::Gone { conn }))
    }

    /// Sends a `deliver_sm` (receipt or MO) to `conn`, queued behind earlier ones while the
    /// deliver window is full. The returned future resolves with the ESME's answer;
    /// dropping it does not recall the PDU once sent.
    pub fn send_deliver_sm(&self, conn: ConnId, deliver: DeliverSm) -> Delivery {
        let (reply, rx) = oneshot::channel();
        match self
            .shared()
            .send(conn, ConnAction::Deliver { deliver, reply })
        {
            Ok(()) => Delivery { rx: Some(rx) },
            Err(_) => Delivery { rx: None },
        }
    }

    /// Connections bound so that they can take `deliver_sm` (transceiver or receiver).
    pub fn bound_receivers(&self) -> Vec<ConnId> {
        self.shared()
            .conns()
            .iter()
            .filter(|(_, entry)| entry.mode.is_some_and(BindMode::can_receive))
            .map(|(&conn, _)| conn)
            .collect()
    }

    /// Every open connection with its bind mode (`None` until bound).
    pub fn connections(&self) -> Vec<(ConnId, Option<BindMode>)> {
        self.shared()
            .conns()
            .iter()
            .map(|(&conn, entry)| (conn, entry.mode))
            .collect()
    }

    /// Unbinds `conn` politely (closes it at once if it is not bound yet).
    ///
    /// # Errors
    ///
    /// `Gone`.
    pub fn unbind(&self, conn: ConnId) -> Result<(), ServerError> {
        self.shared().send(conn, ConnAction::Unbind)
    }

    /// Drops `conn`'s TCP connection without unbinding, as a failing SMSC would.
    ///
    /// # Errors
    ///
    /// `Gone`.
    pub fn disconnect(&self, conn: ConnId) -> Result<(), ServerError> {
        self.shared().send(conn, ConnAction::Disconnect)
    }

    /// Stops accepting, unbinds every connection politely and waits (up to
    /// `unbind_timeout` plus the I/O timeout) for all of them to close.
    pub async fn shutdown(&self) {
        let shared = self.shared();
        shared.shutdown.cancel();
        shared.tracker.close();
        let grace = shared.config.unbind_timeout + IO_TIMEOUT;
        if tokio::time::timeout(grace, shared.tracker.wait())
            .await
            .is_err()
        {
            warn!(target: "cascade_smpp::driver::smsc::shutdown", "connections still open after the grace period");
        }
    }
}

/// A `deliver_sm` on its way: resolves with the ESME's answer.
#[derive(Debug)]
#[must_use = "the outcome of the deliver_sm is only known by awaiting it"]
pub struct Delivery {
    rx: Option<oneshot::Receiver<DeliverOutcome>>,
}

impl Future for Delivery {
    type Output = DeliverOutcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DeliverOutcome> {
        match &mut self.get_mut().rx {
            Some(rx) => Pin::new(rx)
                .poll(cx)
                .map(|outcome| outcome.unwrap_or(DeliverOutcome::Gone)),
            None => Poll::Ready(DeliverOutcome::Gone),
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, tls: Option<TlsAcceptor>) {
    const TARGET: &str = "cascade_smpp::driver::smsc::accept";
    info!(target: TARGET, tls = tls.is_some(), "listening");
    let mut next = 1;
    loop {
        let accepted = tokio::select! {
            () = shared.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let conn = ConnId(next);
                next += 1;
                let (actions, actions_rx) = mpsc::unbounded_channel();
                shared.conns().insert(
                    conn,
                    ConnEntry {
                        actions,
                        mode: None,
                    },
                );
                shared.emit(ServerEvent::Connected { conn, peer });
                info!(target: TARGET, %conn, %peer, "accepted");
                let span = info_span!("smsc_conn", %conn, %peer);
                let task = conn::run(Arc::clone(&shared), conn, tcp, tls.clone(), actions_rx);
                shared.tracker.spawn(task.instrument(span));
            }
            Err(error) => {
                warn!(target: TARGET, %error, "accept failed");
                tokio::time::sleep(ACCEPT_RETRY).await;
            }
        }
    }
    info!(target: TARGET, "stopped accepting");
}
