//! Helpers the integration tests share: rules from TOML text and a conformance check of answers
//! (guards, vectors and the Lambda event path are in `entra_extensions::testing`).

#![allow(dead_code)]

use attribute_collection_start::{AttributeCollectionStartRules, SECTION};
use entra_extensions::testing::parse_rules;
use serde_json::Value;

/// The attributeCollectionStart requests among the vectors.
pub const START_VECTORS: [&str; 2] = [
    "docs/attributeCollectionStart.request.json",
    "microsoft-samples/OnAttributeCollectionStart.json",
];

/// The section parsed and validated from `text`.
pub fn rules(text: &str) -> AttributeCollectionStartRules {
    parse_rules(text, SECTION)
}

/// The example rules file shipped next to the crate.
pub fn example_rules() -> AttributeCollectionStartRules {
    rules(include_str!("../../rules.example.toml"))
}

/// Asserts `body` is a well-formed attributeCollectionStart answer (a.6): the documented
/// response type, exactly one action of an allowed type, and that action's members.
pub fn assert_conformant(body: &Value) {
    let data = &body["data"];
    assert_eq!(
        data["@odata.type"], "microsoft.graph.onAttributeCollectionStartResponseData",
        "{body}"
    );
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let actions = data["actions"].as_array().expect("actions array");
    assert_eq!(actions.len(), 1, "{body}");
    let action = actions[0].as_object().unwrap();
    match action["@odata.type"].as_str().unwrap() {
        "microsoft.graph.attributeCollectionStart.continueWithDefaultBehavior" => {
            assert_eq!(action.len(), 1, "{body}");
        }
        "microsoft.graph.attributeCollectionStart.setPrefillValues" => {
            let inputs = action["inputs"].as_object().expect("inputs");
            assert!(!inputs.is_empty());
            for value in inputs.values() {
                assert!(
                    value.is_string() || value.is_i64() || value.is_boolean(),
                    "bare value expected: {body}"
                );
            }
        }
        "microsoft.graph.attributeCollectionStart.showBlockPage" => {
            assert!(
                !action["message"].as_str().unwrap().trim().is_empty(),
                "{body}"
            );
            if let Some(title) = action.get("title") {
                assert!(!title.as_str().unwrap().trim().is_empty(), "{body}");
            }
        }
        other => panic!("not an attributeCollectionStart action: {other}"),
    }
}
