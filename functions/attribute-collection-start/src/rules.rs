//! The `[attribute_collection_start]` section of the rules file: what the function answers before
//! the sign-up form renders (docs/protocols/extension-callbacks.md a.6).
//!
//! ```toml
//! [attribute_collection_start]
//! timeout_ms = 1000            # the extension's timeoutInMilliseconds in Entra (200-2000)
//!
//! [[attribute_collection_start.rules]]
//! name = "partner app may not sign up"
//! client_apps = ["00001111-aaaa-2222-bbbb-3333cccc4444"]
//! block = { title = "Sign-up unavailable", message = "Create your account in the main app." }
//!
//! [[attribute_collection_start.rules]]
//! name = "country from the market"
//! prefill.country = { from = "market_region" }
//! prefill.city = "Seattle"
//! ```
//!
//! Rules are read in order. A rule applies when every condition it names holds (no condition:
//! always). The first applicable `block` rule answers `showBlockPage`; otherwise the `prefill`
//! tables of every applicable rule merge (a later rule overrides an attribute set earlier) into
//! one `setPrefillValues`; with nothing to prefill the answer is `continueWithDefaultBehavior`.
//! Conditions that need an email (`email_domains`, `except_email_domains`) only hold when the
//! sign-up carries one (the `EmailAddress`/`email` attribute or an email identity).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use entra_extensions::budget::{MAX_TIMEOUT_MS, MIN_TIMEOUT_MS};
use entra_extensions::rules_file::{RulesReport, ValidateRules};
use entra_extensions::{AttributeValue, BareValue};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_spanned::Spanned;

use crate::matching::{ClientScope, truncate, validate_domains};
use crate::text::BlockPageText;

/// The rules file section this function reads.
pub const SECTION: &str = "attribute_collection_start";

/// Entra's default extension timeout, used when `timeout_ms` is not set.
pub const DEFAULT_TIMEOUT_MS: u64 = 1000;

/// `[attribute_collection_start]`. Defaults (no section, or an empty one): no rules, so every
/// sign-up gets `continueWithDefaultBehavior`, with a budget of 1000 ms (Entra's default timeout).
///
/// Fallback: the rules themselves need no dependency. Custom extensions
/// ([`crate::AttributeCollectionStartExtension`]) run under the budget; one that fails or is late
/// is skipped and the rules' answer stands (logged with `fallback = true`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeCollectionStartRules {
    /// The extension's `timeoutInMilliseconds` as configured in Entra (200-2000).
    #[serde(default)]
    pub timeout_ms: Option<Spanned<u64>>,
    /// Ordered rules; see the module documentation.
    #[serde(default)]
    pub rules: Vec<Spanned<StartRule>>,
}

impl AttributeCollectionStartRules {
    /// Entra's timeout for this extension.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(
            self.timeout_ms
                .as_ref()
                .map_or(DEFAULT_TIMEOUT_MS, |t| *t.get_ref()),
        )
    }
}

/// One `[[attribute_collection_start.rules]]` entry: conditions and exactly one of `block` or
/// `prefill`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRule {
    /// Shown in logs (`rules[3]` when absent).
    #[serde(default)]
    pub name: Option<String>,
    /// Only sign-ups through these client applications (appId).
    #[serde(default)]
    pub client_apps: Vec<Spanned<String>>,
    /// Every client application but these.
    #[serde(default)]
    pub except_client_apps: Vec<Spanned<String>>,
    /// Only when the sign-up email is in one of these domains (subdomains included).
    #[serde(default)]
    pub email_domains: Vec<Spanned<String>>,
    /// Only when the sign-up email is known and in none of these domains.
    #[serde(default)]
    pub except_email_domains: Vec<Spanned<String>>,
    /// Only for these `client.locale` values (`fr` matches `fr-ca`).
    #[serde(default)]
    pub locales: Vec<Spanned<String>>,
    /// Only for these `client.market` values (`fr` matches `fr-ca`).
    #[serde(default)]
    pub markets: Vec<Spanned<String>>,
    /// Only when one of the sign-up identities has one of these issuers (`google.com`, `mail`
    /// for email one-time passcode accounts, the tenant domain for email + password).
    #[serde(default)]
    pub identity_issuers: Vec<Spanned<String>>,
    /// Stop the sign-up with this page.
    #[serde(default)]
    pub block: Option<Spanned<BlockPageText>>,
    /// Attribute name to value: a constant or a `{ from = ... }` lookup.
    #[serde(default)]
    pub prefill: Option<Spanned<BTreeMap<String, Spanned<PrefillSource>>>>,
}

