//! Azure Resource Manager: the External ID tenant as an Azure resource,
//! `Microsoft.AzureActiveDirectory/ciamDirectories` (docs/protocols/tenant-lifecycle.md §1).
//!
//! Graph cannot create a tenant; ARM can, with a long-running `PUT` that takes many minutes. This
//! module is the smallest ARM client that does it, built on the Graph client's pipeline (same
//! connection pool settings, `client-request-id`, retries on 429/503/504 honouring `Retry-After`,
//! error-envelope parsing, token cache) with the management audience
//! `https://management.azure.com/.default`:
//! - [`ArmClient`]: base URL (`https://management.azure.com/` by default) and a configurable
//!   api-version (`2023-05-17-preview` by default, the one Microsoft documents; §1.1);
//! - [`CiamDirectories`]: name check, create (get first, `PUT`, follow the operation, read the
//!   result), get, delete;
//! - [`LongRunningOperation`] and [`ArmClient::wait`]: the ARM asynchronous-operation contract
//!   (§1.7, <https://learn.microsoft.com/azure/azure-resource-manager/management/async-operations>):
//!   poll `Azure-AsyncOperation`, else `Location`, verbatim, waiting `Retry-After` seconds (own
//!   interval without it, capped), until `Succeeded`, `Failed` or `Canceled`, with `error.code` and
//!   `error.message` surfaced on the last two.
//!
//! Tokens: a signed-in person's token ([`ArmCredential::User`], from [`crate::DeviceCodeFlow`] or the
//! Azure CLI), or an app's client credentials ([`ArmCredential::App`]: secret, certificate, or a CI
//! federated token). Creating a tenant is assumed to need the former (§1.3). Polling URLs must be on
//! the ARM host: the bearer token is never sent elsewhere.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

use crate::client::{ConfigError, GraphClient, GraphRequest, GraphResponse, http_client};
use crate::config::{GraphConfig, RetryPolicy, with_trailing_slash};
use crate::credential::PreparedCredential;
use crate::device_code::DelegatedToken;
use crate::error::GraphError;
use crate::retry;
use crate::token::{TokenSource, Tokens};

/// The token scope of Azure Resource Manager (v2 endpoint form).
pub const ARM_DEFAULT_SCOPE: &str = "https://management.azure.com/.default";
/// The ARM endpoint of global Azure.
pub const ARM_DEFAULT_URL: &str = "https://management.azure.com/";
/// The api-version Microsoft's REST reference documents for ciamDirectories.
pub const CIAM_PREVIEW_API_VERSION: &str = "2023-05-17-preview";
/// The stable api-version of the REST specifications; whether the service accepts it is
/// unconfirmed (tenant-lifecycle.md §1.1), so it is opt-in.
pub const CIAM_STABLE_API_VERSION: &str = "2024-05-01";
/// The resource type, as ARM reports it in `type`.
pub const CIAM_RESOURCE_TYPE: &str = "Microsoft.AzureActiveDirectory/ciamDirectories";
/// The resource provider namespace.
pub const CIAM_PROVIDER: &str = "Microsoft.AzureActiveDirectory";
/// The `tenantId` of a tenant still being created (the 201 answer carries it).
const ZERO_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// How the ARM client authenticates.
#[derive(Debug, Clone)]
pub enum ArmCredential {
    /// A signed-in person's ARM token (device-code flow, Azure CLI, or handed over by a variable).
    /// Not renewed: a long operation must finish within its lifetime (Entra: 60-90 minutes).
    User(DelegatedToken),
    /// An app's client credentials (secret, certificate or a CI federated token) in the tenant that
    /// owns the subscription. Only the tenant, client, credential, authority, retry and timeout
    /// settings are used; the scope is always [`ARM_DEFAULT_SCOPE`].
    App(Box<GraphConfig>),
}

