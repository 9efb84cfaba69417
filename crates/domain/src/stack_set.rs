//! StackSets as the product uses them, without I/O: what a StackSet should be and what it is
//! ([`StackSetSpec`], [`StackSetState`] and their differences), its instances and operations, and
//! operation ids derived from the request they serve ([`operation_id`]), so that a redelivered
//! request finds the operation it already started instead of starting a second one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::account::AccountId;
use crate::backoff::stable_hash;
use crate::lifecycle::InstanceState;
use crate::naming::{Partition, iam_role_arn};

/// The role Control Tower's StackSets assume in every target account.
pub const EXECUTION_ROLE_NAME: &str = "AWSControlTowerExecution";

/// The role (with its path) Control Tower's StackSets run as in the management account.
pub const ADMINISTRATION_ROLE_NAME: &str = "service-role/AWSControlTowerStackSetRole";

/// What `DescribeStackSet` shows in place of a `NoEcho` parameter's value.
pub const MASKED_VALUE: &str = "****";

/// The ARN of Control Tower's StackSet administration role in the management account.
pub fn administration_role_arn(partition: Partition, management: &AccountId) -> String {
    iam_role_arn(partition, management, ADMINISTRATION_ROLE_NAME)
}

/// An operation id (`[a-zA-Z0-9][-a-zA-Z0-9]*`, at most 128 characters) for `action` on
/// the StackSet `stack_set` done on behalf of the request `request_tag`: the same request
/// always gets the same id, and different ones different ids (a text too long for 128
/// characters is shortened and made unique again with a hash of the whole).
pub fn operation_id(stack_set: &str, action: &str, request_tag: &str) -> String {
    const MAX_LEN: usize = 128;
    let full: String = format!("{stack_set}-{action}-{request_tag}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut id = if full.len() <= MAX_LEN {
        full
    } else {
        let hash = format!("-{:016x}", stable_hash(full.as_bytes()));
        let kept: String = full.chars().take(MAX_LEN - hash.len()).collect();
        kept + &hash
    };
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        id.replace_range(..1, "x");
    }
    id
}

/// What a StackSet should be. Parameters with an empty value are not sent: the templates'
/// defaults for them are empty.
#[derive(Clone, PartialEq, Eq)]
pub struct StackSetSpec {
    pub name: String,
    pub description: String,
    pub template_body: String,
    /// Parameter values; some are confidential (`NoEcho`), so `Debug` shows only the names.
    pub parameters: BTreeMap<String, String>,
    pub administration_role_arn: String,
    pub execution_role_name: String,
    /// CloudFormation queues conflicting operations instead of refusing them.
    pub managed_execution: bool,
}

impl StackSetSpec {
    /// The parameters that are sent (the non-empty ones).
    pub fn sent_parameters(&self) -> impl Iterator<Item = (&String, &String)> {
        self.parameters
            .iter()
            .filter(|(_, value)| !value.is_empty())
    }
}

impl fmt::Debug for StackSetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackSetSpec")
            .field("name", &self.name)
            .field("parameters", &self.parameters.keys().collect::<Vec<_>>())
            .field("template_bytes", &self.template_body.len())
            .field("administration_role_arn", &self.administration_role_arn)
            .field("execution_role_name", &self.execution_role_name)
            .field("managed_execution", &self.managed_execution)
            .finish()
    }
}

/// A StackSet as `DescribeStackSet` shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct StackSetState {
    pub name: String,
    pub template_body: String,
    /// `NoEcho` values read as [`MASKED_VALUE`].
    pub parameters: BTreeMap<String, String>,
    pub administration_role_arn: Option<String>,
    pub execution_role_name: Option<String>,
}

impl StackSetState {
    /// What differs from `spec`, in words (parameter names, never values); empty when the
    /// StackSet already is what `spec` says. A masked (`NoEcho`) value is taken to be equal:
    /// it cannot be read back. `ManagedExecution` is set on every create and update but is not
    /// by itself a reason to update.
    pub fn differences(&self, spec: &StackSetSpec) -> Vec<String> {
        let mut differences = Vec::new();
        if self.template_body != spec.template_body {
            differences.push("template".to_owned());
        }
        let held: BTreeMap<&String, &String> = self
            .parameters
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .collect();
        let wanted: BTreeMap<&String, &String> = spec.sent_parameters().collect();
        let names: BTreeSet<&&String> = held.keys().chain(wanted.keys()).collect();
        for name in names {
            let same = match (held.get(name), wanted.get(name)) {
                (Some(held), Some(wanted)) => held == wanted || held.as_str() == MASKED_VALUE,
                _ => false,
            };
            if !same {
                differences.push(format!("parameter {name}"));
            }
        }
        if self.administration_role_arn.as_deref() != Some(spec.administration_role_arn.as_str()) {
            differences.push("administration role".to_owned());
        }
        if self.execution_role_name.as_deref() != Some(spec.execution_role_name.as_str()) {
            differences.push("execution role".to_owned());
        }
        differences
    }
}

impl fmt::Debug for StackSetState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackSetState")
            .field("name", &self.name)
            .field("parameters", &self.parameters.keys().collect::<Vec<_>>())
            .field("template_bytes", &self.template_body.len())
            .field("administration_role_arn", &self.administration_role_arn)
            .field("execution_role_name", &self.execution_role_name)
            .finish()
    }
}

/// Where a stack instance is (or should be): an account and a region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StackInstanceTarget {
    pub account: AccountId,
    pub region: String,
}

