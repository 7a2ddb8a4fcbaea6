//! Workload identity federation: a CI job's own OIDC token as the client assertion, so CI stores no
//! secret (docs/protocols/tenant-lifecycle.md §2.3-2.6).
//!
//! The token endpoint request is the certificate one (`client_assertion_type` =
//! `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`); only the assertion comes from the CI
//! platform, freshly for every token request (CI tokens are short-lived and never cached here):
//! - GitHub Actions: `GET {ACTIONS_ID_TOKEN_REQUEST_URL}&audience=api://AzureADTokenExchange` with
//!   `Authorization: bearer {ACTIONS_ID_TOKEN_REQUEST_TOKEN}` → `{"value": "eyJ…"}`; the job needs
//!   `permissions: id-token: write`
//!   (<https://docs.github.com/en/actions/reference/security/oidc>);
//! - Azure Pipelines: `POST {SYSTEM_OIDCREQUESTURI}?api-version=7.1&serviceConnectionId={id}` with
//!   `Authorization: Bearer {SYSTEM_ACCESSTOKEN}` → `{"oidcToken": "eyJ…"}`
//!   (<https://learn.microsoft.com/rest/api/azure/devops/distributedtask/oidctoken/create>);
//! - a file holding an assertion, for other CI systems.
//!
//! The same credential serves Graph ([`crate::GraphConfig`]) and ARM ([`crate::ArmCredential::App`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use serde::Deserialize;
use url::Url;

use crate::credential::SecretString;
use crate::error::GraphError;

/// The audience Entra expects of federated assertions.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Where a CI job's OIDC token comes from.
#[derive(Clone)]
pub enum FederatedTokenSource {
    /// GitHub Actions' OIDC provider.
    GitHubActions {
        request_url: Url,
        request_token: SecretString,
    },
    /// Azure Pipelines' OIDC endpoint for one service connection.
    AzurePipelines {
        request_uri: Url,
        access_token: SecretString,
        service_connection_id: String,
    },
    /// A file whose content is the assertion (read anew for every token request).
    File(PathBuf),
}

impl std::fmt::Debug for FederatedTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::GitHubActions { request_url, .. } => f
                .debug_struct("GitHubActions")
                .field("request_url", &request_url.origin().ascii_serialization())
                .finish_non_exhaustive(),
            Self::AzurePipelines {
                service_connection_id,
                ..
            } => f
                .debug_struct("AzurePipelines")
                .field("service_connection_id", service_connection_id)
                .finish_non_exhaustive(),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// Why no CI token source could be found in the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FederatedSourceError {
    #[error(
        "GITHUB_ACTIONS is set but ACTIONS_ID_TOKEN_REQUEST_URL/ACTIONS_ID_TOKEN_REQUEST_TOKEN are not: add `permissions: id-token: write` to the job"
    )]
    GitHubPermissionMissing,
    #[error(
        "SYSTEM_OIDCREQUESTURI is set but SYSTEM_ACCESSTOKEN is not: map it in the step (`env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`)"
    )]
    PipelinesAccessTokenMissing,
    #[error(
        "SYSTEM_OIDCREQUESTURI is set but no service connection id: set AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"
    )]
    PipelinesServiceConnectionMissing,
    #[error("{name} is not a URL: {reason}")]
    InvalidUrl { name: &'static str, reason: String },
}

