//! Voice over SIP against real third-party peers (voice-sip.md): SIPp as the callee of
//! most rows of the outcome table, baresip as a callee that records what it heard,
//! Kamailio as a trunk that challenges with 407. Every peer runs on loopback, started
//! here and killed by process id (see `sip_peers`); the application is the real one
//! with a `kind = "sip"` provider section. Ring timeouts are shortened to 3 s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;
use crate::sip_peers::*;

const FINAL: &[&str] = &[
    "Completed",
    "Busy",
    "NoAnswer",
    "Failed",
    "Unsent",
    "Terminated",
];

/// A `sip` provider section whose trunk is `trunk` (`host:port`).
fn section(trunk: SocketAddr, extra: &str) -> String {
    format!(
        r#"[[provider]]
name = "trunk"
kind = "sip"
trunk = "sip:{trunk}"
sip_listen = "127.0.0.1:0"
rtp_ports = "32000-32999"
ring_timeout_seconds = 3
routes = ["*", "sip:"]
{extra}
"#
    )
}

async fn app_with(trunk: SocketAddr, extra: &str) -> TestApp {
    spawn_app_with_file(&section(trunk, extra), &[]).await
}

/// A Voice step to `to` (a phone number or `{"sip": ...}`) saying `text` `repeat` + 1
/// times, with machine detection `amd` when given.
fn voice(to: Value, text: &str, repeat: u8, amd: Option<&str>) -> Value {
    let mut step = json!({
        "type": "Voice", "order": 1, "from": "+306900000000", "to": to,
        "dialPlan": {"verbs": [{"type": "SAY", "message": {"text": text}, "repeat": repeat}]}
    });
    if let Some(strategy) = amd {
        step["machineDetection"] = json!({"strategy": strategy});
    }
    step
}

fn with_sms_after(step: Value) -> Value {
    flow(vec![step, sms_step(2, "Your code is 1234")])
}

fn direct(peer: SocketAddr) -> Value {
    json!({"sip": format!("bob@{peer}")})
}

/// Poll until the call (the first message) has a final status.
async fn wait_call(app: &TestApp, id: &str) -> Value {
    let t = app
        .wait_for(id, Duration::from_secs(40), |t| {
            FINAL.contains(&status_of(&t["messages"][0]))
        })
        .await;
    t["messages"][0].clone()
}

fn detail(call: &Value) -> (&str, &str) {
    (
        call["status"]["reason"]["detailedStatus"]
            .as_str()
            .unwrap_or(""),
        call["status"]["reason"]["description"]
            .as_str()
            .unwrap_or(""),
    )
}

