//! Rule traces: what a decision did, step by step, for people writing rules (the local host's
//! playground page, `entra-hooks replay --trace`). Each [`Step`] is one rule evaluated, in order,
//! with what it read (a callout field, a Graph source with its requests and their times, a cache
//! hit), what it produced, and which fallback it took and why.
//!
//! Why a task-local recorder: the endpoints are latency critical and their code is shared with
//! Lambda, so the decision code does not carry a recorder through its signatures. It calls
//! [`step`], [`cache_hit`] and [`graph_source`], which do nothing but one thread-local lookup unless
//! the decision runs inside [`capture`]; the step is only built (its closure run) when recording.
//!
//! Graph requests are recorded per *source* (e.g. `user`, `groups`): the decision code runs a read
//! inside [`graph_source`], and a step that used that read names it with [`Read::graph`]. When the
//! trace is finished every such read is filled in with the source's requests (URL, status, time,
//! attempt) and whether the cache answered instead, so a read shared by several rules (one user
//! read for many claims) shows in each of them.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entra_graph::observe::{GraphAttempt, Observer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The trace of one decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Every rule evaluated, in evaluation order.
    pub steps: Vec<Step>,
    /// Every Graph request made, in the order they finished.
    pub graph: Vec<GraphCall>,
}

/// One rule evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The rule, as the rules file names it (e.g. `claims.department`, `rules[1] closed-sign-up`).
    pub rule: String,
    /// What it read, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<Read>,
    /// What it produced: a claim value, a prefill, an action, `null` for nothing.
    #[serde(default)]
    pub produced: Value,
    /// The configured fallback it took, when a dependency failed or was late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// A short explanation (why a rule did not apply, what it checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A fallback taken and the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fallback {
    /// What the rule did instead (`omit`, `default`, `allow`, `retry`, `answer 500`...).
    pub taken: String,
    /// Why: the dependency's error, the deadline.
    pub why: String,
}

/// Something a rule read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Read {
    /// A field of the callout body (`null` when absent).
    Callout { field: String, value: Value },
    /// A Graph source read by [`graph_source`]: its requests, or the cache hit that replaced them.
    Graph {
        source: String,
        #[serde(default)]
        cache_hit: bool,
        #[serde(default)]
        calls: Vec<GraphCall>,
    },
    /// Anything else the function consulted (a store, a constant of the rules file).
    Other { what: String, value: Value },
}

impl Read {
    pub fn callout(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::Callout {
            field: field.into(),
            value: value.into(),
        }
    }

    /// The read of `source`; filled in with its requests when the trace is finished.
    pub fn graph(source: impl Into<String>) -> Self {
        Self::Graph {
            source: source.into(),
            cache_hit: false,
            calls: Vec::new(),
        }
    }

    pub fn other(what: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::Other {
            what: what.into(),
            value: value.into(),
        }
    }
}

