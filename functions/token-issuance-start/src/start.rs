//! Building the function from the platform configuration, once per execution environment: the
//! same steps in Lambda (`main.rs`) and in `entra-hooks serve`.

use entra_extensions::CalloutGuard;
use entra_extensions::rules_file::RulesFile;
use entra_extensions::runtime::{StartError, graph_client_if_needed};
use entra_platform::CommonConfig;

use crate::{ClaimsProvider, SECTION, TokenIssuanceStart, TokenIssuanceStartRules};

impl TokenIssuanceStart {
    /// The function for `config` and the `[token_issuance_start]` section of `rules`. The Graph
    /// client secret is resolved here only when a rule reads Graph, so the first callout does not
    /// pay a Secrets Manager round trip; signing keys are fetched on the first callout.
    pub async fn from_config(
        config: &CommonConfig,
        rules: &RulesFile,
        http: reqwest::Client,
    ) -> Result<Self, StartError> {
        let rules: TokenIssuanceStartRules = rules.section(SECTION)?;
        let graph = graph_client_if_needed(config, rules.needs_graph()).await?;
        let provider = ClaimsProvider::new(&rules, graph)?;
        let guard = CalloutGuard::from_config(config, http)?;
        Ok(Self::new(guard).with_provider(provider))
    }
}
