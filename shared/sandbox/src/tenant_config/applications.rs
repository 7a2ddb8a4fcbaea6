//! Applications, service principals, app role assignments, client secrets, certificates and federated
//! identity credentials: what the tenant bootstrap writes (docs/protocols/tenant-lifecycle.md §2 and
//! its bootstrap row; docs/protocols/extension-callbacks.md (b)-(c)).
//!
//! Graph behaviour reproduced:
//! - Microsoft Graph's service principal (appId `00000003-0000-0000-c000-000000000000`) exists in
//!   every tenant with its application permissions as `appRoles`; the sandbox seeds the ones the
//!   bootstrap grants ([`MICROSOFT_GRAPH_APP_ROLES`], ids from
//!   <https://learn.microsoft.com/graph/permissions-reference>);
//! - applications and service principals are addressable by object id and by the alternate key
//!   `(appId='…')`; `$filter` works on `appId` and `displayName`;
//! - a service principal needs an application of this tenant (or a known first-party app); a second
//!   one for the same app id is a 409;
//! - `POST /servicePrincipals/{resourceId}/appRoleAssignedTo` checks the role exists on the resource
//!   ("Permission being assigned was not found on application.") and answers a duplicate with
//!   `400 Request_BadRequest` "Permission being assigned already exists on the object." (what
//!   Graph answers; scripts match on it);
//! - `addPassword` returns `secretText` once; lists carry only `hint`; `passwordCredentials` cannot be
//!   `PATCH`ed; `keyCredentials[].key` is returned only on a single-object read with
//!   `$select=keyCredentials`, otherwise `null`;
//! - federated identity credentials: name 3-120 characters of `[A-Za-z0-9_-]` starting with a letter
//!   or digit, exactly the audience `api://AzureADTokenExchange`, at most 20 per app, name and
//!   issuer+subject unique (409), addressable by id or name.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use bytes::Bytes;
use http::{StatusCode, Uri};
use serde_json::{Map, Value, json};

use super::auth_extensions::ReceivePayload;
use super::{
    TenantConfigState, bad_request, conflict, json_object, lock, merge, new_id, not_found, text,
    with_context,
};
use crate::directory::odata::QueryOptions;
use crate::directory::{Caller, GraphFailure, iso_timestamp};
use crate::{ENTRA_EXTENSION_CALLER_APP_ID, Sandbox, SandboxState};

type Reply = Result<Response, GraphFailure>;

/// Microsoft Graph's application id.
pub const MICROSOFT_GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Object id of Microsoft Graph's service principal in the sandbox (tenant-specific in Entra).
pub const MICROSOFT_GRAPH_SP_ID: &str = "5b0c6f2a-3d4e-4f81-9a2b-6c7d8e9f0a1b";
/// `CustomAuthenticationExtension.Receive.Payload`.
pub const RECEIVE_PAYLOAD_ROLE_ID: &str = "214e810f-fda8-4fd7-a475-29461495eb00";

/// Application permissions of Microsoft Graph the sandbox knows: (app role id, value, display text),
/// each id as in the Microsoft Graph permissions reference.
pub const MICROSOFT_GRAPH_APP_ROLES: [(&str, &str, &str); 10] = [
    (
        "18a4783c-866b-4cc7-a460-3d5e5662c884",
        "Application.ReadWrite.OwnedBy",
        "Manage apps that this app creates or owns",
    ),
    (
        "b0afded3-3588-46d8-8b3d-9842eff778da",
        "AuditLog.Read.All",
        "Read all audit log data",
    ),
    (
        "c2667967-7050-4e7e-b059-4cbbb3811d03",
        "CustomAuthenticationExtension.ReadWrite.All",
        "Read and write all custom authentication extensions",
    ),
    (
        RECEIVE_PAYLOAD_ROLE_ID,
        "CustomAuthenticationExtension.Receive.Payload",
        "Receive custom authentication extension HTTP requests",
    ),
    (
        "0edf5e9e-4ce8-468a-8432-d08631d18c43",
        "EventListener.ReadWrite.All",
        "Read and write all authentication event listeners",
    ),
    (
        "62a82d76-70ea-41e2-9197-370581804d09",
        "Group.ReadWrite.All",
        "Read and write all groups",
    ),
    (
        "65319a09-a2be-469d-8782-f6b07debf789",
        "IdentityUserFlow.ReadWrite.All",
        "Read and write all identity user flows",
    ),
    (
        "292d869f-3427-49a8-9dab-8c70152b74e9",
        "Organization.ReadWrite.All",
        "Read and write organization information",
    ),
    (
        "d2ebfbc1-a5f8-424b-83a6-56ab5927a73c",
        "OrganizationalBranding.ReadWrite.All",
        "Read and write organizational branding information",
    ),
    (
        "741f803b-c850-494e-b5df-cde7c675a1ca",
        "User.ReadWrite.All",
        "Read and write all users' full profiles",
    ),
];

