//! OIDC discovery documents and JWKS for the tenant and the `common` authority.
//!
//! Shapes follow the real documents: an External ID tenant's v2.0 discovery names issuer
//! `https://{tid}.ciamlogin.com/{tid}/v2.0` whichever tenant alias was requested (security-tokens,
//! 2025-03-21); v1.0 names `https://sts.windows.net/{tid}/`; `common` publishes the multi-tenant
//! template `https://login.microsoftonline.com/{tenantid}/v2.0` literally. Unknown tenants get
//! Entra's 400 `invalid_tenant` / AADSTS90002 body.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::{IssuerKind, published_jwks};
use crate::{SandboxConfig, SandboxState};

/// Entra serves discovery and keys with a one-day private cache lifetime.
const CACHE_CONTROL: &str = "max-age=86400, private";

const COMMON_V2_ISSUER: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
const COMMON_V1_ISSUER: &str = "https://sts.windows.net/{tenantid}/";

pub(super) fn router() -> Router<Arc<SandboxState>> {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery_v1),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys_v2))
        .route("/{tenant}/discovery/keys", get(keys_v1))
}

/// Which authority a path's tenant segment names.
enum Authority<'a> {
    /// The sandbox tenant, by id.
    Tenant(&'a str),
    /// The multi-tenant `common` authority.
    Common,
}

impl Authority<'_> {
    /// Path segment the documents use for this authority (tenant id, never the alias requested).
    fn segment(&self) -> &str {
        match self {
            Self::Tenant(tid) => tid,
            Self::Common => "common",
        }
    }
}

/// Accepts the tenant id (any case), the tenant name, `{name}.onmicrosoft.com`, or `common`.
fn resolve<'a>(config: &'a SandboxConfig, segment: &str) -> Option<Authority<'a>> {
    if segment == "common" {
        return Some(Authority::Common);
    }
    let name = &config.tenant_name;
    let is_domain = segment
        .strip_suffix(".onmicrosoft.com")
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(name));
    if segment.eq_ignore_ascii_case(&config.tenant_id)
        || segment.eq_ignore_ascii_case(name)
        || is_domain
    {
        Some(Authority::Tenant(&config.tenant_id))
    } else {
        None
    }
}

/// The authority a discovery request names and its URL root, counting the fetch; `None` for a
/// tenant the sandbox does not host.
fn discovery_authority<'a>(
    state: &'a SandboxState,
    tenant: &str,
) -> Option<(Authority<'a>, String)> {
    let authority = resolve(&state.config, tenant)?;
    state
        .identity
        .discovery_fetches
        .fetch_add(1, Ordering::SeqCst);
    let root = format!("{}/{}", state.base_url, authority.segment());
    Some((authority, root))
}

async fn discovery_v2(
    State(state): State<Arc<SandboxState>>,
    Path(tenant): Path<String>,
) -> Response {
    let Some((authority, root)) = discovery_authority(&state, &tenant) else {
        return invalid_tenant(&tenant);
    };
    let (issuer, region) = match authority {
        Authority::Tenant(tid) => (IssuerKind::CiamV2.for_tenant(tid), json!("EU")),
        Authority::Common => (COMMON_V2_ISSUER.to_owned(), Value::Null),
    };
    let doc = json!({
        "token_endpoint": format!("{root}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{root}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": format!("{root}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{root}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{root}/oauth2/v2.0/logout"),
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
            "name", "tid", "ver", "at_hash", "c_hash", "email"
        ],
        "kerberos_endpoint": format!("{root}/kerberos"),
        "tenant_region_scope": region,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net"
    });
    cached_json(doc)
}

