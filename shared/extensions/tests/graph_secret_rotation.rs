//! The Graph client secret rotated end to end: the secret lives in AWS Secrets Manager (a real moto
//! server on loopback, the real SDK), the client is built by `runtime::graph_client` from the
//! platform configuration, and Entra is the sandbox tenant. After the secret is rotated in both, the
//! function keeps working without a restart: the stale cached secret is refused once (AADSTS7000215),
//! dropped from the cache and read again.
//!
//! Needs `moto_server` (see `entra_platform::testing::MotoServer`).

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use entra_extensions::runtime::{self, SetupError};
use entra_platform::config::load_config_with_env;
use entra_platform::secrets::AwsSecretsManager;
use entra_platform::testing::MotoServer;
use entra_platform::{CommonConfig, SecretResolver};
use entra_sandbox::Sandbox;
use entra_sandbox::directory::DEMO_USER_ID;

/// Nothing expires during a test: every Secrets Manager read after the first is one an
/// invalidation caused.
const NEVER: Duration = Duration::from_secs(3600);

/// The platform configuration of a function whose `[graph]` points at `sandbox` and whose secret
/// reference is `secret`.
fn config(sandbox: &Sandbox, secret: &str) -> CommonConfig {
    let authority = sandbox.url().to_string();
    let graph = sandbox.graph_url().to_string();
    load_config_with_env(
        None,
        [
            ("ENTRA_HOOKS_TENANT__ID", sandbox.tenant_id()),
            ("ENTRA_HOOKS_TENANT__NAME", &sandbox.config().tenant_name),
            (
                "ENTRA_HOOKS_EXTENSION__APP_ID",
                &sandbox.config().extension_app_id,
            ),
            (
                "ENTRA_HOOKS_GRAPH__CLIENT_ID",
                &sandbox.config().graph_client_id,
            ),
            ("ENTRA_HOOKS_GRAPH__SECRET", secret),
            ("ENTRA_HOOKS_GRAPH__AUTHORITY_HOST", &authority),
            ("ENTRA_HOOKS_GRAPH__BASE_URL", &graph),
        ],
    )
    .unwrap()
}

/// A resolver serving `aws-sm:` from moto through the cached adapter, as `runtime::secret_resolver`
/// builds it in Lambda.
async fn resolver(server: &MotoServer) -> (SecretResolver, Client) {
    let sdk = server.sdk_config().await;
    let adapter = AwsSecretsManager::from_sdk_config(&sdk).with_ttl(NEVER);
    let resolver = SecretResolver::new().with_aws_secrets_manager(Arc::new(adapter));
    (resolver, Client::new(&sdk))
}

async fn put_client_secret(client: &Client, secret_id: &str, value: &str, create: bool) {
    let json = serde_json::json!({ "client_secret": value }).to_string();
    if create {
        client
            .create_secret()
            .name(secret_id)
            .secret_string(json)
            .send()
            .await
            .unwrap();
    } else {
        client
            .put_secret_value()
            .secret_id(secret_id)
            .secret_string(json)
            .send()
            .await
            .unwrap();
    }
}

fn token_requests(sandbox: &Sandbox) -> usize {
    let path = format!("/{}/oauth2/v2.0/token", sandbox.tenant_id());
    sandbox
        .request_log()
        .iter()
        .filter(|request| request.path() == path)
        .count()
}

#[tokio::test]
async fn a_secret_rotated_in_secrets_manager_is_picked_up_without_a_restart() {
    let server = MotoServer::shared().unwrap();
    let sandbox = Sandbox::start_default().await.unwrap();
    let (secrets, aws) = resolver(server).await;
    let secret_id = "runtime-test/graph-rotation";
    put_client_secret(&aws, secret_id, &sandbox.graph_client_secret(), true).await;
    let config = config(&sandbox, &format!("aws-sm:{secret_id}#client_secret"));

    let graph = runtime::graph_client(&config, &secrets)
        .await
        .unwrap()
        .expect("[graph] is configured");
    let user = graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    assert_eq!(user.id, DEMO_USER_ID);
    assert_eq!(token_requests(&sandbox), 1);

    // Rotation: a new secret in Secrets Manager and on the app registration; the cached Graph token
    // is gone (as it would be after its lifetime).
    put_client_secret(&aws, secret_id, "rotated-client-secret", false).await;
    sandbox.set_graph_client_secret("rotated-client-secret");
    sandbox.revoke_access_tokens();

    let user = graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    assert_eq!(user.id, DEMO_USER_ID);
    // The cached (old) secret was sent and refused, then the new one read and accepted.
    assert_eq!(token_requests(&sandbox), 3);
    assert_eq!(sandbox.tokens_issued(), 2);
    // And the resolver's cache now holds the new secret.
    let reference = config.graph.as_ref().unwrap().secret.clone();
    assert_eq!(
        secrets.resolve(&reference).await.unwrap().expose(),
        "rotated-client-secret"
    );
}

#[tokio::test]
async fn a_graph_secret_missing_from_secrets_manager_fails_the_start() {
    let server = MotoServer::shared().unwrap();
    let sandbox = Sandbox::start_default().await.unwrap();
    let (secrets, _) = resolver(server).await;
    let config = config(&sandbox, "aws-sm:runtime-test/no-such-secret#client_secret");
    let error = runtime::graph_client(&config, &secrets).await.unwrap_err();
    match &error {
        SetupError::GraphSecret { reference, source } => {
            assert_eq!(reference, "aws-sm");
            assert!(
                matches!(source, entra_platform::SecretError::NotFound { .. }),
                "{source:?}"
            );
        }
        other => panic!("expected SetupError::GraphSecret, got {other:?}"),
    }
    assert_eq!(token_requests(&sandbox), 0);
}
