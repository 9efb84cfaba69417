//! Contract tests: the Lacework client against the Lacework emulator, in process.
//!
//! Each test starts its own emulator on a free port and checks what the client did through
//! the emulator's request log (`/__emulator/requests`) and state (`/__emulator/state`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lacework_emulator::{Emulator, Options, RateLimit};
use lwct_domain::AccountId;
use lwct_domain::error::{Error, LaceworkErrorKind};
use lwct_domain::lacework::{
    AwsCfgData, AwsCtSqsData, CloudAccount, CloudAccountSpec, Credentials, CrossAccountCredentials,
    Scope, SubAccount, Token,
};
use lwct_domain::mapping::AccountMapping;
use lwct_lacework::{
    Client, ClientOptions, Filter, KeyTokenSource, Outcome, RetryPolicy, SearchRequest,
    StaticTokenSource, TokenFuture, TokenSource,
};
use serde::Deserialize;
use serde_json::{Value, json};

const KEY_ID: &str = "ACME_0123456789ABCDEF";
const SECRET: &str = "_0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const SUFFIX: &str = "Zx9Qw8Er7Ty6";

/// Retries with tiny waits, so that every retry test finishes in milliseconds.
fn fast() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(20),
        },
    }
}

fn emulator_options() -> Options {
    Options {
        account: "acme".into(),
        sub_accounts: vec!["prod".into(), "dev".into()],
        key_id: KEY_ID.into(),
        secret: SECRET.into(),
        ..Options::default()
    }
}

struct Harness {
    emulator: Emulator,
    client: Client,
    http: reqwest::Client,
}

async fn harness_with(options: Options, client_options: ClientOptions) -> Harness {
    let emulator = lacework_emulator::start(options)
        .await
        .expect("emulator starts");
    let client = Client::with_keys(&emulator.url, credentials(), &client_options)
        .expect("client for the emulator");
    Harness {
        emulator,
        client,
        http: reqwest::Client::new(),
    }
}

async fn harness() -> Harness {
    harness_with(emulator_options(), fast()).await
}

fn credentials() -> Credentials {
    Credentials::new(KEY_ID, SECRET)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Logged {
    method: String,
    path: String,
    account_name: Option<String>,
    org_access: Option<String>,
    status: u16,
    fault: bool,
}

impl Harness {
    async fn requests(&self) -> Vec<Logged> {
        let body: Value = self
            .http
            .get(format!("{}/__emulator/requests", self.emulator.url))
            .send()
            .await
            .expect("request log")
            .json()
            .await
            .expect("request log JSON");
        serde_json::from_value(body["requests"].clone()).expect("request log shape")
    }

    /// Requests whose path starts with `prefix` (method and status only).
    async fn calls(&self, prefix: &str) -> Vec<(String, u16)> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .map(|r| (r.method, r.status))
            .collect()
    }

    async fn state(&self) -> Value {
        self.http
            .get(format!("{}/__emulator/state", self.emulator.url))
            .send()
            .await
            .expect("state")
            .json()
            .await
            .expect("state JSON")
    }

    async fn fault(&self, path_prefix: &str, status: u16, count: u32) {
        self.fault_with(json!({"path_prefix": path_prefix, "status": status, "count": count}))
            .await;
    }

    async fn fault_with(&self, fault: Value) {
        let response = self
            .http
            .post(format!("{}/__emulator/faults", self.emulator.url))
            .json(&fault)
            .send()
            .await
            .expect("fault injection");
        assert_eq!(response.status().as_u16(), 201, "fault {fault} accepted");
    }
}

fn prod() -> Scope {
    // Upper case on purpose: the client must send it in lower case.
    Scope::Account(SubAccount::new("PROD").expect("sub-account name"))
}

fn account(id: &str) -> AccountId {
    AccountId::parse(id).expect("account id")
}

fn external_id(account: &str) -> String {
    format!("lweid:aws:v2:acme:{account}:{SUFFIX}")
}

fn cfg(account_id: &str) -> AwsCfgData {
    AwsCfgData {
        cross_account_credentials: CrossAccountCredentials::new(
            format!("arn:aws:iam::{account_id}:role/acme-lacework-cfg"),
            external_id(account_id),
        ),
        aws_account_id: Some(account(account_id)),
    }
}

fn ct_sqs(mapping: Option<&AccountMapping>) -> AwsCtSqsData {
    let mut data = AwsCtSqsData {
        cross_account_credentials: CrossAccountCredentials::new(
            "arn:aws:iam::111111111111:role/acme-lacework-ct",
            external_id("111111111111"),
        ),
        queue_url: "https://sqs.us-east-1.amazonaws.com/222222222222/acme-lacework-ct".into(),
        aws_account_id: None,
        account_mapping_file: None,
    };
    if let Some(mapping) = mapping {
        data.set_account_mapping(mapping);
    }
    data
}

fn kind_of(error: &Error) -> LaceworkErrorKind {
    match error {
        Error::Lacework { kind, .. } => *kind,
        other => panic!("not a Lacework error: {other:?}"),
    }
}

