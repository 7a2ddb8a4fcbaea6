//! What a run tells its operator: one summary log line per stream, one CloudWatch Embedded Metric
//! Format line per stream (records exported and lag, so an alarm fires when the export falls
//! behind, with no CloudWatch API call), and a JSON summary for the invoker.
//!
//! EMF: a JSON log line whose `_aws.CloudWatchMetrics` names the metrics in the same object
//! ([specification](https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)).

use std::io::Write;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::export::{StreamOutcome, StreamReport};
use crate::window::graph_instant;

/// The CloudWatch namespace of every entra-hooks metric.
pub const METRIC_NAMESPACE: &str = "EntraHooks";

/// Logs the summary line of `report` (tracing, so it carries the Lambda request id).
pub fn log_summary(report: &StreamReport) {
    let exported_until = report.exported_until.map(graph_instant).unwrap_or_default();
    let lag_secs = report.lag.map(|lag| lag.whole_seconds());
    match &report.outcome {
        StreamOutcome::Failed(error) => tracing::error!(
            stream = report.stream.name,
            outcome = report.outcome.label(),
            windows = report.windows,
            rewritten = report.rewritten,
            records = report.records,
            bytes = report.bytes,
            duration_ms = report.duration.as_millis() as u64,
            lag_secs,
            exported_until,
            error = %error,
            "audit export stopped on an error; the next run retries from the checkpoint"
        ),
        StreamOutcome::Unavailable { code } => tracing::warn!(
            stream = report.stream.name,
            outcome = report.outcome.label(),
            graph_code = %code,
            "this audit log is not available in the tenant (licence); other streams go on"
        ),
        _ => tracing::info!(
            stream = report.stream.name,
            outcome = report.outcome.label(),
            windows = report.windows,
            rewritten = report.rewritten,
            records = report.records,
            bytes = report.bytes,
            duration_ms = report.duration.as_millis() as u64,
            lag_secs,
            exported_until,
            "audit export pass"
        ),
    }
}

/// The EMF document of `report` at `at`.
pub fn metrics_line(report: &StreamReport, at: OffsetDateTime) -> Value {
    let millis = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or_default();
    let mut document = json!({
        "_aws": {
            "Timestamp": millis,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [["Function", "Stream"]],
                "Metrics": [
                    {"Name": "AuditRecordsExported", "Unit": "Count"},
                    {"Name": "AuditWindowsExported", "Unit": "Count"},
                    {"Name": "AuditBytesExported", "Unit": "Bytes"},
                    {"Name": "AuditExportLagSeconds", "Unit": "Seconds"},
                    {"Name": "AuditExportFailed", "Unit": "Count"},
                    {"Name": "AuditStreamUnavailable", "Unit": "Count"}
                ]
            }]
        },
        "Function": "audit-export",
        "Stream": report.stream.name,
        "AuditRecordsExported": report.records,
        "AuditWindowsExported": report.windows,
        "AuditBytesExported": report.bytes,
        "AuditExportFailed": u8::from(matches!(report.outcome, StreamOutcome::Failed(_))),
        "AuditStreamUnavailable": u8::from(matches!(report.outcome, StreamOutcome::Unavailable { .. })),
        "Outcome": report.outcome.label(),
    });
    if let Some(lag) = report.lag {
        document["AuditExportLagSeconds"] = json!(lag.whole_seconds());
    }
    document
}

/// Writes one EMF line per report to `out` (stdout in Lambda).
pub fn write_metrics(reports: &[StreamReport], at: OffsetDateTime, out: &mut impl Write) {
    for report in reports {
        let _ = writeln!(out, "{}", metrics_line(report, at));
    }
}

/// The run as JSON (the Lambda's answer, the CLI's `--json`).
pub fn summary(reports: &[StreamReport]) -> Value {
    let streams: Vec<Value> = reports
        .iter()
        .map(|report| {
            let mut entry = json!({
                "stream": report.stream.name,
                "outcome": report.outcome.label(),
                "windows": report.windows,
                "rewritten": report.rewritten,
                "records": report.records,
                "bytes": report.bytes,
                "durationMs": report.duration.as_millis() as u64,
                "exportedUntil": report.exported_until.map(graph_instant),
                "lagSeconds": report.lag.map(|lag| lag.whole_seconds()),
            });
            match &report.outcome {
                StreamOutcome::Failed(error) => entry["error"] = json!(error.to_string()),
                StreamOutcome::Unavailable { code } => entry["graphCode"] = json!(code),
                _ => {}
            }
            entry
        })
        .collect();
    json!({ "streams": streams })
}

/// True when some stream failed (the run should be reported as failed).
pub fn any_failed(reports: &[StreamReport]) -> bool {
    reports
        .iter()
        .any(|report| matches!(report.outcome, StreamOutcome::Failed(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::AuditStream;
    use std::time::Duration;
    use time::macros::datetime;

    fn report(outcome: StreamOutcome) -> StreamReport {
        StreamReport {
            stream: AuditStream::SIGN_INS,
            outcome,
            windows: 4,
            rewritten: 1,
            records: 1200,
            bytes: 34_000,
            duration: Duration::from_millis(812),
            exported_until: Some(datetime!(2026-11-26 21:00 UTC)),
            lag: Some(time::Duration::minutes(20)),
        }
    }

    #[test]
    fn the_metrics_line_is_valid_emf() {
        let line = metrics_line(
            &report(StreamOutcome::Complete),
            datetime!(2026-11-26 21:20 UTC),
        );
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "EntraHooks");
        assert_eq!(line["_aws"]["Timestamp"], 1_795_728_000_000_i64);
        // Every declared metric and dimension is a member of the root object.
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "{name} missing");
        }
        for dimension in directive["Dimensions"][0].as_array().unwrap() {
            assert!(line[dimension.as_str().unwrap()].is_string());
        }
        assert_eq!(line["AuditExportLagSeconds"], 1200);
        assert_eq!(line["AuditRecordsExported"], 1200);
        assert_eq!(line["AuditExportFailed"], 0);
    }

    #[test]
    fn the_summary_names_graphs_code_for_an_unavailable_stream() {
        let reports = [report(StreamOutcome::Unavailable {
            code: "Authentication_RequestFromNonPremiumTenantOrB2CTenant".into(),
        })];
        let summary = summary(&reports);
        assert_eq!(summary["streams"][0]["outcome"], "unavailable");
        assert_eq!(
            summary["streams"][0]["graphCode"],
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
        );
        assert_eq!(
            summary["streams"][0]["exportedUntil"],
            "2026-11-26T21:00:00Z"
        );
        assert!(!any_failed(&reports));
    }
}
