//! What every extension endpoint checks before it runs any business logic
//! (docs/protocols/extension-callbacks.md a.0 steps 2 and 5, and (b)):
//! the bearer token proves Entra is calling for our tenant, and the unsigned body is bound to it.

use entra_platform::{CommonConfig, HttpError};
use entra_tokens::{CallerPolicy, KeySet, KeySetOptions, TokenValidator, ValidatedCaller};
use http::HeaderMap;

use crate::envelope::Callout;
use crate::metrics::{self, MetricsSink};

/// Admits a callout: token first, then the body's tenant and extension id against the token and
/// the configuration. Every refusal is a 401 whose reason is logged, never returned; when the
/// signing keys cannot be had at all the answer is a 500 (our failure, not the caller's).
pub struct CalloutGuard {
    /// `None`: a guard for decision-only use (replay, tests of `decide`) that admits no caller.
    validator: Option<TokenValidator>,
    allowed_extension_ids: Vec<String>,
    /// Where the callouts' metrics go ([`crate::metrics`]); disabled unless configured.
    metrics: MetricsSink,
}

impl CalloutGuard {
    /// `allowed_extension_ids` empty means any extension of the tenant may call.
    pub fn new(validator: TokenValidator, allowed_extension_ids: Vec<String>) -> Self {
        Self {
            validator: Some(validator),
            allowed_extension_ids,
            metrics: MetricsSink::disabled(),
        }
    }

    /// A guard that refuses every caller with a 401, for running a function's `decide` without
    /// serving it (the `replay` CLI, tests). It fails closed: wiring it into a served endpoint by
    /// mistake locks everyone out rather than letting anyone in.
    pub fn refusing_every_caller() -> Self {
        Self {
            validator: None,
            allowed_extension_ids: Vec::new(),
            metrics: MetricsSink::disabled(),
        }
    }

    /// Writes the metrics of the callouts this guard admits or refuses to `sink`.
    pub fn with_metrics(mut self, sink: MetricsSink) -> Self {
        self.metrics = sink;
        self
    }

    /// The guard a deployed function uses: Entra's extension-callback policy for the configured
    /// tenant and audiences, keys from the tenant's discovery document, metrics as `[metrics]`
    /// says (on in Lambda by default). Does no network I/O: the keys are fetched on the first call
    /// (cold start stays short).
    pub fn from_config(
        config: &CommonConfig,
        http: reqwest::Client,
    ) -> Result<Self, url::ParseError> {
        let mut audiences = vec![config.extension.app_id.to_string()];
        audiences.extend(config.extension.app_id_uri.iter().cloned());
        let policy = CallerPolicy::extension_callback(&config.tenant.id.to_string(), audiences)
            .with_leeway(config.auth.clock_skew());
        let keys = KeySet::with_options(
            config.discovery_url().parse()?,
            http,
            KeySetOptions::default().with_ttl(config.auth.jwks_ttl()),
        );
        let allowed = config
            .extension
            .allowed_extension_ids
            .iter()
            .flatten()
            .map(ToString::to_string)
            .collect();
        let validator =
            TokenValidator::new(policy, keys).with_verified_cache(config.auth.verified_token_cache);
        Ok(Self::new(validator, allowed).with_metrics(MetricsSink::from_config(&config.metrics)))
    }

