//! The keeper's configuration and set-up: `[tenant]`, `[graph]` (manages subscriptions),
//! `[notifications]` (what to hold, where the receiver is), `[store]` (each subscription's id
//! and expiry; DynamoDB in Lambda), `[keeper]` and `[log]`.

use entra_extensions::runtime::{SetupError as GraphSetupError, graph_client_for, secret_resolver};
use entra_notifications::config::NotificationsConfig;
use entra_platform::config::{GraphConfig, LogConfig, TenantConfig, ValidationReport};
use entra_platform::store::StoreSetupError;
use entra_platform::{StoreConfig, Validate};
use serde::Deserialize;
use serde::de::IgnoredAny;
use time::Duration;

use crate::Keeper;

/// `[keeper]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeeperSection {
    /// Renew a subscription when less than this is left (default 72 hours; the schedule must run
    /// more often than that).
    #[serde(default = "default_renew_before")]
    pub renew_before_hours: u32,
}

impl Default for KeeperSection {
    fn default() -> Self {
        Self {
            renew_before_hours: default_renew_before(),
        }
    }
}

fn default_renew_before() -> u32 {
    72
}

/// The subscription-keeper function's (and `entra-hooks subscriptions`') configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeeperConfig {
    pub tenant: TenantConfig,
    pub graph: GraphConfig,
    #[serde(default)]
    pub notifications: NotificationsConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub keeper: KeeperSection,
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
    pub queue: Option<IgnoredAny>,
}

impl Validate for KeeperConfig {
    fn validate(&self, report: &mut ValidationReport) {
        self.notifications.validate(report);
        self.store.validate(report);
        if self.notifications.public_url.is_none() && !self.notifications.subscriptions.is_empty() {
            report.missing("notifications.public_url");
        }
        if !(1..=24 * 28).contains(&self.keeper.renew_before_hours) {
            report.invalid(
                "keeper.renew_before_hours",
                "must be 1 to 672 (subscriptions to users and groups live at most 29 days)",
                Some(&self.keeper.renew_before_hours),
            );
        }
    }
}

/// Why the keeper could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Graph(#[from] GraphSetupError),
    #[error(transparent)]
    Store(#[from] StoreSetupError),
}

impl KeeperConfig {
    /// Builds the keeper (the Graph secret is resolved now; clientState secrets when used).
    pub async fn build(&self, aws: Option<&aws_config::SdkConfig>) -> Result<Keeper, SetupError> {
        let references = std::iter::once(&self.graph.secret).chain(
            self.notifications.subscriptions.iter().flat_map(|s| {
                std::iter::once(&s.client_state).chain(s.encryption_certificate.iter())
            }),
        );
        let secrets = secret_resolver(references).await;
        let graph = graph_client_for(&self.tenant, &self.graph, &secrets).await?;
        Ok(Keeper::new(
            graph,
            self.notifications.clone(),
            secrets,
            self.store.build(aws)?,
            Duration::hours(i64::from(self.keeper.renew_before_hours)),
        ))
    }
}