#[tokio::test]
async fn token_and_every_cloud_accounts_endpoint() {
    let h = harness().await;
    let scope = prod();

    let created = h
        .client
        .create(
            &scope,
            &CloudAccountSpec::new("acme-333333333333", cfg("333333333333")),
        )
        .await
        .expect("create AwsCfg");
    assert_eq!(created.kind, "AwsCfg");
    assert_eq!(created.name, "acme-333333333333");
    assert!(created.enabled);
    assert!(!created.is_org);
    assert_eq!(created.data, cfg("333333333333"));

    let trail = h
        .client
        .create(&scope, &CloudAccountSpec::new("acme-trail", ct_sqs(None)))
        .await
        .expect("create AwsCtSqs");

    let fetched = h
        .client
        .get::<AwsCfgData>(&scope, &created.intg_guid)
        .await
        .expect("get");
    assert_eq!(fetched.intg_guid, created.intg_guid);
    assert_eq!(fetched.data, created.data);

    let wrong_type = h
        .client
        .get::<AwsCtSqsData>(&scope, &created.intg_guid)
        .await
        .expect_err("an AwsCfg is not an AwsCtSqs");
    assert_eq!(kind_of(&wrong_type), LaceworkErrorKind::Decode);
    assert!(wrong_type.to_string().contains("$.type"), "{wrong_type}");

    let any = h
        .client
        .get_any(&scope, &trail.intg_guid)
        .await
        .expect("get any type");
    assert_eq!(any.kind, "AwsCtSqs");
    assert_eq!(
        any.typed::<AwsCtSqsData>().expect("typed").data,
        ct_sqs(None)
    );

    let all = h.client.list(&scope).await.expect("list");
    assert_eq!(all.len(), 2);
    let cfgs = h
        .client
        .list_by_type::<AwsCfgData>(&scope)
        .await
        .expect("list by type");
    assert_eq!(cfgs.len(), 1);
    assert_eq!(cfgs[0].intg_guid, created.intg_guid);
    // Another sub-account sees none of them.
    let dev = Scope::Account(SubAccount::new("dev").expect("name"));
    assert!(h.client.list(&dev).await.expect("list dev").is_empty());

    let mut changed = CloudAccountSpec::new("acme-333333333333-renamed", cfg("333333333333"));
    changed.enabled = false;
    changed.data.cross_account_credentials.role_arn =
        "arn:aws:iam::333333333333:role/acme-lacework-cfg-2".into();
    let updated = h
        .client
        .update(&scope, &created.intg_guid, &changed)
        .await
        .expect("update");
    assert_eq!(updated.name, "acme-333333333333-renamed");
    assert!(!updated.enabled);
    assert!(updated.matches(&changed));

    let found: Vec<CloudAccount> = h
        .client
        .search(
            &scope,
            &SearchRequest::new(vec![Filter::eq("data.awsAccountId", "333333333333")]),
        )
        .await
        .expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].intg_guid, created.intg_guid);

    h.client
        .delete(&scope, &created.intg_guid)
        .await
        .expect("delete");
    let gone = h
        .client
        .get::<AwsCfgData>(&scope, &created.intg_guid)
        .await
        .expect_err("deleted");
    assert_eq!(kind_of(&gone), LaceworkErrorKind::NotFound);
    assert!(
        !h.client
            .delete_if_exists(&scope, &created.intg_guid)
            .await
            .expect("second delete is not an error")
    );

    let log = h.requests().await;
    let tokens: Vec<_> = log
        .iter()
        .filter(|r| r.path == "/api/v2/access/tokens")
        .collect();
    assert_eq!(tokens.len(), 1, "one token serves every call: {log:?}");
    assert_eq!(tokens[0].status, 201);
    let api_calls: Vec<&Logged> = log
        .iter()
        .filter(|r| r.path.starts_with("/api/v2/CloudAccounts"))
        .collect();
    for call in &api_calls {
        assert_eq!(call.org_access, None, "{call:?}");
        assert!(!call.fault, "{call:?}");
    }
    let names: Vec<Option<&str>> = api_calls
        .iter()
        .map(|r| r.account_name.as_deref())
        .collect();
    assert_eq!(
        names.iter().filter(|name| **name == Some("dev")).count(),
        1,
        "only the dev listing goes to dev: {names:?}"
    );
    assert!(
        names
            .iter()
            .all(|name| matches!(name, Some("prod") | Some("dev"))),
        "sub-account names are sent in lower case: {names:?}"
    );
    let methods: Vec<&str> = log.iter().map(|r| r.method.as_str()).collect();
    for method in ["POST", "GET", "PATCH", "DELETE"] {
        assert!(methods.contains(&method), "{method} in {methods:?}");
    }
}

#[tokio::test]
async fn search_follows_every_page() {
    let h = harness_with(
        Options {
            page_size: 2,
            ..emulator_options()
        },
        fast(),
    )
    .await;
    let scope = prod();
    let ids: Vec<String> = (0..7)
        .map(|n| format!("{:012}", 400_000_000_000u64 + n))
        .collect();
    for id in &ids {
        h.client
            .create(
                &scope,
                &CloudAccountSpec::new(format!("acme-{id}"), cfg(id)),
            )
            .await
            .expect("create");
    }

    let everything: Vec<CloudAccount> = h
        .client
        .search(
            &scope,
            &SearchRequest::new(vec![Filter::eq("type", "AwsCfg")]),
        )
        .await
        .expect("search every page");
    let mut names: Vec<String> = everything.into_iter().map(|r| r.name).collect();
    names.sort();
    let expected: Vec<String> = ids.iter().map(|id| format!("acme-{id}")).collect();
    assert_eq!(names, expected);
    assert_eq!(
        h.calls("/api/v2/CloudAccounts/search").await,
        [("POST".to_string(), 200)],
        "one search"
    );
    assert_eq!(
        h.calls("/api/v2/NextPage/").await,
        [
            ("GET".to_string(), 200),
            ("GET".to_string(), 200),
            ("GET".to_string(), 200)
        ],
        "three further pages for 7 rows of 2, at the Go SDK's NextPage path"
    );

    // `returns`: rows with only the fields asked for, read into a small type.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct NameOnly {
        intg_guid: String,
        name: String,
    }
    let some: Vec<NameOnly> = h
        .client
        .search(
            &scope,
            &SearchRequest::new(vec![Filter::any_of(
                "data.awsAccountId",
                [ids[1].as_str(), ids[4].as_str(), ids[6].as_str()],
            )])
            .returning(["intgGuid", "name"]),
        )
        .await
        .expect("search with returns");
    assert_eq!(some.len(), 3);
    assert!(some.iter().all(|row| !row.intg_guid.is_empty()));
    assert!(
        some.iter()
            .any(|row| row.name == format!("acme-{}", ids[4]))
    );
}

