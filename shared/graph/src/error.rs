//! Typed failures of Graph calls and token requests.
//!
//! Graph errors are parsed from the documented envelope
//! `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`
//! (docs/protocols/change-notifications.md E.1, graph-api.md (c) row 16), tolerating `innererror`
//! casing and nested inner errors. Callers branch on [`ApiError::code`] and the status, never on the
//! message. Token endpoint failures keep Entra's `error_codes[0]` (the AADSTS number, graph-api.md b.4).

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::credential::SecretProviderError;

/// An error answer from Microsoft Graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// `error.code`, e.g. `Request_ResourceNotFound`; `UnknownError` when the body had no envelope.
    pub code: String,
    /// `error.message`: for people and logs, never for branching.
    pub message: String,
    /// Codes of nested inner errors, outermost first (more specific than `code` when present).
    pub inner_codes: Vec<String>,
    /// Graph's `request-id` (response header, else `innerError.request-id`): quote it to Microsoft support.
    pub request_id: Option<String>,
    /// The `client-request-id` we sent (echoed back by Graph).
    pub client_request_id: Option<String>,
    /// `innerError.date`, as sent.
    pub date: Option<String>,
    /// The server's `Retry-After`, if any, already converted to a wait.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// Parses an error response; never fails (a body without an envelope still yields a typed error).
    pub(crate) fn from_response(
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        client_request_id: &str,
        retry_after: Option<Duration>,
    ) -> Self {
        let envelope = serde_json::from_slice::<Value>(body).ok();
        let error = envelope.as_ref().and_then(|v| v.get("error"));
        let text = |value: Option<&Value>, key: &str| {
            value
                .and_then(|v| v.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let inner = error.and_then(inner_error);
        let mut inner_codes = Vec::new();
        let mut cursor = inner;
        while let Some(current) = cursor {
            if let Some(code) = current.get("code").and_then(Value::as_str) {
                inner_codes.push(code.to_owned());
            }
            cursor = inner_error(current);
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            status,
            code: text(error, "code").unwrap_or_else(|| "UnknownError".to_owned()),
            message: text(error, "message").unwrap_or_else(|| {
                status
                    .canonical_reason()
                    .unwrap_or("unexpected status")
                    .to_owned()
            }),
            inner_codes,
            request_id: header("request-id")
                // ARM names it x-ms-request-id.
                .or_else(|| header("x-ms-request-id"))
                .or_else(|| text(inner, "request-id")),
            client_request_id: header("client-request-id")
                .or_else(|| text(inner, "client-request-id"))
                .or_else(|| Some(client_request_id.to_owned())),
            date: text(inner, "date"),
            retry_after,
        }
    }
}

/// `innerError` or `innererror` (both spellings occur), matched without regard to case.
fn inner_error(value: &Value) -> Option<&Value> {
    value
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("innererror"))
        .map(|(_, inner)| inner)
        .filter(|inner| inner.is_object())
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HTTP {} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )?;
        if let Some(request_id) = &self.request_id {
            write!(f, " (request-id {request_id})")?;
        }
        Ok(())
    }
}

/// AADSTS7000215: "Invalid client secret provided" (graph-api.md b.4).
const INVALID_CLIENT_SECRET: u64 = 7_000_215;
/// AADSTS7000222: InvalidClientSecretExpiredKeysProvided, the secret has expired (graph-api.md b.4).
const EXPIRED_CLIENT_SECRET: u64 = 7_000_222;

/// The token endpoint refused to issue a token (or could not be understood).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token request failed with HTTP {status}: {error}{}", code.map(|c| format!(" (AADSTS{c})")).unwrap_or_default())]
pub struct AuthError {
    /// HTTP status of the token response.
    pub status: u16,
    /// OAuth `error`, e.g. `invalid_client`, `invalid_scope`, `unauthorized_client`.
    pub error: String,
    /// `error_codes[0]`, the AADSTS number: 7000215 wrong secret, 700016 unknown client, 700027 bad
    /// assertion signature, 90002 unknown tenant, 70011 bad scope (graph-api.md b.4).
    pub code: Option<u64>,
    /// `error_description` (contains trace and correlation ids; no secrets).
    pub description: String,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
}

impl AuthError {
    /// Parses an OAuth error body; a body that is not one still yields an error naming the status.
    pub(crate) fn from_response(status: StatusCode, body: &[u8]) -> Self {
        let value = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        Self {
            status: status.as_u16(),
            error: text("error").unwrap_or_else(|| "unexpected_response".to_owned()),
            code: value
                .get("error_codes")
                .and_then(Value::as_array)
                .and_then(|codes| codes.first())
                .and_then(Value::as_u64),
            description: text("error_description").unwrap_or_else(|| {
                format!("the token endpoint answered HTTP {status} without an OAuth error body")
            }),
            trace_id: text("trace_id"),
            correlation_id: text("correlation_id"),
        }
    }

