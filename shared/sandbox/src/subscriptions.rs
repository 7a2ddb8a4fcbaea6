//! Microsoft Graph change-notification subscriptions and their webhook deliveries, under
//! `/v1.0/subscriptions`.
//!
//! Why it exists: the notification receiver, the subscription keeper and the worker speak Graph's
//! webhook protocol, and the only honest test of a protocol is the other side of it. So the sandbox
//! plays Graph's subscription service over real HTTP: it answers the subscription API, runs the
//! validation handshake against the test's endpoint, and POSTs change and lifecycle notifications to
//! it when users and groups change through the sandbox's Graph routes. Contracts: the project notes
//! docs/protocols/change-notifications.md (A receiver, B rich notifications, C validation tokens,
//! D subscriptions), and Microsoft's pages
//! <https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks>,
//! <https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions> and
//! <https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events>.
//!
//! Routes (bearer check, Graph error envelope with request ids, and the fault layer, like every
//! Graph route):
//! - `POST /v1.0/subscriptions` → `201` with the subscription (D.1's documented response members:
//!   `@odata.context`, `id`, `resource`, `applicationId` = the caller's client id, `changeType`,
//!   `clientState`, `notificationUrl`, `expirationDateTime`, `creatorId`,
//!   `latestSupportedTlsVersion` `v1_2`, `notificationContentType` `application/json`; plus the
//!   other v1.0 properties, `null` or `false` when unset).
//! - `GET /v1.0/subscriptions` (the caller's, paged with `$top` / `@odata.nextLink` like the other
//!   collections), `GET /v1.0/subscriptions/{id}`.
//! - `PATCH /v1.0/subscriptions/{id}` → `200` with the subscription: `expirationDateTime` renews
//!   (and counts as a reauthorization, D.2), `notificationUrl` moves (re-validated),
//!   `encryptionCertificate` / `encryptionCertificateId` rotate the key (B.2);
//!   `lifecycleNotificationUrl` can't be added or changed (`400`), as documented.
//! - `DELETE /v1.0/subscriptions/{id}` → `204`; `POST /v1.0/subscriptions/{id}/reauthorize` → `204`.
//!   Another application's subscription, an unknown or an expired one is `404 ResourceNotFound`
//!   "The object was not found." (the observed answer).
//!
//! Faithful to Graph:
//! - Create validation: `changeType`, `notificationUrl`, `resource`, `expirationDateTime` required;
//!   users and groups take `updated` and `deleted` only, comma-separated (`created` is `400
//!   InvalidRequest` "Invalid 'changeType' attribute: 'created'.", microsoftgraph/microsoft-graph-docs#4819);
//!   `clientState` at most 128 characters; an expiry under 45 minutes ahead (past ones included) is
//!   set to 45 minutes after the request, one over 41,760 minutes ahead is refused with `400
//!   ExtensionError` "Subscription expiration can only be 41760 minutes in the future." (the message
//!   Graph gives for other limits; the docs say requests beyond the maximum "will fail"); the same
//!   `resource` and `changeType` as a live subscription of the same application is `409`; more than
//!   100 per application (1,000 per tenant) is `403` naming the limit; the Web Push properties are
//!   refused with `400`.
//! - The handshake (A.2): during the create call, `POST {notificationUrl}?validationToken={token}`
//!   (the URL's own query kept, the token percent-encoded with `%20`), `Content-Type: text/plain;
//!   charset=utf-8`, empty body, 10 s timeout; then the same for `lifecycleNotificationUrl` (two
//!   requests even when both URLs are equal). The token has the observed form `Validation: Testing
//!   client application reachability for subscription Request-Id: {request-id}`. Only a `200` whose
//!   body is exactly the token passes; otherwise the create is `400 InvalidRequest` with Graph's
//!   messages ([`VALIDATION_MISMATCH_MESSAGE`], [`VALIDATION_NOT_OK_MESSAGE`],
//!   [`VALIDATION_TIMEOUT_MESSAGE`]).
//! - Deliveries (A.3): a `changeNotificationCollection` whose `value[]` elements are the Event Grid
//!   `data` object of `Microsoft.Graph.UserUpdated` member for member: `changeType`, `clientState`,
//!   `resource` `Users/{id}` / `Groups/{id}`, `resourceData` {`@odata.type`
//!   `#Microsoft.Graph.User` / `#Microsoft.Graph.Group`, `@odata.id`, `id`, `organizationId`,
//!   `eventTime` (7 fractional digits), `sequenceNumber` (a string: the .NET ticks of the event,
//!   strictly increasing)}, `subscriptionExpirationDateTime` (`+00:00` form, as on that page),
//!   `subscriptionId`, `tenantId`. Creating, updating and soft-deleting are `updated`; a permanent
//!   deletion is `deleted`. `resource` `users` matches every user, `users/{id}` that one; likewise
//!   for groups, where membership changes are `updated` on the group with a `members@delta` node
//!   (observed in microsoftgraph/microsoft-graph-docs-contrib#4559; its exact shape is undocumented,
//!   the sandbox uses the delta-query form `[{"@odata.type", "id"}]`, with `"@removed":
//!   {"reason": "deleted"}` for a removal). Notifications produced by one write that go to the same
//!   URL travel in one POST ("multiple notifications ... in the same POST request").
//! - Any non-`2xx` (or no answer within the request timeout) is retried with exponential backoff.
//! - Lifecycle notifications (D.4): exactly the documented members (`subscriptionId`,
//!   `subscriptionExpirationDateTime` in the `Z` form of that page, `tenantId`, `clientState`,
//!   `lifecycleEvent`), POSTed to `lifecycleNotificationUrl`.
//! - Expired subscriptions receive nothing and are deleted (Graph deletes them; they are dropped
//!   lazily, on the next access).
//!
//! Simplified or extended, on purpose:
//! - **Loopback only.** Every outbound call goes to `127.0.0.0/8`, `[::1]` or `localhost`; any
//!   other `notificationUrl` or `lifecycleNotificationUrl` is refused with `400`, so a test can never
//!   send traffic off the machine. `http` is accepted there; Graph requires `https`.
//! - **Rich notifications for users and groups are a sandbox extension.** Graph does not offer
//!   `includeResourceData` for `user` or `group` (B.1); the sandbox does, so the receiver's
//!   decryption and `validationTokens` path can be tested end to end. Such a subscription needs
//!   `encryptionCertificate` (base64 DER X.509, RSA 2,048-4,096 bits) and `encryptionCertificateId`
//!   (at most 128 characters); each of its notifications carries `encryptedContent` (the object's
//!   JSON as `GET` would show it, with `@odata.context`, encrypted per B.4: random 32-byte key,
//!   AES-256-CBC with IV = key[0..16] and PKCS#7, HMAC-SHA256 of the ciphertext, key wrapped with
//!   RSA-OAEP SHA-1; thumbprint = uppercase hex SHA-1 of the DER certificate), also for `deleted`
//!   (the last state), and the POST carries `validationTokens`: one
//!   [`crate::Sandbox::graph_notification_token`] per application with rich notifications in it,
//!   audience = that `applicationId`.
//! - Resources: `users`, `users/{id}`, `groups`, `groups/{id}` (leading `/` optional, echoed without
//!   it, as the documented response does). Everything else is `400`, although Graph accepts more
//!   (`/groups/{id}/members`) and silently accepts some paths that never deliver. `users/{id}` is
//!   not checked for existence.
//! - The `409` and `403` texts follow the `Operation: Create; Exception: [Status Code: ...; Reason:
//!   ...]` form Graph uses for its subscription-store errors; other validation messages are the
//!   sandbox's own wording unless quoted above.
//! - The 409 and 403 checks run before the handshake (no traffic for a request bound to fail) and
//!   again when the subscription is stored.
//! - Deliveries are queued per URL and sent in order by one task per URL, a batch's retries before
//!   the next batch; Graph promises neither order nor that. Retries are bounded
//!   ([`RetryPolicy`], default 5 attempts from 250 ms doubling), not Graph's 4 hours. No throttling
//!   of slow endpoints.
//! - Only writes through the Graph routes notify (like the audit records); [`crate::Sandbox`]'s
//!   direct `insert_*` helpers and seeding don't. Deleting a user through `DELETE /v1.0/users/{id}`
//!   is permanent in the sandbox, so it yields `updated` (the soft delete) then `deleted` (the
//!   permanent one), in one POST when they go to the same URL; the memberships it removes don't
//!   notify the groups.
//! - Lifecycle notifications are only sent when a test asks ([`Subscriptions::emit_lifecycle`]), for
//!   any event (Graph only sends `reauthorizationRequired` for directory resources);
//!   `subscriptionRemoved` also deletes the subscription. A subscription without
//!   `lifecycleNotificationUrl` gets none.
//! - `clientState` is left out of change notifications of a subscription that has none.
//!
//! Tests drive and observe it through [`crate::Sandbox::subscriptions`]: the subscriptions, every
//! outbound POST ([`DeliveryAttempt`]: handshakes, deliveries and each retry, with status and
//! body), [`Subscriptions::wait_idle`] to wait for queued deliveries, and the retry policy.

