//! The drain: registrations taken off the registration queue and carried out in Lacework,
//! within a budget of requests per run. An EventBridge schedule starts a run.
//!
//! A run receives as many messages as it has requests left for them (ten per receive), reads the
//! organization tree once, looks the messages' accounts up in Lacework together (one search
//! per sub-account, whose answer is the size of the batch, not of the sub-account), and for
//! each message decides the sub-account from the tree ([`SubAccountRouting`]) and does the
//! work:
//!
//! * `Register` / `Remap`: register-or-reconcile the account's `AwsCfg` integration in its
//!   sub-account, remove registrations of it from every other configured sub-account (it
//!   moved), and - with OU rules - bring the org-level CloudTrail integration's account mapping
//!   file up to date. `Remap` uses the member role the StackSet creates. Without the `Config`
//!   capability (`TOWER_CAPABILITY=CloudTrail`) there is no member role: only the mapping file
//!   follows the account;
//! * `Deregister`: remove its registrations from every configured sub-account and take it out
//!   of the mapping file.
//!
//! Then [`disposition`] decides: delete the message; leave it hidden for a backoff (a failure
//! that may pass; a 429 also ends the run, the hour's allowance being spent); release it for
//! the next run (this run's budget ran out); or send it to the dead-letter queue with its
//! reason and delete it. Nothing is dropped: a message leaves the queue only when its work is
//! done or it is safely on the dead-letter queue.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lwct_aws::registration_queue::{MAX_RECEIVE, ReceivedMessage, RegistrationQueue};
use lwct_aws::secrets::SecretPort;
use lwct_domain::drain::{
    BUDGET_SPENT, RATE_LIMITED, RunNext, WorkFailure, account_integration_name,
    cloudtrail_integration_name, decide, is_unknown_sub_account, mapping_after,
};
use lwct_domain::error::LaceworkErrorKind;
use lwct_domain::external_id::{ExternalId, ExternalIdSuffix};
use lwct_domain::fate::Fate;
use lwct_domain::lacework::{
    AwsCfgData, AwsCtSqsData, CloudAccount, CloudAccountSpec, CrossAccountCredentials, Scope,
    SubAccount,
};
use lwct_domain::mapping::{AccountMapping, AccountStatus, OrganizationTree};
use lwct_domain::naming::{Arn, iam_role_arn};
use lwct_domain::registration::RegistrationWork;
use lwct_domain::{AccountId, Error, Problem};
use lwct_lacework::{Client, Listing, Registration};
use lwct_runtime::metrics;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::budget::RequestBudget;
use crate::function::{Function, ORGANIZATION_TREE_MAX_AGE, Ports, QueueUrls};

/// Why a run ends when less than the drain's margin is left of the invocation.
const TIME_NEARLY_UP: &str = "the invocation's time is nearly up";

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainReport {
    /// Accounts registered (or found registered as asked).
    pub registered: usize,
    /// Accounts deregistered.
    pub deregistered: usize,
    /// Of the registered, accounts whose registration left another sub-account, or whose
    /// mapping followed their move to another OU.
    pub moved: usize,
    /// Messages whose work was already done earlier in this run (a repeated delivery).
    pub duplicates: usize,
    /// Messages left on the queue for a retry after a backoff.
    pub retrying: usize,
    /// Messages put back for the next run untouched or unfinished (budget or time ran out).
    pub released: usize,
    /// Messages sent to the dead-letter queue.
    pub dead_lettered: usize,
    /// Lacework requests made, and the budget: the configured one, or the one Lacework's
    /// answers allowed (`budget_learned`).
    #[serde(rename = "laceworkRequests")]
    pub requests: u32,
    pub budget: u32,
    pub budget_learned: bool,
    /// Why the run ended.
    pub ended: String,
}

