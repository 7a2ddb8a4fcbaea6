//! Handler tests through the Lambda event path: an API Gateway HTTP API (v2) event, as lambda_http
//! receives it in AWS, converted with `lambda_http::request::from_str` and routed by the function's
//! own router. Tokens are real, signed by the simulated tenant, whose JWKS is fetched over loopback;
//! the uniqueness rule reads the simulated tenant's directory.

mod common;

use std::sync::Arc;

use attribute_collection_submit::{AttributeCollectionSubmit, PATH, router};
use axum::body::Body;
use common::{EXT, custom, string};
use entra_sandbox::Sandbox;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const FIXTURE: &str = include_str!("fixtures/apigw_v2_proxy_request.json");
const DOCS_REQUEST: &str = "docs/attributeCollectionSubmit.request.json";

fn app(sandbox: &Sandbox) -> axum::Router {
    let state = AttributeCollectionSubmit::new(
        common::guard(sandbox),
        &common::example_rules(),
        Some(common::graph(sandbox)),
    )
    .unwrap();
    router(Arc::new(state), 64 * 1024)
}

async fn invoke(
    app: axum::Router,
    authorization: Option<String>,
    body: String,
) -> (u16, Value, http::HeaderMap) {
    let mut event: Value = serde_json::from_str(FIXTURE).unwrap();
    event["rawPath"] = json!(PATH);
    event["rawQueryString"] = json!("");
    event["queryStringParameters"] = json!({});
    event["requestContext"]["http"]["path"] = json!(PATH);
    let mut headers = json!({ "content-type": "application/json" });
    if let Some(value) = authorization {
        headers["authorization"] = json!(value);
    }
    event["headers"] = headers;
    event["body"] = json!(body);
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(parts, Body::from(body.to_vec()));
    let response = app.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json, headers)
}

fn sign_up(loyalty_number: &str) -> String {
    common::submit_body(
        json!({
            "email": string("new.customer@example.com"),
            "displayName": string("New Customer"),
            format!("{EXT}_loyaltyNumber"): custom(loyalty_number),
        }),
        common::SHOP,
        "en-us",
    )
    .to_string()
}

#[tokio::test]
async fn valid_callouts_through_the_lambda_event() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = format!("Bearer {}", sandbox.extension_token().sign());
    let (status, json, headers) =
        invoke(app(&sandbox), Some(token.clone()), sign_up("LN-100004")).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        json,
        json!({"data": {
            "@odata.type": "microsoft.graph.onAttributeCollectionSubmitResponseData",
            "actions": [{
                "@odata.type": "microsoft.graph.attributeCollectionSubmit.showValidationError",
                "message": "Please fix the errors below to continue.",
                "attributeErrors": {
                    format!("{EXT}_loyaltyNumber"): "This loyalty number already belongs to another account."
                }
            }]
        }})
    );
    let (status, json, _) = invoke(app(&sandbox), Some(token), sign_up("ln-300001")).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(
        json["data"]["actions"][0],
        json!({
            "@odata.type": "microsoft.graph.attributeCollectionSubmit.modifyAttributeValues",
            "attributes": {format!("{EXT}_loyaltyNumber"): "LN-300001"}
        })
    );
}

#[tokio::test]
async fn missing_or_foreign_tokens_get_401_without_detail() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let body = common::request_for(DOCS_REQUEST, sandbox.tenant_id()).to_string();
    let foreign = sandbox
        .extension_token()
        .claim("azp", "11111111-2222-3333-4444-555555555555")
        .sign();
    for authorization in [
        None,
        Some("Bearer not-a-jwt".to_owned()),
        Some(format!("Bearer {foreign}")),
    ] {
        let (status, json, headers) =
            invoke(app(&sandbox), authorization.clone(), body.clone()).await;
        assert_eq!(status, 401, "{authorization:?}");
        assert_eq!(
            json,
            json!({"error": {"code": "unauthorized", "message": "unauthorized"}})
        );
        assert_eq!(headers["www-authenticate"], "Bearer");
    }
    // No token, no directory lookup.
    assert!(
        sandbox
            .faults()
            .request_log()
            .iter()
            .all(|r| !r.path().starts_with("/v1.0/users"))
    );
}

#[tokio::test]
async fn body_for_another_tenant_is_refused() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = sandbox.extension_token().sign();
    let body =
        common::request_for(DOCS_REQUEST, "aaaabbbb-0000-cccc-1111-dddd2222eeee").to_string();
    let (status, _, _) = invoke(app(&sandbox), Some(format!("Bearer {token}")), body).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn malformed_and_foreign_event_bodies_get_400_json() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = format!("Bearer {}", sandbox.extension_token().sign());
    let mut start = common::request_for(DOCS_REQUEST, sandbox.tenant_id());
    start["type"] = json!("microsoft.graph.authenticationEvent.attributeCollectionStart");
    let mut bad_identities = common::request_for(DOCS_REQUEST, sandbox.tenant_id());
    bad_identities["data"]["userSignUpInfo"]["identities"] = json!({"signInType": "email"});
    let mut no_context = common::request_for(DOCS_REQUEST, sandbox.tenant_id());
    no_context["data"]["authenticationContext"] = Value::Null;
    let cases = [
        ("{\"type\": ".to_owned(), "malformed_json"),
        ("<xml/>".to_owned(), "malformed_json"),
        ("[]".to_owned(), "malformed_json"),
        (start.to_string(), "wrong_event_type"),
        (bad_identities.to_string(), "invalid_callout"),
        (no_context.to_string(), "invalid_callout"),
        (
            json!({"type": "something.else", "data": {}}).to_string(),
            "unknown_event_type",
        ),
    ];
    for (body, code) in cases {
        let (status, json, _) = invoke(app(&sandbox), Some(token.clone()), body).await;
        assert_eq!(status, 400, "{code}");
        assert_eq!(json["error"]["code"], code);
    }
}

#[tokio::test]
async fn oversized_body_gets_413_json() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = format!("Bearer {}", sandbox.extension_token().sign());
    let mut body = common::request_for(DOCS_REQUEST, sandbox.tenant_id());
    body["padding"] = json!("x".repeat(70 * 1024));
    let (status, json, _) = invoke(app(&sandbox), Some(token), body.to_string()).await;
    assert_eq!(status, 413);
    assert_eq!(json["error"]["code"], "payload_too_large");
}
