//! Preflight: everything setup relies on is checked before anything is changed, and every
//! problem found is reported at once, each in a sentence that says what was expected, what
//! was found and where to fix it.

use lwct_aws::log_archive::LogArchive;
use lwct_aws::organizations::Organizations;
use lwct_aws::secrets::SecretPort;
use lwct_aws::trail::Trails;
use lwct_domain::AccountId;
use lwct_domain::config::{
    LACEWORK_OU_RULES, LACEWORK_SECRET_ARN, TOWER_AUDIT_ACCOUNT_ID, TOWER_AUDIT_ACCOUNT_NAME,
    TOWER_LOG_ARCHIVE_ACCOUNT_ID, TOWER_LOG_ARCHIVE_ACCOUNT_NAME,
};
use lwct_domain::lacework::Token;
use lwct_domain::mapping::{AccountMapping, AccountStatus};
use lwct_domain::stack_set::EXECUTION_ROLE_NAME;
use lwct_lacework::TokenRequester;

use crate::flow::{Ports, Setup};
use lwct_domain::setup_plan::{self as plan, IntegrationLevel, TrailPlan};

/// What preflight found, when everything was as expected.
#[derive(Debug)]
pub struct Checked {
    pub management: AccountId,
    /// The trail, when CloudTrail is monitored.
    pub trail: Option<TrailPlan>,
    pub level: IntegrationLevel,
    /// The account mapping, when the CloudTrail integration is organization level.
    pub mapping: Option<AccountMapping>,
    /// A token just received with the secret's API key (which proves the key works).
    pub token: Token,
}

/// The value of a check that passed; the problems of one that did not go to `problems`.
fn keep<T>(problems: &mut Vec<String>, result: Result<T, Vec<String>>) -> Option<T> {
    result.map_err(|found| problems.extend(found)).ok()
}

/// One of the two shared accounts Control Tower made, as the configuration names it.
struct SharedAccount<'a> {
    role: &'static str,
    id: &'a AccountId,
    id_variable: &'static str,
    expected_name: &'a str,
    name_variable: &'static str,
}

impl<P: Ports> Setup<P> {
    /// Checks the organization, the shared accounts, the trail, the Lacework API key and the
    /// OU rules, all at once; `Err` lists every problem.
    pub async fn preflight(&self) -> Result<Checked, Vec<String>> {
        let (accounts, trail, lacework, level) = tokio::join!(
            self.check_accounts(),
            self.check_trail(),
            self.check_lacework(),
            self.check_integration_level(),
        );
        let mut problems = Vec::new();
        let management = keep(&mut problems, accounts);
        let trail = keep(&mut problems, trail);
        let lacework = keep(&mut problems, lacework);
        let level = keep(&mut problems, level);
        match (management, trail, lacework, level) {
            (Some(management), Some(trail), Some(token), Some((level, mapping)))
                if problems.is_empty() =>
            {
                Ok(Checked {
                    management,
                    trail,
                    level,
                    mapping,
                    token,
                })
            }
            _ => Err(problems),
        }
    }

    /// The management account, and that Log Archive and Audit exist, are ACTIVE and carry
    /// the expected names.
    async fn check_accounts(&self) -> Result<AccountId, Vec<String>> {
        let accounts = &self.config.accounts;
        let log_archive = SharedAccount {
            role: "Log Archive",
            id: &accounts.log_archive,
            id_variable: TOWER_LOG_ARCHIVE_ACCOUNT_ID,
            expected_name: &accounts.log_archive_name,
            name_variable: TOWER_LOG_ARCHIVE_ACCOUNT_NAME,
        };
        let audit = SharedAccount {
            role: "Audit",
            id: &accounts.audit,
            id_variable: TOWER_AUDIT_ACCOUNT_ID,
            expected_name: &accounts.audit_name,
            name_variable: TOWER_AUDIT_ACCOUNT_NAME,
        };
        let (management, log_archive_problems, audit_problems) = tokio::join!(
            self.organizations.management_account(),
            self.check_shared_account(&log_archive),
            self.check_shared_account(&audit),
        );
        let mut problems = Vec::new();
        let management = management
            .map_err(|err| {
                problems.push(format!(
                    "cannot read the organization ({err}); setup must run in the Control Tower management account, with organizations:DescribeOrganization allowed"
                ));
            })
            .ok();
        problems.extend(log_archive_problems);
        problems.extend(audit_problems);
        if let Some(management) = &management {
            for shared in [&log_archive, &audit] {
                if shared.id == management {
                    problems.push(format!(
                        "{} ({}) is {}, the management account; Control Tower's {} is an account of its own",
                        shared.id_variable, shared.role, management, shared.role
                    ));
                }
            }
        }
        match management {
            Some(management) if problems.is_empty() => Ok(management),
            _ => Err(problems),
        }
    }

