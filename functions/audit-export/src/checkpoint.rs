//! Per-stream checkpoints: how far a stream is exported, and the recent windows that are re-checked
//! for late records.
//!
//! The checkpoint moves only after a window's object is complete, and always by a compare-and-swap
//! against the version this run read, so two runs that overlap (a slow run and the next schedule)
//! cannot both move it: the second gets [`CheckpointError::Conflict`] and stops; what it wrote is the
//! same deterministic object the first wrote. Two adapters:
//! - [`StoreCheckpoints`] on the platform's [`KeyValueStore`] port (DynamoDB in Lambda,
//!   `compare_and_swap` / `put_if_absent`).
//! - [`FolderCheckpoints`]: `_checkpoints/<stream>.json` inside the export folder, written by
//!   temporary file, fsync and rename; a lock file ([`FolderCheckpoints::lock`]) keeps a second
//!   process out while one runs.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use entra_platform::store::{KeyValueStore, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::stream::AuditStream;

/// How far one stream is exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Every window that ends at or before this instant has its object written.
    #[serde(with = "time::serde::rfc3339")]
    pub exported_until: OffsetDateTime,
    /// Windows written within the re-check period, with how many records their object holds, so a
    /// re-check rewrites an object only when late records arrived.
    #[serde(default)]
    pub recent: Vec<ExportedWindow>,
}

/// A window whose object is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedWindow {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    pub records: u64,
}

/// A checkpoint as read, with the exact text it was stored as (the compare-and-swap version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub checkpoint: Checkpoint,
    version: String,
}

/// Why a checkpoint could not be read or moved.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "the {stream} checkpoint was moved by another run since this run read it; this run stops and the next one continues from there"
    )]
    Conflict { stream: String },
    #[error("the {stream} checkpoint is unreadable ({problem}); fix or delete it at {location}")]
    Corrupt {
        stream: String,
        location: String,
        problem: String,
    },
    #[error("checkpoint store: {0}")]
    Store(#[from] StoreError),
    #[error("checkpoint file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another export holds the lock on {0}; wait for it to finish (or remove the lock file if no export runs)"
    )]
    Locked(PathBuf),
}

/// Where checkpoints live.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The stream's checkpoint, or `None` before its first export.
    async fn load(&self, stream: AuditStream) -> Result<Option<StoredCheckpoint>, CheckpointError>;

    /// Replaces `previous` (`None`: there is none yet) with `next`, atomically.
    async fn save(
        &self,
        stream: AuditStream,
        previous: Option<&StoredCheckpoint>,
        next: &Checkpoint,
    ) -> Result<StoredCheckpoint, CheckpointError>;

    /// Where the checkpoint of `stream` is, for messages (`dynamodb://table/key`, a path).
    fn location(&self, stream: AuditStream) -> String;
}

fn encode(checkpoint: &Checkpoint) -> String {
    serde_json::to_string(checkpoint).unwrap_or_default()
}

fn decode(
    stream: AuditStream,
    location: String,
    text: String,
) -> Result<StoredCheckpoint, CheckpointError> {
    match serde_json::from_str(&text) {
        Ok(checkpoint) => Ok(StoredCheckpoint {
            checkpoint,
            version: text,
        }),
        Err(error) => Err(CheckpointError::Corrupt {
            stream: stream.name.to_owned(),
            location,
            problem: error.to_string(),
        }),
    }
}

/// Checkpoints in a [`KeyValueStore`] (DynamoDB in Lambda), key `audit-export/checkpoint/<stream>`.
pub struct StoreCheckpoints {
    store: Arc<dyn KeyValueStore>,
    name: String,
}

impl StoreCheckpoints {
    /// `name` describes the store in messages (e.g. the table name).
    pub fn new(store: Arc<dyn KeyValueStore>, name: impl Into<String>) -> Self {
        Self {
            store,
            name: name.into(),
        }
    }

    fn key(stream: AuditStream) -> String {
        format!("audit-export/checkpoint/{}", stream.name)
    }
}

#[async_trait]
impl CheckpointStore for StoreCheckpoints {
    async fn load(&self, stream: AuditStream) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        match self.store.get(&Self::key(stream)).await? {
            Some(text) => decode(stream, self.location(stream), text).map(Some),
            None => Ok(None),
        }
    }

    async fn save(
        &self,
        stream: AuditStream,
        previous: Option<&StoredCheckpoint>,
        next: &Checkpoint,
    ) -> Result<StoredCheckpoint, CheckpointError> {
        let key = Self::key(stream);
        let text = encode(next);
        let swapped = match previous {
            Some(previous) => {
                self.store
                    .compare_and_swap(&key, &previous.version, &text, None)
                    .await?
            }
            None => self.store.put_if_absent(&key, &text, None).await?,
        };
        if !swapped {
            return Err(CheckpointError::Conflict {
                stream: stream.name.to_owned(),
            });
        }
        Ok(StoredCheckpoint {
            checkpoint: next.clone(),
            version: text,
        })
    }

    fn location(&self, stream: AuditStream) -> String {
        format!("{} key {}", self.name, Self::key(stream))
    }
}

/// Checkpoints as files in `<export folder>/_checkpoints/`.
#[derive(Debug, Clone)]
pub struct FolderCheckpoints {
    dir: PathBuf,
}

/// Held while an export writes to a folder; released on drop.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

impl FolderCheckpoints {
    pub fn new(export_folder: &Path) -> Self {
        Self {
            dir: export_folder.join("_checkpoints"),
        }
    }

