//! The subscription keeper: makes the Graph subscriptions we hold match `[notifications]`, on a
//! schedule and on demand (`entra-hooks subscriptions sync`). Protocol: docs/protocols/
//! change-notifications.md D.1-D.4.
//!
//! One pass:
//! 1. List Graph's subscriptions; ours are those whose `notificationUrl` is under our receiver's
//!    notification URL (the subscription's name travels in its query string).
//! 2. For each configured subscription: none held → create it (Graph validates both URLs against
//!    the receiver first); held but different in what cannot be patched (resource, change types,
//!    lifecycle URL, resource data, certificate) → delete and create; expiring within the renewal
//!    threshold → renew (`PATCH expirationDateTime`), keeping the expiry Graph returns, which may be
//!    shorter than asked.
//! 3. Ours that the configuration no longer names, and duplicates → delete.
//!
//! A subscription Graph removed (`subscriptionRemoved`, or a reauthorization for one it no longer
//! has) is simply missing from the list, so the next pass creates it again.
//!
//! Graph's answers that need a person are reported with what to do: `403` (the quota of 100
//! subscriptions per app and tenant, or a missing permission), `409` (the same resource and
//! change types already subscribed by this app to another URL).

pub mod config;

use std::collections::BTreeMap;

use entra_graph::{GraphClient, GraphError, GraphRequest, ListQuery};
use entra_notifications::config::{
    LIFECYCLE_PATH, NOTIFICATION_PATH, NotificationsConfig, SUBSCRIPTION_PARAMETER,
    SubscriptionSpec,
};
use entra_platform::{KeyValueStore, SecretResolver, StoreError};
use futures::TryStreamExt;
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

pub use config::{KeeperConfig, SetupError};

/// Prefix of the per-subscription state in the key-value store.
pub const STATE_PREFIX: &str = "subscription-keeper/subscription/";

/// A subscription as Graph returns it (unknown properties kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub resource: String,
    pub change_type: String,
    pub notification_url: String,
    #[serde(default)]
    pub lifecycle_notification_url: Option<String>,
    pub expiration_date_time: String,
    #[serde(default)]
    pub include_resource_data: Option<bool>,
    #[serde(default)]
    pub encryption_certificate_id: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// What the keeper did to one configured subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Created {
        name: String,
        id: String,
        expires: String,
    },
    Renewed {
        name: String,
        id: String,
        expires: String,
    },
    Recreated {
        name: String,
        id: String,
        expires: String,
    },
    Kept {
        name: String,
        id: String,
        expires: String,
    },
    Deleted {
        id: String,
        reason: String,
    },
    Failed {
        name: String,
        problem: String,
    },
}

/// Why a pass could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum KeeperError {
    #[error("listing Graph's subscriptions: {0}")]
    List(GraphError),
    #[error("notifications.public_url is not set: the keeper cannot tell Graph where to deliver")]
    NoPublicUrl,
    #[error("resolving the clientState of {name}: {message}")]
    Secret { name: String, message: String },
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The keeper, built once per execution environment.
pub struct Keeper {
    graph: GraphClient,
    notifications: NotificationsConfig,
    secrets: SecretResolver,
    store: std::sync::Arc<dyn KeyValueStore>,
    /// Renew when less than this is left.
    renew_before: Duration,
}

impl Keeper {
    pub fn new(
        graph: GraphClient,
        notifications: NotificationsConfig,
        secrets: SecretResolver,
        store: std::sync::Arc<dyn KeyValueStore>,
        renew_before: Duration,
    ) -> Self {
        Self {
            graph,
            notifications,
            secrets,
            store,
            renew_before,
        }
    }

    fn base(&self) -> Result<String, KeeperError> {
        self.notifications
            .public_url
            .as_ref()
            .map(|url| url.as_str().trim_end_matches('/').to_owned())
            .ok_or(KeeperError::NoPublicUrl)
    }

    /// `{public_url}/notifications/graph?subscription={name}`.
    pub fn notification_url(&self, name: &str) -> Result<String, KeeperError> {
        Ok(format!(
            "{}{NOTIFICATION_PATH}?{SUBSCRIPTION_PARAMETER}={name}",
            self.base()?
        ))
    }

    /// `{public_url}/notifications/lifecycle?subscription={name}`.
    pub fn lifecycle_url(&self, name: &str) -> Result<String, KeeperError> {
        Ok(format!(
            "{}{LIFECYCLE_PATH}?{SUBSCRIPTION_PARAMETER}={name}",
            self.base()?
        ))
    }

    /// Graph's subscriptions that deliver to our receiver.
    pub async fn ours(&self) -> Result<Vec<Subscription>, KeeperError> {
        let prefix = format!("{}{NOTIFICATION_PATH}", self.base()?);
        let all: Vec<Subscription> = self
            .graph
            .list(self.graph.url(&["subscriptions"]), &ListQuery::new())
            .try_collect()
            .await
            .map_err(KeeperError::List)?;
        Ok(all
            .into_iter()
            .filter(|s| s.notification_url.starts_with(&prefix))
            .collect())
    }

