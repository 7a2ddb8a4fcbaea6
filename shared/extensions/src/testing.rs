//! Test support for the extension functions (feature `test-support`, for `[dev-dependencies]`
//! only): the one way the five functions' tests drive a router through the Lambda event path,
//! callout guards bound to a test tenant, Microsoft's payload vectors, and rules-file checks.
//!
//! [`sandbox_guard`] trusts a simulated tenant (`entra_sandbox`) on loopback, so the tests' tokens
//! are real and signed with real keys.
//!
//! The Lambda event path is the one AWS uses: an API Gateway HTTP API (payload format 2.0) event,
//! as in the aws-lambda-rust-runtime fixtures, converted by `lambda_http::request::from_str` and
//! routed by the function's own router, so the tests cover what lambda_http hands the router in
//! production, not only a hand-built `http::Request`.
//!
//! Everything here panics on failure: it runs inside tests, where a panic is the test failing.

use std::fmt::Debug;
use std::path::PathBuf;

use axum::body::Body;
use entra_sandbox::Sandbox;
use entra_tokens::{CallerPolicy, KeySet, TokenValidator};
use http::HeaderMap;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{CalloutGuard, EventKind, RulesFile, ValidateRules};

/// An API Gateway HTTP API (v2) proxy event, copied from aws-lambda-rust-runtime's fixtures;
/// [`invoke_lambda_event`] readdresses it and puts the callout in it.
const APIGW_V2_PROXY_REQUEST: &str = include_str!("../fixtures/apigw_v2_proxy_request.json");

/// What a router answered to one Lambda event.
#[derive(Debug, Clone)]
pub struct LambdaAnswer {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body as JSON; `Value::Null` when it is not JSON.
    pub json: Value,
}

