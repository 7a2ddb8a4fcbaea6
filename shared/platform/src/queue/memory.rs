//! The in-process adapter: the local host's queue and the reference the SQS adapter is tested
//! against. It keeps the parts of SQS's semantics a worker depends on, so a consumer loop written
//! against it behaves as the Lambda worker does against SQS:
//! - a received message is hidden for its visibility timeout and comes back if not deleted in
//!   time, with its receive count one higher
//!   (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html>);
//! - every receive hands out a new receipt, and only the latest one deletes the message;
//! - with a redrive policy, a message received `max_receive_count` times goes to the dead-letter
//!   queue instead of being delivered again
//!   (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html>).
//!   As in SQS, the move happens when the source queue is next polled (any receive, wait, `len`
//!   or `in_flight` after the message's visibility timeout), so a consumer polling the source
//!   queue is what fills the dead-letter queue;
//! - [`MemoryQueue::receive_wait`] long-polls and [`MemoryQueue::wait_for_messages`] sleeps until
//!   a message is visible, on tokio's `Notify` and timers, never by polling.
//!
//! Time is tokio's clock, so tests can pause and advance it instead of sleeping. Messages live as
//! long as the process; there is no retention period and no delivery delay.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{MessageQueue, OutgoingMessage, QueueError, check_batch};

/// Longest visibility timeout SQS allows; longer ones are cut to it.
pub const MAX_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(12 * 60 * 60);

/// One message handed to a consumer. `Debug` shows ids and counts, not the body.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The message's id, the same on every delivery (SQS `MessageId`).
    pub id: String,
    /// The handle of this delivery; pass it to [`MemoryQueue::delete`] (SQS `ReceiptHandle`).
    pub receipt: String,
    /// The body as sent.
    pub body: String,
    /// The string attributes as sent.
    pub attributes: BTreeMap<String, String>,
    /// How many times the message has been received, this delivery included (SQS
    /// `ApproximateReceiveCount`, exact here).
    pub receive_count: u32,
}

impl fmt::Debug for ReceivedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceivedMessage")
            .field("id", &self.id)
            .field("receive_count", &self.receive_count)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

struct Stored {
    id: String,
    body: String,
    attributes: BTreeMap<String, String>,
    receive_count: u32,
    /// The receipt of the latest delivery: the only one that deletes the message.
    receipt: Option<String>,
    /// In flight until then; `None` when visible.
    invisible_until: Option<Instant>,
}

/// The messages, in the order they arrived (oldest first is what consumers get).
#[derive(Default)]
struct Messages {
    by_seq: BTreeMap<u64, Stored>,
    receipts: HashMap<String, u64>,
    next_seq: u64,
}

impl Messages {
    fn push(&mut self, stored: Stored) {
        self.by_seq.insert(self.next_seq, stored);
        self.next_seq += 1;
    }

    fn has_visible(&self) -> bool {
        self.by_seq.values().any(|m| m.invisible_until.is_none())
    }

    /// When the next in-flight message becomes visible again.
    fn next_visible_at(&self) -> Option<Instant> {
        self.by_seq.values().filter_map(|m| m.invisible_until).min()
    }

    /// Makes messages whose visibility timeout has passed visible again, and takes out those the
    /// redrive policy sends to the dead-letter queue (received `max_receive_count` times already).
    fn release_expired(&mut self, now: Instant, max_receive_count: Option<u32>) -> Vec<Stored> {
        let mut dead = Vec::new();
        for (seq, message) in &mut self.by_seq {
            if message.invisible_until.is_some_and(|until| until <= now) {
                message.invisible_until = None;
                if max_receive_count.is_some_and(|max| message.receive_count >= max) {
                    dead.push(*seq);
                }
            }
        }
        dead.into_iter()
            .filter_map(|seq| self.by_seq.remove(&seq))
            .inspect(|message| {
                if let Some(receipt) = &message.receipt {
                    self.receipts.remove(receipt);
                }
            })
            .collect()
    }
}

/// Where messages go after too many receives (an SQS redrive policy).
#[derive(Debug)]
struct Redrive {
    dead_letter: Arc<MemoryQueue>,
    max_receive_count: u32,
}

/// A [`MessageQueue`] in memory with SQS-like consumer semantics (see the module docs).
pub struct MemoryQueue {
    messages: Mutex<Messages>,
    /// Woken when messages arrive.
    arrived: Notify,
    redrive: Option<Redrive>,
}

