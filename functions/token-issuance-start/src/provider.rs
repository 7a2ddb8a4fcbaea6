//! The custom claims provider's business logic: from a parsed tokenIssuanceStart request and a
//! time budget to the `provideClaimsForToken` answer (docs/protocols/extension-callbacks.md a.5),
//! with no knowledge of HTTP or tokens, so the replay CLI runs exactly what the endpoint runs.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use entra_extensions::budget::DEFAULT_SAFETY_MARGIN;
use entra_extensions::rules_file::RulesProblem;
use entra_extensions::token_issuance_start::MAX_CLAIMS_BYTES;
use entra_extensions::{
    CallBudget, CalloutUser, ClaimValue, ClaimsError, ProvideClaimsForToken, RulesError,
    TokenIssuanceStartRequest,
};
use entra_graph::GraphClient;
use serde_json::Value;
use tokio::time::Instant;

use crate::directory::{self, DirectoryCache, FetchedUser, GroupRef, Unavailable};
use crate::extension::{ClaimsContext, ClaimsExtension};
mod trace_steps;

use entra_extensions::trace;

use crate::rules::{
    ContextField, GroupEmit, GroupFilter, GroupSelection, OnError, Plan, Source,
    TokenIssuanceStartRules,
};

/// The only action this event has.
pub const ACTION: &str = "provideClaimsForToken";

/// Why a [`ClaimsProvider`] cannot be built. Shown once at start, with the fix.
#[derive(Debug, thiserror::Error)]
pub enum ClaimsSetupError {
    #[error(transparent)]
    InvalidRules(#[from] RulesError),
    #[error(
        "claims {claims:?} read Microsoft Graph, but no Graph client is configured; fix: add a [graph] section (client_id, secret) to the function configuration, or remove those rules"
    )]
    GraphRequired { claims: Vec<String> },
}

/// Why a call must be answered with HTTP 500 instead of claims: Entra then fails the sign-in with
/// its own error page, which is what `on_error = "fail"` asks for. The message is for the log.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("claim `{claim}` has on_error = \"fail\" and its source is unavailable: {cause}")]
    RequiredClaimUnavailable { claim: String, cause: String },
    #[error("required claims extension `{extension}` produced no claims: {cause}")]
    RequiredExtensionFailed { extension: String, cause: String },
    #[error(
        "the claims that may not be dropped (on_error = \"fail\" rules, required extensions) total {size} bytes, over Entra's {MAX_CLAIMS_BYTES}-byte limit"
    )]
    RequiredClaimsTooLarge { size: usize },
    /// The builder refused the answer: a bug, caught before anything malformed is sent.
    #[error("the answer would break Entra's contract: {0}")]
    Response(#[from] ClaimsError),
}

/// What the provider answers for one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The complete `200` body.
    pub response: Value,
    /// The action returned (always [`ACTION`]).
    pub action: &'static str,
    /// Whether a dependency failed or was late and a configured fallback shaped the answer.
    pub fallback: bool,
    /// Names of the claims in the answer, in rank order.
    pub claims: Vec<String>,
    /// Claims left out because their source was unavailable (`on_error = "omit"`, or a failed
    /// optional extension).
    pub omitted: Vec<String>,
    /// Claims dropped, lowest rank first, to stay within Entra's 3 KB.
    pub dropped: Vec<String>,
}

/// The custom claims provider: compiled rules, the Graph client, the optional cache and the
/// registered extensions. Built once per execution environment.
pub struct ClaimsProvider {
    plan: Plan,
    graph: Option<GraphClient>,
    cache: Option<DirectoryCache>,
    extensions: Vec<Arc<dyn ClaimsExtension>>,
}

impl Default for ClaimsProvider {
    /// No rules: every call is answered with an empty, well-formed claims set.
    fn default() -> Self {
        Self {
            plan: Plan::default(),
            graph: None,
            cache: None,
            extensions: Vec::new(),
        }
    }
}

