//! Each kind's three conversions: the file's entries into [`Object`]s, the tenant's objects (read
//! through Graph) into [`Object`]s with the same field names, and a planned [`Change`] into the
//! Graph call that makes it. Field names are the file's (`target_url`, `sign_in_page_text`), so the
//! plan table speaks the file's language.

use std::collections::{BTreeMap, BTreeSet};

use entra_graph::{
    AttributeInput, AuthenticationEventListener, BrandingLookup, BrandingProperties,
    BrandingStream, ClaimForTokenConfiguration, ClientConfiguration, CustomAuthenticationExtension,
    DEFAULT_LOCALE, ExtensionType, GraphClient, GraphError, IdentityProvider, InputOption,
    InputType, ListenerType, UserFlow,
};
use entra_platform::{SecretRef, SecretResolver};
use serde_json::{Value, json};

use super::file::{
    BrandingTexts, CustomAttributeEntry, CustomExtensionEntry, DataType, Event,
    IdentityProviderEntry, InputEntry, InputKind, ListenerEntry, OptionEntry, SocialProvider,
    TenantFile, UserFlowEntry, listener_key,
};
use super::plan::{Action, Change, Kind, Object};

/// The key of the one default branding object.
pub const DEFAULT_BRANDING: &str = "default";

/// The default branding's streams the file can manage, by the file's names.
const IMAGE_FIELDS: [(&str, BrandingStream); 7] = [
    ("banner_logo", BrandingStream::BannerLogo),
    ("header_logo", BrandingStream::HeaderLogo),
    ("square_logo", BrandingStream::SquareLogo),
    ("square_logo_dark", BrandingStream::SquareLogoDark),
    ("background_image", BrandingStream::BackgroundImage),
    ("favicon", BrandingStream::Favicon),
    ("custom_css", BrandingStream::CustomCss),
];

/// The kinds the file manages: those with a section, even an empty one.
pub fn managed_kinds(file: &TenantFile) -> BTreeSet<Kind> {
    let mut kinds = BTreeSet::new();
    if file.custom_attribute.is_some() {
        kinds.insert(Kind::CustomAttribute);
    }
    if file.identity_provider.is_some() {
        kinds.insert(Kind::IdentityProvider);
    }
    if file.user_flow.is_some() {
        kinds.insert(Kind::UserFlow);
    }
    if file.custom_extension.is_some() {
        kinds.insert(Kind::CustomExtension);
    }
    if file.listener.is_some() {
        kinds.insert(Kind::Listener);
    }
    if let Some(branding) = &file.branding {
        kinds.insert(Kind::Branding);
        if branding.localization.is_some() {
            kinds.insert(Kind::BrandingLocalization);
        }
    }
    kinds
}

/// A content fingerprint for a branding stream: how the plan compares images and CSS.
pub fn fingerprint(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let hex: String = digest
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex} ({} bytes)", bytes.len())
}

/// Reads a branding file named relative to the tenant file.
fn read_asset(file: &TenantFile, path: &str) -> Result<Vec<u8>, super::file::FileError> {
    let full = file.base_dir.join(path);
    std::fs::read(&full).map_err(|source| super::file::FileError::Read { path: full, source })
}

/// The file's entries as objects (branding images are read and fingerprinted).
pub fn desired(file: &TenantFile) -> Result<Vec<Object>, super::file::FileError> {
    let mut objects = Vec::new();
    for entry in file.custom_attribute.iter().flatten() {
        objects.push(attribute_object(entry));
    }
    for entry in file.identity_provider.iter().flatten() {
        objects.push(provider_object(entry));
    }
    for entry in file.user_flow.iter().flatten() {
        objects.push(flow_object(entry));
    }
    for entry in file.custom_extension.iter().flatten() {
        objects.push(extension_object(entry));
    }
    for entry in file.listener.iter().flatten() {
        objects.push(listener_object(entry));
    }
    if let Some(branding) = &file.branding {
        // No texts and no images: nothing of the default is managed (a localization creates it
        // when needed).
        let images = branding
            .images
            .as_ref()
            .map(|images| images.entries())
            .unwrap_or_default();
        if branding.texts != BrandingTexts::default() || !images.is_empty() {
            let mut object = texts_object(Kind::Branding, DEFAULT_BRANDING, &branding.texts);
            for (name, _, path) in images {
                object = object.field(name, fingerprint(&read_asset(file, path.get_ref())?));
            }
            objects.push(object);
        }
        for localization in branding.localization.iter().flatten() {
            objects.push(texts_object(
                Kind::BrandingLocalization,
                localization.locale.get_ref(),
                &localization.texts,
            ));
        }
    }
    Ok(objects)
}

fn attribute_object(entry: &CustomAttributeEntry) -> Object {
    Object::new(Kind::CustomAttribute, entry.name.get_ref())
        .field("data_type", entry.data_type.graph())
        .field("description", entry.description.clone())
}

