//! `/v1.0/identity/authenticationEventsFlows` (user flows, their linked applications, identity
//! providers and attributes), `/v1.0/identity/userFlowAttributes` and
//! `/v1.0/identity/identityProviders` (docs/protocols/graph-api.md a.1-a.2 rows 1-22, A.1-A.5).
//!
//! Graph behaviour reproduced:
//! - a flow's `@odata.type` (`externalUsersSelfServiceSignUpEventsFlow`) and every handler's are
//!   required on `POST` and `PATCH` (400 otherwise); `displayName` is required and unique (409);
//! - the create answer carries the server id, `priority: 500` and
//!   `conditions.applications.includeAllApplications: false`, and **omits** the navigation
//!   collections (identity providers, attributes, linked applications); reads include them, with
//!   `onUserCreateStart` materialised as `userTypeToCreate: member`;
//! - a `PATCH` with `onAttributeCollection.attributeCollectionPage` replaces the whole page;
//! - `inputType` is read whatever its case and stored in the enum's spelling; inputs echo
//!   `defaultValue: null` and `options: []`;
//! - identity providers and attributes join a flow by `$ref` (the `@odata.id`'s last segment names
//!   them, whatever host or version); a joined attribute also gets a default input on the page, and
//!   leaving keeps the input until the page is set again (two calls, A.4); a flow keeps at least one
//!   identity provider (400, the sandbox's code);
//! - an application links to one flow at most (400 `Request_BadRequest`, the sandbox's choice);
//! - custom attributes get `extension_{b2c-extensions-app}_{Name}` ids (the sandbox's extension app
//!   stands in for the b2c-extensions-app, so users carry the same names), only `string`, `boolean` and
//!   `int64` can be created, only `description` changes, built-ins cannot be deleted; duplicates are
//!   409;
//! - social providers' `clientSecret` (and Apple's `certificateData`) is stored apart and always
//!   answered as `"******"`; provider writes need the provider's `@odata.type` (the documented create
//!   and update bodies carry it); built-in providers cannot be changed or deleted, nor a provider a
//!   flow offers; a second provider of a kind is 409;
//! - an object named by `$ref` that does not exist is 404, as for group members (row 46);
//! - eventual consistency on request ([`Sandbox::lag_new_flows`],
//!   [`Sandbox::lag_new_user_flow_attributes`], [`Sandbox::lag_new_identity_providers`]): a new
//!   object answers 404 to the next requests that address or name it, and lists leave it out.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

use super::{
    bad_request, conflict, json_object, lock, merge, new_id, not_found, text, with_context,
};
use crate::directory::{Caller, GraphFailure};
use crate::{Sandbox, SandboxState};

type Reply = Result<Response, GraphFailure>;

const FLOW_TYPE: &str = "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow";
const HANDLERS: [(&str, &str); 4] = [
    (
        "onAuthenticationMethodLoadStart",
        "#microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp",
    ),
    (
        "onInteractiveAuthFlowStart",
        "#microsoft.graph.onInteractiveAuthFlowStartExternalUsersSelfServiceSignUp",
    ),
    (
        "onAttributeCollection",
        "#microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp",
    ),
    (
        "onUserCreateStart",
        "#microsoft.graph.onUserCreateStartExternalUsersSelfServiceSignUp",
    ),
];
const INPUT_TYPES: [&str; 4] = [
    "text",
    "radioSingleSelect",
    "checkboxMultiSelect",
    "boolean",
];
const BUILT_IN_PROVIDER: &str = "#microsoft.graph.builtInIdentityProvider";
const SOCIAL_PROVIDER: &str = "#microsoft.graph.socialIdentityProvider";
/// Apple in an external tenant (documented on the beta create page: "appleManagedIdentityProvider
/// (external tenant only)").
const APPLE_PROVIDER: &str = "#microsoft.graph.appleManagedIdentityProvider";
/// The id Graph gives the Apple provider (seen only in third-party code: graph-api.md A.3,
/// **UNCERTAIN**).
const APPLE_PROVIDER_ID: &str = "Apple-Managed-OIDC";
const MASKED: &str = "******";

/// The built-in attributes: id and display name.
const BUILT_IN_ATTRIBUTES: [(&str, &str); 10] = [
    ("email", "Email Address"),
    ("displayName", "Display Name"),
    ("givenName", "Given Name"),
    ("surname", "Surname"),
    ("city", "City"),
    ("country", "Country/Region"),
    ("jobTitle", "Job Title"),
    ("postalCode", "Postal Code"),
    ("state", "State/Province"),
    ("streetAddress", "Street Address"),
];

/// One flow: its own properties, and its navigation collections kept apart.
#[derive(Debug, Clone)]
struct Flow {
    object: Map<String, Value>,
    providers: Vec<String>,
    attributes: Vec<String>,
    applications: Vec<String>,
    /// Reads still to answer 404 (eventual consistency).
    lagging: u32,
}

/// How many requests a newly created object of each kind answers 404 to (eventual consistency,
/// graph-api.md (c) rows 20-21); 0 = readable at once, the default.
#[derive(Debug, Clone, Copy, Default)]
struct Lag {
    flows: u32,
    attributes: u32,
    providers: u32,
}