#[tokio::test]
async fn refused_token_is_renewed_once_and_the_call_succeeds() {
    let h = harness().await;
    let scope = prod();
    h.client
        .list(&scope)
        .await
        .expect("first call gets a token");
    h.fault("/api/v2/CloudAccounts", 401, 1).await;

    h.client.list(&scope).await.expect("renewed after 401");

    let tokens = h.calls("/api/v2/access/tokens").await;
    assert_eq!(tokens.len(), 2, "first token and one renewal: {tokens:?}");
    let lists = h.calls("/api/v2/CloudAccounts").await;
    assert_eq!(
        lists,
        [
            ("GET".to_string(), 200),
            ("GET".to_string(), 401),
            ("GET".to_string(), 200)
        ]
    );

    // A second refusal right after the renewal is not renewed again.
    h.fault("/api/v2/CloudAccounts", 401, 2).await;
    let error = h.client.list(&scope).await.expect_err("401 twice");
    assert_eq!(kind_of(&error), LaceworkErrorKind::Unauthorized);
    assert_eq!(h.calls("/api/v2/access/tokens").await.len(), 3);
    assert_eq!(h.calls("/api/v2/CloudAccounts").await.len(), 5);
}

/// A token source that first hands out a token the API has already let expire, like a
/// Secrets Manager copy that went stale; it renews with the API key.
struct StaleFirst {
    stale: Token,
    keys: KeyTokenSource,
}

impl TokenSource for StaleFirst {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(async move { Ok(self.stale.clone()) })
    }

    fn renew<'a>(&'a self, rejected: &'a Token) -> TokenFuture<'a> {
        Box::pin(async move {
            assert_eq!(rejected, &self.stale, "the refused token is passed back");
            self.keys.request_token().await
        })
    }
}

#[tokio::test]
async fn expired_token_gets_401_and_a_pluggable_source_renews_it() {
    let emulator = lacework_emulator::start(Options {
        token_ttl: Duration::from_secs(1),
        ..emulator_options()
    })
    .await
    .expect("emulator");
    let keys = KeyTokenSource::new(&emulator.url, credentials(), &fast()).expect("token source");
    let stale = keys.request_token().await.expect("token");
    assert!(stale.expires_at() <= time::OffsetDateTime::now_utc() + time::Duration::seconds(2));
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let client =
        Client::new(&emulator.url, Arc::new(StaleFirst { stale, keys }), &fast()).expect("client");
    let records = client.list(&prod()).await.expect("renewed after expiry");
    assert!(records.is_empty());

    let h = Harness {
        emulator,
        client,
        http: reqwest::Client::new(),
    };
    assert_eq!(
        h.calls("/api/v2/CloudAccounts").await,
        [("GET".to_string(), 401), ("GET".to_string(), 200)]
    );
}

#[tokio::test]
async fn a_token_that_cannot_be_renewed_is_an_unauthorized_error() {
    let h = harness().await;
    let token = Token::new(
        "_not-a-token-the-emulator-issued",
        time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    );
    let client = Client::new(
        &h.emulator.url,
        Arc::new(StaticTokenSource::new(token)),
        &fast(),
    )
    .expect("client");
    let error = client.list(&prod()).await.expect_err("unknown token");
    assert_eq!(kind_of(&error), LaceworkErrorKind::Unauthorized);
    assert!(!error.to_string().contains("_not-a-token"), "{error}");
    assert_eq!(
        h.calls("/api/v2/CloudAccounts").await.len(),
        1,
        "401 is not retried"
    );
}

#[tokio::test]
async fn wrong_secret_key_is_unauthorized_and_not_retried() {
    let emulator = lacework_emulator::start(emulator_options())
        .await
        .expect("emulator");
    let client = Client::with_keys(
        &emulator.url,
        Credentials::new(KEY_ID, "_wrong_secret_value"),
        &fast(),
    )
    .expect("client");
    let error = client.list(&prod()).await.expect_err("bad key");
    assert_eq!(kind_of(&error), LaceworkErrorKind::Unauthorized);
    assert!(
        error.to_string().contains("/api/v2/access/tokens"),
        "{error}"
    );
    assert!(
        !error.to_string().contains("_wrong_secret_value"),
        "{error}"
    );
    let h = Harness {
        emulator,
        client,
        http: reqwest::Client::new(),
    };
    assert_eq!(h.calls("/api/v2/access/tokens").await.len(), 1);
    assert!(h.calls("/api/v2/CloudAccounts").await.is_empty());
}