fn provider_object(entry: &IdentityProviderEntry) -> Object {
    Object::new(Kind::IdentityProvider, entry.provider.graph_type())
        .field("display_name", entry.display_name.clone())
        .field("client_id", entry.client_id.clone())
}

fn sorted(values: &[String]) -> Value {
    let mut values = values.to_vec();
    values.sort();
    values.dedup();
    json!(values)
}

fn flow_object(entry: &UserFlowEntry) -> Object {
    let inputs: Vec<Value> = entry
        .inputs
        .iter()
        .map(|input| serde_json::to_value(input).unwrap_or_default())
        .collect();
    Object::new(Kind::UserFlow, entry.name.get_ref())
        .field("description", entry.description.clone())
        .field("sign_up", entry.sign_up)
        .field("identity_providers", sorted(&entry.identity_providers))
        .field("applications", sorted(&entry.applications))
        .field("inputs", json!(inputs))
}

fn extension_object(entry: &CustomExtensionEntry) -> Object {
    let claims = entry.claims.as_ref().map(|claims| {
        let mut sorted = claims.clone();
        sorted.sort();
        json!(sorted)
    });
    Object::new(Kind::CustomExtension, entry.name.get_ref())
        .field("event", entry.event.name())
        .field("description", entry.description.clone())
        .field("target_url", entry.target_url.clone())
        .field("resource_id", entry.resource_id.clone())
        .field("timeout_ms", entry.timeout_ms)
        .field("max_retries", entry.max_retries)
        .field("claims", claims)
}

fn listener_object(entry: &ListenerEntry) -> Object {
    let mut applications = entry.applications.clone();
    applications.sort();
    applications.dedup();
    Object::new(Kind::Listener, entry.key())
        .field("event", entry.event.name())
        .field("extension", entry.extension.get_ref().clone())
        .field("applications", json!(applications))
        .field("priority", entry.priority)
}

fn texts_object(kind: Kind, key: &str, texts: &BrandingTexts) -> Object {
    let Value::Object(fields) = serde_json::to_value(texts).unwrap_or_default() else {
        return Object::new(kind, key);
    };
    fields
        .into_iter()
        .fold(Object::new(kind, key), |object, (name, value)| {
            object.field(&name, value)
        })
}

fn event_of_extension(extension_type: &ExtensionType) -> Option<Event> {
    match extension_type {
        ExtensionType::TokenIssuanceStart => Some(Event::TokenIssuanceStart),
        ExtensionType::AttributeCollectionStart => Some(Event::AttributeCollectionStart),
        ExtensionType::AttributeCollectionSubmit => Some(Event::AttributeCollectionSubmit),
        ExtensionType::OtpSend => Some(Event::OtpSend),
        _ => None,
    }
}

fn extension_type(event: Event) -> ExtensionType {
    match event {
        Event::TokenIssuanceStart => ExtensionType::TokenIssuanceStart,
        Event::AttributeCollectionStart => ExtensionType::AttributeCollectionStart,
        Event::AttributeCollectionSubmit => ExtensionType::AttributeCollectionSubmit,
        Event::OtpSend => ExtensionType::OtpSend,
    }
}

fn event_of_listener(listener_type: &ListenerType) -> Option<Event> {
    match listener_type {
        ListenerType::TokenIssuanceStart => Some(Event::TokenIssuanceStart),
        ListenerType::AttributeCollectionStart => Some(Event::AttributeCollectionStart),
        ListenerType::AttributeCollectionSubmit => Some(Event::AttributeCollectionSubmit),
        ListenerType::EmailOtpSend => Some(Event::OtpSend),
        _ => None,
    }
}

/// What the tenant has, for the kinds in `kinds`, as objects; plus the extension ids by name, which
/// listeners need.
pub struct TenantState {
    pub objects: Vec<Object>,
    pub extension_ids: BTreeMap<String, String>,
    /// Custom attributes by name: their ids (`extension_{app}_{Name}`).
    pub attribute_ids: BTreeMap<String, String>,
    /// Each flow's page as the file writes it, by flow name (for `export`).
    pub flow_inputs: BTreeMap<String, Vec<InputEntry>>,
    /// The organization (tenant) id, for branding calls and the `[tenant] id` guard.
    pub org_id: String,
}

