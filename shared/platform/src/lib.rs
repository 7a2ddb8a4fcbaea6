//! The glue every entra-hooks function and the local host share: typed configuration, secrets,
//! logging, and the HTTP error shape.
//!
//! - [`config`]: `entra-hooks.toml` plus `ENTRA_HOOKS_*` overrides, validated at start with
//!   messages that say what to fix and where.
//! - [`secrets`]: the `SecretSource` port with AWS Secrets Manager (cached), environment and file
//!   adapters, chosen per reference by the `SecretResolver`.
//! - [`telemetry`]: Lambda-aware tracing set-up and the per-request span middleware.
//! - [`https`]: outbound HTTPS clients and the roots they trust (bundled, or the system's).
//! - [`http_error`]: one `HttpError` for every function, a JSON body extractor and the body limit.
//! - [`constant_time`]: secret comparison without timing leaks.
//! - [`queue`]: the `MessageQueue` port with SQS and in-memory adapters, for work handed from a
//!   receiver to a worker.
//! - `testing` (feature `test-support`): a real moto server for AWS adapter tests.
//!
//! See docs/architecture.md ("Ports and adapters", "Cold start and hot path").

pub mod config;
pub mod constant_time;
pub mod http_error;
pub mod https;
pub mod mailer;
pub mod queue;
pub mod rsa_key;
pub mod secrets;
pub mod store;
pub mod telemetry;

#[cfg(feature = "test-support")]
pub mod testing;

pub use config::{CommonConfig, ConfigError, Validate, load_config};
pub use constant_time::secure_eq;
pub use http_error::{HttpError, JsonBody, body_limit};
pub use mailer::{MailError, Mailer, MailerConfig, MessageId, OutgoingEmail};
pub use queue::{MessageQueue, OutgoingMessage, QueueConfig, QueueError};
pub use secrets::{SecretError, SecretRef, SecretResolver, SecretSource, SecretValue};
pub use store::{KeyValueStore, StoreConfig, StoreError};
pub use telemetry::{init_tracing, request_context};
