//! Directory change reactions on the local host: the embedded queue, the worker consuming it and
//! the directory poller feeding it from the simulated tenant, as the four Lambda functions and SQS
//! do in AWS. Creating a user in the simulated tenant (e.g. `POST /local/users`) shows the
//! reactions happen a moment later: a group joined, a default written, an event published (logged).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use directory_poller::{Poller, PollerSettings};
use entra_graph::GraphClient;
use entra_platform::queue::MemoryQueue;
use entra_platform::store::MemoryStore;
use notification_worker::{DirectoryReactions, MemoryPublisher, Worker};
use tokio::task::JoinHandle;

use crate::RulesSource;

/// The `clientState` of the local host's `users` subscription (local only; in AWS each
/// subscription's value is a generated secret).
pub const LOCAL_CLIENT_STATE: &str = "local-only-client-state-for-the-users-subscription";

/// The notification receiver, feeding the local queue. Validation tokens are checked against the
/// simulated tenant's `common` keys, with our Graph app as the audience.
pub fn receiver_router(sandbox: &entra_sandbox::Sandbox, queue: Arc<MemoryQueue>) -> axum::Router {
    let config = sandbox.config();
    let policy = entra_tokens::CallerPolicy::graph_notification(
        vec![config.tenant_id.clone()],
        vec![config.graph_client_id.clone()],
    );
    let validator = entra_tokens::TokenValidator::new(
        policy,
        entra_tokens::KeySet::new(sandbox.common_discovery_url(), reqwest::Client::new()),
    );
    let receiver = notification_receiver::NotificationReceiver::new(
        config.tenant_id.clone(),
        std::collections::HashMap::from([(
            "users".to_owned(),
            entra_platform::SecretValue::new(LOCAL_CLIENT_STATE),
        )]),
        Some(validator),
        entra_notifications::decrypt::DecryptionKeys::new(),
        queue,
    );
    notification_receiver::router(Arc::new(receiver), notification_receiver::MAX_BODY_BYTES)
}

/// Creates the local `users` subscription to the receiver at `receiver` (in the background: the
/// tenant's validation request needs the host to be serving already).
pub fn subscribe(graph: GraphClient, receiver: &str) -> anyhow::Result<()> {
    use entra_notifications::config::{NotificationsConfig, SubscriptionSpec};
    use entra_notifications::wire::ChangeType;
    let notifications = NotificationsConfig {
        public_url: Some(receiver.parse().context("the local receiver URL")?),
        subscriptions: vec![SubscriptionSpec {
            name: "users".into(),
            resource: "users".into(),
            change_types: vec![ChangeType::Updated, ChangeType::Deleted],
            client_state: format!("literal:{LOCAL_CLIENT_STATE}")
                .parse()
                .context("the local clientState")?,
            include_resource_data: false,
            encryption_certificate: None,
            encryption_certificate_id: None,
            expiry_minutes: 41_700,
        }],
        ..NotificationsConfig::default()
    };
    let keeper = subscription_keeper::Keeper::new(
        graph,
        notifications,
        entra_platform::SecretResolver::new().allow_literal(true),
        Arc::new(MemoryStore::new()),
        time::Duration::hours(72),
    );
    tokio::spawn(async move {
        match keeper.sync(time::OffsetDateTime::now_utc()).await {
            Ok(actions) => tracing::info!(?actions, "local Graph subscription to the receiver"),
            Err(error) => tracing::warn!(%error, "could not subscribe the local receiver"),
        }
    });
    Ok(())
}

/// `GET /local/queue`: what waits on the embedded queue.
pub fn queue_router(queue: Arc<MemoryQueue>) -> axum::Router {
    axum::Router::new().route(
        "/local/queue",
        axum::routing::get(move || {
            let queue = queue.clone();
            async move {
                axum::Json(serde_json::json!({
                    "waiting": queue.len(),
                    "inFlight": queue.in_flight(),
                }))
            }
        }),
    )
}

