//! Where exported windows go: the [`ObjectStore`] port, its two adapters (S3 and a local folder),
//! and the gzip writer that streams a window into one object.
//!
//! The port's one promise is the export's safety net: **nothing is visible at a key until
//! [`ObjectUpload::complete`] returns**, and a completed object replaces the previous one whole.
//! S3 gives that with `PutObject` and multipart uploads (an upload is invisible until
//! `CompleteMultipartUpload`; an abandoned one is removed by the bucket's
//! `AbortIncompleteMultipartUpload` lifecycle rule), the folder adapter with a temporary file that is
//! fsynced and renamed into place. So an export killed at any point leaves either the old object or
//! the new one, never half of one, and the checkpoint only moves after `complete`.

mod folder;
mod s3;

use std::io::Write;

use async_trait::async_trait;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

pub use folder::FolderStore;
pub use s3::S3Store;

/// Size at which the gzip writer hands a part to the upload. S3 needs at least 5 MiB for every part
/// but the last; 8 MiB keeps memory bounded and the number of parts low (10,000 parts × 8 MiB is
/// 80 GB of compressed output per window).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Why an object could not be written. The window is then retried on the next run.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("writing {key} to {destination}: {message}")]
    Write {
        destination: String,
        key: String,
        message: String,
    },
    #[error(
        "destination {0:?} is neither s3://bucket/prefix nor file:///absolute/path; fix audit_export.destination"
    )]
    Unsupported(String),
}

/// Where objects are written.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Starts the object at `key` (relative to the destination's prefix). Nothing is visible at
    /// `key` until the returned upload completes.
    async fn begin(&self, key: &str) -> Result<Box<dyn ObjectUpload>, DestinationError>;

    /// `s3://bucket/prefix` or `file:///path`, for logs and messages.
    fn describe(&self) -> String;
}

/// One object being written.
#[async_trait]
pub trait ObjectUpload: Send {
    /// Adds a part of at least [`PART_SIZE`] bytes.
    async fn append(&mut self, part: Bytes) -> Result<(), DestinationError>;

    /// Adds the last part (any size, possibly empty) and makes the object visible, durably.
    async fn complete(self: Box<Self>, last: Bytes) -> Result<(), DestinationError>;

    /// Gives the object up; the previous object at the key (if any) stays as it was.
    async fn abort(self: Box<Self>);
}

/// A parsed `audit_export.destination`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationUrl {
    S3 { bucket: String, prefix: String },
    Folder { path: std::path::PathBuf },
}

impl DestinationUrl {
    pub fn parse(text: &str) -> Result<DestinationUrl, DestinationError> {
        let unsupported = || DestinationError::Unsupported(text.to_owned());
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let valid_bucket = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                });
            if !valid_bucket {
                return Err(unsupported());
            }
            return Ok(DestinationUrl::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        let url = url::Url::parse(text).map_err(|_| unsupported())?;
        if url.scheme() != "file" {
            return Err(unsupported());
        }
        let path = url.to_file_path().map_err(|()| unsupported())?;
        Ok(DestinationUrl::Folder { path })
    }
}

/// Streams JSON Lines into a gzip object, handing full parts to the upload as they fill, so memory
/// stays at about one part whatever the window holds.
pub struct GzipObjectWriter {
    upload: Box<dyn ObjectUpload>,
    encoder: GzEncoder<Vec<u8>>,
    compressed: u64,
}

impl GzipObjectWriter {
    pub fn new(upload: Box<dyn ObjectUpload>) -> Self {
        Self {
            upload,
            encoder: GzEncoder::new(Vec::with_capacity(PART_SIZE / 4), Compression::default()),
            compressed: 0,
        }
    }

    /// Compresses `bytes` (whole lines) and uploads a part when one is full.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), DestinationError> {
        self.encoder
            .write_all(bytes)
            .map_err(|e| self.local_error(e))?;
        if self.encoder.get_ref().len() >= PART_SIZE {
            let part = std::mem::take(self.encoder.get_mut());
            self.compressed += part.len() as u64;
            self.upload.append(Bytes::from(part)).await?;
        }
        Ok(())
    }

    /// Ends the gzip stream and completes the object; answers the compressed size.
    pub async fn finish(self) -> Result<u64, DestinationError> {
        let last = match self.encoder.finish() {
            Ok(last) => last,
            Err(error) => {
                let error = DestinationError::Write {
                    destination: "gzip".into(),
                    key: String::new(),
                    message: error.to_string(),
                };
                self.upload.abort().await;
                return Err(error);
            }
        };
        let total = self.compressed + last.len() as u64;
        self.upload.complete(Bytes::from(last)).await?;
        Ok(total)
    }

    /// Gives the object up (nothing becomes visible).
    pub async fn abort(self) {
        self.upload.abort().await;
    }

    fn local_error(&self, error: std::io::Error) -> DestinationError {
        DestinationError::Write {
            destination: "gzip".into(),
            key: String::new(),
            message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_or_say_what_is_expected() {
        assert_eq!(
            DestinationUrl::parse("s3://audit-logs.example/entra/exports/").unwrap(),
            DestinationUrl::S3 {
                bucket: "audit-logs.example".into(),
                prefix: "entra/exports".into()
            }
        );
        assert_eq!(
            DestinationUrl::parse("s3://bucket").unwrap(),
            DestinationUrl::S3 {
                bucket: "bucket".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            DestinationUrl::parse("file:///var/exports").unwrap(),
            DestinationUrl::Folder {
                path: "/var/exports".into()
            }
        );
        for bad in [
            "s3://Bad_Bucket/x",
            "s3://",
            "https://bucket/x",
            "exports/",
            "file://host/x",
        ] {
            let error = DestinationUrl::parse(bad).unwrap_err().to_string();
            assert!(error.contains("s3://bucket/prefix"), "{bad}: {error}");
        }
    }
}
