//! End-to-end tests of the setup flow: each test starts its own local landing zone (moto and
//! the Lacework emulator on free loopback ports, a seeded Control Tower organization), sends
//! the real `setup` binary CloudFormation custom resource requests through the Lambda Runtime
//! API, and checks what moto and the emulator hold afterwards. The landing zone stops when the
//! test ends (also on failure).
//!
//! Needs the function binaries and `lacework-emulator` built (`cargo build --workspace --bins`,
//! which `make test` runs first) and moto, which the landing zone installs into `.venv` from
//! PyPI on first use; without either the tests fail and say so.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    accounts_in, inject_lacework_fault, instance_resources, queued_accounts, workload_accounts,
};
use landing_zone::state;
use landing_zone::{CustomResourceOutcome, LandingZone, Options};
use serde_json::Value;

/// No test may run longer than this.
const TEST_TIME_LIMIT: Duration = Duration::from_secs(300);

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// Options for test `name`: binaries of this build, logs under
/// `.cache/landing-zone/tests/<name>/logs`.
fn options(name: &str) -> Options {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_landing-zone"))
        .parent()
        .expect("the landing-zone binary is in a target folder")
        .to_path_buf();
    for binary in ["setup", "lacework-emulator"] {
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
    let mut options = Options::new(root, bin_dir);
    options.work_dir = work_dir;
    options.function_timeout = Duration::from_secs(120);
    options
}

async fn start(options: Options) -> LandingZone {
    match LandingZone::start(options).await {
        Ok(zone) => zone,
        Err(err) => panic!("the local landing zone did not start: {err}"),
    }
}

/// Runs a test body on a fresh landing zone, within [`TEST_TIME_LIMIT`].
async fn within_time_limit(body: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(TEST_TIME_LIMIT, body).await.is_err() {
        panic!("the test took longer than {} s", TEST_TIME_LIMIT.as_secs());
    }
}

async fn setup(
    zone: &LandingZone,
    request_type: &str,
    physical_id: Option<&str>,
) -> CustomResourceOutcome {
    match zone.setup(request_type, physical_id).await {
        Ok(outcome) => outcome,
        Err(err) => panic!("setup {request_type} could not be delivered: {err}"),
    }
}

/// Asserts that setup answered CloudFormation exactly once, with `status`, the way a
/// pre-signed S3 URL wants (no content type).
fn assert_answered(outcome: &CustomResourceOutcome, status: &str) {
    assert_eq!(
        outcome.answers_received, 1,
        "setup must answer exactly once; function answer: {:?}",
        outcome.invocation.answer
    );
    assert_eq!(
        outcome.status(),
        Some(status),
        "reason: {}; function answer: {:?}; log: {}",
        outcome.reason(),
        outcome.invocation.answer,
        outcome.invocation.log.display()
    );
    assert!(
        outcome
            .content_type
            .as_deref()
            .unwrap_or_default()
            .is_empty(),
        "the answer's content type must be empty, not {:?}",
        outcome.content_type
    );
}

async fn stack_sets(zone: &LandingZone) -> Vec<state::StackSetView> {
    state::stack_sets(zone.management())
        .await
        .expect("stack sets")
}

async fn integrations(zone: &LandingZone) -> Vec<Value> {
    state::lacework_integrations(&zone.lacework_state().await.expect("emulator state"))
}

async fn cloudtrail_integrations(zone: &LandingZone) -> Vec<Value> {
    integrations(zone)
        .await
        .into_iter()
        .filter(|integration| integration["type"] == "AwsCtSqs")
        .collect()
}

fn ids_of<'a>(accounts: impl Iterator<Item = &'a landing_zone::seed::Account>) -> BTreeSet<String> {
    accounts.map(|account| account.id.to_string()).collect()
}

