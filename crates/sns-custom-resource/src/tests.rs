//! The function end to end in-process: SNS-delivered CloudFormation requests answered to a
//! loopback listener, the registration queue and Organizations faked in memory, and the
//! Lacework side played by `lacework-emulator`.

use std::sync::Arc;
use std::time::Duration;

use lacework_emulator::{Emulator, Options, RateLimit};
use lwct_aws::secrets::SecretPort;
use lwct_domain::api_secret::ApiSecret;
use lwct_domain::config::{FromEnv, SnsCustomResourceConfig};
use lwct_domain::custom_resource::ResponseUrlPolicy;
use lwct_domain::external_id::{ExternalId, ExternalIdSuffix};
use lwct_domain::lacework::{
    AwsCfgData, AwsCtSqsData, CloudAccountSpec, CrossAccountCredentials, Scope, SubAccount, Token,
};
use lwct_domain::mapping::AccountMapping;
use lwct_domain::member_request::{RESOURCE_TYPE, physical_resource_id};
use lwct_domain::registration::RegistrationWork;
use lwct_domain::{AccountId, Error, Problem};
use lwct_lacework::{Client, ClientOptions, RetryPolicy, StaticTokenSource};
use lwct_lacework::{KeyTokenRequester, TokenRequester};
use lwct_testkit::organizations::MemoryOrganizations;
use lwct_testkit::queues::MemoryQueues;
use lwct_testkit::response_url::ResponseUrlRecorder;
use lwct_testkit::secrets::MemorySecretStore;
use lwct_testkit::stack_sets::InMemoryStackSets;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::fakes::*;
use crate::function::{Function, Timing};
use crate::handler::{Handler, Mode};

const KEY_ID: &str = "ACME_KEY";
const SECRET_KEY: &str = "_secret";
const SUFFIX: &str = "StoredSuffix0123";
const QUEUE: &str = "lacework-ct-registration-queue";
const DLQ: &str = "lacework-ct-registration-dlq";
const RULES: &str = "Security=secops, Workloads=prod";

/// How a test's installation is set up.
struct Setup {
    ou_rules: Option<&'static str>,
    capability: &'static str,
    budget: u32,
    rate_limit: Option<RateLimit>,
    /// Whether the emulator's answers say what is left of the key's limit.
    rate_limit_headers: bool,
    /// `TOWER_REGISTRATION_RESERVE`, when set.
    reserve: Option<u32>,
    /// The token the secret holds at the start: a good one from the emulator unless a test
    /// says otherwise.
    stored_token: StoredToken,
}

impl Setup {
    /// No OU rules: every account is registered in the Lacework account itself (`acme`).
    fn without_ou_rules() -> Self {
        Setup {
            ou_rules: None,
            ..Setup::default()
        }
    }

    /// A configured budget of 3, and answers that say what is left of 120 an hour: the run
    /// learns a budget of 10.
    fn learning() -> Self {
        Setup {
            budget: 3,
            rate_limit: Some(RateLimit {
                requests: 120,
                per: Duration::from_secs(3600),
            }),
            rate_limit_headers: true,
            ..Setup::without_ou_rules()
        }
    }
}

enum StoredToken {
    Good,
    UnknownToTheApi,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            ou_rules: Some(RULES),
            capability: "Both",
            budget: 100,
            rate_limit: None,
            rate_limit_headers: false,
            reserve: None,
            stored_token: StoredToken::Good,
        }
    }
}

struct Harness {
    emulator: Emulator,
    answers: ResponseUrlRecorder,
    function: Arc<Function<TestPorts>>,
    handler: Handler<TestPorts>,
}

fn fast() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
    }
}

fn in_an_hour(value: &str) -> Token {
    Token::new(value, OffsetDateTime::now_utc() + time::Duration::hours(1))
}

fn id(text: &str) -> AccountId {
    AccountId::parse(text).unwrap()
}

impl Harness {
    async fn start(setup: Setup) -> Self {
        let emulator = lacework_emulator::start(Options {
            key_id: KEY_ID.into(),
            secret: SECRET_KEY.into(),
            sub_accounts: vec!["acme".into(), "secops".into(), "prod".into()],
            rate_limit: setup.rate_limit,
            rate_limit_headers: setup.rate_limit_headers,
            ..Options::default()
        })
        .await
        .unwrap();
        let answers = ResponseUrlRecorder::start().await.unwrap();
        let allow = answers.base().trim_start_matches("http://").to_owned();
        let budget = setup.budget.to_string();
        let mut vars = vec![
            ("AWS_REGION", "us-east-1".to_owned()),
            ("LACEWORK_URL", emulator.url.clone()),
            ("LACEWORK_ACCOUNT", "acme".to_owned()),
            (
                "LACEWORK_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:lacework-ct-lacework-api-AbCdEf"
                    .to_owned(),
            ),
            ("TOWER_RESPONSE_URL_ALLOW", allow),
            ("TOWER_REGISTRATION_BUDGET", budget),
            ("TOWER_CAPABILITY", setup.capability.to_owned()),
        ];
        if let Some(rules) = setup.ou_rules {
            vars.push(("LACEWORK_OU_RULES", rules.to_owned()));
        }
        if let Some(reserve) = setup.reserve {
            vars.push(("TOWER_REGISTRATION_RESERVE", reserve.to_string()));
        }
        let config = SnsCustomResourceConfig::from_env(vars).unwrap();

        let requester = Arc::new(KeyTokenRequester::new(&emulator.url, fast()));
        let token = match setup.stored_token {
            StoredToken::Good => requester
                .request_token(&ApiSecret::new(KEY_ID, SECRET_KEY).credentials())
                .await
                .unwrap(),
            StoredToken::UnknownToTheApi => in_an_hour("revoked-token"),
        };
        let secret = ApiSecret {
            external_id_suffix: Some(ExternalIdSuffix::parse(SUFFIX).unwrap()),
            ..ApiSecret::new(KEY_ID, SECRET_KEY).with_token(token)
        };
        let mut function = Function::<TestPorts>::new(
            config,
            MemoryOrganizations::new(organization(), AccountId::parse("111122223333").unwrap()),
            InMemoryStackSets::new(),
            MemoryQueues::new("111122223333"),
            Arc::new(MemorySecretStore::new(&secret)),
            requester,
        )
        .unwrap();
        function.lacework_options = fast();
        function.timing = Timing {
            queue_retry: Duration::ZERO,
            ..Timing::default()
        };
        let function = Arc::new(function);
        let handler = Handler::new(Mode::Ready(function.clone()));
        let harness = Self {
            emulator,
            answers,
            function,
            handler,
        };
        if setup.ou_rules.is_some() {
            harness.register_cloudtrail().await;
        }
        harness
    }

