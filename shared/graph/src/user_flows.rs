//! Sign-up and sign-in user flows of an External ID tenant and what they use: the flows themselves
//! (`/identity/authenticationEventsFlows`, subtype `externalUsersSelfServiceSignUpEventsFlow`), the
//! applications linked to them, their identity providers and attributes, the attribute collection
//! page; custom user-flow attributes (`/identity/userFlowAttributes`); tenant identity providers
//! (`/identity/identityProviders`). Contracts: docs/protocols/graph-api.md a.1-a.2 rows 1-22 and
//! A.1-A.5.
//!
//! Quirks handled here, each because Graph does it:
//! - every write body and every handler object carries its `@odata.type` (Graph answers 400 without);
//! - the create answer omits the navigation collections (identity providers, attributes, linked
//!   apps), so [`UserFlows::get_fresh`] re-reads, and a flow that is not readable yet right after
//!   its create (eventual consistency: 404 for a moment) is read again with a short back-off;
//! - the page layout (`views[].inputs[]`) is replaced as a whole by a `PATCH`, so
//!   [`UserFlows::set_page_layout`] always sends every input;
//! - `inputType` is read whatever its case (`"Text"` in Microsoft's own example) and written in the
//!   enum's spelling;
//! - identity providers and attributes are linked with `$ref` bodies naming the object by URL;
//! - social providers' `clientSecret` (and Apple's `certificateData`) comes back masked
//!   (`"******"`): never shown, and never written back (a provider read and re-sent leaves the
//!   secret out instead of overwriting it with the mask);
//! - annotations Graph puts in answers (`@odata.context`, `includeApplications@odata.context`) are
//!   kept on read for the round trip but stripped, at any depth, from write bodies; `@odata.type`
//!   stays;
//! - a call about an object just created may meet a 404 for a moment: [`crate::after_create`] and the
//!   `get_fresh` methods repeat it briefly (graph-api.md (c) rows 20-21).

use std::fmt;

use futures::TryStreamExt;
use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::auth_extensions::ListenerConditions;
use crate::client::{GraphClient, GraphRequest};
use crate::consistency::AfterCreate;
use crate::error::GraphError;
use crate::paging::ListQuery;

/// `@odata.type` of the one user-flow type External ID has.
pub const SELF_SERVICE_SIGN_UP_FLOW: &str =
    "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow";
const ON_METHOD_LOAD_START: &str =
    "#microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp";
const ON_INTERACTIVE_START: &str =
    "#microsoft.graph.onInteractiveAuthFlowStartExternalUsersSelfServiceSignUp";
const ON_ATTRIBUTE_COLLECTION: &str =
    "#microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp";
const ON_USER_CREATE_START: &str =
    "#microsoft.graph.onUserCreateStartExternalUsersSelfServiceSignUp";
const CONDITION_APPLICATION: &str = "#microsoft.graph.authenticationConditionApplication";
/// `@odata.type` of social identity providers (Google, Facebook).
pub const SOCIAL_IDENTITY_PROVIDER: &str = "#microsoft.graph.socialIdentityProvider";
/// `@odata.type` of the built-in providers (`EmailPassword-OAUTH`, `EmailOtpSignup-OAUTH`).
pub const BUILT_IN_IDENTITY_PROVIDER: &str = "#microsoft.graph.builtInIdentityProvider";
/// `@odata.type` of Sign in with Apple in an external tenant (documented on the beta create page as
/// "appleManagedIdentityProvider (external tenant only)").
pub const APPLE_MANAGED_IDENTITY_PROVIDER: &str = "#microsoft.graph.appleManagedIdentityProvider";
/// What Graph answers in place of a write-only secret.
pub const MASKED_SECRET: &str = "******";

const FLOWS: [&str; 2] = ["identity", "authenticationEventsFlows"];
const FLOW_CAST: &str = "microsoft.graph.externalUsersSelfServiceSignUpEventsFlow";

/// A value Graph returns masked and must never be printed: `Debug` shows `<redacted>`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct MaskedSecret(String);

impl MaskedSecret {
    /// Wraps a secret to send.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The text, for the one place that sends it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether this is Graph's mask (`"******"`) rather than a secret: what every read returns.
    pub fn is_masked(&self) -> bool {
        self.0 == MASKED_SECRET
    }
}

/// A secret worth writing: present and not Graph's mask (so a read object re-sent never
/// overwrites the real secret with `"******"`).
fn unwritable_secret(secret: &Option<MaskedSecret>) -> bool {
    secret.as_ref().is_none_or(MaskedSecret::is_masked)
}

impl fmt::Debug for MaskedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for MaskedSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MaskedSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(String::deserialize(deserializer)?))
    }
}

/// A custom or built-in user-flow attribute (`identityUserFlowAttribute`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserFlowAttribute {
    /// `email`, `city`, or `extension_{appId}_{Name}` for custom ones (server-assigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `builtIn`, `custom` or `required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_flow_attribute_type: Option<String>,
    /// `string`, `boolean`, `int64` (creatable), `stringCollection`, `dateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl UserFlowAttribute {
    /// Whether Graph ships it (built-in attributes are never created or deleted).
    pub fn is_built_in(&self) -> bool {
        self.user_flow_attribute_type.as_deref() != Some("custom")
    }
}

