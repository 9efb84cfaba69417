//! Lacework API v2 client: access tokens and `CloudAccounts` integrations.
//!
//! * Typed requests and answers ([`CloudAccount`], [`AwsCfgData`], [`AwsCtSqsData`],
//!   [`SearchRequest`]); bodies are always serialized by serde.
//! * Every call names its [`Scope`]: one sub-account (`Account-Name`, lower case) or the
//!   organization (`Org-Access: true`).
//! * Failures are [`crate::Error::Lacework`] with a [`crate::error::LaceworkErrorKind`] that
//!   says whether to try again; retryable ones are retried with exponential backoff and full
//!   jitter ([`RetryPolicy`]), honouring `Retry-After`. A 401 renews the token once through
//!   the [`TokenSource`].
//! * Idempotent helpers ([`Client::register_or_reconcile`], [`Client::find_by_aws_account`],
//!   [`Client::deregister_aws_account`]) make repeated deliveries harmless.
//! * Secret keys, tokens and external ids are [`SecretString`]s: redacted in `Debug`,
//!   `Display`, logs and error messages.

mod client;
mod registration;
mod retry;
mod scope;
mod secret;
mod token;
mod transport;
mod types;

pub use client::Client;
pub use registration::{Outcome, Registration};
pub use retry::{RetryPolicy, parse_retry_after};
pub use scope::{Scope, SubAccount};
pub use secret::{Credentials, SecretString, Token};
pub use token::{KeyTokenSource, StaticTokenSource, TokenFuture, TokenSource};
pub use transport::ClientOptions;
pub use types::{
    AwsCfgData, AwsCtSqsData, CloudAccount, CloudAccountSpec, CrossAccountCredentials, Expression,
    Filter, IntegrationData, IntegrationState, SearchRequest,
};