/// One Graph HTTP attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphCall {
    /// The source it was made for (`user`, `groups`, `uniqueness:city`), empty when unnamed.
    pub source: String,
    pub method: String,
    pub url: String,
    pub attempt: u32,
    /// `None`: no answer (transport failure, deadline).
    pub status: Option<u16>,
    /// How long the attempt took.
    pub elapsed_ms: f64,
    /// When it ended, from the start of the trace.
    pub at_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Step {
    pub fn new(rule: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            reads: Vec::new(),
            produced: Value::Null,
            fallback: None,
            note: None,
        }
    }

    pub fn read(mut self, read: Read) -> Self {
        self.reads.push(read);
        self
    }

    pub fn produced(mut self, value: impl Into<Value>) -> Self {
        self.produced = value.into();
        self
    }

    pub fn fallback(mut self, taken: impl Into<String>, why: impl Into<String>) -> Self {
        self.fallback = Some(Fallback {
            taken: taken.into(),
            why: why.into(),
        });
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// What is collected while [`capture`] runs.
#[derive(Default)]
struct Recording {
    steps: Vec<Step>,
    graph: Vec<GraphCall>,
    cache_hits: BTreeMap<String, bool>,
    started: Option<Instant>,
}

type Recorder = Arc<Mutex<Recording>>;

tokio::task_local! {
    static RECORDER: Recorder;
}

fn lock(recorder: &Recorder) -> std::sync::MutexGuard<'_, Recording> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    recorder
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `future` and answers its output with the trace of what it decided.
pub async fn capture<F: Future>(future: F) -> (F::Output, Trace) {
    let recorder: Recorder = Arc::new(Mutex::new(Recording {
        started: Some(Instant::now()),
        ..Recording::default()
    }));
    let output = RECORDER.scope(recorder.clone(), future).await;
    let recording = std::mem::take(&mut *lock(&recorder));
    (output, finish(recording))
}

/// Whether a trace is being recorded (for code that would compute something only for the trace).
pub fn enabled() -> bool {
    RECORDER.try_with(|_| ()).is_ok()
}

/// Records a step; `build` runs only when recording.
pub fn step(build: impl FnOnce() -> Step) {
    let _ = RECORDER.try_with(|recorder| {
        let step = build();
        lock(recorder).steps.push(step);
    });
}

/// Records that the cache answered for `source` (no Graph request was made for it).
pub fn cache_hit(source: &str) {
    let _ = RECORDER.try_with(|recorder| {
        lock(recorder).cache_hits.insert(source.to_owned(), true);
    });
}

/// Runs `future` (a Graph read); when recording, its Graph requests are recorded under `source`.
pub async fn graph_source<F: Future>(source: &str, future: F) -> F::Output {
    let Ok(recorder) = RECORDER.try_with(Arc::clone) else {
        return future.await;
    };
    let source = source.to_owned();
    let observer: Observer = Arc::new(move |attempt: GraphAttempt| {
        let mut recording = lock(&recorder);
        let at = recording
            .started
            .map_or(Duration::ZERO, |started| started.elapsed());
        recording.graph.push(GraphCall {
            source: source.clone(),
            method: attempt.method,
            url: attempt.url,
            attempt: attempt.attempt,
            status: attempt.status,
            elapsed_ms: millis(attempt.elapsed),
            at_ms: millis(at),
            error: attempt.error,
        });
    });
    entra_graph::observe::observed(observer, future).await
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Fills every step's Graph reads with their source's requests and cache hit.
fn finish(recording: Recording) -> Trace {
    let Recording {
        mut steps,
        graph,
        cache_hits,
        ..
    } = recording;
    for step in &mut steps {
        for read in &mut step.reads {
            if let Read::Graph {
                source,
                cache_hit,
                calls,
            } = read
            {
                *cache_hit = cache_hits.get(source.as_str()).copied().unwrap_or(false);
                *calls = graph
                    .iter()
                    .filter(|call| call.source == *source)
                    .cloned()
                    .collect();
            }
        }
    }
    Trace { steps, graph }
}

impl Trace {
    /// Whether any step took a fallback.
    pub fn fallback_taken(&self) -> bool {
        self.steps.iter().any(|step| step.fallback.is_some())
    }
}

/// The text form `entra-hooks replay --trace` prints.
impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            writeln!(f, "(no rule was evaluated)")?;
        }
        for (index, step) in self.steps.iter().enumerate() {
            writeln!(f, "{}. {}", index + 1, step.rule)?;
            for read in &step.reads {
                match read {
                    Read::Callout { field, value } => {
                        writeln!(f, "     read   callout {field} = {}", compact(value))?
                    }
                    Read::Other { what, value } => {
                        writeln!(f, "     read   {what} = {}", compact(value))?
                    }
                    Read::Graph {
                        source,
                        cache_hit,
                        calls,
                    } => {
                        let mut line = format!("     read   graph {source}");
                        if *cache_hit {
                            line.push_str(" (cache hit)");
                        } else if calls.is_empty() {
                            line.push_str(" (no request)");
                        }
                        writeln!(f, "{line}")?;
                        for call in calls {
                            writeln!(f, "              {}", call_line(call))?;
                        }
                    }
                }
            }
            writeln!(f, "     gave   {}", compact(&step.produced))?;
            if let Some(fallback) = &step.fallback {
                writeln!(
                    f,
                    "     fallback {} because {}",
                    fallback.taken, fallback.why
                )?;
            }
            if let Some(note) = &step.note {
                writeln!(f, "     note   {note}")?;
            }
        }
        Ok(())
    }
}

