//! The EMF metrics line each callout writes, through the function's real router with real tokens
//! from the simulated tenant (entra_extensions::metrics).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use email_otp_send::EmailOtpSend;
use entra_extensions::metrics::MemoryWriter;
use entra_extensions::testing::{request_for, sandbox_guard_with_metrics, single_metrics_line};
use entra_platform::KeyValueStore;
use entra_platform::store::MemoryStore;
use entra_sandbox::Sandbox;
use serde_json::Value;

const FUNCTION: &str = "email-otp-send";

/// One call of the docs request with `mailer` and `store`: its status and metrics line.
async fn send(
    sandbox: &Sandbox,
    rules_text: &str,
    mailer: Arc<RecordingMailer>,
    store: Arc<dyn KeyValueStore>,
) -> (u16, Value) {
    let (guard, lines): (_, Arc<MemoryWriter>) = sandbox_guard_with_metrics(sandbox);
    let app = EmailOtpSend::new(guard, &rules(rules_text), mailer, store)
        .with_poll_interval(Duration::from_millis(5));
    let body = request_for(DOCS_REQUEST, sandbox.tenant_id()).to_string();
    let (status, _) = invoke(routes(app), bearer(sandbox), body).await;
    (status, single_metrics_line(&lines, FUNCTION))
}

#[tokio::test]
async fn a_sent_code_writes_its_action_without_fallback() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let mailer = Arc::new(RecordingMailer::default());
    let (status, line) = send(&sandbox, "", mailer.clone(), Arc::new(MemoryStore::new())).await;
    assert_eq!(status, 200);
    assert_eq!(mailer.delivered().len(), 1);
    assert_eq!(line["Action"], "continueWithDefaultBehavior");
    assert_eq!(line["Event"], "emailOtpSend");
    assert_eq!(
        line["CorrelationId"],
        "3333dddd-44ee-ffff-aa55-bbbbbbbb6666"
    );
    assert_eq!(line["CalloutFallback"], 0);
    assert_eq!(line["CalloutServerError"], 0);
    assert_eq!(line["GraphCalls"], 0);
    assert!(line["CalloutLatency"].as_f64().unwrap() > 0.0, "{line}");
    // The code is nowhere in the line.
    assert!(!line.to_string().contains(DOCS_CODE));
}

#[tokio::test]
async fn an_unavailable_store_is_a_fallback() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let mailer = Arc::new(RecordingMailer::default());
    let (status, line) = send(&sandbox, "", mailer, Arc::new(BrokenStore)).await;
    assert_eq!(status, 200);
    assert_eq!(line["CalloutFallback"], 1);
    assert_eq!(line["CalloutServerError"], 0);
}

#[tokio::test]
async fn a_failed_send_is_a_server_error() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let mailer = Arc::new(RecordingMailer::default());
    mailer.then(Behaviour::Fail { transient: false });
    let (status, line) = send(&sandbox, "", mailer, Arc::new(MemoryStore::new())).await;
    assert_eq!(status, 500);
    assert_eq!(line["CalloutServerError"], 1);
    assert_eq!(line["Status"], 500);
    assert_eq!(line["Action"], "none");
}

#[tokio::test]
async fn a_missing_token_counts_as_rejected() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let (guard, lines) = sandbox_guard_with_metrics(&sandbox);
    let mailer = Arc::new(RecordingMailer::default());
    let app = EmailOtpSend::new(
        guard,
        &rules(""),
        mailer.clone(),
        Arc::new(MemoryStore::new()),
    );
    let body = request_for(DOCS_REQUEST, sandbox.tenant_id()).to_string();
    let (status, _) = invoke(routes(app), None, body).await;
    assert_eq!(status, 401);
    assert_eq!(mailer.attempts(), 0);
    let line = single_metrics_line(&lines, FUNCTION);
    assert_eq!(line["Reason"], "missing_bearer");
    assert_eq!(line["TokenRejected"], 1);
}
