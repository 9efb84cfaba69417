//! The drain's budget of Lacework requests, enforced where every request starts.
//!
//! The Lacework client takes a token before each call it sends (and renews it once on a 401
//! before sending the call again); the drain's client makes no retries of its own (the queue
//! retries), so counting token hand-outs counts API requests exactly. [`BudgetedTokenSource`]
//! charges the budget each time it hands out a token, and [`BudgetedTokenRequester`] charges it
//! for each token requested from Lacework. Once the budget is spent both refuse, so no request
//! is ever sent past it: the work that asked waits on the queue for the next run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use lwct_domain::Error;
use lwct_domain::error::LaceworkErrorKind;
use lwct_domain::lacework::{Credentials, Token};
use lwct_lacework::TokenRequester;
use lwct_lacework::{TokenFuture, TokenSource};

/// How many Lacework requests one drain run may still make.
#[derive(Debug)]
pub struct RequestBudget {
    limit: u32,
    used: AtomicU32,
    refused: AtomicBool,
}

impl RequestBudget {
    /// A budget of `limit` requests.
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            used: AtomicU32::new(0),
            refused: AtomicBool::new(false),
        }
    }

    /// Counts one request about to be sent; once `limit` are counted, refuses (a retryable
    /// "rate limited" error that says the run's budget is spent) and remembers that it did.
    pub fn take(&self, operation: &str) -> Result<(), Error> {
        let counted = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used < self.limit).then_some(used + 1)
            });
        match counted {
            Ok(_) => Ok(()),
            Err(_) => {
                self.refused.store(true, Ordering::SeqCst);
                Err(Error::Lacework {
                    kind: LaceworkErrorKind::RateLimited,
                    operation: operation.to_owned(),
                    status: None,
                    message: format!(
                        "this run's budget of {} Lacework requests is spent; the work waits for the next run",
                        self.limit
                    ),
                    retry_after: None,
                })
            }
        }
    }

    /// The budget.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Requests counted so far.
    pub fn used(&self) -> u32 {
        self.used.load(Ordering::SeqCst)
    }

    /// Requests still allowed.
    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.used())
    }

    /// Whether a request was refused because the budget was spent.
    pub fn was_refused(&self) -> bool {
        self.refused.load(Ordering::SeqCst)
    }
}

/// A [`TokenSource`] that charges the budget for the request each token is handed out for.
pub struct BudgetedTokenSource<T> {
    inner: T,
    budget: Arc<RequestBudget>,
}

impl<T: TokenSource> BudgetedTokenSource<T> {
    pub fn new(inner: T, budget: Arc<RequestBudget>) -> Self {
        Self { inner, budget }
    }
}

impl<T: TokenSource> TokenSource for BudgetedTokenSource<T> {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            // The token first: getting one may itself cost a (separately charged) request.
            let token = self.inner.current().await?;
            self.budget.take("Lacework API request")?;
            Ok(token)
        })
    }

    fn renew<'a>(&'a self, rejected: &'a Token) -> TokenFuture<'a> {
        Box::pin(async move {
            let token = self.inner.renew(rejected).await?;
            // The refused request is sent again with the new token.
            self.budget
                .take("Lacework API request (sent again with a new token)")?;
            Ok(token)
        })
    }
}

/// A [`TokenRequester`] that charges the budget for each token requested from Lacework.
pub struct BudgetedTokenRequester<R> {
    inner: R,
    budget: Arc<RequestBudget>,
}

impl<R: TokenRequester> BudgetedTokenRequester<R> {
    pub fn new(inner: R, budget: Arc<RequestBudget>) -> Self {
        Self { inner, budget }
    }
}

impl<R: TokenRequester> TokenRequester for BudgetedTokenRequester<R> {
    async fn request_token(&self, credentials: &Credentials) -> Result<Token, Error> {
        self.budget.take("POST /api/v2/access/tokens")?;
        self.inner.request_token(credentials).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use lwct_lacework::StaticTokenSource;
    use time::OffsetDateTime;

    use super::*;

    fn token(value: &str) -> Token {
        Token::new(value, OffsetDateTime::now_utc() + time::Duration::hours(1))
    }

    #[test]
    fn the_budget_counts_to_its_limit_then_refuses() {
        let budget = RequestBudget::new(2);
        budget.take("a").unwrap();
        assert_eq!(budget.remaining(), 1);
        assert!(!budget.was_refused());
        budget.take("b").unwrap();
        let err = budget.take("c").unwrap_err();
        assert!(err.is_retryable());
        assert!(err.to_string().contains("budget of 2"), "{err}");
        assert!(budget.was_refused());
        assert_eq!(
            (budget.used(), budget.remaining(), budget.limit()),
            (2, 0, 2)
        );
    }

    #[tokio::test]
    async fn every_token_handed_out_is_charged_and_none_past_the_budget() {
        let budget = Arc::new(RequestBudget::new(2));
        let source = BudgetedTokenSource::new(StaticTokenSource::new(token("t")), budget.clone());
        source.current().await.unwrap();
        source.current().await.unwrap();
        assert!(source.current().await.is_err());
        assert_eq!(budget.used(), 2);
    }

    struct Requester(AtomicUsize);

    impl TokenRequester for Requester {
        async fn request_token(&self, _credentials: &Credentials) -> Result<Token, Error> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(token("fresh"))
        }
    }

    #[tokio::test]
    async fn a_token_request_past_the_budget_is_never_sent() {
        let budget = Arc::new(RequestBudget::new(1));
        let requester = BudgetedTokenRequester::new(Requester(AtomicUsize::new(0)), budget);
        let credentials = Credentials::new("KEY", "_secret");
        requester.request_token(&credentials).await.unwrap();
        assert!(requester.request_token(&credentials).await.is_err());
        assert_eq!(requester.inner.0.load(Ordering::SeqCst), 1);
    }
}
