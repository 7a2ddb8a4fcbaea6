//! The poller against the simulated tenant: users created, changed and deleted through Graph leave
//! directory audit records; the poller turns them into the same queue messages the receiver sends,
//! and re-reading the overlap queues the same keys again (the worker reacts once).

use std::sync::Arc;
use std::time::Duration;

use directory_poller::{CHECKPOINT_KEY, PollError, Poller, PollerSettings};
use entra_graph::{GraphClient, NewUser, UserPatch};
use entra_notifications::event::{QueueMessage, ResourceKind};
use entra_notifications::wire::ChangeType;
use entra_platform::KeyValueStore;
use entra_platform::queue::MemoryQueue;
use entra_platform::store::MemoryStore;
use entra_sandbox::Sandbox;
use time::OffsetDateTime;

fn graph(sandbox: &Sandbox) -> GraphClient {
    entra_graph::testing::sandbox_client(sandbox)
}

/// A moment after everything done so far (the poller reads up to whole seconds before `now`).
fn soon() -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::seconds(2)
}

fn drain(queue: &MemoryQueue) -> Vec<QueueMessage> {
    let received = queue.receive(1000, Duration::from_secs(30));
    for message in &received {
        queue.delete(&message.receipt);
    }
    received
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect()
}

fn keys(messages: &[QueueMessage]) -> Vec<(ResourceKind, ChangeType, String)> {
    let mut keys: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            QueueMessage::Change(c) => {
                Some((c.resource_kind, c.change_type, c.resource_id.clone()))
            }
            QueueMessage::Lifecycle(_) => None,
        })
        .collect();
    keys.sort_by(|a, b| {
        a.2.cmp(&b.2)
            .then(format!("{:?}", a.1).cmp(&format!("{:?}", b.1)))
    });
    keys
}

#[tokio::test]
async fn changes_made_through_graph_come_out_as_queue_messages_and_the_overlap_repeats_keys() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let client = graph(&sandbox);
    let queue = Arc::new(MemoryQueue::new());
    let store = Arc::new(MemoryStore::new());
    let poller = Poller::new(
        client.clone(),
        queue.clone(),
        store.clone(),
        sandbox.tenant_id(),
        PollerSettings::default(),
    );

    let ada = client
        .users()
        .create(&NewUser::new("Ada Poll"))
        .await
        .unwrap();
    let report = poller.run(soon()).await.unwrap();
    assert!(report.audit_records >= 1, "{report:?}");
    let first = drain(&queue);
    assert_eq!(
        keys(&first),
        vec![(ResourceKind::User, ChangeType::Created, ada.id.clone())],
        "the audit record and the users listing agree on one creation"
    );
    let QueueMessage::Change(created) = &first[0] else {
        unreachable!()
    };
    assert_eq!(
        created.dedup_key(),
        format!("change/poller/users/{}/created/created", ada.id)
    );

    client
        .users()
        .update(&ada.id, &UserPatch::new().display_name("Ada Lovelace"))
        .await
        .unwrap();
    client.users().delete(&ada.id).await.unwrap();
    poller.run(soon()).await.unwrap();
    let second = drain(&queue);
    let second_keys = keys(&second);
    // The overlap re-reads the creation (same key), plus the update and the deletion.
    assert!(second_keys.contains(&(ResourceKind::User, ChangeType::Created, ada.id.clone())));
    assert!(second_keys.contains(&(ResourceKind::User, ChangeType::Updated, ada.id.clone())));
    assert!(second_keys.contains(&(ResourceKind::User, ChangeType::Deleted, ada.id.clone())));
    let created_again = second
        .iter()
        .find_map(|m| match m {
            QueueMessage::Change(c) if c.change_type == ChangeType::Created => Some(c.dedup_key()),
            _ => None,
        })
        .unwrap();
    assert_eq!(created_again, created.dedup_key());

    // The checkpoint moved to the run's end.
    let checkpoint: serde_json::Value =
        serde_json::from_str(&store.get(CHECKPOINT_KEY).await.unwrap().unwrap()).unwrap();
    assert!(checkpoint["readUntil"].is_string());
}

#[tokio::test]
async fn a_graph_failure_leaves_the_checkpoint_and_a_corrupt_one_is_named() {
    let sandbox = Sandbox::start_default().await.unwrap();
    let client = graph(&sandbox);
    let queue = Arc::new(MemoryQueue::new());
    let store = Arc::new(MemoryStore::new());
    let poller = Poller::new(
        client,
        queue.clone(),
        store.clone(),
        sandbox.tenant_id(),
        PollerSettings::default(),
    );
    sandbox.faults().add(entra_sandbox::FaultRule::new(
        "/v1.0/auditLogs",
        entra_sandbox::Fault::GatewayTimeout,
        None,
    ));
    let error = poller.run(OffsetDateTime::now_utc()).await.unwrap_err();
    assert!(
        matches!(
            error,
            PollError::Graph {
                what: "directory audits",
                ..
            }
        ),
        "{error}"
    );
    assert!(store.get(CHECKPOINT_KEY).await.unwrap().is_none());
    sandbox.faults().clear();

    store.put(CHECKPOINT_KEY, "{not json", None).await.unwrap();
    let error = poller.run(OffsetDateTime::now_utc()).await.unwrap_err();
    assert!(error.to_string().contains(CHECKPOINT_KEY), "{error}");
}
