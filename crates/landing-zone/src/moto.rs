//! moto, the local AWS: installed into the project venv on first use (`tools/venv.sh` installs
//! the pinned `requirements-dev.txt`), run as `moto_server` on a free loopback port.
//!
//! moto_server is started through `crates/landing-zone/moto/moto_server.py`, which is moto_server
//! with a few fixes where moto 5.2.5 differs from AWS in ways the product meets: a trail
//! notifying a topic of another account, custom resources whose `ServiceToken` is an SNS topic
//! (published there, as CloudFormation does), StackSet instance stacks named as AWS names them,
//! and the default version of a secret after `UpdateSecretVersionStage`. The script's docstring
//! explains each.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::process::{BackgroundProcess, Service, free_loopback_port, log_tail};

/// How long moto may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Attempts at a free port (another program may take the port between our check and moto's
/// bind).
const START_ATTEMPTS: usize = 3;

/// How to run moto_server: the venv's Python and the launcher script.
#[derive(Debug, Clone)]
pub struct MotoServer {
    pub python: PathBuf,
    pub launcher: PathBuf,
}

/// Makes the project venv ready (creating it and installing `requirements-dev.txt` when
/// needed) and returns how to run moto_server.
pub fn ensure_installed(root: &Path) -> Result<MotoServer> {
    let script = root.join("tools/venv.sh");
    let output = Command::new("bash")
        .arg(&script)
        .current_dir(root)
        .output()
        .map_err(|err| Error::Moto(format!("cannot run {}: {err}", script.display())))?;
    if !output.status.success() {
        return Err(Error::Moto(format!(
            "installing moto with {} failed ({}); the local landing zone needs the pinned \
             moto[server] of requirements-dev.txt from PyPI:\n{}{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let moto_server = root.join(".venv/bin/moto_server");
    if !moto_server.is_file() {
        return Err(Error::Moto(format!(
            "{} is missing after installing requirements-dev.txt; does it still pin moto[server]?",
            moto_server.display()
        )));
    }
    let launcher = root.join("crates/landing-zone/moto/moto_server.py");
    if !launcher.is_file() {
        return Err(Error::Moto(format!("{} is missing", launcher.display())));
    }
    Ok(MotoServer {
        python: root.join(".venv/bin/python"),
        launcher,
    })
}

/// Starts `moto_server` on a free loopback port, its output in `log`, and waits until it
/// answers.
pub async fn start(moto_server: &MotoServer, log: &Path) -> Result<Service> {
    let mut attempt = 1;
    loop {
        let port = free_loopback_port()?;
        let mut command = Command::new(&moto_server.python);
        command
            .arg(&moto_server.launcher)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let mut process = BackgroundProcess::spawn("moto", command, log)?;
        let url = format!("http://127.0.0.1:{port}");
        match wait_until_ready(&url, &mut process).await {
            Ok(()) => return Ok(Service { url, process }),
            Err(err) if attempt >= START_ATTEMPTS => return Err(err),
            // Another port; dropping `process` stops this one.
            Err(_) => attempt += 1,
        }
    }
}

/// Polls moto's own API until it answers, the process exits, or [`START_TIMEOUT`] passes.
async fn wait_until_ready(url: &str, process: &mut BackgroundProcess) -> Result<()> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if let Some(status) = process.exit_status() {
            return Err(not_started(process, &format!("it exited ({status})")));
        }
        let answer = client
            .get(format!("{url}/moto-api/"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if answer.is_ok_and(|response| response.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let silent = format!("it did not answer within {} s", START_TIMEOUT.as_secs());
    Err(not_started(process, &silent))
}

/// moto_server did not start, for the reason `problem`, with the end of its log.
fn not_started(process: &BackgroundProcess, problem: &str) -> Error {
    Error::Moto(format!(
        "moto_server did not start: {problem}; its log ({}) ends with:\n{}",
        process.log.display(),
        log_tail(&process.log, 20)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_install_says_what_failed() {
        let root = std::env::temp_dir().join(format!("lz-moto-{}", std::process::id()));
        std::fs::create_dir_all(root.join("tools")).unwrap();
        std::fs::write(
            root.join("tools/venv.sh"),
            "echo 'ERROR: No matching distribution found for moto' >&2; exit 1\n",
        )
        .unwrap();
        let err = ensure_installed(&root).unwrap_err().to_string();
        assert!(
            err.starts_with("moto: installing moto")
                && err.contains("No matching distribution found for moto"),
            "{err}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
