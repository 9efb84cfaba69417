//! Lambda function `account-lifecycle`: onboarding, moving and removing accounts.
//!
//! This file only wires things together: JSON logs, the configuration, the AWS clients and
//! the Lambda runtime. The work is in [`handler`]; the decisions in `lwct_domain::lifecycle`.

mod handler;
mod instances;

#[cfg(test)]
mod fakes;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::LambdaEvent;
use lwct_aws::organizations::OrganizationsClient;
use lwct_aws::registration_queue::SqsRegistrationQueue;
use lwct_aws::stacksets::StackSetsClient;
use lwct_domain::config::{AccountLifecycleConfig, LACEWORK_OU_RULES};
use lwct_domain::mapping::OuRules;
use lwct_domain::{Error, Problem};
use tracing_subscriber::EnvFilter;

use crate::handler::{Lifecycle, Ports, Settings};
use crate::instances::CloudFormationUpkeep;

/// The real ports: the AWS SDK.
struct AwsPorts;

impl Ports for AwsPorts {
    type StackSets = StackSetsClient;
    type Upkeep = CloudFormationUpkeep;
    type Organizations = OrganizationsClient;
    type Queues = SqsRegistrationQueue;
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,account_lifecycle=info,lwct_domain=info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .init();

    // A bad configuration stops the function at start: every message stays on the queue
    // (and ends in its dead-letter queue) rather than being acted on wrongly.
    let settings = settings().inspect_err(|err| {
        tracing::error!(error = %err, "invalid configuration; account-lifecycle cannot start");
    })?;
    // Organizations and StackSets throttle bursts; a few more attempts than the default three.
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(6))
        .load()
        .await;
    let cloudformation = aws_sdk_cloudformation::Client::new(&sdk);
    let lifecycle = Arc::new(Lifecycle::<AwsPorts>::new(
        StackSetsClient::new(cloudformation.clone()),
        CloudFormationUpkeep::new(cloudformation),
        OrganizationsClient::new(aws_sdk_organizations::Client::new(&sdk)),
        SqsRegistrationQueue::new(aws_sdk_sqs::Client::new(&sdk)),
        settings,
    ));
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<SqsEvent>| {
            let lifecycle = lifecycle.clone();
            async move { Ok::<_, lambda_runtime::Error>(lifecycle.handle(event.payload).await) }
        },
    ))
    .await
}

/// The handler's settings from the environment; rules that do not parse are reported under
/// `LACEWORK_OU_RULES` with their position.
fn settings() -> Result<Settings, Error> {
    let config = AccountLifecycleConfig::from_process_env()?;
    let rules = match config.lacework.ou_rules.as_deref().map(OuRules::parse) {
        None => OuRules::default(),
        Some(Ok(rules)) => rules,
        Some(Err(problems)) => {
            return Err(Error::Config(
                problems
                    .into_iter()
                    .map(|p| Problem::new(LACEWORK_OU_RULES, p.to_string()))
                    .collect(),
            ));
        }
    };
    Ok(Settings {
        region: config.installation.region.as_str().to_owned(),
        names: config.installation.names,
        rules,
        member_instances: config.capability.includes_config(),
    })
}
