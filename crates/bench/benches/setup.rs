//! `make bench`: setup's own run - the custom resource's `Create` - in organizations of 100,
//! 1,000 and 5,000 existing accounts (`LWCT_BENCH_ACCOUNTS`, e.g. `100,1000`, picks others),
//! until it answers CloudFormation. Each size runs in a process of its own, so that its peak
//! memory is its own; the results go to target/bench/setup.json and a line per size.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed step is a failed run

use std::process::Command;

use lwct_bench::onboarding::peak_memory_kib;
use lwct_bench::setup::{LATENCY_PER_CALL, run};
use serde_json::{Value, json};

/// Set in a child process: the number of accounts in its organization.
const CHILD: &str = "LWCT_BENCH_SETUP_CHILD";

fn main() {
    if let Ok(accounts) = std::env::var(CHILD) {
        let accounts: usize = accounts.parse().expect("a number of accounts");
        child(accounts);
        return;
    }
    // `cargo test --all-targets` runs this too, without `--bench`: one small size, so that
    // the bench cannot rot, and nothing written.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let default_sizes = if measuring { "100,1000,5000" } else { "20" };
    let sizes: Vec<usize> = std::env::var("LWCT_BENCH_ACCOUNTS")
        .unwrap_or_else(|_| default_sizes.into())
        .split(',')
        .map(|size| {
            size.trim()
                .parse()
                .expect("LWCT_BENCH_ACCOUNTS: numbers separated by commas")
        })
        .collect();
    let exe = std::env::current_exe().expect("the bench's own path");
    let mut results = Vec::new();
    for accounts in sizes {
        eprintln!("setup with {accounts} existing accounts ...");
        let output = Command::new(&exe)
            .env(CHILD, accounts.to_string())
            .output()
            .expect("the bench runs itself");
        if !output.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&output.stderr));
            panic!("setup with {accounts} existing accounts failed");
        }
        let result: Value = serde_json::from_slice(&output.stdout).expect("the child's JSON");
        print_line(&result);
        results.push(result);
    }
    if !measuring {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    let path = dir.join("setup.json");
    let report = json!({"benchmark": "setup", "results": results});
    std::fs::write(&path, serde_json::to_string_pretty(&report).expect("JSON"))
        .expect("target/bench/setup.json");
    eprintln!("written: {}", path.display());
}

fn child(accounts: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let started = std::time::Instant::now();
    let measured = runtime.block_on(run(accounts)).unwrap_or_else(|err| {
        eprintln!("setup with {accounts} existing accounts: {err}");
        std::process::exit(1);
    });
    let mut result = measured.to_json();
    result["peak_memory_mib"] = json!((peak_memory_kib() as f64 / 1024.0 * 10.0).round() / 10.0);
    result["bench_seconds"] = json!((started.elapsed().as_secs_f64() * 10.0).round() / 10.0);
    println!("{result}");
}

fn print_line(r: &Value) {
    let invocations = r["invocations"].as_array().cloned().unwrap_or_default();
    let ms: Vec<String> = invocations
        .iter()
        .map(|i| format!("{} ms (~{} ms est.)", i["ms"], i["estimated_ms"]))
        .collect();
    let lambda_s = r["lambda_timeout_ms"].as_f64().unwrap_or(0.0) / 1000.0;
    let estimated_s = r["estimated_time_to_answer_ms"].as_f64().unwrap_or(0.0) / 1000.0;
    println!(
        "N={}: {} answered after {} invocation(s) [{}]; answer after {} ms in-process, ~{:.1} s estimated (+{} ms per AWS call) of Lambda's {} s timeout ({:.2}%) and the stack's {} s; AWS calls {} {}; {} accounts queued in {} messages; peak {} MiB",
        r["accounts"],
        r["status"].as_str().unwrap_or_default(),
        invocations.len(),
        ms.join(", "),
        r["time_to_answer_ms"],
        estimated_s,
        LATENCY_PER_CALL.as_millis(),
        lambda_s,
        estimated_s / lambda_s * 100.0,
        r["service_timeout_ms"].as_f64().unwrap_or(0.0) / 1000.0,
        r["aws_calls_total"],
        r["aws_calls"],
        r["accounts_queued"],
        r["account_queue_messages"],
        r["peak_memory_mib"],
    );
}
