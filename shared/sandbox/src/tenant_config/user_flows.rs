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
//! - custom attributes get `extension_{b2c-extensions-app}_{Name}` ids, only `string`, `boolean` and
//!   `int64` can be created, only `description` changes, built-ins cannot be deleted; duplicates are
//!   409;
//! - social providers' `clientSecret` is stored apart and always answered as `"******"`; built-in
//!   providers cannot be deleted, nor a provider a flow offers;
//! - eventual consistency on request ([`Sandbox::lag_new_flows`]): a new flow answers 404 to its
//!   next reads.

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
/// The sandbox's b2c-extensions-app id, without dashes: custom attributes are named after it.
pub const B2C_EXTENSIONS_APP: &str = "6ea3bc85aec24b1c92ff4a117afb6621";
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

/// Flows, attributes and identity providers of the tenant.
#[derive(Debug)]
pub struct FlowStore {
    attributes: Vec<Map<String, Value>>,
    providers: Vec<Map<String, Value>>,
    /// Social providers' secrets by provider id: kept, never served.
    secrets: BTreeMap<String, String>,
    flows: Vec<Flow>,
    lag: u32,
}

impl Default for FlowStore {
    fn default() -> Self {
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
            lag: 0,
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
        object
            .entry("onUserCreateStart")
            .or_insert_with(|| json!({"@odata.type": HANDLERS[3].1, "userTypeToCreate": "member"}));
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

/// The ids a navigation collection in a body names, checked against what exists.
fn named_ids(
    handler: Option<&Value>,
    collection: &str,
    exists: impl Fn(&str) -> Option<String>,
) -> Result<Option<Vec<String>>, GraphFailure> {
    let Some(items) = handler
        .and_then(|h| h.get(collection))
        .and_then(Value::as_array)
    else {
        return Ok(None);
    };
    items
        .iter()
        .map(|item| {
            let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
            exists(id).ok_or_else(|| invalid(format!("'{id}' in {collection} does not exist.")))
        })
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
        |id| store.provider(id).map(|_| id.to_owned()),
    )?
    .unwrap_or_default();
    let attributes = named_ids(object.get("onAttributeCollection"), "attributes", |id| {
        store.attribute_id(id)
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
    let lagging = store.lag;
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
    let index = store.flow_index(&id).ok_or_else(|| not_found(&id))?;
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
        |p| store.provider(p).map(|_| p.to_owned()),
    )?;
    if providers.as_ref().is_some_and(Vec::is_empty) {
        return Err(invalid("A user flow needs at least one identity provider."));
    }
    let attributes = named_ids(patch.get("onAttributeCollection"), "attributes", |a| {
        store.attribute_id(a)
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
    let index = store.flow_index(&id).ok_or_else(|| not_found(&id))?;
    store.flows.remove(index);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_apps(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let store = lock(&state.tenant_config.flows);
    let index = store.flow_index(&id).ok_or_else(|| not_found(&id))?;
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
    let index = store.flow_index(&id).ok_or_else(|| not_found(&id))?;
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
    let index = store.flow_index(&id).ok_or_else(|| not_found(&id))?;
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
    let store = lock(&state.tenant_config.flows);
    let index = store.flow_index(&id).ok_or_else(|| not_found(&id))?;
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
    let index = store.flow_index(&id).ok_or_else(|| not_found(&id))?;
    if store.provider(&provider).is_none() {
        return Err(invalid(format!(
            "Identity provider '{provider}' does not exist."
        )));
    }
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
    let index = store.flow_index(&id).ok_or_else(|| not_found(&id))?;
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
    let store = lock(&state.tenant_config.flows);
    let index = store.flow_index(&id).ok_or_else(|| not_found(&id))?;
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
    let index = store.flow_index(&id).ok_or_else(|| not_found(&id))?;
    let attribute = store
        .attribute_id(&wanted)
        .ok_or_else(|| invalid(format!("Attribute '{wanted}' does not exist.")))?;
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
    let index = store.flow_index(&id).ok_or_else(|| not_found(&id))?;
    let attributes = &mut store.flows[index].attributes;
    let at = attributes
        .iter()
        .position(|a| a.eq_ignore_ascii_case(&attribute))
        .ok_or_else(|| not_found(&attribute))?;
    attributes.remove(at);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_attributes(_caller: Caller, State(state): State<Arc<SandboxState>>) -> Reply {
    let items = lock(&state.tenant_config.flows)
        .attributes
        .iter()
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
    let id = format!("extension_{B2C_EXTENSIONS_APP}_{name}");
    let created = object(json!({
        "id": id,
        "displayName": name,
        "description": text(&body, "description").unwrap_or_default(),
        "userFlowAttributeType": "custom",
        "dataType": data_type,
    }));
    store.attributes.push(created.clone());
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
    let attribute = lock(&state.tenant_config.flows)
        .attribute(&id)
        .cloned()
        .ok_or_else(|| not_found(&id))?;
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
    let attribute = store
        .attributes
        .iter_mut()
        .find(|a| text(a, "id").is_some_and(|known| known.eq_ignore_ascii_case(&id)))
        .ok_or_else(|| not_found(&id))?;
    merge(attribute, patch);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_attribute(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let mut store = lock(&state.tenant_config.flows);
    let at = store
        .attributes
        .iter()
        .position(|a| text(a, "id").is_some_and(|known| known.eq_ignore_ascii_case(&id)))
        .ok_or_else(|| not_found(&id))?;
    if text(&store.attributes[at], "userFlowAttributeType") != Some("custom") {
        return Err(invalid(format!(
            "Built-in attribute '{id}' cannot be deleted."
        )));
    }
    store.attributes.remove(at);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A provider as served: the secret masked.
fn masked(mut provider: Map<String, Value>) -> Value {
    if provider.contains_key("clientSecret") {
        provider.insert("clientSecret".into(), json!(MASKED));
    }
    Value::Object(provider)
}

async fn list_providers(_caller: Caller, State(state): State<Arc<SandboxState>>) -> Reply {
    let items = lock(&state.tenant_config.flows)
        .providers
        .iter()
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
    if text(&body, "@odata.type") != Some(SOCIAL_PROVIDER) {
        return Err(invalid(format!(
            "Only social identity providers can be created here ('@odata.type': '{SOCIAL_PROVIDER}')."
        )));
    }
    let kind = match text(&body, "identityProviderType") {
        Some(kind) if kind.eq_ignore_ascii_case("google") => "Google",
        Some(kind) if kind.eq_ignore_ascii_case("facebook") => "Facebook",
        other => {
            return Err(invalid(format!(
                "identityProviderType {other:?} is not supported; use Google or Facebook."
            )));
        }
    };
    let secret = text(&body, "clientSecret").unwrap_or_default().to_owned();
    if text(&body, "clientId").is_none_or(str::is_empty) || secret.is_empty() {
        return Err(invalid("clientId and clientSecret are required."));
    }
    let id = format!("{kind}-OAUTH");
    let mut store = lock(&state.tenant_config.flows);
    if store.provider(&id).is_some() {
        return Err(conflict(format!(
            "Identity provider '{id}' already exists."
        )));
    }
    body.insert("id".into(), json!(id));
    body.insert("identityProviderType".into(), json!(kind));
    body.insert("clientSecret".into(), json!(MASKED));
    body.remove("@odata.context");
    store.secrets.insert(id, secret);
    store.providers.push(body.clone());
    let context = context(&state, "identity/identityProviders/$entity");
    Ok((StatusCode::CREATED, axum::Json(with_context(body, context))).into_response())
}

async fn get_provider(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let provider = lock(&state.tenant_config.flows)
        .provider(&id)
        .cloned()
        .ok_or_else(|| not_found(&id))?;
    Ok(axum::Json(masked(provider)).into_response())
}

async fn update_provider(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let mut patch = json_object(&body)?;
    patch.remove("id");
    patch.remove("@odata.type");
    if let Some(key) = patch
        .keys()
        .find(|key| !["displayName", "clientId", "clientSecret"].contains(&key.as_str()))
    {
        return Err(invalid(format!("'{key}' cannot be updated.")));
    }
    let mut store = lock(&state.tenant_config.flows);
    if let Some(secret) = patch
        .remove("clientSecret")
        .and_then(|s| s.as_str().map(str::to_owned))
    {
        store.secrets.insert(id.clone(), secret);
    }
    let provider = store
        .providers
        .iter_mut()
        .find(|p| text(p, "id") == Some(id.as_str()))
        .ok_or_else(|| not_found(&id))?;
    if text(provider, "@odata.type") == Some(BUILT_IN_PROVIDER) {
        return Err(invalid(format!(
            "Built-in identity provider '{id}' cannot be updated."
        )));
    }
    merge(provider, patch);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_provider(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let mut store = lock(&state.tenant_config.flows);
    let at = store
        .providers
        .iter()
        .position(|p| text(p, "id") == Some(id.as_str()))
        .ok_or_else(|| not_found(&id))?;
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
    store.secrets.remove(&id);
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

    /// Eventual consistency: every flow created from now on answers 404 to its next `reads` reads.
    pub fn lag_new_flows(&self, reads: u32) {
        lock(&self.state().tenant_config.flows).lag = reads;
    }
}
