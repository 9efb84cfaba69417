//! An in-memory [`LogArchive`] for tests. Like S3, it refuses a configuration in which two
//! configurations overlap, and an unknown bucket.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use lwct_aws::log_archive::LogArchive;
use lwct_domain::Error;
use lwct_domain::bucket_notifications::NotificationConfiguration;

#[derive(Debug, Default)]
struct State {
    buckets: BTreeMap<String, NotificationConfiguration>,
    topic_keys: BTreeMap<String, String>,
    calls: Vec<String>,
}

#[derive(Debug, Default)]
pub struct InMemoryLogArchive {
    state: Mutex<State>,
}

impl InMemoryLogArchive {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates (or overwrites) a bucket with `configuration`.
    pub fn insert_bucket(&self, bucket: &str, configuration: NotificationConfiguration) {
        self.state()
            .buckets
            .insert(bucket.to_owned(), configuration);
    }

    /// Says which key encrypts a topic.
    pub fn insert_topic_key(&self, topic_arn: &str, key_arn: &str) {
        self.state()
            .topic_keys
            .insert(topic_arn.to_owned(), key_arn.to_owned());
    }

    /// The bucket's configuration, if the bucket exists.
    pub fn bucket(&self, bucket: &str) -> Option<NotificationConfiguration> {
        self.state().buckets.get(bucket).cloned()
    }

    /// Every call so far, `<operation> <bucket or topic>`.
    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }
}

fn refused(operation: &str, code: &str, message: String) -> Error {
    Error::Aws {
        operation: operation.to_owned(),
        code: Some(code.to_owned()),
        message,
        retryable: false,
    }
}

impl LogArchive for InMemoryLogArchive {
    async fn bucket_notifications(&self, bucket: &str) -> Result<NotificationConfiguration, Error> {
        const OPERATION: &str = "s3:GetBucketNotificationConfiguration";
        let mut state = self.state();
        state.calls.push(format!("{OPERATION} {bucket}"));
        state.buckets.get(bucket).cloned().ok_or_else(|| {
            refused(
                OPERATION,
                "NoSuchBucket",
                format!("The specified bucket does not exist: {bucket}"),
            )
        })
    }

    async fn put_bucket_notifications(
        &self,
        bucket: &str,
        configuration: &NotificationConfiguration,
    ) -> Result<(), Error> {
        const OPERATION: &str = "s3:PutBucketNotificationConfiguration";
        let mut state = self.state();
        state.calls.push(format!("{OPERATION} {bucket}"));
        if !state.buckets.contains_key(bucket) {
            return Err(refused(
                OPERATION,
                "NoSuchBucket",
                format!("The specified bucket does not exist: {bucket}"),
            ));
        }
        let all = &configuration.notifications;
        for (n, a) in all.iter().enumerate() {
            if all[n + 1..].iter().any(|b| a.overlaps(b)) {
                return Err(refused(
                    OPERATION,
                    "InvalidArgument",
                    "Configurations overlap. Configurations on the same bucket cannot share a common event type.".into(),
                ));
            }
        }
        state
            .buckets
            .insert(bucket.to_owned(), configuration.clone());
        Ok(())
    }

    async fn topic_kms_key(&self, topic_arn: &str) -> Result<Option<String>, Error> {
        let mut state = self.state();
        state
            .calls
            .push(format!("sns:GetTopicAttributes {topic_arn}"));
        Ok(state.topic_keys.get(topic_arn).cloned())
    }
}

#[cfg(test)]
mod tests {
    use lwct_domain::bucket_notifications::log_files_notification;

    use super::*;

    #[tokio::test]
    async fn the_fake_refuses_overlaps_like_s3() {
        let fake = InMemoryLogArchive::new();
        let ours = log_files_notification("ours", "arn:aws:sns:us-east-1:1:t", None);
        let mut theirs = ours.clone();
        theirs.id = Some("theirs".into());
        let refused = fake
            .put_bucket_notifications("b", &NotificationConfiguration::default())
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("NoSuchBucket"), "{refused}");
        fake.insert_bucket("b", NotificationConfiguration::default());
        let both = NotificationConfiguration {
            notifications: vec![ours, theirs],
            event_bridge: false,
        };
        let refused = fake.put_bucket_notifications("b", &both).await.unwrap_err();
        assert!(refused.to_string().contains("overlap"), "{refused}");
        assert_eq!(fake.bucket("b"), Some(NotificationConfiguration::default()));
    }
}
