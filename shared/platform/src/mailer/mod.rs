//! The `Mailer` port: send one transactional email (a one-time code, a notice) and say whether a
//! failure is worth retrying (docs/architecture.md "Ports and adapters").
//!
//! Adapters, chosen by [`MailerConfig`]:
//! - [`SesMailer`]: Amazon SES v2 `SendEmail` with simple content, in Lambda;
//! - [`LogMailer`]: writes one log line per message (recipient domain and subject, never the
//!   body), for a laptop that only needs to see that a mail would go out;
//! - [`FolderMailer`]: writes each message as an `.eml` file into a folder, which any mail
//!   program opens: the local host's inbox.
//!
//! Message bodies carry one-time codes, so an [`OutgoingEmail`] never prints its bodies
//! (`Debug` redacts them) and no adapter logs them.

mod folder;
mod log;
mod ses;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use serde::Deserialize;

use crate::config::{Validate, ValidationReport};

pub use folder::FolderMailer;
pub use log::LogMailer;
pub use ses::SesMailer;

/// One email to send. `Debug` shows the recipient's domain and the subject only: the bodies
/// hold secrets (one-time codes) and the address is personal data.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// The recipient's address (`someone@example.com`).
    pub to: String,
    /// The sender (`no-reply@contoso.com` or `Contoso <no-reply@contoso.com>`); `None` sends from
    /// the mailer's configured default sender.
    pub from: Option<String>,
    /// The subject line. Keep secrets out of it: subjects show up in logs and notification
    /// previews.
    pub subject: String,
    /// The plain-text body (always sent: the fallback every client can show).
    pub text_body: String,
    /// An optional HTML alternative.
    pub html_body: Option<String>,
}

impl OutgoingEmail {
    /// The part of the recipient address after the last `@` (what logs may show).
    pub fn recipient_domain(&self) -> &str {
        domain_of(&self.to)
    }

    /// Checks what every adapter relies on: one plausible recipient address, and no line breaks
    /// in addresses or the subject (they would let a value inject headers).
    pub fn check(&self) -> Result<(), MailError> {
        let invalid = |problem: &str| MailError::Invalid {
            problem: problem.to_owned(),
        };
        if !is_plausible_address(&self.to) {
            return Err(invalid("the recipient is not an email address"));
        }
        if self
            .from
            .as_deref()
            .is_some_and(|from| !is_plausible_mailbox(from))
        {
            return Err(invalid(
                "the sender is not an address or `Name <address>` mailbox",
            ));
        }
        if self.subject.trim().is_empty() {
            return Err(invalid("the subject is empty"));
        }
        if self.subject.contains(['\r', '\n']) {
            return Err(invalid("the subject contains a line break"));
        }
        if self.text_body.is_empty() {
            return Err(invalid("the text body is empty"));
        }
        Ok(())
    }
}

impl fmt::Debug for OutgoingEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("to_domain", &self.recipient_domain())
            .field("from", &self.from)
            .field("subject", &self.subject)
            .field("html", &self.html_body.is_some())
            .finish_non_exhaustive()
    }
}

/// The id the mail service gave the message (SES `MessageId`, or the local adapter's own), for
/// logs and support cases.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId(String);

impl MessageId {
    /// Wraps an id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a message was not sent. Messages never contain the body.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The message was not handed over because it is not sendable as built.
    #[error("the email is not sendable: {problem}")]
    Invalid { problem: String },
    /// The service refused this message (bad address, unverified sender, content); sending the
    /// same message again will fail the same way.
    #[error("the mail service rejected the message: {message}")]
    Rejected { message: String },
    /// The account or its configuration cannot send at all (suspended, paused, sending domain not
    /// verified, configuration set missing); an operator must act.
    #[error("the mail service refuses to send for this account: {message}")]
    Blocked { message: String },
    /// Throttled, unreachable, timed out or failed on its side; retrying later may work.
    #[error("the mail service is temporarily unavailable: {message}")]
    Unavailable { message: String },
    /// The local adapter could not write the message.
    #[error("could not write the email to {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl MailError {
    /// True when the same message may go through if sent again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, MailError::Unavailable { .. })
    }
}

/// Port for sending one email. Object-safe so the adapter can be chosen from config at start
/// (`Arc<dyn Mailer>`).
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `email` and returns the service's message id. Adapters call
    /// [`OutgoingEmail::check`] first.
    async fn send(&self, email: &OutgoingEmail) -> Result<MessageId, MailError>;
}

/// Which mailer a function uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailerKind {
    /// Amazon SES v2 ([`SesMailer`]).
    Ses,
    /// A log line per message ([`LogMailer`]); nothing is delivered.
    Log,
    /// An `.eml` file per message in `folder` ([`FolderMailer`]); nothing is delivered.
    Folder,
}