/// Where a prefilled value comes from: a constant (`"Seattle"`, `true`, `2023`,
/// `["Alumni", "Faculty"]` for a multi-valued attribute) or a table ([`PrefillEntry`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefillSource {
    Constant(ConstantValue),
    Entry(PrefillEntry),
}

/// A constant value as written in TOML; its JSON type must match the attribute's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConstantValue {
    Text(String),
    Integer(i64),
    Boolean(bool),
    /// A multi-valued attribute, sent comma-delimited: no element may be empty or hold a comma.
    List(Vec<String>),
}

impl ConstantValue {
    /// The value as it goes on the wire.
    pub fn to_bare(&self) -> BareValue {
        match self {
            ConstantValue::Text(text) => BareValue::String(text.clone()),
            ConstantValue::Integer(n) => BareValue::Int64(*n),
            ConstantValue::Boolean(b) => BareValue::Boolean(*b),
            ConstantValue::List(items) => BareValue::MultiValue(items.clone()),
        }
    }

    fn problem(&self) -> Option<&'static str> {
        match self {
            ConstantValue::List(items) if items.is_empty() => Some("is an empty list"),
            ConstantValue::List(items) if items.iter().any(|i| i.is_empty() || i.contains(',')) => {
                Some(
                    "has an empty element or one containing a comma, which the comma-delimited \
                     encoding of multi-valued attributes cannot carry",
                )
            }
            _ => None,
        }
    }
}

/// `{ from = "...", ... }` or `{ value = ..., only_if_empty = true }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefillEntry {
    /// A lookup in the callout.
    #[serde(default)]
    pub from: Option<LookupSource>,
    /// A constant (instead of `from`).
    #[serde(default)]
    pub value: Option<ConstantValue>,
    /// For `from = "attribute"`: the attribute to copy.
    #[serde(default)]
    pub attribute: Option<String>,
    /// Looked-up value (matched ignoring case) to the value to prefill; unmapped values are
    /// prefilled as they are unless `default` is set.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// Used when the lookup finds nothing or the value is not in `map`.
    #[serde(default)]
    pub default: Option<String>,
    /// Changes the case of a looked-up text.
    #[serde(default)]
    pub case: Option<TextCase>,
    /// Leave an attribute that already has a value on the form alone.
    #[serde(default)]
    pub only_if_empty: bool,
}

/// What a prefill lookup reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupSource {
    /// `client.locale`, e.g. `en-us`.
    Locale,
    /// `client.market`, e.g. `en-us`.
    Market,
    /// The region of `client.locale` in upper case (`US`): a country code.
    LocaleRegion,
    /// The region of `client.market` in upper case (`US`): a country code.
    MarketRegion,
    /// The language of `client.locale` (`en`).
    Language,
    /// `clientServicePrincipal.appId`.
    ClientAppId,
    /// `clientServicePrincipal.appDisplayName` (or `displayName`).
    ClientAppName,
    /// The sign-up email (`EmailAddress`/`email` attribute, else an email identity).
    Email,
    /// The domain of the sign-up email, lower case.
    EmailDomain,
    /// The first identity's `issuer` (`google.com`, `mail`, the tenant domain).
    IdentityIssuer,
    /// The first identity's `issuerAssignedId`.
    IdentityId,
    /// The first identity's `signInType`.
    SignInType,
    /// Another attribute of the form (`attribute = "..."`), with its type.
    Attribute,
}

