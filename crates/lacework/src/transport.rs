//! One HTTP exchange with Lacework: timeouts, retries with backoff, and turning an answer into
//! either its body or a classified [`Error::Lacework`].

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;
use url::{Host, Url};

use super::rate_limit::{RateLimitObserver, RateLimitSeen};
use super::retry::{RetryPolicy, parse_retry_after};
use lwct_domain::error::{Error, LaceworkErrorKind, Problem};
use lwct_domain::lacework::REDACTED;
use lwct_domain::lacework::json_path;

/// Timeouts and retries for every Lacework call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// Time allowed to open the connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time allowed for one whole attempt, answer body included. The default is the Go SDK's
    /// 60 s: an org-level write with a large mapping file must not time out while it succeeds.
    pub request_timeout: Duration,
    /// How failed attempts are retried.
    pub retry: RetryPolicy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

/// An API error message longer than this is cut: it goes into logs and error reports.
const MAX_MESSAGE_CHARS: usize = 500;

/// The shared HTTP client (connection pool, timeouts) and retry policy.
#[derive(Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    /// How failed attempts are retried (callers that retry a whole sequence of calls use it
    /// too).
    pub retry: RetryPolicy,
    /// Told what every answer says about the key's rate limit.
    rate_limits: Option<Arc<dyn RateLimitObserver>>,
}

/// One request, ready to be sent as often as needed.
pub(crate) struct Outgoing<'a> {
    pub method: Method,
    pub url: Url,
    /// What we are doing, for logs and errors: `POST /api/v2/CloudAccounts`.
    pub operation: &'a str,
    /// Extra headers; values that carry a secret are marked sensitive.
    pub headers: Vec<(&'static str, HeaderValue)>,
    /// A JSON body.
    pub body: Option<&'a [u8]>,
    /// Values never to repeat in an error message, even if the API echoes them.
    pub secrets: &'a [&'a str],
    /// Whether sending the request twice does no harm. A create is not: one that timed out
    /// or failed with a 5xx may have been made, so it is retried only when it surely was not
    /// acted on (429, or no connection); the caller looks it up before trying again.
    pub idempotent: bool,
}

/// One failed attempt, and whether the request may have reached the service.
struct Failed {
    error: Error,
    /// `false` only when the connection could not be made: nothing was sent.
    maybe_acted_on: bool,
}

impl Transport {
    /// A transport for `options`, telling `rate_limits` (if any) what each answer says about
    /// the key's rate limit.
    pub fn new(
        options: &ClientOptions,
        rate_limits: Option<Arc<dyn RateLimitObserver>>,
    ) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            // The API never redirects; following one could carry the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("lwct-lacework/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::Config(vec![Problem::new(
                    "lacework",
                    format!("cannot build the HTTP client: {}", error_chain(&e)),
                )])
            })?;
        Ok(Self {
            http,
            retry: options.retry,
            rate_limits,
        })
    }

    /// Sends the request, trying again after retryable failures (with backoff and jitter, and
    /// at least as long as `Retry-After` asks), up to `max_attempts`. A `Retry-After` longer
    /// than `max_delay` ends the call at once with `RateLimited`: waiting minutes inside one
    /// call would spend the rate budget and the caller's deadline; the caller requeues.
    pub async fn send(&self, out: &Outgoing<'_>) -> Result<Vec<u8>, Error> {
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let Failed {
                error,
                maybe_acted_on,
            } = match self.send_once(out).await {
                Ok(body) => {
                    tracing::debug!(
                        operation = out.operation,
                        attempt,
                        "Lacework call succeeded"
                    );
                    return Ok(body);
                }
                Err(failed) => failed,
            };
            let Error::Lacework {
                kind,
                status,
                retry_after,
                ..
            } = error
            else {
                return Err(error);
            };
            let rate_limited = kind == LaceworkErrorKind::RateLimited;
            let give_up = if !kind.is_retryable() || attempt >= max_attempts {
                Some("Lacework call failed")
            } else if !out.idempotent && !rate_limited && maybe_acted_on {
                Some("Lacework call failed and may have been acted on; not sending it again")
            } else if rate_limited
                && retry_after
                    .is_some_and(|asked| Duration::from_secs(asked) > self.retry.max_delay)
            {
                Some(
                    "Lacework asks to wait longer than this call may; giving up so the work is requeued",
                )
            } else {
                None
            };
            if let Some(why) = give_up {
                tracing::warn!(
                    operation = out.operation,
                    status,
                    attempt,
                    kind = %kind,
                    retry_after_s = retry_after,
                    "{why}"
                );
                return Err(error);
            }
            let delay = self
                .retry
                .next_delay(attempt, retry_after.map(Duration::from_secs));
            tracing::warn!(
                operation = out.operation,
                status,
                attempt,
                kind = %kind,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "Lacework call failed; trying again"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn send_once(&self, out: &Outgoing<'_>) -> Result<Vec<u8>, Failed> {
        let mut request = self
            .http
            .request(out.method.clone(), out.url.clone())
            .header(ACCEPT, "application/json");
        for (name, value) in &out.headers {
            request = request.header(*name, value.clone());
        }
        if let Some(body) = out.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let response = request.send().await.map_err(|e| Failed {
            error: request_error(out, &e),
            maybe_acted_on: !e.is_connect(),
        })?;
        let status = response.status().as_u16();
        if let Some(observer) = &self.rate_limits
            && let Some(seen) = RateLimitSeen::from_headers(response.headers())
        {
            observer.observed(seen);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, OffsetDateTime::now_utc()));
        let body = response.bytes().await.map_err(|e| Failed {
            error: request_error(out, &e),
            maybe_acted_on: true,
        })?;
        if (200..300).contains(&status) {
            Ok(body.to_vec())
        } else {
            Err(Failed {
                error: status_error(out.operation, status, &body, retry_after, out.secrets),
                maybe_acted_on: true,
            })
        }
    }
}

