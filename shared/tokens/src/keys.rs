//! Issuer signing keys: OIDC discovery, then the JWKS it names, cached.
//!
//! Entra publishes its token signing keys in a JWKS whose URL comes from the authority's OIDC
//! discovery document (`jwks_uri`); keys roll over, so a token may name a `kid` we have not seen
//! yet (docs/protocols/extension-callbacks.md (b) #3; docs/protocols/change-notifications.md (C)
//! #2: "keys are rotated daily: cache them, and refetch on an unknown kid"). Microsoft's own
//! extension library re-downloads both documents on every call; against a one-second callback
//! budget we cannot afford that, so this cache:
//!
//! - does no I/O until the first token arrives (cold starts stay cheap);
//! - serves lookups from an immutable snapshot behind a read lock (the hot path is one hash lookup);
//! - refetches when the keys are older than the TTL, or when a token names an unknown `kid` but at
//!   most once per `min_refresh_interval`;
//! - lets concurrent callers share one in-flight fetch;
//! - keeps the last good keys when the endpoint fails or returns garbage, and backs off;
//! - bounds response sizes and request times.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::TokenRejection;

/// Smallest RSA modulus we accept, in bytes (2048 bits), as Entra's keys are.
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// Tuning for [`KeySet`]. The defaults suit production; tests shorten the intervals.
#[derive(Debug, Clone)]
pub struct KeySetOptions {
    ttl: Duration,
    min_refresh_interval: Duration,
    failure_backoff: Duration,
    request_timeout: Duration,
    max_response_bytes: usize,
}

impl Default for KeySetOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(24 * 60 * 60),
            min_refresh_interval: Duration::from_secs(5 * 60),
            failure_backoff: Duration::from_secs(10),
            request_timeout: Duration::from_millis(750),
            max_response_bytes: 256 * 1024,
        }
    }
}

impl KeySetOptions {
    /// How long fetched keys are used before they are refetched (default 24 h, Entra's
    /// `Cache-Control: max-age=86400`).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Minimum time between refetches triggered by an unknown `kid` (default 5 min). Stops a
    /// stream of tokens with made-up `kid`s from turning us into a JWKS download loop.
    pub fn with_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// After a failed fetch, how long to keep serving cached keys (or refusing, if none) before
    /// trying again (default 10 s).
    pub fn with_failure_backoff(mut self, backoff: Duration) -> Self {
        self.failure_backoff = backoff;
        self
    }

    /// Timeout of each HTTP request (default 750 ms: a cold fetch is two requests and Entra gives
    /// an extension 1 s by default, 2 s at most).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Largest discovery or JWKS body accepted (default 256 KiB; Entra's JWKS is about 10 KiB).
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }
}

/// Why discovery or the JWKS could not be fetched. Logged by the cache; returned by
/// [`KeySet::warm`]. Never contains token data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeySetError {
    #[error("request to {url} failed: {source}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} returned more than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url} did not return the expected JSON document: {source}")]
    InvalidDocument {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("discovery document at {url} has no valid jwks_uri")]
    InvalidJwksUri { url: String },
    #[error("JWKS at {url} contains no usable RSA signing key")]
    NoUsableKeys { url: String },
}

/// A published key, prepared for verification.
#[derive(Debug)]
pub(crate) enum PublishedKey {
    /// An RSA signing key; `alg` is the JWK's `alg` member when it has one.
    Rsa {
        key: DecodingKey,
        alg: Option<Box<str>>,
    },
    /// A key we will never verify with (not RSA, `use` other than `sig`, too short, bad numbers).
    /// Kept so a token naming it is refused as a mismatch instead of triggering refetches.
    Unusable,
}

impl PublishedKey {
    fn is_usable(&self) -> bool {
        matches!(self, Self::Rsa { .. })
    }
}

type KeyMap = HashMap<String, Arc<PublishedKey>>;

