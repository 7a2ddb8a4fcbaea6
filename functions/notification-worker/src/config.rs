//! The worker's configuration and set-up: `[tenant]`, `[graph]` (reads and writes the directory),
//! `[store]` (message markers; DynamoDB in Lambda), the rules file (`rules`, its
//! `[directory_reactions]` section), `[worker]` and `[log]`.
//!
//! In Lambda (template.yaml): `ENTRA_HOOKS_STORE__TABLE`, `ENTRA_HOOKS_RULES`,
//! `ENTRA_HOOKS_WORKER__VISIBILITY_TIMEOUT_SECS` (the queue's visibility timeout).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use entra_extensions::RulesFile;
use entra_extensions::rules_file::RulesError;
use entra_extensions::runtime::{SetupError as GraphSetupError, graph_client_for, secret_resolver};
use entra_platform::config::{GraphConfig, LogConfig, TenantConfig, ValidationReport};
use entra_platform::queue::QueueConfig;
use entra_platform::store::StoreSetupError;
use entra_platform::{StoreConfig, Validate};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::publish::{EventBridgePublisher, EventPublisher, MemoryPublisher};
use crate::rules::{DirectoryReactions, SECTION};
use crate::worker::Worker;

/// `[worker]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSection {
    /// The queue's visibility timeout: how long a claimed message stays claimed.
    #[serde(default = "default_visibility")]
    pub visibility_timeout_secs: u64,
}

impl Default for WorkerSection {
    fn default() -> Self {
        Self {
            visibility_timeout_secs: default_visibility(),
        }
    }
}

fn default_visibility() -> u64 {
    60
}

/// The notification-worker function's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    pub tenant: TenantConfig,
    pub graph: GraphConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub worker: WorkerSection,
    #[serde(default)]
    pub rules: Option<PathBuf>,
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
    pub notifications: Option<IgnoredAny>,
    /// The directory-events queue (the one this worker consumes): with a URL, `missed` lifecycle
    /// events are reconciled by queueing the changes of the last four hours again.
    #[serde(default)]
    pub queue: QueueConfig,
}

impl Validate for WorkerConfig {
    fn validate(&self, report: &mut ValidationReport) {
        self.store.validate(report);
        self.queue.validate(report);
        if !(5..=43_200).contains(&self.worker.visibility_timeout_secs) {
            report.invalid(
                "worker.visibility_timeout_secs",
                "must be 5 to 43200 (SQS's range), the queue's visibility timeout",
                Some(&self.worker.visibility_timeout_secs),
            );
        }
    }
}

/// Why the worker could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Graph(#[from] GraphSetupError),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Store(#[from] StoreSetupError),
    #[error("reactions name custom extensions that are not registered: {0}")]
    MissingExtensions(String),
    #[error("queue: {0}")]
    Queue(String),
}

impl WorkerConfig {
    /// The `[directory_reactions]` section of the rules file (empty without a file).
    pub fn reactions(&self) -> Result<DirectoryReactions, RulesError> {
        match &self.rules {
            Some(path) => RulesFile::load(path)?.section(SECTION),
            None => Ok(DirectoryReactions::default()),
        }
    }

    /// Builds the worker: Graph client (secret resolved now), marker store, EventBridge publisher
    /// when `aws` is given (else in memory).
    pub async fn build(&self, aws: Option<&aws_config::SdkConfig>) -> Result<Worker, SetupError> {
        let reactions = self.reactions()?;
        if reactions.reactions.is_empty() {
            tracing::warn!(
                "no [directory_reactions] in the rules file: messages are consumed without reactions"
            );
        }
        let secrets = secret_resolver([&self.graph.secret]).await;
        let graph = graph_client_for(&self.tenant, &self.graph, &secrets).await?;
        let store = self.store.build(aws)?;
        let reconciler = match &self.queue.url {
            Some(_) => {
                let queue = self
                    .queue
                    .build(aws)
                    .map_err(|e| SetupError::Queue(e.to_string()))?;
                Some(directory_poller::Poller::new(
                    graph.clone(),
                    queue,
                    store.clone(),
                    self.tenant.id.to_string(),
                    directory_poller::PollerSettings::default(),
                ))
            }
            None => None,
        };
        let publisher: Arc<dyn EventPublisher> = match aws {
            Some(aws) => Arc::new(EventBridgePublisher::from_sdk_config(aws)),
            None => Arc::new(MemoryPublisher::new()),
        };
        let worker = Worker::new(
            graph,
            store,
            reactions,
            publisher,
            Duration::from_secs(self.worker.visibility_timeout_secs),
        );
        let worker = match reconciler {
            Some(poller) => worker.with_reconciler(Arc::new(poller)),
            None => worker,
        };
        let missing = worker.missing_extensions();
        if !missing.is_empty() {
            return Err(SetupError::MissingExtensions(missing.join(", ")));
        }
        Ok(worker)
    }
}
