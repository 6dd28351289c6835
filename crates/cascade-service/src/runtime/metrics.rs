//! The product's own metrics (`GET /metrics`): flows accepted and ended, failovers per
//! channel pair, how long steps take, how late timers fire, and the callback outbox.
//! Counted on the node that applied each change, from what the store's operations report
//! ([`cascade_store::FlowChanges`]).

use std::sync::atomic::AtomicU64;

use cascade_core::{Channel, Timestamp};
use cascade_store::{FlowChanges, OutboxStats};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Seconds from a step's start to its outcome: SMS receipts in seconds, Viber read
/// receipts and calls in minutes, TTLs up to days.
const STEP_BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 86_400.0,
];

/// Seconds a timer fired after its due time.
const LAG_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

fn step_histogram() -> Histogram {
    Histogram::new(STEP_BUCKETS)
}

/// The series; clones share them.
#[derive(Debug, Clone)]
pub struct FlowMetrics {
    accepted: Family<Labels, Counter>,
    finished: Family<Labels, Counter>,
    failovers: Family<Labels, Counter>,
    step_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    timer_lag: Histogram,
    outbox_pending: Gauge,
    outbox_oldest: Gauge<f64, AtomicU64>,
    outbox_dead: Gauge,
}

impl Default for FlowMetrics {
    fn default() -> Self {
        FlowMetrics {
            accepted: Family::default(),
            finished: Family::default(),
            failovers: Family::default(),
            step_seconds: Family::new_with_constructor(step_histogram),
            timer_lag: Histogram::new(LAG_BUCKETS),
            outbox_pending: Gauge::default(),
            outbox_oldest: Gauge::default(),
            outbox_dead: Gauge::default(),
        }
    }
}

fn channel(c: Option<Channel>) -> String {
    c.map_or_else(|| "none".to_owned(), |c| c.name().to_owned())
}

impl FlowMetrics {
    /// Adds every series to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "cascade_flows_accepted",
            "Flows accepted, by the channel of their first step",
            self.accepted.clone(),
        );
        registry.register(
            "cascade_flows_finished",
            "Flows that ended, by status (Succeeded, Failed) and termination channel",
            self.finished.clone(),
        );
        registry.register(
            "cascade_failovers",
            "Steps that failed over to the next one, by the channel left and the channel taken",
            self.failovers.clone(),
        );
        registry.register(
            "cascade_step_duration_seconds",
            "From a step's start to its outcome, by channel and outcome",
            self.step_seconds.clone(),
        );
        registry.register(
            "cascade_timer_lag_seconds",
            "How late timers (TTLs, report deadlines) fired after their due time",
            self.timer_lag.clone(),
        );
        registry.register(
            "cascade_callbacks_pending",
            "Callbacks in the outbox waiting to be delivered (the whole store)",
            self.outbox_pending.clone(),
        );
        registry.register(
            "cascade_callbacks_oldest_pending_age_seconds",
            "Age of the oldest callback waiting to be delivered (0 when none)",
            self.outbox_oldest.clone(),
        );
        registry.register(
            "cascade_callbacks_dead",
            "Callbacks given up (dead letters) in the store",
            self.outbox_dead.clone(),
        );
    }

    /// Counts what one operation did.
    pub fn record(&self, changes: &FlowChanges) {
        for &c in &changes.accepted {
            self.accepted
                .get_or_create(&vec![("channel", channel(Some(c)))])
                .inc();
        }
        for &(status, termination) in &changes.finished {
            self.finished
                .get_or_create(&vec![
                    ("status", status.name().to_owned()),
                    ("termination_channel", channel(termination)),
                ])
                .inc();
        }
        for &(from, to) in &changes.failovers {
            self.failovers
                .get_or_create(&vec![
                    ("from", channel(Some(from))),
                    ("to", channel(Some(to))),
                ])
                .inc();
        }
        for &(c, outcome, ms) in &changes.steps_ended {
            self.step_seconds
                .get_or_create(&vec![
                    ("channel", channel(Some(c))),
                    ("outcome", outcome.name_for(c)),
                ])
                .observe(ms.max(0) as f64 / 1000.0);
        }
    }

    /// Timers that fired this late (milliseconds each).
    pub fn timers_fired(&self, lags_ms: &[i64]) {
        for &ms in lags_ms {
            self.timer_lag.observe(ms.max(0) as f64 / 1000.0);
        }
    }

    /// The outbox as the store saw it at `now`.
    pub fn outbox(&self, stats: OutboxStats, now: Timestamp) {
        self.outbox_pending
            .set(i64::try_from(stats.pending).unwrap_or(i64::MAX));
        self.outbox_dead
            .set(i64::try_from(stats.dead).unwrap_or(i64::MAX));
        let age = stats
            .oldest_pending
            .map_or(0, |t| (now.as_millis() - t.as_millis()).max(0));
        self.outbox_oldest.set(age as f64 / 1000.0);
    }
}

#[cfg(test)]
mod tests {
    use cascade_core::StatusKind;
    use cascade_core::machines::FlowStatus;

    use super::*;

    fn exposition(m: &FlowMetrics) -> String {
        let mut registry = Registry::default();
        m.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn changes_become_series() {
        let m = FlowMetrics::default();
        m.record(&FlowChanges {
            accepted: vec![Channel::Viber, Channel::Viber],
            finished: vec![(FlowStatus::Succeeded, Some(Channel::Sms))],
            failovers: vec![(Channel::Viber, Channel::Sms)],
            steps_ended: vec![(Channel::Viber, StatusKind::Undelivered, 1_500)],
        });
        m.timers_fired(&[3, 40]);
        m.outbox(
            OutboxStats {
                pending: 4,
                oldest_pending: Some(Timestamp::from_millis(1_000)),
                dead: 1,
            },
            Timestamp::from_millis(61_000),
        );
        let text = exposition(&m);
        for line in [
            "cascade_flows_accepted_total{channel=\"Viber\"} 2",
            "cascade_flows_finished_total{status=\"Succeeded\",termination_channel=\"Sms\"} 1",
            "cascade_failovers_total{from=\"Viber\",to=\"Sms\"} 1",
            "cascade_step_duration_seconds_count{channel=\"Viber\",outcome=\"UNDELIVERED\"} 1",
            "cascade_step_duration_seconds_bucket{le=\"2.5\",channel=\"Viber\",outcome=\"UNDELIVERED\"} 1",
            "cascade_step_duration_seconds_bucket{le=\"1.0\",channel=\"Viber\",outcome=\"UNDELIVERED\"} 0",
            "cascade_timer_lag_seconds_count 2",
            "cascade_callbacks_pending 4",
            "cascade_callbacks_oldest_pending_age_seconds 60.0",
            "cascade_callbacks_dead 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
