//! Names and addresses of what the product creates: partitions, regions, ARNs, and the names
//! of StackSets, roles, queues, the topic and the secret.
//!
//! # Names
//!
//! Every name is derived from one configurable [`NamePrefix`] (default `lacework-ct`, set with
//! `TOWER_NAME_PREFIX`). The StackSet templates, the SAM template and the IAM policies follow
//! these decisions; with the default prefix they are:
//!
//! | what | name | where |
//! |---|---|---|
//! | Log Archive StackSet | `lacework-ct-log-archive` | management account |
//! | Audit StackSet | `lacework-ct-audit` | management account |
//! | member StackSet | `lacework-ct-member` | management account |
//! | role Lacework assumes for CloudTrail (bucket, Audit queue) | `lacework-ct-cross-account-role` | Log Archive |
//! | role Lacework assumes for configuration | `lacework-ct-config-role` | every member account (Log Archive and Audit included) |
//! | SNS topic, SQS queue and KMS alias for trails without a topic | `lacework-ct-s3-notifications` | Log Archive |
//! | CloudTrail notification queue Lacework reads | `lacework-ct-cloudtrail-queue` | Audit |
//! | account work queue / its dead-letter queue | `lacework-ct-account-queue` / `lacework-ct-account-dlq` | management account |
//! | registration queue / its dead-letter queue | `lacework-ct-registration-queue` / `lacework-ct-registration-dlq` | management account |
//! | SNS topic of the member stack's custom resource | `lacework-ct-registration-topic` | management account |
//! | Secrets Manager secret (API key, token, external id suffix) | `lacework-ct-lacework-api` | management account |
//!
//! Every name starts with `{prefix}-`, so IAM policies can be scoped to `{prefix}-*`.
//!
//! AWS limits these names must respect: StackSet 128 characters `[a-zA-Z][-a-zA-Z0-9]*`; IAM
//! role 64 characters `[\w+=,.@-]+`; SQS queue 80 characters `[A-Za-z0-9_-]`; SNS topic 256
//! characters `[A-Za-z0-9_-]`; secret 512 characters `[A-Za-z0-9/_+=.@-]`. The prefix is capped
//! at [`NamePrefix::MAX_LEN`] characters so that every derived name, and the names the
//! templates add to it (function roles, rules), stay within them.
//!
//! # Partitions and addresses
//!
//! [`Partition`] covers `aws`, `aws-us-gov` and `aws-cn`; [`sqs_queue_url`], [`sqs_queue_arn`],
//! [`sns_topic_arn`] and [`iam_role_arn`] build partition-correct addresses, and [`Arn`] reads
//! one back.

use std::fmt;

use crate::account::AccountId;
use crate::error::{Error, Problem};

/// An AWS partition: the first word of an ARN, and which DNS suffix its endpoints use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partition {
    /// Commercial regions: `aws`, `amazonaws.com`.
    Aws,
    /// AWS GovCloud (US): `aws-us-gov`, `amazonaws.com`.
    AwsUsGov,
    /// China regions: `aws-cn`, `amazonaws.com.cn`.
    AwsCn,
}

impl Partition {
    /// The partition a region belongs to, by its name alone (`cn-*` is China, `us-gov-*` is
    /// GovCloud, anything else commercial). It does not check that the region exists: use
    /// [`Region::parse`] for that.
    pub fn from_region(region: &str) -> Partition {
        if region.starts_with("cn-") {
            Partition::AwsCn
        } else if region.starts_with("us-gov-") {
            Partition::AwsUsGov
        } else {
            Partition::Aws
        }
    }

    /// The partition named by an ARN's second field (`aws`, `aws-us-gov`, `aws-cn`).
    pub fn from_arn_word(word: &str) -> Option<Partition> {
        [Partition::Aws, Partition::AwsUsGov, Partition::AwsCn]
            .into_iter()
            .find(|partition| partition.arn_word() == word)
    }