/// A tenant identity provider: built-in (email with password, email one-time passcode), social
/// (Google, Facebook) or Apple. One struct for all kinds, told apart by `@odata.type`, because a
/// flow lists them mixed (`identityProviderBase`) and a plan compares them by id.
///
/// Secrets (`clientSecret`, `certificateData`) read back as `"******"`
/// ([`MaskedSecret::is_masked`]) and are never serialised in that state; compare providers on
/// their other fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityProvider {
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_type: Option<String>,
    /// `EmailPassword-OAUTH`, `Google-OAUTH`, ... (server-assigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `EmailPassword`, `EmailOTP`, `Google`, `Facebook`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Sent on create and update; Graph answers `"******"`, which is never sent back.
    #[serde(default, skip_serializing_if = "unwritable_secret")]
    pub client_secret: Option<MaskedSecret>,
    /// Apple: the developer (team) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developer_id: Option<String>,
    /// Apple: the service id (the client id Apple knows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// Apple: the id of the signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Apple: the private key (PEM text) Graph derives the client secret from; write-only like a
    /// client secret.
    #[serde(default, skip_serializing_if = "unwritable_secret")]
    pub certificate_data: Option<MaskedSecret>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl IdentityProvider {
    /// A social provider (`Google`, `Facebook`) to create.
    pub fn social(
        identity_provider_type: impl Into<String>,
        display_name: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            odata_type: Some(SOCIAL_IDENTITY_PROVIDER.to_owned()),
            display_name: Some(display_name.into()),
            identity_provider_type: Some(identity_provider_type.into()),
            client_id: Some(client_id.into()),
            client_secret: Some(MaskedSecret::new(client_secret)),
            ..Self::default()
        }
    }

    /// Sign in with Apple to create: the values come from Apple's developer portal.
    pub fn apple(
        display_name: impl Into<String>,
        developer_id: impl Into<String>,
        service_id: impl Into<String>,
        key_id: impl Into<String>,
        certificate_data: impl Into<String>,
    ) -> Self {
        Self {
            odata_type: Some(APPLE_MANAGED_IDENTITY_PROVIDER.to_owned()),
            display_name: Some(display_name.into()),
            developer_id: Some(developer_id.into()),
            service_id: Some(service_id.into()),
            key_id: Some(key_id.into()),
            certificate_data: Some(MaskedSecret::new(certificate_data)),
            ..Self::default()
        }
    }

    /// An empty update of a provider of type `odata_type` (Graph's documented update body names
    /// the type); set the fields that change.
    pub fn patch(odata_type: impl Into<String>) -> Self {
        Self {
            odata_type: Some(odata_type.into()),
            ..Self::default()
        }
    }

    /// Whether Graph ships it.
    pub fn is_built_in(&self) -> bool {
        self.odata_type.as_deref() == Some(BUILT_IN_IDENTITY_PROVIDER)
    }
}

/// The kind of an input on the attribute collection page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputType {
    Text,
    RadioSingleSelect,
    CheckboxMultiSelect,
    Boolean,
    /// A value this client does not know, kept as sent.
    Unknown(String),
}

impl InputType {
    /// The enum's spelling, as written.
    pub fn as_str(&self) -> &str {
        match self {
            InputType::Text => "text",
            InputType::RadioSingleSelect => "radioSingleSelect",
            InputType::CheckboxMultiSelect => "checkboxMultiSelect",
            InputType::Boolean => "boolean",
            InputType::Unknown(other) => other,
        }
    }

    /// Reads any case (`"Text"` is in Microsoft's own example).
    pub fn parse(value: &str) -> Self {
        [
            InputType::Text,
            InputType::RadioSingleSelect,
            InputType::CheckboxMultiSelect,
            InputType::Boolean,
        ]
        .into_iter()
        .find(|known| known.as_str().eq_ignore_ascii_case(value))
        .unwrap_or_else(|| InputType::Unknown(value.to_owned()))
    }
}

impl Serialize for InputType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for InputType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(deserializer)?))
    }
}

/// One choice of a radio or checkbox input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputOption {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub value: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One input of the attribute collection page (`authenticationAttributeCollectionInputConfiguration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeInput {
    /// The attribute's id (`email`, `extension_…_Loyalty`).
    pub attribute: String,
    pub label: String,
    pub input_type: InputType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub editable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_to_directory: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_reg_ex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<InputOption>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AttributeInput {
    /// A text input for `attribute` labelled `label`, written to the directory.
    pub fn text(attribute: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            attribute: attribute.into(),
            label: label.into(),
            input_type: InputType::Text,
            default_value: None,
            editable: Some(true),
            hidden: Some(false),
            required: Some(false),
            write_to_directory: Some(true),
            validation_reg_ex: None,
            options: None,
            extra: Map::new(),
        }
    }
}

