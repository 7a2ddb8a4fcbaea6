//! What Graph POSTs to a notification URL: a `changeNotificationCollection`
//! (docs/protocols/change-notifications.md A.3, B.3, D.4), read leniently.
//!
//! Graph batches notifications of several subscriptions (even apps and tenants) in one POST, and
//! Microsoft's own examples disagree on details (`sequenceNumber` a string in one revision and a
//! number in another; the lifecycle example carries a placeholder for `lifecycleEvent`). So the
//! collection is read item by item: an item that does not fit is kept as [`Item::Malformed`] with
//! the reason, and never takes the valid items of the same batch down with it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One POST body.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationBatch {
    pub items: Vec<Item>,
    /// JWTs proving Graph sent the batch, one per (app, tenant) in it; rich notifications only.
    pub validation_tokens: Vec<String>,
}

/// One element of `value[]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Change(Box<ChangeNotification>),
    Lifecycle(LifecycleNotification),
    /// Not a notification we can read (the reason, never echoed to the caller).
    Malformed(String),
}

/// Why a body is not a notification collection at all.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body has no value array")]
    NoValue,
}

/// Longest parser message kept in a [`BatchError::NotJson`]: serde quotes the offending value
/// (`invalid type: string "...", expected a sequence`), and a caller's string must not make our
/// log lines as long as it likes.
pub const MAX_ERROR_DETAIL_CHARS: usize = 160;

impl BatchError {
    fn not_json(error: serde_json::Error) -> Self {
        let message = error.to_string();
        if message.chars().count() <= MAX_ERROR_DETAIL_CHARS {
            return Self::NotJson(message);
        }
        let kept: String = message.chars().take(MAX_ERROR_DETAIL_CHARS).collect();
        Self::NotJson(format!(
            "{kept}… (line {}, column {})",
            error.line(),
            error.column()
        ))
    }
}

/// A change notification (`changeType` present).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeNotification {
    /// "Unique ID for the notification. Optional." (absent for directory objects).
    #[serde(default)]
    pub id: Option<String>,
    pub subscription_id: String,
    #[serde(default)]
    pub subscription_expiration_date_time: Option<String>,
    #[serde(default)]
    pub client_state: Option<String>,
    pub change_type: ChangeType,
    /// Relative to the Graph root, e.g. `Users/{id}`.
    pub resource: String,
    #[serde(default)]
    pub resource_data: Option<ResourceData>,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub encrypted_content: Option<EncryptedContent>,
}

/// `created`, `updated` or `deleted` (users and groups: `updated` covers creation and soft delete).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeType {
    Created,
    Updated,
    Deleted,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Created => "created",
            ChangeType::Updated => "updated",
            ChangeType::Deleted => "deleted",
        }
    }
}

/// `resourceData` of a basic notification: the id and type of what changed, plus ordering hints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceData {
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
    #[serde(rename = "@odata.id", default)]
    pub odata_id: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "eventTime", default)]
    pub event_time: Option<String>,
    /// A string in current docs, a number in older ones: kept as text.
    #[serde(
        rename = "sequenceNumber",
        default,
        deserialize_with = "string_or_number"
    )]
    pub sequence_number: Option<String>,
}

/// The encrypted resource of a rich notification (docs/protocols/change-notifications.md B.3).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptedContent {
    /// Base64 AES-256-CBC ciphertext of the resource's JSON.
    pub data: String,
    /// Base64 HMAC-SHA256 of the decoded `data`, keyed with the symmetric key.
    pub data_signature: String,
    /// Base64 symmetric key, RSA-OAEP (SHA-1) encrypted to our certificate.
    pub data_key: String,
    /// Our id of the certificate (chooses the private key).
    pub encryption_certificate_id: String,
    /// Uppercase hex SHA-1 of the certificate, for cross-checking.
    #[serde(default)]
    pub encryption_certificate_thumbprint: Option<String>,
}

impl std::fmt::Debug for EncryptedContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedContent")
            .field("data", &format_args!("<{} base64 chars>", self.data.len()))
            .field("encryption_certificate_id", &self.encryption_certificate_id)
            .finish_non_exhaustive()
    }
}

/// A lifecycle notification (`lifecycleEvent` present).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleNotification {
    pub subscription_id: String,
    #[serde(default)]
    pub subscription_expiration_date_time: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub client_state: Option<String>,
    pub lifecycle_event: LifecycleEvent,
}

