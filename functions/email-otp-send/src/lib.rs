//! OnOtpSend ("EmailOtpSend", custom email OTP provider): Entra hands us a one-time code and an
//! address, and we deliver the email ourselves (docs/protocols/extension-callbacks.md a.8).
//! This crate is the function's logic; `main.rs` only wires it into Lambda, and the local host
//! mounts the same [`router`] with a local [`Mailer`] and store.
//!
//! Order of work per call (a.0): token first, then the body, then the tenant binding, then the
//! message (templates from [`rules`] by the caller's locale, then any [`extension`]), then the
//! idempotency claim ([`marker`]), then the send, all under the call budget. The answer:
//! - `200` with `microsoft.graph.OtpSend.continueWithDefaultBehavior` when the email was sent
//!   (now, or by an earlier attempt of the same request: Entra retries after a timeout);
//! - `500` when it was not (mail service failed or late, another attempt still sending), before
//!   Entra's timeout, so Entra's `fallbackToMicrosoftProviderOnError` can send the code instead
//!   (spec a.8, c.2). There is no failure action in the protocol.
//!
//! The one-time code is never logged: it only exists in the request, the rendered bodies (whose
//! `Debug` is redacted) and the store key's hash input.

pub mod config;
pub mod extension;
pub mod marker;
pub mod rules;
pub mod template;
mod trace_steps;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use entra_extensions::budget::DEFAULT_SAFETY_MARGIN;
use entra_extensions::{
    CallBudget, CalloutGuard, EmailOtpSendAction, EmailOtpSendRequest, bad_callout,
};
use entra_platform::store::{Clock, SystemClock};
use entra_platform::{
    HttpError, KeyValueStore, MailError, Mailer, MessageId, OutgoingEmail, SecretValue,
};
use serde_json::Value;

pub use config::{EmailOtpSendConfig, IdempotencyConfig, SetupError};
pub use extension::{ExtensionError, MessageVerdict, OtpMessageExtension, OtpSendContext};
pub use rules::{EmailOtpSendRules, IdempotencyFallback, SECTION};

use crate::marker::{Claim, MarkerError, Markers};
use crate::rules::Templates;

/// Where the HTTP API routes this event (template.yaml and the local host use the same path).
pub const PATH: &str = "/extensions/email-otp-send";

/// How often an attempt that finds another one sending the same code looks again.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The most of the budget kept back after the send for releasing or confirming the marker.
const MAX_MARKER_RESERVE: Duration = Duration::from_millis(100);

/// What happened to the email.
#[derive(Debug)]
pub enum Delivery {
    /// We sent it now.
    Sent { message_id: MessageId },
    /// An earlier attempt of the same request sent it (Entra retried): nothing sent now.
    AlreadySent,
    /// An extension chose not to send, and to answer as if sent.
    Suppressed { extension: String, reason: String },
    /// Not sent: the answer is a 500 so Entra's fallback can act.
    Failed(OtpSendError),
}

/// Why the code was not sent. Messages never contain the code.
#[derive(Debug, thiserror::Error)]
pub enum OtpSendError {
    #[error("the mailer failed: {0}")]
    Mail(#[from] MailError),
    #[error("the mailer did not answer within the call budget")]
    MailLate,
    #[error("another attempt for this code is still sending and did not finish within the budget")]
    InProgress,
    #[error("the idempotency store failed and on_idempotency_error = \"fail\": {0}")]
    Idempotency(#[source] MarkerError),
    #[error("extension {extension} deferred to Microsoft's email provider: {reason}")]
    Deferred { extension: String, reason: String },
}

/// What the function answers for one callout, before it goes on the wire.
#[derive(Debug)]
pub struct Decision {
    pub delivery: Delivery,
    /// The locale whose template was used.
    pub locale: String,
    /// Which dependency failed or was late and was worked around (the answer still went out),
    /// e.g. `idempotency_unavailable`, `extension_late`.
    pub fallback: Option<&'static str>,
}

impl Decision {
    /// The 200 body, or `None` when the answer is a 500 (the code was not sent).
    pub fn response(&self) -> Option<Value> {
        match self.delivery {
            Delivery::Failed(_) => None,
            _ => Some(EmailOtpSendAction::ContinueWithDefaultBehavior.to_response()),
        }
    }

    /// The action's short name for logs, `none` for a 500.
    pub fn action_name(&self) -> &'static str {
        match self.delivery {
            Delivery::Failed(_) => "none",
            _ => "continueWithDefaultBehavior",
        }
    }

    /// What happened to the email, for logs.
    pub fn delivery_name(&self) -> &'static str {
        match self.delivery {
            Delivery::Sent { .. } => "sent",
            Delivery::AlreadySent => "already_sent",
            Delivery::Suppressed { .. } => "suppressed",
            Delivery::Failed(_) => "failed",
        }
    }
}