/// Sends `body` to `app` as API Gateway would deliver a `POST path` to Lambda, with `authorization`
/// as the `Authorization` header (none when `None`) and `content-type: application/json`.
/// Checks that every 200 answer is `application/json`, as Entra requires.
pub async fn invoke_lambda_event(
    app: axum::Router,
    path: &str,
    authorization: Option<&str>,
    body: impl Into<String>,
) -> LambdaAnswer {
    let mut event: Value = serde_json::from_str(APIGW_V2_PROXY_REQUEST).unwrap();
    event["rawPath"] = json!(path);
    event["rawQueryString"] = json!("");
    event["queryStringParameters"] = json!({});
    event["requestContext"]["http"]["path"] = json!(path);
    let mut headers = json!({ "content-type": "application/json" });
    if let Some(value) = authorization {
        headers["authorization"] = json!(value);
    }
    event["headers"] = headers;
    event["body"] = json!(body.into());
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(parts, Body::from(body.to_vec()));
    let response = app.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    if status == 200 {
        assert_eq!(headers["content-type"], "application/json");
    }
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    LambdaAnswer {
        status,
        headers,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// Asserts `app` refuses `body` with no token, a malformed one and `foreign_token` (signed by the
/// right tenant, but for another caller) alike: 401, the generic body (no detail for the caller)
/// and a `Bearer` challenge. `app` builds a fresh router per call.
pub async fn assert_bad_tokens_refused(
    app: impl Fn() -> axum::Router,
    path: &str,
    foreign_token: &str,
    body: &str,
) {
    let foreign = format!("Bearer {foreign_token}");
    for authorization in [None, Some("Bearer not-a-jwt"), Some(foreign.as_str())] {
        let answer = invoke_lambda_event(app(), path, authorization, body).await;
        assert_eq!(answer.status, 401, "{authorization:?}");
        assert_eq!(
            answer.json,
            json!({"error": {"code": "unauthorized", "message": "unauthorized"}}),
            "{authorization:?}"
        );
        assert_eq!(
            answer.headers["www-authenticate"], "Bearer",
            "{authorization:?}"
        );
    }
}

/// Asserts the 400 answers every endpoint gives, with a valid `authorization` header value, to
/// bodies that are not its callout: truncated JSON and XML (`malformed_json`), an event type Entra
/// does not define (`unknown_event_type`), and `request` (a valid callout) retyped as
/// `other_event` (`wrong_event_type`). `app` builds a fresh router per call.
pub async fn assert_foreign_bodies_refused(
    app: impl Fn() -> axum::Router,
    path: &str,
    authorization: &str,
    request: &Value,
    other_event: EventKind,
) {
    let mut other = request.clone();
    other["type"] = json!(other_event.request_type());
    let cases = [
        ("{\"type\": ".to_owned(), "malformed_json"),
        ("<xml/>".to_owned(), "malformed_json"),
        (other.to_string(), "wrong_event_type"),
        (
            json!({"type": "something.else", "data": {}}).to_string(),
            "unknown_event_type",
        ),
    ];
    for (body, code) in cases {
        let answer = invoke_lambda_event(app(), path, Some(authorization), body).await;
        assert_error(&answer, 400, code);
    }
}

/// Asserts `answer` is the error `status` with the stable `error.code` the caller can act on.
pub fn assert_error(answer: &LambdaAnswer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{code}: {}", answer.json);
    assert_eq!(answer.json["error"]["code"], code, "{}", answer.json);
}

/// A guard that accepts Entra extension-callback tokens for `tenant_id` and `audiences`, with the
/// signing keys from `discovery_url` (a simulated tenant's) and no extension allow-list.
pub fn test_guard(
    discovery_url: url::Url,
    tenant_id: &str,
    audiences: Vec<String>,
) -> CalloutGuard {
    let policy = CallerPolicy::extension_callback(tenant_id, audiences);
    let keys = KeySet::new(discovery_url, reqwest::Client::new());
    CalloutGuard::new(TokenValidator::new(policy, keys), Vec::new())
}

/// A guard that trusts the extension tokens `sandbox` (a simulated tenant on loopback) signs.
pub fn sandbox_guard(sandbox: &Sandbox) -> CalloutGuard {
    let config = sandbox.config();
    test_guard(
        sandbox.discovery_url(),
        &config.tenant_id,
        vec![config.extension_app_id.clone()],
    )
}

/// A guard for tests that only call a function's `decide`: it never validates anything.
pub fn unused_guard() -> CalloutGuard {
    CalloutGuard::refusing_every_caller()
}

/// Microsoft's payload samples, kept in the repository at `tests/vectors/extension-callbacks`.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/extension-callbacks")
}

/// The vector at `relative` (e.g. `docs/tokenIssuanceStart.request.json`) as JSON.
pub fn vector(relative: &str) -> Value {
    let path = vectors_dir().join(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A request vector addressed to `tenant_id` (`data.tenantId`), so a guard for that tenant binds it.
pub fn request_for(relative: &str, tenant_id: &str) -> Value {
    let mut body = vector(relative);
    body["data"]["tenantId"] = json!(tenant_id);
    body
}

/// Section `name` of the rules file `text`, parsed and validated.
pub fn parse_rules<T>(text: &str, name: &'static str) -> T
where
    T: DeserializeOwned + Default + ValidateRules,
{
    RulesFile::parse(text, "rules.toml")
        .unwrap()
        .section(name)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The problems reported for section `name` of `text`, which must be refused: each as (line,
/// key, "message; fix: fix").
pub fn rules_problems<T>(text: &str, name: &'static str) -> Vec<(Option<usize>, String, String)>
where
    T: DeserializeOwned + Default + ValidateRules + Debug,
{
    let error = RulesFile::parse(text, "rules.toml")
        .unwrap()
        .section::<T>(name)
        .expect_err("the section should be refused");
    error
        .problems()
        .iter()
        .map(|p| {
            (
                p.position.map(|(line, _)| line),
                p.key.clone(),
                format!("{}; fix: {}", p.message, p.fix.clone().unwrap_or_default()),
            )
        })
        .collect()
}

/// Asserts section `name` of `text` is refused with exactly one problem, on `line`, whose key and
/// message contain the given fragments.
pub fn assert_one_rules_problem<T>(
    text: &str,
    name: &'static str,
    line: usize,
    key: &str,
    message: &str,
) where
    T: DeserializeOwned + Default + ValidateRules + Debug,
{
    let problems = rules_problems::<T>(text, name);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let (at, found_key, found_message) = &problems[0];
    assert_eq!(*at, Some(line), "{problems:#?}");
    assert!(found_key.contains(key), "{problems:#?}");
    assert!(found_message.contains(message), "{problems:#?}");
}

/// A [`sandbox_guard`] whose metrics lines are kept in memory, and the handle to read them.
pub fn sandbox_guard_with_metrics(
    sandbox: &Sandbox,
) -> (CalloutGuard, std::sync::Arc<crate::metrics::MemoryWriter>) {
    let (sink, lines) = crate::metrics::MetricsSink::memory();
    (sandbox_guard(sandbox).with_metrics(sink), lines)
}

/// The metrics a callout line declares, with their units.
const CALLOUT_METRICS: [(&str, &str); 6] = [
    ("CalloutLatency", "Milliseconds"),
    ("Callouts", "Count"),
    ("CalloutFallback", "Count"),
    ("CalloutServerError", "Count"),
    ("GraphCalls", "Count"),
    ("GraphTime", "Milliseconds"),
];

/// Takes the lines `writer` holds, asserts there is exactly one, that it is valid EMF in the
/// `EntraHooks` namespace (one directive; every declared metric a number member with the
/// documented unit, every number member but `Status` declared; every dimension a string member;
/// `Function` = `function`), and returns it parsed. A callout line must declare exactly the six
/// callout metrics, a rejection line exactly `TokenRejected`.
pub fn single_metrics_line(writer: &crate::metrics::MemoryWriter, function: &str) -> Value {
    let lines = writer.take();
    assert_eq!(lines.len(), 1, "expected one metrics line: {lines:#?}");
    let line: Value = serde_json::from_str(&lines[0]).unwrap();
    let directives = line["_aws"]["CloudWatchMetrics"].as_array().unwrap();
    assert_eq!(directives.len(), 1, "{line}");
    let directive = &directives[0];
    assert_eq!(directive["Namespace"], crate::metrics::NAMESPACE);
    assert!(line["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
    let declared: Vec<(String, String)> = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|metric| {
            let name = metric["Name"].as_str().unwrap().to_owned();
            assert!(
                line[&name].is_number(),
                "{name} declared but absent: {line}"
            );
            (name, metric["Unit"].as_str().unwrap().to_owned())
        })
        .collect();
    let expected: Vec<(String, String)> = if line.get("TokenRejected").is_some() {
        vec![("TokenRejected".to_owned(), "Count".to_owned())]
    } else {
        CALLOUT_METRICS
            .iter()
            .map(|(name, unit)| ((*name).to_owned(), (*unit).to_owned()))
            .collect()
    };
    assert_eq!(declared, expected, "{line}");
    for (name, value) in line.as_object().unwrap() {
        if value.is_number() && name != "Status" {
            assert!(
                declared.iter().any(|(declared, _)| declared == name),
                "{name} is a number but not declared: {line}"
            );
        }
    }
    for set in directive["Dimensions"].as_array().unwrap() {
        for dimension in set.as_array().unwrap() {
            let dimension = dimension.as_str().unwrap();
            assert!(line[dimension].is_string(), "{dimension}: {line}");
        }
    }
    assert_eq!(line["Function"], function, "{line}");
    line
}
