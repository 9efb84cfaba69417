//! The decisions of the setup flow, without I/O: which names and physical id it uses, how it
//! reads the trail, which StackSets it wants with which parameters, which CloudTrail
//! integration it registers and where, and which accounts it queues.

use std::collections::BTreeMap;

use crate::bucket_notifications::{self, EventNotification, Overlap, notification_id};
use crate::config::{SetupConfig, TOWER_KMS_KEY_ARN, TOWER_TRAIL_NAME, parse_kms_key_arn};
use crate::drain::cloudtrail_integration_name;
use crate::external_id::{ExternalId, ExternalIdSuffix};
use crate::lacework::{AwsCtSqsData, CloudAccountSpec, CrossAccountCredentials, Scope, SubAccount};
use crate::mapping::{AccountMapping, OuRules};
use crate::naming::{Arn, NamePrefix, iam_role_arn, sns_topic_arn, sqs_queue_arn, sqs_queue_url};
use crate::stack_set::{
    EXECUTION_ROLE_NAME, StackInstanceTarget, StackSetSpec, administration_role_arn,
};
use crate::trail::TrailDetails;
use crate::{AccountId, Error};

use crate::templates;

/// What the physical resource id of setup ends with; the part before it is the name prefix.
const PHYSICAL_ID_SUFFIX: &str = "-setup";

/// The custom resource's physical id: it names the installation by its prefix, so a Delete
/// removes what that installation made even if the prefix has changed since.
pub fn physical_id(prefix: &NamePrefix) -> String {
    format!("{prefix}{PHYSICAL_ID_SUFFIX}")
}

/// The name prefix of the installation a physical id names; `None` for anything setup never
/// answered with (such as the placeholder of a Create that failed before changing anything).
pub fn prefix_of_physical_id(physical_id: &str) -> Option<NamePrefix> {
    physical_id
        .strip_suffix(PHYSICAL_ID_SUFFIX)
        .and_then(|prefix| NamePrefix::parse(prefix).ok())
}

/// What the names of the product's `AwsCfg` integrations start with.
pub fn member_integration_prefix(prefix: &NamePrefix) -> String {
    format!("{prefix}-")
}

/// The trail as setup uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailPlan {
    pub bucket: String,
    pub key_prefix: Option<String>,
    /// The trail's SNS topic; `None` when it has none (then setup announces new log files
    /// with the bucket's S3 event notifications).
    pub topic_arn: Option<String>,
    /// The key the log files are encrypted with (a key ARN), if any.
    pub kms_key_arn: Option<String>,
}

