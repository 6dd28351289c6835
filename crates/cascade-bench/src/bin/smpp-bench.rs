//! `smpp-bench`: SMS throughput over SMPP against Cascade's sandbox SMSC, through
//! Cascade's connector and, in the same run, through Kannel (Debian's `bearerbox` +
//! `smsbox`) against the very same simulator.
//!
//! For each shape (binds × window) it sends `--messages` single-part SMS and reports:
//! - submits/s: from the first request to the moment the simulator has received every
//!   `submit_sm` (the same measuring point for both clients);
//! - receipts/s: from the first submit to the last delivery receipt in the client's hands
//!   (the whole round trip: submit, the SMSC's record, its receipt, the client's ack);
//! - submit → receipt latency p50/p99, measured from the moment the client was asked to
//!   send (Cascade: `Provider::submit` called; Kannel: the `sendsms` request sent) to the
//!   receipt's arrival (Cascade: at its `ReportSink`; Kannel: its `dlr-url` call).
//!
//! The simulator writes every message and receipt to its own SQLite store, as in the
//! sandbox; both clients pay that cost alike.
//!
//! ```text
//! cargo run --release -p cascade-bench --bin smpp-bench -- --messages 10000
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_trait::async_trait;
use cascade_core::flow::{SmsStep, Step, StepKind};
use cascade_core::machines::Report;
use cascade_core::ports::{JobPayload, Provider, Recorded, ReportSink, SubmitRequest};
use cascade_core::{FlowId, Micros, Msisdn, SenderId, StatusKind};
use cascade_providers::smpp::{SmppProvider, SmscConnection, SmscSettings};
use cascade_sandbox::SmscSimulator;
use cascade_service::clock::SystemClock;
use cascade_store::Store;
use cascade_store::sqlite::{SqliteConfig, SqliteStore};
use clap::Parser;
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A client that got no receipt for this long has lost the rest.
const QUIET: Duration = Duration::from_secs(15);

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
struct Cli {
    /// Messages per shape.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Shapes as BINDSxWINDOW.
    #[arg(long, value_delimiter = ',', default_value = "1x10,1x100,4x10,4x100")]
    shapes: Vec<String>,
    /// Skip Kannel even when it is installed.
    #[arg(long)]
    no_kannel: bool,
    /// When the simulator sends each receipt, after it recorded the message (its default
    /// for SMS is 20 ms).
    #[arg(long)]
    receipt_delay_ms: Option<u64>,
    /// Keep Kannel's configuration and logs under this directory.
    #[arg(long)]
    kannel_logs: Option<std::path::PathBuf>,
    /// Give up on a run after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

#[derive(Debug, Clone, Copy)]
struct Shape {
    binds: u32,
    window: u32,
}

impl Shape {
    fn parse(text: &str) -> anyhow::Result<Shape> {
        let (b, w) = text
            .split_once('x')
            .with_context(|| format!("{text:?} is not BINDSxWINDOW"))?;
        Ok(Shape {
            binds: b.parse()?,
            window: w.parse()?,
        })
    }
}

/// Receipt arrival times by message key.
#[derive(Default)]
struct Arrivals {
    at: Mutex<HashMap<String, Instant>>,
    count: AtomicU64,
    changed: Notify,
}

impl Arrivals {
    fn arrive(&self, key: String) {
        let now = Instant::now();
        let mut at = self.at.lock().unwrap();
        if at.insert(key, now).is_none() {
            self.count.fetch_add(1, Ordering::Relaxed);
            self.changed.notify_waiters();
        }
    }

    /// When the latest receipt came.
    fn last(&self) -> Option<Instant> {
        self.at.lock().unwrap().values().max().copied()
    }

    /// Waits for `n` receipts, or until none has come for `quiet` (the rest are lost) or
    /// `timeout` passed; returns how many came.
    async fn wait_for(&self, n: u64, quiet: Duration, timeout: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            let count = self.count.load(Ordering::Relaxed);
            if count >= n {
                return count;
            }
            let until = deadline.min(tokio::time::Instant::now() + quiet);
            if tokio::time::timeout_at(until, changed).await.is_err() {
                return self.count.load(Ordering::Relaxed);
            }
        }
    }
}

