//! One onboarding of N existing accounts, from `setup`'s batches to the last registration,
//! with what it cost.
//!
//! 1. The account queue gets `setup`'s batches (50 accounts each); `account-lifecycle` takes
//!    them ten at a time, as its event source mapping delivers them, and creates the member
//!    stack instances.
//! 2. Each new instance's custom resource publishes its `Create` request;
//!    `sns-custom-resource` checks it, queues the registration and answers CloudFormation.
//! 3. The drain runs every five minutes of simulated time until the registration queue is
//!    empty. Between runs the emulator's clock (its rate-limit windows and token lifetimes)
//!    and the queues' visibility timeouts move on five minutes; nothing sleeps.
//!
//! The Lambda event sources' own SQS calls (receiving and deleting the account queue's
//! records) are not the functions' and are not counted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use lacework_emulator::{Emulator, Options, RateLimit};
use lwct_aws::registration_queue::RegistrationQueue;
use lwct_domain::AccountId;
use lwct_domain::api_secret::ApiSecret;
use lwct_domain::config::{FromEnv, SnsCustomResourceConfig};
use lwct_domain::external_id::ExternalIdSuffix;
use lwct_domain::lifecycle::{AccountToOnboard, AccountWork};
use lwct_domain::mapping::{
    AccountStatus, OrganizationAccount, OrganizationTree, OrganizationalUnit,
};
use lwct_domain::member_request::RESOURCE_TYPE;
use lwct_domain::naming::Names;
use lwct_domain::stack_set::{EXECUTION_ROLE_NAME, StackSetSpec};
use lwct_lacework::{KeyTokenRequester, TokenRequester};
use lwct_testkit::organizations::MemoryOrganizations;
use lwct_testkit::queues::MemoryQueues;
use lwct_testkit::response_url::ResponseUrlRecorder;
use lwct_testkit::secrets::MemorySecretStore;
use lwct_testkit::stack_sets::InMemoryStackSets;
use serde_json::{Value, json};
use tokio::time::Instant;

use account_lifecycle::handler::{Lifecycle, Settings};
use sns_custom_resource::function::{Function, drain_client_options};
use sns_custom_resource::handler::{Handler, Mode};

use crate::counted::{ApiCalls, Counted};

/// Lacework's limit per API key, as its documentation gives it.
pub const RATE_LIMIT_PER_HOUR: u32 = 480;
/// Accounts per batch `setup` queues (`setup::onboarding::ACCOUNTS_PER_MESSAGE`).
const ACCOUNTS_PER_MESSAGE: usize = 50;
/// Records per `account-lifecycle` invocation (template.yaml, `BatchSize`).
const LIFECYCLE_BATCH: u32 = 10;
/// The drain's schedule (template.yaml, `rate(5 minutes)`).
const DRAIN_EVERY: Duration = Duration::from_secs(300);
/// `sns-custom-resource`'s timeout (template.yaml).
const SNS_TIMEOUT: Duration = Duration::from_secs(120);
/// `account-lifecycle`'s timeout (template.yaml).
const LIFECYCLE_TIMEOUT_MS: u128 = 150_000;

/// The management account of the benches' organizations.
pub const MANAGEMENT: &str = "111122223333";
const REGION: &str = "us-east-1";
const LACEWORK_ACCOUNT: &str = "acme";
const KEY_ID: &str = "BENCH_KEY";
const SECRET_KEY: &str = "_bench_secret";
const SUFFIX: &str = "BenchSuffix01234";
/// Organizational units the accounts are spread over.
const UNITS: usize = 10;

/// Why a run could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Product(#[from] lwct_domain::Error),
    #[error("{0}")]
    Setup(String),
    #[error("the lacework emulator: {0}")]
    Emulator(#[from] reqwest::Error),
    /// The run ended, but not with every account onboarded.
    #[error("the onboarding did not finish: {0}")]
    Unfinished(String),
}

/// A function's invocations.
#[derive(Debug, Default, Clone, Copy)]
pub struct Invocations {
    pub count: u64,
    /// Each invocation's duration rounded up to the millisecond, as Lambda bills it.
    pub billed_ms: u64,
}

impl Invocations {
    fn add(&mut self, started: Instant) {
        self.count += 1;
        let micros = started.elapsed().as_micros();
        self.billed_ms += u64::try_from(micros.div_ceil(1000)).unwrap_or(u64::MAX);
    }

