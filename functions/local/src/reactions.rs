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
    pub fn start(
        graph: GraphClient,
        tenant_id: &str,
        rules: &RulesSource,
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
                first_lookback: time::Duration::minutes(5),
                ..PollerSettings::default()
            },
        );
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