mod delivery;
mod payload;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Extension, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::{StatusCode, Uri, header};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::directory::odata::QueryOptions;
use crate::directory::{Caller, GraphFailure, RequestIds};
use crate::{Sandbox, SandboxConfig, SandboxError, SandboxState};
use delivery::{Batch, Deliveries, loopback_url};
use payload::{ChangeNotification, Collection, LifecycleNotification, RecipientKey, ResourceData};

pub use delivery::{
    DELIVERY_LOG_CAPACITY, DeliveryAttempt, DeliveryKind, RetryPolicy, VALIDATION_MISMATCH_MESSAGE,
    VALIDATION_NOT_OK_MESSAGE, VALIDATION_TIMEOUT_MESSAGE,
};

/// Any requested expiry sooner than this many minutes ahead is set to it.
pub const MIN_EXPIRATION_MINUTES: u64 = 45;
/// The longest lifetime of a user or group subscription, in minutes (under 29 days).
pub const MAX_EXPIRATION_MINUTES: u64 = 41_760;
/// Subscriptions one application may hold in the tenant for users and groups.
pub const MAX_SUBSCRIPTIONS_PER_APP: usize = 100;
/// Subscriptions all applications together may hold in the tenant for users and groups.
pub const MAX_SUBSCRIPTIONS_PER_TENANT: usize = 1_000;
/// Longest `clientState`, in characters.
pub const MAX_CLIENT_STATE_CHARS: usize = 128;
/// Longest `encryptionCertificateId`, in characters.
pub const MAX_CERTIFICATE_ID_CHARS: usize = 128;

/// A lifecycle notification's `lifecycleEvent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleEvent {
    /// Reauthorize (or renew) soon, or deliveries pause.
    ReauthorizationRequired,
    /// The subscription is gone; emitting this also deletes it.
    SubscriptionRemoved,
    /// Notifications were lost; resync.
    Missed,
}

impl LifecycleEvent {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleEvent::ReauthorizationRequired => "reauthorizationRequired",
            LifecycleEvent::SubscriptionRemoved => "subscriptionRemoved",
            LifecycleEvent::Missed => "missed",
        }
    }
}

/// One subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    /// As requested, without a leading `/` (`users`, `groups/{id}`).
    pub resource: String,
    /// The client id of the application that created it (lowercase).
    pub application_id: String,
    /// As requested (`updated,deleted`).
    pub change_type: String,
    pub client_state: Option<String>,
    pub notification_url: String,
    pub lifecycle_notification_url: Option<String>,
    /// Truncated to 100 ns, the precision Graph shows.
    pub expiration: SystemTime,
    /// The creating application's service principal (a stable id derived from the client id).
    pub creator_id: String,
    pub include_resource_data: bool,
    pub encryption_certificate: Option<String>,
    pub encryption_certificate_id: Option<String>,
    pub latest_supported_tls_version: String,
    pub notification_url_app_id: Option<String>,
    /// How often it was reauthorized: `POST .../reauthorize` and renewals by `PATCH`.
    pub reauthorizations: u32,
    pub created_at: SystemTime,
}