/// Reads the trail into what the Log Archive and Audit StackSets need, or says - each in a
/// sentence a person can act on - everything that is wrong with it.
pub fn trail_plan(
    config: &SetupConfig,
    trail: Option<&TrailDetails>,
) -> Result<TrailPlan, Vec<String>> {
    let wanted = &config.trail.trail_name;
    let Some(trail) = trail else {
        return Err(vec![format!(
            "the trail {wanted:?} ({TOWER_TRAIL_NAME}) was not found in the management account's region {}; give the Control Tower trail's name or ARN",
            config.installation.region
        )]);
    };
    let mut problems = Vec::new();
    let bucket = trail.s3_bucket_name.clone().unwrap_or_default();
    if bucket.is_empty() {
        problems.push(format!("the trail {wanted:?} has no S3 bucket"));
    } else if !is_bucket_name(&bucket) {
        problems.push(format!(
            "the trail {wanted:?} writes to {bucket:?}, which is not an S3 bucket name the Log Archive template accepts"
        ));
    }
    if let Some(prefix) = trail.s3_key_prefix.as_ref().filter(|p| !is_key_prefix(p)) {
        problems.push(format!(
            "the trail {wanted:?} has the S3 key prefix {prefix:?}; the Log Archive template accepts letters, digits and ! _ . - separated by single slashes, at most 200 characters"
        ));
    }
    // No topic: setup builds the S3 event notification path in Log Archive instead.
    let topic_arn = trail.sns_topic_arn.clone().filter(|t| !t.is_empty());
    if let Some(topic_arn) = &topic_arn {
        match Arn::parse(topic_arn) {
            Ok(arn) if arn.service == "sns" => {
                // Control Tower's topic is in Audit. One elsewhere works only if its policy
                // lets Audit subscribe; the StackSet operation will say if it does not.
                if arn.account.as_ref() != Some(&config.accounts.audit) {
                    tracing::warn!(
                        operation = "cloudtrail:GetTrail",
                        topic = %topic_arn,
                        account = %config.accounts.audit,
                        "the trail's SNS topic is not in the Audit account; its policy must let Audit subscribe"
                    );
                }
            }
            _ => problems.push(format!(
                "the trail {wanted:?} names {topic_arn:?} as its SNS topic, which is not an SNS topic ARN"
            )),
        }
    }
    let configured = config.trail.kms_key_arn.as_ref().map(ToString::to_string);
    let kms_key_arn = match (&trail.kms_key_id, configured) {
        (None, configured) => configured,
        (Some(used), None) if parse_kms_key_arn(used).is_ok() => Some(used.clone()),
        (Some(used), None) => {
            problems.push(format!(
                "the trail {wanted:?} encrypts its log files with {used:?}, which is not a KMS key ARN; set {TOWER_KMS_KEY_ARN} to the key's ARN"
            ));
            None
        }
        (Some(used), Some(configured)) if *used == configured => Some(configured),
        (Some(used), Some(configured)) => {
            problems.push(format!(
                "{TOWER_KMS_KEY_ARN} is {configured}, but the trail {wanted:?} encrypts its log files with {used}; set {TOWER_KMS_KEY_ARN} to the trail's key or leave it empty"
            ));
            None
        }
    };
    if problems.is_empty() {
        Ok(TrailPlan {
            bucket,
            key_prefix: trail.s3_key_prefix.clone(),
            topic_arn,
            kms_key_arn,
        })
    } else {
        Err(problems)
    }
}

fn is_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn is_key_prefix(prefix: &str) -> bool {
    prefix.len() <= 200
        && prefix.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!_.-".contains(&b))
        })
}

/// Everything the StackSets and the integration are built from, once preflight passed.
#[derive(Debug, Clone)]
pub struct Landscape {
    pub management: AccountId,
    /// `None` when CloudTrail is not monitored (`TOWER_CAPABILITY=Config`).
    pub trail: Option<TrailPlan>,
    pub suffix: ExternalIdSuffix,
}

/// Where the CloudTrail integration lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrationLevel {
    /// One sub-account gets every account's activity (no OU rules).
    Account(SubAccount),
    /// The organization, with a mapping file built from the OU rules.
    Organization(OuRules),
}

impl IntegrationLevel {
    /// `account` or `organization`, for the stack's outputs and the logs.
    pub fn word(&self) -> &'static str {
        match self {
            IntegrationLevel::Account(_) => "account",
            IntegrationLevel::Organization(_) => "organization",
        }
    }
}

/// The Lacework account that gets every AWS account no rule maps: `LACEWORK_SUB_ACCOUNT`, or
/// the account itself.
pub fn default_lacework_account(config: &SetupConfig) -> &str {
    config
        .lacework
        .default_sub_account
        .as_deref()
        .unwrap_or(&config.lacework.account)
}

/// The default sub-account as an API scope.
pub fn default_scope(config: &SetupConfig) -> Result<Scope, Error> {
    Ok(Scope::Account(SubAccount::new(default_lacework_account(
        config,
    ))?))
}

/// Account level without OU rules, organization level with them.
pub fn integration_level(config: &SetupConfig) -> Result<IntegrationLevel, Vec<String>> {
    let rules = &config.lacework.ou_rules;
    if rules.is_empty() {
        SubAccount::new(default_lacework_account(config))
            .map(IntegrationLevel::Account)
            .map_err(|err| vec![err.to_string()])
    } else {
        Ok(IntegrationLevel::Organization(rules.clone()))
    }
}

fn base_parameters(config: &SetupConfig, suffix: &ExternalIdSuffix) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "LaceworkAccount".to_owned(),
            config.lacework.account.clone(),
        ),
        ("ExternalIdSuffix".to_owned(), suffix.expose().to_owned()),
        (
            "LaceworkPrincipalArn".to_owned(),
            config.installation.lacework_principal_arn.to_string(),
        ),
    ])
}

