//! A simulated Microsoft Entra External ID tenant, served over real HTTP on loopback.
//!
//! Tests and the local host start one in-process ([`Sandbox::start`], port 0) and point our production
//! code at its URLs exactly as they would point it at Microsoft: OIDC discovery and JWKS
//! (`/{tenant}/v2.0/.well-known/openid-configuration`), the client-credentials token endpoint
//! (`/{tenant}/oauth2/v2.0/token`) and a stateful subset of Microsoft Graph (`/v1.0/...`).
//! Nothing here is a mock of our own traits: the code under test speaks the same protocol it
//! speaks in production, and fault injection ([`faults`]) reproduces Graph's and Entra's failure modes.
//!
//! Contracts reproduced: docs/protocols/extension-callbacks.md (b) for extension-callback tokens,
//! docs/protocols/graph-api.md (b) for token acquisition and (c) for Graph conventions,
//! docs/protocols/change-notifications.md (C) for notification validation tokens and (A, B, D) for
//! change-notification subscriptions and webhook deliveries ([`subscriptions`]).

pub mod arm;
pub mod audit_logs;
pub mod directory;
pub mod faults;
pub mod identity;
pub mod password_context;
pub mod subscriptions;
pub mod tenant_config;
pub mod token_endpoint;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::sync::oneshot;
use url::Url;

pub use audit_logs::{AuditLogs, AuditStream};
pub use faults::{Fault, FaultRule};
pub use identity::{IssuerKind, SigningAlgorithm, TokenBuilder};
pub use subscriptions::{
    DeliveryAttempt, DeliveryKind, LifecycleEvent, RetryPolicy, Subscription, Subscriptions,
};

/// The first-party application Entra uses to call custom authentication extensions (`azp`/`appid`).
pub const ENTRA_EXTENSION_CALLER_APP_ID: &str = "99045fe1-7639-4a75-9d4a-577b6ca3810f";
/// The Microsoft Graph Change Tracking application that signs notification validation tokens.
pub const GRAPH_CHANGE_TRACKING_APP_ID: &str = "0bf30f3b-4a52-48df-9a82-234910c4a086";

/// Who the simulated tenant is and which applications are registered in it.
///
/// The defaults are a complete demo tenant, so `SandboxConfig::default()` is all a test needs.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Address to listen on; port 0 picks a free port. Always loopback.
    pub bind: SocketAddr,
    /// Directory (tenant) id, a GUID.
    pub tenant_id: String,
    /// Tenant subdomain, as in `{tenant_name}.ciamlogin.com` and `{tenant_name}.onmicrosoft.com`.
    pub tenant_name: String,
    /// Client id of the app registration that protects our extension API (the token audience).
    pub extension_app_id: String,
    /// App ID URI of that registration (`api://{fqdn}/{appId}`), the v1 audience.
    pub extension_app_id_uri: String,
    /// Our confidential client used for Graph (app-only), and its secret.
    pub graph_client_id: String,
    pub graph_client_secret: String,
    /// Lifetime of access tokens issued by the token endpoint, in seconds (Entra: 3600-5400).
    pub access_token_lifetime_secs: u64,
    /// Seed the directory with demo users and groups.
    pub seed_demo_data: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            tenant_id: "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93".into(),
            tenant_name: "entrahooksdemo".into(),
            extension_app_id: "7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13".into(),
            extension_app_id_uri: "api://localhost/7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13".into(),
            graph_client_id: "c0ffee00-1b2c-4d3e-8f9a-0b1c2d3e4f50".into(),
            graph_client_secret: "sandbox-only-secret".into(),
            access_token_lifetime_secs: 3600,
            seed_demo_data: true,
        }
    }
}

/// Why the sandbox could not start or could not do what a test asked.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not bind the sandbox to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("key generation failed: {0}")]
    Crypto(String),
    #[error("invalid sandbox input: {0}")]
    Invalid(String),
}