/// A failure to get an answer at all: a timeout, or a connection that failed.
fn request_error(out: &Outgoing<'_>, error: &reqwest::Error) -> Error {
    let kind = if error.is_timeout() {
        LaceworkErrorKind::Timeout
    } else {
        LaceworkErrorKind::Transport
    };
    failure(kind, out.operation, scrub(&error_chain(error), out.secrets))
}

/// A failure found on our side (no answer, or one we cannot use): no status, no wait asked.
pub(crate) fn failure(
    kind: LaceworkErrorKind,
    operation: impl Into<String>,
    message: impl Into<String>,
) -> Error {
    Error::Lacework {
        kind,
        operation: operation.into(),
        status: None,
        message: message.into(),
        retry_after: None,
    }
}

/// The kind of a Lacework failure; `None` for any other error.
pub(crate) fn kind_of(error: &Error) -> Option<LaceworkErrorKind> {
    match error {
        Error::Lacework { kind, .. } => Some(*kind),
        _ => None,
    }
}

/// What a call is named in logs and errors: `POST /api/v2/CloudAccounts`.
pub(crate) fn operation(method: &Method, url: &Url) -> String {
    format!("{method} {}", url.path())
}

/// A request body as JSON.
pub(crate) fn encode<T: Serialize>(operation: &str, body: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(body).map_err(|e| {
        failure(
            LaceworkErrorKind::BadRequest,
            operation,
            format!("cannot encode the request body: {e}"),
        )
    })
}

/// `value` as a header marked sensitive (kept out of debug output); `what` names it in the
/// error, for example "the access token".
pub(crate) fn secret_header(
    value: &str,
    operation: &str,
    what: &str,
) -> Result<HeaderValue, Error> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        failure(
            LaceworkErrorKind::Unauthorized,
            operation,
            format!("{what} has characters an HTTP header cannot carry"),
        )
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// An error and all its causes, `: `-separated (reqwest keeps the useful part in the causes).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The error for a non-2xx answer.
pub(crate) fn status_error(
    operation: &str,
    status: u16,
    body: &[u8],
    retry_after: Option<u64>,
    secrets: &[&str],
) -> Error {
    let message = scrub(&api_message(status, body), secrets);
    Error::Lacework {
        kind: kind_for(status, &message),
        operation: operation.to_owned(),
        status: Some(status),
        message,
        retry_after,
    }
}

/// How a status (and, for a duplicate, the message) is classified.
pub(crate) fn kind_for(status: u16, message: &str) -> LaceworkErrorKind {
    use LaceworkErrorKind::*;
    // Lacework reports a second integration of one AWS account as a plain 4xx; it means
    // "that integration exists already".
    if (400..500).contains(&status)
        && message
            .to_ascii_lowercase()
            .contains("aws account is already used")
    {
        return Conflict;
    }
    match status {
        401 => Unauthorized,
        403 => Forbidden,
        404 => NotFound,
        408 => Timeout,
        409 => Conflict,
        429 => RateLimited,
        500..=599 => Server,
        400..=499 => BadRequest,
        // Redirects are not followed and 1xx never reach us: an answer we cannot use.
        _ => Decode,
    }
}

