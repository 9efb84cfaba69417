//! The function `account-lifecycle` as a library: its handler, so that a benchmark can drive
//! it in-process, and the handler over AWS. `main.rs` wires it to Lambda.

#[cfg(test)]
mod fakes;
pub mod handler;
#[cfg(test)]
mod tests;

use lwct_aws::organizations::OrganizationsClient;
use lwct_aws::queue::SqsQueues;
use lwct_aws::stacksets::StackSetsClient;
use lwct_domain::config::AccountLifecycleConfig;
use lwct_runtime::{Aws, AwsPorts};

use handler::{Lifecycle, Ports, Settings};

impl Ports for AwsPorts {
    type StackSets = StackSetsClient;
    type Organizations = OrganizationsClient;
    type Queues = SqsQueues;
}

impl Lifecycle<AwsPorts> {
    /// The handler over the AWS SDK.
    pub async fn over_aws(config: AccountLifecycleConfig) -> Self {
        let aws = Aws::from_env().await;
        Lifecycle::new(
            aws.stack_sets(),
            aws.organizations(),
            aws.queues(),
            Settings::from(config),
        )
    }
}
