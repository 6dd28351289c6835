//! [`EsmeClient`]: one ESME bind over TCP or TLS, with its submit queue and reconnects.

mod dispatch;
mod event;
mod options;
mod outcome;
mod queue;
mod stats;
mod task;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info_span};

pub use event::ClientEvent;
pub use options::{ClientOptions, SubmitOptions};
pub use outcome::{AckError, ConfigError, ConnSeq, ShutdownOutcome, SubmitError, SubmitOutcome};
pub use stats::{BindState, ClientStats};

use super::now;
use super::transport::{Connector, Target};
use crate::esme_session::{EsmeConfig, EsmeSession};
use crate::pdu::{CommandStatus, SubmitSm};
use dispatch::{Action, Core};
use stats::Shared;
use task::Task;

/// A handle to one ESME bind: cheap to clone, all clones drive the same connection.
///
/// [`EsmeClient::connect`] spawns the connection task and returns at once. The task
/// connects (TCP, or TLS through rustls), binds, runs the [`EsmeSession`] loop, and when
/// the session closes for any reason reconnects after a capped doubling delay
/// ([`ClientOptions::reconnect_min`] → [`ClientOptions::reconnect_max`], back to the
/// minimum after a successful bind), until [`EsmeClient::shutdown`] or until every handle
/// is dropped (which unbinds too).
///
/// # Submits
///
/// [`EsmeClient::submit`] hands the `submit_sm` to the task **when called** (so the call
/// order is the sending order) and returns a [`Submission`], a future of that submit's
/// final fate. The client queues what the session cannot take yet (window full, throttling
/// pause, throughput cap) and sends it, first in first out, as soon as it can; a submit the
/// SMSC answers with `ESME_RTHROTTLED`/`ESME_RMSGQFUL` goes back to its place in the queue
/// and is resent after the pause. The caller only awaits the end: `Accepted`, `Rejected`,
/// or a [`SubmitError`] that says whether the message was never sent or may have been
/// taken.
///
/// Dropping a `Submission` cancels the submit while it is still queued. Once the PDU is on
/// the wire it cannot be taken back: its response then arrives as
/// [`ClientEvent::LateSubmitResponse`].
///
/// # Events and state
///
/// Binds, disconnects, receipts, MO messages and late responses go to the
/// `UnboundedReceiver<ClientEvent>` returned with the handle; [`EsmeClient::stats`] and
/// [`EsmeClient::state_changes`] expose state and counters for metrics.
///
/// Logs never contain the password ([`EsmeConfig`]'s `Debug` masks it).
#[derive(Debug, Clone)]
pub struct EsmeClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    actions: mpsc::UnboundedSender<Action>,
    shutdown: CancellationToken,
    shutdown_timeout: std::time::Duration,
    shared: Arc<Shared>,
}

impl EsmeClient {
    /// Starts the connection task for `target` and returns its handle plus the event
    /// stream. Connecting happens in the background; watch `ClientEvent::Bound` or
    /// [`EsmeClient::state_changes`].
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the bind cannot be encoded or the TLS server name is invalid:
    /// neither would ever work, so nothing is started.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it spawns the task).
    pub fn connect(
        target: Target,
        config: EsmeConfig,
        options: ClientOptions,
    ) -> Result<(EsmeClient, mpsc::UnboundedReceiver<ClientEvent>), ConfigError> {
        EsmeSession::new(config.clone(), now()).map_err(ConfigError::Bind)?;
        let server_name = options.tls_server_name.as_deref();
        let connector =
            Connector::new(&target, options.tls_config.clone(), server_name).map_err(|_| {
                ConfigError::ServerName {
                    name: server_name.unwrap_or(&target.host).to_owned(),
                }
            })?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (actions_tx, actions_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::new());
        let shutdown = CancellationToken::new();
        let span = info_span!(
            "smpp_esme",
            name = %options.name,
            bind = options.bind_index,
            target = %target,
            system_id = %config.system_id.to_string_lossy(),
        );
        let inner = Inner {
            name: options.name.clone(),
            actions: actions_tx,
            shutdown: shutdown.clone(),
            shutdown_timeout: options.shutdown_timeout,
            shared: Arc::clone(&shared),
        };
        let task = Task {
            target,
            config,
            options,
            connector,
            actions: actions_rx,
            shutdown,
            core: Core::new(Arc::clone(&shared), events_tx),
            handles_gone: false,
        };
        let handle = tokio::spawn(task.run().instrument(span));
        let _ = shared.abort.set(handle.abort_handle());
        Ok((
            EsmeClient {
                inner: Arc::new(inner),
            },
            events_rx,
        ))
    }

