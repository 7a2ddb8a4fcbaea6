//! Every local check, normalisation and answer kind through `decide` (the business logic without
//! a token or a directory), and the custom-logic hook with its fallbacks.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use attribute_collection_submit::{
    AttributeCollectionSubmit, AttributeCollectionSubmitExtension, Decision, ExtensionError,
    SubmitContext,
};
use common::{EXT, custom, string, submit, submit_in};
use entra_extensions::budget::DEFAULT_SAFETY_MARGIN;
use entra_extensions::testing;
use entra_extensions::{
    AttributeCollectionSubmitAction, AttributeCollectionSubmitRequest, CallBudget,
    ShowValidationError,
};
use serde_json::{Value, json};

fn budget() -> CallBudget {
    CallBudget::start(Duration::from_millis(1000), DEFAULT_SAFETY_MARGIN)
}

fn state(rules: &str) -> AttributeCollectionSubmit {
    AttributeCollectionSubmit::new(testing::unused_guard(), &common::rules(rules), None).unwrap()
}

async fn decide_with(
    state: &AttributeCollectionSubmit,
    request: &AttributeCollectionSubmitRequest,
) -> Decision {
    let decision = state.decide(request, budget()).await.unwrap();
    common::assert_conformant(&decision.response);
    decision
}

async fn decide(rules: &str, attributes: Value) -> Decision {
    decide_with(&state(rules), &submit(attributes)).await
}

fn action(decision: &Decision) -> &Value {
    &decision.response["data"]["actions"][0]
}

/// The `attributeErrors` of a showValidationError answer.
fn errors(decision: &Decision) -> &Value {
    assert_eq!(
        decision.action_name(),
        "showValidationError",
        "{:?}",
        decision.response
    );
    &action(decision)["attributeErrors"]
}

const CITY: &str = r#"
[[attribute_collection_submit.attributes]]
name = "city"
required = true
min_length = 2
max_length = 20
pattern = '[^0-9]*'
messages.pattern = { default = "City cannot contain any numbers", fr = "Pas de chiffres" }
"#;

#[tokio::test]
async fn no_rules_continue_with_default_behavior() {
    let decision = decide("", json!({"city": string("Sydney")})).await;
    assert_eq!(
        decision.action,
        AttributeCollectionSubmitAction::ContinueWithDefaultBehavior
    );
    assert!(!decision.fallback);
}

#[tokio::test]
async fn valid_values_continue() {
    let decision = decide(CITY, json!({"city": string("Sydney")})).await;
    assert_eq!(decision.action_name(), "continueWithDefaultBehavior");
    assert_eq!(decision.matched_rules, ["city"]);
}

#[tokio::test]
async fn each_text_check_gives_its_message() {
    let cases = [
        ("", "This field is required."),
        ("X", "Enter at least 2 characters."),
        (
            "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
            "Enter at most 20 characters.",
        ),
        ("Area 51", "City cannot contain any numbers"),
    ];
    for (value, message) in cases {
        let decision = decide(CITY, json!({"city": string(value)})).await;
        assert_eq!(errors(&decision), &json!({"city": message}), "{value}");
        assert_eq!(
            action(&decision)["message"],
            "Please fix the errors below to continue."
        );
    }
    // `null` counts as nothing entered.
    let decision = decide(CITY, json!({"city": {"value": null}})).await;
    assert_eq!(
        errors(&decision),
        &json!({"city": "This field is required."})
    );
}

#[tokio::test]
async fn optional_empty_values_pass_and_absent_attributes_are_skipped() {
    let rules = "[[attribute_collection_submit.attributes]]\nname = \"city\"\nmin_length = 2\n";
    let empty = decide(rules, json!({"city": string("")})).await;
    assert_eq!(empty.action_name(), "continueWithDefaultBehavior");
    // `city` is not on this form: the rule cannot apply (Entra only takes errors for attributes
    // it collected).
    let absent = decide(CITY, json!({"country": string("au")})).await;
    assert_eq!(absent.action_name(), "continueWithDefaultBehavior");
    assert!(absent.matched_rules.is_empty());
}

#[tokio::test]
async fn messages_are_localised_by_client_locale() {
    let rules = format!(
        "[attribute_collection_submit]\nmessage = {{ default = \"Fix it\", fr = \"Corrigez\" }}\n{CITY}"
    );
    let decision = decide_with(
        &state(&rules),
        &submit_in(
            json!({"city": string("75001 Paris")}),
            common::SHOP,
            "fr-FR",
        ),
    )
    .await;
    assert_eq!(action(&decision)["message"], "Corrigez");
    assert_eq!(errors(&decision), &json!({"city": "Pas de chiffres"}));
}

