//! `setup`'s own run: the custom resource's `Create` in an organization of N existing ACTIVE
//! accounts, through its real handler with Lambda's deadline (the function's timeout), until
//! it answers CloudFormation - including any invocations it hands its unfinished work on to.
//!
//! The AWS ports are the test kit's in-memory doubles, counted as the SDK adapters would call
//! AWS ([`counted`](crate::counted)); the Lacework API is the emulator; CloudFormation's
//! `ResponseURL` is a local listener. Nothing sleeps on the network, so the measured
//! milliseconds are the function's own work: [`LATENCY_PER_CALL`] per AWS call gives an
//! estimate of the run in AWS.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lacework_emulator::Emulator;
use lwct_aws::trail::Trails;
use lwct_domain::api_secret::ApiSecret;
use lwct_domain::bucket_notifications::NotificationConfiguration;
use lwct_domain::config::{FromEnv, SetupConfig};
use lwct_domain::lifecycle::AccountWork;
use lwct_domain::mapping::{
    AccountStatus, OrganizationAccount, OrganizationTree, OrganizationalUnit,
};
use lwct_domain::trail::TrailDetails;
use lwct_domain::{AccountId, Error};
use lwct_lacework::{ClientOptions, KeyTokenRequester};
use lwct_runtime::SharedPorts;
use lwct_runtime::answer::AnswerSlot;
use lwct_testkit::log_archive::InMemoryLogArchive;
use lwct_testkit::organizations::MemoryOrganizations;
use lwct_testkit::queues::MemoryQueues;
use lwct_testkit::response_url::ResponseUrlRecorder;
use lwct_testkit::secrets::MemorySecretStore;
use lwct_testkit::stack_sets::InMemoryStackSets;
use serde_json::{Value, json};
use tokio::time::Instant;

use setup::continuation::Invocations;
use setup::flow::{Ports, Setup, Timing};
use setup::handler::{Handler, Invocation, Mode};

use crate::counted::{ApiCalls, Counted};
use crate::onboarding::{
    BenchError, MANAGEMENT, RateLimitHeaders, lacework_and_answers, organization,
};

/// `setup`'s timeout (template.yaml, `SetupFunction`).
pub const LAMBDA_TIMEOUT: Duration = Duration::from_secs(900);
/// How long the stack waits for the answer (template.yaml, `LaceworkSetup.ServiceTimeout`).
pub const SERVICE_TIMEOUT: Duration = Duration::from_secs(3600);
/// The latency assumed per AWS API call for the estimate of a run in AWS.
pub const LATENCY_PER_CALL: Duration = Duration::from_millis(50);
/// More invocations than this for one request: the hand-off loops.
const MAX_INVOCATIONS: usize = 10;

const REGION: &str = "us-east-1";
const LACEWORK_ACCOUNT: &str = "acme";
const KEY_ID: &str = "BENCH_KEY";
const SECRET_KEY: &str = "_bench_secret";
const LOG_ARCHIVE: &str = "222233334444";
const AUDIT: &str = "333344445555";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:111122223333:function:lacework-ct-setup";

/// Control Tower's trail, which notifies a topic in Audit (Control Tower's default).
struct ControlTowerTrail(TrailDetails);

impl Trails for ControlTowerTrail {
    async fn get_trail(&self, name_or_arn: &str) -> Result<Option<TrailDetails>, Error> {
        let trail = &self.0;
        Ok(
            (trail.name == name_or_arn || trail.arn.as_deref() == Some(name_or_arn))
                .then(|| trail.clone()),
        )
    }
}

fn control_tower_trail() -> TrailDetails {
    TrailDetails {
        name: "aws-controltower-BaselineCloudTrail".into(),
        arn: Some(format!(
            "arn:aws:cloudtrail:{REGION}:{MANAGEMENT}:trail/aws-controltower-BaselineCloudTrail"
        )),
        s3_bucket_name: Some(format!("aws-controltower-logs-{LOG_ARCHIVE}-{REGION}")),
        s3_key_prefix: Some("o-bench0001".into()),
        sns_topic_arn: Some(format!(
            "arn:aws:sns:{REGION}:{AUDIT}:aws-controltower-AllConfigNotifications"
        )),
        kms_key_id: None,
    }
}

/// Lambda: keeps the payloads of the asynchronous invocations asked for, which the bench
/// then runs.
#[derive(Debug, Default)]
struct Lambda {
    queued: Mutex<Vec<Value>>,
}

