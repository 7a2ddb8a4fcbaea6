//! Shared test plumbing: the Lambda event path, a scriptable mailer, store wrappers and a log
//! capture. Tokens are real, signed by the simulated tenant, whose JWKS is fetched over loopback.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use email_otp_send::{EmailOtpSend, EmailOtpSendRules, PATH, SECTION, router};
use entra_extensions::CalloutGuard;
use entra_extensions::rules_file::RulesFile;
use entra_platform::{KeyValueStore, MailError, Mailer, MessageId, OutgoingEmail, StoreError};
use entra_sandbox::Sandbox;
use entra_tokens::{CallerPolicy, KeySet, TokenValidator};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tower::ServiceExt;

const FIXTURE: &str = include_str!("../fixtures/apigw_v2_proxy_request.json");

pub const DOCS_REQUEST: &str = "docs/emailOtpSend.request.json";
pub const SAMPLE_REQUEST: &str = "microsoft-samples/OnEmailOtpSend.json";
pub const DOCS_RESPONSE: &str = "docs/emailOtpSend.response.continueWithDefaultBehavior.json";
/// The codes in the two request vectors.
pub const DOCS_CODE: &str = "12345678";
pub const SAMPLE_CODE: &str = "23123456";

pub fn vector(relative: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/extension-callbacks")
        .join(relative);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A request vector addressed to the sandbox tenant.
pub fn request(relative: &str, tenant_id: &str) -> Value {
    let mut body = vector(relative);
    body["data"]["tenantId"] = json!(tenant_id);
    body
}

/// The same request with another one-time code (what "resend code" produces).
pub fn with_code(mut body: Value, code: &str) -> Value {
    body["data"]["otpContext"]["oneTimeCode"] = json!(code);
    body
}

pub fn with_locale(mut body: Value, locale: &str) -> Value {
    body["data"]["authenticationContext"]["client"]["locale"] = json!(locale);
    body
}

pub fn guard(sandbox: &Sandbox) -> CalloutGuard {
    let config = sandbox.config();
    let policy =
        CallerPolicy::extension_callback(&config.tenant_id, vec![config.extension_app_id.clone()]);
    let keys = KeySet::new(sandbox.discovery_url(), reqwest::Client::new());
    CalloutGuard::new(TokenValidator::new(policy, keys), Vec::new())
}

pub fn rules(text: &str) -> EmailOtpSendRules {
    RulesFile::parse(text, "rules.toml")
        .unwrap()
        .section(SECTION)
        .unwrap()
}

pub fn app(
    sandbox: &Sandbox,
    rules_text: &str,
    mailer: Arc<dyn Mailer>,
    store: Arc<dyn KeyValueStore>,
) -> EmailOtpSend {
    EmailOtpSend::new(guard(sandbox), &rules(rules_text), mailer, store)
        .with_poll_interval(Duration::from_millis(5))
}

pub fn routes(app: EmailOtpSend) -> axum::Router {
    router(Arc::new(app), 64 * 1024)
}

/// One call through the Lambda event path: an API Gateway HTTP API (v2) event as lambda_http
/// receives it, converted with `lambda_http::request::from_str`, routed by the function's router.
pub async fn invoke(
    app: axum::Router,
    authorization: Option<String>,
    body: String,
) -> (u16, Value) {
    let mut event: Value = serde_json::from_str(FIXTURE).unwrap();
    event["rawPath"] = json!(PATH);
    event["rawQueryString"] = json!("");
    event["queryStringParameters"] = json!({});
    event["requestContext"]["http"]["path"] = json!(PATH);
    let mut headers = json!({ "content-type": "application/json" });
    if let Some(value) = authorization {
        headers["authorization"] = json!(value);
    }
    event["headers"] = headers;
    event["body"] = json!(body);
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(parts, Body::from(body.to_vec()));
    let response = app.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        assert_eq!(response.headers()["content-type"], "application/json");
    }
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Bearer header with a fresh token from the simulated tenant.
pub fn bearer(sandbox: &Sandbox) -> Option<String> {
    Some(format!("Bearer {}", sandbox.extension_token().sign()))
}

/// What the mailer does on its next send.
pub enum Behaviour {
    Fail {
        transient: bool,
    },
    /// Never answers (the call budget must cut it).
    Hang,
    /// Signals `entered`, waits for `release`, then succeeds or fails.
    Gate {
        entered: Arc<Notify>,
        release: Arc<Notify>,
        fail: bool,
    },
}

/// A mailer that records what it delivered and follows a script (success when it runs out).
#[derive(Default)]
pub struct RecordingMailer {
    delivered: Mutex<Vec<OutgoingEmail>>,
    script: Mutex<VecDeque<Behaviour>>,
    attempts: Mutex<usize>,
}

impl RecordingMailer {
    pub fn then(&self, behaviour: Behaviour) -> &Self {
        self.script.lock().unwrap().push_back(behaviour);
        self
    }

    pub fn delivered(&self) -> Vec<OutgoingEmail> {
        self.delivered.lock().unwrap().clone()
    }

    pub fn attempts(&self) -> usize {
        *self.attempts.lock().unwrap()
    }
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<MessageId, MailError> {
        *self.attempts.lock().unwrap() += 1;
        let next = self.script.lock().unwrap().pop_front();
        let fail = match next {
            None => false,
            Some(Behaviour::Fail { transient }) => {
                return Err(if transient {
                    MailError::Unavailable {
                        message: "throttled".into(),
                    }
                } else {
                    MailError::Rejected {
                        message: "bad address".into(),
                    }
                });
            }
            Some(Behaviour::Hang) => std::future::pending().await,
            Some(Behaviour::Gate {
                entered,
                release,
                fail,
            }) => {
                entered.notify_one();
                release.notified().await;
                fail
            }
        };
        if fail {
            return Err(MailError::Unavailable {
                message: "failed after the gate".into(),
            });
        }
        let mut delivered = self.delivered.lock().unwrap();
        delivered.push(email.clone());
        Ok(MessageId::new(format!("test-{}", delivered.len())))
    }
}

/// A store wrapper that signals every `get` (an attempt looking at another one's marker).
pub struct WatchedStore {
    pub inner: Arc<dyn KeyValueStore>,
    pub got: Arc<Notify>,
}

#[async_trait]
impl KeyValueStore for WatchedStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let value = self.inner.get(key).await;
        self.got.notify_one();
        value
    }
    async fn put(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        self.inner.put(key, value, ttl).await
    }
    async fn put_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.inner.put_if_absent(key, value, ttl).await
    }
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &str,
        new: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.inner.compare_and_swap(key, expected, new, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn delete_if(&self, key: &str, expected: &str) -> Result<bool, StoreError> {
        self.inner.delete_if(key, expected).await
    }
}

