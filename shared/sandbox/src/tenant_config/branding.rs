//! `/v1.0/organization` and company branding (docs/protocols/graph-api.md a.3 rows 31-39, A.7).
//!
//! Graph behaviour reproduced:
//! - `GET /organization` lists the one organization; its id is the tenant id, and branding paths
//!   under any other id are 404;
//! - the default branding answers 404 until it exists, and a `PATCH` of it 404s too (A.7 bootstrap,
//!   third-party, UNCERTAIN); creating a localization creates it; `0`/`default` cannot be created as
//!   a localization (400) and a locale that exists is a 409;
//! - answers carry the read-only `*RelativeUrl` of uploaded streams and `cdnList`; a write that
//!   sends them is refused (400, the sandbox's strictness: Graph documents them as read-only);
//! - streams are `PUT` with their own `Content-Type` (`text/css` for `customCSS`, `image/*` for the
//!   images; anything else is a 415), within the documented size limits (`customCSS` 25 KB,
//!   `squareLogo(Dark)` 10 KB; 400 beyond), stored with that type and served back with it; an
//!   unset stream is a 404 (Graph's answer is undocumented);
//! - string limits: `signInPageText` ≤ 1024 and `usernameHintText` ≤ 64 characters (400 beyond).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use serde_json::{Map, Value, json};

use super::{bad_request, conflict, json_object, lock, not_found, with_context};
use crate::directory::odata::QueryOptions;
use crate::directory::{Caller, GraphFailure};
use crate::{Sandbox, SandboxState};

type Reply = Result<Response, GraphFailure>;

/// The stream properties of a branding, as Graph spells them.
pub const STREAMS: [&str; 7] = [
    "backgroundImage",
    "bannerLogo",
    "customCSS",
    "favicon",
    "headerLogo",
    "squareLogo",
    "squareLogoDark",
];

/// The CDNs Graph lists in `cdnList` (read-only).
const CDN_LIST: [&str; 2] = ["aadcdn.msauthimages.net", "aadcdn.msftauthimages.net"];

/// An uploaded stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStream {
    pub content_type: String,
    pub bytes: Bytes,
}

/// The default branding, the localizations and their streams.
#[derive(Debug, Default)]
pub struct BrandingStore {
    /// The default branding's properties, once it exists.
    default: Option<Map<String, Value>>,
    /// Localizations other than the default, in creation order: (locale, properties).
    localizations: Vec<(String, Map<String, Value>)>,
    /// (locale key, stream property) -> stream; the default's locale key is `0`.
    streams: HashMap<(String, &'static str), StoredStream>,
}

fn is_default_locale(locale: &str) -> bool {
    locale == "0" || locale.eq_ignore_ascii_case("default")
}

impl BrandingStore {
    /// The stored locale key (`0` or the localization's own spelling) of an existing locale.
    fn locale_key(&self, locale: &str) -> Option<String> {
        if is_default_locale(locale) {
            return self.default.as_ref().map(|_| "0".to_owned());
        }
        self.localizations
            .iter()
            .find(|(l, _)| l.eq_ignore_ascii_case(locale))
            .map(|(l, _)| l.clone())
    }

    fn properties_mut(&mut self, locale: &str) -> Option<&mut Map<String, Value>> {
        if is_default_locale(locale) {
            return self.default.as_mut();
        }
        self.localizations
            .iter_mut()
            .find(|(l, _)| l.eq_ignore_ascii_case(locale))
            .map(|(_, p)| p)
    }

