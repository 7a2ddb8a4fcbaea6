//! The receiver over real HTTP on loopback: the validation handshake on both URLs, clientState,
//! mixed batches, rich notifications with validation tokens signed by the simulated tenant, and
//! what Graph gets back when the queue refuses (SQS on the local AWS emulator).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use entra_notifications::decrypt::DecryptionKeys;
use entra_notifications::event::QueueMessage;
use entra_platform::SecretValue;
use entra_platform::queue::{MemoryQueue, MessageQueue, SqsQueue};
use entra_platform::testing::MotoServer;
use entra_sandbox::Sandbox;
use entra_tokens::{CallerPolicy, KeySet, TokenValidator};
use notification_receiver::{MAX_BODY_BYTES, NotificationReceiver, router};
use serde_json::{Value, json};

const CLIENT_STATE: &str = "kq3VbZ2m8Xv1sLw0Yh7TnC4pR6dJf9aEuGoMiBxQc5N";
/// Our Graph app: the audience of validation tokens.
const APP_ID: &str = "c0ffee00-1b2c-4d3e-8f9a-0b1c2d3e4f50";

struct Receiver {
    base: String,
    queue: Arc<MemoryQueue>,
    sandbox: Sandbox,
    http: reqwest::Client,
}

fn vector_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/vectors/change-notifications")
}

async fn serve(receiver: NotificationReceiver) -> String {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(Arc::new(receiver), MAX_BODY_BYTES);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

fn receiver_with(
    sandbox: &Sandbox,
    queue: Arc<dyn MessageQueue>,
    discovery: url::Url,
) -> NotificationReceiver {
    let mut keys = DecryptionKeys::new();
    keys.insert_pem(
        "test-vector-cert",
        &std::fs::read_to_string(vector_dir().join("generated-vector.key.pem")).unwrap(),
    )
    .unwrap();
    let policy = CallerPolicy::graph_notification(
        vec![sandbox.tenant_id().to_owned()],
        vec![APP_ID.to_owned()],
    );
    let validator = TokenValidator::new(policy, KeySet::new(discovery, reqwest::Client::new()));
    NotificationReceiver::new(
        sandbox.tenant_id(),
        HashMap::from([("users".to_owned(), SecretValue::new(CLIENT_STATE))]),
        Some(validator),
        keys,
        queue,
    )
}

async fn start() -> Receiver {
    let sandbox = Sandbox::start_default().await.unwrap();
    let queue = Arc::new(MemoryQueue::new());
    let receiver = receiver_with(&sandbox, queue.clone(), sandbox.common_discovery_url());
    Receiver {
        base: serve(receiver).await,
        queue,
        sandbox,
        http: reqwest::Client::new(),
    }
}

impl Receiver {
    async fn post(&self, path_and_query: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path_and_query}", self.base))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    fn queued(&self) -> Vec<QueueMessage> {
        let received = self.queue.receive(100, Duration::from_secs(30));
        for message in &received {
            self.queue.delete(&message.receipt);
        }
        received
            .iter()
            .map(|m| serde_json::from_str(&m.body).unwrap())
            .collect()
    }

    fn user_change(&self, user: &str, client_state: &str) -> Value {
        json!({
            "changeType": "updated",
            "clientState": client_state,
            "resource": format!("Users/{user}"),
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.User",
                "@odata.id": format!("Users/{user}"),
                "id": user,
                "organizationId": self.sandbox.tenant_id(),
                "eventTime": "2026-11-26T21:03:12.1234567Z",
                "sequenceNumber": "638690000000000001"
            },
            "subscriptionExpirationDateTime": "2026-12-20T11:00:00.0000000+00:00",
            "subscriptionId": "6f1c2b3a-0000-4000-8000-000000000001",
            "tenantId": self.sandbox.tenant_id()
        })
    }
}