/// The descriptions of the call's timeline reports, in order.
async fn call_notes(app: &TestApp, id: &str) -> Vec<String> {
    app.events(id)
        .await
        .iter()
        .filter(|e| e["type"] == "report" && e["order"] == 1)
        .filter_map(|e| e["description"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_human_hears_the_dial_plan_and_the_call_completes() {
    let callee = baresip(BaresipMode::AutoAnswer {
        audio: Audio::Human,
    });
    let app = app_with(callee.addr, "").await;
    let id = app
        .send_flow(&flow(vec![voice(
            direct(callee.addr),
            "Your verification code is 4 4 7 1",
            1,
            Some("Hangup"),
        )]))
        .await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "Completed", "{call:#}");
    assert_eq!(call["answeredBy"], "human");
    let duration = call["duration"].as_u64().expect("a duration");
    let notes = call_notes(&app, &id).await;
    assert!(notes.iter().any(|n| n.starts_with("SIP 200 ")), "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("Machine detection: HUMAN-")),
        "{notes:?}"
    );
    // What the callee heard: two plays of the sentence, 500 ms apart.
    let heard = callee.wait_recording(Duration::from_secs(10));
    let stats = wav_stats(&heard);
    assert_eq!(stats.bursts, 2, "{stats:?}");
    assert!(
        (1.5..6.0).contains(&stats.voiced_seconds),
        "speech heard: {stats:?}"
    );
    // Listening (about 1.5 s for "Hello?") plus the two plays.
    assert!(
        (stats.voiced_seconds as u64..=stats.seconds as u64 + 2).contains(&duration),
        "duration {duration} s against {stats:?}"
    );
}

#[tokio::test]
async fn a_machine_on_a_hangup_step_ends_no_answer_and_the_flow_fails_over() {
    let peer = sipp(
        Uas::Answer {
            audio: Audio::Machine,
            bye_after_ms: None,
        },
        Transport::Udp,
        1,
    );
    let app = app_with(peer.addr, "").await;
    let id = app
        .send_flow(&with_sms_after(voice(
            json!(PHONE),
            "Your code is 1 2 3 4",
            0,
            Some("Hangup"),
        )))
        .await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "NoAnswer", "{call:#}");
    assert_eq!(detail(&call).0, "Answered by machine");
    assert_eq!(call["answeredBy"], "machine");
    assert!(call["duration"].as_u64().unwrap() <= 6, "{call:#}");
    let notes = call_notes(&app, &id).await;
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("Machine detection: MAXWORDS-")
                || n.starts_with("Machine detection: LONGGREETING-")),
        "the detector's cause is in the timeline: {notes:?}"
    );
    let t = app.wait_final(&id).await;
    assert_eq!(
        status_of(&t["messages"][1]),
        "Delivered",
        "the SMS took over"
    );
    assert_eq!(peer.count_received("INVITE"), 1);
    assert_eq!(peer.count_received("BYE"), 1, "Cascade hung up");
}

#[tokio::test]
async fn a_machine_on_a_continue_step_hears_the_plan_after_its_greeting() {
    let callee = baresip(BaresipMode::AutoAnswer {
        audio: Audio::Machine,
    });
    let app = app_with(callee.addr, "").await;
    let id = app
        .send_flow(&flow(vec![voice(
            direct(callee.addr),
            "Please call us back about your order",
            0,
            Some("Continue"),
        )]))
        .await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "Completed", "{call:#}");
    assert_eq!(call["answeredBy"], "machine");
    let heard = wav_stats(&callee.wait_recording(Duration::from_secs(10)));
    let greeting = fixtures().machine_speech_s;
    // Cascade spoke only after the greeting and its beep were over.
    assert!(
        heard.first_voice_s.unwrap_or(0.0) >= greeting,
        "speech began at {:?} s, the greeting lasts {greeting} s: {heard:?}",
        heard.first_voice_s
    );
    assert!(call["duration"].as_f64().unwrap() >= greeting, "{call:#}");
}

#[tokio::test]
async fn busy_fails_over_to_the_next_step_after_one_invite() {
    let peer = sipp(Uas::Busy, Transport::Udp, 1);
    let app = app_with(peer.addr, "").await;
    let id = app
        .send_flow(&with_sms_after(voice(json!(PHONE), "Hello", 0, None)))
        .await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "Busy", "{call:#}");
    assert_eq!(detail(&call).1, "SIP 486 Busy Here");
    assert!(call["duration"].is_null() && call["answeredBy"].is_null());
    let t = app.wait_final(&id).await;
    assert_eq!(status_of(&t["messages"][1]), "Delivered");
    eventually("the ACK for 486", Duration::from_secs(5), || {
        peer.count_received("ACK") == 1
    })
    .await;
    assert_eq!(peer.count_received("INVITE"), 1);
}

