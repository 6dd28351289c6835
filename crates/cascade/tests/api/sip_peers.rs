//! Third-party SIP peers for the Voice over SIP tests, from Debian's packages: SIPp
//! (`sip-tester`) playing scripted callees, baresip as a callee that records what it
//! heard, Kamailio as a trunk that challenges with 407. Each runs on 127.0.0.1 on free
//! ports, is waited for until it listens, and is killed by process id when dropped.
//! Audio fixtures are made once per test process with `espeak-ng` and `sox`.
//!
//! - [`fixtures`]: a human "Hello?" and a machine greeting with a beep, as 16-bit 8 kHz
//!   WAVs (baresip's source) and raw μ-law / A-law (SIPp's `rtp_stream` sends a file as
//!   it is, header and all);
//! - [`sipp`] with a [`Uas`] scenario; [`SippPeer::count_received`] reads its trace;
//! - [`baresip`] ([`BaresipMode`]); [`Baresip::wait_recording`] and [`wav_stats`];
//! - [`kamailio`] with [`KamailioRoutes`]; [`Kamailio::count`] reads its log.

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The audio the peers play.
#[derive(Debug)]
pub struct Fixtures {
    dir: PathBuf,
    /// Seconds of speech in the machine greeting (the beep starts 0.3 s after it).
    pub machine_speech_s: f64,
}

impl Fixtures {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The machine greeting as espeak-ng wrote it: 22.05 kHz, 16-bit.
    pub fn greeting_22k(&self) -> PathBuf {
        self.path("greet22k.wav")
    }

    /// The same, resampled to 8 kHz by sox.
    pub fn greeting_8k(&self) -> PathBuf {
        self.path("greet8k.wav")
    }
}

fn run(program: &str, args: &[&str], dir: &Path) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is needed by the SIP tests ({e}); .ci/run installs it")
        });
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn seconds_of(wav: &Path) -> f64 {
    wav_stats(wav).seconds
}

/// Made once per test process.
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory").keep();
        let d = dir.as_path();
        run("espeak-ng", &["-w", "hello22k.wav", "Hello?"], d);
        run(
            "espeak-ng",
            &[
                "-s",
                "160",
                "-w",
                "greet22k.wav",
                "Hi, you have reached the voicemail of Alex Smith. I am not available to take \
                 your call right now. Please leave your name, number and a short message after \
                 the tone, and I will call you back as soon as I can.",
            ],
            d,
        );
        let sox = |args: &str| run("sox", &args.split(' ').collect::<Vec<_>>(), d);
        sox("-n -r 8000 -c 1 -b 16 beep.wav synth 0.6 sine 1000 vol 0.5");
        sox("-n -r 8000 -c 1 -b 16 sil300.wav trim 0 0.3");
        sox("-n -r 8000 -c 1 -b 16 sil5.wav trim 0 5");
        sox("-n -r 8000 -c 1 -b 16 sil60.wav trim 0 60");
        sox("hello22k.wav -r 8000 -c 1 -b 16 hello8k.wav");
        sox("greet22k.wav -r 8000 -c 1 -b 16 greet8k.wav");
        sox("sil300.wav hello8k.wav sil5.wav human_8k.wav");
        sox("sil300.wav greet8k.wav sil300.wav beep.wav sil5.wav machine_8k.wav");
        // baresip's sources outlast any call: what happens after their end is not
        // something the tests should depend on.
        sox("human_8k.wav sil60.wav human_long_8k.wav");
        sox("machine_8k.wav sil60.wav machine_long_8k.wav");
        // Raw G.711: SIPp's rtp_stream sends the file as it is, a WAV header included
        // (a click at the start of the stream).
        sox("human_8k.wav -t raw -e u-law human.ulaw");
        sox("human_8k.wav -t raw -e a-law human.alaw");
        sox("machine_8k.wav -t raw -e u-law machine.ulaw");
        let machine_speech_s = seconds_of(&d.join("greet8k.wav")) + 0.3;
        Fixtures {
            dir,
            machine_speech_s,
        }
    })
}

