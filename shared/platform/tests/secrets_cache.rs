//! Cache behaviour of the Secrets Manager adapter that moto cannot show: how many calls reach the
//! service, and how service-side failures are classified. A small Secrets Manager endpoint on
//! loopback speaks the real awsJson1.1 protocol to the real SDK and counts the calls it gets.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use entra_platform::secrets::{AwsSecretsManager, SecretError, SecretSource};
use entra_platform::testing::sdk_config_for;
use tokio::sync::Semaphore;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Serve,
    InternalError,
    AccessDenied,
    Throttled,
}

struct FakeSecretsManager {
    calls: AtomicUsize,
    value: Mutex<String>,
    mode: Mutex<Mode>,
    /// Each call waits for a permit; tests hold calls back to make them overlap.
    gate: Semaphore,
}

impl FakeSecretsManager {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

async fn get_secret_value(
    State(fake): State<Arc<FakeSecretsManager>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    assert_eq!(
        headers.get("x-amz-target").unwrap(),
        "secretsmanager.GetSecretValue"
    );
    let request: serde_json::Value = serde_json::from_str(&body).unwrap();
    let name = request["SecretId"].as_str().unwrap().to_owned();
    fake.calls.fetch_add(1, Ordering::SeqCst);
    fake.gate.acquire().await.unwrap().forget();
    fake.gate.add_permits(1);

    let mode = *fake.mode.lock().unwrap();
    let error = |status: StatusCode, kind: &str| {
        (
            status,
            [
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amzn-errortype", kind),
            ],
            serde_json::json!({"__type": kind, "message": "from the fake"}).to_string(),
        )
            .into_response()
    };
    match mode {
        Mode::Serve => {
            let value = fake.value.lock().unwrap().clone();
            (
                [("content-type", "application/x-amz-json-1.1")],
                serde_json::json!({
                    "ARN": format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf"),
                    "Name": name,
                    "VersionId": "00000000-0000-4000-8000-000000000001",
                    "SecretString": value,
                    "VersionStages": ["AWSCURRENT"],
                    "CreatedDate": 1764000000.0
                })
                .to_string(),
            )
                .into_response()
        }
        Mode::InternalError => error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServiceError"),
        Mode::AccessDenied => error(StatusCode::BAD_REQUEST, "AccessDeniedException"),
        Mode::Throttled => error(StatusCode::BAD_REQUEST, "ThrottlingException"),
    }
}

/// Start the fake on 127.0.0.1:0; `open` says whether calls pass the gate immediately.
async fn start_fake(
    value: &str,
    open: bool,
) -> (Arc<FakeSecretsManager>, aws_sdk_secretsmanager::Client) {
    let fake = Arc::new(FakeSecretsManager {
        calls: AtomicUsize::new(0),
        value: Mutex::new(value.to_owned()),
        mode: Mutex::new(Mode::Serve),
        gate: Semaphore::new(usize::from(open)),
    });
    let app = Router::new()
        .route("/", post(get_secret_value))
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = aws_sdk_secretsmanager::Client::new(&sdk_config_for(&endpoint).await);
    (fake, client)
}

const LONG: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_cache_hit_does_not_call_the_service() {
    let (fake, client) = start_fake(r#"{"a":"1","b":"2"}"#, true).await;
    let adapter = AwsSecretsManager::new(client).with_ttl(LONG);

    assert_eq!(adapter.get("app/secret#a").await.unwrap().expose(), "1");
    assert_eq!(adapter.get("app/secret#b").await.unwrap().expose(), "2");
    assert_eq!(
        adapter.get("app/secret").await.unwrap().expose(),
        r#"{"a":"1","b":"2"}"#
    );
    assert_eq!(fake.calls(), 1);

    adapter.invalidate("app/secret");
    adapter.get("app/secret#a").await.unwrap();
    assert_eq!(fake.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_fetch() {
    let (fake, client) = start_fake("shared", false).await;
    let adapter = Arc::new(AwsSecretsManager::new(client).with_ttl(LONG));

    let callers: Vec<_> = (0..8)
        .map(|_| {
            let adapter = Arc::clone(&adapter);
            tokio::spawn(async move {
                adapter
                    .get("app/shared")
                    .await
                    .map(|v| v.expose().to_owned())
            })
        })
        .collect();
    // The first fetch is now held at the gate; let the other callers line up behind it.
    while fake.calls() == 0 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    fake.gate.add_permits(1);

    for caller in callers {
        assert_eq!(caller.await.unwrap().unwrap(), "shared");
    }
    assert_eq!(
        fake.calls(),
        1,
        "every caller should have used the single fetch"
    );
}

#[tokio::test]
async fn a_service_error_on_refresh_serves_the_cached_value_and_backs_off() {
    let (fake, client) = start_fake("v1", true).await;
    let adapter = AwsSecretsManager::new(client)
        .with_ttl(Duration::ZERO)
        .with_stale_retry(LONG);

    assert_eq!(adapter.get("app/blip").await.unwrap().expose(), "v1");
    let before = fake.calls();
    fake.set_mode(Mode::InternalError);
    assert_eq!(adapter.get("app/blip").await.unwrap().expose(), "v1");
    let after_failure = fake.calls();
    assert!(
        after_failure > before,
        "the refresh must have been attempted"
    );

    // Within the back-off the cached value is served without calling the failing service.
    assert_eq!(adapter.get("app/blip").await.unwrap().expose(), "v1");
    assert_eq!(fake.calls(), after_failure);

    // Invalidation overrides the back-off; once the service recovers the new value arrives.
    *fake.value.lock().unwrap() = "v2".to_owned();
    fake.set_mode(Mode::Serve);
    adapter.invalidate("app/blip");
    assert_eq!(adapter.get("app/blip").await.unwrap().expose(), "v2");
}

#[tokio::test]
async fn service_errors_are_classified() {
    let (fake, client) = start_fake("v", true).await;
    let adapter = AwsSecretsManager::new(client);

    fake.set_mode(Mode::InternalError);
    let err = adapter.get("app/a").await.unwrap_err();
    assert!(matches!(err, SecretError::Unavailable { .. }), "{err:?}");

    fake.set_mode(Mode::Throttled);
    let err = adapter.get("app/b").await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");

    fake.set_mode(Mode::AccessDenied);
    let err = adapter.get("app/c").await.unwrap_err();
    assert!(
        matches!(&err, SecretError::AccessDenied { name, .. } if name == "app/c"),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert!(
        err.to_string()
            .ends_with("grant secretsmanager:GetSecretValue on it to the function's role"),
        "{err}"
    );
}

#[tokio::test]
async fn a_permanent_error_is_not_hidden_by_the_cache() {
    let (fake, client) = start_fake("v1", true).await;
    let adapter = AwsSecretsManager::new(client).with_ttl(Duration::ZERO);
    adapter.get("app/revoked").await.unwrap();
    fake.set_mode(Mode::AccessDenied);
    let err = adapter.get("app/revoked").await.unwrap_err();
    assert!(matches!(err, SecretError::AccessDenied { .. }), "{err:?}");
}
