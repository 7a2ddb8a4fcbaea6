//! Custom authentication extensions (`/identity/customAuthenticationExtensions`) and the
//! authentication event listeners that wire them to applications (`/identity/authenticationEventListeners`)
//! (docs/protocols/graph-api.md a.2 rows 23-30, A.6; docs/protocols/extension-callbacks.md (c)).
//!
//! Both resources are polymorphic: Graph picks the subtype from `@odata.type`, requires it in every
//! `POST` and `PATCH` body, and refuses a body without it ("The custom extension should be of subtype
//! of CustomAuthenticationExtension"). The models therefore carry the type as a typed
//! [`ExtensionType`]/[`ListenerType`] that is always serialized, read without regard to case (Microsoft's
//! own how-to writes `#microsoft.graph.OnOtpSendCustomExtension`), and kept verbatim when unknown
//! ((c) row 24).
//!
//! Sources: <https://learn.microsoft.com/graph/api/identitycontainer-post-customauthenticationextensions>,
//! <https://learn.microsoft.com/graph/api/customauthenticationextension-update>,
//! <https://learn.microsoft.com/graph/api/customauthenticationextension-validateauthenticationconfiguration>,
//! <https://learn.microsoft.com/graph/api/identitycontainer-post-authenticationeventlisteners>.

use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::client::{GraphClient, GraphRequest};
use crate::error::GraphError;

/// `authenticationConfiguration.@odata.type` of an extension protected by an Entra access token.
pub const AZURE_AD_TOKEN_AUTHENTICATION: &str = "#microsoft.graph.azureAdTokenAuthentication";
/// `endpointConfiguration.@odata.type` of an HTTPS endpoint.
pub const HTTP_REQUEST_ENDPOINT: &str = "#microsoft.graph.httpRequestEndpoint";
/// Graph's documented bounds of `clientConfiguration.timeoutInMilliseconds` (A.6).
pub const TIMEOUT_MS_RANGE: std::ops::RangeInclusive<i32> = 200..=2000;
/// Graph's documented bounds of `clientConfiguration.maximumRetries` (A.6).
pub const MAXIMUM_RETRIES_RANGE: std::ops::RangeInclusive<i32> = 0..=1;

macro_rules! odata_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A type this client does not know, kept verbatim.
            Unknown(String),
        }

        impl $name {
            /// Every known type.
            pub const KNOWN: &'static [$name] = &[$($name::$variant,)+];

            /// The `@odata.type` value, e.g. `#microsoft.graph.onTokenIssuanceStartCustomExtension`.
            pub fn odata_type(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Unknown(other) => other,
                }
            }

            /// Parses an `@odata.type`, with or without `#`, without regard to case.
            pub fn parse(value: &str) -> Self {
                let bare = value.trim_start_matches('#');
                $(if bare.eq_ignore_ascii_case(&$wire[1..]) {
                    return $name::$variant;
                })+
                $name::Unknown(value.to_owned())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.odata_type())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.odata_type())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Ok(Self::parse(&String::deserialize(deserializer)?))
            }
        }
    };
}

odata_enum!(
    /// The event a custom authentication extension serves (its `@odata.type`).
    ExtensionType {
        /// Adds claims to tokens (`claimsForTokenConfiguration`).
        TokenIssuanceStart => "#microsoft.graph.onTokenIssuanceStartCustomExtension",
        /// Prefills or blocks the sign-up attribute page.
        AttributeCollectionStart => "#microsoft.graph.onAttributeCollectionStartCustomExtension",
        /// Validates or modifies submitted sign-up attributes.
        AttributeCollectionSubmit => "#microsoft.graph.onAttributeCollectionSubmitCustomExtension",
        /// Sends one-time passcodes through our own provider.
        OtpSend => "#microsoft.graph.onOtpSendCustomExtension",
        /// Just-in-time password migration (beta in the docs).
        PasswordSubmit => "#microsoft.graph.onPasswordSubmitCustomExtension",
        /// Verified ID claim validation.
        VerifiedIdClaimValidation => "#microsoft.graph.onVerifiedIdClaimValidationCustomExtension",
    }
);

odata_enum!(
    /// The event an authentication event listener hooks (its `@odata.type`).
    ListenerType {
        TokenIssuanceStart => "#microsoft.graph.onTokenIssuanceStartListener",
        AttributeCollectionStart => "#microsoft.graph.onAttributeCollectionStartListener",
        AttributeCollectionSubmit => "#microsoft.graph.onAttributeCollectionSubmitListener",
        EmailOtpSend => "#microsoft.graph.onEmailOtpSendListener",
        PasswordSubmit => "#microsoft.graph.onPasswordSubmitListener",
    }
);

