//! Every rule kind, condition and lookup, through `decide` (the business logic without a token),
//! and the custom-logic hook with its fallbacks.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use attribute_collection_start::{
    AttributeCollectionStart, AttributeCollectionStartExtension, Decision, ExtensionError,
    StartContext,
};
use entra_extensions::budget::DEFAULT_SAFETY_MARGIN;
use entra_extensions::testing;
use entra_extensions::{
    AttributeCollectionStartAction, AttributeCollectionStartRequest, AttributeValues, CallBudget,
};
use serde_json::{Value, json};

const SHOP: &str = "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const PARTNER: &str = "0f0e0d0c-0b0a-4a09-8807-060504030201";
const EXT: &str = "extension_7f3b8d2a5c4e4a1b9e6f0d2c8b4a6e13";

/// A sign-up as Entra sends it; `attributes` in the request's wrapped form.
struct SignUp {
    app_id: Option<&'static str>,
    locale: &'static str,
    market: &'static str,
    attributes: Value,
    identities: Value,
}

impl Default for SignUp {
    fn default() -> Self {
        Self {
            app_id: Some(SHOP),
            locale: "en-us",
            market: "en-us",
            attributes: json!({}),
            identities: json!([]),
        }
    }
}

impl SignUp {
    fn request(&self) -> AttributeCollectionStartRequest {
        let mut context = json!({
            "correlationId": "0c1d2e3f-4a5b-4c6d-8e7f-000000000003",
            "client": {"ip": "127.0.0.1", "locale": self.locale, "market": self.market},
            "protocol": "OAUTH2.0",
        });
        if let Some(app_id) = self.app_id {
            context["clientServicePrincipal"] = json!({
                "id": "0c1d2e3f-4a5b-4c6d-8e7f-000000000004",
                "appId": app_id,
                "appDisplayName": "Contoso Shop",
                "displayName": "Contoso Shop"
            });
        }
        let body = json!({
            "type": "microsoft.graph.authenticationEvent.attributeCollectionStart",
            "source": "/tenants/4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93/applications/00000003-0000-0000-c000-000000000000",
            "data": {
                "@odata.type": "microsoft.graph.onAttributeCollectionStartCalloutData",
                "tenantId": "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93",
                "authenticationEventListenerId": "0c1d2e3f-4a5b-4c6d-8e7f-000000000001",
                "customAuthenticationExtensionId": "0c1d2e3f-4a5b-4c6d-8e7f-000000000002",
                "authenticationContext": context,
                "userSignUpInfo": {"attributes": self.attributes, "identities": self.identities}
            }
        });
        AttributeCollectionStartRequest::parse(body.to_string().as_bytes()).unwrap()
    }
}

fn string(value: &str) -> Value {
    json!({"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": value, "attributeType": "builtIn"})
}

fn otp_identity(email: &str) -> Value {
    json!([{"signInType": "federated", "issuer": "mail", "issuerAssignedId": email}])
}

fn budget() -> CallBudget {
    CallBudget::start(Duration::from_millis(1000), DEFAULT_SAFETY_MARGIN)
}

async fn decide_with(state: &AttributeCollectionStart, sign_up: &SignUp) -> Decision {
    let decision = state.decide(&sign_up.request(), budget()).await.unwrap();
    common::assert_conformant(&decision.response);
    decision
}

async fn decide(rules: &str, sign_up: &SignUp) -> Decision {
    let state = AttributeCollectionStart::new(testing::unused_guard(), &common::rules(rules));
    decide_with(&state, sign_up).await
}

fn action(decision: &Decision) -> &Value {
    &decision.response["data"]["actions"][0]
}

#[tokio::test]
async fn no_rules_continue_with_default_behavior() {
    let decision = decide("", &SignUp::default()).await;
    assert_eq!(
        decision.action,
        AttributeCollectionStartAction::ContinueWithDefaultBehavior
    );
    assert_eq!(decision.action_name(), "continueWithDefaultBehavior");
    assert!(!decision.fallback);
    assert!(decision.matched_rules.is_empty());
}

