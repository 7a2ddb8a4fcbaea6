//! The `[attribute_collection_submit]` section: the shipped example parses, and every mistake is
//! reported at start with the file's line and a fix (an invalid regex included).

mod common;

use attribute_collection_submit::rules::{Normalization, OnError, Violation};
use attribute_collection_submit::{
    AttributeCollectionSubmit, AttributeCollectionSubmitRules, SECTION, SubmitSetupError,
};
use entra_extensions::RulesFile;
use entra_extensions::testing;
use entra_extensions::testing::{assert_one_rules_problem, rules_problems};

fn problems(text: &str) -> Vec<(Option<usize>, String, String)> {
    rules_problems::<AttributeCollectionSubmitRules>(text, SECTION)
}

/// Exactly one problem, on `line`, whose key and message contain the given fragments.
fn assert_one_problem(text: &str, line: usize, key: &str, message: &str) {
    assert_one_rules_problem::<AttributeCollectionSubmitRules>(text, SECTION, line, key, message);
}

const HEAD: &str = "[attribute_collection_submit]\nextensions_app_id = \"7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13\"\n\n[[attribute_collection_submit.attributes]]\n";

#[test]
fn the_example_file_parses_with_every_rule() {
    let rules = common::example_rules();
    assert_eq!(rules.timeout().as_millis(), 1000);
    assert!(rules.needs_graph());
    let names: Vec<_> = rules
        .attributes
        .iter()
        .map(|r| r.get_ref().name.get_ref().clone())
        .collect();
    assert_eq!(
        names,
        [
            "email",
            "displayName",
            "city",
            "country",
            "loyaltyNumber",
            "loyaltyTier",
            "interests"
        ]
    );
    let loyalty = rules.attributes[4].get_ref();
    assert!(loyalty.is_unique());
    assert_eq!(
        *loyalty.on_error.as_ref().unwrap().get_ref(),
        OnError::Allow
    );
    assert_eq!(
        loyalty
            .normalize
            .iter()
            .map(|n| *n.get_ref())
            .collect::<Vec<_>>(),
        [Normalization::Trim, Normalization::Uppercase]
    );
    let email = rules.attributes[0].get_ref();
    assert!(email.is_email());
    assert_eq!(
        *email.on_denied_domain.as_ref().unwrap().get_ref(),
        Violation::Block
    );
}

#[test]
fn no_section_means_no_rules() {
    let rules: AttributeCollectionSubmitRules = RulesFile::empty().section(SECTION).unwrap();
    assert!(rules.attributes.is_empty());
    assert!(!rules.needs_graph());
    assert_eq!(rules.timeout().as_millis(), 1000);
}

#[test]
fn an_invalid_regex_is_a_startup_error_naming_its_line() {
    let text = format!("{HEAD}name = \"city\"\n\npattern = '[a-'\n");
    let problems = problems(&text);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].0, Some(7), "{problems:#?}");
    assert_eq!(
        problems[0].1,
        "attribute_collection_submit.attributes[0].pattern"
    );
    assert!(
        problems[0]
            .2
            .contains("is not a valid regular expression: unclosed character class"),
        "{problems:#?}"
    );
    let error = RulesFile::parse(text, "rules.toml")
        .unwrap()
        .section::<AttributeCollectionSubmitRules>(SECTION)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("rules.toml:7:11: attribute_collection_submit.attributes[0].pattern"),
        "{error}"
    );
}

#[test]
fn timeout_and_extensions_app_id() {
    assert_one_problem(
        "[attribute_collection_submit]\ntimeout_ms = 100\n",
        2,
        "timeout_ms",
        "outside the 200-2000 ms",
    );
    assert_one_problem(
        "[attribute_collection_submit]\n\nextensions_app_id = \"b2c-extensions-app\"\n",
        3,
        "extensions_app_id",
        "is not an application id",
    );
    // Without dashes, as it appears in attribute names, is accepted.
    common::rules(
        "[attribute_collection_submit]\nextensions_app_id = \"7f3b8d2a5c4e4a1b9e6f0d2c8b4a6e13\"\n",
    );
}

#[test]
fn bounds_that_no_value_could_pass() {
    assert_one_problem(
        &format!("{HEAD}name = \"city\"\nmin_length = 10\nmax_length = 3\n"),
        6,
        "attributes[0].min_length",
        "no value could pass",
    );
    assert_one_problem(
        &format!("{HEAD}name = \"year\"\nmax = 1900\nmin = 2000\n"),
        7,
        "attributes[0].min",
        "no value could pass",
    );
    assert_one_problem(
        &format!("{HEAD}name = \"tier\"\nallowed_values = []\n"),
        6,
        "attributes[0].allowed_values",
        "is empty",
    );
}

