//! SMPP metrics for `/metrics`: per-bind state, queues and counters read from the drivers
//! at scrape time, plus what only the connector sees (receipts matched or held, MO
//! messages, submit → receipt latency). Exposed as a prometheus-client
//! [`Collector`] ([`SmppCollector`]) that the server registers in its registry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cascade_core::ports::Recorded;
use cascade_smpp::driver::{BindState, ClientStats};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;

use super::connection::SmscConnection;

/// Upper bounds (seconds) of the latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0,
];

/// What one SMSC connection counts beyond its drivers.
#[derive(Debug)]
pub struct SmscMetrics {
    receipts_applied: AtomicU64,
    receipts_held: AtomicU64,
    mobile_originated: AtomicU64,
    recovered: AtomicU64,
    rejected: AtomicU64,
    latency: Histogram,
}

impl Default for SmscMetrics {
    fn default() -> Self {
        SmscMetrics {
            receipts_applied: AtomicU64::new(0),
            receipts_held: AtomicU64::new(0),
            mobile_originated: AtomicU64::new(0),
            recovered: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            latency: Histogram::new(LATENCY_BUCKETS),
        }
    }
}

impl SmscMetrics {
    pub fn count_receipt(&self, recorded: Recorded) {
        let counter = match recorded {
            Recorded::Applied => &self.receipts_applied,
            Recorded::Held => &self.receipts_held,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_mobile_originated(&self) {
        self.mobile_originated.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_recovered(&self) {
        self.recovered.fetch_add(1, Ordering::Relaxed);
    }

    /// Steps a restarted node did not send again: the SMSC's receipts showed the run
    /// before had sent them.
    pub fn recovered(&self) -> u64 {
        self.recovered.load(Ordering::Relaxed)
    }

    pub fn count_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub fn observe_latency(&self, latency: Duration) {
        self.latency.observe(latency.as_secs_f64());
    }

    /// Submits the SMSC refused for good.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Receipts that matched no message (yet) — held until their submit is recorded.
    pub fn receipts_held(&self) -> u64 {
        self.receipts_held.load(Ordering::Relaxed)
    }

    pub fn receipts_applied(&self) -> u64 {
        self.receipts_applied.load(Ordering::Relaxed)
    }

    pub fn mobile_originated(&self) -> u64 {
        self.mobile_originated.load(Ordering::Relaxed)
    }
}

/// A per-bind number read from the driver's stats: (name, help, getter). Counter names
/// go without `_total`, which the encoder adds.
type StatMetric = (&'static str, &'static str, fn(&ClientStats) -> u64);

const BIND_GAUGES: [StatMetric; 2] = [
    (
        "cascade_smpp_in_flight",
        "submit_sm sent and not yet answered.",
        |s| s.in_flight as u64,
    ),
    (
        "cascade_smpp_queued",
        "submit_sm waiting for the window, a throttling pause or a bind.",
        |s| s.queued as u64,
    ),
];

const BIND_COUNTERS: [StatMetric; 10] = [
    ("cascade_smpp_connections", "TCP connections opened.", |s| {
        s.connections
    }),
    ("cascade_smpp_binds", "Successful binds.", |s| s.binds),
    (
        "cascade_smpp_bind_failures",
        "Binds the SMSC refused.",
        |s| s.bind_failures,
    ),
    (
        "cascade_smpp_submits_sent",
        "submit_sm written (resends count again).",
        |s| s.submits_sent,
    ),
    (
        "cascade_smpp_submits_accepted",
        "submit_sm answered ESME_ROK.",
        |s| s.accepted,
    ),
    (
        "cascade_smpp_submits_rejected",
        "submit_sm refused with a final error.",
        |s| s.rejected,
    ),
    (
        "cascade_smpp_submits_throttled",
        "submit_sm answered ESME_RTHROTTLED or ESME_RMSGQFUL.",
        |s| s.throttled,
    ),
    (
        "cascade_smpp_submits_timed_out",
        "submit_sm without an answer in time.",
        |s| s.timed_out,
    ),
    (
        "cascade_smpp_submits_expired",
        "submit_sm whose deadline passed while queued.",
        |s| s.expired,
    ),
    (
        "cascade_smpp_receipts_received",
        "Delivery receipts received.",
        |s| s.receipts,
    ),
];

fn state_name(state: BindState) -> &'static str {
    match state {
        BindState::Connecting => "connecting",
        BindState::Binding => "binding",
        BindState::Bound => "bound",
        BindState::Unbinding => "unbinding",
        BindState::Disconnected => "disconnected",
        BindState::Stopped => "stopped",
    }
}

const STATES: [BindState; 6] = [
    BindState::Connecting,
    BindState::Binding,
    BindState::Bound,
    BindState::Unbinding,
    BindState::Disconnected,
    BindState::Stopped,
];

/// Every SMSC connection's metrics, read when scraped.
pub struct SmppCollector {
    connections: Vec<Arc<SmscConnection>>,
}

impl std::fmt::Debug for SmppCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmppCollector")
            .field("connections", &self.connections.len())
            .finish()
    }
}

