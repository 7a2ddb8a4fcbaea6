//! `entra-hooks replay` as a team uses it: the real binary, captured payloads (every Microsoft
//! vector), the shipped example rules, Graph from the embedded simulated tenant.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn vectors() -> PathBuf {
    root().join("tests/vectors/extension-callbacks")
}

fn replay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_entra-hooks"))
        .arg("replay")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the CLI runs")
}

fn example_rules(function: &str) -> String {
    root()
        .join("functions")
        .join(function)
        .join("rules.example.toml")
        .display()
        .to_string()
}

/// The function a payload is for, from its `type` (what a team would pick by hand).
fn function_of(payload: &Path) -> Option<&'static str> {
    let body: Value = serde_json::from_slice(&std::fs::read(payload).ok()?).ok()?;
    let kind = body["type"].as_str()?.to_ascii_lowercase();
    [
        ("tokenissuancestart", "token-issuance-start"),
        ("attributecollectionstart", "attribute-collection-start"),
        ("attributecollectionsubmit", "attribute-collection-submit"),
        ("emailotpsend", "email-otp-send"),
        ("passwordsubmit", "password-submit"),
    ]
    .into_iter()
    .find(|(suffix, _)| kind.ends_with(suffix))
    .map(|(_, function)| function)
}

fn request_vectors() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for folder in ["docs", "microsoft-samples", "azure-sdk"] {
        for entry in std::fs::read_dir(vectors().join(folder)).unwrap().flatten() {
            let path = entry.path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let is_response = name.contains(".response.")
                || [
                    "ExpectedPayload",
                    "CloudEventActionResponse",
                    "ConversionPayload",
                    "InvalidActionResponse",
                    "NoActionResponse",
                    "NullResponse",
                ]
                .iter()
                .any(|r| name.starts_with(r));
            if path.is_file() && !is_response && function_of(&path).is_some() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_request_vector_replays_to_a_conformant_answer() {
    let files = request_vectors();
    assert!(files.len() >= 12, "found {} request vectors", files.len());
    for payload in files {
        let function = function_of(&payload).unwrap();
        let rules = example_rules(function);
        let payload_arg = payload.display().to_string();
        let mut args = vec![function, payload_arg.as_str(), "--rules", rules.as_str()];
        if function == "password-submit" {
            // The docs' context is a placeholder: decide on a sign-in stated by hand.
            args.extend([
                "--username",
                "casey@contoso.com",
                "--password",
                "Casey-Legacy-2019!",
            ]);
        }
        let output = replay(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: {stderr}", payload.display());
        let answer: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{}: stdout is JSON: {e}", payload.display()));
        let actions = answer["data"]["actions"].as_array().expect("actions");
        assert_eq!(actions.len(), 1, "{}", payload.display());
        assert!(
            answer["data"]["@odata.type"]
                .as_str()
                .unwrap()
                .starts_with("microsoft.graph.")
        );
        assert!(stderr.contains("HTTP 200"), "{stderr}");
    }
}

#[test]
fn the_example_claims_come_from_the_sandbox_graph() {
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("capture.json");
    let mut body: Value = serde_json::from_slice(
        &std::fs::read(vectors().join("docs/tokenIssuanceStart.request.json")).unwrap(),
    )
    .unwrap();
    body["data"]["authenticationContext"]["user"]["id"] = entra_sandbox_demo_user().into();
    std::fs::write(&payload, body.to_string()).unwrap();
    let rules = example_rules("token-issuance-start");
    let output = replay(&[
        "token-issuance-start",
        payload.to_str().unwrap(),
        "--config",
        &rules,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    let claims = &answer["data"]["actions"][0]["claims"];
    assert_eq!(
        claims["customerGroups"],
        serde_json::json!(["Customers - Gold", "Customers - VIP"])
    );
    assert_eq!(claims["brand"], "Contoso");
}

fn entra_sandbox_demo_user() -> &'static str {
    "5d0c7a1e-3b2f-4c6d-8e9a-000000000001"
}

#[test]
fn invalid_payloads_exit_non_zero_with_a_clear_message() {
    let rules = example_rules("token-issuance-start");
    for file in [
        "azure-sdk/InvalidJsonRequest.json",
        "azure-sdk/InvalidXmlRequest.xml",
    ] {
        let path = vectors().join(file);
        let output = replay(&[
            "token-issuance-start",
            path.to_str().unwrap(),
            "--rules",
            &rules,
        ]);
        assert_eq!(output.status.code(), Some(2), "{file}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("is not a token-issuance-start callout"),
            "{stderr}"
        );
        assert!(stderr.contains("not valid JSON"), "{stderr}");
        assert!(output.stdout.is_empty());
    }

    let otp = vectors().join("docs/emailOtpSend.request.json");
    let output = replay(&["token-issuance-start", otp.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("was sent to the `tokenIssuanceStart` endpoint")
    );

    let output = replay(&["token-issuance-start", "/nonexistent/capture.json"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("cannot read the payload /nonexistent/capture.json")
    );
}

#[test]
fn a_bad_rules_file_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[token_issuance_start]\ntimeout_ms = 1000\n\n[[token_issuance_start.claims]]\nname = \"x\"\nsource = \"grph\"\n").unwrap();
    let payload = vectors().join("docs/tokenIssuanceStart.request.json");
    let output = replay(&[
        "token-issuance-start",
        payload.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("rules.toml:6:"), "{stderr}");
}

#[test]
fn password_submit_needs_the_key_or_a_stated_sign_in() {
    let payload = vectors().join("docs/passwordSubmit.request.json");
    let rules = example_rules("password-submit");
    let output = replay(&[
        "password-submit",
        payload.to_str().unwrap(),
        "--rules",
        &rules,
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--private-key"));

    let output = replay(&[
        "password-submit",
        payload.to_str().unwrap(),
        "--rules",
        &rules,
        "--username",
        "casey@contoso.com",
        "--password",
        "wrong",
    ]);
    assert!(output.status.success());
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        answer["data"]["actions"][0]["@odata.type"],
        "microsoft.graph.passwordSubmit.Retry"
    );
}

#[test]
fn a_captured_password_context_is_decrypted_with_the_private_key() {
    use entra_sandbox::password_context::{
        ContentEncryption, KeyManagement, PasswordContextKey, encrypt_password_context,
    };
    let dir = tempfile::tempdir().unwrap();
    let key = PasswordContextKey::generate().unwrap();
    let key_file = dir.path().join("key.pem");
    std::fs::write(&key_file, key.private_key_pem()).unwrap();
    let context = encrypt_password_context(
        key.certificate_pem(),
        KeyManagement::RsaOaep256,
        ContentEncryption::A256Gcm,
        "casey@contoso.com",
        "Casey-Legacy-2019!",
        "2a7c1a8e-0000-4000-8000-00000000abcd",
    )
    .unwrap();
    let mut body: Value = serde_json::from_slice(
        &std::fs::read(vectors().join("docs/passwordSubmit.request.json")).unwrap(),
    )
    .unwrap();
    body["data"]["encryptedPasswordContext"] = context.into();
    let payload = dir.path().join("capture.json");
    std::fs::write(&payload, body.to_string()).unwrap();
    let rules = example_rules("password-submit");
    let output = replay(&[
        "password-submit",
        payload.to_str().unwrap(),
        "--rules",
        &rules,
        "--private-key",
        key_file.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        answer["data"]["actions"][0]["@odata.type"],
        "microsoft.graph.passwordSubmit.MigratePassword"
    );
    assert_eq!(
        answer["data"]["nonce"],
        "2a7c1a8e-0000-4000-8000-00000000abcd"
    );
}

/// The rules file the SAM template deploys (config/rules.toml) is valid for every function.
#[test]
fn the_deployed_starter_rules_serve_every_function() {
    let rules = root().join("config/rules.toml").display().to_string();
    for (function, vector) in [
        (
            "token-issuance-start",
            "docs/tokenIssuanceStart.request.json",
        ),
        (
            "attribute-collection-start",
            "docs/attributeCollectionStart.request.json",
        ),
        (
            "attribute-collection-submit",
            "docs/attributeCollectionSubmit.request.json",
        ),
        ("email-otp-send", "docs/emailOtpSend.request.json"),
    ] {
        let payload = vectors().join(vector);
        let output = replay(&[function, payload.to_str().unwrap(), "--rules", &rules]);
        assert!(
            output.status.success(),
            "{function}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
