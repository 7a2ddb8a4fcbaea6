//! `tenant.toml`: the declarative description of a tenant that `plan`, `apply` and `export` read
//! and write. Every key is checked; a mistake is reported as `file:line:column: what is wrong`, with
//! the fix where there is one.
//!
//! ```toml
//! [tenant]
//! id = "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93"   # optional: plan refuses another tenant
//!
//! [[custom_attribute]]
//! name = "LoyaltyNumber"                       # displayName, the key
//! data_type = "string"                         # string, boolean or int64 (fixed once created)
//!
//! [[identity_provider]]
//! type = "google"                              # google or facebook
//! client_id = "1234567890-contoso.apps.googleusercontent.com"
//! client_secret = "env:GOOGLE_CLIENT_SECRET"   # a secret reference, read at creation
//!
//! [[user_flow]]
//! name = "Sign up and sign in"
//! identity_providers = ["EmailPassword-OAUTH", "Google-OAUTH"]
//! applications = ["a1b2c3d4-0000-4000-8000-000000000001"]
//!
//! [[user_flow.input]]                          # the sign-up page, in order
//! attribute = "email"
//! label = "Email address"
//! required = true
//!
//! [[user_flow.input]]
//! attribute = "LoyaltyNumber"                  # a custom_attribute, by name
//! label = "Loyalty number"
//! validation_regex = "^[0-9]{8}$"
//!
//! [[custom_extension]]
//! name = "Claims from our API"                 # displayName, the key
//! event = "token_issuance_start"               # or attribute_collection_start, _submit, otp_send
//! target_url = "https://hooks.example.com/extensions/token-issuance-start"
//! resource_id = "api://hooks.example.com/7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13"
//! timeout_ms = 2000
//! max_retries = 1
//! claims = ["loyaltyTier", "correlationId"]
//!
//! [[listener]]
//! event = "token_issuance_start"
//! extension = "Claims from our API"            # a custom_extension of this file, by name
//! applications = ["a1b2c3d4-0000-4000-8000-000000000001"]
//!
//! [branding]
//! background_color = "#0F6CBD"
//! sign_in_page_text = "Welcome to Contoso"
//!
//! [branding.images]                          # paths relative to this file, compared by content
//! banner_logo = "branding/banner.png"
//! custom_css = "branding/contoso.css"
//!
//! [[branding.localization]]
//! locale = "fr-FR"
//! sign_in_page_text = "Bienvenue chez Contoso"
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TenantFile {
    /// The folder the file's relative paths (branding images) start from.
    #[serde(skip)]
    pub base_dir: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantSection>,
    /// Present (even empty: `custom_attribute = []`) means the file manages this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_attribute: Option<Vec<CustomAttributeEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider: Option<Vec<IdentityProviderEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_extension: Option<Vec<CustomExtensionEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_flow: Option<Vec<UserFlowEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<Vec<ListenerEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branding: Option<BrandingSection>,
}

/// `[tenant]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSection {
    /// The directory id the file is for; `plan` and `apply` stop on another tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `[[custom_attribute]]`: a custom user-flow attribute (`identityUserFlowAttribute`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomAttributeEntry {
    /// The display name: the key, and how flows' inputs name the attribute.
    pub name: Spanned<String>,
    /// `string`, `boolean` or `int64`; it cannot change once created.
    pub data_type: DataType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The data types a custom attribute can be created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    String,
    Boolean,
    Int64,
}

impl DataType {
    /// Graph's spelling.
    pub fn graph(self) -> &'static str {
        match self {
            DataType::String => "string",
            DataType::Boolean => "boolean",
            DataType::Int64 => "int64",
        }
    }
}

/// `[[identity_provider]]`: a social identity provider of the tenant.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderEntry {
    /// `google` or `facebook`: the key (a tenant has one of each).
    #[serde(rename = "type")]
    pub provider: SocialProvider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The OAuth client id registered with the provider.
    pub client_id: String,
    /// A secret reference (`env:`, `file:`, `aws-sm:`), read when the provider is created; Graph
    /// never shows it again, so it is not compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// The social providers an External ID tenant federates with through Graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SocialProvider {
    Google,
    Facebook,
}

