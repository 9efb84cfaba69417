//! Lambda function `account-lifecycle`: onboarding, moving and removing accounts.
//!
//! This file only wires things together: logs and metrics, the configuration and the Lambda
//! runtime. The work is in `account_lifecycle::handler`; the decisions in `lwct_domain::lifecycle`.

use account_lifecycle::handler::Lifecycle;
use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use lwct_domain::config::{AccountLifecycleConfig, FromEnv};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lwct_runtime::init("account_lifecycle");
    // A bad configuration stops the function at start: every message stays on the queue
    // (and ends in its dead-letter queue) rather than being acted on wrongly.
    let config = AccountLifecycleConfig::from_process_env().inspect_err(|err| {
        tracing::error!(error = %err, "invalid configuration; account-lifecycle cannot start");
    })?;
    let lifecycle = &Lifecycle::over_aws(config).await;
    // One batch: the messages that failed go back in the answer, never as an error.
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        lwct_runtime::flushed(async move { Ok::<_, Error>(lifecycle.handle(event.payload).await) })
    }))
    .await
}
