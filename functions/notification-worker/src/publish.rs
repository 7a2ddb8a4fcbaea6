//! The event-publishing port of the `publish` reaction, with its Amazon EventBridge adapter
//! ([PutEvents](https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html))
//! and an in-memory one for the local host and tests.
//!
//! PutEvents answers 200 even when an entry failed (`FailedEntryCount`, per-entry `ErrorCode`), so
//! the adapter checks the entry, not only the call: a failed entry is an error and the message is
//! retried.

use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::Value;

/// One event to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryEvent {
    pub source: String,
    pub detail_type: String,
    /// Name or ARN of the bus; `None` for the account's default bus.
    pub event_bus: Option<String>,
    /// The JSON `detail`, with a stable `id` consumers de-duplicate on.
    pub detail: Value,
}

/// Why an event was not published (the message is then retried).
#[derive(Debug, thiserror::Error)]
#[error("publishing {detail_type} to {bus}: {message}")]
pub struct PublishError {
    pub detail_type: String,
    pub bus: String,
    pub message: String,
}

/// Where `publish` reactions send events.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, event: &DirectoryEvent) -> Result<(), PublishError>;
}

/// Amazon EventBridge.
#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: aws_sdk_eventbridge::Client,
}

impl EventBridgePublisher {
    /// No I/O here; the first publish connects.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_eventbridge::Client::new(sdk),
        }
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, event: &DirectoryEvent) -> Result<(), PublishError> {
        let error = |message: String| PublishError {
            detail_type: event.detail_type.clone(),
            bus: event.event_bus.clone().unwrap_or_else(|| "default".into()),
            message,
        };
        let entry = PutEventsRequestEntry::builder()
            .source(&event.source)
            .detail_type(&event.detail_type)
            .detail(event.detail.to_string())
            .set_event_bus_name(event.event_bus.clone())
            .build();
        let answer = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| error(DisplayErrorContext(e).to_string()))?;
        if answer.failed_entry_count() > 0 {
            let failed = answer.entries().first();
            return Err(error(format!(
                "{}: {}",
                failed.and_then(|e| e.error_code()).unwrap_or("failed"),
                failed.and_then(|e| e.error_message()).unwrap_or("")
            )));
        }
        Ok(())
    }
}

/// Keeps published events in memory (the local host shows them; tests read them).
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    events: Mutex<Vec<DirectoryEvent>>,
}

impl MemoryPublisher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event published so far.
    pub fn events(&self) -> Vec<DirectoryEvent> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl EventPublisher for MemoryPublisher {
    async fn publish(&self, event: &DirectoryEvent) -> Result<(), PublishError> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event.clone());
        Ok(())
    }
}
