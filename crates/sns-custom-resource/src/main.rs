//! Lambda function `sns-custom-resource`: checks the member stacks' registration requests
//! (CloudFormation custom resources arriving through SNS), queues their work and answers them;
//! on its schedule, drains the registration queue into Lacework at the pace the API allows.
//!
//! This file only wires things together: logs, the configuration (a bad one still gets every
//! request answered, FAILED with the problems), the AWS clients and the Lambda runtime.

use std::sync::Arc;

use lambda_runtime::{run, service_fn};
use lwct_aws::organizations::OrganizationsClient;
use lwct_aws::queue::SqsQueues;
use lwct_aws::secrets::SecretStore;
use lwct_aws::stacksets::StackSetsClient;
use lwct_domain::config::{EnvReader, SnsCustomResourceConfig, TOWER_RESPONSE_URL_ALLOW};
use lwct_lacework::KeyTokenRequester;

use sns_custom_resource::function::{Function, Ports, drain_client_options};
use sns_custom_resource::handler::{Handler, Mode};

/// The real services: the AWS SDK and the Lacework API.
struct AwsPorts;

impl Ports for AwsPorts {
    type Organizations = OrganizationsClient;
    type StackSets = StackSetsClient;
    type Queues = SqsQueues;
    type Secrets = SecretStore;
    type Tokens = KeyTokenRequester;
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lwct_runtime::init_logs("sns_custom_resource");
    lwct_runtime::init_metrics("sns_custom_resource");

    let mode = match SnsCustomResourceConfig::from_process_env() {
        Ok(config) => match function(config).await {
            Ok(function) => Mode::Ready(Arc::new(function)),
            Err(err) => misconfigured(err),
        },
        Err(err) => misconfigured(err),
    };
    let handler = Arc::new(Handler::<AwsPorts>::new(mode));
    run(service_fn(move |event| {
        let handler = handler.clone();
        lwct_runtime::flushed(async move { handler.handle(event).await })
    }))
    .await
}

fn misconfigured(err: lwct_domain::Error) -> Mode<AwsPorts> {
    tracing::error!(error = %err, "invalid configuration; every request will be answered FAILED");
    Mode::Misconfigured {
        problems: err.problems(),
        response_urls: EnvReader::from_process_env().response_url_policy(TOWER_RESPONSE_URL_ALLOW),
    }
}

/// The function over the AWS SDK and the Lacework API.
async fn function(
    config: SnsCustomResourceConfig,
) -> Result<Function<AwsPorts>, lwct_domain::Error> {
    let sdk = lwct_runtime::aws_config().await;
    let secret_arn = config.lacework.secret_arn.to_string();
    let api_url = config.lacework.api_url.to_string();
    Function::new(
        config,
        OrganizationsClient::new(aws_sdk_organizations::Client::new(&sdk)),
        StackSetsClient::new(aws_sdk_cloudformation::Client::new(&sdk)),
        SqsQueues::new(aws_sdk_sqs::Client::new(&sdk)),
        Arc::new(SecretStore::new(
            aws_sdk_secretsmanager::Client::new(&sdk),
            secret_arn,
        )),
        Arc::new(KeyTokenRequester::new(&api_url, drain_client_options())),
    )
}
