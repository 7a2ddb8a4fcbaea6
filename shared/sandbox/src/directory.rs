//! A stateful subset of Microsoft Graph v1.0 for customer users and groups, under `/v1.0`.
//!
//! Contracts: docs/protocols/graph-api.md A.8 (users, identities, extension attributes), A.9 (groups
//! and membership) and (c) (client conventions), docs/protocols/change-notifications.md E.1-E.4 (error
//! envelope, status codes, paging). Every route requires a bearer token issued by
//! [`crate::token_endpoint`] (401 `InvalidAuthenticationToken` otherwise), answers errors in Graph's
//! envelope `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`, and
//! sets the `request-id` and `client-request-id` response headers.
//!
//! Faithful details a client has to cope with: users come back with Graph's default property set
//! unless `$select` asks for more (so `identities` and extension attributes need `$select`), `$count`
//! and `ne`/`not`/`endsWith` need `ConsistencyLevel: eventual`, next links must be followed verbatim
//! with the headers re-sent, adding an existing member is a 400 and removing a non-member a 404.

/// The `$filter` parser and evaluator.
pub mod filter;
pub(crate) mod odata;
mod seed;
mod store;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use axum::Router;
use axum::extract::{Extension, FromRequestParts, MatchedPath, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, Uri, header};
use serde_json::{Map, Value, json};

use crate::audit_logs::UserChange;
use crate::subscriptions::{self, DirectoryChange};
use crate::token_endpoint::AccessTokenStatus;
use crate::{Sandbox, SandboxConfig, SandboxError, SandboxState};
use odata::{QueryOptions, USER_DEFAULT_PROPERTIES};
use store::{Directory, ObjectKind};

pub use seed::{
    DEMO_EXTENSION_ATTRIBUTES, DEMO_FACEBOOK_USER_ID, DEMO_GOOGLE_SUBJECT, DEMO_GOOGLE_USER_ID,
    DEMO_GROUP_FRAUD_REVIEW_ID, DEMO_GROUP_GOLD_ID, DEMO_GROUP_NEWSLETTER_ID, DEMO_GROUP_SILVER_ID,
    DEMO_GROUP_VIP_ID, DEMO_USER_COUNT, DEMO_USER_EMAIL, DEMO_USER_ID, demo_user_id,
    extension_property,
};

/// The directory behind the Graph routes.
#[derive(Debug)]
pub struct DirectoryState {
    directory: Mutex<Directory>,
}

impl DirectoryState {
    /// An empty directory for the configured tenant, seeded with demo data when configured.
    pub fn new(config: &SandboxConfig) -> Self {
        let mut directory = Directory {
            domain: format!("{}.onmicrosoft.com", config.tenant_name),
            ..Directory::default()
        };
        if config.seed_demo_data {
            seed::seed(&mut directory, config);
        }
        Self {
            directory: Mutex::new(directory),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Directory> {
        self.directory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A Graph error before it is put into the envelope (which needs the request's ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GraphFailure {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl GraphFailure {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn unauthenticated(message: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    fn malformed_body() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    }
}

/// Handlers return the failure as a marker; [`graph_envelope`] renders it with the request's ids.
impl IntoResponse for GraphFailure {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// The correlation ids of one Graph request.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    pub(crate) request_id: String,
    pub(crate) client_request_id: String,
}

/// Middleware on every Graph route: assigns the request id, echoes `client-request-id`, and renders
/// failures (including axum's own 405) as Graph's error envelope.
async fn graph_envelope(mut request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| request_id.clone(), str::to_owned);
    let ids = RequestIds {
        request_id,
        client_request_id,
    };
    request.extensions_mut().insert(ids.clone());
    let mut response = next.run(request).await;
    let failure = response
        .extensions_mut()
        .remove::<GraphFailure>()
        .or_else(|| {
            (response.status() == StatusCode::METHOD_NOT_ALLOWED).then(|| {
                GraphFailure::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Request_BadRequest",
                    "Specified HTTP method is not allowed for the request target.",
                )
            })
        });
    if let Some(failure) = failure {
        response = envelope(&failure, &ids);
    }
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&ids.request_id) {
        headers.insert("request-id", value);
    }
    if let Ok(value) = HeaderValue::from_str(&ids.client_request_id) {
        headers.insert("client-request-id", value);
    }
    response
}

fn envelope(failure: &GraphFailure, ids: &RequestIds) -> Response {
    let body = json!({
        "error": {
            "code": failure.code,
            "message": failure.message,
            "innerError": {
                "date": envelope_date(SystemTime::now()),
                "request-id": ids.request_id,
                "client-request-id": ids.client_request_id,
            }
        }
    });
    let mut response = (failure.status, axum::Json(body)).into_response();
    if failure.status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
            ),
        );
    }
    response
}