impl SmppCollector {
    pub fn new(connections: Vec<Arc<SmscConnection>>) -> SmppCollector {
        SmppCollector { connections }
    }

    /// Each bind of each connection: (SMSC name, bind index, its driver's stats now).
    fn binds(&self) -> Vec<(&str, String, ClientStats)> {
        self.connections
            .iter()
            .flat_map(|c| {
                c.binds()
                    .into_iter()
                    .map(move |(label, client)| (c.name(), label.to_string(), client.stats()))
            })
            .collect()
    }
}

impl Collector for SmppCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if self.connections.is_empty() {
            return Ok(());
        }
        let binds = self.binds();
        let mut family = encoder.encode_descriptor(
            "cascade_smpp_bind_state",
            "1 for the state each bind is in.",
            None,
            MetricType::Gauge,
        )?;
        for (smsc, bind, stats) in &binds {
            for state in STATES {
                let labels = [
                    ("smsc", *smsc),
                    ("bind", bind.as_str()),
                    ("state", state_name(state)),
                ];
                ConstGauge::new(i64::from(stats.state == state))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        for (name, help, get) in BIND_GAUGES {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (smsc, bind, stats) in &binds {
                let labels = [("smsc", *smsc), ("bind", bind.as_str())];
                let value = i64::try_from(get(stats)).unwrap_or(i64::MAX);
                ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
            }
        }
        for (name, help, get) in BIND_COUNTERS {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (smsc, bind, stats) in &binds {
                let labels = [("smsc", *smsc), ("bind", bind.as_str())];
                ConstCounter::new(get(stats)).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "cascade_smpp_receipts_recorded",
            "Receipts recorded: matched to their message, or held because no message carries the id yet (unmatched).",
            None,
            MetricType::Counter,
        )?;
        for c in &self.connections {
            let m = c.metrics();
            for (outcome, n) in [
                ("matched", m.receipts_applied()),
                ("unmatched", m.receipts_held()),
            ] {
                let labels = [("smsc", c.name()), ("outcome", outcome)];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "cascade_smpp_mobile_originated",
            "Mobile-originated messages received (recorded as replies).",
            None,
            MetricType::Counter,
        )?;
        for c in &self.connections {
            let labels = [("smsc", c.name())];
            ConstCounter::new(c.metrics().mobile_originated())
                .encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "cascade_smpp_recovered_submits",
            "Steps a restarted node did not send again because the SMSC's receipts showed the run before had sent them.",
            None,
            MetricType::Counter,
        )?;
        for c in &self.connections {
            let labels = [("smsc", c.name())];
            ConstCounter::new(c.metrics().recovered()).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "cascade_smpp_receipt_latency_seconds",
            "From submit_sm_resp to the final delivery receipt.",
            None,
            MetricType::Histogram,
        )?;
        for c in &self.connections {
            let labels = [("smsc", c.name())];
            c.metrics().latency.encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::*;

    #[test]
    fn latency_lands_in_cumulative_buckets() {
        let m = Arc::new(SmscMetrics::default());
        m.observe_latency(Duration::from_millis(20));
        m.observe_latency(Duration::from_millis(400));
        m.observe_latency(Duration::from_secs(1000));
        let mut registry = Registry::default();
        registry.register("latency", "test", m.latency.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "latency_bucket{le=\"0.025\"} 1",
            "latency_bucket{le=\"0.5\"} 2",
            "latency_bucket{le=\"300.0\"} 2",
            "latency_bucket{le=\"+Inf\"} 3",
            "latency_count 3",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(text.contains("latency_sum 1000.42"), "{text}");
    }
}
