//! Where the client gets its access token, and how it gets a new one when the API refuses it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::Mutex;
use url::Url;

use super::transport::{
    ClientOptions, Outgoing, Transport, decode, encode, endpoint, failure, operation,
    parse_base_url, secret_header,
};
use lwct_domain::error::{Error, LaceworkErrorKind};
use lwct_domain::lacework::{Credentials, Token, TokenWire};

/// The future a [`TokenSource`] returns.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<Token, Error>> + Send + 'a>>;

/// Gives the client its access token. The client asks for [`TokenSource::current`] before a
/// call, and once for [`TokenSource::renew`] when the API answers 401 to a token.
///
/// [`KeyTokenSource`] requests tokens with the API keys; the Lambdas plug in a source that
/// reads the token kept in Secrets Manager.
pub trait TokenSource: Send + Sync {
    /// A token to use now, from a cache when it is still good.
    fn current(&self) -> TokenFuture<'_>;

    /// A token to use instead of `rejected`, which the API refused. If the source already holds
    /// a newer token than `rejected` (another call renewed it meanwhile), it returns that one.
    fn renew<'a>(&'a self, rejected: &'a Token) -> TokenFuture<'a>;
}

/// A fixed token, for callers that got one elsewhere; it cannot be renewed.
#[derive(Debug, Clone)]
pub struct StaticTokenSource {
    token: Token,
}

impl StaticTokenSource {
    /// A source that always gives `token`.
    pub fn new(token: Token) -> Self {
        Self { token }
    }
}

impl TokenSource for StaticTokenSource {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(async move { Ok(self.token.clone()) })
    }

    fn renew<'a>(&'a self, _rejected: &'a Token) -> TokenFuture<'a> {
        Box::pin(async move {
            Err(failure(
                LaceworkErrorKind::Unauthorized,
                "renew access token",
                "the API refused the token and this token source cannot get another",
            ))
        })
    }
}

/// Requests tokens from `POST /api/v2/access/tokens` with an API key, and keeps the current
/// one until it is about to expire.
pub struct KeyTokenSource {
    transport: Transport,
    url: Url,
    credentials: Credentials,
    lifetime: Duration,
    cached: Mutex<Option<CachedToken>>,
}

#[derive(Clone)]
struct CachedToken {
    token: Token,
    received_at: OffsetDateTime,
}

impl CachedToken {
    /// Good for the next call: not within the renewal margin of its expiry. The margin is
    /// `renew_before`, but at most half the token's life (a short-lived token is still used).
    fn is_fresh(&self, renew_before: Duration, now: OffsetDateTime) -> bool {
        let life = self.token.expires_at() - self.received_at;
        let half_life = Duration::try_from(life / 2).unwrap_or(Duration::ZERO);
        !self.token.expires_within(renew_before.min(half_life), now)
    }
}

/// How long before expiry a [`KeyTokenSource`] replaces its token.
const RENEW_BEFORE: Duration = Duration::from_secs(6 * 3600);

/// The body of a token request.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest<'a> {
    key_id: &'a str,
    expiry_time: u64,
}

impl KeyTokenSource {
    /// Tokens that live a day, renewed six hours before they expire (as the Control Tower
    /// anchor does): fewer token calls against a rate budget of about 480 requests an hour.
    pub fn new(
        base_url: &str,
        credentials: Credentials,
        options: &ClientOptions,
    ) -> Result<Self, Error> {
        let base = parse_base_url(base_url)?;
        Ok(Self::with_transport(
            &base,
            credentials,
            Transport::new(options, None)?,
        ))
    }

    pub(crate) fn with_transport(
        base: &Url,
        credentials: Credentials,
        transport: Transport,
    ) -> Self {
        Self {
            transport,
            url: endpoint(base, &["access", "tokens"]),
            credentials,
            lifetime: KeyTokenRequester::DEFAULT_LIFETIME,
            cached: Mutex::new(None),
        }
    }

    /// How long requested tokens live (`expiryTime`, whole seconds, at least one).
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime.max(Duration::from_secs(1));
        self
    }

    /// A new token from the API, whatever is cached (the cache is not touched).
    pub async fn request_token(&self) -> Result<Token, Error> {
        let operation = operation(&Method::POST, &self.url);
        let request = TokenRequest {
            key_id: &self.credentials.key_id,
            expiry_time: self.lifetime.as_secs(),
        };
        let body = encode(&operation, &request)?;
        let secret = self.credentials.secret_key.expose();
        let key_header = secret_header(secret, &operation, "the secret key")?;
        let secrets = [secret];
        let answer = self
            .transport
            .send(&Outgoing {
                method: Method::POST,
                url: self.url.clone(),
                operation: &operation,
                headers: vec![("X-LW-UAKS", key_header)],
                body: Some(&body),
                secrets: &secrets,
                // A second token does no harm.
                idempotent: true,
            })
            .await?;
        let wire: TokenWire = decode(&operation, &answer, &secrets)?;
        let token = wire.into_token().map_err(|problem| {
            failure(LaceworkErrorKind::Decode, &operation, problem.to_string())
        })?;
        tracing::info!(
            operation = %operation,
            key_id = %self.credentials.key_id,
            expires_at = %token.expires_at(),
            "got a Lacework access token"
        );
        Ok(token)
    }

    /// The cached token if `good` says it may be used now, else a new one (then cached).
    async fn cached_or_new(
        &self,
        good: impl Fn(&CachedToken, OffsetDateTime) -> bool,
    ) -> Result<Token, Error> {
        // Held across the request so that concurrent calls wait for one new token.
        let mut cached = self.cached.lock().await;
        let now = OffsetDateTime::now_utc();
        if let Some(held) = cached.as_ref().filter(|held| good(held, now)) {
            return Ok(held.token.clone());
        }
        let token = self.request_token().await?;
        *cached = Some(CachedToken {
            token: token.clone(),
            received_at: OffsetDateTime::now_utc(),
        });
        Ok(token)
    }
}