/// `innerError.date` format: `2025-02-13T10:17:06` (UTC, no zone designator).
pub(crate) fn envelope_date(at: SystemTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::OffsetDateTime::from(at)
        .format(&format)
        .unwrap_or_default()
}

/// `createdDateTime` format: `2025-02-13T10:17:06Z`.
pub(crate) fn iso_timestamp(at: SystemTime) -> String {
    format!("{}Z", envelope_date(at))
}

/// An authenticated Graph caller: extracting it checks the bearer token.
pub(crate) struct Caller {
    /// `ConsistencyLevel: eventual` was sent (advanced queries).
    eventual: bool,
}

impl FromRequestParts<Arc<SandboxState>> for Caller {
    type Rejection = GraphFailure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<SandboxState>,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split_once(' ')
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            })
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| GraphFailure::unauthenticated("Access token is empty."))?;
        match state.token_endpoint.check(token) {
            AccessTokenStatus::Valid => {}
            AccessTokenStatus::Expired => {
                return Err(GraphFailure::unauthenticated(
                    "Lifetime validation failed, the token is expired.",
                ));
            }
            AccessTokenStatus::Unknown => {
                return Err(GraphFailure::unauthenticated(
                    "Access token validation failure.",
                ));
            }
        }
        let eventual = parts
            .headers
            .get("consistencylevel")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"));
        Ok(Self { eventual })
    }
}

type Reply = Result<Response, GraphFailure>;

/// The Graph routes, behind [`graph_envelope`].
pub fn router() -> Router<Arc<SandboxState>> {
    Router::new()
        .route("/v1.0/users", get(list_users).post(create_user))
        .route(
            "/v1.0/users/{id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route("/v1.0/users/{id}/memberOf", get(member_of))
        .route(
            "/v1.0/users/{id}/memberOf/microsoft.graph.group",
            get(member_of),
        )
        .route("/v1.0/users/{id}/transitiveMemberOf", get(member_of))
        .route(
            "/v1.0/users/{id}/transitiveMemberOf/microsoft.graph.group",
            get(member_of),
        )
        .route("/v1.0/groups", get(list_groups).post(create_group))
        .route("/v1.0/groups/{id}", get(get_group))
        .route("/v1.0/groups/{id}/members", get(group_members))
        .route("/v1.0/groups/{id}/members/$ref", post(add_member))
        .route(
            "/v1.0/groups/{id}/members/{member_id}/$ref",
            axum::routing::delete(remove_member),
        )
        .merge(crate::audit_logs::router())
        .merge(crate::subscriptions::router())
        .merge(crate::tenant_config::router())
        .route("/v1.0/{*rest}", any(unknown_segment))
        .layer(axum::middleware::from_fn(graph_envelope))
}

fn json_object(body: &Bytes) -> Result<Map<String, Value>, GraphFailure> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(GraphFailure::malformed_body()),
    }
}

fn with_context(mut object: Map<String, Value>, context: String) -> Value {
    object.insert("@odata.context".into(), json!(context));
    Value::Object(object)
}

async fn list_users(
    caller: Caller,
    State(state): State<Arc<SandboxState>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    let options = QueryOptions::parse(query.as_deref(), caller.eventual)?;
    let users: Vec<_> = state
        .directory
        .lock()
        .users
        .iter()
        .map(|u| (None, u.clone()))
        .collect();
    let body = options.collection(
        &state.base_url,
        uri.path(),
        "users",
        users,
        Some(&USER_DEFAULT_PROPERTIES),
    );
    Ok(axum::Json(body).into_response())
}

