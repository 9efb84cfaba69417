//! What the end-to-end tests of the account flows share: a landing zone per test (its own
//! ports, its logs under `.cache/landing-zone/tests/<test>/logs`), bounded in time, and the
//! steps every account test starts from (setup, then the existing accounts onboarded).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test
#![allow(dead_code)] // Each test file uses its own part of this.

use std::path::{Path, PathBuf};
use std::time::Duration;

use landing_zone::flows::{AccountQueueRun, DrainLimits, DrainRun};
use landing_zone::registration_topic::DeliveredRequest;
use landing_zone::seed::{Account, Organization};
use landing_zone::state::Registration;
use landing_zone::{LandingZone, Options};
use lwct_domain::AccountId;

/// The OU rules of the account tests: Prod accounts report to sub-account `prod`, Dev ones to
/// `dev`, the rest to the Lacework account itself (`acme`).
pub const OU_RULES: &str = "Prod=prod,Dev=dev";

/// The Lacework account, and the sub-account of accounts no rule maps.
pub const DEFAULT_SUB_ACCOUNT: &str = "acme";

/// The role the member StackSet creates in each account.
pub const MEMBER_ROLE: &str = "lacework-ct-config-role";

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// Options for test `name`: binaries of this build (or of `LANDING_ZONE_BIN_DIR`, such as
/// `target/release`), logs under `.cache/landing-zone/tests/<name>/logs`, the OU rules above.
pub fn options(name: &str) -> Options {
    let bin_dir = match std::env::var_os("LANDING_ZONE_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_BIN_EXE_landing-zone"))
            .parent()
            .expect("the landing-zone binary is in a target folder")
            .to_path_buf(),
    };
    for binary in landing_zone::FUNCTIONS.iter().chain(&["lacework-emulator"]) {
        assert!(
            bin_dir.join(binary).is_file(),
            "{} is missing: build the binaries first (cargo build --workspace --bins; make test does)",
            bin_dir.join(binary).display()
        );
    }
    let root = repository_root();
    let work_dir = root.join(".cache/landing-zone/tests").join(name);
    // Logs of an earlier run of this test would only confuse.
    let _ = std::fs::remove_dir_all(&work_dir);
    let mut options = Options::new(root, bin_dir)
        .with_function_env(lwct_domain::config::LACEWORK_OU_RULES, OU_RULES);
    options.work_dir = work_dir;
    options.function_timeout = Duration::from_secs(120);
    options
}

/// Starts a landing zone, or fails the test saying why it could not.
pub async fn start(options: Options) -> LandingZone {
    match LandingZone::start(options).await {
        Ok(zone) => zone,
        Err(err) => panic!("the local landing zone did not start: {err}"),
    }
}

/// Runs a test body within `limit`.
pub async fn within(limit: Duration, body: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(limit, body).await.is_err() {
        panic!("the test took longer than {} s", limit.as_secs());
    }
}

/// How long the drain may take in these tests.
pub fn drain_limits() -> DrainLimits {
    DrainLimits {
        max_runs: 40,
        timeout: Duration::from_secs(120),
        pause: Duration::from_millis(500),
        interval: Duration::ZERO,
    }
}

/// Runs setup's Create and asserts it succeeded.
pub async fn set_up(zone: &LandingZone) {
    let created = zone.setup("Create", None).await.expect("setup delivered");
    assert_eq!(
        created.status(),
        Some("SUCCESS"),
        "setup: {}; function: {:?}",
        created.reason(),
        created.invocation.answer
    );
}

/// Asserts that every batch was taken and every custom resource request answered SUCCESS
/// exactly once (relayed to moto's CloudFormation).
pub fn assert_handled(what: &str, run: &AccountQueueRun) {
    for batch in &run.batches {
        assert!(
            batch.failed.is_empty() && batch.invocation.answer.is_response(),
            "{what}: account-lifecycle left {:?} of {:?} in the queue; answer {:?}; log {}",
            batch.failed,
            batch.message_ids,
            batch.invocation.answer,
            batch.invocation.log.display()
        );
    }
    for request in &run.registration_requests {
        assert_answered(what, request, "SUCCESS");
    }
}

/// Asserts a registration request was answered `status` exactly once, with no content type.
pub fn assert_answered(what: &str, request: &DeliveredRequest, status: &str) {
    assert_eq!(
        (request.status(), request.outcome.answers_received),
        (Some(status), 1),
        "{what}: the {} request of account {} must be answered {status} once; reason {:?}; \
         function {:?}; log {}",
        request.request_type,
        request.account,
        request.outcome.reason(),
        request.outcome.invocation.answer,
        request.outcome.invocation.log.display()
    );
    assert!(
        request
            .outcome
            .content_type
            .as_deref()
            .unwrap_or_default()
            .is_empty(),
        "the answer's content type must be empty, not {:?}",
        request.outcome.content_type
    );
}

