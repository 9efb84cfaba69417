//! AWS account ids.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::Error;

/// A 12-digit AWS account id, kept as text: leading zeros are part of the id. It serializes as
/// that text, and is read back only if it is one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    /// Accepts exactly 12 ASCII digits; anything else gets an error that says what is wrong
    /// (and, for fewer digits, that leading zeros were probably lost on the way).
    pub fn parse(value: &str) -> Result<Self, Error> {
        match account_id_problem(value) {
            None => Ok(Self(value.to_owned())),
            Some(reason) => Err(Error::AccountId {
                value: value.to_owned(),
                reason,
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What is wrong with `value` as an AWS account id, or `None` if it is one.
pub fn account_id_problem(value: &str) -> Option<String> {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let length = value.chars().count();
    if digits != length {
        return Some("an AWS account id is exactly 12 digits (0-9) and nothing else".to_owned());
    }
    match length {
        12 => None,
        0 => Some("is empty; an AWS account id is exactly 12 digits".to_owned()),
        n if n < 12 => Some(format!(
            "has {n} digits, not 12; it probably lost its leading zeros (write it as the string {:?})",
            format!("{value:0>12}")
        )),
        n => Some(format!("has {n} digits; an AWS account id is exactly 12")),
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AccountId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_digits_with_leading_zeros_are_kept_as_written() {
        let id = AccountId::parse("000123456789").unwrap();
        assert_eq!(id.as_str(), "000123456789");
        assert_eq!(id.to_string(), "000123456789");
    }

    #[test]
    fn nine_digits_are_refused_with_a_hint_about_leading_zeros() {
        let err = AccountId::parse("234556677").unwrap_err().to_string();
        assert!(err.contains("\"234556677\""), "{err}");
        assert!(err.contains("9 digits"), "{err}");
        assert!(err.contains("leading zeros"), "{err}");
        assert!(err.contains("\"000234556677\""), "{err}");
    }

    #[test]
    fn other_shapes_are_refused() {
        for bad in [
            "",
            "1234567890123",
            "12345678901a",
            "１２３４５６７８９０１２",
            " 123456789012",
        ] {
            assert!(AccountId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serde_round_trips_as_a_string_and_refuses_bad_ids() {
        let id: AccountId = serde_json::from_str("\"111122223333\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"111122223333\"");
        assert!(serde_json::from_str::<AccountId>("\"1111\"").is_err());
        assert!(serde_json::from_str::<AccountId>("111122223333").is_err());
    }
}
