//! The `[token_issuance_start]` section: the example file, defaults, and every validation error
//! with its line, column and fix.

mod common;

use std::time::Duration;

use entra_sandbox::Sandbox;
use token_issuance_start::{ClaimsProvider, ClaimsSetupError, TokenIssuanceStartRules};

/// `(line, key, message fragment)` of every problem, for compact assertions.
fn problems(text: &str) -> Vec<(usize, String, String, Option<String>)> {
    let error = TokenIssuanceStartRules::from_toml(text, "rules.toml")
        .err()
        .unwrap_or_else(|| panic!("accepted:\n{text}"));
    error
        .problems()
        .iter()
        .map(|p| {
            (
                p.position.map_or(0, |(line, _)| line),
                p.key.clone(),
                p.message.clone(),
                p.fix.clone(),
            )
        })
        .collect()
}

const APP: &str = "7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13";

#[test]
fn the_example_rules_file_is_valid() {
    let rules =
        TokenIssuanceStartRules::from_toml(&common::example_rules_text(), "rules.example.toml")
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rules.timeout(), Duration::from_millis(1000));
    assert!(rules.needs_graph());
}

#[test]
fn no_section_means_the_documented_defaults() {
    let rules = TokenIssuanceStartRules::from_toml("", "rules.toml").unwrap();
    assert_eq!(rules.timeout(), Duration::from_millis(1000));
    assert!(!rules.needs_graph());
    let provider = ClaimsProvider::new(&rules, None).unwrap();
    assert_eq!(provider.timeout(), Duration::from_millis(1000));
}

#[test]
fn unknown_source_names_the_line_and_the_choices() {
    let text = "[token_issuance_start]\n\n[[token_issuance_start.claims]]\nname = \"tier\"\nsource = \"usr\"\nattribute = \"x\"\n";
    let found = problems(text);
    assert_eq!(found.len(), 1, "{found:?}");
    let (line, key, message, fix) = &found[0];
    assert_eq!(*line, 5);
    assert_eq!(key, "token_issuance_start.claims[0].source");
    assert!(message.contains("`usr` is not a claim source"), "{message}");
    assert!(
        fix.as_deref()
            .unwrap()
            .contains("\"user\", \"extension\", \"groups\", \"context\", \"constant\"")
    );
}

#[test]
fn rendered_errors_read_file_line_column_key_message_fix() {
    let text = "[token_issuance_start]\n[[token_issuance_start.claims]]\nname = \"tier\"\nsource = \"extension\"\n";
    let error = TokenIssuanceStartRules::from_toml(text, "rules.toml").unwrap_err();
    assert_eq!(
        error.to_string(),
        "rules.toml: 1 problem(s) in the rules file\n  rules.toml:4:10: token_issuance_start.claims[0].source: source = \"extension\" needs `attribute`; fix: add attribute = \"loyaltyTier\""
    );
}

