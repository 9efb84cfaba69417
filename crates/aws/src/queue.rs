//! Amazon SQS: finding the product's queues by name and sending work to them in batches.
//!
//! [`MessageQueues`] is the port; [`SqsQueues`] the adapter over the AWS SDK; [`send_all`]
//! sends any number of messages ten at a time and retries the ones SQS could not take.

use std::future::Future;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::{aws_error, not_retryable, unless_missing};
use lwct_domain::error::Error;

/// SQS takes at most this many messages in one `SendMessageBatch`.
pub const MAX_BATCH_ENTRIES: usize = 10;

/// How many times [`send_all`] sends a message SQS failed to take for a reason of its own.
const SEND_ATTEMPTS: u32 = 3;

/// A message of a batch that SQS did not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedMessage {
    /// Its position in the batch.
    pub index: usize,
    pub code: String,
    pub message: String,
    /// `true` when the message itself is wrong (sending it again cannot help).
    pub sender_fault: bool,
}

/// What the functions ask Amazon SQS.
pub trait MessageQueues: Send + Sync {
    /// The URL of the queue called `name` in this account and region (`GetQueueUrl`).
    fn queue_url(&self, name: &str) -> impl Future<Output = Result<String, Error>> + Send;

    /// Sends up to [`MAX_BATCH_ENTRIES`] messages (`SendMessageBatch`); the answer lists the
    /// ones SQS did not take.
    fn send_batch(
        &self,
        queue_url: &str,
        bodies: &[String],
    ) -> impl Future<Output = Result<Vec<RejectedMessage>, Error>> + Send;
}

/// [`MessageQueues`] over the AWS SDK.
#[derive(Debug, Clone)]
pub struct SqsQueues {
    pub(crate) client: Client,
}

impl SqsQueues {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl MessageQueues for SqsQueues {
    async fn queue_url(&self, name: &str) -> Result<String, Error> {
        const OPERATION: &str = "sqs:GetQueueUrl";
        let sent = self.client.get_queue_url().queue_name(name).send().await;
        let Some(output) = unless_missing(OPERATION, sent, |e| e.is_queue_does_not_exist())? else {
            return Err(Error::Aws {
                operation: OPERATION.to_owned(),
                code: Some("QueueDoesNotExist".to_owned()),
                message: format!(
                    "there is no queue named {name} in this account and region; the stack creates it, so check that this function runs in the stack's account and region"
                ),
                retryable: false,
            });
        };
        output.queue_url().map(str::to_owned).ok_or_else(|| {
            not_retryable(OPERATION, format!("the answer for queue {name} has no URL"))
        })
    }

    async fn send_batch(
        &self,
        queue_url: &str,
        bodies: &[String],
    ) -> Result<Vec<RejectedMessage>, Error> {
        const OPERATION: &str = "sqs:SendMessageBatch";
        let entries = batch_entries(OPERATION, bodies, |id, body| {
            SendMessageBatchRequestEntry::builder()
                .id(id)
                .message_body(body)
                .build()
        })?;
        let output = self
            .client
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|err| aws_error(OPERATION, err))?;
        Ok(output
            .failed()
            .iter()
            .map(|failed| RejectedMessage {
                // Ids are the positions we gave; an id we did not give is reported as
                // position 0 rather than dropped.
                index: failed.id().parse().unwrap_or(0),
                code: failed.code().to_owned(),
                message: failed.message().unwrap_or_default().to_owned(),
                sender_fault: failed.sender_fault(),
            })
            .collect())
    }
}

/// The entries of a batch request, each with its position as id (how the answer's failures
/// name them); an entry the SDK's builder refuses (a required field missing) is a bug of ours.
pub(crate) fn batch_entries<T, Entry, E: std::fmt::Display>(
    operation: &str,
    items: &[T],
    entry: impl Fn(String, &T) -> Result<Entry, E>,
) -> Result<Vec<Entry>, Error> {
    let entry = |(index, item): (usize, &T)| {
        entry(index.to_string(), item).map_err(|err| {
            not_retryable(
                operation,
                format!("cannot build batch entry {index}: {err}"),
            )
        })
    };
    items.iter().enumerate().map(entry).collect()
}

