//! An in-memory [`StackSets`] for tests: operations that end at once or after some looks,
//! fail, or never end; a StackSet that is busy for the next few calls; `NoEcho` masking; a
//! log of every changing call.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use lwct_aws::stacksets::{StackSets, Stacks};
use lwct_domain::Error;
use lwct_domain::account::AccountId;
use lwct_domain::lifecycle::InstanceState;
use lwct_domain::stack_set::MASKED_VALUE;
use lwct_domain::stack_set::{
    InstanceFailure, OperationState, OperationStatus, StackInstance, StackInstanceTarget,
    StackSetSpec, StackSetState,
};

/// How the next operations behave.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// The next this many starting calls fail with `OperationInProgressException`.
    pub busy_calls: u32,
    /// Operations are `RUNNING` for this many looks before they end.
    pub looks_until_done: u32,
    /// Operations never end.
    pub never_done: bool,
    /// The next operation ends `FAILED` with this reason (and changes nothing).
    pub fail_next: Option<String>,
    /// Parameters `DescribeStackSet` masks, like `NoEcho` ones in AWS.
    pub masked_parameters: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct Operation {
    stack_set: String,
    looks_left: u32,
    never_done: bool,
    failure: Option<String>,
}

/// A StackSet held in memory.
#[derive(Debug, Clone)]
pub struct HeldStackSet {
    pub spec: StackSetSpec,
    pub instances: BTreeSet<StackInstanceTarget>,
}

#[derive(Debug, Default)]
struct State {
    stack_sets: BTreeMap<String, HeldStackSet>,
    operations: BTreeMap<String, Operation>,
    behaviour: Behaviour,
    calls: Vec<String>,
}

/// The fake.
#[derive(Debug, Default)]
pub struct InMemoryStackSets {
    state: Mutex<State>,
}

impl InMemoryStackSets {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes how the next operations behave.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.state().behaviour = behaviour;
    }

    /// The StackSets that exist.
    pub fn stack_sets(&self) -> BTreeMap<String, HeldStackSet> {
        self.state().stack_sets.clone()
    }

    /// Every changing call so far, like `CreateStackSet lacework-ct-audit`.
    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    /// Adds a StackSet as if made earlier.
    pub fn insert(&self, spec: StackSetSpec, instances: &[StackInstanceTarget]) {
        self.state().stack_sets.insert(
            spec.name.clone(),
            HeldStackSet {
                spec,
                instances: instances.iter().cloned().collect(),
            },
        );
    }

    /// Starts an operation: refuses while busy or when the id was used, then applies
    /// `change` unless the operation is to fail.
    fn start(
        &self,
        call: String,
        stack_set: &str,
        operation_id: &str,
        change: impl FnOnce(&mut HeldStackSet),
    ) -> Result<String, Error> {
        let mut state = self.state();
        state.calls.push(call.clone());
        if state.behaviour.busy_calls > 0 {
            state.behaviour.busy_calls -= 1;
            return Err(aws_code(
                &call,
                "OperationInProgressException",
                "Another Operation on StackSet is in progress",
                true,
            ));
        }
        if state.operations.contains_key(operation_id) {
            return Err(aws_code(
                &call,
                "OperationIdAlreadyExistsException",
                "operation id already exists",
                false,
            ));
        }
        let failure = state.behaviour.fail_next.take();
        let looks_left = state.behaviour.looks_until_done;
        let never_done = state.behaviour.never_done;
        let Some(held) = state.stack_sets.get_mut(stack_set) else {
            return Err(aws_code(
                &call,
                "StackSetNotFoundException",
                "StackSet not found",
                false,
            ));
        };
        if failure.is_none() {
            change(held);
        }
        state.operations.insert(
            operation_id.to_owned(),
            Operation {
                stack_set: stack_set.to_owned(),
                looks_left,
                never_done,
                failure,
            },
        );
        Ok(operation_id.to_owned())
    }
}

/// Every account in every region.
fn targets(accounts: &[AccountId], regions: &[String]) -> Vec<StackInstanceTarget> {
    accounts
        .iter()
        .flat_map(|account| {
            regions
                .iter()
                .map(|region| StackInstanceTarget::new(account.clone(), region.clone()))
        })
        .collect()
}

fn shown(targets: &[StackInstanceTarget]) -> String {
    let shown: Vec<String> = targets.iter().map(ToString::to_string).collect();
    shown.join(",")
}

fn aws_code(operation: &str, code: &str, message: &str, retryable: bool) -> Error {
    Error::Aws {
        operation: format!("cloudformation:{operation}"),
        code: Some(code.to_owned()),
        message: message.to_owned(),
        retryable,
    }
}