#[tokio::test]
async fn the_handshake_echoes_the_token_decoded_once_on_both_urls() {
    let receiver = start().await;
    let cases: Value = serde_json::from_slice(
        &std::fs::read(vector_dir().join("validation-handshake.constructed.json")).unwrap(),
    )
    .unwrap();
    for path in ["/notifications/graph", "/notifications/lifecycle"] {
        for case in cases["cases"].as_array().unwrap() {
            let response = receiver
                .http
                .post(format!(
                    "{}{path}?{}",
                    receiver.base,
                    case["rawQueryString"].as_str().unwrap()
                ))
                .header("Content-Type", "text/plain; charset=utf-8")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path} {}", case["name"]);
            assert_eq!(
                response.headers()["content-type"],
                "text/plain; charset=utf-8"
            );
            assert_eq!(response.headers()["x-content-type-options"], "nosniff");
            assert_eq!(
                response.text().await.unwrap(),
                case["expectedBody"].as_str().unwrap(),
                "{path} {}",
                case["name"]
            );
        }
        // An empty token is echoed as empty; the subscription parameter does not matter.
        let response = receiver
            .http
            .post(format!(
                "{}{path}?subscription=users&validationToken=",
                receiver.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "");
    }
    assert!(receiver.queued().is_empty());
}

#[tokio::test]
async fn a_mixed_batch_queues_the_good_items_and_answers_202() {
    let receiver = start().await;
    let mut foreign = receiver.user_change("u-4", CLIENT_STATE);
    foreign["tenantId"] = json!("00000000-0000-0000-0000-000000000000");
    let body = json!({"value": [
        receiver.user_change("u-1", CLIENT_STATE),
        receiver.user_change("u-2", "a guess"),
        {"subscriptionId": "s", "changeType": "exploded", "resource": "Users/u-3"},
        foreign,
        receiver.user_change("u-5", CLIENT_STATE),
    ]});
    let response = receiver
        .post("/notifications/graph?subscription=users", &body)
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        response.text().await.unwrap(),
        "",
        "nothing about the drops is told"
    );
    let ids: Vec<String> = receiver
        .queued()
        .into_iter()
        .map(|m| match m {
            QueueMessage::Change(c) => c.resource_id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"u-1".to_owned()) && ids.contains(&"u-5".to_owned()));

    // The right clientState under another subscription name, or none, queues nothing.
    for query in ["?subscription=groups", ""] {
        let response = receiver
            .post(
                &format!("/notifications/graph{query}"),
                &json!({"value": [receiver.user_change("u-6", CLIENT_STATE)]}),
            )
            .await;
        assert_eq!(response.status(), 202);
    }
    assert!(receiver.queued().is_empty());
}

#[tokio::test]
async fn lifecycle_notifications_are_queued_for_the_keeper() {
    let receiver = start().await;
    let body = json!({"value": [{
        "subscriptionId": "6f1c2b3a-0000-4000-8000-000000000001",
        "subscriptionExpirationDateTime": "2026-12-20T11:00:00.0000000Z",
        "tenantId": receiver.sandbox.tenant_id(),
        "clientState": CLIENT_STATE,
        "lifecycleEvent": "reauthorizationRequired"
    }]});
    let response = receiver
        .post("/notifications/lifecycle?subscription=users", &body)
        .await;
    assert_eq!(response.status(), 202);
    let queued = receiver.queued();
    assert!(
        matches!(&queued[..], [QueueMessage::Lifecycle(l)] if l.subscription_id.ends_with("0001")),
        "{queued:?}"
    );
}

#[tokio::test]
async fn bodies_that_are_not_notifications_get_400_and_oversized_ones_413() {
    let receiver = start().await;
    for body in ["", "not json", "{\"values\": []}"] {
        let response = receiver
            .http
            .post(format!(
                "{}/notifications/graph?subscription=users",
                receiver.base
            ))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body:?}");
    }
    let huge = "x".repeat(MAX_BODY_BYTES + 1);
    let response = receiver
        .http
        .post(format!("{}/notifications/graph", receiver.base))
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

