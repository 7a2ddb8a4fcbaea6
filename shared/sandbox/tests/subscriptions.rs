//! `/v1.0/subscriptions` and the webhook deliveries over real HTTP: a tiny receiver runs on
//! loopback inside each test, answers the validation handshake and records every POST, exactly as
//! our notification receiver would see Graph (docs/protocols/change-notifications.md A-D).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_lc_rs::cipher::{AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{KeySize, OAEP_SHA1_MGF1SHA1, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use axum::body::Bytes;
use axum::http::{HeaderMap, Uri};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use entra_sandbox::directory::{DEMO_GROUP_SILVER_ID, DEMO_USER_ID};
use entra_sandbox::faults::{Fault, FaultRule, RetryAfter};
use entra_sandbox::subscriptions::{
    MAX_SUBSCRIPTIONS_PER_APP, VALIDATION_MISMATCH_MESSAGE, VALIDATION_NOT_OK_MESSAGE,
    VALIDATION_TIMEOUT_MESSAGE,
};
use entra_sandbox::{
    DeliveryKind, GRAPH_CHANGE_TRACKING_APP_ID, LifecycleEvent, RetryPolicy, Sandbox,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The test's webhook endpoint
// ---------------------------------------------------------------------------------------------

/// How the receiver answers the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Echo {
    /// 200, `text/plain`, the decoded token: what a correct receiver does.
    Exact,
    /// 200 with the token still URL-encoded: the classic bug.
    Encoded,
    /// 500, no token.
    Fail,
    /// The right answer, a second late.
    Slow,
}

#[derive(Debug, Clone)]
struct Received {
    path: String,
    query: Option<String>,
    content_type: Option<String>,
    /// The body exactly as received.
    raw: String,
    body: Value,
}

#[derive(Debug)]
struct ReceiverState {
    echo: Echo,
    /// `(path, decoded token, content type, body)` of each handshake.
    validations: Vec<(String, String, Option<String>, String)>,
    posts: Vec<Received>,
    /// Statuses for the next notification POSTs; `202` once empty.
    script: VecDeque<u16>,
}

struct Receiver {
    base: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState {
            echo: Echo::Exact,
            validations: Vec::new(),
            posts: Vec::new(),
            script: VecDeque::new(),
        }));
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = shared.clone();
            async move {
                let slow = state.lock().unwrap().echo == Echo::Slow;
                if slow && uri.query().is_some_and(|q| q.contains("validationToken=")) {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                receive(&state, &uri, &headers, &body)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, state }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn set_echo(&self, echo: Echo) {
        self.state.lock().unwrap().echo = echo;
    }

    fn answer_next(&self, statuses: &[u16]) {
        self.state.lock().unwrap().script.extend(statuses);
    }

    fn validations(&self) -> Vec<(String, String, Option<String>, String)> {
        self.state.lock().unwrap().validations.clone()
    }

    fn posts(&self) -> Vec<Received> {
        self.state.lock().unwrap().posts.clone()
    }

    fn posts_to(&self, path: &str) -> Vec<Received> {
        self.posts()
            .into_iter()
            .filter(|p| p.path == path)
            .collect()
    }

    fn clear(&self) {
        let mut state = self.state.lock().unwrap();
        state.posts.clear();
        state.validations.clear();
    }
}