impl SocialProvider {
    /// Graph's `identityProviderType`.
    pub fn graph_type(self) -> &'static str {
        match self {
            SocialProvider::Google => "Google",
            SocialProvider::Facebook => "Facebook",
        }
    }

    /// The provider's id in flows (`Google-OAUTH`).
    pub fn flow_id(self) -> &'static str {
        match self {
            SocialProvider::Google => "Google-OAUTH",
            SocialProvider::Facebook => "Facebook-OAUTH",
        }
    }
}

/// `[[user_flow]]`: a sign-up and sign-in flow (`externalUsersSelfServiceSignUpEventsFlow`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserFlowEntry {
    /// The display name: the key.
    pub name: Spanned<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the flow offers sign-up (default true).
    #[serde(default = "yes")]
    pub sign_up: bool,
    /// Identity provider ids offered: `EmailPassword-OAUTH`, `EmailOtpSignup-OAUTH`,
    /// `Google-OAUTH`, `Facebook-OAUTH`.
    pub identity_providers: Vec<String>,
    /// Client ids of the applications using the flow (an application uses one flow at most).
    #[serde(default)]
    pub applications: Vec<String>,
    /// The attribute collection page, in on-page order; its attributes are the ones collected.
    #[serde(default, rename = "input")]
    pub inputs: Vec<InputEntry>,
}

fn yes() -> bool {
    true
}

/// `[[user_flow.input]]`: one input of the attribute collection page.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputEntry {
    /// A built-in attribute id (`email`, `displayName`, `city`) or a `custom_attribute` name.
    pub attribute: Spanned<String>,
    pub label: String,
    /// `text` (default), `radio_single_select`, `checkbox_multi_select` or `boolean`.
    #[serde(default, rename = "type", skip_serializing_if = "InputKind::is_text")]
    pub kind: InputKind,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// Default true.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub editable: bool,
    /// Default true.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub write_to_directory: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    /// For radio and checkbox inputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<OptionEntry>,
}

fn is_true(value: &bool) -> bool {
    *value
}

/// The kinds of page input, as the file names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    #[default]
    Text,
    RadioSingleSelect,
    CheckboxMultiSelect,
    Boolean,
}

impl InputKind {
    fn is_text(&self) -> bool {
        *self == InputKind::Text
    }

    /// Graph's spelling.
    pub fn graph(self) -> &'static str {
        match self {
            InputKind::Text => "text",
            InputKind::RadioSingleSelect => "radioSingleSelect",
            InputKind::CheckboxMultiSelect => "checkboxMultiSelect",
            InputKind::Boolean => "boolean",
        }
    }

    /// From Graph's spelling, any case.
    pub fn from_graph(value: &str) -> Option<Self> {
        [
            InputKind::Text,
            InputKind::RadioSingleSelect,
            InputKind::CheckboxMultiSelect,
            InputKind::Boolean,
        ]
        .into_iter()
        .find(|kind| kind.graph().eq_ignore_ascii_case(value))
    }
}

/// One choice of a radio or checkbox input.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OptionEntry {
    pub label: String,
    pub value: String,
}

/// The events a custom extension or listener serves, as the file names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    TokenIssuanceStart,
    AttributeCollectionStart,
    AttributeCollectionSubmit,
    OtpSend,
}

impl Event {
    /// The file's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Event::TokenIssuanceStart => "token_issuance_start",
            Event::AttributeCollectionStart => "attribute_collection_start",
            Event::AttributeCollectionSubmit => "attribute_collection_submit",
            Event::OtpSend => "otp_send",
        }
    }
}

/// `[[custom_extension]]`: a `customAuthenticationExtension`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomExtensionEntry {
    /// The display name: the key that ties this entry to the tenant's object.
    pub name: Spanned<String>,
    pub event: Event,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where Entra posts the callout (HTTPS).
    pub target_url: String,
    /// The App ID URI Entra requests a token for (`api://{host}/{appId}`).
    pub resource_id: String,
    /// 200 to 2000 (Entra's limits; 1000 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
    /// 0 or 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// token_issuance_start only: the claims the API returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Vec<String>>,
}

