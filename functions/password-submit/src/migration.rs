//! The decision: given the decrypted password context, is this the user's legacy password, and
//! what does Entra do next (MigratePassword, UpdatePassword, Retry or Block)?
//!
//! Order of work:
//! 1. a locked-out username (`[password_submit.lockout]`) is blocked without checking anything;
//! 2. custom [`PasswordMigrationExtension`]s are asked in order; the first verdict wins;
//! 3. otherwise the [`LegacyCredentialStore`] is asked and the hash checked on a blocking thread
//!    (bcrypt and Argon2 are deliberately slow);
//! 4. the verdict becomes an action by the rules (must-change flag, minimum length, unknown-user
//!    policy, block page).
//!
//! Steps 2-3 run under the call budget: if they have not finished by its deadline, or a store or
//! extension fails, the configured fallback (default Retry) is answered in time.

mod trace_steps;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use entra_extensions::{
    CallBudget, PasswordSubmitAction, PasswordSubmitActionError, PasswordSubmitRequest,
};
use entra_platform::HttpError;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::legacy_store::{LegacyCredentialStore, StoreError, normalize_username};
use crate::lockout::FailureCounter;
use crate::password_context::{PasswordContext, PasswordContextDecryptor, PasswordContextError};
use crate::rules::{FallbackAction, PasswordSubmitRules, UnknownUserAction};

/// What a legacy check concluded about one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyVerdict {
    /// The password is the legacy one; `must_change` when the legacy system demanded a change.
    Correct { must_change: bool },
    /// The account exists and the password is not its password.
    Wrong,
    /// The legacy system has no such account.
    UnknownUser,
    /// The account is disabled in the legacy system.
    Disabled,
    /// Answer exactly this (e.g. a Block with the legacy system's own reason).
    Answer(PasswordSubmitAction),
}

/// A failure inside a custom extension. The message goes to the log only.
#[derive(Debug, thiserror::Error)]
#[error("password migration extension: {0}")]
pub struct ExtensionError(pub Box<dyn std::error::Error + Send + Sync>);

/// Custom logic without forking the handler: check the password against another legacy system
/// (an LDAP bind, a REST "verify password" call, a second user table), or decide for some users
/// before the store is asked. Extensions run in the order added, under the call budget.
#[async_trait]
pub trait PasswordMigrationExtension: Send + Sync {
    /// A verdict for this attempt, or `None` to leave it to the next extension and finally the
    /// legacy store. An error answers the configured fallback.
    async fn verify(
        &self,
        request: &PasswordSubmitRequest,
        context: &PasswordContext,
    ) -> Result<Option<LegacyVerdict>, ExtensionError>;
}

/// Why an attempt ended as it did, for the log line and the replay CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Correct password: MigratePassword.
    Migrated,
    /// Correct password, but the legacy record demands a change: UpdatePassword.
    MustChange,
    /// Correct password shorter than `min_password_length`: UpdatePassword.
    WeakPassword,
    /// Wrong password: Retry.
    WrongPassword,
    /// No such legacy user: Retry or Block by `unknown_user`.
    UnknownUser,
    /// Legacy account disabled: Block.
    Disabled,
    /// Too many failures for the username: Block.
    LockedOut,
    /// An extension chose the action.
    ExtensionAnswer,
    /// The check did not finish within the budget: fallback.
    BudgetExhausted,
    /// The store or an extension failed: fallback.
    DependencyFailed,
}

impl Outcome {
    /// Stable snake_case name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Migrated => "migrated",
            Outcome::MustChange => "must_change",
            Outcome::WeakPassword => "weak_password",
            Outcome::WrongPassword => "wrong_password",
            Outcome::UnknownUser => "unknown_user",
            Outcome::Disabled => "disabled",
            Outcome::LockedOut => "locked_out",
            Outcome::ExtensionAnswer => "extension_answer",
            Outcome::BudgetExhausted => "budget_exhausted",
            Outcome::DependencyFailed => "dependency_failed",
        }
    }
}

