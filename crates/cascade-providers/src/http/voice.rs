//! What the Voice adapters share: taking a Voice step within the submit window, and the
//! bounded memory of calls between their webhooks.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use cascade_core::flow::{StepKind, VoiceStep};
use cascade_core::ports::{SubmitError, SubmitRequest};
use cascade_core::{Timestamp, reasons};

/// How long after its step started a call may still be placed (spec §2,
/// `CASCADE_VOICE_SUBMIT_WINDOW`).
pub const DEFAULT_SUBMIT_WINDOW: Duration = Duration::from_secs(300);
/// Calls remembered between their webhooks (see [`CallMemory`]).
const REMEMBERED_CALLS: usize = 10_000;

/// The Voice step of a request, if its call may still be placed at `now`: a call placed
/// later than `window` after its step started would surprise its recipient, so it is
/// not placed at all.
///
/// # Errors
/// Another channel's step, or a step whose window has passed.
pub(super) fn voice_step_in_window<'a>(
    provider: &str,
    request: &'a SubmitRequest,
    now: Timestamp,
    window: Duration,
) -> Result<&'a VoiceStep, SubmitError> {
    let StepKind::Voice(step) = &request.payload.step.kind else {
        return Err(SubmitError::from(reasons::unsupported_by_provider(
            provider,
            format!("a {} step", request.channel()),
        )));
    };
    let waited_ms = now.millis_since(request.payload.created_at);
    if u128::try_from(waited_ms).unwrap_or(0) > window.as_millis() {
        return Err(SubmitError::from(reasons::voice_submit_window_passed(
            window.as_secs(),
        )));
    }
    Ok(step)
}

/// What an adapter remembers about each call between its webhooks (`N`), by the
/// provider's call id. Kept in memory and bounded, oldest forgotten first: the webhooks
/// of one call come within its lifetime (minutes), far fewer calls than the bound are
/// live at once, and what is lost on a restart is only an annotation, never a status.
#[derive(Debug)]
pub(super) struct CallMemory<N>(Mutex<Calls<N>>);

impl<N> Default for CallMemory<N> {
    fn default() -> Self {
        CallMemory(Mutex::new(Calls {
            calls: HashMap::new(),
            order: VecDeque::new(),
        }))
    }
}

impl<N> CallMemory<N> {
    /// The calls, to look at and note (a poisoned lock is taken over: the notes are
    /// plain data).
    pub(super) fn lock(&self) -> MutexGuard<'_, Calls<N>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The calls remembered, oldest first.
#[derive(Debug)]
pub(super) struct Calls<N> {
    calls: HashMap<String, N>,
    order: VecDeque<String>,
}

impl<N: Default> Calls<N> {
    /// The note about `call`, made (and the oldest forgotten) when there is none.
    pub(super) fn note(&mut self, call: &str) -> &mut N {
        if !self.calls.contains_key(call) {
            while self.order.len() >= REMEMBERED_CALLS {
                if let Some(old) = self.order.pop_front() {
                    self.calls.remove(&old);
                }
            }
            self.order.push_back(call.to_owned());
        }
        self.calls.entry(call.to_owned()).or_default()
    }
}

/// A SAY verb, for the adapters' tests (`bargeIn` set, which no adapter renders).
#[cfg(test)]
pub(super) fn say(
    text: &str,
    language: &str,
    gender: cascade_core::flow::Gender,
    repeat: u8,
) -> cascade_core::flow::Verb {
    cascade_core::flow::Verb::Say {
        text: text.into(),
        language: language.into(),
        gender,
        repeat,
        barge_in: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_forgets_the_oldest_call_first() {
        let shared = CallMemory::<u32>::default();
        let mut memory = shared.lock();
        *memory.note("first") = 7;
        for i in 0..REMEMBERED_CALLS {
            *memory.note(&format!("c{i}")) = 1;
        }
        assert_eq!(memory.calls.len(), REMEMBERED_CALLS);
        assert_eq!(*memory.note("first"), 0, "forgotten, made anew");
        assert_eq!(*memory.note(&format!("c{}", REMEMBERED_CALLS - 1)), 1);
    }
}
