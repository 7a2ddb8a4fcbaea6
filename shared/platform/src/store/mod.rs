//! The `KeyValueStore` port: small records with an optional expiry and atomic conditional writes,
//! which is what idempotency markers, export checkpoints and subscription state need
//! (docs/architecture.md "Ports and adapters").
//!
//! Two adapters implement the same contract and are tested by the same suite
//! (`tests/store_contract.rs`):
//! - [`DynamoDbStore`]: one DynamoDB table (partition key `pk`, string), conditional `PutItem` /
//!   `DeleteItem` for the atomic operations, TTL attribute `expires_at` in epoch seconds
//!   (DynamoDB "Using time to live", "Condition expressions"). DynamoDB deletes expired items
//!   lazily (typically within days), so expiry is enforced by this adapter, not by the sweep: an
//!   expired record reads as absent and may be claimed again.
//! - [`MemoryStore`]: a map in the process, for the local host and tests; same semantics.
//!
//! Semantics every adapter keeps:
//! - A record is *live* until its expiry; an expired record behaves exactly like a missing one
//!   (`get` answers `None`, `put_if_absent` may take its key, conditional updates fail on it).
//! - Expiry has whole-second resolution (DynamoDB TTL is epoch seconds): a TTL is rounded up to
//!   whole seconds and a record expires when the clock reaches `expires_at`.
//! - `put_if_absent`, `compare_and_swap` and `delete_if` are atomic: of two concurrent callers at
//!   most one sees `true`.
//! - Reads are strongly consistent, so a retry landing on another Lambda instance sees a marker
//!   written a moment ago.

mod dynamodb;
mod memory;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::Deserialize;

use crate::config::{Validate, ValidationReport};

pub use dynamodb::DynamoDbStore;
pub use memory::MemoryStore;

/// Why a store operation failed. A condition that does not hold is not an error: the
/// conditional operations answer `Ok(false)` for it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached, throttled us or failed on its side; retrying may work.
    #[error("the key-value store {store} is temporarily unavailable: {message}")]
    Unavailable { store: String, message: String },
    /// The function's role may not use the table.
    #[error(
        "access to the key-value store {store} was denied ({message}); grant dynamodb:GetItem, PutItem and DeleteItem on it to the function's role"
    )]
    AccessDenied { store: String, message: String },
    /// The table does not exist.
    #[error(
        "the key-value store table {store} does not exist; create it (partition key pk, type String, TTL attribute expires_at) or fix the table name"
    )]
    MissingTable { store: String },
    /// A record exists but is not in the shape this adapter writes (written by something else).
    #[error("record {key} in {store} is malformed: {problem}")]
    Malformed {
        store: String,
        key: String,
        problem: String,
    },
    /// The store refused the request for another reason (validation, oversized item, ...).
    #[error("the key-value store {store} refused the request: {message}")]
    Failed { store: String, message: String },
}

impl StoreError {
    /// True when the failure may go away by itself (network, throttling, a 5xx).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// Port for small records keyed by string (see the module docs for the contract).
///
/// Values are text (usually a short token or JSON). `ttl: None` means the record never expires.
/// Object-safe so the store can be chosen at run time from config (`Arc<dyn KeyValueStore>`).
#[async_trait]
pub trait KeyValueStore: Send + Sync {
    /// The live value of `key`, or `None` when it is missing or expired.
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Writes `value` under `key` whatever was there.
    async fn put(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError>;

    /// Writes `value` only if `key` has no live record. `true` when this call inserted it: the
    /// building block of "do this once" (idempotency markers, leases).
    async fn put_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError>;

    /// Replaces the live value of `key` with `new` only if it is exactly `expected`. `true` when
    /// replaced; `false` when the record is missing, expired or holds something else.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &str,
        new: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError>;

    /// Removes `key` (missing is fine).
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Removes `key` only if its live value is exactly `expected`, so a holder releases its own
    /// marker and never one another caller has since taken over. `true` when removed.
    async fn delete_if(&self, key: &str, expected: &str) -> Result<bool, StoreError>;
}

/// Where a store reads the time, so expiry can be tested without waiting.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Wall-clock now (expiry is in epoch seconds, shared across processes).
    fn now(&self) -> SystemTime;
}

/// The system clock: what every deployed store uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to (feature `test-support`), shared by a store under test
/// and the test that advances it.
#[cfg(feature = "test-support")]
#[derive(Debug)]
pub struct ManualClock {
    now: std::sync::Mutex<SystemTime>,
}

#[cfg(feature = "test-support")]
impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: SystemTime) -> Self {
        Self {
            now: std::sync::Mutex::new(start),
        }
    }

    /// A clock standing at the current system time.
    pub fn starting_now() -> Self {
        Self::new(SystemTime::now())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }
}

