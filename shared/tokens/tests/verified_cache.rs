//! The verified-token cache admits nothing full validation would refuse: a token is remembered
//! only whole, only with the signing keys it was verified with, and never at or past its `exp`.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{eager_options, extension_policy};
use entra_sandbox::Sandbox;
use entra_tokens::{KeySet, KeySetOptions, TokenRejection, TokenValidator};

fn cached_validator(sandbox: &Sandbox, options: KeySetOptions, leeway: Duration) -> TokenValidator {
    let keys = KeySet::with_options(sandbox.discovery_url(), reqwest::Client::new(), options);
    TokenValidator::new(extension_policy(sandbox).with_leeway(leeway), keys).with_verified_cache(8)
}

#[tokio::test]
async fn a_reused_token_is_admitted_as_the_same_caller() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let validator = cached_validator(&sandbox, eager_options(), Duration::from_secs(300));
    let token = sandbox.extension_token().sign();
    let first = validator.validate(&token).await.unwrap();
    for _ in 0..3 {
        let again = validator.validate(&token).await.unwrap();
        assert_eq!(again.tenant_id(), first.tenant_id());
        assert_eq!(again.claims(), first.claims());
    }
    assert_eq!(sandbox.jwks_fetch_count(), 1);
}

#[tokio::test]
async fn a_cached_token_is_not_admitted_once_it_expires() {
    let sandbox = Sandbox::start_default().await.unwrap();
    // No clock-skew allowance, so full validation refuses the token as soon as `exp` passes.
    let validator = cached_validator(&sandbox, eager_options(), Duration::ZERO);
    let token = sandbox.extension_token().expires_in(1).sign();
    validator.validate(&token).await.unwrap();
    validator.validate(&token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        validator.validate(&token).await.unwrap_err(),
        TokenRejection::Expired
    );
}

#[tokio::test]
async fn a_token_with_a_cached_tokens_signature_but_other_claims_is_refused() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let validator = cached_validator(&sandbox, eager_options(), Duration::from_secs(300));
    let token = sandbox.extension_token().sign();
    validator.validate(&token).await.unwrap();

    // Same header and signature, payload with another audience.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = URL_SAFE_NO_PAD.decode(&parts[1]).unwrap();
    let mut claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    claims["aud"] = "someone-else".into();
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = parts.join(".");
    assert_eq!(
        validator.validate(&forged).await.unwrap_err(),
        TokenRejection::BadSignature
    );
    // And the genuine token is still admitted.
    validator.validate(&token).await.unwrap();
}

#[tokio::test]
async fn a_retired_signing_key_ends_the_cached_verdicts_of_its_tokens() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let validator = cached_validator(&sandbox, eager_options(), Duration::from_secs(300));
    let old_token = sandbox.extension_token().sign();
    let old_kid = sandbox.active_kid();
    validator.validate(&old_token).await.unwrap();
    validator.validate(&old_token).await.unwrap();

    sandbox.rotate_signing_key();
    sandbox.retire_signing_key(&old_kid);
    // A token under the new key makes the key set refetch: the old key is gone from it, and with
    // it the old token's cached verdict.
    validator
        .validate(&sandbox.extension_token().sign())
        .await
        .unwrap();
    assert_eq!(
        validator.validate(&old_token).await.unwrap_err(),
        TokenRejection::UnknownKey
    );
}

#[tokio::test]
async fn keys_due_for_a_refresh_send_cached_tokens_through_full_validation() {
    let sandbox = Sandbox::start_default().await.unwrap();
    // TTL zero: the keys are due for a refresh at every validation.
    let validator = cached_validator(
        &sandbox,
        KeySetOptions::default().with_ttl(Duration::ZERO),
        Duration::from_secs(300),
    );
    let old_token = sandbox.extension_token().sign();
    let old_kid = sandbox.active_kid();
    validator.validate(&old_token).await.unwrap();
    let fetches = sandbox.jwks_fetch_count();

    sandbox.rotate_signing_key();
    sandbox.retire_signing_key(&old_kid);
    assert_eq!(
        validator.validate(&old_token).await.unwrap_err(),
        TokenRejection::UnknownKey
    );
    assert_eq!(sandbox.jwks_fetch_count(), fetches + 1);
}

#[tokio::test]
async fn more_tokens_than_entries_are_all_still_validated() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let validator = cached_validator(&sandbox, eager_options(), Duration::from_secs(300));
    let tokens: Vec<String> = (0..20)
        .map(|n| {
            sandbox
                .extension_token()
                .claim("uti", format!("t{n}"))
                .sign()
        })
        .collect();
    for _ in 0..2 {
        for token in &tokens {
            validator.validate(token).await.unwrap();
        }
    }
    // Refusals are never cached: a bad token stays refused after good ones were admitted.
    let wrong_audience = sandbox
        .extension_token()
        .claim("aud", "someone-else")
        .sign();
    for _ in 0..2 {
        assert_eq!(
            validator.validate(&wrong_audience).await.unwrap_err(),
            TokenRejection::WrongAudience
        );
    }
}
