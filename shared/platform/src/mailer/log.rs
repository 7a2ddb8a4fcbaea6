//! The log-only adapter: nothing is delivered, one log line says a message would have been.
//!
//! It logs the recipient's domain, the subject and a generated message id, never the address's
//! local part or the bodies (which carry one-time codes).

use async_trait::async_trait;

use super::{MailError, Mailer, MessageId, OutgoingEmail};

/// A [`Mailer`] that only logs. For a laptop or a test environment without mail delivery.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

impl LogMailer {
    /// The log mailer.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<MessageId, MailError> {
        email.check()?;
        let id = MessageId::new(format!("log-{}", uuid::Uuid::new_v4()));
        tracing::info!(
            message_id = %id,
            to_domain = email.recipient_domain(),
            subject = %email.subject,
            html = email.html_body.is_some(),
            "email not delivered (log mailer)"
        );
        Ok(id)
    }
}
