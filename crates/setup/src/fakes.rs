//! The flow's ports in tests (the test kit's doubles, a trail and Lambda that records its
//! invocations), and a configuration.

use std::sync::Mutex;

use lwct_aws::trail::Trails;
use lwct_domain::config::{FromEnv, SetupConfig};
use lwct_domain::mapping::{
    AccountStatus, OrganizationAccount, OrganizationTree, OrganizationalUnit,
};
use lwct_domain::trail::TrailDetails;
use lwct_domain::{AccountId, Error};
use lwct_lacework::KeyTokenRequester;
use lwct_runtime::SharedPorts;
use lwct_testkit::log_archive::InMemoryLogArchive;
use lwct_testkit::organizations::MemoryOrganizations;
use lwct_testkit::queues::MemoryQueues;
use lwct_testkit::secrets::MemorySecretStore;
use lwct_testkit::stack_sets::InMemoryStackSets;

use serde_json::Value;

use crate::continuation::Invocations;
use crate::flow::Ports;

pub const MANAGEMENT: &str = "123456789012";
pub const LOG_ARCHIVE: &str = "222233334444";
pub const AUDIT: &str = "333344445555";
pub const PROD: &str = "444455556666";
pub const DEV: &str = "555566667777";
pub const SUSPENDED: &str = "666677778888";
pub const SECRET_ARN: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:lacework-ct-lacework-api-AbCdEf";

pub fn id(text: &str) -> AccountId {
    AccountId::parse(text).unwrap()
}

/// A complete environment; `overrides` replace or add variables.
pub fn env(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = [
        ("AWS_REGION", "us-east-1"),
        ("LACEWORK_URL", "https://acme.lacework.net"),
        ("LACEWORK_ACCOUNT", "acme"),
        ("LACEWORK_SECRET_ARN", SECRET_ARN),
        ("TOWER_LOG_ARCHIVE_ACCOUNT_ID", LOG_ARCHIVE),
        ("TOWER_AUDIT_ACCOUNT_ID", AUDIT),
        ("TOWER_RESPONSE_URL_ALLOW", "127.0.0.1"),
    ]
    .iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    for (name, value) in overrides {
        vars.retain(|(existing, _)| existing != name);
        vars.push((name.to_string(), value.to_string()));
    }
    vars
}

pub fn config_with(overrides: &[(&str, &str)]) -> SetupConfig {
    SetupConfig::from_env(env(overrides)).unwrap()
}

/// An organization: the management account at the root; Log Archive and Audit under
/// `Security`; a production account under `Workloads`, a development one under
/// `Workloads/Sandbox`, and a suspended one.
pub fn organization() -> OrganizationTree {
    let mut tree = OrganizationTree::new("r-root");
    for (unit, name, parent) in [
        ("ou-root-security", "Security", "r-root"),
        ("ou-root-workloads", "Workloads", "r-root"),
        ("ou-root-sandbox", "Sandbox", "ou-root-workloads"),
    ] {
        tree.add_unit(OrganizationalUnit {
            id: unit.into(),
            name: name.into(),
            parent_id: parent.into(),
        });
    }
    for (account, name, parent, status) in [
        (MANAGEMENT, "Management", "r-root", AccountStatus::Active),
        (
            LOG_ARCHIVE,
            "Log Archive",
            "ou-root-security",
            AccountStatus::Active,
        ),
        (AUDIT, "Audit", "ou-root-security", AccountStatus::Active),
        (PROD, "prod-app", "ou-root-workloads", AccountStatus::Active),
        (DEV, "dev-app", "ou-root-sandbox", AccountStatus::Active),
        (
            SUSPENDED,
            "old-app",
            "ou-root-workloads",
            AccountStatus::Suspended,
        ),
    ] {
        tree.add_account(OrganizationAccount {
            id: id(account),
            name: name.into(),
            parent_id: parent.into(),
            status,
        });
    }
    tree
}

/// The Control Tower trail of the test organization.
pub fn control_tower_trail() -> TrailDetails {
    TrailDetails {
        name: "aws-controltower-BaselineCloudTrail".into(),
        arn: Some(format!(
            "arn:aws:cloudtrail:us-east-1:{MANAGEMENT}:trail/aws-controltower-BaselineCloudTrail"
        )),
        s3_bucket_name: Some(format!("aws-controltower-logs-{LOG_ARCHIVE}-us-east-1")),
        s3_key_prefix: Some("o-abcd1234".into()),
        sns_topic_arn: Some(format!(
            "arn:aws:sns:us-east-1:{AUDIT}:aws-controltower-AllConfigNotifications"
        )),
        kms_key_id: None,
    }
}

/// CloudTrail with at most one trail, which a test may change.
#[derive(Debug)]
pub struct FakeTrails {
    pub trail: Mutex<Option<TrailDetails>>,
}

impl FakeTrails {
    pub fn new(trail: Option<TrailDetails>) -> Self {
        Self {
            trail: Mutex::new(trail),
        }
    }

    pub fn set(&self, trail: Option<TrailDetails>) {
        *self.trail.lock().unwrap() = trail;
    }
}

impl Trails for FakeTrails {
    async fn get_trail(&self, name_or_arn: &str) -> Result<Option<TrailDetails>, Error> {
        Ok(self
            .trail
            .lock()
            .unwrap()
            .clone()
            .filter(|t| t.name == name_or_arn || t.arn.as_deref() == Some(name_or_arn)))
    }
}

/// The fakes, with the real secret rules in memory and the real token requests (to the
/// Lacework emulator).
pub struct FakePorts;

impl SharedPorts for FakePorts {
    type Organizations = MemoryOrganizations;
    type StackSets = InMemoryStackSets;
    type Queues = MemoryQueues;
    type Secrets = MemorySecretStore;
    type Tokens = KeyTokenRequester;
}

impl Ports for FakePorts {
    type Trails = FakeTrails;
    type Invocations = FakeInvocations;
    type LogArchive = InMemoryLogArchive;
}

/// Lambda that records the asynchronous invocations it is asked for.
#[derive(Debug, Default)]
pub struct FakeInvocations {
    /// `(function, payload)` of every invocation accepted.
    pub started: Mutex<Vec<(String, Value)>>,
    /// Refuse the next invocation with this error code.
    pub refuse_next: Mutex<Option<&'static str>>,
}

impl FakeInvocations {
    pub fn started(&self) -> Vec<(String, Value)> {
        self.started.lock().unwrap().clone()
    }
}

impl Invocations for FakeInvocations {
    async fn invoke_async(&self, function: &str, payload: &Value) -> Result<(), Error> {
        if let Some(code) = self.refuse_next.lock().unwrap().take() {
            return Err(Error::Aws {
                operation: "lambda:Invoke".into(),
                code: Some(code.into()),
                message: "refused by the test".into(),
                retryable: false,
            });
        }
        self.started
            .lock()
            .unwrap()
            .push((function.to_owned(), payload.clone()));
        Ok(())
    }
}