    fn to_json(self, accounts: usize) -> Value {
        json!({
            "invocations": self.count,
            "billed_ms": self.billed_ms,
            "billed_ms_per_account": per(self.billed_ms, accounts),
        })
    }
}

/// The Lacework requests of a run, by kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct LaceworkRequests {
    /// Creates, updates and deletes of integrations.
    pub writes: u64,
    /// Listings, gets and searches.
    pub reads: u64,
    /// Token requests.
    pub tokens: u64,
    /// Requests refused with 429 (counted here only, whatever their kind).
    pub rejected: u64,
    /// The emulator's time making its answers: time the drain waits, billed but not its own.
    pub answer_micros: u64,
}

impl LaceworkRequests {
    fn count(&mut self, request: &Value) {
        let method = request["method"].as_str().unwrap_or_default();
        let path = request["path"].as_str().unwrap_or_default();
        self.answer_micros += request["durationMicros"].as_u64().unwrap_or_default();
        if request["status"] == 429 {
            self.rejected += 1;
        } else if path.ends_with("/access/tokens") {
            self.tokens += 1;
        } else if method == "GET" || path.ends_with("/search") {
            self.reads += 1;
        } else {
            self.writes += 1;
        }
    }

    fn total(&self) -> u64 {
        self.writes + self.reads + self.tokens + self.rejected
    }
}

/// What onboarding `accounts` accounts took.
#[derive(Debug, Clone)]
pub struct Measured {
    pub accounts: usize,
    pub aws_calls: BTreeMap<&'static str, u64>,
    pub lacework: LaceworkRequests,
    pub lifecycle: Invocations,
    pub requests: Invocations,
    pub drain: Invocations,
    /// Drain runs until the registration queue was empty; the onboarding ends with the last.
    pub drain_runs: u64,
    /// Lacework requests a drain run may make (`TOWER_REGISTRATION_BUDGET`).
    pub registration_budget: u32,
    /// Whether the emulator said what is left of the key's limit.
    pub rate_limit_headers: RateLimitHeaders,
    /// Accounts with an `AwsCfg` integration at the end.
    pub registered: usize,
    /// Custom resources answered `SUCCESS`.
    pub answered: usize,
}

fn per(value: u64, accounts: usize) -> f64 {
    if accounts == 0 {
        return 0.0;
    }
    // Rounded to 3 decimals, enough for a table.
    (value as f64 / accounts as f64 * 1000.0).round() / 1000.0
}

impl Measured {
    /// Every `CreateStackInstances`, `UpdateStackInstances` and `DeleteStackInstances`.
    pub fn stack_set_operations(&self) -> u64 {
        self.aws_calls
            .iter()
            .filter(|(api, _)| api.ends_with("StackInstances") && !api.contains("List"))
            .map(|(_, calls)| calls)
            .sum()
    }

    pub fn aws_calls_total(&self) -> u64 {
        self.aws_calls.values().sum()
    }

    /// Simulated minutes from the first drain run to the end of the last.
    pub fn minutes_to_finish(&self) -> f64 {
        self.drain_runs as f64 * DRAIN_EVERY.as_secs_f64() / 60.0
    }

    /// The least time Lacework's rate limit allows: one write per account.
    pub fn floor_minutes(&self) -> f64 {
        self.accounts as f64 / f64::from(RATE_LIMIT_PER_HOUR) * 60.0
    }

