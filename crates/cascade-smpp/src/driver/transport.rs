//! Sockets: where to connect, TCP or TLS, and writing a batch of frames.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Where an [`EsmeClient`](super::EsmeClient) connects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Host name or IP address. With `tls` it is also the name the certificate must carry
    /// (unless [`ClientOptions::tls_server_name`](super::ClientOptions::tls_server_name)
    /// overrides it).
    pub host: String,
    /// TCP port (SMPP's customary ones are 2775 plain and 3550 or 8775 for TLS).
    pub port: u16,
    /// Wrap the connection in TLS (rustls, aws-lc-rs provider).
    pub tls: bool,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "smpps" } else { "smpp" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// A connected byte stream: plain TCP or TLS over TCP.
pub(super) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Plain or TLS, decided once when the client starts.
#[derive(Clone)]
pub(super) enum Connector {
    Plain,
    Tls {
        connector: TlsConnector,
        name: ServerName<'static>,
    },
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Connector::Plain => f.write_str("Plain"),
            Connector::Tls { name, .. } => f.debug_struct("Tls").field("name", name).finish(),
        }
    }
}

impl Connector {
    /// `tls_config` defaults to the webpki roots; `server_name` to `target.host`.
    ///
    /// # Errors
    ///
    /// The server name is neither a DNS name nor an IP address.
    pub(super) fn new(
        target: &Target,
        tls_config: Option<Arc<ClientConfig>>,
        server_name: Option<&str>,
    ) -> Result<Self, rustls::pki_types::InvalidDnsNameError> {
        if !target.tls {
            return Ok(Connector::Plain);
        }
        let name = ServerName::try_from(server_name.unwrap_or(&target.host).to_owned())?;
        let config = tls_config.unwrap_or_else(default_tls_config);
        Ok(Connector::Tls {
            connector: TlsConnector::from(config),
            name,
        })
    }

    /// Opens the TCP connection (and the TLS session) within `timeout`.
    pub(super) async fn connect(
        &self,
        target: &Target,
        timeout: Duration,
    ) -> io::Result<Box<dyn Io>> {
        let attempt = async {
            let tcp = TcpStream::connect((target.host.as_str(), target.port)).await?;
            // SMPP is request/response with small PDUs: don't let Nagle hold them back.
            tcp.set_nodelay(true)?;
            let io: Box<dyn Io> = match self {
                Connector::Plain => Box::new(tcp),
                Connector::Tls { connector, name } => {
                    Box::new(connector.connect(name.clone(), tcp).await?)
                }
            };
            Ok(io)
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")))
    }
}

/// rustls with the aws-lc-rs provider, TLS 1.2 and 1.3, Mozilla's roots, no client auth.
fn default_tls_config() -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports rustls' default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Writes every frame in one buffer, then flushes once, all within `timeout` (a peer that
/// stops reading must not wedge the loop: the keep-alive cannot fire while we are stuck
/// in a write).
pub(super) async fn write_frames(
    io: &mut (impl AsyncWrite + Unpin + ?Sized),
    frames: impl IntoIterator<Item = Bytes>,
    out: &mut BytesMut,
    timeout: Duration,
) -> io::Result<usize> {
    out.clear();
    let mut count = 0;
    for frame in frames {
        out.extend_from_slice(&frame);
        count += 1;
    }
    if count == 0 {
        return Ok(0);
    }
    let write = async {
        io.write_all(out).await?;
        io.flush().await
    };
    match tokio::time::timeout(timeout, write).await {
        Ok(result) => result.map(|()| count),
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
    }
}
