//! The AWS SDK configuration of a function's environment, and the adapters made from it: the
//! one place outside the adapters themselves that names the SDK's clients.

use aws_config::BehaviorVersion;
use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;

use crate::organizations::OrganizationsClient;
use crate::queue::SqsQueues;
use crate::secrets::SecretStore;
use crate::stacksets::StackSetsClient;

/// The AWS SDK configuration of the function's environment, and the adapters made from it.
pub struct Aws {
    pub sdk: SdkConfig,
}

impl Aws {
    /// The configuration from the environment: see [`aws_config`](mod@aws_config).
    pub async fn from_env() -> Self {
        Self {
            sdk: aws_config().await,
        }
    }

    pub fn organizations(&self) -> OrganizationsClient {
        OrganizationsClient::new(aws_sdk_organizations::Client::new(&self.sdk))
    }

    pub fn stack_sets(&self) -> StackSetsClient {
        StackSetsClient::new(aws_sdk_cloudformation::Client::new(&self.sdk))
    }

    pub fn queues(&self) -> SqsQueues {
        SqsQueues::new(aws_sdk_sqs::Client::new(&self.sdk))
    }

    /// The Secrets Manager secret `arn`.
    pub fn secret(&self, arn: impl Into<String>) -> SecretStore {
        SecretStore::new(aws_sdk_secretsmanager::Client::new(&self.sdk), arn)
    }
}

/// The AWS SDK configuration from the environment (`AWS_REGION`, the function's credentials,
/// `AWS_ENDPOINT_URL` in the landing zone). Organizations and StackSets throttle bursts: a few
/// more attempts than the SDK's default three.
pub async fn aws_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(6))
        .load()
        .await
}
