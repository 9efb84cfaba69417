//! The registration drain's decisions, without I/O.
//!
//! Lacework allows a few hundred API requests an hour, so registrations wait on the
//! registration queue ([`crate::registration::RegistrationWork`]) and a drain takes them off
//! within a budget of requests per run. This module holds what the drain decides:
//!
//! * [`SubAccountRouting`]: which Lacework sub-account an AWS account belongs to (the rule of
//!   its nearest ancestor OU, else `LACEWORK_SUB_ACCOUNT`, else the Lacework account itself),
//!   and every sub-account that may hold a registration of it;
//! * [`mapping_after`]: how the org-level CloudTrail integration's account mapping file changes
//!   when an account arrives, moves or leaves;
//! * [`decide`]: what becomes of a queue message after an attempt - deleted, tried again
//!   after a backoff, released for the next run, or dead-lettered with its reason;
//! * the names of the integrations the product registers.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::account::AccountId;
use crate::backoff::Backoff;
use crate::config::{LACEWORK_ACCOUNT, LACEWORK_OU_RULES, LACEWORK_SUB_ACCOUNT, LaceworkSettings};
use crate::error::{Error, LaceworkErrorKind, Problem};
use crate::fate::Fate;
use crate::lacework::SubAccount;
use crate::mapping::{AccountMapping, OrganizationTree, OuRules};
use crate::naming::NamePrefix;

/// A message that failed for a reason that may pass is dead-lettered once it has been received
/// this many times. The registration queue's own redrive policy (`maxReceiveCount`) must be
/// higher, so that the drain - which knows the reason - is the one that gives up.
pub const GIVE_UP_AFTER_RECEIVES: u32 = 16;

/// The first wait before a failed message is tried again; it doubles with each receive.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(60);

/// The longest backoff between attempts (unless Lacework asks for longer with `Retry-After`).
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// SQS keeps a message hidden for at most 12 hours.
pub const MAX_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(12 * 3600);

/// The name of an account's `AwsCfg` integration: `<prefix>-<account id>`. Teardown removes the
/// `AwsCfg` integrations whose names start with `<prefix>-`.
pub fn account_integration_name(prefix: &NamePrefix, account: &AccountId) -> String {
    format!("{prefix}-{account}")
}

/// The name of the CloudTrail (`AwsCtSqs`) integration `setup` registers: `<prefix>-cloudtrail`.
pub fn cloudtrail_integration_name(prefix: &NamePrefix) -> String {
    format!("{prefix}-cloudtrail")
}

/// Where AWS accounts are registered in Lacework: the configured Lacework account, default
/// sub-account and OU -> sub-account rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAccountRouting {
    default_sub_account: SubAccount,
    rules: OuRules,
    /// Each rule's sub-account, the default, and the Lacework account itself.
    sub_accounts: BTreeSet<SubAccount>,
}

impl SubAccountRouting {
    /// The routing the configuration describes: accounts that no OU rule maps go to the
    /// default sub-account (or, without one, to the Lacework account itself).
    /// Every name must be usable as a sub-account (`Account-Name`); the error names the
    /// configuration variable that holds a bad one.
    pub fn from_settings(settings: &LaceworkSettings) -> Result<Self, Error> {
        let mut problems = Vec::new();
        let mut sub_account = |variable: &str, name: &str| {
            SubAccount::new(name)
                .map_err(|err| problems.push(Problem::new(variable, err.to_string())))
                .ok()
        };
        let account = sub_account(LACEWORK_ACCOUNT, &settings.account);
        let default = settings
            .default_sub_account
            .as_deref()
            .and_then(|name| sub_account(LACEWORK_SUB_ACCOUNT, name));
        let rules = settings.ou_rules.clone();
        let targets: Vec<SubAccount> = (rules.rules().iter())
            .filter_map(|rule| sub_account(LACEWORK_OU_RULES, &rule.sub_account))
            .collect();
        match account {
            Some(account) if problems.is_empty() => {
                let default_sub_account = default.unwrap_or_else(|| account.clone());
                let mut sub_accounts = BTreeSet::from([account, default_sub_account.clone()]);
                sub_accounts.extend(targets);
                Ok(Self {
                    default_sub_account,
                    rules,
                    sub_accounts,
                })
            }
            _ => Err(Error::Config(problems)),
        }
    }

