//! End to end, a trail that notifies no SNS topic: `setup` (the real binary, against moto and
//! the Lacework emulator) deploys the S3 notifications StackSet in Log Archive, adds its event
//! notification to the trail bucket next to someone else's, and points the Log Archive role
//! and the CloudTrail integration at the Log Archive queue; Delete takes away only what it
//! added. The landing zone seeds that trail (`org-trail-without-topic`, key prefix
//! `org-logs`, its own bucket in Log Archive) beside Control Tower's.
//!
//! moto skips the template's `AWS::SNS::Subscription` (stacksets/README.md), so the test
//! subscribes the queue to the topic itself, as the template would (raw message delivery),
//! before showing that a log file put into the bucket reaches the queue as S3's own event.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use landing_zone::LandingZone;
use landing_zone::aws::s3_client;
use landing_zone::state;
use lwct_domain::config::TOWER_TRAIL_NAME;
use lwct_domain::notification::{Notification, parse_body};
use serde_json::Value;

const OUR_NOTIFICATION_ID: &str = "lacework-ct-cloudtrail-log-files";
const THEIR_NOTIFICATION_ID: &str = "siem-deleted-log-files";

async fn log_archive(zone: &LandingZone) -> SdkConfig {
    zone.account(&zone.state.organization.log_archive)
        .await
        .expect("AssumeRole into Log Archive")
}

