//! AWS CloudFormation StackSets, the way Control Tower runs them: self-managed permissions
//! through `AWSControlTowerStackSetRole` in the management account and
//! `AWSControlTowerExecution` in every target account.
//!
//! * [`StackSets`] is the port and [`StackSetsClient`] the adapter over the AWS SDK;
//!   `lwct_testkit::stack_sets::InMemoryStackSets` is the fake for tests that can be made
//!   busy, slow or failing.
//! * StackSet operations run asynchronously in AWS. [`run_operation`] starts one (again and
//!   again while the StackSet is busy with another) and polls it until it ends or the
//!   caller's deadline comes. Operation ids are derived from the caller's request
//!   ([`operation_id`]), so a redelivered request finds the operation it already started
//!   (`OperationIdAlreadyExistsException`) instead of starting a second one.
//! * [`converge_stack_set`] makes a StackSet and its instances what a spec says, changing
//!   nothing when they already are; [`remove_existing_stack_set`] deletes the instances and
//!   then the StackSet.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{
    Capability, ConcurrencyMode, ManagedExecution, Parameter, PermissionModels,
    RegionConcurrencyType, StackInstanceSummary, StackSetOperationPreferences,
    StackSetOperationResultStatus,
};
use tokio::time::Instant;

use lwct_domain::Error;
use lwct_domain::account::AccountId;
use lwct_domain::backoff::Backoff;
use lwct_domain::lifecycle::InstanceState;
use lwct_domain::stack_set::{
    InstanceFailure, OperationState, OperationStatus, StackInstance, StackInstanceTarget,
    StackSetSpec, StackSetState, operation_id,
};

use crate::{aws_error, has_code, unless_missing};

