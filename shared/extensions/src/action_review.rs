//! Custom logic after the rules, for the attribute-collection events (attributeCollectionStart and
//! attributeCollectionSubmit): a function may register extensions that review the action its
//! rules proposed, in registration order, each seeing the action proposed so far, all under the
//! call's budget. An extension that fails, is late, or proposes an action Entra would refuse is
//! skipped: the answer so far stands and the call is marked as a fallback. When the budget is
//! spent the remaining extensions do not run.
//!
//! [`ActionReview`] is that policy, once for both events. The function still calls each extension
//! itself (each event hands its extensions a different context):
//!
//! ```ignore
//! let mut review = ActionReview::new(rules_action, budget)?;
//! for extension in &self.extensions {
//!     let Some(deadline) = review.deadline_for(extension.name()) else { break };
//!     let answer = tokio::time::timeout_at(
//!         deadline,
//!         extension.review(request, review.proposed(), &context),
//!     )
//!     .await;
//!     review.settle(extension.name(), answer);
//! }
//! let reviewed = review.finish();
//! ```

use std::fmt::Display;

use serde_json::Value;
use tokio::time::Instant;
use tokio::time::error::Elapsed;

use crate::{
    AttributeActionError, AttributeCollectionStartAction, AttributeCollectionSubmitAction,
    CallBudget,
};

/// An action extensions can review: it knows the response body it becomes, or why Entra would
/// refuse it.
pub trait ReviewableAction {
    fn to_response(&self) -> Result<Value, AttributeActionError>;
}

impl ReviewableAction for AttributeCollectionStartAction {
    fn to_response(&self) -> Result<Value, AttributeActionError> {
        AttributeCollectionStartAction::to_response(self)
    }
}

impl ReviewableAction for AttributeCollectionSubmitAction {
    fn to_response(&self) -> Result<Value, AttributeActionError> {
        AttributeCollectionSubmitAction::to_response(self)
    }
}

/// The action under review and its response body, which always match.
#[derive(Debug)]
pub struct ActionReview<A> {
    action: A,
    response: Value,
    fallback: bool,
    budget: CallBudget,
}

/// What the review ended with.
#[derive(Debug, Clone, PartialEq)]
pub struct Reviewed<A> {
    /// The action to answer.
    pub action: A,
    /// Its complete response body.
    pub response: Value,
    /// Whether an extension was skipped (failed, late, refused answer, or no budget left).
    pub fallback: bool,
}

impl<A: ReviewableAction> ActionReview<A> {
    /// Starts from the rules' `action`. An error means our own rules produced an action Entra
    /// would refuse: a bug, for the function to answer with a 500.
    pub fn new(action: A, budget: CallBudget) -> Result<Self, AttributeActionError> {
        let response = action.to_response()?;
        Ok(Self {
            action,
            response,
            fallback: false,
            budget,
        })
    }

    /// The action proposed so far, for the next extension to review.
    pub fn proposed(&self) -> &A {
        &self.action
    }

    /// The deadline for `extension`'s turn, or `None` when the budget is already spent: the
    /// extension is skipped (logged, fallback) and so are the ones after it.
    pub fn deadline_for(&mut self, extension: &str) -> Option<Instant> {
        if self.budget.is_spent() {
            tracing::warn!(
                extension,
                "budget spent before the extension could run; skipped"
            );
            self.fallback = true;
            return None;
        }
        Some(self.budget.deadline())
    }

    /// Takes `extension`'s answer, as `tokio::time::timeout_at` returns it: a replacement is
    /// adopted when Entra would accept it; a refused replacement, an error or a missed deadline
    /// keeps the action so far and marks the fallback.
    pub fn settle<E: Display>(
        &mut self,
        extension: &str,
        answer: Result<Result<Option<A>, E>, Elapsed>,
    ) {
        match answer {
            Ok(Ok(None)) => {}
            Ok(Ok(Some(replacement))) => match replacement.to_response() {
                Ok(response) => {
                    self.action = replacement;
                    self.response = response;
                }
                Err(error) => {
                    tracing::error!(
                        extension,
                        %error,
                        "extension proposed an action Entra would refuse; ignored"
                    );
                    self.fallback = true;
                }
            },
            Ok(Err(error)) => {
                tracing::warn!(extension, %error, "extension failed; skipped");
                self.fallback = true;
            }
            Err(_) => {
                tracing::warn!(
                    extension,
                    "extension did not finish within the budget; skipped"
                );
                self.fallback = true;
            }
        }
    }

    /// The action to answer, its body, and whether any extension was skipped.
    pub fn finish(self) -> Reviewed<A> {
        Reviewed {
            action: self.action,
            response: self.response,
            fallback: self.fallback,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{AttributeValues, ShowBlockPage};

    fn budget() -> CallBudget {
        CallBudget::start(Duration::from_secs(60), Duration::ZERO)
    }

    fn prefill(value: &str) -> AttributeCollectionStartAction {
        AttributeCollectionStartAction::SetPrefillValues(AttributeValues::new().with("city", value))
    }

    async fn late() -> Result<Result<Option<AttributeCollectionStartAction>, String>, Elapsed> {
        tokio::time::timeout(Duration::ZERO, std::future::pending()).await
    }

    #[tokio::test]
    async fn replacements_are_adopted_in_turn() {
        let mut review = ActionReview::new(prefill("Seattle"), budget()).unwrap();
        review.settle::<String>("keep", Ok(Ok(None)));
        assert_eq!(review.proposed(), &prefill("Seattle"));
        assert!(review.deadline_for("replace").is_some());
        review.settle::<String>("replace", Ok(Ok(Some(prefill("Oslo")))));
        assert_eq!(
            review.finish(),
            Reviewed {
                action: prefill("Oslo"),
                response: prefill("Oslo").to_response().unwrap(),
                fallback: false,
            }
        );
    }

    #[tokio::test]
    async fn refused_failed_or_late_answers_keep_the_action_so_far() {
        let refused = AttributeCollectionStartAction::ShowBlockPage(ShowBlockPage::new(" "));
        assert!(refused.to_response().is_err());
        for (name, answer) in [
            ("refused", Ok(Ok(Some(refused)))),
            ("failed", Ok(Err("the store is down".to_owned()))),
            ("late", late().await),
        ] {
            let mut review = ActionReview::new(prefill("Oslo"), budget()).unwrap();
            review.settle(name, answer);
            assert_eq!(
                review.finish(),
                Reviewed {
                    action: prefill("Oslo"),
                    response: prefill("Oslo").to_response().unwrap(),
                    fallback: true,
                },
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn a_spent_budget_skips_the_extension_and_marks_the_fallback() {
        let spent = CallBudget::start(Duration::ZERO, Duration::ZERO);
        let mut review = ActionReview::new(prefill("Seattle"), spent).unwrap();
        assert_eq!(review.deadline_for("custom"), None);
        assert!(review.finish().fallback);
    }

    #[test]
    fn an_action_entra_would_refuse_is_an_error_from_the_start() {
        let refused = AttributeCollectionSubmitAction::ShowBlockPage(ShowBlockPage::new(" "));
        assert!(ActionReview::new(refused, budget()).is_err());
    }
}
