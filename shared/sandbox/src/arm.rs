//! The simulated tenant's slice of Azure Resource Manager: External ID tenants as
//! `Microsoft.AzureActiveDirectory/ciamDirectories` resources, and the device-code sign-in that
//! gives a person the ARM token creating one needs.
//!
//! Contract: docs/protocols/tenant-lifecycle.md §1 (ARM) and the device authorization grant
//! (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code>). Served at the
//! root, as `https://management.azure.com` serves it:
//! - `POST /subscriptions/{sub}/providers/Microsoft.AzureActiveDirectory/checkNameAvailability`:
//!   taken names (existing resources, [`ArmState::reserve_name`], the sandbox's own tenant) give
//!   `AlreadyExists`, malformed ones `Invalid`;
//! - `PUT|GET|DELETE /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.AzureActiveDirectory/ciamDirectories/{name}`:
//!   `PUT` answers 201 with `provisioningState: "Provisioning"`, a zero `tenantId`, and
//!   `Azure-AsyncOperation` + `Retry-After`; the operation answers `InProgress` for
//!   [`ArmSettings::provisioning_polls`] polls, then `Succeeded` (the resource gets its `tenantId`
//!   and `domainName`) or `Failed` ([`ArmState::fail_next_provisioning`]). `DELETE` answers 202 with
//!   `Azure-AsyncOperation`, `Location` and `Retry-After`, or 204 when there is nothing to delete;
//! - `GET …/operationStatuses/{id}` (status document) and `GET …/operationResults/{id}` (202 while
//!   running, 204 when done);
//! - `POST /{tenant}/oauth2/v2.0/devicecode`, and the `urn:ietf:params:oauth:grant-type:device_code`
//!   grant of the token endpoint: `authorization_pending` until a test approves the user code
//!   ([`ArmState::approve_device_code`]), `slow_down` when polled faster than the interval,
//!   `expired_token`, `authorization_declined`, `bad_verification_code`.
//!
//! Every ARM route wants `api-version` (one of [`ArmSettings::api_versions`]) and a bearer token for
//! the management audience: a person's (device code, [`ArmState::issue_user_token`]) for everything,
//! an app's (client credentials with scope `https://management.azure.com/.default`) for reads only.
//! Writes with an app-only token get the `401 Unauthenticated` reported for service principals
//! (§1.3); Graph tokens get `InvalidAuthenticationTokenAudience`. Errors use ARM's envelope
//! `{"error": {"code", "message"}}`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::token_endpoint::AccessTokenStatus;
use crate::{Sandbox, SandboxState};

/// The management audience's `.default` scope.
pub const ARM_DEFAULT_SCOPE: &str = "https://management.azure.com/.default";
/// The delegated ARM permission, the other scope form a person's token can be asked for.
pub const ARM_USER_IMPERSONATION_SCOPE: &str = "https://management.azure.com/user_impersonation";
/// The polling grant of the device authorization flow (RFC 8628).
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The resource type.
pub const CIAM_RESOURCE_TYPE: &str = "Microsoft.AzureActiveDirectory/ciamDirectories";
const PROVIDER: &str = "Microsoft.AzureActiveDirectory";
const ZERO_GUID: &str = "00000000-0000-0000-0000-000000000000";
const LOCATIONS: [&str; 4] = ["United States", "Europe", "Asia Pacific", "Australia"];

/// Knobs a test turns to shape the simulated ARM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmSettings {
    /// Polls of a create operation answered `InProgress` before the final answer.
    pub provisioning_polls: u32,
    /// Polls of a delete operation answered `InProgress` before the final answer.
    pub deletion_polls: u32,
    /// `Retry-After` of operation answers, in seconds (ARM sends 60; tests want 0 or 1).
    pub retry_after_secs: u64,
    /// `interval` of device-code answers, in seconds (Entra: 5).
    pub device_code_interval_secs: u64,
    /// `expires_in` of device codes, in seconds (Entra: 900).
    pub device_code_lifetime_secs: u64,
    /// Accepted `api-version` values.
    pub api_versions: Vec<String>,
}

impl Default for ArmSettings {
    fn default() -> Self {
        Self {
            provisioning_polls: 2,
            deletion_polls: 1,
            retry_after_secs: 1,
            device_code_interval_secs: 5,
            device_code_lifetime_secs: 900,
            api_versions: vec!["2023-05-17-preview".to_owned(), "2024-05-01".to_owned()],
        }
    }
}

/// Who holds an ARM token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArmPrincipal {
    /// A signed-in person (delegated token), by user principal name.
    User(String),
    /// An app (client credentials), by client id.
    App(String),
}

#[derive(Debug, Clone)]
struct ArmToken {
    principal: ArmPrincipal,
    expires: SystemTime,
}

#[derive(Debug, Clone)]
enum DeviceCodeState {
    Pending,
    Approved(String),
    Declined,
}

