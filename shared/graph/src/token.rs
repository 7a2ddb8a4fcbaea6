//! App-only access tokens from the client-credentials grant, cached per client
//! (docs/protocols/graph-api.md b.1-b.4).
//!
//! One token is cached. While it is valid and outside the refresh margin it is returned as is. Inside
//! the margin it is still returned, and one background refresh replaces it (so no caller waits while
//! the old token works). Without a valid token, callers wait for the refresh, and concurrent callers
//! share the same one: exactly one token request is in flight at any time. The refresh runs in its own
//! task, so a caller abandoning its wait at a deadline does not waste it. Token values never reach a
//! log or a `Debug` output.
//!
//! A secret from a [`crate::SecretProvider`] is read before each token request. When Entra refuses it
//! as wrong or expired (AADSTS7000215, AADSTS7000222: the secret was rotated since the provider cached
//! it), the provider is told to drop its copy and the request is made once more with a freshly read
//! secret; that one retry does not use up an attempt of the retry policy, and a second refusal is
//! returned as the [`AuthError`]. A fixed secret is never retried this way (asking again would send
//! the same secret).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use reqwest::StatusCode;
use serde::Deserialize;
use tokio::time::Instant;
use url::Url;

use crate::config::RetryPolicy;
use crate::credential::PreparedCredential;
use crate::error::{AuthError, GraphError};
use crate::retry::{self, Attempts};

/// After a background refresh failed while the old token is still valid, wait this long before the
/// next try, so a broken token endpoint is not hammered by every call.
const FAILED_REFRESH_PAUSE: Duration = Duration::from_secs(10);

/// A bearer token and when it stops being usable.
#[derive(Clone)]
pub(crate) struct AccessToken {
    value: Arc<str>,
    expires_at: Instant,
}

impl AccessToken {
    pub(crate) fn secret(&self) -> &str {
        &self.value
    }

