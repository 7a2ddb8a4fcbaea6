//! The app-registration bootstrap: applications, service principals, application-permission grants,
//! client secrets, certificates and federated identity credentials (docs/protocols/tenant-lifecycle.md
//! §2 and the `bootstrap` row of its permission table; docs/protocols/extension-callbacks.md (b)-(c)
//! for the extension API's registration).
//!
//! Faithful details:
//! - applications and service principals are addressed by object id, or by client id with the
//!   alternate key `applications(appId='…')` / `servicePrincipals(appId='…')`;
//! - granting an application permission is an app role assignment on the **resource's** service
//!   principal (`POST /servicePrincipals/{resourceSpId}/appRoleAssignedTo`); an existing assignment is
//!   success here ([`AppRoleGrant::AlreadyGranted`]), because Graph reports it as a plain
//!   `400 Request_BadRequest` ("Permission being assigned already exists on the object");
//! - `addPassword` is the only answer that ever contains a client secret: [`AddedPassword`] keeps it in
//!   a [`SecretString`] that `Debug` never prints;
//! - `PATCH keyCredentials` replaces the whole collection ([`Applications::set_key_credentials`]);
//! - federated identity credentials take exactly one audience, `api://AzureADTokenExchange`.
//!
//! Sources: <https://learn.microsoft.com/graph/api/application-post-applications>,
//! <https://learn.microsoft.com/graph/api/application-addpassword>,
//! <https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto>,
//! <https://learn.microsoft.com/graph/api/application-post-federatedidentitycredentials>,
//! <https://learn.microsoft.com/graph/permissions-reference>.

use futures::TryStreamExt;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::client::{GraphClient, GraphRequest};
use crate::credential::SecretString;
use crate::error::GraphError;
use crate::odata;
use crate::paging::ListQuery;

/// Microsoft Graph's application (client) id, the same in every tenant.
pub const MICROSOFT_GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The Microsoft Graph app role an extension API must be granted (admin-consented) before Entra calls
/// it: `CustomAuthenticationExtension.Receive.Payload` (extension-callbacks.md (c.1)).
pub const RECEIVE_PAYLOAD_ROLE_ID: &str = "214e810f-fda8-4fd7-a475-29461495eb00";
/// The value of that role.
pub const RECEIVE_PAYLOAD_ROLE: &str = "CustomAuthenticationExtension.Receive.Payload";
/// The only audience a federated identity credential accepts.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
/// GitHub Actions' OIDC issuer, without a trailing slash (tenant-lifecycle.md §2.2).
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// What Graph says when an app role assignment already exists.
const ALREADY_ASSIGNED: &str = "already exists";

/// An app role an application defines (`appRole`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    /// A GUID, stable for the role's lifetime.
    pub id: String,
    /// `Application` (application permission), `User`, or both.
    #[serde(default)]
    pub allowed_member_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    /// The value in tokens' `roles` claim, e.g. `User.ReadWrite.All`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AppRole {
    /// An enabled application permission.
    pub fn application(
        id: impl Into<String>,
        value: impl Into<String>,
        display_name: impl Into<String>,
    ) -> Self {
        let display_name = display_name.into();
        Self {
            id: id.into(),
            allowed_member_types: vec!["Application".to_owned()],
            description: Some(display_name.clone()),
            display_name: Some(display_name),
            is_enabled: Some(true),
            value: Some(value.into()),
            extra: Map::new(),
        }
    }
}

