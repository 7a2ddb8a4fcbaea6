//! Typed configuration: one TOML file plus `ENTRA_HOOKS_*` environment overrides, checked at start.
//!
//! Lambda functions are configured through environment variables (SAM `Environment.Variables`), the
//! local host through `entra-hooks.toml`; both end up in the same typed structs. An environment
//! variable `ENTRA_HOOKS_<SECTION>__<KEY>` overrides `[section] key` of the file (`__` separates
//! nesting levels, names are case-insensitive). Its value is read as a TOML value when it is one
//! (`300`, `true`, `["a", "b"]`, `"quoted"`) and as a plain string otherwise, so
//! `ENTRA_HOOKS_TENANT__ID=4f2e7a8c-...` needs no quotes; quote a value to force a string.
//!
//! Every failure is reported before the function serves a request, in the style of cargo-lambda's
//! errors: what is wrong, the offending value (never for secrets) and where to fix it, e.g.
//! `tenant.id must be a GUID like 4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93 (got "abc"); set it in
//! entra-hooks.toml [tenant] id or ENTRA_HOOKS_TENANT__ID`. Unknown keys are errors, not silently
//! ignored typos.

mod common;
mod types;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use common::{
    AuthConfig, CommonConfig, DEFAULT_AUTHORITY_HOST, DEFAULT_GRAPH_BASE_URL, EmfMode,
    ExtensionConfig, GraphConfig, LimitsConfig, LogConfig, LogFormat, MetricsConfig, TenantConfig,
};
pub use types::{Guid, HttpUrl, TenantName};

/// Prefix of every environment variable the loader reads.
pub const ENV_PREFIX: &str = "ENTRA_HOOKS_";

/// Environment variable naming the config file when the caller passes no path.
///
/// It is not an override of any key, so the loader skips it when applying overrides.
pub const CONFIG_PATH_ENV: &str = "ENTRA_HOOKS_CONFIG";

/// File name used in messages when no file was given (the name the local host looks for).
pub const DEFAULT_CONFIG_FILE: &str = "entra-hooks.toml";

/// A configuration section that can check what serde cannot: ranges, cross-field rules, URL schemes.
///
/// `load_config` calls it once after deserializing, so a function never starts on a config that
/// would fail later. Implementations push one problem per bad key and keep going, so the operator
/// sees every mistake at once.
pub trait Validate {
    /// Record every problem found in `self` into `report`.
    fn validate(&self, report: &mut ValidationReport);
}

/// Problems found while validating a configuration, each naming its key.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ValidationReport {
    problems: Vec<ConfigProblem>,
}

impl ValidationReport {
    /// Record that `key` (dotted, e.g. `auth.clock_skew_secs`) holds a value that breaks
    /// `requirement` (phrased to follow the key: "must be at most 600").
    ///
    /// `value` is shown with `Debug` (strings quoted, numbers bare); pass `None` for secrets so the
    /// value never reaches a log or terminal.
    pub fn invalid(
        &mut self,
        key: impl Into<String>,
        requirement: impl Into<String>,
        value: Option<&dyn fmt::Debug>,
    ) {
        self.problems.push(ConfigProblem::Invalid {
            key: key.into(),
            requirement: requirement.into(),
            value: value.map(|v| format!("{v:?}")),
        });
    }

    /// Record that a key the configuration needs is absent.
    pub fn missing(&mut self, key: impl Into<String>) {
        self.problems
            .push(ConfigProblem::Missing { key: key.into() });
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// The problems recorded so far, in the order found.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }
}

/// One thing wrong with the configuration, tied to a dotted key such as `tenant.id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProblem {
    /// A required key is absent.
    Missing { key: String },
    /// A key is present but its value is not acceptable; `value` (rendered with `Debug`) is `None`
    /// for secrets.
    Invalid {
        key: String,
        requirement: String,
        value: Option<String>,
    },
    /// A key the configuration does not know (usually a typo); `expected` lists the known keys
    /// of that table as serde reports them.
    Unknown { key: String, expected: String },
}

impl ConfigProblem {
    /// The dotted key this problem is about.
    pub fn key(&self) -> &str {
        match self {
            ConfigProblem::Missing { key }
            | ConfigProblem::Invalid { key, .. }
            | ConfigProblem::Unknown { key, .. } => key,
        }
    }
}