    /// One reconciliation pass at `now`.
    pub async fn sync(&self, now: OffsetDateTime) -> Result<Vec<Action>, KeeperError> {
        let mut held = self.ours().await?;
        let mut actions = Vec::new();
        for spec in &self.notifications.subscriptions {
            let url = self.notification_url(&spec.name)?;
            let mut mine: Vec<Subscription> = Vec::new();
            held.retain(|s| {
                if s.notification_url == url {
                    mine.push(s.clone());
                    false
                } else {
                    true
                }
            });
            // Keep the one that lives longest; the rest are duplicates.
            mine.sort_by(|a, b| b.expiration_date_time.cmp(&a.expiration_date_time));
            for duplicate in mine.iter().skip(1) {
                actions.push(
                    self.delete(&duplicate.id, "duplicate of a configured subscription")
                        .await,
                );
            }
            let action = match mine.first() {
                None => self.create(spec, now, false).await?,
                Some(current) if !self.matches(spec, current)? => {
                    let deleted = self.delete(&current.id, "its configuration changed").await;
                    let failed = matches!(deleted, Action::Failed { .. });
                    actions.push(deleted);
                    if failed {
                        continue;
                    }
                    self.create(spec, now, true).await?
                }
                Some(current) => self.renew_if_due(spec, current, now).await,
            };
            actions.push(action);
        }
        for action in &actions {
            self.record(action).await?;
        }
        for orphan in held {
            actions.push(
                self.delete(&orphan.id, "no longer in notifications.subscriptions")
                    .await,
            );
        }
        for action in &actions {
            tracing::info!(?action, "subscription keeper");
        }
        Ok(actions)
    }

    fn matches(
        &self,
        spec: &SubscriptionSpec,
        current: &Subscription,
    ) -> Result<bool, KeeperError> {
        let wanted_types = change_types(spec);
        let mut held_types: Vec<&str> = current.change_type.split(',').map(str::trim).collect();
        held_types.sort_unstable();
        let mut wanted: Vec<&str> = wanted_types.split(',').collect();
        wanted.sort_unstable();
        Ok(normalise(&current.resource) == normalise(&spec.resource)
            && held_types == wanted
            && current.lifecycle_notification_url.as_deref()
                == Some(self.lifecycle_url(&spec.name)?.as_str())
            && current.include_resource_data.unwrap_or(false) == spec.include_resource_data
            && current.encryption_certificate_id == spec.encryption_certificate_id)
    }

    async fn create(
        &self,
        spec: &SubscriptionSpec,
        now: OffsetDateTime,
        recreated: bool,
    ) -> Result<Action, KeeperError> {
        let client_state = self
            .secrets
            .resolve(&spec.client_state)
            .await
            .map_err(|e| KeeperError::Secret {
                name: spec.name.clone(),
                message: e.to_string(),
            })?;
        let mut body = json!({
            "changeType": change_types(spec),
            "notificationUrl": self.notification_url(&spec.name)?,
            "lifecycleNotificationUrl": self.lifecycle_url(&spec.name)?,
            "resource": spec.resource,
            "expirationDateTime": expiry(now, spec),
            "clientState": client_state.expose(),
        });
        if spec.include_resource_data {
            let certificate = match &spec.encryption_certificate {
                Some(reference) => {
                    self.secrets
                        .resolve(reference)
                        .await
                        .map_err(|e| KeeperError::Secret {
                            name: spec.name.clone(),
                            message: e.to_string(),
                        })?
                }
                None => {
                    return Ok(Action::Failed {
                        name: spec.name.clone(),
                        problem: "include_resource_data needs encryption_certificate".into(),
                    });
                }
            };
            body["includeResourceData"] = json!(true);
            body["encryptionCertificate"] = json!(der_base64(certificate.expose()));
            body["encryptionCertificateId"] = json!(spec.encryption_certificate_id);
        }
        let request = match GraphRequest::new(Method::POST, self.graph.url(&["subscriptions"]))
            .with_json(&body)
        {
            Ok(request) => request,
            Err(error) => {
                return Ok(Action::Failed {
                    name: spec.name.clone(),
                    problem: error.to_string(),
                });
            }
        };
        Ok(
            match self
                .graph
                .send(request)
                .await
                .and_then(|r| r.json::<Subscription>())
            {
                Ok(created) => {
                    let (name, id, expires) =
                        (spec.name.clone(), created.id, created.expiration_date_time);
                    if recreated {
                        Action::Recreated { name, id, expires }
                    } else {
                        Action::Created { name, id, expires }
                    }
                }
                Err(error) => Action::Failed {
                    name: spec.name.clone(),
                    problem: explain(&error),
                },
            },
        )
    }