/// Flows, attributes and identity providers of the tenant.
#[derive(Debug)]
pub struct FlowStore {
    attributes: Vec<Map<String, Value>>,
    providers: Vec<Map<String, Value>>,
    /// Social providers' secrets by provider id: kept, never served.
    secrets: BTreeMap<String, String>,
    flows: Vec<Flow>,
    /// The b2c-extensions-app's client id without dashes: custom attributes are
    /// `extension_{it}_{Name}`, the same names user objects carry (graph-api.md A.5, A.8).
    extension_app: String,
    lag: Lag,
    /// Requests still to answer 404, by [`lag_key`] of a new attribute or provider.
    lagging: BTreeMap<String, u32>,
}

/// The key of an attribute (ids compare case-insensitively, A.4) or provider in `lagging`.
fn lag_key(kind: &str, id: &str) -> String {
    format!("{kind}:{}", id.to_ascii_lowercase())
}

impl FlowStore {
    /// The built-in attributes and identity providers every external tenant has; custom
    /// attributes will be named after `extension_app_id` (the tenant's b2c-extensions-app).
    pub fn new(extension_app_id: &str) -> Self {
        let attributes = BUILT_IN_ATTRIBUTES
            .iter()
            .map(|(id, name)| {
                object(json!({
                    "id": id,
                    "displayName": name,
                    "description": format!("{name} of the user."),
                    "userFlowAttributeType": "builtIn",
                    "dataType": "string",
                }))
            })
            .collect();
        let providers = [
            (
                "EmailPassword-OAUTH",
                "Email with password",
                "EmailPassword",
            ),
            (
                "EmailOtpSignup-OAUTH",
                "Email one-time passcode",
                "EmailOTP",
            ),
        ]
        .iter()
        .map(|(id, name, kind)| {
            object(json!({
                "@odata.type": BUILT_IN_PROVIDER,
                "id": id,
                "displayName": name,
                "identityProviderType": kind,
                "state": null,
            }))
        })
        .collect();
        Self {
            attributes,
            providers,
            secrets: BTreeMap::new(),
            flows: Vec::new(),
            extension_app: extension_app_id.replace('-', ""),
            lag: Lag::default(),
            lagging: BTreeMap::new(),
        }
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl FlowStore {
    /// Counts one request against the lag of `key`: whether the object must still look absent.
    fn still_lagging(&mut self, key: &str) -> bool {
        match self.lagging.get_mut(key) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            Some(_) => {
                self.lagging.remove(key);
                false
            }
            None => false,
        }
    }

    /// Whether a new attribute or provider is still unseen, without counting a request (lists).
    fn hidden(&self, key: &str) -> bool {
        self.lagging.get(key).is_some_and(|left| *left > 0)
    }

    /// The attribute a request addresses: 404 if unknown or not readable yet.
    fn addressed_attribute(&mut self, id: &str) -> Result<usize, GraphFailure> {
        let at = self
            .attributes
            .iter()
            .position(|a| text(a, "id").is_some_and(|known| known.eq_ignore_ascii_case(id)))
            .ok_or_else(|| not_found(id))?;
        if self.still_lagging(&lag_key("attribute", id)) {
            return Err(not_found(id));
        }
        Ok(at)
    }

    /// The provider a request addresses: 404 if unknown or not readable yet.
    fn addressed_provider(&mut self, id: &str) -> Result<usize, GraphFailure> {
        let at = self
            .providers
            .iter()
            .position(|p| text(p, "id") == Some(id))
            .ok_or_else(|| not_found(id))?;
        if self.still_lagging(&lag_key("provider", id)) {
            return Err(not_found(id));
        }
        Ok(at)
    }

    /// The id of an attribute a flow body names: 400 if unknown (a bad body), 404 while a new one
    /// is not readable yet (so a client retrying what it just created gets there).
    fn named_attribute(&mut self, id: &str) -> Result<String, GraphFailure> {
        let known = self
            .attribute_id(id)
            .ok_or_else(|| invalid(format!("'{id}' in attributes does not exist.")))?;
        if self.still_lagging(&lag_key("attribute", &known)) {
            return Err(not_found(id));
        }
        Ok(known)
    }

    /// The id of a provider a flow body names, as [`Self::named_attribute`].
    fn named_provider(&mut self, id: &str) -> Result<String, GraphFailure> {
        if self.provider(id).is_none() {
            return Err(invalid(format!(
                "'{id}' in identityProviders does not exist."
            )));
        }
        if self.still_lagging(&lag_key("provider", id)) {
            return Err(not_found(id));
        }
        Ok(id.to_owned())
    }

    fn attribute_id(&self, id: &str) -> Option<String> {
        self.attributes
            .iter()
            .filter_map(|attribute| text(attribute, "id"))
            .find(|known| known.eq_ignore_ascii_case(id))
            .map(str::to_owned)
    }

    fn attribute(&self, id: &str) -> Option<&Map<String, Value>> {
        self.attributes.iter().find(|attribute| {
            text(attribute, "id").is_some_and(|known| known.eq_ignore_ascii_case(id))
        })
    }

    fn provider(&self, id: &str) -> Option<&Map<String, Value>> {
        self.providers
            .iter()
            .find(|provider| text(provider, "id") == Some(id))
    }

    fn flow_index(&self, id: &str) -> Option<usize> {
        self.flows
            .iter()
            .position(|flow| text(&flow.object, "id") == Some(id))
    }

    /// The flow at `index` as Graph reads it: navigation collections filled in.
    fn read(&self, index: usize) -> Map<String, Value> {
        let flow = &self.flows[index];
        let mut object = flow.object.clone();
        let providers: Vec<Value> = flow
            .providers
            .iter()
            .filter_map(|id| self.provider(id).cloned().map(Value::Object))
            .collect();
        let attributes: Vec<Value> = flow
            .attributes
            .iter()
            .filter_map(|id| self.attribute(id).cloned().map(Value::Object))
            .collect();
        object.insert(
            "onAuthenticationMethodLoadStart".into(),
            json!({"@odata.type": HANDLERS[0].1, "identityProviders": providers}),
        );
        let collection = object
            .entry("onAttributeCollection")
            .or_insert_with(|| json!({"@odata.type": HANDLERS[2].1}));
        if let Value::Object(collection) = collection {
            collection.insert("attributes".into(), json!(attributes));
        }
        object.insert(
            "conditions".into(),
            json!({"applications": {
                "includeAllApplications": false,
                "includeApplications": flow.applications.iter().map(|app| json!({"appId": app})).collect::<Vec<_>>(),
            }}),
        );
        // The create answer says `null`; reads show the default (A.1.2 quirks).
        let user_create = object.entry("onUserCreateStart").or_insert(Value::Null);
        if user_create.is_null() {
            *user_create = json!({"@odata.type": HANDLERS[3].1, "userTypeToCreate": "member"});
        }
        object
    }
}

fn invalid(message: impl Into<String>) -> GraphFailure {
    bad_request("Request_BadRequest", message)
}

/// The last path segment of an `@odata.id` (`…/identityProviders/Google-OAUTH` → `Google-OAUTH`).
fn referenced(body: &Bytes) -> Result<String, GraphFailure> {
    let body = json_object(body)?;
    text(&body, "@odata.id")
        .and_then(|url| url.trim_end_matches('/').rsplit('/').next())
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| invalid("The request body needs an @odata.id naming the object."))
}

