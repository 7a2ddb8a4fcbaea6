//! The Secrets Manager adapter with the real SDK against a real moto server on loopback.
//!
//! Needs `moto_server` (see `entra_platform::testing::MotoServer`). All tests share one server;
//! each uses its own secret names.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::primitives::Blob;
use entra_platform::secrets::{
    AwsSecretsManager, SecretError, SecretRef, SecretResolver, SecretSource,
};
use entra_platform::testing::MotoServer;

/// A long TTL: nothing expires during a test, so every refresh seen is one the test caused.
const NEVER: Duration = Duration::from_secs(3600);

async fn client(server: &MotoServer) -> Client {
    Client::new(&server.sdk_config().await)
}

async fn create(client: &Client, name: &str, value: &str) {
    client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
}

async fn update(client: &Client, name: &str, value: &str) {
    client
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn reads_a_whole_secret_and_a_json_key() {
    let server = MotoServer::shared().unwrap();
    let client = client(server).await;
    create(&client, "moto-test/plain", "just-text").await;
    create(
        &client,
        "moto-test/json",
        r#"{"client_secret":"s3cr3t","other":"x"}"#,
    )
    .await;

    let adapter = AwsSecretsManager::new(client).with_ttl(NEVER);
    assert_eq!(
        adapter.get("moto-test/plain").await.unwrap().expose(),
        "just-text"
    );
    assert_eq!(
        adapter
            .get("moto-test/json#client_secret")
            .await
            .unwrap()
            .expose(),
        "s3cr3t"
    );
    assert_eq!(
        adapter
            .get_secret("moto-test/json", Some("other"))
            .await
            .unwrap()
            .expose(),
        "x"
    );
}

#[tokio::test]
async fn cached_values_persist_until_invalidated() {
    let server = MotoServer::shared().unwrap();
    let client = client(server).await;
    create(&client, "moto-test/rotating", r#"{"k":"v1"}"#).await;
    let adapter = AwsSecretsManager::new(client.clone()).with_ttl(NEVER);

    assert_eq!(
        adapter.get("moto-test/rotating#k").await.unwrap().expose(),
        "v1"
    );
    update(&client, "moto-test/rotating", r#"{"k":"v2"}"#).await;
    // Within the TTL the cache answers: moto already has v2, we still see v1.
    assert_eq!(
        adapter.get("moto-test/rotating#k").await.unwrap().expose(),
        "v1"
    );
    assert_eq!(
        adapter.get("moto-test/rotating").await.unwrap().expose(),
        r#"{"k":"v1"}"#
    );

    // "Refresh on auth failure": invalidating any key of the secret refreshes the whole secret.
    adapter.invalidate("moto-test/rotating#k");
    assert_eq!(
        adapter.get("moto-test/rotating#k").await.unwrap().expose(),
        "v2"
    );
    assert_eq!(
        adapter.get("moto-test/rotating").await.unwrap().expose(),
        r#"{"k":"v2"}"#
    );
}

#[tokio::test]
async fn an_expired_ttl_reads_the_new_value() {
    let server = MotoServer::shared().unwrap();
    let client = client(server).await;
    create(&client, "moto-test/ttl", "v1").await;
    // TTL zero: every read is a refresh.
    let adapter = AwsSecretsManager::new(client.clone()).with_ttl(Duration::ZERO);
    assert_eq!(adapter.get("moto-test/ttl").await.unwrap().expose(), "v1");
    update(&client, "moto-test/ttl", "v2").await;
    assert_eq!(adapter.get("moto-test/ttl").await.unwrap().expose(), "v2");
}

#[tokio::test]
async fn the_resolver_serves_aws_references_and_forwards_invalidation() {
    let server = MotoServer::shared().unwrap();
    let client = client(server).await;
    create(&client, "moto-test/resolver", r#"{"client_secret":"one"}"#).await;
    let resolver = SecretResolver::new().with_aws_secrets_manager(Arc::new(
        AwsSecretsManager::new(client.clone()).with_ttl(NEVER),
    ));
    let reference: SecretRef = "aws-sm:moto-test/resolver#client_secret".parse().unwrap();

    assert_eq!(resolver.resolve(&reference).await.unwrap().expose(), "one");
    update(&client, "moto-test/resolver", r#"{"client_secret":"two"}"#).await;
    assert_eq!(resolver.resolve(&reference).await.unwrap().expose(), "one");
    resolver.invalidate(&reference);
    assert_eq!(resolver.resolve(&reference).await.unwrap().expose(), "two");
}

#[tokio::test]
async fn a_missing_secret_is_a_typed_error_naming_it() {
    let server = MotoServer::shared().unwrap();
    let adapter = AwsSecretsManager::new(client(server).await);
    let err = adapter.get("moto-test/does-not-exist#k").await.unwrap_err();
    assert!(
        matches!(&err, SecretError::NotFound { name, .. } if name == "moto-test/does-not-exist"),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(
        err.to_string(),
        "secret moto-test/does-not-exist was not found in AWS Secrets Manager; create it or fix the reference"
    );
}

#[tokio::test]
async fn a_missing_json_key_and_a_binary_secret_are_typed_errors() {
    let server = MotoServer::shared().unwrap();
    let client = client(server).await;
    create(&client, "moto-test/keys", r#"{"a":"1"}"#).await;
    client
        .create_secret()
        .name("moto-test/binary")
        .secret_binary(Blob::new(vec![0u8, 1, 2]))
        .send()
        .await
        .unwrap();
    let adapter = AwsSecretsManager::new(client);

    let err = adapter.get("moto-test/keys#b").await.unwrap_err();
    assert!(
        matches!(&err, SecretError::MissingKey { name, key } if name == "moto-test/keys" && key == "b"),
        "{err:?}"
    );
    let err = adapter.get("moto-test/binary").await.unwrap_err();
    assert!(
        matches!(&err, SecretError::NotText { name } if name == "moto-test/binary"),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_cached_value_is_served_when_secrets_manager_goes_away() {
    // Its own server: this test stops it.
    let server = MotoServer::start().unwrap();
    let client = client(&server).await;
    create(&client, "moto-test/outage", "still-good").await;
    let cached = AwsSecretsManager::new(client.clone())
        .with_ttl(Duration::ZERO)
        .with_stale_retry(Duration::ZERO);
    let uncached = AwsSecretsManager::new(client);
    assert_eq!(
        cached.get("moto-test/outage").await.unwrap().expose(),
        "still-good"
    );

    drop(server);

    // The refresh fails (connection refused), the cached value is served.
    assert_eq!(
        cached.get("moto-test/outage").await.unwrap().expose(),
        "still-good"
    );
    // Without a cached value the transient failure is reported as such.
    let err = uncached.get("moto-test/outage").await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("secret moto-test/outage is temporarily unavailable:"),
        "{err}"
    );
}
