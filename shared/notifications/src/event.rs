//! The messages on the directory-events queue: what changed (a user or a group), how, and where the
//! news came from, in one shape whichever source produced it (Graph's webhook in workforce tenants,
//! the directory poller in External ID tenants, which get no change notifications:
//! docs/protocols/change-notifications.md section 0).
//!
//! A message carries ids, never trusted resource state: the worker re-reads the resource from Graph
//! (basic notifications have no data, and a `clientState` is weak authenticity, A.4), except for
//! rich notifications whose content was decrypted and whose validation tokens were checked.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::wire::{ChangeNotification, ChangeType, LifecycleEvent, LifecycleNotification};

/// One queue message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum QueueMessage {
    Change(DirectoryChange),
    Lifecycle(SubscriptionLifecycle),
}

/// Where a change was learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeSource {
    GraphWebhook,
    DirectoryPoller,
}

/// The kind of directory object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    /// The Graph collection (`users`, `groups`).
    pub fn collection(self) -> &'static str {
        match self {
            ResourceKind::User => "users",
            ResourceKind::Group => "groups",
        }
    }
}

/// A user or group changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryChange {
    pub source: ChangeSource,
    pub tenant_id: String,
    pub resource_kind: ResourceKind,
    pub resource_id: String,
    pub change_type: ChangeType,
    /// The Graph subscription (webhook source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// When it happened, as the source says (`eventTime`, an audit record's `activityDateTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<String>,
    /// What tells this change apart from another change of the same resource: the notification's
    /// own id, its `sequenceNumber`, or the audit record id.
    pub marker: String,
    /// The resource as a verified rich notification carried it (decrypted), else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_data: Option<Value>,
}

impl DirectoryChange {
    /// The de-duplication key: the same notification delivered twice has the same key.
    pub fn dedup_key(&self) -> String {
        format!(
            "change/{}/{}/{}/{}/{}",
            self.subscription_id.as_deref().unwrap_or("poller"),
            self.resource_kind.collection(),
            self.resource_id,
            self.change_type.as_str(),
            self.marker
        )
    }

    /// A change from a (validated) Graph change notification, or `None` when its resource is not a
    /// user or group.
    pub fn from_notification(notification: &ChangeNotification) -> Option<DirectoryChange> {
        let (kind, id) = resource_of(notification)?;
        let data = notification.resource_data.as_ref();
        let marker = notification
            .id
            .clone()
            .or_else(|| data.and_then(|d| d.sequence_number.clone()))
            .or_else(|| data.and_then(|d| d.event_time.clone()))
            .or_else(|| notification.subscription_expiration_date_time.clone())
            .unwrap_or_default();
        Some(DirectoryChange {
            source: ChangeSource::GraphWebhook,
            tenant_id: notification.tenant_id.clone().unwrap_or_default(),
            resource_kind: kind,
            resource_id: id,
            change_type: notification.change_type,
            subscription_id: Some(notification.subscription_id.clone()),
            occurred_at: data.and_then(|d| d.event_time.clone()),
            marker,
            resource_data: None,
        })
    }
}

/// `Users/{id}`, `users/{id}`, `/users/{id}`, `Groups/{id}` (or `resourceData.id` with the type).
fn resource_of(notification: &ChangeNotification) -> Option<(ResourceKind, String)> {
    let path = notification.resource.trim_start_matches('/');
    let (collection, rest) = path.split_once('/').unwrap_or((path, ""));
    let kind = match collection.to_ascii_lowercase().as_str() {
        "users" => ResourceKind::User,
        "groups" => ResourceKind::Group,
        _ => return None,
    };
    let mut segments = rest.split('/');
    let from_path = segments.next().filter(|id| !id.is_empty());
    if segments.next().is_some() {
        return None; // something under a user or group (messages, members): not the object itself
    }
    let id = notification
        .resource_data
        .as_ref()
        .and_then(|d| d.id.clone())
        .or_else(|| from_path.map(str::to_owned))?;
    Some((kind, id))
}

/// A lifecycle notification for one of our subscriptions, for the subscription keeper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionLifecycle {
    pub subscription_id: String,
    pub tenant_id: String,
    pub event: LifecycleEvent,
}

impl SubscriptionLifecycle {
    pub fn from_notification(notification: &LifecycleNotification) -> SubscriptionLifecycle {
        SubscriptionLifecycle {
            subscription_id: notification.subscription_id.clone(),
            tenant_id: notification.tenant_id.clone().unwrap_or_default(),
            event: notification.lifecycle_event.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Item, NotificationBatch};

    fn change(body: &str) -> ChangeNotification {
        match &NotificationBatch::parse(body.as_bytes()).unwrap().items[0] {
            Item::Change(change) => (**change).clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_user_notification_becomes_a_change_with_a_stable_key() {
        let notification = change(
            r##"{"value":[{"subscriptionId":"s-1","changeType":"updated","resource":"Users/u-1",
            "tenantId":"t-1","clientState":"x","resourceData":{"@odata.type":"#Microsoft.Graph.User",
            "id":"u-1","eventTime":"2026-11-26T21:00:00.1Z","sequenceNumber":"638"}}]}"##,
        );
        let event = DirectoryChange::from_notification(&notification).unwrap();
        assert_eq!(event.resource_kind, ResourceKind::User);
        assert_eq!(event.resource_id, "u-1");
        assert_eq!(event.marker, "638");
        assert_eq!(event.dedup_key(), "change/s-1/users/u-1/updated/638");
        assert_eq!(
            DirectoryChange::from_notification(&notification)
                .unwrap()
                .dedup_key(),
            event.dedup_key()
        );
        let message = QueueMessage::Change(event);
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["kind"], "change");
        assert_eq!(json["changeType"], "updated");
        assert_eq!(
            serde_json::from_value::<QueueMessage>(json).unwrap(),
            message
        );
    }

    #[test]
    fn groups_and_ids_from_the_path_and_other_resources_are_not_directory_changes() {
        let group = change(
            r#"{"value":[{"subscriptionId":"s","changeType":"deleted","resource":"groups/g-9"}]}"#,
        );
        let event = DirectoryChange::from_notification(&group).unwrap();
        assert_eq!(
            (event.resource_kind, event.resource_id.as_str()),
            (ResourceKind::Group, "g-9")
        );
        let message = change(
            r#"{"value":[{"subscriptionId":"s","changeType":"created","resource":"users/u/messages/m"}]}"#,
        );
        // A user's messages are not the user.
        assert!(DirectoryChange::from_notification(&message).is_none());
        let other = change(
            r#"{"value":[{"subscriptionId":"s","changeType":"created","resource":"teams/1/channels"}]}"#,
        );
        assert!(DirectoryChange::from_notification(&other).is_none());
    }
}
