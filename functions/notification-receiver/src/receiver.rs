//! What the receiver does with one POST (docs/protocols/change-notifications.md A.2-A.5, B, C).
//!
//! 1. `?validationToken=` → echo it (decoded once) as `text/plain`: the handshake, on both URLs,
//!    before the body is looked at.
//! 2. A body that is not a `changeNotificationCollection` → 400: it did not come from Graph.
//! 3. Item by item: the `clientState` must equal the secret of the subscription named in the URL
//!    (constant time), the tenant must be ours; rich items need every `validationTokens` JWT valid
//!    (issuer, audience = our app, publisher = Graph's change-tracking app, tenant) and decrypt
//!    with one of our keys. Items that fail are dropped and logged, never explained to the caller.
//! 4. The good items go to the queue; only then 202. If the queue refuses, 503, so Graph retries
//!    the whole POST (the worker de-duplicates what was already queued).
//!
//! No Graph call happens here: the worker re-reads what changed.

use std::collections::HashMap;
use std::sync::Arc;

use entra_notifications::decrypt::DecryptionKeys;
use entra_notifications::event::{DirectoryChange, QueueMessage, SubscriptionLifecycle};
use entra_notifications::handshake::validation_token;
use entra_notifications::wire::{ChangeNotification, Item, NotificationBatch};
use entra_platform::queue::{MessageQueue, OutgoingMessage};
use entra_platform::{SecretValue, secure_eq};
use entra_tokens::TokenValidator;
use url::form_urlencoded;

use entra_notifications::config::SUBSCRIPTION_PARAMETER;

/// Which of the two URLs a POST came to (for logs; both behave the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Notifications,
    Lifecycle,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Notifications => "notifications",
            Endpoint::Lifecycle => "lifecycle",
        }
    }
}

/// The receiver's answer, before it becomes HTTP.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// 200 `text/plain`: the decoded validation token.
    Validation(String),
    /// 202: every good item is queued.
    Accepted(Tally),
    /// 400: not a notification collection.
    NotNotifications,
    /// 503: the queue refused; Graph retries.
    QueueUnavailable,
    /// 503: validation tokens could not be checked (signing keys unreachable); Graph retries.
    TokensUncheckable,
}

/// What happened to the items of one POST.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub queued: usize,
    pub dropped: usize,
}

/// Why an item was dropped (logged, never returned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drop {
    Malformed,
    UnknownSubscription,
    ClientStateMismatch,
    ForeignTenant,
    NotDirectoryResource,
    RichWithoutValidTokens,
    DecryptionFailed,
}

impl Drop {
    fn as_str(self) -> &'static str {
        match self {
            Drop::Malformed => "malformed",
            Drop::UnknownSubscription => "unknown_subscription",
            Drop::ClientStateMismatch => "client_state_mismatch",
            Drop::ForeignTenant => "foreign_tenant",
            Drop::NotDirectoryResource => "not_directory_resource",
            Drop::RichWithoutValidTokens => "rich_without_valid_tokens",
            Drop::DecryptionFailed => "decryption_failed",
        }
    }
}

/// Everything the receiver needs, built once per execution environment.
pub struct NotificationReceiver {
    tenant_id: String,
    /// Subscription name (from the URL) → its `clientState`.
    client_states: HashMap<String, SecretValue>,
    /// Checks `validationTokens`; `None` refuses every rich item.
    tokens: Option<TokenValidator>,
    keys: DecryptionKeys,
    queue: Arc<dyn MessageQueue>,
}

impl NotificationReceiver {
    pub fn new(
        tenant_id: impl Into<String>,
        client_states: HashMap<String, SecretValue>,
        tokens: Option<TokenValidator>,
        keys: DecryptionKeys,
        queue: Arc<dyn MessageQueue>,
    ) -> Self {
        Self {
            tenant_id: tenant_id.into().to_ascii_lowercase(),
            client_states,
            tokens,
            keys,
            queue,
        }
    }

    /// Handles one POST to `endpoint` with the raw (undecoded) query string and body.
    pub async fn receive(
        &self,
        endpoint: Endpoint,
        raw_query: Option<&str>,
        body: &[u8],
    ) -> Answer {
        if let Some(token) = validation_token(raw_query) {
            tracing::info!(
                endpoint = endpoint.as_str(),
                "validation handshake answered"
            );
            return Answer::Validation(token);
        }
        let batch = match NotificationBatch::parse(body) {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(endpoint = endpoint.as_str(), %error, "not a notification collection");
                return Answer::NotNotifications;
            }
        };
        let name = subscription_name(raw_query);
        let secret = name.as_deref().and_then(|n| self.client_states.get(n));
        let verified_tenants = match self.verified_token_tenants(&batch).await {
            Ok(tenants) => tenants,
            Err(answer) => return answer,
        };

