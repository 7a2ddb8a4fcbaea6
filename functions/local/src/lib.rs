//! The local host: every function's router on one port, in front of an embedded simulated tenant,
//! so a laptop runs the whole service offline with the same handler code Lambda runs.
//!
//! The functions are configured exactly as in production except for where the tenant lives: the
//! token validator reads discovery and JWKS from the sandbox, over real HTTP. Two routes exist only
//! here, under `/local/`: one mints an Entra-shaped extension token, one serves sample callout
//! bodies, so the ready-to-paste commands printed at start work without any Azure account.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use entra_extensions::CalloutGuard;
use entra_sandbox::{Sandbox, SandboxConfig};
use entra_tokens::{CallerPolicy, KeySet, TokenValidator};
use serde_json::{Value, json};
use token_issuance_start::TokenIssuanceStart;
use tokio::sync::oneshot;

/// Body limit of the local host, the platform default.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the local host needs to start.
#[derive(Debug, Clone)]
pub struct LocalHostOptions {
    /// Where the functions are served (loopback by default).
    pub bind: SocketAddr,
    /// Where the simulated tenant listens; port 0 picks a free one.
    pub sandbox_bind: SocketAddr,
}

impl Default for LocalHostOptions {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 7071)),
            sandbox_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// One route the host serves, for the start-up banner.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub what: &'static str,
}

/// Everything served, in banner order.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/health",
        what: "liveness",
    },
    Route {
        method: "POST",
        path: token_issuance_start::PATH,
        what: "OnTokenIssuanceStart custom claims provider",
    },
    Route {
        method: "GET",
        path: "/local/token",
        what: "mints an extension-callback token from the simulated tenant (local only)",
    },
    Route {
        method: "GET",
        path: "/local/samples/token-issuance-start",
        what: "a sample tokenIssuanceStart callout body for the demo user (local only)",
    },
];

