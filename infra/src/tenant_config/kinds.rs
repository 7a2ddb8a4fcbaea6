//! Each kind's three conversions: the file's entries into [`Object`]s, the tenant's objects (read
//! through Graph) into [`Object`]s with the same field names, and a planned [`Change`] into the
//! Graph call that makes it. Field names are the file's (`target_url`, `sign_in_page_text`), so the
//! plan table speaks the file's language.

use std::collections::{BTreeMap, BTreeSet};

use entra_graph::{
    AuthenticationEventListener, BrandingLookup, BrandingProperties, ClaimForTokenConfiguration,
    ClientConfiguration, CustomAuthenticationExtension, ExtensionType, GraphClient, GraphError,
    ListenerType,
};
use serde_json::{Value, json};

use super::file::{
    BrandingTexts, CustomExtensionEntry, Event, ListenerEntry, TenantFile, listener_key,
};
use super::plan::{Action, Change, Kind, Object};

/// The key of the one default branding object.
pub const DEFAULT_BRANDING: &str = "default";

/// The kinds the file manages: those with a section, even an empty one.
pub fn managed_kinds(file: &TenantFile) -> BTreeSet<Kind> {
    let mut kinds = BTreeSet::new();
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

/// The file's entries as objects.
pub fn desired(file: &TenantFile) -> Vec<Object> {
    let mut objects = Vec::new();
    for entry in file.custom_extension.iter().flatten() {
        objects.push(extension_object(entry));
    }
    for entry in file.listener.iter().flatten() {
        objects.push(listener_object(entry));
    }
    if let Some(branding) = &file.branding {
        objects.push(texts_object(
            Kind::Branding,
            DEFAULT_BRANDING,
            &branding.texts,
        ));
        for localization in branding.localization.iter().flatten() {
            objects.push(texts_object(
                Kind::BrandingLocalization,
                localization.locale.get_ref(),
                &localization.texts,
            ));
        }
    }
    objects
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
    /// The organization (tenant) id, for branding calls and the `[tenant] id` guard.
    pub org_id: String,
}

/// Reads the tenant: the organization, the custom extensions and listeners, the branding.
pub async fn read_tenant(graph: &GraphClient) -> Result<TenantState, GraphError> {
    let org_id = graph.organization().current().await?.id;
    let mut objects = Vec::new();
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
            objects.push(branding_object(
                Kind::Branding,
                DEFAULT_BRANDING,
                &properties,
            ));
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
    TenantFile {
        tenant: Some(TenantSection {
            id: Some(state.org_id.clone()).filter(|id| !id.is_empty()),
        }),
        custom_extension: Some(extensions),
        listener: Some(listeners),
        branding: Some(BrandingSection {
            texts: default_branding.map(texts).unwrap_or_default(),
            localization: Some(localizations),
        }),
    }
}

/// Makes one change. Extensions created earlier in the same apply are looked up in `extension_ids`
/// (and added to it), so a listener can call an extension created a moment before.
pub async fn write(
    graph: &GraphClient,
    org_id: &str,
    extension_ids: &mut BTreeMap<String, String>,
    change: &Change,
) -> Result<(), WriteError> {
    let desired = change.desired.as_ref();
    let id = || {
        change
            .id
            .clone()
            .ok_or_else(|| WriteError::Missing(format!("the tenant id of {}", change.key)))
    };
    match (change.kind, change.action) {
        (Kind::CustomExtension, Action::Delete) => {
            graph
                .custom_authentication_extensions()
                .delete(&id()?)
                .await?;
            extension_ids.remove(&change.key);
        }
        (Kind::CustomExtension, action) => {
            let object = desired.ok_or_else(|| WriteError::Missing(change.key.clone()))?;
            let body = extension_body(object)?;
            if action == Action::Create {
                let created = graph
                    .custom_authentication_extensions()
                    .create(&body)
                    .await?;
                if let Some(new_id) = created.id {
                    extension_ids.insert(change.key.clone(), new_id);
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
            let object = desired.ok_or_else(|| WriteError::Missing(change.key.clone()))?;
            let extension = object
                .fields
                .get("extension")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let extension_id = extension_ids.get(extension).ok_or_else(|| {
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
            let object = desired.ok_or_else(|| WriteError::Missing(change.key.clone()))?;
            graph
                .branding(org_id)
                .update(&properties_of(object, None))
                .await?;
        }
        (Kind::BrandingLocalization, Action::Delete) => {
            graph
                .branding(org_id)
                .delete_localization(&change.key)
                .await?;
        }
        (Kind::BrandingLocalization, action) => {
            let object = desired.ok_or_else(|| WriteError::Missing(change.key.clone()))?;
            let properties = properties_of(object, Some(&change.key));
            if action == Action::Create {
                graph
                    .branding(org_id)
                    .create_localization(&properties)
                    .await?;
            } else {
                graph
                    .branding(org_id)
                    .update_localization(&change.key, &properties)
                    .await?;
            }
        }
        (kind, _) => return Err(WriteError::Unsupported(kind)),
    }
    Ok(())
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
    #[error("{} objects cannot be written yet", .0.name())]
    Unsupported(Kind),
}
