//! The one error type of `lwct-domain`.
//!
//! Every variant says which input was wrong, where (a JSON path such as
//! `detail.serviceEventDetails` or `integration_mappings.lw_account_2.aws_accounts[0]`) and
//! what is wrong with it, in words a person can act on. No variant ever carries a secret: a
//! secret key, a token or an external id is never copied into an error.

use std::fmt;

use serde::Serialize;

/// One problem in an input: where it is and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A JSON path (`$` is the document itself), or an environment variable name for
    /// configuration problems.
    pub path: String,
    /// What is wrong, in plain words.
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// What is wrong with a value read on its own (path `$`); whoever knows where the value
    /// came from places it there with [`Problem::at`].
    pub fn of_value(message: impl Into<String>) -> Self {
        Self::new("$", message)
    }

    /// This problem placed where its value was read from: `$` becomes `place`, and a path
    /// inside the value (`$.expiresAt`) goes on from there (`place.expiresAt`). A problem
    /// already placed elsewhere stays where it is.
    pub fn at(self, place: &str) -> Self {
        match self.path.strip_prefix('$') {
            Some(inside) => Self::new(format!("{place}{inside}"), self.message),
            None => self,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A JSON value's type in words, for "must be ..., not ..." messages.
pub(crate) fn json_type(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Untrusted text quoted for a message, cut short if it is long.
pub(crate) fn quoted(text: &str) -> String {
    const LIMIT: usize = 40;
    if text.chars().count() <= LIMIT {
        format!("{text:?}")
    } else {
        let start: String = text.chars().take(LIMIT).collect();
        format!("{start:?}... ({} characters)", text.chars().count())
    }
}

/// Several problems, counted, then shown one per line.
fn listed(problems: &[Problem]) -> String {
    let plural = if problems.len() == 1 { "" } else { "s" };
    let lines: String = problems.iter().map(|p| format!("\n  - {p}")).collect();
    format!("({} problem{plural}):{lines}", problems.len())
}

/// How a Lacework API call failed; tells a caller whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LaceworkErrorKind {
    /// 400: the request itself is wrong.
    BadRequest,
    /// 401: bad or expired token, or wrong secret key.
    Unauthorized,
    /// 403: not allowed (for example an unknown sub-account).
    Forbidden,
    /// 404.
    NotFound,
    /// 409, or a duplicate the API reports in its message.
    Conflict,
    /// 429.
    RateLimited,
    /// 5xx.
    Server,
    /// The call did not finish within its timeout.
    Timeout,
    /// The connection failed (DNS, refused, reset, TLS).
    Transport,
    /// The answer could not be understood.
    Decode,
}

impl LaceworkErrorKind {
    /// Whether the same request may succeed if sent again later.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::Server | Self::Timeout | Self::Transport
        )
    }
}

impl fmt::Display for LaceworkErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self {
            Self::BadRequest => "bad request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not found",
            Self::Conflict => "conflict",
            Self::RateLimited => "rate limited",
            Self::Server => "server error",
            Self::Timeout => "timed out",
            Self::Transport => "connection failed",
            Self::Decode => "unreadable answer",
        };
        f.write_str(word)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Control Tower / Organizations event that claims to concern us but is malformed.
    #[error("malformed event: {0}")]
    Event(Problem),

    /// A CloudTrail delivery notification (SNS or S3 event) that is malformed.
    #[error("malformed CloudTrail notification: {0}")]
    Notification(Problem),

    /// An S3 object key that is not a CloudTrail log, digest or insight key.
    #[error("not a CloudTrail object key: {key:?}: {reason}")]
    ObjectKey { key: String, reason: String },

    /// An account mapping file with one or more problems (all of them are listed).
    #[error("invalid account mapping {}", listed(.0))]
    Mapping(Vec<Problem>),

    /// A value that should be an AWS account id and is not.
    #[error("invalid AWS account id {value:?}: {reason}")]
    AccountId { value: String, reason: String },

    /// An external id that does not follow Lacework's format. The value itself is not shown:
    /// external ids are confidential.
    #[error("invalid external id: {0}")]
    ExternalId(String),

    /// A name (prefix, StackSet, role, queue) that AWS would refuse.
    #[error("invalid name {value:?}: {reason}")]
    Name { value: String, reason: String },

    /// Configuration with one or more problems (all of them are listed).
    #[error("invalid configuration {}", listed(.0))]
    Config(Vec<Problem>),

    /// A CloudFormation custom resource request that is malformed.
    #[error("malformed custom resource request: {0}")]
    CustomResource(Problem),

    /// A custom resource `ResponseURL` we refuse to answer to.
    #[error("ResponseURL refused: {0}")]
    ResponseUrl(String),

    /// An AWS API call that failed. `code` is AWS's error code (`OperationInProgressException`,
    /// `ThrottlingException`, ...) when the service sent one.
    #[error("AWS {operation} failed{}: {message}", .code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Aws {
        /// Service and operation, for example `cloudformation:CreateStackInstances`.
        operation: String,
        code: Option<String>,
        message: String,
        /// Whether the same call may succeed later (throttling, a busy StackSet, a timeout).
        retryable: bool,
    },

    /// The landing zone is not what the configuration says; found before anything was changed.
    /// The message names what was expected and what was found.
    #[error("preflight check failed: {0}")]
    Preflight(String),

    /// A Lacework API call that failed.
    #[error("Lacework API {operation} failed ({kind}{}): {message}", .status.map(|s| format!(", HTTP {s}")).unwrap_or_default())]
    Lacework {
        kind: LaceworkErrorKind,
        /// What we were doing, for example `POST /api/v2/CloudAccounts`.
        operation: String,
        status: Option<u16>,
        /// The API's own message (never a secret), or what went wrong on our side.
        message: String,
        /// Seconds the API asked us to wait (`Retry-After`), if it said.
        retry_after: Option<u64>,
    },
}

