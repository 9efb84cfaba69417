//! When to try a Lacework call again, and how long to wait first.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

/// How often, and how patiently, a failed call is tried again. Only failures that may pass
/// (rate limited, server error, timeout, connection failure) are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 means "never retry").
    pub max_attempts: u32,
    /// The backoff ceiling after the first failure; it doubles after each further failure.
    pub base_delay: Duration,
    /// No wait is longer than this, not even one the API asks for with `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The longest wait after `failures` failed attempts: `base_delay * 2^(failures-1)`,
    /// capped by `max_delay`.
    pub fn ceiling(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }

    /// The wait before the next attempt: "full jitter" (a uniformly random wait between zero
    /// and the ceiling, so many clients backing off at once spread out), but never less than
    /// what the API asked for (`retry_after`), and never more than `max_delay`.
    ///
    /// `random` is any random number; it picks the point in the range.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>, random: u64) -> Duration {
        let ceiling = self.ceiling(failures);
        let ceiling_nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let jitter = match ceiling_nanos.checked_add(1) {
            Some(span) => Duration::from_nanos(random % span),
            None => Duration::from_nanos(random),
        };
        let asked = retry_after.unwrap_or(Duration::ZERO);
        jitter.max(asked).min(self.max_delay)
    }

    /// The wait before the next attempt, with randomness from the operating system.
    pub(crate) fn next_delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        // If the OS has no randomness to give, waiting the whole ceiling is still correct.
        let random = getrandom::u64().unwrap_or(u64::MAX);
        self.delay(failures, retry_after, random)
    }
}

/// A `Retry-After` header value: delay seconds, or an HTTP date (then the seconds from `now`).
pub fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds);
    }
    let at = OffsetDateTime::parse(value, &Rfc2822).ok()?;
    let seconds = (at - now).whole_seconds();
    Some(u64::try_from(seconds).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }
    }

    #[test]
    fn ceiling_doubles_and_is_capped() {
        let p = policy();
        assert_eq!(p.ceiling(1), Duration::from_millis(100));
        assert_eq!(p.ceiling(2), Duration::from_millis(200));
        assert_eq!(p.ceiling(4), Duration::from_millis(800));
        assert_eq!(p.ceiling(5), Duration::from_secs(1));
        assert_eq!(p.ceiling(500), Duration::from_secs(1));
    }

    #[test]
    fn retry_after_is_honoured_but_capped() {
        let p = policy();
        assert_eq!(
            p.delay(1, Some(Duration::from_millis(700)), 0),
            Duration::from_millis(700)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3600)), 0),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn retry_after_header_forms() {
        let now = datetime!(2024-05-01 10:00:00 UTC);
        assert_eq!(parse_retry_after("3", now), Some(3));
        assert_eq!(parse_retry_after(" 120 ", now), Some(120));
        assert_eq!(
            parse_retry_after("Wed, 01 May 2024 10:00:30 GMT", now),
            Some(30)
        );
        assert_eq!(
            parse_retry_after("Wed, 01 May 2024 09:00:00 GMT", now),
            Some(0)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    proptest! {
        #[test]
        fn delay_is_within_the_ceiling(failures in 1u32..100, random in any::<u64>()) {
            let p = policy();
            let delay = p.delay(failures, None, random);
            prop_assert!(delay <= p.ceiling(failures));
            prop_assert!(delay <= p.max_delay);
        }

        #[test]
        fn delay_is_at_least_retry_after_up_to_the_cap(
            failures in 1u32..10, random in any::<u64>(), asked_ms in 0u64..5000
        ) {
            let p = policy();
            let asked = Duration::from_millis(asked_ms);
            let delay = p.delay(failures, Some(asked), random);
            prop_assert!(delay >= asked.min(p.max_delay));
            prop_assert!(delay <= p.max_delay);
        }
    }

    #[test]
    fn jitter_spreads_over_the_range() {
        let p = policy();
        let delays: std::collections::BTreeSet<_> =
            (0..50).map(|_| p.next_delay(3, None)).collect();
        assert!(delays.len() > 10, "{delays:?}");
    }
}
