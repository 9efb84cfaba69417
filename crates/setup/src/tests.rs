//! The handler end to end over fakes of AWS, the real secret rules in memory, the Lacework
//! emulator, and a local listener playing CloudFormation's `ResponseURL`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use lacework_emulator::{Emulator, Options};
use lwct_aws::stacksets::StackSets;
use lwct_domain::api_secret::ApiSecret;
use lwct_domain::backoff::Backoff;
use lwct_domain::bucket_notifications::{
    Destination, EventNotification, FilterRule, NotificationConfiguration,
};
use lwct_domain::custom_resource::ResponseUrlPolicy;
use lwct_domain::lacework::{
    AwsCfgData, CloudAccountSpec, Credentials, CrossAccountCredentials, Scope, SubAccount,
};
use lwct_domain::lifecycle::AccountWork;
use lwct_domain::mapping::OrganizationTree;
use lwct_domain::stack_set::StackInstanceTarget;
use lwct_domain::trail::TrailDetails;
use lwct_lacework::KeyTokenRequester;
use lwct_lacework::{Client, ClientOptions};
use lwct_runtime::answer::AnswerSlot;
use lwct_testkit::log_archive::InMemoryLogArchive;
use lwct_testkit::organizations::MemoryOrganizations;
use lwct_testkit::queues::MemoryQueues;
use lwct_testkit::response_url::{Answer, ResponseUrlRecorder};
use lwct_testkit::secrets::MemorySecretStore;
use lwct_testkit::stack_sets::{Behaviour, InMemoryStackSets};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::fakes::*;
use crate::flow::{Setup, Timing};
use crate::handler::{Handler, Invocation, Mode, PANIC_REASON};

/// One answer CloudFormation would have received.
/// What a test changes in the world before it starts.
struct WorldOptions {
    env: Vec<(&'static str, &'static str)>,
    organization: OrganizationTree,
    trail: bool,
    /// Whether the trail notifies an SNS topic.
    trail_topic: bool,
    /// The trail bucket's event notifications before setup runs.
    bucket_notifications: NotificationConfiguration,
    secret_key: &'static str,
    sub_accounts: Vec<&'static str>,
}

impl Default for WorldOptions {
    fn default() -> Self {
        Self {
            env: Vec::new(),
            organization: organization(),
            trail: true,
            trail_topic: true,
            bucket_notifications: NotificationConfiguration::default(),
            secret_key: "_secret",
            sub_accounts: vec!["acme", "secops", "dev"],
        }
    }
}

struct World {
    emulator: Emulator,
    answers: ResponseUrlRecorder,
    setup: Arc<Setup<FakePorts>>,
    handler: Handler<FakePorts>,
    requests: AtomicUsize,
}

fn timing() -> Timing {
    Timing {
        answer_margin: Duration::from_millis(300),
        wrap_up: Duration::from_millis(100),
        poll: Backoff::new(Duration::from_millis(1), Duration::from_millis(5)),
        busy_retry: Duration::from_millis(1),
        queue_retry: Duration::from_millis(1),
        retry: Backoff::new(Duration::from_millis(20), Duration::from_millis(40)),
        least_work: Duration::from_millis(200),
        hand_on: Duration::from_millis(100),
    }
}

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:lacework-ct-setup";

/// An invocation of the function with `left` until Lambda stops it.
fn invocation(left: Duration) -> Invocation {
    Invocation {
        deadline: Instant::now() + left,
        started: SystemTime::now(),
        function_arn: FUNCTION_ARN.to_owned(),
    }
}

impl World {
    async fn start(options: WorldOptions) -> World {
        let emulator = lacework_emulator::start(Options {
            sub_accounts: options.sub_accounts.iter().map(|s| s.to_string()).collect(),
            ..Options::default()
        })
        .await
        .unwrap();
        let mut env = vec![("LACEWORK_URL", emulator.url.as_str())];
        env.extend(options.env.iter().copied());
        let config = config_with(&env);
        let setup = Arc::new(Setup::<FakePorts> {
            config,
            organizations: MemoryOrganizations::new(options.organization, id(MANAGEMENT)),
            trails: FakeTrails::new(options.trail.then(|| {
                TrailDetails {
                    sns_topic_arn: options
                        .trail_topic
                        .then(|| control_tower_trail().sns_topic_arn)
                        .flatten(),
                    ..control_tower_trail()
                }
            })),
            stack_sets: InMemoryStackSets::new(),
            queues: MemoryQueues::new(MANAGEMENT),
            log_archive: InMemoryLogArchive::new(),
            secrets: Arc::new(MemorySecretStore::new(&ApiSecret::new(
                "ACME_KEY_ID",
                options.secret_key,
            ))),
            tokens: Arc::new(KeyTokenRequester::new(
                emulator.url.clone(),
                ClientOptions::default(),
            )),
            invocations: FakeInvocations::default(),
            lacework_options: ClientOptions::default(),
            timing: timing(),
        });
        setup
            .log_archive
            .insert_bucket(&bucket(), options.bucket_notifications);
        setup
            .log_archive
            .insert_topic_key(&s3_topic(), NOTIFICATION_KEY);
        let handler = Handler::new(Mode::Ready(setup.clone()), AnswerSlot::new());
        let answers = ResponseUrlRecorder::start().await.unwrap();
        World {
            emulator,
            answers,
            setup,
            handler,
            requests: AtomicUsize::new(0),
        }
    }

    fn stack_sets(&self) -> &InMemoryStackSets {
        &self.setup.stack_sets
    }

