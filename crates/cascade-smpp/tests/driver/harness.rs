//! An [`EsmeClient`] against an [`SmscServer`] over loopback TCP, with helpers that await
//! events under a deadline (never a bare sleep), plus a raw scripted peer for cases the
//! server cannot play (an SMSC that goes mute).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cascade_smpp::driver::{
    ClientEvent, ClientOptions, ConnId, EsmeClient, ServerEvent, SmscServer, Target,
};
use cascade_smpp::pdu::{BindResp, SubmitSm};
use cascade_smpp::{EsmeConfig, Pdu, PduBody, SmscConfig, decode, encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Upper bound for any single wait: far above what a passing test needs, so it only
/// matters when something hangs.
pub const WAIT: Duration = Duration::from_secs(5);

/// Milliseconds, for short.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Awaits `fut`, panicking with `what` when it takes longer than [`WAIT`].
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Polls `cond` until it holds, panicking after [`WAIT`]. For gauges and other state that
/// has no event of its own.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(ms(2)).await;
        }
    })
    .await;
}

/// True when `fut` is not ready yet (polled once, without waiting).
pub async fn is_pending<F: Future + Unpin>(fut: &mut F) -> bool {
    tokio::time::timeout(Duration::ZERO, fut).await.is_err()
}

/// A distinguishable `submit_sm`.
pub fn sm(n: u32) -> SubmitSm {
    SubmitSm {
        source_addr: "Cascade".into(),
        destination_addr: "306912345678".into(),
        short_message: Bytes::from(format!("message {n}")),
        ..SubmitSm::default()
    }
}