#[tokio::test]
async fn ringing_past_the_ring_timeout_is_cancelled_as_no_answer() {
    let peer = sipp(
        Uas::Ring {
            unavailable_after_ms: None,
        },
        Transport::Udp,
        1,
    );
    let app = app_with(peer.addr, "").await;
    let started = Instant::now();
    let id = app
        .send_flow(&flow(vec![voice(json!(PHONE), "Hello", 0, None)]))
        .await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "NoAnswer", "{call:#}");
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert!(call["duration"].is_null() && call["answeredBy"].is_null());
    eventually("CANCEL then the ACK of 487", Duration::from_secs(5), || {
        peer.count_received("CANCEL") == 1 && peer.count_received("ACK") == 1
    })
    .await;
    let notes = call_notes(&app, &id).await;
    assert_eq!(notes.first().map(String::as_str), Some("SIP 180 Ringing"));
}

#[tokio::test]
async fn a_480_from_the_callee_is_no_answer() {
    let peer = sipp(
        Uas::Ring {
            unavailable_after_ms: Some(1000),
        },
        Transport::Udp,
        1,
    );
    let toml =
        section(peer.addr, "").replace("ring_timeout_seconds = 3", "ring_timeout_seconds = 30");
    let app = spawn_app_with_file(&toml, &[]).await;
    let id = app
        .send_flow(&flow(vec![voice(json!(PHONE), "Hello", 0, None)]))
        .await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "NoAnswer", "{call:#}");
    assert_eq!(detail(&call).1, "SIP 480 Temporarily Unavailable");
    assert_eq!(peer.count_received("CANCEL"), 0);
}

#[tokio::test]
async fn no_common_codec_is_a_failed_call() {
    let peer = sipp(Uas::NotAcceptable, Transport::Udp, 1);
    let app = app_with(peer.addr, "").await;
    let id = app
        .send_flow(&with_sms_after(voice(json!(PHONE), "Hello", 0, None)))
        .await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "Failed", "{call:#}");
    assert_eq!(detail(&call).1, "SIP 488 Not Acceptable Here");
    // Failed is not among the default failoverOnStatuses (Busy, NoAnswer).
    let t = app.wait_final(&id).await;
    assert_eq!(t["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_401_trunk_is_answered_with_digest_credentials_once() {
    let peer = sipp(
        Uas::Digest401 {
            user: "cascade".into(),
            password: "s3cret".into(),
            audio: Audio::Human,
        },
        Transport::Udp,
        1,
    );
    let app = app_with(peer.addr, "username = \"cascade\"\npassword = \"s3cret\"").await;
    let id = app
        .send_flow(&flow(vec![voice(json!(PHONE), "Hello there", 0, None)]))
        .await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "Completed", "{call:#}");
    assert_eq!(peer.count_received("INVITE"), 2);
    let notes = call_notes(&app, &id).await;
    assert!(
        notes.iter().any(|n| n == "SIP 401 Unauthorized"),
        "the challenge is in the timeline: {notes:?}"
    );

    let wrong = sipp(
        Uas::Digest401 {
            user: "cascade".into(),
            password: "s3cret".into(),
            audio: Audio::Human,
        },
        Transport::Udp,
        1,
    );
    let app = app_with(wrong.addr, "username = \"cascade\"\npassword = \"wrong\"").await;
    let id = app
        .send_flow(&flow(vec![voice(json!(PHONE), "Hello there", 0, None)]))
        .await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "Failed", "{call:#}");
    assert_eq!(detail(&call).1, "SIP 403 Forbidden");
    assert_eq!(wrong.count_received("INVITE"), 2, "one retry, never a loop");
}

