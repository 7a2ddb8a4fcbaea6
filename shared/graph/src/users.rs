//! Customer accounts: `/users` (docs/protocols/graph-api.md A.8).
//!
//! Models are lenient readers: every property Graph may omit is an `Option`, and anything not modelled
//! (custom `extension_{appIdNoDashes}_{name}` attributes, `@odata.*` annotations, new properties) lands
//! in `extra` instead of failing. Graph returns only a default property set for users; ask for
//! `identities` and extension attributes with `$select`.

use futures::Stream;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::{GraphClient, GraphRequest};
use crate::credential::SecretString;
use crate::error::GraphError;
use crate::odata;
use crate::paging::{ListQuery, Pager};

/// The name of a custom user attribute as Graph exposes it: `extension_{appIdNoDashes}_{name}`, where
/// the app is the one that owns the attribute (in External ID, the `b2c-extensions-app`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtensionAttribute(String);

impl ExtensionAttribute {
    /// The attribute `name` owned by the application `app_id` (with or without dashes).
    pub fn new(app_id: &str, name: &str) -> Self {
        Self(Self::name(app_id, name))
    }

    /// `extension_{appIdNoDashes}_{name}` as a plain string.
    pub fn name(app_id: &str, name: &str) -> String {
        format!("extension_{}_{}", app_id.replace('-', ""), name)
    }

    /// The property name on the user object.
    pub fn property(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ExtensionAttribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sign-in identity of a user (`objectIdentity`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectIdentity {
    /// `emailAddress`, `userName`, `federated`, `userPrincipalName`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_type: Option<String>,
    /// For local accounts the tenant's default domain (`contoso.onmicrosoft.com`); for social ones the
    /// provider (`google.com`, `facebook.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_assigned_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ObjectIdentity {
    fn new(sign_in_type: &str, issuer: &str, issuer_assigned_id: &str) -> Self {
        Self {
            sign_in_type: Some(sign_in_type.to_owned()),
            issuer: Some(issuer.to_owned()),
            issuer_assigned_id: Some(issuer_assigned_id.to_owned()),
            extra: Map::new(),
        }
    }

    /// A local account signing in with an email address; `issuer` is the tenant's default domain.
    pub fn email_address(issuer: &str, email: &str) -> Self {
        Self::new("emailAddress", issuer, email)
    }

    /// A local account signing in with a user name.
    pub fn user_name(issuer: &str, user_name: &str) -> Self {
        Self::new("userName", issuer, user_name)
    }

    /// A social or federated account (`issuer` = `google.com`, `facebook.com`, ...).
    pub fn federated(issuer: &str, subject: &str) -> Self {
        Self::new("federated", issuer, subject)
    }
}

/// A user as Graph returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Object id; always present (Graph adds it to every `$select`).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    /// Only returned when selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identities: Option<Vec<ObjectIdentity>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_mails: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_policies: Option<String>,
    /// Everything else: extension attributes, annotations, properties not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl User {
    /// The value of a custom attribute, if the user has one (and it was selected).
    pub fn extension(&self, attribute: &ExtensionAttribute) -> Option<&Value> {
        self.extra
            .get(attribute.property())
            .filter(|value| !value.is_null())
    }

    /// A string-valued custom attribute.
    pub fn extension_str(&self, attribute: &ExtensionAttribute) -> Option<&str> {
        self.extension(attribute).and_then(Value::as_str)
    }

    /// A boolean custom attribute.
    pub fn extension_bool(&self, attribute: &ExtensionAttribute) -> Option<bool> {
        self.extension(attribute).and_then(Value::as_bool)
    }

    /// Sets a custom attribute on this copy (send it with [`UserPatch::extension`]).
    pub fn set_extension(&mut self, attribute: &ExtensionAttribute, value: impl Into<Value>) {
        self.extra
            .insert(attribute.property().to_owned(), value.into());
    }

    /// The identity issued by `issuer` (case-insensitive), if selected and present.
    pub fn identity(&self, issuer: &str) -> Option<&ObjectIdentity> {
        self.identities.as_ref()?.iter().find(|identity| {
            identity
                .issuer
                .as_deref()
                .is_some_and(|i| i.eq_ignore_ascii_case(issuer))
        })
    }
}

/// Password of a new local account. `Debug` never shows the password.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordProfile {
    pub password: SecretString,
    /// For accounts imported into External ID keep this `false` (graph-api.md A.8).
    pub force_change_password_next_sign_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_change_password_next_sign_in_with_mfa: Option<bool>,
}

impl PasswordProfile {
    /// A password the user keeps (no forced change at next sign-in).
    pub fn new(password: impl Into<String>) -> Self {
        Self {
            password: SecretString::new(password),
            force_change_password_next_sign_in: false,
            force_change_password_next_sign_in_with_mfa: None,
        }
    }
}

/// The body of `POST /users` for a customer account.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// Leave `None` in External ID: Graph generates `{objectId}@{tenant}.onmicrosoft.com`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<ObjectIdentity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_profile: Option<PasswordProfile>,
    /// `DisablePasswordExpiration`, `DisableStrongPassword`, or both comma-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_policies: Option<String>,
    /// Extension attributes and any other property to set.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl NewUser {
    /// A new user with only the required display name set.
    pub fn new(display_name: impl Into<String>) -> Self {
        Self {
            display_name: display_name.into(),
            account_enabled: None,
            given_name: None,
            surname: None,
            mail: None,
            user_principal_name: None,
            identities: Vec::new(),
            password_profile: None,
            password_policies: None,
            extra: Map::new(),
        }
    }