    pub fn to_json(&self) -> Value {
        let n = self.accounts;
        let by_api: BTreeMap<&str, f64> = self
            .aws_calls
            .iter()
            .map(|(api, calls)| (*api, per(*calls, n)))
            .collect();
        let billed = self.lifecycle.billed_ms + self.requests.billed_ms + self.drain.billed_ms;
        // Lacework's own time depends on Lacework, not on the emulator standing in for it.
        let waiting_ms = self.lacework.answer_micros.div_ceil(1000);
        json!({
            "accounts": n,
            "registered": self.registered,
            "answered_success": self.answered,
            "aws_calls": self.aws_calls,
            "aws_calls_per_account": per(self.aws_calls_total(), n),
            "aws_calls_per_account_by_api": by_api,
            "stack_set_operations": self.stack_set_operations(),
            "lacework": {
                "writes": self.lacework.writes,
                "reads": self.lacework.reads,
                "tokens": self.lacework.tokens,
                "rejected_429": self.lacework.rejected,
                "writes_per_account": per(self.lacework.writes, n),
                "reads_per_account": per(self.lacework.reads, n),
                "requests_per_account": per(self.lacework.total(), n),
            },
            "lambda": {
                "account-lifecycle": self.lifecycle.to_json(n),
                "sns-custom-resource (requests)": self.requests.to_json(n),
                "sns-custom-resource (drain)": self.drain.to_json(n),
                "billed_ms_per_account": per(billed, n),
                "waiting_on_lacework_ms_per_account": per(waiting_ms, n),
                "own_billed_ms_per_account": per(billed.saturating_sub(waiting_ms), n),
            },
            "drain_runs": self.drain_runs,
            "registration_budget": self.registration_budget,
            "rate_limit_headers": self.rate_limit_headers == RateLimitHeaders::Sent,
            "minutes_to_finish": self.minutes_to_finish(),
            "floor_minutes": (self.floor_minutes() * 10.0).round() / 10.0,
            "time_over_floor": (self.minutes_to_finish() / self.floor_minutes() * 1000.0).round() / 1000.0,
        })
    }
}

/// The functions' ports: the test kit's doubles, counted.
struct BenchLifecycle;

impl account_lifecycle::handler::Ports for BenchLifecycle {
    type StackSets = Counted<InMemoryStackSets>;
    type Organizations = Counted<MemoryOrganizations>;
    type Queues = Counted<MemoryQueues>;
}

struct BenchRegistrations;

impl sns_custom_resource::function::Ports for BenchRegistrations {
    type Organizations = Counted<MemoryOrganizations>;
    type StackSets = Counted<InMemoryStackSets>;
    type Queues = Counted<MemoryQueues>;
    type Secrets = Counted<MemorySecretStore>;
    type Tokens = KeyTokenRequester;
}

/// The AWS side, shared by the functions as in one AWS account.
struct Aws {
    calls: Arc<ApiCalls>,
    organizations: Arc<MemoryOrganizations>,
    stack_sets: Arc<InMemoryStackSets>,
    queues: Arc<MemoryQueues>,
}

impl Aws {
    fn counted<T>(&self, port: &Arc<T>) -> Counted<T> {
        Counted::new(port.clone(), self.calls.clone())
    }
}

/// `accounts` ACTIVE accounts spread over [`UNITS`] OUs under the root, and the management
/// account.
pub fn organization(accounts: usize) -> (OrganizationTree, Vec<AccountToOnboard>) {
    let mut tree = OrganizationTree::new("r-bench");
    for unit in 0..UNITS {
        tree.add_unit(OrganizationalUnit {
            id: format!("ou-bench-{unit:08}"),
            name: format!("Workloads {unit}"),
            parent_id: "r-bench".into(),
        });
    }
    let mut add = |id: AccountId, name: String, parent: String| {
        tree.add_account(OrganizationAccount {
            id,
            name,
            parent_id: parent,
            status: AccountStatus::Active,
        });
    };
    if let Ok(management) = AccountId::parse(MANAGEMENT) {
        add(management, "management".into(), "r-bench".into());
    }
    let mut members = Vec::with_capacity(accounts);
    for index in 0..accounts {
        let Ok(id) = AccountId::parse(&format!("{:012}", 200_000_000_000 + index)) else {
            continue;
        };
        let name = format!("workload {index}");
        add(
            id.clone(),
            name.clone(),
            format!("ou-bench-{:08}", index % UNITS),
        );
        members.push(AccountToOnboard { id, name });
    }
    (tree, members)
}

fn member_stack_set(names: &Names) -> StackSetSpec {
    StackSetSpec {
        name: names.member_stack_set.clone(),
        description: "Lacework member account".into(),
        template_body: "{}".into(),
        parameters: BTreeMap::new(),
        administration_role_arn: format!(
            "arn:aws:iam::{MANAGEMENT}:role/service-role/AWSControlTowerStackSetRole"
        ),
        execution_role_name: EXECUTION_ROLE_NAME.into(),
        managed_execution: true,
    }
}

/// Whether the emulator reports the key's rate limit in `RateLimit-*` headers (Lacework is
/// not known to: emulator facts C49, C50), so that the drain learns its budget from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitHeaders {
    NotSent,
    Sent,
}

