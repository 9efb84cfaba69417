//! Lambda function `setup`: the setup flow (CloudFormation custom resource).

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt().json().without_time().init();
    lambda_runtime::run(lambda_runtime::service_fn(handler::handle)).await
}
