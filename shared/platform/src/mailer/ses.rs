//! Amazon SES v2 adapter.
//!
//! Contract: SES API v2 `SendEmail` (`POST /v2/email/outbound-emails`) with `Content.Simple`:
//! subject and bodies as UTF-8, SES builds the MIME message. The sender must be a verified
//! identity (address or domain) of the account and region; a non-ASCII display name is sent as
//! an RFC 2047 encoded-word, as SES requires. Needs `ses:SendEmail` on the identity (and on the
//! configuration set when one is configured).

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use super::{MailError, Mailer, MessageId, OutgoingEmail, encode_mailbox};

const CHARSET: &str = "UTF-8";

/// Sends through SES v2. Build it once per process from the shared `SdkConfig`.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    default_from: String,
    configuration_set: Option<String>,
}

impl SesMailer {
    /// A mailer sending from `default_from` (a verified identity) unless a message names its own.
    pub fn new(client: Client, default_from: impl Into<String>) -> Self {
        Self {
            client,
            default_from: default_from.into(),
            configuration_set: None,
        }
    }

    /// A mailer with a client built from `config` (the function's shared `SdkConfig`).
    pub fn from_sdk_config(
        config: &aws_config::SdkConfig,
        default_from: impl Into<String>,
    ) -> Self {
        Self::new(Client::new(config), default_from)
    }

    /// Sends every message with this configuration set (event publishing for bounces and
    /// complaints).
    pub fn with_configuration_set(mut self, name: impl Into<String>) -> Self {
        self.configuration_set = Some(name.into());
        self
    }

    fn content(text: &str) -> Result<Content, MailError> {
        Content::builder()
            .data(text)
            .charset(CHARSET)
            .build()
            .map_err(|err| MailError::Invalid {
                problem: err.to_string(),
            })
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<MessageId, MailError> {
        email.check()?;
        let from = email.from.as_deref().unwrap_or(&self.default_from);
        let mut body = Body::builder().text(Self::content(&email.text_body)?);
        if let Some(html) = &email.html_body {
            body = body.html(Self::content(html)?);
        }
        let message = Message::builder()
            .subject(Self::content(&email.subject)?)
            .body(body.build())
            .build();
        let output = self
            .client
            .send_email()
            .from_email_address(encode_mailbox(from))
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(classify)?;
        match output.message_id {
            Some(id) => Ok(MessageId::new(id)),
            None => Err(MailError::Unavailable {
                message: "SES accepted the message but returned no MessageId".to_owned(),
            }),
        }
    }
}

/// Sorts SES failures by what a caller can do about them.
fn classify(err: SdkError<SendEmailError>) -> MailError {
    let message = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::ServiceError(context) => {
            let status = context.raw().status();
            match context.err() {
                SendEmailError::MessageRejected(_) | SendEmailError::BadRequestException(_) => {
                    MailError::Rejected { message }
                }
                SendEmailError::AccountSuspendedException(_)
                | SendEmailError::SendingPausedException(_)
                | SendEmailError::MailFromDomainNotVerifiedException(_)
                | SendEmailError::NotFoundException(_) => MailError::Blocked { message },
                SendEmailError::TooManyRequestsException(_)
                | SendEmailError::LimitExceededException(_) => MailError::Unavailable { message },
                other => match other.code() {
                    Some("AccessDeniedException") => MailError::Blocked { message },
                    Some("ThrottlingException" | "ServiceUnavailable" | "InternalFailure") => {
                        MailError::Unavailable { message }
                    }
                    _ if status.is_server_error() || status.as_u16() == 429 => {
                        MailError::Unavailable { message }
                    }
                    _ => MailError::Rejected { message },
                },
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            MailError::Unavailable { message }
        }
        _ => MailError::Invalid { problem: message },
    }
}
