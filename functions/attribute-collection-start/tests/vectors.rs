//! Every attributeCollectionStart vector (tests/vectors/extension-callbacks docs/ and
//! microsoft-samples/), addressed to the sandbox tenant and sent through `handle` with a token
//! the sandbox signed, gets a conformant answer; rules written to say what Microsoft's response
//! examples say reproduce those examples byte for byte (as JSON).

mod common;

use std::sync::Arc;

use attribute_collection_start::{AttributeCollectionStart, AttributeCollectionStartRules};
use axum::http::{HeaderMap, HeaderValue, header};
use entra_extensions::testing;
use entra_extensions::testing::sandbox_guard;
use entra_sandbox::Sandbox;
use http_body_util::BodyExt;
use serde_json::Value;

async fn answer(
    sandbox: &Sandbox,
    rules: &AttributeCollectionStartRules,
    vector: &str,
) -> (u16, Value) {
    let state = Arc::new(AttributeCollectionStart::new(sandbox_guard(sandbox), rules));
    let mut headers = HeaderMap::new();
    let token = sandbox.extension_token().sign();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    let body = testing::request_for(vector, sandbox.tenant_id()).to_string();
    let response = state.handle(&headers, body.as_bytes()).await.unwrap();
    let status = response.status().as_u16();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn every_vector_gets_a_conformant_answer_with_default_and_example_rules() {
    let sandbox = Sandbox::start_default().await.unwrap();
    for vector in common::START_VECTORS {
        let (status, body) = answer(&sandbox, &common::rules(""), vector).await;
        assert_eq!(status, 200, "{vector}");
        assert_eq!(
            body,
            testing::vector(
                "docs/attributeCollectionStart.response.continueWithDefaultBehavior.json"
            ),
            "{vector}"
        );
        let (status, body) = answer(&sandbox, &common::example_rules(), vector).await;
        assert_eq!(status, 200, "{vector}");
        common::assert_conformant(&body);
    }
}

#[tokio::test]
async fn example_rules_on_the_vectors() {
    let sandbox = Sandbox::start_default().await.unwrap();
    // The docs example names its client app "<Your Test Application App Id>": not on the
    // allow-list, so blocked.
    let (_, docs) = answer(
        &sandbox,
        &common::example_rules(),
        "docs/attributeCollectionStart.request.json",
    )
    .await;
    assert_eq!(
        docs["data"]["actions"][0]["@odata.type"],
        "microsoft.graph.attributeCollectionStart.showBlockPage"
    );
    assert_eq!(docs["data"]["actions"][0]["title"], "Sign-up unavailable");
    // Microsoft's sample uses the allow-listed 00001111-... app: the market gives the country.
    let (_, sample) = answer(
        &sandbox,
        &common::example_rules(),
        "microsoft-samples/OnAttributeCollectionStart.json",
    )
    .await;
    assert_eq!(
        sample["data"]["actions"][0],
        serde_json::json!({
            "@odata.type": "microsoft.graph.attributeCollectionStart.setPrefillValues",
            "inputs": {"country": "US"}
        })
    );
}

#[tokio::test]
async fn documented_response_examples_are_reproduced_by_rules() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let cases = [
        (
            r#"
[[attribute_collection_start.rules]]
prefill.key1 = ["value1", "value2", "value3"]
prefill.key2 = true
"#,
            "docs/attributeCollectionStart.response.setPrefillValues.json",
        ),
        (
            r#"
[[attribute_collection_start.rules]]
block.title = "Hold tight..."
block.message = "Your access request is already processing. You'll be notified when your request has been approved."
"#,
            "docs/attributeCollectionStart.response.showBlockPage.json",
        ),
    ];
    for (rules, expected) in cases {
        for vector in common::START_VECTORS {
            let (status, body) = answer(&sandbox, &common::rules(rules), vector).await;
            assert_eq!(status, 200);
            assert_eq!(body, testing::vector(expected), "{vector} -> {expected}");
        }
    }
}
