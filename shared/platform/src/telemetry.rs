//! Logging set-up and per-request context.
//!
//! In Lambda (detected by `AWS_LAMBDA_FUNCTION_NAME`) logs are JSON lines without timestamps, since
//! CloudWatch stamps every line itself, and Lambda's advanced logging controls are honoured the way
//! `lambda_http::tracing::init_default_subscriber` honours them: `AWS_LAMBDA_LOG_FORMAT` (`JSON` or
//! `Text`) and `AWS_LAMBDA_LOG_LEVEL` (`TRACE`..`FATAL`), then `RUST_LOG`. Locally logs are text
//! with timestamps.
//!
//! [`request_context`] gives every request a span carrying `request_id` and `correlation_id`, so
//! every line a handler logs can be tied to one invocation, and logs one line per request with
//! method, path, status and latency. It never logs headers: the `Authorization` header carries a
//! bearer token.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderMap;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Level used when nothing else says.
pub const DEFAULT_LOG_LEVEL: &str = "info";

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The level is not a tracing filter.
    #[error(
        "log level {level:?} is not valid ({reason}); use trace, debug, info, warn, error or a filter like info,entra_tokens=debug"
    )]
    InvalidLevel { level: String, reason: String },
}

/// Parse a level or filter directive (`info`, `warn,entra_graph=debug`).
///
/// Stricter than `EnvFilter`, which reads a bare word like `infoo` as a *target* and so silently
/// turns logging off: every directive must be a level, or `target=level`.
pub fn parse_filter(directives: &str) -> Result<EnvFilter, TelemetryError> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let invalid = |reason: String| TelemetryError::InvalidLevel {
        level: directives.to_owned(),
        reason,
    };
    for directive in directives.split(',').map(str::trim) {
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(_, level)| level);
        if !LEVELS.iter().any(|known| level.eq_ignore_ascii_case(known)) {
            return Err(invalid(format!("{directive:?} does not end in a level")));
        }
    }
    EnvFilter::builder()
        .parse(directives)
        .map_err(|err| TelemetryError::InvalidLevel {
            level: directives.to_owned(),
            reason: err.to_string(),
        })
}

/// The logging set-up after config and environment are combined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracingSettings {
    /// Line format.
    pub format: LogFormat,
    /// Filter directives, e.g. `info`.
    pub filter: String,
    /// Print timestamps (off in Lambda: CloudWatch adds them).
    pub timestamps: bool,
    /// Colour codes (only for a local terminal).
    pub ansi: bool,
}

/// Combine configured format and level with the environment (`env` looks a variable up).
///
/// Precedence for the level: `AWS_LAMBDA_LOG_LEVEL` (in Lambda), `RUST_LOG`, the configured level,
/// `info`. For the format: `AWS_LAMBDA_LOG_FORMAT` (in Lambda), the configured format, then JSON in
/// Lambda and text elsewhere.
pub fn tracing_settings(
    format: Option<LogFormat>,
    level: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> TracingSettings {
    let in_lambda = env("AWS_LAMBDA_FUNCTION_NAME").is_some_and(|name| !name.is_empty());

    let lambda_format = if in_lambda {
        env("AWS_LAMBDA_LOG_FORMAT").and_then(|f| {
            if f.eq_ignore_ascii_case("json") {
                Some(LogFormat::Json)
            } else if f.eq_ignore_ascii_case("text") {
                Some(LogFormat::Text)
            } else {
                None
            }
        })
    } else {
        None
    };
    let format = lambda_format.or(format).unwrap_or(if in_lambda {
        LogFormat::Json
    } else {
        LogFormat::Text
    });

    let lambda_level = if in_lambda {
        env("AWS_LAMBDA_LOG_LEVEL").map(|level| {
            // Lambda's FATAL has no tracing counterpart; error is the closest.
            if level.eq_ignore_ascii_case("fatal") {
                "error".to_owned()
            } else {
                level.to_ascii_lowercase()
            }
        })
    } else {
        None
    };
    let filter = lambda_level
        .or_else(|| env("RUST_LOG").filter(|v| !v.is_empty()))
        .or_else(|| level.map(str::to_owned))
        .unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_owned());

    TracingSettings {
        format,
        filter,
        timestamps: !in_lambda,
        ansi: false,
    }
}

