//! The handler against in-memory ports: what reaches StackSets, the registration queue, the
//! dead-letter queue and the partial batch response.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lwct_domain::AccountId;
use lwct_domain::mapping::{
    AccountStatus, OrganizationAccount, OrganizationTree, OrganizationalUnit, OuRules,
};
use lwct_domain::naming::Names;
use lwct_domain::registration::RegistrationWork;
use lwct_domain::stack_set::{EXECUTION_ROLE_NAME, StackInstanceTarget, StackSetSpec};
use lwct_testkit::stack_sets::Behaviour;
use serde_json::{Value, json};

use lwct_testkit::organizations::MemoryOrganizations;
use lwct_testkit::queues::MemoryQueues;

use crate::fakes::{FakePorts, FakeStackSets};
use crate::handler::{Lifecycle, Settings};

const MEMBER: &str = "lacework-ct-member";
const REGION: &str = "us-east-1";
const MANAGEMENT: &str = "111111111111";
const ACCOUNT_QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:111111111111:lacework-ct-account-queue";

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../events/lifecycle/", $name))
    };
}

fn id(text: &str) -> AccountId {
    AccountId::parse(text).unwrap()
}

/// Root, a Workloads OU and a Suspended OU; the management account and the given members.
fn organization(members: &[(&str, AccountStatus)]) -> OrganizationTree {
    let mut tree = OrganizationTree::new("r-ab12");
    for (unit, name) in [
        ("ou-ab12-cd34ef56", "Workloads"),
        ("ou-ab12-9f8e7d6c", "Sandbox"),
    ] {
        tree.add_unit(OrganizationalUnit {
            id: unit.into(),
            name: name.into(),
            parent_id: "r-ab12".into(),
        });
    }
    tree.add_account(OrganizationAccount {
        id: id(MANAGEMENT),
        name: "management".into(),
        parent_id: "r-ab12".into(),
        status: AccountStatus::Active,
    });
    for (account, status) in members {
        tree.add_account(OrganizationAccount {
            id: id(account),
            name: format!("account {account}"),
            parent_id: "ou-ab12-cd34ef56".into(),
            status: *status,
        });
    }
    tree
}

fn member_stack_set() -> StackSetSpec {
    StackSetSpec {
        name: MEMBER.into(),
        description: "members".into(),
        template_body: "template".into(),
        parameters: BTreeMap::new(),
        administration_role_arn: format!(
            "arn:aws:iam::{MANAGEMENT}:role/service-role/AWSControlTowerStackSetRole"
        ),
        execution_role_name: EXECUTION_ROLE_NAME.into(),
        managed_execution: true,
    }
}

fn lifecycle(members: &[(&str, AccountStatus)], instances: &[&str]) -> Lifecycle<FakePorts> {
    let stack_sets = FakeStackSets::default();
    let targets: Vec<StackInstanceTarget> = instances
        .iter()
        .map(|account| StackInstanceTarget::new(id(account), REGION))
        .collect();
    stack_sets.inner.insert(member_stack_set(), &targets);
    Lifecycle::new(
        stack_sets,
        MemoryOrganizations::new(organization(members), id(MANAGEMENT)),
        MemoryQueues::new(MANAGEMENT),
        Settings {
            region: REGION.into(),
            names: Names::default(),
            rules: OuRules::parse("Workloads=prod").unwrap(),
            member_instances: true,
        },
    )
}

fn active(accounts: &[&'static str]) -> Vec<(&'static str, AccountStatus)> {
    accounts
        .iter()
        .map(|a| (*a, AccountStatus::Active))
        .collect()
}

/// An SQS record as Lambda hands it over.
fn record(message_id: &str, body: &str, receive_count: u32) -> Value {
    json!({
        "messageId": message_id,
        "receiptHandle": format!("receipt-{message_id}-{receive_count}"),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": receive_count.to_string(),
            "SentTimestamp": "1724316329000",
        },
        "messageAttributes": {},
        "md5OfBody": "x",
        "eventSource": "aws:sqs",
        "eventSourceARN": ACCOUNT_QUEUE_ARN,
        "awsRegion": REGION,
    })
}