    /// Submits with the default [`SubmitOptions`]: wait for the window and throttling
    /// pauses, fail `NotBound` when not bound, no deadline.
    pub fn submit(&self, submit: SubmitSm) -> Submission {
        self.submit_with(submit, SubmitOptions::default())
    }

    /// Submits with explicit options (deadline = the message's TTL, fail instead of waiting
    /// when throttled, wait for a bind). See the type docs for the queueing rules.
    pub fn submit_with(&self, submit: SubmitSm, options: SubmitOptions) -> Submission {
        let (reply, rx) = oneshot::channel();
        let action = Action::Submit {
            submit,
            options,
            reply,
        };
        match self.inner.actions.send(action) {
            Ok(()) => Submission {
                state: SubmissionState::Waiting(rx),
            },
            Err(_) => Submission {
                state: SubmissionState::Done(Some(SubmitError::Closed)),
            },
        }
    }

    /// (`manual_deliver_ack` only.) Answers the `deliver_sm`/`data_sm` that arrived as
    /// `ClientEvent::Receipt`/`MobileOriginated` with this `seq`: `ESME_ROK` once it is
    /// stored, or e.g. `ESME_RX_T_APPN` to have the SMSC retry later.
    ///
    /// # Errors
    ///
    /// [`AckError::Gone`] when its connection has closed (the SMSC delivers it again),
    /// `Unknown` when nothing waits under `seq`, `Closed` when the client has stopped.
    pub async fn ack_incoming(&self, seq: ConnSeq, status: CommandStatus) -> Result<(), AckError> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .actions
            .send(Action::Ack { seq, status, reply })
            .map_err(|_| AckError::Closed)?;
        rx.await.unwrap_or(Err(AckError::Closed))
    }

    /// Stops for good: queued submits fail `Closed`, a bound session is unbound politely
    /// (responses to submits in flight are still taken until the `unbind_resp`), and no
    /// reconnect follows. Waits up to [`ClientOptions::shutdown_timeout`], then aborts the
    /// task. Calling it again (from any clone) returns the same outcome.
    pub async fn shutdown(&self) -> ShutdownOutcome {
        self.inner.shutdown.cancel();
        let mut state = self.inner.shared.subscribe();
        let stopped = state.wait_for(|s| *s == BindState::Stopped);
        match tokio::time::timeout(self.inner.shutdown_timeout, stopped).await {
            Ok(_) => self
                .inner
                .shared
                .outcome()
                .unwrap_or(ShutdownOutcome::TimedOut),
            Err(_) => {
                if let Some(abort) = self.inner.shared.abort.get() {
                    abort.abort();
                }
                self.inner.shared.finish(ShutdownOutcome::TimedOut)
            }
        }
    }

    /// The name given in [`ClientOptions::name`].
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The current state.
    pub fn state(&self) -> BindState {
        self.inner.shared.state()
    }

    /// A receiver that sees every state change (e.g. wait for `Bound` with
    /// `wait_for(|s| *s == BindState::Bound)`).
    pub fn state_changes(&self) -> watch::Receiver<BindState> {
        self.inner.shared.subscribe()
    }

    /// State, gauges and counters, for metrics.
    pub fn stats(&self) -> ClientStats {
        self.inner.shared.snapshot()
    }
}

/// The final fate of one submit, from [`EsmeClient::submit`]. Dropping it cancels the
/// submit if it has not been sent yet.
#[derive(Debug)]
#[must_use = "dropping a Submission cancels the submit if it is still queued"]
pub struct Submission {
    state: SubmissionState,
}

#[derive(Debug)]
enum SubmissionState {
    Waiting(oneshot::Receiver<Result<SubmitOutcome, SubmitError>>),
    Done(Option<SubmitError>),
}

impl Future for Submission {
    type Output = Result<SubmitOutcome, SubmitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            // A reply dropped unanswered means the task died (aborted after a shutdown
            // timeout): the submit may have been on the wire, so its fate is unknown.
            SubmissionState::Waiting(rx) => Pin::new(rx)
                .poll(cx)
                .map(|reply| reply.unwrap_or(Err(SubmitError::Aborted))),
            SubmissionState::Done(error) => {
                Poll::Ready(Err(error.take().unwrap_or(SubmitError::Closed)))
            }
        }
    }
}