impl StackSets for InMemoryStackSets {
    async fn describe_stack_set(&self, name: &str) -> Result<Option<StackSetState>, Error> {
        let state = self.state();
        Ok(state.stack_sets.get(name).map(|held| StackSetState {
            name: held.spec.name.clone(),
            template_body: held.spec.template_body.clone(),
            parameters: held
                .spec
                .sent_parameters()
                .map(|(key, value)| {
                    let shown = if state.behaviour.masked_parameters.contains(key) {
                        MASKED_VALUE.to_owned()
                    } else {
                        value.clone()
                    };
                    (key.clone(), shown)
                })
                .collect(),
            administration_role_arn: Some(held.spec.administration_role_arn.clone()),
            execution_role_name: Some(held.spec.execution_role_name.clone()),
        }))
    }

    async fn create_stack_set(&self, spec: &StackSetSpec, _token: &str) -> Result<(), Error> {
        let mut state = self.state();
        state.calls.push(format!("CreateStackSet {}", spec.name));
        if state.stack_sets.contains_key(&spec.name) {
            return Err(aws_code(
                "CreateStackSet",
                "NameAlreadyExistsException",
                "exists",
                false,
            ));
        }
        state.stack_sets.insert(
            spec.name.clone(),
            HeldStackSet {
                spec: spec.clone(),
                instances: BTreeSet::new(),
            },
        );
        Ok(())
    }

    async fn update_stack_set(
        &self,
        spec: &StackSetSpec,
        operation_id: &str,
    ) -> Result<String, Error> {
        let wanted = spec.clone();
        self.start(
            format!("UpdateStackSet {}", spec.name),
            &spec.name,
            operation_id,
            |held| held.spec = wanted,
        )
    }

    async fn delete_stack_set(&self, name: &str) -> Result<(), Error> {
        let mut state = self.state();
        state.calls.push(format!("DeleteStackSet {name}"));
        if state
            .stack_sets
            .get(name)
            .is_some_and(|held| !held.instances.is_empty())
        {
            return Err(aws_code(
                "DeleteStackSet",
                "StackSetNotEmptyException",
                "StackSet is not empty",
                false,
            ));
        }
        state.stack_sets.remove(name);
        Ok(())
    }

    async fn list_stack_instances(&self, name: &str) -> Result<Vec<StackInstance>, Error> {
        let state = self.state();
        Ok(state
            .stack_sets
            .get(name)
            .map(|held| {
                held.instances
                    .iter()
                    .map(|target| StackInstance {
                        target: target.clone(),
                        state: InstanceState::Current,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn create_stack_instances(
        &self,
        name: &str,
        accounts: &[AccountId],
        regions: &[String],
        operation_id: &str,
    ) -> Result<String, Error> {
        let targets = targets(accounts, regions);
        self.start(
            format!("CreateStackInstances {name} {}", shown(&targets)),
            name,
            operation_id,
            |held| held.instances.extend(targets),
        )
    }

    async fn update_stack_instances(
        &self,
        name: &str,
        accounts: &[AccountId],
        regions: &[String],
        operation_id: &str,
    ) -> Result<String, Error> {
        let targets = targets(accounts, regions);
        self.start(
            format!("UpdateStackInstances {name} {}", shown(&targets)),
            name,
            operation_id,
            |_| {},
        )
    }

    async fn delete_stack_instances(
        &self,
        name: &str,
        accounts: &[AccountId],
        regions: &[String],
        stacks: Stacks,
        operation_id: &str,
    ) -> Result<String, Error> {
        let targets = targets(accounts, regions);
        let retained = match stacks {
            Stacks::Delete => "",
            Stacks::Retain => " RetainStacks",
        };
        self.start(
            format!("DeleteStackInstances {name} {}{retained}", shown(&targets)),
            name,
            operation_id,
            |held| {
                for target in &targets {
                    held.instances.remove(target);
                }
            },
        )
    }

    async fn describe_operation(
        &self,
        name: &str,
        operation_id: &str,
    ) -> Result<OperationState, Error> {
        let mut state = self.state();
        let Some(operation) = state
            .operations
            .get_mut(operation_id)
            .filter(|o| o.stack_set == name)
        else {
            return Err(aws_code(
                "DescribeStackSetOperation",
                "OperationNotFoundException",
                "no such operation",
                false,
            ));
        };
        if operation.never_done {
            return Ok(OperationState {
                status: OperationStatus::Running,
                status_reason: None,
            });
        }
        if operation.looks_left > 0 {
            operation.looks_left -= 1;
            return Ok(OperationState {
                status: OperationStatus::Running,
                status_reason: None,
            });
        }
        Ok(match &operation.failure {
            None => OperationState {
                status: OperationStatus::Succeeded,
                status_reason: None,
            },
            Some(reason) => OperationState {
                status: OperationStatus::Failed,
                status_reason: Some(reason.clone()),
            },
        })
    }

    async fn operation_failures(
        &self,
        _name: &str,
        operation_id: &str,
        _limit: usize,
    ) -> Result<Vec<InstanceFailure>, Error> {
        let state = self.state();
        Ok(state
            .operations
            .get(operation_id)
            .and_then(|o| o.failure.clone())
            .map(|reason| {
                vec![InstanceFailure {
                    account: "(fake)".to_owned(),
                    region: "(fake)".to_owned(),
                    reason,
                }]
            })
            .unwrap_or_default())
    }
}