/// Checks the handler objects of a flow body and normalises its page's inputs.
fn check_handlers(object: &mut Map<String, Value>) -> Result<(), GraphFailure> {
    for (property, odata_type) in HANDLERS {
        let Some(handler) = object.get_mut(property) else {
            continue;
        };
        let Value::Object(handler) = handler else {
            if handler.is_null() {
                continue;
            }
            return Err(invalid(format!("{property} must be an object.")));
        };
        if text(handler, "@odata.type") != Some(odata_type) {
            return Err(invalid(format!(
                "{property} needs '@odata.type': '{odata_type}'."
            )));
        }
        if let Some(Value::Object(page)) = handler.get_mut("attributeCollectionPage") {
            for view in page
                .get_mut("views")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                for input in view
                    .get_mut("inputs")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    normalise_input(input)?;
                }
            }
        }
    }
    Ok(())
}

fn normalise_input(input: &mut Value) -> Result<(), GraphFailure> {
    let Value::Object(input) = input else {
        return Err(invalid("Each input must be an object."));
    };
    if text(input, "attribute").is_none_or(str::is_empty) || text(input, "label").is_none() {
        return Err(invalid("Each input needs an attribute and a label."));
    }
    let kind = text(input, "inputType").unwrap_or_default();
    let canonical = INPUT_TYPES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(kind))
        .ok_or_else(|| invalid(format!("'{kind}' is not an inputType.")))?;
    input.insert("inputType".into(), json!(canonical));
    input.entry("defaultValue").or_insert(Value::Null);
    input.entry("options").or_insert(json!([]));
    Ok(())
}

