//! The StackSets adapter against replayed HTTP conversations: what moto cannot model
//! (pagination of `ListStackInstances`, AWS's error codes, the retain-stacks delete and the
//! instance update) checked through the same SDK code that runs in AWS.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use lwct_aws::stacksets::{StackSets, StackSetsClient, Stacks};
use lwct_domain::AccountId;
use lwct_domain::lifecycle::InstanceState;

const ENDPOINT: &str = "https://cloudformation.us-east-1.amazonaws.com/";

fn client(replay: &StaticReplayClient) -> Client {
    let config = aws_sdk_cloudformation::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .http_client(replay.clone())
        // One attempt per call: a replayed error must reach the adapter, not the SDK's retry.
        .retry_config(aws_sdk_cloudformation::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

fn exchange(status: u16, response: String) -> ReplayEvent {
    ReplayEvent::new(
        http::Request::builder()
            .method("POST")
            .uri(ENDPOINT)
            .body(SdkBody::empty())
            .unwrap(),
        http::Response::builder()
            .status(status)
            .header("content-type", "text/xml")
            .body(SdkBody::from(response))
            .unwrap(),
    )
}

fn summary(account: &str, status: &str, detailed: &str) -> String {
    format!(
        "<member><StackSetId>lacework-ct-member:1</StackSetId><Region>us-east-1</Region>\
         <Account>{account}</Account><Status>{status}</Status>\
         <StackInstanceStatus><DetailedStatus>{detailed}</DetailedStatus></StackInstanceStatus>\
         </member>"
    )
}

fn page(members: &[String], next_token: Option<&str>) -> String {
    let token = next_token
        .map(|t| format!("<NextToken>{t}</NextToken>"))
        .unwrap_or_default();
    format!(
        "<ListStackInstancesResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
         <ListStackInstancesResult><Summaries>{}</Summaries>{token}</ListStackInstancesResult>\
         <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></ListStackInstancesResponse>",
        members.concat()
    )
}

fn error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
         <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>r</RequestId></ErrorResponse>"
    )
}

