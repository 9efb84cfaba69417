//! What both benchmarks' mains share: each size of organization runs in a process of its own,
//! so that its peak memory is its own. `LWCT_BENCH_ACCOUNTS` (e.g. `100,1000`) picks the sizes;
//! `cargo test --all-targets` runs a bench without `--bench`, and then one small size runs, so
//! that the bench cannot rot, and nothing is written.

use std::future::Future;
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

use crate::onboarding::{BenchError, peak_memory_kib};

/// One benchmark, run over several sizes.
pub struct Sizes {
    /// Its name: the results go to `target/bench/<benchmark>.json`.
    pub benchmark: &'static str,
    /// Set in a child process: the number of accounts it runs with.
    pub child_var: &'static str,
}

impl Sizes {
    /// In a child process: runs `run` with its number of accounts and prints the result, with
    /// the process's peak memory and seconds, as one JSON line; `None` then. Else runs every
    /// size in a child of this executable and answers their results, written to
    /// `target/bench/<benchmark>.json` when measuring.
    pub fn run<F, Fut>(&self, run: F) -> Result<Option<Vec<Value>>, BenchError>
    where
        F: FnOnce(usize) -> Fut,
        Fut: Future<Output = Result<Value, BenchError>>,
    {
        match std::env::var(self.child_var) {
            Ok(accounts) => {
                let accounts = accounts.parse().map_err(|_| {
                    BenchError::Setup(format!("{}={accounts:?}: not a number", self.child_var))
                })?;
                self.child(accounts, run)?;
                Ok(None)
            }
            Err(_) => self.parent().map(Some),
        }
    }

    fn child<F, Fut>(&self, accounts: usize, run: F) -> Result<(), BenchError>
    where
        F: FnOnce(usize) -> Fut,
        Fut: Future<Output = Result<Value, BenchError>>,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|err| BenchError::Setup(format!("a tokio runtime: {err}")))?;
        let started = Instant::now();
        let mut result = runtime.block_on(run(accounts))?;
        result["peak_memory_mib"] = json!(round(peak_memory_kib() as f64 / 1024.0));
        result["bench_seconds"] = json!(round(started.elapsed().as_secs_f64()));
        println!("{result}");
        Ok(())
    }

    fn parent(&self) -> Result<Vec<Value>, BenchError> {
        let measuring = std::env::args().any(|arg| arg == "--bench");
        let default_sizes = if measuring { "100,1000,5000" } else { "20" };
        let sizes = std::env::var("LWCT_BENCH_ACCOUNTS").unwrap_or_else(|_| default_sizes.into());
        let exe = std::env::current_exe()
            .map_err(|err| BenchError::Setup(format!("the bench's own path: {err}")))?;
        let mut results = Vec::new();
        for size in sizes.split(',') {
            let accounts: usize = size.trim().parse().map_err(|_| {
                BenchError::Setup(format!(
                    "LWCT_BENCH_ACCOUNTS={sizes:?}: numbers separated by commas"
                ))
            })?;
            eprintln!("{} with {accounts} accounts ...", self.benchmark);
            let output = Command::new(&exe)
                .env(self.child_var, accounts.to_string())
                .output()
                .map_err(|err| BenchError::Setup(format!("the bench runs itself: {err}")))?;
            if !output.status.success() {
                return Err(BenchError::Unfinished(format!(
                    "{} with {accounts} accounts failed:\n{}",
                    self.benchmark,
                    String::from_utf8_lossy(&output.stderr)
                )));
            }
            let result = serde_json::from_slice(&output.stdout)
                .map_err(|err| BenchError::Setup(format!("the child's JSON: {err}")))?;
            results.push(result);
        }
        if measuring {
            self.write(&results)?;
        }
        Ok(results)
    }

    fn write(&self, results: &[Value]) -> Result<(), BenchError> {
        let written = |err: std::io::Error| BenchError::Setup(format!("target/bench: {err}"));
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
        std::fs::create_dir_all(&dir).map_err(written)?;
        let path = dir.join(format!("{}.json", self.benchmark));
        let report = json!({"benchmark": self.benchmark, "results": results});
        std::fs::write(&path, format!("{report:#}")).map_err(written)?;
        eprintln!("written: {}", path.display());
        Ok(())
    }
}

/// To one decimal.
fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
