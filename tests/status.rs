//! `lwct status` and the reconcile against the local landing zone: every account in place
//! after onboarding; then the three kinds of drift - an account created with no event
//! delivered, an `AwsCfg` integration deleted directly in Lacework, a member stack instance
//! deleted by hand - each named on its account's row with a non-zero exit; one reconcile run
//! and the ordinary work it queues repair all three, and a second run finds nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::process::Command;
use std::time::Duration;

use landing_zone::flows::Schedule;
use landing_zone::runtime_api::Answer;
use lwct_aws::secrets::SecretStore;
use lwct_domain::AccountId;
use lwct_domain::lacework::{Scope, SubAccount};
use lwct_lacework::{Client, ClientOptions};
use serde_json::Value;

use common::*;

const TEST_TIME_LIMIT: Duration = Duration::from_secs(300);

/// `lwct status --json` with the functions' environment: its exit code and its report.
fn lwct_status(zone: &landing_zone::LandingZone, bin_dir: &std::path::Path) -> (i32, Value) {
    let output = Command::new(bin_dir.join("lwct"))
        .args(["status", "--json"])
        .env_clear()
        .envs(zone.function_environment())
        .output()
        .expect("lwct runs");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "lwct status printed no JSON ({err}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), report)
}

/// One reconcile run (the rule's input to sns-custom-resource): its report.
async fn reconcile(zone: &landing_zone::LandingZone) -> Value {
    let invoked = zone
        .tick(Schedule::Reconcile)
        .await
        .expect("reconcile invoked");
    match invoked.answer {
        Answer::Response { payload } => payload,
        other => panic!(
            "the reconcile failed: {other:?}; log {}",
            invoked.log.display()
        ),
    }
}

fn drift_of(report: &Value, account: &AccountId) -> Vec<String> {
    report["drift"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["account"] == account.as_str())
        .map(|d| d["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn status_shows_the_drift_events_missed_and_one_reconcile_repairs_it() {
    within(TEST_TIME_LIMIT, async {
        let options = options("status");
        let bin_dir = options.bin_dir.clone();
        assert!(bin_dir.join("lwct").is_file(), "build lwct first");
        let mut zone = start(options).await;
        set_up_and_onboard(&zone).await;

        let (code, before) = lwct_status(&zone, &bin_dir);
        assert_eq!(code, 0, "everything in place after onboarding: {before:#}");
        let rows = before["accounts"].as_array().unwrap();
        let registrations = zone.registrations().await.unwrap();
        assert!(rows.len() > 3, "{before:#}");
        assert!(
            rows.iter()
                .filter(|row| row["instance"] == "current")
                .all(|row| row["subAccount"].is_string()),
            "{before:#}"
        );

        // An account created with no event delivered.
        let silent = zone
            .add_account("No Event", "Workloads/Prod")
            .await
            .unwrap();
        // An AwsCfg integration deleted directly in Lacework.
        let unregistered = &registrations[0];
        let environment: std::collections::BTreeMap<String, String> =
            zone.function_environment().into_iter().collect();
        let secret = SecretStore::new(
            aws_sdk_secretsmanager::Client::new(zone.management()),
            environment["LACEWORK_SECRET_ARN"].clone(),
        )
        .read()
        .await
        .unwrap();
        let lacework = Client::with_keys(
            &environment["LACEWORK_URL"],
            secret.credentials(),
            &ClientOptions::default(),
        )
        .unwrap();
        lacework
            .delete(
                &Scope::Account(SubAccount::new(&unregistered.sub_account).unwrap()),
                &unregistered.intg_guid,
            )
            .await
            .unwrap();
        let unregistered = AccountId::parse(&unregistered.account).unwrap();
        // A member instance deleted by hand.
        let bare = registrations
            .iter()
            .map(|r| AccountId::parse(&r.account).unwrap())
            .find(|account| *account != unregistered)
            .unwrap();
        let member_stack_set = "lacework-ct-member";
        aws_sdk_cloudformation::Client::new(zone.management())
            .delete_stack_instances()
            .stack_set_name(member_stack_set)
            .accounts(bare.as_str())
            .regions("us-east-1")
            .retain_stacks(true)
            .send()
            .await
            .unwrap();

        let (code, after) = lwct_status(&zone, &bin_dir);
        assert_eq!(code, 1, "drift is an exit code: {after:#}");
        assert_eq!(
            drift_of(&after, &silent.id),
            ["missingInstance"],
            "{after:#}"
        );
        assert_eq!(
            drift_of(&after, &unregistered),
            ["missingRegistration"],
            "{after:#}"
        );
        assert_eq!(drift_of(&after, &bare), ["missingInstance"], "{after:#}");
        let row = after["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["account"] == silent.id.as_str())
            .unwrap();
        assert_eq!(row["ou"], "Workloads/Prod", "{row:#}");
        assert_eq!(
            row["problems"][0],
            format!("account {} has no member stack instance", silent.id)
        );

        // One reconcile run queues the repairs; the functions carry them out as ordinary work.
        let reconciled = reconcile(&zone).await;
        assert_eq!(
            reconciled["drift"].as_array().unwrap().len(),
            3,
            "{reconciled:#}"
        );
        assert_eq!(reconciled["queued"]["onboard"], 2, "{reconciled:#}");
        assert_eq!(reconciled["queued"]["registrations"], 1, "{reconciled:#}");
        let run = zone
            .run_account_queue()
            .await
            .expect("account queue delivered");
        assert_handled("the reconcile's onboarding", &run);
        drain(&zone, "the reconcile's registrations").await;
        let (code, repaired) = lwct_status(&zone, &bin_dir);
        assert_eq!(code, 0, "everything repaired: {repaired:#}");
        assert_eq!(instances_of(&zone, &bare).await, 1);
        assert_eq!(registered_in(&zone, &unregistered).await.len(), 1);
        assert_eq!(registered_in(&zone, &silent.id).await, ["prod"]);

        let again = reconcile(&zone).await;
        assert!(again["drift"].as_array().unwrap().is_empty(), "{again:#}");
        assert_eq!(
            again["queued"],
            serde_json::json!({"onboard": 0, "retire": 0, "registrations": 0})
        );
    })
    .await;
}