#[tokio::test]
async fn normalisation_answers_modify_attribute_values_only_when_something_changed() {
    let rules = r#"
[[attribute_collection_submit.attributes]]
name = "displayName"
normalize = ["trim", "collapse_spaces"]

[[attribute_collection_submit.attributes]]
name = "country"
normalize = ["trim", "upper"]
pattern = '[A-Z]{2}'
"#;
    let decision = decide(
        rules,
        json!({"displayName": string("  Ava   Thompson "), "country": string(" au"), "city": string(" Sydney ")}),
    )
    .await;
    assert_eq!(decision.action_name(), "modifyAttributeValues");
    assert_eq!(
        action(&decision)["attributes"],
        json!({"displayName": "Ava Thompson", "country": "AU"})
    );
    let tidy = decide(
        rules,
        json!({"displayName": string("Ava Thompson"), "country": string("AU")}),
    )
    .await;
    assert_eq!(tidy.action_name(), "continueWithDefaultBehavior");
    // An invalid value is reported, not modified, even when another value was tidied.
    let invalid = decide(
        rules,
        json!({"displayName": string(" Ava "), "country": string("Australia")}),
    )
    .await;
    assert_eq!(
        errors(&invalid),
        &json!({"country": "This value is not in the expected format."})
    );
}

#[tokio::test]
async fn allowed_values_ignore_case_and_send_the_configured_spelling() {
    let rules = r#"
[[attribute_collection_submit.attributes]]
name = "loyaltyTier"
allowed_values = ["Bronze", "Silver", "Gold"]
"#;
    let wrong_case = decide(rules, json!({format!("{EXT}_loyaltyTier"): custom("gold")})).await;
    assert_eq!(
        action(&wrong_case)["attributes"],
        json!({format!("{EXT}_loyaltyTier"): "Gold"})
    );
    let unknown = decide(
        rules,
        json!({format!("{EXT}_loyaltyTier"): custom("Platinum")}),
    )
    .await;
    assert_eq!(
        errors(&unknown),
        &json!({format!("{EXT}_loyaltyTier"): "Choose one of the offered values."})
    );
}

#[tokio::test]
async fn multi_valued_attributes_as_comma_strings_or_arrays() {
    let rules = r#"
[[attribute_collection_submit.attributes]]
name = "universityGroups"
multi_valued = true
normalize = ["trim"]
allowed_values = ["Alumni", "Faculty", "Staff"]
"#;
    let name = "extension_6666666666666666666666666666666_universityGroups";
    let fine = decide(rules, json!({name: custom("Alumni,Faculty")})).await;
    assert_eq!(fine.action_name(), "continueWithDefaultBehavior");
    let tidied = decide(rules, json!({name: custom("alumni, Faculty ,")})).await;
    assert_eq!(
        action(&tidied)["attributes"],
        json!({name: "Alumni,Faculty"})
    );
    // The 2023 reference sent selections as a JSON array; the answer uses the comma form.
    let array = decide(
        rules,
        json!({name: {"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": ["Alumni", "staff"]}}),
    )
    .await;
    assert_eq!(action(&array)["attributes"], json!({name: "Alumni,Staff"}));
    let unchanged_array = decide(
        rules,
        json!({name: {"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": ["Alumni"]}}),
    )
    .await;
    assert_eq!(unchanged_array.action_name(), "continueWithDefaultBehavior");
    let bad = decide(rules, json!({name: custom("Alumni,Parents")})).await;
    assert_eq!(
        errors(&bad),
        &json!({name: "Choose one of the offered values."})
    );
}

#[tokio::test]
async fn numbers_have_bounds_and_digit_counts() {
    let rules = r#"
[[attribute_collection_submit.attributes]]
name = "graduationYear"
min_length = 4
min = 1950
max = 2030
messages.min_length = "Graduation year must be at least 4 digits"
messages.min = "Enter a year from {min} to {max}."
"#;
    let name = "extension_6666666666666666666666666666666_graduationYear";
    let year = |value: i64| json!({name: {"@odata.type": "microsoft.graph.int64DirectoryAttributeValue", "value": value}});
    assert_eq!(
        decide(rules, year(2010)).await.action_name(),
        "continueWithDefaultBehavior"
    );
    assert_eq!(
        errors(&decide(rules, year(201)).await),
        &json!({name: "Graduation year must be at least 4 digits"})
    );
    assert_eq!(
        errors(&decide(rules, year(1900)).await),
        &json!({name: "Enter a year from 1950 to 2030."})
    );
    assert_eq!(
        errors(&decide(rules, year(2099)).await),
        &json!({name: "Enter a number of at most 2030."})
    );
}

