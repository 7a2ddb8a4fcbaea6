//! Lambda entry point: configuration, logging, the rules and the clients are set up once per
//! execution environment, then every invocation runs [`token_issuance_start::router`].
//!
//! Environment: the platform configuration (`ENTRA_HOOKS_*`), the rules file named by
//! `ENTRA_HOOKS_RULES` (absent: no claims). The Graph client secret is resolved here, at init, only
//! when a rule reads Graph, so the first callout does not pay a Secrets Manager round trip.

use std::sync::Arc;

use entra_extensions::CalloutGuard;
use entra_extensions::runtime::{graph_client_if_needed, rules_file};
use entra_platform::{CommonConfig, init_tracing, load_config};
use token_issuance_start::{
    ClaimsProvider, SECTION, TokenIssuanceStart, TokenIssuanceStartRules, router,
};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config: CommonConfig = load_config(None)?;
    init_tracing(config.log.format, config.log.level.as_deref())?;
    let rules: TokenIssuanceStartRules = rules_file(&config)?.section(SECTION)?;
    let graph = graph_client_if_needed(&config, rules.needs_graph()).await?;
    let provider = ClaimsProvider::new(&rules, graph)?;
    let http = reqwest::Client::builder().build()?;
    let guard = CalloutGuard::from_config(&config, http)?;
    let app = Arc::new(TokenIssuanceStart::new(guard).with_provider(provider));
    lambda_http::run(router(app, config.limits.max_body_bytes)).await
}
