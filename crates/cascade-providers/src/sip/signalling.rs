//! SIP signalling behind a small trait of ours ([`SipStack`], [`SipCall`]), implemented
//! on rsipstack (pinned) by [`RsipStack`].
//!
//! The trait is what a call needs and no more: place an INVITE with an SDP offer, learn
//! its responses, cancel it while it rings, hang it up, and hear the callee's BYE. The
//! stack answers in-dialog OPTIONS and re-INVITEs itself (200, with the same SDP for a
//! re-INVITE) and re-ACKs retransmitted 200s. Should rsipstack's churn or a bug get in
//! the way, another implementation replaces this one without touching the call logic.
//!
//! Calls through the trunk carry a preloaded `Route` to it: rsipstack sends a CANCEL to
//! the Request-URI's host unless a route set says otherwise (found while researching;
//! `shared/voice/sip-notes.md` §1), and through a proxy that is the wrong place.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use async_trait::async_trait;
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{Dialog, DialogState, DialogStateReceiver, TerminatedReason};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::{InviteAsyncResult, InviteOption};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Method, StatusCode};
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipAddr, TcpListenerConnection, TransportLayer};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use super::settings::{SipSettings, SipTransport};

/// One call to place.
#[derive(Debug, Clone)]
pub struct Dial {
    /// `sip:+302101234567@trunk:5060` or `sip:bob@pbx.example.net:5070`.
    pub request_uri: String,
    /// The From user (caller id).
    pub from_user: String,
    /// Whether the call goes through the trunk (a phone number) rather than straight
    /// to the address dialled.
    pub via_trunk: bool,
    /// The SDP offer.
    pub offer: String,
    /// The Call-ID to use (unique per call attempt).
    pub call_id: String,
}

/// What the signalling says about a call, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipEvent {
    /// 100 Trying: the next hop has the INVITE.
    Trying,
    /// A digest challenge (401, 407), answered by the stack with the credentials.
    Challenged { code: u16, reason: String },
    /// A provisional response other than 100 (180, 183).
    Provisional { code: u16, reason: String },
    /// 2xx to the INVITE (ACKed), with the SDP answer.
    Answered {
        code: u16,
        reason: String,
        sdp: String,
    },
    /// A final non-2xx response (after at most one digest retry).
    Refused { code: u16, reason: String },
    /// No response at all (timer B).
    NoResponse,
    /// The request could not be sent or its connection failed.
    Transport(String),
    /// The callee hung up (its BYE was answered with 200).
    RemoteBye,
}

/// One call's signalling.
#[async_trait]
pub trait SipCall: Send {
    /// The next event; `None` once the call's signalling is over.
    async fn event(&mut self) -> Option<SipEvent>;
    /// Cancel the INVITE (sent once it has had a provisional response).
    async fn cancel(&mut self);
    /// Send BYE.
    async fn hangup(&mut self);
}

/// Places calls.
#[async_trait]
pub trait SipStack: Send + Sync + std::fmt::Debug {
    /// Send the INVITE.
    ///
    /// # Errors
    /// When the request cannot even be built or sent.
    async fn dial(&self, dial: Dial) -> Result<Box<dyn SipCall>, String>;
    /// The address Cascade gives for itself (Contact, SDP).
    fn advertised_ip(&self) -> IpAddr;
    /// Stop the stack.
    fn shutdown(&self);
}

/// Challenges (401, 407) to INVITEs, by Call-ID, seen on the wire: rsipstack answers
/// them itself, and the call's timeline still names them.
#[derive(Default)]
struct Challenges {
    calls: std::sync::Mutex<
        std::collections::HashMap<String, tokio::sync::mpsc::UnboundedSender<SipEvent>>,
    >,
}

