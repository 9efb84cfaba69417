//! Lambda function `auth-refresh`: on a schedule, renews the Lacework access token kept in the
//! product's Secrets Manager secret when it expires within the refresh window.

mod handler;

use std::time::Duration;

use lambda_runtime::{LambdaEvent, run, service_fn};
use lwct_aws::secrets::SecretStore;
use lwct_domain::config::AuthRefreshConfig;
use lwct_lacework::{ClientOptions, KeyTokenRequester};
use serde_json::Value;

use handler::Refresher;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lwct_runtime::init_logs("auth_refresh");
    lwct_runtime::init_metrics("auth_refresh");
    let config = AuthRefreshConfig::from_process_env().inspect_err(|error| {
        tracing::error!(%error, "auth-refresh is misconfigured");
    })?;
    let window = Duration::from_secs(config.refresh_window_seconds);
    let requester = KeyTokenRequester::new(config.api_url.as_str(), ClientOptions::default());
    if window >= requester.lifetime() {
        tracing::warn!(
            refresh_window_seconds = config.refresh_window_seconds,
            token_lifetime_seconds = requester.lifetime().as_secs(),
            "the refresh window is not shorter than a token's life: every run will renew the token"
        );
    }
    let sdk = lwct_runtime::aws_config().await;
    let store = SecretStore::new(
        aws_sdk_secretsmanager::Client::new(&sdk),
        config.secret_arn.to_string(),
    );
    let refresher = Refresher::new(store, requester, window);
    let refresher = &refresher;
    run(service_fn(move |event: LambdaEvent<Value>| {
        lwct_runtime::flushed(handler::handle(refresher, event))
    }))
    .await
}
