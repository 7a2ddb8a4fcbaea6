//! The notification worker: consumes directory-change messages from the queue (SQS with partial
//! batch responses in Lambda, the embedded queue on the local host) and runs the declarative
//! reactions of the rules file's `[directory_reactions]` section, once per message.
//!
//! Messages come from the receiver (Graph webhooks) or the directory poller (External ID tenants)
//! in one shape ([`entra_notifications::event::QueueMessage`]), so the same reactions serve both.

pub mod config;
pub mod dedup;
pub mod lambda;
pub mod publish;
pub mod rules;
pub mod worker;

pub use config::{SetupError, WorkerConfig};
pub use publish::{DirectoryEvent, EventBridgePublisher, EventPublisher, MemoryPublisher};
pub use rules::{DirectoryReactions, SECTION};
pub use worker::{MISSED_WINDOW, Processed, ReactionExtension, Reconciler, WorkError, Worker};
