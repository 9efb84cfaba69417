//! Amazon SQS, consumer side: taking registration work off the registration queue, putting it
//! back for later, and dead-lettering it with its reason.
//!
//! [`RegistrationQueue`] is the port (it extends [`MessageQueues`], the sending side);
//! [`SqsQueues`] the adapter over the AWS SDK for both.
//!
//! IAM: `sqs:GetQueueUrl`, `sqs:SendMessageBatch` (sending), `sqs:ReceiveMessage`,
//! `sqs:DeleteMessage`, `sqs:ChangeMessageVisibility` (consuming; it also grants the batch
//! forms) and `sqs:SendMessage` (dead-lettering).

use std::future::Future;
use std::time::Duration;

use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry,
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
};

use crate::queue::{MessageQueues, SqsQueues, batch_entries};
use crate::{aws_error, not_retryable};
use lwct_domain::error::Error;

/// SQS returns at most this many messages per `ReceiveMessage`.
pub const MAX_RECEIVE: u32 = 10;

/// The message attribute of a dead-lettered message that says why it was given up on.
pub const REASON_ATTRIBUTE: &str = "reason";

/// SQS message attributes hold at most 256 KiB in all; a reason is cut well before that.
const MAX_REASON_CHARS: usize = 4000;

/// One message taken off a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub body: String,
    /// Deletes the message or changes its visibility, for this receive only.
    pub receipt_handle: String,
    /// How many times the message has been received, this time included
    /// (`ApproximateReceiveCount`).
    pub receive_count: u32,
}

/// What the registration drain asks of its queue and dead-letter queue.
pub trait RegistrationQueue: MessageQueues {
    /// Up to `max` (at most [`MAX_RECEIVE`]) messages, each hidden from other consumers for
    /// `visibility` (`ReceiveMessage`, waiting at most a second for the first).
    fn receive(
        &self,
        queue_url: &str,
        max: u32,
        visibility: Duration,
    ) -> impl Future<Output = Result<Vec<ReceivedMessage>, Error>> + Send;

    /// Deletes a received message (`DeleteMessage`).
    fn delete(
        &self,
        queue_url: &str,
        receipt_handle: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Deletes up to ten received messages in one call (`DeleteMessageBatch`); returns the
    /// receipt handles SQS did not delete, each with its reason.
    fn delete_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> impl Future<Output = Result<Vec<(String, String)>, Error>> + Send;

    /// Keeps a received message hidden for `visibility` from now; zero makes it visible at
    /// once (`ChangeMessageVisibility`).
    fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        visibility: Duration,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Makes up to [`MAX_RECEIVE`] received messages visible again at once
    /// (`ChangeMessageVisibilityBatch`); returns those SQS refused, with why.
    fn release_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> impl Future<Output = Result<Vec<(String, String)>, Error>> + Send;

    /// Sends `body` to the dead-letter queue with the attribute [`REASON_ATTRIBUTE`] saying
    /// why (`SendMessage`).
    fn dead_letter(
        &self,
        dead_letter_queue_url: &str,
        body: &str,
        reason: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

impl RegistrationQueue for SqsQueues {
    async fn receive(
        &self,
        queue_url: &str,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        const OPERATION: &str = "sqs:ReceiveMessage";
        let output = self
            .client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(to_i32(max.clamp(1, MAX_RECEIVE)))
            .visibility_timeout(seconds(visibility))
            // A short wait makes SQS look at every server, so a nearly empty queue still
            // gives what it has.
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|err| aws_error(OPERATION, err))?;
        let mut received = Vec::new();
        for message in output.messages() {
            let (Some(receipt_handle), Some(message_id)) =
                (message.receipt_handle(), message.message_id())
            else {
                tracing::warn!(
                    operation = OPERATION,
                    "skipping a message without receipt handle or id"
                );
                continue;
            };
            let receive_count = message
                .attributes()
                .and_then(|attributes| {
                    attributes.get(&MessageSystemAttributeName::ApproximateReceiveCount)
                })
                .and_then(|count| count.parse().ok())
                .unwrap_or(1);
            received.push(ReceivedMessage {
                message_id: message_id.to_owned(),
                body: message.body().unwrap_or_default().to_owned(),
                receipt_handle: receipt_handle.to_owned(),
                receive_count,
            });
        }
        Ok(received)
    }

    async fn delete(&self, queue_url: &str, receipt_handle: &str) -> Result<(), Error> {
        self.client
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|err| aws_error("sqs:DeleteMessage", err))?;
        Ok(())
    }

    async fn delete_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> Result<Vec<(String, String)>, Error> {
        const OPERATION: &str = "sqs:DeleteMessageBatch";
        if receipt_handles.is_empty() {
            return Ok(Vec::new());
        }
        let entries = batch_entries(OPERATION, receipt_handles, |id, handle| {
            DeleteMessageBatchRequestEntry::builder()
                .id(id)
                .receipt_handle(handle)
                .build()
        })?;
        let output = self
            .client
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|err| aws_error(OPERATION, err))?;
        Ok(refused_entries(output.failed(), receipt_handles))
    }

