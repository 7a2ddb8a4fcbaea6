//! Lambda entry point: configuration, logging and clients are set up once per execution
//! environment, then every invocation runs [`token_issuance_start::router`].

use std::sync::Arc;

use entra_extensions::CalloutGuard;
use entra_platform::{CommonConfig, init_tracing, load_config};
use token_issuance_start::{TokenIssuanceStart, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config: CommonConfig = load_config(None)?;
    init_tracing(config.log.format, config.log.level.as_deref())?;
    let http = reqwest::Client::builder().build()?;
    let guard = CalloutGuard::from_config(&config, http)?;
    let app = Arc::new(TokenIssuanceStart::new(guard));
    lambda_http::run(router(app, config.limits.max_body_bytes)).await
}