impl ListenerType {
    /// The handler `@odata.type` that calls a custom extension for this event
    /// (extension-callbacks.md (c.1)).
    pub fn custom_extension_handler(&self) -> Option<&'static str> {
        Some(match self {
            ListenerType::TokenIssuanceStart => {
                "#microsoft.graph.onTokenIssuanceStartCustomExtensionHandler"
            }
            ListenerType::AttributeCollectionStart => {
                "#microsoft.graph.onAttributeCollectionStartCustomExtensionHandler"
            }
            ListenerType::AttributeCollectionSubmit => {
                "#microsoft.graph.onAttributeCollectionSubmitCustomExtensionHandler"
            }
            ListenerType::EmailOtpSend => "#microsoft.graph.onOtpSendCustomExtensionHandler",
            ListenerType::PasswordSubmit => {
                "#microsoft.graph.onPasswordMigrationCustomExtensionHandler"
            }
            ListenerType::Unknown(_) => return None,
        })
    }

    /// The extension type a listener of this type calls.
    pub fn extension_type(&self) -> Option<ExtensionType> {
        Some(match self {
            ListenerType::TokenIssuanceStart => ExtensionType::TokenIssuanceStart,
            ListenerType::AttributeCollectionStart => ExtensionType::AttributeCollectionStart,
            ListenerType::AttributeCollectionSubmit => ExtensionType::AttributeCollectionSubmit,
            ListenerType::EmailOtpSend => ExtensionType::OtpSend,
            ListenerType::PasswordSubmit => ExtensionType::PasswordSubmit,
            ListenerType::Unknown(_) => return None,
        })
    }
}

/// How Entra authenticates to the extension's endpoint: an access token for `resourceId`, the App ID
/// URI `api://{fqdn}/{appId}` of the extension API's registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationConfiguration {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AuthenticationConfiguration {
    /// `azureAdTokenAuthentication` for the API whose App ID URI is `resource_id`.
    pub fn azure_ad_token(resource_id: impl Into<String>) -> Self {
        Self {
            odata_type: AZURE_AD_TOKEN_AUTHENTICATION.to_owned(),
            resource_id: Some(resource_id.into()),
            extra: Map::new(),
        }
    }
}

/// Where Entra sends the callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointConfiguration {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_url: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EndpointConfiguration {
    /// `httpRequestEndpoint` posting to `target_url`.
    pub fn http(target_url: impl Into<String>) -> Self {
        Self {
            odata_type: HTTP_REQUEST_ENDPOINT.to_owned(),
            target_url: Some(target_url.into()),
            extra: Map::new(),
        }
    }
}

/// Timeout and retries of the callback (`customExtensionClientConfiguration`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfiguration {
    /// 200-2000 ms; Graph's default is 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_milliseconds: Option<i32>,
    /// 0 or 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_retries: Option<i32>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ClientConfiguration {
    /// A configuration with both values set.
    pub fn new(timeout_in_milliseconds: i32, maximum_retries: i32) -> Self {
        Self {
            timeout_in_milliseconds: Some(timeout_in_milliseconds),
            maximum_retries: Some(maximum_retries),
            extra: Map::new(),
        }
    }

    /// Checks Graph's documented bounds, so a plan fails before the write does.
    pub fn validate(&self) -> Result<(), GraphError> {
        if let Some(timeout) = self.timeout_in_milliseconds
            && !TIMEOUT_MS_RANGE.contains(&timeout)
        {
            return Err(GraphError::InvalidRequest(format!(
                "timeoutInMilliseconds must be 200-2000, not {timeout}"
            )));
        }
        if let Some(retries) = self.maximum_retries
            && !MAXIMUM_RETRIES_RANGE.contains(&retries)
        {
            return Err(GraphError::InvalidRequest(format!(
                "maximumRetries must be 0 or 1, not {retries}"
            )));
        }
        Ok(())
    }
}

/// A claim the token-issuance extension returns (`onTokenIssuanceStartReturnClaim`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimForTokenConfiguration {
    pub claim_id_in_api_response: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A custom authentication extension, as read and as written.