/// A flow's page input as the file writes it, from Graph's; custom attributes by name.
fn input_entry(input: &AttributeInput, names: &BTreeMap<String, String>) -> InputEntry {
    use serde_spanned::Spanned;
    let attribute = names
        .get(&input.attribute.to_ascii_lowercase())
        .cloned()
        .unwrap_or_else(|| input.attribute.clone());
    InputEntry {
        attribute: Spanned::new(0..0, attribute),
        label: input.label.clone(),
        kind: InputKind::from_graph(input.input_type.as_str()).unwrap_or_default(),
        required: input.required.unwrap_or(false),
        hidden: input.hidden.unwrap_or(false),
        editable: input.editable.unwrap_or(true),
        write_to_directory: input.write_to_directory.unwrap_or(true),
        validation_regex: input
            .validation_reg_ex
            .clone()
            .filter(|regex| !regex.is_empty()),
        default_value: input
            .default_value
            .clone()
            .filter(|value| !value.is_empty()),
        options: input
            .options
            .iter()
            .flatten()
            .map(|option| OptionEntry {
                label: option.label.clone().unwrap_or_default(),
                value: option.value.clone(),
            })
            .collect(),
    }
}

/// Graph's page input from the file's; a custom attribute's name becomes its id.
fn graph_input(input: &InputEntry, ids: &BTreeMap<String, String>) -> AttributeInput {
    AttributeInput {
        attribute: attribute_id(input.attribute.get_ref(), ids),
        label: input.label.clone(),
        input_type: InputType::parse(input.kind.graph()),
        default_value: input.default_value.clone(),
        editable: Some(input.editable),
        hidden: Some(input.hidden),
        required: Some(input.required),
        write_to_directory: Some(input.write_to_directory),
        validation_reg_ex: input.validation_regex.clone(),
        options: (!input.options.is_empty()).then(|| {
            input
                .options
                .iter()
                .map(|option| InputOption {
                    label: Some(option.label.clone()),
                    value: option.value.clone(),
                    ..InputOption::default()
                })
                .collect()
        }),
        extra: Default::default(),
    }
}

/// The id of the attribute the file calls `name`: a custom attribute's id, else `name` itself (a
/// built-in attribute's id).
fn attribute_id(name: &str, ids: &BTreeMap<String, String>) -> String {
    ids.iter()
        .find(|(custom, _)| custom.eq_ignore_ascii_case(name))
        .map(|(_, id)| id.clone())
        .unwrap_or_else(|| name.to_owned())
}