    /// What setup registers with OU rules: the org-level CloudTrail integration with a
    /// mapping file that sends every account to the default.
    async fn register_cloudtrail(&self) {
        let log_archive = id("666677778888");
        let external_id = ExternalId::new(
            "acme",
            &log_archive,
            &ExternalIdSuffix::parse(SUFFIX).unwrap(),
        )
        .unwrap();
        let mut data = AwsCtSqsData {
            cross_account_credentials: CrossAccountCredentials::new(
                "arn:aws:iam::666677778888:role/lacework-ct-cross-account-role",
                external_id.expose(),
            ),
            queue_url:
                "https://sqs.us-east-1.amazonaws.com/999900001111/lacework-ct-cloudtrail-queue"
                    .into(),
            aws_account_id: None,
            account_mapping_file: None,
        };
        data.set_account_mapping(&AccountMapping::new("acme").unwrap());
        self.admin()
            .await
            .create(
                &Scope::Organization,
                &CloudAccountSpec::new("lacework-ct-cloudtrail", data),
            )
            .await
            .unwrap();
    }

    /// A client of the tests' own, with a fresh token.
    async fn admin(&self) -> Client {
        let token = KeyTokenRequester::new(&self.emulator.url, fast())
            .request_token(&ApiSecret::new(KEY_ID, SECRET_KEY).credentials())
            .await
            .unwrap();
        Client::new(
            &self.emulator.url,
            Arc::new(StaticTokenSource::new(token)),
            &fast(),
        )
        .unwrap()
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(90)
    }

