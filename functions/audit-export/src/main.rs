//! Lambda entry point (EventBridge schedule): configuration, logging and clients once per
//! execution environment; each invocation runs one export pass and stops before the deadline.

use audit_export::lambda::{handle, setup};
use lambda_runtime::{run, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let job = setup().await?;
    run(service_fn(|event| handle(&job, event))).await
}