    /// Where accounts go that no rule maps.
    pub fn default_sub_account(&self) -> &SubAccount {
        &self.default_sub_account
    }

    /// Whether OU rules are configured; then the CloudTrail integration is registered at
    /// organization level with an account mapping file that must follow the accounts.
    pub fn has_ou_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The sub-account `account` belongs to in `tree`: the rule of its nearest ancestor OU
    /// that has one, else the default. An account not in the tree, or a broken tree, is an
    /// error naming the broken place.
    pub fn sub_account_for(
        &self,
        tree: &OrganizationTree,
        account: &AccountId,
    ) -> Result<SubAccount, Error> {
        match self.rules.sub_account_for(tree, account)? {
            // Rule targets were checked in `from_settings`, so this only fails if that check is skipped.
            Some(name) => SubAccount::new(name),
            None => Ok(self.default_sub_account.clone()),
        }
    }

    /// Every sub-account a registration of ours can be in: each rule's, the default, and the
    /// Lacework account itself.
    pub fn sub_accounts(&self) -> &BTreeSet<SubAccount> {
        &self.sub_accounts
    }

    /// Every sub-account but `target`: where a registration of an account that belongs in
    /// `target` must not be.
    pub fn other_sub_accounts(&self, target: &SubAccount) -> Vec<SubAccount> {
        (self.sub_accounts.iter())
            .filter(|sub_account| *sub_account != target)
            .cloned()
            .collect()
    }
}

/// The mapping file after `account` goes to `sub_account` (`None`: the account is gone), or
/// `None` when the file already says so. An account that goes to the file's default is not
/// listed (the default receives every unlisted account).
pub fn mapping_after(
    mapping: &AccountMapping,
    account: &AccountId,
    sub_account: Option<&SubAccount>,
) -> Result<Option<AccountMapping>, Error> {
    let mut next = mapping.clone();
    match sub_account {
        Some(target) if target.as_str() != next.default_account() => {
            next.assign(account.clone(), target.as_str())?;
        }
        _ => {
            next.unassign(account);
        }
    }
    Ok((next != *mapping).then_some(next))
}

/// Why a unit of registration work was not done.
#[derive(Debug, thiserror::Error)]
pub enum WorkFailure {
    /// The work cannot be done as asked (an unreadable message, an account that is not an
    /// ACTIVE member of the organization, a role in another account): sending it again cannot
    /// help.
    #[error("{0}")]
    Refused(String),
    /// A call failed; [`Error::is_retryable`] says whether it may pass.
    #[error(transparent)]
    Failed(#[from] Error),
}

/// What the drain does after an attempt: the message's fate, and whether the run goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub fate: Fate,
    /// For a message that goes back: how long it stays hidden (the backoff, or what Lacework
    /// asked for); zero makes it visible again at once, for the next run.
    pub hidden_for: Duration,
    pub run: RunNext,
}

/// Why a run ends when its budget of requests is spent.
pub const BUDGET_SPENT: &str = "the request budget is spent";

/// Why a run ends when Lacework rate-limits the API key.
pub const RATE_LIMITED: &str = "Lacework is rate limiting this API key";

/// Whether the drain's run goes on after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunNext {
    Continue,
    /// The run ends (every further request would be refused too), and why.
    End(&'static str),
    /// The API key is refused: no message can succeed until someone fixes it. The run ends
    /// with the error.
    Halt,
}

impl Decision {
    /// The message is done with (deleted or dead-lettered); the run goes on.
    fn settled(fate: Fate) -> Self {
        Self {
            fate,
            hidden_for: Duration::ZERO,
            run: RunNext::Continue,
        }
    }

