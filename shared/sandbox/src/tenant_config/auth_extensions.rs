//! `/v1.0/identity/customAuthenticationExtensions` and `/v1.0/identity/authenticationEventListeners`
//! (docs/protocols/graph-api.md a.2 rows 23-30, A.6; docs/protocols/extension-callbacks.md (c)).
//!
//! Graph behaviour reproduced:
//! - `@odata.type` is required on `POST` and `PATCH` and must name a known subtype (compared without
//!   regard to case, stored in Graph's spelling); a `PATCH` cannot change it. Otherwise 400 with
//!   "The custom extension should be of subtype of CustomAuthenticationExtension" (Learn Q&A 5669324;
//!   the code is the sandbox's choice);
//! - `clientConfiguration.timeoutInMilliseconds` 200-2000 and `maximumRetries` 0-1, at most 100
//!   extensions (400 beyond);
//! - `validateAuthenticationConfiguration` by id (no body) or with a proposed configuration answers
//!   `200` with `errors`/`warnings` even when invalid: `IncorrectResourceIdFormat` (the resource id
//!   is not `api://{fqdn}/{appId}`), `DomainNameDoesNotMatch` (its host is not the target URL's),
//!   `ServicePrincipalNotFound` (no service principal for the app id in this tenant), and the warning
//!   `PermissionNotGrantedToServicePrincipal` (Microsoft Graph's `Receive.Payload` role not assigned
//!   to it), checked against the state of [`super::applications`];
//! - listeners: a known listener type, a handler of the type that event calls
//!   (`onTokenIssuanceStartListener` → `onTokenIssuanceStartCustomExtensionHandler`, ...), and (the
//!   sandbox's referential check) a `customExtension.id` naming an existing extension of the
//!   matching type; `priority` defaults to 500 and `authenticationEventsFlowId` is read-only.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::{StatusCode, Uri};
use serde_json::{Map, Value, json};

use super::{bad_request, json_object, lock, merge, new_id, not_found, text, with_context};
use crate::directory::odata::QueryOptions;
use crate::directory::{Caller, GraphFailure, iso_timestamp};
use crate::{Sandbox, SandboxState};

type Reply = Result<Response, GraphFailure>;

/// The extension subtypes Graph accepts (v1.0 CSDL and the beta password-submit type).
pub const EXTENSION_TYPES: [&str; 6] = [
    "#microsoft.graph.onTokenIssuanceStartCustomExtension",
    "#microsoft.graph.onAttributeCollectionStartCustomExtension",
    "#microsoft.graph.onAttributeCollectionSubmitCustomExtension",
    "#microsoft.graph.onOtpSendCustomExtension",
    "#microsoft.graph.onPasswordSubmitCustomExtension",
    "#microsoft.graph.onVerifiedIdClaimValidationCustomExtension",
];

/// Listener type, the handler type it takes, and the extension type the handler calls.
pub const LISTENER_TYPES: [(&str, &str, &str); 5] = [
    (
        "#microsoft.graph.onTokenIssuanceStartListener",
        "#microsoft.graph.onTokenIssuanceStartCustomExtensionHandler",
        "#microsoft.graph.onTokenIssuanceStartCustomExtension",
    ),
    (
        "#microsoft.graph.onAttributeCollectionStartListener",
        "#microsoft.graph.onAttributeCollectionStartCustomExtensionHandler",
        "#microsoft.graph.onAttributeCollectionStartCustomExtension",
    ),
    (
        "#microsoft.graph.onAttributeCollectionSubmitListener",
        "#microsoft.graph.onAttributeCollectionSubmitCustomExtensionHandler",
        "#microsoft.graph.onAttributeCollectionSubmitCustomExtension",
    ),
    (
        "#microsoft.graph.onEmailOtpSendListener",
        "#microsoft.graph.onOtpSendCustomExtensionHandler",
        "#microsoft.graph.onOtpSendCustomExtension",
    ),
    (
        "#microsoft.graph.onPasswordSubmitListener",
        "#microsoft.graph.onPasswordMigrationCustomExtensionHandler",
        "#microsoft.graph.onPasswordSubmitCustomExtension",
    ),
];

