//! Company branding: `/organization/{orgId}/branding` and its localizations (docs/protocols/graph-api.md
//! a.3 rows 31-39, A.7).
//!
//! What a reconciler needs from Graph's shape:
//! - the default branding answers `404` until one exists; [`Branding::get`] turns that into
//!   [`BrandingLookup::NotConfigured`] instead of an error, because "absent" is a state to plan from;
//! - string properties go by `PATCH` (JSON, `Accept-Language: 0` for the default), while images and
//!   the custom CSS are streams, `PUT` one per request with the file's own `Content-Type`
//!   ([`BrandingStream`]), under `localizations/{locale}/{stream}` (`0` = the default branding);
//! - a localization's id is its locale (`fr-FR`); creating one also creates the default branding
//!   when it is missing (A.7), and `0`/`default` cannot be created that way;
//! - responses carry read-only `*RelativeUrl` and `cdnList` properties that must not be sent back
//!   ([`BrandingProperties::writable`]).
//!
//! Sources: <https://learn.microsoft.com/graph/api/organizationalbranding-update>,
//! <https://learn.microsoft.com/graph/api/organizationalbrandinglocalization-update>,
//! <https://learn.microsoft.com/graph/api/organizationalbranding-post-localizations>.

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::{GraphClient, GraphRequest};
use crate::error::GraphError;

/// The locale id of the default branding in stream paths (`localizations/0/bannerLogo`) and in
/// `Accept-Language`.
pub const DEFAULT_LOCALE: &str = "0";

/// `Accept-Language` (the default branding is addressed with `0`).
const ACCEPT_LANGUAGE: HeaderName = HeaderName::from_static("accept-language");

/// The tenant's organization object (`GET /organization`): its `id` is the tenant id, the `{orgId}`
/// of every branding path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_type: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `loginPageLayoutConfiguration`: template and header/footer visibility.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginPageLayoutConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_footer_shown: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_header_shown: Option<bool>,
    /// `default`, `verticalSplit`, `unknownFutureValue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout_template_type: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `loginPageTextVisibilitySettings`: which self-service links the sign-in page hides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginPageTextVisibilitySettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_account_reset_credentials: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_cannot_access_your_account: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_forgot_my_password: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_privacy_and_cookies: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_reset_it_now: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_terms_of_use: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `organizationalBrandingProperties`: what the default branding and every localization share.
///
/// The same type reads an answer and writes a `PATCH`/`POST` body: only properties that are `Some`
/// are sent, and anything not modelled (`contentCustomization`, new properties, annotations) round-trips
/// through `extra`. Strings are limited by Graph (A.7): `signInPageText` ≤ 1024 characters,
/// `usernameHintText` ≤ 64, link texts ≤ 256, URLs ≤ 128 ASCII.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrandingProperties {
    /// The locale of a localization (`fr-FR`); `0` for the default branding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_account_reset_credentials_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_cannot_access_your_account_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_cannot_access_your_account_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_forgot_my_password_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_privacy_and_cookies_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_privacy_and_cookies_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_reset_it_now_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_terms_of_use_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_terms_of_use_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_background_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_page_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_hint_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_page_layout_configuration: Option<LoginPageLayoutConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_page_text_visibility_settings: Option<LoginPageTextVisibilitySettings>,
    /// Everything else, including `contentCustomization` (external tenants only) and the read-only
    /// `*RelativeUrl`/`cdnList` of answers.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl BrandingProperties {
    /// Empty properties: set what should change.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new localization for `locale` (`fr-FR`), to fill in and pass to
    /// [`Branding::create_localization`].
    pub fn localization(locale: impl Into<String>) -> Self {
        Self {
            id: Some(locale.into()),
            ..Self::default()
        }
    }

    /// A copy fit to send back: without the id, `@odata.*` annotations and the read-only
    /// `*RelativeUrl`/`cdnList` properties a read returns (Graph refuses or ignores them).
    pub fn writable(&self) -> Self {
        let mut copy = self.clone();
        copy.id = None;
        copy.extra.retain(|key, _| !is_read_only(key));
        copy
    }

    /// Whether a `PATCH` of this would send nothing.
    pub fn is_empty(&self) -> bool {
        self.writable() == Self::default()
    }
}

/// Read-only branding properties and annotations (A.7).
fn is_read_only(key: &str) -> bool {
    key.starts_with('@') || key.ends_with("RelativeUrl") || key == "cdnList"
}

/// What `GET /organization/{orgId}/branding` found.
#[derive(Debug, Clone, PartialEq)]
pub enum BrandingLookup {
    /// Graph answered `404`: the tenant has no default branding yet (A.7). Creating a localization
    /// creates it.
    NotConfigured,
    /// The default branding's string and complex properties (streams are read separately).
    Configured(Box<BrandingProperties>),
}

