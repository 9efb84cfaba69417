//! Delete: remove every stack instance, StackSet and Lacework integration the installation
//! made. What is already gone counts as removed, so a repeated Delete succeeds.

use std::collections::BTreeSet;

use lwct_aws::log_archive::LogArchive;
use lwct_aws::stacksets::{StackSets, remove_existing_stack_set};
use lwct_domain::Error;
use lwct_domain::bucket_notifications::notification_id;
use lwct_domain::drain::{cloudtrail_integration_name, is_unknown_sub_account};
use lwct_domain::lacework::{AwsCtSqsData, Scope, SubAccount};
use lwct_domain::naming::{NamePrefix, Names};
use lwct_lacework::Client;

use crate::flow::{Outputs, Ports, Run, Setup};
use lwct_domain::setup_plan::{self as plan, IntegrationLevel};

impl<P: Ports> Setup<P> {
    /// Removes what the installation with `prefix` made: its Lacework integrations, then
    /// the member, Audit and Log Archive StackSets with their instances. Every part is
    /// attempted; the error lists each part that failed.
    pub async fn delete(&self, run: &Run, prefix: &NamePrefix) -> Result<Outputs, Error> {
        let removed = match self.lacework() {
            Ok(lacework) => vec![
                self.remove_member_side(run, &lacework, prefix).await,
                self.remove_cloudtrail_side(run, &lacework, prefix).await,
            ],
            Err(err) => vec![Err(err)],
        };
        let failures: Vec<String> = (removed.into_iter())
            .filter_map(|part| part.err().map(|err| err.to_string()))
            .collect();
        run.progress.finish();
        if failures.is_empty() {
            Ok(Outputs::new())
        } else {
            Err(Error::Aws {
                operation: "setup:Delete".into(),
                code: None,
                message: format!(
                    "{} part(s) could not be removed: {}; retry the delete (what is gone stays gone)",
                    failures.len(),
                    failures.join("; ")
                ),
                retryable: true,
            })
        }
    }

    /// The CloudTrail side: our event notification on the trail bucket and the S3
    /// notifications StackSet, the Audit and Log Archive StackSets, then the CloudTrail
    /// integration (at both levels).
    pub async fn remove_cloudtrail_side(
        &self,
        run: &Run,
        lacework: &Client,
        prefix: &NamePrefix,
    ) -> Result<(), Error> {
        let names = &Names::new(prefix);
        self.remove_s3_notifications_path(run, names, prefix)
            .await?;
        self.remove_stack_sets(run, &[&names.audit_stack_set, &names.log_archive_stack_set])
            .await?;
        run.progress
            .step("removing the CloudTrail integration from Lacework");
        let name = cloudtrail_integration_name(prefix);
        let mut scopes = vec![Scope::Organization];
        scopes.extend(plan::default_scope(&self.config));
        for scope in scopes {
            let found = match lacework.find_by_name::<AwsCtSqsData>(&scope, &name).await {
                Ok(found) => found,
                Err(err) if is_unknown_sub_account(&err) => continue,
                Err(err) => return Err(err),
            };
            for record in found {
                lacework.delete_if_exists(&scope, &record.intg_guid).await?;
                tracing::info!(
                    operation = "lacework:deregister",
                    %scope,
                    integration = %record.intg_guid,
                    "CloudTrail integration removed"
                );
            }
        }
        Ok(())
    }

    /// Removes each StackSet with its instances; already gone is fine (and not a step).
    pub async fn remove_stack_sets(&self, run: &Run, stack_sets: &[&str]) -> Result<(), Error> {
        for stack_set in stack_sets {
            if self
                .stack_sets
                .describe_stack_set(stack_set)
                .await?
                .is_some()
            {
                self.remove_existing_stack_set(run, stack_set).await?;
            }
        }
        Ok(())
    }

    /// Removes a StackSet just seen to exist, with its instances.
    async fn remove_existing_stack_set(&self, run: &Run, stack_set: &str) -> Result<(), Error> {
        run.progress
            .step(format!("removing StackSet {stack_set} and its instances"));
        let wait = self.operation_wait(run.deadline);
        let deleted =
            remove_existing_stack_set(&self.stack_sets, stack_set, &run.request_tag, &wait).await?;
        tracing::info!(
            operation = "cloudformation:DeleteStackSet",
            stack_set = %stack_set,
            instances_deleted = deleted.len(),
            "StackSet removed"
        );
        Ok(())
    }