#[tokio::test]
async fn a_407_trunk_authenticates_and_a_wrong_password_fails_after_one_retry() {
    let callee = sipp(
        Uas::Answer {
            audio: Audio::Human,
            bye_after_ms: None,
        },
        Transport::Udp,
        1,
    );
    let trunk = kamailio(
        "s3cret",
        KamailioRoutes {
            ring: None,
            busy: None,
            answer: Some(callee.addr),
        },
        false,
    );
    let app = app_with(trunk.addr, "username = \"cascade\"\npassword = \"s3cret\"").await;
    let id = app
        .send_flow(&flow(vec![voice(json!(PHONE), "Hello there", 0, None)]))
        .await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "Completed", "{call:#}");
    assert_eq!(trunk.count("REQ INVITE cseq=1"), 1, "{}", trunk.log());
    assert_eq!(trunk.count("REQ INVITE cseq=2"), 1, "{}", trunk.log());
    let notes = call_notes(&app, &id).await;
    assert!(
        notes
            .iter()
            .any(|n| n == "SIP 407 Proxy Authentication Required"),
        "{notes:?}"
    );

    let app = app_with(trunk.addr, "username = \"cascade\"\npassword = \"nope\"").await;
    let id = app
        .send_flow(&flow(vec![voice(json!(PHONE), "Hello there", 0, None)]))
        .await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "Failed", "{call:#}");
    assert!(detail(&call).1.starts_with("SIP 407"), "{call:#}");
    assert_eq!(
        trunk.count("REQ INVITE"),
        4,
        "two per call: {}",
        trunk.log()
    );
}

#[tokio::test]
async fn a_cancel_through_the_authenticating_trunk_carries_the_authenticated_cseq() {
    let callee = baresip(BaresipMode::Manual);
    let trunk = kamailio(
        "s3cret",
        KamailioRoutes {
            ring: Some(callee.addr),
            busy: None,
            answer: None,
        },
        false,
    );
    let app = app_with(trunk.addr, "username = \"cascade\"\npassword = \"s3cret\"").await;
    let mut step = voice(json!(PHONE), "Hello", 0, None);
    // Kamailio sends a call to the user "ring" to the callee that never answers.
    step["to"] = json!({"sip": format!("ring@{}", trunk.addr)});
    let id = app.send_flow(&flow(vec![step])).await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "NoAnswer", "{call:#}");
    let trunk_log = trunk.log();
    eventually("the 487 relayed", Duration::from_secs(5), || {
        trunk.count("RPL 487") >= 1
    })
    .await;
    assert!(
        trunk_log.contains("REQ CANCEL cseq=2"),
        "CANCEL with the authenticated INVITE's CSeq: {trunk_log}"
    );
}

#[tokio::test]
async fn when_the_callee_hangs_up_first_the_call_completes_with_its_length() {
    let peer = sipp(
        Uas::Answer {
            audio: Audio::Human,
            bye_after_ms: Some(1000),
        },
        Transport::Udp,
        1,
    );
    let app = app_with(peer.addr, "").await;
    let id = app
        .send_flow(&flow(vec![voice(
            json!(PHONE),
            "This message is long enough to be cut off by the callee hanging up early",
            2,
            None,
        )]))
        .await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "Completed", "{call:#}");
    assert_eq!(call["duration"], 1, "{call:#}\n{}", peer.messages());
    assert_eq!(peer.count_received("BYE"), 0, "the callee's BYE ended it");
    let mut peer = peer;
    let status = peer.wait_exit(Duration::from_secs(10)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "SIPp got its 200 for BYE: {}",
        peer.messages()
    );
}

#[tokio::test]
async fn a_silent_callee_is_unknown_and_still_hears_the_plan() {
    let peer = sipp(
        Uas::Answer {
            audio: Audio::Silent,
            bye_after_ms: None,
        },
        Transport::Udp,
        1,
    );
    let app = app_with(peer.addr, "[provider.amd]\ninitial_silence = 1500").await;
    let id = app
        .send_flow(&flow(vec![voice(json!(PHONE), "Hello", 0, Some("Hangup"))]))
        .await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "Completed", "{call:#}");
    assert_eq!(call["answeredBy"], "unknown");
    let notes = call_notes(&app, &id).await;
    assert!(
        notes
            .iter()
            .any(|n| n == "Machine detection: INITIALSILENCE-1500-1500"),
        "{notes:?}"
    );
}

