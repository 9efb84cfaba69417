//! A faithful local Lacework API v2 (FortiCNAPP), for tests and the local landing zone.
//!
//! Start it in-process with [`start`]; it binds 127.0.0.1 only and serves from a tokio task
//! until the returned [`Emulator`] is dropped or [`Emulator::shutdown`] is called.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

mod mapping_file;
mod search;
mod server;
mod store;
mod validate;

/// Rows per search page unless configured: the page size the Go SDK's paging fixture shows
/// (`rows: 5000` on a first page of 5001 rows).
pub const DEFAULT_PAGE_SIZE: usize = 5000;

/// A faithful local Lacework API v2 (FortiCNAPP) for tests and the local landing zone.
///
/// Binds 127.0.0.1 only. Prints {"url": ..., "port": ...} on one line once it is listening,
/// then serves until SIGTERM or SIGINT. See the crate README for endpoints and assumptions.
/// (The options of the `lacework-emulator` command line, and of `start` in-process.)
#[derive(Clone, clap::Parser)]
#[command(name = "lacework-emulator", version)]
pub struct Options {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The primary Lacework account (used when no Account-Name header is sent).
    #[arg(long, default_value = "acme")]
    pub account: String,
    /// Comma-separated sub-accounts that Account-Name may select (the primary account is
    /// always selectable too).
    #[arg(long, value_delimiter = ',')]
    pub sub_accounts: Vec<String>,
    /// The API key id allowed to request tokens.
    #[arg(long, default_value = "ACME_KEY_ID")]
    pub key_id: String,
    /// The API secret key expected in X-LW-UAKS (never printed).
    #[arg(long, default_value = "_secret", hide_default_value = true)]
    pub secret: String,
    /// Longest lifetime of an issued token, in seconds (the request's expiryTime is capped by
    /// it).
    #[arg(long, value_name = "SECONDS", default_value = "3600", value_parser = seconds)]
    pub token_ttl: Duration,
    /// Rows per search page (Lacework's own pages hold 5000 rows).
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE)]
    pub page_size: usize,
    /// Requests allowed per API key, as N/SECONDS (e.g. 480/3600); none by default.
    #[arg(long)]
    pub rate_limit: Option<RateLimit>,
    /// Under the rate limit, send RateLimit-Limit, -Remaining and -Reset on every counted
    /// answer (no Lacework source shows them, facts C49, C50; off by default).
    #[arg(long)]
    pub rate_limit_headers: bool,
}

/// The command line's defaults.
impl Default for Options {
    fn default() -> Self {
        <Options as clap::Parser>::parse_from(["lacework-emulator"])
    }
}

fn seconds(text: &str) -> Result<Duration, std::num::ParseIntError> {
    text.parse().map(Duration::from_secs)
}

// The secret never reaches Debug output.
impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("port", &self.port)
            .field("account", &self.account)
            .field("sub_accounts", &self.sub_accounts)
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .field("token_ttl", &self.token_ttl)
            .field("page_size", &self.page_size)
            .field("rate_limit", &self.rate_limit)
            .field("rate_limit_headers", &self.rate_limit_headers)
            .finish()
    }
}

/// At most `requests` requests per `per` window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in one window.
    pub requests: u32,
    /// Window length.
    pub per: Duration,
}

/// Why a `N/SECONDS` rate limit did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate limit {value:?}: {problem} (expected N/SECONDS, e.g. 480/3600)")]
pub struct RateLimitParseError {
    value: String,
    problem: &'static str,
}

impl FromStr for RateLimit {
    type Err = RateLimitParseError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let fail = |problem| RateLimitParseError {
            value: value.to_string(),
            problem,
        };
        let (requests, seconds) = value.split_once('/').ok_or_else(|| fail("no '/'"))?;
        let requests: u32 = requests
            .trim()
            .parse()
            .map_err(|_| fail("N is not a whole number"))?;
        let seconds: u64 = seconds
            .trim()
            .parse()
            .map_err(|_| fail("SECONDS is not a whole number"))?;
        if requests == 0 {
            return Err(fail("N must be at least 1"));
        }
        if seconds == 0 {
            return Err(fail("SECONDS must be at least 1"));
        }
        Ok(RateLimit {
            requests,
            per: Duration::from_secs(seconds),
        })
    }
}

