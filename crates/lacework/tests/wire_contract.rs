//! Wire contract: the client against the real-shaped fixtures in `events/lacework/` (taken
//! from Lacework's public clients' test fixtures), through a local recording server.
//!
//! * Every exchange of `exchanges.json` is played: the server answers with the fixture
//!   response, the client decodes it with our types (records, pages, errors, token), and the
//!   request the client sent is compared with the fixture request: method, path and query,
//!   the headers that matter (`Authorization: Bearer`, `Account-Name`, `Org-Access`,
//!   `X-LW-UAKS`, `Content-Type`; no more and no fewer) and the body as JSON (the mapping file
//!   by its decoded meaning, with the prefix exact).
//! * Every response and request file is used, so a new fixture cannot go unchecked.
//! * Behaviours the emulator cannot show (a relative `nextPage`, a long `Retry-After`, what a
//!   PATCH body holds) are checked here too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{Request, Response, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lwct_domain::error::{Error, LaceworkErrorKind};
use lwct_domain::lacework::{
    AwsCfgData, AwsCtSqsData, CloudAccount, CloudAccountSpec, Credentials, Scope, SubAccount, Token,
};
use lwct_domain::mapping::{AccountMapping, WIRE_PREFIX};
use lwct_lacework::{
    Client, ClientOptions, Filter, KeyTokenSource, Outcome, RetryPolicy, SearchRequest,
    StaticTokenSource, TokenFuture, TokenSource,
};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;

const SECRET: &str = "_fixture_secret_key";
const EXPIRED: &str = "_expired_fixture_token";

// ---- the recording server ----

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query, as sent.
    target: String,
    /// Lower-case names.
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

struct Reply {
    method: String,
    target: String,
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

#[derive(Default)]
struct State {
    replies: VecDeque<Reply>,
    seen: Vec<Seen>,
}

/// Answers each request with the first scripted reply for its method and path (each reply is
/// used once) and records what it was sent; an unscripted request gets 418.
struct Recorder {
    url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorder {
    async fn start() -> Recorder {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |request: Request<Body>| {
            let state = shared.clone();
            async move { answer(&state, request).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Recorder { url, state, task }
    }

    fn reply(&self, method: &str, target: &str, status: u16, body: &str) {
        self.reply_with(method, target, status, Vec::new(), body);
    }

    fn reply_with(
        &self,
        method: &str,
        target: &str,
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: &str,
    ) {
        self.state.lock().expect("lock").replies.push_back(Reply {
            method: method.to_owned(),
            target: target.to_owned(),
            status,
            headers,
            body: body.to_owned(),
        });
    }

    /// What was sent since the last call, and forgets it and any unused reply.
    fn take(&self) -> Vec<Seen> {
        let mut state = self.state.lock().expect("lock");
        state.replies.clear();
        std::mem::take(&mut state.seen)
    }
}

async fn answer(state: &Mutex<State>, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 1 << 22)
        .await
        .expect("request body")
        .to_vec();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                value.to_str().unwrap_or("<not text>").to_owned(),
            )
        })
        .collect();
    let method = parts.method.as_str().to_owned();
    let mut state = state.lock().expect("lock");
    state.seen.push(Seen {
        method: method.clone(),
        target: target.clone(),
        headers,
        body,
    });
    let found = state
        .replies
        .iter()
        .position(|r| r.method == method && r.target == target);
    let Some(reply) = found.and_then(|index| state.replies.remove(index)) else {
        return Response::builder()
            .status(418)
            .body(Body::from(format!(
                r#"{{"message": "recorder: nothing scripted for {method} {target}"}}"#
            )))
            .expect("response");
    };
    let mut response =
        Response::builder().status(StatusCode::from_u16(reply.status).expect("status"));
    if !reply.body.is_empty() {
        response = response.header("Content-Type", "application/json");
    }
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(reply.body)).expect("response")
}

// ---- fixtures ----

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/lacework")
        .join(name)
}

