//! Groups and membership: `/groups`, `/groups/{id}/members`, `/users/{id}/(transitive)memberOf`
//! (docs/protocols/graph-api.md A.9).
//!
//! Membership changes are idempotent, as a reconciler needs: adding a member that is already there and
//! removing one that is not both succeed. Graph reports the first as a plain `400 Request_BadRequest`
//! whose only distinguishing mark is its message ("One or more added object references already
//! exist"); this is the one place the client looks at a message, because Graph offers nothing else.

use futures::Stream;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::client::{GraphClient, GraphRequest};
use crate::error::GraphError;
use crate::paging::ListQuery;

/// What Graph says when a `$ref` add finds the member already present.
const ALREADY_A_MEMBER: &str = "added object references already exist";

/// A group as Graph returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_nickname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_types: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A member of a group: a user, a group, or another directory object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DirectoryObject {
    pub id: String,
    /// `#microsoft.graph.user`, `#microsoft.graph.group`, ...
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_type: Option<String>,
    #[serde(
        rename = "displayName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DirectoryObject {
    /// Whether this member is a user.
    pub fn is_user(&self) -> bool {
        self.odata_type.as_deref() == Some("#microsoft.graph.user")
    }

    /// Whether this member is a (nested) group.
    pub fn is_group(&self) -> bool {
        self.odata_type.as_deref() == Some("#microsoft.graph.group")
    }
}

/// Operations on groups and memberships.
#[derive(Debug, Clone)]
pub struct Groups {
    client: GraphClient,
}

impl Groups {
    pub(crate) fn new(client: GraphClient) -> Self {
        Self { client }
    }

    /// `GET /groups/{id}`, with `$select` when `select` is not empty.
    pub async fn get(&self, id: &str, select: &[&str]) -> Result<Group, GraphError> {
        let mut url = self.client.url(&["groups", id]);
        if !select.is_empty() {
            url.query_pairs_mut()
                .append_pair("$select", &select.join(","));
        }
        self.client.get_json(url).await
    }

    /// `GET /groups` with `query`, every page.
    pub fn list(
        &self,
        query: &ListQuery,
    ) -> impl Stream<Item = Result<Group, GraphError>> + Send + 'static {
        self.client.list(self.client.url(&["groups"]), query)
    }

    /// `POST /groups/{id}/members/$ref`; already being a member is success.
    pub async fn add_member(&self, group_id: &str, member_id: &str) -> Result<(), GraphError> {
        let reference = self.client.url(&["directoryObjects", member_id]);
        let request = GraphRequest::new(
            Method::POST,
            self.client.url(&["groups", group_id, "members", "$ref"]),
        )
        .with_json(&json!({ "@odata.id": reference.as_str() }))?;
        match self.client.send(request).await {
            Ok(_) => Ok(()),
            Err(GraphError::Api(error))
                if error.status == reqwest::StatusCode::BAD_REQUEST
                    && error.code == "Request_BadRequest"
                    && error.message.contains(ALREADY_A_MEMBER) =>
            {
                tracing::debug!(group_id, member_id, "already a member");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// `DELETE /groups/{id}/members/{memberId}/$ref`; not being a member is success.
    ///
    /// Graph answers 404 both when the member is absent and when the group is; either way the member
    /// is not in the group, which is what the caller asked for.
    pub async fn remove_member(&self, group_id: &str, member_id: &str) -> Result<(), GraphError> {
        let request = GraphRequest::new(
            Method::DELETE,
            self.client
                .url(&["groups", group_id, "members", member_id, "$ref"]),
        );
        match self.client.send(request).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_not_found() => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// `GET /groups/{id}/members`: direct members (users and nested groups).
    pub fn members(
        &self,
        group_id: &str,
        query: &ListQuery,
    ) -> impl Stream<Item = Result<DirectoryObject, GraphError>> + Send + 'static {
        self.client
            .list(self.client.url(&["groups", group_id, "members"]), query)
    }

    /// Groups the user is a direct member of (`/users/{id}/memberOf/microsoft.graph.group`).
    pub fn member_of(
        &self,
        user_id: &str,
        query: &ListQuery,
    ) -> impl Stream<Item = Result<Group, GraphError>> + Send + 'static {
        self.client.list(
            self.client
                .url(&["users", user_id, "memberOf", "microsoft.graph.group"]),
            query,
        )
    }

    /// Groups the user belongs to directly or through nested groups
    /// (`/users/{id}/transitiveMemberOf/microsoft.graph.group`; the type cast drops roles and units).
    pub fn transitive_member_of(
        &self,
        user_id: &str,
        query: &ListQuery,
    ) -> impl Stream<Item = Result<Group, GraphError>> + Send + 'static {
        self.client.list(
            self.client.url(&[
                "users",
                user_id,
                "transitiveMemberOf",
                "microsoft.graph.group",
            ]),
            query,
        )
    }
}
