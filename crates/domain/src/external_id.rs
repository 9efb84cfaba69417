//! External ids in Lacework's format:
//! `lweid:aws:v2:<lacework account>:<aws account id>:<suffix>`.
//!
//! The suffix is drawn once per installation from the operating system's CSPRNG and kept in
//! the product's Secrets Manager secret. The AWS account id already makes every external id
//! unique, and one shared suffix lets a single StackSet operation create the roles of
//! thousands of accounts.
//!
//! External ids are confidential (together with the role ARN they let a caller assume the
//! role through Lacework's principal), so [`ExternalId`] and [`ExternalIdSuffix`] redact the
//! suffix in `Debug` and `Display` (`lweid:aws:v2:acme:222233334444:***`), parse errors never
//! quote the value, and the real text is only available through the explicit
//! [`ExternalId::expose`] / [`ExternalIdSuffix::expose`], for the Lacework API call and the
//! IAM trust condition.

use std::fmt;

use crate::account::AccountId;
use crate::config::parse_lacework_name;
use crate::error::Error;

/// What every external id starts with.
const SCHEME: &str = "lweid:aws:v2";

/// What `Debug` and `Display` show in place of a secret.
const REDACTED: &str = "***";

/// The characters IAM accepts in `sts:ExternalId`, besides ASCII letters and digits.
const EXTERNAL_ID_PUNCTUATION: &str = "_+=,.@:/-";

/// IAM's limit on the length of an `sts:ExternalId`.
const MAX_EXTERNAL_ID_LEN: usize = 1224;

/// The secret last part of an external id, shared by every account of one installation.
#[derive(Clone, PartialEq, Eq)]
pub struct ExternalIdSuffix(String);

impl ExternalIdSuffix {
    /// Length of a generated suffix: 16 characters of 62 give about 95 bits.
    pub const GENERATED_LEN: usize = 16;

    /// Shortest suffix accepted when parsing (Lacework's own generator uses 10 characters).
    pub const MIN_LEN: usize = 10;

    /// Longest suffix accepted when parsing.
    pub const MAX_LEN: usize = 512;

    /// Draws a new suffix of [`Self::GENERATED_LEN`] letters and digits from the operating
    /// system's CSPRNG. Letters and digits are safe everywhere the id travels (IAM
    /// conditions, JSON, CloudFormation parameters, URLs).
    pub fn generate() -> Result<ExternalIdSuffix, Error> {
        const ALPHABET: &[u8; 62] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        // Bytes at or above 248 (= 4 * 62) are thrown away so that every character is
        // equally likely (no modulo bias).
        const ACCEPT_BELOW: u8 = 248;
        let mut suffix = String::with_capacity(Self::GENERATED_LEN);
        let mut buffer = [0u8; 32];
        while suffix.len() < Self::GENERATED_LEN {
            getrandom::fill(&mut buffer).map_err(|err| {
                Error::ExternalId(format!(
                    "the operating system's random number generator failed: {err}"
                ))
            })?;
            for byte in buffer {
                if byte < ACCEPT_BELOW && suffix.len() < Self::GENERATED_LEN {
                    let index = usize::from(byte % 62);
                    if let Some(&character) = ALPHABET.get(index) {
                        suffix.push(char::from(character));
                    }
                }
            }
        }
        Ok(ExternalIdSuffix(suffix))
    }

    /// Reads a stored suffix: [`Self::MIN_LEN`] to [`Self::MAX_LEN`] characters that IAM
    /// accepts in an external id (letters, digits and `_+=,.@:/-`; `:` is allowed). The error
    /// never quotes the value.
    pub fn parse(text: &str) -> Result<ExternalIdSuffix, Error> {
        let length = text.chars().count();
        if length < Self::MIN_LEN {
            return Err(Error::ExternalId(format!(
                "the suffix has {length} characters; at least {} are required",
                Self::MIN_LEN
            )));
        }
        if length > Self::MAX_LEN {
            return Err(Error::ExternalId(format!(
                "the suffix has {length} characters; at most {} are allowed",
                Self::MAX_LEN
            )));
        }
        if !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || EXTERNAL_ID_PUNCTUATION.contains(c))
        {
            return Err(Error::ExternalId(
                "the suffix may contain only letters, digits and _+=,.@:/-".to_owned(),
            ));
        }
        Ok(ExternalIdSuffix(text.to_owned()))
    }

    /// The real suffix, to store it in the secret. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ExternalIdSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExternalIdSuffix({REDACTED})")
    }
}

