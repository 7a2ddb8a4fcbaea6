//! The request pipeline every Graph call goes through.
//!
//! Per call (graph-api.md (c)): a bearer token from the cache; a `client-request-id` (UUID v4, the same
//! on every attempt of one call, logged with Graph's `request-id`); `Retry-Attempt` on retries; retries
//! per [`crate::retry`]; one re-authentication when Graph answers 401 (a revoked or rotated token); the
//! caller's deadline, which aborts an attempt in flight and is never slept past. Errors come back typed
//! ([`GraphError`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use crate::config::{GraphConfig, with_trailing_slash};
use crate::credential::{CredentialError, PreparedCredential};
use crate::error::{ApiError, GraphError};
use crate::groups::Groups;
use crate::retry::{self, Attempts, GiveUp};
use crate::token::{TokenSource, Tokens};
use crate::users::Users;

/// Why a [`GraphClient`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error("the token endpoint URL cannot be built from the authority host and tenant id: {0}")]
    TokenEndpoint(url::ParseError),
    #[error("the HTTP client could not be created: {0}")]
    Http(#[source] reqwest::Error),
}

/// One Graph request, before authentication and retries are added.
#[derive(Debug, Clone)]
pub struct GraphRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    /// JSON body, if any (kept as bytes so every retry sends the same thing).
    pub body: Option<Bytes>,
}

impl GraphRequest {
    /// A request without body or extra headers.
    pub fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
        }
    }

    /// A `GET` of `url`.
    pub fn get(url: Url) -> Self {
        Self::new(Method::GET, url)
    }

    /// A request with `value` serialized as its JSON body.
    pub fn with_json<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, GraphError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| GraphError::InvalidRequest(format!("body is not serializable: {e}")))?;
        self.body = Some(Bytes::from(body));
        Ok(self)
    }

    /// Adds a header sent on every attempt (e.g. `ConsistencyLevel`, `Prefer`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }
}

/// A successful Graph answer.
#[derive(Debug, Clone)]
pub struct GraphResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Graph's `request-id` response header.
    pub request_id: Option<String>,
}

impl GraphResponse {
    /// The body as `T`; a body that does not fit is a [`GraphError::Decode`], never a panic.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, GraphError> {
        serde_json::from_slice(&self.body).map_err(|source| GraphError::Decode {
            status: self.status.as_u16(),
            request_id: self.request_id.clone(),
            source: Arc::new(source),
        })
    }
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    tokens: Tokens,
    retry: crate::config::RetryPolicy,
    request_timeout: Duration,
}