        let mut messages = Vec::new();
        let mut drops: Vec<Drop> = Vec::new();
        for item in &batch.items {
            match self.accept(item, secret, &verified_tenants) {
                Ok(message) => messages.push(message),
                Err(reason) => drops.push(reason),
            }
        }
        let tally = Tally {
            queued: messages.len(),
            dropped: drops.len(),
        };
        for reason in &drops {
            tracing::warn!(
                endpoint = endpoint.as_str(),
                subscription = name.as_deref().unwrap_or(""),
                reason = reason.as_str(),
                "notification dropped"
            );
        }
        if !messages.is_empty() {
            let outgoing: Vec<OutgoingMessage> = messages
                .iter()
                .filter_map(|m| serde_json::to_string(m).ok())
                .map(OutgoingMessage::new)
                .collect();
            if let Err(error) = self.queue.send_batch(&outgoing).await {
                tracing::error!(%error, queued = 0, "the queue refused the batch; answering 503 so Graph retries");
                return Answer::QueueUnavailable;
            }
        }
        tracing::info!(
            endpoint = endpoint.as_str(),
            subscription = name.as_deref().unwrap_or(""),
            queued = tally.queued,
            dropped = tally.dropped,
            "notifications accepted"
        );
        Answer::Accepted(tally)
    }

    /// Tenants vouched for by the batch's validation tokens: empty when it has none, an error answer
    /// when they cannot be checked at all. One invalid token invalidates the lot (checklist C.1).
    async fn verified_token_tenants(
        &self,
        batch: &NotificationBatch,
    ) -> Result<Vec<String>, Answer> {
        if batch.validation_tokens.is_empty() {
            return Ok(Vec::new());
        }
        let Some(validator) = &self.tokens else {
            return Ok(Vec::new());
        };
        let mut tenants = Vec::new();
        for token in &batch.validation_tokens {
            match validator.validate(token).await {
                Ok(caller) => tenants.push(caller.tenant_id().to_ascii_lowercase()),
                Err(rejection) if rejection.is_server_side() => {
                    tracing::error!(
                        reason = rejection.kind(),
                        "validation tokens cannot be checked now"
                    );
                    return Err(Answer::TokensUncheckable);
                }
                Err(rejection) => {
                    tracing::warn!(
                        reason = rejection.kind(),
                        "a validation token was refused; rich items of this POST are dropped"
                    );
                    return Ok(Vec::new());
                }
            }
        }
        Ok(tenants)
    }

    fn accept(
        &self,
        item: &Item,
        secret: Option<&SecretValue>,
        verified_tenants: &[String],
    ) -> Result<QueueMessage, Drop> {
        if matches!(item, Item::Malformed(_)) {
            return Err(Drop::Malformed);
        }
        let secret = secret.ok_or(Drop::UnknownSubscription)?;
        let presented = item.client_state().unwrap_or_default();
        if !secure_eq(presented.as_bytes(), secret.expose().as_bytes()) {
            return Err(Drop::ClientStateMismatch);
        }
        let tenant = item.tenant_id().unwrap_or_default().to_ascii_lowercase();
        if tenant != self.tenant_id {
            return Err(Drop::ForeignTenant);
        }
        match item {
            Item::Change(change) => self.change(change, &tenant, verified_tenants),
            Item::Lifecycle(lifecycle) => Ok(QueueMessage::Lifecycle(
                SubscriptionLifecycle::from_notification(lifecycle),
            )),
            Item::Malformed(_) => Err(Drop::Malformed),
        }
    }

    fn change(
        &self,
        notification: &ChangeNotification,
        tenant: &str,
        verified_tenants: &[String],
    ) -> Result<QueueMessage, Drop> {
        let mut change =
            DirectoryChange::from_notification(notification).ok_or(Drop::NotDirectoryResource)?;
        if let Some(content) = &notification.encrypted_content {
            if !verified_tenants.iter().any(|t| t == tenant) {
                return Err(Drop::RichWithoutValidTokens);
            }
            match self.keys.decrypt_json(content) {
                Ok(resource) => change.resource_data = Some(resource),
                Err(error) => {
                    tracing::warn!(%error, "rich notification not decrypted");
                    return Err(Drop::DecryptionFailed);
                }
            }
        }
        Ok(QueueMessage::Change(change))
    }
}

/// The `subscription` query parameter (our name for the subscription), decoded once.
fn subscription_name(raw_query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(raw_query?.as_bytes())
        .find(|(name, _)| name == SUBSCRIPTION_PARAMETER)
        .map(|(_, value)| value.into_owned())
}