const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
const MAX_FEDERATED_CREDENTIALS: usize = 20;

/// Applications, service principals, assignments and federated credentials, in creation order.
#[derive(Debug, Default)]
pub struct ApplicationStore {
    applications: Vec<Map<String, Value>>,
    service_principals: Vec<Map<String, Value>>,
    assignments: Vec<Map<String, Value>>,
    /// (application object id, credential).
    federated: Vec<(String, Map<String, Value>)>,
}

impl ApplicationStore {
    /// A store holding Microsoft Graph's service principal.
    pub(crate) fn seeded() -> Self {
        let roles: Vec<Value> = MICROSOFT_GRAPH_APP_ROLES
            .iter()
            .map(|(id, value, display)| {
                json!({
                    "allowedMemberTypes": ["Application"],
                    "description": format!("Allows the app to {}, without a signed-in user.", display.to_lowercase()),
                    "displayName": display,
                    "id": id,
                    "isEnabled": true,
                    "origin": "Application",
                    "value": value,
                })
            })
            .collect();
        let graph = json!({
            "id": MICROSOFT_GRAPH_SP_ID,
            "appId": MICROSOFT_GRAPH_APP_ID,
            "appDisplayName": "Microsoft Graph",
            "displayName": "Microsoft Graph",
            "accountEnabled": true,
            "servicePrincipalType": "Application",
            "appRoles": roles,
        });
        Self {
            service_principals: graph.as_object().cloned().into_iter().collect(),
            ..Self::default()
        }
    }

    fn application_index(&self, id: &AppKey) -> Option<usize> {
        self.applications.iter().position(|a| id.matches(a))
    }

    fn principal_index(&self, id: &AppKey) -> Option<usize> {
        self.service_principals.iter().position(|a| id.matches(a))
    }
}

impl TenantConfigState {
    /// Whether `app_id` has a service principal holding Microsoft Graph's `Receive.Payload` role.
    pub(crate) fn receive_payload_status(&self, app_id: &str) -> ReceivePayload {
        let store = lock(&self.applications);
        let Some(index) = store.principal_index(&AppKey::AppId(app_id.to_owned())) else {
            return ReceivePayload::NoServicePrincipal;
        };
        let principal = text(&store.service_principals[index], "id").unwrap_or_default();
        let granted = store.assignments.iter().any(|a| {
            text(a, "principalId") == Some(principal)
                && text(a, "resourceId") == Some(MICROSOFT_GRAPH_SP_ID)
                && text(a, "appRoleId") == Some(RECEIVE_PAYLOAD_ROLE_ID)
        });
        if granted {
            ReceivePayload::Granted
        } else {
            ReceivePayload::NotGranted
        }
    }
}

/// How a path names an application or service principal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AppKey {
    ObjectId(String),
    AppId(String),
}

impl AppKey {
    fn matches(&self, object: &Map<String, Value>) -> bool {
        let (key, wanted) = match self {
            AppKey::ObjectId(id) => ("id", id),
            AppKey::AppId(id) => ("appId", id),
        };
        text(object, key).is_some_and(|v| v.eq_ignore_ascii_case(wanted))
    }

    fn describe(&self) -> String {
        match self {
            AppKey::ObjectId(id) => id.clone(),
            AppKey::AppId(id) => format!("appId={id}"),
        }
    }
}

/// The value of an `(appId='…')` segment after its static prefix: `'…')`.
fn alternate_key(raw: &str) -> Result<AppKey, GraphFailure> {
    raw.strip_prefix('\'')
        .and_then(|r| r.strip_suffix("')"))
        .filter(|v| !v.is_empty() && !v.contains('\''))
        .map(|v| AppKey::AppId(v.to_owned()))
        .ok_or_else(|| {
            bad_request(
                "BadRequest",
                format!("Bad request. The alternate key (appId={raw} is malformed."),
            )
        })
}

