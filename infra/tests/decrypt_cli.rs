//! `entra-hooks decrypt` through the real binary: the receiver's decryption path on captured
//! notifications, with a PEM key or a PFX file, and exact reasons for what does not decrypt.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/change-notifications")
}

fn item(mutate: impl FnOnce(&mut Value)) -> Value {
    let vector: Value =
        serde_json::from_slice(&std::fs::read(vectors().join("generated-vector.json")).unwrap())
            .unwrap();
    let mut item = json!({
        "subscriptionId": "6f1c2b3a-0000-4000-8000-000000000001",
        "changeType": "updated",
        "resource": "Users/00000000-0000-0000-0000-000000000001",
        "tenantId": "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93",
        "encryptedContent": vector["encryptedContent"],
    });
    mutate(&mut item);
    item
}

fn run(args: &[&str], payload: &Value, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notification.json");
    std::fs::write(&file, payload.to_string()).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_entra-hooks"));
    command
        .arg("decrypt")
        .args(args)
        .arg(&file)
        .env_remove("RUST_LOG");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn key() -> String {
    vectors()
        .join("generated-vector.key.pem")
        .display()
        .to_string()
}

#[test]
fn a_captured_batch_decrypts_with_the_pem_key() {
    let output = run(&["--key", &key()], &json!({"value": [item(|_| {})]}), &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let resource: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(resource["displayName"], "Test Vector");
    assert!(String::from_utf8_lossy(&output.stderr).contains("item 0 (subscription 6f1c2b3a-0000-4000-8000-000000000001, certificate test-vector-cert): decrypted"));
    // A single notification (no value array) works too.
    let output = run(&["--key", &key()], &item(|_| {}), &[]);
    assert!(output.status.success());
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
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(report.contains("item 0 (subscription 6f1c2b3a-0000-4000-8000-000000000001, certificate test-vector-cert): decrypted"), "{report}");
    assert!(report.contains("item 1 (subscription 6f1c2b3a-0000-4000-8000-000000000001): dataSignature does not match the data"), "{report}");
    assert!(report.contains("item 2 (subscription 6f1c2b3a-0000-4000-8000-000000000001): no private key for encryptionCertificateId \"retired-2025\""), "{report}");
    // The good item is still printed.
    assert!(String::from_utf8_lossy(&output.stdout).contains("Test Vector"));

    let other_key =
        std::env::temp_dir().join(format!("entra-hooks-other-{}.pem", std::process::id()));
    let generated = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der =
        aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&generated).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64_lines(der.as_ref())
    );
    std::fs::write(&other_key, pem).unwrap();
    let output = run(
        &["--key", other_key.to_str().unwrap()],
        &json!({"value": [item(|_| {})]}),
        &[],
    );
    let _ = std::fs::remove_file(&other_key);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not decrypt with the key"));
}

#[test]
fn a_pfx_with_its_password_from_the_environment() {
    let pfx = vectors()
        .join("generated-vector.legacy.pfx")
        .display()
        .to_string();
    let output = run(
        &["--pfx", &pfx, "--password-env", "VECTOR_PFX_PASSWORD"],
        &json!({"value": [item(|_| {})]}),
        &[("VECTOR_PFX_PASSWORD", "vector-password")],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("Test Vector"));
    let output = run(
        &["--pfx", &pfx, "--password-env", "VECTOR_PFX_PASSWORD"],
        &json!({"value": [item(|_| {})]}),
        &[("VECTOR_PFX_PASSWORD", "wrong")],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("check the file and its password"));
}

#[test]
fn usage_and_input_errors_exit_2() {
    let output = run(&[], &json!({"value": [item(|_| {})]}), &[]);
    assert_eq!(output.status.code(), Some(2));
    let output = run(
        &["--key", &key()],
        &json!({"value": [{"subscriptionId": "s", "changeType": "updated", "resource": "Users/1"}]}),
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing to decrypt"));
}

fn base64_lines(der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    text.as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}
