//! One contract suite for every `MessageQueue` adapter: the in-memory queue and the SQS queue (real
//! SDK against a real moto server on loopback, read back with `ReceiveMessage`). moto only fails
//! batch entries for an invalid `DelaySeconds`, which we never send, so SQS's partial failures are
//! played by a tiny fake SQS endpoint (axum on a random port) answering `SendMessageBatch` with
//! scripted `Failed` entries. The in-memory queue's consumer semantics (visibility timeout,
//! receive count, dead-letter queue, long polling) are tested on short real timeouts, each waited
//! for rather than slept through.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use entra_platform::queue::{
    MAX_ENTRY_ATTEMPTS, MAX_MESSAGE_BYTES, MemoryQueue, MessageQueue, OutgoingMessage, QueueConfig,
    QueueError, SqsQueue,
};
use entra_platform::testing::{MotoServer, sdk_config_for};
use serde_json::{Value, json};

/// A message as a consumer sees it: body and string attributes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Delivered {
    body: String,
    attributes: BTreeMap<String, String>,
}

/// An adapter under test and the way to read back what reached its queue.
enum Backend {
    Memory(Arc<MemoryQueue>),
    Sqs { client: Client, url: String },
}

impl Backend {
    fn queue(&self) -> Arc<dyn MessageQueue> {
        match self {
            Backend::Memory(queue) => queue.clone(),
            Backend::Sqs { client, url } => Arc::new(SqsQueue::new(client.clone(), url.clone())),
        }
    }

    /// Every message waiting in the queue, each taken once (hidden for minutes, never deleted, so
    /// a duplicate would show as a second copy and a redelivery cannot happen during the test).
    async fn drain(&self) -> Vec<Delivered> {
        let mut delivered = Vec::new();
        match self {
            Backend::Memory(queue) => {
                for message in queue.receive(usize::MAX, Duration::from_secs(600)) {
                    delivered.push(Delivered {
                        body: message.body,
                        attributes: message.attributes,
                    });
                }
            }
            Backend::Sqs { client, url } => loop {
                let messages = client
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    .visibility_timeout(600)
                    .wait_time_seconds(0)
                    .message_attribute_names("All")
                    .send()
                    .await
                    .unwrap()
                    .messages
                    .unwrap_or_default();
                if messages.is_empty() {
                    break;
                }
                for message in messages {
                    let attributes = message
                        .message_attributes
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(name, value)| {
                            assert_eq!(value.data_type(), "String");
                            (name, value.string_value.unwrap_or_default())
                        })
                        .collect();
                    delivered.push(Delivered {
                        body: message.body.unwrap_or_default(),
                        attributes,
                    });
                }
            },
        }
        delivered.sort();
        delivered
    }
}

/// `count` distinct messages with bodies that exercise the allowed character set; every third
/// carries attributes.
fn batch(tag: &str, count: usize) -> Vec<OutgoingMessage> {
    (0..count)
        .map(|i| {
            let body = json!({
                "tag": tag,
                "n": i,
                "text": "Änderung ✓ 😀 \"quoted\" <xml/> \\ tab\tnewline\ncr\r",
            })
            .to_string();
            let message = OutgoingMessage::new(body);
            if i % 3 == 0 {
                message
                    .with_attribute("kind", "change")
                    .with_attribute("tenant.id", format!("t-{i}"))
            } else {
                message
            }
        })
        .collect()
}

fn expected(messages: &[OutgoingMessage]) -> Vec<Delivered> {
    let mut expected: Vec<Delivered> = messages
        .iter()
        .map(|m| Delivered {
            body: m.body.clone(),
            attributes: m.attributes.clone(),
        })
        .collect();
    expected.sort();
    expected
}

