//! `entra-hooks decrypt` through the real binary: the receiver's decryption path on captured
//! notifications, with a PEM key or a PFX file, and exact reasons for what does not decrypt.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

const SUBSCRIPTION: &str = "6f1c2b3a-0000-4000-8000-000000000001";

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/change-notifications")
}

fn vector_path(name: &str) -> String {
    vectors().join(name).display().to_string()
}

/// A change notification carrying the `encryptedContent` of vector `name`.
fn item_of(name: &str, mutate: impl FnOnce(&mut Value)) -> Value {
    let vector: Value =
        serde_json::from_slice(&std::fs::read(vectors().join(name)).unwrap()).unwrap();
    let mut item = json!({
        "subscriptionId": SUBSCRIPTION,
        "changeType": "updated",
        "resource": "Users/00000000-0000-0000-0000-000000000001",
        "tenantId": "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93",
        "encryptedContent": vector["encryptedContent"],
    });
    mutate(&mut item);
    item
}

fn item(mutate: impl FnOnce(&mut Value)) -> Value {
    item_of("generated-vector.json", mutate)
}

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_entra-hooks"));
    command.arg("decrypt").args(args).env_remove("RUST_LOG");
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn run(args: &[&str], payload: &Value, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notification.json");
    std::fs::write(&file, payload.to_string()).unwrap();
    command(args, env).arg(&file).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn key() -> String {
    vector_path("generated-vector.key.pem")
}

#[test]
fn a_captured_batch_decrypts_with_the_pem_key() {
    let output = run(&["--key", &key()], &json!({"value": [item(|_| {})]}), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let resource: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(resource["displayName"], "Test Vector");
    assert!(
        stderr(&output).contains(&format!(
            "item 0 (subscription {SUBSCRIPTION}, certificate test-vector-cert): decrypted"
        )),
        "{}",
        stderr(&output)
    );
    // A single notification (no value array) works too.
    let output = run(&["--key", &key()], &item(|_| {}), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn the_notification_can_come_from_standard_input() {
    let mut child = command(&["--key", &key(), "-"], &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let body = json!({"value": [item(|_| {})]}).to_string();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Test Vector"));
}

#[test]
fn each_failed_check_is_named_per_item_and_exits_1() {
    let tampered = item(|i| {
        i["encryptedContent"]["dataSignature"] =
            json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    });
    let retired =
        item(|i| i["encryptedContent"]["encryptionCertificateId"] = json!("retired-2025"));
    let payload = json!({"value": [item(|_| {}), tampered, retired]});
    let output = run(
        &["--key", &key(), "--key-id", "test-vector-cert"],
        &payload,
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let report = stderr(&output);
    assert!(
        report.contains(&format!(
            "item 0 (subscription {SUBSCRIPTION}, certificate test-vector-cert): decrypted"
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "item 1 (subscription {SUBSCRIPTION}): dataSignature does not match the data"
        )),
        "{report}"
    );
    assert!(report.contains(&format!("item 2 (subscription {SUBSCRIPTION}): no private key for encryptionCertificateId \"retired-2025\"")), "{report}");
    // The good item is still printed.
    assert!(String::from_utf8_lossy(&output.stdout).contains("Test Vector"));
}

#[test]
fn a_tampered_signature_alone_exits_1_with_the_reason() {
    let tampered = item(|i| {
        let mut signature = STANDARD
            .decode(i["encryptedContent"]["dataSignature"].as_str().unwrap())
            .unwrap();
        signature[0] ^= 1;
        i["encryptedContent"]["dataSignature"] = json!(STANDARD.encode(signature));
    });
    let output = run(&["--key", &key()], &json!({"value": [tampered]}), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(
        stderr(&output).contains("dataSignature does not match the data (HMAC-SHA256 check failed"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn another_key_is_reported_as_a_key_unwrap_failure() {
    let dir = tempfile::tempdir().unwrap();
    let other_key = dir.path().join("other.pem");
    let generated = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der =
        aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&generated).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD
            .encode(der.as_ref())
            .as_bytes()
            .chunks(64)
            .map(|line| std::str::from_utf8(line).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    );
    std::fs::write(&other_key, pem).unwrap();
    let output = run(
        &["--key", other_key.to_str().unwrap()],
        &json!({"value": [item(|_| {})]}),
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("does not decrypt with the key"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn microsofts_vector_decrypts_through_its_pfx_with_the_password_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let pfx = dir.path().join("richnotificationsapp.pfx");
    let b64 = std::fs::read_to_string(vectors().join("microsoft-dotnet-core.pfx.b64")).unwrap();
    std::fs::write(&pfx, STANDARD.decode(b64.trim()).unwrap()).unwrap();
    let payload = json!({"value": [item_of("microsoft-dotnet-core.vector.json", |_| {})]});
    let env = [("RICH_PFX_PASSWORD", "rich")];

    for file in [
        pfx.display().to_string(),
        vector_path("microsoft-dotnet-core.pfx.b64"),
    ] {
        let output = run(
            &["--pfx", &file, "--password-env", "RICH_PFX_PASSWORD"],
            &payload,
            &env,
        );
        assert!(output.status.success(), "{file}: {}", stderr(&output));
        let message: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(message["etag"], "1625126194597");
        assert_eq!(message["body"]["content"], "Hello World");
        assert!(stderr(&output).contains("certificate custom-id-for-testing): decrypted"));
    }

    // With --key-id, like the receiver: only that id.
    let output = run(
        &[
            "--pfx",
            &pfx.display().to_string(),
            "--password-env",
            "RICH_PFX_PASSWORD",
            "--key-id",
            "another-id",
        ],
        &payload,
        &env,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output)
            .contains("no private key for encryptionCertificateId \"custom-id-for-testing\"")
    );
}

#[test]
fn a_pfx_whose_certificate_graph_did_not_name_is_a_thumbprint_mismatch() {
    let pfx = vector_path("generated-vector.legacy.pfx");
    let args = ["--pfx", &pfx, "--password-env", "VECTOR_PFX_PASSWORD"];
    let env = [("VECTOR_PFX_PASSWORD", "vector-password")];
    // The generated vector names a throwaway certificate; the PFX holds another for the same key.
    let output = run(&args, &json!({"value": [item(|_| {})]}), &env);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("encryptionCertificateThumbprint 0A2812BC47F878B3015D0BD27B5CA15CE923A0F8 is not our certificate"),
        "{}",
        stderr(&output)
    );
    let without = item(|i| {
        i["encryptedContent"]
            .as_object_mut()
            .unwrap()
            .remove("encryptionCertificateThumbprint");
    });
    let output = run(&args, &json!({"value": [without]}), &env);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Test Vector"));

    let output = run(
        &args,
        &json!({"value": [item(|_| {})]}),
        &[("VECTOR_PFX_PASSWORD", "wrong")],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("check the file and its password"));
}

#[test]
fn usage_and_input_errors_exit_2() {
    let payload = json!({"value": [item(|_| {})]});
    // No key at all.
    assert_eq!(run(&[], &payload, &[]).status.code(), Some(2));
    // The password variable is not set.
    let output = run(
        &[
            "--pfx",
            &vector_path("generated-vector.aes.pfx"),
            "--password-env",
            "ENTRA_HOOKS_TEST_UNSET_PASSWORD",
        ],
        &payload,
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("ENTRA_HOOKS_TEST_UNSET_PASSWORD: the variable is not set"));
    // Nothing to decrypt: the report says why.
    let output = run(
        &["--key", &key()],
        &json!({"value": [{"subscriptionId": "s", "changeType": "updated", "resource": "Users/1"}]}),
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("nothing to decrypt"));
    assert!(stderr(&output).contains("item 0 (subscription s): no encryptedContent"));
    // Not JSON.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notification.json");
    std::fs::write(&file, "not json").unwrap();
    let output = command(&["--key", &key()], &[])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("not a notification collection"));
}