#[derive(Debug, Clone)]
struct DeviceCode {
    user_code: String,
    client_id: String,
    state: DeviceCodeState,
    expires: SystemTime,
    interval: Duration,
    last_poll: Option<SystemTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ResourceKey {
    subscription: String,
    resource_group: String,
    name: String,
}

#[derive(Debug, Clone)]
struct Directory {
    /// The name as created (its case kept).
    name: String,
    body: Value,
    /// The operation still running on it, if any.
    operation: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OperationKind {
    Create,
    Delete,
}

#[derive(Debug, Clone)]
struct Operation {
    kind: OperationKind,
    resource: ResourceKey,
    subscription: String,
    polls_left: u32,
    failure: Option<(String, String)>,
    start_time: String,
    /// `Succeeded`, `Failed` once finished.
    finished: Option<Value>,
}

#[derive(Debug, Default)]
struct Inner {
    settings: ArmSettings,
    tokens: HashMap<String, ArmToken>,
    device_codes: HashMap<String, DeviceCode>,
    directories: HashMap<ResourceKey, Directory>,
    operations: HashMap<String, Operation>,
    reserved: Vec<String>,
    next_failure: Option<(String, String)>,
}

/// The ARM resources, operations, device codes and ARM tokens of the sandbox.
#[derive(Debug)]
pub struct ArmState {
    inner: Mutex<Inner>,
    access_token_lifetime: Duration,
}

impl ArmState {
    /// Default settings; the sandbox's own tenant name is taken.
    pub fn new(config: &crate::SandboxConfig) -> Self {
        Self {
            inner: Mutex::new(Inner {
                reserved: vec![config.tenant_name.to_ascii_lowercase()],
                ..Inner::default()
            }),
            access_token_lifetime: Duration::from_secs(config.access_token_lifetime_secs),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current settings.
    pub fn settings(&self) -> ArmSettings {
        self.lock().settings.clone()
    }

    /// Changes the settings (e.g. `|s| s.retry_after_secs = 0`).
    pub fn configure(&self, change: impl FnOnce(&mut ArmSettings)) {
        change(&mut self.lock().settings);
    }

    /// Marks a name (prefix or full `*.onmicrosoft.com` domain) as taken by someone else's tenant.
    pub fn reserve_name(&self, name: &str) {
        self.lock()
            .reserved
            .push(prefix_of(name).to_ascii_lowercase());
    }

    /// The next created tenant fails to provision: its operation ends `Failed` with this error.
    pub fn fail_next_provisioning(&self, code: &str, message: &str) {
        self.lock().next_failure = Some((code.to_owned(), message.to_owned()));
    }

    /// Mints a person's ARM token directly (what `az account get-access-token` hands over).
    pub fn issue_user_token(&self, user_principal_name: &str) -> String {
        self.issue(ArmPrincipal::User(user_principal_name.to_owned()))
    }

    /// Mints an app-only ARM token (what client credentials with ARM's scope give).
    pub fn issue_app_token(&self, client_id: &str) -> String {
        self.issue(ArmPrincipal::App(client_id.to_ascii_lowercase()))
    }

    fn issue(&self, principal: ArmPrincipal) -> String {
        let token = random_token();
        let now = SystemTime::now();
        let mut inner = self.lock();
        inner.tokens.retain(|_, t| t.expires > now);
        inner.tokens.insert(
            token.clone(),
            ArmToken {
                principal,
                expires: now + self.access_token_lifetime,
            },
        );
        token
    }

    /// The user codes of device codes waiting for a sign-in.
    pub fn pending_user_codes(&self) -> Vec<String> {
        self.lock()
            .device_codes
            .values()
            .filter(|c| matches!(c.state, DeviceCodeState::Pending))
            .map(|c| c.user_code.clone())
            .collect()
    }

    /// The person signs in and enters `user_code`: the next poll gets their token. False if no
    /// pending device code has that user code.
    pub fn approve_device_code(&self, user_code: &str, user_principal_name: &str) -> bool {
        self.set_device_code(
            user_code,
            DeviceCodeState::Approved(user_principal_name.to_owned()),
        )
    }

    /// The person refuses the sign-in: the next poll gets `authorization_declined`.
    pub fn decline_device_code(&self, user_code: &str) -> bool {
        self.set_device_code(user_code, DeviceCodeState::Declined)
    }

    fn set_device_code(&self, user_code: &str, state: DeviceCodeState) -> bool {
        let mut inner = self.lock();
        match inner.device_codes.values_mut().find(|c| {
            c.user_code.eq_ignore_ascii_case(user_code)
                && matches!(c.state, DeviceCodeState::Pending)
        }) {
            Some(code) => {
                code.state = state;
                true
            }
            None => false,
        }
    }

    /// A tenant resource as GET would return it, if it exists.
    pub fn directory(&self, subscription: &str, resource_group: &str, name: &str) -> Option<Value> {
        let key = ResourceKey::new(subscription, resource_group, name);
        self.lock().directories.get(&key).map(|d| d.body.clone())
    }

    /// How many tenant resources exist.
    pub fn directory_count(&self) -> usize {
        self.lock().directories.len()
    }
}

impl Sandbox {
    /// The simulated ARM (resources, operations, device codes).
    pub fn arm(&self) -> &ArmState {
        &self.state().arm
    }

    /// The ARM endpoint to give the ARM client, as `https://management.azure.com/` in production.
    pub fn arm_url(&self) -> url::Url {
        self.url()
    }
}

impl ResourceKey {
    fn new(subscription: &str, resource_group: &str, name: &str) -> Self {
        Self {
            subscription: subscription.to_ascii_lowercase(),
            resource_group: resource_group.to_ascii_lowercase(),
            name: name.to_ascii_lowercase(),
        }
    }
}

/// `contoso` of `contoso` or `contoso.onmicrosoft.com`.
fn prefix_of(name: &str) -> &str {
    let lower = name.to_ascii_lowercase();
    match lower.strip_suffix(".onmicrosoft.com") {
        Some(prefix) => &name[..prefix.len()],
        None => name,
    }
}

/// The preview pattern `^[a-zA-Z0-9]{1,26}` of the initial subdomain.
fn valid_prefix(prefix: &str) -> bool {
    (1..=26).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    match aws_lc_rs::rand::fill(&mut bytes) {
        Ok(()) => URL_SAFE_NO_PAD.encode(bytes),
        Err(_) => uuid::Uuid::new_v4().simple().to_string(),
    }
}

/// Eight letters, as Entra's user codes look.
fn user_code() -> String {
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        bytes.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..8]);
    }
    bytes.iter().map(|b| char::from(b'A' + b % 26)).collect()
}

/// Root-level ARM routes and the device-code endpoint.
pub fn router() -> Router<Arc<SandboxState>> {
    let rp = "/subscriptions/{subscription}/providers/Microsoft.AzureActiveDirectory";
    Router::new()
        .route(
            &format!("{rp}/checkNameAvailability"),
            post(check_name_availability),
        )
        .route(
            "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.AzureActiveDirectory/ciamDirectories/{name}",
            put(put_directory).get(get_directory).delete(delete_directory),
        )
        .route(&format!("{rp}/operationStatuses/{{id}}"), get(operation_status))
        .route(&format!("{rp}/operationResults/{{id}}"), get(operation_result))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device_code))
}