/// How patient the client is with a long-running operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollingPolicy {
    /// Wait between polls when the service sends no `Retry-After`.
    pub default_interval: Duration,
    /// Ceiling of one wait, whatever `Retry-After` says.
    pub max_interval: Duration,
    /// Give up after this long (tenant creation "can take up to 30 minutes").
    pub timeout: Duration,
    /// Polls that may fail in a row (after the pipeline's own retries) before giving up.
    pub max_consecutive_failures: u32,
}

impl Default for PollingPolicy {
    fn default() -> Self {
        Self {
            default_interval: Duration::from_secs(30),
            max_interval: Duration::from_secs(120),
            timeout: Duration::from_secs(45 * 60),
            max_consecutive_failures: 5,
        }
    }
}

/// Everything an [`ArmClient`] needs.
#[derive(Debug, Clone)]
pub struct ArmConfig {
    /// ARM endpoint, `https://management.azure.com/` in global Azure.
    pub base_url: Url,
    /// The `api-version` of every ciamDirectories call.
    pub api_version: String,
    pub credential: ArmCredential,
    pub retry: RetryPolicy,
    /// Limit for one HTTP attempt.
    pub request_timeout: Duration,
    pub polling: PollingPolicy,
}

impl ArmConfig {
    /// Global Azure, the documented api-version, default retries and polling.
    pub fn new(credential: ArmCredential) -> Self {
        Self {
            base_url: Url::parse(ARM_DEFAULT_URL).expect("constant URL is valid"),
            api_version: CIAM_PREVIEW_API_VERSION.to_owned(),
            credential,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(60),
            polling: PollingPolicy::default(),
        }
    }

    /// Another ARM endpoint (national cloud, proxy, or the sandbox).
    pub fn with_base_url(mut self, base_url: Url) -> Self {
        self.base_url = with_trailing_slash(base_url);
        self
    }

    /// Another api-version.
    pub fn with_api_version(mut self, api_version: impl Into<String>) -> Self {
        self.api_version = api_version.into();
        self
    }

    /// Replaces the retry policy of single requests.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Replaces the polling policy of long-running operations.
    pub fn with_polling(mut self, polling: PollingPolicy) -> Self {
        self.polling = polling;
        self
    }
}

/// The `error` of an ARM error body or of a failed operation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct ArmErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Why an ARM call or operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ArmError {
    /// The request itself failed (error status after retries, transport, token).
    #[error("{}", describe_request_error(.0))]
    Request(#[from] GraphError),
    /// The operation ended `Failed` or `Canceled`.
    #[error("the operation ended {status}: {} {}", .error.code, .error.message)]
    OperationFailed {
        status: String,
        error: ArmErrorDetail,
    },
    /// The operation was still running when the polling policy's timeout passed.
    #[error(
        "the operation was still {last_status} after {elapsed:?}; it may still finish: check again later"
    )]
    TimedOut {
        elapsed: Duration,
        last_status: String,
    },
    /// ARM answered something this client cannot follow.
    #[error("unexpected ARM response: {0}")]
    InvalidResponse(String),
}

fn describe_request_error(error: &GraphError) -> String {
    match error.api() {
        Some(api) => format!(
            "ARM answered HTTP {} {}: {}",
            api.status.as_u16(),
            api.code,
            api.message
        ),
        None => error.to_string(),
    }
}

impl ArmError {
    /// ARM's error code: of the error answer, or of the failed operation.
    pub fn code(&self) -> Option<&str> {
        match self {
            ArmError::Request(error) => error.code(),
            ArmError::OperationFailed { error, .. } => Some(&error.code),
            _ => None,
        }
    }

    /// HTTP status of an error answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ArmError::Request(error) => error.status(),
            _ => None,
        }
    }

    /// ARM refused the caller as unauthenticated (401): an expired token, a token for another
    /// audience, or an app-only token where a signed-in person is required (§1.3).
    pub fn is_unauthenticated(&self) -> bool {
        self.status() == Some(StatusCode::UNAUTHORIZED)
    }
}

/// An ARM client for one identity, endpoint and api-version. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ArmClient {
    pipeline: GraphClient,
    api_version: String,
    polling: PollingPolicy,
}

