//! Per-route fault injection, and the request log every test can inspect.
//!
//! Reproduces the failure modes Microsoft Graph and Entra document for clients to survive
//! (docs/protocols/change-notifications.md E.2-E.3, docs/protocols/graph-api.md (c) rows 4, 9, 12):
//! `429 Too Many Requests` with or without `Retry-After` (delta-seconds or HTTP-date), `503` with an
//! optional `Retry-After`, `504` without one, slow answers, truncated JSON and connections dropped
//! mid-response. Rules sit in front of every route (identity, token endpoint and Graph alike), so the
//! code under test meets them exactly where it would meet them in production.
//!
//! The same layer records every request ([`RecordedRequest`]) because it is the one place that sees
//! all of them, including the ones a fault answers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::json;

use crate::SandboxState;

/// How many requests the log keeps; older entries are dropped first so a long benchmark stays bounded.
pub const REQUEST_LOG_CAPACITY: usize = 10_000;

/// A `Retry-After` value, in either of the two forms RFC 9110 allows and Graph is documented to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: 10`
    Seconds(u64),
    /// `Retry-After: Tue, 18 Aug 2020 12:51:51 GMT`
    HttpDate(SystemTime),
}

impl RetryAfter {
    /// The header value exactly as it goes on the wire.
    pub fn header_value(&self) -> String {
        match self {
            RetryAfter::Seconds(seconds) => seconds.to_string(),
            RetryAfter::HttpDate(at) => http_date(*at),
        }
    }
}

/// What a matching request gets instead of (or before) its real answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// `429` with Graph's throttling envelope (vectors/change-notifications/error.toomanyrequests.json).
    TooManyRequests { retry_after: Option<RetryAfter> },
    /// `503` with a `serviceNotAvailable` envelope.
    ServiceUnavailable { retry_after: Option<RetryAfter> },
    /// `504` without `Retry-After`, as Graph's gateway often answers (graph-api.md (c) row 9).
    GatewayTimeout,
    /// Wait this long, then give the real answer.
    Delay(Duration),
    /// `200` whose JSON body is cut off half-way.
    MalformedJson,
    /// Start a `200` answer, then break the connection before the body is complete.
    DropConnection,
}

/// One rule: which requests it catches, what they get, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// Only this method, or any method when `None`.
    pub method: Option<Method>,
    /// Requests whose path (without query) starts with this, e.g. `/v1.0/users`.
    pub path_prefix: String,
    pub fault: Fault,
    /// How many matching requests the rule still catches; `None` = every one, forever.
    pub times: Option<u32>,
}

impl FaultRule {
    /// A rule for every method on `path_prefix`, applied `times` times (`None` = forever).
    pub fn new(path_prefix: impl Into<String>, fault: Fault, times: Option<u32>) -> Self {
        Self {
            method: None,
            path_prefix: path_prefix.into(),
            fault,
            times,
        }
    }

    /// Restricts the rule to one HTTP method.
    pub fn for_method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method) && path.starts_with(&self.path_prefix)
    }
}

/// What the sandbox saw of one request: enough for a test to check the client's wire behaviour
/// (correlation ids, advanced-query headers, that a bearer was sent) without keeping the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: Method,
    /// Path and query exactly as received, e.g. `/v1.0/users?$top=5`.
    pub path_and_query: String,
    /// The `client-request-id` header, if sent.
    pub client_request_id: Option<String>,
    /// The `ConsistencyLevel` header, if sent.
    pub consistency_level: Option<String>,
    /// Whether an `Authorization` header was present (its value is never kept).
    pub has_authorization: bool,
    /// The `Retry-Attempt` header clients add on retries, if sent.
    pub retry_attempt: Option<String>,
    /// Which fault, if any, answered (or delayed) this request.
    pub fault: Option<Fault>,
    pub received_at: SystemTime,
}

impl RecordedRequest {
    /// The path without its query string.
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(path, _)| path)
    }
}