    async fn renew_if_due(
        &self,
        spec: &SubscriptionSpec,
        current: &Subscription,
        now: OffsetDateTime,
    ) -> Action {
        let expires = OffsetDateTime::parse(&current.expiration_date_time, &Rfc3339).ok();
        let due = expires.is_none_or(|at| at - now < self.renew_before);
        if !due {
            return Action::Kept {
                name: spec.name.clone(),
                id: current.id.clone(),
                expires: current.expiration_date_time.clone(),
            };
        }
        let url = self.graph.url(&["subscriptions", &current.id]);
        let request = match GraphRequest::new(Method::PATCH, url)
            .with_json(&json!({"expirationDateTime": expiry(now, spec)}))
        {
            Ok(request) => request,
            Err(error) => {
                return Action::Failed {
                    name: spec.name.clone(),
                    problem: error.to_string(),
                };
            }
        };
        match self
            .graph
            .send(request)
            .await
            .and_then(|r| r.json::<Subscription>())
        {
            Ok(renewed) => Action::Renewed {
                name: spec.name.clone(),
                id: renewed.id,
                // Graph may grant less than asked: what it says is what holds.
                expires: renewed.expiration_date_time,
            },
            Err(error) => Action::Failed {
                name: spec.name.clone(),
                problem: explain(&error),
            },
        }
    }

    async fn delete(&self, id: &str, reason: &str) -> Action {
        let url = self.graph.url(&["subscriptions", id]);
        match self
            .graph
            .send(GraphRequest::new(Method::DELETE, url))
            .await
        {
            Ok(_) => Action::Deleted {
                id: id.to_owned(),
                reason: reason.to_owned(),
            },
            Err(error) if error.is_not_found() => Action::Deleted {
                id: id.to_owned(),
                reason: format!("{reason} (already gone)"),
            },
            Err(error) => Action::Failed {
                name: id.to_owned(),
                problem: explain(&error),
            },
        }
    }

    /// The state kept for a configured subscription: what Graph holds for it after the last pass.
    pub async fn state(&self, name: &str) -> Result<Option<Value>, KeeperError> {
        Ok(self
            .store
            .get(&format!("{STATE_PREFIX}{name}"))
            .await?
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// Records what Graph now holds for a configured subscription (id and expiry), so operators
    /// and lifecycle notifications (which name the id) can be matched to a configured name.
    async fn record(&self, action: &Action) -> Result<(), KeeperError> {
        let (name, id, expires) = match action {
            Action::Created { name, id, expires }
            | Action::Renewed { name, id, expires }
            | Action::Recreated { name, id, expires }
            | Action::Kept { name, id, expires } => (name, id, expires),
            Action::Deleted { .. } | Action::Failed { .. } => return Ok(()),
        };
        let state = json!({"id": id, "expirationDateTime": expires});
        self.store
            .put(&format!("{STATE_PREFIX}{name}"), &state.to_string(), None)
            .await?;
        Ok(())
    }
}

fn change_types(spec: &SubscriptionSpec) -> String {
    spec.change_types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn normalise(resource: &str) -> String {
    resource.trim_start_matches('/').to_ascii_lowercase()
}

/// `now + expiry_minutes`, as Graph writes instants.
fn expiry(now: OffsetDateTime, spec: &SubscriptionSpec) -> String {
    (now + Duration::minutes(i64::from(spec.expiry_minutes)))
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// A PEM certificate as the base64 DER Graph wants (the armour and line breaks removed).
fn der_base64(pem: &str) -> String {
    pem.lines()
        .filter(|line| !line.starts_with("-----"))
        .map(str::trim)
        .collect()
}

/// Graph's refusal with what a person should do about it.
pub fn explain(error: &GraphError) -> String {
    let status = error.status().map(|s| s.as_u16());
    let hint = match status {
        Some(403) => {
            "; Graph refuses: either the quota (100 subscriptions per app and tenant, 1,000 per tenant) is reached — delete unused subscriptions — or the app lacks User.Read.All / Group.Read.All"
        }
        Some(409) => {
            "; the same resource and change types are already subscribed by this app — delete the other subscription or let the keeper adopt it by pointing it at our URL"
        }
        Some(400) => {
            "; if the message mentions validation, the receiver did not echo the validation token (is the receiver deployed at notifications.public_url?)"
        }
        _ => "",
    };
    format!("{error}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_certificate_becomes_graphs_base64_der() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\nAAEC\n-----END CERTIFICATE-----\n";
        assert_eq!(der_base64(pem), "MIIBAAEC");
    }

    #[test]
    fn expiry_and_change_types_are_written_as_graph_wants() {
        let spec = SubscriptionSpec {
            name: "users".into(),
            resource: "users".into(),
            change_types: vec![
                entra_notifications::wire::ChangeType::Updated,
                entra_notifications::wire::ChangeType::Deleted,
            ],
            client_state: "env:X".parse().unwrap(),
            include_resource_data: false,
            encryption_certificate: None,
            encryption_certificate_id: None,
            expiry_minutes: 41_700,
        };
        assert_eq!(change_types(&spec), "updated,deleted");
        let now = time::macros::datetime!(2026-11-26 21:00 UTC);
        assert_eq!(expiry(now, &spec), "2026-12-25T20:00:00Z");
        assert_eq!(normalise("/Users"), "users");
    }
}