/// Shared state behind every route.
pub struct SandboxState {
    pub config: SandboxConfig,
    /// Base URL the server is reachable at (`http://127.0.0.1:{port}`), no trailing slash.
    pub base_url: String,
    pub identity: identity::IdentityState,
    pub directory: directory::DirectoryState,
    /// Directory audits and sign-in logs (`/v1.0/auditLogs/...`).
    pub audit_logs: audit_logs::AuditLogs,
    pub token_endpoint: token_endpoint::TokenEndpointState,
    pub faults: faults::FaultRules,
    /// Change-notification subscriptions (`/v1.0/subscriptions`) and their webhook deliveries.
    pub subscriptions: subscriptions::Subscriptions,
    /// Azure Resource Manager's ciamDirectories and the device-code sign-in ([`arm`]).
    pub arm: arm::ArmState,
    /// CI OIDC tokens and federated identity credentials ([`arm::CiFederation`]).
    pub ci: arm::CiFederation,
    /// Organization branding, custom authentication extensions and listeners, app registrations.
    pub tenant_config: Arc<tenant_config::TenantConfigState>,
}

/// A running simulated tenant. Dropping it stops the server.
pub struct Sandbox {
    state: Arc<SandboxState>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Sandbox {
    /// Binds, seeds and serves the tenant in a background task; returns once it accepts connections.
    pub async fn start(config: SandboxConfig) -> Result<Self, SandboxError> {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| SandboxError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
            addr: config.bind,
            source,
        })?;
        let base_url = format!("http://{addr}");
        let identity = identity::IdentityState::new(&config)?;
        let directory = directory::DirectoryState::new(&config);
        let audit_logs = audit_logs::AuditLogs::new(&config);
        let subscriptions = subscriptions::Subscriptions::new(&config)?;
        let arm = arm::ArmState::new(&config);
        let tenant_config = Arc::new(tenant_config::TenantConfigState::new(&config));
        let state = Arc::new(SandboxState {
            config,
            base_url,
            identity,
            directory,
            audit_logs,
            token_endpoint: token_endpoint::TokenEndpointState::new(),
            faults: faults::FaultRules::default(),
            subscriptions,
            arm,
            ci: arm::CiFederation::default(),
            tenant_config,
        });
        let app = router(state.clone());
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self {
            state,
            addr,
            shutdown: Some(tx),
        })
    }

    /// Starts a sandbox with the default demo tenant.
    pub async fn start_default() -> Result<Self, SandboxError> {
        Self::start(SandboxConfig::default()).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:{port}/`: the authority host for token requests (`{url}{tenant}/oauth2/v2.0/token`).
    pub fn url(&self) -> Url {
        Url::parse(&format!("{}/", self.state.base_url)).expect("loopback URL is valid")
    }

    /// Graph root to give the Graph client (`{url}v1.0/`), as `https://graph.microsoft.com/v1.0/` in production.
    pub fn graph_url(&self) -> Url {
        self.url().join("v1.0/").expect("relative URL is valid")
    }

    /// OIDC discovery of the tenant, as `https://{name}.ciamlogin.com/{tid}/v2.0/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> Url {
        self.url()
            .join(&format!(
                "{}/v2.0/.well-known/openid-configuration",
                self.state.config.tenant_id
            ))
            .expect("relative URL is valid")
    }

    /// OIDC discovery of the multi-tenant `common` authority (used for Graph notification tokens).
    pub fn common_discovery_url(&self) -> Url {
        self.url()
            .join("common/v2.0/.well-known/openid-configuration")
            .expect("relative URL is valid")
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.state.config
    }

    pub fn tenant_id(&self) -> &str {
        &self.state.config.tenant_id
    }

    /// The state behind the routes, for tests that inspect or change the tenant directly.
    pub fn state(&self) -> &Arc<SandboxState> {
        &self.state
    }

    /// Per-route fault injection.
    pub fn faults(&self) -> &faults::FaultRules {
        &self.state.faults
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The whole tenant as one router: identity endpoints, Graph, and the fault layer in front of both.
pub fn router(state: Arc<SandboxState>) -> Router {
    Router::new()
        .merge(identity::router())
        .merge(token_endpoint::router())
        .merge(directory::router())
        .merge(arm::router())
        .merge(arm::ci_router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::inject,
        ))
        .with_state(state)
}
