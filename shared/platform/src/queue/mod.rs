//! The `MessageQueue` port: hand a batch of messages to a queue so that a worker processes them
//! later, and say exactly which were not handed over when that fails. The change-notification
//! receiver enqueues directory changes before it answers Graph `202`, and answers `5xx` when the
//! queue refuses, so Graph retries: nothing is acknowledged before it is queued
//! (docs/protocols/change-notifications.md §A.3, §A.5).
//!
//! Adapters, chosen by [`QueueConfig`], tested by one suite (`tests/queue_contract.rs`):
//! - [`SqsQueue`]: Amazon SQS `SendMessageBatch` in requests of at most 10 entries and 256 KiB,
//!   resending the entries SQS reports as failed on its side; the worker Lambda consumes the queue
//!   through its event source mapping with partial batch responses.
//! - [`MemoryQueue`]: a queue in the process for the local host and tests, with the parts of SQS
//!   semantics a worker relies on: visibility timeout, receive count, redrive to a dead-letter
//!   queue after `maxReceiveCount` receives, and long polling.
//!
//! Rules every adapter keeps:
//! - A batch is checked before anything is sent ([`OutgoingMessage::check`]): a message SQS would
//!   refuse (empty, larger than [`MAX_MESSAGE_BYTES`], characters outside the allowed set, bad
//!   attributes) fails the whole batch with [`QueueError::Invalid`] and nothing is queued.
//! - `Ok(())` means every message is queued. An error names the messages that were not
//!   ([`QueueError::unsent`]); messages sent before the failure stay queued, so a caller that
//!   retries the whole batch may queue some twice. Delivery is at least once in any case: workers
//!   de-duplicate.
//!
//! AWS contracts relied on:
//! - Message quotas (size, characters, attributes, batch of 10):
//!   <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html>
//! - `SendMessageBatch` and its per-entry results (a `200` can still carry failed entries):
//!   <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html>,
//!   <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_BatchResultErrorEntry.html>
//! - Message attributes:
//!   <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html>
//! - Visibility timeout:
//!   <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html>
//! - Dead-letter queues and the redrive policy (`maxReceiveCount`):
//!   <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html>
//! - Partial batch responses of the Lambda SQS event source:
//!   <https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html>

mod memory;
mod sqs;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use crate::config::{Validate, ValidationReport};

pub use memory::{MAX_VISIBILITY_TIMEOUT, MemoryQueue, ReceivedMessage};
pub use sqs::{MAX_ENTRY_ATTEMPTS, SqsQueue};

/// Largest message we send, in bytes: body plus every attribute's name, type and value, as SQS
/// counts them. SQS accepted 256 KiB per message and per batch request for most of its life
/// (newer queues may accept more), but a queue's `MaximumMessageSize` can be set lower, and a
/// worker's Lambda event carries up to 10 messages; 256 KiB is accepted by every queue.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Largest `SendMessageBatch` request we send, in bytes (sum of its messages' sizes).
pub const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Most entries one `SendMessageBatch` request may carry (SQS quota).
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Most attributes one message may carry (SQS quota).
pub const MAX_ATTRIBUTES: usize = 10;
/// Data type SQS is told for every attribute: all our attributes are strings.
const ATTRIBUTE_DATA_TYPE: &str = "String";

/// One message to queue. `Debug` shows the body's size and the attribute names only: bodies carry
/// directory data (object ids, tenant ids, sometimes resource data) that logs should not.
///
/// Build it with [`OutgoingMessage::new`] and [`OutgoingMessage::with_attribute`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutgoingMessage {
    /// The payload, usually JSON. 1 byte to [`MAX_MESSAGE_BYTES`] with the attributes.
    pub body: String,
    /// String message attributes (name to value), delivered next to the body so a consumer can
    /// route or filter without parsing it. At most [`MAX_ATTRIBUTES`].
    pub attributes: BTreeMap<String, String>,
}