fn spec(
    config: &SetupConfig,
    landscape: &Landscape,
    name: &str,
    description: &str,
    template: &str,
    parameters: BTreeMap<String, String>,
    managed_execution: bool,
) -> StackSetSpec {
    StackSetSpec {
        name: name.to_owned(),
        description: description.to_owned(),
        template_body: template.to_owned(),
        parameters,
        administration_role_arn: administration_role_arn(
            config.installation.region.partition(),
            &landscape.management,
        ),
        execution_role_name: EXECUTION_ROLE_NAME.to_owned(),
        managed_execution,
    }
}

/// The role Lacework assumes in Log Archive for the CloudTrail integration.
pub fn log_archive_role_arn(config: &SetupConfig) -> String {
    iam_role_arn(
        config.installation.region.partition(),
        &config.accounts.log_archive,
        &config.installation.names.cross_account_role,
    )
}

/// How the trail announces new log files to Lacework.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailNotifications {
    /// The trail notifies an SNS topic; the Audit queue subscribes to it.
    TrailTopic,
    /// The trail notifies no topic; the bucket's S3 event notifications go to a topic and
    /// queue of our own in Log Archive.
    S3EventNotifications,
}

impl TrailNotifications {
    pub fn of(trail: &TrailPlan) -> Self {
        match trail.topic_arn {
            Some(_) => Self::TrailTopic,
            None => Self::S3EventNotifications,
        }
    }

    /// The value of the `TrailNotifications` output.
    pub fn word(self) -> &'static str {
        match self {
            Self::TrailTopic => "trail-topic",
            Self::S3EventNotifications => "s3-event-notifications",
        }
    }
}

/// The queue Lacework reads, and the role consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationQueue {
    pub arn: String,
    pub url: String,
    /// Its customer managed key; `None` = SQS-managed encryption.
    pub kms_key_arn: Option<String>,
}

/// The Audit queue subscribed to the trail's topic (in the functions' region).
pub fn audit_queue(config: &SetupConfig) -> NotificationQueue {
    let (region, audit) = (&config.installation.region, &config.accounts.audit);
    let name = &config.installation.names.audit_queue;
    NotificationQueue {
        arn: sqs_queue_arn(region, audit, name),
        url: sqs_queue_url(region, audit, name),
        kms_key_arn: None,
    }
}

/// The queue of the S3 notifications stack in Log Archive, encrypted with `kms_key_arn`.
pub fn log_archive_queue(config: &SetupConfig, kms_key_arn: Option<String>) -> NotificationQueue {
    let (region, log_archive) = (&config.installation.region, &config.accounts.log_archive);
    let name = &config.installation.names.s3_notifications;
    NotificationQueue {
        arn: sqs_queue_arn(region, log_archive, name),
        url: sqs_queue_url(region, log_archive, name),
        kms_key_arn,
    }
}

/// The topic of the S3 notifications stack in Log Archive, which the bucket notifies.
pub fn s3_notifications_topic_arn(config: &SetupConfig) -> String {
    sns_topic_arn(
        &config.installation.region,
        &config.accounts.log_archive,
        &config.installation.names.s3_notifications,
    )
}

/// The product's event notification on the trail bucket: created log files to our topic.
pub fn log_files_notification(config: &SetupConfig, trail: &TrailPlan) -> EventNotification {
    bucket_notifications::log_files_notification(
        &notification_id(&config.installation.prefix),
        &s3_notifications_topic_arn(config),
        trail.key_prefix.as_deref(),
    )
}

/// Why setup cannot add its event notification to the trail bucket, and what to do.
pub fn overlap_problem(config: &SetupConfig, bucket: &str, overlap: &Overlap) -> String {
    format!(
        "the trail {:?} notifies no SNS topic, so setup announces its log files with an event notification on its bucket {bucket} in Log Archive {}; but {overlap}. Remove or narrow that configuration (or give the trail an SNS topic), then retry",
        config.trail.trail_name, config.accounts.log_archive
    )
}

