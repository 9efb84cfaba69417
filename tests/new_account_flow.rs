//! End-to-end tests of the account flows: each test starts its own local landing zone (moto
//! and the Lacework emulator on loopback, a seeded Control Tower organization, OU rules
//! `Prod=prod,Dev=dev`), runs setup and onboards the existing accounts, then changes the
//! organization and delivers the events AWS would: lifecycle events through the account queue
//! to `account-lifecycle`, the member stack instances' custom resource requests through the
//! registration topic to `sns-custom-resource`, the registration drain and `auth-refresh` on
//! their schedules. Every function runs as its real binary.
//!
//! Needs the binaries built (`cargo build --workspace --bins`, which `make test` runs first)
//! and moto (installed into `.venv` on first use).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use landing_zone::cfn::ResponseListener;
use landing_zone::state;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// No test may run longer than this.
const TEST_TIME_LIMIT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_account_gets_an_instance_and_is_registered_in_its_sub_account() {
    within(TEST_TIME_LIMIT, async {
        let mut zone = start(options("new-account")).await;
        set_up_and_onboard(&zone).await;

        let (account, run) = zone
            .enroll_account("Prod Analytics", "Workloads/Prod")
            .await
            .expect("account enrolled");
        assert_handled("CreateManagedAccount", &run);
        assert_eq!(
            instances_of(&zone, &account.id).await,
            1,
            "account-lifecycle created the account's member stack instance"
        );
        let creates: Vec<_> = run
            .registration_requests
            .iter()
            .filter(|request| request.account == account.id.as_str())
            .collect();
        assert_eq!(
            creates.len(),
            1,
            "the instance's custom resource sent one request: {creates:?}"
        );
        assert_eq!(creates[0].request_type, "Create");
        assert!(creates[0].relayed, "the answer reached CloudFormation");
        assert!(
            creates[0].stack_id.starts_with(&format!(
                "arn:aws:cloudformation:us-east-1:{}:stack/StackSet-",
                account.id
            )),
            "the request comes from the instance's stack in the account: {}",
            creates[0].stack_id
        );

        let drained = drain(&zone, "new account").await;
        let registrations = registrations_of(&zone, &account.id).await;
        assert_eq!(
            registrations.len(),
            1,
            "one AwsCfg registration: {registrations:?}"
        );
        // Each function counts its work in Embedded Metric Format lines of its log.
        let lifecycle = metrics_in(&run.batches[0].invocation.log);
        assert!(metric_total(&lifecycle, "account_lifecycle", "AccountsOnboarded") >= 1);
        let sns = metrics_in(&drained.runs[0].log);
        assert!(metric_total(&sns, "sns_custom_resource", "AccountsOnboarded") >= 1);
        assert!(metric_total(&sns, "sns_custom_resource", "CustomResourcesAnswered") >= 1);
        assert_eq!(registrations[0].sub_account, "prod", "{registrations:?}");
        assert_eq!(
            registrations[0].role_arn,
            format!("arn:aws:iam::{}:role/{MEMBER_ROLE}", account.id)
        );
        assert_eq!(
            mapping_of(&zone, &account.id).await,
            ("prod".to_owned(), true)
        );

        // The instance's stack is complete: its role, and its custom resource answered.
        let status = instance_stack_status(&zone, &account.id, &zone.names.member_stack_set).await;
        assert_eq!(status.as_deref(), Some("CREATE_COMPLETE"));
        let resources = instance_resources(&zone, &account.id, &zone.names.member_stack_set).await;
        for (logical_id, resource_type) in [
            ("CrossAccountRole", "AWS::IAM::Role"),
            ("AccountRegistration", "Custom::LaceworkAccountRegistration"),
        ] {
            assert!(
                resources
                    .iter()
                    .any(|r| r.logical_id == logical_id && r.resource_type == resource_type),
                "{logical_id} is in the account's stack: {resources:?}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_delivered_three_times_makes_one_instance_and_one_registration() {
    within(TEST_TIME_LIMIT, async {
        let mut zone = start(options("three-deliveries")).await;
        set_up_and_onboard(&zone).await;
        let account = zone
            .add_account("Prod Analytics", "Workloads/Prod")
            .await
            .expect("account created");
        let ou = zone
            .state
            .organization
            .ou("Workloads/Prod")
            .cloned()
            .expect("the Prod OU");
        let event = zone
            .lifecycle_events()
            .create_managed_account(&account, &ou)
            .expect("event");
        // Twice before the function runs (in one batch), once more after it ran.
        zone.send_lifecycle_event(&event).await.expect("sent");
        zone.send_lifecycle_event(&event).await.expect("sent");
        let first = zone.run_account_queue().await.expect("delivered");
        assert_handled("CreateManagedAccount twice", &first);
        drain(&zone, "first deliveries").await;
        let again = zone
            .deliver_lifecycle_event(&event)
            .await
            .expect("delivered");
        assert_handled("CreateManagedAccount again", &again);
        drain(&zone, "third delivery").await;

        assert_eq!(instances_of(&zone, &account.id).await, 1, "one instance");
        let requests: Vec<_> = zone
            .delivered_requests()
            .into_iter()
            .filter(|request| request.account == account.id.as_str())
            .collect();
        assert_eq!(
            requests.len(),
            1,
            "the instance was created once, so its custom resource asked once: {requests:?}"
        );
        assert_eq!(
            registered_in(&zone, &account.id).await,
            ["prod"],
            "one registration"
        );

        // The same for an account that moves: three MoveAccount deliveries, one registration.
        let moved = zone
            .state
            .organization
            .account_named("Dev Payments")
            .cloned()
            .expect("Dev Payments");
        let to = zone
            .move_account(&moved.id, "Workloads/Prod")
            .await
            .expect("moved");
        let event = zone
            .lifecycle_events()
            .move_account(&moved.id, &to.source_parent_id, &to.destination_parent_id)
            .expect("event");
        for delivery in 1..=3 {
            let run = zone
                .deliver_lifecycle_event(&event)
                .await
                .expect("delivered");
            assert_handled(&format!("MoveAccount delivery {delivery}"), &run);
            drain(&zone, &format!("MoveAccount delivery {delivery}")).await;
        }
        assert_eq!(
            instances_of(&zone, &moved.id).await,
            1,
            "still one instance"
        );
        assert_eq!(registered_in(&zone, &moved.id).await, ["prod"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_account_is_registered_in_its_new_sub_account_and_the_mapping_follows() {
    within(TEST_TIME_LIMIT, async {
        let mut zone = start(options("moved-account")).await;
        set_up_and_onboard(&zone).await;
        let account = zone
            .state
            .organization
            .account_named("Dev Web")
            .cloned()
            .expect("Dev Web");
        assert_eq!(registered_in(&zone, &account.id).await, ["dev"]);
        assert_eq!(
            mapping_of(&zone, &account.id).await,
            ("dev".to_owned(), true)
        );

        let run = zone
            .relocate_account(&account.id, "Workloads/Prod")
            .await
            .expect("moved");
        assert_handled("MoveAccount", &run);
        let drained = drain(&zone, "MoveAccount").await;
        let counted: u64 = drained
            .runs
            .iter()
            .map(|run| {
                metric_total(
                    &metrics_in(&run.log),
                    "sns_custom_resource",
                    "AccountsMoved",
                )
            })
            .sum();
        assert_eq!(counted, 1, "the move is counted once");

        assert_eq!(
            registered_in(&zone, &account.id).await,
            ["prod"],
            "registered in the new sub-account only"
        );
        assert_eq!(
            mapping_of(&zone, &account.id).await,
            ("prod".to_owned(), true),
            "the CloudTrail mapping file follows"
        );
        assert_eq!(
            instances_of(&zone, &account.id).await,
            1,
            "the instance stays"
        );
        // The other accounts are where they were.
        let other = zone
            .state
            .organization
            .account_named("Dev Payments")
            .cloned()
            .expect("Dev Payments");
        assert_eq!(registered_in(&zone, &other.id).await, ["dev"]);
        assert_eq!(mapping_of(&zone, &other.id).await, ("dev".to_owned(), true));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_account_is_deregistered_and_its_instance_removed() {
    within(TEST_TIME_LIMIT, async {
        let mut zone = start(options("closed-account")).await;
        set_up_and_onboard(&zone).await;
        let account = zone
            .state
            .organization
            .account_named("Prod Web")
            .cloned()
            .expect("Prod Web");
        assert_eq!(registered_in(&zone, &account.id).await, ["prod"]);

        zone.close_account(&account.id).await.expect("closed");
        let event = zone
            .lifecycle_events()
            .close_account(&account.id)
            .expect("event");
        for delivery in 1..=3 {
            let run = zone
                .deliver_lifecycle_event(&event)
                .await
                .expect("delivered");
            assert_handled(&format!("CloseAccount delivery {delivery}"), &run);
            drain(&zone, &format!("CloseAccount delivery {delivery}")).await;
        }

        assert_eq!(
            instances_of(&zone, &account.id).await,
            0,
            "the instance is gone"
        );
        let resources = instance_resources(&zone, &account.id, &zone.names.member_stack_set).await;
        assert!(resources.is_empty(), "its stack is deleted: {resources:?}");
        let deletes: Vec<_> = zone
            .delivered_requests()
            .into_iter()
            .filter(|request| {
                request.account == account.id.as_str() && request.request_type == "Delete"
            })
            .collect();
        assert_eq!(deletes.len(), 1, "one Delete request: {deletes:?}");
        assert_answered("Delete", &deletes[0], "SUCCESS");
        let created = zone
            .delivered_requests()
            .into_iter()
            .find(|request| {
                request.account == account.id.as_str() && request.request_type == "Create"
            })
            .expect("the instance's Create request");
        assert_eq!(
            deletes[0].physical_resource_id.as_deref(),
            created.outcome.physical_resource_id(),
            "the Delete carries the PhysicalResourceId answered at Create"
        );
        assert!(
            registrations_of(&zone, &account.id).await.is_empty(),
            "deregistered"
        );
        assert!(
            !mapping_of(&zone, &account.id).await.1,
            "no longer in the CloudTrail mapping file"
        );
        // The others stay registered.
        let other = zone
            .state
            .organization
            .account_named("Prod Payments")
            .cloned()
            .expect("Prod Payments");
        assert_eq!(registered_in(&zone, &other.id).await, ["prod"]);
    })
    .await;
}

/// A registration request as the member stack's custom resource sends it, with its stack in
/// `stack_account`, asking to register `account`.
fn registration_request(
    zone: &landing_zone::LandingZone,
    stack_account: &str,
    account: &str,
) -> Value {
    json!({
        "RequestType": "Create",
        "ServiceToken": zone.state.product.registration_topic_arn,
        "StackId": format!(
            "arn:aws:cloudformation:us-east-1:{stack_account}:stack/StackSet-{}-0b9c3f0e-2d3c-4a6e-9d7b-2f1e0c9a8b7d/5e6f7a80-1b2c-11f0-8d3e-0a1b2c3d4e5f",
            zone.names.member_stack_set
        ),
        "RequestId": "4d9a7c1e-6b2f-4f3e-8a1d-9c0b7e6f5a43",
        "LogicalResourceId": "AccountRegistration",
        "ResourceType": "Custom::LaceworkAccountRegistration",
        "ResourceProperties": {
            "ServiceToken": zone.state.product.registration_topic_arn,
            "AccountId": account,
            "RoleArn": format!("arn:aws:iam::{account}:role/{MEMBER_ROLE}"),
        },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_registration_requests_are_refused_and_register_nothing() {
    within(TEST_TIME_LIMIT, async {
        let zone = start(options("spoofed-requests")).await;
        set_up(&zone).await;
        let organization = &zone.state.organization;
        let name = |name: &str| {
            organization
                .account_named(name)
                .map(|account| account.id.to_string())
                .expect("seeded account")
        };
        let (prod_web, dev_web, bob) = (name("Prod Web"), name("Dev Web"), name("Sandbox Bob"));

        // A stack in Prod Web asks to register Dev Web.
        let delivered = zone
            .publish_registration_request(registration_request(&zone, &prod_web, &dev_web))
            .await
            .expect("delivered");
        assert_eq!(delivered.len(), 1);
        assert_answered("account mismatch", &delivered[0], "FAILED");

        // A consistent request whose ResponseURL is not CloudFormation's: a listener the
        // function is not told to trust, which must receive nothing.
        let foreign = ResponseListener::start().await.expect("listener");
        let mut request = registration_request(&zone, &prod_web, &prod_web);
        request["ResponseURL"] = json!(foreign.response_url("spoofed"));
        let delivered = zone
            .publish_registration_request(request)
            .await
            .expect("delivered");
        assert_eq!(delivered.len(), 1);
        assert!(
            foreign
                .wait("spoofed", Duration::from_secs(3))
                .await
                .is_empty(),
            "nothing is sent to a foreign ResponseURL"
        );

        // Nothing was queued or registered.
        let queue = zone.registration_queue().await.expect("queue");
        assert_eq!(queue.total(), 0, "nothing queued: {queue:?}");
        let drained = zone
            .drain_registrations(drain_limits())
            .await
            .expect("drain");
        assert!(drained.runs.iter().all(|run| run.answer.is_response()));
        let registrations = zone.registrations().await.expect("registrations");
        assert!(
            registrations.is_empty(),
            "nothing registered: {registrations:?}"
        );

        // A consistent request of Sandbox Bob's, which is SUSPENDED: answering costs no
        // Organizations call, so it is answered SUCCESS; the drain, which holds the tree,
        // dead-letters its work with the reason, and registers nothing.
        let delivered = zone
            .publish_registration_request(registration_request(&zone, &bob, &bob))
            .await
            .expect("delivered");
        assert_answered("suspended account", &delivered[0], "SUCCESS");
        zone.drain_registrations(drain_limits())
            .await
            .expect("drain");
        let dead = state::peek_queue(
            zone.management(),
            &zone.state.product.registration_dead_letter_queue_url,
        )
        .await
        .expect("dead-letter queue");
        assert_eq!(dead.messages.len(), 1, "{dead:?}");
        assert_eq!(dead.messages[0]["account"], json!(bob), "{dead:?}");
        let registrations = zone.registrations().await.expect("registrations");
        assert!(
            registrations.is_empty(),
            "nothing registered: {registrations:?}"
        );
    })
    .await;
}

/// The secret's JSON.
async fn secret(zone: &landing_zone::LandingZone) -> Value {
    let text = aws_sdk_secretsmanager::Client::new(zone.management())
        .get_secret_value()
        .secret_id(&zone.state.product.secret_arn)
        .send()
        .await
        .expect("secret")
        .secret_string()
        .unwrap_or_default()
        .to_owned();
    serde_json::from_str(&text).expect("the secret is JSON")
}

async fn tokens_issued(zone: &landing_zone::LandingZone) -> u64 {
    let state = zone.lacework_state().await.expect("emulator state");
    state["tokens"]["issued"].as_u64().expect("tokens.issued")
}

fn expiry(secret: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(secret["expiresAt"].as_str().expect("expiresAt"), &Rfc3339)
        .expect("expiresAt is RFC 3339")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_refreshed_near_its_expiry_and_left_alone_far_from_it() {
    within(TEST_TIME_LIMIT, async {
        // Renew within 10 minutes of expiry; the emulator's tokens live an hour.
        let zone = start(
            options("token-refresh")
                .with_function_env(lwct_domain::config::TOWER_REFRESH_WINDOW_SECONDS, "600"),
        )
        .await;
        set_up(&zone).await;
        let first = secret(&zone).await;
        assert!(first["token"].is_string(), "setup stored a token");
        let issued = tokens_issued(&zone).await;

        // Far from expiry: untouched.
        let far = zone
            .tick(landing_zone::flows::Schedule::AuthRefresh)
            .await
            .expect("auth-refresh ran");
        let landing_zone::Answer::Response { payload } = &far.answer else {
            panic!(
                "auth-refresh failed: {:?}; log {}",
                far.answer,
                far.log.display()
            );
        };
        assert_eq!(payload["refreshed"], false, "{payload}");
        assert_eq!(payload["expiresAt"], first["expiresAt"], "{payload}");
        let after = secret(&zone).await;
        assert!(after["token"] == first["token"], "the token is untouched");
        assert_eq!(tokens_issued(&zone).await, issued, "no token requested");

        // Near expiry: two minutes left.
        let near = OffsetDateTime::now_utc() + time::Duration::minutes(2);
        let mut aging = first.clone();
        aging["expiresAt"] = json!(near.format(&Rfc3339).expect("format"));
        aws_sdk_secretsmanager::Client::new(zone.management())
            .put_secret_value()
            .secret_id(&zone.state.product.secret_arn)
            .secret_string(aging.to_string())
            .send()
            .await
            .expect("secret updated");
        let refreshed = zone
            .tick(landing_zone::flows::Schedule::AuthRefresh)
            .await
            .expect("auth-refresh ran");
        let landing_zone::Answer::Response { payload } = &refreshed.answer else {
            panic!("auth-refresh failed: {:?}", refreshed.answer);
        };
        assert_eq!(payload["refreshed"], true, "{payload}");
        let renewed = secret(&zone).await;
        assert!(renewed["token"] != first["token"], "a new token is stored");
        assert!(
            expiry(&renewed) > OffsetDateTime::now_utc() + time::Duration::minutes(30),
            "the new token lives on: {}",
            renewed["expiresAt"]
        );
        assert_eq!(payload["expiresAt"], renewed["expiresAt"], "{payload}");
        assert_eq!(
            tokens_issued(&zone).await,
            issued + 1,
            "one token requested"
        );
        assert_eq!(renewed["keyId"], first["keyId"], "the key is kept");
        assert!(
            renewed["externalIdSuffix"] == first["externalIdSuffix"],
            "the external id suffix is kept"
        );

        // The renewed token works.
        let answer = reqwest::Client::new()
            .get(format!(
                "{}/api/v2/CloudAccounts",
                zone.state.lacework.emulator.url
            ))
            .header(
                "Authorization",
                renewed["token"].as_str().unwrap_or_default(),
            )
            .send()
            .await
            .expect("emulator reached");
        assert_eq!(answer.status(), 200, "the renewed token is accepted");
    })
    .await;
}
