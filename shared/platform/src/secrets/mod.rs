//! Secrets: where they live is configuration, how they are read is a port with several adapters.
//!
//! A [`SecretRef`] in the config says where a secret lives (`aws-sm:entra-hooks/graph#client_secret`,
//! `env:GRAPH_SECRET`, `file:/run/secrets/graph`, and for the local host only `literal:...`); the
//! [`SecretResolver`] dispatches it to the matching [`SecretSource`]: [`AwsSecretsManager`] in
//! Lambda (cached with a TTL, as AWS recommends for `GetSecretValue`, see
//! docs/protocols/aws-lambda-platform.md section 3), [`EnvSecrets`] and [`FileSecrets`] everywhere.
//!
//! A resolved secret is a [`SecretValue`]: it prints as `[redacted]`, is wiped from memory when
//! dropped and is only readable through [`SecretValue::expose`], so it cannot end up in a log line
//! by accident.

mod aws;
mod local;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

pub use aws::{AwsSecretsManager, DEFAULT_SECRET_TTL, DEFAULT_STALE_RETRY};
pub use local::{EnvSecrets, FileSecrets};

/// A secret's value. Never printed, wiped on drop, read only through [`SecretValue::expose`].
#[derive(Clone)]
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    /// Wrap a secret. The caller's copy is moved in, not duplicated.
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(Zeroizing::new(value.into()))
    }

    /// The secret itself; call it only where the secret is used (building a request, comparing).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Constant-time, so comparing a presented secret with ours leaks nothing through timing.
impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        crate::constant_time::secure_eq(self.expose().as_bytes(), other.expose().as_bytes())
    }
}

impl Eq for SecretValue {}

impl From<String> for SecretValue {
    fn from(value: String) -> Self {
        SecretValue::new(value)
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where a secret lives, as written in config.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// `aws-sm:<secret-id>[#json_key]`: an AWS Secrets Manager secret (name or ARN); with `#key`
    /// the secret string is a JSON object and the value is that key's string.
    AwsSecretsManager {
        secret_id: String,
        json_key: Option<String>,
    },
    /// `env:<VAR>`: an environment variable.
    Env { var: String },
    /// `file:<path>`: a file's contents (one trailing newline removed).
    File { path: PathBuf },
    /// `literal:<value>`: the value itself; refused unless the resolver allows literals.
    Literal(SecretValue),
}

impl SecretRef {
    /// The scheme as written in config (`aws-sm`, `env`, `file`, `literal`).
    pub fn scheme(&self) -> &'static str {
        match self {
            SecretRef::AwsSecretsManager { .. } => "aws-sm",
            SecretRef::Env { .. } => "env",
            SecretRef::File { .. } => "file",
            SecretRef::Literal(_) => "literal",
        }
    }

    /// The name a [`SecretSource`] is asked for: `secret-id#key` for Secrets Manager, the variable
    /// name, or the path. `None` for literals, which need no source.
    pub fn source_name(&self) -> Option<String> {
        match self {
            SecretRef::AwsSecretsManager {
                secret_id,
                json_key: Some(key),
            } => Some(format!("{secret_id}#{key}")),
            SecretRef::AwsSecretsManager {
                secret_id,
                json_key: None,
            } => Some(secret_id.clone()),
            SecretRef::Env { var } => Some(var.clone()),
            SecretRef::File { path } => Some(path.display().to_string()),
            SecretRef::Literal(_) => None,
        }
    }
}

/// Shown for literals instead of the value.
impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.scheme(), self.source_name()) {
            (scheme, Some(name)) => write!(f, "{scheme}:{name}"),
            (scheme, None) => write!(f, "{scheme}:[redacted]"),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretRef({self})")
    }
}

/// Why a string is not a secret reference. The string itself is never echoed: a secret pasted
/// where a reference belongs must not be printed back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "must be a secret reference: aws-sm:<secret-id>[#json_key], env:<VAR> or file:<path>{detail} (the value is not shown as it may be a secret)"
)]
pub struct InvalidSecretRef {
    detail: &'static str,
}