/// The behaviour every adapter promises (module docs of `entra_platform::queue`).
async fn contract(backend: &Backend) {
    let queue = backend.queue();

    // batches of 1, 10 and 25 arrive exactly once, bodies and attributes intact
    for count in [1, 10, 25] {
        let messages = batch(&format!("batch-{count}"), count);
        queue.send_batch(&messages).await.unwrap();
        assert_eq!(
            backend.drain().await,
            expected(&messages),
            "batch of {count}"
        );
    }

    // an empty batch is fine and sends nothing
    queue.send_batch(&[]).await.unwrap();
    assert!(backend.drain().await.is_empty());

    // a message at the size limit goes through, also next to others filling the request
    let at_limit = vec![
        OutgoingMessage::new("a".repeat(MAX_MESSAGE_BYTES)),
        OutgoingMessage::new("b".repeat(100 * 1024)),
        OutgoingMessage::new("c".repeat(100 * 1024)),
        OutgoingMessage::new("d".repeat(100 * 1024)),
    ];
    queue.send_batch(&at_limit).await.unwrap();
    assert_eq!(backend.drain().await, expected(&at_limit));

    // one oversized message refuses the whole batch before anything is sent
    let oversized = vec![
        OutgoingMessage::new("fine"),
        OutgoingMessage::new("x".repeat(MAX_MESSAGE_BYTES + 1)),
    ];
    let err = queue.send_batch(&oversized).await.unwrap_err();
    assert!(
        matches!(err, QueueError::Invalid { index: 1, .. }),
        "{err:?}"
    );
    assert_eq!(err.unsent(), &[0, 1]);
    assert!(!err.is_transient());
    assert!(err.to_string().contains("262145 bytes"), "{err}");
    assert!(backend.drain().await.is_empty(), "nothing may be sent");

    // so does a character SQS refuses
    let err = queue
        .send(&OutgoingMessage::new("nul \u{0} byte"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueueError::Invalid { index: 0, .. }),
        "{err:?}"
    );
    assert!(backend.drain().await.is_empty());
}

#[tokio::test]
async fn memory_queue_keeps_the_contract() {
    contract(&Backend::Memory(Arc::new(MemoryQueue::new()))).await;
}

async fn sqs_client(server: &MotoServer) -> Client {
    Client::new(&server.sdk_config().await)
}

