//! The `[email_otp_send]` section of the rules file: what the one-time-code email says, per
//! language, and how the function behaves when its idempotency store fails.
//!
//! ```toml
//! [email_otp_send]
//! timeout_ms = 1000                 # the extension's timeoutInMilliseconds in Entra (200-2000)
//! app_name = "Contoso"              # {app_name}; else the client application's display name
//! from = "Contoso <no-reply@contoso.com>"   # else the mailer's configured sender
//! default_locale = "en"             # used when the caller's locale has no template
//! idempotency_ttl_secs = 600        # how long a sent code is remembered (60-86400)
//! on_idempotency_error = "send"     # or "fail": see IdempotencyFallback
//!
//! [email_otp_send.templates.en]
//! subject = "Your {app_name} verification code"
//! text = "Your code is {code}."
//! html = "<p>Your code is <b>{code}</b>.</p>"   # optional
//!
//! [email_otp_send.templates.de]
//! subject = "Ihr Bestätigungscode für {app_name}"
//! text = "Ihr Code lautet {code}."
//! ```
//!
//! Placeholders: `{code}`, `{email}` (alias `{identifier}`), `{app_name}`; `{{`/`}}` for
//! literal braces. Every text and HTML body must contain `{code}`; a subject must not (subjects
//! are shown in logs, mail server traces and lock-screen previews). The template is chosen by
//! `authenticationContext.client.locale` (`en-us`): the exact locale, else its language (`en`),
//! else `default_locale`.

use std::collections::BTreeMap;
use std::time::Duration;

use entra_extensions::budget::{MAX_TIMEOUT_MS, MIN_TIMEOUT_MS};
use entra_extensions::rules_file::{RulesReport, ValidateRules};
use serde::Deserialize;
use serde_spanned::Spanned;

use crate::template::{Placeholder, Template, Values};

/// The rules file section this function reads.
pub const SECTION: &str = "email_otp_send";
/// Entra's default extension timeout, used when `timeout_ms` is not set.
pub const DEFAULT_TIMEOUT_MS: u64 = 1000;
/// How long a sent code is remembered unless configured: Entra's email one-time codes are
/// short-lived, and a retry comes within seconds.
pub const DEFAULT_IDEMPOTENCY_TTL_SECS: u64 = 600;
/// The language used when the rules name none.
pub const DEFAULT_LOCALE: &str = "en";

const BUILT_IN_SUBJECT: &str = "Your verification code";
const BUILT_IN_TEXT: &str = "Your verification code is: {code}\n\n\
Enter it where you were asked to verify {email}. If you did not ask for a code, you can ignore \
this email.\n";

/// What to do when the idempotency store cannot be read or written in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdempotencyFallback {
    /// Send anyway (the default): a duplicate email on a retry is better than none.
    #[default]
    Send,
    /// Answer 500 without sending, so Entra's Microsoft-provider fallback sends the code.
    Fail,
}

/// `[email_otp_send]`. Defaults (no section): a built-in English message (subject "Your
/// verification code"), sender and app name from the mailer and the client application, a
/// budget of 1000 ms, markers kept 10 minutes.
///
/// Fallbacks (documented per dependency): the mailer failing or being late answers HTTP 500
/// before Entra's timeout, so Entra's `fallbackToMicrosoftProviderOnError` (when configured on
/// the listener) sends the code instead; the idempotency store failing follows
/// `on_idempotency_error` (default: send without the marker); a custom extension failing or
/// being late is skipped and the message as rendered is sent. Every fallback is logged with
/// `fallback = true`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailOtpSendRules {
    /// The extension's `timeoutInMilliseconds` as configured in Entra (200-2000).
    #[serde(default)]
    pub timeout_ms: Option<Spanned<u64>>,
    /// `{app_name}` in templates.
    #[serde(default)]
    pub app_name: Option<String>,
    /// Sender of the email; the mailer's configured sender when absent.
    #[serde(default)]
    pub from: Option<Spanned<String>>,
    /// Language used when the caller's locale has no template (`en` when absent).
    #[serde(default)]
    pub default_locale: Option<Spanned<String>>,
    /// How long the "this code was sent" marker is kept, in seconds (60-86400).
    #[serde(default)]
    pub idempotency_ttl_secs: Option<Spanned<u64>>,
    /// See [`IdempotencyFallback`].
    #[serde(default)]
    pub on_idempotency_error: IdempotencyFallback,
    /// Locale (`en`, `de`, `pt-br`; matched ignoring case) to message template.
    #[serde(default)]
    pub templates: BTreeMap<Spanned<String>, MessageTemplate>,
}