/// What the cache knows at one moment; replaced wholesale after every fetch attempt.
struct Snapshot {
    keys: Arc<KeyMap>,
    /// Bumped by every fetch attempt; lets callers queued behind a fetch see that it happened.
    generation: u64,
    /// When keys were last fetched successfully.
    fetched_at: Option<Instant>,
    /// When the last attempt (successful or not) finished.
    attempted_at: Option<Instant>,
    last_attempt_failed: bool,
}

impl Snapshot {
    /// Whether the failure backoff allows a new attempt now.
    fn backoff_elapsed(&self, now: Instant, options: &KeySetOptions) -> bool {
        match self.attempted_at {
            Some(at) if self.last_attempt_failed => {
                now.saturating_duration_since(at) >= options.failure_backoff
            }
            _ => true,
        }
    }

    /// Fetched successfully less than a TTL ago.
    fn is_fresh(&self, now: Instant, options: &KeySetOptions) -> bool {
        self.fetched_at
            .is_some_and(|at| now.saturating_duration_since(at) < options.ttl)
    }

    /// Cold or older than the TTL, and allowed to try.
    fn needs_refresh(&self, now: Instant, options: &KeySetOptions) -> bool {
        !self.is_fresh(now, options) && self.backoff_elapsed(now, options)
    }

    /// An unknown `kid` may trigger a refetch only this often.
    fn may_refetch_for_unknown_kid(&self, now: Instant, options: &KeySetOptions) -> bool {
        let interval = if self.last_attempt_failed {
            options.failure_backoff
        } else {
            options.min_refresh_interval
        };
        self.attempted_at
            .is_none_or(|at| now.saturating_duration_since(at) >= interval)
    }
}

/// Where the JWKS lives; owned by whoever holds the refresh lock.
#[derive(Default)]
struct Discovery {
    jwks_uri: Option<Url>,
    discovered_at: Option<Instant>,
}

struct Inner {
    discovery_url: Url,
    client: reqwest::Client,
    options: KeySetOptions,
    current: RwLock<Arc<Snapshot>>,
    /// Single-flight: only the holder fetches; waiters re-check the generation afterwards.
    refresh: tokio::sync::Mutex<Discovery>,
}

/// The signing keys of one Entra authority, fetched through its OIDC discovery document.
///
/// Cheap to clone (shared cache). Build one per authority at startup and keep it for the life
/// of the process; construction does no I/O.
#[derive(Clone)]
pub struct KeySet {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.snapshot();
        f.debug_struct("KeySet")
            .field("discovery_url", &self.inner.discovery_url.as_str())
            .field("keys", &snapshot.keys.len())
            .field("generation", &snapshot.generation)
            .finish()
    }
}

impl KeySet {
    /// A lazy key set for the authority whose discovery document is at `discovery_url`, e.g.
    /// `https://{tenantName}.ciamlogin.com/{tenantId}/v2.0/.well-known/openid-configuration`.
    pub fn new(discovery_url: Url, client: reqwest::Client) -> Self {
        Self::with_options(discovery_url, client, KeySetOptions::default())
    }

    /// Like [`KeySet::new`] with explicit cache tuning.
    pub fn with_options(
        discovery_url: Url,
        client: reqwest::Client,
        options: KeySetOptions,
    ) -> Self {
        let empty = Snapshot {
            keys: Arc::new(HashMap::new()),
            generation: 0,
            fetched_at: None,
            attempted_at: None,
            last_attempt_failed: false,
        };
        Self {
            inner: Arc::new(Inner {
                discovery_url,
                client,
                options,
                current: RwLock::new(Arc::new(empty)),
                refresh: tokio::sync::Mutex::new(Discovery::default()),
            }),
        }
    }

    /// The discovery document URL this set was built for.
    pub fn discovery_url(&self) -> &Url {
        &self.inner.discovery_url
    }

