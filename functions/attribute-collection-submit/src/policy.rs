//! The submit rules compiled for the hot path (patterns compiled once, texts resolved against
//! defaults) and the local part of their evaluation: normalisation and every check that needs no
//! I/O. Uniqueness, which needs the directory, is in [`crate::uniqueness`].

use attribute_collection_start::matching::{ClientScope, domain_in_any, email_domain};
use attribute_collection_start::text::{BlockPageText, LocalizedText};
use entra_extensions::{AttributeValue, BareValue};
use entra_graph::ExtensionAttribute;
use serde_json::Value;
use serde_spanned::Spanned;

use crate::rules::{
    AttributeCollectionSubmitRules, AttributeRule, Messages, Normalization, OnError, Violation,
    compile_pattern, is_email_name,
};

/// Default page message of `showValidationError`.
pub const DEFAULT_PAGE_MESSAGE: &str = "Please fix the errors below to continue.";
/// Default page of rules that block.
pub const DEFAULT_BLOCK_MESSAGE: &str = "We can't create an account with the details you entered. \
     Please contact the owner of the application or website.";
/// Default title of the `on_error = "block"` page.
pub const DEFAULT_UNAVAILABLE_TITLE: &str = "Please try again later";
/// Default message of the `on_error = "block"` page.
pub const DEFAULT_UNAVAILABLE_MESSAGE: &str =
    "We can't finish your sign-up right now. Please try again in a few minutes.";

/// Why the rules could not be compiled. Validation refuses these first, so this only happens
/// for a section built in code without validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("attribute rule `{rule}`: pattern {message}")]
    Pattern { rule: String, message: String },
}

/// One check of an attribute rule, naming its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    Required,
    MinLength,
    MaxLength,
    Pattern,
    AllowedValues,
    Min,
    Max,
    Email,
    Domain,
    Unique,
    Unavailable,
}

/// The messages of one rule, configured or default.
#[derive(Debug, Clone)]
struct MessageTexts {
    configured: Messages,
    min_length: Option<u64>,
    max_length: Option<u64>,
    min: Option<i64>,
    max: Option<i64>,
}

impl MessageTexts {
    fn text(&self, check: Check, locale: Option<&str>) -> String {
        let m = &self.configured;
        let (configured, default) = match check {
            Check::Required => (&m.required, "This field is required."),
            Check::MinLength => (&m.min_length, "Enter at least {min_length} characters."),
            Check::MaxLength => (&m.max_length, "Enter at most {max_length} characters."),
            Check::Pattern => (&m.pattern, "This value is not in the expected format."),
            Check::AllowedValues => (&m.allowed_values, "Choose one of the offered values."),
            Check::Min => (&m.min, "Enter a number of at least {min}."),
            Check::Max => (&m.max, "Enter a number of at most {max}."),
            Check::Email => (&m.email, "Enter a valid email address."),
            Check::Domain => (
                &m.domain,
                "Email addresses from this domain can't be used to sign up.",
            ),
            Check::Unique => (&m.unique, "This value is already in use."),
            Check::Unavailable => (
                &m.unavailable,
                "We couldn't check this value right now. Please try again.",
            ),
        };
        let text = configured
            .as_ref()
            .map_or(default, |text| text.get_ref().resolve(locale));
        let bound = |value: Option<String>| value.unwrap_or_default();
        text.replace(
            "{min_length}",
            &bound(self.min_length.map(|v| v.to_string())),
        )
        .replace(
            "{max_length}",
            &bound(self.max_length.map(|v| v.to_string())),
        )
        .replace("{min}", &bound(self.min.map(|v| v.to_string())))
        .replace("{max}", &bound(self.max.map(|v| v.to_string())))
    }
}