fn fixture_text(name: &str) -> String {
    let path = fixture_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&fixture_text(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[derive(Debug, Clone, Deserialize)]
struct Exchange {
    name: String,
    request: FixtureRequest,
    response: FixtureResponse,
}

#[derive(Debug, Clone, Deserialize)]
struct FixtureRequest {
    method: String,
    path: Option<String>,
    url: Option<String>,
    headers: BTreeMap<String, String>,
    body: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct FixtureResponse {
    status: u16,
    body: Option<String>,
}

impl Exchange {
    /// The path and query the client must ask for (a next page's URL names another host:
    /// the client fetches its path from the configured one).
    fn target(&self) -> String {
        match (&self.request.path, &self.request.url) {
            (Some(path), _) => path.clone(),
            (None, Some(url)) => {
                let url = url::Url::parse(url).expect("fixture url");
                match url.query() {
                    Some(query) => format!("{}?{query}", url.path()),
                    None => url.path().to_owned(),
                }
            }
            (None, None) => panic!("{}: no path or url", self.name),
        }
    }

    fn response_text(&self) -> String {
        self.response
            .body
            .as_deref()
            .map(fixture_text)
            .unwrap_or_default()
    }

    fn response_json(&self) -> Value {
        fixture(self.response.body.as_deref().expect("a response body"))
    }

    fn request_json(&self) -> Value {
        fixture(self.request.body.as_deref().expect("a request body"))
    }
}

fn exchanges() -> Vec<Exchange> {
    serde_json::from_value(fixture("exchanges.json")["exchanges"].clone())
        .expect("exchanges.json shape")
}

fn token_value() -> String {
    fixture("responses/token.json")["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// One attempt per call: every exchange is exactly one request.
fn once() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(10),
        },
    }
}

fn client_with(url: &str, token: &str) -> Client {
    let token = Token::new(token, datetime!(2035-01-01 0:00 UTC));
    Client::new(url, Arc::new(StaticTokenSource::new(token)), &once()).expect("client")
}

/// A source whose renewal gives the same token (as if another call had renewed it to that):
/// a second 401 is then the API's answer, not the source's.
struct SameTokenAgain(Token);

impl TokenSource for SameTokenAgain {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
    fn renew<'a>(&'a self, _rejected: &'a Token) -> TokenFuture<'a> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

fn nw_prod() -> Scope {
    Scope::Account(SubAccount::new("NW-Prod").expect("sub-account"))
}

fn spec_from<D: lwct_domain::lacework::IntegrationData>(request: &Value) -> CloudAccountSpec<D> {
    CloudAccountSpec {
        name: request["name"].as_str().expect("name").to_owned(),
        enabled: request["enabled"] == json!(1),
        data: serde_json::from_value(request["data"].clone()).expect("fixture data reads as ours"),
    }
}

fn fixture_mapping() -> AccountMapping {
    AccountMapping::from_json_str(&fixture_text("requests/account-mapping.json"))
        .expect("fixture mapping")
}

fn lacework_error(error: &Error) -> (LaceworkErrorKind, Option<u16>, &str) {
    match error {
        Error::Lacework {
            kind,
            status,
            message,
            ..
        } => (*kind, *status, message),
        other => panic!("not a Lacework error: {other:?}"),
    }
}

fn last_segment(target: &str) -> &str {
    target.rsplit('/').next().expect("segment")
}

/// A record's key fields against the fixture's record.
fn check_record<D>(record: &CloudAccount<D>, wire: &Value) {
    assert_eq!(
        record.intg_guid,
        wire["intgGuid"].as_str().expect("intgGuid")
    );
    assert_eq!(record.name, wire["name"].as_str().expect("name"));
    assert_eq!(record.kind, wire["type"].as_str().expect("type"));
    assert_eq!(record.enabled, wire["enabled"] == json!(1));
    assert_eq!(record.is_org, wire["isOrg"] == json!(1));
    assert_eq!(
        record.created_or_updated_time.as_deref(),
        wire["createdOrUpdatedTime"].as_str()
    );
    assert_eq!(
        record.created_or_updated_by.as_deref(),
        wire["createdOrUpdatedBy"].as_str()
    );
    let state = record.state.as_ref().expect("state");
    assert_eq!(json!(state.ok), wire["state"]["ok"]);
    assert_eq!(state.details.as_ref(), Some(&wire["state"]["details"]));
    assert_eq!(
        state.last_updated_time.as_ref(),
        Some(&wire["state"]["lastUpdatedTime"])
    );
}

fn check_cfg(record: &CloudAccount<AwsCfgData>, wire: &Value) {
    check_record(record, wire);
    let data = &wire["data"];
    assert_eq!(
        record.data.cross_account_credentials.role_arn,
        data["crossAccountCredentials"]["roleArn"]
            .as_str()
            .expect("roleArn")
    );
    assert_eq!(
        record.data.cross_account_credentials.external_id.expose(),
        data["crossAccountCredentials"]["externalId"]
            .as_str()
            .expect("externalId")
    );
    assert_eq!(
        record.data.aws_account_id.as_ref().map(|id| id.as_str()),
        data["awsAccountId"].as_str()
    );
}

fn check_ct_sqs(record: &CloudAccount<AwsCtSqsData>, wire: &Value) {
    check_record(record, wire);
    let data = &wire["data"];
    assert_eq!(
        record.data.queue_url,
        data["queueUrl"].as_str().expect("queueUrl")
    );
    assert_eq!(
        record.data.cross_account_credentials.role_arn,
        data["crossAccountCredentials"]["roleArn"]
            .as_str()
            .expect("roleArn")
    );
    // Lacework fills awsAccountId in on AwsCtSqs records even when the create left it out.
    assert_eq!(
        record.data.aws_account_id.as_ref().map(|id| id.as_str()),
        data["awsAccountId"].as_str()
    );
    assert_eq!(
        record.data.account_mapping_file.as_deref(),
        data["accountMappingFile"].as_str()
    );
}

// ---- request comparison ----

/// The headers whose presence and value are part of the contract.
const CONTRACT_HEADERS: [&str; 5] = [
    "authorization",
    "account-name",
    "org-access",
    "x-lw-uaks",
    "content-type",
];

fn placeholders(value: &str) -> String {
    value
        .replace("<expired token>", EXPIRED)
        .replace("<token>", &token_value())
        .replace("<secret key>", SECRET)
}

/// A mapping file compared by meaning: the prefix exact, the base64 standard with padding,
/// the JSON equal to `account-mapping.json`; then replaced by a marker.
fn normalise_mapping_file(body: &mut Value, who: &str) {
    let Some(file) = body.pointer_mut("/data/accountMappingFile") else {
        return;
    };
    let text = file.as_str().expect("accountMappingFile is a string");
    let payload = text
        .strip_prefix(WIRE_PREFIX)
        .unwrap_or_else(|| panic!("{who}: accountMappingFile prefix: {text}"));
    let json = STANDARD
        .decode(payload)
        .unwrap_or_else(|e| panic!("{who}: accountMappingFile base64: {e}"));
    let decoded: Value = serde_json::from_slice(&json).expect("mapping JSON");
    assert_eq!(
        decoded,
        fixture("requests/account-mapping.json"),
        "{who}: mapping file"
    );
    *file = json!("<account mapping file>");
}

fn check_request(seen: &Seen, exchange: &Exchange) {
    let who = &exchange.name;
    assert_eq!(seen.method, exchange.request.method, "{who}: method");
    assert_eq!(seen.target, exchange.target(), "{who}: path and query");

    let ours: BTreeMap<&str, &str> = CONTRACT_HEADERS
        .iter()
        .filter_map(|name| seen.headers.get(*name).map(|v| (*name, v.as_str())))
        .collect();
    let wanted: BTreeMap<String, String> = exchange
        .request
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), placeholders(value)))
        .collect();
    let our_names: BTreeSet<&str> = ours.keys().copied().collect();
    let wanted_names: BTreeSet<&str> = wanted.keys().map(String::as_str).collect();
    assert_eq!(our_names, wanted_names, "{who}: which headers are sent");
    for (name, value) in &wanted {
        let sent = ours[name.as_str()];
        if name == "authorization" {
            // We always send the Bearer form; the service takes it and the bare token (C8).
            let token = sent
                .strip_prefix("Bearer ")
                .unwrap_or_else(|| panic!("{who}: Authorization is not Bearer: {sent:?}"));
            assert_eq!(
                token,
                value.strip_prefix("Bearer ").unwrap_or(value),
                "{who}: token"
            );
        } else {
            assert_eq!(sent, value, "{who}: {name}");
        }
    }

    match &exchange.request.body {
        Some(_) => {
            let mut sent: Value = serde_json::from_slice(&seen.body)
                .unwrap_or_else(|e| panic!("{who}: body is not JSON: {e}"));
            let mut expected = exchange.request_json();
            normalise_mapping_file(&mut sent, who);
            normalise_mapping_file(&mut expected, who);
            assert_eq!(sent, expected, "{who}: body");
        }
        None => assert!(seen.body.is_empty(), "{who}: a body was sent"),
    }
}