fn receive(
    state: &Mutex<ReceiverState>,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> axum::response::Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let query = uri.query().map(str::to_owned);
    let token = url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "validationToken")
        .map(|(_, value)| value.into_owned());
    let mut state = state.lock().unwrap();
    if let Some(token) = token {
        // Answered before any JSON parsing (A.2).
        state.validations.push((
            uri.path().to_owned(),
            token.clone(),
            content_type,
            String::from_utf8_lossy(body).into_owned(),
        ));
        return match state.echo {
            Echo::Exact | Echo::Slow => (
                axum::http::StatusCode::OK,
                [("content-type", "text/plain; charset=utf-8")],
                token,
            )
                .into_response(),
            Echo::Encoded => (
                axum::http::StatusCode::OK,
                [("content-type", "text/plain; charset=utf-8")],
                url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>(),
            )
                .into_response(),
            Echo::Fail => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
    }
    let raw = String::from_utf8_lossy(body).into_owned();
    state.posts.push(Received {
        path: uri.path().to_owned(),
        query,
        content_type,
        body: serde_json::from_str(&raw).unwrap_or(Value::Null),
        raw,
    });
    let status = state.script.pop_front().unwrap_or(202);
    axum::http::StatusCode::from_u16(status)
        .unwrap()
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// The tenant and Graph calls
// ---------------------------------------------------------------------------------------------

struct Tenant {
    sandbox: Sandbox,
    client: reqwest::Client,
    token: String,
    receiver: Receiver,
}

async fn tenant() -> Tenant {
    let sandbox = Sandbox::start_default().await.unwrap();
    sandbox
        .subscriptions()
        .set_retry_policy(RetryPolicy::fast(3));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let config = sandbox.config().clone();
    // A token from the token endpoint, so `applicationId` comes from a real client-credentials call.
    let response = client
        .post(sandbox.token_endpoint_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", config.graph_client_id.as_str()),
            ("client_secret", config.graph_client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    Tenant {
        sandbox,
        client,
        token,
        receiver: Receiver::start().await,
    }
}

/// `expirationDateTime` `minutes` from now.
fn in_minutes(minutes: u64) -> String {
    let at = time::OffsetDateTime::from(SystemTime::now() + Duration::from_secs(minutes * 60));
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn parse_time(text: &str) -> SystemTime {
    SystemTime::from(
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap(),
    )
}

fn seconds_between(a: SystemTime, b: SystemTime) -> f64 {
    match a.duration_since(b) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

impl Tenant {
    fn graph(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.graph_url())
    }

    async fn send_as(&self, token: &str, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.bearer_auth(token).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        self.send_as(&self.token, request).await
    }

    async fn subscribe(&self, body: Value) -> (StatusCode, Value) {
        self.send(self.client.post(self.graph("subscriptions")).json(&body))
            .await
    }

    /// A basic subscription body for `resource` delivering to the receiver's `path`.
    fn body(&self, path: &str, resource: &str, change_type: &str) -> Value {
        json!({
            "changeType": change_type,
            "notificationUrl": self.receiver.url(path),
            "resource": resource,
            "expirationDateTime": in_minutes(24 * 60),
            "clientState": "secretClientValue",
        })
    }

    /// Creates a subscription that must succeed; returns its id.
    async fn subscribe_ok(&self, body: Value) -> String {
        let (status, created) = self.subscribe(body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["id"].as_str().unwrap().to_owned()
    }

    async fn create_user(&self, name: &str) -> String {
        let (status, user) = self
            .send(
                self.client
                    .post(self.graph("users"))
                    .json(&json!({"displayName": name})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        user["id"].as_str().unwrap().to_owned()
    }

    async fn update_user(&self, id: &str, patch: Value) {
        let response = self
            .client
            .patch(self.graph(&format!("users/{id}")))
            .bearer_auth(&self.token)
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    async fn delete_user(&self, id: &str) {
        let response = self
            .client
            .delete(self.graph(&format!("users/{id}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    async fn idle(&self) {
        tokio::time::timeout(
            Duration::from_secs(20),
            self.sandbox.subscriptions().wait_idle(),
        )
        .await
        .expect("deliveries finish");
    }
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

/// Asserts the members appear in the raw JSON text in this order.
fn in_order(raw: &str, members: &[&str]) {
    let positions: Vec<usize> = members
        .iter()
        .map(|m| {
            raw.find(&format!("\"{m}\":"))
                .unwrap_or_else(|| panic!("{m} missing in {raw}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{members:?} out of order in {raw}"
    );
}

// ---------------------------------------------------------------------------------------------
// Creation and the handshake
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_runs_the_handshake_and_answers_201_in_the_documented_shape() {
    let t = tenant().await;
    let notify = t.receiver.url("/notify?source=graph&x=a%20b");
    let lifecycle = t.receiver.url("/lifecycle");
    let (status, created) = t
        .subscribe(json!({
            "changeType": "updated,deleted",
            "notificationUrl": notify,
            "lifecycleNotificationUrl": lifecycle,
            "resource": "/users",
            "expirationDateTime": in_minutes(41_700),
            "clientState": "secretClientValue",
        }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // The documented response members (D.1), plus the other v1.0 properties.
    for member in [
        "@odata.context",
        "id",
        "resource",
        "applicationId",
        "changeType",
        "clientState",
        "notificationUrl",
        "expirationDateTime",
        "creatorId",
        "latestSupportedTlsVersion",
        "notificationContentType",
    ] {
        assert!(created.get(member).is_some(), "{member} missing: {created}");
    }
    assert_eq!(
        created["@odata.context"],
        format!(
            "{}v1.0/$metadata#subscriptions/$entity",
            t.sandbox.url().as_str()
        )
    );
    assert_eq!(created["applicationId"], t.sandbox.config().graph_client_id);
    assert_eq!(created["resource"], "users");
    assert_eq!(created["changeType"], "updated,deleted");
    assert_eq!(created["clientState"], "secretClientValue");
    assert_eq!(created["notificationUrl"], notify);
    assert_eq!(created["lifecycleNotificationUrl"], lifecycle);
    assert_eq!(created["latestSupportedTlsVersion"], "v1_2");
    assert_eq!(created["notificationContentType"], "application/json");
    assert_eq!(created["includeResourceData"], false);
    assert!(uuid::Uuid::parse_str(created["id"].as_str().unwrap()).is_ok());
    assert!(uuid::Uuid::parse_str(created["creatorId"].as_str().unwrap()).is_ok());
    let expiry = created["expirationDateTime"].as_str().unwrap();
    assert_eq!(
        expiry.len(),
        "2016-11-20T18:23:45.9356913Z".len(),
        "{expiry}"
    );

    // Both URLs were validated, each with the observed token form, text/plain and an empty body;
    // the notification URL's own query was kept.
    let validations = t.receiver.validations();
    assert_eq!(validations.len(), 2);
    let (path, token, content_type, body) = &validations[0];
    assert_eq!(path, "/notify");
    assert!(
        token.starts_with(
            "Validation: Testing client application reachability for subscription Request-Id: "
        ),
        "{token}"
    );
    assert!(uuid::Uuid::parse_str(token.rsplit(' ').next().unwrap()).is_ok());
    assert_eq!(content_type.as_deref(), Some("text/plain; charset=utf-8"));
    assert!(body.is_empty());
    assert_eq!(validations[1].0, "/lifecycle");

    let logged = t
        .sandbox
        .subscriptions()
        .attempts_of(DeliveryKind::Validation);
    assert_eq!(logged.len(), 2);
    assert!(
        logged[0]
            .url
            .contains("?source=graph&x=a%20b&validationToken=Validation%3A%20Testing")
    );
    assert_eq!(logged[0].status, Some(200));

    // GET answers the same object; the sandbox API sees it too.
    let id = created["id"].as_str().unwrap();
    let (status, fetched) = t
        .send(t.client.get(t.graph(&format!("subscriptions/{id}"))))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);
    let stored = t.sandbox.subscriptions().get(id).unwrap();
    assert_eq!(
        stored.to_json()["expirationDateTime"],
        created["expirationDateTime"]
    );
}

#[tokio::test]
async fn a_wrong_handshake_answer_fails_the_create_with_graphs_message() {
    let t = tenant().await;
    t.receiver.set_echo(Echo::Encoded);
    let (status, body) = t.subscribe(t.body("/notify", "users", "updated")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "InvalidRequest");
    assert_eq!(body["error"]["message"], VALIDATION_MISMATCH_MESSAGE);
    assert_eq!(
        VALIDATION_MISMATCH_MESSAGE,
        "Subscription validation request failed. Response must exactly match validationToken query parameter."
    );

    t.receiver.set_echo(Echo::Fail);
    let (status, body) = t.subscribe(t.body("/notify", "users", "updated")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], VALIDATION_NOT_OK_MESSAGE);

    // Nobody listening at all.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut unreachable = t.body("/notify", "users", "updated");
    unreachable["notificationUrl"] = json!(format!("http://{closed}/notify"));
    let (status, body) = t.subscribe(unreachable).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], VALIDATION_NOT_OK_MESSAGE);

    // Too slow (the 10 s limit, shortened here).
    t.receiver.set_echo(Echo::Slow);
    t.sandbox
        .subscriptions()
        .set_validation_timeout(Duration::from_millis(200));
    let (status, body) = t.subscribe(t.body("/notify", "users", "updated")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], VALIDATION_TIMEOUT_MESSAGE);

    // A failing lifecycle URL fails the create too.
    t.receiver.set_echo(Echo::Exact);
    let mut body = t.body("/notify", "users", "updated");
    body["lifecycleNotificationUrl"] = json!(format!("http://{closed}/lifecycle"));
    let (status, _) = t.subscribe(body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    assert!(t.sandbox.subscriptions().list().is_empty());
}

#[tokio::test]
async fn non_loopback_urls_are_refused_without_any_traffic() {
    let t = tenant().await;
    let mut body = t.body("/notify", "users", "updated");
    body["notificationUrl"] = json!("https://webhook.azurewebsites.net/api/notify");
    let (status, answer) = t.subscribe(body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"]["code"], "InvalidRequest");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("loopback")
    );

    let mut body = t.body("/notify", "users", "updated");
    body["lifecycleNotificationUrl"] = json!("http://192.0.2.10/lifecycle");
    let (status, _) = t.subscribe(body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    assert!(t.sandbox.subscriptions().attempts().is_empty());
    assert!(t.receiver.validations().is_empty());
}

#[tokio::test]
async fn invalid_creates_are_refused() {
    let t = tenant().await;
    // `created` is not a user change type (microsoftgraph/microsoft-graph-docs#4819).
    let (status, body) = t
        .subscribe(t.body("/notify", "users", "created,updated"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "InvalidRequest");
    assert_eq!(
        body["error"]["message"],
        "Invalid 'changeType' attribute: 'created'."
    );

    let (status, body) = t
        .subscribe(t.body("/notify", "me/mailFolders('Inbox')/messages", "updated"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    for missing in [
        "changeType",
        "notificationUrl",
        "resource",
        "expirationDateTime",
    ] {
        let mut body = t.body("/notify", "users", "updated");
        body.as_object_mut().unwrap().remove(missing);
        let (status, answer) = t.subscribe(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{missing}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(missing)
        );
    }

    let mut long = t.body("/notify", "users", "updated");
    long["clientState"] = json!("x".repeat(129));
    assert_eq!(t.subscribe(long).await.0, StatusCode::BAD_REQUEST);
    let mut ok = t.body("/notify", "users", "updated");
    ok["clientState"] = json!("x".repeat(128));
    assert_eq!(t.subscribe(ok).await.0, StatusCode::CREATED);

    let mut rich = t.body("/notify", "groups", "updated");
    rich["includeResourceData"] = json!(true);
    let (status, body) = t.subscribe(rich).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("encryptionCertificate")
    );

    let mut web_push = t.body("/notify", "groups", "updated");
    web_push["vapidPublicKey"] = json!("BNb...");
    assert_eq!(t.subscribe(web_push).await.0, StatusCode::BAD_REQUEST);

    let (status, body) = t
        .send(
            t.client
                .post(t.graph("subscriptions"))
                .header("content-type", "application/json")
                .body("{\"changeType\":"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "BadRequest");
}

#[tokio::test]
async fn duplicates_conflict_within_one_application() {
    let t = tenant().await;
    t.subscribe_ok(t.body("/notify", "users", "updated,deleted"))
        .await;
    // Same resource (with or without the slash) and change types: 409, even to another URL.
    let (status, body) = t
        .subscribe(t.body("/other", "/users", "updated,deleted"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Conflict")
    );
    // Other change types are another subscription.
    t.subscribe_ok(t.body("/notify", "users", "deleted")).await;

    // Another application has its own subscriptions and its own duplicates.
    let other_app = "3a1d7c55-0f2b-4d8e-9b6a-5c4e3f2a1b09";
    let other = t.sandbox.issue_access_token_for(other_app);
    let (status, created) = t
        .send_as(
            &other,
            t.client.post(t.graph("subscriptions")).json(&t.body(
                "/notify",
                "users",
                "updated,deleted",
            )),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["applicationId"], other_app);
    let (_, mine) = t.send(t.client.get(t.graph("subscriptions"))).await;
    assert_eq!(mine["value"].as_array().unwrap().len(), 2);
    let (_, theirs) = t
        .send_as(&other, t.client.get(t.graph("subscriptions")))
        .await;
    assert_eq!(theirs["value"].as_array().unwrap().len(), 1);
    // Not visible to the first application.
    let (status, _) = t
        .send(t.client.get(t.graph(&format!(
            "subscriptions/{}",
            created["id"].as_str().unwrap()
        ))))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(t.sandbox.subscriptions().list().len(), 3);
}

#[tokio::test]
async fn the_quota_is_100_subscriptions_per_application() {
    let t = tenant().await;
    for _ in 0..MAX_SUBSCRIPTIONS_PER_APP {
        let resource = format!("users/{}", uuid::Uuid::new_v4());
        t.subscribe_ok(t.body("/notify", &resource, "updated"))
            .await;
    }
    let validations = t.receiver.validations().len();
    let (status, body) = t.subscribe(t.body("/notify", "groups", "updated")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "ExtensionError");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Maximum number of subscriptions") && message.contains("100"),
        "{message}"
    );
    assert_eq!(t.receiver.validations().len(), validations, "no handshake");

    // Deleting one makes room again.
    let first = t.sandbox.subscriptions().list()[0].id.clone();
    let response = t
        .client
        .delete(t.graph(&format!("subscriptions/{first}")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    t.subscribe_ok(t.body("/notify", "groups", "updated")).await;
}

#[tokio::test]
async fn expiry_is_raised_to_45_minutes_and_capped_at_41760() {
    let t = tenant().await;
    let before = SystemTime::now();
    let mut short = t.body("/notify", "users", "updated");
    short["expirationDateTime"] = json!(in_minutes(10));
    let (status, created) = t.subscribe(short).await;
    assert_eq!(status, StatusCode::CREATED);
    let expiry = parse_time(created["expirationDateTime"].as_str().unwrap());
    let ahead = seconds_between(expiry, before);
    assert!(
        (45.0 * 60.0..45.0 * 60.0 + 10.0).contains(&ahead),
        "{ahead}"
    );

    let mut long = t.body("/notify", "groups", "updated");
    long["expirationDateTime"] = json!(in_minutes(41_761));
    let (status, body) = t.subscribe(long).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["message"],
        "Subscription expiration can only be 41760 minutes in the future."
    );

    let mut max = t.body("/notify", "groups", "updated");
    max["expirationDateTime"] = json!(in_minutes(41_759));
    assert_eq!(t.subscribe(max).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn patch_renews_and_reauthorize_answers_204() {
    let t = tenant().await;
    let mut body = t.body("/notify", "users", "updated");
    body["expirationDateTime"] = json!(in_minutes(60));
    let id = t.subscribe_ok(body).await;

    let renewed_to = in_minutes(41_000);
    let (status, renewed) = t
        .send(
            t.client
                .patch(t.graph(&format!("subscriptions/{id}")))
                .json(&json!({"expirationDateTime": renewed_to})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_eq!(renewed["id"], id);
    assert!(
        renewed["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#subscriptions/$entity")
    );
    let delta = seconds_between(
        parse_time(renewed["expirationDateTime"].as_str().unwrap()),
        parse_time(&renewed_to),
    );
    assert!(delta.abs() < 1.0, "{delta}");
    assert_eq!(
        t.sandbox.subscriptions().get(&id).unwrap().reauthorizations,
        1
    );

    // Renewing beyond the maximum fails like creating.
    let (status, _) = t
        .send(
            t.client
                .patch(t.graph(&format!("subscriptions/{id}")))
                .json(&json!({"expirationDateTime": in_minutes(50_000)})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // lifecycleNotificationUrl can't be added later (D.1).
    let (status, body) = t
        .send(
            t.client
                .patch(t.graph(&format!("subscriptions/{id}")))
                .json(&json!({"lifecycleNotificationUrl": t.receiver.url("/lifecycle")})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lifecycleNotificationUrl")
    );

    let response = t
        .client
        .post(t.graph(&format!("subscriptions/{id}/reauthorize")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        t.sandbox.subscriptions().get(&id).unwrap().reauthorizations,
        2
    );

    // Moving the notification URL re-runs the handshake there.
    let validations = t.receiver.validations().len();
    let (status, moved) = t
        .send(
            t.client
                .patch(t.graph(&format!("subscriptions/{id}")))
                .json(&json!({"notificationUrl": t.receiver.url("/moved")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(moved["notificationUrl"], t.receiver.url("/moved"));
    assert_eq!(t.receiver.validations().len(), validations + 1);
    assert_eq!(t.receiver.validations().last().unwrap().0, "/moved");
}

#[tokio::test]
async fn delete_answers_204_then_404_and_lists_page() {
    let t = tenant().await;
    let a = t.subscribe_ok(t.body("/notify", "users", "updated")).await;
    let b = t.subscribe_ok(t.body("/notify", "groups", "updated")).await;

    let (status, page) = t.send(t.client.get(t.graph("subscriptions?$top=1"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#subscriptions")
    );
    assert_eq!(page["value"].as_array().unwrap().len(), 1);
    assert_eq!(page["value"][0]["id"], a);
    let next = page["@odata.nextLink"].as_str().unwrap();
    let (_, second) = t.send(t.client.get(next)).await;
    assert_eq!(second["value"][0]["id"], b);
    assert!(second.get("@odata.nextLink").is_none());

    let delete = || {
        t.client
            .delete(t.graph(&format!("subscriptions/{a}")))
            .bearer_auth(&t.token)
            .send()
    };
    assert_eq!(delete().await.unwrap().status(), StatusCode::NO_CONTENT);
    let again = delete().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ResourceNotFound");
    assert_eq!(body["error"]["message"], "The object was not found.");
    let (status, _) = t
        .send(t.client.get(t.graph(&format!("subscriptions/{a}"))))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = t
        .client
        .post(t.graph(&format!("subscriptions/{a}/reauthorize")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------
// Deliveries
// ---------------------------------------------------------------------------------------------

/// Checks one element of `value[]` against the documented directory notification.
fn assert_directory_notification(
    n: &Value,
    change_type: &str,
    set: &str,
    id: &str,
    subscription_id: &str,
    tenant_id: &str,
) {
    assert_eq!(
        keys(n),
        [
            "changeType",
            "clientState",
            "resource",
            "resourceData",
            "subscriptionExpirationDateTime",
            "subscriptionId",
            "tenantId"
        ]
    );
    assert_eq!(n["changeType"], change_type);
    assert_eq!(n["clientState"], "secretClientValue");
    assert_eq!(n["resource"], format!("{set}/{id}"));
    assert_eq!(n["subscriptionId"], subscription_id);
    assert_eq!(n["tenantId"], tenant_id);
    let expiry = n["subscriptionExpirationDateTime"].as_str().unwrap();
    assert!(
        expiry.ends_with("+00:00") && expiry.len() == "2022-05-24T23:21:19.3554403+00:00".len(),
        "{expiry}"
    );
    let data = &n["resourceData"];
    let odata_type = if set == "Users" {
        "#Microsoft.Graph.User"
    } else {
        "#Microsoft.Graph.Group"
    };
    assert_eq!(data["@odata.type"], odata_type);
    assert_eq!(data["@odata.id"], format!("{set}/{id}"));
    assert_eq!(data["id"], id);
    assert_eq!(data["organizationId"], tenant_id);
    let event_time = data["eventTime"].as_str().unwrap();
    assert_eq!(event_time.len(), "2022-05-24T22:24:31.3062901Z".len());
    assert!(event_time.ends_with('Z'));
    let sequence = data["sequenceNumber"].as_str().expect("a string");
    assert!(sequence.parse::<u64>().is_ok(), "{sequence}");
}

fn sequence_of(n: &Value) -> u64 {
    n["resourceData"]["sequenceNumber"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn user_create_update_delete_deliver_the_documented_notifications() {
    let t = tenant().await;
    let tenant_id = t.sandbox.tenant_id().to_owned();
    let id = t
        .subscribe_ok(t.body("/notify?source=graph", "users", "updated,deleted"))
        .await;
    // A subscription to another single user hears nothing of these changes.
    let other = t
        .subscribe_ok(t.body(
            "/notify?source=graph",
            &format!("users/{DEMO_USER_ID}"),
            "updated",
        ))
        .await;

    let user = t.create_user("Casey Jensen").await;
    t.idle().await;
    let posts = t.receiver.posts();
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    assert_eq!(post.path, "/notify");
    assert_eq!(post.query.as_deref(), Some("source=graph"), "query echoed");
    assert_eq!(
        post.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(keys(&post.body), ["value"]);
    let created = &post.body["value"][0];
    assert_directory_notification(created, "updated", "Users", &user, &id, &tenant_id);
    in_order(
        &post.raw,
        &[
            "changeType",
            "clientState",
            "resource",
            "resourceData",
            "subscriptionExpirationDateTime",
            "subscriptionId",
            "tenantId",
        ],
    );
    in_order(
        &post.raw,
        &[
            "@odata.type",
            "@odata.id",
            "id",
            "organizationId",
            "eventTime",
            "sequenceNumber",
        ],
    );

    t.update_user(&user, json!({"jobTitle": "Buyer"})).await;
    t.idle().await;
    let posts = t.receiver.posts();
    assert_eq!(posts.len(), 2);
    let updated = &posts[1].body["value"][0];
    assert_directory_notification(updated, "updated", "Users", &user, &id, &tenant_id);
    assert!(sequence_of(updated) > sequence_of(created));

    // DELETE /users/{id} is permanent here: the soft delete (`updated`) and the permanent one
    // (`deleted`) arrive together.
    t.delete_user(&user).await;
    t.idle().await;
    let posts = t.receiver.posts();
    assert_eq!(posts.len(), 3);
    let value = posts[2].body["value"].as_array().unwrap();
    assert_eq!(value.len(), 2);
    assert_directory_notification(&value[0], "updated", "Users", &user, &id, &tenant_id);
    assert_directory_notification(&value[1], "deleted", "Users", &user, &id, &tenant_id);
    assert!(sequence_of(&value[1]) > sequence_of(&value[0]));

    // The delivery log shows the same three POSTs, all answered 202.
    let deliveries = t.sandbox.subscriptions().attempts_of(DeliveryKind::Change);
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries.iter().all(|d| d.status == Some(202)));
    assert_eq!(deliveries[2].json(), posts[2].body);
    assert_eq!(deliveries[2].subscription_ids, vec![id.clone()]);
    assert!(
        !deliveries
            .iter()
            .any(|d| d.subscription_ids.contains(&other))
    );
}

#[tokio::test]
async fn notifications_of_one_change_share_a_post() {
    let t = tenant().await;
    let user = t.create_user("Riley Chen").await;
    let all = t.subscribe_ok(t.body("/notify", "users", "updated")).await;
    let mut one = t.body("/notify", &format!("users/{user}"), "updated,deleted");
    one["clientState"] = json!("anotherClientValue");
    let one = t.subscribe_ok(one).await;
    // Elsewhere: groups only, and users on another URL.
    t.subscribe_ok(t.body("/groups-hook", "groups", "updated"))
        .await;
    let elsewhere = t
        .subscribe_ok(t.body("/elsewhere", "users", "deleted"))
        .await;

    t.update_user(&user, json!({"displayName": "Riley Chen-Ortiz"}))
        .await;
    t.idle().await;
    let posts = t.receiver.posts();
    assert_eq!(posts.len(), 1, "one POST for both subscriptions");
    let value = posts[0].body["value"].as_array().unwrap();
    assert_eq!(value.len(), 2);
    let ids: Vec<&str> = value
        .iter()
        .map(|n| n["subscriptionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [all.as_str(), one.as_str()]);
    assert_eq!(value[0]["clientState"], "secretClientValue");
    assert_eq!(value[1]["clientState"], "anotherClientValue");
    assert_eq!(
        value[0]["resourceData"]["sequenceNumber"], value[1]["resourceData"]["sequenceNumber"],
        "one event"
    );

    // A deletion reaches the `deleted` subscription on its own URL.
    t.receiver.clear();
    t.delete_user(&user).await;
    t.idle().await;
    let elsewhere_posts = t.receiver.posts_to("/elsewhere");
    assert_eq!(elsewhere_posts.len(), 1);
    assert_eq!(
        elsewhere_posts[0].body["value"][0]["subscriptionId"],
        elsewhere
    );
    assert_eq!(elsewhere_posts[0].body["value"][0]["changeType"], "deleted");
    let notify = t.receiver.posts_to("/notify");
    assert_eq!(notify.len(), 1);
    assert_eq!(notify[0].body["value"].as_array().unwrap().len(), 3);
    assert!(t.receiver.posts_to("/groups-hook").is_empty());
}

#[tokio::test]
async fn group_creation_and_membership_changes_notify_the_group() {
    let t = tenant().await;
    let tenant_id = t.sandbox.tenant_id().to_owned();
    let all = t.subscribe_ok(t.body("/groups", "groups", "updated")).await;
    let silver = t
        .subscribe_ok(t.body(
            "/silver",
            &format!("groups/{DEMO_GROUP_SILVER_ID}"),
            "updated,deleted",
        ))
        .await;

    let (status, group) = t
        .send(t.client.post(t.graph("groups")).json(
            &json!({"displayName": "Platinum", "mailEnabled": false, "securityEnabled": true}),
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let group_id = group["id"].as_str().unwrap();
    t.idle().await;
    let posts = t.receiver.posts_to("/groups");
    assert_eq!(posts.len(), 1);
    assert_directory_notification(
        &posts[0].body["value"][0],
        "updated",
        "Groups",
        group_id,
        &all,
        &tenant_id,
    );
    assert!(t.receiver.posts_to("/silver").is_empty());

    let response = t
        .client
        .post(t.graph(&format!("groups/{DEMO_GROUP_SILVER_ID}/members/$ref")))
        .bearer_auth(&t.token)
        .json(&json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{DEMO_USER_ID}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = t
        .client
        .delete(t.graph(&format!(
            "groups/{DEMO_GROUP_SILVER_ID}/members/{DEMO_USER_ID}/$ref"
        )))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    t.idle().await;

    let posts = t.receiver.posts_to("/silver");
    assert_eq!(posts.len(), 2);
    let added = &posts[0].body["value"][0];
    assert_eq!(added["changeType"], "updated");
    assert_eq!(added["resource"], format!("Groups/{DEMO_GROUP_SILVER_ID}"));
    assert_eq!(added["subscriptionId"], silver);
    assert_eq!(
        added["resourceData"]["members@delta"],
        json!([{"@odata.type": "#microsoft.graph.user", "id": DEMO_USER_ID}])
    );
    let removed = &posts[1].body["value"][0];
    assert_eq!(
        removed["resourceData"]["members@delta"],
        json!([{"@odata.type": "#microsoft.graph.user", "id": DEMO_USER_ID, "@removed": {"reason": "deleted"}}])
    );
    // The `groups` subscription hears the membership changes too.
    assert_eq!(t.receiver.posts_to("/groups").len(), 3);
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_backoff() {
    let t = tenant().await;
    t.sandbox
        .subscriptions()
        .set_retry_policy(RetryPolicy::fast(4));
    let id = t.subscribe_ok(t.body("/notify", "users", "updated")).await;
    t.receiver.answer_next(&[500, 503]);
    t.update_user(DEMO_USER_ID, json!({"jobTitle": "Retried"}))
        .await;
    t.idle().await;

    let posts = t.receiver.posts();
    assert_eq!(posts.len(), 3);
    assert!(
        posts.iter().all(|p| p.raw == posts[0].raw),
        "the same body each time"
    );
    let attempts = t.sandbox.subscriptions().attempts_of(DeliveryKind::Change);
    let summary: Vec<(u32, Option<u16>)> = attempts.iter().map(|a| (a.attempt, a.status)).collect();
    assert_eq!(summary, [(1, Some(500)), (2, Some(503)), (3, Some(202))]);
    assert!(attempts.iter().all(|a| a.batch == attempts[0].batch));
    assert!(attempts[1].sent_at >= attempts[0].sent_at + Duration::from_millis(10));
    assert!(attempts[2].sent_at >= attempts[1].sent_at + Duration::from_millis(20));
    assert_eq!(attempts[0].subscription_ids, vec![id]);

    // Attempts are bounded: a receiver that keeps failing is given up on.
    t.sandbox
        .subscriptions()
        .set_retry_policy(RetryPolicy::fast(2));
    t.receiver.answer_next(&[500, 500, 500]);
    t.sandbox.subscriptions().clear_attempts();
    t.update_user(DEMO_USER_ID, json!({"jobTitle": "Given up"}))
        .await;
    t.idle().await;
    let attempts = t.sandbox.subscriptions().attempts_of(DeliveryKind::Change);
    assert_eq!(attempts.len(), 2);
    assert!(attempts.iter().all(|a| !a.succeeded()));
    assert_eq!(t.sandbox.subscriptions().pending(), 0);
}

/// An RSA-2048 key and a self-signed certificate for it, made here with aws-lc-rs and rcgen.
fn encryption_key() -> (PrivateDecryptingKey, Vec<u8>) {
    let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
    let pkcs8 = private.as_der().unwrap();
    let key_pair = rcgen::KeyPair::try_from(pkcs8.as_ref()).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "entra-hooks notifications test");
    let cert = params.self_signed(&key_pair).unwrap();
    (private, cert.der().to_vec())
}

/// B.4, independently of the sandbox's code: unwrap, check the HMAC, decrypt.
fn decrypt(private: PrivateDecryptingKey, content: &Value) -> Vec<u8> {
    let oaep = OaepPrivateDecryptingKey::new(private).unwrap();
    let wrapped = STANDARD
        .decode(content["dataKey"].as_str().unwrap())
        .unwrap();
    let mut out = vec![0u8; oaep.min_output_size()];
    let key = oaep
        .decrypt(&OAEP_SHA1_MGF1SHA1, &wrapped, &mut out, None)
        .unwrap()
        .to_vec();
    assert_eq!(key.len(), 32);
    let mut data = STANDARD.decode(content["data"].as_str().unwrap()).unwrap();
    let signature = STANDARD
        .decode(content["dataSignature"].as_str().unwrap())
        .unwrap();
    aws_lc_rs::hmac::verify(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key),
        &data,
        &signature,
    )
    .expect("HMAC-SHA256 over the ciphertext");
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&key[..16]);
    let cipher =
        PaddedBlockDecryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_256, &key).unwrap())
            .unwrap();
    cipher
        .decrypt(&mut data, DecryptionContext::Iv128(FixedLength::from(iv)))
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn rich_notifications_decrypt_with_the_private_key_and_carry_a_validation_token() {
    let t = tenant().await;
    let (private, cert_der) = encryption_key();
    let mut body = t.body("/rich", "users", "updated");
    body["includeResourceData"] = json!(true);
    body["encryptionCertificate"] = json!(STANDARD.encode(&cert_der));
    body["encryptionCertificateId"] = json!("notifications-cert-1");
    let (status, created) = t.subscribe(body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["includeResourceData"], true);
    assert_eq!(created["encryptionCertificateId"], "notifications-cert-1");
    let id = created["id"].as_str().unwrap();

    // Not a certificate, or an id too long: 400.
    let mut bad = body.clone();
    bad["resource"] = json!("groups");
    bad["encryptionCertificate"] = json!(STANDARD.encode(b"not a certificate"));
    assert_eq!(t.subscribe(bad).await.0, StatusCode::BAD_REQUEST);
    let mut bad = body.clone();
    bad["resource"] = json!("groups");
    bad["encryptionCertificateId"] = json!("x".repeat(129));
    assert_eq!(t.subscribe(bad).await.0, StatusCode::BAD_REQUEST);

    let user = t.create_user("Morgan Blake").await;
    t.idle().await;
    let posts = t.receiver.posts_to("/rich");
    assert_eq!(posts.len(), 1);
    let post = &posts[0].body;
    assert_eq!(keys(post), ["validationTokens", "value"]);
    let n = &post["value"][0];
    assert_eq!(n["subscriptionId"], id);
    assert_eq!(n["resourceData"]["id"], user);
    let content = &n["encryptedContent"];
    assert_eq!(
        keys(content),
        [
            "data",
            "dataKey",
            "dataSignature",
            "encryptionCertificateId",
            "encryptionCertificateThumbprint"
        ]
    );
    assert_eq!(content["encryptionCertificateId"], "notifications-cert-1");
    let thumbprint: String =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert_der)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
    assert_eq!(content["encryptionCertificateThumbprint"], thumbprint);

    let plaintext = decrypt(private, content);
    let resource: Value = serde_json::from_slice(&plaintext).unwrap();
    assert_eq!(resource["id"], user);
    assert_eq!(resource["displayName"], "Morgan Blake");
    assert!(
        resource["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#users/$entity")
    );

    // One validation token, for our app, signed by a key in the sandbox's JWKS (C).
    let tokens = post["validationTokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    let token = tokens[0].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let app_id = t.sandbox.config().graph_client_id.clone();
    assert_eq!(claims["aud"], app_id);
    assert_eq!(claims["appid"], GRAPH_CHANGE_TRACKING_APP_ID);
    assert_eq!(claims["tid"], t.sandbox.tenant_id());
    let jwks: jsonwebtoken::jwk::JwkSet = t
        .client
        .get(t.sandbox.url().join("common/discovery/v2.0/keys").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let jwk = jwks.find(&kid).expect("kid published");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[app_id.as_str()]);
    validation.set_issuer(&[format!(
        "https://sts.windows.net/{}/",
        t.sandbox.tenant_id()
    )]);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .expect("the validation token verifies");
}

// ---------------------------------------------------------------------------------------------
// Lifecycle and expiry
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn lifecycle_notifications_have_the_documented_shape() {
    let t = tenant().await;
    let mut body = t.body("/notify", "users", "updated");
    body["lifecycleNotificationUrl"] = json!(t.receiver.url("/lifecycle"));
    let id = t.subscribe_ok(body).await;
    let expiry = t
        .sandbox
        .subscriptions()
        .get(&id)
        .unwrap()
        .expiration_date_time();

    for event in [
        LifecycleEvent::ReauthorizationRequired,
        LifecycleEvent::Missed,
    ] {
        t.sandbox
            .subscriptions()
            .emit_lifecycle(&id, event)
            .unwrap();
    }
    t.idle().await;
    let posts = t.receiver.posts_to("/lifecycle");
    assert_eq!(posts.len(), 2);
    for (post, event) in posts.iter().zip(["reauthorizationRequired", "missed"]) {
        assert_eq!(keys(&post.body), ["value"]);
        let n = &post.body["value"][0];
        assert_eq!(
            n,
            &json!({
                "subscriptionId": id,
                "subscriptionExpirationDateTime": expiry,
                "tenantId": t.sandbox.tenant_id(),
                "clientState": "secretClientValue",
                "lifecycleEvent": event,
            })
        );
        in_order(
            &post.raw,
            &[
                "subscriptionId",
                "subscriptionExpirationDateTime",
                "tenantId",
                "clientState",
                "lifecycleEvent",
            ],
        );
    }
    assert!(t.receiver.posts_to("/notify").is_empty());
    let logged = t
        .sandbox
        .subscriptions()
        .attempts_of(DeliveryKind::Lifecycle);
    assert_eq!(logged.len(), 2);

    // A subscription without a lifecycle URL gets none.
    let plain = t.subscribe_ok(t.body("/notify", "groups", "updated")).await;
    assert!(
        t.sandbox
            .subscriptions()
            .emit_lifecycle(&plain, LifecycleEvent::ReauthorizationRequired)
            .is_err()
    );
}

#[tokio::test]
async fn subscription_removed_deletes_the_subscription() {
    let t = tenant().await;
    let mut body = t.body("/notify", "users", "updated");
    body["lifecycleNotificationUrl"] = json!(t.receiver.url("/notify"));
    let id = t.subscribe_ok(body).await;

    t.sandbox
        .subscriptions()
        .emit_lifecycle(&id, LifecycleEvent::SubscriptionRemoved)
        .unwrap();
    t.idle().await;
    let posts = t.receiver.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].body["value"][0]["lifecycleEvent"],
        "subscriptionRemoved"
    );
    assert!(t.sandbox.subscriptions().get(&id).is_none());
    let (status, _) = t
        .send(t.client.get(t.graph(&format!("subscriptions/{id}"))))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    t.update_user(DEMO_USER_ID, json!({"jobTitle": "Unheard"}))
        .await;
    t.idle().await;
    assert_eq!(t.receiver.posts().len(), 1, "no delivery after removal");
}

#[tokio::test]
async fn expired_subscriptions_receive_nothing() {
    let t = tenant().await;
    let id = t.subscribe_ok(t.body("/notify", "users", "updated")).await;
    t.sandbox.subscriptions().expire(&id).unwrap();
    t.update_user(DEMO_USER_ID, json!({"jobTitle": "Too late"}))
        .await;
    t.idle().await;
    assert!(t.receiver.posts().is_empty());
    assert!(t.sandbox.subscriptions().list().is_empty());
    let (status, list) = t.send(t.client.get(t.graph("subscriptions"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list["value"].as_array().unwrap().is_empty());
    // An expired subscription no longer blocks a new one on the same resource.
    t.subscribe_ok(t.body("/notify", "users", "updated")).await;
}

#[tokio::test]
async fn faults_and_the_bearer_check_apply_to_subscriptions() {
    let t = tenant().await;
    t.sandbox.faults().add(FaultRule::new(
        "/v1.0/subscriptions",
        Fault::TooManyRequests {
            retry_after: Some(RetryAfter::Seconds(3)),
        },
        Some(1),
    ));
    let response = t
        .client
        .post(t.graph("subscriptions"))
        .bearer_auth(&t.token)
        .json(&t.body("/notify", "users", "updated"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "3");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert!(t.receiver.validations().is_empty(), "no handshake");
    t.subscribe_ok(t.body("/notify", "users", "updated")).await;

    let response = t
        .client
        .get(t.graph("subscriptions"))
        .bearer_auth("not-a-token")
        .header("client-request-id", "cr-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["client-request-id"], "cr-1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");

    let log = t.sandbox.request_log();
    assert!(
        log.iter()
            .any(|r| r.path() == "/v1.0/subscriptions" && r.fault.is_some())
    );
}
