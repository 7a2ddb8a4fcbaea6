//! The configuration every function shares: which tenant, which extension app, how inbound tokens
//! are checked, how Graph is reached, request limits and logging.
//!
//! Each section is its own type with its own [`Validate`] impl, so a function whose needs differ can
//! compose the sections it uses into its own struct and still get the same checks and messages.

use std::time::Duration;

use serde::Deserialize;

use super::types::{Guid, HttpUrl, TenantName};
use super::{Validate, ValidationReport};
use crate::secrets::SecretRef;

/// Inbound-token clock skew unless configured (seconds).
pub const DEFAULT_CLOCK_SKEW_SECS: u64 = 300;
/// Upper bound on clock skew: more would accept tokens long expired.
pub const MAX_CLOCK_SKEW_SECS: u64 = 600;
/// JWKS cache lifetime unless configured (seconds); Entra rotates signing keys over weeks.
pub const DEFAULT_JWKS_TTL_SECS: u64 = 86_400;
/// Request body limit unless configured: Entra's callback payloads are a few KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
/// Lambda's synchronous invocation payload limit, the largest body a function can ever receive.
pub const MAX_BODY_BYTES_CEILING: usize = 6 * 1024 * 1024;
/// Token authority for Graph app-only tokens (see docs/protocols/graph-api.md (b)).
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// Microsoft Graph v1.0 root; everything we call is GA there.
pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.microsoft.com/v1.0";

/// `[tenant]`: the External ID tenant this deployment serves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Directory (tenant) id; the `tid` of every token we accept.
    pub id: Guid,
    /// Subdomain, as in `{name}.ciamlogin.com`.
    pub name: TenantName,
}

impl Validate for TenantConfig {
    fn validate(&self, _report: &mut ValidationReport) {
        // Both fields are validated types: a TenantConfig that deserialized is well-formed.
    }
}

/// `[extension]`: the app registration that protects our custom authentication extension API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionConfig {
    /// Client id of that registration: the v2 token audience.
    pub app_id: Guid,
    /// Its App ID URI (`api://{fqdn}/{appId}`), accepted as audience where Entra uses it.
    #[serde(default)]
    pub app_id_uri: Option<String>,
    /// Custom authentication extension object ids we answer for; any when absent.
    #[serde(default)]
    pub allowed_extension_ids: Option<Vec<Guid>>,
}

impl Validate for ExtensionConfig {
    fn validate(&self, report: &mut ValidationReport) {
        if let Some(uri) = &self.app_id_uri {
            let scheme_ok = uri.starts_with("api://") || uri.starts_with("https://");
            let rest_ok = uri
                .split_once("://")
                .is_some_and(|(_, rest)| !rest.is_empty());
            if !scheme_ok || !rest_ok || uri.chars().any(char::is_whitespace) {
                report.invalid(
                    "extension.app_id_uri",
                    "must be an App ID URI like api://hooks.example.com/7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13",
                    Some(uri),
                );
            }
        }
        if self
            .allowed_extension_ids
            .as_ref()
            .is_some_and(Vec::is_empty)
        {
            report.invalid(
                "extension.allowed_extension_ids",
                "must list at least one extension id, or be left out to allow any",
                Some(&Vec::<String>::new()),
            );
        }
    }
}

/// `[auth]`: how inbound bearer tokens are validated.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// OpenID discovery document; derived from the tenant when absent (see
    /// [`CommonConfig::discovery_url`]).
    #[serde(default)]
    pub discovery_url: Option<HttpUrl>,
    /// Tolerance for `exp`/`nbf` in seconds, at most [`MAX_CLOCK_SKEW_SECS`].
    #[serde(default = "default_clock_skew_secs")]
    pub clock_skew_secs: u64,
    /// How long fetched signing keys are trusted before a refresh, in seconds.
    #[serde(default = "default_jwks_ttl_secs")]
    pub jwks_ttl_secs: u64,
    /// How many already-validated tokens to remember, so the token Entra reuses for every callout
    /// is not RSA-verified again each time (never past its `exp`, never across a signing-key
    /// change); 0 turns it off.
    #[serde(default = "default_verified_token_cache")]
    pub verified_token_cache: usize,
}

