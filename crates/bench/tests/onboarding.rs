//! The benchmark's run, small: every account onboarded and what it cost within the product's
//! promises (the numbers at scale are `make bench`'s).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use lwct_bench::onboarding::run;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_accounts_are_registered_and_answered_with_one_write_each() {
    let measured = run(60).await.unwrap();
    assert_eq!(measured.registered, 60);
    assert_eq!(measured.answered, 60);
    assert_eq!(measured.lacework.rejected, 0, "{measured:?}");
    assert_eq!(measured.lacework.writes, 60, "{measured:?}");
    assert_eq!(measured.stack_set_operations(), 1, "{measured:?}");
}
