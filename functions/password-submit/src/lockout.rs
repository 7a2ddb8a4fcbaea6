//! Failed-attempt counting per username for `[password_submit.lockout]`: a fixed window that
//! opens at a username's first failure; once `max_failures` failures fall inside it, the username
//! is locked until the window ends. A correct password clears the count.
//!
//! In memory, per execution environment: a best-effort brake on password guessing against the
//! legacy hashes, on top of (not instead of) Entra's own smart lockout.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Most usernames tracked at once; past this, expired windows are dropped, then the oldest.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    opened: Instant,
    failures: u32,
}

/// Failure counts keyed by normalised username.
#[derive(Debug)]
pub(crate) struct FailureCounter {
    max_failures: u32,
    window: Duration,
    entries: Mutex<HashMap<String, Window>>,
}

impl FailureCounter {
    pub(crate) fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, Window>> {
        // The map stays consistent even if a holder panicked: every update is a single insert.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_open(&self, window: &Window, now: Instant) -> bool {
        now.saturating_duration_since(window.opened) < self.window
    }

    /// Whether `key` has used up its failures in the current window.
    pub(crate) fn is_locked(&self, key: &str, now: Instant) -> bool {
        self.entries()
            .get(key)
            .is_some_and(|w| self.is_open(w, now) && w.failures >= self.max_failures)
    }

    /// Counts one failure for `key`.
    pub(crate) fn record_failure(&self, key: &str, now: Instant) {
        let mut entries = self.entries();
        if !entries.contains_key(key) && entries.len() >= MAX_TRACKED {
            entries.retain(|_, w| now.saturating_duration_since(w.opened) < self.window);
            if entries.len() >= MAX_TRACKED
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, w)| w.opened)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        let window = entries.entry(key.to_owned()).or_insert(Window {
            opened: now,
            failures: 0,
        });
        if !self.is_open(window, now) {
            *window = Window {
                opened: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }

    /// Forgets `key`'s failures (after a correct password).
    pub(crate) fn clear(&self, key: &str) {
        self.entries().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_until_the_window_ends() {
        let counter = FailureCounter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(!counter.is_locked("a", t0), "before failure {i}");
            counter.record_failure("a", t0 + Duration::from_secs(i));
        }
        assert!(counter.is_locked("a", t0 + Duration::from_secs(10)));
        assert!(!counter.is_locked("b", t0 + Duration::from_secs(10)));
        assert!(!counter.is_locked("a", t0 + Duration::from_secs(60)));
        // A failure after the window opens a new one.
        counter.record_failure("a", t0 + Duration::from_secs(61));
        assert!(!counter.is_locked("a", t0 + Duration::from_secs(62)));
    }

    #[test]
    fn a_correct_password_clears_the_count() {
        let counter = FailureCounter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        counter.record_failure("a", t0);
        counter.clear("a");
        counter.record_failure("a", t0);
        assert!(!counter.is_locked("a", t0));
        counter.record_failure("a", t0);
        assert!(counter.is_locked("a", t0));
    }

    #[test]
    fn tracking_stays_bounded() {
        let counter = FailureCounter::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED {
            counter.record_failure(&i.to_string(), t0 + Duration::from_millis(i as u64));
        }
        counter.record_failure("new", t0 + Duration::from_secs(59));
        assert_eq!(counter.entries().len(), MAX_TRACKED);
        assert!(counter.is_locked("new", t0 + Duration::from_secs(59)));
        assert!(
            !counter.is_locked("0", t0 + Duration::from_secs(1)),
            "oldest evicted"
        );
    }
}
