//! The DynamoDB adapter: one table, partition key `pk` (String), no sort key, and TTL enabled on
//! the `expires_at` attribute (Number, epoch seconds). Items look like
//! `{"pk": {"S": key}, "value": {"S": value}, "expires_at": {"N": "1764000600"}}`.
//!
//! Contract: DynamoDB `PutItem`, `GetItem` and `DeleteItem` with condition expressions
//! (awsJson1.0). The atomic operations are single conditional writes:
//! - `put_if_absent`: `attribute_not_exists(pk) OR expires_at <= :now`, so an expired record
//!   that the TTL sweep has not removed yet can be claimed again;
//! - `compare_and_swap` / `delete_if`: `#value = :expected AND (attribute_not_exists(expires_at)
//!   OR expires_at > :now)`;
//! - a failed condition (`ConditionalCheckFailedException`) is the answer `false`, not an error.
//!
//! `get` reads with `ConsistentRead` and filters expired items, so a marker written by another
//! Lambda instance a millisecond ago is seen and an expired one is not.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use super::{Clock, KeyValueStore, StoreError, SystemClock, epoch_secs, expires_at, is_expired};

/// Partition key attribute (String).
pub const KEY_ATTRIBUTE: &str = "pk";
/// Value attribute (String). `value` is a DynamoDB reserved word, so expressions use `#value`.
pub const VALUE_ATTRIBUTE: &str = "value";
/// TTL attribute (Number, epoch seconds); enable TTL on it so DynamoDB removes expired items.
pub const EXPIRES_ATTRIBUTE: &str = "expires_at";

const LIVE_AND_EQUAL: &str =
    "#value = :expected AND (attribute_not_exists(expires_at) OR expires_at > :now)";
const ABSENT_OR_EXPIRED: &str = "attribute_not_exists(pk) OR expires_at <= :now";

/// A [`KeyValueStore`] on one DynamoDB table (see the module docs for the table shape).
///
/// Build it once per process from the function's shared `SdkConfig`; the SDK client pools
/// connections and is cheap to share.
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
}

/// What a failed call means to the caller.
enum Failure {
    ConditionFailed,
    Error(StoreError),
}

impl DynamoDbStore {
    /// A store on `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            clock: Arc::new(SystemClock),
        }
    }

    /// A store on `table` with a client built from `config` (the function's shared `SdkConfig`).
    pub fn from_sdk_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(config), table)
    }

    /// Reads time from `clock` for expiry (tests pass a manual clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn now_value(&self) -> AttributeValue {
        AttributeValue::N(epoch_secs(self.clock.now()).to_string())
    }

    fn item(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> HashMap<String, AttributeValue> {
        let mut item = HashMap::from([
            (KEY_ATTRIBUTE.to_owned(), AttributeValue::S(key.to_owned())),
            (
                VALUE_ATTRIBUTE.to_owned(),
                AttributeValue::S(value.to_owned()),
            ),
        ]);
        if let Some(ttl) = ttl {
            item.insert(
                EXPIRES_ATTRIBUTE.to_owned(),
                AttributeValue::N(expires_at(self.clock.now(), ttl).to_string()),
            );
        }
        item
    }

    fn malformed(&self, key: &str, problem: &str) -> StoreError {
        StoreError::Malformed {
            store: self.table.clone(),
            key: key.to_owned(),
            problem: problem.to_owned(),
        }
    }

    fn classify<E>(&self, err: SdkError<E>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let store = self.table.clone();
        let message = DisplayErrorContext(&err).to_string();
        match &err {
            SdkError::ServiceError(context) => {
                let status = context.raw().status();
                match context.err().code() {
                    Some("ConditionalCheckFailedException") => Failure::ConditionFailed,
                    Some("ResourceNotFoundException") => {
                        Failure::Error(StoreError::MissingTable { store })
                    }
                    Some("AccessDeniedException" | "UnrecognizedClientException") => {
                        Failure::Error(StoreError::AccessDenied { store, message })
                    }
                    Some(
                        "ProvisionedThroughputExceededException"
                        | "ThrottlingException"
                        | "RequestLimitExceeded"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                        | "TransactionConflictException",
                    ) => Failure::Error(StoreError::Unavailable { store, message }),
                    _ if status.is_server_error() || status.as_u16() == 429 => {
                        Failure::Error(StoreError::Unavailable { store, message })
                    }
                    _ => Failure::Error(StoreError::Failed { store, message }),
                }
            }
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => {
                Failure::Error(StoreError::Unavailable { store, message })
            }
            _ => Failure::Error(StoreError::Failed { store, message }),
        }
    }

    /// `Ok(true)` when the write happened, `Ok(false)` when its condition did not hold.
    fn conditional<T, E>(&self, result: Result<T, SdkError<E>>) -> Result<bool, StoreError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match result {
            Ok(_) => Ok(true),
            Err(err) => match self.classify(err) {
                Failure::ConditionFailed => Ok(false),
                Failure::Error(err) => Err(err),
            },
        }
    }

    /// An unconditional call: a condition failure cannot happen, treat it as a refusal.
    fn unconditional<T, E>(&self, result: Result<T, SdkError<E>>) -> Result<T, StoreError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        result.map_err(|err| match self.classify(err) {
            Failure::Error(err) => err,
            Failure::ConditionFailed => StoreError::Failed {
                store: self.table.clone(),
                message: "unexpected ConditionalCheckFailedException".to_owned(),
            },
        })
    }
}