/// The active fault rules and the request log, shared by all routes.
#[derive(Debug, Default)]
pub struct FaultRules {
    rules: Mutex<Vec<FaultRule>>,
    log: Mutex<VecDeque<RecordedRequest>>,
}

impl FaultRules {
    /// Appends a rule; earlier rules win when several match.
    pub fn add(&self, rule: FaultRule) {
        lock(&self.rules).push(rule);
    }

    /// Removes every rule: the tenant answers normally again.
    pub fn clear(&self) {
        lock(&self.rules).clear();
    }

    /// The rules still active (rules whose `times` ran out are gone).
    pub fn rules(&self) -> Vec<FaultRule> {
        lock(&self.rules).clone()
    }

    /// Every request received so far, oldest first (at most [`REQUEST_LOG_CAPACITY`]).
    pub fn request_log(&self) -> Vec<RecordedRequest> {
        lock(&self.log).iter().cloned().collect()
    }

    /// Forgets the recorded requests, so a test can look at just what follows.
    pub fn clear_request_log(&self) {
        lock(&self.log).clear();
    }

    /// Finds the first rule matching the request and uses up one of its `times`.
    fn take(&self, method: &Method, path: &str) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let index = rules.iter().position(|rule| rule.matches(method, path))?;
        let fault = rules[index].fault.clone();
        if let Some(times) = rules[index].times.as_mut() {
            *times = times.saturating_sub(1);
            if *times == 0 {
                rules.remove(index);
            }
        }
        Some(fault)
    }

    fn record(&self, entry: RecordedRequest) {
        let mut log = lock(&self.log);
        if log.len() >= REQUEST_LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(entry);
    }
}

impl crate::Sandbox {
    /// Every request the sandbox received so far (see [`FaultRules::request_log`]).
    pub fn request_log(&self) -> Vec<RecordedRequest> {
        self.state().faults.request_log()
    }
}

/// A poisoned lock only means another request panicked mid-update; the data is still usable for a
/// test double, and refusing to serve would hide the original panic behind a second one.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Middleware in front of every route: records the request, then applies the first matching rule.
pub async fn inject(
    State(state): State<Arc<SandboxState>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let fault = state.faults.take(&method, &path);
    state.faults.record(RecordedRequest {
        method: method.clone(),
        path_and_query: request
            .uri()
            .path_and_query()
            .map_or_else(|| path.clone(), ToString::to_string),
        client_request_id: header_string(request.headers(), "client-request-id"),
        consistency_level: header_string(request.headers(), "consistencylevel"),
        has_authorization: request.headers().contains_key(header::AUTHORIZATION),
        retry_attempt: header_string(request.headers(), "retry-attempt"),
        fault: fault.clone(),
        received_at: SystemTime::now(),
    });
    let Some(fault) = fault else {
        return next.run(request).await;
    };
    let client_request_id = header_string(request.headers(), "client-request-id");
    let token_endpoint = path.contains("/oauth2/");
    match fault {
        Fault::Delay(duration) => {
            tokio::time::sleep(duration).await;
            next.run(request).await
        }
        Fault::TooManyRequests { retry_after } => failure(
            StatusCode::TOO_MANY_REQUESTS,
            retry_after,
            client_request_id,
            token_endpoint,
        ),
        Fault::ServiceUnavailable { retry_after } => failure(
            StatusCode::SERVICE_UNAVAILABLE,
            retry_after,
            client_request_id,
            token_endpoint,
        ),
        Fault::GatewayTimeout => failure(
            StatusCode::GATEWAY_TIMEOUT,
            None,
            client_request_id,
            token_endpoint,
        ),
        Fault::MalformedJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users","value":[{"id":"8a1f0c2e-"#,
        )
            .into_response(),
        Fault::DropConnection => {
            // The first chunk goes out with the headers; the error a moment later makes hyper abort
            // the connection, so the client sees a 200 whose body never completes.
            let head = futures::stream::once(async { Ok(Bytes::from_static(b"{\"value\":[")) });
            let broken = futures::stream::once(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "sandbox fault: connection dropped mid-response",
                ))
            });
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                Body::from_stream(futures::StreamExt::chain(head, broken)),
            )
                .into_response()
        }
    }
}