impl ArmClient {
    /// Builds a client with its own connection pool.
    pub fn new(config: ArmConfig) -> Result<Self, ConfigError> {
        let http = http_client(config.request_timeout)?;
        let tokens = match &config.credential {
            ArmCredential::User(token) => {
                Tokens::fixed(token.access_token().expose_secret(), token.expires_at())
            }
            ArmCredential::App(app) => {
                let endpoint = app.token_endpoint().map_err(ConfigError::TokenEndpoint)?;
                let credential = PreparedCredential::prepare(
                    &app.credential,
                    &app.client_id,
                    endpoint.as_str(),
                )?;
                Tokens::Fetched(std::sync::Arc::new(TokenSource::new(
                    http.clone(),
                    endpoint,
                    app.client_id.clone(),
                    ARM_DEFAULT_SCOPE.to_owned(),
                    credential,
                    app.retry,
                    app.request_timeout,
                    app.token_refresh_margin,
                )))
            }
        };
        Ok(Self {
            pipeline: GraphClient::from_parts(
                http,
                config.base_url,
                tokens,
                config.retry,
                config.request_timeout,
            ),
            api_version: config.api_version,
            polling: config.polling,
        })
    }

    /// The ARM endpoint, e.g. `https://management.azure.com/`.
    pub fn base_url(&self) -> &Url {
        self.pipeline.base_url()
    }

    /// The api-version sent with every call.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The External ID tenants (ciamDirectories).
    pub fn ciam_directories(&self) -> CiamDirectories {
        CiamDirectories {
            client: self.clone(),
        }
    }

    /// `{base}/seg1/seg2/...?api-version=…`, every segment percent-encoded.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.pipeline.url(segments);
        url.query_pairs_mut()
            .append_pair("api-version", &self.api_version);
        url
    }

    /// Sends one request through the pipeline (token, correlation id, retries).
    pub async fn send(&self, request: GraphRequest) -> Result<GraphResponse, ArmError> {
        Ok(self.pipeline.send(request).await?)
    }

    /// Follows a long-running operation to its end. `progress` is told about every poll.
    /// `Succeeded` returns the last status; `Failed`/`Canceled` are [`ArmError::OperationFailed`].
    pub async fn wait(
        &self,
        operation: &LongRunningOperation,
        mut progress: impl FnMut(&OperationProgress),
    ) -> Result<OperationStatus, ArmError> {
        self.check_same_origin(&operation.url)?;
        let started = Instant::now();
        let mut wait = self.bounded_wait(operation.retry_after);
        let mut polls = 0u32;
        let mut failures = 0u32;
        let mut last_status = "InProgress".to_owned();
        loop {
            if started.elapsed() + wait > self.polling.timeout {
                return Err(ArmError::TimedOut {
                    elapsed: started.elapsed(),
                    last_status,
                });
            }
            tokio::time::sleep(wait).await;
            polls += 1;
            let response = match self
                .pipeline
                .send(GraphRequest::get(operation.url.clone()))
                .await
            {
                Ok(response) => {
                    failures = 0;
                    response
                }
                Err(error) if error.is_transient() => {
                    failures += 1;
                    if failures >= self.polling.max_consecutive_failures.max(1) {
                        return Err(error.into());
                    }
                    tracing::warn!(error = %error, polls, "polling the operation failed; trying again");
                    wait = self.bounded_wait(error.retry_after());
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            let status = match operation.kind {
                OperationKind::AzureAsyncOperation => {
                    let status: OperationStatus = response.json()?;
                    if status.status.is_empty() {
                        return Err(ArmError::InvalidResponse(format!(
                            "the operation status (HTTP {}) has no `status`",
                            response.status.as_u16()
                        )));
                    }
                    status
                }
                // A Location URL answers 202 while running and 200/204 when done.
                OperationKind::Location if response.status == StatusCode::ACCEPTED => {
                    OperationStatus::running("InProgress")
                }
                OperationKind::Location => OperationStatus::running("Succeeded"),
            };
            wait = self.bounded_wait(retry::retry_after(&response.headers));
            let terminal = status.is_terminal();
            progress(&OperationProgress {
                status: status.status.clone(),
                polls,
                elapsed: started.elapsed(),
                percent_complete: status.percent_complete,
                next_poll_in: (!terminal).then_some(wait),
            });
            last_status = status.status.clone();
            if terminal {
                return match status.status.as_str() {
                    s if s.eq_ignore_ascii_case("Succeeded") => Ok(status),
                    _ => Err(ArmError::OperationFailed {
                        error: status.error.clone().unwrap_or_else(|| ArmErrorDetail {
                            code: "Unknown".to_owned(),
                            message: "the operation status carried no error".to_owned(),
                            target: None,
                        }),
                        status: status.status,
                    }),
                };
            }
        }
    }

    /// The wait before the next poll: the server's `Retry-After` or the default, capped.
    fn bounded_wait(&self, retry_after: Option<Duration>) -> Duration {
        retry_after
            .unwrap_or(self.polling.default_interval)
            .min(self.polling.max_interval)
    }

    /// The bearer token goes only to the ARM endpoint's own scheme, host and port.
    fn check_same_origin(&self, url: &Url) -> Result<(), ArmError> {
        let base = self.base_url();
        if url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default()
        {
            Ok(())
        } else {
            Err(ArmError::InvalidResponse(format!(
                "the operation URL points to another host ({}); not sending the token there",
                url.host_str().unwrap_or("?")
            )))
        }
    }
}

/// Which header named the operation URL, which decides how its answers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    /// `Azure-AsyncOperation`: a status document `{"status": …}`.
    AzureAsyncOperation,
    /// `Location`: 202 while running, 200/204 when done.
    Location,
}

