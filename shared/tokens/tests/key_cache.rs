//! The JWKS cache: laziness, single-flight, rotation, the unknown-kid rate limit, and surviving a
//! failing key endpoint. Fetches are counted by the servers themselves.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    JwksMode, KeyHost, dead_discovery_url, eager_options, extension_policy, extension_validator,
};
use entra_sandbox::Sandbox;
use entra_tokens::{KeySet, KeySetOptions, TokenRejection, TokenValidator};
use serde_json::Value;
use tokio::sync::Barrier;

#[tokio::test]
async fn construction_does_no_io_and_warm_fetches_once() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let keys = KeySet::new(sandbox.discovery_url(), reqwest::Client::new());
    assert_eq!(keys.cached_key_count(), 0);
    assert_eq!(sandbox.discovery_fetch_count(), 0);
    assert_eq!(sandbox.jwks_fetch_count(), 0);

    assert_eq!(keys.warm().await.unwrap(), 1);
    assert_eq!(keys.warm().await.unwrap(), 1);
    assert_eq!(keys.cached_key_count(), 1);
    assert_eq!(sandbox.discovery_fetch_count(), 1);
    assert_eq!(sandbox.jwks_fetch_count(), 1);
}

/// Runs `validations` concurrently, all released at once by a barrier.
async fn validate_together(
    validator: &Arc<TokenValidator>,
    tokens: Vec<String>,
) -> Vec<Result<(), TokenRejection>> {
    let barrier = Arc::new(Barrier::new(tokens.len()));
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let validator = validator.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                validator.validate(&token).await.map(|_| ())
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cold_validations_share_one_fetch() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let host = KeyHost::mirroring(&sandbox).await;
    // Slow endpoint: every caller reaches the cache while the first fetch is still in flight.
    host.set_delay(Duration::from_millis(150));
    let keys = KeySet::new(host.discovery_url(), reqwest::Client::new());
    let validator = Arc::new(TokenValidator::new(extension_policy(&sandbox), keys));
    let token = sandbox.extension_token().sign();

    let results = validate_together(&validator, vec![token.clone(); 32]).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(host.discovery_fetch_count(), 1);
    assert_eq!(host.jwks_fetch_count(), 1);

    for _ in 0..10 {
        validator.validate(&token).await.unwrap();
    }
    assert_eq!(host.discovery_fetch_count(), 1, "warm cache does no I/O");
    assert_eq!(host.jwks_fetch_count(), 1, "warm cache does no I/O");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_unknown_kids_share_one_refetch() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let host = KeyHost::mirroring(&sandbox).await;
    let keys = KeySet::with_options(
        host.discovery_url(),
        reqwest::Client::new(),
        eager_options(),
    );
    let validator = Arc::new(TokenValidator::new(extension_policy(&sandbox), keys));
    validator
        .validate(&sandbox.extension_token().sign())
        .await
        .unwrap();
    assert_eq!(host.jwks_fetch_count(), 1);

    // Rollover: many callers present the new kid at once; one refetch serves them all.
    sandbox.rotate_signing_key();
    host.set_jwks(common::sandbox_jwks(&sandbox).await);
    host.set_delay(Duration::from_millis(150));
    let tokens = (0..16).map(|_| sandbox.extension_token().sign()).collect();
    let results = validate_together(&validator, tokens).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(host.jwks_fetch_count(), 2);
    assert_eq!(
        host.discovery_fetch_count(),
        1,
        "the JWKS location is cached"
    );
}

#[tokio::test]
async fn unknown_kid_refetch_is_rate_limited() {
    let sandbox = Sandbox::start_default().await.unwrap();

    // Default policy: at most one refetch per 5 minutes.
    let limited = extension_validator(&sandbox, KeySetOptions::default());
    limited
        .validate(&sandbox.extension_token().sign())
        .await
        .unwrap();
    assert_eq!(sandbox.jwks_fetch_count(), 1);
    for i in 0..5 {
        let token = sandbox
            .extension_token()
            .kid(&format!("unknown-{i}"))
            .sign();
        assert_eq!(
            limited.validate(&token).await.unwrap_err(),
            TokenRejection::UnknownKey
        );
    }
    assert_eq!(
        sandbox.jwks_fetch_count(),
        1,
        "no refetch inside the interval"
    );

    // Without the limit, every unknown kid costs exactly one JWKS fetch (and no rediscovery).
    let eager = extension_validator(&sandbox, eager_options());
    eager
        .validate(&sandbox.extension_token().sign())
        .await
        .unwrap();
    assert_eq!(sandbox.jwks_fetch_count(), 2);
    for i in 0..3 {
        let token = sandbox
            .extension_token()
            .kid(&format!("unknown-{i}"))
            .sign();
        assert_eq!(
            eager.validate(&token).await.unwrap_err(),
            TokenRejection::UnknownKey
        );
        assert_eq!(sandbox.jwks_fetch_count(), 3 + i);
    }
    assert_eq!(sandbox.discovery_fetch_count(), 2, "one per validator");
}

