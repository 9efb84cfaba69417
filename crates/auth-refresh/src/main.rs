//! Lambda function `auth-refresh`: on a schedule, renews the Lacework access token kept in the
//! product's Secrets Manager secret when it expires within the refresh window.

mod handler;

use std::time::Duration;

use lambda_runtime::{LambdaEvent, service_fn};
use lwct_aws::secrets::SecretStore;
use lwct_domain::config::AuthRefreshConfig;
use lwct_lacework::ClientOptions;
use lwct_lacework::KeyTokenRequester;
use serde_json::Value;
use tracing_subscriber::EnvFilter;

use handler::Refresher;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_current_span(false)
        .without_time()
        .init();

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

    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = SecretStore::new(
        aws_sdk_secretsmanager::Client::new(&aws),
        config.secret_arn.to_string(),
    );
    let refresher = Refresher::new(store, requester, window);
    let refresher = &refresher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        handler::handle(refresher, event)
    }))
    .await
}