/// A running local host. Dropping it stops the functions and the sandbox.
pub struct LocalHost {
    sandbox: Arc<Sandbox>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl LocalHost {
    /// Starts the sandbox and serves every function router.
    pub async fn start(options: LocalHostOptions) -> anyhow::Result<Self> {
        let sandbox = Arc::new(
            Sandbox::start(SandboxConfig {
                bind: options.sandbox_bind,
                ..SandboxConfig::default()
            })
            .await
            .context("starting the simulated tenant")?,
        );
        let app = app(&sandbox).context("building the function routers")?;
        let listener = tokio::net::TcpListener::bind(options.bind)
            .await
            .with_context(|| {
                format!(
                    "could not listen on {}: is another local host running? Pick another port with --port",
                    options.bind
                )
            })?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "local host stopped");
            }
        });
        Ok(Self {
            sandbox,
            addr,
            shutdown: Some(tx),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:{port}`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The start-up banner: what is served and a command to try it.
    pub fn banner(&self) -> String {
        let base = self.base_url();
        let mut text = String::from("entra-hooks local host\n\n");
        text.push_str(&format!(
            "  simulated tenant  {} (tenant {}, discovery {})\n",
            self.sandbox.url(),
            self.sandbox.tenant_id(),
            self.sandbox.discovery_url()
        ));
        text.push_str(&format!("  functions         {base}\n"));
        for route in ROUTES {
            text.push_str(&format!(
                "    {:<5} {:<40} {}\n",
                route.method, route.path, route.what
            ));
        }
        text.push_str(&format!(
            "\nTry it (a token signed by the simulated tenant, a sample callout body):\n\n  \
             curl -s {base}/local/samples/token-issuance-start | curl -s -X POST {base}{path} \\\n    \
             -H \"Authorization: Bearer $(curl -s {base}/local/token)\" \\\n    \
             -H 'Content-Type: application/json' --data-binary @-\n\n\
             Without the token the same call answers 401.\n",
            path = token_issuance_start::PATH
        ));
        text
    }
}

impl Drop for LocalHost {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The local host's state for its `/local/` routes.
struct LocalRoutes {
    sandbox: Arc<Sandbox>,
    sample: Value,
}

/// Every function router merged, plus health and the local-only helpers.
pub fn app(sandbox: &Arc<Sandbox>) -> anyhow::Result<Router> {
    let http = reqwest::Client::builder()
        .build()
        .context("building the HTTP client")?;
    let config = sandbox.config();
    let policy = CallerPolicy::extension_callback(
        &config.tenant_id,
        vec![
            config.extension_app_id.clone(),
            config.extension_app_id_uri.clone(),
        ],
    );
    let keys = KeySet::new(sandbox.discovery_url(), http);
    let guard = CalloutGuard::new(TokenValidator::new(policy, keys), Vec::new());
    let token_issuance_start = Arc::new(TokenIssuanceStart::new(guard));

    let local = Arc::new(LocalRoutes {
        sandbox: sandbox.clone(),
        sample: sample_token_issuance_start(config),
    });

    Ok(Router::new()
        .route("/health", get(health))
        .merge(token_issuance_start::router(
            token_issuance_start,
            MAX_BODY_BYTES,
        ))
        .merge(
            Router::new()
                .route("/local/token", get(mint_token))
                .route("/local/samples/token-issuance-start", get(sample))
                .with_state(local),
        ))
}

async fn health() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

async fn mint_token(State(local): State<Arc<LocalRoutes>>) -> impl IntoResponse {
    (StatusCode::OK, local.sandbox.extension_token().sign())
}

async fn sample(State(local): State<Arc<LocalRoutes>>) -> impl IntoResponse {
    axum::Json(local.sample.clone())
}

/// A tokenIssuanceStart callout as Entra would send it for the sandbox's demo user.
pub fn sample_token_issuance_start(config: &SandboxConfig) -> Value {
    let tenant = &config.tenant_id;
    json!({
        "type": "microsoft.graph.authenticationEvent.tokenIssuanceStart",
        "source": format!("/tenants/{tenant}/applications/{}", DEMO_CLIENT_APP_ID),
        "data": {
            "@odata.type": "microsoft.graph.onTokenIssuanceStartCalloutData",
            "tenantId": tenant,
            "authenticationEventListenerId": "0c1d2e3f-4a5b-4c6d-8e7f-000000000001",
            "customAuthenticationExtensionId": "0c1d2e3f-4a5b-4c6d-8e7f-000000000002",
            "authenticationContext": {
                "correlationId": "0c1d2e3f-4a5b-4c6d-8e7f-000000000003",
                "client": { "ip": "127.0.0.1", "locale": "en-us", "market": "en-us" },
                "protocol": "OAUTH2.0",
                "clientServicePrincipal": {
                    "id": "0c1d2e3f-4a5b-4c6d-8e7f-000000000004",
                    "appId": DEMO_CLIENT_APP_ID,
                    "appDisplayName": "Contoso Shop",
                    "displayName": "Contoso Shop"
                },
                "resourceServicePrincipal": {
                    "id": "0c1d2e3f-4a5b-4c6d-8e7f-000000000004",
                    "appId": DEMO_CLIENT_APP_ID,
                    "appDisplayName": "Contoso Shop",
                    "displayName": "Contoso Shop"
                },
                "user": {
                    "displayName": "Ava Thompson",
                    "id": entra_sandbox::directory::DEMO_USER_ID,
                    "mail": entra_sandbox::directory::DEMO_USER_EMAIL,
                    "userPrincipalName": format!(
                        "{}@{}.onmicrosoft.com",
                        entra_sandbox::directory::DEMO_USER_ID,
                        config.tenant_name
                    ),
                    "userType": "Member"
                }
            }
        }
    })
}

/// The client application of the demo sign-ins.
pub const DEMO_CLIENT_APP_ID: &str = "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
