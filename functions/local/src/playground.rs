//! The rules playground: a page at `/` that makes the rules tangible. Pick a function, get a sample
//! callout (for a user and an application of the simulated tenant, or paste a capture), send it,
//! and see the token that was minted, the request, the answer with its status and latency, the
//! answer's conformance to Entra's contract, and the rule trace ([`entra_extensions::trace`]):
//! every rule evaluated, what it read (callout fields, Graph requests with URL and time, cache
//! hits), what it gave and which fallback it took. The rules file is edited in the page; a save is
//! checked first (errors at file:line:column with the fix) and a valid file is swapped in without
//! a restart. Fault switches make the simulated tenant's Graph slow, throttled, unavailable or down,
//! so the fallbacks show. "Save as test case" writes the callout and its answer for
//! `entra-hooks test`.
//!
//! Why in-process: a callout is sent through the same router the extension routes serve (token
//! check included), inside a trace capture; a trace cannot follow a request over HTTP. The page is
//! plain HTML with one small script and one stylesheet compiled into the binary: no CDN, no build
//! step, works offline. Every `/local/*` route and the page refuse with 403 unless the host is bound
//! to loopback ([`refuse_unless_loopback`]).

use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use entra_extensions::EventKind;
use entra_extensions::trace::{self, Trace};
use entra_sandbox::faults::RetryAfter;
use entra_sandbox::password_context::PasswordContextKey;
use entra_sandbox::{Fault, FaultRule, Sandbox};
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::{RulesSource, samples};

const PAGE: &str = include_str!("../assets/playground.html");
const SCRIPT: &str = include_str!("../assets/playground.js");
const STYLE: &str = include_str!("../assets/playground.css");

/// The functions the page can call, with their routes and events.
pub const FUNCTIONS: [(&str, &str, EventKind); 5] = [
    (
        "token-issuance-start",
        token_issuance_start::PATH,
        EventKind::TokenIssuanceStart,
    ),
    (
        "attribute-collection-start",
        attribute_collection_start::PATH,
        EventKind::AttributeCollectionStart,
    ),
    (
        "attribute-collection-submit",
        attribute_collection_submit::PATH,
        EventKind::AttributeCollectionSubmit,
    ),
    (
        "email-otp-send",
        email_otp_send::PATH,
        EventKind::EmailOtpSend,
    ),
    (
        "password-submit",
        password_submit::PATH,
        EventKind::PasswordSubmit,
    ),
];

/// Client applications a sample can be addressed from: the demo app the examples scope rules to,
/// Microsoft's sample app, and one no rule names.
pub const APPS: [(&str, &str); 3] = [
    (samples::DEMO_CLIENT_APP_ID, "Contoso Shop"),
    (
        "00001111-aaaa-2222-bbbb-3333cccc4444",
        "My Test application",
    ),
    ("3f9c2a71-0b4e-4d2a-9c1e-5a7b8d6e4f20", "Partner Portal"),
];

/// The fault switches: name, label, and what the simulated tenant's Graph does.
pub const FAULTS: [(&str, &str); 5] = [
    ("none", "healthy"),
    ("slow", "slow Graph (2 s per request)"),
    ("throttled", "429 Too Many Requests"),
    ("unavailable", "503 Service Unavailable"),
    ("down", "Graph down (connections dropped)"),
];

/// The playground's state: the rules, the functions built from them, and the fault switch.
pub struct Playground {
    sandbox: Arc<Sandbox>,
    rules: Mutex<RulesSource>,
    functions: RwLock<Router>,
    mail_dir: PathBuf,
    password_key: Arc<PasswordContextKey>,
    cases_dir: PathBuf,
    fault: Mutex<&'static str>,
}

impl Playground {
    pub(crate) fn new(
        sandbox: Arc<Sandbox>,
        rules: RulesSource,
        functions: Router,
        mail_dir: PathBuf,
        password_key: Arc<PasswordContextKey>,
        cases_dir: PathBuf,
    ) -> Self {
        Self {
            sandbox,
            rules: Mutex::new(rules),
            functions: RwLock::new(functions),
            mail_dir,
            password_key,
            cases_dir,
            fault: Mutex::new("none"),
        }
    }

