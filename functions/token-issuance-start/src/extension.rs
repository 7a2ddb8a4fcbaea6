//! Custom claims logic a team adds without forking the handler: implement [`ClaimsExtension`] and
//! register it with [`crate::ClaimsProvider::with_extension`].
//!
//! Extensions run concurrently with the rules' Graph reads and under the same deadline. Their
//! claims rank after every rule's for the 3 KB limit, and replace a rule's claim of the same name.
//! An extension that fails or is late is left out (the call is answered without its claims),
//! unless it declares itself [`ClaimsExtension::required`], in which case the answer is HTTP 500.

use async_trait::async_trait;
use entra_extensions::{CallBudget, ClaimValue, TokenIssuanceStartRequest};
use entra_graph::GraphClient;

/// Why an extension could not produce its claims; logged, never returned to Entra.
pub type ClaimsExtensionError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Custom claims for a token, computed in Rust.
///
/// ```
/// use async_trait::async_trait;
/// use entra_extensions::{ClaimValue, TokenIssuanceStartRequest};
/// use token_issuance_start::{ClaimsContext, ClaimsExtension, ClaimsExtensionError};
///
/// /// Tells the app which region served the sign-in.
/// struct Region(&'static str);
///
/// #[async_trait]
/// impl ClaimsExtension for Region {
///     async fn claims(
///         &self,
///         _request: &TokenIssuanceStartRequest,
///         _ctx: &ClaimsContext,
///     ) -> Result<Vec<(String, ClaimValue)>, ClaimsExtensionError> {
///         Ok(vec![("region".to_owned(), ClaimValue::from(self.0))])
///     }
/// }
/// ```
#[async_trait]
pub trait ClaimsExtension: Send + Sync {
    /// The claims to add for this request. Empty names and empty values are skipped.
    async fn claims(
        &self,
        request: &TokenIssuanceStartRequest,
        ctx: &ClaimsContext,
    ) -> Result<Vec<(String, ClaimValue)>, ClaimsExtensionError>;

    /// A name for logs.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// `true` when a token must not be issued without this extension's claims: a failure or a
    /// late answer then makes the call answer HTTP 500 (Entra shows its error), and its claims
    /// are never dropped to fit the 3 KB limit. Default `false`.
    fn required(&self) -> bool {
        false
    }
}

/// What an extension may use while it runs.
#[derive(Debug, Clone)]
pub struct ClaimsContext {
    budget: CallBudget,
    graph: Option<GraphClient>,
}

impl ClaimsContext {
    pub(crate) fn new(budget: CallBudget, graph: Option<GraphClient>) -> Self {
        Self { budget, graph }
    }

    /// The call's budget: finish before `budget().deadline()`; past it the claims are not used.
    pub fn budget(&self) -> &CallBudget {
        &self.budget
    }

    /// The function's Graph client, already bound to the call's deadline (`None` when the
    /// function has no `[graph]` configuration).
    pub fn graph(&self) -> Option<&GraphClient> {
        self.graph.as_ref()
    }
}