/// The Graph JSON of a subscription, in the member order of the documented responses.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionJson<'a> {
    #[serde(rename = "@odata.context", skip_serializing_if = "Option::is_none")]
    context: Option<String>,
    id: &'a str,
    resource: &'a str,
    application_id: &'a str,
    change_type: &'a str,
    client_state: Option<&'a str>,
    notification_url: &'a str,
    notification_query_options: Option<&'a str>,
    lifecycle_notification_url: Option<&'a str>,
    expiration_date_time: String,
    creator_id: &'a str,
    include_resource_data: bool,
    latest_supported_tls_version: &'a str,
    encryption_certificate: Option<&'a str>,
    encryption_certificate_id: Option<&'a str>,
    notification_url_app_id: Option<&'a str>,
    notification_content_type: &'static str,
}

impl Subscription {
    /// `expirationDateTime` as Graph shows it: `2016-11-20T18:23:45.9356913Z`.
    pub fn expiration_date_time(&self) -> String {
        payload::format_z(self.expiration)
    }

    /// The subscription as `GET /v1.0/subscriptions/{id}` shows it, without `@odata.context`.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.json(None)).unwrap_or(Value::Null)
    }

    fn json(&self, context: Option<String>) -> SubscriptionJson<'_> {
        SubscriptionJson {
            context,
            id: &self.id,
            resource: &self.resource,
            application_id: &self.application_id,
            change_type: &self.change_type,
            client_state: self.client_state.as_deref(),
            notification_url: &self.notification_url,
            notification_query_options: None,
            lifecycle_notification_url: self.lifecycle_notification_url.as_deref(),
            expiration_date_time: self.expiration_date_time(),
            creator_id: &self.creator_id,
            include_resource_data: self.include_resource_data,
            latest_supported_tls_version: &self.latest_supported_tls_version,
            encryption_certificate: self.encryption_certificate.as_deref(),
            encryption_certificate_id: self.encryption_certificate_id.as_deref(),
            notification_url_app_id: self.notification_url_app_id.as_deref(),
            notification_content_type: "application/json",
        }
    }
}

/// What a subscription watches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Users,
    User(String),
    Groups,
    Group(String),
}

impl Target {
    fn matches(&self, kind: ObjectType, id: &str) -> bool {
        match (self, kind) {
            (Target::Users, ObjectType::User) | (Target::Groups, ObjectType::Group) => true,
            (Target::User(one), ObjectType::User) | (Target::Group(one), ObjectType::Group) => {
                one.eq_ignore_ascii_case(id)
            }
            _ => false,
        }
    }
}

/// The change types a subscription asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ChangeTypes {
    updated: bool,
    deleted: bool,
}

impl ChangeTypes {
    fn includes(self, change: Change) -> bool {
        match change {
            Change::Updated => self.updated,
            Change::Deleted => self.deleted,
        }
    }
}

/// A subscription with what delivery needs.
#[derive(Debug, Clone)]
struct Stored {
    public: Subscription,
    target: Target,
    changes: ChangeTypes,
    /// Present when `includeResourceData` is true.
    key: Option<Arc<RecipientKey>>,
}

impl Stored {
    /// The duplicate-check key: the same application, resource and change types.
    fn same_as(&self, app: &str, resource: &str, changes: ChangeTypes) -> bool {
        self.public.application_id == app
            && self.public.resource.eq_ignore_ascii_case(resource)
            && self.changes == changes
    }
}

/// The subscriptions of the tenant and the publisher that serves them.
///
/// Reach it as [`Sandbox::subscriptions`] (or `state().subscriptions`).
#[derive(Debug)]
pub struct Subscriptions {
    tenant_id: String,
    store: Mutex<Vec<Stored>>,
    /// Last `sequenceNumber` handed out (.NET ticks).
    last_sequence: Mutex<i128>,
    deliveries: Deliveries,
}

impl Subscriptions {
    /// No subscriptions. Must be called inside a Tokio runtime (deliveries are spawned on it).
    pub fn new(config: &SandboxConfig) -> Result<Self, SandboxError> {
        Ok(Self {
            tenant_id: config.tenant_id.clone(),
            store: Mutex::new(Vec::new()),
            last_sequence: Mutex::new(0),
            deliveries: Deliveries::new()?,
        })
    }