#[test]
fn every_problem_in_a_file_is_reported_at_its_line() {
    let text = format!(
        r#"[token_issuance_start]
timeout_ms = 5000
extension_app_id = "not-a-guid"
cache_ttl_seconds = 86400

[[token_issuance_start.claims]]
name = "tier"
source = "extension"
attribute = "extension_{app}_loyaltyTier"

[[token_issuance_start.claims]]
name = "tier"
source = "constant"
value = "x"

[[token_issuance_start.claims]]
name = "groups"
source = "groups"
prefix = ""

[[token_issuance_start.claims]]
name = "vip"
source = "groups"
ids = ["9b3e5f70-2c1d-4a8b-b6e4-000000000001", "vip-group"]

[[token_issuance_start.claims]]
name = "app"
source = "context"
field = "client_app"

[[token_issuance_start.claims]]
name = "scoped"
source = "constant"
value = "x"
client_apps = ["shop"]

[[token_issuance_start.claims]]
name = "given"
source = "user"
attribute = "givenName"
on_error = "retry"

[[token_issuance_start.claims]]
name = " padded"
source = "constant"
value = "x"
on_error = "omit"

[[token_issuance_start.claims]]
name = "both"
source = "groups"
prefix = "Customers - "
ids = ["9b3e5f70-2c1d-4a8b-b6e4-000000000001"]

[[token_issuance_start.claims]]
name = "nothing"
source = "groups"

[[token_issuance_start.claims]]
name = "emptyConstant"
source = "constant"
value = []

[[token_issuance_start.claims]]
name = "defaulted"
source = "user"
attribute = "city"
on_error = "default"

[[token_issuance_start.claims]]
name = "nobody"
source = "constant"
value = "x"
client_apps = []

[[token_issuance_start.claims]]
name = "fullName"
source = "user"
attribute = "extension_{app}_loyaltyTier"

[[token_issuance_start.claims]]
name = "strip"
source = "groups"
ids = ["9b3e5f70-2c1d-4a8b-b6e4-000000000001"]
strip_prefix = true

[[token_issuance_start.claims]]
name = "how"
source = "groups"
prefix = "Customers - "
emit = "objects"
"#,
        app = APP.replace('-', "")
    );
    let found = problems(&text);
    let summary: Vec<(usize, &str)> = found.iter().map(|(l, k, _, _)| (*l, k.as_str())).collect();
    assert_eq!(
        summary,
        vec![
            (2, "token_issuance_start.timeout_ms"),
            (3, "token_issuance_start.extension_app_id"),
            (4, "token_issuance_start.cache_ttl_seconds"),
            (9, "token_issuance_start.claims[0].attribute"),
            (12, "token_issuance_start.claims[1].name"),
            (19, "token_issuance_start.claims[2].prefix"),
            (24, "token_issuance_start.claims[3].ids"),
            (29, "token_issuance_start.claims[4].field"),
            (35, "token_issuance_start.claims[5].client_apps"),
            (41, "token_issuance_start.claims[6].on_error"),
            (44, "token_issuance_start.claims[7].name"),
            (47, "token_issuance_start.claims[7].on_error"),
            (53, "token_issuance_start.claims[8].ids"),
            (57, "token_issuance_start.claims[9].source"),
            (62, "token_issuance_start.claims[10].value"),
            (68, "token_issuance_start.claims[11].on_error"),
            (74, "token_issuance_start.claims[12].client_apps"),
            (79, "token_issuance_start.claims[13].attribute"),
            (85, "token_issuance_start.claims[14].strip_prefix"),
            (91, "token_issuance_start.claims[15].emit"),
        ],
        "{found:#?}"
    );
    // Every problem says how to fix it.
    for (line, key, message, fix) in &found {
        assert!(fix.is_some(), "line {line} {key}: {message} has no fix");
    }
    let message_of = |key: &str| {
        found
            .iter()
            .find(|(_, k, _, _)| k == key)
            .map(|(_, _, m, f)| format!("{m}; fix: {}", f.clone().unwrap_or_default()))
            .unwrap()
    };
    assert!(
        message_of("token_issuance_start.claims[0].attribute")
            .contains("attribute = \"loyaltyTier\"")
    );
    assert!(
        message_of("token_issuance_start.claims[13].attribute")
            .contains("source = \"extension\" and attribute = \"loyaltyTier\"")
    );
    assert!(message_of("token_issuance_start.claims[2].prefix").contains("match every group"));
    assert!(message_of("token_issuance_start.claims[3].ids").contains("`vip-group`"));
    assert!(
        message_of("token_issuance_start.claims[7].on_error")
            .contains("only Graph sources can fail")
    );
}

