//! The directory poller: the External ID path to directory change events.
//!
//! External ID tenants get neither change notifications nor delta queries from Graph
//! (docs/protocols/change-notifications.md section 0), so on a schedule this function derives the
//! same events the receiver would queue and feeds the same queue, so the same worker and
//! reactions run:
//! - from the directory audits since the checkpoint (`Add user`, `Update user`, `Delete user`,
//!   group changes and membership changes; docs/protocols/graph-api.md A.10), re-reading an
//!   overlap window every run because audit records arrive late;
//! - from the users created since the checkpoint (`createdDateTime ge …`), so a creation is seen
//!   even while its audit record is still on its way.
//!
//! Every event carries a marker that is the same however often it is derived (the audit record's
//! id; `created` for creations, from either source), so re-reading the overlap, a crash before the
//! checkpoint moved, or a retry queues the same keys again and the worker's markers keep the
//! reactions to once. The checkpoint moves (compare-and-swap) only after the events are queued.

pub mod audit;
pub mod config;

use std::sync::Arc;

use entra_graph::{GraphClient, GraphError, ListQuery};
use entra_notifications::event::{ChangeSource, DirectoryChange, QueueMessage, ResourceKind};
use entra_notifications::wire::ChangeType;
use entra_platform::queue::{MessageQueue, OutgoingMessage, QueueError};
use entra_platform::store::{KeyValueStore, StoreError};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

pub use config::{PollerConfig, SetupError};

/// Where the checkpoint lives in the key-value store.
pub const CHECKPOINT_KEY: &str = "directory-poller/checkpoint";

/// How the poller reads.
#[derive(Debug, Clone)]
pub struct PollerSettings {
    /// Every run re-reads this far before the checkpoint (late audit records).
    pub overlap: Duration,
    /// The first run starts this far back.
    pub first_lookback: Duration,
    /// `$top` of each page.
    pub page_size: u32,
}

impl Default for PollerSettings {
    fn default() -> Self {
        Self {
            overlap: Duration::minutes(30),
            first_lookback: Duration::hours(1),
            page_size: 500,
        }
    }
}

/// How far the poller has read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollerCheckpoint {
    #[serde(with = "time::serde::rfc3339")]
    pub read_until: OffsetDateTime,
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollReport {
    pub from: OffsetDateTime,
    pub until: OffsetDateTime,
    pub audit_records: usize,
    pub created_users: usize,
    pub queued: usize,
}

