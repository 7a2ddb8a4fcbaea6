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
//! the first in the same run so both see the same machine).

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

async fn one_cold_start(sandbox: &Sandbox, bin: &PathBuf) -> (Duration, Duration, Value) {
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
    let mut child = tokio::process::Command::new(bin)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "token-issuance-start")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
        .env("ENTRA_HOOKS_TENANT__ID", &config.tenant_id)
        .env("ENTRA_HOOKS_TENANT__NAME", &config.tenant_name)
        .env("ENTRA_HOOKS_EXTENSION__APP_ID", &config.extension_app_id)
        .env("ENTRA_HOOKS_AUTH__DISCOVERY_URL", sandbox.discovery_url().as_str())
        .stdout(Stdio::null())
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
    (answered - started, init, response)
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
                let (total, init, response) = one_cold_start(&sandbox, bin).await;
                assert_eq!(
                    response["statusCode"],
                    200,
                    "run {run} of {}: {response}",
                    bin.display()
                );
                samples.totals.push(total);
                samples.inits.push(init);
            }
        }
        for (bin, samples) in bins.iter().zip(samples) {
            samples.report(bin, runs);
        }
    });
}