/// Graph's cap on custom extension policies.
const MAX_EXTENSIONS: usize = 100;
const NOT_A_SUBTYPE: &str =
    "The custom extension should be of subtype of CustomAuthenticationExtension";
const PERMISSION_WARNING: &str = "The permission CustomAuthenticationExtensions.Receive.Payload is not granted to the service principal of the resource app";

/// Extensions and listeners, in creation order.
#[derive(Debug, Default)]
pub struct ExtensionStore {
    extensions: Vec<Map<String, Value>>,
    listeners: Vec<Map<String, Value>>,
}

fn find<'a>(objects: &'a [Map<String, Value>], id: &str) -> Option<&'a Map<String, Value>> {
    objects
        .iter()
        .find(|o| text(o, "id").is_some_and(|i| i.eq_ignore_ascii_case(id)))
}

fn position(objects: &[Map<String, Value>], id: &str) -> Option<usize> {
    objects
        .iter()
        .position(|o| text(o, "id").is_some_and(|i| i.eq_ignore_ascii_case(id)))
}

/// Graph's spelling of a known `@odata.type`.
fn canonical<'a>(known: impl IntoIterator<Item = &'a str>, value: &str) -> Option<&'a str> {
    let bare = value.trim_start_matches('#');
    known
        .into_iter()
        .find(|k| k[1..].eq_ignore_ascii_case(bare))
}

fn invalid(message: impl Into<String>) -> GraphFailure {
    bad_request("BadRequest", message)
}

/// Checks an extension body (create: `existing` None; patch: the merged result) and normalises its type.
fn check_extension(object: &mut Map<String, Value>) -> Result<(), GraphFailure> {
    let kind = text(object, "@odata.type")
        .and_then(|t| canonical(EXTENSION_TYPES, t))
        .ok_or_else(|| invalid(NOT_A_SUBTYPE))?;
    object.insert("@odata.type".into(), json!(kind));
    if text(object, "displayName").is_none_or(|n| n.trim().is_empty()) {
        return Err(invalid("displayName is required."));
    }
    match object.get("endpointConfiguration") {
        None | Some(Value::Null) => {}
        Some(Value::Object(endpoint)) => {
            if text(endpoint, "@odata.type") != Some("#microsoft.graph.httpRequestEndpoint") {
                return Err(invalid(
                    "endpointConfiguration must be a #microsoft.graph.httpRequestEndpoint.",
                ));
            }
            let target = text(endpoint, "targetUrl").unwrap_or_default();
            if url::Url::parse(target).map_or(true, |u| u.host_str().is_none()) {
                return Err(invalid(format!("targetUrl '{target}' is not a URL.")));
            }
        }
        Some(_) => return Err(invalid("endpointConfiguration must be an object.")),
    }
    match object.get("authenticationConfiguration") {
        None | Some(Value::Null) => {}
        Some(Value::Object(auth)) => {
            if text(auth, "@odata.type") != Some("#microsoft.graph.azureAdTokenAuthentication") {
                return Err(invalid(
                    "authenticationConfiguration must be a #microsoft.graph.azureAdTokenAuthentication.",
                ));
            }
        }
        Some(_) => return Err(invalid("authenticationConfiguration must be an object.")),
    }
    if let Some(Value::Object(client)) = object.get("clientConfiguration") {
        let number = |key: &str| client.get(key).and_then(Value::as_i64);
        if number("timeoutInMilliseconds").is_some_and(|t| !(200..=2000).contains(&t)) {
            return Err(invalid(
                "timeoutInMilliseconds must be between 200 and 2000.",
            ));
        }
        if number("maximumRetries").is_some_and(|r| !(0..=1).contains(&r)) {
            return Err(invalid("maximumRetries must be 0 or 1."));
        }
    }
    Ok(())
}