#[tokio::test]
async fn calls_over_tcp_complete() {
    let peer = sipp(
        Uas::Answer {
            audio: Audio::Human,
            bye_after_ms: None,
        },
        Transport::Tcp,
        1,
    );
    let toml = section(peer.addr, "").replace(
        &format!("trunk = \"sip:{}\"", peer.addr),
        &format!("trunk = \"sip:{};transport=tcp\"", peer.addr),
    );
    let app = spawn_app_with_file(&toml, &[]).await;
    let id = app
        .send_flow(&flow(vec![voice(json!(PHONE), "Hello", 0, None)]))
        .await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "Completed", "{call:#}");
    assert!(peer.messages().contains("TCP message received"), "over TCP");
}

#[tokio::test]
async fn a_repeated_200_ok_is_acknowledged_again() {
    let peer = sipp(
        Uas::LossyOk {
            audio: Audio::Human,
        },
        Transport::Udp,
        1,
    );
    // The 200 OK may be lost several times over: the ring timeout must outlast the
    // retransmissions (500 ms doubling up to 4 s).
    let toml =
        section(peer.addr, "").replace("ring_timeout_seconds = 3", "ring_timeout_seconds = 30");
    let app = spawn_app_with_file(&toml, &[]).await;
    let id = app
        .send_flow(&flow(vec![voice(json!(PHONE), "Hello", 0, None)]))
        .await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "Completed", "{call:#}");
    assert_eq!(
        peer.count_received("ACK"),
        2,
        "the repeated 200 OK was ACKed again: {}",
        peer.messages()
    );
}

#[tokio::test]
async fn five_calls_at_once_each_complete_on_their_own_dialog() {
    let peer = sipp(
        Uas::Answer {
            audio: Audio::Human,
            bye_after_ms: None,
        },
        Transport::Udp,
        5,
    );
    let app = app_with(peer.addr, "").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let to = format!("+30691234567{i}");
        ids.push(
            app.send_flow(&flow(vec![voice(json!(to), "Hello", 0, None)]))
                .await,
        );
    }
    for id in &ids {
        let call = wait_call(&app, id).await;
        assert_eq!(status_of(&call), "Completed", "{call:#}");
    }
    let trace = peer.messages();
    let mut call_ids: Vec<&str> = trace
        .lines()
        .filter_map(|l| l.strip_prefix("Call-ID: "))
        .collect();
    call_ids.sort_unstable();
    call_ids.dedup();
    assert_eq!(call_ids.len(), 5, "distinct dialogs");
}

