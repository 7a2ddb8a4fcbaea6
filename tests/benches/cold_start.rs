//! Cold start of a function binary: from `exec` to the first response, as Lambda sees it.
//!
//! The binary is the real release build (`cargo build --release -p token-issuance-start`). This
//! harness plays the Lambda Runtime API (2018-06-01: `GET .../invocation/next`, `POST
//! .../invocation/{id}/response`) on loopback, hands it one API Gateway v2 event carrying a token
//! minted by the simulated tenant, and times each fresh process until its response arrives. The
//! first invocation includes everything a real cold start pays after the sandbox's `Init`: config
//! parsing, client construction, OIDC discovery + JWKS fetch (loopback HTTP here, so no TLS), token
//! validation and the handler. Target: < 20 ms.
//!
//! Run: `cargo build --release -p token-issuance-start && cargo bench -p entra-hooks-e2e --bench cold_start`
//! (`COLD_START_RUNS` sets the number of processes, default 30; `COLD_START_BIN` the binary;
//! `COLD_START_BASELINE` a second binary, e.g. the build before a change, started alternately with
//! the first in the same run so both see the same machine; `COLD_START_PHASES=1` then also prints
//! the p50 of each init step, read from the function's own "init phases" debug line).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use entra_sandbox::Sandbox;
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

struct RuntimeApi {
    event: Value,
    served: Mutex<bool>,
    init_polled: Mutex<Option<Instant>>,
    response: Mutex<Option<oneshot::Sender<(Instant, Value)>>>,
    never: Notify,
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> impl IntoResponse {
    {
        let mut polled = api.init_polled.lock().unwrap();
        polled.get_or_insert_with(Instant::now);
    }
    let first = {
        let mut served = api.served.lock().unwrap();
        !std::mem::replace(&mut *served, true)
    };
    if !first {
        // Later polls wait until the process is killed, as Lambda freezes an idle environment.
        api.never.notified().await;
    }
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 5_000;
    let mut headers = HeaderMap::new();
    headers.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_static("cold-start-1"),
    );
    headers.insert(
        "lambda-runtime-deadline-ms",
        HeaderValue::from_str(&deadline.to_string()).unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static(
            "arn:aws:lambda:us-east-1:123456789012:function:token-issuance-start",
        ),
    );
    (StatusCode::OK, headers, axum::Json(api.event.clone()))
}

async fn respond(
    State(api): State<Arc<RuntimeApi>>,
    Path(_id): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let at = Instant::now();
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(tx) = api.response.lock().unwrap().take() {
        let _ = tx.send((at, value));
    }
    StatusCode::ACCEPTED
}

async fn failed(State(api): State<Arc<RuntimeApi>>, body: axum::body::Bytes) -> StatusCode {
    let value = json!({ "runtime_error": String::from_utf8_lossy(&body) });
    if let Some(tx) = api.response.lock().unwrap().take() {
        let _ = tx.send((Instant::now(), value));
    }
    StatusCode::ACCEPTED
}

/// The release bootstrap: `COLD_START_BIN`, else `token-issuance-start` in the release folder of
/// `CARGO_TARGET_DIR` (or the workspace's `target/`).
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("COLD_START_BIN") {
        return PathBuf::from(path);
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf();
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("release/token-issuance-start")
}

fn event(sandbox: &Sandbox, token: &str) -> Value {
    let body = entra_local::samples::token_issuance_start(sandbox.config());
    json!({
        "version": "2.0",
        "routeKey": "POST /extensions/token-issuance-start",
        "rawPath": "/extensions/token-issuance-start",
        "rawQueryString": "",
        "headers": {
            "authorization": format!("Bearer {token}"),
            "content-type": "application/json",
            "host": "abc123.execute-api.us-east-1.amazonaws.com"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": "POST",
                "path": "/extensions/token-issuance-start",
                "protocol": "HTTP/1.1",
                "sourceIp": "20.190.128.1",
                "userAgent": "Microsoft-Azure-AD"
            },
            "requestId": "cold-start-1",
            "routeKey": "POST /extensions/token-issuance-start",
            "stage": "$default",
            "time": "26/Nov/2026:22:00:00 +0000",
            "timeEpoch": 1795730400000_u64
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    })
}

