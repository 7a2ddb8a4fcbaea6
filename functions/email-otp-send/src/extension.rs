//! The hook for custom logic: a team changes the message (brand it per client application, add
//! a legal footer, pick a sender per domain) or decides not to send it at all, by implementing
//! [`OtpMessageExtension`] and registering it on the state, without forking the handler.
//!
//! Extensions run after the templates are rendered and before the code is claimed and sent, in
//! registration order, each seeing the message as the ones before left it. They run under the
//! call budget; one that fails or is late is skipped (its changes are dropped, the message as it
//! was stands, and the call is logged with `fallback = true`).
//!
//! Keep the one-time code out of the subject and out of logs: subjects are logged by the local
//! mailers and shown in lock-screen previews.

use async_trait::async_trait;
use entra_extensions::{CallBudget, EmailOtpSendRequest};
use entra_platform::OutgoingEmail;

/// What an extension may fail with; the message is logged, never shown to the user.
pub type ExtensionError = Box<dyn std::error::Error + Send + Sync>;

/// What an extension sees besides the request and the message.
#[derive(Debug, Clone, Copy)]
pub struct OtpSendContext<'a> {
    /// The call's budget: finish before `budget.deadline()` (the extension is abandoned then).
    pub budget: CallBudget,
    /// The locale whose template rendered the message (`en`, `de`, ...).
    pub locale: &'a str,
}

/// What to do with the message after an extension looked at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageVerdict {
    /// Send it (as the extension may have changed it).
    Send,
    /// Do not send, and answer `continueWithDefaultBehavior` as if sent (test accounts, a
    /// delivery channel of your own). The user gets no email from us or from Microsoft.
    Suppress { reason: String },
    /// Do not send, and answer HTTP 500 so Entra's Microsoft-provider fallback sends the code
    /// (when the listener has `fallbackToMicrosoftProviderOnError`), e.g. for recipient domains
    /// our mail service cannot reach.
    DeferToMicrosoft { reason: String },
}

/// Custom logic for emailOtpSend.
#[async_trait]
pub trait OtpMessageExtension: Send + Sync {
    /// A short name for logs.
    fn name(&self) -> &str;

    /// Looks at (and may edit) `message` before it is sent. The code is in
    /// `request.otp_context.one_time_code` should the body be rebuilt.
    async fn before_send(
        &self,
        request: &EmailOtpSendRequest,
        message: &mut OutgoingEmail,
        context: &OtpSendContext<'_>,
    ) -> Result<MessageVerdict, ExtensionError>;
}
