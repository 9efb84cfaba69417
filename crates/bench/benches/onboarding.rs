//! `make bench`: onboarding 100, 1,000 and 5,000 existing accounts (`LWCT_BENCH_ACCOUNTS`,
//! e.g. `100,1000`, picks others). Each size runs in a process of its own, so that its peak
//! memory is its own; the results go to target/bench/onboarding.json and a table.
//! With `LWCT_BENCH_RATE_LIMIT_HEADERS=1` the emulator says what is left of the key's limit
//! and the drain learns its budget from that: target/bench/onboarding-learned.json.

use lwct_bench::onboarding::{RateLimitHeaders, run};
use lwct_bench::sizes::Sizes;
use serde_json::Value;

fn main() {
    // Read by the children too: they inherit the environment.
    let (benchmark, headers) = match std::env::var("LWCT_BENCH_RATE_LIMIT_HEADERS").as_deref() {
        Ok("1") => ("onboarding-learned", RateLimitHeaders::Sent),
        _ => ("onboarding", RateLimitHeaders::NotSent),
    };
    let sizes = Sizes {
        benchmark,
        child_var: "LWCT_BENCH_ONBOARDING_CHILD",
    };
    let measured =
        sizes.run(|accounts| async move { run(accounts, headers).await.map(|m| m.to_json()) });
    if let Some(results) = measured.unwrap_or_else(|err| panic!("{err}")) {
        print_table(&results);
    }
}

fn print_table(results: &[Value]) {
    println!(
        "{:>6} {:>9} {:>7} {:>8} {:>8} {:>6} {:>8} {:>11} {:>9} {:>9} {:>9} {:>7} {:>8}",
        "N",
        "AWS/acct",
        "StackOp",
        "LW wr/a",
        "LW rd/a",
        "429",
        "invocs",
        "billed ms/a",
        "own ms/a",
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
            "{:>6} {:>9} {:>7} {:>8} {:>8} {:>6} {:>8} {:>11} {:>9} {:>9} {:>9} {:>7} {:>8}",
            r["accounts"],
            r["aws_calls_per_account"],
            r["stack_set_operations"],
            r["lacework"]["writes_per_account"],
            r["lacework"]["reads_per_account"],
            r["lacework"]["rejected_429"],
            invocations,
            lambda["billed_ms_per_account"],
            lambda["own_billed_ms_per_account"],
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
