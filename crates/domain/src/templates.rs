//! The StackSet templates, built into the binary so that what is deployed is what was tested.

/// Cross-account role in Log Archive that reads the trail bucket and consumes the Audit queue.
pub const LOG_ARCHIVE: &str = include_str!("../../../stacksets/log-archive.yaml");

/// SQS queue in Audit subscribed to the trail's SNS topic.
pub const AUDIT: &str = include_str!("../../../stacksets/audit.yaml");

/// Role (and registration custom resource) in every monitored account.
pub const MEMBER: &str = include_str!("../../../stacksets/member.yaml");

/// KMS key, encrypted SNS topic and SQS queue in Log Archive, for a trail without an SNS topic.
pub const S3_NOTIFICATIONS: &str =
    include_str!("../../../stacksets/log-archive-s3-notifications.yaml");

/// A template's parameters: each name, and whether it has a `Default`.
#[cfg(test)]
pub fn parameters(template: &str) -> Vec<(String, bool)> {
    let section = template
        .split("\nParameters:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_default();
    let mut found: Vec<(String, bool)> = Vec::new();
    for line in section.lines() {
        if let Some(name) = line
            .strip_prefix("  ")
            .filter(|rest| !rest.starts_with(' '))
            .and_then(|rest| rest.strip_suffix(':'))
        {
            found.push((name.to_owned(), false));
        } else if line.starts_with("    Default:") {
            if let Some(last) = found.last_mut() {
                last.1 = true;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_read_with_their_defaults() {
        let names: Vec<String> = parameters(AUDIT).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "CloudTrailTopicArn",
                "LogArchiveRoleArn",
                "QueueName",
                "QueueKmsKeyArn"
            ]
        );
        assert!(parameters(AUDIT).contains(&("QueueName".to_owned(), true)));
        assert!(parameters(AUDIT).contains(&("LogArchiveRoleArn".to_owned(), false)));
        assert_eq!(parameters(LOG_ARCHIVE).len(), 9);
        assert_eq!(parameters(MEMBER).len(), 5);
        assert_eq!(
            parameters(S3_NOTIFICATIONS),
            [
                ("CloudTrailBucketName".to_owned(), false),
                ("TopicName".to_owned(), true),
                ("QueueName".to_owned(), true)
            ]
        );
    }
}
