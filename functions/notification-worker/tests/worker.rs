//! The worker against the simulated tenant over real HTTP: reactions visible in the tenant's state,
//! once per message, deletions, failures retried, poison messages and SQS partial batch responses.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use entra_extensions::RulesFile;
use entra_graph::{GraphClient, GraphRequest};
use entra_notifications::event::{ChangeSource, DirectoryChange, QueueMessage, ResourceKind};
use entra_notifications::wire::ChangeType;
use entra_platform::store::{ManualClock, MemoryStore};
use entra_sandbox::faults::RetryAfter;
use entra_sandbox::{Fault, FaultRule, Sandbox};
use notification_worker::lambda::handle_batch;
use notification_worker::{
    DirectoryReactions, MemoryPublisher, Processed, SECTION, WorkError, Worker,
};
use serde_json::json;

fn graph(sandbox: &Sandbox) -> GraphClient {
    entra_graph::testing::sandbox_client(sandbox)
}

fn reactions(group: &str) -> DirectoryReactions {
    let text = format!(
        r#"
[directory_reactions]
[[directory_reactions.reactions]]
name = "dutch customers join the group"
resource = "user"
change_types = ["created", "updated"]
when = {{ country = ["Netherlands", "Belgium"] }}
add_to_group = "{group}"

[[directory_reactions.reactions]]
name = "job title default"
resource = "user"
change_types = ["created", "updated"]
set_defaults = {{ jobTitle = "Customer" }}

[[directory_reactions.reactions]]
name = "tell the CRM"
resource = "user"
publish = {{ detail_type = "EntraUserChanged" }}
"#
    );
    RulesFile::parse(text, "rules.toml")
        .unwrap()
        .section(SECTION)
        .unwrap()
}

struct Setup {
    sandbox: Sandbox,
    worker: Worker,
    publisher: Arc<MemoryPublisher>,
    clock: Arc<ManualClock>,
    group: String,
}

async fn setup() -> Setup {
    let sandbox = Sandbox::start_default().await.unwrap();
    let group = sandbox
        .insert_group(json!({"displayName": "Benelux customers"}))
        .unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let publisher = Arc::new(MemoryPublisher::new());
    let worker = Worker::new(
        graph(&sandbox),
        Arc::new(MemoryStore::with_clock(clock.clone())),
        reactions(&group),
        publisher.clone(),
        Duration::from_secs(30),
    );
    Setup {
        sandbox,
        worker,
        publisher,
        clock,
        group,
    }
}

fn message(user: &str, change_type: ChangeType, marker: &str) -> String {
    serde_json::to_string(&QueueMessage::Change(DirectoryChange {
        source: ChangeSource::GraphWebhook,
        tenant_id: "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93".into(),
        resource_kind: ResourceKind::User,
        resource_id: user.into(),
        change_type,
        subscription_id: Some("sub-1".into()),
        occurred_at: None,
        marker: marker.into(),
        resource_data: None,
    }))
    .unwrap()
}

