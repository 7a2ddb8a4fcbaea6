//! `PasswordMigration::decide` on the documented request carrying real encrypted contexts: every
//! hash scheme, every legacy flag, every policy, the budget and the custom-logic trait.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::*;
use entra_extensions::budget::DEFAULT_SAFETY_MARGIN;
use entra_extensions::{CallBudget, PasswordSubmitAction, PasswordSubmitRequest};
use entra_sandbox::password_context::PasswordContextKey;
use password_submit::{
    DecideError, Decision, ExtensionError, LegacyCredential, LegacyCredentialStore, LegacyVerdict,
    Outcome, PasswordContext, PasswordContextError, PasswordMigration, PasswordMigrationExtension,
    StoreError,
};
use serde_json::json;

fn budget(migration: &PasswordMigration) -> CallBudget {
    CallBudget::start(migration.rules().timeout(), DEFAULT_SAFETY_MARGIN)
}

async fn decide(
    migration: &PasswordMigration,
    key: &PasswordContextKey,
    username: &str,
    password: &str,
) -> Decision {
    let request = parsed_request(&context_jwe(key, username, password));
    migration.decide(&request, budget(migration)).await.unwrap()
}

fn retry() -> PasswordSubmitAction {
    PasswordSubmitAction::retry()
}

/// Generous timeout for tests whose hashes are cheap, so a busy machine never hits the fallback.
const RELAXED: &str = "timeout_ms = 2000\n";

#[tokio::test]
async fn correct_passwords_of_every_scheme_migrate() {
    let key = PasswordContextKey::generate().unwrap();
    let migration = migration(&key, RELAXED);
    for (username, password) in [
        ("casey@contoso.com", "Casey-pw-1"),
        ("alex@contoso.com", "Alex-pw-22"),
        ("jordan@contoso.com", PBKDF2_PASSWORD),
        ("Casey@CONTOSO.com", "Casey-pw-1"),
    ] {
        let decision = decide(&migration, &key, username, password).await;
        assert_eq!(
            decision.action,
            PasswordSubmitAction::MigratePassword,
            "{username}"
        );
        assert_eq!(decision.outcome, Outcome::Migrated);
        assert!(!decision.fallback);
        assert_eq!(decision.action_name(), "MigratePassword");
        assert_eq!(decision.response["data"]["nonce"], NONCE);
    }
}

#[tokio::test]
async fn wrong_passwords_of_every_scheme_retry() {
    let key = PasswordContextKey::generate().unwrap();
    let migration = migration(&key, RELAXED);
    for (username, password) in [
        ("casey@contoso.com", "Casey-pw-2"),
        ("alex@contoso.com", "alex-pw-22"),
        ("jordan@contoso.com", "correct horse battery stapler"),
        ("casey@contoso.com", ""),
    ] {
        let decision = decide(&migration, &key, username, password).await;
        assert_eq!(decision.action, retry(), "{username} {password:?}");
        assert_eq!(decision.outcome, Outcome::WrongPassword);
        assert_eq!(
            decision.response,
            json!({"data": {
                "@odata.type": "microsoft.graph.onPasswordSubmitResponseData",
                "actions": [{"@odata.type": "microsoft.graph.passwordSubmit.Retry"}],
                "nonce": NONCE,
            }})
        );
    }
}

#[tokio::test]
async fn legacy_flags_decide_update_and_block() {
    let key = PasswordContextKey::generate().unwrap();
    let migration = migration(
        &key,
        "timeout_ms = 2000\n[password_submit.block_page]\ntitle = \"Account closed\"\nmessage = \"Contact support@contoso.com.\"\n",
    );
    let sam = decide(&migration, &key, "sam@contoso.com", "Sam-pw-333").await;
    assert_eq!(sam.action, PasswordSubmitAction::UpdatePassword);
    assert_eq!(sam.outcome, Outcome::MustChange);
    // A wrong password for a must-change account is still just wrong.
    let sam_wrong = decide(&migration, &key, "sam@contoso.com", "nope").await;
    assert_eq!(sam_wrong.action, retry());

    for password in ["Pat-pw-4444", "anything"] {
        let pat = decide(&migration, &key, "pat@contoso.com", password).await;
        assert_eq!(pat.outcome, Outcome::Disabled);
        assert_eq!(
            pat.response["data"]["actions"],
            json!([{
                "@odata.type": "microsoft.graph.passwordSubmit.Block",
                "title": "Account closed",
                "message": "Contact support@contoso.com.",
            }])
        );
    }
}

