//! Uniqueness against the simulated tenant's directory over real HTTP (the seed gives the 25 demo
//! customers loyalty numbers LN-100001 ... LN-100025), and the configured fallback when Graph
//! throttles, fails or is late: the answer still comes within Entra's timeout.

mod common;

use std::time::Duration;

use attribute_collection_submit::{
    AttributeCollectionSubmit, DEFAULT_UNAVAILABLE_MESSAGE, DEFAULT_UNAVAILABLE_TITLE, Decision,
};
use common::{EXT, custom, string, submit};
use entra_extensions::testing::sandbox_guard;
use entra_sandbox::faults::RetryAfter;
use entra_sandbox::{Fault, FaultRule, Sandbox};
use serde_json::{Value, json};

const LOYALTY: &str = r#"
[attribute_collection_submit]
timeout_ms = 1000
extensions_app_id = "7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13"

[[attribute_collection_submit.attributes]]
name = "loyaltyNumber"
normalize = ["trim", "uppercase"]
pattern = 'LN-[0-9]{6}'
unique = true
messages.unique = "This loyalty number already belongs to another account."
"#;

fn loyalty(value: &str) -> Value {
    json!({format!("{EXT}_loyaltyNumber"): custom(value), "city": string("Sydney")})
}

async fn decide(sandbox: &Sandbox, rules: &str, attributes: Value) -> Decision {
    let rules = common::rules(rules);
    let state = AttributeCollectionSubmit::new(
        sandbox_guard(sandbox),
        &rules,
        Some(common::graph(sandbox)),
    )
    .unwrap();
    let budget = state.start_budget();
    let decision = state.decide(&submit(attributes), budget).await.unwrap();
    common::assert_conformant(&decision.response);
    // Always within Entra's timeout (1000 ms here), whatever the directory did.
    assert!(
        budget.elapsed() < Duration::from_millis(1000),
        "answered after {:?}",
        budget.elapsed()
    );
    decision
}

fn action(decision: &Decision) -> &Value {
    &decision.response["data"]["actions"][0]
}

/// The `$filter` values of the Graph user queries the sandbox received.
fn user_filters(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .faults()
        .request_log()
        .iter()
        .filter(|r| r.path() == "/v1.0/users")
        .filter_map(|r| {
            let url = reqwest::Url::parse(&format!("http://x{}", r.path_and_query)).unwrap();
            url.query_pairs()
                .find(|(k, _)| k == "$filter")
                .map(|(_, v)| v.into_owned())
        })
        .collect()
}

#[tokio::test]
async fn a_number_another_customer_holds_is_a_validation_error() {
    let sandbox = Sandbox::start_default().await.unwrap();
    // Ava Thompson (demo user 1) holds LN-100001; the entry is normalised before the lookup.
    let decision = decide(&sandbox, LOYALTY, loyalty("  ln-100001 ")).await;
    assert_eq!(
        action(&decision),
        &json!({
            "@odata.type": "microsoft.graph.attributeCollectionSubmit.showValidationError",
            "message": "Please fix the errors below to continue.",
            "attributeErrors": {
                format!("{EXT}_loyaltyNumber"): "This loyalty number already belongs to another account."
            }
        })
    );
    assert!(!decision.fallback);
    assert_eq!(
        user_filters(&sandbox),
        [format!("{EXT}_loyaltyNumber eq 'LN-100001'")]
    );
}

#[tokio::test]
async fn a_free_number_continues_or_is_tidied() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let exact = decide(&sandbox, LOYALTY, loyalty("LN-999999")).await;
    assert_eq!(exact.action_name(), "continueWithDefaultBehavior");
    let tidied = decide(&sandbox, LOYALTY, loyalty(" ln-200001")).await;
    assert_eq!(
        action(&tidied),
        &json!({
            "@odata.type": "microsoft.graph.attributeCollectionSubmit.modifyAttributeValues",
            "attributes": {format!("{EXT}_loyaltyNumber"): "LN-200001"}
        })
    );
    assert_eq!(user_filters(&sandbox).len(), 2);
}

#[tokio::test]
async fn values_are_quoted_in_the_filter() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let rules = format!(
        "[[attribute_collection_submit.attributes]]\nname = \"{EXT}_nickname\"\nunique = true\n"
    );
    let decision = decide(
        &sandbox,
        &rules,
        json!({format!("{EXT}_nickname"): custom("x' or '1' eq '1")}),
    )
    .await;
    assert_eq!(decision.action_name(), "continueWithDefaultBehavior");
    assert_eq!(
        user_filters(&sandbox),
        [format!("{EXT}_nickname eq 'x'' or ''1'' eq ''1'")]
    );
}

#[tokio::test]
async fn values_refused_locally_or_blocked_are_not_looked_up() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let bad_format = decide(&sandbox, LOYALTY, loyalty("LN-1")).await;
    assert_eq!(bad_format.action_name(), "showValidationError");
    let blocked = decide(
        &sandbox,
        &format!(
            "{LOYALTY}\n[[attribute_collection_submit.attributes]]\nname = \"city\"\nallowed_values = [\"Perth\"]\non_invalid = \"block\"\n"
        ),
        loyalty("LN-100002"),
    )
    .await;
    assert_eq!(blocked.action_name(), "showBlockPage");
    let empty = decide(&sandbox, LOYALTY, loyalty("")).await;
    assert_eq!(empty.action_name(), "continueWithDefaultBehavior");
    assert!(user_filters(&sandbox).is_empty());
}

