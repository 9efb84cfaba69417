//! Work on the registration queue: what the paced Lacework registrations are asked to do.
//!
//! Lacework allows only a few hundred API requests an hour, so nothing registers an account in
//! a burst. `sns-custom-resource` (answering the member stacks' custom resources) and
//! `account-lifecycle` (accounts that move or leave) put [`RegistrationWork`] on the
//! registration queue; a drain takes it off within a request budget and talks to Lacework.
//! Which Lacework sub-account an account belongs to is decided by the drain, from the
//! organization tree at that moment - not by whoever queued the work - so work that waited in
//! the queue never acts on a stale OU.
//!
//! Messages carry no secret: the external id is rebuilt by the drain from the Lacework account,
//! the AWS account and the installation's suffix kept in Secrets Manager.

use serde::{Deserialize, Serialize};

use crate::account::AccountId;
use crate::error::{Error, Problem};
use crate::lacework::json_path;

/// One unit of registration work, as JSON on the registration queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "PascalCase", deny_unknown_fields)]
pub enum RegistrationWork {
    /// Register the account's configuration role (`AwsCfg`) in the sub-account its OU maps to;
    /// if it is registered elsewhere, move it.
    Register {
        account: AccountId,
        /// The member role Lacework assumes (`arn:<partition>:iam::<account>:role/<name>`).
        role_arn: String,
        /// Why: `custom-resource:<stack id>` or `lifecycle:<event id>`, for logs.
        cause: String,
    },
    /// Remove every registration of the account, in every sub-account.
    Deregister { account: AccountId, cause: String },
    /// The account moved to another OU: register it where it now belongs (removing it where it
    /// was) and bring the org-level CloudTrail mapping file up to date.
    Remap { account: AccountId, cause: String },
}

impl RegistrationWork {
    /// The account the work is about.
    pub fn account(&self) -> &AccountId {
        match self {
            Self::Register { account, .. }
            | Self::Deregister { account, .. }
            | Self::Remap { account, .. } => account,
        }
    }

    /// The JSON message body.
    pub fn to_message(&self) -> String {
        // A plain enum of strings always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a message body; a body that is not registration work is an error naming what is
    /// wrong, so the drain can dead-letter it with that reason.
    pub fn from_message(body: &str) -> Result<Self, Error> {
        let mut reader = serde_json::Deserializer::from_str(body);
        serde_path_to_error::deserialize(&mut reader).map_err(|err| {
            Error::Event(Problem::new(
                json_path("$", &err.path().to_string()),
                format!("not registration work: {}", err.inner()),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> AccountId {
        AccountId::parse("222233334444").unwrap()
    }

    #[test]
    fn messages_round_trip_and_read_naturally() {
        let work = RegistrationWork::Register {
            account: account(),
            role_arn: "arn:aws:iam::222233334444:role/lacework-ct-config-role".into(),
            cause: "custom-resource:stack/x".into(),
        };
        let body = work.to_message();
        assert_eq!(
            body,
            r#"{"type":"Register","account":"222233334444","role_arn":"arn:aws:iam::222233334444:role/lacework-ct-config-role","cause":"custom-resource:stack/x"}"#
        );
        assert_eq!(RegistrationWork::from_message(&body).unwrap(), work);
        assert_eq!(work.account(), &account());
    }

    #[test]
    fn every_kind_round_trips() {
        for work in [
            RegistrationWork::Deregister {
                account: account(),
                cause: "lifecycle:1".into(),
            },
            RegistrationWork::Remap {
                account: account(),
                cause: "lifecycle:2".into(),
            },
        ] {
            assert_eq!(
                RegistrationWork::from_message(&work.to_message()).unwrap(),
                work
            );
        }
    }

    #[test]
    fn a_bad_message_names_the_problem() {
        let err = RegistrationWork::from_message(r#"{"type":"Register","account":"1234"}"#)
            .unwrap_err()
            .to_string();
        // Internally tagged enums lose the path inside serde; the message still names the value.
        assert!(err.contains("\"1234\""), "{err}");
        assert!(err.contains("not 12"), "{err}");
        let err = RegistrationWork::from_message(r#"{"type":"Explode"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Explode"), "{err}");
        assert!(RegistrationWork::from_message("not json").is_err());
        assert!(
            RegistrationWork::from_message(
                r#"{"type":"Remap","account":"222233334444","cause":"x","extra":1}"#
            )
            .is_err()
        );
    }
}