impl OutgoingMessage {
    /// A message with `body` and no attributes.
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            attributes: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) the string attribute `name`.
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    /// The size SQS counts for this message: the body plus each attribute's name, data type and
    /// value, in UTF-8 bytes.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(name, value)| name.len() + ATTRIBUTE_DATA_TYPE.len() + value.len())
                .sum::<usize>()
    }

    /// Checks what SQS would otherwise refuse: a non-empty body of allowed characters, the size
    /// limit, and the attribute rules (count, names, non-empty values of allowed characters).
    /// Returns the problem, phrased to follow "the message ...".
    pub fn check(&self) -> Result<(), String> {
        if self.body.is_empty() {
            return Err("has an empty body; SQS needs at least 1 character".to_owned());
        }
        if let Some(at) = self.body.chars().position(|c| !is_allowed_char(c)) {
            return Err(format!(
                "has a character SQS does not accept at position {at} of its body (allowed: tab, line feed, carriage return and Unicode from U+0020 except surrogates and U+FFFE/U+FFFF); escape it, e.g. as JSON"
            ));
        }
        let size = self.size();
        if size > MAX_MESSAGE_BYTES {
            return Err(format!(
                "is {size} bytes with its attributes, more than the {MAX_MESSAGE_BYTES} bytes a queue accepts; queue a reference to the data instead (an object id, an S3 key)"
            ));
        }
        if self.attributes.len() > MAX_ATTRIBUTES {
            return Err(format!(
                "has {} attributes; SQS accepts at most {MAX_ATTRIBUTES}",
                self.attributes.len()
            ));
        }
        for (name, value) in &self.attributes {
            if let Err(problem) = check_attribute_name(name) {
                return Err(format!("has an attribute named {name:?} that {problem}"));
            }
            if value.is_empty() {
                return Err(format!(
                    "has an empty value for attribute {name:?}; SQS needs a non-empty value"
                ));
            }
            if value.chars().any(|c| !is_allowed_char(c)) {
                return Err(format!(
                    "has a character SQS does not accept in the value of attribute {name:?}"
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for OutgoingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMessage")
            .field("body_bytes", &self.body.len())
            .field("attributes", &self.attributes.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Checks a whole batch before anything of it is sent (see the module docs).
fn check_batch(messages: &[OutgoingMessage]) -> Result<(), QueueError> {
    for (index, message) in messages.iter().enumerate() {
        if let Err(problem) = message.check() {
            return Err(QueueError::Invalid {
                index,
                problem,
                unsent: (0..messages.len()).collect(),
            });
        }
    }
    Ok(())
}

/// The characters SQS accepts in a message (the XML 1.0 `Char` production).
fn is_allowed_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

/// SQS attribute-name rules; the problem is phrased to follow "an attribute named ... ".
fn check_attribute_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 256 {
        return Err("is not 1 to 256 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("has characters other than letters, digits, -, _ and .");
    }
    if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return Err("starts or ends with a period or has two in a row");
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("aws.") || lower.starts_with("amazon.") {
        return Err("starts with AWS. or Amazon., which SQS reserves");
    }
    Ok(())
}

/// Why a batch was not (completely) queued. Every variant lists the messages that were not
/// queued, as indices into the slice given to [`MessageQueue::send_batch`], in ascending order;
/// the others are queued. Messages never appear in the error, only their indices.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A message cannot be queued as built; nothing of the batch was sent.
    #[error("message {index} of the batch cannot be queued: it {problem}; nothing was sent")]
    Invalid {
        index: usize,
        problem: String,
        unsent: Vec<usize>,
    },
    /// The queue URL names no queue.
    #[error(
        "the queue {queue} does not exist; create it or fix queue.url (ENTRA_HOOKS_QUEUE__URL); {} message(s) not sent",
        unsent.len()
    )]
    MissingQueue { queue: String, unsent: Vec<usize> },
    /// The function's role may not send to the queue (or use its KMS key).
    #[error(
        "sending to the queue {queue} was denied ({message}); grant sqs:SendMessage on it to the function's role (and kms:GenerateDataKey on its key if it uses a customer-managed KMS key); {} message(s) not sent",
        unsent.len()
    )]
    AccessDenied {
        queue: String,
        message: String,
        unsent: Vec<usize>,
    },
    /// The queue is encrypted with a KMS key SQS cannot use (disabled, deleted, wrong state).
    #[error(
        "the queue {queue} cannot encrypt with its KMS key ({message}); enable the key or fix the queue's KmsMasterKeyId; {} message(s) not sent",
        unsent.len()
    )]
    Encryption {
        queue: String,
        message: String,
        unsent: Vec<usize>,
    },
    /// Unreachable, throttled, failed on its side, or entries still failing on its side after our
    /// retries; sending the unsent messages again later may work.
    #[error(
        "the queue {queue} is temporarily unavailable ({message}); {} message(s) not sent, retry later",
        unsent.len()
    )]
    Unavailable {
        queue: String,
        message: String,
        unsent: Vec<usize>,
    },
    /// SQS refused the request or some entries as the sender's fault; sending the same again
    /// fails the same way.
    #[error(
        "the queue {queue} refused the messages ({message}); {} message(s) not sent",
        unsent.len()
    )]
    Rejected {
        queue: String,
        message: String,
        unsent: Vec<usize>,
    },
}