/// RTP as the callee receives it: payload type, 20 ms pacing, timestamps, sequence.
/// With `stray`, another stream (in sequence, one SSRC, every 10 ms) reaches the call's
/// RTP port from before the call to its end, as a stream meant for an earlier call on
/// that port would: the callee answered from loopback, so it is not taken as the
/// callee's and the call's audio still goes where the answer said.
async fn pacing_at_the_peer(pcma: bool, stray: bool) {
    let sink = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let rtp_port = sink.local_addr().unwrap().port();
    let peer = sipp(Uas::MediaTo { rtp_port, pcma }, Transport::Udp, 1);
    let mut toml = section(peer.addr, "");
    let mut strays = None;
    if stray {
        // A range of one usable port, so the stray stream is aimed at the call's; below
        // Linux's ephemeral ports (32768 up), so no socket bound to port 0 takes it.
        let call_port = 31_100;
        toml = toml.replace("32000-32999", &format!("{call_port}-{}", call_port + 1));
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = Arc::clone(&sent);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            for sequence in 0u16.. {
                tick.tick().await;
                let packet = cascade_media::rtp::Packet {
                    marker: false,
                    payload_type: 0,
                    sequence,
                    timestamp: u32::from(sequence) * 160,
                    ssrc: 0x5747_A4A4,
                    payload: vec![0xFF; 160],
                };
                let _ = socket.send_to(&packet.to_bytes(), ("127.0.0.1", call_port));
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        strays = Some((task, sent));
    }
    let app = spawn_app_with_file(&toml, &[]).await;
    let id = app
        .send_flow(&flow(vec![voice(
            json!(PHONE),
            "One two three four five six seven eight nine ten",
            1,
            None,
        )]))
        .await;
    let mut arrivals = Vec::new();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.len() < 250 && Instant::now() < deadline {
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_secs(5), sink.recv_from(&mut buf)).await
        {
            let p = cascade_media::rtp::Packet::parse(&buf[..n]).expect("RTP");
            arrivals.push((Instant::now(), p));
        }
    }
    assert!(arrivals.len() >= 200, "{} packets", arrivals.len());
    let pt = if pcma { 8 } else { 0 };
    assert!(
        arrivals
            .iter()
            .all(|(_, p)| p.payload_type == pt && p.payload.len() == 160)
    );
    let ssrc = arrivals[0].1.ssrc;
    assert!(arrivals.iter().all(|(_, p)| p.ssrc == ssrc), "one SSRC");
    let mut gaps: Vec<f64> = Vec::new();
    for w in arrivals.windows(2) {
        let (a, b) = (&w[0].1, &w[1].1);
        assert_eq!(b.sequence, a.sequence.wrapping_add(1), "consecutive");
        assert_eq!(b.timestamp, a.timestamp.wrapping_add(160), "160 per frame");
        gaps.push((w[1].0 - w[0].0).as_secs_f64() * 1000.0);
    }
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    gaps.sort_by(f64::total_cmp);
    let p99 = gaps[gaps.len() * 99 / 100];
    assert!((19.0..=21.0).contains(&mean), "mean gap {mean:.2} ms");
    assert!(p99 < 40.0, "p99 gap {p99:.2} ms");
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "Completed", "{call:#}");
    if let Some((task, sent)) = strays {
        task.abort();
        let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            sent > 300,
            "the stray stream ran through the call: {sent} packets"
        );
    }
}

#[tokio::test]
async fn rtp_reaches_the_callee_every_20_ms_in_pcmu() {
    pacing_at_the_peer(false, false).await;
}

#[tokio::test]
async fn a_callee_that_takes_only_pcma_gets_pcma() {
    pacing_at_the_peer(true, false).await;
}

#[tokio::test]
async fn a_stray_stream_on_the_call_port_does_not_take_the_callees_audio() {
    pacing_at_the_peer(false, true).await;
}

#[tokio::test]
async fn the_dial_plan_plays_in_each_of_the_fourteen_languages() {
    // Speech is made for every language of the spec with both genders, before any call.
    let tts = cascade_providers::sip::tts::Tts::new(cascade_providers::sip::settings::DEFAULT_TTS)
        .unwrap();
    for language in [
        "en-US", "en-GB", "de-DE", "fr-FR", "it-IT", "es-ES", "es-LA", "pt-BR", "el-GR", "ru-RU",
        "pl-PL", "sv-SE", "hu-HU", "bg-BG",
    ] {
        for female in [true, false] {
            let voice = cascade_media::playback::espeak_voice(language, female)
                .unwrap_or_else(|| panic!("a voice for {language}"));
            let speech = tts.speak("1 2 3", &voice).await.expect(language);
            assert!(
                speech.len() > 8_000 / 2,
                "{language}: {} samples",
                speech.len()
            );
        }
    }
}

/// `cascade serve` as a child process (so it can be SIGKILLed) with a bootstrap
/// application, on `db`, with the configuration `toml`. Returns it and its base URL.
async fn serve_process(
    dir: &std::path::Path,
    database: &str,
    toml: &str,
) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let config = dir.join("cascade.toml");
    std::fs::write(&config, toml).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cascade"))
        .arg("serve")
        .env("CASCADE_CONFIG", &config)
        .env("CASCADE_LISTEN", "127.0.0.1:0")
        .env("CASCADE_SANDBOX_SMPP_LISTEN", "127.0.0.1:0")
        .env("CASCADE_DATABASE_URL", database)
        // PostgreSQL: a killed node's work is taken over two seconds after its last
        // heartbeat (SQLite ignores it: its next server voids the leases at start).
        .env("CASCADE_LEASE_MS", "2000")
        .env("CASCADE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("CASCADE_BOOTSTRAP_APPLICATION", "sip-app:sip-secret-12345")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the cascade binary starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("cascade: listening on ") {
                return url.trim().to_owned();
            }
        }
        panic!("cascade exited before listening");
    })
    .await
    .expect("cascade listens within a minute");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