/// What a peer plays once it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audio {
    Human,
    Machine,
    HumanPcma,
    Silent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// SIPp callee scenarios.
#[derive(Debug, Clone)]
pub enum Uas {
    /// 180, then 200 OK with SDP after 300 ms; plays `audio`; waits for BYE, or sends
    /// one itself `bye_after_ms` after the ACK.
    Answer {
        audio: Audio,
        bye_after_ms: Option<u64>,
    },
    /// 486 Busy Here.
    Busy,
    /// 180, then waits for CANCEL (200, 487); or answers 480 after the delay.
    Ring { unavailable_after_ms: Option<u64> },
    /// 401 with qop=auth, then checks the retried INVITE: answers, or 403.
    Digest401 {
        user: String,
        password: String,
        audio: Audio,
    },
    /// 488 Not Acceptable Here.
    NotAcceptable,
    /// As `Answer`, with the caller's first ACK taken as lost: SIPp repeats its 200 OK
    /// and the caller must ACK it again (UDP only).
    LossyOk { audio: Audio },
    /// Answers with an SDP whose audio goes to 127.0.0.1:`rtp_port` (a socket the test
    /// holds), PCMA only when `pcma`; waits for BYE.
    MediaTo { rtp_port: u16, pcma: bool },
}

const REPLY_HEADERS: &str = "[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>";

fn reply(status: &str, extra: &str) -> String {
    format!(
        "  <send><![CDATA[\nSIP/2.0 {status}\n{REPLY_HEADERS}\n{extra}Content-Length: 0\n\n]]></send>\n"
    )
}

fn ok_with_sdp(port: &str, pcma: bool) -> String {
    let (pt, name) = if pcma { (8, "PCMA") } else { (0, "PCMU") };
    format!(
        "  <send retrans=\"500\"><![CDATA[\nSIP/2.0 200 OK\n{REPLY_HEADERS}\nContent-Type: application/sdp\nContent-Length: [len]\n\nv=0\no=sipp 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio {port} RTP/AVP {pt}\na=rtpmap:{pt} {name}/8000\na=ptime:20\n]]></send>\n"
    )
}

fn play(audio: Audio) -> String {
    let f = fixtures();
    let (file, codec) = match audio {
        Audio::Human => (f.path("human.ulaw"), "PCMU/8000"),
        Audio::HumanPcma => (f.path("human.alaw"), "PCMA/8000"),
        Audio::Machine => (f.path("machine.ulaw"), "PCMU/8000"),
        Audio::Silent => return String::new(),
    };
    format!(
        "  <nop><action><exec rtp_stream=\"{},1,0,{codec}\"/></action></nop>\n",
        file.display()
    )
}

fn answer(audio: Audio, bye_after_ms: Option<u64>, lost: bool) -> String {
    let mut x = reply("180 Ringing", "");
    x.push_str("  <pause milliseconds=\"300\"/>\n");
    x.push_str(&ok_with_sdp(
        "[rtpstream_audio_port]",
        audio == Audio::HumanPcma,
    ));
    if lost {
        // The first ACK is taken as lost: 250 ms later (before SIPp repeats its 200 at
        // 500 ms) the next step waits for the ACK of the repeated 200. (Losing copies of
        // the 200 instead only delays the one the caller sees: it never ACKs twice.)
        x.push_str(
            "  <recv request=\"ACK\" lost=\"100\" timeout=\"250\" ontimeout=\"reack\"/>\n  <label id=\"reack\"/>\n",
        );
    }
    if bye_after_ms.is_some() {
        // The callee's own BYE needs the dialog's From and To (SIPp refuses variables
        // that are never used, so they are only taken here).
        x.push_str(
            "  <recv request=\"ACK\" crlf=\"true\">\n    <action>\n      <ereg regexp=\".*\" search_in=\"hdr\" header=\"From:\" assign_to=\"remote\"/>\n      <ereg regexp=\".*\" search_in=\"hdr\" header=\"To:\" assign_to=\"local\"/>\n    </action>\n  </recv>\n",
        );
    } else {
        x.push_str("  <recv request=\"ACK\" crlf=\"true\"/>\n");
    }
    x.push_str(&play(audio));
    match bye_after_ms {
        None => {
            x.push_str("  <recv request=\"BYE\" timeout=\"60000\"/>\n");
            x.push_str("  <send><![CDATA[\nSIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n]]></send>\n");
        }
        Some(ms) => {
            x.push_str(&format!("  <pause milliseconds=\"{ms}\"/>\n"));
            x.push_str("  <send retrans=\"500\"><![CDATA[\nBYE [$contact] SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\nFrom:[$local]\nTo:[$remote]\n[last_Call-ID:]\nCSeq: 1 BYE\nMax-Forwards: 70\nContent-Length: 0\n\n]]></send>\n");
            x.push_str("  <recv response=\"200\"/>\n");
        }
    }
    x
}