/// An ARM error answer.
struct ArmFailure {
    status: StatusCode,
    code: &'static str,
    message: String,
    target: Option<&'static str>,
}

impl ArmFailure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            target: None,
        }
    }
}

impl IntoResponse for ArmFailure {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(target) = self.target {
            error["target"] = json!(target);
        }
        let mut response = (self.status, axum::Json(json!({ "error": error }))).into_response();
        request_ids(response.headers_mut());
        response
    }
}

fn request_ids(headers: &mut HeaderMap) {
    for name in ["x-ms-request-id", "x-ms-correlation-request-id"] {
        if let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            headers.insert(name, value);
        }
    }
}

fn ok_json(status: StatusCode, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    request_ids(response.headers_mut());
    response
}

/// Checks `api-version` and the bearer token; returns the caller.
fn authorize(
    state: &SandboxState,
    headers: &HeaderMap,
    query: Option<&str>,
    write: bool,
) -> Result<(ArmPrincipal, String), ArmFailure> {
    let api_version = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "api-version")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| {
            ArmFailure::new(
                StatusCode::BAD_REQUEST,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        })?;
    let arm = &state.arm;
    if !arm.lock().settings.api_versions.contains(&api_version) {
        return Err(ArmFailure::new(
            StatusCode::BAD_REQUEST,
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location 'global' and API version '{api_version}' for type 'ciamDirectories'. The supported api-versions are '{}'.",
                arm.lock().settings.api_versions.join(", ")
            ),
        ));
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
        .ok_or_else(|| {
            ArmFailure::new(
                StatusCode::UNAUTHORIZED,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )
        })?;
    let token = arm.lock().tokens.get(&bearer).cloned();
    let Some(token) = token else {
        if state.token_endpoint.check(&bearer) == AccessTokenStatus::Valid {
            return Err(ArmFailure::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationTokenAudience",
                "The access token has been obtained for wrong audience or resource 'https://graph.microsoft.com'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.azure.com/'.",
            ));
        }
        return Err(ArmFailure::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        ));
    };
    if token.expires <= SystemTime::now() {
        return Err(ArmFailure::new(
            StatusCode::UNAUTHORIZED,
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
        ));
    }
    if write && matches!(token.principal, ArmPrincipal::App(_)) {
        // What service principals report for tenant creation (tenant-lifecycle.md §1.3).
        return Err(ArmFailure {
            target: Some("Authentication"),
            ..ArmFailure::new(
                StatusCode::UNAUTHORIZED,
                "Unauthenticated",
                "Unauthenticated",
            )
        });
    }
    Ok((token.principal, api_version))
}