#[tokio::test]
async fn rate_limited_call_backs_off_and_succeeds() {
    // `Retry-After: 1` (the emulator's) is within this client's longest wait: it waits.
    let patient = ClientOptions {
        retry: RetryPolicy {
            max_delay: Duration::from_secs(1),
            ..fast().retry
        },
        ..fast()
    };
    let h = harness_with(emulator_options(), patient).await;
    let scope = prod();
    h.client.list(&scope).await.expect("token and first call");
    h.fault("/api/v2/CloudAccounts", 429, 2).await;

    h.client
        .list(&scope)
        .await
        .expect("succeeds after two 429s");
    assert_eq!(
        h.calls("/api/v2/CloudAccounts").await,
        [
            ("GET".to_string(), 200),
            ("GET".to_string(), 429),
            ("GET".to_string(), 429),
            ("GET".to_string(), 200)
        ]
    );
}

#[tokio::test]
async fn a_rate_limit_longer_than_the_longest_wait_ends_the_call_at_once() {
    // `fast()` waits at most 20 ms; the emulator asks for 1 s. Retrying sooner would only
    // spend more of the rate budget: the call stops with the asked wait, for a requeue.
    let h = harness().await;
    let scope = prod();
    h.client.list(&scope).await.expect("token and first call");
    h.fault("/api/v2/CloudAccounts", 429, 100).await;
    let error = h.client.list(&scope).await.expect_err("always 429");
    assert_eq!(kind_of(&error), LaceworkErrorKind::RateLimited);
    assert!(error.is_retryable());
    match &error {
        Error::Lacework { retry_after, .. } => assert_eq!(*retry_after, Some(1)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.calls("/api/v2/CloudAccounts").await,
        [("GET".to_string(), 200), ("GET".to_string(), 429)],
        "one attempt, not max_attempts"
    );
}

#[tokio::test]
async fn real_rate_limit_is_waited_out_as_retry_after_asks() {
    let h = harness_with(
        Options {
            rate_limit: Some(RateLimit {
                requests: 2,
                per: Duration::from_secs(1),
            }),
            ..emulator_options()
        },
        ClientOptions {
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_secs(3),
            },
            ..fast()
        },
    )
    .await;
    let scope = prod();
    // The token request and this call use the window's two requests.
    h.client.list(&scope).await.expect("within the limit");
    let started = Instant::now();
    h.client.list(&scope).await.expect("after waiting");
    let waited = started.elapsed();

    let lists = h.calls("/api/v2/CloudAccounts").await;
    assert_eq!(
        lists,
        [
            ("GET".to_string(), 200),
            ("GET".to_string(), 429),
            ("GET".to_string(), 200)
        ]
    );
    // The emulator says `Retry-After: 1`; a 1 ms backoff alone would have been refused again.
    assert!(waited >= Duration::from_millis(950), "waited {waited:?}");
}

#[tokio::test]
async fn server_errors_are_retried_until_success_or_the_attempt_limit() {
    let h = harness().await;
    let scope = prod();
    h.fault("/api/v2/CloudAccounts", 500, 2).await;
    h.client.list(&scope).await.expect("third attempt succeeds");
    assert_eq!(
        h.calls("/api/v2/CloudAccounts").await,
        [
            ("GET".to_string(), 500),
            ("GET".to_string(), 500),
            ("GET".to_string(), 200)
        ]
    );

    h.fault("/api/v2/CloudAccounts", 503, 10).await;
    let error = h.client.list(&scope).await.expect_err("503 every time");
    assert_eq!(kind_of(&error), LaceworkErrorKind::Server);
    assert_eq!(
        h.calls("/api/v2/CloudAccounts").await.len(),
        3 + 4,
        "exactly max_attempts tries"
    );

    // The token request is retried the same way.
    let fresh = harness().await;
    fresh.fault("/api/v2/access/tokens", 502, 1).await;
    fresh.client.list(&scope).await.expect("token after a 502");
    assert_eq!(
        fresh.calls("/api/v2/access/tokens").await,
        [("POST".to_string(), 502), ("POST".to_string(), 201)]
    );
}

#[tokio::test]
async fn slow_answers_time_out_and_are_retried() {
    let h = harness_with(
        emulator_options(),
        ClientOptions {
            request_timeout: Duration::from_millis(150),
            ..fast()
        },
    )
    .await;
    let scope = prod();
    h.client.list(&scope).await.expect("token");
    h.fault_with(json!({"path_prefix": "/api/v2/CloudAccounts", "delay_ms": 400, "count": 1}))
        .await;
    h.client
        .list(&scope)
        .await
        .expect("second attempt is quick");

    let once = Client::with_keys(
        &h.emulator.url,
        credentials(),
        &ClientOptions {
            request_timeout: Duration::from_millis(150),
            retry: RetryPolicy {
                max_attempts: 1,
                ..fast().retry
            },
            ..fast()
        },
    )
    .expect("client");
    once.list(&scope).await.expect("token");
    h.fault_with(json!({"path_prefix": "/api/v2/CloudAccounts", "delay_ms": 400, "count": 1}))
        .await;
    let error = once.list(&scope).await.expect_err("times out");
    assert_eq!(kind_of(&error), LaceworkErrorKind::Timeout);
    assert!(error.is_retryable());
}

#[tokio::test]
async fn connection_failures_are_transport_errors() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let client = Client::with_keys(&format!("http://127.0.0.1:{port}"), credentials(), &fast())
        .expect("client");
    let error = client.list(&prod()).await.expect_err("refused");
    assert_eq!(kind_of(&error), LaceworkErrorKind::Transport);
    assert!(error.is_retryable());
    assert!(!error.to_string().contains(SECRET), "{error}");
}

