//! One queue message in, the configured reactions out, exactly once per message key.
//!
//! For a directory change: claim the message ([`crate::dedup`]), read the resource as Graph has it
//! now (a 404 after a delete is a normal outcome: the resource reads as absent), run every reaction
//! whose change type and conditions match, then mark the message done. A failure releases the claim
//! and reports the message as failed, so SQS delivers it again (and, after the redrive policy's
//! receive count, moves it to the dead-letter queue). For a lifecycle message: reauthorize the
//! subscription (`reauthorizationRequired`), or reconcile the changes Graph dropped (`missed`, with a
//! [`Reconciler`]); a removed subscription is recreated by the subscription keeper's next pass,
//! which compares Graph's list with the configuration anyway.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use entra_graph::{GraphClient, GraphError, GraphRequest};
use entra_notifications::event::{
    DirectoryChange, QueueMessage, ResourceKind, SubscriptionLifecycle,
};
use entra_notifications::wire::LifecycleEvent;
use entra_platform::store::{KeyValueStore, StoreError};
use http::Method;
use serde_json::{Map, Value, json};

use crate::dedup::{Claim, Markers};
use crate::publish::{DirectoryEvent, EventPublisher, PublishError};
use crate::rules::{DirectoryReactions, Reaction, lookup};

/// Custom logic for a reaction the rules cannot express (`custom = "name"` in a reaction).
/// It must be safe to run twice for the same change.
#[async_trait]
pub trait ReactionExtension: Send + Sync {
    async fn react(
        &self,
        change: &DirectoryChange,
        resource: Option<&Value>,
        graph: &GraphClient,
    ) -> Result<(), String>;
}

/// Re-derives the changes of a period and queues them, for a `missed` lifecycle event (Graph
/// dropped notifications): the directory poller's reading of audits and new users.
#[async_trait]
pub trait Reconciler: Send + Sync {
    /// Queues the changes since `from`; answers how many messages were queued.
    async fn reconcile(&self, from: time::OffsetDateTime) -> Result<usize, String>;
}

#[async_trait]
impl Reconciler for directory_poller::Poller {
    async fn reconcile(&self, from: time::OffsetDateTime) -> Result<usize, String> {
        directory_poller::Poller::reconcile(self, from, time::OffsetDateTime::now_utc())
            .await
            .map_err(|e| e.to_string())
    }
}

/// How far back a `missed` event is reconciled: Graph retries a notification for up to four hours
/// before it gives up on it (docs/protocols/change-notifications.md A.3).
pub const MISSED_WINDOW: time::Duration = time::Duration::hours(4);

/// What one message led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// The names of the reactions that ran.
    Reacted(Vec<String>),
    /// The same message was processed before.
    Duplicate,
    /// A lifecycle message was handled.
    Lifecycle(String),
}

/// Why a message failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error("the message is not a queue message: {0}")]
    Poison(String),
    #[error("another worker is processing this message")]
    Busy,
    #[error("marker store: {0}")]
    Store(#[from] StoreError),
    #[error("reading {kind:?} {id} from Graph: {source}")]
    Read {
        kind: ResourceKind,
        id: String,
        source: GraphError,
    },
    #[error("reaction {reaction}: {message}")]
    Reaction { reaction: String, message: String },
    #[error("reauthorizing subscription {subscription}: {source}")]
    Reauthorize {
        subscription: String,
        source: GraphError,
    },
}

/// The worker, built once per execution environment.
pub struct Worker {
    graph: GraphClient,
    markers: Markers,
    store: Arc<dyn KeyValueStore>,
    rules: DirectoryReactions,
    publisher: Arc<dyn EventPublisher>,
    extensions: HashMap<String, Arc<dyn ReactionExtension>>,
    reconciler: Option<Arc<dyn Reconciler>>,
}

impl Worker {
    /// `claim_ttl` should be the queue's visibility timeout.
    pub fn new(
        graph: GraphClient,
        store: Arc<dyn KeyValueStore>,
        rules: DirectoryReactions,
        publisher: Arc<dyn EventPublisher>,
        claim_ttl: Duration,
    ) -> Self {
        let markers = Markers::new(store.clone(), claim_ttl, rules.dedup_window());
        Self {
            graph,
            markers,
            store,
            rules,
            publisher,
            extensions: HashMap::new(),
            reconciler: None,
        }
    }

    /// Reconciles `missed` lifecycle events with `reconciler` (without one they are recorded for
    /// the subscription keeper).
    pub fn with_reconciler(mut self, reconciler: Arc<dyn Reconciler>) -> Self {
        self.reconciler = Some(reconciler);
        self
    }

    /// Registers custom logic for reactions with `custom = name`.
    pub fn with_extension(
        mut self,
        name: impl Into<String>,
        extension: Arc<dyn ReactionExtension>,
    ) -> Self {
        self.extensions.insert(name.into(), extension);
        self
    }

