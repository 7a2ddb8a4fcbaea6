//! Shared setup: a simulated tenant with audit logs on loopback, a Graph client against it, an
//! exporter writing to a temporary folder, and readers of what was exported.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use audit_export::checkpoint::FolderCheckpoints;
use audit_export::destination::FolderStore;
use audit_export::window::{WindowSize, floor};
use audit_export::{AuditStream, ExportSettings, Exporter, FirstStart, RunOptions};
use entra_graph::GraphClient;
use entra_sandbox::audit_logs::AuditStream as SandboxStream;
use entra_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;

/// The instant every test runs "at": records are generated before it.
pub const NOW: OffsetDateTime = datetime!(2026-11-26 22:30 UTC);
/// Where the first export starts.
pub const START: OffsetDateTime = datetime!(2026-11-26 18:00 UTC);

pub async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig {
        seed_demo_data: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

pub fn sandbox_stream(stream: AuditStream) -> SandboxStream {
    match stream.name {
        "directoryAudits" => SandboxStream::DirectoryAudits,
        _ => SandboxStream::SignIns,
    }
}

pub fn graph(sandbox: &Sandbox) -> GraphClient {
    entra_graph::testing::sandbox_client(sandbox)
}

pub fn settings() -> ExportSettings {
    ExportSettings {
        window: WindowSize::minutes(15).unwrap(),
        lag: time::Duration::minutes(15),
        recheck: time::Duration::minutes(60),
        first_start: FirstStart::At(START),
        page_size: 100,
        deadline_margin: Duration::from_secs(1),
    }
}

pub fn folder_exporter(sandbox: &Sandbox, folder: &Path, settings: ExportSettings) -> Exporter {
    Exporter::new(
        graph(sandbox),
        Arc::new(FolderStore::new(folder)),
        Arc::new(FolderCheckpoints::new(folder)),
        settings,
    )
}

pub fn at(now: OffsetDateTime) -> RunOptions {
    RunOptions {
        now,
        until: None,
        deadline: None,
    }
}

/// The last window end an export at `now` may reach (15-minute windows, 15 minutes of lag).
pub fn horizon(now: OffsetDateTime) -> OffsetDateTime {
    floor(
        now - time::Duration::minutes(15),
        WindowSize::minutes(15).unwrap(),
    )
}

/// Every exported object under `folder` (temporary and checkpoint files excluded), by key.
pub fn exported_objects(folder: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut objects = BTreeMap::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('_') {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if name.ends_with(".jsonl.gz") {
                let key = path
                    .strip_prefix(folder)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                objects.insert(key, read_object(&path));
            }
        }
    }
    objects
}

fn read_object(path: &PathBuf) -> Vec<Value> {
    let bytes = std::fs::read(path).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{} is not gzip: {e}", path.display()));
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

/// Ids of `stream` across every exported object; panics on an id exported twice.
pub fn exported_ids(folder: &Path, stream: AuditStream) -> Vec<String> {
    let prefix = format!("stream={}/", stream.name);
    let mut ids: Vec<String> = exported_objects(folder)
        .into_iter()
        .filter(|(key, _)| key.starts_with(&prefix))
        .flat_map(|(_, records)| records)
        .map(|record| record["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "a record was exported twice");
    ids
}

/// Ids the tenant holds for `stream` in `[start, end)`, sorted.
pub fn tenant_ids(
    sandbox: &Sandbox,
    stream: AuditStream,
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> Vec<String> {
    let mut ids = sandbox
        .audit_logs()
        .ids_between(sandbox_stream(stream), start, end);
    ids.sort();
    ids
}
