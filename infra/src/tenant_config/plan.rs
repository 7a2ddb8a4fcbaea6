//! The plan: what `apply` changes so the tenant matches the file, computed from two lists of
//! managed objects (the file's and the tenant's), kind by kind, key by key, field by field.
//!
//! Three rules make it safe to run from CI on every pull request:
//! - **Only what the file says is compared.** A field the file leaves out is the tenant's business
//!   (a description edited in the portal is not reverted), so `export` followed by `plan` shows
//!   nothing, and so does a second `plan` after `apply`.
//! - **Deletes need two things**: the object's kind appears in the file (the file manages that
//!   kind) and the caller asked for deletes (`--delete`). Without the flag, a managed object missing
//!   from the file is listed as "not in the file" and left alone. Built-in objects (built-in
//!   attributes and identity providers) are never candidates.
//! - **The order is the dependency order** ([`Kind`]'s): attributes and identity providers before
//!   the flows that use them, extensions before the listeners that call them, app links last;
//!   deletes run in the reverse order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

/// A kind of tenant object the file manages. The declaration order is apply's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `identityUserFlowAttribute` (custom attributes).
    CustomAttribute,
    /// Tenant identity providers (social).
    IdentityProvider,
    /// `customAuthenticationExtension`.
    CustomExtension,
    /// `authenticationEventsFlow` (the flow itself, its identity providers, attributes, page and
    /// linked applications).
    UserFlow,
    /// `authenticationEventListener`.
    Listener,
    /// `organizationalBrandingLocalization` (before the default: creating the first localization
    /// is what creates the default branding, which Graph cannot `PATCH` until it exists).
    BrandingLocalization,
    /// `organizationalBranding` (the default).
    Branding,
}

impl Kind {
    /// The name used in the file and the plan table.
    pub fn name(self) -> &'static str {
        match self {
            Kind::CustomAttribute => "custom_attribute",
            Kind::IdentityProvider => "identity_provider",
            Kind::CustomExtension => "custom_extension",
            Kind::UserFlow => "user_flow",
            Kind::Listener => "listener",
            Kind::Branding => "branding",
            Kind::BrandingLocalization => "branding_localization",
        }
    }
}

/// One object as the file declares it or as the tenant has it, reduced to the fields the file can
/// manage (flat names, JSON values). `key` is the natural key the file uses (a name, a locale);
/// `id` is the tenant's id when the object exists there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Object {
    pub kind: Kind,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub fields: BTreeMap<String, Value>,
    /// Built into the tenant (never created or deleted by a plan).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub built_in: bool,
}

impl Object {
    /// An object with no fields yet.
    pub fn new(kind: Kind, key: impl Into<String>) -> Self {
        Self {
            kind,
            key: key.into(),
            id: None,
            fields: BTreeMap::new(),
            built_in: false,
        }
    }

    /// Adds a field (skipped when `value` is null: the file did not say).
    pub fn field(mut self, name: &str, value: impl Into<Value>) -> Self {
        let value = value.into();
        if !value.is_null() {
            self.fields.insert(name.to_owned(), value);
        }
        self
    }

    /// Sets the tenant id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Marks the object as built into the tenant.
    pub fn built_in(mut self) -> Self {
        self.built_in = true;
        self
    }
}

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Delete,
}

/// One field's old and new value (`None`: absent).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// One change to one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub kind: Kind,
    pub key: String,
    pub action: Action,
    /// The tenant id (updates and deletes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every field for a create, the differing ones for an update, none for a delete.
    pub fields: Vec<FieldChange>,
    /// The whole desired object (creates and updates), for the writer.
    #[serde(skip)]
    pub desired: Option<Object>,
}

/// What `plan` found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// In apply order: creates and updates by kind, then deletes in reverse kind order.
    pub changes: Vec<Change>,
    /// Managed objects missing from the file, left alone because deletes were not asked for.
    pub not_in_file: Vec<(Kind, String)>,
    /// Objects that already match.
    pub unchanged: usize,
}

impl Plan {
    /// No change to make.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Whether managed objects missing from the file are deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletes {
    /// Listed as "not in the file", never deleted (the default).
    Keep,
    /// Deleted (`--delete`).
    Apply,
}