impl BrandingLookup {
    /// The properties, if branding is configured.
    pub fn into_option(self) -> Option<BrandingProperties> {
        match self {
            BrandingLookup::NotConfigured => None,
            BrandingLookup::Configured(properties) => Some(*properties),
        }
    }

    /// Whether the tenant has a default branding.
    pub fn is_configured(&self) -> bool {
        matches!(self, BrandingLookup::Configured(_))
    }
}

/// A stream property of a branding: an image or the custom CSS, uploaded and read one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrandingStream {
    /// Sign-in page background; Graph documents "not larger than 1920 × 1080" and 300 KB.
    BackgroundImage,
    /// Banner logo on the sign-in page; PNG/JPEG ≤ 245×36 px.
    BannerLogo,
    /// The `customCSS` style sheet (`text/css`), ≤ 25 KB.
    CustomCss,
    Favicon,
    /// Header logo; PNG/JPEG ≤ 245×36 px.
    HeaderLogo,
    /// Square logo (light theme); ≤ 240×240 px and ≤ 10 KB.
    SquareLogo,
    /// Square logo (dark theme); ≤ 240×240 px and ≤ 10 KB.
    SquareLogoDark,
}

impl BrandingStream {
    /// Every stream property, in Graph's alphabetical order.
    pub const ALL: [BrandingStream; 7] = [
        BrandingStream::BackgroundImage,
        BrandingStream::BannerLogo,
        BrandingStream::CustomCss,
        BrandingStream::Favicon,
        BrandingStream::HeaderLogo,
        BrandingStream::SquareLogo,
        BrandingStream::SquareLogoDark,
    ];

    /// The property name in the path, e.g. `bannerLogo`, `customCSS`.
    pub fn property(self) -> &'static str {
        match self {
            BrandingStream::BackgroundImage => "backgroundImage",
            BrandingStream::BannerLogo => "bannerLogo",
            BrandingStream::CustomCss => "customCSS",
            BrandingStream::Favicon => "favicon",
            BrandingStream::HeaderLogo => "headerLogo",
            BrandingStream::SquareLogo => "squareLogo",
            BrandingStream::SquareLogoDark => "squareLogoDark",
        }
    }

    /// The stream named `property` (compared without regard to case).
    pub fn from_property(property: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.property().eq_ignore_ascii_case(property))
    }

    /// The largest upload Graph documents for this stream, checked before sending (A.7).
    pub fn max_bytes(self) -> Option<usize> {
        match self {
            BrandingStream::CustomCss => Some(25 * 1024),
            BrandingStream::SquareLogo | BrandingStream::SquareLogoDark => Some(10 * 1024),
            BrandingStream::BackgroundImage => Some(300 * 1024),
            _ => None,
        }
    }

    /// Whether `content_type` (without parameters) fits this stream: `text/css` for the CSS, an
    /// `image/*` type for the rest.
    pub fn accepts(self, content_type: &str) -> bool {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match self {
            BrandingStream::CustomCss => essence == "text/css",
            _ => essence.starts_with("image/") && essence.len() > "image/".len(),
        }
    }
}

impl std::fmt::Display for BrandingStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.property())
    }
}

/// A stream's content as Graph serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandingAsset {
    /// The `Content-Type` it was uploaded with (`image/png`, `text/css`, ...).
    pub content_type: String,
    pub bytes: Bytes,
}

/// The answer of `GET /organization`.
#[derive(Debug, Deserialize)]
struct OrganizationPage {
    value: Vec<Organization>,
}

/// Operations on `/organization`.
#[derive(Debug, Clone)]
pub struct Organizations {
    client: GraphClient,
}

impl Organizations {
    pub(crate) fn new(client: GraphClient) -> Self {
        Self { client }
    }

    /// `GET /organization`: the tenant's organization object (there is exactly one).
    pub async fn current(&self) -> Result<Organization, GraphError> {
        let page: OrganizationPage = self
            .client
            .get_json(self.client.url(&["organization"]))
            .await?;
        page.value.into_iter().next().ok_or_else(|| {
            GraphError::InvalidResponse("GET /organization returned no organization".to_owned())
        })
    }

    /// `GET /organization/{id}`.
    pub async fn get(&self, id: &str) -> Result<Organization, GraphError> {
        self.client
            .get_json(self.client.url(&["organization", id]))
            .await
    }
}

/// Operations on one organization's branding (`/organization/{orgId}/branding`).
#[derive(Debug, Clone)]
pub struct Branding {
    client: GraphClient,
    org_id: String,
}

impl Branding {
    pub(crate) fn new(client: GraphClient, org_id: &str) -> Self {
        Self {
            client,
            org_id: org_id.to_owned(),
        }
    }