impl std::fmt::Debug for ClaimsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimsProvider")
            .field("rules", &self.plan.rules.len())
            .field("timeout", &self.plan.timeout)
            .field("cache", &self.plan.cache)
            .field("graph", &self.graph.is_some())
            .field("extensions", &self.extensions.len())
            .finish()
    }
}

/// A rule's value for this call, before defaults and fallbacks.
enum Resolved {
    Value(ClaimValue),
    Missing,
    Unavailable(String),
}

/// A claim on its way into the answer.
struct Produced {
    name: String,
    value: ClaimValue,
    /// Never dropped for size (`on_error = "fail"` rules, required extensions).
    protected: bool,
}

impl ClaimsProvider {
    /// Compiles `rules` (see [`TokenIssuanceStartRules`] for the format and defaults). `graph` is
    /// required when any rule reads Graph; the cache is created when the rules turn it on.
    pub fn new(
        rules: &TokenIssuanceStartRules,
        graph: Option<GraphClient>,
    ) -> Result<Self, ClaimsSetupError> {
        let plan = rules.compile().map_err(|problems| RulesError::Invalid {
            origin: crate::rules::SECTION.to_owned(),
            problems: problems
                .into_iter()
                .map(|p| RulesProblem {
                    key: p.key,
                    position: None,
                    message: p.message,
                    fix: p.fix,
                })
                .collect(),
        })?;
        if graph.is_none() && plan.rules.iter().any(|r| r.source.reads_graph()) {
            return Err(ClaimsSetupError::GraphRequired {
                claims: rules.graph_claim_names(),
            });
        }
        let cache = plan.cache.map(DirectoryCache::new);
        Ok(Self {
            plan,
            graph,
            cache,
            extensions: Vec::new(),
        })
    }

    /// Adds custom logic; extensions run in registration order of rank (after every rule).
    pub fn with_extension(mut self, extension: Arc<dyn ClaimsExtension>) -> Self {
        self.extensions.push(extension);
        self
    }

    /// Entra's timeout for this extension, from the rules (`timeout_ms`).
    pub fn timeout(&self) -> Duration {
        self.plan.timeout
    }

    /// A budget starting now: the timeout minus the safety margin kept for sending the answer.
    pub fn start_budget(&self) -> CallBudget {
        CallBudget::start(self.plan.timeout, DEFAULT_SAFETY_MARGIN)
    }

