//! Create and Update: make the installation what the configuration says. Running it twice
//! changes nothing the second time; after a failure or a timeout, running it again finishes
//! the work.

use lwct_aws::log_archive::LogArchive;
use lwct_aws::organizations::Organizations;
use lwct_aws::queue::{MessageQueues, send_all};
use lwct_aws::secrets::SecretPort;
use lwct_aws::stacksets::{Convergence, StackSets, converge_stack_set};
use lwct_domain::Error;
use lwct_domain::bucket_notifications::{Change, notification_id};
use lwct_domain::drain::cloudtrail_integration_name;
use lwct_domain::external_id::ExternalIdSuffix;
use lwct_domain::lacework::{AwsCtSqsData, Scope};
use lwct_domain::lifecycle::AccountWork;
use lwct_domain::stack_set::{StackInstanceTarget, StackSetSpec};
use lwct_lacework::Client;

use crate::flow::{Outputs, Ports, Run, Setup};
use crate::onboarding::onboarding_batches;
use crate::preflight::Checked;
use lwct_domain::setup_plan::{
    self as plan, IntegrationLevel, Landscape, NotificationQueue, TrailNotifications, TrailPlan,
};

impl<P: Ports> Setup<P> {
    /// Checks everything, then converges. A preflight failure is [`Error::Preflight`]
    /// (nothing was changed); any other error may come after changes.
    pub async fn converge(&self, run: &Run) -> Result<Outputs, Error> {
        run.progress.step("preflight checks");
        let checked = self.preflight().await.map_err(|problems| {
            let listed: Vec<String> = problems
                .iter()
                .enumerate()
                .map(|(n, problem)| format!("({}) {problem}", n + 1))
                .collect();
            Error::Preflight(format!(
                "{} problem(s), nothing was changed: {}",
                problems.len(),
                listed.join(" ")
            ))
        })?;
        let names = &self.config.installation.names;
        let mut outputs = Outputs::new();
        outputs.insert("ManagementAccountId".into(), checked.management.to_string());

        run.progress
            .step("storing the Lacework token and the external id suffix in the secret");
        let suffix = self.store_token_and_suffix(&checked).await?;
        let landscape = Landscape {
            management: checked.management.clone(),
            trail: checked.trail.clone(),
            suffix,
        };
        let lacework = self.lacework()?;

        match &landscape.trail {
            Some(trail) => {
                let path = TrailNotifications::of(trail);
                let queue = match &trail.topic_arn {
                    Some(topic_arn) => {
                        self.converge_trail_topic_path(run, &landscape, trail, topic_arn)
                            .await?
                    }
                    None => {
                        self.converge_s3_notifications_path(run, &landscape, trail)
                            .await?
                    }
                };
                run.progress.step(format!(
                    "registering the CloudTrail integration in Lacework ({} level, queue {})",
                    checked.level.word(),
                    queue.url
                ));
                self.register_cloudtrail(&lacework, &checked, &landscape.suffix, &queue.url)
                    .await?;
                // What the other path left, from before the trail gained or lost its topic.
                match path {
                    TrailNotifications::TrailTopic => {
                        self.remove_s3_notifications_path(
                            run,
                            names,
                            &self.config.installation.prefix,
                        )
                        .await?;
                    }
                    TrailNotifications::S3EventNotifications => {
                        self.remove_stack_sets(run, &[&names.audit_stack_set])
                            .await?;
                    }
                }
                outputs.insert(
                    "CrossAccountRoleArn".into(),
                    plan::log_archive_role_arn(&self.config),
                );
                outputs.insert("QueueUrl".into(), queue.url.clone());
                outputs.insert("TrailNotifications".into(), path.word().into());
                outputs.insert(
                    "CloudTrailIntegration".into(),
                    cloudtrail_integration_name(&self.config.installation.prefix),
                );
                outputs.insert("IntegrationLevel".into(), checked.level.word().into());
            }
            None => {
                // CloudTrail is not (or no longer) monitored.
                self.remove_cloudtrail_side(run, &lacework, &self.config.installation.prefix)
                    .await?;
            }
        }

        if self.config.capability.includes_config() {
            let member = plan::member_stack_set(&self.config, &landscape);
            self.converge_one(run, &member, &[]).await?;
            outputs.insert("MemberStackSetName".into(), member.name.clone());
            if self.config.monitor_existing_accounts {
                let queued = self.queue_existing_accounts(run, &checked).await?;
                outputs.insert("AccountsQueued".into(), queued.to_string());
            }
        } else {
            self.remove_member_side(run, &lacework, &self.config.installation.prefix)
                .await?;
        }
        run.progress.finish();
        Ok(outputs)
    }

