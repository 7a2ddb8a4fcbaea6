//! Wire types of Microsoft Entra custom authentication extensions: what Entra POSTs to our
//! endpoints and exactly what we answer.
//!
//! Contract: docs/protocols/extension-callbacks.md (a) (Microsoft Learn "custom claims provider
//! reference" and the per-event reference pages). Reading is lenient where Microsoft's own payloads
//! vary (casing of `type` values, `@odata.Type`, absent optional objects); writing is strict: the
//! documented literals, exactly one action, claims only as strings or string arrays within 3 KB.

pub mod action_review;
pub mod attribute_collection_start;
pub mod attribute_collection_submit;
pub mod budget;
pub mod callout_log;
pub mod conformance;
pub mod email_otp_send;
pub mod endpoint;
pub mod envelope;
pub mod events;
pub mod lambda_ids;
pub mod metrics;
pub mod password_submit;
pub mod rules_file;
pub mod runtime;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod token_issuance_start;
pub mod trace;

pub use attribute_collection_start::{
    AttributeActionError, AttributeCollectionStartAction, AttributeCollectionStartRequest,
    AttributeKind, AttributeValue, AttributeValues, BareValue, ShowBlockPage, SignUpAttributes,
    SignUpIdentity, UserSignUpInfo,
};
pub use attribute_collection_submit::{
    AttributeCollectionSubmitAction, AttributeCollectionSubmitRequest, ShowValidationError,
};
pub use budget::CallBudget;
pub use conformance::{ConformanceError, check_response};
pub use email_otp_send::{EmailOtpSendAction, EmailOtpSendRequest, OneTimeCode, OtpContext};
pub use endpoint::{CalloutEndpoint, CalloutGuard, bad_callout, callout_router};
pub use envelope::{AuthenticationContext, Callout, CalloutError, ServicePrincipal};
pub use events::EventKind;
pub use password_submit::{
    EncryptedPasswordContext, OnPremisesUser, PasswordSubmitAction, PasswordSubmitActionError,
    PasswordSubmitRequest,
};
pub use rules_file::{RulesError, RulesFile, RulesReport, ValidateRules};
pub use token_issuance_start::CalloutUser;
pub use token_issuance_start::{
    ClaimValue, ClaimsError, ProvideClaimsForToken, TokenIssuanceStartRequest,
};
