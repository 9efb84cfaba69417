//! `lacework-emulator`: serves a faithful local Lacework API v2 on 127.0.0.1 until killed.
//! On start it prints one JSON line, `{"url": "http://127.0.0.1:PORT", "port": PORT}`.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use lacework_emulator::Options;

#[tokio::main]
async fn main() -> ExitCode {
    let options = Options::parse();
    let emulator = match lacework_emulator::start(options).await {
        Ok(emulator) => emulator,
        Err(error) => {
            eprintln!("lacework-emulator: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Exactly `{"url": "http://127.0.0.1:PORT", "port": PORT}` (key order kept for line readers).
    let line = format!(
        "{{\"url\": {}, \"port\": {}}}",
        serde_json::Value::from(emulator.url.as_str()),
        emulator.port
    );
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        eprintln!("lacework-emulator: cannot write the start line to stdout");
        return ExitCode::FAILURE;
    }
    drop(stdout);
    if let Err(error) = stop_signal().await {
        eprintln!("lacework-emulator: cannot listen for signals: {error}");
        emulator.shutdown().await;
        return ExitCode::FAILURE;
    }
    emulator.shutdown().await;
    ExitCode::SUCCESS
}

/// Resolves on SIGINT or (on Unix) SIGTERM.
async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
