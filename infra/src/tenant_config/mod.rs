//! Tenant configuration as code: a declarative file (`tenant.toml`) compared with a tenant through
//! Microsoft Graph, for `entra-hooks plan`, `apply` and `export`.
//!
//! - [`file`]: the file's schema and checks (errors at `file:line:column` with the fix);
//! - [`plan`]: the comparison, over kind-agnostic [`plan::Object`]s, and the table people read
//!   (also the CI job summary);
//! - [`kinds`]: each kind's conversions (file → objects, tenant → objects, change → Graph call).
//!
//! Kinds managed: custom user-flow attributes, social identity providers, user flows (providers,
//! attributes, page, linked applications), custom authentication extensions, authentication event
//! listeners, the default branding's texts and its localizations. The connection is the `[tenant]` and `[graph]`
//! sections of the usual configuration file (other sections are ignored), so the same app
//! registration and secret reference serve the functions and this CLI.

pub mod file;
pub mod kinds;
pub mod plan;

use std::path::Path;

use entra_graph::{ClientCredential, FederatedTokenSource, GraphClient};
use entra_platform::SecretRef;
use entra_platform::config::{
    DEFAULT_AUTHORITY_HOST, DEFAULT_GRAPH_BASE_URL, Guid, HttpUrl, TenantConfig, Validate,
    ValidationReport, load_config_with_env,
};
use serde::Deserialize;

use self::file::TenantFile;
use self::kinds::TenantState;
use self::plan::{Deletes, Plan};

/// The part of the configuration file this CLI needs: which tenant, and how to reach its Graph.
#[derive(Debug, Clone, Deserialize)]
pub struct ConnectionConfig {
    pub tenant: TenantConfig,
    pub graph: ConnectionGraph,
}

/// `[graph]` as the CLI reads it: the functions' section, except that the secret may be left out in
/// CI, where the job's OIDC token signs the app in instead (a federated credential on the app
/// registration, so the pipeline stores no secret).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionGraph {
    pub client_id: Guid,
    #[serde(default)]
    pub authority_host: Option<HttpUrl>,
    #[serde(default)]
    pub base_url: Option<HttpUrl>,
    /// Where the client secret lives; absent (and no certificate): the CI job's federated token.
    #[serde(default)]
    pub secret: Option<SecretRef>,
    /// A certificate credential instead of a secret: the certificate's PEM file (public part, as
    /// uploaded by `bootstrap --certificate`) ...
    #[serde(default)]
    pub certificate: Option<std::path::PathBuf>,
    /// ... and where its private key (PEM) lives.
    #[serde(default)]
    pub private_key: Option<SecretRef>,
}

impl Validate for ConnectionConfig {
    fn validate(&self, report: &mut ValidationReport) {
        self.tenant.validate(report);
        let graph = &self.graph;
        if graph.certificate.is_some() != graph.private_key.is_some() {
            report.invalid(
                "graph.certificate",
                "needs graph.private_key too (and the other way round): the certificate's PEM file and where its key lives",
                None,
            );
        }
        if graph.secret.is_some() && graph.certificate.is_some() {
            report.invalid(
                "graph.secret",
                "and graph.certificate are two credentials; keep one",
                None,
            );
        }
    }
}

/// A Graph client for the tenant in `config` (file plus `ENTRA_HOOKS_*` overrides in `env`): with
/// the `[graph]` secret when there is one, else with the CI job's OIDC token (GitHub Actions'
/// `ACTIONS_ID_TOKEN_REQUEST_*`, or Azure Pipelines'), read through `lookup`.
pub async fn connect<I, K, V>(
    config: &Path,
    env: I,
    lookup: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<GraphClient>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    let config: ConnectionConfig = load_config_with_env(Some(config), env)?;
    let graph = &config.graph;
    if let Some(secret) = &graph.secret {
        let functions_graph = entra_platform::config::GraphConfig {
            client_id: graph.client_id.clone(),
            authority_host: graph.authority_host.clone(),
            base_url: graph.base_url.clone(),
            secret: secret.clone(),
        };
        let secrets = entra_extensions::runtime::secret_resolver([secret]).await;
        return Ok(entra_extensions::runtime::graph_client_for(
            &config.tenant,
            &functions_graph,
            &secrets,
        )
        .await?);
    }
    let credential =
        if let (Some(certificate), Some(private_key)) = (&graph.certificate, &graph.private_key) {
            let cert_pem = std::fs::read_to_string(certificate).map_err(|error| {
                anyhow::anyhow!("[graph] certificate {}: {error}", certificate.display())
            })?;
            let secrets = entra_extensions::runtime::secret_resolver([private_key]).await;
            let key = secrets
                .resolve(private_key)
                .await
                .map_err(|error| anyhow::anyhow!("[graph] private_key: {error}"))?;
            ClientCredential::certificate(cert_pem, key.expose())
        } else {
            ClientCredential::Federated(federated(lookup)?)
        };
    let with_slash = |url: &Option<HttpUrl>, default: &str| {
        let value = url.as_ref().map_or(default, HttpUrl::trimmed);
        format!("{value}/").parse::<url::Url>()
    };
    let graph_config = entra_graph::GraphConfig::new(
        config.tenant.id.to_string(),
        graph.client_id.to_string(),
        credential,
    )
    .with_authority_host(with_slash(&graph.authority_host, DEFAULT_AUTHORITY_HOST)?)
    .with_graph_base_url(with_slash(&graph.base_url, DEFAULT_GRAPH_BASE_URL)?);
    Ok(GraphClient::new(graph_config)?)
}

