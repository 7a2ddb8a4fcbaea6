//! At-most-once reactions over at-least-once delivery: a marker per message key in the
//! [`KeyValueStore`] (DynamoDB conditional writes in Lambda).
//!
//! A message is claimed with `put_if_absent(key, "running:<id>", visibility)`, and marked
//! `done` (kept for the de-duplication window) only after every reaction succeeded. So:
//! - the same message delivered again after success finds `done` and does nothing;
//! - delivered again while another worker runs it, it finds `running` and is retried later;
//! - a worker that dies mid-batch leaves a `running` marker that expires with the visibility
//!   timeout, and the redelivered message runs again (reactions are idempotent);
//! - a failed run releases its claim at once, so the retry need not wait.

use std::sync::Arc;
use std::time::Duration;

use entra_platform::store::{KeyValueStore, StoreError};

const DONE: &str = "done";

/// Where the worker stands with one message key.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// This worker may run the message; finish with [`Markers::complete`] or [`Markers::release`].
    Claimed(String),
    /// Done before: skip.
    AlreadyDone,
    /// Another worker is running it now: retry later.
    Busy,
}

/// The markers of processed messages.
#[derive(Clone)]
pub struct Markers {
    store: Arc<dyn KeyValueStore>,
    /// How long a claim holds (the queue's visibility timeout).
    claim_ttl: Duration,
    /// How long a finished message is remembered.
    done_ttl: Duration,
}

impl Markers {
    pub fn new(store: Arc<dyn KeyValueStore>, claim_ttl: Duration, done_ttl: Duration) -> Self {
        Self {
            store,
            claim_ttl,
            done_ttl,
        }
    }

    fn key(message_key: &str) -> String {
        format!("notification-worker/{message_key}")
    }

    pub async fn claim(&self, message_key: &str) -> Result<Claim, StoreError> {
        let key = Self::key(message_key);
        let token = format!("running:{}", uuid::Uuid::new_v4());
        if self
            .store
            .put_if_absent(&key, &token, Some(self.claim_ttl))
            .await?
        {
            return Ok(Claim::Claimed(token));
        }
        Ok(match self.store.get(&key).await?.as_deref() {
            Some(DONE) => Claim::AlreadyDone,
            Some(_) => Claim::Busy,
            // Expired between the two calls: try once more.
            None => {
                if self
                    .store
                    .put_if_absent(&key, &token, Some(self.claim_ttl))
                    .await?
                {
                    Claim::Claimed(token)
                } else {
                    Claim::Busy
                }
            }
        })
    }

    /// Marks the message done. `false` when the claim was lost (expired and taken over).
    pub async fn complete(&self, message_key: &str, token: &str) -> Result<bool, StoreError> {
        self.store
            .compare_and_swap(&Self::key(message_key), token, DONE, Some(self.done_ttl))
            .await
    }

    /// Gives the claim back after a failure, so the retry can run at once.
    pub async fn release(&self, message_key: &str, token: &str) -> Result<(), StoreError> {
        self.store
            .delete_if(&Self::key(message_key), token)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entra_platform::store::{ManualClock, MemoryStore};

    #[tokio::test]
    async fn claim_complete_release_and_expiry() {
        let clock = Arc::new(ManualClock::starting_now());
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        let markers = Markers::new(store, Duration::from_secs(30), Duration::from_secs(3600));

        let Claim::Claimed(first) = markers.claim("m1").await.unwrap() else {
            panic!("first claim")
        };
        assert_eq!(markers.claim("m1").await.unwrap(), Claim::Busy);
        markers.release("m1", &first).await.unwrap();
        let Claim::Claimed(second) = markers.claim("m1").await.unwrap() else {
            panic!("claim after release")
        };
        assert!(markers.complete("m1", &second).await.unwrap());
        assert_eq!(markers.claim("m1").await.unwrap(), Claim::AlreadyDone);

        // A worker that died: its claim expires with the visibility timeout.
        let Claim::Claimed(dead) = markers.claim("m2").await.unwrap() else {
            panic!()
        };
        clock.advance(Duration::from_secs(31));
        let Claim::Claimed(taken_over) = markers.claim("m2").await.unwrap() else {
            panic!("expired claim is taken over")
        };
        assert!(!markers.complete("m2", &dead).await.unwrap());
        assert!(markers.complete("m2", &taken_over).await.unwrap());
        // Done is remembered for the window, then forgotten.
        clock.advance(Duration::from_secs(3601));
        assert!(matches!(
            markers.claim("m1").await.unwrap(),
            Claim::Claimed(_)
        ));
    }
}