fn scenario(uas: &Uas) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"cascade\">\n",
    );
    if let Uas::Answer {
        bye_after_ms: Some(_),
        ..
    } = uas
    {
        // Where the callee's own BYE goes: the caller's Contact.
        x.push_str("  <recv request=\"INVITE\" crlf=\"true\">\n    <action><ereg regexp=\"sip:[^>;]*\" search_in=\"hdr\" header=\"Contact:\" assign_to=\"contact\"/></action>\n  </recv>\n");
    } else {
        x.push_str("  <recv request=\"INVITE\" crlf=\"true\"/>\n");
    }
    match uas {
        Uas::Answer {
            audio,
            bye_after_ms,
        } => x.push_str(&answer(*audio, *bye_after_ms, false)),
        Uas::LossyOk { audio } => x.push_str(&answer(*audio, None, true)),
        Uas::Busy => {
            x.push_str(&reply("486 Busy Here", ""));
            x.push_str("  <recv request=\"ACK\"/>\n");
        }
        Uas::NotAcceptable => {
            x.push_str(&reply("488 Not Acceptable Here", ""));
            x.push_str("  <recv request=\"ACK\"/>\n");
        }
        Uas::Ring {
            unavailable_after_ms,
        } => {
            x.push_str(&reply("180 Ringing", ""));
            let timeout = unavailable_after_ms.unwrap_or(30_000);
            x.push_str(&format!(
                "  <recv request=\"CANCEL\" timeout=\"{timeout}\" ontimeout=\"unavail\"/>\n"
            ));
            x.push_str("  <send><![CDATA[\nSIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag01[call_number]\n[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n]]></send>\n");
            x.push_str("  <send><![CDATA[\nSIP/2.0 487 Request Terminated\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag01[call_number]\n[last_Call-ID:]\nCSeq: [cseq] INVITE\nContent-Length: 0\n\n]]></send>\n");
            x.push_str("  <recv request=\"ACK\" next=\"end\"/>\n  <label id=\"unavail\"/>\n");
            x.push_str(&reply("480 Temporarily Unavailable", ""));
            x.push_str("  <recv request=\"ACK\"/>\n  <label id=\"end\"/>\n");
        }
        Uas::Digest401 {
            user,
            password,
            audio,
        } => {
            x.push_str(&reply(
                "401 Unauthorized",
                "WWW-Authenticate: Digest realm=\"trunk.test\", nonce=\"[pid][call_number]c0ffee\", qop=\"auth\", algorithm=MD5\n",
            ));
            x.push_str("  <recv request=\"ACK\"/>\n");
            x.push_str(&format!(
                "  <recv request=\"INVITE\" crlf=\"true\">\n    <action><verifyauth assign_to=\"authok\" username=\"{user}\" password=\"{password}\"/></action>\n  </recv>\n  <nop hide=\"true\" test=\"authok\" next=\"ok\"/>\n"
            ));
            x.push_str(&reply("403 Forbidden", "").replace("<send>", "<send next=\"end\">"));
            x.push_str("  <recv request=\"ACK\" next=\"end\"/>\n  <label id=\"ok\"/>\n");
            x.push_str(&answer(*audio, None, false));
            x.push_str("  <label id=\"end\"/>\n");
        }
        Uas::MediaTo { rtp_port, pcma } => {
            x.push_str(&reply("180 Ringing", ""));
            x.push_str(&ok_with_sdp(&rtp_port.to_string(), *pcma));
            x.push_str("  <recv request=\"ACK\" crlf=\"true\"/>\n");
            x.push_str("  <recv request=\"BYE\" timeout=\"60000\"/>\n");
            x.push_str("  <send><![CDATA[\nSIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n]]></send>\n");
        }
    }
    x.push_str("</scenario>\n");
    x
}