    async fn check_shared_account(&self, shared: &SharedAccount<'_>) -> Vec<String> {
        let SharedAccount {
            role,
            id,
            id_variable,
            expected_name,
            name_variable,
        } = shared;
        let described = match self.organizations.describe_account(id).await {
            Ok(described) => described,
            Err(err) => {
                return vec![format!(
                    "cannot describe the {role} account {id} ({id_variable}): {err}"
                )];
            }
        };
        let Some(account) = described else {
            return vec![format!(
                "the {role} account {id} ({id_variable}) is not an account of this organization; check {id_variable}"
            )];
        };
        tracing::info!(
            operation = "organizations:DescribeAccount",
            account = %id,
            role,
            status = account.status.as_aws(),
            "checked shared account"
        );
        let mut problems = Vec::new();
        if account.status != AccountStatus::Active {
            problems.push(format!(
                "the {role} account {id} is {}; it must be ACTIVE",
                account.status.as_aws()
            ));
        }
        if account.name != *expected_name {
            problems.push(format!(
                "the {role} account {id} is named {:?}, but {name_variable} expects {expected_name:?}; set {name_variable} to the account's name if that is the right account, or correct {id_variable}",
                account.name
            ));
        }
        problems
    }

    /// The trail, read into what the StackSets need (only when CloudTrail is monitored).
    async fn check_trail(&self) -> Result<Option<TrailPlan>, Vec<String>> {
        if !self.config.capability.includes_cloudtrail() {
            return Ok(None);
        }
        let name = &self.config.trail.trail_name;
        let trail = match self.trails.get_trail(name).await {
            Ok(trail) => plan::trail_plan(&self.config, trail.as_ref())?,
            Err(err) => return Err(vec![format!("cannot read the trail {name:?}: {err}")]),
        };
        if trail.topic_arn.is_none() {
            self.check_bucket_notifications(&trail).await?;
        }
        Ok(Some(trail))
    }

    /// A trail without a topic: setup can read the bucket's event notifications in Log
    /// Archive, and none of them would make S3 refuse ours.
    async fn check_bucket_notifications(&self, trail: &TrailPlan) -> Result<(), Vec<String>> {
        let bucket = &trail.bucket;
        let account = &self.config.accounts.log_archive;
        let current = self
            .log_archive
            .bucket_notifications(bucket)
            .await
            .map_err(|err| {
                vec![format!(
                    "the trail {:?} notifies no SNS topic, so setup adds an event notification to its bucket {bucket}; but it cannot read the bucket's event notifications as {EXECUTION_ROLE_NAME} in Log Archive {account}: {err}",
                    self.config.trail.trail_name
                )]
            })?;
        tracing::info!(
            operation = "s3:GetBucketNotificationConfiguration",
            account = %account,
            bucket = %bucket,
            configurations = current.notifications.len(),
            "the trail notifies no SNS topic: setup will use the bucket's S3 event notifications"
        );
        current
            .with(&plan::log_files_notification(&self.config, trail))
            .map(|_| ())
            .map_err(|overlap| vec![plan::overlap_problem(&self.config, bucket, &overlap)])
    }

    /// The secret's API key gets a token.
    async fn check_lacework(&self) -> Result<Token, Vec<String>> {
        let secret_arn = &self.config.lacework.secret_arn;
        let secret = self.secrets.read().await.map_err(|err| {
            vec![format!(
                "cannot read the Lacework API key from the secret {secret_arn} ({LACEWORK_SECRET_ARN}): {err}"
            )]
        })?;
        let token = self
            .tokens
            .request_token(&secret.credentials())
            .await
            .map_err(|err| {
                vec![format!(
                    "Lacework at {} refused the API key {} from the secret ({err}); put a working key id and secret key in the secret {secret_arn}",
                    self.config.lacework.api_url, secret.key_id
                )]
            })?;
        tracing::info!(
            operation = "lacework:access-token",
            key_id = %secret.key_id,
            "the Lacework API key works"
        );
        Ok(token)
    }

    /// The integration level and, at organization level, the account mapping built from the
    /// organization tree and the OU rules (which must each name an OU that exists).
    async fn check_integration_level(
        &self,
    ) -> Result<(IntegrationLevel, Option<AccountMapping>), Vec<String>> {
        let level = plan::integration_level(&self.config)?;
        let IntegrationLevel::Organization(rules) = &level else {
            return Ok((level, None));
        };
        if !self.config.capability.includes_cloudtrail() {
            return Ok((level, None));
        }
        let tree = self
            .organizations
            .organization_tree()
            .await
            .map_err(|err| {
                vec![format!(
                    "cannot list the organization's OUs and accounts for the account mapping: {err}"
                )]
            })?;
        let mut problems: Vec<String> = rules
            .rules()
            .iter()
            .filter(|rule| {
                !tree
                    .units()
                    .any(|unit| unit.name.to_lowercase() == rule.ou_name.to_lowercase())
            })
            .map(|rule| {
                format!(
                    "{LACEWORK_OU_RULES} names the OU {:?}, which is not in the organization",
                    rule.ou_name
                )
            })
            .collect();
        let mapping =
            AccountMapping::build(&tree, rules, plan::default_lacework_account(&self.config));
        match mapping {
            Ok(mapping) if problems.is_empty() => {
                tracing::info!(
                    operation = "account-mapping",
                    mapped_accounts = mapping.mapped_accounts().len(),
                    default = mapping.default_account(),
                    "account mapping built from the organization"
                );
                Ok((level, Some(mapping)))
            }
            Ok(_) => Err(problems),
            Err(err) => {
                problems.extend(
                    err.problems()
                        .iter()
                        .map(|p| format!("the account mapping cannot be built: {p}")),
                );
                Err(problems)
            }
        }
    }
}
