//! Lambda entry point (EventBridge schedule): set-up once per execution environment, one
//! reconciliation pass per invocation.

use entra_platform::{init_tracing, load_config};
use lambda_runtime::{LambdaEvent, run, service_fn};
use serde_json::{Value, json};
use subscription_keeper::{Action, KeeperConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config: KeeperConfig = load_config(None)?;
    init_tracing(config.log.format, config.log.level.as_deref())?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let keeper = config.build(Some(&aws)).await?;
    run(service_fn(|_event: LambdaEvent<Value>| {
        let keeper = &keeper;
        async move {
            let actions = keeper.sync(time::OffsetDateTime::now_utc()).await?;
            let failed = actions
                .iter()
                .filter(|a| matches!(a, Action::Failed { .. }))
                .count();
            if failed > 0 {
                return Err(
                    format!("{failed} subscription(s) could not be kept: {actions:?}").into(),
                );
            }
            Ok::<_, lambda_runtime::Error>(json!({ "actions": format!("{actions:?}") }))
        }
    }))
    .await
}