/// Why the configuration could not be loaded. `Display` is the operator-facing message, and
/// `Debug` prints the same, so `fn main() -> Result<(), Box<dyn Error>>` shows it readably.
#[derive(thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error(
        "could not read config file {path}: {source}; check the path (given directly or in {CONFIG_PATH_ENV})"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The config file is not valid TOML; `message` carries the line and column.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    /// An `ENTRA_HOOKS_*` variable cannot be applied (bad name, non-UTF-8 value, or it sets a value
    /// where another variable or the file has a table).
    #[error("environment variable {var} {reason}")]
    Environment { var: String, reason: String },
    /// The configuration was read but is wrong; one line per problem.
    #[error("{}", render_problems(.problems, .file.as_deref(), .env_origins))]
    Invalid {
        problems: Vec<ConfigProblem>,
        /// The file the configuration came from, used to tell the operator where to fix it.
        file: Option<PathBuf>,
        /// Keys that came from environment variables, and which variable set them.
        env_origins: BTreeMap<String, String>,
    },
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl ConfigError {
    /// The individual problems when the error is [`ConfigError::Invalid`], else an empty slice.
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

/// Load `T` from `path` (or the file named by `ENTRA_HOOKS_CONFIG`, or no file at all) with the
/// process environment applied on top, then validate it.
///
/// Use at start-up, before building clients; print the error and exit when it fails.
pub fn load_config<T>(path: Option<&Path>) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Validate,
{
    let mut env = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(ENV_PREFIX) {
            continue;
        }
        let value = value.into_string().map_err(|_| ConfigError::Environment {
            var: name.to_owned(),
            reason: "is not valid UTF-8; set it to a UTF-8 value".to_owned(),
        })?;
        env.push((name.to_owned(), value));
    }
    let from_env = env
        .iter()
        .find(|(name, _)| name == CONFIG_PATH_ENV)
        .map(|(_, value)| PathBuf::from(value));
    let path = path.map(Path::to_path_buf).or(from_env);
    load_config_with_env(path.as_deref(), env)
}

/// [`load_config`] with the environment passed in, so tests and tools need not touch the process
/// environment. `ENTRA_HOOKS_CONFIG` in `env` is ignored here: the path is whatever `path` says.
pub fn load_config_with_env<T, I, K, V>(path: Option<&Path>, env: I) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Validate,
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    let mut table = match path {
        Some(path) => read_file(path)?,
        None => toml::Table::new(),
    };
    let env_origins = apply_env_overrides(&mut table, env)?;
    let invalid = |problem: ConfigProblem| ConfigError::Invalid {
        problems: vec![problem],
        file: path.map(Path::to_path_buf),
        env_origins: env_origins.clone(),
    };

    let config: T = serde_path_to_error::deserialize(table).map_err(|err| {
        let key = dotted_path(err.path());
        // `message()` is serde's text alone; Display would append toml's own key context.
        invalid(problem_from_serde(key, err.inner().message()))
    })?;

    let mut report = ValidationReport::default();
    config.validate(&mut report);
    if report.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid {
            problems: report.problems,
            file: path.map(Path::to_path_buf),
            env_origins,
        })
    }
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse::<toml::Table>()
        .map_err(|err| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: syntax_message(&text, &err),
        })
}

/// Where and why the file is not TOML. toml's own `Display` quotes the offending line, which can
/// hold a secret (`secret = "literal:..."`), so only the position and the reason are kept.
fn syntax_message(text: &str, err: &toml::de::Error) -> String {
    let reason = err.message().trim_end();
    match err.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {reason}")
        }
        None => reason.to_owned(),
    }
}

/// Apply `ENTRA_HOOKS_*` pairs to `table`; returns which dotted key each variable set.
fn apply_env_overrides<I, K, V>(
    table: &mut toml::Table,
    env: I,
) -> Result<BTreeMap<String, String>, ConfigError>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    // Sorted so that the outcome (and any conflict error) does not depend on environment order.
    let overrides: BTreeMap<String, String> = env
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k != CONFIG_PATH_ENV)
        .collect();

    let mut origins = BTreeMap::new();
    for (var, raw) in overrides {
        let segments: Vec<String> = var[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if segments.iter().any(String::is_empty) {
            return Err(ConfigError::Environment {
                var,
                reason: "has an empty key segment; name it like ENTRA_HOOKS_TENANT__ID \
                         (sections and keys separated by a double underscore)"
                    .to_owned(),
            });
        }
        let value = parse_env_value(&raw);
        insert_at(table, &segments, value).map_err(|conflict| ConfigError::Environment {
            var: var.clone(),
            reason: format!(
                "sets {} but {conflict} is already a single value, not a table; \
                 remove one of the two settings",
                segments.join(".")
            ),
        })?;
        origins.insert(segments.join("."), var);
    }
    Ok(origins)
}