/// Compares the file's objects with the tenant's. `managed` are the kinds the file manages (it has
/// a section for them, even an empty one).
pub fn plan(
    desired: &[Object],
    actual: &[Object],
    managed: &BTreeSet<Kind>,
    deletes: Deletes,
) -> Plan {
    let index = |objects: &[Object]| -> BTreeMap<(Kind, String), Object> {
        objects
            .iter()
            .map(|object| ((object.kind, object.key.clone()), object.clone()))
            .collect()
    };
    let wanted = index(desired);
    let present = index(actual);
    let mut plan = Plan::default();
    let mut deletes_found = Vec::new();

    for ((kind, key), object) in &wanted {
        match present.get(&(*kind, key.clone())) {
            None => plan.changes.push(Change {
                kind: *kind,
                key: key.clone(),
                action: Action::Create,
                id: None,
                fields: object
                    .fields
                    .iter()
                    .map(|(field, value)| FieldChange {
                        field: field.clone(),
                        before: None,
                        after: Some(value.clone()),
                    })
                    .collect(),
                desired: Some(object.clone()),
            }),
            Some(existing) => {
                let fields: Vec<FieldChange> = object
                    .fields
                    .iter()
                    .filter(|(field, value)| !same(existing.fields.get(*field), value))
                    .map(|(field, value)| FieldChange {
                        field: field.clone(),
                        before: existing.fields.get(field).cloned(),
                        after: Some(value.clone()),
                    })
                    .collect();
                if fields.is_empty() {
                    plan.unchanged += 1;
                } else {
                    plan.changes.push(Change {
                        kind: *kind,
                        key: key.clone(),
                        action: Action::Update,
                        id: existing.id.clone(),
                        fields,
                        desired: Some(object.clone()),
                    });
                }
            }
        }
    }
    for ((kind, key), existing) in &present {
        if existing.built_in
            || !managed.contains(kind)
            || wanted.contains_key(&(*kind, key.clone()))
        {
            continue;
        }
        match deletes {
            Deletes::Keep => plan.not_in_file.push((*kind, key.clone())),
            Deletes::Apply => deletes_found.push(Change {
                kind: *kind,
                key: key.clone(),
                action: Action::Delete,
                id: existing.id.clone(),
                fields: Vec::new(),
                desired: None,
            }),
        }
    }
    // BTreeMap iteration already ordered creates/updates by kind; deletes go last, dependents first.
    deletes_found.sort_by(|a, b| b.kind.cmp(&a.kind).then(a.key.cmp(&b.key)));
    plan.changes.extend(deletes_found);
    plan
}

/// Equal as the file means it: numbers by value (`2000` and `2000.0`), everything else exactly
/// (callers sort the collections whose order does not matter before building objects).
fn same(existing: Option<&Value>, wanted: &Value) -> bool {
    match (existing, wanted) {
        (Some(Value::Number(a)), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Some(a), b) => a == b,
        (None, _) => false,
    }
}

/// The plan as a table for people (`plan` without `--json`, and the CI job summary).
pub fn render_table(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.is_empty() {
        let _ = writeln!(
            out,
            "No changes: the tenant matches the file ({} objects checked).",
            plan.unchanged
        );
    } else {
        let creates = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Create)
            .count();
        let updates = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Update)
            .count();
        let deletes = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .count();
        let _ = writeln!(
            out,
            "Plan: {creates} to create, {updates} to update, {deletes} to delete ({} unchanged).\n",
            plan.unchanged
        );
        let _ = writeln!(out, "| action | kind | name | changes |");
        let _ = writeln!(out, "|---|---|---|---|");
        for change in &plan.changes {
            let action = match change.action {
                Action::Create => "+ create",
                Action::Update => "~ update",
                Action::Delete => "- delete",
            };
            let fields = change
                .fields
                .iter()
                .map(|field| match change.action {
                    Action::Create => format!("{} = {}", field.field, show(field.after.as_ref())),
                    _ => format!(
                        "{}: {} → {}",
                        field.field,
                        show(field.before.as_ref()),
                        show(field.after.as_ref())
                    ),
                })
                .collect::<Vec<_>>()
                .join("<br>");
            let _ = writeln!(
                out,
                "| {action} | {} | {} | {} |",
                change.kind.name(),
                cell(&change.key),
                cell(&fields)
            );
        }
    }
    if !plan.not_in_file.is_empty() {
        let _ = writeln!(
            out,
            "\nNot in the file (kept; `apply --delete` would delete them):"
        );
        for (kind, key) in &plan.not_in_file {
            let _ = writeln!(out, "  {} {}", kind.name(), key);
        }
    }
    out
}

