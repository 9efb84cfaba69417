//! What the four Lambda functions share at run time: their logs, the AWS SDK configuration,
//! how a failed invocation is reported to Lambda, and answering CloudFormation custom
//! resources exactly once.

pub mod answer;
pub mod delivery;
pub mod failure;
pub mod metrics;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use tracing_subscriber::EnvFilter;

pub use failure::Failure;
pub use metrics::{count, flush_metrics, flushed, init_metrics};

/// JSON logs on stdout for CloudWatch, one object a line, without timestamps (Lambda adds
/// them). `RUST_LOG` overrides the default: warnings from everything, information from the
/// function (`function` is its crate name, such as `account_lifecycle`) and the product's own
/// crates.
pub fn init_logs(function: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "warn,{function}=info,lwct_domain=info,lwct_aws=info,lwct_lacework=info,lwct_runtime=info"
        ))
    });
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .init();
}

/// The AWS SDK configuration from the environment (`AWS_REGION`, the function's credentials,
/// `AWS_ENDPOINT_URL` in the landing zone). Organizations and StackSets throttle bursts: a few
/// more attempts than the SDK's default three.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(6))
        .load()
        .await
}
