//! Lambda entry point: configuration, logging, the rules file, the token validator and (when a
//! rule checks uniqueness) the Graph client are set up once per execution environment, then every
//! invocation runs [`attribute_collection_submit::router`].
//!
//! Environment: the platform configuration (`ENTRA_HOOKS_*`), the rules file named by
//! `ENTRA_HOOKS_RULES` (absent: every submission continues). The Graph client secret is resolved
//! here, at init, only when a rule reads the directory, so no callout pays a Secrets Manager round
//! trip inside Entra's timeout.

/// mimalloc: the callout path allocates per request; glibc's malloc, free and consolidation were
/// about 8 % of a served callout's CPU (BENCHMARKS.md, "Validated callbacks per core").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use attribute_collection_submit::{AttributeCollectionSubmit, router};
use entra_extensions::runtime::rules_file;
use entra_platform::telemetry::InitPhases;
use entra_platform::{CommonConfig, init_tracing, load_config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let mut init = InitPhases::start();
    let config: CommonConfig = load_config(None)?;
    init.mark("config");
    init_tracing(config.log.format, config.log.level.as_deref())?;
    init.mark("tracing");
    let rules = rules_file(&config)?;
    init.mark("rules");
    let http = entra_platform::https::default_client()?;
    init.mark("http_client");
    let app = AttributeCollectionSubmit::from_config(&config, &rules, http).await?;
    init.mark("app");
    init.log();
    lambda_http::run(router(Arc::new(app), config.limits.max_body_bytes)).await
}