    fn functions(&self) -> Router {
        self.functions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// 403 for the page and every `/local/*` route when the host listens beyond loopback: they mint
/// tokens, create users and rewrite the rules, which nobody else may do.
pub async fn refuse_unless_loopback(
    State(bind): State<IpAddr>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let local_only = path == "/" || path == "/local" || path.starts_with("/local/");
    if local_only && !bind.is_loopback() {
        return (
            StatusCode::FORBIDDEN,
            format!(
                "{path} is local only: the host is bound to {bind}, not loopback. \
                 Restart it with --bind 127.0.0.1 to use the playground and the /local routes."
            ),
        )
            .into_response();
    }
    next.run(request).await
}

/// The extension routes, answered by the functions as currently built.
pub(crate) fn dispatch_router(playground: Arc<Playground>) -> Router {
    async fn dispatch(State(playground): State<Arc<Playground>>, request: Request) -> Response {
        match playground.functions().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
    Router::new()
        .route("/extensions/{*function}", any(dispatch))
        .with_state(playground)
}

/// The page and its API.
pub(crate) fn router(playground: Arc<Playground>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/local/playground", get(page))
        .route("/local/playground/app.js", get(script))
        .route("/local/playground/app.css", get(style))
        .route("/local/playground/sample", get(sample))
        .route("/local/playground/rules", get(rules).post(save_rules))
        .route("/local/playground/send", post(send))
        .route("/local/playground/fault", post(set_fault))
        .route("/local/playground/cases", post(save_case))
        .with_state(playground)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn options(items: impl IntoIterator<Item = (String, String)>, selected: &str) -> String {
    items
        .into_iter()
        .map(|(value, label)| {
            let marked = if value == selected { " selected" } else { "" };
            format!(
                "<option value=\"{}\"{marked}>{}</option>",
                escape(&value),
                escape(&label)
            )
        })
        .collect()
}

/// The page, rendered with the tenant's users, the apps, the faults and the first function's
/// sample callout and rules.
async fn page(State(playground): State<Arc<Playground>>) -> Response {
    let first = FUNCTIONS[0].0;
    let users = playground.sandbox.users();
    let user_options = options(
        users.iter().filter_map(|user| {
            let id = user.get("id")?.as_str()?.to_owned();
            let name = user
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or(&id)
                .to_owned();
            Some((id, name))
        }),
        entra_sandbox::directory::DEMO_USER_ID,
    );
    let callout = sample_for(&playground, first, None, None)
        .map(|body| serde_json::to_string_pretty(&body).unwrap_or_default())
        .unwrap_or_default();
    let (rules_path, rules_text) = rules_of(&playground, first);
    let fault = *playground
        .fault
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let html = PAGE
        .replace(
            "{{functions}}",
            &options(
                FUNCTIONS
                    .iter()
                    .map(|(n, _, _)| (n.to_string(), n.to_string())),
                first,
            ),
        )
        .replace("{{users}}", &user_options)
        .replace(
            "{{apps}}",
            &options(
                APPS.iter()
                    .map(|(id, name)| (id.to_string(), format!("{name} ({id})"))),
                samples::DEMO_CLIENT_APP_ID,
            ),
        )
        .replace(
            "{{faults}}",
            &options(
                FAULTS.iter().map(|(n, l)| (n.to_string(), l.to_string())),
                fault,
            ),
        )
        .replace("{{callout}}", &escape(&callout))
        .replace("{{rules_path}}", &escape(&rules_path))
        .replace("{{rules}}", &escape(&rules_text))
        .replace(
            "{{cases_dir}}",
            &escape(&playground.cases_dir.display().to_string()),
        )
        .replace("{{tenant}}", &escape(playground.sandbox.tenant_id()));
    Html(html).into_response()
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": message.into() })),
    )
        .into_response()
}

fn known_function(name: &str) -> Option<(&'static str, &'static str, EventKind)> {
    FUNCTIONS.iter().copied().find(|(n, _, _)| *n == name)
}

#[derive(Deserialize)]
struct SampleQuery {
    function: String,
    user: Option<String>,
    app: Option<String>,
}

/// The sample callout of `function`, for `user` (token issuance) and from `app` when given.
fn sample_for(
    playground: &Playground,
    function: &str,
    user: Option<&str>,
    app: Option<&str>,
) -> Result<Value, Box<Response>> {
    let mut body = match (function, user) {
        ("token-issuance-start", Some(user)) => {
            let Some(found) = playground.sandbox.user(user) else {
                return Err(Box::new(bad_request(format!(
                    "no user {user} in the simulated tenant"
                ))));
            };
            let id = found.get("id").and_then(Value::as_str).unwrap_or(user);
            let name = found
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or(id);
            samples::token_issuance_start_for(playground.sandbox.config(), id, name)
        }
        _ => crate::sample_body(&playground.sandbox, &playground.password_key, function)?,
    };
    if let Some(app) = app
        && let Some((id, name)) = APPS.iter().find(|(id, _)| *id == app)
        && let Some(client) = body.pointer_mut("/data/authenticationContext/clientServicePrincipal")
    {
        client["appId"] = json!(id);
        client["appDisplayName"] = json!(name);
        client["displayName"] = json!(name);
    }
    Ok(body)
}

async fn sample(
    State(playground): State<Arc<Playground>>,
    Query(query): Query<SampleQuery>,
) -> Response {
    if known_function(&query.function).is_none() {
        return bad_request(format!("unknown function {}", query.function));
    }
    match sample_for(
        &playground,
        &query.function,
        query.user.as_deref(),
        query.app.as_deref(),
    ) {
        Ok(body) => axum::Json(body).into_response(),
        Err(response) => *response,
    }
}

/// The path and text of `function`'s rules file.
fn rules_of(playground: &Playground, function: &str) -> (String, String) {
    let rules = playground
        .rules
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = rules.path_for(function);
    let text = match &*rules {
        RulesSource::Examples(_, edited) if edited.contains_key(function) => {
            edited[function].text().to_owned()
        }
        _ => std::fs::read_to_string(&path).unwrap_or_default(),
    };
    (path.display().to_string(), text)
}

#[derive(Deserialize)]
struct FunctionQuery {
    function: String,
}

async fn rules(
    State(playground): State<Arc<Playground>>,
    Query(query): Query<FunctionQuery>,
) -> Response {
    if known_function(&query.function).is_none() {
        return bad_request(format!("unknown function {}", query.function));
    }
    let (path, text) = rules_of(&playground, &query.function);
    axum::Json(json!({ "path": path, "text": text })).into_response()
}

#[derive(Deserialize)]
struct SaveRules {
    function: String,
    text: String,
}

/// Checks the edited rules by building every function from them; only a valid file is written
/// and swapped in. 422 with the located errors otherwise.
async fn save_rules(
    State(playground): State<Arc<Playground>>,
    axum::Json(save): axum::Json<SaveRules>,
) -> Response {
    if known_function(&save.function).is_none() {
        return bad_request(format!("unknown function {}", save.function));
    }
    let candidate = {
        let rules = playground
            .rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rules.with_text(&save.function, &save.text)
    };
    let invalid = |errors: Vec<String>| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({ "errors": errors })),
        )
            .into_response()
    };
    let candidate = match candidate {
        Ok(candidate) => candidate,
        Err(error) => return invalid(error.to_string().lines().map(str::to_owned).collect()),
    };
    let built = crate::functions_router(
        &playground.sandbox,
        &candidate,
        &playground.mail_dir,
        &playground.password_key,
    );
    let functions = match built {
        Ok(functions) => functions,
        Err(error) => {
            return invalid(format!("{error:#}").lines().map(str::to_owned).collect());
        }
    };
    let path = candidate.path_for(&save.function);
    if let Err(error) = std::fs::write(&path, &save.text) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({ "errors": [format!("the rules are valid but could not be written to {}: {error}", path.display())] })),
        )
            .into_response();
    }
    *playground
        .functions
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = functions;
    *playground
        .rules
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = candidate;
    tracing::info!(path = %path.display(), "rules saved from the playground and reloaded");
    axum::Json(json!({
        "saved": path.display().to_string(),
        "message": format!("valid; saved to {} and reloaded (no restart)", path.display()),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct SendCallout {
    function: String,
    /// The callout body as the user edited it (sent as is, even if it is not JSON).
    callout: String,
}

/// One call through the current functions, with its trace.
struct Sent {
    token: Value,
    path: &'static str,
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
    latency: Duration,
    kind: EventKind,
    trace: Trace,
}

async fn call(
    playground: &Playground,
    function: &str,
    callout: &str,
) -> Result<Sent, Box<Response>> {
    let Some((_, path, kind)) = known_function(function) else {
        return Err(Box::new(bad_request(format!(
            "unknown function {function}"
        ))));
    };
    let token = playground.sandbox.extension_token().sign();
    let decoded = decode_token(&token);
    let request = match Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(callout.to_owned()))
    {
        Ok(request) => request,
        Err(error) => return Err(Box::new(bad_request(error.to_string()))),
    };
    let functions = playground.functions();
    let started = Instant::now();
    let (answered, trace) = trace::capture(functions.oneshot(request)).await;
    let latency = started.elapsed();
    let response = match answered {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = axum::body::to_bytes(response.into_body(), 1024 * 1024)
        .await
        .map(|bytes| bytes.to_vec())
        .unwrap_or_default();
    Ok(Sent {
        token: decoded,
        path,
        status,
        content_type,
        body,
        latency,
        kind,
        trace,
    })
}

/// The header and claims of a compact JWS (the signature is not shown).
fn decode_token(token: &str) -> Value {
    let part = |index: usize| {
        token
            .split('.')
            .nth(index)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .unwrap_or(Value::Null)
    };
    json!({ "header": part(0), "claims": part(1) })
}

/// What Entra would make of the answer.
fn verdict(sent: &Sent) -> Value {
    match sent.status {
        200 => match serde_json::from_slice::<Value>(&sent.body) {
            Ok(body) => match entra_extensions::check_response(sent.kind, &body) {
                Ok(()) => {
                    json!({ "ok": true, "text": "conforms to Entra's contract for this event" })
                }
                Err(error) => json!({ "ok": false, "text": error.to_string() }),
            },
            Err(error) => {
                json!({ "ok": false, "text": format!("the 200 body is not JSON: {error}") })
            }
        },
        status if status >= 500 => json!({
            "ok": true,
            "text": format!("HTTP {status}: Entra's failure path (token issuance fails the sign-in; email OTP falls back to Microsoft's provider)")
        }),
        status => json!({
            "ok": false,
            "text": format!("HTTP {status}: Entra treats it as a failed call (a bad callout or token)")
        }),
    }
}

async fn send(
    State(playground): State<Arc<Playground>>,
    axum::Json(send): axum::Json<SendCallout>,
) -> Response {
    let sent = match call(&playground, &send.function, &send.callout).await {
        Ok(sent) => sent,
        Err(response) => return *response,
    };
    let body_text = String::from_utf8_lossy(&sent.body).into_owned();
    let body_json = serde_json::from_slice::<Value>(&sent.body).ok();
    let fault = *playground
        .fault
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    axum::Json(json!({
        "token": sent.token,
        "request": {
            "method": "POST",
            "url": sent.path,
            "headers": {
                "Authorization": "Bearer <the token above>",
                "Content-Type": "application/json",
            },
            "body": send.callout,
        },
        "response": {
            "status": sent.status,
            "content_type": sent.content_type,
            "body": body_json.unwrap_or(Value::String(body_text)),
        },
        "latency_ms": (sent.latency.as_secs_f64() * 10_000.0).round() / 10.0,
        "conformance": verdict(&sent),
        "fallback": sent.trace.fallback_taken(),
        "fault": fault,
        "trace": sent.trace,
        "trace_text": sent.trace.to_string(),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct SetFault {
    fault: String,
}

/// Applies a fault switch to every Graph route of the simulated tenant (the token endpoint stays
/// healthy, so what the page shows is Graph's failure, not sign-in to Graph).
async fn set_fault(
    State(playground): State<Arc<Playground>>,
    axum::Json(set): axum::Json<SetFault>,
) -> Response {
    let Some((name, label)) = FAULTS.iter().copied().find(|(n, _)| *n == set.fault) else {
        return bad_request(format!(
            "unknown fault {}; use none, slow, throttled, unavailable or down",
            set.fault
        ));
    };
    let faults = playground.sandbox.faults();
    faults.clear();
    let fault = match name {
        "slow" => Some(Fault::Delay(Duration::from_secs(2))),
        "throttled" => Some(Fault::TooManyRequests {
            retry_after: Some(RetryAfter::Seconds(1)),
        }),
        "unavailable" => Some(Fault::ServiceUnavailable { retry_after: None }),
        "down" => Some(Fault::DropConnection),
        _ => None,
    };
    if let Some(fault) = fault {
        faults.add(FaultRule::new("/v1.0/", fault, None));
    }
    *playground
        .fault
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = name;
    axum::Json(json!({ "fault": name, "label": label })).into_response()
}

#[derive(Deserialize)]
struct SaveCase {
    function: String,
    callout: String,
    name: Option<String>,
}

/// Sends the callout once more (so the expected answer is what the rules give now) and writes it
/// as a case for `entra-hooks test`. Refused while a fault is on: the test replays against a
/// healthy tenant.
async fn save_case(
    State(playground): State<Arc<Playground>>,
    axum::Json(save): axum::Json<SaveCase>,
) -> Response {
    let fault = *playground
        .fault
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if fault != "none" {
        return bad_request(
            "turn the fault switch back to healthy first: entra-hooks test replays against a healthy simulated tenant",
        );
    }
    let Ok(callout) = serde_json::from_str::<Value>(&save.callout) else {
        return bad_request(
            "the callout is not JSON; a test case needs a callout Entra could send",
        );
    };
    let sent = match call(&playground, &save.function, &save.callout).await {
        Ok(sent) => sent,
        Err(response) => return *response,
    };
    if sent.status != 200 && sent.status < 500 {
        return bad_request(format!(
            "the callout was answered {}: fix it before saving it as a case",
            sent.status
        ));
    }
    let response = serde_json::from_slice::<Value>(&sent.body).unwrap_or(Value::Null);
    let name = save
        .name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("{} {}", save.function, time_stamp()));
    let cases_dir = &playground.cases_dir;
    if let Err(error) = std::fs::create_dir_all(cases_dir) {
        return bad_request(format!("cannot create {}: {error}", cases_dir.display()));
    }
    let rules_path = playground
        .rules
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .path_for(&save.function);
    let mut case = json!({
        "function": save.function,
        "name": name,
        "rules": relative_path(cases_dir, &rules_path),
        "callout": callout,
        "expect": { "status": sent.status, "response": response },
    });
    if save.function == "password-submit" {
        // The captured context is encrypted to this host's throwaway key; the test decides on
        // the sample's sign-in instead.
        case["sign_in"] =
            json!({ "username": samples::LEGACY_USERNAME, "password": samples::LEGACY_PASSWORD });
    }
    let file = cases_dir.join(format!("{}.json", slug(&name)));
    let text = serde_json::to_string_pretty(&case).unwrap_or_default() + "\n";
    if let Err(error) = std::fs::write(&file, text) {
        return bad_request(format!("cannot write {}: {error}", file.display()));
    }
    axum::Json(json!({
        "saved": file.display().to_string(),
        "message": format!(
            "saved {}; run: cargo run -p entra-infra --bin entra-hooks -- test {}",
            file.display(),
            cases_dir.display()
        ),
    }))
    .into_response()
}

fn time_stamp() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A file name from a case name: lower-case letters, digits and dashes.
pub fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "case".to_owned()
    } else {
        slug.chars().take(80).collect()
    }
}

/// `target` relative to `from` (both made absolute first), so a case keeps working when the
/// repository moves; the absolute path when they share no root.
pub fn relative_path(from: &Path, target: &Path) -> String {
    let absolute = |path: &Path| {
        std::path::absolute(path)
            .map(|p| normalize(&p))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let (from, target) = (absolute(from), absolute(target));
    let from_parts: Vec<_> = from.components().collect();
    let target_parts: Vec<_> = target.components().collect();
    let common = from_parts
        .iter()
        .zip(&target_parts)
        .take_while(|(a, b)| a == b)
        .count();
    if common == 0 {
        return target.display().to_string();
    }
    let mut relative = PathBuf::new();
    for _ in common..from_parts.len() {
        relative.push("..");
    }
    for part in &target_parts[common..] {
        relative.push(part);
    }
    relative.display().to_string()
}

/// Removes `.` and folds `..` lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_and_slugs() {
        assert_eq!(
            relative_path(
                Path::new("/repo/rules"),
                Path::new("/repo/conf/x/../y/r.toml")
            ),
            ["..", "conf", "y", "r.toml"].join("/")
        );
        assert_eq!(
            relative_path(
                Path::new("/repo/rules"),
                Path::new("/repo/rules/rules.toml")
            ),
            "rules.toml"
        );
        assert_eq!(slug("Ava gets Gold! (v2)"), "ava-gets-gold-v2");
        assert_eq!(slug("!!!"), "case");
    }

    #[tokio::test]
    async fn local_routes_refuse_unless_the_host_is_on_loopback() {
        let app = |bind: IpAddr| {
            Router::new()
                .route("/", get(|| async { "page" }))
                .route("/local/token", get(|| async { "token" }))
                .route("/health", get(|| async { "ok" }))
                .layer(axum::middleware::from_fn_with_state(
                    bind,
                    refuse_unless_loopback,
                ))
        };
        let status = |bind: IpAddr, path: &'static str| {
            let app = app(bind);
            async move {
                app.oneshot(Request::get(path).body(Body::empty()).unwrap())
                    .await
                    .unwrap()
            }
        };
        let public: IpAddr = "0.0.0.0".parse().unwrap();
        for path in ["/", "/local/token"] {
            let refused = status(public, path).await;
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
            let text = axum::body::to_bytes(refused.into_body(), 4096)
                .await
                .unwrap();
            assert!(String::from_utf8_lossy(&text).contains("local only"));
            assert_eq!(
                status("127.0.0.1".parse().unwrap(), path).await.status(),
                StatusCode::OK
            );
            assert_eq!(
                status("::1".parse().unwrap(), path).await.status(),
                StatusCode::OK
            );
        }
        assert_eq!(status(public, "/health").await.status(), StatusCode::OK);
    }
}
