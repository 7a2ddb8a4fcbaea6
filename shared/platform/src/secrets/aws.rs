//! AWS Secrets Manager adapter with an in-process cache.
//!
//! Contract: `GetSecretValue` (awsJson1.1, `secretsmanager.GetSecretValue`). AWS recommends caching
//! secret values client-side; docs/protocols/aws-lambda-platform.md section 3 weighs the
//! `aws_secretsmanager_caching` crate against a hand-rolled cache and recommends the latter for a
//! Lambda reading one to three secrets. This is that cache:
//! - a value is reused for a TTL (default 5 minutes), so a warm Lambda does not call the API per request;
//! - concurrent callers of one secret share a single fetch (the others wait for its result);
//! - when a refresh fails transiently (network, throttling, 5xx) and a value is cached, the cached
//!   value is served and the next refresh is tried after a short back-off, so a Secrets Manager
//!   blip does not take the function down;
//! - [`SecretSource::invalidate`] forces a refresh, for "the downstream said 401, the secret may
//!   have been rotated".

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use zeroize::Zeroizing;

use super::{SecretError, SecretFuture, SecretSource, SecretValue};

/// How long a fetched secret is reused before it is read again.
pub const DEFAULT_SECRET_TTL: Duration = Duration::from_secs(300);
/// After a transient refresh failure, how long the cached value is served before trying again.
pub const DEFAULT_STALE_RETRY: Duration = Duration::from_secs(30);

const STORE: &str = "AWS Secrets Manager";

/// Reads `aws-sm:` secrets. `name` is `secret-id` or `secret-id#json_key` (secret ids, names and
/// ARNs alike, cannot contain `#`).
///
/// Build one per process at init and share it (it is cheap to clone an `Arc` of it).
pub struct AwsSecretsManager {
    client: aws_sdk_secretsmanager::Client,
    ttl: Duration,
    stale_retry: Duration,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

/// Cache state of one secret id. The async mutex makes concurrent callers share one fetch.
#[derive(Default)]
struct Slot {
    cached: tokio::sync::Mutex<Option<Cached>>,
    /// Bumped by `invalidate`; a cached value from an older generation is not fresh.
    generation: AtomicU64,
}

struct Cached {
    value: Zeroizing<String>,
    fresh_until: Instant,
    generation: u64,
}

impl std::fmt::Debug for AwsSecretsManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsSecretsManager")
            .field("ttl", &self.ttl)
            .field("stale_retry", &self.stale_retry)
            .finish_non_exhaustive()
    }
}

impl AwsSecretsManager {
    /// An adapter over `client` with the default TTL and stale-retry interval.
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self {
            client,
            ttl: DEFAULT_SECRET_TTL,
            stale_retry: DEFAULT_STALE_RETRY,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// An adapter with a client built from `config` (the function's shared `SdkConfig`).
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(aws_sdk_secretsmanager::Client::new(config))
    }

    /// Reuse fetched values for `ttl` (zero: read the store on every call).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// After a transient refresh failure, serve the cached value for `interval` before retrying.
    pub fn with_stale_retry(mut self, interval: Duration) -> Self {
        self.stale_retry = interval;
        self
    }

    /// Read `secret_id`, optionally one string key of its JSON object, through the cache.
    pub async fn get_secret(
        &self,
        secret_id: &str,
        json_key: Option<&str>,
    ) -> Result<SecretValue, SecretError> {
        let slot = self.slot(secret_id);
        let mut cached = slot.cached.lock().await;
        let generation = slot.generation.load(Ordering::Acquire);
        let now = Instant::now();
        if let Some(entry) = cached.as_ref()
            && entry.generation == generation
            && now < entry.fresh_until
        {
            return extract(secret_id, &entry.value, json_key);
        }

        match self.fetch(secret_id).await {
            Ok(value) => {
                let entry = cached.insert(Cached {
                    value,
                    fresh_until: Instant::now() + self.ttl,
                    generation,
                });
                extract(secret_id, &entry.value, json_key)
            }
            Err(err) if err.is_transient() => match cached.as_mut() {
                Some(entry) => {
                    tracing::warn!(
                        secret = secret_id,
                        error = %err,
                        retry_in_secs = self.stale_retry.as_secs(),
                        "serving the cached secret because refreshing it failed"
                    );
                    entry.fresh_until = Instant::now() + self.stale_retry;
                    entry.generation = generation;
                    extract(secret_id, &entry.value, json_key)
                }
                None => Err(err),
            },
            Err(err) => Err(err),
        }
    }