/// The function's long-lived state, built once per execution environment.
pub struct EmailOtpSend {
    guard: CalloutGuard,
    templates: Templates,
    from: Option<String>,
    timeout: Duration,
    marker_ttl: Duration,
    on_store_error: IdempotencyFallback,
    mailer: Arc<dyn Mailer>,
    store: Arc<dyn KeyValueStore>,
    clock: Arc<dyn Clock>,
    marker_secret: Option<SecretValue>,
    poll: Duration,
    extensions: Vec<Arc<dyn OtpMessageExtension>>,
}

impl EmailOtpSend {
    /// The state for validated `rules` (from `RulesFile::section(SECTION)`), sending through
    /// `mailer` and remembering sent codes in `store` (DynamoDB in Lambda, so a retry that lands
    /// on another instance is recognised).
    pub fn new(
        guard: CalloutGuard,
        rules: &EmailOtpSendRules,
        mailer: Arc<dyn Mailer>,
        store: Arc<dyn KeyValueStore>,
    ) -> Self {
        Self {
            guard,
            templates: Templates::new(rules),
            from: rules.from.as_ref().map(|from| from.get_ref().clone()),
            timeout: rules.timeout(),
            marker_ttl: rules.idempotency_ttl(),
            on_store_error: rules.on_idempotency_error,
            mailer,
            store,
            clock: Arc::new(SystemClock),
            marker_secret: None,
            poll: DEFAULT_POLL_INTERVAL,
            extensions: Vec::new(),
        }
    }

    /// Adds custom logic, run after the templates and any extension added before it.
    pub fn with_extension(mut self, extension: Arc<dyn OtpMessageExtension>) -> Self {
        self.extensions.push(extension);
        self
    }

    /// Keys markers with HMAC-SHA256 under `secret` instead of a plain hash (see [`marker`]).
    pub fn with_marker_secret(mut self, secret: SecretValue) -> Self {
        self.marker_secret = Some(secret);
        self
    }

    /// Reads marker times from `clock` (tests share a manual clock with the store).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How often to look at another attempt's marker while waiting for it.
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// A budget starting now: Entra's timeout minus the safety margin.
    pub fn start_budget(&self) -> CallBudget {
        CallBudget::start(self.timeout, DEFAULT_SAFETY_MARGIN)
    }

    /// The store key of `request`'s code (see [`marker`]).
    pub fn marker_key(&self, request: &EmailOtpSendRequest) -> String {
        marker::marker_key(
            self.marker_secret.as_ref(),
            &request.callout.tenant_id,
            &request.callout.context.correlation_id,
            request.otp_context.one_time_code.expose(),
        )
    }

    /// The message for `request` as the templates render it (before extensions).
    pub fn render(&self, request: &EmailOtpSendRequest) -> (String, OutgoingEmail) {
        let context = &request.callout.context;
        let client_app = context.client_service_principal.as_ref().and_then(|sp| {
            sp.app_display_name
                .as_deref()
                .or(sp.display_name.as_deref())
        });
        let rendered = self.templates.render(
            context.locale.as_deref(),
            request.otp_context.one_time_code.expose(),
            &request.otp_context.identifier,
            client_app,
        );
        let message = OutgoingEmail {
            to: request.otp_context.identifier.clone(),
            from: self.from.clone(),
            subject: rendered.subject,
            text_body: rendered.text,
            html_body: rendered.html,
        };
        (rendered.locale, message)
    }

    /// The business decision for a parsed callout: render, extensions, claim, send, all under
    /// `budget`. Needs no token (the replay CLI calls it directly); it does send the email.
    pub async fn decide(&self, request: &EmailOtpSendRequest, budget: CallBudget) -> Decision {
        let (locale, mut message) = self.render(request);
        let mut fallback = None;
        let context = OtpSendContext {
            budget,
            locale: &locale,
        };
        for extension in &self.extensions {
            if budget.is_spent() {
                tracing::warn!(
                    extension = extension.name(),
                    "budget spent before the extension could run; skipped"
                );
                fallback.get_or_insert("extension_skipped");
                break;
            }
            let mut draft = message.clone();
            let verdict = tokio::time::timeout_at(
                budget.deadline(),
                extension.before_send(request, &mut draft, &context),
            )
            .await;
            match verdict {
                Ok(Ok(MessageVerdict::Send)) => message = draft,
                Ok(Ok(MessageVerdict::Suppress { reason })) => {
                    return Decision {
                        delivery: Delivery::Suppressed {
                            extension: extension.name().to_owned(),
                            reason,
                        },
                        locale,
                        fallback,
                    };
                }
                Ok(Ok(MessageVerdict::DeferToMicrosoft { reason })) => {
                    return Decision {
                        delivery: Delivery::Failed(OtpSendError::Deferred {
                            extension: extension.name().to_owned(),
                            reason,
                        }),
                        locale,
                        fallback,
                    };
                }
                Ok(Err(error)) => {
                    tracing::warn!(extension = extension.name(), %error, "extension failed; skipped");
                    fallback.get_or_insert("extension_failed");
                }
                Err(_) => {
                    tracing::warn!(extension = extension.name(), "extension was late; skipped");
                    fallback.get_or_insert("extension_late");
                }
            }
        }
        let delivery = self
            .send_once(request, &message, budget, &mut fallback)
            .await;
        let decision = Decision {
            delivery,
            locale,
            fallback,
        };
        entra_extensions::trace::step(|| trace_steps::decided(request, &decision));
        decision
    }

