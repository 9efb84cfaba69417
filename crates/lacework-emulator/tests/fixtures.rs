//! The real-shaped fixtures in `events/lacework/` against the emulator: the request bodies
//! Lacework's own clients send are accepted, and the emulator answers in the shape those
//! clients' test fixtures show.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use lacework_emulator::{Emulator, Options};
use reqwest::Method;
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/lacework")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default()
}

struct Api {
    emulator: Emulator,
    http: reqwest::Client,
    token: String,
}

impl Api {
    async fn start() -> Api {
        let token_request = fixture("requests/token.json");
        let emulator = lacework_emulator::start(Options {
            account: "northwind".into(),
            sub_accounts: vec!["nw-prod".into(), "nw-dev".into()],
            key_id: token_request["keyId"].as_str().unwrap().into(),
            secret: "_fixture_secret".into(),
            ..Options::default()
        })
        .await
        .unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let answer = http
            .post(format!("{}/api/v2/access/tokens", emulator.url))
            .header("X-LW-UAKS", "_fixture_secret")
            .json(&token_request)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 201);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(keys(&body), keys(&fixture("responses/token.json")));
        let token = body["token"].as_str().unwrap().to_string();
        Api {
            emulator,
            http,
            token,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.emulator.url))
            // The Go SDK and the Control Tower anchor send the bare token.
            .header("Authorization", &self.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, value)
    }
}

/// The emulator's record has the top-level fields and `state` fields of the fixture record.
fn assert_same_shape(ours: &Value, theirs: &Value) {
    assert_eq!(keys(ours), keys(theirs), "record fields: {ours}");
    assert_eq!(
        keys(&ours["state"]),
        keys(&theirs["state"]),
        "state: {ours}"
    );
    for flag in ["enabled", "isOrg"] {
        assert!(ours[flag].is_u64(), "{flag} is a number: {ours}");
    }
    assert!(
        ours["state"]["lastUpdatedTime"].is_u64(),
        "epoch ms: {ours}"
    );
}

#[tokio::test]
async fn real_client_requests_are_accepted_and_answered_in_the_real_shape() {
    let api = Api::start().await;
    // The Python SDK sends Org-Access: false next to Account-Name on every call.
    let prod = [("Account-Name", "nw-prod"), ("Org-Access", "false")];

    let (status, created) = api
        .call(
            Method::POST,
            "/api/v2/CloudAccounts",
            &prod,
            Some(&fixture("requests/create-aws-ct-sqs.json")),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_same_shape(
        &created["data"],
        &fixture("responses/create-aws-ct-sqs.json")["data"],
    );

    let with_mapping = fixture("requests/create-aws-ct-sqs-with-mapping.json");
    let (status, refused) = api
        .call(
            Method::POST,
            "/api/v2/CloudAccounts",
            &prod,
            Some(&with_mapping),
        )
        .await;
    assert_eq!(status, 400);
    let expected = fixture("responses/error-mapping-not-org-level.json");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains(expected["message"].as_str().unwrap()),
        "{refused}"
    );
    let (status, org_level) = api
        .call(
            Method::POST,
            "/api/v2/CloudAccounts",
            &[("Org-Access", "true")],
            Some(&with_mapping),
        )
        .await;
    assert_eq!(status, 201, "{org_level}");
    assert_eq!(org_level["data"]["isOrg"], 1);
    assert_eq!(
        org_level["data"]["data"]["accountMappingFile"], with_mapping["data"]["accountMappingFile"],
        "the mapping file is returned as sent"
    );
    assert_same_shape(
        &org_level["data"],
        &fixture("responses/create-aws-ct-sqs-with-mapping.json")["data"],
    );

    let (status, cfg) = api
        .call(
            Method::POST,
            "/api/v2/CloudAccounts",
            &prod,
            Some(&fixture("requests/create-aws-cfg.json")),
        )
        .await;
    assert_eq!(status, 201, "{cfg}");
    assert_same_shape(
        &cfg["data"],
        &fixture("responses/create-aws-cfg.json")["data"],
    );
    let guid = cfg["data"]["intgGuid"].as_str().unwrap().to_string();

    let (status, listed) = api
        .call(Method::GET, "/api/v2/CloudAccounts/AwsCfg", &prod, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(keys(&listed), keys(&fixture("responses/list-aws-cfg.json")));

    // The Go SDK's update sends the whole record, intgGuid and type included.
    let mut update = fixture("requests/update-aws-cfg.json");
    update["intgGuid"] = json!(guid);
    let (status, updated) = api
        .call(
            Method::PATCH,
            &format!("/api/v2/CloudAccounts/{guid}"),
            &prod,
            Some(&update),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["data"]["enabled"], 0);
    assert_same_shape(
        &updated["data"],
        &fixture("responses/update-aws-cfg.json")["data"],
    );

    let (status, found) = api
        .call(
            Method::POST,
            "/api/v2/CloudAccounts/search",
            &prod,
            Some(&fixture("requests/search-by-name.json")),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    let page = fixture("responses/search-by-name.json");
    assert_eq!(keys(&found), keys(&page));
    assert_eq!(keys(&found["paging"]), keys(&page["paging"]));
    assert_eq!(
        keys(&found["data"][0]),
        keys(&page["data"][0]),
        "returns projects"
    );

    let (status, by_account) = api
        .call(
            Method::POST,
            "/api/v2/CloudAccounts/search",
            &prod,
            Some(&fixture("requests/search-by-aws-account.json")),
        )
        .await;
    assert_eq!(status, 200, "{by_account}");
    assert_eq!(by_account["paging"]["totalRows"], 1);

    let (status, gone) = api
        .call(
            Method::DELETE,
            &format!("/api/v2/CloudAccounts/{guid}"),
            &prod,
            None,
        )
        .await;
    assert_eq!((status, gone), (204, Value::Null));
    let (status, nothing) = api
        .call(
            Method::POST,
            "/api/v2/CloudAccounts/search",
            &prod,
            Some(&fixture("requests/search-by-name.json")),
        )
        .await;
    assert_eq!((status, nothing), (204, Value::Null), "nothing found: 204");
}

#[test]
fn the_exchange_index_names_existing_files() {
    let index = fixture("exchanges.json");
    for exchange in index["exchanges"].as_array().unwrap() {
        for side in ["request", "response"] {
            if let Some(file) = exchange[side]["body"].as_str() {
                fixture(file);
            }
        }
    }
}
