//! Lambda function `setup`: the setup flow, run as a CloudFormation custom resource.
//!
//! This file only wires things together: logs, the panic hook that answers CloudFormation if
//! the process is about to die, the configuration (a bad one still gets every request
//! answered, FAILED with the problems), the AWS clients and the Lambda runtime. The work is in
//! the library: `setup::flow` and `setup::handler`.

use std::sync::Arc;

use lambda_runtime::{run, service_fn};
use lwct_aws::log_archive::LogArchiveClient;
use lwct_aws::organizations::OrganizationsClient;
use lwct_aws::queue::SqsQueues;
use lwct_aws::secrets::SecretStore;
use lwct_aws::stacksets::StackSetsClient;
use lwct_aws::trail::TrailsClient;
use lwct_domain::config::{EnvReader, SetupConfig, TOWER_RESPONSE_URL_ALLOW};
use lwct_lacework::{ClientOptions, KeyTokenRequester};
use lwct_runtime::answer::{AnswerSlot, answer_on_panic};

use setup::continuation::LambdaInvocations;
use setup::flow::{Ports, Setup, Timing};
use setup::handler::{Handler, Mode, PANIC_REASON};

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
    lwct_runtime::init_logs("setup");
    lwct_runtime::init_metrics("setup");
    let slot = AnswerSlot::new();
    answer_on_panic(slot.clone(), PANIC_REASON);
    let mode = match SetupConfig::from_process_env() {
        Ok(config) => Mode::Ready(Arc::new(over_aws(config).await)),
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
    run(service_fn(move |event| {
        let handler = handler.clone();
        lwct_runtime::flushed(async move { handler.handle(event).await })
    }))
    .await
}

/// The flow over the AWS SDK and the Lacework API.
async fn over_aws(config: SetupConfig) -> Setup<AwsPorts> {
    let sdk = lwct_runtime::aws_config().await;
    let lacework_options = ClientOptions::default();
    let secret_arn = config.lacework.secret_arn.to_string();
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
        secrets: Arc::new(SecretStore::new(
            aws_sdk_secretsmanager::Client::new(&sdk),
            secret_arn,
        )),
        tokens: Arc::new(KeyTokenRequester::new(
            config.lacework.api_url.as_str(),
            lacework_options,
        )),
        invocations: LambdaInvocations::new(aws_sdk_lambda::Client::new(&sdk)),
        lacework_options,
        timing: Timing::default(),
        config,
    }
}
