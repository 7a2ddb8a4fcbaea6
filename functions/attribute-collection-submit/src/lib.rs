//! OnAttributeCollectionSubmit: the person submitted the sign-up form, and we may accept it,
//! tidy values, send them back with per-attribute messages, or stop the sign-up
//! (docs/protocols/extension-callbacks.md a.7). This crate is the function's logic; `main.rs`
//! only wires it into Lambda, and the local host mounts the same [`router`].
//!
//! Order of work per call (a.0): token first, then the body, then the tenant binding, then the
//! declarative rules ([`rules`]; local checks first, then uniqueness lookups in the directory
//! under the call's deadline) and any registered custom logic ([`extension`]), then the answer:
//! `200 application/json` with exactly one action, built by the entra-extensions builders. When
//! the directory fails or is late, each uniqueness rule's `on_error` decides, in time.

pub mod extension;
mod policy;
pub mod rules;
mod start;
mod trace_steps;
mod uniqueness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use entra_extensions::action_review::ActionReview;
use entra_extensions::budget::DEFAULT_SAFETY_MARGIN;
use entra_extensions::{
    AttributeActionError, AttributeCollectionSubmitAction, AttributeCollectionSubmitRequest,
    AttributeValues, CallBudget, CalloutGuard, ShowBlockPage, ShowValidationError, bad_callout,
};
use entra_graph::GraphClient;
use entra_platform::HttpError;
use serde_json::Value;

pub use extension::{AttributeCollectionSubmitExtension, ExtensionError, SubmitContext};
pub use policy::{
    DEFAULT_BLOCK_MESSAGE, DEFAULT_PAGE_MESSAGE, DEFAULT_UNAVAILABLE_MESSAGE,
    DEFAULT_UNAVAILABLE_TITLE, PolicyError,
};
pub use rules::{AttributeCollectionSubmitRules, SECTION};

use crate::policy::{Check, Current, SubmitPolicy};
use crate::rules::{OnError, Violation};
use crate::uniqueness::Holder;

/// Where the HTTP API routes this event (template.yaml and the local host use the same path).
pub const PATH: &str = "/extensions/attribute-collection-submit";

/// Why the function cannot start with the given rules.
#[derive(Debug, thiserror::Error)]
pub enum SubmitSetupError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(
        "attribute rule `{rule}` has unique = true, which reads the directory, but no Graph \
         client is configured; add the [graph] section to the function configuration or remove \
         unique"
    )]
    GraphRequired { rule: String },
}

/// What the function answers for one callout, before it goes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The one action of the answer.
    pub action: AttributeCollectionSubmitAction,
    /// The complete response body.
    pub response: Value,
    /// Whether a dependency (the directory, a custom extension) failed or was late and a
    /// configured fallback answered.
    pub fallback: bool,
    /// The attribute rules that applied, in order.
    pub matched_rules: Vec<String>,
}

impl Decision {
    /// The action's short name for logs (`showValidationError`).
    pub fn action_name(&self) -> &'static str {
        let action_type = self.action.action_type();
        action_type.rsplit('.').next().unwrap_or(action_type)
    }
}

/// The rules' verdict before custom logic.
struct Verdict {
    action: AttributeCollectionSubmitAction,
    matched: Vec<String>,
    fallback: bool,
}

/// One attribute of the form while the rules work on it.
struct Working {
    /// The name as Entra sent it (the key of `attributeErrors` and `attributes`).
    name: String,
    sent: Value,
    current: Current,
    /// The first message for this attribute; later failures do not replace it.
    error: Option<String>,
}

/// A uniqueness lookup to run once the local checks are done.
struct Lookup {
    rule: usize,
    slot: usize,
    property: String,
    literal: String,
}

/// The function's long-lived state, built once per execution environment.
pub struct AttributeCollectionSubmit {
    guard: CalloutGuard,
    policy: SubmitPolicy,
    timeout: Duration,
    graph: Option<GraphClient>,
    extensions: Vec<Arc<dyn AttributeCollectionSubmitExtension>>,
}

impl AttributeCollectionSubmit {
    /// The state for validated `rules` (from `RulesFile::section(SECTION)`). `graph` is needed
    /// when a rule checks uniqueness; it is also handed to custom extensions.
    pub fn new(
        guard: CalloutGuard,
        rules: &AttributeCollectionSubmitRules,
        graph: Option<GraphClient>,
    ) -> Result<Self, SubmitSetupError> {
        if graph.is_none()
            && let Some(rule) = rules.attributes.iter().find(|r| r.get_ref().is_unique())
        {
            return Err(SubmitSetupError::GraphRequired {
                rule: rule.get_ref().name.get_ref().clone(),
            });
        }
        Ok(Self {
            guard,
            policy: SubmitPolicy::new(rules)?,
            timeout: rules.timeout(),
            graph,
            extensions: Vec::new(),
        })
    }

