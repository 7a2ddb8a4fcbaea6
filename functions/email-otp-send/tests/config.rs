//! The deployed wiring: configuration from `ENTRA_HOOKS_*` variables (as template.yaml sets
//! them), validated at start, built into the same state `main.rs` serves; here with the folder
//! mailer so the sent message can be read back.

mod common;

use std::sync::Arc;

use common::*;
use email_otp_send::{EmailOtpSendConfig, SetupError, router};
use entra_extensions::testing::{request_for, vector};
use entra_platform::config::load_config_with_env;
use entra_platform::mailer::MailerKind;
use entra_sandbox::Sandbox;

fn env(sandbox: &Sandbox, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let config = sandbox.config();
    let mut vars = vec![
        (
            "ENTRA_HOOKS_TENANT__ID".to_owned(),
            config.tenant_id.clone(),
        ),
        (
            "ENTRA_HOOKS_TENANT__NAME".to_owned(),
            config.tenant_name.clone(),
        ),
        (
            "ENTRA_HOOKS_EXTENSION__APP_ID".to_owned(),
            config.extension_app_id.clone(),
        ),
        (
            "ENTRA_HOOKS_AUTH__DISCOVERY_URL".to_owned(),
            sandbox.discovery_url().to_string(),
        ),
    ];
    vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    vars
}

#[tokio::test]
async fn the_environment_configures_mailer_store_and_rules_and_the_function_serves() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    let rules_path = dir.path().join("rules.toml");
    std::fs::write(&rules_path, include_str!("../rules.example.toml")).unwrap();
    let config: EmailOtpSendConfig = load_config_with_env(
        None,
        env(
            &sandbox,
            &[
                ("ENTRA_HOOKS_MAILER__KIND", "folder".into()),
                ("ENTRA_HOOKS_MAILER__FOLDER", inbox.display().to_string()),
                ("ENTRA_HOOKS_RULES", rules_path.display().to_string()),
                ("ENTRA_HOOKS_IDEMPOTENCY__KEY_SECRET", "env:PATH".to_owned()),
            ],
        ),
    )
    .unwrap();
    assert_eq!(config.mailer.kind, MailerKind::Folder);
    assert!(!config.needs_aws());

    let app = config.build(reqwest::Client::new()).await.unwrap();
    let routes = router(Arc::new(app), config.limits.max_body_bytes);
    let body = with_locale(request_for(DOCS_REQUEST, sandbox.tenant_id()), "de-at").to_string();
    let (status, json) = invoke(routes.clone(), bearer(&sandbox), body.clone()).await;
    assert_eq!((status, json), (200, vector(DOCS_RESPONSE)));
    let (status, _) = invoke(routes, bearer(&sandbox), body).await;
    assert_eq!(status, 200);

    let files: Vec<_> = std::fs::read_dir(&inbox).unwrap().collect();
    assert_eq!(files.len(), 1, "the retry sent nothing");
    let eml = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(eml.contains("To: someone@example.com\r\n"), "{eml}");
    assert!(
        eml.contains("From: \"Contoso\" <no-reply@contoso.com>\r\n"),
        "{eml}"
    );
    assert!(eml.contains(&format!("lautet: {DOCS_CODE}")), "{eml}");
}

#[tokio::test]
async fn bad_configuration_is_refused_at_start_with_the_key_to_fix() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let missing_mailer =
        load_config_with_env::<EmailOtpSendConfig, _, _, _>(None, env(&sandbox, &[]))
            .unwrap_err()
            .to_string();
    assert!(missing_mailer.contains("mailer"), "{missing_mailer}");

    let ses_without_sender = load_config_with_env::<EmailOtpSendConfig, _, _, _>(
        None,
        env(
            &sandbox,
            &[
                ("ENTRA_HOOKS_MAILER__KIND", "ses".into()),
                ("ENTRA_HOOKS_STORE__TABLE", "x".into()),
            ],
        ),
    )
    .unwrap_err()
    .to_string();
    assert!(
        ses_without_sender.contains("mailer.from"),
        "{ses_without_sender}"
    );
    assert!(
        ses_without_sender.contains("store.table"),
        "{ses_without_sender}"
    );

    let dir = tempfile::tempdir().unwrap();
    let rules_path = dir.path().join("rules.toml");
    std::fs::write(&rules_path, "[email_otp_send]\ntimeout_ms = 9000\n").unwrap();
    let config: EmailOtpSendConfig = load_config_with_env(
        None,
        env(
            &sandbox,
            &[
                ("ENTRA_HOOKS_MAILER__KIND", "log".into()),
                ("ENTRA_HOOKS_RULES", rules_path.display().to_string()),
            ],
        ),
    )
    .unwrap();
    let error = config.build(reqwest::Client::new()).await.err().unwrap();
    assert!(matches!(error, SetupError::Rules(_)), "{error}");
    assert!(
        error
            .to_string()
            .contains("rules.toml:2:14: email_otp_send.timeout_ms"),
        "{error}"
    );
}
