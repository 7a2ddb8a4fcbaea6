//! The `[attribute_collection_start]` section: the shipped example parses, and every mistake is
//! reported with the file's line and a fix.

mod common;

use attribute_collection_start::rules::{ConstantValue, LookupSource, PrefillSource, TextCase};
use attribute_collection_start::{AttributeCollectionStartRules, SECTION};
use entra_extensions::RulesFile;
use entra_extensions::testing::{assert_one_rules_problem, rules_problems};

fn problems(text: &str) -> Vec<(Option<usize>, String, String)> {
    rules_problems::<AttributeCollectionStartRules>(text, SECTION)
}

/// Exactly one problem, on `line`, whose key and message contain the given fragments.
fn assert_one_problem(text: &str, line: usize, key: &str, message: &str) {
    assert_one_rules_problem::<AttributeCollectionStartRules>(text, SECTION, line, key, message);
}

#[test]
fn the_example_file_parses_with_every_rule() {
    let rules = common::example_rules();
    assert_eq!(rules.timeout().as_millis(), 1000);
    let names: Vec<_> = rules
        .rules
        .iter()
        .map(|r| r.get_ref().name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "client app allow-list",
            "disposable email domains",
            "country from the market",
            "shop defaults",
            "newsletter language"
        ]
    );
    let defaults = rules.rules[3].get_ref().prefill.as_ref().unwrap().get_ref();
    assert_eq!(
        defaults["extension_7f3b8d2a5c4e4a1b9e6f0d2c8b4a6e13_marketingConsent"].get_ref(),
        &PrefillSource::Constant(ConstantValue::Boolean(false))
    );
    match defaults["displayName"].get_ref() {
        PrefillSource::Entry(entry) => {
            assert_eq!(entry.from, Some(LookupSource::Attribute));
            assert!(entry.only_if_empty);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_section_means_no_rules_and_the_default_timeout() {
    let rules: AttributeCollectionStartRules = RulesFile::empty().section(SECTION).unwrap();
    assert!(rules.rules.is_empty());
    assert_eq!(rules.timeout().as_millis(), 1000);
}

#[test]
fn constants_and_lookups_of_every_shape_parse() {
    let rules = common::rules(
        r#"
[[attribute_collection_start.rules]]
prefill.a = "text"
prefill.b = 2023
prefill.c = true
prefill.d = ["Alumni", "Faculty"]
prefill.e = { from = "locale_region", map = { US = "United States" }, default = "Elsewhere", case = "lower" }
prefill.f = { value = 7, only_if_empty = true }
"#,
    );
    let prefill = rules.rules[0].get_ref().prefill.as_ref().unwrap().get_ref();
    assert_eq!(
        prefill["a"].get_ref(),
        &PrefillSource::Constant(ConstantValue::Text("text".into()))
    );
    assert_eq!(
        prefill["b"].get_ref(),
        &PrefillSource::Constant(ConstantValue::Integer(2023))
    );
    assert_eq!(
        prefill["d"].get_ref(),
        &PrefillSource::Constant(ConstantValue::List(vec!["Alumni".into(), "Faculty".into()]))
    );
    let PrefillSource::Entry(e) = prefill["e"].get_ref() else {
        panic!()
    };
    assert_eq!(e.case, Some(TextCase::Lower));
    assert_eq!(e.map["US"], "United States");
    let PrefillSource::Entry(f) = prefill["f"].get_ref() else {
        panic!()
    };
    assert_eq!(f.value, Some(ConstantValue::Integer(7)));
}

#[test]
fn timeout_outside_entras_range() {
    assert_one_problem(
        "[attribute_collection_start]\n\ntimeout_ms = 5000\n",
        3,
        "attribute_collection_start.timeout_ms",
        "outside the 200-2000 ms",
    );
}

#[test]
fn malformed_client_app_ids() {
    assert_one_problem(
        r#"[[attribute_collection_start.rules]]
name = "x"
client_apps = [
  "not-a-guid",
]
block.message = "no"
"#,
        4,
        "rules[0].client_apps[0]",
        "is not an application (client) id",
    );
}

#[test]
fn both_lists_of_client_apps() {
    assert_one_problem(
        r#"[[attribute_collection_start.rules]]
client_apps = ["00001111-aaaa-2222-bbbb-3333cccc4444"]
except_client_apps = ["00001111-aaaa-2222-bbbb-3333cccc4445"]
block.message = "no"
"#,
        3,
        "except_client_apps",
        "cannot be combined with client_apps",
    );
}

#[test]
fn a_rule_that_blocks_and_prefills() {
    let problems = problems(
        r#"[[attribute_collection_start.rules]]
block.message = "no"

[attribute_collection_start.rules.prefill]
city = "Paris"
"#,
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].1, "attribute_collection_start.rules[0].prefill");
    assert!(problems[0].2.contains("either blocks or prefills"));
    assert!(matches!(problems[0].0, Some(4 | 5)), "{problems:#?}");
}

#[test]
fn a_rule_that_does_nothing() {
    let problems = problems(
        "[attribute_collection_start]\n\n[[attribute_collection_start.rules]]\nname = \"idle\"\n",
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].2.contains("neither `block` nor `prefill`"));
    assert!(matches!(problems[0].0, Some(3 | 4)), "{problems:#?}");
}