async fn discovery_v1(
    State(state): State<Arc<SandboxState>>,
    Path(tenant): Path<String>,
) -> Response {
    let Some((authority, root)) = discovery_authority(&state, &tenant) else {
        return invalid_tenant(&tenant);
    };
    let (issuer, region) = match authority {
        Authority::Tenant(tid) => (IssuerKind::StsV1.for_tenant(tid), json!("EU")),
        Authority::Common => (COMMON_V1_ISSUER.to_owned(), Value::Null),
    };
    let doc = json!({
        "token_endpoint": format!("{root}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{root}/discovery/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": issuer,
        "microsoft_multi_refresh_token": true,
        "authorization_endpoint": format!("{root}/oauth2/authorize"),
        "device_authorization_endpoint": format!("{root}/oauth2/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{root}/oauth2/logout"),
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email",
            "given_name", "family_name", "nickname"
        ],
        "check_session_iframe": format!("{root}/oauth2/checksession"),
        "userinfo_endpoint": format!("{root}/openid/userinfo"),
        "kerberos_endpoint": format!("{root}/kerberos"),
        "tenant_region_scope": region,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net"
    });
    cached_json(doc)
}

async fn keys_v2(State(state): State<Arc<SandboxState>>, Path(tenant): Path<String>) -> Response {
    let Some(authority) = resolve(&state.config, &tenant) else {
        return invalid_tenant(&tenant);
    };
    state.identity.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let issuer = match authority {
        Authority::Tenant(tid) => IssuerKind::CiamV2.for_tenant(tid),
        Authority::Common => COMMON_V2_ISSUER.to_owned(),
    };
    cached_json(published_jwks(&state.identity, Some(&issuer)))
}

async fn keys_v1(State(state): State<Arc<SandboxState>>, Path(tenant): Path<String>) -> Response {
    if resolve(&state.config, &tenant).is_none() {
        return invalid_tenant(&tenant);
    }
    state.identity.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    cached_json(published_jwks(&state.identity, None))
}

fn cached_json(body: Value) -> Response {
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    response
}

