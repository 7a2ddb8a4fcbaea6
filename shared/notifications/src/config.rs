//! `[notifications]`: the subscriptions we want Graph to hold and the keys that decrypt rich
//! notifications, shared by the receiver (which checks each POST against them), the subscription
//! keeper (which creates and renews them) and the worker.
//!
//! ```toml
//! [notifications]
//! public_url = "https://abc123.execute-api.eu-west-1.amazonaws.com"   # where Graph reaches the receiver
//! # app_id = "…"   # audience of validation tokens; default: graph.client_id
//!
//! [[notifications.subscriptions]]
//! name = "users"                       # in the notification URL: /notifications/graph?subscription=users
//! resource = "users"
//! change_types = ["updated", "deleted"]
//! client_state = "aws-sm:entra-hooks/notifications#users"   # ≥ 32 random bytes, one per subscription
//! # include_resource_data = true, encryption_certificate_id = "cert-2026-11",
//! # encryption_certificate = "file:/opt/notifications-cert.pem"
//!
//! [[notifications.decryption_keys]]
//! id = "cert-2026-11"                  # the encryptionCertificateId Graph echoes
//! private_key = "aws-sm:entra-hooks/notifications#cert-2026-11"   # PKCS#8 PEM
//! ```
//!
//! The subscription's `name` travels in the notification URL's query string, which Graph echoes on
//! every POST (docs/protocols/change-notifications.md A.1): the receiver then knows which
//! `clientState` to compare with, without a lookup, and a renamed or removed entry stops matching.

use entra_platform::SecretRef;
use entra_platform::config::{Guid, HttpUrl, ValidationReport};
use serde::Deserialize;

use crate::wire::ChangeType;

/// Graph's longest subscription lifetime for users, groups and other directory objects: 41,760
/// minutes (docs/protocols/change-notifications.md D.1).
pub const MAX_EXPIRY_MINUTES: u32 = 41_760;
/// Graph's shortest: a shorter request is raised to 45 minutes.
pub const MIN_EXPIRY_MINUTES: u32 = 45;
/// Longest `clientState` Graph accepts (the subscription resource page's 128).
pub const MAX_CLIENT_STATE_CHARS: usize = 128;
/// Where Graph's validation-token signing keys are published (docs/protocols/change-notifications.md C).
pub const DEFAULT_VALIDATION_DISCOVERY_URL: &str =
    "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration";
/// The path of the notification URL on the receiver.
pub const NOTIFICATION_PATH: &str = "/notifications/graph";
/// The path of the lifecycle notification URL on the receiver.
pub const LIFECYCLE_PATH: &str = "/notifications/lifecycle";
/// The query parameter that names the subscription in our notification URLs.
pub const SUBSCRIPTION_PARAMETER: &str = "subscription";

/// `[notifications]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    /// Base URL Graph reaches the receiver at (the API's URL); the keeper builds
    /// `{public_url}/notifications/graph?subscription={name}` from it.
    #[serde(default)]
    pub public_url: Option<HttpUrl>,
    /// The audience of validation tokens (our Graph app's client id); default `graph.client_id`.
    #[serde(default)]
    pub app_id: Option<Guid>,
    /// OIDC discovery of the authority that signs validation tokens; default Microsoft's
    /// multi-tenant `common` v2.0 document ([`DEFAULT_VALIDATION_DISCOVERY_URL`]).
    #[serde(default)]
    pub validation_discovery_url: Option<HttpUrl>,
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionSpec>,
    #[serde(default)]
    pub decryption_keys: Vec<DecryptionKeySpec>,
}

/// One subscription we want Graph to hold.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSpec {
    /// Our name for it: lowercase letters, digits and `-`, unique.
    pub name: String,
    /// `users`, `groups`, `users/{id}` or `groups/{id}`.
    pub resource: String,
    /// For users and groups Graph offers `updated` (creation, change, soft delete) and `deleted`.
    #[serde(default = "default_change_types")]
    pub change_types: Vec<ChangeType>,
    /// The secret Graph echoes in every notification of this subscription.
    pub client_state: SecretRef,
    #[serde(default)]
    pub include_resource_data: bool,
    /// The certificate (PEM) Graph encrypts rich notifications to.
    #[serde(default)]
    pub encryption_certificate: Option<SecretRef>,
    #[serde(default)]
    pub encryption_certificate_id: Option<String>,
    /// Requested lifetime; Graph may grant less, and the keeper keeps what Graph returns.
    #[serde(default = "default_expiry_minutes")]
    pub expiry_minutes: u32,
}

fn default_change_types() -> Vec<ChangeType> {
    vec![ChangeType::Updated, ChangeType::Deleted]
}

fn default_expiry_minutes() -> u32 {
    MAX_EXPIRY_MINUTES - 60
}

/// A private key for rich notifications, chosen by the `encryptionCertificateId` Graph echoes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecryptionKeySpec {
    pub id: String,
    /// PKCS#8 (or PKCS#1) PEM.
    pub private_key: SecretRef,
}

impl NotificationsConfig {
    /// The subscription called `name`.
    pub fn subscription(&self, name: &str) -> Option<&SubscriptionSpec> {
        self.subscriptions.iter().find(|spec| spec.name == name)
    }

