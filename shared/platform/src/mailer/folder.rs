//! The folder adapter: every message becomes one `.eml` file (RFC 5322 with MIME, UTF-8 bodies
//! sent `8bit`, `multipart/alternative` when there is an HTML body), which any mail program
//! opens. This is how the local host shows the mails it "sends".
//!
//! Files are named `<unix-millis>-<sequence>-<uuid>.eml`, so a sorted directory listing is in
//! sending order (the sequence orders messages of one mailer within a millisecond), and
//! appear atomically (written under a temporary name, then renamed), so a watcher never reads
//! half a message.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use super::{MailError, Mailer, MessageId, OutgoingEmail, encode_header_text, encode_mailbox};

/// Sender used when neither the message nor the mailer names one.
pub const DEFAULT_LOCAL_SENDER: &str = "entra-hooks <no-reply@entra-hooks.localhost>";

/// A [`Mailer`] that writes `.eml` files into a folder.
#[derive(Debug, Clone)]
pub struct FolderMailer {
    folder: PathBuf,
    default_from: String,
    sequence: Arc<AtomicU64>,
}

impl FolderMailer {
    /// A mailer writing into `folder`, which is created if missing.
    pub fn new(folder: impl AsRef<Path>) -> std::io::Result<Self> {
        let folder = folder.as_ref().to_path_buf();
        std::fs::create_dir_all(&folder)?;
        Ok(Self {
            folder,
            default_from: DEFAULT_LOCAL_SENDER.to_owned(),
            sequence: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Sender for messages that name none.
    pub fn with_default_from(mut self, from: impl Into<String>) -> Self {
        self.default_from = from.into();
        self
    }

    /// The folder messages are written to.
    pub fn folder(&self) -> &Path {
        &self.folder
    }
}

#[async_trait]
impl Mailer for FolderMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<MessageId, MailError> {
        email.check()?;
        let now = OffsetDateTime::now_utc();
        let uuid = uuid::Uuid::new_v4();
        let id = MessageId::new(format!("<{uuid}@entra-hooks.localhost>"));
        let from = email.from.as_deref().unwrap_or(&self.default_from);
        let contents = render_eml(email, from, &id, now);
        let millis = now.unix_timestamp_nanos() / 1_000_000;
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        let name = format!("{millis:013}-{sequence:06}-{uuid}");
        let path = self.folder.join(format!("{name}.eml"));
        let temporary = self.folder.join(format!(".{name}.eml.tmp"));
        let target = path.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::write(&temporary, contents)?;
            std::fs::rename(&temporary, &target)
        })
        .await
        .map_err(|join| MailError::Io {
            path: path.clone(),
            source: std::io::Error::other(join.to_string()),
        })?
        .map_err(|source| MailError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(id)
    }
}

/// The message as an RFC 5322 text with CRLF line ends.
fn render_eml(email: &OutgoingEmail, from: &str, id: &MessageId, now: OffsetDateTime) -> String {
    let date = now
        .format(&Rfc2822)
        .unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 +0000".to_owned());
    let mut out = String::new();
    let mut header = |name: &str, value: &str| {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    };
    header("Message-ID", id.as_str());
    header("Date", &date);
    header("From", &encode_mailbox(from));
    header("To", &email.to);
    header("Subject", &encode_header_text(&email.subject));
    header("MIME-Version", "1.0");
    match &email.html_body {
        None => {
            out.push_str(&part_headers("text/plain"));
            out.push_str(&crlf(&email.text_body));
        }
        Some(html) => {
            let boundary = format!("entra-hooks-{}", uuid::Uuid::new_v4().simple());
            out.push_str(&format!(
                "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n"
            ));
            for (kind, body) in [("text/plain", &email.text_body), ("text/html", html)] {
                out.push_str(&format!("--{boundary}\r\n"));
                out.push_str(&part_headers(kind));
                out.push_str(&crlf(body));
                out.push_str("\r\n");
            }
            out.push_str(&format!("--{boundary}--\r\n"));
        }
    }
    out
}

fn part_headers(kind: &str) -> String {
    format!("Content-Type: {kind}; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
}

/// Normalises line ends to CRLF and ends with one.
fn crlf(body: &str) -> String {
    let mut out = body.replace("\r\n", "\n").replace('\n', "\r\n");
    if !out.ends_with("\r\n") {
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_messages_carry_both_bodies() {
        let email = OutgoingEmail {
            to: "someone@example.com".into(),
            from: None,
            subject: "Ihr Bestätigungscode".into(),
            text_body: "Code: 12345678\nBye".into(),
            html_body: Some("<p>Code: <b>12345678</b></p>".into()),
        };
        let id = MessageId::new("<x@entra-hooks.localhost>");
        let eml = render_eml(
            &email,
            "Contoso <no-reply@contoso.com>",
            &id,
            OffsetDateTime::UNIX_EPOCH,
        );
        assert!(eml.starts_with(
            "Message-ID: <x@entra-hooks.localhost>\r\nDate: Thu, 01 Jan 1970 00:00:00 +0000\r\nFrom: \"Contoso\" <no-reply@contoso.com>\r\nTo: someone@example.com\r\nSubject: =?UTF-8?B?SWhyIEJlc3TDpHRpZ3VuZ3Njb2Rl?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"entra-hooks-"
        ), "{eml}");
        assert!(eml.contains("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCode: 12345678\r\nBye\r\n"), "{eml}");
        assert!(eml.contains("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<p>Code: <b>12345678</b></p>\r\n"), "{eml}");
        assert!(eml.trim_end().ends_with("--"), "{eml}");
        assert!(!eml.replace("\r\n", "").contains('\n'), "bare LF in {eml}");
    }
}
