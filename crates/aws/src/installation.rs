//! One read of an installation's state, as the scheduled reconcile and `lwct status` see it:
//! the organization, the member StackSet's instances in the home region, the `AwsCfg`
//! integrations of every sub-account the configuration names, and (at organization level) the
//! CloudTrail integration's mapping file; and the status built from it, with what the
//! dead-letter queues hold. Read only: nothing here changes anything.

use std::collections::{BTreeMap, BTreeSet};

use lwct_domain::Error;
use lwct_domain::config::{self, AccountLifecycleConfig};
use lwct_domain::drain::{SubAccountRouting, cloudtrail_integration_name};
use lwct_domain::lacework::{AwsCfgData, AwsCtSqsData, Scope};
use lwct_domain::naming::{Arn, NamePrefix};
use lwct_domain::reconcile::{Installation, Observed, Registration};
use lwct_domain::status::{DeadLetter, Status, status};
use lwct_lacework::{Client, ClientOptions};

use crate::aws_error;
use crate::organizations::{Organizations, OrganizationsClient};
use crate::registration_queue::REASON_ATTRIBUTE;
use crate::secrets::SecretStore;
use crate::stacksets::{StackSets, StackSetsClient};

/// Where to look.
#[derive(Debug, Clone)]
pub struct Lookup<'a> {
    pub prefix: &'a NamePrefix,
    pub routing: &'a SubAccountRouting,
    /// The home region: the member instances there are the installation's.
    pub region: &'a str,
    pub member_stack_set: &'a str,
}

impl<'a> Lookup<'a> {
    /// Where `installation`, its sub-accounts routed by `routing`, keeps what is looked at.
    pub fn of(installation: &'a config::Installation, routing: &'a SubAccountRouting) -> Self {
        Lookup {
            prefix: &installation.prefix,
            routing,
            region: installation.region.as_str(),
            member_stack_set: &installation.names.member_stack_set,
        }
    }
}

/// Reads the installation's state through the ports and the Lacework API.
pub async fn observe<O: Organizations, S: StackSets>(
    organizations: &O,
    stack_sets: &S,
    lacework: &Client,
    lookup: &Lookup<'_>,
) -> Result<Observed, Error> {
    let tree = organizations.organization_tree().await?;
    let management = Some(organizations.management_account().await?);
    let instances: BTreeMap<_, _> = stack_sets
        .list_stack_instances(lookup.member_stack_set)
        .await?
        .into_iter()
        .filter(|instance| instance.target.region == lookup.region)
        .map(|instance| (instance.target.account, instance.state))
        .collect();
    let mut registrations = Vec::new();
    for sub_account in lookup.routing.sub_accounts() {
        let scope = Scope::Account(sub_account.clone());
        for record in lacework.list_by_type::<AwsCfgData>(&scope).await? {
            let account = record.data.aws_account_id.clone().or_else(|| {
                Arn::parse(&record.data.cross_account_credentials.role_arn)
                    .ok()
                    .and_then(|arn| arn.account)
            });
            if let Some(account) = account {
                registrations.push(Registration {
                    name: record.name,
                    account,
                    sub_account: sub_account.clone(),
                });
            }
        }
    }
    let trail_name = cloudtrail_integration_name(lookup.prefix);
    let mut mapping = None;
    if lookup.routing.has_ou_rules() {
        for record in lacework
            .list_by_type::<AwsCtSqsData>(&Scope::Organization)
            .await?
        {
            if record.name == trail_name {
                mapping = record.data.account_mapping()?;
            }
        }
    }
    Ok(Observed {
        tree,
        management,
        instances,
        registrations,
        mapping,
    })
}

/// The installation's status (`lwct status`, the demo): the secret's key gets a Lacework token
/// that is kept in memory, not stored, so nothing is changed.
pub async fn status_of(
    config: &AccountLifecycleConfig,
    sdk: &aws_config::SdkConfig,
) -> Result<Status, Error> {
    let secret = SecretStore::new(
        aws_sdk_secretsmanager::Client::new(sdk),
        config.lacework.secret_arn.to_string(),
    )
    .read()
    .await?;
    let lacework = Client::with_keys(
        config.lacework.api_url.as_str(),
        secret.credentials(),
        &ClientOptions::default(),
    )?;
    let routing = SubAccountRouting::from_settings(&config.lacework)?;
    let installation = &config.installation;
    let observed = observe(
        &OrganizationsClient::new(aws_sdk_organizations::Client::new(sdk)),
        &StackSetsClient::new(aws_sdk_cloudformation::Client::new(sdk)),
        &lacework,
        &Lookup::of(installation, &routing),
    )
    .await?;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut dead_letters = Vec::new();
    for queue in [
        &installation.names.account_dead_letter_queue,
        &installation.names.registration_dead_letter_queue,
    ] {
        dead_letters.extend(peek_dead_letters(&sqs, queue).await?);
    }
    status(
        &observed,
        &Installation {
            prefix: &installation.prefix,
            routing: &routing,
            partition: installation.region.partition(),
            member_role: &installation.names.member_role,
            member_instances: config.capability.includes_config(),
        },
        &dead_letters,
    )
}

/// At most this many messages of a dead-letter queue are read.
const PEEK_LIMIT: usize = 500;

/// The messages of the dead-letter queue `name` with their reasons, left where they are: each
/// is received without being hidden (visibility timeout 0) and never deleted. Only its receive
/// count changes, which nothing reads on a dead-letter queue.
async fn peek_dead_letters(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> Result<Vec<DeadLetter>, Error> {
    let url = sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|err| aws_error("sqs:GetQueueUrl", err))?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let mut seen = BTreeSet::new();
    let mut letters = Vec::new();
    // A receive returns some of the messages; a few more passes find the rest.
    for _ in 0..20 {
        let received = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_attribute_names(REASON_ATTRIBUTE)
            .send()
            .await
            .map_err(|err| aws_error("sqs:ReceiveMessage", err))?;
        let mut new = false;
        for message in received.messages() {
            let id = message.message_id().unwrap_or_default().to_owned();
            if !seen.insert(id) {
                continue;
            }
            new = true;
            let reason = message
                .message_attributes()
                .and_then(|attributes| attributes.get(REASON_ATTRIBUTE))
                .and_then(|value| value.string_value())
                .unwrap_or("no reason recorded");
            letters.push(DeadLetter {
                body: message.body().unwrap_or_default().to_owned(),
                reason: reason.to_owned(),
            });
        }
        if !new || letters.len() >= PEEK_LIMIT {
            break;
        }
    }
    Ok(letters)
}
