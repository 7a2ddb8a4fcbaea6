//! OnPasswordSubmit (just-in-time password migration, preview): a user still flagged for
//! migration entered a password Entra does not know; we check it against the legacy system and
//! say whether to migrate it, force a reset, let the user retry, or block
//! (docs/protocols/extension-callbacks.md a.9).
//!
//! The password travels in `encryptedPasswordContext`, a JWE for the extension app's key whose
//! plaintext carries `user-password`, `username` and a `nonce`. This module keeps the JWE opaque
//! (decryption needs the key and belongs to the function); the response must echo the decrypted
//! nonce in `data.nonce`, so the builder takes it as an argument and refuses to emit without one.

use std::fmt;

use serde_json::{Map, Value, json};

use crate::envelope::{Callout, CalloutError, get};
use crate::events::EventKind;
use crate::token_issuance_start::{CalloutUser, parse_user};

/// Password valid: Entra stores it and clears the migration flag (and runs the update flow if it
/// is weak).
pub const MIGRATE_PASSWORD: &str = "microsoft.graph.passwordSubmit.MigratePassword";
/// Password correct but weak or expired: the user goes through password reset.
pub const UPDATE_PASSWORD: &str = "microsoft.graph.passwordSubmit.UpdatePassword";
/// Password wrong: the user may try again.
pub const RETRY: &str = "microsoft.graph.passwordSubmit.Retry";
/// Sign-in blocked, with the app's message.
pub const BLOCK: &str = "microsoft.graph.passwordSubmit.Block";

/// A parsed passwordSubmit callout. `Debug` leaves out the callout's raw `data`, which holds the
/// encrypted password.
#[derive(Clone)]
pub struct PasswordSubmitRequest {
    pub callout: Callout,
    /// The user being migrated. Documented as always present; optional here like every `user`
    /// (a.12 rule 4), since the decrypted `username` also identifies the account.
    pub user: Option<CalloutUser>,
    /// The user's on-premises names (`onPremises*` members of `user`), which a legacy directory
    /// may need to find the account.
    pub on_premises: OnPremisesUser,
    pub encrypted_password_context: EncryptedPasswordContext,
}

impl PasswordSubmitRequest {
    /// Parses a body sent to the passwordSubmit endpoint; any other event is an error.
    pub fn parse(body: &[u8]) -> Result<Self, CalloutError> {
        let callout = Callout::parse_for(EventKind::PasswordSubmit, body)?;
        let (user, on_premises) = match callout.context_member("user") {
            Some(Value::Object(user)) => (Some(parse_user(user)?), OnPremisesUser::parse(user)),
            Some(_) => {
                return Err(CalloutError::InvalidField {
                    field: "data.authenticationContext.user",
                    problem: "must be an object".into(),
                });
            }
            None => (None, OnPremisesUser::default()),
        };
        let encrypted_password_context = match get(callout.data(), "encryptedPasswordContext") {
            Some(Value::String(jwe)) if !jwe.is_empty() => EncryptedPasswordContext(jwe.clone()),
            Some(Value::String(_)) => {
                return Err(CalloutError::InvalidField {
                    field: "data.encryptedPasswordContext",
                    problem: "must not be empty".into(),
                });
            }
            Some(Value::Null) | None => {
                return Err(CalloutError::MissingField("data.encryptedPasswordContext"));
            }
            Some(_) => {
                return Err(CalloutError::InvalidField {
                    field: "data.encryptedPasswordContext",
                    problem: "must be a string".into(),
                });
            }
        };
        Ok(Self {
            callout,
            user,
            on_premises,
            encrypted_password_context,
        })
    }
}

impl fmt::Debug for PasswordSubmitRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordSubmitRequest")
            .field("kind", &self.callout.kind)
            .field("source", &self.callout.source)
            .field("tenant_id", &self.callout.tenant_id)
            .field("listener_id", &self.callout.listener_id)
            .field("extension_id", &self.callout.extension_id)
            .field("context", &self.callout.context)
            .field("user", &self.user)
            .field("on_premises", &self.on_premises)
            .field(
                "encrypted_password_context",
                &self.encrypted_password_context,
            )
            .finish_non_exhaustive()
    }
}