impl Error {
    /// Whether the failed work may succeed if tried again later (and so belongs back on its
    /// queue rather than in a dead-letter queue).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Lacework { kind, .. } => kind.is_retryable(),
            Self::Aws { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// What is wrong, without the input it was found in: a refused name's, account id's,
    /// external id's or object key's reason, or else the whole error as text.
    pub fn reason(self) -> String {
        match self {
            Self::Name { reason, .. }
            | Self::AccountId { reason, .. }
            | Self::ObjectKey { reason, .. }
            | Self::ExternalId(reason) => reason,
            other => other.to_string(),
        }
    }

    /// The problem of an error about one input (an event, a notification, a custom resource
    /// request); any other error is a problem at `$`.
    pub fn into_problem(self) -> Problem {
        match self {
            Self::Event(p) | Self::Notification(p) | Self::CustomResource(p) => p,
            other => Problem::new("$", other.to_string()),
        }
    }

    /// The problems behind this error, one per place.
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            Self::Event(p) | Self::Notification(p) | Self::CustomResource(p) => vec![p.clone()],
            Self::Mapping(ps) | Self::Config(ps) => ps.clone(),
            other => vec![Problem::new("$", other.to_string())],
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_error_lists_every_problem_on_its_own_line() {
        let err = Error::Mapping(vec![
            Problem::new("$.defaultLaceworkAccountAws", "is missing"),
            Problem::new("$.integration_mappings", "must be an object"),
        ]);
        assert_eq!(
            err.to_string(),
            "invalid account mapping (2 problems):\n  - $.defaultLaceworkAccountAws: is missing\n  - $.integration_mappings: must be an object"
        );
    }

    #[test]
    fn a_problem_of_a_value_is_placed_where_the_value_was_read() {
        assert_eq!(
            Problem::of_value("must be true or false").at("TOWER_MONITOR_EXISTING_ACCOUNTS"),
            Problem::new("TOWER_MONITOR_EXISTING_ACCOUNTS", "must be true or false")
        );
        assert_eq!(
            Problem::new("$.expiresAt", "is not a date").at("$.token"),
            Problem::new("$.token.expiresAt", "is not a date")
        );
        let placed = Problem::new("LACEWORK_URL", "is required");
        assert_eq!(placed.clone().at("$.other"), placed);
    }

    #[test]
    fn lacework_error_names_operation_kind_and_status() {
        let err = Error::Lacework {
            kind: LaceworkErrorKind::RateLimited,
            operation: "POST /api/v2/CloudAccounts".into(),
            status: Some(429),
            message: "too many requests".into(),
            retry_after: Some(3),
        };
        assert_eq!(
            err.to_string(),
            "Lacework API POST /api/v2/CloudAccounts failed (rate limited, HTTP 429): too many requests"
        );
        assert!(err.is_retryable());
    }

    #[test]
    fn only_transient_lacework_failures_are_retryable() {
        use LaceworkErrorKind::*;
        for kind in [RateLimited, Server, Timeout, Transport] {
            assert!(kind.is_retryable(), "{kind:?}");
        }
        for kind in [
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            Decode,
        ] {
            assert!(!kind.is_retryable(), "{kind:?}");
        }
        assert!(!Error::ExternalId("bad".into()).is_retryable());
    }
}
