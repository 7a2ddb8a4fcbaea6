//! Microsoft's tokenIssuanceStart payloads (tests/vectors/extension-callbacks) through the
//! endpoint with the example rules and the simulated tenant's Graph: every valid request gets a
//! conformant answer, every invalid one the documented 400, and rules reproduce Microsoft's own
//! response examples byte for byte in meaning.

mod common;

use entra_extensions::testing::{self, request_for};
use entra_sandbox::Sandbox;
use entra_sandbox::directory::DEMO_USER_ID;
use serde_json::{Value, json};
use token_issuance_start::{ClaimsProvider, TokenIssuanceStartRules};

/// Every tokenIssuanceStart request Microsoft publishes that Entra could send.
const VALID_REQUESTS: [&str; 5] = [
    "docs/tokenIssuanceStart.request.json",
    "microsoft-samples/OnTokenIssuanceStart.json",
    "azure-sdk/ValidRequest.json",
    // `source` and `data.@odata.type` are informational; their absence is accepted (pinned in
    // entra-extensions' vector tests).
    "azure-sdk/RequestMissingSource.json",
    "azure-sdk/RequestMissingODataType.json",
];

fn example_app(sandbox: &Sandbox) -> axum::Router {
    let rules =
        TokenIssuanceStartRules::from_toml(&common::example_rules_text(), "rules.example.toml")
            .unwrap();
    let provider = ClaimsProvider::new(&rules, Some(common::graph(sandbox))).unwrap();
    common::app_with(sandbox, provider)
}

fn vector(relative: &str) -> Vec<u8> {
    std::fs::read(common::vector_path(relative)).unwrap()
}

/// The vector addressed to the sandbox tenant (the token binds the body to it).
fn for_sandbox(sandbox: &Sandbox, relative: &str) -> Value {
    request_for(relative, sandbox.tenant_id())
}

#[tokio::test]
async fn every_valid_request_vector_gets_a_conformant_answer() {
    let sandbox = common::sandbox().await;
    for file in VALID_REQUESTS {
        let body = for_sandbox(&sandbox, file);
        let (status, response) = common::call(&sandbox, example_app(&sandbox), &body).await;
        assert_eq!(status, 200, "{file}: {response}");
        common::assert_conformant(&response);
        let claims = common::claims(&response);
        // The vectors' users are not in the simulated directory: Graph answers 404, and the
        // example's Graph claims are omitted (on_error = "omit") while the rest is answered.
        assert_eq!(claims["brand"], "Contoso", "{file}");
        assert_eq!(claims["locale"], "en-us", "{file}");
        assert_eq!(
            claims["clientAppId"],
            body["data"]["authenticationContext"]["clientServicePrincipal"]["appId"],
            "{file}"
        );
        assert!(!claims.contains_key("loyaltyTier"), "{file}: {response}");
        assert!(!claims.contains_key("customerGroups"), "{file}: {response}");
        // givenName comes from the callout's user object when the vector carries it.
        assert_eq!(
            claims.get("givenName"),
            body["data"]["authenticationContext"]["user"].get("givenName"),
            "{file}"
        );
    }
}

/// The same vectors for a customer the directory knows: the Graph claims appear.
#[tokio::test]
async fn request_vectors_for_the_demo_customer_carry_graph_claims() {
    let sandbox = common::sandbox().await;
    for file in VALID_REQUESTS {
        let mut body = for_sandbox(&sandbox, file);
        body["data"]["authenticationContext"]["user"]["id"] = json!(DEMO_USER_ID);
        let (status, response) = common::call(&sandbox, example_app(&sandbox), &body).await;
        assert_eq!(status, 200, "{file}: {response}");
        common::assert_conformant(&response);
        let claims = common::claims(&response);
        assert_eq!(claims["loyaltyTier"], "Gold", "{file}");
        assert_eq!(
            claims["customerGroups"],
            json!(["Customers - Gold", "Customers - VIP"]),
            "{file}"
        );
        // Scoped to the local host's demo client app, which these vectors are not.
        assert!(!claims.contains_key("loyaltyNumber"), "{file}");
    }
}

#[tokio::test]
async fn invalid_and_foreign_vectors_get_the_documented_400() {
    let sandbox = common::sandbox().await;
    for (file, code) in [
        ("azure-sdk/InvalidJsonRequest.json", "malformed_json"),
        ("azure-sdk/InvalidXmlRequest.xml", "malformed_json"),
        (
            "docs/attributeCollectionStart.request.json",
            "wrong_event_type",
        ),
        (
            "docs/attributeCollectionSubmit.request.json",
            "wrong_event_type",
        ),
        ("docs/emailOtpSend.request.json", "wrong_event_type"),
        ("docs/passwordSubmit.request.json", "wrong_event_type"),
        (
            "microsoft-samples/OnAttributeCollectionStart.json",
            "wrong_event_type",
        ),
        (
            "microsoft-samples/OnAttributeCollectionSubmit.json",
            "wrong_event_type",
        ),
        ("microsoft-samples/OnEmailOtpSend.json", "wrong_event_type"),
    ] {
        let (status, response) =
            common::post_raw(&sandbox, example_app(&sandbox), vector(file)).await;
        assert_eq!(status, 400, "{file}: {response}");
        assert_eq!(response["error"]["code"], code, "{file}: {response}");
    }
}

/// Rules with Microsoft's example claims produce Microsoft's example responses.
#[tokio::test]
async fn constant_rules_reproduce_the_published_response_examples() {
    let sandbox = common::sandbox().await;
    let rules = TokenIssuanceStartRules::from_toml(
        "[token_issuance_start]\n[[token_issuance_start.claims]]\nname = \"DateOfBirth\"\nsource = \"constant\"\nvalue = \"01/01/2000\"\n\n[[token_issuance_start.claims]]\nname = \"CustomRoles\"\nsource = \"constant\"\nvalue = [\"Writer\", \"Editor\"]\n",
        "rules.toml",
    )
    .unwrap();
    let app = common::app_with(&sandbox, ClaimsProvider::new(&rules, None).unwrap());
    let body = for_sandbox(&sandbox, "docs/tokenIssuanceStart.request.json");
    let (status, response) = common::call(&sandbox, app, &body).await;
    assert_eq!(status, 200);
    for expected in [
        "azure-sdk/ExpectedPayload.json",
        "docs/tokenIssuanceStart.response.provideClaimsForToken.json",
    ] {
        let expected = testing::vector(expected);
        assert_eq!(response, expected);
    }
}