/// A subscriber for `settings` writing to `writer`: what [`init_tracing`] installs, exposed so
/// tests can capture the exact output production would produce.
pub fn build_subscriber<W>(
    settings: &TracingSettings,
    writer: W,
) -> Result<Box<dyn tracing::Subscriber + Send + Sync + 'static>, TelemetryError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = parse_filter(&settings.filter)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(settings.ansi);
    let subscriber: Box<dyn tracing::Subscriber + Send + Sync> =
        match (settings.format, settings.timestamps) {
            (LogFormat::Json, true) => Box::new(
                builder
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .finish(),
            ),
            (LogFormat::Json, false) => Box::new(
                builder
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .without_time()
                    .finish(),
            ),
            (LogFormat::Text, true) => Box::new(builder.finish()),
            (LogFormat::Text, false) => Box::new(builder.without_time().finish()),
        };
    Ok(subscriber)
}

/// Install the process-wide subscriber to stdout. Safe to call more than once: later calls change
/// nothing and return `Ok(false)`; `Ok(true)` means this call installed it.
pub fn init_tracing(
    format: Option<LogFormat>,
    level: Option<&str>,
) -> Result<bool, TelemetryError> {
    let mut settings = tracing_settings(format, level, |name| std::env::var(name).ok());
    settings.ansi = settings.timestamps && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let subscriber = build_subscriber(&settings, std::io::stdout)?;
    Ok(subscriber.try_init().is_ok())
}

/// Identifiers of the request being served, inserted into request extensions by
/// [`request_context`] so handlers can echo or forward them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestIds {
    /// This invocation's id (Lambda's request id when present).
    pub request_id: String,
    /// The caller's id for the operation (Entra and Graph send `client-request-id`).
    pub correlation_id: String,
}

/// Headers that carry the Lambda request id, in order of preference.
const REQUEST_ID_HEADERS: [&str; 2] = ["x-amzn-requestid", "lambda-runtime-aws-request-id"];
/// Headers that carry the caller's correlation id, in order of preference.
const CORRELATION_ID_HEADERS: [&str; 2] = ["client-request-id", "x-correlation-id"];
/// Longest id taken from a header; anything longer is replaced, so callers cannot bloat logs.
const MAX_ID_LEN: usize = 128;

/// axum middleware: `Router::layer(axum::middleware::from_fn(request_context))`.
///
/// Opens a `request` span with `request_id`, `correlation_id`, `method` and `path` (no query
/// string), runs the request inside it and logs `status` and `latency_ms` when it completes.
/// Ids come from the headers above when they are short and plain, else fresh UUIDs.
pub async fn request_context(mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let request_id = id_from_headers(headers, &REQUEST_ID_HEADERS).unwrap_or_else(new_id);
    let correlation_id = id_from_headers(headers, &CORRELATION_ID_HEADERS).unwrap_or_else(new_id);
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        correlation_id = %correlation_id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    request.extensions_mut().insert(RequestIds {
        request_id,
        correlation_id,
    });

    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms,
            "request completed"
        );
    });
    response
}

fn id_from_headers(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        let value = headers.get(*name)?.to_str().ok()?;
        let plain = !value.is_empty()
            && value.len() <= MAX_ID_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        plain.then(|| value.to_owned())
    })
}

