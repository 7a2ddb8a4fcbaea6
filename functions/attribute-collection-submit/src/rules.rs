//! The `[attribute_collection_submit]` section of the rules file: how the submitted sign-up form
//! is checked, tidied and, when it must be, refused (docs/protocols/extension-callbacks.md a.7).
//!
//! ```toml
//! [attribute_collection_submit]
//! timeout_ms = 1000                                        # Entra's timeoutInMilliseconds
//! extensions_app_id = "7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13" # the b2c-extensions-app
//! message = "Please fix the errors below to continue."      # page message of validation errors
//!
//! [[attribute_collection_submit.attributes]]
//! name = "loyaltyNumber"              # extension_{appIdNoDashes}_loyaltyNumber on the form
//! normalize = ["trim", "uppercase"]
//! pattern = "LN-[0-9]{6}"             # the whole value must match
//! unique = true                       # no other account may hold it (Graph $filter)
//! on_error = "allow"                  # Graph failed or was late: "allow" | "block" | "error"
//! messages.unique = { default = "Already in use.", fr = "Déjà utilisé." }
//! ```
//!
//! Each `attributes` entry names one attribute of the form: a built-in name (`city`), the short
//! name of a custom attribute (`loyaltyNumber`, found as `extension_{appId}_loyaltyNumber`), or the
//! full `extension_…` name. `email` and `EmailAddress` name the same attribute (Entra uses both,
//! a.6/a.7). An attribute the callout does not carry is not on this sign-up form, and its rule is
//! skipped: Entra only accepts errors for attributes it collected (a.7, UNCERTAIN otherwise).
//!
//! Per attribute, in order: `normalize` (string values: `trim`, `collapse_spaces`, `lowercase`,
//! `uppercase`), then the checks (`required`, `min_length`/`max_length` in characters, `pattern`,
//! `allowed_values` (ignoring case; the configured spelling is sent back), `min`/`max` for
//! numbers, email format and `allowed_domains`/`denied_domains` for email attributes (`email`,
//! `EmailAddress`, or `kind = "email"`)), then `unique`. An empty optional value passes. A
//! multi-valued attribute (`multi_valued = true`, or a JSON array) is checked per selected value.
//! The first failing check gives the attribute's message.
//!
//! The answer: any `block` (a failed check with `on_invalid = "block"`, a denied domain with
//! `on_denied_domain = "block"`, or `on_error = "block"`) answers `showBlockPage` (first in rule
//! order); else any failed check answers `showValidationError` with one message per attribute;
//! else, when normalisation changed a value, `modifyAttributeValues` with the changed values; else
//! `continueWithDefaultBehavior`.

use std::time::Duration;

use attribute_collection_start::matching::{ClientScope, is_guid, truncate, validate_domains};
use attribute_collection_start::text::{BlockPageText, LocalizedText};
use entra_extensions::budget::{MAX_TIMEOUT_MS, MIN_TIMEOUT_MS};
use entra_extensions::rules_file::{RulesReport, ValidateRules};
use serde::Deserialize;
use serde_spanned::Spanned;

/// The rules file section this function reads.
pub const SECTION: &str = "attribute_collection_submit";

/// Entra's default extension timeout, used when `timeout_ms` is not set.
pub const DEFAULT_TIMEOUT_MS: u64 = 1000;

/// Longest pattern accepted, and the compiled size limit: patterns are configuration, but a
/// runaway one must not eat the function's memory.
const MAX_PATTERN_LEN: usize = 1024;
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// `[attribute_collection_submit]`. Defaults (no section, or an empty one): no attribute rules,
/// so every submission gets `continueWithDefaultBehavior`, with a 1000 ms budget.
///
/// Fallback when the directory (Graph) fails or is late during a `unique` check: per rule
/// `on_error`, default **`allow`** (the value is accepted and the call logged with
/// `fallback = true`): availability over strictness, because Entra turns a late or failed answer
/// into a generic sign-up error for everyone (c.2), which is worse than a rare duplicate that a
/// later reconciliation can catch. Choose `block` (a friendly block page, `unavailable_block`) or
/// `error` (a validation error asking to retry, `messages.unavailable`) where duplicates must
/// never happen. Custom extensions that fail or are late are skipped the same way.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeCollectionSubmitRules {
    /// The extension's `timeoutInMilliseconds` as configured in Entra (200-2000).
    #[serde(default)]
    pub timeout_ms: Option<Spanned<u64>>,
    /// Application (client) id of the tenant's `b2c-extensions-app`, which owns the custom
    /// attributes (`extension_{appIdNoDashes}_{name}`).
    #[serde(default)]
    pub extensions_app_id: Option<Spanned<String>>,
    /// The page-level message of `showValidationError`.
    #[serde(default)]
    pub message: Option<Spanned<LocalizedText>>,
    /// The page of rules that block, unless the rule has its own.
    #[serde(default)]
    pub block: Option<Spanned<BlockPageText>>,
    /// The page of `on_error = "block"`, unless the rule has its own.
    #[serde(default)]
    pub unavailable_block: Option<Spanned<BlockPageText>>,
    /// One entry per attribute (an attribute may have several, e.g. scoped to different apps).
    #[serde(default)]
    pub attributes: Vec<Spanned<AttributeRule>>,
}

