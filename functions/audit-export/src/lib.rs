//! Scheduled export of Microsoft Entra audit logs (directory audits, sign-ins) to S3 or a folder.
//!
//! Entra keeps these logs for 30 days at most (7 on lower licences); identity teams need them for
//! longer and next to their other logs. Each run exports every *closed* time window after the
//! stream's checkpoint as one gzip JSON Lines object with Hive-style partitions, queryable with
//! Athena as soon as it lands (template.yaml defines the Glue table with partition projection):
//!
//! ```text
//! stream=directoryAudits/dt=2026-11-26/hour=21/20261126T2100Z-20261126T2115Z.jsonl.gz
//! ```
//!
//! The guarantees (no gap, no duplicate, crash-safe, bounded memory) and why they hold are in
//! [`export`]; the Graph side is described in docs/protocols/graph-api.md A.10 and (c).
//! The same code runs in Lambda (`main.rs`, an EventBridge schedule) and in the CLI
//! (`entra-hooks audit-export`).

pub mod checkpoint;
pub mod config;
pub mod destination;
pub mod export;
pub mod lambda;
pub mod record;
pub mod report;
pub mod stream;
pub mod window;

pub use config::{AuditExportConfig, ExportJob, SetupError};
pub use export::{ExportSettings, Exporter, FirstStart, RunOptions, StreamOutcome, StreamReport};
pub use stream::AuditStream;