/// `[mailer]`: where emails go. Environment overrides: `ENTRA_HOOKS_MAILER__KIND=ses`,
/// `ENTRA_HOOKS_MAILER__FROM=...`, `ENTRA_HOOKS_MAILER__CONFIGURATION_SET=...`,
/// `ENTRA_HOOKS_MAILER__FOLDER=...`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailerConfig {
    /// `ses`, `log` or `folder`.
    pub kind: MailerKind,
    /// Default sender: a verified SES identity for `ses` (required there), e.g.
    /// `Contoso <no-reply@contoso.com>`.
    #[serde(default)]
    pub from: Option<String>,
    /// SES configuration set for event publishing (bounces, complaints); `ses` only.
    #[serde(default)]
    pub configuration_set: Option<String>,
    /// Folder the `.eml` files are written to; `folder` only (required there).
    #[serde(default)]
    pub folder: Option<PathBuf>,
}

impl Validate for MailerConfig {
    fn validate(&self, report: &mut ValidationReport) {
        if let Some(from) = &self.from
            && !is_plausible_mailbox(from)
        {
            report.invalid(
                "mailer.from",
                "must be an address like no-reply@contoso.com or a mailbox like Contoso <no-reply@contoso.com>",
                Some(from),
            );
        }
        match self.kind {
            MailerKind::Ses => {
                if self.from.is_none() {
                    report.missing("mailer.from");
                }
            }
            MailerKind::Folder => {
                if self.folder.is_none() {
                    report.missing("mailer.folder");
                }
            }
            MailerKind::Log => {}
        }
        if self.configuration_set.is_some() && self.kind != MailerKind::Ses {
            report.invalid(
                "mailer.configuration_set",
                "is only used with kind = \"ses\"; remove it",
                self.configuration_set
                    .as_ref()
                    .map(|s| s as &dyn fmt::Debug),
            );
        }
        if self
            .configuration_set
            .as_deref()
            .is_some_and(|set| set.is_empty() || set.chars().any(char::is_whitespace))
        {
            report.invalid(
                "mailer.configuration_set",
                "must be an SES configuration set name (no spaces)",
                self.configuration_set
                    .as_ref()
                    .map(|s| s as &dyn fmt::Debug),
            );
        }
        if self.folder.is_some() && self.kind != MailerKind::Folder {
            report.invalid(
                "mailer.folder",
                "is only used with kind = \"folder\"; remove it",
                self.folder.as_ref().map(|p| p as &dyn fmt::Debug),
            );
        }
    }
}

/// Why the configured mailer could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MailerSetupError {
    /// `kind = "ses"` needs the AWS SDK configuration.
    #[error(
        "mailer.kind = \"ses\" needs the AWS configuration; load it before building the mailer"
    )]
    NoAwsConfig,
    /// A required key is missing (the config was not validated).
    #[error("mailer.{0} is required for this kind; set it in [mailer] or ENTRA_HOOKS_MAILER__*")]
    Missing(&'static str),
    /// The folder cannot be created.
    #[error("cannot create the mail folder {path}: {source}; fix mailer.folder or its permissions")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl MailerConfig {
    /// Whether [`MailerConfig::build`] needs an AWS `SdkConfig`.
    pub fn needs_aws(&self) -> bool {
        self.kind == MailerKind::Ses
    }

    /// The configured adapter. Does no network I/O (the `folder` kind creates its folder).
    pub fn build(
        &self,
        aws: Option<&aws_config::SdkConfig>,
    ) -> Result<Arc<dyn Mailer>, MailerSetupError> {
        match self.kind {
            MailerKind::Ses => {
                let aws = aws.ok_or(MailerSetupError::NoAwsConfig)?;
                let from = self.from.clone().ok_or(MailerSetupError::Missing("from"))?;
                let mut mailer = SesMailer::from_sdk_config(aws, from);
                if let Some(set) = &self.configuration_set {
                    mailer = mailer.with_configuration_set(set.clone());
                }
                Ok(Arc::new(mailer))
            }
            MailerKind::Log => Ok(Arc::new(LogMailer::new())),
            MailerKind::Folder => {
                let folder = self
                    .folder
                    .clone()
                    .ok_or(MailerSetupError::Missing("folder"))?;
                let mut mailer =
                    FolderMailer::new(&folder).map_err(|source| MailerSetupError::Folder {
                        path: folder.clone(),
                        source,
                    })?;
                if let Some(from) = &self.from {
                    mailer = mailer.with_default_from(from.clone());
                }
                Ok(Arc::new(mailer))
            }
        }
    }
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, domain)| domain)
}

/// One `local@domain` address: no spaces, brackets or line breaks, non-empty parts, a dot-free
/// domain allowed (`localhost`). Deliverability is the mail service's business.
fn is_plausible_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && address.len() <= 320
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
        && !domain.contains('@')
}