    /// The trail notifies a topic: the Log Archive role consumes the Audit queue, which
    /// subscribes to the topic. Returns that queue.
    async fn converge_trail_topic_path(
        &self,
        run: &Run,
        landscape: &Landscape,
        trail: &TrailPlan,
        topic_arn: &str,
    ) -> Result<NotificationQueue, Error> {
        let queue = plan::audit_queue(&self.config);
        let log_archive = plan::log_archive_stack_set(&self.config, landscape, trail, &queue);
        let target = plan::instance_in(&self.config, &self.config.accounts.log_archive);
        self.converge_one(run, &log_archive, &[target]).await?;
        let audit = plan::audit_stack_set(&self.config, landscape, topic_arn);
        let target = plan::instance_in(&self.config, &self.config.accounts.audit);
        self.converge_one(run, &audit, &[target]).await?;
        Ok(queue)
    }

    /// The trail notifies no topic: key, topic and queue in Log Archive (a StackSet), the
    /// Log Archive role consuming that queue, then the bucket's event notification to the
    /// topic, merged into the bucket's configuration. Returns the queue.
    async fn converge_s3_notifications_path(
        &self,
        run: &Run,
        landscape: &Landscape,
        trail: &TrailPlan,
    ) -> Result<NotificationQueue, Error> {
        let log_archive_account = &self.config.accounts.log_archive;
        // The trail moved to another bucket: ours leaves the one the StackSet still names.
        let names = &self.config.installation.names;
        if let Some(existing) = self
            .stack_sets
            .describe_stack_set(&names.s3_notifications)
            .await?
        {
            if let Some(old) = existing
                .parameters
                .get("CloudTrailBucketName")
                .filter(|old| !old.is_empty() && **old != trail.bucket)
            {
                let id = notification_id(&self.config.installation.prefix);
                self.remove_bucket_notification(run, old, &id).await?;
            }
        }
        let notifications = plan::s3_notifications_stack_set(&self.config, landscape, trail);
        let target = plan::instance_in(&self.config, log_archive_account);
        self.converge_one(run, &notifications, &[target]).await?;

        let topic_arn = plan::s3_notifications_topic_arn(&self.config);
        run.progress.step(format!(
            "reading the KMS key of topic {topic_arn} in Log Archive"
        ));
        let key = self.log_archive.topic_kms_key(&topic_arn).await?;
        if key.is_none() {
            tracing::warn!(
                operation = "sns:GetTopicAttributes",
                account = %log_archive_account,
                topic = %topic_arn,
                "the notification topic has no KMS key; the Log Archive role gets no kms:Decrypt for its queue"
            );
        }
        let queue = plan::log_archive_queue(&self.config, key);
        let log_archive = plan::log_archive_stack_set(&self.config, landscape, trail, &queue);
        let target = plan::instance_in(&self.config, log_archive_account);
        self.converge_one(run, &log_archive, &[target]).await?;

        self.add_bucket_notification(run, trail).await?;
        Ok(queue)
    }

    /// Adds (or corrects) our event notification on the trail bucket, keeping every other
    /// configuration of the bucket as it is.
    async fn add_bucket_notification(&self, run: &Run, trail: &TrailPlan) -> Result<(), Error> {
        const OPERATION: &str = "s3:PutBucketNotificationConfiguration";
        let ours = plan::log_files_notification(&self.config, trail);
        let id = ours.id.clone().unwrap_or_default();
        let bucket = &trail.bucket;
        let account = &self.config.accounts.log_archive;
        run.progress.step(format!(
            "adding event notification {id} (s3:ObjectCreated:* under {} to {}) to bucket {bucket} in Log Archive {account}",
            ours.prefix(),
            ours.destination
        ));
        let current = self.log_archive.bucket_notifications(bucket).await?;
        let merged = current.with(&ours).map_err(|overlap| Error::Aws {
            operation: OPERATION.into(),
            code: None,
            message: plan::overlap_problem(&self.config, bucket, &overlap),
            retryable: false,
        })?;
        if merged.change != Change::Unchanged {
            self.log_archive
                .put_bucket_notifications(bucket, &merged.configuration)
                .await?;
        }
        tracing::info!(
            operation = OPERATION,
            account = %account,
            bucket = %bucket,
            notification_id = %id,
            prefix = %ours.prefix(),
            destination = %ours.destination,
            change = ?merged.change,
            others_kept = merged.kept,
            "the trail bucket's event notification is in place; the bucket's other configurations are unchanged"
        );
        Ok(())
    }