#[cfg(feature = "test-support")]
impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `[store]`: which [`KeyValueStore`] a function uses. With `table` set, a [`DynamoDbStore`] on
/// that table (env `ENTRA_HOOKS_STORE__TABLE`); without, a [`MemoryStore`], which in Lambda only
/// spans one execution environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// DynamoDB table name (partition key `pk` String, TTL attribute `expires_at`).
    #[serde(default)]
    pub table: Option<String>,
}

impl Validate for StoreConfig {
    fn validate(&self, report: &mut ValidationReport) {
        if let Some(table) = &self.table {
            let valid = (3..=255).contains(&table.len())
                && table
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !valid {
                report.invalid(
                    "store.table",
                    "must be a DynamoDB table name: 3-255 letters, digits, _ - or .",
                    Some(table),
                );
            }
        }
    }
}

/// Why the configured store could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StoreSetupError {
    /// A DynamoDB table is configured but no AWS configuration was given.
    #[error(
        "store.table is set, so the AWS configuration is needed; load it before building the store"
    )]
    NoAwsConfig,
}

impl StoreConfig {
    /// Whether [`StoreConfig::build`] needs an AWS `SdkConfig`.
    pub fn needs_aws(&self) -> bool {
        self.table.is_some()
    }

    /// The configured adapter. Does no network I/O.
    pub fn build(
        &self,
        aws: Option<&aws_config::SdkConfig>,
    ) -> Result<Arc<dyn KeyValueStore>, StoreSetupError> {
        match &self.table {
            Some(table) => {
                let aws = aws.ok_or(StoreSetupError::NoAwsConfig)?;
                Ok(Arc::new(DynamoDbStore::from_sdk_config(aws, table.clone())))
            }
            None => Ok(Arc::new(MemoryStore::new())),
        }
    }
}

/// Seconds since the Unix epoch (0 for times before it).
pub fn epoch_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// The `expires_at` (epoch seconds) of a record written at `now` with `ttl`: the TTL rounded up
/// to whole seconds, so a record never expires earlier than asked.
pub fn expires_at(now: SystemTime, ttl: Duration) -> u64 {
    let whole = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    epoch_secs(now).saturating_add(whole)
}

/// Whether a record with `expires_at` is expired at `now`.
fn is_expired(expires_at: Option<u64>, now: SystemTime) -> bool {
    expires_at.is_some_and(|at| at <= epoch_secs(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_whole_seconds() {
        let now = UNIX_EPOCH + Duration::from_millis(10_500);
        assert_eq!(expires_at(now, Duration::from_secs(5)), 15);
        assert_eq!(expires_at(now, Duration::from_millis(1)), 11);
        assert_eq!(expires_at(now, Duration::ZERO), 10);
        assert!(is_expired(Some(10), now));
        assert!(!is_expired(Some(11), now));
        assert!(!is_expired(None, now));
        assert_eq!(epoch_secs(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }

    #[test]
    fn table_names_are_checked() {
        let problems = |table: &str| {
            let mut report = ValidationReport::default();
            StoreConfig {
                table: Some(table.to_owned()),
            }
            .validate(&mut report);
            report.problems().len()
        };
        assert_eq!(problems("entra-hooks-idempotency"), 0);
        assert_eq!(problems("ab"), 1);
        assert_eq!(problems("has space"), 1);
        assert!(!StoreConfig::default().needs_aws());
    }
}
