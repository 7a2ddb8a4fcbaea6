//! How much Graph one unit of work used: every HTTP attempt the client makes (retries and pages
//! included, token requests not) is counted, with its duration, into the accumulator of the task
//! that made it, when that task runs inside [`measure`]. The extension endpoints wrap each callout
//! in one, so each callout's metrics say how many Graph calls it cost and how long they took.
//!
//! A task-local, not a parameter: the count has to cover every call a rule, a cache or a custom
//! extension makes on the callout's behalf, without threading a counter through each of them.
//! Outside a [`measure`] scope counting is a no-op. Calls made from tasks the callout spawns are
//! not counted (nothing in the endpoints spawns Graph work).

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

/// What a [`measure`]d future spent on Graph.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GraphUsage {
    /// HTTP attempts made to Graph (each retry and each page is one).
    pub calls: u32,
    /// The attempts' durations added up (concurrent attempts each count in full).
    pub time: Duration,
}

#[derive(Default)]
struct Accumulator {
    calls: Cell<u32>,
    time: Cell<Duration>,
}

tokio::task_local! {
    static USAGE: Accumulator;
}

/// Runs `future` and returns its output with the Graph usage of every attempt it made.
pub async fn measure<F: Future>(future: F) -> (F::Output, GraphUsage) {
    USAGE
        .scope(Accumulator::default(), async {
            let output = future.await;
            let usage = USAGE.with(|usage| GraphUsage {
                calls: usage.calls.get(),
                time: usage.time.get(),
            });
            (output, usage)
        })
        .await
}

/// Counts one attempt that took `elapsed` into the current [`measure`] scope, if any.
pub(crate) fn record_attempt(elapsed: Duration) {
    let _ = USAGE.try_with(|usage| {
        usage.calls.set(usage.calls.get().saturating_add(1));
        usage.time.set(usage.time.get().saturating_add(elapsed));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn attempts_count_into_the_enclosing_scope_only() {
        record_attempt(Duration::from_millis(5)); // no scope: ignored
        let ((), usage) = measure(async {
            record_attempt(Duration::from_millis(3));
            record_attempt(Duration::from_millis(4));
        })
        .await;
        assert_eq!(
            usage,
            GraphUsage {
                calls: 2,
                time: Duration::from_millis(7)
            }
        );
        let ((), empty) = measure(async {}).await;
        assert_eq!(empty, GraphUsage::default());
    }
}