    /// Fetches the keys now unless fresh ones are cached (ignoring the failure backoff: this is an
    /// explicit request); returns how many usable keys are cached.
    ///
    /// Optional: validation fetches lazily. Useful where a fetch during init is cheaper than one
    /// during the first request.
    pub async fn warm(&self) -> Result<usize, KeySetError> {
        let options = &self.inner.options;
        let snapshot = self.snapshot();
        if snapshot.is_fresh(Instant::now(), options) {
            return Ok(usable(&snapshot.keys));
        }
        let mut discovery = self.inner.refresh.lock().await;
        // Someone else may have fetched while we waited for the lock.
        let current = self.snapshot();
        if current.is_fresh(Instant::now(), options) {
            return Ok(usable(&current.keys));
        }
        match self.fetch(&mut discovery).await {
            Ok(keys) => {
                let count = usable(&keys);
                self.record_success(keys);
                Ok(count)
            }
            Err(error) => {
                self.record_failure(&error);
                Err(error)
            }
        }
    }

    /// Number of usable signing keys currently cached (no I/O).
    pub fn cached_key_count(&self) -> usize {
        usable(&self.snapshot().keys)
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The published key for `kid`, refreshing the cache when it is cold, stale, or lacks `kid`,
    /// with the generation of the key snapshot it came from (see [`KeySet::fresh_generation`]).
    pub(crate) async fn resolve(
        &self,
        kid: &str,
    ) -> Result<(Arc<PublishedKey>, u64), TokenRejection> {
        let options = &self.inner.options;
        let mut snapshot = self.snapshot();
        let mut refreshed = false;
        if snapshot.needs_refresh(Instant::now(), options) {
            self.refresh(snapshot.generation).await;
            snapshot = self.snapshot();
            refreshed = true;
        }
        if let Some(key) = snapshot.keys.get(kid) {
            return Ok((key.clone(), snapshot.generation));
        }
        if !refreshed && snapshot.may_refetch_for_unknown_kid(Instant::now(), options) {
            self.refresh(snapshot.generation).await;
            snapshot = self.snapshot();
            if let Some(key) = snapshot.keys.get(kid) {
                return Ok((key.clone(), snapshot.generation));
            }
        }
        if snapshot.keys.is_empty() {
            Err(TokenRejection::KeysUnavailable)
        } else {
            Err(TokenRejection::UnknownKey)
        }
    }

    /// The generation of the cached keys while validation would use them as they are (`None` when
    /// a refresh is due: cold, past the TTL, or a failed fetch whose backoff has elapsed). A
    /// verdict reached with keys of this generation holds while it is current: the verified-token
    /// cache relies on it, so a key rotation or a TTL refresh sends every token through full
    /// validation again.
    pub(crate) fn fresh_generation(&self) -> Option<u64> {
        let current = self
            .inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        (!current.needs_refresh(Instant::now(), &self.inner.options)).then_some(current.generation)
    }

    /// Fetches unless another caller already did since `observed_generation`.
    async fn refresh(&self, observed_generation: u64) {
        let mut discovery = self.inner.refresh.lock().await;
        if self.snapshot().generation != observed_generation {
            return;
        }
        match self.fetch(&mut discovery).await {
            Ok(keys) => self.record_success(keys),
            Err(error) => self.record_failure(&error),
        }
    }

    /// Replaces the cached keys with a freshly fetched set.
    fn record_success(&self, keys: KeyMap) {
        tracing::debug!(
            discovery_url = %self.inner.discovery_url,
            keys = keys.len(),
            "signing keys refreshed"
        );
        let now = Instant::now();
        let mut current = self
            .inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *current = Arc::new(Snapshot {
            keys: Arc::new(keys),
            generation: current.generation + 1,
            fetched_at: Some(now),
            attempted_at: Some(now),
            last_attempt_failed: false,
        });
    }

    /// Keeps the last good keys after a failed attempt and starts the failure backoff.
    fn record_failure(&self, error: &KeySetError) {
        let now = Instant::now();
        let mut current = self
            .inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        tracing::warn!(
            discovery_url = %self.inner.discovery_url,
            cached_keys = current.keys.len(),
            error = %error,
            "signing key refresh failed; keeping cached keys"
        );
        *current = Arc::new(Snapshot {
            keys: current.keys.clone(),
            generation: current.generation + 1,
            fetched_at: current.fetched_at,
            attempted_at: Some(now),
            last_attempt_failed: true,
        });
    }

    /// One attempt: discovery (when the JWKS location is unknown or stale), then the JWKS.
    async fn fetch(&self, discovery: &mut Discovery) -> Result<KeyMap, KeySetError> {
        let now = Instant::now();
        let jwks_uri = match (&discovery.jwks_uri, discovery.discovered_at) {
            (Some(uri), Some(at)) if now.saturating_duration_since(at) < self.inner.options.ttl => {
                uri.clone()
            }
            _ => {
                let uri = self.discover().await?;
                discovery.jwks_uri = Some(uri.clone());
                discovery.discovered_at = Some(now);
                uri
            }
        };
        match self.fetch_jwks(&jwks_uri).await {
            Ok(keys) => Ok(keys),
            Err(error) => {
                // The JWKS may have moved: look it up again next time.
                discovery.discovered_at = None;
                Err(error)
            }
        }
    }

    async fn discover(&self) -> Result<Url, KeySetError> {
        #[derive(Deserialize)]
        struct DiscoveryDocument {
            jwks_uri: Option<String>,
        }
        let url = &self.inner.discovery_url;
        let document: DiscoveryDocument = self.get_json(url).await?;
        document
            .jwks_uri
            .and_then(|uri| Url::parse(&uri).ok())
            .filter(|uri| matches!(uri.scheme(), "https" | "http"))
            .ok_or_else(|| KeySetError::InvalidJwksUri {
                url: url.to_string(),
            })
    }

    async fn fetch_jwks(&self, url: &Url) -> Result<KeyMap, KeySetError> {
        #[derive(Deserialize)]
        struct JwksDocument {
            keys: Vec<serde_json::Value>,
        }
        let document: JwksDocument = self.get_json(url).await?;
        let mut keys = KeyMap::with_capacity(document.keys.len());
        for jwk in &document.keys {
            let Some((kid, key)) = prepare(jwk) else {
                continue;
            };
            match keys.entry(kid) {
                Entry::Vacant(slot) => {
                    slot.insert(Arc::new(key));
                }
                // Two keys under one kid: a usable RSA key wins over an unusable one.
                Entry::Occupied(mut slot) => {
                    if !slot.get().is_usable() && key.is_usable() {
                        slot.insert(Arc::new(key));
                    }
                }
            }
        }
        if usable(&keys) == 0 {
            return Err(KeySetError::NoUsableKeys {
                url: url.to_string(),
            });
        }
        Ok(keys)
    }

    /// GET with timeout and a body size cap, parsed as JSON.
    async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, KeySetError> {
        let options = &self.inner.options;
        let request_error = |source| KeySetError::Request {
            url: url.to_string(),
            source,
        };
        let mut response = self
            .inner
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(options.request_timeout)
            .send()
            .await
            .map_err(request_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(KeySetError::Status {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        let limit = options.max_response_bytes;
        let too_large = || KeySetError::TooLarge {
            url: url.to_string(),
            limit,
        };
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_error)? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|source| KeySetError::InvalidDocument {
            url: url.to_string(),
            source,
        })
    }
}

fn usable(keys: &KeyMap) -> usize {
    keys.values().filter(|key| key.is_usable()).count()
}

/// Turns one JWK into a prepared key; `None` when it has no `kid` (nothing could select it).
fn prepare(jwk: &serde_json::Value) -> Option<(String, PublishedKey)> {
    #[derive(Deserialize)]
    struct Jwk<'a> {
        #[serde(borrow)]
        kid: Option<&'a str>,
        kty: Option<&'a str>,
        #[serde(rename = "use")]
        usage: Option<&'a str>,
        alg: Option<&'a str>,
        n: Option<&'a str>,
        e: Option<&'a str>,
    }
    let jwk = Jwk::deserialize(jwk).ok()?;
    let kid = jwk.kid?.to_owned();
    let rsa_signing = jwk.kty == Some("RSA") && jwk.usage.is_none_or(|usage| usage == "sig");
    let key = match (rsa_signing, jwk.n, jwk.e) {
        (true, Some(n), Some(e)) => rsa_key(n, e)
            .map(|key| PublishedKey::Rsa {
                key,
                alg: jwk.alg.map(Box::from),
            })
            .unwrap_or(PublishedKey::Unusable),
        _ => PublishedKey::Unusable,
    };
    Some((kid, key))
}

/// Builds the verification key from base64url `n` and `e`, rejecting keys under 2048 bits.
fn rsa_key(n: &str, e: &str) -> Option<DecodingKey> {
    let n = URL_SAFE_NO_PAD.decode(n).ok()?;
    let e = URL_SAFE_NO_PAD.decode(e).ok()?;
    // aws-lc wants big-endian integers without leading zeros; some JWKS publish a sign byte.
    let n = strip_leading_zeros(&n);
    let e = strip_leading_zeros(&e);
    if n.len() < MIN_RSA_MODULUS_BYTES || e.is_empty() {
        return None;
    }
    Some(DecodingKey::from_rsa_raw_components(n, e))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn modulus(bytes: usize) -> String {
        let mut n = vec![0xc3u8; bytes];
        n[0] = 0xd1;
        URL_SAFE_NO_PAD.encode(n)
    }

    #[test]
    fn prepare_accepts_rsa_signing_keys_only() {
        let rsa = json!({"kid": "a", "kty": "RSA", "use": "sig", "n": modulus(256), "e": "AQAB"});
        let (kid, key) = prepare(&rsa).unwrap();
        assert_eq!(kid, "a");
        assert!(key.is_usable());

        let ec = json!({"kid": "b", "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"});
        assert!(!prepare(&ec).unwrap().1.is_usable());

        let encryption =
            json!({"kid": "c", "kty": "RSA", "use": "enc", "n": modulus(256), "e": "AQAB"});
        assert!(!prepare(&encryption).unwrap().1.is_usable());

        let short = json!({"kid": "d", "kty": "RSA", "n": modulus(128), "e": "AQAB"});
        assert!(!prepare(&short).unwrap().1.is_usable());

        let bad_base64 = json!({"kid": "e", "kty": "RSA", "n": "!!!", "e": "AQAB"});
        assert!(!prepare(&bad_base64).unwrap().1.is_usable());

        assert!(prepare(&json!({"kty": "RSA", "n": modulus(256), "e": "AQAB"})).is_none());
        assert!(prepare(&json!("not an object")).is_none());
    }

    #[test]
    fn leading_zero_of_modulus_is_tolerated() {
        let mut n = vec![0u8];
        n.extend(std::iter::repeat_n(0xc3u8, 256));
        let jwk = json!({"kid": "z", "kty": "RSA", "n": URL_SAFE_NO_PAD.encode(n), "e": "AQAB"});
        assert!(prepare(&jwk).unwrap().1.is_usable());
    }

    #[test]
    fn jwk_alg_is_kept_for_the_validator() {
        let jwk = json!({"kid": "a", "kty": "RSA", "alg": "PS256", "n": modulus(256), "e": "AQAB"});
        match prepare(&jwk).unwrap().1 {
            PublishedKey::Rsa { alg, .. } => assert_eq!(alg.as_deref(), Some("PS256")),
            PublishedKey::Unusable => panic!("RSA key must be usable"),
        }
    }
}