    /// Claims the code, sends it, then confirms or releases the claim (see [`marker`]).
    async fn send_once(
        &self,
        request: &EmailOtpSendRequest,
        message: &OutgoingEmail,
        budget: CallBudget,
        fallback: &mut Option<&'static str>,
    ) -> Delivery {
        // Keep part of the budget for the marker write after the send.
        let reserve = (budget.remaining() / 4).min(MAX_MARKER_RESERVE);
        let send_deadline = budget
            .deadline()
            .checked_sub(reserve)
            .unwrap_or(budget.deadline());
        let key = self.marker_key(request);
        let markers = Markers {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            ttl: self.marker_ttl,
            lease: self.timeout,
            poll: self.poll,
        };
        let held = match markers.claim(&key, send_deadline).await {
            Claim::Acquired { held } => Some(held),
            Claim::AlreadySent => return Delivery::AlreadySent,
            Claim::InProgress => return Delivery::Failed(OtpSendError::InProgress),
            Claim::Unavailable(error) => match self.on_store_error {
                IdempotencyFallback::Send => {
                    tracing::warn!(%error, "idempotency store unavailable; sending without a marker");
                    fallback.get_or_insert("idempotency_unavailable");
                    None
                }
                IdempotencyFallback::Fail => {
                    return Delivery::Failed(OtpSendError::Idempotency(error));
                }
            },
        };

        let sent = match tokio::time::timeout_at(send_deadline, self.mailer.send(message)).await {
            Ok(Ok(message_id)) => Ok(message_id),
            Ok(Err(error)) => Err(OtpSendError::Mail(error)),
            Err(_) => Err(OtpSendError::MailLate),
        };
        let Some(held) = held else {
            return match sent {
                Ok(message_id) => Delivery::Sent { message_id },
                Err(error) => Delivery::Failed(error),
            };
        };
        match sent {
            Ok(message_id) => {
                match markers.mark_sent(&key, &held, budget.deadline()).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(
                        "the send marker changed while sending; a retry may send the code again"
                    ),
                    Err(error) => tracing::warn!(
                        %error,
                        "could not confirm the send marker; a retry may send the code again"
                    ),
                }
                Delivery::Sent { message_id }
            }
            Err(failure) => {
                // Unknown outcome counts as failed: a duplicate email beats none.
                if let Err(error) = markers.release(&key, &held, budget.deadline()).await {
                    tracing::warn!(
                        %error,
                        "could not release the send marker; a retry takes it over after the lease"
                    );
                }
                Delivery::Failed(failure)
            }
        }
    }

    /// Answers one callout: 200 `continueWithDefaultBehavior` when the code went out, 500 when
    /// it did not (so Entra's fallback acts), 400/401/413 for bad input.
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> Result<Response, HttpError> {
        let started = Instant::now();
        let budget = self.start_budget();
        let caller = self.guard.authenticate(headers).await?;
        let request = EmailOtpSendRequest::parse(body).map_err(bad_callout)?;
        self.guard.bind(&caller, &request.callout)?;

        let decision = self.decide(&request, budget).await;

        let message_id = match &decision.delivery {
            Delivery::Sent { message_id } => message_id.as_str(),
            _ => "-",
        };
        entra_extensions::metrics::record_decision(
            decision.action_name(),
            decision.fallback.is_some(),
        );
        entra_extensions::callout_event!(
            INFO,
            request.callout,
            action = decision.action_name(),
            delivery = decision.delivery_name(),
            locale = %decision.locale,
            recipient_domain = request
                .otp_context
                .identifier
                .rsplit_once('@')
                .map_or("-", |(_, domain)| domain),
            message_id,
            fallback = decision.fallback.is_some(),
            fallback_reason = decision.fallback.unwrap_or("-"),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "answered callout"
        );
        match decision.delivery {
            Delivery::Failed(error) => Err(HttpError::internal(error)),
            _ => Ok(
                axum::Json(EmailOtpSendAction::ContinueWithDefaultBehavior.to_response())
                    .into_response(),
            ),
        }
    }
}

/// The function's routes, with the body limit and request context every function has.
pub fn router(app: Arc<EmailOtpSend>, max_body_bytes: usize) -> Router {
    entra_extensions::callout_router(PATH, app, max_body_bytes)
}

impl entra_extensions::CalloutEndpoint for EmailOtpSend {
    async fn answer(&self, headers: &HeaderMap, body: &[u8]) -> Result<Response, HttpError> {
        self.handle(headers, body).await
    }
}
