//! The Secrets Manager adapter against a replayed HTTP conversation: which earlier versions
//! it reads, in which order, looking for the external id suffix.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use lwct_aws::secrets::{SecretPort, SecretStore};

fn client(replay: &StaticReplayClient) -> Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .http_client(replay.clone())
        .build();
    Client::from_conf(config)
}

fn exchange(response: String) -> ReplayEvent {
    ReplayEvent::new(
        http::Request::builder()
            .method("POST")
            .uri("https://secretsmanager.us-east-1.amazonaws.com/")
            .body(SdkBody::empty())
            .unwrap(),
        http::Response::builder()
            .status(200)
            .header("content-type", "application/x-amz-json-1.1")
            .body(SdkBody::from(response))
            .unwrap(),
    )
}

/// A `GetSecretValue` answer: the secret's JSON, as a string inside the answer's JSON.
fn version(id: &str, suffix: Option<&str>) -> String {
    let suffix = suffix
        .map(|s| format!(r#",\"externalIdSuffix\":\"{s}\""#))
        .unwrap_or_default();
    format!(
        r#"{{"Name":"s","VersionId":"{id}","SecretString":"{{\"keyId\":\"ACME_KEY\",\"secretKey\":\"_s3cr3t\"{suffix}}}"}}"#
    )
}

#[tokio::test]
async fn earlier_versions_are_read_previous_first_then_newest_first() {
    let replay = StaticReplayClient::new(vec![
        exchange(
            r#"{"Versions": [
                {"VersionId": "current", "VersionStages": ["AWSCURRENT"], "CreatedDate": 4.0},
                {"VersionId": "oldest", "VersionStages": [], "CreatedDate": 1.0},
                {"VersionId": "newer", "VersionStages": ["TOWER_PROPOSED"], "CreatedDate": 3.0},
                {"VersionId": "previous", "VersionStages": ["AWSPREVIOUS"], "CreatedDate": 2.0},
                {"VersionStages": [], "CreatedDate": 5.0}
            ]}"#
            .to_owned(),
        ),
        exchange(version("previous", None)),
        exchange(version("newer", Some("StoredSuffix0123"))),
    ]);
    let store = SecretStore::new(client(&replay), "s");
    let suffix = store.earlier_external_id_suffix().await.unwrap().unwrap();
    assert_eq!(suffix.expose(), "StoredSuffix0123");
    let asked: Vec<String> = replay
        .actual_requests()
        .map(|request| {
            String::from_utf8(request.body().bytes().unwrap_or_default().to_vec()).unwrap()
        })
        .collect();
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert!(
        asked[0].contains("\"IncludeDeprecated\":true"),
        "{}",
        asked[0]
    );
    assert!(
        asked[1].contains("\"VersionId\":\"previous\""),
        "{}",
        asked[1]
    );
    assert!(asked[2].contains("\"VersionId\":\"newer\""), "{}", asked[2]);
}
