//! Lambda entry point: configuration, logging, secrets, keys and the queue client are set up once
//! per execution environment; every invocation runs [`notification_receiver::router`].

use std::sync::Arc;

use entra_platform::{init_tracing, load_config};
use notification_receiver::{MAX_BODY_BYTES, ReceiverConfig, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config: ReceiverConfig = load_config(None)?;
    init_tracing(config.log.format, config.log.level.as_deref())?;
    let aws = if config.needs_aws() {
        Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
    } else {
        None
    };
    let http = entra_platform::https::default_client()?;
    let receiver = Arc::new(config.build(http, aws.as_ref()).await?);
    lambda_http::run(router(receiver, MAX_BODY_BYTES)).await
}