/// The cross-account role of the Log Archive stack instance, the Audit queue of the Audit
/// instance and its subscription to the trail topic: what every successful Create leaves.
async fn assert_log_archive_and_audit_are_set_up(zone: &LandingZone) {
    let organization = &zone.state.organization;
    let names = &zone.names;
    let sets = stack_sets(zone).await;
    let instances_of = |name: &str| -> Vec<String> {
        sets.iter()
            .find(|set| set.name == name)
            .map(|set| set.instances.iter().map(|i| i.account.clone()).collect())
            .unwrap_or_else(|| panic!("no stack set {name} among {sets:?}"))
    };
    assert_eq!(
        instances_of(&names.log_archive_stack_set),
        [organization.log_archive.to_string()]
    );
    assert_eq!(
        instances_of(&names.audit_stack_set),
        [organization.audit.to_string()]
    );
    assert!(
        sets.iter().any(|set| set.name == names.member_stack_set),
        "the member stack set is created at setup: {sets:?}"
    );

    let log_archive = instance_resources(
        zone,
        &organization.log_archive,
        &names.log_archive_stack_set,
    )
    .await;
    assert!(
        log_archive
            .iter()
            .any(|resource| resource.resource_type == "AWS::IAM::Role"
                && resource.physical_id.contains(&names.cross_account_role)
                && resource.status == "CREATE_COMPLETE"),
        "the cross-account role {} is in Log Archive: {log_archive:?}",
        names.cross_account_role
    );

    let audit = instance_resources(zone, &organization.audit, &names.audit_stack_set).await;
    let queue = audit
        .iter()
        .find(|resource| resource.resource_type == "AWS::SQS::Queue")
        .unwrap_or_else(|| panic!("the Audit instance has a queue: {audit:?}"));
    let queue_name = queue
        .physical_id
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let queue_arn = format!("arn:aws:sqs:us-east-1:{}:{queue_name}", organization.audit);
    let subscriptions = zone
        .trail_topic_subscriptions()
        .await
        .expect("subscriptions");
    assert_eq!(
        subscriptions
            .iter()
            .filter(
                |subscription| subscription.protocol == "sqs" && subscription.endpoint == queue_arn
            )
            .count(),
        1,
        "the Audit queue is subscribed to the trail topic {} once: {subscriptions:?}",
        zone.state.trail.topic_arn
    );
}

