//! The request span middleware, through the same subscriber production installs, with its output
//! captured: ids, the completion line, and no Authorization header anywhere.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::Extension;
use axum::http::{Request, StatusCode};
use axum::middleware::from_fn;
use axum::routing::get;
use entra_platform::config::LogFormat;
use entra_platform::http_error::HttpError;
use entra_platform::telemetry::{RequestIds, TracingSettings, build_subscriber, request_context};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tracing_subscriber::fmt::MakeWriter;

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtdXNlciJ9.c2lnbmF0dXJlLXZhbHVl";

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    fn json_lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn settings(format: LogFormat, timestamps: bool) -> TracingSettings {
    TracingSettings {
        format,
        filter: "debug".into(),
        timestamps,
        ansi: false,
    }
}

fn app() -> Router {
    Router::new()
        .route(
            "/hook",
            get(|Extension(ids): Extension<RequestIds>| async move {
                tracing::info!("handling the callback");
                ids.correlation_id
            }),
        )
        .route(
            "/protected",
            get(|| async { Err::<(), _>(HttpError::unauthorized("signature did not verify")) }),
        )
        .layer(from_fn(request_context))
}

fn request(path: &str) -> axum::http::request::Builder {
    Request::get(path).header("authorization", format!("Bearer {TOKEN}"))
}

/// Run `request` through `app()` with a capturing subscriber as this thread's default.
/// `#[tokio::test]` runs on one thread, so every event of the request lands in `captured`.
async fn run_captured(
    format: LogFormat,
    timestamps: bool,
    request: Request<Body>,
) -> (Captured, StatusCode, String) {
    let captured = Captured::default();
    let subscriber = build_subscriber(&settings(format, timestamps), captured.clone()).unwrap();
    let _guard = tracing::subscriber::set_default(subscriber);
    let response = app().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (captured, status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn every_line_carries_the_request_ids_and_the_request_is_summarised() {
    let req = request("/hook?code=abc")
        .header("x-amzn-requestid", "8f5f1c9e-0d3b-4c8e-9a53-1b2c3d4e5f60")
        .header("client-request-id", "entra-corr-42")
        .body(Body::empty())
        .unwrap();
    let (captured, status, body) = run_captured(LogFormat::Json, false, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body, "entra-corr-42",
        "handlers see the ids as an extension"
    );

    let lines = captured.json_lines();
    let handler = lines
        .iter()
        .find(|l| l["message"] == "handling the callback")
        .expect("handler line");
    let done = lines
        .iter()
        .find(|l| l["message"] == "request completed")
        .expect("completion line");
    for line in [handler, done] {
        assert_eq!(line["span"]["name"], "request");
        assert_eq!(
            line["span"]["request_id"],
            "8f5f1c9e-0d3b-4c8e-9a53-1b2c3d4e5f60"
        );
        assert_eq!(line["span"]["correlation_id"], "entra-corr-42");
        assert_eq!(line["span"]["method"], "GET");
        // The path without its query string: queries can carry tokens (validationToken=...).
        assert_eq!(line["span"]["path"], "/hook");
        // Lambda: no timestamps, CloudWatch adds its own.
        assert!(line.get("timestamp").is_none(), "{line}");
    }
    assert_eq!(done["status"], 200);
    assert!(done["latency_ms"].as_f64().unwrap() >= 0.0);
}

#[tokio::test]
async fn ids_are_generated_when_the_caller_sends_none() {
    let req = Request::get("/hook").body(Body::empty()).unwrap();
    let (captured, _, body) = run_captured(LogFormat::Json, true, req).await;
    let done = captured
        .json_lines()
        .into_iter()
        .find(|l| l["message"] == "request completed")
        .unwrap();
    let request_id = done["span"]["request_id"].as_str().unwrap().to_owned();
    let correlation_id = done["span"]["correlation_id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&request_id).is_ok(), "{request_id}");
    assert!(
        uuid::Uuid::parse_str(&correlation_id).is_ok(),
        "{correlation_id}"
    );
    assert_ne!(request_id, correlation_id);
    assert_eq!(body, correlation_id);
    // Locally, timestamps are on.
    assert!(done.get("timestamp").is_some(), "{done}");
}

#[tokio::test]
async fn the_authorization_header_is_never_logged() {
    for format in [LogFormat::Json, LogFormat::Text] {
        for path in ["/hook", "/protected"] {
            let req = request(path)
                .header("x-correlation-id", "corr-1")
                .body(Body::empty())
                .unwrap();
            let (captured, status, _) = run_captured(format, true, req).await;
            let text = captured.text();
            // The capture works: the request was logged, and the 401's reason reached the log.
            assert!(text.contains("request completed"), "{text}");
            assert!(text.contains("corr-1"), "{text}");
            if path == "/protected" {
                assert_eq!(status, StatusCode::UNAUTHORIZED);
                assert!(text.contains("signature did not verify"), "{text}");
            }
            assert!(!text.contains(TOKEN), "{format:?} {path}: {text}");
            assert!(!text.contains("c2lnbmF0dXJlLXZhbHVl"), "{text}");
            assert!(
                !text.to_ascii_lowercase().contains("authorization"),
                "{text}"
            );
            assert!(!text.contains("Bearer"), "{text}");
        }
    }
}

#[tokio::test]
async fn internal_errors_log_their_cause_inside_the_request_span() {
    let app = Router::new()
        .route(
            "/fail",
            get(|| async {
                Err::<(), _>(HttpError::internal(std::io::Error::other(
                    "graph timed out",
                )))
            }),
        )
        .layer(from_fn(request_context));
    let captured = Captured::default();
    let subscriber = build_subscriber(&settings(LogFormat::Json, false), captured.clone()).unwrap();
    let _guard = tracing::subscriber::set_default(subscriber);
    let response = app
        .oneshot(
            Request::get("/fail")
                .header("client-request-id", "c-9")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let failure = captured
        .json_lines()
        .into_iter()
        .find(|l| l["message"] == "request failed")
        .expect("the cause is logged");
    assert_eq!(failure["level"], "ERROR");
    assert_eq!(failure["error"], "graph timed out");
    assert_eq!(failure["span"]["correlation_id"], "c-9");
}
