//! Text shown to the person signing up (block pages, validation messages), in one language or
//! several. Entra passes the browser's language as `authenticationContext.client.locale`
//! (`en-us`, docs/protocols/extension-callbacks.md a.3); a rules file may give a text per locale
//! and we pick the closest one, so one deployment serves every language of a user flow.
//!
//! In TOML a text is either a plain string or a table with a required `default` entry:
//!
//! ```toml
//! message = "Sign-ups are closed."
//! message = { default = "Sign-ups are closed.", fr = "Les inscriptions sont fermées.", fr-ca = "…" }
//! ```
//!
//! Shared with attribute-collection-submit, which uses the same vocabulary.

use std::collections::BTreeMap;
use std::fmt;

use entra_extensions::ShowBlockPage;
use entra_extensions::rules_file::RulesReport;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_spanned::Spanned;

/// A user-facing text, plain or per locale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalizedText {
    /// The same text for every locale.
    Plain(String),
    /// Locale (`fr`, `fr-ca`, matched ignoring case) to text, plus the required `default`.
    PerLocale(BTreeMap<String, String>),
}

impl LocalizedText {
    /// The key of the entry used when no locale matches.
    pub const DEFAULT_KEY: &'static str = "default";

    /// The text for `locale`: the exact locale, else its language (`fr` for `fr-ca`), else
    /// `default`. Never fails: a table without `default` (refused by [`LocalizedText::validate`])
    /// yields its first entry.
    pub fn resolve(&self, locale: Option<&str>) -> &str {
        let entries = match self {
            LocalizedText::Plain(text) => return text,
            LocalizedText::PerLocale(entries) => entries,
        };
        let find = |key: &str| {
            entries
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        };
        let by_locale = locale.filter(|l| !l.is_empty()).and_then(|locale| {
            find(locale).or_else(|| locale.split(['-', '_']).next().and_then(find))
        });
        by_locale
            .or_else(|| find(Self::DEFAULT_KEY))
            .or_else(|| entries.values().next().map(String::as_str))
            .unwrap_or("")
    }

    /// Records why this text cannot be shown: an empty text, or a table without `default`.
    pub fn validate(text: &Spanned<LocalizedText>, key: &str, report: &mut RulesReport) {
        match text.get_ref() {
            LocalizedText::Plain(plain) if plain.trim().is_empty() => report.error(
                key,
                Some(text.span()),
                "is empty; Entra refuses an empty text",
                Some("write the text to show, or remove the key to use the default".into()),
            ),
            LocalizedText::Plain(_) => {}
            LocalizedText::PerLocale(entries) => {
                if !entries.contains_key(Self::DEFAULT_KEY) {
                    report.error(
                        key,
                        Some(text.span()),
                        "has texts per locale but no `default` entry for other locales",
                        Some(format!(
                            "add default = \"...\" to {}",
                            key.rsplit('.').next().unwrap_or(key)
                        )),
                    );
                }
                for (locale, value) in entries {
                    if value.trim().is_empty() {
                        report.error(
                            format!("{key}.{locale}"),
                            Some(text.span()),
                            "is empty; Entra refuses an empty text",
                            Some("write the text for this locale or remove the entry".into()),
                        );
                    }
                }
            }
        }
    }
}

impl<'de> Deserialize<'de> for LocalizedText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor)
    }
}

/// Reads a string or a table of strings, with an error that says which two forms are accepted.
struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = LocalizedText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a text, or a table of texts per locale with a `default` entry")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(LocalizedText::Plain(v.to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some((locale, text)) = map.next_entry::<String, String>()? {
            entries.insert(locale, text);
        }
        Ok(LocalizedText::PerLocale(entries))
    }
}

impl From<&str> for LocalizedText {
    fn from(text: &str) -> Self {
        LocalizedText::Plain(text.to_owned())
    }
}

/// The `showBlockPage` texts of a rule: `{ title = ..., message = ... }`; `title` is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockPageText {
    /// The page's heading (2025 docs); left out when absent.
    #[serde(default)]
    pub title: Option<Spanned<LocalizedText>>,
    /// Why the sign-up stops (required: a block page without a reason helps no one).
    pub message: Spanned<LocalizedText>,
}

impl BlockPageText {
    /// The page for the caller's locale.
    pub fn page(&self, locale: Option<&str>) -> ShowBlockPage {
        let page = ShowBlockPage::new(self.message.get_ref().resolve(locale));
        match &self.title {
            Some(title) => page.with_title(title.get_ref().resolve(locale)),
            None => page,
        }
    }

    /// Checks both texts.
    pub fn validate(&self, key: &str, report: &mut RulesReport) {
        if let Some(title) = &self.title {
            LocalizedText::validate(title, &format!("{key}.title"), report);
        }
        LocalizedText::validate(&self.message, &format!("{key}.message"), report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_locale(entries: &[(&str, &str)]) -> LocalizedText {
        LocalizedText::PerLocale(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn the_closest_locale_wins() {
        let text = per_locale(&[
            ("default", "Closed"),
            ("fr", "Fermé"),
            ("fr-CA", "Fermé (QC)"),
        ]);
        assert_eq!(text.resolve(Some("fr-ca")), "Fermé (QC)");
        assert_eq!(text.resolve(Some("fr-fr")), "Fermé");
        assert_eq!(text.resolve(Some("FR")), "Fermé");
        assert_eq!(text.resolve(Some("de-de")), "Closed");
        assert_eq!(text.resolve(None), "Closed");
        assert_eq!(text.resolve(Some("")), "Closed");
        assert_eq!(LocalizedText::from("x").resolve(Some("fr")), "x");
    }

    #[test]
    fn a_table_without_default_still_resolves() {
        let text = per_locale(&[("fr", "Fermé")]);
        assert_eq!(text.resolve(Some("en-us")), "Fermé");
        assert_eq!(per_locale(&[]).resolve(None), "");
    }
}
