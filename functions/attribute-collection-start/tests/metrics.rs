//! The EMF metrics line each callout writes, through the function's real router with real tokens
//! from the simulated tenant (entra_extensions::metrics).

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use attribute_collection_start::{
    AttributeCollectionStart, AttributeCollectionStartExtension, ExtensionError, PATH,
    StartContext, router,
};
use entra_extensions::testing::{
    invoke_lambda_event, request_for, sandbox_guard_with_metrics, single_metrics_line,
};
use entra_extensions::{AttributeCollectionStartAction, AttributeCollectionStartRequest};
use entra_sandbox::Sandbox;
use serde_json::Value;

const FUNCTION: &str = "attribute-collection-start";
const PREFILL_CITY: &str = "[[attribute_collection_start.rules]]\nprefill.city = \"Seattle\"\n";

/// Custom logic whose store is down: the rules' answer goes out as a fallback.
struct Failing;

#[async_trait]
impl AttributeCollectionStartExtension for Failing {
    fn name(&self) -> &str {
        "failing"
    }

    async fn review(
        &self,
        _request: &AttributeCollectionStartRequest,
        _proposed: &AttributeCollectionStartAction,
        _context: &StartContext<'_>,
    ) -> Result<Option<AttributeCollectionStartAction>, ExtensionError> {
        Err("the invitation store is down".into())
    }
}

fn request(sandbox: &Sandbox, correlation_id: &str) -> String {
    let mut body = request_for(
        "docs/attributeCollectionStart.request.json",
        sandbox.tenant_id(),
    );
    body["data"]["authenticationContext"]["correlationId"] = correlation_id.into();
    body.to_string()
}

async fn call(sandbox: &Sandbox, state: AttributeCollectionStart, body: String) -> u16 {
    let bearer = format!("Bearer {}", sandbox.extension_token().sign());
    invoke_lambda_event(
        router(Arc::new(state), 64 * 1024),
        PATH,
        Some(&bearer),
        body,
    )
    .await
    .status
}

#[tokio::test]
async fn an_answered_callout_writes_its_action_and_no_graph_use() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let (guard, lines) = sandbox_guard_with_metrics(&sandbox);
    let state = AttributeCollectionStart::new(guard, &common::rules(PREFILL_CITY));
    let status = call(
        &sandbox,
        state,
        request(&sandbox, "11111111-2222-4333-8444-555555555555"),
    )
    .await;
    assert_eq!(status, 200);

    let line = single_metrics_line(&lines, FUNCTION);
    assert_eq!(line["Action"], "setPrefillValues");
    assert_eq!(line["Event"], "attributeCollectionStart");
    assert_eq!(
        line["CorrelationId"],
        "11111111-2222-4333-8444-555555555555"
    );
    assert_eq!(line["CalloutFallback"], 0);
    assert_eq!(line["CalloutServerError"], 0);
    assert_eq!(line["GraphCalls"], 0);
    assert_eq!(line["GraphTime"], 0.0);
    assert!(line["CalloutLatency"].as_f64().unwrap() > 0.0, "{line}");
}

#[tokio::test]
async fn failing_custom_logic_shows_as_a_fallback() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let (guard, lines) = sandbox_guard_with_metrics(&sandbox);
    let state = AttributeCollectionStart::new(guard, &common::rules(PREFILL_CITY))
        .with_extension(Arc::new(Failing));
    let status = call(&sandbox, state, request(&sandbox, "c0")).await;
    assert_eq!(status, 200);

    let line = single_metrics_line(&lines, FUNCTION);
    assert_eq!(line["Action"], "setPrefillValues");
    assert_eq!(line["CalloutFallback"], 1);
}

#[tokio::test]
async fn a_body_for_another_tenant_is_a_refused_callout_not_a_token_rejection() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let (guard, lines) = sandbox_guard_with_metrics(&sandbox);
    let state = AttributeCollectionStart::new(guard, &common::rules(PREFILL_CITY));
    let mut body: Value = serde_json::from_str(&request(&sandbox, "c1")).unwrap();
    body["data"]["tenantId"] = "aaaabbbb-0000-cccc-1111-dddd2222eeee".into();
    let status = call(&sandbox, state, body.to_string()).await;
    assert_eq!(status, 401);

    let line = single_metrics_line(&lines, FUNCTION);
    assert_eq!(line["Status"], 401);
    assert_eq!(line["Action"], "none");
    assert_eq!(line["CalloutServerError"], 0);
    assert!(line.get("TokenRejected").is_none(), "{line}");
}

#[tokio::test]
async fn a_token_for_another_audience_counts_as_rejected() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let (guard, lines) = sandbox_guard_with_metrics(&sandbox);
    let state = AttributeCollectionStart::new(guard, &common::rules(PREFILL_CITY));
    let token = sandbox
        .extension_token()
        .claim("aud", "99999999-8888-4777-8666-555555555555")
        .sign();
    let answer = invoke_lambda_event(
        router(Arc::new(state), 64 * 1024),
        PATH,
        Some(&format!("Bearer {token}")),
        request(&sandbox, "c2"),
    )
    .await;
    assert_eq!(answer.status, 401);
    let line = single_metrics_line(&lines, FUNCTION);
    assert_eq!(line["Reason"], "wrong_audience");
    assert_eq!(line["TokenRejected"], 1);
}