    /// The claims for `request`, read and computed within `budget`. Never waits past the budget's
    /// deadline: late sources get their rule's fallback.
    pub async fn decide(
        &self,
        request: &TokenIssuanceStartRequest,
        budget: CallBudget,
    ) -> Result<Decision, DecideError> {
        let context = &request.callout.context;
        let client_app = context
            .client_service_principal
            .as_ref()
            .and_then(|sp| sp.app_id.as_deref());
        let rules: Vec<_> = self
            .plan
            .rules
            .iter()
            .filter(|rule| rule.applies_to(client_app))
            .collect();
        let user = request.user.as_ref();

        // What this call needs from Graph: one user read and one membership read at most.
        let mut select = BTreeSet::new();
        let mut need_groups = false;
        for rule in &rules {
            match &rule.source {
                Source::UserProperty(p) if user.and_then(|u| callout_property(u, p)).is_none() => {
                    select.insert(p.clone());
                }
                Source::Extension(p) => {
                    select.insert(p.clone());
                }
                Source::Groups(_) => need_groups = true,
                _ => {}
            }
        }

        let graph = self
            .graph
            .as_ref()
            .map(|g| g.with_deadline(budget.deadline()));
        let user_id = user.map(|u| u.id.as_str());
        let ctx = ClaimsContext::new(budget, graph.clone());
        let (user_read, groups_read, custom) = tokio::join!(
            self.user_read(graph.as_ref(), user_id, select),
            self.groups_read(graph.as_ref(), user_id, need_groups),
            self.run_extensions(request, &ctx),
        );

        let mut produced: Vec<Produced> = Vec::new();
        let mut omitted = Vec::new();
        let mut fallback = false;
        for rule in rules {
            let resolved = match &rule.source {
                Source::UserProperty(p) => match user.and_then(|u| callout_property(u, p)) {
                    Some(value) => Resolved::Value(ClaimValue::One(value.to_owned())),
                    None => from_user_read(&user_read, p),
                },
                Source::Extension(p) => from_user_read(&user_read, p),
                Source::Groups(selection) => match &groups_read {
                    Some(Ok(groups)) => selection.resolve(groups),
                    Some(Err(cause)) => Resolved::Unavailable(cause.to_string()),
                    None => Resolved::Missing,
                },
                Source::Context(field) => field_value(*field, request)
                    .map_or(Resolved::Missing, |v| {
                        Resolved::Value(ClaimValue::One(v.to_owned()))
                    }),
                Source::Constant(value) => Resolved::Value(value.clone()),
            };
            trace::step(|| trace_steps::rule_step(rule, request, &resolved));
            let value = match resolved {
                Resolved::Value(value) => Some(value),
                Resolved::Missing => rule.default.clone(),
                Resolved::Unavailable(cause) => match rule.on_error {
                    OnError::Fail => {
                        return Err(DecideError::RequiredClaimUnavailable {
                            claim: rule.name.clone(),
                            cause,
                        });
                    }
                    OnError::Omit => {
                        tracing::warn!(claim = %rule.name, %cause, "claim omitted: its source is unavailable");
                        fallback = true;
                        omitted.push(rule.name.clone());
                        None
                    }
                    OnError::Default => {
                        tracing::warn!(claim = %rule.name, %cause, "claim set to its default: its source is unavailable");
                        fallback = true;
                        rule.default.clone()
                    }
                },
            };
            if let Some(value) = value {
                produced.push(Produced {
                    name: rule.name.clone(),
                    value: shape(value, rule.multi),
                    protected: rule.on_error == OnError::Fail,
                });
            }
        }

        for (extension, outcome) in custom {
            match outcome {
                Ok(claims) => {
                    for (name, value) in claims {
                        let Some(value) = non_empty(value) else {
                            continue;
                        };
                        if name.trim().is_empty() {
                            tracing::warn!(
                                extension = extension.name(),
                                "claims extension returned an empty claim name; skipped"
                            );
                            continue;
                        }
                        let protected = extension.required();
                        match produced.iter_mut().find(|p| p.name == name) {
                            Some(existing) => {
                                existing.value = value;
                                existing.protected |= protected;
                            }
                            None => produced.push(Produced {
                                name,
                                value,
                                protected,
                            }),
                        }
                    }
                }
                Err(cause) if extension.required() => {
                    return Err(DecideError::RequiredExtensionFailed {
                        extension: extension.name().to_owned(),
                        cause,
                    });
                }
                Err(cause) => {
                    tracing::warn!(extension = extension.name(), %cause, "claims extension left out");
                    fallback = true;
                    omitted.push(format!("extension:{}", extension.name()));
                }
            }
        }

        let (action, dropped) = fit(produced)?;
        let response = action.to_response()?;
        Ok(Decision {
            response,
            action: ACTION,
            fallback,
            claims: action.claims().map(|(name, _)| name.to_owned()).collect(),
            omitted,
            dropped,
        })
    }