    fn request(&self, request_type: &str, physical_id: Option<&str>) -> Value {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        let mut request = json!({
            "RequestType": request_type,
            "ServiceToken": format!("arn:aws:lambda:us-east-1:{MANAGEMENT}:function:lacework-ct-setup"),
            "ResponseURL": format!("{}/answers/{n}?X-Amz-Signature=abc", self.answers.base()),
            "StackId": format!("arn:aws:cloudformation:us-east-1:{MANAGEMENT}:stack/lacework-ct/6f9a1c20"),
            "RequestId": format!("request-{n}"),
            "LogicalResourceId": "LaceworkSetup",
            "ResourceType": "Custom::LaceworkSetup",
            "ResourceProperties": {"ServiceToken": "x", "TemplateVersion": "1"}
        });
        if let Some(id) = physical_id {
            request["PhysicalResourceId"] = json!(id);
        }
        request
    }

    /// Sends a request with `seconds` left in the invocation; returns the one answer it got.
    async fn send_with(&self, request: Value, left: Duration) -> Answer {
        let before = self.answers.answers().len();
        let outcome = self
            .handler
            .handle_request(request, &invocation(left))
            .await;
        assert!(outcome.is_ok(), "{outcome:?}");
        let answers = self.answers.answers();
        assert_eq!(
            answers.len(),
            before + 1,
            "exactly one answer per request: {answers:#?}"
        );
        answers.last().cloned().unwrap()
    }

    async fn send(&self, request_type: &str, physical_id: Option<&str>) -> Answer {
        self.send_with(
            self.request(request_type, physical_id),
            Duration::from_secs(60),
        )
        .await
    }