fn parse_body(body: &[u8]) -> Result<Value, ArmFailure> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            ArmFailure::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized.",
            )
        })
}

async fn check_name_availability(
    State(state): State<Arc<SandboxState>>,
    Path(_subscription): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| -> Result<Response, ArmFailure> {
        authorize(&state, &headers, query.as_deref(), false)?;
        let body = parse_body(&body)?;
        let text = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or_default();
        let (name, country) = (text("name"), text("countryCode"));
        if name.is_empty() || country.is_empty() {
            return Err(ArmFailure::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContent",
                "Both 'name' and 'countryCode' are required.",
            ));
        }
        let prefix = prefix_of(name);
        let answer = if !valid_prefix(prefix) {
            json!({"nameAvailable": false, "reason": "Invalid",
                "message": "The sub domain name may only contain letters and digits, at most 26 of them."})
        } else if state.arm.name_taken(prefix, None) {
            json!({"nameAvailable": false, "reason": "AlreadyExists",
                "message": "A tenant with this sub domain name already exists. Please choose another."})
        } else {
            json!({"nameAvailable": true, "reason": null, "message": null})
        };
        Ok(ok_json(StatusCode::OK, answer))
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

impl ArmState {
    /// Whether `prefix` is reserved or used by a resource other than `except`.
    fn name_taken(&self, prefix: &str, except: Option<&ResourceKey>) -> bool {
        let prefix = prefix.to_ascii_lowercase();
        let inner = self.lock();
        inner.reserved.contains(&prefix)
            || inner
                .directories
                .iter()
                .any(|(key, _)| Some(key) != except && prefix_of(&key.name) == prefix)
    }
}

fn operation_urls(
    state: &SandboxState,
    subscription: &str,
    id: &str,
    api_version: &str,
) -> (String, String) {
    let rp = format!(
        "{}/subscriptions/{subscription}/providers/{PROVIDER}",
        state.base_url
    );
    (
        format!("{rp}/operationStatuses/{id}?api-version={api_version}"),
        format!("{rp}/operationResults/{id}?api-version={api_version}"),
    )
}

fn lro_headers(response: &mut Response, async_url: &str, location: Option<&str>, retry_after: u64) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(async_url) {
        headers.insert("Azure-AsyncOperation", value);
    }
    if let Some(value) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
}