/// One language's message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageTemplate {
    pub subject: Spanned<String>,
    /// The plain-text body (required: every mail client can show it).
    pub text: Spanned<String>,
    /// An optional HTML alternative.
    #[serde(default)]
    pub html: Option<Spanned<String>>,
}

impl EmailOtpSendRules {
    /// Entra's timeout for this extension.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(
            self.timeout_ms
                .as_ref()
                .map_or(DEFAULT_TIMEOUT_MS, |t| *t.get_ref()),
        )
    }

    /// How long a sent-code marker is kept.
    pub fn idempotency_ttl(&self) -> Duration {
        Duration::from_secs(
            self.idempotency_ttl_secs
                .as_ref()
                .map_or(DEFAULT_IDEMPOTENCY_TTL_SECS, |t| *t.get_ref()),
        )
    }

    fn default_locale(&self) -> String {
        self.default_locale
            .as_ref()
            .map_or(DEFAULT_LOCALE.to_owned(), |l| normalize_locale(l.get_ref()))
    }
}

impl ValidateRules for EmailOtpSendRules {
    fn validate(&self, report: &mut RulesReport) {
        if let Some(timeout) = &self.timeout_ms {
            let ms = *timeout.get_ref();
            if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&ms) {
                report.error(
                    format!("{SECTION}.timeout_ms"),
                    Some(timeout.span()),
                    format!("is {ms}, outside the {MIN_TIMEOUT_MS}-{MAX_TIMEOUT_MS} ms Entra allows"),
                    Some(format!(
                        "set it to the extension's timeoutInMilliseconds in Entra, e.g. timeout_ms = {DEFAULT_TIMEOUT_MS}"
                    )),
                );
            }
        }
        if let Some(ttl) = &self.idempotency_ttl_secs {
            let secs = *ttl.get_ref();
            if !(60..=86_400).contains(&secs) {
                report.error(
                    format!("{SECTION}.idempotency_ttl_secs"),
                    Some(ttl.span()),
                    format!("is {secs}, outside 60-86400 seconds"),
                    Some(format!(
                        "idempotency_ttl_secs = {DEFAULT_IDEMPOTENCY_TTL_SECS} (a retry comes within seconds)"
                    )),
                );
            }
        }
        if let Some(from) = &self.from {
            let value = from.get_ref();
            if !value.contains('@') || value.chars().any(char::is_control) {
                report.error(
                    format!("{SECTION}.from"),
                    Some(from.span()),
                    "is not an email address",
                    Some(
                        "from = \"Contoso <no-reply@contoso.com>\" (a verified SES identity)"
                            .into(),
                    ),
                );
            }
        }
        let mut seen: BTreeMap<String, &Spanned<String>> = BTreeMap::new();
        for (locale, template) in &self.templates {
            let normalized = normalize_locale(locale.get_ref());
            let key = format!("{SECTION}.templates.{}", locale.get_ref());
            if !is_locale(&normalized) {
                report.error(
                    key.clone(),
                    Some(locale.span()),
                    "is not a language tag",
                    Some("use a tag like en, de or pt-br".into()),
                );
            }
            if let Some(earlier) = seen.insert(normalized.clone(), locale) {
                report.error(
                    key.clone(),
                    Some(locale.span()),
                    format!(
                        "is the same locale as templates.{} (locales are matched ignoring case)",
                        earlier.get_ref()
                    ),
                    Some("keep one of the two".into()),
                );
            }
            template.validate(&key, report);
        }
        if !self.templates.is_empty() {
            let default = self.default_locale();
            if !seen.contains_key(&default) {
                // Without a default_locale key, the templates are where the fix goes.
                let span = self
                    .default_locale
                    .as_ref()
                    .or_else(|| self.templates.keys().next())
                    .map(Spanned::span);
                report.error(
                    format!("{SECTION}.default_locale"),
                    span,
                    format!("is {default:?}, which has no template"),
                    Some(format!(
                        "add [{SECTION}.templates.{default}] or set default_locale to one of: {}",
                        seen.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                );
            }
        }
    }
}

impl MessageTemplate {
    fn validate(&self, key: &str, report: &mut RulesReport) {
        let mut check = |part: &str, source: &Spanned<String>, needs_code: bool| {
            let part_key = format!("{key}.{part}");
            match Template::parse(source.get_ref()) {
                Err(error) => report.error(part_key, Some(source.span()), error.to_string(), None),
                Ok(template) => {
                    let has_code = template.uses(Placeholder::Code);
                    if needs_code && !has_code {
                        report.error(
                            part_key,
                            Some(source.span()),
                            "does not contain {code}, so the email would not carry the code",
                            Some(format!("add {{code}} to the {part}")),
                        );
                    } else if !needs_code && has_code {
                        report.error(
                            part_key,
                            Some(source.span()),
                            "contains {code}; subjects are shown in logs and lock-screen previews",
                            Some("put {code} in the text and html bodies only".into()),
                        );
                    } else if source.get_ref().trim().is_empty() {
                        report.error(part_key, Some(source.span()), "is empty", None);
                    }
                }
            }
        };
        check("subject", &self.subject, false);
        check("text", &self.text, true);
        if let Some(html) = &self.html {
            check("html", html, true);
        }
        if self.subject.get_ref().contains(['\r', '\n']) {
            report.error(
                format!("{key}.subject"),
                Some(self.subject.span()),
                "contains a line break",
                Some("write the subject on one line".into()),
            );
        }
    }
}

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMessage {
    /// The locale whose template was used.
    pub locale: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

#[derive(Debug, Clone)]
struct CompiledTemplate {
    subject: Template,
    text: Template,
    html: Option<Template>,
}

/// The templates of validated rules, parsed once at start.
#[derive(Debug, Clone)]
pub struct Templates {
    by_locale: BTreeMap<String, CompiledTemplate>,
    default_locale: String,
    app_name: Option<String>,
}

impl Templates {
    /// Parses the templates of `rules` (validated by [`ValidateRules`]; a template that still
    /// fails to parse is left out, and the built-in English message stands in for the default).
    pub fn new(rules: &EmailOtpSendRules) -> Self {
        let mut by_locale = BTreeMap::new();
        for (locale, template) in &rules.templates {
            let parsed = (|| {
                Some(CompiledTemplate {
                    subject: Template::parse(template.subject.get_ref()).ok()?,
                    text: Template::parse(template.text.get_ref()).ok()?,
                    html: match &template.html {
                        Some(html) => Some(Template::parse(html.get_ref()).ok()?),
                        None => None,
                    },
                })
            })();
            if let Some(parsed) = parsed {
                by_locale.insert(normalize_locale(locale.get_ref()), parsed);
            }
        }
        let default_locale = rules.default_locale();
        if !by_locale.contains_key(&default_locale) {
            let built_in = CompiledTemplate {
                subject: Template::built_in(BUILT_IN_SUBJECT),
                text: Template::built_in(BUILT_IN_TEXT),
                html: None,
            };
            by_locale.insert(default_locale.clone(), built_in);
        }
        Self {
            by_locale,
            default_locale,
            app_name: rules.app_name.clone(),
        }
    }

    /// The locale whose template answers a caller in `requested`: the exact locale, else its
    /// language, else the default.
    pub fn choose(&self, requested: Option<&str>) -> &str {
        if let Some(requested) = requested.map(normalize_locale).filter(|l| !l.is_empty()) {
            if let Some((locale, _)) = self.by_locale.get_key_value(&requested) {
                return locale;
            }
            if let Some(language) = requested.split('-').next()
                && let Some((locale, _)) = self.by_locale.get_key_value(language)
            {
                return locale;
            }
        }
        &self.default_locale
    }

    /// Renders the message for a caller in `requested`.
    pub fn render(
        &self,
        requested: Option<&str>,
        code: &str,
        email: &str,
        client_app_name: Option<&str>,
    ) -> RenderedMessage {
        let locale = self.choose(requested).to_owned();
        let app_name = self
            .app_name
            .as_deref()
            .or(client_app_name)
            .unwrap_or_default();
        let values = Values {
            code,
            email,
            app_name,
        };
        match self.by_locale.get(&locale) {
            Some(template) => RenderedMessage {
                subject: template.subject.render(values, false),
                text: template.text.render(values, false),
                html: template.html.as_ref().map(|html| html.render(values, true)),
                locale,
            },
            // `new` always inserts the default locale; kept total rather than panicking.
            None => RenderedMessage {
                subject: BUILT_IN_SUBJECT.to_owned(),
                text: format!("Your verification code is: {code}\n"),
                html: None,
                locale,
            },
        }
    }
}

/// `en_US` / `EN-us` -> `en-us`.
pub fn normalize_locale(locale: &str) -> String {
    locale.trim().replace('_', "-").to_ascii_lowercase()
}

/// A BCP 47-shaped tag: a 2-3 letter language and optional 1-8 character alphanumeric subtags.
fn is_locale(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let language_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase()));
    language_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use entra_extensions::rules_file::RulesFile;

