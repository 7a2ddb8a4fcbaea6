//! The audit export's configuration and set-up: `[tenant]`, `[graph]` (its `authority_host` and
//! `base_url` point it at any Graph-compatible server, e.g. the simulated tenant), `[store]` (the
//! checkpoint table for an S3 destination), `[log]` and its own `[audit_export]`, loaded with
//! `entra_platform::load_config` (file plus `ENTRA_HOOKS_*` overrides, validated at start).
//!
//! ```toml
//! [audit_export]
//! destination = "s3://contoso-entra-audit/exports"   # or "file:///var/lib/entra-audit"
//! streams = ["directoryAudits", "signIns"]           # default: both
//! window_minutes = 15      # divides an hour; one object per window
//! lag_minutes = 15         # a window is exported once it ended this long ago
//! recheck_minutes = 60     # re-read windows this far back for late records (0: never)
//! start_days_ago = 7       # first run: how far back to begin (or start_at = "2026-11-01T00:00:00Z")
//! page_size = 1000         # Graph $top
//! deadline_margin_secs = 30
//! ```
//!
//! In Lambda (template.yaml): `ENTRA_HOOKS_AUDIT_EXPORT__DESTINATION`, `ENTRA_HOOKS_STORE__TABLE`,
//! `ENTRA_HOOKS_TENANT__ID`, `ENTRA_HOOKS_GRAPH__CLIENT_ID`, `ENTRA_HOOKS_GRAPH__SECRET`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use entra_extensions::runtime::{SetupError as GraphSetupError, graph_client_for, secret_resolver};
use entra_platform::config::{GraphConfig, LogConfig, TenantConfig, ValidationReport};
use entra_platform::store::StoreSetupError;
use entra_platform::{StoreConfig, Validate};
use serde::Deserialize;
use serde::de::IgnoredAny;
use time::{Duration, OffsetDateTime};

use crate::checkpoint::{CheckpointStore, FolderCheckpoints, FolderLock, StoreCheckpoints};
use crate::destination::{DestinationUrl, FolderStore, ObjectStore, S3Store};
use crate::export::{ExportSettings, Exporter, FirstStart};
use crate::stream::AuditStream;
use crate::window::{WindowSize, parse_instant};

/// `[audit_export]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditExportSection {
    /// `s3://bucket/prefix` or `file:///absolute/path`.
    pub destination: String,
    #[serde(default = "all_streams")]
    pub streams: Vec<AuditStream>,
    #[serde(default = "default_window_minutes")]
    pub window_minutes: u32,
    #[serde(default = "default_lag_minutes")]
    pub lag_minutes: u32,
    #[serde(default = "default_recheck_minutes")]
    pub recheck_minutes: u32,
    #[serde(default = "default_start_days_ago")]
    pub start_days_ago: u32,
    /// An RFC 3339 instant; wins over `start_days_ago`.
    #[serde(default)]
    pub start_at: Option<String>,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    #[serde(default = "default_deadline_margin_secs")]
    pub deadline_margin_secs: u64,
}

fn all_streams() -> Vec<AuditStream> {
    AuditStream::ALL.to_vec()
}
fn default_window_minutes() -> u32 {
    15
}
fn default_lag_minutes() -> u32 {
    15
}
fn default_recheck_minutes() -> u32 {
    60
}
fn default_start_days_ago() -> u32 {
    7
}
fn default_page_size() -> u32 {
    1000
}
fn default_deadline_margin_secs() -> u64 {
    30
}

/// The audit-export function's (and `entra-hooks audit-export`'s) configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditExportConfig {
    pub tenant: TenantConfig,
    pub graph: GraphConfig,
    /// `[store] table`: the checkpoint table (required with an S3 destination).
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub log: LogConfig,
    pub audit_export: AuditExportSection,
    /// Accepted so one configuration file can serve every function; not used here.
    #[serde(default)]
    pub extension: Option<IgnoredAny>,
    #[serde(default)]
    pub auth: Option<IgnoredAny>,
    #[serde(default)]
    pub limits: Option<IgnoredAny>,
    #[serde(default)]
    pub rules: Option<IgnoredAny>,
}

