//! The EMF metrics line each callout writes, through the function's real router with real tokens
//! from the simulated tenant and its Graph on loopback (entra_extensions::metrics).

mod common;

use std::sync::Arc;

use attribute_collection_submit::{AttributeCollectionSubmit, PATH, router};
use common::{EXT, SHOP, custom, string, submit_body};
use entra_extensions::metrics::MemoryWriter;
use entra_extensions::testing::{
    invoke_lambda_event, sandbox_guard_with_metrics, single_metrics_line,
};
use entra_sandbox::{Fault, FaultRule, Sandbox};
use serde_json::{Value, json};

const FUNCTION: &str = "attribute-collection-submit";

const LOYALTY: &str = r#"
[attribute_collection_submit]
timeout_ms = 1000
extensions_app_id = "7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13"

[[attribute_collection_submit.attributes]]
name = "loyaltyNumber"
normalize = ["trim", "uppercase"]
unique = true
"#;

/// POSTs a sign-up with `loyalty_number` through the Lambda event path; the status and the
/// metrics line it wrote.
async fn sign_up(sandbox: &Sandbox, loyalty_number: &str) -> (u16, Value) {
    let (guard, lines): (_, Arc<MemoryWriter>) = sandbox_guard_with_metrics(sandbox);
    let state = AttributeCollectionSubmit::new(
        guard,
        &common::rules(LOYALTY),
        Some(common::graph(sandbox)),
    )
    .unwrap();
    let attributes =
        json!({format!("{EXT}_loyaltyNumber"): custom(loyalty_number), "city": string("Sydney")});
    let body = submit_body(attributes, SHOP, "en-us").to_string();
    let bearer = format!("Bearer {}", sandbox.extension_token().sign());
    let answer = invoke_lambda_event(
        router(Arc::new(state), 64 * 1024),
        PATH,
        Some(&bearer),
        body,
    )
    .await;
    (answer.status, single_metrics_line(&lines, FUNCTION))
}

fn graph_requests(sandbox: &Sandbox) -> usize {
    sandbox
        .request_log()
        .iter()
        .filter(|request| request.path().starts_with("/v1.0/"))
        .count()
}

#[tokio::test]
async fn a_uniqueness_check_counts_its_graph_query() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let (status, line) = sign_up(&sandbox, "LN-999999").await;
    assert_eq!(status, 200);
    assert_eq!(line["Action"], "continueWithDefaultBehavior");
    assert_eq!(line["Event"], "attributeCollectionSubmit");
    assert_eq!(
        line["CorrelationId"],
        "0c1d2e3f-4a5b-4c6d-8e7f-000000000003"
    );
    assert_eq!(line["CalloutFallback"], 0);
    let queries = graph_requests(&sandbox);
    assert!(queries >= 1);
    assert_eq!(line["GraphCalls"], queries);
    assert!(line["GraphTime"].as_f64().unwrap() > 0.0, "{line}");
}

#[tokio::test]
async fn a_taken_value_answers_a_validation_error() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let (status, line) = sign_up(&sandbox, "LN-100001").await;
    assert_eq!(status, 200);
    assert_eq!(line["Action"], "showValidationError");
    assert_eq!(line["CalloutFallback"], 0);
    assert!(line["GraphCalls"].as_u64().unwrap() >= 1, "{line}");
}

#[tokio::test]
async fn an_unavailable_directory_shows_as_a_fallback_with_its_retries() {
    let sandbox = Sandbox::start_default().await.unwrap();
    sandbox.faults().add(FaultRule::new(
        "/v1.0/users",
        Fault::ServiceUnavailable { retry_after: None },
        None,
    ));
    let (status, line) = sign_up(&sandbox, "LN-999999").await;
    assert_eq!(status, 200);
    assert_eq!(line["CalloutFallback"], 1);
    assert_eq!(line["CalloutServerError"], 0);
    let attempts = graph_requests(&sandbox);
    assert!(attempts > 1, "the client retried: {attempts}");
    assert_eq!(line["GraphCalls"], attempts);
}