#[tokio::test]
async fn booleans_can_be_required_to_be_true() {
    let rules = r#"
[[attribute_collection_submit.attributes]]
name = "acceptsTerms"
allowed_values = ["true"]
messages.allowed_values = "Please accept the terms."
"#;
    let flag = |value: bool| json!({"acceptsTerms": {"@odata.type": "microsoft.graph.booleanDirectoryAttributeValue", "value": value}});
    assert_eq!(
        decide(rules, flag(true)).await.action_name(),
        "continueWithDefaultBehavior"
    );
    assert_eq!(
        errors(&decide(rules, flag(false)).await),
        &json!({"acceptsTerms": "Please accept the terms."})
    );
}

const EMAIL: &str = r#"
[[attribute_collection_submit.attributes]]
name = "email"
denied_domains = ["mailinator.com"]
block = { title = "Sign-up not possible", message = "Use an address you keep." }
on_denied_domain = "block"

[[attribute_collection_submit.attributes]]
name = "workEmail"
kind = "email"
allowed_domains = ["contoso.com"]
messages.domain = "Use your Contoso address."
"#;

#[tokio::test]
async fn email_domains_block_or_error_as_configured() {
    let denied = decide(EMAIL, json!({"email": string("x@eu.mailinator.com")})).await;
    assert_eq!(
        action(&denied),
        &json!({
            "@odata.type": "microsoft.graph.attributeCollectionSubmit.showBlockPage",
            "title": "Sign-up not possible",
            "message": "Use an address you keep."
        })
    );
    // The start spelling of the email attribute is the same attribute.
    let start_spelling = decide(EMAIL, json!({"EmailAddress": string("x@mailinator.com")})).await;
    assert_eq!(start_spelling.action_name(), "showBlockPage");
    let fine = decide(
        EMAIL,
        json!({"email": string("ava@example.com"), "workEmail": string("ava@sales.contoso.com")}),
    )
    .await;
    assert_eq!(fine.action_name(), "continueWithDefaultBehavior");
    let outsider = decide(EMAIL, json!({"workEmail": string("ava@fabrikam.com")})).await;
    assert_eq!(
        errors(&outsider),
        &json!({"workEmail": "Use your Contoso address."})
    );
    let malformed = decide(EMAIL, json!({"workEmail": string("ava at contoso.com")})).await;
    assert_eq!(
        errors(&malformed),
        &json!({"workEmail": "Enter a valid email address."})
    );
}

#[tokio::test]
async fn a_block_wins_over_validation_errors_and_the_first_block_wins() {
    let rules = format!(
        r#"
[attribute_collection_submit]
block = {{ message = "Default block." }}
{CITY}
[[attribute_collection_submit.attributes]]
name = "companyName"
allowed_values = ["Contoso"]
on_invalid = "block"

[[attribute_collection_submit.attributes]]
name = "country"
allowed_values = ["AU"]
on_invalid = "block"
block.message = "Country block."
"#
    );
    let decision = decide(
        &rules,
        json!({"city": string("Area 51"), "companyName": string("Fabrikam"), "country": string("NZ")}),
    )
    .await;
    assert_eq!(action(&decision)["message"], "Default block.");
    assert!(action(&decision).get("title").is_none());
}

#[tokio::test]
async fn several_attributes_report_all_their_errors_at_once() {
    let rules = format!(
        "{CITY}\n[[attribute_collection_submit.attributes]]\nname = \"displayName\"\nrequired = true\n"
    );
    let decision = decide(
        &rules,
        json!({"city": string("Area 51"), "displayName": string("")}),
    )
    .await;
    assert_eq!(
        errors(&decision),
        &json!({"city": "City cannot contain any numbers", "displayName": "This field is required."})
    );
}

#[tokio::test]
async fn rules_scoped_to_client_apps_and_chained_rules_on_one_attribute() {
    let partner = "0f0e0d0c-0b0a-4a09-8807-060504030201";
    let rules = format!(
        r#"
[[attribute_collection_submit.attributes]]
name = "companyName"
normalize = ["trim"]

[[attribute_collection_submit.attributes]]
name = "companyName"
client_apps = ["{partner}"]
required = true
allowed_values = ["Partner Inc."]
"#
    );
    let shop = decide(&rules, json!({"companyName": string(" Anything ")})).await;
    assert_eq!(
        action(&shop)["attributes"],
        json!({"companyName": "Anything"})
    );
    assert_eq!(shop.matched_rules, ["companyName"]);
    let state = state(&rules);
    // The second rule sees the value the first one trimmed.
    let ok = decide_with(
        &state,
        &submit_in(
            json!({"companyName": string(" partner inc. ")}),
            partner,
            "en-us",
        ),
    )
    .await;
    assert_eq!(
        action(&ok)["attributes"],
        json!({"companyName": "Partner Inc."})
    );
    let refused = decide_with(
        &state,
        &submit_in(json!({"companyName": string("Other")}), partner, "en-us"),
    )
    .await;
    assert_eq!(
        errors(&refused),
        &json!({"companyName": "Choose one of the offered values."})
    );
}

