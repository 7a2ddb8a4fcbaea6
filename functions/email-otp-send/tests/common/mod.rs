//! Shared test plumbing: the function on the Lambda event path, a scriptable mailer, store
//! wrappers and a log capture. Tokens are real, signed by the simulated tenant, whose JWKS is
//! fetched over loopback.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use email_otp_send::{EmailOtpSend, EmailOtpSendRules, PATH, SECTION, router};
use entra_extensions::testing::{invoke_lambda_event, parse_rules, sandbox_guard};
use entra_platform::{KeyValueStore, MailError, Mailer, MessageId, OutgoingEmail, StoreError};
use entra_sandbox::Sandbox;
use serde_json::{Value, json};
use tokio::sync::Notify;

pub const DOCS_REQUEST: &str = "docs/emailOtpSend.request.json";
pub const SAMPLE_REQUEST: &str = "microsoft-samples/OnEmailOtpSend.json";
pub const DOCS_RESPONSE: &str = "docs/emailOtpSend.response.continueWithDefaultBehavior.json";
/// The codes in the two request vectors.
pub const DOCS_CODE: &str = "12345678";
pub const SAMPLE_CODE: &str = "23123456";

/// The same request with another one-time code (what "resend code" produces).
pub fn with_code(mut body: Value, code: &str) -> Value {
    body["data"]["otpContext"]["oneTimeCode"] = json!(code);
    body
}

pub fn with_locale(mut body: Value, locale: &str) -> Value {
    body["data"]["authenticationContext"]["client"]["locale"] = json!(locale);
    body
}

pub fn rules(text: &str) -> EmailOtpSendRules {
    parse_rules(text, SECTION)
}

pub fn app(
    sandbox: &Sandbox,
    rules_text: &str,
    mailer: Arc<dyn Mailer>,
    store: Arc<dyn KeyValueStore>,
) -> EmailOtpSend {
    EmailOtpSend::new(sandbox_guard(sandbox), &rules(rules_text), mailer, store)
        .with_poll_interval(Duration::from_millis(5))
}

pub fn routes(app: EmailOtpSend) -> axum::Router {
    router(Arc::new(app), 64 * 1024)
}

/// One call through the Lambda event path (`entra_extensions::testing::invoke_lambda_event`):
/// the status and the JSON body. Owned arguments, so a call can be spawned.
pub async fn invoke(
    app: axum::Router,
    authorization: Option<String>,
    body: String,
) -> (u16, Value) {
    let answer = invoke_lambda_event(app, PATH, authorization.as_deref(), body).await;
    (answer.status, answer.json)
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
