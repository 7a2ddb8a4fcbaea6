//! Graph clients for the simulated tenant ([`entra_sandbox::Sandbox`]), configured exactly as
//! production clients are (client secret, authority host, Graph root), so tests, benches and the
//! local host do not each spell the same set-up.

use std::time::Duration;

use entra_sandbox::Sandbox;

use crate::{ClientCredential, GraphClient, GraphConfig, RetryPolicy};

/// The sandbox's app registration with its client secret, Graph at the sandbox's URLs.
pub fn sandbox_config(sandbox: &Sandbox) -> GraphConfig {
    GraphConfig::new(
        sandbox.tenant_id(),
        sandbox.config().graph_client_id.clone(),
        ClientCredential::secret(sandbox.config().graph_client_secret.clone()),
    )
    .with_authority_host(sandbox.url())
    .with_graph_base_url(sandbox.graph_url())
}

/// Retries with millisecond back-off, so tests that meet throttling stay quick.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(10),
        max_total_wait: Duration::from_secs(10),
    }
}

/// A client for the sandbox with [`fast_retry`].
pub fn sandbox_client(sandbox: &Sandbox) -> GraphClient {
    GraphClient::new(sandbox_config(sandbox).with_retry(fast_retry()))
        .expect("a sandbox Graph configuration is valid")
}