impl Lambda {
    fn take(&self) -> Vec<Value> {
        std::mem::take(
            &mut *self
                .queued
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl Invocations for Lambda {
    async fn invoke_async(&self, _function: &str, payload: &Value) -> Result<(), Error> {
        self.queued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(payload.clone());
        Ok(())
    }
}

/// `setup`'s ports: the test kit's doubles, counted.
struct BenchSetup;

impl SharedPorts for BenchSetup {
    type Organizations = Counted<MemoryOrganizations>;
    type StackSets = Counted<InMemoryStackSets>;
    type Queues = Counted<MemoryQueues>;
    type Secrets = Counted<MemorySecretStore>;
    type Tokens = KeyTokenRequester;
}

impl Ports for BenchSetup {
    type Trails = Counted<ControlTowerTrail>;
    type Invocations = Counted<Lambda>;
    type LogArchive = Counted<InMemoryLogArchive>;
}

/// One invocation of `setup`.
#[derive(Debug, Clone)]
pub struct InvocationRun {
    /// Wall-clock time in-process, milliseconds.
    pub ms: f64,
    /// AWS calls it made.
    pub aws_calls: u64,
    /// Lacework API requests it made (token requests included).
    pub lacework_requests: u64,
    /// What the handler returned (`SUCCESS`/`FAILED` answered, or `CONTINUED`).
    pub outcome: Value,
}

impl InvocationRun {
    /// `ms` plus [`LATENCY_PER_CALL`] per AWS call.
    pub fn estimated_ms(&self) -> f64 {
        self.ms + self.aws_calls as f64 * LATENCY_PER_CALL.as_secs_f64() * 1000.0
    }
}

/// What setup's `Create` took in an organization of `accounts` ACTIVE member accounts.
#[derive(Debug, Clone)]
pub struct Measured {
    pub accounts: usize,
    pub aws_calls: BTreeMap<&'static str, u64>,
    pub invocations: Vec<InvocationRun>,
    /// Messages on the account queue, and the accounts in them.
    pub messages: usize,
    pub queued: usize,
    /// The answer CloudFormation got.
    pub status: String,
    pub reason: String,
    /// From the first invocation's start to the answer, in-process.
    pub time_to_answer_ms: f64,
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

impl Measured {
    pub fn aws_calls_total(&self) -> u64 {
        self.aws_calls.values().sum()
    }

    /// The time to answer plus [`LATENCY_PER_CALL`] per AWS call.
    pub fn estimated_time_to_answer_ms(&self) -> f64 {
        self.time_to_answer_ms
            + self.aws_calls_total() as f64 * LATENCY_PER_CALL.as_secs_f64() * 1000.0
    }

    pub fn to_json(&self) -> Value {
        let deadline_ms = LAMBDA_TIMEOUT.as_secs_f64() * 1000.0;
        let invocations: Vec<Value> = self
            .invocations
            .iter()
            .enumerate()
            .map(|(n, run)| {
                json!({
                    "invocation": n + 1,
                    "ms": round1(run.ms),
                    "aws_calls": run.aws_calls,
                    "lacework_requests": run.lacework_requests,
                    "estimated_ms": round1(run.estimated_ms()),
                    "share_of_lambda_timeout": (run.estimated_ms() / deadline_ms * 10_000.0).round() / 10_000.0,
                    "outcome": run.outcome,
                })
            })
            .collect();
        json!({
            "accounts": self.accounts,
            "status": self.status,
            "reason": self.reason,
            "aws_calls": self.aws_calls,
            "aws_calls_total": self.aws_calls_total(),
            "account_queue_messages": self.messages,
            "accounts_queued": self.queued,
            "invocations": invocations,
            "time_to_answer_ms": round1(self.time_to_answer_ms),
            "estimated_time_to_answer_ms": round1(self.estimated_time_to_answer_ms()),
            "estimate": format!(
                "measured in-process (no network) plus {} ms per AWS call; Lacework requests and the answer's PUT are not added",
                LATENCY_PER_CALL.as_millis()
            ),
            "lambda_timeout_ms": LAMBDA_TIMEOUT.as_millis() as u64,
            "service_timeout_ms": SERVICE_TIMEOUT.as_millis() as u64,
        })
    }
}

/// `accounts` ACTIVE member accounts: Log Archive and Audit under `Security`, the others
/// spread over the onboarding bench's OUs; and the management account at the root.
pub fn setup_organization(accounts: usize) -> OrganizationTree {
    let (mut tree, _) = organization(accounts.saturating_sub(2));
    tree.add_unit(OrganizationalUnit {
        id: "ou-bench-security".into(),
        name: "Security".into(),
        parent_id: tree.root_id().to_owned(),
    });
    for (id, name) in [(LOG_ARCHIVE, "Log Archive"), (AUDIT, "Audit")] {
        if let Ok(id) = AccountId::parse(id) {
            tree.add_account(OrganizationAccount {
                id,
                name: name.into(),
                parent_id: "ou-bench-security".into(),
                status: AccountStatus::Active,
            });
        }
    }
    tree
}

/// setup's configuration as the template sets it, with existing accounts monitored.
fn config(emulator: &Emulator, answers: &ResponseUrlRecorder) -> Result<SetupConfig, Error> {
    let allow = answers.base().trim_start_matches("http://").to_owned();
    SetupConfig::from_env(vec![
        ("AWS_REGION".to_owned(), REGION.to_owned()),
        ("LACEWORK_URL".to_owned(), emulator.url.clone()),
        ("LACEWORK_ACCOUNT".to_owned(), LACEWORK_ACCOUNT.to_owned()),
        (
            "LACEWORK_SECRET_ARN".to_owned(),
            format!(
                "arn:aws:secretsmanager:{REGION}:{MANAGEMENT}:secret:lacework-ct-lacework-api-AbCdEf"
            ),
        ),
        (
            "TOWER_LOG_ARCHIVE_ACCOUNT_ID".to_owned(),
            LOG_ARCHIVE.to_owned(),
        ),
        ("TOWER_AUDIT_ACCOUNT_ID".to_owned(), AUDIT.to_owned()),
        ("TOWER_CAPABILITY".to_owned(), "Both".to_owned()),
        (
            "TOWER_MONITOR_EXISTING_ACCOUNTS".to_owned(),
            "true".to_owned(),
        ),
        ("TOWER_RESPONSE_URL_ALLOW".to_owned(), allow),
    ])
}

/// The stack's `Create` request for the custom resource.
fn create_request(response_url: &str) -> Value {
    json!({
        "RequestType": "Create",
        "ServiceToken": FUNCTION_ARN,
        "ResponseURL": response_url,
        "StackId": format!("arn:aws:cloudformation:{REGION}:{MANAGEMENT}:stack/lacework-ct/6f9a1c20"),
        "RequestId": "bench-create-1",
        "LogicalResourceId": "LaceworkSetup",
        "ResourceType": "Custom::LaceworkSetup",
        "ResourceProperties": {
            "ServiceToken": FUNCTION_ARN,
            "ServiceTimeout": SERVICE_TIMEOUT.as_secs().to_string(),
        }
    })
}

/// Lacework requests the emulator saw since the last call (its log emptied).
async fn lacework_requests(emulator: &Emulator) -> Result<u64, BenchError> {
    let log: Value = reqwest::get(format!("{}/__emulator/requests", emulator.url))
        .await?
        .error_for_status()?
        .json()
        .await?;
    reqwest::Client::new()
        .delete(format!("{}/__emulator/requests", emulator.url))
        .send()
        .await?
        .error_for_status()?;
    Ok(log["requests"].as_array().map_or(0, |r| r.len() as u64))
}

/// Runs setup's `Create` in an organization of `accounts` ACTIVE member accounts, until it
/// answers, and checks it queued each of them exactly once.
pub async fn run(accounts: usize) -> Result<Measured, BenchError> {
    let (emulator, answers) = lacework_and_answers(RateLimitHeaders::NotSent).await?;
    let config = config(&emulator, &answers)?;
    let account_queue = config.installation.names.account_queue.clone();

    let tree = setup_organization(accounts);
    let management = AccountId::parse(MANAGEMENT)?;
    let expected: BTreeSet<AccountId> = tree
        .accounts()
        .filter(|a| a.status == AccountStatus::Active && a.id != management)
        .map(|a| a.id.clone())
        .collect();
    let calls = Arc::new(ApiCalls::default());
    let queues = Arc::new(MemoryQueues::new(MANAGEMENT));
    let lambda = Arc::new(Lambda::default());
    let log_archive = Arc::new(InMemoryLogArchive::new());
    if let Some(bucket) = control_tower_trail().s3_bucket_name {
        log_archive.insert_bucket(&bucket, NotificationConfiguration::default());
    }
    let setup = Arc::new(Setup::<BenchSetup> {
        organizations: Counted::new(
            Arc::new(MemoryOrganizations::new(tree, management.clone())),
            calls.clone(),
        ),
        trails: Counted::new(
            Arc::new(ControlTowerTrail(control_tower_trail())),
            calls.clone(),
        ),
        stack_sets: Counted::new(Arc::new(InMemoryStackSets::new()), calls.clone()),
        queues: Counted::new(queues.clone(), calls.clone()),
        log_archive: Counted::new(log_archive, calls.clone()),
        secrets: Arc::new(Counted::new(
            Arc::new(MemorySecretStore::new(&ApiSecret::new(KEY_ID, SECRET_KEY))),
            calls.clone(),
        )),
        tokens: Arc::new(KeyTokenRequester::new(
            emulator.url.clone(),
            ClientOptions::default(),
        )),
        invocations: Counted::new(lambda.clone(), calls.clone()),
        lacework_options: ClientOptions::default(),
        timing: Timing::default(),
        config,
    });
    let handler = Handler::new(Mode::Ready(setup), AnswerSlot::new());
    lacework_requests(&emulator).await?;

    let mut payload = create_request(&answers.url("/answers/create?X-Amz-Signature=bench"));
    let first = Instant::now();
    let mut invocations = Vec::new();
    let time_to_answer = loop {
        if invocations.len() >= MAX_INVOCATIONS {
            return Err(BenchError::Unfinished(format!(
                "no answer after {MAX_INVOCATIONS} invocations"
            )));
        }
        let before: u64 = calls.snapshot().values().sum();
        let invocation = Invocation {
            deadline: Instant::now() + LAMBDA_TIMEOUT,
            started: SystemTime::now(),
            function_arn: FUNCTION_ARN.to_owned(),
        };
        let started = Instant::now();
        let outcome = handler.handle_request(payload, &invocation).await?;
        let elapsed = started.elapsed();
        let since_first = first.elapsed();
        if elapsed > LAMBDA_TIMEOUT {
            return Err(BenchError::Unfinished(format!(
                "invocation {} ran {} ms, past Lambda's timeout",
                invocations.len() + 1,
                elapsed.as_millis()
            )));
        }
        let after: u64 = calls.snapshot().values().sum();
        invocations.push(InvocationRun {
            ms: elapsed.as_secs_f64() * 1000.0,
            aws_calls: after - before,
            lacework_requests: lacework_requests(&emulator).await?,
            outcome: outcome.clone(),
        });
        if outcome["answered"] == true {
            break since_first;
        }
        let mut handed = lambda.take();
        payload = match (handed.pop(), handed.is_empty()) {
            (Some(next), true) => next,
            _ => {
                return Err(BenchError::Unfinished(format!(
                    "invocation {} answered nothing and handed on {} invocations, not one: {outcome}",
                    invocations.len(),
                    handed.len() + 1
                )));
            }
        };
    };

    let answered = answers.answers();
    let [answer] = answered.as_slice() else {
        return Err(BenchError::Unfinished(format!(
            "{} answers to one request",
            answered.len()
        )));
    };
    let mut queued: BTreeMap<AccountId, usize> = BTreeMap::new();
    let bodies = queues.bodies(&account_queue);
    for body in &bodies {
        match serde_json::from_str::<AccountWork>(body) {
            Ok(AccountWork::OnboardAccounts { accounts, .. }) => {
                for account in accounts {
                    *queued.entry(account.id).or_default() += 1;
                }
            }
            _ => {
                return Err(BenchError::Unfinished(format!(
                    "not an onboarding message on the account queue: {body}"
                )));
            }
        }
    }
    let measured = Measured {
        accounts,
        aws_calls: calls.snapshot(),
        invocations,
        messages: bodies.len(),
        queued: queued.values().sum(),
        status: answer.status().to_owned(),
        reason: answer.reason().to_owned(),
        time_to_answer_ms: time_to_answer.as_secs_f64() * 1000.0,
    };
    if measured.status != "SUCCESS" {
        return Err(BenchError::Unfinished(format!(
            "setup answered {}: {}",
            measured.status, measured.reason
        )));
    }
    let twice = queued.values().filter(|n| **n > 1).count();
    let missing = expected.iter().filter(|a| !queued.contains_key(*a)).count();
    let extra = queued.keys().filter(|a| !expected.contains(*a)).count();
    if twice + missing + extra > 0 {
        return Err(BenchError::Unfinished(format!(
            "of {} ACTIVE member accounts, {missing} not queued, {twice} queued more than once, and {extra} others queued",
            expected.len()
        )));
    }
    Ok(measured)
}
