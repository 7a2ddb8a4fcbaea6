//! Shared setup: a real sandbox tenant on loopback and clients configured against it.
#![allow(dead_code)]

use std::time::Duration;

use entra_graph::{ClientCredential, GraphClient, GraphConfig, RetryPolicy};
use entra_sandbox::{Sandbox, SandboxConfig};

/// Retries with millisecond backoff so tests stay quick.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(10),
        max_total_wait: Duration::from_secs(10),
    }
}

pub async fn sandbox() -> Sandbox {
    Sandbox::start_default().await.unwrap()
}

pub async fn sandbox_with(configure: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut config = SandboxConfig::default();
    configure(&mut config);
    Sandbox::start(config).await.unwrap()
}

/// A configuration pointing at the sandbox with `credential`.
pub fn config_with(sandbox: &Sandbox, credential: ClientCredential) -> GraphConfig {
    GraphConfig::new(
        sandbox.tenant_id(),
        sandbox.config().graph_client_id.clone(),
        credential,
    )
    .with_authority_host(sandbox.url())
    .with_graph_base_url(sandbox.graph_url())
    .with_retry(fast_retry())
}

/// The sandbox's Graph client secret configuration.
pub fn secret_config(sandbox: &Sandbox) -> GraphConfig {
    let secret = sandbox.config().graph_client_secret.clone();
    config_with(sandbox, ClientCredential::secret(secret))
}

pub fn client(sandbox: &Sandbox) -> GraphClient {
    GraphClient::new(secret_config(sandbox)).unwrap()
}

/// Requests the sandbox received under `path_prefix` (Graph or token endpoint).
pub fn requests_to(
    sandbox: &Sandbox,
    path_prefix: &str,
) -> Vec<entra_sandbox::faults::RecordedRequest> {
    sandbox
        .request_log()
        .into_iter()
        .filter(|r| r.path().starts_with(path_prefix))
        .collect()
}

/// Waits (bounded) until `condition` holds; for effects of background work such as a token refresh.
pub async fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}

/// A self-signed RSA certificate and its PKCS#8 private key, as PEM.
pub fn certificate() -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["entra-hooks-graph-client".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}
