//! The directory's objects and the rules Graph enforces on writes (docs/protocols/graph-api.md A.8-A.9).
//!
//! Users and groups are kept as JSON objects, so any property a client sets (including custom
//! `extension_{appIdNoDashes}_{name}` attributes) round-trips unchanged. Collections are small (a demo
//! tenant), so lookups scan in insertion order, which is also the order lists are returned in.

use std::collections::{HashMap, HashSet};

use http::StatusCode;
use serde_json::{Map, Value, json};

use super::GraphFailure;

/// A directory object as stored: its JSON properties.
pub(crate) type JsonObject = Map<String, Value>;

/// Users, groups and group memberships of the simulated tenant.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    /// `{tenant_name}.onmicrosoft.com`, the domain of generated user principal names.
    pub(crate) domain: String,
    pub(crate) users: Vec<Map<String, Value>>,
    pub(crate) groups: Vec<Map<String, Value>>,
    /// Group id -> direct member ids (users or groups), in the order they were added.
    pub(crate) members: HashMap<String, Vec<String>>,
}

/// What kind of directory object an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjectKind {
    User,
    Group,
}

impl ObjectKind {
    pub(crate) fn odata_type(self) -> &'static str {
        match self {
            ObjectKind::User => "#microsoft.graph.user",
            ObjectKind::Group => "#microsoft.graph.group",
        }
    }
}