#[tokio::test]
async fn permanent_client_errors_are_not_retried() {
    let h = harness().await;
    let scope = prod();

    let mut bad = cfg("555555555555");
    bad.cross_account_credentials.role_arn = "not-an-arn".into();
    let error = h
        .client
        .create(&scope, &CloudAccountSpec::new("acme-bad", bad))
        .await
        .expect_err("bad role ARN");
    assert_eq!(kind_of(&error), LaceworkErrorKind::BadRequest);
    assert!(error.to_string().contains("roleArn"), "{error}");
    assert_eq!(
        h.calls("/api/v2/CloudAccounts").await,
        [("POST".to_string(), 400)]
    );

    let missing = format!("ACME_{}", "0".repeat(47));
    let error = h
        .client
        .get::<AwsCfgData>(&scope, &missing)
        .await
        .expect_err("no such integration");
    assert_eq!(kind_of(&error), LaceworkErrorKind::NotFound);
    assert_eq!(h.calls("/api/v2/CloudAccounts").await.len(), 2);

    let stranger = Scope::Account(SubAccount::new("not-ours").expect("name"));
    let error = h
        .client
        .list(&stranger)
        .await
        .expect_err("unknown sub-account");
    assert_eq!(kind_of(&error), LaceworkErrorKind::Forbidden);
    assert!(!error.is_retryable());
    assert_eq!(h.calls("/api/v2/CloudAccounts").await.len(), 3);
    assert_eq!(
        h.calls("/api/v2/access/tokens").await.len(),
        1,
        "403 does not re-token"
    );

    // An injected permanent error is answered once too.
    h.fault("/api/v2/CloudAccounts", 409, 5).await;
    let error = h.client.list(&scope).await.expect_err("conflict");
    assert_eq!(kind_of(&error), LaceworkErrorKind::Conflict);
    assert_eq!(h.calls("/api/v2/CloudAccounts").await.len(), 4);
}

#[tokio::test]
async fn registering_over_a_listing_costs_one_request_per_change_and_none_otherwise() {
    let h = harness().await;
    let scope = prod();
    // Made earlier by hand, under another name.
    h.client
        .create(
            &scope,
            &CloudAccountSpec::new("hand-made", cfg("777777777777")),
        )
        .await
        .expect("hand-made integration");
    let mut listing = h
        .client
        .listing::<AwsCfgData>(&scope)
        .await
        .expect("listing");
    assert_eq!(listing.records().count(), 1);
    let before = h.calls("/api/v2/CloudAccounts").await.len();

    let new = CloudAccountSpec::new("acme-666666666666", cfg("666666666666"));
    let created = h
        .client
        .register_listed(&scope, &new, &mut listing)
        .await
        .expect("new account");
    assert_eq!(created.outcome, Outcome::Created);
    let again = h
        .client
        .register_listed(&scope, &new, &mut listing)
        .await
        .expect("same again");
    assert_eq!(again.outcome, Outcome::Unchanged);
    // The hand-made integration of 777777777777 is found by its AWS account and renamed.
    let adopted = h
        .client
        .register_listed(
            &scope,
            &CloudAccountSpec::new("acme-777777777777", cfg("777777777777")),
            &mut listing,
        )
        .await
        .expect("adopted");
    assert_eq!(adopted.outcome, Outcome::Updated);
    assert_eq!(adopted.record.name, "acme-777777777777");
    let removed = h
        .client
        .deregister_listed(&scope, &account("666666666666"), &mut listing)
        .await
        .expect("deregistered");
    assert_eq!(removed, 1);
    let none = h
        .client
        .deregister_listed(&scope, &account("666666666666"), &mut listing)
        .await
        .expect("deregistered again");
    assert_eq!(none, 0);

    let calls: Vec<String> = h.calls("/api/v2/CloudAccounts").await[before..]
        .iter()
        .map(|(method, status)| format!("{method} {status}"))
        .collect();
    assert_eq!(calls, ["POST 201", "PATCH 200", "DELETE 204"]);
    assert_eq!(listing.records().count(), 1);
}