/// The routes of this module.
pub(crate) fn router() -> Router<Arc<SandboxState>> {
    Router::new()
        .route(
            "/v1.0/applications",
            get(list_applications).post(create_application),
        )
        .route(
            "/v1.0/applications/{id}",
            get(get_application)
                .patch(update_application)
                .delete(delete_application),
        )
        .route(
            "/v1.0/applications(appId={key}",
            get(get_application_by_app_id)
                .patch(update_application_by_app_id)
                .delete(delete_application_by_app_id),
        )
        .route("/v1.0/applications/{id}/addPassword", post(add_password))
        .route(
            "/v1.0/applications/{id}/removePassword",
            post(remove_password),
        )
        .route(
            "/v1.0/applications/{id}/federatedIdentityCredentials",
            get(list_federated).post(create_federated),
        )
        .route(
            "/v1.0/applications/{id}/federatedIdentityCredentials/{credential}",
            get(get_federated).delete(delete_federated),
        )
        .route(
            "/v1.0/servicePrincipals",
            get(list_principals).post(create_principal),
        )
        .route("/v1.0/servicePrincipals/{id}", get(get_principal))
        .route(
            "/v1.0/servicePrincipals(appId={key}",
            get(get_principal_by_app_id),
        )
        .route(
            "/v1.0/servicePrincipals/{id}/appRoleAssignedTo",
            get(list_assigned_to).post(assign_app_role),
        )
        .route(
            "/v1.0/servicePrincipals/{id}/appRoleAssignments",
            get(list_assignments),
        )
}

fn context(state: &SandboxState, fragment: &str) -> String {
    format!("{}/v1.0/$metadata#{fragment}", state.base_url)
}

/// An application as Graph answers it: `keyCredentials[].key` only when `reveal_keys`.
fn application_view(application: &Map<String, Value>, reveal_keys: bool) -> Map<String, Value> {
    let mut view = application.clone();
    if !reveal_keys && let Some(Value::Array(keys)) = view.get_mut("keyCredentials") {
        for key in keys.iter_mut().filter_map(Value::as_object_mut) {
            key.insert("key".into(), Value::Null);
        }
    }
    view
}

async fn list_applications(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    let options = QueryOptions::parse(query.as_deref(), false)?;
    let items = lock(&state.tenant_config.applications)
        .applications
        .iter()
        .map(|a| (None, application_view(a, false)))
        .collect();
    let body = options.collection(&state.base_url, uri.path(), "applications", items, None);
    Ok(axum::Json(body).into_response())
}

/// Checks the writable properties of an application body.
fn check_application(body: &Map<String, Value>) -> Result<(), GraphFailure> {
    if body.contains_key("passwordCredentials") {
        return Err(bad_request(
            "Request_BadRequest",
            "Property 'passwordCredentials' cannot be set; use addPassword.",
        ));
    }
    if let Some(uris) = body.get("identifierUris") {
        let ok = uris.as_array().is_some_and(|uris| {
            uris.iter().all(|u| {
                u.as_str()
                    .and_then(|u| url::Url::parse(u).ok())
                    .is_some_and(|u| matches!(u.scheme(), "api" | "https" | "urn"))
            })
        });
        if !ok {
            return Err(bad_request(
                "Request_BadRequest",
                "Values of identifierUris property must use a verified domain of the organization or its subdomain, or the api:// scheme.",
            ));
        }
    }
    if let Some(roles) = body.get("appRoles") {
        let ok = roles.as_array().is_some_and(|roles| {
            roles.iter().all(|r| {
                r.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
                    && r.get("allowedMemberTypes")
                        .and_then(Value::as_array)
                        .is_some_and(|t| !t.is_empty())
            })
        });
        if !ok {
            return Err(bad_request(
                "Request_BadRequest",
                "Each app role needs a GUID id and allowedMemberTypes.",
            ));
        }
    }
    if let Some(keys) = body.get("keyCredentials") {
        let ok = keys.as_array().is_some_and(|keys| {
            keys.iter().all(|k| {
                let field = |name: &str| k.get(name).and_then(Value::as_str);
                matches!(
                    field("type"),
                    Some("AsymmetricX509Cert" | "X509CertAndPassword")
                ) && matches!(field("usage"), Some("Verify" | "Encrypt" | "Sign"))
                    && field("key").is_some_and(|key| {
                        base64::engine::general_purpose::STANDARD
                            .decode(key)
                            .is_ok_and(|der| !der.is_empty())
                    })
            })
        });
        if !ok {
            return Err(bad_request(
                "Request_BadRequest",
                "Each key credential needs type, usage and a base64 key.",
            ));
        }
    }
    Ok(())
}