    /// The organization (tenant) id these calls address.
    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    fn url(&self, rest: &[&str]) -> url::Url {
        let mut segments = vec!["organization", self.org_id.as_str(), "branding"];
        segments.extend_from_slice(rest);
        self.client.url(&segments)
    }

    /// `GET {b}` with `Accept-Language: 0` (row 31): the default branding, or
    /// [`BrandingLookup::NotConfigured`] when Graph answers 404.
    pub async fn get(&self) -> Result<BrandingLookup, GraphError> {
        let request = GraphRequest::get(self.url(&[]))
            .with_header(ACCEPT_LANGUAGE, HeaderValue::from_static(DEFAULT_LOCALE));
        match self.client.send(request).await {
            Ok(response) => Ok(BrandingLookup::Configured(Box::new(response.json()?))),
            Err(error) if error.is_not_found() => Ok(BrandingLookup::NotConfigured),
            Err(error) => Err(error),
        }
    }

    /// `PATCH {b}` with `Accept-Language: 0` (row 32 → 204). Read-only properties are dropped first.
    ///
    /// Graph answers 404 while no default branding exists (A.7, UNCERTAIN); create a localization
    /// first in that case.
    pub async fn update(&self, properties: &BrandingProperties) -> Result<(), GraphError> {
        let request = GraphRequest::new(Method::PATCH, self.url(&[]))
            .with_header(ACCEPT_LANGUAGE, HeaderValue::from_static(DEFAULT_LOCALE))
            .with_json(&properties.writable())?;
        self.client.send(request).await.map(drop)
    }

    /// `GET {b}/localizations` (row 34): every localization, the default (`0`) included when Graph
    /// lists it.
    pub async fn localizations(&self) -> Result<Vec<BrandingProperties>, GraphError> {
        self.client.list_all(self.url(&["localizations"])).await
    }

    /// `POST {b}/localizations` (row 35 → 201) with `localization.id` = the locale; returns the
    /// created localization. A locale that already exists is a `409`.
    pub async fn create_localization(
        &self,
        localization: &BrandingProperties,
    ) -> Result<BrandingProperties, GraphError> {
        let locale = localization.id.as_deref().unwrap_or_default();
        if locale.is_empty() || is_default_locale(locale) {
            return Err(GraphError::InvalidRequest(format!(
                "a localization needs a locale id other than the default ('{locale}')"
            )));
        }
        let mut body = localization.writable();
        body.id = Some(locale.to_owned());
        self.client
            .post_json(self.url(&["localizations"]), &body)
            .await
    }

    /// `GET {b}/localizations/{locale}` (row 36).
    pub async fn localization(&self, locale: &str) -> Result<BrandingProperties, GraphError> {
        self.client
            .get_json(self.url(&["localizations", locale]))
            .await
    }

