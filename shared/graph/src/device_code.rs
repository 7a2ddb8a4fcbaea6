//! Signing a person in: delegated (user) tokens, which creating an External ID tenant needs
//! (docs/protocols/tenant-lifecycle.md §1.3: app-only creation is assumed unsupported).
//!
//! Two ways to get one:
//! - the **device authorization grant** ([`DeviceCodeFlow`]): `POST {authority}/{tenant}/oauth2/v2.0/devicecode`
//!   with `client_id` and `scope` gives a `user_code` to enter at `verification_uri`; the client then
//!   polls `POST {authority}/{tenant}/oauth2/v2.0/token` with
//!   `grant_type=urn:ietf:params:oauth:grant-type:device_code`, waiting `interval` seconds between
//!   polls, until a token arrives or the flow ends (`authorization_declined`, `bad_verification_code`,
//!   `expired_token`). `slow_down` (RFC 8628 §3.5) adds five seconds to the interval
//!   (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code>);
//! - a token **handed over** from elsewhere ([`DelegatedToken::new`]), e.g. the JSON of
//!   `az account get-access-token --resource https://management.azure.com`
//!   ([`DelegatedToken::from_azure_cli_json`]).
//!
//! The device code and the tokens are secrets: they never appear in `Debug` output or logs.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde::Deserialize;
use tokio::time::Instant;
use url::Url;

use crate::client::{ConfigError, http_client};
use crate::config::{RetryPolicy, with_trailing_slash};
use crate::credential::SecretString;
use crate::error::{AuthError, GraphError};
use crate::retry::{self, Attempts};

/// The public client id of the Azure CLI, which Azure SDKs use by default for interactive and
/// device-code sign-in to Azure Resource Manager (azure-identity's `DeviceCodeCredential`); replace
/// it with your own public client registration where policy asks for one.
pub const AZURE_CLI_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// The grant type of the polling requests (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Extra wait per `slow_down` answer (RFC 8628 §3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// A signed-in person's access token for one resource, and when it expires if known.
#[derive(Clone, Debug)]
pub struct DelegatedToken {
    access_token: SecretString,
    expires_on: Option<SystemTime>,
}

impl DelegatedToken {
    /// A token obtained elsewhere (a CI variable, another tool), with its expiry when known.
    pub fn new(access_token: impl Into<String>, expires_on: Option<SystemTime>) -> Self {
        Self {
            access_token: SecretString::new(access_token),
            expires_on,
        }
    }

