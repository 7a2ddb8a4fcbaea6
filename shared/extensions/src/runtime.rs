//! Building what a deployed extension function needs once per execution environment, from the
//! platform configuration: the Graph client (secret resolved at init, so the first callout does not
//! pay a Secrets Manager round trip inside Entra's timeout) and the rules file.

use std::path::PathBuf;

use entra_graph::{ClientCredential, GraphClient, GraphConfig};
use entra_platform::{CommonConfig, SecretResolver};

use crate::rules_file::{RulesError, RulesFile};

/// Environment variable naming the rules file in Lambda (e.g. `/opt/rules.toml` from a layer).
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

/// The rules file named by [`RULES_PATH_ENV`], or an empty one (every function on its defaults).
pub fn rules_from_env() -> Result<RulesFile, SetupError> {
    match std::env::var_os(RULES_PATH_ENV) {
        Some(path) => Ok(RulesFile::load(&PathBuf::from(path))?),
        None => Ok(RulesFile::empty()),
    }
}