/// The ids a navigation collection in a body names, each resolved by `resolve` (400 if unknown,
/// 404 while not readable yet).
fn named_ids(
    handler: Option<&Value>,
    collection: &str,
    mut resolve: impl FnMut(&str) -> Result<String, GraphFailure>,
) -> Result<Option<Vec<String>>, GraphFailure> {
    let Some(items) = handler
        .and_then(|h| h.get(collection))
        .and_then(Value::as_array)
    else {
        return Ok(None);
    };
    items
        .iter()
        .map(|item| resolve(item.get("id").and_then(Value::as_str).unwrap_or_default()))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

pub(crate) fn router() -> Router<Arc<SandboxState>> {
    const FLOW: &str = "/v1.0/identity/authenticationEventsFlows/{id}";
    const CAST: &str = "microsoft.graph.externalUsersSelfServiceSignUpEventsFlow";
    let idps = format!(
        "{FLOW}/{CAST}/onAuthenticationMethodLoadStart/microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp/identityProviders"
    );
    let attrs = format!(
        "{FLOW}/{CAST}/onAttributeCollection/microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp/attributes"
    );
    Router::new()
        .route(
            "/v1.0/identity/authenticationEventsFlows",
            get(list_flows).post(create_flow),
        )
        .route(FLOW, get(get_flow).patch(update_flow).delete(delete_flow))
        .route(
            &format!("{FLOW}/conditions/applications/includeApplications"),
            get(list_apps).post(link_app),
        )
        .route(
            &format!("{FLOW}/conditions/applications/includeApplications/{{app}}"),
            delete(unlink_app),
        )
        .route(&idps, get(list_flow_providers))
        .route(&format!("{idps}/$ref"), post(add_flow_provider))
        .route(
            &format!("{idps}/{{item}}/$ref"),
            delete(remove_flow_provider),
        )
        .route(&attrs, get(list_flow_attributes))
        .route(&format!("{attrs}/$ref"), post(add_flow_attribute))
        .route(
            &format!("{attrs}/{{item}}/$ref"),
            delete(remove_flow_attribute),
        )
        .route(
            "/v1.0/identity/userFlowAttributes",
            get(list_attributes).post(create_attribute),
        )
        .route(
            "/v1.0/identity/userFlowAttributes/{id}",
            get(get_attribute)
                .patch(update_attribute)
                .delete(delete_attribute),
        )
        .route(
            "/v1.0/identity/identityProviders",
            get(list_providers).post(create_provider),
        )
        .route(
            "/v1.0/identity/identityProviders/{id}",
            get(get_provider)
                .patch(update_provider)
                .delete(delete_provider),
        )
}

fn context(state: &SandboxState, rest: &str) -> String {
    format!("{}/v1.0/$metadata#{rest}", state.base_url)
}

fn collection(state: &SandboxState, set: &str, items: Vec<Value>) -> Response {
    axum::Json(json!({"@odata.context": context(state, set), "value": items})).into_response()
}

async fn list_flows(_caller: Caller, State(state): State<Arc<SandboxState>>) -> Reply {
    let store = lock(&state.tenant_config.flows);
    let items = (0..store.flows.len())
        .filter(|index| store.flows[*index].lagging == 0)
        .map(|index| Value::Object(store.read(index)))
        .collect();
    Ok(collection(
        &state,
        "identity/authenticationEventsFlows",
        items,
    ))
}

async fn create_flow(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    body: Bytes,
) -> Reply {
    let mut object = json_object(&body)?;
    object.remove("id");
    object.remove("@odata.context");
    if text(&object, "@odata.type") != Some(FLOW_TYPE) {
        return Err(invalid(format!(
            "The user flow needs '@odata.type': '{FLOW_TYPE}'."
        )));
    }
    let name = text(&object, "displayName").unwrap_or_default().to_owned();
    if name.is_empty() {
        return Err(invalid("displayName is required."));
    }
    check_handlers(&mut object)?;
    let mut store = lock(&state.tenant_config.flows);
    if store
        .flows
        .iter()
        .any(|flow| text(&flow.object, "displayName") == Some(name.as_str()))
    {
        return Err(conflict(format!(
            "A user flow named '{name}' already exists."
        )));
    }
    let providers = named_ids(
        object.get("onAuthenticationMethodLoadStart"),
        "identityProviders",
        |id| store.named_provider(id),
    )?
    .unwrap_or_default();
    let attributes = named_ids(object.get("onAttributeCollection"), "attributes", |id| {
        store.named_attribute(id)
    })?
    .unwrap_or_default();
    let applications: Vec<String> = object
        .get("conditions")
        .and_then(|c| c.pointer("/applications/includeApplications"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|app| app.get("appId").and_then(Value::as_str).map(str::to_owned))
        .collect();
    for app in &applications {
        if store
            .flows
            .iter()
            .any(|flow| flow.applications.contains(app))
        {
            return Err(invalid(format!(
                "Application '{app}' is already linked to a user flow."
            )));
        }
    }
    // Navigation collections are kept apart and left out of the answer.
    for (handler, collection) in [
        ("onAuthenticationMethodLoadStart", "identityProviders"),
        ("onAttributeCollection", "attributes"),
    ] {
        if let Some(Value::Object(handler)) = object.get_mut(handler) {
            handler.remove(collection);
        }
    }
    let id = new_id();
    object.insert("id".into(), json!(id));
    object.entry("priority").or_insert(json!(500));
    object.insert(
        "conditions".into(),
        json!({"applications": {"includeAllApplications": false}}),
    );
    for (property, _) in HANDLERS {
        object.entry(property).or_insert(Value::Null);
    }
    let answer = object.clone();
    let lagging = store.lag.flows;
    store.flows.push(Flow {
        object,
        providers,
        attributes,
        applications,
        lagging,
    });
    let context = context(&state, "identity/authenticationEventsFlows/$entity");
    Ok((
        StatusCode::CREATED,
        axum::Json(with_context(answer, context)),
    )
        .into_response())
}

/// The index of flow `id`, counting a read against its lag.
fn readable(store: &mut FlowStore, id: &str) -> Result<usize, GraphFailure> {
    let index = store.flow_index(id).ok_or_else(|| not_found(id))?;
    let flow = &mut store.flows[index];
    if flow.lagging > 0 {
        flow.lagging -= 1;
        return Err(not_found(id));
    }
    Ok(index)
}

async fn get_flow(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let mut store = lock(&state.tenant_config.flows);
    let index = readable(&mut store, &id)?;
    let context = context(&state, "identity/authenticationEventsFlows/$entity");
    Ok(axum::Json(with_context(store.read(index), context)).into_response())
}

async fn update_flow(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let mut patch = json_object(&body)?;
    patch.remove("id");
    patch.remove("@odata.context");
    if text(&patch, "@odata.type") != Some(FLOW_TYPE) {
        return Err(invalid(format!(
            "The update needs '@odata.type': '{FLOW_TYPE}'."
        )));
    }
    check_handlers(&mut patch)?;
    let mut store = lock(&state.tenant_config.flows);
    let index = readable(&mut store, &id)?;
    if let Some(name) = text(&patch, "displayName")
        && store
            .flows
            .iter()
            .enumerate()
            .any(|(other, flow)| other != index && text(&flow.object, "displayName") == Some(name))
    {
        return Err(conflict(format!(
            "A user flow named '{name}' already exists."
        )));
    }
    let providers = named_ids(
        patch.get("onAuthenticationMethodLoadStart"),
        "identityProviders",
        |p| store.named_provider(p),
    )?;
    if providers.as_ref().is_some_and(Vec::is_empty) {
        return Err(invalid("A user flow needs at least one identity provider."));
    }
    let attributes = named_ids(patch.get("onAttributeCollection"), "attributes", |a| {
        store.named_attribute(a)
    })?;
    patch.remove("onAuthenticationMethodLoadStart");
    patch.remove("conditions");
    // The page is replaced whole, not merged.
    let page = match patch.get_mut("onAttributeCollection") {
        Some(Value::Object(collection)) => {
            collection.remove("attributes");
            collection.remove("attributeCollectionPage")
        }
        _ => None,
    };
    let flow = &mut store.flows[index];
    merge(&mut flow.object, patch);
    if let Some(page) = page {
        let collection = flow
            .object
            .entry("onAttributeCollection")
            .or_insert(Value::Null);
        if !collection.is_object() {
            *collection = json!({"@odata.type": HANDLERS[2].1});
        }
        collection["attributeCollectionPage"] = page;
    }
    if let Some(providers) = providers {
        flow.providers = providers;
    }
    if let Some(attributes) = attributes {
        flow.attributes = attributes;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_flow(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let mut store = lock(&state.tenant_config.flows);
    let index = readable(&mut store, &id)?;
    store.flows.remove(index);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_apps(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let mut store = lock(&state.tenant_config.flows);
    let index = readable(&mut store, &id)?;
    let items = store.flows[index]
        .applications
        .iter()
        .map(|app| json!({"appId": app}))
        .collect();
    let set = format!(
        "identity/authenticationEventsFlows('{id}')/conditions/applications/includeApplications"
    );
    Ok(collection(&state, &set, items))
}

async fn link_app(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let body = json_object(&body)?;
    if text(&body, "@odata.type") != Some("#microsoft.graph.authenticationConditionApplication") {
        return Err(invalid(
            "The body needs '@odata.type': '#microsoft.graph.authenticationConditionApplication'.",
        ));
    }
    let app = text(&body, "appId")
        .filter(|app| !app.is_empty())
        .ok_or_else(|| invalid("appId is required."))?
        .to_owned();
    let mut store = lock(&state.tenant_config.flows);
    let index = readable(&mut store, &id)?;
    if store
        .flows
        .iter()
        .any(|flow| flow.applications.contains(&app))
    {
        return Err(invalid(format!(
            "Application '{app}' is already linked to a user flow."
        )));
    }
    store.flows[index].applications.push(app.clone());
    let context = context(
        &state,
        &format!(
            "identity/authenticationEventsFlows('{id}')/conditions/applications/includeApplications/$entity"
        ),
    );
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"@odata.context": context, "appId": app})),
    )
        .into_response())
}

