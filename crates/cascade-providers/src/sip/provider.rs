//! The `sip` provider: Voice steps placed by Cascade itself over a SIP trunk (or
//! straight to a SIP address), with our own RTP, speech and machine detection
//! (voice-sip §2).
//!
//! `submit` makes the call's audio (TTS and PLAY files, cached), records the dial durably
//! ([`ReportSink::claim_dial`]: a step whose INVITE went out before a crash is never
//! dialled again), sends the INVITE and waits for the first response. A trunk that says
//! nothing within the section's `timeout_seconds` counts as down: the attempt is
//! abandoned (its INVITE cancelled should it still answer) and failover offers the step
//! to the next provider. Otherwise the step is accepted and the call runs on its own
//! task, which reports every stage (Ringing, InProgress, the detector's verdict, the end)
//! under the step's message id.
//!
//! One task per call drives it: SIP events into the sans-IO [`Call`], an RTP frame out
//! every 20 ms on absolute deadlines (speech or silence), the received audio framed on
//! the same clock into the detector (a frame that did not come is silence).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cascade_core::flow::{Gender, StepKind, Verb, VoiceStep};
use cascade_core::machines::Report;
use cascade_core::ports::{Accepted, Provider, ReportSink, SubmitError, SubmitRequest};
use cascade_core::sip_outcome::{CallEnd, outcome};
use cascade_core::{Clock, StatusKind, reasons};
use cascade_media::g711::Codec;
use cascade_media::playback::{self, Segment};
use cascade_media::remote::{Learning, Remote};
use cascade_media::rtp::Packet;
use cascade_media::stream::{Receiver, Sender};
use cascade_media::{FRAME_SAMPLES, sdp};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::call::{Action, Call, Event};
use super::play::Player;
use super::settings::SipSettings;
use super::signalling::{Dial, SipCall, SipEvent, SipStack};
use super::tts::Tts;
use crate::http::settings::Common;

/// How long a CANCEL or BYE may take before the call is let go.
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(5);

/// A provider that places calls itself; see the module documentation.
pub struct SipProvider {
    inner: Arc<Inner>,
}

struct Inner {
    common: Common,
    settings: SipSettings,
    stack: Arc<dyn SipStack>,
    tts: Tts,
    player: Player,
    sink: Arc<dyn ReportSink>,
    clock: Arc<dyn Clock>,
    submit_window: Duration,
    next_port: AtomicU32,
    /// Steps (message ids) whose INVITE this process gave up on before any response:
    /// dialling them again is a retry, not a second call (see `submit`).
    abandoned: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for SipProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipProvider")
            .field("name", &self.inner.common.name)
            .field("stack", &self.inner.stack)
            .finish_non_exhaustive()
    }
}

impl Drop for SipProvider {
    fn drop(&mut self) {
        self.inner.stack.shutdown();
    }
}

impl SipProvider {
    /// A provider on `stack`.
    ///
    /// # Errors
    /// When the TTS command or the PLAY client cannot be set up.
    pub fn new(
        common: Common,
        settings: SipSettings,
        stack: Arc<dyn SipStack>,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn ReportSink>,
        submit_window: Duration,
    ) -> Result<SipProvider, String> {
        let tts = Tts::new(&settings.tts_command).map_err(|e| e.to_string())?;
        let player = Player::new(Duration::from_secs(15))?;
        let first = u32::from(*settings.rtp_ports.start());
        Ok(SipProvider {
            inner: Arc::new(Inner {
                common,
                settings,
                stack,
                tts,
                player,
                sink,
                clock,
                submit_window,
                next_port: AtomicU32::new(first),
                abandoned: std::sync::Mutex::new(std::collections::HashSet::new()),
            }),
        })
    }

    /// Start the provider a section describes: bind its SIP socket(s) on rsipstack.
    ///
    /// # Errors
    /// When the SIP socket cannot be bound or the TTS command is unusable.
    pub async fn start(
        common: Common,
        settings: SipSettings,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn ReportSink>,
        submit_window: Duration,
    ) -> Result<SipProvider, String> {
        let stack = super::signalling::RsipStack::start(&settings).await?;
        SipProvider::new(common, settings, stack, clock, sink, submit_window)
    }
}

