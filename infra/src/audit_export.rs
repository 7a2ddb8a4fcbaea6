//! `entra-hooks audit-export`: one export pass from the command line, the same code the scheduled
//! function runs (`audit_export::Exporter`).
//!
//! It exports every closed window up to `--until` (never later than now minus the configured lag)
//! and exits 0; when a stream fails it exits 1 and says what failed and where that stream's
//! checkpoint stands, so the next run (or a re-run) goes on from there. On a terminal it prints one
//! progress line per window on stderr.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use audit_export::export::{Progress, WindowOutcome};
use audit_export::report::{log_summary, summary};
use audit_export::window::{graph_instant, parse_instant};
use audit_export::{AuditExportConfig, AuditStream, RunOptions, StreamOutcome};
use entra_platform::config::load_config_with_env;

/// What the command was asked.
#[derive(Debug, Clone)]
pub struct AuditExportOptions<'a> {
    pub config: &'a Path,
    /// Only these streams (default: the configured ones).
    pub streams: Vec<String>,
    /// RFC 3339; default now minus the lag.
    pub until: Option<String>,
    /// Print the run summary as JSON on stdout.
    pub json: bool,
}

/// Runs the pass; `Ok(true)` when every stream completed or was unavailable.
pub async fn run<I, K, V>(options: &AuditExportOptions<'_>, env: I) -> anyhow::Result<bool>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    let mut config: AuditExportConfig = load_config_with_env(Some(options.config), env)?;
    if !options.streams.is_empty() {
        config.audit_export.streams = options
            .streams
            .iter()
            .map(|name| {
                AuditStream::named(name).with_context(|| {
                    format!(
                        "--stream {name}: unknown stream; use one of {}",
                        AuditStream::known_names()
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?;
    }
    let until = match &options.until {
        Some(text) => Some(parse_instant(text).with_context(|| {
            format!("--until {text}: not an RFC 3339 instant such as 2026-11-26T21:00:00Z")
        })?),
        None => None,
    };
    let aws = if config.needs_aws() {
        Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
    } else {
        None
    };
    let mut job = config
        .build(aws.as_ref())
        .await
        .context("setting up the export")?;
    if std::io::stderr().is_terminal() {
        job.exporter = job.exporter.with_progress(progress_lines());
    }
    let run = RunOptions {
        until,
        ..RunOptions::now()
    };
    eprintln!(
        "exporting {} to {}",
        job.streams
            .iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
            .join(", "),
        job.destination
    );
    let reports = job.exporter.run(&job.streams, run).await;
    let mut ok = true;
    for report in &reports {
        log_summary(report);
        let until = report
            .exported_until
            .map_or_else(|| "nothing exported yet".to_owned(), graph_instant);
        match &report.outcome {
            StreamOutcome::Complete | StreamOutcome::StoppedForDeadline => eprintln!(
                "{}: {} new window(s), {} rewritten, {} record(s), {} byte(s) in {:.1} s; exported until {until}",
                report.stream,
                report.windows,
                report.rewritten,
                report.records,
                report.bytes,
                report.duration.as_secs_f64()
            ),
            StreamOutcome::Unavailable { code } => eprintln!(
                "{}: not available in this tenant (Graph {code}: the tenant's licence does not include this log); skipped",
                report.stream
            ),
            StreamOutcome::Failed(error) => {
                ok = false;
                eprintln!(
                    "{}: FAILED: {error}\n{}: the checkpoint stands at {until}; {} window(s) were exported before the failure and the next run continues from the checkpoint",
                    report.stream, report.stream, report.windows
                );
            }
        }
    }
    if options.json {
        println!("{}", serde_json::to_string_pretty(&summary(&reports))?);
    }
    Ok(ok)
}

fn progress_lines() -> Progress {
    Arc::new(|stream, window, outcome: &WindowOutcome| {
        let what = if outcome.unchanged {
            "re-checked, unchanged".to_owned()
        } else {
            format!("{} record(s), {} byte(s)", outcome.records, outcome.bytes)
        };
        eprintln!("  {stream} {window}: {what}");
    })
}