/// The S3 notifications StackSet (trails without a topic): key, topic and queue in Log
/// Archive, next to the bucket.
pub fn s3_notifications_stack_set(
    config: &SetupConfig,
    landscape: &Landscape,
    trail: &TrailPlan,
) -> StackSetSpec {
    let names = &config.installation.names;
    let parameters = BTreeMap::from([
        ("CloudTrailBucketName".to_owned(), trail.bucket.clone()),
        ("TopicName".to_owned(), names.s3_notifications.clone()),
        ("QueueName".to_owned(), names.s3_notifications.clone()),
    ]);
    spec(
        config,
        landscape,
        &names.s3_notifications,
        "Lacework Control Tower integration: the S3 event notification topic and queue in Log Archive, for a trail without an SNS topic",
        templates::S3_NOTIFICATIONS,
        parameters,
        false,
    )
}

/// The Log Archive StackSet: the cross-account role reading the trail bucket and consuming
/// `queue`.
pub fn log_archive_stack_set(
    config: &SetupConfig,
    landscape: &Landscape,
    trail: &TrailPlan,
    queue: &NotificationQueue,
) -> StackSetSpec {
    let names = &config.installation.names;
    let mut parameters = base_parameters(config, &landscape.suffix);
    parameters.extend([
        ("RoleName".to_owned(), names.cross_account_role.clone()),
        ("CloudTrailBucketName".to_owned(), trail.bucket.clone()),
        (
            "CloudTrailKeyPrefix".to_owned(),
            trail.key_prefix.clone().unwrap_or_default(),
        ),
        (
            "CloudTrailKmsKeyArn".to_owned(),
            trail.kms_key_arn.clone().unwrap_or_default(),
        ),
        ("AuditQueueArn".to_owned(), queue.arn.clone()),
        (
            "AuditQueueKmsKeyArn".to_owned(),
            queue.kms_key_arn.clone().unwrap_or_default(),
        ),
    ]);
    spec(
        config,
        landscape,
        &names.log_archive_stack_set,
        "Lacework Control Tower integration: the role Lacework assumes in Log Archive to read CloudTrail logs",
        templates::LOG_ARCHIVE,
        parameters,
        false,
    )
}

/// The Audit StackSet: the queue subscribed to the trail's topic `topic_arn`.
pub fn audit_stack_set(
    config: &SetupConfig,
    landscape: &Landscape,
    topic_arn: &str,
) -> StackSetSpec {
    let names = &config.installation.names;
    let parameters = BTreeMap::from([
        ("CloudTrailTopicArn".to_owned(), topic_arn.to_owned()),
        ("LogArchiveRoleArn".to_owned(), log_archive_role_arn(config)),
        ("QueueName".to_owned(), names.audit_queue.clone()),
        ("QueueKmsKeyArn".to_owned(), String::new()),
    ]);
    spec(
        config,
        landscape,
        &names.audit_stack_set,
        "Lacework Control Tower integration: the queue in Audit that announces new CloudTrail log files",
        templates::AUDIT,
        parameters,
        false,
    )
}

/// The member StackSet (no instances: `account-lifecycle` adds them account by account).
/// Managed execution is on, so the operations of many accounts queue instead of colliding.
pub fn member_stack_set(config: &SetupConfig, landscape: &Landscape) -> StackSetSpec {
    let names = &config.installation.names;
    let mut parameters = base_parameters(config, &landscape.suffix);
    parameters.extend([
        ("RoleName".to_owned(), names.member_role.clone()),
        (
            "RegistrationTopicArn".to_owned(),
            sns_topic_arn(
                &config.installation.region,
                &landscape.management,
                &names.registration_topic,
            ),
        ),
    ]);
    spec(
        config,
        landscape,
        &names.member_stack_set,
        "Lacework Control Tower integration: the role Lacework assumes in each monitored account",
        templates::MEMBER,
        parameters,
        true,
    )
}

/// The one instance of the Log Archive or Audit StackSet: in that account, in the functions'
/// (the landing zone's home) region.
pub fn instance_in(config: &SetupConfig, account: &AccountId) -> StackInstanceTarget {
    StackInstanceTarget::new(account.clone(), config.installation.region.as_str())
}

