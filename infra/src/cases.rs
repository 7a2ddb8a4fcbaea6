//! `entra-hooks test <dir>`: regression tests for rules. Every `*.json` case in the folder is a
//! callout and the answer the rules gave when it was saved (the local host's playground writes
//! them with "save as test case"); each is replayed through the same decision code as
//! `entra-hooks replay`, against the embedded simulated tenant, and compared with what it expects.
//!
//! A case file (JSON):
//!
//! ```json
//! {
//!   "function": "token-issuance-start",
//!   "name": "Ava gets her department",
//!   "rules": "../config/rules.toml",
//!   "callout": { "type": "microsoft.graph.authenticationEvent.tokenIssuanceStart", "...": "..." },
//!   "expect": { "status": 200, "response": { "data": { "...": "..." } } }
//! }
//! ```
//!
//! - `function`: one of `token-issuance-start`, `attribute-collection-start`,
//!   `attribute-collection-submit`, `email-otp-send`, `password-submit`.
//! - `rules` (optional): the rules file, relative to the case file. Without it, `rules.toml` in the
//!   case's folder when there is one, else the function's defaults. `--rules` overrides both.
//! - `sign_in` (password-submit only): `{"username": …, "password": …}`, the sign-in decided on
//!   (a captured `encryptedPasswordContext` cannot be opened without the tenant's key).
//! - `expect.status`: 200, or 500 for Entra's failure path; `expect.response`: the 200 body.
//!   `nonce` members are not compared (password-submit echoes a per-attempt nonce).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::replay::{Function, GraphSource, ReplayOptions, replay};

/// One saved case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCase {
    pub function: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<SignIn>,
    pub callout: Value,
    pub expect: Expected,
}

/// The sign-in a password-submit case decides on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignIn {
    pub username: String,
    pub password: String,
}

/// The answer a case expects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expected {
    pub status: u16,
    #[serde(default)]
    pub response: Value,
}

/// How one case went.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub file: PathBuf,
    pub name: String,
    /// `None` passed; otherwise why not (a diff, or why the case could not run).
    pub failure: Option<String>,
}

/// The function named `name` (its path segment, as in the routes and the samples).
pub fn function_named(name: &str) -> Option<Function> {
    [
        Function::TokenIssuanceStart,
        Function::AttributeCollectionStart,
        Function::AttributeCollectionSubmit,
        Function::EmailOtpSend,
        Function::PasswordSubmit,
    ]
    .into_iter()
    .find(|function| function.name() == name)
}

/// Runs every `*.json` case under `dir` (sorted by path; subfolders included).
pub async fn run_dir(dir: &Path, rules: Option<&Path>) -> anyhow::Result<Vec<CaseResult>> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    if files.is_empty() {
        anyhow::bail!(
            "{} holds no test cases (*.json); save one from the local host's page, or see `entra-hooks test --help` for the format",
            dir.display()
        );
    }
    files.sort();
    let mut results = Vec::new();
    for file in files {
        results.push(run_file(&file, rules).await);
    }
    Ok(results)
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|error| anyhow::anyhow!("cannot read {}: {error}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "json") {
            files.push(path);
        }
    }
    Ok(())
}

/// Runs one case file.
pub async fn run_file(file: &Path, rules: Option<&Path>) -> CaseResult {
    let fail = |name: String, failure: String| CaseResult {
        file: file.to_path_buf(),
        name,
        failure: Some(failure),
    };
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let case: TestCase = match std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    {
        Ok(case) => case,
        Err(error) => return fail(stem, format!("not a test case: {error}")),
    };
    let name = case.name.clone().unwrap_or(stem);
    match run_case(&case, file.parent().unwrap_or(Path::new(".")), rules).await {
        Ok(failure) => CaseResult {
            file: file.to_path_buf(),
            name,
            failure,
        },
        Err(error) => fail(name, error),
    }
}

