//! Lambda function `account-lifecycle`: onboarding, moving and removing accounts.
//!
//! This file only wires things together: logs, the configuration, the AWS clients and the
//! Lambda runtime. The work is in `account_lifecycle::handler`; the decisions in `lwct_domain::lifecycle`.

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, run, service_fn};
use lwct_aws::organizations::OrganizationsClient;
use lwct_aws::queue::SqsQueues;
use lwct_aws::stacksets::StackSetsClient;
use lwct_domain::config::AccountLifecycleConfig;

use account_lifecycle::handler::{Lifecycle, Ports, Settings};

/// The real ports: the AWS SDK.
struct AwsPorts;

impl Ports for AwsPorts {
    type StackSets = StackSetsClient;
    type Organizations = OrganizationsClient;
    type Queues = SqsQueues;
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lwct_runtime::init_logs("account_lifecycle");
    lwct_runtime::init_metrics("account_lifecycle");
    // A bad configuration stops the function at start: every message stays on the queue
    // (and ends in its dead-letter queue) rather than being acted on wrongly.
    let config = AccountLifecycleConfig::from_process_env().inspect_err(|err| {
        tracing::error!(error = %err, "invalid configuration; account-lifecycle cannot start");
    })?;
    let sdk = lwct_runtime::aws_config().await;
    let lifecycle = Arc::new(Lifecycle::<AwsPorts>::new(
        StackSetsClient::new(aws_sdk_cloudformation::Client::new(&sdk)),
        OrganizationsClient::new(aws_sdk_organizations::Client::new(&sdk)),
        SqsQueues::new(aws_sdk_sqs::Client::new(&sdk)),
        Settings::from(config),
    ));
    run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let lifecycle = lifecycle.clone();
        lwct_runtime::flushed(async move {
            Ok::<_, lambda_runtime::Error>(lifecycle.handle(event.payload).await)
        })
    }))
    .await
}
