//! The Lambda side: set-up from the environment and one export pass per scheduled invocation,
//! ending before the invocation's deadline.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use entra_graph::Instant;
use entra_platform::{init_tracing, load_config};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

use crate::config::{AuditExportConfig, ExportJob};
use crate::export::RunOptions;
use crate::report::{any_failed, log_summary, summary, write_metrics};

/// Loads and validates the configuration, starts logging and builds the clients.
pub async fn setup() -> Result<ExportJob, lambda_runtime::Error> {
    let config: AuditExportConfig = load_config(None)?;
    init_tracing(config.log.format, config.log.level.as_deref())?;
    let aws = if config.needs_aws() {
        Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
    } else {
        None
    };
    Ok(config.build(aws.as_ref()).await?)
}

/// One scheduled pass. The event's content is not used: every run exports what is due.
pub async fn handle(
    job: &ExportJob,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let options = RunOptions {
        deadline: instant_of(event.context.deadline),
        ..RunOptions::now()
    };
    let reports = job.exporter.run(&job.streams, options).await;
    for report in &reports {
        log_summary(report);
    }
    // One EMF document per line on stdout, where Lambda sends it to CloudWatch Logs.
    let mut metrics = Vec::new();
    write_metrics(&reports, options.now, &mut metrics);
    print!("{}", String::from_utf8_lossy(&metrics));
    let summary = summary(&reports);
    if any_failed(&reports) {
        return Err(format!("audit export failed: {summary}").into());
    }
    Ok(summary)
}

/// The invocation deadline (milliseconds since the epoch) as a monotonic instant.
fn instant_of(deadline_ms: u64) -> Option<Instant> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis();
    let left = u64::try_from(u128::from(deadline_ms).checked_sub(now_ms)?).ok()?;
    Some(Instant::now() + Duration::from_millis(left))
}
