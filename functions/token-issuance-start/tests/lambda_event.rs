//! Handler tests through the Lambda event path: an API Gateway HTTP API (v2) event, as lambda_http
//! receives it in AWS, converted with `lambda_http::request::from_str` and routed by the function's
//! own router. Tokens are real, signed by the simulated tenant, whose JWKS is fetched over loopback.

mod common;

use std::sync::Arc;

use entra_extensions::EventKind;
use entra_extensions::testing::sandbox_guard;
use entra_extensions::testing::{
    assert_bad_tokens_refused, assert_error, assert_foreign_bodies_refused, invoke_lambda_event,
    request_for, test_guard,
};
use entra_sandbox::Sandbox;
use serde_json::{Value, json};
use token_issuance_start::{PATH, TokenIssuanceStart, router};

fn app(sandbox: &Sandbox) -> axum::Router {
    router(
        Arc::new(TokenIssuanceStart::new(sandbox_guard(sandbox))),
        64 * 1024,
    )
}

/// The documented request, addressed to `tenant_id`.
fn docs_request(tenant_id: &str) -> Value {
    request_for("docs/tokenIssuanceStart.request.json", tenant_id)
}

#[tokio::test]
async fn valid_callout_through_the_lambda_event_gets_provide_claims() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = sandbox.extension_token().sign();
    let body = docs_request(sandbox.tenant_id()).to_string();
    let bearer = format!("Bearer {token}");
    let answer = invoke_lambda_event(app(&sandbox), PATH, Some(&bearer), body).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(
        answer.json,
        json!({"data": {
            "@odata.type": "microsoft.graph.onTokenIssuanceStartResponseData",
            "actions": [{
                "@odata.type": "microsoft.graph.tokenIssuanceStart.provideClaimsForToken",
                "claims": {}
            }]
        }})
    );
}

#[tokio::test]
async fn missing_or_foreign_tokens_get_401_without_detail() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let body = docs_request(sandbox.tenant_id()).to_string();
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
    let body = docs_request("aaaabbbb-0000-cccc-1111-dddd2222eeee").to_string();
    let bearer = format!("Bearer {token}");
    let answer = invoke_lambda_event(app(&sandbox), PATH, Some(&bearer), body).await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn malformed_and_foreign_event_bodies_get_400_json() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = format!("Bearer {}", sandbox.extension_token().sign());
    assert_foreign_bodies_refused(
        || app(&sandbox),
        PATH,
        &token,
        &docs_request(sandbox.tenant_id()),
        EventKind::EmailOtpSend,
    )
    .await;
}

#[tokio::test]
async fn oversized_body_gets_413_json() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = format!("Bearer {}", sandbox.extension_token().sign());
    let mut body = docs_request(sandbox.tenant_id());
    body["padding"] = json!("x".repeat(70 * 1024));
    let answer = invoke_lambda_event(app(&sandbox), PATH, Some(&token), body.to_string()).await;
    assert_error(&answer, 413, "payload_too_large");
}

/// The tenant's keys cannot be fetched and none are cached: our failure, so a 500 (Entra's
/// failure path), not a 401 that would blame the token.
#[tokio::test]
async fn unreachable_signing_keys_are_a_server_error() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = format!("Bearer {}", sandbox.extension_token().sign());
    let body = docs_request(sandbox.tenant_id()).to_string();
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let config = sandbox.config();
    let discovery = format!(
        "http://{dead}/{}/v2.0/.well-known/openid-configuration",
        config.tenant_id
    );
    let guard = test_guard(
        discovery.parse().unwrap(),
        &config.tenant_id,
        vec![config.extension_app_id.clone()],
    );
    let app = router(Arc::new(TokenIssuanceStart::new(guard)), 64 * 1024);
    let answer = invoke_lambda_event(app, PATH, Some(&token), body).await;
    assert_eq!(answer.status, 500);
    assert_eq!(
        answer.json,
        json!({"error": {"code": "internal_error", "message": "internal error"}})
    );
}