impl Validate for AuditExportConfig {
    fn validate(&self, report: &mut ValidationReport) {
        self.store.validate(report);
        let section = &self.audit_export;
        match DestinationUrl::parse(&section.destination) {
            Ok(DestinationUrl::S3 { .. }) if self.store.table.is_none() => report.invalid(
                "store.table",
                "must name the checkpoint table (DynamoDB, partition key pk) when the destination is S3",
                None,
            ),
            Ok(_) => {}
            Err(_) => report.invalid(
                "audit_export.destination",
                "must be s3://bucket/prefix or file:///absolute/path",
                Some(&section.destination),
            ),
        }
        if section.streams.is_empty() {
            report.invalid(
                "audit_export.streams",
                format!("must name at least one of {}", AuditStream::known_names()),
                None,
            );
        }
        let mut seen = HashSet::new();
        for stream in &section.streams {
            if !seen.insert(stream.name) {
                report.invalid(
                    "audit_export.streams",
                    "must not name a stream twice",
                    Some(&stream.name),
                );
            }
        }
        if WindowSize::minutes(section.window_minutes).is_none() {
            report.invalid(
                "audit_export.window_minutes",
                "must divide an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60)",
                Some(&section.window_minutes),
            );
        }
        if section.lag_minutes > 24 * 60 {
            report.invalid(
                "audit_export.lag_minutes",
                "must be at most 1440 (a day)",
                Some(&section.lag_minutes),
            );
        }
        if section.recheck_minutes > 7 * 24 * 60 {
            report.invalid(
                "audit_export.recheck_minutes",
                "must be at most 10080 (7 days)",
                Some(&section.recheck_minutes),
            );
        }
        if !(1..=30).contains(&section.start_days_ago) {
            report.invalid(
                "audit_export.start_days_ago",
                "must be 1 to 30 (Entra keeps audit logs at most 30 days)",
                Some(&section.start_days_ago),
            );
        }
        if let Some(start) = &section.start_at
            && parse_instant(start).is_none()
        {
            report.invalid(
                "audit_export.start_at",
                "must be an RFC 3339 instant such as 2026-11-01T00:00:00Z",
                Some(start),
            );
        }
        if !(1..=1000).contains(&section.page_size) {
            report.invalid(
                "audit_export.page_size",
                "must be 1 to 1000 (Graph's largest page)",
                Some(&section.page_size),
            );
        }
        if section.deadline_margin_secs > 600 {
            report.invalid(
                "audit_export.deadline_margin_secs",
                "must be at most 600",
                Some(&section.deadline_margin_secs),
            );
        }
    }
}

