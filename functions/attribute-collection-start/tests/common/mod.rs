//! Helpers the integration tests share: guards whose keys come from the sandbox tenant, vectors
//! readdressed to it, rules from TOML text, and a conformance check of answers.

#![allow(dead_code)]

use std::path::PathBuf;

use attribute_collection_start::{AttributeCollectionStartRules, SECTION};
use entra_extensions::{CalloutGuard, RulesFile};
use entra_sandbox::Sandbox;
use entra_tokens::{CallerPolicy, KeySet, TokenValidator};
use serde_json::{Value, json};

/// The attributeCollectionStart requests among the vectors.
pub const START_VECTORS: [&str; 2] = [
    "docs/attributeCollectionStart.request.json",
    "microsoft-samples/OnAttributeCollectionStart.json",
];

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/extension-callbacks")
}

/// A vector as JSON.
pub fn vector(relative: &str) -> Value {
    let path = vectors_dir().join(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// A vector request addressed to `tenant_id`.
pub fn request_for(relative: &str, tenant_id: &str) -> Value {
    let mut body = vector(relative);
    body["data"]["tenantId"] = json!(tenant_id);
    body
}

/// A guard that trusts the sandbox tenant's extension tokens.
pub fn guard(sandbox: &Sandbox) -> CalloutGuard {
    let config = sandbox.config();
    let policy =
        CallerPolicy::extension_callback(&config.tenant_id, vec![config.extension_app_id.clone()]);
    let keys = KeySet::new(sandbox.discovery_url(), reqwest::Client::new());
    CalloutGuard::new(TokenValidator::new(policy, keys), Vec::new())
}

/// A guard for tests that only call `decide` (it is never asked to validate a token).
pub fn unused_guard() -> CalloutGuard {
    let policy = CallerPolicy::extension_callback(
        "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93",
        vec!["7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13".to_owned()],
    );
    let keys = KeySet::new(
        "http://127.0.0.1:9/unused/v2.0/.well-known/openid-configuration"
            .parse()
            .unwrap(),
        reqwest::Client::new(),
    );
    CalloutGuard::new(TokenValidator::new(policy, keys), Vec::new())
}

/// The section parsed and validated from `text`.
pub fn rules(text: &str) -> AttributeCollectionStartRules {
    RulesFile::parse(text, "rules.toml")
        .unwrap()
        .section(SECTION)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The example rules file shipped next to the crate.
pub fn example_rules() -> AttributeCollectionStartRules {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules.example.toml");
    RulesFile::load(&path)
        .unwrap()
        .section(SECTION)
        .unwrap_or_else(|e| panic!("{e}"))
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