    /// Adds custom logic, run after the rules and any extension added before it.
    pub fn with_extension(
        mut self,
        extension: Arc<dyn AttributeCollectionSubmitExtension>,
    ) -> Self {
        self.extensions.push(extension);
        self
    }

    /// A budget starting now: Entra's timeout minus the safety margin.
    pub fn start_budget(&self) -> CallBudget {
        CallBudget::start(self.timeout, DEFAULT_SAFETY_MARGIN)
    }

    /// The business decision for a parsed callout: rules (with directory lookups under
    /// `budget`), then extensions. Needs no token (the replay CLI calls it directly). Always
    /// returns by the budget's deadline (plus the time to build the answer). An error is a
    /// response Entra would refuse coming from our own configuration: a bug, answered 500 by
    /// [`Self::handle`].
    pub async fn decide(
        &self,
        request: &AttributeCollectionSubmitRequest,
        budget: CallBudget,
    ) -> Result<Decision, AttributeActionError> {
        let verdict = self.evaluate(request, budget).await;
        let mut review = ActionReview::new(verdict.action, budget)?;
        let context = SubmitContext {
            budget,
            graph: self
                .graph
                .as_ref()
                .map(|graph| graph.with_deadline(budget.deadline())),
            matched_rules: &verdict.matched,
        };
        for extension in &self.extensions {
            let Some(deadline) = review.deadline_for(extension.name()) else {
                break;
            };
            let answer = tokio::time::timeout_at(
                deadline,
                extension.review(request, review.proposed(), &context),
            )
            .await;
            review.settle(extension.name(), answer);
        }
        let reviewed = review.finish();
        Ok(Decision {
            action: reviewed.action,
            response: reviewed.response,
            fallback: verdict.fallback || reviewed.fallback,
            matched_rules: verdict.matched,
        })
    }