#[test]
fn duplicate_claim_names_are_refused_unless_scoped_to_disjoint_apps() {
    let duplicate = "[token_issuance_start]\n[[token_issuance_start.claims]]\nname = \"plan\"\nsource = \"constant\"\nvalue = \"a\"\n\n[[token_issuance_start.claims]]\nname = \"plan\"\nsource = \"constant\"\nvalue = \"b\"\n";
    let found = problems(duplicate);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, 8);
    assert!(
        found[0]
            .2
            .contains("already produced by token_issuance_start.claims[0]"),
        "{found:?}"
    );

    let shop = "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    let other = "0f0e0d0c-0b0a-4909-8807-060504030201";
    let scoped = format!(
        "[token_issuance_start]\n[[token_issuance_start.claims]]\nname = \"plan\"\nsource = \"constant\"\nvalue = \"a\"\nclient_apps = [\"{shop}\"]\n\n[[token_issuance_start.claims]]\nname = \"plan\"\nsource = \"constant\"\nvalue = \"b\"\nclient_apps = [\"{other}\"]\n"
    );
    TokenIssuanceStartRules::from_toml(&scoped, "rules.toml").unwrap();

    let overlapping = scoped.replace(other, &shop.to_uppercase());
    let found = problems(&overlapping);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, 9);
}

#[test]
fn extension_attributes_need_the_extension_app_id() {
    let text = "[token_issuance_start]\n[[token_issuance_start.claims]]\nname = \"tier\"\nsource = \"extension\"\nattribute = \"loyaltyTier\"\n";
    let found = problems(text);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, 4);
    assert!(found[0].3.as_deref().unwrap().contains("extension_app_id"));
    // Written without dashes, as inside the property name, is accepted too.
    let ok = format!(
        "[token_issuance_start]\nextension_app_id = \"{}\"\n[[token_issuance_start.claims]]\nname = \"tier\"\nsource = \"extension\"\nattribute = \"loyaltyTier\"\n",
        APP.replace('-', "")
    );
    TokenIssuanceStartRules::from_toml(&ok, "rules.toml").unwrap();
}

#[test]
fn serde_level_errors_carry_positions_too() {
    // An unknown key inside a rule.
    let text = "[token_issuance_start]\n[[token_issuance_start.claims]]\nname = \"a\"\nsource = \"constant\"\nvalue = \"x\"\npriority = 3\n";
    let found = problems(text);
    assert_eq!(found[0].0, 6, "{found:?}");
    assert!(found[0].2.contains("priority"), "{found:?}");
    // A wrongly typed value.
    let text = "[token_issuance_start]\n[[token_issuance_start.claims]]\nname = \"a\"\nsource = \"constant\"\nvalue = 3\n";
    let found = problems(text);
    assert_eq!(found[0].0, 5, "{found:?}");
    assert!(
        found[0].2.contains("a string or an array of strings"),
        "{found:?}"
    );
    // A rule without a source.
    let text = "[token_issuance_start]\n[[token_issuance_start.claims]]\nname = \"a\"\n";
    let found = problems(text);
    assert!(found[0].2.contains("source"), "{found:?}");
}

#[test]
fn timeout_bounds_are_entras() {
    for (value, ok) in [(199, false), (200, true), (2000, true), (2001, false)] {
        let text = format!("[token_issuance_start]\ntimeout_ms = {value}\n");
        let result = TokenIssuanceStartRules::from_toml(&text, "rules.toml");
        assert_eq!(result.is_ok(), ok, "{value}");
        if let Ok(rules) = result {
            assert_eq!(rules.timeout(), Duration::from_millis(value));
        }
    }
}

#[tokio::test]
async fn rules_reading_graph_need_a_graph_client() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let rules = common::rules(
        &sandbox,
        "[[token_issuance_start.claims]]\nname = \"groups\"\nsource = \"groups\"\nprefix = \"Customers - \"\n",
    );
    let error = ClaimsProvider::new(&rules, None).unwrap_err();
    assert!(matches!(&error, ClaimsSetupError::GraphRequired { claims } if claims == &["groups"]));
    assert!(
        error.to_string().contains("add a [graph] section"),
        "{error}"
    );
    ClaimsProvider::new(&rules, Some(common::graph(&sandbox))).unwrap();
}