impl StackInstanceTarget {
    pub fn new(account: AccountId, region: impl Into<String>) -> Self {
        Self {
            account,
            region: region.into(),
        }
    }
}

impl fmt::Display for StackInstanceTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// A stack instance as `ListStackInstances` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackInstance {
    pub target: StackInstanceTarget,
    /// Read from its status and detailed status ([`InstanceState::from_status`]).
    pub state: InstanceState,
}

/// Where a StackSet operation is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationStatus {
    Queued,
    Running,
    Stopping,
    Succeeded,
    Failed,
    Stopped,
    /// A status this version does not know; treated as still going.
    Other(String),
}

impl OperationStatus {
    /// Reads AWS's spelling (`RUNNING`, `SUCCEEDED`, ...).
    pub fn from_aws(text: &str) -> Self {
        use OperationStatus::*;
        [Queued, Running, Stopping, Succeeded, Failed, Stopped]
            .into_iter()
            .find(|status| status.as_str() == text)
            .unwrap_or_else(|| Other(text.to_owned()))
    }

    /// AWS's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Stopping => "STOPPING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Stopped => "STOPPED",
            Self::Other(text) => text,
        }
    }
}

/// A StackSet operation as `DescribeStackSetOperation` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationState {
    pub status: OperationStatus,
    pub status_reason: Option<String>,
}

/// One stack instance an operation failed on, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFailure {
    pub account: String,
    pub region: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_statuses_read_and_written_in_aws_spelling() {
        for word in [
            "QUEUED",
            "RUNNING",
            "STOPPING",
            "SUCCEEDED",
            "FAILED",
            "STOPPED",
        ] {
            let status = OperationStatus::from_aws(word);
            assert!(!matches!(status, OperationStatus::Other(_)), "{word}");
            assert_eq!(status.as_str(), word);
        }
        for unknown in ["running", "OTHER", ""] {
            assert_eq!(
                OperationStatus::from_aws(unknown),
                OperationStatus::Other(unknown.to_owned())
            );
        }
    }

    fn account(id: &str) -> AccountId {
        AccountId::parse(id).unwrap()
    }

    fn spec(template: &str) -> StackSetSpec {
        StackSetSpec {
            name: "lacework-ct-audit".into(),
            description: "test".into(),
            template_body: template.into(),
            parameters: BTreeMap::from([
                (
                    "QueueName".to_owned(),
                    "lacework-ct-cloudtrail-queue".to_owned(),
                ),
                ("ExternalIdSuffix".to_owned(), "verysecretsuffix".to_owned()),
                ("QueueKmsKeyArn".to_owned(), String::new()),
            ]),
            administration_role_arn: administration_role_arn(
                Partition::Aws,
                &account("123456789012"),
            ),
            execution_role_name: EXECUTION_ROLE_NAME.into(),
            managed_execution: false,
        }
    }

    #[test]
    fn operation_ids_are_stable_unique_and_well_formed() {
        let id = operation_id(
            "lacework-ct-audit",
            "create-instances-us-east-1",
            "5b1c2f9e_4c7b/x",
        );
        assert_eq!(
            id,
            "lacework-ct-audit-create-instances-us-east-1-5b1c2f9e-4c7b-x"
        );
        assert_eq!(
            id,
            operation_id(
                "lacework-ct-audit",
                "create-instances-us-east-1",
                "5b1c2f9e_4c7b/x"
            )
        );
        assert_ne!(
            id,
            operation_id(
                "lacework-ct-member",
                "create-instances-us-east-1",
                "5b1c2f9e_4c7b/x"
            )
        );
        let long_a = operation_id("s", "update", &format!("{}a", "r".repeat(300)));
        let long_b = operation_id("s", "update", &format!("{}b", "r".repeat(300)));
        assert_eq!(long_a.len(), 128);
        assert_ne!(long_a, long_b, "shortened ids stay unique");
        assert!(
            long_a
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        );
        assert!(operation_id("-x", "y", "z").starts_with('x'));
    }

    #[test]
    fn administration_role_follows_the_partition() {
        assert_eq!(
            administration_role_arn(Partition::AwsUsGov, &account("123456789012")),
            "arn:aws-us-gov:iam::123456789012:role/service-role/AWSControlTowerStackSetRole"
        );
    }

    #[test]
    fn debug_never_shows_parameter_values() {
        let shown = format!("{:?}", spec("t"));
        assert!(!shown.contains("verysecretsuffix"), "{shown}");
        assert!(shown.contains("ExternalIdSuffix"), "{shown}");
    }

    #[test]
    fn differences_name_what_changed_and_accept_masked_values() {
        let wanted = spec("template-1");
        let mut held = StackSetState {
            name: wanted.name.clone(),
            template_body: "template-1".into(),
            parameters: BTreeMap::from([
                (
                    "QueueName".to_owned(),
                    "lacework-ct-cloudtrail-queue".to_owned(),
                ),
                ("ExternalIdSuffix".to_owned(), MASKED_VALUE.to_owned()),
            ]),
            administration_role_arn: Some(wanted.administration_role_arn.clone()),
            execution_role_name: Some(EXECUTION_ROLE_NAME.into()),
        };
        assert!(held.differences(&wanted).is_empty());
        held.template_body = "template-0".into();
        held.parameters.insert("QueueName".into(), "old".into());
        held.parameters.insert("Gone".into(), "x".into());
        assert_eq!(
            held.differences(&wanted),
            ["template", "parameter Gone", "parameter QueueName"]
        );
    }
}
