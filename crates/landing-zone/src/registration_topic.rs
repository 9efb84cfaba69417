//! The registration topic's delivery to `sns-custom-resource`, played by the harness.
//!
//! Each member stack instance has a custom resource (`AccountRegistration`,
//! `Custom::LaceworkAccountRegistration`) whose `ServiceToken` is the registration topic. moto,
//! patched (`moto/moto_server.py`), publishes its CloudFormation request to that topic as
//! CloudFormation does: `Create` when an instance's stack is created, `Delete` when it is
//! deleted, with a `ResponseURL` on moto. In AWS the topic invokes the function through its
//! Lambda subscription; moto cannot invoke a Lambda function, so the landing zone subscribes a
//! queue of its own to the topic ([`RegistrationDeliveries`]) and, after every step that may
//! create or delete stack instances, delivers what the queue holds:
//!
//! * each notification becomes the `aws:sns` event Lambda hands a subscribed function (one
//!   record), invoked asynchronously as SNS does (a function error is retried twice);
//! * a `ResponseURL` that is moto's CloudFormation (the pre-signed S3 URL in AWS) is replaced
//!   by the harness's loopback listener, and the answer that arrives there is relayed to moto,
//!   which records it (the stack completes; the answered `PhysicalResourceId` is the one a
//!   later `Delete` carries);
//! * any other `ResponseURL` (someone else's request) is left as it is, as AWS would.
//!
//! The notification keeps moto's `Signature`, which no longer matches a message whose
//! `ResponseURL` was replaced; a function invoked by Lambda gets SNS's word, not a signature to
//! check.

use aws_config::SdkConfig;
use aws_lambda_events::event::sns::SnsMessage;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::LandingZone;
use crate::cfn::{CustomResourceOutcome, collect};
use crate::error::{self, Error, Result};
use crate::runtime_api::{FunctionSpec, invoke_async, random_request_id};

/// The landing zone's queue subscribed to the registration topic (stands in for the
/// function's Lambda subscription).
pub const DELIVERIES_QUEUE: &str = "landing-zone-registration-topic-deliveries";

/// Most notifications delivered in one go (a bound, should something publish in a loop).
const MOST_PER_DELIVERY: usize = 5000;

/// The queue that receives what the registration topic publishes, and its subscription.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationDeliveries {
    pub queue_url: String,
    /// The subscription's ARN: the `EventSubscriptionArn` of the events.
    pub subscription_arn: String,
}

/// Creates the deliveries queue in the management account and subscribes it to `topic_arn`
/// (the SNS envelope kept, as a Lambda subscription gets it).
pub async fn subscribe(management: &SdkConfig, topic_arn: &str) -> Result<RegistrationDeliveries> {
    let sqs = aws_sdk_sqs::Client::new(management);
    let (queue_url, queue_arn) =
        crate::aws::create_queue(&sqs, sqs.create_queue().queue_name(DELIVERIES_QUEUE)).await?;
    let subscribed = aws_sdk_sns::Client::new(management)
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .map_err(|err| error::aws("sns:Subscribe", err))?;
    Ok(RegistrationDeliveries {
        queue_url,
        subscription_arn: subscribed.subscription_arn().unwrap_or_default().to_owned(),
    })
}

/// The `aws:sns` event Lambda hands a function subscribed with `subscription_arn`, for a
/// `notification` as a queue subscribed to the topic receives it (its `Message` the
/// notification's own, or one whose `ResponseURL` the harness replaced).
pub fn lambda_event(subscription_arn: &str, notification: &SnsMessage) -> Value {
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": notification,
    }]})
}

/// One notification of the registration topic and what came of it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveredRequest {
    /// `Create` or `Delete` (or whatever the message says).
    pub request_type: String,
    /// `ResourceProperties.AccountId`.
    pub account: String,
    pub stack_id: String,
    /// The `PhysicalResourceId` CloudFormation sent (Update and Delete: the one answered at
    /// Create).
    pub physical_resource_id: Option<String>,
    /// Where the function was told to answer.
    pub response_url: String,
    /// The answers on the harness's listener and the function's last invocation.
    pub outcome: CustomResourceOutcome,
    /// Invocations (retried on a function error, as SNS's asynchronous invocation is).
    pub attempts: usize,
    /// Whether the answer was relayed to moto's CloudFormation (its `ResponseURL`).
    pub relayed: bool,
}

impl DeliveredRequest {
    /// `SUCCESS`, `FAILED`, or `None` without an answer on the listener.
    pub fn status(&self) -> Option<&str> {
        self.outcome.status()
    }
}

