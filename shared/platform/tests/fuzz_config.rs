//! Property-based fuzzing of the config loader (issue #10 item 4, FUZZING.md):
//! `load_config_with_env::<CommonConfig>`, the file plus `ENTRA_HOOKS_*` overrides passed in (the
//! process environment is never touched).
//!
//! Structured cases change one key of a complete, valid config and must get exactly the documented
//! `ConfigError` (`Missing`, `Unknown` or `Invalid` with the dotted key, `Syntax` with its line,
//! `Environment` for a bad override); overrides must win over the file whatever their casing.
//! Mutated files and overrides never panic, stay within a memory bound, and never echo a secret.

use std::io::Write as _;

use entra_fuzzing::mutate::{apply_bytes, apply_json, arb_json, byte_edits, json_edits, recase};
use entra_fuzzing::{MemoryBound, bounded, brief, run};
use entra_platform::config::{CommonConfig, ConfigError, ConfigProblem, load_config_with_env};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

entra_fuzzing::counting_allocator!();

const MEMORY: MemoryBound = MemoryBound {
    per_input_byte: 256,
    fixed: 1024 * 1024,
};

/// A secret that must never appear in an error message.
const SECRET: &str = "Zx8~hunter2.s3cr3t-do-not-echo";

fn guid() -> impl Strategy<Value = String> {
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
}

/// A complete, valid config with every section, as a JSON tree (TOML has the same shape).
#[derive(Debug, Clone)]
struct Valid {
    tenant_id: String,
    app_id: String,
    clock_skew_secs: u64,
    jwks_ttl_secs: u64,
    max_body_bytes: u64,
}

fn valid() -> impl Strategy<Value = Valid> {
    (
        guid(),
        guid(),
        0u64..=600,
        60u64..=604_800,
        1u64..=6 * 1024 * 1024,
    )
        .prop_map(
            |(tenant_id, app_id, clock_skew_secs, jwks_ttl_secs, max_body_bytes)| Valid {
                tenant_id,
                app_id,
                clock_skew_secs,
                jwks_ttl_secs,
                max_body_bytes,
            },
        )
}

impl Valid {
    fn document(&self) -> Value {
        json!({
            "tenant": {"id": self.tenant_id, "name": "entrahooksdemo"},
            "extension": {
                "app_id": self.app_id,
                "app_id_uri": format!("api://hooks.example.com/{}", self.app_id),
                "allowed_extension_ids": [self.app_id],
            },
            "auth": {
                "discovery_url": "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
                "clock_skew_secs": self.clock_skew_secs,
                "jwks_ttl_secs": self.jwks_ttl_secs,
            },
            "graph": {
                "client_id": self.app_id,
                "secret": "env:GRAPH_SECRET",
                "base_url": "https://graph.microsoft.com/v1.0",
            },
            "limits": {"max_body_bytes": self.max_body_bytes},
            "log": {"format": "json", "level": "info"},
            "rules": "config/rules.toml",
        })
    }
}

/// TOML text of a JSON tree (`null`s dropped: TOML has none).
fn toml_text(document: &Value) -> Option<String> {
    fn convert(value: &Value) -> Option<toml::Value> {
        Some(match value {
            Value::Null => return None,
            Value::Bool(b) => toml::Value::Boolean(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => toml::Value::Integer(i),
                None => toml::Value::Float(n.as_f64()?),
            },
            Value::String(s) => toml::Value::String(s.clone()),
            Value::Array(items) => toml::Value::Array(items.iter().filter_map(convert).collect()),
            Value::Object(map) => toml::Value::Table(
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), convert(v)?)))
                    .collect(),
            ),
        })
    }
    match convert(document)? {
        toml::Value::Table(table) => toml::to_string(&table).ok(),
        _ => None,
    }
}

fn load(
    text: &[u8],
    env: &[(String, String)],
) -> Result<Result<CommonConfig, ConfigError>, TestCaseError> {
    // A fresh temporary file per case, removed when it drops.
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text).unwrap();
    let path = file.path().to_path_buf();
    let size = text.len() + env.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    let result = bounded(size, MEMORY, || {
        load_config_with_env::<CommonConfig, _, _, _>(Some(&path), env.iter().cloned())
    })?;
    // A mutation can copy the secret's text into another key, whose value is echoed by design;
    // the check applies while the secret is only where secrets go.
    let only_in_secret_field = String::from_utf8_lossy(text)
        .lines()
        .filter(|line| line.contains(SECRET))
        .all(|line| {
            let line = line.trim();
            line == format!("secret = \"{SECRET}\"")
                || line == format!("secret = \"literal:{SECRET}\"")
        });
    if let Err(error) = &result
        && only_in_secret_field
    {
        let message = error.to_string();
        prop_assert!(
            !message.contains(SECRET),
            "a secret was echoed: {}",
            brief(&message)
        );
    }
    Ok(result)
}

/// What a case expects.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Ok,
    Problem(ConfigProblem),
    /// `Invalid` with one problem at this key whose requirement starts so.
    InvalidAt(String, &'static str),
    Syntax,
    Environment,
}

