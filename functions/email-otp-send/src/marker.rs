//! "Was this code already sent?": one record per (tenant, correlation id, code) in the
//! [`KeyValueStore`], so Entra's retry of a request we already served does not send a second
//! email (spec c.2/c.3: a retry after a timeout re-sends the same request; Microsoft Q&A 5617636
//! reports users getting the same code three times).
//!
//! The record moves through two states:
//! - `sending <since_ms> <nonce>`: an attempt claimed the code and is sending it. Written with
//!   `put_if_absent` BEFORE sending, so of two concurrent attempts only one sends.
//! - `sent`: the mail service accepted the message. A retry answers
//!   `continueWithDefaultBehavior` without sending.
//!
//! If sending fails (or is late) the claimant removes its own marker (`delete_if` with the
//! exact value it wrote), so Entra's retry can send: a duplicate mail is better than none. An
//! attempt that finds another one `sending` waits for it within its budget: `sent` means done,
//! a removed marker means it may claim the code itself. A `sending` marker older than the
//! lease (the call timeout: no attempt sends for longer than its budget) was left by an attempt
//! that died or could not clean up, and is taken over with `compare_and_swap`. Records expire
//! after the TTL (10 minutes by default), so the table does not grow.
//!
//! The key is `email-otp-send#` + hex(SHA-256) of the tenant, correlation id and code, or an
//! HMAC-SHA256 with a configured secret: with a secret, someone who can read the table cannot
//! recover a live 8-digit code by trying all of them.

use std::time::{Duration, UNIX_EPOCH};

use aws_lc_rs::{digest, hmac};
use entra_platform::store::Clock;
use entra_platform::{KeyValueStore, SecretValue, StoreError};
use tokio::time::Instant;

/// Prefix of every marker key, so the table can be shared with other functions.
pub const KEY_PREFIX: &str = "email-otp-send#";
const SENT: &str = "sent";
const SENDING: &str = "sending";
/// Domain separation for the hash input.
const HASH_CONTEXT: &[u8] = b"entra-hooks/email-otp-send/marker/v1";

/// The marker key for one code sent in one authentication.
pub fn marker_key(
    secret: Option<&SecretValue>,
    tenant_id: &str,
    correlation_id: &str,
    code: &str,
) -> String {
    let mut input = Vec::with_capacity(
        HASH_CONTEXT.len() + tenant_id.len() + correlation_id.len() + code.len() + 3,
    );
    for part in [
        HASH_CONTEXT,
        tenant_id.to_ascii_lowercase().as_bytes(),
        correlation_id.to_ascii_lowercase().as_bytes(),
        code.as_bytes(),
    ] {
        input.extend_from_slice(part);
        input.push(0);
    }
    let hash: Vec<u8> = match secret {
        Some(secret) => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
            hmac::sign(&key, &input).as_ref().to_vec()
        }
        None => digest::digest(&digest::SHA256, &input).as_ref().to_vec(),
    };
    let mut key = String::with_capacity(KEY_PREFIX.len() + 64);
    key.push_str(KEY_PREFIX);
    for byte in hash {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

/// What a marker record says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Marker {
    Sending {
        since_ms: u64,
    },
    Sent,
    /// Not written by us; treated like an abandoned claim.
    Unknown,
}

impl Marker {
    fn read(value: &str) -> Self {
        if value == SENT {
            return Marker::Sent;
        }
        let mut parts = value.split(' ');
        match (parts.next(), parts.next().map(str::parse::<u64>)) {
            (Some(SENDING), Some(Ok(since_ms))) => Marker::Sending { since_ms },
            _ => Marker::Unknown,
        }
    }
}

/// The outcome of trying to claim a code.
#[derive(Debug)]
pub enum Claim {
    /// This attempt sends; `held` is the exact marker value it wrote.
    Acquired { held: String },
    /// An earlier attempt sent it.
    AlreadySent,
    /// Another attempt is still sending and did not finish within our budget.
    InProgress,
    /// The store failed or was late.
    Unavailable(MarkerError),
}

/// Why the store could not be used for the marker.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the idempotency store did not answer within the call budget")]
    Late,
}