#[tokio::test]
async fn sign_ups_closed_blocks_everyone_with_the_localised_message() {
    let rules = r#"
[[attribute_collection_start.rules]]
name = "closed"
block.title = { default = "Closed", fr = "Fermé" }
block.message = { default = "Sign-ups are closed.", fr = "Les inscriptions sont fermées." }
"#;
    let english = decide(rules, &SignUp::default()).await;
    assert_eq!(english.action_name(), "showBlockPage");
    assert_eq!(
        action(&english),
        &json!({
            "@odata.type": "microsoft.graph.attributeCollectionStart.showBlockPage",
            "title": "Closed",
            "message": "Sign-ups are closed."
        })
    );
    assert_eq!(english.matched_rules, ["closed"]);
    let french = decide(
        rules,
        &SignUp {
            locale: "fr-ca",
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(action(&french)["title"], "Fermé");
    assert_eq!(action(&french)["message"], "Les inscriptions sont fermées.");
}

#[tokio::test]
async fn client_app_allow_list_blocks_other_and_unknown_apps() {
    let rules = format!(
        r#"
[[attribute_collection_start.rules]]
except_client_apps = ["{SHOP}"]
block.message = "Not from this app."
"#
    );
    let shop = decide(&rules, &SignUp::default()).await;
    assert_eq!(shop.action_name(), "continueWithDefaultBehavior");
    let partner = decide(
        &rules,
        &SignUp {
            app_id: Some(PARTNER),
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(partner.action_name(), "showBlockPage");
    assert!(action(&partner).get("title").is_none());
    let unknown = decide(
        &rules,
        &SignUp {
            app_id: None,
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(unknown.action_name(), "showBlockPage");
}

#[tokio::test]
async fn rules_scoped_to_client_apps_apply_only_to_them() {
    let rules = format!(
        r#"
[[attribute_collection_start.rules]]
client_apps = ["{PARTNER}"]
prefill.companyName = "Partner Inc."
"#
    );
    let shop = decide(&rules, &SignUp::default()).await;
    assert_eq!(shop.action_name(), "continueWithDefaultBehavior");
    let partner = decide(
        &rules,
        &SignUp {
            app_id: Some(PARTNER),
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(
        action(&partner)["inputs"],
        json!({"companyName": "Partner Inc."})
    );
}

#[tokio::test]
async fn blocked_email_domains_apply_when_the_email_is_known() {
    let rules = r#"
[[attribute_collection_start.rules]]
email_domains = ["mailinator.com"]
block.message = "Use a permanent address."
"#;
    // Email one-time passcode sign-up: the identity carries the address (woodgrove capture).
    let otp = decide(
        rules,
        &SignUp {
            identities: otp_identity("someone@eu.Mailinator.com"),
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(otp.action_name(), "showBlockPage");
    // The EmailAddress attribute (start spelling) counts as well.
    let attribute = decide(
        rules,
        &SignUp {
            attributes: json!({"EmailAddress": string("x@mailinator.com")}),
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(attribute.action_name(), "showBlockPage");
    let other = decide(
        rules,
        &SignUp {
            identities: otp_identity("someone@example.com"),
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(other.action_name(), "continueWithDefaultBehavior");
    // A Google sign-up has no email at this point: the rule cannot judge it and does not apply.
    let google = decide(
        rules,
        &SignUp {
            identities: json!([{"signInType": "federated", "issuer": "google.com", "issuerAssignedId": "123"}]),
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(google.action_name(), "continueWithDefaultBehavior");
}

#[tokio::test]
async fn email_domain_allow_list_blocks_known_outsiders_only() {
    let rules = r#"
[[attribute_collection_start.rules]]
except_email_domains = ["contoso.com"]
block.message = "Employees only."
"#;
    let outsider = decide(
        rules,
        &SignUp {
            identities: json!([{"signInType": "email", "issuer": "contoso.onmicrosoft.com", "issuerAssignedId": "a@fabrikam.com"}]),
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(outsider.action_name(), "showBlockPage");
    let insider = decide(
        rules,
        &SignUp {
            identities: otp_identity("a@sales.contoso.com"),
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(insider.action_name(), "continueWithDefaultBehavior");
    let unknown = decide(rules, &SignUp::default()).await;
    assert_eq!(unknown.action_name(), "continueWithDefaultBehavior");
}

#[tokio::test]
async fn locale_market_and_issuer_conditions() {
    let rules = r#"
[[attribute_collection_start.rules]]
locales = ["fr"]
prefill.language = "French"

[[attribute_collection_start.rules]]
markets = ["de-de"]
prefill.market = "Germany"

[[attribute_collection_start.rules]]
identity_issuers = ["google.com"]
prefill.source = "Google"
"#;
    let decision = decide(
        rules,
        &SignUp {
            locale: "fr-ca",
            market: "de-DE",
            identities: json!([{"signInType": "federated", "issuer": "Google.com", "issuerAssignedId": "1"}]),
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(
        action(&decision)["inputs"],
        json!({"language": "French", "market": "Germany", "source": "Google"})
    );
    assert_eq!(decision.matched_rules, ["rules[0]", "rules[1]", "rules[2]"]);
    let none = decide(rules, &SignUp::default()).await;
    assert_eq!(none.action_name(), "continueWithDefaultBehavior");
}

#[tokio::test]
async fn prefill_constants_keep_their_types() {
    let decision = decide(
        &format!(
            r#"
[[attribute_collection_start.rules]]
prefill.city = "Seattle"
prefill.{EXT}_memberSince = 2023
prefill.{EXT}_mailingList = false
prefill.{EXT}_groups = ["Alumni", "Faculty"]
"#
        ),
        &SignUp::default(),
    )
    .await;
    assert_eq!(decision.action_name(), "setPrefillValues");
    assert_eq!(
        action(&decision)["inputs"],
        json!({
            "city": "Seattle",
            format!("{EXT}_memberSince"): 2023,
            format!("{EXT}_mailingList"): false,
            format!("{EXT}_groups"): "Alumni,Faculty",
        })
    );
}

#[tokio::test]
async fn prefill_lookups_from_the_callout_context() {
    let rules = r#"
[[attribute_collection_start.rules]]
prefill.country = { from = "market_region" }
prefill.region = { from = "locale_region", map = { CA = "Canada" }, default = "Elsewhere" }
prefill.lang = { from = "language" }
prefill.locale = { from = "locale", case = "upper" }
prefill.market = { from = "market" }
prefill.app = { from = "client_app_id" }
prefill.appName = { from = "client_app_name" }
prefill.email = { from = "email" }
prefill.domain = { from = "email_domain" }
prefill.issuer = { from = "identity_issuer" }
prefill.subject = { from = "identity_id" }
prefill.signInType = { from = "sign_in_type" }
"#;
    let decision = decide(
        rules,
        &SignUp {
            locale: "fr-ca",
            market: "en-gb",
            identities: otp_identity("Ava@Example.com"),
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(
        action(&decision)["inputs"],
        json!({
            "country": "GB",
            "region": "Canada",
            "lang": "fr",
            "locale": "FR-CA",
            "market": "en-gb",
            "app": SHOP,
            "appName": "Contoso Shop",
            "email": "Ava@Example.com",
            "domain": "example.com",
            "issuer": "mail",
            "subject": "Ava@Example.com",
            "signInType": "federated",
        })
    );
    // Nothing to look up: `default` when given, else the attribute is left out.
    let sparse = decide(
        rules,
        &SignUp {
            app_id: None,
            locale: "en",
            market: "",
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(
        action(&sparse)["inputs"],
        json!({"region": "Elsewhere", "lang": "en", "locale": "EN"})
    );
}

#[tokio::test]
async fn prefill_copies_other_attributes_with_their_types() {
    let rules = format!(
        r#"
[[attribute_collection_start.rules]]
prefill.displayName = {{ from = "attribute", attribute = "givenName", only_if_empty = true }}
prefill.copyOfYear = {{ from = "attribute", attribute = "{EXT}_graduationYear" }}
prefill.copyOfGroups = {{ from = "attribute", attribute = "{EXT}_universityGroups" }}
prefill.missing = {{ from = "attribute", attribute = "nothere" }}
"#
    );
    let sign_up = SignUp {
        attributes: json!({
            "givenName": string("Larissa"),
            "displayName": string(""),
            format!("{EXT}_graduationYear"): {"@odata.type": "microsoft.graph.int64DirectoryAttributeValue", "value": 2010},
            format!("{EXT}_universityGroups"): {"@odata.Type": "microsoft.graph.stringDirectoryAttributeValue", "value": ["Alumni", "Faculty"]},
        }),
        ..SignUp::default()
    };
    let decision = decide(&rules, &sign_up).await;
    assert_eq!(
        action(&decision)["inputs"],
        json!({
            "displayName": "Larissa",
            "copyOfYear": 2010,
            "copyOfGroups": "Alumni,Faculty",
        })
    );
    // only_if_empty leaves a value already on the form alone.
    let filled = SignUp {
        attributes: json!({"givenName": string("Larissa"), "displayName": string("Lara")}),
        ..SignUp::default()
    };
    let decision = decide(&rules, &filled).await;
    assert!(action(&decision)["inputs"].get("displayName").is_none());
}

#[tokio::test]
async fn prefills_merge_in_order_and_the_first_block_wins() {
    let rules = format!(
        r#"
[[attribute_collection_start.rules]]
prefill.city = "Seattle"
prefill.country = "US"

[[attribute_collection_start.rules]]
name = "paris"
locales = ["fr"]
prefill.city = "Paris"

[[attribute_collection_start.rules]]
name = "partner closed"
client_apps = ["{PARTNER}"]
block.message = "Partner sign-ups are closed."

[[attribute_collection_start.rules]]
name = "everything closed"
client_apps = ["{PARTNER}"]
block.message = "Everything is closed."
"#
    );
    let french = decide(
        &rules,
        &SignUp {
            locale: "fr-fr",
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(
        action(&french)["inputs"],
        json!({"city": "Paris", "country": "US"})
    );
    assert_eq!(french.matched_rules, ["rules[0]", "paris"]);
    let partner = decide(
        &rules,
        &SignUp {
            app_id: Some(PARTNER),
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(action(&partner)["message"], "Partner sign-ups are closed.");
    assert_eq!(partner.matched_rules, ["rules[0]", "partner closed"]);
}

#[tokio::test]
async fn the_example_rules_against_demo_sign_ups() {
    let state = AttributeCollectionStart::new(testing::unused_guard(), &common::example_rules());
    let shop = decide_with(
        &state,
        &SignUp {
            attributes: json!({"givenName": string("Ava"), "displayName": string("")}),
            identities: otp_identity("ava@example.com"),
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(
        action(&shop)["inputs"],
        json!({
            "country": "US",
            "displayName": "Ava",
            format!("{EXT}_marketingConsent"): false,
            format!("{EXT}_loyaltyTier"): "Bronze",
        })
    );
    let partner = decide_with(
        &state,
        &SignUp {
            app_id: Some(PARTNER),
            locale: "fr-fr",
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(partner.action_name(), "showBlockPage");
    assert!(
        action(&partner)["message"]
            .as_str()
            .unwrap()
            .starts_with("Cette application")
    );
    let disposable = decide_with(
        &state,
        &SignUp {
            identities: otp_identity("x@yopmail.com"),
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(
        action(&disposable)["message"],
        "Please sign up with an email address you keep."
    );
}

/// Custom logic used by the hook tests.
enum Behaviour {
    /// Prefills an invitation code when the email is known.
    Invite,
    Keep,
    Fail,
    /// Never finishes within any budget.
    Hang,
    /// Proposes a block page without a message, which Entra would refuse.
    Invalid,
}

struct Custom {
    behaviour: Behaviour,
    calls: AtomicUsize,
}

impl Custom {
    fn new(behaviour: Behaviour) -> Arc<Self> {
        Arc::new(Self {
            behaviour,
            calls: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl AttributeCollectionStartExtension for Custom {
    fn name(&self) -> &str {
        "custom"
    }

    async fn review(
        &self,
        request: &AttributeCollectionStartRequest,
        proposed: &AttributeCollectionStartAction,
        context: &StartContext<'_>,
    ) -> Result<Option<AttributeCollectionStartAction>, ExtensionError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.behaviour {
            Behaviour::Invite => {
                assert!(!context.budget.is_spent());
                let mut inputs = match proposed {
                    AttributeCollectionStartAction::SetPrefillValues(values) => values.clone(),
                    _ => AttributeValues::new(),
                };
                let email = attribute_collection_start::sign_up_email(&request.user_sign_up_info);
                if email.is_some() {
                    inputs.insert("invitationCode", "INV-42");
                }
                Ok(Some(AttributeCollectionStartAction::SetPrefillValues(
                    inputs,
                )))
            }
            Behaviour::Keep => Ok(None),
            Behaviour::Fail => Err("the invitation store is down".into()),
            Behaviour::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(None)
            }
            Behaviour::Invalid => Ok(Some(AttributeCollectionStartAction::ShowBlockPage(
                entra_extensions::ShowBlockPage::new(" "),
            ))),
        }
    }
}

const PREFILL_CITY: &str = "[[attribute_collection_start.rules]]\nprefill.city = \"Seattle\"\n";

#[tokio::test]
async fn custom_logic_extends_the_rules_answer() {
    let custom = Custom::new(Behaviour::Invite);
    let state =
        AttributeCollectionStart::new(testing::unused_guard(), &common::rules(PREFILL_CITY))
            .with_extension(custom.clone())
            .with_extension(Custom::new(Behaviour::Keep));
    let decision = decide_with(
        &state,
        &SignUp {
            identities: otp_identity("ava@example.com"),
            ..SignUp::default()
        },
    )
    .await;
    assert_eq!(
        action(&decision)["inputs"],
        json!({"city": "Seattle", "invitationCode": "INV-42"})
    );
    assert!(!decision.fallback);
    assert_eq!(custom.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn failing_late_or_invalid_custom_logic_falls_back_to_the_rules_answer() {
    for behaviour in [Behaviour::Fail, Behaviour::Hang, Behaviour::Invalid] {
        let state =
            AttributeCollectionStart::new(testing::unused_guard(), &common::rules(PREFILL_CITY))
                .with_extension(Custom::new(behaviour));
        let budget = CallBudget::start(Duration::from_millis(200), DEFAULT_SAFETY_MARGIN);
        let decision = state
            .decide(&SignUp::default().request(), budget)
            .await
            .unwrap();
        assert!(decision.fallback);
        assert_eq!(action(&decision)["inputs"], json!({"city": "Seattle"}));
        assert!(budget.elapsed() < Duration::from_millis(1000));
    }
}

#[tokio::test]
async fn custom_logic_is_skipped_when_the_budget_is_spent() {
    let custom = Custom::new(Behaviour::Invite);
    let state =
        AttributeCollectionStart::new(testing::unused_guard(), &common::rules(PREFILL_CITY))
            .with_extension(custom.clone());
    let budget = CallBudget::start(Duration::ZERO, Duration::ZERO);
    let decision = state
        .decide(&SignUp::default().request(), budget)
        .await
        .unwrap();
    assert!(decision.fallback);
    assert_eq!(custom.calls.load(Ordering::SeqCst), 0);
    assert_eq!(action(&decision)["inputs"], json!({"city": "Seattle"}));
}