    fn slot(&self, secret_id: &str) -> Arc<Slot> {
        // A poisoned map only means another thread panicked while inserting; the map is still valid.
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.entry(secret_id.to_owned()).or_default().clone()
    }

    async fn fetch(&self, secret_id: &str) -> Result<Zeroizing<String>, SecretError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|err| classify(secret_id, err))?;
        match output.secret_string {
            Some(value) => Ok(Zeroizing::new(value)),
            None => Err(SecretError::NotText {
                name: secret_id.to_owned(),
            }),
        }
    }
}

impl SecretSource for AwsSecretsManager {
    fn get<'a>(&'a self, name: &'a str) -> SecretFuture<'a> {
        Box::pin(async move {
            match name.split_once('#') {
                Some((secret_id, key)) => self.get_secret(secret_id, Some(key)).await,
                None => self.get_secret(name, None).await,
            }
        })
    }

    fn invalidate(&self, name: &str) {
        let secret_id = name.split_once('#').map_or(name, |(id, _)| id);
        let slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(slot) = slots.get(secret_id) {
            slot.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// The whole secret string, or the string under `json_key` of the JSON object it holds.
fn extract(
    secret_id: &str,
    value: &str,
    json_key: Option<&str>,
) -> Result<SecretValue, SecretError> {
    let Some(key) = json_key else {
        return Ok(SecretValue::new(value));
    };
    let mut object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(value)
        .map_err(|_| SecretError::NotJson {
            name: secret_id.to_owned(),
            key: key.to_owned(),
        })?;
    match object.remove(key) {
        Some(serde_json::Value::String(text)) => Ok(SecretValue::new(text)),
        _ => Err(SecretError::MissingKey {
            name: secret_id.to_owned(),
            key: key.to_owned(),
        }),
    }
}

/// Sort SDK failures into the cases callers act on differently.
fn classify(secret_id: &str, err: SdkError<GetSecretValueError>) -> SecretError {
    let name = secret_id.to_owned();
    let message = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::ServiceError(context) => {
            let status = context.raw().status();
            let service_error = context.err();
            match service_error {
                GetSecretValueError::ResourceNotFoundException(_) => {
                    SecretError::NotFound { name, store: STORE }
                }
                GetSecretValueError::InternalServiceError(_) => {
                    SecretError::Unavailable { name, message }
                }
                other => match other.code() {
                    Some("AccessDeniedException") => SecretError::AccessDenied { name, message },
                    Some("ThrottlingException" | "RequestLimitExceeded" | "ServiceUnavailable") => {
                        SecretError::Unavailable { name, message }
                    }
                    _ if status.is_server_error() || status.as_u16() == 429 => {
                        SecretError::Unavailable { name, message }
                    }
                    _ => SecretError::Failed { name, message },
                },
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            SecretError::Unavailable { name, message }
        }
        _ => SecretError::Failed { name, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keys_are_extracted_as_strings_only() {
        let json = r#"{"client_secret":"s3cr3t","port":5432}"#;
        assert_eq!(
            extract("graph", json, Some("client_secret"))
                .unwrap()
                .expose(),
            "s3cr3t"
        );
        assert_eq!(extract("graph", json, None).unwrap().expose(), json);
        let missing = extract("graph", json, Some("nope")).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "secret graph has no string value under key nope; add it or fix the #key in the reference"
        );
        assert!(matches!(
            extract("graph", json, Some("port")),
            Err(SecretError::MissingKey { .. })
        ));
        let not_json = extract("graph", "plain-text", Some("k")).unwrap_err();
        assert!(matches!(not_json, SecretError::NotJson { .. }));
        assert!(!not_json.to_string().contains("plain-text"));
    }
}
