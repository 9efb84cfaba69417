//! Lacework API v2 client: access tokens and `CloudAccounts` integrations.
//!
//! * Typed requests and answers (the records of `lwct_domain::lacework`, [`SearchRequest`]);
//!   bodies are always serialized by serde.
//! * Every call names its scope: one sub-account (`Account-Name`, lower case) or the
//!   organization (`Org-Access: true`).
//! * Failures are `Error::Lacework` with a kind that says whether to try again; retryable ones
//!   are retried with exponential backoff and full jitter ([`RetryPolicy`]), honouring
//!   `Retry-After`. A 401 renews the token once through the [`TokenSource`].
//! * Idempotent helpers ([`Client::register_or_reconcile`], [`Client::find_by_aws_account`],
//!   [`Client::deregister_aws_account`]) make repeated deliveries harmless.
//! * What answers say about the key's rate limit (`RateLimit-*` headers, when sent) goes to a
//!   [`RateLimitObserver`] ([`Client::observed`]).
//! * [`KeyTokenRequester`] gets new tokens with the API key (`POST /api/v2/access/tokens`).

mod client;
mod rate_limit;
mod registration;
mod retry;
mod search;
mod token;
mod transport;

pub use client::Client;
pub use rate_limit::{RateLimitObserver, RateLimitSeen};
pub use registration::{Listing, Outcome, Registration};
pub use retry::{RetryPolicy, parse_retry_after};
pub use search::{Expression, Filter, SearchRequest};
pub use token::{
    KeyTokenRequester, KeyTokenSource, StaticTokenSource, TokenFuture, TokenRequester, TokenSource,
};
pub use transport::ClientOptions;
