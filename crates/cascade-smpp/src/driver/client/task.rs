//! The connection task behind an [`EsmeClient`](super::EsmeClient): connect, run one
//! session, reconnect with back-off, until shut down.

use std::future::Future;
use std::io;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, trace, warn};

use super::dispatch::{Action, Core};
use super::{BindState, ClientEvent, ClientOptions, ShutdownOutcome};
use crate::driver::transport::{Connector, Io, Target, write_frames};
use crate::driver::{earliest, now, sleep_target};
use crate::esme_session::{CloseReason, EsmeConfig, EsmeEvent, EsmeSession, SessionState};
use cascade_pace::Backoff;

/// Read buffer size: a few PDUs per read; the session reassembles across reads.
const READ_BUF: usize = 16 * 1024;

/// Everything the task owns.
#[derive(Debug)]
pub(super) struct Task {
    pub(super) target: Target,
    pub(super) config: EsmeConfig,
    pub(super) options: ClientOptions,
    pub(super) connector: Connector,
    pub(super) actions: mpsc::UnboundedReceiver<Action>,
    pub(super) shutdown: CancellationToken,
    pub(super) core: Core,
    /// Every handle is gone: nobody can submit or shut down any more, so stop.
    pub(super) handles_gone: bool,
}

/// How one connection ended.
#[derive(Debug)]
struct ConnEnd {
    reason: CloseReason,
    error: Option<io::Error>,
    bound: bool,
}

impl Task {
    fn stopping(&self) -> bool {
        self.handles_gone || self.shutdown.is_cancelled()
    }

    /// Runs until shut down (or every handle is dropped).
    pub(super) async fn run(mut self) {
        let mut backoff =
            Backoff::new(self.options.reconnect_min, self.options.reconnect_max).series();
        let mut outcome = ShutdownOutcome::NotBound;
        while !self.stopping() {
            self.core.shared().set_state(BindState::Connecting);
            let connector = self.connector.clone();
            let target = self.target.clone();
            let timeout = self.options.connect_timeout;
            let connect = async move { connector.connect(&target, timeout).await };
            let Some(connected) = self.idle(connect).await else {
                break;
            };
            let retry_in = match connected {
                Err(error) => {
                    let retry_in = backoff.next_delay();
                    warn!(target: "cascade_smpp::driver::esme::connect", %error, ?retry_in, "connect failed");
                    self.core.shared().set_state(BindState::Disconnected);
                    self.core.on_link_down();
                    self.core.emit(ClientEvent::ConnectFailed {
                        error: Arc::new(error),
                        retry_in,
                    });
                    retry_in
                }
                Ok(io) => {
                    let connection = self.core.next_connection();
                    let span = info_span!("connection", id = connection);
                    let end = self.run_connection(io).instrument(span).await;
                    if end.bound {
                        backoff.reset();
                    }
                    self.core.on_link_down();
                    let stopping = self.stopping();
                    if stopping {
                        outcome = shutdown_outcome(end.reason, end.bound);
                    }
                    let retry_in = (!stopping).then(|| backoff.next_delay());
                    self.core.emit(ClientEvent::Disconnected {
                        connection,
                        reason: end.reason,
                        error: end.error.map(Arc::new),
                        retry_in,
                    });
                    match retry_in {
                        Some(delay) => delay,
                        None => break,
                    }
                }
            };
            self.core.shared().set_state(BindState::Disconnected);
            self.core.publish();
            debug!(target: "cascade_smpp::driver::esme::connect", ?retry_in, "reconnecting after delay");
            if self.idle(tokio::time::sleep(retry_in)).await.is_none() {
                break;
            }
        }
        self.core.begin_stop();
        // Requests handed over but not read yet (the shutdown won the race against them):
        // answer them rather than drop them, or a submit that never left would resolve
        // `Aborted` (fate unknown) instead of `Closed`.
        self.actions.close();
        while let Ok(action) = self.actions.try_recv() {
            self.core.on_action(None, action, now());
        }
        let outcome = self.core.shared().finish(outcome);
        info!(target: "cascade_smpp::driver::esme::connect", ?outcome, "stopped");
        self.core.emit(ClientEvent::Stopped { outcome });
    }

    /// Awaits `work` while serving handles without a session (submits queue or fail
    /// `NotBound`) and expiring queued submits. `None` when stopping.
    async fn idle<T>(&mut self, work: impl Future<Output = T>) -> Option<T> {
        tokio::pin!(work);
        loop {
            let wake = self.core.wake_at();
            tokio::select! {
                out = &mut work => return Some(out),
                () = self.shutdown.cancelled() => return None,
                action = self.actions.recv(), if !self.handles_gone => {
                    const TARGET: &str = "cascade_smpp::driver::esme::action";
                    match action {
                        Some(action) => {
                            trace!(target: TARGET, "action while not connected");
                            self.core.on_action(None, action, now());
                        }
                        None => {
                            debug!(target: TARGET, "every handle dropped: stopping");
                            self.handles_gone = true;
                            return None;
                        }
                    }
                }
                () = sleep_until(sleep_target(wake)), if wake.is_some() => {
                    const TARGET: &str = "cascade_smpp::driver::esme::timer";
                    trace!(target: TARGET, "queue deadline");
                    self.core.expire(now());
                }
            }
            self.core.publish();
        }
    }

