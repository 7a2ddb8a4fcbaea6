//! Building what a deployed extension function needs once per execution environment, from the
//! platform configuration: the Graph client (secret resolved at init, so the first callout does not
//! pay a Secrets Manager round trip inside Entra's timeout) and the rules file.

use std::path::PathBuf;

use entra_graph::{ClientCredential, GraphClient, GraphConfig};
use std::sync::Arc;

use entra_platform::secrets::AwsSecretsManager;
use entra_platform::{CommonConfig, SecretRef, SecretResolver};

use crate::rules_file::{RulesError, RulesFile};

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

/// The Graph client described by `[graph]`, or `None` when the section is absent.
pub async fn graph_client(
    config: &CommonConfig,
    secrets: &SecretResolver,
) -> Result<Option<GraphClient>, SetupError> {
    let Some(graph) = &config.graph else {
        return Ok(None);
    };
    let secret =
        secrets
            .resolve(&graph.secret)
            .await
            .map_err(|source| SetupError::GraphSecret {
                reference: graph.secret.scheme().to_owned(),
                source,
            })?;
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
        config.tenant.id.to_string(),
        graph.client_id.to_string(),
        ClientCredential::secret(secret.expose()),
    )
    .with_authority_host(url("authority_host", graph.authority_host())?)
    .with_graph_base_url(url("base_url", graph.base_url())?);
    Ok(Some(GraphClient::new(graph_config)?))
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