    /// The message markers (what has been processed).
    pub fn markers(&self) -> &Markers {
        &self.markers
    }

    /// Names of `custom` reactions that have no registered extension (a start-up error).
    pub fn missing_extensions(&self) -> Vec<String> {
        self.rules
            .reactions
            .iter()
            .filter_map(|r| r.get_ref().custom.clone())
            .filter(|name| !self.extensions.contains_key(name))
            .collect()
    }

    /// Processes one message body.
    pub async fn process(&self, body: &str) -> Result<Processed, WorkError> {
        let message: QueueMessage =
            serde_json::from_str(body).map_err(|e| WorkError::Poison(e.to_string()))?;
        match message {
            QueueMessage::Change(change) => self.change(&change).await,
            QueueMessage::Lifecycle(lifecycle) => self.lifecycle(&lifecycle).await,
        }
    }

    async fn change(&self, change: &DirectoryChange) -> Result<Processed, WorkError> {
        let key = change.dedup_key();
        let token = match self.markers.claim(&key).await? {
            Claim::Claimed(token) => token,
            Claim::AlreadyDone => return Ok(Processed::Duplicate),
            Claim::Busy => return Err(WorkError::Busy),
        };
        match self.react(change).await {
            Ok(ran) => {
                if !self.markers.complete(&key, &token).await? {
                    tracing::warn!(
                        key,
                        "the claim expired while reacting; a second run may repeat idempotent reactions"
                    );
                }
                Ok(Processed::Reacted(ran))
            }
            Err(error) => {
                if let Err(release) = self.markers.release(&key, &token).await {
                    tracing::warn!(%release, "could not release the claim; the retry waits for it to expire");
                }
                Err(error)
            }
        }
    }

    async fn react(&self, change: &DirectoryChange) -> Result<Vec<String>, WorkError> {
        let applicable: Vec<&Reaction> = self
            .rules
            .reactions
            .iter()
            .map(|r| r.get_ref())
            .filter(|r| r.matches_change(change.resource_kind, change.change_type))
            .collect();
        if applicable.is_empty() {
            return Ok(Vec::new());
        }
        let resource = match &change.resource_data {
            Some(data) => Some(data.clone()),
            None => self.read(change).await?,
        };
        let state = state_digest(
            resource.as_ref(),
            &self.rules.written_properties(change.resource_kind),
        );
        let mut ran = Vec::new();
        for reaction in applicable {
            if !reaction.conditions_hold(resource.as_ref()) {
                continue;
            }
            // The same change reported by two sources (webhook and poller) finds the resource in
            // the same state: the reaction ran for that state already.
            // The change type is left out on purpose: Graph's webhook reports a creation as
            // `updated` where the poller says `created`; the state tells them apart (a deleted
            // object reads as absent).
            let done_key = format!(
                "notification-worker/reaction/{}/{}/{}",
                reaction.name, change.resource_id, state
            );
            if self.store.get(&done_key).await?.is_some() {
                continue;
            }
            self.run(reaction, change, resource.as_ref())
                .await
                .map_err(|message| WorkError::Reaction {
                    reaction: reaction.name.clone(),
                    message,
                })?;
            self.store
                .put(&done_key, "done", Some(self.rules.dedup_window()))
                .await?;
            ran.push(reaction.name.clone());
        }
        tracing::info!(
            resource = change.resource_kind.collection(),
            id = %change.resource_id,
            change = change.change_type.as_str(),
            reactions = ?ran,
            "directory change processed"
        );
        Ok(ran)
    }

