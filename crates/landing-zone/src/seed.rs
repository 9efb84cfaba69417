//! Seeds moto with a Control Tower-like landing zone, and with what `template.yaml` creates in
//! the management account.
//!
//! The organization:
//!
//! ```text
//! Root (management account 123456789012)
//! ├── Security:   Log Archive, Audit
//! ├── Workloads
//! │   ├── Prod:   Prod Payments, Prod Web
//! │   └── Dev:    Dev Payments, Dev Web
//! └── Sandbox:    Sandbox Alice, Sandbox Bob (closed: SUSPENDED)
//! ```
//!
//! moto gives created accounts random ids; they are recorded in [`Organization`]. Control
//! Tower's trail `aws-controltower-BaselineCloudTrail` is an organization trail of the
//! management account whose bucket `aws-controltower-logs-<log archive>-us-east-1` is in Log
//! Archive, and its SNS topic `aws-controltower-AllConfigNotifications` is in Audit (moto runs
//! with a fix that lets a trail name a topic of another account: see [`crate::moto`]). A second
//! trail, [`TRAIL_WITHOUT_TOPIC_NAME`], notifies no topic and writes under a key prefix to a
//! bucket of its own in Log Archive (what `setup` meets with such a trail).

use aws_config::SdkConfig;
use aws_sdk_organizations::types::CreateAccountState;
use lwct_domain::AccountId;
use lwct_domain::naming::Names;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::aws::{self, MANAGEMENT_ACCOUNT, REGION};
use crate::error::{self, Error, Result};

/// Control Tower's trail.
pub const TRAIL_NAME: &str = "aws-controltower-BaselineCloudTrail";

/// Control Tower's SNS topic for the trail's notifications.
pub const TRAIL_TOPIC_NAME: &str = "aws-controltower-AllConfigNotifications";

/// A second organization trail of the management account that notifies no SNS topic, writing
/// under a key prefix to a bucket of its own in Log Archive: what `setup` meets when given a
/// trail without a topic (`TOWER_TRAIL_NAME`). Nothing uses it unless a test names it.
pub const TRAIL_WITHOUT_TOPIC_NAME: &str = "org-trail-without-topic";

/// The key prefix of [`TRAIL_WITHOUT_TOPIC_NAME`]'s log files.
pub const TRAIL_WITHOUT_TOPIC_KEY_PREFIX: &str = "org-logs";

/// The accounts to create: name, OU path, whether it is closed afterwards.
const ACCOUNTS: [(&str, &str, bool); 8] = [
    ("Log Archive", "Security", false),
    ("Audit", "Security", false),
    ("Prod Payments", "Workloads/Prod", false),
    ("Prod Web", "Workloads/Prod", false),
    ("Dev Payments", "Workloads/Dev", false),
    ("Dev Web", "Workloads/Dev", false),
    ("Sandbox Alice", "Sandbox", false),
    ("Sandbox Bob", "Sandbox", true),
];

/// One account of the organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    /// The OU path below the root, such as `Workloads/Prod`.
    pub ou: String,
    /// `ACTIVE` or `SUSPENDED`.
    pub status: String,
}

/// One organizational unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationalUnit {
    pub id: String,
    /// Path below the root, such as `Workloads/Prod`.
    pub path: String,
}

impl OrganizationalUnit {
    /// The OU's own name: the last part of its path (`Prod` for `Workloads/Prod`).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// The seeded organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    /// The tree: the root and the OUs below it.
    pub root_id: String,
    pub organizational_units: Vec<OrganizationalUnit>,
    pub management: AccountId,
    pub log_archive: AccountId,
    pub audit: AccountId,
    /// Every account but the management account, in creation order.
    pub accounts: Vec<Account>,
}

impl Organization {
    /// The account `id`.
    pub fn account(&self, id: &AccountId) -> Option<&Account> {
        self.accounts.iter().find(|account| account.id == *id)
    }

    /// The account named `name`.
    pub fn account_named(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|account| account.name == name)
    }

    /// The OU at `path` (`Workloads/Prod`).
    pub fn ou(&self, path: &str) -> Option<&OrganizationalUnit> {
        self.organizational_units
            .iter()
            .find(|unit| unit.path == path)
    }
}