/// A running emulator. Dropping it stops the server.
pub struct Emulator {
    /// Base URL, `http://127.0.0.1:PORT` (the API lives under `/api/v2`).
    pub url: String,
    /// The bound port.
    pub port: u16,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    shared: Arc<server::Shared>,
}

impl Emulator {
    /// Moves the emulator's clock `by` ahead: tokens expire and rate windows slide as if that
    /// much time had passed (a benchmark simulates hours of a rate-limited drain this way).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.advance_clock(by);
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        let task = self.task.take();
        drop(self); // signals the stop
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(signal) = self.shutdown.take() {
            let _ = signal.send(());
        }
    }
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator").field("url", &self.url).finish()
    }
}

/// Binds 127.0.0.1:`options.port` and serves the API from a tokio task.
///
/// Fails with `InvalidInput` when the options make no sense (empty account, key id or
/// secret, a zero page size or token lifetime), and with the bind error otherwise.
pub async fn start(mut options: Options) -> std::io::Result<Emulator> {
    let accounts = check(&mut options)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await?;
    let port = listener.local_addr()?.port();
    let url = format!("http://127.0.0.1:{port}");
    let shared = Arc::new(server::Shared::new(options, accounts, url.clone()));
    let app = axum::Router::new()
        .fallback(server::handle)
        .with_state(shared.clone());
    let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = signal.await;
            })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "lacework-emulator stopped");
        }
    });
    Ok(Emulator {
        url,
        port,
        shutdown: Some(shutdown),
        task: Some(task),
        shared,
    })
}

/// Checks the options and trims and lower-cases `account`; returns the accounts requests may
/// act in, lower case, the primary first, no repeats.
fn check(options: &mut Options) -> std::io::Result<Vec<String>> {
    let invalid =
        |message: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, message.to_string());
    let account = options.account.trim().to_ascii_lowercase();
    if account.is_empty() {
        return Err(invalid("account must not be empty"));
    }
    if options.key_id.is_empty() {
        return Err(invalid("key id must not be empty"));
    }
    if options.secret.is_empty() {
        return Err(invalid("secret must not be empty"));
    }
    if options.page_size == 0 {
        return Err(invalid("page size must be at least 1"));
    }
    if options.token_ttl.is_zero() {
        return Err(invalid("token ttl must be more than zero"));
    }
    let mut accounts = vec![account.clone()];
    for name in &options.sub_accounts {
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() {
            return Err(invalid("sub-account names must not be empty"));
        }
        if !accounts.contains(&name) {
            accounts.push(name);
        }
    }
    options.account = account;
    Ok(accounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_parse() {
        assert_eq!(
            "480/3600".parse::<RateLimit>(),
            Ok(RateLimit {
                requests: 480,
                per: Duration::from_secs(3600)
            })
        );
        for bad in ["", "5", "5/", "/5", "0/5", "5/0", "a/5", "5/b", "-1/5"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn options_are_checked() {
        let mut options = Options {
            account: " ACME".into(),
            sub_accounts: vec!["Prod".into(), "acme".into(), "prod".into()],
            ..Options::default()
        };
        assert_eq!(check(&mut options).unwrap(), ["acme", "prod"]);
        assert_eq!(options.account, "acme");
        for mut broken in [
            Options {
                account: " ".into(),
                ..Options::default()
            },
            Options {
                key_id: String::new(),
                ..Options::default()
            },
            Options {
                secret: String::new(),
                ..Options::default()
            },
            Options {
                page_size: 0,
                ..Options::default()
            },
            Options {
                token_ttl: Duration::ZERO,
                ..Options::default()
            },
            Options {
                sub_accounts: vec![String::new()],
                ..Options::default()
            },
        ] {
            let shown = format!("{broken:?}");
            assert!(check(&mut broken).is_err(), "{shown}");
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!(
            "{:?}",
            Options {
                secret: "hunter2".into(),
                ..Options::default()
            }
        );
        assert!(!shown.contains("hunter2"));
    }
}
