//! Property-based fuzzing of the rules file (issue #10 item 4, FUZZING.md): `RulesFile::parse` and
//! the section parser of every function (`RulesFile::section::<T>` for the six section types).
//!
//! Seeds are the shipped rules files (`config/rules.toml` and every `rules.example.toml`). They are
//! mutated as TOML documents (drop, retype, nest, add keys) and as raw text. Whatever the input,
//! nothing panics, memory stays within a bound proportional to the text, and every error names the
//! file, line and column of each problem (`rules.toml:12:5: key: ...`), a position that exists in
//! the text. Unknown sections are refused at the line that opens them.

use std::path::PathBuf;

use entra_extensions::rules_file::SECTIONS;
use entra_extensions::{RulesError, RulesFile};
use entra_fuzzing::mutate::{apply_bytes, apply_json, byte_edits, json_edits};
use entra_fuzzing::{MemoryBound, bounded, brief, run};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

entra_fuzzing::counting_allocator!();

/// TOML documents with spans, typed sections and compiled patterns cost more per byte than JSON;
/// patterns are capped by the section parsers themselves.
const MEMORY: MemoryBound = MemoryBound {
    per_input_byte: 512,
    fixed: 4 * 1024 * 1024,
};

const ORIGIN: &str = "rules.toml";

type SectionParser = fn(&RulesFile) -> Result<(), RulesError>;

/// Every function's section parser, as the function calls it at start.
const PARSERS: [(&str, SectionParser); 6] = [
    (token_issuance_start::SECTION, |file| {
        file.section::<token_issuance_start::TokenIssuanceStartRules>(token_issuance_start::SECTION)
            .map(drop)
    }),
    (attribute_collection_start::SECTION, |file| {
        file.section::<attribute_collection_start::AttributeCollectionStartRules>(
            attribute_collection_start::SECTION,
        )
        .map(drop)
    }),
    (attribute_collection_submit::SECTION, |file| {
        file.section::<attribute_collection_submit::AttributeCollectionSubmitRules>(
            attribute_collection_submit::SECTION,
        )
        .map(drop)
    }),
    (email_otp_send::SECTION, |file| {
        file.section::<email_otp_send::EmailOtpSendRules>(email_otp_send::SECTION)
            .map(drop)
    }),
    (password_submit::SECTION, |file| {
        file.section::<password_submit::PasswordSubmitRules>(password_submit::SECTION)
            .map(drop)
    }),
    (notification_worker::SECTION, |file| {
        file.section::<notification_worker::DirectoryReactions>(notification_worker::SECTION)
            .map(drop)
    }),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shipped rules files.
fn seeds() -> Vec<String> {
    let mut paths = vec![repo().join("config/rules.toml")];
    for function in [
        "token-issuance-start",
        "attribute-collection-start",
        "attribute-collection-submit",
        "email-otp-send",
        "password-submit",
        "notification-worker",
    ] {
        paths.push(
            repo()
                .join("functions")
                .join(function)
                .join("rules.example.toml"),
        );
    }
    paths
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect()
}

#[test]
fn the_shipped_rules_files_pass_every_section_parser() {
    assert_eq!(PARSERS.map(|(name, _)| name), SECTIONS);
    for text in seeds() {
        let file = RulesFile::parse(text.clone(), ORIGIN).unwrap();
        for (name, parse) in PARSERS {
            parse(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

/// 1-based (line, column) positions that exist in `text` (column in characters; one past the end
/// of a line names its end).
fn position_exists(text: &str, (line, column): (usize, usize)) -> bool {
    let lines: Vec<&str> = text.split('\n').collect();
    line >= 1
        && column >= 1
        && lines
            .get(line - 1)
            .is_some_and(|l| column <= l.chars().count() + 1)
}

/// The rules error contract: `Invalid`, at least one problem, each at an existing position, and
/// the message names `rules.toml:line:column` for each.
fn check_error(text: &str, error: &RulesError) -> Result<(), TestCaseError> {
    let RulesError::Invalid { origin, problems } = error else {
        return Err(TestCaseError::fail(format!(
            "not Invalid: {}",
            brief(error)
        )));
    };
    prop_assert_eq!(origin, ORIGIN);
    prop_assert!(!problems.is_empty());
    let message = error.to_string();
    for problem in problems {
        // The one exception: toml reports its nesting limit without a span (it stops counting
        // brackets, not at a token), so the whole document is the place to look.
        let unlocated_by_toml =
            problem.key == "(document)" && problem.message.contains("recursion limit");
        if problem.position.is_none() && unlocated_by_toml {
            continue;
        }
        let Some(position) = problem.position else {
            return Err(TestCaseError::fail(format!(
                "a problem without a line and column: {}",
                brief(problem)
            )));
        };
        prop_assert!(
            position_exists(text, position),
            "position {:?} is not in the text: {}",
            position,
            brief(problem)
        );
        let located = format!("{ORIGIN}:{}:{}: {}", position.0, position.1, problem.key);
        prop_assert!(message.contains(&located), "message lacks {}", located);
    }
    Ok(())
}

/// Parses `text` as the file and as every section, within the memory bound, checking each error.
fn parse_everything(text: &str) -> Result<bool, TestCaseError> {
    let outcome = bounded(text.len(), MEMORY, || {
        let file = RulesFile::parse(text, ORIGIN)?;
        let sections: Vec<Result<(), RulesError>> =
            PARSERS.iter().map(|(_, parse)| parse(&file)).collect();
        Ok::<_, RulesError>(sections)
    })?;
    match outcome {
        Err(error) => {
            check_error(text, &error)?;
            Ok(false)
        }
        Ok(sections) => {
            for error in sections.iter().filter_map(|s| s.as_ref().err()) {
                check_error(text, error)?;
            }
            Ok(sections.iter().all(Result::is_ok))
        }
    }
}

/// A TOML document as JSON (for the JSON mutations), and back; `null`s, which TOML lacks, are
/// dropped and integers beyond i64 become floats.
fn toml_to_json(value: &toml::Value) -> Value {
    serde_json::to_value(value).unwrap()
}

fn json_to_toml(value: &Value) -> Option<toml::Value> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(items) => toml::Value::Array(items.iter().filter_map(json_to_toml).collect()),
        Value::Object(map) => toml::Value::Table(
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), json_to_toml(v)?)))
                .collect(),
        ),
    })
}