    /// Adds a sign-in identity (local email/user name, or federated).
    pub fn with_identity(mut self, identity: ObjectIdentity) -> Self {
        self.identities.push(identity);
        self
    }

    /// Sets the contact email (`mail`), distinct from the sign-in identity.
    pub fn with_mail(mut self, mail: impl Into<String>) -> Self {
        self.mail = Some(mail.into());
        self
    }

    /// Sets given name and surname.
    pub fn with_names(mut self, given_name: impl Into<String>, surname: impl Into<String>) -> Self {
        self.given_name = Some(given_name.into());
        self.surname = Some(surname.into());
        self
    }

    /// A password that never expires, as local customer accounts use.
    pub fn with_password(mut self, password: PasswordProfile) -> Self {
        self.password_profile = Some(password);
        self.password_policies = Some("DisablePasswordExpiration".to_owned());
        self
    }

    /// Sets a custom attribute at creation.
    pub fn with_extension(
        mut self,
        attribute: &ExtensionAttribute,
        value: impl Into<Value>,
    ) -> Self {
        self.extra
            .insert(attribute.property().to_owned(), value.into());
        self
    }
}

/// The body of `PATCH /users/{id}`: only what is set is sent.
///
/// Sending `identities` replaces the whole collection (include the ones to keep). A `null` value
/// clears a property ([`UserPatch::clear`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identities: Option<Vec<ObjectIdentity>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_profile: Option<PasswordProfile>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl UserPatch {
    /// An empty patch; add what should change.
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes the display name.
    pub fn display_name(mut self, display_name: impl Into<String>) -> Self {
        self.display_name = Some(display_name.into());
        self
    }

    /// Enables or blocks sign-in.
    pub fn account_enabled(mut self, enabled: bool) -> Self {
        self.account_enabled = Some(enabled);
        self
    }

    /// Replaces the user's identities with exactly these.
    pub fn identities(mut self, identities: Vec<ObjectIdentity>) -> Self {
        self.identities = Some(identities);
        self
    }

    /// Sets a custom attribute.
    pub fn extension(mut self, attribute: &ExtensionAttribute, value: impl Into<Value>) -> Self {
        self.extra
            .insert(attribute.property().to_owned(), value.into());
        self
    }

    /// Sets any property by its Graph name.
    pub fn set(mut self, property: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(property.into(), value.into());
        self
    }

    /// Clears a property (sends `null`), e.g. a custom attribute.
    pub fn clear(mut self, property: impl Into<String>) -> Self {
        self.extra.insert(property.into(), Value::Null);
        self
    }

    /// Whether nothing would be sent.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Operations on `/users`.
#[derive(Debug, Clone)]
pub struct Users {
    client: GraphClient,
}

impl Users {
    pub(crate) fn new(client: GraphClient) -> Self {
        Self { client }
    }

    /// `GET /users/{id|userPrincipalName}`, with `$select` when `select` is not empty.
    pub async fn get(&self, id_or_upn: &str, select: &[&str]) -> Result<User, GraphError> {
        let mut url = self.client.url(&["users", id_or_upn]);
        if !select.is_empty() {
            url.query_pairs_mut()
                .append_pair("$select", &select.join(","));
        }
        self.client.get_json(url).await
    }

