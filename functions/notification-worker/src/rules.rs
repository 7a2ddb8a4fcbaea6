//! The `[directory_reactions]` section of the rules file: what happens when a user or group changes.
//!
//! ```toml
//! [directory_reactions]
//! dedup_hours = 24            # a message delivered again within this time reacts once
//!
//! [[directory_reactions.reactions]]
//! name = "customers join the newsletter group"
//! resource = "user"                          # user | group
//! change_types = ["created", "updated"]      # default: all three
//! when = { country = "Netherlands", accountEnabled = true }   # every field must equal (a list: any of)
//! add_to_group = "0a1b2c3d-…"
//!
//! [[directory_reactions.reactions]]
//! name = "loyalty tier default"
//! resource = "user"
//! set_defaults = { extension_7f3b8d2a5c4e4a1b9e6f0d2c8b4a6e13_loyaltyTier = "bronze" }
//!
//! [[directory_reactions.reactions]]
//! name = "tell the CRM"
//! resource = "user"
//! publish = { detail_type = "EntraUserChanged" }   # EventBridge (source "entra-hooks")
//! ```
//!
//! Every reaction is safe to run twice: group membership is added or removed only when needed,
//! `set` writes only properties that differ and `set_defaults` only ones that are absent, and a
//! published event carries a stable id for consumers to de-duplicate. Conditions read the resource
//! as Graph returns it now (the worker re-reads it; a deleted object reads as absent, so only
//! reactions without `when` run for deletions).

use std::collections::BTreeMap;

use entra_extensions::rules_file::{RulesReport, ValidateRules};
use entra_notifications::event::ResourceKind;
use entra_notifications::wire::ChangeType;
use serde::Deserialize;
use serde_json::Value;
use serde_spanned::Spanned;

/// The rules file section this worker reads.
pub const SECTION: &str = "directory_reactions";

/// User properties a published event carries.
pub const PUBLISHED_USER_PROPERTIES: [&str; 9] = [
    "displayName",
    "givenName",
    "surname",
    "mail",
    "accountEnabled",
    "country",
    "city",
    "identities",
    "createdDateTime",
];
/// Group properties a published event carries.
pub const PUBLISHED_GROUP_PROPERTIES: [&str; 3] = ["displayName", "description", "mailNickname"];

/// Default de-duplication window.
pub const DEFAULT_DEDUP_HOURS: u32 = 24;

/// `[directory_reactions]`; without it the worker reacts to nothing (and says so at start).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryReactions {
    #[serde(default)]
    pub dedup_hours: Option<Spanned<u32>>,
    #[serde(default)]
    pub reactions: Vec<Spanned<Reaction>>,
}

impl DirectoryReactions {
    pub fn dedup_window(&self) -> std::time::Duration {
        let hours = self
            .dedup_hours
            .as_ref()
            .map_or(DEFAULT_DEDUP_HOURS, |h| *h.get_ref());
        std::time::Duration::from_secs(u64::from(hours) * 3600)
    }

    /// Every property a condition or a write reads, per resource kind (the worker's `$select`);
    /// with a `publish` or `custom` reaction also the object's usual properties, which the event
    /// carries (and custom logic reads) and which tell one update from the next.
    pub fn properties(&self, kind: ResourceKind) -> Vec<String> {
        let mut properties: Vec<String> = vec!["id".into()];
        for reaction in self.reactions.iter().map(Spanned::get_ref) {
            if reaction.resource != kind {
                continue;
            }
            if reaction.publish.is_some() || reaction.custom.is_some() {
                let usual: &[&str] = match kind {
                    ResourceKind::User => &PUBLISHED_USER_PROPERTIES,
                    ResourceKind::Group => &PUBLISHED_GROUP_PROPERTIES,
                };
                for name in usual {
                    if !properties.iter().any(|p| p == name) {
                        properties.push((*name).to_owned());
                    }
                }
            }
            let names = reaction
                .when
                .keys()
                .chain(reaction.set.keys())
                .chain(reaction.set_defaults.keys())
                .map(|path| path.split('.').next().unwrap_or(path).to_owned());
            for name in names {
                if !properties.contains(&name) {
                    properties.push(name);
                }
            }
        }
        properties
    }
}

