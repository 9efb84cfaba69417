//! `lacework-emulator`: serves a faithful local Lacework API v2 on 127.0.0.1 until killed.
//! On start it prints one JSON line, `{"url": "http://127.0.0.1:PORT", "port": PORT}`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use lacework_emulator::{Options, RateLimit};

/// A faithful local Lacework API v2 (FortiCNAPP) for tests and the local landing zone.
///
/// Binds 127.0.0.1 only. Prints {"url": ..., "port": ...} on one line once it is listening,
/// then serves until SIGTERM or SIGINT. See the crate README for endpoints and assumptions.
#[derive(Parser)]
#[command(name = "lacework-emulator", version)]
struct Cli {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The primary Lacework account (used when no Account-Name header is sent).
    #[arg(long, default_value = "acme")]
    account: String,
    /// Comma-separated sub-accounts that Account-Name may select (the primary account is
    /// always selectable too).
    #[arg(long, value_delimiter = ',')]
    sub_accounts: Vec<String>,
    /// The API key id allowed to request tokens.
    #[arg(long, default_value = "ACME_KEY_ID")]
    key_id: String,
    /// The API secret key expected in X-LW-UAKS (never printed).
    #[arg(long, default_value = "_secret", hide_default_value = true)]
    secret: String,
    /// Longest lifetime of an issued token, in seconds.
    #[arg(long, default_value_t = 3600)]
    token_ttl: u64,
    /// Rows per search page (Lacework's own pages hold 5000 rows).
    #[arg(long, default_value_t = lacework_emulator::DEFAULT_PAGE_SIZE)]
    page_size: usize,
    /// Requests allowed per API key, as N/SECONDS (e.g. 480/3600); none by default.
    #[arg(long)]
    rate_limit: Option<RateLimit>,
    /// Under the rate limit, send RateLimit-Limit, -Remaining and -Reset on every counted
    /// answer (no Lacework source shows them; off by default).
    #[arg(long)]
    rate_limit_headers: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = Options {
        port: cli.port,
        account: cli.account,
        sub_accounts: cli.sub_accounts,
        key_id: cli.key_id,
        secret: cli.secret,
        token_ttl: Duration::from_secs(cli.token_ttl),
        page_size: cli.page_size,
        rate_limit: cli.rate_limit,
        rate_limit_headers: cli.rate_limit_headers,
    };
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