/// The CloudTrail integration: the Log Archive role, the queue at `queue_url`, and - at
/// organization level - the account mapping file.
pub fn cloudtrail_integration(
    config: &SetupConfig,
    suffix: &ExternalIdSuffix,
    mapping: Option<&AccountMapping>,
    queue_url: &str,
) -> Result<CloudAccountSpec<AwsCtSqsData>, Error> {
    let external_id = ExternalId::new(
        &config.lacework.account,
        &config.accounts.log_archive,
        suffix,
    )?;
    let data = AwsCtSqsData {
        cross_account_credentials: CrossAccountCredentials::new(
            log_archive_role_arn(config),
            external_id.expose(),
        ),
        queue_url: queue_url.to_owned(),
        aws_account_id: None,
        account_mapping_file: mapping.map(AccountMapping::to_wire),
    };
    Ok(CloudAccountSpec::new(
        cloudtrail_integration_name(&config.installation.prefix),
        data,
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::config::FromEnv;

    use crate::mapping::{
        AccountStatus, OrganizationAccount, OrganizationTree, OrganizationalUnit,
    };

    use super::*;

    fn config_with(overrides: &[(&str, &str)]) -> SetupConfig {
        let mut vars: Vec<(String, String)> = [
            ("AWS_REGION", "us-east-1"),
            ("LACEWORK_URL", "https://acme.lacework.net"),
            ("LACEWORK_ACCOUNT", "acme"),
            (
                "LACEWORK_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:lacework-ct-lacework-api-AbCdEf",
            ),
            ("TOWER_LOG_ARCHIVE_ACCOUNT_ID", "222233334444"),
            ("TOWER_AUDIT_ACCOUNT_ID", "333344445555"),
            ("TOWER_RESPONSE_URL_ALLOW", "127.0.0.1"),
        ]
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
        for (name, value) in overrides {
            vars.retain(|(existing, _)| existing != name);
            vars.push((name.to_string(), value.to_string()));
        }
        SetupConfig::from_env(vars).unwrap()
    }

    fn config() -> SetupConfig {
        config_with(&[])
    }

    fn trail() -> TrailDetails {
        TrailDetails {
            name: "aws-controltower-BaselineCloudTrail".into(),
            arn: None,
            s3_bucket_name: Some("aws-controltower-logs-222233334444-us-east-1".into()),
            s3_key_prefix: Some("o-abcd1234".into()),
            sns_topic_arn: Some(
                "arn:aws:sns:us-east-1:333344445555:aws-controltower-AllConfigNotifications".into(),
            ),
            kms_key_id: None,
        }
    }

    fn landscape() -> Landscape {
        Landscape {
            management: AccountId::parse("123456789012").unwrap(),
            trail: None,
            suffix: ExternalIdSuffix::parse("Suffix0123456789").unwrap(),
        }
    }

    #[test]
    fn physical_ids_name_the_prefix() {
        let prefix = NamePrefix::parse("acme-lw").unwrap();
        assert_eq!(physical_id(&prefix), "acme-lw-setup");
        assert_eq!(prefix_of_physical_id("acme-lw-setup"), Some(prefix));
        assert_eq!(
            prefix_of_physical_id("LaceworkSetup-create-failed-5b1c"),
            None
        );
        assert_eq!(prefix_of_physical_id("-setup"), None);
    }

    #[test]
    fn a_control_tower_trail_is_read() {
        let plan = trail_plan(&config(), Some(&trail())).unwrap();
        assert_eq!(plan.bucket, "aws-controltower-logs-222233334444-us-east-1");
        assert_eq!(plan.key_prefix.as_deref(), Some("o-abcd1234"));
        assert_eq!(plan.kms_key_arn, None);
    }

    #[test]
    fn every_trail_problem_is_reported_in_words() {
        let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let other = "arn:aws:kms:us-east-1:123456789012:key/ffffffff-12ab-34cd-56ef-1234567890ab";
        let config = config_with(&[(TOWER_KMS_KEY_ARN, key)]);
        let broken = TrailDetails {
            s3_bucket_name: Some("Not_A_Bucket".into()),
            s3_key_prefix: Some("a//b".into()),
            sns_topic_arn: Some("arn:aws:s3:::not-a-topic".into()),
            kms_key_id: Some(other.into()),
            ..trail()
        };
        let problems = trail_plan(&config, Some(&broken)).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].contains("\"Not_A_Bucket\""));
        assert!(problems[1].contains("\"a//b\""));
        assert!(problems[2].contains("not an SNS topic ARN"));
        assert!(problems[3].contains(other) && problems[3].contains(key));

        // A topic outside Audit is allowed (its policy may let Audit subscribe).
        let elsewhere = TrailDetails {
            sns_topic_arn: Some("arn:aws:sns:us-east-1:123456789012:topic".into()),
            ..trail()
        };
        assert!(trail_plan(&self::config(), Some(&elsewhere)).is_ok());

        let missing = trail_plan(&config, None).unwrap_err();
        assert!(missing[0].contains("was not found") && missing[0].contains(TOWER_TRAIL_NAME));

        let no_topic = TrailDetails {
            sns_topic_arn: None,
            ..trail()
        };
        // No topic: the S3 event notification path.
        let plan = trail_plan(&self::config(), Some(&no_topic)).unwrap();
        assert_eq!(plan.topic_arn, None);
        assert_eq!(
            TrailNotifications::of(&plan),
            TrailNotifications::S3EventNotifications
        );
        assert_eq!(
            TrailNotifications::of(&plan).word(),
            "s3-event-notifications"
        );
    }

    #[test]
    fn the_trails_own_key_is_used_when_none_is_configured() {
        let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let with_key = TrailDetails {
            kms_key_id: Some(key.into()),
            ..trail()
        };
        let plan = trail_plan(&config(), Some(&with_key)).unwrap();
        assert_eq!(plan.kms_key_arn.as_deref(), Some(key));
    }

    /// Every parameter a spec sets is declared by its template, and every parameter the
    /// template requires (no default) is set.
    fn assert_fits(spec: &StackSetSpec, template: &str) {
        let declared = templates::parameters(template);
        let names: BTreeSet<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
        for key in spec.parameters.keys() {
            assert!(
                names.contains(key.as_str()),
                "{}: {key} is not declared",
                spec.name
            );
        }
        for (name, has_default) in &declared {
            if !has_default {
                assert!(
                    spec.sent_parameters().any(|(key, _)| key == name),
                    "{}: required {name} is not set",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn stack_sets_fit_their_templates() {
        let config = config();
        let landscape = landscape();
        let trail = trail_plan(&config, Some(&trail())).unwrap();
        let log_archive = log_archive_stack_set(&config, &landscape, &trail, &audit_queue(&config));
        assert_fits(&log_archive, templates::LOG_ARCHIVE);
        assert_eq!(log_archive.name, "lacework-ct-log-archive");
        assert_eq!(
            log_archive.parameters["AuditQueueArn"],
            "arn:aws:sqs:us-east-1:333344445555:lacework-ct-cloudtrail-queue"
        );
        assert_eq!(log_archive.parameters["CloudTrailKeyPrefix"], "o-abcd1234");
        assert_eq!(
            log_archive.administration_role_arn,
            "arn:aws:iam::123456789012:role/service-role/AWSControlTowerStackSetRole"
        );
        let audit = audit_stack_set(&config, &landscape, trail.topic_arn.as_deref().unwrap());
        assert_fits(&audit, templates::AUDIT);
        assert_eq!(
            audit.parameters["LogArchiveRoleArn"],
            "arn:aws:iam::222233334444:role/lacework-ct-cross-account-role"
        );
        let member = member_stack_set(&config, &landscape);
        assert_fits(&member, templates::MEMBER);
        assert!(member.managed_execution);
        assert_eq!(member.parameters["RoleName"], "lacework-ct-config-role");
        assert_eq!(
            member.parameters["RegistrationTopicArn"],
            "arn:aws:sns:us-east-1:123456789012:lacework-ct-registration-topic"
        );
    }

    #[test]
    fn without_a_topic_log_archive_consumes_its_own_queue() {
        let config = config();
        let landscape = landscape();
        let no_topic = TrailDetails {
            sns_topic_arn: None,
            ..trail()
        };
        let trail = trail_plan(&config, Some(&no_topic)).unwrap();
        let notifications = s3_notifications_stack_set(&config, &landscape, &trail);
        assert_fits(&notifications, templates::S3_NOTIFICATIONS);
        assert_eq!(notifications.name, "lacework-ct-s3-notifications");
        assert_eq!(
            notifications.parameters["CloudTrailBucketName"],
            "aws-controltower-logs-222233334444-us-east-1"
        );
        assert_eq!(
            notifications.parameters["TopicName"],
            "lacework-ct-s3-notifications"
        );
        assert_eq!(
            notifications.parameters["QueueName"],
            "lacework-ct-s3-notifications"
        );
        assert_eq!(
            notifications.execution_role_name,
            "AWSControlTowerExecution"
        );

        let key = "arn:aws:kms:us-east-1:222233334444:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let queue = log_archive_queue(&config, Some(key.into()));
        assert_eq!(
            queue.url,
            "https://sqs.us-east-1.amazonaws.com/222233334444/lacework-ct-s3-notifications"
        );
        let log_archive = log_archive_stack_set(&config, &landscape, &trail, &queue);
        assert_fits(&log_archive, templates::LOG_ARCHIVE);
        assert_eq!(
            log_archive.parameters["AuditQueueArn"],
            "arn:aws:sqs:us-east-1:222233334444:lacework-ct-s3-notifications"
        );
        assert_eq!(log_archive.parameters["AuditQueueKmsKeyArn"], key);

        let ours = log_files_notification(&config, &trail);
        assert_eq!(ours.id.as_deref(), Some("lacework-ct-cloudtrail-log-files"));
        assert_eq!(ours.prefix(), "o-abcd1234/AWSLogs/");
        assert_eq!(ours.events, ["s3:ObjectCreated:*"]);
        assert_eq!(
            ours.destination,
            bucket_notifications::Destination::Topic(
                "arn:aws:sns:us-east-1:222233334444:lacework-ct-s3-notifications".into()
            )
        );
    }

    #[test]
    fn without_rules_the_integration_is_account_level_in_the_default_sub_account() {
        let level =
            integration_level(&config_with(&[("LACEWORK_SUB_ACCOUNT", "Acme-Prod")])).unwrap();
        assert_eq!(
            level,
            IntegrationLevel::Account(SubAccount::new("acme-prod").unwrap())
        );
        let level = integration_level(&config()).unwrap();
        assert_eq!(
            level,
            IntegrationLevel::Account(SubAccount::new("acme").unwrap())
        );
    }

    #[test]
    fn rules_make_it_organization_level() {
        let level =
            integration_level(&config_with(&[("LACEWORK_OU_RULES", "Security=secops")])).unwrap();
        assert_eq!(level.word(), "organization");
    }

    #[test]
    fn the_cloudtrail_integration_carries_role_queue_and_mapping() {
        let config = config();
        let suffix = ExternalIdSuffix::parse("Suffix0123456789").unwrap();
        let queue = audit_queue(&config).url;
        let plain = cloudtrail_integration(&config, &suffix, None, &queue).unwrap();
        assert_eq!(plain.name, "lacework-ct-cloudtrail");
        assert_eq!(
            plain.data.cross_account_credentials.role_arn,
            "arn:aws:iam::222233334444:role/lacework-ct-cross-account-role"
        );
        assert_eq!(
            plain.data.cross_account_credentials.external_id.expose(),
            "lweid:aws:v2:acme:222233334444:Suffix0123456789"
        );
        assert_eq!(
            plain.data.queue_url,
            "https://sqs.us-east-1.amazonaws.com/333344445555/lacework-ct-cloudtrail-queue"
        );
        assert_eq!(plain.data.account_mapping_file, None);

        let mut tree = OrganizationTree::new("r-root");
        tree.add_unit(OrganizationalUnit {
            id: "ou-sec".into(),
            name: "Security".into(),
            parent_id: "r-root".into(),
        });
        tree.add_account(OrganizationAccount {
            id: AccountId::parse("444455556666").unwrap(),
            name: "tools".into(),
            parent_id: "ou-sec".into(),
            status: AccountStatus::Active,
        });
        let rules = OuRules::parse("Security=secops").unwrap();
        let mapping = AccountMapping::build(&tree, &rules, "acme").unwrap();
        let mapped = cloudtrail_integration(&config, &suffix, Some(&mapping), &queue).unwrap();
        let carried = mapped.data.account_mapping().unwrap().unwrap();
        assert_eq!(carried, mapping);
    }
}
