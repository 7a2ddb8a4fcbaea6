//! Directory audit records as change events (docs/protocols/graph-api.md A.10).
//!
//! The `Core Directory` service logs user and group changes with an `activityDisplayName` and the
//! objects in `targetResources` (whose type key is `type`, or `Type` in some records: both are
//! read). A creation maps to `created` with the shared marker `created` (the users listing derives
//! the same event); everything else carries the audit record's id as its marker.

use entra_notifications::event::{ChangeSource, DirectoryChange, ResourceKind};
use entra_notifications::wire::ChangeType;
use serde_json::Value;

/// What an activity means for the objects it names, or `None` when it is not a directory change
/// we react to.
fn change_type(activity: &str) -> Option<ChangeType> {
    match activity {
        "Add user" | "Add group" => Some(ChangeType::Created),
        "Update user"
        | "Update group"
        | "Restore user"
        | "Restore group"
        | "Add member to group"
        | "Remove member from group"
        | "Change user password"
        | "Reset user password"
        | "Disable account"
        | "Enable account" => Some(ChangeType::Updated),
        "Delete user" | "Hard Delete user" | "Delete group" | "Hard Delete group" => {
            Some(ChangeType::Deleted)
        }
        _ => None,
    }
}

/// The change events of one audit record (none for activities we do not react to).
pub fn changes(record: &Value, tenant_id: &str) -> Vec<DirectoryChange> {
    let Some(activity) = record.get("activityDisplayName").and_then(Value::as_str) else {
        return Vec::new();
    };
    let Some(change_type) = change_type(activity) else {
        return Vec::new();
    };
    let record_id = record.get("id").and_then(Value::as_str).unwrap_or_default();
    let occurred_at = record
        .get("activityDateTime")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let targets = record
        .get("targetResources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    targets
        .iter()
        .filter_map(|target| {
            let kind = target
                .get("type")
                .or_else(|| target.get("Type"))
                .and_then(Value::as_str)?;
            let resource_kind = match kind.to_ascii_lowercase().as_str() {
                "user" => ResourceKind::User,
                "group" => ResourceKind::Group,
                _ => return None,
            };
            let id = target.get("id").and_then(Value::as_str)?;
            // A creation's own record describes that object; other targets changed (membership).
            let change_type = match (change_type, activity) {
                (ChangeType::Created, "Add user") if resource_kind == ResourceKind::User => {
                    ChangeType::Created
                }
                (ChangeType::Created, "Add group") if resource_kind == ResourceKind::Group => {
                    ChangeType::Created
                }
                (ChangeType::Created, _) => ChangeType::Updated,
                (other, _) => other,
            };
            let marker = if change_type == ChangeType::Created {
                "created".to_owned()
            } else {
                record_id.to_owned()
            };
            Some(DirectoryChange {
                source: ChangeSource::DirectoryPoller,
                tenant_id: tenant_id.to_owned(),
                resource_kind,
                resource_id: id.to_owned(),
                change_type,
                subscription_id: None,
                occurred_at: occurred_at.clone(),
                marker,
                resource_data: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_and_membership_activities_become_changes() {
        let add = json!({"id": "Directory_1", "activityDisplayName": "Add user",
            "activityDateTime": "2026-11-26T21:00:00.1234567Z",
            "targetResources": [{"id": "u-1", "type": "User"}]});
        let changes = changes(&add, "t");
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].change_type, ChangeType::Created);
        assert_eq!(changes[0].marker, "created");
        assert_eq!(
            changes[0].dedup_key(),
            "change/poller/users/u-1/created/created"
        );

        let member = json!({"id": "Directory_2", "activityDisplayName": "Add member to group",
            "targetResources": [{"id": "u-1", "Type": "User"}, {"id": "g-1", "Type": "Group"}]});
        let changes = super::changes(&member, "t");
        let kinds: Vec<_> = changes
            .iter()
            .map(|c| (c.resource_kind, c.change_type, c.marker.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (ResourceKind::User, ChangeType::Updated, "Directory_2"),
                (ResourceKind::Group, ChangeType::Updated, "Directory_2")
            ]
        );

        let delete = json!({"id": "Directory_3", "activityDisplayName": "Delete user",
            "targetResources": [{"id": "u-1", "type": "User"}]});
        assert_eq!(
            super::changes(&delete, "t")[0].change_type,
            ChangeType::Deleted
        );
    }

    #[test]
    fn other_activities_and_targets_are_ignored() {
        for record in [
            json!({"activityDisplayName": "Add application", "targetResources": [{"id": "a", "type": "Application"}]}),
            json!({"activityDisplayName": "Update user", "targetResources": [{"id": "d", "type": "Device"}]}),
            json!({"activityDisplayName": "Update user"}),
            json!({"targetResources": []}),
            json!("not an object"),
        ] {
            assert!(changes(&record, "t").is_empty(), "{record}");
        }
    }
}
