//! The same client and server over TLS (rustls, aws-lc-rs), with a test CA whose
//! certificates are valid from 2000 to 2100 for `localhost` and `127.0.0.1`.

use std::net::SocketAddr;
use std::sync::Arc;

use cascade_smpp::CloseReason;
use cascade_smpp::driver::rustls::pki_types::pem::PemObject;
use cascade_smpp::driver::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use cascade_smpp::driver::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use cascade_smpp::driver::{
    ClientEvent, ClientOptions, ConfigError, EsmeClient, ShutdownOutcome, SmscServer, Target,
};

use crate::harness::{Esme, Smsc, client_options, esme_config, ms, sm, smsc_config, within};

const CA: &str = "\
-----BEGIN CERTIFICATE-----
MIIBZzCCAQ2gAwIBAgIBATAKBggqhkjOPQQDAjAaMRgwFgYDVQQDDA9DYXNjYWRl
IFRlc3QgQ0EwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBoxGDAW
BgNVBAMMD0Nhc2NhZGUgVGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA
BCyT6HtLo5p0bGV0O6jaNIf0veQqhxMT/C04D4Bb0LLY7/2V2yrIiaK0/1ZVf6Iz
QvlbBxjIb4DkDTuGnqmbJdujQjBAMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/
BAQDAgEGMB0GA1UdDgQWBBTbGssIw/taaGAvWlfPc2qsGLKggTAKBggqhkjOPQQD
AgNIADBFAiEAy17fm2XglaTr+zxe8RyBcmNd/eftgRI8SMLxQ2IhNZICIG6snm5/
w6bt5TCoa5534PvHJXpVsUHvTu2kvk7Th8ZO
-----END CERTIFICATE-----
";

const LEAF: &str = "\
-----BEGIN CERTIFICATE-----
MIIBsjCCAVigAwIBAgIBAjAKBggqhkjOPQQDAjAaMRgwFgYDVQQDDA9DYXNjYWRl
IFRlc3QgQ0EwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBQxEjAQ
BgNVBAMMCWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABM3MKyHn
dZwkyfj6d47qvIzKOaygdtF8UzbtbIoovj8OVBHyREtToS/KWpU1DVD2ydGCNuer
H8VR7Gs8fR3jywKjgZIwgY8wDAYDVR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCB4Aw
EwYDVR0lBAwwCgYIKwYBBQUHAwEwGgYDVR0RBBMwEYIJbG9jYWxob3N0hwR/AAAB
MB8GA1UdIwQYMBaAFNsaywjD+1poYC9aV89zaqwYsqCBMB0GA1UdDgQWBBTeFgcK
b9dkxQ65XXUsoxADfP4uPjAKBggqhkjOPQQDAgNIADBFAiEA/ocNIs9Bl0gmuDkU
MM8rNIWzlpkWUscJl/hJmf2ORQoCIGCkeprf2khteIR56z6NOTzc2EULKoiOxqDl
94S4Oow6
-----END CERTIFICATE-----
";

const LEAF_KEY: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgCPA2m3Nkugnp7Aff
9WNgjsMKbCSY9WwITPB5d/r34xWhRANCAATNzCsh53WcJMn4+neO6ryMyjmsoHbR
fFM27WyKKL4/DlQR8kRLU6EvylqVNQ1Q9snRgjbnqx/FUexrPH0d48sC
-----END PRIVATE KEY-----
";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn server_tls() -> Arc<ServerConfig> {
    let chain = vec![CertificateDer::from_pem_slice(LEAF.as_bytes()).expect("leaf")];
    let key = PrivateKeyDer::from_pem_slice(LEAF_KEY.as_bytes()).expect("key");
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("certificate and key match");
    Arc::new(config)
}

fn client_tls() -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(CA.as_bytes()).expect("CA"))
        .expect("CA");
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

async fn start_tls() -> Smsc {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let (server, events) = SmscServer::bind_tls(addr, smsc_config(), server_tls())
        .await
        .expect("listen");
    Smsc { server, events }
}