impl Challenges {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<String, tokio::sync::mpsc::UnboundedSender<SipEvent>>,
    > {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

struct Inspector(Arc<Challenges>);

impl rsipstack::transaction::endpoint::MessageInspector for Inspector {
    fn before_send(
        &self,
        msg: rsipstack::sip::SipMessage,
        _: Option<&SipAddr>,
    ) -> rsipstack::sip::SipMessage {
        msg
    }

    fn after_received(
        &self,
        msg: rsipstack::sip::SipMessage,
        _: Option<&SipAddr>,
    ) -> rsipstack::sip::SipMessage {
        use rsipstack::sip::prelude::HeadersExt;
        if let rsipstack::sip::SipMessage::Response(response) = &msg {
            let code = response.status_code.code();
            if (code == 401 || code == 407)
                && let Ok(call_id) = response.call_id_header()
                && let Some(tx) = self.0.lock().get(call_id.value())
            {
                let _ = tx.send(SipEvent::Challenged {
                    code,
                    reason: reason_of(response),
                });
            }
        }
        msg
    }
}

/// [`SipStack`] on rsipstack.
pub struct RsipStack {
    challenges: Arc<Challenges>,
    layer: Arc<DialogLayer>,
    credential: Option<Credential>,
    trunk: SipAddr,
    trunk_route: String,
    contact_host: String,
    advertised: IpAddr,
    stop: CancellationToken,
}

impl std::fmt::Debug for RsipStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsipStack")
            .field("trunk", &self.trunk_route)
            .field("contact", &self.contact_host)
            .finish_non_exhaustive()
    }
}

/// The local address packets to `host` leave from (no packet is sent: a UDP socket
/// "connected" only picks the route).
fn route_source(host: &str, port: u16) -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect((host, port)).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

impl RsipStack {
    /// Bind the SIP socket(s) and start serving.
    ///
    /// # Errors
    /// When the listening address cannot be bound.
    pub async fn start(settings: &SipSettings) -> Result<Arc<RsipStack>, String> {
        let stop = CancellationToken::new();
        let transports = TransportLayer::new(stop.child_token());
        let socket = tokio::net::UdpSocket::bind(settings.sip_listen)
            .await
            .map_err(|e| format!("binding SIP on {}: {e}", settings.sip_listen))?;
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        let advertised = settings.external_ip.unwrap_or_else(|| {
            if local.ip().is_unspecified() {
                route_source(&settings.trunk.host, settings.trunk.port)
                    .unwrap_or(IpAddr::from([127, 0, 0, 1]))
            } else {
                local.ip()
            }
        });
        let external =
            (advertised != local.ip()).then_some(SocketAddr::new(advertised, local.port()));
        let udp = UdpConnection::from_socket(Arc::new(socket), external, Some(stop.child_token()))
            .await
            .map_err(|e| format!("SIP socket: {e}"))?;
        transports.add_transport(udp.into());
        if settings.trunk.transport == SipTransport::Tcp {
            let tcp = TcpListenerConnection::new(local, external)
                .await
                .map_err(|e| format!("binding SIP over TCP on {local}: {e}"))?;
            transports.add_transport(tcp.into());
        }
        let challenges = Arc::new(Challenges::default());
        let endpoint = rsipstack::EndpointBuilder::new()
            .with_inspector(Box::new(Inspector(Arc::clone(&challenges))))
            .with_transport_layer(transports)
            .with_cancel_token(stop.child_token())
            .with_user_agent(concat!("Cascade/", env!("CARGO_PKG_VERSION")))
            .build();
        let inner = endpoint.inner.clone();
        tokio::spawn(async move {
            if let Err(e) = inner.serve().await {
                tracing::warn!(error = %e, "the SIP endpoint stopped");
            }
        });
        let mut incoming = endpoint
            .incoming_transactions()
            .map_err(|e| format!("SIP endpoint: {e}"))?;
        let layer = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let dialogs = Arc::clone(&layer);
        let done = stop.child_token();
        tokio::spawn(async move {
            // Keeps the endpoint alive as long as requests are served.
            let _endpoint = endpoint;
            loop {
                let mut tx = tokio::select! {
                    () = done.cancelled() => break,
                    tx = incoming.recv() => match tx { Some(tx) => tx, None => break },
                };
                match dialogs.match_dialog(&tx) {
                    Some(Dialog::Invite(mut dialog)) => {
                        tokio::spawn(async move {
                            if let Err(e) = dialog.handle(&mut tx).await {
                                tracing::debug!(error = %e, "in-dialog request");
                            }
                        });
                    }
                    _ => {
                        let code = match tx.original.method {
                            Method::Options => StatusCode::OK,
                            Method::Ack => continue,
                            // Not a call of ours (a BYE for a call already over, say).
                            _ => StatusCode::CallTransactionDoesNotExist,
                        };
                        tokio::spawn(async move {
                            if let Err(e) = tx.reply(code).await {
                                tracing::debug!(error = %e, "answering an out-of-dialog request");
                            }
                        });
                    }
                }
            }
        });
        let t = &settings.trunk;
        let kind = match t.transport {
            SipTransport::Udp => rsipstack::sip::Transport::Udp,
            SipTransport::Tcp => rsipstack::sip::Transport::Tcp,
        };
        let trunk = SipAddr::new(
            kind,
            rsipstack::sip::HostWithPort::try_from(format!("{}:{}", t.host, t.port).as_str())
                .map_err(|e| format!("trunk address: {e}"))?,
        );
        let credential = match (&settings.username, &settings.password) {
            (Some(user), Some(password)) => Some(Credential {
                username: user.clone(),
                password: password.expose_secret().to_owned(),
                realm: None,
                auth_username: settings.auth_username.clone(),
            }),
            _ => None,
        };
        Ok(Arc::new(RsipStack {
            challenges,
            layer,
            credential,
            trunk,
            trunk_route: format!(
                "sip:{}:{};transport={};lr",
                t.host,
                t.port,
                t.transport.name()
            ),
            contact_host: match advertised {
                IpAddr::V6(v6) => format!("[{v6}]:{}", local.port()),
                IpAddr::V4(v4) => format!("{v4}:{}", local.port()),
            },
            advertised,
            stop,
        }))
    }
}