impl FromStr for SecretRef {
    type Err = InvalidSecretRef;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |detail| InvalidSecretRef { detail };
        let (scheme, rest) = s.split_once(':').ok_or(invalid(""))?;
        match scheme {
            "aws-sm" => {
                let (secret_id, json_key) = match rest.split_once('#') {
                    Some((id, key)) => (id, Some(key)),
                    None => (rest, None),
                };
                if secret_id.is_empty() || secret_id.chars().any(char::is_whitespace) {
                    return Err(invalid("; the secret id is empty or contains spaces"));
                }
                if json_key.is_some_and(str::is_empty) {
                    return Err(invalid("; the #json_key after the secret id is empty"));
                }
                Ok(SecretRef::AwsSecretsManager {
                    secret_id: secret_id.to_owned(),
                    json_key: json_key.map(str::to_owned),
                })
            }
            "env" => {
                let valid = !rest.is_empty()
                    && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if valid {
                    Ok(SecretRef::Env {
                        var: rest.to_owned(),
                    })
                } else {
                    Err(invalid(
                        "; env: needs a variable name of letters, digits and _",
                    ))
                }
            }
            "file" if !rest.is_empty() => Ok(SecretRef::File {
                path: PathBuf::from(rest),
            }),
            "file" => Err(invalid("; file: needs a path")),
            "literal" if !rest.is_empty() => Ok(SecretRef::Literal(SecretValue::new(rest))),
            "literal" => Err(invalid("; literal: is empty")),
            _ => Err(invalid("")),
        }
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Zeroizing::new(String::deserialize(deserializer)?);
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a secret could not be read. Messages name the secret and the fix, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The store has no such secret.
    #[error("secret {name} was not found in {store}; create it or fix the reference")]
    NotFound { name: String, store: &'static str },
    /// Caller's role may not read the secret.
    #[error(
        "access to secret {name} was denied ({message}); grant secretsmanager:GetSecretValue on it to the function's role"
    )]
    AccessDenied { name: String, message: String },
    /// The store could not be reached or failed on its side; retrying later may work.
    #[error("secret {name} is temporarily unavailable: {message}")]
    Unavailable { name: String, message: String },
    /// The store refused the request for another reason (bad id, decryption failure, ...).
    #[error("secret {name} could not be read: {message}")]
    Failed { name: String, message: String },
    /// The secret holds binary data; we only use text secrets.
    #[error("secret {name} has no string value; store it as a SecretString")]
    NotText { name: String },
    /// `#key` was asked for but the secret is not a JSON object.
    #[error(
        "secret {name} is not a JSON object, so #{key} cannot be read from it; store JSON or drop #{key}"
    )]
    NotJson { name: String, key: String },
    /// The JSON object has no such key, or its value is not a string.
    #[error(
        "secret {name} has no string value under key {key}; add it or fix the #key in the reference"
    )]
    MissingKey { name: String, key: String },
    /// `env:` points at a variable that is not set (or is not UTF-8).
    #[error(
        "environment variable {var} is not set (or not UTF-8); set it or fix the env: reference"
    )]
    EnvNotSet { var: String },
    /// `file:` points at a file that cannot be read.
    #[error("could not read secret file {path}: {source}; create it or fix the file: reference")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A `literal:` reference outside the local host.
    #[error(
        "literal: secrets are only allowed in the local host; use aws-sm:, env: or file: instead"
    )]
    LiteralNotAllowed,
    /// The reference's scheme has no adapter in this resolver.
    #[error(
        "no {scheme} secret source is configured in this process; configure one or use env: or file:"
    )]
    NoSource { scheme: &'static str },
}

impl SecretError {
    /// True when the failure may go away by itself (network, throttling, a 5xx), so a caller may
    /// keep using a value it already has and retry later.
    pub fn is_transient(&self) -> bool {
        matches!(self, SecretError::Unavailable { .. })
    }
}

/// The future a [`SecretSource`] returns: boxed so the trait can be used as `Arc<dyn SecretSource>`.
pub type SecretFuture<'a> =
    Pin<Box<dyn Future<Output = Result<SecretValue, SecretError>> + Send + 'a>>;

/// Port for a place secrets are read from. Adapters decide what `name` means (see each one).
///
/// Object-safe so the resolver can choose adapters at run time from config.
pub trait SecretSource: Send + Sync {
    /// Read the secret called `name`.
    fn get<'a>(&'a self, name: &'a str) -> SecretFuture<'a>;

    /// Forget any cached copy of `name`, so the next `get` reads the store again. Call it when a
    /// downstream service rejects the secret (it may have been rotated). No-op for uncached sources.
    fn invalidate(&self, name: &str) {
        let _ = name;
    }
}

/// Resolves [`SecretRef`]s by scheme: the one place that knows which adapter serves which reference.
#[derive(Clone)]
pub struct SecretResolver {
    aws: Option<Arc<dyn SecretSource>>,
    env: Arc<dyn SecretSource>,
    file: Arc<dyn SecretSource>,
    allow_literal: bool,
}

impl Default for SecretResolver {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SecretResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretResolver")
            .field("aws_secrets_manager", &self.aws.is_some())
            .field("allow_literal", &self.allow_literal)
            .finish()
    }
}

impl SecretResolver {
    /// A resolver for `env:` and `file:` references; add Secrets Manager with
    /// [`SecretResolver::with_aws_secrets_manager`]. Literals are refused.
    pub fn new() -> Self {
        Self {
            aws: None,
            env: Arc::new(EnvSecrets::new()),
            file: Arc::new(FileSecrets::new()),
            allow_literal: false,
        }
    }

    /// Serve `aws-sm:` references from `source` (normally an [`AwsSecretsManager`]).
    pub fn with_aws_secrets_manager(mut self, source: Arc<dyn SecretSource>) -> Self {
        self.aws = Some(source);
        self
    }

