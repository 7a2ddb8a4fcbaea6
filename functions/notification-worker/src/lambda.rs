//! The Lambda side: one SQS batch in, the ids of the failed messages out
//! ([partial batch responses](https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html#services-sqs-batchfailurereporting);
//! the event source mapping needs `FunctionResponseTypes: [ReportBatchItemFailures]`), so only
//! failed messages return to the queue and a poison message reaches the dead-letter queue after the
//! redrive policy's `maxReceiveCount` without holding back the others.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use crate::worker::{WorkError, Worker};

/// Processes every record of `event` and reports the failed ones.
pub async fn handle_batch(worker: &Worker, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let receive_count = record
            .attributes
            .get("ApproximateReceiveCount")
            .cloned()
            .unwrap_or_default();
        let Some(body) = record.body.as_deref() else {
            tracing::error!(message_id = %id, "SQS record without a body");
            failures.push(failure(id));
            continue;
        };
        match worker.process(body).await {
            Ok(processed) => {
                tracing::debug!(message_id = %id, ?processed, "message processed")
            }
            Err(error @ WorkError::Poison(_)) => {
                tracing::error!(message_id = %id, receive_count, %error, "poison message; it reaches the dead-letter queue after the redrive policy's receive count");
                failures.push(failure(id));
            }
            Err(error) => {
                tracing::warn!(message_id = %id, receive_count, %error, "message failed; SQS delivers it again");
                failures.push(failure(id));
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

fn failure(id: String) -> BatchItemFailure {
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = id;
    failure
}
