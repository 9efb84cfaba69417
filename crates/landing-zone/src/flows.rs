//! The product's flows on a landing zone, with the harness playing AWS's part where moto
//! cannot:
//!
//! * **lifecycle events**: sent to the account queue as EventBridge's SQS target does (the
//!   body is the event), then delivered to `account-lifecycle` as Lambda's event source
//!   mapping does ([`crate::event_source`]), batch after batch until no message is visible;
//! * **member stack instances' custom resources**: after every batch, what moto's
//!   CloudFormation published to the registration topic is delivered to
//!   `sns-custom-resource`, and its answers relayed back ([`crate::registration_topic`]);
//! * **schedules**: EventBridge's `Scheduled Event` for `auth-refresh` and for the
//!   registration drain of `sns-custom-resource` ([`Schedule`]);
//! * **organization changes**: accounts created, moved and closed in moto's Organizations,
//!   with the events AWS would emit built from the fixtures ([`crate::events`]).

use std::time::{Duration, Instant};

use lwct_domain::AccountId;
use serde::Serialize;
use serde_json::{Value, json};

use crate::LandingZone;
use crate::error::{Error, Result};
use crate::event_source::{BatchOutcome, QueueSource};
use crate::events::{LifecycleEvents, scheduled_event};
use crate::registration_topic::{self, DeliveredRequest};
use crate::runtime_api::Invoked;
use crate::seed::{self, Account, Moved};
use crate::state::{self, QueueCounts, Registration, StackInstanceView};

/// Most batches one run of the account queue delivers (a bound, should a function keep
/// queueing work for itself).
const MOST_BATCHES: usize = 1000;

/// What delivering the account queue came to.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountQueueRun {
    /// Each batch handed to `account-lifecycle`.
    pub batches: Vec<BatchOutcome>,
    /// The registration topic's notifications delivered after the batches.
    pub registration_requests: Vec<DeliveredRequest>,
}

impl AccountQueueRun {
    /// Messages left in the queue (reported failed, or of a failed invocation).
    pub fn failed_messages(&self) -> usize {
        self.batches.iter().map(|batch| batch.failed.len()).sum()
    }

    /// Whether every batch was handled and every registration request answered `SUCCESS`.
    pub fn succeeded(&self) -> bool {
        self.batches
            .iter()
            .all(|batch| batch.failed.is_empty() && batch.invocation.answer.is_response())
            && self
                .registration_requests
                .iter()
                .all(|request| request.status() == Some("SUCCESS"))
    }
}

/// A scheduled run: which function EventBridge's rule invokes, and the rule's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// `auth-refresh`, rule `<prefix>-token-refresh` (hourly in template.yaml).
    AuthRefresh,
    /// `sns-custom-resource`'s registration drain, rule `<prefix>-registration-drain`.
    Drain,
    /// `sns-custom-resource`'s reconcile, rule `<prefix>-reconcile` (its input is
    /// `{"action": "reconcile"}`, not a scheduled event).
    Reconcile,
}

impl Schedule {
    /// The function the rule invokes.
    pub fn function(self) -> &'static str {
        match self {
            Schedule::AuthRefresh => "auth-refresh",
            Schedule::Drain | Schedule::Reconcile => "sns-custom-resource",
        }
    }

    fn rule_suffix(self) -> &'static str {
        match self {
            Schedule::AuthRefresh => "token-refresh",
            Schedule::Drain => "registration-drain",
            Schedule::Reconcile => "reconcile",
        }
    }

    /// `auth-refresh`, `drain` or `reconcile`, as the command line names them.
    pub fn parse(text: &str) -> Option<Schedule> {
        match text {
            "auth-refresh" => Some(Schedule::AuthRefresh),
            "drain" => Some(Schedule::Drain),
            "reconcile" => Some(Schedule::Reconcile),
            _ => None,
        }
    }
}

/// How long the registration drain may be run for.
#[derive(Debug, Clone, Copy)]
pub struct DrainLimits {
    /// Most drain runs.
    pub max_runs: usize,
    /// Give up after this long.
    pub timeout: Duration,
    /// How long to wait while the queue holds only postponed (invisible or delayed) work.
    pub pause: Duration,
    /// Least time between the starts of two runs: the schedule's period, shortened
    /// (`Duration::ZERO` runs them back to back). Lacework's rate limit counts requests per
    /// window, so runs closer than the window only meet the limit again.
    pub interval: Duration,
}

