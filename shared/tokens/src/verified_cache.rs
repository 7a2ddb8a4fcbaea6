//! Tokens that already passed every check, so a token Entra reuses is not verified again.
//!
//! Entra requests one access token for a custom authentication extension and sends it with every
//! callout until it expires, so almost every callout repeats the RSA verification and claim checks
//! of the one before. Those checks are deterministic for a given token, policy and signing key, so
//! their verdict can be remembered, under three conditions that keep the cache from admitting
//! anything full validation would refuse:
//!
//! - the key is the whole token (header, claims and signature compared byte for byte), never a
//!   part of it or a digest an attacker could aim at;
//! - an entry counts only while the signing keys are the generation it was verified with and need
//!   no refresh (see `KeySet::fresh_generation`): a key rotation or a TTL refresh sends every
//!   token through full validation again;
//! - an entry is never used at or past the token's `exp` (nor before its `nbf`, were the clock to
//!   step back); full validation then decides, with its clock-skew allowance.
//!
//! Only admitted tokens are stored, so an attacker cannot fill the cache; it is bounded all the
//! same ([`crate::TokenValidator::with_verified_cache`]).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::ValidatedCaller;

/// Entries kept unless configured: Entra holds a handful of tokens per extension at a time.
pub const DEFAULT_VERIFIED_CACHE_ENTRIES: usize = 256;

struct Entry {
    caller: ValidatedCaller,
    key_generation: u64,
    /// `nbf` in seconds since the epoch (0 when absent).
    not_before: u64,
    /// `exp` in seconds since the epoch.
    expires: u64,
}

impl Entry {
    fn usable(&self, now: u64, key_generation: u64) -> bool {
        self.key_generation == key_generation && self.not_before <= now && now < self.expires
    }
}

/// A bounded map from a whole token to the caller it was validated as.
pub(crate) struct VerifiedCache {
    capacity: usize,
    entries: Mutex<HashMap<Box<str>, Entry>>,
}

impl VerifiedCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::with_capacity(capacity.min(1024))),
        }
    }

    /// The caller `token` was admitted as, if that verdict still holds for keys of
    /// `key_generation` at this moment. A stale entry is dropped.
    pub(crate) fn get(&self, token: &str, key_generation: u64) -> Option<ValidatedCaller> {
        let now = unix_now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(token)?;
        if entry.usable(now, key_generation) {
            return Some(entry.caller.clone());
        }
        entries.remove(token);
        None
    }

    /// Remembers that `token` was admitted as `caller` with keys of `key_generation`.
    pub(crate) fn insert(&self, token: &str, caller: &ValidatedCaller, key_generation: u64) {
        let Some(expires) = caller
            .expires_at()
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|since| since.as_secs())
        else {
            return;
        };
        let not_before = caller
            .claims()
            .get("nbf")
            .and_then(|nbf| {
                nbf.as_u64()
                    .or_else(|| nbf.as_f64().map(|f| f.ceil() as u64))
            })
            .unwrap_or(0);
        let now = unix_now();
        if self.capacity == 0 || now >= expires {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(token) {
            entries.retain(|_, entry| entry.usable(now, key_generation));
            if entries.len() >= self.capacity
                && let Some(evicted) = entries.keys().next().cloned()
            {
                entries.remove(&evicted);
            }
        }
        entries.insert(
            token.into(),
            Entry {
                caller: caller.clone(),
                key_generation,
                not_before,
                expires,
            },
        );
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
