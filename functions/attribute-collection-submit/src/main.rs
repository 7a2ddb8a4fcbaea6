//! Lambda entry point: configuration, logging, the rules file, the token validator and (when a
//! rule checks uniqueness) the Graph client are set up once per execution environment, then every
//! invocation runs [`attribute_collection_submit::router`].
//!
//! Environment: the platform configuration (`ENTRA_HOOKS_*`), the rules file named by
//! `ENTRA_HOOKS_RULES` (absent: every submission continues). The Graph client secret is resolved
//! here, at init, only when a rule reads the directory, so no callout pays a Secrets Manager round
//! trip inside Entra's timeout.

use std::sync::Arc;

use attribute_collection_submit::{
    AttributeCollectionSubmit, AttributeCollectionSubmitRules, SECTION, router,
};
use entra_extensions::CalloutGuard;
use entra_extensions::runtime::{graph_client_if_needed, rules_file};
use entra_platform::{CommonConfig, init_tracing, load_config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config: CommonConfig = load_config(None)?;
    init_tracing(config.log.format, config.log.level.as_deref())?;
    let rules: AttributeCollectionSubmitRules = rules_file(&config)?.section(SECTION)?;
    let graph = graph_client_if_needed(&config, rules.needs_graph()).await?;
    let http = reqwest::Client::builder().build()?;
    let guard = CalloutGuard::from_config(&config, http)?;
    let app = Arc::new(AttributeCollectionSubmit::new(guard, &rules, graph)?);
    lambda_http::run(router(app, config.limits.max_body_bytes)).await
}
