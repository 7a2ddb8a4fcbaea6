//! The hook for custom logic: a team adds what declarative rules cannot say (a check against its
//! own customer database, a risk score) by implementing [`AttributeCollectionSubmitExtension`]
//! and registering it on the state, without forking the handler. Extensions run after the rules,
//! in registration order, each seeing the action proposed so far; they run under the call budget
//! (the Graph client they get is bound to its deadline), and one that fails, is late or proposes
//! an action Entra would refuse is skipped: the answer so far stands and the call is logged with
//! `fallback = true`.

use async_trait::async_trait;
use entra_extensions::{
    AttributeCollectionSubmitAction, AttributeCollectionSubmitRequest, CallBudget,
};
use entra_graph::GraphClient;

/// What an extension may fail with; the message is logged, never shown to the user.
pub type ExtensionError = Box<dyn std::error::Error + Send + Sync>;

/// What an extension sees besides the request.
#[derive(Debug, Clone)]
pub struct SubmitContext<'a> {
    /// The call's budget: finish before `budget.deadline()` (the extension is abandoned then).
    pub budget: CallBudget,
    /// The directory, with every call bounded by the budget's deadline (when configured).
    pub graph: Option<GraphClient>,
    /// Names of the attribute rules that applied, in order.
    pub matched_rules: &'a [String],
}

/// Custom logic for attributeCollectionSubmit.
#[async_trait]
pub trait AttributeCollectionSubmitExtension: Send + Sync {
    /// A short name for logs.
    fn name(&self) -> &str;

    /// Returns a replacement for `proposed`, or `None` to keep it.
    async fn review(
        &self,
        request: &AttributeCollectionSubmitRequest,
        proposed: &AttributeCollectionSubmitAction,
        context: &SubmitContext<'_>,
    ) -> Result<Option<AttributeCollectionSubmitAction>, ExtensionError>;
}
