//! The receiver's configuration and set-up: `[tenant]`, `[notifications]` (subscriptions with their
//! `clientState` secrets, decryption keys), `[queue]` (SQS in Lambda, memory without a URL),
//! optional `[graph]` (its client id is the validation tokens' audience by default), `[log]`.
//!
//! Every secret is resolved at start, so a bad reference fails the cold start and no notification
//! waits on Secrets Manager.

use std::collections::HashMap;

use entra_extensions::runtime::secret_resolver;
use entra_notifications::config::{DEFAULT_VALIDATION_DISCOVERY_URL, NotificationsConfig};
use entra_notifications::decrypt::{DecryptError, DecryptionKeys};
use entra_platform::config::{GraphConfig, LogConfig, TenantConfig, ValidationReport};
use entra_platform::queue::QueueConfig;
use entra_platform::{SecretError, SecretRef, Validate};
use entra_tokens::{CallerPolicy, KeySet, TokenValidator};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::NotificationReceiver;

/// The notification-receiver function's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub tenant: TenantConfig,
    #[serde(default)]
    pub notifications: NotificationsConfig,
    #[serde(default)]
    pub queue: QueueConfig,
    #[serde(default)]
    pub graph: Option<GraphConfig>,
    #[serde(default)]
    pub log: LogConfig,
    /// Accepted so one configuration serves every function; not used here.
    #[serde(default)]
    pub extension: Option<IgnoredAny>,
    #[serde(default)]
    pub auth: Option<IgnoredAny>,
    #[serde(default)]
    pub limits: Option<IgnoredAny>,
    #[serde(default)]
    pub rules: Option<IgnoredAny>,
    #[serde(default)]
    pub store: Option<IgnoredAny>,
}

impl Validate for ReceiverConfig {
    fn validate(&self, report: &mut ValidationReport) {
        self.notifications.validate(report);
        self.queue.validate(report);
        if self.notifications.subscriptions.is_empty() {
            report.invalid(
                "notifications.subscriptions",
                "must list at least one subscription (the receiver refuses notifications of any other)",
                None,
            );
        }
        let rich = self
            .notifications
            .subscriptions
            .iter()
            .any(|s| s.include_resource_data);
        if rich && self.audience().is_none() {
            report.missing("notifications.app_id");
        }
    }
}

/// Why the receiver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("resolving {key} ({scheme} reference): {source}")]
    Secret {
        key: String,
        scheme: &'static str,
        source: SecretError,
    },
    #[error("notifications.decryption_keys: {0}")]
    Key(#[from] DecryptError),
    #[error("the validation-token discovery URL is not a URL: {0}")]
    DiscoveryUrl(#[from] url::ParseError),
    #[error("queue: {0}")]
    Queue(String),
}

impl ReceiverConfig {
    /// The audience of validation tokens: `notifications.app_id`, else `graph.client_id`.
    pub fn audience(&self) -> Option<String> {
        self.notifications
            .app_id
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| self.graph.as_ref().map(|g| g.client_id.to_string()))
    }

    /// Whether set-up needs the AWS configuration (SQS, Secrets Manager).
    pub fn needs_aws(&self) -> bool {
        self.queue.needs_aws() || self.secret_refs().any(|r| r.scheme() == "aws-sm")
    }

    fn secret_refs(&self) -> impl Iterator<Item = &SecretRef> {
        self.notifications
            .subscriptions
            .iter()
            .map(|s| &s.client_state)
            .chain(
                self.notifications
                    .decryption_keys
                    .iter()
                    .map(|k| &k.private_key),
            )
    }

    /// Resolves the secrets, loads the keys and builds the queue client. `http` fetches the
    /// validation-token signing keys (lazily, on the first rich notification).
    pub async fn build(
        &self,
        http: reqwest::Client,
        aws: Option<&aws_config::SdkConfig>,
    ) -> Result<NotificationReceiver, SetupError> {
        let secrets = secret_resolver(self.secret_refs()).await;
        let mut client_states = HashMap::new();
        for (index, spec) in self.notifications.subscriptions.iter().enumerate() {
            let value = secrets
                .resolve(&spec.client_state)
                .await
                .map_err(|source| SetupError::Secret {
                    key: format!("notifications.subscriptions[{index}].client_state"),
                    scheme: spec.client_state.scheme(),
                    source,
                })?;
            client_states.insert(spec.name.clone(), value);
        }
        let mut keys = DecryptionKeys::new();
        for (index, spec) in self.notifications.decryption_keys.iter().enumerate() {
            let pem =
                secrets
                    .resolve(&spec.private_key)
                    .await
                    .map_err(|source| SetupError::Secret {
                        key: format!("notifications.decryption_keys[{index}].private_key"),
                        scheme: spec.private_key.scheme(),
                        source,
                    })?;
            keys.insert_pem(&spec.id, pem.expose())?;
        }
        let tokens = match self.audience() {
            Some(audience) => {
                let discovery = self
                    .notifications
                    .validation_discovery_url
                    .as_ref()
                    .map_or(DEFAULT_VALIDATION_DISCOVERY_URL, |url| url.as_str())
                    .parse()?;
                let policy = CallerPolicy::graph_notification(
                    vec![self.tenant.id.to_string()],
                    vec![audience],
                );
                Some(TokenValidator::new(policy, KeySet::new(discovery, http)))
            }
            None => None,
        };
        let queue = self
            .queue
            .build(aws)
            .map_err(|error| SetupError::Queue(error.to_string()))?;
        Ok(NotificationReceiver::new(
            self.tenant.id.to_string(),
            client_states,
            tokens,
            keys,
            queue,
        ))
    }
}
