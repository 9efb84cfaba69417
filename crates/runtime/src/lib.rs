//! What the four Lambda functions share at run time: their logs and metrics, the AWS SDK
//! configuration and adapters, how a failed invocation is reported to Lambda, and answering
//! CloudFormation custom resources exactly once.

pub mod answer;
pub mod aws;
pub mod delivery;
pub mod failure;
pub mod metrics;
pub mod mode;

use std::time::SystemTime;

use tokio::time::Instant;
use tracing_subscriber::EnvFilter;

pub use aws::{Aws, AwsPorts, SharedPorts, aws_config};
pub use failure::Failure;
use metrics::init_metrics;
pub use metrics::{count, flushed};
pub use mode::Mode;

/// Starts the function `function` (its crate name, such as `account_lifecycle`): its metrics
/// (`metrics::init_metrics`) and its logs: JSON on stdout for CloudWatch, one object a line, without
/// timestamps (Lambda adds them). `RUST_LOG` overrides the default: warnings from everything,
/// information from the function and the product's own crates.
pub fn init(function: &'static str) {
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
    init_metrics(function);
}

/// When Lambda stops the invocation of `context`, on the clock the work's timers use.
pub fn deadline(context: &lambda_runtime::Context) -> Instant {
    let remaining = context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    Instant::now() + remaining
}
