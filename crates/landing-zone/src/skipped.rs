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
use aws_sdk_cloudformation::types::Parameter;
use aws_sdk_sqs::types::QueueAttributeName;
use lwct_domain::AccountId;
use lwct_domain::naming::Arn;
use serde_json::json;

use crate::aws::account_config;
use crate::error::{self, Result};

/// `stacksets/audit.yaml`'s default `QueueName`.
const AUDIT_TEMPLATE_DEFAULT_QUEUE: &str = "lacework-ct-audit-queue";

/// Where the Audit side lives.
pub struct AuditSide<'a> {
    pub management: &'a SdkConfig,
    pub endpoint: &'a str,
    pub audit: &'a AccountId,
    pub audit_stack_set: &'a str,
    /// The trail's topic, for removing subscriptions whose queue is gone.
    pub trail_topic_arn: &'a str,
}

/// Brings the Audit queue policy and subscription in line with the Audit stack instances;
/// returns what it did, one line each.
pub async fn reconcile_audit(side: &AuditSide<'_>) -> Result<Vec<String>> {
    let mut done = Vec::new();
    if let Some(parameters) = active_stack_set_parameters(side).await? {
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
            if has_instance_in(side, side.audit).await? {
                let audit = account_config(side.management, side.endpoint, side.audit).await?;
                if let Some(queue_arn) =
                    complete_audit_queue(&audit, &queue_name, &topic_arn, &role_arn).await?
                {
                    let topic_config = config_of_arn_account(side, &topic_arn).await?;
                    if subscribe_once(&topic_config, &topic_arn, &queue_arn).await? {
                        done.push(format!("subscribed {queue_arn} to {topic_arn}"));
                    }
                }
            }
        }
    }
    done.extend(unsubscribe_missing_queues(side).await?);
    Ok(done)
}

/// The Audit stack set's parameters, when it exists and is not deleted.
async fn active_stack_set_parameters(side: &AuditSide<'_>) -> Result<Option<Vec<Parameter>>> {
    let client = aws_sdk_cloudformation::Client::new(side.management);
    match client
        .describe_stack_set()
        .stack_set_name(side.audit_stack_set)
        .send()
        .await
    {
        Ok(output) => Ok(output
            .stack_set()
            .filter(|set| {
                set.status() == Some(&aws_sdk_cloudformation::types::StackSetStatus::Active)
            })
            .map(|set| set.parameters().to_vec())),
        Err(err) if error::aws_code(&err) == Some("StackSetNotFoundException") => Ok(None),
        Err(err) => Err(error::aws("cloudformation:DescribeStackSet", err)),
    }
}

async fn has_instance_in(side: &AuditSide<'_>, account: &AccountId) -> Result<bool> {
    let client = aws_sdk_cloudformation::Client::new(side.management);
    let instances = client
        .list_stack_instances()
        .stack_set_name(side.audit_stack_set)
        .send()
        .await
        .map_err(|err| error::aws("cloudformation:ListStackInstances", err))?;
    // moto does not filter ListStackInstances: filter here.
    Ok(instances
        .summaries()
        .iter()
        .any(|instance| instance.account() == Some(account.as_str())))
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
    let url = match sqs.get_queue_url().queue_name(queue_name).send().await {
        Ok(found) => found.queue_url().unwrap_or_default().to_owned(),
        Err(err) if is_missing_queue(error::aws_code(&err)) => return Ok(None),
        Err(err) => return Err(error::aws("sqs:GetQueueUrl", err)),
    };
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|err| error::aws("sqs:GetQueueAttributes", err))?;
    let queue_arn = attributes
        .attributes()
        .and_then(|map| map.get(&QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default();
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

/// Subscribes the queue to the topic unless it already is; returns whether it subscribed.
async fn subscribe_once(
    topic_config: &SdkConfig,
    topic_arn: &str,
    queue_arn: &str,
) -> Result<bool> {
    let sns = aws_sdk_sns::Client::new(topic_config);
    let existing = sns
        .list_subscriptions_by_topic()
        .topic_arn(topic_arn)
        .send()
        .await
        .map_err(|err| error::aws("sns:ListSubscriptionsByTopic", err))?;
    if existing
        .subscriptions()
        .iter()
        .any(|subscription| subscription.endpoint() == Some(queue_arn))
    {
        return Ok(false);
    }
    sns.subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "false")
        .send()
        .await
        .map_err(|err| error::aws("sns:Subscribe", err))?;
    Ok(true)
}

/// Removes subscriptions of the trail topic whose SQS queue does not exist.
async fn unsubscribe_missing_queues(side: &AuditSide<'_>) -> Result<Vec<String>> {
    let topic_config = config_of_arn_account(side, side.trail_topic_arn).await?;
    let sns = aws_sdk_sns::Client::new(&topic_config);
    let subscriptions = sns
        .list_subscriptions_by_topic()
        .topic_arn(side.trail_topic_arn)
        .send()
        .await
        .map_err(|err| error::aws("sns:ListSubscriptionsByTopic", err))?;
    let mut done = Vec::new();
    for subscription in subscriptions.subscriptions() {
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
        let owner = account_config(side.management, side.endpoint, &account).await?;
        let lookup = aws_sdk_sqs::Client::new(&owner)
            .get_queue_url()
            .queue_name(&queue.resource)
            .send()
            .await;
        match lookup {
            Ok(_) => {}
            Err(err) if is_missing_queue(error::aws_code(&err)) => {
                sns.unsubscribe()
                    .subscription_arn(subscription_arn)
                    .send()
                    .await
                    .map_err(|err| error::aws("sns:Unsubscribe", err))?;
                done.push(format!("unsubscribed deleted queue {endpoint}"));
            }
            Err(err) => return Err(error::aws("sqs:GetQueueUrl", err)),
        }
    }
    Ok(done)
}

/// The configuration of the account that owns `arn` (the management account's own, or an
/// assumed role's).
async fn config_of_arn_account(side: &AuditSide<'_>, arn: &str) -> Result<SdkConfig> {
    let account = Arn::parse(arn).ok().and_then(|arn| arn.account);
    match account {
        Some(account) if account.as_str() != crate::aws::MANAGEMENT_ACCOUNT => {
            account_config(side.management, side.endpoint, &account).await
        }
        _ => Ok(side.management.clone()),
    }
}

fn is_missing_queue(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist")
    )
}