/// A Microsoft Graph client for one app registration in one tenant.
///
/// Cheap to clone (one shared connection pool and token cache). [`GraphClient::with_deadline`] and
/// [`GraphClient::with_timeout`] return a handle whose every call, retries and paging included, ends
/// by that instant: what a handler with a fixed budget (an authentication extension has about a
/// second) needs.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
    deadline: Option<Instant>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    /// Builds a client with its own connection pool, trusting reqwest's default roots (the system
    /// store).
    pub fn new(config: GraphConfig) -> Result<Self, ConfigError> {
        Self::with_client_builder(config, reqwest::Client::builder())
    }

    /// Builds a client with its own connection pool from `builder`, which chose the TLS roots
    /// (`entra_platform::https` bundles them so a function's cold start reads no trust store);
    /// Graph's user agent, timeouts and pool settings are added here.
    pub fn with_client_builder(
        config: GraphConfig,
        builder: reqwest::ClientBuilder,
    ) -> Result<Self, ConfigError> {
        let http = http_client_from(builder, config.request_timeout)?;
        Self::with_http_client(config, http)
    }

    /// Builds a client on an existing `reqwest::Client` (shared pool, custom proxy or TLS roots).
    pub fn with_http_client(
        config: GraphConfig,
        http: reqwest::Client,
    ) -> Result<Self, ConfigError> {
        let endpoint = config
            .token_endpoint()
            .map_err(ConfigError::TokenEndpoint)?;
        let credential =
            PreparedCredential::prepare(&config.credential, &config.client_id, endpoint.as_str())?;
        let tokens = TokenSource::new(
            http.clone(),
            endpoint,
            config.client_id.clone(),
            config.scope(),
            credential,
            config.retry,
            config.request_timeout,
            config.token_refresh_margin,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url: with_trailing_slash(config.graph_base_url),
                tokens: Tokens::Fetched(Arc::new(tokens)),
                retry: config.retry,
                request_timeout: config.request_timeout,
            }),
            deadline: None,
        })
    }

    /// A client calling Graph at `base_url` with a token obtained elsewhere: a person's delegated
    /// token (`az account get-access-token --resource https://graph.microsoft.com`), for the
    /// one-time administrative steps an app cannot yet do for itself (`entra-hooks bootstrap`). The
    /// token is not renewed: the work must finish within its lifetime.
    pub fn with_access_token(
        base_url: Url,
        token: &crate::device_code::DelegatedToken,
    ) -> Result<Self, ConfigError> {
        let request_timeout = Duration::from_secs(30);
        let http = http_client(request_timeout)?;
        let tokens =
            crate::token::Tokens::fixed(token.access_token().expose_secret(), token.expires_at());
        Ok(Self::from_parts(
            http,
            base_url,
            tokens,
            crate::config::RetryPolicy::default(),
            request_timeout,
        ))
    }

    /// A pipeline on `base_url` with tokens from `tokens`: what the ARM client is built on, so ARM
    /// calls get the same correlation ids, retries, deadline and re-authentication as Graph calls.
    pub(crate) fn from_parts(
        http: reqwest::Client,
        base_url: Url,
        tokens: Tokens,
        retry: crate::config::RetryPolicy,
        request_timeout: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                http,
                base_url: with_trailing_slash(base_url),
                tokens,
                retry,
                request_timeout,
            }),
            deadline: None,
        }
    }

    /// A handle whose calls all end by `deadline` (earliest of this and any deadline already set).
    pub fn with_deadline(&self, deadline: Instant) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            deadline: Some(self.deadline.map_or(deadline, |d| d.min(deadline))),
        }
    }

    /// A handle whose calls all end within `budget` from now.
    pub fn with_timeout(&self, budget: Duration) -> Self {
        self.with_deadline(Instant::now() + budget)
    }

    /// The deadline of this handle, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The Graph root calls are made against, e.g. `https://graph.microsoft.com/v1.0/`.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// Users of the tenant.
    pub fn users(&self) -> Users {
        Users::new(self.clone())
    }

    /// Groups and memberships.
    pub fn groups(&self) -> Groups {
        Groups::new(self.clone())
    }

    /// Sign-up and sign-in user flows (`/identity/authenticationEventsFlows`).
    pub fn user_flows(&self) -> crate::user_flows::UserFlows {
        crate::user_flows::UserFlows::new(self.clone())
    }

    /// Custom and built-in user-flow attributes (`/identity/userFlowAttributes`).
    pub fn user_flow_attributes(&self) -> crate::user_flows::UserFlowAttributes {
        crate::user_flows::UserFlowAttributes::new(self.clone())
    }

    /// Tenant identity providers (`/identity/identityProviders`).
    pub fn identity_providers(&self) -> crate::user_flows::IdentityProviders {
        crate::user_flows::IdentityProviders::new(self.clone())
    }

    /// The tenant's organization object (its id is the `{orgId}` of branding paths).
    pub fn organization(&self) -> crate::branding::Organizations {
        crate::branding::Organizations::new(self.clone())
    }

    /// Company branding of organization `org_id` (the tenant id) and its localizations.
    pub fn branding(&self, org_id: &str) -> crate::branding::Branding {
        crate::branding::Branding::new(self.clone(), org_id)
    }

    /// Custom authentication extensions (`/identity/customAuthenticationExtensions`).
    pub fn custom_authentication_extensions(
        &self,
    ) -> crate::auth_extensions::CustomAuthenticationExtensions {
        crate::auth_extensions::CustomAuthenticationExtensions::new(self.clone())
    }

    /// Authentication event listeners (`/identity/authenticationEventListeners`).
    pub fn authentication_event_listeners(
        &self,
    ) -> crate::auth_extensions::AuthenticationEventListeners {
        crate::auth_extensions::AuthenticationEventListeners::new(self.clone())
    }

    /// App registrations, their secrets, certificates and federated credentials.
    pub fn applications(&self) -> crate::applications::Applications {
        crate::applications::Applications::new(self.clone())
    }

    /// Service principals and app role assignments (application-permission grants).
    pub fn service_principals(&self) -> crate::applications::ServicePrincipals {
        crate::applications::ServicePrincipals::new(self.clone())
    }

    /// `{base}/seg1/seg2/...` with every segment percent-encoded (ids and UPNs may hold `#`, `/`, `?`).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// `GET` a resource and decode it.
    pub async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T, GraphError> {
        self.send(GraphRequest::get(url)).await?.json()
    }

    /// Every item of the collection at `url` (all pages), with no query options.
    pub async fn list_all<T: DeserializeOwned + Send + 'static>(
        &self,
        url: Url,
    ) -> Result<Vec<T>, GraphError> {
        use futures::TryStreamExt;
        self.list(url, &crate::paging::ListQuery::new())
            .try_collect()
            .await
    }

    /// `POST` `body` and decode the answer (a create's `201` object).
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        url: Url,
        body: &B,
    ) -> Result<T, GraphError> {
        let request = GraphRequest::new(Method::POST, url).with_json(body)?;
        self.send(request).await?.json()
    }

    /// `PATCH` `body` (Graph answers `204`).
    pub async fn patch_json<B: Serialize + ?Sized>(
        &self,
        url: Url,
        body: &B,
    ) -> Result<(), GraphError> {
        let request = GraphRequest::new(Method::PATCH, url).with_json(body)?;
        self.send(request).await.map(drop)
    }

    /// `DELETE` (Graph answers `204`).
    pub async fn delete(&self, url: Url) -> Result<(), GraphError> {
        self.send(GraphRequest::new(Method::DELETE, url))
            .await
            .map(drop)
    }

    /// Sends a request through the pipeline: token, correlation id, retries, deadline.
    pub async fn send(&self, request: GraphRequest) -> Result<GraphResponse, GraphError> {
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut attempts = Attempts::new(self.inner.retry, self.deadline);
        let mut reauthenticated = false;
        loop {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(GraphError::DeadlineExceeded);
            }
            let attempt = attempts.start();
            let token = self.inner.tokens.get(self.deadline).await?;
            let started = Instant::now();
            let outcome = self
                .attempt(&request, token.secret(), &client_request_id, attempt)
                .await;
            crate::usage::record_attempt(started.elapsed());
            let elapsed_ms = started.elapsed().as_millis();
            let (status, headers, body) = match outcome {
                Ok(parts) => parts,
                Err(AttemptFailure::Deadline) => {
                    crate::observe::notify(|| {
                        observed_attempt(
                            &request,
                            attempt,
                            None,
                            started,
                            Some("abandoned at the caller's deadline".into()),
                        )
                    });
                    tracing::warn!(method = %request.method, path = request.url.path(), %client_request_id, attempt, elapsed_ms, "Graph call abandoned at the caller's deadline");
                    return Err(GraphError::DeadlineExceeded);
                }
                Err(AttemptFailure::Transport(error)) => {
                    crate::observe::notify(|| {
                        observed_attempt(
                            &request,
                            attempt,
                            None,
                            started,
                            Some(format!("transport: {error}")),
                        )
                    });
                    tracing::warn!(method = %request.method, path = request.url.path(), %client_request_id, attempt, elapsed_ms, error = %error, "Graph call failed in transport");
                    if retry::is_retryable_transport(&error, &request.method)
                        && let Ok(wait) = attempts.next_wait(None)
                    {
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(GraphError::Transport(Arc::new(error)));
                }
            };
            let request_id = headers
                .get("request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            crate::observe::notify(|| {
                observed_attempt(&request, attempt, Some(status.as_u16()), started, None)
            });
            tracing::debug!(method = %request.method, path = request.url.path(), %client_request_id, request_id = request_id.as_deref().unwrap_or(""), attempt, status = status.as_u16(), elapsed_ms, "Graph call");
            if status.is_success() {
                return Ok(GraphResponse {
                    status,
                    headers,
                    body,
                    request_id,
                });
            }
            let retry_after = retry::retry_after(&headers);
            let error =
                ApiError::from_response(status, &headers, &body, &client_request_id, retry_after);
            if status == StatusCode::UNAUTHORIZED
                && !reauthenticated
                && self.inner.tokens.invalidate(&token)
            {
                tracing::info!(%client_request_id, code = %error.code, "Graph rejected the access token; fetching a new one");
                reauthenticated = true;
                attempts.refund();
                continue;
            }
            if retry::is_retryable_status(status, &request.method) {
                match attempts.next_wait(retry_after) {
                    Ok(wait) => {
                        tracing::info!(%client_request_id, request_id = request_id.as_deref().unwrap_or(""), status = status.as_u16(), attempt, wait_ms = wait.as_millis(), "retrying Graph call");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    Err(reason) => {
                        let reason = match reason {
                            GiveUp::Attempts => "attempts exhausted",
                            GiveUp::TotalWait => "total wait budget exhausted",
                            GiveUp::Deadline => "the wait would cross the caller's deadline",
                        };
                        tracing::warn!(%client_request_id, request_id = request_id.as_deref().unwrap_or(""), status = status.as_u16(), attempt, reason, "giving up on Graph call");
                    }
                }
            }
            return Err(GraphError::from_api(error));
        }
    }

    async fn attempt(
        &self,
        request: &GraphRequest,
        token: &str,
        client_request_id: &str,
        attempt: u32,
    ) -> Result<(StatusCode, HeaderMap, Bytes), AttemptFailure> {
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), request.url.clone())
            .headers(request.headers.clone())
            .bearer_auth(token)
            .header("client-request-id", client_request_id)
            .header(ACCEPT, "application/json")
            .timeout(self.inner.request_timeout);
        if attempt > 1 {
            builder = builder.header("Retry-Attempt", (attempt - 1).to_string());
        }
        if let Some(body) = &request.body {
            // A body with its own type (a branding image, CSS) keeps it; everything else is JSON.
            if !request.headers.contains_key(CONTENT_TYPE) {
                builder = builder.header(CONTENT_TYPE, "application/json");
            }
            builder = builder.body(body.clone());
        }
        let exchange = async {
            let response = builder.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok((status, headers, body))
        };
        match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, exchange)
                .await
                .map_err(|_| AttemptFailure::Deadline)?
                .map_err(AttemptFailure::Transport),
            None => exchange.await.map_err(AttemptFailure::Transport),
        }
    }
}