/// What the functions ask CloudFormation about StackSets.
pub trait StackSets: Send + Sync {
    /// The StackSet called `name`; `None` when there is none (or it was deleted).
    fn describe_stack_set(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<StackSetState>, Error>> + Send;

    /// Creates the StackSet (`CreateStackSet`, self-managed, `CAPABILITY_NAMED_IAM`). The same
    /// `client_request_token` makes a repeated call harmless.
    fn create_stack_set(
        &self,
        spec: &StackSetSpec,
        client_request_token: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Updates the StackSet and every instance (`UpdateStackSet`); returns the operation id.
    fn update_stack_set(
        &self,
        spec: &StackSetSpec,
        operation_id: &str,
    ) -> impl Future<Output = Result<String, Error>> + Send;

    /// Deletes the (empty) StackSet (`DeleteStackSet`); nothing to delete is not an error.
    fn delete_stack_set(&self, name: &str) -> impl Future<Output = Result<(), Error>> + Send;

    /// Every instance of the StackSet (`ListStackInstances`, every page); empty when the
    /// StackSet does not exist.
    fn list_stack_instances(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<StackInstance>, Error>> + Send;

    /// Creates instances in every pair of `accounts` and `regions` (`CreateStackInstances`);
    /// returns the operation id.
    fn create_stack_instances(
        &self,
        name: &str,
        accounts: &[AccountId],
        regions: &[String],
        operation_id: &str,
    ) -> impl Future<Output = Result<String, Error>> + Send;

    /// Applies the StackSet again to existing instances, as a repair of what a failed
    /// operation left `OUTDATED` (`UpdateStackInstances`, no parameter overrides; each instance
    /// stands on its own); returns the operation id.
    fn update_stack_instances(
        &self,
        name: &str,
        accounts: &[AccountId],
        regions: &[String],
        operation_id: &str,
    ) -> impl Future<Output = Result<String, Error>> + Send;

    /// Deletes the instances (`DeleteStackInstances`); returns the operation id. With
    /// [`Stacks::Retain`] their stacks are kept and each instance stands on its own: for
    /// accounts that closed or left, which cannot be reached to delete a stack.
    fn delete_stack_instances(
        &self,
        name: &str,
        accounts: &[AccountId],
        regions: &[String],
        stacks: Stacks,
        operation_id: &str,
    ) -> impl Future<Output = Result<String, Error>> + Send;

    /// Where an operation is (`DescribeStackSetOperation`).
    fn describe_operation(
        &self,
        name: &str,
        operation_id: &str,
    ) -> impl Future<Output = Result<OperationState, Error>> + Send;

    /// The instances a finished operation failed on, at most `limit` of them
    /// (`ListStackSetOperationResults`).
    fn operation_failures(
        &self,
        name: &str,
        operation_id: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<InstanceFailure>, Error>> + Send;
}

/// What becomes of an instance's stack when the instance is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stacks {
    Delete,
    Retain,
}

/// [`StackSets`] over the AWS SDK.
#[derive(Debug, Clone)]
pub struct StackSetsClient {
    client: Client,
}

impl StackSetsClient {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn parameters_of(spec: &StackSetSpec) -> Vec<Parameter> {
    spec.sent_parameters()
        .map(|(key, value)| {
            Parameter::builder()
                .parameter_key(key)
                .parameter_value(value)
                .build()
        })
        .collect()
}

/// How the failure of one stack instance affects the others of its StackSet operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureTolerance {
    /// Any failure fails the operation: the product's own StackSets, whose instances setup
    /// needs, every one of them.
    None,
    /// Each instance stands on its own (member accounts, closed accounts): one account's
    /// failure does not stop the others.
    EachInstance,
}

/// Every account and region at once. In the default strict mode the concurrency is capped at
/// the failure tolerance plus one - one account at a time with no tolerance - so without
/// tolerance the soft mode keeps thousands of member accounts in one fast operation while any
/// failure still fails it; with every instance on its own, strict mode at 100% is as fast.
pub fn operation_preferences(tolerance: FailureTolerance) -> StackSetOperationPreferences {
    let preferences = StackSetOperationPreferences::builder()
        .region_concurrency_type(RegionConcurrencyType::Parallel)
        .max_concurrent_percentage(100);
    match tolerance {
        FailureTolerance::None => {
            preferences.concurrency_mode(ConcurrencyMode::SoftFailureTolerance)
        }
        FailureTolerance::EachInstance => preferences.failure_tolerance_percentage(100),
    }
    .build()
}

/// The account ids of a StackSet instances request.
pub fn account_ids(accounts: &[AccountId]) -> Vec<String> {
    accounts.iter().map(|a| a.as_str().to_owned()).collect()
}

/// What a StackSet is, as `CreateStackSet` and `UpdateStackSet` both send it (self-managed,
/// `CAPABILITY_NAMED_IAM`): the SDK's two builders share these setters but no type. The
/// administration role is set by each call, where `tools/least_privilege.py` sees it passed.
macro_rules! stack_set_definition {
    ($call:expr, $spec:expr) => {
        $call
            .stack_set_name(&$spec.name)
            .description(&$spec.description)
            .template_body(&$spec.template_body)
            .set_parameters(Some(parameters_of($spec)))
            .capabilities(Capability::CapabilityNamedIam)
            .permission_model(PermissionModels::SelfManaged)
            .execution_role_name(&$spec.execution_role_name)
            .managed_execution(
                ManagedExecution::builder()
                    .active($spec.managed_execution)
                    .build(),
            )
    };
}

/// Sends a create, update or delete of stack instances with its targets, preferences and id,
/// and answers the id of the operation it started: the SDK's three builders share these
/// setters but no type.
macro_rules! start_instances {
    ($call:expr, $name:expr, $accounts:expr, $regions:expr, $tolerance:expr, $id:expr) => {
        $call
            .stack_set_name($name)
            .set_accounts(Some(account_ids($accounts)))
            .set_regions(Some($regions.to_vec()))
            .operation_preferences(operation_preferences($tolerance))
            .operation_id($id)
            .send()
            .await
            .map(|output| output.operation_id().unwrap_or($id).to_owned())
    };
}

impl StackSets for StackSetsClient {
    async fn describe_stack_set(&self, name: &str) -> Result<Option<StackSetState>, Error> {
        let sent = self
            .client
            .describe_stack_set()
            .stack_set_name(name)
            .send()
            .await;
        let Some(output) = unless_missing("cloudformation:DescribeStackSet", sent, |e| {
            e.is_stack_set_not_found_exception()
        })?
        else {
            return Ok(None);
        };
        let Some(stack_set) = output.stack_set() else {
            return Ok(None);
        };
        if stack_set.status().map(|s| s.as_str()) == Some("DELETED") {
            return Ok(None);
        }
        Ok(Some(StackSetState {
            name: stack_set.stack_set_name().unwrap_or(name).to_owned(),
            template_body: stack_set.template_body().unwrap_or_default().to_owned(),
            parameters: stack_set
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.parameter_key()?.to_owned(),
                        p.parameter_value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
            administration_role_arn: stack_set.administration_role_arn().map(str::to_owned),
            execution_role_name: stack_set.execution_role_name().map(str::to_owned),
        }))
    }

    async fn create_stack_set(
        &self,
        spec: &StackSetSpec,
        client_request_token: &str,
    ) -> Result<(), Error> {
        let call = self.client.create_stack_set();
        stack_set_definition!(call, spec)
            .administration_role_arn(&spec.administration_role_arn)
            .client_request_token(client_request_token)
            .send()
            .await
            .map_err(|err| aws_error("cloudformation:CreateStackSet", err))?;
        Ok(())
    }

    async fn update_stack_set(
        &self,
        spec: &StackSetSpec,
        operation_id: &str,
    ) -> Result<String, Error> {
        let call = self.client.update_stack_set();
        let output = stack_set_definition!(call, spec)
            .administration_role_arn(&spec.administration_role_arn)
            .operation_preferences(operation_preferences(FailureTolerance::None))
            .operation_id(operation_id)
            .send()
            .await
            .map_err(|err| aws_error("cloudformation:UpdateStackSet", err))?;
        Ok(output.operation_id().unwrap_or(operation_id).to_owned())
    }

    async fn delete_stack_set(&self, name: &str) -> Result<(), Error> {
        let sent = self
            .client
            .delete_stack_set()
            .stack_set_name(name)
            .send()
            .await;
        // The SDK models no StackSetNotFoundException for DeleteStackSet, but AWS sends it.
        unless_missing("cloudformation:DeleteStackSet", sent, |e| {
            e.code() == Some("StackSetNotFoundException")
        })
        .map(drop)
    }

    async fn list_stack_instances(&self, name: &str) -> Result<Vec<StackInstance>, Error> {
        let listed: Result<Vec<StackInstanceSummary>, _> = self
            .client
            .list_stack_instances()
            .stack_set_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await;
        let listed = unless_missing("cloudformation:ListStackInstances", listed, |e| {
            e.is_stack_set_not_found_exception()
        })?;
        Ok(listed
            .unwrap_or_default()
            .iter()
            .filter_map(stack_instance)
            .collect())
    }

    async fn create_stack_instances(
        &self,
        name: &str,
        accounts: &[AccountId],
        regions: &[String],
        operation_id: &str,
    ) -> Result<String, Error> {
        let call = self.client.create_stack_instances();
        let tolerance = FailureTolerance::None;
        start_instances!(call, name, accounts, regions, tolerance, operation_id)
            .map_err(|err| aws_error("cloudformation:CreateStackInstances", err))
    }

    async fn update_stack_instances(
        &self,
        name: &str,
        accounts: &[AccountId],
        regions: &[String],
        operation_id: &str,
    ) -> Result<String, Error> {
        let call = self.client.update_stack_instances();
        let tolerance = FailureTolerance::EachInstance;
        start_instances!(call, name, accounts, regions, tolerance, operation_id)
            .map_err(|err| aws_error("cloudformation:UpdateStackInstances", err))
    }

    async fn delete_stack_instances(
        &self,
        name: &str,
        accounts: &[AccountId],
        regions: &[String],
        stacks: Stacks,
        operation_id: &str,
    ) -> Result<String, Error> {
        let (retain, tolerance) = match stacks {
            Stacks::Delete => (false, FailureTolerance::None),
            Stacks::Retain => (true, FailureTolerance::EachInstance),
        };
        let call = self.client.delete_stack_instances().retain_stacks(retain);
        start_instances!(call, name, accounts, regions, tolerance, operation_id)
            .map_err(|err| aws_error("cloudformation:DeleteStackInstances", err))
    }

    async fn describe_operation(
        &self,
        name: &str,
        operation_id: &str,
    ) -> Result<OperationState, Error> {
        let output = self
            .client
            .describe_stack_set_operation()
            .stack_set_name(name)
            .operation_id(operation_id)
            .send()
            .await
            .map_err(|err| aws_error("cloudformation:DescribeStackSetOperation", err))?;
        let operation = output.stack_set_operation();
        Ok(OperationState {
            status: OperationStatus::from_aws(
                operation
                    .and_then(|o| o.status())
                    .map(|s| s.as_str())
                    .unwrap_or("UNKNOWN"),
            ),
            status_reason: operation.and_then(|o| o.status_reason()).map(str::to_owned),
        })
    }

    async fn operation_failures(
        &self,
        name: &str,
        operation_id: &str,
        limit: usize,
    ) -> Result<Vec<InstanceFailure>, Error> {
        let mut results = self
            .client
            .list_stack_set_operation_results()
            .stack_set_name(name)
            .operation_id(operation_id)
            .into_paginator()
            .items()
            .send();
        let mut failures = Vec::new();
        while failures.len() < limit {
            let Some(result) = results
                .try_next()
                .await
                .map_err(|err| aws_error("cloudformation:ListStackSetOperationResults", err))?
            else {
                break;
            };
            if result.status() == Some(&StackSetOperationResultStatus::Failed) {
                failures.push(InstanceFailure {
                    account: result.account().unwrap_or_default().to_owned(),
                    region: result.region().unwrap_or_default().to_owned(),
                    reason: result.status_reason().unwrap_or_default().to_owned(),
                });
            }
        }
        Ok(failures)
    }
}

/// An SDK instance summary read into a [`StackInstance`]; `None` (logged) without a readable
/// account or region.
fn stack_instance(summary: &StackInstanceSummary) -> Option<StackInstance> {
    let account = summary.account().and_then(|a| AccountId::parse(a).ok());
    let (Some(account), Some(region)) = (account, summary.region()) else {
        tracing::warn!("skipping a stack instance listed without a readable account or region");
        return None;
    };
    Some(StackInstance {
        target: StackInstanceTarget::new(account, region),
        state: InstanceState::from_status(
            summary.status().map_or("", |s| s.as_str()),
            summary
                .stack_instance_status()
                .and_then(|s| s.detailed_status())
                .map(|s| s.as_str()),
        ),
    })
}

/// How long to wait for StackSet operations, and how often to look.
#[derive(Debug, Clone, Copy)]
pub struct OperationWait {
    /// Give up waiting (and say what is still running) before this instant.
    pub deadline: Instant,
    /// Pauses between two looks at a running operation.
    pub poll: Backoff,
    /// Pause before starting again an operation refused because the StackSet was busy.
    pub busy_retry: Duration,
}

impl OperationWait {
    fn has_time_for(&self, pause: Duration) -> bool {
        Instant::now() + pause < self.deadline
    }
}

/// Starts a StackSet operation with `start` and waits until it ends.
///
/// * `start` is called again (every `wait.busy_retry`) while it fails with a retryable error
///   such as `OperationInProgressException` (the StackSet is busy with another operation).
/// * `OperationIdAlreadyExistsException` means this request started the operation before
///   (a redelivery): it is waited for like a new one.
/// * An operation that ends `FAILED` or `STOPPED` is an error naming the instances it failed
///   on and why. One still running at `wait.deadline` is a retryable error that says so: it
///   goes on in AWS, and running the same work again later picks it up.
pub async fn run_operation<S, F, Fut>(
    stack_sets: &S,
    stack_set: &str,
    what: &str,
    operation_id: &str,
    wait: &OperationWait,
    mut start: F,
) -> Result<(), Error>
where
    S: StackSets,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<String, Error>>,
{
    let started = loop {
        match start().await {
            Ok(id) => break id,
            Err(err) if has_code(&err, "OperationIdAlreadyExistsException") => {
                tracing::info!(
                    stack_set,
                    operation_id,
                    what,
                    "operation was started by an earlier delivery of this request; waiting for it"
                );
                break operation_id.to_owned();
            }
            Err(err) if err.is_retryable() && wait.has_time_for(wait.busy_retry) => {
                tracing::warn!(stack_set, what, error = %err, "StackSet busy; trying again");
                tokio::time::sleep(wait.busy_retry).await;
            }
            Err(err) if err.is_retryable() => {
                let message = format!(
                    "StackSet {stack_set} could not start {what}: it stayed busy ({err}) until this invocation had to answer; retry when its current operation has finished"
                );
                return Err(operation_error("StackSetBusy", message, true));
            }
            Err(err) => return Err(err),
        }
    };
    tracing::info!(stack_set, operation_id = %started, what, "StackSet operation started");
    for looks in 1.. {
        let pause = wait.poll.delay(looks);
        let state = stack_sets.describe_operation(stack_set, &started).await?;
        match state.status {
            OperationStatus::Succeeded => {
                tracing::info!(stack_set, operation_id = %started, what, "StackSet operation succeeded");
                return Ok(());
            }
            OperationStatus::Failed | OperationStatus::Stopped => {
                let ended = how_it_ended(stack_sets, stack_set, &started, &state).await;
                let code = match state.status {
                    OperationStatus::Failed => "OperationFailed",
                    _ => "OperationStopped",
                };
                let message = format!("StackSet {stack_set}: operation {started} ({what}) {ended}");
                return Err(operation_error(code, message, false));
            }
            _ => {}
        }
        if !wait.has_time_for(pause) {
            let message = format!(
                "StackSet {stack_set}: operation {started} ({what}) is still {} and goes on in AWS; retry once it has finished (the retry picks up where this one stopped)",
                state.status.as_str()
            );
            return Err(operation_error("OperationStillRunning", message, true));
        }
        tokio::time::sleep(pause).await;
    }
    let message =
        format!("StackSet {stack_set}: operation {started} ({what}) was looked at too often");
    Err(operation_error("OperationStillRunning", message, true))
}

/// A failure of a StackSet operation as a whole, rather than of one call.
fn operation_error(code: impl Into<String>, message: String, retryable: bool) -> Error {
    Error::Aws {
        operation: "cloudformation:StackSets".to_owned(),
        code: Some(code.into()),
        message,
        retryable,
    }
}

/// How an operation that failed or stopped ended, for a message: `ended STATUS: reason`, then
/// each instance it failed on (at most five; none when they cannot be read).
pub async fn how_it_ended<S: StackSets>(
    stack_sets: &S,
    stack_set: &str,
    operation_id: &str,
    state: &OperationState,
) -> String {
    let mut told = format!("ended {}", state.status.as_str());
    if let Some(reason) = &state.status_reason {
        told.push_str(&format!(": {reason}"));
    }
    let failures = stack_sets
        .operation_failures(stack_set, operation_id, 5)
        .await
        .unwrap_or_default();
    for failure in &failures {
        told.push_str(&format!(
            "; account {} in {}: {}",
            failure.account, failure.region, failure.reason
        ));
    }
    told
}

/// What [`converge_stack_set`] had to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Convergence {
    pub stack_set_created: bool,
    /// What differed, when the StackSet was updated (empty when it was not).
    pub updated_for: Vec<String>,
    pub instances_created: Vec<StackInstanceTarget>,
}

/// Makes the StackSet what `spec` says, with an instance at every target:
///
/// 1. creates the StackSet when there is none;
/// 2. updates it (and so every instance) when its template, parameters or roles differ, or
///    when an instance was left `OUTDATED` by an operation that did not finish;
/// 3. creates the missing instances, one operation per region.
///
/// Instances that exist and are not targets are left alone (others may have made them).
/// `request_tag` names the request on whose behalf this runs; the operation ids derive from
/// it ([`operation_id`]).
pub async fn converge_stack_set<S: StackSets>(
    stack_sets: &S,
    spec: &StackSetSpec,
    targets: &[StackInstanceTarget],
    request_tag: &str,
    wait: &OperationWait,
) -> Result<Convergence, Error> {
    let mut done = Convergence::default();
    let existing = stack_sets.describe_stack_set(&spec.name).await?;
    let instances = match &existing {
        Some(_) => stack_sets.list_stack_instances(&spec.name).await?,
        None => Vec::new(),
    };
    match existing {
        None => {
            let token = operation_id(&spec.name, "create", request_tag);
            match stack_sets.create_stack_set(spec, &token).await {
                Ok(()) => {}
                // Created meanwhile by a concurrent delivery: carry on as if found.
                Err(err) if has_code(&err, "NameAlreadyExistsException") => {}
                Err(err) => return Err(err),
            }
            tracing::info!(stack_set = %spec.name, "StackSet created");
            done.stack_set_created = true;
        }
        Some(state) => {
            let mut reasons = state.differences(spec);
            let outdated: Vec<String> = instances
                .iter()
                .filter(|i| i.state == InstanceState::Outdated && targets.contains(&i.target))
                .map(|i| format!("outdated instance {}", i.target))
                .collect();
            reasons.extend(outdated);
            if !reasons.is_empty() {
                tracing::info!(stack_set = %spec.name, reasons = ?reasons, "updating StackSet");
                let id = operation_id(&spec.name, "update", request_tag);
                run_operation(stack_sets, &spec.name, "update", &id, wait, || {
                    stack_sets.update_stack_set(spec, &id)
                })
                .await?;
                done.updated_for = reasons;
            }
        }
    }
    let present: BTreeSet<&StackInstanceTarget> = instances.iter().map(|i| &i.target).collect();
    let missing = targets.iter().filter(|target| !present.contains(target));
    for (region, accounts) in by_region(missing) {
        let id = operation_id(
            &spec.name,
            &format!("create-instances-{region}"),
            request_tag,
        );
        let regions = [region.to_owned()];
        let what = format!("create instances in {region}");
        run_operation(stack_sets, &spec.name, &what, &id, wait, || {
            stack_sets.create_stack_instances(&spec.name, &accounts, &regions, &id)
        })
        .await?;
        done.instances_created.extend(targets_in(region, accounts));
    }
    Ok(done)
}

/// Deletes every instance of a StackSet the caller has just seen (`DescribeStackSet`), their
/// stacks too (one operation per region), and then the StackSet; answers the instances deleted.
pub async fn remove_existing_stack_set<S: StackSets>(
    stack_sets: &S,
    name: &str,
    request_tag: &str,
    wait: &OperationWait,
) -> Result<Vec<StackInstanceTarget>, Error> {
    let mut deleted = Vec::new();
    let instances = stack_sets.list_stack_instances(name).await?;
    for (region, accounts) in by_region(instances.iter().map(|i| &i.target)) {
        let id = operation_id(name, &format!("delete-instances-{region}"), request_tag);
        let regions = [region.to_owned()];
        let what = format!("delete {} instance(s) in {region}", accounts.len());
        run_operation(stack_sets, name, &what, &id, wait, || {
            stack_sets.delete_stack_instances(name, &accounts, &regions, Stacks::Delete, &id)
        })
        .await?;
        deleted.extend(targets_in(region, accounts));
    }
    stack_sets.delete_stack_set(name).await?;
    tracing::info!(stack_set = name, "StackSet deleted");
    Ok(deleted)
}

/// The accounts of `targets`, region by region: a StackSet operation works in one region.
fn by_region<'t>(
    targets: impl Iterator<Item = &'t StackInstanceTarget>,
) -> BTreeMap<&'t str, Vec<AccountId>> {
    let mut accounts: BTreeMap<&str, Vec<AccountId>> = BTreeMap::new();
    for target in targets {
        let region = accounts.entry(target.region.as_str()).or_default();
        region.push(target.account.clone());
    }
    accounts
}

fn targets_in(region: &str, accounts: Vec<AccountId>) -> impl Iterator<Item = StackInstanceTarget> {
    let targets = accounts.into_iter();
    targets.map(move |account| StackInstanceTarget::new(account, region))
}
