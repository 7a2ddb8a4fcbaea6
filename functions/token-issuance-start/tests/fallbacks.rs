//! When Graph fails or is late, the answer still arrives within the budget, shaped by each rule's
//! `on_error`: without the claim (`omit`, the default), with its `default`, or HTTP 500 (`fail`).
//! Faults are injected by the simulated tenant on the real HTTP path. Timing assertions are
//! generous: the injected delays are 10 s, so an answer inside the budget proves the deadline cut
//! the wait, without asserting exact times.

mod common;

use std::time::{Duration, Instant};

use common::SHOP_APP_ID;
use entra_extensions::CallBudget;
use entra_sandbox::directory::DEMO_USER_ID;
use entra_sandbox::faults::RetryAfter;
use entra_sandbox::{Fault, FaultRule, Sandbox};
use serde_json::{Value, json};
use token_issuance_start::ClaimsProvider;

const RULES: &str = r#"
[[token_issuance_start.claims]]
name = "loyaltyTier"
source = "extension"
attribute = "loyaltyTier"
default = "None"

[[token_issuance_start.claims]]
name = "givenName"
source = "user"
attribute = "givenName"

[[token_issuance_start.claims]]
name = "customerGroups"
source = "groups"
prefix = "Customers - "

[[token_issuance_start.claims]]
name = "locale"
source = "context"
field = "locale"

[[token_issuance_start.claims]]
name = "brand"
source = "constant"
value = "Contoso"
"#;

const TIMEOUT: Duration = Duration::from_millis(1000);

/// Half the timeout as budget: the other half is slack for a loaded test machine.
fn budget() -> CallBudget {
    CallBudget::start(TIMEOUT, Duration::from_millis(500))
}

async fn decide_timed(sandbox: &Sandbox, provider: &ClaimsProvider) -> (Value, bool, Vec<String>) {
    let body = common::callout(sandbox, DEMO_USER_ID, SHOP_APP_ID);
    let started = Instant::now();
    let decision = provider
        .decide(&common::parsed(&body), budget())
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed < TIMEOUT, "answered after {elapsed:?}");
    common::assert_conformant(&decision.response);
    (
        Value::Object(common::claims(&decision.response).clone()),
        decision.fallback,
        decision.omitted,
    )
}

fn without_graph_claims() -> Value {
    json!({"locale": "en-us", "brand": "Contoso"})
}

#[tokio::test]
async fn persistent_429_answers_in_time_without_the_graph_claims() {
    let sandbox = common::sandbox().await;
    let provider = common::provider(&sandbox, RULES);
    sandbox.faults().add(FaultRule::new(
        "/v1.0/users",
        Fault::TooManyRequests { retry_after: None },
        None,
    ));
    let (claims, fallback, omitted) = decide_timed(&sandbox, &provider).await;
    assert_eq!(claims, without_graph_claims());
    assert!(fallback);
    assert_eq!(omitted, ["loyaltyTier", "givenName", "customerGroups"]);
    // The client retried (fast test backoff) and gave up: several attempts per read.
    assert!(common::user_reads(&sandbox, DEMO_USER_ID).len() > 1);
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_is_not_waited_for() {
    let sandbox = common::sandbox().await;
    let provider = common::provider(&sandbox, RULES);
    sandbox.faults().add(FaultRule::new(
        "/v1.0/users",
        Fault::TooManyRequests {
            retry_after: Some(RetryAfter::Seconds(5)),
        },
        None,
    ));
    let (claims, fallback, _) = decide_timed(&sandbox, &provider).await;
    assert_eq!(claims, without_graph_claims());
    assert!(fallback);
    assert_eq!(common::user_reads(&sandbox, DEMO_USER_ID).len(), 1);
}

#[tokio::test]
async fn a_503_on_the_membership_read_costs_only_the_group_claim() {
    let sandbox = common::sandbox().await;
    let provider = common::provider(&sandbox, RULES);
    sandbox.faults().add(FaultRule::new(
        format!("/v1.0/users/{DEMO_USER_ID}/transitiveMemberOf"),
        Fault::ServiceUnavailable { retry_after: None },
        None,
    ));
    let (claims, fallback, omitted) = decide_timed(&sandbox, &provider).await;
    assert_eq!(
        claims,
        json!({"loyaltyTier": "Gold", "givenName": "Ava", "locale": "en-us", "brand": "Contoso"})
    );
    assert!(fallback);
    assert_eq!(omitted, ["customerGroups"]);
}

#[tokio::test]
async fn graph_slower_than_the_budget_is_cut_off_at_the_deadline() {
    let sandbox = common::sandbox().await;
    let provider = common::provider(&sandbox, RULES);
    sandbox.faults().add(FaultRule::new(
        "/v1.0/users",
        Fault::Delay(Duration::from_secs(10)),
        None,
    ));
    let (claims, fallback, _) = decide_timed(&sandbox, &provider).await;
    assert_eq!(claims, without_graph_claims());
    assert!(fallback);
}

/// The same through the endpoint, with the budget the function derives from `timeout_ms`.
#[tokio::test]
async fn the_endpoint_answers_200_in_time_when_graph_hangs() {
    let sandbox = common::sandbox().await;
    let app = common::app(&sandbox, &format!("timeout_ms = 1000\n{RULES}"));
    sandbox.faults().add(FaultRule::new(
        "/v1.0/users",
        Fault::Delay(Duration::from_secs(10)),
        None,
    ));
    let body = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);
    let started = Instant::now();
    let (status, response) = common::call(&sandbox, app, &body).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "{response}");
    common::assert_conformant(&response);
    assert_eq!(
        Value::Object(common::claims(&response).clone()),
        without_graph_claims()
    );
    // Generous: Entra's largest timeout; without the deadline this would take 10 s.
    assert!(
        elapsed < Duration::from_millis(2000),
        "answered after {elapsed:?}"
    );
}