    fn live(&self) -> MutexGuard<'_, Vec<Stored>> {
        let mut store = lock(&self.store);
        let now = SystemTime::now();
        store.retain(|s| s.public.expiration > now);
        store
    }

    /// Every live subscription, of every application, in creation order.
    pub fn list(&self) -> Vec<Subscription> {
        self.live().iter().map(|s| s.public.clone()).collect()
    }

    /// A live subscription by id.
    pub fn get(&self, id: &str) -> Option<Subscription> {
        self.live()
            .iter()
            .find(|s| s.public.id.eq_ignore_ascii_case(id))
            .map(|s| s.public.clone())
    }

    /// Moves a subscription's expiry to `at` without Graph's limits (a keeper test can make one
    /// nearly due). A time in the past expires it.
    pub fn set_expiration(&self, id: &str, at: SystemTime) -> Result<Subscription, SandboxError> {
        let mut store = self.live();
        let stored = store
            .iter_mut()
            .find(|s| s.public.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| unknown(id))?;
        stored.public.expiration = payload::truncate_to_ticks(at);
        Ok(stored.public.clone())
    }

    /// Lets a subscription expire now: it gets no more deliveries and is gone from the API.
    pub fn expire(&self, id: &str) -> Result<(), SandboxError> {
        self.set_expiration(id, SystemTime::now() - Duration::from_secs(1))
            .map(|_| ())
    }

    /// Deletes a subscription without telling anyone (as Graph dropping it silently would).
    pub fn remove(&self, id: &str) -> Option<Subscription> {
        let mut store = self.live();
        let index = store
            .iter()
            .position(|s| s.public.id.eq_ignore_ascii_case(id))?;
        Some(store.remove(index).public)
    }

    /// Sends one lifecycle notification to the subscription's `lifecycleNotificationUrl` (D.4);
    /// `subscriptionRemoved` also deletes the subscription. Returns the delivery's batch number.
    pub fn emit_lifecycle(&self, id: &str, event: LifecycleEvent) -> Result<u64, SandboxError> {
        self.emit_lifecycle_batch(&[(id, event)])
            .map(|batches| batches.first().copied().unwrap_or_default())
    }

    /// Sends several lifecycle notifications; those for the same URL travel in one POST, in the
    /// given order. Fails (sending nothing) if a subscription is unknown or has no
    /// `lifecycleNotificationUrl`. Returns the batch numbers, one per URL.
    pub fn emit_lifecycle_batch(
        &self,
        events: &[(&str, LifecycleEvent)],
    ) -> Result<Vec<u64>, SandboxError> {
        let mut batches: Vec<(String, Vec<LifecycleNotification>, Vec<String>)> = Vec::new();
        {
            let mut store = self.live();
            for (id, event) in events {
                let stored = store
                    .iter()
                    .find(|s| s.public.id.eq_ignore_ascii_case(id))
                    .ok_or_else(|| unknown(id))?;
                let url = stored
                    .public
                    .lifecycle_notification_url
                    .clone()
                    .ok_or_else(|| {
                        SandboxError::Invalid(format!(
                            "subscription '{id}' has no lifecycleNotificationUrl"
                        ))
                    })?;
                let notification = LifecycleNotification {
                    subscription_id: stored.public.id.clone(),
                    subscription_expiration_date_time: stored.public.expiration_date_time(),
                    tenant_id: self.tenant_id.clone(),
                    client_state: stored.public.client_state.clone(),
                    lifecycle_event: event.as_str(),
                };
                let subscription_id = stored.public.id.clone();
                match batches.iter_mut().find(|(u, _, _)| *u == url) {
                    Some((_, value, ids)) => {
                        value.push(notification);
                        ids.push(subscription_id);
                    }
                    None => batches.push((url, vec![notification], vec![subscription_id])),
                }
            }
            for (id, event) in events {
                if *event == LifecycleEvent::SubscriptionRemoved {
                    store.retain(|s| !s.public.id.eq_ignore_ascii_case(id));
                }
            }
        }
        Ok(batches
            .into_iter()
            .map(|(url, value, subscription_ids)| {
                let body = Collection {
                    value,
                    validation_tokens: None,
                };
                self.deliveries.enqueue(Batch {
                    kind: DeliveryKind::Lifecycle,
                    url,
                    body: serde_json::to_string(&body).unwrap_or_default(),
                    subscription_ids,
                })
            })
            .collect())
    }

    /// Every outbound POST so far (handshakes, deliveries, each retry), oldest first (at most
    /// [`DELIVERY_LOG_CAPACITY`]).
    pub fn attempts(&self) -> Vec<DeliveryAttempt> {
        self.deliveries.attempts()
    }

    /// The logged attempts of one kind.
    pub fn attempts_of(&self, kind: DeliveryKind) -> Vec<DeliveryAttempt> {
        self.attempts()
            .into_iter()
            .filter(|a| a.kind == kind)
            .collect()
    }

    /// Forgets the logged attempts.
    pub fn clear_attempts(&self) {
        self.deliveries.clear_attempts();
    }

    /// Batches queued or being delivered (retries included).
    pub fn pending(&self) -> usize {
        self.deliveries.pending()
    }

    /// Waits until every delivery queued so far has succeeded or used up its attempts. A change
    /// made through the Graph routes is queued before its request is answered, so this is the way
    /// to wait for its notifications.
    pub async fn wait_idle(&self) {
        self.deliveries.wait_idle().await;
    }

    /// How failed deliveries are retried from now on (batches already running keep theirs).
    pub fn set_retry_policy(&self, policy: RetryPolicy) {
        self.deliveries.set_policy(policy);
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.deliveries.policy()
    }

    /// How long the handshake waits for the endpoint (Graph: 10 s).
    pub fn set_validation_timeout(&self, timeout: Duration) {
        self.deliveries.set_validation_timeout(timeout);
    }

    /// 409 for a duplicate, 403 over a quota.
    fn check_room(
        store: &[Stored],
        app: &str,
        resource: &str,
        changes: ChangeTypes,
    ) -> Result<(), GraphFailure> {
        if store.iter().any(|s| s.same_as(app, resource, changes)) {
            return Err(GraphFailure::new(
                StatusCode::CONFLICT,
                "ExtensionError",
                "Operation: Create; Exception: [Status Code: Conflict; Reason: A subscription with the same resource and changeType already exists for this application.]",
            ));
        }
        let mine = store
            .iter()
            .filter(|s| s.public.application_id == app)
            .count();
        if mine >= MAX_SUBSCRIPTIONS_PER_APP {
            return Err(GraphFailure::new(
                StatusCode::FORBIDDEN,
                "ExtensionError",
                format!(
                    "Operation: Create; Exception: [Status Code: Forbidden; Reason: Maximum number of subscriptions has been reached. The limit for users and groups is {MAX_SUBSCRIPTIONS_PER_APP} subscriptions per application and tenant.]"
                ),
            ));
        }
        if store.len() >= MAX_SUBSCRIPTIONS_PER_TENANT {
            return Err(GraphFailure::new(
                StatusCode::FORBIDDEN,
                "ExtensionError",
                format!(
                    "Operation: Create; Exception: [Status Code: Forbidden; Reason: Maximum number of subscriptions has been reached. The limit for users and groups is {MAX_SUBSCRIPTIONS_PER_TENANT} subscriptions per tenant.]"
                ),
            ));
        }
        Ok(())
    }

    /// The next `sequenceNumber` for an event at `at`: its .NET ticks, bumped to stay increasing.
    fn sequence(&self, at: SystemTime) -> String {
        let mut last = lock(&self.last_sequence);
        *last = payload::dotnet_ticks(at).max(*last + 1);
        last.to_string()
    }

    /// Queues the notifications of directory events (one write's worth) to every matching live
    /// subscription, one POST per URL.
    fn publish(&self, state: &Arc<SandboxState>, events: Vec<Event>) {
        let matched: Vec<(usize, Stored)> = {
            let store = self.live();
            events
                .iter()
                .enumerate()
                .flat_map(|(index, event)| {
                    store
                        .iter()
                        .filter(|s| {
                            s.changes.includes(event.change)
                                && s.target.matches(event.kind, &event.id)
                        })
                        .map(move |s| (index, s.clone()))
                })
                .collect()
        };
        if matched.is_empty() {
            return;
        }
        let now = SystemTime::now();
        let stamps: Vec<(String, String)> = events
            .iter()
            .map(|_| (payload::format_z(now), self.sequence(now)))
            .collect();

        struct Outgoing {
            url: String,
            value: Vec<ChangeNotification>,
            subscription_ids: Vec<String>,
            rich_apps: BTreeSet<String>,
        }
        let mut outgoing: Vec<Outgoing> = Vec::new();
        for (index, stored) in matched {
            let event = &events[index];
            let (event_time, sequence_number) = &stamps[index];
            let sub = &stored.public;
            let path = format!("{}/{}", event.kind.resource_set(), event.id);
            let encrypted_content = stored.key.as_ref().and_then(|key| {
                let plaintext = event.content(&state.base_url);
                let certificate_id = sub.encryption_certificate_id.as_deref().unwrap_or_default();
                key.encrypt(certificate_id, plaintext.as_bytes())
                    .inspect_err(|error| tracing::warn!(%error, "rich notification not encrypted"))
                    .ok()
            });
            let notification = ChangeNotification {
                change_type: event.change.as_str(),
                client_state: sub.client_state.clone(),
                resource: path.clone(),
                resource_data: ResourceData {
                    odata_type: event.kind.odata_type(),
                    odata_id: path,
                    id: event.id.clone(),
                    organization_id: self.tenant_id.clone(),
                    event_time: event_time.clone(),
                    sequence_number: sequence_number.clone(),
                    members_delta: event.members_delta.clone(),
                },
                subscription_expiration_date_time: payload::format_offset(sub.expiration),
                subscription_id: sub.id.clone(),
                tenant_id: self.tenant_id.clone(),
                encrypted_content,
            };
            let batch = match outgoing.iter().position(|o| o.url == sub.notification_url) {
                Some(position) => &mut outgoing[position],
                None => {
                    outgoing.push(Outgoing {
                        url: sub.notification_url.clone(),
                        value: Vec::new(),
                        subscription_ids: Vec::new(),
                        rich_apps: BTreeSet::new(),
                    });
                    let last = outgoing.len() - 1;
                    &mut outgoing[last]
                }
            };
            if notification.encrypted_content.is_some() {
                batch.rich_apps.insert(sub.application_id.clone());
            }
            batch.value.push(notification);
            if !batch.subscription_ids.contains(&sub.id) {
                batch.subscription_ids.push(sub.id.clone());
            }
        }
        for batch in outgoing {
            let validation_tokens = (!batch.rich_apps.is_empty()).then(|| {
                batch
                    .rich_apps
                    .iter()
                    .map(|app| crate::identity::graph_notification_token(state.clone(), app).sign())
                    .collect()
            });
            let body = Collection {
                value: batch.value,
                validation_tokens,
            };
            self.deliveries.enqueue(Batch {
                kind: DeliveryKind::Change,
                url: batch.url,
                body: serde_json::to_string(&body).unwrap_or_default(),
                subscription_ids: batch.subscription_ids,
            });
        }
    }
}