/// What happened to the subscription (D.4). Unknown values are kept, logged and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum LifecycleEvent {
    ReauthorizationRequired,
    SubscriptionRemoved,
    Missed,
    Unknown(String),
}

impl From<String> for LifecycleEvent {
    fn from(value: String) -> Self {
        match value.as_str() {
            "reauthorizationRequired" => LifecycleEvent::ReauthorizationRequired,
            "subscriptionRemoved" => LifecycleEvent::SubscriptionRemoved,
            "missed" => LifecycleEvent::Missed,
            _ => LifecycleEvent::Unknown(value),
        }
    }
}

impl From<LifecycleEvent> for String {
    fn from(value: LifecycleEvent) -> Self {
        match value {
            LifecycleEvent::ReauthorizationRequired => "reauthorizationRequired".into(),
            LifecycleEvent::SubscriptionRemoved => "subscriptionRemoved".into(),
            LifecycleEvent::Missed => "missed".into(),
            LifecycleEvent::Unknown(other) => other,
        }
    }
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::String(text)) => Some(text),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    })
}

impl NotificationBatch {
    /// Reads a POST body. Only a body that is not JSON, or has no `value` array, is an error.
    pub fn parse(body: &[u8]) -> Result<NotificationBatch, BatchError> {
        #[derive(Deserialize)]
        struct Raw {
            value: Option<Vec<Value>>,
            #[serde(rename = "validationTokens", default)]
            validation_tokens: Option<Vec<Value>>,
        }
        // serde reads a struct from a JSON array too (`[[...]]` would be a batch); a collection is
        // an object, so any other JSON value has no `value` array.
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(BatchError::not_json)?;
            return Err(BatchError::NoValue);
        }
        let raw: Raw = serde_json::from_slice(body).map_err(BatchError::not_json)?;
        let items = raw.value.ok_or(BatchError::NoValue)?;
        Ok(NotificationBatch {
            items: items.into_iter().map(Item::read).collect(),
            validation_tokens: raw
                .validation_tokens
                .unwrap_or_default()
                .into_iter()
                .filter_map(|token| token.as_str().map(str::to_owned))
                .collect(),
        })
    }
}

impl Item {
    fn read(value: Value) -> Item {
        let Some(object) = value.as_object() else {
            return Item::Malformed("an item is not a JSON object".into());
        };
        if object.contains_key("lifecycleEvent") {
            match serde_json::from_value(value) {
                Ok(lifecycle) => Item::Lifecycle(lifecycle),
                Err(e) => Item::Malformed(format!("lifecycle notification: {e}")),
            }
        } else {
            match serde_json::from_value(value) {
                Ok(change) => Item::Change(Box::new(change)),
                Err(e) => Item::Malformed(format!("change notification: {e}")),
            }
        }
    }

    /// The subscription the item claims to belong to.
    pub fn subscription_id(&self) -> Option<&str> {
        match self {
            Item::Change(change) => Some(&change.subscription_id),
            Item::Lifecycle(lifecycle) => Some(&lifecycle.subscription_id),
            Item::Malformed(_) => None,
        }
    }

    /// The `clientState` the item carries.
    pub fn client_state(&self) -> Option<&str> {
        match self {
            Item::Change(change) => change.client_state.as_deref(),
            Item::Lifecycle(lifecycle) => lifecycle.client_state.as_deref(),
            Item::Malformed(_) => None,
        }
    }

