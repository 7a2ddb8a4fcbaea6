//! Shared set-up: a real simulated tenant on loopback, a Graph client and a callout guard pointed at
//! it, the function's router, and callout bodies for the sandbox's demo customers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use entra_extensions::TokenIssuanceStartRequest;
use entra_extensions::testing::{sandbox_guard, vectors_dir};
use entra_graph::GraphClient;
use entra_sandbox::Sandbox;
use entra_sandbox::faults::RecordedRequest;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use token_issuance_start::{
    ClaimsProvider, PATH, TokenIssuanceStart, TokenIssuanceStartRules, router,
};
use tower::ServiceExt;

/// The local host's demo client application ("Contoso Shop").
pub const SHOP_APP_ID: &str = "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
/// Another client application of the tenant.
pub const OTHER_APP_ID: &str = "0f0e0d0c-0b0a-4909-8807-060504030201";

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn vector_path(relative: &str) -> PathBuf {
    vectors_dir().join(relative)
}

pub fn example_rules_text() -> String {
    std::fs::read_to_string(crate_dir().join("rules.example.toml")).unwrap()
}

pub async fn sandbox() -> Sandbox {
    Sandbox::start_default().await.unwrap()
}

/// Graph client on the sandbox with millisecond backoff, so retry tests stay quick.
pub fn graph(sandbox: &Sandbox) -> GraphClient {
    entra_graph::testing::sandbox_client(sandbox)
}

/// `[token_issuance_start]` with `extension_app_id` set to the sandbox's, plus `body`.
pub fn rules(sandbox: &Sandbox, body: &str) -> TokenIssuanceStartRules {
    let text = format!(
        "[token_issuance_start]\nextension_app_id = \"{}\"\n{body}",
        sandbox.config().extension_app_id
    );
    TokenIssuanceStartRules::from_toml(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

pub fn provider(sandbox: &Sandbox, body: &str) -> ClaimsProvider {
    ClaimsProvider::new(&rules(sandbox, body), Some(graph(sandbox))).unwrap()
}

pub fn app_with(sandbox: &Sandbox, provider: ClaimsProvider) -> axum::Router {
    router(
        Arc::new(TokenIssuanceStart::new(sandbox_guard(sandbox)).with_provider(provider)),
        64 * 1024,
    )
}

pub fn app(sandbox: &Sandbox, body: &str) -> axum::Router {
    app_with(sandbox, provider(sandbox, body))
}

/// The documented request for the sandbox tenant, for `user_id` signing in to `client_app`.
/// The `user` object is the sparse one External ID sends (id, displayName, mail, UPN, userType).
pub fn callout(sandbox: &Sandbox, user_id: &str, client_app: &str) -> Value {
    let path = vector_path("docs/tokenIssuanceStart.request.json");
    let mut body: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let data = &mut body["data"];
    data["tenantId"] = json!(sandbox.tenant_id());
    let context = &mut data["authenticationContext"];
    context["correlationId"] = json!("0c1d2e3f-4a5b-4c6d-8e7f-000000000003");
    context["clientServicePrincipal"]["appId"] = json!(client_app);
    context["clientServicePrincipal"]["appDisplayName"] = json!("Contoso Shop");
    context["user"] = json!({
        "id": user_id,
        "displayName": "Ava Thompson",
        "mail": entra_sandbox::directory::DEMO_USER_EMAIL,
        "userType": "Member"
    });
    body
}

pub fn parsed(body: &Value) -> TokenIssuanceStartRequest {
    TokenIssuanceStartRequest::parse(body.to_string().as_bytes()).unwrap()
}

/// POSTs `body` to the function with a fresh token from the sandbox.
pub async fn call(sandbox: &Sandbox, app: axum::Router, body: &Value) -> (u16, Value) {
    post_raw(sandbox, app, body.to_string().into_bytes()).await
}

/// POSTs `body` as it is (any bytes) to the function with a fresh token from the sandbox.
pub async fn post_raw(sandbox: &Sandbox, app: axum::Router, body: Vec<u8>) -> (u16, Value) {
    let token = sandbox.extension_token().sign();
    let request = http::Request::post(PATH)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The claims object of a `provideClaimsForToken` answer.
pub fn claims(response: &Value) -> &serde_json::Map<String, Value> {
    response["data"]["actions"][0]["claims"]
        .as_object()
        .unwrap_or_else(|| panic!("no claims in {response}"))
}

/// Graph requests the sandbox received whose path starts with `prefix`.
pub fn graph_requests(sandbox: &Sandbox, prefix: &str) -> Vec<RecordedRequest> {
    sandbox
        .request_log()
        .into_iter()
        .filter(|r| r.path().starts_with(prefix))
        .collect()
}

/// The user read path for `user_id` (not the membership read under it).
pub fn user_reads(sandbox: &Sandbox, user_id: &str) -> Vec<RecordedRequest> {
    let path = format!("/v1.0/users/{user_id}");
    graph_requests(sandbox, &path)
        .into_iter()
        .filter(|r| r.path() == path)
        .collect()
}

pub fn group_reads(sandbox: &Sandbox, user_id: &str) -> Vec<RecordedRequest> {
    graph_requests(
        sandbox,
        &format!("/v1.0/users/{user_id}/transitiveMemberOf"),
    )
}

/// Checks an answer against Entra's contract (a.4, a.5): the documented literals, exactly one
/// action, claims only strings or string arrays, within 3 KB.
pub fn assert_conformant(response: &Value) {
    let data = &response["data"];
    assert_eq!(
        data["@odata.type"], "microsoft.graph.onTokenIssuanceStartResponseData",
        "{response}"
    );
    let actions = data["actions"].as_array().expect("actions array");
    assert_eq!(actions.len(), 1, "{response}");
    assert_eq!(
        actions[0]["@odata.type"],
        "microsoft.graph.tokenIssuanceStart.provideClaimsForToken"
    );
    let mut size = 0;
    for (name, value) in claims(response) {
        assert!(!name.is_empty(), "{response}");
        size += name.len();
        match value {
            Value::String(s) => size += s.len(),
            Value::Array(items) => {
                for item in items {
                    size += item.as_str().expect("array claims hold strings").len();
                }
            }
            other => panic!("claim {name} is {other}, not a string or string array"),
        }
    }
    assert!(size <= 3 * 1024, "{size} bytes of claims");
}
