//! `make bench`: onboarding 100, 1,000 and 5,000 existing accounts (`LWCT_BENCH_ACCOUNTS`,
//! e.g. `100,1000`, picks others). Each size runs in a process of its own, so that its peak
//! memory is its own; the results go to target/bench/onboarding.json and a table.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed step is a failed run

use std::process::Command;

use lwct_bench::onboarding::{Measured, peak_memory_kib, run};
use serde_json::{Value, json};

/// Set in a child process: the number of accounts it onboards.
const CHILD: &str = "LWCT_BENCH_ONBOARDING_CHILD";

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
        eprintln!("onboarding {accounts} accounts ...");
        let output = Command::new(&exe)
            .env(CHILD, accounts.to_string())
            .output()
            .expect("the bench runs itself");
        if !output.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&output.stderr));
            panic!("onboarding {accounts} accounts failed");
        }
        let result: Value = serde_json::from_slice(&output.stdout).expect("the child's JSON");
        results.push(result);
    }
    print_table(&results);
    if !measuring {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    let path = dir.join("onboarding.json");
    let report = json!({"benchmark": "onboarding", "results": results});
    std::fs::write(&path, serde_json::to_string_pretty(&report).expect("JSON"))
        .expect("target/bench/onboarding.json");
    eprintln!("written: {}", path.display());
}

fn child(accounts: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let started = std::time::Instant::now();
    let measured: Measured = runtime.block_on(run(accounts)).unwrap_or_else(|err| {
        eprintln!("onboarding {accounts} accounts: {err}");
        std::process::exit(1);
    });
    let mut result = measured.to_json();
    result["peak_memory_mib"] = json!((peak_memory_kib() as f64 / 1024.0 * 10.0).round() / 10.0);
    result["bench_seconds"] = json!((started.elapsed().as_secs_f64() * 10.0).round() / 10.0);
    println!("{result}");
}

fn print_table(results: &[Value]) {
    println!(
        "{:>6} {:>9} {:>7} {:>8} {:>8} {:>6} {:>8} {:>11} {:>9} {:>9} {:>7} {:>8}",
        "N",
        "AWS/acct",
        "StackOp",
        "LW wr/a",
        "LW rd/a",
        "429",
        "invocs",
        "billed ms/a",
        "peak MiB",
        "minutes",
        "floor",
        "vs floor"
    );
    for r in results {
        let lambda = &r["lambda"];
        let invocations = [
            "account-lifecycle",
            "sns-custom-resource (requests)",
            "sns-custom-resource (drain)",
        ]
        .iter()
        .map(|f| lambda[f]["invocations"].as_u64().unwrap_or(0))
        .sum::<u64>();
        println!(
            "{:>6} {:>9} {:>7} {:>8} {:>8} {:>6} {:>8} {:>11} {:>9} {:>9} {:>7} {:>8}",
            r["accounts"],
            r["aws_calls_per_account"],
            r["stack_set_operations"],
            r["lacework"]["writes_per_account"],
            r["lacework"]["reads_per_account"],
            r["lacework"]["rejected_429"],
            invocations,
            lambda["billed_ms_per_account"],
            r["peak_memory_mib"],
            r["minutes_to_finish"],
            r["floor_minutes"],
            r["time_over_floor"],
        );
    }
    for r in results {
        println!(
            "N={} AWS calls per account by API: {}",
            r["accounts"], r["aws_calls_per_account_by_api"]
        );
    }
}