pub(crate) fn not_found(key: &str) -> GraphFailure {
    GraphFailure::new(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        format!(
            "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

fn bad_request(message: impl Into<String>) -> GraphFailure {
    GraphFailure::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
}

fn invalid_property(property: &str, resource: &str) -> GraphFailure {
    bad_request(format!(
        "Invalid value specified for property '{property}' of resource '{resource}'."
    ))
}

fn id_of(object: &Map<String, Value>) -> &str {
    object.get("id").and_then(Value::as_str).unwrap_or_default()
}

fn str_field<'a>(object: &'a Value, name: &str) -> Option<&'a str> {
    object.get(name).and_then(Value::as_str)
}

impl Directory {
    /// Finds a user by object id or user principal name (both case-insensitive, as in Graph).
    pub(crate) fn user_index(&self, key: &str) -> Option<usize> {
        self.users.iter().position(|user| {
            id_of(user).eq_ignore_ascii_case(key)
                || user
                    .get("userPrincipalName")
                    .and_then(Value::as_str)
                    .is_some_and(|upn| upn.eq_ignore_ascii_case(key))
        })
    }

    pub(crate) fn user(&self, key: &str) -> Result<&Map<String, Value>, GraphFailure> {
        self.user_index(key)
            .map(|i| &self.users[i])
            .ok_or_else(|| not_found(key))
    }

    pub(crate) fn group_index(&self, id: &str) -> Option<usize> {
        self.groups
            .iter()
            .position(|group| id_of(group).eq_ignore_ascii_case(id))
    }

    pub(crate) fn group(&self, id: &str) -> Result<&Map<String, Value>, GraphFailure> {
        self.group_index(id)
            .map(|i| &self.groups[i])
            .ok_or_else(|| not_found(id))
    }

    /// The kind and canonical id of a directory object, if it exists.
    pub(crate) fn object(&self, id: &str) -> Option<(ObjectKind, String)> {
        if let Some(i) = self
            .users
            .iter()
            .position(|u| id_of(u).eq_ignore_ascii_case(id))
        {
            return Some((ObjectKind::User, id_of(&self.users[i]).to_owned()));
        }
        self.group_index(id)
            .map(|i| (ObjectKind::Group, id_of(&self.groups[i]).to_owned()))
    }

    /// Creates a user as `POST /users` does; returns the stored object.
    pub(crate) fn create_user(
        &mut self,
        mut body: Map<String, Value>,
    ) -> Result<Map<String, Value>, GraphFailure> {
        if body.contains_key("id") {
            return Err(bad_request("Property 'id' is read-only and cannot be set."));
        }
        match body.get("displayName") {
            Some(Value::String(name)) if !name.trim().is_empty() => {}
            _ => return Err(invalid_property("displayName", "User")),
        }
        let id = uuid::Uuid::new_v4().to_string();
        if let Some(identities) = body.get("identities") {
            self.check_identities(identities, None)?;
        }
        match body.get("userPrincipalName") {
            None | Some(Value::Null) => {
                body.insert(
                    "userPrincipalName".into(),
                    json!(format!("{id}@{}", self.domain)),
                );
            }
            Some(Value::String(upn)) => self.check_upn(upn, None)?,
            Some(_) => return Err(invalid_property("userPrincipalName", "User")),
        }
        redact_password(&mut body)?;
        body.entry("accountEnabled").or_insert(json!(true));
        body.entry("identities").or_insert(json!([]));
        body.insert(
            "createdDateTime".into(),
            json!(super::iso_timestamp(std::time::SystemTime::now())),
        );
        body.insert("id".into(), json!(id));
        self.users.push(body.clone());
        Ok(body)
    }

    /// Applies `PATCH /users/{key}`: properties are merged, `identities` replaces the collection, and
    /// `null` removes a custom (extension) attribute.
    pub(crate) fn update_user(
        &mut self,
        key: &str,
        mut patch: Map<String, Value>,
    ) -> Result<(), GraphFailure> {
        let index = self.user_index(key).ok_or_else(|| not_found(key))?;
        if patch.contains_key("id") {
            return Err(bad_request("Property 'id' is read-only and cannot be set."));
        }
        let self_id = id_of(&self.users[index]).to_owned();
        if let Some(identities) = patch.get("identities") {
            self.check_identities(identities, Some(&self_id))?;
        }
        match patch.get("userPrincipalName") {
            None => {}
            Some(Value::String(upn)) => self.check_upn(upn, Some(&self_id))?,
            Some(_) => return Err(invalid_property("userPrincipalName", "User")),
        }
        if let Some(name) = patch.get("displayName")
            && !matches!(name, Value::String(s) if !s.trim().is_empty())
        {
            return Err(invalid_property("displayName", "User"));
        }
        redact_password(&mut patch)?;
        let user = &mut self.users[index];
        for (name, value) in patch {
            if value.is_null() && name.starts_with("extension_") {
                user.remove(&name);
            } else {
                user.insert(name, value);
            }
        }
        Ok(())
    }

    /// Deletes a user and its group memberships.
    pub(crate) fn delete_user(&mut self, key: &str) -> Result<(), GraphFailure> {
        let index = self.user_index(key).ok_or_else(|| not_found(key))?;
        let removed = self.users.remove(index);
        let id = id_of(&removed);
        for members in self.members.values_mut() {
            members.retain(|member| !member.eq_ignore_ascii_case(id));
        }
        Ok(())
    }

    /// Creates a group as `POST /groups` does; returns the stored object.
    pub(crate) fn create_group(
        &mut self,
        mut body: Map<String, Value>,
    ) -> Result<Map<String, Value>, GraphFailure> {
        if body.contains_key("id") {
            return Err(bad_request("Property 'id' is read-only and cannot be set."));
        }
        match body.get("displayName") {
            Some(Value::String(name)) if !name.trim().is_empty() => {}
            _ => return Err(invalid_property("displayName", "Group")),
        }
        for flag in ["mailEnabled", "securityEnabled"] {
            match body.get(flag) {
                None => {
                    body.insert(flag.into(), json!(flag == "securityEnabled"));
                }
                Some(Value::Bool(_)) => {}
                Some(_) => return Err(invalid_property(flag, "Group")),
            }
        }
        body.entry("groupTypes").or_insert(json!([]));
        body.insert(
            "createdDateTime".into(),
            json!(super::iso_timestamp(std::time::SystemTime::now())),
        );
        body.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
        self.groups.push(body.clone());
        Ok(body)
    }

    /// `POST /groups/{id}/members/$ref`.
    pub(crate) fn add_member(
        &mut self,
        group_id: &str,
        member_id: &str,
    ) -> Result<(), GraphFailure> {
        let group = self.group(group_id).map(|g| id_of(g).to_owned())?;
        let (kind, member) = self.object(member_id).ok_or_else(|| not_found(member_id))?;
        if kind == ObjectKind::Group && member.eq_ignore_ascii_case(&group) {
            return Err(bad_request("A group cannot be a member of itself."));
        }
        let members = self.members.entry(group).or_default();
        if members.iter().any(|m| m.eq_ignore_ascii_case(&member)) {
            return Err(bad_request(
                "One or more added object references already exist for the following modified properties: 'members'.",
            ));
        }
        members.push(member);
        Ok(())
    }

    /// `DELETE /groups/{id}/members/{memberId}/$ref`.
    pub(crate) fn remove_member(
        &mut self,
        group_id: &str,
        member_id: &str,
    ) -> Result<(), GraphFailure> {
        let group = self.group(group_id).map(|g| id_of(g).to_owned())?;
        let members = self.members.entry(group).or_default();
        let position = members
            .iter()
            .position(|m| m.eq_ignore_ascii_case(member_id))
            .ok_or_else(|| not_found(member_id))?;
        members.remove(position);
        Ok(())
    }

    /// Direct members of a group, each tagged with its `@odata.type`.
    pub(crate) fn members_of_group(
        &self,
        group_id: &str,
    ) -> Result<Vec<(ObjectKind, JsonObject)>, GraphFailure> {
        let group = self.group(group_id).map(|g| id_of(g).to_owned())?;
        Ok(self
            .members
            .get(&group)
            .into_iter()
            .flatten()
            .filter_map(|member| {
                let (kind, id) = self.object(member)?;
                let object = match kind {
                    ObjectKind::User => self.user(&id).ok()?,
                    ObjectKind::Group => self.group(&id).ok()?,
                };
                Some((kind, object.clone()))
            })
            .collect())
    }

    /// Groups an object belongs to: directly, or (transitive) through nested groups as well.
    pub(crate) fn groups_of(&self, object_id: &str, transitive: bool) -> Vec<Map<String, Value>> {
        let mut found: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut frontier = vec![object_id.to_ascii_lowercase()];
        while let Some(current) = frontier.pop() {
            for (group, members) in &self.members {
                let group_key = group.to_ascii_lowercase();
                if members.iter().any(|m| m.eq_ignore_ascii_case(&current))
                    && seen.insert(group_key.clone())
                {
                    found.push(group.clone());
                    if transitive {
                        frontier.push(group_key);
                    }
                }
            }
        }
        // Directory order, not hash order, so answers are stable.
        self.groups
            .iter()
            .filter(|g| found.iter().any(|id| id.eq_ignore_ascii_case(id_of(g))))
            .cloned()
            .collect()
    }

    /// Validates an `identities` collection: shape, sign-in type rules, and that no other user already
    /// holds the same issuer + issuerAssignedId.
    fn check_identities(
        &self,
        identities: &Value,
        self_id: Option<&str>,
    ) -> Result<(), GraphFailure> {
        let invalid = || invalid_property("identities", "User");
        let items = identities.as_array().ok_or_else(invalid)?;
        let mut keys = HashSet::new();
        for identity in items {
            let object = identity.as_object().ok_or_else(invalid)?;
            for field in ["signInType", "issuer", "issuerAssignedId"] {
                if !matches!(
                    object.get(field),
                    None | Some(Value::Null | Value::String(_))
                ) {
                    return Err(invalid());
                }
            }
            let sign_in_type = str_field(identity, "signInType");
            let issuer = str_field(identity, "issuer").unwrap_or_default();
            let assigned = str_field(identity, "issuerAssignedId").unwrap_or_default();
            if issuer.len() > 512 {
                return Err(invalid());
            }
            match sign_in_type {
                Some("emailAddress") if !assigned.contains('@') || issuer.is_empty() => {
                    return Err(invalid());
                }
                Some("userName")
                    if issuer.is_empty()
                        || assigned.is_empty()
                        || assigned.len() > 64
                        || !assigned.starts_with(|c: char| c.is_ascii_alphanumeric())
                        || !assigned
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
                {
                    return Err(invalid());
                }
                _ => {}
            }
            if issuer.is_empty() || assigned.is_empty() {
                continue;
            }
            let key = (issuer.to_lowercase(), assigned.to_lowercase());
            let taken = self.users.iter().any(|user| {
                self_id.is_none_or(|me| !id_of(user).eq_ignore_ascii_case(me))
                    && user
                        .get("identities")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|other| {
                            str_field(other, "issuer").is_some_and(|i| i.to_lowercase() == key.0)
                                && str_field(other, "issuerAssignedId")
                                    .is_some_and(|a| a.to_lowercase() == key.1)
                        })
            });
            if taken || !keys.insert(key) {
                return Err(bad_request(
                    "Another object with the same value for property identities already exists.",
                ));
            }
        }
        Ok(())
    }

    fn check_upn(&self, upn: &str, self_id: Option<&str>) -> Result<(), GraphFailure> {
        if !upn.contains('@') {
            return Err(invalid_property("userPrincipalName", "User"));
        }
        let taken = self.users.iter().any(|user| {
            self_id.is_none_or(|me| !id_of(user).eq_ignore_ascii_case(me))
                && user
                    .get("userPrincipalName")
                    .and_then(Value::as_str)
                    .is_some_and(|other| other.eq_ignore_ascii_case(upn))
        });
        if taken {
            return Err(bad_request(
                "Another object with the same value for property userPrincipalName already exists.",
            ));
        }
        Ok(())
    }
}

/// Graph never returns a password; the sandbox never stores one.
fn redact_password(body: &mut Map<String, Value>) -> Result<(), GraphFailure> {
    match body.get_mut("passwordProfile") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(profile)) => {
            if !matches!(profile.get("password"), None | Some(Value::String(_))) {
                return Err(invalid_property("passwordProfile", "User"));
            }
            profile.insert("password".into(), Value::Null);
            Ok(())
        }
        Some(_) => Err(invalid_property("passwordProfile", "User")),
    }
}
