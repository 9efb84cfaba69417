//! The `account-lifecycle` handler: one SQS batch from the account queue in, a partial batch
//! response out.
//!
//! 1. Each record's body is read ([`read_message`]): a batch `setup` queued, an EventBridge
//!    event (bare or in SNS), or something that cannot be read.
//! 2. When some record names an account, the organization tree, the management account and
//!    the member StackSet's instances are read - once for the whole batch. For onboarding
//!    batches only, a tree this container read within [`ONBOARD_TREE_MAX_AGE`] serves while it
//!    shows every account they name ACTIVE ([`tree_serves`]).
//! 3. [`plan`] decides; this module carries the plan out: at most one StackSet operation each
//!    to create, repair and delete instances (all accounts of the batch together), the
//!    registration work on the registration queue, unreadable records to the account
//!    dead-letter queue with their reason.
//! 4. Records whose work must be tried again (a busy StackSet, throttling, a failed read) are
//!    reported as batch item failures, and their visibility timeout is raised with the number
//!    of receives, so the queue itself waits: the function never sleeps.
//!
//! StackSet operations are started, not waited for. Each operation id names the accounts and
//! the messages it serves, so a redelivered message finds the operation it started before
//! (`OperationIdAlreadyExistsException`) instead of starting another. What repairs an
//! operation that fails after this function answered: the failed instances stay `OUTDATED`,
//! and the next message about such an account (its next lifecycle event, or `setup` queueing
//! every active account again on a stack update) finds them so and applies the StackSet to
//! them again (`UpdateStackInstances`); a redelivery of the very messages whose operation
//! failed is dead-lettered with the operation's failure, and redriving it is a new message,
//! so a new attempt.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lwct_aws::has_code;
use lwct_aws::organizations::{KeptTree, Organizations};
use lwct_aws::queue::{MessageQueues, send_all};
use lwct_aws::registration_queue::RegistrationQueue;
use lwct_aws::stacksets::{StackSets, Stacks, how_it_ended};
use lwct_domain::config::AccountLifecycleConfig;
use lwct_domain::fate::Fate;
use lwct_domain::lifecycle::{
    Findings, InstanceAction, InstanceChange, InstanceState, ONBOARD_TREE_MAX_AGE, Plan, Received,
    plan, plan_without_findings, read_message, retry_delay_seconds, tree_serves,
};
use lwct_domain::mapping::{OrganizationTree, OuRules};
use lwct_domain::naming::{Arn, Names};
use lwct_domain::stack_set::{OperationStatus, operation_id};
use lwct_domain::{AccountId, Error};
use lwct_runtime::metrics;
use tokio::sync::OnceCell;

/// The AWS services the handler talks to (the SDK in production, fakes in tests).
pub trait Ports: Send + Sync + 'static {
    type StackSets: StackSets;
    type Organizations: Organizations;
    /// The registration queue (sending), the account queue (visibility) and the account
    /// dead-letter queue.
    type Queues: RegistrationQueue;
}

/// What the handler needs to know about the installation.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The region the function runs in: member instances go there.
    pub region: String,
    pub names: Names,
    /// OU -> sub-account rules, only to say in the logs where an account will be registered.
    pub rules: OuRules,
    /// Whether accounts get member instances (configuration assessment is on).
    pub member_instances: bool,
}

impl From<AccountLifecycleConfig> for Settings {
    fn from(config: AccountLifecycleConfig) -> Self {
        Settings {
            region: config.installation.region.as_str().to_owned(),
            names: config.installation.names,
            rules: config.lacework.ou_rules,
            member_instances: config.capability.includes_config(),
        }
    }
}

/// The function.
pub struct Lifecycle<P: Ports> {
    pub stack_sets: P::StackSets,
    pub organizations: P::Organizations,
    pub queues: P::Queues,
    pub settings: Settings,
    /// Never changes: read once per process.
    management: OnceCell<AccountId>,
    /// Queue name -> URL (`GetQueueUrl`), kept while the process lives.
    queue_urls: Mutex<HashMap<String, String>>,
    /// The organization tree this container last read.
    tree: KeptTree,
}

/// What the plan is made from: the organization tree, the management account and the member
/// instances in this region.
type Found = (
    Arc<OrganizationTree>,
    AccountId,
    BTreeMap<AccountId, InstanceState>,
);

/// SQS's `ApproximateReceiveCount` attribute.
const RECEIVE_COUNT: &str = "ApproximateReceiveCount";

