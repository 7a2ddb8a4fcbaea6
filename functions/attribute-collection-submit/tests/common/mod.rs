//! Helpers the integration tests share: a Graph client bound to the sandbox tenant, sign-up
//! requests, rules from TOML text, and a conformance check (guards, vectors and the Lambda event
//! path are in `entra_extensions::testing`).

#![allow(dead_code)]

use std::time::Duration;

use attribute_collection_submit::{AttributeCollectionSubmitRules, SECTION};
use entra_extensions::AttributeCollectionSubmitRequest;
use entra_extensions::testing::parse_rules;
use entra_graph::{ClientCredential, GraphClient, GraphConfig, RetryPolicy};
use entra_sandbox::Sandbox;
use serde_json::{Value, json};

/// The attributeCollectionSubmit requests among the vectors.
pub const SUBMIT_VECTORS: [&str; 2] = [
    "docs/attributeCollectionSubmit.request.json",
    "microsoft-samples/OnAttributeCollectionSubmit.json",
];

/// The sandbox's extensions app, as custom attributes on the form name it.
pub const EXT: &str = "extension_7f3b8d2a5c4e4a1b9e6f0d2c8b4a6e13";
pub const SHOP: &str = "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
pub const SANDBOX_TENANT: &str = "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93";

/// Our Graph client pointed at the sandbox, with short retry delays so faults resolve quickly.
pub fn graph(sandbox: &Sandbox) -> GraphClient {
    let config = sandbox.config();
    let graph = GraphConfig::new(
        config.tenant_id.clone(),
        config.graph_client_id.clone(),
        ClientCredential::secret(config.graph_client_secret.clone()),
    )
    .with_authority_host(sandbox.url())
    .with_graph_base_url(sandbox.graph_url())
    .with_retry(RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_total_wait: Duration::from_millis(100),
    })
    .with_request_timeout(Duration::from_secs(5));
    GraphClient::new(graph).unwrap()
}

/// The section parsed and validated from `text`.
pub fn rules(text: &str) -> AttributeCollectionSubmitRules {
    parse_rules(text, SECTION)
}

/// The example rules file shipped next to the crate.
pub fn example_rules() -> AttributeCollectionSubmitRules {
    rules(include_str!("../../rules.example.toml"))
}

/// A string attribute as Entra wraps it.
pub fn string(value: &str) -> Value {
    json!({"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": value, "attributeType": "builtIn"})
}

/// A custom string attribute of the sandbox's extensions app.
pub fn custom(value: &str) -> Value {
    json!({"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": value, "attributeType": "directorySchemaExtension"})
}

/// A submit callout for the sandbox tenant with `attributes` (already wrapped).
pub fn submit_body(attributes: Value, app_id: &str, locale: &str) -> Value {
    json!({
        "type": "microsoft.graph.authenticationEvent.attributeCollectionSubmit",
        "source": format!("/tenants/{SANDBOX_TENANT}/applications/00000003-0000-0000-c000-000000000000"),
        "data": {
            "@odata.type": "microsoft.graph.onAttributeCollectionSubmitCalloutData",
            "tenantId": SANDBOX_TENANT,
            "authenticationEventListenerId": "0c1d2e3f-4a5b-4c6d-8e7f-000000000001",
            "customAuthenticationExtensionId": "0c1d2e3f-4a5b-4c6d-8e7f-000000000002",
            "authenticationContext": {
                "correlationId": "0c1d2e3f-4a5b-4c6d-8e7f-000000000003",
                "client": {"ip": "127.0.0.1", "locale": locale, "market": locale},
                "protocol": "OAUTH2.0",
                "clientServicePrincipal": {
                    "id": "0c1d2e3f-4a5b-4c6d-8e7f-000000000004",
                    "appId": app_id,
                    "appDisplayName": "Contoso Shop",
                    "displayName": "Contoso Shop"
                }
            },
            "userSignUpInfo": {"attributes": attributes}
        }
    })
}

/// [`submit_body`] parsed, through the Contoso Shop app in `en-us`.
pub fn submit(attributes: Value) -> AttributeCollectionSubmitRequest {
    submit_in(attributes, SHOP, "en-us")
}

pub fn submit_in(
    attributes: Value,
    app_id: &str,
    locale: &str,
) -> AttributeCollectionSubmitRequest {
    let body = submit_body(attributes, app_id, locale);
    AttributeCollectionSubmitRequest::parse(body.to_string().as_bytes()).unwrap()
}

/// Asserts `body` is a well-formed attributeCollectionSubmit answer (a.7): the documented
/// response type, exactly one action of an allowed type, and that action's members.
pub fn assert_conformant(body: &Value) {
    let data = &body["data"];
    assert_eq!(
        data["@odata.type"], "microsoft.graph.onAttributeCollectionSubmitResponseData",
        "{body}"
    );
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let actions = data["actions"].as_array().expect("actions array");
    assert_eq!(actions.len(), 1, "{body}");
    let action = actions[0].as_object().unwrap();
    let non_empty = |value: &Value| !value.as_str().unwrap().trim().is_empty();
    match action["@odata.type"].as_str().unwrap() {
        "microsoft.graph.attributeCollectionSubmit.continueWithDefaultBehavior" => {
            assert_eq!(action.len(), 1, "{body}");
        }
        "microsoft.graph.attributeCollectionSubmit.modifyAttributeValues" => {
            let attributes = action["attributes"].as_object().expect("attributes");
            assert!(!attributes.is_empty());
            for value in attributes.values() {
                assert!(
                    value.is_string() || value.is_i64() || value.is_boolean(),
                    "bare value expected: {body}"
                );
            }
        }
        "microsoft.graph.attributeCollectionSubmit.showValidationError" => {
            assert!(non_empty(&action["message"]), "{body}");
            let errors = action["attributeErrors"]
                .as_object()
                .expect("attributeErrors");
            assert!(errors.values().all(non_empty), "{body}");
        }
        "microsoft.graph.attributeCollectionSubmit.showBlockPage" => {
            assert!(non_empty(&action["message"]), "{body}");
            if let Some(title) = action.get("title") {
                assert!(non_empty(title), "{body}");
            }
        }
        other => panic!("not an attributeCollectionSubmit action: {other}"),
    }
}