#[async_trait]
impl KeyValueStore for DynamoDbStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let output = self.unconditional(
            self.client
                .get_item()
                .table_name(&self.table)
                .key(KEY_ATTRIBUTE, AttributeValue::S(key.to_owned()))
                .consistent_read(true)
                .send()
                .await,
        )?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let expires = match item.get(EXPIRES_ATTRIBUTE) {
            None => None,
            Some(AttributeValue::N(n)) => Some(
                n.parse::<u64>()
                    .map_err(|_| self.malformed(key, "expires_at is not whole epoch seconds"))?,
            ),
            Some(_) => return Err(self.malformed(key, "expires_at is not a number")),
        };
        if is_expired(expires, self.clock.now()) {
            return Ok(None);
        }
        match item.get(VALUE_ATTRIBUTE) {
            Some(AttributeValue::S(value)) => Ok(Some(value.clone())),
            Some(_) => Err(self.malformed(key, "value is not a string")),
            None => Err(self.malformed(key, "the value attribute is missing")),
        }
    }

    async fn put(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        self.unconditional(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(self.item(key, value, ttl)))
                .send()
                .await,
        )?;
        Ok(())
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.conditional(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(self.item(key, value, ttl)))
                .condition_expression(ABSENT_OR_EXPIRED)
                .expression_attribute_values(":now", self.now_value())
                .send()
                .await,
        )
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &str,
        new: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.conditional(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(self.item(key, new, ttl)))
                .condition_expression(LIVE_AND_EQUAL)
                .expression_attribute_names("#value", VALUE_ATTRIBUTE)
                .expression_attribute_values(":expected", AttributeValue::S(expected.to_owned()))
                .expression_attribute_values(":now", self.now_value())
                .send()
                .await,
        )
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.unconditional(
            self.client
                .delete_item()
                .table_name(&self.table)
                .key(KEY_ATTRIBUTE, AttributeValue::S(key.to_owned()))
                .send()
                .await,
        )?;
        Ok(())
    }

    async fn delete_if(&self, key: &str, expected: &str) -> Result<bool, StoreError> {
        self.conditional(
            self.client
                .delete_item()
                .table_name(&self.table)
                .key(KEY_ATTRIBUTE, AttributeValue::S(key.to_owned()))
                .condition_expression(LIVE_AND_EQUAL)
                .expression_attribute_names("#value", VALUE_ATTRIBUTE)
                .expression_attribute_values(":expected", AttributeValue::S(expected.to_owned()))
                .expression_attribute_values(":now", self.now_value())
                .send()
                .await,
        )
    }
}