/// An address or `Display Name <address>`.
fn is_plausible_mailbox(mailbox: &str) -> bool {
    if mailbox.chars().any(char::is_control) {
        return false;
    }
    match split_mailbox(mailbox) {
        Some((_, address)) => is_plausible_address(address),
        None => is_plausible_address(mailbox.trim()),
    }
}

/// `Name <address>` into its parts (name trimmed, may be empty).
fn split_mailbox(mailbox: &str) -> Option<(&str, &str)> {
    let trimmed = mailbox.trim();
    let inner = trimmed.strip_suffix('>')?;
    let (name, address) = inner.rsplit_once('<')?;
    Some((name.trim(), address))
}

/// A header value as RFC 2047 encoded-word when it is not plain ASCII, else as is.
fn encode_header_text(text: &str) -> String {
    if text.is_ascii() {
        text.to_owned()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
        )
    }
}

/// A mailbox for a header: a non-ASCII display name is encoded (RFC 2047), the address is kept.
fn encode_mailbox(mailbox: &str) -> String {
    match split_mailbox(mailbox) {
        Some((name, address)) if !name.is_empty() => {
            let name = name.trim_matches('"');
            if name.is_ascii() {
                let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
                format!("\"{escaped}\" <{address}>")
            } else {
                format!("{} <{address}>", encode_header_text(name))
            }
        }
        Some((_, address)) => address.to_owned(),
        None => mailbox.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> OutgoingEmail {
        OutgoingEmail {
            to: "someone@example.com".into(),
            from: None,
            subject: "Your code".into(),
            text_body: "Code: 12345678".into(),
            html_body: Some("<p>Code: 12345678</p>".into()),
        }
    }

    #[test]
    fn debug_never_shows_bodies_or_the_address() {
        let shown = format!("{:?}", email());
        assert!(!shown.contains("12345678"), "{shown}");
        assert!(!shown.contains("someone@"), "{shown}");
        assert!(shown.contains("example.com"), "{shown}");
        assert!(shown.contains("Your code"), "{shown}");
    }

    #[test]
    fn addresses_and_header_injection_are_checked() {
        assert!(email().check().is_ok());
        for to in [
            "",
            "no-at-sign",
            "@example.com",
            "a@",
            "a b@example.com",
            "a@x\r\nBcc: b@y",
        ] {
            let mut bad = email();
            bad.to = to.into();
            assert!(
                matches!(bad.check(), Err(MailError::Invalid { .. })),
                "{to:?}"
            );
        }
        let mut bad = email();
        bad.subject = "Hi\r\nBcc: evil@example.com".into();
        assert!(bad.check().is_err());
        let mut bad = email();
        bad.from = Some("Contoso <not an address>".into());
        assert!(bad.check().is_err());
        let mut ok = email();
        ok.from = Some("Contoso <no-reply@contoso.com>".into());
        assert!(ok.check().is_ok());
    }

    #[test]
    fn mailboxes_are_encoded_for_headers() {
        assert_eq!(
            encode_mailbox("no-reply@contoso.com"),
            "no-reply@contoso.com"
        );
        assert_eq!(
            encode_mailbox("Contoso <no-reply@contoso.com>"),
            "\"Contoso\" <no-reply@contoso.com>"
        );
        assert_eq!(
            encode_mailbox("Bücher <no-reply@contoso.com>"),
            "=?UTF-8?B?QsO8Y2hlcg==?= <no-reply@contoso.com>"
        );
        assert_eq!(
            encode_header_text("Ihr Bestätigungscode"),
            "=?UTF-8?B?SWhyIEJlc3TDpHRpZ3VuZ3Njb2Rl?="
        );
        assert_eq!(encode_header_text("plain"), "plain");
    }

    #[test]
    fn config_requires_what_each_kind_needs() {
        let check = |config: MailerConfig| {
            let mut report = ValidationReport::default();
            config.validate(&mut report);
            report
                .problems()
                .iter()
                .map(|p| p.key().to_owned())
                .collect::<Vec<_>>()
        };
        let ses = MailerConfig {
            kind: MailerKind::Ses,
            from: None,
            configuration_set: None,
            folder: Some("/tmp/x".into()),
        };
        assert_eq!(check(ses), vec!["mailer.from", "mailer.folder"]);
        let folder = MailerConfig {
            kind: MailerKind::Folder,
            from: Some("not a mailbox".into()),
            configuration_set: Some("otp".into()),
            folder: None,
        };
        assert_eq!(
            check(folder),
            vec!["mailer.from", "mailer.folder", "mailer.configuration_set"]
        );
        let log = MailerConfig {
            kind: MailerKind::Log,
            from: None,
            configuration_set: None,
            folder: None,
        };
        assert!(check(log).is_empty());
    }
}
