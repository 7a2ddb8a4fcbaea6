//! `entra-hooks serve`: every extension function on one plain HTTP port, for containers (ECS,
//! Kubernetes, Azure Container Apps), a team's own gateway, and load tests.
//!
//! The functions are built exactly as their Lambda entry points build them (`from_config`), from
//! the same platform configuration, secrets and rules file; no simulated tenant is involved. TLS is
//! the fronting load balancer's job, as it is API Gateway's in Lambda: Entra only calls HTTPS.
//!
//! One configuration file serves all five functions. Its sections are the common ones every
//! function reads, plus email-otp-send's `[mailer]`, `[store]` and `[idempotency]`; without
//! `[mailer]` that one function is not served (it has nowhere to send codes), nor password-submit
//! without its `[password_submit]` rules (its private key and legacy store); the start says so.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use email_otp_send::{EmailOtpSendConfig, IdempotencyConfig};
use entra_extensions::rules_file::RulesFile;
use entra_platform::config::{
    AuthConfig, ExtensionConfig, GraphConfig, LimitsConfig, LogConfig, MetricsConfig, TenantConfig,
    ValidationReport,
};
use entra_platform::{CommonConfig, MailerConfig, StoreConfig, Validate};
use serde::Deserialize;
use tokio::net::TcpListener;

/// Where `serve` listens unless told otherwise: loopback, so a forgotten flag exposes nothing.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// The configuration file of `serve`: the sections every function shares plus email-otp-send's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    pub tenant: TenantConfig,
    pub extension: ExtensionConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub graph: Option<GraphConfig>,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub rules: Option<PathBuf>,
    /// `[metrics]`: CloudWatch EMF lines per callout (off outside Lambda unless asked for).
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[mailer]`: where email-otp-send sends codes; without it that function is not served.
    #[serde(default)]
    pub mailer: Option<MailerConfig>,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub idempotency: IdempotencyConfig,
}

impl ServeConfig {
    /// The sections every function reads.
    pub fn common(&self) -> CommonConfig {
        CommonConfig {
            tenant: self.tenant.clone(),
            extension: self.extension.clone(),
            auth: self.auth.clone(),
            graph: self.graph.clone(),
            limits: self.limits.clone(),
            log: self.log.clone(),
            rules: self.rules.clone(),
            metrics: self.metrics,
        }
    }

    /// email-otp-send's configuration, when `[mailer]` says where codes go.
    pub fn email_otp_send(&self) -> Option<EmailOtpSendConfig> {
        Some(EmailOtpSendConfig::from_common(
            self.common(),
            self.mailer.clone()?,
            self.store.clone(),
            self.idempotency.clone(),
        ))
    }
}

impl Validate for ServeConfig {
    fn validate(&self, report: &mut ValidationReport) {
        self.common().validate(report);
        if let Some(mailer) = &self.mailer {
            mailer.validate(report);
        }
        self.store.validate(report);
    }
}

/// What `serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The configuration file (`ENTRA_HOOKS_*` variables override it, as in Lambda).
    pub config: Option<PathBuf>,
    /// The rules file; overrides the configuration's `rules`.
    pub rules: Option<PathBuf>,
    pub bind: SocketAddr,
}

/// The routers built from a configuration, and which functions they serve.
pub struct Served {
    pub router: Router,
    pub functions: Vec<&'static str>,
}

/// Builds every extension function from `config` and `rules`, as their Lambda entry points do.
pub async fn build(config: &ServeConfig, rules: &RulesFile) -> anyhow::Result<Served> {
    let common = config.common();
    let http = entra_platform::https::default_client()
        .context("building the HTTP client for the tenant's signing keys")?;
    let max_body = common.limits.max_body_bytes;
    let start_error = |function: &str| format!("setting up {function}");

    let token_issuance =
        token_issuance_start::TokenIssuanceStart::from_config(&common, rules, http.clone())
            .await
            .map_err(anyhow::Error::from_boxed)
            .with_context(|| start_error("token-issuance-start"))?;
    let collection_start = attribute_collection_start::AttributeCollectionStart::from_config(
        &common,
        rules,
        http.clone(),
    )
    .map_err(anyhow::Error::from_boxed)
    .with_context(|| start_error("attribute-collection-start"))?;
    let collection_submit = attribute_collection_submit::AttributeCollectionSubmit::from_config(
        &common,
        rules,
        http.clone(),
    )
    .await
    .map_err(anyhow::Error::from_boxed)
    .with_context(|| start_error("attribute-collection-submit"))?;

    let mut functions = vec![
        "token-issuance-start",
        "attribute-collection-start",
        "attribute-collection-submit",
    ];
    let mut router = Router::new()
        .route("/health", get(health))
        .merge(token_issuance_start::router(
            Arc::new(token_issuance),
            max_body,
        ))
        .merge(attribute_collection_start::router(
            Arc::new(collection_start),
            max_body,
        ))
        .merge(attribute_collection_submit::router(
            Arc::new(collection_submit),
            max_body,
        ));

    if rules.has_section(password_submit::SECTION) {
        let password = password_submit::PasswordSubmit::from_config(&common, rules, http.clone())
            .await
            .map_err(anyhow::Error::from_boxed)
            .with_context(|| start_error("password-submit"))?;
        router = router.merge(password_submit::router(Arc::new(password), max_body));
        functions.push("password-submit");
    } else {
        tracing::warn!(
            "password-submit is not served: the rules file has no [password_submit] section (its private key and legacy store)"
        );
    }

    match config.email_otp_send() {
        Some(otp_config) => {
            let otp = otp_config
                .build(http)
                .await
                .with_context(|| start_error("email-otp-send"))?;
            router = router.merge(email_otp_send::router(Arc::new(otp), max_body));
            functions.push("email-otp-send");
        }
        None => tracing::warn!(
            "email-otp-send is not served: the configuration has no [mailer] saying where codes go"
        ),
    }
    Ok(Served { router, functions })
}

/// Loads the configuration and rules, serves until SIGTERM or Ctrl-C, then lets requests in
/// flight finish.
pub async fn run(options: ServeOptions) -> anyhow::Result<()> {
    let mut config: ServeConfig = entra_platform::load_config(options.config.as_deref())?;
    if let Some(rules) = options.rules {
        config.rules = Some(rules);
    }
    entra_platform::init_tracing(config.log.format, config.log.level.as_deref())?;
    let rules = load_rules(config.rules.as_deref())?;
    let served = build(&config, &rules).await?;

    let listener = TcpListener::bind(options.bind)
        .await
        .with_context(|| format!("binding {}", options.bind))?;
    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        functions = ?served.functions,
        tenant = %config.tenant.id,
        "serving extension functions"
    );
    // Tests and scripts read this line to learn the port when binding port 0.
    println!("listening on http://{address}");
    axum::serve(listener, served.router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("stopped: every request in flight was answered");
    Ok(())
}

fn load_rules(path: Option<&Path>) -> anyhow::Result<RulesFile> {
    match path {
        Some(path) => Ok(RulesFile::load(path)?),
        None => Ok(RulesFile::empty()),
    }
}

/// Resolves on SIGTERM (what ECS, Kubernetes and `docker stop` send) or Ctrl-C.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("Ctrl-C: stopping"),
        () = terminate => tracing::info!("SIGTERM: stopping"),
    }
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}
