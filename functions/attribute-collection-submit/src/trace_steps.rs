//! The rule trace of a submit decision ([`entra_extensions::trace`]): one step per attribute rule
//! that matched a submitted attribute, then one per uniqueness lookup, built only when a trace is
//! being recorded (the playground, `replay --trace`).

use entra_extensions::trace::{Read, Step};
use serde_json::{Value, json};

use crate::policy::{AttributePolicy, Check, Current};
use crate::rules::{OnError, Violation};
use crate::uniqueness::Holder;

/// The value a rule left, as JSON.
fn current(value: &Current) -> Value {
    match value {
        Current::Text(text) => Value::from(text.clone()),
        Current::Items(items) => Value::from(items.clone()),
        Current::Number(number) => Value::from(*number),
        Current::Flag(flag) => Value::from(*flag),
        Current::Empty => Value::Null,
        Current::Unreadable => Value::from("(unreadable)"),
    }
}

/// The checks of `rule` on attribute `name`, sent as `sent`, normalised to `now`.
pub(crate) fn checked(
    rule: &AttributePolicy,
    name: &str,
    sent: &Value,
    now: &Current,
    outcome: Result<(), Check>,
    lookup: bool,
) -> Step {
    let step = Step::new(&rule.label)
        .read(Read::callout(
            format!("data.userSignUpInfo.attributes.{name}.value"),
            sent.clone(),
        ))
        .produced(current(now));
    match outcome {
        Ok(()) if lookup => step.note("checks passed; uniqueness looked up in Graph next"),
        Ok(()) => step.note("checks passed"),
        Err(check) => step.note(match rule.violation(check) {
            Violation::Block => format!("{check:?} check failed: block page"),
            Violation::Error => format!("{check:?} check failed: field error"),
        }),
    }
}

/// The uniqueness lookup of `rule` for `name`, read through Graph source `source`.
pub(crate) fn uniqueness(
    rule: &AttributePolicy,
    name: &str,
    source: &str,
    holder: &Holder,
) -> Step {
    let step =
        Step::new(format!("{} (uniqueness of {name})", rule.label)).read(Read::graph(source));
    match holder {
        Holder::Free => step.produced(json!("free: no account holds the value")),
        Holder::Taken => step.produced(json!("taken: another account holds the value")),
        Holder::Unknown(reason) => {
            let taken = match rule.on_error {
                OnError::Allow => "allow the value (on_error = \"allow\")",
                OnError::Block => "block page (on_error = \"block\")",
                OnError::Error => "field error (on_error = \"error\")",
            };
            step.fallback(taken, reason.clone())
        }
    }
}