#[tokio::test]
async fn cold_cache_fetches_once_for_an_unknown_kid() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let validator = extension_validator(&sandbox, eager_options());
    let token = sandbox.extension_token().kid("never-published").sign();
    assert_eq!(
        validator.validate(&token).await.unwrap_err(),
        TokenRejection::UnknownKey
    );
    assert_eq!(sandbox.jwks_fetch_count(), 1);
}

#[tokio::test]
async fn key_rotation_is_followed() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let validator = extension_validator(&sandbox, eager_options());
    let old_token = sandbox.extension_token().sign();
    let old_kid = sandbox.active_kid();
    validator.validate(&old_token).await.unwrap();
    assert_eq!(sandbox.jwks_fetch_count(), 1);

    // Rollover: a token under the new key makes the cache refetch once.
    let new_kid = sandbox.rotate_signing_key();
    let new_token = sandbox.extension_token().sign();
    validator.validate(&new_token).await.unwrap();
    assert_eq!(sandbox.jwks_fetch_count(), 2);
    validator.validate(&old_token).await.unwrap();
    validator.validate(&new_token).await.unwrap();
    assert_eq!(sandbox.jwks_fetch_count(), 2, "both keys cached");

    // Retirement is seen on the next refresh; until then the cached key still verifies.
    sandbox.retire_signing_key(&old_kid);
    validator.validate(&old_token).await.unwrap();
    assert_eq!(sandbox.jwks_fetch_count(), 2);
    let probe = sandbox.extension_token().kid("trigger-refresh").sign();
    assert_eq!(
        validator.validate(&probe).await.unwrap_err(),
        TokenRejection::UnknownKey
    );
    assert_eq!(
        validator.validate(&old_token).await.unwrap_err(),
        TokenRejection::UnknownKey
    );
    validator.validate(&new_token).await.unwrap();
    assert_eq!(sandbox.published_kids(), vec![new_kid]);
}

#[tokio::test]
async fn retired_key_is_dropped_when_the_ttl_expires() {
    let sandbox = Sandbox::start_default().await.unwrap();
    // TTL zero: every validation counts as a refresh past the TTL.
    let validator =
        extension_validator(&sandbox, KeySetOptions::default().with_ttl(Duration::ZERO));
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
    validator
        .validate(&sandbox.extension_token().sign())
        .await
        .unwrap();
}

#[tokio::test]
async fn cached_keys_survive_a_failing_jwks_endpoint() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let host = KeyHost::mirroring(&sandbox).await;
    // TTL zero and no backoff: every validation tries the endpoint again.
    let keys = KeySet::with_options(
        host.discovery_url(),
        reqwest::Client::new(),
        eager_options().with_ttl(Duration::ZERO),
    );
    let validator = TokenValidator::new(extension_policy(&sandbox), keys);
    let token = sandbox.extension_token().sign();
    validator.validate(&token).await.unwrap();
    assert_eq!(host.jwks_fetch_count(), 1);

    for mode in [
        JwksMode::Unavailable,
        JwksMode::Garbage,
        JwksMode::WrongShape,
        JwksMode::Oversized,
    ] {
        host.set_mode(mode);
        let before = host.jwks_fetch_count();
        validator
            .validate(&token)
            .await
            .unwrap_or_else(|r| panic!("{mode:?}: {}", r.kind()));
        assert!(
            host.jwks_fetch_count() > before,
            "{mode:?}: refresh was tried"
        );
        let unknown = sandbox.extension_token().kid("not-there").sign();
        assert_eq!(
            validator.validate(&unknown).await.unwrap_err(),
            TokenRejection::UnknownKey,
            "{mode:?}: keys are cached, so the kid is unknown rather than keys unavailable"
        );
    }

    // A JWKS with no usable key is garbage too: keep the last good set.
    host.set_mode(JwksMode::Up);
    host.set_jwks(r#"{"keys":[{"kty":"EC","kid":"x","crv":"P-256","x":"AA","y":"AA"}]}"#.into());
    validator.validate(&token).await.unwrap();

    // Server gone entirely.
    drop(host);
    validator.validate(&token).await.unwrap();
}

#[tokio::test]
async fn failed_fetch_backs_off() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let host = KeyHost::mirroring(&sandbox).await;
    host.set_mode(JwksMode::Unavailable);
    let keys = KeySet::with_options(
        host.discovery_url(),
        reqwest::Client::new(),
        KeySetOptions::default().with_failure_backoff(Duration::from_secs(3600)),
    );
    let validator = TokenValidator::new(extension_policy(&sandbox), keys);
    let token = sandbox.extension_token().sign();
    for _ in 0..3 {
        assert_eq!(
            validator.validate(&token).await.unwrap_err(),
            TokenRejection::KeysUnavailable
        );
    }
    assert_eq!(host.jwks_fetch_count(), 1, "no retry inside the backoff");
}