    /// The word ARNs use for this partition.
    pub fn arn_word(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsUsGov => "aws-us-gov",
            Partition::AwsCn => "aws-cn",
        }
    }

    /// The DNS suffix of this partition's service endpoints.
    pub fn dns_suffix(self) -> &'static str {
        match self {
            Partition::Aws | Partition::AwsUsGov => "amazonaws.com",
            Partition::AwsCn => "amazonaws.com.cn",
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.arn_word())
    }
}

/// An AWS region name such as `us-east-1`, `us-gov-west-1` or `cn-north-1`, checked for shape
/// (not against a list, so new regions work the day they open).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Region(String);

impl Region {
    /// Accepts `<2 letters>(-<letters>)+-<1 or 2 digits>`. Regions of the isolated partitions
    /// (`us-iso-*`, `us-isob-*`, ...) are refused: the product does not support them.
    ///
    /// The caller places the problem ([`Problem::at`]) where it read the region from.
    pub fn parse(text: &str) -> Result<Region, Problem> {
        const SHAPE: &str = "is not an AWS region name like us-east-1, us-gov-west-1 or cn-north-1";
        let parts: Vec<&str> = text.split('-').collect();
        let [country, middle @ .., number] = parts.as_slice() else {
            return Err(Problem::of_value(SHAPE));
        };
        let shape_ok = country.len() == 2
            && country.bytes().all(|b| b.is_ascii_lowercase())
            && !middle.is_empty()
            && middle
                .iter()
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase()))
            && (1..=2).contains(&number.len())
            && number.bytes().all(|b| b.is_ascii_digit());
        if !shape_ok {
            return Err(Problem::of_value(SHAPE));
        }
        if middle.iter().any(|part| part.starts_with("iso")) {
            return Err(Problem::of_value(
                "is a region of an isolated partition; only the aws, aws-us-gov and aws-cn partitions are supported",
            ));
        }
        Ok(Region(text.to_owned()))
    }

    /// The region's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The partition this region belongs to.
    pub fn partition(&self) -> Partition {
        Partition::from_region(&self.0)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The URL of an SQS queue: `https://sqs.<region>.<dns suffix>/<account>/<queue>`.
pub fn sqs_queue_url(region: &Region, account: &AccountId, queue_name: &str) -> String {
    format!(
        "https://sqs.{region}.{}/{account}/{queue_name}",
        region.partition().dns_suffix()
    )
}

/// The ARN of an SQS queue: `arn:<partition>:sqs:<region>:<account>:<queue>`.
pub fn sqs_queue_arn(region: &Region, account: &AccountId, queue_name: &str) -> String {
    format!(
        "arn:{}:sqs:{region}:{account}:{queue_name}",
        region.partition()
    )
}

/// The ARN of an SNS topic: `arn:<partition>:sns:<region>:<account>:<topic>`.
pub fn sns_topic_arn(region: &Region, account: &AccountId, topic_name: &str) -> String {
    format!(
        "arn:{}:sns:{region}:{account}:{topic_name}",
        region.partition()
    )
}

/// The ARN of an IAM role: `arn:<partition>:iam::<account>:role/<name>` (IAM is global: no
/// region).
pub fn iam_role_arn(partition: Partition, account: &AccountId, role_name: &str) -> String {
    format!("arn:{partition}:iam::{account}:role/{role_name}")
}

/// An ARN read into its fields: `arn:<partition>:<service>:<region>:<account>:<resource>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    pub partition: Partition,
    /// For example `iam`, `sqs`, `cloudformation`, `secretsmanager`.
    pub service: String,
    /// Empty for global services such as IAM.
    pub region: Option<Region>,
    /// Empty for some resources (S3 buckets).
    pub account: Option<AccountId>,
    /// Everything after the fifth `:`, for example `role/name` or `stack/name/guid`.
    pub resource: String,
}

