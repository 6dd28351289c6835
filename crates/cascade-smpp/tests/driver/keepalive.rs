//! `enquire_link`: an idle but healthy link stays up; a mute peer is detected.

use cascade_smpp::driver::{ClientEvent, ShutdownOutcome};
use cascade_smpp::pdu::PduBody;
use cascade_smpp::{CloseReason, EsmeConfig, SmscConfig};

use crate::harness::{
    Esme, RawConn, RawSmsc, Smsc, bound, client_options, esme_config, ms, sm, smsc_config, within,
};

#[tokio::test]
async fn probes_keep_an_idle_link_up_either_way() {
    // Whichever side probes, the other answers and the link stays up. (Any PDU counts as a
    // sign of life, so with both on only the faster side would ever probe.)
    for (esme_probe, smsc_probe) in [(Some(ms(40)), None), (None, Some(ms(40)))] {
        let config = EsmeConfig {
            enquire_link_interval: esme_probe,
            enquire_link_timeout: ms(100),
            ..esme_config()
        };
        let smsc = SmscConfig {
            enquire_link_interval: smsc_probe,
            enquire_link_timeout: ms(100),
            ..smsc_config()
        };
        let (mut smsc, mut esme, conn) = bound(config, smsc).await;
        // Several probe periods of silence: no event on either side (a lost link would
        // close within interval + timeout = 140 ms).
        esme.expect_quiet(ms(300)).await;
        smsc.expect_quiet(ms(1)).await;
        assert_eq!(esme.client.stats().connections, 1);

        let submission = esme.client.submit(sm(1));
        let (c, seq, _) = smsc.expect_submit().await;
        assert_eq!(c, conn);
        smsc.server
            .accept(conn, seq, "alive")
            .await
            .expect("pending");
        assert!(within("the submit", submission).await.is_ok());
    }
}

#[tokio::test]
async fn the_server_probes_a_mute_esme_and_drops_it() {
    let mut smsc = Smsc::start(SmscConfig {
        enquire_link_interval: Some(ms(50)),
        enquire_link_timeout: ms(100),
        ..smsc_config()
    })
    .await;
    let mut raw = RawConn::connect_bound(smsc.server.local_addr()).await;
    let conn = smsc.expect_bound().await;
    assert_eq!(smsc.expect_disconnected(conn).await, CloseReason::LinkLost);
    assert_eq!(raw.swallow_until_eof().await, [PduBody::EnquireLink]);
}

#[tokio::test]
async fn a_mute_smsc_is_detected_by_the_probes() {
    let raw = RawSmsc::start().await;
    let config = EsmeConfig {
        enquire_link_interval: Some(ms(50)),
        enquire_link_timeout: ms(100),
        ..esme_config()
    };
    let mut esme = Esme::connect(raw.target(), config, client_options());
    let mut conn = raw.accept_bound().await;
    assert_eq!(esme.expect_bound().await, 1);

    match esme.next().await {
        ClientEvent::Disconnected {
            connection, reason, ..
        } => {
            assert_eq!(connection, 1);
            assert_eq!(reason, CloseReason::LinkLost);
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    let seen = conn.swallow_until_eof().await;
    assert_eq!(seen, [PduBody::EnquireLink], "one probe, then the close");
    assert_eq!(
        within("shutdown", esme.client.shutdown()).await,
        ShutdownOutcome::NotBound
    );
}