#[tokio::test]
async fn registration_is_idempotent_and_reconciles_duplicates() {
    let h = harness().await;
    let scope = prod();
    let spec = CloudAccountSpec::new("acme-666666666666", cfg("666666666666"));

    let first = h
        .client
        .register_or_reconcile(&scope, &spec)
        .await
        .expect("first registration");
    assert_eq!(first.outcome, Outcome::Created);
    let again = h
        .client
        .register_or_reconcile(&scope, &spec)
        .await
        .expect("second registration");
    assert_eq!(again.outcome, Outcome::Unchanged);
    assert_eq!(again.record.intg_guid, first.record.intg_guid);
    let posts = h
        .calls("/api/v2/CloudAccounts")
        .await
        .into_iter()
        .filter(|(method, _)| method == "POST")
        .count();
    assert_eq!(posts, 1, "the second registration creates nothing");

    // A plain create of the same AWS account is refused as a conflict ...
    let other_name = CloudAccountSpec::new("hand-made-666666666666", cfg("666666666666"));
    let error = h
        .client
        .create(&scope, &other_name)
        .await
        .expect_err("aws account is already used");
    assert_eq!(kind_of(&error), LaceworkErrorKind::Conflict);
    assert!(!error.is_retryable());

    // ... and registration under another name finds that integration and reconciles it.
    let reconciled = h
        .client
        .register_or_reconcile(&scope, &other_name)
        .await
        .expect("registration under another name");
    assert_eq!(reconciled.outcome, Outcome::Updated);
    assert_eq!(reconciled.record.intg_guid, first.record.intg_guid);
    assert_eq!(reconciled.record.name, "hand-made-666666666666");
    let settled = h
        .client
        .register_or_reconcile(&scope, &other_name)
        .await
        .expect("and once more");
    assert_eq!(settled.outcome, Outcome::Unchanged);

    // A changed role is reconciled in place.
    let mut moved_role = other_name.clone();
    moved_role.data.cross_account_credentials.role_arn =
        "arn:aws:iam::666666666666:role/acme-lacework-cfg-v2".into();
    let updated = h
        .client
        .register_or_reconcile(&scope, &moved_role)
        .await
        .expect("role change");
    assert_eq!(updated.outcome, Outcome::Updated);

    let state = h.state().await;
    let held = state["integrations"]
        .as_object()
        .expect("integrations by scope")
        .values()
        .flat_map(|records| records.as_array().cloned().unwrap_or_default())
        .filter(|record| record["data"]["awsAccountId"] == "666666666666")
        .count();
    assert_eq!(held, 1, "still one integration for the account: {state}");

    let by_account = h
        .client
        .find_by_aws_account::<AwsCfgData>(&scope, &account("666666666666"))
        .await
        .expect("find by account");
    assert_eq!(by_account.len(), 1);
    assert_eq!(
        by_account[0].data.cross_account_credentials.role_arn,
        "arn:aws:iam::666666666666:role/acme-lacework-cfg-v2"
    );

    assert_eq!(
        h.client
            .deregister_aws_account::<AwsCfgData>(&scope, &account("666666666666"))
            .await
            .expect("deregister"),
        1
    );
    assert_eq!(
        h.client
            .deregister_aws_account::<AwsCfgData>(&scope, &account("666666666666"))
            .await
            .expect("deregister again"),
        0
    );
}

#[tokio::test]
async fn an_account_found_only_by_its_role_arn_is_reconciled() {
    let h = harness().await;
    let scope = prod();
    // Made by hand without awsAccountId; Lacework still knows the account from the role.
    let mut hand_made = cfg("777777777777");
    hand_made.aws_account_id = None;
    h.client
        .create(&scope, &CloudAccountSpec::new("by-hand", hand_made))
        .await
        .expect("hand-made integration");

    let ours = CloudAccountSpec::new("acme-777777777777", cfg("777777777777"));
    let registered = h
        .client
        .register_or_reconcile(&scope, &ours)
        .await
        .expect("reconciled");
    assert_eq!(registered.outcome, Outcome::Updated);
    assert_eq!(
        registered.record.data.aws_account_id,
        Some(account("777777777777"))
    );
    assert_eq!(
        h.client
            .list_by_type::<AwsCfgData>(&scope)
            .await
            .expect("list")
            .len(),
        1
    );
}

#[tokio::test]
async fn mapping_file_round_trips_through_an_org_level_trail_integration() {
    let h = harness().await;
    let mapping = AccountMapping::from_json_str(
        r#"{
            "defaultLaceworkAccountAws": "acme",
            "integration_mappings": {
                "prod": {"aws_accounts": ["333333333333", "444444444444"]},
                "dev": {"aws_accounts": ["555555555555"]}
            }
        }"#,
    )
    .expect("mapping");
    let spec = CloudAccountSpec::new("acme-cloudtrail", ct_sqs(Some(&mapping)));

    let registered = h
        .client
        .register_or_reconcile(&Scope::Organization, &spec)
        .await
        .expect("org-level trail");
    assert_eq!(registered.outcome, Outcome::Created);
    assert!(registered.record.is_org);

    let read = h
        .client
        .get::<AwsCtSqsData>(&Scope::Organization, &registered.record.intg_guid)
        .await
        .expect("get at org level");
    assert_eq!(
        read.data.account_mapping().expect("mapping reads"),
        Some(mapping.clone())
    );

    let state = h.state().await;
    let files = state["mappingFiles"].as_array().expect("mapping files");
    assert_eq!(files.len(), 1, "{state}");
    assert_eq!(files[0]["mapping"], mapping.to_value());

    let log = h.requests().await;
    let org_calls: Vec<&Logged> = log
        .iter()
        .filter(|r| r.path.starts_with("/api/v2/CloudAccounts"))
        .collect();
    assert!(!org_calls.is_empty());
    for call in org_calls {
        assert_eq!(call.org_access.as_deref(), Some("true"), "{call:?}");
    }

    // The mapping changes (an account moves): reconciled in place, then stable.
    let mut moved = mapping.to_value();
    moved["integration_mappings"]["dev"]["aws_accounts"] = json!(["555555555555", "444444444444"]);
    moved["integration_mappings"]["prod"]["aws_accounts"] = json!(["333333333333"]);
    let moved = AccountMapping::from_value(&moved).expect("moved mapping");
    let spec = CloudAccountSpec::new("acme-cloudtrail", ct_sqs(Some(&moved)));
    let updated = h
        .client
        .register_or_reconcile(&Scope::Organization, &spec)
        .await
        .expect("update");
    assert_eq!(updated.outcome, Outcome::Updated);
    assert_eq!(
        updated.record.data.account_mapping().expect("reads"),
        Some(moved)
    );
    assert_eq!(
        h.client
            .register_or_reconcile(&Scope::Organization, &spec)
            .await
            .expect("again")
            .outcome,
        Outcome::Unchanged
    );

    // A mapping file is only accepted at organization level.
    let error = h
        .client
        .create(
            &prod(),
            &CloudAccountSpec::new("acme-ct-prod", ct_sqs(Some(&mapping))),
        )
        .await
        .expect_err("mapping file at account level");
    assert_eq!(kind_of(&error), LaceworkErrorKind::BadRequest);
    assert!(error.to_string().contains("accountMappingFile"), "{error}");
}