    async fn evaluate(
        &self,
        request: &AttributeCollectionSubmitRequest,
        budget: CallBudget,
    ) -> Verdict {
        let context = &request.callout.context;
        let locale = context.locale.as_deref();
        let app_id = context
            .client_service_principal
            .as_ref()
            .and_then(|sp| sp.app_id.as_deref());
        let attributes = &request.user_sign_up_info.attributes;
        let mut working: Vec<Working> = Vec::new();
        let mut blocks: Vec<ShowBlockPage> = Vec::new();
        let mut lookups: Vec<Lookup> = Vec::new();
        let mut matched = Vec::new();

        for (index, rule) in self.policy.attributes.iter().enumerate() {
            if !rule.applies_to(app_id) {
                continue;
            }
            let Some((name, value)) = attributes.iter().find(|(name, _)| rule.matches(name)) else {
                continue;
            };
            matched.push(rule.label.clone());
            let slot = match working.iter().position(|w| w.name == name) {
                Some(slot) => slot,
                None => {
                    working.push(Working {
                        name: name.to_owned(),
                        sent: value.value.clone(),
                        current: rule.read(value),
                        error: None,
                    });
                    working.len() - 1
                }
            };
            let entry = &mut working[slot];
            rule.normalize(&mut entry.current);
            let checked = rule.check(&mut entry.current);
            entra_extensions::trace::step(|| {
                let lookup = checked.is_ok() && rule.unique && !entry.current.is_empty();
                trace_steps::checked(rule, name, &entry.sent, &entry.current, checked, lookup)
            });
            match checked {
                Err(check) => match rule.violation(check) {
                    Violation::Block => blocks.push(rule.block.page(locale)),
                    Violation::Error => {
                        entry
                            .error
                            .get_or_insert_with(|| rule.message(check, locale));
                    }
                },
                Ok(()) if rule.unique && !entry.current.is_empty() => {
                    if let (Some(property), Some(literal)) =
                        (&rule.graph_property, entry.current.filter_literal())
                    {
                        lookups.push(Lookup {
                            rule: index,
                            slot,
                            property: property.clone(),
                            literal,
                        });
                    }
                }
                Ok(()) => {}
            }
        }

        // A local block needs no directory answer.
        if let Some(page) = blocks.first() {
            return Verdict {
                action: AttributeCollectionSubmitAction::ShowBlockPage(page.clone()),
                matched,
                fallback: false,
            };
        }

        let mut fallback = false;
        // Values already refused need no lookup.
        lookups.retain(|lookup| working[lookup.slot].error.is_none());
        let holders = match &self.graph {
            Some(graph) if !lookups.is_empty() => {
                futures::future::join_all(lookups.iter().map(|lookup| {
                    let source = format!("uniqueness:{}", working[lookup.slot].name);
                    let holder = uniqueness::holder(
                        graph,
                        &lookup.property,
                        &lookup.literal,
                        budget.deadline(),
                    );
                    async move { entra_extensions::trace::graph_source(&source, holder).await }
                }))
                .await
            }
            _ => Vec::new(),
        };
        for (lookup, holder) in lookups.iter().zip(holders) {
            let rule = &self.policy.attributes[lookup.rule];
            let entry = &mut working[lookup.slot];
            entra_extensions::trace::step(|| {
                let source = format!("uniqueness:{}", entry.name);
                trace_steps::uniqueness(rule, &entry.name, &source, &holder)
            });
            match holder {
                Holder::Free => {}
                Holder::Taken => match rule.on_invalid {
                    Violation::Block => blocks.push(rule.block.page(locale)),
                    Violation::Error => {
                        entry
                            .error
                            .get_or_insert_with(|| rule.message(Check::Unique, locale));
                    }
                },
                Holder::Unknown(reason) => {
                    fallback = true;
                    tracing::warn!(
                        attribute = %entry.name,
                        %reason,
                        on_error = ?rule.on_error,
                        "uniqueness check failed; answering the configured fallback"
                    );
                    match rule.on_error {
                        OnError::Allow => {}
                        OnError::Block => blocks.push(rule.unavailable_block.page(locale)),
                        OnError::Error => {
                            entry
                                .error
                                .get_or_insert_with(|| rule.message(Check::Unavailable, locale));
                        }
                    }
                }
            }
        }

        let action = if let Some(page) = blocks.into_iter().next() {
            AttributeCollectionSubmitAction::ShowBlockPage(page)
        } else if working.iter().any(|w| w.error.is_some()) {
            let mut errors = ShowValidationError::new(self.policy.page_message.resolve(locale));
            for entry in &working {
                if let Some(message) = &entry.error {
                    errors.insert(entry.name.clone(), message.clone());
                }
            }
            AttributeCollectionSubmitAction::ShowValidationError(errors)
        } else {
            let mut changed = AttributeValues::new();
            for entry in &working {
                if let Some(value) = entry.current.changed_from(&entry.sent) {
                    changed.insert(entry.name.clone(), value);
                }
            }
            if changed.is_empty() {
                AttributeCollectionSubmitAction::ContinueWithDefaultBehavior
            } else {
                AttributeCollectionSubmitAction::ModifyAttributeValues(changed)
            }
        };
        Verdict {
            action,
            matched,
            fallback,
        }
    }

    /// Answers one callout: authenticate, parse, bind, decide, answer, one log line.
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> Result<Response, HttpError> {
        let budget = self.start_budget();
        let started = Instant::now();
        let caller = self.guard.authenticate(headers).await?;
        let request = AttributeCollectionSubmitRequest::parse(body).map_err(bad_callout)?;
        self.guard.bind(&caller, &request.callout)?;
        let decision = self
            .decide(&request, budget)
            .await
            .map_err(HttpError::internal)?;

        let errors = match &decision.action {
            AttributeCollectionSubmitAction::ShowValidationError(errors) => {
                errors.attribute_errors().count()
            }
            _ => 0,
        };
        entra_extensions::metrics::record_decision(decision.action_name(), decision.fallback);
        entra_extensions::callout_event!(
            INFO,
            request.callout,
            action = decision.action_name(),
            rules = %decision.matched_rules.join(","),
            attribute_errors = errors,
            fallback = decision.fallback,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "answered callout"
        );
        Ok(axum::Json(decision.response).into_response())
    }
}

/// The function's routes, with the body limit and request context every function has.
pub fn router(app: Arc<AttributeCollectionSubmit>, max_body_bytes: usize) -> Router {
    entra_extensions::callout_router(PATH, app, max_body_bytes)
}

impl entra_extensions::CalloutEndpoint for AttributeCollectionSubmit {
    async fn answer(&self, headers: &HeaderMap, body: &[u8]) -> Result<Response, HttpError> {
        self.handle(headers, body).await
    }
}