#[tokio::test]
async fn a_duplicate_can_block_instead() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let rules = format!(
        "{LOYALTY}on_invalid = \"block\"\nblock = {{ title = \"Already registered\", message = \"This loyalty number already has an account. Sign in instead.\" }}\n"
    );
    let decision = decide(&sandbox, &rules, loyalty("LN-100025")).await;
    assert_eq!(
        action(&decision),
        &json!({
            "@odata.type": "microsoft.graph.attributeCollectionSubmit.showBlockPage",
            "title": "Already registered",
            "message": "This loyalty number already has an account. Sign in instead."
        })
    );
}

/// The directory misbehaving in every way the budget must survive.
fn faults() -> Vec<(&'static str, Fault)> {
    vec![
        (
            "429 every time",
            Fault::TooManyRequests {
                retry_after: Some(RetryAfter::Seconds(0)),
            },
        ),
        (
            "429 without Retry-After",
            Fault::TooManyRequests { retry_after: None },
        ),
        (
            "503 every time",
            Fault::ServiceUnavailable { retry_after: None },
        ),
        ("504 every time", Fault::GatewayTimeout),
        (
            "slower than the budget",
            Fault::Delay(Duration::from_secs(5)),
        ),
        ("cut-off JSON", Fault::MalformedJson),
    ]
}

async fn with_fault(fault: Fault, on_error: &str) -> (Sandbox, Decision) {
    let sandbox = Sandbox::start_default().await.unwrap();
    sandbox
        .faults()
        .add(FaultRule::new("/v1.0/users", fault, None));
    // Entra's shortest timeout keeps the late cases quick: a 50 ms budget.
    let rules = format!("{LOYALTY}on_error = \"{on_error}\"\n")
        .replace("timeout_ms = 1000", "timeout_ms = 200");
    let decision = decide(&sandbox, &rules, loyalty("LN-100001")).await;
    assert!(decision.fallback);
    (sandbox, decision)
}

#[tokio::test]
async fn on_error_allow_continues_when_the_directory_fails_or_is_late() {
    for (what, fault) in faults() {
        let (sandbox, decision) = with_fault(fault, "allow").await;
        assert_eq!(
            decision.action_name(),
            "continueWithDefaultBehavior",
            "{what}"
        );
        assert!(
            !user_filters(&sandbox).is_empty(),
            "{what}: Graph was asked"
        );
    }
}

#[tokio::test]
async fn on_error_block_shows_the_friendly_block_page() {
    for (what, fault) in faults() {
        let (_, decision) = with_fault(fault, "block").await;
        assert_eq!(
            action(&decision),
            &json!({
                "@odata.type": "microsoft.graph.attributeCollectionSubmit.showBlockPage",
                "title": DEFAULT_UNAVAILABLE_TITLE,
                "message": DEFAULT_UNAVAILABLE_MESSAGE
            }),
            "{what}"
        );
    }
}

#[tokio::test]
async fn on_error_error_asks_to_try_again() {
    for (what, fault) in faults() {
        let (_, decision) = with_fault(fault, "error").await;
        assert_eq!(
            action(&decision)["attributeErrors"],
            json!({format!("{EXT}_loyaltyNumber"): "We couldn't check this value right now. Please try again."}),
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_transient_fault_that_clears_in_time_is_no_fallback() {
    let sandbox = Sandbox::start_default().await.unwrap();
    sandbox.faults().add(FaultRule::new(
        "/v1.0/users",
        Fault::ServiceUnavailable { retry_after: None },
        Some(1),
    ));
    let decision = decide(
        &sandbox,
        &format!("{LOYALTY}on_error = \"block\"\n"),
        loyalty("LN-100003"),
    )
    .await;
    assert!(!decision.fallback);
    assert_eq!(decision.action_name(), "showValidationError");
}

#[tokio::test]
async fn an_unreachable_token_endpoint_falls_back_too() {
    let sandbox = Sandbox::start_default().await.unwrap();
    sandbox.faults().add(FaultRule::new(
        format!("/{}/oauth2", sandbox.tenant_id()),
        Fault::ServiceUnavailable { retry_after: None },
        None,
    ));
    let decision = decide(
        &sandbox,
        &format!("{LOYALTY}on_error = \"error\"\n"),
        loyalty("LN-100001"),
    )
    .await;
    assert!(decision.fallback);
    assert_eq!(decision.action_name(), "showValidationError");
}

#[tokio::test]
async fn the_example_rules_against_the_demo_directory() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let state = AttributeCollectionSubmit::new(
        sandbox_guard(&sandbox),
        &common::example_rules(),
        Some(common::graph(&sandbox)),
    )
    .unwrap();
    let taken = state
        .decide(
            &submit(json!({
                "email": string("someone@example.com"),
                "displayName": string("Someone"),
                format!("{EXT}_loyaltyNumber"): custom("ln-100007"),
            })),
            state.start_budget(),
        )
        .await
        .unwrap();
    assert_eq!(
        action(&taken)["attributeErrors"],
        json!({format!("{EXT}_loyaltyNumber"): "This loyalty number already belongs to another account."})
    );
    let free = state
        .decide(
            &submit(json!({
                "email": string("someone@example.com"),
                "displayName": string(" Some   One "),
                "country": string("au"),
                format!("{EXT}_loyaltyNumber"): custom("ln-200001"),
                format!("{EXT}_loyaltyTier"): custom("gold"),
            })),
            state.start_budget(),
        )
        .await
        .unwrap();
    assert_eq!(
        action(&free)["attributes"],
        json!({
            "displayName": "Some One",
            "country": "AU",
            format!("{EXT}_loyaltyNumber"): "LN-200001",
            format!("{EXT}_loyaltyTier"): "Gold",
        })
    );
    let disposable = state
        .decide(
            &submit(json!({"email": string("someone@mailinator.com"), format!("{EXT}_loyaltyNumber"): custom("LN-100001")})),
            state.start_budget(),
        )
        .await
        .unwrap();
    assert_eq!(disposable.action_name(), "showBlockPage");
}
