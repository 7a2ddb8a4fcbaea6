//! Optional observation of Graph attempts by the task that makes them, so a rule trace (the local
//! host's playground, `entra-hooks replay --trace`) can show each request's URL, status and time.
//!
//! Why a task-local and not a client field: the functions build their clients once at start and the
//! decision code is shared with Lambda; an observer scoped to one future changes none of that, and
//! without one the cost is a single thread-local lookup per attempt.

use std::sync::Arc;
use std::time::Duration;

/// One HTTP attempt the client made (a retried request is several attempts).
#[derive(Debug, Clone, PartialEq)]
pub struct GraphAttempt {
    pub method: String,
    /// The full URL, query included (`$select`, `$filter`); Graph URLs carry no secrets.
    pub url: String,
    /// 1 for the first try.
    pub attempt: u32,
    /// `None` when no answer came (transport failure, the caller's deadline).
    pub status: Option<u16>,
    pub elapsed: Duration,
    /// Why there is no status, or Graph's error code for a failed status.
    pub error: Option<String>,
}

/// Receives every attempt made inside [`observed`].
pub type Observer = Arc<dyn Fn(GraphAttempt) + Send + Sync>;

tokio::task_local! {
    static OBSERVER: Observer;
}

/// Runs `future`; every Graph attempt made while it is polled is passed to `observer`. Scopes nest
/// (the innermost observer sees the attempt) and work inside `join!` branches.
pub async fn observed<F: Future>(observer: Observer, future: F) -> F::Output {
    OBSERVER.scope(observer, future).await
}

/// Reports an attempt when an observer is installed; builds it only then.
pub(crate) fn notify(attempt: impl FnOnce() -> GraphAttempt) {
    let _ = OBSERVER.try_with(|observer| observer(attempt()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn attempt(n: u32) -> GraphAttempt {
        GraphAttempt {
            method: "GET".into(),
            url: format!("https://graph/{n}"),
            attempt: n,
            status: Some(200),
            elapsed: Duration::ZERO,
            error: None,
        }
    }

    #[tokio::test]
    async fn only_attempts_inside_the_scope_reach_the_innermost_observer() {
        let outer = Arc::new(Mutex::new(Vec::new()));
        let inner = Arc::new(Mutex::new(Vec::new()));
        notify(|| attempt(0));
        let (o, i) = (outer.clone(), inner.clone());
        observed(
            Arc::new(move |a: GraphAttempt| o.lock().unwrap().push(a.attempt)),
            async move {
                notify(|| attempt(1));
                let inner_observer: Observer =
                    Arc::new(move |a: GraphAttempt| i.lock().unwrap().push(a.attempt));
                let ((), ()) = tokio::join!(
                    observed(inner_observer, async { notify(|| attempt(2)) }),
                    async { notify(|| attempt(3)) }
                );
            },
        )
        .await;
        assert_eq!(*outer.lock().unwrap(), vec![1, 3]);
        assert_eq!(*inner.lock().unwrap(), vec![2]);
    }
}