/// A free UDP port on loopback (released for the peer to take).
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A peer started in its own process group, killed with every process it forked
/// (Kamailio's workers outlive their parent) and reaped when dropped.
struct Process(Child);

/// Start `cmd` as the leader of a new process group.
fn spawn_group(cmd: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0).spawn()
}

impl Drop for Process {
    fn drop(&mut self) {
        // SIGKILL to the group (its id is the leader's pid); `unsafe` is forbidden here,
        // so through kill(1).
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{}", self.0.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running SIPp callee.
pub struct SippPeer {
    pub addr: SocketAddr,
    process: Process,
    trace: PathBuf,
    _dir: tempfile::TempDir,
}

/// Start SIPp playing `uas` for `calls` calls.
pub fn sipp(uas: Uas, transport: Transport, calls: u32) -> SippPeer {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("uas.xml");
    std::fs::write(&xml, scenario(&uas)).unwrap();
    let trace = dir.path().join("messages.log");
    for _attempt in 0..5 {
        let port = free_udp_port();
        // SIPp's media ports (audio from -mp, one pair per call).
        let media = 20_000 + (free_udp_port() % 20_000) / 2 * 2;
        let mut cmd = Command::new("sipp");
        cmd.arg("-sf")
            .arg(&xml)
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &media.to_string()])
            .args([
                "-m",
                &calls.to_string(),
                "-nostdin",
                "-trace_msg",
                "-trace_err",
            ])
            .arg("-message_file")
            .arg(&trace)
            .arg("-error_file")
            .arg(dir.path().join("errors.log"))
            .args(["-timeout", "90s", "-max_recv_loops", "1000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if transport == Transport::Tcp {
            cmd.args(["-t", "t1"]);
        }
        let mut child =
            spawn_group(&mut cmd).expect("sipp (Debian sip-tester) is needed; .ci/run installs it");
        std::thread::sleep(Duration::from_millis(1));
        let deadline = Instant::now() + Duration::from_secs(10);
        let tcp = transport == Transport::Tcp;
        let mut started = false;
        while Instant::now() < deadline {
            let up = if tcp {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            } else {
                UdpSocket::bind(("127.0.0.1", port)).is_err()
            };
            if up {
                started = true;
                break;
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if started {
            return SippPeer {
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                process: Process(child),
                trace,
                _dir: dir,
            };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!(
        "SIPp did not start: {}",
        errors(&dir.path().join("errors.log"))
    );
}

fn errors(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl SippPeer {
    /// SIPp's message trace so far.
    pub fn messages(&self) -> String {
        std::fs::read_to_string(&self.trace).unwrap_or_default()
    }

    /// Requests of `method` SIPp received.
    pub fn count_received(&self, method: &str) -> usize {
        let trace = self.messages();
        let prefix = format!("{method} ");
        let mut lines = trace.lines();
        let mut count = 0;
        while let Some(line) = lines.next() {
            if line.contains("message received") {
                // A blank line, then the start line.
                let start = lines.by_ref().find(|l| !l.trim().is_empty());
                if start.is_some_and(|l| l.starts_with(&prefix) && l.ends_with("SIP/2.0")) {
                    count += 1;
                }
            }
        }
        count
    }

    /// Wait for SIPp to finish its calls and exit.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.process.0.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

/// How baresip answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaresipMode {
    /// Answers at once and plays `audio` (16-bit 8 kHz), recording what it hears.
    AutoAnswer { audio: Audio },
    /// Rings and never answers (487 to CANCEL).
    Manual,
}

/// A running baresip.
pub struct Baresip {
    pub addr: SocketAddr,
    pub rec_dir: PathBuf,
    _process: Process,
    _dir: tempfile::TempDir,
}

pub fn baresip(mode: BaresipMode) -> Baresip {
    let dir = tempfile::tempdir().unwrap();
    let rec_dir = dir.path().join("rec");
    std::fs::create_dir_all(&rec_dir).unwrap();
    let f = fixtures();
    let (source, answermode) = match mode {
        BaresipMode::AutoAnswer {
            audio: Audio::Machine,
        } => (f.path("machine_long_8k.wav"), "auto"),
        BaresipMode::AutoAnswer { .. } => (f.path("human_long_8k.wav"), "auto"),
        BaresipMode::Manual => (f.path("human_long_8k.wav"), "manual"),
    };
    for _attempt in 0..5 {
        let port = free_udp_port();
        let config = format!(
            "sip_listen 127.0.0.1:{port}\n\
             net_interface 127.0.0.1\n\
             audio_player aubridge,nil\n\
             audio_source aufile,{}\n\
             audio_alert aubridge,nil\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\n\
             module aufile.so\n\
             module aubridge.so\n\
             module sndfile.so\n\
             snd_path {}\n\
             module_tmp account.so\n\
             module_app menu.so\n",
            source.display(),
            rec_dir.display()
        );
        std::fs::write(dir.path().join("config"), config).unwrap();
        std::fs::write(
            dir.path().join("accounts"),
            // baresip answers only calls to its account's user: "bob" answers, "ring"
            // rings (the user Kamailio routes to the ringing callee).
            format!(
                "<sip:{user}@127.0.0.1:{port}>;regint=0;answermode={answermode}\n",
                user = if answermode == "manual" {
                    "ring"
                } else {
                    "bob"
                }
            ),
        )
        .unwrap();
        let mut child = spawn_group(
            Command::new("baresip")
                .arg("-f")
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .expect("baresip (Debian baresip-core) is needed; .ci/run installs it");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if UdpSocket::bind(("127.0.0.1", port)).is_err() {
                return Baresip {
                    addr: SocketAddr::from(([127, 0, 0, 1], port)),
                    rec_dir,
                    _process: Process(child),
                    _dir: dir,
                };
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("baresip did not start");
}

impl Baresip {
    /// The recordings of what baresip heard (decoded), once one exists and has stopped
    /// growing.
    pub fn wait_recording(&self, within: Duration) -> PathBuf {
        let deadline = Instant::now() + within;
        let mut last: Option<(PathBuf, u64)> = None;
        loop {
            let found = std::fs::read_dir(&self.rec_dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with("-dec.wav"));
            if let Some(path) = found {
                let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                if last
                    .as_ref()
                    .is_some_and(|(p, l)| *p == path && *l == len && len > 44)
                {
                    return path;
                }
                last = Some((path, len));
            }
            assert!(
                Instant::now() < deadline,
                "no recording in {:?}",
                self.rec_dir
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// What a recording holds.
#[derive(Debug, Clone, PartialEq)]
pub struct WavStats {
    pub seconds: f64,
    pub rms: f64,
    /// 20 ms frames whose mean |sample| is above the threshold, in seconds.
    pub voiced_seconds: f64,
    /// Runs of voice separated by at least 300 ms of silence.
    pub bursts: usize,
    /// When the first voiced frame starts.
    pub first_voice_s: Option<f64>,
}

/// Read a 16-bit PCM WAV (mono or the first channel).
pub fn wav_stats(path: &Path) -> WavStats {
    let bytes = std::fs::read(path).unwrap();
    let audio = cascade_media::wav::read(&bytes).expect("a PCM WAV");
    let rate = f64::from(audio.rate);
    let samples: Vec<i16> = audio.samples;
    let frame = (audio.rate / 50) as usize;
    let mut voiced = 0usize;
    let mut bursts = 0usize;
    let mut silent_run = usize::MAX;
    let mut first = None;
    for (i, chunk) in samples.chunks(frame).enumerate() {
        let mean = chunk
            .iter()
            .map(|s| i64::from(s.unsigned_abs()))
            .sum::<i64>()
            / chunk.len().max(1) as i64;
        if mean > 300 {
            voiced += 1;
            if silent_run >= 15 {
                bursts += 1;
            }
            silent_run = 0;
            first.get_or_insert(i as f64 * 0.02);
        } else {
            silent_run = silent_run.saturating_add(1);
        }
    }
    let rms = (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>()
        / samples.len().max(1) as f64)
        .sqrt()
        / 32768.0;
    WavStats {
        seconds: samples.len() as f64 / rate,
        rms,
        voiced_seconds: voiced as f64 * 0.02,
        bursts,
        first_voice_s: first,
    }
}

/// Where Kamailio relays a call, by the Request-URI's user.
#[derive(Debug, Clone, Copy, Default)]
pub struct KamailioRoutes {
    /// User `ring`.
    pub ring: Option<SocketAddr>,
    /// User `busy`.
    pub busy: Option<SocketAddr>,
    /// Anything else.
    pub answer: Option<SocketAddr>,
}

/// A running Kamailio.
pub struct Kamailio {
    pub addr: SocketAddr,
    log: PathBuf,
    _process: Process,
    _dir: tempfile::TempDir,
}

pub fn kamailio(password: &str, routes: KamailioRoutes, tcp: bool) -> Kamailio {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("kamailio.log");
    let nowhere = "127.0.0.1:9";
    let target = |a: Option<SocketAddr>| a.map_or(nowhere.to_owned(), |a| a.to_string());
    for _attempt in 0..5 {
        let port = free_udp_port();
        let listen_tcp = if tcp {
            format!("listen=tcp:127.0.0.1:{port}\n")
        } else {
            String::new()
        };
        let config = format!(
            r#"#!KAMAILIO
children=1
debug=2
listen=udp:127.0.0.1:{port}
{listen_tcp}auto_aliases=no
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "xlog.so"
loadmodule "auth.so"
request_route {{
  xlog("L_NOTICE", "REQ $rm cseq=$cs ruri=$ru\n");
  if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483","Too Many Hops"); exit; }}
  if (has_totag()) {{
    if (loose_route()) {{ t_relay(); exit; }}
    if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    sl_send_reply("404","Not here"); exit;
  }}
  if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
  if (is_method("INVITE")) {{
    if (!pv_proxy_authenticate("$fd", "{password}", "0")) {{ proxy_challenge("$fd", "1"); exit; }}
    if ($au != "cascade") {{ sl_send_reply("403","Forbidden"); exit; }}
    consume_credentials();
    record_route();
    if ($rU == "ring") {{ $du = "sip:{ring}"; }}
    else if ($rU == "busy") {{ $du = "sip:{busy}"; }}
    else {{ $du = "sip:{answer}"; }}
    t_relay(); exit;
  }}
  sl_send_reply("405","Method Not Allowed");
}}
onreply_route {{ xlog("L_NOTICE", "RPL $rs $rm cseq=$cs\n"); }}
"#,
            ring = target(routes.ring),
            busy = target(routes.busy),
            answer = target(routes.answer),
        );
        let cfg = dir.path().join("kamailio.cfg");
        std::fs::write(&cfg, config).unwrap();
        let log_file = std::fs::File::create(&log).unwrap();
        let mut child = spawn_group(
            Command::new("kamailio")
                .arg("-f")
                .arg(&cfg)
                .args(["-DD", "-E", "-w"])
                .arg(dir.path())
                .arg("-P")
                .arg(dir.path().join("kamailio.pid"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file),
        )
        .expect("kamailio is needed; .ci/run installs it");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if UdpSocket::bind(("127.0.0.1", port)).is_err() {
                return Kamailio {
                    addr: SocketAddr::from(([127, 0, 0, 1], port)),
                    log,
                    _process: Process(child),
                    _dir: dir,
                };
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!(
        "kamailio did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

impl Kamailio {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Log lines containing `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }
}
