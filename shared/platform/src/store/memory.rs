//! The in-process adapter: the local host's store and the reference the DynamoDB adapter is
//! tested against. Records live as long as the process; in Lambda that means one execution
//! environment, so a retry that lands on another instance does not see them (use
//! [`super::DynamoDbStore`] there).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use super::{Clock, KeyValueStore, StoreError, SystemClock, expires_at, is_expired};

/// Writes between two sweeps of expired records, so an idle map does not grow without bound.
const SWEEP_EVERY: usize = 256;

#[derive(Debug)]
struct Record {
    value: String,
    expires_at: Option<u64>,
}

#[derive(Debug, Default)]
struct Records {
    map: HashMap<String, Record>,
    writes_since_sweep: usize,
}

/// A [`KeyValueStore`] in memory, with the same expiry semantics as the DynamoDB adapter.
#[derive(Debug)]
pub struct MemoryStore {
    records: Mutex<Records>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty store reading time from `clock` (tests pass a manual clock to test expiry).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            records: Mutex::new(Records::default()),
            clock,
        }
    }

    /// Number of records held, expired ones not yet swept included (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// True when no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Records> {
        // A poisoned lock means a panic elsewhere while holding it; every operation leaves the map
        // consistent, so it is safe to keep using.
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn live<'a>(&self, records: &'a Records, key: &str) -> Option<&'a Record> {
        let now = self.clock.now();
        records
            .map
            .get(key)
            .filter(|record| !is_expired(record.expires_at, now))
    }

    fn write(&self, records: &mut Records, key: &str, value: &str, ttl: Option<Duration>) {
        let now = self.clock.now();
        records.writes_since_sweep += 1;
        if records.writes_since_sweep >= SWEEP_EVERY {
            records.writes_since_sweep = 0;
            records
                .map
                .retain(|_, record| !is_expired(record.expires_at, now));
        }
        records.map.insert(
            key.to_owned(),
            Record {
                value: value.to_owned(),
                expires_at: ttl.map(|ttl| expires_at(now, ttl)),
            },
        );
    }
}

#[async_trait]
impl KeyValueStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let records = self.lock();
        Ok(self.live(&records, key).map(|record| record.value.clone()))
    }

    async fn put(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        let mut records = self.lock();
        self.write(&mut records, key, value, ttl);
        Ok(())
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut records = self.lock();
        if self.live(&records, key).is_some() {
            return Ok(false);
        }
        self.write(&mut records, key, value, ttl);
        Ok(true)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &str,
        new: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut records = self.lock();
        if self
            .live(&records, key)
            .is_none_or(|record| record.value != expected)
        {
            return Ok(false);
        }
        self.write(&mut records, key, new, ttl);
        Ok(true)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.lock().map.remove(key);
        Ok(())
    }

    async fn delete_if(&self, key: &str, expected: &str) -> Result<bool, StoreError> {
        let mut records = self.lock();
        if self
            .live(&records, key)
            .is_none_or(|record| record.value != expected)
        {
            return Ok(false);
        }
        records.map.remove(key);
        Ok(true)
    }
}
