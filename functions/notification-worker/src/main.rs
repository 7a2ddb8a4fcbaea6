//! Lambda entry point (SQS event source with partial batch responses): configuration, logging,
//! the rules and the clients once per execution environment; each batch through
//! [`notification_worker::lambda::handle_batch`].

use entra_platform::{init_tracing, load_config};
use lambda_runtime::{LambdaEvent, run, service_fn};
use notification_worker::WorkerConfig;
use notification_worker::lambda::handle_batch;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config: WorkerConfig = load_config(None)?;
    init_tracing(config.log.format, config.log.level.as_deref())?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let worker = config.build(Some(&aws)).await?;
    run(service_fn(|event: LambdaEvent<_>| {
        let worker = &worker;
        async move { Ok::<_, lambda_runtime::Error>(handle_batch(worker, event.payload).await) }
    }))
    .await
}