    /// Like [`Users::get`], but a missing user is `Ok(None)`.
    pub async fn find(&self, id_or_upn: &str, select: &[&str]) -> Result<Option<User>, GraphError> {
        match self.get(id_or_upn, select).await {
            Ok(user) => Ok(Some(user)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The user holding a sign-in identity (issuer + issuerAssignedId), if any.
    pub async fn find_by_identity(
        &self,
        issuer: &str,
        issuer_assigned_id: &str,
        select: &[&str],
    ) -> Result<Option<User>, GraphError> {
        let query = ListQuery::new()
            .filter(odata::identity_filter(issuer, issuer_assigned_id))
            .select(select.iter().copied())
            .top(1);
        let mut pager = self.pages(&query);
        match pager.next_page().await {
            Some(page) => Ok(page?.items.into_iter().next()),
            None => Ok(None),
        }
    }

    /// `GET /users` with `query`, every page.
    pub fn list(
        &self,
        query: &ListQuery,
    ) -> impl Stream<Item = Result<User, GraphError>> + Send + 'static {
        self.client.list(self.client.url(&["users"]), query)
    }

    /// `GET /users` with `query`, page by page (read `@odata.count` from the first page).
    pub fn pages(&self, query: &ListQuery) -> Pager<User> {
        self.client.pages(self.client.url(&["users"]), query)
    }

    /// How many users match `filter` (`$count=true`, first page of one item).
    pub async fn count(&self, filter: Option<&str>) -> Result<u64, GraphError> {
        let mut query = ListQuery::new().count(true).top(1).select(["id"]);
        if let Some(filter) = filter {
            query = query.filter(filter);
        }
        match self.pages(&query).next_page().await {
            Some(page) => page?.count.ok_or_else(|| {
                GraphError::InvalidResponse("the first page carried no @odata.count".to_owned())
            }),
            None => Ok(0),
        }
    }

    /// `POST /users`; returns the created user (trust it rather than reading back: replication lag).
    pub async fn create(&self, user: &NewUser) -> Result<User, GraphError> {
        let request =
            GraphRequest::new(Method::POST, self.client.url(&["users"])).with_json(user)?;
        self.client.send(request).await?.json()
    }

    /// `PATCH /users/{id}`.
    pub async fn update(&self, id_or_upn: &str, patch: &UserPatch) -> Result<(), GraphError> {
        let request = GraphRequest::new(Method::PATCH, self.client.url(&["users", id_or_upn]))
            .with_json(patch)?;
        self.client.send(request).await.map(drop)
    }

    /// `DELETE /users/{id}` (soft delete: restorable for 30 days).
    pub async fn delete(&self, id_or_upn: &str) -> Result<(), GraphError> {
        let request = GraphRequest::new(Method::DELETE, self.client.url(&["users", id_or_upn]));
        self.client.send(request).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn extension_attribute_names() {
        let attribute =
            ExtensionAttribute::new("7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13", "loyaltyTier");
        assert_eq!(
            attribute.property(),
            "extension_7f3b8d2a5c4e4a1b9e6f0d2c8b4a6e13_loyaltyTier"
        );
        assert_eq!(ExtensionAttribute::name("abc", "x"), "extension_abc_x");
    }

    #[test]
    fn users_keep_unknown_properties_and_tolerate_missing_ones() {
        let user: User = serde_json::from_value(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            "id": "1",
            "displayName": null,
            "businessPhones": [],
            "extension_abc_tier": "Gold",
            "identities": [{"signInType": "federated", "issuer": "google.com", "issuerAssignedId": "9", "future": 1}]
        }))
        .unwrap();
        assert_eq!(user.display_name, None);
        let tier = ExtensionAttribute::new("abc", "tier");
        assert_eq!(user.extension_str(&tier), Some("Gold"));
        assert_eq!(user.identity("GOOGLE.com").unwrap().extra["future"], 1);
        assert!(user.extra.contains_key("@odata.context"));
    }

    #[test]
    fn new_user_and_patch_bodies() {
        let tier = ExtensionAttribute::new("abc", "tier");
        let body = serde_json::to_value(
            NewUser::new("Ada")
                .with_identity(ObjectIdentity::email_address(
                    "t.onmicrosoft.com",
                    "ada@example.com",
                ))
                .with_password(PasswordProfile::new("Secret-1"))
                .with_extension(&tier, "Gold"),
        )
        .unwrap();
        assert_eq!(
            body,
            json!({
                "displayName": "Ada",
                "identities": [{"signInType": "emailAddress", "issuer": "t.onmicrosoft.com", "issuerAssignedId": "ada@example.com"}],
                "passwordProfile": {"password": "Secret-1", "forceChangePasswordNextSignIn": false},
                "passwordPolicies": "DisablePasswordExpiration",
                "extension_abc_tier": "Gold"
            })
        );
        assert!(!format!("{:?}", PasswordProfile::new("Secret-1")).contains("Secret-1"));
        let patch = UserPatch::new().display_name("B").clear(tier.property());
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!({"displayName": "B", "extension_abc_tier": null})
        );
        assert!(UserPatch::new().is_empty());
    }
}
