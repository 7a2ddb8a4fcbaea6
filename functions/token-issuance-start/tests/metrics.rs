//! The EMF metrics line each callout writes, through the function's real router with real tokens
//! from the simulated tenant and Graph on loopback (entra_extensions::metrics).

mod common;

use std::sync::Arc;

use common::SHOP_APP_ID;
use entra_extensions::metrics::MemoryWriter;
use entra_extensions::testing::{sandbox_guard_with_metrics, single_metrics_line};
use entra_sandbox::directory::DEMO_USER_ID;
use entra_sandbox::{Fault, FaultRule, Sandbox};
use token_issuance_start::{ACTION, PATH, TokenIssuanceStart, router};

const FUNCTION: &str = "token-issuance-start";

const GRAPH_RULES: &str = r#"
[[token_issuance_start.claims]]
name = "givenName"
source = "user"
attribute = "givenName"

[[token_issuance_start.claims]]
name = "customerGroups"
source = "groups"
prefix = "Customers - "
"#;

fn app(sandbox: &Sandbox, rules: &str) -> (axum::Router, Arc<MemoryWriter>) {
    let (guard, lines) = sandbox_guard_with_metrics(sandbox);
    let app = TokenIssuanceStart::new(guard).with_provider(common::provider(sandbox, rules));
    (router(Arc::new(app), 64 * 1024), lines)
}

#[tokio::test]
async fn a_callout_reading_graph_counts_its_graph_calls() {
    let sandbox = common::sandbox().await;
    let (app, lines) = app(&sandbox, GRAPH_RULES);
    let body = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);
    let (status, response) = common::call(&sandbox, app, &body).await;
    assert_eq!(status, 200, "{response}");

    let line = single_metrics_line(&lines, FUNCTION);
    let graph_calls = common::graph_requests(&sandbox, "/v1.0/").len();
    assert!(graph_calls >= 2, "user and membership reads: {graph_calls}");
    assert_eq!(line["GraphCalls"], graph_calls);
    assert!(line["GraphTime"].as_f64().unwrap() > 0.0, "{line}");
    assert!(
        line["CalloutLatency"].as_f64().unwrap() >= line["GraphTime"].as_f64().unwrap(),
        "{line}"
    );
    assert_eq!(line["Action"], ACTION);
    assert_eq!(line["Event"], "tokenIssuanceStart");
    assert_eq!(
        line["CorrelationId"],
        "0c1d2e3f-4a5b-4c6d-8e7f-000000000003"
    );
    assert_eq!(line["Callouts"], 1);
    assert_eq!(line["CalloutFallback"], 0);
    assert_eq!(line["CalloutServerError"], 0);
    assert_eq!(line["Status"], 200);
}

#[tokio::test]
async fn a_failing_graph_shows_as_a_fallback_with_its_retries_counted() {
    let sandbox = common::sandbox().await;
    sandbox.faults().add(FaultRule::new(
        "/v1.0/users",
        Fault::ServiceUnavailable { retry_after: None },
        None,
    ));
    let (app, lines) = app(&sandbox, GRAPH_RULES);
    let body = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);
    let (status, _) = common::call(&sandbox, app, &body).await;
    assert_eq!(status, 200);

    let line = single_metrics_line(&lines, FUNCTION);
    assert_eq!(line["CalloutFallback"], 1);
    assert_eq!(line["CalloutServerError"], 0);
    let attempts = common::graph_requests(&sandbox, "/v1.0/").len();
    assert!(attempts > 2, "the client retried: {attempts}");
    assert_eq!(line["GraphCalls"], attempts);
}

#[tokio::test]
async fn a_rule_that_fails_the_call_counts_a_server_error() {
    let sandbox = common::sandbox().await;
    sandbox.faults().add(FaultRule::new(
        "/v1.0/users",
        Fault::ServiceUnavailable { retry_after: None },
        None,
    ));
    let rules = "[[token_issuance_start.claims]]\nname = \"givenName\"\nsource = \"user\"\nattribute = \"givenName\"\non_error = \"fail\"\n";
    let (app, lines) = app(&sandbox, rules);
    let body = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);
    let (status, _) = common::call(&sandbox, app, &body).await;
    assert_eq!(status, 500);

    let line = single_metrics_line(&lines, FUNCTION);
    assert_eq!(line["CalloutServerError"], 1);
    assert_eq!(line["Status"], 500);
    assert_eq!(line["Action"], "none");
    assert_eq!(line["Event"], "tokenIssuanceStart");
}

#[tokio::test]
async fn a_refused_token_counts_its_reason_and_no_callout() {
    let sandbox = common::sandbox().await;
    let body = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID).to_string();
    let expired = sandbox.extension_token().expires_in(-3600).sign();
    let foreign = sandbox
        .extension_token()
        .claim("azp", "11111111-2222-3333-4444-555555555555")
        .sign();
    for (authorization, reason) in [
        (None, "missing_bearer"),
        (Some(format!("Bearer {expired}")), "expired"),
        (Some(format!("Bearer {foreign}")), "wrong_authorized_party"),
    ] {
        let (app, lines) = app(&sandbox, "");
        let answer = entra_extensions::testing::invoke_lambda_event(
            app,
            PATH,
            authorization.as_deref(),
            body.clone(),
        )
        .await;
        assert_eq!(answer.status, 401);
        let line = single_metrics_line(&lines, FUNCTION);
        assert_eq!(line["TokenRejected"], 1, "{line}");
        assert_eq!(line["Reason"], reason, "{line}");
        assert!(line.get("Callouts").is_none(), "{line}");
    }
}