/// `GET https://… -> 200 in 3.1 ms (attempt 1, at 4.0 ms)`
pub fn call_line(call: &GraphCall) -> String {
    let mut line = format!("{} {} -> ", call.method, call.url);
    match call.status {
        Some(status) => {
            let _ = write!(line, "{status}");
        }
        None => line.push_str("no answer"),
    }
    let _ = write!(
        line,
        " in {:.1} ms (attempt {}, at {:.1} ms)",
        call.elapsed_ms, call.attempt, call.at_ms
    );
    if let Some(error) = &call.error {
        let _ = write!(line, ": {error}");
    }
    line
}

fn compact(value: &Value) -> String {
    match value {
        Value::Null => "nothing".to_owned(),
        Value::String(text) => format!("{text:?}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_is_recorded_outside_capture_and_steps_are_not_built() {
        assert!(!enabled());
        let mut built = false;
        step(|| {
            built = true;
            Step::new("never")
        });
        cache_hit("user");
        assert!(!built);
        assert_eq!(graph_source("user", async { 7 }).await, 7);
    }

    #[tokio::test]
    async fn steps_keep_their_order_and_cache_hits_resolve_per_source() {
        let ((), trace) = capture(async {
            assert!(enabled());
            step(|| {
                Step::new("claims.country")
                    .read(Read::callout(
                        "data.authenticationContext.user.country",
                        "NL",
                    ))
                    .produced("NL")
            });
            cache_hit("groups");
            step(|| {
                Step::new("claims.department")
                    .read(Read::graph("user"))
                    .fallback("omit", "Graph answered 503")
            });
            step(|| Step::new("claims.groups").read(Read::graph("groups")));
        })
        .await;
        let rules: Vec<_> = trace.steps.iter().map(|s| s.rule.as_str()).collect();
        assert_eq!(
            rules,
            ["claims.country", "claims.department", "claims.groups"]
        );
        assert!(trace.fallback_taken());
        let cache = |index: usize| match &trace.steps[index].reads[0] {
            Read::Graph { cache_hit, .. } => *cache_hit,
            other => panic!("not a graph read: {other:?}"),
        };
        assert!(!cache(1));
        assert!(cache(2));
        let text = trace.to_string();
        assert!(text.contains("1. claims.country"), "{text}");
        assert!(text.contains("graph groups (cache hit)"), "{text}");
        assert!(
            text.contains("fallback omit because Graph answered 503"),
            "{text}"
        );
        let back: Trace = serde_json::from_value(serde_json::to_value(&trace).unwrap()).unwrap();
        assert_eq!(back, trace);
    }

    #[tokio::test]
    async fn graph_requests_are_recorded_per_source_even_when_read_concurrently() {
        use entra_sandbox::{Fault, FaultRule, Sandbox};
        let sandbox = Sandbox::start_default().await.unwrap();
        let graph = entra_graph::testing::sandbox_client(&sandbox);
        let user = sandbox.users()[0]["id"].as_str().unwrap().to_owned();
        // Warm the token cache: the token request is not a Graph read.
        graph.users().get(&user, &["id"]).await.unwrap();
        sandbox.faults().add(FaultRule::new(
            format!("/v1.0/users/{user}"),
            Fault::ServiceUnavailable { retry_after: None },
            Some(1),
        ));
        let ((), trace) = capture(async {
            let users = graph.users();
            let (read, _) = tokio::join!(
                graph_source("user", users.get(&user, &["id"])),
                graph_source("unused", async {}),
            );
            read.unwrap();
            // Outside any source: not part of the trace.
            graph.users().get(&user, &["id"]).await.unwrap();
            step(|| Step::new("claims.id").read(Read::graph("user")));
        })
        .await;
        let Read::Graph {
            calls, cache_hit, ..
        } = &trace.steps[0].reads[0]
        else {
            panic!("not a graph read");
        };
        assert!(!cache_hit);
        let statuses: Vec<_> = calls.iter().map(|c| (c.attempt, c.status)).collect();
        assert_eq!(statuses, [(1, Some(503)), (2, Some(200))]);
        assert!(calls[0].url.contains(&format!("/v1.0/users/{user}")));
        assert_eq!(trace.graph.len(), 2);
        assert!(trace.to_string().contains("-> 503"));
    }
}