#[tokio::test]
async fn a_new_customer_gets_the_group_the_default_and_one_event_even_when_delivered_twice() {
    let s = setup().await;
    let user = s
        .sandbox
        .insert_user(json!({"displayName": "Noor de Vries", "country": "Netherlands"}))
        .unwrap();
    let body = message(&user, ChangeType::Updated, "seq-1");

    let processed = s.worker.process(&body).await.unwrap();
    assert_eq!(
        processed,
        Processed::Reacted(vec![
            "dutch customers join the group".into(),
            "job title default".into(),
            "tell the CRM".into()
        ])
    );
    assert_eq!(s.sandbox.group_member_ids(&s.group), vec![user.clone()]);
    assert_eq!(s.sandbox.user(&user).unwrap()["jobTitle"], "Customer");
    let events = s.publisher.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail["resourceId"], user);
    assert_eq!(events[0].detail["changeType"], "updated");
    assert_eq!(events[0].source, "entra-hooks");

    // The same message again reacts once.
    assert_eq!(s.worker.process(&body).await.unwrap(), Processed::Duplicate);
    assert_eq!(s.publisher.events().len(), 1);
    // The same change reported by the other source (the poller) finds the user in the state the
    // reactions already ran for: nothing runs twice.
    let mut from_poller: QueueMessage =
        serde_json::from_str(&message(&user, ChangeType::Updated, "audit-77")).unwrap();
    if let QueueMessage::Change(change) = &mut from_poller {
        change.source = ChangeSource::DirectoryPoller;
        change.subscription_id = None;
    }
    assert_eq!(
        s.worker
            .process(&serde_json::to_string(&from_poller).unwrap())
            .await
            .unwrap(),
        Processed::Reacted(vec![])
    );
    assert_eq!(s.publisher.events().len(), 1);
    // A later change of the user (new state) runs again; the idempotent reactions change nothing.
    let client = graph(&s.sandbox);
    let url = client.url(&["users", &user]);
    client
        .send(
            GraphRequest::new(http::Method::PATCH, url)
                .with_json(&json!({"country": "Belgium"}))
                .unwrap(),
        )
        .await
        .unwrap();
    s.worker
        .process(&message(&user, ChangeType::Updated, "seq-2"))
        .await
        .unwrap();
    assert_eq!(s.sandbox.group_member_ids(&s.group), vec![user.clone()]);
    assert_eq!(s.publisher.events().len(), 2);
    // A customer elsewhere gets the default but not the group.
    let other = s
        .sandbox
        .insert_user(json!({"displayName": "Ana", "country": "Portugal", "jobTitle": "Chef"}))
        .unwrap();
    s.worker
        .process(&message(&other, ChangeType::Updated, "seq-1"))
        .await
        .unwrap();
    assert_eq!(s.sandbox.group_member_ids(&s.group), vec![user]);
    assert_eq!(s.sandbox.user(&other).unwrap()["jobTitle"], "Chef");
}