    /// Validates the `Authorization` header. Runs before the body is parsed. A refused token is
    /// counted as `TokenRejected` with its reason.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<ValidatedCaller, HttpError> {
        metrics::attach(&self.metrics);
        let header = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let Some(validator) = &self.validator else {
            return Err(HttpError::unauthorized("guard_refuses_every_caller"));
        };
        validator
            .validate_authorization_header(header)
            .await
            .map_err(|rejection| {
                if rejection.is_server_side() {
                    // Our dependency (the tenant's signing keys) is unreachable and nothing is
                    // cached: not the caller's fault. A 5xx sends Entra down its failure path
                    // (retry, or the OTP fallback) instead of blaming the token.
                    HttpError::internal(rejection)
                } else {
                    metrics::token_rejected(rejection.kind());
                    HttpError::unauthorized(rejection.kind())
                }
            })
    }

    /// Binds the body to the token: `data.tenantId` must be the token's `tid` (the body is not
    /// signed, so this stops a valid token being replayed with a forged body for another tenant),
    /// and the extension id must be allowed when an allow-list is configured.
    pub fn bind(&self, caller: &ValidatedCaller, callout: &Callout) -> Result<(), HttpError> {
        metrics::bound(callout);
        if !callout.tenant_id.eq_ignore_ascii_case(caller.tenant_id()) {
            return Err(HttpError::unauthorized("tenant_mismatch"));
        }
        if !self.allowed_extension_ids.is_empty() {
            let allowed = callout.extension_id.as_deref().is_some_and(|id| {
                self.allowed_extension_ids
                    .iter()
                    .any(|allowed| allowed.eq_ignore_ascii_case(id))
            });
            if !allowed {
                return Err(HttpError::unauthorized("extension_not_allowed"));
            }
        }
        Ok(())
    }
}

/// The 400 for a body that is not a callout we serve.
pub fn bad_callout(error: crate::CalloutError) -> HttpError {
    HttpError::bad_request(error.code(), error.to_string())
}

/// An extension endpoint's request handling, for [`callout_router`].
pub trait CalloutEndpoint: Send + Sync + 'static {
    /// Authenticates, parses, decides and answers one callout.
    fn answer(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> impl std::future::Future<Output = Result<axum::response::Response, HttpError>> + Send;
}

/// The router every extension function serves: `POST path`, behind the body limit, the request
/// span (with the Lambda invocation id when running in Lambda) and nothing else. One place, so the
/// five functions cannot drift apart in how they guard, log and measure requests: each answer is
/// one [`crate::metrics`] line, the function named by the path's last segment
/// (`/extensions/token-issuance-start` is `token-issuance-start`).
pub fn callout_router<E: CalloutEndpoint>(
    path: &str,
    endpoint: std::sync::Arc<E>,
    max_body_bytes: usize,
) -> axum::Router {
    struct Endpoint<E> {
        endpoint: std::sync::Arc<E>,
        function: std::sync::Arc<str>,
    }
    impl<E> Clone for Endpoint<E> {
        fn clone(&self) -> Self {
            Self {
                endpoint: self.endpoint.clone(),
                function: self.function.clone(),
            }
        }
    }

    async fn callout<E: CalloutEndpoint>(
        axum::extract::State(state): axum::extract::State<Endpoint<E>>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        // Boxed once here: the answer's future is large (Graph reads joined under a deadline), and
        // every layer around it (metrics scope, axum's handler, the middleware) would otherwise
        // copy it whole when it moves; that copying was an eighth of a served callout's CPU.
        let answer = Box::pin(state.endpoint.answer(&headers, &body));
        metrics::observe(&state.function, async { answer.await.into_response() }).await
    }

    let function = path
        .rsplit('/')
        .find(|segment| !segment.is_empty())
        .unwrap_or(path);
    axum::Router::new()
        .route(path, axum::routing::post(callout::<E>))
        .with_state(Endpoint {
            endpoint,
            function: function.into(),
        })
        .layer(entra_platform::body_limit(max_body_bytes))
        .layer(axum::middleware::from_fn(entra_platform::request_context))
        .layer(axum::middleware::from_fn(
            crate::lambda_ids::lambda_request_id,
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_refusing_guard_admits_no_caller() {
        let guard = CalloutGuard::refusing_every_caller();
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, "Bearer a.b.c".parse().unwrap());
        for headers in [HeaderMap::new(), headers] {
            let error = guard.authenticate(&headers).await.unwrap_err();
            assert_eq!(error.status(), http::StatusCode::UNAUTHORIZED);
        }
    }
}