impl Arn {
    /// Reads an ARN. The resource part may itself contain `:`.
    ///
    /// The problem quotes no part of the text; the caller places it ([`Problem::at`]) where
    /// it read the ARN from.
    pub fn parse(text: &str) -> Result<Arn, Problem> {
        let fields: Vec<&str> = text.splitn(6, ':').collect();
        let ["arn", partition, service, region, account, resource] = fields.as_slice() else {
            return Err(Problem::of_value(
                "is not an ARN (arn:<partition>:<service>:<region>:<account>:<resource>)",
            ));
        };
        let partition = Partition::from_arn_word(partition).ok_or_else(|| {
            Problem::of_value("names an unknown partition; expected aws, aws-us-gov or aws-cn")
        })?;
        if service.is_empty()
            || !service
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(Problem::of_value(
                "has no valid service name in its third field",
            ));
        }
        let region =
            match *region {
                "" => None,
                name => Some(Region::parse(name).map_err(|problem| {
                    Problem::of_value(format!("its region {}", problem.message))
                })?),
            };
        if let Some(region) = &region {
            if region.partition() != partition {
                return Err(Problem::of_value(format!(
                    "names region {region}, which is not in partition {partition}"
                )));
            }
        }
        let account = match *account {
            "" => None,
            id => Some(AccountId::parse(id).map_err(|_| {
                Problem::of_value("has an account field that is not a 12-digit AWS account id")
            })?),
        };
        if resource.is_empty() {
            return Err(Problem::of_value("has an empty resource part"));
        }
        Ok(Arn {
            partition,
            service: (*service).to_owned(),
            region,
            account,
            resource: (*resource).to_owned(),
        })
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition,
            self.service,
            self.region.as_ref().map(Region::as_str).unwrap_or_default(),
            self.account
                .as_ref()
                .map(AccountId::as_str)
                .unwrap_or_default(),
            self.resource
        )
    }
}

/// The prefix of every name the product creates: letters, digits and `-`, starting with a
/// letter and not ending with `-`, at most [`NamePrefix::MAX_LEN`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamePrefix(String);

impl NamePrefix {
    /// The prefix used when none is configured.
    pub const DEFAULT: &'static str = "lacework-ct";

    /// The longest prefix accepted. The tightest limit is IAM's 64 characters for role names:
    /// `{prefix}-cross-account-role` needs 19 of them, and the templates name their function
    /// roles `{prefix}-<function>-role` (up to 28 more); 32 leaves room for both.
    pub const MAX_LEN: usize = 32;

    /// Checks a prefix; the error names the prefix and what is wrong with it.
    pub fn parse(text: &str) -> Result<NamePrefix, Error> {
        let refuse = |reason: &str| {
            Err(Error::Name {
                value: text.to_owned(),
                reason: reason.to_owned(),
            })
        };
        let Some(first) = text.chars().next() else {
            return refuse("a name prefix cannot be empty");
        };
        if !first.is_ascii_alphabetic() {
            return refuse("a name prefix must start with a letter (A-Z or a-z)");
        }
        if !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return refuse("a name prefix may contain only letters, digits and '-'");
        }
        if text.ends_with('-') {
            return refuse("a name prefix must not end with '-' (the names add their own)");
        }
        if text.len() > Self::MAX_LEN {
            return refuse(&format!(
                "a name prefix is at most {} characters (this one has {}), so that the role and queue names built from it stay within AWS limits",
                Self::MAX_LEN,
                text.len()
            ));
        }
        Ok(NamePrefix(text.to_owned()))
    }

    /// The prefix as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for NamePrefix {
    fn default() -> Self {
        NamePrefix(Self::DEFAULT.to_owned())
    }
}