    /// The S3 notification path of a trail without a topic: our event notification on the
    /// bucket (the others' stay as they are), then the S3 notifications StackSet. The
    /// StackSet names the bucket (`CloudTrailBucketName`) and is removed last, so a retry
    /// still finds the bucket; without it, setup never touched a bucket.
    pub async fn remove_s3_notifications_path(
        &self,
        run: &Run,
        names: &Names,
        prefix: &NamePrefix,
    ) -> Result<(), Error> {
        let Some(stack_set) = self
            .stack_sets
            .describe_stack_set(&names.s3_notifications)
            .await?
        else {
            return Ok(());
        };
        if let Some(bucket) = stack_set
            .parameters
            .get("CloudTrailBucketName")
            .filter(|b| !b.is_empty())
        {
            self.remove_bucket_notification(run, bucket, &notification_id(prefix))
                .await?;
        }
        self.remove_existing_stack_set(run, &names.s3_notifications)
            .await
    }

    /// Removes our event notification (Id `id`) from `bucket`, keeping the others; a bucket
    /// that is gone, or without ours, is left alone.
    pub(crate) async fn remove_bucket_notification(
        &self,
        run: &Run,
        bucket: &str,
        id: &str,
    ) -> Result<(), Error> {
        let account = &self.config.accounts.log_archive;
        run.progress.step(format!(
            "removing event notification {id} from bucket {bucket} in Log Archive {account}"
        ));
        let current = match self.log_archive.bucket_notifications(bucket).await {
            Ok(current) => current,
            Err(Error::Aws {
                code: Some(code), ..
            }) if code == "NoSuchBucket" => {
                tracing::info!(
                    operation = "s3:GetBucketNotificationConfiguration",
                    account = %account,
                    bucket,
                    "the trail bucket is gone, and our event notification with it"
                );
                return Ok(());
            }
            Err(err) => return Err(err),
        };
        let Some(left) = current.without(id) else {
            tracing::info!(
                bucket,
                notification_id = id,
                "our event notification is already gone"
            );
            return Ok(());
        };
        self.log_archive
            .put_bucket_notifications(bucket, &left)
            .await?;
        tracing::info!(
            operation = "s3:PutBucketNotificationConfiguration",
            account = %account,
            bucket,
            notification_id = id,
            others_kept = left.notifications.len(),
            "removed our event notification from the trail bucket; its other configurations are unchanged"
        );
        Ok(())
    }

    /// The member side: the member StackSet with every instance (their custom resources
    /// deregister the accounts), then any `AwsCfg` integration named with the prefix that
    /// is left in the sub-accounts the configuration names.
    pub async fn remove_member_side(
        &self,
        run: &Run,
        lacework: &Client,
        prefix: &NamePrefix,
    ) -> Result<(), Error> {
        let names = &Names::new(prefix);
        self.remove_stack_sets(run, &[&names.member_stack_set])
            .await?;
        run.progress
            .step("removing the accounts' AwsCfg integrations from Lacework");
        let start = plan::member_integration_prefix(prefix);
        for scope in self.member_scopes() {
            let records = match lacework.list(&scope).await {
                Ok(records) => records,
                Err(err) if is_unknown_sub_account(&err) => continue,
                Err(err) => return Err(err),
            };
            for record in records
                .iter()
                .filter(|r| r.kind == "AwsCfg" && r.name.starts_with(&start))
            {
                lacework.delete_if_exists(&scope, &record.intg_guid).await?;
                tracing::info!(
                    operation = "lacework:deregister",
                    %scope,
                    integration = %record.intg_guid,
                    name = %record.name,
                    "account integration removed"
                );
            }
        }
        Ok(())
    }

    /// The sub-accounts that may hold the accounts' integrations: the default one and every
    /// one an OU rule names.
    fn member_scopes(&self) -> Vec<Scope> {
        let mut sub_accounts: BTreeSet<String> =
            BTreeSet::from([plan::default_lacework_account(&self.config).to_owned()]);
        if let Ok(IntegrationLevel::Organization(rules)) = plan::integration_level(&self.config) {
            sub_accounts.extend(rules.rules().iter().map(|rule| rule.sub_account.clone()));
        }
        sub_accounts
            .iter()
            .filter_map(|name| SubAccount::new(name).ok())
            .map(Scope::Account)
            .collect()
    }
}
