//! The AWS services the functions reach, behind the ports of `lwct_aws`: the ports `setup` and
//! `sns-custom-resource` share ([`SharedPorts`]), the real ones ([`AwsPorts`]), and the SDK
//! configuration those are made from ([`Aws`]).

use aws_config::BehaviorVersion;
use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use lwct_aws::organizations::{Organizations, OrganizationsClient};
use lwct_aws::queue::SqsQueues;
use lwct_aws::registration_queue::RegistrationQueue;
use lwct_aws::secrets::{SecretPort, SecretStore};
use lwct_aws::stacksets::{StackSets, StackSetsClient};
use lwct_lacework::{KeyTokenRequester, TokenRequester};

/// The ports `setup` and `sns-custom-resource` both work through: the SDK adapters in AWS
/// ([`AwsPorts`]), in-memory doubles in tests.
pub trait SharedPorts: Send + Sync + 'static {
    type Organizations: Organizations + 'static;
    type StackSets: StackSets + 'static;
    /// The account queue, and the registration queue with its dead-letter queue.
    type Queues: RegistrationQueue + 'static;
    /// The Lacework API secret (key, token, external id suffix).
    type Secrets: SecretPort + 'static;
    /// Gets new Lacework tokens with the secret's API key.
    type Tokens: TokenRequester + 'static;
}

/// The real ports: the AWS SDK and the Lacework API.
pub struct AwsPorts;

impl SharedPorts for AwsPorts {
    type Organizations = OrganizationsClient;
    type StackSets = StackSetsClient;
    type Queues = SqsQueues;
    type Secrets = SecretStore;
    type Tokens = KeyTokenRequester;
}

/// The AWS SDK configuration of the function's environment, and the adapters made from it.
pub struct Aws {
    pub sdk: SdkConfig,
}

impl Aws {
    /// The configuration from the environment: see [`aws_config`].
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
