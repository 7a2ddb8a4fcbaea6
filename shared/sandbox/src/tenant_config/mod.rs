//! Tenant configuration served statefully: user flows, custom attributes and identity providers
//! ([`user_flows`]), the organization and its company branding
//! ([`branding`]), custom authentication extensions and event listeners ([`auth_extensions`]), and
//! the app-registration bootstrap ([`applications`]: applications, service principals, app role
//! assignments, client secrets, certificates, federated identity credentials).
//!
//! Contracts: docs/protocols/graph-api.md a.2-a.3, A.6-A.7 and (c); docs/protocols/tenant-lifecycle.md
//! §2 and its bootstrap row; docs/protocols/extension-callbacks.md (b)-(c). Like every Graph route
//! these sit behind the bearer check and the error envelope of [`crate::directory`], and behind the
//! fault layer.
//!
//! Where Microsoft documents no status or code for a refusal, the sandbox picks a plausible one and
//! the module says so; those are the answers a client must not branch on beyond the status class.

pub mod applications;
pub mod auth_extensions;
pub mod branding;
pub mod user_flows;

use std::sync::{Mutex, MutexGuard};

use axum::Router;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::directory::GraphFailure;
use crate::{SandboxConfig, SandboxState};

pub use applications::{
    MICROSOFT_GRAPH_APP_ID, MICROSOFT_GRAPH_APP_ROLES, RECEIVE_PAYLOAD_ROLE_ID,
};

/// The stores behind these routes, one lock each (a request takes at most one at a time).
#[derive(Debug)]
pub struct TenantConfigState {
    pub(crate) branding: Mutex<branding::BrandingStore>,
    pub(crate) extensions: Mutex<auth_extensions::ExtensionStore>,
    pub(crate) applications: Mutex<applications::ApplicationStore>,
    pub(crate) flows: Mutex<user_flows::FlowStore>,
}

impl TenantConfigState {
    /// Empty configuration for the tenant, with Microsoft Graph's service principal, the built-in
    /// user-flow attributes and identity providers seeded (they exist in every tenant).
    pub fn new(config: &SandboxConfig) -> Self {
        Self {
            branding: Mutex::new(branding::BrandingStore::default()),
            extensions: Mutex::new(auth_extensions::ExtensionStore::default()),
            applications: Mutex::new(applications::ApplicationStore::seeded()),
            flows: Mutex::new(user_flows::FlowStore::new(&config.extension_app_id)),
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every route of this module.
pub fn router() -> Router<std::sync::Arc<SandboxState>> {
    Router::new()
        .merge(branding::router())
        .merge(auth_extensions::router())
        .merge(applications::router())
        .merge(user_flows::router())
}

/// A JSON object body, else Graph's "Unable to read JSON request payload" 400.
pub(crate) fn json_object(body: &Bytes) -> Result<Map<String, Value>, GraphFailure> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(GraphFailure::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )),
    }
}

/// `404 Request_ResourceNotFound` for `key`.
pub(crate) fn not_found(key: &str) -> GraphFailure {
    GraphFailure::new(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        format!(
            "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

/// `400` with `code`.
pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> GraphFailure {
    GraphFailure::new(StatusCode::BAD_REQUEST, code, message)
}

/// `409` for a key that is taken (Graph documents no code for these resources; the directory's
/// uniqueness code is used).
pub(crate) fn conflict(message: impl Into<String>) -> GraphFailure {
    GraphFailure::new(
        StatusCode::CONFLICT,
        "Request_MultipleObjectsWithSameKeyValue",
        message,
    )
}

/// The object with `@odata.context` added.
pub(crate) fn with_context(mut object: Map<String, Value>, context: String) -> Value {
    object.insert("@odata.context".into(), json!(context));
    Value::Object(object)
}

/// `PATCH` semantics: members replace, nested objects merge, `null` removes.
pub(crate) fn merge(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        match (target.get_mut(&key), value) {
            (_, Value::Null) => {
                target.remove(&key);
            }
            (Some(Value::Object(existing)), Value::Object(incoming)) => merge(existing, incoming),
            (_, value) => {
                target.insert(key, value);
            }
        }
    }
}

/// The string member `key` of `object`.
pub(crate) fn text<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// A new object id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_merges_and_removes() {
        let mut target = json!({"a": 1, "b": {"c": 1, "d": 2}, "e": [1]})
            .as_object()
            .cloned()
            .unwrap();
        let patch = json!({"a": 2, "b": {"c": null, "x": 3}, "e": [2, 3], "f": "new"})
            .as_object()
            .cloned()
            .unwrap();
        merge(&mut target, patch);
        assert_eq!(
            Value::Object(target),
            json!({"a": 2, "b": {"d": 2, "x": 3}, "e": [2, 3], "f": "new"})
        );
    }
}