fn unknown(id: &str) -> SandboxError {
    SandboxError::Invalid(format!("no live subscription '{id}'"))
}

/// Which kind of directory object changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectType {
    User,
    Group,
}

impl ObjectType {
    /// The `resource` and `@odata.id` prefix, capitalised as Graph sends it.
    fn resource_set(self) -> &'static str {
        match self {
            ObjectType::User => "Users",
            ObjectType::Group => "Groups",
        }
    }

    fn odata_type(self) -> &'static str {
        match self {
            ObjectType::User => "#Microsoft.Graph.User",
            ObjectType::Group => "#Microsoft.Graph.Group",
        }
    }

    fn entity_set(self) -> &'static str {
        match self {
            ObjectType::User => "users",
            ObjectType::Group => "groups",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Updated,
    Deleted,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::Updated => "updated",
            Change::Deleted => "deleted",
        }
    }
}

/// One directory event to notify about.
struct Event {
    kind: ObjectType,
    id: String,
    change: Change,
    /// The object after the change (before it, for a deletion).
    object: Map<String, Value>,
    members_delta: Option<Vec<Value>>,
}

impl Event {
    fn new(kind: ObjectType, change: Change, object: &Map<String, Value>) -> Self {
        Self {
            kind,
            id: object
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            change,
            object: object.clone(),
            members_delta: None,
        }
    }

    /// The resource JSON a rich notification encrypts: the object as `GET` shows it in full.
    fn content(&self, base_url: &str) -> String {
        let mut object = self.object.clone();
        object.insert(
            "@odata.context".into(),
            json!(format!(
                "{base_url}/v1.0/$metadata#{}/$entity",
                self.kind.entity_set()
            )),
        );
        Value::Object(object).to_string()
    }
}

