//! The test kit's in-memory AWS ports, counted: each port call is charged the AWS API calls the
//! real adapter (`lwct_aws`) makes for it, pages included. A paginated listing costs one call
//! per page of the API's largest page, as the SDK paginators fetch them: 20 for the
//! Organizations listings, 100 for `ListStackInstances`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lwct_aws::log_archive::LogArchive;
use lwct_aws::organizations::{MemberAccount, Organizations};
use lwct_aws::queue::{MessageQueues, RejectedMessage};
use lwct_aws::registration_queue::{ReceivedMessage, RegistrationQueue};
use lwct_aws::secrets::{ReplaceOutcome, SecretPort, VersionedSecret};
use lwct_aws::stacksets::{StackSets, Stacks};
use lwct_aws::trail::Trails;
use lwct_domain::api_secret::ApiSecret;
use lwct_domain::bucket_notifications::NotificationConfiguration;
use lwct_domain::external_id::ExternalIdSuffix;
use lwct_domain::mapping::OrganizationTree;
use lwct_domain::stack_set::{
    InstanceFailure, OperationState, StackInstance, StackSetSpec, StackSetState,
};
use lwct_domain::trail::TrailDetails;
use lwct_domain::{AccountId, Error};
use serde_json::Value;
use setup::continuation::Invocations;

/// Organizations listings return at most 20 items a page.
const ORGANIZATIONS_PAGE: usize = 20;
/// `ListStackInstances` returns at most 100 instances a page.
const STACK_INSTANCES_PAGE: usize = 100;

/// AWS API calls by name (`service:Operation`).
#[derive(Debug, Default)]
pub struct ApiCalls {
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

impl ApiCalls {
    fn add(&self, api: &'static str, calls: usize) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *counts.entry(api).or_default() += calls as u64;
    }

    /// The counts so far.
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Pages of a listing of `items`: an empty listing is one page too.
fn pages(items: usize, page: usize) -> usize {
    items.div_ceil(page).max(1)
}

/// A port whose calls are counted in `calls`. The port itself is shared, so that several
/// functions can work on one organization and one set of queues, as they do in AWS.
pub struct Counted<T> {
    pub inner: Arc<T>,
    pub calls: Arc<ApiCalls>,
}

impl<T> Counted<T> {
    pub fn new(inner: Arc<T>, calls: Arc<ApiCalls>) -> Self {
        Self { inner, calls }
    }
}

impl<T: Organizations> Organizations for Counted<T> {
    async fn management_account(&self) -> Result<AccountId, Error> {
        self.calls.add("organizations:DescribeOrganization", 1);
        self.inner.management_account().await
    }

    async fn describe_account(&self, account: &AccountId) -> Result<Option<MemberAccount>, Error> {
        self.calls.add("organizations:DescribeAccount", 1);
        self.inner.describe_account(account).await
    }

    async fn list_accounts(&self) -> Result<Vec<MemberAccount>, Error> {
        let accounts = self.inner.list_accounts().await?;
        self.calls.add(
            "organizations:ListAccounts",
            pages(accounts.len(), ORGANIZATIONS_PAGE),
        );
        Ok(accounts)
    }

    /// The adapter lists the roots, then each parent's OUs and accounts, breadth first.
    async fn organization_tree(&self) -> Result<OrganizationTree, Error> {
        let tree = self.inner.organization_tree().await?;
        self.calls.add("organizations:ListRoots", 1);
        let parents = std::iter::once(tree.root_id().to_owned())
            .chain(tree.units().map(|unit| unit.id.clone()));
        for parent in parents {
            let units = tree.units().filter(|u| u.parent_id == parent).count();
            let accounts = tree.accounts().filter(|a| a.parent_id == parent).count();
            self.calls.add(
                "organizations:ListOrganizationalUnitsForParent",
                pages(units, ORGANIZATIONS_PAGE),
            );
            self.calls.add(
                "organizations:ListAccountsForParent",
                pages(accounts, ORGANIZATIONS_PAGE),
            );
        }
        Ok(tree)
    }
}

impl<T: StackSets> StackSets for Counted<T> {
    async fn describe_stack_set(&self, name: &str) -> Result<Option<StackSetState>, Error> {
        self.calls.add("cloudformation:DescribeStackSet", 1);
        self.inner.describe_stack_set(name).await
    }

    async fn create_stack_set(&self, spec: &StackSetSpec, token: &str) -> Result<(), Error> {
        self.calls.add("cloudformation:CreateStackSet", 1);
        self.inner.create_stack_set(spec, token).await
    }

    async fn update_stack_set(
        &self,
        spec: &StackSetSpec,
        operation_id: &str,
    ) -> Result<String, Error> {
        self.calls.add("cloudformation:UpdateStackSet", 1);
        self.inner.update_stack_set(spec, operation_id).await
    }

    async fn delete_stack_set(&self, name: &str) -> Result<(), Error> {
        self.calls.add("cloudformation:DeleteStackSet", 1);
        self.inner.delete_stack_set(name).await
    }

    async fn list_stack_instances(&self, name: &str) -> Result<Vec<StackInstance>, Error> {
        let instances = self.inner.list_stack_instances(name).await?;
        self.calls.add(
            "cloudformation:ListStackInstances",
            pages(instances.len(), STACK_INSTANCES_PAGE),
        );
        Ok(instances)
    }

    async fn create_stack_instances(
        &self,
        name: &str,
        accounts: &[AccountId],
        regions: &[String],
        operation_id: &str,
    ) -> Result<String, Error> {
        self.calls.add("cloudformation:CreateStackInstances", 1);
        self.inner
            .create_stack_instances(name, accounts, regions, operation_id)
            .await
    }