fn parse_uri(text: &str) -> Result<rsipstack::sip::Uri, String> {
    rsipstack::sip::Uri::try_from(text).map_err(|e| format!("SIP address {text:?}: {e}"))
}

#[async_trait]
impl SipStack for RsipStack {
    async fn dial(&self, dial: Dial) -> Result<Box<dyn SipCall>, String> {
        let callee = parse_uri(&dial.request_uri)?;
        let caller = parse_uri(&format!("sip:{}@{}", dial.from_user, self.contact_host))?;
        let contact = parse_uri(&format!("sip:{}@{}", dial.from_user, self.contact_host))?;
        let (destination, route_set) = if dial.via_trunk {
            let route = rsipstack::sip::typed::Route {
                display_name: None,
                uri: parse_uri(&self.trunk_route)?,
                params: Vec::new(),
            };
            (Some(self.trunk.clone()), vec![route])
        } else {
            (None, Vec::new())
        };
        let option = InviteOption {
            caller,
            callee,
            destination,
            content_type: Some("application/sdp".into()),
            offer: Some(dial.offer.clone().into_bytes()),
            contact,
            credential: self.credential.clone(),
            call_id: Some(dial.call_id.clone()),
            route_set,
            ..Default::default()
        };
        let (challenge_tx, challenges) = tokio::sync::mpsc::unbounded_channel();
        self.challenges
            .lock()
            .insert(dial.call_id.clone(), challenge_tx);
        let (states_tx, states) = self.layer.new_dialog_state_channel();
        let (dialog, result) = self
            .layer
            .do_invite_async(option, states_tx)
            .map_err(|e| format!("INVITE: {e}"))?;
        Ok(Box::new(RsipCall {
            call_id: dial.call_id.clone(),
            registry: Arc::clone(&self.challenges),
            challenges,
            layer: Arc::clone(&self.layer),
            dialog,
            states,
            result: Some(result),
            answered: false,
            over: false,
            offer: dial.offer.into_bytes(),
        }))
    }

    fn advertised_ip(&self) -> IpAddr {
        self.advertised
    }

    fn shutdown(&self) {
        self.stop.cancel();
    }
}

/// One call on rsipstack.
struct RsipCall {
    call_id: String,
    registry: Arc<Challenges>,
    challenges: tokio::sync::mpsc::UnboundedReceiver<SipEvent>,
    layer: Arc<DialogLayer>,
    dialog: InviteDialog,
    states: DialogStateReceiver,
    /// The INVITE transaction's outcome, until it came.
    result: Option<tokio::task::JoinHandle<InviteAsyncResult>>,
    answered: bool,
    over: bool,
    /// Answered again to a re-INVITE.
    offer: Vec<u8>,
}

