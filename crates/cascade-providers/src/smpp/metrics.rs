//! SMPP metrics in the Prometheus text format: per-bind state and queues from the drivers'
//! counters, plus what only the connector sees (receipts matched or held, MO messages,
//! submit → receipt latency).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cascade_smpp::driver::{BindState, ClientStats};

use cascade_core::ports::Recorded;

use super::connection::SmscConnection;

/// Upper bounds (seconds) of the latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0,
];

/// What one SMSC connection counts beyond its drivers.
#[derive(Debug)]
pub struct SmscMetrics {
    name: String,
    receipts_applied: AtomicU64,
    receipts_held: AtomicU64,
    mobile_originated: AtomicU64,
    rejected: AtomicU64,
    /// Cumulative counts per bucket, then the +Inf count.
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Sum of observed latencies in microseconds.
    latency_sum_us: AtomicU64,
}

impl SmscMetrics {
    pub fn new(name: &str) -> SmscMetrics {
        SmscMetrics {
            name: name.to_owned(),
            receipts_applied: AtomicU64::new(0),
            receipts_held: AtomicU64::new(0),
            mobile_originated: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            latency_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_sum_us: AtomicU64::new(0),
        }
    }

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

    pub fn count_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub fn observe_latency(&self, latency: Duration) {
        let secs = latency.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
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

/// A metric read from a bind's stats: (name, help, getter).
type StatMetric = (&'static str, &'static str, fn(&ClientStats) -> u64);

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

/// Appends the metrics of every connection to `out`, each family once.
pub fn render(connections: &[std::sync::Arc<SmscConnection>], out: &mut String) {
    if connections.is_empty() {
        return;
    }
    let binds: Vec<(&str, usize, ClientStats)> = connections
        .iter()
        .flat_map(|c| {
            c.clients()
                .iter()
                .enumerate()
                .map(move |(i, client)| (c.name(), i, client.stats()))
        })
        .collect();
    family(
        out,
        "cascade_smpp_bind_state",
        "gauge",
        "1 for the state each bind is in.",
    );
    for (smsc, bind, stats) in &binds {
        for state in STATES {
            let v = u8::from(stats.state == state);
            let _ = writeln!(
                out,
                "cascade_smpp_bind_state{{smsc=\"{smsc}\",bind=\"{bind}\",state=\"{}\"}} {v}",
                state_name(state)
            );
        }
    }
    let gauges: [StatMetric; 2] = [
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
    for (name, help, get) in gauges {
        family(out, name, "gauge", help);
        for (smsc, bind, stats) in &binds {
            let _ = writeln!(
                out,
                "{name}{{smsc=\"{smsc}\",bind=\"{bind}\"}} {}",
                get(stats)
            );
        }
    }
    let counters: [StatMetric; 10] = [
        (
            "cascade_smpp_connections_total",
            "TCP connections opened.",
            |s| s.connections,
        ),
        ("cascade_smpp_binds_total", "Successful binds.", |s| s.binds),
        (
            "cascade_smpp_bind_failures_total",
            "Binds the SMSC refused.",
            |s| s.bind_failures,
        ),
        (
            "cascade_smpp_submits_sent_total",
            "submit_sm written (resends count again).",
            |s| s.submits_sent,
        ),
        (
            "cascade_smpp_submits_accepted_total",
            "submit_sm answered ESME_ROK.",
            |s| s.accepted,
        ),
        (
            "cascade_smpp_submits_rejected_total",
            "submit_sm refused with a final error.",
            |s| s.rejected,
        ),
        (
            "cascade_smpp_submits_throttled_total",
            "submit_sm answered ESME_RTHROTTLED or ESME_RMSGQFUL.",
            |s| s.throttled,
        ),
        (
            "cascade_smpp_submits_timed_out_total",
            "submit_sm without an answer in time.",
            |s| s.timed_out,
        ),
        (
            "cascade_smpp_submits_expired_total",
            "submit_sm whose deadline passed while queued.",
            |s| s.expired,
        ),
        (
            "cascade_smpp_receipts_received_total",
            "Delivery receipts received.",
            |s| s.receipts,
        ),
    ];
    for (name, help, get) in counters {
        family(out, name, "counter", help);
        for (smsc, bind, stats) in &binds {
            let _ = writeln!(
                out,
                "{name}{{smsc=\"{smsc}\",bind=\"{bind}\"}} {}",
                get(stats)
            );
        }
    }
    family(
        out,
        "cascade_smpp_receipts_recorded_total",
        "counter",
        "Receipts recorded: matched to their message, or held because no message carries the id yet (unmatched).",
    );
    for c in connections {
        let m = c.metrics();
        let _ = writeln!(
            out,
            "cascade_smpp_receipts_recorded_total{{smsc=\"{}\",outcome=\"matched\"}} {}",
            m.name,
            m.receipts_applied()
        );
        let _ = writeln!(
            out,
            "cascade_smpp_receipts_recorded_total{{smsc=\"{}\",outcome=\"unmatched\"}} {}",
            m.name,
            m.receipts_held()
        );
    }
    family(
        out,
        "cascade_smpp_mobile_originated_total",
        "counter",
        "Mobile-originated messages received (logged, not routed).",
    );
    for c in connections {
        let m = c.metrics();
        let _ = writeln!(
            out,
            "cascade_smpp_mobile_originated_total{{smsc=\"{}\"}} {}",
            m.name,
            m.mobile_originated()
        );
    }
    family(
        out,
        "cascade_smpp_receipt_latency_seconds",
        "histogram",
        "From submit_sm_resp to the final delivery receipt.",
    );
    for c in connections {
        let m = c.metrics();
        let mut cumulative = 0;
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += m.latency_buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "cascade_smpp_receipt_latency_seconds_bucket{{smsc=\"{}\",le=\"{le}\"}} {cumulative}",
                m.name
            );
        }
        cumulative += m.latency_buckets[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "cascade_smpp_receipt_latency_seconds_bucket{{smsc=\"{}\",le=\"+Inf\"}} {cumulative}",
            m.name
        );
        let sum = m.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "cascade_smpp_receipt_latency_seconds_sum{{smsc=\"{}\"}} {sum}",
            m.name
        );
        let _ = writeln!(
            out,
            "cascade_smpp_receipt_latency_seconds_count{{smsc=\"{}\"}} {cumulative}",
            m.name
        );
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_lands_in_cumulative_buckets() {
        let m = SmscMetrics::new("x");
        m.observe_latency(Duration::from_millis(20));
        m.observe_latency(Duration::from_millis(400));
        m.observe_latency(Duration::from_secs(1000));
        assert_eq!(m.latency_buckets[1].load(Ordering::Relaxed), 1);
        assert_eq!(m.latency_buckets[5].load(Ordering::Relaxed), 1);
        assert_eq!(
            m.latency_buckets[LATENCY_BUCKETS.len()].load(Ordering::Relaxed),
            1
        );
        assert_eq!(m.latency_sum_us.load(Ordering::Relaxed), 1_000_420_000);
    }
}
