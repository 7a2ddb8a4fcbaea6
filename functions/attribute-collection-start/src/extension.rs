//! The hook for custom logic: a team adds what declarative rules cannot say (a waiting list in
//! its own database, an invitation check) by implementing
//! [`AttributeCollectionStartExtension`] and registering it on the state, without forking the
//! handler. Extensions run after the rules, in registration order, each seeing the action
//! proposed so far; they run under the call budget, and one that fails, is late or proposes an
//! action Entra would refuse is skipped (the answer so far stands and the call is logged with
//! `fallback = true`).

use async_trait::async_trait;
use entra_extensions::{
    AttributeCollectionStartAction, AttributeCollectionStartRequest, CallBudget,
};

/// What an extension may fail with; the message is logged, never shown to the user.
pub type ExtensionError = Box<dyn std::error::Error + Send + Sync>;

/// What an extension sees besides the request.
#[derive(Debug, Clone, Copy)]
pub struct StartContext<'a> {
    /// The call's budget: finish before `budget.deadline()` (the extension is abandoned then).
    pub budget: CallBudget,
    /// Names of the rules that applied, in order.
    pub matched_rules: &'a [String],
}

/// Custom logic for attributeCollectionStart.
#[async_trait]
pub trait AttributeCollectionStartExtension: Send + Sync {
    /// A short name for logs.
    fn name(&self) -> &str;

    /// Returns a replacement for `proposed`, or `None` to keep it.
    async fn review(
        &self,
        request: &AttributeCollectionStartRequest,
        proposed: &AttributeCollectionStartAction,
        context: &StartContext<'_>,
    ) -> Result<Option<AttributeCollectionStartAction>, ExtensionError>;
}
