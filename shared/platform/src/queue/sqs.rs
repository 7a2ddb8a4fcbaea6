//! Amazon SQS adapter.
//!
//! Contract: SQS `SendMessageBatch` (awsJson1.0 through the AWS SDK):
//! <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html>.
//! - A batch is split into requests of at most [`MAX_BATCH_ENTRIES`] entries and
//!   [`MAX_BATCH_BYTES`] of messages, sent one after the other; the entry `Id` is the message's
//!   index in the caller's batch, so answers map back without a table.
//! - A request answered `200` may still list entries under `Failed`
//!   (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_BatchResultErrorEntry.html>).
//!   Entries failed on SQS's side (`SenderFault: false`), and any entry the answer does not list
//!   as `Successful`, are sent again, up to [`MAX_ENTRY_ATTEMPTS`] times in all with a short
//!   back-off; a sender fault is reported at once, since sending it again fails the same way.
//!   Whole-request failures (network, throttling, 5xx) are retried by the SDK's own retry policy.
//! - The first request that fails ends the batch: its unsent entries and those of every later
//!   request are in the error.
//!
//! Needs `sqs:SendMessage` on the queue (it also grants `SendMessageBatch`), and
//! `kms:GenerateDataKey` on the key of a queue encrypted with a customer-managed KMS key.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchError;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, MessageAttributeValue, SendMessageBatchRequestEntry,
    SendMessageBatchResultEntry,
};

use super::{
    ATTRIBUTE_DATA_TYPE, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, MessageQueue, OutgoingMessage,
    QueueError, check_batch,
};

/// Attempts per entry that SQS fails on its side, the first one included.
pub const MAX_ENTRY_ATTEMPTS: u32 = 3;
/// Back-off before the first resend; doubled for each further one (25 ms, 50 ms): short, because
/// the receiver must answer Graph within a second.
const FIRST_RESEND_BACKOFF: Duration = Duration::from_millis(25);
/// Failure reasons quoted in an error, at most.
const MAX_REASONS: usize = 3;

/// Queues messages on one SQS queue. Build it once per process from the shared `SdkConfig`; the
/// SDK client pools connections and is cheap to clone.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// A queue at `url` (`https://sqs.<region>.amazonaws.com/<account>/<name>`) through `client`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// A queue at `url` with a client built from `config` (the function's shared `SdkConfig`).
    /// Does no I/O: a wrong URL shows on the first send.
    pub fn from_sdk_config(config: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        Self::new(Client::new(config), url)
    }

    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends the messages at `indices` as one request, resending what SQS failed on its side.
    async fn send_request(
        &self,
        messages: &[OutgoingMessage],
        indices: &[usize],
    ) -> Result<(), QueueError> {
        let mut pending = indices.to_vec();
        let mut attempt = 1;
        loop {
            let entries = pending
                .iter()
                .map(|&index| entry(index, &messages[index]))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| QueueError::Rejected {
                    queue: self.url.clone(),
                    message: format!("the request could not be built: {err}"),
                    unsent: pending.clone(),
                })?;
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|err| classify(err, &self.url, pending.clone()))?;
            let sorted = sort_entries(&pending, output.successful(), output.failed());
            if !sorted.refused.is_empty() {
                let mut unsent = sorted.refused;
                unsent.extend(sorted.resend);
                unsent.sort_unstable();
                return Err(QueueError::Rejected {
                    queue: self.url.clone(),
                    message: sorted.reasons.join("; "),
                    unsent,
                });
            }
            if sorted.resend.is_empty() {
                return Ok(());
            }
            if attempt >= MAX_ENTRY_ATTEMPTS {
                return Err(QueueError::Unavailable {
                    queue: self.url.clone(),
                    message: format!(
                        "{} entries still failed on its side after {attempt} attempts: {}",
                        sorted.resend.len(),
                        sorted.reasons.join("; ")
                    ),
                    unsent: sorted.resend,
                });
            }
            tracing::warn!(
                queue = %self.url,
                failed = sorted.resend.len(),
                attempt,
                reasons = %sorted.reasons.join("; "),
                "SQS failed some entries on its side; sending them again"
            );
            tokio::time::sleep(FIRST_RESEND_BACKOFF * 2u32.pow(attempt - 1)).await;
            pending = sorted.resend;
            attempt += 1;
        }
    }
}