/// One account's external id: `lweid:aws:v2:<lacework account>:<aws account id>:<suffix>`.
#[derive(Clone, PartialEq, Eq)]
pub struct ExternalId {
    lacework_account: String,
    aws_account: AccountId,
    /// The whole id, built once so that [`ExternalId::expose`] can lend it.
    text: String,
}

impl ExternalId {
    /// The external id of `aws_account` for the Lacework account (tenant) `lacework_account`.
    /// The Lacework account name is kept as given: STS compares external ids exactly.
    pub fn new(
        lacework_account: &str,
        aws_account: &AccountId,
        suffix: &ExternalIdSuffix,
    ) -> Result<ExternalId, Error> {
        check_lacework_account(lacework_account)?;
        let text = format!(
            "{SCHEME}:{lacework_account}:{aws_account}:{}",
            suffix.expose()
        );
        if text.len() > MAX_EXTERNAL_ID_LEN {
            return Err(Error::ExternalId(format!(
                "the external id would have {} characters; IAM allows at most {MAX_EXTERNAL_ID_LEN}",
                text.len()
            )));
        }
        Ok(ExternalId {
            lacework_account: lacework_account.to_owned(),
            aws_account: aws_account.clone(),
            text,
        })
    }

    /// Reads an external id. It is split at most six times, so the suffix may contain `:`.
    /// The error says which part is wrong and never quotes the value.
    pub fn parse(text: &str) -> Result<ExternalId, Error> {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        let [
            scheme,
            cloud,
            version,
            lacework_account,
            aws_account,
            suffix,
        ] = parts.as_slice()
        else {
            return Err(Error::ExternalId(format!(
                "expected six parts separated by ':' ({SCHEME}:<lacework account>:<aws account id>:<suffix>), found {}",
                parts.len()
            )));
        };
        if (*scheme, *cloud, *version) != ("lweid", "aws", "v2") {
            return Err(Error::ExternalId(format!(
                "an external id must start with {SCHEME}:"
            )));
        }
        let aws_account = AccountId::parse(aws_account).map_err(|_| {
            Error::ExternalId("the fifth part is not a 12-digit AWS account id".to_owned())
        })?;
        let suffix = ExternalIdSuffix::parse(suffix)?;
        ExternalId::new(lacework_account, &aws_account, &suffix)
    }

    /// The Lacework account (tenant) named in the id.
    pub fn lacework_account(&self) -> &str {
        &self.lacework_account
    }

    /// The AWS account the id belongs to.
    pub fn aws_account(&self) -> &AccountId {
        &self.aws_account
    }

    /// The real external id, for the Lacework API call and the IAM trust condition. Never
    /// log it.
    pub fn expose(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExternalId({self})")
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCHEME}:{}:{}:{REDACTED}",
            self.lacework_account, self.aws_account
        )
    }
}

