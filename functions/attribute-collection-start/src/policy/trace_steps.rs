//! The rule trace of a start decision ([`entra_extensions::trace`]): one step per rule, in order,
//! built only when a trace is being recorded (the playground, `replay --trace`).

use entra_extensions::trace::{Read, Step};
use entra_extensions::{BareValue, ShowBlockPage};
use serde_json::{Map, Value, json};

use super::{CompiledRule, RuleAction, SignUp, prefill_value};

/// What the rule's conditions read from the callout.
fn base(rule: &CompiledRule, sign_up: &SignUp<'_>) -> Step {
    let field = |value: Option<&str>| value.map_or(Value::Null, Value::from);
    Step::new(&rule.name)
        .read(Read::callout(
            "data.authenticationContext.clientServicePrincipal.appId",
            field(sign_up.app_id),
        ))
        .read(Read::callout(
            "data.userSignUpInfo (email domain)",
            field(sign_up.email_domain.as_deref()),
        ))
        .read(Read::callout(
            "data.authenticationContext.locale",
            field(sign_up.locale),
        ))
}

pub(super) fn skipped(rule: &CompiledRule, sign_up: &SignUp<'_>) -> Step {
    base(rule, sign_up)
        .note("conditions not met (client app, email domain, locale, market or issuer): skipped")
}

pub(super) fn applied(rule: &CompiledRule, sign_up: &SignUp<'_>) -> Step {
    let step = base(rule, sign_up);
    match &rule.action {
        RuleAction::Block(text) => {
            let page: ShowBlockPage = text.page(sign_up.locale);
            step.produced(
                json!({"showBlockPage": {"title": page.title(), "message": page.message()}}),
            )
            .note("block: first matching block wins, later rules are not evaluated")
        }
        RuleAction::Prefill(entries) => {
            let mut values = Map::new();
            for (attribute, source) in entries {
                values.insert(
                    attribute.clone(),
                    prefill_value(attribute, source, sign_up).map_or(Value::Null, |v| bare(&v)),
                );
            }
            step.produced(json!({ "setPrefillValues": values }))
        }
    }
}

fn bare(value: &BareValue) -> Value {
    match value {
        BareValue::String(text) => Value::from(text.clone()),
        BareValue::Int64(number) => Value::from(*number),
        BareValue::Boolean(flag) => Value::from(*flag),
        BareValue::MultiValue(values) => Value::from(values.clone()),
    }
}
