//! SQS in memory, with its visibility rules: a received message is hidden until it is deleted,
//! its visibility is changed or time passes (only when a test says so); a stale receipt handle
//! is refused. Sending and dead-lettering can be made to fail.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use lwct_aws::queue::{MessageQueues, RejectedMessage};
use lwct_aws::registration_queue::{ReceivedMessage, RegistrationQueue};
use lwct_domain::Error;

/// One message of a queue.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: u64,
    pub body: String,
    pub receive_count: u32,
    pub visible: bool,
    receipt: Option<String>,
    /// The visibility timeout last set by the consumer, if any.
    pub hidden_for: Option<Duration>,
    /// For dead-lettered messages, the `reason` attribute.
    pub reason: Option<String>,
}

/// A message sent to a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub queue_url: String,
    pub body: String,
    pub reason: String,
}

/// A `ChangeMessageVisibility` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisibilityChange {
    pub queue_url: String,
    pub receipt_handle: String,
    pub visibility: Duration,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    /// Queue name -> messages, oldest first.
    queues: BTreeMap<String, Vec<Message>>,
    /// (queue URL, body) of every message sent with `SendMessageBatch`, in order.
    sent: Vec<(String, String)>,
    dead_letters: Vec<DeadLetter>,
    visibility_changes: Vec<VisibilityChange>,
    /// How many messages each `ChangeMessageVisibilityBatch` call released, in order.
    release_batches: Vec<usize>,
    /// How many `GetQueueUrl` calls were made.
    url_lookups: usize,
    failing_sends: bool,
    failing_dead_letters: bool,
}

/// The queues of one account in memory.
#[derive(Debug)]
pub struct MemoryQueues {
    url_start: String,
    state: Mutex<State>,
}

impl MemoryQueues {
    /// The queues of `account` in us-east-1.
    pub fn new(account: &str) -> Self {
        Self {
            url_start: format!("https://sqs.us-east-1.amazonaws.com/{account}/"),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The queue's name: the last part of its URL.
    fn name_of(url: &str) -> String {
        url.rsplit('/').next().unwrap_or(url).to_owned()
    }

    /// Every message of the queue `name`, visible or not.
    pub fn messages(&self, name: &str) -> Vec<Message> {
        self.state().queues.get(name).cloned().unwrap_or_default()
    }

    /// The bodies of the queue `name`.
    pub fn bodies(&self, name: &str) -> Vec<String> {
        self.messages(name).into_iter().map(|m| m.body).collect()
    }

    /// (queue URL, body) of every message sent in batches, in order.
    pub fn sent(&self) -> Vec<(String, String)> {
        self.state().sent.clone()
    }

    /// Every message sent to a dead-letter queue, in order.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.state().dead_letters.clone()
    }

    /// Every visibility change, in order (receipt handles of an event source included).
    pub fn visibility_changes(&self) -> Vec<VisibilityChange> {
        self.state().visibility_changes.clone()
    }

    /// How many `GetQueueUrl` calls were made.
    pub fn url_lookups(&self) -> usize {
        self.state().url_lookups
    }

    /// How many messages each `ChangeMessageVisibilityBatch` call released, in order.
    pub fn release_batches(&self) -> Vec<usize> {
        self.state().release_batches.clone()
    }

    /// Puts a message on the queue `name`, as another function would.
    pub fn put(&self, name: &str, body: &str) {
        let mut state = self.state();
        state.next_id += 1;
        let id = state.next_id;
        state
            .queues
            .entry(name.to_owned())
            .or_default()
            .push(Message {
                id,
                body: body.to_owned(),
                receive_count: 0,
                visible: true,
                receipt: None,
                hidden_for: None,
                reason: None,
            });
    }

    /// Every hidden message's visibility timeout ends.
    pub fn time_passes(&self) {
        for messages in self.state().queues.values_mut() {
            for message in messages {
                message.visible = true;
            }
        }
    }

    /// Makes `SendMessageBatch` fail, throttled (or work again).
    pub fn fail_sends(&self, fail: bool) {
        self.state().failing_sends = fail;
    }

    /// Makes sending to a dead-letter queue fail, throttled (or work again).
    pub fn fail_dead_letters(&self, fail: bool) {
        self.state().failing_dead_letters = fail;
    }
}

fn throttled(operation: &str) -> Error {
    Error::Aws {
        operation: operation.to_owned(),
        code: Some("ThrottlingException".to_owned()),
        message: "Rate exceeded".to_owned(),
        retryable: true,
    }
}

fn stale_receipt(operation: &str) -> Error {
    Error::Aws {
        operation: operation.to_owned(),
        code: Some("ReceiptHandleIsInvalid".to_owned()),
        message: "the receipt handle is not current".to_owned(),
        retryable: false,
    }
}

/// Whether `receipt` is one this fake gave out (`<id>-<receive count>`), rather than one of
/// a Lambda event source.
fn ours(receipt: &str) -> bool {
    receipt
        .split_once('-')
        .is_some_and(|(id, count)| id.parse::<u64>().is_ok() && count.parse::<u32>().is_ok())
}

impl MessageQueues for MemoryQueues {
    async fn queue_url(&self, name: &str) -> Result<String, Error> {
        self.state().url_lookups += 1;
        Ok(format!("{}{name}", self.url_start))
    }

