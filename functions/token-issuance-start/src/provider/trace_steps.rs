//! The rule trace of a claims decision ([`entra_extensions::trace`]): one step per claim rule, built
//! only when a trace is being recorded (the playground, `replay --trace`).

use entra_extensions::trace::{Read, Step};
use entra_extensions::{ClaimValue, TokenIssuanceStartRequest};
use serde_json::Value;

use super::{Resolved, callout_property, field_value};
use crate::rules::{ClaimRule, ContextField, OnError, Source};

/// The step of `rule`, given what its source resolved to.
pub(super) fn rule_step(
    rule: &ClaimRule,
    request: &TokenIssuanceStartRequest,
    resolved: &Resolved,
) -> Step {
    let mut step = Step::new(format!("claims.{}", rule.name));
    let user = request.user.as_ref();
    step = match &rule.source {
        Source::UserProperty(property) => match user.and_then(|u| callout_property(u, property)) {
            Some(value) => step.read(Read::callout(
                format!("data.authenticationContext.user.{property}"),
                value,
            )),
            None => step
                .read(Read::callout(
                    format!("data.authenticationContext.user.{property}"),
                    Value::Null,
                ))
                .read(Read::graph("user")),
        },
        Source::Extension(property) => step
            .read(Read::graph("user"))
            .note(format!("user property {property}")),
        Source::Groups(_) => step.read(Read::graph("groups")),
        Source::Context(field) => step.read(Read::callout(
            context_path(*field),
            field_value(*field, request).map_or(Value::Null, Value::from),
        )),
        Source::Constant(_) => step.note("constant"),
    };
    let default = || rule.default.as_ref().map_or(Value::Null, json);
    match resolved {
        Resolved::Value(value) => step.produced(json(value)),
        Resolved::Missing => step.produced(default()).note(if rule.default.is_some() {
            "source has no value: the rule's default"
        } else {
            "source has no value: claim left out"
        }),
        Resolved::Unavailable(cause) => match rule.on_error {
            OnError::Fail => step.fallback("answer 500 (on_error = \"fail\")", cause.clone()),
            OnError::Omit => step.fallback("omit the claim (on_error = \"omit\")", cause.clone()),
            OnError::Default => step
                .produced(default())
                .fallback("the rule's default (on_error = \"default\")", cause.clone()),
        },
    }
}

fn json(value: &ClaimValue) -> Value {
    match value {
        ClaimValue::One(one) => Value::String(one.clone()),
        ClaimValue::Many(many) => Value::from(many.clone()),
    }
}

fn context_path(field: ContextField) -> &'static str {
    match field {
        ContextField::ClientAppId => "data.authenticationContext.clientServicePrincipal.appId",
        ContextField::ClientAppDisplayName => {
            "data.authenticationContext.clientServicePrincipal.appDisplayName"
        }
        ContextField::ResourceAppId => "data.authenticationContext.resourceServicePrincipal.appId",
        ContextField::ResourceAppDisplayName => {
            "data.authenticationContext.resourceServicePrincipal.appDisplayName"
        }
        ContextField::Locale => "data.authenticationContext.locale",
        ContextField::Market => "data.authenticationContext.market",
        ContextField::Ip => "data.authenticationContext.client.ip",
        ContextField::Protocol => "data.authenticationContext.protocol",
        ContextField::CorrelationId => "data.authenticationContext.correlationId",
        ContextField::TenantId => "data.tenantId",
    }
}