// ---- the exchanges ----

#[tokio::test]
async fn every_exchange_matches_the_fixtures() {
    let recorder = Recorder::start().await;
    let client = client_with(&recorder.url, &token_value());
    let all = exchanges();
    let mut played = BTreeSet::new();
    let mut index = 0;
    while index < all.len() {
        let exchange = &all[index];
        // A search over two pages is one client call: it plays the next exchange too.
        let mut step = vec![exchange.clone()];
        if exchange.name == "search, first of two pages" {
            let next = all.get(index + 1).expect("the next-page exchange");
            assert!(next.request.url.is_some(), "{}: GET on nextPage", next.name);
            step.push(next.clone());
        }
        // A 401 is answered twice: once before and once after the token is renewed.
        if exchange.response.status == 401 {
            step.push(exchange.clone());
        }
        for part in &step {
            recorder.reply(
                &part.request.method,
                &part.target(),
                part.response.status,
                &part.response_text(),
            );
        }
        play(&recorder, &client, exchange).await;
        let seen = recorder.take();
        assert_eq!(
            seen.len(),
            step.len(),
            "{}: requests sent: {seen:#?}",
            exchange.name
        );
        for (sent, part) in seen.iter().zip(&step) {
            check_request(sent, part);
            played.insert(part.name.clone());
        }
        index += if step.len() == 2 && step[1].name != exchange.name {
            2
        } else {
            1
        };
    }
    let names: BTreeSet<String> = all.iter().map(|e| e.name.clone()).collect();
    assert_eq!(played, names, "every exchange played");
}

