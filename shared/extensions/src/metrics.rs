//! Per-callout CloudWatch metrics as Embedded Metric Format (EMF) lines: one JSON line on stdout
//! per answered callout, which CloudWatch Logs turns into metrics with no API call and no extra
//! latency ([EMF specification]). Namespace `EntraHooks`, like the audit export's metrics.
//!
//! Per answered callout, dimension set `[["Function"]]` (`Function` is the function's name, e.g.
//! `token-issuance-start`):
//!
//! | Metric | Unit | Value |
//! |---|---|---|
//! | `CalloutLatency` | Milliseconds | from the request reaching the endpoint to the answer |
//! | `Callouts` | Count | 1 |
//! | `CalloutFallback` | Count | 1 when a rule's fallback answered (a dependency was late or failed) |
//! | `CalloutServerError` | Count | 1 when the answer was a 5xx |
//! | `GraphCalls` | Count | Graph HTTP attempts made for the callout (retries and pages included) |
//! | `GraphTime` | Milliseconds | their durations added up |
//!
//! with the properties (searchable in Logs Insights, not dimensions) `Action`, `Event`,
//! `CorrelationId` (Entra's, truncated to 64 bytes) and `Status`.
//!
//! Per token refused by the guard (a 401), instead: `TokenRejected` (Count, 1) with dimension sets
//! `[["Function","Reason"],["Function"]]`, `Reason` being `TokenRejection::kind()` (a fixed string,
//! never token data). The second set gives a per-function total an alarm can watch: alarms cannot
//! use `SEARCH` to add the reasons up.
//!
//! How a callout's line comes together: [`crate::callout_router`] runs each request inside a
//! task-local record and an `entra_graph::usage` scope; the guard attaches its [`MetricsSink`]
//! (`authenticate`), the event and correlation id (`bind`), or the rejection reason; the function
//! records its action and fallback with [`record_decision`] where it answers; the router writes
//! the line when the response is ready. A guard without an enabled sink writes nothing, so the
//! local host and tests pay only the bookkeeping.
//!
//! Lines are formatted by hand into a per-thread buffer (no allocation once warm) and written with
//! one `write_all` on the locked stdout, so they never interleave with log lines. The cost per line
//! is in BENCHMARKS.md.
//!
//! [EMF specification]: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

use std::cell::RefCell;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::response::Response;
use entra_graph::GraphUsage;
use entra_platform::config::MetricsConfig;

use crate::Callout;

/// The CloudWatch namespace of every entra-hooks metric.
pub const NAMESPACE: &str = "EntraHooks";

/// Longest correlation id copied into a line: Entra's are GUIDs (36 bytes); the body is not
/// signed, so a longer one is cut rather than trusted to be small.
const MAX_CORRELATION_ID_BYTES: usize = 64;

/// Where EMF lines go. Implementations write each line whole (it ends in `\n`).
pub trait MetricsWriter: Send + Sync + 'static {
    fn write_line(&self, line: &[u8]);
}

/// The process's stdout, which Lambda sends to CloudWatch Logs.
struct Stdout;

impl MetricsWriter for Stdout {
    fn write_line(&self, line: &[u8]) {
        // A metric is not worth failing a callout over: a closed stdout loses the line.
        let _ = std::io::stdout().lock().write_all(line);
    }
}

/// Lines kept in memory, for tests and for hosts that forward them elsewhere.
#[derive(Debug, Default)]
pub struct MemoryWriter {
    lines: Mutex<Vec<String>>,
}

impl MemoryWriter {
    /// Every line written so far, without the trailing newline, and forgets them.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl MetricsWriter for MemoryWriter {
    fn write_line(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line)
            .trim_end_matches('\n')
            .to_owned();
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text);
    }
}

/// Whether and where a function writes its metrics; held by the [`crate::CalloutGuard`].
#[derive(Clone, Default)]
pub struct MetricsSink {
    writer: Option<Arc<dyn MetricsWriter>>,
}

impl std::fmt::Debug for MetricsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsSink")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

impl MetricsSink {
    /// Writes nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Writes to stdout (what Lambda turns into metrics).
    pub fn stdout() -> Self {
        Self::to(Arc::new(Stdout))
    }

    /// Writes to `writer`.
    pub fn to(writer: Arc<dyn MetricsWriter>) -> Self {
        Self {
            writer: Some(writer),
        }
    }

    /// A sink keeping its lines in memory, and the handle to read them.
    pub fn memory() -> (Self, Arc<MemoryWriter>) {
        let writer = Arc::new(MemoryWriter::default());
        (Self::to(writer.clone()), writer)
    }

