//! The notification receiver: the `notificationUrl` and `lifecycleNotificationUrl` of our Graph
//! subscriptions (docs/protocols/change-notifications.md A). It answers Graph's validation
//! handshake, checks each notification (clientState, tenant, validation tokens, decryption) and
//! queues the good ones for the worker; see [`receiver`] for the rules. This crate is the
//! function's logic; `main.rs` wires it for Lambda and the local host mounts the same router.

pub mod config;
pub mod receiver;

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

pub use config::{ReceiverConfig, SetupError};
pub use entra_notifications::config::{LIFECYCLE_PATH, NOTIFICATION_PATH};
pub use receiver::{Answer, Endpoint, NotificationReceiver, Tally};

/// Largest POST accepted. Graph documents no batch limit; a batch of basic user and group
/// notifications is about 600 bytes an item, rich ones a few kilobytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Both URLs, behind the body limit and the request span.
pub fn router(receiver: Arc<NotificationReceiver>, max_body_bytes: usize) -> Router {
    Router::new()
        .route(NOTIFICATION_PATH, post(notifications))
        .route(LIFECYCLE_PATH, post(lifecycle))
        .with_state(receiver)
        .layer(entra_platform::body_limit(max_body_bytes))
        .layer(axum::middleware::from_fn(entra_platform::request_context))
        .layer(axum::middleware::from_fn(
            entra_extensions::lambda_ids::lambda_request_id,
        ))
}

async fn notifications(
    State(receiver): State<Arc<NotificationReceiver>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    http_answer(
        receiver
            .receive(Endpoint::Notifications, query.as_deref(), &body)
            .await,
    )
}

async fn lifecycle(
    State(receiver): State<Arc<NotificationReceiver>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    http_answer(
        receiver
            .receive(Endpoint::Lifecycle, query.as_deref(), &body)
            .await,
    )
}

/// The HTTP form of an answer: the handshake echo is `text/plain` with `nosniff` (Graph's token is
/// echoed byte for byte, never HTML-escaped); accepted batches are an empty 202.
pub fn http_answer(answer: Answer) -> Response {
    match answer {
        Answer::Validation(token) => (
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            token,
        )
            .into_response(),
        Answer::Accepted(_) => StatusCode::ACCEPTED.into_response(),
        Answer::NotNotifications => entra_platform::HttpError::bad_request(
            "not_notifications",
            "the body is not a Microsoft Graph change notification collection",
        )
        .into_response(),
        Answer::QueueUnavailable | Answer::TokensUncheckable => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "error": {"code": "unavailable", "message": "try again later"}
            })),
        )
            .into_response(),
    }
}
