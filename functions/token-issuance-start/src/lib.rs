//! OnTokenIssuanceStart: Entra asks for extra claims just before it issues a token
//! (../shared/specs/extension-callbacks.md a.5). This crate is the function's logic; `main.rs`
//! only wires it into Lambda, and the local host mounts the same [`router`].
//!
//! Order of work per call (a.0): token first, then the body, then the tenant binding, then the
//! answer: `200 application/json` with exactly one `provideClaimsForToken` action.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use entra_extensions::{
    CalloutGuard, EventKind, ProvideClaimsForToken, TokenIssuanceStartRequest, bad_callout,
};
use entra_platform::{HttpError, body_limit, request_context};

/// Where the HTTP API routes this event (template.yaml and the local host use the same path).
pub const PATH: &str = "/extensions/token-issuance-start";

/// The function's long-lived state, built once per execution environment.
pub struct TokenIssuanceStart {
    guard: CalloutGuard,
}

impl TokenIssuanceStart {
    pub fn new(guard: CalloutGuard) -> Self {
        Self { guard }
    }

    /// Answers one callout. Claims rules come with the rules engine; until then the function
    /// authenticates, validates and answers with an empty, well-formed claims set.
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> Result<Response, HttpError> {
        let started = Instant::now();
        let caller = self.guard.authenticate(headers).await?;
        let request = TokenIssuanceStartRequest::parse(body).map_err(bad_callout)?;
        self.guard.bind(&caller, &request.callout)?;

        let claims = ProvideClaimsForToken::new();
        let response = claims.to_response().map_err(HttpError::internal)?;

        let context = &request.callout.context;
        tracing::info!(
            event = EventKind::TokenIssuanceStart.name(),
            tenant = %request.callout.tenant_id,
            correlation_id = %context.correlation_id,
            client_app = context
                .client_service_principal
                .as_ref()
                .and_then(|sp| sp.app_id.as_deref())
                .unwrap_or("-"),
            action = "provideClaimsForToken",
            claims = claims.len(),
            fallback = false,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "answered callout"
        );
        Ok(axum::Json(response).into_response())
    }
}

/// The function's routes, with the body limit and request context every function has.
pub fn router(app: Arc<TokenIssuanceStart>, max_body_bytes: usize) -> Router {
    Router::new()
        .route(PATH, post(callout))
        .with_state(app)
        .layer(body_limit(max_body_bytes))
        .layer(axum::middleware::from_fn(request_context))
}

async fn callout(
    State(app): State<Arc<TokenIssuanceStart>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    app.handle(&headers, &body).await
}