    fn path(&self, stream: AuditStream) -> PathBuf {
        self.dir.join(format!("{}.json", stream.name))
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
        move |source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Takes the folder's lock, or says another export holds it.
    pub fn lock(&self) -> Result<FolderLock, CheckpointError> {
        let path = self.dir.join(".lock");
        fs::create_dir_all(&self.dir).map_err(Self::io(&self.dir))?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Self::io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(FolderLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(CheckpointError::Locked(path)),
            Err(fs::TryLockError::Error(source)) => Err(CheckpointError::Io { path, source }),
        }
    }

    fn read(&self, stream: AuditStream) -> Result<Option<String>, CheckpointError> {
        let path = self.path(stream);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CheckpointError::Io { path, source }),
        }
    }

    fn write_atomically(&self, stream: AuditStream, text: &str) -> Result<(), CheckpointError> {
        let path = self.path(stream);
        fs::create_dir_all(&self.dir).map_err(Self::io(&self.dir))?;
        let temporary = self.dir.join(format!(".{}.json.tmp", stream.name));
        let mut file = File::create(&temporary).map_err(Self::io(&temporary))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(Self::io(&temporary))?;
        fs::rename(&temporary, &path).map_err(Self::io(&path))?;
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(Self::io(&self.dir))
    }
}

#[async_trait]
impl CheckpointStore for FolderCheckpoints {
    async fn load(&self, stream: AuditStream) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        match self.read(stream)? {
            Some(text) => decode(stream, self.location(stream), text).map(Some),
            None => Ok(None),
        }
    }

    async fn save(
        &self,
        stream: AuditStream,
        previous: Option<&StoredCheckpoint>,
        next: &Checkpoint,
    ) -> Result<StoredCheckpoint, CheckpointError> {
        let current = self.read(stream)?;
        if current.as_deref() != previous.map(|p| p.version.as_str()) {
            return Err(CheckpointError::Conflict {
                stream: stream.name.to_owned(),
            });
        }
        let text = encode(next);
        self.write_atomically(stream, &text)?;
        Ok(StoredCheckpoint {
            checkpoint: next.clone(),
            version: text,
        })
    }

    fn location(&self, stream: AuditStream) -> String {
        self.path(stream).display().to_string()
    }
}

/// The behaviour every [`CheckpointStore`] adapter must show, for adapter tests.
#[cfg(any(test, feature = "test-support"))]
pub mod testing {
    use super::*;
    use time::macros::datetime;

    fn checkpoint(until: OffsetDateTime) -> Checkpoint {
        Checkpoint {
            exported_until: until,
            recent: vec![ExportedWindow {
                start: until - time::Duration::minutes(15),
                records: 3,
            }],
        }
    }

    /// Round trip, compare-and-swap conflicts, independent streams.
    pub async fn checkpoint_contract(store: &dyn CheckpointStore) {
        let stream = AuditStream::SIGN_INS;
        assert_eq!(store.load(stream).await.unwrap(), None);
        let first = store
            .save(stream, None, &checkpoint(datetime!(2026-11-26 21:00 UTC)))
            .await
            .unwrap();
        assert_eq!(store.load(stream).await.unwrap().as_ref(), Some(&first));
        // A second writer that also started from "nothing" loses.
        let late = store
            .save(stream, None, &checkpoint(datetime!(2026-11-26 22:00 UTC)))
            .await;
        assert!(matches!(late, Err(CheckpointError::Conflict { .. })));
        let second = store
            .save(
                stream,
                Some(&first),
                &checkpoint(datetime!(2026-11-26 21:15 UTC)),
            )
            .await
            .unwrap();
        // The first version is stale now.
        let stale = store
            .save(
                stream,
                Some(&first),
                &checkpoint(datetime!(2026-11-26 23:00 UTC)),
            )
            .await;
        assert!(matches!(stale, Err(CheckpointError::Conflict { .. })));
        let loaded = store.load(stream).await.unwrap().unwrap();
        assert_eq!(loaded, second);
        assert_eq!(
            loaded.checkpoint.exported_until,
            datetime!(2026-11-26 21:15 UTC)
        );
        // Streams are independent.
        assert_eq!(
            store.load(AuditStream::DIRECTORY_AUDITS).await.unwrap(),
            None
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entra_platform::store::MemoryStore;

    #[tokio::test]
    async fn store_checkpoints_keep_the_contract() {
        testing::checkpoint_contract(&StoreCheckpoints::new(
            Arc::new(MemoryStore::new()),
            "memory",
        ))
        .await;
    }

    #[tokio::test]
    async fn folder_checkpoints_keep_the_contract_and_lock_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let store = FolderCheckpoints::new(dir.path());
        let lock = store.lock().unwrap();
        assert!(matches!(store.lock(), Err(CheckpointError::Locked(_))));
        testing::checkpoint_contract(&store).await;
        drop(lock);
        store.lock().unwrap();
    }

    #[tokio::test]
    async fn a_corrupt_checkpoint_names_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let store = FolderCheckpoints::new(dir.path());
        fs::create_dir_all(dir.path().join("_checkpoints")).unwrap();
        fs::write(dir.path().join("_checkpoints/signIns.json"), "{not json").unwrap();
        let error = store.load(AuditStream::SIGN_INS).await.unwrap_err();
        assert!(error.to_string().contains("signIns.json"), "{error}");
    }
}