impl Default for DrainLimits {
    fn default() -> Self {
        DrainLimits {
            max_runs: 50,
            timeout: Duration::from_secs(180),
            pause: Duration::from_millis(500),
            interval: Duration::ZERO,
        }
    }
}

/// What draining the registration queue came to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainRun {
    /// Each run of the drain.
    pub runs: Vec<Invoked>,
    /// The registration queue when the drain stopped.
    pub remaining: QueueCounts,
    pub duration_ms: u128,
}

impl DrainRun {
    /// Whether the queue was emptied and no run failed.
    pub fn emptied(&self) -> bool {
        self.remaining.total() == 0 && self.runs.iter().all(|run| run.answer.is_response())
    }
}

impl LandingZone {
    /// Builds the lifecycle events of this organization.
    pub fn lifecycle_events(&self) -> LifecycleEvents {
        LifecycleEvents::new(&self.options.root, &self.state.organization.management)
    }

    /// The account queue as `account-lifecycle`'s event source.
    pub async fn account_queue(&self) -> Result<QueueSource> {
        QueueSource::new(&self.management, &self.state.product.account_queue_url).await
    }

    /// Sends `event` to the account queue, as the EventBridge rule's SQS target does.
    pub async fn send_lifecycle_event(&self, event: &Value) -> Result<()> {
        self.account_queue().await?.send(&event.to_string()).await
    }

    /// Sends `event` to the account queue and delivers the queue ([`Self::run_account_queue`]).
    pub async fn deliver_lifecycle_event(&self, event: &Value) -> Result<AccountQueueRun> {
        self.send_lifecycle_event(event).await?;
        self.run_account_queue().await
    }

    /// Delivers what is visible in the account queue to `account-lifecycle`, batch by batch,
    /// and after each batch the registration requests it caused to `sns-custom-resource`.
    pub async fn run_account_queue(&self) -> Result<AccountQueueRun> {
        let source = self.account_queue().await?;
        let function = self.function("account-lifecycle")?;
        let mut run = AccountQueueRun::default();
        while run.batches.len() < MOST_BATCHES {
            let Some(batch) = source.deliver_batch(&function).await? else {
                break;
            };
            run.batches.push(batch);
            run.registration_requests
                .extend(self.deliver_registration_requests().await?);
        }
        Ok(run)
    }

    /// Delivers every waiting notification of the registration topic to
    /// `sns-custom-resource` (and relays the answers to moto's CloudFormation).
    pub async fn deliver_registration_requests(&self) -> Result<Vec<DeliveredRequest>> {
        let function = self.function("sns-custom-resource")?;
        let delivered = registration_topic::deliver_waiting(self, &function).await?;
        if let Ok(mut log) = self.delivered.lock() {
            log.extend(delivered.iter().cloned());
        }
        Ok(delivered)
    }

    /// Every registration topic notification this landing zone delivered, in order.
    pub fn delivered_requests(&self) -> Vec<DeliveredRequest> {
        self.delivered
            .lock()
            .map(|log| log.clone())
            .unwrap_or_default()
    }

    /// Publishes `request` to the registration topic, as anyone the topic's policy lets
    /// publish could, and delivers it. A request without a `ResponseURL` gets the harness's
    /// listener. For requests that did not come from a stack (the spoofing tests).
    pub async fn publish_registration_request(
        &self,
        mut request: Value,
    ) -> Result<Vec<DeliveredRequest>> {
        if request.is_object() && request.get("ResponseURL").is_none() {
            let id = crate::runtime_api::random_request_id();
            request["ResponseURL"] = json!(self.listener.response_url(&id));
        }
        aws_sdk_sns::Client::new(&self.management)
            .publish()
            .topic_arn(&self.state.product.registration_topic_arn)
            .message(request.to_string())
            .send()
            .await
            .map_err(|err| crate::error::aws("sns:Publish", err))?;
        self.deliver_registration_requests().await
    }

    /// Runs a schedule once: EventBridge's `Scheduled Event` to its function.
    pub async fn tick(&self, schedule: Schedule) -> Result<Invoked> {
        let rule = format!("{}-{}", self.names_prefix(), schedule.rule_suffix());
        let event = match schedule {
            // The rule's constant input, as template.yaml gives it.
            Schedule::Reconcile => json!({"action": "reconcile"}),
            _ => scheduled_event(&self.state.organization.management, &rule),
        };
        self.invoke(schedule.function(), event).await
    }

