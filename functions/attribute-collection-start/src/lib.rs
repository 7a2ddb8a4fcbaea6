//! OnAttributeCollectionStart: the sign-up form is about to render, and we may prefill it, block
//! the sign-up, or let it render as configured (docs/protocols/extension-callbacks.md a.6).
//! This crate is the function's logic; `main.rs` only wires it into Lambda, and the local host
//! mounts the same [`router`].
//!
//! Order of work per call (a.0): token first, then the body, then the tenant binding, then the
//! declarative rules ([`rules`]) and any registered custom logic ([`extension`]), then the answer:
//! `200 application/json` with exactly one action, built by the entra-extensions builders.
//!
//! [`text`] and [`matching`] hold the vocabulary the attribute-collection-submit rules share
//! (texts per locale, client-application scopes, email domains).

pub mod extension;
pub mod matching;
mod policy;
pub mod rules;
mod start;
pub mod text;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use entra_extensions::action_review::ActionReview;
use entra_extensions::budget::DEFAULT_SAFETY_MARGIN;
use entra_extensions::{
    AttributeActionError, AttributeCollectionStartAction, AttributeCollectionStartRequest,
    CallBudget, CalloutGuard, bad_callout,
};
use entra_platform::HttpError;
use serde_json::Value;

pub use extension::{AttributeCollectionStartExtension, ExtensionError, StartContext};
pub use policy::sign_up_email;
pub use rules::{AttributeCollectionStartRules, SECTION};

use crate::policy::StartPolicy;

/// Where the HTTP API routes this event (template.yaml and the local host use the same path).
pub const PATH: &str = "/extensions/attribute-collection-start";

/// What the function answers for one callout, before it goes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The one action of the answer.
    pub action: AttributeCollectionStartAction,
    /// The complete response body.
    pub response: Value,
    /// Whether a dependency (a custom extension) failed or was late and the answer fell back.
    pub fallback: bool,
    /// The rules that applied, in order.
    pub matched_rules: Vec<String>,
}

impl Decision {
    /// The action's short name for logs (`setPrefillValues`).
    pub fn action_name(&self) -> &'static str {
        short_name(self.action.action_type())
    }
}

fn short_name(action_type: &'static str) -> &'static str {
    action_type.rsplit('.').next().unwrap_or(action_type)
}

/// The function's long-lived state, built once per execution environment.
pub struct AttributeCollectionStart {
    guard: CalloutGuard,
    policy: StartPolicy,
    timeout: Duration,
    extensions: Vec<Arc<dyn AttributeCollectionStartExtension>>,
}

impl AttributeCollectionStart {
    /// The state for validated `rules` (from `RulesFile::section(SECTION)`).
    pub fn new(guard: CalloutGuard, rules: &AttributeCollectionStartRules) -> Self {
        Self {
            guard,
            policy: StartPolicy::new(rules),
            timeout: rules.timeout(),
            extensions: Vec::new(),
        }
    }

    /// Adds custom logic, run after the rules and any extension added before it.
    pub fn with_extension(mut self, extension: Arc<dyn AttributeCollectionStartExtension>) -> Self {
        self.extensions.push(extension);
        self
    }

    /// A budget starting now: Entra's timeout minus the safety margin.
    pub fn start_budget(&self) -> CallBudget {
        CallBudget::start(self.timeout, DEFAULT_SAFETY_MARGIN)
    }

    /// The business decision for a parsed callout: rules, then extensions under `budget`. Needs
    /// no token (the replay CLI calls it directly). An error is a response Entra would refuse
    /// coming from our own configuration: a bug, answered 500 by [`Self::handle`].
    pub async fn decide(
        &self,
        request: &AttributeCollectionStartRequest,
        budget: CallBudget,
    ) -> Result<Decision, AttributeActionError> {
        let outcome = self.policy.evaluate(request);
        let mut review = ActionReview::new(outcome.action, budget)?;
        let context = StartContext {
            budget,
            matched_rules: &outcome.matched,
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
            fallback: reviewed.fallback,
            matched_rules: outcome.matched,
        })
    }

    /// Answers one callout: authenticate, parse, bind, decide, answer, one log line.
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> Result<Response, HttpError> {
        let budget = self.start_budget();
        let started = Instant::now();
        let caller = self.guard.authenticate(headers).await?;
        let request = AttributeCollectionStartRequest::parse(body).map_err(bad_callout)?;
        self.guard.bind(&caller, &request.callout)?;
        let decision = self
            .decide(&request, budget)
            .await
            .map_err(HttpError::internal)?;

        entra_extensions::metrics::record_decision(decision.action_name(), decision.fallback);
        entra_extensions::callout_event!(
            INFO,
            request.callout,
            action = decision.action_name(),
            rules = %decision.matched_rules.join(","),
            fallback = decision.fallback,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "answered callout"
        );
        Ok(axum::Json(decision.response).into_response())
    }
}

/// The function's routes, with the body limit and request context every function has.
pub fn router(app: Arc<AttributeCollectionStart>, max_body_bytes: usize) -> Router {
    entra_extensions::callout_router(PATH, app, max_body_bytes)
}

impl entra_extensions::CalloutEndpoint for AttributeCollectionStart {
    async fn answer(&self, headers: &HeaderMap, body: &[u8]) -> Result<Response, HttpError> {
        self.handle(headers, body).await
    }
}
