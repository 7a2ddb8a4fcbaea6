//! Every attributeCollectionSubmit vector (tests/vectors/extension-callbacks docs/ and
//! microsoft-samples/), addressed to the sandbox tenant and sent through `handle` with a token
//! the sandbox signed, gets a conformant answer; rules written to say what Microsoft's response
//! examples say reproduce those examples (as JSON).

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use attribute_collection_submit::{
    AttributeCollectionSubmit, AttributeCollectionSubmitExtension, AttributeCollectionSubmitRules,
    ExtensionError, SubmitContext,
};
use axum::http::{HeaderMap, HeaderValue, header};
use entra_extensions::testing;
use entra_extensions::testing::sandbox_guard;
use entra_extensions::{
    AttributeCollectionSubmitAction, AttributeCollectionSubmitRequest, AttributeValues,
};
use entra_sandbox::Sandbox;
use http_body_util::BodyExt;
use serde_json::{Value, json};

async fn answer_with(sandbox: &Sandbox, state: AttributeCollectionSubmit, body: &Value) -> Value {
    let state = Arc::new(state);
    let mut headers = HeaderMap::new();
    let token = sandbox.extension_token().sign();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    let response = state
        .handle(&headers, body.to_string().as_bytes())
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    common::assert_conformant(&body);
    body
}

async fn answer(sandbox: &Sandbox, rules: &AttributeCollectionSubmitRules, body: &Value) -> Value {
    let state =
        AttributeCollectionSubmit::new(sandbox_guard(sandbox), rules, Some(common::graph(sandbox)))
            .unwrap();
    answer_with(sandbox, state, body).await
}

#[tokio::test]
async fn every_vector_gets_a_conformant_answer_with_default_and_example_rules() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let continue_vector =
        testing::vector("docs/attributeCollectionSubmit.response.continueWithDefaultBehavior.json");
    for vector in common::SUBMIT_VECTORS {
        let body = testing::request_for(vector, sandbox.tenant_id());
        assert_eq!(
            answer(&sandbox, &common::rules(""), &body).await,
            continue_vector,
            "{vector}"
        );
        // The example rules name none of the vectors' attributes: nothing to say.
        assert_eq!(
            answer(&sandbox, &common::example_rules(), &body).await,
            continue_vector,
            "{vector}"
        );
    }
}

/// Rules about the vectors' own attributes: the multi-valued groups, the int64 year and the
/// boolean, all of which the vectors hold valid values for.
const VECTOR_RULES: &str = r#"
[[attribute_collection_submit.attributes]]
name = "givenName"
required = true
max_length = 64

[[attribute_collection_submit.attributes]]
name = "universityGroups"
multi_valued = true
allowed_values = ["alumni", "faculty", "staff"]

[[attribute_collection_submit.attributes]]
name = "graduationYear"
min = 1950
max = 2030

[[attribute_collection_submit.attributes]]
name = "onMailingList"
allowed_values = ["true", "false"]
"#;

#[tokio::test]
async fn rules_about_the_vectors_attributes() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let rules = common::rules(VECTOR_RULES);
    // microsoft-samples names the custom attributes with an app id, so the short names match;
    // the docs example keeps the `<appid>` placeholder, which is not an app id, so only
    // `givenName` applies there.
    let sample = testing::request_for(
        "microsoft-samples/OnAttributeCollectionSubmit.json",
        sandbox.tenant_id(),
    );
    let body = answer(&sandbox, &rules, &sample).await;
    assert_eq!(
        body["data"]["actions"][0],
        json!({
            "@odata.type": "microsoft.graph.attributeCollectionSubmit.modifyAttributeValues",
            "attributes": {
                "extension_6666666666666666666666666666666_universityGroups": "alumni,faculty"
            }
        })
    );
    let docs = testing::request_for(
        "docs/attributeCollectionSubmit.request.json",
        sandbox.tenant_id(),
    );
    let body = answer(&sandbox, &rules, &docs).await;
    assert_eq!(
        body,
        testing::vector("docs/attributeCollectionSubmit.response.continueWithDefaultBehavior.json")
    );
}

#[tokio::test]
async fn the_documented_validation_error_is_reproduced_by_rules() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let rules = common::rules(
        r#"
[attribute_collection_submit]
message = "Please fix the below errors to proceed."

[[attribute_collection_submit.attributes]]
name = "city"
pattern = '[^0-9]*'
messages.pattern = "City cannot contain any numbers"

[[attribute_collection_submit.attributes]]
name = "extension_<appid>_graduationYear"
min_length = 4
messages.min_length = "Graduation year must be at least 4 digits"
"#,
    );
    // The docs request, with a city and a three-digit year entered.
    let mut body = testing::request_for(
        "docs/attributeCollectionSubmit.request.json",
        sandbox.tenant_id(),
    );
    let attributes = &mut body["data"]["userSignUpInfo"]["attributes"];
    attributes["city"] = common::string("Redmond 98052");
    attributes["extension_<appid>_graduationYear"]["value"] = json!(201);
    assert_eq!(
        answer(&sandbox, &rules, &body).await,
        testing::vector("docs/attributeCollectionSubmit.response.showValidationError.json")
    );
}

#[tokio::test]
async fn the_documented_block_page_is_reproduced_by_rules() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let rules = common::rules(
        r#"
[[attribute_collection_submit.attributes]]
name = "companyName"
allowed_values = ["Woodgrove"]
on_invalid = "block"
block.title = "Hold tight..."
block.message = "Your access request is already processing. You'll be notified when your request has been approved."
"#,
    );
    for vector in common::SUBMIT_VECTORS {
        let body = testing::request_for(vector, sandbox.tenant_id());
        assert_eq!(
            answer(&sandbox, &rules, &body).await,
            testing::vector("docs/attributeCollectionSubmit.response.showBlockPage.json"),
            "{vector}"
        );
    }
}

/// Answers the documented modifyAttributeValues example, which no declarative rule can (it
/// invents `key2: true`): the custom-logic hook through `handle`.
struct Documented;

#[async_trait]
impl AttributeCollectionSubmitExtension for Documented {
    fn name(&self) -> &str {
        "documented"
    }

    async fn review(
        &self,
        _request: &AttributeCollectionSubmitRequest,
        _proposed: &AttributeCollectionSubmitAction,
        _context: &SubmitContext<'_>,
    ) -> Result<Option<AttributeCollectionSubmitAction>, ExtensionError> {
        Ok(Some(
            AttributeCollectionSubmitAction::ModifyAttributeValues(
                AttributeValues::new()
                    .with("key1", vec!["value1", "value2", "value3"])
                    .with("key2", true),
            ),
        ))
    }
}

#[tokio::test]
async fn the_documented_modify_example_through_custom_logic() {
    let sandbox = Sandbox::start_default().await.unwrap();
    for vector in common::SUBMIT_VECTORS {
        let state =
            AttributeCollectionSubmit::new(sandbox_guard(&sandbox), &common::rules(""), None)
                .unwrap()
                .with_extension(Arc::new(Documented));
        let body = testing::request_for(vector, sandbox.tenant_id());
        assert_eq!(
            answer_with(&sandbox, state, &body).await,
            testing::vector("docs/attributeCollectionSubmit.response.modifyAttributeValues.json"),
            "{vector}"
        );
    }
}