/// One view (page) of the attribute collection step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeCollectionView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub inputs: Vec<AttributeInput>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `attributeCollectionPage`: the views in order, each with its inputs in on-page order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeCollectionPage {
    #[serde(default)]
    pub views: Vec<AttributeCollectionView>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `onAuthenticationMethodLoadStart`: the identity providers offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodLoadStart {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_providers: Option<Vec<IdentityProvider>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `onInteractiveAuthFlowStart`: whether the flow offers sign-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InteractiveAuthFlowStart {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_sign_up_allowed: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `onAttributeCollection`: the attributes collected and the page that collects them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeCollection {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<UserFlowAttribute>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_collection_page: Option<AttributeCollectionPage>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `onUserCreateStart`: the type of user a sign-up creates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserCreateStart {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type_to_create: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A user flow (`externalUsersSelfServiceSignUpEventsFlow`), as read and as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserFlow {
    #[serde(rename = "@odata.type", default = "flow_type")]
    pub odata_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An open property (not in the v1.0 CSDL); Graph's default is 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<ListenerConditions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_authentication_method_load_start: Option<MethodLoadStart>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_interactive_auth_flow_start: Option<InteractiveAuthFlowStart>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_attribute_collection: Option<AttributeCollection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_user_create_start: Option<UserCreateStart>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn flow_type() -> String {
    SELF_SERVICE_SIGN_UP_FLOW.to_owned()
}

impl UserFlow {
    /// An empty patch (only the type is sent).
    pub fn patch() -> Self {
        Self {
            odata_type: flow_type(),
            id: None,
            display_name: None,
            description: None,
            priority: None,
            conditions: None,
            on_authentication_method_load_start: None,
            on_interactive_auth_flow_start: None,
            on_attribute_collection: None,
            on_user_create_start: None,
            extra: Map::new(),
        }
    }

    /// A new sign-up/sign-in flow named `display_name` offering the identity providers
    /// `identity_providers` (ids such as `EmailPassword-OAUTH`), with sign-up allowed or not.
    pub fn new<I, S>(display_name: impl Into<String>, identity_providers: I, sign_up: bool) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut flow = Self::patch();
        flow.display_name = Some(display_name.into());
        flow.on_authentication_method_load_start = Some(method_load_start(identity_providers));
        flow.on_interactive_auth_flow_start = Some(interactive_start(sign_up));
        flow
    }

    /// Collects `attributes` (ids) on a page with `inputs` in this order.
    pub fn with_attribute_collection<I, S>(
        mut self,
        attributes: I,
        inputs: Vec<AttributeInput>,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.on_attribute_collection = Some(AttributeCollection {
            odata_type: ON_ATTRIBUTE_COLLECTION.to_owned(),
            attributes: Some(
                attributes
                    .into_iter()
                    .map(|id| UserFlowAttribute {
                        id: Some(id.into()),
                        ..UserFlowAttribute::default()
                    })
                    .collect(),
            ),
            attribute_collection_page: Some(page(inputs)),
            extra: Map::new(),
        });
        self
    }

    /// Sets whether sign-up is offered (a patch).
    pub fn with_sign_up_allowed(mut self, allowed: bool) -> Self {
        self.on_interactive_auth_flow_start = Some(interactive_start(allowed));
        self
    }

    /// Whether sign-up is offered, when Graph said.
    pub fn sign_up_allowed(&self) -> Option<bool> {
        self.on_interactive_auth_flow_start
            .as_ref()
            .and_then(|start| start.is_sign_up_allowed)
    }

    /// The identity provider ids, as read (a fresh read carries them; a create answer does not).
    pub fn identity_provider_ids(&self) -> Vec<String> {
        self.on_authentication_method_load_start
            .as_ref()
            .and_then(|start| start.identity_providers.as_ref())
            .map(|providers| providers.iter().filter_map(|p| p.id.clone()).collect())
            .unwrap_or_default()
    }

    /// The attribute ids collected, as read.
    pub fn attribute_ids(&self) -> Vec<String> {
        self.on_attribute_collection
            .as_ref()
            .and_then(|collection| collection.attributes.as_ref())
            .map(|attributes| attributes.iter().filter_map(|a| a.id.clone()).collect())
            .unwrap_or_default()
    }

    /// The page's inputs, every view in order.
    pub fn inputs(&self) -> Vec<AttributeInput> {
        self.on_attribute_collection
            .as_ref()
            .and_then(|collection| collection.attribute_collection_page.as_ref())
            .map(|page| {
                page.views
                    .iter()
                    .flat_map(|view| view.inputs.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The linked applications' client ids, as read.
    pub fn application_ids(&self) -> Vec<String> {
        self.conditions
            .as_ref()
            .and_then(|conditions| conditions.applications.as_ref())
            .and_then(|applications| applications.include_applications.as_ref())
            .map(|apps| apps.iter().map(|app| app.app_id.clone()).collect())
            .unwrap_or_default()
    }
}

fn method_load_start<I, S>(identity_providers: I) -> MethodLoadStart
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    MethodLoadStart {
        odata_type: ON_METHOD_LOAD_START.to_owned(),
        identity_providers: Some(
            identity_providers
                .into_iter()
                .map(|id| IdentityProvider {
                    id: Some(id.into()),
                    ..IdentityProvider::default()
                })
                .collect(),
        ),
        extra: Map::new(),
    }
}

fn interactive_start(sign_up: bool) -> InteractiveAuthFlowStart {
    InteractiveAuthFlowStart {
        odata_type: ON_INTERACTIVE_START.to_owned(),
        is_sign_up_allowed: Some(sign_up),
        extra: Map::new(),
    }
}

fn page(inputs: Vec<AttributeInput>) -> AttributeCollectionPage {
    AttributeCollectionPage {
        views: vec![AttributeCollectionView {
            inputs,
            ..AttributeCollectionView::default()
        }],
        extra: Map::new(),
    }
}

/// The user-create handler Graph materialises on every flow (`userTypeToCreate: member`).
pub fn member_user_create_start() -> UserCreateStart {
    UserCreateStart {
        odata_type: ON_USER_CREATE_START.to_owned(),
        user_type_to_create: Some("member".to_owned()),
        extra: Map::new(),
    }
}

/// Operations on `/identity/authenticationEventsFlows`.
#[derive(Debug, Clone)]
pub struct UserFlows {
    client: GraphClient,
}

impl UserFlows {
    pub(crate) fn new(client: GraphClient) -> Self {
        Self { client }
    }

    fn url(&self, rest: &[&str]) -> url::Url {
        let mut segments = FLOWS.to_vec();
        segments.extend_from_slice(rest);
        self.client.url(&segments)
    }

    /// `…/{id}/microsoft.graph.externalUsersSelfServiceSignUpEventsFlow/{handler}/{cast}/{collection}`.
    fn cast_url(&self, id: &str, handler: &str, cast: &str, rest: &[&str]) -> url::Url {
        let mut segments = vec![id, FLOW_CAST, handler, cast];
        segments.extend_from_slice(rest);
        self.url(&segments)
    }

    fn idps_url(&self, id: &str, rest: &[&str]) -> url::Url {
        let mut segments = vec!["identityProviders"];
        segments.extend_from_slice(rest);
        self.cast_url(
            id,
            "onAuthenticationMethodLoadStart",
            &ON_METHOD_LOAD_START[1..],
            &segments,
        )
    }

    fn attributes_url(&self, id: &str, rest: &[&str]) -> url::Url {
        let mut segments = vec!["attributes"];
        segments.extend_from_slice(rest);
        self.cast_url(
            id,
            "onAttributeCollection",
            &ON_ATTRIBUTE_COLLECTION[1..],
            &segments,
        )
    }

    /// `GET` (row 1): every flow with its nested collections.
    pub async fn list(&self) -> Result<Vec<UserFlow>, GraphError> {
        self.client.list_all(self.url(&[])).await
    }

    /// `GET {flow}` (row 3).
    pub async fn get(&self, id: &str) -> Result<UserFlow, GraphError> {
        self.client.get_json(self.url(&[id])).await
    }

    /// [`Self::get`] that waits out eventual consistency right after a create: a 404 is read again
    /// with [`AfterCreate`]'s default patience (6 reads, 100 ms apart at first and doubling). Only
    /// for a flow this process just created; otherwise a 404 is the answer.
    pub async fn get_fresh(&self, id: &str) -> Result<UserFlow, GraphError> {
        AfterCreate::default().run(|| self.get(id)).await
    }

    /// The flow named `display_name` (the declarative key), if any.
    pub async fn find_by_display_name(
        &self,
        display_name: &str,
    ) -> Result<Option<UserFlow>, GraphError> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .find(|flow| flow.display_name.as_deref() == Some(display_name)))
    }

    /// `POST` (row 2 → 201): the create answer (without navigation collections; re-read with
    /// [`Self::get_fresh`]).
    pub async fn create(&self, flow: &UserFlow) -> Result<UserFlow, GraphError> {
        if flow.display_name.as_deref().is_none_or(str::is_empty) {
            return Err(GraphError::InvalidRequest(
                "a user flow needs a displayName".to_owned(),
            ));
        }
        self.client.post_json(self.url(&[]), &writable(flow)?).await
    }

    /// `PATCH {flow}` (row 4 → 204); `patch` carries only what changes, with every `@odata.type`.
    pub async fn update(&self, id: &str, patch: &UserFlow) -> Result<(), GraphError> {
        self.client
            .patch_json(self.url(&[id]), &writable(patch)?)
            .await
    }

    /// Replaces the attribute collection page (row 15) with one view holding `inputs`: Graph
    /// replaces the whole `inputs` array, so every input the page should keep is in `inputs`, in
    /// on-page order.
    pub async fn set_page_layout(
        &self,
        id: &str,
        inputs: Vec<AttributeInput>,
    ) -> Result<(), GraphError> {
        self.set_attribute_collection_page(id, page(inputs)).await
    }

    /// Replaces the attribute collection page (row 15) with `page` as a whole: its views in order,
    /// each with its title, description and inputs. Whatever `page` leaves out is removed.
    pub async fn set_attribute_collection_page(
        &self,
        id: &str,
        page: AttributeCollectionPage,
    ) -> Result<(), GraphError> {
        let mut patch = UserFlow::patch();
        patch.on_attribute_collection = Some(AttributeCollection {
            odata_type: ON_ATTRIBUTE_COLLECTION.to_owned(),
            attributes: None,
            attribute_collection_page: Some(page),
            extra: Map::new(),
        });
        self.update(id, &patch).await
    }

    /// `DELETE {flow}` (row 5 → 204).
    pub async fn delete(&self, id: &str) -> Result<(), GraphError> {
        self.client.delete(self.url(&[id])).await
    }

    /// `GET {flow}/conditions/applications/includeApplications` (row 6): client ids.
    pub async fn linked_applications(&self, id: &str) -> Result<Vec<String>, GraphError> {
        let apps: Vec<Value> = self
            .client
            .list(
                self.url(&[id, "conditions", "applications", "includeApplications"]),
                &ListQuery::new(),
            )
            .try_collect()
            .await?;
        Ok(apps
            .iter()
            .filter_map(|app| app.get("appId").and_then(Value::as_str))
            .map(str::to_owned)
            .collect())
    }

    /// Links the application `app_id` (client id) to the flow (row 7 → 201). An application links
    /// to one flow at most.
    pub async fn link_application(&self, id: &str, app_id: &str) -> Result<(), GraphError> {
        let body = json!({ "@odata.type": CONDITION_APPLICATION, "appId": app_id });
        let request = GraphRequest::new(
            Method::POST,
            self.url(&[id, "conditions", "applications", "includeApplications"]),
        )
        .with_json(&body)?;
        self.client.send(request).await.map(drop)
    }

    /// Unlinks the application `app_id` (client id) (row 8 → 204).
    pub async fn unlink_application(&self, id: &str, app_id: &str) -> Result<(), GraphError> {
        let request = GraphRequest::new(
            Method::DELETE,
            self.url(&[
                id,
                "conditions",
                "applications",
                "includeApplications",
                app_id,
            ]),
        );
        self.client.send(request).await.map(drop)
    }

    /// The identity providers offered (row 9).
    pub async fn identity_providers(&self, id: &str) -> Result<Vec<IdentityProvider>, GraphError> {
        self.client.list_all(self.idps_url(id, &[])).await
    }

    /// Offers the tenant identity provider `provider_id` (row 10 → 204), named by URL as the docs
    /// do (`…/beta/identityProviders/{id}` on the client's Graph host).
    pub async fn add_identity_provider(
        &self,
        id: &str,
        provider_id: &str,
    ) -> Result<(), GraphError> {
        let target = self.reference(&["beta", "identityProviders", provider_id]);
        let request = GraphRequest::new(Method::POST, self.idps_url(id, &["$ref"]))
            .with_json(&json!({ "@odata.id": target }))?;
        self.client.send(request).await.map(drop)
    }

    /// Stops offering `provider_id` (row 11 → 204); a flow keeps at least one.
    pub async fn remove_identity_provider(
        &self,
        id: &str,
        provider_id: &str,
    ) -> Result<(), GraphError> {
        self.client
            .delete(self.idps_url(id, &[provider_id, "$ref"]))
            .await
    }

    /// The attributes collected (row 12).
    pub async fn attributes(&self, id: &str) -> Result<Vec<UserFlowAttribute>, GraphError> {
        self.client.list_all(self.attributes_url(id, &[])).await
    }

    /// Collects `attribute_id` (row 13 → 204); Graph also adds it to the page with default
    /// settings, which [`Self::set_page_layout`] then adjusts.
    pub async fn add_attribute(&self, id: &str, attribute_id: &str) -> Result<(), GraphError> {
        let target = self.reference(&["v1.0", "identity", "userFlowAttributes", attribute_id]);
        let request = GraphRequest::new(Method::POST, self.attributes_url(id, &["$ref"]))
            .with_json(&json!({ "@odata.id": target }))?;
        self.client.send(request).await.map(drop)
    }

    /// Stops collecting `attribute_id` (row 14 → 204); the page keeps its input until the layout
    /// is set again.
    pub async fn remove_attribute(&self, id: &str, attribute_id: &str) -> Result<(), GraphError> {
        let request = GraphRequest::new(
            Method::DELETE,
            self.attributes_url(id, &[attribute_id, "$ref"]),
        );
        self.client.send(request).await.map(drop)
    }

    /// An `@odata.id` on the client's Graph host (`https://graph.microsoft.com` in global Azure).
    fn reference(&self, path: &[&str]) -> String {
        let mut url = self.client.url(&[]);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.clear();
            segments.extend(path);
        }
        url.to_string()
    }
}

/// The body of a write: no id, no annotations at any depth (`@odata.context`,
/// `includeApplications@odata.context`, `@microsoft.graph.tips`), every `@odata.type` kept.
fn writable(flow: &UserFlow) -> Result<Value, GraphError> {
    let mut body = serde_json::to_value(flow)
        .map_err(|error| GraphError::InvalidRequest(format!("user flow body: {error}")))?;
    if let Value::Object(object) = &mut body {
        object.remove("id");
    }
    strip_annotations(&mut body);
    Ok(body)
}

/// Removes annotation keys (any key with an `@` but `@odata.type`) from `value`, at any depth.
fn strip_annotations(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.retain(|key, _| key == "@odata.type" || !key.contains('@'));
            object.values_mut().for_each(strip_annotations);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_annotations),
        _ => {}
    }
}

/// Operations on `/identity/userFlowAttributes`.
#[derive(Debug, Clone)]
pub struct UserFlowAttributes {
    client: GraphClient,
}

impl UserFlowAttributes {
    pub(crate) fn new(client: GraphClient) -> Self {
        Self { client }
    }

    fn url(&self, rest: &[&str]) -> url::Url {
        let mut segments = vec!["identity", "userFlowAttributes"];
        segments.extend_from_slice(rest);
        self.client.url(&segments)
    }

    /// `GET` (row 16): built-in and custom attributes.
    pub async fn list(&self) -> Result<Vec<UserFlowAttribute>, GraphError> {
        self.client.list_all(self.url(&[])).await
    }

    /// `GET {id}` (row 18).
    pub async fn get(&self, id: &str) -> Result<UserFlowAttribute, GraphError> {
        self.client.get_json(self.url(&[id])).await
    }

    /// [`Self::get`] for an attribute this process just created: a 404 (replication lag) is read
    /// again with [`AfterCreate`]'s default patience.
    pub async fn get_fresh(&self, id: &str) -> Result<UserFlowAttribute, GraphError> {
        AfterCreate::default().run(|| self.get(id)).await
    }

    /// The attribute named `display_name` (the declarative key; built-in names compare
    /// case-insensitively, A.4), if any.
    pub async fn find_by_display_name(
        &self,
        display_name: &str,
    ) -> Result<Option<UserFlowAttribute>, GraphError> {
        Ok(self.list().await?.into_iter().find(|attribute| {
            attribute
                .display_name
                .as_deref()
                .is_some_and(|name| name.eq_ignore_ascii_case(display_name))
        }))
    }

    /// `POST` (row 17 → 201): a custom attribute; Graph assigns `extension_{appId}_{Name}`. Only
    /// `string`, `boolean` and `int64` can be created.
    pub async fn create(
        &self,
        display_name: &str,
        description: Option<&str>,
        data_type: &str,
    ) -> Result<UserFlowAttribute, GraphError> {
        if !["string", "boolean", "int64"].contains(&data_type) {
            return Err(GraphError::InvalidRequest(format!(
                "a custom attribute's dataType is string, boolean or int64, not {data_type:?}"
            )));
        }
        let mut body = json!({ "displayName": display_name, "dataType": data_type });
        if let Some(description) = description {
            body["description"] = json!(description);
        }
        self.client.post_json(self.url(&[]), &body).await
    }

    /// `PATCH {id}` (row 19 → 204): the description is the only mutable property.
    pub async fn update_description(&self, id: &str, description: &str) -> Result<(), GraphError> {
        self.client
            .patch_json(self.url(&[id]), &json!({ "description": description }))
            .await
    }

    /// `DELETE {id}` (row 20 → 204): custom attributes only.
    pub async fn delete(&self, id: &str) -> Result<(), GraphError> {
        self.client.delete(self.url(&[id])).await
    }
}

/// Operations on `/identity/identityProviders`.
#[derive(Debug, Clone)]
pub struct IdentityProviders {
    client: GraphClient,
}

impl IdentityProviders {
    pub(crate) fn new(client: GraphClient) -> Self {
        Self { client }
    }

    fn url(&self, rest: &[&str]) -> url::Url {
        let mut segments = vec!["identity", "identityProviders"];
        segments.extend_from_slice(rest);
        self.client.url(&segments)
    }

    /// `GET` (row 21).
    pub async fn list(&self) -> Result<Vec<IdentityProvider>, GraphError> {
        self.client.list_all(self.url(&[])).await
    }

    /// `GET {id}`.
    pub async fn get(&self, id: &str) -> Result<IdentityProvider, GraphError> {
        self.client.get_json(self.url(&[id])).await
    }

    /// [`Self::get`] for a provider this process just created: a 404 (replication lag) is read
    /// again with [`AfterCreate`]'s default patience.
    pub async fn get_fresh(&self, id: &str) -> Result<IdentityProvider, GraphError> {
        AfterCreate::default().run(|| self.get(id)).await
    }

    /// `POST` (row 22 → 201): a social provider ([`IdentityProvider::social`]) or Apple
    /// ([`IdentityProvider::apple`]).
    pub async fn create(
        &self,
        provider: &IdentityProvider,
    ) -> Result<IdentityProvider, GraphError> {
        if provider.odata_type.is_none() {
            return Err(GraphError::InvalidRequest(
                "an identity provider needs its @odata.type".to_owned(),
            ));
        }
        self.client.post_json(self.url(&[]), provider).await
    }

    /// `PATCH {id}` (→ 204): display name, client id, client secret (Apple: its ids and
    /// certificate). The body names the provider's type, as Microsoft's example does
    /// ([`IdentityProvider::patch`]); the id and the read-only type are not sent.
    pub async fn update(&self, id: &str, patch: &IdentityProvider) -> Result<(), GraphError> {
        if patch.odata_type.is_none() {
            return Err(GraphError::InvalidRequest(
                "an identity provider update needs its @odata.type".to_owned(),
            ));
        }
        let mut body = patch.clone();
        body.id = None;
        body.identity_provider_type = None;
        body.extra.retain(|key, _| !key.contains('@'));
        self.client.patch_json(self.url(&[id]), &body).await
    }

    /// `DELETE {id}` (→ 204).
    pub async fn delete(&self, id: &str) -> Result<(), GraphError> {
        self.client.delete(self.url(&[id])).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/protocols/graph-api.md A.1.2, example 1, as Microsoft documents it.
    const CREATE_EXAMPLE: &str = r##"{
      "@odata.type": "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow",
      "displayName": "Woodgrove Drive User Flow",
      "onAuthenticationMethodLoadStart": {
        "@odata.type": "#microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp",
        "identityProviders": [ { "id": "EmailPassword-OAUTH" } ]
      },
      "onInteractiveAuthFlowStart": {
        "@odata.type": "#microsoft.graph.onInteractiveAuthFlowStartExternalUsersSelfServiceSignUp",
        "isSignUpAllowed": true
      },
      "onAttributeCollection": {
        "@odata.type": "#microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp",
        "attributes": [
          { "id": "email", "displayName": "Email Address", "description": "Email address of the user",
            "userFlowAttributeType": "builtIn", "dataType": "string" },
          { "id": "displayName", "displayName": "Display Name", "description": "Display Name of the User.",
            "userFlowAttributeType": "builtIn", "dataType": "string" }
        ],
        "attributeCollectionPage": {
          "views": [ { "inputs": [
            { "attribute": "email", "label": "Email Address", "inputType": "Text", "hidden": true,
              "editable": false, "writeToDirectory": true, "required": true,
              "validationRegEx": "^[a-zA-Z0-9.!#$%&’'*+/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:.[a-zA-Z0-9-]+)*$" },
            { "attribute": "displayName", "label": "Display Name", "inputType": "text", "hidden": false,
              "editable": true, "writeToDirectory": true, "required": false,
              "validationRegEx": "^[a-zA-Z_][0-9a-zA-Z_ ]*[0-9a-zA-Z_]+$" }
          ] } ]
        }
      }
    }"##;

    #[test]
    fn the_documented_create_body_round_trips_with_input_types_normalised() {
        let flow: UserFlow = serde_json::from_str(CREATE_EXAMPLE).unwrap();
        assert_eq!(flow.identity_provider_ids(), ["EmailPassword-OAUTH"]);
        assert_eq!(flow.attribute_ids(), ["email", "displayName"]);
        assert_eq!(flow.sign_up_allowed(), Some(true));
        let inputs = flow.inputs();
        assert_eq!(inputs[0].input_type, InputType::Text);
        let written = serde_json::to_value(&flow).unwrap();
        let mut expected: Value = serde_json::from_str(CREATE_EXAMPLE).unwrap();
        // The one difference: "Text" is written in the enum's spelling.
        expected["onAttributeCollection"]["attributeCollectionPage"]["views"][0]["inputs"][0]["inputType"] =
            json!("text");
        assert_eq!(written, expected);
    }

    #[test]
    fn the_builder_writes_the_documented_shape() {
        let flow = UserFlow::new("Woodgrove Drive User Flow", ["EmailPassword-OAUTH"], true);
        let written = serde_json::to_value(&flow).unwrap();
        let documented: Value = serde_json::from_str(CREATE_EXAMPLE).unwrap();
        for key in [
            "@odata.type",
            "displayName",
            "onAuthenticationMethodLoadStart",
            "onInteractiveAuthFlowStart",
        ] {
            assert_eq!(written[key], documented[key], "{key}");
        }
    }

    #[test]
    fn unknown_input_types_and_properties_are_kept() {
        let input: AttributeInput = serde_json::from_value(json!({
            "attribute": "x", "label": "X", "inputType": "slider", "futureProperty": 1
        }))
        .unwrap();
        assert_eq!(input.input_type, InputType::Unknown("slider".into()));
        let back = serde_json::to_value(&input).unwrap();
        assert_eq!(back["inputType"], "slider");
        assert_eq!(back["futureProperty"], 1);
    }

    /// The create answer (docs example 2, abbreviated by Microsoft: graph-api.md A.1.2).
    const CREATE_ANSWER: &str = r##"{
      "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#identity/authenticationEventsFlows/$entity",
      "@odata.type": "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow",
      "id": "1d51b447-eb52-4ec8-ae4e-0a35ebc148ea",
      "displayName": "Woodgrove Drive User Flow",
      "description": null,
      "priority": 500,
      "onAttributeCollectionStart": null,
      "onAttributeCollectionSubmit": null,
      "onUserCreateStart": null,
      "conditions": { "applications": { "includeAllApplications": false } },
      "onInteractiveAuthFlowStart": {
        "@odata.type": "#microsoft.graph.onInteractiveAuthFlowStartExternalUsersSelfServiceSignUp",
        "isSignUpAllowed": true
      },
      "onAuthenticationMethodLoadStart": {
        "@odata.type": "#microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp"
      },
      "onAttributeCollection": {
        "@odata.type": "#microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp",
        "accessPackages": [],
        "attributeCollectionPage": {
          "customStringsFileId": null,
          "views": [ { "title": null, "description": null, "inputs": [
            { "attribute": "email", "label": "Email Address", "inputType": "text", "defaultValue": null,
              "hidden": true, "editable": false, "writeToDirectory": true, "required": true,
              "validationRegEx": "^[a-zA-Z0-9.!#$%&’'*+/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:.[a-zA-Z0-9-]+)*$",
              "options": [] }
          ] } ]
        }
      }
    }"##;

    /// A list item (graph-api.md A.1.4): nested annotations, mixed provider types, a masked secret.
    const LIST_ITEM: &str = r##"{
      "@odata.type": "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow",
      "id": "0313cc37-d421-421d-857b-87804d61e33e",
      "displayName": "Woodgrove Drive User Flow",
      "priority": 50,
      "conditions": { "applications": {
        "includeAllApplications": false,
        "includeApplications@odata.context": "https://graph.microsoft.com/v1.0/$metadata#identity/authenticationEventsFlows('0313cc37-d421-421d-857b-87804d61e33e')/microsoft.graph.externalUsersSelfServiceSignUpEventsFlow/conditions/applications/includeApplications",
        "includeApplications": [] } },
      "onAuthenticationMethodLoadStart": {
        "@odata.type": "#microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp",
        "identityProviders": [
          { "@odata.type": "#microsoft.graph.builtInIdentityProvider", "id": "EmailPassword-OAUTH",
            "displayName": "Email with password", "identityProviderType": "EmailPassword", "state": null },
          { "@odata.type": "#microsoft.graph.socialIdentityProvider", "id": "Google-OAUTH",
            "displayName": "Google", "identityProviderType": "Google",
            "clientId": "137004260525-abc.apps.googleusercontent.com", "clientSecret": "******" }
        ] },
      "onUserCreateStart": {
        "@odata.type": "#microsoft.graph.onUserCreateStartExternalUsersSelfServiceSignUp",
        "userTypeToCreate": "member" }
    }"##;

    /// `value` without `null` members, at any depth: Graph's `null` and an absent member mean the
    /// same to a reader, and the typed model writes neither.
    fn without_nulls(value: &Value) -> Value {
        match value {
            Value::Object(object) => Value::Object(
                object
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), without_nulls(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
            other => other.clone(),
        }
    }

    /// Every key of `value`, at any depth.
    fn keys(value: &Value, into: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                for (key, value) in object {
                    into.push(key.clone());
                    keys(value, into);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| keys(item, into)),
            _ => {}
        }
    }

    #[test]
    fn the_documented_create_answer_reads_typed_and_round_trips() {
        let flow: UserFlow = serde_json::from_str(CREATE_ANSWER).unwrap();
        assert_eq!(
            flow.id.as_deref(),
            Some("1d51b447-eb52-4ec8-ae4e-0a35ebc148ea")
        );
        assert_eq!(flow.priority, Some(500));
        assert_eq!(flow.sign_up_allowed(), Some(true));
        assert!(
            flow.identity_provider_ids().is_empty(),
            "not echoed on create"
        );
        assert_eq!(
            flow.conditions
                .as_ref()
                .and_then(|c| c.applications.as_ref())
                .and_then(|a| a.include_all_applications),
            Some(false)
        );
        let inputs = flow.inputs();
        assert_eq!(inputs.len(), 1);
        assert_eq!(inputs[0].hidden, Some(true));
        assert_eq!(inputs[0].editable, Some(false));
        assert_eq!(inputs[0].options, Some(Vec::new()));
        assert!(
            inputs[0]
                .validation_reg_ex
                .as_deref()
                .unwrap()
                .starts_with("^[a-zA-Z0-9.")
        );
        let collection = flow.on_attribute_collection.as_ref().unwrap();
        assert_eq!(
            collection.extra["accessPackages"],
            json!([]),
            "open properties kept"
        );

        let written = serde_json::to_value(&flow).unwrap();
        let documented: Value = serde_json::from_str(CREATE_ANSWER).unwrap();
        assert_eq!(without_nulls(&written), without_nulls(&documented));
        let reread: UserFlow = serde_json::from_value(written).unwrap();
        assert_eq!(reread, flow, "comparable after a round trip");
    }

    #[test]
    fn the_documented_list_item_reads_typed_and_never_writes_annotations_or_the_mask() {
        let flow: UserFlow = serde_json::from_str(LIST_ITEM).unwrap();
        assert_eq!(flow.priority, Some(50));
        assert_eq!(
            flow.identity_provider_ids(),
            ["EmailPassword-OAUTH", "Google-OAUTH"]
        );
        assert!(flow.application_ids().is_empty());
        let providers = flow
            .on_authentication_method_load_start
            .as_ref()
            .and_then(|start| start.identity_providers.clone())
            .unwrap();
        assert!(providers[0].is_built_in());
        assert_eq!(
            providers[1].odata_type.as_deref(),
            Some(SOCIAL_IDENTITY_PROVIDER)
        );
        assert!(providers[1].client_secret.as_ref().unwrap().is_masked());
        assert_eq!(
            flow.on_user_create_start
                .as_ref()
                .and_then(|start| start.user_type_to_create.as_deref()),
            Some("member")
        );

        // Serialised (what a plan would export): everything but the mask.
        let written = serde_json::to_value(&flow).unwrap();
        let mut documented: Value = serde_json::from_str(LIST_ITEM).unwrap();
        documented["onAuthenticationMethodLoadStart"]["identityProviders"][1]
            .as_object_mut()
            .unwrap()
            .remove("clientSecret");
        assert_eq!(without_nulls(&written), without_nulls(&documented));

        // As a write body: no id, no annotation at any depth, every @odata.type kept.
        let body = writable(&flow).unwrap();
        let mut names = Vec::new();
        keys(&body, &mut names);
        assert!(
            !names.iter().any(|k| k.contains('@') && k != "@odata.type"),
            "{names:?}"
        );
        assert!(!names.iter().any(|k| k == "clientSecret"), "{names:?}");
        assert!(body.get("id").is_none());
        assert_eq!(
            body["onUserCreateStart"]["@odata.type"],
            ON_USER_CREATE_START
        );
        assert_eq!(
            body["conditions"]["applications"]["includeAllApplications"],
            false
        );
    }

    #[test]
    fn every_configurable_input_field_round_trips() {
        let documented = json!({
            "attribute": "extension_6ea3bc85aec24b1c92ff4a117afb6621_Favoritecolor",
            "label": "Favorite color",
            "inputType": "radioSingleSelect",
            "defaultValue": "blue",
            "editable": true,
            "hidden": false,
            "required": true,
            "writeToDirectory": true,
            "validationRegEx": "^.*$",
            "options": [{"label": "Blue", "value": "blue"}, {"label": "Red", "value": "red"}]
        });
        let input: AttributeInput = serde_json::from_value(documented.clone()).unwrap();
        assert_eq!(input.input_type, InputType::RadioSingleSelect);
        assert_eq!(input.options.as_ref().map(Vec::len), Some(2));
        assert_eq!(serde_json::to_value(&input).unwrap(), documented);
    }

    #[test]
    fn an_apple_provider_has_its_type_and_keeps_its_key_out_of_debug() {
        let apple = IdentityProvider::apple(
            "Sign in with Apple",
            "UBF8T346G9",
            "com.contoso.app",
            "99P6D879C4",
            "-----BEGIN PRIVATE KEY-----secret-key",
        );
        assert!(!format!("{apple:?}").contains("secret-key"));
        assert_eq!(
            serde_json::to_value(&apple).unwrap(),
            json!({
                "@odata.type": "#microsoft.graph.appleManagedIdentityProvider",
                "displayName": "Sign in with Apple",
                "developerId": "UBF8T346G9",
                "serviceId": "com.contoso.app",
                "keyId": "99P6D879C4",
                "certificateData": "-----BEGIN PRIVATE KEY-----secret-key"
            })
        );
        let read: IdentityProvider = serde_json::from_value(json!({
            "@odata.type": APPLE_MANAGED_IDENTITY_PROVIDER, "id": "Apple-Managed-OIDC",
            "developerId": "UBF8T346G9", "certificateData": "******"
        }))
        .unwrap();
        assert!(read.certificate_data.as_ref().unwrap().is_masked());
        assert!(
            serde_json::to_value(&read)
                .unwrap()
                .get("certificateData")
                .is_none()
        );
    }

    #[test]
    fn a_social_provider_secret_never_shows_in_debug() {
        let google = IdentityProvider::social("Google", "Google", "client", "s3cr3t-value");
        assert!(!format!("{google:?}").contains("s3cr3t-value"));
        assert_eq!(
            serde_json::to_value(&google).unwrap()["clientSecret"],
            "s3cr3t-value"
        );
    }
}