fn identifier_uris(object: &Map<String, Value>) -> Vec<String> {
    object
        .get("identifierUris")
        .and_then(Value::as_array)
        .map(|uris| {
            uris.iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default()
}

/// Fills in key ids of new key credentials.
fn complete_keys(body: &mut Map<String, Value>) {
    if let Some(Value::Array(keys)) = body.get_mut("keyCredentials") {
        for key in keys.iter_mut().filter_map(Value::as_object_mut) {
            key.entry("keyId").or_insert_with(|| json!(new_id()));
            key.entry("customKeyIdentifier").or_insert(Value::Null);
        }
    }
}

async fn create_application(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    body: Bytes,
) -> Reply {
    let mut body = json_object(&body)?;
    for read_only in ["id", "appId", "@odata.context"] {
        body.remove(read_only);
    }
    if text(&body, "displayName").is_none_or(|n| n.trim().is_empty()) {
        return Err(bad_request(
            "Request_BadRequest",
            "Property 'displayName' is required.",
        ));
    }
    check_application(&body)?;
    complete_keys(&mut body);
    let mut application = json!({
        "id": new_id(),
        "appId": new_id(),
        "createdDateTime": iso_timestamp(SystemTime::now()),
        "signInAudience": "AzureADMyOrg",
        "identifierUris": [],
        "appRoles": [],
        "requiredResourceAccess": [],
        "keyCredentials": [],
        "passwordCredentials": [],
        "api": {"requestedAccessTokenVersion": null},
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    merge(&mut application, body);
    {
        let mut store = lock(&state.tenant_config.applications);
        let uris = identifier_uris(&application);
        if store
            .applications
            .iter()
            .any(|a| identifier_uris(a).iter().any(|u| uris.contains(u)))
        {
            return Err(duplicate_identifier_uri());
        }
        store.applications.push(application.clone());
    }
    let view = application_view(&application, false);
    Ok((
        StatusCode::CREATED,
        axum::Json(with_context(view, context(&state, "applications/$entity"))),
    )
        .into_response())
}

fn duplicate_identifier_uri() -> GraphFailure {
    bad_request(
        "Request_BadRequest",
        "Another object with the same value for property identifierUris already exists.",
    )
}

fn read_application(state: &SandboxState, key: &AppKey, query: Option<&str>) -> Reply {
    let options = QueryOptions::parse(query, false)?;
    let reveal = options
        .select
        .as_ref()
        .is_some_and(|s| s.iter().any(|p| p.eq_ignore_ascii_case("keyCredentials")));
    let application = {
        let store = lock(&state.tenant_config.applications);
        let index = store
            .application_index(key)
            .ok_or_else(|| not_found(&key.describe()))?;
        application_view(&store.applications[index], reveal)
    };
    let projected = crate::directory::odata::project(&application, options.select.as_deref(), None);
    Ok(axum::Json(with_context(
        projected,
        context(state, "applications/$entity"),
    ))
    .into_response())
}

fn patch_application(state: &SandboxState, key: &AppKey, body: &Bytes) -> Reply {
    let mut patch = json_object(body)?;
    for read_only in ["id", "appId", "@odata.context"] {
        patch.remove(read_only);
    }
    check_application(&patch)?;
    complete_keys(&mut patch);
    let mut store = lock(&state.tenant_config.applications);
    let index = store
        .application_index(key)
        .ok_or_else(|| not_found(&key.describe()))?;
    let uris = identifier_uris(&patch);
    if store
        .applications
        .iter()
        .enumerate()
        .any(|(i, a)| i != index && identifier_uris(a).iter().any(|u| uris.contains(u)))
    {
        return Err(duplicate_identifier_uri());
    }
    let application = &mut store.applications[index];
    // Collections are replaced, not merged, by a PATCH.
    for (name, value) in patch {
        match value {
            Value::Object(object) => {
                let mut target = application
                    .get(&name)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                merge(&mut target, object);
                application.insert(name, Value::Object(target));
            }
            Value::Null => {
                application.insert(name, Value::Null);
            }
            other => {
                application.insert(name, other);
            }
        }
    }
    // The service principal mirrors the application's roles.
    let app_id = text(&store.applications[index], "appId").map(str::to_owned);
    let roles = store.applications[index].get("appRoles").cloned();
    if let (Some(app_id), Some(roles)) = (app_id, roles)
        && let Some(sp) = store.principal_index(&AppKey::AppId(app_id))
    {
        store.service_principals[sp].insert("appRoles".into(), roles);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn remove_application(state: &SandboxState, key: &AppKey) -> Reply {
    let mut store = lock(&state.tenant_config.applications);
    let index = store
        .application_index(key)
        .ok_or_else(|| not_found(&key.describe()))?;
    let removed = store.applications.remove(index);
    let object_id = text(&removed, "id").unwrap_or_default().to_owned();
    store.federated.retain(|(app, _)| *app != object_id);
    if let Some(app_id) = text(&removed, "appId")
        && let Some(sp) = store.principal_index(&AppKey::AppId(app_id.to_owned()))
    {
        let principal = store.service_principals.remove(sp);
        let principal_id = text(&principal, "id").unwrap_or_default().to_owned();
        store.assignments.retain(|a| {
            text(a, "principalId") != Some(principal_id.as_str())
                && text(a, "resourceId") != Some(principal_id.as_str())
        });
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_application(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Reply {
    read_application(&state, &AppKey::ObjectId(id), query.as_deref())
}

async fn get_application_by_app_id(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
) -> Reply {
    read_application(&state, &alternate_key(&key)?, query.as_deref())
}

async fn update_application(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    patch_application(&state, &AppKey::ObjectId(id), &body)
}

async fn update_application_by_app_id(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Reply {
    patch_application(&state, &alternate_key(&key)?, &body)
}

async fn delete_application(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    remove_application(&state, &AppKey::ObjectId(id))
}

async fn delete_application_by_app_id(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(key): Path<String>,
) -> Reply {
    remove_application(&state, &alternate_key(&key)?)
}

/// A random client secret: 40 characters from the alphabet Entra uses (letters, digits, `~._-`).
fn generate_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~._-";
    let mut bytes = [0u8; 40];
    let mut filled = 0;
    while filled < bytes.len() {
        for byte in uuid::Uuid::new_v4().as_bytes() {
            if filled == bytes.len() {
                break;
            }
            bytes[filled] = ALPHABET[usize::from(*byte) % ALPHABET.len()];
            filled += 1;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

async fn add_password(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let body = if body.is_empty() {
        Map::new()
    } else {
        json_object(&body)?
    };
    let requested = body
        .get("passwordCredential")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let now = SystemTime::now();
    let secret = generate_secret();
    let credential = json!({
        "customKeyIdentifier": null,
        "displayName": requested.get("displayName").cloned().unwrap_or(Value::Null),
        "endDateTime": requested.get("endDateTime").cloned()
            .unwrap_or_else(|| json!(iso_timestamp(now + Duration::from_secs(2 * 365 * 24 * 3600)))),
        "hint": secret.chars().take(3).collect::<String>(),
        "keyId": new_id(),
        "startDateTime": requested.get("startDateTime").cloned().unwrap_or_else(|| json!(iso_timestamp(now))),
    });
    {
        let mut store = lock(&state.tenant_config.applications);
        let index = store
            .application_index(&AppKey::ObjectId(id.clone()))
            .ok_or_else(|| not_found(&id))?;
        let application = &mut store.applications[index];
        match application.get_mut("passwordCredentials") {
            Some(Value::Array(list)) => list.push(credential.clone()),
            _ => {
                application.insert("passwordCredentials".into(), json!([credential.clone()]));
            }
        }
    }
    let mut answer = credential.as_object().cloned().unwrap_or_default();
    answer.insert("secretText".into(), json!(secret));
    Ok(axum::Json(with_context(
        answer,
        context(&state, "microsoft.graph.passwordCredential"),
    ))
    .into_response())
}

async fn remove_password(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let body = json_object(&body)?;
    let key_id = text(&body, "keyId")
        .map(str::to_owned)
        .ok_or_else(|| bad_request("Request_BadRequest", "keyId is required."))?;
    let mut store = lock(&state.tenant_config.applications);
    let index = store
        .application_index(&AppKey::ObjectId(id.clone()))
        .ok_or_else(|| not_found(&id))?;
    let Some(Value::Array(list)) = store.applications[index].get_mut("passwordCredentials") else {
        return Err(bad_request(
            "Request_BadRequest",
            format!("No password credential found with keyId '{key_id}'."),
        ));
    };
    let before = list.len();
    list.retain(|c| c.get("keyId").and_then(Value::as_str) != Some(key_id.as_str()));
    if list.len() == before {
        return Err(bad_request(
            "Request_BadRequest",
            format!("No password credential found with keyId '{key_id}'."),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn application_id(store: &ApplicationStore, id: &str) -> Result<String, GraphFailure> {
    store
        .application_index(&AppKey::ObjectId(id.to_owned()))
        .and_then(|i| text(&store.applications[i], "id").map(str::to_owned))
        .ok_or_else(|| not_found(id))
}

fn federated_context(state: &SandboxState, app: &str, entity: bool) -> String {
    context(
        state,
        &format!(
            "applications('{app}')/federatedIdentityCredentials{}",
            if entity { "/$entity" } else { "" }
        ),
    )
}

async fn list_federated(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    let options = QueryOptions::parse(query.as_deref(), false)?;
    let (app, items) = {
        let store = lock(&state.tenant_config.applications);
        let app = application_id(&store, &id)?;
        let items = store
            .federated
            .iter()
            .filter(|(a, _)| *a == app)
            .map(|(_, c)| (None, c.clone()))
            .collect();
        (app, items)
    };
    let set = format!("applications('{app}')/federatedIdentityCredentials");
    let body = options.collection(&state.base_url, uri.path(), &set, items, None);
    Ok(axum::Json(body).into_response())
}

fn check_federated(body: &Map<String, Value>) -> Result<(), GraphFailure> {
    let invalid = |m: String| Err(bad_request("Request_BadRequest", m));
    let name = text(body, "name").unwrap_or_default();
    let name_ok = (3..=120).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return invalid(format!(
            "Invalid federated identity credential name '{name}'."
        ));
    }
    for field in ["issuer", "subject"] {
        let value = text(body, field).unwrap_or_default();
        if value.is_empty() || value.len() > 600 || value.trim() != value || value.contains('*') {
            return invalid(format!("Invalid value for property '{field}'."));
        }
    }
    let audiences = body.get("audiences").and_then(Value::as_array);
    if !audiences.is_some_and(|a| a.len() == 1 && a[0].as_str() == Some(TOKEN_EXCHANGE_AUDIENCE)) {
        return invalid(format!(
            "audiences must contain exactly one value, '{TOKEN_EXCHANGE_AUDIENCE}'."
        ));
    }
    Ok(())
}

async fn create_federated(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let mut body = json_object(&body)?;
    body.remove("id");
    body.remove("@odata.context");
    check_federated(&body)?;
    let (app, credential) = {
        let mut store = lock(&state.tenant_config.applications);
        let app = application_id(&store, &id)?;
        let siblings: Vec<_> = store
            .federated
            .iter()
            .filter(|(a, _)| *a == app)
            .map(|(_, c)| c)
            .collect();
        if siblings.len() >= MAX_FEDERATED_CREDENTIALS {
            return Err(bad_request(
                "Request_BadRequest",
                "An application can have at most 20 federated identity credentials.",
            ));
        }
        let same = |c: &&Map<String, Value>, key: &str| {
            text(c, key).map(str::to_ascii_lowercase)
                == text(&body, key).map(str::to_ascii_lowercase)
        };
        if siblings.iter().any(|c| same(c, "name")) {
            return Err(conflict(
                "A federated identity credential with this name already exists.",
            ));
        }
        if siblings.iter().any(|c| {
            text(c, "issuer") == text(&body, "issuer")
                && text(c, "subject") == text(&body, "subject")
        }) {
            return Err(conflict(
                "A federated identity credential with this issuer and subject already exists.",
            ));
        }
        body.insert("id".into(), json!(new_id()));
        body.entry("description").or_insert(Value::Null);
        store.federated.push((app.clone(), body.clone()));
        (app, body)
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(with_context(
            credential,
            federated_context(&state, &app, true),
        )),
    )
        .into_response())
}

fn federated_index(store: &ApplicationStore, app: &str, key: &str) -> Option<usize> {
    store.federated.iter().position(|(a, c)| {
        a == app
            && (text(c, "id").is_some_and(|i| i.eq_ignore_ascii_case(key))
                || text(c, "name").is_some_and(|n| n.eq_ignore_ascii_case(key)))
    })
}

async fn get_federated(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path((id, credential)): Path<(String, String)>,
) -> Reply {
    let (app, found) = {
        let store = lock(&state.tenant_config.applications);
        let app = application_id(&store, &id)?;
        let index =
            federated_index(&store, &app, &credential).ok_or_else(|| not_found(&credential))?;
        (app, store.federated[index].1.clone())
    };
    Ok(axum::Json(with_context(found, federated_context(&state, &app, true))).into_response())
}

async fn delete_federated(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path((id, credential)): Path<(String, String)>,
) -> Reply {
    let mut store = lock(&state.tenant_config.applications);
    let app = application_id(&store, &id)?;
    let index = federated_index(&store, &app, &credential).ok_or_else(|| not_found(&credential))?;
    store.federated.remove(index);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_principals(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    let options = QueryOptions::parse(query.as_deref(), false)?;
    let items = lock(&state.tenant_config.applications)
        .service_principals
        .iter()
        .map(|p| (None, p.clone()))
        .collect();
    let body = options.collection(
        &state.base_url,
        uri.path(),
        "servicePrincipals",
        items,
        None,
    );
    Ok(axum::Json(body).into_response())
}

async fn create_principal(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    body: Bytes,
) -> Reply {
    let body = json_object(&body)?;
    let app_id = text(&body, "appId")
        .map(str::to_owned)
        .ok_or_else(|| bad_request("Request_BadRequest", "Property 'appId' is required."))?;
    let principal = {
        let mut store = lock(&state.tenant_config.applications);
        if store
            .principal_index(&AppKey::AppId(app_id.clone()))
            .is_some()
        {
            return Err(conflict(format!(
                "A service principal for application '{app_id}' already exists."
            )));
        }
        let application = store
            .application_index(&AppKey::AppId(app_id.clone()))
            .map(|i| store.applications[i].clone());
        let (display_name, roles) = match application {
            Some(application) => (
                application
                    .get("displayName")
                    .cloned()
                    .unwrap_or(Value::Null),
                application.get("appRoles").cloned().unwrap_or(json!([])),
            ),
            None if app_id.eq_ignore_ascii_case(ENTRA_EXTENSION_CALLER_APP_ID) => {
                (json!("Azure AD Authentication Extensions"), json!([]))
            }
            None => {
                return Err(bad_request(
                    "Request_BadRequest",
                    format!(
                        "The appId '{app_id}' of the service principal does not reference a valid application object."
                    ),
                ));
            }
        };
        let mut principal = body.clone();
        principal.extend(
            json!({
                "id": new_id(),
                "appId": app_id,
                "appDisplayName": display_name,
                "displayName": display_name,
                "accountEnabled": true,
                "servicePrincipalType": "Application",
                "appRoles": roles,
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        );
        store.service_principals.push(principal.clone());
        principal
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(with_context(
            principal,
            context(&state, "servicePrincipals/$entity"),
        )),
    )
        .into_response())
}

fn read_principal(state: &SandboxState, key: &AppKey) -> Reply {
    let principal = {
        let store = lock(&state.tenant_config.applications);
        let index = store
            .principal_index(key)
            .ok_or_else(|| not_found(&key.describe()))?;
        store.service_principals[index].clone()
    };
    Ok(axum::Json(with_context(
        principal,
        context(state, "servicePrincipals/$entity"),
    ))
    .into_response())
}

async fn get_principal(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    read_principal(&state, &AppKey::ObjectId(id))
}

async fn get_principal_by_app_id(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(key): Path<String>,
) -> Reply {
    read_principal(&state, &alternate_key(&key)?)
}

fn principal_id(store: &ApplicationStore, id: &str) -> Result<String, GraphFailure> {
    store
        .principal_index(&AppKey::ObjectId(id.to_owned()))
        .and_then(|i| text(&store.service_principals[i], "id").map(str::to_owned))
        .ok_or_else(|| not_found(id))
}

fn assignments_answer(
    state: &SandboxState,
    uri: &Uri,
    query: Option<&str>,
    id: &str,
    field: &str,
    navigation: &str,
) -> Reply {
    let options = QueryOptions::parse(query, false)?;
    let (principal, items) = {
        let store = lock(&state.tenant_config.applications);
        let principal = principal_id(&store, id)?;
        let items = store
            .assignments
            .iter()
            .filter(|a| text(a, field) == Some(principal.as_str()))
            .map(|a| (None, a.clone()))
            .collect();
        (principal, items)
    };
    let set = format!("servicePrincipals('{principal}')/{navigation}");
    let body = options.collection(&state.base_url, uri.path(), &set, items, None);
    Ok(axum::Json(body).into_response())
}

async fn list_assigned_to(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    assignments_answer(
        &state,
        &uri,
        query.as_deref(),
        &id,
        "resourceId",
        "appRoleAssignedTo",
    )
}

async fn list_assignments(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    assignments_answer(
        &state,
        &uri,
        query.as_deref(),
        &id,
        "principalId",
        "appRoleAssignments",
    )
}

async fn assign_app_role(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let body = json_object(&body)?;
    let field = |name: &str| {
        text(&body, name).map(str::to_owned).ok_or_else(|| {
            bad_request(
                "Request_BadRequest",
                format!("Property '{name}' is required."),
            )
        })
    };
    let (principal_id_value, resource_id, app_role_id) = (
        field("principalId")?,
        field("resourceId")?,
        field("appRoleId")?,
    );
    let assignment = {
        let mut store = lock(&state.tenant_config.applications);
        let resource = store
            .principal_index(&AppKey::ObjectId(id.clone()))
            .map(|i| store.service_principals[i].clone())
            .ok_or_else(|| not_found(&id))?;
        if !text(&resource, "id").is_some_and(|r| r.eq_ignore_ascii_case(&resource_id)) {
            return Err(bad_request(
                "Request_BadRequest",
                "resourceId must be the service principal the assignment is posted to.",
            ));
        }
        let principal = store
            .principal_index(&AppKey::ObjectId(principal_id_value.clone()))
            .map(|i| store.service_principals[i].clone())
            .ok_or_else(|| {
                bad_request(
                    "Request_BadRequest",
                    format!("Principal '{principal_id_value}' was not found."),
                )
            })?;
        let role_exists = resource
            .get("appRoles")
            .and_then(Value::as_array)
            .is_some_and(|roles| {
                roles.iter().any(|r| {
                    r.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|i| i.eq_ignore_ascii_case(&app_role_id))
                })
            });
        if !role_exists {
            return Err(bad_request(
                "Request_BadRequest",
                "Permission being assigned was not found on application.",
            ));
        }
        let principal_id = text(&principal, "id").unwrap_or_default().to_owned();
        let resource_id = text(&resource, "id").unwrap_or_default().to_owned();
        if store.assignments.iter().any(|a| {
            text(a, "principalId") == Some(principal_id.as_str())
                && text(a, "resourceId") == Some(resource_id.as_str())
                && text(a, "appRoleId").is_some_and(|r| r.eq_ignore_ascii_case(&app_role_id))
        }) {
            return Err(bad_request(
                "Request_BadRequest",
                "Permission being assigned already exists on the object.",
            ));
        }
        let assignment = json!({
            "id": new_id(),
            "deletedDateTime": null,
            "appRoleId": app_role_id,
            "createdDateTime": iso_timestamp(SystemTime::now()),
            "principalDisplayName": principal.get("displayName").cloned().unwrap_or(Value::Null),
            "principalId": principal_id,
            "principalType": "ServicePrincipal",
            "resourceDisplayName": resource.get("displayName").cloned().unwrap_or(Value::Null),
            "resourceId": resource_id,
        })
        .as_object()
        .cloned()
        .unwrap_or_default();
        store.assignments.push(assignment.clone());
        assignment
    };
    let fragment = format!("servicePrincipals('{id}')/appRoleAssignedTo/$entity");
    Ok((
        StatusCode::CREATED,
        axum::Json(with_context(assignment, context(&state, &fragment))),
    )
        .into_response())
}

/// Direct access for tests.
impl Sandbox {
    /// Object id of Microsoft Graph's service principal in this tenant.
    pub fn microsoft_graph_service_principal_id(&self) -> &'static str {
        MICROSOFT_GRAPH_SP_ID
    }

    /// The stored application (every property, keys included) with client id `app_id`.
    pub fn application_by_app_id(&self, app_id: &str) -> Option<Value> {
        let store = lock(&self.state().tenant_config.applications);
        let index = store.application_index(&AppKey::AppId(app_id.to_owned()))?;
        Some(Value::Object(store.applications[index].clone()))
    }

    /// Every app role assignment, in creation order.
    pub fn app_role_assignments(&self) -> Vec<Value> {
        lock(&self.state().tenant_config.applications)
            .assignments
            .iter()
            .cloned()
            .map(Value::Object)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_keys_and_secrets() {
        assert_eq!(
            alternate_key("'abc')").unwrap(),
            AppKey::AppId("abc".into())
        );
        assert!(alternate_key("abc").is_err());
        assert!(alternate_key("'')").is_err());
        let secret = generate_secret();
        assert_eq!(secret.len(), 40);
        assert_ne!(secret, generate_secret());
        let ids: std::collections::HashSet<_> =
            MICROSOFT_GRAPH_APP_ROLES.iter().map(|r| r.0).collect();
        assert_eq!(ids.len(), MICROSOFT_GRAPH_APP_ROLES.len());
    }
}
