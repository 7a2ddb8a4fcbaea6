//! Outbound HTTP of the notification publisher: the validation handshake, webhook deliveries with
//! retries, the attempt log and the idle signal.
//!
//! Every POST goes through one `reqwest` client that ignores proxy settings and never follows
//! redirects, and only to loopback URLs ([`loopback_url`]), so a test can never send traffic off the
//! machine. Deliveries are queued per target URL and sent by one spawned task per URL, in the order
//! they were produced; a batch is retried (exponential backoff, [`RetryPolicy`]) before the next one
//! to the same URL is sent. Graph itself promises no order; the sandbox keeps one so tests are
//! deterministic.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use http::{StatusCode, header};
use tokio::sync::{mpsc, watch};
use url::Url;

use crate::SandboxError;
use crate::directory::GraphFailure;

/// How many attempts the log keeps; older ones are dropped first.
pub const DELIVERY_LOG_CAPACITY: usize = 10_000;

/// Graph's answer when the handshake answer is a 200 whose body is not the token
/// (microsoftgraph/java-spring-webhooks-sample#82).
pub const VALIDATION_MISMATCH_MESSAGE: &str = "Subscription validation request failed. Response must exactly match validationToken query parameter.";
/// Graph's answer when the endpoint does not answer the handshake with `200 OK`.
pub const VALIDATION_NOT_OK_MESSAGE: &str = "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.";
/// Graph's answer when the endpoint does not answer the handshake in time
/// (microsoftgraph/nodejs-webhooks-sample#350).
pub const VALIDATION_TIMEOUT_MESSAGE: &str = "Subscription validation request timed out.";

/// How the publisher retries a delivery that did not get a `2xx`.
///
/// Graph retries "for up to 4 hours" with exponential backoff; the sandbox keeps the shape (bounded
/// attempts, doubling waits) at test speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per batch, the first one included (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled after each further failure.
    pub initial_backoff: Duration,
    /// Upper bound of one wait.
    pub max_backoff: Duration,
    /// How long one POST may take before it counts as failed (Graph: 10 s).
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 250 ms doubling up to 4 s, 10 s per request.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// A policy for tests: `max_attempts` attempts, 10 ms doubling up to 100 ms, 5 s per request.
    pub fn fast(max_attempts: u32) -> Self {
        Self {
            max_attempts,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
            request_timeout: Duration::from_secs(5),
        }
    }

    /// No retries at all: one attempt per batch.
    pub fn no_retries() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}

/// What a logged POST was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryKind {
    /// The handshake of `POST /subscriptions` (or of a `PATCH` that changes `notificationUrl`).
    Validation,
    /// A `changeNotificationCollection` of resource changes, to a `notificationUrl`.
    Change,
    /// A collection of lifecycle notifications, to a `lifecycleNotificationUrl`.
    Lifecycle,
}

/// One POST the sandbox made (or tried to make) to a test's endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub kind: DeliveryKind,
    /// Numbers the batch; the retries of one batch share it. Handshakes get their own numbers.
    pub batch: u64,
    /// 1 for the first try of a batch, 2 for its first retry, ...
    pub attempt: u32,
    /// The URL posted to, exactly (for a handshake including the `validationToken` query).
    pub url: String,
    /// The subscriptions the body is about.
    pub subscription_ids: Vec<String>,
    /// The request body exactly as sent (empty for a handshake).
    pub body: String,
    /// The answer's status, or `None` when no answer came (refused, reset, timed out).
    pub status: Option<u16>,
    /// The answer's body (at most 4 KiB), when there was one.
    pub response_body: Option<String>,
    /// Why there was no answer.
    pub error: Option<String>,
    pub sent_at: SystemTime,
    pub elapsed: Duration,
}

impl DeliveryAttempt {
    /// The body parsed as JSON (`Null` for a handshake or a body that is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// Whether the endpoint answered `2xx`.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// A body to POST to one URL, with retries.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) kind: DeliveryKind,
    pub(crate) url: String,
    pub(crate) body: String,
    pub(crate) subscription_ids: Vec<String>,
}

/// State shared with the per-URL delivery tasks (never the sandbox state itself, so dropping the
/// sandbox closes the queues and ends the tasks).
#[derive(Debug)]
struct Shared {
    client: reqwest::Client,
    log: Mutex<VecDeque<DeliveryAttempt>>,
    /// Batches queued or in flight.
    pending: watch::Sender<usize>,
    policy: Mutex<RetryPolicy>,
    next_batch: AtomicU64,
}

impl Shared {
    fn record(&self, attempt: DeliveryAttempt) {
        let mut log = lock(&self.log);
        if log.len() >= DELIVERY_LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(attempt);
    }