/// Where a step's call goes: the Request-URI, and whether through the trunk.
fn target(
    provider: &str,
    settings: &SipSettings,
    step: &VoiceStep,
) -> Result<(String, bool), SubmitError> {
    if let Some(phone) = &step.to.phone {
        let t = &settings.trunk;
        let transport = match t.transport {
            super::settings::SipTransport::Udp => "",
            super::settings::SipTransport::Tcp => ";transport=tcp",
        };
        return Ok((
            format!("sip:{phone}@{}:{}{transport}", t.host, t.port),
            true,
        ));
    }
    if let Some(sip) = &step.to.sip {
        let bare = sip.as_ref().strip_prefix("sip:").unwrap_or(sip.as_ref());
        return Ok((format!("sip:{bare}"), false));
    }
    Err(SubmitError::from(reasons::unsupported_by_provider(
        provider,
        "a Viber call",
    )))
}

/// A SIP user part: unreserved characters as they are, anything else percent-encoded
/// (RFC 3261 §25.1), so any sender name can be a caller id.
fn sip_user(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()+".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Inner {
    /// The call's audio: every verb in order, made or fetched (cached), 8 kHz.
    async fn audio(&self, step: &VoiceStep) -> Result<Vec<i16>, SubmitError> {
        let verbs: Vec<playback::Verb> = step
            .dial_plan
            .iter()
            .map(|v| match v {
                Verb::Say {
                    text,
                    language,
                    gender,
                    repeat,
                    ..
                } => playback::Verb::Say {
                    text: text.clone(),
                    language: language.clone(),
                    female: *gender == Gender::Female,
                    repeat: *repeat,
                },
                Verb::Play {
                    file_url, repeat, ..
                } => playback::Verb::Play {
                    url: file_url.clone(),
                    repeat: *repeat,
                },
            })
            .collect();
        let name = &self.common.name;
        let segments = playback::plan(&verbs)
            .map_err(|e| SubmitError::from(reasons::unsupported_by_provider(name, e)))?;
        let mut out = Vec::new();
        for segment in segments {
            match segment {
                Segment::Speech { text, voice } => {
                    // The TTS command not working is the provider's outage, not the
                    // message's fault: another provider may speak it.
                    let speech = self.tts.speak(&text, &voice).await.map_err(|e| {
                        SubmitError::Misconfigured {
                            reason: format!("{name}: {e}"),
                        }
                    })?;
                    out.extend_from_slice(&speech);
                }
                Segment::File { url } => {
                    let file = self.player.fetch(&url).await.map_err(|e| {
                        SubmitError::from(reasons::call_failed_because(name, &e.to_string()))
                    })?;
                    out.extend_from_slice(&file);
                }
                Segment::Silence { ms } => {
                    out.resize(out.len() + (ms as usize) * FRAME_SAMPLES / 20, 0);
                }
            }
        }
        Ok(out)
    }

    /// A socket for the call's RTP from the configured range: every other port from its
    /// start (RTP's convention: the one above each is left for RTCP).
    async fn rtp_socket(&self, ip: IpAddr) -> Result<UdpSocket, SubmitError> {
        let range = &self.settings.rtp_ports;
        let (low, high) = (u32::from(*range.start()), u32::from(*range.end()));
        let span = high - low + 1;
        for _ in 0..span.div_ceil(2) {
            let n = self.next_port.fetch_add(2, Ordering::Relaxed);
            let port = low + ((n.wrapping_sub(low) % span) & !1);
            let port = u16::try_from(port.max(low)).unwrap_or(*range.start());
            if let Ok(socket) = UdpSocket::bind(SocketAddr::new(ip, port)).await {
                return Ok(socket);
            }
        }
        Err(SubmitError::Retryable {
            reason: format!(
                "{}: no free RTP port in {}-{}",
                self.common.name,
                range.start(),
                range.end()
            ),
        })
    }

    fn remember_abandoned(&self, message_id: String) {
        let mut abandoned = lock(&self.abandoned);
        if abandoned.len() >= 10_000 {
            abandoned.clear();
        }
        abandoned.insert(message_id);
    }

    async fn report(&self, message_id: &str, report: Report) {
        let ids = [message_id.to_owned()];
        for attempt in 0..5u32 {
            match self
                .sink
                .deliver(&self.common.name, &ids, report.clone())
                .await
            {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, attempt, message_id, "recording a call report");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
    }

    fn status(&self, status: StatusKind, description: String) -> Report {
        let mut report = Report::status(status, self.clock.now());
        report.description = Some(description);
        report
    }
}

#[async_trait]
impl Provider for SipProvider {
    fn name(&self) -> &str {
        &self.inner.common.name
    }

    async fn submit(&self, request: &SubmitRequest) -> Result<Accepted, SubmitError> {
        let inner = &self.inner;
        let name = inner.common.name.as_str();
        let StepKind::Voice(step) = &request.payload.step.kind else {
            return Err(SubmitError::from(reasons::unsupported_by_provider(
                name,
                format!("a {} step", request.channel()),
            )));
        };
        let waited_ms = inner.clock.now().millis_since(request.payload.created_at);
        if u128::try_from(waited_ms).unwrap_or(0) > inner.submit_window.as_millis() {
            return Err(SubmitError::from(reasons::voice_submit_window_passed(
                inner.submit_window.as_secs(),
            )));
        }
        let (request_uri, via_trunk) = target(name, &inner.settings, step)?;
        let audio = Arc::new(inner.audio(step).await?);
        let ip = inner.stack.advertised_ip();
        let bind_ip = if inner.settings.sip_listen.ip().is_unspecified() {
            inner.settings.sip_listen.ip()
        } else {
            ip
        };
        let rtp = inner.rtp_socket(bind_ip).await?;
        let rtp_port = rtp
            .local_addr()
            .map_err(|e| SubmitError::Retryable {
                reason: e.to_string(),
            })?
            .port();
        let offer = sdp::Offer {
            address: ip,
            rtp_port,
            codecs: inner.settings.codecs.clone(),
            session_id: u64::from(rand_u32()),
        };
        let message_id = request.payload.message_id.clone();
        // Durably before the INVITE: a step dialled before a crash is not dialled again.
        // This process may dial it again only when its own earlier INVITE got no
        // response at all and was given up (the trunk was down).
        let first_time = inner
            .sink
            .claim_dial(request.flow_id, request.order, name)
            .await
            .map_err(|reason| SubmitError::Retryable { reason })?;
        let retry_after_silence = lock(&inner.abandoned).remove(&message_id);
        if !first_time && !retry_after_silence {
            return Err(SubmitError::from(outcome(&CallEnd::Interrupted)));
        }
        let from_user = sip_user(
            inner
                .settings
                .from_user
                .as_deref()
                .unwrap_or(step.from.as_ref()),
        );
        let dial = Dial {
            request_uri,
            from_user,
            via_trunk,
            offer: offer.to_sdp(),
            call_id: format!("{message_id}@cascade"),
        };
        let sip = inner
            .stack
            .dial(dial)
            .await
            .map_err(|e| SubmitError::Retryable {
                reason: format!("{name}: {e}"),
            })?;
        let (first_tx, first_rx) = oneshot::channel();
        let live = LiveCall {
            inner: Arc::clone(inner),
            message_id: message_id.clone(),
            sip,
            rtp,
            audio,
            call: Call::new(step.machine_detection, inner.settings.amd),
            first: Some(first_tx),
        };
        // The call outlives this submit: its own span names the flow on every line.
        let span = tracing::info_span!("sip_call", flow_id = %request.flow_id, order = request.order, provider = %name);
        tokio::spawn(tracing::Instrument::instrument(live.run(), span));
        match tokio::time::timeout(inner.common.timeout, first_rx).await {
            Ok(Ok(Ok(()))) => Ok(Accepted {
                provider: name.to_owned(),
                message_ids: vec![message_id; request.payload.message_ids.len().max(1)],
            }),
            // No response or a transport error before any: nobody answered this INVITE.
            Ok(Ok(Err(e))) => {
                inner.remember_abandoned(message_id);
                Err(e)
            }
            Ok(Err(_)) => Err(SubmitError::Retryable {
                reason: format!("{name}: the call task ended before any response"),
            }),
            // Dropping the receiver tells the call task to give the attempt up.
            Err(_) => {
                inner.remember_abandoned(message_id);
                Err(SubmitError::Retryable {
                    reason: format!(
                        "{name}: no SIP response within {} s: the trunk looks down",
                        inner.common.timeout.as_secs()
                    ),
                })
            }
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn rand_u32() -> u32 {
    rand::random()
}

/// The media of an answered call.
struct Media {
    /// Where the callee's RTP comes from and Cascade's goes.
    remote: Remote,
    /// A dropped packet of this call has been logged.
    told_of_drops: bool,
    codec: Codec,
    sender: Sender,
    receiver: Receiver,
    /// Where playback is in the audio; `None` while not playing.
    cursor: Option<usize>,
}

struct LiveCall {
    inner: Arc<Inner>,
    message_id: String,
    sip: Box<dyn SipCall>,
    rtp: UdpSocket,
    audio: Arc<Vec<i16>>,
    call: Call,
    /// Told of the first response (or the failure to get one); closed by `submit`
    /// when it stopped waiting.
    first: Option<oneshot::Sender<Result<(), SubmitError>>>,
}

enum Wake {
    Sip(Option<SipEvent>),
    Tick,
    Rtp(std::io::Result<(usize, SocketAddr)>),
    RingTimeout,
    MaxDuration,
    Abandoned,
}

impl LiveCall {
    async fn run(mut self) {
        let inner = Arc::clone(&self.inner);
        let settings = &inner.settings;
        let ring_deadline = Instant::now() + settings.ring_timeout;
        let mut max_deadline: Option<Instant> = None;
        let mut media: Option<Media> = None;
        let mut sip_open = true;
        let mut buf = vec![0u8; 2048];
        loop {
            let wake = {
                let first = &mut self.first;
                let abandoned = async {
                    match first.as_mut() {
                        Some(tx) => tx.closed().await,
                        None => std::future::pending().await,
                    }
                };
                let tick = async {
                    match &media {
                        Some(m) => tokio::time::sleep_until(m.sender.next_deadline().into()).await,
                        None => std::future::pending().await,
                    }
                };
                let rtp = async {
                    if media.is_some() {
                        self.rtp.recv_from(&mut buf).await
                    } else {
                        std::future::pending().await
                    }
                };
                let answered = max_deadline.is_some();
                let max = async {
                    match max_deadline {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    biased;
                    () = abandoned => Wake::Abandoned,
                    () = tick => Wake::Tick,
                    r = rtp => Wake::Rtp(r),
                    ev = self.sip.event(), if sip_open => Wake::Sip(ev),
                    () = tokio::time::sleep_until(ring_deadline), if !answered => Wake::RingTimeout,
                    () = max => Wake::MaxDuration,
                }
            };
            let now = std::time::Instant::now();
            let actions = match wake {
                Wake::Abandoned => {
                    // submit gave up waiting (the trunk said nothing): no call is placed
                    // by this attempt, should the INVITE still get through.
                    let _ = tokio::time::timeout(SIGNAL_TIMEOUT, self.sip.cancel()).await;
                    return;
                }
                Wake::Tick => {
                    let Some(m) = media.as_mut() else { continue };
                    let mut actions = self.send_frame(m, now).await;
                    let frame = m.receiver.tick().map(|bytes| m.codec.decode_all(&bytes));
                    actions.extend(self.call.handle(Event::Frame(frame), now));
                    actions
                }
                Wake::Rtp(Ok((len, from))) => {
                    let Some(m) = media.as_mut() else { continue };
                    if let Ok(packet) = Packet::parse(&buf[..len]) {
                        if m.remote.accept(from, &packet) {
                            m.receiver.push(packet);
                        } else if !m.remote.learning() && !m.told_of_drops {
                            // Once a call: a trunk that sends from another address than its
                            // answer names is heard as silence (a source on probation is
                            // not news).
                            m.told_of_drops = true;
                            tracing::info!(
                                %from,
                                callee = %m.remote.destination(),
                                "RTP from another source than the callee's dropped (the call's first; see symmetric_rtp)"
                            );
                        }
                    }
                    Vec::new()
                }
                Wake::Rtp(Err(e)) => {
                    tracing::debug!(error = %e, "RTP receive");
                    Vec::new()
                }
                Wake::RingTimeout => self.call.handle(Event::RingTimeout, now),
                Wake::MaxDuration => self.call.handle(Event::MaxDuration, now),
                Wake::Sip(None) => {
                    sip_open = false;
                    if max_deadline.is_none() {
                        self.call.handle(
                            Event::Unreachable(CallEnd::Transport(
                                "the signalling ended without a final response".into(),
                            )),
                            now,
                        )
                    } else {
                        Vec::new()
                    }
                }
                Wake::Sip(Some(event)) => {
                    if !matches!(event, SipEvent::NoResponse | SipEvent::Transport(_))
                        && let Some(first) = self.first.take()
                    {
                        let _ = first.send(Ok(()));
                    }
                    match event {
                        SipEvent::Trying => Vec::new(),
                        SipEvent::Challenged { code, reason } => {
                            // Answered with the section's credentials (once); the step
                            // stays Initiated, the timeline names the challenge.
                            let r = self
                                .inner
                                .status(StatusKind::Initiated, format!("SIP {code} {reason}"));
                            self.inner.report(&self.message_id, r).await;
                            Vec::new()
                        }
                        SipEvent::Provisional { code, reason } => {
                            let mut actions = self.call.handle(Event::Ringing, now);
                            if actions.contains(&Action::ReportRinging) {
                                actions.retain(|a| a != &Action::ReportRinging);
                                let r = self
                                    .inner
                                    .status(StatusKind::Ringing, format!("SIP {code} {reason}"));
                                self.inner.report(&self.message_id, r).await;
                            }
                            actions
                        }
                        SipEvent::Answered { code, reason, sdp } => {
                            match sdp::read_answer(&sdp, &settings.codecs) {
                                Ok(answer) => {
                                    max_deadline = Some(Instant::now() + settings.max_call);
                                    media = Some(start_media(&answer, settings.symmetric_rtp));
                                    let mut actions = self.call.handle(Event::Answered, now);
                                    if actions.contains(&Action::ReportAnswered) {
                                        actions.retain(|a| a != &Action::ReportAnswered);
                                        let r = self.inner.status(
                                            StatusKind::InProgress,
                                            format!("SIP {code} {reason}"),
                                        );
                                        self.inner.report(&self.message_id, r).await;
                                    }
                                    actions
                                }
                                Err(e) => {
                                    tracing::info!(error = ?e, "SIP answer without a usable stream");
                                    let _ = tokio::time::timeout(SIGNAL_TIMEOUT, self.sip.hangup())
                                        .await;
                                    self.finish(&CallEnd::NoCommonCodec, None, None).await;
                                    return;
                                }
                            }
                        }
                        SipEvent::Refused { code, reason } => {
                            self.call.handle(Event::Refused { code, reason }, now)
                        }
                        SipEvent::NoResponse => self.unreachable(CallEnd::NoResponse, now),
                        SipEvent::Transport(e) => self.unreachable(CallEnd::Transport(e), now),
                        SipEvent::RemoteBye => {
                            sip_open = false;
                            if let Some(m) = media.as_mut() {
                                m.cursor = None;
                            }
                            self.call.handle(Event::RemoteBye, now)
                        }
                    }
                }
            };
            if self.carry_out(actions, &mut media).await {
                return;
            }
        }
    }

    /// No response or a transport failure before any response: when `submit` is still
    /// waiting, that is the provider's outage (failover); later, the call's end.
    fn unreachable(&mut self, end: CallEnd, now: std::time::Instant) -> Vec<Action> {
        if let Some(first) = self.first.take() {
            let reason = match &end {
                CallEnd::Transport(e) => format!("{}: SIP transport: {e}", self.inner.common.name),
                _ => format!("{}: no SIP response", self.inner.common.name),
            };
            let _ = first.send(Err(SubmitError::Retryable { reason }));
            self.call = Call::new(None, self.inner.settings.amd);
            return vec![Action::Finish {
                end: CallEnd::Interrupted,
                answered_by: None,
            }];
        }
        self.call.handle(Event::Unreachable(end), now)
    }

    /// Send the frame due: the next 20 ms of the dial plan while playing, else silence.
    async fn send_frame(&mut self, m: &mut Media, now: std::time::Instant) -> Vec<Action> {
        let mut samples = [0i16; FRAME_SAMPLES];
        let mut done = false;
        if let Some(cursor) = m.cursor {
            let end = (cursor + FRAME_SAMPLES).min(self.audio.len());
            samples[..end - cursor].copy_from_slice(&self.audio[cursor..end]);
            m.cursor = Some(end);
            done = end >= self.audio.len();
        }
        let packet = m.sender.next_packet(m.codec.encode_all(&samples), now);
        if let Err(e) = self
            .rtp
            .send_to(&packet.to_bytes(), m.remote.destination())
            .await
        {
            tracing::debug!(error = %e, "RTP send");
        }
        if done {
            m.cursor = None;
            return self.call.handle(Event::PlaybackDone, now);
        }
        Vec::new()
    }

    /// Carry out the call's actions; true once the call is over.
    async fn carry_out(&mut self, actions: Vec<Action>, media: &mut Option<Media>) -> bool {
        for action in actions {
            match action {
                Action::ReportRinging => {
                    let r = self.inner.status(StatusKind::Ringing, "Ringing".into());
                    self.inner.report(&self.message_id, r).await;
                }
                Action::ReportAnswered => {
                    let r = self.inner.status(StatusKind::InProgress, "Answered".into());
                    self.inner.report(&self.message_id, r).await;
                }
                Action::Cancel => {
                    let _ = tokio::time::timeout(SIGNAL_TIMEOUT, self.sip.cancel()).await;
                }
                Action::Play => {
                    if let Some(m) = media.as_mut() {
                        m.cursor = Some(0);
                    }
                }
                Action::Hangup => {
                    if let Some(m) = media.as_mut() {
                        m.cursor = None;
                    }
                    let _ = tokio::time::timeout(SIGNAL_TIMEOUT, self.sip.hangup()).await;
                }
                Action::NoteDetection { cause, answered_by } => {
                    let mut r = self.inner.status(
                        StatusKind::InProgress,
                        format!("Machine detection: {cause}"),
                    );
                    r.answered_by = Some(answered_by);
                    self.inner.report(&self.message_id, r).await;
                }
                Action::Finish { end, answered_by } => {
                    if end == CallEnd::Interrupted {
                        // An attempt given up before any response: submit reported it.
                        return true;
                    }
                    let duration = match end {
                        CallEnd::Completed { duration_s }
                        | CallEnd::MachineHungUp { duration_s } => Some(duration_s),
                        _ => None,
                    };
                    self.finish(&end, duration, answered_by).await;
                    return true;
                }
            }
        }
        false
    }

    async fn finish(
        &mut self,
        end: &CallEnd,
        duration_s: Option<u32>,
        answered_by: Option<cascade_core::flow::AnsweredBy>,
    ) {
        let reason = outcome(end);
        let mut report = Report::status(reason.status, self.inner.clock.now());
        report.detailed_status = Some(reason.detailed_status);
        report.description = Some(reason.description);
        report.duration_s = duration_s;
        report.answered_by = answered_by;
        report.never_answered = duration_s.is_none();
        self.inner.report(&self.message_id, report).await;
    }
}

fn start_media(answer: &sdp::Answer, learning: Learning) -> Media {
    let start = std::time::Instant::now();
    Media {
        remote: Remote::new(SocketAddr::new(answer.address, answer.rtp_port), learning),
        told_of_drops: false,
        codec: answer.codec,
        sender: Sender::new(
            start,
            rand_u32(),
            answer.codec.payload_type(),
            rand::random(),
            rand_u32(),
        ),
        receiver: Receiver::new(answer.codec.encode(0)),
        cursor: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_ids_become_sip_users() {
        assert_eq!(sip_user("+302101234567"), "+302101234567");
        assert_eq!(sip_user("My Brand"), "My%20Brand");
        assert_eq!(sip_user("a@b;c"), "a%40b%3Bc");
    }
}