    /// Reads the output of `az account get-access-token --output json`: `accessToken`, and the
    /// expiry from `expires_on` (POSIX seconds, Azure CLI 2.54 and later) when present. The older
    /// `expiresOn` is local time without a zone, so it is not trusted; the service's refusal then
    /// tells when the token has expired.
    pub fn from_azure_cli_json(text: &str) -> Result<Self, GraphError> {
        #[derive(Deserialize)]
        struct AzCliToken {
            #[serde(rename = "accessToken")]
            access_token: String,
            expires_on: Option<serde_json::Value>,
        }
        let parsed: AzCliToken = serde_json::from_str(text).map_err(|e| {
            GraphError::Credential(format!(
                "the Azure CLI output is not the JSON of `az account get-access-token` ({e})"
            ))
        })?;
        if parsed.access_token.trim().is_empty() {
            return Err(GraphError::Credential(
                "the Azure CLI output has an empty accessToken".to_owned(),
            ));
        }
        let expires_on = parsed.expires_on.and_then(|value| match value {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        Ok(Self::new(
            parsed.access_token.trim(),
            expires_on.map(|secs| UNIX_EPOCH + Duration::from_secs(secs)),
        ))
    }

    /// The token, for the one place that sends it.
    pub fn access_token(&self) -> &SecretString {
        &self.access_token
    }

    /// When the token stops working, if known.
    pub fn expires_on(&self) -> Option<SystemTime> {
        self.expires_on
    }

    /// The expiry as a monotonic instant, for the token cache.
    pub(crate) fn expires_at(&self) -> Option<Instant> {
        let expires_on = self.expires_on?;
        let left = expires_on
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        Some(Instant::now() + left)
    }
}

/// What the person must do to sign in: open `verification_uri` and enter `user_code`.
pub struct DeviceCodeChallenge {
    /// The short code the person types in.
    pub user_code: String,
    /// Where the person signs in, e.g. `https://microsoft.com/devicelogin`.
    pub verification_uri: String,
    /// Entra's ready-made instruction for the person (names the page and the code).
    pub message: Option<String>,
    /// How long the codes stay valid (Entra: 15 minutes).
    pub expires_in: Duration,
    /// The wait between polls the server asked for.
    pub interval: Duration,
    device_code: SecretString,
    issued_at: Instant,
}

impl std::fmt::Debug for DeviceCodeChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCodeChallenge")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl DeviceCodeChallenge {
    /// The instruction to show: Entra's `message`, or one built from the URI and the code.
    pub fn instruction(&self) -> String {
        self.message.clone().unwrap_or_else(|| {
            format!(
                "To sign in, use a web browser to open the page {} and enter the code {} to authenticate.",
                self.verification_uri, self.user_code
            )
        })
    }
}

/// One poll's answer.
#[derive(Debug)]
pub enum DevicePoll {
    /// `authorization_pending`: the person has not finished; poll again after the interval.
    Pending,
    /// `slow_down`: poll again, five seconds slower.
    SlowDown,
    /// The person signed in.
    Token(DelegatedToken),
}

/// The device authorization grant against one authority, tenant, client and scope.
#[derive(Debug, Clone)]
pub struct DeviceCodeFlow {
    http: reqwest::Client,
    device_code_endpoint: Url,
    token_endpoint: Url,
    client_id: String,
    scope: String,
    retry: RetryPolicy,
    request_timeout: Duration,
}

#[derive(Deserialize)]
struct DeviceCodeResponse {
    device_code: String,
    user_code: String,
    verification_uri: String,
    expires_in: u64,
    interval: Option<u64>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

impl DeviceCodeFlow {
    /// A flow against `{authority_host}{tenant}/oauth2/v2.0/…`. `tenant` is the subscription's home
    /// tenant (id or domain) or `organizations`; `scope` e.g. `https://management.azure.com/.default`.
    pub fn new(
        authority_host: Url,
        tenant: &str,
        client_id: impl Into<String>,
        scope: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let authority = with_trailing_slash(authority_host);
        let endpoint = |leaf: &str| {
            authority
                .join(&format!("{tenant}/oauth2/v2.0/{leaf}"))
                .map_err(ConfigError::TokenEndpoint)
        };
        let request_timeout = Duration::from_secs(30);
        Ok(Self {
            http: http_client(request_timeout)?,
            device_code_endpoint: endpoint("devicecode")?,
            token_endpoint: endpoint("token")?,
            client_id: client_id.into(),
            scope: scope.into(),
            retry: RetryPolicy::default(),
            request_timeout,
        })
    }

    /// Replaces the retry policy of each request (429/5xx and transport failures are retried).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Asks for a device code and a user code.
    pub async fn start(&self) -> Result<DeviceCodeChallenge, GraphError> {
        let form = [
            ("client_id", self.client_id.as_str()),
            ("scope", self.scope.as_str()),
        ];
        let issued_at = Instant::now();
        let (status, body) = self.post(&self.device_code_endpoint, &form).await?;
        if !status.is_success() {
            return Err(GraphError::Auth(AuthError::from_response(status, &body)));
        }
        let parsed: DeviceCodeResponse = decode(status, &body)?;
        Ok(DeviceCodeChallenge {
            user_code: parsed.user_code,
            verification_uri: parsed.verification_uri,
            message: parsed.message,
            expires_in: Duration::from_secs(parsed.expires_in),
            // RFC 8628 §3.2: 5 seconds when the server names no interval.
            interval: Duration::from_secs(parsed.interval.unwrap_or(5)),
            device_code: SecretString::new(parsed.device_code),
            issued_at,
        })
    }

    /// One token request with the device code.
    pub async fn poll_once(
        &self,
        challenge: &DeviceCodeChallenge,
    ) -> Result<DevicePoll, GraphError> {
        let form = [
            ("grant_type", DEVICE_CODE_GRANT_TYPE),
            ("client_id", self.client_id.as_str()),
            ("device_code", challenge.device_code.expose_secret()),
        ];
        let (status, body) = self.post(&self.token_endpoint, &form).await?;
        if status.is_success() {
            let sent_at = SystemTime::now();
            let parsed: TokenResponse = decode(status, &body)?;
            return Ok(DevicePoll::Token(DelegatedToken::new(
                parsed.access_token,
                parsed
                    .expires_in
                    .map(|secs| sent_at + Duration::from_secs(secs)),
            )));
        }
        let error = AuthError::from_response(status, &body);
        match error.error.as_str() {
            "authorization_pending" => Ok(DevicePoll::Pending),
            "slow_down" => Ok(DevicePoll::SlowDown),
            _ => Err(GraphError::Auth(error)),
        }
    }