/// Checks a listener body and normalises its types; `extensions` resolves the handler's extension.
fn check_listener(
    object: &mut Map<String, Value>,
    extensions: &[Map<String, Value>],
) -> Result<(), GraphFailure> {
    let (kind, handler_type, extension_type) = text(object, "@odata.type")
        .and_then(|t| {
            LISTENER_TYPES
                .into_iter()
                .find(|(k, _, _)| canonical([*k], t).is_some())
        })
        .ok_or_else(|| {
            invalid("The listener should be of a subtype of AuthenticationEventListener")
        })?;
    object.insert("@odata.type".into(), json!(kind));
    let Some(Value::Object(handler)) = object.get_mut("handler") else {
        return Err(invalid("A listener needs a handler."));
    };
    if text(handler, "@odata.type").and_then(|t| canonical([handler_type], t)) != Some(handler_type)
    {
        return Err(invalid(format!(
            "The handler of a {kind} must be a {handler_type}."
        )));
    }
    handler.insert("@odata.type".into(), json!(handler_type));
    let extension_id = handler
        .get("customExtension")
        .and_then(Value::as_object)
        .and_then(|e| text(e, "id"))
        .ok_or_else(|| invalid("handler.customExtension.id is required."))?;
    let extension = find(extensions, extension_id)
        .ok_or_else(|| invalid(format!("Custom extension '{extension_id}' was not found.")))?;
    if text(extension, "@odata.type") != Some(extension_type) {
        return Err(invalid(format!(
            "A {kind} calls a {extension_type}; '{extension_id}' is not one."
        )));
    }
    if let Some(applications) = object
        .get("conditions")
        .and_then(|c| c.get("applications"))
        .and_then(|a| a.get("includeApplications"))
    {
        let ok = applications.as_array().is_some_and(|apps| {
            apps.iter()
                .all(|a| a.get("appId").and_then(Value::as_str).is_some())
        });
        if !ok {
            return Err(invalid("includeApplications entries need an appId."));
        }
    }
    Ok(())
}

/// The routes of this module.
pub(crate) fn router() -> Router<Arc<SandboxState>> {
    Router::new()
        .route(
            "/v1.0/identity/customAuthenticationExtensions",
            get(list_extensions).post(create_extension),
        )
        .route(
            "/v1.0/identity/customAuthenticationExtensions/validateAuthenticationConfiguration",
            post(validate_proposed),
        )
        .route(
            "/v1.0/identity/customAuthenticationExtensions/{id}",
            get(get_extension)
                .patch(update_extension)
                .delete(delete_extension),
        )
        .route(
            "/v1.0/identity/customAuthenticationExtensions/{id}/validateAuthenticationConfiguration",
            post(validate_existing),
        )
        .route(
            "/v1.0/identity/authenticationEventListeners",
            get(list_listeners).post(create_listener),
        )
        .route(
            "/v1.0/identity/authenticationEventListeners/{id}",
            get(get_listener)
                .patch(update_listener)
                .delete(delete_listener),
        )
}

const EXTENSIONS_SET: &str = "identity/customAuthenticationExtensions";
const LISTENERS_SET: &str = "identity/authenticationEventListeners";

fn entity_context(state: &SandboxState, set: &str) -> String {
    format!("{}/v1.0/$metadata#{set}/$entity", state.base_url)
}

async fn list_extensions(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    let options = QueryOptions::parse(query.as_deref(), false)?;
    let items = lock(&state.tenant_config.extensions)
        .extensions
        .iter()
        .map(|e| (None, e.clone()))
        .collect();
    let body = options.collection(&state.base_url, uri.path(), EXTENSIONS_SET, items, None);
    Ok(axum::Json(body).into_response())
}