/// Every event and span field, as text.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<String>>);

impl CapturedLogs {
    fn text(&self) -> String {
        self.0.lock().map(|t| t.clone()).unwrap_or_default()
    }
    fn append(&self, record: impl FnOnce(&mut String)) {
        if let Ok(mut text) = self.0.lock() {
            record(&mut text);
            text.push('\n');
        }
    }
}

struct FieldText<'a>(&'a mut String);

impl tracing::field::Visit for FieldText<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl tracing::Subscriber for CapturedLogs {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        self.append(|text| span.record(&mut FieldText(text)));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        self.append(|text| values.record(&mut FieldText(text)));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        self.append(|text| event.record(&mut FieldText(text)));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn secrets_stay_out_of_debug_errors_and_logs() {
    let logs = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(logs.clone());

    let emulator = lacework_emulator::start(emulator_options())
        .await
        .expect("emulator");
    let keys = Arc::new(KeyTokenSource::new(&emulator.url, credentials(), &fast()).expect("keys"));
    let client = Client::new(&emulator.url, keys.clone(), &fast()).expect("client");
    let h = Harness {
        emulator,
        client,
        http: reqwest::Client::new(),
    };
    let scope = prod();
    let spec = CloudAccountSpec::new("acme-888888888888", cfg("888888888888"));
    let registered = h
        .client
        .register_or_reconcile(&scope, &spec)
        .await
        .expect("registered");
    let first_token = keys.current().await.expect("the client's token");
    // Retries, a re-token and a failure all log.
    h.fault("/api/v2/CloudAccounts", 500, 1).await;
    h.fault("/api/v2/CloudAccounts", 401, 1).await;
    h.client
        .list(&scope)
        .await
        .expect("after retry and re-token");
    h.fault("/api/v2/CloudAccounts", 400, 1).await;
    let error = h.client.create(&scope, &spec).await.expect_err("400");

    let token = keys.current().await.expect("the renewed token");
    assert_ne!(token, first_token, "the 401 renewed the token");

    let shown = [
        format!("{:?}", credentials()),
        format!("{:?}", token),
        format!("{:?}", keys),
        format!("{:?}", h.client),
        format!("{:?}", registered),
        format!("{:#?}", registered.record),
        format!("{:?}", spec),
        format!("{error:?}"),
        error.to_string(),
        logs.text(),
    ]
    .join("\n");
    assert!(
        logs.text().contains("Lacework"),
        "logs were captured: {}",
        logs.text()
    );
    for secret in [
        SECRET,
        first_token.value().expose(),
        token.value().expose(),
        SUFFIX,
    ] {
        assert!(!shown.contains(secret), "a secret was shown:\n{shown}");
    }
}

#[tokio::test]
async fn a_search_that_finds_nothing_gives_no_rows() {
    // The emulator answers such a search as Lacework does: 204 and no body.
    let h = harness().await;
    let rows: Vec<CloudAccount> = h
        .client
        .search(
            &prod(),
            &SearchRequest::new(vec![Filter::eq("name", "no-such-integration")]),
        )
        .await
        .expect("an empty search is not an error");
    assert!(rows.is_empty());
    assert_eq!(
        h.calls("/api/v2/CloudAccounts/search").await,
        [("POST".to_string(), 204)]
    );
}

#[tokio::test]
async fn a_create_that_may_have_happened_is_looked_up_before_it_is_sent_again() {
    let h = harness().await;
    let scope = prod();
    h.client.list(&scope).await.expect("token");
    let post_fault = json!({
        "path_prefix": "/api/v2/CloudAccounts", "method": "POST", "status": 503, "count": 1
    });

    // A plain create is not sent twice: a 5xx does not say whether it was made.
    h.fault_with(post_fault.clone()).await;
    let error = h
        .client
        .create(
            &scope,
            &CloudAccountSpec::new("acme-888888888888", cfg("888888888888")),
        )
        .await
        .expect_err("503");
    assert_eq!(kind_of(&error), LaceworkErrorKind::Server);
    assert_eq!(
        h.calls("/api/v2/CloudAccounts").await,
        [("GET".to_string(), 200), ("POST".to_string(), 503)],
        "one POST only"
    );

    // A registration retries the whole lookup-then-create.
    h.fault_with(post_fault).await;
    let spec = CloudAccountSpec::new("acme-888888888888", cfg("888888888888"));
    let registered = h
        .client
        .register_or_reconcile(&scope, &spec)
        .await
        .expect("registered on the second round");
    assert_eq!(registered.outcome, Outcome::Created);
    assert_eq!(
        h.calls("/api/v2/CloudAccounts").await[2..],
        [
            ("GET".to_string(), 200),
            ("POST".to_string(), 503),
            ("GET".to_string(), 200),
            ("POST".to_string(), 201)
        ]
    );
}

#[tokio::test]
async fn a_refused_aws_cfg_create_is_checked_against_the_aws_account() {
    let h = harness().await;
    let scope = prod();
    h.client
        .create(
            &scope,
            &CloudAccountSpec::new("named-by-hand", cfg("777777777777")),
        )
        .await
        .expect("an integration under another name");
    // A refusal whose text says nothing of a duplicate (the real text is not known).
    h.fault_with(json!({
        "path_prefix": "/api/v2/CloudAccounts", "method": "POST", "status": 400, "count": 1
    }))
    .await;
    let spec = CloudAccountSpec::new("acme-777777777777", cfg("777777777777"));
    let registered = h
        .client
        .register_or_reconcile(&scope, &spec)
        .await
        .expect("found by its AWS account and reconciled");
    assert_eq!(registered.outcome, Outcome::Updated);
    assert_eq!(registered.record.name, "acme-777777777777");

    // AwsCtSqs is not kept once per AWS account: a 400 is just a 400, and nothing is renamed.
    h.fault_with(json!({
        "path_prefix": "/api/v2/CloudAccounts", "method": "POST", "status": 400, "count": 1
    }))
    .await;
    let before = h.calls("/api/v2/CloudAccounts").await.len();
    let error = h
        .client
        .register_or_reconcile(&scope, &CloudAccountSpec::new("acme-trail", ct_sqs(None)))
        .await
        .expect_err("400");
    assert_eq!(kind_of(&error), LaceworkErrorKind::BadRequest);
    assert_eq!(
        h.calls("/api/v2/CloudAccounts").await[before..],
        [("GET".to_string(), 200), ("POST".to_string(), 400)]
    );
}

#[tokio::test]
async fn a_listing_of_some_accounts_holds_only_theirs_and_looks_up_the_others() {
    let h = harness().await;
    let scope = prod();
    for account in ["666666666666", "777777777777"] {
        let spec = CloudAccountSpec::new(format!("acme-{account}"), cfg(account));
        h.client.create(&scope, &spec).await.expect("integration");
    }
    // Made by hand without awsAccountId: a search by AWS account cannot find it.
    let mut hand_made = cfg("999999999999");
    hand_made.aws_account_id = None;
    h.client
        .create(&scope, &CloudAccountSpec::new("by-hand", hand_made))
        .await
        .expect("hand-made integration");
    let before = h.calls("/api/v2/CloudAccounts").await.len();

    let asked = [account("666666666666"), account("999999999999")];
    let mut listing = h
        .client
        .listing_of::<AwsCfgData>(&scope, &asked)
        .await
        .expect("listing of two accounts");
    let names: Vec<&str> = listing.records().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["acme-666666666666"]);
    assert!(!listing.sees_everything());
    assert!(listing.sees(&account("999999999999")));
    assert!(!listing.sees(&account("777777777777")));