    use super::*;

    fn load(text: &str) -> Result<EmailOtpSendRules, String> {
        RulesFile::parse(text, "rules.toml")
            .and_then(|file| file.section::<EmailOtpSendRules>(SECTION))
            .map_err(|e| e.to_string())
    }

    fn problems(text: &str) -> String {
        load(text).expect_err("the rules must be refused")
    }

    /// Found by tests/tests/fuzz_rules.rs: with default_locale left out, the problem had no
    /// line and column.
    #[test]
    fn a_missing_default_template_is_located_at_the_templates() {
        let message = problems(
            "[email_otp_send]\n\n[email_otp_send.templates.de]\nsubject = \"S\"\ntext = \"{code}\"\n",
        );
        assert!(
            message.contains(
                "rules.toml:3:27: email_otp_send.default_locale: is \"en\", which has no template"
            ),
            "{message}"
        );
    }

    #[test]
    fn the_example_file_is_valid_and_localised() {
        let text = include_str!("../rules.example.toml");
        let rules = load(text).unwrap();
        assert_eq!(rules.timeout(), Duration::from_millis(1000));
        assert_eq!(rules.idempotency_ttl(), Duration::from_secs(600));
        let templates = Templates::new(&rules);
        let de = templates.render(Some("de-DE"), "12345678", "a@example.com", None);
        assert_eq!(de.locale, "de");
        assert_eq!(de.subject, "Ihr Bestätigungscode für Contoso");
        assert!(de.text.contains("lautet: 12345678"), "{}", de.text);
        assert!(de.html.unwrap().contains(">12345678</p>"));
        let en = templates.render(Some("en-us"), "12345678", "a@example.com", Some("Other"));
        assert_eq!(en.locale, "en");
        assert_eq!(en.subject, "Your Contoso verification code");
    }

