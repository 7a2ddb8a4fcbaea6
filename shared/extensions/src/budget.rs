//! The time an endpoint has to answer. Entra waits `timeoutInMilliseconds` (200-2000 ms, default
//! 1000) per attempt (docs/protocols/extension-callbacks.md c.1); an answer later than that is a
//! failed sign-in however good it is. Every dependency call runs under the budget's deadline and
//! the configured fallback answers when it runs out.

use std::time::Duration;

use tokio::time::Instant;

/// Entra's default extension timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1000);
/// The smallest and largest timeouts Entra accepts.
pub const MIN_TIMEOUT_MS: u64 = 200;
pub const MAX_TIMEOUT_MS: u64 = 2000;
/// Kept back from Entra's timeout for building and sending the answer, and network latency.
pub const DEFAULT_SAFETY_MARGIN: Duration = Duration::from_millis(150);

/// A deadline fixed when the request arrived.
#[derive(Debug, Clone, Copy)]
pub struct CallBudget {
    started: Instant,
    deadline: Instant,
}

impl CallBudget {
    /// A budget of `timeout - margin` from now (never less than a tenth of `timeout`).
    pub fn start(timeout: Duration, margin: Duration) -> Self {
        let started = Instant::now();
        let usable = timeout.saturating_sub(margin).max(timeout / 10);
        Self {
            started,
            deadline: started + usable,
        }
    }

    /// When dependency calls must have finished.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn is_spent(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_keeps_the_margin_back() {
        let budget = CallBudget::start(Duration::from_millis(1000), Duration::from_millis(150));
        let usable = budget.deadline() - budget.started;
        assert_eq!(usable, Duration::from_millis(850));
        let tiny = CallBudget::start(Duration::from_millis(200), Duration::from_millis(500));
        assert_eq!(tiny.deadline() - tiny.started, Duration::from_millis(20));
    }
}
