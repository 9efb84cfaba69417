//! The Lacework emulator, run as its own binary (`lacework-emulator --port 0`), so that it keeps
//! running after `landing-zone up` exits.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::{self, Error, Result};
use crate::process::{BackgroundProcess, Service, log_tail};

/// How long the emulator may take to print its start line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The Lacework side of the landing zone (not `Debug`: it holds the secret key).
#[derive(Clone)]
pub struct LaceworkOptions {
    /// Primary Lacework account (tenant), as in `acme.lacework.net`.
    pub account: String,
    /// Sub-accounts of the organization (`Account-Name` values).
    pub sub_accounts: Vec<String>,
    /// API key id the emulator gives tokens for (written to the secret as `keyId`).
    pub key_id: String,
    /// API secret key (written to the secret as `secretKey`; never printed).
    pub secret_key: String,
    /// The emulator's rate limit per API key, `N/SECONDS` (`480/3600` is what a third party
    /// reports for Lacework); none by default.
    pub rate_limit: Option<String>,
}

/// Starts `bin_dir/lacework-emulator` on a free loopback port and reads the URL from its
/// start line (its stdout goes to `log`, so it can outlive this process).
pub async fn start(bin_dir: &Path, options: &LaceworkOptions, log: &Path) -> Result<Service> {
    let binary = bin_dir.join("lacework-emulator");
    if !binary.is_file() {
        return Err(Error::process(
            "lacework-emulator",
            format!(
                "{} is missing; build it first (cargo build --workspace --bins)",
                binary.display()
            ),
        ));
    }
    // The start line is found by reading the log from where it ends now.
    let log_start = std::fs::metadata(log).map(|meta| meta.len()).unwrap_or(0);
    let mut command = Command::new(&binary);
    command
        .args(["--port", "0", "--account", &options.account])
        .args(["--key-id", &options.key_id, "--secret", &options.secret_key]);
    if !options.sub_accounts.is_empty() {
        command.args(["--sub-accounts", &options.sub_accounts.join(",")]);
    }
    if let Some(limit) = &options.rate_limit {
        command.args(["--rate-limit", limit]);
    }
    let mut process = BackgroundProcess::spawn("lacework-emulator", command, log)?;
    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if let Some(url) = start_line(log, log_start) {
            return Ok(Service { url, process });
        }
        if let Some(status) = process.exit_status() {
            return Err(Error::process(
                "lacework-emulator",
                format!(
                    "exited ({status}); its log ends with:\n{}",
                    log_tail(log, 20)
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(Error::process(
        "lacework-emulator",
        format!("printed no start line within {} s", START_TIMEOUT.as_secs()),
    ))
}

/// The URL of the `{"url", "port"}` line the emulator printed after `offset` in its log, if
/// any yet.
fn start_line(log: &Path, offset: u64) -> Option<String> {
    let text = std::fs::read(log).ok()?;
    let fresh = text.get(usize::try_from(offset).ok()?..)?;
    String::from_utf8_lossy(fresh).lines().find_map(|line| {
        let value: Value = serde_json::from_str(line).ok()?;
        // Other lines may carry a URL; the start line has the port too.
        value.get("port")?.as_u64()?;
        Some(value.get("url")?.as_str()?.to_owned())
    })
}

/// `GET /__emulator/state` of the emulator at `url`.
pub async fn inspect(url: &str) -> Result<Value> {
    let what = "lacework-emulator /__emulator/state";
    let request = reqwest::Client::new()
        .get(format!("{url}/__emulator/state"))
        .timeout(Duration::from_secs(10));
    let response = error::send_checked(what, request).await?;
    response.json().await.map_err(|err| Error::http(what, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_start_line_after_older_runs() {
        let dir = std::env::temp_dir().join(format!("lz-emulator-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("emulator.log");
        std::fs::write(&log, "{\"url\": \"http://127.0.0.1:1\", \"port\": 1}\n").unwrap();
        let offset = std::fs::metadata(&log).unwrap().len();
        assert_eq!(start_line(&log, offset), None);
        let mut text = std::fs::read_to_string(&log).unwrap();
        text.push_str("noise\n{\"url\": \"http://127.0.0.1:4242\", \"port\": 4242}\n");
        std::fs::write(&log, text).unwrap();
        assert_eq!(
            start_line(&log, offset).as_deref(),
            Some("http://127.0.0.1:4242")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
