//! OnOtpSend ("EmailOtpSend", custom email OTP provider, preview): Entra hands us the one-time
//! code and the address, and we deliver the email ourselves
//! (docs/protocols/extension-callbacks.md a.8).
//!
//! Microsoft's own Functions sample spells the code `onetimecode` while the docs spell it
//! `oneTimeCode`; it is read ignoring case (a.12 rule 2). There is no failure action: a non-200
//! answer or a timeout is how a receiver says the email was not sent.

use std::fmt;

use serde_json::{Map, Value, json};

use crate::envelope::{Callout, CalloutError, get};
use crate::events::EventKind;

/// The only documented action (capital `O` as documented).
pub const CONTINUE_WITH_DEFAULT_BEHAVIOR: &str =
    "microsoft.graph.OtpSend.continueWithDefaultBehavior";

/// A parsed emailOtpSend callout. `Debug` leaves out the callout's raw `data`, which holds the code.
#[derive(Clone)]
pub struct EmailOtpSendRequest {
    pub callout: Callout,
    pub otp_context: OtpContext,
}

impl EmailOtpSendRequest {
    /// Parses a body sent to the emailOtpSend endpoint; any other event is an error.
    pub fn parse(body: &[u8]) -> Result<Self, CalloutError> {
        let callout = Callout::parse_for(EventKind::EmailOtpSend, body)?;
        let otp_context = match get(callout.data(), "otpContext") {
            Some(Value::Object(context)) => OtpContext::parse(context)?,
            Some(Value::Null) | None => return Err(CalloutError::MissingField("data.otpContext")),
            Some(_) => {
                return Err(CalloutError::InvalidField {
                    field: "data.otpContext",
                    problem: "must be an object".into(),
                });
            }
        };
        Ok(Self {
            callout,
            otp_context,
        })
    }
}

impl fmt::Debug for EmailOtpSendRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailOtpSendRequest")
            .field("kind", &self.callout.kind)
            .field("source", &self.callout.source)
            .field("tenant_id", &self.callout.tenant_id)
            .field("listener_id", &self.callout.listener_id)
            .field("extension_id", &self.callout.extension_id)
            .field("context", &self.callout.context)
            .field("otp_context", &self.otp_context)
            .finish_non_exhaustive()
    }
}

/// `data.otpContext`: where to send which code. Both members are required: without them there is
/// nothing to deliver.
#[derive(Debug, Clone)]
pub struct OtpContext {
    /// The email address to send the code to.
    pub identifier: String,
    pub one_time_code: OneTimeCode,
}

impl OtpContext {
    fn parse(context: &Map<String, Value>) -> Result<Self, CalloutError> {
        let identifier = non_empty_str(context, "identifier", "data.otpContext.identifier")?;
        let code = non_empty_str(context, "oneTimeCode", "data.otpContext.oneTimeCode")?;
        Ok(Self {
            identifier,
            one_time_code: OneTimeCode(code),
        })
    }
}

/// The one-time code: a credential until it expires, so `Debug` never shows it and there is no
/// `Display`; read it with [`OneTimeCode::expose`] only to put it in the email.
#[derive(Clone)]
pub struct OneTimeCode(String);

impl OneTimeCode {
    /// The code itself (8 digits in every example; the length is not guaranteed, a.8).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimeCode(<redacted>)")
    }
}

fn non_empty_str(
    object: &Map<String, Value>,
    key: &str,
    path: &'static str,
) -> Result<String, CalloutError> {
    match get(object, key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(CalloutError::InvalidField {
            field: path,
            problem: "must not be empty".into(),
        }),
        Some(Value::Null) | None => Err(CalloutError::MissingField(path)),
        Some(_) => Err(CalloutError::InvalidField {
            field: path,
            problem: "must be a string".into(),
        }),
    }
}

/// The one action an emailOtpSend response carries: "we sent it". One variant today; an enum so
/// a future documented action is a compile error in every handler rather than a silent gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailOtpSendAction {
    ContinueWithDefaultBehavior,
}

impl EmailOtpSendAction {
    /// The action's `@odata.type`, for logs.
    pub fn action_type(self) -> &'static str {
        match self {
            EmailOtpSendAction::ContinueWithDefaultBehavior => CONTINUE_WITH_DEFAULT_BEHAVIOR,
        }
    }

    /// The complete response body. It has no variable part, so it cannot be invalid.
    pub fn to_response(self) -> Value {
        json!({
            "data": {
                "@odata.type": EventKind::EmailOtpSend.response_data_type(),
                "actions": [{ "@odata.type": self.action_type() }],
            }
        })
    }
}