///
/// For a `PATCH`, build one with [`CustomAuthenticationExtension::patch`] and set only what changes:
/// the `@odata.type` is always sent, as Graph requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomAuthenticationExtension {
    #[serde(rename = "@odata.type")]
    pub extension_type: ExtensionType,
    /// Server-assigned; never sent on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_configuration: Option<AuthenticationConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_configuration: Option<EndpointConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_configuration: Option<ClientConfiguration>,
    /// Token issuance start only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims_for_token_configuration: Option<Vec<ClaimForTokenConfiguration>>,
    /// OTP send: `{"@odata.type": "#microsoft.graph.customExtensionBehaviorOnError"}` and friends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior_on_error: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CustomAuthenticationExtension {
    /// A new extension of `extension_type` calling `target_url`, authenticated with a token for
    /// `resource_id` (`api://{fqdn}/{appId}`).
    pub fn new(
        extension_type: ExtensionType,
        display_name: impl Into<String>,
        target_url: impl Into<String>,
        resource_id: impl Into<String>,
    ) -> Self {
        Self {
            display_name: Some(display_name.into()),
            endpoint_configuration: Some(EndpointConfiguration::http(target_url)),
            authentication_configuration: Some(AuthenticationConfiguration::azure_ad_token(
                resource_id,
            )),
            ..Self::patch(extension_type)
        }
    }

    /// An empty patch of an extension of `extension_type` (only the type is sent).
    pub fn patch(extension_type: ExtensionType) -> Self {
        Self {
            extension_type,
            id: None,
            display_name: None,
            description: None,
            authentication_configuration: None,
            endpoint_configuration: None,
            client_configuration: None,
            claims_for_token_configuration: None,
            behavior_on_error: None,
            extra: Map::new(),
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets timeout and retries.
    pub fn with_client_configuration(mut self, configuration: ClientConfiguration) -> Self {
        self.client_configuration = Some(configuration);
        self
    }

    /// Adds a claim the API returns (token issuance start).
    pub fn with_claim(mut self, claim_id_in_api_response: impl Into<String>) -> Self {
        self.claims_for_token_configuration
            .get_or_insert_with(Vec::new)
            .push(ClaimForTokenConfiguration {
                claim_id_in_api_response: claim_id_in_api_response.into(),
                extra: Map::new(),
            });
        self
    }

    /// A copy fit to write: without the id and `@odata.*` annotations other than the type.
    pub fn writable(&self) -> Self {
        let mut copy = self.clone();
        copy.id = None;
        copy.extra.retain(|key, _| !key.starts_with('@'));
        copy
    }

    fn check(&self) -> Result<(), GraphError> {
        if let ExtensionType::Unknown(other) = &self.extension_type
            && !other.starts_with("#microsoft.graph.")
        {
            return Err(GraphError::InvalidRequest(format!(
                "'{other}' is not a custom authentication extension type"
            )));
        }
        match &self.client_configuration {
            Some(configuration) => configuration.validate(),
            None => Ok(()),
        }
    }
}

/// One finding of a validation (`genericError`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidationFinding {
    /// `IncorrectResourceIdFormat`, `DomainNameDoesNotMatch`, `ServicePrincipalNotFound`,
    /// `PermissionNotGrantedToServicePrincipal`, ...
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer of `validateAuthenticationConfiguration` (`authenticationConfigurationValidation`).
///
/// Graph answers `200` even when the configuration is wrong: [`Self::is_valid`] is what to check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthenticationConfigurationValidation {
    #[serde(default)]
    pub errors: Vec<ValidationFinding>,
    #[serde(default)]
    pub warnings: Vec<ValidationFinding>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AuthenticationConfigurationValidation {
    /// No errors (warnings, such as a missing `Receive.Payload` consent, do not block creation).
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// Whether any error or warning has `code`.
    pub fn has(&self, code: &str) -> bool {
        self.errors
            .iter()
            .chain(&self.warnings)
            .any(|finding| finding.code == code)
    }
}

/// An application a listener applies to (`authenticationConditionApplication`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionApplication {
    /// The application (client) id.
    pub app_id: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `conditions.applications` of a listener.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionApplications {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_all_applications: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_applications: Option<Vec<ConditionApplication>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `conditions` of a listener.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerConditions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applications: Option<ConditionApplications>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A reference to a custom extension by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtensionReference {
    pub id: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a listener does when its event fires: call a custom extension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerHandler {
    /// E.g. `#microsoft.graph.onTokenIssuanceStartCustomExtensionHandler`.
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_extension: Option<ExtensionReference>,
    /// Per-listener overrides (`behaviorOnError`, timeouts) (extension-callbacks.md (c.1)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An authentication event listener, as read and as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationEventListener {
    #[serde(rename = "@odata.type")]
    pub listener_type: ListenerType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Graph's default is 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Read-only: the user flow the listener belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_events_flow_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<ListenerConditions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<ListenerHandler>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AuthenticationEventListener {
    /// A listener calling extension `extension_id` for the applications `app_ids` (client ids), in the
    /// shape of the documented token-issuance example: no priority, no `includeAllApplications`.
    ///
    /// For attribute collection and OTP send, pass the applications linked to the user flow.
    pub fn for_applications<I, S>(
        listener_type: ListenerType,
        extension_id: impl Into<String>,
        app_ids: I,
    ) -> Result<Self, GraphError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if listener_type.custom_extension_handler().is_none() {
            return Err(GraphError::InvalidRequest(format!(
                "no custom extension handler is known for {listener_type}"
            )));
        }
        Ok(Self::known(listener_type, extension_id, app_ids))
    }

    /// Token augmentation for the chosen applications.
    pub fn token_issuance_start<I, S>(extension_id: impl Into<String>, app_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::known(ListenerType::TokenIssuanceStart, extension_id, app_ids)
    }

    /// Attribute collection start for the applications of a user flow.
    pub fn attribute_collection_start<I, S>(extension_id: impl Into<String>, app_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::known(
            ListenerType::AttributeCollectionStart,
            extension_id,
            app_ids,
        )
    }

    /// Attribute collection submit for the applications of a user flow.
    pub fn attribute_collection_submit<I, S>(extension_id: impl Into<String>, app_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::known(
            ListenerType::AttributeCollectionSubmit,
            extension_id,
            app_ids,
        )
    }

    /// Email OTP send for the applications of a user flow.
    pub fn email_otp_send<I, S>(extension_id: impl Into<String>, app_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::known(ListenerType::EmailOtpSend, extension_id, app_ids)
    }

    fn known<I, S>(listener_type: ListenerType, extension_id: impl Into<String>, app_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let handler = listener_type
            .custom_extension_handler()
            .unwrap_or_default()
            .to_owned();
        let mut listener = Self::patch(listener_type);
        listener.conditions = Some(ListenerConditions {
            applications: Some(ConditionApplications {
                include_all_applications: None,
                include_applications: Some(
                    app_ids
                        .into_iter()
                        .map(|app_id| ConditionApplication {
                            app_id: app_id.into(),
                            extra: Map::new(),
                        })
                        .collect(),
                ),
                extra: Map::new(),
            }),
            extra: Map::new(),
        });
        listener.handler = Some(ListenerHandler {
            odata_type: handler,
            custom_extension: Some(ExtensionReference {
                id: extension_id.into(),
                extra: Map::new(),
            }),
            configuration: None,
            extra: Map::new(),
        });
        listener
    }

    /// An empty patch of a listener of `listener_type` (only the type is sent).
    pub fn patch(listener_type: ListenerType) -> Self {
        Self {
            listener_type,
            id: None,
            priority: None,
            authentication_events_flow_id: None,
            conditions: None,
            handler: None,
            extra: Map::new(),
        }
    }

    /// Sets the priority (the how-tos use 500, Graph's default).
    pub fn with_priority(mut self, priority: i32) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Sends `includeAllApplications: false` explicitly, as the attribute-collection and OTP how-tos do.
    pub fn only_listed_applications(mut self) -> Self {
        if let Some(applications) = self
            .conditions
            .get_or_insert_with(ListenerConditions::default)
            .applications
            .as_mut()
        {
            applications.include_all_applications = Some(false);
        }
        self
    }

    /// OTP send: fall back to Microsoft's own email provider when the extension fails
    /// (`handler.configuration.behaviorOnError`, extension-callbacks.md (c.1)).
    pub fn fall_back_to_microsoft_provider_on_error(mut self) -> Self {
        let handler_type = self
            .listener_type
            .custom_extension_handler()
            .unwrap_or_default()
            .to_owned();
        let handler = self.handler.get_or_insert_with(|| ListenerHandler {
            odata_type: handler_type,
            custom_extension: None,
            configuration: None,
            extra: Map::new(),
        });
        handler.configuration = Some(serde_json::json!({
            "behaviorOnError": {"@odata.type": "#microsoft.graph.fallbackToMicrosoftProviderOnError"}
        }));
        self
    }

    /// The client ids the listener applies to.
    pub fn app_ids(&self) -> Vec<&str> {
        self.conditions
            .as_ref()
            .and_then(|c| c.applications.as_ref())
            .and_then(|a| a.include_applications.as_ref())
            .map(|apps| apps.iter().map(|a| a.app_id.as_str()).collect())
            .unwrap_or_default()
    }

    /// The id of the extension the handler calls.
    pub fn extension_id(&self) -> Option<&str> {
        self.handler
            .as_ref()?
            .custom_extension
            .as_ref()
            .map(|e| e.id.as_str())
    }

    /// A copy fit to write: without id, the read-only flow id and `@odata.*` annotations.
    pub fn writable(&self) -> Self {
        let mut copy = self.clone();
        copy.id = None;
        copy.authentication_events_flow_id = None;
        copy.extra.retain(|key, _| !key.starts_with('@'));
        copy
    }
}

/// Operations on `/identity/customAuthenticationExtensions`.
#[derive(Debug, Clone)]
pub struct CustomAuthenticationExtensions {
    client: GraphClient,
}

const EXTENSIONS: [&str; 2] = ["identity", "customAuthenticationExtensions"];
const VALIDATE: &str = "validateAuthenticationConfiguration";

impl CustomAuthenticationExtensions {
    pub(crate) fn new(client: GraphClient) -> Self {
        Self { client }
    }

    fn url(&self, rest: &[&str]) -> url::Url {
        let mut segments = EXTENSIONS.to_vec();
        segments.extend_from_slice(rest);
        self.client.url(&segments)
    }

    /// `GET {cae}` (row 23): every extension, all subtypes.
    pub async fn list(&self) -> Result<Vec<CustomAuthenticationExtension>, GraphError> {
        self.client.list_all(self.url(&[])).await
    }

    /// `GET {cae}/{id}` (row 25).
    pub async fn get(&self, id: &str) -> Result<CustomAuthenticationExtension, GraphError> {
        self.client.get_json(self.url(&[id])).await
    }

    /// Like [`Self::get`], but a missing extension is `Ok(None)`.
    pub async fn find(
        &self,
        id: &str,
    ) -> Result<Option<CustomAuthenticationExtension>, GraphError> {
        match self.get(id).await {
            Ok(found) => Ok(Some(found)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The extension named `display_name` (the declarative key, graph-api.md (e) rule 1), if any.
    pub async fn find_by_display_name(
        &self,
        display_name: &str,
    ) -> Result<Option<CustomAuthenticationExtension>, GraphError> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .find(|e| e.display_name.as_deref() == Some(display_name)))
    }

    /// `POST {cae}` (row 24 → 201); returns the created extension with its id.
    pub async fn create(
        &self,
        extension: &CustomAuthenticationExtension,
    ) -> Result<CustomAuthenticationExtension, GraphError> {
        extension.check()?;
        self.client
            .post_json(self.url(&[]), &extension.writable())
            .await
    }

    /// `PATCH {cae}/{id}` (row 26 → 204); the body always carries `@odata.type`.
    pub async fn update(
        &self,
        id: &str,
        patch: &CustomAuthenticationExtension,
    ) -> Result<(), GraphError> {
        patch.check()?;
        self.client
            .patch_json(self.url(&[id]), &patch.writable())
            .await
    }

    /// `DELETE {cae}/{id}` (row 27 → 204).
    pub async fn delete(&self, id: &str) -> Result<(), GraphError> {
        self.client.delete(self.url(&[id])).await
    }

    /// `POST {cae}/{id}/validateAuthenticationConfiguration` without a body (row 28).
    pub async fn validate(
        &self,
        id: &str,
    ) -> Result<AuthenticationConfigurationValidation, GraphError> {
        let request = GraphRequest::new(Method::POST, self.url(&[id, VALIDATE]));
        self.client.send(request).await?.json()
    }

    /// `POST {cae}/validateAuthenticationConfiguration` with a proposed configuration (row 29): what
    /// a plan checks before creating the extension.
    pub async fn validate_proposed(
        &self,
        endpoint: &EndpointConfiguration,
        authentication: &AuthenticationConfiguration,
    ) -> Result<AuthenticationConfigurationValidation, GraphError> {
        let body = serde_json::json!({
            "endpointConfiguration": endpoint,
            "authenticationConfiguration": authentication,
        });
        self.client.post_json(self.url(&[VALIDATE]), &body).await
    }
}

/// Operations on `/identity/authenticationEventListeners`.
#[derive(Debug, Clone)]
pub struct AuthenticationEventListeners {
    client: GraphClient,
}

const LISTENERS: [&str; 2] = ["identity", "authenticationEventListeners"];

impl AuthenticationEventListeners {
    pub(crate) fn new(client: GraphClient) -> Self {
        Self { client }
    }

    fn url(&self, rest: &[&str]) -> url::Url {
        let mut segments = LISTENERS.to_vec();
        segments.extend_from_slice(rest);
        self.client.url(&segments)
    }

    /// `GET /identity/authenticationEventListeners`: every listener, all types.
    pub async fn list(&self) -> Result<Vec<AuthenticationEventListener>, GraphError> {
        self.client.list_all(self.url(&[])).await
    }

    /// `GET /identity/authenticationEventListeners/{id}`.
    pub async fn get(&self, id: &str) -> Result<AuthenticationEventListener, GraphError> {
        self.client.get_json(self.url(&[id])).await
    }

    /// `POST /identity/authenticationEventListeners` (row 30 → 201).
    pub async fn create(
        &self,
        listener: &AuthenticationEventListener,
    ) -> Result<AuthenticationEventListener, GraphError> {
        check_listener(listener)?;
        self.client
            .post_json(self.url(&[]), &listener.writable())
            .await
    }

    /// `PATCH /identity/authenticationEventListeners/{id}` (→ 204); the body always carries
    /// `@odata.type`.
    pub async fn update(
        &self,
        id: &str,
        patch: &AuthenticationEventListener,
    ) -> Result<(), GraphError> {
        check_listener(patch)?;
        self.client
            .patch_json(self.url(&[id]), &patch.writable())
            .await
    }

    /// `DELETE /identity/authenticationEventListeners/{id}` (→ 204).
    pub async fn delete(&self, id: &str) -> Result<(), GraphError> {
        self.client.delete(self.url(&[id])).await
    }
}

fn check_listener(listener: &AuthenticationEventListener) -> Result<(), GraphError> {
    match &listener.listener_type {
        ListenerType::Unknown(other) if !other.starts_with("#microsoft.graph.") => Err(
            GraphError::InvalidRequest(format!("'{other}' is not a listener type")),
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn types_parse_without_regard_to_case_and_keep_unknown_ones() {
        assert_eq!(
            ExtensionType::parse("#microsoft.graph.OnOtpSendCustomExtension"),
            ExtensionType::OtpSend
        );
        assert_eq!(
            ExtensionType::parse("microsoft.graph.onTokenIssuanceStartCustomExtension"),
            ExtensionType::TokenIssuanceStart
        );
        let future = ExtensionType::parse("#microsoft.graph.onSomethingNewCustomExtension");
        assert_eq!(
            future.odata_type(),
            "#microsoft.graph.onSomethingNewCustomExtension"
        );
        assert_eq!(
            serde_json::to_value(ListenerType::EmailOtpSend).unwrap(),
            json!("#microsoft.graph.onEmailOtpSendListener")
        );
        assert_eq!(ExtensionType::KNOWN.len(), 6);
    }

    #[test]
    fn client_configuration_bounds() {
        assert!(ClientConfiguration::new(2000, 1).validate().is_ok());
        assert!(ClientConfiguration::new(199, 0).validate().is_err());
        assert!(ClientConfiguration::new(1000, 2).validate().is_err());
        assert!(ClientConfiguration::default().validate().is_ok());
    }

    #[test]
    fn otp_fallback_goes_under_handler_configuration() {
        let patch = AuthenticationEventListener::patch(ListenerType::EmailOtpSend)
            .fall_back_to_microsoft_provider_on_error();
        // email-otp-get-started Step 7 (extension-callbacks spec, PATCH body).
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!({
                "@odata.type": "#microsoft.graph.onEmailOtpSendListener",
                "handler": {
                    "@odata.type": "#microsoft.graph.onOtpSendCustomExtensionHandler",
                    "configuration": {
                        "behaviorOnError": {"@odata.type": "#microsoft.graph.fallbackToMicrosoftProviderOnError"}
                    }
                }
            })
        );
    }
}
