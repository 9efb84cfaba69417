//! Existing accounts queued for `account-lifecycle` (`TOWER_MONITOR_EXISTING_ACCOUNTS`).
//!
//! Each SQS message body is one [`AccountWork`] batch (the type `account-lifecycle` reads, from
//! `lwct_domain::lifecycle`) of at most [`ACCOUNTS_PER_MESSAGE`] accounts:
//!
//! ```json
//! {"type": "OnboardAccounts", "source": "setup",
//!  "accounts": [{"id": "222233334444", "name": "Log Archive"}]}
//! ```

use lwct_aws::organizations::MemberAccount;
use lwct_domain::AccountId;
use lwct_domain::lifecycle::{AccountToOnboard, AccountWork};
use lwct_domain::mapping::AccountStatus;

/// Accounts per message: small messages, and a failed one holds up few accounts.
pub const ACCOUNTS_PER_MESSAGE: usize = 50;

/// Who queued a batch.
pub const SOURCE: &str = "setup";

/// The accounts to onboard, in batches: every ACTIVE account but the management account
/// (StackSets cannot deploy to it through `AWSControlTowerExecution`), sorted by id.
pub fn onboarding_batches(accounts: &[MemberAccount], management: &AccountId) -> Vec<AccountWork> {
    let mut chosen: Vec<AccountToOnboard> = accounts
        .iter()
        .filter(|account| account.status == AccountStatus::Active && account.id != *management)
        .map(|account| AccountToOnboard {
            id: account.id.clone(),
            name: account.name.clone(),
        })
        .collect();
    chosen.sort_by(|a, b| a.id.cmp(&b.id));
    chosen.dedup_by(|a, b| a.id == b.id);
    chosen
        .chunks(ACCOUNTS_PER_MESSAGE)
        .map(|batch| AccountWork::OnboardAccounts {
            source: SOURCE.to_owned(),
            accounts: batch.to_vec(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use lwct_domain::lifecycle::{Message, read_message};
    use serde_json::json;

    use super::*;

    fn account(n: usize, status: AccountStatus) -> MemberAccount {
        MemberAccount {
            id: AccountId::parse(&format!("{n:012}")).unwrap(),
            name: format!("account {n}"),
            status,
        }
    }

    #[test]
    fn only_active_members_are_queued_fifty_per_message() {
        let management = AccountId::parse("000000000001").unwrap();
        let mut accounts: Vec<MemberAccount> = (1..=120)
            .map(|n| account(n, AccountStatus::Active))
            .collect();
        accounts.push(account(200, AccountStatus::Suspended));
        accounts.push(account(201, AccountStatus::Closed));
        accounts.push(account(202, AccountStatus::PendingClosure));
        accounts.reverse();
        let batches = onboarding_batches(&accounts, &management);
        let sizes: Vec<usize> = batches.iter().map(AccountWork::account_count).collect();
        assert_eq!(sizes, [50, 50, 19]);
        let AccountWork::OnboardAccounts {
            accounts: first, ..
        } = &batches[0]
        else {
            panic!("{batches:?}")
        };
        assert_eq!(first[0].id.as_str(), "000000000002");
    }

    #[test]
    fn the_message_has_the_agreed_shape_and_account_lifecycle_reads_it() {
        let management = AccountId::parse("000000000001").unwrap();
        let accounts = [MemberAccount {
            id: AccountId::parse("222233334444").unwrap(),
            name: "Log Archive".into(),
            status: AccountStatus::Active,
        }];
        let batches = onboarding_batches(&accounts, &management);
        let [batch] = batches.as_slice() else {
            panic!("one batch expected: {batches:?}");
        };
        // The exact text on the wire, field order included.
        let body = serde_json::to_string(batch).unwrap();
        assert_eq!(
            body,
            r#"{"type":"OnboardAccounts","source":"setup","accounts":[{"id":"222233334444","name":"Log Archive"}]}"#
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            json!({"type": "OnboardAccounts", "source": "setup",
                   "accounts": [{"id": "222233334444", "name": "Log Archive"}]})
        );
        assert_eq!(
            read_message(Some(&body), "$.Records[0].body"),
            Message::Onboard(vec![AccountToOnboard {
                id: AccountId::parse("222233334444").unwrap(),
                name: "Log Archive".into(),
            }])
        );
    }
}