fn rich(receiver: &Receiver, user: &str) -> Value {
    let vector: Value =
        serde_json::from_slice(&std::fs::read(vector_dir().join("generated-vector.json")).unwrap())
            .unwrap();
    let mut item = receiver.user_change(user, CLIENT_STATE);
    item["encryptedContent"] = vector["encryptedContent"].clone();
    item
}

#[tokio::test]
async fn rich_notifications_need_valid_tokens_and_our_key() {
    let receiver = start().await;
    let token = receiver.sandbox.graph_notification_token(APP_ID).sign();
    let body = json!({"value": [rich(&receiver, "u-1")], "validationTokens": [token]});
    let response = receiver
        .post("/notifications/graph?subscription=users", &body)
        .await;
    assert_eq!(response.status(), 202);
    let queued = receiver.queued();
    let [QueueMessage::Change(change)] = &queued[..] else {
        panic!("{queued:?}")
    };
    assert_eq!(
        change.resource_data.as_ref().unwrap()["displayName"],
        "Test Vector"
    );

    // Without tokens, with a token for another audience, or tampered: nothing is queued.
    let wrong_audience = receiver
        .sandbox
        .graph_notification_token("11111111-2222-3333-4444-555555555555")
        .sign();
    let mut tampered = rich(&receiver, "u-3");
    tampered["encryptedContent"]["dataSignature"] =
        json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let mut unknown_certificate = rich(&receiver, "u-4");
    unknown_certificate["encryptedContent"]["encryptionCertificateId"] = json!("retired");
    let good_token = receiver.sandbox.graph_notification_token(APP_ID).sign();
    for body in [
        json!({"value": [rich(&receiver, "u-2")]}),
        json!({"value": [rich(&receiver, "u-2")], "validationTokens": [wrong_audience]}),
        json!({"value": [tampered], "validationTokens": [good_token.clone()]}),
        json!({"value": [unknown_certificate], "validationTokens": [good_token.clone()]}),
    ] {
        let response = receiver
            .post("/notifications/graph?subscription=users", &body)
            .await;
        assert_eq!(response.status(), 202);
        assert!(receiver.queued().is_empty(), "{body}");
    }
}

#[tokio::test]
async fn unreachable_signing_keys_or_a_refusing_queue_answer_503_so_graph_retries() {
    let sandbox = Sandbox::start_default().await.unwrap();
    // Keys that cannot be fetched.
    let closed =
        url::Url::parse("http://127.0.0.1:9/common/v2.0/.well-known/openid-configuration").unwrap();
    let base = serve(receiver_with(
        &sandbox,
        Arc::new(MemoryQueue::new()),
        closed,
    ))
    .await;
    let probe = Receiver {
        base,
        queue: Arc::new(MemoryQueue::new()),
        sandbox,
        http: reqwest::Client::new(),
    };
    let token = probe.sandbox.graph_notification_token(APP_ID).sign();
    let body = json!({"value": [rich(&probe, "u-1")], "validationTokens": [token]});
    assert_eq!(
        probe
            .post("/notifications/graph?subscription=users", &body)
            .await
            .status(),
        503
    );

    // A queue that does not exist (SQS on the local AWS emulator).
    let moto = MotoServer::shared().unwrap();
    let sqs = SqsQueue::from_sdk_config(
        &moto.sdk_config().await,
        format!("{}/123456789012/no-such-queue", moto.endpoint_url()),
    );
    let sandbox = Sandbox::start_default().await.unwrap();
    let discovery = sandbox.common_discovery_url();
    let base = serve(receiver_with(&sandbox, Arc::new(sqs), discovery)).await;
    let receiver = Receiver {
        base,
        queue: Arc::new(MemoryQueue::new()),
        sandbox,
        http: reqwest::Client::new(),
    };
    let body = json!({"value": [receiver.user_change("u-1", CLIENT_STATE)]});
    assert_eq!(
        receiver
            .post("/notifications/graph?subscription=users", &body)
            .await
            .status(),
        503
    );
}