    fn batch_number(&self) -> u64 {
        self.next_batch.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The delivery side of [`super::Subscriptions`].
#[derive(Debug)]
pub(crate) struct Deliveries {
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<(u64, Batch)>>>,
    validation_timeout: Mutex<Duration>,
}

impl Deliveries {
    /// Must be called inside a Tokio runtime: the delivery tasks are spawned on it.
    pub(crate) fn new() -> Result<Self, SandboxError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            SandboxError::Invalid("the sandbox must be started inside a Tokio runtime".into())
        })?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SandboxError::Invalid(format!("webhook HTTP client: {e}")))?;
        let (pending, _) = watch::channel(0);
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                log: Mutex::new(VecDeque::new()),
                pending,
                policy: Mutex::new(RetryPolicy::default()),
                next_batch: AtomicU64::new(0),
            }),
            runtime,
            queues: Mutex::new(HashMap::new()),
            validation_timeout: Mutex::new(Duration::from_secs(10)),
        })
    }

    pub(crate) fn set_policy(&self, policy: RetryPolicy) {
        *lock(&self.shared.policy) = policy;
    }

    pub(crate) fn policy(&self) -> RetryPolicy {
        *lock(&self.shared.policy)
    }

    pub(crate) fn set_validation_timeout(&self, timeout: Duration) {
        *lock(&self.validation_timeout) = timeout;
    }

    pub(crate) fn attempts(&self) -> Vec<DeliveryAttempt> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    pub(crate) fn clear_attempts(&self) {
        lock(&self.shared.log).clear();
    }

    pub(crate) fn pending(&self) -> usize {
        *self.shared.pending.borrow()
    }

    pub(crate) async fn wait_idle(&self) {
        let mut pending = self.shared.pending.subscribe();
        // The sender lives as long as `self`, so this only ends when the count is 0.
        let _ = pending.wait_for(|count| *count == 0).await;
    }

    /// Queues a batch behind the earlier ones to the same URL and returns its number. Counted as
    /// pending at once, so [`Deliveries::wait_idle`] called after this returns waits for it.
    pub(crate) fn enqueue(&self, batch: Batch) -> u64 {
        let number = self.shared.batch_number();
        self.shared.pending.send_modify(|count| *count += 1);
        let mut queues = lock(&self.queues);
        let mut item = (number, batch);
        if let Some(sender) = queues.get(&item.1.url) {
            match sender.send(item) {
                Ok(()) => return number,
                Err(mpsc::error::SendError(back)) => item = back,
            }
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        let url = item.1.url.clone();
        // A fresh channel's receiver is alive, so this send cannot fail.
        let _ = sender.send(item);
        queues.insert(url, sender);
        self.runtime.spawn(run_queue(self.shared.clone(), receiver));
        number
    }

    /// The handshake: `POST {url}?validationToken={token}` (any query of `url` kept), `text/plain`,
    /// empty body; the answer must be `200` with the token as its body.
    pub(crate) async fn validate(
        &self,
        url: &Url,
        request_id: &str,
        subscription_id: &str,
    ) -> Result<(), GraphFailure> {
        let token = format!(
            "Validation: Testing client application reachability for subscription Request-Id: {request_id}"
        );
        let target = with_validation_token(url, &token);
        let timeout = *lock(&self.validation_timeout);
        let started = Instant::now();
        let sent_at = SystemTime::now();
        let result = self
            .shared
            .client
            .post(target.clone())
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body("")
            .timeout(timeout)
            .send()
            .await;
        let (status, body, error) = match result {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(bytes) => (Some(status), Some(bytes.to_vec()), None),
                    Err(e) => (Some(status), None, Some(e)),
                }
            }
            Err(e) => (None, None, Some(e)),
        };
        self.shared.record(DeliveryAttempt {
            kind: DeliveryKind::Validation,
            batch: self.shared.batch_number(),
            attempt: 1,
            url: target.to_string(),
            subscription_ids: vec![subscription_id.to_owned()],
            body: String::new(),
            status: status.map(|s| s.as_u16()),
            response_body: body.as_deref().map(truncated),
            error: error.as_ref().map(ToString::to_string),
            sent_at,
            elapsed: started.elapsed(),
        });
        let failed =
            |message: &str| GraphFailure::new(StatusCode::BAD_REQUEST, "InvalidRequest", message);
        if error.as_ref().is_some_and(reqwest::Error::is_timeout) {
            return Err(failed(VALIDATION_TIMEOUT_MESSAGE));
        }
        match (status, body) {
            (Some(StatusCode::OK), Some(body)) if body == token.as_bytes() => Ok(()),
            (Some(StatusCode::OK), Some(_)) => Err(failed(VALIDATION_MISMATCH_MESSAGE)),
            _ => Err(failed(VALIDATION_NOT_OK_MESSAGE)),
        }
    }
}

