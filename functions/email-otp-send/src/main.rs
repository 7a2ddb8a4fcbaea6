//! Lambda entry point: configuration, logging and clients are set up once per execution
//! environment, then every invocation runs [`email_otp_send::router`].

/// mimalloc: the callout path allocates per request; glibc's malloc, free and consolidation were
/// about 8 % of a served callout's CPU (BENCHMARKS.md, "Validated callbacks per core").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use email_otp_send::{EmailOtpSendConfig, router};
use entra_platform::telemetry::InitPhases;
use entra_platform::{init_tracing, load_config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let mut init = InitPhases::start();
    let config: EmailOtpSendConfig = load_config(None)?;
    init.mark("config");
    init_tracing(config.log.format, config.log.level.as_deref())?;
    init.mark("tracing");
    let http = entra_platform::https::default_client()?;
    init.mark("http_client");
    let app = Arc::new(config.build(http).await?);
    init.mark("app");
    init.log();
    lambda_http::run(router(app, config.limits.max_body_bytes)).await
}