fn reason_of(response: &rsipstack::sip::Response) -> String {
    response
        .wire_reason
        .clone()
        .unwrap_or_else(|| standard_reason(response.status_code.code()).to_owned())
}

/// The standard reason phrases of the responses a call meets (RFC 3261 §21).
fn standard_reason(code: u16) -> &'static str {
    match code {
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        415 => "Unsupported Media Type",
        480 => "Temporarily Unavailable",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        _ => "",
    }
}

impl RsipCall {
    fn finish(&mut self) {
        if !self.over {
            self.over = true;
            self.layer.remove_dialog(&self.dialog.id());
            self.registry.lock().remove(&self.call_id);
        }
    }

    async fn on_state(&mut self, state: DialogState) -> Option<SipEvent> {
        match state {
            DialogState::Trying(_) => Some(SipEvent::Trying),
            DialogState::Early(_, response) => Some(SipEvent::Provisional {
                code: response.status_code.code(),
                reason: reason_of(&response),
            }),
            DialogState::Terminated(_, TerminatedReason::UasBye) if self.answered => {
                self.finish();
                Some(SipEvent::RemoteBye)
            }
            DialogState::Options(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
                None
            }
            DialogState::Updated(_, request, handle) => {
                // A re-INVITE (hold, session refresh) or UPDATE: the media stays as it
                // was, so the answer is the same SDP.
                let body = (request.method == Method::Invite).then(|| self.offer.clone());
                let headers = body.as_ref().map(|_| {
                    vec![rsipstack::sip::Header::ContentType(
                        "application/sdp".into(),
                    )]
                });
                let _ = handle.respond(StatusCode::OK, headers, body).await;
                None
            }
            DialogState::Info(_, _, handle)
            | DialogState::Message(_, _, handle)
            | DialogState::Notify(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
                None
            }
            DialogState::Refer(_, _, handle) | DialogState::Publish(_, _, handle) => {
                let _ = handle.reply(StatusCode::MethodNotAllowed).await;
                None
            }
            _ => None,
        }
    }
}

#[async_trait]
impl SipCall for RsipCall {
    async fn event(&mut self) -> Option<SipEvent> {
        loop {
            if self.over {
                return None;
            }
            let state = if let Some(result) = self.result.as_mut() {
                tokio::select! {
                    biased;
                    Some(challenge) = self.challenges.recv() => return Some(challenge),
                    state = self.states.recv() => state,
                    outcome = result => {
                        self.result = None;
                        let event = match outcome {
                            Err(e) => SipEvent::Transport(format!("INVITE task: {e}")),
                            Ok(Err(e)) => SipEvent::Transport(e.to_string()),
                            Ok(Ok((_, None))) => SipEvent::NoResponse,
                            Ok(Ok((_, Some(response)))) => {
                                let code = response.status_code.code();
                                let reason = reason_of(&response);
                                if (200..300).contains(&code) {
                                    self.answered = true;
                                    SipEvent::Answered {
                                        code,
                                        reason,
                                        sdp: String::from_utf8_lossy(&response.body).into_owned(),
                                    }
                                } else {
                                    SipEvent::Refused { code, reason }
                                }
                            }
                        };
                        if !self.answered {
                            self.finish();
                        }
                        return Some(event);
                    }
                }
            } else {
                self.states.recv().await
            };
            let Some(state) = state else {
                self.finish();
                return None;
            };
            if let Some(event) = self.on_state(state).await {
                return Some(event);
            }
        }
    }

    async fn cancel(&mut self) {
        if let Err(e) = self.dialog.cancel().await {
            tracing::debug!(error = %e, "CANCEL");
        }
    }

    async fn hangup(&mut self) {
        if let Err(e) = self.dialog.bye().await {
            tracing::debug!(error = %e, "BYE");
        }
        self.finish();
    }
}

impl Drop for RsipCall {
    fn drop(&mut self) {
        self.finish();
    }
}