/// A rule's checks, ready to run.
#[derive(Debug, Clone)]
pub(crate) struct AttributePolicy {
    /// The name as configured, for logs.
    pub label: String,
    names: Vec<String>,
    /// `_name` for matching `extension_{any app id, hex without dashes}_name` when no extensions
    /// app is configured.
    suffix: Option<String>,
    /// The directory property of a uniqueness check.
    pub graph_property: Option<String>,
    scope: ClientScope,
    email: bool,
    multi_valued: bool,
    required: bool,
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<regex::Regex>,
    allowed_values: Vec<String>,
    min: Option<i64>,
    max: Option<i64>,
    allowed_domains: Vec<String>,
    denied_domains: Vec<String>,
    on_denied_domain: Violation,
    pub on_invalid: Violation,
    normalize: Vec<Normalization>,
    pub unique: bool,
    pub on_error: OnError,
    messages: MessageTexts,
    pub block: BlockPageText,
    pub unavailable_block: BlockPageText,
}

/// Every rule, compiled.
#[derive(Debug, Clone)]
pub(crate) struct SubmitPolicy {
    pub attributes: Vec<AttributePolicy>,
    pub page_message: LocalizedText,
}

fn plain_page(title: Option<&str>, message: &str) -> BlockPageText {
    BlockPageText {
        title: title.map(|t| Spanned::new(0..0, LocalizedText::from(t))),
        message: Spanned::new(0..0, LocalizedText::from(message)),
    }
}

impl SubmitPolicy {
    pub fn new(rules: &AttributeCollectionSubmitRules) -> Result<Self, PolicyError> {
        let app_id = rules
            .extensions_app_id
            .as_ref()
            .map(|id| id.get_ref().trim().to_owned());
        let block = rules.block.as_ref().map_or_else(
            || plain_page(None, DEFAULT_BLOCK_MESSAGE),
            |page| page.get_ref().clone(),
        );
        let unavailable = rules.unavailable_block.as_ref().map_or_else(
            || plain_page(Some(DEFAULT_UNAVAILABLE_TITLE), DEFAULT_UNAVAILABLE_MESSAGE),
            |page| page.get_ref().clone(),
        );
        let attributes = rules
            .attributes
            .iter()
            .map(|rule| {
                AttributePolicy::new(rule.get_ref(), app_id.as_deref(), &block, &unavailable)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            attributes,
            page_message: rules.message.as_ref().map_or_else(
                || LocalizedText::from(DEFAULT_PAGE_MESSAGE),
                |m| m.get_ref().clone(),
            ),
        })
    }
}