    #[test]
    fn locales_fall_back_to_the_language_then_the_default() {
        let rules = load(
            "[email_otp_send]\ndefault_locale = \"EN\"\n\
             [email_otp_send.templates.en]\nsubject = \"S en\"\ntext = \"en {code}\"\n\
             [email_otp_send.templates.pt-BR]\nsubject = \"S pt-br\"\ntext = \"pt-br {code}\"\n\
             [email_otp_send.templates.pt]\nsubject = \"S pt\"\ntext = \"pt {code}\"\n",
        )
        .unwrap();
        let templates = Templates::new(&rules);
        let chosen = |locale: Option<&str>| templates.choose(locale).to_owned();
        assert_eq!(chosen(Some("pt-br")), "pt-br");
        assert_eq!(chosen(Some("PT_br")), "pt-br");
        assert_eq!(chosen(Some("pt-pt")), "pt");
        assert_eq!(chosen(Some("fr-fr")), "en");
        assert_eq!(chosen(Some("")), "en");
        assert_eq!(chosen(None), "en");
        let message = templates.render(Some("fr"), "42", "a@example.com", None);
        assert_eq!(
            (message.subject.as_str(), message.text.as_str()),
            ("S en", "en 42")
        );
    }

    #[test]
    fn without_templates_a_built_in_english_message_is_sent() {
        let rules = load("").unwrap();
        let message =
            Templates::new(&rules).render(Some("ja-jp"), "87654321", "a@example.com", None);
        assert_eq!(message.locale, "en");
        assert_eq!(message.subject, BUILT_IN_SUBJECT);
        assert!(message.text.contains("is: 87654321"), "{}", message.text);
        assert!(message.text.contains("a@example.com"), "{}", message.text);
        assert!(message.html.is_none());
        // The built-ins parse (Template::built_in would show them literally otherwise).
        assert!(Template::parse(BUILT_IN_SUBJECT).is_ok());
        assert!(
            Template::parse(BUILT_IN_TEXT)
                .unwrap()
                .uses(Placeholder::Code)
        );
    }