/// The answer to one callout: the response body (with the nonce echoed), the action, why, and
/// whether the configured fallback answered.
#[derive(Debug, Clone)]
pub struct Decision {
    pub response: Value,
    pub action: PasswordSubmitAction,
    pub outcome: Outcome,
    pub fallback: bool,
}

impl Decision {
    /// The action's short name (`MigratePassword`, `UpdatePassword`, `Retry`, `Block`).
    pub fn action_name(&self) -> &'static str {
        let full = self.action.action_type();
        full.rsplit('.').next().unwrap_or(full)
    }
}

/// Why no decision could be made. `Context` is the caller's (or the key configuration's)
/// problem and answers 400; `Response` is our bug and answers 500.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error(transparent)]
    Context(#[from] PasswordContextError),
    #[error("building the passwordSubmit response: {0}")]
    Response(#[from] PasswordSubmitActionError),
}

impl From<DecideError> for HttpError {
    fn from(error: DecideError) -> Self {
        match error {
            DecideError::Context(error) => HttpError::bad_request(error.code(), error.to_string()),
            DecideError::Response(error) => HttpError::internal(error),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum CheckError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Extension(#[from] ExtensionError),
    #[error("password verification task failed: {0}")]
    Verifier(String),
}

/// Just-in-time password migration: the business logic of the passwordSubmit endpoint, usable
/// without a token (the replay CLI). Built once per execution environment.
pub struct PasswordMigration {
    rules: PasswordSubmitRules,
    decryptor: PasswordContextDecryptor,
    store: Arc<dyn LegacyCredentialStore>,
    extensions: Vec<Arc<dyn PasswordMigrationExtension>>,
    lockout: Option<(FailureCounter, PasswordSubmitAction)>,
    verifier_slots: Arc<Semaphore>,
}

impl std::fmt::Debug for PasswordMigration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordMigration")
            .field("rules", &self.rules)
            .field("decryptor", &self.decryptor)
            .field("extensions", &self.extensions.len())
            .finish_non_exhaustive()
    }
}

impl PasswordMigration {
    /// Migration by `rules`, opening contexts with `decryptor` and checking passwords against
    /// `store`. At most one hash verification per CPU runs at a time (waiting counts against
    /// the budget), so a burst of Argon2 checks cannot exhaust memory.
    pub fn new(
        rules: PasswordSubmitRules,
        decryptor: PasswordContextDecryptor,
        store: Arc<dyn LegacyCredentialStore>,
    ) -> Self {
        let lockout = rules.lockout.as_ref().map(|lockout| {
            (
                FailureCounter::new(*lockout.max_failures.get_ref(), lockout.window()),
                lockout.block(),
            )
        });
        let slots = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Self {
            rules,
            decryptor,
            store,
            extensions: Vec::new(),
            lockout,
            verifier_slots: Arc::new(Semaphore::new(slots)),
        }
    }

    /// Adds a custom check, asked after the ones already added and before the store.
    pub fn with_extension(mut self, extension: Arc<dyn PasswordMigrationExtension>) -> Self {
        self.extensions.push(extension);
        self
    }

    pub fn rules(&self) -> &PasswordSubmitRules {
        &self.rules
    }

    /// Decrypts `encryptedPasswordContext` and decides. An undecryptable or incomplete context
    /// is a [`DecideError::Context`] (400): without the nonce no valid answer exists.
    pub async fn decide(
        &self,
        request: &PasswordSubmitRequest,
        budget: CallBudget,
    ) -> Result<Decision, DecideError> {
        let context = self
            .decryptor
            .decrypt(request.encrypted_password_context.expose())?;
        Ok(self.decide_for(request, &context, budget).await?)
    }

    /// Decides for an already decrypted `context`.
    pub async fn decide_for(
        &self,
        request: &PasswordSubmitRequest,
        context: &PasswordContext,
        budget: CallBudget,
    ) -> Result<Decision, PasswordSubmitActionError> {
        let (action, outcome, fallback) = self.judge(request, context, budget).await;
        entra_extensions::trace::step(|| {
            let name = action.action_type();
            let name = name.rsplit('.').next().unwrap_or(name);
            trace_steps::decided(self, context, name, outcome, fallback)
        });
        let response = action.to_response(context.nonce())?;
        Ok(Decision {
            response,
            action,
            outcome,
            fallback,
        })
    }

    async fn judge(
        &self,
        request: &PasswordSubmitRequest,
        context: &PasswordContext,
        budget: CallBudget,
    ) -> (PasswordSubmitAction, Outcome, bool) {
        let key = normalize_username(context.username());
        if let Some((counter, block)) = &self.lockout
            && counter.is_locked(&key, Instant::now())
        {
            return (block.clone(), Outcome::LockedOut, false);
        }
        let fallback = |outcome| {
            let action = match self.rules.fallback {
                FallbackAction::Retry => PasswordSubmitAction::retry(),
                FallbackAction::Block => self.rules.block(),
            };
            (action, outcome, true)
        };
        let verdict = match tokio::time::timeout_at(budget.deadline(), self.check(request, context))
            .await
        {
            Ok(Ok(verdict)) => verdict,
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "legacy password check failed; answering the fallback");
                return fallback(Outcome::DependencyFailed);
            }
            Err(_) => return fallback(Outcome::BudgetExhausted),
        };
        let record_failure = || {
            if let Some((counter, _)) = &self.lockout {
                counter.record_failure(&key, Instant::now());
            }
        };
        match verdict {
            LegacyVerdict::Correct { must_change } => {
                if let Some((counter, _)) = &self.lockout {
                    counter.clear(&key);
                }
                let too_short = self.rules.min_password_length.as_ref().is_some_and(|min| {
                    context.password().expose().chars().count() < *min.get_ref()
                });
                if must_change {
                    (
                        PasswordSubmitAction::UpdatePassword,
                        Outcome::MustChange,
                        false,
                    )
                } else if too_short {
                    (
                        PasswordSubmitAction::UpdatePassword,
                        Outcome::WeakPassword,
                        false,
                    )
                } else {
                    (
                        PasswordSubmitAction::MigratePassword,
                        Outcome::Migrated,
                        false,
                    )
                }
            }
            LegacyVerdict::Wrong => {
                record_failure();
                (PasswordSubmitAction::retry(), Outcome::WrongPassword, false)
            }
            LegacyVerdict::UnknownUser => {
                record_failure();
                let action = match self.rules.unknown_user {
                    UnknownUserAction::Retry => PasswordSubmitAction::retry(),
                    UnknownUserAction::Block => self.rules.block(),
                };
                (action, Outcome::UnknownUser, false)
            }
            LegacyVerdict::Disabled => (self.rules.block(), Outcome::Disabled, false),
            LegacyVerdict::Answer(action) => (action, Outcome::ExtensionAnswer, false),
        }
    }

    /// Extensions first, then the store and the hash.
    async fn check(
        &self,
        request: &PasswordSubmitRequest,
        context: &PasswordContext,
    ) -> Result<LegacyVerdict, CheckError> {
        for extension in &self.extensions {
            if let Some(verdict) = extension.verify(request, context).await? {
                return Ok(verdict);
            }
        }
        let Some(credential) = self.store.lookup(context.username()).await? else {
            return Ok(LegacyVerdict::UnknownUser);
        };
        if credential.disabled {
            return Ok(LegacyVerdict::Disabled);
        }
        let permit = self
            .verifier_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| CheckError::Verifier(e.to_string()))?;
        let password = context.password().clone();
        let hash = credential.hash;
        // Runs to completion even when the budget ends first (it cannot be interrupted); the
        // permit it holds keeps later checks from piling up behind it.
        let correct = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash.verify(password.expose().as_bytes())
        })
        .await
        .map_err(|e| CheckError::Verifier(e.to_string()))?;
        Ok(if correct {
            LegacyVerdict::Correct {
                must_change: credential.must_change,
            }
        } else {
            LegacyVerdict::Wrong
        })
    }
}
