//! The handler's ports in tests: the test kit's organization and queues, and its StackSets
//! with instances a failed operation left outdated.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lwct_aws::stacksets::{StackSets, Stacks};
use lwct_domain::lifecycle::InstanceState;
use lwct_domain::stack_set::{
    InstanceFailure, OperationState, StackInstance, StackSetSpec, StackSetState,
};
use lwct_domain::{AccountId, Error};
use lwct_testkit::organizations::MemoryOrganizations;
use lwct_testkit::queues::MemoryQueues;
use lwct_testkit::stack_sets::InMemoryStackSets;

use crate::handler::Ports;

pub struct FakePorts;

impl Ports for FakePorts {
    type StackSets = FakeStackSets;
    type Organizations = MemoryOrganizations;
    type Queues = MemoryQueues;
}

/// [`InMemoryStackSets`] plus instances marked `OUTDATED` (as a failed operation leaves them in
/// AWS) and a count of listings.
#[derive(Clone, Default)]
pub struct FakeStackSets {
    pub inner: Arc<InMemoryStackSets>,
    pub outdated: Arc<Mutex<BTreeSet<AccountId>>>,
    pub listings: Arc<AtomicUsize>,
}

impl FakeStackSets {
    /// Every changing call.
    pub fn calls(&self) -> Vec<String> {
        self.inner.calls()
    }

    /// The accounts that have an instance of `stack_set`.
    pub fn accounts(&self, stack_set: &str) -> Vec<String> {
        self.inner
            .stack_sets()
            .get(stack_set)
            .map(|held| {
                held.instances
                    .iter()
                    .map(|t| t.account.as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl StackSets for FakeStackSets {
    async fn describe_stack_set(&self, name: &str) -> Result<Option<StackSetState>, Error> {
        self.inner.describe_stack_set(name).await
    }

    async fn create_stack_set(&self, spec: &StackSetSpec, token: &str) -> Result<(), Error> {
        self.inner.create_stack_set(spec, token).await
    }

    async fn update_stack_set(&self, spec: &StackSetSpec, id: &str) -> Result<String, Error> {
        self.inner.update_stack_set(spec, id).await
    }

    async fn delete_stack_set(&self, name: &str) -> Result<(), Error> {
        self.inner.delete_stack_set(name).await
    }

    async fn list_stack_instances(&self, name: &str) -> Result<Vec<StackInstance>, Error> {
        self.listings.fetch_add(1, Ordering::SeqCst);
        let outdated = self.outdated.lock().unwrap().clone();
        let mut instances = self.inner.list_stack_instances(name).await?;
        for instance in &mut instances {
            if outdated.contains(&instance.target.account) {
                instance.state = InstanceState::Outdated;
            }
        }
        Ok(instances)
    }

    async fn create_stack_instances(
        &self,
        name: &str,
        accounts: &[AccountId],
        regions: &[String],
        id: &str,
    ) -> Result<String, Error> {
        self.inner
            .create_stack_instances(name, accounts, regions, id)
            .await
    }

    async fn update_stack_instances(
        &self,
        name: &str,
        accounts: &[AccountId],
        regions: &[String],
        id: &str,
    ) -> Result<String, Error> {
        let started = self
            .inner
            .update_stack_instances(name, accounts, regions, id)
            .await?;
        let mut outdated = self.outdated.lock().unwrap();
        for account in accounts {
            outdated.remove(account);
        }
        Ok(started)
    }

    async fn delete_stack_instances(
        &self,
        name: &str,
        accounts: &[AccountId],
        regions: &[String],
        stacks: Stacks,
        id: &str,
    ) -> Result<String, Error> {
        self.inner
            .delete_stack_instances(name, accounts, regions, stacks, id)
            .await
    }

    async fn describe_operation(&self, name: &str, id: &str) -> Result<OperationState, Error> {
        self.inner.describe_operation(name, id).await
    }

    async fn operation_failures(
        &self,
        name: &str,
        id: &str,
        limit: usize,
    ) -> Result<Vec<InstanceFailure>, Error> {
        self.inner.operation_failures(name, id, limit).await
    }
}
