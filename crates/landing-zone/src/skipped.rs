//! What moto's CloudFormation skips in our own templates, done by the harness instead.
//!
//! moto 5.2.5 creates the Audit stack instance's queue but logs and skips its
//! `AWS::SQS::QueuePolicy` and `AWS::SNS::Subscription` (stack still `CREATE_COMPLETE`). After
//! every `setup` invocation the harness makes moto agree with what CloudFormation would have
//! left behind:
//!
//! * for an Audit stack instance whose queue exists: the queue policy of `stacksets/audit.yaml`
//!   and the queue's subscription to the trail topic (the stack set's `CloudTrailTopicArn`),
//!   SNS envelope kept (not raw);
//! * for a subscription of the trail topic whose SQS queue no longer exists (its stack
//!   instance was deleted): unsubscribe, as deleting the stack would have.

use aws_config::SdkConfig;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::Parameter;
use aws_sdk_sqs::types::QueueAttributeName;
use lwct_domain::naming::Arn;
use serde_json::json;

use crate::LandingZone;
use crate::error::{self, Result};

/// `stacksets/audit.yaml`'s default `QueueName`.
const AUDIT_TEMPLATE_DEFAULT_QUEUE: &str = "lacework-ct-audit-queue";

/// Brings the Audit queue policy and subscription in line with the Audit stack instances.
pub async fn reconcile_audit(zone: &LandingZone) -> Result<()> {
    if let Some(parameters) = active_stack_set_parameters(zone).await? {
        let parameter = |key: &str| {
            parameters
                .iter()
                .find(|p| p.parameter_key() == Some(key))
                .and_then(|p| p.parameter_value())
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        let topic_arn = parameter("CloudTrailTopicArn");
        let role_arn = parameter("LogArchiveRoleArn");
        let queue_name =
            parameter("QueueName").unwrap_or_else(|| AUDIT_TEMPLATE_DEFAULT_QUEUE.to_owned());
        if let (Some(topic_arn), Some(role_arn)) = (topic_arn, role_arn) {
            if has_audit_instance(zone).await? {
                let audit = zone.account(&zone.state.organization.audit).await?;
                if let Some(queue_arn) =
                    complete_audit_queue(&audit, &queue_name, &topic_arn, &role_arn).await?
                {
                    let topic_config = config_of_arn_account(zone, &topic_arn).await?;
                    subscribe_once(&topic_config, &topic_arn, &queue_arn).await?;
                }
            }
        }
    }
    unsubscribe_missing_queues(zone).await
}

/// The Audit stack set's parameters, when it exists and is not deleted.
async fn active_stack_set_parameters(zone: &LandingZone) -> Result<Option<Vec<Parameter>>> {
    let client = aws_sdk_cloudformation::Client::new(zone.management());
    match client
        .describe_stack_set()
        .stack_set_name(&zone.names.audit_stack_set)
        .send()
        .await
    {
        Ok(output) => Ok(output
            .stack_set()
            .filter(|set| {
                set.status() == Some(&aws_sdk_cloudformation::types::StackSetStatus::Active)
            })
            .map(|set| set.parameters().to_vec())),
        Err(err) if err.code() == Some("StackSetNotFoundException") => Ok(None),
        Err(err) => Err(error::aws("cloudformation:DescribeStackSet", err)),
    }
}

/// Whether the Audit stack set has an instance in the Audit account.
async fn has_audit_instance(zone: &LandingZone) -> Result<bool> {
    let client = aws_sdk_cloudformation::Client::new(zone.management());
    let instances = crate::state::stack_instances(&client, &zone.names.audit_stack_set).await?;
    // moto does not filter ListStackInstances: filter here.
    Ok(instances
        .iter()
        .any(|instance| instance.account == zone.state.organization.audit.as_str()))
}

/// Sets the queue policy the template declares; returns the queue's ARN, or `None` when the
/// instance's queue does not exist.
async fn complete_audit_queue(
    audit: &SdkConfig,
    queue_name: &str,
    topic_arn: &str,
    role_arn: &str,
) -> Result<Option<String>> {
    let sqs = aws_sdk_sqs::Client::new(audit);
    let Some(url) = queue_url(&sqs, queue_name).await? else {
        return Ok(None);
    };
    let queue_arn = crate::aws::queue_arn(&sqs, &url).await?;
    // The AuditQueuePolicy of stacksets/audit.yaml.
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TrailTopicDelivers",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}
            },
            {
                "Sid": "LogArchiveRoleConsumes",
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl"
                ],
                "Resource": queue_arn
            }
        ]
    });
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .send()
        .await
        .map_err(|err| error::aws("sqs:SetQueueAttributes", err))?;
    Ok(Some(queue_arn))
}

/// Subscribes the queue to the topic unless it already is.
async fn subscribe_once(topic_config: &SdkConfig, topic_arn: &str, queue_arn: &str) -> Result<()> {
    let sns = aws_sdk_sns::Client::new(topic_config);
    let existing = crate::aws::topic_subscriptions(&sns, topic_arn).await?;
    if existing
        .iter()
        .any(|subscription| subscription.endpoint() == Some(queue_arn))
    {
        return Ok(());
    }
    sns.subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "false")
        .send()
        .await
        .map_err(|err| error::aws("sns:Subscribe", err))?;
    Ok(())
}

/// Removes subscriptions of the trail topic whose SQS queue does not exist.
async fn unsubscribe_missing_queues(zone: &LandingZone) -> Result<()> {
    let topic_arn = &zone.state.trail.topic_arn;
    let topic_config = config_of_arn_account(zone, topic_arn).await?;
    let sns = aws_sdk_sns::Client::new(&topic_config);
    for subscription in crate::aws::topic_subscriptions(&sns, topic_arn).await? {
        let (Some("sqs"), Some(endpoint), Some(subscription_arn)) = (
            subscription.protocol(),
            subscription.endpoint(),
            subscription.subscription_arn(),
        ) else {
            continue;
        };
        let Ok(queue) = Arn::parse(endpoint) else {
            continue;
        };
        let Some(account) = queue.account.clone() else {
            continue;
        };
        let owner = aws_sdk_sqs::Client::new(&zone.account(&account).await?);
        if queue_url(&owner, &queue.resource).await?.is_none() {
            sns.unsubscribe()
                .subscription_arn(subscription_arn)
                .send()
                .await
                .map_err(|err| error::aws("sns:Unsubscribe", err))?;
        }
    }
    Ok(())
}

/// The configuration of the account that owns `arn` (the management account's own, or an
/// assumed role's).
async fn config_of_arn_account(zone: &LandingZone, arn: &str) -> Result<SdkConfig> {
    let account = Arn::parse(arn).ok().and_then(|arn| arn.account);
    match account {
        Some(account) if account.as_str() != crate::aws::MANAGEMENT_ACCOUNT => {
            zone.account(&account).await
        }
        _ => Ok(zone.management().clone()),
    }
}

/// The URL of queue `name`, or `None` when it does not exist.
async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<Option<String>> {
    match sqs.get_queue_url().queue_name(name).send().await {
        Ok(found) => Ok(Some(found.queue_url().unwrap_or_default().to_owned())),
        Err(err)
            if matches!(
                err.code(),
                Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist")
            ) =>
        {
            Ok(None)
        }
        Err(err) => Err(error::aws("sqs:GetQueueUrl", err)),
    }
}