    /// Like [`Branding::localization`], but a missing locale is `Ok(None)`.
    pub async fn find_localization(
        &self,
        locale: &str,
    ) -> Result<Option<BrandingProperties>, GraphError> {
        match self.localization(locale).await {
            Ok(found) => Ok(Some(found)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `PATCH {b}/localizations/{locale}` (row 37 → 204). Read-only properties are dropped first.
    pub async fn update_localization(
        &self,
        locale: &str,
        properties: &BrandingProperties,
    ) -> Result<(), GraphError> {
        self.client
            .patch_json(self.url(&["localizations", locale]), &properties.writable())
            .await
    }

    /// `DELETE {b}/localizations/{locale}` (row 39 → 204).
    pub async fn delete_localization(&self, locale: &str) -> Result<(), GraphError> {
        self.client
            .delete(self.url(&["localizations", locale]))
            .await
    }

    /// `PUT {b}/localizations/{locale}/{stream}` (rows 33 and 38 → 204) with the raw bytes and their
    /// `Content-Type`; [`DEFAULT_LOCALE`] addresses the default branding.
    ///
    /// The type must fit the stream (`text/css` for [`BrandingStream::CustomCss`], `image/*`
    /// otherwise) and the size must be within Graph's documented limit; both are checked before
    /// anything is sent.
    pub async fn put_stream(
        &self,
        locale: &str,
        stream: BrandingStream,
        content_type: &str,
        bytes: impl Into<Bytes>,
    ) -> Result<(), GraphError> {
        let bytes = bytes.into();
        if !stream.accepts(content_type) {
            return Err(GraphError::InvalidRequest(format!(
                "'{content_type}' is not a content type for the {stream} stream"
            )));
        }
        if let Some(max) = stream.max_bytes()
            && bytes.len() > max
        {
            return Err(GraphError::InvalidRequest(format!(
                "{stream} is {} bytes; Graph accepts at most {max}",
                bytes.len()
            )));
        }
        if bytes.is_empty() {
            return Err(GraphError::InvalidRequest(format!("{stream} is empty")));
        }
        let content_type = HeaderValue::from_str(content_type).map_err(|_| {
            GraphError::InvalidRequest(format!("'{content_type}' is not a header value"))
        })?;
        let mut request = GraphRequest::new(
            Method::PUT,
            self.url(&["localizations", locale, stream.property()]),
        )
        .with_header(CONTENT_TYPE, content_type);
        request.body = Some(bytes);
        self.client.send(request).await.map(drop)
    }

    /// Uploads the custom CSS (`customCSS`, `text/css`) of `locale`.
    pub async fn put_custom_css(&self, locale: &str, css: &str) -> Result<(), GraphError> {
        self.put_stream(
            locale,
            BrandingStream::CustomCss,
            "text/css",
            Bytes::copy_from_slice(css.as_bytes()),
        )
        .await
    }

    /// `GET {b}/localizations/{locale}/{stream}`: the stream with its content type, or `None` when
    /// none was uploaded (Graph answers 404 or an empty body).
    pub async fn get_stream(
        &self,
        locale: &str,
        stream: BrandingStream,
    ) -> Result<Option<BrandingAsset>, GraphError> {
        let request = GraphRequest::get(self.url(&["localizations", locale, stream.property()]));
        let response = match self.client.send(request).await {
            Ok(response) => response,
            Err(error) if error.is_not_found() => return Ok(None),
            Err(error) => return Err(error),
        };
        if response.body.is_empty() {
            return Ok(None);
        }
        let content_type = response
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        Ok(Some(BrandingAsset {
            content_type,
            bytes: response.body,
        }))
    }
}

/// `0` and `default` both name the default branding (A.7).
fn is_default_locale(locale: &str) -> bool {
    locale == DEFAULT_LOCALE || locale.eq_ignore_ascii_case("default")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_documented_localization_body_round_trips() {
        // organizationalbranding-post-localizations, request body (A.7).
        let documented =
            json!({"backgroundColor": "#00000F", "id": "fr-FR", "signInPageText": " "});
        let parsed: BrandingProperties = serde_json::from_value(documented.clone()).unwrap();
        assert_eq!(parsed.id.as_deref(), Some("fr-FR"));
        assert_eq!(parsed.sign_in_page_text.as_deref(), Some(" "));
        assert_eq!(serde_json::to_value(&parsed).unwrap(), documented);
        let mut built = BrandingProperties::localization("fr-FR");
        built.background_color = Some("#00000F".into());
        built.sign_in_page_text = Some(" ".into());
        assert_eq!(built, parsed);
    }

    #[test]
    fn writable_drops_read_only_properties_and_keeps_unknown_ones() {
        let read: BrandingProperties = serde_json::from_value(json!({
            "@odata.context": "x",
            "id": "0",
            "signInPageText": "Default",
            "bannerLogoRelativeUrl": "dbd5a2dd-...",
            "cdnList": ["cdn"],
            "contentCustomization": {"attributeCollection": []},
            "loginPageLayoutConfiguration": {"layoutTemplateType": "default", "isHeaderShown": false, "future": 1}
        }))
        .unwrap();
        assert_eq!(
            read.login_page_layout_configuration.as_ref().unwrap().extra["future"],
            1
        );
        let body = serde_json::to_value(read.writable()).unwrap();
        assert_eq!(
            body,
            json!({
                "signInPageText": "Default",
                "contentCustomization": {"attributeCollection": []},
                "loginPageLayoutConfiguration": {"layoutTemplateType": "default", "isHeaderShown": false, "future": 1}
            })
        );
        assert!(BrandingProperties::localization("de-DE").is_empty());
        assert!(!read.is_empty());
    }

    #[test]
    fn streams_know_their_names_types_and_limits() {
        assert_eq!(BrandingStream::CustomCss.property(), "customCSS");
        assert_eq!(
            BrandingStream::from_property("customcss"),
            Some(BrandingStream::CustomCss)
        );
        assert_eq!(
            BrandingStream::from_property("squareLogoDark"),
            Some(BrandingStream::SquareLogoDark)
        );
        assert_eq!(BrandingStream::from_property("logo"), None);
        assert!(BrandingStream::CustomCss.accepts("text/css; charset=utf-8"));
        assert!(!BrandingStream::CustomCss.accepts("image/png"));
        assert!(BrandingStream::BannerLogo.accepts("image/jpeg"));
        assert!(!BrandingStream::BannerLogo.accepts("image/"));
        assert!(!BrandingStream::Favicon.accepts("text/css"));
        assert_eq!(BrandingStream::SquareLogo.max_bytes(), Some(10 * 1024));
    }
}
