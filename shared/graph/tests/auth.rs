//! Token acquisition and caching against the sandbox's token endpoint (graph-api.md (b)).

mod common;

use std::time::Duration;

use common::*;
use entra_graph::{
    AssertionAlgorithm, ClientCredential, ConfigError, CredentialError, GraphClient, GraphError,
};
use entra_sandbox::directory::DEMO_USER_ID;
use entra_sandbox::faults::{Fault, FaultRule};

fn token_path(sandbox: &entra_sandbox::Sandbox) -> String {
    format!("/{}/oauth2/v2.0/token", sandbox.tenant_id())
}

#[tokio::test]
async fn secret_credential_reads_a_user() {
    let sandbox = sandbox().await;
    let user = client(&sandbox)
        .users()
        .get(DEMO_USER_ID, &[])
        .await
        .unwrap();
    assert_eq!(user.id, DEMO_USER_ID);
    assert_eq!(user.display_name.as_deref(), Some("Ava Thompson"));
    assert_eq!(sandbox.tokens_issued(), 1);
}

async fn certificate_round_trip(algorithm: AssertionAlgorithm) {
    let sandbox = sandbox().await;
    let (cert_pem, key_pem) = certificate();
    let client_id = sandbox.config().graph_client_id.clone();
    sandbox
        .register_client_certificate(&client_id, &cert_pem)
        .unwrap();
    let credential = ClientCredential::Certificate {
        cert_pem,
        private_key_pem: key_pem.into(),
        algorithm,
    };
    let graph = GraphClient::new(config_with(&sandbox, credential)).unwrap();
    let user = graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    assert_eq!(user.id, DEMO_USER_ID);
    assert_eq!(sandbox.tokens_issued(), 1);
}

#[tokio::test]
async fn certificate_credential_with_ps256_and_x5t_s256() {
    certificate_round_trip(AssertionAlgorithm::Ps256).await;
}

#[tokio::test]
async fn certificate_credential_with_legacy_rs256_and_x5t() {
    certificate_round_trip(AssertionAlgorithm::Rs256).await;
}

#[tokio::test]
async fn each_token_request_carries_a_fresh_assertion() {
    let sandbox = sandbox_with(|c| c.access_token_lifetime_secs = 60).await;
    let (cert_pem, key_pem) = certificate();
    let client_id = sandbox.config().graph_client_id.clone();
    sandbox
        .register_client_certificate(&client_id, &cert_pem)
        .unwrap();
    let config = config_with(&sandbox, ClientCredential::certificate(cert_pem, key_pem))
        .with_token_refresh_margin(Duration::from_secs(120));
    let graph = GraphClient::new(config).unwrap();
    graph.users().get(DEMO_USER_ID, &[]).await.unwrap();
    sandbox.revoke_access_tokens();
    // Revoked token -> 401 -> new token with a new assertion (a reused jti would be refused).
    graph.users().get(DEMO_USER_ID, &[]).await.unwrap();
    assert_eq!(sandbox.tokens_issued(), 2);
}

#[tokio::test]
async fn unregistered_certificate_is_refused_with_700027() {
    let sandbox = sandbox().await;
    let (registered, _) = certificate();
    let (cert_pem, key_pem) = certificate();
    let client_id = sandbox.config().graph_client_id.clone();
    sandbox
        .register_client_certificate(&client_id, &registered)
        .unwrap();
    let graph = GraphClient::new(config_with(
        &sandbox,
        ClientCredential::certificate(cert_pem, key_pem),
    ))
    .unwrap();
    match graph.users().get(DEMO_USER_ID, &[]).await {
        Err(GraphError::Auth(error)) => {
            assert_eq!(error.code, Some(700027));
            assert!(error.is_invalid_client());
        }
        other => panic!("expected an AuthError, got {other:?}"),
    }
}

#[tokio::test]
async fn key_that_does_not_match_the_certificate_is_a_config_error() {
    let sandbox = sandbox().await;
    let (cert_pem, _) = certificate();
    let (_, other_key) = certificate();
    let result = GraphClient::new(config_with(
        &sandbox,
        ClientCredential::certificate(cert_pem, other_key),
    ));
    assert!(matches!(
        result,
        Err(ConfigError::Credential(CredentialError::KeyMismatch))
    ));
}

