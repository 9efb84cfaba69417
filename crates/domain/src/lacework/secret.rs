//! Values that must never be shown: API secret keys, access tokens, external ids.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::Problem;

/// What every redacted value prints as.
pub const REDACTED: &str = "<redacted>";

/// A string that is confidential: `Debug` prints `<redacted>` (it has no `Display`); only
/// [`SecretString::expose`] gives the value, for the one place that has to send it.
///
/// It serializes as the plain string because request bodies (an external id in
/// `crossAccountCredentials`) must carry it.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a confidential value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The confidential value itself. Call it only where the value is sent, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A Lacework API key: the key id (not secret) and its secret key (redacted in `Debug`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The API key id (`keyId`), shown in logs when useful.
    pub key_id: String,
    /// The API secret key, sent only in the `X-LW-UAKS` header of a token request.
    pub secret_key: SecretString,
}

impl Credentials {
    /// An API key from its id and secret key.
    pub fn new(key_id: impl Into<String>, secret_key: impl Into<SecretString>) -> Self {
        Self {
            key_id: key_id.into(),
            secret_key: secret_key.into(),
        }
    }
}

/// A Lacework API access token and the moment it stops working.
///
/// Lacework sends it as [`TokenWire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    value: SecretString,
    expires_at: OffsetDateTime,
}

impl Token {
    /// A token that stops working at `expires_at`.
    pub fn new(value: impl Into<SecretString>, expires_at: OffsetDateTime) -> Self {
        Self {
            value: value.into(),
            expires_at,
        }
    }

    /// The token itself; send it only in the `Authorization` header.
    pub fn value(&self) -> &SecretString {
        &self.value
    }

    /// When the token stops working.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.expires_at
    }

    /// Whether the token is expired at `now`, or will be within `window` of it.
    pub fn expires_within(&self, window: Duration, now: OffsetDateTime) -> bool {
        // A window too large to represent simply means "renew now".
        time::Duration::try_from(window)
            .ok()
            .and_then(|window| now.checked_add(window))
            .is_none_or(|limit| self.expires_at <= limit)
    }
}

/// The wire shape of a token: Lacework's `POST /api/v2/access/tokens` answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenWire {
    pub token: SecretString,
    pub expires_at: String,
}

impl TokenWire {
    /// The token, or what is wrong with `expiresAt` (the token value is never in the message).
    pub fn into_token(self) -> Result<Token, Problem> {
        if self.token.is_empty() {
            return Err(Problem::new("$.token", "is empty"));
        }
        let expires_at = OffsetDateTime::parse(&self.expires_at, &Rfc3339).map_err(|e| {
            Problem::new(
                "$.expiresAt",
                format!(
                    "{:?} is not an RFC 3339 date and time: {e}",
                    self.expires_at
                ),
            )
        })?;
        Ok(Token::new(self.token, expires_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn secrets_never_show_in_debug() {
        let secret = SecretString::new("_abc123secret");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(secret.expose(), "_abc123secret");

        let credentials = Credentials::new("ACME_KEY", "_abc123secret");
        let shown = format!("{credentials:?} {credentials:#?}");
        assert!(shown.contains("ACME_KEY"));
        assert!(!shown.contains("_abc123secret"), "{shown}");

        let token = Token::new("tok-xyz", datetime!(2030-01-01 0:00 UTC));
        let shown = format!("{token:?}");
        assert!(!shown.contains("tok-xyz"), "{shown}");
    }

    #[test]
    fn secret_serializes_as_its_plain_value() {
        let secret = SecretString::new("lweid:aws:v2:acme:123456789012:x");
        let json = serde_json::to_string(&secret).unwrap();
        assert_eq!(json, "\"lweid:aws:v2:acme:123456789012:x\"");
        let back: SecretString = serde_json::from_str(&json).unwrap();
        assert_eq!(back, secret);
    }

    #[test]
    fn token_expiry_window() {
        let token = Token::new("t", datetime!(2030-01-01 12:00 UTC));
        let before = datetime!(2030-01-01 11:50 UTC);
        assert!(!token.expires_within(Duration::from_secs(5 * 60), before));
        assert!(token.expires_within(Duration::from_secs(10 * 60), before));
        assert!(token.expires_within(Duration::ZERO, datetime!(2030-01-01 12:00 UTC)));
        assert!(token.expires_within(Duration::ZERO, datetime!(2030-01-01 12:01 UTC)));
        assert!(token.expires_within(Duration::MAX, before));
    }

    #[test]
    fn token_is_read_in_the_api_shape() {
        let json = r#"{"token":"tok-1","expiresAt":"2030-01-01T12:00:00.123Z"}"#;
        let wire: TokenWire = serde_json::from_str(json).unwrap();
        let token = wire.into_token().unwrap();
        assert_eq!(token.value().expose(), "tok-1");
        assert_eq!(token.expires_at(), datetime!(2030-01-01 12:00:00.123 UTC));
    }

    #[test]
    fn token_with_a_bad_date_names_the_field_and_not_the_token() {
        let json = r#"{"token":"tok-secret","expiresAt":"tomorrow"}"#;
        let wire: TokenWire = serde_json::from_str(json).unwrap();
        let problem = wire.into_token().unwrap_err();
        assert_eq!(problem.path, "$.expiresAt");
        assert!(!problem.to_string().contains("tok-secret"), "{problem}");
    }
}