    /// The user read this call needs (`None`: nothing to read), from the cache when it has it.
    async fn user_read(
        &self,
        graph: Option<&GraphClient>,
        user_id: Option<&str>,
        select: BTreeSet<String>,
    ) -> Option<Result<Arc<FetchedUser>, Unavailable>> {
        if select.is_empty() {
            return None;
        }
        let Some(user_id) = user_id else {
            return Some(Err(Unavailable::NoUser));
        };
        let Some(graph) = graph else {
            return Some(Err(Unavailable::NoGraph));
        };
        let now = Instant::now();
        let select = match &self.cache {
            Some(cache) => {
                if let Some(hit) = cache.user(user_id, &select, now) {
                    trace::cache_hit("user");
                    return Some(Ok(hit));
                }
                // One cached read serves every client application's rules.
                select.union(&self.plan.graph_properties).cloned().collect()
            }
            None => select,
        };
        let read = trace::graph_source("user", directory::read_user(graph, user_id, select));
        Some(match read.await {
            Ok(user) => {
                let user = Arc::new(user);
                if let Some(cache) = &self.cache {
                    cache.store_user(user_id, Arc::clone(&user), now);
                }
                Ok(user)
            }
            Err(error) => Err(Unavailable::Graph(error)),
        })
    }

    /// The membership read this call needs (`None`: no groups rule applies).
    async fn groups_read(
        &self,
        graph: Option<&GraphClient>,
        user_id: Option<&str>,
        needed: bool,
    ) -> Option<Result<Arc<Vec<GroupRef>>, Unavailable>> {
        if !needed {
            return None;
        }
        let Some(user_id) = user_id else {
            return Some(Err(Unavailable::NoUser));
        };
        let Some(graph) = graph else {
            return Some(Err(Unavailable::NoGraph));
        };
        let now = Instant::now();
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.groups(user_id, now)) {
            trace::cache_hit("groups");
            return Some(Ok(hit));
        }
        let read = trace::graph_source("groups", directory::read_groups(graph, user_id));
        Some(match read.await {
            Ok(groups) => {
                let groups = Arc::new(groups);
                if let Some(cache) = &self.cache {
                    cache.store_groups(user_id, Arc::clone(&groups), now);
                }
                Ok(groups)
            }
            Err(error) => Err(Unavailable::Graph(error)),
        })
    }

    /// Every extension, concurrently, each cut off at the deadline.
    async fn run_extensions(
        &self,
        request: &TokenIssuanceStartRequest,
        ctx: &ClaimsContext,
    ) -> Vec<(
        Arc<dyn ClaimsExtension>,
        Result<Vec<(String, ClaimValue)>, String>,
    )> {
        let deadline = ctx.budget().deadline();
        futures::future::join_all(self.extensions.iter().map(|extension| async move {
            let outcome =
                match tokio::time::timeout_at(deadline, extension.claims(request, ctx)).await {
                    Ok(Ok(claims)) => Ok(claims),
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(_) => Err("did not answer before the deadline".to_owned()),
                };
            (Arc::clone(extension), outcome)
        }))
        .await
    }
}

impl GroupSelection {
    fn resolve(&self, groups: &[GroupRef]) -> Resolved {
        let mut values: Vec<String> = groups
            .iter()
            .filter(|group| match &self.filter {
                GroupFilter::Prefix(prefix) => group
                    .display_name
                    .as_deref()
                    .is_some_and(|name| starts_with_ignore_case(name, prefix)),
                GroupFilter::Ids(ids) => ids.contains(&group.id.to_ascii_lowercase()),
            })
            .filter_map(|group| match self.emit {
                GroupEmit::Ids => Some(group.id.clone()),
                GroupEmit::Names => {
                    let name = group.display_name.as_deref()?;
                    match (&self.filter, self.strip_prefix) {
                        (GroupFilter::Prefix(prefix), true) => {
                            name.get(prefix.len()..).map(str::to_owned)
                        }
                        _ => Some(name.to_owned()),
                    }
                }
            })
            .filter(|value| !value.trim().is_empty())
            .collect();
        values.sort();
        values.dedup();
        if values.is_empty() {
            Resolved::Missing
        } else {
            Resolved::Value(ClaimValue::Many(values))
        }
    }
}

