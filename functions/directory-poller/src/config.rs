//! The poller's configuration and set-up: `[tenant]`, `[graph]` (reads audits and users),
//! `[store]` (the checkpoint; DynamoDB in Lambda), `[queue]` (the notification queue),
//! `[poller]` and `[log]`.

use std::sync::Arc;

use entra_extensions::runtime::{SetupError as GraphSetupError, graph_client_for, secret_resolver};
use entra_platform::config::{GraphConfig, LogConfig, TenantConfig, ValidationReport};
use entra_platform::queue::{MessageQueue, QueueConfig};
use entra_platform::store::StoreSetupError;
use entra_platform::{StoreConfig, Validate};
use serde::Deserialize;
use serde::de::IgnoredAny;
use time::Duration;

use crate::{Poller, PollerSettings};

/// `[poller]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollerSection {
    /// Re-read this far before the checkpoint every run (audit records arrive late).
    #[serde(default = "default_overlap")]
    pub overlap_minutes: u32,
    /// The first run starts this far back.
    #[serde(default = "default_lookback")]
    pub first_lookback_minutes: u32,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

impl Default for PollerSection {
    fn default() -> Self {
        Self {
            overlap_minutes: default_overlap(),
            first_lookback_minutes: default_lookback(),
            page_size: default_page_size(),
        }
    }
}

fn default_overlap() -> u32 {
    30
}
fn default_lookback() -> u32 {
    60
}
fn default_page_size() -> u32 {
    500
}

/// The directory-poller function's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollerConfig {
    pub tenant: TenantConfig,
    pub graph: GraphConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub queue: QueueConfig,
    #[serde(default)]
    pub poller: PollerSection,
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
    pub notifications: Option<IgnoredAny>,
}

impl Validate for PollerConfig {
    fn validate(&self, report: &mut ValidationReport) {
        self.store.validate(report);
        self.queue.validate(report);
        if !(1..=24 * 60).contains(&self.poller.overlap_minutes) {
            report.invalid(
                "poller.overlap_minutes",
                "must be 1 to 1440",
                Some(&self.poller.overlap_minutes),
            );
        }
        if !(1..=30 * 24 * 60).contains(&self.poller.first_lookback_minutes) {
            report.invalid(
                "poller.first_lookback_minutes",
                "must be 1 to 43200 (30 days, Entra's audit retention)",
                Some(&self.poller.first_lookback_minutes),
            );
        }
        if !(1..=999).contains(&self.poller.page_size) {
            report.invalid(
                "poller.page_size",
                "must be 1 to 999",
                Some(&self.poller.page_size),
            );
        }
    }
}

/// Why the poller could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Graph(#[from] GraphSetupError),
    #[error(transparent)]
    Store(#[from] StoreSetupError),
    #[error("queue: {0}")]
    Queue(String),
}

impl PollerConfig {
    pub fn settings(&self) -> PollerSettings {
        PollerSettings {
            overlap: Duration::minutes(i64::from(self.poller.overlap_minutes)),
            first_lookback: Duration::minutes(i64::from(self.poller.first_lookback_minutes)),
            page_size: self.poller.page_size,
        }
    }

    /// Builds the poller; `queue` overrides `[queue]` (the local host's embedded queue).
    pub async fn build(
        &self,
        aws: Option<&aws_config::SdkConfig>,
        queue: Option<Arc<dyn MessageQueue>>,
    ) -> Result<Poller, SetupError> {
        let secrets = secret_resolver([&self.graph.secret]).await;
        let graph = graph_client_for(&self.tenant, &self.graph, &secrets).await?;
        let store = self.store.build(aws)?;
        let queue = match queue {
            Some(queue) => queue,
            None => self
                .queue
                .build(aws)
                .map_err(|e| SetupError::Queue(e.to_string()))?,
        };
        Ok(Poller::new(
            graph,
            queue,
            store,
            self.tenant.id.to_string(),
            self.settings(),
        ))
    }
}