/// The Lacework emulator at Lacework's rate limit, and a ResponseURL recorder: what both
/// benchmarks run against.
pub async fn lacework_and_answers(
    headers: RateLimitHeaders,
) -> Result<(Emulator, ResponseUrlRecorder), BenchError> {
    let emulator = lacework_emulator::start(Options {
        account: LACEWORK_ACCOUNT.into(),
        sub_accounts: vec![LACEWORK_ACCOUNT.into()],
        key_id: KEY_ID.into(),
        secret: SECRET_KEY.into(),
        rate_limit: Some(RateLimit {
            requests: RATE_LIMIT_PER_HOUR,
            per: Duration::from_secs(3600),
        }),
        rate_limit_headers: headers == RateLimitHeaders::Sent,
        ..Options::default()
    })
    .await
    .map_err(|err| BenchError::Setup(format!("the lacework emulator did not start: {err}")))?;
    let answers = ResponseUrlRecorder::start().await.map_err(|err| {
        BenchError::Setup(format!("the ResponseURL listener did not start: {err}"))
    })?;
    Ok((emulator, answers))
}

/// Onboards `accounts` existing accounts and measures it.
pub async fn run(accounts: usize, headers: RateLimitHeaders) -> Result<Measured, BenchError> {
    let (emulator, answers) = lacework_and_answers(headers).await?;

    let names = Names::default();
    let (tree, members) = organization(accounts);
    let aws = Aws {
        calls: Arc::new(ApiCalls::default()),
        organizations: Arc::new(MemoryOrganizations::new(
            tree,
            AccountId::parse(MANAGEMENT)?,
        )),
        stack_sets: Arc::new(InMemoryStackSets::new()),
        queues: Arc::new(MemoryQueues::new(MANAGEMENT)),
    };
    aws.stack_sets.insert(member_stack_set(&names), &[]);

    let lifecycle = Lifecycle::<BenchLifecycle>::new(
        aws.counted(&aws.stack_sets),
        aws.counted(&aws.organizations),
        aws.counted(&aws.queues),
        Settings {
            region: REGION.into(),
            names: names.clone(),
            rules: Default::default(),
            member_instances: true,
        },
    );
    let (handler, registration_budget) = registrations(&emulator, &answers, &aws).await?;
    // What setup itself asked of the emulator is not the onboarding's.
    clear_requests(&emulator).await?;

    let mut measured = Measured {
        accounts,
        aws_calls: BTreeMap::new(),
        lacework: LaceworkRequests::default(),
        lifecycle: Invocations::default(),
        requests: Invocations::default(),
        drain: Invocations::default(),
        drain_runs: 0,
        registration_budget,
        rate_limit_headers: headers,
        registered: 0,
        answered: 0,
    };

    for batch in members.chunks(ACCOUNTS_PER_MESSAGE) {
        let work = AccountWork::OnboardAccounts {
            source: "setup".into(),
            accounts: batch.to_vec(),
        };
        let body = serde_json::to_string(&work)
            .map_err(|err| BenchError::Setup(format!("a setup batch: {err}")))?;
        aws.queues.put(&names.account_queue, &body);
    }
    deliver_account_queue(&lifecycle, &aws, &names, &mut measured.lifecycle).await?;

    let instances = aws
        .stack_sets
        .stack_sets()
        .get(&names.member_stack_set)
        .map(|held| held.instances.clone())
        .unwrap_or_default();
    for instance in &instances {
        let account = instance.account.as_str();
        let event = sns_delivery(&create_request(
            account,
            &answers.url(&format!("/{account}")),
        ));
        let started = Instant::now();
        handler
            .handle_payload(&event, started + SNS_TIMEOUT)
            .await?;
        measured.requests.add(started);
    }

    let schedule = schedule_event();
    // Three times the floor, and some: a run that needs more has stalled.
    let max_runs = 3 * (accounts as u64 * 60 / u64::from(RATE_LIMIT_PER_HOUR) / 5) + 50;
    while !aws.queues.messages(&names.registration_queue).is_empty() {
        if measured.drain_runs >= max_runs {
            return Err(BenchError::Unfinished(format!(
                "{} registrations still queued after {max_runs} drain runs",
                aws.queues.messages(&names.registration_queue).len()
            )));
        }
        let started = Instant::now();
        handler
            .handle_payload(&schedule, started + SNS_TIMEOUT)
            .await?;
        measured.drain.add(started);
        measured.drain_runs += 1;
        for request in take_requests(&emulator).await? {
            measured.lacework.count(&request);
        }
        emulator.advance_clock(DRAIN_EVERY);
        aws.queues.time_passes();
    }
    for request in take_requests(&emulator).await? {
        measured.lacework.count(&request);
    }

    measured.aws_calls = aws.calls.snapshot();
    measured.registered = registered(&emulator).await?;
    measured.answered = answers
        .answers()
        .iter()
        .filter(|answer| answer.status() == "SUCCESS")
        .count();
    let dead = aws
        .queues
        .messages(&names.registration_dead_letter_queue)
        .len()
        + aws.queues.messages(&names.account_dead_letter_queue).len();
    if measured.registered != accounts || measured.answered != accounts || dead > 0 {
        return Err(BenchError::Unfinished(format!(
            "{} of {accounts} accounts registered, {} answered SUCCESS, {dead} dead-lettered",
            measured.registered, measured.answered
        )));
    }
    Ok(measured)
}