impl AttributePolicy {
    fn new(
        rule: &AttributeRule,
        app_id: Option<&str>,
        block: &BlockPageText,
        unavailable: &BlockPageText,
    ) -> Result<Self, PolicyError> {
        let name = rule.name.get_ref().trim().to_owned();
        let email_name = is_email_name(&name);
        let full_name = name.starts_with("extension_");
        let directory_name = match (full_name, email_name) {
            (true, _) => Some(name.clone()),
            (false, true) => None,
            (false, false) => app_id.map(|app_id| ExtensionAttribute::name(app_id, &name)),
        };
        let mut names = if email_name {
            vec!["email".to_owned(), "EmailAddress".to_owned()]
        } else {
            vec![name.clone()]
        };
        if let (Some(directory_name), false) = (&directory_name, full_name) {
            names.push(directory_name.clone());
        }
        let pattern = rule
            .pattern
            .as_ref()
            .map(|p| {
                compile_pattern(p.get_ref()).map_err(|message| PolicyError::Pattern {
                    rule: name.clone(),
                    message,
                })
            })
            .transpose()?;
        let texts = |list: &[Spanned<String>]| {
            list.iter()
                .map(|d| d.get_ref().trim().to_owned())
                .collect::<Vec<_>>()
        };
        let on_invalid = rule
            .on_invalid
            .as_ref()
            .map_or(Violation::Error, |v| *v.get_ref());
        Ok(Self {
            label: name.clone(),
            suffix: (!full_name && !email_name && app_id.is_none()).then(|| format!("_{name}")),
            graph_property: if rule.is_unique() {
                directory_name
            } else {
                None
            },
            names,
            scope: ClientScope::new(&rule.client_apps, &rule.except_client_apps),
            email: rule.is_email(),
            multi_valued: rule.multi_valued,
            required: rule.required,
            min_length: rule.min_length.as_ref().map(|v| *v.get_ref()),
            max_length: rule.max_length.as_ref().map(|v| *v.get_ref()),
            pattern,
            allowed_values: rule
                .allowed_values
                .as_ref()
                .map(|v| v.get_ref().iter().map(|s| s.trim().to_owned()).collect())
                .unwrap_or_default(),
            min: rule.min.as_ref().map(|v| *v.get_ref()),
            max: rule.max.as_ref().map(|v| *v.get_ref()),
            allowed_domains: texts(&rule.allowed_domains),
            denied_domains: texts(&rule.denied_domains),
            on_denied_domain: rule
                .on_denied_domain
                .as_ref()
                .map_or(on_invalid, |v| *v.get_ref()),
            on_invalid,
            normalize: rule.normalize.iter().map(|n| *n.get_ref()).collect(),
            unique: rule.is_unique(),
            on_error: rule
                .on_error
                .as_ref()
                .map_or(OnError::Allow, |v| *v.get_ref()),
            messages: MessageTexts {
                configured: rule
                    .messages
                    .as_ref()
                    .map(|m| m.get_ref().clone())
                    .unwrap_or_default(),
                min_length: rule.min_length.as_ref().map(|v| *v.get_ref()),
                max_length: rule.max_length.as_ref().map(|v| *v.get_ref()),
                min: rule.min.as_ref().map(|v| *v.get_ref()),
                max: rule.max.as_ref().map(|v| *v.get_ref()),
            },
            block: rule
                .block
                .as_ref()
                .map_or_else(|| block.clone(), |page| page.get_ref().clone()),
            unavailable_block: rule
                .unavailable_block
                .as_ref()
                .map_or_else(|| unavailable.clone(), |page| page.get_ref().clone()),
        })
    }

    /// Whether the rule applies to a sign-up through `app_id`.
    pub fn applies_to(&self, app_id: Option<&str>) -> bool {
        self.scope.applies_to(app_id)
    }

    /// Whether `attribute` (as Entra named it) is the one this rule is about.
    pub fn matches(&self, attribute: &str) -> bool {
        if self.names.iter().any(|n| n.eq_ignore_ascii_case(attribute)) {
            return true;
        }
        let Some(suffix) = &self.suffix else {
            return false;
        };
        let lower = attribute.to_ascii_lowercase();
        lower.starts_with("extension_")
            && lower.len() > "extension_".len() + suffix.len()
            && lower.ends_with(&suffix.to_ascii_lowercase())
            && lower
                .get("extension_".len()..lower.len() - suffix.len())
                .is_some_and(|app| !app.is_empty() && app.chars().all(|c| c.is_ascii_hexdigit()))
    }

    /// The message of a failed check, in the caller's language.
    pub fn message(&self, check: Check, locale: Option<&str>) -> String {
        self.messages.text(check, locale)
    }

    /// What a failed `check` answers.
    pub fn violation(&self, check: Check) -> Violation {
        if check == Check::Domain {
            self.on_denied_domain
        } else {
            self.on_invalid
        }
    }

    /// Reads the attribute as this rule sees it.
    pub fn read(&self, value: &AttributeValue) -> Current {
        Current::read(&value.value, self.multi_valued)
    }

    /// Normalises `current` in place.
    pub fn normalize(&self, current: &mut Current) {
        if self.normalize.is_empty() {
            return;
        }
        let apply = |text: &str| {
            self.normalize
                .iter()
                .fold(text.to_owned(), |value, step| step.apply(&value))
        };
        match current {
            Current::Text(text) => *text = apply(text),
            Current::Items(items) => {
                *items = items
                    .iter()
                    .map(|item| apply(item))
                    .filter(|item| !item.is_empty())
                    .collect();
            }
            _ => {}
        }
    }