    /// Serve `env:` references from `source` instead of the process environment.
    pub fn with_env_source(mut self, source: Arc<dyn SecretSource>) -> Self {
        self.env = source;
        self
    }

    /// Accept `literal:` references. Only the local host should: a literal in a deployed config
    /// is a secret committed to a file.
    pub fn allow_literal(mut self, allow: bool) -> Self {
        self.allow_literal = allow;
        self
    }

    /// Read the secret `reference` points at.
    pub async fn resolve(&self, reference: &SecretRef) -> Result<SecretValue, SecretError> {
        match reference {
            SecretRef::Literal(value) if self.allow_literal => Ok(value.clone()),
            SecretRef::Literal(_) => Err(SecretError::LiteralNotAllowed),
            _ => {
                let (source, name) = self.route(reference)?;
                source.get(&name).await
            }
        }
    }

    /// Drop any cached copy of the secret `reference` points at (see [`SecretSource::invalidate`]).
    pub fn invalidate(&self, reference: &SecretRef) {
        if let Ok((source, name)) = self.route(reference) {
            source.invalidate(&name);
        }
    }

    fn route(
        &self,
        reference: &SecretRef,
    ) -> Result<(&Arc<dyn SecretSource>, String), SecretError> {
        let source = match reference {
            SecretRef::AwsSecretsManager { .. } => self
                .aws
                .as_ref()
                .ok_or(SecretError::NoSource { scheme: "aws-sm" })?,
            SecretRef::Env { .. } => &self.env,
            SecretRef::File { .. } => &self.file,
            SecretRef::Literal(_) => return Err(SecretError::NoSource { scheme: "literal" }),
        };
        let name = reference
            .source_name()
            .ok_or(SecretError::NoSource { scheme: "literal" })?;
        Ok((source, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_never_print() {
        let value = SecretValue::new("hunter2");
        assert_eq!(format!("{value}"), "[redacted]");
        assert_eq!(format!("{value:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(value.clone())), "Some([redacted])");
        assert_eq!(value.expose(), "hunter2");
    }

    #[test]
    fn references_parse_by_scheme() {
        assert_eq!(
            "aws-sm:entra-hooks/graph#client_secret"
                .parse::<SecretRef>()
                .unwrap(),
            SecretRef::AwsSecretsManager {
                secret_id: "entra-hooks/graph".into(),
                json_key: Some("client_secret".into())
            }
        );
        assert_eq!(
            "aws-sm:arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf"
                .parse::<SecretRef>()
                .unwrap(),
            SecretRef::AwsSecretsManager {
                secret_id: "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf".into(),
                json_key: None
            }
        );
        assert_eq!(
            "env:GRAPH_SECRET".parse::<SecretRef>().unwrap(),
            SecretRef::Env {
                var: "GRAPH_SECRET".into()
            }
        );
        assert_eq!(
            "file:/run/secrets/graph".parse::<SecretRef>().unwrap(),
            SecretRef::File {
                path: "/run/secrets/graph".into()
            }
        );
        assert!(matches!(
            "literal:abc".parse::<SecretRef>().unwrap(),
            SecretRef::Literal(v) if v.expose() == "abc"
        ));
    }

    #[test]
    fn bad_references_are_rejected_without_echoing_them() {
        for bad in [
            "s3cr3t-pasted-by-mistake",
            "aws-sm:",
            "aws-sm:x#",
            "env:",
            "env:A-B",
            "file:",
            "literal:",
            "vault:s3cr3t-pasted-by-mistake",
        ] {
            let err = bad.parse::<SecretRef>().unwrap_err().to_string();
            assert!(
                err.starts_with("must be a secret reference"),
                "{bad}: {err}"
            );
            assert!(!err.contains("s3cr3t"), "{err}");
        }
    }

    #[test]
    fn literal_references_display_redacted() {
        let reference: SecretRef = "literal:hunter2".parse().unwrap();
        assert_eq!(reference.to_string(), "literal:[redacted]");
        assert!(!format!("{reference:?}").contains("hunter2"));
        let aws: SecretRef = "aws-sm:a/b#k".parse().unwrap();
        assert_eq!(aws.to_string(), "aws-sm:a/b#k");
    }

    #[tokio::test]
    async fn literals_need_explicit_permission() {
        let reference: SecretRef = "literal:local-only".parse().unwrap();
        let err = SecretResolver::new().resolve(&reference).await.unwrap_err();
        assert!(matches!(err, SecretError::LiteralNotAllowed));
        let value = SecretResolver::new()
            .allow_literal(true)
            .resolve(&reference)
            .await
            .unwrap();
        assert_eq!(value.expose(), "local-only");
    }

    #[tokio::test]
    async fn aws_references_without_an_adapter_say_so() {
        let reference: SecretRef = "aws-sm:x".parse().unwrap();
        let err = SecretResolver::new().resolve(&reference).await.unwrap_err();
        assert!(
            matches!(err, SecretError::NoSource { scheme: "aws-sm" }),
            "{err}"
        );
    }
}