async fn create_extension(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    body: Bytes,
) -> Reply {
    let mut object = json_object(&body)?;
    object.remove("id");
    object.remove("@odata.context");
    check_extension(&mut object)?;
    object.insert("id".into(), json!(new_id()));
    {
        let mut store = lock(&state.tenant_config.extensions);
        if store.extensions.len() >= MAX_EXTENSIONS {
            return Err(invalid(
                "The tenant already has the maximum of 100 custom extension policies.",
            ));
        }
        store.extensions.push(object.clone());
    }
    let context = entity_context(&state, EXTENSIONS_SET);
    Ok((
        StatusCode::CREATED,
        axum::Json(with_context(object, context)),
    )
        .into_response())
}

async fn get_extension(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let object = find(&lock(&state.tenant_config.extensions).extensions, &id)
        .cloned()
        .ok_or_else(|| not_found(&id))?;
    let context = entity_context(&state, EXTENSIONS_SET);
    Ok(axum::Json(with_context(object, context)).into_response())
}

async fn update_extension(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let mut patch = json_object(&body)?;
    patch.remove("id");
    patch.remove("@odata.context");
    let kind = text(&patch, "@odata.type")
        .and_then(|t| canonical(EXTENSION_TYPES, t))
        .ok_or_else(|| invalid(NOT_A_SUBTYPE))?;
    let mut store = lock(&state.tenant_config.extensions);
    let index = position(&store.extensions, &id).ok_or_else(|| not_found(&id))?;
    let mut updated = store.extensions[index].clone();
    if text(&updated, "@odata.type") != Some(kind) {
        return Err(invalid(format!(
            "The type of custom extension '{id}' cannot change to {kind}."
        )));
    }
    merge(&mut updated, patch);
    check_extension(&mut updated)?;
    store.extensions[index] = updated;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_extension(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let mut store = lock(&state.tenant_config.extensions);
    let index = position(&store.extensions, &id).ok_or_else(|| not_found(&id))?;
    store.extensions.remove(index);
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn finding(code: &str, message: String) -> Value {
    json!({"code": code, "message": message})
}

/// The validation Graph performs on an endpoint + authentication configuration pair.
fn validate(
    state: &SandboxState,
    endpoint: Option<&Map<String, Value>>,
    authentication: Option<&Map<String, Value>>,
) -> Value {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let resource_id = authentication
        .and_then(|a| text(a, "resourceId"))
        .unwrap_or_default();
    let parsed = resource_id
        .strip_prefix("api://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(host, app_id)| {
            !host.is_empty() && !host.contains(':') && uuid::Uuid::parse_str(app_id).is_ok()
        });
    match parsed {
        None => errors.push(finding(
            "IncorrectResourceIdFormat",
            "ResourceId should be in the format of 'api://{fully qualified domain name}/{appid}'"
                .to_owned(),
        )),
        Some((host, app_id)) => {
            let target = endpoint
                .and_then(|e| text(e, "targetUrl"))
                .unwrap_or_default();
            let target_host = url::Url::parse(target)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            if !target_host.eq_ignore_ascii_case(host) {
                errors.push(finding(
                    "DomainNameDoesNotMatch",
                    format!(
                        "The domain name '{host}' of the resourceId does not match the domain name '{target_host}' of the targetUrl"
                    ),
                ));
            }
            match state.tenant_config.receive_payload_status(app_id) {
                ReceivePayload::NoServicePrincipal => errors.push(finding(
                    "ServicePrincipalNotFound",
                    format!("No service principal was found for the application '{app_id}' of the resourceId"),
                )),
                ReceivePayload::NotGranted => warnings.push(finding(
                    "PermissionNotGrantedToServicePrincipal",
                    PERMISSION_WARNING.to_owned(),
                )),
                ReceivePayload::Granted => {}
            }
        }
    }
    json!({
        "@odata.context": format!("{}/v1.0/$metadata#microsoft.graph.authenticationConfigurationValidation", state.base_url),
        "errors": errors,
        "warnings": warnings,
    })
}

/// Whether an extension API's service principal exists and holds `Receive.Payload`.
pub(crate) enum ReceivePayload {
    NoServicePrincipal,
    NotGranted,
    Granted,
}

async fn validate_existing(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let extension = find(&lock(&state.tenant_config.extensions).extensions, &id)
        .cloned()
        .ok_or_else(|| not_found(&id))?;
    let object = |key: &str| extension.get(key).and_then(Value::as_object);
    let body = validate(
        &state,
        object("endpointConfiguration"),
        object("authenticationConfiguration"),
    );
    Ok(axum::Json(body).into_response())
}

async fn validate_proposed(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    body: Bytes,
) -> Reply {
    let body = json_object(&body)?;
    let object = |key: &str| body.get(key).and_then(Value::as_object);
    let (Some(endpoint), Some(authentication)) = (
        object("endpointConfiguration"),
        object("authenticationConfiguration"),
    ) else {
        return Err(invalid(
            "endpointConfiguration and authenticationConfiguration are required.",
        ));
    };
    Ok(axum::Json(validate(&state, Some(endpoint), Some(authentication))).into_response())
}

async fn list_listeners(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    let options = QueryOptions::parse(query.as_deref(), false)?;
    let items = lock(&state.tenant_config.extensions)
        .listeners
        .iter()
        .map(|l| (None, l.clone()))
        .collect();
    let body = options.collection(&state.base_url, uri.path(), LISTENERS_SET, items, None);
    Ok(axum::Json(body).into_response())
}

async fn create_listener(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    body: Bytes,
) -> Reply {
    let mut object = json_object(&body)?;
    object.remove("id");
    object.remove("@odata.context");
    object.remove("authenticationEventsFlowId");
    let object = {
        let mut store = lock(&state.tenant_config.extensions);
        check_listener(&mut object, &store.extensions)?;
        object.insert("id".into(), json!(new_id()));
        object.entry("priority").or_insert(json!(500));
        object.insert("authenticationEventsFlowId".into(), Value::Null);
        object.insert(
            "createdDateTime".into(),
            json!(iso_timestamp(std::time::SystemTime::now())),
        );
        store.listeners.push(object.clone());
        object
    };
    let context = entity_context(&state, LISTENERS_SET);
    Ok((
        StatusCode::CREATED,
        axum::Json(with_context(object, context)),
    )
        .into_response())
}

async fn get_listener(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let object = find(&lock(&state.tenant_config.extensions).listeners, &id)
        .cloned()
        .ok_or_else(|| not_found(&id))?;
    let context = entity_context(&state, LISTENERS_SET);
    Ok(axum::Json(with_context(object, context)).into_response())
}

async fn update_listener(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let mut patch = json_object(&body)?;
    patch.remove("id");
    patch.remove("@odata.context");
    patch.remove("authenticationEventsFlowId");
    let requested = text(&patch, "@odata.type")
        .map(str::to_owned)
        .ok_or_else(|| invalid("@odata.type is required when updating a listener."))?;
    let mut store = lock(&state.tenant_config.extensions);
    let index = position(&store.listeners, &id).ok_or_else(|| not_found(&id))?;
    let mut updated = store.listeners[index].clone();
    let current = text(&updated, "@odata.type").unwrap_or_default();
    if canonical([current], &requested).is_none() {
        return Err(invalid(format!(
            "The type of listener '{id}' cannot change to {requested}."
        )));
    }
    merge(&mut updated, patch);
    check_listener(&mut updated, &store.extensions)?;
    store.listeners[index] = updated;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_listener(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let mut store = lock(&state.tenant_config.extensions);
    let index = position(&store.listeners, &id).ok_or_else(|| not_found(&id))?;
    store.listeners.remove(index);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Direct access for tests.
impl Sandbox {
    /// Every stored custom authentication extension, as Graph would list it.
    pub fn custom_authentication_extensions(&self) -> Vec<Value> {
        lock(&self.state().tenant_config.extensions)
            .extensions
            .iter()
            .cloned()
            .map(Value::Object)
            .collect()
    }

    /// Every stored authentication event listener.
    pub fn authentication_event_listeners(&self) -> Vec<Value> {
        lock(&self.state().tenant_config.extensions)
            .listeners
            .iter()
            .cloned()
            .map(Value::Object)
            .collect()
    }
}
