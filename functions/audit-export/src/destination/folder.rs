//! A local folder as the destination (`file:///path`): for the CLI, for teams that ship the files
//! elsewhere themselves, and for crash tests.
//!
//! An object is written to `_tmp/<uuid>.part` inside the folder, fsynced, renamed to its key and
//! the key's folder fsynced, so a reader (or a re-run after `kill -9`) sees the previous object or
//! the new one whole. Leftover `_tmp` files of killed runs are never read as exports; names that
//! start with `_` are ignored by Athena and Hive too.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use super::{DestinationError, ObjectStore, ObjectUpload};

/// Objects as files under a root folder.
#[derive(Debug, Clone)]
pub struct FolderStore {
    root: PathBuf,
}

impl FolderStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Removes temporary files left by runs that were killed mid-object.
    pub fn remove_leftovers(&self) {
        if let Ok(entries) = fs::read_dir(self.root.join(TMP_DIR)) {
            for entry in entries.flatten() {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

const TMP_DIR: &str = "_tmp";

#[async_trait]
impl ObjectStore for FolderStore {
    async fn begin(&self, key: &str) -> Result<Box<dyn ObjectUpload>, DestinationError> {
        let target = self.root.join(key);
        let temporary = self
            .root
            .join(TMP_DIR)
            .join(format!("{}.part", uuid::Uuid::new_v4()));
        let describe = self.describe();
        let error = |e: std::io::Error| DestinationError::Write {
            destination: describe.clone(),
            key: key.to_owned(),
            message: e.to_string(),
        };
        let temp = temporary.clone();
        let file = blocking(move || {
            fs::create_dir_all(temp.parent().unwrap_or(Path::new(".")))?;
            OpenOptions::new().write(true).create_new(true).open(&temp)
        })
        .await
        .map_err(error)?;
        Ok(Box::new(FolderUpload {
            file: Some(file),
            temporary,
            target,
            destination: self.describe(),
            key: key.to_owned(),
        }))
    }

    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }
}

struct FolderUpload {
    file: Option<File>,
    temporary: PathBuf,
    target: PathBuf,
    destination: String,
    key: String,
}

impl FolderUpload {
    fn error(&self, e: std::io::Error) -> DestinationError {
        DestinationError::Write {
            destination: self.destination.clone(),
            key: self.key.clone(),
            message: e.to_string(),
        }
    }

    async fn write_all(&mut self, bytes: Bytes) -> Result<(), DestinationError> {
        let Some(mut file) = self.file.take() else {
            return Err(self.error(std::io::Error::other("the upload was already closed")));
        };
        let (file, result) = blocking_pair(move || {
            let result = file.write_all(&bytes);
            (file, result)
        })
        .await;
        self.file = Some(file);
        result.map_err(|e| self.error(e))
    }
}

#[async_trait]
impl ObjectUpload for FolderUpload {
    async fn append(&mut self, part: Bytes) -> Result<(), DestinationError> {
        self.write_all(part).await
    }

    async fn complete(mut self: Box<Self>, last: Bytes) -> Result<(), DestinationError> {
        self.write_all(last).await?;
        let file = self.file.take();
        let temporary = self.temporary.clone();
        let target = self.target.clone();
        let result = blocking(move || {
            if let Some(file) = file {
                file.sync_all()?;
            }
            let folder = target.parent().unwrap_or(Path::new(".")).to_path_buf();
            fs::create_dir_all(&folder)?;
            fs::rename(&temporary, &target)?;
            File::open(&folder)?.sync_all()
        })
        .await;
        if let Err(error) = result {
            let _ = fs::remove_file(&self.temporary);
            return Err(self.error(error));
        }
        Ok(())
    }

    async fn abort(mut self: Box<Self>) {
        self.file.take();
        let _ = fs::remove_file(&self.temporary);
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|join| Err(std::io::Error::other(join.to_string())))
}

async fn blocking_pair<T: Send + 'static>(
    work: impl FnOnce() -> (File, std::io::Result<T>) + Send + 'static,
) -> (File, std::io::Result<T>) {
    match tokio::task::spawn_blocking(work).await {
        Ok(pair) => pair,
        // The closure cannot panic short of an allocator failure; resume that panic.
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_is_visible_before_complete_and_abort_keeps_the_old_object() {
        let dir = tempfile::tempdir().unwrap();
        let store = FolderStore::new(dir.path());
        let key = "stream=signIns/dt=2026-11-26/hour=21/a.jsonl.gz";
        let mut upload = store.begin(key).await.unwrap();
        upload.append(Bytes::from_static(b"one ")).await.unwrap();
        assert!(!dir.path().join(key).exists());
        upload.complete(Bytes::from_static(b"two")).await.unwrap();
        assert_eq!(fs::read(dir.path().join(key)).unwrap(), b"one two");

        let mut upload = store.begin(key).await.unwrap();
        upload
            .append(Bytes::from_static(b"replacement"))
            .await
            .unwrap();
        upload.abort().await;
        assert_eq!(fs::read(dir.path().join(key)).unwrap(), b"one two");
        assert_eq!(fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(), 0);

        let upload = store.begin(key).await.unwrap();
        upload.complete(Bytes::from_static(b"new")).await.unwrap();
        assert_eq!(fs::read(dir.path().join(key)).unwrap(), b"new");
    }

    #[tokio::test]
    async fn leftovers_of_a_killed_run_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = FolderStore::new(dir.path());
        let mut upload = store.begin("k").await.unwrap();
        upload.append(Bytes::from_static(b"partial")).await.unwrap();
        std::mem::forget(upload); // as if the process died here
        assert_eq!(fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(), 1);
        store.remove_leftovers();
        assert_eq!(fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(), 0);
        assert!(!dir.path().join("k").exists());
    }
}