/// Reads the tenant: the organization, the custom extensions and listeners, the branding.
pub async fn read_tenant(graph: &GraphClient) -> Result<TenantState, GraphError> {
    let org_id = graph.organization().current().await?.id;
    let mut objects = Vec::new();
    let mut attribute_ids = BTreeMap::new();
    let mut attribute_names = BTreeMap::new();
    let mut flow_inputs = BTreeMap::new();
    for attribute in graph.user_flow_attributes().list().await? {
        let (false, Some(id), Some(name)) = (
            attribute.is_built_in(),
            attribute.id.clone(),
            attribute.display_name.clone(),
        ) else {
            continue;
        };
        attribute_ids.insert(name.clone(), id.clone());
        attribute_names.insert(id.to_ascii_lowercase(), name.clone());
        objects.push(
            Object::new(Kind::CustomAttribute, name)
                .with_id(id)
                .field("data_type", attribute.data_type.clone())
                .field("description", attribute.description.clone()),
        );
    }
    for provider in graph.identity_providers().list().await? {
        let (false, Some(id), Some(kind)) = (
            provider.is_built_in(),
            provider.id.clone(),
            provider.identity_provider_type.clone(),
        ) else {
            continue;
        };
        objects.push(
            Object::new(Kind::IdentityProvider, kind)
                .with_id(id)
                .field("display_name", provider.display_name.clone())
                .field("client_id", provider.client_id.clone()),
        );
    }
    for flow in graph.user_flows().list().await? {
        let (Some(id), Some(name)) = (flow.id.clone(), flow.display_name.clone()) else {
            continue;
        };
        let entries: Vec<InputEntry> = flow
            .inputs()
            .iter()
            .map(|input| input_entry(input, &attribute_names))
            .collect();
        let inputs: Vec<Value> = entries
            .iter()
            .map(|entry| serde_json::to_value(entry).unwrap_or_default())
            .collect();
        flow_inputs.insert(name.clone(), entries);
        objects.push(
            Object::new(Kind::UserFlow, name)
                .with_id(id)
                .field("description", flow.description.clone())
                .field("sign_up", flow.sign_up_allowed())
                .field("identity_providers", sorted(&flow.identity_provider_ids()))
                .field("applications", sorted(&flow.application_ids()))
                .field("inputs", json!(inputs)),
        );
    }
    let mut extension_ids = BTreeMap::new();
    let mut extension_names = BTreeMap::new();
    for extension in graph.custom_authentication_extensions().list().await? {
        let (Some(id), Some(name), Some(event)) = (
            extension.id.clone(),
            extension.display_name.clone(),
            event_of_extension(&extension.extension_type),
        ) else {
            continue;
        };
        extension_ids.insert(name.clone(), id.clone());
        extension_names.insert(id.clone(), name.clone());
        let claims = extension
            .claims_for_token_configuration
            .as_ref()
            .map(|claims| {
                let mut names: Vec<&str> = claims
                    .iter()
                    .map(|claim| claim.claim_id_in_api_response.as_str())
                    .collect();
                names.sort();
                json!(names)
            });
        let client = extension.client_configuration.as_ref();
        objects.push(
            Object::new(Kind::CustomExtension, name)
                .with_id(id)
                .field("event", event.name())
                .field("description", extension.description.clone())
                .field(
                    "target_url",
                    extension
                        .endpoint_configuration
                        .as_ref()
                        .and_then(|endpoint| endpoint.target_url.clone()),
                )
                .field(
                    "resource_id",
                    extension
                        .authentication_configuration
                        .as_ref()
                        .and_then(|auth| auth.resource_id.clone()),
                )
                .field(
                    "timeout_ms",
                    client.and_then(|client| client.timeout_in_milliseconds),
                )
                .field(
                    "max_retries",
                    client.and_then(|client| client.maximum_retries),
                )
                .field("claims", claims),
        );
    }
    for listener in graph.authentication_event_listeners().list().await? {
        let (Some(id), Some(event), Some(extension)) = (
            listener.id.clone(),
            event_of_listener(&listener.listener_type),
            listener
                .extension_id()
                .and_then(|extension_id| extension_names.get(extension_id)),
        ) else {
            // Listeners of other events, or calling extensions we cannot name, are not ours.
            continue;
        };
        let mut applications: Vec<String> =
            listener.app_ids().into_iter().map(str::to_owned).collect();
        applications.sort();
        objects.push(
            Object::new(Kind::Listener, listener_key(event, extension))
                .with_id(id)
                .field("event", event.name())
                .field("extension", extension.clone())
                .field("applications", json!(applications))
                .field("priority", listener.priority),
        );
    }
    if !org_id.is_empty() {
        let branding = graph.branding(&org_id);
        if let BrandingLookup::Configured(properties) = branding.get().await? {
            let mut object = branding_object(Kind::Branding, DEFAULT_BRANDING, &properties);
            for (name, stream) in IMAGE_FIELDS {
                if let Some(asset) = branding.get_stream(DEFAULT_LOCALE, stream).await? {
                    object = object.field(name, fingerprint(&asset.bytes));
                }
            }
            objects.push(object);
        }
        for localization in branding.localizations().await? {
            let Some(locale) = localization.id.clone() else {
                continue;
            };
            if locale == "0" || locale.is_empty() {
                continue;
            }
            objects.push(branding_object(
                Kind::BrandingLocalization,
                &locale,
                &localization,
            ));
        }
    }
    Ok(TenantState {
        objects,
        extension_ids,
        attribute_ids,
        flow_inputs,
        org_id,
    })
}

/// A branding read from Graph, as the file's texts.
fn branding_object(kind: Kind, key: &str, properties: &BrandingProperties) -> Object {
    texts_object(kind, key, &texts_of(properties))
}

fn texts_of(properties: &BrandingProperties) -> BrandingTexts {
    let text = |value: &Option<String>| value.clone().filter(|text| !text.is_empty());
    BrandingTexts {
        background_color: text(&properties.background_color),
        header_background_color: text(&properties.header_background_color),
        sign_in_page_text: text(&properties.sign_in_page_text),
        username_hint_text: text(&properties.username_hint_text),
        custom_privacy_and_cookies_text: text(&properties.custom_privacy_and_cookies_text),
        custom_privacy_and_cookies_url: text(&properties.custom_privacy_and_cookies_url),
        custom_terms_of_use_text: text(&properties.custom_terms_of_use_text),
        custom_terms_of_use_url: text(&properties.custom_terms_of_use_url),
    }
}