    async fn send_batch(
        &self,
        queue_url: &str,
        bodies: &[String],
    ) -> Result<Vec<RejectedMessage>, Error> {
        assert!(
            bodies.len() <= 10,
            "SQS takes at most 10 messages per batch"
        );
        if self.state().failing_sends {
            return Err(throttled("sqs:SendMessageBatch"));
        }
        for body in bodies {
            self.put(&Self::name_of(queue_url), body);
            let mut state = self.state();
            state.sent.push((queue_url.to_owned(), body.clone()));
        }
        Ok(Vec::new())
    }
}

impl RegistrationQueue for MemoryQueues {
    async fn receive(
        &self,
        queue_url: &str,
        max: u32,
        _visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        let mut state = self.state();
        let messages = state.queues.entry(Self::name_of(queue_url)).or_default();
        let mut received = Vec::new();
        for message in messages.iter_mut().filter(|m| m.visible) {
            if received.len() >= max.min(10) as usize {
                break;
            }
            message.visible = false;
            message.receive_count += 1;
            let receipt = format!("{}-{}", message.id, message.receive_count);
            message.receipt = Some(receipt.clone());
            received.push(ReceivedMessage {
                message_id: message.id.to_string(),
                body: message.body.clone(),
                receipt_handle: receipt,
                receive_count: message.receive_count,
            });
        }
        Ok(received)
    }

    async fn delete(&self, queue_url: &str, receipt_handle: &str) -> Result<(), Error> {
        let mut state = self.state();
        let messages = state.queues.entry(Self::name_of(queue_url)).or_default();
        let before = messages.len();
        messages.retain(|m| m.receipt.as_deref() != Some(receipt_handle));
        if messages.len() == before && ours(receipt_handle) {
            return Err(stale_receipt("sqs:DeleteMessage"));
        }
        Ok(())
    }

    async fn delete_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> Result<Vec<(String, String)>, Error> {
        assert!(
            receipt_handles.len() <= 10,
            "SQS deletes at most 10 messages per batch"
        );
        let mut failed = Vec::new();
        for handle in receipt_handles {
            if let Err(err) = self.delete(queue_url, handle).await {
                failed.push((handle.clone(), err.to_string()));
            }
        }
        Ok(failed)
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        visibility: Duration,
    ) -> Result<(), Error> {
        let mut state = self.state();
        state.visibility_changes.push(VisibilityChange {
            queue_url: queue_url.to_owned(),
            receipt_handle: receipt_handle.to_owned(),
            visibility,
        });
        let messages = state.queues.entry(Self::name_of(queue_url)).or_default();
        match messages
            .iter_mut()
            .find(|m| m.receipt.as_deref() == Some(receipt_handle))
        {
            Some(message) => {
                message.visible = visibility.is_zero();
                message.hidden_for = Some(visibility);
                Ok(())
            }
            None if ours(receipt_handle) => Err(stale_receipt("sqs:ChangeMessageVisibility")),
            None => Ok(()),
        }
    }

    async fn release_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> Result<Vec<(String, String)>, Error> {
        assert!(
            receipt_handles.len() <= 10,
            "SQS changes at most 10 messages' visibility per batch"
        );
        self.state().release_batches.push(receipt_handles.len());
        let mut failed = Vec::new();
        for handle in receipt_handles {
            if let Err(err) = self
                .change_visibility(queue_url, handle, Duration::ZERO)
                .await
            {
                failed.push((handle.clone(), err.to_string()));
            }
        }
        Ok(failed)
    }

    async fn dead_letter(
        &self,
        dead_letter_queue_url: &str,
        body: &str,
        reason: &str,
    ) -> Result<(), Error> {
        if self.state().failing_dead_letters {
            return Err(throttled("sqs:SendMessage"));
        }
        let name = Self::name_of(dead_letter_queue_url);
        self.put(&name, body);
        let mut state = self.state();
        if let Some(last) = state
            .queues
            .get_mut(&name)
            .and_then(|messages| messages.last_mut())
        {
            last.reason = Some(reason.to_owned());
        }
        state.dead_letters.push(DeadLetter {
            queue_url: dead_letter_queue_url.to_owned(),
            body: body.to_owned(),
            reason: reason.to_owned(),
        });
        Ok(())
    }
}