/// Creates account `name` in OU path `ou_path` (creating missing OUs), as Account Factory
/// does: `CreateAccount` (into the root), then `MoveAccount` into the OU. Records it in
/// `organization`.
pub async fn add_account(
    management: &SdkConfig,
    organization: &mut Organization,
    name: &str,
    ou_path: &str,
) -> Result<Account> {
    let id = create_account(&aws_sdk_organizations::Client::new(management), name).await?;
    organization.accounts.push(Account {
        id: id.clone(),
        name: name.to_owned(),
        // In the root until moved.
        ou: String::new(),
        status: "ACTIVE".to_owned(),
    });
    move_account(management, organization, &id, ou_path).await?;
    organization
        .account(&id)
        .cloned()
        .ok_or_else(|| Error::Usage(format!("account {id} was not recorded")))
}

/// Where an account was moved: its former parent's id and its new OU's id.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Moved {
    pub source_parent_id: String,
    pub destination_parent_id: String,
}

/// Moves account `id` from the OU it is recorded in into OU path `ou_path` (`MoveAccount`)
/// and records it.
pub async fn move_account(
    management: &SdkConfig,
    organization: &mut Organization,
    id: &AccountId,
    ou_path: &str,
) -> Result<Moved> {
    let client = aws_sdk_organizations::Client::new(management);
    let Some(account) = organization.account(id) else {
        return Err(Error::Usage(format!(
            "account {id} is not in the organization"
        )));
    };
    let source = match organization.ou(&account.ou) {
        Some(unit) => unit.id.clone(),
        None => organization.root_id.clone(),
    };
    let units = &mut organization.organizational_units;
    let destination = ensure_ou_path(&client, &organization.root_id, ou_path, units).await?;
    client
        .move_account()
        .account_id(id.as_str())
        .source_parent_id(&source)
        .destination_parent_id(&destination)
        .send()
        .await
        .map_err(|err| error::aws("organizations:MoveAccount", err))?;
    if let Some(account) = organization.accounts.iter_mut().find(|a| a.id == *id) {
        ou_path.clone_into(&mut account.ou);
    }
    Ok(Moved {
        source_parent_id: source,
        destination_parent_id: destination,
    })
}

/// Closes account `id` (`CloseAccount`; moto makes it `SUSPENDED` at once) and records it.
pub async fn close_account(
    management: &SdkConfig,
    organization: &mut Organization,
    id: &AccountId,
) -> Result<()> {
    aws_sdk_organizations::Client::new(management)
        .close_account()
        .account_id(id.as_str())
        .send()
        .await
        .map_err(|err| error::aws("organizations:CloseAccount", err))?;
    if let Some(account) = organization.accounts.iter_mut().find(|a| a.id == *id) {
        "SUSPENDED".clone_into(&mut account.status);
    }
    Ok(())
}

/// The Control Tower trail as seeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trail {
    pub name: String,
    pub arn: String,
    pub bucket: String,
    pub topic_arn: String,
}

/// The trail without an SNS topic, as seeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrailWithoutTopic {
    pub name: String,
    pub arn: String,
    /// In Log Archive.
    pub bucket: String,
    pub key_prefix: String,
}

impl TrailWithoutTopic {
    /// Its names, which follow from the organization alone.
    pub fn of(organization: &Organization) -> TrailWithoutTopic {
        TrailWithoutTopic {
            name: TRAIL_WITHOUT_TOPIC_NAME.to_owned(),
            arn: format!(
                "arn:aws:cloudtrail:{REGION}:{}:trail/{TRAIL_WITHOUT_TOPIC_NAME}",
                organization.management
            ),
            bucket: format!("org-trail-logs-{}-{REGION}", organization.log_archive),
            key_prefix: TRAIL_WITHOUT_TOPIC_KEY_PREFIX.to_owned(),
        }
    }
}

/// Creates the trail without an SNS topic and its bucket in Log Archive (as
/// [`TrailWithoutTopic::of`] names them).
pub async fn trail_without_topic(
    management: &SdkConfig,
    log_archive: &SdkConfig,
    organization: &Organization,
) -> Result<()> {
    let trail = TrailWithoutTopic::of(organization);
    aws::s3_client(log_archive)
        .create_bucket()
        .bucket(&trail.bucket)
        .send()
        .await
        .map_err(|err| error::aws("s3:CreateBucket", err))?;
    aws_sdk_cloudtrail::Client::new(management)
        .create_trail()
        .name(&trail.name)
        .s3_bucket_name(&trail.bucket)
        .s3_key_prefix(&trail.key_prefix)
        .is_multi_region_trail(true)
        .is_organization_trail(true)
        .send()
        .await
        .map_err(|err| error::aws("cloudtrail:CreateTrail", err))?;
    Ok(())
}