/// One cold start's times; `phases` holds the function's own "init phases" log line when asked for.
struct ColdStart {
    total: Duration,
    init: Duration,
    response: Value,
    phases: Option<InitLog>,
}

/// What the function logged about its init (`entra_platform::telemetry::InitPhases`), with when
/// it was started, so exec → `main` can be told apart from the steps inside `main`.
struct InitLog {
    spawned_unix_us: u128,
    main_entered_unix_us: u128,
    total_us: u128,
    steps: Vec<(String, u128)>,
}

impl InitLog {
    fn parse(spawned_unix_us: u128, output: &str) -> Option<Self> {
        let line = output.lines().find(|line| line.contains("init phases"))?;
        let value: Value = serde_json::from_str(line).ok()?;
        let fields = value.get("fields").unwrap_or(&value);
        let number = |key: &str| fields.get(key)?.as_u64().map(u128::from);
        let steps = fields
            .get("phases")?
            .as_str()?
            .split(' ')
            .filter_map(|step| {
                let (name, us) = step.split_once('=')?;
                Some((name.to_owned(), us.parse().ok()?))
            })
            .collect();
        Some(Self {
            spawned_unix_us,
            main_entered_unix_us: number("main_entered_unix_us")?,
            total_us: number("total_us")?,
            steps,
        })
    }
}

async fn one_cold_start(sandbox: &Sandbox, bin: &PathBuf, phases: bool) -> ColdStart {
    let (tx, rx) = oneshot::channel();
    let api = Arc::new(RuntimeApi {
        event: event(sandbox, &sandbox.extension_token().sign()),
        served: Mutex::new(false),
        init_polled: Mutex::new(None),
        response: Mutex::new(Some(tx)),
        never: Notify::new(),
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(respond),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(failed))
        .route("/2018-06-01/runtime/init/error", post(failed))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let config = sandbox.config();
    let started = Instant::now();
    let spawned_unix_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let mut command = tokio::process::Command::new(bin);
    command.env_clear();
    if phases {
        // Only the init line at debug; Lambda's level variable would override RUST_LOG.
        command
            .env("RUST_LOG", "warn,entra_hooks::init=debug")
            .stdout(Stdio::piped());
    } else {
        command
            .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
            .stdout(Stdio::null());
    }
    let mut child = command
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "token-issuance-start")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("ENTRA_HOOKS_TENANT__ID", &config.tenant_id)
        .env("ENTRA_HOOKS_TENANT__NAME", &config.tenant_name)
        .env("ENTRA_HOOKS_EXTENSION__APP_ID", &config.extension_app_id)
        .env("ENTRA_HOOKS_AUTH__DISCOVERY_URL", sandbox.discovery_url().as_str())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}; build it with `cargo build --release -p token-issuance-start`", bin.display()));
    let (answered, response) = tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .expect("the function answered within 10 s")
        .expect("response recorded");
    let init = api
        .init_polled
        .lock()
        .unwrap()
        .map(|t| t - started)
        .unwrap_or_default();
    let _ = child.kill().await;
    server.abort();
    let phases = match child.stdout.take() {
        Some(mut stdout) if phases => {
            use tokio::io::AsyncReadExt;
            let mut output = String::new();
            let _ = stdout.read_to_string(&mut output).await;
            InitLog::parse(spawned_unix_us, &output)
        }
        _ => None,
    };
    ColdStart {
        total: answered - started,
        init,
        response,
        phases,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Exec → first response and exec → first poll, over the runs of one binary.
#[derive(Default)]
struct Samples {
    totals: Vec<Duration>,
    inits: Vec<Duration>,
}

impl Samples {
    fn report(mut self, bin: &std::path::Path, runs: usize) {
        self.totals.sort();
        self.inits.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "cold start of {} over {runs} processes (exec -> response received)",
            bin.display()
        );
        println!(
            "  exec -> first response: p50 {:.2} ms, p90 {:.2} ms, min {:.2} ms, max {:.2} ms",
            ms(percentile(&self.totals, 0.5)),
            ms(percentile(&self.totals, 0.9)),
            ms(self.totals[0]),
            ms(self.totals[self.totals.len() - 1])
        );
        println!(
            "  exec -> first poll of the Runtime API (init): p50 {:.2} ms, p90 {:.2} ms",
            ms(percentile(&self.inits, 0.5)),
            ms(percentile(&self.inits, 0.9))
        );
    }
}