    async fn update_stack_instances(
        &self,
        name: &str,
        accounts: &[AccountId],
        regions: &[String],
        operation_id: &str,
    ) -> Result<String, Error> {
        self.calls.add("cloudformation:UpdateStackInstances", 1);
        self.inner
            .update_stack_instances(name, accounts, regions, operation_id)
            .await
    }

    async fn delete_stack_instances(
        &self,
        name: &str,
        accounts: &[AccountId],
        regions: &[String],
        stacks: Stacks,
        operation_id: &str,
    ) -> Result<String, Error> {
        self.calls.add("cloudformation:DeleteStackInstances", 1);
        self.inner
            .delete_stack_instances(name, accounts, regions, stacks, operation_id)
            .await
    }

    async fn describe_operation(
        &self,
        name: &str,
        operation_id: &str,
    ) -> Result<OperationState, Error> {
        self.calls
            .add("cloudformation:DescribeStackSetOperation", 1);
        self.inner.describe_operation(name, operation_id).await
    }

    async fn operation_failures(
        &self,
        name: &str,
        operation_id: &str,
        limit: usize,
    ) -> Result<Vec<InstanceFailure>, Error> {
        self.calls
            .add("cloudformation:ListStackSetOperationResults", 1);
        self.inner
            .operation_failures(name, operation_id, limit)
            .await
    }
}

impl<T: MessageQueues> MessageQueues for Counted<T> {
    async fn queue_url(&self, name: &str) -> Result<String, Error> {
        self.calls.add("sqs:GetQueueUrl", 1);
        self.inner.queue_url(name).await
    }

    async fn send_batch(
        &self,
        queue_url: &str,
        bodies: &[String],
    ) -> Result<Vec<RejectedMessage>, Error> {
        self.calls.add("sqs:SendMessageBatch", 1);
        self.inner.send_batch(queue_url, bodies).await
    }
}

impl<T: RegistrationQueue> RegistrationQueue for Counted<T> {
    async fn receive(
        &self,
        queue_url: &str,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        self.calls.add("sqs:ReceiveMessage", 1);
        self.inner.receive(queue_url, max, visibility).await
    }

    async fn delete(&self, queue_url: &str, receipt_handle: &str) -> Result<(), Error> {
        self.calls.add("sqs:DeleteMessage", 1);
        self.inner.delete(queue_url, receipt_handle).await
    }

    async fn delete_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> Result<Vec<(String, String)>, Error> {
        self.calls.add("sqs:DeleteMessageBatch", 1);
        self.inner.delete_batch(queue_url, receipt_handles).await
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        visibility: Duration,
    ) -> Result<(), Error> {
        self.calls.add("sqs:ChangeMessageVisibility", 1);
        self.inner
            .change_visibility(queue_url, receipt_handle, visibility)
            .await
    }

    async fn release_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> Result<Vec<(String, String)>, Error> {
        self.calls.add("sqs:ChangeMessageVisibilityBatch", 1);
        self.inner.release_batch(queue_url, receipt_handles).await
    }

    async fn dead_letter(&self, queue_url: &str, body: &str, reason: &str) -> Result<(), Error> {
        self.calls.add("sqs:SendMessage", 1);
        self.inner.dead_letter(queue_url, body, reason).await
    }
}

impl<T: SecretPort> SecretPort for Counted<T> {
    async fn read_current(&self) -> Result<VersionedSecret, Error> {
        self.calls.add("secretsmanager:GetSecretValue", 1);
        self.inner.read_current().await
    }

    async fn replace_current(
        &self,
        expected_version: &str,
        secret: &ApiSecret,
    ) -> Result<ReplaceOutcome, Error> {
        self.calls.add("secretsmanager:PutSecretValue", 1);
        self.inner.replace_current(expected_version, secret).await
    }

    async fn earlier_external_id_suffix(&self) -> Result<Option<ExternalIdSuffix>, Error> {
        self.calls.add("secretsmanager:ListSecretVersionIds", 1);
        self.inner.earlier_external_id_suffix().await
    }
}

impl<T: Trails> Trails for Counted<T> {
    async fn get_trail(&self, name_or_arn: &str) -> Result<Option<TrailDetails>, Error> {
        self.calls.add("cloudtrail:GetTrail", 1);
        self.inner.get_trail(name_or_arn).await
    }
}

/// The adapter's `sts:AssumeRole` into Log Archive (once, on first use) is not counted.
impl<T: LogArchive> LogArchive for Counted<T> {
    async fn bucket_notifications(&self, bucket: &str) -> Result<NotificationConfiguration, Error> {
        self.calls.add("s3:GetBucketNotificationConfiguration", 1);
        self.inner.bucket_notifications(bucket).await
    }

    async fn put_bucket_notifications(
        &self,
        bucket: &str,
        configuration: &NotificationConfiguration,
    ) -> Result<(), Error> {
        self.calls.add("s3:PutBucketNotificationConfiguration", 1);
        self.inner
            .put_bucket_notifications(bucket, configuration)
            .await
    }

    async fn topic_kms_key(&self, topic_arn: &str) -> Result<Option<String>, Error> {
        self.calls.add("sns:GetTopicAttributes", 1);
        self.inner.topic_kms_key(topic_arn).await
    }
}

impl<T: Invocations> Invocations for Counted<T> {
    async fn invoke_async(&self, function: &str, payload: &Value) -> Result<(), Error> {
        self.calls.add("lambda:Invoke", 1);
        self.inner.invoke_async(function, payload).await
    }
}

#[cfg(test)]
mod tests {
    use super::pages;

    #[test]
    fn an_empty_listing_is_one_page_and_a_full_page_is_one() {
        assert_eq!(pages(0, 20), 1);
        assert_eq!(pages(20, 20), 1);
        assert_eq!(pages(21, 20), 2);
        assert_eq!(pages(5000, 100), 50);
    }
}
