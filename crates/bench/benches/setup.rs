//! `make bench`: setup's own run - the custom resource's `Create` - in organizations of 100,
//! 1,000 and 5,000 existing accounts (`LWCT_BENCH_ACCOUNTS`, e.g. `100,1000`, picks others),
//! until it answers CloudFormation. Each size runs in a process of its own, so that its peak
//! memory is its own; the results go to target/bench/setup.json and a line per size.

use lwct_bench::setup::{LATENCY_PER_CALL, run};
use lwct_bench::sizes::Sizes;
use serde_json::Value;

fn main() {
    let sizes = Sizes {
        benchmark: "setup",
        child_var: "LWCT_BENCH_SETUP_CHILD",
    };
    let measured = sizes.run(|accounts| async move { run(accounts).await.map(|m| m.to_json()) });
    for result in measured
        .unwrap_or_else(|err| panic!("{err}"))
        .unwrap_or_default()
    {
        print_line(&result);
    }
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
