//! When each message was accepted, for the submit → receipt latency histogram.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Submit times kept for the submit → receipt latency; past it new ones are not timed.
const LATENCY_ENTRIES: usize = 500_000;
/// How long a submit time waits for its receipt (one to two of these).
const TIMING_GENERATION: Duration = Duration::from_secs(30 * 60);

/// Submit times by message-id key, for the submit → receipt latency. Two generations,
/// rotated every [`TIMING_GENERATION`]: a message whose final receipt never comes is
/// forgotten after one to two generations instead of filling the map for good.
#[derive(Debug)]
pub(super) struct Timing {
    generations: Mutex<Generations>,
}

#[derive(Debug)]
struct Generations {
    current: HashMap<String, Instant>,
    previous: HashMap<String, Instant>,
    rotated: Instant,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            generations: Mutex::new(Generations {
                current: HashMap::new(),
                previous: HashMap::new(),
                rotated: Instant::now(),
            }),
        }
    }
}

impl Timing {
    pub(super) fn record(&self, key: String, at: Instant) {
        let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        if g.rotated.elapsed() >= TIMING_GENERATION {
            g.previous = std::mem::take(&mut g.current);
            g.rotated = Instant::now();
        }
        if g.current.len() < LATENCY_ENTRIES {
            g.current.insert(key, at);
        }
    }

    /// The submit time of the first candidate known, forgetting it.
    pub(super) fn take(&self, candidates: &[String]) -> Option<Instant> {
        let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        candidates
            .iter()
            .find_map(|c| g.current.remove(c).or_else(|| g.previous.remove(c)))
    }
}
