//! Converging and removing StackSets, and running their operations, over the in-memory
//! StackSets (busy, slow, failing).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudformation::types::{ConcurrencyMode, RegionConcurrencyType};
use lwct_aws::stacksets::*;
use lwct_domain::account::AccountId;
use lwct_domain::backoff::Backoff;
use lwct_domain::naming::Partition;
use lwct_domain::stack_set::{EXECUTION_ROLE_NAME, administration_role_arn};
use lwct_domain::stack_set::{StackInstanceTarget, StackSetSpec, operation_id};
use lwct_testkit::stack_sets::{Behaviour, InMemoryStackSets};
use tokio::time::Instant;

fn account(id: &str) -> AccountId {
    AccountId::parse(id).unwrap()
}

#[test]
fn operations_run_everywhere_at_once_with_the_tolerance_asked_for() {
    let strictest = operation_preferences(FailureTolerance::None);
    assert_eq!(
        strictest.concurrency_mode(),
        Some(&ConcurrencyMode::SoftFailureTolerance)
    );
    assert_eq!(strictest.failure_tolerance_percentage(), None);
    let each = operation_preferences(FailureTolerance::EachInstance);
    assert_eq!(each.concurrency_mode(), None, "strict mode");
    assert_eq!(each.failure_tolerance_percentage(), Some(100));
    for preferences in [strictest, each] {
        assert_eq!(preferences.max_concurrent_percentage(), Some(100));
        assert_eq!(
            preferences.region_concurrency_type(),
            Some(&RegionConcurrencyType::Parallel)
        );
    }
}

fn spec(template: &str) -> StackSetSpec {
    StackSetSpec {
        name: "lacework-ct-audit".into(),
        description: "test".into(),
        template_body: template.into(),
        parameters: BTreeMap::from([
            (
                "QueueName".to_owned(),
                "lacework-ct-cloudtrail-queue".to_owned(),
            ),
            ("ExternalIdSuffix".to_owned(), "verysecretsuffix".to_owned()),
            ("QueueKmsKeyArn".to_owned(), String::new()),
        ]),
        administration_role_arn: administration_role_arn(Partition::Aws, &account("123456789012")),
        execution_role_name: EXECUTION_ROLE_NAME.into(),
        managed_execution: false,
    }
}

fn wait(seconds: u64) -> OperationWait {
    OperationWait {
        deadline: Instant::now() + Duration::from_secs(seconds),
        poll: Backoff::new(Duration::from_millis(1), Duration::from_millis(4)),
        busy_retry: Duration::from_millis(1),
    }
}

fn target(id: &str) -> StackInstanceTarget {
    StackInstanceTarget::new(account(id), "us-east-1")
}

#[tokio::test]
async fn converging_twice_changes_nothing_the_second_time() {
    let fake = InMemoryStackSets::new();
    let first = converge_stack_set(
        &fake,
        &spec("t1"),
        &[target("222233334444")],
        "r1",
        &wait(5),
    )
    .await
    .unwrap();
    assert!(first.stack_set_created);
    assert_eq!(first.instances_created, [target("222233334444")]);
    let second = converge_stack_set(
        &fake,
        &spec("t1"),
        &[target("222233334444")],
        "r2",
        &wait(5),
    )
    .await
    .unwrap();
    assert_eq!(second, Convergence::default(), "nothing had to change");
    assert_eq!(fake.calls().len(), 2, "{:?}", fake.calls());
}

#[tokio::test]
async fn a_changed_template_updates_the_stack_set() {
    let fake = InMemoryStackSets::new();
    fake.insert(spec("t1"), &[target("222233334444")]);
    let done = converge_stack_set(&fake, &spec("t2"), &[target("222233334444")], "r", &wait(5))
        .await
        .unwrap();
    assert_eq!(done.updated_for, ["template"]);
    assert!(done.instances_created.is_empty());
    assert_eq!(
        fake.stack_sets()["lacework-ct-audit"].spec.template_body,
        "t2"
    );
}