    /// Delivers `request` as SNS does.
    async fn publish(&self, request: &Value) -> Result<Value, Error> {
        let event = json!({"Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": "arn:aws:sns:us-east-1:111122223333:lacework-ct-registration-topic:sub",
            "Sns": {
                "Type": "Notification",
                "MessageId": "m-1",
                "TopicArn": "arn:aws:sns:us-east-1:111122223333:lacework-ct-registration-topic",
                "Subject": "AWS CloudFormation custom resource request",
                "Message": request.to_string(),
                "Timestamp": "2024-05-01T12:00:00.000Z",
            }
        }]});
        self.handler.handle_payload(&event, Self::deadline()).await
    }

    /// One run of the drain, as the schedule starts it.
    async fn drain(&self) -> Result<Value, Error> {
        self.drain_until(Self::deadline()).await
    }

    /// One run of the drain in an invocation that ends at `deadline`.
    async fn drain_until(&self, deadline: Instant) -> Result<Value, Error> {
        let event = json!({
            "version": "0",
            "id": "e-1",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "111122223333",
            "time": "2024-05-01T12:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:111122223333:rule/lacework-ct-registration-drain"],
            "detail": {}
        });
        self.handler.handle_payload(&event, deadline).await
    }

    /// Queues registration work for the `many_account`s of `indexes`.
    fn queue_registrations(&self, indexes: std::ops::Range<usize>) {
        for index in indexes {
            self.queue().put(
                QUEUE,
                &RegistrationWork::Register {
                    account: id(&many_account(index)),
                    role_arn: format!(
                        "arn:aws:iam::{}:role/lacework-ct-config-role",
                        many_account(index)
                    ),
                    cause: "test".into(),
                }
                .to_message(),
            );
        }
    }

    fn queue(&self) -> &MemoryQueues {
        &self.function.queues
    }

    fn organizations(&self) -> &MemoryOrganizations {
        &self.function.organizations
    }

    fn secrets(&self) -> &MemorySecretStore {
        &self.function.secrets
    }

    async fn emulator_get(&self, path: &str) -> Value {
        reqwest::get(format!("{}/__emulator/{path}", self.emulator.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn fault(&self, fault: Value) {
        let status = reqwest::Client::new()
            .post(format!("{}/__emulator/faults", self.emulator.url))
            .json(&fault)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 201);
    }

    /// The AWS accounts with an `AwsCfg` integration in each scope, as `scope: account`.
    async fn registrations(&self) -> Vec<String> {
        let state = self.emulator_get("state").await;
        let mut found = Vec::new();
        for (scope, records) in state["integrations"].as_object().unwrap() {
            for record in records.as_array().unwrap() {
                if record["type"] == "AwsCfg" {
                    found.push(format!(
                        "{scope}: {}",
                        record["data"]["awsAccountId"].as_str().unwrap()
                    ));
                }
            }
        }
        found.sort();
        found
    }

    /// The org-level mapping file, decoded.
    async fn mapping(&self) -> Value {
        let state = self.emulator_get("state").await;
        state["mappingFiles"][0]["mapping"].clone()
    }

    /// How many integrations were created in a sub-account (not the org-level CloudTrail
    /// integration the harness registers).
    async fn account_creates(&self) -> usize {
        self.lacework_requests()
            .await
            .iter()
            .filter(|r| {
                r["method"] == "POST"
                    && r["path"] == "/api/v2/CloudAccounts"
                    && r["orgAccess"].is_null()
            })
            .count()
    }

    /// The API requests the emulator served (tokens included).
    async fn lacework_requests(&self) -> Vec<Value> {
        self.emulator_get("requests").await["requests"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// The statuses of the emulator's answers so far, in order.
    async fn lacework_statuses(&self) -> Vec<u64> {
        self.lacework_requests()
            .await
            .iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect()
    }
}

fn request(kind: &str, account: &str, response_url: &str) -> Value {
    let mut request = json!({
        "RequestType": kind,
        "ResponseURL": response_url,
        "StackId": format!("arn:aws:cloudformation:us-east-1:{account}:stack/StackSet-lacework-ct-member-0001/11112222-3333"),
        "RequestId": format!("{kind}-request-{account}"),
        "LogicalResourceId": "AccountRegistration",
        "ResourceType": RESOURCE_TYPE,
        "ResourceProperties": {
            "ServiceToken": "arn:aws:sns:us-east-1:111122223333:lacework-ct-registration-topic",
            "AccountId": account,
            "RoleArn": format!("arn:aws:iam::{account}:role/lacework-ct-config-role"),
            "ExternalId": format!("lweid:aws:v2:acme:{account}:{SUFFIX}"),
        }
    });
    if kind != "Create" {
        request["PhysicalResourceId"] = json!(physical_resource_id(&id(account)));
    }
    if kind == "Update" {
        request["OldResourceProperties"] = request["ResourceProperties"].clone();
    }
    request
}

fn work(body: &str) -> RegistrationWork {
    RegistrationWork::from_message(body).unwrap()
}

#[tokio::test]
async fn a_valid_create_is_answered_once_queued_and_registered_by_the_drain() {
    let harness = Harness::start(Setup::default()).await;
    let url = harness.answers.url("answer/create");
    let result = harness
        .publish(&request("Create", SECURITY_ACCOUNT, &url))
        .await
        .unwrap();
    assert_eq!(result["answered"], json!(["SUCCESS"]));

    // Answered SUCCESS after exactly one message was queued; nothing registered yet.
    let answers = harness.answers.answers();
    assert_eq!(answers.len(), 1);
    let answer = &answers[0];
    assert_eq!(answer.method, "PUT");
    assert_eq!(answer.path, "/answer/create");
    assert_eq!(answer.content_type.as_deref(), Some(""));
    assert_eq!(answer.body["Status"], "SUCCESS");
    assert_eq!(
        answer.body["PhysicalResourceId"],
        "lacework-cfg-222233334444"
    );
    assert_eq!(answer.body["RequestId"], "Create-request-222233334444");
    let queued = harness.queue().bodies(QUEUE);
    assert_eq!(queued.len(), 1);
    assert_eq!(
        work(&queued[0]),
        RegistrationWork::Register {
            account: id(SECURITY_ACCOUNT),
            role_arn: "arn:aws:iam::222233334444:role/lacework-ct-config-role".into(),
            cause: "custom-resource-create:arn:aws:cloudformation:us-east-1:222233334444:stack/StackSet-lacework-ct-member-0001/11112222-3333".into(),
        }
    );
    assert!(harness.registrations().await.is_empty());

    let report = harness.drain().await.unwrap();
    assert_eq!(report["registered"], 1, "{report}");
    assert_eq!(report["ended"], "the queue is empty");
    // Security maps to secops: registered there, and listed there in the mapping file.
    assert_eq!(harness.registrations().await, ["secops: 222233334444"]);
    assert_eq!(
        harness.mapping().await["integration_mappings"]["secops"]["aws_accounts"],
        json!([SECURITY_ACCOUNT])
    );
    let record = &harness.emulator_get("state").await["integrations"]["secops"][0];
    assert_eq!(record["name"], "lacework-ct-222233334444");
    assert_eq!(
        record["data"]["crossAccountCredentials"]["roleArn"],
        "arn:aws:iam::222233334444:role/lacework-ct-config-role"
    );
    assert_eq!(
        record["data"]["crossAccountCredentials"]["externalId"],
        format!("lweid:aws:v2:acme:222233334444:{SUFFIX}")
    );
    assert!(harness.queue().bodies(QUEUE).is_empty());
    assert!(harness.queue().bodies(DLQ).is_empty());
    assert_eq!(harness.organizations().tree_reads(), 1);
}

#[tokio::test]
async fn an_account_no_rule_maps_goes_to_the_default_and_stays_out_of_the_mapping_file() {
    let harness = Harness::start(Setup::default()).await;
    let url = harness.answers.url("answer");
    harness
        .publish(&request("Create", ROOT_ACCOUNT, &url))
        .await
        .unwrap();
    harness.drain().await.unwrap();
    assert_eq!(harness.registrations().await, ["acme: 444455556666"]);
    assert_eq!(harness.mapping().await["integration_mappings"], json!({}));
}

#[tokio::test]
async fn the_same_request_delivered_three_times_registers_once() {
    let harness = Harness::start(Setup::default()).await;
    let url = harness.answers.url("answer");
    let create = request("Create", WORKLOAD_ACCOUNT, &url);
    for _ in 0..3 {
        harness.publish(&create).await.unwrap();
    }
    // Each delivery is answered (CloudFormation takes the first), each queues its work.
    let answers = harness.answers.answers();
    assert_eq!(answers.len(), 3);
    assert!(answers.iter().all(|a| a.body["Status"] == "SUCCESS"));
    assert!(
        answers
            .iter()
            .all(|a| a.body["PhysicalResourceId"] == "lacework-cfg-333344445555")
    );
    assert_eq!(harness.queue().bodies(QUEUE).len(), 3);

    let report = harness.drain().await.unwrap();
    assert_eq!(report["registered"], 1, "{report}");
    assert_eq!(report["duplicates"], 2, "{report}");
    assert_eq!(harness.registrations().await, ["prod: 333344445555"]);
    assert_eq!(harness.account_creates().await, 1);
    assert!(harness.queue().bodies(QUEUE).is_empty());

    // Delivered again later, in another run: found as it is, nothing created.
    harness.publish(&create).await.unwrap();
    harness.drain().await.unwrap();
    assert_eq!(harness.registrations().await, ["prod: 333344445555"]);
}

#[tokio::test]
async fn spoofed_requests_are_refused_and_nothing_is_queued() {
    let harness = Harness::start(Setup::default()).await;
    let url = harness.answers.url("answer");

    let mut other_stack = request("Create", SECURITY_ACCOUNT, &url);
    other_stack["StackId"] = json!("arn:aws:cloudformation:us-east-1:999988887777:stack/evil/guid");
    let mut other_role = request("Create", SECURITY_ACCOUNT, &url);
    other_role["ResourceProperties"]["RoleArn"] =
        json!("arn:aws:iam::999988887777:role/lacework-ct-config-role");

    for (spoofed, reason) in [
        (
            &other_stack,
            "the stack ($.StackId) belongs to account 999988887777",
        ),
        (
            &other_role,
            "$.ResourceProperties.RoleArn: the role is in account 999988887777",
        ),
    ] {
        let before = harness.answers.answers().len();
        harness.publish(spoofed).await.unwrap();
        let answers = harness.answers.answers();
        assert_eq!(answers.len(), before + 1);
        let answer = &answers[before].body;
        assert_eq!(answer["Status"], "FAILED");
        let said = answer["Reason"].as_str().unwrap();
        assert!(said.contains(reason), "{said}");
        assert!(!said.contains(SUFFIX), "{said}");
        // A refused Create keeps CloudFormation's placeholder, never our physical id.
        assert_eq!(
            answer["PhysicalResourceId"],
            format!(
                "AccountRegistration-create-failed-{}",
                spoofed["RequestId"].as_str().unwrap()
            )
        );
    }

    // A foreign ResponseURL: no answer is sent anywhere, and nothing is queued.
    let evil = request(
        "Create",
        SECURITY_ACCOUNT,
        "https://evil.example/answer?X-Amz-Signature=abc",
    );
    let before = harness.answers.answers().len();
    let result = harness.publish(&evil).await.unwrap();
    assert_eq!(result["notAnswered"], 1);
    assert_eq!(result["answered"], json!([]));
    assert_eq!(harness.answers.answers().len(), before);

    assert!(harness.queue().bodies(QUEUE).is_empty());
    harness.drain().await.unwrap();
    assert!(harness.registrations().await.is_empty());
    assert_eq!(harness.account_creates().await, 0);
}

/// Membership is the drain's check, made against the tree it holds: answering a Create costs
/// no Organizations call, and the work of an account that is not an ACTIVE member is
/// dead-lettered with the reason, never registered.
#[tokio::test]
async fn a_create_costs_no_organizations_call_and_the_drain_refuses_accounts_that_are_not_active_members()
 {
    let harness = Harness::start(Setup::default()).await;
    let url = harness.answers.url("answer");
    for account in [SECURITY_ACCOUNT, SUSPENDED_ACCOUNT, STRANGER_ACCOUNT] {
        harness
            .publish(&request("Create", account, &url))
            .await
            .unwrap();
    }
    assert_eq!(harness.function.organizations.calls(), 0);
    let answers = harness.answers.answers();
    let statuses: Vec<&Value> = answers.iter().map(|a| &a.body["Status"]).collect();
    assert_eq!(statuses, ["SUCCESS", "SUCCESS", "SUCCESS"]);

    let report = harness.drain().await.unwrap();
    assert_eq!(report["registered"], 1, "{report}");
    assert_eq!(report["deadLettered"], 2, "{report}");
    assert_eq!(harness.registrations().await, ["secops: 222233334444"]);
    let dead = harness.queue().messages(DLQ);
    let reasons: Vec<(AccountId, &str)> = dead
        .iter()
        .map(|m| {
            (
                work(&m.body).account().clone(),
                m.reason.as_deref().unwrap(),
            )
        })
        .collect();
    let suspended = id(SUSPENDED_ACCOUNT);
    let stranger = id(STRANGER_ACCOUNT);
    assert!(
        reasons.iter().any(|(account, reason)| *account == suspended
            && reason.contains("is SUSPENDED in the organization")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|(account, reason)| *account == stranger
            && reason.contains("is not in the organization")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_request_whose_work_cannot_be_queued_is_answered_failed() {
    let harness = Harness::start(Setup::default()).await;
    harness.queue().fail_sends(true);
    harness
        .publish(&request(
            "Create",
            SECURITY_ACCOUNT,
            &harness.answers.url("a"),
        ))
        .await
        .unwrap();
    let answer = &harness.answers.answers()[0].body;
    assert_eq!(answer["Status"], "FAILED");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(reason.contains("could not queue"), "{reason}");
    assert!(reason.contains("sqs:SendMessageBatch"), "{reason}");
}

#[tokio::test]
async fn unreadable_requests_are_answered_failed_when_they_can_be_answered_at_all() {
    let harness = Harness::start(Setup::default()).await;
    let mut no_account = request("Create", SECURITY_ACCOUNT, &harness.answers.url("a"));
    no_account["ResourceProperties"]
        .as_object_mut()
        .unwrap()
        .remove("AccountId");
    harness.publish(&no_account).await.unwrap();
    let answer = &harness.answers.answers()[0].body;
    assert_eq!(answer["Status"], "FAILED");
    assert!(
        answer["Reason"]
            .as_str()
            .unwrap()
            .contains("$.ResourceProperties.AccountId: is missing")
    );

    // Without a reply address there is nobody to answer.
    let mut no_url = request("Create", SECURITY_ACCOUNT, "x");
    no_url.as_object_mut().unwrap().remove("ResponseURL");
    let result = harness.publish(&no_url).await.unwrap();
    assert_eq!(result["notAnswered"], 1);
    let event = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "not json"}}]});
    let result = harness
        .handler
        .handle_payload(&event, Harness::deadline())
        .await
        .unwrap();
    assert_eq!(result["notAnswered"], 1);
    assert_eq!(harness.answers.answers().len(), 1);
    assert!(harness.queue().bodies(QUEUE).is_empty());
}

#[tokio::test]
async fn delete_deregisters_and_an_account_already_gone_is_success() {
    let harness = Harness::start(Setup::default()).await;
    let url = harness.answers.url("answer");
    harness
        .publish(&request("Create", SECURITY_ACCOUNT, &url))
        .await
        .unwrap();
    harness.drain().await.unwrap();
    assert_eq!(harness.registrations().await, ["secops: 222233334444"]);

    harness
        .publish(&request("Delete", SECURITY_ACCOUNT, &url))
        .await
        .unwrap();
    let answer = &harness.answers.answers()[1].body;
    assert_eq!(answer["Status"], "SUCCESS");
    assert_eq!(answer["PhysicalResourceId"], "lacework-cfg-222233334444");
    assert!(matches!(
        work(&harness.queue().bodies(QUEUE)[0]),
        RegistrationWork::Deregister { .. }
    ));
    let report = harness.drain().await.unwrap();
    assert_eq!(report["deregistered"], 1, "{report}");
    assert!(harness.registrations().await.is_empty());
    assert_eq!(harness.mapping().await["integration_mappings"], json!({}));

    // Deleted again (a repeated delivery, or a retried stack deletion): nothing left to do.
    harness
        .publish(&request("Delete", SECURITY_ACCOUNT, &url))
        .await
        .unwrap();
    assert_eq!(harness.answers.answers()[2].body["Status"], "SUCCESS");
    let report = harness.drain().await.unwrap();
    assert_eq!(report["deregistered"], 1, "{report}");
    assert_eq!(report["deadLettered"], 0, "{report}");
    assert!(harness.queue().bodies(DLQ).is_empty());

    // The Delete of a suspended account is not refused: leaving accounts are deregistered.
    harness
        .publish(&request("Delete", SUSPENDED_ACCOUNT, &url))
        .await
        .unwrap();
    assert_eq!(harness.answers.answers()[3].body["Status"], "SUCCESS");

    // The rollback of a Create that failed: nothing to do, nothing queued.
    let mut rollback = request("Delete", WORKLOAD_ACCOUNT, &url);
    rollback["PhysicalResourceId"] = json!("AccountRegistration-create-failed-x");
    let queued = harness.queue().bodies(QUEUE).len();
    harness.publish(&rollback).await.unwrap();
    let answer = &harness.answers.answers()[4].body;
    assert_eq!(answer["Status"], "SUCCESS");
    assert_eq!(
        answer["PhysicalResourceId"],
        "AccountRegistration-create-failed-x"
    );
    assert_eq!(harness.queue().bodies(QUEUE).len(), queued);
}

#[tokio::test]
async fn an_update_after_a_move_to_another_ou_moves_the_registration() {
    let harness = Harness::start(Setup::default()).await;
    let url = harness.answers.url("answer");
    harness
        .publish(&request("Create", SECURITY_ACCOUNT, &url))
        .await
        .unwrap();
    let report = harness.drain().await.unwrap();
    assert_eq!(harness.registrations().await, ["secops: 222233334444"]);
    assert_eq!(
        report["moved"], 0,
        "a first registration is no move: {report}"
    );

    harness
        .organizations()
        .move_account(&id(SECURITY_ACCOUNT), "ou-work");
    harness
        .publish(&request("Update", SECURITY_ACCOUNT, &url))
        .await
        .unwrap();
    let answer = &harness.answers.answers()[1].body;
    assert_eq!(answer["Status"], "SUCCESS");
    // The same physical id: CloudFormation sees an update, not a replacement.
    assert_eq!(answer["PhysicalResourceId"], "lacework-cfg-222233334444");
    let report = harness.drain().await.unwrap();
    assert_eq!(harness.registrations().await, ["prod: 222233334444"]);
    assert_eq!(report["moved"], 1, "{report}");
    assert_eq!(
        harness.mapping().await["integration_mappings"],
        json!({"prod": {"aws_accounts": [SECURITY_ACCOUNT]}})
    );

    // Moved to the root (no rule: the default), by account-lifecycle's Remap this time.
    harness
        .organizations()
        .move_account(&id(SECURITY_ACCOUNT), "r-root");
    harness.queue().put(
        QUEUE,
        &RegistrationWork::Remap {
            account: id(SECURITY_ACCOUNT),
            cause: "lifecycle:move-1".into(),
        }
        .to_message(),
    );
    let report = harness.drain().await.unwrap();
    assert_eq!(report["registered"], 1, "{report}");
    assert_eq!(report["moved"], 1, "{report}");
    assert_eq!(harness.registrations().await, ["acme: 222233334444"]);
    assert_eq!(harness.mapping().await["integration_mappings"], json!({}));
    let record = &harness.emulator_get("state").await["integrations"]["acme"][0];
    assert_eq!(
        record["data"]["crossAccountCredentials"]["roleArn"],
        "arn:aws:iam::222233334444:role/lacework-ct-config-role"
    );
}

#[tokio::test]
async fn a_run_makes_no_more_requests_than_its_budget_and_keeps_the_rest_queued() {
    let harness = Harness::start(Setup {
        ou_rules: None,
        budget: 3,
        ..Setup::default()
    })
    .await;
    harness.queue_registrations(0..10);
    let served_before = harness.lacework_requests().await.len();
    let report = harness.drain().await.unwrap();
    let served = harness.lacework_requests().await.len() - served_before;
    assert!(served <= 3, "{served} requests: {report}");
    assert_eq!(report["laceworkRequests"], served, "{report}");
    assert_eq!(report["ended"], "the request budget is spent", "{report}");
    // Two messages received, for one search of the sub-account and one create each: two
    // registrations; the eight others wait for the next run.
    assert_eq!(report["registered"], 2, "{report}");
    assert_eq!(harness.registrations().await.len(), 2);
    let waiting = harness.queue().messages(QUEUE);
    assert_eq!(waiting.len(), 8);
    assert!(
        waiting.iter().all(|m| m.visible),
        "never hidden: the run received only what its budget covers"
    );
    assert!(harness.queue().bodies(DLQ).is_empty());

    // Run after run, every account gets registered, none past the budget, none lost.
    for _ in 0..20 {
        if harness.queue().messages(QUEUE).is_empty() {
            break;
        }
        let before = harness.lacework_requests().await.len();
        harness.drain().await.unwrap();
        assert!(harness.lacework_requests().await.len() - before <= 3);
    }
    assert_eq!(harness.registrations().await.len(), 10);
    assert!(harness.queue().bodies(DLQ).is_empty());
}

#[tokio::test]
async fn a_run_searches_a_sub_account_for_its_accounts_and_lists_it_whole_only_if_refused() {
    let harness = Harness::start(Setup::without_ou_rules()).await;
    // The sub-account holds other accounts' integrations, which the run has no need to read.
    let admin = harness.admin().await;
    let acme = Scope::Account(SubAccount::new("acme").unwrap());
    for index in 0..20 {
        let account = format!("9000000000{index:02}");
        let data = AwsCfgData {
            cross_account_credentials: CrossAccountCredentials::new(
                format!("arn:aws:iam::{account}:role/lacework-ct-config-role"),
                "lweid:aws:v2:acme:other:x",
            ),
            aws_account_id: Some(id(&account)),
        };
        let spec = CloudAccountSpec::new(format!("acme-{account}"), data);
        admin.create(&acme, &spec).await.unwrap();
    }
    let calls = |requests: &[Value]| -> Vec<String> {
        (requests.iter())
            .filter(|r| {
                r["path"]
                    .as_str()
                    .unwrap()
                    .starts_with("/api/v2/CloudAccounts")
            })
            .map(|r| format!("{} {} {}", r["method"], r["path"], r["status"]).replace('"', ""))
            .collect()
    };
    let search = "POST /api/v2/CloudAccounts/search";
    let create = "POST /api/v2/CloudAccounts 201";

    harness.queue_registrations(0..3);
    let before = harness.lacework_requests().await.len();
    let report = harness.drain().await.unwrap();
    assert_eq!(report["registered"], 3, "{report}");
    let requests = harness.lacework_requests().await;
    // None of the three is integrated yet: the search finds nothing (204, as Lacework
    // answers an empty search), and the twenty others are not read.
    let expected = [
        format!("{search} 204"),
        create.into(),
        create.into(),
        create.into(),
    ];
    assert_eq!(calls(&requests[before..]), expected);

    // Lacework refuses the search (it may not filter on data.awsAccountId): the run lists
    // the sub-account whole, and this container does not try the search again.
    harness
        .fault(json!({"path_prefix": "/api/v2/CloudAccounts/search", "status": 400, "count": 1}))
        .await;
    for batch in [3..5, 5..6] {
        harness.queue_registrations(batch.clone());
        let before = harness.lacework_requests().await.len();
        let report = harness.drain().await.unwrap();
        assert_eq!(report["registered"], batch.len(), "{report}");
        let requests = harness.lacework_requests().await;
        let listing = "GET /api/v2/CloudAccounts/AwsCfg 200".to_string();
        let mut expected = if batch.start == 3 {
            vec![format!("{search} 400"), listing]
        } else {
            vec![listing]
        };
        expected.extend(batch.map(|_| create.to_string()));
        assert_eq!(calls(&requests[before..]), expected);
    }
    assert_eq!(harness.registrations().await.len(), 26);
    assert!(harness.queue().bodies(DLQ).is_empty());
}

#[tokio::test]
async fn a_run_learns_its_budget_from_what_lacework_says_is_left_and_leaves_the_reserve() {
    const RESERVE: u32 = 8;
    let harness = Harness::start(Setup {
        reserve: Some(RESERVE),
        ..Setup::learning()
    })
    .await;
    harness.queue_registrations(0..10);
    // Another user of the key spends it (the token issued at start, its own token, lists)
    // until RESERVE + 2 of the hour's 120 are left.
    let other = Client::with_keys(
        &harness.emulator.url,
        ApiSecret::new(KEY_ID, SECRET_KEY).credentials(),
        &fast(),
    )
    .unwrap();
    for _ in 0..(120 - 2 - (RESERVE + 2)) {
        other.list(&Scope::Organization).await.unwrap();
    }

    // The search leaves RESERVE + 1: one create, and RESERVE stay unspent.
    let report = harness.drain().await.unwrap();
    assert_eq!(report["budgetLearned"], true, "{report}");
    assert_eq!(report["laceworkRequests"], 2, "{report}");
    assert_eq!(report["registered"], 1, "{report}");
    assert_eq!(report["ended"], "the request budget is spent", "{report}");
    let statuses = harness.lacework_statuses().await;
    assert!(!statuses.contains(&429), "{statuses:?}");
    for _ in 0..RESERVE {
        other.list(&Scope::Organization).await.unwrap();
    }
    assert_eq!(harness.queue().messages(QUEUE).len(), 9);

    // An hour on, the window is empty again and the run takes a twelfth of the limit, 10,
    // more than the configured 3 it received its first batch by (two messages and a request
    // for the search). The hour expired the token (the refused search, a new token, the
    // search again), then two creates; a second batch of four messages for the five requests
    // left: a search for its accounts and four creates. No message is received to be given
    // back.
    harness.emulator.advance_clock(Duration::from_secs(3600));
    let report = harness.drain().await.unwrap();
    assert_eq!(report["budget"], 10, "{report}");
    assert_eq!(report["laceworkRequests"], 10, "{report}");
    assert_eq!(report["registered"], 6, "{report}");
    assert_eq!(report["released"], 0, "{report}");
    let statuses = harness.lacework_statuses().await;
    assert!(!statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn a_batch_larger_than_one_receive_is_received_and_deleted_ten_at_a_time() {
    let harness = Harness::start(Setup::without_ou_rules()).await;
    harness.queue_registrations(0..15);
    let report = harness.drain().await.unwrap();
    assert_eq!(report["registered"], 15, "{report}");
    // One search for all fifteen: they were one batch.
    let searches = (harness.lacework_requests().await.iter())
        .filter(|r| r["path"] == "/api/v2/CloudAccounts/search")
        .count();
    assert_eq!(searches, 1);
    // The in-memory queue refuses a DeleteMessageBatch of more than ten, as SQS does.
    assert!(harness.queue().messages(QUEUE).is_empty());
    assert!(harness.queue().bodies(DLQ).is_empty());
}

#[tokio::test]
async fn a_batch_stops_taking_messages_when_the_invocation_is_nearly_over() {
    let harness = Harness::start(Setup::without_ou_rules()).await;
    harness.queue_registrations(0..15);
    // The batch's search takes two seconds of an invocation that has the drain's 15-second
    // margin and one more second left when the run starts.
    harness
        .fault(json!({"path_prefix": "/api/v2/CloudAccounts/search", "delay_ms": 2000}))
        .await;
    let report = harness
        .drain_until(Instant::now() + Duration::from_secs(16))
        .await
        .unwrap();
    assert_eq!(
        report["ended"], "the invocation's time is nearly up",
        "{report}"
    );
    assert_eq!(report["registered"], 1, "{report}");
    assert_eq!(report["released"], 14, "{report}");
    // Nothing lost: the one registered is deleted, the others wait for the next run, visible
    // again at once and handed back ten per call.
    let messages = harness.queue().messages(QUEUE);
    assert_eq!(messages.len(), 14);
    assert!(messages.iter().all(|m| m.visible), "{messages:?}");
    assert_eq!(harness.queue().release_batches(), [10, 4]);
    assert!(harness.queue().bodies(DLQ).is_empty());
}

#[tokio::test]
async fn a_run_that_cannot_work_hands_back_the_messages_it_received() {
    let harness = Harness::start(Setup::without_ou_rules()).await;
    harness.queue_registrations(0..3);
    let mut secret: Value = serde_json::from_str(&harness.secrets().current_json()).unwrap();
    secret.as_object_mut().unwrap().remove("externalIdSuffix");
    harness.secrets().rewrite(secret.to_string());
    let err = harness.drain().await.unwrap_err().to_string();
    assert!(err.contains("externalIdSuffix"), "{err}");
    let messages = harness.queue().messages(QUEUE);
    assert_eq!(messages.len(), 3);
    assert!(messages.iter().all(|m| m.visible), "{messages:?}");
}

#[tokio::test]
async fn a_warm_container_receives_for_the_budget_its_last_run_learned() {
    let harness = Harness::start(Setup::learning()).await;
    harness.queue_registrations(0..20);
    let searches = |requests: &[Value]| {
        (requests.iter())
            .filter(|r| r["path"] == "/api/v2/CloudAccounts/search")
            .count()
    };

    // Received for the configured 3 (two messages and their search), then the answer says a
    // twelfth of 120: a second batch of six for the seven requests left, and its search.
    let before = harness.lacework_requests().await.len();
    let report = harness.drain().await.unwrap();
    assert_eq!(report["budget"], 10, "{report}");
    assert_eq!(report["registered"], 8, "{report}");
    assert_eq!(searches(&harness.lacework_requests().await[before..]), 2);

    // The next run receives for the 10 at once: one batch, one search, nine creates.
    let before = harness.lacework_requests().await.len();
    let report = harness.drain().await.unwrap();
    assert_eq!(report["budget"], 10, "{report}");
    assert_eq!(report["registered"], 9, "{report}");
    assert_eq!(report["released"], 0, "{report}");
    assert_eq!(searches(&harness.lacework_requests().await[before..]), 1);
}

#[tokio::test]
async fn rate_limited_work_is_kept_and_done_in_a_later_run() {
    let harness = Harness::start(Setup {
        ou_rules: None,
        // The token issued at start is the window's first request.
        rate_limit: Some(RateLimit {
            requests: 4,
            per: Duration::from_secs(2),
        }),
        ..Setup::default()
    })
    .await;
    let url = harness.answers.url("answer");
    for account in [SECURITY_ACCOUNT, WORKLOAD_ACCOUNT, ROOT_ACCOUNT] {
        harness
            .publish(&request("Create", account, &url))
            .await
            .unwrap();
    }
    // The token, one search, two creates: the third create is refused.
    let report = harness.drain().await.unwrap();
    assert_eq!(report["registered"], 2, "{report}");
    assert_eq!(report["retrying"], 1, "{report}");
    assert_eq!(
        report["ended"], "Lacework is rate limiting this API key",
        "{report}"
    );
    let statuses = harness.lacework_statuses().await;
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let kept = harness.queue().messages(QUEUE);
    assert_eq!(kept.len(), 1);
    assert!(!kept[0].visible);
    // Hidden for the backoff, at least as long as Lacework asked.
    assert!(
        kept[0].hidden_for >= Some(Duration::from_secs(60)),
        "{kept:?}"
    );
    assert!(harness.queue().bodies(DLQ).is_empty());

    // The window passes, the message's visibility timeout ends, the next run does it.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    harness.queue().time_passes();
    let report = harness.drain().await.unwrap();
    assert_eq!(report["registered"], 1, "{report}");
    assert_eq!(
        harness.registrations().await,
        [
            "acme: 222233334444",
            "acme: 333344445555",
            "acme: 444455556666"
        ]
    );
    assert!(harness.queue().messages(QUEUE).is_empty());
}

#[tokio::test]
async fn work_refused_for_good_lands_in_the_dead_letter_queue_with_its_reason() {
    let harness = Harness::start(Setup::default()).await;
    // The search for the run's accounts, then the whole listing tried in its place.
    harness
        .fault(json!({"path_prefix": "/api/v2/CloudAccounts", "status": 400, "count": 2}))
        .await;
    harness
        .publish(&request(
            "Create",
            SECURITY_ACCOUNT,
            &harness.answers.url("a"),
        ))
        .await
        .unwrap();
    harness.queue().put(QUEUE, r#"{"type":"Explode"}"#);
    // Queued while ACTIVE, suspended before the drain got to it.
    harness.queue().put(
        QUEUE,
        &RegistrationWork::Register {
            account: id(SUSPENDED_ACCOUNT),
            role_arn: "arn:aws:iam::555566667777:role/lacework-ct-config-role".into(),
            cause: "test".into(),
        }
        .to_message(),
    );
    let report = harness.drain().await.unwrap();
    assert_eq!(report["deadLettered"], 3, "{report}");
    assert!(harness.queue().messages(QUEUE).is_empty());
    let dead = harness.queue().messages(DLQ);
    let reasons: Vec<&str> = dead.iter().map(|m| m.reason.as_deref().unwrap()).collect();
    assert!(reasons[0].contains("HTTP 400"), "{reasons:?}");
    assert!(reasons[0].contains("injected fault"), "{reasons:?}");
    assert!(reasons[1].contains("not registration work"), "{reasons:?}");
    assert!(reasons[2].contains("SUSPENDED"), "{reasons:?}");
    // The message is kept as it was, so it can be sent back once the cause is fixed.
    assert_eq!(work(&dead[0].body).account(), &id(SECURITY_ACCOUNT));
    assert!(harness.registrations().await.is_empty());
}

#[tokio::test]
async fn a_refused_token_is_renewed_through_the_secret_and_written_back() {
    let harness = Harness::start(Setup {
        stored_token: StoredToken::UnknownToTheApi,
        ..Setup::default()
    })
    .await;
    harness
        .publish(&request(
            "Create",
            SECURITY_ACCOUNT,
            &harness.answers.url("a"),
        ))
        .await
        .unwrap();
    assert_eq!(harness.secrets().writes(), 0);
    let before = harness.lacework_requests().await.len();
    let report = harness.drain().await.unwrap();
    assert_eq!(report["registered"], 1, "{report}");
    assert_eq!(harness.registrations().await, ["secops: 222233334444"]);
    let stored = harness.secrets().read().await.unwrap();
    assert_ne!(
        stored.token.as_ref().unwrap().value().expose(),
        "revoked-token"
    );
    assert_eq!(stored.external_id_suffix.unwrap().expose(), SUFFIX);
    assert_eq!(harness.secrets().writes(), 1);
    // The refused request, the token request and the request sent again all count.
    let requests = harness.lacework_requests().await;
    assert_eq!(requests.iter().filter(|r| r["status"] == 401).count(), 1);
    assert_eq!(
        report["laceworkRequests"],
        requests.len() - before,
        "{report}"
    );
}

#[tokio::test]
async fn unknown_events_and_a_misconfigured_function_say_what_is_wrong() {
    let harness = Harness::start(Setup::default()).await;
    let err = harness
        .handler
        .handle_payload(&json!({"hello": "world"}), Harness::deadline())
        .await
        .unwrap_err();
    assert_eq!(err.problems()[0].path, "$");
    let err = harness
        .handler
        .handle_payload(
            &json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}),
            Harness::deadline(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("$.Records[0].EventSource"), "{err}");
    assert!(err.contains("drained on a schedule"), "{err}");

    let misconfigured: Handler<TestPorts> = Handler::new(Mode::Misconfigured {
        problems: vec![Problem::new("LACEWORK_URL", "is required")],
        response_urls: ResponseUrlPolicy::with_allowed_hosts(vec![
            lwct_domain::custom_resource::AllowedHost::parse(
                harness.answers.base().trim_start_matches("http://"),
            )
            .unwrap(),
        ]),
    });
    let event = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message":
        request("Create", SECURITY_ACCOUNT, &harness.answers.url("m")).to_string()}}]});
    misconfigured
        .handle_payload(&event, Harness::deadline())
        .await
        .unwrap();
    let answer = &harness.answers.answers()[0].body;
    assert_eq!(answer["Status"], "FAILED");
    assert!(
        answer["Reason"]
            .as_str()
            .unwrap()
            .contains("LACEWORK_URL: is required")
    );
    let err = misconfigured
        .handle_payload(
            &json!({"detail-type": "Scheduled Event"}),
            Harness::deadline(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)));
}

