//! Lambda function `setup`: the setup flow, run as a CloudFormation custom resource.
//!
//! This file only wires things together: JSON logs, the configuration (a bad one still gets
//! every request answered, FAILED with the problems), the AWS clients, the panic hook that
//! answers CloudFormation if the process is about to die, and the Lambda runtime.

mod answer;
mod continuation;
mod converge;
mod flow;
mod handler;
mod onboarding;
mod plan;
mod preflight;
mod teardown;
mod templates;

#[cfg(test)]
mod fakes;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use lwct_aws::log_archive::LogArchiveClient;
use lwct_aws::organizations::OrganizationsClient;
use lwct_aws::queue::SqsQueues;
use lwct_aws::secrets::SecretStore;
use lwct_aws::stacksets::StackSetsClient;
use lwct_aws::trail::TrailsClient;
use lwct_domain::config::{EnvReader, SetupConfig, TOWER_RESPONSE_URL_ALLOW};
use lwct_lacework::ClientOptions;
use lwct_lacework::KeyTokenRequester;
use tracing_subscriber::EnvFilter;

use crate::answer::AnswerSlot;
use crate::continuation::LambdaInvocations;
use crate::flow::{Ports, Setup, Timing};
use crate::handler::{Handler, Mode};

/// The real ports: the AWS SDK and the Lacework API.
struct AwsPorts;

impl Ports for AwsPorts {
    type Organizations = OrganizationsClient;
    type Trails = TrailsClient;
    type StackSets = StackSetsClient;
    type Queues = SqsQueues;
    type Secrets = SecretStore;
    type Tokens = KeyTokenRequester;
    type Invocations = LambdaInvocations;
    type LogArchive = LogArchiveClient;
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,setup=info,lwct_domain=info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .init();

    let slot = AnswerSlot::new();
    answer::answer_on_panic(slot.clone());
    let mode = match SetupConfig::from_process_env() {
        Ok(config) => Mode::Ready(Arc::new(setup(config).await)),
        Err(err) => {
            tracing::error!(error = %err, "invalid configuration; every request will be answered FAILED");
            Mode::Misconfigured {
                problems: err.to_string(),
                response_urls: EnvReader::from_process_env()
                    .response_url_policy(TOWER_RESPONSE_URL_ALLOW),
            }
        }
    };
    let handler = Arc::new(Handler::<AwsPorts>::new(mode, slot));
    lambda_runtime::run(lambda_runtime::service_fn(move |event| {
        let handler = handler.clone();
        async move { handler.handle(event).await }
    }))
    .await
}

/// The flow over the AWS SDK (which reads `AWS_REGION`, credentials and `AWS_ENDPOINT_URL`
/// itself) and the Lacework API.
async fn setup(config: SetupConfig) -> Setup<AwsPorts> {
    // Organizations throttles bursts; a few more attempts than the default three.
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(6))
        .load()
        .await;
    let lacework_options = ClientOptions::default();
    let secrets = SecretStore::new(
        aws_sdk_secretsmanager::Client::new(&sdk),
        config.lacework.secret_arn.to_string(),
    );
    let tokens = KeyTokenRequester::new(config.lacework.api_url.as_str(), lacework_options);
    // The trail bucket is in Log Archive; setup reaches it as AWSControlTowerExecution (only
    // trails without an SNS topic need it, and the role is assumed on first use).
    let log_archive = LogArchiveClient::assume(
        &sdk,
        config.installation.region.partition(),
        &config.accounts.log_archive,
        &format!("{}-setup", config.installation.prefix),
    )
    .await;
    Setup {
        organizations: OrganizationsClient::new(aws_sdk_organizations::Client::new(&sdk)),
        trails: TrailsClient::new(aws_sdk_cloudtrail::Client::new(&sdk)),
        stack_sets: StackSetsClient::new(aws_sdk_cloudformation::Client::new(&sdk)),
        queues: SqsQueues::new(aws_sdk_sqs::Client::new(&sdk)),
        log_archive,
        secrets: Arc::new(secrets),
        tokens: Arc::new(tokens),
        invocations: LambdaInvocations::new(aws_sdk_lambda::Client::new(&sdk)),
        lacework_options,
        timing: Timing::default(),
        config,
    }
}