/// Runs the registration drain until the registration queue is empty, and asserts it emptied.
pub async fn drain(zone: &LandingZone, what: &str) -> DrainRun {
    let drained = zone
        .drain_registrations(drain_limits())
        .await
        .expect("drain delivered");
    assert!(
        drained.emptied(),
        "{what}: the registration queue was not emptied: {:?} left after {} run(s); last answer {:?}",
        drained.remaining,
        drained.runs.len(),
        drained.runs.last().map(|run| &run.answer)
    );
    drained
}

/// setup, then the existing accounts onboarded: the account queue delivered (instances
/// created, their custom resources answered) and the registrations drained.
pub async fn set_up_and_onboard(zone: &LandingZone) {
    set_up(zone).await;
    let run = zone
        .run_account_queue()
        .await
        .expect("account queue delivered");
    assert!(
        !run.batches.is_empty(),
        "setup queued the existing accounts"
    );
    assert_handled("onboarding", &run);
    drain(zone, "onboarding").await;
}

/// The `AwsCfg` registrations of `account`.
pub async fn registrations_of(zone: &LandingZone, account: &AccountId) -> Vec<Registration> {
    zone.registrations()
        .await
        .expect("emulator state")
        .into_iter()
        .filter(|registration| registration.account == account.as_str())
        .collect()
}

/// The sub-accounts `account` is registered in.
pub async fn registered_in(zone: &LandingZone, account: &AccountId) -> Vec<String> {
    registrations_of(zone, account)
        .await
        .into_iter()
        .map(|registration| registration.sub_account)
        .collect()
}

/// How many member stack instances `account` has.
pub async fn instances_of(zone: &LandingZone, account: &AccountId) -> usize {
    zone.member_instances()
        .await
        .expect("member instances")
        .iter()
        .filter(|instance| instance.account == account.as_str())
        .count()
}

/// The Lacework account the org-level CloudTrail mapping file maps `account` to, and whether
/// it lists it explicitly.
pub async fn mapping_of(zone: &LandingZone, account: &AccountId) -> (String, bool) {
    let state = zone.lacework_state().await.expect("emulator state");
    let mapping = landing_zone::state::cloudtrail_mapping(&state)
        .expect("an org-level CloudTrail integration with a mapping file");
    let listed = mapping["integration_mappings"]
        .as_object()
        .into_iter()
        .flatten()
        .any(|(_, entry)| {
            entry["aws_accounts"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|id| id == account.as_str()))
        });
    (
        landing_zone::state::mapped_lacework_account(&mapping, account.as_str()),
        listed,
    )
}

/// The Embedded Metric Format documents a function wrote to its log, each checked against the
/// rules CloudWatch applies (metadata names the namespace, dimensions and metrics, and each
/// has its value at the top level).
pub fn metrics_in(log: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(log).expect("the function's log");
    let documents: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|document| document.get("_aws").is_some())
        .collect();
    for document in &documents {
        let directives = document["_aws"]["CloudWatchMetrics"]
            .as_array()
            .expect("directives");
        assert!(document["_aws"]["Timestamp"].is_u64(), "{document}");
        for directive in directives {
            assert_eq!(directive["Namespace"], "LaceworkControlTower", "{document}");
            for name in directive["Dimensions"][0]
                .as_array()
                .expect("a dimension set")
            {
                let name = name.as_str().expect("a dimension name");
                assert!(document[name].is_string(), "dimension {name}: {document}");
            }
            for metric in directive["Metrics"].as_array().expect("metrics") {
                let name = metric["Name"].as_str().expect("a metric name");
                assert!(document[name].is_number(), "metric {name}: {document}");
            }
        }
    }
    documents
}

/// The sum of `metric` over the documents of `function`.
pub fn metric_total(documents: &[serde_json::Value], function: &str, metric: &str) -> u64 {
    documents
        .iter()
        .filter(|document| document["Function"] == function)
        .filter_map(|document| document[metric].as_u64())
        .sum()
}

/// One resource of a stack.
#[derive(Debug, Clone, PartialEq)]
pub struct StackResourceView {
    pub logical_id: String,
    pub resource_type: String,
    pub physical_id: String,
    pub status: String,
}