    /// Records every problem in `report` (called by the including configuration's `Validate`).
    pub fn validate(&self, report: &mut ValidationReport) {
        let mut names = std::collections::HashSet::new();
        for (index, spec) in self.subscriptions.iter().enumerate() {
            let key = |field: &str| format!("notifications.subscriptions[{index}].{field}");
            let name_ok = !spec.name.is_empty()
                && spec.name.len() <= 64
                && spec
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !name_ok {
                report.invalid(
                    key("name"),
                    "must be 1-64 lowercase letters, digits or -",
                    Some(&spec.name),
                );
            } else if !names.insert(spec.name.as_str()) {
                report.invalid(key("name"), "must be unique", Some(&spec.name));
            }
            if !resource_is_directory(&spec.resource) {
                report.invalid(
                    key("resource"),
                    "must be users, groups, users/{id} or groups/{id}",
                    Some(&spec.resource),
                );
            }
            if spec.change_types.is_empty() || spec.change_types.contains(&ChangeType::Created) {
                report.invalid(
                    key("change_types"),
                    "must be updated and/or deleted (Graph refuses created for users and groups; updated covers creation)",
                    None,
                );
            }
            if !(MIN_EXPIRY_MINUTES..=MAX_EXPIRY_MINUTES).contains(&spec.expiry_minutes) {
                report.invalid(
                    key("expiry_minutes"),
                    format!("must be {MIN_EXPIRY_MINUTES} to {MAX_EXPIRY_MINUTES} (Graph's limits for directory objects)"),
                    Some(&spec.expiry_minutes),
                );
            }
            if spec.include_resource_data {
                match &spec.encryption_certificate_id {
                    None => report.missing(key("encryption_certificate_id")),
                    Some(id) if id.is_empty() || id.chars().count() > 128 => report.invalid(
                        key("encryption_certificate_id"),
                        "must be 1-128 characters",
                        Some(id),
                    ),
                    Some(id) => {
                        if !self.decryption_keys.iter().any(|k| &k.id == id) {
                            report.invalid(
                                key("encryption_certificate_id"),
                                "must name one of notifications.decryption_keys (the receiver could not decrypt otherwise)",
                                Some(id),
                            );
                        }
                    }
                }
                if spec.encryption_certificate.is_none() {
                    report.missing(key("encryption_certificate"));
                }
            }
        }
        let mut ids = std::collections::HashSet::new();
        for (index, key_spec) in self.decryption_keys.iter().enumerate() {
            if key_spec.id.is_empty() || !ids.insert(key_spec.id.as_str()) {
                report.invalid(
                    format!("notifications.decryption_keys[{index}].id"),
                    "must be non-empty and unique",
                    Some(&key_spec.id),
                );
            }
        }
    }
}

/// `users`, `groups`, `users/{id}`, `groups/{id}` (leading `/` allowed).
pub fn resource_is_directory(resource: &str) -> bool {
    let path = resource.trim_start_matches('/');
    let (collection, rest) = path.split_once('/').unwrap_or((path, ""));
    matches!(collection, "users" | "groups")
        && (rest.is_empty()
            || (!rest.contains('/')
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (NotificationsConfig, ValidationReport) {
        #[derive(Deserialize)]
        struct File {
            notifications: NotificationsConfig,
        }
        let file: File = toml::from_str(text).unwrap();
        let mut report = ValidationReport::default();
        file.notifications.validate(&mut report);
        (file.notifications, report)
    }

    #[test]
    fn a_documented_configuration_is_valid() {
        let (config, report) = parse(
            r#"
[notifications]
public_url = "https://hooks.example.com"
[[notifications.subscriptions]]
name = "users"
resource = "users"
client_state = "env:USERS_CLIENT_STATE"
[[notifications.subscriptions]]
name = "vip-group"
resource = "groups/6e1f2c3d-4b5a-4c6d-8e9f-0a1b2c3d4e5f"
change_types = ["updated"]
client_state = "env:VIP_CLIENT_STATE"
include_resource_data = true
encryption_certificate_id = "cert-1"
encryption_certificate = "file:/opt/cert.pem"
[[notifications.decryption_keys]]
id = "cert-1"
private_key = "file:/opt/key.pem"
"#,
        );
        assert!(report.is_empty(), "{report:?}");
        let users = config.subscription("users").unwrap();
        assert_eq!(
            users.change_types,
            vec![ChangeType::Updated, ChangeType::Deleted]
        );
        assert_eq!(users.expiry_minutes, 41_700);
        assert!(config.subscription("nobody").is_none());
    }

    #[test]
    fn every_mistake_names_its_key() {
        let (_, report) = parse(
            r#"
[notifications]
[[notifications.subscriptions]]
name = "Users!"
resource = "me/messages"
change_types = ["created"]
client_state = "env:A"
expiry_minutes = 99999
include_resource_data = true
encryption_certificate_id = "missing-key"
"#,
        );
        let keys: Vec<&str> = report.problems().iter().map(|p| p.key()).collect();
        for key in [
            "notifications.subscriptions[0].name",
            "notifications.subscriptions[0].resource",
            "notifications.subscriptions[0].change_types",
            "notifications.subscriptions[0].expiry_minutes",
            "notifications.subscriptions[0].encryption_certificate_id",
            "notifications.subscriptions[0].encryption_certificate",
        ] {
            assert!(keys.contains(&key), "{key} not in {keys:?}");
        }
    }

    #[test]
    fn directory_resources_only() {
        for good in ["users", "/users", "groups", "users/abc-123", "groups/6e1f"] {
            assert!(resource_is_directory(good), "{good}");
        }
        for bad in [
            "me/messages",
            "users/a/memberOf",
            "applications",
            "users/a b",
            "",
        ] {
            assert!(!resource_is_directory(bad), "{bad}");
        }
    }
}