/// One permission in `requiredResourceAccess`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceAccess {
    /// The app role (or delegated scope) id.
    pub id: String,
    /// `Role` (application permission) or `Scope` (delegated).
    #[serde(rename = "type")]
    pub access_type: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The permissions an application requests on one resource (`requiredResourceAccess`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResourceAccess {
    pub resource_app_id: String,
    #[serde(default)]
    pub resource_access: Vec<ResourceAccess>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RequiredResourceAccess {
    /// Application permissions (`Role`) on `resource_app_id`.
    pub fn roles<I, S>(resource_app_id: impl Into<String>, role_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            resource_app_id: resource_app_id.into(),
            resource_access: role_ids
                .into_iter()
                .map(|id| ResourceAccess {
                    id: id.into(),
                    access_type: "Role".to_owned(),
                    extra: Map::new(),
                })
                .collect(),
            extra: Map::new(),
        }
    }
}

/// The `api` settings of an application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiApplication {
    /// 2 makes `aud` the client id and adds `azp` (extension-callbacks.md (b)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_access_token_version: Option<i32>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A certificate or public key on an application (`keyCredential`).
///
/// Graph returns `key` only for a single object read with `$select=keyCredentials`; elsewhere it is
/// `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_key_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
    /// Base64 of the DER certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<String>,
    /// `AsymmetricX509Cert`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// `Verify` (client authentication) or `Encrypt` (token encryption).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl KeyCredential {
    /// A certificate our client signs assertions with (`AsymmetricX509Cert`, `Verify`), from its PEM.
    pub fn verify_certificate_pem(
        certificate_pem: &str,
        display_name: impl Into<String>,
    ) -> Result<Self, GraphError> {
        use base64::Engine;
        let parsed = pem::parse(certificate_pem)
            .map_err(|e| GraphError::InvalidRequest(format!("the certificate is not PEM: {e}")))?;
        if parsed.tag() != "CERTIFICATE" {
            return Err(GraphError::InvalidRequest(format!(
                "expected a CERTIFICATE PEM block, found {}",
                parsed.tag()
            )));
        }
        Ok(Self {
            display_name: Some(display_name.into()),
            key: Some(base64::engine::general_purpose::STANDARD.encode(parsed.contents())),
            key_id: Some(uuid::Uuid::new_v4().to_string()),
            key_type: Some("AsymmetricX509Cert".to_owned()),
            usage: Some("Verify".to_owned()),
            ..Self::default()
        })
    }
}

/// A client secret as listed on an application: never the secret itself (`hint` is its first three
/// characters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<String>,
    /// Anything else, except `secretText`, which is dropped on read: Graph sends it as `null`
    /// outside `addPassword`, and a secret must not end up in a diffable model.
    #[serde(flatten, deserialize_with = "without_secret_text")]
    pub extra: Map<String, Value>,
}

fn without_secret_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Map<String, Value>, D::Error> {
    let mut map = Map::deserialize(deserializer)?;
    map.remove("secretText");
    Ok(map)
}

/// The answer of `addPassword`: the new client secret. `Debug` never shows the secret, and the type is
/// not serializable, so it cannot be written out by accident.
#[derive(Debug, Clone, PartialEq)]
pub struct AddedPassword {
    pub key_id: String,
    pub display_name: Option<String>,
    /// The first three characters, as Graph reports them.
    pub hint: Option<String>,
    pub start_date_time: Option<String>,
    pub end_date_time: Option<String>,
    /// The secret: returned by Graph in this answer only, never again.
    pub secret_text: SecretString,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAddedPassword {
    key_id: Option<String>,
    display_name: Option<String>,
    hint: Option<String>,
    start_date_time: Option<String>,
    end_date_time: Option<String>,
    secret_text: Option<String>,
}

/// An application registration, as read and as written (a `PATCH` sends only what is `Some`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Object id (the `{id}` of `/applications/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_audience: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_roles: Option<Vec<AppRole>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_resource_access: Option<Vec<RequiredResourceAccess>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiApplication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_credentials: Option<Vec<KeyCredential>>,
    /// Read-only here: add secrets with [`Applications::add_password`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_credentials: Option<Vec<PasswordCredential>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Application {
    /// A new registration with only a display name, as `POST /applications` accepts.
    pub fn new(display_name: impl Into<String>) -> Self {
        Self {
            display_name: Some(display_name.into()),
            ..Self::default()
        }
    }

