//! The sessions' timers: a fixed table indexed by [`Timer`], whose minimum is the next
//! wake-up the driver must honour (`poll_timeout`).

use std::time::Instant;

/// Every timer a session may run. Not all sessions use all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// ESME: waiting for the bind response. SMSC: waiting for the ESME to bind.
    Bind,
    /// Fires after `enquire_link_interval` without receiving anything: send `enquire_link`.
    EnquireLink,
    /// Fires when the `enquire_link` went unanswered (and nothing else arrived) for
    /// `enquire_link_timeout`: the link is lost.
    LinkDead,
    /// The earliest response deadline in the request window (a min over the window map).
    Response,
    /// Waiting for `unbind_resp`.
    Unbind,
    /// ESME: end of the pause after a throttling response.
    ThrottleResume,
}

impl Timer {
    const ALL: [Timer; 6] = [
        Timer::Bind,
        Timer::EnquireLink,
        Timer::LinkDead,
        Timer::Response,
        Timer::Unbind,
        Timer::ThrottleResume,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// One optional deadline per [`Timer`].
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; Timer::ALL.len()],
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    /// Sets or clears.
    pub(crate) fn set_opt(&mut self, timer: Timer, at: Option<Instant>) {
        self.deadlines[timer.index()] = at;
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    pub(crate) fn clear(&mut self) {
        self.deadlines = Default::default();
    }

    /// The earliest deadline, if any timer runs.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// The earliest timer due at `now` (ties in table order), stopped before it is returned.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .filter_map(|t| self.get(t).filter(|&at| at <= now).map(|at| (at, t)))
            .min_by_key(|&(at, t)| (at, t.index()))
            .map(|(_, t)| t)?;
        self.stop(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn next_timeout_is_the_minimum() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next_timeout(), None);
        table.set(Timer::EnquireLink, t0 + Duration::from_secs(30));
        table.set(Timer::Response, t0 + Duration::from_secs(5));
        assert_eq!(table.next_timeout(), Some(t0 + Duration::from_secs(5)));
    }

    #[test]
    fn pops_expired_in_deadline_order() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        table.set(Timer::Unbind, t0 + Duration::from_secs(1));
        table.set(Timer::Bind, t0 + Duration::from_secs(2));
        table.set(Timer::LinkDead, t0 + Duration::from_secs(9));
        let now = t0 + Duration::from_secs(3);
        assert_eq!(table.pop_expired(now), Some(Timer::Unbind));
        assert_eq!(table.pop_expired(now), Some(Timer::Bind));
        assert_eq!(table.pop_expired(now), None);
        assert_eq!(
            table.get(Timer::LinkDead),
            Some(t0 + Duration::from_secs(9))
        );
    }
}
