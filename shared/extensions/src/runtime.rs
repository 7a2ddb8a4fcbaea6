//! Building what a deployed extension function needs once per execution environment, from the
//! platform configuration: the Graph client and the rules file.
//!
//! The Graph client secret is resolved at init, so a bad reference fails the start and the first
//! callout does not pay a Secrets Manager round trip inside Entra's timeout. The client then reads it
//! through the same [`SecretResolver`] before each token request (its cache answers, refreshing after
//! its TTL), and when Entra refuses it as wrong or expired the cached copy is dropped and the secret
//! read again: a secret rotated in AWS Secrets Manager is picked up without a cold start.

use std::path::PathBuf;
use std::sync::Arc;

use entra_graph::{
    ClientCredential, GraphClient, GraphConfig, SecretProvider, SecretProviderError, SecretString,
};
use entra_platform::config::TenantConfig;
use entra_platform::secrets::AwsSecretsManager;
use entra_platform::{CommonConfig, SecretRef, SecretResolver};

use crate::rules_file::{RulesError, RulesFile};

/// Why a function's state could not be built at start: each function's own setup errors, shown
/// once with what to fix (the Lambda runtime and `entra-hooks serve` print it and exit).
pub type StartError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Environment variable naming the rules file in Lambda (e.g. `/opt/rules.toml` from a layer): the
/// platform configuration's `rules` key.
pub const RULES_PATH_ENV: &str = "ENTRA_HOOKS_RULES";

/// Why a function could not be set up. Shown once at start, with what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("resolving the Graph client secret ({reference}): {source}")]
    GraphSecret {
        reference: String,
        source: entra_platform::SecretError,
    },
    #[error("graph.{key} is not a usable URL ({value}): {source}")]
    GraphUrl {
        key: &'static str,
        value: String,
        source: url::ParseError,
    },
    #[error("building the Graph client: {0}")]
    GraphClient(#[from] entra_graph::ConfigError),
    #[error(transparent)]
    Rules(#[from] RulesError),
}

/// A resolver for `env:` and `file:` references, plus AWS Secrets Manager when any of `references`
/// lives there (the AWS configuration is loaded only then: no cost for functions that do not need it).
pub async fn secret_resolver<'a>(
    references: impl IntoIterator<Item = &'a SecretRef>,
) -> SecretResolver {
    let resolver = SecretResolver::new();
    let needs_aws = references
        .into_iter()
        .any(|reference| matches!(reference, SecretRef::AwsSecretsManager { .. }));
    if !needs_aws {
        return resolver;
    }
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    resolver.with_aws_secrets_manager(Arc::new(AwsSecretsManager::from_sdk_config(&sdk)))
}

/// The `[graph] secret`, read through the process's [`SecretResolver`] whenever the Graph client
/// needs a token, and dropped from the resolver's cache when Entra refuses it.
struct ConfiguredGraphSecret {
    secrets: SecretResolver,
    reference: SecretRef,
}

#[async_trait::async_trait]
impl SecretProvider for ConfiguredGraphSecret {
    async fn client_secret(&self) -> Result<SecretString, SecretProviderError> {
        match self.secrets.resolve(&self.reference).await {
            Ok(value) => Ok(SecretString::new(value.expose())),
            Err(error) if error.is_transient() => Err(SecretProviderError::transient(error)),
            Err(error) => Err(SecretProviderError::permanent(error)),
        }
    }

    fn invalidate(&self) {
        tracing::info!(
            reference = %self.reference,
            "Entra refused the Graph client secret; reading it again from its store"
        );
        self.secrets.invalidate(&self.reference);
    }
}

/// The Graph client described by `[graph]`, or `None` when the section is absent.
///
/// The secret is resolved here once (a bad reference is a [`SetupError::GraphSecret`] now, and the
/// resolver's cache is warm for the first token request); the client then reads it through
/// `secrets` on every token request and refetches it once when Entra refuses it (see the module
/// documentation).
pub async fn graph_client(
    config: &CommonConfig,
    secrets: &SecretResolver,
) -> Result<Option<GraphClient>, SetupError> {
    match &config.graph {
        Some(graph) => graph_client_for(&config.tenant, graph, secrets)
            .await
            .map(Some),
        None => Ok(None),
    }
}