impl fmt::Display for NamePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The names of everything the product creates, derived from one [`NamePrefix`] (see the
/// module documentation for the table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// StackSet that creates the cross-account role in Log Archive.
    pub log_archive_stack_set: String,
    /// StackSet that creates the CloudTrail notification queue in Audit.
    pub audit_stack_set: String,
    /// StackSet with one instance per monitored member account.
    pub member_stack_set: String,
    /// The role Lacework assumes in Log Archive to read the CloudTrail bucket and the Audit
    /// queue.
    pub cross_account_role: String,
    /// The role Lacework assumes in every member account to read its configuration. It differs
    /// from [`Names::cross_account_role`] because Log Archive is a member account too.
    pub member_role: String,
    /// SNS topic and SQS queue (and KMS alias) in Log Archive for trails without an SNS topic.
    pub s3_notifications: String,
    /// The SQS queue in Audit that receives CloudTrail notifications and that Lacework reads.
    pub audit_queue: String,
    /// Queue of accounts waiting to be onboarded, updated or removed.
    pub account_queue: String,
    /// Dead-letter queue of [`Names::account_queue`].
    pub account_dead_letter_queue: String,
    /// Queue of Lacework registrations waiting for API budget.
    pub registration_queue: String,
    /// Dead-letter queue of [`Names::registration_queue`].
    pub registration_dead_letter_queue: String,
    /// SNS topic the member stack's custom resource publishes to (its `ServiceToken`).
    pub registration_topic: String,
    /// Secrets Manager secret with the Lacework API key, token and external id suffix.
    pub secret: String,
}

impl Names {
    /// Every name, derived from `prefix`.
    pub fn new(prefix: &NamePrefix) -> Names {
        let name = |suffix: &str| format!("{prefix}-{suffix}");
        Names {
            log_archive_stack_set: name("log-archive"),
            audit_stack_set: name("audit"),
            member_stack_set: name("member"),
            cross_account_role: name("cross-account-role"),
            member_role: name("config-role"),
            s3_notifications: name("s3-notifications"),
            audit_queue: name("cloudtrail-queue"),
            account_queue: name("account-queue"),
            account_dead_letter_queue: name("account-dlq"),
            registration_queue: name("registration-queue"),
            registration_dead_letter_queue: name("registration-dlq"),
            registration_topic: name("registration-topic"),
            secret: name("lacework-api"),
        }
    }
}

