//! Handler tests through the Lambda event path: an API Gateway HTTP API (v2) event, as lambda_http
//! receives it in AWS, converted with `lambda_http::request::from_str` and routed by the function's
//! own router. Tokens are real, signed by the simulated tenant, whose JWKS is fetched over loopback;
//! the uniqueness rule reads the simulated tenant's directory.

mod common;

use std::sync::Arc;

use attribute_collection_submit::{AttributeCollectionSubmit, PATH, router};
use common::{EXT, custom, string};
use entra_extensions::EventKind;
use entra_extensions::testing::sandbox_guard;
use entra_extensions::testing::{
    self, assert_bad_tokens_refused, assert_error, assert_foreign_bodies_refused,
    invoke_lambda_event,
};
use entra_sandbox::Sandbox;
use serde_json::{Value, json};

const DOCS_REQUEST: &str = "docs/attributeCollectionSubmit.request.json";

fn app(sandbox: &Sandbox) -> axum::Router {
    let state = AttributeCollectionSubmit::new(
        sandbox_guard(sandbox),
        &common::example_rules(),
        Some(common::graph(sandbox)),
    )
    .unwrap();
    router(Arc::new(state), 64 * 1024)
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
    let answer = invoke_lambda_event(app(&sandbox), PATH, Some(&token), sign_up("LN-100004")).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(
        answer.json,
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
    let answer = invoke_lambda_event(app(&sandbox), PATH, Some(&token), sign_up("ln-300001")).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(
        answer.json["data"]["actions"][0],
        json!({
            "@odata.type": "microsoft.graph.attributeCollectionSubmit.modifyAttributeValues",
            "attributes": {format!("{EXT}_loyaltyNumber"): "LN-300001"}
        })
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
        EventKind::AttributeCollectionStart,
    )
    .await;
    let mut bad_identities = testing::request_for(DOCS_REQUEST, sandbox.tenant_id());
    bad_identities["data"]["userSignUpInfo"]["identities"] = json!({"signInType": "email"});
    let mut no_context = testing::request_for(DOCS_REQUEST, sandbox.tenant_id());
    no_context["data"]["authenticationContext"] = Value::Null;
    let cases = [
        ("[]".to_owned(), "malformed_json"),
        (bad_identities.to_string(), "invalid_callout"),
        (no_context.to_string(), "invalid_callout"),
    ];
    for (body, code) in cases {
        let answer = invoke_lambda_event(app(&sandbox), PATH, Some(&token), body).await;
        assert_error(&answer, 400, code);
    }
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