impl AttributeCollectionSubmitRules {
    /// Entra's timeout for this extension.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(
            self.timeout_ms
                .as_ref()
                .map_or(DEFAULT_TIMEOUT_MS, |t| *t.get_ref()),
        )
    }

    /// Whether any rule needs the directory (a Graph client).
    pub fn needs_graph(&self) -> bool {
        self.attributes
            .iter()
            .any(|rule| rule.get_ref().is_unique())
    }
}

/// One `[[attribute_collection_submit.attributes]]` entry; see the module documentation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeRule {
    /// The attribute: `city`, `email`, a custom attribute's short name or its full
    /// `extension_…` name.
    pub name: Spanned<String>,
    /// `text` (default) or `email` (format and domain checks).
    #[serde(default)]
    pub kind: Option<Spanned<AttributeKindRule>>,
    /// A string holding comma-delimited selections (check boxes, multi-select).
    #[serde(default)]
    pub multi_valued: bool,
    /// Only sign-ups through these client applications (appId).
    #[serde(default)]
    pub client_apps: Vec<Spanned<String>>,
    /// Every client application but these.
    #[serde(default)]
    pub except_client_apps: Vec<Spanned<String>>,
    /// An empty value fails (otherwise an empty value passes every check).
    #[serde(default)]
    pub required: bool,
    /// Fewest characters (Unicode scalar values) per value.
    #[serde(default)]
    pub min_length: Option<Spanned<u64>>,
    /// Most characters per value (Entra stores at most 250 for strings).
    #[serde(default)]
    pub max_length: Option<Spanned<u64>>,
    /// A regular expression (Rust `regex` syntax) the whole value must match.
    #[serde(default)]
    pub pattern: Option<Spanned<String>>,
    /// The accepted values, compared ignoring case; the configured spelling is sent back.
    #[serde(default)]
    pub allowed_values: Option<Spanned<Vec<String>>>,
    /// Lower bound of an int64 attribute.
    #[serde(default)]
    pub min: Option<Spanned<i64>>,
    /// Upper bound of an int64 attribute.
    #[serde(default)]
    pub max: Option<Spanned<i64>>,
    /// Email attributes only: the domain must be one of these (subdomains included).
    #[serde(default)]
    pub allowed_domains: Vec<Spanned<String>>,
    /// Email attributes only: the domain must be none of these (subdomains included).
    #[serde(default)]
    pub denied_domains: Vec<Spanned<String>>,
    /// What a domain outside the lists answers (default: `on_invalid`).
    #[serde(default)]
    pub on_denied_domain: Option<Spanned<Violation>>,
    /// What a failed check answers: `error` (default) or `block`.
    #[serde(default)]
    pub on_invalid: Option<Spanned<Violation>>,
    /// Applied in order to string values before the checks.
    #[serde(default)]
    pub normalize: Vec<Spanned<Normalization>>,
    /// No other account may hold the value (needs `extensions_app_id` or a full
    /// `extension_…` name, and the `[graph]` configuration).
    #[serde(default)]
    pub unique: Option<Spanned<bool>>,
    /// What a failed or late uniqueness check answers (default `allow`).
    #[serde(default)]
    pub on_error: Option<Spanned<OnError>>,
    /// Texts replacing the default messages.
    #[serde(default)]
    pub messages: Option<Spanned<Messages>>,
    /// This rule's block page (else the section's, else the default).
    #[serde(default)]
    pub block: Option<Spanned<BlockPageText>>,
    /// This rule's `on_error = "block"` page (else the section's, else the default).
    #[serde(default)]
    pub unavailable_block: Option<Spanned<BlockPageText>>,
}

