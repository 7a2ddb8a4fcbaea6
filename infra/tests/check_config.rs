//! `check-config` accepts what a function accepts and refuses the rest with a message naming the key.

use std::io::Write;

fn write(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(contents.as_bytes()).unwrap();
    file
}

const VALID: &str = r#"
[tenant]
id = "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93"
name = "entrahooksdemo"

[extension]
app_id = "7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13"
"#;

#[test]
fn a_valid_file_is_summarised() {
    let file = write(VALID);
    let summary =
        entra_infra::check_config(Some(file.path()), Vec::<(String, String)>::new()).unwrap();
    assert!(summary.contains("4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93"));
    assert!(summary.contains(
        "https://entrahooksdemo.ciamlogin.com/4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93/v2.0/.well-known/openid-configuration"
    ));
    assert!(summary.contains("graph           not configured"));
}

/// The environment the SAM template gives every function is enough on its own.
#[test]
fn the_template_environment_alone_is_valid() {
    let env = [
        (
            "ENTRA_HOOKS_TENANT__ID",
            "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93",
        ),
        ("ENTRA_HOOKS_TENANT__NAME", "entrahooksdemo"),
        (
            "ENTRA_HOOKS_EXTENSION__APP_ID",
            "7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13",
        ),
        (
            "ENTRA_HOOKS_GRAPH__CLIENT_ID",
            "c0ffee00-1b2c-4d3e-8f9a-0b1c2d3e4f50",
        ),
        (
            "ENTRA_HOOKS_GRAPH__SECRET",
            "aws-sm:arn:aws:secretsmanager:us-east-1:123456789012:secret:graph-AbCdEf#client_secret",
        ),
    ];
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    for (name, _) in env {
        assert!(template.contains(name), "template.yaml sets {name}");
    }
    let summary = entra_infra::check_config(None, env).unwrap();
    assert!(summary.contains("client c0ffee00-1b2c-4d3e-8f9a-0b1c2d3e4f50"));
}

#[test]
fn a_bad_value_is_refused_with_the_key_and_the_fix() {
    let file = write(&VALID.replace("entrahooksdemo", "not a name"));
    let error = entra_infra::check_config(Some(file.path()), Vec::<(String, String)>::new())
        .unwrap_err()
        .to_string();
    assert!(error.contains("tenant.name"), "{error}");
    assert!(error.contains("ENTRA_HOOKS_TENANT__NAME"), "{error}");
}