/// Why the export could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Graph(#[from] GraphSetupError),
    #[error(transparent)]
    Destination(#[from] crate::destination::DestinationError),
    #[error(transparent)]
    Store(#[from] StoreSetupError),
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
}

/// A ready export: the exporter, the streams to run, and the folder lock when writing to a folder.
pub struct ExportJob {
    pub exporter: Exporter,
    pub streams: Vec<AuditStream>,
    /// Where objects go (for messages).
    pub destination: String,
    _lock: Option<FolderLock>,
}

impl AuditExportConfig {
    /// The export's behaviour from `[audit_export]` (the config has been validated).
    pub fn settings(&self) -> ExportSettings {
        let section = &self.audit_export;
        let first_start = section.start_at.as_deref().and_then(parse_instant).map_or(
            FirstStart::Ago(Duration::days(i64::from(section.start_days_ago))),
            FirstStart::At,
        );
        ExportSettings {
            window: WindowSize::minutes(section.window_minutes).unwrap_or_default(),
            lag: Duration::minutes(i64::from(section.lag_minutes)),
            recheck: Duration::minutes(i64::from(section.recheck_minutes)),
            first_start,
            page_size: section.page_size,
            deadline_margin: StdDuration::from_secs(section.deadline_margin_secs),
        }
    }

    /// Whether setting up needs the AWS configuration (S3, DynamoDB or Secrets Manager).
    pub fn needs_aws(&self) -> bool {
        matches!(
            DestinationUrl::parse(&self.audit_export.destination),
            Ok(DestinationUrl::S3 { .. })
        ) || self.store.needs_aws()
    }

    /// Builds the exporter. `aws` is the AWS configuration when [`Self::needs_aws`] (with a custom
    /// endpoint, as for a local emulator, S3 is addressed path-style). Reads the Graph secret now, so
    /// a bad reference fails here; with a folder destination, takes the folder's lock.
    pub async fn build(
        &self,
        aws: Option<&aws_config::SdkConfig>,
    ) -> Result<ExportJob, SetupError> {
        let secrets = secret_resolver([&self.graph.secret]).await;
        let graph = graph_client_for(&self.tenant, &self.graph, &secrets).await?;
        let destination = DestinationUrl::parse(&self.audit_export.destination)?;
        let (objects, checkpoints, lock): (
            Arc<dyn ObjectStore>,
            Arc<dyn CheckpointStore>,
            Option<FolderLock>,
        ) = match destination {
            DestinationUrl::Folder { path } => {
                let checkpoints = FolderCheckpoints::new(&path);
                let lock = checkpoints.lock()?;
                let folder = FolderStore::new(path);
                folder.remove_leftovers();
                (Arc::new(folder), Arc::new(checkpoints), Some(lock))
            }
            DestinationUrl::S3 { bucket, prefix } => {
                let aws = aws.ok_or(StoreSetupError::NoAwsConfig)?;
                let s3 = aws_sdk_s3::config::Builder::from(aws)
                    .force_path_style(aws.endpoint_url().is_some())
                    .build();
                let objects = S3Store::new(aws_sdk_s3::Client::from_conf(s3), bucket, prefix);
                let table = self.store.table.clone().unwrap_or_default();
                let store = self.store.build(Some(aws))?;
                (
                    Arc::new(objects),
                    Arc::new(StoreCheckpoints::new(
                        store,
                        format!("dynamodb table {table}"),
                    )),
                    None,
                )
            }
        };
        let destination = objects.describe();
        Ok(ExportJob {
            exporter: Exporter::new(graph, objects, checkpoints, self.settings()),
            streams: self.audit_export.streams.clone(),
            destination,
            _lock: lock,
        })
    }
}

/// `now` for a run: the wall clock.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[cfg(test)]
mod tests {
    use super::*;
    use entra_platform::config::load_config_with_env;

    const BASE: &str = r#"
[tenant]
id = "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93"
name = "contoso"

[graph]
client_id = "c0ffee00-1b2c-4d3e-8f9a-0b1c2d3e4f50"
secret = "env:GRAPH_SECRET"
"#;

    fn load(extra: &str, env: &[(&str, &str)]) -> Result<AuditExportConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg.toml");
        std::fs::write(&path, format!("{BASE}{extra}")).unwrap();
        load_config_with_env(Some(&path), env.iter().copied()).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_follow_the_documented_values() {
        let config = load(
            "[audit_export]\ndestination = \"file:///tmp/exports\"\n",
            &[],
        )
        .unwrap();
        let settings = config.settings();
        assert_eq!(settings.window.as_minutes(), 15);
        assert_eq!(settings.lag, Duration::minutes(15));
        assert_eq!(settings.recheck, Duration::minutes(60));
        assert_eq!(settings.first_start, FirstStart::Ago(Duration::days(7)));
        assert_eq!(config.audit_export.streams, AuditStream::ALL.to_vec());
        assert!(!config.needs_aws());
    }

    #[test]
    fn every_mistake_is_reported_with_its_key() {
        let error = load(
            "[audit_export]\ndestination = \"s3://bucket/x\"\nwindow_minutes = 7\npage_size = 5000\nstart_at = \"last week\"\nstreams = []\n",
            &[],
        )
        .unwrap_err();
        for key in [
            "store.table",
            "audit_export.window_minutes",
            "audit_export.page_size",
            "audit_export.start_at",
            "audit_export.streams",
        ] {
            assert!(error.contains(key), "{key} missing from: {error}");
        }
        let error = load(
            "[audit_export]\ndestination = \"ftp://x\"\nstreams = [\"provisioning\"]\n",
            &[],
        )
        .unwrap_err();
        assert!(error.contains("unknown audit stream"), "{error}");
    }

    #[test]
    fn the_environment_configures_lambda() {
        let config = load(
            "",
            &[
                (
                    "ENTRA_HOOKS_AUDIT_EXPORT__DESTINATION",
                    "s3://audit-bucket/entra",
                ),
                ("ENTRA_HOOKS_AUDIT_EXPORT__STREAMS", "[\"signIns\"]"),
                ("ENTRA_HOOKS_STORE__TABLE", "entra-hooks-checkpoints"),
                ("ENTRA_HOOKS_AUDIT_EXPORT__START_AT", "2026-11-01T00:00:00Z"),
            ],
        )
        .unwrap();
        assert_eq!(config.audit_export.streams, vec![AuditStream::SIGN_INS]);
        assert!(config.needs_aws());
        assert_eq!(
            config.settings().first_start,
            FirstStart::At(time::macros::datetime!(2026-11-01 00:00 UTC))
        );
    }
}