    /// A copy fit to write: without ids, secrets lists and `@odata.*` annotations.
    pub fn writable(&self) -> Self {
        let mut copy = self.clone();
        copy.id = None;
        copy.app_id = None;
        copy.password_credentials = None;
        copy.extra.retain(|key, _| !key.starts_with('@'));
        copy
    }

    /// The role with `value` (e.g. `User.ReadWrite.All`), if defined.
    pub fn app_role(&self, value: &str) -> Option<&AppRole> {
        find_role(self.app_roles.as_deref(), value)
    }
}

fn find_role<'a>(roles: Option<&'a [AppRole]>, value: &str) -> Option<&'a AppRole> {
    roles?
        .iter()
        .find(|role| role.value.as_deref() == Some(value))
}

/// A service principal (an application's instance in this tenant).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: String,
    #[serde(default)]
    pub app_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_roles: Option<Vec<AppRole>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_type: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ServicePrincipal {
    /// The role with `value` the resource exposes (e.g. Microsoft Graph's `User.ReadWrite.All`).
    pub fn app_role(&self, value: &str) -> Option<&AppRole> {
        find_role(self.app_roles.as_deref(), value)
    }
}

/// A granted app role (`appRoleAssignment`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub app_role_id: String,
    /// The service principal granted the role.
    pub principal_id: String,
    /// The resource's service principal (e.g. Microsoft Graph's).
    pub resource_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The outcome of [`ServicePrincipals::grant_app_role`].
#[derive(Debug, Clone, PartialEq)]
pub enum AppRoleGrant {
    /// Graph created the assignment (`201`).
    Created(AppRoleAssignment),
    /// The principal already held the role; the existing assignment when it could be read.
    AlreadyGranted(Option<AppRoleAssignment>),
}

impl AppRoleGrant {
    /// Whether this call changed the tenant.
    pub fn is_created(&self) -> bool {
        matches!(self, AppRoleGrant::Created(_))
    }
}

/// A trust in an outside OIDC issuer (`federatedIdentityCredential`), e.g. GitHub Actions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FederatedIdentityCredential {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// 3-120 characters, alphanumeric/dash/underscore, immutable; GET and DELETE accept it as a key.
    pub name: String,
    pub issuer: String,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FederatedIdentityCredential {
    /// A credential for tokens of `issuer` with subject `subject`, audience `api://AzureADTokenExchange`.
    pub fn new(
        name: impl Into<String>,
        issuer: impl Into<String>,
        subject: impl Into<String>,
    ) -> Self {
        Self {
            id: None,
            name: name.into(),
            issuer: issuer.into(),
            subject: subject.into(),
            description: None,
            audiences: vec![TOKEN_EXCHANGE_AUDIENCE.to_owned()],
            extra: Map::new(),
        }
    }

    /// A GitHub Actions credential for `subject` (see [`github_branch_subject`] and friends).
    pub fn github_actions(name: impl Into<String>, subject: impl Into<String>) -> Self {
        Self::new(name, GITHUB_ACTIONS_ISSUER, subject)
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Checks the constraints Entra documents (tenant-lifecycle.md §2.2) before sending: name shape,
    /// issuer/subject present, not padded and ≤ 600 characters, exactly the one audience, no
    /// wildcards.
    pub fn validate(&self) -> Result<(), GraphError> {
        let invalid = |m: String| Err(GraphError::InvalidRequest(m));
        let name_ok = (3..=120).contains(&self.name.len())
            && self.name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return invalid(format!(
                "federated credential name '{}' must be 3-120 characters of letters, digits, '-' or '_', starting with a letter or digit",
                self.name
            ));
        }
        for (field, value) in [("issuer", &self.issuer), ("subject", &self.subject)] {
            if value.is_empty() || value.trim() != value || value.len() > 600 {
                return invalid(format!(
                    "{field} must be 1-600 characters without surrounding whitespace"
                ));
            }
            if value.contains('*') {
                return invalid(format!("{field} cannot contain wildcards"));
            }
        }
        if self.audiences != [TOKEN_EXCHANGE_AUDIENCE] {
            return invalid(format!(
                "audiences must be exactly [\"{TOKEN_EXCHANGE_AUDIENCE}\"]"
            ));
        }
        Ok(())
    }

    fn writable(&self) -> Self {
        let mut copy = self.clone();
        copy.id = None;
        copy.extra.retain(|key, _| !key.starts_with('@'));
        copy
    }
}