/// `sns-custom-resource` as deployed (the product's default budget and client options), with
/// the secret `setup` leaves: the API key, a current token and the external id suffix.
async fn registrations(
    emulator: &Emulator,
    answers: &ResponseUrlRecorder,
    aws: &Aws,
) -> Result<(Handler<BenchRegistrations>, u32), BenchError> {
    let allow = answers.base().trim_start_matches("http://").to_owned();
    let mut vars = vec![
        ("AWS_REGION", REGION.to_owned()),
        ("LACEWORK_URL", emulator.url.clone()),
        ("LACEWORK_ACCOUNT", LACEWORK_ACCOUNT.to_owned()),
        (
            "LACEWORK_SECRET_ARN",
            format!(
                "arn:aws:secretsmanager:{REGION}:{MANAGEMENT}:secret:lacework-ct-lacework-api-AbCdEf"
            ),
        ),
        ("TOWER_RESPONSE_URL_ALLOW", allow),
        ("TOWER_CAPABILITY", "Both".to_owned()),
    ];
    // The product's default unless a run asks for another (`make bench` with it set).
    if let Ok(budget) = std::env::var("TOWER_REGISTRATION_BUDGET") {
        vars.push(("TOWER_REGISTRATION_BUDGET", budget));
    }
    let config = SnsCustomResourceConfig::from_env(vars)?;
    let budget = config.registration_budget;
    let requester = Arc::new(KeyTokenRequester::new(
        &emulator.url,
        drain_client_options(),
    ));
    let token = requester
        .request_token(&ApiSecret::new(KEY_ID, SECRET_KEY).credentials())
        .await?;
    let secret = ApiSecret {
        external_id_suffix: Some(ExternalIdSuffix::parse(SUFFIX)?),
        ..ApiSecret::new(KEY_ID, SECRET_KEY).with_token(token)
    };
    let secrets = Arc::new(Counted::new(
        Arc::new(MemorySecretStore::new(&secret)),
        aws.calls.clone(),
    ));
    let function = Function::<BenchRegistrations>::new(
        config,
        aws.counted(&aws.organizations),
        aws.counted(&aws.stack_sets),
        aws.counted(&aws.queues),
        secrets,
        requester,
    )?;
    Ok((Handler::new(Mode::Ready(Arc::new(function))), budget))
}

/// Lambda's SQS event source over the account queue: batches of up to ten records until the
/// queue is empty; records the handler did not report failed are deleted, the others come
/// back when their visibility timeout ends (at once here).
async fn deliver_account_queue(
    lifecycle: &Lifecycle<BenchLifecycle>,
    aws: &Aws,
    names: &Names,
    invocations: &mut Invocations,
) -> Result<(), BenchError> {
    let url = format!(
        "https://sqs.{REGION}.amazonaws.com/{MANAGEMENT}/{}",
        names.account_queue
    );
    let mut rounds = 0;
    while !aws.queues.messages(&names.account_queue).is_empty() {
        rounds += 1;
        if rounds > 1000 {
            return Err(BenchError::Unfinished(
                "account-lifecycle keeps handing its records back".into(),
            ));
        }
        let received = aws
            .queues
            .receive(&url, LIFECYCLE_BATCH, Duration::from_secs(900))
            .await?;
        if received.is_empty() {
            aws.queues.time_passes();
            continue;
        }
        let records: Vec<Value> = received
            .iter()
            .map(|message| {
                json!({
                    "messageId": message.message_id,
                    "receiptHandle": message.receipt_handle,
                    "body": message.body,
                    "attributes": {"ApproximateReceiveCount": message.receive_count.to_string()},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": format!("arn:aws:sqs:{REGION}:{MANAGEMENT}:{}", names.account_queue),
                    "awsRegion": REGION,
                })
            })
            .collect();
        let event: SqsEvent = serde_json::from_value(json!({ "Records": records }))
            .map_err(|err| BenchError::Setup(format!("an SQS event: {err}")))?;
        let started = Instant::now();
        let response = lifecycle.handle(event).await;
        if started.elapsed().as_millis() > LIFECYCLE_TIMEOUT_MS {
            return Err(BenchError::Unfinished(
                "an account-lifecycle invocation outlived its timeout".into(),
            ));
        }
        invocations.add(started);
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|failure| failure.item_identifier.as_str())
            .collect();
        for message in &received {
            if !failed.contains(&message.message_id.as_str()) {
                aws.queues.delete(&url, &message.receipt_handle).await?;
            }
        }
    }
    Ok(())
}

