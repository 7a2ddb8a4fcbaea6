//! Waiting out Microsoft Entra's eventual consistency right after a create.
//!
//! A successful write does not guarantee the next request sees it: an object just created can
//! answer `404 Request_ResourceNotFound` for a moment, to reads, updates and `$ref` links alike
//! (docs/protocols/graph-api.md (c) rows 20-21, finding 9;
//! <https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/>).
//! The documented remedy is to retry such a 404 with a bounded back-off, and only for ids the
//! caller itself just created: a 404 for anything else is a real "not there" and must surface at
//! once. So this is an explicit wrapper the caller puts around the follow-up call, never a
//! blanket retry in the pipeline.
//!
//! ```no_run
//! # async fn demo(graph: entra_graph::GraphClient) -> Result<(), entra_graph::GraphError> {
//! let attribute = graph.user_flow_attributes().create("Hobby", None, "string").await?;
//! let id = attribute.id.unwrap_or_default();
//! // The flow may not see the new attribute yet: retry the link while it answers 404.
//! let flows = graph.user_flows();
//! entra_graph::after_create(|| flows.add_attribute("flow-id", &id)).await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::time::Duration;

use crate::error::GraphError;

/// How patiently a call about a just-created object is repeated while Graph answers 404.
///
/// The default makes 6 attempts, waiting 100 ms after the first and doubling (3.1 s of waiting in
/// all): long enough for the replication lag Microsoft describes, short enough that a genuinely
/// missing object is reported within seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterCreate {
    /// Attempts in all, the first included; at least one is always made.
    pub attempts: u32,
    /// The wait after the first 404; each further wait doubles.
    pub first_wait: Duration,
}

impl Default for AfterCreate {
    fn default() -> Self {
        Self {
            attempts: 6,
            first_wait: Duration::from_millis(100),
        }
    }
}

impl AfterCreate {
    /// Runs `operation`, repeating it while it fails with a 404 and attempts remain. Any other
    /// outcome, success or error (a 400, a throttling error the pipeline gave up on, a passed
    /// deadline), is returned as is; after the last attempt the final 404 is returned.
    pub async fn run<T, F, Fut>(&self, mut operation: F) -> Result<T, GraphError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, GraphError>>,
    {
        let mut wait = self.first_wait;
        let mut attempt = 1;
        loop {
            match operation().await {
                Err(error) if error.is_not_found() && attempt < self.attempts => {
                    tracing::debug!(
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "404 right after a create; reading again"
                    );
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// [`AfterCreate::run`] with the default patience: for the first call about an object this
/// process just created (a read, an update, a `$ref` link naming it).
pub async fn after_create<T, F, Fut>(operation: F) -> Result<T, GraphError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, GraphError>>,
{
    AfterCreate::default().run(operation).await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use reqwest::StatusCode;

    use super::*;
    use crate::error::ApiError;

    fn api_error(status: StatusCode, code: &str) -> Box<ApiError> {
        Box::new(ApiError {
            status,
            code: code.to_owned(),
            message: String::new(),
            inner_codes: Vec::new(),
            request_id: None,
            client_request_id: None,
            date: None,
            retry_after: None,
        })
    }

    fn not_found() -> GraphError {
        GraphError::NotFound(api_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound"))
    }

    const QUICK: AfterCreate = AfterCreate {
        attempts: 4,
        first_wait: Duration::from_millis(1),
    };

    #[tokio::test]
    async fn a_404_is_repeated_until_the_object_shows_up() {
        let calls = AtomicU32::new(0);
        let answer = QUICK
            .run(|| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0..=2 => Err(not_found()),
                    _ => Ok("there"),
                }
            })
            .await;
        assert_eq!(answer.unwrap(), "there");
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn the_last_404_is_returned_when_attempts_run_out() {
        let calls = AtomicU32::new(0);
        let answer: Result<(), _> = QUICK
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(not_found())
            })
            .await;
        assert!(answer.unwrap_err().is_not_found());
        assert_eq!(calls.load(Ordering::SeqCst), QUICK.attempts);
    }

    #[tokio::test]
    async fn other_errors_are_not_repeated() {
        let calls = AtomicU32::new(0);
        let answer: Result<(), _> = QUICK
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(GraphError::Api(api_error(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                )))
            })
            .await;
        assert!(matches!(answer, Err(GraphError::Api(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn zero_attempts_still_makes_one() {
        let calls = AtomicU32::new(0);
        let none = AfterCreate {
            attempts: 0,
            first_wait: Duration::from_millis(1),
        };
        let answer: Result<(), _> = none
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(not_found())
            })
            .await;
        assert!(answer.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