#[tokio::test]
async fn the_example_rules_without_the_directory_part() {
    let mut rules = common::example_rules();
    rules.attributes.retain(|r| !r.get_ref().is_unique());
    let state = AttributeCollectionSubmit::new(testing::unused_guard(), &rules, None).unwrap();
    let decision = decide_with(
        &state,
        &submit_in(
            json!({
                "email": string("ava@example.com"),
                "displayName": string(" Ava  Thompson"),
                "city": string("Paris 75001"),
                "country": string("fr"),
                format!("{EXT}_loyaltyTier"): custom("silver"),
                format!("{EXT}_interests"): custom("Books,Cooking"),
            }),
            common::SHOP,
            "fr-fr",
        ),
    )
    .await;
    assert_eq!(
        action(&decision)["message"],
        "Veuillez corriger les erreurs ci-dessous pour continuer."
    );
    assert_eq!(
        errors(&decision),
        &json!({
            "city": "La ville ne peut pas contenir de chiffres",
            format!("{EXT}_interests"): "Choose one of the offered values.",
        })
    );
}

/// Custom logic used by the hook tests.
enum Behaviour {
    /// Refuses a reserved display name, keeping the rules' other errors.
    ReservedNames,
    Fail,
    Hang,
    Invalid,
}

struct Custom(Behaviour);

#[async_trait]
impl AttributeCollectionSubmitExtension for Custom {
    fn name(&self) -> &str {
        "custom"
    }

    async fn review(
        &self,
        request: &AttributeCollectionSubmitRequest,
        proposed: &AttributeCollectionSubmitAction,
        context: &SubmitContext<'_>,
    ) -> Result<Option<AttributeCollectionSubmitAction>, ExtensionError> {
        match self.0 {
            Behaviour::ReservedNames => {
                assert!(context.graph.is_none());
                let name = request
                    .user_sign_up_info
                    .attributes
                    .get("displayName")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                if !name.eq_ignore_ascii_case("admin") {
                    return Ok(None);
                }
                let mut errors = match proposed {
                    AttributeCollectionSubmitAction::ShowValidationError(errors) => errors.clone(),
                    _ => ShowValidationError::new("Please fix the errors below to continue."),
                };
                errors.insert("displayName", "This name is reserved.");
                Ok(Some(AttributeCollectionSubmitAction::ShowValidationError(
                    errors,
                )))
            }
            Behaviour::Fail => Err("the customer database is down".into()),
            Behaviour::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(None)
            }
            Behaviour::Invalid => Ok(Some(AttributeCollectionSubmitAction::ShowValidationError(
                ShowValidationError::new("x").with("displayName", ""),
            ))),
        }
    }
}

#[tokio::test]
async fn custom_logic_adds_to_the_rules_answer() {
    let state = state(CITY).with_extension(Arc::new(Custom(Behaviour::ReservedNames)));
    let decision = decide_with(
        &state,
        &submit(json!({"city": string("Area 51"), "displayName": string("admin")})),
    )
    .await;
    assert_eq!(
        errors(&decision),
        &json!({"city": "City cannot contain any numbers", "displayName": "This name is reserved."})
    );
    assert!(!decision.fallback);
}

#[tokio::test]
async fn failing_late_or_invalid_custom_logic_falls_back_to_the_rules_answer() {
    for behaviour in [Behaviour::Fail, Behaviour::Hang, Behaviour::Invalid] {
        let state = state(CITY).with_extension(Arc::new(Custom(behaviour)));
        let budget = CallBudget::start(Duration::from_millis(200), DEFAULT_SAFETY_MARGIN);
        let decision = state
            .decide(&submit(json!({"city": string("Area 51")})), budget)
            .await
            .unwrap();
        assert!(decision.fallback);
        assert_eq!(
            errors(&decision),
            &json!({"city": "City cannot contain any numbers"})
        );
        assert!(budget.elapsed() < Duration::from_millis(1000));
    }
}