#[tokio::test]
async fn short_correct_passwords_update_when_a_minimum_is_set() {
    let key = PasswordContextKey::generate().unwrap();
    let without = migration(&key, RELAXED);
    let riley = decide(&without, &key, "riley@contoso.com", "Short1").await;
    assert_eq!(riley.action, PasswordSubmitAction::MigratePassword);

    let with = migration(&key, "timeout_ms = 2000\nmin_password_length = 8\n");
    let riley = decide(&with, &key, "riley@contoso.com", "Short1").await;
    assert_eq!(riley.action, PasswordSubmitAction::UpdatePassword);
    assert_eq!(riley.outcome, Outcome::WeakPassword);
    let casey = decide(&with, &key, "casey@contoso.com", "Casey-pw-1").await;
    assert_eq!(casey.action, PasswordSubmitAction::MigratePassword);
}

#[tokio::test]
async fn unknown_users_retry_by_default_or_block_when_configured() {
    let key = PasswordContextKey::generate().unwrap();
    let default = migration(&key, RELAXED);
    let unknown = decide(&default, &key, "nobody@contoso.com", "x").await;
    assert_eq!(unknown.action, retry());
    assert_eq!(unknown.outcome, Outcome::UnknownUser);
    // Indistinguishable from a wrong password on the wire.
    let wrong = decide(&default, &key, "casey@contoso.com", "x").await;
    assert_eq!(unknown.response, wrong.response);

    let blocking = migration(&key, "timeout_ms = 2000\nunknown_user = \"block\"\n");
    let unknown = decide(&blocking, &key, "nobody@contoso.com", "x").await;
    assert_eq!(
        unknown.action,
        PasswordSubmitAction::Block {
            title: Some("Sign-in blocked".into()),
            message: "Admin has blocked your sign-in attempt. Please contact support.".into(),
        }
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_username_until_a_window_passes() {
    let key = PasswordContextKey::generate().unwrap();
    let migration = migration(
        &key,
        "timeout_ms = 2000\n[password_submit.lockout]\nmax_failures = 2\nwindow_secs = 600\nmessage = \"Locked for 10 minutes.\"\n",
    );
    for _ in 0..2 {
        let decision = decide(&migration, &key, "casey@contoso.com", "guess").await;
        assert_eq!(decision.action, retry());
    }
    // Locked now, even with the right password, and whatever the casing.
    let locked = decide(&migration, &key, "CASEY@contoso.com", "Casey-pw-1").await;
    assert_eq!(locked.outcome, Outcome::LockedOut);
    assert_eq!(
        locked.action,
        PasswordSubmitAction::Block {
            title: Some("Too many attempts".into()),
            message: "Locked for 10 minutes.".into(),
        }
    );
    // Other users are unaffected; a success clears that user's count.
    let alex = decide(&migration, &key, "alex@contoso.com", "bad").await;
    assert_eq!(alex.action, retry());
    let alex = decide(&migration, &key, "alex@contoso.com", "Alex-pw-22").await;
    assert_eq!(alex.action, PasswordSubmitAction::MigratePassword);
    let alex = decide(&migration, &key, "alex@contoso.com", "bad").await;
    assert_eq!(alex.action, retry(), "count restarted after the success");
}

#[tokio::test]
async fn lockout_is_off_by_default() {
    let key = PasswordContextKey::generate().unwrap();
    let migration = migration(&key, RELAXED);
    for _ in 0..8 {
        decide(&migration, &key, "casey@contoso.com", "guess").await;
    }
    let decision = decide(&migration, &key, "casey@contoso.com", "Casey-pw-1").await;
    assert_eq!(decision.action, PasswordSubmitAction::MigratePassword);
}

/// A hash far costlier than the budget: the fallback answers when the budget ends, while the
/// verification finishes on its blocking thread.
#[tokio::test]
async fn an_expensive_hash_past_the_budget_answers_the_fallback_in_time() {
    let key = PasswordContextKey::generate().unwrap();
    let expensive = argon2_hash_with("Slow-pw-1", 32 * 1024, 2);
    for (rules_body, expected) in [
        ("timeout_ms = 200\n", retry()),
        (
            "timeout_ms = 200\nfallback = \"block\"\n",
            PasswordSubmitAction::Block {
                title: Some("Sign-in blocked".into()),
                message: "Admin has blocked your sign-in attempt. Please contact support.".into(),
            },
        ),
    ] {
        let table = password_submit::LegacyUserTable::from_credentials([(
            "slow@contoso.com".to_owned(),
            credential(expensive.clone()),
        )]);
        let migration = PasswordMigration::new(rules(rules_body), decryptor(&key), Arc::new(table));
        let request = parsed_request(&context_jwe(&key, "slow@contoso.com", "Slow-pw-1"));
        let started = Instant::now();
        let decision = migration
            .decide(&request, budget(&migration))
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "answered in time"
        );
        assert!(decision.fallback);
        assert_eq!(decision.outcome, Outcome::BudgetExhausted);
        assert_eq!(decision.action, expected);
        assert_eq!(decision.response["data"]["nonce"], NONCE);
    }
}

/// A store that never answers, or fails.
struct BrokenStore {
    hang: bool,
}

#[async_trait]
impl LegacyCredentialStore for BrokenStore {
    async fn lookup(&self, _username: &str) -> Result<Option<LegacyCredential>, StoreError> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        Err(StoreError("connection refused by legacy-db:5432".into()))
    }
}