/// The client call that makes `exchange`'s request, and the checks of what it decoded.
async fn play(recorder: &Recorder, client: &Client, exchange: &Exchange) {
    let who = exchange.name.as_str();
    let target = exchange.target();
    match who {
        "token" => {
            let request = exchange.request_json();
            let source = KeyTokenSource::new(
                &recorder.url,
                Credentials::new(request["keyId"].as_str().expect("keyId"), SECRET),
                &once(),
            )
            .expect("token source")
            .with_lifetime(Duration::from_secs(
                request["expiryTime"].as_u64().expect("expiryTime"),
            ));
            let token = source.request_token().await.expect("token");
            let wire = exchange.response_json();
            assert_eq!(
                token.value().expose(),
                wire["token"].as_str().expect("token")
            );
            let expires =
                OffsetDateTime::parse(wire["expiresAt"].as_str().expect("expiresAt"), &Rfc3339)
                    .expect("expiresAt");
            assert_eq!(token.expires_at(), expires);
        }
        "create AwsCtSqs in a sub-account" => {
            let spec = spec_from::<AwsCtSqsData>(&exchange.request_json());
            let record = client.create(&nw_prod(), &spec).await.expect(who);
            check_ct_sqs(&record, &exchange.response_json()["data"]);
            assert!(!record.is_org);
        }
        "create org-level AwsCtSqs with an account mapping file" => {
            let mut spec = spec_from::<AwsCtSqsData>(&exchange.request_json());
            // Made by our encoder, not copied from the fixture.
            spec.data.set_account_mapping(&fixture_mapping());
            let record = client.create(&Scope::Organization, &spec).await.expect(who);
            check_ct_sqs(&record, &exchange.response_json()["data"]);
            assert!(record.is_org);
            assert_eq!(
                record.data.account_mapping().expect("mapping reads"),
                Some(fixture_mapping())
            );
        }
        "account mapping file sent without Org-Access" => {
            let mut spec = spec_from::<AwsCtSqsData>(&exchange.request_json());
            spec.data.set_account_mapping(&fixture_mapping());
            let error = client.create(&nw_prod(), &spec).await.expect_err(who);
            let (kind, status, message) = lacework_error(&error);
            assert_eq!(kind, LaceworkErrorKind::BadRequest);
            assert_eq!(status, Some(400));
            assert_eq!(message, exchange.response_json()["message"]);
        }
        "create AwsCfg" => {
            let spec = spec_from::<AwsCfgData>(&exchange.request_json());
            let record = client.create(&nw_prod(), &spec).await.expect(who);
            check_cfg(&record, &exchange.response_json()["data"]);
        }
        "second AwsCfg for the same AWS account" => {
            let spec = spec_from::<AwsCfgData>(&exchange.request_json());
            let error = client.create(&nw_prod(), &spec).await.expect_err(who);
            let (kind, _, message) = lacework_error(&error);
            assert_eq!(kind, LaceworkErrorKind::Conflict);
            assert_eq!(message, exchange.response_json()["message"]);
        }
        "get AwsCtSqs" => {
            let record = client
                .get::<AwsCtSqsData>(&nw_prod(), last_segment(&target))
                .await
                .expect(who);
            check_ct_sqs(&record, &exchange.response_json()["data"]);
        }
        "get AwsCfg" => {
            let record = client
                .get::<AwsCfgData>(&nw_prod(), last_segment(&target))
                .await
                .expect(who);
            check_cfg(&record, &exchange.response_json()["data"]);
        }
        "get an intgGuid that does not exist" => {
            let error = client
                .get_any(&nw_prod(), last_segment(&target))
                .await
                .expect_err(who);
            let (kind, status, message) = lacework_error(&error);
            assert_eq!((kind, status), (LaceworkErrorKind::NotFound, Some(404)));
            assert_eq!(message, exchange.response_json()["message"]);
        }
        "list every type" => {
            let records = client.list(&nw_prod()).await.expect(who);
            let wire = exchange.response_json();
            let wire = wire["data"].as_array().expect("data");
            assert_eq!(records.len(), wire.len());
            for (record, wire) in records.into_iter().zip(wire) {
                match record.kind.as_str() {
                    "AwsCfg" => check_cfg(&record.typed().expect("AwsCfg"), wire),
                    "AwsCtSqs" => check_ct_sqs(&record.typed().expect("AwsCtSqs"), wire),
                    other => panic!("{who}: unexpected type {other}"),
                }
            }
        }
        "list one type" => {
            let records = client
                .list_by_type::<AwsCfgData>(&nw_prod())
                .await
                .expect(who);
            let wire = exchange.response_json();
            let wire = wire["data"].as_array().expect("data");
            assert_eq!(records.len(), wire.len());
            for (record, wire) in records.iter().zip(wire) {
                check_cfg(record, wire);
            }
            assert!(records.iter().any(|r| !r.state.as_ref().expect("state").ok));
        }
        "rate limited" => {
            let error = client
                .list_by_type::<AwsCfgData>(&nw_prod())
                .await
                .expect_err(who);
            let (kind, status, message) = lacework_error(&error);
            assert_eq!((kind, status), (LaceworkErrorKind::RateLimited, Some(429)));
            assert_eq!(message, exchange.response_json()["message"]);
        }
        "update (PATCH) AwsCfg" => {
            let spec = spec_from::<AwsCfgData>(&exchange.request_json());
            assert!(!spec.enabled);
            let record = client
                .update(&nw_prod(), last_segment(&target), &spec)
                .await
                .expect(who);
            check_cfg(&record, &exchange.response_json()["data"]);
            assert!(!record.enabled);
        }
        "search by name, returning intgGuid only" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct GuidOnly {
                intg_guid: String,
            }
            let request = exchange.request_json();
            let name = request["filters"][0]["value"].as_str().expect("name");
            let rows: Vec<GuidOnly> = client
                .search(
                    &nw_prod(),
                    &SearchRequest::new(vec![Filter::eq("name", name)]).returning(["intgGuid"]),
                )
                .await
                .expect(who);
            let wire = exchange.response_json();
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].intg_guid, wire["data"][0]["intgGuid"]);
        }
        "search, first of two pages" => {
            let request = exchange.request_json();
            let ids: Vec<String> =
                serde_json::from_value(request["filters"][0]["values"].clone()).expect("values");
            let rows: Vec<CloudAccount> = client
                .search(
                    &nw_prod(),
                    &SearchRequest::new(vec![
                        Filter::any_of("data.awsAccountId", ids),
                        Filter::eq("type", "AwsCfg"),
                    ]),
                )
                .await
                .expect(who);
            let first = exchange.response_json();
            let second = fixture("responses/search-page-2.json");
            assert_eq!(rows.len(), 2, "both pages");
            check_cfg(&rows[0].clone().typed().expect("AwsCfg"), &first["data"][0]);
            check_cfg(
                &rows[1].clone().typed().expect("AwsCfg"),
                &second["data"][0],
            );
        }
        "search that finds nothing" => {
            let request = exchange.request_json();
            let name = request["filters"][0]["value"].as_str().expect("name");
            let rows: Vec<CloudAccount> = client
                .search(
                    &nw_prod(),
                    &SearchRequest::new(vec![Filter::eq("name", name)]).returning(["intgGuid"]),
                )
                .await
                .expect(who);
            assert!(rows.is_empty());
        }
        "delete" => {
            client
                .delete(&nw_prod(), last_segment(&target))
                .await
                .expect(who);
        }
        "older error shape (data.message), as the Go SDK still reads" => {
            let token = Token::new(EXPIRED, datetime!(2035-01-01 0:00 UTC));
            let expired =
                Client::new(&recorder.url, Arc::new(SameTokenAgain(token)), &once()).expect("c");
            let error = expired.list(&nw_prod()).await.expect_err(who);
            let (kind, status, message) = lacework_error(&error);
            assert_eq!((kind, status), (LaceworkErrorKind::Unauthorized, Some(401)));
            assert_eq!(
                message,
                exchange.response_json()["data"]["message"],
                "the older shape's message, not its raw JSON"
            );
        }
        other => panic!("exchange {other:?} has no client call in this test: add one"),
    }
}