/// The API's own message, or the start of the body, or the status alone. The message is
/// looked for where Lacework's SDKs look: the v2 `{"message"}` and the older
/// `{"ok": false, "data": {"ErrorMsg" | "message" | "statusMessage"}}`, in that SDKs' order;
/// a `message` of `SUCCESS` says nothing about the failure.
fn api_message(status: u16, body: &[u8]) -> String {
    let text = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| error_text(&value))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    if text.is_empty() {
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("no reason given");
        return format!("HTTP {status} ({reason}) with no message");
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        let cut: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
        return format!("{cut}...");
    }
    text
}

fn error_text(value: &Value) -> Option<String> {
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let data = value.get("data");
    text(data.and_then(|d| d.get("ErrorMsg")))
        .or_else(|| text(data.and_then(|d| d.get("message"))))
        .or_else(|| text(value.get("message")).filter(|m| !m.eq_ignore_ascii_case("SUCCESS")))
        .or_else(|| text(data.and_then(|d| d.get("statusMessage"))))
}

/// `text` with every secret replaced by `<redacted>`.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(text.to_owned(), |text, secret| {
            text.replace(secret, REDACTED)
        })
}

/// Reads a 2xx JSON body; a mismatch is named by its JSON path.
pub(crate) fn decode<T: DeserializeOwned>(
    operation: &str,
    body: &[u8],
    secrets: &[&str],
) -> Result<T, Error> {
    // Tracking the path costs about a third of reading a listing of thousands of records, so
    // it is done only to name what failed.
    if let Ok(read) = serde_json::from_slice(body) {
        return Ok(read);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        failure(
            LaceworkErrorKind::Decode,
            operation,
            scrub(
                &format!("{}: {}", json_path("$", &e.path().to_string()), e.inner()),
                secrets,
            ),
        )
    })
}

/// Checks a Lacework base address: `https://<account>.lacework.net`, or plain `http` to a
/// loopback address (the local emulator). Tokens must never travel unencrypted elsewhere.
pub(crate) fn parse_base_url(base_url: &str) -> Result<Url, Error> {
    let problem = |message: String| Error::Config(vec![Problem::new("lacework.base_url", message)]);
    let url =
        Url::parse(base_url).map_err(|e| problem(format!("{base_url:?} is not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(problem(format!("{base_url:?} has no host"))),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(problem(format!(
                "{base_url:?} uses plain http; only https is allowed (http only to a loopback address)"
            )));
        }
        other => {
            return Err(problem(format!(
                "{base_url:?}: scheme {other:?} is not https"
            )));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(problem("must not carry a user name or password".to_owned()));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(problem(format!(
            "{base_url:?} must be just the scheme and host, like https://acme.lacework.net"
        )));
    }
    Ok(url)
}