/// The CI job's OIDC token source, or why there is none.
fn federated(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<FederatedTokenSource> {
    FederatedTokenSource::from_env(lookup)?.ok_or_else(|| {
        anyhow::anyhow!(
            "[graph] has no secret and this is not a CI job with an OIDC token \
             (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN: give the GitHub job `permissions: id-token: write`); \
             set [graph] secret = \"env:VAR\", \"file:…\" or \"aws-sm:…\" to run elsewhere"
        )
    })
}

/// A Graph client for the tenant in `config` calling with `token`, a person's access token obtained
/// elsewhere (only `[graph] base_url` is read from the connection).
pub fn connect_with_token<I, K, V>(
    config: &Path,
    env: I,
    token: &str,
) -> anyhow::Result<GraphClient>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    let config: ConnectionConfig = load_config_with_env(Some(config), env)?;
    let base = config
        .graph
        .base_url
        .as_ref()
        .map_or(DEFAULT_GRAPH_BASE_URL, HttpUrl::trimmed);
    let base: url::Url = format!("{base}/").parse()?;
    let token = entra_graph::DelegatedToken::new(token, None);
    Ok(GraphClient::with_access_token(base, &token)?)
}

/// Why a plan or an apply stopped.
#[derive(Debug, thiserror::Error)]
pub enum TenantConfigError {
    #[error(transparent)]
    File(#[from] file::FileError),
    #[error("reading the tenant through Graph: {0}")]
    Read(#[from] entra_graph::GraphError),
    #[error(
        "the file is for tenant {file} but Graph answers for tenant {connected}; fix [tenant] id or the connection"
    )]
    WrongTenant { file: String, connected: String },
}

/// Reads the tenant and compares it with `file`.
pub async fn plan_file(
    graph: &GraphClient,
    file: &TenantFile,
    deletes: Deletes,
) -> Result<(Plan, TenantState), TenantConfigError> {
    let state = kinds::read_tenant(graph).await?;
    if let Some(wanted) = file.tenant.as_ref().and_then(|tenant| tenant.id.as_deref())
        && !wanted.eq_ignore_ascii_case(&state.org_id)
    {
        return Err(TenantConfigError::WrongTenant {
            file: wanted.to_owned(),
            connected: state.org_id.clone(),
        });
    }
    let plan = plan::plan(
        &kinds::desired(file)?,
        &state.objects,
        &kinds::managed_kinds(file),
        deletes,
    );
    Ok((plan, state))
}

/// What an apply did: every change made, and where it stopped if it did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub applied: Vec<String>,
    pub failed: Option<(String, String)>,
    pub not_applied: Vec<String>,
}

impl ApplyReport {
    /// Every planned change was made.
    pub fn is_complete(&self) -> bool {
        self.failed.is_none()
    }
}

/// Applies `file`: plans, then makes each change in order, telling `progress` before each one. It
/// stops at the first failure; what was applied stays applied, and running it again plans only what
/// is left.
pub async fn apply(
    graph: &GraphClient,
    file: &TenantFile,
    deletes: Deletes,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<ApplyReport, TenantConfigError> {
    let (plan, state) = plan_file(graph, file, deletes).await?;
    let mut writer = kinds::Writer::new(graph, file, &state).await;
    let mut report = ApplyReport::default();
    let total = plan.changes.len();
    let describe = |change: &plan::Change| {
        let action = match change.action {
            plan::Action::Create => "create",
            plan::Action::Update => "update",
            plan::Action::Delete => "delete",
        };
        format!("{action} {} {}", change.kind.name(), change.key)
    };
    let mut changes = plan.changes.iter().enumerate();
    for (index, change) in changes.by_ref() {
        let what = describe(change);
        progress(index + 1, total, &what);
        match writer.write(change).await {
            Ok(()) => report.applied.push(what),
            Err(error) => {
                report.failed = Some((what, error.to_string()));
                break;
            }
        }
    }
    report.not_applied = changes.map(|(_, change)| describe(change)).collect();
    Ok(report)
}

/// The tenant as a file, for `export`.
pub async fn export(graph: &GraphClient) -> Result<String, TenantConfigError> {
    let state = kinds::read_tenant(graph).await?;
    let file = kinds::export_file(&state);
    let body = toml::to_string(&file).unwrap_or_default();
    Ok(format!(
        "# Exported by `entra-hooks export`: the tenant's custom attributes, social identity providers,\n\
         # user flows, custom extensions, listeners and branding.\n\
         # `entra-hooks plan -f` on this file shows no changes.\n{body}"
    ))
}