#[tokio::test]
async fn cold_cache_without_endpoint_reports_keys_unavailable_then_recovers() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = sandbox.extension_token().sign();

    // Nothing listening at all.
    let keys = KeySet::with_options(
        dead_discovery_url().await,
        reqwest::Client::new(),
        eager_options(),
    );
    let validator = TokenValidator::new(extension_policy(&sandbox), keys);
    let rejection = validator.validate(&token).await.unwrap_err();
    assert_eq!(rejection, TokenRejection::KeysUnavailable);
    assert!(rejection.is_server_side());
    assert!(validator.key_set().warm().await.is_err());

    // Endpoint failing, then back.
    let host = KeyHost::mirroring(&sandbox).await;
    host.set_mode(JwksMode::Garbage);
    let keys = KeySet::with_options(
        host.discovery_url(),
        reqwest::Client::new(),
        eager_options(),
    );
    let validator = TokenValidator::new(extension_policy(&sandbox), keys);
    assert_eq!(
        validator.validate(&token).await.unwrap_err(),
        TokenRejection::KeysUnavailable
    );
    host.set_mode(JwksMode::Up);
    validator.validate(&token).await.unwrap();
}

#[tokio::test]
async fn oversized_documents_are_refused() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let host = KeyHost::mirroring(&sandbox).await;
    host.set_mode(JwksMode::Oversized);
    let keys = KeySet::with_options(
        host.discovery_url(),
        reqwest::Client::new(),
        eager_options(),
    );
    let error = keys.warm().await.unwrap_err();
    assert!(error.to_string().contains("more than"), "{error}");

    // The limit is configurable: a small one refuses even the genuine JWKS.
    host.set_mode(JwksMode::Up);
    let keys = KeySet::with_options(
        host.discovery_url(),
        reqwest::Client::new(),
        eager_options().with_max_response_bytes(512),
    );
    assert!(keys.warm().await.is_err());
}

/// Rewrites the first key of a JWKS document.
fn edit_first_key(jwks: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut doc: Value = serde_json::from_str(jwks).unwrap();
    edit(doc["keys"][0].as_object_mut().unwrap());
    doc.to_string()
}

#[tokio::test]
async fn published_key_must_fit_rs256() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let token = sandbox.extension_token().sign();
    let genuine = common::sandbox_jwks(&sandbox).await;

    let cases = [
        (
            "JWK alg PS256",
            edit_first_key(&genuine, |k| {
                k.insert("alg".into(), "PS256".into());
            }),
        ),
        (
            "JWK kty EC under the same kid",
            edit_first_key(&genuine, |k| {
                k.insert("kty".into(), "EC".into());
            }),
        ),
        (
            "JWK use enc",
            edit_first_key(&genuine, |k| {
                k.insert("use".into(), "enc".into());
            }),
        ),
    ];
    for (name, jwks) in cases {
        // Keep one usable key in the set so the document itself is accepted.
        let mut doc: Value = serde_json::from_str(&jwks).unwrap();
        let filler = edit_first_key(&genuine, |k| {
            k.insert("kid".into(), "filler".into());
        });
        let filler: Value = serde_json::from_str(&filler).unwrap();
        doc["keys"]
            .as_array_mut()
            .unwrap()
            .push(filler["keys"][0].clone());

        let host = KeyHost::start(doc.to_string()).await;
        let keys = KeySet::new(host.discovery_url(), reqwest::Client::new());
        let validator = TokenValidator::new(extension_policy(&sandbox), keys);
        assert_eq!(
            validator.validate(&token).await.unwrap_err(),
            TokenRejection::KeyMismatch,
            "{name}"
        );
    }

    // An explicit RS256 alg and unrelated junk keys are fine (Entra omits alg; others add keys).
    let mut doc: Value = serde_json::from_str(&edit_first_key(&genuine, |k| {
        k.insert("alg".into(), "RS256".into());
    }))
    .unwrap();
    let keys = doc["keys"].as_array_mut().unwrap();
    keys.push(serde_json::json!({"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"}));
    keys.push(serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}));
    keys.push(serde_json::json!("not a key"));
    let host = KeyHost::start(doc.to_string()).await;
    let keys = KeySet::new(host.discovery_url(), reqwest::Client::new());
    let validator = TokenValidator::new(extension_policy(&sandbox), keys);
    validator.validate(&token).await.unwrap();
    assert_eq!(validator.key_set().cached_key_count(), 1);
}
