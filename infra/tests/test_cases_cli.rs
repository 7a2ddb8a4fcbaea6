//! `entra-hooks test <dir>` through the binary: a passing case and a failing one (with its diff and
//! exit status 1), and `replay --trace` printing the rule trace.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn callout() -> Value {
    let path =
        root().join("tests/vectors/extension-callbacks/docs/tokenIssuanceStart.request.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn case(claim_value: &str) -> Value {
    json!({
        "function": "token-issuance-start",
        "callout": callout(),
        "expect": {
            "status": 200,
            "response": {"data": {
                "@odata.type": "microsoft.graph.onTokenIssuanceStartResponseData",
                "actions": [{
                    "@odata.type": "microsoft.graph.tokenIssuanceStart.provideClaimsForToken",
                    "claims": {"brand": claim_value}
                }]
            }}
        }
    })
}

#[test]
fn passing_and_failing_cases_are_reported_with_a_diff_and_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.toml"),
        "[token_issuance_start]\n\n[[token_issuance_start.claims]]\nname = \"brand\"\nsource = \"constant\"\nvalue = \"Contoso\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("a-pass.json"), case("Contoso").to_string()).unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_entra-hooks"))
            .arg("test")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let passed = run();
    let stdout = String::from_utf8_lossy(&passed.stdout);
    assert!(passed.status.success(), "{stdout}");
    assert!(stdout.contains("pass  a-pass"), "{stdout}");
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");

    std::fs::write(dir.path().join("b-fail.json"), case("Fabrikam").to_string()).unwrap();
    let failed = run();
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  b-fail"), "{stdout}");
    assert!(
        stdout.contains("- ") && stdout.contains("\"brand\": \"Fabrikam\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("+ ") && stdout.contains("\"brand\": \"Contoso\""),
        "{stdout}"
    );
    assert!(stdout.contains("1 passed, 1 failed"), "{stdout}");
}

#[test]
fn replay_prints_the_rule_trace_as_text_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[token_issuance_start]\n\n[[token_issuance_start.claims]]\nname = \"brand\"\nsource = \"constant\"\nvalue = \"Contoso\"\n\n[[token_issuance_start.claims]]\nname = \"loc\"\nsource = \"context\"\nfield = \"locale\"\n",
    )
    .unwrap();
    let payload =
        root().join("tests/vectors/extension-callbacks/docs/tokenIssuanceStart.request.json");
    let replay = |format: &str| {
        Command::new(env!("CARGO_BIN_EXE_entra-hooks"))
            .args(["replay", "token-issuance-start"])
            .arg(&payload)
            .arg("--rules")
            .arg(&rules)
            .args(["--trace", format])
            .output()
            .unwrap()
    };
    let text = replay("text");
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(text.status.success(), "{stderr}");
    assert!(stderr.contains("1. claims.brand"), "{stderr}");
    assert!(stderr.contains("2. claims.loc"), "{stderr}");
    assert!(
        stderr.contains("read   callout data.authenticationContext.locale"),
        "{stderr}"
    );
    let json = replay("json");
    let stderr = String::from_utf8_lossy(&json.stderr);
    let trace: Value = stderr
        .lines()
        .find_map(|line| serde_json::from_str(line).ok())
        .expect("a JSON trace line");
    assert_eq!(trace["steps"][0]["rule"], "claims.brand");
    assert_eq!(trace["steps"][0]["produced"], "Contoso");
}