#[test]
fn every_fixture_file_is_used() {
    let mut used: BTreeSet<String> = BTreeSet::new();
    for exchange in exchanges() {
        used.extend(exchange.request.body.clone());
        used.extend(exchange.response.body.clone());
    }
    // Compared by meaning with every mapping file sent.
    used.insert("requests/account-mapping.json".to_owned());
    for folder in ["requests", "responses"] {
        let entries = std::fs::read_dir(fixture_path(folder)).expect("fixture folder");
        for entry in entries {
            let name = entry.expect("entry").file_name();
            let file = format!("{folder}/{}", name.to_string_lossy());
            assert!(used.contains(&file), "{file} is not checked by this test");
        }
    }
}

// ---- behaviours the emulator cannot show ----

fn search_body() -> SearchRequest {
    SearchRequest::new(vec![Filter::eq("type", "AwsCfg")])
}

#[tokio::test]
async fn a_relative_next_page_is_fetched_under_api_v2_and_an_empty_page_ends_the_list() {
    let recorder = Recorder::start().await;
    let client = client_with(&recorder.url, &token_value());
    let mut first = fixture("responses/search-page-1.json");
    // Relative to /api/v2/, with a query, as in the Go SDK's TestPaginationQuery.
    first["paging"]["urls"]["nextPage"] =
        json!("NextPage/eeee==?startTime=2022-10-13T20:23:28.316Z");
    recorder.reply(
        "POST",
        "/api/v2/CloudAccounts/search",
        200,
        &first.to_string(),
    );
    recorder.reply(
        "GET",
        "/api/v2/NextPage/eeee==?startTime=2022-10-13T20:23:28.316Z",
        204,
        "",
    );
    let rows: Vec<CloudAccount> = client
        .search(&nw_prod(), &search_body())
        .await
        .expect("both pages");
    assert_eq!(rows.len(), 1);
    let seen = recorder.take();
    let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/api/v2/CloudAccounts/search",
            "/api/v2/NextPage/eeee==?startTime=2022-10-13T20:23:28.316Z"
        ]
    );
    assert_eq!(
        seen[1].headers.get("account-name").map(String::as_str),
        Some("nw-prod")
    );
}

