//! The emulator's own rules, checked over raw HTTP on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::time::{Duration, Instant};

use base64::Engine;
use lacework_emulator::{Emulator, Options, RateLimit};
use reqwest::Method;
use serde_json::{Value, json};

struct Api {
    emulator: Emulator,
    http: reqwest::Client,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    text: String,
}

impl Answer {
    fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
}

impl Api {
    async fn start(options: Options) -> Api {
        let emulator = lacework_emulator::start(options).await.unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Api { emulator, http }
    }

    async fn default() -> Api {
        Api::start(Options {
            sub_accounts: vec!["prod".into(), "dev".into()],
            ..Options::default()
        })
        .await
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, url);
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let url = format!("{}{path}", self.emulator.url);
        self.send(method, &url, token, headers, body).await
    }

    async fn token_answer(&self, secret: &str, body: Value) -> Answer {
        self.call(
            Method::POST,
            "/api/v2/access/tokens",
            None,
            &[("X-LW-UAKS", secret)],
            Some(body),
        )
        .await
    }

    async fn token(&self) -> String {
        let answer = self
            .token_answer(
                "_secret",
                json!({"keyId": "ACME_KEY_ID", "expiryTime": 3600}),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        answer.body["token"].as_str().unwrap().to_string()
    }

    /// `GET /api/v2/CloudAccounts` in the primary account.
    async fn list(&self, token: &str) -> Answer {
        self.call(Method::GET, "/api/v2/CloudAccounts", Some(token), &[], None)
            .await
    }

    async fn create(&self, token: &str, headers: &[(&str, &str)], body: Value) -> Answer {
        self.call(
            Method::POST,
            "/api/v2/CloudAccounts",
            Some(token),
            headers,
            Some(body),
        )
        .await
    }

    async fn state(&self) -> Value {
        self.call(Method::GET, "/__emulator/state", None, &[], None)
            .await
            .body
    }
}

fn aws_cfg(name: &str, account: &str) -> Value {
    json!({
        "name": name,
        "type": "AwsCfg",
        "enabled": 1,
        "data": {
            "crossAccountCredentials": {
                "roleArn": format!("arn:aws:iam::{account}:role/lacework-cross-account"),
                "externalId": format!("lweid:aws:v2:acme:{account}:S3cretSuffix")
            },
            "awsAccountId": account
        }
    })
}

fn aws_ct_sqs(name: &str, mapping: Option<&Value>) -> Value {
    let mut data = json!({
        "crossAccountCredentials": {
            "roleArn": "arn:aws:iam::111111111111:role/lacework-ct",
            "externalId": "lweid:aws:v2:acme:111111111111:S3cretSuffix"
        },
        "queueUrl": "https://sqs.us-east-1.amazonaws.com/222222222222/lacework-ct"
    });
    if let Some(mapping) = mapping {
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_string(mapping).unwrap());
        data["accountMappingFile"] = json!(format!(
            "data:application/json;name=i.json;base64,{encoded}"
        ));
    }
    json!({"name": name, "type": "AwsCtSqs", "enabled": 1, "data": data})
}

#[tokio::test]
async fn tokens_need_the_right_key_and_secret() {
    let api = Api::default().await;
    let good = api
        .token_answer(
            "_secret",
            json!({"keyId": "ACME_KEY_ID", "expiryTime": 3600}),
        )
        .await;
    assert_eq!(good.status, 201);
    assert!(good.body["token"].as_str().is_some_and(|t| t.len() > 20));
    let expires = good.body["expiresAt"].as_str().unwrap();
    // RFC 3339 with milliseconds and Z: 2024-05-01T12:00:00.123Z
    assert_eq!(expires.len(), 24, "{expires}");
    assert!(
        expires.ends_with('Z') && expires.as_bytes()[19] == b'.',
        "{expires}"
    );
    assert_eq!(good.body.as_object().unwrap().len(), 2, "flat, not wrapped");

    let wrong_secret = api
        .token_answer("nope", json!({"keyId": "ACME_KEY_ID", "expiryTime": 3600}))
        .await;
    assert_eq!(wrong_secret.status, 401);
    assert!(!wrong_secret.text.contains("_secret"));
    let wrong_key = api
        .token_answer("_secret", json!({"keyId": "OTHER", "expiryTime": 3600}))
        .await;
    assert_eq!(wrong_key.status, 401);

    let no_key = api
        .token_answer("_secret", json!({"expiryTime": 3600}))
        .await;
    assert_eq!(no_key.status, 400);
    assert!(no_key.message().contains("keyId"), "{}", no_key.text);
    let no_expiry = api
        .token_answer("_secret", json!({"keyId": "ACME_KEY_ID"}))
        .await;
    assert_eq!(no_expiry.status, 400);
    assert!(no_expiry.message().contains("expiryTime"));
    let typo = api
        .token_answer(
            "_secret",
            json!({"keyId": "ACME_KEY_ID", "expiry_Time": 3600}),
        )
        .await;
    assert_eq!(typo.status, 400);
    assert!(typo.message().contains("expiry_Time"));

    let no_header = api
        .call(
            Method::POST,
            "/api/v2/access/tokens",
            None,
            &[],
            Some(json!({"keyId": "ACME_KEY_ID", "expiryTime": 3600})),
        )
        .await;
    assert_eq!(no_header.status, 401);
    assert!(no_header.message().contains("X-LW-UAKS"));
}

