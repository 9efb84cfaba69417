//! AWS CloudTrail: the settings of the Control Tower trail (where it writes, whom it notifies,
//! which key encrypts it).
//!
//! [`Trails`] is the port; [`TrailsClient`] the adapter over the AWS SDK.

use std::future::Future;

use aws_sdk_cloudtrail::Client;
use aws_sdk_cloudtrail::types::Trail;

use crate::unless_missing;
use lwct_domain::error::Error;
use lwct_domain::trail::TrailDetails;

/// What the functions ask AWS CloudTrail.
pub trait Trails: Send + Sync {
    /// The trail with this name or ARN (`GetTrail`); `None` when there is none.
    fn get_trail(
        &self,
        name_or_arn: &str,
    ) -> impl Future<Output = Result<Option<TrailDetails>, Error>> + Send;
}

/// [`Trails`] over the AWS SDK.
#[derive(Debug, Clone)]
pub struct TrailsClient {
    client: Client,
}

impl TrailsClient {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl Trails for TrailsClient {
    async fn get_trail(&self, name_or_arn: &str) -> Result<Option<TrailDetails>, Error> {
        let sent = self.client.get_trail().name(name_or_arn).send().await;
        let output = unless_missing("cloudtrail:GetTrail", sent, |e| {
            e.is_trail_not_found_exception()
        })?;
        Ok(output.and_then(|output| output.trail().map(trail_details)))
    }
}

/// An SDK trail read into [`TrailDetails`]; empty strings count as absent.
pub fn trail_details(trail: &Trail) -> TrailDetails {
    let text = |value: Option<&str>| {
        value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    TrailDetails {
        name: trail.name().unwrap_or_default().to_owned(),
        arn: text(trail.trail_arn()),
        s3_bucket_name: text(trail.s3_bucket_name()),
        s3_key_prefix: text(trail.s3_key_prefix().map(|prefix| prefix.trim_matches('/'))),
        sns_topic_arn: text(trail.sns_topic_arn()),
        kms_key_id: text(trail.kms_key_id()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trail_fields_are_read_and_blank_ones_dropped() {
        let trail = Trail::builder()
            .name("aws-controltower-BaselineCloudTrail")
            .s3_bucket_name("aws-controltower-logs-222233334444-us-east-1")
            .s3_key_prefix("/o-abc/")
            .sns_topic_arn(
                "arn:aws:sns:us-east-1:333344445555:aws-controltower-AllConfigNotifications",
            )
            .kms_key_id("")
            .build();
        let settings = trail_details(&trail);
        assert_eq!(settings.name, "aws-controltower-BaselineCloudTrail");
        assert_eq!(
            settings.s3_bucket_name.as_deref(),
            Some("aws-controltower-logs-222233334444-us-east-1")
        );
        assert_eq!(settings.s3_key_prefix.as_deref(), Some("o-abc"));
        assert!(settings.sns_topic_arn.is_some());
        assert_eq!(settings.kms_key_id, None);

        let bare = trail_details(&Trail::builder().name("t").s3_key_prefix("").build());
        assert_eq!(bare.s3_key_prefix, None);
        assert_eq!(bare.s3_bucket_name, None);
    }
}