/// A change made through the directory's Graph routes (see `crate::directory`).
pub(crate) enum DirectoryChange<'a> {
    /// A user was created or updated: `updated`.
    User(&'a Map<String, Value>),
    /// A user was deleted (permanently, in the sandbox): `updated`, then `deleted`.
    UserDeleted(&'a Map<String, Value>),
    /// A group was created or updated: `updated`.
    Group(&'a Map<String, Value>),
    /// A member was added to or removed from a group: `updated` on the group.
    Members {
        group_id: &'a str,
        member_id: &'a str,
        removed: bool,
    },
}

impl<'a> DirectoryChange<'a> {
    pub(crate) fn member(group_id: &'a str, member_id: &'a str, removed: bool) -> Self {
        DirectoryChange::Members {
            group_id,
            member_id,
            removed,
        }
    }
}

/// Notifies the subscriptions about a directory change; deliveries run in the background.
pub(crate) fn directory_changed(state: &Arc<SandboxState>, change: DirectoryChange<'_>) {
    let events = match change {
        DirectoryChange::User(user) => vec![Event::new(ObjectType::User, Change::Updated, user)],
        DirectoryChange::UserDeleted(user) => vec![
            Event::new(ObjectType::User, Change::Updated, user),
            Event::new(ObjectType::User, Change::Deleted, user),
        ],
        DirectoryChange::Group(group) => {
            vec![Event::new(ObjectType::Group, Change::Updated, group)]
        }
        DirectoryChange::Members {
            group_id,
            member_id,
            removed,
        } => {
            let directory = state.directory.lock();
            let Ok(group) = directory.group(group_id) else {
                return;
            };
            let mut event = Event::new(ObjectType::Group, Change::Updated, group);
            let (odata_type, member) = directory.object(member_id).map_or_else(
                || ("#microsoft.graph.directoryObject", member_id.to_owned()),
                |(kind, id)| (kind.odata_type(), id),
            );
            let mut entry = json!({"@odata.type": odata_type, "id": member});
            if removed {
                entry["@removed"] = json!({"reason": "deleted"});
            }
            event.members_delta = Some(vec![entry]);
            vec![event]
        }
    };
    state.subscriptions.publish(state, events);
}

impl Sandbox {
    /// Change-notification subscriptions, their deliveries and the controls tests need.
    pub fn subscriptions(&self) -> &Subscriptions {
        &self.state().subscriptions
    }

    /// Issues a Graph access token for another application `client_id`, so a test can act as a
    /// second app (subscriptions are per application). The client is not checked.
    pub fn issue_access_token_for(&self, client_id: &str) -> String {
        let lifetime = Duration::from_secs(self.state().config.access_token_lifetime_secs);
        self.state().token_endpoint.issue_for(client_id, lifetime)
    }
}

/// The subscription routes; merged into the Graph router, behind its envelope middleware.
pub fn router() -> Router<Arc<SandboxState>> {
    Router::new()
        .route("/v1.0/subscriptions", get(list).post(create))
        .route(
            "/v1.0/subscriptions/{id}",
            get(get_one).patch(update).delete(delete),
        )
        .route("/v1.0/subscriptions/{id}/reauthorize", post(reauthorize))
}

type Reply = Result<Response, GraphFailure>;

/// An authenticated Graph caller and the application it is.
struct App {
    client_id: String,
    eventual: bool,
}

impl FromRequestParts<Arc<SandboxState>> for App {
    type Rejection = GraphFailure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<SandboxState>,
    ) -> Result<Self, Self::Rejection> {
        Caller::from_request_parts(parts, state).await?;
        let client_id = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .and_then(|(_, token)| state.token_endpoint.client_of(token.trim()))
            .unwrap_or_else(|| state.config.graph_client_id.to_ascii_lowercase());
        let eventual = parts
            .headers
            .get("consistencylevel")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"));
        Ok(Self {
            client_id,
            eventual,
        })
    }
}

fn invalid_request(message: impl Into<String>) -> GraphFailure {
    GraphFailure::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

fn not_found() -> GraphFailure {
    GraphFailure::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "The object was not found.",
    )
}

fn json_object(body: &Bytes) -> Result<Map<String, Value>, GraphFailure> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(GraphFailure::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )),
    }
}

fn entity(state: &SandboxState, subscription: &Subscription, status: StatusCode) -> Response {
    let context = format!("{}/v1.0/$metadata#subscriptions/$entity", state.base_url);
    (status, axum::Json(subscription.json(Some(context)))).into_response()
}

/// A string property: absent or `null` is `None`, another type a 400.
fn text<'a>(body: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, GraphFailure> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.as_str())),
        Some(_) => Err(invalid_request(format!(
            "Invalid value for property '{name}': a string is expected."
        ))),
    }
}

fn required<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a str, GraphFailure> {
    text(body, name)?
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| invalid_request(format!("The '{name}' property is required.")))
}

/// `resource`, without a leading `/`, and what it targets.
fn parse_resource(raw: &str) -> Result<(String, Target), GraphFailure> {
    let resource = raw.trim().trim_start_matches('/').to_owned();
    let unsupported = || {
        invalid_request(format!(
            "Resource '{raw}' is not supported for change notifications by the sandbox; use users, users/{{id}}, groups or groups/{{id}}."
        ))
    };
    let segments: Vec<&str> = resource.split('/').collect();
    let id_ok = |id: &str| !id.is_empty() && !id.contains(['?', '(', ')', '\'', ' ']);
    let target = match segments.as_slice() {
        [set] if set.eq_ignore_ascii_case("users") => Target::Users,
        [set] if set.eq_ignore_ascii_case("groups") => Target::Groups,
        [set, id] if set.eq_ignore_ascii_case("users") && id_ok(id) => Target::User((*id).into()),
        [set, id] if set.eq_ignore_ascii_case("groups") && id_ok(id) => Target::Group((*id).into()),
        _ => return Err(unsupported()),
    };
    Ok((resource, target))
}

/// `changeType` for users and groups: `updated` and/or `deleted`, comma-separated.
fn parse_change_types(raw: &str) -> Result<ChangeTypes, GraphFailure> {
    let mut changes = ChangeTypes {
        updated: false,
        deleted: false,
    };
    for part in raw.split(',').map(str::trim) {
        match part.to_ascii_lowercase().as_str() {
            "updated" => changes.updated = true,
            "deleted" => changes.deleted = true,
            _ => {
                return Err(invalid_request(format!(
                    "Invalid 'changeType' attribute: '{part}'."
                )));
            }
        }
    }
    Ok(changes)
}