/// Delivers every notification waiting in `zone`'s deliveries queue to `function`, in order.
pub async fn deliver_waiting(
    zone: &LandingZone,
    function: &FunctionSpec,
) -> Result<Vec<DeliveredRequest>> {
    let queue_url = &zone.state.registration_deliveries.queue_url;
    if queue_url.is_empty() {
        return Err(Error::Usage(
            "this landing zone has no queue on the registration topic (started by an older \
             landing-zone); run landing-zone down and up again"
                .to_owned(),
        ));
    }
    let sqs = aws_sdk_sqs::Client::new(zone.management());
    let mut delivered = Vec::new();
    while delivered.len() < MOST_PER_DELIVERY {
        let received = crate::aws::receive_now(&sqs, queue_url, None).await?;
        if received.is_empty() {
            break;
        }
        for message in &received {
            let body = message.body().unwrap_or_default();
            let notification: SnsMessage = serde_json::from_str(body).map_err(|err| {
                Error::Usage(format!(
                    "the registration topic delivered something that is not an SNS notification: {err}"
                ))
            })?;
            delivered.push(deliver(zone, function, notification).await?);
            crate::aws::delete_message(&sqs, queue_url, message).await?;
        }
    }
    Ok(delivered)
}

/// Delivers one notification (see the module's documentation).
async fn deliver(
    zone: &LandingZone,
    function: &FunctionSpec,
    mut notification: SnsMessage,
) -> Result<DeliveredRequest> {
    let listener = &zone.listener;
    let request: Value = serde_json::from_str(&notification.message).unwrap_or(Value::Null);
    let text = |pointer: &str| {
        request
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let original_url = text("/ResponseURL");
    // moto's URLs are CloudFormation's.
    let from_cloudformation =
        original_url.starts_with(&format!("{}/cloudformation_", zone.state.moto.url));
    // The id under which the answer arrives on the listener, if it is to arrive there.
    let answer_id = if from_cloudformation {
        let id = random_request_id();
        // A ResponseURL was read from it: it is an object.
        let mut replaced = request.clone();
        replaced["ResponseURL"] = json!(listener.response_url(&id));
        notification.message = replaced.to_string();
        Some(id)
    } else {
        listener.answer_id_of(&original_url)
    };
    let event = lambda_event(
        &zone.state.registration_deliveries.subscription_arn,
        &notification,
    );
    let (invocation, failed) = invoke_async(function, &event).await?;
    let outcome = collect(listener, answer_id.as_deref(), invocation).await;
    let mut relayed = false;
    if let (true, Some(answer)) = (from_cloudformation, &outcome.response) {
        relay(&original_url, answer).await?;
        relayed = true;
    }
    Ok(DeliveredRequest {
        request_type: text("/RequestType"),
        account: text("/ResourceProperties/AccountId"),
        stack_id: text("/StackId"),
        physical_resource_id: request
            .get("PhysicalResourceId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        response_url: original_url,
        outcome,
        attempts: failed.len() + 1,
        relayed,
    })
}

/// PUTs the answer to moto's `ResponseURL`, as the pre-signed S3 URL hands it to
/// CloudFormation.
async fn relay(url: &str, answer: &Value) -> Result<()> {
    let what = "relaying a custom resource answer to moto";
    let request = reqwest::Client::new()
        .put(url)
        .header("content-type", "")
        .body(answer.to_string())
        .timeout(std::time::Duration::from_secs(10));
    error::send_checked(what, request).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_become_lambdas_sns_event() {
        use aws_lambda_events::event::sns::SnsEvent;
        // What moto's SNS puts into a subscribed queue.
        let body = json!({
            "Type": "Notification",
            "MessageId": "m-1",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:lacework-ct-registration-topic",
            "Message": "{\"RequestType\":\"Create\"}",
            "Timestamp": "2025-03-04T10:15:00.000Z",
            "SignatureVersion": "1",
            "Signature": "c2lnbmF0dXJl",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        });
        let mut notification: SnsMessage = serde_json::from_value(body).unwrap();
        notification.message = "{\"RequestType\":\"Delete\"}".to_owned();
        let event = lambda_event(
            "arn:aws:sns:us-east-1:123456789012:lacework-ct-registration-topic:sub-1",
            &notification,
        );
        let parsed: SnsEvent = serde_json::from_value(event).unwrap();
        let record = &parsed.records[0];
        assert_eq!(record.event_source, "aws:sns");
        assert_eq!(record.sns.message_id, "m-1");
        assert_eq!(record.sns.message, "{\"RequestType\":\"Delete\"}");
        assert_eq!(
            record.sns.topic_arn,
            "arn:aws:sns:us-east-1:123456789012:lacework-ct-registration-topic"
        );
        assert_eq!(record.sns.sns_message_type, "Notification");
    }
}
