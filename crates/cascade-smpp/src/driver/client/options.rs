//! How a client behaves: per-client [`ClientOptions`] and per-submit [`SubmitOptions`].

use std::sync::Arc;
use std::time::{Duration, Instant};

/// Driver settings of one [`EsmeClient`](super::EsmeClient); the protocol settings are in
/// [`EsmeConfig`](crate::EsmeConfig). Build with `ClientOptions { name, ..Default::default() }`.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The connection's name in logs (the span's `name` field), e.g. the SMSC's config key.
    pub name: String,
    /// Which bind of that SMSC this is (the span's `bind` field), for several binds per SMSC.
    pub bind_index: usize,
    /// Longest a TCP connect plus TLS handshake may take (default 10 s).
    pub connect_timeout: Duration,
    /// First reconnect delay, and the delay after a connection that had bound (default
    /// 0.5 s).
    pub reconnect_min: Duration,
    /// Cap of the doubling reconnect delay (default 30 s).
    pub reconnect_max: Duration,
    /// Longest one batch of writes may block on a peer that does not read (default 30 s);
    /// past it the connection counts as lost.
    pub io_timeout: Duration,
    /// How long [`EsmeClient::shutdown`](super::EsmeClient::shutdown) waits for the polite
    /// unbind before it aborts the task (default 10 s; keep it above
    /// `EsmeConfig::unbind_timeout`).
    pub shutdown_timeout: Duration,
    /// TLS configuration for [`Target::tls`](super::Target::tls); `None` uses rustls with the
    /// aws-lc-rs provider and the webpki (Mozilla) roots. Bring your own for a private CA or
    /// client certificates.
    pub tls_config: Option<Arc<rustls::ClientConfig>>,
    /// The name the server certificate must carry, when it is not `Target::host` (e.g. the
    /// target is an IP address).
    pub tls_server_name: Option<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            name: String::from("smpp"),
            bind_index: 0,
            connect_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            io_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            tls_config: None,
            tls_server_name: None,
        }
    }
}

/// How one submit waits. The default waits for the window and for throttling pauses,
/// fails at once when the client is not bound, and has no deadline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubmitOptions {
    /// Latest moment the `submit_sm` may be **sent** (the message's TTL). A submit still
    /// queued then fails with [`SubmitError::Expired`](super::SubmitError::Expired) and
    /// never leaves; one already sent is not recalled. Compared with tokio's clock.
    pub deadline: Option<Instant>,
    /// `true`: fail with [`SubmitError::Throttled`](super::SubmitError::Throttled) instead
    /// of waiting when the SMSC has throttled this bind (its `ESME_RTHROTTLED` /
    /// `ESME_RMSGQFUL` pause), e.g. to try another bind. The window and our own throughput
    /// cap still queue.
    pub fail_when_throttled: bool,
    /// `true`: while the client is connecting or reconnecting, queue the submit until the
    /// next bind instead of failing with `NotBound` (pair it with a `deadline`).
    pub wait_for_bind: bool,
}

impl SubmitOptions {
    /// Defaults with a deadline.
    pub fn with_deadline(deadline: Instant) -> Self {
        SubmitOptions {
            deadline: Some(deadline),
            ..SubmitOptions::default()
        }
    }
}