#[tokio::test]
async fn calls_need_a_live_token() {
    let api = Api::start(Options {
        token_ttl: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let token = api.token().await;
    let fresh = api.list(&token).await;
    assert_eq!(fresh.status, 200, "{}", fresh.text);
    let bearer = format!("Bearer {token}");
    let with_bearer = api
        .call(
            Method::GET,
            "/api/v2/CloudAccounts",
            Some(&bearer),
            &[],
            None,
        )
        .await;
    assert_eq!(with_bearer.status, 200);

    let none = api
        .call(Method::GET, "/api/v2/CloudAccounts", None, &[], None)
        .await;
    assert_eq!(none.status, 401);
    let made_up = api
        .call(
            Method::GET,
            "/api/v2/CloudAccounts",
            Some("_made_up"),
            &[],
            None,
        )
        .await;
    assert_eq!(made_up.status, 401);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = api.list(&token).await;
    assert_eq!(expired.status, 401);
    assert!(expired.message().contains("expired"), "{}", expired.text);
}

#[tokio::test]
async fn sub_accounts_are_selected_case_insensitively() {
    let api = Api::default().await;
    let token = api.token().await;
    let created = api
        .create(
            &token,
            &[("Account-Name", "PROD")],
            aws_cfg("prod-1", "123456789012"),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let record = &created.body["data"];
    let guid = record["intgGuid"].as_str().unwrap();
    assert!(
        guid.starts_with("PROD_") && guid.len() == "PROD_".len() + 47,
        "{guid}"
    );
    assert_eq!(record["type"], "AwsCfg");
    assert_eq!(record["enabled"], 1);
    assert_eq!(record["isOrg"], 0);
    assert_eq!(record["state"]["ok"], true);
    assert!(record["state"]["lastUpdatedTime"].is_i64());
    assert!(
        record["createdOrUpdatedTime"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(record["data"]["awsAccountId"], "123456789012");

    let in_prod = api
        .call(
            Method::GET,
            "/api/v2/CloudAccounts",
            Some(&token),
            &[("Account-Name", "prod")],
            None,
        )
        .await;
    assert_eq!(in_prod.body["data"].as_array().unwrap().len(), 1);
    let in_primary = api.list(&token).await;
    assert_eq!(in_primary.body["data"], json!([]));

    let path = format!("/api/v2/CloudAccounts/{guid}");
    let got = api
        .call(
            Method::GET,
            &path,
            Some(&token),
            &[("Account-Name", "Prod")],
            None,
        )
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["data"], *record);
    let elsewhere = api.call(Method::GET, &path, Some(&token), &[], None).await;
    assert_eq!(elsewhere.status, 404);

    let by_type = api
        .call(
            Method::GET,
            "/api/v2/CloudAccounts/AwsCfg",
            Some(&token),
            &[("Account-Name", "prod")],
            None,
        )
        .await;
    assert_eq!(by_type.body["data"].as_array().unwrap().len(), 1);
    let other_type = api
        .call(
            Method::GET,
            "/api/v2/CloudAccounts/AwsCtSqs",
            Some(&token),
            &[("Account-Name", "prod")],
            None,
        )
        .await;
    assert_eq!(other_type.body["data"], json!([]));
    let bogus = api
        .call(
            Method::GET,
            "/api/v2/CloudAccounts/Bogus",
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(bogus.status, 400);
    // A guid drawn from A-Z and 0-9 (the Go SDK's intgguid alphabet) is well formed: 404.
    let mock_guid = format!(
        "MOCK_{}",
        "Z9Y8X7W6V5U4T3S2R1Q0PONMLKJIHG"
            .repeat(2)
            .get(..47)
            .unwrap()
    );
    let absent = api
        .call(
            Method::GET,
            &format!("/api/v2/CloudAccounts/{mock_guid}"),
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(absent.status, 404, "{}", absent.text);

    let unknown = api
        .create(
            &token,
            &[("Account-Name", "nobody")],
            aws_cfg("x", "123456789013"),
        )
        .await;
    assert_eq!(unknown.status, 403);
    assert!(unknown.message().contains("nobody"));
    let org_ignores_name = api
        .call(
            Method::GET,
            "/api/v2/CloudAccounts",
            Some(&token),
            &[("Account-Name", "nobody"), ("Org-Access", "true")],
            None,
        )
        .await;
    assert_eq!(org_ignores_name.status, 200);
}

#[tokio::test]
async fn bad_records_are_refused_with_the_field_named() {
    let api = Api::default().await;
    let token = api.token().await;
    let mut bad_role = aws_cfg("x", "123456789012");
    bad_role["data"]["crossAccountCredentials"]["roleArn"] =
        json!("arn:aws:iam::123456789012:user/u");
    let mut bad_queue = aws_ct_sqs("ct", None);
    bad_queue["data"]["queueUrl"] = json!("https://example.com/q");
    let mut extra = aws_cfg("x", "123456789012");
    extra["data"]["bucket"] = json!("b");
    let mut empty_external = aws_cfg("x", "123456789012");
    empty_external["data"]["crossAccountCredentials"]["externalId"] = json!("");
    let mut bad_account = aws_cfg("x", "123456789012");
    bad_account["data"]["awsAccountId"] = json!("12345");
    let mut bad_enabled = aws_cfg("x", "123456789012");
    bad_enabled["enabled"] = json!(2);
    let cases = [
        (bad_role, "roleArn"),
        (bad_queue, "queueUrl"),
        (extra, "$.data.bucket"),
        (empty_external, "externalId"),
        (bad_account, "awsAccountId"),
        (bad_enabled, "$.enabled"),
        (
            json!({"type": "AwsCfg", "enabled": 1, "data": {}}),
            "$.name",
        ),
        (
            json!({"name": "x", "type": "Nope", "enabled": 1, "data": {}}),
            "$.type",
        ),
    ];
    for (body, field) in cases {
        let answer = api.create(&token, &[], body).await;
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert!(
            answer.message().contains(field),
            "{} should name {field}",
            answer.text
        );
    }
    let not_json = api
        .http
        .post(format!("{}/api/v2/CloudAccounts", api.emulator.url))
        .header("Authorization", &token)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status().as_u16(), 415, "Content-Type is required");
}

#[tokio::test]
async fn a_second_aws_cfg_for_an_account_is_refused() {
    let api = Api::default().await;
    let token = api.token().await;
    let first = api
        .create(&token, &[], aws_cfg("one", "123456789012"))
        .await;
    assert_eq!(first.status, 201);
    // Same account, named only through the role ARN this time.
    let mut second = aws_cfg("two", "123456789012");
    second["data"]
        .as_object_mut()
        .unwrap()
        .remove("awsAccountId");
    let duplicate = api.create(&token, &[], second.clone()).await;
    assert_eq!(duplicate.status, 400);
    assert!(
        duplicate.message().contains("aws account is already used"),
        "{}",
        duplicate.text
    );
    let other_scope = api.create(&token, &[("Account-Name", "dev")], second).await;
    assert_eq!(other_scope.status, 201, "scopes are separate");
    let same_name = api
        .create(&token, &[], aws_cfg("one", "123456789099"))
        .await;
    assert_eq!(same_name.status, 201, "names need not be unique");
}

#[tokio::test]
async fn mapping_files_only_at_org_level() {
    let api = Api::default().await;
    let token = api.token().await;
    let mapping = json!({
        "defaultLaceworkAccountAws": "acme",
        "integration_mappings": {"PROD": {"aws_accounts": ["123456789012", "123456789013"]}}
    });
    let at_account = api
        .create(&token, &[], aws_ct_sqs("ct", Some(&mapping)))
        .await;
    assert_eq!(at_account.status, 400);
    assert!(
        at_account.message().contains(
            "AccountMappingFile or AccountMapping is for Org Level Cloud trail Integration only."
        ),
        "{}",
        at_account.text
    );
    assert!(
        at_account.message().contains("accountMappingFile"),
        "{}",
        at_account.text
    );
    let at_sub_account = api
        .create(
            &token,
            &[("Account-Name", "prod")],
            aws_ct_sqs("ct", Some(&mapping)),
        )
        .await;
    assert_eq!(at_sub_account.status, 400);

    let org = [("Org-Access", "true")];
    let created = api
        .create(&token, &org, aws_ct_sqs("ct", Some(&mapping)))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["data"]["isOrg"], 1);
    let guid = created.body["data"]["intgGuid"]
        .as_str()
        .unwrap()
        .to_string();
    let got = api
        .call(
            Method::GET,
            &format!("/api/v2/CloudAccounts/{guid}"),
            Some(&token),
            &org,
            None,
        )
        .await;
    assert!(
        got.body["data"]["data"]["accountMappingFile"]
            .as_str()
            .unwrap()
            .starts_with("data:application/json;name=i.json;base64,")
    );

    let state = api.state().await;
    assert_eq!(state["mappingFiles"][0]["mapping"], mapping);
    assert_eq!(state["mappingFiles"][0]["intgGuid"], guid.as_str());
    assert_eq!(state["integrations"]["org"].as_array().unwrap().len(), 1);

    let unknown_account = json!({
        "defaultLaceworkAccountAws": "acme",
        "integration_mappings": {"ghost": {"aws_accounts": ["123456789012"]}}
    });
    let refused = api
        .create(&token, &org, aws_ct_sqs("ct2", Some(&unknown_account)))
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused.message().contains("ghost"), "{}", refused.text);
    let mut not_base64 = aws_ct_sqs("ct3", None);
    not_base64["data"]["accountMappingFile"] = json!("data:application/json;name=i.json;base64,%%");
    let refused = api.create(&token, &org, not_base64).await;
    assert_eq!(refused.status, 400);
}

#[tokio::test]
async fn update_merges_and_delete_answers_204_then_404() {
    let api = Api::default().await;
    let token = api.token().await;
    let created = api
        .create(&token, &[], aws_cfg("one", "123456789012"))
        .await;
    let guid = created.body["data"]["intgGuid"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v2/CloudAccounts/{guid}");

    let patch = json!({"name": "renamed", "enabled": 0, "data": {"crossAccountCredentials": {"externalId": "lweid:aws:v2:acme:123456789012:New"}}});
    let updated = api
        .call(Method::PATCH, &path, Some(&token), &[], Some(patch))
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let record = &updated.body["data"];
    assert_eq!(record["name"], "renamed");
    assert_eq!(record["enabled"], 0);
    assert_eq!(record["data"]["awsAccountId"], "123456789012");
    assert_eq!(
        record["data"]["crossAccountCredentials"]["roleArn"],
        "arn:aws:iam::123456789012:role/lacework-cross-account"
    );
    let read_only = api
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            &[],
            Some(json!({"isOrg": 1})),
        )
        .await;
    assert_eq!(read_only.status, 400);

    let deleted = api
        .call(Method::DELETE, &path, Some(&token), &[], None)
        .await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.text.is_empty());
    let gone = api.call(Method::GET, &path, Some(&token), &[], None).await;
    assert_eq!(gone.status, 404);
    let again = api
        .call(Method::DELETE, &path, Some(&token), &[], None)
        .await;
    assert_eq!(again.status, 404);
    let patch_gone = api
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            &[],
            Some(json!({"enabled": 1})),
        )
        .await;
    assert_eq!(patch_gone.status, 404);
}

#[tokio::test]
async fn search_filters_and_pages() {
    let api = Api::start(Options {
        page_size: 2,
        ..Options::default()
    })
    .await;
    let token = api.token().await;
    for index in 0..7 {
        let answer = api
            .create(
                &token,
                &[],
                aws_cfg(&format!("tower-{index}"), &format!("10000000000{index}")),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
    }
    let ct = api.create(&token, &[], aws_ct_sqs("trail", None)).await;
    assert_eq!(ct.status, 201, "{}", ct.text);

    let search = |body: Value| {
        let api = &api;
        let token = token.clone();
        async move {
            api.call(
                Method::POST,
                "/api/v2/CloudAccounts/search",
                Some(&token),
                &[],
                Some(body),
            )
            .await
        }
    };

    // like + paging over four pages, following nextPage with GET.
    let mut answer = search(json!({
        "filters": [{"field": "name", "expression": "like", "value": "tower-%"}],
        "returns": ["intgGuid", "name"]
    }))
    .await;
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        assert_eq!(answer.status, 200, "{}", answer.text);
        pages += 1;
        let paging = &answer.body["paging"];
        assert_eq!(paging["totalRows"], 7);
        let rows = answer.body["data"].as_array().unwrap();
        assert_eq!(paging["rows"], rows.len());
        assert!(rows.len() <= 2);
        for row in rows {
            assert_eq!(row.as_object().unwrap().len(), 2, "returns projects: {row}");
            names.push(row["name"].as_str().unwrap().to_string());
        }
        match paging["urls"]["nextPage"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&api.emulator.url), "absolute: {next}");
                // The shape of the Go SDK's paging fixture (facts table, C26).
                assert!(
                    next[api.emulator.url.len()..].starts_with("/api/v2/NextPage/"),
                    "next-page path: {next}"
                );
                answer = api.send(Method::GET, next, Some(&token), &[], None).await;
            }
            None => break,
        }
    }
    assert_eq!(pages, 4);
    let expected: Vec<String> = (0..7).map(|i| format!("tower-{i}")).collect();
    assert_eq!(names, expected);

    let eq = search(json!({"filters": [
        {"field": "data.awsAccountId", "expression": "eq", "value": "100000000003"}
    ]}))
    .await;
    assert_eq!(eq.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(eq.body["data"][0]["name"], "tower-3");
    assert!(eq.body["paging"]["urls"]["nextPage"].is_null());

    let within = search(json!({"filters": [
        {"field": "name", "expression": "in", "values": ["tower-1", "tower-5", "missing"]},
        {"field": "type", "expression": "eq", "value": "AwsCfg"}
    ]}))
    .await;
    assert_eq!(within.body["paging"]["totalRows"], 2);

    let by_type =
        search(json!({"filters": [{"field": "type", "expression": "eq", "value": "AwsCtSqs"}]}))
            .await;
    assert_eq!(by_type.body["data"][0]["name"], "trail");

    // Nothing found: 204 with an empty body, as Lacework answers (python-sdk http_session.py).
    let nothing = search(json!({"filters": [
        {"field": "name", "expression": "eq", "value": "no-such-integration"}
    ]}))
    .await;
    assert_eq!(nothing.status, 204);
    assert!(nothing.text.is_empty(), "{}", nothing.text);

    let bad_field =
        search(json!({"filters": [{"field": "enabled", "expression": "eq", "value": "1"}]})).await;
    assert_eq!(bad_field.status, 400);
    assert!(bad_field.message().contains("$.filters[0].field"));

    // A page is served only to the scope that ran the search.
    let first = search(json!({})).await;
    let next = first.body["paging"]["urls"]["nextPage"]
        .as_str()
        .unwrap()
        .to_string();
    let other_scope = api
        .send(
            Method::GET,
            &next,
            Some(&token),
            &[("Org-Access", "true")],
            None,
        )
        .await;
    assert_eq!(other_scope.status, 404);
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let api = Api::start(Options {
        rate_limit: Some(RateLimit {
            requests: 3,
            per: Duration::from_secs(60),
        }),
        ..Options::default()
    })
    .await;
    let token = api.token().await; // 1
    for _ in 0..2 {
        let answer = api.list(&token).await;
        assert_eq!(answer.status, 200);
    }
    let limited = api.list(&token).await;
    assert_eq!(limited.status, 429);
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(limited.message().contains("rate limit"));
    let token_too = api
        .token_answer("_secret", json!({"keyId": "ACME_KEY_ID", "expiryTime": 60}))
        .await;
    assert_eq!(
        token_too.status, 429,
        "token requests count against the key as well"
    );
    let inspection = api
        .call(Method::GET, "/__emulator/state", None, &[], None)
        .await;
    assert_eq!(inspection.status, 200, "inspection is not rate limited");
}

