//! Background processes of the landing zone (moto, the Lacework emulator): started with their
//! output in a log file, in their own process group (a Ctrl-C in the terminal that ran `up`
//! does not reach them), killed when dropped unless detached.

use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::error::{Error, Result};

/// A server this landing zone started (moto, the emulator): where it answers, and its process.
#[derive(Debug)]
pub struct Service {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub process: BackgroundProcess,
}

/// A process this landing zone started.
#[derive(Debug)]
pub struct BackgroundProcess {
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    child: Option<Child>,
    pid: u32,
}

impl BackgroundProcess {
    /// Starts `command` with stdout and stderr appended to `log`; `name` names it in errors.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<BackgroundProcess> {
        let output = open_log(log)?;
        let errors = output.try_clone().map_err(|err| Error::file(log, err))?;
        command
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .process_group(0);
        let child = command
            .spawn()
            .map_err(|err| Error::process(name, format!("cannot start {command:?}: {err}")))?;
        Ok(BackgroundProcess {
            log: log.to_owned(),
            pid: child.id(),
            child: Some(child),
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `Some(description)` if the process has exited.
    pub fn exit_status(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(err) => Some(format!("cannot be waited for: {err}")),
        }
    }

    /// Leaves the process running after this handle is gone (for `landing-zone up`).
    pub fn detach(mut self) -> u32 {
        self.child = None;
        self.pid
    }
}

/// Kills the process and reaps it.
impl Drop for BackgroundProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Already exited is fine: the goal is that it no longer runs.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Opens `path` for appending, creating it and its folder.
pub fn open_log(path: &Path) -> Result<File> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(|err| Error::file(folder, err))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|err| Error::file(path, err))
}

/// A TCP port on 127.0.0.1 that was free a moment ago (for programs that need a port number
/// before they start; a program started with it may still lose a race, and is then retried).
pub fn free_loopback_port() -> Result<u16> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|err| Error::process("landing-zone", format!("no free loopback port: {err}")))
}

/// The last `max_lines` lines of a log file, for error messages.
pub fn log_tail(path: &Path, max_lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(max_lines);
    lines.get(start..).unwrap_or_default().join("\n")
}

/// Stops a process recorded in `state.json` by an earlier `landing-zone up`, if it is still
/// the program we started (`program` must appear in its command line, so a reused pid is left
/// alone). Returns whether a process was signalled.
pub fn stop_recorded(pid: u32, program: &str) -> Result<bool> {
    let cmdline = match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).replace('\0', " "),
        Err(_) => return Ok(false), // gone already
    };
    if !cmdline.contains(program) {
        return Ok(false);
    }
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .map_err(|err| Error::process("kill", err.to_string()))?;
    Ok(status.success())
}