    /// One TCP connection, one session: the loop documented on [`EsmeSession`].
    async fn run_connection(&mut self, mut io: Box<dyn Io>) -> ConnEnd {
        let mut session =
            EsmeSession::new(self.config.clone(), now()).expect("bind validated by connect()");
        let io_timeout = self.options.io_timeout;
        let mut buf = vec![0u8; READ_BUF];
        let mut out = BytesMut::new();
        let mut error: Option<io::Error> = None;
        let mut reason = None;
        let mut bound = false;
        let mut unbinding = false;
        debug!(target: "cascade_smpp::driver::esme::connect", "connected: binding");
        loop {
            let at = now();
            // The state first, so that whoever sees an event (`Bound`, a submit's fate) sees
            // the state that goes with it.
            self.core.shared().set_state(session.state().into());
            // Events next: responses free window slots and throttled submits re-queue,
            // so the pump below sees the window as it is now.
            while let Some(event) = session.poll_event() {
                bound |= matches!(event, EsmeEvent::Bound { .. });
                if let Some(closed) = self.core.on_event(event) {
                    reason = Some(closed);
                }
            }
            let cap_wake = self.core.pump(&mut session, at);
            self.core.publish();
            // Then every frame in one write and one flush (the pump's submits included).
            let frames = std::iter::from_fn(|| session.poll_transmit());
            if error.is_none() {
                const TARGET: &str = "cascade_smpp::driver::esme::write";
                match write_frames(&mut io, frames, &mut out, io_timeout).await {
                    Ok(0) => {}
                    Ok(count) => trace!(target: TARGET, count, "frames written"),
                    Err(e) => {
                        warn!(target: TARGET, error = %e, "write failed");
                        error = Some(e);
                        session.handle_disconnect(at);
                        continue;
                    }
                }
            } else {
                frames.for_each(drop);
            }
            if session.state() == SessionState::Closed {
                break;
            }
            let wake = earliest([session.poll_timeout(), self.core.wake_at(), cap_wake]);
            tokio::select! {
                read = io.read(&mut buf) => {
                    const TARGET: &str = "cascade_smpp::driver::esme::read";
                    match read {
                        Ok(0) => {
                            info!(target: TARGET, "SMSC closed the connection");
                            session.handle_disconnect(now());
                        }
                        Ok(n) => {
                            trace!(target: TARGET, bytes = n, "read");
                            session.handle_bytes(now(), &buf[..n]);
                        }
                        Err(e) => {
                            warn!(target: TARGET, error = %e, "read failed");
                            error = Some(e);
                            session.handle_disconnect(now());
                        }
                    }
                }
                action = self.actions.recv(), if !self.handles_gone => {
                    const TARGET: &str = "cascade_smpp::driver::esme::action";
                    match action {
                        Some(action) => {
                            trace!(target: TARGET, "action");
                            self.core.on_action(Some(&mut session), action, now());
                        }
                        None => {
                            info!(target: TARGET, "every handle dropped: unbinding");
                            self.handles_gone = true;
                            unbinding = true;
                            self.core.begin_stop();
                            session.unbind(now());
                        }
                    }
                }
                () = self.shutdown.cancelled(), if !unbinding => {
                    const TARGET: &str = "cascade_smpp::driver::esme::shutdown";
                    info!(target: TARGET, "shutdown requested: unbinding");
                    unbinding = true;
                    self.core.begin_stop();
                    session.unbind(now());
                }
                () = sleep_until(sleep_target(wake)), if wake.is_some() => {
                    const TARGET: &str = "cascade_smpp::driver::esme::timer";
                    trace!(target: TARGET, "timeout");
                    let at = now();
                    session.handle_timeout(at);
                    self.core.expire(at);
                }
            }
        }
        if error.is_none() {
            // A final unbind_resp may still be queued; then close (TLS: close_notify).
            let frames = std::iter::from_fn(|| session.poll_transmit());
            let _ = write_frames(&mut io, frames, &mut out, io_timeout).await;
            let _ = tokio::time::timeout(io_timeout, io.shutdown()).await;
        }
        ConnEnd {
            reason: reason.unwrap_or(CloseReason::Disconnected),
            error,
            bound,
        }
    }
}

/// What a shutdown achieved, from how the last session closed while stopping.
fn shutdown_outcome(reason: CloseReason, bound: bool) -> ShutdownOutcome {
    match reason {
        CloseReason::Unbound => ShutdownOutcome::Unbound,
        _ if !bound => ShutdownOutcome::NotBound,
        reason => ShutdownOutcome::Closed { reason },
    }
}