    /// Stdout when `[metrics] emf` says so for this process (`auto`: in Lambda), else disabled.
    pub fn from_config(config: &MetricsConfig) -> Self {
        if config.emf_enabled(|name| std::env::var(name).ok()) {
            Self::stdout()
        } else {
            Self::disabled()
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.writer.is_some()
    }
}

/// A correlation id copied into the record without allocating.
#[derive(Clone, Copy)]
struct ShortText {
    bytes: [u8; MAX_CORRELATION_ID_BYTES],
    len: usize,
}

impl ShortText {
    const EMPTY: Self = Self {
        bytes: [0; MAX_CORRELATION_ID_BYTES],
        len: 0,
    };

    /// `text`, cut at a character boundary to fit.
    fn new(text: &str) -> Self {
        let mut len = text.len().min(MAX_CORRELATION_ID_BYTES);
        while !text.is_char_boundary(len) {
            len -= 1;
        }
        let mut short = Self::EMPTY;
        short.bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
        short.len = len;
        short
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// What is known about the callout in flight (see the module documentation).
struct CalloutRecord {
    writer: Option<Arc<dyn MetricsWriter>>,
    rejected: Option<&'static str>,
    event: &'static str,
    correlation_id: ShortText,
    action: &'static str,
    fallback: bool,
}

impl CalloutRecord {
    const fn new() -> Self {
        Self {
            writer: None,
            rejected: None,
            event: "-",
            correlation_id: ShortText::EMPTY,
            action: "none",
            fallback: false,
        }
    }
}

tokio::task_local! {
    static CALLOUT: RefCell<CalloutRecord>;
}

fn with_record(update: impl FnOnce(&mut CalloutRecord)) {
    let _ = CALLOUT.try_with(|record| {
        if let Ok(mut record) = record.try_borrow_mut() {
            update(&mut record);
        }
    });
}

/// Records what the function answered: the action's name and whether a fallback decided it.
/// Call once where the callout is answered; outside [`crate::callout_router`] (replay, tests of
/// `decide`) it does nothing.
pub fn record_decision(action: &'static str, fallback: bool) {
    with_record(|record| {
        record.action = action;
        record.fallback = fallback;
    });
}

/// The guard's sink, for the callout in flight.
pub(crate) fn attach(sink: &MetricsSink) {
    if let Some(writer) = &sink.writer {
        with_record(|record| record.writer = Some(Arc::clone(writer)));
    }
}

/// The callout's identity, once its body is parsed.
pub(crate) fn bound(callout: &Callout) {
    with_record(|record| {
        if record.writer.is_some() {
            record.event = callout.kind.name();
            record.correlation_id = ShortText::new(&callout.context.correlation_id);
        }
    });
}

/// The guard refused the token: the line is a `TokenRejected` one.
pub(crate) fn token_rejected(reason: &'static str) {
    with_record(|record| record.rejected = Some(reason));
}

/// Runs `answer` (one request of `function`) inside a callout record and a Graph usage scope,
/// then writes its metrics line if the guard attached an enabled sink. [`crate::callout_router`]
/// does this for every request; public for endpoints served another way, and for the bench.
pub async fn observe<F>(function: &str, answer: F) -> Response
where
    F: Future<Output = Response>,
{
    let started = Instant::now();
    CALLOUT
        .scope(RefCell::new(CalloutRecord::new()), async {
            let (response, graph) = entra_graph::usage::measure(answer).await;
            let record = CALLOUT.with(|record| record.replace(CalloutRecord::new()));
            if let Some(writer) = &record.writer {
                let timestamp_ms = unix_millis();
                with_line_buffer(writer.as_ref(), |line| match record.rejected {
                    Some(reason) => write_rejection_line(line, function, reason, timestamp_ms),
                    None => write_callout_line(
                        line,
                        &CalloutLine {
                            function,
                            event: record.event,
                            action: record.action,
                            correlation_id: record.correlation_id.as_str(),
                            fallback: record.fallback,
                            status: response.status().as_u16(),
                            latency: started.elapsed(),
                            graph,
                            timestamp_ms,
                        },
                    ),
                });
            }
            response
        })
        .await
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

thread_local! {
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

/// Formats a line with `fill` into this thread's reused buffer and writes it.
fn with_line_buffer(writer: &dyn MetricsWriter, fill: impl FnOnce(&mut Vec<u8>)) {
    LINE.with(|buffer| match buffer.try_borrow_mut() {
        Ok(mut line) => {
            line.clear();
            fill(&mut line);
            writer.write_line(&line);
        }
        Err(_) => {
            let mut line = Vec::with_capacity(1024);
            fill(&mut line);
            writer.write_line(&line);
        }
    });
}

/// One answered callout's metrics line, before formatting.
#[derive(Debug, Clone, Copy)]
pub struct CalloutLine<'a> {
    pub function: &'a str,
    pub event: &'a str,
    pub action: &'a str,
    pub correlation_id: &'a str,
    pub fallback: bool,
    pub status: u16,
    pub latency: Duration,
    pub graph: GraphUsage,
    pub timestamp_ms: u64,
}

const CALLOUT_DIRECTIVE: &str = concat!(
    r#"{"Namespace":"EntraHooks","Dimensions":[["Function"]],"Metrics":["#,
    r#"{"Name":"CalloutLatency","Unit":"Milliseconds"},"#,
    r#"{"Name":"Callouts","Unit":"Count"},"#,
    r#"{"Name":"CalloutFallback","Unit":"Count"},"#,
    r#"{"Name":"CalloutServerError","Unit":"Count"},"#,
    r#"{"Name":"GraphCalls","Unit":"Count"},"#,
    r#"{"Name":"GraphTime","Unit":"Milliseconds"}]}"#
);

const REJECTION_DIRECTIVE: &str = concat!(
    r#"{"Namespace":"EntraHooks","Dimensions":[["Function","Reason"],["Function"]],"Metrics":["#,
    r#"{"Name":"TokenRejected","Unit":"Count"}]}"#
);

/// Appends the EMF line of an answered callout (with its `\n`) to `out`.
pub fn write_callout_line(out: &mut Vec<u8>, line: &CalloutLine<'_>) {
    write_head(out, line.timestamp_ms, CALLOUT_DIRECTIVE);
    write_str_member(out, "Function", line.function);
    out.extend_from_slice(br#","CalloutLatency":"#);
    write_millis(out, line.latency);
    out.extend_from_slice(br#","Callouts":1,"CalloutFallback":"#);
    out.push(if line.fallback { b'1' } else { b'0' });
    out.extend_from_slice(br#","CalloutServerError":"#);
    out.push(if line.status >= 500 { b'1' } else { b'0' });
    out.extend_from_slice(br#","GraphCalls":"#);
    let _ = write!(out, "{}", line.graph.calls);
    out.extend_from_slice(br#","GraphTime":"#);
    write_millis(out, line.graph.time);
    out.push(b',');
    write_str_member(out, "Action", line.action);
    out.push(b',');
    write_str_member(out, "Event", line.event);
    out.push(b',');
    write_str_member(out, "CorrelationId", line.correlation_id);
    let _ = write!(out, r#","Status":{}}}"#, line.status);
    out.push(b'\n');
}

/// Appends the EMF line of a refused token (with its `\n`) to `out`.
pub fn write_rejection_line(out: &mut Vec<u8>, function: &str, reason: &str, timestamp_ms: u64) {
    write_head(out, timestamp_ms, REJECTION_DIRECTIVE);
    write_str_member(out, "Function", function);
    out.push(b',');
    write_str_member(out, "Reason", reason);
    out.extend_from_slice(br#","TokenRejected":1,"Status":401}"#);
    out.push(b'\n');
}

/// `{"_aws":{"Timestamp":…,"CloudWatchMetrics":[directive]},` : the line up to its members.
fn write_head(out: &mut Vec<u8>, timestamp_ms: u64, directive: &str) {
    let _ = write!(
        out,
        r#"{{"_aws":{{"Timestamp":{timestamp_ms},"CloudWatchMetrics":[{directive}]}},"#
    );
}

/// Milliseconds with microsecond precision, as a JSON number (`12.345`).
fn write_millis(out: &mut Vec<u8>, duration: Duration) {
    let micros = duration.as_micros();
    let _ = write!(out, "{}.{:03}", micros / 1000, micros % 1000);
}

/// `"name":"value"` with `value` escaped as a JSON string.
fn write_str_member(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":\"");
    for &byte in value.as_bytes() {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x00..=0x1f | 0x7f => {
                let _ = write!(out, "\\u{byte:04x}");
            }
            _ => out.push(byte),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn parse(bytes: &[u8]) -> Value {
        assert_eq!(bytes.last(), Some(&b'\n'));
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
        serde_json::from_slice(bytes).unwrap()
    }

    /// The directive's metric names and units, and its dimension sets.
    fn directive(line: &Value) -> (Vec<(String, String)>, Value) {
        let directives = line["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        assert_eq!(directives[0]["Namespace"], NAMESPACE);
        let metrics = directives[0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["Name"].as_str().unwrap().to_owned(),
                    m["Unit"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        (metrics, directives[0]["Dimensions"].clone())
    }

    /// The members of `line` that are numbers, other than `Status` (a property).
    fn numeric_members(line: &Value) -> Vec<String> {
        let mut names: Vec<String> = line
            .as_object()
            .unwrap()
            .iter()
            .filter(|(name, value)| value.is_number() && *name != "Status")
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_callout_line_is_valid_emf_declaring_exactly_its_metrics() {
        let mut out = Vec::new();
        write_callout_line(
            &mut out,
            &CalloutLine {
                function: "token-issuance-start",
                event: "tokenIssuanceStart",
                action: "microsoft.graph.tokenIssuanceStart.provideClaimsForToken",
                correlation_id: "0c1d2e3f-4a5b-4c6d-8e7f-000000000003",
                fallback: true,
                status: 503,
                latency: Duration::from_micros(12_345),
                graph: GraphUsage {
                    calls: 3,
                    time: Duration::from_micros(7_001),
                },
                timestamp_ms: 1_795_728_000_000,
            },
        );
        let line = parse(&out);
        assert_eq!(line["_aws"]["Timestamp"], 1_795_728_000_000_u64);
        let (metrics, dimensions) = directive(&line);
        assert_eq!(
            metrics,
            [
                ("CalloutLatency", "Milliseconds"),
                ("Callouts", "Count"),
                ("CalloutFallback", "Count"),
                ("CalloutServerError", "Count"),
                ("GraphCalls", "Count"),
                ("GraphTime", "Milliseconds"),
            ]
            .map(|(n, u)| (n.to_owned(), u.to_owned()))
        );
        let mut declared: Vec<String> = metrics.into_iter().map(|(name, _)| name).collect();
        declared.sort();
        assert_eq!(numeric_members(&line), declared);
        assert_eq!(dimensions, json!([["Function"]]));
        assert_eq!(line["Function"], "token-issuance-start");
        assert_eq!(line["CalloutLatency"], 12.345);
        assert_eq!(line["Callouts"], 1);
        assert_eq!(line["CalloutFallback"], 1);
        assert_eq!(line["CalloutServerError"], 1);
        assert_eq!(line["GraphCalls"], 3);
        assert_eq!(line["GraphTime"], 7.001);
        assert_eq!(line["Event"], "tokenIssuanceStart");
        assert_eq!(
            line["CorrelationId"],
            "0c1d2e3f-4a5b-4c6d-8e7f-000000000003"
        );
        assert_eq!(line["Status"], 503);
    }

    #[test]
    fn a_rejection_line_counts_per_reason_and_per_function() {
        let mut out = Vec::new();
        write_rejection_line(&mut out, "password-submit", "expired", 5);
        let line = parse(&out);
        let (metrics, dimensions) = directive(&line);
        assert_eq!(metrics, [("TokenRejected".to_owned(), "Count".to_owned())]);
        assert_eq!(numeric_members(&line), ["TokenRejected"]);
        assert_eq!(dimensions, json!([["Function", "Reason"], ["Function"]]));
        assert_eq!(line["Function"], "password-submit");
        assert_eq!(line["Reason"], "expired");
        assert_eq!(line["TokenRejected"], 1);
    }

    #[test]
    fn untrusted_text_stays_one_json_string() {
        let hostile = "a\"b\\c\nd\u{1}e\u{7f}é\"}, \"Callouts\": 99";
        let mut out = Vec::new();
        write_callout_line(
            &mut out,
            &CalloutLine {
                function: "f",
                event: "e",
                action: "a",
                correlation_id: hostile,
                fallback: false,
                status: 200,
                latency: Duration::ZERO,
                graph: GraphUsage::default(),
                timestamp_ms: 0,
            },
        );
        let line = parse(&out);
        assert_eq!(line["CorrelationId"], hostile);
        assert_eq!(line["Callouts"], 1);
        assert_eq!(line["CalloutLatency"], 0.0);
    }

    #[test]
    fn long_correlation_ids_are_cut_at_a_character_boundary() {
        let long = "é".repeat(40); // 80 bytes
        let short = ShortText::new(&long);
        assert_eq!(short.as_str(), "é".repeat(32));
        assert_eq!(ShortText::new("abc").as_str(), "abc");
    }

    #[tokio::test]
    async fn nothing_is_recorded_outside_a_callout_and_without_an_enabled_sink() {
        // Outside observe: no scope, no panic.
        record_decision("x", true);
        token_rejected("expired");
        let (sink, lines) = MetricsSink::memory();
        let response = observe("f", async {
            attach(&MetricsSink::disabled());
            record_decision("x", true);
            Response::new(axum::body::Body::empty())
        })
        .await;
        assert_eq!(response.status(), 200);
        let _ = observe("f", async {
            attach(&sink);
            record_decision("allow", true);
            Response::new(axum::body::Body::empty())
        })
        .await;
        let written = lines.take();
        assert_eq!(written.len(), 1, "{written:?}");
        let line: Value = serde_json::from_str(&written[0]).unwrap();
        assert_eq!(line["Action"], "allow");
        assert_eq!(line["CalloutFallback"], 1);
        assert_eq!(line["Event"], "-");
    }
}
