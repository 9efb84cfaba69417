//! Which part of a Lacework organization a call acts on.

use std::fmt;

use crate::error::Error;

/// A Lacework sub-account name, kept in lower case: Lacework compares these names without
/// regard to case and expects the `Account-Name` header in lower case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubAccount(String);

impl SubAccount {
    /// Accepts letters, digits, `-`, `_` and `.` (the characters of Lacework account names);
    /// the name is lower-cased.
    pub fn new(name: &str) -> Result<Self, Error> {
        let reason = if name.is_empty() {
            "is empty"
        } else if name.len() > 255 {
            "is longer than 255 characters"
        } else if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            "a Lacework sub-account name has only letters, digits, '-', '_' and '.'"
        } else {
            return Ok(Self(name.to_ascii_lowercase()));
        };
        Err(Error::Name {
            value: name.to_owned(),
            reason: reason.to_owned(),
        })
    }

    /// The name, lower case, as sent in `Account-Name`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The scope of one API call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One sub-account (header `Account-Name: <name>`).
    Account(SubAccount),
    /// The whole organization (header `Org-Access: true`); needed for org-level integrations
    /// such as a CloudTrail integration with an account mapping file.
    Organization,
}

impl Scope {
    /// The headers that select this scope.
    pub fn headers(&self) -> [(&'static str, &str); 1] {
        match self {
            Self::Account(account) => [("Account-Name", account.as_str())],
            Self::Organization => [("Org-Access", "true")],
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Account(account) => write!(f, "sub-account {account}"),
            Self::Organization => f.write_str("organization"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_account_names_are_lower_cased() {
        let account = SubAccount::new("ACME-Prod_2").unwrap();
        assert_eq!(account.as_str(), "acme-prod_2");
        assert_eq!(
            Scope::Account(account).headers(),
            [("Account-Name", "acme-prod_2")]
        );
        assert_eq!(Scope::Organization.headers(), [("Org-Access", "true")]);
    }

    #[test]
    fn bad_sub_account_names_are_refused_with_a_reason() {
        for bad in ["", "acme prod", "acme\r\nX-Evil: 1", "ünï"] {
            match SubAccount::new(bad) {
                Err(Error::Name { value, reason }) => {
                    assert_eq!(value, bad);
                    assert!(!reason.is_empty());
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }
}
