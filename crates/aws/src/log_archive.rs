//! What setup reads and changes in the Log Archive account for a trail without an SNS topic:
//! the trail bucket's event notifications and the notification topic's KMS key. Setup runs
//! in the management account, so it works there as `AWSControlTowerExecution` (the role
//! StackSets use too), with credentials from `sts:AssumeRole`.
//!
//! [`LogArchive`] is the port; [`LogArchiveClient`] the adapter over the AWS SDK;
//! `lwct_testkit::log_archive::InMemoryLogArchive` the fake for tests.

use std::future::Future;

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_sdk_s3::types::{
    Event, EventBridgeConfiguration, FilterRuleName, LambdaFunctionConfiguration,
    NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter, TopicConfiguration,
};
use aws_sdk_sts::config::SharedCredentialsProvider;

use crate::{aws_error, not_retryable};
use lwct_domain::AccountId;
use lwct_domain::bucket_notifications::{
    Destination, EventNotification, FilterRule, NotificationConfiguration,
};
use lwct_domain::error::{Error, Problem};
use lwct_domain::naming::{Partition, iam_role_arn};
use lwct_domain::stack_set::EXECUTION_ROLE_NAME;

/// What setup does in Log Archive.
pub trait LogArchive: Send + Sync {
    /// The bucket's whole event notification configuration
    /// (`GetBucketNotificationConfiguration`).
    fn bucket_notifications(
        &self,
        bucket: &str,
    ) -> impl Future<Output = Result<NotificationConfiguration, Error>> + Send;