impl AttributeRule {
    /// `unique = true`.
    pub fn is_unique(&self) -> bool {
        self.unique.as_ref().is_some_and(|u| *u.get_ref())
    }

    /// `email`, `EmailAddress` or `kind = "email"`.
    pub fn is_email(&self) -> bool {
        is_email_name(self.name.get_ref())
            || self
                .kind
                .as_ref()
                .is_some_and(|k| *k.get_ref() == AttributeKindRule::Email)
    }
}

/// The names Entra gives the sign-up email attribute (`EmailAddress` at start, `email` at submit).
pub fn is_email_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("email") || name.eq_ignore_ascii_case("EmailAddress")
}

/// What kind of value an attribute holds, for the checks that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeKindRule {
    Text,
    Email,
}

/// What a failed check answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Violation {
    /// `showValidationError`: the user fixes the value.
    #[default]
    Error,
    /// `showBlockPage`: the sign-up stops.
    Block,
}

/// What a uniqueness check answers when the directory fails or is late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Accept the value (the default; see [`AttributeCollectionSubmitRules`]).
    #[default]
    Allow,
    /// Stop the sign-up with the `unavailable_block` page.
    Block,
    /// Ask the user to try again (`messages.unavailable`).
    Error,
}

/// A change made to string values before they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// Remove leading and trailing white space.
    Trim,
    /// Replace every run of white space by one space.
    CollapseSpaces,
    #[serde(alias = "lower")]
    Lowercase,
    #[serde(alias = "upper")]
    Uppercase,
}

impl Normalization {
    /// `value` after this step.
    pub fn apply(self, value: &str) -> String {
        match self {
            Normalization::Trim => value.trim().to_owned(),
            Normalization::CollapseSpaces => {
                let mut out = String::with_capacity(value.len());
                let mut in_space = false;
                for c in value.chars() {
                    if c.is_whitespace() {
                        if !in_space {
                            out.push(' ');
                        }
                        in_space = true;
                    } else {
                        out.push(c);
                        in_space = false;
                    }
                }
                out
            }
            Normalization::Lowercase => value.to_lowercase(),
            Normalization::Uppercase => value.to_uppercase(),
        }
    }
}

/// Texts per check; `{min_length}`, `{max_length}`, `{min}` and `{max}` are replaced by the
/// rule's bounds.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Messages {
    /// Nothing entered.
    #[serde(default)]
    pub required: Option<Spanned<LocalizedText>>,
    /// Too short.
    #[serde(default)]
    pub min_length: Option<Spanned<LocalizedText>>,
    /// Too long.
    #[serde(default)]
    pub max_length: Option<Spanned<LocalizedText>>,
    /// Does not match `pattern`.
    #[serde(default)]
    pub pattern: Option<Spanned<LocalizedText>>,
    /// Not one of `allowed_values`.
    #[serde(default)]
    pub allowed_values: Option<Spanned<LocalizedText>>,
    /// Below `min`.
    #[serde(default)]
    pub min: Option<Spanned<LocalizedText>>,
    /// Above `max`.
    #[serde(default)]
    pub max: Option<Spanned<LocalizedText>>,
    /// Not an email address.
    #[serde(default)]
    pub email: Option<Spanned<LocalizedText>>,
    /// Domain denied or not allowed.
    #[serde(default)]
    pub domain: Option<Spanned<LocalizedText>>,
    /// Another account holds the value.
    #[serde(default)]
    pub unique: Option<Spanned<LocalizedText>>,
    /// The uniqueness check could not run (`on_error = "error"`).
    #[serde(default)]
    pub unavailable: Option<Spanned<LocalizedText>>,
}