/// A started long-running operation: where to poll and how long to wait first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongRunningOperation {
    pub url: Url,
    pub kind: OperationKind,
    /// The first answer's `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl LongRunningOperation {
    /// Reads `Azure-AsyncOperation`, else `Location`, and `Retry-After` from a 201/202 answer; `None`
    /// when neither header is there (the operation finished synchronously).
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ArmError> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let (value, kind) = match (header("azure-asyncoperation"), header(LOCATION.as_str())) {
            (Some(url), _) => (url, OperationKind::AzureAsyncOperation),
            (None, Some(url)) => (url, OperationKind::Location),
            (None, None) => return Ok(None),
        };
        let url = Url::parse(value).map_err(|e| {
            ArmError::InvalidResponse(format!("the operation URL is not absolute ({e})"))
        })?;
        Ok(Some(Self {
            url,
            kind,
            retry_after: retry::retry_after(headers),
        }))
    }
}

/// An operation status document (`Azure-AsyncOperation`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatus {
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ArmErrorDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_complete: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
}

impl OperationStatus {
    fn running(status: &str) -> Self {
        Self {
            status: status.to_owned(),
            error: None,
            percent_complete: None,
            start_time: None,
            end_time: None,
        }
    }

    /// `Succeeded`, `Failed` and `Canceled` end an operation; any other value means it is running.
    pub fn is_terminal(&self) -> bool {
        is_terminal_state(&self.status)
    }
}

fn is_terminal_state(state: &str) -> bool {
    ["Succeeded", "Failed", "Canceled"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(state))
}

/// What a progress callback learns after each poll.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationProgress {
    /// The status just read (`InProgress`, `Provisioning`, `Succeeded`, …).
    pub status: String,
    /// Polls so far, this one included.
    pub polls: u32,
    /// Time since polling started.
    pub elapsed: Duration,
    pub percent_complete: Option<f64>,
    /// The wait before the next poll; `None` when this status ended the operation.
    pub next_poll_in: Option<Duration>,
}

/// Names one External ID tenant resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiamDirectoryRef {
    pub subscription_id: String,
    pub resource_group: String,
    /// The resource name: the initial domain (`contoso.onmicrosoft.com`) or its prefix (`contoso`).
    pub name: String,
}

