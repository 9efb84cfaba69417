//! Lambda's SQS event source mapping, played by the harness: receive a batch (up to the
//! mapping's batch size, 10 for the account queue), hand it to the function as an `aws:sqs`
//! event, then delete the messages it did not report in `batchItemFailures`
//! (`ReportBatchItemFailures`). The others stay in the queue, invisible until their visibility
//! timeout passes, and come back with a higher receive count (up to the queue's
//! `maxReceiveCount`, then the dead-letter queue), as in AWS.
//!
//! As Lambda does: a function error fails the whole batch; a response that names a message
//! not in the batch (or an empty id) also fails the whole batch; no response, or an empty
//! `batchItemFailures`, succeeds the whole batch.

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde::Serialize;
use serde_json::{Value, json};

use crate::aws::REGION;
use crate::error::{self, Result};
use crate::runtime_api::{Answer, FunctionSpec, Invoked, invoke};

/// The account queue's mapping: `BatchSize: 10` in template.yaml.
pub const ACCOUNT_QUEUE_BATCH_SIZE: i32 = 10;

/// The account queue as an event source.
pub struct QueueSource {
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
}

/// What one batch came to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchOutcome {
    /// The messages handed to the function.
    pub message_ids: Vec<String>,
    /// Those left in the queue (reported failed, or the whole batch on an error).
    pub failed: Vec<String>,
    pub invocation: Invoked,
}

impl QueueSource {
    /// The queue at `url`, read with `config`'s credentials.
    pub async fn new(config: &SdkConfig, url: &str) -> Result<QueueSource> {
        let sqs = aws_sdk_sqs::Client::new(config);
        let arn = crate::aws::queue_arn(&sqs, url).await?;
        Ok(QueueSource {
            sqs,
            url: url.to_owned(),
            arn,
        })
    }

    /// Sends `body` to the queue, as EventBridge's SQS target does with an event.
    pub async fn send(&self, body: &str) -> Result<()> {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|err| error::aws("sqs:SendMessage", err))?;
        Ok(())
    }

    /// Receives one batch and runs it through `function`; `None` when no message is visible.
    pub async fn deliver_batch(&self, function: &FunctionSpec) -> Result<Option<BatchOutcome>> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(ACCOUNT_QUEUE_BATCH_SIZE)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(|err| error::aws("sqs:ReceiveMessage", err))?;
        let messages = received.messages();
        if messages.is_empty() {
            return Ok(None);
        }
        let event = sqs_event(messages, &self.arn);
        let message_ids: Vec<String> = messages
            .iter()
            .map(|message| message.message_id().unwrap_or_default().to_owned())
            .collect();
        let invocation = invoke(function, event).await?;
        let failed = failed_messages(&invocation.answer, &message_ids);
        for message in messages {
            let id = message.message_id().unwrap_or_default();
            if !failed.iter().any(|failed| failed == id) {
                crate::aws::delete_message(&self.sqs, &self.url, message).await?;
            }
        }
        Ok(Some(BatchOutcome {
            message_ids,
            failed,
            invocation,
        }))
    }
}

/// The `aws:sqs` event Lambda hands the function for `messages` of queue `queue_arn`.
pub fn sqs_event(messages: &[Message], queue_arn: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|message| {
            let attributes: serde_json::Map<String, Value> = message
                .attributes()
                .map(|map| {
                    map.iter()
                        .map(|(name, value)| (name.as_str().to_owned(), json!(value)))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": message.message_id(),
                "receiptHandle": message.receipt_handle(),
                "body": message.body().unwrap_or_default(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": message.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            })
        })
        .collect();
    json!({"Records": records})
}

/// The messages of a batch that stay in the queue, by Lambda's rules for
/// `ReportBatchItemFailures` (see the module's documentation).
pub fn failed_messages(answer: &Answer, batch: &[String]) -> Vec<String> {
    let payload = match answer {
        Answer::Error { .. } => return batch.to_vec(),
        Answer::Response { payload } => payload,
    };
    let failures = match payload.get("batchItemFailures") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(failures)) => failures,
        Some(_) => return batch.to_vec(),
    };
    let mut failed = Vec::new();
    for failure in failures {
        let id = failure
            .get("itemIdentifier")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if id.is_empty() || !batch.iter().any(|message| message == id) {
            return batch.to_vec();
        }
        failed.push(id.to_owned());
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> Vec<String> {
        vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]
    }

    fn response(payload: Value) -> Answer {
        Answer::Response { payload }
    }

    #[test]
    fn reported_failures_stay_and_the_rest_is_deleted() {
        let answer = response(json!({"batchItemFailures": [{"itemIdentifier": "b"}]}));
        assert_eq!(failed_messages(&answer, &batch()), ["b"]);
        let none = response(json!({"batchItemFailures": []}));
        assert!(failed_messages(&none, &batch()).is_empty());
        assert!(failed_messages(&response(Value::Null), &batch()).is_empty());
    }

    #[test]
    fn errors_and_unknown_ids_fail_the_whole_batch() {
        let error = Answer::Error {
            error_type: "Runtime.ExitError".to_owned(),
            error_message: "exited".to_owned(),
        };
        assert_eq!(failed_messages(&error, &batch()), batch());
        let unknown = response(json!({"batchItemFailures": [{"itemIdentifier": "zzz"}]}));
        assert_eq!(failed_messages(&unknown, &batch()), batch());
        let empty = response(json!({"batchItemFailures": [{"itemIdentifier": ""}]}));
        assert_eq!(failed_messages(&empty, &batch()), batch());
        let wrong = response(json!({"batchItemFailures": "b"}));
        assert_eq!(failed_messages(&wrong, &batch()), batch());
    }

    #[test]
    fn the_event_has_lambdas_sqs_shape() {
        use aws_lambda_events::event::sqs::SqsEvent;
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("r-1")
            .body("{\"source\":\"aws.controltower\"}")
            .md5_of_body("abc")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
            .attributes(MessageSystemAttributeName::SentTimestamp, "1715679738512")
            .build();
        let event = sqs_event(
            &[message],
            "arn:aws:sqs:us-east-1:123456789012:lacework-ct-account-queue",
        );
        let parsed: SqsEvent = serde_json::from_value(event.clone()).unwrap();
        let record = &parsed.records[0];
        assert_eq!(record.message_id.as_deref(), Some("m-1"));
        assert_eq!(record.receipt_handle.as_deref(), Some("r-1"));
        assert_eq!(record.event_source.as_deref(), Some("aws:sqs"));
        assert_eq!(record.attributes["ApproximateReceiveCount"], "1");
        assert_eq!(
            record.event_source_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:123456789012:lacework-ct-account-queue")
        );
        assert_eq!(
            record.body.as_deref(),
            Some("{\"source\":\"aws.controltower\"}")
        );
    }
}