    /// Runs every local check in order; the first failure is returned. `allowed_values`
    /// replaces a value matched ignoring case by its configured spelling.
    pub fn check(&self, current: &mut Current) -> Result<(), Check> {
        if current.is_empty() {
            return if self.required {
                Err(Check::Required)
            } else {
                Ok(())
            };
        }
        let items = current.texts();
        let chars = |item: &String| item.chars().count() as u64;
        if let Some(min) = self.min_length
            && items.iter().any(|item| chars(item) < min)
        {
            return Err(Check::MinLength);
        }
        if let Some(max) = self.max_length
            && items.iter().any(|item| chars(item) > max)
        {
            return Err(Check::MaxLength);
        }
        if let Some(pattern) = &self.pattern
            && !items.iter().all(|item| pattern.is_match(item))
        {
            return Err(Check::Pattern);
        }
        if !self.allowed_values.is_empty() {
            let canonical = |item: &str| {
                self.allowed_values
                    .iter()
                    .find(|allowed| allowed.eq_ignore_ascii_case(item.trim()))
                    .cloned()
            };
            if !items.iter().all(|item| canonical(item).is_some()) {
                return Err(Check::AllowedValues);
            }
            match current {
                Current::Text(text) => {
                    if let Some(spelling) = canonical(text) {
                        *text = spelling;
                    }
                }
                Current::Items(list) => {
                    for item in list.iter_mut() {
                        if let Some(spelling) = canonical(item) {
                            *item = spelling;
                        }
                    }
                }
                _ => {}
            }
        }
        if let Current::Number(n) = current {
            if self.min.is_some_and(|min| *n < min) {
                return Err(Check::Min);
            }
            if self.max.is_some_and(|max| *n > max) {
                return Err(Check::Max);
            }
        }
        if self.email {
            for item in &items {
                if !is_email_address(item) {
                    return Err(Check::Email);
                }
                let domain = email_domain(item).unwrap_or_default();
                if (!self.allowed_domains.is_empty()
                    && !domain_in_any(&domain, &self.allowed_domains))
                    || domain_in_any(&domain, &self.denied_domains)
                {
                    return Err(Check::Domain);
                }
            }
        }
        Ok(())
    }
}

/// A plausible email address: one `@`, a local part, a dotted domain, no white space. Entra
/// verified the address already for email sign-ups; this catches free-text fields of kind email.
fn is_email_address(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !value.chars().any(char::is_whitespace)
}

/// An attribute value while the rules work on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Current {
    Text(String),
    /// The selections of a multi-valued attribute.
    Items(Vec<String>),
    Number(i64),
    Flag(bool),
    /// `null`: nothing entered.
    Empty,
    /// A JSON type no rule can check (an object, a fraction); left alone.
    Unreadable,
}