fn main() {
    let runs: usize = std::env::var("COLD_START_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let mut bins = vec![binary()];
    if let Some(baseline) = std::env::var_os("COLD_START_BASELINE") {
        bins.push(PathBuf::from(baseline));
    }
    for bin in &bins {
        if !bin.exists() {
            eprintln!(
                "{} does not exist: build it first with `cargo build --release -p token-issuance-start` (or set COLD_START_BIN)",
                bin.display()
            );
            std::process::exit(2);
        }
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let sandbox = Sandbox::start_default().await.unwrap();
        let mut samples: Vec<Samples> = bins.iter().map(|_| Samples::default()).collect();
        for run in 0..runs {
            for (bin, samples) in bins.iter().zip(samples.iter_mut()) {
                let start = one_cold_start(&sandbox, bin, false).await;
                assert_eq!(
                    start.response["statusCode"],
                    200,
                    "run {run} of {}: {}",
                    bin.display(),
                    start.response
                );
                samples.totals.push(start.total);
                samples.inits.push(start.init);
            }
        }
        for (bin, samples) in bins.iter().zip(samples) {
            samples.report(bin, runs);
        }
        if std::env::var_os("COLD_START_PHASES").is_some() {
            phase_breakdown(&sandbox, &bins[0], runs).await;
        }
    });
}

/// p50 of each step of a cold start, from the function's "init phases" line (its debug level on
/// for that one target only): exec → `main` (loading, allocator and async runtime set-up), each
/// step inside `main`, `main` ready → first poll (the Runtime API client), and the first
/// invocation (discovery, JWKS, validation, handler, response).
async fn phase_breakdown(sandbox: &Sandbox, bin: &PathBuf, runs: usize) {
    let mut named: Vec<(String, Vec<u128>)> = Vec::new();
    let mut push = |name: &str, us: u128| match named.iter_mut().find(|(n, _)| n == name) {
        Some((_, values)) => values.push(us),
        None => named.push((name.to_owned(), vec![us])),
    };
    for run in 0..runs {
        let start = one_cold_start(sandbox, bin, true).await;
        assert_eq!(start.response["statusCode"], 200, "phase run {run}");
        let log = start
            .phases
            .unwrap_or_else(|| panic!("{} logged no \"init phases\" line", bin.display()));
        let exec_to_main = log.main_entered_unix_us.saturating_sub(log.spawned_unix_us);
        let init_us = start.init.as_micros();
        push("exec -> main (loader, allocator, tokio)", exec_to_main);
        for (step, us) in &log.steps {
            push(&format!("main: {step}"), *us);
        }
        push(
            "main ready -> first poll (Runtime API client)",
            init_us.saturating_sub(exec_to_main + log.total_us),
        );
        push(
            "first poll -> response (discovery, JWKS, validation, handler)",
            (start.total - start.init).as_micros(),
        );
        push("exec -> first response", start.total.as_micros());
    }
    println!(
        "init breakdown of {} over {runs} processes (p50, its debug line on)",
        bin.display()
    );
    for (name, mut values) in named {
        values.sort();
        let p50 = values[values.len() / 2];
        println!("  {name:<62} {:>7.3} ms", p50 as f64 / 1000.0);
    }
}