fn event(records: Vec<Value>) -> SqsEvent {
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn created(account: &str) -> String {
    fixture!("create-managed-account-succeeded.json").replace("222233334444", account)
}

fn updated(account: &str) -> String {
    fixture!("update-managed-account-succeeded.json").replace("222233334444", account)
}

fn moved(account: &str) -> String {
    fixture!("move-account.json").replace("222233334444", account)
}

fn closed(account: &str) -> String {
    fixture!("close-account.json").replace("222233334444", account)
}

fn onboard(accounts: &[&str]) -> String {
    let accounts: Vec<Value> = accounts
        .iter()
        .map(|a| json!({"id": a, "name": format!("account {a}")}))
        .collect();
    json!({"type": "OnboardAccounts", "source": "setup", "accounts": accounts}).to_string()
}

fn failures(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

fn operations(lifecycle: &Lifecycle<FakePorts>, kind: &str) -> Vec<String> {
    lifecycle
        .stack_sets
        .calls()
        .into_iter()
        .filter(|call| call.starts_with(kind))
        .collect()
}

fn registrations(lifecycle: &Lifecycle<FakePorts>) -> Vec<RegistrationWork> {
    lifecycle
        .queues
        .bodies("lacework-ct-registration-queue")
        .iter()
        .map(|body| RegistrationWork::from_message(body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_new_account_and_a_setup_batch_share_one_create_operation() {
    let lifecycle = lifecycle(
        &active(&["222233334444", "222233335555", "222233336666"]),
        &[],
    );
    let batch = event(vec![
        record("m-1", &created("222233334444"), 1),
        record("m-2", &onboard(&["222233335555", "222233336666"]), 1),
    ]);
    let response = lifecycle.handle(batch).await;
    assert!(failures(&response).is_empty(), "{response:?}");
    let creates = operations(&lifecycle, "CreateStackInstances");
    assert_eq!(
        creates,
        [format!(
            "CreateStackInstances {MEMBER} 222233334444/{REGION},222233335555/{REGION},222233336666/{REGION}"
        )]
    );
    assert_eq!(
        lifecycle.stack_sets.accounts(MEMBER),
        ["222233334444", "222233335555", "222233336666"]
    );
    // Read once for the whole batch, not once per account.
    assert_eq!(lifecycle.organizations.tree_reads(), 1);
    assert_eq!(lifecycle.stack_sets.listings.load(Ordering::SeqCst), 1);
    // Registration is the custom resource's business, not this function's.
    assert!(registrations(&lifecycle).is_empty());
    assert!(lifecycle.queues.dead_letters().is_empty());
}

/// Setup's batches come ten at a time from one read of the tree: a warm container decides
/// them with the tree it read for the first, while a lifecycle event, or a batch naming an
/// account the kept tree does not show ACTIVE, reads it afresh.
#[tokio::test]
async fn onboarding_batches_share_a_recent_tree_and_events_read_it_afresh() {
    let lifecycle = lifecycle(
        &active(&["222233334444", "222233335555", "222233336666"]),
        &[],
    );
    for (index, account) in ["222233334444", "222233335555"].iter().enumerate() {
        let response = lifecycle
            .handle(event(vec![record(
                &format!("m-{index}"),
                &onboard(&[account]),
                1,
            )]))
            .await;
        assert!(failures(&response).is_empty(), "{response:?}");
    }
    assert_eq!(lifecycle.organizations.tree_reads(), 1);

    // An account the kept tree does not show (nor does the organization): read again.
    let response = lifecycle
        .handle(event(vec![record("m-3", &onboard(&["222233337777"]), 1)]))
        .await;
    assert!(failures(&response).is_empty(), "{response:?}");
    assert_eq!(lifecycle.organizations.tree_reads(), 2);

    // An event is decided on the organization as it is now.
    let response = lifecycle
        .handle(event(vec![record("m-4", &created("222233336666"), 1)]))
        .await;
    assert!(failures(&response).is_empty(), "{response:?}");
    assert_eq!(lifecycle.organizations.tree_reads(), 3);
    assert_eq!(
        lifecycle.stack_sets.accounts(MEMBER),
        ["222233334444", "222233335555", "222233336666"]
    );
}

#[tokio::test]
async fn the_same_batch_delivered_three_times_makes_one_instance_each() {
    let lifecycle = lifecycle(&active(&["222233334444", "222233335555"]), &[]);
    for receive_count in 1..=3 {
        let batch = event(vec![
            record("m-1", &created("222233334444"), receive_count),
            record(
                "m-2",
                &onboard(&["222233334444", "222233335555"]),
                receive_count,
            ),
        ]);
        let response = lifecycle.handle(batch).await;
        assert!(failures(&response).is_empty(), "{response:?}");
    }
    assert_eq!(operations(&lifecycle, "CreateStackInstances").len(), 1);
    assert_eq!(
        lifecycle.stack_sets.accounts(MEMBER),
        ["222233334444", "222233335555"]
    );
}

#[tokio::test]
async fn the_management_account_gets_no_instance() {
    let lifecycle = lifecycle(&active(&["222233334444"]), &[]);
    let response = lifecycle
        .handle(event(vec![record(
            "m-1",
            &onboard(&[MANAGEMENT, "222233334444"]),
            1,
        )]))
        .await;
    assert!(failures(&response).is_empty());
    assert_eq!(lifecycle.stack_sets.accounts(MEMBER), ["222233334444"]);
}

#[tokio::test]
async fn a_busy_stack_set_sends_its_records_back_later_and_later_each_time() {
    let lifecycle = lifecycle(&active(&["222233334444", "222233335555"]), &[]);
    lifecycle.stack_sets.inner.set_behaviour(Behaviour {
        busy_calls: 2,
        ..Behaviour::default()
    });
    let batch = |receive_count| {
        event(vec![
            record("m-1", &created("222233334444"), receive_count),
            record("m-2", &onboard(&["222233335555"]), receive_count),
            record(
                "m-3",
                fixture!("ec2-instance-state-change.json"),
                receive_count,
            ),
        ])
    };
    let first = lifecycle.handle(batch(1)).await;
    assert_eq!(failures(&first), ["m-1", "m-2"]);
    let second = lifecycle.handle(batch(4)).await;
    assert_eq!(failures(&second), ["m-1", "m-2"]);
    // The account queue's URL is looked up once for both invocations.
    assert_eq!(lifecycle.queues.url_lookups(), 1);
    let visibility = lifecycle.queues.visibility_changes();
    assert_eq!(visibility.len(), 4, "{visibility:?}");
    for change in &visibility {
        let url = &change.queue_url;
        assert!(url.ends_with("/lacework-ct-account-queue"), "{url}");
    }
    assert_eq!(visibility[0].receipt_handle, "receipt-m-1-1");
    // 30 s (and up to a fifth more) after the first receive, 240 s after the fourth.
    assert!(
        (30..=36).contains(&visibility[0].visibility.as_secs()),
        "{visibility:?}"
    );
    assert!(
        (240..=288).contains(&visibility[2].visibility.as_secs()),
        "{visibility:?}"
    );
    assert!(lifecycle.stack_sets.accounts(MEMBER).is_empty());

    // Not busy any more: the records come back and go through.
    let third = lifecycle.handle(batch(5)).await;
    assert!(failures(&third).is_empty(), "{third:?}");
    assert_eq!(
        lifecycle.stack_sets.accounts(MEMBER),
        ["222233334444", "222233335555"]
    );
}

#[tokio::test]
async fn a_failed_operation_is_reported_and_not_lost() {
    let lifecycle = lifecycle(&active(&["222233334444"]), &[]);
    lifecycle.stack_sets.inner.set_behaviour(Behaviour {
        fail_next: Some("AWSControlTowerExecution cannot be assumed".into()),
        ..Behaviour::default()
    });
    let message = created("222233334444");
    // Started, not waited for: the record is done.
    let first = lifecycle
        .handle(event(vec![record("m-1", &message, 1)]))
        .await;
    assert!(failures(&first).is_empty());
    assert!(lifecycle.stack_sets.accounts(MEMBER).is_empty());

    // The same message again finds the operation it started, failed: dead-lettered with
    // the failure, not retried forever.
    let again = lifecycle
        .handle(event(vec![record("m-1", &message, 2)]))
        .await;
    assert!(failures(&again).is_empty());
    let dead = lifecycle.queues.dead_letters();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].queue_url.ends_with("/lacework-ct-account-dlq"));
    assert_eq!(dead[0].body, message);
    assert!(
        dead[0].reason.contains("ended FAILED"),
        "{}",
        dead[0].reason
    );
    assert!(
        dead[0]
            .reason
            .contains("AWSControlTowerExecution cannot be assumed"),
        "{}",
        dead[0].reason
    );

    // Redriven (a new message) or any later message about the account: a new attempt.
    let redriven = lifecycle
        .handle(event(vec![record("m-9", &message, 1)]))
        .await;
    assert!(failures(&redriven).is_empty());
    assert_eq!(lifecycle.stack_sets.accounts(MEMBER), ["222233334444"]);
}

#[tokio::test]
async fn an_outdated_instance_is_applied_again() {
    let lifecycle = lifecycle(&active(&["222233334444"]), &["222233334444"]);
    lifecycle
        .stack_sets
        .outdated
        .lock()
        .unwrap()
        .insert(id("222233334444"));
    let response = lifecycle
        .handle(event(vec![record("m-1", &onboard(&["222233334444"]), 1)]))
        .await;
    assert!(failures(&response).is_empty());
    let updates = operations(&lifecycle, "UpdateStackInstances");
    assert_eq!(updates.len(), 1, "{:?}", lifecycle.stack_sets.calls());
    assert!(updates[0].contains("222233334444"), "{updates:?}");
    assert!(operations(&lifecycle, "CreateStackInstances").is_empty());
}

#[tokio::test]
async fn moved_accounts_are_remapped() {
    let lifecycle = lifecycle(
        &active(&["222233334444", "222233335555"]),
        &["222233334444", "222233335555"],
    );
    let response = lifecycle
        .handle(event(vec![
            record("m-1", &moved("222233334444"), 1),
            record("m-2", &updated("222233335555"), 1),
        ]))
        .await;
    assert!(failures(&response).is_empty());
    let work = registrations(&lifecycle);
    let remapped: Vec<&str> = work
        .iter()
        .filter(|w| matches!(w, RegistrationWork::Remap { .. }))
        .map(|w| w.account().as_str())
        .collect();
    assert_eq!(remapped, ["222233334444", "222233335555"]);
    let RegistrationWork::Remap { cause, .. } = &work[0] else {
        panic!()
    };
    assert!(cause.starts_with("lifecycle:MoveAccount "), "{cause}");
    // Their instances exist: no StackSet operation.
    assert!(
        lifecycle.stack_sets.calls().is_empty(),
        "{:?}",
        lifecycle.stack_sets.calls()
    );
}

#[tokio::test]
async fn closed_and_suspended_accounts_lose_their_instance_and_are_deregistered() {
    let lifecycle = lifecycle(
        &[
            ("222233334444", AccountStatus::PendingClosure),
            ("222233335555", AccountStatus::Suspended),
        ],
        &["222233334444", "222233335555"],
    );
    let response = lifecycle
        .handle(event(vec![
            record("m-1", &closed("222233334444"), 1),
            // Setup queued it while it was active; it is SUSPENDED now.
            record("m-2", &onboard(&["222233335555"]), 1),
        ]))
        .await;
    assert!(failures(&response).is_empty(), "{response:?}");
    assert!(lifecycle.stack_sets.accounts(MEMBER).is_empty());
    let deletes = operations(&lifecycle, "DeleteStackInstances");
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert!(deletes[0].ends_with(" RetainStacks"), "{deletes:?}");
    let deregistered: Vec<String> = registrations(&lifecycle)
        .iter()
        .filter(|w| matches!(w, RegistrationWork::Deregister { .. }))
        .map(|w| w.account().as_str().to_owned())
        .collect();
    assert_eq!(deregistered, ["222233334444", "222233335555"]);
}

#[tokio::test]
async fn a_busy_delete_holds_back_the_deregistration_too() {
    let lifecycle = lifecycle(
        &[("222233334444", AccountStatus::Suspended)],
        &["222233334444"],
    );
    lifecycle.stack_sets.inner.set_behaviour(Behaviour {
        busy_calls: 1,
        ..Behaviour::default()
    });
    let response = lifecycle
        .handle(event(vec![record("m-1", &closed("222233334444"), 1)]))
        .await;
    assert_eq!(failures(&response), ["m-1"]);
    assert!(registrations(&lifecycle).is_empty());
    let again = lifecycle
        .handle(event(vec![record("m-1", &closed("222233334444"), 2)]))
        .await;
    assert!(failures(&again).is_empty());
    assert_eq!(registrations(&lifecycle).len(), 1);
}

#[tokio::test]
async fn failed_states_and_unrelated_events_are_acknowledged_without_reading_anything() {
    let lifecycle = lifecycle(&active(&["222233335555"]), &[]);
    let response = lifecycle
        .handle(event(vec![
            record("m-1", fixture!("create-managed-account-failed.json"), 1),
            record("m-2", fixture!("update-managed-account-failed.json"), 1),
            record("m-3", fixture!("ec2-instance-state-change.json"), 1),
            record("m-4", fixture!("register-organizational-unit.json"), 1),
            record("m-5", fixture!("close-account-failed.json"), 1),
        ]))
        .await;
    assert!(failures(&response).is_empty(), "{response:?}");
    assert_eq!(lifecycle.organizations.tree_reads(), 0);
    assert!(lifecycle.stack_sets.calls().is_empty());
    assert!(lifecycle.queues.sent().is_empty());
    assert!(lifecycle.queues.dead_letters().is_empty());
}

#[tokio::test]
async fn garbage_is_dead_lettered_with_its_reason() {
    let lifecycle = lifecycle(&active(&["222233334444"]), &[]);
    let response = lifecycle
        .handle(event(vec![
            record("m-1", "this is not json", 1),
            record("m-2", r#"{"type": "Explode"}"#, 1),
            record(
                "m-3",
                fixture!("broken-missing-service-event-details.json"),
                1,
            ),
            record("m-4", &created("222233334444"), 1),
        ]))
        .await;
    assert!(failures(&response).is_empty(), "{response:?}");
    let dead = lifecycle.queues.dead_letters();
    let reasons: Vec<&str> = dead.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(dead.len(), 3, "{reasons:?}");
    assert!(
        reasons[0].starts_with("$.Records[0].body: is not JSON"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("$.Records[1].body.type"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].contains("$.Records[2].body.detail.serviceEventDetails"),
        "{reasons:?}"
    );
    assert_eq!(dead[0].body, "this is not json");
    // The readable record next to them went through.
    assert_eq!(lifecycle.stack_sets.accounts(MEMBER), ["222233334444"]);
}

#[tokio::test]
async fn what_cannot_be_dead_lettered_goes_back_to_the_queue() {
    let lifecycle = lifecycle(&active(&[]), &[]);
    lifecycle.queues.fail_dead_letters(true);
    let response = lifecycle
        .handle(event(vec![record("m-1", "not json", 1)]))
        .await;
    assert_eq!(failures(&response), ["m-1"]);
}

#[tokio::test]
async fn a_throttled_organization_read_sends_the_records_back() {
    let lifecycle = lifecycle(&active(&["222233334444"]), &[]);
    lifecycle.organizations.throttle_next_reads(u32::MAX);
    let response = lifecycle
        .handle(event(vec![
            record("m-1", &created("222233334444"), 1),
            record("m-2", "garbage", 1),
        ]))
        .await;
    assert_eq!(failures(&response), ["m-1"]);
    assert!(lifecycle.stack_sets.calls().is_empty());
    assert_eq!(lifecycle.queues.dead_letters().len(), 1);
}

#[tokio::test]
async fn registration_work_that_cannot_be_queued_comes_back() {
    let lifecycle = lifecycle(&active(&["222233334444"]), &["222233334444"]);
    lifecycle.queues.fail_sends(true);
    let response = lifecycle
        .handle(event(vec![record("m-1", &moved("222233334444"), 1)]))
        .await;
    assert_eq!(failures(&response), ["m-1"]);
    let visibility = lifecycle.queues.visibility_changes();
    assert_eq!(visibility.len(), 1);
    assert!(visibility[0].visibility >= Duration::from_secs(30));
}

#[tokio::test]
async fn configuration_assessment_off_still_remaps_and_deregisters() {
    let mut lifecycle = lifecycle(
        &[
            ("222233334444", AccountStatus::Active),
            ("222233335555", AccountStatus::Active),
        ],
        &[],
    );
    lifecycle.settings.member_instances = false;
    let response = lifecycle
        .handle(event(vec![
            record("m-1", &created("222233334444"), 1),
            record("m-2", &moved("222233334444"), 1),
            record("m-3", &closed("222233335555"), 1),
        ]))
        .await;
    assert!(failures(&response).is_empty());
    assert!(lifecycle.stack_sets.calls().is_empty());
    assert_eq!(lifecycle.stack_sets.listings.load(Ordering::SeqCst), 0);
    let kinds: Vec<String> = registrations(&lifecycle)
        .iter()
        .map(|w| {
            format!("{w:?}")
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, ["Deregister", "Remap"]);
}