impl CiamDirectoryRef {
    pub fn new(
        subscription_id: impl Into<String>,
        resource_group: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            subscription_id: subscription_id.into(),
            resource_group: resource_group.into(),
            name: name.into(),
        }
    }

    fn segments(&self) -> [&str; 8] {
        [
            "subscriptions",
            &self.subscription_id,
            "resourceGroups",
            &self.resource_group,
            "providers",
            CIAM_PROVIDER,
            "ciamDirectories",
            &self.name,
        ]
    }
}

/// `sku` of a tenant. Sources disagree on the name (`Standard` in examples, `Base` in the
/// 2024-05-01 TypeSpec, §1.5); `Base`/`A0` is the default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct CiamSku {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
}

impl Default for CiamSku {
    fn default() -> Self {
        Self {
            name: "Base".to_owned(),
            tier: Some("A0".to_owned()),
        }
    }
}

/// `properties.createTenantProperties`: create-only.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTenantProperties {
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub country_code: String,
}

/// What a new tenant is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCiamDirectory {
    /// Data residency, fixed for good: `United States`, `Europe`, `Asia Pacific`, `Australia`.
    pub location: String,
    pub display_name: String,
    /// Two-letter country code, e.g. `US`.
    pub country_code: String,
    pub sku: CiamSku,
    pub tags: BTreeMap<String, String>,
}

impl NewCiamDirectory {
    pub fn new(
        location: impl Into<String>,
        display_name: impl Into<String>,
        country_code: impl Into<String>,
    ) -> Self {
        Self {
            location: location.into(),
            display_name: display_name.into(),
            country_code: country_code.into(),
            sku: CiamSku::default(),
            tags: BTreeMap::new(),
        }
    }

    /// The `PUT` body of §1.5.
    pub fn to_body(&self) -> Value {
        let mut body = serde_json::json!({
            "location": self.location,
            "sku": self.sku,
            "properties": {
                "createTenantProperties": {
                    "displayName": self.display_name,
                    "countryCode": self.country_code,
                }
            }
        });
        if !self.tags.is_empty() {
            body["tags"] = serde_json::json!(self.tags);
        }
        body
    }
}

/// `properties` of a tenant resource; unknown members are kept.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CiamDirectoryProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_tenant_properties: Option<CreateTenantProperties>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_config: Option<Value>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// A tenant resource as ARM returns it (§1.6); lenient: `tags` may be `null`, states are strings.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct CiamDirectory {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub resource_type: String,
    #[serde(default)]
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<CiamSku>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub properties: CiamDirectoryProperties,
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

impl CiamDirectory {
    /// `properties.provisioningState`, e.g. `Provisioning`, `Succeeded`.
    pub fn provisioning_state(&self) -> Option<&str> {
        self.properties.provisioning_state.as_deref()
    }

    /// The directory (tenant) id, once it exists (the zero GUID of a tenant being created is `None`).
    pub fn tenant_id(&self) -> Option<&str> {
        self.properties
            .tenant_id
            .as_deref()
            .filter(|id| !id.is_empty() && *id != ZERO_GUID)
    }

    /// `properties.domainName`, e.g. `contoso.onmicrosoft.com`.
    pub fn domain_name(&self) -> Option<&str> {
        self.properties.domain_name.as_deref()
    }

    /// Created and usable: `Succeeded` with a real tenant id.
    pub fn is_ready(&self) -> bool {
        self.provisioning_state()
            .is_some_and(|s| s.eq_ignore_ascii_case("Succeeded"))
            && self.tenant_id().is_some()
    }
}

/// Answer of `checkNameAvailability`; fields may be `null` (2024-05-01).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NameAvailability {
    #[serde(default)]
    pub name_available: bool,
    /// `AlreadyExists` or `Invalid` when not available.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// How a delete ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The resource was there and is gone.
    Deleted,
    /// There was nothing to delete (204/404).
    Absent,
}

/// ciamDirectories operations (§1.2).
#[derive(Clone, Debug)]
pub struct CiamDirectories {
    client: ArmClient,
}