#[tokio::test]
async fn a_next_page_elsewhere_and_not_under_api_v2_is_not_followed() {
    let recorder = Recorder::start().await;
    let client = client_with(&recorder.url, &token_value());
    let mut first = fixture("responses/search-page-1.json");
    first["paging"]["urls"]["nextPage"] = json!("https://elsewhere.example/collect");
    recorder.reply(
        "POST",
        "/api/v2/CloudAccounts/search",
        200,
        &first.to_string(),
    );
    let error = client
        .search::<CloudAccount>(&nw_prod(), &search_body())
        .await
        .expect_err("refused");
    let (kind, _, message) = lacework_error(&error);
    assert_eq!(kind, LaceworkErrorKind::Decode);
    assert!(message.starts_with("$.paging.urls.nextPage"), "{message}");
    assert_eq!(
        recorder.take().len(),
        1,
        "nothing sent for the refused page"
    );
}

#[tokio::test]
async fn a_long_retry_after_ends_the_call_with_the_asked_wait() {
    let recorder = Recorder::start().await;
    let token = Token::new(token_value(), datetime!(2035-01-01 0:00 UTC));
    let patient = ClientOptions {
        retry: RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(50),
        },
        ..once()
    };
    let client = Client::new(
        &recorder.url,
        Arc::new(StaticTokenSource::new(token)),
        &patient,
    )
    .expect("c");
    for _ in 0..5 {
        recorder.reply_with(
            "GET",
            "/api/v2/CloudAccounts/AwsCfg",
            429,
            vec![("Retry-After", "120".to_owned())],
            &fixture_text("responses/error-rate-limited.json"),
        );
    }
    let error = client
        .list_by_type::<AwsCfgData>(&nw_prod())
        .await
        .expect_err("rate limited");
    match &error {
        Error::Lacework {
            kind, retry_after, ..
        } => {
            assert_eq!(*kind, LaceworkErrorKind::RateLimited);
            assert_eq!(*retry_after, Some(120));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        recorder.take().len(),
        1,
        "no retry spends more of the budget"
    );
}

