//! Shared test fixtures: validators wired to a sandbox tenant, and a tiny controllable JWKS host.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use entra_sandbox::Sandbox;
use entra_tokens::{CallerPolicy, KeySet, KeySetOptions, TokenValidator};
use tokio::sync::oneshot;
use url::Url;

/// The extension-callback validator a function would build for the sandbox tenant.
pub fn extension_validator(sandbox: &Sandbox, options: KeySetOptions) -> TokenValidator {
    let keys = KeySet::with_options(sandbox.discovery_url(), reqwest::Client::new(), options);
    TokenValidator::new(extension_policy(sandbox), keys)
}

pub fn extension_policy(sandbox: &Sandbox) -> CallerPolicy {
    let config = sandbox.config();
    CallerPolicy::extension_callback(
        sandbox.tenant_id(),
        vec![
            config.extension_app_id.clone(),
            config.extension_app_id_uri.clone(),
        ],
    )
}

/// The Graph notification validator: `common` keys, our Graph client id as audience.
pub fn graph_validator(sandbox: &Sandbox) -> TokenValidator {
    let keys = KeySet::new(sandbox.common_discovery_url(), reqwest::Client::new());
    let policy = CallerPolicy::graph_notification(
        vec![sandbox.tenant_id().to_owned()],
        vec![sandbox.config().graph_client_id.clone()],
    );
    TokenValidator::new(policy, keys)
}

/// Options for tests that must see every refetch (no rate limit, no backoff).
pub fn eager_options() -> KeySetOptions {
    KeySetOptions::default()
        .with_min_refresh_interval(Duration::ZERO)
        .with_failure_backoff(Duration::ZERO)
}

/// How the [`KeyHost`] answers JWKS requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum JwksMode {
    /// Serves the configured JWKS.
    Up = 0,
    /// HTTP 503.
    Unavailable = 1,
    /// 200 with a body that is not JSON.
    Garbage = 2,
    /// 200 with a JSON document of the wrong shape.
    WrongShape = 3,
    /// 200 with a 1 MiB body.
    Oversized = 4,
}

struct HostState {
    base_url: String,
    jwks: Mutex<String>,
    mode: AtomicU8,
    /// Added latency per response, to hold a fetch in flight while other callers pile up.
    delay_ms: AtomicU64,
    jwks_fetches: AtomicUsize,
    discovery_fetches: AtomicUsize,
}

/// A tiny discovery + JWKS server on loopback whose answers a test controls.
pub struct KeyHost {
    state: Arc<HostState>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl KeyHost {
    pub async fn start(jwks: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(HostState {
            base_url: format!("http://{addr}"),
            jwks: Mutex::new(jwks),
            mode: AtomicU8::new(JwksMode::Up as u8),
            delay_ms: AtomicU64::new(0),
            jwks_fetches: AtomicUsize::new(0),
            discovery_fetches: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route(
                "/tenant/v2.0/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/tenant/keys", get(keys))
            .with_state(state.clone());
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            state,
            addr,
            shutdown: Some(tx),
        }
    }

    /// Serves a copy of the sandbox's current tenant JWKS.
    pub async fn mirroring(sandbox: &Sandbox) -> Self {
        Self::start(sandbox_jwks(sandbox).await).await
    }

    pub fn discovery_url(&self) -> Url {
        format!(
            "http://{}/tenant/v2.0/.well-known/openid-configuration",
            self.addr
        )
        .parse()
        .unwrap()
    }

    pub fn set_mode(&self, mode: JwksMode) {
        self.state.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Every response waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap();
        self.state.delay_ms.store(millis, Ordering::SeqCst);
    }

    pub fn set_jwks(&self, jwks: String) {
        *self.state.jwks.lock().unwrap() = jwks;
    }

    pub fn jwks_fetch_count(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn discovery_fetch_count(&self) -> usize {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }
}

impl Drop for KeyHost {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl HostState {
    async fn delay(&self) {
        let millis = self.delay_ms.load(Ordering::SeqCst);
        if millis > 0 {
            tokio::time::sleep(Duration::from_millis(millis)).await;
        }
    }
}

async fn discovery(State(state): State<Arc<HostState>>) -> Response {
    state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    state.delay().await;
    axum::Json(serde_json::json!({
        "issuer": "https://example.invalid/",
        "jwks_uri": format!("{}/tenant/keys", state.base_url),
    }))
    .into_response()
}

async fn keys(State(state): State<Arc<HostState>>) -> Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    state.delay().await;
    let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
    match state.mode.load(Ordering::SeqCst) {
        0 => (json, state.jwks.lock().unwrap().clone()).into_response(),
        1 => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        2 => (json, "<html>upstream error</html>").into_response(),
        3 => (json, r#"{"keys": "none today"}"#).into_response(),
        _ => (
            json,
            format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(1 << 20)),
        )
            .into_response(),
    }
}

/// The sandbox tenant's JWKS document, as served.
pub async fn sandbox_jwks(sandbox: &Sandbox) -> String {
    let url = sandbox
        .url()
        .join(&format!("{}/discovery/v2.0/keys", sandbox.tenant_id()))
        .unwrap();
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// A loopback URL with nothing listening behind it.
pub async fn dead_discovery_url() -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/tenant/v2.0/.well-known/openid-configuration")
        .parse()
        .unwrap()
}