async fn get_user(
    caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Reply {
    let options = QueryOptions::parse(query.as_deref(), caller.eventual)?;
    let user = state.directory.lock().user(&id)?.clone();
    let projected = odata::project(
        &user,
        options.select.as_deref(),
        Some(&USER_DEFAULT_PROPERTIES),
    );
    let context = options.entity_context(&state.base_url, "users");
    Ok(axum::Json(with_context(projected, context)).into_response())
}

async fn create_user(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Extension(ids): Extension<RequestIds>,
    body: Bytes,
) -> Reply {
    let body = json_object(&body)?;
    let user = state.directory.lock().create_user(body)?;
    state
        .audit_logs
        .user_changed(UserChange::Added(&user), &ids);
    subscriptions::directory_changed(&state, DirectoryChange::User(&user));
    let context = format!("{}/v1.0/$metadata#users/$entity", state.base_url);
    Ok((StatusCode::CREATED, axum::Json(with_context(user, context))).into_response())
}

async fn update_user(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    Extension(ids): Extension<RequestIds>,
    body: Bytes,
) -> Reply {
    let patch = json_object(&body)?;
    let (before, after) = {
        let mut directory = state.directory.lock();
        let index = directory
            .user_index(&id)
            .ok_or_else(|| store::not_found(&id))?;
        let before = directory.users[index].clone();
        directory.update_user(&id, patch)?;
        (before, directory.users[index].clone())
    };
    let change = UserChange::Updated {
        before: &before,
        after: &after,
    };
    state.audit_logs.user_changed(change, &ids);
    subscriptions::directory_changed(&state, DirectoryChange::User(&after));
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_user(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    Extension(ids): Extension<RequestIds>,
) -> Reply {
    let removed = {
        let mut directory = state.directory.lock();
        let user = directory.user(&id)?.clone();
        directory.delete_user(&id)?;
        user
    };
    state
        .audit_logs
        .user_changed(UserChange::Deleted(&removed), &ids);
    subscriptions::directory_changed(&state, DirectoryChange::UserDeleted(&removed));
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn memberships(
    caller: Caller,
    state: &SandboxState,
    uri: &Uri,
    query: Option<&str>,
    id: &str,
    transitive: bool,
    cast: bool,
) -> Reply {
    let options = QueryOptions::parse(query, caller.eventual)?;
    let groups = {
        let directory = state.directory.lock();
        let user_id = directory
            .user(id)?
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or(id)
            .to_owned();
        directory.groups_of(&user_id, transitive)
    };
    let items = groups
        .into_iter()
        .map(|g| (Some(ObjectKind::Group.odata_type()), g))
        .collect();
    let set = if cast { "groups" } else { "directoryObjects" };
    let body = options.collection(&state.base_url, uri.path(), set, items, None);
    Ok(axum::Json(body).into_response())
}

/// `memberOf` and `transitiveMemberOf`, with or without the `microsoft.graph.group` cast: the
/// matched route says which.
async fn member_of(
    caller: Caller,
    State(state): State<Arc<SandboxState>>,
    route: MatchedPath,
    uri: Uri,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Reply {
    let transitive = route.as_str().contains("/transitiveMemberOf");
    let cast = route.as_str().ends_with("/microsoft.graph.group");
    memberships(
        caller,
        &state,
        &uri,
        query.as_deref(),
        &id,
        transitive,
        cast,
    )
}

async fn list_groups(
    caller: Caller,
    State(state): State<Arc<SandboxState>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    let options = QueryOptions::parse(query.as_deref(), caller.eventual)?;
    let groups: Vec<_> = state
        .directory
        .lock()
        .groups
        .iter()
        .map(|g| (None, g.clone()))
        .collect();
    let body = options.collection(&state.base_url, uri.path(), "groups", groups, None);
    Ok(axum::Json(body).into_response())
}

async fn get_group(
    caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Reply {
    let options = QueryOptions::parse(query.as_deref(), caller.eventual)?;
    let group = state.directory.lock().group(&id)?.clone();
    let projected = odata::project(&group, options.select.as_deref(), None);
    let context = options.entity_context(&state.base_url, "groups");
    Ok(axum::Json(with_context(projected, context)).into_response())
}

async fn create_group(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    body: Bytes,
) -> Reply {
    let body = json_object(&body)?;
    let group = state.directory.lock().create_group(body)?;
    subscriptions::directory_changed(&state, DirectoryChange::Group(&group));
    let context = format!("{}/v1.0/$metadata#groups/$entity", state.base_url);
    Ok((
        StatusCode::CREATED,
        axum::Json(with_context(group, context)),
    )
        .into_response())
}

async fn group_members(
    caller: Caller,
    State(state): State<Arc<SandboxState>>,
    uri: Uri,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Reply {
    let options = QueryOptions::parse(query.as_deref(), caller.eventual)?;
    let members = state.directory.lock().members_of_group(&id)?;
    let items = members
        .into_iter()
        .map(|(kind, object)| (Some(kind.odata_type()), object))
        .collect();
    let body = options.collection(&state.base_url, uri.path(), "directoryObjects", items, None);
    Ok(axum::Json(body).into_response())
}

/// The object id at the end of an `@odata.id` reference such as
/// `https://graph.microsoft.com/v1.0/directoryObjects/{id}`.
fn referenced_id(body: &Map<String, Value>) -> Result<String, GraphFailure> {
    let invalid = || {
        GraphFailure::new(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid object identifier in '@odata.id'.",
        )
    };
    let reference = body
        .get("@odata.id")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?;
    let url = url::Url::parse(reference).map_err(|_| invalid())?;
    let mut segments: Vec<&str> = url.path_segments().ok_or_else(invalid)?.collect();
    let id = segments
        .pop()
        .filter(|s| !s.is_empty())
        .ok_or_else(invalid)?;
    match segments.pop() {
        Some("directoryObjects" | "users" | "groups") => Ok(id.to_owned()),
        _ => Err(invalid()),
    }
}

async fn add_member(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let body = json_object(&body)?;
    let member = referenced_id(&body)?;
    state.directory.lock().add_member(&id, &member)?;
    subscriptions::directory_changed(&state, DirectoryChange::member(&id, &member, false));
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove_member(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path((id, member_id)): Path<(String, String)>,
) -> Reply {
    state.directory.lock().remove_member(&id, &member_id)?;
    subscriptions::directory_changed(&state, DirectoryChange::member(&id, &member_id, true));
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn unknown_segment(_caller: Caller, Path(rest): Path<String>) -> Reply {
    let segment = rest.split('/').next().unwrap_or_default();
    Err(GraphFailure::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!("Resource not found for the segment '{segment}'."),
    ))
}

fn invalid(failure: GraphFailure) -> SandboxError {
    SandboxError::Invalid(format!("{}: {}", failure.code, failure.message))
}

fn into_object(value: serde_json::Value) -> Result<Map<String, Value>, SandboxError> {
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(SandboxError::Invalid("expected a JSON object".into())),
    }
}

/// Direct access to the directory for tests and demos, with the same rules as the Graph routes.
impl Sandbox {
    /// Creates a user as `POST /v1.0/users` would; returns its new id.
    pub fn insert_user(&self, user: Value) -> Result<String, SandboxError> {
        let created = self
            .state()
            .directory
            .lock()
            .create_user(into_object(user)?)
            .map_err(invalid)?;
        Ok(created
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    /// The stored user (every property, by id or user principal name), if it exists.
    pub fn user(&self, id: &str) -> Option<Value> {
        let directory = self.state().directory.lock();
        directory.user(id).ok().cloned().map(Value::Object)
    }

    /// Every stored user, in directory order.
    pub fn users(&self) -> Vec<Value> {
        let directory = self.state().directory.lock();
        directory.users.iter().cloned().map(Value::Object).collect()
    }

    /// Creates a group as `POST /v1.0/groups` would; returns its new id.
    pub fn insert_group(&self, group: Value) -> Result<String, SandboxError> {
        let created = self
            .state()
            .directory
            .lock()
            .create_group(into_object(group)?)
            .map_err(invalid)?;
        Ok(created
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    /// The stored group, if it exists.
    pub fn group(&self, id: &str) -> Option<Value> {
        let directory = self.state().directory.lock();
        directory.group(id).ok().cloned().map(Value::Object)
    }

    /// Adds a user or group to a group (fails if already a member, as Graph does).
    pub fn add_member(&self, group_id: &str, member_id: &str) -> Result<(), SandboxError> {
        self.state()
            .directory
            .lock()
            .add_member(group_id, member_id)
            .map_err(invalid)
    }

    /// Ids of a group's direct members, in the order they were added.
    pub fn group_member_ids(&self, group_id: &str) -> Vec<String> {
        let directory = self.state().directory.lock();
        directory
            .members_of_group(group_id)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(_, object)| object.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Fault, FaultRule, RetryAfter};

    async fn sandbox() -> (Sandbox, reqwest::Client, String) {
        let sandbox = Sandbox::start_default().await.unwrap();
        let token = sandbox.issue_access_token();
        (sandbox, reqwest::Client::new(), token)
    }

    async fn get(
        client: &reqwest::Client,
        sandbox: &Sandbox,
        token: &str,
        path: &str,
    ) -> (StatusCode, Value) {
        let response = client
            .get(format!(
                "{}{path}",
                sandbox.url().as_str().trim_end_matches('/')
            ))
            .bearer_auth(token)
            .header("ConsistencyLevel", "eventual")
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn unauthenticated_requests_get_the_graph_envelope() {
        let (sandbox, client, _) = sandbox().await;
        let response = client
            .get(sandbox.graph_url().join("users").unwrap())
            .header("client-request-id", "abc-123")
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["client-request-id"], "abc-123");
        assert!(response.headers().contains_key("request-id"));
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
        assert_eq!(body["error"]["innerError"]["client-request-id"], "abc-123");
        assert_eq!(
            body["error"]["innerError"]["date"].as_str().unwrap().len(),
            19
        );
    }

    #[tokio::test]
    async fn users_default_projection_select_and_filter() {
        let (sandbox, client, token) = sandbox().await;
        let (status, user) = get(
            &client,
            &sandbox,
            &token,
            &format!("/v1.0/users/{DEMO_USER_ID}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(user["displayName"], "Ava Thompson");
        assert!(user.get("identities").is_none(), "identities need $select");
        let tier = extension_property(&sandbox.config().extension_app_id, "loyaltyTier");
        let (_, user) = get(
            &client,
            &sandbox,
            &token,
            &format!("/v1.0/users/{DEMO_USER_ID}?$select=identities,{tier}"),
        )
        .await;
        assert_eq!(user[&tier], "Gold");
        assert_eq!(user["id"], DEMO_USER_ID);
        let filter = format!(
            "identities/any(c:c/issuerAssignedId eq '{DEMO_USER_EMAIL}' and c/issuer eq 'entrahooksdemo.onmicrosoft.com')"
        );
        let (status, page) = get(
            &client,
            &sandbox,
            &token,
            &format!(
                "/v1.0/users?$filter={}",
                url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["value"].as_array().unwrap().len(), 1);
        assert_eq!(page["value"][0]["id"], DEMO_USER_ID);
        let (status, body) = get(&client, &sandbox, &token, "/v1.0/users/nobody").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "Request_ResourceNotFound");
    }

    #[tokio::test]
    async fn paging_with_count_follows_next_links() {
        let (sandbox, client, token) = sandbox().await;
        let (_, first) = get(&client, &sandbox, &token, "/v1.0/users?$top=10&$count=true").await;
        assert_eq!(first["@odata.count"], DEMO_USER_COUNT);
        let mut seen = first["value"].as_array().unwrap().len();
        let mut next = first["@odata.nextLink"].as_str().map(str::to_owned);
        while let Some(link) = next {
            let path = link
                .strip_prefix(sandbox.url().as_str().trim_end_matches('/'))
                .unwrap();
            let (status, page) = get(&client, &sandbox, &token, path).await;
            assert_eq!(status, StatusCode::OK);
            assert!(page.get("@odata.count").is_none());
            seen += page["value"].as_array().unwrap().len();
            next = page["@odata.nextLink"].as_str().map(str::to_owned);
        }
        assert_eq!(seen, DEMO_USER_COUNT);
    }

    #[tokio::test]
    async fn membership_rules_and_nesting() {
        let (sandbox, client, token) = sandbox().await;
        let (_, groups) = get(
            &client,
            &sandbox,
            &token,
            &format!("/v1.0/users/{DEMO_USER_ID}/transitiveMemberOf"),
        )
        .await;
        let ids: Vec<&str> = groups["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&DEMO_GROUP_VIP_ID) && ids.contains(&DEMO_GROUP_GOLD_ID));
        assert_eq!(groups["value"][0]["@odata.type"], "#microsoft.graph.group");
        let (_, direct) = get(
            &client,
            &sandbox,
            &token,
            &format!("/v1.0/users/{DEMO_USER_ID}/memberOf"),
        )
        .await;
        assert!(!direct.to_string().contains(DEMO_GROUP_VIP_ID));

        // The type-cast segment is served on both routes and shows in the context URL, as in Graph.
        for (route, set) in [
            ("memberOf", "directoryObjects"),
            ("memberOf/microsoft.graph.group", "groups"),
            ("transitiveMemberOf", "directoryObjects"),
            ("transitiveMemberOf/microsoft.graph.group", "groups"),
        ] {
            let (status, body) = get(
                &client,
                &sandbox,
                &token,
                &format!("/v1.0/users/{DEMO_USER_ID}/{route}"),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{route}");
            let context = body["@odata.context"].as_str().unwrap_or_default();
            assert!(context.ends_with(&format!("#{set}")), "{route}: {context}");
            let transitive = body.to_string().contains(DEMO_GROUP_VIP_ID);
            assert_eq!(transitive, route.starts_with("transitive"), "{route}");
        }

        let add = || {
            client
                .post(format!("{}groups/{DEMO_GROUP_SILVER_ID}/members/$ref", sandbox.graph_url()))
                .bearer_auth(&token)
                .json(&json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{DEMO_USER_ID}")}))
                .send()
        };
        assert_eq!(add().await.unwrap().status(), StatusCode::NO_CONTENT);
        let again = add().await.unwrap();
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        let body: Value = again.json().await.unwrap();
        assert_eq!(body["error"]["code"], "Request_BadRequest");
        let remove = || {
            client
                .delete(format!(
                    "{}groups/{DEMO_GROUP_SILVER_ID}/members/{DEMO_USER_ID}/$ref",
                    sandbox.graph_url()
                ))
                .bearer_auth(&token)
                .send()
        };
        assert_eq!(remove().await.unwrap().status(), StatusCode::NO_CONTENT);
        assert_eq!(remove().await.unwrap().status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn writes_validate_identities_and_bodies() {
        let (sandbox, client, token) = sandbox().await;
        let post = |body: String| {
            client
                .post(sandbox.graph_url().join("users").unwrap())
                .bearer_auth(&token)
                .header(header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
        };
        let duplicate = json!({
            "displayName": "Copy",
            "identities": [{"signInType": "emailAddress", "issuer": "entrahooksdemo.onmicrosoft.com", "issuerAssignedId": DEMO_USER_EMAIL.to_uppercase()}]
        });
        let response = post(duplicate.to_string()).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let response = post("{\"displayName\":".into()).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "BadRequest");

        let created = post(json!({"displayName": "New", "passwordProfile": {"password": "P@ss", "forceChangePasswordNextSignIn": false}}).to_string())
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        let created: Value = created.json().await.unwrap();
        let id = created["id"].as_str().unwrap();
        assert_eq!(
            created["userPrincipalName"],
            format!("{id}@entrahooksdemo.onmicrosoft.com")
        );
        assert!(sandbox.user(id).unwrap()["passwordProfile"]["password"].is_null());
    }

    #[tokio::test]
    async fn faults_answer_in_graph_shape() {
        let (sandbox, client, token) = sandbox().await;
        sandbox.faults().add(FaultRule::new(
            "/v1.0/users",
            Fault::TooManyRequests {
                retry_after: Some(RetryAfter::Seconds(7)),
            },
            Some(1),
        ));
        sandbox.faults().add(FaultRule::new(
            "/v1.0/groups",
            Fault::DropConnection,
            Some(1),
        ));
        let response = client
            .get(sandbox.graph_url().join("users").unwrap())
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "TooManyRequests");
        assert_eq!(body["error"]["innerError"]["status"], "429");
        let dropped = client
            .get(sandbox.graph_url().join("groups").unwrap())
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await;
        assert!(dropped.is_err());
        let (status, _) = get(&client, &sandbox, &token, "/v1.0/users").await;
        assert_eq!(status, StatusCode::OK);
        let log = sandbox.request_log();
        assert_eq!(log.len(), 3);
        assert!(log.iter().all(|r| r.has_authorization));
        assert_eq!(log[2].consistency_level.as_deref(), Some("eventual"));
    }
}