#[tokio::test]
async fn rate_limit_headers_are_sent_only_when_asked_for_and_count_down() {
    let limited = |rate_limit_headers| Options {
        rate_limit: Some(RateLimit {
            requests: 3,
            per: Duration::from_secs(60),
        }),
        rate_limit_headers,
        ..Options::default()
    };
    let header = |answer: &Answer, name: &str| {
        answer
            .headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };

    let quiet = Api::start(limited(false)).await;
    let token = quiet.token().await;
    let answer = quiet.list(&token).await;
    assert_eq!(
        header(&answer, "ratelimit-remaining"),
        None,
        "off by default"
    );

    let api = Api::start(limited(true)).await;
    let token = api.token().await; // 1 of 3
    let mut seen = Vec::new();
    for _ in 0..3 {
        let answer = api.list(&token).await;
        assert_eq!(header(&answer, "ratelimit-limit").as_deref(), Some("3"));
        let reset: u64 = header(&answer, "ratelimit-reset").unwrap().parse().unwrap();
        assert!((1..=60).contains(&reset), "{reset}");
        seen.push((answer.status, header(&answer, "ratelimit-remaining")));
    }
    assert_eq!(
        seen,
        [
            (200, Some("1".to_owned())),
            (200, Some("0".to_owned())),
            (429, Some("0".to_owned())),
        ]
    );
    // A counted request that fails still says what is left.
    api.emulator.advance_clock(Duration::from_secs(60));
    let unknown = format!("/api/v2/CloudAccounts/ACME_{}", "0".repeat(47));
    let missing = api
        .call(Method::GET, &unknown, Some(&token), &[], None)
        .await;
    assert_eq!(missing.status, 404, "{}", missing.message());
    assert_eq!(
        header(&missing, "ratelimit-remaining").as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn an_advanced_clock_slides_the_rate_window_and_expires_tokens() {
    let api = Api::start(Options {
        rate_limit: Some(RateLimit {
            requests: 2,
            per: Duration::from_secs(3600),
        }),
        token_ttl: Duration::from_secs(600),
        ..Options::default()
    })
    .await;
    let list = |token: String| {
        let api = &api;
        async move { api.list(&token).await.status }
    };
    let token = api.token().await; // 1
    assert_eq!(list(token.clone()).await, 200); // 2
    assert_eq!(list(token.clone()).await, 429);
    api.emulator.advance_clock(Duration::from_secs(3600));
    assert_eq!(
        list(token.clone()).await,
        401,
        "the token lived 600 s of emulator time"
    );
    let renewed = api.token().await;
    assert_eq!(list(renewed).await, 200, "the hour's window has slid");
}

#[tokio::test]
async fn the_request_log_can_be_emptied_alone() {
    let api = Api::default().await;
    let token = api.token().await;
    let log = || async {
        api.call(Method::GET, "/__emulator/requests", None, &[], None)
            .await
            .body["requests"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(log().await, 1);
    let emptied = api
        .call(Method::DELETE, "/__emulator/requests", None, &[], None)
        .await;
    assert_eq!(emptied.status, 204);
    assert_eq!(log().await, 0);
    let still = api.list(&token).await;
    assert_eq!(still.status, 200, "tokens and integrations are kept");
}

#[tokio::test]
async fn faults_fail_or_delay_the_next_requests() {
    let api = Api::default().await;
    let token = api.token().await;
    let fault = api
        .call(
            Method::POST,
            "/__emulator/faults",
            None,
            &[],
            Some(json!({"path_prefix": "/api/v2/CloudAccounts", "status": 503, "count": 2})),
        )
        .await;
    assert_eq!(fault.status, 201, "{}", fault.text);
    for _ in 0..2 {
        let failed = api.list(&token).await;
        assert_eq!(failed.status, 503);
        assert!(failed.message().contains("injected"));
    }
    let healthy = api.list(&token).await;
    assert_eq!(healthy.status, 200);

    let delay = api
        .call(
            Method::POST,
            "/__emulator/faults",
            None,
            &[],
            Some(json!({"path_prefix": "/api/v2/CloudAccounts", "delay_ms": 300})),
        )
        .await;
    assert_eq!(delay.status, 201);
    let started = Instant::now();
    let slow = api.list(&token).await;
    assert_eq!(slow.status, 200, "a delay-only fault then handles normally");
    assert!(started.elapsed() >= Duration::from_millis(300));

    let bad = api
        .call(
            Method::POST,
            "/__emulator/faults",
            None,
            &[],
            Some(json!({"status": 500})),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.message().contains("path_prefix"));

    let log = api
        .call(Method::GET, "/__emulator/requests", None, &[], None)
        .await;
    let faulted = log.body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["fault"] == true)
        .count();
    assert_eq!(faulted, 3);
}

#[tokio::test]
async fn the_request_log_holds_no_secrets() {
    let api = Api::default().await;
    let token = api.token().await;
    let created = api
        .create(
            &token,
            &[("Account-Name", "prod")],
            aws_cfg("one", "123456789012"),
        )
        .await;
    assert_eq!(created.status, 201);
    let log = api
        .call(Method::GET, "/__emulator/requests", None, &[], None)
        .await;
    assert_eq!(log.status, 200);
    let entries = log.body["requests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["method"], "POST");
    assert_eq!(entries[1]["path"], "/api/v2/CloudAccounts");
    assert_eq!(entries[1]["accountName"], "prod");
    assert_eq!(entries[1]["status"], 201);
    let micros = entries[1]["durationMicros"].as_u64().unwrap();
    assert!(micros > 0, "a create takes some time to answer");
    assert_eq!(entries[1]["durationMs"], micros / 1000);
    for secret in [token.as_str(), "_secret", "S3cretSuffix"] {
        assert!(!log.text.contains(secret), "the log leaks {secret}");
    }
    let state = api.state().await.to_string();
    assert!(
        !state.contains(&token) && !state.contains("_secret"),
        "state leaks a credential"
    );
}

#[tokio::test]
async fn reset_forgets_everything_but_the_options() {
    let api = Api::default().await;
    let token = api.token().await;
    api.create(&token, &[], aws_cfg("one", "123456789012"))
        .await;
    api.call(
        Method::POST,
        "/__emulator/faults",
        None,
        &[],
        Some(json!({"path_prefix": "/nowhere", "status": 500})),
    )
    .await;
    let reset = api
        .call(Method::POST, "/__emulator/reset", None, &[], None)
        .await;
    assert_eq!(reset.status, 204);
    let state = api.state().await;
    assert_eq!(state["integrations"]["acme"], json!([]));
    assert_eq!(state["tokens"]["issued"], 0);
    assert_eq!(state["faults"], json!([]));
    assert_eq!(state["subAccounts"], json!(["acme", "prod", "dev"]));
    let log = api
        .call(Method::GET, "/__emulator/requests", None, &[], None)
        .await;
    assert_eq!(log.body["requests"], json!([]));
    let old_token = api.list(&token).await;
    assert_eq!(old_token.status, 401);
    let new_token = api.token().await;
    let works = api
        .call(
            Method::GET,
            "/api/v2/CloudAccounts",
            Some(&new_token),
            &[],
            None,
        )
        .await;
    assert_eq!(works.status, 200);
}

#[tokio::test]
async fn the_binary_prints_its_address_serves_and_stops_on_sigterm() {
    use std::io::BufRead;

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lacework-emulator"))
        .args([
            "--port",
            "0",
            "--account",
            "Tower",
            "--sub-accounts",
            "a,b",
            "--secret",
            "s3",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(line);
    });
    let line = match receiver.recv_timeout(Duration::from_secs(10)) {
        Ok(line) => line,
        Err(error) => {
            let _ = child.kill();
            panic!("no start line: {error}");
        }
    };
    let line = line.trim_end();
    assert!(line.starts_with("{\"url\": \"http://127.0.0.1:"), "{line}");
    let started: Value = serde_json::from_str(line).unwrap();
    let url = started["url"].as_str().unwrap().to_string();
    let port = started["port"].as_u64().unwrap();
    assert_eq!(url, format!("http://127.0.0.1:{port}"));

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let answer = http
        .post(format!("{url}/api/v2/access/tokens"))
        .header("X-LW-UAKS", "s3")
        .json(&json!({"keyId": "ACME_KEY_ID", "expiryTime": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 201);
    let state: Value = http
        .get(format!("{url}/__emulator/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["subAccounts"], json!(["tower", "a", "b"]));
    drop(http);

    // SIGTERM (to this child only, by its id) ends it cleanly with status 0.
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the emulator did not stop on SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}