    /// The properties of `locale` as Graph answers them: id, strings, and read-only stream URLs.
    fn view(&self, tenant_id: &str, locale: &str) -> Option<Map<String, Value>> {
        let key = self.locale_key(locale)?;
        let stored = if key == "0" {
            self.default.as_ref()?
        } else {
            &self.localizations.iter().find(|(l, _)| *l == key)?.1
        };
        let mut view = Map::new();
        view.insert("id".into(), json!(key));
        view.extend(stored.clone());
        for stream in STREAMS {
            let url = self.streams.get(&(key.clone(), stream)).map(|_| {
                json!(format!(
                    "{tenant_id}/logintenantbranding/{key}/{}",
                    stream.to_ascii_lowercase()
                ))
            });
            view.insert(format!("{stream}RelativeUrl"), url.unwrap_or(Value::Null));
        }
        view.insert("cdnList".into(), json!(CDN_LIST));
        Some(view)
    }
}

/// Refuses read-only and over-long properties in a write body.
fn check_writable(body: &Map<String, Value>) -> Result<(), GraphFailure> {
    for key in body.keys() {
        if key.ends_with("RelativeUrl") || key == "cdnList" {
            return Err(bad_request(
                "Request_BadRequest",
                format!("Property '{key}' is read-only and cannot be set."),
            ));
        }
        if STREAMS.iter().any(|s| s.eq_ignore_ascii_case(key)) {
            return Err(bad_request(
                "Request_BadRequest",
                format!("Stream property '{key}' must be uploaded with PUT on its own."),
            ));
        }
    }
    for (key, limit) in [("signInPageText", 1024), ("usernameHintText", 64)] {
        if let Some(value) = body.get(key).and_then(Value::as_str)
            && value.chars().count() > limit
        {
            return Err(bad_request(
                "Request_BadRequest",
                format!("Property '{key}' exceeds the maximum length of {limit}."),
            ));
        }
    }
    Ok(())
}

/// The routes of this module.
pub(crate) fn router() -> Router<Arc<SandboxState>> {
    Router::new()
        .route("/v1.0/organization", get(list_organizations))
        .route("/v1.0/organization/{org}", get(get_organization))
        .route(
            "/v1.0/organization/{org}/branding",
            get(get_branding).patch(update_branding),
        )
        .route(
            "/v1.0/organization/{org}/branding/localizations",
            get(list_localizations).post(create_localization),
        )
        .route(
            "/v1.0/organization/{org}/branding/localizations/{locale}",
            get(get_localization)
                .patch(update_localization)
                .delete(delete_localization),
        )
        .route(
            "/v1.0/organization/{org}/branding/localizations/{locale}/{stream}",
            get(get_stream).put(put_stream),
        )
}

fn organization(state: &SandboxState) -> Map<String, Value> {
    let domain = format!("{}.onmicrosoft.com", state.config.tenant_name);
    json!({
        "id": state.config.tenant_id,
        "displayName": state.config.tenant_name,
        "tenantType": "CIAM",
        "verifiedDomains": [{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": true, "isInitial": true, "name": domain, "type": "Managed"}]
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

/// The organization id must be the tenant's.
fn check_org(state: &SandboxState, org: &str) -> Result<(), GraphFailure> {
    if org.eq_ignore_ascii_case(&state.config.tenant_id) {
        Ok(())
    } else {
        Err(not_found(org))
    }
}

fn branding_context(state: &SandboxState, suffix: &str) -> String {
    format!(
        "{}/v1.0/$metadata#organization('{}')/branding{suffix}",
        state.base_url, state.config.tenant_id
    )
}

async fn list_organizations(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    let options = QueryOptions::parse(query.as_deref(), false)?;
    let body = options.collection(
        &state.base_url,
        uri.path(),
        "organization",
        vec![(None, organization(&state))],
        None,
    );
    Ok(axum::Json(body).into_response())
}

async fn get_organization(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(org): Path<String>,
) -> Reply {
    check_org(&state, &org)?;
    let context = format!("{}/v1.0/$metadata#organization/$entity", state.base_url);
    Ok(axum::Json(with_context(organization(&state), context)).into_response())
}

/// `GET {b}`: the default branding, or the localization `Accept-Language` names when it exists.
async fn get_branding(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Reply {
    check_org(&state, &org)?;
    let language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !is_default_locale(l));
    let store = lock(&state.tenant_config.branding);
    if store.default.is_none() {
        return Err(not_found("branding"));
    }
    let view = language
        .and_then(|l| store.view(&state.config.tenant_id, l))
        .or_else(|| store.view(&state.config.tenant_id, "0"))
        .ok_or_else(|| not_found("branding"))?;
    Ok(axum::Json(with_context(view, branding_context(&state, "/$entity"))).into_response())
}

async fn update_branding(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(org): Path<String>,
    body: Bytes,
) -> Reply {
    check_org(&state, &org)?;
    patch_locale(&state, "0", &body)
}

fn patch_locale(state: &SandboxState, locale: &str, body: &Bytes) -> Reply {
    let mut patch = json_object(body)?;
    patch.remove("id");
    patch.retain(|key, _| !key.starts_with("@odata."));
    check_writable(&patch)?;
    let mut store = lock(&state.tenant_config.branding);
    let properties = store
        .properties_mut(locale)
        .ok_or_else(|| not_found(locale))?;
    super::merge(properties, patch);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_localizations(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(org): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    check_org(&state, &org)?;
    let options = QueryOptions::parse(query.as_deref(), false)?;
    let items: Vec<_> = {
        let store = lock(&state.tenant_config.branding);
        let locales = store
            .default
            .iter()
            .map(|_| "0".to_owned())
            .chain(store.localizations.iter().map(|(l, _)| l.clone()));
        locales
            .filter_map(|l| store.view(&state.config.tenant_id, &l))
            .map(|view| (None, view))
            .collect()
    };
    let set = format!(
        "organization('{}')/branding/localizations",
        state.config.tenant_id
    );
    let body = options.collection(&state.base_url, uri.path(), &set, items, None);
    Ok(axum::Json(body).into_response())
}

async fn create_localization(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path(org): Path<String>,
    body: Bytes,
) -> Reply {
    check_org(&state, &org)?;
    let mut body = json_object(&body)?;
    let locale = match body.remove("id") {
        Some(Value::String(locale)) if !locale.trim().is_empty() => locale,
        _ => {
            return Err(bad_request(
                "Request_BadRequest",
                "A localization needs its locale as 'id'.",
            ));
        }
    };
    if is_default_locale(&locale) {
        return Err(bad_request(
            "Request_BadRequest",
            "The default branding cannot be created as a localization.",
        ));
    }
    body.retain(|key, _| !key.starts_with("@odata."));
    check_writable(&body)?;
    let view = {
        let mut store = lock(&state.tenant_config.branding);
        if store.locale_key(&locale).is_some() {
            return Err(conflict(format!(
                "A branding localization for '{locale}' already exists."
            )));
        }
        // Creating a localization creates the default branding when it is missing (A.7).
        store.default.get_or_insert_with(Map::new);
        store.localizations.push((locale.clone(), body));
        store.view(&state.config.tenant_id, &locale)
    }
    .ok_or_else(|| not_found(&locale))?;
    let context = branding_context(&state, "/localizations/$entity");
    Ok((StatusCode::CREATED, axum::Json(with_context(view, context))).into_response())
}

async fn get_localization(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path((org, locale)): Path<(String, String)>,
) -> Reply {
    check_org(&state, &org)?;
    let view = lock(&state.tenant_config.branding)
        .view(&state.config.tenant_id, &locale)
        .ok_or_else(|| not_found(&locale))?;
    let context = branding_context(&state, "/localizations/$entity");
    Ok(axum::Json(with_context(view, context)).into_response())
}

async fn update_localization(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path((org, locale)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    check_org(&state, &org)?;
    patch_locale(&state, &locale, &body)
}

async fn delete_localization(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path((org, locale)): Path<(String, String)>,
) -> Reply {
    check_org(&state, &org)?;
    if is_default_locale(&locale) {
        return Err(bad_request(
            "Request_BadRequest",
            "The default branding cannot be deleted as a localization.",
        ));
    }
    let mut store = lock(&state.tenant_config.branding);
    let key = store
        .locale_key(&locale)
        .ok_or_else(|| not_found(&locale))?;
    store.localizations.retain(|(l, _)| *l != key);
    store.streams.retain(|(l, _), _| *l != key);
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn stream_name(stream: &str) -> Result<&'static str, GraphFailure> {
    STREAMS
        .into_iter()
        .find(|s| s.eq_ignore_ascii_case(stream))
        .ok_or_else(|| {
            bad_request(
                "BadRequest",
                format!("Resource not found for the segment '{stream}'."),
            )
        })
}

async fn put_stream(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path((org, locale, stream)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    check_org(&state, &org)?;
    let stream = stream_name(&stream)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let fits = if stream == "customCSS" {
        essence == "text/css"
    } else {
        essence
            .strip_prefix("image/")
            .is_some_and(|s| !s.is_empty())
    };
    if !fits {
        return Err(GraphFailure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("'{content_type}' is not a supported content type for '{stream}'."),
        ));
    }
    let limit = match stream {
        "customCSS" => Some(25 * 1024),
        "squareLogo" | "squareLogoDark" => Some(10 * 1024),
        _ => None,
    };
    if body.is_empty() || limit.is_some_and(|limit| body.len() > limit) {
        return Err(bad_request(
            "Request_BadRequest",
            format!("The '{stream}' stream is empty or exceeds its size limit."),
        ));
    }
    let mut store = lock(&state.tenant_config.branding);
    let key = store
        .locale_key(&locale)
        .ok_or_else(|| not_found(&locale))?;
    store.streams.insert(
        (key, stream),
        StoredStream {
            content_type,
            bytes: body,
        },
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_stream(
    _caller: Caller,
    State(state): State<Arc<SandboxState>>,
    Path((org, locale, stream)): Path<(String, String, String)>,
) -> Reply {
    check_org(&state, &org)?;
    let stream = stream_name(&stream)?;
    let store = lock(&state.tenant_config.branding);
    let key = store
        .locale_key(&locale)
        .ok_or_else(|| not_found(&locale))?;
    let stored = store
        .streams
        .get(&(key, stream))
        .ok_or_else(|| not_found(stream))?;
    let mut response = stored.bytes.clone().into_response();
    if let Ok(value) = HeaderValue::from_str(&stored.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    Ok(response)
}

/// Direct access to the branding for tests.
impl Sandbox {
    /// The stream `stream` (`bannerLogo`, `customCSS`, ...) of `locale` (`0` = default), if uploaded.
    pub fn branding_stream(&self, locale: &str, stream: &str) -> Option<StoredStream> {
        let stream = stream_name(stream).ok()?;
        let store = lock(&self.state().tenant_config.branding);
        let key = store.locale_key(locale)?;
        store.streams.get(&(key, stream)).cloned()
    }

    /// Whether the tenant has a default branding.
    pub fn has_branding(&self) -> bool {
        lock(&self.state().tenant_config.branding).default.is_some()
    }
}