impl CiamDirectories {
    /// `POST /subscriptions/{id}/providers/Microsoft.AzureActiveDirectory/checkNameAvailability`.
    pub async fn check_name_availability(
        &self,
        subscription_id: &str,
        name: &str,
        country_code: &str,
    ) -> Result<NameAvailability, ArmError> {
        let url = self.client.url(&[
            "subscriptions",
            subscription_id,
            "providers",
            CIAM_PROVIDER,
            "checkNameAvailability",
        ]);
        let request = GraphRequest::new(Method::POST, url).with_json(&serde_json::json!({
            "name": name,
            "countryCode": country_code,
        }))?;
        Ok(self.client.send(request).await?.json()?)
    }

    /// `GET` the tenant resource; `None` when it does not exist.
    pub async fn get(
        &self,
        resource: &CiamDirectoryRef,
    ) -> Result<Option<CiamDirectory>, ArmError> {
        let url = self.client.url(&resource.segments());
        match self.client.send(GraphRequest::get(url)).await {
            Ok(response) => Ok(Some(response.json()?)),
            Err(ArmError::Request(error)) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `PUT` the tenant resource: the answer's resource, and the operation to follow when ARM
    /// started one (201, or 200 while still provisioning).
    pub async fn begin_create(
        &self,
        resource: &CiamDirectoryRef,
        new: &NewCiamDirectory,
    ) -> Result<(CiamDirectory, Option<LongRunningOperation>), ArmError> {
        let url = self.client.url(&resource.segments());
        let request = GraphRequest::new(Method::PUT, url).with_json(&new.to_body())?;
        let response = self.client.send(request).await?;
        let directory: CiamDirectory = if response.body.is_empty() {
            CiamDirectory::default()
        } else {
            response.json()?
        };
        let operation = LongRunningOperation::from_headers(&response.headers)?;
        Ok((directory, operation))
    }

    /// Creates the tenant and returns it ready (`Succeeded`, real `tenantId`): `GET` first (an
    /// existing tenant is returned, one being created is waited for), then `PUT`, then the
    /// operation, then `GET` again (§1.7).
    pub async fn create(
        &self,
        resource: &CiamDirectoryRef,
        new: &NewCiamDirectory,
        mut progress: impl FnMut(&OperationProgress),
    ) -> Result<CiamDirectory, ArmError> {
        if let Some(existing) = self.get(resource).await? {
            if existing.is_ready() {
                return Ok(existing);
            }
            let state = existing.provisioning_state().unwrap_or_default();
            if !is_terminal_state(state) {
                return self.wait_until_ready(resource, &mut progress).await;
            }
        }
        let (created, operation) = self.begin_create(resource, new).await?;
        if created.is_ready() {
            return Ok(created);
        }
        if let Some(operation) = operation {
            self.client.wait(&operation, &mut progress).await?;
        }
        self.wait_until_ready(resource, &mut progress).await
    }

    /// Reads the resource until it is ready, failed, or the polling timeout passes: used after the
    /// operation (the resource may trail it) and to resume a creation started earlier.
    async fn wait_until_ready(
        &self,
        resource: &CiamDirectoryRef,
        progress: &mut impl FnMut(&OperationProgress),
    ) -> Result<CiamDirectory, ArmError> {
        let started = Instant::now();
        let mut polls = 0u32;
        loop {
            let current = self.get(resource).await?.ok_or_else(|| {
                ArmError::InvalidResponse(format!(
                    "the tenant resource {} is gone after its creation",
                    resource.name
                ))
            })?;
            if current.is_ready() {
                return Ok(current);
            }
            let state = current.provisioning_state().unwrap_or("Unknown").to_owned();
            if state.eq_ignore_ascii_case("Failed") || state.eq_ignore_ascii_case("Canceled") {
                return Err(ArmError::OperationFailed {
                    status: state,
                    error: ArmErrorDetail {
                        code: "ProvisioningFailed".to_owned(),
                        message: "the tenant resource reports a failed provisioning".to_owned(),
                        target: None,
                    },
                });
            }
            let wait = self.client.bounded_wait(None);
            if started.elapsed() + wait > self.client.polling.timeout {
                return Err(ArmError::TimedOut {
                    elapsed: started.elapsed(),
                    last_status: state,
                });
            }
            polls += 1;
            progress(&OperationProgress {
                status: state,
                polls,
                elapsed: started.elapsed(),
                percent_complete: None,
                next_poll_in: Some(wait),
            });
            tokio::time::sleep(wait).await;
        }
    }

    /// `DELETE` the tenant resource: the operation to follow, or `None` when ARM finished at once
    /// (`outcome` says whether anything was there).
    pub async fn begin_delete(
        &self,
        resource: &CiamDirectoryRef,
    ) -> Result<(DeleteOutcome, Option<LongRunningOperation>), ArmError> {
        let url = self.client.url(&resource.segments());
        match self
            .client
            .send(GraphRequest::new(Method::DELETE, url))
            .await
        {
            Ok(response) if response.status == StatusCode::NO_CONTENT => {
                Ok((DeleteOutcome::Absent, None))
            }
            Ok(response) => Ok((
                DeleteOutcome::Deleted,
                LongRunningOperation::from_headers(&response.headers)?,
            )),
            Err(ArmError::Request(error)) if error.is_not_found() => {
                Ok((DeleteOutcome::Absent, None))
            }
            Err(error) => Err(error),
        }
    }

    /// Deletes the tenant resource and follows the operation to its end. ARM can only remove an
    /// emptied directory (§1.8): clean it up through Graph first.
    pub async fn delete(
        &self,
        resource: &CiamDirectoryRef,
        progress: impl FnMut(&OperationProgress),
    ) -> Result<DeleteOutcome, ArmError> {
        let (outcome, operation) = self.begin_delete(resource).await?;
        if let Some(operation) = operation {
            self.client.wait(&operation, progress).await?;
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn the_create_body_is_the_documented_shape() {
        let body = NewCiamDirectory::new("United States", "Contoso", "US").to_body();
        assert_eq!(
            body,
            serde_json::json!({
                "location": "United States",
                "sku": {"name": "Base", "tier": "A0"},
                "properties": {"createTenantProperties": {"displayName": "Contoso", "countryCode": "US"}}
            })
        );
    }

    #[test]
    fn the_async_operation_header_wins_over_location() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "Location",
            HeaderValue::from_static("https://management.azure.com/l"),
        );
        headers.insert(
            "Azure-AsyncOperation",
            HeaderValue::from_static("https://management.azure.com/a"),
        );
        headers.insert("Retry-After", HeaderValue::from_static("60"));
        let operation = LongRunningOperation::from_headers(&headers)
            .unwrap()
            .unwrap();
        assert_eq!(operation.kind, OperationKind::AzureAsyncOperation);
        assert_eq!(operation.url.path(), "/a");
        assert_eq!(operation.retry_after, Some(Duration::from_secs(60)));
        headers.remove("Azure-AsyncOperation");
        let operation = LongRunningOperation::from_headers(&headers)
            .unwrap()
            .unwrap();
        assert_eq!(operation.kind, OperationKind::Location);
        assert!(
            LongRunningOperation::from_headers(&HeaderMap::new())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_resource_being_created_has_no_tenant_id_yet() {
        let directory: CiamDirectory = serde_json::from_value(serde_json::json!({
            "id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.AzureActiveDirectory/ciamDirectories/contoso.onmicrosoft.com",
            "name": "contoso.onmicrosoft.com", "type": CIAM_RESOURCE_TYPE, "location": "United States",
            "tags": null,
            "properties": {"provisioningState": "Provisioning", "tenantId": ZERO_GUID,
                "billingConfig": {"billingType": "MAU", "effectiveStartDateUtc": "1/1/0001 12:00:00 AM"}}
        }))
        .unwrap();
        assert_eq!(directory.tenant_id(), None);
        assert!(!directory.is_ready());
        assert_eq!(directory.provisioning_state(), Some("Provisioning"));
    }
}