async fn unlink_app(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path((id, app)): Path<(String, String)>,
) -> Reply {
    let mut store = lock(&state.tenant_config.flows);
    let index = readable(&mut store, &id)?;
    let apps = &mut store.flows[index].applications;
    let at = apps
        .iter()
        .position(|linked| *linked == app)
        .ok_or_else(|| not_found(&app))?;
    apps.remove(at);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_flow_providers(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let mut store = lock(&state.tenant_config.flows);
    let index = readable(&mut store, &id)?;
    let items = store.flows[index]
        .providers
        .iter()
        .filter_map(|p| store.provider(p).cloned().map(Value::Object))
        .collect();
    Ok(collection(
        &state,
        "Collection(microsoft.graph.identityProviderBase)",
        items,
    ))
}

async fn add_flow_provider(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let provider = referenced(&body)?;
    let mut store = lock(&state.tenant_config.flows);
    let index = readable(&mut store, &id)?;
    // An unknown object named by `$ref` is a 404, as for group members (graph-api.md row 46).
    store.addressed_provider(&provider)?;
    let providers = &mut store.flows[index].providers;
    if !providers.contains(&provider) {
        providers.push(provider);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove_flow_provider(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path((id, provider)): Path<(String, String)>,
) -> Reply {
    let mut store = lock(&state.tenant_config.flows);
    let index = readable(&mut store, &id)?;
    let providers = &mut store.flows[index].providers;
    let at = providers
        .iter()
        .position(|p| *p == provider)
        .ok_or_else(|| not_found(&provider))?;
    if providers.len() == 1 {
        return Err(invalid("A user flow needs at least one identity provider."));
    }
    providers.remove(at);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_flow_attributes(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let mut store = lock(&state.tenant_config.flows);
    let index = readable(&mut store, &id)?;
    let items = store.flows[index]
        .attributes
        .iter()
        .filter_map(|a| store.attribute(a).cloned().map(Value::Object))
        .collect();
    Ok(collection(
        &state,
        "Collection(microsoft.graph.identityUserFlowAttribute)",
        items,
    ))
}

async fn add_flow_attribute(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let wanted = referenced(&body)?;
    let mut store = lock(&state.tenant_config.flows);
    let index = readable(&mut store, &id)?;
    let at = store.addressed_attribute(&wanted)?;
    let attribute = text(&store.attributes[at], "id")
        .unwrap_or(&wanted)
        .to_owned();
    let label = store
        .attribute(&attribute)
        .and_then(|a| text(a, "displayName"))
        .unwrap_or(&attribute)
        .to_owned();
    let flow = &mut store.flows[index];
    if flow
        .attributes
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&attribute))
    {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    flow.attributes.push(attribute.clone());
    // Graph also puts the attribute on the page with default settings.
    let collection = flow
        .object
        .entry("onAttributeCollection")
        .or_insert(Value::Null);
    if !collection.is_object() {
        *collection = json!({"@odata.type": HANDLERS[2].1});
    }
    if collection
        .get("attributeCollectionPage")
        .is_none_or(Value::is_null)
    {
        collection["attributeCollectionPage"] = json!({"views": [{"inputs": []}]});
    }
    let views = &mut collection["attributeCollectionPage"]["views"];
    if views.as_array().is_none_or(Vec::is_empty) {
        *views = json!([{"inputs": []}]);
    }
    if let Some(inputs) = views[0]["inputs"].as_array_mut() {
        inputs.push(json!({
            "attribute": attribute, "label": label, "inputType": "text", "hidden": false,
            "editable": true, "writeToDirectory": true, "required": false,
            "validationRegEx": null, "defaultValue": null, "options": [],
        }));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove_flow_attribute(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path((id, attribute)): Path<(String, String)>,
) -> Reply {
    let mut store = lock(&state.tenant_config.flows);
    let index = readable(&mut store, &id)?;
    let attributes = &mut store.flows[index].attributes;
    let at = attributes
        .iter()
        .position(|a| a.eq_ignore_ascii_case(&attribute))
        .ok_or_else(|| not_found(&attribute))?;
    attributes.remove(at);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_attributes(_caller: Caller, State(state): State<Arc<SandboxState>>) -> Reply {
    let store = lock(&state.tenant_config.flows);
    let items = store
        .attributes
        .iter()
        .filter(|a| !store.hidden(&lag_key("attribute", text(a, "id").unwrap_or_default())))
        .cloned()
        .map(Value::Object)
        .collect();
    Ok(collection(&state, "identity/userFlowAttributes", items))
}

async fn create_attribute(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    body: Bytes,
) -> Reply {
    let body = json_object(&body)?;
    let name = text(&body, "displayName").unwrap_or_default().to_owned();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid(
            "displayName is required: letters, digits and underscores.",
        ));
    }
    let data_type = text(&body, "dataType").unwrap_or_default().to_owned();
    if !["string", "boolean", "int64"].contains(&data_type.as_str()) {
        return Err(invalid(format!(
            "dataType '{data_type}' cannot be created; use string, boolean or int64."
        )));
    }
    let mut store = lock(&state.tenant_config.flows);
    if store
        .attributes
        .iter()
        .any(|a| text(a, "displayName").is_some_and(|n| n.eq_ignore_ascii_case(&name)))
    {
        return Err(conflict(format!(
            "An attribute named '{name}' already exists."
        )));
    }
    let id = format!("extension_{}_{name}", store.extension_app);
    let created = object(json!({
        "id": id,
        "displayName": name,
        "description": text(&body, "description").unwrap_or_default(),
        "userFlowAttributeType": "custom",
        "dataType": data_type,
    }));
    store.attributes.push(created.clone());
    if store.lag.attributes > 0 {
        let lag = store.lag.attributes;
        store.lagging.insert(lag_key("attribute", &id), lag);
    }
    let mut response = (
        StatusCode::CREATED,
        axum::Json(with_context(
            created,
            context(&state, "identity/userFlowAttributes/$entity"),
        )),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/identity/userFlowAttributes('{id}')")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn get_attribute(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let mut store = lock(&state.tenant_config.flows);
    let at = store.addressed_attribute(&id)?;
    let attribute = store.attributes[at].clone();
    let context = context(&state, "identity/userFlowAttributes/$entity");
    Ok(axum::Json(with_context(attribute, context)).into_response())
}

async fn update_attribute(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let patch = json_object(&body)?;
    if let Some(key) = patch.keys().find(|key| key.as_str() != "description") {
        return Err(invalid(format!(
            "Only description can be updated, not '{key}'."
        )));
    }
    let mut store = lock(&state.tenant_config.flows);
    let at = store.addressed_attribute(&id)?;
    merge(&mut store.attributes[at], patch);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_attribute(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let mut store = lock(&state.tenant_config.flows);
    let at = store.addressed_attribute(&id)?;
    if text(&store.attributes[at], "userFlowAttributeType") != Some("custom") {
        return Err(invalid(format!(
            "Built-in attribute '{id}' cannot be deleted."
        )));
    }
    store.attributes.remove(at);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The write-only properties of each provider type: kept apart, answered as `"******"`.
const SECRET_PROPERTIES: [&str; 2] = ["clientSecret", "certificateData"];

/// A provider as served: its secrets masked.
fn masked(mut provider: Map<String, Value>) -> Value {
    for property in SECRET_PROPERTIES {
        if provider.contains_key(property) {
            provider.insert(property.into(), json!(MASKED));
        }
    }
    Value::Object(provider)
}

/// What a provider type needs on create and accepts on update: its `@odata.type`, the properties
/// a create must carry, and every property a `PATCH` may change.
struct ProviderShape {
    odata_type: &'static str,
    required: &'static [&'static str],
    updatable: &'static [&'static str],
}

const SOCIAL_SHAPE: ProviderShape = ProviderShape {
    odata_type: SOCIAL_PROVIDER,
    required: &["clientId", "clientSecret"],
    updatable: &["displayName", "clientId", "clientSecret"],
};
const APPLE_SHAPE: ProviderShape = ProviderShape {
    odata_type: APPLE_PROVIDER,
    required: &["developerId", "serviceId", "keyId", "certificateData"],
    updatable: &[
        "displayName",
        "developerId",
        "serviceId",
        "keyId",
        "certificateData",
    ],
};

fn shape_of(odata_type: Option<&str>) -> Option<&'static ProviderShape> {
    [&SOCIAL_SHAPE, &APPLE_SHAPE]
        .into_iter()
        .find(|shape| Some(shape.odata_type) == odata_type)
}

/// Moves the secrets out of `body` into the store, leaving the mask in their place.
fn keep_secrets(store: &mut FlowStore, id: &str, body: &mut Map<String, Value>) {
    for property in SECRET_PROPERTIES {
        if let Some(secret) = body.get(property).and_then(Value::as_str) {
            store
                .secrets
                .insert(secret_key(id, property), secret.to_owned());
            body.insert(property.into(), json!(MASKED));
        }
    }
}

/// Where a provider's secret property is kept: the client secret under the bare id (what
/// [`Sandbox::identity_provider_secret`] reads), others under `{id}/{property}`.
fn secret_key(id: &str, property: &str) -> String {
    if property == "clientSecret" {
        id.to_owned()
    } else {
        format!("{id}/{property}")
    }
}

async fn list_providers(_caller: Caller, State(state): State<Arc<SandboxState>>) -> Reply {
    let store = lock(&state.tenant_config.flows);
    let items = store
        .providers
        .iter()
        .filter(|p| !store.hidden(&lag_key("provider", text(p, "id").unwrap_or_default())))
        .cloned()
        .map(masked)
        .collect();
    Ok(collection(&state, "identity/identityProviders", items))
}

async fn create_provider(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    body: Bytes,
) -> Reply {
    let mut body = json_object(&body)?;
    body.remove("@odata.context");
    let shape = shape_of(text(&body, "@odata.type")).ok_or_else(|| {
        invalid(format!(
            "An identity provider needs '@odata.type': '{SOCIAL_PROVIDER}' (Google, Facebook) or '{APPLE_PROVIDER}' (Apple)."
        ))
    })?;
    let id = if shape.odata_type == APPLE_PROVIDER {
        body.insert("identityProviderType".into(), json!("Apple"));
        APPLE_PROVIDER_ID.to_owned()
    } else {
        let kind = match text(&body, "identityProviderType") {
            Some(kind) if kind.eq_ignore_ascii_case("google") => "Google",
            Some(kind) if kind.eq_ignore_ascii_case("facebook") => "Facebook",
            other => {
                return Err(invalid(format!(
                    "identityProviderType {other:?} is not supported; use Google or Facebook."
                )));
            }
        };
        body.insert("identityProviderType".into(), json!(kind));
        format!("{kind}-OAUTH")
    };
    if let Some(missing) = shape
        .required
        .iter()
        .find(|property| text(&body, property).is_none_or(str::is_empty))
    {
        return Err(invalid(format!("{missing} is required.")));
    }
    let mut store = lock(&state.tenant_config.flows);
    if store.provider(&id).is_some() {
        return Err(conflict(format!(
            "Identity provider '{id}' already exists."
        )));
    }
    body.insert("id".into(), json!(id));
    keep_secrets(&mut store, &id, &mut body);
    if store.lag.providers > 0 {
        let lag = store.lag.providers;
        store.lagging.insert(lag_key("provider", &id), lag);
    }
    store.providers.push(body.clone());
    let context = context(&state, "identity/identityProviders/$entity");
    Ok((StatusCode::CREATED, axum::Json(with_context(body, context))).into_response())
}

async fn get_provider(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let mut store = lock(&state.tenant_config.flows);
    let at = store.addressed_provider(&id)?;
    let provider = store.providers[at].clone();
    let context = context(&state, "identity/identityProviders/$entity");
    Ok(axum::Json(with_context(object(masked(provider)), context)).into_response())
}

async fn update_provider(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let mut patch = json_object(&body)?;
    patch.remove("id");
    patch.remove("@odata.context");
    let mut store = lock(&state.tenant_config.flows);
    let at = store.addressed_provider(&id)?;
    let stored_type = text(&store.providers[at], "@odata.type").map(str::to_owned);
    if stored_type.as_deref() == Some(BUILT_IN_PROVIDER) {
        return Err(invalid(format!(
            "Built-in identity provider '{id}' cannot be updated."
        )));
    }
    // The documented update body names the provider's type (identityproviderbase-update).
    let shape =
        shape_of(stored_type.as_deref()).ok_or_else(|| invalid("Unknown provider type."))?;
    if text(&patch, "@odata.type") != Some(shape.odata_type) {
        return Err(invalid(format!(
            "The update needs '@odata.type': '{}'.",
            shape.odata_type
        )));
    }
    patch.remove("@odata.type");
    if let Some(key) = patch
        .keys()
        .find(|key| !shape.updatable.contains(&key.as_str()))
    {
        return Err(invalid(format!("'{key}' cannot be updated.")));
    }
    keep_secrets(&mut store, &id, &mut patch);
    merge(&mut store.providers[at], patch);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_provider(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let mut store = lock(&state.tenant_config.flows);
    let at = store.addressed_provider(&id)?;
    if text(&store.providers[at], "@odata.type") == Some(BUILT_IN_PROVIDER) {
        return Err(invalid(format!(
            "Built-in identity provider '{id}' cannot be deleted."
        )));
    }
    if store.flows.iter().any(|flow| flow.providers.contains(&id)) {
        return Err(invalid(format!(
            "Identity provider '{id}' is used by a user flow; remove it from the flow first."
        )));
    }
    store.providers.remove(at);
    let prefix = format!("{id}/");
    store
        .secrets
        .retain(|key, _| key != &id && !key.starts_with(&prefix));
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Direct access for tests.
impl Sandbox {
    /// Every user flow as Graph reads it.
    pub fn user_flows(&self) -> Vec<Value> {
        let store = lock(&self.state().tenant_config.flows);
        (0..store.flows.len())
            .map(|index| Value::Object(store.read(index)))
            .collect()
    }

    /// Every user-flow attribute, built-in and custom.
    pub fn user_flow_attributes(&self) -> Vec<Value> {
        lock(&self.state().tenant_config.flows)
            .attributes
            .iter()
            .cloned()
            .map(Value::Object)
            .collect()
    }

    /// Every identity provider, secrets masked.
    pub fn identity_providers(&self) -> Vec<Value> {
        lock(&self.state().tenant_config.flows)
            .providers
            .iter()
            .cloned()
            .map(masked)
            .collect()
    }

    /// The client secret a social provider was given (what Graph never shows), for tests.
    pub fn identity_provider_secret(&self, id: &str) -> Option<String> {
        lock(&self.state().tenant_config.flows)
            .secrets
            .get(id)
            .cloned()
    }

    /// Eventual consistency: every flow created from now on answers 404 to its next `reads`
    /// requests (reads, updates, `$ref` and links alike) and is left out of lists until then.
    pub fn lag_new_flows(&self, reads: u32) {
        lock(&self.state().tenant_config.flows).lag.flows = reads;
    }

    /// Eventual consistency: every custom attribute created from now on answers 404 to its next
    /// `reads` requests that address or name it (its own URL, a flow's `$ref`, a flow body).
    pub fn lag_new_user_flow_attributes(&self, reads: u32) {
        lock(&self.state().tenant_config.flows).lag.attributes = reads;
    }

    /// Eventual consistency: every identity provider created from now on answers 404 to its next
    /// `reads` requests that address or name it.
    pub fn lag_new_identity_providers(&self, reads: u32) {
        lock(&self.state().tenant_config.flows).lag.providers = reads;
    }

    /// A secret property other than `clientSecret` a provider was given (Apple's
    /// `certificateData`), for tests.
    pub fn identity_provider_secret_property(&self, id: &str, property: &str) -> Option<String> {
        lock(&self.state().tenant_config.flows)
            .secrets
            .get(&secret_key(id, property))
            .cloned()
    }
}