/// The resources of the live stack that stack set `stack_set` deployed in `account` (empty
/// when there is none).
pub async fn instance_resources(
    zone: &LandingZone,
    account: &AccountId,
    stack_set: &str,
) -> Vec<StackResourceView> {
    let (client, stacks) = live_instance_stacks(zone, account, stack_set).await;
    let mut resources = Vec::new();
    for stack in stacks {
        let described = client
            .describe_stack_resources()
            .stack_name(stack.stack_id().or(stack.stack_name()).unwrap_or_default())
            .send()
            .await
            .expect("cloudformation:DescribeStackResources");
        let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
        resources.extend(
            described
                .stack_resources()
                .iter()
                .map(|resource| StackResourceView {
                    logical_id: text(resource.logical_resource_id()),
                    resource_type: text(resource.resource_type()),
                    physical_id: text(resource.physical_resource_id()),
                    status: text(resource.resource_status().map(|status| status.as_str())),
                }),
        );
    }
    resources
}

/// The status of the live stack that stack set `stack_set` deployed in `account`
/// (`CREATE_COMPLETE`, or `CREATE_IN_PROGRESS` while a custom resource is unanswered), if any.
pub async fn instance_stack_status(
    zone: &LandingZone,
    account: &AccountId,
    stack_set: &str,
) -> Option<String> {
    let (_, stacks) = live_instance_stacks(zone, account, stack_set).await;
    stacks.iter().find_map(|stack| {
        stack
            .stack_status()
            .map(|status| status.as_str().to_owned())
    })
}

/// The stacks of stack set `stack_set`'s instance in `account` that are not deleted
/// (`DescribeStacks`), and the account's CloudFormation client.
async fn live_instance_stacks(
    zone: &LandingZone,
    account: &AccountId,
    stack_set: &str,
) -> (
    aws_sdk_cloudformation::Client,
    Vec<aws_sdk_cloudformation::types::Stack>,
) {
    let config = zone.account(account).await.expect("the account's role");
    let client = aws_sdk_cloudformation::Client::new(&config);
    let stacks = client
        .describe_stacks()
        .send()
        .await
        .expect("cloudformation:DescribeStacks")
        .stacks()
        .iter()
        .filter(|stack| is_instance_stack(stack.stack_name().unwrap_or_default(), stack_set))
        .filter(|stack| {
            stack.stack_status().map(|status| status.as_str()) != Some("DELETE_COMPLETE")
        })
        .cloned()
        .collect();
    (client, stacks)
}

/// Whether `name` is the name of a stack of stack set `stack_set`'s instance: AWS names them
/// `StackSet-<stack set>-<uuid>` (and so does the patched moto), unpatched moto
/// `StackSet:<stack set>`.
fn is_instance_stack(name: &str, stack_set: &str) -> bool {
    name == format!("StackSet:{stack_set}") || name.starts_with(&format!("StackSet-{stack_set}-"))
}

/// The organization's accounts that appear in some message of the account queue (the
/// message format is the functions' business; an account is queued if its id is in a
/// message).
pub async fn queued_accounts(zone: &LandingZone) -> Vec<Account> {
    let queue =
        landing_zone::state::peek_queue(zone.management(), &zone.state.product.account_queue_url)
            .await
            .expect("the account queue");
    let texts: Vec<String> = queue.messages.iter().map(|m| m.to_string()).collect();
    zone.state
        .organization
        .accounts
        .iter()
        .filter(|account| texts.iter().any(|text| text.contains(account.id.as_str())))
        .cloned()
        .collect()
}

/// The member accounts other than Log Archive and Audit.
pub fn workload_accounts(organization: &Organization) -> impl Iterator<Item = &Account> {
    organization.accounts.iter().filter(|account| {
        account.id != organization.log_archive && account.id != organization.audit
    })
}

/// The accounts in OU path `ou`.
pub fn accounts_in<'a>(
    organization: &'a Organization,
    ou: &'a str,
) -> impl Iterator<Item = &'a Account> {
    organization
        .accounts
        .iter()
        .filter(move |account| account.ou == ou)
}

/// Makes the emulator slow or failing for the next requests: `fault` is
/// `{"path_prefix", "status"?, "count"?, "delay_ms"?}` (`POST /__emulator/faults`; the
/// emulator's README has the details).
pub async fn inject_lacework_fault(zone: &LandingZone, fault: &serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/__emulator/faults",
            zone.state.lacework.emulator.url
        ))
        .json(fault)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("lacework-emulator /__emulator/faults");
    assert!(response.status().is_success(), "{response:?}");
}