/// Someone else's configuration on the trail bucket, there before setup runs: deleted log
/// files go to a queue of theirs.
async fn add_their_notification(zone: &LandingZone) {
    let queue_arn = format!(
        "arn:aws:sqs:us-east-1:{}:siem-deleted-objects",
        zone.state.organization.log_archive
    );
    let theirs = QueueConfiguration::builder()
        .id(THEIR_NOTIFICATION_ID)
        .queue_arn(queue_arn)
        .events(Event::from("s3:ObjectRemoved:*"))
        .filter(
            NotificationConfigurationFilter::builder()
                .key(
                    S3KeyFilter::builder()
                        .filter_rules(
                            FilterRule::builder()
                                .name(FilterRuleName::Prefix)
                                .value("org-logs/")
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .build()
        .expect("a queue configuration");
    s3_client(&log_archive(zone).await)
        .put_bucket_notification_configuration()
        .bucket(&zone.trail_without_topic().bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(theirs)
                .build(),
        )
        .send()
        .await
        .expect("their notification configured");
}

/// The bucket's configurations, as `(id, destination, events, prefix)`.
async fn bucket_notifications(zone: &LandingZone) -> Vec<(String, String, Vec<String>, String)> {
    let got = s3_client(&log_archive(zone).await)
        .get_bucket_notification_configuration()
        .bucket(&zone.trail_without_topic().bucket)
        .send()
        .await
        .expect("the bucket's notification configuration");
    let prefix = |filter: Option<&NotificationConfigurationFilter>| -> String {
        filter
            .and_then(|f| f.key())
            .map(|k| k.filter_rules())
            .unwrap_or_default()
            .iter()
            .find(|rule| rule.name() == Some(&FilterRuleName::Prefix))
            .and_then(|rule| rule.value())
            .unwrap_or_default()
            .to_owned()
    };
    let events = |events: &[Event]| events.iter().map(|e| e.as_str().to_owned()).collect();
    let mut all: Vec<_> = got
        .topic_configurations()
        .iter()
        .map(|t| {
            (
                t.id().unwrap_or_default().to_owned(),
                t.topic_arn().to_owned(),
                events(t.events()),
                prefix(t.filter()),
            )
        })
        .chain(got.queue_configurations().iter().map(|q| {
            (
                q.id().unwrap_or_default().to_owned(),
                q.queue_arn().to_owned(),
                events(q.events()),
                prefix(q.filter()),
            )
        }))
        .collect();
    all.sort();
    all
}

fn topic_arn(zone: &LandingZone) -> String {
    format!(
        "arn:aws:sns:us-east-1:{}:{}",
        zone.state.organization.log_archive, zone.names.s3_notifications
    )
}

fn queue_url_suffix(zone: &LandingZone) -> String {
    format!(
        "/{}/{}",
        zone.state.organization.log_archive, zone.names.s3_notifications
    )
}

fn expected_notifications(zone: &LandingZone) -> Vec<(String, String, Vec<String>, String)> {
    let mut expected = vec![
        (
            OUR_NOTIFICATION_ID.to_owned(),
            topic_arn(zone),
            vec!["s3:ObjectCreated:*".to_owned()],
            "org-logs/AWSLogs/".to_owned(),
        ),
        their_notification(zone),
    ];
    expected.sort();
    expected
}

fn their_notification(zone: &LandingZone) -> (String, String, Vec<String>, String) {
    (
        THEIR_NOTIFICATION_ID.to_owned(),
        format!(
            "arn:aws:sqs:us-east-1:{}:siem-deleted-objects",
            zone.state.organization.log_archive
        ),
        vec!["s3:ObjectRemoved:*".to_owned()],
        "org-logs/".to_owned(),
    )
}

async fn cloudtrail_integrations(zone: &LandingZone) -> Vec<Value> {
    state::lacework_integrations(&zone.lacework_state().await.expect("emulator state"))
        .into_iter()
        .filter(|integration| integration["type"] == "AwsCtSqs")
        .collect()
}

async fn stack_sets(zone: &LandingZone) -> Vec<(String, Vec<String>)> {
    let mut sets: Vec<(String, Vec<String>)> = state::stack_sets(zone.management())
        .await
        .expect("stack sets")
        .into_iter()
        .map(|set| {
            let mut instances: Vec<String> =
                set.instances.iter().map(|i| i.account.clone()).collect();
            instances.sort();
            (set.name, instances)
        })
        .collect();
    sets.sort();
    sets
}

/// The Log Archive stack set's parameter `key`.
async fn log_archive_parameter(zone: &LandingZone, key: &str) -> String {
    aws_sdk_cloudformation::Client::new(zone.management())
        .describe_stack_set()
        .stack_set_name(&zone.names.log_archive_stack_set)
        .send()
        .await
        .expect("the Log Archive stack set")
        .stack_set()
        .map(|set| set.parameters())
        .unwrap_or_default()
        .iter()
        .find(|p| p.parameter_key() == Some(key))
        .and_then(|p| p.parameter_value())
        .unwrap_or_default()
        .to_owned()
}

/// What the template's `AWS::SNS::Subscription` would have done (moto skips it): the queue
/// subscribed to the topic with raw message delivery. Returns the queue URL.
async fn subscribe_queue_as_the_template_does(zone: &LandingZone, config: &SdkConfig) -> String {
    let sqs = aws_sdk_sqs::Client::new(config);
    let queue_url = sqs
        .get_queue_url()
        .queue_name(&zone.names.s3_notifications)
        .send()
        .await
        .expect("the notification queue exists in Log Archive")
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let queue_arn = format!(
        "arn:aws:sqs:us-east-1:{}:{}",
        zone.state.organization.log_archive, zone.names.s3_notifications
    );
    aws_sdk_sns::Client::new(config)
        .subscribe()
        .topic_arn(topic_arn(zone))
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("the queue subscribed to the topic");
    queue_url
}

/// Every message waiting in the queue (bodies), removed.
async fn receive_all(config: &SdkConfig, queue_url: &str) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        if received.messages().is_empty() && !bodies.is_empty() {
            break;
        }
        for message in received.messages() {
            bodies.push(message.body().unwrap_or_default().to_owned());
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trail_without_a_topic_is_announced_by_s3_event_notifications() {
    common::within(Duration::from_secs(300), async {
        let options = common::options("trail-without-topic")
            .with_function_env(TOWER_TRAIL_NAME, landing_zone::seed::TRAIL_WITHOUT_TOPIC_NAME);
        let zone = common::start(options).await;
        add_their_notification(&zone).await;
        let names = &zone.names;
        let log_archive_id = zone.state.organization.log_archive.to_string();

        // Create.
        let created = zone.setup("Create", None).await.expect("setup delivered");
        assert_eq!(
            created.status(),
            Some("SUCCESS"),
            "{}; log {}",
            created.reason(),
            created.invocation.log.display()
        );
        let data = &created.response.as_ref().expect("an answer")["Data"];
        assert_eq!(data["TrailNotifications"], "s3-event-notifications", "{data}");
        let queue_url = data["QueueUrl"].as_str().unwrap_or_default().to_owned();
        assert!(queue_url.ends_with(&queue_url_suffix(&zone)), "{data}");
        let reason = created.reason();
        assert!(
            reason.contains(&format!(
                "adding event notification {OUR_NOTIFICATION_ID} (s3:ObjectCreated:* under org-logs/AWSLogs/ to SNS topic {}) to bucket {}",
                topic_arn(&zone),
                zone.trail_without_topic().bucket
            )),
            "the answer says what was done to the bucket: {reason}"
        );
        let log = std::fs::read_to_string(&created.invocation.log).unwrap_or_default();
        assert!(
            log.contains("the trail bucket's event notification is in place")
                && log.contains(OUR_NOTIFICATION_ID),
            "the log says what was done to the bucket: {}",
            created.invocation.log.display()
        );

        // The notification stack in Log Archive, no Audit stack set.
        let sets = stack_sets(&zone).await;
        assert_eq!(
            sets,
            [
                (names.log_archive_stack_set.clone(), vec![log_archive_id.clone()]),
                (names.member_stack_set.clone(), vec![]),
                (names.s3_notifications.clone(), vec![log_archive_id.clone()]),
            ],
            "{sets:?}"
        );
        let resources = common::instance_resources(
            &zone,
            &zone.state.organization.log_archive,
            &names.s3_notifications,
        )
        .await;
        for kind in ["AWS::KMS::Key", "AWS::SNS::Topic", "AWS::SQS::Queue"] {
            assert!(
                resources
                    .iter()
                    .any(|r| r.resource_type == kind && r.status == "CREATE_COMPLETE"),
                "{kind} in the Log Archive notification stack: {resources:?}"
            );
        }

        // The Log Archive role consumes that queue, with its key.
        assert_eq!(
            log_archive_parameter(&zone, "AuditQueueArn").await,
            format!("arn:aws:sqs:us-east-1:{log_archive_id}:{}", names.s3_notifications)
        );
        let key = log_archive_parameter(&zone, "AuditQueueKmsKeyArn").await;
        assert!(
            key.starts_with(&format!("arn:aws:kms:us-east-1:{log_archive_id}:key/")),
            "the queue's key: {key:?}"
        );

        // Ours on the bucket, theirs kept.
        assert_eq!(
            bucket_notifications(&zone).await,
            expected_notifications(&zone)
        );

        // The CloudTrail integration reads the Log Archive queue.
        let cloudtrail = cloudtrail_integrations(&zone).await;
        assert_eq!(cloudtrail.len(), 1, "{cloudtrail:?}");
        assert_eq!(cloudtrail[0]["queueUrl"], queue_url.as_str(), "{cloudtrail:?}");
        assert_eq!(
            cloudtrail[0]["roleArn"],
            format!(
                "arn:aws:iam::{log_archive_id}:role/{}",
                names.cross_account_role
            )
            .as_str()
        );

        // Create again: nothing twice.
        let again = zone.setup("Create", None).await.expect("setup delivered");
        assert_eq!(again.status(), Some("SUCCESS"), "{}", again.reason());
        assert_eq!(stack_sets(&zone).await, sets);
        assert_eq!(
            bucket_notifications(&zone).await,
            expected_notifications(&zone)
        );
        assert_eq!(cloudtrail_integrations(&zone).await.len(), 1);

        // A log file put into the bucket arrives in the queue as S3's own event (raw), and
        // the product's parser reads it; a file outside AWSLogs/ does not arrive.
        let log_archive = log_archive(&zone).await;
        let queue = subscribe_queue_as_the_template_does(&zone, &log_archive).await;
        let log_file = format!(
            "org-logs/AWSLogs/{}/{}/CloudTrail/us-east-1/2026/11/23/{}_CloudTrail_us-east-1_20261123T1200Z_abc.json.gz",
            "o-exampleorg1", log_archive_id, log_archive_id
        );
        let s3 = s3_client(&log_archive);
        for key in [log_file.as_str(), "org-logs/elsewhere/readme.txt"] {
            s3.put_object()
                .bucket(&zone.trail_without_topic().bucket)
                .key(key)
                .body(b"{}".to_vec().into())
                .send()
                .await
                .expect("object put");
        }
        let bodies = receive_all(&log_archive, &queue).await;
        assert_eq!(bodies.len(), 1, "one event, for the log file: {bodies:?}");
        let event: Value = serde_json::from_str(&bodies[0]).expect("JSON");
        assert!(
            event.get("Type").is_none() && event.get("Message").is_none(),
            "raw, without an SNS envelope: {event}"
        );
        let record = &event["Records"][0];
        assert_eq!(record["eventSource"], "aws:s3", "{event}");
        assert_eq!(record["eventName"], "ObjectCreated:Put", "{event}");
        assert_eq!(
            record["s3"]["bucket"]["name"],
            zone.trail_without_topic().bucket.as_str()
        );
        assert_eq!(
            record["s3"]["configurationId"],
            OUR_NOTIFICATION_ID,
            "{event}"
        );
        match parse_body(&bodies[0]).expect("the product reads it") {
            Notification::Objects(objects) => {
                assert_eq!(objects.len(), 1, "{objects:?}");
                assert_eq!(objects[0].key, log_file);
            }
            other => panic!("a log file notification, not {other:?}"),
        }

        // Delete: ours gone, theirs kept, the notification stack set gone.
        let physical_id = created
            .physical_resource_id()
            .expect("a physical id")
            .to_owned();
        let deleted = zone
            .setup("Delete", Some(&physical_id))
            .await
            .expect("setup delivered");
        assert_eq!(deleted.status(), Some("SUCCESS"), "{}", deleted.reason());
        assert_eq!(
            bucket_notifications(&zone).await,
            [their_notification(&zone)]
        );
        let sets = stack_sets(&zone).await;
        assert!(sets.is_empty(), "{sets:?}");
        assert!(cloudtrail_integrations(&zone).await.is_empty());
    })
    .await;
}