async fn call_status(http: &reqwest::Client, base: &str, token: &str, id: &str) -> Value {
    http.get(format!("{base}/failover/tracking/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["messages"][0]
        .clone()
}

#[tokio::test]
async fn a_call_cut_by_kill_9_ends_interrupted_and_is_never_dialled_again() {
    let peer = sipp(
        Uas::Answer {
            audio: Audio::Human,
            bye_after_ms: None,
        },
        Transport::Udp,
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let toml = section(peer.addr, "");
    let database = fresh_database_url(dir.path()).await;
    let (mut first, base) = serve_process(dir.path(), &database, &toml).await;
    let http = reqwest::Client::new();
    let token = token_at(&base, "sip-app", "sip-secret-12345").await;
    let id = http
        .post(format!("{base}/failover"))
        .bearer_auth(&token)
        .json(&flow(vec![voice(
            json!(PHONE),
            "This is a long message that is still playing when the server dies",
            5,
            None,
        )]))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["trackingId"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let call = call_status(&http, &base, &token, &id).await;
        if status_of(&call) == "InProgress" {
            break;
        }
        assert!(Instant::now() < deadline, "never answered: {call:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().await.expect("kill -9");

    let (_second, base) = serve_process(dir.path(), &database, &toml).await;
    let token = token_at(&base, "sip-app", "sip-secret-12345").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let call = loop {
        let call = call_status(&http, &base, &token, &id).await;
        if FINAL.contains(&status_of(&call)) {
            break call;
        }
        assert!(Instant::now() < deadline, "not ended: {call:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status_of(&call), "Failed", "{call:#}");
    assert_eq!(detail(&call).0, "Interrupted");
    assert_eq!(
        peer.count_received("INVITE"),
        1,
        "no second INVITE for the step"
    );
}

/// Serve `body` as a WAV over HTTP on loopback; returns its URL.
async fn serve_wav(body: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    format!("http://{addr}/prompt.wav")
}

#[tokio::test]
async fn a_play_verb_fetches_a_wav_and_the_callee_hears_it_resampled() {
    // A 22.05 kHz recording: what the callee hears went through the resampler.
    let wav = std::fs::read(fixtures().greeting_22k()).unwrap();
    let url = serve_wav(wav).await;
    let callee = baresip(BaresipMode::AutoAnswer {
        audio: Audio::Human,
    });
    let app = app_with(callee.addr, "").await;
    let step = json!({
        "type": "Voice", "order": 1, "from": "+306900000000", "to": direct(callee.addr),
        "dialPlan": {"verbs": [{"type": "PLAY", "fileURL": url}]}
    });
    let id = app.send_flow(&flow(vec![step])).await;
    let call = wait_call(&app, &id).await;
    assert_eq!(status_of(&call), "Completed", "{call:#}");
    let heard = wav_stats(&callee.wait_recording(Duration::from_secs(10)));
    // The same recording resampled by sox: its voiced time is what the callee should hear.
    let source = wav_stats(&fixtures().greeting_8k());
    let played = source.seconds;
    assert!(
        (heard.voiced_seconds - source.voiced_seconds).abs() <= 0.15 * source.voiced_seconds,
        "heard {heard:?}, the recording holds {source:?}"
    );
    let duration = call["duration"].as_f64().unwrap();
    assert!(
        (duration - played).abs() <= 2.0,
        "duration {duration} for {played:.1} s"
    );
}
