//! Amazon S3 as the destination (`s3://bucket/prefix`), the deployed function's adapter.
//!
//! A window that fits in one part is one `PutObject`; a larger one is a multipart upload whose parts
//! are sent as the gzip writer fills them (memory stays at one part) and which only becomes visible
//! at `CompleteMultipartUpload` ([S3 multipart upload overview]). An upload abandoned by a crash is
//! invisible and is removed by the bucket's `AbortIncompleteMultipartUpload` lifecycle rule
//! (template.yaml). Encryption at rest is the bucket's default encryption.
//!
//! [S3 multipart upload overview]: https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;

use super::{DestinationError, ObjectStore, ObjectUpload};

/// The content type of every exported object: gzip-compressed JSON Lines.
const CONTENT_TYPE: &str = "application/gzip";

/// Objects in one bucket under one key prefix.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3Store {
    pub fn new(client: Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            prefix: prefix.into().trim_matches('/').to_owned(),
        }
    }

    fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn begin(&self, key: &str) -> Result<Box<dyn ObjectUpload>, DestinationError> {
        Ok(Box::new(S3Upload {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: self.full_key(key),
            upload_id: None,
            parts: Vec::new(),
        }))
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

struct S3Upload {
    client: Client,
    bucket: String,
    key: String,
    /// Set once the object outgrew one part.
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
}

impl S3Upload {
    fn error(&self, error: impl std::error::Error) -> DestinationError {
        DestinationError::Write {
            destination: format!("s3://{}", self.bucket),
            key: self.key.clone(),
            message: DisplayErrorContext(error).to_string(),
        }
    }

    async fn upload_id(&mut self) -> Result<String, DestinationError> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type(CONTENT_TYPE)
            .send()
            .await
            .map_err(|e| self.error(e))?;
        let id = created
            .upload_id()
            .ok_or_else(|| DestinationError::Write {
                destination: format!("s3://{}", self.bucket),
                key: self.key.clone(),
                message: "CreateMultipartUpload answered without an UploadId".into(),
            })?
            .to_owned();
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    async fn upload_part(&mut self, part: Bytes) -> Result<(), DestinationError> {
        let upload_id = self.upload_id().await?;
        let number = i32::try_from(self.parts.len() + 1).unwrap_or(i32::MAX);
        let sent = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(|e| self.error(e))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(sent.e_tag().map(str::to_owned))
                .build(),
        );
        Ok(())
    }
}

#[async_trait]
impl ObjectUpload for S3Upload {
    async fn append(&mut self, part: Bytes) -> Result<(), DestinationError> {
        let result = self.upload_part(part).await;
        if result.is_err() {
            self.abort_in_place().await;
        }
        result
    }

    async fn complete(mut self: Box<Self>, last: Bytes) -> Result<(), DestinationError> {
        let Some(upload_id) = self.upload_id.clone() else {
            return self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type(CONTENT_TYPE)
                .body(ByteStream::from(last))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.error(e));
        };
        if !last.is_empty()
            && let Err(error) = self.upload_part(last).await
        {
            self.abort_in_place().await;
            return Err(error);
        }
        let parts = std::mem::take(&mut self.parts);
        let completed = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await;
        if let Err(error) = completed {
            let error = self.error(error);
            self.abort_in_place().await;
            return Err(error);
        }
        Ok(())
    }

    async fn abort(mut self: Box<Self>) {
        self.abort_in_place().await;
    }
}

impl S3Upload {
    /// Abandons the multipart upload, best effort (the lifecycle rule removes it otherwise).
    async fn abort_in_place(&mut self) {
        if let Some(upload_id) = self.upload_id.take() {
            let aborted = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .send()
                .await;
            if let Err(error) = aborted {
                tracing::warn!(
                    key = %self.key,
                    error = %DisplayErrorContext(&error),
                    "could not abort a multipart upload; the bucket's lifecycle rule will remove it"
                );
            }
        }
    }
}