impl DirectoryReactions {
    /// Properties some reaction writes on this kind of resource.
    pub fn written_properties(&self, kind: ResourceKind) -> Vec<String> {
        let mut written: Vec<String> = Vec::new();
        for reaction in self.reactions.iter().map(Spanned::get_ref) {
            if reaction.resource != kind {
                continue;
            }
            for name in reaction.set.keys().chain(reaction.set_defaults.keys()) {
                if !written.contains(name) {
                    written.push(name.clone());
                }
            }
        }
        written
    }
}

/// One `[[directory_reactions.reactions]]` entry: conditions, then one or more actions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reaction {
    /// Shown in logs; also part of the published event id.
    pub name: String,
    #[serde(deserialize_with = "resource_kind")]
    pub resource: ResourceKind,
    /// Default: every change type.
    #[serde(default)]
    pub change_types: Vec<ChangeType>,
    /// Property (dotted path for nested objects) → the value it must have, or a list of values it
    /// may have.
    #[serde(default)]
    pub when: BTreeMap<String, Value>,
    #[serde(default)]
    pub add_to_group: Option<String>,
    #[serde(default)]
    pub remove_from_group: Option<String>,
    /// Properties written when they differ.
    #[serde(default)]
    pub set: BTreeMap<String, Value>,
    /// Properties written only when absent or null (attribute defaults).
    #[serde(default)]
    pub set_defaults: BTreeMap<String, Value>,
    #[serde(default)]
    pub publish: Option<PublishAction>,
    /// Run the registered Rust [`crate::ReactionExtension`] with this name.
    #[serde(default)]
    pub custom: Option<String>,
}

/// `publish = { detail_type = "...", source = "...", event_bus = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishAction {
    pub detail_type: String,
    #[serde(default = "default_source")]
    pub source: String,
    /// Name or ARN; default the account's default bus.
    #[serde(default)]
    pub event_bus: Option<String>,
}

fn default_source() -> String {
    "entra-hooks".into()
}

fn resource_kind<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<ResourceKind, D::Error> {
    match String::deserialize(deserializer)?.as_str() {
        "user" => Ok(ResourceKind::User),
        "group" => Ok(ResourceKind::Group),
        other => Err(serde::de::Error::custom(format!(
            "unknown resource {other:?}; use \"user\" or \"group\""
        ))),
    }
}

impl Reaction {
    /// Whether this reaction applies to a change of this kind and type.
    pub fn matches_change(&self, kind: ResourceKind, change: ChangeType) -> bool {
        self.resource == kind
            && (self.change_types.is_empty() || self.change_types.contains(&change))
    }

    /// Whether every `when` condition holds on `resource` (absent resource: only without conditions).
    pub fn conditions_hold(&self, resource: Option<&Value>) -> bool {
        if self.when.is_empty() {
            return true;
        }
        let Some(resource) = resource else {
            return false;
        };
        self.when.iter().all(|(path, expected)| {
            let actual = lookup(resource, path);
            match expected {
                Value::Array(options) => actual.is_some_and(|a| options.contains(a)),
                single => actual == Some(single),
            }
        })
    }

    fn has_action(&self) -> bool {
        self.add_to_group.is_some()
            || self.remove_from_group.is_some()
            || !self.set.is_empty()
            || !self.set_defaults.is_empty()
            || self.publish.is_some()
            || self.custom.is_some()
    }
}

/// `a.b.c` inside a JSON object.
pub fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(value, |current, segment| current.get(segment))
}

