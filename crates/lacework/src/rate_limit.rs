//! What an answer says about the API key's rate limit, when it says anything.
//!
//! No Lacework source shows these headers (emulator facts C49, C50), so nothing depends on
//! them: a caller that is told nothing keeps its own budget. Every naming in use is read: the
//! IETF draft's `RateLimit-Limit` / `RateLimit-Remaining` (drafts 00-06), its later
//! `RateLimit: ...;r=N` with `RateLimit-Policy: ...;q=N` (drafts 07 and on), and the older
//! `X-RateLimit-Limit` / `X-RateLimit-Remaining`.

use reqwest::header::HeaderMap;

/// The key's limit and what is left of it, as one answer reported them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimitSeen {
    /// Requests the key may make in the limit's window.
    pub limit: Option<u32>,
    /// Requests still allowed in the window, this answer's counted.
    pub remaining: Option<u32>,
}

impl RateLimitSeen {
    /// What `headers` say; `None` when they say nothing about the rate limit.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let plain = |names: [&str; 2]| names.into_iter().find_map(|name| first_number(text(name)?));
        let seen = Self {
            limit: plain(["ratelimit-limit", "x-ratelimit-limit"])
                .or_else(|| parameter(text("ratelimit-policy")?, &["q"])),
            remaining: plain(["ratelimit-remaining", "x-ratelimit-remaining"])
                .or_else(|| parameter(text("ratelimit")?, &["r", "remaining"])),
        };
        (seen != Self::default()).then_some(seen)
    }
}

/// Told what each answer says about the key's rate limit.
pub trait RateLimitObserver: Send + Sync {
    fn observed(&self, seen: RateLimitSeen);
}

/// The first number of a header value: `480` in `480` and in `480, 480;w=3600` (draft 03
/// puts quota policies after the number).
fn first_number(value: &str) -> Option<u32> {
    value.split([',', ';']).next()?.trim().parse().ok()
}

/// The first of the parameters `keys` of a structured header (`"default";r=50;t=30`,
/// `limit=480, remaining=50, reset=30`).
fn parameter(value: &str, keys: &[&str]) -> Option<u32> {
    value.split([',', ';']).find_map(|item| {
        let (key, number) = item.split_once('=')?;
        keys.contains(&key.trim())
            .then(|| number.trim().parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use reqwest::header::{HeaderName, HeaderValue};

    use super::*;

    fn seen(headers: &[(&str, &str)]) -> Option<RateLimitSeen> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        RateLimitSeen::from_headers(&map)
    }

    fn both(limit: u32, remaining: u32) -> Option<RateLimitSeen> {
        Some(RateLimitSeen {
            limit: Some(limit),
            remaining: Some(remaining),
        })
    }

    #[test]
    fn every_naming_of_the_headers_is_read() {
        let cases: [&[(&str, &str)]; 4] = [
            &[("RateLimit-Limit", "480"), ("RateLimit-Remaining", "41")],
            &[
                ("X-RateLimit-Limit", "480"),
                ("X-RateLimit-Remaining", "41"),
            ],
            &[
                ("RateLimit-Limit", "480, 480;w=3600"),
                ("RateLimit-Remaining", "41"),
            ],
            &[
                ("RateLimit-Policy", "\"hourly\";q=480;w=3600"),
                ("RateLimit", "\"hourly\";r=41;t=600"),
            ],
        ];
        for headers in cases {
            assert_eq!(seen(headers), both(480, 41), "{headers:?}");
        }
        assert_eq!(
            seen(&[("RateLimit", "limit=480, remaining=41, reset=600")]),
            Some(RateLimitSeen {
                limit: None,
                remaining: Some(41),
            })
        );
    }

    #[test]
    fn an_answer_without_them_or_with_nonsense_says_nothing() {
        assert_eq!(seen(&[]), None);
        assert_eq!(seen(&[("Retry-After", "30")]), None);
        assert_eq!(seen(&[("RateLimit-Remaining", "many")]), None);
        assert_eq!(seen(&[("RateLimit-Remaining", "-1")]), None);
        assert_eq!(
            seen(&[("RateLimit-Limit", "480"), ("RateLimit-Remaining", "")]),
            Some(RateLimitSeen {
                limit: Some(480),
                remaining: None,
            })
        );
    }

    proptest! {
        // Whatever a server sends, reading it never panics, and a number is only ever one that
        // was in the value.
        #[test]
        fn any_header_value_is_read_without_panic(value in "[ -~]{0,40}") {
            for name in ["RateLimit-Remaining", "X-RateLimit-Limit", "RateLimit", "RateLimit-Policy"] {
                if let Some(seen) = seen(&[(name, value.as_str())]) {
                    for number in [seen.limit, seen.remaining].into_iter().flatten() {
                        prop_assert!(value.contains(&number.to_string()), "{name}: {value:?} gave {number}");
                    }
                }
            }
        }
    }
}