/// The connection pool every client of this crate builds by default: TLS 1.2 at least (graph-api.md
/// (c) row 25), a bounded connect time, idle connections kept for reuse.
pub(crate) fn http_client(request_timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    http_client_from(reqwest::Client::builder(), request_timeout)
}

/// [`http_client`] on a builder that already chose its TLS roots.
pub(crate) fn http_client_from(
    builder: reqwest::ClientBuilder,
    request_timeout: Duration,
) -> Result<reqwest::Client, ConfigError> {
    builder
        .user_agent(concat!("entra-graph/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10).min(request_timeout))
        .pool_idle_timeout(Duration::from_secs(90))
        .tls_version_min(reqwest::tls::Version::TLS_1_2)
        .build()
        .map_err(ConfigError::Http)
}

/// What [`crate::observe`] reports for one attempt.
fn observed_attempt(
    request: &GraphRequest,
    attempt: u32,
    status: Option<u16>,
    started: Instant,
    error: Option<String>,
) -> crate::observe::GraphAttempt {
    crate::observe::GraphAttempt {
        method: request.method.to_string(),
        url: request.url.to_string(),
        attempt,
        status,
        elapsed: started.elapsed(),
        error,
    }
}

enum AttemptFailure {
    Deadline,
    Transport(reqwest::Error),
}