/// A Lacework account (tenant) name in an external id: letters, digits, `-`, `_` and `.`,
/// and never `:` (which separates the parts).
fn check_lacework_account(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::ExternalId(
            "the Lacework account part is empty".to_owned(),
        ));
    }
    parse_lacework_name(name).map(drop).map_err(|problem| {
        Error::ExternalId(format!("the Lacework account part: {}", problem.message))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SUFFIX: &str = "Zq8:secretPart:77";

    fn account() -> AccountId {
        AccountId::parse("222233334444").unwrap()
    }

    fn suffix() -> ExternalIdSuffix {
        ExternalIdSuffix::parse(SUFFIX).unwrap()
    }

    #[test]
    fn an_external_id_has_lacework_format() {
        let id = ExternalId::new("acme", &account(), &suffix()).unwrap();
        assert_eq!(
            id.expose(),
            format!("lweid:aws:v2:acme:222233334444:{SUFFIX}")
        );
        assert_eq!(id.lacework_account(), "acme");
        assert_eq!(id.aws_account(), &account());
    }

    #[test]
    fn parsing_keeps_colons_in_the_suffix() {
        let text = format!("lweid:aws:v2:acme:222233334444:{SUFFIX}");
        let id = ExternalId::parse(&text).unwrap();
        assert_eq!(id.expose(), text);
        assert_eq!(ExternalId::parse(id.expose()).unwrap(), id);
    }

    #[test]
    fn debug_and_display_redact_the_suffix() {
        let id = ExternalId::new("acme", &account(), &suffix()).unwrap();
        assert_eq!(id.to_string(), "lweid:aws:v2:acme:222233334444:***");
        assert_eq!(
            format!("{id:?}"),
            "ExternalId(lweid:aws:v2:acme:222233334444:***)"
        );
        assert_eq!(format!("{:?}", suffix()), "ExternalIdSuffix(***)");
        // Also inside other values' Debug output.
        let nested = format!("{:?}", (Some(&id), vec![suffix()]));
        assert!(!nested.contains("secretPart"), "{nested}");
        assert!(!format!("{id:#?}").contains("secretPart"));
    }

    #[test]
    fn errors_never_contain_the_value() {
        let cases = [
            "lweid:aws:v1:acme:222233334444:secretPart99".to_owned(),
            "lweid:aws:v2:acme:2222333344:secretPart99".to_owned(),
            "lweid:aws:v2:acme:222233334444:secretPart 9".to_owned(),
            "lweid:aws:v2:acme:222233334444:secretPa".to_owned(),
            "lweid:aws:v2:ac:me".to_owned(),
            "lweid:aws:v2::222233334444:secretPart99".to_owned(),
            format!(
                "lweid:aws:v2:acme:222233334444:secretPart{}",
                "x".repeat(600)
            ),
            "secretPart99".to_owned(),
        ];
        for bad in &cases {
            let err = ExternalId::parse(bad).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("secretPart"), "{shown}");
            assert!(shown.contains("invalid external id"), "{shown}");
        }
        let err = ExternalIdSuffix::parse("secretPart 9").unwrap_err();
        assert!(!format!("{err} {err:?}").contains("secretPart"));
    }

    #[test]
    fn errors_name_the_wrong_part() {
        let reason = |text: &str| ExternalId::parse(text).unwrap_err().to_string();
        assert!(
            reason("lweid:aws:v1:acme:222233334444:abcdefghijk")
                .contains("must start with lweid:aws:v2:")
        );
        assert!(reason("lweid:aws:v2:acme:22223333444:abcdefghijk").contains("fifth part"));
        assert!(reason("lweid:aws:v2:acme:222233334444:short").contains("at least 10"));
        assert!(reason("lweid:aws:v2:acme").contains("found 4"));
        assert!(
            reason("lweid:aws:v2:a c m e:222233334444:abcdefghijk")
                .contains("Lacework account part")
        );
    }

    #[test]
    fn generated_suffixes_are_long_random_and_safe() {
        let first = ExternalIdSuffix::generate().unwrap();
        let second = ExternalIdSuffix::generate().unwrap();
        assert_eq!(first.expose().len(), ExternalIdSuffix::GENERATED_LEN);
        assert!(first.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(first, second, "two draws of 95 bits collided");
        assert_eq!(ExternalIdSuffix::parse(first.expose()).unwrap(), first);
        let id = ExternalId::new("acme", &account(), &first).unwrap();
        assert_eq!(ExternalId::parse(id.expose()).unwrap(), id);
    }

    #[test]
    fn generated_characters_cover_the_alphabet() {
        // 200 draws of 16 characters each: every one of the 62 characters appears with
        // overwhelming probability if the draw is uniform.
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.extend(ExternalIdSuffix::generate().unwrap().expose().chars());
        }
        assert_eq!(seen.len(), 62);
    }

    proptest! {
        #[test]
        fn parse_inverts_format(
            lacework_account in "[A-Za-z0-9._-]{1,40}",
            aws_account in "[0-9]{12}",
            suffix in "[A-Za-z0-9_+=,.@:/-]{10,80}",
        ) {
            let aws_account = AccountId::parse(&aws_account).unwrap();
            let suffix = ExternalIdSuffix::parse(&suffix).unwrap();
            let id = ExternalId::new(&lacework_account, &aws_account, &suffix).unwrap();
            let parsed = ExternalId::parse(id.expose()).unwrap();
            prop_assert_eq!(&parsed, &id);
            let tail = format!(":{}", suffix.expose());
            prop_assert!(parsed.expose().ends_with(&tail));
            prop_assert_eq!(parsed.lacework_account(), lacework_account.as_str());
            let shown = format!("{parsed} {parsed:?}");
            prop_assert_eq!(
                parsed.to_string(),
                format!("lweid:aws:v2:{lacework_account}:{aws_account}:***")
            );
            prop_assert!(!shown.contains(suffix.expose()));
        }

        #[test]
        fn parse_never_panics(text in ".{0,120}") {
            let _ = ExternalId::parse(&text);
            let _ = ExternalIdSuffix::parse(&text);
        }
    }
}
