//! Voice over SIP figures (issue #10), each measured on the code the calls run:
//!
//! - `pacing`: N concurrent RTP streams paced exactly as a call's media task paces them
//!   (`cascade_media::stream::Sender`, absolute 20 ms deadlines, one tokio task and one
//!   UDP socket per stream, G.711 encoding of each frame), received on loopback by a
//!   receiver task per stream: the jitter of arrival gaps at the receiver, and the CPU
//!   the process spent per stream (from /proc/self/stat);
//! - `tts`: seconds of synthesis per second of speech with the default espeak-ng
//!   command, on a cold cache and again from the cache;
//! - `amd`: when the machine detector decides on the human and machine fixtures (audio
//!   time) and how long the decision costs to compute.
//!
//! `cargo run --release -p cascade-bench --bin voice-bench -- all`

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cascade_media::g711::Codec;
use cascade_media::stream::Sender;
use cascade_media::{FRAME_SAMPLES, wav};
use cascade_providers::sip::tts::Tts;
use clap::{Parser, ValueEnum};

#[derive(Parser)]
struct Args {
    #[arg(value_enum, default_value = "all")]
    what: What,
    /// Concurrent streams for `pacing` (several values: several runs).
    #[arg(long, value_delimiter = ',', default_value = "10,100,300")]
    streams: Vec<usize>,
    /// Seconds per pacing run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum What {
    All,
    Pacing,
    Tts,
    Amd,
}

/// Process CPU time (user + system), from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are 12 and 13 after the ')'.
    let ticks: u64 = fields
        .get(11)
        .and_then(|u| u.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn pacing(streams: usize, seconds: u64) {
    let audio: Arc<Vec<i16>> = Arc::new(
        (0..8_000 * 5)
            .map(|i| ((i as f64 * 0.05).sin() * 8000.0) as i16)
            .collect(),
    );
    let cpu0 = cpu_time();
    let wall0 = Instant::now();
    let mut receivers = Vec::new();
    for _ in 0..streams {
        let rx = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tx = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = rx.local_addr().unwrap();
        let audio = Arc::clone(&audio);
        tokio::spawn(async move {
            let start = Instant::now();
            let mut sender = Sender::new(start, rand_u32(), 0, 1, 1);
            let mut cursor = 0usize;
            let end = start + Duration::from_secs(seconds);
            loop {
                let deadline = sender.next_deadline();
                if deadline >= end {
                    break;
                }
                tokio::time::sleep_until(deadline.into()).await;
                let frame = &audio[cursor..cursor + FRAME_SAMPLES];
                cursor = (cursor + FRAME_SAMPLES) % (audio.len() - FRAME_SAMPLES);
                let packet = sender.next_packet(Codec::Pcmu.encode_all(frame), Instant::now());
                let _ = tx.send_to(&packet.to_bytes(), to).await;
            }
        });
        receivers.push(tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let mut last: Option<Instant> = None;
            let mut gaps = Vec::new();
            while let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_millis(500), rx.recv_from(&mut buf)).await
            {
                let now = Instant::now();
                if let Some(prev) = last {
                    gaps.push((now - prev).as_secs_f64() * 1000.0);
                }
                last = Some(now);
            }
            gaps
        }));
    }
    let mut jitter = Vec::new();
    let mut packets = 0usize;
    for r in receivers {
        let gaps = r.await.unwrap();
        packets += gaps.len() + 1;
        jitter.extend(gaps.iter().map(|g| (g - 20.0).abs()));
    }
    let wall = wall0.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu0).as_secs_f64();
    jitter.sort_by(f64::total_cmp);
    let expected = streams as u64 * seconds * 50;
    println!(
        "pacing: {streams} streams x {seconds} s: packets {packets}/{expected}, |gap-20ms| p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; CPU {:.3}% of one core per stream ({:.2} s CPU in {:.1} s)",
        percentile(&jitter, 0.5),
        percentile(&jitter, 0.99),
        jitter.last().copied().unwrap_or(f64::NAN),
        cpu / wall / streams as f64 * 100.0,
        cpu,
        wall,
    );
}