    /// The client's credential was rejected (wrong secret, unknown certificate, bad assertion).
    pub fn is_invalid_client(&self) -> bool {
        self.error == "invalid_client"
    }

    /// The client secret was refused as wrong (AADSTS7000215) or expired (AADSTS7000222): the secret
    /// may have been rotated, so a secret store may hold a newer one.
    pub fn is_secret_rejected(&self) -> bool {
        self.is_invalid_client()
            && matches!(
                self.code,
                Some(INVALID_CLIENT_SECRET | EXPIRED_CLIENT_SECRET)
            )
    }
}

/// Why a Graph call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    /// Graph answered `404` (`Request_ResourceNotFound` and friends). Right after a write this can be
    /// replication lag (graph-api.md (c) row 20-21).
    #[error("not found: {0}")]
    NotFound(Box<ApiError>),
    /// Graph answered `429` and retries did not get through (attempts, total wait or deadline ran out).
    #[error("throttled: {0}")]
    Throttled(Box<ApiError>),
    /// Any other error status.
    #[error("Graph error: {0}")]
    Api(Box<ApiError>),
    /// No access token could be obtained.
    #[error(transparent)]
    Auth(AuthError),
    /// The client assertion could not be built or signed.
    #[error("client credential unusable: {0}")]
    Credential(String),
    /// The [`crate::SecretProvider`] could not return the client secret.
    #[error(transparent)]
    SecretProvider(SecretProviderError),
    /// Connecting, sending or reading failed (after the retries idempotent requests get).
    #[error("transport error: {0}")]
    Transport(#[source] Arc<reqwest::Error>),
    /// A response body was not the JSON expected.
    #[error("could not decode Graph response (HTTP {status}, request-id {request_id:?}): {source}")]
    Decode {
        status: u16,
        request_id: Option<String>,
        #[source]
        source: Arc<serde_json::Error>,
    },
    /// The caller's deadline passed before an answer arrived (the request in flight was abandoned).
    #[error("deadline exceeded before Graph answered")]
    DeadlineExceeded,
    /// Graph answered something the client refuses to follow (e.g. a next link to another host).
    #[error("unexpected response: {0}")]
    InvalidResponse(String),
    /// The request could not be built from the given input.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl GraphError {
    /// The Graph error details, for the variants that carry them.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            GraphError::NotFound(e) | GraphError::Throttled(e) | GraphError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// HTTP status of a Graph error answer.
    pub fn status(&self) -> Option<StatusCode> {
        self.api().map(|e| e.status)
    }

    /// Graph's `error.code`, to branch on.
    pub fn code(&self) -> Option<&str> {
        self.api().map(|e| e.code.as_str())
    }

    /// Graph's `request-id` of the failed answer.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            GraphError::Decode { request_id, .. } => request_id.as_deref(),
            other => other.api().and_then(|e| e.request_id.as_deref()),
        }
    }

    /// The server's requested wait, if it sent `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        self.api().and_then(|e| e.retry_after)
    }

    /// Graph answered 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, GraphError::NotFound(_))
    }

    /// Graph kept answering 429.
    pub fn is_throttled(&self) -> bool {
        matches!(self, GraphError::Throttled(_))
    }

    /// The caller's deadline ended the call.
    pub fn is_deadline_exceeded(&self) -> bool {
        matches!(self, GraphError::DeadlineExceeded)
    }

    /// No token could be obtained (credential or token endpoint problem): not Graph's fault.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            GraphError::Auth(_) | GraphError::Credential(_) | GraphError::SecretProvider(_)
        )
    }

    /// Whether trying again later may succeed (throttling, 5xx gateway/availability errors, network,
    /// deadline): what a queue worker uses to decide between "retry the message" and "dead-letter it".
    pub fn is_transient(&self) -> bool {
        match self {
            GraphError::Throttled(_) | GraphError::Transport(_) | GraphError::DeadlineExceeded => {
                true
            }
            GraphError::Api(e) => matches!(
                e.status,
                StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
                    | StatusCode::BAD_GATEWAY
                    | StatusCode::INTERNAL_SERVER_ERROR
            ),
            GraphError::Auth(e) => e.status >= 500 || e.status == 429,
            GraphError::SecretProvider(e) => e.is_transient(),
            _ => false,
        }
    }

    /// Wraps an error answer in the variant its status calls for.
    pub(crate) fn from_api(error: ApiError) -> Self {
        match error.status {
            StatusCode::NOT_FOUND => GraphError::NotFound(Box::new(error)),
            StatusCode::TOO_MANY_REQUESTS => GraphError::Throttled(Box::new(error)),
            _ => GraphError::Api(Box::new(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DENIED: &str = include_str!(
        "../../../tests/vectors/change-notifications/error.authorization-requestdenied.json"
    );
    const THROTTLED: &str =
        include_str!("../../../tests/vectors/change-notifications/error.toomanyrequests.json");

    #[test]
    fn parses_the_documented_envelope() {
        let error = ApiError::from_response(
            StatusCode::FORBIDDEN,
            &HeaderMap::new(),
            DENIED.as_bytes(),
            "ours",
            None,
        );
        assert_eq!(error.code, "Authorization_RequestDenied");
        assert_eq!(
            error.request_id.as_deref(),
            Some("93b6f17e-c05d-4f45-ad2a-6665c708d8a0")
        );
        assert_eq!(
            error.client_request_id.as_deref(),
            Some("e70c5c1b-8b47-68c0-3171-3d22f5e0bd54")
        );
        assert_eq!(error.date.as_deref(), Some("2025-02-13T10:17:06"));
    }

    #[test]
    fn parses_the_throttling_sample_with_its_inner_code() {
        let error = ApiError::from_response(
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            THROTTLED.as_bytes(),
            "ours",
            Some(Duration::from_secs(10)),
        );
        assert_eq!(error.code, "TooManyRequests");
        assert_eq!(error.inner_codes, vec!["429".to_owned()]);
        assert_eq!(error.client_request_id.as_deref(), Some("ours"));
        assert!(GraphError::from_api(error).is_throttled());
    }

    #[test]
    fn tolerates_lowercase_innererror_nesting_and_non_json() {
        let body = br#"{"error":{"code":"Request_BadRequest","message":"m","innererror":{"code":"a","innerError":{"code":"b"}}}}"#;
        let error =
            ApiError::from_response(StatusCode::BAD_REQUEST, &HeaderMap::new(), body, "x", None);
        assert_eq!(error.inner_codes, vec!["a".to_owned(), "b".to_owned()]);
        let error = ApiError::from_response(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"<html>",
            "x",
            None,
        );
        assert_eq!(error.code, "UnknownError");
        assert_eq!(error.message, "Bad Gateway");
    }

    #[test]
    fn auth_error_keeps_the_aadsts_number() {
        let body = br#"{"error":"invalid_scope","error_description":"AADSTS70011: bad","error_codes":[70011],"timestamp":"t","trace_id":"tr","correlation_id":"c"}"#;
        let error = AuthError::from_response(StatusCode::BAD_REQUEST, body);
        assert_eq!(error.code, Some(70011));
        assert_eq!(error.error, "invalid_scope");
        assert_eq!(error.correlation_id.as_deref(), Some("c"));
        let error = AuthError::from_response(StatusCode::BAD_GATEWAY, b"oops");
        assert_eq!(error.code, None);
        assert_eq!(error.error, "unexpected_response");
    }

    #[test]
    fn only_wrong_or_expired_secrets_count_as_rejected_secrets() {
        let body = |error: &str, code: u64| {
            format!(
                r#"{{"error":"{error}","error_description":"AADSTS{code}: x","error_codes":[{code}]}}"#
            )
        };
        let parse = |error: &str, code: u64| {
            AuthError::from_response(StatusCode::UNAUTHORIZED, body(error, code).as_bytes())
        };
        assert!(parse("invalid_client", 7000215).is_secret_rejected());
        assert!(parse("invalid_client", 7000222).is_secret_rejected());
        // A bad assertion or a missing credential is not a secret a store could have rotated.
        assert!(!parse("invalid_client", 700027).is_secret_rejected());
        assert!(!parse("invalid_request", 7000218).is_secret_rejected());
        assert!(!parse("invalid_request", 7000215).is_secret_rejected());
        assert!(!AuthError::from_response(StatusCode::UNAUTHORIZED, b"{}").is_secret_rejected());
    }

    #[test]
    fn secret_provider_failures_keep_their_transience() {
        let transient = GraphError::SecretProvider(SecretProviderError::transient("store down"));
        assert!(transient.is_transient() && transient.is_auth());
        let permanent =
            GraphError::SecretProvider(SecretProviderError::permanent("no such secret"));
        assert!(!permanent.is_transient() && permanent.is_auth());
        assert_eq!(
            permanent.to_string(),
            "the client secret could not be obtained: no such secret"
        );
    }
}