/// `base` + `/api/v2/<segments...>`, each segment escaped.
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    // Cannot fail: `parse_base_url` accepted only http(s) URLs, which have a path.
    if let Ok(mut path) = url.path_segments_mut() {
        path.clear().extend(["api", "v2"]).extend(segments);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        use LaceworkErrorKind::*;
        for (status, kind) in [
            (400, BadRequest),
            (401, Unauthorized),
            (403, Forbidden),
            (404, NotFound),
            (408, Timeout),
            (409, Conflict),
            (422, BadRequest),
            (429, RateLimited),
            (500, Server),
            (503, Server),
            (302, Decode),
        ] {
            assert_eq!(kind_for(status, "whatever"), kind, "{status}");
        }
    }

    #[test]
    fn already_used_aws_account_is_a_conflict() {
        let err = status_error(
            "POST /api/v2/CloudAccounts",
            400,
            br#"{"message":"Error: AWS account is already used in integration ABC"}"#,
            None,
            &[],
        );
        match err {
            Error::Lacework {
                kind,
                status,
                message,
                ..
            } => {
                assert_eq!(kind, LaceworkErrorKind::Conflict);
                assert_eq!(status, Some(400));
                assert!(message.contains("already used"));
            }
            other => panic!("{other:?}"),
        }
        // A 5xx saying the same is still a server error.
        assert_eq!(
            kind_for(500, "aws account is already used"),
            LaceworkErrorKind::Server
        );
    }

    #[test]
    fn error_messages_never_repeat_secrets() {
        let err = status_error(
            "POST /api/v2/CloudAccounts",
            400,
            br#"{"message":"bad externalId lweid:aws:v2:acme:123456789012:SUFFIX"}"#,
            None,
            &["lweid:aws:v2:acme:123456789012:SUFFIX", ""],
        );
        let text = err.to_string();
        assert!(!text.contains("SUFFIX"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn messages_fall_back_to_body_or_status() {
        assert_eq!(api_message(502, b"  bad gateway  "), "bad gateway");
        assert_eq!(
            api_message(503, b""),
            "HTTP 503 (Service Unavailable) with no message"
        );
        let long = "x".repeat(2000);
        assert_eq!(
            api_message(500, long.as_bytes()).chars().count(),
            MAX_MESSAGE_CHARS + 3
        );
    }

    #[test]
    fn messages_are_read_from_the_v2_and_the_older_shape() {
        // Lacework's fixture of the older shape (events/lacework/responses/error-v1-shape.json).
        let v1 = br#"{"ok": false, "data": {"message": "Invalid or expired access token", "statusMessage": "Unauthorized"}}"#;
        assert_eq!(api_message(401, v1), "Invalid or expired access token");
        assert_eq!(
            api_message(
                400,
                br#"{"ok": false, "data": {"ErrorMsg": "bad queue", "message": "x"}}"#
            ),
            "bad queue"
        );
        assert_eq!(
            api_message(
                400,
                br#"{"message": "SUCCESS", "data": {"statusMessage": "Bad Request"}}"#
            ),
            "Bad Request"
        );
        assert_eq!(
            api_message(404, br#"{"message": "Not Found"}"#),
            "Not Found"
        );
        // Nothing usable: the body as text.
        assert_eq!(
            api_message(400, br#"{"message": ""}"#),
            r#"{"message": ""}"#
        );
        // The duplicate text is found inside the older shape too.
        let err = status_error(
            "POST /api/v2/CloudAccounts",
            400,
            br#"{"ok": false, "data": {"message": "aws account is already used"}}"#,
            None,
            &[],
        );
        assert!(matches!(
            err,
            Error::Lacework {
                kind: LaceworkErrorKind::Conflict,
                ..
            }
        ));
    }

    #[test]
    fn default_request_timeout_is_the_go_sdks() {
        assert_eq!(
            ClientOptions::default().request_timeout,
            Duration::from_secs(60)
        );
    }

    #[test]
    fn decode_names_the_path() {
        use serde::Deserialize;
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            data: Vec<Inner>,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            name: String,
        }
        let err = decode::<Outer>("GET /x", br#"{"data":[{"name":"a"},{"name":7}]}"#, &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("$.data[1].name"), "{err}");
        assert!(err.contains("unreadable answer"), "{err}");
    }

    #[test]
    fn base_url_rules() {
        assert!(parse_base_url("https://acme.lacework.net").is_ok());
        assert!(parse_base_url("https://acme.lacework.net/").is_ok());
        assert!(parse_base_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_base_url("http://localhost:8080").is_ok());
        assert!(parse_base_url("http://[::1]:8080").is_ok());
        for bad in [
            "http://acme.lacework.net",
            "ftp://acme.lacework.net",
            "acme.lacework.net",
            "https://acme.lacework.net/api/v2",
            "https://user:pw@acme.lacework.net",
            "https://acme.lacework.net/?x=1",
        ] {
            let err = parse_base_url(bad).unwrap_err();
            assert_eq!(err.problems()[0].path, "lacework.base_url", "{bad}");
        }
    }

    #[test]
    fn endpoints_escape_their_segments() {
        let base = parse_base_url("https://acme.lacework.net").unwrap();
        assert_eq!(
            endpoint(&base, &["CloudAccounts", "AwsCfg"]).as_str(),
            "https://acme.lacework.net/api/v2/CloudAccounts/AwsCfg"
        );
        assert_eq!(
            endpoint(&base, &["CloudAccounts", "../x?y"]).as_str(),
            "https://acme.lacework.net/api/v2/CloudAccounts/..%2Fx%3Fy"
        );
    }
}