#[derive(Debug, Clone)]
enum Case {
    Valid,
    Missing(&'static str),
    Unknown(&'static str, String),
    NotAGuid(&'static str, String),
    OutOfRange(&'static str, u64),
    Retyped(&'static str, Value),
    /// A line that is not TOML appended.
    Syntax(String),
    /// An override of `auth.clock_skew_secs` in a random casing wins over the file.
    Override(u64, u64),
    EmptySegment(String),
    Conflict,
    /// A secret pasted where a reference belongs.
    PastedSecret,
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        2 => Just(Case::Valid),
        2 => select(vec!["tenant", "tenant.id", "tenant.name", "extension", "extension.app_id", "graph.client_id", "graph.secret"])
            .prop_map(Case::Missing),
        2 => (select(vec!["", "tenant", "extension", "auth", "graph", "limits", "log"]), "x_[a-z]{1,8}")
            .prop_map(|(table, key)| Case::Unknown(table, key)),
        2 => (select(vec!["tenant.id", "extension.app_id", "graph.client_id"]), "[g-z -]{0,40}")
            .prop_map(|(key, value)| Case::NotAGuid(key, value)),
        2 => prop_oneof![
            (601u64..u64::from(u32::MAX)).prop_map(|v| Case::OutOfRange("auth.clock_skew_secs", v)),
            prop_oneof![0u64..60, 604_801u64..u64::from(u32::MAX)]
                .prop_map(|v| Case::OutOfRange("auth.jwks_ttl_secs", v)),
            prop_oneof![Just(0u64), (6 * 1024 * 1024 + 1)..u64::from(u32::MAX)]
                .prop_map(|v| Case::OutOfRange("limits.max_body_bytes", v)),
        ],
        2 => (
            select(vec!["auth.clock_skew_secs", "auth.jwks_ttl_secs", "limits.max_body_bytes", "tenant.id", "log.format"]),
            arb_json().prop_filter("retyped", |v| !v.is_null() && !v.is_number() && !v.is_object()),
        )
            .prop_map(|(key, value)| Case::Retyped(key, value)),
        1 => "[a-z]{1,8} [a-z]{1,8}".prop_map(Case::Syntax),
        2 => (0u64..=600, any::<u64>()).prop_map(|(v, bits)| Case::Override(v, bits)),
        1 => select(vec!["ENTRA_HOOKS_AUTH____CLOCK", "ENTRA_HOOKS___X", "ENTRA_HOOKS_AUTH__"])
            .prop_map(|name| Case::EmptySegment(name.to_owned())),
        1 => Just(Case::Conflict),
        1 => Just(Case::PastedSecret),
    ]
}

fn split(key: &str) -> Vec<&str> {
    key.split('.').filter(|k| !k.is_empty()).collect()
}

fn node<'a>(document: &'a mut Value, path: &[&str]) -> &'a mut Value {
    path.iter().fold(document, |node, key| &mut node[*key])
}

/// The file, overrides and expectation of `case` applied to `valid`.
fn build(valid: &Valid, case: &Case) -> (String, Vec<(String, String)>, Expect) {
    let mut document = valid.document();
    let mut env = Vec::new();
    let expect = match case {
        Case::Valid => Expect::Ok,
        Case::Missing(key) => {
            let path = split(key);
            let (last, parent) = path.split_last().unwrap();
            node(&mut document, parent)
                .as_object_mut()
                .unwrap()
                .remove(*last);
            Expect::Problem(ConfigProblem::Missing {
                key: (*key).to_owned(),
            })
        }
        Case::Unknown(table, name) => {
            node(&mut document, &split(table))[name.as_str()] = json!(1);
            let key = if table.is_empty() {
                name.clone()
            } else {
                format!("{table}.{name}")
            };
            return (
                toml_text(&document).unwrap(),
                env,
                Expect::InvalidAt(key, ""),
            );
        }
        Case::NotAGuid(key, value) => {
            *node(&mut document, &split(key)) = json!(value);
            Expect::InvalidAt((*key).to_owned(), "must be a GUID")
        }
        Case::OutOfRange(key, value) => {
            *node(&mut document, &split(key)) = json!(value);
            Expect::InvalidAt((*key).to_owned(), "must be")
        }
        Case::Retyped(key, value) => {
            *node(&mut document, &split(key)) = value.clone();
            Expect::InvalidAt((*key).to_owned(), "")
        }
        Case::Syntax(line) => {
            let text = format!("{}\n{line}\n", toml_text(&document).unwrap());
            return (text, env, Expect::Syntax);
        }
        Case::Override(value, bits) => {
            let name = format!("ENTRA_HOOKS_{}", recase("AUTH__CLOCK_SKEW_SECS", *bits));
            env.push((name, value.to_string()));
            Expect::Ok
        }
        Case::EmptySegment(name) => {
            env.push((name.clone(), "1".to_owned()));
            Expect::Environment
        }
        Case::Conflict => {
            env.push(("ENTRA_HOOKS_AUTH".to_owned(), "5".to_owned()));
            Expect::Environment
        }
        Case::PastedSecret => {
            document["graph"]["secret"] = json!(SECRET);
            Expect::InvalidAt("graph.secret".to_owned(), "must be a secret reference")
        }
    };
    (toml_text(&document).unwrap(), env, expect)
}

fn check(
    valid: &Valid,
    case: &Case,
    got: &Result<CommonConfig, ConfigError>,
    expect: &Expect,
) -> Result<(), TestCaseError> {
    match (expect, got) {
        (Expect::Ok, Ok(config)) => {
            prop_assert_eq!(
                config.tenant.id.as_str(),
                valid.tenant_id.to_ascii_lowercase()
            );
            prop_assert_eq!(
                config.extension.app_id.as_str(),
                valid.app_id.to_ascii_lowercase()
            );
            let skew = match case {
                Case::Override(value, _) => *value,
                _ => valid.clock_skew_secs,
            };
            prop_assert_eq!(config.auth.clock_skew_secs, skew);
            prop_assert_eq!(config.auth.jwks_ttl_secs, valid.jwks_ttl_secs);
        }
        (Expect::Problem(problem), Err(error)) => {
            prop_assert_eq!(error.problems(), std::slice::from_ref(problem), "{}", error);
        }
        (
            Expect::InvalidAt(key, requirement),
            Err(error @ ConfigError::Invalid { problems, .. }),
        ) => {
            prop_assert_eq!(problems.len(), 1, "{}", error);
            prop_assert_eq!(problems[0].key(), key.as_str(), "{}", error);
            if let ConfigProblem::Invalid {
                requirement: got, ..
            } = &problems[0]
            {
                prop_assert!(got.starts_with(requirement), "{}", error);
            } else {
                prop_assert!(requirement.is_empty(), "{}", error);
            }
        }
        (Expect::Syntax, Err(ConfigError::Syntax { message, .. })) => {
            prop_assert!(message.contains("line "), "no line in {}", message);
        }
        (Expect::Environment, Err(ConfigError::Environment { .. })) => {}
        (expect, got) => {
            return Err(TestCaseError::fail(format!(
                "expected {expect:?}, got {}",
                brief(
                    &got.as_ref()
                        .map(|_| "a config")
                        .map_err(ToString::to_string)
                )
            )));
        }
    }
    Ok(())
}

#[test]
fn structured_configs_get_the_documented_error_per_class() {
    run(
        "config: structured classes",
        file!(),
        192,
        (valid(), case()),
        |(valid, case)| {
            let (text, env, expect) = build(&valid, &case);
            let got = load(text.as_bytes(), &env)?;
            check(&valid, &case, &got, &expect)
        },
    );
}

/// Overrides a fuzzer would try: known keys in any casing, junk names, values of any TOML shape;
/// the secret only ever as the value of the secret reference (other keys may echo their values).
fn overrides() -> impl Strategy<Value = Vec<(String, String)>> {
    let recased = |keys: Vec<&'static str>| {
        (select(keys), any::<u64>())
            .prop_map(|(key, bits)| format!("ENTRA_HOOKS_{}", recase(key, bits)))
    };
    let value = prop_oneof![".{0,40}", arb_json().prop_map(|v| v.to_string())];
    let pair = prop_oneof![
        4 => (
            prop_oneof![
                recased(vec!["TENANT__ID", "TENANT__NAME", "AUTH__CLOCK_SKEW_SECS", "LIMITS", "LOG__LEVEL", "RULES", "GRAPH__CLIENT_ID", "GRAPH"]),
                "ENTRA_HOOKS_[A-Za-z_]{0,20}",
                "[A-Z_]{0,12}",
            ],
            value,
        ),
        1 => (
            recased(vec!["GRAPH__SECRET"]),
            select(vec![SECRET.to_owned(), format!("literal:{SECRET}"), format!("\"{SECRET}\"")]),
        ),
    ];
    proptest::collection::vec(pair, 0..4)
}

#[test]
fn mutated_configs_never_panic_nor_echo_secrets() {
    let seeds: Vec<Value> = ["4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93"]
        .iter()
        .map(|id| {
            let mut document = Valid {
                tenant_id: (*id).to_owned(),
                app_id: (*id).to_owned(),
                clock_skew_secs: 300,
                jwks_ttl_secs: 86_400,
                max_body_bytes: 262_144,
            }
            .document();
            document["graph"]["secret"] = json!(format!("literal:{SECRET}"));
            document
        })
        .collect();
    let texts: Vec<Vec<u8>> = seeds
        .iter()
        .map(|d| toml_text(d).unwrap().into_bytes())
        .collect();
    run(
        "config: file and override mutations",
        file!(),
        192,
        (
            prop_oneof![
                (select(seeds), json_edits()).prop_map(|(seed, edits)| toml_text(&apply_json(
                    &seed, &edits
                ))
                .unwrap_or_default()
                .into_bytes()),
                (select(texts), byte_edits()).prop_map(|(seed, edits)| apply_bytes(&seed, &edits)),
            ],
            overrides(),
        ),
        |(text, env)| {
            let _config = load(&text, &env)?;
            Ok(())
        },
    );
}