    /// Polls until the person signs in, the flow is refused, or the codes expire, waiting the
    /// interval before every poll (the person needs the time anyway, and a poll right after another
    /// would earn a `slow_down`). `on_pending` is called after each poll that is still waiting (to
    /// show the person that the tool is alive).
    pub async fn wait_for_token(
        &self,
        challenge: &DeviceCodeChallenge,
        mut on_pending: impl FnMut(u32),
    ) -> Result<DelegatedToken, GraphError> {
        let mut interval = challenge.interval;
        let expires_at = challenge.issued_at + challenge.expires_in;
        let mut polls = 0u32;
        loop {
            tokio::time::sleep(interval.min(expires_at.saturating_duration_since(Instant::now())))
                .await;
            if Instant::now() >= expires_at {
                return Err(GraphError::Auth(AuthError {
                    status: 400,
                    error: "expired_token".to_owned(),
                    code: None,
                    description:
                        "the device code expired before the sign-in was completed; start again"
                            .to_owned(),
                    trace_id: None,
                    correlation_id: None,
                }));
            }
            polls += 1;
            match self.poll_once(challenge).await? {
                DevicePoll::Token(token) => return Ok(token),
                DevicePoll::Pending => on_pending(polls),
                DevicePoll::SlowDown => {
                    interval += SLOW_DOWN_STEP;
                    on_pending(polls);
                }
            }
        }
    }

    /// A form POST with the crate's retry rules: 429/5xx and transport failures are retried
    /// (a device-code request or a poll may be repeated without harm).
    async fn post(
        &self,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<(StatusCode, bytes::Bytes), GraphError> {
        let mut attempts = Attempts::new(self.retry, None);
        loop {
            attempts.start();
            let outcome = async {
                let response = self
                    .http
                    .post(url.clone())
                    .header("client-request-id", uuid::Uuid::new_v4().to_string())
                    .form(form)
                    .timeout(self.request_timeout)
                    .send()
                    .await?;
                let status = response.status();
                let retry_after = retry::retry_after(response.headers());
                Ok::<_, reqwest::Error>((status, retry_after, response.bytes().await?))
            }
            .await;
            match outcome {
                Ok((status, retry_after, body))
                    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() =>
                {
                    match attempts.next_wait(retry_after) {
                        Ok(wait) => tokio::time::sleep(wait).await,
                        Err(_) => return Ok((status, body)),
                    }
                }
                Ok((status, _, body)) => return Ok((status, body)),
                Err(error) => match attempts.next_wait(None) {
                    Ok(wait) => tokio::time::sleep(wait).await,
                    Err(_) => return Err(GraphError::Transport(Arc::new(error))),
                },
            }
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    status: StatusCode,
    body: &[u8],
) -> Result<T, GraphError> {
    serde_json::from_slice(body).map_err(|source| GraphError::Decode {
        status: status.as_u16(),
        request_id: None,
        source: Arc::new(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_cli_output_is_read_without_trusting_the_local_time() {
        let token = DelegatedToken::from_azure_cli_json(
            r#"{"accessToken":"eyJ.a.b","expiresOn":"2025-01-01 10:00:00.000000","expires_on":1735725600,"subscription":"s","tenant":"t","tokenType":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(token.access_token().expose_secret(), "eyJ.a.b");
        assert_eq!(
            token.expires_on(),
            Some(UNIX_EPOCH + Duration::from_secs(1_735_725_600))
        );
        let old = DelegatedToken::from_azure_cli_json(
            r#"{"accessToken":"x","expiresOn":"2025-01-01 10:00:00.000000"}"#,
        )
        .unwrap();
        assert_eq!(old.expires_on(), None);
        assert!(DelegatedToken::from_azure_cli_json("not json").is_err());
        assert!(DelegatedToken::from_azure_cli_json(r#"{"accessToken":" "}"#).is_err());
        assert!(!format!("{token:?}").contains("eyJ.a.b"));
    }
}