#[test]
fn domain_lists_belong_to_email_attributes() {
    assert_one_problem(
        &format!("{HEAD}name = \"city\"\ndenied_domains = [\"example.com\"]\n"),
        6,
        "attributes[0]",
        "is not an email attribute",
    );
    // kind = "email" makes any attribute an email attribute.
    common::rules(&format!(
        "{HEAD}name = \"contactEmail\"\nkind = \"email\"\ndenied_domains = [\"example.com\"]\n"
    ));
    assert_one_problem(
        &format!("{HEAD}name = \"email\"\n\ndenied_domains = [\"exa mple.com\"]\n"),
        7,
        "attributes[0].denied_domains[0]",
        "is not a domain name",
    );
    assert_one_problem(
        &format!("{HEAD}name = \"email\"\nrequired = true\non_denied_domain = \"block\"\n"),
        7,
        "attributes[0].on_denied_domain",
        "no domain list",
    );
}

#[test]
fn uniqueness_needs_a_directory_name_and_a_single_value() {
    assert_one_problem(
        "[[attribute_collection_submit.attributes]]\nname = \"loyaltyNumber\"\nunique = true\n",
        3,
        "attributes[0].unique",
        "`extensions_app_id` is not set",
    );
    // The full directory name needs no extensions app id.
    common::rules(&format!(
        "[[attribute_collection_submit.attributes]]\nname = \"{}_loyaltyNumber\"\nunique = true\n",
        common::EXT
    ));
    assert_one_problem(
        &format!("{HEAD}name = \"interests\"\nmulti_valued = true\nunique = true\n"),
        7,
        "attributes[0].unique",
        "multi-valued",
    );
    assert_one_problem(
        &format!("{HEAD}name = \"email\"\nunique = true\n"),
        6,
        "attributes[0].unique",
        "already unique",
    );
    assert_one_problem(
        &format!("{HEAD}name = \"city\"\nrequired = true\non_error = \"block\"\n"),
        7,
        "attributes[0].on_error",
        "applies only to uniqueness checks",
    );
    assert_one_problem(
        &format!("{HEAD}name = \"loyaltyNumber\"\nunique = true\non_error = \"ignore\"\n"),
        7,
        "attribute_collection_submit",
        "unknown variant `ignore`, expected one of `allow`, `block`, `error`",
    );
}

#[test]
fn normalisation_mistakes() {
    assert_one_problem(
        &format!("{HEAD}name = \"city\"\nnormalize = [\"lowercase\", \"upper\"]\n"),
        6,
        "attributes[0].normalize",
        "both lowercase and uppercase",
    );
    assert_one_problem(
        &format!("{HEAD}name = \"city\"\nnormalize = [\"titlecase\"]\n"),
        6,
        "attribute_collection_submit",
        "unknown variant `titlecase`",
    );
}

#[test]
fn messages_are_checked_like_every_text() {
    assert_one_problem(
        &format!(
            "{HEAD}name = \"city\"\nrequired = true\nmessages.required = {{ fr = \"Obligatoire\" }}\n"
        ),
        7,
        "attributes[0].messages.required",
        "no `default` entry",
    );
    assert_one_problem(
        &format!("{HEAD}name = \"city\"\nrequired = true\nmessages.requird = \"x\"\n"),
        7,
        "attribute_collection_submit",
        "unknown field `requird`",
    );
    assert_one_problem(
        "[attribute_collection_submit]\nmessage = \"\"\n",
        2,
        "attribute_collection_submit.message",
        "is empty",
    );
}

#[test]
fn a_rule_that_checks_nothing() {
    let problems = problems(&format!("{HEAD}name = \"city\"\n"));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].2.contains("does nothing with `city`"),
        "{problems:#?}"
    );
    assert!(matches!(problems[0].0, Some(4 | 5)), "{problems:#?}");
}

#[test]
fn bad_names_and_client_apps() {
    assert_one_problem(
        &format!("{HEAD}name = \"postal code\"\nrequired = true\n"),
        5,
        "attributes[0].name",
        "is not an attribute name",
    );
    assert_one_problem(
        &format!("{HEAD}name = \"city\"\nrequired = true\nclient_apps = [\"shop\"]\n"),
        7,
        "attributes[0].client_apps[0]",
        "is not an application (client) id",
    );
}

#[test]
fn uniqueness_without_a_graph_client_is_a_startup_error() {
    let rules = common::example_rules();
    let error = AttributeCollectionSubmit::new(testing::unused_guard(), &rules, None)
        .err()
        .expect("refused");
    assert!(matches!(
        &error,
        SubmitSetupError::GraphRequired { rule } if rule == "loyaltyNumber"
    ));
    assert!(error.to_string().contains("add the [graph] section"));
}