#[tokio::test]
async fn a_deleted_user_reads_as_absent_and_only_unconditional_reactions_run() {
    let s = setup().await;
    let processed = s
        .worker
        .process(&message(
            "00000000-0000-0000-0000-00000000dead",
            ChangeType::Deleted,
            "x",
        ))
        .await
        .unwrap();
    assert_eq!(processed, Processed::Reacted(vec!["tell the CRM".into()]));
    assert_eq!(
        s.publisher.events()[0].detail["resource"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn a_failing_graph_releases_the_claim_and_the_retry_succeeds() {
    let s = setup().await;
    let user = s
        .sandbox
        .insert_user(json!({"displayName": "Lotte", "country": "Belgium"}))
        .unwrap();
    s.sandbox.faults().add(FaultRule::new(
        "/v1.0/groups",
        Fault::ServiceUnavailable {
            retry_after: Some(RetryAfter::Seconds(0)),
        },
        None,
    ));
    let body = message(&user, ChangeType::Updated, "seq-9");
    let error = s.worker.process(&body).await.unwrap_err();
    assert!(
        matches!(&error, WorkError::Reaction { reaction, .. } if reaction == "dutch customers join the group"),
        "{error}"
    );
    s.sandbox.faults().clear();
    assert!(matches!(
        s.worker.process(&body).await.unwrap(),
        Processed::Reacted(_)
    ));
    assert_eq!(s.sandbox.group_member_ids(&s.group), vec![user]);
}

#[tokio::test]
async fn a_worker_that_died_mid_message_is_taken_over_after_the_visibility_timeout() {
    let s = setup().await;
    let user = s
        .sandbox
        .insert_user(json!({"displayName": "Sem", "country": "Netherlands"}))
        .unwrap();
    let body = message(&user, ChangeType::Updated, "seq-3");
    let QueueMessage::Change(change) = serde_json::from_str(&body).unwrap() else {
        unreachable!()
    };
    // Another worker claimed the message and died before reacting.
    let markers = s.worker.markers();
    let claim = markers.claim(&change.dedup_key()).await.unwrap();
    assert!(matches!(
        claim,
        notification_worker::dedup::Claim::Claimed(_)
    ));
    assert!(matches!(
        s.worker.process(&body).await.unwrap_err(),
        WorkError::Busy
    ));
    assert!(s.sandbox.group_member_ids(&s.group).is_empty());
    s.clock.advance(Duration::from_secs(31));
    assert!(matches!(
        s.worker.process(&body).await.unwrap(),
        Processed::Reacted(_)
    ));
    assert_eq!(s.sandbox.group_member_ids(&s.group), vec![user]);
    assert_eq!(s.publisher.events().len(), 1);
}

#[tokio::test]
async fn an_sqs_batch_reports_only_the_failed_messages() {
    let s = setup().await;
    let user = s
        .sandbox
        .insert_user(json!({"displayName": "Daan", "country": "Netherlands"}))
        .unwrap();
    let record = |id: &str, body: &str| {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.into());
        message.body = Some(body.into());
        message
            .attributes
            .insert("ApproximateReceiveCount".into(), "1".into());
        message
    };
    let mut event = SqsEvent::default();
    event.records = vec![
        record("m-1", &message(&user, ChangeType::Updated, "a")),
        record("m-2", "{\"kind\":\"explosion\"}"),
        record("m-3", &message(&user, ChangeType::Updated, "a")),
    ];
    let response = handle_batch(&s.worker, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, vec!["m-2"]);
    assert_eq!(s.publisher.events().len(), 1, "m-3 repeats m-1");
    let poison = s
        .worker
        .process("{\"kind\":\"explosion\"}")
        .await
        .unwrap_err();
    assert!(matches!(poison, WorkError::Poison(_)));
}

#[test]
fn the_shipped_rules_files_load() {
    for path in ["rules.example.toml", "../../config/rules.toml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        let reactions: DirectoryReactions = RulesFile::load(&path)
            .and_then(|file| file.section(SECTION))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!reactions.reactions.is_empty(), "{}", path.display());
    }
}

/// `remove_from_group` (idempotent, also for a user who is not a member) and a custom Rust
/// reaction, which receives the change, the resource and the Graph client.
#[tokio::test]
async fn removal_and_custom_reactions_run_and_are_idempotent() {
    struct Tagger(std::sync::Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl notification_worker::ReactionExtension for Tagger {
        async fn react(
            &self,
            change: &DirectoryChange,
            resource: Option<&serde_json::Value>,
            _graph: &GraphClient,
        ) -> Result<(), String> {
            let name = resource
                .and_then(|r| r["displayName"].as_str())
                .unwrap_or("?");
            self.0
                .lock()
                .unwrap()
                .push(format!("{}:{name}", change.resource_id));
            Ok(())
        }
    }

    let sandbox = Sandbox::start_default().await.unwrap();
    let group = sandbox
        .insert_group(json!({"displayName": "Suspended"}))
        .unwrap();
    let user = sandbox
        .insert_user(json!({"displayName": "Mila", "accountEnabled": false}))
        .unwrap();
    sandbox.add_member(&group, &user).unwrap();
    let rules: DirectoryReactions = RulesFile::parse(
        format!(
            r#"
[directory_reactions]
[[directory_reactions.reactions]]
name = "disabled leave the group"
resource = "user"
when = {{ accountEnabled = false }}
remove_from_group = "{group}"

[[directory_reactions.reactions]]
name = "tag"
resource = "user"
when = {{ accountEnabled = false }}
custom = "tagger"
"#
        ),
        "rules.toml",
    )
    .unwrap()
    .section(SECTION)
    .unwrap();
    let tagger = Arc::new(Tagger(std::sync::Mutex::new(Vec::new())));
    let worker = Worker::new(
        graph(&sandbox),
        Arc::new(MemoryStore::new()),
        rules.clone(),
        Arc::new(MemoryPublisher::new()),
        Duration::from_secs(30),
    )
    .with_extension("tagger", tagger.clone());
    assert!(worker.missing_extensions().is_empty());
    let processed = worker
        .process(&message(&user, ChangeType::Updated, "s-1"))
        .await
        .unwrap();
    assert_eq!(
        processed,
        Processed::Reacted(vec!["disabled leave the group".into(), "tag".into()])
    );
    assert!(sandbox.group_member_ids(&group).is_empty());
    assert_eq!(*tagger.0.lock().unwrap(), vec![format!("{user}:Mila")]);
    // Removing a user who is no longer a member is fine (another change, same state: skipped).
    let again = worker
        .process(&message(&user, ChangeType::Updated, "s-2"))
        .await
        .unwrap();
    assert_eq!(again, Processed::Reacted(vec![]));

    // A custom reaction without a registered extension is a start-up error.
    let unregistered = Worker::new(
        graph(&sandbox),
        Arc::new(MemoryStore::new()),
        rules,
        Arc::new(MemoryPublisher::new()),
        Duration::from_secs(30),
    );
    assert_eq!(unregistered.missing_extensions(), vec!["tagger".to_owned()]);
}