    // Listed: as wanted, no request.
    let same = CloudAccountSpec::new("acme-666666666666", cfg("666666666666"));
    let unchanged = h.client.register_listed(&scope, &same, &mut listing).await;
    assert_eq!(unchanged.expect("listed").outcome, Outcome::Unchanged);
    // Not asked for: looked up in the whole scope first, and found as wanted.
    let other = CloudAccountSpec::new("acme-777777777777", cfg("777777777777"));
    let looked_up = h.client.register_listed(&scope, &other, &mut listing).await;
    assert_eq!(looked_up.expect("looked up").outcome, Outcome::Unchanged);
    // Asked for, not found: the create is refused as a duplicate, and the record the search
    // missed is found in the whole scope and brought up to date.
    let ours = CloudAccountSpec::new("acme-999999999999", cfg("999999999999"));
    let adopted = h.client.register_listed(&scope, &ours, &mut listing).await;
    let adopted = adopted.expect("adopted");
    assert_eq!(adopted.outcome, Outcome::Updated);
    assert_eq!(adopted.record.name, "acme-999999999999");

    let calls: Vec<String> = h.calls("/api/v2/CloudAccounts").await[before..]
        .iter()
        .map(|(method, status)| format!("{method} {status}"))
        .collect();
    assert_eq!(
        calls,
        [
            "POST 200",  // the search
            "GET 200",   // the lookup of 777777777777
            "POST 400",  // the create of 999999999999, refused
            "GET 200",   // its lookup
            "PATCH 200", // the hand-made record, renamed
        ]
    );

    // Removing an account the listing was not read for looks it up first.
    let mut listing = h
        .client
        .listing_of::<AwsCfgData>(&scope, &[account("666666666666")])
        .await
        .expect("listing of one account");
    let removed = h
        .client
        .deregister_listed(&scope, &account("777777777777"), &mut listing)
        .await
        .expect("deregistered");
    assert_eq!(removed, 1);
    assert!(listing.sees(&account("777777777777")));
    let calls: Vec<String> = h.calls("/api/v2/CloudAccounts").await[before + 5..]
        .iter()
        .map(|(method, status)| format!("{method} {status}"))
        .collect();
    assert_eq!(calls, ["POST 200", "GET 200", "DELETE 204"]);

    // An empty listing asks nothing.
    let none = h.client.listing_of::<AwsCfgData>(&scope, &[]).await;
    assert_eq!(none.expect("nothing asked").records().count(), 0);
    assert_eq!(h.calls("/api/v2/CloudAccounts").await.len(), before + 8);

    // That lookup read the whole scope, and the listing kept it: removing another account it
    // was not read for asks nothing more than the delete.
    assert!(listing.sees_everything());
    let removed = h
        .client
        .deregister_listed(&scope, &account("999999999999"), &mut listing)
        .await
        .expect("deregistered");
    assert_eq!(removed, 1);
    let calls: Vec<String> = h.calls("/api/v2/CloudAccounts").await[before + 8..]
        .iter()
        .map(|(method, status)| format!("{method} {status}"))
        .collect();
    assert_eq!(calls, ["DELETE 204"]);
}