/// `repo:ORG/REPO:ref:refs/heads/BRANCH`: a GitHub job on a branch, without an environment.
pub fn github_branch_subject(repository: &str, branch: &str) -> String {
    format!("repo:{repository}:ref:refs/heads/{branch}")
}

/// `repo:ORG/REPO:environment:NAME`: a GitHub job that references an environment.
pub fn github_environment_subject(repository: &str, environment: &str) -> String {
    format!("repo:{repository}:environment:{environment}")
}

/// `repo:ORG/REPO:pull_request`: a GitHub `pull_request` job without an environment.
pub fn github_pull_request_subject(repository: &str) -> String {
    format!("repo:{repository}:pull_request")
}

/// `api://{host}/{appId}`: the App ID URI an extension API must carry, and the `resourceId` of its
/// custom authentication extensions (extension-callbacks.md (b)).
pub fn extension_api_identifier_uri(host: &str, app_id: &str) -> String {
    format!("api://{host}/{app_id}")
}

/// `{set}(appId='…')`: the alternate-key segment.
fn by_app_id(set: &str, app_id: &str) -> String {
    format!("{set}(appId={})", odata::quote(app_id))
}

/// Operations on `/applications`.
#[derive(Debug, Clone)]
pub struct Applications {
    client: GraphClient,
}

impl Applications {
    pub(crate) fn new(client: GraphClient) -> Self {
        Self { client }
    }

    /// `POST /applications` (→ 201): returns the registration with its object id and client id.
    pub async fn create(&self, application: &Application) -> Result<Application, GraphError> {
        self.client
            .post_json(self.client.url(&["applications"]), &application.writable())
            .await
    }

    /// `GET /applications/{objectId}`, with `$select` when `select` is not empty.
    pub async fn get(&self, object_id: &str, select: &[&str]) -> Result<Application, GraphError> {
        let mut url = self.client.url(&["applications", object_id]);
        if !select.is_empty() {
            url.query_pairs_mut()
                .append_pair("$select", &select.join(","));
        }
        self.client.get_json(url).await
    }

