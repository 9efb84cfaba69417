//! The AWS services the functions reach, behind the ports of `lwct_aws`: the ports `setup` and
//! `sns-custom-resource` share ([`SharedPorts`]), the real ones ([`AwsPorts`]), and the SDK
//! configuration those are made from ([`Aws`], kept in `lwct_aws` with the other uses of the
//! SDK).

use lwct_aws::organizations::{Organizations, OrganizationsClient};
use lwct_aws::queue::SqsQueues;
use lwct_aws::registration_queue::RegistrationQueue;
pub use lwct_aws::sdk::{Aws, aws_config};
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