#[tokio::test]
async fn an_empty_queue_costs_no_lacework_request_and_no_organization_read() {
    let harness = Harness::start(Setup::default()).await;
    let before = harness.lacework_requests().await.len();
    let report = harness.drain().await.unwrap();
    assert_eq!(report["ended"], "the queue is empty");
    assert_eq!(report["laceworkRequests"], 0);
    assert_eq!(harness.lacework_requests().await.len(), before);
    assert_eq!(harness.organizations().tree_reads(), 0);
}

#[tokio::test]
async fn without_the_config_capability_only_the_mapping_file_follows_the_accounts() {
    let harness = Harness::start(Setup {
        capability: "CloudTrail",
        ..Setup::default()
    })
    .await;
    harness.queue().put(
        QUEUE,
        &RegistrationWork::Remap {
            account: id(WORKLOAD_ACCOUNT),
            cause: "lifecycle:move-1".into(),
        }
        .to_message(),
    );
    let report = harness.drain().await.unwrap();
    assert_eq!(report["registered"], 1, "{report}");
    assert!(harness.registrations().await.is_empty());
    assert_eq!(
        harness.mapping().await["integration_mappings"],
        json!({"prod": {"aws_accounts": [WORKLOAD_ACCOUNT]}})
    );
    assert_eq!(harness.account_creates().await, 0);
}