    /// Replaces the bucket's whole event notification configuration
    /// (`PutBucketNotificationConfiguration`).
    fn put_bucket_notifications(
        &self,
        bucket: &str,
        configuration: &NotificationConfiguration,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The KMS key (ARN) the SNS topic is encrypted with (`GetTopicAttributes`,
    /// `KmsMasterKeyId`); `None` when it is not encrypted.
    fn topic_kms_key(
        &self,
        topic_arn: &str,
    ) -> impl Future<Output = Result<Option<String>, Error>> + Send;
}

/// [`LogArchive`] over the AWS SDK, as `AWSControlTowerExecution` in the Log Archive account.
#[derive(Debug, Clone)]
pub struct LogArchiveClient {
    account: AccountId,
    s3: aws_sdk_s3::Client,
    sns: aws_sdk_sns::Client,
}

impl LogArchiveClient {
    /// Clients that act in `account` by assuming its `AWSControlTowerExecution` role with the
    /// credentials of `management`. The role is assumed on the first call (and again when the
    /// credentials expire), so building this costs nothing.
    pub async fn assume(
        management: &SdkConfig,
        partition: Partition,
        account: &AccountId,
        session_name: &str,
    ) -> Self {
        let role_arn = iam_role_arn(partition, account, EXECUTION_ROLE_NAME);
        let provider = AssumeRoleProvider::builder(role_arn)
            .session_name(session_name)
            .configure(management)
            .build()
            .await;
        let config = management
            .clone()
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
        // Path-style addressing where an endpoint is set (a local S3 such as moto cannot
        // resolve bucket host names); AWS's virtual-hosted style otherwise.
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Self {
            account: account.clone(),
            s3: aws_sdk_s3::Client::from_conf(s3),
            sns: aws_sdk_sns::Client::new(&config),
        }
    }

    fn in_account(&self, mut err: Error) -> Error {
        if let Error::Aws { message, .. } = &mut err {
            let account = &self.account;
            message.push_str(&format!(
                " (as {EXECUTION_ROLE_NAME} in the Log Archive account {account})"
            ));
        }
        err
    }
}

/// Reads each notification configuration of one of the SDK's three kinds, which share these
/// getters but no type, with its destination (`Destination::$kind` at the ARN `$arn`).
macro_rules! read_all {
    ($configurations:expr, $kind:ident, $arn:ident) => {
        $configurations.iter().map(|c| {
            let destination = Destination::$kind(c.$arn().to_owned());
            read(c.id(), destination, c.events(), c.filter())
        })
    };
}

/// A notification configuration of one of the SDK's three kinds, from its builder with the
/// destination set: the builders share these setters but no type.
macro_rules! sdk_notification {
    ($builder:expr, $id:expr, $events:expr, $filter:expr) => {
        $builder
            .set_id($id.clone())
            .set_events(Some($events))
            .set_filter($filter)
            .build()
    };
}

impl LogArchive for LogArchiveClient {
    async fn bucket_notifications(&self, bucket: &str) -> Result<NotificationConfiguration, Error> {
        let output = self
            .s3
            .get_bucket_notification_configuration()
            .bucket(bucket)
            // Only a bucket Log Archive owns is read (and written).
            .expected_bucket_owner(self.account.as_str())
            .send()
            .await
            .map_err(|err| {
                self.in_account(aws_error("s3:GetBucketNotificationConfiguration", err))
            })?;
        let functions = output.lambda_function_configurations();
        let notifications = read_all!(output.topic_configurations(), Topic, topic_arn)
            .chain(read_all!(output.queue_configurations(), Queue, queue_arn))
            .chain(read_all!(functions, LambdaFunction, lambda_function_arn))
            .collect();
        Ok(NotificationConfiguration {
            notifications,
            event_bridge: output.event_bridge_configuration().is_some(),
        })
    }

    async fn put_bucket_notifications(
        &self,
        bucket: &str,
        configuration: &NotificationConfiguration,
    ) -> Result<(), Error> {
        const OPERATION: &str = "s3:PutBucketNotificationConfiguration";
        let written = sdk_configuration(configuration).map_err(|problem| {
            let message = format!("cannot write the configuration of bucket {bucket}: {problem}");
            not_retryable(OPERATION, message)
        })?;
        self.s3
            .put_bucket_notification_configuration()
            .bucket(bucket)
            .expected_bucket_owner(self.account.as_str())
            .notification_configuration(written)
            .send()
            .await
            .map_err(|err| self.in_account(aws_error(OPERATION, err)))?;
        Ok(())
    }

    async fn topic_kms_key(&self, topic_arn: &str) -> Result<Option<String>, Error> {
        let output = self
            .sns
            .get_topic_attributes()
            .topic_arn(topic_arn)
            .send()
            .await
            .map_err(|err| self.in_account(aws_error("sns:GetTopicAttributes", err)))?;
        Ok(output
            .attributes()
            .and_then(|attributes| attributes.get("KmsMasterKeyId"))
            .filter(|key| !key.is_empty())
            .cloned())
    }
}

fn read(
    id: Option<&str>,
    destination: Destination,
    events: &[Event],
    filter: Option<&NotificationConfigurationFilter>,
) -> EventNotification {
    let filter_rules = filter
        .and_then(|filter| filter.key())
        .map(|key| key.filter_rules())
        .unwrap_or_default()
        .iter()
        .map(|rule| {
            // S3 answers `Prefix` but takes only `prefix` (and moto insists): one spelling.
            FilterRule::new(
                rule.name()
                    .map(|name| name.as_str().to_ascii_lowercase())
                    .unwrap_or_default(),
                rule.value().unwrap_or_default(),
            )
        })
        .collect();
    EventNotification {
        id: id.map(str::to_owned),
        destination,
        events: events
            .iter()
            .map(|event| event.as_str().to_owned())
            .collect(),
        filter_rules,
    }
}

/// The SDK's form of `configuration`; `Err` names the notification S3 would not take, and why.
fn sdk_configuration(
    configuration: &NotificationConfiguration,
) -> Result<aws_sdk_s3::types::NotificationConfiguration, Problem> {
    let mut written = aws_sdk_s3::types::NotificationConfiguration::builder();
    for notification in &configuration.notifications {
        let events: Vec<Event> = notification
            .events
            .iter()
            .map(|event| Event::from(event.as_str()))
            .collect();
        let filter = (!notification.filter_rules.is_empty()).then(|| {
            let rules = notification
                .filter_rules
                .iter()
                .map(|rule| {
                    aws_sdk_s3::types::FilterRule::builder()
                        .name(FilterRuleName::from(
                            rule.name.to_ascii_lowercase().as_str(),
                        ))
                        .value(&rule.value)
                        .build()
                })
                .collect();
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                .build()
        });
        let id = &notification.id;
        let unbuildable = |err: aws_sdk_s3::error::BuildError| {
            let id = id.as_deref().unwrap_or("(no Id)");
            Problem::new(format!("configuration {id}"), err.to_string())
        };
        written = match &notification.destination {
            Destination::Topic(arn) => {
                let topic = TopicConfiguration::builder().topic_arn(arn);
                let built = sdk_notification!(topic, id, events, filter);
                written.topic_configurations(built.map_err(unbuildable)?)
            }
            Destination::Queue(arn) => {
                let queue = QueueConfiguration::builder().queue_arn(arn);
                let built = sdk_notification!(queue, id, events, filter);
                written.queue_configurations(built.map_err(unbuildable)?)
            }
            Destination::LambdaFunction(arn) => {
                let function = LambdaFunctionConfiguration::builder().lambda_function_arn(arn);
                let built = sdk_notification!(function, id, events, filter);
                written.lambda_function_configurations(built.map_err(unbuildable)?)
            }
        };
    }
    if configuration.event_bridge {
        written = written.event_bridge_configuration(EventBridgeConfiguration::builder().build());
    }
    Ok(written.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lwct_domain::bucket_notifications::log_files_notification;

    #[test]
    fn a_configuration_is_written_as_it_was_read() {
        let ours = log_files_notification(
            "lacework-ct-cloudtrail-log-files",
            "arn:aws:sns:us-east-1:222233334444:t",
            Some("o-abc"),
        );
        let queue = EventNotification {
            id: Some("siem".into()),
            destination: Destination::Queue("arn:aws:sqs:us-east-1:222233334444:q".into()),
            events: vec!["s3:ObjectRemoved:*".into()],
            filter_rules: vec![],
        };
        let function = EventNotification {
            id: None,
            destination: Destination::LambdaFunction(
                "arn:aws:lambda:us-east-1:222233334444:function:f".into(),
            ),
            events: vec!["s3:ObjectRestore:Post".into(), "s3:ObjectTagging:*".into()],
            filter_rules: vec![FilterRule::new("suffix", ".csv")],
        };
        let configuration = NotificationConfiguration {
            notifications: vec![ours.clone(), queue.clone(), function.clone()],
            event_bridge: true,
        };
        let written = sdk_configuration(&configuration).unwrap();
        assert!(written.event_bridge_configuration().is_some());
        let [topic] = written.topic_configurations() else {
            panic!("one topic configuration: {written:?}");
        };
        let back = read(
            topic.id(),
            Destination::Topic(topic.topic_arn().to_owned()),
            topic.events(),
            topic.filter(),
        );
        assert_eq!(back, ours);
        let [sqs] = written.queue_configurations() else {
            panic!("one queue configuration: {written:?}");
        };
        assert!(sqs.filter().is_none(), "no filter where there was none");
        let back = read(
            sqs.id(),
            Destination::Queue(sqs.queue_arn().to_owned()),
            sqs.events(),
            sqs.filter(),
        );
        assert_eq!(back, queue);
        let [lambda] = written.lambda_function_configurations() else {
            panic!("one function configuration: {written:?}");
        };
        let back = read(
            lambda.id(),
            Destination::LambdaFunction(lambda.lambda_function_arn().to_owned()),
            lambda.events(),
            lambda.filter(),
        );
        assert_eq!(back, function);
    }
}
