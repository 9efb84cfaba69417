//! Lambda function `sns-custom-resource`: checks the member stacks' registration requests
//! (CloudFormation custom resources arriving through SNS), queues their work and answers them;
//! on its schedule, drains the registration queue into Lacework at the pace the API allows.
//!
//! This file only wires things together: logs and metrics, the configuration (a bad one still
//! gets every request answered, FAILED with the problems) and the Lambda runtime. The work,
//! and the AWS clients (`Function::over_aws`), are in the library.

use lambda_runtime::{run, service_fn};
use lwct_domain::config::{FromEnv, SnsCustomResourceConfig};
use lwct_runtime::Mode;
use sns_custom_resource::function::Function;
use sns_custom_resource::handler::Handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lwct_runtime::init("sns_custom_resource");
    let function = match SnsCustomResourceConfig::from_process_env() {
        Ok(config) => Function::over_aws(config).await,
        Err(err) => Err(err),
    };
    let handler = Handler::new(Mode::of(function));
    run(service_fn(|event| {
        lwct_runtime::flushed(handler.handle(event))
    }))
    .await
}