    fn dead_letter(reason: String) -> Self {
        Self::settled(Fate::DeadLetter { reason })
    }
}

/// Decides what becomes of a message whose work ended with `result`, after being received
/// `receive_count` times; `budget_spent` says whether the run's budget refused a request.
pub fn decide(
    result: &Result<(), WorkFailure>,
    receive_count: u32,
    budget_spent: bool,
) -> Decision {
    let error = match result {
        Ok(()) => return Decision::settled(Fate::DONE),
        Err(WorkFailure::Refused(reason)) => return Decision::dead_letter(reason.clone()),
        Err(WorkFailure::Failed(error)) => error,
    };
    let back = |hidden_for, run| Decision {
        fate: Fate::Retry {
            reason: error.to_string(),
        },
        hidden_for,
        run,
    };
    // The budget ran out: not the message's fault, whatever the error says.
    if budget_spent {
        return back(Duration::ZERO, RunNext::End(BUDGET_SPENT));
    }
    if let Error::Lacework {
        kind: LaceworkErrorKind::Unauthorized,
        ..
    } = error
    {
        return back(Duration::ZERO, RunNext::Halt);
    }
    if !error.is_retryable() {
        return Decision::dead_letter(error.to_string());
    }
    if receive_count >= GIVE_UP_AFTER_RECEIVES {
        return Decision::dead_letter(format!(
            "gave up after {receive_count} attempts; the last one: {error}"
        ));
    }
    let (retry_after, rate_limited) = match error {
        Error::Lacework {
            kind, retry_after, ..
        } => (*retry_after, *kind == LaceworkErrorKind::RateLimited),
        _ => (None, false),
    };
    let run = if rate_limited {
        RunNext::End(RATE_LIMITED)
    } else {
        RunNext::Continue
    };
    back(retry_delay(receive_count, retry_after), run)
}

/// How long a message stays hidden after its `receive_count`-th attempt failed for a reason
/// that may pass: a minute, doubling with each attempt up to an hour, at least what Lacework
/// asked for (`Retry-After` seconds), at most what SQS allows.
pub fn retry_delay(receive_count: u32, retry_after_seconds: Option<u64>) -> Duration {
    let backoff = Backoff::new(FIRST_RETRY_DELAY, MAX_RETRY_DELAY).delay(receive_count);
    let asked = Duration::from_secs(retry_after_seconds.unwrap_or(0));
    backoff.max(asked).min(MAX_VISIBILITY_TIMEOUT)
}