impl QueueError {
    /// Indices (into the batch given to `send_batch`) of the messages that were not queued.
    pub fn unsent(&self) -> &[usize] {
        match self {
            QueueError::Invalid { unsent, .. }
            | QueueError::MissingQueue { unsent, .. }
            | QueueError::AccessDenied { unsent, .. }
            | QueueError::Encryption { unsent, .. }
            | QueueError::Unavailable { unsent, .. }
            | QueueError::Rejected { unsent, .. } => unsent,
        }
    }

    /// The unsent list, for an adapter adding the messages of requests it did not get to.
    fn unsent_mut(&mut self) -> &mut Vec<usize> {
        match self {
            QueueError::Invalid { unsent, .. }
            | QueueError::MissingQueue { unsent, .. }
            | QueueError::AccessDenied { unsent, .. }
            | QueueError::Encryption { unsent, .. }
            | QueueError::Unavailable { unsent, .. }
            | QueueError::Rejected { unsent, .. } => unsent,
        }
    }

    /// True when sending the unsent messages again later may work (network, throttling, a 5xx).
    pub fn is_transient(&self) -> bool {
        matches!(self, QueueError::Unavailable { .. })
    }
}

/// Port for queueing messages (see the module docs for the contract). Object-safe so the adapter
/// can be chosen from config at start (`Arc<dyn MessageQueue>`).
#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// Queues every message of `messages`, or fails saying which were not queued. An empty batch
    /// is `Ok` and sends nothing.
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Result<(), QueueError>;

    /// Queues one message.
    async fn send(&self, message: &OutgoingMessage) -> Result<(), QueueError> {
        self.send_batch(std::slice::from_ref(message)).await
    }
}

/// `[queue]`: where a function queues messages. With `url` set, an [`SqsQueue`] on that queue
/// (env `ENTRA_HOOKS_QUEUE__URL`); without, a [`MemoryQueue`], which only lives as long as the
/// process (the local host).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// SQS queue URL, `https://sqs.<region>.amazonaws.com/<account id>/<queue name>` (a standard
    /// queue; `http://` is accepted for a local emulator).
    #[serde(default)]
    pub url: Option<String>,
}

impl Validate for QueueConfig {
    fn validate(&self, report: &mut ValidationReport) {
        let Some(url) = &self.url else { return };
        if let Err(requirement) = check_queue_url(url) {
            report.invalid("queue.url", requirement, Some(url));
        }
    }
}

/// The shape of an SQS queue URL; the requirement is phrased to follow "queue.url".
fn check_queue_url(url: &str) -> Result<(), &'static str> {
    const SHAPE: &str = "must be an SQS queue URL like https://sqs.eu-west-1.amazonaws.com/123456789012/entra-hooks-changes";
    let parsed = url::Url::parse(url).map_err(|_| SHAPE)?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return Err(SHAPE);
    }
    let segments: Vec<&str> = parsed
        .path_segments()
        .map(|segments| segments.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let [account, name] = segments.as_slice() else {
        return Err(SHAPE);
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            "must name a 12-digit account id before the queue name, like .../123456789012/entra-hooks-changes",
        );
    }
    if name.ends_with(".fifo") {
        return Err(
            "names a FIFO queue, which needs a message group id this adapter does not set; use a standard queue",
        );
    }
    if name.is_empty()
        || name.len() > 80
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        return Err("must end in a queue name of 1-80 letters, digits, - or _");
    }
    Ok(())
}

/// Why the configured queue could not be built.
#[derive(Debug, thiserror::Error)]
pub enum QueueSetupError {
    /// An SQS queue is configured but no AWS configuration was given.
    #[error(
        "queue.url is set, so the AWS configuration is needed; load it before building the queue"
    )]
    NoAwsConfig,
}

impl QueueConfig {
    /// Whether [`QueueConfig::build`] needs an AWS `SdkConfig`.
    pub fn needs_aws(&self) -> bool {
        self.url.is_some()
    }