fn seed_documents() -> Vec<Value> {
    seeds()
        .iter()
        .map(|text| toml_to_json(&toml::Value::Table(text.parse::<toml::Table>().unwrap())))
        .collect()
}

#[test]
fn toml_mutations_are_refused_with_a_located_problem_or_accepted() {
    run(
        "rules: TOML document mutations",
        file!(),
        128,
        (select(seed_documents()), json_edits()),
        |(seed, edits)| {
            let mutated = apply_json(&seed, &edits);
            let Some(toml::Value::Table(table)) = json_to_toml(&mutated) else {
                return Ok(());
            };
            let Ok(text) = toml::to_string(&table) else {
                return Ok(());
            };
            parse_everything(&text)?;
            Ok(())
        },
    );
}

#[test]
fn text_mutations_never_panic_and_locate_every_problem() {
    let seeds: Vec<Vec<u8>> = seeds().into_iter().map(String::into_bytes).collect();
    run(
        "rules: raw text mutations",
        file!(),
        128,
        (select(seeds), byte_edits()),
        |(seed, edits)| {
            let text = String::from_utf8_lossy(&apply_bytes(&seed, &edits)).into_owned();
            parse_everything(&text)?;
            Ok(())
        },
    );
}

#[test]
fn an_unknown_section_is_refused_where_it_is_opened() {
    run(
        "rules: unknown sections",
        file!(),
        128,
        (
            select(seeds()),
            "[a-z][a-z_]{0,11}".prop_filter("unknown", |s| !SECTIONS.contains(&s.as_str())),
            any::<bool>(),
        ),
        |(seed, name, array)| {
            // Appended at the end, after every comment and value that might contain the name.
            let header = if array {
                format!("[[{name}]]")
            } else {
                format!("[{name}]")
            };
            let text = format!("{seed}\n{header}\nkey = 1\n");
            let opened_at = text.lines().position(|l| l == header).unwrap() + 1;
            let error = bounded(text.len(), MEMORY, || {
                RulesFile::parse(text.as_str(), ORIGIN)
            })?
            .expect_err("unknown section");
            check_error(&text, &error)?;
            let problem = &error.problems()[0];
            prop_assert_eq!(&problem.key, &name);
            prop_assert_eq!(
                problem.position.map(|(line, _)| line),
                Some(opened_at),
                "{}",
                brief(problem)
            );
            Ok(())
        },
    );
}
