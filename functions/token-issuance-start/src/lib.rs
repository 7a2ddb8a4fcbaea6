//! OnTokenIssuanceStart: Entra asks for extra claims just before it issues a token
//! (docs/protocols/extension-callbacks.md a.5). This crate is the function's logic; `main.rs`
//! only wires it into Lambda, and the local host mounts the same [`router`].
//!
//! Order of work per call (a.0): token first, then the body, then the tenant binding, then the
//! claims from the declarative rules ([`TokenIssuanceStartRules`]) and any registered
//! [`ClaimsExtension`], within the call's budget, then the answer: `200 application/json` with
//! exactly one `provideClaimsForToken` action, or `500` when a rule with `on_error = "fail"` could
//! not be satisfied (Entra then shows its error and issues no token).

mod directory;
mod extension;
mod provider;
mod rules;
mod start;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use entra_extensions::{CallBudget, CalloutGuard, TokenIssuanceStartRequest, bad_callout};
use entra_platform::HttpError;

pub use extension::{ClaimsContext, ClaimsExtension, ClaimsExtensionError};
pub use provider::{ACTION, ClaimsProvider, ClaimsSetupError, DecideError, Decision};
pub use rules::{DEFAULT_CACHE_MAX_USERS, MAX_CACHE_TTL_SECONDS, SECTION, TokenIssuanceStartRules};

/// Where the HTTP API routes this event (template.yaml and the local host use the same path).
pub const PATH: &str = "/extensions/token-issuance-start";

/// The function's long-lived state, built once per execution environment.
pub struct TokenIssuanceStart {
    guard: CalloutGuard,
    provider: ClaimsProvider,
}

impl TokenIssuanceStart {
    /// A function without claims rules: it authenticates, validates and answers with an empty,
    /// well-formed claims set. Add rules with [`TokenIssuanceStart::with_provider`].
    pub fn new(guard: CalloutGuard) -> Self {
        Self {
            guard,
            provider: ClaimsProvider::default(),
        }
    }

    /// Uses `provider` (rules, Graph, cache, extensions) to decide the claims.
    pub fn with_provider(mut self, provider: ClaimsProvider) -> Self {
        self.provider = provider;
        self
    }

    pub fn provider(&self) -> &ClaimsProvider {
        &self.provider
    }

    /// The claims for an already authenticated and bound request (the replay CLI's entry point).
    pub async fn decide(
        &self,
        request: &TokenIssuanceStartRequest,
        budget: CallBudget,
    ) -> Result<Decision, DecideError> {
        self.provider.decide(request, budget).await
    }

    /// Answers one callout. The budget starts before the token check, so the whole call, key
    /// fetches included, fits Entra's timeout.
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> Result<Response, HttpError> {
        let budget = self.provider.start_budget();
        let caller = self.guard.authenticate(headers).await?;
        let request = TokenIssuanceStartRequest::parse(body).map_err(bad_callout)?;
        self.guard.bind(&caller, &request.callout)?;

        let outcome = self.decide(&request, budget).await;

        let latency_ms = budget.elapsed().as_secs_f64() * 1000.0;
        match outcome {
            Ok(decision) => {
                entra_extensions::metrics::record_decision(decision.action, decision.fallback);
                entra_extensions::callout_event!(
                    INFO,
                    request.callout,
                    action = decision.action,
                    claims = decision.claims.len(),
                    omitted = ?decision.omitted,
                    dropped = ?decision.dropped,
                    fallback = decision.fallback,
                    latency_ms,
                    "answered callout"
                );
                Ok(axum::Json(decision.response).into_response())
            }
            Err(error) => {
                entra_extensions::callout_event!(
                    ERROR,
                    request.callout,
                    action = "none",
                    status = 500,
                    fallback = true,
                    latency_ms,
                    error = %error,
                    "refused callout: Entra will fail the sign-in"
                );
                Err(HttpError::internal(error))
            }
        }
    }
}

/// The function's routes, with the body limit and request context every function has.
pub fn router(app: Arc<TokenIssuanceStart>, max_body_bytes: usize) -> Router {
    entra_extensions::callout_router(PATH, app, max_body_bytes)
}

impl entra_extensions::CalloutEndpoint for TokenIssuanceStart {
    async fn answer(&self, headers: &HeaderMap, body: &[u8]) -> Result<Response, HttpError> {
        self.handle(headers, body).await
    }
}