/// Cascade's side: every receipt the connector records lands here.
struct CountingSink(Arc<Arrivals>);

#[async_trait]
impl ReportSink for CountingSink {
    async fn deliver(
        &self,
        _provider: &str,
        ids: &[String],
        report: Report,
    ) -> Result<Recorded, String> {
        if report.status.is_final()
            && let Some(id) = ids.first()
        {
            self.0.arrive(id.clone());
        }
        Ok(Recorded::Applied)
    }

    async fn note_attempt(&self, _: cascade_core::FlowId, _: u32, _: &str, _: &str) {}

    async fn note_price(&self, _: &str, _: &str, _: &str) -> Result<bool, String> {
        Ok(false)
    }

    /// The bench places no calls.
    async fn claim_dial(&self, _: cascade_core::FlowId, _: u32, _: &str) -> Result<bool, String> {
        Err("no calls in the SMPP bench".into())
    }

    /// The bench's peers send no mobile-originated messages; one would be counted as
    /// recorded and dropped.
    async fn inbound(&self, _: cascade_core::inbound::InboundMessage) -> Result<(), String> {
        Ok(())
    }
}

struct Figures {
    client: &'static str,
    shape: Shape,
    messages: usize,
    submit_secs: f64,
    /// Final receipts that reached the client (the rest were lost).
    receipts: u64,
    receipt_secs: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn latencies(started: &HashMap<String, Instant>, arrivals: &Arrivals) -> (f64, f64) {
    let at = arrivals.at.lock().unwrap();
    let mut ms: Vec<f64> = started
        .iter()
        .filter_map(|(k, s)| {
            at.get(k)
                .map(|a| a.saturating_duration_since(*s).as_secs_f64() * 1e3)
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (percentile(&ms, 50.0), percentile(&ms, 99.0))
}

fn request(n: usize) -> anyhow::Result<SubmitRequest> {
    let to = Msisdn::parse(&format!("+3069{:08}", n % 100_000_000)).map_err(anyhow::Error::msg)?;
    let body = format!("Bench message {n}");
    let plan = cascade_core::sms::plan(&body, false);
    let step = Step {
        order: 1,
        failover_on: vec![StatusKind::Undelivered, StatusKind::Failed],
        country: Some("GR".into()),
        operator: String::new(),
        unit_price: Micros::ZERO,
        ttl_ms: Some(3_600_000),
        kind: StepKind::Sms(SmsStep {
            from: SenderId::parse("Bench").map_err(anyhow::Error::msg)?,
            to,
            ttl_minutes: 60,
            body,
            flash: false,
            label: None,
            inbound_url: None,
            transcode: false,
            encoding: plan.encoding,
            parts: plan.parts,
        }),
    };
    let id = format!("bench-{n}");
    Ok(SubmitRequest {
        flow_id: FlowId::new_v7(SystemClock::read().as_millis()),
        order: 1,
        first_attempt: true,
        payload: JobPayload {
            created_at: SystemClock::read(),
            account_id: "bench".into(),
            application_id: "bench".into(),
            step,
            message_id: id.clone(),
            message_ids: vec![id],
        },
    })
}

async fn run_cascade(
    smsc: &SmscSimulator,
    sim: SocketAddr,
    shape: Shape,
    messages: usize,
    timeout: Duration,
    stop: &CancellationToken,
) -> anyhow::Result<Figures> {
    let mut settings = SmscSettings::simulator(&sim.ip().to_string(), sim.port());
    settings.name = format!("cascade-{}x{}", shape.binds, shape.window);
    settings.system_id = format!("c{}x{}", shape.binds, shape.window);
    settings.binds = shape.binds;
    settings.window = shape.window;
    settings.throughput = 0;
    let arrivals = Arc::new(Arrivals::default());
    let sink: Arc<dyn ReportSink> = Arc::new(CountingSink(Arc::clone(&arrivals)));
    let connection = SmscConnection::start(settings, sink, false, Arc::new(SystemClock), stop)
        .map_err(anyhow::Error::msg)?;
    if !connection.wait_bound(Duration::from_secs(10)).await {
        bail!("the binds did not come up");
    }
    let provider = SmppProvider::new(vec![Arc::clone(&connection)]);
    let requests: Vec<SubmitRequest> = (0..messages).map(request).collect::<anyhow::Result<_>>()?;
    // Enough callers to keep every window full, as the dispatcher does.
    let callers = usize::try_from(shape.binds * shape.window * 2).unwrap_or(64);
    let received = smsc_received(smsc, messages);
    let started = Instant::now();
    let results: Vec<(Instant, anyhow::Result<String>)> = futures_util::stream::iter(requests)
        .map(|r| {
            let provider = &provider;
            async move {
                let asked = Instant::now();
                let id = provider
                    .submit(&r)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .and_then(|a| a.message_ids.into_iter().next().context("no id"));
                (asked, id)
            }
        })
        .buffer_unordered(callers)
        .collect()
        .await;
    let mut asked_at = HashMap::with_capacity(messages);
    for (asked, id) in results {
        asked_at.insert(id?, asked);
    }
    let figures = figures(
        Run {
            client: "Cascade",
            shape,
            messages,
        },
        started,
        received,
        &asked_at,
        &arrivals,
        timeout,
    )
    .await;
    connection.shutdown().await;
    figures
}

/// Resolves when the simulator has received `n` more `submit_sm` than now.
fn smsc_received(sim: &SmscSimulator, n: usize) -> tokio::task::JoinHandle<Instant> {
    let sim = sim.clone();
    let target = sim.submits() + n as u64;
    tokio::spawn(async move {
        while sim.submits() < target {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Instant::now()
    })
}

/// A free loopback port (bound then released; Kannel needs numbers, not listeners).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Kannel {
    children: Vec<tokio::process::Child>,
    sendsms: u16,
}

impl Kannel {
    async fn start(
        dir: &Path,
        sim: SocketAddr,
        shape: Shape,
        system_id: &str,
    ) -> anyhow::Result<Kannel> {
        let admin = free_port()?;
        let smsbox = free_port()?;
        let sendsms = free_port()?;
        let mut conf = format!(
            "group = core\nadmin-port = {admin}\nadmin-password = bench\nstatus-password = bench\n\
             smsbox-port = {smsbox}\nadmin-allow-ip = \"127.0.0.1\"\nbox-allow-ip = \"127.0.0.1\"\n\
             log-level = 2\nlog-file = \"{log}/bearerbox.log\"\ndlr-storage = internal\n\n",
            log = dir.display()
        );
        for _ in 0..shape.binds {
            conf.push_str(&format!(
                "group = smsc\nsmsc = smpp\nsmsc-id = sim\nhost = {}\nport = {}\n\
                 transceiver-mode = true\nsmsc-username = {system_id}\nsmsc-password = x\n\
                 system-type = \"\"\ninterface-version = 34\nmax-pending-submits = {}\n\
                 enquire-link-interval = 30\nreconnect-delay = 1\n\n",
                sim.ip(),
                sim.port(),
                shape.window
            ));
        }
        conf.push_str(&format!(
            "group = smsbox\nbearerbox-host = 127.0.0.1\nbearerbox-port = {smsbox}\nsendsms-port = {sendsms}\n\
             log-level = 2\nlog-file = \"{log}/smsbox.log\"\n\n\
             group = sendsms-user\nusername = bench\npassword = bench\nmax-messages = 1\n",
            log = dir.display()
        ));
        let path = dir.join("kannel.conf");
        std::fs::write(&path, conf)?;
        let spawn = |bin: &str| {
            tokio::process::Command::new(bin)
                .arg(&path)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting {bin}"))
        };
        let bearerbox = spawn("bearerbox")?;
        // smsbox connects to bearerbox; give bearerbox its port first.
        wait_http(
            &format!("http://127.0.0.1:{admin}/status.txt?password=bench"),
            |_| true,
        )
        .await?;
        let smsbox_child = spawn("smsbox")?;
        wait_http(
            &format!("http://127.0.0.1:{admin}/status.txt?password=bench"),
            |body| body.matches("online").count() >= usize::try_from(shape.binds).unwrap_or(1),
        )
        .await
        .context("Kannel's binds to the simulator")?;
        wait_http(&format!("http://127.0.0.1:{sendsms}/"), |_| true).await?;
        Ok(Kannel {
            children: vec![smsbox_child, bearerbox],
            sendsms,
        })
    }
}

/// Polls `url` until it answers (any status) with a body `ok` accepts.
async fn wait_http(url: &str, ok: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(url).send().await
            && let Ok(body) = r.text().await
            && ok(&body)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} did not come up");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run_kannel(
    smsc: &SmscSimulator,
    sim: SocketAddr,
    shape: Shape,
    messages: usize,
    timeout: Duration,
    logs: Option<&Path>,
) -> anyhow::Result<Figures> {
    let tmp = tempfile::tempdir()?;
    let dir = match logs {
        Some(root) => {
            let d = root.join(format!("kannel-{}x{}", shape.binds, shape.window));
            std::fs::create_dir_all(&d)?;
            d
        }
        None => tmp.path().to_path_buf(),
    };
    let system_id = format!("k{}x{}", shape.binds, shape.window);
    // Delivery reports come back to this listener through Kannel's dlr-url.
    let arrivals = Arc::new(Arrivals::default());
    let dlr_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let dlr_port = dlr_listener.local_addr()?.port();
    let sink = Arc::clone(&arrivals);
    let dlr_server = tokio::spawn(async move {
        let app = axum::Router::new().route(
            "/dlr",
            axum::routing::get(
                move |axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>| {
                    let sink = Arc::clone(&sink);
                    async move {
                        // Kannel's %d: 1 delivered, 2 failed, 8 SMSC accepted (intermediate).
                        if matches!(q.get("type").map(String::as_str), Some("1" | "2"))
                            && let Some(id) = q.get("id")
                        {
                            sink.arrive(id.clone());
                        }
                        "ok"
                    }
                },
            ),
        );
        axum::serve(dlr_listener, app).await
    });
    let kannel = Kannel::start(&dir, sim, shape, &system_id).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let callers = usize::try_from(shape.binds * shape.window * 2).unwrap_or(64);
    let received = smsc_received(smsc, messages);
    let started = Instant::now();
    let results: Vec<(String, Instant, anyhow::Result<()>)> =
        futures_util::stream::iter(0..messages)
            .map(|n| {
                let client = &client;
                let sendsms = kannel.sendsms;
                async move {
                    let key = n.to_string();
                    let dlr_url = format!("http://127.0.0.1:{dlr_port}/dlr?id={n}&type=%d");
                    let asked = Instant::now();
                    let sent = client
                        .get(format!("http://127.0.0.1:{sendsms}/cgi-bin/sendsms"))
                        .query(&[
                            ("username", "bench"),
                            ("password", "bench"),
                            ("from", "Bench"),
                            ("to", &format!("3069{:08}", n % 100_000_000)),
                            ("text", &format!("Bench message {n}")),
                            ("dlr-mask", "3"),
                            ("dlr-url", &dlr_url),
                        ])
                        .send()
                        .await
                        .map_err(anyhow::Error::from)
                        .and_then(|r| {
                            if r.status().is_success() {
                                Ok(())
                            } else {
                                Err(anyhow::anyhow!("sendsms answered {}", r.status()))
                            }
                        });
                    (key, asked, sent)
                }
            })
            .buffer_unordered(callers)
            .collect()
            .await;
    let mut asked_at = HashMap::with_capacity(messages);
    for (key, asked, sent) in results {
        sent?;
        asked_at.insert(key, asked);
    }
    let figures = figures(
        Run {
            client: "Kannel",
            shape,
            messages,
        },
        started,
        received,
        &asked_at,
        &arrivals,
        timeout,
    )
    .await;
    drop(kannel.children);
    dlr_server.abort();
    figures
}

/// A run's figures, once the simulator has every `submit_sm` and the receipts have come
/// (or stopped coming).
/// Which run the figures are of.
struct Run {
    client: &'static str,
    shape: Shape,
    messages: usize,
}

async fn figures(
    Run {
        client,
        shape,
        messages,
    }: Run,
    started: Instant,
    received: tokio::task::JoinHandle<Instant>,
    asked_at: &HashMap<String, Instant>,
    arrivals: &Arrivals,
    timeout: Duration,
) -> anyhow::Result<Figures> {
    let submit_secs = tokio::time::timeout(timeout, received)
        .await
        .with_context(|| format!("{client} did not pass every message to the SMSC"))??
        .duration_since(started)
        .as_secs_f64();
    let receipts = arrivals.wait_for(messages as u64, QUIET, timeout).await;
    let receipt_secs = arrivals
        .last()
        .unwrap_or(started)
        .duration_since(started)
        .as_secs_f64();
    let (p50_ms, p99_ms) = latencies(asked_at, arrivals);
    Ok(Figures {
        client,
        shape,
        messages,
        submit_secs,
        receipts,
        receipt_secs,
        p50_ms,
        p99_ms,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // reqwest's rustls (unified with the workspace's) needs a process-wide provider.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if let Ok(filter) = std::env::var("RUST_LOG") {
        cascade::telemetry::init(&filter);
    }
    let shapes: Vec<Shape> = cli
        .shapes
        .iter()
        .map(|s| Shape::parse(s))
        .collect::<anyhow::Result<_>>()?;
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&SqliteConfig::new(format!(
            "sqlite://{}",
            dir.path().join("sim.db").display()
        )))
        .await?,
    );
    if let Some(ms) = cli.receipt_delay_ms {
        let rule = cascade_core::sandbox::NewScenario {
            channel: cascade_core::Channel::Sms,
            to: "*".into(),
            rule: serde_json::json!({"events": [{"afterMs": ms, "status": "Delivered"}]}),
            times: None,
        };
        store.create_scenario(&rule, SystemClock::read()).await?;
    }
    let stop = CancellationToken::new();
    let sim = SmscSimulator::start(
        "127.0.0.1:0".parse()?,
        Arc::clone(&store),
        Arc::new(SystemClock),
        stop.clone(),
    )
    .await?;
    let addr = sim.local_addr();
    let timeout = Duration::from_secs(cli.timeout);
    let kannel = !cli.no_kannel && which("bearerbox") && which("smsbox");
    if !kannel && !cli.no_kannel {
        eprintln!("bearerbox/smsbox not found (apt-get install kannel): Kannel rows skipped");
    }
    println!(
        "| client | binds | window | messages | submits/s | receipts received | receipts/s | submit→receipt p50 ms | p99 ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut rows = Vec::new();
    for shape in shapes {
        let before = sim.submits();
        let f = run_cascade(&sim, addr, shape, cli.messages, timeout, &stop).await?;
        eprintln!(
            "cascade {}x{}: {} submit_sm at the SMSC",
            shape.binds,
            shape.window,
            sim.submits() - before
        );
        print_row(&f);
        rows.push(f);
        if kannel {
            let before = sim.submits();
            let f = run_kannel(
                &sim,
                addr,
                shape,
                cli.messages,
                timeout,
                cli.kannel_logs.as_deref(),
            )
            .await?;
            eprintln!(
                "kannel {}x{}: {} submit_sm at the SMSC",
                shape.binds,
                shape.window,
                sim.submits() - before
            );
            print_row(&f);
            rows.push(f);
        }
    }
    stop.cancel();
    store.close().await;
    Ok(())
}

fn which(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(bin).is_file()))
}

fn print_row(f: &Figures) {
    println!(
        "| {} | {} | {} | {} | {:.0} | {} | {:.0} | {:.0} | {:.0} |",
        f.client,
        f.shape.binds,
        f.shape.window,
        f.messages,
        f.messages as f64 / f.submit_secs,
        f.receipts,
        f.receipts as f64 / f.receipt_secs,
        f.p50_ms,
        f.p99_ms
    );
}