impl ValidateRules for DirectoryReactions {
    fn validate(&self, report: &mut RulesReport) {
        if let Some(hours) = &self.dedup_hours
            && !(1..=24 * 14).contains(hours.get_ref())
        {
            report.error(
                format!("{SECTION}.dedup_hours"),
                Some(hours.span()),
                "must be 1 to 336",
                Some("dedup_hours = 24".into()),
            );
        }
        let mut names = std::collections::HashSet::new();
        for (index, spanned) in self.reactions.iter().enumerate() {
            let reaction = spanned.get_ref();
            let key = format!("{SECTION}.reactions[{index}]");
            let span = Some(spanned.span());
            if reaction.name.trim().is_empty() || !names.insert(reaction.name.as_str()) {
                report.error(
                    format!("{key}.name"),
                    span.clone(),
                    "must be a unique, non-empty name",
                    Some(format!("name = \"reaction {index}\"")),
                );
            }
            if !reaction.has_action() {
                report.error(
                    key.clone(),
                    span.clone(),
                    "has no action",
                    Some("add one of add_to_group, remove_from_group, set, set_defaults, publish or custom".into()),
                );
            }
            if reaction.resource == ResourceKind::Group
                && (reaction.add_to_group.is_some() || reaction.remove_from_group.is_some())
            {
                report.error(
                    key.clone(),
                    span.clone(),
                    "group membership actions apply to users",
                    Some("use resource = \"user\"".into()),
                );
            }
            for group in [&reaction.add_to_group, &reaction.remove_from_group]
                .into_iter()
                .flatten()
            {
                if !is_guid(group) {
                    report.error(
                        key.clone(),
                        span.clone(),
                        format!("group {group:?} is not an object id (GUID)"),
                        Some("use the group's id from Entra, e.g. 0a1b2c3d-4e5f-6789-abcd-ef0123456789".into()),
                    );
                }
            }
            for property in reaction.set.keys().chain(reaction.set_defaults.keys()) {
                if property.contains('.') || property.is_empty() || property == "id" {
                    report.error(
                        key.clone(),
                        span.clone(),
                        format!("cannot write {property:?}"),
                        Some("name a top-level property of the user or group (not id)".into()),
                    );
                }
            }
            if let Some(publish) = &reaction.publish
                && publish.detail_type.trim().is_empty()
            {
                report.error(
                    format!("{key}.publish.detail_type"),
                    span.clone(),
                    "must not be empty",
                    Some("detail_type = \"EntraUserChanged\"".into()),
                );
            }
        }
    }
}

fn is_guid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use entra_extensions::RulesFile;
    use serde_json::json;

    fn section(text: &str) -> Result<DirectoryReactions, String> {
        RulesFile::parse(text, "rules.toml")
            .and_then(|file| file.section(SECTION))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_documented_example_loads_and_matches() {
        let rules = section(
            r#"
[directory_reactions]
[[directory_reactions.reactions]]
name = "newsletter"
resource = "user"
change_types = ["created", "updated"]
when = { country = "Netherlands", "address.city" = ["Utrecht", "Delft"] }
add_to_group = "0a1b2c3d-4e5f-6789-abcd-ef0123456789"
[[directory_reactions.reactions]]
name = "tier"
resource = "user"
set_defaults = { loyaltyTier = "bronze" }
"#,
        )
        .unwrap();
        let newsletter = rules.reactions[0].get_ref();
        assert!(newsletter.matches_change(ResourceKind::User, ChangeType::Created));
        assert!(!newsletter.matches_change(ResourceKind::User, ChangeType::Deleted));
        assert!(!newsletter.matches_change(ResourceKind::Group, ChangeType::Updated));
        let dutch = json!({"country": "Netherlands", "address": {"city": "Delft"}});
        let german = json!({"country": "Germany", "address": {"city": "Delft"}});
        assert!(newsletter.conditions_hold(Some(&dutch)));
        assert!(!newsletter.conditions_hold(Some(&german)));
        assert!(!newsletter.conditions_hold(None));
        assert!(rules.reactions[1].get_ref().conditions_hold(None));
        assert_eq!(
            rules.properties(ResourceKind::User),
            vec!["id", "address", "country", "loyaltyTier"]
        );
        assert_eq!(rules.dedup_window().as_secs(), 24 * 3600);
    }

    #[test]
    fn mistakes_carry_line_column_and_fix() {
        let error = section(
            r#"
[directory_reactions]
dedup_hours = 0
[[directory_reactions.reactions]]
name = "nothing"
resource = "user"

[[directory_reactions.reactions]]
name = "bad group"
resource = "user"
add_to_group = "vip"
set = { id = "x" }
"#,
        )
        .unwrap_err();
        assert!(
            error.contains("rules.toml:3:15: directory_reactions.dedup_hours"),
            "{error}"
        );
        assert!(
            error.contains("directory_reactions.reactions[0]: has no action"),
            "{error}"
        );
        assert!(error.contains("is not an object id"), "{error}");
        assert!(error.contains("cannot write \"id\""), "{error}");
        let error = section("[directory_reactions]\n[[directory_reactions.reactions]]\nname = \"x\"\nresource = \"device\"\npublish = { detail_type = \"X\" }\n").unwrap_err();
        assert!(error.contains("use \"user\" or \"group\""), "{error}");
    }
}