#[async_trait]
impl MessageQueue for SqsQueue {
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Result<(), QueueError> {
        check_batch(messages)?;
        let requests = plan_requests(messages);
        for (position, indices) in requests.iter().enumerate() {
            if let Err(mut err) = self.send_request(messages, indices).await {
                let unsent = err.unsent_mut();
                unsent.extend(requests[position + 1..].iter().flatten());
                unsent.sort_unstable();
                return Err(err);
            }
        }
        Ok(())
    }
}

/// Splits a checked batch into requests: in order, each at most [`MAX_BATCH_ENTRIES`] messages
/// and [`MAX_BATCH_BYTES`] in all. Every message fits alone (the batch was checked), so no
/// request is empty.
fn plan_requests(messages: &[OutgoingMessage]) -> Vec<Vec<usize>> {
    let mut requests = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut bytes = 0;
    for (index, message) in messages.iter().enumerate() {
        let size = message.size();
        if !current.is_empty()
            && (current.len() == MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES)
        {
            requests.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(index);
        bytes += size;
    }
    if !current.is_empty() {
        requests.push(current);
    }
    requests
}

/// The request entry for message `index`: its index as the entry id, attributes as `String`s.
fn entry(
    index: usize,
    message: &OutgoingMessage,
) -> Result<SendMessageBatchRequestEntry, aws_sdk_sqs::error::BuildError> {
    let mut entry = SendMessageBatchRequestEntry::builder()
        .id(index.to_string())
        .message_body(&message.body);
    for (name, value) in &message.attributes {
        entry = entry.message_attributes(
            name,
            MessageAttributeValue::builder()
                .data_type(ATTRIBUTE_DATA_TYPE)
                .string_value(value)
                .build()?,
        );
    }
    entry.build()
}

/// What one `SendMessageBatch` answer means for the entries that were in the request.
#[derive(Debug, Default, PartialEq, Eq)]
struct Sorted {
    /// Failed on SQS's side, or not listed as successful at all: send again.
    resend: Vec<usize>,
    /// Refused as the sender's fault: sending again would fail the same way.
    refused: Vec<usize>,
    /// `Code: Message` of the failed entries (distinct, at most [`MAX_REASONS`]), for errors
    /// and logs.
    reasons: Vec<String>,
}

/// Sorts the entries of a request (`requested`, by message index) by the answer: only an entry
/// listed under `Successful` counts as queued.
fn sort_entries(
    requested: &[usize],
    successful: &[SendMessageBatchResultEntry],
    failed: &[BatchResultErrorEntry],
) -> Sorted {
    let mut sorted = Sorted::default();
    for &index in requested {
        let id = index.to_string();
        if successful.iter().any(|entry| entry.id() == id) {
            continue;
        }
        match failed.iter().find(|entry| entry.id() == id) {
            Some(failure) => {
                if failure.sender_fault() {
                    sorted.refused.push(index);
                } else {
                    sorted.resend.push(index);
                }
                let reason = match failure.message() {
                    Some(message) => format!("{}: {message}", failure.code()),
                    None => failure.code().to_owned(),
                };
                if sorted.reasons.len() < MAX_REASONS && !sorted.reasons.contains(&reason) {
                    sorted.reasons.push(reason);
                }
            }
            None => sorted.resend.push(index),
        }
    }
    if sorted.reasons.is_empty() && !sorted.resend.is_empty() {
        sorted
            .reasons
            .push("entries missing from the answer".to_owned());
    }
    sorted
}

/// Sorts SQS failures by what an operator or caller can do about them.
fn classify(err: SdkError<SendMessageBatchError>, queue: &str, unsent: Vec<usize>) -> QueueError {
    let queue = queue.to_owned();
    let message = DisplayErrorContext(&err).to_string();
    let missing = |unsent| QueueError::MissingQueue {
        queue: queue.clone(),
        unsent,
    };
    match &err {
        SdkError::ServiceError(context) => {
            let status = context.raw().status();
            match context.err() {
                SendMessageBatchError::QueueDoesNotExist(_)
                | SendMessageBatchError::InvalidAddress(_) => missing(unsent),
                SendMessageBatchError::KmsAccessDenied(_) => QueueError::AccessDenied {
                    queue,
                    message,
                    unsent,
                },
                SendMessageBatchError::KmsDisabled(_)
                | SendMessageBatchError::KmsInvalidKeyUsage(_)
                | SendMessageBatchError::KmsInvalidState(_)
                | SendMessageBatchError::KmsNotFound(_)
                | SendMessageBatchError::KmsOptInRequired(_) => QueueError::Encryption {
                    queue,
                    message,
                    unsent,
                },
                SendMessageBatchError::KmsThrottled(_)
                | SendMessageBatchError::RequestThrottled(_) => QueueError::Unavailable {
                    queue,
                    message,
                    unsent,
                },
                other => match other.code() {
                    Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist") => {
                        missing(unsent)
                    }
                    Some(
                        "AccessDenied"
                        | "AccessDeniedException"
                        | "UnrecognizedClientException"
                        | "InvalidClientTokenId"
                        | "SignatureDoesNotMatch"
                        | "ExpiredToken"
                        | "MissingAuthenticationToken",
                    ) => QueueError::AccessDenied {
                        queue,
                        message,
                        unsent,
                    },
                    Some(
                        "ThrottlingException"
                        | "ServiceUnavailable"
                        | "InternalFailure"
                        | "InternalError",
                    ) => QueueError::Unavailable {
                        queue,
                        message,
                        unsent,
                    },
                    _ if status.is_server_error() || status.as_u16() == 429 => {
                        QueueError::Unavailable {
                            queue,
                            message,
                            unsent,
                        }
                    }
                    _ => QueueError::Rejected {
                        queue,
                        message,
                        unsent,
                    },
                },
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            QueueError::Unavailable {
                queue,
                message,
                unsent,
            }
        }
        _ => QueueError::Rejected {
            queue,
            message,
            unsent,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(id: usize) -> SendMessageBatchResultEntry {
        SendMessageBatchResultEntry::builder()
            .id(id.to_string())
            .message_id(format!("m-{id}"))
            .md5_of_message_body("0")
            .build()
            .unwrap()
    }

    fn failed(id: usize, sender_fault: bool, code: &str) -> BatchResultErrorEntry {
        BatchResultErrorEntry::builder()
            .id(id.to_string())
            .sender_fault(sender_fault)
            .code(code)
            .message("detail")
            .build()
            .unwrap()
    }

    #[test]
    fn requests_hold_at_most_ten_entries() {
        let batch: Vec<_> = (0..25)
            .map(|i| OutgoingMessage::new(i.to_string()))
            .collect();
        let sizes: Vec<usize> = plan_requests(&batch).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![10, 10, 5]);
        assert_eq!(plan_requests(&batch).concat(), (0..25).collect::<Vec<_>>());
        assert!(plan_requests(&[]).is_empty());
    }

    #[test]
    fn requests_hold_at_most_256_kib() {
        let big = OutgoingMessage::new("x".repeat(100 * 1024));
        let full = OutgoingMessage::new("y".repeat(MAX_BATCH_BYTES));
        let small = OutgoingMessage::new("z");
        let batch = [big.clone(), big.clone(), big, full, small];
        assert_eq!(
            plan_requests(&batch),
            vec![vec![0, 1], vec![2], vec![3], vec![4]]
        );
    }

    #[test]
    fn failures_on_the_service_side_are_resent_and_sender_faults_are_not() {
        let sorted = sort_entries(
            &[10, 11, 12, 13, 14],
            &[ok(10), ok(13)],
            &[
                failed(11, false, "InternalError"),
                failed(12, true, "InvalidParameterValue"),
            ],
        );
        assert_eq!(sorted.resend, vec![11, 14], "14 is unlisted, so not queued");
        assert_eq!(sorted.refused, vec![12]);
        assert_eq!(
            sorted.reasons,
            vec!["InternalError: detail", "InvalidParameterValue: detail"]
        );
    }

    #[test]
    fn a_fully_successful_answer_leaves_nothing_to_do() {
        let sorted = sort_entries(&[0, 1], &[ok(1), ok(0)], &[]);
        assert_eq!(sorted, Sorted::default());
    }

    #[test]
    fn reasons_are_distinct_and_bounded() {
        let failures: Vec<_> = (0..10)
            .map(|i| failed(i, false, &format!("Code{}", i % 5)))
            .collect();
        let sorted = sort_entries(&(0..10).collect::<Vec<_>>(), &[], &failures);
        assert_eq!(sorted.resend.len(), 10);
        assert_eq!(sorted.reasons.len(), MAX_REASONS);
    }

    #[test]
    fn entries_carry_the_index_and_string_attributes() {
        let entry = entry(
            7,
            &OutgoingMessage::new("body").with_attribute("kind", "change"),
        )
        .unwrap();
        assert_eq!(entry.id(), "7");
        assert_eq!(entry.message_body(), "body");
        let attribute = &entry.message_attributes().unwrap()["kind"];
        assert_eq!(attribute.data_type(), "String");
        assert_eq!(attribute.string_value(), Some("change"));
    }
}