/// A store that is down.
pub struct BrokenStore;

fn down() -> StoreError {
    StoreError::Unavailable {
        store: "broken".into(),
        message: "connection refused".into(),
    }
}

#[async_trait]
impl KeyValueStore for BrokenStore {
    async fn get(&self, _: &str) -> Result<Option<String>, StoreError> {
        Err(down())
    }
    async fn put(&self, _: &str, _: &str, _: Option<Duration>) -> Result<(), StoreError> {
        Err(down())
    }
    async fn put_if_absent(
        &self,
        _: &str,
        _: &str,
        _: Option<Duration>,
    ) -> Result<bool, StoreError> {
        Err(down())
    }
    async fn compare_and_swap(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: Option<Duration>,
    ) -> Result<bool, StoreError> {
        Err(down())
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        Err(down())
    }
    async fn delete_if(&self, _: &str, _: &str) -> Result<bool, StoreError> {
        Err(down())
    }
}

/// Everything logged while the returned guard lives (current-thread runtime tests only).
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Captures every level (trace included) as JSON lines.
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // Callsites first seen before this subscriber existed may have cached "never".
        tracing::callsite::rebuild_interest_cache();
        (logs, guard)
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// The `answered callout` lines' fields.
    pub fn callout_lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["fields"]["message"] == "answered callout")
            .map(|line| line["fields"].clone())
            .collect()
    }
}