/// A requested `expirationDateTime`, clamped up to 45 minutes ahead; more than 41,760 minutes ahead
/// is refused.
fn parse_expiration(raw: &str, now: SystemTime) -> Result<SystemTime, GraphFailure> {
    let requested = payload::parse_date_time(raw).ok_or_else(|| {
        invalid_request(format!(
            "Invalid 'expirationDateTime': '{raw}' is not a date and time with an offset, such as 2016-11-20T18:23:45.9356913Z."
        ))
    })?;
    let earliest = now + Duration::from_secs(MIN_EXPIRATION_MINUTES * 60);
    let latest = now + Duration::from_secs(MAX_EXPIRATION_MINUTES * 60);
    if requested > latest {
        return Err(GraphFailure::new(
            StatusCode::BAD_REQUEST,
            "ExtensionError",
            format!(
                "Subscription expiration can only be {MAX_EXPIRATION_MINUTES} minutes in the future."
            ),
        ));
    }
    Ok(payload::truncate_to_ticks(requested.max(earliest)))
}

fn parse_certificate_id(raw: &str) -> Result<String, GraphFailure> {
    if raw.chars().count() > MAX_CERTIFICATE_ID_CHARS {
        return Err(invalid_request(format!(
            "The 'encryptionCertificateId' property must be at most {MAX_CERTIFICATE_ID_CHARS} characters long."
        )));
    }
    Ok(raw.to_owned())
}

fn parse_certificate(raw: &str) -> Result<Arc<RecipientKey>, GraphFailure> {
    RecipientKey::from_base64_certificate(raw)
        .map(Arc::new)
        .map_err(|reason| invalid_request(format!("Invalid 'encryptionCertificate': {reason}.")))
}

/// A stable service principal object id for an application (the `creatorId` of app-only callers).
fn service_principal_id(client_id: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("service-principal:{client_id}").as_bytes(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

async fn create(
    app: App,
    State(state): State<Arc<SandboxState>>,
    Extension(ids): Extension<RequestIds>,
    body: Bytes,
) -> Reply {
    let body = json_object(&body)?;
    let now = SystemTime::now();
    for web_push in [
        "vapidPublicKey",
        "webPushEncryptionP256dhPublicKey",
        "webPushEncryptionSecret",
    ] {
        if body.contains_key(web_push) {
            return Err(invalid_request(format!(
                "The '{web_push}' property is only supported on Web Push subscriptions."
            )));
        }
    }
    let change_type = required(&body, "changeType")?;
    let notification_raw = required(&body, "notificationUrl")?;
    let resource_raw = required(&body, "resource")?;
    let expiration_raw = required(&body, "expirationDateTime")?;
    let changes = parse_change_types(change_type)?;
    let (resource, target) = parse_resource(resource_raw)?;
    let expiration = parse_expiration(expiration_raw, now)?;
    let client_state = text(&body, "clientState")?.map(str::to_owned);
    if client_state
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_CLIENT_STATE_CHARS)
    {
        return Err(invalid_request(format!(
            "The 'clientState' property must be at most {MAX_CLIENT_STATE_CHARS} characters long."
        )));
    }
    let tls = text(&body, "latestSupportedTlsVersion")?.unwrap_or("v1_2");
    if !matches!(tls, "v1_0" | "v1_1" | "v1_2" | "v1_3") {
        return Err(invalid_request(format!(
            "Invalid 'latestSupportedTlsVersion': '{tls}'. Supported values: v1_0, v1_1, v1_2, v1_3."
        )));
    }
    let include_resource_data = match body.get("includeResourceData") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(include)) => *include,
        Some(_) => {
            return Err(invalid_request(
                "Invalid value for property 'includeResourceData': a boolean is expected.",
            ));
        }
    };
    let certificate = text(&body, "encryptionCertificate")?.filter(|c| !c.trim().is_empty());
    let certificate_id = text(&body, "encryptionCertificateId")?.filter(|c| !c.is_empty());
    let key = if include_resource_data {
        let (Some(certificate), Some(certificate_id)) = (certificate, certificate_id) else {
            return Err(invalid_request(
                "The 'encryptionCertificate' and 'encryptionCertificateId' properties are required when 'includeResourceData' is true.",
            ));
        };
        parse_certificate_id(certificate_id)?;
        Some(parse_certificate(certificate)?)
    } else {
        None
    };
    let notification_url = loopback_url("notificationUrl", notification_raw)?;
    let lifecycle_raw = text(&body, "lifecycleNotificationUrl")?.filter(|u| !u.trim().is_empty());
    let lifecycle_url = lifecycle_raw
        .map(|raw| loopback_url("lifecycleNotificationUrl", raw))
        .transpose()?;

    let subscriptions = &state.subscriptions;
    Subscriptions::check_room(&subscriptions.live(), &app.client_id, &resource, changes)?;
    let id = uuid::Uuid::new_v4().to_string();
    subscriptions
        .deliveries
        .validate(&notification_url, &ids.request_id, &id)
        .await?;
    if let Some(lifecycle_url) = &lifecycle_url {
        subscriptions
            .deliveries
            .validate(lifecycle_url, &ids.request_id, &id)
            .await?;
    }

    let public = Subscription {
        id,
        resource,
        creator_id: service_principal_id(&app.client_id),
        application_id: app.client_id,
        change_type: change_type.to_owned(),
        client_state,
        notification_url: notification_raw.to_owned(),
        lifecycle_notification_url: lifecycle_raw.map(str::to_owned),
        expiration,
        include_resource_data,
        encryption_certificate: certificate
            .filter(|_| include_resource_data)
            .map(str::to_owned),
        encryption_certificate_id: certificate_id
            .filter(|_| include_resource_data)
            .map(str::to_owned),
        latest_supported_tls_version: tls.to_owned(),
        notification_url_app_id: text(&body, "notificationUrlAppId")?.map(str::to_owned),
        reauthorizations: 0,
        created_at: now,
    };
    {
        let mut store = subscriptions.live();
        Subscriptions::check_room(&store, &public.application_id, &public.resource, changes)?;
        store.push(Stored {
            public: public.clone(),
            target,
            changes,
            key,
        });
    }
    Ok(entity(&state, &public, StatusCode::CREATED))
}

