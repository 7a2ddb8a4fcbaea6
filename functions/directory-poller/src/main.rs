//! Lambda entry point (EventBridge schedule): set-up once per execution environment, one poll per
//! invocation.

use directory_poller::PollerConfig;
use entra_platform::{init_tracing, load_config};
use lambda_runtime::{LambdaEvent, run, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config: PollerConfig = load_config(None)?;
    init_tracing(config.log.format, config.log.level.as_deref())?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let poller = config.build(Some(&aws), None).await?;
    run(service_fn(|_event: LambdaEvent<Value>| {
        let poller = &poller;
        async move {
            let report = poller.run(time::OffsetDateTime::now_utc()).await?;
            Ok::<_, lambda_runtime::Error>(json!({
                "auditRecords": report.audit_records,
                "createdUsers": report.created_users,
                "queued": report.queued,
            }))
        }
    }))
    .await
}
