//! The Control Tower trail as the product sees it: where it writes, whom it notifies, which
//! key encrypts it.

/// What the product needs to know about a trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailDetails {
    pub name: String,
    pub arn: Option<String>,
    /// The bucket the trail delivers log files to (in Log Archive under Control Tower).
    pub s3_bucket_name: Option<String>,
    /// The key prefix of the log files, without slashes at either end; `None` when empty.
    pub s3_key_prefix: Option<String>,
    /// The topic notified of each delivered log file (in Audit under Control Tower).
    pub sns_topic_arn: Option<String>,
    /// The KMS key (ARN) the log files are encrypted with, if any.
    pub kms_key_id: Option<String>,
}