impl<P: Ports> Lifecycle<P> {
    pub fn new(
        stack_sets: P::StackSets,
        organizations: P::Organizations,
        queues: P::Queues,
        settings: Settings,
    ) -> Self {
        Self {
            stack_sets,
            organizations,
            queues,
            settings,
            management: OnceCell::new(),
            queue_urls: Mutex::default(),
            tree: KeptTree::default(),
        }
    }

    /// One invocation: every record ends done, back on the queue (a batch item failure) or
    /// in the dead-letter queue; the answer lists the ones going back.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let records = &event.records;
        let received: Vec<Received> = records
            .iter()
            .enumerate()
            .map(|(index, record)| Received {
                message_id: record.message_id.clone().unwrap_or_default(),
                message: read_message(record.body.as_deref(), &format!("$.Records[{index}].body")),
            })
            .collect();

        let (plan, mut outcomes) = self.decide(&received).await;
        for (action, change) in &plan.instances {
            if let Err(outcome) = self.change_instances(*action, change).await {
                worsen(&mut outcomes, &change.records, &outcome);
            }
        }
        self.queue_registrations(&plan, &mut outcomes).await;
        self.dead_letter(records, &mut outcomes).await;

        let mut response = SqsBatchResponse::default();
        let (mut done, mut retried, mut dead_lettered) = (0, 0, 0);
        for (index, record) in records.iter().enumerate() {
            let outcome = outcomes.get(index).cloned().unwrap_or(Fate::Done {
                note: Some("not planned".to_owned()),
            });
            let notes = plan
                .records
                .get(index)
                .map(|r| r.notes.as_slice())
                .unwrap_or_default();
            let message_id = record.message_id.as_deref().unwrap_or_default();
            match &outcome {
                Fate::Done { .. } => done += 1,
                Fate::Retry { .. } => retried += 1,
                Fate::DeadLetter { .. } => dead_lettered += 1,
            }
            match &outcome {
                Fate::Done { note } => tracing::info!(
                    message_id,
                    outcome = "done",
                    reason = note.as_deref().unwrap_or(""),
                    accounts = ?notes,
                    "record settled"
                ),
                Fate::DeadLetter { reason } => tracing::error!(
                    message_id,
                    outcome = "dead-lettered",
                    reason,
                    accounts = ?notes,
                    "record sent to the account dead-letter queue"
                ),
                Fate::Retry { reason } => {
                    tracing::warn!(
                        message_id,
                        outcome = "retry",
                        reason,
                        accounts = ?notes,
                        "record goes back to the queue"
                    );
                    if message_id.is_empty() {
                        // An empty id would make Lambda retry the whole batch; SQS always
                        // gives one, so this is a delivery we cannot hand back.
                        tracing::error!(
                            "a record without a message id cannot be returned to the queue"
                        );
                        continue;
                    }
                    self.postpone(record).await;
                    response.add_failure(message_id);
                }
            }
        }
        let accounts = |action| plan.instances.get(&action).map_or(0, |c| c.accounts.len());
        // One line per invocation, for metric filters.
        tracing::info!(
            records = records.len(),
            done,
            retried,
            dead_lettered,
            instances_to_create = accounts(InstanceAction::Create),
            instances_to_repair = accounts(InstanceAction::Repair),
            instances_to_delete = accounts(InstanceAction::Delete),
            registration_work = plan.registrations.len(),
            "batch handled"
        );
        lwct_runtime::count(
            metrics::ACCOUNTS_ONBOARDED,
            accounts(InstanceAction::Create),
        );
        lwct_runtime::count(metrics::ACCOUNTS_REMOVED, accounts(InstanceAction::Delete));
        lwct_runtime::count(metrics::ACCOUNTS_FAILED, dead_lettered);
        lwct_runtime::count(metrics::REGISTRATIONS_WAITING, retried);
        response
    }

    /// Reads what the plan needs (only when some record names an account) and plans.
    async fn decide(&self, received: &[Received]) -> (Plan, Vec<Fate>) {
        let plan = if !received.iter().any(Received::needs_findings) {
            plan_without_findings(received, "")
        } else {
            match self.find(received).await {
                Ok((tree, management, instances)) => plan(
                    received,
                    &Findings {
                        tree: &tree,
                        management: &management,
                        rules: &self.settings.rules,
                        instances: &instances,
                        member_instances: self.settings.member_instances,
                    },
                ),
                // The environment's fault, not the messages': they come back later even when
                // the error looks permanent (the queue's redrive policy ends that).
                Err(err) => plan_without_findings(
                    received,
                    &format!("could not read the organization or the member instances: {err}"),
                ),
            }
        };
        let outcomes = plan.records.iter().map(|r| r.fate.clone()).collect();
        (plan, outcomes)
    }

    /// The organization tree, the management account and the member instances in this
    /// region, each read once.
    async fn find(&self, received: &[Received]) -> Result<Found, Error> {
        let management = self
            .management
            .get_or_try_init(|| self.organizations.management_account())
            .await?
            .clone();
        // A tree read within ONBOARD_TREE_MAX_AGE serves onboarding batches of accounts it
        // shows ACTIVE; anything else is decided on the organization as it is now.
        let tree = self
            .tree
            .current_or(
                ONBOARD_TREE_MAX_AGE,
                |tree| tree_serves(tree, received),
                self.organizations.organization_tree(),
            )
            .await?;
        let mut instances = BTreeMap::new();
        if self.settings.member_instances {
            for instance in self
                .stack_sets
                .list_stack_instances(&self.settings.names.member_stack_set)
                .await?
            {
                if instance.target.region == self.settings.region {
                    instances.insert(instance.target.account, instance.state);
                }
            }
        }
        Ok((tree, management, instances))
    }

    /// Starts one StackSet operation for `change` without waiting for it. `Err` is what
    /// happens to the records that asked for it.
    async fn change_instances(
        &self,
        action: InstanceAction,
        change: &InstanceChange,
    ) -> Result<(), Fate> {
        let stack_set = &self.settings.names.member_stack_set;
        let region = &self.settings.region;
        let id = operation_id(
            stack_set,
            &format!("{}-{region}", action.word()),
            &change.request_tag,
        );
        let regions = [region.clone()];
        let accounts = &change.accounts;
        let started = match action {
            InstanceAction::Create => {
                self.stack_sets
                    .create_stack_instances(stack_set, accounts, &regions, &id)
                    .await
            }
            InstanceAction::Repair => {
                self.stack_sets
                    .update_stack_instances(stack_set, accounts, &regions, &id)
                    .await
            }
            // The accounts closed or left: their stacks cannot be reached to be deleted.
            InstanceAction::Delete => {
                self.stack_sets
                    .delete_stack_instances(stack_set, accounts, &regions, Stacks::Retain, &id)
                    .await
            }
        };
        match started {
            Ok(operation) => {
                let shown: Vec<&str> = accounts.iter().map(AccountId::as_str).collect();
                tracing::info!(
                    stack_set,
                    region,
                    action = action.word(),
                    operation_id = %operation,
                    accounts = ?shown,
                    "StackSet operation started; not waiting for it"
                );
                Ok(())
            }
            Err(err) if has_code(&err, "OperationIdAlreadyExistsException") => {
                self.started_before(action, change, &id).await
            }
            // Each record's own line ("record goes back to the queue", "... dead-letter
            // queue") logs this reason, with the error.
            Err(err) => Err(Fate::of_failure(
                &err,
                &format!(
                    "StackSet {stack_set}: could not {action} the member instances of {} account(s) in {region}",
                    accounts.len()
                ),
            )),
        }
    }

    /// An earlier delivery of these very messages started operation `id`: fine unless it
    /// failed, in which case starting it again under the same id is impossible and the
    /// records go to the dead-letter queue with the failure (a redriven message is a new
    /// message, so a new operation).
    async fn started_before(
        &self,
        action: InstanceAction,
        change: &InstanceChange,
        id: &str,
    ) -> Result<(), Fate> {
        let stack_set = &self.settings.names.member_stack_set;
        let state = self
            .stack_sets
            .describe_operation(stack_set, id)
            .await
            .map_err(|err| {
                // It exists, so only reading it failed: look again later.
                Fate::Retry {
                    reason: format!("StackSet {stack_set}: could not read operation {id}: {err}"),
                }
            })?;
        match state.status {
            OperationStatus::Failed | OperationStatus::Stopped => {
                let ended = how_it_ended(&self.stack_sets, stack_set, id, &state).await;
                let reason = format!(
                    "StackSet {stack_set}: operation {id} ({action} {} member instance(s)), started by an earlier delivery of these messages, {ended}",
                    change.accounts.len(),
                );
                tracing::error!(
                    stack_set,
                    operation_id = id,
                    reason,
                    "StackSet operation failed"
                );
                Err(Fate::DeadLetter { reason })
            }
            status => {
                tracing::info!(
                    stack_set,
                    operation_id = id,
                    status = status.as_str(),
                    "operation already started by an earlier delivery of these messages"
                );
                Ok(())
            }
        }
    }

    /// Queues the registration work of records whose other work went through (the others
    /// come back and ask again).
    async fn queue_registrations(&self, plan: &Plan, outcomes: &mut [Fate]) {
        let planned: Vec<_> = plan
            .registrations
            .iter()
            .filter(|p| {
                p.records
                    .iter()
                    .any(|index| outcomes.get(*index).is_some_and(Fate::is_done))
            })
            .collect();
        if planned.is_empty() {
            return;
        }
        let bodies: Vec<String> = planned.iter().map(|p| p.work.to_message()).collect();
        let queue = &self.settings.names.registration_queue;
        let sent = async {
            let url = self.queue_url(queue).await?;
            send_all(&self.queues, &url, &bodies, Duration::from_millis(200)).await
        };
        match sent.await {
            Ok(count) => tracing::info!(
                queue,
                count,
                work = ?bodies,
                "registration work queued"
            ),
            Err(err) => {
                // Sending again is harmless: the drain's work is idempotent.
                let outcome = Fate::Retry {
                    reason: format!("could not queue registration work on {queue}: {err}"),
                };
                for planned in &planned {
                    worsen(outcomes, &planned.records, &outcome);
                }
            }
        }
    }

    /// The URL of the queue `name`, looked up once per process (`GetQueueUrl`).
    async fn queue_url(&self, name: &str) -> Result<String, Error> {
        let known = self
            .queue_urls
            .lock()
            .ok()
            .and_then(|urls| urls.get(name).cloned());
        if let Some(url) = known {
            return Ok(url);
        }
        let url = self.queues.queue_url(name).await?;
        if let Ok(mut urls) = self.queue_urls.lock() {
            urls.insert(name.to_owned(), url.clone());
        }
        Ok(url)
    }

    /// Sends each record that must be given up on to the account dead-letter queue with its
    /// reason; one that cannot be sent there goes back to the queue instead.
    async fn dead_letter(&self, records: &[SqsMessage], outcomes: &mut [Fate]) {
        let queue = &self.settings.names.account_dead_letter_queue;
        for (index, record) in records.iter().enumerate() {
            let Some(Fate::DeadLetter { reason }) = outcomes.get(index).cloned() else {
                continue;
            };
            let body = record
                .body
                .as_deref()
                .filter(|body| !body.is_empty())
                .unwrap_or("(the message had no body)");
            let sent = async {
                let url = self.queue_url(queue).await?;
                self.queues.dead_letter(&url, body, &reason).await
            };
            if let Err(err) = sent.await {
                outcomes[index] = Fate::Retry {
                    reason: format!(
                        "{reason} - and it could not be sent to the dead-letter queue {queue}: {err}"
                    ),
                };
            }
        }
    }

    /// Keeps a record that goes back hidden for longer with each receive; a failure here
    /// only means it comes back after the queue's own visibility timeout.
    async fn postpone(&self, record: &SqsMessage) {
        let (Some(receipt_handle), Some(queue)) = (
            record.receipt_handle.as_deref(),
            record
                .event_source_arn
                .as_deref()
                .and_then(|arn| Arn::parse(arn).ok())
                .map(|arn| arn.resource),
        ) else {
            tracing::warn!("a record without receipt handle or source queue keeps its visibility");
            return;
        };
        let receive_count = record
            .attributes
            .get(RECEIVE_COUNT)
            .and_then(|count| count.parse().ok())
            .unwrap_or(1);
        let message_id = record.message_id.as_deref().unwrap_or_default();
        let delay = retry_delay_seconds(receive_count, message_id);
        let changed = async {
            let url = self.queue_url(&queue).await?;
            let delay = Duration::from_secs(u64::from(delay));
            self.queues
                .change_visibility(&url, receipt_handle, delay)
                .await
        };
        match changed.await {
            Ok(()) => tracing::info!(
                message_id,
                receive_count,
                delay_seconds = delay,
                "record postponed"
            ),
            Err(err) => tracing::warn!(message_id, error = %err, "could not postpone the record"),
        }
    }
}

/// Makes `outcome` what happens to each of the records at `indices`, unless worse already does.
fn worsen(outcomes: &mut [Fate], indices: &[usize], outcome: &Fate) {
    for index in indices {
        if let Some(slot) = outcomes.get_mut(*index) {
            slot.worsen(outcome.clone());
        }
    }
}