async fn put_directory(
    State(state): State<Arc<SandboxState>>,
    Path((subscription, resource_group, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| -> Result<Response, ArmFailure> {
        let (principal, api_version) = authorize(&state, &headers, query.as_deref(), true)?;
        let body = parse_body(&body)?;
        let key = ResourceKey::new(&subscription, &resource_group, &name);
        let prefix = prefix_of(&name).to_owned();
        if !valid_prefix(&prefix) {
            return Err(ArmFailure::new(
                StatusCode::BAD_REQUEST,
                "InvalidResourceName",
                format!(
                    "The resource name '{name}' is invalid: the sub domain may only contain letters and digits, at most 26 of them."
                ),
            ));
        }
        let retry_after = state.arm.lock().settings.retry_after_secs;
        // A PUT to an existing resource answers 200 with it (and its operation while it runs).
        if let Some(existing) = state.arm.lock().directories.get(&key).cloned() {
            let mut response = ok_json(StatusCode::OK, existing.body);
            if let Some(id) = existing.operation {
                let (status_url, _) = operation_urls(&state, &subscription, &id, &api_version);
                lro_headers(&mut response, &status_url, None, retry_after);
            }
            return Ok(response);
        }
        if state.arm.name_taken(&prefix, Some(&key)) {
            return Err(ArmFailure::new(
                StatusCode::CONFLICT,
                "AlreadyExists",
                "A tenant with this sub domain name already exists. Please choose another.",
            ));
        }
        let location = body
            .get("location")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !LOCATIONS.iter().any(|l| l.eq_ignore_ascii_case(location)) {
            return Err(ArmFailure::new(
                StatusCode::BAD_REQUEST,
                "LocationNotAvailableForResourceType",
                format!(
                    "The provided location '{location}' is not available for resource type '{CIAM_RESOURCE_TYPE}'. List of available regions for the resource type is '{}'.",
                    LOCATIONS.join(",")
                ),
            ));
        }
        let create = &body["properties"]["createTenantProperties"];
        let display_name = create
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let country_code = create
            .get("countryCode")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if display_name.is_empty() || country_code.is_empty() {
            return Err(ArmFailure::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContent",
                "properties.createTenantProperties.displayName and countryCode are required.",
            ));
        }
        let created_by = match &principal {
            ArmPrincipal::User(upn) => upn.clone(),
            ArmPrincipal::App(id) => id.clone(),
        };
        let now = crate::directory::iso_timestamp(SystemTime::now());
        let resource = json!({
            "id": format!("/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{PROVIDER}/ciamDirectories/{name}"),
            "name": name,
            "type": CIAM_RESOURCE_TYPE,
            "location": location,
            "sku": body.get("sku").cloned().unwrap_or(json!({"name": "Base", "tier": "A0"})),
            "tags": body.get("tags").cloned().unwrap_or(Value::Null),
            "properties": {
                "provisioningState": "Provisioning",
                "createTenantProperties": {"displayName": display_name, "countryCode": country_code},
                "billingConfig": {"billingType": "MAU", "effectiveStartDateUtc": now},
                "tenantId": ZERO_GUID,
            },
            "systemData": {"createdBy": created_by, "createdByType": "User", "createdAt": now},
        });
        let id = uuid::Uuid::new_v4().to_string();
        let mut inner = state.arm.lock();
        let failure = inner.next_failure.take();
        let polls = inner.settings.provisioning_polls;
        inner.operations.insert(
            id.clone(),
            Operation {
                kind: OperationKind::Create,
                resource: key.clone(),
                subscription: subscription.clone(),
                polls_left: polls,
                failure,
                start_time: now,
                finished: None,
            },
        );
        inner.directories.insert(
            key,
            Directory {
                name: name.clone(),
                body: resource.clone(),
                operation: Some(id.clone()),
            },
        );
        drop(inner);
        let (status_url, _) = operation_urls(&state, &subscription, &id, &api_version);
        let mut response = ok_json(StatusCode::CREATED, resource);
        lro_headers(&mut response, &status_url, None, retry_after);
        Ok(response)
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn get_directory(
    State(state): State<Arc<SandboxState>>,
    Path((subscription, resource_group, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = (|| -> Result<Response, ArmFailure> {
        authorize(&state, &headers, query.as_deref(), false)?;
        let key = ResourceKey::new(&subscription, &resource_group, &name);
        // Reading a resource whose operation runs moves the operation on, as time would.
        let operation = state
            .arm
            .lock()
            .directories
            .get(&key)
            .and_then(|d| d.operation.clone());
        if let Some(id) = operation {
            state.arm.advance(&id);
        }
        match state.arm.lock().directories.get(&key) {
            Some(directory) => Ok(ok_json(StatusCode::OK, directory.body.clone())),
            None => Err(not_found(&resource_group, &name)),
        }
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

fn not_found(resource_group: &str, name: &str) -> ArmFailure {
    ArmFailure::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!(
            "The Resource '{PROVIDER}/ciamDirectories/{name}' under resource group '{resource_group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        ),
    )
}

async fn delete_directory(
    State(state): State<Arc<SandboxState>>,
    Path((subscription, resource_group, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = (|| -> Result<Response, ArmFailure> {
        let (_, api_version) = authorize(&state, &headers, query.as_deref(), true)?;
        let key = ResourceKey::new(&subscription, &resource_group, &name);
        let mut inner = state.arm.lock();
        let retry_after = inner.settings.retry_after_secs;
        let polls = inner.settings.deletion_polls;
        let Some(directory) = inner.directories.get_mut(&key) else {
            drop(inner);
            let mut response = StatusCode::NO_CONTENT.into_response();
            request_ids(response.headers_mut());
            return Ok(response);
        };
        if directory.operation.is_some() {
            return Err(ArmFailure::new(
                StatusCode::CONFLICT,
                "AnotherOperationInProgress",
                format!(
                    "Another operation is in progress on the tenant '{name}'. Wait for it to finish."
                ),
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        directory.operation = Some(id.clone());
        directory.body["properties"]["provisioningState"] = json!("Deleting");
        inner.operations.insert(
            id.clone(),
            Operation {
                kind: OperationKind::Delete,
                resource: key,
                subscription: subscription.clone(),
                polls_left: polls,
                failure: None,
                start_time: crate::directory::iso_timestamp(SystemTime::now()),
                finished: None,
            },
        );
        drop(inner);
        let (status_url, result_url) = operation_urls(&state, &subscription, &id, &api_version);
        let mut response = StatusCode::ACCEPTED.into_response();
        request_ids(response.headers_mut());
        lro_headers(&mut response, &status_url, Some(&result_url), retry_after);
        Ok(response)
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

impl ArmState {
    /// One poll of operation `id`: counts down, and applies the outcome when it reaches zero.
    /// Returns the status document, or `None` for an unknown id.
    fn advance(&self, id: &str) -> Option<Value> {
        let mut inner = self.lock();
        let operation = inner.operations.get_mut(id)?;
        if let Some(done) = &operation.finished {
            return Some(done.clone());
        }
        if operation.polls_left > 0 {
            operation.polls_left -= 1;
            return Some(json!({
                "id": format!("/subscriptions/{}/providers/{PROVIDER}/operationStatuses/{id}", operation.subscription),
                "name": id, "status": "InProgress", "startTime": operation.start_time,
            }));
        }
        let operation = operation.clone();
        let end_time = crate::directory::iso_timestamp(SystemTime::now());
        let mut status = json!({
            "id": format!("/subscriptions/{}/providers/{PROVIDER}/operationStatuses/{id}", operation.subscription),
            "name": id, "startTime": operation.start_time, "endTime": end_time,
        });
        match (operation.kind, &operation.failure) {
            (OperationKind::Create, None) => {
                if let Some(directory) = inner.directories.get_mut(&operation.resource) {
                    let domain = format!(
                        "{}.onmicrosoft.com",
                        prefix_of(&directory.name).to_ascii_lowercase()
                    );
                    let properties = &mut directory.body["properties"];
                    properties["provisioningState"] = json!("Succeeded");
                    properties["tenantId"] = json!(uuid::Uuid::new_v4().to_string());
                    properties["domainName"] = json!(domain);
                    directory.operation = None;
                }
                status["status"] = json!("Succeeded");
            }
            (OperationKind::Create, Some((code, message))) => {
                if let Some(directory) = inner.directories.get_mut(&operation.resource) {
                    directory.body["properties"]["provisioningState"] = json!("Failed");
                    directory.operation = None;
                }
                status["status"] = json!("Failed");
                status["error"] = json!({"code": code, "message": message});
            }
            (OperationKind::Delete, _) => {
                inner.directories.remove(&operation.resource);
                status["status"] = json!("Succeeded");
            }
        }
        if let Some(stored) = inner.operations.get_mut(id) {
            stored.finished = Some(status.clone());
        }
        Some(status)
    }
}

async fn operation_status(
    State(state): State<Arc<SandboxState>>,
    Path((_subscription, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = (|| -> Result<Response, ArmFailure> {
        authorize(&state, &headers, query.as_deref(), false)?;
        let status = state.arm.advance(&id).ok_or_else(|| {
            ArmFailure::new(
                StatusCode::NOT_FOUND,
                "OperationNotFound",
                format!("The operation '{id}' was not found."),
            )
        })?;
        let running = status["status"] == "InProgress";
        let mut response = ok_json(StatusCode::OK, status);
        if running {
            let retry_after = state.arm.lock().settings.retry_after_secs;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        Ok(response)
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn operation_result(
    State(state): State<Arc<SandboxState>>,
    Path((subscription, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = (|| -> Result<Response, ArmFailure> {
        let (_, api_version) = authorize(&state, &headers, query.as_deref(), false)?;
        let status = state.arm.advance(&id).ok_or_else(|| {
            ArmFailure::new(
                StatusCode::NOT_FOUND,
                "OperationNotFound",
                format!("The operation '{id}' was not found."),
            )
        })?;
        match status["status"].as_str() {
            Some("InProgress") => {
                let retry_after = state.arm.lock().settings.retry_after_secs;
                let (_, result_url) = operation_urls(&state, &subscription, &id, &api_version);
                let mut response = StatusCode::ACCEPTED.into_response();
                request_ids(response.headers_mut());
                let headers = response.headers_mut();
                if let Ok(value) = HeaderValue::from_str(&result_url) {
                    headers.insert(header::LOCATION, value);
                }
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                Ok(response)
            }
            Some("Succeeded") => {
                let mut response = StatusCode::NO_CONTENT.into_response();
                request_ids(response.headers_mut());
                Ok(response)
            }
            _ => Ok(ok_json(
                StatusCode::BAD_REQUEST,
                json!({"error": status["error"]}),
            )),
        }
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

/// An OAuth error of the device-code endpoints, turned into Entra's body by the token endpoint.
#[derive(Debug)]
pub struct GrantFailure {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: u64,
    pub text: String,
}

impl GrantFailure {
    fn new(error: &'static str, code: u64, text: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            code,
            text: text.into(),
        }
    }
}

fn known_device_tenant(state: &SandboxState, tenant: &str) -> bool {
    let config = &state.config;
    ["organizations", "common"]
        .iter()
        .any(|t| tenant.eq_ignore_ascii_case(t))
        || tenant.eq_ignore_ascii_case(&config.tenant_id)
        || tenant.eq_ignore_ascii_case(&config.tenant_name)
        || tenant.eq_ignore_ascii_case(&format!("{}.onmicrosoft.com", config.tenant_name))
}

async fn device_code(
    State(state): State<Arc<SandboxState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client_request_id = headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let result = (|| {
        if !known_device_tenant(&state, &tenant) {
            return Err(GrantFailure::new(
                "invalid_request",
                90002,
                format!("Tenant '{tenant}' not found."),
            ));
        }
        let client_id = field("client_id").ok_or_else(|| {
            GrantFailure::new(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        })?;
        let scope = field("scope").ok_or_else(|| {
            GrantFailure::new(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            )
        })?;
        if !scope
            .split_whitespace()
            .any(|s| s == ARM_DEFAULT_SCOPE || s == ARM_USER_IMPERSONATION_SCOPE)
        {
            return Err(GrantFailure::new(
                "invalid_scope",
                70011,
                "The provided value for the input parameter 'scope' is not valid: the sandbox signs people in to Azure Resource Manager only.",
            ));
        }
        let mut inner = state.arm.lock();
        let interval = inner.settings.device_code_interval_secs;
        let lifetime = inner.settings.device_code_lifetime_secs;
        let device_code = random_token();
        let code = user_code();
        inner.device_codes.insert(
            device_code.clone(),
            DeviceCode {
                user_code: code.clone(),
                client_id: client_id.to_owned(),
                state: DeviceCodeState::Pending,
                expires: SystemTime::now() + Duration::from_secs(lifetime),
                interval: Duration::from_secs(interval),
                last_poll: None,
            },
        );
        drop(inner);
        let verification_uri = format!("{}/devicelogin", state.base_url);
        Ok(json!({
            "user_code": code,
            "device_code": device_code,
            "verification_uri": verification_uri,
            "expires_in": lifetime,
            "interval": interval,
            "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {code} to authenticate."),
        }))
    })();
    match result {
        Ok(body) => {
            let mut response = axum::Json(body).into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, no-cache"),
            );
            response
        }
        Err(failure) => crate::token_endpoint::oauth_error(
            failure.status,
            failure.error,
            failure.code,
            &failure.text,
            client_request_id.as_deref(),
        ),
    }
}

/// The device-code grant of `POST /{tenant}/oauth2/v2.0/token` (called by the token endpoint).
pub fn device_code_grant(
    state: &SandboxState,
    tenant: &str,
    form: &HashMap<String, String>,
) -> Result<Response, GrantFailure> {
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    if !known_device_tenant(state, tenant) {
        return Err(GrantFailure::new(
            "invalid_request",
            90002,
            format!("Tenant '{tenant}' not found."),
        ));
    }
    let device_code = field("device_code").ok_or_else(|| {
        GrantFailure::new(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'device_code'.",
        )
    })?;
    let client_id = field("client_id").unwrap_or_default();
    let now = SystemTime::now();
    let mut inner = state.arm.lock();
    let Some(code) = inner.device_codes.get_mut(device_code) else {
        return Err(GrantFailure::new(
            "bad_verification_code",
            70019,
            "The device code was not recognized.",
        ));
    };
    if !code.client_id.eq_ignore_ascii_case(client_id) {
        return Err(GrantFailure::new(
            "bad_verification_code",
            70019,
            "The device code was issued to another client.",
        ));
    }
    if now >= code.expires {
        return Err(GrantFailure::new(
            "expired_token",
            70020,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        ));
    }
    let too_soon = code
        .last_poll
        .is_some_and(|last| now.duration_since(last).unwrap_or_default() < code.interval);
    code.last_poll = Some(now);
    if too_soon {
        return Err(GrantFailure::new(
            "slow_down",
            70016,
            "The client polled faster than the interval.",
        ));
    }
    let upn = match &code.state {
        DeviceCodeState::Pending => {
            return Err(GrantFailure::new(
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            ));
        }
        DeviceCodeState::Declined => {
            inner.device_codes.remove(device_code);
            return Err(GrantFailure::new(
                "authorization_declined",
                70000,
                "The user declined the sign-in.",
            ));
        }
        DeviceCodeState::Approved(upn) => upn.clone(),
    };
    // A device code is redeemed once.
    inner.device_codes.remove(device_code);
    drop(inner);
    let token = state.arm.issue_user_token(&upn);
    let lifetime = state.arm.access_token_lifetime.as_secs();
    let mut response = axum::Json(json!({
        "token_type": "Bearer",
        "scope": format!("{ARM_USER_IMPERSONATION_SCOPE} {ARM_DEFAULT_SCOPE}"),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    }))
    .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_on_their_prefix() {
        assert_eq!(prefix_of("contoso.onmicrosoft.com"), "contoso");
        assert_eq!(prefix_of("Contoso.OnMicrosoft.com"), "Contoso");
        assert_eq!(prefix_of("contoso"), "contoso");
        assert!(valid_prefix("contoso2"));
        assert!(!valid_prefix("con-toso"));
        assert!(!valid_prefix(""));
        assert!(!valid_prefix(&"a".repeat(27)));
        assert_eq!(user_code().len(), 8);
    }
}

/// The sandbox's stand-in for GitHub Actions' OIDC provider and the federated identity
/// credentials registered on its apps (docs/protocols/tenant-lifecycle.md §2): a CI job's token
/// becomes a client assertion the token endpoint accepts for a client whose credential names its
/// issuer, subject and the audience `api://AzureADTokenExchange`.
#[derive(Debug, Default)]
pub struct CiFederation {
    /// (client id, issuer, subject) of registered federated identity credentials.
    credentials: Mutex<Vec<(String, String, String)>>,
    /// Request tokens handed to "jobs", with the subject their OIDC tokens carry.
    request_tokens: Mutex<HashMap<String, String>>,
    /// OIDC tokens minted here (the signature check of a real issuer, by memory).
    minted: Mutex<std::collections::HashSet<String>>,
}

/// The audience of federated assertions.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn lock_any<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sandbox {
    /// The issuer of the simulated GitHub Actions OIDC tokens (`https://token.actions.githubusercontent.com` in production).
    pub fn ci_oidc_issuer(&self) -> String {
        format!("{}/_ci/github", self.state().base_url)
    }

    /// A CI job whose OIDC tokens carry `subject`: the values of `ACTIONS_ID_TOKEN_REQUEST_URL` and
    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN` its runner would set.
    pub fn ci_job(&self, subject: &str) -> (url::Url, String) {
        let token = random_token();
        lock_any(&self.state().ci.request_tokens).insert(token.clone(), subject.to_owned());
        let url = self
            .url()
            .join("_ci/github/token?api-version=2.0")
            .expect("relative URL is valid");
        (url, token)
    }

    /// Registers a federated identity credential on the app `client_id`: assertions from `issuer`
    /// with `subject` (and the token-exchange audience) are accepted for it.
    pub fn register_federated_credential(&self, client_id: &str, issuer: &str, subject: &str) {
        lock_any(&self.state().ci.credentials).push((
            client_id.to_ascii_lowercase(),
            issuer.to_owned(),
            subject.to_owned(),
        ));
    }
}

/// `GET /_ci/github/token?audience=…` with the job's request token: `{"value": "<JWT>"}`.
pub fn ci_router() -> Router<Arc<SandboxState>> {
    Router::new().route("/_ci/github/token", get(ci_token))
}

async fn ci_token(
    State(state): State<Arc<SandboxState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, token)| token.trim().to_owned())
        .unwrap_or_default();
    let Some(subject) = lock_any(&state.ci.request_tokens).get(&presented).cloned() else {
        return (StatusCode::UNAUTHORIZED, "unknown request token").into_response();
    };
    let audience = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "audience")
        .map_or_else(
            || "https://github.com/sandbox".to_owned(),
            |(_, v)| v.into_owned(),
        );
    let now = unix_now();
    let mut claims = serde_json::Map::new();
    claims.insert(
        "iss".into(),
        json!(format!("{}/_ci/github", state.base_url)),
    );
    claims.insert("sub".into(), json!(subject));
    claims.insert("aud".into(), json!(audience));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("exp".into(), json!(now + 300));
    claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    let jwt = crate::identity::TokenBuilder::new(state.clone(), claims).sign();
    lock_any(&state.ci.minted).insert(jwt.clone());
    axum::Json(json!({ "value": jwt })).into_response()
}

impl CiFederation {
    /// Whether `client_id` has a federated identity credential.
    pub fn has_credentials(&self, client_id: &str) -> bool {
        let client_id = client_id.to_ascii_lowercase();
        lock_any(&self.credentials)
            .iter()
            .any(|(c, _, _)| *c == client_id)
    }

    /// Checks a federated assertion for `client_id`; `None` when it is not one (a certificate
    /// assertion names its key with `x5t`/`x5t#S256`), else the verdict.
    pub fn verify(&self, client_id: &str, assertion: &str) -> Option<Result<(), GrantFailure>> {
        let header = jsonwebtoken::decode_header(assertion).ok()?;
        if header.x5t.is_some() || header.x5t_s256.is_some() || !self.has_credentials(client_id) {
            return None;
        }
        let refuse = || GrantFailure {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_client",
            code: 70021,
            text: "No matching federated identity record found for presented assertion.".to_owned(),
        };
        if !lock_any(&self.minted).contains(assertion) {
            return Some(Err(refuse()));
        }
        let payload = assertion.split('.').nth(1).unwrap_or_default();
        let claims: Value = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(Value::Null);
        let text = |key: &str| claims.get(key).and_then(Value::as_str).unwrap_or_default();
        let expired = claims
            .get("exp")
            .and_then(Value::as_i64)
            .is_none_or(|exp| exp <= unix_now());
        if expired {
            return Some(Err(GrantFailure {
                code: 700024,
                text: "Client assertion is not within its valid time range.".to_owned(),
                ..refuse()
            }));
        }
        let client_id = client_id.to_ascii_lowercase();
        let matched = text("aud") == TOKEN_EXCHANGE_AUDIENCE
            && lock_any(&self.credentials)
                .iter()
                .any(|(c, issuer, subject)| {
                    *c == client_id && issuer == text("iss") && subject == text("sub")
                });
        Some(if matched { Ok(()) } else { Err(refuse()) })
    }
}