    /// The tenant the item is about.
    pub fn tenant_id(&self) -> Option<&str> {
        match self {
            Item::Change(change) => change.tenant_id.as_deref(),
            Item::Lifecycle(lifecycle) => lifecycle.tenant_id.as_deref(),
            Item::Malformed(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/vectors/change-notifications")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Found by the long fuzz pass: serde quotes the offending value in full, so a long string
    /// where the `value` array belongs made an error message as long as the caller liked.
    #[test]
    fn a_long_quoted_value_does_not_make_a_long_error() {
        let body = format!(r#"{{"value":"{}"}}"#, "x".repeat(5_000));
        let error = NotificationBatch::parse(body.as_bytes()).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, BatchError::NotJson(_)), "{message}");
        assert!(message.chars().count() < 300, "{} chars", message.len());
        assert!(message.contains("line 1"), "{message}");
    }

    #[test]
    fn the_documented_basic_notification_reads_as_a_change() {
        let batch = NotificationBatch::parse(&vector("notification.basic.json")).unwrap();
        assert_eq!(batch.items.len(), 1);
        let Item::Change(change) = &batch.items[0] else {
            panic!("{:?}", batch.items[0]);
        };
        assert_eq!(change.change_type, ChangeType::Created);
        assert_eq!(change.client_state.as_deref(), Some("secretClientValue"));
        assert_eq!(
            change.tenant_id.as_deref(),
            Some("84bd8158-6d4d-4958-8b9f-9d6445542f95")
        );
        let data = change.resource_data.as_ref().unwrap();
        assert_eq!(data.odata_type.as_deref(), Some("#Microsoft.Graph.Message"));
        assert_eq!(data.id.as_deref(), Some("{long_id_string}"));
        assert!(batch.validation_tokens.is_empty());
    }

    #[test]
    fn the_directory_user_notification_reads_with_its_sequence_number() {
        let item =
            serde_json::from_slice::<Value>(&vector("user-updated.eventgrid-data.json")).unwrap();
        let mut with_number = item.clone();
        with_number["resourceData"]["sequenceNumber"] = serde_json::json!(42);
        let body = serde_json::json!({ "value": [item, with_number] });
        let batch = NotificationBatch::parse(body.to_string().as_bytes()).unwrap();
        let sequences: Vec<_> = batch
            .items
            .iter()
            .map(|item| match item {
                Item::Change(change) => change
                    .resource_data
                    .as_ref()
                    .and_then(|d| d.sequence_number.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            sequences,
            vec![Some("<sequence-number>".into()), Some("42".into())]
        );
        let Item::Change(change) = &batch.items[0] else {
            unreachable!()
        };
        assert_eq!(change.change_type, ChangeType::Updated);
        assert_eq!(change.resource, "Users/<user-id>");
        assert!(change.id.is_none());
    }

    #[test]
    fn the_lifecycle_placeholder_is_an_unknown_event_not_an_error() {
        let batch = NotificationBatch::parse(&vector("notification.lifecycle.json")).unwrap();
        let Item::Lifecycle(lifecycle) = &batch.items[0] else {
            panic!("{:?}", batch.items[0]);
        };
        assert_eq!(
            lifecycle.lifecycle_event,
            LifecycleEvent::Unknown(
                "subscriptionRemoved or missed or reauthorizationRequired".into()
            )
        );
        let known: LifecycleEvent = "reauthorizationRequired".to_owned().into();
        assert_eq!(known, LifecycleEvent::ReauthorizationRequired);
    }

    #[test]
    fn a_bad_item_does_not_take_the_batch_down() {
        let body = br#"{"value":[
            {"subscriptionId":"s1","changeType":"updated","resource":"Users/1","clientState":"x"},
            {"subscriptionId":"s2","changeType":"exploded","resource":"Users/2"},
            42,
            {"changeType":"updated"}
        ],"validationTokens":["a.b.c", 7]}"#;
        let batch = NotificationBatch::parse(body).unwrap();
        assert!(matches!(batch.items[0], Item::Change(_)));
        assert!(matches!(&batch.items[1], Item::Malformed(reason) if reason.contains("exploded")));
        assert!(matches!(batch.items[2], Item::Malformed(_)));
        assert!(matches!(batch.items[3], Item::Malformed(_)));
        assert_eq!(batch.validation_tokens, vec!["a.b.c".to_owned()]);
    }

    #[test]
    fn bodies_that_are_not_collections_are_errors() {
        assert!(matches!(
            NotificationBatch::parse(b""),
            Err(BatchError::NotJson(_))
        ));
        assert!(matches!(
            NotificationBatch::parse(b"{\"values\":[]}"),
            Err(BatchError::NoValue)
        ));
        assert!(
            NotificationBatch::parse(b"{\"value\":[]}")
                .unwrap()
                .items
                .is_empty()
        );
    }

    /// Found by tests/fuzz_notifications.rs: serde read the collection struct from an array, so
    /// `[[{...}]]` was a batch of that item.
    #[test]
    fn a_json_array_is_not_a_collection() {
        let item = r#"{"subscriptionId":"s","changeType":"updated","resource":"Users/1"}"#;
        assert!(matches!(
            NotificationBatch::parse(format!(" [[{item}]]").as_bytes()),
            Err(BatchError::NoValue)
        ));
        assert!(matches!(
            NotificationBatch::parse(b"[["),
            Err(BatchError::NotJson(_))
        ));
    }
}
