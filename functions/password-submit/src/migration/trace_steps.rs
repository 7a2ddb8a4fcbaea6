//! The rule trace of a migration decision ([`entra_extensions::trace`]), built only when a trace is
//! being recorded (the playground, `replay --trace`). The password is never recorded.

use entra_extensions::trace::{Read, Step};

use super::{Outcome, PasswordMigration};
use crate::password_context::PasswordContext;
use crate::rules::FallbackAction;

pub(super) fn decided(
    migration: &PasswordMigration,
    context: &PasswordContext,
    action: &'static str,
    outcome: Outcome,
    fallback: bool,
) -> Step {
    let step = Step::new("password_submit: legacy password check")
        .read(Read::callout(
            "data.passwordContext (decrypted) username",
            context.username(),
        ))
        .read(Read::other(
            "legacy store and hash",
            outcome.as_str().to_owned(),
        ))
        .produced(action)
        .note(format!("outcome {}", outcome.as_str()));
    if fallback {
        let taken = match migration.rules.fallback {
            FallbackAction::Retry => "Retry (fallback = \"retry\")",
            FallbackAction::Block => "Block (fallback = \"block\")",
        };
        step.fallback(taken, outcome.as_str())
    } else {
        step
    }
}