#[tokio::test]
async fn a_busy_stack_set_is_retried_and_slow_operations_are_waited_for() {
    let fake = InMemoryStackSets::new();
    fake.insert(spec("t1"), &[]);
    fake.set_behaviour(Behaviour {
        busy_calls: 2,
        looks_until_done: 3,
        ..Behaviour::default()
    });
    let done = converge_stack_set(&fake, &spec("t1"), &[target("222233334444")], "r", &wait(5))
        .await
        .unwrap();
    assert_eq!(done.instances_created, [target("222233334444")]);
    let starts = fake
        .calls()
        .iter()
        .filter(|c| c.starts_with("CreateStackInstances"))
        .count();
    assert_eq!(starts, 3);
}

#[tokio::test]
async fn a_redelivered_request_waits_for_the_operation_it_started() {
    let fake = InMemoryStackSets::new();
    fake.insert(spec("t1"), &[]);
    let id = operation_id("lacework-ct-audit", "create-instances-us-east-1", "r");
    fake.create_stack_instances(
        "lacework-ct-audit",
        &[account("222233334444")],
        &["us-east-1".to_owned()],
        &id,
    )
    .await
    .unwrap();
    // The instance exists now, so a converge would not start anything: drive the
    // operation runner directly, as a redelivery that lost the race would.
    let accounts = [account("222233334444")];
    let regions = ["us-east-1".to_owned()];
    run_operation(&fake, "lacework-ct-audit", "create", &id, &wait(5), || {
        fake.create_stack_instances("lacework-ct-audit", &accounts, &regions, &id)
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_failed_operation_names_the_reason() {
    let fake = InMemoryStackSets::new();
    fake.insert(spec("t1"), &[]);
    fake.set_behaviour(Behaviour {
        fail_next: Some("AWSControlTowerExecution cannot be assumed".into()),
        ..Behaviour::default()
    });
    let err = converge_stack_set(&fake, &spec("t1"), &[target("222233334444")], "r", &wait(5))
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("ended FAILED"), "{shown}");
    assert!(
        shown.contains("AWSControlTowerExecution cannot be assumed"),
        "{shown}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn an_operation_still_running_at_the_deadline_says_so() {
    let fake = InMemoryStackSets::new();
    fake.insert(spec("t1"), &[]);
    fake.set_behaviour(Behaviour {
        never_done: true,
        ..Behaviour::default()
    });
    let mut short = wait(0);
    short.deadline = Instant::now() + Duration::from_millis(30);
    let err = converge_stack_set(&fake, &spec("t1"), &[target("222233334444")], "r", &short)
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("is still RUNNING"), "{shown}");
    assert!(shown.contains("create instances in us-east-1"), "{shown}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_stack_set_busy_until_the_deadline_is_a_retryable_error() {
    let fake = InMemoryStackSets::new();
    fake.insert(spec("t1"), &[]);
    fake.set_behaviour(Behaviour {
        busy_calls: 1_000_000,
        ..Behaviour::default()
    });
    let mut short = wait(0);
    short.deadline = Instant::now() + Duration::from_millis(20);
    let err = converge_stack_set(&fake, &spec("t1"), &[target("222233334444")], "r", &short)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("stayed busy"), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn removal_deletes_instances_then_the_stack_set_and_accepts_nothing_left() {
    let fake = InMemoryStackSets::new();
    fake.insert(
        spec("t1"),
        &[
            target("222233334444"),
            StackInstanceTarget::new(account("333344445555"), "eu-west-1"),
        ],
    );
    let deleted = remove_existing_stack_set(&fake, "lacework-ct-audit", "r", &wait(5))
        .await
        .unwrap();
    assert_eq!(deleted.len(), 2);
    assert!(fake.stack_sets().is_empty());
    let gone = fake.describe_stack_set("lacework-ct-audit").await.unwrap();
    assert!(gone.is_none());
}