/// Entra's answer for a tenant it does not know (AADSTS90002), status 400.
fn invalid_tenant(tenant: &str) -> Response {
    let trace_id = uuid::Uuid::new_v4();
    let correlation_id = uuid::Uuid::new_v4();
    let timestamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default();
    let description = format!(
        "AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID \
         and are signing into the correct cloud. Check with your subscription administrator, this may \
         happen if there are no active subscriptions for the tenant. Trace ID: {trace_id} \
         Correlation ID: {correlation_id} Timestamp: {timestamp}"
    );
    let body = json!({
        "error": "invalid_tenant",
        "error_description": description,
        "error_codes": [90002],
        "timestamp": timestamp,
        "trace_id": trace_id.to_string(),
        "correlation_id": correlation_id.to_string(),
        "error_uri": "https://login.microsoftonline.com/error?code=90002"
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::{IssuerKind, Sandbox};

    async fn get_json(url: String) -> (u16, Option<String>, Value) {
        let response = reqwest::get(url).await.unwrap();
        let status = response.status().as_u16();
        let cache = response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, cache, response.json().await.unwrap())
    }

    #[tokio::test]
    async fn tenant_v2_discovery_names_ciam_issuer_for_every_alias() {
        let sandbox = Sandbox::start_default().await.unwrap();
        let tid = sandbox.tenant_id().to_owned();
        let base = sandbox.url().to_string();
        let name = sandbox.config().tenant_name.clone();
        for alias in [
            tid.clone(),
            tid.to_uppercase(),
            name.clone(),
            format!("{name}.onmicrosoft.com"),
        ] {
            let (status, cache, doc) = get_json(format!(
                "{base}{alias}/v2.0/.well-known/openid-configuration"
            ))
            .await;
            assert_eq!(status, 200, "{alias}");
            assert_eq!(cache.as_deref(), Some("max-age=86400, private"));
            assert_eq!(
                doc["issuer"],
                format!("https://{tid}.ciamlogin.com/{tid}/v2.0")
            );
            assert_eq!(doc["jwks_uri"], format!("{base}{tid}/discovery/v2.0/keys"));
            assert_eq!(
                doc["token_endpoint"],
                format!("{base}{tid}/oauth2/v2.0/token")
            );
            assert_eq!(
                doc["id_token_signing_alg_values_supported"],
                serde_json::json!(["RS256"])
            );
        }
        assert_eq!(
            sandbox.discovery_url().as_str(),
            format!("{base}{tid}/v2.0/.well-known/openid-configuration")
        );
        assert_eq!(sandbox.discovery_fetch_count(), 4);
    }

    #[tokio::test]
    async fn v1_and_common_discovery_documents() {
        let sandbox = Sandbox::start_default().await.unwrap();
        let tid = sandbox.tenant_id().to_owned();
        let base = sandbox.url().to_string();

        let (status, _, v1) =
            get_json(format!("{base}{tid}/.well-known/openid-configuration")).await;
        assert_eq!(status, 200);
        assert_eq!(v1["issuer"], format!("https://sts.windows.net/{tid}/"));
        assert_eq!(v1["jwks_uri"], format!("{base}{tid}/discovery/keys"));

        let (status, _, common) = get_json(sandbox.common_discovery_url().to_string()).await;
        assert_eq!(status, 200);
        assert_eq!(
            common["issuer"],
            "https://login.microsoftonline.com/{tenantid}/v2.0"
        );
        assert_eq!(
            common["jwks_uri"],
            format!("{base}common/discovery/v2.0/keys")
        );
        assert_eq!(common["tenant_region_scope"], Value::Null);
    }

    #[tokio::test]
    async fn unknown_tenant_gets_aadsts90002() {
        let sandbox = Sandbox::start_default().await.unwrap();
        let base = sandbox.url();
        for path in [
            "contoso/v2.0/.well-known/openid-configuration",
            "00000000-0000-0000-0000-000000000000/.well-known/openid-configuration",
            "contoso/discovery/v2.0/keys",
        ] {
            let (status, _, body) = get_json(format!("{base}{path}")).await;
            assert_eq!(status, 400, "{path}");
            assert_eq!(body["error"], "invalid_tenant");
            assert!(
                body["error_description"]
                    .as_str()
                    .unwrap()
                    .starts_with("AADSTS90002: ")
            );
            assert_eq!(body["error_codes"], serde_json::json!([90002]));
        }
        assert_eq!(sandbox.jwks_fetch_count(), 0);
        assert_eq!(sandbox.discovery_fetch_count(), 0);
    }

    #[tokio::test]
    async fn jwks_publishes_rotated_keys_until_retired() {
        let sandbox = Sandbox::start_default().await.unwrap();
        let tid = sandbox.tenant_id().to_owned();
        let base = sandbox.url().to_string();
        let first = sandbox.active_kid();

        let (status, cache, jwks) = get_json(format!("{base}{tid}/discovery/v2.0/keys")).await;
        assert_eq!(status, 200);
        assert_eq!(cache.as_deref(), Some("max-age=86400, private"));
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0]["kid"], first);
        assert_eq!(keys[0]["kty"], "RSA");
        assert_eq!(keys[0]["use"], "sig");
        assert_eq!(keys[0]["issuer"], sandbox.issuer(IssuerKind::CiamV2));
        assert_eq!(keys[0]["x5c"].as_array().unwrap().len(), 1);

        let second = sandbox.rotate_signing_key();
        assert_ne!(first, second);
        assert_eq!(sandbox.active_kid(), second);
        let (_, _, jwks) = get_json(format!("{base}common/discovery/v2.0/keys")).await;
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, vec![first.as_str(), second.as_str()]);
        assert_eq!(
            jwks["keys"][0]["issuer"],
            "https://login.microsoftonline.com/{tenantid}/v2.0"
        );

        sandbox.retire_signing_key(&first);
        let (_, _, jwks) = get_json(format!("{base}{tid}/discovery/keys")).await;
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0]["kid"], second);
        assert!(keys[0].get("issuer").is_none(), "v1 keys carry no issuer");
        assert_eq!(sandbox.jwks_fetch_count(), 3);
        assert_eq!(sandbox.published_kids(), vec![second]);
    }
}