impl fmt::Debug for MemoryQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryQueue")
            .field("redrive", &self.redrive)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryQueue {
    /// An empty queue without a dead-letter queue: messages come back until deleted.
    pub fn new() -> Self {
        Self {
            messages: Mutex::new(Messages::default()),
            arrived: Notify::new(),
            redrive: None,
        }
    }

    /// Moves a message to `dead_letter` when it comes back after `max_receive_count` receives
    /// (SQS `maxReceiveCount`, 1 to 1000; 0 is taken as 1). The message keeps its id, body,
    /// attributes and receive count.
    pub fn with_dead_letter_queue(
        mut self,
        dead_letter: Arc<MemoryQueue>,
        max_receive_count: u32,
    ) -> Self {
        self.redrive = Some(Redrive {
            dead_letter,
            max_receive_count: max_receive_count.max(1),
        });
        self
    }

    /// The dead-letter queue, when one is configured.
    pub fn dead_letter_queue(&self) -> Option<&Arc<MemoryQueue>> {
        self.redrive.as_ref().map(|redrive| &redrive.dead_letter)
    }

    /// Up to `max` visible messages, oldest first, each hidden for `visibility_timeout` (at most
    /// [`MAX_VISIBILITY_TIMEOUT`]) unless deleted. Empty when nothing is visible; does not wait
    /// (see [`MemoryQueue::receive_wait`]).
    pub fn receive(&self, max: usize, visibility_timeout: Duration) -> Vec<ReceivedMessage> {
        let now = Instant::now();
        let invisible_until = now + visibility_timeout.min(MAX_VISIBILITY_TIMEOUT);
        let mut guard = self.settled(now);
        let Messages {
            by_seq, receipts, ..
        } = &mut *guard;
        let mut received = Vec::new();
        for (seq, message) in by_seq
            .iter_mut()
            .filter(|(_, m)| m.invisible_until.is_none())
            .take(max)
        {
            let receipt = uuid::Uuid::new_v4().to_string();
            if let Some(old) = message.receipt.replace(receipt.clone()) {
                receipts.remove(&old);
            }
            receipts.insert(receipt.clone(), *seq);
            message.receive_count = message.receive_count.saturating_add(1);
            message.invisible_until = Some(invisible_until);
            received.push(ReceivedMessage {
                id: message.id.clone(),
                receipt,
                body: message.body.clone(),
                attributes: message.attributes.clone(),
                receive_count: message.receive_count,
            });
        }
        received
    }

    /// Like [`MemoryQueue::receive`], but when nothing is visible waits up to `wait` for a
    /// message (SQS long polling, `WaitTimeSeconds`). Empty only when `wait` passed with nothing
    /// to receive (or `max` is 0).
    pub async fn receive_wait(
        &self,
        max: usize,
        visibility_timeout: Duration,
        wait: Duration,
    ) -> Vec<ReceivedMessage> {
        let deadline = Instant::now().checked_add(wait);
        loop {
            let received = self.receive(max, visibility_timeout);
            if !received.is_empty() || max == 0 {
                return received;
            }
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, self.wait_for_messages())
                        .await
                        .is_err()
                    {
                        return Vec::new();
                    }
                }
                None => self.wait_for_messages().await,
            }
        }
    }

    /// Returns once at least one message is visible: immediately, when one arrives, or when an
    /// in-flight one's visibility timeout ends. Another consumer may take it first, so receive
    /// and wait again when the receive comes back empty. Cancel-safe (use it in `select!` with a
    /// shutdown signal, or under `tokio::time::timeout`).
    pub async fn wait_for_messages(&self) {
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            // Registered before looking, so a message sent in between still wakes us.
            arrived.as_mut().enable();
            let next_visible_at = {
                let messages = self.settled(Instant::now());
                if messages.has_visible() {
                    return;
                }
                messages.next_visible_at()
            };
            match next_visible_at {
                Some(at) => {
                    tokio::select! {
                        () = &mut arrived => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => arrived.await,
            }
        }
    }

    /// Deletes the message `receipt` was handed out with. `false` when the receipt is unknown or
    /// stale (the message was received again since, or is gone); SQS may likewise accept such a
    /// delete without deleting anything, and the message is delivered again.
    pub fn delete(&self, receipt: &str) -> bool {
        let mut messages = self.lock();
        match messages.receipts.remove(receipt) {
            Some(seq) => messages.by_seq.remove(&seq).is_some(),
            None => false,
        }
    }

    /// Messages waiting to be received (SQS `ApproximateNumberOfMessages`); in-flight ones are
    /// counted by [`MemoryQueue::in_flight`].
    pub fn len(&self) -> usize {
        self.settled(Instant::now())
            .by_seq
            .values()
            .filter(|m| m.invisible_until.is_none())
            .count()
    }

    /// True when no message is waiting to be received (in-flight ones may still come back).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages received and neither deleted nor visible again yet (SQS
    /// `ApproximateNumberOfMessagesNotVisible`).
    pub fn in_flight(&self) -> usize {
        self.settled(Instant::now())
            .by_seq
            .values()
            .filter(|m| m.invisible_until.is_some())
            .count()
    }

    fn lock(&self) -> MutexGuard<'_, Messages> {
        // A poisoned lock means a panic elsewhere while holding it; every operation leaves the
        // messages consistent, so it is safe to keep using.
        self.messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The messages with expired visibility timeouts applied: visible again, or moved to the
    /// dead-letter queue (outside our lock, so the two locks are never held together).
    fn settled(&self, now: Instant) -> MutexGuard<'_, Messages> {
        loop {
            let mut messages = self.lock();
            let max_receive_count = self.redrive.as_ref().map(|r| r.max_receive_count);
            let dead = messages.release_expired(now, max_receive_count);
            match (&self.redrive, dead.is_empty()) {
                (Some(redrive), false) => {
                    drop(messages);
                    redrive.dead_letter.accept(dead);
                }
                _ => return messages,
            }
        }
    }

    /// Adds messages (new or moved from a source queue) and wakes waiting consumers.
    fn accept(&self, incoming: Vec<Stored>) {
        {
            let mut messages = self.lock();
            for mut message in incoming {
                message.receipt = None;
                message.invisible_until = None;
                messages.push(message);
            }
        }
        self.arrived.notify_waiters();
    }
}

#[async_trait]
impl MessageQueue for MemoryQueue {
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Result<(), QueueError> {
        check_batch(messages)?;
        if messages.is_empty() {
            return Ok(());
        }
        self.accept(
            messages
                .iter()
                .map(|message| Stored {
                    id: uuid::Uuid::new_v4().to_string(),
                    body: message.body.clone(),
                    attributes: message.attributes.clone(),
                    receive_count: 0,
                    receipt: None,
                    invisible_until: None,
                })
                .collect(),
        );
        Ok(())
    }
}
