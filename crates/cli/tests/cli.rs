//! `lwct` as a user runs it: the real binary, the fixtures in `events/`, exit codes and output.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(path)
}

fn lwct(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lwct"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lwct starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("stdin accepts the input");
    drop(input);
    child.wait_with_output().expect("lwct finishes")
}

fn on_file(args: &[&str], file: &str) -> Output {
    let path = fixture(file);
    let mut all: Vec<&str> = args.to_vec();
    all.push(path.to_str().expect("fixture paths are UTF-8"));
    lwct(&all, None)
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not JSON ({err}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_seed_001_example_is_invalid_and_each_nine_digit_id_is_named() {
    let output = on_file(&["mapping", "validate"], "mapping/seed-001-example.json");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = stdout_json(&output);
    assert_eq!(report["valid"], false);
    let problems = report["problems"].as_array().expect("a list of problems");
    assert_eq!(problems.len(), 4, "{report:#}");
    let err = stderr(&output);
    for id in ["234556677", "774564564", "553453453", "934534535"] {
        assert!(err.contains(id), "stderr names {id}: {err}");
        assert!(
            problems.iter().any(|p| p["message"]
                .as_str()
                .is_some_and(|m| m.contains(id) && m.contains("leading zeros"))),
            "a problem names {id}: {report:#}"
        );
    }
    assert!(
        problems
            .iter()
            .any(|p| p["path"] == "$.integration_mappings.lw_account_3.aws_accounts[1]")
    );
}

#[test]
fn the_seed_001_example_with_twelve_digit_ids_is_valid() {
    let output = on_file(
        &["mapping", "validate"],
        "mapping/seed-001-twelve-digits.json",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = stdout_json(&output);
    assert_eq!(report["valid"], true);
    assert_eq!(report["aws_accounts"], 4);
}

#[test]
fn every_broken_mapping_fixture_exits_1_with_problems() {
    for file in [
        "missing-default.json",
        "missing-integration-mappings.json",
        "missing-aws-accounts.json",
        "wrong-types.json",
        "account-under-two.json",
        "keys-equal-but-case.json",
        "empty-lacework-name.json",
    ] {
        let output = on_file(&["mapping", "validate"], &format!("mapping/{file}"));
        assert_eq!(output.status.code(), Some(1), "{file}: {}", stderr(&output));
        assert!(
            !stdout_json(&output)["problems"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn encode_then_decode_gives_the_mapping_back() {
    let encoded = on_file(
        &["mapping", "encode"],
        "mapping/seed-001-twelve-digits.json",
    );
    assert_eq!(encoded.status.code(), Some(0), "{}", stderr(&encoded));
    let wire = String::from_utf8(encoded.stdout).unwrap();
    assert!(wire.starts_with("data:application/json;name=i.json;base64,"));
    let decoded = lwct(&["mapping", "decode"], Some(&wire));
    assert_eq!(decoded.status.code(), Some(0), "{}", stderr(&decoded));
    let original: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("mapping/seed-001-twelve-digits.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(stdout_json(&decoded), original);
}

#[test]
fn decode_refuses_a_string_that_is_not_the_wire_form() {
    let output = lwct(
        &["mapping", "decode", "-"],
        Some("data:text/plain;base64,e30="),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(!stderr(&output).is_empty());
}

#[test]
fn resolve_tells_mapped_and_default_accounts_apart() {
    let mapped = on_file(
        &["mapping", "resolve"],
        "mapping/seed-001-twelve-digits.json",
    );
    // No account id given: a usage error.
    assert_eq!(mapped.status.code(), Some(2));

    let path = fixture("mapping/seed-001-twelve-digits.json");
    let path = path.to_str().unwrap();
    let mapped = lwct(&["mapping", "resolve", path, "000553453453"], None);
    assert_eq!(stdout_json(&mapped)["lacework_account"], "lw_account_3");
    assert_eq!(stdout_json(&mapped)["mapped"], true);
    let unmapped = lwct(&["mapping", "resolve", path, "999988887777"], None);
    assert_eq!(stdout_json(&unmapped)["lacework_account"], "lw_account_1");
    assert_eq!(stdout_json(&unmapped)["mapped"], false);
    let bad = lwct(&["mapping", "resolve", path, "553453453"], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("leading zeros"), "{}", stderr(&bad));
}

#[test]
fn an_update_managed_account_event_is_reported_as_an_update_with_its_account_and_ou() {
    let output = on_file(
        &["event", "parse"],
        "lifecycle/update-managed-account-succeeded.json",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let event = stdout_json(&output);
    assert_eq!(event["kind"], "UpdateManagedAccount");
    assert_eq!(event["state"], "SUCCEEDED");
    assert_eq!(event["account"]["id"], "222233334444");
    assert!(
        event["organizational_unit"]["id"]
            .as_str()
            .unwrap()
            .starts_with("ou-")
    );
    assert!(event["organizational_unit"]["name"].is_string());
}

#[test]
fn a_lifecycle_event_without_service_event_details_exits_1_naming_the_path() {
    let output = on_file(
        &["event", "parse"],
        "lifecycle/broken-missing-service-event-details.json",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("$.detail.serviceEventDetails"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        stdout_json(&output)["problems"][0]["path"],
        "$.detail.serviceEventDetails"
    );
}

#[test]
fn an_unrelated_eventbridge_event_is_ignored_with_a_reason() {
    let output = on_file(
        &["event", "parse"],
        "lifecycle/ec2-instance-state-change.json",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let event = stdout_json(&output);
    assert_eq!(event["ignored"], true);
    assert!(!event["reason"].as_str().unwrap().is_empty());
}

#[test]
fn an_sqs_batch_gives_one_answer_per_record() {
    let output = on_file(
        &["event", "parse"],
        "lifecycle/sqs-batch-create-ignored-move.json",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout_json(&output).as_array().map(Vec::len), Some(3));
}

#[test]
fn an_event_that_is_not_json_exits_1() {
    let output = lwct(&["event", "parse", "-"], Some("{not json"));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("not JSON"), "{}", stderr(&output));
}

#[test]
fn an_sns_wrapped_s3_event_with_an_url_encoded_key_gives_account_and_region() {
    let output = on_file(
        &["notification", "parse"],
        "notifications/s3-event-in-sns.json",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let objects = stdout_json(&output);
    let object = &objects[0];
    assert_eq!(object["account"], "222233334444");
    assert_eq!(object["region"], "ap-southeast-2");
    assert_eq!(object["kind"], "log");
    assert!(object["bucket"].is_string());
    // The key comes out decoded: `+` was a space in the notification.
    assert!(
        object["key"].as_str().unwrap().starts_with("ct logs:"),
        "{object:#}"
    );
}

#[test]
fn the_s3_test_event_announces_no_object() {
    let output = on_file(
        &["notification", "parse"],
        "notifications/s3-test-event.json",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout_json(&output), serde_json::json!([]));
    assert!(stderr(&output).contains("test event"));
}

#[test]
fn a_broken_notification_exits_1() {
    let output = on_file(
        &["notification", "parse"],
        "notifications/broken-s3-event-missing-key.json",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("$."), "{}", stderr(&output));
}

#[test]
fn usage_errors_exit_2_and_help_works_everywhere() {
    assert_eq!(lwct(&["frobnicate"], None).status.code(), Some(2));
    assert_eq!(
        lwct(&["event", "parse", "/no/such/file.json"], None)
            .status
            .code(),
        Some(2)
    );
    for args in [
        vec!["--help"],
        vec!["mapping", "--help"],
        vec!["mapping", "validate", "--help"],
        vec!["mapping", "encode", "--help"],
        vec!["mapping", "decode", "--help"],
        vec!["mapping", "resolve", "--help"],
        vec!["event", "parse", "--help"],
        vec!["notification", "parse", "--help"],
    ] {
        let output = lwct(&args, None);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn a_dash_reads_standard_input() {
    let text = std::fs::read_to_string(fixture("mapping/seed-001-twelve-digits.json")).unwrap();
    let output = lwct(&["mapping", "validate", "-"], Some(&text));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}