fn tls_target(smsc: &Smsc) -> Target {
    Target {
        tls: true,
        ..smsc.target()
    }
}

#[tokio::test]
async fn submit_and_shutdown_over_tls() {
    let mut smsc = start_tls().await;
    let options = ClientOptions {
        tls_config: Some(client_tls()),
        tls_server_name: Some(String::from("localhost")),
        ..client_options()
    };
    let mut esme = Esme::connect(tls_target(&smsc), esme_config(), options);
    let conn = smsc.expect_bound().await;
    assert_eq!(esme.expect_bound().await, 1);

    let submission = esme.client.submit(sm(1));
    let (_, seq, submit) = smsc.expect_submit().await;
    assert_eq!(submit, sm(1));
    smsc.server
        .accept(conn, seq, "TLS-1")
        .await
        .expect("pending");
    assert!(within("the submit", submission).await.is_ok());

    assert_eq!(
        within("shutdown", esme.client.shutdown()).await,
        ShutdownOutcome::Unbound
    );
    assert_eq!(
        smsc.expect_disconnected(conn).await,
        CloseReason::PeerUnbound
    );
}

#[tokio::test]
async fn the_certificate_ip_address_is_checked_without_a_name_override() {
    let mut smsc = start_tls().await;
    let options = ClientOptions {
        tls_config: Some(client_tls()),
        ..client_options()
    };
    let mut esme = Esme::connect(tls_target(&smsc), esme_config(), options);
    smsc.expect_bound().await;
    assert_eq!(esme.expect_bound().await, 1);
}

#[tokio::test]
async fn an_untrusted_certificate_fails_the_connect_and_is_retried() {
    let smsc = start_tls().await;
    // The default configuration trusts the public roots only.
    let mut esme = Esme::connect(tls_target(&smsc), esme_config(), client_options());
    for delay in [50, 100] {
        match esme.next().await {
            ClientEvent::ConnectFailed { retry_in, .. } => assert_eq!(retry_in, ms(delay)),
            other => panic!("expected ConnectFailed, got {other:?}"),
        }
    }
    assert_eq!(esme.client.stats().binds, 0);
}

#[tokio::test]
async fn a_plain_client_against_a_tls_server_does_not_bind() {
    let mut smsc = start_tls().await;
    let mut esme = Esme::connect(smsc.target(), esme_config(), client_options());
    // The server reads the bind as a bad TLS record and answers with a TLS alert, which the
    // client cannot frame as a PDU: it gives up on the connection.
    match esme.next().await {
        ClientEvent::ProtocolError { connection, .. } => assert_eq!(connection, 1),
        other => panic!("expected ProtocolError, got {other:?}"),
    }
    match esme.next().await {
        ClientEvent::Disconnected {
            connection, reason, ..
        } => {
            assert_eq!(connection, 1);
            assert_eq!(reason, CloseReason::ProtocolViolation);
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(matches!(
        smsc.next().await,
        cascade_smpp::driver::ServerEvent::Connected { .. }
    ));
}

#[tokio::test]
async fn an_invalid_server_name_is_refused_up_front() {
    let target = Target {
        host: String::from("not a host name!"),
        port: 3550,
        tls: true,
    };
    let result = EsmeClient::connect(target, esme_config(), client_options());
    assert!(
        matches!(result, Err(ConfigError::ServerName { ref name }) if name == "not a host name!"),
        "got {result:?}"
    );
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_stalled_handshake() {
    let mut smsc = start_tls().await; // bind_timeout (the handshake's limit): 30 s
    let _silent = tokio::net::TcpStream::connect(smsc.server.local_addr())
        .await
        .expect("connect");
    let conn = match smsc.next().await {
        cascade_smpp::driver::ServerEvent::Connected { conn, .. } => conn,
        other => panic!("expected Connected, got {other:?}"),
    };
    tokio::time::timeout(ms(1_000), smsc.server.shutdown())
        .await
        .expect("shutdown waited for the handshake");
    assert_eq!(
        smsc.expect_disconnected(conn).await,
        CloseReason::Disconnected
    );
}