/// The CloudTrail integration points at the Log Archive role and the Audit queue.
fn assert_points_at_log_archive_and_audit(zone: &LandingZone, integration: &Value) {
    let role = format!(
        "arn:aws:iam::{}:role/{}",
        zone.state.organization.log_archive, zone.names.cross_account_role
    );
    assert_eq!(integration["roleArn"], role.as_str(), "{integration}");
    let queue_url = integration["queueUrl"].as_str().unwrap_or_default();
    assert!(
        queue_url.contains(&format!("/{}/", zone.state.organization.audit)),
        "the queue is Audit's: {integration}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_sets_up_log_archive_audit_lacework_and_queues_existing_accounts() {
    within_time_limit(async {
        // One Lacework sub-account receives everything: an account-level integration there.
        let zone = start(
            options("create-one-sub-account").with_function_env("LACEWORK_SUB_ACCOUNT", "prod"),
        )
        .await;
        let created = setup(&zone, "Create", None).await;
        assert_answered(&created, "SUCCESS");
        assert_log_archive_and_audit_are_set_up(&zone).await;

        let cloudtrail = cloudtrail_integrations(&zone).await;
        assert_eq!(
            cloudtrail.len(),
            1,
            "one CloudTrail integration: {cloudtrail:?}"
        );
        let integration = &cloudtrail[0];
        assert_eq!(integration["scope"], "prod", "{integration}");
        assert_eq!(integration["isOrg"], 0, "{integration}");
        assert_eq!(integration["hasAccountMappingFile"], false, "{integration}");
        assert_points_at_log_archive_and_audit(&zone, integration);

        let queued = ids_of(queued_accounts(&zone).await.iter());
        let organization = &zone.state.organization;
        let active = ids_of(workload_accounts(organization).filter(|a| a.status == "ACTIVE"));
        assert!(active.len() >= 5);
        assert!(
            active.is_subset(&queued),
            "every ACTIVE member account is queued: missing {:?}",
            active.difference(&queued).collect::<Vec<_>>()
        );
        let suspended = ids_of(
            organization
                .accounts
                .iter()
                .filter(|a| a.status == "SUSPENDED"),
        );
        assert_eq!(suspended.len(), 1);
        assert!(
            suspended.is_disjoint(&queued),
            "the SUSPENDED account is skipped: queued {queued:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_ou_rules_registers_an_organization_level_integration_with_the_mapping() {
    within_time_limit(async {
        let zone = start(
            options("create-org-mapping")
                .with_function_env("LACEWORK_OU_RULES", "Prod=prod, Dev=dev"),
        )
        .await;
        let created = setup(&zone, "Create", None).await;
        assert_answered(&created, "SUCCESS");
        assert_log_archive_and_audit_are_set_up(&zone).await;

        let cloudtrail = cloudtrail_integrations(&zone).await;
        assert_eq!(
            cloudtrail.len(),
            1,
            "one CloudTrail integration: {cloudtrail:?}"
        );
        let integration = &cloudtrail[0];
        assert_eq!(integration["scope"], "org", "{integration}");
        assert_eq!(integration["isOrg"], 1, "{integration}");
        assert_eq!(integration["hasAccountMappingFile"], true, "{integration}");
        assert_points_at_log_archive_and_audit(&zone, integration);

        let lacework = zone.lacework_state().await.expect("emulator state");
        let files = lacework["mappingFiles"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(files.len(), 1, "{files:?}");
        let mapping = &files[0]["mapping"];
        assert_eq!(mapping["defaultLaceworkAccountAws"], "acme", "{mapping}");
        let mapped = |sub_account: &str| -> BTreeSet<String> {
            mapping["integration_mappings"][sub_account]["aws_accounts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        };
        let organization = &zone.state.organization;
        let prod = ids_of(accounts_in(organization, "Workloads/Prod"));
        let dev = ids_of(accounts_in(organization, "Workloads/Dev"));
        assert_eq!(prod.len(), 2);
        assert_eq!(dev.len(), 2);
        assert!(prod.is_subset(&mapped("prod")), "{mapping}");
        assert!(dev.is_subset(&mapped("dev")), "{mapping}");
        assert!(
            prod.is_disjoint(&mapped("dev")) && dev.is_disjoint(&mapped("prod")),
            "{mapping}"
        );
        let elsewhere = ids_of(
            accounts_in(organization, "Sandbox").chain(accounts_in(organization, "Security")),
        );
        assert!(
            elsewhere.is_disjoint(&mapped("prod")) && elsewhere.is_disjoint(&mapped("dev")),
            "accounts outside Prod and Dev go to the default: {mapping}"
        );
    })
    .await;
}

/// What must not exist twice after setup.
async fn inventory(zone: &LandingZone) -> (Vec<(String, Vec<String>)>, Vec<String>, Vec<String>) {
    let sets = stack_sets(zone)
        .await
        .into_iter()
        .map(|set| {
            let mut instances: Vec<String> = set
                .instances
                .iter()
                .map(|instance| format!("{}/{}", instance.account, instance.region))
                .collect();
            instances.sort();
            (set.name, instances)
        })
        .collect();
    let mut integrations: Vec<String> = integrations(zone)
        .await
        .iter()
        .map(|integration| {
            format!(
                "{}/{}/{}",
                integration["scope"], integration["type"], integration["name"]
            )
        })
        .collect();
    integrations.sort();
    let mut subscriptions: Vec<String> = zone
        .trail_topic_subscriptions()
        .await
        .expect("subscriptions")
        .into_iter()
        .map(|subscription| subscription.endpoint)
        .collect();
    subscriptions.sort();
    (sets, integrations, subscriptions)
}

fn assert_no_repeats(what: &str, items: &[String]) {
    let unique: BTreeSet<&String> = items.iter().collect();
    assert_eq!(unique.len(), items.len(), "{what} repeat: {items:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_twice_creates_nothing_twice() {
    within_time_limit(async {
        let zone = start(options("create-twice")).await;
        assert_answered(&setup(&zone, "Create", None).await, "SUCCESS");
        let first = inventory(&zone).await;
        // CloudFormation retries a Create it heard nothing from: a new request, same resource.
        let again = setup(&zone, "Create", None).await;
        assert_answered(&again, "SUCCESS");
        let second = inventory(&zone).await;
        assert_eq!(first, second, "a second Create changes nothing");
        let (sets, integrations, subscriptions) = second;
        let set_names: Vec<String> = sets.iter().map(|(name, _)| name.clone()).collect();
        assert_no_repeats("stack sets", &set_names);
        for (name, instances) in &sets {
            assert_no_repeats(&format!("instances of {name}"), instances);
        }
        assert_no_repeats("Lacework integrations", &integrations);
        assert_eq!(
            integrations
                .iter()
                .filter(|i| i.contains("AwsCtSqs"))
                .count(),
            1,
            "{integrations:?}"
        );
        assert_no_repeats("trail topic subscriptions", &subscriptions);
    })
    .await;
}

/// Nothing of the product exists: no stack set, no Lacework integration, no queued account.
async fn assert_nothing_created(zone: &LandingZone) {
    let sets = stack_sets(zone).await;
    assert!(sets.is_empty(), "no stack set: {sets:?}");
    let integrations = integrations(zone).await;
    assert!(
        integrations.is_empty(),
        "no Lacework integration: {integrations:?}"
    );
    let queue = state::peek_queue(zone.management(), &zone.state.product.account_queue_url)
        .await
        .expect("account queue");
    assert_eq!(queue.counts.total(), 0, "no queued work: {queue:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_log_archive_name_fails_naming_it_and_creates_nothing() {
    within_time_limit(async {
        let zone = start(
            options("wrong-log-archive-name")
                .with_function_env("TOWER_LOG_ARCHIVE_ACCOUNT_NAME", "Logging"),
        )
        .await;
        let created = setup(&zone, "Create", None).await;
        assert_answered(&created, "FAILED");
        let reason = created.reason();
        assert!(
            reason.contains("Logging")
                && reason.contains(zone.state.organization.log_archive.as_str()),
            "the reason names the expected name and the Log Archive account: {reason}"
        );
        assert_nothing_created(&zone).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lacework_keys_fail_with_a_reason() {
    within_time_limit(async {
        let zone = start(options("bad-lacework-keys")).await;
        let wrong_secret = "_not_the_secret_key_0123";
        zone.put_lacework_api_key(&zone.options.lacework.key_id, wrong_secret)
            .await
            .expect("secret updated");
        let created = setup(&zone, "Create", None).await;
        assert_answered(&created, "FAILED");
        let reason = created.reason();
        assert!(
            reason.to_ascii_lowercase().contains("lacework"),
            "the reason says Lacework refused: {reason}"
        );
        assert!(
            !reason.contains(wrong_secret),
            "the reason never shows the secret key: {reason}"
        );
        let log = std::fs::read_to_string(&created.invocation.log).unwrap_or_default();
        assert!(
            !log.contains(wrong_secret),
            "the log never shows the secret key"
        );
        let integrations = integrations(&zone).await;
        assert!(
            integrations.is_empty(),
            "no Lacework integration: {integrations:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_everything_and_succeeds() {
    within_time_limit(async {
        let zone = start(options("delete")).await;
        let created = setup(&zone, "Create", None).await;
        assert_answered(&created, "SUCCESS");
        let physical_id = created
            .physical_resource_id()
            .expect("Create answers a PhysicalResourceId")
            .to_owned();
        assert!(!cloudtrail_integrations(&zone).await.is_empty());

        let deleted = setup(&zone, "Delete", Some(&physical_id)).await;
        assert_answered(&deleted, "SUCCESS");
        assert_eq!(deleted.physical_resource_id(), Some(physical_id.as_str()));

        let sets = stack_sets(&zone).await;
        assert!(sets.is_empty(), "every stack set is gone: {sets:?}");
        let organization = &zone.state.organization;
        let names = &zone.names;
        let log_archive = instance_resources(
            &zone,
            &organization.log_archive,
            &names.log_archive_stack_set,
        )
        .await;
        assert!(
            log_archive.is_empty(),
            "the Log Archive stack is gone: {log_archive:?}"
        );
        let audit = instance_resources(&zone, &organization.audit, &names.audit_stack_set).await;
        assert!(audit.is_empty(), "the Audit stack is gone: {audit:?}");
        let subscriptions = zone
            .trail_topic_subscriptions()
            .await
            .expect("subscriptions");
        assert!(
            subscriptions.is_empty(),
            "the Audit queue's subscription is gone: {subscriptions:?}"
        );
        let integrations = integrations(&zone).await;
        assert!(
            integrations.is_empty(),
            "every Lacework integration is gone: {integrations:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_outlasting_an_invocation_is_handed_on_and_answered_once_when_done() {
    within_time_limit(async {
        // Invocations of 45 s: setup keeps 34 s of each to answer in, so it has 11 s of work.
        let mut options = options("create-handed-on");
        options.function_timeout = Duration::from_secs(45);
        let zone = start(options).await;
        // Lacework is slow, once, reading the CloudTrail integrations (a read, so the request
        // the first invocation abandons leaves nothing behind): the first invocation cannot
        // finish.
        inject_lacework_fault(
            &zone,
            &serde_json::json!({
                "path_prefix": "/api/v2/CloudAccounts/AwsCtSqs",
                "delay_ms": 20_000,
            }),
        )
        .await;

        let created = setup(&zone, "Create", None).await;
        assert_answered(&created, "SUCCESS");
        match &created.invocation.answer {
            landing_zone::Answer::Response { payload } => {
                assert_eq!(payload["status"], "CONTINUED", "{payload}");
                assert_eq!(payload["answered"], false, "{payload}");
            }
            other => panic!("the first invocation must hand the work on: {other:?}"),
        }
        assert!(
            !created.handed_on.is_empty(),
            "a fresh invocation took the work over"
        );
        assert!(
            created.handed_on.iter().all(|i| i.answer.is_response()),
            "{:?}",
            created.handed_on
        );
        assert!(
            created.reason().contains("finished by invocation"),
            "{}",
            created.reason()
        );
        let log = std::fs::read_to_string(&created.invocation.log).unwrap_or_default();
        assert!(
            log.contains("handed on to a fresh one"),
            "the log says what happened: {}",
            created.invocation.log.display()
        );

        // Everything is there once, as after a Create in one invocation.
        assert_log_archive_and_audit_are_set_up(&zone).await;
        let cloudtrail = cloudtrail_integrations(&zone).await;
        assert_eq!(cloudtrail.len(), 1, "{cloudtrail:?}");
        let (stack_sets, instances, integrations) = inventory(&zone).await;
        let again = setup(&zone, "Update", created.physical_resource_id()).await;
        assert_answered(&again, "SUCCESS");
        assert!(
            again.handed_on.is_empty(),
            "an Update with nothing to do fits in one invocation"
        );
        assert_eq!(
            inventory(&zone).await,
            (stack_sets, instances, integrations),
            "nothing twice"
        );
    })
    .await;
}

/// The installation's external id suffix as the secret holds it now.
async fn stored_suffix(zone: &LandingZone) -> Option<String> {
    let secret = aws_sdk_secretsmanager::Client::new(zone.management())
        .get_secret_value()
        .secret_id(&zone.state.product.secret_arn)
        .send()
        .await
        .expect("the secret is readable");
    let text: Value = serde_json::from_str(secret.secret_string().unwrap_or_default())
        .expect("the secret is JSON");
    text["externalIdSuffix"].as_str().map(str::to_owned)
}

/// The external id suffix the Log Archive StackSet was given (moto shows `NoEcho` values).
async fn log_archive_suffix_parameter(zone: &LandingZone) -> Option<String> {
    let described = aws_sdk_cloudformation::Client::new(zone.management())
        .describe_stack_set()
        .stack_set_name(&zone.names.log_archive_stack_set)
        .send()
        .await
        .expect("the Log Archive StackSet exists");
    described
        .stack_set()
        .map(|set| set.parameters())
        .unwrap_or_default()
        .iter()
        .find(|parameter| parameter.parameter_key() == Some("ExternalIdSuffix"))
        .and_then(|parameter| parameter.parameter_value())
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_through_the_stack_keeps_the_external_ids() {
    within_time_limit(async {
        let zone = start(options("key-rotation")).await;
        let created = setup(&zone, "Create", None).await;
        assert_answered(&created, "SUCCESS");
        let suffix = stored_suffix(&zone).await;
        assert!(suffix.is_some(), "setup stored the suffix");
        assert_eq!(log_archive_suffix_parameter(&zone).await, suffix);
        let before = inventory(&zone).await;

        // The stack's key parameters change (or roll back): CloudFormation writes the secret
        // whole, with keyId and secretKey only.
        let key = zone.options.lacework.clone();
        zone.put_lacework_api_key(&key.key_id, &key.secret_key)
            .await
            .expect("the secret is rewritten");
        assert_eq!(stored_suffix(&zone).await, None, "rewritten whole");

        let updated = setup(&zone, "Update", created.physical_resource_id()).await;
        assert_answered(&updated, "SUCCESS");
        assert_eq!(
            stored_suffix(&zone).await,
            suffix,
            "the same suffix, stored again"
        );
        assert_eq!(
            log_archive_suffix_parameter(&zone).await,
            suffix,
            "the roles' external ids are unchanged"
        );
        assert_eq!(inventory(&zone).await, before, "nothing else changed");
    })
    .await;
}