async fn list(
    app: App,
    State(state): State<Arc<SandboxState>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    let options = QueryOptions::parse(query.as_deref(), app.eventual)?;
    let items = state
        .subscriptions
        .live()
        .iter()
        .filter(|s| s.public.application_id == app.client_id)
        .filter_map(|s| match s.public.to_json() {
            Value::Object(object) => Some((None, object)),
            _ => None,
        })
        .collect();
    let body = options.collection(&state.base_url, uri.path(), "subscriptions", items, None);
    Ok(axum::Json(body).into_response())
}

/// The caller's live subscription `id`.
fn owned(state: &SandboxState, app: &App, id: &str) -> Result<Subscription, GraphFailure> {
    state
        .subscriptions
        .live()
        .iter()
        .find(|s| s.public.id.eq_ignore_ascii_case(id) && s.public.application_id == app.client_id)
        .map(|s| s.public.clone())
        .ok_or_else(not_found)
}

async fn get_one(
    app: App,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let subscription = owned(&state, &app, &id)?;
    Ok(entity(&state, &subscription, StatusCode::OK))
}

async fn update(
    app: App,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
    Extension(ids): Extension<RequestIds>,
    body: Bytes,
) -> Reply {
    let body = json_object(&body)?;
    let now = SystemTime::now();
    let current = owned(&state, &app, &id)?;
    let mut expiration = None;
    let mut notification_url = None;
    let mut certificate = None;
    let mut certificate_id = None;
    for name in body.keys() {
        match name.as_str() {
            "expirationDateTime" => {
                expiration = Some(parse_expiration(required(&body, name)?, now)?);
            }
            "notificationUrl" => {
                let raw = required(&body, name)?;
                notification_url = Some((raw.to_owned(), loopback_url(name, raw)?));
            }
            "encryptionCertificate" | "encryptionCertificateId"
                if !current.include_resource_data =>
            {
                return Err(invalid_request(format!(
                    "The '{name}' property only applies to subscriptions with 'includeResourceData' true."
                )));
            }
            "encryptionCertificate" => {
                let raw = required(&body, name)?;
                certificate = Some((raw.to_owned(), parse_certificate(raw)?));
            }
            "encryptionCertificateId" => {
                certificate_id = Some(parse_certificate_id(required(&body, name)?)?);
            }
            "lifecycleNotificationUrl" => {
                return Err(invalid_request(
                    "The 'lifecycleNotificationUrl' property can't be added or changed on an existing subscription; delete the subscription and create a new one.",
                ));
            }
            "@odata.type" | "id" => {}
            other => {
                return Err(invalid_request(format!(
                    "The '{other}' property can't be updated."
                )));
            }
        }
    }
    if let Some((_, url)) = &notification_url {
        state
            .subscriptions
            .deliveries
            .validate(url, &ids.request_id, &current.id)
            .await?;
    }
    let updated = {
        let mut store = state.subscriptions.live();
        let stored = store
            .iter_mut()
            .find(|s| s.public.id == current.id)
            .ok_or_else(not_found)?;
        if let Some(expiration) = expiration {
            stored.public.expiration = expiration;
            stored.public.reauthorizations += 1;
        }
        if let Some((raw, _)) = notification_url {
            stored.public.notification_url = raw;
        }
        if let Some((raw, key)) = certificate {
            stored.public.encryption_certificate = Some(raw);
            stored.key = Some(key);
        }
        if let Some(certificate_id) = certificate_id {
            stored.public.encryption_certificate_id = Some(certificate_id);
        }
        stored.public.clone()
    };
    Ok(entity(&state, &updated, StatusCode::OK))
}

async fn delete(app: App, State(state): State<Arc<SandboxState>>, Path(id): Path<String>) -> Reply {
    let current = owned(&state, &app, &id)?;
    let mut store = state.subscriptions.live();
    store.retain(|s| s.public.id != current.id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn reauthorize(
    app: App,
    State(state): State<Arc<SandboxState>>,
    Path(id): Path<String>,
) -> Reply {
    let current = owned(&state, &app, &id)?;
    let mut store = state.subscriptions.live();
    if let Some(stored) = store.iter_mut().find(|s| s.public.id == current.id) {
        stored.public.reauthorizations += 1;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_and_change_types() {
        assert_eq!(parse_resource("/users").unwrap().1, Target::Users);
        assert_eq!(parse_resource("users").unwrap().0, "users");
        assert_eq!(
            parse_resource("/groups/abc").unwrap(),
            ("groups/abc".to_owned(), Target::Group("abc".into()))
        );
        for bad in [
            "me/messages",
            "/users/abc/memberOf",
            "/groups/",
            "users?$select=id",
            "",
        ] {
            assert!(parse_resource(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_change_types("updated, Deleted").unwrap(),
            ChangeTypes {
                updated: true,
                deleted: true
            }
        );
        let created = parse_change_types("updated,created").unwrap_err();
        assert_eq!(
            created.message,
            "Invalid 'changeType' attribute: 'created'."
        );
    }

    #[test]
    fn expiration_is_clamped_up_and_capped() {
        let now = SystemTime::now();
        let soon = payload::format_z(now + Duration::from_secs(60));
        let clamped = parse_expiration(&soon, now).unwrap();
        let floor = payload::truncate_to_ticks(now + Duration::from_secs(45 * 60));
        assert_eq!(clamped, floor);
        let past = parse_expiration("2016-03-20T11:00:00.0000000Z", now).unwrap();
        assert_eq!(past, floor);
        let max = payload::format_z(now + Duration::from_secs(41_760 * 60));
        assert!(parse_expiration(&max, now).is_ok());
        let over = payload::format_z(now + Duration::from_secs(41_761 * 60));
        let failure = parse_expiration(&over, now).unwrap_err();
        assert_eq!(failure.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            failure.message,
            "Subscription expiration can only be 41760 minutes in the future."
        );
    }

    #[test]
    fn creator_ids_are_stable_guids() {
        let a = service_principal_id("app-a");
        assert_eq!(a, service_principal_id("app-a"));
        assert_ne!(a, service_principal_id("app-b"));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }
}