fn bodies(replay: &StaticReplayClient) -> Vec<String> {
    replay
        .actual_requests()
        .map(|request| {
            String::from_utf8(request.body().bytes().unwrap_or_default().to_vec()).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn list_stack_instances_reads_every_page() {
    let replay = StaticReplayClient::new(vec![
        exchange(
            200,
            page(
                &[
                    summary("222233334444", "CURRENT", "SUCCEEDED"),
                    summary("222233335555", "OUTDATED", "FAILED"),
                ],
                Some("page-2"),
            ),
        ),
        exchange(
            200,
            page(
                &[summary("222233336666", "OUTDATED", "RUNNING")],
                Some("page-3"),
            ),
        ),
        exchange(
            200,
            page(&[summary("222233337777", "INOPERABLE", "INOPERABLE")], None),
        ),
    ]);
    let stack_sets = StackSetsClient::new(client(&replay));
    let instances = stack_sets
        .list_stack_instances("lacework-ct-member")
        .await
        .unwrap();
    let accounts: Vec<&str> = instances
        .iter()
        .map(|i| i.target.account.as_str())
        .collect();
    assert_eq!(
        accounts,
        [
            "222233334444",
            "222233335555",
            "222233336666",
            "222233337777"
        ]
    );
    let states: Vec<InstanceState> = instances.iter().map(|i| i.state).collect();
    use InstanceState::*;
    assert_eq!(states, [Current, Outdated, Busy, Inoperable]);

    let sent = bodies(&replay);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(sent[0].contains("Action=ListStackInstances"), "{}", sent[0]);
    assert!(
        sent[0].contains("StackSetName=lacework-ct-member"),
        "{}",
        sent[0]
    );
    assert!(!sent[0].contains("NextToken"), "{}", sent[0]);
    assert!(sent[1].contains("NextToken=page-2"), "{}", sent[1]);
    assert!(sent[2].contains("NextToken=page-3"), "{}", sent[2]);
}

#[tokio::test]
async fn a_stack_set_that_does_not_exist_has_no_instances() {
    let replay = StaticReplayClient::new(vec![exchange(
        404,
        error(
            "StackSetNotFoundException",
            "StackSet lacework-ct-member not found",
        ),
    )]);
    let stack_sets = StackSetsClient::new(client(&replay));
    assert!(
        stack_sets
            .list_stack_instances("lacework-ct-member")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn deleting_a_stack_set_that_is_gone_succeeds() {
    // The SDK models no StackSetNotFoundException for DeleteStackSet; AWS sends it anyway.
    let replay = StaticReplayClient::new(vec![
        exchange(
            404,
            error(
                "StackSetNotFoundException",
                "StackSet lacework-ct-member not found",
            ),
        ),
        exchange(400, error("StackSetNotEmptyException", "It has instances")),
    ]);
    let stack_sets = StackSetsClient::new(client(&replay));
    stack_sets
        .delete_stack_set("lacework-ct-member")
        .await
        .unwrap();
    let refused = stack_sets
        .delete_stack_set("lacework-ct-member")
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("StackSetNotEmptyException"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_busy_stack_set_is_a_retryable_error_and_a_refusal_is_not() {
    let replay = StaticReplayClient::new(vec![
        exchange(
            409,
            error(
                "OperationInProgressException",
                "Another Operation on StackSet is in progress",
            ),
        ),
        exchange(400, error("ValidationError", "Account 1 is not valid")),
    ]);
    let stack_sets = StackSetsClient::new(client(&replay));
    let accounts = [AccountId::parse("222233334444").unwrap()];
    let regions = ["us-east-1".to_owned()];
    let busy = stack_sets
        .create_stack_instances("lacework-ct-member", &accounts, &regions, "op-1")
        .await
        .unwrap_err();
    assert!(busy.is_retryable(), "{busy}");
    assert!(
        busy.to_string().contains("OperationInProgressException"),
        "{busy}"
    );
    let refused = stack_sets
        .create_stack_instances("lacework-ct-member", &accounts, &regions, "op-2")
        .await
        .unwrap_err();
    assert!(!refused.is_retryable(), "{refused}");
}

#[tokio::test]
async fn deletes_retain_stacks_and_repairs_update_the_instances() {
    let answer = |action: &str| {
        format!(
            "<{action}Response xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
             <{action}Result><OperationId>op-from-aws</OperationId></{action}Result>\
             </{action}Response>"
        )
    };
    let replay = StaticReplayClient::new(vec![
        exchange(200, answer("DeleteStackInstances")),
        exchange(200, answer("UpdateStackInstances")),
    ]);
    let stack_sets = StackSetsClient::new(client(&replay));
    let accounts = [
        AccountId::parse("222233334444").unwrap(),
        AccountId::parse("222233335555").unwrap(),
    ];
    let regions = ["us-east-1".to_owned()];
    let deleted = stack_sets
        .delete_stack_instances(
            "lacework-ct-member",
            &accounts,
            &regions,
            Stacks::Retain,
            "op-delete",
        )
        .await
        .unwrap();
    assert_eq!(deleted, "op-from-aws");
    let repaired = stack_sets
        .update_stack_instances("lacework-ct-member", &accounts, &regions, "op-repair")
        .await
        .unwrap();
    assert_eq!(repaired, "op-from-aws");

    let sent = bodies(&replay);
    assert!(
        sent[0].contains("Action=DeleteStackInstances"),
        "{}",
        sent[0]
    );
    assert!(sent[0].contains("RetainStacks=true"), "{}", sent[0]);
    assert!(sent[0].contains("OperationId=op-delete"), "{}", sent[0]);
    assert!(
        sent[0].contains("Accounts.member.2=222233335555"),
        "{}",
        sent[0]
    );
    assert!(
        sent[0].contains("OperationPreferences.FailureTolerancePercentage=100"),
        "{}",
        sent[0]
    );
    assert!(
        sent[1].contains("Action=UpdateStackInstances"),
        "{}",
        sent[1]
    );
    assert!(!sent[1].contains("ParameterOverrides"), "{}", sent[1]);
}
