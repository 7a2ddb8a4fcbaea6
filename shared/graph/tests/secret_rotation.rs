//! A client secret read from a [`SecretProvider`]: a secret rotated in the store is picked up after
//! Entra refuses the cached copy (AADSTS7000215 wrong, AADSTS7000222 expired), with exactly one
//! refetch per token request; a fixed secret is never retried that way.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use entra_graph::{
    ClientCredential, GraphClient, GraphError, RetryPolicy, SecretProvider, SecretProviderError,
    SecretString,
};
use entra_sandbox::Sandbox;
use entra_sandbox::directory::DEMO_USER_ID;

/// A secret store with a cache in front, like the platform's Secrets Manager adapter: the cached copy
/// is served until `invalidate`, then the store is read again.
#[derive(Default)]
struct CachedStore {
    store: Mutex<String>,
    cached: Mutex<Option<String>>,
    store_reads: AtomicUsize,
    invalidations: AtomicUsize,
    /// When set, reading the store never finishes (a store that hangs).
    store_hangs: AtomicBool,
    /// When set, reading the store fails transiently (a store that is down).
    store_down: AtomicBool,
}

impl CachedStore {
    fn holding(secret: &str) -> Arc<Self> {
        let store = Self::default();
        *store.store.lock().unwrap() = secret.to_owned();
        Arc::new(store)
    }

    /// A store holding `stored` whose cache still has `cached` (rotated since it was read).
    fn with_stale_cache(stored: &str, cached: &str) -> Arc<Self> {
        let store = Self::holding(stored);
        *store.cached.lock().unwrap() = Some(cached.to_owned());
        store
    }

    fn rotate(&self, secret: &str) {
        *self.store.lock().unwrap() = secret.to_owned();
    }

    fn store_reads(&self) -> usize {
        self.store_reads.load(Ordering::SeqCst)
    }