#[tokio::test]
async fn wrong_secret_is_a_typed_auth_error() {
    let sandbox = sandbox().await;
    let graph = GraphClient::new(config_with(&sandbox, ClientCredential::secret("wrong"))).unwrap();
    let error = graph.users().get(DEMO_USER_ID, &[]).await.unwrap_err();
    match &error {
        GraphError::Auth(auth) => {
            assert_eq!(auth.code, Some(7000215));
            assert_eq!(auth.error, "invalid_client");
            assert_eq!(auth.status, 401);
            assert!(auth.correlation_id.is_some());
        }
        other => panic!("expected an AuthError, got {other:?}"),
    }
    assert!(error.is_auth());
    assert!(!error.is_transient());
    assert!(!format!("{error:?}").contains(&sandbox.config().graph_client_secret));
}

#[tokio::test]
async fn unknown_tenant_is_90002() {
    let sandbox = sandbox().await;
    let mut config = secret_config(&sandbox);
    config.tenant_id = "no-such-tenant".into();
    let error = GraphClient::new(config)
        .unwrap()
        .users()
        .get(DEMO_USER_ID, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(error, GraphError::Auth(ref e) if e.code == Some(90002)),
        "{error:?}"
    );
}

#[tokio::test]
async fn token_is_reused_across_calls() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    for _ in 0..5 {
        graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    }
    assert_eq!(sandbox.tokens_issued(), 1);
    assert_eq!(requests_to(&sandbox, &token_path(&sandbox)).len(), 1);
}

#[tokio::test]
async fn token_is_refreshed_inside_the_margin_before_it_expires() {
    // Lifetime 60 s and margin 120 s: every token is already "due", yet still valid.
    let sandbox = sandbox_with(|c| c.access_token_lifetime_secs = 60).await;
    let config = secret_config(&sandbox).with_token_refresh_margin(Duration::from_secs(120));
    let graph = GraphClient::new(config).unwrap();
    graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    assert_eq!(sandbox.tokens_issued(), 1);
    // The still-valid token serves this call while one refresh runs in the background.
    graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    assert!(eventually(|| sandbox.tokens_issued() == 2).await);
    graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    assert!(sandbox.tokens_issued() <= 3);
}

#[tokio::test]
async fn token_outside_the_margin_is_not_refreshed() {
    let sandbox = sandbox_with(|c| c.access_token_lifetime_secs = 3600).await;
    let config = secret_config(&sandbox).with_token_refresh_margin(Duration::from_secs(3000));
    let graph = GraphClient::new(config).unwrap();
    for _ in 0..3 {
        graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    }
    tokio::task::yield_now().await;
    assert_eq!(sandbox.tokens_issued(), 1);
}

#[tokio::test]
async fn rejected_token_is_replaced_once() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    sandbox.revoke_access_tokens();
    graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    assert_eq!(sandbox.tokens_issued(), 2);
    let graph_calls = requests_to(&sandbox, "/v1.0/");
    assert_eq!(
        graph_calls.len(),
        3,
        "one 401, then the retry with the new token"
    );
}

#[tokio::test]
async fn concurrent_calls_share_one_token_request() {
    let sandbox = sandbox().await;
    // Slow token endpoint, so every caller arrives while the first request is still in flight.
    sandbox.faults().add(FaultRule::new(
        token_path(&sandbox),
        Fault::Delay(Duration::from_millis(200)),
        None,
    ));
    let graph = client(&sandbox);
    let calls = (0..20).map(|_| {
        let graph = graph.clone();
        tokio::spawn(async move { graph.users().get(DEMO_USER_ID, &["id"]).await })
    });
    for call in futures::future::join_all(calls).await {
        call.unwrap().unwrap();
    }
    assert_eq!(sandbox.tokens_issued(), 1);
    assert_eq!(requests_to(&sandbox, &token_path(&sandbox)).len(), 1);
}

#[tokio::test]
async fn token_endpoint_outage_is_retried() {
    let sandbox = sandbox().await;
    sandbox.faults().add(FaultRule::new(
        token_path(&sandbox),
        Fault::ServiceUnavailable { retry_after: None },
        Some(2),
    ));
    client(&sandbox)
        .users()
        .get(DEMO_USER_ID, &["id"])
        .await
        .unwrap();
    assert_eq!(requests_to(&sandbox, &token_path(&sandbox)).len(), 3);
    assert_eq!(sandbox.tokens_issued(), 1);
}

#[tokio::test]
async fn config_debug_hides_the_secret() {
    let sandbox = sandbox().await;
    let config = secret_config(&sandbox);
    let shown = format!("{config:?} {:?}", GraphClient::new(config.clone()).unwrap());
    assert!(!shown.contains(&sandbox.config().graph_client_secret));
}