/// The `Create` request a member stack's custom resource sends for `account`.
fn create_request(account: &str, response_url: &str) -> Value {
    json!({
        "RequestType": "Create",
        "ResponseURL": response_url,
        "StackId": format!("arn:aws:cloudformation:{REGION}:{account}:stack/StackSet-lacework-ct-member-0001/11112222-3333"),
        "RequestId": format!("create-{account}"),
        "LogicalResourceId": "AccountRegistration",
        "ResourceType": RESOURCE_TYPE,
        "ResourceProperties": {
            "ServiceToken": format!("arn:aws:sns:{REGION}:{MANAGEMENT}:lacework-ct-registration-topic"),
            "AccountId": account,
            "RoleArn": format!("arn:aws:iam::{account}:role/lacework-ct-config-role"),
            "ExternalId": format!("lweid:aws:v2:{LACEWORK_ACCOUNT}:{account}:{SUFFIX}"),
        }
    })
}

/// `request` as SNS delivers it to the function.
fn sns_delivery(request: &Value) -> Value {
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": format!("arn:aws:sns:{REGION}:{MANAGEMENT}:lacework-ct-registration-topic:sub"),
        "Sns": {
            "Type": "Notification",
            "MessageId": "m-1",
            "TopicArn": format!("arn:aws:sns:{REGION}:{MANAGEMENT}:lacework-ct-registration-topic"),
            "Subject": "AWS CloudFormation custom resource request",
            "Message": request.to_string(),
            "Timestamp": "2026-12-07T12:00:00.000Z",
        }
    }]})
}

/// The drain schedule's event.
fn schedule_event() -> Value {
    json!({
        "version": "0",
        "id": "bench",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": MANAGEMENT,
        "time": "2026-12-07T12:00:00Z",
        "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:{MANAGEMENT}:rule/lacework-ct-registration-drain")],
        "detail": {}
    })
}

/// The emulator's request log since the last call, emptied.
async fn take_requests(emulator: &Emulator) -> Result<Vec<Value>, BenchError> {
    let log: Value = reqwest::get(format!("{}/__emulator/requests", emulator.url))
        .await?
        .error_for_status()?
        .json()
        .await?;
    clear_requests(emulator).await?;
    Ok(log["requests"].as_array().cloned().unwrap_or_default())
}

async fn clear_requests(emulator: &Emulator) -> Result<(), BenchError> {
    reqwest::Client::new()
        .delete(format!("{}/__emulator/requests", emulator.url))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// Accounts with an `AwsCfg` integration, in any scope.
async fn registered(emulator: &Emulator) -> Result<usize, BenchError> {
    let state: Value = reqwest::get(format!("{}/__emulator/state", emulator.url))
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut accounts = std::collections::BTreeSet::new();
    for records in state["integrations"]
        .as_object()
        .into_iter()
        .flat_map(|o| o.values())
    {
        for record in records.as_array().into_iter().flatten() {
            if record["type"] == "AwsCfg" {
                if let Some(account) = record["data"]["awsAccountId"].as_str() {
                    accounts.insert(account.to_owned());
                }
            }
        }
    }
    Ok(accounts.len())
}

/// This process's peak resident memory (`VmHWM`), in KiB; 0 where /proc is not there.
pub fn peak_memory_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