impl TokenSource for KeyTokenSource {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(self.cached_or_new(|held, now| held.is_fresh(RENEW_BEFORE, now)))
    }

    /// A newer token than `rejected` that has not expired yet, else a new one.
    fn renew<'a>(&'a self, rejected: &'a Token) -> TokenFuture<'a> {
        Box::pin(self.cached_or_new(move |held, now| {
            held.token != *rejected && !held.token.expires_within(Duration::ZERO, now)
        }))
    }
}

impl fmt::Debug for KeyTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyTokenSource")
            .field("url", &self.url.as_str())
            .field("credentials", &self.credentials)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// Gets a new Lacework access token with an API key.
pub trait TokenRequester: Send + Sync {
    /// A new token for `credentials`; a wrong key is [`Error::Lacework`] with
    /// [`lwct_domain::error::LaceworkErrorKind::Unauthorized`].
    fn request_token(
        &self,
        credentials: &Credentials,
    ) -> impl Future<Output = Result<Token, Error>> + Send;
}

/// Requests tokens from Lacework's `POST /api/v2/access/tokens` (through [`KeyTokenSource`]).
#[derive(Debug, Clone)]
pub struct KeyTokenRequester {
    base_url: String,
    options: ClientOptions,
}

impl KeyTokenRequester {
    /// Tokens kept in the secret live as long as Lacework allows (24 hours), so a renewal
    /// window of a few hours leaves most of a day between renewals.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);

    /// Requests tokens from the API at `base_url` (`https://acme.lacework.net`).
    pub fn new(base_url: impl Into<String>, options: ClientOptions) -> Self {
        KeyTokenRequester {
            base_url: base_url.into(),
            options,
        }
    }
}

impl TokenRequester for KeyTokenRequester {
    fn request_token(
        &self,
        credentials: &Credentials,
    ) -> impl Future<Output = Result<Token, Error>> + Send {
        let credentials = credentials.clone();
        async move {
            // A key token source asks for tokens of the default lifetime.
            KeyTokenSource::new(&self.base_url, credentials, &self.options)?
                .request_token()
                .await
        }
    }
}

impl<R: TokenRequester + ?Sized> TokenRequester for Arc<R> {
    fn request_token(
        &self,
        credentials: &Credentials,
    ) -> impl Future<Output = Result<Token, Error>> + Send {
        (**self).request_token(credentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn key_tokens_live_a_day_and_are_renewed_six_hours_early() {
        let source = KeyTokenSource::new(
            "https://acme.lacework.net",
            Credentials::new("ACME_KEY", "_secret"),
            &ClientOptions::default(),
        )
        .unwrap();
        assert_eq!(source.lifetime, Duration::from_secs(86_400));
        // A day-long token is kept until six hours before it expires.
        let held = CachedToken {
            token: Token::new("t", datetime!(2030-01-02 12:00:00 UTC)),
            received_at: datetime!(2030-01-01 12:00:00 UTC),
        };
        assert!(held.is_fresh(RENEW_BEFORE, datetime!(2030-01-02 05:59:00 UTC)));
        assert!(!held.is_fresh(RENEW_BEFORE, datetime!(2030-01-02 06:01:00 UTC)));
    }

    #[test]
    fn short_lived_tokens_are_used_for_half_their_life() {
        let received_at = datetime!(2030-01-01 12:00:00 UTC);
        let held = CachedToken {
            token: Token::new("t", datetime!(2030-01-01 12:00:10 UTC)),
            received_at,
        };
        let margin = Duration::from_secs(300);
        assert!(held.is_fresh(margin, datetime!(2030-01-01 12:00:04 UTC)));
        assert!(!held.is_fresh(margin, datetime!(2030-01-01 12:00:06 UTC)));

        let long = CachedToken {
            token: Token::new("t", datetime!(2030-01-01 13:00:00 UTC)),
            received_at,
        };
        assert!(long.is_fresh(margin, datetime!(2030-01-01 12:54:00 UTC)));
        assert!(!long.is_fresh(margin, datetime!(2030-01-01 12:56:00 UTC)));
    }

    #[test]
    fn token_request_body_shape() {
        let body = serde_json::to_value(TokenRequest {
            key_id: "ACME_KEY",
            expiry_time: 3600,
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"keyId": "ACME_KEY", "expiryTime": 3600})
        );
    }

    #[test]
    fn debug_hides_the_secret_key() {
        let source = KeyTokenSource::new(
            "https://acme.lacework.net",
            Credentials::new("ACME_KEY", "_s3cr3t_value"),
            &ClientOptions::default(),
        )
        .unwrap();
        let shown = format!("{source:?}");
        assert!(shown.contains("ACME_KEY"), "{shown}");
        assert!(!shown.contains("_s3cr3t_value"), "{shown}");
    }

    #[tokio::test]
    async fn static_source_cannot_renew() {
        let token = Token::new("t", datetime!(2030-01-01 12:00 UTC));
        let source = StaticTokenSource::new(token.clone());
        assert_eq!(source.current().await.unwrap(), token);
        let err = source.renew(&token).await.unwrap_err();
        assert!(matches!(
            err,
            Error::Lacework {
                kind: LaceworkErrorKind::Unauthorized,
                ..
            }
        ));
    }
}
