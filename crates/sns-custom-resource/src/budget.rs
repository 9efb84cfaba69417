//! The drain's budget of Lacework requests, enforced where every request starts.
//!
//! The Lacework client takes a token before each call it sends (and renews it once on a 401
//! before sending the call again); the drain's client makes no retries of its own (the queue
//! retries), so counting token hand-outs counts API requests exactly. [`BudgetedTokenSource`]
//! charges the budget each time it hands out a token, and [`BudgetedTokenRequester`] charges it
//! for each token requested from Lacework. Once the budget is spent both refuse, so no request
//! is ever sent past it: the work that asked waits on the queue for the next run.
//!
//! The budget is `TOWER_REGISTRATION_BUDGET` until Lacework says more: once an answer reports
//! the key's limit and what is left of it (`RateLimit-*` headers, [`RateLimitSeen`]), a run may
//! make its share of the limit (a twelfth: a run every five minutes, a limit per hour; never
//! less than the configured budget, in case the limit is over a shorter window) as long as
//! `TOWER_REGISTRATION_RESERVE` requests stay for the other functions and users of the key.
//! That budget is learned afresh from every answer, so another user of the key slows the drain
//! down instead of making it hit 429s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use lwct_domain::Error;
use lwct_domain::error::LaceworkErrorKind;
use lwct_domain::lacework::{Credentials, Token};
use lwct_lacework::{RateLimitObserver, RateLimitSeen, TokenRequester};
use lwct_lacework::{TokenFuture, TokenSource};

/// Drain runs per window of Lacework's limit: one every five minutes (template.yaml,
/// `rate(5 minutes)`), a limit per hour (as Lacework documents it).
const RUNS_PER_WINDOW: u32 = 12;

/// No limit learned yet.
const NOT_LEARNED: u32 = u32::MAX;

/// How many Lacework requests one drain run may still make.
#[derive(Debug)]
pub struct RequestBudget {
    /// The budget while Lacework says nothing about its limit.
    configured: u32,
    /// Requests of the key's window never spent once Lacework says what is left.
    reserve: u32,
    /// The budget Lacework's last answer allows, or [`NOT_LEARNED`].
    learned: AtomicU32,
    used: AtomicU32,
    refused: AtomicBool,
}

impl RequestBudget {
    /// A budget of `limit` requests, until an answer says otherwise; `reserve` requests of
    /// what an answer says is left are never spent.
    pub fn new(limit: u32, reserve: u32) -> Self {
        Self {
            configured: limit,
            reserve,
            learned: AtomicU32::new(NOT_LEARNED),
            used: AtomicU32::new(0),
            refused: AtomicBool::new(false),
        }
    }

    /// Counts one request about to be sent; once `limit` are counted, refuses (a retryable
    /// "rate limited" error that says the run's budget is spent) and remembers that it did.
    pub fn take(&self, operation: &str) -> Result<(), Error> {
        let limit = self.limit();
        let counted = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used < limit).then_some(used + 1)
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
                        "this run's budget of {limit} Lacework requests is spent; the work waits for the next run"
                    ),
                    retry_after: None,
                })
            }
        }
    }

    /// The budget: the configured one, or the one the last answer allows.
    pub fn limit(&self) -> u32 {
        match self.learned.load(Ordering::SeqCst) {
            NOT_LEARNED => self.configured,
            learned => learned,
        }
    }

    /// Whether the budget is one Lacework's answers gave.
    pub fn is_learned(&self) -> bool {
        self.learned.load(Ordering::SeqCst) != NOT_LEARNED
    }

    /// Requests counted so far.
    pub fn used(&self) -> u32 {
        self.used.load(Ordering::SeqCst)
    }

    /// Requests still allowed.
    pub fn remaining(&self) -> u32 {
        self.limit().saturating_sub(self.used())
    }

    /// Whether a request was refused because the budget was spent.
    pub fn was_refused(&self) -> bool {
        self.refused.load(Ordering::SeqCst)
    }
}

impl RateLimitObserver for RequestBudget {
    /// The run's share of the reported limit, or the configured budget if that is more (or
    /// no limit is reported), and no more than leaves the reserve of what is reported left.
    /// Nothing learned from an answer that does not say what is left.
    fn observed(&self, seen: RateLimitSeen) {
        let Some(left) = seen.remaining else {
            return;
        };
        let share = seen.limit.map_or(self.configured, |limit| {
            (limit / RUNS_PER_WINDOW).max(self.configured)
        });
        let until_reserve = self
            .used()
            .saturating_add(left.saturating_sub(self.reserve));
        self.learned
            .store(share.min(until_reserve), Ordering::SeqCst);
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

    const RESERVE: u32 = 5;

    fn token(value: &str) -> Token {
        Token::new(value, OffsetDateTime::now_utc() + time::Duration::hours(1))
    }

    #[test]
    fn the_budget_counts_to_its_limit_then_refuses() {
        let budget = RequestBudget::new(2, RESERVE);
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

    fn seen(limit: Option<u32>, remaining: Option<u32>) -> RateLimitSeen {
        RateLimitSeen { limit, remaining }
    }

    #[test]
    fn a_reported_limit_gives_the_run_its_share_while_enough_is_left_to_others() {
        let budget = RequestBudget::new(30, RESERVE);
        budget.take("list").unwrap();
        budget.observed(seen(Some(480), Some(479)));
        assert!(budget.is_learned());
        assert_eq!((budget.limit(), budget.remaining()), (40, 39));

        // Someone else spends the key: the run stops RESERVE short of Lacework's 429.
        budget.take("create").unwrap();
        budget.observed(seen(Some(480), Some(RESERVE + 3)));
        assert_eq!(budget.remaining(), 3);
        for _ in 0..3 {
            budget.take("create").unwrap();
        }
        assert!(budget.take("create").is_err());
        assert_eq!(budget.used(), 5);

        // Spent past the reserve already (a 429 says 0 left): nothing more this run.
        budget.observed(seen(None, Some(0)));
        assert_eq!(budget.remaining(), 0);
    }

    #[test]
    fn without_a_limit_the_configured_budget_holds_and_what_is_left_can_only_lower_it() {
        let budget = RequestBudget::new(30, RESERVE);
        budget.observed(seen(None, Some(400)));
        assert_eq!(budget.limit(), 30);
        budget.observed(seen(None, Some(RESERVE + 2)));
        assert_eq!(budget.limit(), 2);
        // An answer that does not say what is left changes nothing.
        budget.observed(seen(Some(4800), None));
        assert_eq!(budget.limit(), 2);
        // A limit whose twelfth is less than the configured budget (one over a shorter window)
        // leaves the configured budget, within what is left.
        let per_minute = RequestBudget::new(30, RESERVE);
        per_minute.observed(seen(Some(60), Some(59)));
        assert_eq!(per_minute.limit(), 30);
        per_minute.observed(seen(Some(60), Some(RESERVE + 4)));
        assert_eq!(per_minute.limit(), 4);
    }

    #[tokio::test]
    async fn every_token_handed_out_is_charged_and_none_past_the_budget() {
        let budget = Arc::new(RequestBudget::new(2, RESERVE));
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
        let budget = Arc::new(RequestBudget::new(1, RESERVE));
        let requester = BudgetedTokenRequester::new(Requester(AtomicUsize::new(0)), budget);
        let credentials = Credentials::new("KEY", "_secret");
        requester.request_token(&credentials).await.unwrap();
        assert!(requester.request_token(&credentials).await.is_err());
        assert_eq!(requester.inner.0.load(Ordering::SeqCst), 1);
    }
}