/// The on-premises identifiers Entra copies into `user` for this event (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnPremisesUser {
    pub sam_account_name: Option<String>,
    pub security_identifier: Option<String>,
    pub user_principal_name: Option<String>,
}

impl OnPremisesUser {
    fn parse(user: &Map<String, Value>) -> Self {
        let text = |key: &str| get(user, key).and_then(Value::as_str).map(str::to_owned);
        Self {
            sam_account_name: text("onPremisesSamAccountName"),
            security_identifier: text("onPremisesSecurityIdentifier"),
            user_principal_name: text("onPremisesUserPrincipalName"),
        }
    }
}

/// `data.encryptedPasswordContext`, kept exactly as received. It wraps the user's password, so
/// `Debug` shows only its length and there is no `Display`.
#[derive(Clone)]
pub struct EncryptedPasswordContext(String);

impl EncryptedPasswordContext {
    /// The compact JWE (five dot-separated parts in a real callout; the docs show a placeholder),
    /// for the decryptor only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EncryptedPasswordContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptedPasswordContext(<{} bytes>)", self.0.len())
    }
}

/// A passwordSubmit response that Entra would reject. It is a bug on our side, caught before
/// sending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordSubmitActionError {
    #[error("the nonce is empty; echo the one from the decrypted encryptedPasswordContext")]
    EmptyNonce,
    #[error("the message shown to the user is empty")]
    EmptyMessage,
    #[error("the page title is empty; leave it out instead")]
    EmptyTitle,
}

/// The one action a passwordSubmit response carries. `title` and `message` are the documented
/// optional fields; we send them only where the user sees a page of ours: a Block always says
/// why, a Retry may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSubmitAction {
    MigratePassword,
    UpdatePassword,
    Retry {
        title: Option<String>,
        message: Option<String>,
    },
    Block {
        title: Option<String>,
        message: String,
    },
}

impl PasswordSubmitAction {
    /// A Retry with Entra's own wording.
    pub fn retry() -> Self {
        PasswordSubmitAction::Retry {
            title: None,
            message: None,
        }
    }

    /// A Block page saying `message`.
    pub fn block(message: impl Into<String>) -> Self {
        PasswordSubmitAction::Block {
            title: None,
            message: message.into(),
        }
    }

    /// The action's `@odata.type` (documented casing, not the sample's `passwordsubmit`), for logs.
    pub fn action_type(&self) -> &'static str {
        match self {
            PasswordSubmitAction::MigratePassword => MIGRATE_PASSWORD,
            PasswordSubmitAction::UpdatePassword => UPDATE_PASSWORD,
            PasswordSubmitAction::Retry { .. } => RETRY,
            PasswordSubmitAction::Block { .. } => BLOCK,
        }
    }

    /// The complete response body with `nonce` (from the decrypted `encryptedPasswordContext`)
    /// in `data.nonce`, or why it would be rejected by Entra.
    pub fn to_response(&self, nonce: &str) -> Result<Value, PasswordSubmitActionError> {
        if nonce.trim().is_empty() {
            return Err(PasswordSubmitActionError::EmptyNonce);
        }
        let mut action = Map::new();
        action.insert("@odata.type".into(), self.action_type().into());
        let (title, message) = match self {
            PasswordSubmitAction::MigratePassword | PasswordSubmitAction::UpdatePassword => {
                (None, None)
            }
            PasswordSubmitAction::Retry { title, message } => (title.as_ref(), message.as_ref()),
            PasswordSubmitAction::Block { title, message } => (title.as_ref(), Some(message)),
        };
        if let Some(title) = title {
            if title.trim().is_empty() {
                return Err(PasswordSubmitActionError::EmptyTitle);
            }
            action.insert("title".into(), title.clone().into());
        }
        if let Some(message) = message {
            if message.trim().is_empty() {
                return Err(PasswordSubmitActionError::EmptyMessage);
            }
            action.insert("message".into(), message.clone().into());
        }
        Ok(json!({
            "data": {
                "@odata.type": EventKind::PasswordSubmit.response_data_type(),
                "actions": [action],
                "nonce": nonce,
            }
        }))
    }
}