#[tokio::test]
async fn the_token_endpoint_failing_is_a_graph_failure_too() {
    let sandbox = common::sandbox().await;
    let provider = common::provider(&sandbox, RULES);
    sandbox.faults().add(FaultRule::new(
        format!("/{}/oauth2/v2.0/token", sandbox.tenant_id()),
        Fault::ServiceUnavailable { retry_after: None },
        None,
    ));
    let (claims, fallback, _) = decide_timed(&sandbox, &provider).await;
    assert_eq!(claims, without_graph_claims());
    assert!(fallback);
    assert!(common::graph_requests(&sandbox, "/v1.0").is_empty());
}

const FAIL_RULES: &str = r#"
[[token_issuance_start.claims]]
name = "brand"
source = "constant"
value = "Contoso"

[[token_issuance_start.claims]]
name = "customerGroups"
source = "groups"
prefix = "Customers - "
on_error = "fail"
"#;

#[tokio::test]
async fn fail_rules_answer_500_when_their_source_fails_or_is_late() {
    for fault in [
        Fault::ServiceUnavailable { retry_after: None },
        Fault::TooManyRequests { retry_after: None },
        Fault::Delay(Duration::from_secs(10)),
    ] {
        let sandbox = common::sandbox().await;
        let app = common::app(&sandbox, FAIL_RULES);
        sandbox
            .faults()
            .add(FaultRule::new("/v1.0/users", fault.clone(), None));
        let body = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);
        let started = Instant::now();
        let (status, response) = common::call(&sandbox, app, &body).await;
        assert_eq!(status, 500, "{fault:?}: {response}");
        assert_eq!(
            response,
            json!({"error": {"code": "internal_error", "message": "internal error"}})
        );
        assert!(started.elapsed() < Duration::from_millis(2000), "{fault:?}");
    }
    // Healthy Graph: the same rules answer 200 with the claim.
    let sandbox = common::sandbox().await;
    let app = common::app(&sandbox, FAIL_RULES);
    let body = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);
    let (status, response) = common::call(&sandbox, app, &body).await;
    assert_eq!(status, 200);
    assert_eq!(
        common::claims(&response)["customerGroups"],
        json!(["Customers - Gold", "Customers - VIP"])
    );
}

#[tokio::test]
async fn default_rules_answer_with_their_default_when_graph_fails() {
    let sandbox = common::sandbox().await;
    let provider = common::provider(
        &sandbox,
        "[[token_issuance_start.claims]]\nname = \"loyaltyTier\"\nsource = \"extension\"\nattribute = \"loyaltyTier\"\ndefault = \"Unknown\"\non_error = \"default\"\n",
    );
    sandbox.faults().add(FaultRule::new(
        "/v1.0/users",
        Fault::ServiceUnavailable { retry_after: None },
        None,
    ));
    let (claims, fallback, omitted) = decide_timed(&sandbox, &provider).await;
    assert_eq!(claims, json!({"loyaltyTier": "Unknown"}));
    assert!(fallback);
    assert!(omitted.is_empty());
}

/// A failed read is not cached: once Graph recovers, the next call reads it again.
#[tokio::test]
async fn failures_are_not_cached() {
    let sandbox = common::sandbox().await;
    let provider = common::provider(&sandbox, &format!("cache_ttl_seconds = 60\n{RULES}"));
    sandbox.faults().add(FaultRule::new(
        "/v1.0/users",
        Fault::ServiceUnavailable { retry_after: None },
        None,
    ));
    let (claims, _, _) = decide_timed(&sandbox, &provider).await;
    assert_eq!(claims, without_graph_claims());
    sandbox.faults().clear();
    let (claims, fallback, _) = decide_timed(&sandbox, &provider).await;
    assert!(!fallback);
    assert_eq!(claims["loyaltyTier"], "Gold");
    assert_eq!(
        claims["customerGroups"],
        json!(["Customers - Gold", "Customers - VIP"])
    );
}

/// A callout without a `user` object cannot be enriched from Graph: the rules' fallbacks apply.
#[tokio::test]
async fn a_callout_without_user_uses_the_fallbacks() {
    let sandbox = common::sandbox().await;
    let provider = common::provider(&sandbox, RULES);
    let mut body = common::callout(&sandbox, DEMO_USER_ID, SHOP_APP_ID);
    body["data"]["authenticationContext"]
        .as_object_mut()
        .unwrap()
        .remove("user");
    let decision = provider
        .decide(&common::parsed(&body), budget())
        .await
        .unwrap();
    assert_eq!(
        Value::Object(common::claims(&decision.response).clone()),
        without_graph_claims()
    );
    assert!(decision.fallback);
    assert!(common::graph_requests(&sandbox, "/v1.0").is_empty());
}