    /// The configured adapter. Does no network I/O.
    pub fn build(
        &self,
        aws: Option<&aws_config::SdkConfig>,
    ) -> Result<Arc<dyn MessageQueue>, QueueSetupError> {
        match &self.url {
            Some(url) => {
                let aws = aws.ok_or(QueueSetupError::NoAwsConfig)?;
                Ok(Arc::new(SqsQueue::from_sdk_config(aws, url.clone())))
            }
            None => Ok(Arc::new(MemoryQueue::new())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_config_with_env;

    #[test]
    fn debug_never_shows_the_body() {
        let message = OutgoingMessage::new(r#"{"id":"secret-object"}"#).with_attribute("kind", "x");
        let shown = format!("{message:?}");
        assert!(!shown.contains("secret-object"), "{shown}");
        assert!(shown.contains("kind"), "{shown}");
    }

    #[test]
    fn size_counts_attributes_as_sqs_does() {
        let message = OutgoingMessage::new("abc").with_attribute("kind", "änderung");
        assert_eq!(message.size(), 3 + 4 + "String".len() + "änderung".len());
    }

    #[test]
    fn messages_sqs_would_refuse_are_caught() {
        let ok =
            OutgoingMessage::new("{\"a\":\"ä😀\"}\n\t\r").with_attribute("event.kind", "change");
        assert_eq!(ok.check(), Ok(()));
        let at_limit = OutgoingMessage::new("x".repeat(MAX_MESSAGE_BYTES));
        assert_eq!(at_limit.check(), Ok(()));

        let bad = [
            OutgoingMessage::new(""),
            OutgoingMessage::new("bell \u{7}"),
            OutgoingMessage::new("\u{FFFF}"),
            OutgoingMessage::new("x".repeat(MAX_MESSAGE_BYTES + 1)),
            OutgoingMessage::new("x".repeat(MAX_MESSAGE_BYTES - 10)).with_attribute("kind", "y"),
            OutgoingMessage::new("x").with_attribute("AWS.TraceHeader", "y"),
            OutgoingMessage::new("x").with_attribute("amazon.thing", "y"),
            OutgoingMessage::new("x").with_attribute(".kind", "y"),
            OutgoingMessage::new("x").with_attribute("a..b", "y"),
            OutgoingMessage::new("x").with_attribute("has space", "y"),
            OutgoingMessage::new("x").with_attribute("kind", ""),
            OutgoingMessage::new("x").with_attribute("kind", "\u{0}"),
            (0..11).fold(OutgoingMessage::new("x"), |m, i| {
                m.with_attribute(format!("a{i}"), "v")
            }),
        ];
        for message in bad {
            assert!(message.check().is_err(), "{message:?}");
        }
    }

    #[test]
    fn an_invalid_message_fails_the_whole_batch_before_sending() {
        let batch = [
            OutgoingMessage::new("fine"),
            OutgoingMessage::new(""),
            OutgoingMessage::new("fine"),
        ];
        let err = check_batch(&batch).unwrap_err();
        assert!(
            matches!(err, QueueError::Invalid { index: 1, .. }),
            "{err:?}"
        );
        assert_eq!(err.unsent(), &[0, 1, 2]);
        assert!(!err.is_transient());
        assert!(err.to_string().contains("message 1"), "{err}");
    }

    #[test]
    fn queue_urls_are_checked() {
        let problems = |url: &str| {
            let mut report = ValidationReport::default();
            QueueConfig {
                url: Some(url.to_owned()),
            }
            .validate(&mut report);
            report.problems().len()
        };
        assert_eq!(
            problems("https://sqs.eu-west-1.amazonaws.com/123456789012/entra-hooks-changes"),
            0
        );
        assert_eq!(
            problems("http://127.0.0.1:5000/123456789012/local_queue"),
            0
        );
        for bad in [
            "entra-hooks-changes",
            "ftp://sqs.eu-west-1.amazonaws.com/123456789012/q",
            "https://sqs.eu-west-1.amazonaws.com/q",
            "https://sqs.eu-west-1.amazonaws.com/1234/q",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/has%20space",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/a/b",
        ] {
            assert_eq!(problems(bad), 1, "{bad}");
        }
        assert!(!QueueConfig::default().needs_aws());
    }

    #[derive(Debug, Deserialize)]
    struct WithQueue {
        #[serde(default)]
        queue: QueueConfig,
    }

    impl Validate for WithQueue {
        fn validate(&self, report: &mut ValidationReport) {
            self.queue.validate(report);
        }
    }

    #[test]
    fn the_url_comes_from_the_environment() {
        let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/entra-hooks-changes";
        let config: WithQueue =
            load_config_with_env(None, [("ENTRA_HOOKS_QUEUE__URL", url)]).unwrap();
        assert_eq!(config.queue.url.as_deref(), Some(url));
        assert!(config.queue.needs_aws());
        assert!(matches!(
            config.queue.build(None),
            Err(QueueSetupError::NoAwsConfig)
        ));

        let config: WithQueue = load_config_with_env(None, Vec::<(String, String)>::new()).unwrap();
        assert_eq!(config.queue, QueueConfig::default());
        assert!(config.queue.build(None).is_ok());

        let err =
            load_config_with_env::<WithQueue, _, _, _>(None, [("ENTRA_HOOKS_QUEUE__URL", "nope")])
                .unwrap_err();
        assert_eq!(err.problems()[0].key(), "queue.url");
    }
}
