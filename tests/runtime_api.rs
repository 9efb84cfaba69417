//! The landing zone's Lambda Runtime API server against a real `lambda_runtime` client: the
//! `echo-function` example of crates/landing-zone (built by `cargo test` into
//! target/debug/examples/).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::time::Duration;

use landing_zone::runtime_api::{Answer, FunctionSpec, invoke};
use serde_json::json;

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_landing-zone"))
        .parent()
        .expect("the landing-zone binary is in a target folder")
        .to_path_buf()
}

fn echo_function(test: &str) -> FunctionSpec {
    let binary = target_dir().join("examples/echo-function");
    assert!(
        binary.is_file(),
        "{} is missing: cargo test builds it (cargo build -p landing-zone --examples)",
        binary.display()
    );
    let log = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.cache/landing-zone/tests/runtime-api")
        .join(format!("{test}.log"));
    FunctionSpec {
        binary,
        function_name: "echo".to_owned(),
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:echo".to_owned(),
        env: vec![("AWS_REGION".to_owned(), "us-east-1".to_owned())],
        log,
        timeout: Duration::from_secs(20),
    }
}

#[tokio::test]
async fn a_real_lambda_runtime_client_gets_the_event_and_its_answer_comes_back() {
    let spec = echo_function("answer");
    let invoked = invoke(&spec, json!({"hello": "world"})).await.unwrap();
    let Answer::Response { payload } = &invoked.answer else {
        panic!("expected a response, got {:?}", invoked.answer);
    };
    assert_eq!(payload["echo"], json!({"hello": "world"}));
    assert_eq!(payload["functionName"], "echo");
    assert_eq!(payload["requestId"], invoked.request_id.as_str());
    assert_eq!(payload["invokedFunctionArn"], spec.function_arn.as_str());
    assert_eq!(payload["region"], "us-east-1");
    let log = std::fs::read_to_string(&invoked.log).unwrap();
    assert!(
        log.contains(&format!("echo-function: handling {}", invoked.request_id)),
        "the function's stderr is in its log: {log}"
    );
    // Lambda's closing line, with the process's peak memory (a Rust function needs a few MB).
    let memory = invoked.max_memory_kib.expect("read while the process ran");
    assert!((100..200 * 1024).contains(&memory), "{memory} KiB");
    assert!(
        log.contains(&format!(
            "REPORT RequestId: {}\tDuration: ",
            invoked.request_id
        )) && log.contains(&format!("Max Memory Used: {} MB", memory.div_ceil(1024))),
        "{log}"
    );
}

#[tokio::test]
async fn a_handler_error_is_reported_as_lambda_reports_it() {
    let invoked = invoke(&echo_function("error"), json!({"fail": "bad input at $.x"}))
        .await
        .unwrap();
    let Answer::Error { error_message, .. } = &invoked.answer else {
        panic!("expected an error, got {:?}", invoked.answer);
    };
    assert!(
        error_message.contains("bad input at $.x"),
        "{error_message}"
    );
}

#[tokio::test]
async fn a_process_that_exits_without_answering_is_a_runtime_exit_error() {
    let invoked = invoke(&echo_function("exit"), json!({"exit": 3}))
        .await
        .unwrap();
    let Answer::Error {
        error_type,
        error_message,
    } = &invoked.answer
    else {
        panic!("expected an error, got {:?}", invoked.answer);
    };
    assert_eq!(error_type, "Runtime.ExitError");
    assert!(error_message.contains("exit status: 3"), "{error_message}");
}

#[tokio::test]
async fn a_function_past_its_deadline_times_out() {
    let mut spec = echo_function("timeout");
    spec.timeout = Duration::from_secs(1);
    let started = std::time::Instant::now();
    let invoked = invoke(&spec, json!({"sleepMs": 30_000})).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let Answer::Error { error_type, .. } = &invoked.answer else {
        panic!("expected a timeout, got {:?}", invoked.answer);
    };
    assert_eq!(error_type, "Sandbox.Timedout");
}

#[tokio::test]
async fn a_missing_binary_is_named() {
    let mut spec = echo_function("missing");
    spec.binary = target_dir().join("no-such-function");
    let err = invoke(&spec, json!({})).await.unwrap_err().to_string();
    assert!(
        err.contains("no-such-function") && err.contains("is missing"),
        "{err}"
    );
}