/// A random (v4) UUID for a request without an id. Ids are labels, not secrets, so a fast
/// thread-local generator does instead of a system call per id.
fn new_id() -> String {
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn local_defaults_are_text_with_timestamps() {
        let s = tracing_settings(None, None, env(&[]));
        assert_eq!(s.format, LogFormat::Text);
        assert_eq!(s.filter, "info");
        assert!(s.timestamps);
    }

    #[test]
    fn lambda_defaults_to_json_without_timestamps() {
        let s = tracing_settings(
            None,
            Some("debug"),
            env(&[("AWS_LAMBDA_FUNCTION_NAME", "fn")]),
        );
        assert_eq!(s.format, LogFormat::Json);
        assert_eq!(s.filter, "debug");
        assert!(!s.timestamps);
    }

    #[test]
    fn lambda_logging_controls_win_over_config() {
        let s = tracing_settings(
            Some(LogFormat::Json),
            Some("debug"),
            env(&[
                ("AWS_LAMBDA_FUNCTION_NAME", "fn"),
                ("AWS_LAMBDA_LOG_FORMAT", "Text"),
                ("AWS_LAMBDA_LOG_LEVEL", "FATAL"),
                ("RUST_LOG", "trace"),
            ]),
        );
        assert_eq!(s.format, LogFormat::Text);
        assert_eq!(s.filter, "error");
    }

    #[test]
    fn lambda_controls_are_ignored_outside_lambda_but_rust_log_is_not() {
        let s = tracing_settings(
            Some(LogFormat::Json),
            Some("debug"),
            env(&[
                ("AWS_LAMBDA_LOG_FORMAT", "Text"),
                ("AWS_LAMBDA_LOG_LEVEL", "ERROR"),
                ("RUST_LOG", "warn"),
            ]),
        );
        assert_eq!(s.format, LogFormat::Json);
        assert_eq!(s.filter, "warn");
    }

    #[test]
    fn bad_levels_are_reported() {
        for bad in ["loud", "loud=", "infoo", "info,", "entra_tokens=verbose"] {
            let err = parse_filter(bad).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("log level {bad:?} is not valid")),
                "{err}"
            );
        }
        for good in ["info", "WARN", "info,entra_tokens=debug", "off"] {
            assert!(parse_filter(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn ids_from_headers_must_be_short_and_plain() {
        let mut headers = HeaderMap::new();
        headers.insert("x-correlation-id", "abc-123".parse().unwrap());
        assert_eq!(
            id_from_headers(&headers, &CORRELATION_ID_HEADERS).as_deref(),
            Some("abc-123")
        );
        headers.insert("client-request-id", "has space".parse().unwrap());
        // The preferred header is unusable, so the next one is taken.
        assert_eq!(
            id_from_headers(&headers, &CORRELATION_ID_HEADERS).as_deref(),
            Some("abc-123")
        );
        headers.insert("x-correlation-id", "x".repeat(129).parse().unwrap());
        assert_eq!(id_from_headers(&headers, &CORRELATION_ID_HEADERS), None);
    }
}

/// The wall-clock time of each step of a function's init, logged once at debug level as
/// `"init phases"` (target `entra_hooks::init`) with the time `main` was entered, so a cold start's
/// breakdown can be read from the function's own log: `AWS_LAMBDA_LOG_LEVEL=DEBUG` or
/// `RUST_LOG=entra_hooks::init=debug`. The cold-start bench (tests/benches/cold_start.rs,
/// `COLD_START_PHASES=1`) reads it. Costs two clock reads per step; nothing is written at other levels.
#[derive(Debug)]
pub struct InitPhases {
    entered: Instant,
    entered_unix_us: u128,
    last: Instant,
    phases: Vec<(&'static str, std::time::Duration)>,
}

impl InitPhases {
    /// Starts the clock; call first thing in `main`.
    pub fn start() -> Self {
        let now = Instant::now();
        let entered_unix_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.as_micros())
            .unwrap_or_default();
        Self {
            entered: now,
            entered_unix_us,
            last: now,
            phases: Vec::with_capacity(8),
        }
    }

    /// Ends the step called `phase` (it began where the previous one ended).
    pub fn mark(&mut self, phase: &'static str) {
        let now = Instant::now();
        self.phases.push((phase, now - self.last));
        self.last = now;
    }

    /// `config=120 tracing=85 …`: each step in microseconds, in order.
    pub fn summary(&self) -> String {
        self.phases
            .iter()
            .map(|(phase, took)| format!("{phase}={}", took.as_micros()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Writes the one debug line; call once tracing is set up and before serving.
    pub fn log(&self) {
        tracing::debug!(
            target: "entra_hooks::init",
            main_entered_unix_us = self.entered_unix_us as u64,
            total_us = self.entered.elapsed().as_micros() as u64,
            phases = %self.summary(),
            "init phases"
        );
    }
}

#[cfg(test)]
mod init_phases_tests {
    use super::InitPhases;

    #[test]
    fn phases_are_listed_in_order_with_their_microseconds() {
        let mut phases = InitPhases::start();
        std::thread::sleep(std::time::Duration::from_millis(2));
        phases.mark("config");
        phases.mark("tracing");
        let summary = phases.summary();
        let parts: Vec<(&str, u128)> = summary
            .split(' ')
            .map(|part| {
                let (name, us) = part.split_once('=').unwrap();
                (name, us.parse().unwrap())
            })
            .collect();
        assert_eq!(parts.len(), 2, "{summary}");
        assert_eq!(parts[0].0, "config");
        assert!(parts[0].1 >= 2_000, "{summary}");
        assert_eq!(parts[1].0, "tracing");
        assert!(parts[1].1 < parts[0].1, "{summary}");
    }
}
