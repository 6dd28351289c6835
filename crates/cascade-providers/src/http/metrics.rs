//! Provider metrics for `/metrics`: per provider, hand-overs by outcome and the circuit's
//! state, read from the channels' [`ChannelProviders`] when scraped.

use std::sync::Arc;

use cascade_pace::CircuitState;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::failover::{ChannelProviders, ProviderCounts};

const CIRCUITS: [(CircuitState, &str); 3] = [
    (CircuitState::Closed, "closed"),
    (CircuitState::Open, "open"),
    (CircuitState::HalfOpen, "half_open"),
];

/// An outcome label and how to read its count.
type Outcome = (&'static str, fn(&ProviderCounts) -> u64);

const OUTCOMES: [Outcome; 5] = [
    ("accepted", |c| c.accepted),
    ("rejected", |c| c.rejected),
    ("error", |c| c.errors - c.misconfigured),
    ("unauthorized", |c| c.misconfigured),
    ("skipped", |c| c.skipped),
];

/// Every channel's providers, read when scraped.
#[derive(Debug)]
pub struct ProviderCollector {
    channels: Vec<Arc<ChannelProviders>>,
}

impl ProviderCollector {
    pub fn new(channels: Vec<Arc<ChannelProviders>>) -> Self {
        ProviderCollector { channels }
    }
}

impl Collector for ProviderCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let statuses: Vec<_> = self.channels.iter().flat_map(|c| c.statuses()).collect();
        if statuses.is_empty() {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(
            "cascade_provider_requests",
            "Hand-overs to a provider by outcome: accepted, rejected (a verdict on the message), error (outage), unauthorized (401/403), skipped (circuit open, or not connected while another provider could take the message).",
            None,
            MetricType::Counter,
        )?;
        for s in &statuses {
            let channel = s.channel.to_string();
            for (outcome, get) in OUTCOMES {
                let labels = [
                    ("provider", s.name.as_str()),
                    ("channel", channel.as_str()),
                    ("outcome", outcome),
                ];
                ConstCounter::new(get(&s.counts)).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "cascade_provider_circuit_state",
            "1 for the state each provider's circuit is in.",
            None,
            MetricType::Gauge,
        )?;
        for s in &statuses {
            for (state, name) in CIRCUITS {
                let labels = [("provider", s.name.as_str()), ("state", name)];
                ConstGauge::new(i64::from(s.circuit == state))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