/// Whether a Lacework error means the sub-account does not exist (any more) or this API key
/// cannot reach it: nothing of ours can be registered there, so a sweep skips it.
pub fn is_unknown_sub_account(error: &Error) -> bool {
    matches!(
        error,
        Error::Lacework {
            kind: LaceworkErrorKind::Forbidden | LaceworkErrorKind::NotFound,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{
        AccountStatus, OrganizationAccount, OrganizationTree, OrganizationalUnit,
    };

    fn id(text: &str) -> AccountId {
        AccountId::parse(text).unwrap()
    }

    fn sub(name: &str) -> SubAccount {
        SubAccount::new(name).unwrap()
    }

    /// root -> Security (ou-sec) -> Inner (ou-inner); root -> Workloads (ou-work).
    fn tree() -> OrganizationTree {
        let mut tree = OrganizationTree::new("r-root");
        for (unit, name, parent) in [
            ("ou-sec", "Security", "r-root"),
            ("ou-inner", "Inner", "ou-sec"),
            ("ou-work", "Workloads", "r-root"),
        ] {
            tree.add_unit(OrganizationalUnit {
                id: unit.into(),
                name: name.into(),
                parent_id: parent.into(),
            });
        }
        for (account, parent) in [
            ("111111111111", "ou-sec"),
            ("222222222222", "ou-inner"),
            ("333333333333", "ou-work"),
            ("444444444444", "r-root"),
        ] {
            tree.add_account(OrganizationAccount {
                id: id(account),
                name: format!("account {account}"),
                parent_id: parent.into(),
                status: AccountStatus::Active,
            });
        }
        tree
    }

    fn routing(default: Option<&str>, rules: &str) -> SubAccountRouting {
        SubAccountRouting::new("Acme", default, OuRules::parse(rules).unwrap()).unwrap()
    }

    impl SubAccountRouting {
        /// The routing of a configuration with these Lacework settings.
        pub(crate) fn new(
            account: &str,
            default_sub_account: Option<&str>,
            ou_rules: OuRules,
        ) -> Result<Self, Error> {
            Self::from_settings(&LaceworkSettings {
                api_url: url::Url::parse("https://acme.lacework.net").unwrap(),
                account: account.to_owned(),
                default_sub_account: default_sub_account.map(str::to_owned),
                ou_rules,
                secret_arn: crate::naming::Arn::parse(
                    "arn:aws:secretsmanager:us-east-1:111122223333:secret:lacework",
                )
                .unwrap(),
            })
        }
    }

    #[test]
    fn the_nearest_ruled_ou_wins_then_the_default_then_the_account_itself() {
        let routing = routing(Some("acme-default"), "Security=secops, Inner=inner-team");
        let tree = tree();
        assert_eq!(
            routing.sub_account_for(&tree, &id("111111111111")).unwrap(),
            sub("secops")
        );
        assert_eq!(
            routing.sub_account_for(&tree, &id("222222222222")).unwrap(),
            sub("inner-team")
        );
        assert_eq!(
            routing.sub_account_for(&tree, &id("333333333333")).unwrap(),
            sub("acme-default")
        );
        let bare = SubAccountRouting::new("Acme", None, OuRules::default()).unwrap();
        assert_eq!(
            bare.sub_account_for(&tree, &id("444444444444")).unwrap(),
            sub("acme")
        );
        assert!(!bare.has_ou_rules());
        assert!(routing.has_ou_rules());
        let err = routing
            .sub_account_for(&tree, &id("999999999999"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("999999999999"), "{err}");
    }

    #[test]
    fn every_configured_sub_account_is_swept() {
        let routing = routing(Some("acme-default"), "Security=secops, Workloads=SECOPS");
        let all: Vec<String> = routing
            .sub_accounts()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(all, ["acme", "acme-default", "secops"]);
        let others: Vec<String> = routing
            .other_sub_accounts(&sub("secops"))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(others, ["acme", "acme-default"]);
        assert_eq!(
            SubAccountRouting::new("acme", None, OuRules::default())
                .unwrap()
                .sub_accounts()
                .len(),
            1
        );
    }

    #[test]
    fn bad_names_are_configuration_problems_naming_the_variable() {
        let err = SubAccountRouting::new(
            "acme corp",
            Some("bad/name"),
            OuRules::parse("Security=secops").unwrap(),
        )
        .unwrap_err();
        let paths: Vec<String> = err.problems().into_iter().map(|p| p.path).collect();
        assert_eq!(paths, [LACEWORK_ACCOUNT, LACEWORK_SUB_ACCOUNT]);
    }

    #[test]
    fn the_mapping_file_follows_arrivals_moves_and_exits() {
        let mapping = AccountMapping::new("acme").unwrap();
        let account = id("111111111111");
        // Arriving in the default: nothing to write.
        assert_eq!(
            mapping_after(&mapping, &account, Some(&sub("acme"))).unwrap(),
            None
        );
        // Arriving in a ruled sub-account: listed there.
        let listed = mapping_after(&mapping, &account, Some(&sub("secops")))
            .unwrap()
            .unwrap();
        assert_eq!(listed.lacework_account_of(&account), Some("secops"));
        // Asked again: already so.
        assert_eq!(
            mapping_after(&listed, &account, Some(&sub("secops"))).unwrap(),
            None
        );
        // Moved to another.
        let moved = mapping_after(&listed, &account, Some(&sub("prod")))
            .unwrap()
            .unwrap();
        assert_eq!(moved.lacework_account_of(&account), Some("prod"));
        // Moved back to the default, or gone: unlisted.
        let back = mapping_after(&moved, &account, Some(&sub("acme")))
            .unwrap()
            .unwrap();
        assert_eq!(back.lacework_account_of(&account), None);
        let gone = mapping_after(&moved, &account, None).unwrap().unwrap();
        assert_eq!(gone, back);
        assert_eq!(mapping_after(&gone, &account, None).unwrap(), None);
    }

    fn lacework(kind: LaceworkErrorKind, retry_after: Option<u64>) -> Error {
        Error::Lacework {
            kind,
            operation: "POST /api/v2/CloudAccounts".into(),
            status: None,
            message: "no".into(),
            retry_after,
        }
    }

    #[test]
    fn each_outcome_has_its_fate_and_says_whether_the_run_goes_on() {
        use LaceworkErrorKind::*;
        let decided =
            |error: Error, count: u32, spent: bool| decide(&Err(error.into()), count, spent);
        assert_eq!(decide(&Ok(()), 1, true).fate, Fate::DONE);
        assert_eq!(
            decide(
                &Err(WorkFailure::Refused("left the organization".into())),
                1,
                false
            )
            .fate,
            Fate::DeadLetter {
                reason: "left the organization".into()
            }
        );
        // The budget ran out: not the message's fault, whatever the error says.
        let spent = decided(lacework(RateLimited, None), 3, true);
        assert!(matches!(spent.fate, Fate::Retry { .. }));
        assert_eq!(spent.hidden_for, Duration::ZERO);
        assert_eq!(spent.run, RunNext::End(BUDGET_SPENT));
        let limited = decided(lacework(RateLimited, Some(600)), 1, false);
        assert_eq!(limited.hidden_for, Duration::from_secs(600));
        assert!(matches!(limited.run, RunNext::End(_)));
        let failed = decided(lacework(Server, None), 2, false);
        assert!(matches!(failed.fate, Fate::Retry { .. }));
        assert_eq!(failed.hidden_for, Duration::from_secs(120));
        assert_eq!(failed.run, RunNext::Continue);
        let refused = decided(lacework(Unauthorized, None), 1, false);
        assert_eq!(
            (refused.hidden_for, refused.run),
            (Duration::ZERO, RunNext::Halt)
        );
        match decided(lacework(BadRequest, None), 1, false).fate {
            Fate::DeadLetter { reason } => assert!(reason.contains("bad request"), "{reason}"),
            other => panic!("{other:?}"),
        }
        match decided(lacework(Timeout, None), GIVE_UP_AFTER_RECEIVES, false).fate {
            Fate::DeadLetter { reason } => {
                assert!(reason.starts_with("gave up after 16 attempts"), "{reason}");
                assert!(reason.contains("timed out"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backoff_doubles_to_an_hour_and_honours_retry_after() {
        let minutes: Vec<u64> = (1..=9)
            .map(|count| retry_delay(count, None).as_secs() / 60)
            .collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(retry_delay(0, None), FIRST_RETRY_DELAY);
        assert_eq!(retry_delay(u32::MAX, None), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(1, Some(7200)), Duration::from_secs(7200));
        assert_eq!(retry_delay(1, Some(u64::MAX)), MAX_VISIBILITY_TIMEOUT);
    }

    #[test]
    fn names_of_the_integrations() {
        let prefix = NamePrefix::default();
        assert_eq!(
            account_integration_name(&prefix, &id("000011112222")),
            "lacework-ct-000011112222"
        );
        assert_eq!(
            cloudtrail_integration_name(&prefix),
            "lacework-ct-cloudtrail"
        );
        assert!(is_unknown_sub_account(&lacework(
            LaceworkErrorKind::Forbidden,
            None
        )));
        assert!(!is_unknown_sub_account(&lacework(
            LaceworkErrorKind::Server,
            None
        )));
    }
}
