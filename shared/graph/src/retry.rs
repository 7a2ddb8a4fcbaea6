//! When to try a request again, and how long to wait first.
//!
//! Retry set (graph-api.md (c) rows 4, 9-12, change-notifications.md E.3): 429 and 503 for every method
//! (the request was not processed), 504 only for idempotent methods (a POST may have been applied),
//! transport failures for idempotent methods, and connection failures (nothing was sent) for all.
//! The wait is the server's `Retry-After` (delta-seconds or HTTP-date) when given, else exponential
//! backoff with full jitter. Attempts, the sum of waits and the caller's deadline all cap retrying:
//! the client never sleeps past the deadline, it returns the last error instead.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use tokio::time::Instant;

use crate::config::RetryPolicy;

/// Parses `Retry-After` as delta-seconds or an HTTP-date (a date in the past means "now").
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Methods whose repetition cannot apply a change twice. Graph's PATCH sets properties to given
/// values, so repeating it is harmless; POST creates or adds and is not repeated after a 504.
pub(crate) fn is_idempotent(method: &Method) -> bool {
    *method != Method::POST
}

/// Whether a status is worth retrying for this method.
pub(crate) fn is_retryable_status(status: StatusCode, method: &Method) -> bool {
    match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => true,
        StatusCode::GATEWAY_TIMEOUT => is_idempotent(method),
        _ => false,
    }
}

/// Whether a transport failure is worth retrying for this method: connection failures always (the
/// request never left), others (timeouts, connections dropped mid-response) only when idempotent.
pub(crate) fn is_retryable_transport(error: &reqwest::Error, method: &Method) -> bool {
    error.is_connect() || is_idempotent(method)
}

/// Why no further attempt will be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// `max_attempts` reached.
    Attempts,
    /// The wait would push the sum of waits past `max_total_wait`.
    TotalWait,
    /// The wait would end after the caller's deadline.
    Deadline,
}

/// The retry budget of one request.
#[derive(Debug)]
pub(crate) struct Attempts {
    policy: RetryPolicy,
    deadline: Option<Instant>,
    made: u32,
    waited: Duration,
}

impl Attempts {
    pub(crate) fn new(policy: RetryPolicy, deadline: Option<Instant>) -> Self {
        Self {
            policy,
            deadline,
            made: 0,
            waited: Duration::ZERO,
        }
    }

    /// Counts the attempt about to be made; returns its 1-based number.
    pub(crate) fn start(&mut self) -> u32 {
        self.made += 1;
        self.made
    }

    /// Gives one attempt back (used for the single re-authentication retry after a 401).
    pub(crate) fn refund(&mut self) {
        self.made = self.made.saturating_sub(1);
    }

    /// How long to wait before the next attempt, or why there is none.
    pub(crate) fn next_wait(&mut self, retry_after: Option<Duration>) -> Result<Duration, GiveUp> {
        if self.made >= self.policy.max_attempts.max(1) {
            return Err(GiveUp::Attempts);
        }
        let wait = retry_after.unwrap_or_else(|| self.backoff());
        if self.waited + wait > self.policy.max_total_wait {
            return Err(GiveUp::TotalWait);
        }
        if let Some(deadline) = self.deadline
            && Instant::now() + wait >= deadline
        {
            return Err(GiveUp::Deadline);
        }
        self.waited += wait;
        Ok(wait)
    }

    /// Full jitter: uniform in `[0, min(max_delay, base * 2^(retry-1))]`.
    fn backoff(&self) -> Duration {
        let exponent = self.made.saturating_sub(1).min(20);
        let ceiling = self
            .policy
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.policy.max_delay);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn retry_after_in_both_forms() {
        assert_eq!(retry_after(&headers("10")), Some(Duration::from_secs(10)));
        assert_eq!(
            retry_after(&headers("Tue, 18 Aug 2020 12:51:51 GMT")),
            Some(Duration::ZERO)
        );
        let future = SystemTime::now() + Duration::from_secs(3600);
        let waited = retry_after(&headers(&httpdate::fmt_http_date(future))).unwrap();
        assert!(waited > Duration::from_secs(3500) && waited <= Duration::from_secs(3600));
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn post_is_not_retried_after_a_gateway_timeout() {
        assert!(is_retryable_status(
            StatusCode::GATEWAY_TIMEOUT,
            &Method::GET
        ));
        assert!(!is_retryable_status(
            StatusCode::GATEWAY_TIMEOUT,
            &Method::POST
        ));
        assert!(is_retryable_status(
            StatusCode::TOO_MANY_REQUESTS,
            &Method::POST
        ));
        assert!(is_retryable_status(
            StatusCode::SERVICE_UNAVAILABLE,
            &Method::POST
        ));
        assert!(!is_retryable_status(StatusCode::BAD_REQUEST, &Method::GET));
    }

    #[test]
    fn budget_caps_attempts_and_total_wait() {
        let policy = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(150),
            max_total_wait: Duration::from_secs(5),
        };
        let mut attempts = Attempts::new(policy, None);
        attempts.start();
        assert!(attempts.next_wait(None).unwrap() <= Duration::from_millis(100));
        attempts.start();
        assert!(attempts.next_wait(None).unwrap() <= Duration::from_millis(150));
        attempts.start();
        assert_eq!(attempts.next_wait(None), Err(GiveUp::Attempts));

        let mut attempts = Attempts::new(policy, None);
        attempts.start();
        assert_eq!(
            attempts.next_wait(Some(Duration::from_secs(6))),
            Err(GiveUp::TotalWait)
        );
    }

    #[tokio::test]
    async fn waits_never_cross_the_deadline() {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut attempts = Attempts::new(RetryPolicy::default(), Some(deadline));
        attempts.start();
        assert_eq!(
            attempts.next_wait(Some(Duration::from_secs(10))),
            Err(GiveUp::Deadline)
        );
        assert_eq!(attempts.next_wait(Some(Duration::ZERO)), Ok(Duration::ZERO));
    }
}
