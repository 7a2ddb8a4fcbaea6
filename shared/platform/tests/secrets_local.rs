//! Environment and file secret sources, through the resolver as functions use them.

use std::path::PathBuf;

use entra_platform::secrets::{
    EnvSecrets, FileSecrets, SecretError, SecretRef, SecretResolver, SecretSource,
};

#[tokio::test]
async fn env_references_read_the_process_environment() {
    // Read-only use of a variable every test process has; tests never mutate the environment.
    let expected = std::env::var("PATH").unwrap();
    let reference: SecretRef = "env:PATH".parse().unwrap();
    let value = SecretResolver::new().resolve(&reference).await.unwrap();
    assert_eq!(value.expose(), expected);
}

#[tokio::test]
async fn an_unset_variable_is_named_in_the_error() {
    let err = EnvSecrets::new()
        .get("ENTRA_HOOKS_TEST_SURELY_UNSET_5D1C")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SecretError::EnvNotSet { var } if var == "ENTRA_HOOKS_TEST_SURELY_UNSET_5D1C")
    );
    assert_eq!(
        err.to_string(),
        "environment variable ENTRA_HOOKS_TEST_SURELY_UNSET_5D1C is not set (or not UTF-8); set it or fix the env: reference"
    );
}

#[tokio::test]
async fn file_references_read_the_file_without_its_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    let unix = dir.path().join("graph-secret");
    std::fs::write(&unix, "s3cr3t-value\n").unwrap();
    let windows = dir.path().join("graph-secret-crlf");
    std::fs::write(&windows, "s3cr3t-value\r\n").unwrap();
    let inner_newlines = dir.path().join("pem");
    std::fs::write(&inner_newlines, "line1\nline2\n\n").unwrap();

    let resolver = SecretResolver::new();
    for path in [&unix, &windows] {
        let reference: SecretRef = format!("file:{}", path.display()).parse().unwrap();
        assert_eq!(
            resolver.resolve(&reference).await.unwrap().expose(),
            "s3cr3t-value"
        );
    }
    // Only one line break is removed: content is otherwise kept byte for byte.
    let value = FileSecrets::new()
        .get(inner_newlines.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(value.expose(), "line1\nline2\n");
}

#[tokio::test]
async fn a_missing_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("absent");
    let reference = SecretRef::File { path: path.clone() };
    let err = SecretResolver::new().resolve(&reference).await.unwrap_err();
    assert!(matches!(&err, SecretError::File { path: p, .. } if *p == path));
    assert!(
        err.to_string()
            .starts_with(&format!("could not read secret file {}:", path.display())),
        "{err}"
    );
}

#[tokio::test]
async fn resolved_values_are_redacted_when_printed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    std::fs::write(&path, "correct-horse-battery-staple").unwrap();
    let value = FileSecrets::new()
        .get(path.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(format!("{value}"), "[redacted]");
    assert_eq!(format!("{value:?}"), "[redacted]");
    assert_eq!(
        format!("{:?}", Ok::<_, ()>(value.clone())),
        "Ok([redacted])"
    );
    assert_eq!(value.expose(), "correct-horse-battery-staple");
}