    async fn lacework_state(&self) -> Value {
        reqwest::get(format!("{}/__emulator/state", self.emulator.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The integrations of one scope (`org` or a sub-account), as `(type, name)`.
    async fn integrations(&self, scope: &str) -> Vec<(String, String)> {
        let state = self.lacework_state().await;
        state["integrations"][scope]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|r| {
                (
                    r["type"].as_str().unwrap().to_owned(),
                    r["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn secret(&self) -> ApiSecret {
        ApiSecret::from_json(&self.setup.secrets.current_json()).unwrap()
    }
}

fn names(stack_sets: &InMemoryStackSets) -> Vec<String> {
    stack_sets.stack_sets().keys().cloned().collect()
}

fn instances(stack_sets: &InMemoryStackSets, name: &str) -> Vec<StackInstanceTarget> {
    stack_sets
        .stack_sets()
        .get(name)
        .map(|held| held.instances.iter().cloned().collect())
        .unwrap_or_default()
}

fn target(account: &str) -> StackInstanceTarget {
    StackInstanceTarget::new(id(account), "us-east-1")
}

#[tokio::test]
async fn create_with_one_sub_account_registers_an_account_level_integration() {
    let world = World::start(WorldOptions::default()).await;
    let answer = world.send("Create", None).await;
    assert_eq!(answer.status(), "SUCCESS", "{}", answer.reason());
    assert_eq!(answer.physical_id(), "lacework-ct-setup");
    assert_eq!(
        answer.content_type.as_deref(),
        Some(""),
        "the answer has an empty content type"
    );
    assert!(answer.path.starts_with("/answers/"));
    assert_eq!(answer.body["Data"]["IntegrationLevel"], "account");
    assert_eq!(answer.body["Data"]["ManagementAccountId"], MANAGEMENT);
    assert_eq!(
        answer.body["Data"]["QueueUrl"],
        format!("https://sqs.us-east-1.amazonaws.com/{AUDIT}/lacework-ct-cloudtrail-queue")
    );

    let stack_sets = world.stack_sets();
    assert_eq!(
        names(stack_sets),
        [
            "lacework-ct-audit",
            "lacework-ct-log-archive",
            "lacework-ct-member"
        ]
    );
    assert_eq!(
        instances(stack_sets, "lacework-ct-log-archive"),
        [target(LOG_ARCHIVE)]
    );
    assert_eq!(instances(stack_sets, "lacework-ct-audit"), [target(AUDIT)]);
    assert!(instances(stack_sets, "lacework-ct-member").is_empty());
    let member = &stack_sets.stack_sets()["lacework-ct-member"];
    assert!(member.spec.managed_execution);
    assert_eq!(
        member.spec.administration_role_arn,
        format!("arn:aws:iam::{MANAGEMENT}:role/service-role/AWSControlTowerStackSetRole")
    );
    assert_eq!(member.spec.execution_role_name, "AWSControlTowerExecution");

    let secret = world.secret();
    assert!(secret.token.is_some(), "the token is in the secret");
    let suffix = secret.external_id_suffix.expect("a suffix was drawn");
    assert_eq!(
        stack_sets.stack_sets()["lacework-ct-log-archive"]
            .spec
            .parameters["ExternalIdSuffix"],
        suffix.expose()
    );

    assert_eq!(
        world.integrations("acme").await,
        [("AwsCtSqs".to_owned(), "lacework-ct-cloudtrail".to_owned())]
    );
    assert!(world.integrations("org").await.is_empty());
    let state = world.lacework_state().await;
    let record = &state["integrations"]["acme"][0]["data"];
    assert_eq!(
        record["crossAccountCredentials"]["roleArn"],
        format!("arn:aws:iam::{LOG_ARCHIVE}:role/lacework-ct-cross-account-role")
    );
    assert!(record.get("accountMappingFile").is_none());

    // Nothing secret in the answer.
    let shown = answer.body.to_string();
    assert!(
        !shown.contains(suffix.expose()) && !shown.contains("_secret"),
        "{shown}"
    );
}

#[tokio::test]
async fn create_with_ou_rules_registers_an_organization_level_integration_with_the_mapping() {
    let world = World::start(WorldOptions {
        env: vec![("LACEWORK_OU_RULES", "Security=secops, Sandbox=dev")],
        ..WorldOptions::default()
    })
    .await;
    let answer = world.send("Create", None).await;
    assert_eq!(answer.status(), "SUCCESS", "{}", answer.reason());
    assert_eq!(answer.body["Data"]["IntegrationLevel"], "organization");
    assert_eq!(
        world.integrations("org").await,
        [("AwsCtSqs".to_owned(), "lacework-ct-cloudtrail".to_owned())]
    );
    assert!(world.integrations("acme").await.is_empty());
    let state = world.lacework_state().await;
    let files = state["mappingFiles"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0]["mapping"],
        json!({
            "defaultLaceworkAccountAws": "acme",
            "integration_mappings": {
                "dev": {"aws_accounts": [DEV]},
                "secops": {"aws_accounts": [LOG_ARCHIVE, AUDIT]}
            }
        })
    );
}

#[tokio::test]
async fn switching_to_ou_rules_moves_the_integration_to_organization_level() {
    let world = World::start(WorldOptions::default()).await;
    assert_eq!(world.send("Create", None).await.status(), "SUCCESS");
    assert_eq!(world.integrations("acme").await.len(), 1);

    // The same installation, now configured with rules (as after a stack update).
    let mut config = world.setup.config.clone();
    config.lacework.ou_rules = lwct_domain::mapping::OuRules::parse("Sandbox=dev").unwrap();
    let setup = Arc::new(Setup::<FakePorts> {
        config,
        organizations: MemoryOrganizations::new(organization(), id(MANAGEMENT)),
        trails: FakeTrails::new(Some(control_tower_trail())),
        stack_sets: InMemoryStackSets::new(),
        queues: MemoryQueues::new(MANAGEMENT),
        log_archive: InMemoryLogArchive::new(),
        secrets: world.setup.secrets.clone(),
        tokens: world.setup.tokens.clone(),
        invocations: FakeInvocations::default(),
        lacework_options: ClientOptions::default(),
        timing: timing(),
    });
    let handler = Handler::new(Mode::Ready(setup), AnswerSlot::new());
    handler
        .handle_request(
            world.request("Update", Some("lacework-ct-setup")),
            &invocation(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(world.answers.answers().last().unwrap().status(), "SUCCESS");
    assert!(
        world.integrations("acme").await.is_empty(),
        "the account-level copy is gone"
    );
    assert_eq!(world.integrations("org").await.len(), 1);
}

#[tokio::test]
async fn create_twice_creates_nothing_twice() {
    let world = World::start(WorldOptions {
        env: vec![("LACEWORK_OU_RULES", "Sandbox=dev")],
        ..WorldOptions::default()
    })
    .await;
    let first = world.send("Create", None).await;
    assert_eq!(first.status(), "SUCCESS", "{}", first.reason());
    let calls = world.stack_sets().calls();
    let suffix = world.secret().external_id_suffix.unwrap();
    let state = world.lacework_state().await;

    // A redelivery of the same request, and a second Create.
    let again = world.request("Create", None);
    let mut redelivered = again.clone();
    redelivered["RequestId"] = json!("request-0");
    for request in [redelivered, again] {
        let answer = world.send_with(request, Duration::from_secs(60)).await;
        assert_eq!(answer.status(), "SUCCESS", "{}", answer.reason());
    }
    assert_eq!(
        world.stack_sets().calls(),
        calls,
        "no StackSet call the second time"
    );
    assert_eq!(
        world.secret().external_id_suffix.unwrap(),
        suffix,
        "the suffix is kept"
    );
    let after = world.lacework_state().await;
    assert_eq!(
        after["integrations"], state["integrations"],
        "no new or changed integration"
    );
    assert_eq!(
        instances(world.stack_sets(), "lacework-ct-log-archive").len(),
        1
    );
}

#[tokio::test]
async fn a_wrong_log_archive_name_fails_before_anything_is_changed() {
    let mut tree = organization();
    tree.add_account(lwct_domain::mapping::OrganizationAccount {
        id: id(LOG_ARCHIVE),
        name: "Logs".into(),
        parent_id: "ou-root-security".into(),
        status: lwct_domain::mapping::AccountStatus::Active,
    });
    let world = World::start(WorldOptions {
        organization: tree,
        trail: false,
        ..WorldOptions::default()
    })
    .await;
    let answer = world.send("Create", None).await;
    assert_eq!(answer.status(), "FAILED");
    let reason = answer.reason();
    assert!(
        reason.contains(&format!(
            "the Log Archive account {LOG_ARCHIVE} is named \"Logs\""
        )),
        "{reason}"
    );
    assert!(
        reason.contains("TOWER_LOG_ARCHIVE_ACCOUNT_NAME expects \"Log Archive\""),
        "{reason}"
    );
    assert!(
        reason.contains("aws-controltower-BaselineCloudTrail") && reason.contains("was not found"),
        "every problem at once: {reason}"
    );
    assert!(reason.contains("nothing was changed"), "{reason}");
    assert!(
        answer
            .physical_id()
            .starts_with("LaceworkSetup-create-failed-"),
        "{}",
        answer.physical_id()
    );
    assert!(world.stack_sets().calls().is_empty());
    assert_eq!(world.setup.secrets.writes(), 0);
    assert!(world.integrations("acme").await.is_empty());

    // The rollback's Delete of that placeholder changes nothing and succeeds.
    let rollback = world.send("Delete", Some(answer.physical_id())).await;
    assert_eq!(rollback.status(), "SUCCESS");
    assert!(
        rollback.reason().starts_with("nothing to delete"),
        "{}",
        rollback.reason()
    );
    assert!(world.stack_sets().calls().is_empty());
}

#[tokio::test]
async fn bad_lacework_keys_fail_without_showing_the_key() {
    let world = World::start(WorldOptions {
        secret_key: "_wrong-secret-value",
        ..WorldOptions::default()
    })
    .await;
    let answer = world.send("Create", None).await;
    assert_eq!(answer.status(), "FAILED");
    let reason = answer.reason();
    assert!(
        reason.contains("refused the API key ACME_KEY_ID"),
        "{reason}"
    );
    assert!(reason.contains("unauthorized"), "{reason}");
    assert!(!reason.contains("_wrong-secret-value"), "{reason}");
    assert!(world.stack_sets().calls().is_empty());
    assert_eq!(world.setup.secrets.writes(), 0);
}

#[tokio::test]
async fn delete_removes_every_instance_stack_set_and_integration() {
    let world = World::start(WorldOptions {
        env: vec![("LACEWORK_OU_RULES", "Sandbox=dev")],
        ..WorldOptions::default()
    })
    .await;
    assert_eq!(world.send("Create", None).await.status(), "SUCCESS");
    // What account-lifecycle and sns-custom-resource would have added meanwhile.
    let member = world.stack_sets().stack_sets()["lacework-ct-member"]
        .spec
        .clone();
    world
        .stack_sets()
        .insert(member, &[target(PROD), target(DEV)]);
    let lacework = Client::with_keys(
        &world.emulator.url,
        Credentials::new("ACME_KEY_ID", "_secret"),
        &ClientOptions::default(),
    )
    .unwrap();
    for (scope, name, account) in [
        ("acme", "lacework-ct-444455556666", PROD),
        ("dev", "lacework-ct-555566667777", DEV),
        ("acme", "someone-elses-integration", SUSPENDED),
    ] {
        let spec = CloudAccountSpec::new(
            name,
            AwsCfgData {
                cross_account_credentials: CrossAccountCredentials::new(
                    format!("arn:aws:iam::{account}:role/lacework-ct-config-role"),
                    format!("lweid:aws:v2:acme:{account}:Suffix0123456789"),
                ),
                aws_account_id: Some(id(account)),
            },
        );
        lacework
            .create(&Scope::Account(SubAccount::new(scope).unwrap()), &spec)
            .await
            .unwrap();
    }

    let answer = world.send("Delete", Some("lacework-ct-setup")).await;
    assert_eq!(answer.status(), "SUCCESS", "{}", answer.reason());
    assert_eq!(answer.physical_id(), "lacework-ct-setup");
    assert!(names(world.stack_sets()).is_empty());
    assert!(world.integrations("org").await.is_empty());
    assert!(world.integrations("dev").await.is_empty());
    assert_eq!(
        world.integrations("acme").await,
        [("AwsCfg".to_owned(), "someone-elses-integration".to_owned())]
    );

    // Already gone is success.
    let again = world.send("Delete", Some("lacework-ct-setup")).await;
    assert_eq!(again.status(), "SUCCESS", "{}", again.reason());
}

#[tokio::test]
async fn a_busy_stack_set_is_waited_for() {
    let world = World::start(WorldOptions::default()).await;
    world.stack_sets().set_behaviour(Behaviour {
        busy_calls: 3,
        looks_until_done: 2,
        ..Behaviour::default()
    });
    let answer = world.send("Create", None).await;
    assert_eq!(answer.status(), "SUCCESS", "{}", answer.reason());
    let attempts = world
        .stack_sets()
        .calls()
        .iter()
        .filter(|c| c.starts_with("CreateStackInstances lacework-ct-log-archive"))
        .count();
    assert_eq!(attempts, 4, "three refusals, then the operation");
    assert_eq!(
        instances(world.stack_sets(), "lacework-ct-audit"),
        [target(AUDIT)]
    );
}

#[tokio::test]
async fn a_failed_stack_set_operation_is_answered_with_its_reason() {
    let world = World::start(WorldOptions::default()).await;
    world.stack_sets().set_behaviour(Behaviour {
        fail_next: Some("Account 222233334444 should have 'AWSControlTowerExecution' role".into()),
        ..Behaviour::default()
    });
    let answer = world.send("Create", None).await;
    assert_eq!(answer.status(), "FAILED");
    assert!(
        answer
            .reason()
            .contains("should have 'AWSControlTowerExecution' role"),
        "{}",
        answer.reason()
    );
    assert!(
        answer.reason().contains("StackSet lacework-ct-log-archive"),
        "{}",
        answer.reason()
    );
    assert_eq!(
        answer.physical_id(),
        "lacework-ct-setup",
        "the rollback's Delete cleans up"
    );
}

/// The requests the handler handed on to fresh invocations, as `(function, payload)`.
fn handed_on(world: &World) -> Vec<(String, Value)> {
    world.setup.invocations.started()
}

#[tokio::test]
async fn work_outlasting_the_invocation_is_handed_on_and_answered_once_by_the_next() {
    let world = World::start(WorldOptions::default()).await;
    world.stack_sets().set_behaviour(Behaviour {
        never_done: true,
        ..Behaviour::default()
    });
    let request = world.request("Create", None);
    let started = Instant::now();
    let first = world
        .handler
        .handle_request(request.clone(), &invocation(Duration::from_millis(1500)))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "handed on before Lambda's deadline"
    );
    assert_eq!(first["status"], "CONTINUED");
    assert!(
        world.answers.answers().is_empty(),
        "the invocation that hands on does not answer"
    );
    let handed = handed_on(&world);
    assert_eq!(handed.len(), 1);
    let (function, payload) = &handed[0];
    assert_eq!(
        function, FUNCTION_ARN,
        "the same function, as it was invoked"
    );
    assert_eq!(payload["TowerContinuation"]["invocation"], 2);
    let mut without_record = payload.clone();
    without_record
        .as_object_mut()
        .unwrap()
        .remove("TowerContinuation");
    assert_eq!(
        without_record, request,
        "the very request CloudFormation sent"
    );

    // Lambda runs the next invocation; the StackSet operation has finished meanwhile.
    world.stack_sets().set_behaviour(Behaviour::default());
    let answer = world
        .send_with(payload.clone(), Duration::from_secs(60))
        .await;
    assert_eq!(answer.status(), "SUCCESS", "{}", answer.reason());
    assert!(
        answer.reason().contains("finished by invocation 2"),
        "{}",
        answer.reason()
    );
    assert_eq!(handed_on(&world).len(), 1, "nothing handed on again");
    assert_eq!(
        instances(world.stack_sets(), "lacework-ct-log-archive"),
        [target(LOG_ARCHIVE)]
    );
    assert_eq!(world.integrations("acme").await.len(), 1);
    let creates = world
        .stack_sets()
        .calls()
        .iter()
        .filter(|c| c.starts_with("CreateStackSet lacework-ct-log-archive"))
        .count();
    assert_eq!(
        creates, 1,
        "the second invocation picked up where the first stopped"
    );
}

#[tokio::test]
async fn unfinished_work_is_answered_failed_when_the_stack_stops_waiting() {
    let world = World::start(WorldOptions::default()).await;
    world.stack_sets().set_behaviour(Behaviour {
        never_done: true,
        ..Behaviour::default()
    });
    let mut request = world.request("Create", None);
    // The stack waits 31 s from the request; 30 s of that are kept as a margin.
    request["ResourceProperties"]["ServiceTimeout"] = json!("31");
    let started = Instant::now();
    let answer = world.send_with(request, Duration::from_secs(60)).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered in the stack's time"
    );
    assert_eq!(answer.status(), "FAILED");
    let reason = answer.reason();
    assert!(reason.contains("is still RUNNING"), "{reason}");
    assert!(reason.contains("lacework-ct-log-archive"), "{reason}");
    assert!(reason.contains("update the stack again"), "{reason}");
    assert!(
        handed_on(&world).is_empty(),
        "no invocation the stack would not wait for"
    );
    assert_eq!(
        answer.physical_id(),
        "lacework-ct-setup",
        "the rollback's Delete cleans up what was made"
    );
}

#[tokio::test]
async fn a_continuation_the_stack_no_longer_waits_for_is_answered_at_once() {
    let world = World::start(WorldOptions::default()).await;
    let mut request = world.request("Create", None);
    let an_hour_ago = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 3_590_000;
    request["TowerContinuation"] = json!({"invocation": 4, "firstStartedMs": an_hour_ago});
    let answer = world.send_with(request, Duration::from_secs(60)).await;
    assert_eq!(answer.status(), "FAILED");
    assert!(
        answer.reason().contains("ran out of time"),
        "{}",
        answer.reason()
    );
    assert!(world.stack_sets().calls().is_empty(), "no work started");
    assert!(handed_on(&world).is_empty());
    // Nothing answers later on behalf of the abandoned work.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(world.answers.answers().len(), 1);
}

#[tokio::test]
async fn a_bad_continuation_record_is_answered_failed_naming_the_field() {
    let world = World::start(WorldOptions::default()).await;
    let mut request = world.request("Create", None);
    request["TowerContinuation"] = json!({"invocation": "two", "firstStartedMs": 1});
    let answer = world.send_with(request, Duration::from_secs(60)).await;
    assert_eq!(answer.status(), "FAILED");
    assert!(
        answer.reason().contains("$.TowerContinuation.invocation"),
        "{}",
        answer.reason()
    );
    assert!(world.stack_sets().calls().is_empty());
}

#[tokio::test]
async fn when_lambda_refuses_the_next_invocation_the_answer_is_failed_with_why() {
    let world = World::start(WorldOptions::default()).await;
    world.stack_sets().set_behaviour(Behaviour {
        never_done: true,
        ..Behaviour::default()
    });
    *world.setup.invocations.refuse_next.lock().unwrap() = Some("AccessDeniedException");
    let answer = world
        .send_with(world.request("Create", None), Duration::from_millis(1500))
        .await;
    assert_eq!(answer.status(), "FAILED");
    let reason = answer.reason();
    assert!(reason.contains("is still RUNNING"), "{reason}");
    assert!(
        reason.contains("handing the rest to a fresh invocation failed")
            && reason.contains("AccessDeniedException"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_transient_failure_is_tried_again_within_the_invocation() {
    let world = World::start(WorldOptions {
        env: vec![("TOWER_MONITOR_EXISTING_ACCOUNTS", "true")],
        ..WorldOptions::default()
    })
    .await;
    world.setup.organizations.throttle_next_reads(2);
    let answer = world
        .send_with(world.request("Create", None), Duration::from_secs(60))
        .await;
    assert_eq!(answer.status(), "SUCCESS", "{}", answer.reason());
    assert_eq!(
        world.setup.organizations.throttled_reads_left(),
        0,
        "throttled twice, then listed"
    );
    assert!(handed_on(&world).is_empty(), "no fresh invocation needed");
    assert_eq!(world.setup.queues.sent().len(), 1);
}

#[tokio::test]
async fn a_panic_in_the_flow_is_answered_once() {
    let world = World::start(WorldOptions::default()).await;
    world.setup.organizations.panic_next();
    let answer = world.send("Create", None).await;
    assert_eq!(answer.status(), "FAILED");
    assert_eq!(answer.reason(), PANIC_REASON);
}

#[tokio::test]
async fn a_request_that_cannot_be_read_is_answered_failed() {
    let world = World::start(WorldOptions::default()).await;
    let mut request = world.request("Create", None);
    request["RequestType"] = json!("Upsert");
    let answer = world.send_with(request, Duration::from_secs(60)).await;
    assert_eq!(answer.status(), "FAILED");
    assert!(
        answer.reason().contains("$.RequestType"),
        "{}",
        answer.reason()
    );
}

#[tokio::test]
async fn a_refused_response_url_gets_no_answer_and_no_work() {
    let world = World::start(WorldOptions::default()).await;
    let mut request = world.request("Create", None);
    request["ResponseURL"] = json!("https://attacker.example.com/answer");
    let outcome = world
        .handler
        .handle_request(request, &invocation(Duration::from_secs(60)))
        .await;
    assert!(outcome.is_err());
    assert!(world.answers.answers().is_empty());
    assert!(world.stack_sets().calls().is_empty());
}

#[tokio::test]
async fn a_bad_configuration_is_answered_with_its_problems() {
    let recorder = ResponseUrlRecorder::start().await.unwrap();
    let answer_url = recorder.base();
    let handler = Handler::<FakePorts>::new(
        Mode::Misconfigured {
            problems: vec![lwct_domain::Problem::new(
                "TOWER_AUDIT_ACCOUNT_ID",
                "is required",
            )],
            response_urls: ResponseUrlPolicy::with_allowed_hosts(vec![
                lwct_domain::custom_resource::AllowedHost::parse("127.0.0.1").unwrap(),
            ]),
        },
        AnswerSlot::new(),
    );
    let request = |kind: &str, physical: Option<&str>| {
        let mut r = json!({
            "RequestType": kind,
            "ResponseURL": format!("{answer_url}/a"),
            "StackId": format!("arn:aws:cloudformation:us-east-1:{MANAGEMENT}:stack/s/1"),
            "RequestId": "r1",
            "LogicalResourceId": "LaceworkSetup",
            "ResourceType": "Custom::LaceworkSetup"
        });
        if let Some(id) = physical {
            r["PhysicalResourceId"] = json!(id);
        }
        r
    };
    let deadline = &invocation(Duration::from_secs(60));
    handler
        .handle_request(request("Create", None), deadline)
        .await
        .unwrap();
    handler
        .handle_request(
            request("Delete", Some("LaceworkSetup-create-failed-r1")),
            deadline,
        )
        .await
        .unwrap();
    let answers = recorder.answers();
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0].status(), "FAILED");
    assert!(
        answers[0]
            .reason()
            .contains("TOWER_AUDIT_ACCOUNT_ID: is required"),
        "{}",
        answers[0].reason()
    );
    assert_eq!(answers[1].status(), "SUCCESS");
}

#[tokio::test]
async fn existing_active_accounts_are_queued_for_onboarding() {
    let world = World::start(WorldOptions {
        env: vec![("TOWER_MONITOR_EXISTING_ACCOUNTS", "true")],
        ..WorldOptions::default()
    })
    .await;
    let answer = world.send("Create", None).await;
    assert_eq!(answer.status(), "SUCCESS", "{}", answer.reason());
    assert_eq!(answer.body["Data"]["AccountsQueued"], "4");
    let sent = world.setup.queues.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].0,
        format!("https://sqs.us-east-1.amazonaws.com/{MANAGEMENT}/lacework-ct-account-queue")
    );
    let AccountWork::OnboardAccounts { source, accounts } =
        serde_json::from_str(&sent[0].1).unwrap()
    else {
        panic!("{:?}", sent[0])
    };
    assert_eq!(source, "setup");
    let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        [LOG_ARCHIVE, AUDIT, PROD, DEV],
        "ACTIVE members only, not the management account"
    );
}

#[tokio::test]
async fn an_update_that_changes_a_parameter_updates_the_stack_sets() {
    let world = World::start(WorldOptions::default()).await;
    assert_eq!(world.send("Create", None).await.status(), "SUCCESS");
    let held = world.stack_sets().stack_sets()["lacework-ct-log-archive"]
        .spec
        .clone();
    let mut older = held.clone();
    older
        .parameters
        .insert("CloudTrailKeyPrefix".into(), "old-prefix".into());
    world.stack_sets().insert(older, &[target(LOG_ARCHIVE)]);
    world.stack_sets().set_behaviour(Behaviour {
        masked_parameters: ["ExternalIdSuffix".to_owned()].into(),
        ..Behaviour::default()
    });
    let answer = world.send("Update", Some("lacework-ct-setup")).await;
    assert_eq!(answer.status(), "SUCCESS", "{}", answer.reason());
    let updates: Vec<String> = world
        .stack_sets()
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("UpdateStackSet"))
        .collect();
    assert_eq!(
        updates,
        ["UpdateStackSet lacework-ct-log-archive"],
        "a masked suffix is no change"
    );
    assert_eq!(
        world.stack_sets().stack_sets()["lacework-ct-log-archive"].spec,
        held
    );
}

#[tokio::test]
async fn dropping_config_from_the_capability_removes_the_member_side() {
    let world = World::start(WorldOptions::default()).await;
    assert_eq!(world.send("Create", None).await.status(), "SUCCESS");
    let mut config = world.setup.config.clone();
    config.capability = lwct_domain::config::Capability::CloudTrail;
    let stack_sets = InMemoryStackSets::new();
    for (name, held) in world.stack_sets().stack_sets() {
        let targets: Vec<StackInstanceTarget> = held.instances.iter().cloned().collect();
        stack_sets.insert(held.spec, &targets);
        assert!(
            stack_sets
                .describe_stack_set(&name)
                .await
                .unwrap()
                .is_some()
        );
    }
    let setup = Arc::new(Setup::<FakePorts> {
        config,
        organizations: MemoryOrganizations::new(organization(), id(MANAGEMENT)),
        trails: FakeTrails::new(Some(control_tower_trail())),
        stack_sets,
        queues: MemoryQueues::new(MANAGEMENT),
        log_archive: InMemoryLogArchive::new(),
        secrets: world.setup.secrets.clone(),
        tokens: world.setup.tokens.clone(),
        invocations: FakeInvocations::default(),
        lacework_options: ClientOptions::default(),
        timing: timing(),
    });
    let handler = Handler::new(Mode::Ready(setup.clone()), AnswerSlot::new());
    handler
        .handle_request(
            world.request("Update", Some("lacework-ct-setup")),
            &invocation(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(world.answers.answers().last().unwrap().status(), "SUCCESS");
    assert_eq!(
        names(&setup.stack_sets),
        ["lacework-ct-audit", "lacework-ct-log-archive"]
    );
}

// ---- Trails without an SNS topic: the S3 event notification path ----

/// The key the S3 notifications stack's topic and queue are encrypted with.
const NOTIFICATION_KEY: &str =
    "arn:aws:kms:us-east-1:222233334444:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn bucket() -> String {
    format!("aws-controltower-logs-{LOG_ARCHIVE}-us-east-1")
}

fn s3_topic() -> String {
    format!("arn:aws:sns:us-east-1:{LOG_ARCHIVE}:lacework-ct-s3-notifications")
}

fn log_archive_queue_url() -> String {
    format!("https://sqs.us-east-1.amazonaws.com/{LOG_ARCHIVE}/lacework-ct-s3-notifications")
}

/// Someone else's configuration on the trail bucket, with `events` under `prefix`.
fn foreign(id: &str, events: &str, prefix: Option<&str>) -> EventNotification {
    EventNotification {
        id: Some(id.into()),
        destination: Destination::Queue(format!("arn:aws:sqs:us-east-1:{LOG_ARCHIVE}:siem")),
        events: vec![events.into()],
        filter_rules: prefix
            .map(|p| vec![FilterRule::new("Prefix", p)])
            .unwrap_or_default(),
    }
}

fn ours() -> EventNotification {
    EventNotification {
        id: Some("lacework-ct-cloudtrail-log-files".into()),
        destination: Destination::Topic(s3_topic()),
        events: vec!["s3:ObjectCreated:*".into()],
        filter_rules: vec![FilterRule::new("prefix", "o-abcd1234/AWSLogs/")],
    }
}

fn with_foreign(notifications: Vec<EventNotification>) -> WorldOptions {
    WorldOptions {
        trail_topic: false,
        bucket_notifications: NotificationConfiguration {
            notifications,
            event_bridge: true,
        },
        ..WorldOptions::default()
    }
}

fn bucket_notifications(world: &World) -> Vec<EventNotification> {
    world
        .setup
        .log_archive
        .bucket(&bucket())
        .expect("the bucket exists")
        .notifications
}

fn puts(world: &World) -> usize {
    world
        .setup
        .log_archive
        .calls()
        .iter()
        .filter(|call| call.starts_with("s3:PutBucketNotificationConfiguration"))
        .count()
}

#[tokio::test]
async fn a_trail_without_a_topic_gets_s3_event_notifications_in_log_archive() {
    let removed_files = foreign("deleted-log-files", "s3:ObjectRemoved:*", None);
    let world = World::start(with_foreign(vec![removed_files.clone()])).await;
    let answer = world.send("Create", None).await;
    assert_eq!(answer.status(), "SUCCESS", "{}", answer.reason());
    assert_eq!(
        answer.body["Data"]["TrailNotifications"],
        "s3-event-notifications"
    );
    assert_eq!(answer.body["Data"]["QueueUrl"], log_archive_queue_url());
    let reason = answer.reason();
    assert!(
        reason.contains(&format!(
            "adding event notification lacework-ct-cloudtrail-log-files (s3:ObjectCreated:* under o-abcd1234/AWSLogs/ to SNS topic {}) to bucket {}",
            s3_topic(),
            bucket()
        )),
        "the answer says what was done to the bucket: {reason}"
    );

    // No Audit queue (there is no topic to subscribe it to); the notification stack next to
    // the bucket, and the Log Archive role consuming its queue with its key.
    let stack_sets = world.stack_sets();
    assert_eq!(
        names(stack_sets),
        [
            "lacework-ct-log-archive",
            "lacework-ct-member",
            "lacework-ct-s3-notifications"
        ]
    );
    assert_eq!(
        instances(stack_sets, "lacework-ct-s3-notifications"),
        [target(LOG_ARCHIVE)]
    );
    let log_archive = &stack_sets.stack_sets()["lacework-ct-log-archive"].spec;
    assert_eq!(
        log_archive.parameters["AuditQueueArn"],
        format!("arn:aws:sqs:us-east-1:{LOG_ARCHIVE}:lacework-ct-s3-notifications")
    );
    assert_eq!(
        log_archive.parameters["AuditQueueKmsKeyArn"],
        NOTIFICATION_KEY
    );

    // Ours added after theirs, theirs and EventBridge untouched.
    assert_eq!(bucket_notifications(&world), [removed_files, ours()]);
    assert!(
        world
            .setup
            .log_archive
            .bucket(&bucket())
            .unwrap()
            .event_bridge
    );

    let state = world.lacework_state().await;
    let record = &state["integrations"]["acme"][0]["data"];
    assert_eq!(record["queueUrl"], log_archive_queue_url());

    // A second Create changes nothing: no StackSet call, no write to the bucket.
    let calls = world.stack_sets().calls();
    let written = puts(&world);
    let again = world.send("Create", None).await;
    assert_eq!(again.status(), "SUCCESS", "{}", again.reason());
    assert_eq!(world.stack_sets().calls(), calls);
    assert_eq!(puts(&world), written, "no second write");
    assert_eq!(bucket_notifications(&world).len(), 2);
}

#[tokio::test]
async fn an_overlapping_bucket_notification_is_refused_before_anything_changes() {
    // Someone already sends every created object of the trail's prefix elsewhere.
    let world = World::start(with_foreign(vec![foreign(
        "siem-feed",
        "s3:ObjectCreated:Put",
        Some("o-abcd1234/"),
    )]))
    .await;
    let answer = world.send("Create", None).await;
    assert_eq!(answer.status(), "FAILED");
    let reason = answer.reason();
    for expected in [
        "nothing was changed",
        "notifies no SNS topic",
        "\"siem-feed\"",
        "keys under \"o-abcd1234/\"",
        "\"o-abcd1234/AWSLogs/\"",
        &bucket(),
        "Remove or narrow that configuration",
    ] {
        assert!(reason.contains(expected), "{expected:?} in: {reason}");
    }
    assert!(world.stack_sets().calls().is_empty());
    assert_eq!(puts(&world), 0);
    assert_eq!(world.setup.secrets.writes(), 0);
}

#[tokio::test]
async fn delete_removes_our_bucket_notification_and_keeps_theirs() {
    let theirs = foreign("deleted-log-files", "s3:ObjectRemoved:*", None);
    let world = World::start(with_foreign(vec![theirs.clone()])).await;
    assert_eq!(world.send("Create", None).await.status(), "SUCCESS");
    assert_eq!(bucket_notifications(&world).len(), 2);

    let answer = world.send("Delete", Some("lacework-ct-setup")).await;
    assert_eq!(answer.status(), "SUCCESS", "{}", answer.reason());
    assert!(
        answer.reason().contains(&format!(
            "removing event notification lacework-ct-cloudtrail-log-files from bucket {}",
            bucket()
        )),
        "{}",
        answer.reason()
    );
    assert_eq!(bucket_notifications(&world), std::slice::from_ref(&theirs));
    assert!(
        world
            .setup
            .log_archive
            .bucket(&bucket())
            .unwrap()
            .event_bridge
    );
    assert!(names(world.stack_sets()).is_empty());
    assert!(world.integrations("acme").await.is_empty());

    // Again: nothing left to remove, nothing written.
    let written = puts(&world);
    let again = world.send("Delete", Some("lacework-ct-setup")).await;
    assert_eq!(again.status(), "SUCCESS", "{}", again.reason());
    assert_eq!(puts(&world), written);
    assert_eq!(bucket_notifications(&world), [theirs]);
}

#[tokio::test]
async fn an_update_follows_the_trail_gaining_and_losing_its_topic() {
    let theirs = foreign("deleted-log-files", "s3:ObjectRemoved:*", None);
    let world = World::start(with_foreign(vec![theirs.clone()])).await;
    assert_eq!(world.send("Create", None).await.status(), "SUCCESS");

    // The trail now notifies Control Tower's topic: the Audit path, the S3 path removed.
    world.setup.trails.set(Some(control_tower_trail()));
    let answer = world.send("Update", Some("lacework-ct-setup")).await;
    assert_eq!(answer.status(), "SUCCESS", "{}", answer.reason());
    assert_eq!(answer.body["Data"]["TrailNotifications"], "trail-topic");
    assert_eq!(
        names(world.stack_sets()),
        [
            "lacework-ct-audit",
            "lacework-ct-log-archive",
            "lacework-ct-member"
        ]
    );
    assert_eq!(bucket_notifications(&world), std::slice::from_ref(&theirs));
    let log_archive = &world.stack_sets().stack_sets()["lacework-ct-log-archive"].spec;
    assert_eq!(
        log_archive.parameters["AuditQueueArn"],
        format!("arn:aws:sqs:us-east-1:{AUDIT}:lacework-ct-cloudtrail-queue")
    );
    assert_eq!(log_archive.parameters["AuditQueueKmsKeyArn"], "");
    let state = world.lacework_state().await;
    assert_eq!(
        state["integrations"]["acme"][0]["data"]["queueUrl"],
        format!("https://sqs.us-east-1.amazonaws.com/{AUDIT}/lacework-ct-cloudtrail-queue")
    );

    // And back: the topic is gone again.
    world.setup.trails.set(Some(TrailDetails {
        sns_topic_arn: None,
        ..control_tower_trail()
    }));
    let answer = world.send("Update", Some("lacework-ct-setup")).await;
    assert_eq!(answer.status(), "SUCCESS", "{}", answer.reason());
    assert_eq!(
        names(world.stack_sets()),
        [
            "lacework-ct-log-archive",
            "lacework-ct-member",
            "lacework-ct-s3-notifications"
        ]
    );
    assert_eq!(bucket_notifications(&world), [theirs, ours()]);
    let state = world.lacework_state().await;
    assert_eq!(
        state["integrations"]["acme"][0]["data"]["queueUrl"],
        log_archive_queue_url()
    );
}

#[tokio::test]
async fn a_trail_that_moves_to_another_bucket_takes_our_notification_along() {
    let theirs = foreign("deleted-log-files", "s3:ObjectRemoved:*", None);
    let world = World::start(with_foreign(vec![theirs.clone()])).await;
    assert_eq!(world.send("Create", None).await.status(), "SUCCESS");
    let moved = format!("org-logs-{LOG_ARCHIVE}-us-east-1");
    world
        .setup
        .log_archive
        .insert_bucket(&moved, NotificationConfiguration::default());
    world.setup.trails.set(Some(TrailDetails {
        sns_topic_arn: None,
        s3_bucket_name: Some(moved.clone()),
        ..control_tower_trail()
    }));
    let answer = world.send("Update", Some("lacework-ct-setup")).await;
    assert_eq!(answer.status(), "SUCCESS", "{}", answer.reason());
    assert_eq!(bucket_notifications(&world), [theirs]);
    assert_eq!(
        world
            .setup
            .log_archive
            .bucket(&moved)
            .unwrap()
            .notifications,
        [ours()]
    );
    assert_eq!(
        world.stack_sets().stack_sets()["lacework-ct-s3-notifications"]
            .spec
            .parameters["CloudTrailBucketName"],
        moved
    );
}