/// The marker protocol over one store.
pub struct Markers<'a> {
    pub store: &'a dyn KeyValueStore,
    pub clock: &'a dyn Clock,
    pub ttl: Duration,
    /// A `sending` marker older than this was abandoned.
    pub lease: Duration,
    /// How often a waiting attempt looks at another attempt's marker.
    pub poll: Duration,
}

impl Markers<'_> {
    fn now_ms(&self) -> u64 {
        self.clock
            .now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn sending_value(&self) -> String {
        format!(
            "{SENDING} {} {}",
            self.now_ms(),
            uuid::Uuid::new_v4().simple()
        )
    }

    async fn within<T>(
        deadline: Instant,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, MarkerError> {
        match tokio::time::timeout_at(deadline, call).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(MarkerError::Late),
        }
    }

    /// Claims `key` for sending, waiting for another attempt until `deadline`.
    pub async fn claim(&self, key: &str, deadline: Instant) -> Claim {
        loop {
            let mine = self.sending_value();
            match Self::within(
                deadline,
                self.store.put_if_absent(key, &mine, Some(self.ttl)),
            )
            .await
            {
                Ok(true) => return Claim::Acquired { held: mine },
                Ok(false) => {}
                Err(err) => return Claim::Unavailable(err),
            }
            let current = match Self::within(deadline, self.store.get(key)).await {
                Ok(Some(current)) => current,
                // Released or expired between our two calls: try to claim again.
                Ok(None) => continue,
                Err(err) => return Claim::Unavailable(err),
            };
            let abandoned = match Marker::read(&current) {
                Marker::Sent => return Claim::AlreadySent,
                Marker::Sending { since_ms } => {
                    self.now_ms().saturating_sub(since_ms) >= millis(self.lease)
                }
                Marker::Unknown => true,
            };
            if abandoned {
                let mine = self.sending_value();
                match Self::within(
                    deadline,
                    self.store
                        .compare_and_swap(key, &current, &mine, Some(self.ttl)),
                )
                .await
                {
                    Ok(true) => {
                        tracing::warn!("took over an abandoned one-time-code send");
                        return Claim::Acquired { held: mine };
                    }
                    Ok(false) => continue,
                    Err(err) => return Claim::Unavailable(err),
                }
            }
            if Instant::now() + self.poll >= deadline {
                return Claim::InProgress;
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Records that the code `held` by us was sent.
    pub async fn mark_sent(
        &self,
        key: &str,
        held: &str,
        deadline: Instant,
    ) -> Result<bool, MarkerError> {
        Self::within(
            deadline,
            self.store.compare_and_swap(key, held, SENT, Some(self.ttl)),
        )
        .await
    }

    /// Removes our claim so a retry can send.
    pub async fn release(
        &self,
        key: &str,
        held: &str,
        deadline: Instant,
    ) -> Result<bool, MarkerError> {
        Self::within(deadline, self.store.delete_if(key, held)).await
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_every_part_and_the_secret() {
        let key = marker_key(None, "t", "c", "12345678");
        assert!(key.starts_with(KEY_PREFIX));
        assert_eq!(key.len(), KEY_PREFIX.len() + 64);
        assert!(!key.contains("12345678"));
        assert_eq!(key, marker_key(None, "T", "C", "12345678"));
        assert_ne!(key, marker_key(None, "t", "c", "12345679"));
        assert_ne!(key, marker_key(None, "t", "c2", "12345678"));
        assert_ne!(key, marker_key(None, "t2", "c", "12345678"));
        // The separator keeps parts from sliding into each other.
        assert_ne!(
            marker_key(None, "t", "c1", "2"),
            marker_key(None, "t", "c", "12")
        );
        let secret = SecretValue::new("pepper");
        let keyed = marker_key(Some(&secret), "t", "c", "12345678");
        assert_ne!(key, keyed);
        assert_eq!(keyed, marker_key(Some(&secret), "t", "c", "12345678"));
    }

    #[test]
    fn marker_values_are_read_back() {
        assert_eq!(Marker::read("sent"), Marker::Sent);
        assert_eq!(
            Marker::read("sending 1700000000000 abc"),
            Marker::Sending {
                since_ms: 1_700_000_000_000
            }
        );
        assert_eq!(Marker::read("sending x"), Marker::Unknown);
        assert_eq!(Marker::read(""), Marker::Unknown);
    }
}