fn header_string(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// A 429/503/504 answer in the shape of the service being called: Graph's error envelope for Graph
/// routes, Entra's OAuth error body for the token endpoint.
fn failure(
    status: StatusCode,
    retry_after: Option<RetryAfter>,
    client_request_id: Option<String>,
    token_endpoint: bool,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let date = crate::directory::envelope_date(SystemTime::now());
    let body = if token_endpoint {
        oauth_failure_body(status, &request_id, client_request_id.as_deref())
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        // Same members as the documented throttling response, in its order.
        json!({
            "error": {
                "code": "TooManyRequests",
                "innerError": {
                    "code": "429",
                    "date": date,
                    "message": "Please retry after",
                    "request-id": request_id,
                    "status": "429"
                },
                "message": "Please retry again later."
            }
        })
    } else {
        let (code, message) = if status == StatusCode::SERVICE_UNAVAILABLE {
            (
                "serviceNotAvailable",
                "The service is temporarily unavailable. Try the request again after a delay.",
            )
        } else {
            (
                "UnknownError",
                "The gateway timed out waiting for the service.",
            )
        };
        json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": date,
                    "request-id": request_id,
                    "client-request-id": client_request_id.clone().unwrap_or_else(|| request_id.clone())
                }
            }
        })
    };
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("request-id", value);
    }
    if let Some(value) = client_request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        headers.insert("client-request-id", value);
    }
    if let Some(value) = retry_after.and_then(|r| HeaderValue::from_str(&r.header_value()).ok()) {
        headers.insert(header::RETRY_AFTER, value);
    }
    response
}

fn oauth_failure_body(
    status: StatusCode,
    trace_id: &str,
    client_request_id: Option<&str>,
) -> serde_json::Value {
    let correlation_id =
        client_request_id.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let timestamp = crate::token_endpoint::aad_timestamp(SystemTime::now());
    let (error, code, text) = if status == StatusCode::TOO_MANY_REQUESTS {
        (
            "temporarily_unavailable",
            50196u64,
            "AADSTS50196: The server terminated an operation because it encountered a client request loop.",
        )
    } else {
        (
            "temporarily_unavailable",
            90033u64,
            "AADSTS90033: A transient error has occurred. Please try again.",
        )
    };
    json!({
        "error": error,
        "error_description": format!("{text}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id
    })
}

/// IMF-fixdate (RFC 9110 section 5.6.7), e.g. `Tue, 18 Aug 2020 12:51:51 GMT`.
fn http_date(at: SystemTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from(at)
        .format(&format)
        .unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 GMT".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_date_is_imf_fixdate() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_597_755_111);
        assert_eq!(http_date(at), "Tue, 18 Aug 2020 12:51:51 GMT");
    }

    #[test]
    fn rules_are_used_up_in_order() {
        let rules = FaultRules::default();
        rules.add(
            FaultRule::new("/v1.0/users", Fault::GatewayTimeout, Some(1)).for_method(Method::GET),
        );
        rules.add(FaultRule::new("/v1.0", Fault::MalformedJson, None));
        assert_eq!(
            rules.take(&Method::POST, "/v1.0/users"),
            Some(Fault::MalformedJson)
        );
        assert_eq!(
            rules.take(&Method::GET, "/v1.0/users/x"),
            Some(Fault::GatewayTimeout)
        );
        assert_eq!(
            rules.take(&Method::GET, "/v1.0/users/x"),
            Some(Fault::MalformedJson)
        );
        assert_eq!(rules.take(&Method::GET, "/other"), None);
        rules.clear();
        assert_eq!(rules.take(&Method::GET, "/v1.0/users"), None);
    }
}