/// Why a run failed (the checkpoint stays; the next run reads the same range again).
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("reading {what} from Graph: {source}")]
    Graph {
        what: &'static str,
        source: GraphError,
    },
    #[error("queueing the events: {0}")]
    Queue(#[from] QueueError),
    #[error("checkpoint store: {0}")]
    Store(#[from] StoreError),
    #[error("the checkpoint is unreadable ({0}); delete {CHECKPOINT_KEY} to start over")]
    Corrupt(String),
    #[error("another poller moved the checkpoint; this run's events are queued and de-duplicated")]
    Conflict,
}

/// The poller, built once per execution environment.
pub struct Poller {
    graph: GraphClient,
    queue: Arc<dyn MessageQueue>,
    store: Arc<dyn KeyValueStore>,
    tenant_id: String,
    settings: PollerSettings,
}

impl Poller {
    pub fn new(
        graph: GraphClient,
        queue: Arc<dyn MessageQueue>,
        store: Arc<dyn KeyValueStore>,
        tenant_id: impl Into<String>,
        settings: PollerSettings,
    ) -> Self {
        Self {
            graph,
            queue,
            store,
            tenant_id: tenant_id.into(),
            settings,
        }
    }

    /// One pass up to `now`.
    pub async fn run(&self, now: OffsetDateTime) -> Result<PollReport, PollError> {
        let stored = self.store.get(CHECKPOINT_KEY).await?;
        let checkpoint = match &stored {
            Some(text) => Some(
                serde_json::from_str::<PollerCheckpoint>(text)
                    .map_err(|e| PollError::Corrupt(e.to_string()))?,
            ),
            None => None,
        };
        let from = match &checkpoint {
            Some(checkpoint) => checkpoint.read_until - self.settings.overlap,
            None => now - self.settings.first_lookback,
        };
        // Whole seconds, as the filter takes them, so the checkpoint is exactly what was read.
        let until = now.replace_nanosecond(0).unwrap_or(now);

        let (audit_records, created_users, queued) = self.read_and_queue(from, until).await?;

        let next =
            serde_json::to_string(&PollerCheckpoint { read_until: until }).unwrap_or_default();
        let moved = match &stored {
            Some(previous) => {
                self.store
                    .compare_and_swap(CHECKPOINT_KEY, previous, &next, None)
                    .await?
            }
            None => {
                self.store
                    .put_if_absent(CHECKPOINT_KEY, &next, None)
                    .await?
            }
        };
        if !moved {
            return Err(PollError::Conflict);
        }
        let report = PollReport {
            from,
            until,
            audit_records,
            created_users,
            queued,
        };
        tracing::info!(
            from = %from.format(&Rfc3339).unwrap_or_default(),
            until = %until.format(&Rfc3339).unwrap_or_default(),
            audit_records = report.audit_records,
            created_users = report.created_users,
            queued = report.queued,
            "directory poll"
        );
        Ok(report)
    }

    /// Queues the changes of `[from, until)` without touching the checkpoint: a reconciliation
    /// after Graph reported notifications `missed` (the worker's markers keep reactions to once).
    pub async fn reconcile(
        &self,
        from: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<usize, PollError> {
        Ok(self.read_and_queue(from, until).await?.2)
    }

    /// Derives the changes of `[from, until)` and queues them: (audit records read, users created,
    /// messages queued).
    async fn read_and_queue(
        &self,
        from: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(usize, usize, usize), PollError> {
        let records = self.audit_records(from, until).await?;
        let mut changes: Vec<DirectoryChange> = records
            .iter()
            .flat_map(|record| audit::changes(record, &self.tenant_id))
            .collect();
        let created = self.created_users(from).await?;
        for user in &created {
            if let Some(id) = user.get("id").and_then(Value::as_str) {
                changes.push(creation(
                    &self.tenant_id,
                    id,
                    user.get("createdDateTime").and_then(Value::as_str),
                ));
            }
        }
        // One event per key: a creation seen in both sources is queued once.
        changes.sort_by_key(DirectoryChange::dedup_key);
        changes.dedup_by_key(|c| c.dedup_key());

        let messages: Vec<OutgoingMessage> = changes
            .iter()
            .filter_map(|change| serde_json::to_string(&QueueMessage::Change(change.clone())).ok())
            .map(OutgoingMessage::new)
            .collect();
        if !messages.is_empty() {
            self.queue.send_batch(&messages).await?;
        }
        Ok((records.len(), created.len(), messages.len()))
    }

    async fn audit_records(
        &self,
        from: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Vec<Value>, PollError> {
        let query = ListQuery::new()
            .filter(format!(
                "activityDateTime ge {} and activityDateTime lt {}",
                instant(from),
                instant(until)
            ))
            .top(self.settings.page_size);
        self.graph
            .list::<Value>(self.graph.url(&["auditLogs", "directoryAudits"]), &query)
            .try_collect()
            .await
            .map_err(|source| PollError::Graph {
                what: "directory audits",
                source,
            })
    }

    async fn created_users(&self, from: OffsetDateTime) -> Result<Vec<Value>, PollError> {
        let query = ListQuery::new()
            .select(["id", "createdDateTime"])
            .filter(format!("createdDateTime ge {}", instant(from)))
            .top(self.settings.page_size);
        self.graph
            .list::<Value>(self.graph.url(&["users"]), &query)
            .try_collect()
            .await
            .map_err(|source| PollError::Graph {
                what: "users created since the checkpoint",
                source,
            })
    }
}

/// The creation of user `id`, with the marker both sources share.
pub fn creation(tenant_id: &str, id: &str, at: Option<&str>) -> DirectoryChange {
    DirectoryChange {
        source: ChangeSource::DirectoryPoller,
        tenant_id: tenant_id.to_owned(),
        resource_kind: ResourceKind::User,
        resource_id: id.to_owned(),
        change_type: ChangeType::Created,
        subscription_id: None,
        occurred_at: at.map(str::to_owned),
        marker: "created".into(),
        resource_data: None,
    }
}

/// `2026-11-26T21:00:00Z` (whole seconds, as Graph's `$filter` takes a DateTimeOffset).
fn instant(at: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}