    fn same_as(&self, other: &AccessToken) -> bool {
        Arc::ptr_eq(&self.value, &other.value)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

type Refresh = Shared<BoxFuture<'static, Result<AccessToken, GraphError>>>;

#[derive(Default)]
struct CacheState {
    current: Option<AccessToken>,
    inflight: Option<Refresh>,
    refresh_paused_until: Option<Instant>,
}

/// Fetches and caches tokens for one client, one authority and one scope.
pub(crate) struct TokenSource {
    http: reqwest::Client,
    endpoint: Url,
    client_id: String,
    scope: String,
    credential: PreparedCredential,
    retry: RetryPolicy,
    request_timeout: Duration,
    refresh_margin: Duration,
    state: Mutex<CacheState>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

impl TokenSource {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        http: reqwest::Client,
        endpoint: Url,
        client_id: String,
        scope: String,
        credential: PreparedCredential,
        retry: RetryPolicy,
        request_timeout: Duration,
        refresh_margin: Duration,
    ) -> Self {
        Self {
            http,
            endpoint,
            client_id,
            scope,
            credential,
            retry,
            request_timeout,
            refresh_margin,
            state: Mutex::new(CacheState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, CacheState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A token usable now, waiting at most until `deadline` for a refresh when none is.
    pub(crate) async fn get(
        self: &Arc<Self>,
        deadline: Option<Instant>,
    ) -> Result<AccessToken, GraphError> {
        let refresh = {
            let now = Instant::now();
            let mut state = self.lock();
            let valid = state.current.clone().filter(|t| now < t.expires_at);
            match valid {
                Some(token) if now + self.refresh_margin < token.expires_at => return Ok(token),
                Some(token) => {
                    let paused = state.refresh_paused_until.is_some_and(|until| now < until);
                    if state.inflight.is_none() && !paused {
                        state.inflight = Some(self.spawn_refresh());
                    }
                    return Ok(token);
                }
                None => state
                    .inflight
                    .get_or_insert_with(|| self.spawn_refresh())
                    .clone(),
            }
        };
        match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, refresh)
                .await
                .map_err(|_| GraphError::DeadlineExceeded)?,
            None => refresh.await,
        }
    }

    /// Drops the cached token if it is `token` (Graph rejected it), so the next call fetches anew.
    pub(crate) fn invalidate(&self, token: &AccessToken) {
        let mut state = self.lock();
        if state.current.as_ref().is_some_and(|t| t.same_as(token)) {
            state.current = None;
        }
    }

    fn spawn_refresh(self: &Arc<Self>) -> Refresh {
        let source = Arc::clone(self);
        let task = tokio::spawn(async move {
            let result = source.fetch().await;
            let mut state = source.lock();
            match &result {
                Ok(token) => {
                    state.current = Some(token.clone());
                    state.refresh_paused_until = None;
                }
                Err(error) => {
                    tracing::warn!(error = %error, "access token refresh failed");
                    state.refresh_paused_until = Some(Instant::now() + FAILED_REFRESH_PAUSE);
                }
            }
            state.inflight = None;
            result
        });
        async move {
            task.await.unwrap_or_else(|join| {
                Err(GraphError::Credential(format!(
                    "the token refresh task stopped: {join}"
                )))
            })
        }
        .boxed()
        .shared()
    }

    /// One token request, retried like a Graph call (429/503/504 and transport failures: issuing a
    /// token twice is harmless), and once more with a refetched secret when a provider's secret is
    /// refused (see the module documentation). Callers bound their wait with their own deadline.
    async fn fetch(&self) -> Result<AccessToken, GraphError> {
        let mut attempts = Attempts::new(self.retry, None);
        let mut secret_refetched = false;
        loop {
            let attempt = attempts.start();
            let mut form: Vec<(&str, String)> = vec![
                ("grant_type", "client_credentials".to_owned()),
                ("client_id", self.client_id.clone()),
                ("scope", self.scope.clone()),
            ];
            match &self.credential {
                PreparedCredential::Secret(secret) => {
                    form.push(("client_secret", secret.expose_secret().to_owned()));
                }
                PreparedCredential::Provider(provider) => {
                    let secret = provider
                        .client_secret()
                        .await
                        .map_err(GraphError::SecretProvider)?;
                    form.push(("client_secret", secret.expose_secret().to_owned()));
                }
                PreparedCredential::Assertion(signer) => {
                    form.push((
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                    ));
                    form.push(("client_assertion", signer.sign()?));
                }
                PreparedCredential::Federated(source) => {
                    let assertion = source.assertion(&self.http, self.request_timeout).await?;
                    form.push((
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                    ));
                    form.push(("client_assertion", assertion.expose_secret().to_owned()));
                }
            }
            let client_request_id = uuid::Uuid::new_v4().to_string();
            let sent_at = Instant::now();
            let outcome = async {
                let response = self
                    .http
                    .post(self.endpoint.clone())
                    .header("client-request-id", &client_request_id)
                    .form(&form)
                    .timeout(self.request_timeout)
                    .send()
                    .await?;
                let status = response.status();
                let retry_after = retry::retry_after(response.headers());
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, retry_after, body))
            }
            .await;
            let (status, retry_after, body) = match outcome {
                Ok(parts) => parts,
                Err(error) => {
                    tracing::warn!(attempt, %client_request_id, error = %error, "token request failed in transport");
                    match attempts.next_wait(None) {
                        Ok(wait) => {
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                        Err(_) => return Err(GraphError::Transport(Arc::new(error))),
                    }
                }
            };
            if status.is_success() {
                let parsed: TokenResponse =
                    serde_json::from_slice(&body).map_err(|source| GraphError::Decode {
                        status: status.as_u16(),
                        request_id: None,
                        source: Arc::new(source),
                    })?;
                tracing::debug!(attempt, %client_request_id, expires_in = parsed.expires_in, "access token acquired");
                return Ok(AccessToken {
                    value: Arc::from(parsed.access_token),
                    expires_at: sent_at + Duration::from_secs(parsed.expires_in),
                });
            }
            let error = AuthError::from_response(status, &body);
            tracing::warn!(attempt, %client_request_id, status = status.as_u16(), error = %error.error, code = ?error.code, "token request refused");
            if error.is_secret_rejected()
                && !secret_refetched
                && let PreparedCredential::Provider(provider) = &self.credential
            {
                tracing::info!(attempt, %client_request_id, code = ?error.code, "the client secret was refused; dropping the provider's copy and retrying once with a fresh one");
                provider.invalidate();
                secret_refetched = true;
                attempts.refund();
                continue;
            }
            let transient = matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
                    | StatusCode::INTERNAL_SERVER_ERROR
            );
            if transient && let Ok(wait) = attempts.next_wait(retry_after) {
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(GraphError::Auth(error));
        }
    }
}

/// Where a client's bearer tokens come from: fetched and cached for an app credential, or one token
/// handed over from outside (a signed-in user's token from the device-code flow or the Azure CLI),
/// which cannot be renewed here. The Graph pipeline and the ARM client share this, so both get the
/// same caching, deadline handling and re-authentication rules.
pub(crate) enum Tokens {
    Fetched(Arc<TokenSource>),
    Fixed(AccessToken),
}

impl Tokens {
    /// A token handed over from outside, usable until `expires_at` (a far future when unknown).
    pub(crate) fn fixed(value: &str, expires_at: Option<Instant>) -> Self {
        Self::Fixed(AccessToken {
            value: Arc::from(value),
            // Without a known expiry the token is used until the service refuses it.
            expires_at: expires_at
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600)),
        })
    }

    /// A token usable now (see [`TokenSource::get`]); a handed-over token that has expired is an error
    /// telling the caller to sign in again.
    pub(crate) async fn get(&self, deadline: Option<Instant>) -> Result<AccessToken, GraphError> {
        match self {
            Self::Fetched(source) => source.get(deadline).await,
            Self::Fixed(token) if Instant::now() < token.expires_at => Ok(token.clone()),
            Self::Fixed(_) => Err(GraphError::Credential(
                "the access token handed over has expired; sign in again".to_owned(),
            )),
        }
    }

    /// Drops `token` after the service refused it; returns whether a different token can be had
    /// (a handed-over token cannot be replaced, so asking again would only repeat the refusal).
    pub(crate) fn invalidate(&self, token: &AccessToken) -> bool {
        match self {
            Self::Fetched(source) => {
                source.invalidate(token);
                true
            }
            Self::Fixed(_) => false,
        }
    }
}