async fn create_queue(client: &Client, name: &str) -> String {
    client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

#[tokio::test]
async fn sqs_queue_keeps_the_contract() {
    let server = MotoServer::shared().unwrap();
    let client = sqs_client(server).await;
    let url = create_queue(&client, "queue-contract").await;
    contract(&Backend::Sqs { client, url }).await;
}

#[tokio::test]
async fn sqs_queue_reports_a_missing_queue_with_the_fix() {
    let server = MotoServer::shared().unwrap();
    let client = sqs_client(server).await;
    let real = create_queue(&client, "queue-exists").await;
    let missing = real.replace("queue-exists", "no-such-queue");
    let queue = SqsQueue::new(client, missing.clone());
    let err = queue.send_batch(&batch("missing", 12)).await.unwrap_err();
    assert!(matches!(err, QueueError::MissingQueue { .. }), "{err:?}");
    assert_eq!(err.unsent(), (0..12).collect::<Vec<_>>());
    assert!(!err.is_transient());
    let shown = err.to_string();
    assert!(shown.contains(&missing), "{shown}");
    assert!(shown.contains("ENTRA_HOOKS_QUEUE__URL"), "{shown}");
}

#[tokio::test]
async fn an_unreachable_sqs_is_a_transient_error() {
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let queue = SqsQueue::from_sdk_config(
        &sdk_config_for(&dead).await,
        format!("{dead}/123456789012/gone"),
    );
    let err = queue.send_batch(&batch("dead", 3)).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(err.unsent(), &[0, 1, 2]);
}

#[tokio::test]
async fn queue_config_builds_sqs_with_a_url_and_memory_without() {
    let server = MotoServer::shared().unwrap();
    let sdk = server.sdk_config().await;
    let client = Client::new(&sdk);
    let url = create_queue(&client, "queue-from-config").await;
    let config = QueueConfig {
        url: Some(url.clone()),
    };
    assert!(config.needs_aws());
    let messages = batch("config", 2);
    config
        .build(Some(&sdk))
        .unwrap()
        .send_batch(&messages)
        .await
        .unwrap();
    let backend = Backend::Sqs { client, url };
    assert_eq!(backend.drain().await, expected(&messages));

    let local = QueueConfig::default().build(None).unwrap();
    local.send_batch(&messages).await.unwrap();
}

// --- SQS partial batch failures, played by a fake SQS endpoint --------------------------------

/// What the fake answers for one entry: `None` queues it, `Some(sender_fault)` fails it.
type Script = dyn Fn(usize, &str) -> Option<bool> + Send + Sync;

/// The entry ids and bodies of each `SendMessageBatch` request the fake received, in order.
type Recorded = Arc<Mutex<Vec<Vec<(String, String)>>>>;

#[derive(Clone)]
struct FakeSqs {
    requests: Recorded,
    script: Arc<Script>,
}

async fn send_message_batch(
    State(fake): State<FakeSqs>,
    body: String,
) -> impl axum::response::IntoResponse {
    let request: Value = serde_json::from_str(&body).unwrap();
    let entries: Vec<(String, String)> = request["Entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["Id"].as_str().unwrap().to_owned(),
                e["MessageBody"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let call = {
        let mut requests = fake.requests.lock().unwrap();
        requests.push(entries.clone());
        requests.len() - 1
    };
    let (mut successful, mut failed) = (Vec::new(), Vec::new());
    for (id, _) in &entries {
        match (fake.script)(call, id) {
            None => successful.push(json!({
                "Id": id, "MessageId": format!("msg-{call}-{id}"), "MD5OfMessageBody": "0"
            })),
            Some(sender_fault) => failed.push(json!({
                "Id": id,
                "SenderFault": sender_fault,
                "Code": if sender_fault { "InvalidParameterValue" } else { "InternalError" },
                "Message": "scripted failure"
            })),
        }
    }
    (
        [("content-type", "application/x-amz-json-1.0")],
        json!({ "Successful": successful, "Failed": failed }).to_string(),
    )
}

/// Starts a fake SQS endpoint answering by `script`; returns the queue and the recorded requests.
async fn fake_sqs(
    script: impl Fn(usize, &str) -> Option<bool> + Send + Sync + 'static,
) -> (SqsQueue, Recorded) {
    let fake = FakeSqs {
        requests: Arc::default(),
        script: Arc::new(script),
    };
    let requests = fake.requests.clone();
    let app = Router::new()
        .route("/", post(send_message_batch))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let queue = SqsQueue::from_sdk_config(
        &sdk_config_for(&endpoint).await,
        format!("{endpoint}/123456789012/fake"),
    );
    (queue, requests)
}

fn ids(request: &[(String, String)]) -> Vec<&str> {
    request.iter().map(|(id, _)| id.as_str()).collect()
}

#[tokio::test]
async fn sqs_queue_resends_only_the_entries_sqs_failed_on_its_side() {
    let (queue, requests) =
        fake_sqs(|call, id| (call == 0 && matches!(id, "1" | "3")).then_some(false)).await;
    let messages = batch("resend", 5);
    queue.send_batch(&messages).await.unwrap();
    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(ids(&requests[0]), ["0", "1", "2", "3", "4"]);
    assert_eq!(ids(&requests[1]), ["1", "3"]);
    assert_eq!(
        requests[1][0].1, messages[1].body,
        "the same message is resent"
    );
    assert_eq!(requests[1][1].1, messages[3].body);
}

#[tokio::test]
async fn sqs_queue_reports_sender_faults_at_once() {
    let (queue, requests) = fake_sqs(|_, id| (id == "2").then_some(true)).await;
    let err = queue.send_batch(&batch("fault", 12)).await.unwrap_err();
    assert!(matches!(err, QueueError::Rejected { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(
        err.unsent(),
        &[2, 10, 11],
        "the faulty entry and the request not sent"
    );
    assert!(err.to_string().contains("InvalidParameterValue"), "{err}");
    assert_eq!(
        requests.lock().unwrap().len(),
        1,
        "no resend, no second request"
    );
}

#[tokio::test]
async fn sqs_queue_gives_up_after_bounded_resends() {
    let (queue, requests) = fake_sqs(|_, id| (id == "0").then_some(false)).await;
    let started = Instant::now();
    let err = queue.send_batch(&batch("flaky", 3)).await.unwrap_err();
    assert!(matches!(err, QueueError::Unavailable { .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(err.unsent(), &[0]);
    assert!(err.to_string().contains("InternalError"), "{err}");
    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), MAX_ENTRY_ATTEMPTS as usize);
    assert!(requests[1..].iter().all(|r| ids(r) == ["0"]));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "back-off stays short"
    );
}

// --- MemoryQueue consumer semantics --------------------------------------------------------------

const LONG: Duration = Duration::from_secs(600);
const SHORT: Duration = Duration::from_millis(30);
const PATIENCE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn memory_queue_hides_received_messages_and_delete_removes_them() {
    let queue = MemoryQueue::new();
    queue.send_batch(&batch("hide", 3)).await.unwrap();
    assert_eq!((queue.len(), queue.in_flight()), (3, 0));

    let first = queue.receive(2, LONG);
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|m| m.receive_count == 1));
    assert_eq!((queue.len(), queue.in_flight()), (1, 2));
    let rest = queue.receive(10, LONG);
    assert_eq!(rest.len(), 1);
    assert!(
        queue.receive(10, LONG).is_empty(),
        "in-flight messages stay hidden"
    );

    assert!(queue.delete(&first[0].receipt));
    assert!(!queue.delete(&first[0].receipt), "already deleted");
    assert!(!queue.delete("not-a-receipt"));
    assert_eq!((queue.len(), queue.in_flight()), (0, 2));
    assert!(queue.receive(0, LONG).is_empty());
}

#[tokio::test]
async fn memory_queue_redelivers_after_the_visibility_timeout() {
    let queue = MemoryQueue::new();
    queue.send(&OutgoingMessage::new("again")).await.unwrap();
    let first = queue.receive(10, SHORT).remove(0);
    assert_eq!(first.receive_count, 1);

    let second = queue.receive_wait(10, LONG, PATIENCE).await.remove(0);
    assert_eq!(second.id, first.id);
    assert_eq!(second.body, "again");
    assert_eq!(second.receive_count, 2);
    assert_ne!(second.receipt, first.receipt);
    assert!(
        !queue.delete(&first.receipt),
        "a stale receipt deletes nothing"
    );
    assert_eq!(queue.in_flight(), 1);
    assert!(queue.delete(&second.receipt));
    assert_eq!((queue.len(), queue.in_flight()), (0, 0));
}

#[tokio::test]
async fn memory_queue_moves_a_message_to_the_dead_letter_queue_after_max_receives() {
    let dead_letter = Arc::new(MemoryQueue::new());
    let queue = MemoryQueue::new().with_dead_letter_queue(dead_letter.clone(), 2);
    queue
        .send(&OutgoingMessage::new("poison").with_attribute("kind", "change"))
        .await
        .unwrap();
    queue.send(&OutgoingMessage::new("healthy")).await.unwrap();

    let first = queue.receive(1, SHORT).remove(0);
    assert_eq!((first.body.as_str(), first.receive_count), ("poison", 1));
    let healthy = queue.receive(1, LONG).remove(0);
    assert_eq!(healthy.body, "healthy");
    assert!(queue.delete(&healthy.receipt));
    let second = queue.receive_wait(10, SHORT, PATIENCE).await.remove(0);
    assert_eq!(
        (second.id.as_str(), second.receive_count),
        (first.id.as_str(), 2)
    );

    // the next receive after its timeout does not deliver it: it goes to the dead-letter queue
    assert!(
        queue
            .receive_wait(10, LONG, Duration::from_millis(300))
            .await
            .is_empty()
    );
    let moved = dead_letter.receive(10, LONG);
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].id, first.id);
    assert_eq!(moved[0].body, "poison");
    assert_eq!(moved[0].attributes["kind"], "change");
    assert!(queue.receive(10, LONG).is_empty());
    assert_eq!((queue.len(), queue.in_flight()), (0, 0));
    assert!(Arc::ptr_eq(
        queue.dead_letter_queue().unwrap(),
        &dead_letter
    ));
}

#[tokio::test]
async fn memory_queue_wakes_a_waiting_consumer_when_work_arrives() {
    let queue = Arc::new(MemoryQueue::new());
    assert!(
        tokio::time::timeout(SHORT, queue.wait_for_messages())
            .await
            .is_err(),
        "nothing to wait for"
    );
    assert!(queue.receive_wait(10, LONG, SHORT).await.is_empty());

    let consumer = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.receive_wait(10, LONG, PATIENCE).await })
    };
    tokio::time::sleep(SHORT).await;
    let started = Instant::now();
    queue.send(&OutgoingMessage::new("wake up")).await.unwrap();
    let received = consumer.await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, "wake up");
    assert!(started.elapsed() < PATIENCE / 2, "woken, not timed out");
}

#[tokio::test]
async fn memory_queue_hands_each_message_to_one_of_many_consumers() {
    let queue = Arc::new(MemoryQueue::new());
    let messages = batch("many", 25);
    queue.send_batch(&messages).await.unwrap();
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut bodies = Vec::new();
                loop {
                    let received = queue
                        .receive_wait(3, LONG, Duration::from_millis(200))
                        .await;
                    if received.is_empty() {
                        return bodies;
                    }
                    for message in received {
                        assert!(queue.delete(&message.receipt));
                        bodies.push(message.body);
                    }
                }
            })
        })
        .collect();
    let mut bodies = Vec::new();
    for consumer in consumers {
        bodies.extend(consumer.await.unwrap());
    }
    bodies.sort();
    let mut sent: Vec<String> = messages.into_iter().map(|m| m.body).collect();
    sent.sort();
    assert_eq!(bodies, sent);
    assert_eq!((queue.len(), queue.in_flight()), (0, 0));
}
