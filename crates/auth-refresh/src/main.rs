//! Lambda function `auth-refresh`: on a schedule, renews the Lacework access token kept in the
//! product's Secrets Manager secret when it expires within the refresh window.

mod handler;

use lambda_runtime::{run, service_fn};
use lwct_domain::config::{AuthRefreshConfig, FromEnv};

use handler::Refresher;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lwct_runtime::init("auth_refresh");
    let config = AuthRefreshConfig::from_process_env().inspect_err(|error| {
        tracing::error!(%error, "auth-refresh is misconfigured");
    })?;
    let refresher = Refresher::over_aws(config).await;
    run(service_fn(|event| {
        lwct_runtime::flushed(handler::handle(&refresher, event))
    }))
    .await
}
