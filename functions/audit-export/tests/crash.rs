//! Crash safety: the export dies at random points (between pages, mid-upload, after the upload and
//! before the checkpoint, after the checkpoint before the run noticed) and is run again until it
//! completes; the union of what was exported then equals the tenant's records in the exported
//! range, by id, with no duplicates. The deaths are injected into the real folder adapters and the
//! sandbox's Graph; `infra/tests/audit_export_cli.rs` does the same with SIGKILL on the binary.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use audit_export::checkpoint::{
    Checkpoint, CheckpointError, CheckpointStore, FolderCheckpoints, StoredCheckpoint,
};
use audit_export::destination::{DestinationError, FolderStore, ObjectStore, ObjectUpload};
use audit_export::{AuditStream, Exporter, StreamOutcome};
use bytes::Bytes;
use common::*;
use entra_sandbox::{Fault, FaultRule};

/// Operations left before the "process" dies; every later operation fails too.
#[derive(Clone)]
struct Death(Arc<AtomicI64>);

impl Death {
    fn after(operations: i64) -> Self {
        Death(Arc::new(AtomicI64::new(operations)))
    }

    fn step(&self, what: &str) -> Result<(), String> {
        if self.0.fetch_sub(1, Ordering::SeqCst) <= 0 {
            Err(format!("killed before {what}"))
        } else {
            Ok(())
        }
    }
}

fn killed(message: String) -> DestinationError {
    DestinationError::Write {
        destination: "test".into(),
        key: String::new(),
        message,
    }
}

struct MortalObjects {
    inner: FolderStore,
    death: Death,
}

#[async_trait]
impl ObjectStore for MortalObjects {
    async fn begin(&self, key: &str) -> Result<Box<dyn ObjectUpload>, DestinationError> {
        self.death.step("begin").map_err(killed)?;
        Ok(Box::new(MortalUpload {
            inner: self.inner.begin(key).await?,
            death: self.death.clone(),
        }))
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

struct MortalUpload {
    inner: Box<dyn ObjectUpload>,
    death: Death,
}

#[async_trait]
impl ObjectUpload for MortalUpload {
    async fn append(&mut self, part: Bytes) -> Result<(), DestinationError> {
        self.death.step("append").map_err(killed)?;
        self.inner.append(part).await
    }

    async fn complete(self: Box<Self>, last: Bytes) -> Result<(), DestinationError> {
        // Dies mid-upload: the object must not become visible.
        if let Err(message) = self.death.step("complete") {
            std::mem::forget(self.inner); // a dead process cleans nothing up
            return Err(killed(message));
        }
        self.inner.complete(last).await
    }

    async fn abort(self: Box<Self>) {
        if self.death.step("abort").is_ok() {
            self.inner.abort().await;
        } else {
            std::mem::forget(self.inner);
        }
    }
}

struct MortalCheckpoints {
    inner: FolderCheckpoints,
    death: Death,
}

#[async_trait]
impl CheckpointStore for MortalCheckpoints {
    async fn load(&self, stream: AuditStream) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        self.inner.load(stream).await
    }

    async fn save(
        &self,
        stream: AuditStream,
        previous: Option<&StoredCheckpoint>,
        next: &Checkpoint,
    ) -> Result<StoredCheckpoint, CheckpointError> {
        // Dies after the object is durable but before the checkpoint moves ...
        self.death.step("checkpoint").map_err(io_death)?;
        let saved = self.inner.save(stream, previous, next).await?;
        // ... or right after it moved, before the run could go on.
        self.death.step("after checkpoint").map_err(io_death)?;
        Ok(saved)
    }

    fn location(&self, stream: AuditStream) -> String {
        self.inner.location(stream)
    }
}

fn io_death(message: String) -> CheckpointError {
    CheckpointError::Io {
        path: "killed".into(),
        source: std::io::Error::other(message),
    }
}

#[tokio::test]
async fn killed_at_random_points_and_rerun_the_export_has_no_gap_and_no_duplicate() {
    let sandbox = sandbox().await;
    for stream in [AuditStream::DIRECTORY_AUDITS, AuditStream::SIGN_INS] {
        sandbox
            .audit_logs()
            .generate(
                sandbox_stream(stream),
                1500,
                START,
                Duration::from_millis(9_930),
            )
            .unwrap();
    }
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("CRASH_SEED={seed}");
    let mut random = fastrand::Rng::with_seed(seed);
    let mut settings = settings();
    // Small parts are not possible (S3 needs 5 MiB), but small pages give many points to die at.
    settings.page_size = 40;

    for scenario in 0..6 {
        let folder = tempfile::tempdir().unwrap();
        let mut deaths = 0;
        loop {
            let death = Death::after(random.i64(0..60));
            // Sometimes the connection drops mid-page too.
            if random.bool() {
                sandbox.faults().add(FaultRule::new(
                    "/v1.0/auditLogs",
                    Fault::DropConnection,
                    Some(random.u32(1..3)),
                ));
            }
            let exporter = Exporter::new(
                graph(&sandbox),
                Arc::new(MortalObjects {
                    inner: FolderStore::new(folder.path()),
                    death: death.clone(),
                }),
                Arc::new(MortalCheckpoints {
                    inner: FolderCheckpoints::new(folder.path()),
                    death,
                }),
                settings.clone(),
            );
            let reports = exporter
                .run(
                    &[AuditStream::DIRECTORY_AUDITS, AuditStream::SIGN_INS],
                    at(NOW),
                )
                .await;
            sandbox.faults().clear();
            if reports
                .iter()
                .all(|r| matches!(r.outcome, StreamOutcome::Complete))
            {
                break;
            }
            deaths += 1;
            assert!(
                deaths < 200,
                "scenario {scenario}: the export never completes"
            );
        }
        assert!(deaths > 0, "scenario {scenario} never died");
        for stream in [AuditStream::DIRECTORY_AUDITS, AuditStream::SIGN_INS] {
            assert_eq!(
                exported_ids(folder.path(), stream),
                tenant_ids(&sandbox, stream, START, horizon(NOW)),
                "scenario {scenario} (CRASH_SEED={seed}): {stream} differs from the tenant"
            );
        }
    }
}