/// Sends the batches of one URL in order until the sandbox goes away.
async fn run_queue(shared: Arc<Shared>, mut queue: mpsc::UnboundedReceiver<(u64, Batch)>) {
    while let Some((number, batch)) = queue.recv().await {
        deliver(&shared, number, &batch).await;
        shared
            .pending
            .send_modify(|count| *count = count.saturating_sub(1));
    }
}

async fn deliver(shared: &Shared, number: u64, batch: &Batch) {
    let policy = *lock(&shared.policy);
    let mut backoff = policy.initial_backoff;
    for attempt in 1..=policy.max_attempts.max(1) {
        let started = Instant::now();
        let sent_at = SystemTime::now();
        let result = shared
            .client
            .post(&batch.url)
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(batch.body.clone())
            .timeout(policy.request_timeout)
            .send()
            .await;
        let (status, response_body, error) = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.bytes().await.ok().map(|b| truncated(&b));
                (Some(status), body, None)
            }
            Err(e) => (None, None, Some(e.to_string())),
        };
        let entry = DeliveryAttempt {
            kind: batch.kind,
            batch: number,
            attempt,
            url: batch.url.clone(),
            subscription_ids: batch.subscription_ids.clone(),
            body: batch.body.clone(),
            status,
            response_body,
            error,
            sent_at,
            elapsed: started.elapsed(),
        };
        let succeeded = entry.succeeded();
        shared.record(entry);
        if succeeded {
            return;
        }
        if attempt < policy.max_attempts {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(policy.max_backoff);
        }
    }
    tracing::debug!(url = %batch.url, batch = number, "notification delivery gave up");
}

/// `url` with `validationToken={token}` appended to its query, the token percent-encoded (`%20` for
/// spaces, never `+`).
pub(crate) fn with_validation_token(url: &Url, token: &str) -> Url {
    let encoded = url::form_urlencoded::byte_serialize(token.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let query = match url.query() {
        Some(existing) if !existing.is_empty() => {
            format!("{existing}&validationToken={encoded}")
        }
        _ => format!("validationToken={encoded}"),
    };
    let mut target = url.clone();
    target.set_query(Some(&query));
    target
}

/// Parses a notification URL and refuses anything but `http(s)` to a loopback host.
///
/// Graph requires `https`; the sandbox also takes `http`, because it only ever calls loopback.
pub(crate) fn loopback_url(property: &str, raw: &str) -> Result<Url, GraphFailure> {
    let invalid =
        |message: String| GraphFailure::new(StatusCode::BAD_REQUEST, "InvalidRequest", message);
    let url = Url::parse(raw).map_err(|_| {
        invalid(format!(
            "Invalid '{property}': '{raw}' is not an absolute URL."
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "Invalid '{property}': '{raw}' must be an https URL (the sandbox also accepts http on loopback)."
        )));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if !loopback {
        return Err(invalid(format!(
            "Subscription validation request failed. The sandbox only calls loopback endpoints (127.0.0.0/8, [::1], localhost); '{}' is not one.",
            url.host_str().unwrap_or_default()
        )));
    }
    Ok(url)
}

fn truncated(bytes: &[u8]) -> String {
    let end = bytes.len().min(4096);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_token_is_appended_percent_encoded() {
        let token = "Validation: Testing client application reachability for subscription Request-Id: 877cb92e-a60b-483b-8a39-79aa5f64f5a3";
        let plain = Url::parse("http://127.0.0.1:9/notify").unwrap();
        assert_eq!(
            with_validation_token(&plain, token).as_str(),
            "http://127.0.0.1:9/notify?validationToken=Validation%3A%20Testing%20client%20application%20reachability%20for%20subscription%20Request-Id%3A%20877cb92e-a60b-483b-8a39-79aa5f64f5a3"
        );
        let with_query = Url::parse("http://127.0.0.1:9/notify?tenant=a&x=1").unwrap();
        let target = with_validation_token(&with_query, "a+b c");
        assert_eq!(
            target.query(),
            Some("tenant=a&x=1&validationToken=a%2Bb%20c")
        );
        let decoded: Vec<(String, String)> = target.query_pairs().into_owned().collect();
        assert_eq!(decoded[2], ("validationToken".into(), "a+b c".into()));
    }

    #[test]
    fn only_loopback_urls_are_called() {
        for ok in [
            "http://127.0.0.1:8080/notify",
            "https://127.0.0.2/x",
            "http://[::1]:1/",
            "http://LOCALHOST:3000/n?q=1",
        ] {
            assert!(loopback_url("notificationUrl", ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://webhook.azurewebsites.net/api/notify",
            "http://10.0.0.1/",
            "ftp://127.0.0.1/",
            "/relative",
            "http://localhost.example.com/",
        ] {
            let failure = loopback_url("notificationUrl", bad).unwrap_err();
            assert_eq!(failure.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
