//! Setup over the AWS SDK and the Lacework API.

use std::sync::Arc;

use lwct_aws::log_archive::LogArchiveClient;
use lwct_aws::trail::TrailsClient;
use lwct_domain::config::SetupConfig;
use lwct_lacework::{ClientOptions, KeyTokenRequester};
use lwct_runtime::{Aws, AwsPorts};

use crate::continuation::LambdaInvocations;
use crate::flow::{Ports, Setup, Timing};

impl Ports for AwsPorts {
    type Trails = TrailsClient;
    type Invocations = LambdaInvocations;
    type LogArchive = LogArchiveClient;
}

impl Setup<AwsPorts> {
    /// The flow over the AWS SDK and the Lacework API.
    pub async fn over_aws(config: SetupConfig) -> Self {
        let aws = Aws::from_env().await;
        let lacework_options = ClientOptions::default();
        // The trail bucket is in Log Archive; setup reaches it as AWSControlTowerExecution
        // (only trails without an SNS topic need it, and the role is assumed on first use).
        let log_archive = LogArchiveClient::assume(
            &aws.sdk,
            config.installation.region.partition(),
            &config.accounts.log_archive,
            &format!("{}-setup", config.installation.prefix),
        )
        .await;
        Setup {
            organizations: aws.organizations(),
            trails: TrailsClient::new(aws_sdk_cloudtrail::Client::new(&aws.sdk)),
            stack_sets: aws.stack_sets(),
            queues: aws.queues(),
            log_archive,
            secrets: Arc::new(aws.secret(config.lacework.secret_arn.to_string())),
            tokens: Arc::new(KeyTokenRequester::new(
                config.lacework.api_url.as_str(),
                lacework_options,
            )),
            invocations: LambdaInvocations::new(aws_sdk_lambda::Client::new(&aws.sdk)),
            lacework_options,
            timing: Timing::default(),
            config,
        }
    }
}
