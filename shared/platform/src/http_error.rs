//! One error type for every HTTP function, and the body-size guard in front of them.
//!
//! Callers get a stable, minimal JSON body `{"error":{"code":"...","message":"..."}}`; the detail
//! that helps us (why a token was refused, which dependency failed) goes to the log, inside the
//! request span, and never to the caller. This is the svix pattern (docs/architecture.md, "Conventions"): the error knows how
//! to become a response.

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use tower::{Layer, Service};

/// Boxed error carried by [`HttpError::Internal`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything an HTTP handler can fail with, as the caller will see it.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// 400: the request is malformed; `code` is a stable machine-readable token, `message` is shown
    /// to the caller (so it must not contain secrets).
    #[error("bad request ({code}): {message}")]
    BadRequest {
        code: Cow<'static, str>,
        message: String,
    },
    /// 401: the bearer token is missing or invalid. `reason` goes to the log only.
    #[error("unauthorized: {reason}")]
    Unauthorized { reason: Cow<'static, str> },
    /// 404: no such resource or route.
    #[error("not found")]
    NotFound,
    /// 413: the body is larger than the configured limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 500: our fault or a dependency's; the cause goes to the log, the caller gets a generic body.
    #[error("internal error: {0}")]
    Internal(#[source] BoxError),
}

impl HttpError {
    /// A 400 with a stable `code` and a message for the caller.
    pub fn bad_request(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        HttpError::BadRequest {
            code: code.into(),
            message: message.into(),
        }
    }

    /// A 401; `reason` is logged, never sent.
    pub fn unauthorized(reason: impl Into<Cow<'static, str>>) -> Self {
        HttpError::Unauthorized {
            reason: reason.into(),
        }
    }

    /// A 500 caused by `cause`, which is logged with its source chain.
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        HttpError::Internal(cause.into())
    }

    /// The status code this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            HttpError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `code` field of the response body.
    pub fn code(&self) -> &str {
        match self {
            HttpError::BadRequest { code, .. } => code,
            HttpError::Unauthorized { .. } => "unauthorized",
            HttpError::NotFound => "not_found",
            HttpError::PayloadTooLarge => "payload_too_large",
            HttpError::Internal(_) => "internal_error",
        }
    }

    fn public_message(&self) -> &str {
        match self {
            HttpError::BadRequest { message, .. } => message,
            HttpError::Unauthorized { .. } => "unauthorized",
            HttpError::NotFound => "not found",
            HttpError::PayloadTooLarge => "request body is too large",
            HttpError::Internal(_) => "internal error",
        }
    }

    fn log(&self) {
        match self {
            HttpError::BadRequest { code, message } => {
                tracing::info!(code = %code, message = %message, "rejected a bad request");
            }
            HttpError::Unauthorized { reason } => {
                tracing::warn!(reason = %reason, "rejected an unauthenticated request");
            }
            HttpError::NotFound => tracing::debug!("no such resource"),
            HttpError::PayloadTooLarge => tracing::info!("rejected an oversized request body"),
            HttpError::Internal(cause) => {
                tracing::error!(error = %ErrorChain(cause.as_ref()), "request failed");
            }
        }
    }
}

/// `error: cause: cause's cause`, for one log field with the whole story.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        self.log();
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.public_message() }
        });
        let mut response = (self.status(), axum::Json(body)).into_response();
        if matches!(self, HttpError::Unauthorized { .. }) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A JSON request body of type `T`, with failures in our error shape: syntax errors are 400
/// `invalid_json`, type or shape mismatches 400 `invalid_request` (naming the field path), a body
/// over the limit 413. It does not insist on a `Content-Type` (callers vary; the body decides).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection {
                    BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
                        HttpError::PayloadTooLarge
                    }
                    _ => HttpError::bad_request(
                        "unreadable_body",
                        "the request body could not be read",
                    ),
                })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parse `bytes` as JSON into `T` with [`JsonBody`]'s error mapping, for handlers that hold the
/// raw body (e.g. to verify a signature over it first).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HttpError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        json_error(&path, &inner)
    })?;
    deserializer.end().map_err(|err| json_error(".", &err))?;
    Ok(value)
}

fn json_error(path: &str, err: &serde_json::Error) -> HttpError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => HttpError::bad_request(
            "invalid_json",
            format!("request body is not valid JSON: {err}"),
        ),
        Category::Data if path == "." => HttpError::bad_request(
            "invalid_request",
            format!("request body has the wrong shape: {err}"),
        ),
        Category::Data => HttpError::bad_request(
            "invalid_request",
            format!("request body field {path} is invalid: {err}"),
        ),
    }
}

/// Reject bodies over `max_bytes` with our 413 JSON, before any handler runs.
///
/// `Router::layer(body_limit(config.limits.max_body_bytes))`. A `Content-Length` over the limit is
/// refused without reading; otherwise the body is read up to the limit (so chunked bodies are
/// bounded too) and handed on buffered. axum's own extractor limit is set to the same value, so
/// `JsonBody`, `Bytes` and friends never impose a different one.
pub fn body_limit(max_bytes: usize) -> BodyLimitLayer {
    BodyLimitLayer { max_bytes }
}

/// Layer returned by [`body_limit`].
#[derive(Debug, Clone, Copy)]
pub struct BodyLimitLayer {
    max_bytes: usize,
}

impl<S> Layer<S> for BodyLimitLayer {
    type Service = BodyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BodyLimit {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

/// Service produced by [`BodyLimitLayer`].
#[derive(Debug, Clone)]
pub struct BodyLimit<S> {
    inner: S,
    max_bytes: usize,
}

impl<S> Service<Request> for BodyLimit<S>
where
    S: Service<Request, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone is not ready; use the one poll_ready was called on (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let max_bytes = self.max_bytes;
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|len| len > max_bytes as u64) {
                return Ok(HttpError::PayloadTooLarge.into_response());
            }
            let bytes = match Limited::new(body, max_bytes).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
                    return Ok(HttpError::PayloadTooLarge.into_response());
                }
                Err(_) => {
                    return Ok(HttpError::bad_request(
                        "unreadable_body",
                        "the request body could not be read",
                    )
                    .into_response());
                }
            };
            let mut request = Request::from_parts(parts, Body::from(bytes));
            DefaultBodyLimit::max(max_bytes).apply(&mut request);
            let response = inner.call(request).await?;
            Ok(response.into_response())
        })
    }
}