    /// `GET /applications(appId='…')`: the registration with client id `app_id`, if any.
    pub async fn find_by_app_id(&self, app_id: &str) -> Result<Option<Application>, GraphError> {
        let url = self.client.url(&[&by_app_id("applications", app_id)]);
        match self.client.get_json(url).await {
            Ok(found) => Ok(Some(found)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The registrations named `display_name` (`$filter=displayName eq '…'`).
    pub async fn find_by_display_name(
        &self,
        display_name: &str,
    ) -> Result<Vec<Application>, GraphError> {
        let query =
            ListQuery::new().filter(format!("displayName eq {}", odata::quote(display_name)));
        self.list(&query).await
    }

    /// `GET /applications` with `query`, every page.
    pub async fn list(&self, query: &ListQuery) -> Result<Vec<Application>, GraphError> {
        self.client
            .list(self.client.url(&["applications"]), query)
            .try_collect()
            .await
    }

    /// `PATCH /applications/{objectId}` (→ 204): `identifierUris`, `appRoles`,
    /// `requiredResourceAccess`, `api`, ... Collections are replaced wholesale.
    pub async fn update(&self, object_id: &str, patch: &Application) -> Result<(), GraphError> {
        self.client
            .patch_json(
                self.client.url(&["applications", object_id]),
                &patch.writable(),
            )
            .await
    }

    /// `DELETE /applications/{objectId}` (→ 204).
    pub async fn delete(&self, object_id: &str) -> Result<(), GraphError> {
        let request = GraphRequest::new(
            Method::DELETE,
            self.client.url(&["applications", object_id]),
        );
        self.client.send(request).await.map(drop)
    }

    /// `POST /applications/{objectId}/addPassword` (→ 200): a new client secret. The answer is the
    /// only place the secret ever appears; store it at once.
    pub async fn add_password(
        &self,
        object_id: &str,
        display_name: &str,
        end_date_time: Option<&str>,
    ) -> Result<AddedPassword, GraphError> {
        let mut credential = Map::new();
        credential.insert("displayName".into(), json!(display_name));
        if let Some(end) = end_date_time {
            credential.insert("endDateTime".into(), json!(end));
        }
        let request = GraphRequest::new(
            Method::POST,
            self.client.url(&["applications", object_id, "addPassword"]),
        )
        .with_json(&json!({ "passwordCredential": credential }))?;
        let response = self.client.send(request).await?;
        let raw: RawAddedPassword = response.json()?;
        let (Some(key_id), Some(secret_text)) = (raw.key_id, raw.secret_text) else {
            return Err(GraphError::InvalidResponse(
                "addPassword answered without keyId or secretText".to_owned(),
            ));
        };
        Ok(AddedPassword {
            key_id,
            display_name: raw.display_name,
            hint: raw.hint,
            start_date_time: raw.start_date_time,
            end_date_time: raw.end_date_time,
            secret_text: SecretString::new(secret_text),
        })
    }

    /// `POST /applications/{objectId}/removePassword` (→ 204): revokes the secret `key_id`.
    pub async fn remove_password(&self, object_id: &str, key_id: &str) -> Result<(), GraphError> {
        let request = GraphRequest::new(
            Method::POST,
            self.client
                .url(&["applications", object_id, "removePassword"]),
        )
        .with_json(&json!({ "keyId": key_id }))?;
        self.client.send(request).await.map(drop)
    }

    /// `PATCH /applications/{objectId}` with `keyCredentials` (→ 204): **replaces** the registration's
    /// certificates with `keys` (include the ones to keep).
    pub async fn set_key_credentials(
        &self,
        object_id: &str,
        keys: Vec<KeyCredential>,
    ) -> Result<(), GraphError> {
        let patch = Application {
            key_credentials: Some(keys),
            ..Application::default()
        };
        self.update(object_id, &patch).await
    }

    /// `GET /applications/{objectId}/federatedIdentityCredentials`.
    pub async fn federated_credentials(
        &self,
        object_id: &str,
    ) -> Result<Vec<FederatedIdentityCredential>, GraphError> {
        self.client
            .list(
                self.client
                    .url(&["applications", object_id, "federatedIdentityCredentials"]),
                &ListQuery::new(),
            )
            .try_collect()
            .await
    }

    /// `GET /applications/{objectId}/federatedIdentityCredentials/{id or name}`, `None` when absent.
    pub async fn find_federated_credential(
        &self,
        object_id: &str,
        id_or_name: &str,
    ) -> Result<Option<FederatedIdentityCredential>, GraphError> {
        let url = self.client.url(&[
            "applications",
            object_id,
            "federatedIdentityCredentials",
            id_or_name,
        ]);
        match self.client.get_json(url).await {
            Ok(found) => Ok(Some(found)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `POST /applications/{objectId}/federatedIdentityCredentials` (→ 201), after
    /// [`FederatedIdentityCredential::validate`].
    pub async fn create_federated_credential(
        &self,
        object_id: &str,
        credential: &FederatedIdentityCredential,
    ) -> Result<FederatedIdentityCredential, GraphError> {
        credential.validate()?;
        let request = GraphRequest::new(
            Method::POST,
            self.client
                .url(&["applications", object_id, "federatedIdentityCredentials"]),
        )
        .with_json(&credential.writable())?;
        self.client.send(request).await?.json()
    }

    /// `DELETE /applications/{objectId}/federatedIdentityCredentials/{id or name}` (→ 204).
    pub async fn delete_federated_credential(
        &self,
        object_id: &str,
        id_or_name: &str,
    ) -> Result<(), GraphError> {
        let request = GraphRequest::new(
            Method::DELETE,
            self.client.url(&[
                "applications",
                object_id,
                "federatedIdentityCredentials",
                id_or_name,
            ]),
        );
        self.client.send(request).await.map(drop)
    }

    /// Registers the API our custom authentication extensions run behind (extension-callbacks.md
    /// (b)-(c.1), tenant-lifecycle.md bootstrap), or completes a registration named `display_name`:
    ///
    /// 1. the application (found by display name, else created);
    /// 2. `identifierUris` = [`extension_api_identifier_uri`]`(host, appId)`,
    ///    `api.requestedAccessTokenVersion` = 2, and `requiredResourceAccess` on Microsoft Graph's
    ///    `CustomAuthenticationExtension.Receive.Payload` role;
    /// 3. its service principal (found or created);
    /// 4. admin consent: that role assigned to the API's service principal on Microsoft Graph's
    ///    service principal (idempotent).
    pub async fn register_extension_api(
        &self,
        display_name: &str,
        host: &str,
    ) -> Result<ExtensionApiRegistration, GraphError> {
        if host.is_empty() || host.contains(['/', ':', ' ']) {
            return Err(GraphError::InvalidRequest(format!(
                "'{host}' is not a host name"
            )));
        }
        let application = match self
            .find_by_display_name(display_name)
            .await?
            .into_iter()
            .next()
        {
            Some(existing) => existing,
            None => self.create(&Application::new(display_name)).await?,
        };
        let (Some(object_id), Some(app_id)) = (application.id.clone(), application.app_id.clone())
        else {
            return Err(GraphError::InvalidResponse(
                "the application came back without id or appId".to_owned(),
            ));
        };
        let identifier_uri = extension_api_identifier_uri(host, &app_id);
        let patch = Application {
            identifier_uris: Some(vec![identifier_uri.clone()]),
            api: Some(ApiApplication {
                requested_access_token_version: Some(2),
                extra: Map::new(),
            }),
            required_resource_access: Some(vec![RequiredResourceAccess::roles(
                MICROSOFT_GRAPH_APP_ID,
                [RECEIVE_PAYLOAD_ROLE_ID],
            )]),
            ..Application::default()
        };
        self.update(&object_id, &patch).await?;
        let principals = ServicePrincipals::new(self.client.clone());
        let service_principal = principals.ensure(&app_id).await?;
        let graph = principals.microsoft_graph().await?;
        let consent = principals
            .grant_app_role(&graph.id, &service_principal.id, RECEIVE_PAYLOAD_ROLE_ID)
            .await?;
        Ok(ExtensionApiRegistration {
            object_id,
            app_id,
            identifier_uri,
            service_principal,
            consent,
        })
    }
}

/// What [`Applications::register_extension_api`] set up.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionApiRegistration {
    pub object_id: String,
    pub app_id: String,
    /// `api://{host}/{appId}`: the `resourceId` for the extensions' `authenticationConfiguration`.
    pub identifier_uri: String,
    pub service_principal: ServicePrincipal,
    /// The `Receive.Payload` grant (created now, or already there).
    pub consent: AppRoleGrant,
}

/// Operations on `/servicePrincipals`.
#[derive(Debug, Clone)]
pub struct ServicePrincipals {
    client: GraphClient,
}

impl ServicePrincipals {
    pub(crate) fn new(client: GraphClient) -> Self {
        Self { client }
    }

    /// `POST /servicePrincipals` with `{"appId": …}` (→ 201).
    pub async fn create(&self, app_id: &str) -> Result<ServicePrincipal, GraphError> {
        self.client
            .post_json(
                self.client.url(&["servicePrincipals"]),
                &json!({ "appId": app_id }),
            )
            .await
    }

    /// `GET /servicePrincipals/{objectId}`.
    pub async fn get(&self, object_id: &str) -> Result<ServicePrincipal, GraphError> {
        self.client
            .get_json(self.client.url(&["servicePrincipals", object_id]))
            .await
    }

    /// `GET /servicePrincipals(appId='…')`, `None` when the application has no service principal here.
    pub async fn find_by_app_id(
        &self,
        app_id: &str,
    ) -> Result<Option<ServicePrincipal>, GraphError> {
        let url = self.client.url(&[&by_app_id("servicePrincipals", app_id)]);
        match self.client.get_json(url).await {
            Ok(found) => Ok(Some(found)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The service principal of `app_id`, created when missing.
    pub async fn ensure(&self, app_id: &str) -> Result<ServicePrincipal, GraphError> {
        match self.find_by_app_id(app_id).await? {
            Some(existing) => Ok(existing),
            None => self.create(app_id).await,
        }
    }

    /// Microsoft Graph's service principal in this tenant, with its `appRoles`.
    pub async fn microsoft_graph(&self) -> Result<ServicePrincipal, GraphError> {
        self.find_by_app_id(MICROSOFT_GRAPH_APP_ID)
            .await?
            .ok_or_else(|| {
                GraphError::InvalidResponse(
                    "the tenant has no service principal for Microsoft Graph".to_owned(),
                )
            })
    }

    /// `GET /servicePrincipals/{principalId}/appRoleAssignments`: the roles a principal holds.
    pub async fn app_role_assignments(
        &self,
        principal_id: &str,
    ) -> Result<Vec<AppRoleAssignment>, GraphError> {
        self.client
            .list(
                self.client
                    .url(&["servicePrincipals", principal_id, "appRoleAssignments"]),
                &ListQuery::new(),
            )
            .try_collect()
            .await
    }

    /// `GET /servicePrincipals/{resourceId}/appRoleAssignedTo`: who holds the resource's roles.
    pub async fn app_role_assigned_to(
        &self,
        resource_id: &str,
    ) -> Result<Vec<AppRoleAssignment>, GraphError> {
        self.client
            .list(
                self.client
                    .url(&["servicePrincipals", resource_id, "appRoleAssignedTo"]),
                &ListQuery::new(),
            )
            .try_collect()
            .await
    }

    /// Grants `principal_id` the app role `app_role_id` of the resource `resource_id`
    /// (`POST /servicePrincipals/{resourceId}/appRoleAssignedTo` → 201). Idempotent: an assignment
    /// the principal already holds is [`AppRoleGrant::AlreadyGranted`], whether seen in the
    /// principal's assignments first or reported by Graph's 400.
    pub async fn grant_app_role(
        &self,
        resource_id: &str,
        principal_id: &str,
        app_role_id: &str,
    ) -> Result<AppRoleGrant, GraphError> {
        let held = |assignment: &AppRoleAssignment| {
            assignment.resource_id.eq_ignore_ascii_case(resource_id)
                && assignment.app_role_id.eq_ignore_ascii_case(app_role_id)
        };
        if let Some(existing) = self
            .app_role_assignments(principal_id)
            .await?
            .into_iter()
            .find(held)
        {
            return Ok(AppRoleGrant::AlreadyGranted(Some(existing)));
        }
        let request = GraphRequest::new(
            Method::POST,
            self.client
                .url(&["servicePrincipals", resource_id, "appRoleAssignedTo"]),
        )
        .with_json(&json!({
            "principalId": principal_id,
            "resourceId": resource_id,
            "appRoleId": app_role_id,
        }))?;
        match self.client.send(request).await {
            Ok(response) => Ok(AppRoleGrant::Created(response.json()?)),
            Err(GraphError::Api(error))
                if error.status == StatusCode::BAD_REQUEST
                    && error.code == "Request_BadRequest"
                    && error.message.contains(ALREADY_ASSIGNED) =>
            {
                tracing::debug!(resource_id, principal_id, app_role_id, "already assigned");
                Ok(AppRoleGrant::AlreadyGranted(None))
            }
            Err(error) => Err(error),
        }
    }

    /// Grants `principal_id` Microsoft Graph application permissions by value (`User.ReadWrite.All`,
    /// ...), resolved against Graph's service principal `appRoles` as the bootstrap does. An unknown
    /// value fails before anything is granted.
    pub async fn grant_graph_permissions(
        &self,
        principal_id: &str,
        permissions: &[&str],
    ) -> Result<Vec<(String, AppRoleGrant)>, GraphError> {
        let graph = self.microsoft_graph().await?;
        let mut roles = Vec::with_capacity(permissions.len());
        for permission in permissions {
            let role = graph.app_role(permission).ok_or_else(|| {
                GraphError::InvalidRequest(format!(
                    "Microsoft Graph has no application permission '{permission}'"
                ))
            })?;
            roles.push(((*permission).to_owned(), role.id.clone()));
        }
        let mut grants = Vec::with_capacity(roles.len());
        for (permission, role_id) in roles {
            let grant = self
                .grant_app_role(&graph.id, principal_id, &role_id)
                .await?;
            grants.push((permission, grant));
        }
        Ok(grants)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_federated_credential_body() {
        // tenant-lifecycle.md §2.2 request body.
        let credential = FederatedIdentityCredential::github_actions(
            "github-main",
            github_branch_subject("octo-org/octo-repo", "main"),
        )
        .with_description("plan/apply from main");
        assert_eq!(
            serde_json::to_value(&credential).unwrap(),
            json!({ "name": "github-main", "issuer": "https://token.actions.githubusercontent.com",
              "subject": "repo:octo-org/octo-repo:ref:refs/heads/main", "description": "plan/apply from main",
              "audiences": ["api://AzureADTokenExchange"] })
        );
        assert!(credential.validate().is_ok());
        let mut bad = credential.clone();
        bad.name = "-x".into();
        assert!(bad.validate().is_err());
        let mut bad = credential.clone();
        bad.issuer = format!("{GITHUB_ACTIONS_ISSUER} ");
        assert!(bad.validate().is_err());
        let mut bad = credential;
        bad.audiences.push("api://other".into());
        assert!(bad.validate().is_err());
        assert_eq!(
            github_environment_subject("o/r", "prod"),
            "repo:o/r:environment:prod"
        );
        assert_eq!(github_pull_request_subject("o/r"), "repo:o/r:pull_request");
    }

    #[test]
    fn password_credentials_never_keep_secret_text() {
        let listed: PasswordCredential = serde_json::from_value(
            json!({"keyId": "k", "hint": "abc", "secretText": "should-not-be-here", "future": 1}),
        )
        .unwrap();
        assert!(!listed.extra.contains_key("secretText"));
        assert_eq!(listed.extra["future"], 1);
    }

    #[test]
    fn extension_api_patch_matches_the_documented_shape() {
        // extension-callbacks spec d.2 step 1 (PATCH of the API's registration).
        let patch = Application {
            identifier_uris: Some(vec![extension_api_identifier_uri(
                "authenticationeventsAPI.contoso.com",
                "a13d0fc1-04ab-4ede-b215-63de0174cbb4",
            )]),
            api: Some(ApiApplication {
                requested_access_token_version: Some(2),
                extra: Map::new(),
            }),
            required_resource_access: Some(vec![RequiredResourceAccess::roles(
                MICROSOFT_GRAPH_APP_ID,
                [RECEIVE_PAYLOAD_ROLE_ID],
            )]),
            ..Application::default()
        };
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!({
                "identifierUris": ["api://authenticationeventsAPI.contoso.com/a13d0fc1-04ab-4ede-b215-63de0174cbb4"],
                "api": {"requestedAccessTokenVersion": 2},
                "requiredResourceAccess": [{
                    "resourceAppId": "00000003-0000-0000-c000-000000000000",
                    "resourceAccess": [{"id": "214e810f-fda8-4fd7-a475-29461495eb00", "type": "Role"}]
                }]
            })
        );
        assert_eq!(
            by_app_id("servicePrincipals", MICROSOFT_GRAPH_APP_ID),
            "servicePrincipals(appId='00000003-0000-0000-c000-000000000000')"
        );
    }
}
