//! Waiting before trying again: one exponential backoff for everything that retries (a
//! message back on its queue, a StackSet operation looked at again, setup's retries within
//! an invocation), and one stable hash for spreading and naming.

use std::time::Duration;

/// Waits that start at `first` and double with every attempt, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self { first, max }
    }

    /// The wait after the `attempt`-th failure (the first is 1; 0 counts as 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.first.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// [`Backoff::delay`] plus up to a fifth more, derived from `key`: work that failed
    /// together does not all come back at the same moment, and the same work always waits
    /// the same (a redelivery is not a new draw).
    pub fn spread(&self, attempt: u32, key: &str) -> Duration {
        let base = self.delay(attempt);
        let fifth = u64::try_from(base.as_millis() / 5).unwrap_or(u64::MAX);
        base + Duration::from_millis(stable_hash(key.as_bytes()) % (fifth + 1))
    }
}

/// The 64-bit FNV-1a hash: stable across builds and platforms, unlike `std`'s hasher.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MINUTE_TO_HOUR: Backoff =
        Backoff::new(Duration::from_secs(60), Duration::from_secs(3600));

    #[test]
    fn doubles_from_the_first_wait_to_the_longest() {
        let minutes: Vec<u64> = (1..=9)
            .map(|attempt| MINUTE_TO_HOUR.delay(attempt).as_secs() / 60)
            .collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(MINUTE_TO_HOUR.delay(0), MINUTE_TO_HOUR.delay(1));
        assert_eq!(MINUTE_TO_HOUR.delay(u32::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn the_spread_is_stable_and_spreads() {
        assert_eq!(
            MINUTE_TO_HOUR.spread(3, "abc"),
            MINUTE_TO_HOUR.spread(3, "abc")
        );
        let spread: std::collections::BTreeSet<Duration> = (0..20)
            .map(|i| MINUTE_TO_HOUR.spread(5, &format!("message-{i}")))
            .collect();
        assert!(spread.len() > 5, "{spread:?}");
    }

    #[test]
    fn the_hash_is_fnv_1a() {
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    proptest! {
        #[test]
        fn waits_never_shrink_and_stay_within_bounds(
            first_ms in 1u64..100_000,
            factor in 1u64..1_000,
            attempt in 0u32..100,
            key in ".{0,20}",
        ) {
            let backoff = Backoff::new(
                Duration::from_millis(first_ms),
                Duration::from_millis(first_ms * factor),
            );
            let delay = backoff.delay(attempt);
            prop_assert!(delay >= backoff.first && delay <= backoff.max);
            prop_assert!(backoff.delay(attempt + 1) >= delay);
            let spread = backoff.spread(attempt, &key);
            prop_assert!(spread >= delay && spread <= delay + delay / 5 + Duration::from_millis(1));
        }
    }
}