/// `[[listener]]`: an `authenticationEventListener` calling one of the file's extensions.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerEntry {
    pub event: Event,
    /// The `name` of a `[[custom_extension]]` in this file.
    pub extension: Spanned<String>,
    /// Client ids of the applications it applies to.
    #[serde(default)]
    pub applications: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
}

impl ListenerEntry {
    /// The key of a listener (Graph gives listeners no name): its event and its extension.
    pub fn key(&self) -> String {
        listener_key(self.event, self.extension.get_ref())
    }
}

/// The key `plan` uses for a listener of `event` calling `extension`.
pub fn listener_key(event: Event, extension: &str) -> String {
    format!("{} → {extension}", event.name())
}

/// The texts and colours of the sign-in pages (`organizationalBrandingProperties`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BrandingTexts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_background_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_page_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_hint_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_privacy_and_cookies_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_privacy_and_cookies_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_terms_of_use_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_terms_of_use_url: Option<String>,
}

/// `[branding]`: the default branding and its localizations.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BrandingSection {
    #[serde(flatten)]
    pub texts: BrandingTexts,
    /// Images and the style sheet of the default branding, as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<BrandingImages>,
    /// Present (even empty) means the file manages the localizations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localization: Option<Vec<LocalizationEntry>>,
}

/// `[branding.images]`: paths (relative to the tenant file) of the default branding's images and
/// custom CSS. Compared by content (SHA-256), uploaded with the type their extension names.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BrandingImages {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner_logo: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_logo: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub square_logo: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub square_logo_dark: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_image: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub favicon: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_css: Option<Spanned<String>>,
}

impl BrandingImages {
    /// Each set path with the file's name for it and Graph's stream.
    pub fn entries(&self) -> Vec<(&'static str, entra_graph::BrandingStream, &Spanned<String>)> {
        use entra_graph::BrandingStream as Stream;
        [
            ("banner_logo", Stream::BannerLogo, &self.banner_logo),
            ("header_logo", Stream::HeaderLogo, &self.header_logo),
            ("square_logo", Stream::SquareLogo, &self.square_logo),
            (
                "square_logo_dark",
                Stream::SquareLogoDark,
                &self.square_logo_dark,
            ),
            (
                "background_image",
                Stream::BackgroundImage,
                &self.background_image,
            ),
            ("favicon", Stream::Favicon, &self.favicon),
            ("custom_css", Stream::CustomCss, &self.custom_css),
        ]
        .into_iter()
        .filter_map(|(name, stream, path)| path.as_ref().map(|path| (name, stream, path)))
        .collect()
    }
}

/// The content type a branding file is uploaded with, from its extension.
pub fn content_type(path: &str) -> Option<&'static str> {
    let extension = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
    Some(match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "css" => "text/css",
        _ => return None,
    })
}

/// `[[branding.localization]]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocalizationEntry {
    /// A locale such as `fr-FR` (not `0`, the default).
    pub locale: Spanned<String>,
    #[serde(flatten)]
    pub texts: BrandingTexts,
}

/// Why the file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A syntax or schema error, or a reference that does not resolve.
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
}

/// Reads and checks `path`.
pub fn load(path: &Path) -> Result<TenantFile, FileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut file = parse(&text, &path.display().to_string())?;
    file.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(file)
}