/// An environment value is a TOML value when it parses as one, else a plain string.
fn parse_env_value(raw: &str) -> toml::Value {
    match raw.parse::<toml::Value>() {
        Ok(value) => value,
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

/// Insert `value` at `segments`, creating tables on the way. On a conflict (a non-table value
/// where a table is needed) returns the dotted key of that value.
fn insert_at(
    table: &mut toml::Table,
    segments: &[String],
    value: toml::Value,
) -> Result<(), String> {
    let Some((last, parents)) = segments.split_last() else {
        return Ok(());
    };
    let mut current = table;
    for (depth, segment) in parents.iter().enumerate() {
        let entry = current
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(inner) => inner,
            _ => return Err(segments[..=depth].join(".")),
        };
    }
    if matches!(current.get(last), Some(toml::Value::Table(_)))
        && !matches!(value, toml::Value::Table(_))
    {
        return Err(segments.join("."));
    }
    current.insert(last.clone(), value);
    Ok(())
}

/// `tenant.id` from serde_path_to_error's path (`.` for the root becomes the empty string).
fn dotted_path(path: &serde_path_to_error::Path) -> String {
    let rendered = path.to_string();
    if rendered == "." {
        String::new()
    } else {
        rendered
    }
}

fn join_key(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// Turn a serde error at `key` into a problem. serde's wording for missing and unknown fields is
/// stable (`missing field `x``, `unknown field `x`, expected ...`), and our own value types phrase
/// their errors as requirements ("must be ...").
fn problem_from_serde(key: String, message: &str) -> ConfigProblem {
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some(field) = rest.split('`').next()
    {
        return ConfigProblem::Missing {
            key: join_key(&key, field),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, tail)) = rest.split_once('`')
    {
        let expected = tail
            .trim_start_matches(',')
            .trim()
            .trim_start_matches("expected ")
            .replace('`', "");
        // serde_path_to_error records the unknown key itself as the last path segment.
        let full = if key == field || key.ends_with(&format!(".{field}")) {
            key
        } else {
            join_key(&key, field)
        };
        return ConfigProblem::Unknown {
            key: full,
            expected,
        };
    }
    let requirement = if message.starts_with("must ") {
        message.to_owned()
    } else {
        format!("is invalid: {message}")
    };
    ConfigProblem::Invalid {
        key,
        requirement,
        value: None,
    }
}

/// The environment variable that sets `key` (`auth.clock_skew_secs` -> `ENTRA_HOOKS_AUTH__CLOCK_SKEW_SECS`).
pub fn env_var_for(key: &str) -> String {
    let key = strip_indices(key);
    format!(
        "{ENV_PREFIX}{}",
        key.split('.')
            .collect::<Vec<_>>()
            .join("__")
            .to_ascii_uppercase()
    )
}

/// `extension.allowed_extension_ids[1]` -> `extension.allowed_extension_ids`.
fn strip_indices(key: &str) -> &str {
    match key.find('[') {
        Some(at) => &key[..at],
        None => key,
    }
}

/// Where in the file a key lives: `[tenant] id`, or just `id` at the top level.
fn file_location(key: &str) -> String {
    let key = strip_indices(key);
    match key.rsplit_once('.') {
        Some((section, field)) => format!("[{section}] {field}"),
        None => key.to_owned(),
    }
}

fn render_problems(
    problems: &[ConfigProblem],
    file: Option<&Path>,
    env_origins: &BTreeMap<String, String>,
) -> String {
    let file = file
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| DEFAULT_CONFIG_FILE.to_owned());
    let lines: Vec<String> = problems
        .iter()
        .map(|problem| render_problem(problem, &file, env_origins))
        .collect();
    if lines.len() == 1 {
        lines.join("")
    } else {
        format!(
            "{} configuration problems:\n  - {}",
            lines.len(),
            lines.join("\n  - ")
        )
    }
}

fn render_problem(
    problem: &ConfigProblem,
    file: &str,
    env_origins: &BTreeMap<String, String>,
) -> String {
    let key = problem.key();
    let fix = format!(
        "set it in {file} {} or {}",
        file_location(key),
        env_var_for(key)
    );
    match problem {
        // Top-level keys are sections by convention ([tenant], [graph], ...).
        ConfigProblem::Missing { .. } if !key.contains('.') => format!(
            "section [{key}] is missing; add it to {file} or set {}__<KEY> variables",
            env_var_for(key)
        ),
        ConfigProblem::Missing { .. } => format!("{key} is missing; {fix}"),
        ConfigProblem::Invalid {
            requirement, value, ..
        } => {
            let got = match value {
                Some(value) => format!(" (got {value})"),
                None => String::new(),
            };
            let origin = match env_origins.get(strip_indices(key)) {
                // Environment values are read as TOML, so `123` is a number; quoting makes it text.
                Some(var) if requirement.contains("invalid type") => {
                    format!(" [value from {var}; quote it to force a string]")
                }
                Some(var) => format!(" [value from {var}]"),
                None => String::new(),
            };
            format!("{key} {requirement}{got}{origin}; {fix}")
        }
        ConfigProblem::Unknown { expected, .. } => {
            let known = if expected.is_empty() {
                String::new()
            } else {
                format!(" (known keys here: {expected})")
            };
            match env_origins.get(strip_indices(key)) {
                Some(var) => format!(
                    "unknown key {key} set by environment variable {var}{known}; \
                     remove the variable or fix its name"
                ),
                None => {
                    format!("unknown key {key} in {file}{known}; remove it or fix its spelling")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_map_to_keys_and_back() {
        assert_eq!(env_var_for("tenant.id"), "ENTRA_HOOKS_TENANT__ID");
        assert_eq!(
            env_var_for("extension.allowed_extension_ids[2]"),
            "ENTRA_HOOKS_EXTENSION__ALLOWED_EXTENSION_IDS"
        );
        assert_eq!(
            file_location("auth.clock_skew_secs"),
            "[auth] clock_skew_secs"
        );
        assert_eq!(file_location("a.b.c"), "[a.b] c");
        assert_eq!(file_location("top"), "top");
    }

    #[test]
    fn env_values_are_toml_when_they_parse_and_strings_otherwise() {
        assert_eq!(parse_env_value("300"), toml::Value::Integer(300));
        assert_eq!(parse_env_value("true"), toml::Value::Boolean(true));
        assert_eq!(
            parse_env_value("4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93"),
            toml::Value::String("4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93".into())
        );
        assert_eq!(
            parse_env_value("\"300\""),
            toml::Value::String("300".into())
        );
        assert_eq!(
            parse_env_value("https://example.com/x"),
            toml::Value::String("https://example.com/x".into())
        );
        assert_eq!(
            parse_env_value("[\"a\", \"b\"]"),
            toml::Value::Array(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn conflicting_overrides_name_the_variable() {
        let mut table = toml::Table::new();
        let err = apply_env_overrides(
            &mut table,
            [("ENTRA_HOOKS_TENANT", "x"), ("ENTRA_HOOKS_TENANT__ID", "y")],
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("environment variable ENTRA_HOOKS_TENANT__ID"),
            "{message}"
        );
        assert!(
            message.contains("tenant is already a single value"),
            "{message}"
        );
    }

    #[test]
    fn metrics_are_emitted_in_lambda_unless_configured_otherwise() {
        let base = [
            (
                "ENTRA_HOOKS_TENANT__ID",
                "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93",
            ),
            ("ENTRA_HOOKS_TENANT__NAME", "contoso"),
            (
                "ENTRA_HOOKS_EXTENSION__APP_ID",
                "7f3b8d2a-5c4e-4a1b-9e6f-0d2c8b4a6e13",
            ),
        ];
        let load = |emf: Option<&'static str>| {
            let env = base
                .iter()
                .copied()
                .chain(emf.map(|value| ("ENTRA_HOOKS_METRICS__EMF", value)));
            load_config_with_env::<CommonConfig, _, _, _>(None, env)
        };
        let in_lambda = |name: &str| (name == "AWS_LAMBDA_FUNCTION_NAME").then(|| "fn".to_owned());
        let elsewhere = |_: &str| None;

        let auto = load(None).unwrap().metrics;
        assert_eq!(auto.emf, EmfMode::Auto);
        assert!(auto.emf_enabled(in_lambda));
        assert!(!auto.emf_enabled(elsewhere));
        let on = load(Some("on")).unwrap().metrics;
        assert!(on.emf_enabled(elsewhere));
        let off = load(Some("off")).unwrap().metrics;
        assert!(!off.emf_enabled(in_lambda));
        let error = load(Some("sometimes")).unwrap_err().to_string();
        assert!(error.contains("metrics.emf"), "{error}");
    }

    #[test]
    fn empty_segments_are_rejected() {
        let mut table = toml::Table::new();
        let err = apply_env_overrides(&mut table, [("ENTRA_HOOKS_TENANT____ID", "x")]).unwrap_err();
        assert!(
            err.to_string()
                .contains("ENTRA_HOOKS_TENANT____ID has an empty key segment")
        );
    }
}