impl FederatedTokenSource {
    /// Detects the CI platform from its variables (§2.6): GitHub Actions, then Azure Pipelines.
    /// `Ok(None)` outside CI. `lookup` reads one variable (`std::env::var(..).ok()` in production).
    pub fn from_env(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, FederatedSourceError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let url = |name: &'static str, value: String| {
            Url::parse(value.trim()).map_err(|e| FederatedSourceError::InvalidUrl {
                name,
                reason: e.to_string(),
            })
        };
        match (
            var("ACTIONS_ID_TOKEN_REQUEST_URL"),
            var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
        ) {
            (Some(request_url), Some(token)) => {
                return Ok(Some(Self::GitHubActions {
                    request_url: url("ACTIONS_ID_TOKEN_REQUEST_URL", request_url)?,
                    request_token: SecretString::new(token),
                }));
            }
            _ if var("GITHUB_ACTIONS").is_some_and(|v| v == "true") => {
                return Err(FederatedSourceError::GitHubPermissionMissing);
            }
            _ => {}
        }
        if let Some(request_uri) = var("SYSTEM_OIDCREQUESTURI") {
            let access_token = var("SYSTEM_ACCESSTOKEN")
                .ok_or(FederatedSourceError::PipelinesAccessTokenMissing)?;
            let service_connection_id = var("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID")
                .ok_or(FederatedSourceError::PipelinesServiceConnectionMissing)?;
            return Ok(Some(Self::AzurePipelines {
                request_uri: url("SYSTEM_OIDCREQUESTURI", request_uri)?,
                access_token: SecretString::new(access_token),
                service_connection_id,
            }));
        }
        Ok(None)
    }

    /// A fresh assertion from the CI platform.
    pub(crate) async fn assertion(
        &self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<SecretString, GraphError> {
        #[derive(Deserialize)]
        struct GitHub {
            value: String,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Pipelines {
            oidc_token: String,
        }
        let failed = |what: &str, detail: String| {
            GraphError::Credential(format!(
                "the CI OIDC token could not be obtained from {what}: {detail}"
            ))
        };
        match self {
            Self::File(path) => {
                // A few hundred bytes: reading them inline is cheaper than a blocking task.
                let text = std::fs::read_to_string(path)
                    .map_err(|e| failed(&path.display().to_string(), e.to_string()))?;
                Ok(SecretString::new(text.trim()))
            }
            Self::GitHubActions {
                request_url,
                request_token,
            } => {
                let mut url = request_url.clone();
                url.query_pairs_mut()
                    .append_pair("audience", TOKEN_EXCHANGE_AUDIENCE);
                let response = http
                    .get(url)
                    .header(
                        AUTHORIZATION,
                        format!("bearer {}", request_token.expose_secret()),
                    )
                    .timeout(timeout)
                    .send()
                    .await
                    .map_err(|e| GraphError::Transport(Arc::new(e)))?;
                let status = response.status();
                if !status.is_success() {
                    return Err(failed("GitHub Actions", format!("HTTP {status}")));
                }
                let body: GitHub = response
                    .json()
                    .await
                    .map_err(|e| failed("GitHub Actions", e.to_string()))?;
                Ok(SecretString::new(body.value))
            }
            Self::AzurePipelines {
                request_uri,
                access_token,
                service_connection_id,
            } => {
                let mut url = request_uri.clone();
                url.query_pairs_mut()
                    .append_pair("api-version", "7.1")
                    .append_pair("serviceConnectionId", service_connection_id);
                let response = http
                    .post(url)
                    .bearer_auth(access_token.expose_secret())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .timeout(timeout)
                    .send()
                    .await
                    .map_err(|e| GraphError::Transport(Arc::new(e)))?;
                let status = response.status();
                if !status.is_success() {
                    return Err(failed("Azure Pipelines", format!("HTTP {status}")));
                }
                let body: Pipelines = response
                    .json()
                    .await
                    .map_err(|e| failed("Azure Pipelines", e.to_string()))?;
                Ok(SecretString::new(body.oidc_token))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn ci_platforms_are_detected_from_their_variables() {
        assert!(FederatedTokenSource::from_env(env(&[])).unwrap().is_none());
        let github = FederatedTokenSource::from_env(env(&[
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                "https://token.actions.example/x?a=1",
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "req-secret"),
        ]))
        .unwrap()
        .unwrap();
        assert!(matches!(github, FederatedTokenSource::GitHubActions { .. }));
        assert!(!format!("{github:?}").contains("req-secret"));
        assert_eq!(
            FederatedTokenSource::from_env(env(&[("GITHUB_ACTIONS", "true")])).unwrap_err(),
            FederatedSourceError::GitHubPermissionMissing
        );
        assert_eq!(
            FederatedTokenSource::from_env(env(&[(
                "SYSTEM_OIDCREQUESTURI",
                "https://dev.azure.com/o"
            )]))
            .unwrap_err(),
            FederatedSourceError::PipelinesAccessTokenMissing
        );
        let pipelines = FederatedTokenSource::from_env(env(&[
            (
                "SYSTEM_OIDCREQUESTURI",
                "https://dev.azure.com/o/_apis/oidctoken",
            ),
            ("SYSTEM_ACCESSTOKEN", "ado-secret"),
            ("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "sc-1"),
        ]))
        .unwrap()
        .unwrap();
        assert!(matches!(
            pipelines,
            FederatedTokenSource::AzurePipelines { .. }
        ));
        assert!(!format!("{pipelines:?}").contains("ado-secret"));
    }
}