    #[test]
    fn app_name_comes_from_the_rules_else_the_client_app() {
        let rules = load(
            "[email_otp_send.templates.en]\nsubject = \"{app_name} code\"\ntext = \"{code}\"\n",
        )
        .unwrap();
        let templates = Templates::new(&rules);
        assert_eq!(
            templates
                .render(None, "1", "a@b.c", Some("My Test application"))
                .subject,
            "My Test application code"
        );
        assert_eq!(templates.render(None, "1", "a@b.c", None).subject, " code");
    }

    #[test]
    fn template_errors_name_the_line_and_the_fix() {
        let text = "[email_otp_send]\n\
                    [email_otp_send.templates.en]\n\
                    subject = \"Your code {code}\"\n\
                    text = \"Hello {name}\"\n\
                    html = \"<p>no code</p>\"\n";
        let error = problems(text);
        assert!(
            error.contains("rules.toml:3:11: email_otp_send.templates.en.subject: contains {code}"),
            "{error}"
        );
        assert!(
            error.contains("rules.toml:4:8: email_otp_send.templates.en.text: uses the unknown placeholder {name}"),
            "{error}"
        );
        assert!(
            error.contains(
                "rules.toml:5:8: email_otp_send.templates.en.html: does not contain {code}"
            ),
            "{error}"
        );
        assert!(error.contains("fix: add {code} to the html"), "{error}");
    }

    #[test]
    fn settings_out_of_range_are_refused_with_their_line() {
        let error = problems(
            "[email_otp_send]\ntimeout_ms = 5000\nidempotency_ttl_secs = 5\nfrom = \"nobody\"\n",
        );
        assert!(
            error.contains("rules.toml:2:14: email_otp_send.timeout_ms: is 5000"),
            "{error}"
        );
        assert!(
            error.contains("rules.toml:3:24: email_otp_send.idempotency_ttl_secs: is 5"),
            "{error}"
        );
        assert!(
            error.contains("rules.toml:4:8: email_otp_send.from: is not an email address"),
            "{error}"
        );
        let error = problems("[email_otp_send]\non_idempotency_error = \"retry\"\n");
        assert!(error.contains("rules.toml:2:"), "{error}");
        let error = problems("[email_otp_send]\nsubjct = \"x\"\n");
        assert!(error.contains("subjct"), "{error}");
    }

    #[test]
    fn locale_keys_and_the_default_locale_are_checked() {
        let error = problems(
            "[email_otp_send]\ndefault_locale = \"fr\"\n\
             [email_otp_send.templates.de]\nsubject = \"S\"\ntext = \"{code}\"\n\
             [email_otp_send.templates.DE]\nsubject = \"S\"\ntext = \"{code}\"\n\
             [email_otp_send.templates.\"english please\"]\nsubject = \"S\"\ntext = \"{code}\"\n",
        );
        assert!(
            error.contains(
                "rules.toml:2:18: email_otp_send.default_locale: is \"fr\", which has no template"
            ),
            "{error}"
        );
        assert!(
            error.contains("fix: add [email_otp_send.templates.fr]"),
            "{error}"
        );
        assert!(
            error.contains("is the same locale as templates."),
            "{error}"
        );
        assert!(
            error.contains("email_otp_send.templates.english please: is not a language tag"),
            "{error}"
        );

        let error = problems("[email_otp_send.templates.de]\nsubject = \"S\"\ntext = \"{code}\"\n");
        assert!(
            error.contains("email_otp_send.default_locale: is \"en\", which has no template"),
            "{error}"
        );
    }
}