impl Messages {
    fn entries(&self) -> [(&'static str, &Option<Spanned<LocalizedText>>); 11] {
        [
            ("required", &self.required),
            ("min_length", &self.min_length),
            ("max_length", &self.max_length),
            ("pattern", &self.pattern),
            ("allowed_values", &self.allowed_values),
            ("min", &self.min),
            ("max", &self.max),
            ("email", &self.email),
            ("domain", &self.domain),
            ("unique", &self.unique),
            ("unavailable", &self.unavailable),
        ]
    }
}

/// Compiles `pattern` so that it must match the whole value (like HTML's `pattern` attribute).
pub fn compile_pattern(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!("is longer than {MAX_PATTERN_LEN} bytes"));
    }
    let build = |p: &str| {
        regex::RegexBuilder::new(p)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
    };
    // The pattern as written first, so the error's position refers to what the operator wrote.
    build(pattern).map_err(|error| regex_message(&error))?;
    build(&format!("^(?:{pattern})$")).map_err(|error| regex_message(&error))
}

/// The one line of a `regex` error that says what is wrong.
fn regex_message(error: &regex::Error) -> String {
    let text = error.to_string();
    let what = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .unwrap_or(text.lines().last().unwrap_or("invalid"));
    format!("is not a valid regular expression: {what}")
}

impl ValidateRules for AttributeCollectionSubmitRules {
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
        if let Some(app_id) = &self.extensions_app_id {
            let id = app_id.get_ref().trim();
            let no_dashes = id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit());
            if !is_guid(id) && !no_dashes {
                report.error(
                    format!("{SECTION}.extensions_app_id"),
                    Some(app_id.span()),
                    format!("`{}` is not an application id", truncate(id, 60)),
                    Some(
                        "use the Application (client) ID of the tenant's b2c-extensions-app".into(),
                    ),
                );
            }
        }
        if let Some(message) = &self.message {
            LocalizedText::validate(message, &format!("{SECTION}.message"), report);
        }
        for (name, page) in [
            ("block", &self.block),
            ("unavailable_block", &self.unavailable_block),
        ] {
            if let Some(page) = page {
                page.get_ref()
                    .validate(&format!("{SECTION}.{name}"), report);
            }
        }
        for (index, rule) in self.attributes.iter().enumerate() {
            rule.get_ref().validate(
                &format!("{SECTION}.attributes[{index}]"),
                rule.span(),
                self.extensions_app_id.is_some(),
                report,
            );
        }
    }
}