/// Replays `case` (relative paths start in `dir`); `Ok(None)` when it answers as expected.
pub async fn run_case(
    case: &TestCase,
    dir: &Path,
    rules: Option<&Path>,
) -> Result<Option<String>, String> {
    let function = function_named(&case.function).ok_or_else(|| {
        format!(
            "unknown function `{}`: use token-issuance-start, attribute-collection-start, attribute-collection-submit, email-otp-send or password-submit",
            case.function
        )
    })?;
    let rules = match (rules, &case.rules) {
        (Some(path), _) => Some(path.to_path_buf()),
        (None, Some(path)) => Some(dir.join(path)),
        (None, None) => Some(dir.join("rules.toml")).filter(|path| path.is_file()),
    };
    let payload = serde_json::to_vec(&case.callout).map_err(|e| e.to_string())?;
    let outcome = replay(&ReplayOptions {
        function,
        payload,
        payload_origin: "the case's callout".into(),
        rules,
        graph: GraphSource::Sandbox,
        private_key: None,
        username: case.sign_in.as_ref().map(|s| s.username.clone()),
        password: case.sign_in.as_ref().map(|s| s.password.clone()),
        mail_dir: None,
    })
    .await
    .map_err(|error| error.to_string())?;
    let actual = Expected {
        status: outcome.status,
        response: outcome.response.unwrap_or(Value::Null),
    };
    Ok(compare(&case.expect, &actual))
}

/// `None` when `actual` answers as `expected` (nonces aside), else a line diff.
pub fn compare(expected: &Expected, actual: &Expected) -> Option<String> {
    let shown = |answer: &Expected| {
        let mut response = answer.response.clone();
        drop_nonces(&mut response);
        format!(
            "status {}\n{}",
            answer.status,
            serde_json::to_string_pretty(&response).unwrap_or_default()
        )
    };
    let (expected, actual) = (shown(expected), shown(actual));
    (expected != actual).then(|| diff(&expected, &actual))
}

fn drop_nonces(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("nonce");
            map.values_mut().for_each(drop_nonces);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nonces),
        _ => {}
    }
}

/// A line diff (`-` expected, `+` actual, two spaces both), from the longest common subsequence.
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        }
    }
    out
}

/// The report `entra-hooks test` prints, and whether every case passed.
pub fn report(results: &[CaseResult]) -> (String, bool) {
    let mut text = String::new();
    let failed = results.iter().filter(|r| r.failure.is_some()).count();
    for result in results {
        match &result.failure {
            None => text.push_str(&format!(
                "pass  {} ({})\n",
                result.name,
                result.file.display()
            )),
            Some(failure) => {
                text.push_str(&format!(
                    "FAIL  {} ({})\n",
                    result.name,
                    result.file.display()
                ));
                for line in failure.lines() {
                    text.push_str(&format!("      {line}\n"));
                }
            }
        }
    }
    text.push_str(&format!(
        "\n{} passed, {} failed\n",
        results.len() - failed,
        failed
    ));
    (text, failed == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_compare_without_nonces_and_differences_show_as_a_diff() {
        let expected = Expected {
            status: 200,
            response: json!({"data": {"nonce": "a", "actions": [{"claims": {"x": "1"}}]}}),
        };
        let same = Expected {
            status: 200,
            response: json!({"data": {"nonce": "b", "actions": [{"claims": {"x": "1"}}]}}),
        };
        assert_eq!(compare(&expected, &same), None);
        let other = Expected {
            status: 200,
            response: json!({"data": {"actions": [{"claims": {"x": "2"}}]}}),
        };
        let diff = compare(&expected, &other).unwrap();
        assert!(diff.contains("-           \"x\": \"1\""), "{diff}");
        assert!(diff.contains("+           \"x\": \"2\""), "{diff}");
        assert!(diff.contains("  status 200"), "{diff}");
        let failed = Expected {
            status: 500,
            response: Value::Null,
        };
        assert!(
            compare(&expected, &failed)
                .unwrap()
                .contains("+ status 500")
        );
    }
}