    /// The registration queue's counts.
    pub async fn registration_queue(&self) -> Result<QueueCounts> {
        state::queue_counts(&self.management, &self.state.product.registration_queue_url).await
    }

    /// Runs the registration drain until the registration queue is empty, or `limits` say
    /// stop. While the queue holds only postponed work (rate limited), it waits.
    pub async fn drain_registrations(&self, limits: DrainLimits) -> Result<DrainRun> {
        let started = Instant::now();
        let mut runs = Vec::new();
        let mut last_run: Option<Instant> = None;
        let mut remaining = self.registration_queue().await?;
        while remaining.total() > 0
            && runs.len() < limits.max_runs
            && started.elapsed() < limits.timeout
        {
            let next_run_due = last_run.map(|at| at + limits.interval);
            if let Some(due) = next_run_due.filter(|due| *due > Instant::now()) {
                tokio::time::sleep_until(due.into()).await;
            } else if remaining.visible == 0 {
                tokio::time::sleep(limits.pause).await;
            } else {
                last_run = Some(Instant::now());
                runs.push(self.tick(Schedule::Drain).await?);
            }
            remaining = self.registration_queue().await?;
        }
        Ok(DrainRun {
            runs,
            remaining,
            duration_ms: started.elapsed().as_millis(),
        })
    }

    /// Creates account `name` in OU path `ou_path` in moto's Organizations.
    pub async fn add_account(&mut self, name: &str, ou_path: &str) -> Result<Account> {
        seed::add_account(
            &self.management,
            &mut self.state.organization,
            name,
            ou_path,
        )
        .await
    }

    /// Moves account `id` into OU path `ou_path` in moto's Organizations.
    pub async fn move_account(&mut self, id: &AccountId, ou_path: &str) -> Result<Moved> {
        seed::move_account(&self.management, &mut self.state.organization, id, ou_path).await
    }

    /// Closes account `id` in moto's Organizations (it becomes `SUSPENDED`).
    pub async fn close_account(&mut self, id: &AccountId) -> Result<()> {
        seed::close_account(&self.management, &mut self.state.organization, id).await
    }

    /// Creates account `name` in `ou_path` and delivers Control Tower's
    /// `CreateManagedAccount`, as Account Factory enrolling it would.
    pub async fn enroll_account(
        &mut self,
        name: &str,
        ou_path: &str,
    ) -> Result<(Account, AccountQueueRun)> {
        let account = self.add_account(name, ou_path).await?;
        let ou = self
            .state
            .organization
            .ou(ou_path)
            .cloned()
            .ok_or_else(|| Error::Usage(format!("OU {ou_path} is not in the organization")))?;
        let event = self
            .lifecycle_events()
            .create_managed_account(&account, &ou)?;
        let run = self.deliver_lifecycle_event(&event).await?;
        Ok((account, run))
    }

    /// Moves account `id` to `ou_path` and delivers Organizations' `MoveAccount` event.
    pub async fn relocate_account(
        &mut self,
        id: &AccountId,
        ou_path: &str,
    ) -> Result<AccountQueueRun> {
        let moved = self.move_account(id, ou_path).await?;
        let event = self.lifecycle_events().move_account(
            id,
            &moved.source_parent_id,
            &moved.destination_parent_id,
        )?;
        self.deliver_lifecycle_event(&event).await
    }

    /// Closes account `id` and delivers Organizations' `CloseAccount` event.
    pub async fn retire_account(&mut self, id: &AccountId) -> Result<AccountQueueRun> {
        self.close_account(id).await?;
        let event = self.lifecycle_events().close_account(id)?;
        self.deliver_lifecycle_event(&event).await
    }

    /// The member StackSet's instances (none when it does not exist).
    pub async fn member_instances(&self) -> Result<Vec<StackInstanceView>> {
        Ok(state::stack_sets(&self.management)
            .await?
            .into_iter()
            .find(|set| set.name == self.names.member_stack_set)
            .map(|set| set.instances)
            .unwrap_or_default())
    }

    /// Every `AwsCfg` registration in the emulator.
    pub async fn registrations(&self) -> Result<Vec<Registration>> {
        Ok(state::account_registrations(&self.lacework_state().await?))
    }
}