impl AttributeRule {
    fn validate(
        &self,
        key: &str,
        span: std::ops::Range<usize>,
        has_app_id: bool,
        report: &mut RulesReport,
    ) {
        let name = self.name.get_ref();
        if name.trim().is_empty() || name.chars().any(char::is_whitespace) {
            report.error(
                format!("{key}.name"),
                Some(self.name.span()),
                "is not an attribute name",
                Some(
                    "use the attribute's name as Entra sends it (city, email) or a custom \
                     attribute's short name (loyaltyNumber)"
                        .into(),
                ),
            );
        }
        ClientScope::validate(&self.client_apps, &self.except_client_apps, key, report);
        if let (Some(min), Some(max)) = (&self.min_length, &self.max_length)
            && min.get_ref() > max.get_ref()
        {
            report.error(
                format!("{key}.min_length"),
                Some(min.span()),
                format!(
                    "is {} but max_length is {}: no value could pass",
                    min.get_ref(),
                    max.get_ref()
                ),
                Some("make min_length at most max_length".into()),
            );
        }
        if let (Some(min), Some(max)) = (&self.min, &self.max)
            && min.get_ref() > max.get_ref()
        {
            report.error(
                format!("{key}.min"),
                Some(min.span()),
                format!(
                    "is {} but max is {}: no value could pass",
                    min.get_ref(),
                    max.get_ref()
                ),
                Some("make min at most max".into()),
            );
        }
        if let Some(pattern) = &self.pattern
            && let Err(message) = compile_pattern(pattern.get_ref())
        {
            report.error(
                format!("{key}.pattern"),
                Some(pattern.span()),
                message,
                Some(
                    "fix the expression (Rust regex syntax; use single quotes in TOML, \
                     e.g. '^\\d{4}$', to avoid escaping backslashes)"
                        .into(),
                ),
            );
        }
        if let Some(values) = &self.allowed_values {
            let list = values.get_ref();
            if list.is_empty() {
                report.error(
                    format!("{key}.allowed_values"),
                    Some(values.span()),
                    "is empty: no value could pass",
                    Some("list the accepted values or remove the key".into()),
                );
            }
            if list.iter().any(|v| v.trim().is_empty()) {
                report.error(
                    format!("{key}.allowed_values"),
                    Some(values.span()),
                    "has an empty value",
                    Some("remove the empty entry; use required = false for optional fields".into()),
                );
            }
            if self.multi_valued && list.iter().any(|v| v.contains(',')) {
                report.error(
                    format!("{key}.allowed_values"),
                    Some(values.span()),
                    "has a value containing a comma, which a multi-valued attribute cannot hold",
                    Some("remove the comma from the value".into()),
                );
            }
        }
        let has_domains = !self.allowed_domains.is_empty() || !self.denied_domains.is_empty();
        if has_domains && !self.is_email() {
            let at = self
                .allowed_domains
                .first()
                .or(self.denied_domains.first())
                .map(Spanned::span);
            report.error(
                key,
                at,
                format!(
                    "has domain lists but `{}` is not an email attribute",
                    truncate(name, 60)
                ),
                Some("add kind = \"email\", or name the email attribute (email)".into()),
            );
        }
        validate_domains(
            &self.allowed_domains,
            &format!("{key}.allowed_domains"),
            report,
        );
        validate_domains(
            &self.denied_domains,
            &format!("{key}.denied_domains"),
            report,
        );
        if let Some(on_denied) = &self.on_denied_domain
            && !has_domains
        {
            report.error(
                format!("{key}.on_denied_domain"),
                Some(on_denied.span()),
                "has no domain list to act on",
                Some("add denied_domains or allowed_domains, or remove the key".into()),
            );
        }
        let normalizations: Vec<Normalization> =
            self.normalize.iter().map(|n| *n.get_ref()).collect();
        if normalizations.contains(&Normalization::Lowercase)
            && normalizations.contains(&Normalization::Uppercase)
            && let Some(last) = self.normalize.last()
        {
            report.error(
                format!("{key}.normalize"),
                Some(last.span()),
                "has both lowercase and uppercase",
                Some("keep one of them".into()),
            );
        }
        if let Some(unique) = &self.unique
            && *unique.get_ref()
        {
            let full_name = name.starts_with("extension_");
            if !has_app_id && !full_name && !is_email_name(name) {
                report.error(
                    format!("{key}.unique"),
                    Some(unique.span()),
                    format!(
                        "needs the custom attribute's directory name, but `{}` is a short name \
                         and `extensions_app_id` is not set",
                        truncate(name, 60)
                    ),
                    Some(
                        "set extensions_app_id = \"<b2c-extensions-app id>\" in \
                         [attribute_collection_submit], or write the full \
                         extension_<appIdNoDashes>_<name>"
                            .into(),
                    ),
                );
            }
            if is_email_name(name) {
                report.error(
                    format!("{key}.unique"),
                    Some(unique.span()),
                    "the sign-up email is already unique: Entra refuses a second account with \
                     the same sign-in email",
                    Some("remove unique from the email rule".into()),
                );
            }
            if self.multi_valued {
                report.error(
                    format!("{key}.unique"),
                    Some(unique.span()),
                    "cannot apply to a multi-valued attribute",
                    Some("remove unique or multi_valued".into()),
                );
            }
        }
        if let Some(on_error) = &self.on_error
            && !self.is_unique()
        {
            report.error(
                format!("{key}.on_error"),
                Some(on_error.span()),
                "applies only to uniqueness checks (the only check that calls the directory)",
                Some("remove on_error, or add unique = true".into()),
            );
        }
        if let Some(messages) = &self.messages {
            for (check, text) in messages.get_ref().entries() {
                if let Some(text) = text {
                    LocalizedText::validate(text, &format!("{key}.messages.{check}"), report);
                }
            }
        }
        for (page_name, page) in [
            ("block", &self.block),
            ("unavailable_block", &self.unavailable_block),
        ] {
            if let Some(page) = page {
                page.get_ref()
                    .validate(&format!("{key}.{page_name}"), report);
            }
        }
        let checks_something = self.required
            || self.min_length.is_some()
            || self.max_length.is_some()
            || self.pattern.is_some()
            || self.allowed_values.is_some()
            || self.min.is_some()
            || self.max.is_some()
            || has_domains
            || self.is_email()
            || !self.normalize.is_empty()
            || self.is_unique();
        if !checks_something {
            report.error(
                key,
                Some(span),
                format!(
                    "does nothing with `{}`: no check and no normalisation",
                    truncate(name, 60)
                ),
                Some("add a check (required, pattern, ...) or normalize, or remove it".into()),
            );
        }
    }
}
