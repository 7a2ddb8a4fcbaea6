//! The EMF metrics line each callout writes, through the function's real router with real tokens
//! and password contexts from the simulated tenant (entra_extensions::metrics).

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use entra_extensions::testing::{
    invoke_lambda_event, sandbox_guard_with_metrics, single_metrics_line,
};
use entra_sandbox::Sandbox;
use entra_sandbox::password_context::PasswordContextKey;
use password_submit::{
    LegacyCredential, LegacyCredentialStore, PATH, PasswordMigration, PasswordSubmit, StoreError,
    router,
};
use serde_json::Value;

const FUNCTION: &str = "password-submit";

/// A legacy store that is down.
struct BrokenStore;

#[async_trait]
impl LegacyCredentialStore for BrokenStore {
    async fn lookup(&self, _username: &str) -> Result<Option<LegacyCredential>, StoreError> {
        Err(StoreError("connection refused by legacy-db:5432".into()))
    }
}

/// One callout for casey@contoso.com with `password` through `migration`: status and line.
async fn submit(
    sandbox: &Sandbox,
    key: &PasswordContextKey,
    migration: PasswordMigration,
    password: &str,
) -> (u16, Value) {
    let (guard, lines) = sandbox_guard_with_metrics(sandbox);
    let app = router(Arc::new(PasswordSubmit::new(guard, migration)), 64 * 1024);
    let jwe = context_jwe(key, "casey@contoso.com", password);
    let body = docs_request(sandbox.tenant_id(), Some(&jwe)).to_string();
    let bearer = format!("Bearer {}", sandbox.extension_token().sign());
    let answer = invoke_lambda_event(app, PATH, Some(&bearer), body).await;
    (answer.status, single_metrics_line(&lines, FUNCTION))
}

#[tokio::test]
async fn a_migrated_password_writes_its_action() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let key = PasswordContextKey::generate().unwrap();
    let (status, line) = submit(
        &sandbox,
        &key,
        migration(&key, "timeout_ms = 2000\n"),
        "Casey-pw-1",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(line["Action"], "MigratePassword");
    assert_eq!(line["Event"], "passwordSubmit");
    assert_eq!(
        line["CorrelationId"],
        "aaaa0000-bb11-2222-33cc-444444dddddd"
    );
    assert_eq!(line["CalloutFallback"], 0);
    assert_eq!(line["CalloutServerError"], 0);
    assert_eq!(line["GraphCalls"], 0);
    assert!(line["CalloutLatency"].as_f64().unwrap() > 0.0, "{line}");
    assert!(!line.to_string().contains("Casey-pw-1"));
}

#[tokio::test]
async fn a_failing_legacy_store_shows_as_a_fallback() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let key = PasswordContextKey::generate().unwrap();
    let migration = PasswordMigration::new(
        rules("timeout_ms = 2000\nfallback = \"block\"\n"),
        decryptor(&key),
        Arc::new(BrokenStore),
    );
    let (status, line) = submit(&sandbox, &key, migration, "Casey-pw-1").await;
    assert_eq!(status, 200);
    assert_eq!(line["Action"], "Block");
    assert_eq!(line["CalloutFallback"], 1);
}

#[tokio::test]
async fn a_token_signed_by_another_key_counts_as_rejected() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let other = Sandbox::start_default().await.unwrap();
    let key = PasswordContextKey::generate().unwrap();
    let (guard, lines) = sandbox_guard_with_metrics(&sandbox);
    let app = router(
        Arc::new(PasswordSubmit::new(
            guard,
            migration(&key, "timeout_ms = 2000\n"),
        )),
        64 * 1024,
    );
    let body = docs_request(sandbox.tenant_id(), None).to_string();
    let bearer = format!("Bearer {}", other.extension_token().sign());
    let answer = invoke_lambda_event(app, PATH, Some(&bearer), body).await;
    assert_eq!(answer.status, 401);
    let line = single_metrics_line(&lines, FUNCTION);
    assert_eq!(line["TokenRejected"], 1);
    let reason = line["Reason"].as_str().unwrap();
    assert!(["unknown_key", "bad_signature"].contains(&reason), "{line}");
}