/// A value in the table: strings unquoted unless empty, anything else as compact JSON.
fn show(value: Option<&Value>) -> String {
    match value {
        None => "(absent)".to_owned(),
        Some(Value::String(text)) if !text.is_empty() => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// Escapes what would break a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn managed(kinds: &[Kind]) -> BTreeSet<Kind> {
        kinds.iter().copied().collect()
    }

    #[test]
    fn a_missing_object_is_created_with_all_its_fields() {
        let desired = [Object::new(Kind::CustomAttribute, "Loyalty").field("dataType", "string")];
        let plan = plan(
            &desired,
            &[],
            &managed(&[Kind::CustomAttribute]),
            Deletes::Keep,
        );
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.changes[0].action, Action::Create);
        assert_eq!(plan.changes[0].fields[0].after, Some(json!("string")));
    }

    #[test]
    fn only_fields_the_file_sets_are_compared() {
        let desired =
            [Object::new(Kind::CustomExtension, "claims").field("targetUrl", "https://a")];
        let actual = [Object::new(Kind::CustomExtension, "claims")
            .with_id("x1")
            .field("targetUrl", "https://a")
            .field("description", "edited in the portal")];
        let plan = plan(
            &desired,
            &actual,
            &managed(&[Kind::CustomExtension]),
            Deletes::Apply,
        );
        assert!(plan.is_empty(), "{plan:?}");
        assert_eq!(plan.unchanged, 1);
    }

    #[test]
    fn an_update_lists_exactly_the_differing_fields() {
        let desired = [Object::new(Kind::CustomExtension, "claims")
            .field("targetUrl", "https://b")
            .field("timeoutMs", 2000)];
        let actual = [Object::new(Kind::CustomExtension, "claims")
            .with_id("x1")
            .field("targetUrl", "https://a")
            .field("timeoutMs", 2000.0)];
        let plan = plan(&desired, &actual, &managed(&[]), Deletes::Keep);
        assert_eq!(plan.changes.len(), 1);
        let change = &plan.changes[0];
        assert_eq!(change.action, Action::Update);
        assert_eq!(change.id.as_deref(), Some("x1"));
        assert_eq!(
            change.fields,
            vec![FieldChange {
                field: "targetUrl".into(),
                before: Some(json!("https://a")),
                after: Some(json!("https://b")),
            }]
        );
    }

    #[test]
    fn deletes_need_the_flag_a_managed_kind_and_a_non_built_in_object() {
        let actual = [
            Object::new(Kind::CustomAttribute, "Old").with_id("a1"),
            Object::new(Kind::CustomAttribute, "city")
                .with_id("city")
                .built_in(),
            Object::new(Kind::CustomExtension, "other").with_id("e1"),
        ];
        let kept = plan(
            &[],
            &actual,
            &managed(&[Kind::CustomAttribute]),
            Deletes::Keep,
        );
        assert!(kept.is_empty());
        assert_eq!(
            kept.not_in_file,
            vec![(Kind::CustomAttribute, "Old".to_owned())]
        );

        let deleted = plan(
            &[],
            &actual,
            &managed(&[Kind::CustomAttribute]),
            Deletes::Apply,
        );
        assert_eq!(deleted.changes.len(), 1);
        assert_eq!(deleted.changes[0].action, Action::Delete);
        assert_eq!(deleted.changes[0].key, "Old");
        assert_eq!(deleted.changes[0].id.as_deref(), Some("a1"));
    }

    #[test]
    fn creates_follow_the_dependency_order_and_deletes_run_backwards() {
        let desired = [
            Object::new(Kind::Listener, "l"),
            Object::new(Kind::UserFlow, "f"),
            Object::new(Kind::CustomAttribute, "a"),
            Object::new(Kind::CustomExtension, "e"),
        ];
        let actual = [
            Object::new(Kind::CustomAttribute, "gone").with_id("1"),
            Object::new(Kind::Listener, "gone").with_id("2"),
        ];
        let all = managed(&[Kind::CustomAttribute, Kind::Listener]);
        let plan = plan(&desired, &actual, &all, Deletes::Apply);
        let order: Vec<(Action, Kind)> = plan.changes.iter().map(|c| (c.action, c.kind)).collect();
        assert_eq!(
            order,
            vec![
                (Action::Create, Kind::CustomAttribute),
                (Action::Create, Kind::CustomExtension),
                (Action::Create, Kind::UserFlow),
                (Action::Create, Kind::Listener),
                (Action::Delete, Kind::Listener),
                (Action::Delete, Kind::CustomAttribute),
            ]
        );
    }

    #[test]
    fn the_table_shows_each_change_and_escapes_cells() {
        let desired = [Object::new(Kind::Branding, "default").field("signInPageText", "a|b")];
        let actual = [Object::new(Kind::Branding, "default").field("signInPageText", "old")];
        let table = render_table(&plan(&desired, &actual, &managed(&[]), Deletes::Keep));
        assert!(
            table.starts_with("Plan: 0 to create, 1 to update, 0 to delete"),
            "{table}"
        );
        assert!(
            table.contains("| ~ update | branding | default | signInPageText: old → a\\|b |"),
            "{table}"
        );
        let none = render_table(&Plan::default());
        assert!(none.starts_with("No changes"), "{none}");
    }
}
