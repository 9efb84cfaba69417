//! In-memory ports for the handler's tests: the shared StackSets fake (busy, failing) with
//! instances a failed operation left outdated, an organization, and queues that record what
//! is sent.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lwct_aws::organizations::{MemberAccount, Organizations};
use lwct_aws::queue::{MessageQueues, RejectedMessage};
use lwct_aws::registration_queue::{ReceivedMessage, RegistrationQueue};
use lwct_aws::stacksets::in_memory::InMemoryStackSets;
use lwct_aws::stacksets::{StackSets, Stacks};
use lwct_domain::mapping::OrganizationTree;
use lwct_domain::stack_set::{
    InstanceFailure, OperationState, StackInstance, StackSetSpec, StackSetState,
};
use lwct_domain::{AccountId, Error};

use crate::handler::Ports;

pub struct FakePorts;

impl Ports for FakePorts {
    type StackSets = FakeStackSets;
    type Organizations = FakeOrganizations;
    type Queues = FakeQueues;
}

fn throttled(operation: &str) -> Error {
    Error::Aws {
        operation: operation.to_owned(),
        code: Some("ThrottlingException".to_owned()),
        message: "Rate exceeded".to_owned(),
        retryable: true,
    }
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
                instance.status = "OUTDATED".to_owned();
                instance.detailed_status = Some("FAILED".to_owned());
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

/// An organization held in memory; can be made to throttle.
pub struct FakeOrganizations {
    pub tree: Mutex<OrganizationTree>,
    pub management: AccountId,
    pub tree_reads: AtomicUsize,
    pub throttling: AtomicBool,
}

impl FakeOrganizations {
    pub fn new(tree: OrganizationTree, management: AccountId) -> Self {
        Self {
            tree: Mutex::new(tree),
            management,
            tree_reads: AtomicUsize::new(0),
            throttling: AtomicBool::new(false),
        }
    }
}

impl Organizations for FakeOrganizations {
    async fn management_account(&self) -> Result<AccountId, Error> {
        Ok(self.management.clone())
    }

    async fn describe_account(&self, account: &AccountId) -> Result<Option<MemberAccount>, Error> {
        Ok(self
            .tree
            .lock()
            .unwrap()
            .account(account)
            .map(|a| MemberAccount {
                id: a.id.clone(),
                name: a.name.clone(),
                status: a.status,
            }))
    }

    async fn list_accounts(&self) -> Result<Vec<MemberAccount>, Error> {
        Ok(self
            .tree
            .lock()
            .unwrap()
            .accounts()
            .map(|a| MemberAccount {
                id: a.id.clone(),
                name: a.name.clone(),
                status: a.status,
            })
            .collect())
    }

    async fn organization_tree(&self) -> Result<OrganizationTree, Error> {
        self.tree_reads.fetch_add(1, Ordering::SeqCst);
        if self.throttling.load(Ordering::SeqCst) {
            return Err(throttled("organizations:ListAccountsForParent"));
        }
        Ok(self.tree.lock().unwrap().clone())
    }
}

/// A message sent to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub queue_url: String,
    pub body: String,
    pub reason: String,
}

/// Queues that record what is sent; sending or dead-lettering can be made to fail.
#[derive(Default)]
pub struct FakeQueues {
    /// (queue URL, body) of every message sent in batches.
    pub sent: Mutex<Vec<(String, String)>>,
    pub dead_letters: Mutex<Vec<DeadLetter>>,
    /// (queue URL, receipt handle, visibility) of every visibility change.
    pub visibility: Mutex<Vec<(String, String, Duration)>>,
    pub sending_fails: AtomicBool,
    pub dead_lettering_fails: AtomicBool,
}

impl FakeQueues {
    /// The bodies sent to the queue called `name`.
    pub fn sent_to(&self, name: &str) -> Vec<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(url, _)| url.ends_with(&format!("/{name}")))
            .map(|(_, body)| body.clone())
            .collect()
    }
}

impl MessageQueues for FakeQueues {
    async fn queue_url(&self, name: &str) -> Result<String, Error> {
        Ok(format!(
            "https://sqs.us-east-1.amazonaws.com/111111111111/{name}"
        ))
    }

    async fn send_batch(
        &self,
        queue_url: &str,
        bodies: &[String],
    ) -> Result<Vec<RejectedMessage>, Error> {
        if self.sending_fails.load(Ordering::SeqCst) {
            return Err(throttled("sqs:SendMessageBatch"));
        }
        let mut sent = self.sent.lock().unwrap();
        sent.extend(bodies.iter().map(|b| (queue_url.to_owned(), b.clone())));
        Ok(Vec::new())
    }
}

impl RegistrationQueue for FakeQueues {
    async fn receive(
        &self,
        _queue_url: &str,
        _max: u32,
        _visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        Ok(Vec::new())
    }

    async fn delete(&self, _queue_url: &str, _receipt_handle: &str) -> Result<(), Error> {
        Ok(())
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        visibility: Duration,
    ) -> Result<(), Error> {
        self.visibility.lock().unwrap().push((
            queue_url.to_owned(),
            receipt_handle.to_owned(),
            visibility,
        ));
        Ok(())
    }

    async fn dead_letter(&self, queue_url: &str, body: &str, reason: &str) -> Result<(), Error> {
        if self.dead_lettering_fails.load(Ordering::SeqCst) {
            return Err(throttled("sqs:SendMessage"));
        }
        self.dead_letters.lock().unwrap().push(DeadLetter {
            queue_url: queue_url.to_owned(),
            body: body.to_owned(),
            reason: reason.to_owned(),
        });
        Ok(())
    }
}