impl DrainReport {
    pub fn to_json(&self) -> Value {
        // Numbers and text only: serializing cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// What a run reads once and keeps.
struct Run {
    lacework: Client,
    budget: Arc<RequestBudget>,
    tree: Arc<OrganizationTree>,
    /// Whether `tree` was read during this run.
    tree_is_fresh: bool,
    suffix: ExternalIdSuffix,
    /// The org-level CloudTrail integration, once read (only with OU rules).
    cloudtrail: Option<CloudAccount<AwsCtSqsData>>,
    /// The work last done for each account in this run, to skip repeated deliveries.
    done: HashMap<AccountId, RegistrationWork>,
    /// The accounts of the messages received so far: what the listings are searched for.
    accounts: BTreeSet<AccountId>,
    /// Each sub-account's `AwsCfg` integrations of `accounts` (or all of them, where a search
    /// could not be trusted), read at its first use in the run and kept current by the run's
    /// own changes (by scope); dropped when a change there fails.
    listings: HashMap<String, Listing<AwsCfgData>>,
    /// Receipt handles of the messages whose work is done, deleted together.
    settled: Vec<String>,
}

/// What of a sub-account a piece of work must see.
#[derive(Clone, Copy)]
enum Sight {
    /// The integrations of the run's accounts, found by their `data.awsAccountId`.
    RunAccounts,
    /// Every integration: to remove an account for good, or when Lacework says an account
    /// is integrated where a search did not find it (a record without `data.awsAccountId`).
    Everything,
}

impl<P: Ports> Function<P> {
    /// One run of the drain, until the queue is empty, the budget is spent, Lacework says it
    /// is rate limited, or less than [`Timing::drain_margin`] is left before `deadline`.
    /// An error when the run could not work at all (queues, secret, organization, API key);
    /// the messages it held are then back on the queue.
    ///
    /// [`Timing::drain_margin`]: crate::function::Timing
    pub async fn drain(&self, deadline: Instant) -> Result<DrainReport, Error> {
        let urls = self.queue_urls().await?;
        let budget = self.request_budget();
        let mut report = DrainReport::default();
        // Received and not settled when the run ends: put back for the next run.
        let mut pending = VecDeque::new();
        let ended = self
            .drain_into(&mut report, &mut pending, urls, &budget, deadline)
            .await;
        let unsettled = pending.iter().map(|(message, _)| message);
        self.release(urls, unsettled, &mut report).await;
        if let Ok(why) = ended {
            report.ended = why.into();
        }
        report.requests = budget.used();
        report.budget = budget.limit();
        report.budget_learned = budget.is_learned();
        if budget.is_learned() {
            self.last_learned_budget
                .store(budget.limit(), Ordering::Relaxed);
        }
        tracing::info!(
            operation = "drain",
            region = %self.config.installation.region,
            registered = report.registered,
            deregistered = report.deregistered,
            moved = report.moved,
            duplicates = report.duplicates,
            retrying = report.retrying,
            released = report.released,
            dead_lettered = report.dead_lettered,
            lacework_requests = report.requests,
            budget = report.budget,
            budget_learned = report.budget_learned,
            ended = %report.ended,
            "registration drain run finished"
        );
        lwct_runtime::count(metrics::ACCOUNTS_ONBOARDED, report.registered);
        lwct_runtime::count(metrics::ACCOUNTS_MOVED, report.moved);
        lwct_runtime::count(metrics::ACCOUNTS_REMOVED, report.deregistered);
        lwct_runtime::count(metrics::ACCOUNTS_FAILED, report.dead_lettered);
        lwct_runtime::count(
            metrics::REGISTRATIONS_WAITING,
            report.retrying + report.released,
        );
        if report.ended == RATE_LIMITED {
            lwct_runtime::count(metrics::RATE_LIMIT_WAITS, 1);
        }
        ended.map(|_| report)
    }

    /// Runs batches until one ends the run; why it ended.
    async fn drain_into(
        &self,
        report: &mut DrainReport,
        pending: &mut VecDeque<(ReceivedMessage, Result<RegistrationWork, Error>)>,
        urls: &QueueUrls,
        budget: &Arc<RequestBudget>,
        deadline: Instant,
    ) -> Result<&'static str, Error> {
        // Started when the first messages arrive: an empty queue costs no reads.
        let mut run: Option<Run> = None;
        loop {
            if budget.remaining() == 0 {
                return Ok(BUDGET_SPENT);
            }
            if self.time_is_nearly_up(deadline) {
                return Ok(TIME_NEARLY_UP);
            }
            let messages = self.receive_batch(urls, budget, deadline).await?;
            if messages.is_empty() {
                return Ok("the queue is empty");
            }
            // Read once: the accounts are what the run searches Lacework for.
            pending.extend(messages.into_iter().map(|message| {
                let work = RegistrationWork::from_message(&message.body);
                (message, work)
            }));
            let state = match &mut run {
                Some(state) => state,
                None => run.insert(self.start_run(budget).await?),
            };
            state.accounts.extend(
                (pending.iter())
                    .filter_map(|(_, work)| work.as_ref().ok())
                    .map(|work| work.account().clone()),
            );
            let ended = loop {
                // A batch may hold a whole run's messages: each is settled only while there is
                // time to delete it, or its work would be done again by a later run.
                if self.time_is_nearly_up(deadline) {
                    break Ok(Some(TIME_NEARLY_UP));
                }
                let Some((message, work)) = pending.pop_front() else {
                    break Ok(None);
                };
                match self.settle(state, urls, &message, work, report).await {
                    Ok(None) => {}
                    ended => break ended,
                }
            };
            self.delete_settled(urls, state).await;
            if let Some(why) = ended? {
                return Ok(why);
            }
        }
    }

    /// Less than [`crate::function::Timing::drain_margin`] is left before `deadline`.
    fn time_is_nearly_up(&self, deadline: Instant) -> bool {
        deadline.saturating_duration_since(Instant::now()) < self.timing.drain_margin
    }

    /// As many messages as the run has requests left (or, until an answer says, as the last
    /// run learned it would have) once it has searched each sub-account for the batch's
    /// accounts (at least one message), in receives of ten (`ReceiveMessage`
    /// takes no more): a message received and not worked on costs a call to give it back. A
    /// receive that brings fewer than asked ends the batch: the queue may be nearly empty, and
    /// the run's next batch receives again. A receive that fails after others brought
    /// messages ends the batch too, so that those are worked on rather than left hidden.
    async fn receive_batch(
        &self,
        urls: &QueueUrls,
        budget: &RequestBudget,
        deadline: Instant,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        let searches = u32::try_from(self.routing.sub_accounts().len()).unwrap_or(u32::MAX);
        let mut remaining = budget.remaining();
        if !budget.is_learned() {
            // Most likely what Lacework will allow once it answers: received now, the
            // messages need one search instead of one per batch.
            let expected = self.last_learned_budget.load(Ordering::Relaxed);
            remaining = remaining.max(expected.saturating_sub(budget.used()));
        }
        let wanted = remaining.saturating_sub(searches).max(1);
        let mut messages: Vec<ReceivedMessage> = Vec::new();
        loop {
            let held = u32::try_from(messages.len()).unwrap_or(u32::MAX);
            let asked = wanted.saturating_sub(held).min(MAX_RECEIVE);
            if asked == 0 {
                return Ok(messages);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let visibility = left + self.timing.visibility_slack;
            match self
                .queues
                .receive(&urls.registration, asked, visibility)
                .await
            {
                Ok(more) => {
                    let short = more.len() < asked as usize;
                    messages.extend(more);
                    if short {
                        return Ok(messages);
                    }
                }
                Err(err) if messages.is_empty() => return Err(err),
                Err(err) => {
                    tracing::warn!(
                        operation = "sqs:ReceiveMessage",
                        error = %err,
                        held = messages.len(),
                        "a receive failed; working on the messages already received"
                    );
                    return Ok(messages);
                }
            }
        }
    }

    /// Deletes the messages whose work is done, in one `DeleteMessageBatch` per ten. One
    /// that stays (SQS refused, or the call failed) comes back when its visibility timeout
    /// ends and is found done: its registration changes nothing the second time.
    async fn delete_settled(&self, urls: &QueueUrls, run: &mut Run) {
        let settled = std::mem::take(&mut run.settled);
        for handles in settled.chunks(MAX_RECEIVE as usize) {
            match self.queues.delete_batch(&urls.registration, handles).await {
                Ok(failed) => {
                    for (handle, reason) in failed {
                        tracing::warn!(
                            operation = "sqs:DeleteMessageBatch",
                            receipt_handle = %handle,
                            reason = %reason,
                            "a done message was not deleted; it will come back and be found done"
                        );
                    }
                }
                Err(err) => tracing::warn!(
                    operation = "sqs:DeleteMessageBatch",
                    messages = handles.len(),
                    error = %err,
                    "done messages were not deleted; they will come back and be found done"
                ),
            }
        }
    }

    /// What the run needs once it has work: the Lacework client, the external id suffix and
    /// the organization tree. With OU rules, where an account sits decides where it is
    /// registered, so the tree is read afresh; without, it only says which accounts are
    /// ACTIVE members, and the one this container read up to [`ORGANIZATION_TREE_MAX_AGE`]
    /// ago serves (read again when an account is missing from it or not ACTIVE in it).
    async fn start_run(&self, budget: &Arc<RequestBudget>) -> Result<Run, Error> {
        let secret = self.secrets.read().await?;
        let suffix = secret.external_id_suffix.ok_or_else(|| {
            Error::Config(vec![Problem::new(
                "secret.externalIdSuffix",
                "is missing from the Lacework API secret; setup stores it: run setup (create or update the stack) first",
            )])
        })?;
        let fresh = self.routing.has_ou_rules();
        let max_age = if fresh {
            Duration::ZERO
        } else {
            ORGANIZATION_TREE_MAX_AGE
        };
        let tree = self.organization_tree(max_age).await?;
        Ok(Run {
            lacework: self.lacework_client(budget)?,
            budget: budget.clone(),
            tree,
            tree_is_fresh: fresh,
            suffix,
            cloudtrail: None,
            done: HashMap::new(),
            accounts: BTreeSet::new(),
            listings: HashMap::new(),
            settled: Vec::new(),
        })
    }

    /// Does one message's work (`work`, as read from its body) and settles the message; why the
    /// run ends, if it does.
    async fn settle(
        &self,
        run: &mut Run,
        urls: &QueueUrls,
        message: &ReceivedMessage,
        work: Result<RegistrationWork, Error>,
        report: &mut DrainReport,
    ) -> Result<Option<&'static str>, Error> {
        let queue = &urls.registration;
        let (work, result) = match work {
            Ok(work)
                if run
                    .done
                    .get(work.account())
                    .is_some_and(|done| same_work(done, &work)) =>
            {
                run.settled.push(message.receipt_handle.clone());
                report.duplicates += 1;
                return Ok(None);
            }
            Ok(work) => {
                let result = self.carry_out(run, &work).await;
                (Some(work), result)
            }
            Err(err) => (None, Err(WorkFailure::Refused(err.to_string()))),
        };
        let account = work
            .as_ref()
            .map_or_else(|| "(unreadable)".to_owned(), |w| w.account().to_string());
        let moved = matches!(result, Ok(true));
        let result = result.map(drop);
        let decision = decide(&result, message.receive_count, run.budget.was_refused());
        match decision.fate {
            Fate::Done { .. } => {
                run.settled.push(message.receipt_handle.clone());
                if let Some(work) = work {
                    match work {
                        RegistrationWork::Deregister { .. } => report.deregistered += 1,
                        _ => report.registered += 1,
                    }
                    report.moved += usize::from(moved);
                    run.done.insert(work.account().clone(), work);
                }
            }
            // Not the message's fault (the budget is spent, the key refused): back at once.
            Fate::Retry { .. } if decision.hidden_for.is_zero() => {
                self.release(urls, [message], report).await;
            }
            Fate::Retry { reason } => {
                tracing::warn!(
                    operation = "drain",
                    account = %account,
                    attempt = message.receive_count,
                    retry_in_seconds = decision.hidden_for.as_secs(),
                    error = %reason,
                    "registration failed; it will be tried again"
                );
                self.queues
                    .change_visibility(queue, &message.receipt_handle, decision.hidden_for)
                    .await?;
                report.retrying += 1;
            }
            Fate::DeadLetter { reason } => {
                tracing::error!(
                    operation = "drain",
                    account = %account,
                    attempt = message.receive_count,
                    reason = %reason,
                    "registration failed for good; moving it to the dead-letter queue"
                );
                self.queues
                    .dead_letter(&urls.dead_letter, &message.body, &reason)
                    .await?;
                self.queues.delete(queue, &message.receipt_handle).await?;
                report.dead_lettered += 1;
            }
        }
        match decision.run {
            RunNext::Continue => Ok(None),
            RunNext::End(why) => Ok(Some(why)),
            RunNext::Halt => Err(match result {
                Err(WorkFailure::Failed(error)) => error,
                _ => Error::Preflight("the Lacework API key was refused".into()),
            }),
        }
    }

    /// Makes messages visible again at once, for the next run, [`MAX_RECEIVE`] per call. A
    /// failure only delays them (they come back when their visibility timeout ends).
    async fn release(
        &self,
        urls: &QueueUrls,
        messages: impl IntoIterator<Item = &ReceivedMessage>,
        report: &mut DrainReport,
    ) {
        let handles: Vec<String> = (messages.into_iter())
            .map(|message| message.receipt_handle.clone())
            .collect();
        report.released += handles.len();
        for handles in handles.chunks(MAX_RECEIVE as usize) {
            let refused = match self.queues.release_batch(&urls.registration, handles).await {
                Ok(failed) => failed.len(),
                Err(err) => {
                    tracing::warn!(operation = "sqs:ChangeMessageVisibilityBatch", error = %err);
                    handles.len()
                }
            };
            if refused > 0 {
                tracing::warn!(
                    operation = "sqs:ChangeMessageVisibilityBatch",
                    messages = refused,
                    "could not put messages back at once; they come back when their visibility timeout ends"
                );
            }
        }
    }

    /// Does the work; whether the account moved between sub-accounts (see
    /// [`DrainReport::moved`]).
    async fn carry_out(&self, run: &mut Run, work: &RegistrationWork) -> Result<bool, WorkFailure> {
        match work {
            RegistrationWork::Register {
                account, role_arn, ..
            } => {
                let role_account = Arn::parse(role_arn)
                    .ok()
                    .filter(|arn| arn.service == "iam" && arn.resource.starts_with("role/"))
                    .and_then(|arn| arn.account);
                if role_account.as_ref() != Some(account) {
                    return Err(WorkFailure::Refused(format!(
                        "$.role_arn: is not a role in account {account}; Lacework is only told to assume a role in the account it registers"
                    )));
                }
                let registered = self.register(run, account, role_arn).await?;
                Ok(registered.swept > 0)
            }
            RegistrationWork::Remap { account, .. } => {
                let role_arn = iam_role_arn(
                    self.config.installation.region.partition(),
                    account,
                    &self.config.installation.names.member_role,
                );
                // The account moved: where it is now must be read, not remembered.
                self.refresh_tree(run).await?;
                let registered = self.register(run, account, &role_arn).await?;
                Ok(registered.swept > 0 || registered.mapping_changed)
            }
            RegistrationWork::Deregister { account, .. } => {
                self.deregister(run, account).await?;
                Ok(false)
            }
        }
    }

    /// Registers `account` where it belongs now and removes it from wherever else it is;
    /// with OU rules, lists it in the mapping file too. Without the `Config` capability there
    /// is no member role, so only the mapping file follows the account.
    async fn register(
        &self,
        run: &mut Run,
        account: &AccountId,
        role_arn: &str,
    ) -> Result<Registered, WorkFailure> {
        let refusal = |tree: &OrganizationTree| match tree.account(account) {
            None => Some(format!(
                "account {account} is not in the organization (any more); it was not registered"
            )),
            Some(member) if member.status != AccountStatus::Active => Some(format!(
                "account {account} is {} in the organization; only ACTIVE accounts are registered",
                member.status.as_aws()
            )),
            Some(_) => None,
        };
        if refusal(&run.tree).is_some() {
            // New since the tree was read, or changed since: read it again before refusing.
            self.refresh_tree(run).await?;
        }
        if let Some(reason) = refusal(&run.tree) {
            return Err(WorkFailure::Refused(reason));
        }
        let target = self
            .routing
            .sub_account_for(&run.tree, account)
            .map_err(|err| WorkFailure::Refused(err.to_string()))?;
        let mut registered = Registered::default();
        if self.config.capability.includes_config() {
            registered.swept = self
                .register_config(run, account, role_arn, &target)
                .await?;
        }
        if self.routing.has_ou_rules() {
            registered.mapping_changed = self.update_mapping(run, account, Some(&target)).await?;
        }
        Ok(registered)
    }

    /// Reads the organization tree again, once per run.
    async fn refresh_tree(&self, run: &mut Run) -> Result<(), Error> {
        if !run.tree_is_fresh {
            run.tree = self.organization_tree(Duration::ZERO).await?;
            run.tree_is_fresh = true;
        }
        Ok(())
    }

    /// The run's listing of `scope`'s `AwsCfg` integrations, read now as far as `sight` needs
    /// and the listing does not yet show: a search for the run's accounts not searched for yet,
    /// or the whole scope.
    async fn listing<'r>(
        &self,
        run: &'r mut Run,
        scope: &Scope,
        sight: Sight,
    ) -> Result<&'r mut Listing<AwsCfgData>, Error> {
        let lacework = &run.lacework;
        let held = match run.listings.entry(scope.to_string()) {
            Entry::Vacant(slot) => {
                let accounts: Vec<AccountId> = run.accounts.iter().cloned().collect();
                let read = self.read_listing(lacework, scope, &accounts, sight).await?;
                return Ok(slot.insert(read));
            }
            Entry::Occupied(held) => held.into_mut(),
        };
        if matches!(sight, Sight::Everything) && !held.sees_everything() {
            *held = self.read_listing(lacework, scope, &[], sight).await?;
        }
        let unseen: Vec<AccountId> = (run.accounts.iter())
            .filter(|account| !held.sees(account))
            .cloned()
            .collect();
        if !unseen.is_empty() {
            held.add(self.read_listing(lacework, scope, &unseen, sight).await?);
        }
        Ok(held)
    }

    /// A search of `scope` for `accounts`' integrations, or with [`Sight::Everything`] a
    /// listing of all of it. A search Lacework refuses (it may not filter on
    /// `data.awsAccountId`) is not tried again by this container: the whole scope is listed
    /// instead.
    async fn read_listing(
        &self,
        lacework: &Client,
        scope: &Scope,
        accounts: &[AccountId],
        sight: Sight,
    ) -> Result<Listing<AwsCfgData>, Error> {
        if matches!(sight, Sight::Everything) || self.search_refused.load(Ordering::Relaxed) {
            return lacework.listing(scope).await;
        }
        match lacework.listing_of(scope, accounts).await {
            // A 400: the search was understood as wrong, not the account's or the key's fault.
            Err(
                err @ Error::Lacework {
                    kind: LaceworkErrorKind::BadRequest,
                    ..
                },
            ) => {
                tracing::warn!(
                    operation = "lacework:search",
                    %scope,
                    error = %err,
                    "Lacework refused a search by AWS account; listing whole sub-accounts from now on"
                );
                self.search_refused.store(true, Ordering::Relaxed);
                lacework.listing(scope).await
            }
            read => read,
        }
    }

    /// Registers `spec` in `scope` over the run's listing of it: one request for a new or
    /// changed integration, none for one already as wanted.
    async fn register_listed(
        &self,
        run: &mut Run,
        scope: &Scope,
        spec: &CloudAccountSpec<AwsCfgData>,
        sight: Sight,
    ) -> Result<Registration<AwsCfgData>, Error> {
        let lacework = run.lacework.clone();
        let held = self.listing(run, scope, sight).await?;
        let registered = lacework.register_listed(scope, spec, held).await;
        if registered.is_err() {
            run.listings.remove(&scope.to_string());
        }
        registered
    }

    /// The account's `AwsCfg` integration in `target`, and in no other sub-account; how many
    /// were removed from the others.
    async fn register_config(
        &self,
        run: &mut Run,
        account: &AccountId,
        role_arn: &str,
        target: &SubAccount,
    ) -> Result<usize, WorkFailure> {
        let external_id = ExternalId::new(&self.config.lacework.account, account, &run.suffix)?;
        let spec = CloudAccountSpec::new(
            account_integration_name(&self.config.installation.prefix, account),
            AwsCfgData {
                cross_account_credentials: CrossAccountCredentials::new(
                    role_arn,
                    external_id.expose(),
                ),
                aws_account_id: Some(account.clone()),
            },
        );
        let scope = Scope::Account(target.clone());
        let others = self.routing.other_sub_accounts(target);
        let registered = self
            .register_listed(run, &scope, &spec, Sight::RunAccounts)
            .await;
        let (registration, swept) = match registered {
            Ok(registration) => {
                let swept = self
                    .sweep(run, account, &others, Sight::RunAccounts)
                    .await?;
                (registration, swept)
            }
            // Lacework refuses a second integration of one AWS account: it is registered in
            // another sub-account, in a record the search did not find. Remove it there,
            // looking at whole sub-accounts, then register it here.
            Err(Error::Lacework {
                kind: LaceworkErrorKind::Conflict,
                ..
            }) => {
                let swept = self.sweep(run, account, &others, Sight::Everything).await?;
                let sight = Sight::Everything;
                (
                    self.register_listed(run, &scope, &spec, sight).await?,
                    swept,
                )
            }
            Err(err) => return Err(err.into()),
        };
        tracing::info!(
            operation = "lacework:register",
            account = %account,
            sub_account = %target,
            integration = %registration.record.intg_guid,
            outcome = ?registration.outcome,
            removed_elsewhere = swept,
            "account registered"
        );
        Ok(swept)
    }

    async fn deregister(&self, run: &mut Run, account: &AccountId) -> Result<(), WorkFailure> {
        let everywhere: Vec<SubAccount> = self.routing.sub_accounts().iter().cloned().collect();
        // Every record, not only those a search finds: an account that leaves must not stay
        // integrated through one made without `data.awsAccountId`.
        let removed = self
            .sweep(run, account, &everywhere, Sight::Everything)
            .await?;
        tracing::info!(
            operation = "lacework:deregister",
            account = %account,
            removed,
            "account deregistered"
        );
        if self.routing.has_ou_rules() {
            self.update_mapping(run, account, None).await?;
        }
        Ok(())
    }

    /// Removes the account's `AwsCfg` integrations from `sub_accounts`; a sub-account Lacework
    /// does not know (any more) holds none. Returns how many were removed.
    async fn sweep(
        &self,
        run: &mut Run,
        account: &AccountId,
        sub_accounts: &[SubAccount],
        sight: Sight,
    ) -> Result<usize, Error> {
        let mut removed = 0;
        let lacework = run.lacework.clone();
        for sub_account in sub_accounts {
            let scope = Scope::Account(sub_account.clone());
            let held = match self.listing(run, &scope, sight).await {
                Ok(held) => held,
                Err(err) if is_unknown_sub_account(&err) => {
                    tracing::warn!(
                        operation = "lacework:deregister",
                        account = %account,
                        %scope,
                        error = %err,
                        "sub-account not reachable with this API key; nothing of ours can be there"
                    );
                    run.listings.insert(scope.to_string(), Listing::empty());
                    continue;
                }
                Err(err) => return Err(err),
            };
            let removed_here = lacework.deregister_listed(&scope, account, held).await;
            if removed_here.is_err() {
                run.listings.remove(&scope.to_string());
            }
            removed += removed_here?;
        }
        Ok(removed)
    }

    /// Makes the org-level CloudTrail integration's mapping file send `account` to
    /// `sub_account` (`None`: forget the account). The integration is read once per run.
    async fn update_mapping(
        &self,
        run: &mut Run,
        account: &AccountId,
        sub_account: Option<&SubAccount>,
    ) -> Result<bool, WorkFailure> {
        let name = cloudtrail_integration_name(&self.config.installation.prefix);
        // Taken out of the cache, and put back only when known current.
        let record = match run.cloudtrail.take() {
            Some(record) => record,
            None => run
                .lacework
                .find_by_name::<AwsCtSqsData>(&Scope::Organization, &name)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    WorkFailure::Refused(format!(
                        "the organization-level CloudTrail integration {name:?} was not found, so its account mapping file cannot follow account {account}; run setup (update the stack) to create it"
                    ))
                })?,
        };
        let mapping = match record.data.account_mapping() {
            Ok(Some(mapping)) => mapping,
            Ok(None) => AccountMapping::new(self.routing.default_sub_account().as_str())?,
            Err(err) => {
                return Err(WorkFailure::Refused(format!(
                    "the account mapping file of the CloudTrail integration {name:?} is invalid, so it was not changed: {err}"
                )));
            }
        };
        let Some(next) = mapping_after(&mapping, account, sub_account)? else {
            run.cloudtrail = Some(record);
            return Ok(false);
        };
        let mut data = record.data.clone();
        data.set_account_mapping(&next);
        let spec = CloudAccountSpec {
            name: record.name.clone(),
            enabled: record.enabled,
            data,
        };
        let updated = run
            .lacework
            .update(&Scope::Organization, &record.intg_guid, &spec)
            .await?;
        tracing::info!(
            operation = "lacework:update",
            account = %account,
            sub_account = sub_account.map_or("(removed)", SubAccount::as_str),
            integration = %updated.intg_guid,
            "account mapping file updated"
        );
        run.cloudtrail = Some(updated);
        Ok(true)
    }
}

/// What registering an account changed besides its own integration.
#[derive(Debug, Default)]
struct Registered {
    /// Its integrations removed from other sub-accounts.
    swept: usize,
    /// Whether the mapping file changed for it.
    mapping_changed: bool,
}

/// Whether two pieces of work do the same thing (whoever asked).
fn same_work(a: &RegistrationWork, b: &RegistrationWork) -> bool {
    fn role(work: &RegistrationWork) -> Option<&str> {
        match work {
            RegistrationWork::Register { role_arn, .. } => Some(role_arn),
            _ => None,
        }
    }
    std::mem::discriminant(a) == std::mem::discriminant(b)
        && a.account() == b.account()
        && role(a) == role(b)
}
