//! `tenant.toml`: the declarative description of a tenant that `plan`, `apply` and `export` read
//! and write. Every key is checked; a mistake is reported as `file:line:column: what is wrong`, with
//! the fix where there is one.
//!
//! ```toml
//! [tenant]
//! id = "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93"   # optional: plan refuses another tenant
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantSection>,
    /// Present (even empty: `custom_extension = []`) means the file manages this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_extension: Option<Vec<CustomExtensionEntry>>,
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
    /// Present (even empty) means the file manages the localizations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localization: Option<Vec<LocalizationEntry>>,
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
    parse(&text, &path.display().to_string())
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