/// Parses and checks `text`; `name` is the file name used in messages.
pub fn parse(text: &str, name: &str) -> Result<TenantFile, FileError> {
    let at = |offset: Option<usize>| match offset {
        Some(offset) => {
            let (line, column) = line_column(text, offset);
            format!("{name}:{line}:{column}")
        }
        None => name.to_owned(),
    };
    let file: TenantFile = toml::from_str(text).map_err(|error| FileError::Invalid {
        location: at(error.span().map(|span| span.start)),
        message: error.message().trim_end().to_owned(),
    })?;
    let invalid = |offset: usize, message: String| FileError::Invalid {
        location: at(Some(offset)),
        message,
    };

    let attributes = file.custom_attribute.as_deref().unwrap_or_default();
    for (index, attribute) in attributes.iter().enumerate() {
        let name = attribute.name.get_ref();
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.starts_with(|c: char| c.is_ascii_alphabetic());
        if !valid {
            return Err(invalid(
                attribute.name.span().start,
                format!(
                    "custom_attribute.name {name:?} must be letters, digits or _ and start with a letter (it becomes extension_<app>_{name})"
                ),
            ));
        }
        if attributes[..index]
            .iter()
            .any(|other| other.name.get_ref().eq_ignore_ascii_case(name))
        {
            return Err(invalid(
                attribute.name.span().start,
                format!("a second custom_attribute is named {name:?}"),
            ));
        }
    }
    let providers = file.identity_provider.as_deref().unwrap_or_default();
    for (index, provider) in providers.iter().enumerate() {
        if providers[..index]
            .iter()
            .any(|other| other.provider == provider.provider)
        {
            return Err(FileError::Invalid {
                location: at(None),
                message: format!(
                    "identity_provider type {:?} appears twice; a tenant has one of each",
                    provider.provider.graph_type()
                ),
            });
        }
    }
    let flows = file.user_flow.as_deref().unwrap_or_default();
    for (index, flow) in flows.iter().enumerate() {
        let name = flow.name.get_ref();
        if name.trim().is_empty() {
            return Err(invalid(
                flow.name.span().start,
                "user_flow.name is empty; give the flow its display name".into(),
            ));
        }
        if flows[..index]
            .iter()
            .any(|other| other.name.get_ref() == name)
        {
            return Err(invalid(
                flow.name.span().start,
                format!("a second user_flow is named {name:?}; names are the key"),
            ));
        }
        if flow.identity_providers.is_empty() {
            return Err(invalid(
                flow.name.span().start,
                format!(
                    "user_flow {name:?} offers no identity provider; add at least one (e.g. \"EmailPassword-OAUTH\")"
                ),
            ));
        }
        for (other_index, other) in flows.iter().enumerate() {
            if other_index < index
                && let Some(shared) = flow
                    .applications
                    .iter()
                    .find(|app| other.applications.contains(app))
            {
                return Err(invalid(
                    flow.name.span().start,
                    format!(
                        "application {shared} is in user_flow {:?} too; an application uses one flow",
                        other.name.get_ref()
                    ),
                ));
            }
        }
        for (input_index, input) in flow.inputs.iter().enumerate() {
            let attribute = input.attribute.get_ref();
            if flow.inputs[..input_index]
                .iter()
                .any(|other| other.attribute.get_ref().eq_ignore_ascii_case(attribute))
            {
                return Err(invalid(
                    input.attribute.span().start,
                    format!("attribute {attribute:?} has a second input in user_flow {name:?}"),
                ));
            }
            let choices = matches!(
                input.kind,
                InputKind::RadioSingleSelect | InputKind::CheckboxMultiSelect
            );
            if choices == input.options.is_empty() {
                return Err(invalid(
                    input.attribute.span().start,
                    if choices {
                        format!(
                            "input {attribute:?} is a {} and needs options",
                            input.kind.graph()
                        )
                    } else {
                        format!(
                            "input {attribute:?} has options; only radio_single_select and checkbox_multi_select take them"
                        )
                    },
                ));
            }
        }
    }

    let extensions = file.custom_extension.as_deref().unwrap_or_default();
    for (index, extension) in extensions.iter().enumerate() {
        let name = extension.name.get_ref();
        if name.trim().is_empty() {
            return Err(invalid(
                extension.name.span().start,
                "custom_extension.name is empty; give the extension its display name".into(),
            ));
        }
        if extensions[..index]
            .iter()
            .any(|other| other.name.get_ref() == name)
        {
            return Err(invalid(
                extension.name.span().start,
                format!(
                    "a second custom_extension is named {name:?}; names are the key, so each must be unique"
                ),
            ));
        }
        if !extension.target_url.starts_with("https://") {
            return Err(invalid(
                extension.name.span().start,
                format!(
                    "custom_extension {name:?}: target_url must be an https:// URL (Entra calls only HTTPS endpoints)"
                ),
            ));
        }
        if let Some(timeout) = extension.timeout_ms
            && !(200..=2000).contains(&timeout)
        {
            return Err(invalid(
                extension.name.span().start,
                format!(
                    "custom_extension {name:?}: timeout_ms is {timeout}; Entra accepts 200 to 2000"
                ),
            ));
        }
        if let Some(retries) = extension.max_retries
            && retries > 1
        {
            return Err(invalid(
                extension.name.span().start,
                format!(
                    "custom_extension {name:?}: max_retries is {retries}; Entra accepts 0 or 1"
                ),
            ));
        }
        if extension.claims.is_some() && extension.event != Event::TokenIssuanceStart {
            return Err(invalid(
                extension.name.span().start,
                format!(
                    "custom_extension {name:?}: claims only apply to event = \"token_issuance_start\""
                ),
            ));
        }
    }
    for listener in file.listener.as_deref().unwrap_or_default() {
        let wanted = listener.extension.get_ref();
        match extensions
            .iter()
            .find(|extension| extension.name.get_ref() == wanted)
        {
            None => {
                return Err(invalid(
                    listener.extension.span().start,
                    format!(
                        "listener.extension {wanted:?} is not a custom_extension of this file; add it or fix the name"
                    ),
                ));
            }
            Some(extension) if extension.event != listener.event => {
                return Err(invalid(
                    listener.extension.span().start,
                    format!(
                        "listener for {} calls {wanted:?}, an extension for {}; the events must match",
                        listener.event.name(),
                        extension.event.name()
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(images) = file.branding.as_ref().and_then(|b| b.images.as_ref()) {
        for (name, stream, path) in images.entries() {
            let fits = content_type(path.get_ref()).is_some_and(|kind| stream.accepts(kind));
            if !fits {
                return Err(invalid(
                    path.span().start,
                    format!(
                        "branding.images.{name} {:?}: use {}",
                        path.get_ref(),
                        if name == "custom_css" {
                            "a .css file"
                        } else {
                            "a .png, .jpg, .gif or .ico file"
                        }
                    ),
                ));
            }
        }
    }
    if let Some(localizations) = file
        .branding
        .as_ref()
        .and_then(|branding| branding.localization.as_deref())
    {
        for (index, localization) in localizations.iter().enumerate() {
            let locale = localization.locale.get_ref();
            if locale.is_empty() || locale == "0" || locale.eq_ignore_ascii_case("default") {
                return Err(invalid(
                    localization.locale.span().start,
                    format!(
                        "branding.localization.locale {locale:?} is the default branding; put its texts in [branding] itself"
                    ),
                ));
            }
            if localizations[..index]
                .iter()
                .any(|other| other.locale.get_ref().eq_ignore_ascii_case(locale))
            {
                return Err(invalid(
                    localization.locale.span().start,
                    format!("a second branding.localization has locale {locale:?}"),
                ));
            }
        }
    }
    Ok(file)
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |tail| tail.chars().count())
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXTENSION: &str = r#"
[[custom_extension]]
name = "claims"
event = "token_issuance_start"
target_url = "https://hooks.example.com/x"
resource_id = "api://hooks.example.com/7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13"
"#;

    fn error(text: &str) -> String {
        parse(text, "tenant.toml").unwrap_err().to_string()
    }

    #[test]
    fn the_module_example_parses() {
        let docs = include_str!("file.rs");
        let example: String = docs
            .lines()
            .skip_while(|line| !line.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|line| !line.starts_with("//! ```"))
            .map(|line| line.trim_start_matches("//!").trim_start_matches(' '))
            .collect::<Vec<_>>()
            .join("\n");
        let file = parse(&example, "example").unwrap();
        assert_eq!(file.user_flow.unwrap()[0].inputs.len(), 2);
        assert_eq!(file.custom_extension.unwrap().len(), 1);
        assert_eq!(file.branding.unwrap().localization.unwrap().len(), 1);
    }

    #[test]
    fn an_unknown_key_is_reported_at_its_line_and_column() {
        let text = format!("{EXTENSION}colour = \"red\"\n");
        let message = error(&text);
        assert!(message.starts_with("tenant.toml:7:1: "), "{message}");
        assert!(message.contains("unknown field `colour`"), "{message}");
    }

    #[test]
    fn a_listener_must_name_an_extension_of_the_file_with_the_same_event() {
        let unknown = format!(
            "{EXTENSION}\n[[listener]]\nevent = \"token_issuance_start\"\nextension = \"other\"\n"
        );
        let message = error(&unknown);
        assert!(message.starts_with("tenant.toml:10:13: "), "{message}");
        assert!(
            message.contains("not a custom_extension of this file"),
            "{message}"
        );

        let mismatch =
            format!("{EXTENSION}\n[[listener]]\nevent = \"otp_send\"\nextension = \"claims\"\n");
        assert!(error(&mismatch).contains("the events must match"));
    }

    #[test]
    fn entra_s_limits_are_checked_with_the_fix() {
        let slow = format!("{EXTENSION}timeout_ms = 5000\n");
        assert!(error(&slow).contains("Entra accepts 200 to 2000"));
        let http = EXTENSION.replace("https://hooks", "http://hooks");
        assert!(error(&http).contains("must be an https:// URL"));
        let twice = format!("{EXTENSION}{EXTENSION}");
        assert!(error(&twice).contains("names are the key"));
    }

    #[test]
    fn flows_are_checked_with_the_fix() {
        let flow = |body: &str| format!("[[user_flow]]\nname = \"f\"\n{body}");
        assert!(error(&flow("identity_providers = []\n")).contains("offers no identity provider"));
        let two = format!(
            "{}{}",
            flow("identity_providers = [\"EmailPassword-OAUTH\"]\napplications = [\"app\"]\n"),
            flow("identity_providers = [\"EmailPassword-OAUTH\"]\napplications = [\"app\"]\n")
                .replace("\"f\"", "\"g\"")
        );
        assert!(error(&two).contains("an application uses one flow"));
        let radio = flow(
            "identity_providers = [\"EmailPassword-OAUTH\"]\n[[user_flow.input]]\nattribute = \"city\"\nlabel = \"City\"\ntype = \"radio_single_select\"\n",
        );
        let message = error(&radio);
        assert!(message.starts_with("tenant.toml:5:13: "), "{message}");
        assert!(message.contains("needs options"), "{message}");
        let attribute = "[[custom_attribute]]\nname = \"loyalty number\"\ndata_type = \"string\"\n";
        assert!(error(attribute).contains("must be letters, digits or _"));
        let retyped = "[[custom_attribute]]\nname = \"x\"\ndata_type = \"float\"\n";
        assert!(
            error(retyped).starts_with("tenant.toml:3:13: "),
            "{}",
            error(retyped)
        );
    }

    #[test]
    fn branding_files_need_a_type_their_stream_takes() {
        let text = "[branding.images]\ncustom_css = \"style.png\"\n";
        let message = error(text);
        assert!(message.starts_with("tenant.toml:2:14: "), "{message}");
        assert!(message.contains("use a .css file"), "{message}");
        let logo = "[branding.images]\nfavicon = \"icon.svg\"\n";
        assert!(error(logo).contains("a .png, .jpg, .gif or .ico file"));
        assert_eq!(content_type("a/B.JPG"), Some("image/jpeg"));
    }

    #[test]
    fn the_default_locale_is_not_a_localization() {
        let text = "[branding]\n[[branding.localization]]\nlocale = \"0\"\n";
        let message = error(text);
        assert!(message.starts_with("tenant.toml:3:10: "), "{message}");
        assert!(
            message.contains("put its texts in [branding] itself"),
            "{message}"
        );
    }
}
