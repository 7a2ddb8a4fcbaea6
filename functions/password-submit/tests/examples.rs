//! The shipped example files: rules.example.toml and legacy-users.example.toml load through the
//! same path as the Lambda (`PasswordMigration::from_rules` with a secret resolver), and every
//! demo password documented in the table's header does what the header says.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use entra_extensions::CallBudget;
use entra_extensions::RulesFile;
use entra_extensions::budget::DEFAULT_SAFETY_MARGIN;
use entra_platform::secrets::{SecretFuture, SecretSource};
use entra_platform::{SecretError, SecretResolver, SecretValue};
use entra_sandbox::password_context::PasswordContextKey;
use password_submit::{
    LegacyUserTable, Outcome, PasswordMigration, PasswordSubmitRules, SECTION, SetupError,
};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `env:` secrets from a map instead of the process environment.
struct Env(HashMap<String, String>);

impl SecretSource for Env {
    fn get<'a>(&'a self, name: &'a str) -> SecretFuture<'a> {
        Box::pin(async move {
            self.0
                .get(name)
                .map(|v| SecretValue::new(v.clone()))
                .ok_or(SecretError::EnvNotSet { var: name.into() })
        })
    }
}

fn example_rules() -> PasswordSubmitRules {
    RulesFile::load(&crate_dir().join("rules.example.toml"))
        .unwrap()
        .section(SECTION)
        .unwrap()
}

#[test]
fn demo_passwords_match_the_documented_table() {
    let table = LegacyUserTable::load(&crate_dir().join("legacy-users.example.toml")).unwrap();
    assert_eq!(table.len(), 6);
    let documented = [
        (
            "casey@contoso.com",
            "Casey-Legacy-2019!",
            "bcrypt",
            false,
            false,
        ),
        (
            "alex@contoso.com",
            "Alex-Legacy-2021!",
            "argon2id",
            false,
            false,
        ),
        (
            "jordan@contoso.com",
            "Jordan-Legacy-2017!",
            "pbkdf2-sha256",
            false,
            false,
        ),
        ("sam@contoso.com", "Sam-Legacy-2016!", "bcrypt", false, true),
        ("riley@contoso.com", "Short1", "bcrypt", false, false),
        (
            "pat@contoso.com",
            "Pat-Legacy-2015!",
            "argon2id",
            true,
            false,
        ),
    ];
    for (username, password, scheme, disabled, must_change) in documented {
        let credential = table.get(username).unwrap();
        assert_eq!(credential.hash.scheme(), scheme, "{username}");
        assert!(credential.hash.verify(password.as_bytes()), "{username}");
        assert!(!credential.hash.verify(b"Wrong-Password-1"), "{username}");
        assert_eq!(credential.disabled, disabled, "{username}");
        assert_eq!(credential.must_change, must_change, "{username}");
    }
}

#[tokio::test]
async fn example_rules_build_the_migration_like_the_lambda_does() {
    let rules = example_rules();
    assert!(!rules.uses_aws_secrets_manager());
    assert!(rules.lockout.is_some());
    let key = PasswordContextKey::generate().unwrap();
    let env = Env(HashMap::from([(
        "PASSWORD_CONTEXT_PRIVATE_KEY".to_owned(),
        key.private_key_pem(),
    )]));
    let secrets = SecretResolver::new().with_env_source(Arc::new(env));
    let migration = PasswordMigration::from_rules(rules, &secrets, Some(&crate_dir()))
        .await
        .unwrap();
    let budget = || CallBudget::start(std::time::Duration::from_secs(2), DEFAULT_SAFETY_MARGIN);
    // Decisions that need no expensive hash: disabled and unknown users.
    for (username, outcome, action) in [
        ("pat@contoso.com", Outcome::Disabled, "Block"),
        ("nobody@contoso.com", Outcome::UnknownUser, "Retry"),
    ] {
        let request = parsed_request(&context_jwe(&key, username, "whatever"));
        let decision = migration.decide(&request, budget()).await.unwrap();
        assert_eq!(decision.outcome, outcome, "{username}");
        assert_eq!(decision.action_name(), action);
    }
    let request = parsed_request(&context_jwe(&key, "pat@contoso.com", "x"));
    let decision = migration.decide(&request, budget()).await.unwrap();
    assert_eq!(
        decision.response["data"]["actions"][0]["message"],
        "Your account was disabled in our previous system. Please contact support."
    );
}

#[tokio::test]
async fn missing_settings_and_keys_fail_the_start_with_the_fix() {
    let key = PasswordContextKey::generate().unwrap();
    let resolver = |value: Option<String>| {
        let map = value
            .map(|v| HashMap::from([("KEY".to_owned(), v)]))
            .unwrap_or_default();
        SecretResolver::new().with_env_source(Arc::new(Env(map)))
    };
    let cases = [
        (
            "store = \"users.toml\"\n",
            Some(key.private_key_pem()),
            "password_submit.private_key is not set",
        ),
        (
            "private_key = \"env:KEY\"\n",
            Some(key.private_key_pem()),
            "password_submit.store is not set",
        ),
        (
            "private_key = \"env:KEY\"\nstore = \"users.toml\"\n",
            None,
            "password_submit.private_key (env:KEY): environment variable KEY is not set",
        ),
        (
            "private_key = \"env:KEY\"\nstore = \"users.toml\"\n",
            Some(key.certificate_pem().to_owned()),
            "password_submit.private_key (env:KEY): the PEM holds no private key (found: CERTIFICATE)",
        ),
        (
            "private_key = \"env:KEY\"\nstore = \"missing.toml\"\n",
            Some(key.private_key_pem()),
            "cannot read legacy user table",
        ),
    ];
    for (body, secret, expected) in cases {
        let err: SetupError = PasswordMigration::from_rules(
            rules(body),
            &resolver(secret),
            Some(&crate_dir().join("tests")),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().starts_with(expected), "{err}");
    }
}
