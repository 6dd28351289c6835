//! Voice over SIP (voice-sip.md): the `sip` provider kind, which places calls itself.
//!
//! - [`settings`]: the `[[provider]] kind = "sip"` section, checked;
//! - [`signalling`]: SIP behind a small trait of ours, on rsipstack;
//! - [`provider`]: the [`Provider`](cascade_core::ports::Provider) and the task that
//!   drives each call (RTP, playback, detection, reports);
//! - [`tts`]: speech for SAY verbs from the configured TTS command (espeak-ng by
//!   default), run as a subprocess, resampled to 8 kHz and cached;
//! - [`play`]: audio for PLAY verbs, a WAV fetched over http(s), resampled and cached;
//! - [`call`]: one call's logic (ringing, answer, machine detection, playback, hang-up),
//!   sans IO.

pub mod call;
pub mod play;
pub mod provider;
pub mod settings;
pub mod signalling;
pub mod tts;

pub use provider::SipProvider;

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Cached audio at most, in samples (about 20 minutes at 8 kHz).
const CACHE_SAMPLES: usize = 8_000 * 60 * 20;

/// Audio made or fetched once and played many times, the oldest dropped first once the
/// cache holds [`CACHE_SAMPLES`].
#[derive(Debug)]
struct AudioCache<K> {
    inner: Mutex<CacheInner<K>>,
}

#[derive(Debug)]
struct CacheInner<K> {
    entries: HashMap<K, Arc<Vec<i16>>>,
    order: VecDeque<K>,
    samples: usize,
}

impl<K: Hash + Eq + Clone> AudioCache<K> {
    fn new() -> Self {
        AudioCache {
            inner: Mutex::new(CacheInner {
                entries: HashMap::new(),
                order: VecDeque::new(),
                samples: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner<K>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &K) -> Option<Arc<Vec<i16>>> {
        self.lock().entries.get(key).cloned()
    }

    fn put(&self, key: K, samples: Arc<Vec<i16>>) {
        let mut c = self.lock();
        c.samples += samples.len();
        match c.entries.insert(key.clone(), samples) {
            // Made twice at once (two calls missed together): the first copy goes.
            Some(old) => c.samples -= old.len(),
            None => c.order.push_back(key),
        }
        while c.samples > CACHE_SAMPLES {
            let Some(old) = c.order.pop_front() else {
                break;
            };
            if let Some(gone) = c.entries.remove(&old) {
                c.samples -= gone.len();
            }
        }
    }
}