/// Verified-token cache entries unless configured: Entra holds a handful of tokens at a time.
pub const DEFAULT_VERIFIED_TOKEN_CACHE: usize = 256;
/// More entries than this would only hold tokens Entra no longer sends.
pub const MAX_VERIFIED_TOKEN_CACHE: usize = 65_536;

fn default_verified_token_cache() -> usize {
    DEFAULT_VERIFIED_TOKEN_CACHE
}

fn default_clock_skew_secs() -> u64 {
    DEFAULT_CLOCK_SKEW_SECS
}

fn default_jwks_ttl_secs() -> u64 {
    DEFAULT_JWKS_TTL_SECS
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            discovery_url: None,
            clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
            jwks_ttl_secs: DEFAULT_JWKS_TTL_SECS,
            verified_token_cache: DEFAULT_VERIFIED_TOKEN_CACHE,
        }
    }
}

impl AuthConfig {
    /// Clock skew as a duration.
    pub fn clock_skew(&self) -> Duration {
        Duration::from_secs(self.clock_skew_secs)
    }

    /// JWKS cache lifetime as a duration.
    pub fn jwks_ttl(&self) -> Duration {
        Duration::from_secs(self.jwks_ttl_secs)
    }
}

impl Validate for AuthConfig {
    fn validate(&self, report: &mut ValidationReport) {
        if self.clock_skew_secs > MAX_CLOCK_SKEW_SECS {
            report.invalid(
                "auth.clock_skew_secs",
                format!("must be at most {MAX_CLOCK_SKEW_SECS} (seconds)"),
                Some(&self.clock_skew_secs),
            );
        }
        if self.verified_token_cache > MAX_VERIFIED_TOKEN_CACHE {
            report.invalid(
                "auth.verified_token_cache",
                format!("must be at most {MAX_VERIFIED_TOKEN_CACHE} (entries; 0 turns it off)"),
                Some(&self.verified_token_cache),
            );
        }
        if !(60..=604_800).contains(&self.jwks_ttl_secs) {
            report.invalid(
                "auth.jwks_ttl_secs",
                "must be between 60 and 604800 (seconds)",
                Some(&self.jwks_ttl_secs),
            );
        }
    }
}

/// `[graph]`: our confidential client for Microsoft Graph (app-only).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphConfig {
    /// Client id of our Graph app registration.
    pub client_id: Guid,
    /// Token authority host; [`DEFAULT_AUTHORITY_HOST`] when absent.
    #[serde(default)]
    pub authority_host: Option<HttpUrl>,
    /// Graph root including the version; [`DEFAULT_GRAPH_BASE_URL`] when absent.
    #[serde(default)]
    pub base_url: Option<HttpUrl>,
    /// Where the client secret lives (`aws-sm:...`, `env:...`, `file:...`).
    pub secret: SecretRef,
}

impl GraphConfig {
    /// Authority host without a trailing slash, e.g. `https://login.microsoftonline.com`.
    pub fn authority_host(&self) -> &str {
        self.authority_host
            .as_ref()
            .map_or(DEFAULT_AUTHORITY_HOST, HttpUrl::trimmed)
    }

    /// Graph root without a trailing slash, e.g. `https://graph.microsoft.com/v1.0`.
    pub fn base_url(&self) -> &str {
        self.base_url
            .as_ref()
            .map_or(DEFAULT_GRAPH_BASE_URL, HttpUrl::trimmed)
    }
}

impl Validate for GraphConfig {
    fn validate(&self, _report: &mut ValidationReport) {
        // Every field is a validated type; the secret is resolved (and checked) by SecretResolver.
    }
}

/// `[limits]`: bounds on what a request may cost us.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body accepted, in bytes; bigger ones get a 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
}

fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl Validate for LimitsConfig {
    fn validate(&self, report: &mut ValidationReport) {
        if !(1..=MAX_BODY_BYTES_CEILING).contains(&self.max_body_bytes) {
            report.invalid(
                "limits.max_body_bytes",
                format!(
                    "must be between 1 and {MAX_BODY_BYTES_CEILING} (bytes; Lambda's payload limit)"
                ),
                Some(&self.max_body_bytes),
            );
        }
    }
}

/// Output format of logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line: what CloudWatch Logs Insights queries.
    Json,
    /// Human-readable lines for a terminal.
    Text,
}