fn starts_with_ignore_case(value: &str, prefix: &str) -> bool {
    value
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn from_user_read(
    read: &Option<Result<Arc<FetchedUser>, Unavailable>>,
    property: &str,
) -> Resolved {
    match read {
        Some(Ok(user)) => user
            .values
            .get(property)
            .and_then(json_claim)
            .map_or(Resolved::Missing, Resolved::Value),
        Some(Err(cause)) => Resolved::Unavailable(cause.to_string()),
        None => Resolved::Missing,
    }
}

/// A Graph value as a claim: strings as they are, numbers and booleans as text (Entra takes only
/// strings), arrays of those as arrays; `null`, objects and empty values are no value.
fn json_claim(value: &Value) -> Option<ClaimValue> {
    fn scalar(value: &Value) -> Option<String> {
        match value {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match value {
        Value::Array(items) => {
            let values: Vec<String> = items.iter().filter_map(scalar).collect();
            (!values.is_empty()).then_some(ClaimValue::Many(values))
        }
        other => scalar(other).map(ClaimValue::One),
    }
}

/// Applies a rule's `multi`: `true` makes one value a one-element array, `false` joins several.
fn shape(value: ClaimValue, multi: Option<bool>) -> ClaimValue {
    match (value, multi) {
        (ClaimValue::One(value), Some(true)) => ClaimValue::Many(vec![value]),
        (ClaimValue::Many(values), Some(false)) => ClaimValue::One(values.join(",")),
        (value, _) => value,
    }
}

fn non_empty(value: ClaimValue) -> Option<ClaimValue> {
    match value {
        ClaimValue::One(s) if s.trim().is_empty() => None,
        ClaimValue::One(s) => Some(ClaimValue::One(s)),
        ClaimValue::Many(values) => {
            let kept: Vec<String> = values
                .into_iter()
                .filter(|v| !v.trim().is_empty())
                .collect();
            (!kept.is_empty()).then_some(ClaimValue::Many(kept))
        }
    }
}

/// A property of the callout's `user` object, when it carries it with a value.
fn callout_property<'a>(user: &'a CalloutUser, property: &str) -> Option<&'a str> {
    let value = match property {
        "id" => Some(user.id.as_str()),
        "displayName" => user.display_name.as_deref(),
        "givenName" => user.given_name.as_deref(),
        "surname" => user.surname.as_deref(),
        "mail" => user.mail.as_deref(),
        "userPrincipalName" => user.user_principal_name.as_deref(),
        "userType" => user.user_type.as_deref(),
        "preferredLanguage" => user.preferred_language.as_deref(),
        "companyName" => user.company_name.as_deref(),
        "createdDateTime" => user.created_date_time.as_deref(),
        _ => None,
    };
    value.filter(|v| !v.trim().is_empty())
}

fn field_value(field: ContextField, request: &TokenIssuanceStartRequest) -> Option<&str> {
    let callout = &request.callout;
    let context = &callout.context;
    let client = context.client_service_principal.as_ref();
    let resource = context.resource_service_principal.as_ref();
    let value = match field {
        ContextField::ClientAppId => client.and_then(|sp| sp.app_id.as_deref()),
        ContextField::ClientAppDisplayName => client.and_then(|sp| {
            sp.app_display_name
                .as_deref()
                .or(sp.display_name.as_deref())
        }),
        ContextField::ResourceAppId => resource.and_then(|sp| sp.app_id.as_deref()),
        ContextField::ResourceAppDisplayName => resource.and_then(|sp| {
            sp.app_display_name
                .as_deref()
                .or(sp.display_name.as_deref())
        }),
        ContextField::Locale => context.locale.as_deref(),
        ContextField::Market => context.market.as_deref(),
        ContextField::Ip => context.client_ip.as_deref(),
        ContextField::Protocol => context.protocol.as_deref(),
        ContextField::CorrelationId => Some(context.correlation_id.as_str()),
        ContextField::TenantId => Some(callout.tenant_id.as_str()),
    };
    value.filter(|v| !v.trim().is_empty())
}

/// The answer within Entra's 3 KB: the lowest-ranked claims that may be dropped go first.
fn fit(produced: Vec<Produced>) -> Result<(ProvideClaimsForToken, Vec<String>), DecideError> {
    let build = |items: &[Produced]| {
        let mut action = ProvideClaimsForToken::new();
        for item in items {
            action.insert(item.name.clone(), item.value.clone());
        }
        action
    };
    let mut items = produced;
    let mut action = build(&items);
    let mut dropped = Vec::new();
    while action.size_bytes() > MAX_CLAIMS_BYTES {
        let Some(index) = items.iter().rposition(|item| !item.protected) else {
            return Err(DecideError::RequiredClaimsTooLarge {
                size: action.size_bytes(),
            });
        };
        dropped.push(items.remove(index).name);
        action = build(&items);
    }
    if !dropped.is_empty() {
        tracing::warn!(
            dropped = ?dropped,
            size = action.size_bytes(),
            limit = MAX_CLAIMS_BYTES,
            "claims dropped to stay within Entra's claims size limit"
        );
    }
    Ok((action, dropped))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn graph_values_become_strings_or_string_arrays() {
        assert_eq!(
            json_claim(&json!("Gold")),
            Some(ClaimValue::One("Gold".into()))
        );
        assert_eq!(json_claim(&json!(42)), Some(ClaimValue::One("42".into())));
        assert_eq!(
            json_claim(&json!(true)),
            Some(ClaimValue::One("true".into()))
        );
        assert_eq!(
            json_claim(&json!(["a", "", null, 1])),
            Some(ClaimValue::Many(vec!["a".into(), "1".into()]))
        );
        assert_eq!(
            json_claim(&json!(["only"])),
            Some(ClaimValue::Many(vec!["only".into()]))
        );
        for nothing in [
            json!(null),
            json!(""),
            json!("  "),
            json!([]),
            json!({"a": 1}),
        ] {
            assert_eq!(json_claim(&nothing), None, "{nothing}");
        }
    }

    #[test]
    fn multi_reshapes_values() {
        let one = ClaimValue::One("a".into());
        let many = ClaimValue::Many(vec!["a".into(), "b".into()]);
        assert_eq!(shape(one.clone(), None), one);
        assert_eq!(
            shape(one.clone(), Some(true)),
            ClaimValue::Many(vec!["a".into()])
        );
        assert_eq!(shape(many.clone(), None), many);
        assert_eq!(shape(many, Some(false)), ClaimValue::One("a,b".into()));
    }

    #[test]
    fn fitting_drops_unprotected_claims_from_the_end() {
        let big = |name: &str, protected: bool| Produced {
            name: name.into(),
            value: ClaimValue::One("x".repeat(1200)),
            protected,
        };
        let (action, dropped) = fit(vec![
            big("first", false),
            big("second", true),
            big("third", false),
            big("fourth", false),
        ])
        .unwrap();
        assert_eq!(dropped, vec!["fourth", "third"]);
        assert_eq!(
            action.claims().map(|(n, _)| n).collect::<Vec<_>>(),
            vec!["first", "second"]
        );
        assert!(action.size_bytes() <= MAX_CLAIMS_BYTES);

        let error = fit(vec![big("a", true), big("b", true), big("c", true)]).unwrap_err();
        assert!(matches!(error, DecideError::RequiredClaimsTooLarge { .. }));
    }

    #[test]
    fn prefix_matching_ignores_ascii_case_and_survives_multibyte_names() {
        assert!(starts_with_ignore_case("Customers - Gold", "customers - "));
        assert!(!starts_with_ignore_case("Cüstomers", "Cus"));
        assert!(!starts_with_ignore_case("C", "Customers"));
    }
}