/// The Graph client for `tenant` described by a `[graph]` section, for functions whose
/// configuration is not an extension's (scheduled jobs, the CLI); see [`graph_client`].
pub async fn graph_client_for(
    tenant: &TenantConfig,
    graph: &entra_platform::config::GraphConfig,
    secrets: &SecretResolver,
) -> Result<GraphClient, SetupError> {
    secrets
        .resolve(&graph.secret)
        .await
        .map_err(|source| SetupError::GraphSecret {
            reference: graph.secret.scheme().to_owned(),
            source,
        })?;
    let provider = ConfiguredGraphSecret {
        secrets: secrets.clone(),
        reference: graph.secret.clone(),
    };
    let url = |key: &'static str, value: &str| {
        let with_slash = format!("{}/", value.trim_end_matches('/'));
        with_slash
            .parse::<url::Url>()
            .map_err(|source| SetupError::GraphUrl {
                key,
                value: value.to_owned(),
                source,
            })
    };
    let graph_config = GraphConfig::new(
        tenant.id.to_string(),
        graph.client_id.to_string(),
        ClientCredential::secret_provider(Arc::new(provider)),
    )
    .with_authority_host(url("authority_host", graph.authority_host())?)
    .with_graph_base_url(url("base_url", graph.base_url())?);
    let builder =
        entra_platform::https::client_builder(entra_platform::https::TrustRoots::from_env());
    Ok(GraphClient::with_client_builder(graph_config, builder)?)
}

/// The Graph client described by `[graph]` when `needed` (a rule reads the directory), its secret
/// resolved now, at init, so no callout pays a Secrets Manager round trip inside Entra's timeout
/// (and refetched when Entra refuses it, see [`graph_client`]).
/// `None` when not needed: no secret is resolved and no AWS configuration loaded.
pub async fn graph_client_if_needed(
    config: &CommonConfig,
    needed: bool,
) -> Result<Option<GraphClient>, SetupError> {
    if !needed {
        return Ok(None);
    }
    let secrets = secret_resolver(config.graph.iter().map(|graph| &graph.secret)).await;
    graph_client(config, &secrets).await
}

/// The rules file named by the configuration's `rules` key (`ENTRA_HOOKS_RULES`), or an empty one
/// (every function on its defaults).
pub fn rules_file(config: &CommonConfig) -> Result<RulesFile, SetupError> {
    match &config.rules {
        Some(path) => Ok(RulesFile::load(path)?),
        None => Ok(RulesFile::empty()),
    }
}

/// The directory relative paths inside the rules file resolve from (its own directory).
pub fn rules_dir(config: &CommonConfig) -> Option<PathBuf> {
    config
        .rules
        .as_deref()
        .and_then(|path| path.parent())
        .map(|dir| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use entra_platform::config::load_config_with_env;

    use super::*;

    /// A configuration whose `[graph]` secret lives in an environment variable nobody sets.
    fn config_with_unresolvable_graph_secret() -> CommonConfig {
        load_config_with_env(
            None,
            [
                (
                    "ENTRA_HOOKS_TENANT__ID",
                    "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93",
                ),
                ("ENTRA_HOOKS_TENANT__NAME", "contoso"),
                (
                    "ENTRA_HOOKS_EXTENSION__APP_ID",
                    "7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13",
                ),
                (
                    "ENTRA_HOOKS_GRAPH__CLIENT_ID",
                    "0f0e0d0c-0b0a-4909-8807-060504030201",
                ),
                (
                    "ENTRA_HOOKS_GRAPH__SECRET",
                    "env:ENTRA_HOOKS_RUNTIME_TEST_NEVER_SET",
                ),
            ],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_graph_secret_is_resolved_only_when_a_rule_needs_graph() {
        let config = config_with_unresolvable_graph_secret();
        assert!(config.graph.is_some());
        assert!(
            graph_client_if_needed(&config, false)
                .await
                .unwrap()
                .is_none()
        );
        let error = graph_client_if_needed(&config, true).await.unwrap_err();
        assert!(matches!(error, SetupError::GraphSecret { .. }), "{error}");
    }
}
