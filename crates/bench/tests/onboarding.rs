//! The benchmark's run, small: every account onboarded and what it cost within the product's
//! promises (the numbers at scale are `make bench`'s).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use lwct_bench::onboarding::{RateLimitHeaders, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_accounts_are_registered_and_answered_with_one_write_each() {
    let measured = run(60, RateLimitHeaders::NotSent).await.unwrap();
    assert_eq!(measured.registered, 60);
    assert_eq!(measured.answered, 60);
    assert_eq!(measured.lacework.rejected, 0, "{measured:?}");
    assert_eq!(measured.lacework.writes, 60, "{measured:?}");
    assert_eq!(measured.stack_set_operations(), 1, "{measured:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_learned_from_rate_limit_headers_finishes_sooner_and_meets_no_429() {
    let fixed = run(240, RateLimitHeaders::NotSent).await.unwrap();
    let learned = run(240, RateLimitHeaders::Sent).await.unwrap();
    for measured in [&fixed, &learned] {
        assert_eq!(measured.registered, 240);
        assert_eq!(measured.lacework.rejected, 0, "{measured:?}");
        assert_eq!(measured.lacework.writes, 240, "{measured:?}");
    }
    // 30 a run without the headers; a twelfth of the 480 an hour with them.
    assert!(
        learned.drain_runs < fixed.drain_runs,
        "learned {} runs, fixed {}",
        learned.drain_runs,
        fixed.drain_runs
    );
}
