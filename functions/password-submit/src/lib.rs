//! OnPasswordSubmit, just-in-time password migration (preview): a user still flagged for
//! migration typed a password Entra does not know; Entra sends it encrypted to us and asks
//! whether it is the user's legacy password (docs/protocols/extension-callbacks.md a.9).
//!
//! Per call (a.0): token first, then the body, then the tenant binding; then
//! [`PasswordMigration::decide`] opens `encryptedPasswordContext` ([`password_context`]), checks
//! the password against the legacy system ([`legacy_store`], [`legacy_hash`], custom
//! [`PasswordMigrationExtension`]s) within the call budget, and answers `200 application/json`
//! with exactly one of MigratePassword / UpdatePassword / Retry / Block and the decrypted nonce
//! echoed in `data.nonce`.
//!
//! A context we cannot decrypt answers **400** `undecryptable_password_context` (and one that
//! decrypts without a usable nonce 400 `invalid_password_context`): Entra only ever sends JWEs
//! for the certificate configured on the extension app, so this means our key configuration is
//! wrong (or the request is not from Entra). No valid passwordSubmit answer exists without the
//! nonce, and a Retry would only loop the user; the failure is logged at warn level so the
//! operator sees it, and Entra's failure path shows the user an error.
//!
//! `main.rs` only wires this into Lambda; the local host mounts the same [`router`].

pub mod legacy_hash;
pub mod legacy_store;
mod lockout;
pub mod migration;
pub mod password_context;
pub mod rules;
pub mod setup;
mod start;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use entra_extensions::budget::DEFAULT_SAFETY_MARGIN;
use entra_extensions::{CallBudget, CalloutGuard, PasswordSubmitRequest, bad_callout};
use entra_platform::HttpError;

pub use legacy_hash::{HashFormatError, LegacyHash};
pub use legacy_store::{
    LegacyCredential, LegacyCredentialStore, LegacyUserTable, StoreError, UserTableError,
};
pub use migration::{
    DecideError, Decision, ExtensionError, LegacyVerdict, Outcome, PasswordMigration,
    PasswordMigrationExtension,
};
pub use password_context::{
    PasswordContext, PasswordContextDecryptor, PasswordContextError, PrivateKeyError,
};
pub use rules::{FallbackAction, PasswordSubmitRules, SECTION, UnknownUserAction};
pub use setup::SetupError;

/// Where the HTTP API routes this event (template.yaml and the local host use the same path).
pub const PATH: &str = "/extensions/password-submit";

/// The endpoint's long-lived state: the callout guard and the migration logic.
pub struct PasswordSubmit {
    guard: CalloutGuard,
    migration: PasswordMigration,
}

impl PasswordSubmit {
    pub fn new(guard: CalloutGuard, migration: PasswordMigration) -> Self {
        Self { guard, migration }
    }

    pub fn migration(&self) -> &PasswordMigration {
        &self.migration
    }

    /// Answers one callout; see the crate docs for the order of work and the error answers.
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> Result<Response, HttpError> {
        let budget = CallBudget::start(self.migration.rules().timeout(), DEFAULT_SAFETY_MARGIN);
        let caller = self.guard.authenticate(headers).await?;
        let request = PasswordSubmitRequest::parse(body).map_err(bad_callout)?;
        self.guard.bind(&caller, &request.callout)?;

        let decision = match self.migration.decide(&request, budget).await {
            Ok(decision) => decision,
            Err(error) => {
                if let DecideError::Context(cause) = &error {
                    entra_extensions::callout_event!(
                        WARN,
                        request.callout,
                        code = cause.code(),
                        error = %cause,
                        "cannot use encryptedPasswordContext; check that password_submit.private_key is the key of the extension app's encryption certificate"
                    );
                }
                return Err(error.into());
            }
        };
        entra_extensions::metrics::record_decision(decision.action_name(), decision.fallback);
        entra_extensions::callout_event!(
            INFO,
            request.callout,
            action = decision.action_name(),
            outcome = decision.outcome.as_str(),
            fallback = decision.fallback,
            latency_ms = budget.elapsed().as_secs_f64() * 1000.0,
            "answered callout"
        );
        Ok(axum::Json(decision.response).into_response())
    }
}

/// The function's routes, with the body limit and request context every function has.
pub fn router(app: Arc<PasswordSubmit>, max_body_bytes: usize) -> Router {
    entra_extensions::callout_router(PATH, app, max_body_bytes)
}

impl entra_extensions::CalloutEndpoint for PasswordSubmit {
    async fn answer(&self, headers: &HeaderMap, body: &[u8]) -> Result<Response, HttpError> {
        self.handle(headers, body).await
    }
}