fn properties_of(object: &Object, locale: Option<&str>) -> BrandingProperties {
    let text = |name: &str| {
        object
            .fields
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    BrandingProperties {
        id: locale.map(str::to_owned),
        background_color: text("background_color"),
        header_background_color: text("header_background_color"),
        sign_in_page_text: text("sign_in_page_text"),
        username_hint_text: text("username_hint_text"),
        custom_privacy_and_cookies_text: text("custom_privacy_and_cookies_text"),
        custom_privacy_and_cookies_url: text("custom_privacy_and_cookies_url"),
        custom_terms_of_use_text: text("custom_terms_of_use_text"),
        custom_terms_of_use_url: text("custom_terms_of_use_url"),
        ..BrandingProperties::default()
    }
}

/// The tenant as a file (`export`): every kind this tool manages.
pub fn export_file(state: &TenantState) -> TenantFile {
    use super::file::{BrandingSection, LocalizationEntry, TenantSection};
    use serde_spanned::Spanned;

    let text = |object: &Object, name: &str| {
        object
            .fields
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let number = |object: &Object, name: &str| {
        object
            .fields
            .get(name)
            .and_then(Value::as_f64)
            .map(|value| value as i64)
    };
    let event = |object: &Object| {
        serde_json::from_value::<Event>(object.fields.get("event").cloned().unwrap_or_default())
            .ok()
    };
    let strings = |object: &Object, name: &str| {
        object
            .fields
            .get(name)
            .and_then(Value::as_array)
            .map(|values| {
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
    };
    let of_kind = |kind: Kind| {
        state
            .objects
            .iter()
            .filter(move |object| object.kind == kind)
    };

    let extensions: Vec<CustomExtensionEntry> = of_kind(Kind::CustomExtension)
        .filter_map(|object| {
            Some(CustomExtensionEntry {
                name: Spanned::new(0..0, object.key.clone()),
                event: event(object)?,
                description: text(object, "description"),
                target_url: text(object, "target_url").unwrap_or_default(),
                resource_id: text(object, "resource_id").unwrap_or_default(),
                timeout_ms: number(object, "timeout_ms").map(|value| value as u32),
                max_retries: number(object, "max_retries").map(|value| value as u32),
                claims: strings(object, "claims"),
            })
        })
        .collect();
    let listeners: Vec<ListenerEntry> = of_kind(Kind::Listener)
        .filter_map(|object| {
            Some(ListenerEntry {
                event: event(object)?,
                extension: Spanned::new(0..0, text(object, "extension")?),
                applications: strings(object, "applications").unwrap_or_default(),
                priority: number(object, "priority").map(|value| value as i32),
            })
        })
        .collect();
    let texts = |object: &Object| -> BrandingTexts {
        serde_json::from_value(Value::Object(
            object
                .fields
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        ))
        .unwrap_or_default()
    };
    let default_branding = of_kind(Kind::Branding).next();
    let localizations: Vec<LocalizationEntry> = of_kind(Kind::BrandingLocalization)
        .map(|object| LocalizationEntry {
            locale: Spanned::new(0..0, object.key.clone()),
            texts: texts(object),
        })
        .collect();
    let attributes: Vec<CustomAttributeEntry> = of_kind(Kind::CustomAttribute)
        .filter_map(|object| {
            let data_type = match text(object, "data_type")?.as_str() {
                "string" => DataType::String,
                "boolean" => DataType::Boolean,
                "int64" => DataType::Int64,
                _ => return None,
            };
            Some(CustomAttributeEntry {
                name: Spanned::new(0..0, object.key.clone()),
                data_type,
                description: text(object, "description"),
            })
        })
        .collect();
    let providers: Vec<IdentityProviderEntry> = of_kind(Kind::IdentityProvider)
        .filter_map(|object| {
            let provider = match object.key.as_str() {
                "Google" => SocialProvider::Google,
                "Facebook" => SocialProvider::Facebook,
                _ => return None,
            };
            Some(IdentityProviderEntry {
                provider,
                display_name: text(object, "display_name"),
                client_id: text(object, "client_id").unwrap_or_default(),
                client_secret: None,
            })
        })
        .collect();
    let flows: Vec<UserFlowEntry> = of_kind(Kind::UserFlow)
        .map(|object| UserFlowEntry {
            name: Spanned::new(0..0, object.key.clone()),
            description: text(object, "description"),
            sign_up: object
                .fields
                .get("sign_up")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            identity_providers: strings(object, "identity_providers").unwrap_or_default(),
            applications: strings(object, "applications").unwrap_or_default(),
            inputs: state
                .flow_inputs
                .get(&object.key)
                .cloned()
                .unwrap_or_default(),
        })
        .collect();
    TenantFile {
        base_dir: Default::default(),
        tenant: Some(TenantSection {
            id: Some(state.org_id.clone()).filter(|id| !id.is_empty()),
        }),
        custom_attribute: Some(attributes),
        identity_provider: Some(providers),
        user_flow: Some(flows),
        custom_extension: Some(extensions),
        listener: Some(listeners),
        branding: (default_branding.is_some() || !localizations.is_empty()).then(|| {
            BrandingSection {
                texts: default_branding.map(texts).unwrap_or_default(),
                images: None,
                localization: Some(localizations),
            }
        }),
    }
}

/// What a write needs besides the change: the client, ids learnt so far (objects created earlier in
/// the same apply are found here), the file (secret references are not part of the plan) and the
/// secret sources.
pub struct Writer<'a> {
    pub graph: &'a GraphClient,
    pub file: &'a TenantFile,
    pub secrets: SecretResolver,
    pub org_id: String,
    pub extension_ids: BTreeMap<String, String>,
    pub attribute_ids: BTreeMap<String, String>,
}

impl<'a> Writer<'a> {
    /// A writer starting from what `state` read.
    pub async fn new(graph: &'a GraphClient, file: &'a TenantFile, state: &TenantState) -> Self {
        let references: Vec<SecretRef> = file
            .identity_provider
            .iter()
            .flatten()
            .filter_map(|provider| provider.client_secret.as_deref()?.parse().ok())
            .collect();
        Self {
            graph,
            file,
            secrets: entra_extensions::runtime::secret_resolver(references.iter()).await,
            org_id: state.org_id.clone(),
            extension_ids: state.extension_ids.clone(),
            attribute_ids: state.attribute_ids.clone(),
        }
    }

    /// Makes one change.
    pub async fn write(&mut self, change: &Change) -> Result<(), WriteError> {
        let graph = self.graph;
        let desired = change.desired.as_ref();
        let id = || {
            change
                .id
                .clone()
                .ok_or_else(|| WriteError::Missing(format!("the tenant id of {}", change.key)))
        };
        let object = || desired.ok_or_else(|| WriteError::Missing(change.key.clone()));
        match (change.kind, change.action) {
            (Kind::CustomAttribute, Action::Create) => {
                let object = object()?;
                let created = graph
                    .user_flow_attributes()
                    .create(
                        &change.key,
                        text_field(object, "description").as_deref(),
                        &text_field(object, "data_type").unwrap_or_default(),
                    )
                    .await?;
                if let Some(new_id) = created.id {
                    self.attribute_ids.insert(change.key.clone(), new_id);
                }
            }
            (Kind::CustomAttribute, Action::Update) => {
                if change.fields.iter().any(|field| field.field == "data_type") {
                    return Err(WriteError::Refused(format!(
                        "custom_attribute {:?}: data_type cannot change once created; delete it (users lose its values) or keep the type",
                        change.key
                    )));
                }
                if let Some(description) = object().ok().and_then(|o| text_field(o, "description"))
                {
                    graph
                        .user_flow_attributes()
                        .update_description(&id()?, &description)
                        .await?;
                }
            }
            (Kind::CustomAttribute, Action::Delete) => {
                graph.user_flow_attributes().delete(&id()?).await?;
                self.attribute_ids.remove(&change.key);
            }
            (Kind::IdentityProvider, Action::Create) => {
                let entry = self.provider_entry(&change.key)?;
                let reference = entry.client_secret.as_deref().ok_or_else(|| {
                    WriteError::Refused(format!(
                        "identity_provider {:?} needs client_secret (a secret reference) to be created",
                        change.key
                    ))
                })?;
                let reference: SecretRef = reference.parse().map_err(|error| {
                    WriteError::Refused(format!(
                        "identity_provider {:?}: client_secret: {error}",
                        change.key
                    ))
                })?;
                let secret = self.secrets.resolve(&reference).await.map_err(|error| {
                    WriteError::Refused(format!(
                        "identity_provider {:?}: reading client_secret: {error}",
                        change.key
                    ))
                })?;
                let provider = IdentityProvider::social(
                    entry.provider.graph_type(),
                    entry
                        .display_name
                        .clone()
                        .unwrap_or_else(|| entry.provider.graph_type().to_owned()),
                    entry.client_id.clone(),
                    secret.expose(),
                );
                graph.identity_providers().create(&provider).await?;
            }
            (Kind::IdentityProvider, Action::Update) => {
                let entry = self.provider_entry(&change.key)?;
                let patch = IdentityProvider {
                    odata_type: Some(entra_graph::SOCIAL_IDENTITY_PROVIDER.to_owned()),
                    display_name: entry.display_name.clone(),
                    client_id: Some(entry.client_id.clone()),
                    ..IdentityProvider::default()
                };
                graph.identity_providers().update(&id()?, &patch).await?;
            }
            (Kind::IdentityProvider, Action::Delete) => {
                graph.identity_providers().delete(&id()?).await?;
            }
            (Kind::UserFlow, Action::Create) => {
                let entry = self.flow_entry(&change.key)?;
                self.create_flow(entry).await?;
            }
            (Kind::UserFlow, Action::Update) => {
                let entry = self.flow_entry(&change.key)?;
                self.update_flow(&id()?, entry, change).await?;
            }
            (Kind::UserFlow, Action::Delete) => {
                graph.user_flows().delete(&id()?).await?;
            }
            (Kind::CustomExtension, Action::Delete) => {
                graph
                    .custom_authentication_extensions()
                    .delete(&id()?)
                    .await?;
                self.extension_ids.remove(&change.key);
            }
            (Kind::CustomExtension, action) => {
                let body = extension_body(object()?)?;
                if action == Action::Create {
                    let created = graph
                        .custom_authentication_extensions()
                        .create(&body)
                        .await?;
                    if let Some(new_id) = created.id {
                        self.extension_ids.insert(change.key.clone(), new_id);
                    }
                } else {
                    graph
                        .custom_authentication_extensions()
                        .update(&id()?, &body)
                        .await?;
                }
            }
            (Kind::Listener, Action::Delete) => {
                graph
                    .authentication_event_listeners()
                    .delete(&id()?)
                    .await?;
            }
            (Kind::Listener, action) => {
                let object = object()?;
                let extension = text_field(object, "extension").unwrap_or_default();
                let extension_id = self.extension_ids.get(&extension).ok_or_else(|| {
                    WriteError::Missing(format!("the custom extension {extension:?}"))
                })?;
                let body = listener_body(object, extension_id)?;
                if action == Action::Create {
                    graph.authentication_event_listeners().create(&body).await?;
                } else {
                    graph
                        .authentication_event_listeners()
                        .update(&id()?, &body)
                        .await?;
                }
            }
            (Kind::Branding, Action::Delete) => {
                // The default branding is never deleted by a plan; nothing to do.
            }
            (Kind::Branding, _) => {
                let branding = graph.branding(&self.org_id);
                let properties = properties_of(object()?, None);
                if !properties.is_empty() {
                    branding.update(&properties).await?;
                }
                let images = self
                    .file
                    .branding
                    .as_ref()
                    .and_then(|branding| branding.images.as_ref())
                    .map(|images| images.entries())
                    .unwrap_or_default();
                for (name, stream, path) in images {
                    if !change.fields.iter().any(|field| field.field == name) {
                        continue;
                    }
                    let bytes = read_asset(self.file, path.get_ref())
                        .map_err(|error| WriteError::Refused(error.to_string()))?;
                    let kind = super::file::content_type(path.get_ref()).unwrap_or_default();
                    branding
                        .put_stream(DEFAULT_LOCALE, stream, kind, bytes)
                        .await?;
                }
            }
            (Kind::BrandingLocalization, Action::Delete) => {
                graph
                    .branding(&self.org_id)
                    .delete_localization(&change.key)
                    .await?;
            }
            (Kind::BrandingLocalization, action) => {
                let properties = properties_of(object()?, Some(&change.key));
                if action == Action::Create {
                    graph
                        .branding(&self.org_id)
                        .create_localization(&properties)
                        .await?;
                } else {
                    graph
                        .branding(&self.org_id)
                        .update_localization(&change.key, &properties)
                        .await?;
                }
            }
        }
        Ok(())
    }

    fn provider_entry(&self, key: &str) -> Result<&'a IdentityProviderEntry, WriteError> {
        self.file
            .identity_provider
            .iter()
            .flatten()
            .find(|entry| entry.provider.graph_type() == key)
            .ok_or_else(|| WriteError::Missing(format!("identity_provider {key:?} in the file")))
    }

    fn flow_entry(&self, key: &str) -> Result<&'a UserFlowEntry, WriteError> {
        self.file
            .user_flow
            .iter()
            .flatten()
            .find(|entry| entry.name.get_ref() == key)
            .ok_or_else(|| WriteError::Missing(format!("user_flow {key:?} in the file")))
    }

    fn inputs(&self, entry: &UserFlowEntry) -> (Vec<String>, Vec<AttributeInput>) {
        let inputs: Vec<AttributeInput> = entry
            .inputs
            .iter()
            .map(|input| graph_input(input, &self.attribute_ids))
            .collect();
        let attributes = inputs.iter().map(|input| input.attribute.clone()).collect();
        (attributes, inputs)
    }

    /// Creates the flow with its providers, attributes and page, waits until Graph can read it
    /// (eventual consistency), then links its applications.
    async fn create_flow(&self, entry: &UserFlowEntry) -> Result<(), WriteError> {
        let flows = self.graph.user_flows();
        let mut flow = UserFlow::new(
            entry.name.get_ref().clone(),
            entry.identity_providers.clone(),
            entry.sign_up,
        );
        flow.description = entry.description.clone();
        if !entry.inputs.is_empty() {
            let (attributes, inputs) = self.inputs(entry);
            flow = flow.with_attribute_collection(attributes, inputs);
        }
        let created = flows.create(&flow).await?;
        let id = created
            .id
            .ok_or_else(|| WriteError::Missing("the new flow's id".to_owned()))?;
        flows.get_fresh(&id).await?;
        for app in &entry.applications {
            flows.link_application(&id, app).await?;
        }
        Ok(())
    }

    /// Changes what differs: name-level properties by `PATCH`, providers and attributes by `$ref`
    /// (added before removed, so a flow keeps one), the page as a whole, applications by link.
    async fn update_flow(
        &self,
        id: &str,
        entry: &UserFlowEntry,
        change: &Change,
    ) -> Result<(), WriteError> {
        let flows = self.graph.user_flows();
        let before = |field: &str| -> Vec<String> {
            change
                .fields
                .iter()
                .find(|changed| changed.field == field)
                .and_then(|changed| changed.before.as_ref())
                .and_then(Value::as_array)
                .map(|values| {
                    values
                        .iter()
                        .filter_map(|value| match value {
                            Value::String(text) => Some(text.clone()),
                            other => other.get("attribute")?.as_str().map(str::to_owned),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let changed = |field: &str| change.fields.iter().any(|c| c.field == field);

        if changed("description") || changed("sign_up") {
            let mut patch = UserFlow::patch().with_sign_up_allowed(entry.sign_up);
            patch.description = entry.description.clone();
            flows.update(id, &patch).await?;
        }
        if changed("identity_providers") {
            let had = before("identity_providers");
            for provider in &entry.identity_providers {
                if !had.contains(provider) {
                    flows.add_identity_provider(id, provider).await?;
                }
            }
            for provider in had {
                if !entry.identity_providers.contains(&provider) {
                    flows.remove_identity_provider(id, &provider).await?;
                }
            }
        }
        if changed("inputs") {
            let had: Vec<String> = before("inputs")
                .iter()
                .map(|name| attribute_id(name, &self.attribute_ids))
                .collect();
            let (attributes, inputs) = self.inputs(entry);
            for attribute in &attributes {
                if !had.iter().any(|old| old.eq_ignore_ascii_case(attribute)) {
                    flows.add_attribute(id, attribute).await?;
                }
            }
            flows.set_page_layout(id, inputs).await?;
            for attribute in had {
                if !attributes
                    .iter()
                    .any(|new| new.eq_ignore_ascii_case(&attribute))
                {
                    flows.remove_attribute(id, &attribute).await?;
                }
            }
        }
        if changed("applications") {
            let had = before("applications");
            for app in had.iter().filter(|app| !entry.applications.contains(app)) {
                flows.unlink_application(id, app).await?;
            }
            for app in entry.applications.iter().filter(|app| !had.contains(app)) {
                flows.link_application(id, app).await?;
            }
        }
        Ok(())
    }
}

fn text_field(object: &Object, name: &str) -> Option<String> {
    object
        .fields
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn extension_body(object: &Object) -> Result<CustomAuthenticationExtension, WriteError> {
    let text = |name: &str| {
        object
            .fields
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let event: Event =
        serde_json::from_value(object.fields.get("event").cloned().unwrap_or_default())
            .map_err(|_| WriteError::Missing(format!("the event of {}", object.key)))?;
    let mut body = CustomAuthenticationExtension::new(
        extension_type(event),
        object.key.clone(),
        text("target_url").unwrap_or_default(),
        text("resource_id").unwrap_or_default(),
    );
    body.description = text("description");
    let number = |name: &str| {
        object
            .fields
            .get(name)
            .and_then(Value::as_i64)
            .map(|value| value as i32)
    };
    if number("timeout_ms").is_some() || number("max_retries").is_some() {
        body.client_configuration = Some(ClientConfiguration {
            timeout_in_milliseconds: number("timeout_ms"),
            maximum_retries: number("max_retries"),
            ..ClientConfiguration::default()
        });
    }
    if let Some(claims) = object.fields.get("claims").and_then(Value::as_array) {
        body.claims_for_token_configuration = Some(
            claims
                .iter()
                .filter_map(Value::as_str)
                .map(|claim| ClaimForTokenConfiguration {
                    claim_id_in_api_response: claim.to_owned(),
                    ..ClaimForTokenConfiguration::default()
                })
                .collect(),
        );
    }
    Ok(body)
}

fn listener_body(
    object: &Object,
    extension_id: &str,
) -> Result<AuthenticationEventListener, WriteError> {
    let event: Event =
        serde_json::from_value(object.fields.get("event").cloned().unwrap_or_default())
            .map_err(|_| WriteError::Missing(format!("the event of {}", object.key)))?;
    let applications: Vec<String> = object
        .fields
        .get("applications")
        .and_then(Value::as_array)
        .map(|values| {
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut listener = match event {
        Event::TokenIssuanceStart => {
            AuthenticationEventListener::token_issuance_start(extension_id, applications)
        }
        Event::AttributeCollectionStart => {
            AuthenticationEventListener::attribute_collection_start(extension_id, applications)
        }
        Event::AttributeCollectionSubmit => {
            AuthenticationEventListener::attribute_collection_submit(extension_id, applications)
        }
        Event::OtpSend => AuthenticationEventListener::email_otp_send(extension_id, applications),
    };
    if let Some(priority) = object.fields.get("priority").and_then(Value::as_i64) {
        listener = listener.with_priority(priority as i32);
    }
    Ok(listener)
}

/// Why one change could not be made.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("missing {0}")]
    Missing(String),
    /// The change is one Graph cannot make, or the file lacks what it needs.
    #[error("{0}")]
    Refused(String),
}