/// Sends every body to the queue, [`MAX_BATCH_ENTRIES`] per call. A message SQS failed to
/// take for a reason of its own is sent again (up to three times in all, `retry_delay`
/// apart); one SQS calls wrong (`SenderFault`), or one still refused after that, is an error
/// naming how many were sent before it. Returns how many messages were sent.
pub async fn send_all<Q: MessageQueues>(
    queues: &Q,
    queue_url: &str,
    bodies: &[String],
    retry_delay: Duration,
) -> Result<usize, Error> {
    let mut sent = 0;
    for chunk in bodies.chunks(MAX_BATCH_ENTRIES) {
        let mut pending: Vec<String> = chunk.to_vec();
        let mut attempt = 1;
        loop {
            let rejected = queues.send_batch(queue_url, &pending).await?;
            sent += pending.len().saturating_sub(rejected.len());
            let Some(first) = rejected.first() else {
                break;
            };
            let refused = |first: &RejectedMessage| Error::Aws {
                operation: "sqs:SendMessageBatch".to_owned(),
                code: Some(first.code.clone()),
                message: format!(
                    "SQS refused {} message(s) after {sent} were sent: {}",
                    rejected.len(),
                    first.message
                ),
                retryable: !first.sender_fault,
            };
            if let Some(wrong) = rejected.iter().find(|r| r.sender_fault) {
                return Err(refused(wrong));
            }
            if attempt >= SEND_ATTEMPTS {
                return Err(refused(first));
            }
            pending = rejected
                .iter()
                .filter_map(|r| pending.get(r.index).cloned())
                .collect();
            attempt += 1;
            tokio::time::sleep(retry_delay).await;
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Records batches; refuses the first `refusals` messages it sees whose body contains
    /// `refuse`.
    struct RecordingQueues {
        batches: Mutex<Vec<Vec<String>>>,
        refuse: &'static str,
        refusals: Mutex<u32>,
        sender_fault: bool,
    }

    impl RecordingQueues {
        fn new(refuse: &'static str, refusals: u32, sender_fault: bool) -> Self {
            Self {
                batches: Mutex::new(Vec::new()),
                refuse,
                refusals: Mutex::new(refusals),
                sender_fault,
            }
        }
    }

    impl MessageQueues for RecordingQueues {
        async fn queue_url(&self, name: &str) -> Result<String, Error> {
            Ok(format!(
                "https://sqs.us-east-1.amazonaws.com/123456789012/{name}"
            ))
        }

        async fn send_batch(
            &self,
            _queue_url: &str,
            bodies: &[String],
        ) -> Result<Vec<RejectedMessage>, Error> {
            assert!(bodies.len() <= MAX_BATCH_ENTRIES);
            self.batches.lock().unwrap().push(bodies.to_vec());
            let mut refusals = self.refusals.lock().unwrap();
            let mut rejected = Vec::new();
            for (index, body) in bodies.iter().enumerate() {
                if *refusals > 0 && body.contains(self.refuse) {
                    *refusals -= 1;
                    rejected.push(RejectedMessage {
                        index,
                        code: "InternalError".into(),
                        message: "try again".into(),
                        sender_fault: self.sender_fault,
                    });
                }
            }
            Ok(rejected)
        }
    }

    fn bodies(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("message-{i}")).collect()
    }

    #[tokio::test]
    async fn sends_in_batches_of_ten() {
        let queues = RecordingQueues::new("none", 0, false);
        let sent = send_all(&queues, "url", &bodies(23), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(sent, 23);
        let sizes: Vec<usize> = queues
            .batches
            .lock()
            .unwrap()
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [10, 10, 3]);
    }

    #[tokio::test]
    async fn refused_messages_are_sent_again() {
        let queues = RecordingQueues::new("message-4", 2, false);
        let sent = send_all(&queues, "url", &bodies(5), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(sent, 5);
        let batches = queues.batches.lock().unwrap().clone();
        assert_eq!(batches.len(), 3);
        assert_eq!(batches[1], ["message-4"]);
        assert_eq!(batches[2], ["message-4"]);
    }

    #[tokio::test]
    async fn a_message_refused_three_times_is_an_error() {
        let queues = RecordingQueues::new("message-1", 3, false);
        let err = send_all(&queues, "url", &bodies(3), Duration::ZERO)
            .await
            .unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains("refused 1 message(s) after 2 were sent"),
            "{shown}"
        );
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn a_sender_fault_is_not_retried() {
        let queues = RecordingQueues::new("message-0", 1, true);
        let err = send_all(&queues, "url", &bodies(2), Duration::ZERO)
            .await
            .unwrap_err();
        assert!(!err.is_retryable());
        assert_eq!(queues.batches.lock().unwrap().len(), 1);
    }
}