    /// The resource as Graph has it now, with the properties the reactions read; `None` when gone.
    async fn read(&self, change: &DirectoryChange) -> Result<Option<Value>, WorkError> {
        let mut url = self
            .graph
            .url(&[change.resource_kind.collection(), &change.resource_id]);
        url.query_pairs_mut().append_pair(
            "$select",
            &self.rules.properties(change.resource_kind).join(","),
        );
        match self.graph.get_json::<Value>(url).await {
            Ok(resource) => Ok(Some(resource)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(source) => Err(WorkError::Read {
                kind: change.resource_kind,
                id: change.resource_id.clone(),
                source,
            }),
        }
    }

    async fn run(
        &self,
        reaction: &Reaction,
        change: &DirectoryChange,
        resource: Option<&Value>,
    ) -> Result<(), String> {
        let user_id = &change.resource_id;
        if let Some(group) = &reaction.add_to_group
            && resource.is_some()
        {
            self.graph
                .groups()
                .add_member(group, user_id)
                .await
                .map_err(|e| e.to_string())?;
        }
        if let Some(group) = &reaction.remove_from_group {
            match self.graph.groups().remove_member(group, user_id).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        if let Some(resource) = resource {
            let patch = patch_for(reaction, resource);
            if !patch.is_empty() {
                self.patch(change, patch).await?;
            }
        }
        if let Some(publish) = &reaction.publish {
            let event = DirectoryEvent {
                source: publish.source.clone(),
                detail_type: publish.detail_type.clone(),
                event_bus: publish.event_bus.clone(),
                detail: json!({
                    "id": format!("{}#{}", change.dedup_key(), reaction.name),
                    "reaction": reaction.name,
                    "changeType": change.change_type.as_str(),
                    "resourceKind": change.resource_kind,
                    "resourceId": change.resource_id,
                    "tenantId": change.tenant_id,
                    "source": change.source,
                    "occurredAt": change.occurred_at,
                    "resource": resource,
                }),
            };
            self.publisher
                .publish(&event)
                .await
                .map_err(|e: PublishError| e.to_string())?;
        }
        if let Some(name) = &reaction.custom {
            let extension = self
                .extensions
                .get(name)
                .ok_or_else(|| format!("no extension registered as {name:?}"))?;
            extension.react(change, resource, &self.graph).await?;
        }
        Ok(())
    }

    async fn patch(
        &self,
        change: &DirectoryChange,
        patch: Map<String, Value>,
    ) -> Result<(), String> {
        let url = self
            .graph
            .url(&[change.resource_kind.collection(), &change.resource_id]);
        let request = GraphRequest::new(Method::PATCH, url)
            .with_json(&Value::Object(patch))
            .map_err(|e| e.to_string())?;
        match self.graph.send(request).await {
            Ok(_) => Ok(()),
            // Deleted since it was read: nothing left to write.
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn lifecycle(&self, lifecycle: &SubscriptionLifecycle) -> Result<Processed, WorkError> {
        let id = &lifecycle.subscription_id;
        match &lifecycle.event {
            LifecycleEvent::ReauthorizationRequired => {
                let url = self.graph.url(&["subscriptions", id, "reauthorize"]);
                match self.graph.send(GraphRequest::new(Method::POST, url)).await {
                    Ok(_) => {}
                    Err(error) if error.is_not_found() => {
                        tracing::warn!(subscription = %id, "reauthorization asked for a subscription Graph no longer has; the keeper's next pass recreates it");
                    }
                    Err(source) => {
                        return Err(WorkError::Reauthorize {
                            subscription: id.clone(),
                            source,
                        });
                    }
                }
                Ok(Processed::Lifecycle("reauthorized".into()))
            }
            LifecycleEvent::Missed => {
                let Some(reconciler) = &self.reconciler else {
                    tracing::warn!(subscription = %id, "Graph dropped notifications and no reconciler is configured ([queue] url); the directory poller or the next change catches up");
                    return Ok(Processed::Lifecycle("missed: not reconciled".into()));
                };
                let queued = reconciler
                    .reconcile(time::OffsetDateTime::now_utc() - MISSED_WINDOW)
                    .await
                    .map_err(|message| WorkError::Reaction {
                        reaction: "reconcile missed notifications".into(),
                        message,
                    })?;
                tracing::info!(subscription = %id, queued, "missed notifications reconciled");
                Ok(Processed::Lifecycle(format!(
                    "reconciled: {queued} change(s) queued"
                )))
            }
            LifecycleEvent::SubscriptionRemoved => {
                tracing::warn!(subscription = %id, "Graph removed the subscription; the keeper's next pass recreates it");
                Ok(Processed::Lifecycle(
                    "removed: the keeper recreates it".into(),
                ))
            }
            LifecycleEvent::Unknown(event) => {
                tracing::warn!(subscription = %id, event, "unknown lifecycle event ignored");
                Ok(Processed::Lifecycle("ignored".into()))
            }
        }
    }
}

/// A digest of the resource as read (absent: a fixed value), naming the state a reaction ran for.
/// Properties the reactions write are left out, so the state after our own writes is the same
/// state as before them.
fn state_digest(resource: Option<&Value>, written: &[String]) -> String {
    let bytes = match resource {
        Some(Value::Object(object)) => {
            let mut object = object.clone();
            for property in written {
                object.remove(property);
            }
            Value::Object(object).to_string().into_bytes()
        }
        Some(other) => other.to_string().into_bytes(),
        None => b"absent".to_vec(),
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The properties `reaction` writes on `resource`: `set` where different, `set_defaults` where
/// absent or null.
pub fn patch_for(reaction: &Reaction, resource: &Value) -> Map<String, Value> {
    let mut patch = Map::new();
    for (name, value) in &reaction.set {
        if lookup(resource, name) != Some(value) {
            patch.insert(name.clone(), value.clone());
        }
    }
    for (name, value) in &reaction.set_defaults {
        if lookup(resource, name).is_none_or(Value::is_null) {
            patch.insert(name.clone(), value.clone());
        }
    }
    patch
}