/// A change notification for the demo user, as Graph would POST it for the local `users`
/// subscription (`/local/samples/notification`).
pub fn sample_notification(config: &entra_sandbox::SandboxConfig) -> serde_json::Value {
    let user = entra_sandbox::directory::DEMO_USER_ID;
    serde_json::json!({"value": [{
        "changeType": "updated",
        "clientState": LOCAL_CLIENT_STATE,
        "resource": format!("Users/{user}"),
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.User",
            "@odata.id": format!("Users/{user}"),
            "id": user,
            "organizationId": config.tenant_id,
            "eventTime": "2026-11-26T21:03:12.1234567Z",
            "sequenceNumber": uuid::Uuid::new_v4().to_string()
        },
        "subscriptionExpirationDateTime": "2026-12-20T11:00:00.0000000+00:00",
        "subscriptionId": "00000000-0000-4000-8000-00000000c0de",
        "tenantId": config.tenant_id
    }]})
}

/// How often the local poller reads the simulated tenant.
pub const LOCAL_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// The embedded queue's visibility timeout (a failed message comes back after it).
const VISIBILITY: Duration = Duration::from_secs(10);
/// Receives before a message goes to the embedded dead-letter queue.
const MAX_RECEIVES: u32 = 5;

/// The running pipeline; dropping it stops the worker and the poller.
pub struct LocalReactions {
    pub queue: Arc<MemoryQueue>,
    pub publisher: Arc<MemoryPublisher>,
    tasks: Vec<JoinHandle<()>>,
}

impl LocalReactions {
    /// Starts the worker loop and the poller loop against the sandbox's Graph (`graph`).
    /// With `run` false only the queue exists (messages stay queued).
    pub fn start(
        graph: GraphClient,
        tenant_id: &str,
        rules: &RulesSource,
        run: bool,
    ) -> anyhow::Result<LocalReactions> {
        let (file, _) = rules.for_function("notification-worker")?;
        let reactions: DirectoryReactions = file
            .section(notification_worker::SECTION)
            .context("the [directory_reactions] section")?;
        let dead_letters = Arc::new(MemoryQueue::new());
        let queue = Arc::new(MemoryQueue::new().with_dead_letter_queue(dead_letters, MAX_RECEIVES));
        let publisher = Arc::new(MemoryPublisher::new());
        let store = Arc::new(MemoryStore::new());
        let worker = Arc::new(Worker::new(
            graph.clone(),
            store.clone(),
            reactions,
            publisher.clone(),
            VISIBILITY,
        ));
        let poller = Poller::new(
            graph,
            queue.clone(),
            store,
            tenant_id,
            PollerSettings {
                // From start on, re-reading the last minute each time (records arrive late).
                first_lookback: time::Duration::ZERO,
                overlap: time::Duration::minutes(1),
                ..PollerSettings::default()
            },
        );
        if !run {
            return Ok(LocalReactions {
                queue,
                publisher,
                tasks: Vec::new(),
            });
        }
        let consumer = {
            let queue = queue.clone();
            tokio::spawn(async move {
                loop {
                    queue.wait_for_messages().await;
                    for message in queue.receive(10, VISIBILITY) {
                        match worker.process(&message.body).await {
                            Ok(processed) => {
                                tracing::info!(?processed, "local worker");
                                queue.delete(&message.receipt);
                            }
                            Err(error) => {
                                tracing::warn!(%error, "local worker: message failed; it comes back after the visibility timeout")
                            }
                        }
                    }
                }
            })
        };
        let polling = tokio::spawn(async move {
            loop {
                if let Err(error) = poller.run(time::OffsetDateTime::now_utc()).await {
                    tracing::warn!(%error, "local directory poll failed");
                }
                tokio::time::sleep(LOCAL_POLL_INTERVAL).await;
            }
        });
        Ok(LocalReactions {
            queue,
            publisher,
            tasks: vec![consumer, polling],
        })
    }
}

impl Drop for LocalReactions {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