/// What `template.yaml` creates in the management account before `setup` runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductResources {
    pub secret_arn: String,
    pub account_queue_url: String,
    pub account_dead_letter_queue_url: String,
    pub registration_topic_arn: String,
    pub registration_queue_url: String,
    pub registration_dead_letter_queue_url: String,
}

impl ProductResources {
    /// The product's queues, named as `landing-zone state` shows them.
    pub fn queues(&self) -> [(&'static str, &str); 4] {
        [
            ("accountQueue", &self.account_queue_url),
            (
                "accountDeadLetterQueue",
                &self.account_dead_letter_queue_url,
            ),
            ("registrationQueue", &self.registration_queue_url),
            (
                "registrationDeadLetterQueue",
                &self.registration_dead_letter_queue_url,
            ),
        ]
    }
}

/// Creates the organization: OUs, accounts (moved into their OUs), one account closed.
pub async fn organization(management: &SdkConfig) -> Result<Organization> {
    let client = aws_sdk_organizations::Client::new(management);
    client
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .map_err(|err| error::aws("organizations:CreateOrganization", err))?;
    let roots = client
        .list_roots()
        .send()
        .await
        .map_err(|err| error::aws("organizations:ListRoots", err))?;
    let root_id = roots
        .roots()
        .first()
        .and_then(|root| root.id())
        .ok_or_else(|| Error::Usage("organizations:ListRoots returned no root".to_owned()))?
        .to_owned();

    let management_account = parse_account(MANAGEMENT_ACCOUNT)?;
    let mut organization = Organization {
        root_id,
        organizational_units: Vec::new(),
        // Log Archive and Audit: set once created.
        log_archive: management_account.clone(),
        audit: management_account.clone(),
        management: management_account,
        accounts: Vec::new(),
    };
    for (name, ou_path, closed) in ACCOUNTS {
        let account = add_account(management, &mut organization, name, ou_path).await?;
        if closed {
            close_account(management, &mut organization, &account.id).await?;
        }
    }
    let find = |name: &str| {
        organization
            .account_named(name)
            .map(|account| account.id.clone())
            .ok_or_else(|| Error::Usage(format!("the seed has no {name} account")))
    };
    (organization.log_archive, organization.audit) = (find("Log Archive")?, find("Audit")?);
    Ok(organization)
}

/// Creates each OU of `path` (`Workloads/Prod`) that does not exist yet; returns the last
/// one's id.
async fn ensure_ou_path(
    client: &aws_sdk_organizations::Client,
    root_id: &str,
    path: &str,
    units: &mut Vec<OrganizationalUnit>,
) -> Result<String> {
    let mut parent = root_id.to_owned();
    let mut walked = String::new();
    for name in path.split('/') {
        if !walked.is_empty() {
            walked.push('/');
        }
        walked.push_str(name);
        if let Some(unit) = units.iter().find(|unit| unit.path == walked) {
            parent = unit.id.clone();
            continue;
        }
        let created = client
            .create_organizational_unit()
            .parent_id(&parent)
            .name(name)
            .send()
            .await
            .map_err(|err| error::aws("organizations:CreateOrganizationalUnit", err))?;
        let id = created
            .organizational_unit()
            .and_then(|unit| unit.id())
            .ok_or_else(|| Error::Usage(format!("OU {walked} was created without an id")))?
            .to_owned();
        units.push(OrganizationalUnit {
            id: id.clone(),
            path: walked.clone(),
        });
        parent = id;
    }
    Ok(parent)
}

/// Creates an account and returns its id.
async fn create_account(client: &aws_sdk_organizations::Client, name: &str) -> Result<AccountId> {
    let email = format!(
        "{}@landing-zone.example.com",
        name.to_ascii_lowercase().replace(' ', "-")
    );
    let created = client
        .create_account()
        .account_name(name)
        .email(email)
        .send()
        .await
        .map_err(|err| error::aws("organizations:CreateAccount", err))?;
    // moto finishes at once; the status is checked anyway.
    let status = created.create_account_status();
    match (
        status.and_then(|status| status.state()),
        status.and_then(|status| status.account_id()),
    ) {
        (Some(CreateAccountState::Succeeded), Some(id)) => parse_account(id),
        (state, _) => Err(Error::Usage(format!(
            "CreateAccount for {name} ended in state {state:?}"
        ))),
    }
}

fn parse_account(id: &str) -> Result<AccountId> {
    AccountId::parse(id).map_err(|err| Error::Usage(format!("account id from moto: {err}")))
}

/// Creates Control Tower's trail, its bucket in Log Archive and its topic in Audit.
pub async fn trail(
    management: &SdkConfig,
    log_archive: &SdkConfig,
    audit: &SdkConfig,
    organization: &Organization,
) -> Result<Trail> {
    let bucket = format!(
        "aws-controltower-logs-{}-{REGION}",
        organization.log_archive
    );
    aws::s3_client(log_archive)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .map_err(|err| error::aws("s3:CreateBucket", err))?;
    let topic = aws_sdk_sns::Client::new(audit)
        .create_topic()
        .name(TRAIL_TOPIC_NAME)
        .send()
        .await
        .map_err(|err| error::aws("sns:CreateTopic", err))?;
    let topic_arn = topic.topic_arn().unwrap_or_default().to_owned();
    let cloudtrail = aws_sdk_cloudtrail::Client::new(management);
    let created = cloudtrail
        .create_trail()
        .name(TRAIL_NAME)
        .s3_bucket_name(&bucket)
        .sns_topic_name(&topic_arn)
        .is_multi_region_trail(true)
        .is_organization_trail(true)
        .enable_log_file_validation(true)
        .send()
        .await
        .map_err(|err| error::aws("cloudtrail:CreateTrail", err))?;
    cloudtrail
        .start_logging()
        .name(TRAIL_NAME)
        .send()
        .await
        .map_err(|err| error::aws("cloudtrail:StartLogging", err))?;
    Ok(Trail {
        name: TRAIL_NAME.to_owned(),
        arn: created.trail_arn().unwrap_or_default().to_owned(),
        bucket,
        topic_arn,
    })
}

/// Creates what `template.yaml` creates in the management account: the secret (API key id and
/// secret key only, as the template writes it), the account queue and the registration topic
/// and queue, each queue with its dead-letter queue.
pub async fn product_resources(
    management: &SdkConfig,
    names: &Names,
    key_id: &str,
    secret_key: &str,
) -> Result<ProductResources> {
    let secret = aws_sdk_secretsmanager::Client::new(management)
        .create_secret()
        .name(&names.secret)
        .description("Lacework API key of the Control Tower integration")
        .secret_string(json!({"keyId": key_id, "secretKey": secret_key}).to_string())
        .send()
        .await
        .map_err(|err| error::aws("secretsmanager:CreateSecret", err))?;
    let sqs = aws_sdk_sqs::Client::new(management);
    let (account_queue_url, account_dead_letter_queue_url) = queue_with_dead_letter_queue(
        &sqs,
        &names.account_queue,
        &names.account_dead_letter_queue,
        900,
        8,
    )
    .await?;
    let (registration_queue_url, registration_dead_letter_queue_url) =
        queue_with_dead_letter_queue(
            &sqs,
            &names.registration_queue,
            &names.registration_dead_letter_queue,
            720,
            20,
        )
        .await?;
    let topic = aws_sdk_sns::Client::new(management)
        .create_topic()
        .name(&names.registration_topic)
        .send()
        .await
        .map_err(|err| error::aws("sns:CreateTopic", err))?;
    Ok(ProductResources {
        secret_arn: secret.arn().unwrap_or_default().to_owned(),
        account_queue_url,
        account_dead_letter_queue_url,
        registration_topic_arn: topic.topic_arn().unwrap_or_default().to_owned(),
        registration_queue_url,
        registration_dead_letter_queue_url,
    })
}

/// A queue with its dead-letter queue, as `template.yaml` declares them: 14 days of
/// retention, SQS-managed encryption, `visibility_timeout` seconds (six times the consuming
/// function's timeout) and `max_receives` receives before a message goes to the dead-letter
/// queue.
async fn queue_with_dead_letter_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    dead_letter_name: &str,
    visibility_timeout: u32,
    max_receives: u32,
) -> Result<(String, String)> {
    use aws_sdk_sqs::types::QueueAttributeName;
    const FOURTEEN_DAYS: &str = "1209600";
    let durable = |name: &str| {
        sqs.create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::MessageRetentionPeriod, FOURTEEN_DAYS)
            .attributes(QueueAttributeName::SqsManagedSseEnabled, "true")
    };
    let (dead_letter_url, dead_letter_arn) =
        aws::create_queue(sqs, durable(dead_letter_name)).await?;
    let redrive = json!({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max_receives});
    let request = durable(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string());
    let (url, _) = aws::create_queue(sqs, request).await?;
    Ok((url, dead_letter_url))
}
