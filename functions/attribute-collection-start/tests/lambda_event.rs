//! Handler tests through the Lambda event path: an API Gateway HTTP API (v2) event, as lambda_http
//! receives it in AWS, converted with `lambda_http::request::from_str` and routed by the function's
//! own router. Tokens are real, signed by the simulated tenant, whose JWKS is fetched over loopback.

mod common;

use std::sync::Arc;

use attribute_collection_start::{AttributeCollectionStart, PATH, router};
use entra_extensions::EventKind;
use entra_extensions::testing::sandbox_guard;
use entra_extensions::testing::{
    self, assert_bad_tokens_refused, assert_error, assert_foreign_bodies_refused,
    invoke_lambda_event,
};
use entra_sandbox::Sandbox;
use serde_json::json;

const DOCS_REQUEST: &str = "docs/attributeCollectionStart.request.json";

fn app(sandbox: &Sandbox) -> axum::Router {
    let rules = common::rules(
        "[[attribute_collection_start.rules]]\nprefill.country = { from = \"market_region\" }\n",
    );
    let state = AttributeCollectionStart::new(sandbox_guard(sandbox), &rules);
    router(Arc::new(state), 64 * 1024)
}

#[tokio::test]
async fn valid_callout_through_the_lambda_event_gets_prefill_values() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = sandbox.extension_token().sign();
    let body = testing::request_for(DOCS_REQUEST, sandbox.tenant_id()).to_string();
    let bearer = format!("Bearer {token}");
    let answer = invoke_lambda_event(app(&sandbox), PATH, Some(&bearer), body).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(
        answer.json,
        json!({"data": {
            "@odata.type": "microsoft.graph.onAttributeCollectionStartResponseData",
            "actions": [{
                "@odata.type": "microsoft.graph.attributeCollectionStart.setPrefillValues",
                "inputs": {"country": "US"}
            }]
        }})
    );
}

#[tokio::test]
async fn missing_or_foreign_tokens_get_401_without_detail() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let body = testing::request_for(DOCS_REQUEST, sandbox.tenant_id()).to_string();
    let foreign = sandbox
        .extension_token()
        .claim("azp", "11111111-2222-3333-4444-555555555555")
        .sign();
    assert_bad_tokens_refused(|| app(&sandbox), PATH, &foreign, &body).await;
}

#[tokio::test]
async fn body_for_another_tenant_is_refused() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = sandbox.extension_token().sign();
    let body =
        testing::request_for(DOCS_REQUEST, "aaaabbbb-0000-cccc-1111-dddd2222eeee").to_string();
    let bearer = format!("Bearer {token}");
    let answer = invoke_lambda_event(app(&sandbox), PATH, Some(&bearer), body).await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn malformed_and_foreign_event_bodies_get_400_json() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = format!("Bearer {}", sandbox.extension_token().sign());
    let request = testing::request_for(DOCS_REQUEST, sandbox.tenant_id());
    assert_foreign_bodies_refused(
        || app(&sandbox),
        PATH,
        &token,
        &request,
        EventKind::AttributeCollectionSubmit,
    )
    .await;
    let mut bad_info = request;
    bad_info["data"]["userSignUpInfo"]["attributes"] = json!("givenName");
    let answer = invoke_lambda_event(app(&sandbox), PATH, Some(&token), bad_info.to_string()).await;
    assert_error(&answer, 400, "invalid_callout");
}

#[tokio::test]
async fn oversized_body_gets_413_json() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = format!("Bearer {}", sandbox.extension_token().sign());
    let mut body = testing::request_for(DOCS_REQUEST, sandbox.tenant_id());
    body["padding"] = json!("x".repeat(70 * 1024));
    let answer = invoke_lambda_event(app(&sandbox), PATH, Some(&token), body.to_string()).await;
    assert_error(&answer, 413, "payload_too_large");
}