/// A case change applied to looked-up text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextCase {
    Upper,
    Lower,
}

impl TextCase {
    /// `text` in this case.
    pub fn apply(self, text: &str) -> String {
        match self {
            TextCase::Upper => text.to_uppercase(),
            TextCase::Lower => text.to_lowercase(),
        }
    }
}

impl<'de> Deserialize<'de> for ConstantValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(ValueVisitor { tables: false })
            .and_then(|source| match source {
                PrefillSource::Constant(value) => Ok(value),
                PrefillSource::Entry(_) => Err(de::Error::custom(
                    "expected a text, a whole number, true/false or a list of texts",
                )),
            })
    }
}

impl<'de> Deserialize<'de> for PrefillSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor { tables: true })
    }
}

/// Reads a constant or (when `tables`) a [`PrefillEntry`] table, keeping the table's own errors
/// (unknown keys, bad `from`) instead of serde's generic "did not match any variant".
struct ValueVisitor {
    tables: bool,
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = PrefillSource;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tables {
            f.write_str(
                "a text, a whole number, true/false, a list of texts, or a table such as \
                 { from = \"market_region\" }",
            )
        } else {
            f.write_str("a text, a whole number, true/false or a list of texts")
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(PrefillSource::Constant(ConstantValue::Boolean(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(PrefillSource::Constant(ConstantValue::Integer(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(|v| PrefillSource::Constant(ConstantValue::Integer(v)))
            .map_err(|_| E::custom("the number is too large for an int64 attribute"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PrefillSource::Constant(ConstantValue::Text(v.to_owned())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<String>()? {
            items.push(item);
        }
        Ok(PrefillSource::Constant(ConstantValue::List(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        if !self.tables {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
        }
        PrefillEntry::deserialize(de::value::MapAccessDeserializer::new(map))
            .map(PrefillSource::Entry)
    }
}

impl ValidateRules for AttributeCollectionStartRules {
    fn validate(&self, report: &mut RulesReport) {
        if let Some(timeout) = &self.timeout_ms {
            let ms = *timeout.get_ref();
            if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&ms) {
                report.error(
                    format!("{SECTION}.timeout_ms"),
                    Some(timeout.span()),
                    format!(
                        "is {ms}, outside the {MIN_TIMEOUT_MS}-{MAX_TIMEOUT_MS} ms Entra allows"
                    ),
                    Some(
                        "set it to the extension's timeoutInMilliseconds in Entra (default 1000)"
                            .into(),
                    ),
                );
            }
        }
        for (index, rule) in self.rules.iter().enumerate() {
            rule.get_ref()
                .validate(&format!("{SECTION}.rules[{index}]"), rule.span(), report);
        }
    }
}

impl StartRule {
    fn validate(&self, key: &str, span: std::ops::Range<usize>, report: &mut RulesReport) {
        ClientScope::validate(&self.client_apps, &self.except_client_apps, key, report);
        validate_domains(&self.email_domains, &format!("{key}.email_domains"), report);
        validate_domains(
            &self.except_email_domains,
            &format!("{key}.except_email_domains"),
            report,
        );
        for (name, list) in [
            ("locales", &self.locales),
            ("markets", &self.markets),
            ("identity_issuers", &self.identity_issuers),
        ] {
            for (index, entry) in list.iter().enumerate() {
                if entry.get_ref().trim().is_empty() {
                    report.error(
                        format!("{key}.{name}[{index}]"),
                        Some(entry.span()),
                        "is empty",
                        Some("remove the empty entry".into()),
                    );
                }
            }
        }
        match (&self.block, &self.prefill) {
            (Some(_), Some(prefill)) => report.error(
                format!("{key}.prefill"),
                Some(prefill.span()),
                "a rule either blocks or prefills, not both",
                Some("move the prefill into a rule of its own".into()),
            ),
            (None, None) => report.error(
                key,
                Some(span),
                "does nothing: it has neither `block` nor `prefill`",
                Some(
                    "add block = { message = \"...\" } or a [prefill] table, or remove the rule"
                        .into(),
                ),
            ),
            _ => {}
        }
        if let Some(block) = &self.block {
            block.get_ref().validate(&format!("{key}.block"), report);
        }
        if let Some(prefill) = &self.prefill {
            if prefill.get_ref().is_empty() {
                report.error(
                    format!("{key}.prefill"),
                    Some(prefill.span()),
                    "is empty",
                    Some("name at least one attribute, e.g. prefill.city = \"Seattle\"".into()),
                );
            }
            for (attribute, source) in prefill.get_ref() {
                validate_prefill(
                    attribute,
                    source,
                    &format!("{key}.prefill.{attribute}"),
                    report,
                );
            }
        }
    }
}

fn validate_prefill(
    attribute: &str,
    source: &Spanned<PrefillSource>,
    key: &str,
    report: &mut RulesReport,
) {
    let mut problem = |message: String, fix: &str| {
        report.error(key, Some(source.span()), message, Some(fix.to_owned()));
    };
    if attribute.trim().is_empty() {
        problem(
            "the attribute name is empty".into(),
            "use the attribute's name as Entra sends it, e.g. city or extension_<appid>_tier",
        );
    }
    let entry = match source.get_ref() {
        PrefillSource::Constant(value) => {
            if let Some(message) = value.problem() {
                problem(
                    message.into(),
                    "list non-empty values without commas, e.g. [\"Alumni\", \"Faculty\"]",
                );
            }
            return;
        }
        PrefillSource::Entry(entry) => entry,
    };
    match (&entry.from, &entry.value) {
        (Some(_), Some(_)) => problem(
            "has both `from` and `value`".into(),
            "keep `from` for a lookup or `value` for a constant",
        ),
        (None, None) => problem(
            "has neither `from` nor `value`".into(),
            "add from = \"market_region\" (or another lookup) or value = \"...\"",
        ),
        (None, Some(value)) => {
            if let Some(message) = value.problem() {
                problem(
                    message.into(),
                    "list non-empty values without commas, e.g. [\"Alumni\", \"Faculty\"]",
                );
            }
            if !entry.map.is_empty() || entry.default.is_some() || entry.case.is_some() {
                problem(
                    "`map`, `default` and `case` apply to lookups (`from`), not to a constant"
                        .into(),
                    "remove them or use `from`",
                );
            }
        }
        (Some(_), None) => {}
    }
    let copies_attribute = entry.from == Some(LookupSource::Attribute);
    match (&entry.attribute, copies_attribute) {
        (None, true) => problem(
            "`from = \"attribute\"` needs `attribute`, the attribute to copy".into(),
            "add attribute = \"givenName\" (or another attribute of the form)",
        ),
        (Some(name), false) => problem(
            format!(
                "`attribute = \"{}\"` only applies to from = \"attribute\"",
                truncate(name, 60)
            ),
            "remove `attribute` or set from = \"attribute\"",
        ),
        (Some(name), true) if name.trim().is_empty() => problem(
            "`attribute` is empty".into(),
            "name the attribute to copy, e.g. attribute = \"givenName\"",
        ),
        _ => {}
    }
}

/// The value a prefill lookup copies from another attribute, with its JSON type kept.
pub(crate) fn bare_from_attribute(value: &AttributeValue) -> Option<BareValue> {
    match &value.value {
        serde_json::Value::String(text) => Some(BareValue::String(text.clone())),
        serde_json::Value::Bool(b) => Some(BareValue::Boolean(*b)),
        serde_json::Value::Number(n) => n.as_i64().map(BareValue::Int64),
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items
                .iter()
                .filter_map(serde_json::Value::as_str)
                .filter(|item| !item.is_empty() && !item.contains(','))
                .map(str::to_owned)
                .collect();
            (!items.is_empty()).then_some(BareValue::MultiValue(items))
        }
        _ => None,
    }
}