    /// Puts the fresh token in the secret and draws the external id suffix if the secret has
    /// none yet; a suffix already there is kept forever. Returns the suffix.
    async fn store_token_and_suffix(&self, checked: &Checked) -> Result<ExternalIdSuffix, Error> {
        let token = checked.token.clone();
        let stored = self
            .secrets
            .update(|current| {
                let (next, drawn) = current
                    .clone()
                    .with_token(token.clone())
                    .ensure_external_id_suffix()?;
                if drawn {
                    tracing::info!(
                        operation = "secretsmanager:PutSecretValue",
                        "drew this installation's external id suffix"
                    );
                }
                Ok(Some(next))
            })
            .await?;
        stored.external_id_suffix.ok_or_else(|| {
            Error::ExternalId("the secret holds no external id suffix after writing one".into())
        })
    }

    async fn converge_one(
        &self,
        run: &Run,
        spec: &StackSetSpec,
        targets: &[StackInstanceTarget],
    ) -> Result<Convergence, Error> {
        let shown: Vec<String> = targets.iter().map(ToString::to_string).collect();
        run.progress.step(format!(
            "StackSet {} with instances [{}]",
            spec.name,
            shown.join(", ")
        ));
        let wait = self.operation_wait(run.deadline);
        let done =
            converge_stack_set(&self.stack_sets, spec, targets, &run.request_tag, &wait).await?;
        tracing::info!(
            operation = "cloudformation:StackSets",
            stack_set = %spec.name,
            region = %self.config.installation.region,
            created = done.stack_set_created,
            updated_for = ?done.updated_for,
            instances_created = ?done.instances_created.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "StackSet converged"
        );
        Ok(done)
    }

    /// Registers (or reconciles) the CloudTrail integration at its level, and removes a copy
    /// left at the other level from before OU rules were set or removed.
    async fn register_cloudtrail(
        &self,
        lacework: &Client,
        checked: &Checked,
        suffix: &ExternalIdSuffix,
        queue_url: &str,
    ) -> Result<(), Error> {
        let default_scope = plan::default_scope(&self.config)?;
        let (scope, other) = match &checked.level {
            IntegrationLevel::Account(sub_account) => {
                (Scope::Account(sub_account.clone()), Scope::Organization)
            }
            IntegrationLevel::Organization(_) => (Scope::Organization, default_scope),
        };
        let spec = plan::cloudtrail_integration(
            &self.config,
            suffix,
            checked.mapping.as_ref(),
            queue_url,
        )?;
        let registration = lacework.register_or_reconcile(&scope, &spec).await?;
        tracing::info!(
            operation = "lacework:register",
            %scope,
            integration = %registration.record.intg_guid,
            outcome = ?registration.outcome,
            account = %self.config.accounts.log_archive,
            "CloudTrail integration in place"
        );
        for stale in lacework
            .find_by_name::<AwsCtSqsData>(&other, &spec.name)
            .await?
        {
            lacework.delete_if_exists(&other, &stale.intg_guid).await?;
            tracing::info!(
                operation = "lacework:deregister",
                scope = %other,
                integration = %stale.intg_guid,
                "removed the CloudTrail integration left at the other level"
            );
        }
        Ok(())
    }

    /// Queues every ACTIVE account (but the management account) for `account-lifecycle`.
    async fn queue_existing_accounts(&self, run: &Run, checked: &Checked) -> Result<usize, Error> {
        run.progress
            .step("queueing the organization's ACTIVE accounts for onboarding");
        let accounts = self.organizations.list_accounts().await?;
        tracing::info!(
            operation = "organizations:ListAccounts",
            account = %checked.management,
            "the management account is not onboarded: StackSets cannot deploy to it through AWSControlTowerExecution"
        );
        let batches = onboarding_batches(&accounts, &checked.management);
        let bodies: Vec<String> = batches.iter().map(AccountWork::to_message).collect();
        let queue_name = &self.config.installation.names.account_queue;
        let queue_url = self.queues.queue_url(queue_name).await?;
        send_all(&self.queues, &queue_url, &bodies, self.timing.queue_retry).await?;
        let queued: usize = batches.iter().map(AccountWork::account_count).sum();
        tracing::info!(
            operation = "sqs:SendMessageBatch",
            queue = %queue_name,
            accounts = queued,
            messages = bodies.len(),
            "existing accounts queued for onboarding"
        );
        Ok(queued)
    }
}