/// The `n` of a submit built by [`sm`].
pub fn sm_number(submit: &SubmitSm) -> u32 {
    std::str::from_utf8(&submit.short_message)
        .ok()
        .and_then(|t| t.strip_prefix("message "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a test submit: {submit:?}"))
}

/// Client settings for tests: short timeouts everywhere, keep-alive off unless a test turns
/// it on.
pub fn esme_config() -> EsmeConfig {
    EsmeConfig {
        system_id: "cascade".into(),
        password: "secret".into(),
        bind_timeout: Duration::from_secs(2),
        enquire_link_interval: None,
        response_timeout: Duration::from_secs(5),
        unbind_timeout: Duration::from_secs(1),
        ..EsmeConfig::default()
    }
}

/// Driver settings for tests: fast reconnects.
pub fn client_options() -> ClientOptions {
    ClientOptions {
        name: String::from("test"),
        connect_timeout: Duration::from_secs(2),
        reconnect_min: ms(50),
        reconnect_max: ms(400),
        io_timeout: Duration::from_secs(2),
        shutdown_timeout: Duration::from_secs(3),
        ..ClientOptions::default()
    }
}

/// Server settings for tests.
pub fn smsc_config() -> SmscConfig {
    SmscConfig {
        enquire_link_interval: None,
        unbind_timeout: Duration::from_secs(1),
        ..SmscConfig::default()
    }
}

/// The SMSC side: the server handle and its event stream.
#[derive(Debug)]
pub struct Smsc {
    pub server: SmscServer,
    pub events: mpsc::UnboundedReceiver<ServerEvent>,
}

impl Smsc {
    pub async fn start(config: SmscConfig) -> Smsc {
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let (server, events) = SmscServer::bind(addr, config).await.expect("listen");
        Smsc { server, events }
    }

    pub fn target(&self) -> Target {
        target(self.server.local_addr())
    }

    /// The next server event.
    pub async fn next(&mut self) -> ServerEvent {
        within("a server event", self.events.recv())
            .await
            .expect("server event stream open")
    }

    /// `Connected` then `Bound` of a new connection; returns its id.
    pub async fn expect_bound(&mut self) -> ConnId {
        let conn = match self.next().await {
            ServerEvent::Connected { conn, .. } => conn,
            other => panic!("expected Connected, got {other:?}"),
        };
        match self.next().await {
            ServerEvent::Bound { conn: c, .. } if c == conn => conn,
            other => panic!("expected Bound on {conn}, got {other:?}"),
        }
    }

    /// The next event, which must be a `submit_sm`: `(conn, seq, submit)`.
    pub async fn expect_submit(&mut self) -> (ConnId, u32, SubmitSm) {
        match self.next().await {
            ServerEvent::Submit { conn, seq, submit } => (conn, seq, submit),
            other => panic!("expected Submit, got {other:?}"),
        }
    }

    /// The next event, which must be `Disconnected` of `conn`.
    pub async fn expect_disconnected(&mut self, conn: ConnId) -> cascade_smpp::CloseReason {
        match self.next().await {
            ServerEvent::Disconnected { conn: c, reason } if c == conn => reason,
            other => panic!("expected Disconnected of {conn}, got {other:?}"),
        }
    }

    /// Asserts that no event arrives for `d`.
    pub async fn expect_quiet(&mut self, d: Duration) {
        if let Ok(event) = tokio::time::timeout(d, self.events.recv()).await {
            panic!("expected no server event, got {event:?}");
        }
    }
}

pub fn target(addr: SocketAddr) -> Target {
    Target {
        host: addr.ip().to_string(),
        port: addr.port(),
        tls: false,
    }
}

/// The ESME side: the client handle and its event stream.
#[derive(Debug)]
pub struct Esme {
    pub client: EsmeClient,
    pub events: mpsc::UnboundedReceiver<ClientEvent>,
}

impl Esme {
    pub fn connect(target: Target, config: EsmeConfig, options: ClientOptions) -> Esme {
        let (client, events) = EsmeClient::connect(target, config, options).expect("valid config");
        Esme { client, events }
    }

    /// The next client event.
    pub async fn next(&mut self) -> ClientEvent {
        within("a client event", self.events.recv())
            .await
            .expect("client event stream open")
    }

    /// The next event, which must be `Bound`; returns its connection number.
    pub async fn expect_bound(&mut self) -> u64 {
        match self.next().await {
            ClientEvent::Bound { connection, .. } => connection,
            other => panic!("expected Bound, got {other:?}"),
        }
    }

    /// Asserts that no event arrives for `d`.
    pub async fn expect_quiet(&mut self, d: Duration) {
        if let Ok(event) = tokio::time::timeout(d, self.events.recv()).await {
            panic!("expected no client event, got {event:?}");
        }
    }
}

/// A server and a client bound to it, with the `Connected`/`Bound` events consumed.
pub async fn bound(config: EsmeConfig, smsc: SmscConfig) -> (Smsc, Esme, ConnId) {
    let mut smsc = Smsc::start(smsc).await;
    let mut esme = Esme::connect(smsc.target(), config, client_options());
    let conn = smsc.expect_bound().await;
    assert_eq!(esme.expect_bound().await, 1);
    (smsc, esme, conn)
}

/// [`bound`] with the default test configs.
pub async fn bound_default() -> (Smsc, Esme, ConnId) {
    bound(esme_config(), smsc_config()).await
}

/// A hand-driven SMSC on a raw socket: answers the bind, then does only what the test
/// says. For peers the real server cannot imitate (one that goes silent).
#[derive(Debug)]
pub struct RawSmsc {
    listener: TcpListener,
}

impl RawSmsc {
    pub async fn start() -> RawSmsc {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
        RawSmsc { listener }
    }

    pub fn target(&self) -> Target {
        target(self.listener.local_addr().expect("local address"))
    }

    /// Accepts a connection and answers its bind with `ESME_ROK`.
    pub async fn accept_bound(&self) -> RawConn {
        let (stream, _) = within("a connection", self.listener.accept())
            .await
            .expect("accept");
        let mut conn = RawConn {
            stream,
            buf: BytesMut::new(),
        };
        let bind = conn.read_pdu().await.expect("a bind");
        let Some((mode, _)) = cascade_smpp::BindMode::from_request(&bind.body) else {
            panic!("expected a bind, got {bind:?}");
        };
        let resp = mode.response(BindResp {
            system_id: "raw".into(),
            ..BindResp::default()
        });
        conn.write_pdu(&Pdu::new(bind.sequence_number, resp)).await;
        conn
    }
}

/// One raw connection.
#[derive(Debug)]
pub struct RawConn {
    stream: TcpStream,
    buf: BytesMut,
}

impl RawConn {
    /// The ESME side by hand: connects to `addr` and binds as transceiver.
    pub async fn connect_bound(addr: SocketAddr) -> RawConn {
        let stream = within("a connection", TcpStream::connect(addr))
            .await
            .expect("connect");
        let mut conn = RawConn {
            stream,
            buf: BytesMut::new(),
        };
        let bind = cascade_smpp::pdu::Bind {
            system_id: "raw".into(),
            interface_version: 0x34,
            ..cascade_smpp::pdu::Bind::default()
        };
        conn.write_pdu(&Pdu::new(1, PduBody::BindTransceiver(bind)))
            .await;
        let resp = conn.read_pdu().await.expect("a bind response");
        assert!(
            matches!(resp.body, PduBody::BindTransceiverResp(_)) && resp.command_status.is_ok(),
            "bind refused: {resp:?}"
        );
        conn
    }

    /// The next PDU, or `None` on EOF.
    pub async fn read_pdu(&mut self) -> Option<Pdu> {
        within("a PDU", async {
            loop {
                if let Some(pdu) = decode(&mut self.buf, 1 << 16).expect("valid PDU") {
                    return Some(pdu);
                }
                if self.stream.read_buf(&mut self.buf).await.ok()? == 0 {
                    return None;
                }
            }
        })
        .await
    }

    pub async fn write_pdu(&mut self, pdu: &Pdu) {
        let mut out = BytesMut::new();
        encode(pdu, &mut out).expect("encodable");
        self.stream.write_all(&out).await.expect("write");
    }

    /// Writes raw bytes (for malformed PDUs).
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads PDUs until EOF, answering nothing; returns what it read.
    pub async fn swallow_until_eof(&mut self) -> Vec<PduBody> {
        let mut seen = Vec::new();
        while let Some(pdu) = self.read_pdu().await {
            seen.push(pdu.body);
        }
        seen
    }
}