    fn invalidations(&self) -> usize {
        self.invalidations.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl SecretProvider for CachedStore {
    async fn client_secret(&self) -> Result<SecretString, SecretProviderError> {
        if let Some(cached) = self.cached.lock().unwrap().clone() {
            return Ok(SecretString::new(cached));
        }
        if self.store_hangs.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.store_down.load(Ordering::SeqCst) {
            return Err(SecretProviderError::transient("the store is unreachable"));
        }
        self.store_reads.fetch_add(1, Ordering::SeqCst);
        let value = self.store.lock().unwrap().clone();
        *self.cached.lock().unwrap() = Some(value.clone());
        Ok(SecretString::new(value))
    }

    fn invalidate(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        *self.cached.lock().unwrap() = None;
    }
}

fn token_path(sandbox: &Sandbox) -> String {
    format!("/{}/oauth2/v2.0/token", sandbox.tenant_id())
}

fn provider_client(sandbox: &Sandbox, store: &Arc<CachedStore>) -> GraphClient {
    let credential = ClientCredential::secret_provider(store.clone());
    GraphClient::new(config_with(sandbox, credential)).unwrap()
}

fn token_requests(sandbox: &Sandbox) -> usize {
    requests_to(sandbox, &token_path(sandbox)).len()
}

#[tokio::test]
async fn a_rotated_secret_is_refetched_after_one_refusal() {
    let sandbox = sandbox().await;
    let store = CachedStore::holding(&sandbox.graph_client_secret());
    // No retries at all: the refetch must not depend on (or use up) the retry budget.
    let credential = ClientCredential::secret_provider(store.clone());
    let graph = GraphClient::new(config_with(&sandbox, credential).with_retry(RetryPolicy::none()))
        .unwrap();
    graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    assert_eq!((store.store_reads(), store.invalidations()), (1, 0));
    assert_eq!(token_requests(&sandbox), 1);

    // The secret is rotated in the store and in Entra; the cached Graph token is gone.
    store.rotate("rotated-secret");
    sandbox.set_graph_client_secret("rotated-secret");
    sandbox.revoke_access_tokens();

    let user = graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    assert_eq!(user.id, DEMO_USER_ID);
    // The stale cached secret was sent once and refused, then the store was read again.
    assert_eq!((store.store_reads(), store.invalidations()), (2, 1));
    assert_eq!(token_requests(&sandbox), 3);
    assert_eq!(sandbox.tokens_issued(), 2);

    // The new token and secret serve later calls without further token requests.
    graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    assert_eq!(token_requests(&sandbox), 3);
    assert_eq!(store.invalidations(), 1);
}

#[tokio::test]
async fn a_secret_that_stays_wrong_is_refused_after_exactly_one_refetch() {
    let sandbox = sandbox().await;
    let store = CachedStore::holding("wrong-secret");
    let graph = provider_client(&sandbox, &store);

    let error = graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap_err();
    match &error {
        GraphError::Auth(auth) => {
            assert_eq!(auth.code, Some(7000215));
            assert_eq!(auth.error, "invalid_client");
            assert!(auth.is_secret_rejected());
        }
        other => panic!("expected an AuthError, got {other:?}"),
    }
    assert!(!error.is_transient());
    assert_eq!((store.store_reads(), store.invalidations()), (2, 1));
    assert_eq!(token_requests(&sandbox), 2);
    assert_eq!(sandbox.tokens_issued(), 0);
    assert!(!format!("{error:?} {error}").contains("wrong-secret"));

    // The next call tries again (the refetched copy, still cached), again with exactly one refetch:
    // no loop, and no giving up for good.
    graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap_err();
    assert_eq!((store.store_reads(), store.invalidations()), (3, 2));
    assert_eq!(token_requests(&sandbox), 4);
}

#[tokio::test]
async fn a_fixed_secret_is_not_retried_when_refused() {
    let sandbox = sandbox().await;
    let graph = GraphClient::new(config_with(
        &sandbox,
        ClientCredential::secret(sandbox.graph_client_secret()),
    ))
    .unwrap();
    graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    sandbox.set_graph_client_secret("rotated-secret");
    sandbox.revoke_access_tokens();

    let error = graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap_err();
    assert!(
        matches!(&error, GraphError::Auth(auth) if auth.code == Some(7000215)),
        "{error:?}"
    );
    // One token request before the rotation, one after: the refused secret was not sent again.
    assert_eq!(token_requests(&sandbox), 2);
}

#[tokio::test]
async fn a_provider_secret_accepted_first_time_is_read_once() {
    let sandbox = sandbox().await;
    let store = CachedStore::holding(&sandbox.graph_client_secret());
    let graph = provider_client(&sandbox, &store);
    for _ in 0..3 {
        graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    }
    // Graph rejecting the access token (401) is not the secret's fault: no invalidation.
    sandbox.revoke_access_tokens();
    graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap();
    assert_eq!((store.store_reads(), store.invalidations()), (1, 0));
    assert_eq!(token_requests(&sandbox), 2);
}

#[tokio::test]
async fn a_failing_provider_is_a_typed_error_and_sends_nothing() {
    let sandbox = sandbox().await;
    let store = CachedStore::holding("unused");
    store.store_down.store(true, Ordering::SeqCst);
    let graph = provider_client(&sandbox, &store);
    let error = graph.users().get(DEMO_USER_ID, &["id"]).await.unwrap_err();
    match &error {
        GraphError::SecretProvider(inner) => assert!(inner.is_transient()),
        other => panic!("expected a SecretProvider error, got {other:?}"),
    }
    assert!(error.is_auth());
    assert!(error.is_transient());
    assert_eq!(token_requests(&sandbox), 0);
}

#[tokio::test]
async fn a_refetch_that_hangs_ends_at_the_callers_deadline() {
    let sandbox = sandbox().await;
    let store = CachedStore::with_stale_cache("never-read", "stale-secret");
    store.store_hangs.store(true, Ordering::SeqCst);
    let graph = provider_client(&sandbox, &store);
    let error = graph
        .with_timeout(Duration::from_secs(1))
        .users()
        .get(DEMO_USER_ID, &["id"])
        .await
        .unwrap_err();
    assert!(error.is_deadline_exceeded(), "{error:?}");
    // The stale secret was refused and dropped; the hanging store read is what the deadline cut.
    assert_eq!(store.invalidations(), 1);
    assert_eq!(token_requests(&sandbox), 1);
}

/// A token endpoint answering AADSTS7000222 (expired secret) unless the secret is `fresh-secret`, and
/// a Graph user route accepting the token it issues: the sandbox only knows wrong secrets.
async fn expiring_tenant() -> (url::Url, Arc<AtomicUsize>) {
    use axum::extract::Path;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use axum::{Form, Json, Router};
    use serde_json::json;

    let token_requests = Arc::new(AtomicUsize::new(0));
    let counter = token_requests.clone();
    let app = Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(move |Form(form): Form<HashMap<String, String>>| {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    if form.get("client_secret").map(String::as_str) == Some("fresh-secret") {
                        let body = json!({"token_type": "Bearer", "expires_in": 3600, "access_token": "fake-token"});
                        return (StatusCode::OK, Json(body));
                    }
                    let body = json!({
                        "error": "invalid_client",
                        "error_description": "AADSTS7000222: The provided client secret keys for app 'c0ffee00-1b2c-4d3e-8f9a-0b1c2d3e4f50' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.",
                        "error_codes": [7000222],
                        "timestamp": "2025-02-13 10:17:06Z",
                        "trace_id": "0d4b1f2e-0000-4000-8000-000000000001",
                        "correlation_id": "0d4b1f2e-0000-4000-8000-000000000002"
                    });
                    (StatusCode::UNAUTHORIZED, Json(body))
                }
            }),
        )
        .route(
            "/v1.0/users/{id}",
            get(|Path(id): Path<String>, headers: HeaderMap| async move {
                let bearer = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if bearer == "Bearer fake-token" {
                    (StatusCode::OK, Json(json!({ "id": id })))
                } else {
                    let body = json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}});
                    (StatusCode::UNAUTHORIZED, Json(body))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, token_requests)
}

#[tokio::test]
async fn an_expired_secret_is_refetched_after_7000222() {
    let (url, token_requests) = expiring_tenant().await;
    let store = CachedStore::with_stale_cache("fresh-secret", "expired-secret");
    let config = entra_graph::GraphConfig::new(
        "tenant",
        "c0ffee00-1b2c-4d3e-8f9a-0b1c2d3e4f50",
        ClientCredential::secret_provider(store.clone()),
    )
    .with_authority_host(url.clone())
    .with_graph_base_url(url.join("v1.0/").unwrap())
    .with_retry(fast_retry());
    let graph = GraphClient::new(config).unwrap();
    let user = graph.users().get("user-1", &["id"]).await.unwrap();
    assert_eq!(user.id, "user-1");
    assert_eq!((store.store_reads(), store.invalidations()), (1, 1));
    assert_eq!(token_requests.load(Ordering::SeqCst), 2);
}