#[test]
fn texts_per_locale_need_a_default_and_no_empty_text() {
    assert_one_problem(
        r#"[[attribute_collection_start.rules]]
block.title = "Closed"
block.message = { fr = "Fermé" }
"#,
        3,
        "rules[0].block.message",
        "no `default` entry",
    );
    assert_one_problem(
        "[[attribute_collection_start.rules]]\nblock.message = \"  \"\n",
        2,
        "rules[0].block.message",
        "is empty",
    );
    assert_one_problem(
        "[[attribute_collection_start.rules]]\nblock.message = 42\n",
        2,
        "attribute_collection_start",
        "a text, or a table of texts per locale",
    );
}

#[test]
fn block_without_message() {
    assert_one_problem(
        "[[attribute_collection_start.rules]]\nblock.title = \"Closed\"\n",
        2,
        "attribute_collection_start",
        "missing field `message`",
    );
}

#[test]
fn email_domains_must_be_domains() {
    assert_one_problem(
        "[[attribute_collection_start.rules]]\nemail_domains = [\"example.com\", \"not a domain\"]\nblock.message = \"no\"\n",
        2,
        "rules[0].email_domains[1]",
        "is not a domain name",
    );
}

#[test]
fn lookup_mistakes() {
    assert_one_problem(
        "[[attribute_collection_start.rules]]\n\nprefill.displayName = { from = \"attribute\" }\n",
        3,
        "rules[0].prefill.displayName",
        "needs `attribute`",
    );
    assert_one_problem(
        "[[attribute_collection_start.rules]]\nprefill.city = { from = \"town\" }\n",
        2,
        "attribute_collection_start",
        "unknown variant `town`",
    );
    assert_one_problem(
        "[[attribute_collection_start.rules]]\nprefill.city = { form = \"locale\" }\n",
        2,
        "attribute_collection_start",
        "unknown field `form`",
    );
    assert_one_problem(
        "[[attribute_collection_start.rules]]\nprefill.city = { from = \"locale\", value = \"x\" }\n",
        2,
        "rules[0].prefill.city",
        "both `from` and `value`",
    );
    assert_one_problem(
        "[[attribute_collection_start.rules]]\nprefill.city = { only_if_empty = true }\n",
        2,
        "rules[0].prefill.city",
        "neither `from` nor `value`",
    );
    assert_one_problem(
        "[[attribute_collection_start.rules]]\nprefill.city = { value = \"x\", case = \"upper\" }\n",
        2,
        "rules[0].prefill.city",
        "apply to lookups",
    );
}

#[test]
fn multi_values_must_survive_the_comma_encoding() {
    assert_one_problem(
        "[[attribute_collection_start.rules]]\n\n\nprefill.groups = [\"Alumni\", \"Faculty, Staff\"]\n",
        4,
        "rules[0].prefill.groups",
        "containing a comma",
    );
}

#[test]
fn unknown_keys_are_refused_with_their_line() {
    assert_one_problem(
        "[[attribute_collection_start.rules]]\nname = \"x\"\nclient_app = []\nblock.message = \"no\"\n",
        3,
        "attribute_collection_start",
        "unknown field `client_app`",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let problems = problems(
        r#"[attribute_collection_start]
timeout_ms = 10

[[attribute_collection_start.rules]]
client_apps = ["nope"]
block.message = { fr = "Fermé" }
"#,
    );
    let lines: Vec<_> = problems.iter().map(|p| p.0).collect();
    assert_eq!(lines, [Some(2), Some(5), Some(6)], "{problems:#?}");
}