impl Default for Names {
    fn default() -> Self {
        Names::new(&NamePrefix::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> AccountId {
        AccountId::parse("222233334444").unwrap()
    }

    fn region(name: &str) -> Region {
        Region::parse(name).unwrap()
    }

    #[test]
    fn partition_follows_the_region_name() {
        assert_eq!(Partition::from_region("us-east-1"), Partition::Aws);
        assert_eq!(Partition::from_region("eu-central-2"), Partition::Aws);
        assert_eq!(Partition::from_region("us-gov-west-1"), Partition::AwsUsGov);
        assert_eq!(Partition::from_region("us-gov-east-1"), Partition::AwsUsGov);
        assert_eq!(Partition::from_region("cn-north-1"), Partition::AwsCn);
        assert_eq!(Partition::from_region("cn-northwest-1"), Partition::AwsCn);
    }

    #[test]
    fn partition_words_and_dns_suffixes() {
        for (partition, word, suffix) in [
            (Partition::Aws, "aws", "amazonaws.com"),
            (Partition::AwsUsGov, "aws-us-gov", "amazonaws.com"),
            (Partition::AwsCn, "aws-cn", "amazonaws.com.cn"),
        ] {
            assert_eq!(partition.arn_word(), word);
            assert_eq!(partition.to_string(), word);
            assert_eq!(partition.dns_suffix(), suffix);
            assert_eq!(Partition::from_arn_word(word), Some(partition));
        }
        assert_eq!(Partition::from_arn_word("aws-iso"), None);
        assert_eq!(Partition::from_arn_word("AWS"), None);
    }

    #[test]
    fn region_shapes() {
        for good in [
            "us-east-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "cn-northwest-1",
            "il-central-1",
            "eu-south-10",
        ] {
            assert_eq!(region(good).as_str(), good);
        }
        for bad in [
            "",
            "us-east",
            "useast1",
            "US-EAST-1",
            "us-east-1a",
            "u-east-1",
            "us--1",
            "us-east-123",
            " us-east-1",
            "us-east-1 ",
        ] {
            let reason = Region::parse(bad).unwrap_err();
            assert!(
                reason.message.contains("not an AWS region name"),
                "{bad:?}: {reason}"
            );
        }
        let reason = Region::parse("us-isob-east-1").unwrap_err();
        assert!(reason.message.contains("isolated partition"), "{reason}");
    }

    #[test]
    fn queue_urls_and_arns_in_every_partition() {
        let cases = [
            (
                "us-east-1",
                "https://sqs.us-east-1.amazonaws.com/222233334444/q",
                "arn:aws:sqs:us-east-1:222233334444:q",
            ),
            (
                "us-gov-west-1",
                "https://sqs.us-gov-west-1.amazonaws.com/222233334444/q",
                "arn:aws-us-gov:sqs:us-gov-west-1:222233334444:q",
            ),
            (
                "cn-north-1",
                "https://sqs.cn-north-1.amazonaws.com.cn/222233334444/q",
                "arn:aws-cn:sqs:cn-north-1:222233334444:q",
            ),
        ];
        for (name, url, arn) in cases {
            assert_eq!(sqs_queue_url(&region(name), &account(), "q"), url);
            assert_eq!(sqs_queue_arn(&region(name), &account(), "q"), arn);
        }
        assert_eq!(
            sns_topic_arn(&region("cn-north-1"), &account(), "t"),
            "arn:aws-cn:sns:cn-north-1:222233334444:t"
        );
    }

    #[test]
    fn role_arns_have_no_region() {
        assert_eq!(
            iam_role_arn(Partition::Aws, &account(), "lacework-ct-cross-account-role"),
            "arn:aws:iam::222233334444:role/lacework-ct-cross-account-role"
        );
        assert_eq!(
            iam_role_arn(Partition::AwsUsGov, &account(), "r"),
            "arn:aws-us-gov:iam::222233334444:role/r"
        );
        assert_eq!(
            iam_role_arn(Partition::AwsCn, &account(), "r"),
            "arn:aws-cn:iam::222233334444:role/r"
        );
    }

    #[test]
    fn arns_are_read_back_field_by_field() {
        let arn = Arn::parse(
            "arn:aws:cloudformation:us-east-1:222233334444:stack/lacework-ct/1f2e3d4c-aaaa-bbbb-cccc-0123456789ab",
        )
        .unwrap();
        assert_eq!(arn.partition, Partition::Aws);
        assert_eq!(arn.service, "cloudformation");
        assert_eq!(arn.region, Some(region("us-east-1")));
        assert_eq!(arn.account, Some(account()));
        assert_eq!(
            arn.resource,
            "stack/lacework-ct/1f2e3d4c-aaaa-bbbb-cccc-0123456789ab"
        );

        let role = Arn::parse("arn:aws-us-gov:iam::222233334444:role/r").unwrap();
        assert_eq!(role.region, None);
        assert_eq!(role.to_string(), "arn:aws-us-gov:iam::222233334444:role/r");

        let secret =
            Arn::parse("arn:aws-cn:secretsmanager:cn-north-1:222233334444:secret:a-AbCdEf")
                .unwrap();
        assert_eq!(secret.resource, "secret:a-AbCdEf");

        let bucket = Arn::parse("arn:aws:s3:::my-bucket").unwrap();
        assert_eq!(bucket.account, None);
    }

    #[test]
    fn malformed_arns_say_why() {
        for (bad, expected) in [
            ("", "is not an ARN"),
            ("arn:aws:iam", "is not an ARN"),
            ("urn:aws:iam::222233334444:role/r", "is not an ARN"),
            ("arn:aws-iso:iam::222233334444:role/r", "unknown partition"),
            ("arn:aws::us-east-1:222233334444:x", "service"),
            ("arn:aws:sqs:nowhere:222233334444:q", "region"),
            (
                "arn:aws:sqs:cn-north-1:222233334444:q",
                "not in partition aws",
            ),
            ("arn:aws:iam::2222:role/r", "12-digit"),
            ("arn:aws:iam::222233334444:", "empty resource"),
        ] {
            let reason = Arn::parse(bad).unwrap_err();
            assert!(reason.message.contains(expected), "{bad:?}: {reason}");
        }
    }

    #[test]
    fn default_names_are_the_documented_ones() {
        let names = Names::default();
        assert_eq!(names.log_archive_stack_set, "lacework-ct-log-archive");
        assert_eq!(names.audit_stack_set, "lacework-ct-audit");
        assert_eq!(names.member_stack_set, "lacework-ct-member");
        assert_eq!(names.cross_account_role, "lacework-ct-cross-account-role");
        assert_eq!(names.member_role, "lacework-ct-config-role");
        assert_eq!(names.audit_queue, "lacework-ct-cloudtrail-queue");
        assert_eq!(names.account_queue, "lacework-ct-account-queue");
        assert_eq!(names.account_dead_letter_queue, "lacework-ct-account-dlq");
        assert_eq!(names.registration_queue, "lacework-ct-registration-queue");
        assert_eq!(
            names.registration_dead_letter_queue,
            "lacework-ct-registration-dlq"
        );
        assert_eq!(names.registration_topic, "lacework-ct-registration-topic");
        assert_eq!(names.secret, "lacework-ct-lacework-api");
    }

    #[test]
    fn names_follow_a_custom_prefix() {
        let names = Names::new(&NamePrefix::parse("Acme2").unwrap());
        assert_eq!(names.member_stack_set, "Acme2-member");
        assert_eq!(names.cross_account_role, "Acme2-cross-account-role");
        for name in stack_sets(&names).into_iter().chain(queues(&names)) {
            assert!(name.starts_with("Acme2-"), "{name}");
        }
    }

    fn stack_sets(names: &Names) -> [&str; 3] {
        [
            &names.log_archive_stack_set,
            &names.audit_stack_set,
            &names.member_stack_set,
        ]
    }

    fn queues(names: &Names) -> [&str; 5] {
        [
            &names.audit_queue,
            &names.account_queue,
            &names.account_dead_letter_queue,
            &names.registration_queue,
            &names.registration_dead_letter_queue,
        ]
    }

    /// The limits AWS sets on these names (the prefix's characters are valid in all of them).
    fn assert_every_name_within_aws_limits(names: &Names) {
        let within = |name: &str, max: usize| assert!(name.len() <= max, "{name}");
        for stack_set in stack_sets(names) {
            within(stack_set, 128);
        }
        within(&names.cross_account_role, 64);
        within(&names.member_role, 64);
        for queue in queues(names) {
            within(queue, 80);
        }
        within(&names.registration_topic, 256);
        within(&names.secret, 512);
    }

    #[test]
    fn the_longest_prefix_keeps_every_name_within_aws_limits() {
        let longest = format!("a{}", "b".repeat(NamePrefix::MAX_LEN - 1));
        let prefix = NamePrefix::parse(&longest).unwrap();
        let names = Names::new(&prefix);
        assert_every_name_within_aws_limits(&names);
        assert_every_name_within_aws_limits(&Names::default());
        // Room is left for the templates' own role names, e.g. `{prefix}-sns-custom-resource-role`.
        assert!(format!("{prefix}-sns-custom-resource-role").len() <= 64);
    }

    #[test]
    fn bad_prefixes_are_refused_with_the_value_and_the_reason() {
        for (bad, expected) in [
            ("", "empty"),
            ("1acme", "start with a letter"),
            ("-acme", "start with a letter"),
            ("acme_ct", "only letters, digits and '-'"),
            ("acme.ct", "only letters, digits and '-'"),
            ("acmé", "only letters, digits and '-'"),
            ("acme-", "must not end with '-'"),
        ] {
            let err = NamePrefix::parse(bad).unwrap_err().to_string();
            assert!(err.contains(expected), "{bad:?}: {err}");
            assert!(err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
        }
        let too_long = "a".repeat(NamePrefix::MAX_LEN + 1);
        let err = NamePrefix::parse(&too_long).unwrap_err().to_string();
        assert!(err.contains("at most 32 characters"), "{err}");
        assert!(err.contains("33"), "{err}");
    }
}