    async fn release_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> Result<Vec<(String, String)>, Error> {
        const OPERATION: &str = "sqs:ChangeMessageVisibilityBatch";
        if receipt_handles.is_empty() {
            return Ok(Vec::new());
        }
        let entries = batch_entries(OPERATION, receipt_handles, |id, handle| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(id)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .build()
        })?;
        let output = self
            .client
            .change_message_visibility_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|err| aws_error(OPERATION, err))?;
        Ok(refused_entries(output.failed(), receipt_handles))
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        visibility: Duration,
    ) -> Result<(), Error> {
        self.client
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds(visibility))
            .send()
            .await
            .map_err(|err| aws_error("sqs:ChangeMessageVisibility", err))?;
        Ok(())
    }

    async fn dead_letter(
        &self,
        dead_letter_queue_url: &str,
        body: &str,
        reason: &str,
    ) -> Result<(), Error> {
        const OPERATION: &str = "sqs:SendMessage";
        let reason = shorten(reason);
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(|err| {
                let message = format!("cannot build the {REASON_ATTRIBUTE} attribute: {err}");
                not_retryable(OPERATION, message)
            })?;
        self.client
            .send_message()
            .queue_url(dead_letter_queue_url)
            .message_body(body)
            .message_attributes(REASON_ATTRIBUTE, attribute)
            .send()
            .await
            .map_err(|err| aws_error(OPERATION, err))?;
        Ok(())
    }
}

/// Whole seconds, within what SQS accepts (0 to 12 hours).
fn seconds(duration: Duration) -> i32 {
    to_i32(duration.as_secs().min(12 * 3600))
}

fn to_i32(value: impl TryInto<i32>) -> i32 {
    value.try_into().unwrap_or(i32::MAX)
}

/// `reason` cut to [`MAX_REASON_CHARS`] characters; SQS refuses an empty attribute value.
fn shorten(reason: &str) -> String {
    let reason = reason.trim();
    if reason.is_empty() {
        return "no reason given".to_owned();
    }
    if reason.chars().count() <= MAX_REASON_CHARS {
        return reason.to_owned();
    }
    let cut: String = reason.chars().take(MAX_REASON_CHARS).collect();
    format!("{cut}...")
}

/// The receipt handles of a batch's refused entries (their ids are indexes into
/// `receipt_handles`, as [`batch_entries`] numbers them), each with SQS's reason.
fn refused_entries(
    failed: &[BatchResultErrorEntry],
    receipt_handles: &[String],
) -> Vec<(String, String)> {
    failed
        .iter()
        .map(|failed| {
            let handle = failed
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|index| receipt_handles.get(index))
                .cloned()
                .unwrap_or_default();
            let reason = format!("{}: {}", failed.code(), failed.message().unwrap_or(""));
            (handle, reason)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_whole_seconds_within_the_sqs_range() {
        assert_eq!(seconds(Duration::ZERO), 0);
        assert_eq!(seconds(Duration::from_millis(90_500)), 90);
        assert_eq!(seconds(Duration::from_secs(u64::MAX)), 43_200);
        assert_eq!(to_i32(u32::MAX), i32::MAX);
    }

    #[test]
    fn reasons_are_never_empty_nor_huge() {
        assert_eq!(shorten("  "), "no reason given");
        assert_eq!(shorten(" HTTP 400 "), "HTTP 400");
        let long = shorten(&"é".repeat(5000));
        assert_eq!(long.chars().count(), MAX_REASON_CHARS + 3);
    }
}