impl Current {
    fn read(value: &Value, multi_valued: bool) -> Self {
        match value {
            Value::String(text) if multi_valued => Current::Items(
                text.split(',')
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            Value::String(text) => Current::Text(text.clone()),
            Value::Array(items) => Current::Items(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            Value::Number(n) => n.as_i64().map_or(Current::Unreadable, Current::Number),
            Value::Bool(b) => Current::Flag(*b),
            Value::Null => Current::Empty,
            Value::Object(_) => Current::Unreadable,
        }
    }

    /// Nothing entered or selected.
    pub fn is_empty(&self) -> bool {
        match self {
            Current::Text(text) => text.is_empty(),
            Current::Items(items) => items.is_empty(),
            Current::Empty => true,
            _ => false,
        }
    }

    /// The values the text checks run on.
    fn texts(&self) -> Vec<String> {
        match self {
            Current::Text(text) => vec![text.clone()],
            Current::Items(items) => items.clone(),
            Current::Number(n) => vec![n.to_string()],
            Current::Flag(b) => vec![b.to_string()],
            Current::Empty | Current::Unreadable => Vec::new(),
        }
    }

    /// The OData literal of a uniqueness `$filter`, for values that have one.
    pub fn filter_literal(&self) -> Option<String> {
        match self {
            Current::Text(text) => Some(entra_graph::odata::quote(text)),
            Current::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The value to send back when it differs from what Entra sent.
    pub fn changed_from(&self, original: &Value) -> Option<BareValue> {
        let changed = match (self, original) {
            (Current::Text(text), Value::String(sent)) => text != sent,
            (Current::Items(items), Value::String(sent)) => items.join(",") != *sent,
            (Current::Items(items), Value::Array(sent)) => {
                items.len() != sent.len()
                    || items
                        .iter()
                        .zip(sent)
                        .any(|(item, sent)| sent.as_str() != Some(item.as_str()))
            }
            _ => false,
        };
        if !changed {
            return None;
        }
        match self {
            Current::Text(text) => Some(BareValue::String(text.clone())),
            // An emptied selection cannot be sent in the comma encoding; send the empty string.
            Current::Items(items) if items.is_empty() => Some(BareValue::String(String::new())),
            Current::Items(items) if items.iter().all(|i| !i.contains(',')) => {
                Some(BareValue::MultiValue(items.clone()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizations() {
        assert_eq!(Normalization::Trim.apply("  a b  "), "a b");
        assert_eq!(Normalization::CollapseSpaces.apply("a \t\n b  c"), "a b c");
        assert_eq!(Normalization::Lowercase.apply("ÀB"), "àb");
        assert_eq!(Normalization::Uppercase.apply("ln-1"), "LN-1");
    }

    #[test]
    fn email_addresses() {
        assert!(is_email_address("ava@example.com"));
        assert!(!is_email_address("ava@example"));
        assert!(!is_email_address("ava example@example.com"));
        assert!(!is_email_address("@example.com"));
        assert!(!is_email_address("a@b@example.com"));
        assert!(!is_email_address("a@example..com"));
    }

    #[test]
    fn values_are_read_by_type() {
        assert_eq!(
            Current::read(&Value::from("Alumni,Faculty"), true),
            Current::Items(vec!["Alumni".into(), "Faculty".into()])
        );
        assert_eq!(
            Current::read(&Value::from("Alumni,Faculty"), false),
            Current::Text("Alumni,Faculty".into())
        );
        assert_eq!(
            Current::read(&serde_json::json!(["A", 1, "B"]), false),
            Current::Items(vec!["A".into(), "B".into()])
        );
        assert_eq!(
            Current::read(&Value::from(2010), false),
            Current::Number(2010)
        );
        assert_eq!(Current::read(&Value::from(1.5), false), Current::Unreadable);
        assert!(Current::read(&Value::Null, false).is_empty());
        assert!(Current::read(&Value::from(""), true).is_empty());
    }

    #[test]
    fn changes_are_detected_against_what_entra_sent() {
        let sent = Value::from("a,b");
        assert_eq!(
            Current::Items(vec!["a".into(), "b".into()]).changed_from(&sent),
            None
        );
        assert_eq!(
            Current::Items(vec!["A".into(), "b".into()]).changed_from(&sent),
            Some(BareValue::MultiValue(vec!["A".into(), "b".into()]))
        );
        let array = serde_json::json!(["a", "b"]);
        assert_eq!(
            Current::Items(vec!["a".into(), "b".into()]).changed_from(&array),
            None
        );
        assert_eq!(Current::Number(1).changed_from(&Value::from(1)), None);
        assert_eq!(
            Current::Text("x".into()).changed_from(&Value::from(" x")),
            Some(BareValue::String("x".into()))
        );
    }
}
