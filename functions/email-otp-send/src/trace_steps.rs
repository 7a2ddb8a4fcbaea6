//! The rule trace of a send decision ([`entra_extensions::trace`]), built only when a trace is
//! being recorded (the playground, `replay --trace`). The code itself is never recorded.

use entra_extensions::EmailOtpSendRequest;
use entra_extensions::trace::{Read, Step};
use serde_json::json;

use crate::{Decision, Delivery};

/// One step: the template chosen for the locale, the idempotency marker, the mailer.
pub(crate) fn decided(request: &EmailOtpSendRequest, decision: &Decision) -> Step {
    let step = Step::new("email_otp_send: render, claim the code once, send")
        .read(Read::callout(
            "data.otpContext.identifier",
            request.otp_context.identifier.clone(),
        ))
        .read(Read::callout(
            "data.authenticationContext.locale",
            request.callout.context.locale.clone(),
        ))
        .read(Read::other("template locale", decision.locale.clone()));
    let step = match &decision.delivery {
        Delivery::Failed(error) => step.produced(json!("HTTP 500: not sent")).fallback(
            "Entra's Microsoft email provider (answer 5xx)",
            error.to_string(),
        ),
        Delivery::Suppressed { extension, reason } => step
            .produced(json!("suppressed"))
            .note(format!("extension {extension}: {reason}")),
        other => step.produced(json!(match other {
            Delivery::AlreadySent => "already sent by an earlier attempt (Entra retried)",
            _ => "sent",
        })),
    };
    match (decision.fallback, &step.fallback) {
        (Some(why), None) => step.fallback("send anyway", why),
        _ => step,
    }
}