#[tokio::test]
async fn without_ou_rules_a_warm_drain_lists_the_accounts_again_only_for_an_account_it_does_not_know()
 {
    let harness = Harness::start(Setup::without_ou_rules()).await;
    let url = harness.answers.url("answer");
    harness
        .publish(&request("Create", SECURITY_ACCOUNT, &url))
        .await
        .unwrap();
    harness.drain().await.unwrap();
    // Without OU rules only membership and state matter: `ListAccounts`, never the OU tree.
    let organizations = harness.organizations();
    assert_eq!(organizations.tree_reads(), 0);
    let reads = organizations.account_listings();
    assert_eq!(reads, 1);
    harness
        .publish(&request("Create", WORKLOAD_ACCOUNT, &url))
        .await
        .unwrap();
    harness.drain().await.unwrap();
    assert_eq!(
        harness.organizations().account_listings(),
        reads,
        "the accounts the first run listed serve the second"
    );
    assert_eq!(harness.registrations().await.len(), 2);

    // An account missing from the tree it holds is looked for again before being refused.
    harness.queue().put(
        QUEUE,
        &RegistrationWork::Register {
            account: id(STRANGER_ACCOUNT),
            role_arn: format!("arn:aws:iam::{STRANGER_ACCOUNT}:role/lacework-ct-config-role"),
            cause: "test".into(),
        }
        .to_message(),
    );
    let report = harness.drain().await.unwrap();
    assert_eq!(harness.organizations().account_listings(), reads + 1);
    assert_eq!(harness.organizations().tree_reads(), 0);
    assert_eq!(report["deadLettered"], 1, "{report}");
}
