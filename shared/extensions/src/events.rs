//! The event catalogue: every literal Entra sends or expects, per event
//! (docs/protocols/extension-callbacks.md a.2). Matching is case-insensitive because Microsoft's
//! own samples disagree with its docs on casing; emitting always uses the documented casing.

/// The custom authentication extension events Entra can call us for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    TokenIssuanceStart,
    AttributeCollectionStart,
    AttributeCollectionSubmit,
    EmailOtpSend,
    PasswordSubmit,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::TokenIssuanceStart,
        EventKind::AttributeCollectionStart,
        EventKind::AttributeCollectionSubmit,
        EventKind::EmailOtpSend,
        EventKind::PasswordSubmit,
    ];

    /// The request's top-level `type`.
    pub const fn request_type(self) -> &'static str {
        match self {
            EventKind::TokenIssuanceStart => {
                "microsoft.graph.authenticationEvent.tokenIssuanceStart"
            }
            EventKind::AttributeCollectionStart => {
                "microsoft.graph.authenticationEvent.attributeCollectionStart"
            }
            EventKind::AttributeCollectionSubmit => {
                "microsoft.graph.authenticationEvent.attributeCollectionSubmit"
            }
            EventKind::EmailOtpSend => "microsoft.graph.authenticationEvent.emailOtpSend",
            EventKind::PasswordSubmit => "microsoft.graph.authenticationEvent.passwordSubmit",
        }
    }

    /// The request's `data.@odata.type`.
    pub const fn callout_data_type(self) -> &'static str {
        match self {
            EventKind::TokenIssuanceStart => "microsoft.graph.onTokenIssuanceStartCalloutData",
            EventKind::AttributeCollectionStart => {
                "microsoft.graph.onAttributeCollectionStartCalloutData"
            }
            EventKind::AttributeCollectionSubmit => {
                "microsoft.graph.onAttributeCollectionSubmitCalloutData"
            }
            EventKind::EmailOtpSend => "microsoft.graph.onOtpSendCalloutData",
            EventKind::PasswordSubmit => "microsoft.graph.onPasswordSubmitCalloutData",
        }
    }

    /// The response's `data.@odata.type` (note the documented capital `O` for OTP).
    pub const fn response_data_type(self) -> &'static str {
        match self {
            EventKind::TokenIssuanceStart => "microsoft.graph.onTokenIssuanceStartResponseData",
            EventKind::AttributeCollectionStart => {
                "microsoft.graph.onAttributeCollectionStartResponseData"
            }
            EventKind::AttributeCollectionSubmit => {
                "microsoft.graph.onAttributeCollectionSubmitResponseData"
            }
            EventKind::EmailOtpSend => "microsoft.graph.OnOtpSendResponseData",
            EventKind::PasswordSubmit => "microsoft.graph.onPasswordSubmitResponseData",
        }
    }

    /// Recognises a request `type`, ignoring ASCII case.
    pub fn from_request_type(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.request_type().eq_ignore_ascii_case(value))
    }

    /// A short stable name for logs and routes.
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::TokenIssuanceStart => "tokenIssuanceStart",
            EventKind::AttributeCollectionStart => "attributeCollectionStart",
            EventKind::AttributeCollectionSubmit => "attributeCollectionSubmit",
            EventKind::EmailOtpSend => "emailOtpSend",
            EventKind::PasswordSubmit => "passwordSubmit",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_types_match_case_insensitively() {
        // The .NET library matches `microsoft.graph.authenticationEvent.TokenIssuanceStart` (capital T).
        assert_eq!(
            EventKind::from_request_type("microsoft.graph.authenticationEvent.TokenIssuanceStart"),
            Some(EventKind::TokenIssuanceStart)
        );
        assert_eq!(
            EventKind::from_request_type("MICROSOFT.GRAPH.AUTHENTICATIONEVENT.EMAILOTPSEND"),
            Some(EventKind::EmailOtpSend)
        );
        assert_eq!(
            EventKind::from_request_type("onTokenIssuanceStartCustomExtension"),
            None
        );
        assert_eq!(EventKind::from_request_type(""), None);
    }

    #[test]
    fn every_kind_round_trips_through_its_request_type() {
        for kind in EventKind::ALL {
            assert_eq!(
                EventKind::from_request_type(kind.request_type()),
                Some(kind)
            );
        }
    }
}