#[tokio::test]
async fn a_reconciling_patch_sends_the_whole_data_with_the_intg_guid() {
    let recorder = Recorder::start().await;
    let client = client_with(&recorder.url, &token_value());
    // Lacework holds an org-level trail with a mapping file and an awsAccountId.
    let held = fixture("responses/create-aws-ct-sqs-with-mapping.json")["data"].clone();
    let guid = held["intgGuid"].as_str().expect("guid").to_owned();
    recorder.reply(
        "GET",
        "/api/v2/CloudAccounts/AwsCtSqs",
        200,
        &json!({"data": [held.clone()]}).to_string(),
    );
    let mut updated = held.clone();
    updated["data"]["queueUrl"] =
        json!("https://sqs.us-east-1.amazonaws.com/345678901234/northwind-lacework-ct-2");
    recorder.reply(
        "PATCH",
        &format!("/api/v2/CloudAccounts/{guid}"),
        200,
        &json!({"data": updated}).to_string(),
    );

    // The spec moves the queue and says nothing of the mapping file or the account id.
    let mut spec = spec_from::<AwsCtSqsData>(&fixture("requests/create-aws-ct-sqs.json"));
    spec.name = held["name"].as_str().expect("name").to_owned();
    spec.data.queue_url = updated["data"]["queueUrl"].as_str().expect("q").to_owned();
    let registration = client
        .register_or_reconcile(&Scope::Organization, &spec)
        .await
        .expect("reconciled");
    assert_eq!(registration.outcome, Outcome::Updated);

    let seen = recorder.take();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    let body: Value = serde_json::from_slice(&seen[1].body).expect("PATCH body");
    assert_eq!(body["intgGuid"], json!(guid));
    assert_eq!(body["type"], json!("AwsCtSqs"));
    assert_eq!(body["data"]["queueUrl"], updated["data"]["queueUrl"]);
    // Unset in the spec, so taken from what Lacework holds: kept under merge and replace.
    assert_eq!(
        body["data"]["accountMappingFile"],
        held["data"]["accountMappingFile"]
    );
    assert_eq!(body["data"]["awsAccountId"], held["data"]["awsAccountId"]);
}