/// `[log]`: logging. Both keys are optional; see [`crate::telemetry::init_tracing`] for how they
/// combine with Lambda's own `AWS_LAMBDA_LOG_FORMAT`/`AWS_LAMBDA_LOG_LEVEL`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `json` or `text`; JSON in Lambda and text locally when absent.
    #[serde(default)]
    pub format: Option<LogFormat>,
    /// A tracing filter such as `info` or `info,entra_tokens=debug`; `info` when absent.
    #[serde(default)]
    pub level: Option<String>,
}

impl Validate for LogConfig {
    fn validate(&self, report: &mut ValidationReport) {
        if let Some(level) = &self.level
            && crate::telemetry::parse_filter(level).is_err()
        {
            report.invalid(
                "log.level",
                "must be a level (trace, debug, info, warn, error) or a filter like info,entra_tokens=debug",
                Some(level),
            );
        }
    }
}

/// When metrics are written as CloudWatch Embedded Metric Format lines on stdout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmfMode {
    /// In Lambda (`AWS_LAMBDA_FUNCTION_NAME` set), where CloudWatch Logs turns the lines into
    /// metrics; off elsewhere, where they would only clutter a terminal.
    #[default]
    Auto,
    /// Always (e.g. a container whose stdout goes to CloudWatch Logs).
    On,
    /// Never.
    Off,
}

/// `[metrics]`: the per-callout metrics (see `entra_extensions::metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `auto` (default), `on` or `off`.
    #[serde(default)]
    pub emf: EmfMode,
}

impl MetricsConfig {
    /// Whether EMF lines are written, `env` looking a variable up (`AWS_LAMBDA_FUNCTION_NAME`).
    pub fn emf_enabled(&self, env: impl Fn(&str) -> Option<String>) -> bool {
        match self.emf {
            EmfMode::On => true,
            EmfMode::Off => false,
            EmfMode::Auto => env("AWS_LAMBDA_FUNCTION_NAME").is_some_and(|name| !name.is_empty()),
        }
    }
}

/// The sections every function shares, loaded with [`super::load_config`].
///
/// `[graph]` is optional because not every function calls Graph; functions that do call
/// [`CommonConfig::require_graph`] at start so a missing section fails before the first request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommonConfig {
    /// `[tenant]`, required.
    pub tenant: TenantConfig,
    /// `[extension]`, required.
    pub extension: ExtensionConfig,
    /// `[auth]`, all keys defaulted.
    #[serde(default)]
    pub auth: AuthConfig,
    /// `[graph]`, only for functions that call Graph.
    #[serde(default)]
    pub graph: Option<GraphConfig>,
    /// `[limits]`, all keys defaulted.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[log]`, all keys optional.
    #[serde(default)]
    pub log: LogConfig,
    /// `[metrics]`, all keys defaulted.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Path of the declarative rules file (`rules = "..."`, or `ENTRA_HOOKS_RULES`); each function
    /// reads its own section from it, and runs on its documented defaults when absent.
    #[serde(default)]
    pub rules: Option<std::path::PathBuf>,
}

impl CommonConfig {
    /// The OpenID discovery document for inbound tokens: `[auth] discovery_url`, or the tenant's
    /// External ID document `https://{name}.ciamlogin.com/{id}/v2.0/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        match &self.auth.discovery_url {
            Some(url) => url.as_str().to_owned(),
            None => format!(
                "https://{}.ciamlogin.com/{}/v2.0/.well-known/openid-configuration",
                self.tenant.name, self.tenant.id
            ),
        }
    }

    /// The `[graph]` section, or an error that tells the operator to add it.
    pub fn require_graph(&self) -> Result<&GraphConfig, super::ConfigError> {
        self.graph
            .as_ref()
            .ok_or_else(|| super::ConfigError::Invalid {
                problems: vec![super::ConfigProblem::Missing {
                    key: "graph.client_id".to_owned(),
                }],
                file: None,
                env_origins: Default::default(),
            })
    }
}

impl Validate for CommonConfig {
    fn validate(&self, report: &mut ValidationReport) {
        self.tenant.validate(report);
        self.extension.validate(report);
        self.auth.validate(report);
        if let Some(graph) = &self.graph {
            graph.validate(report);
        }
        self.limits.validate(report);
        self.log.validate(report);
    }
}