fn rand_u32() -> u32 {
    // Distinct enough for a benchmark's SSRCs.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.subsec_nanos())
}

async fn tts() {
    let tts = Tts::new(cascade_providers::sip::settings::DEFAULT_TTS).expect("template");
    let sentences = [
        (
            "Your verification code is 4 4 7 1. I repeat: 4 4 7 1.",
            "en-us+f3",
        ),
        ("Ο κωδικός σας είναι 1 2 3 4.", "el+m3"),
        ("Ihr Bestätigungscode lautet 9 8 7 6.", "de+f3"),
        (
            "Votre rendez-vous est confirmé pour demain à dix heures.",
            "fr-fr+m3",
        ),
        ("Su pedido ha sido enviado y llegará el jueves.", "es+f3"),
    ];
    for (round, label) in [(0, "cold"), (1, "cached")] {
        let mut speech = 0.0;
        let started = Instant::now();
        for (text, voice) in sentences {
            let samples = tts.speak(text, voice).await.expect("espeak-ng speaks");
            speech += samples.len() as f64 / 8_000.0;
        }
        let took = started.elapsed().as_secs_f64();
        println!(
            "tts ({label}, round {round}): {:.1} s of speech in {:.3} ms: {:.4} ms per second of speech",
            speech,
            took * 1000.0,
            took * 1000.0 / speech
        );
    }
}

fn sh(program: &str, args: &str, dir: &std::path::Path) {
    let ok = Command::new(program)
        .args(args.split(' '))
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{program} {args}");
}

fn amd() {
    use cascade_media::amd::{AmdSettings, Detector};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sh("espeak-ng", "-w hello22k.wav Hello?", d);
    let greeting = "Hi, you have reached the voicemail of Alex Smith. I am not available to take your call right now. Please leave your name, number and a short message after the tone.";
    let ok = Command::new("espeak-ng")
        .args(["-s", "160", "-w", "greet22k.wav", greeting])
        .current_dir(d)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "espeak-ng");
    sh("sox", "-n -r 8000 -c 1 -b 16 sil300.wav trim 0 0.3", d);
    sh("sox", "-n -r 8000 -c 1 -b 16 sil5.wav trim 0 5", d);
    sh("sox", "hello22k.wav -r 8000 -c 1 -b 16 hello8k.wav", d);
    sh("sox", "greet22k.wav -r 8000 -c 1 -b 16 greet8k.wav", d);
    sh("sox", "sil300.wav hello8k.wav sil5.wav human.wav", d);
    sh("sox", "sil300.wav greet8k.wav sil5.wav machine.wav", d);
    for name in ["human", "machine"] {
        let audio = wav::read(&std::fs::read(d.join(format!("{name}.wav"))).unwrap()).unwrap();
        // G.711 round trip, as the detector hears a call.
        let heard: Vec<i16> = Codec::Pcmu.decode_all(&Codec::Pcmu.encode_all(&audio.samples));
        let runs = 1000;
        let started = Instant::now();
        let mut verdict = None;
        for _ in 0..runs {
            let mut detector = Detector::new(AmdSettings::default());
            verdict = heard
                .chunks(FRAME_SAMPLES)
                .find_map(|frame| detector.frame(Some(frame)).cloned());
        }
        let per = started.elapsed().as_secs_f64() * 1e6 / f64::from(runs);
        let v = verdict.expect("a verdict");
        println!(
            "amd {name}: {} ({}) after {} ms of audio (0.3 s lead silence included); {per:.1} µs of CPU per decision",
            v.answered_by(),
            v.cause,
            v.after_ms
        );
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = Args::parse();
    if matches!(args.what, What::All | What::Amd) {
        amd();
    }
    if matches!(args.what, What::All | What::Tts) {
        tts().await;
    }
    if matches!(args.what, What::All | What::Pacing) {
        for n in &args.streams {
            pacing(*n, args.seconds).await;
        }
    }
}