#[tokio::test]
async fn a_failing_or_hanging_store_answers_the_fallback() {
    let key = PasswordContextKey::generate().unwrap();
    for (hang, outcome) in [
        (false, Outcome::DependencyFailed),
        (true, Outcome::BudgetExhausted),
    ] {
        let migration = PasswordMigration::new(
            rules("timeout_ms = 300\nfallback = \"block\"\n"),
            decryptor(&key),
            Arc::new(BrokenStore { hang }),
        );
        let decision = decide(&migration, &key, "casey@contoso.com", "Casey-pw-1").await;
        assert!(decision.fallback);
        assert_eq!(decision.outcome, outcome);
        assert_eq!(decision.action_name(), "Block");
    }
}

/// A custom legacy system: knows users at @fabrikam.com, answers its own Block for one of them,
/// fails for another, and leaves everyone else to the store.
struct Fabrikam {
    calls: AtomicUsize,
}

#[async_trait]
impl PasswordMigrationExtension for Fabrikam {
    async fn verify(
        &self,
        request: &PasswordSubmitRequest,
        context: &PasswordContext,
    ) -> Result<Option<LegacyVerdict>, ExtensionError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            request.callout.context.correlation_id,
            "aaaa0000-bb11-2222-33cc-444444dddddd"
        );
        let username = context.username().to_lowercase();
        Ok(match username.as_str() {
            "lee@fabrikam.com" if context.password().expose() == "Fabrikam-1" => {
                Some(LegacyVerdict::Correct { must_change: false })
            }
            "lee@fabrikam.com" => Some(LegacyVerdict::Wrong),
            "kim@fabrikam.com" => Some(LegacyVerdict::Answer(PasswordSubmitAction::Block {
                title: None,
                message: "Fabrikam accounts move next month.".into(),
            })),
            "ash@fabrikam.com" => return Err(ExtensionError("fabrikam API returned 503".into())),
            _ => None,
        })
    }
}

#[tokio::test]
async fn extensions_decide_before_the_store() {
    let key = PasswordContextKey::generate().unwrap();
    let fabrikam = Arc::new(Fabrikam {
        calls: AtomicUsize::new(0),
    });
    let migration = migration(&key, RELAXED).with_extension(fabrikam.clone());
    let cases = [
        (
            "lee@fabrikam.com",
            "Fabrikam-1",
            "MigratePassword",
            Outcome::Migrated,
        ),
        ("lee@fabrikam.com", "nope", "Retry", Outcome::WrongPassword),
        ("kim@fabrikam.com", "x", "Block", Outcome::ExtensionAnswer),
        ("ash@fabrikam.com", "x", "Retry", Outcome::DependencyFailed),
        (
            "casey@contoso.com",
            "Casey-pw-1",
            "MigratePassword",
            Outcome::Migrated,
        ),
    ];
    for (username, password, action, outcome) in cases {
        let decision = decide(&migration, &key, username, password).await;
        assert_eq!(decision.action_name(), action, "{username}");
        assert_eq!(decision.outcome, outcome, "{username}");
    }
    assert_eq!(fabrikam.calls.load(Ordering::SeqCst), cases.len());
    let kim = decide(&migration, &key, "kim@fabrikam.com", "x").await;
    assert_eq!(
        kim.response["data"]["actions"][0]["message"],
        "Fabrikam accounts move next month."
    );
}

#[tokio::test]
async fn undecryptable_and_incomplete_contexts_are_errors_not_answers() {
    let key = PasswordContextKey::generate().unwrap();
    let other = PasswordContextKey::generate().unwrap();
    let migration = migration(&key, RELAXED);

    let placeholder = parsed_request("{5-part-JWE}");
    let err = migration
        .decide(&placeholder, budget(&migration))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        DecideError::Context(PasswordContextError::NotCompactJwe { parts: 1 })
    ));

    let foreign = parsed_request(&context_jwe(&other, "casey@contoso.com", "Casey-pw-1"));
    let err = migration
        .decide(&foreign, budget(&migration))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        DecideError::Context(PasswordContextError::Undecryptable)
    ));
}
