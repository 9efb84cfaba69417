//! What changed between two account mappings.

use serde::Serialize;

use super::AccountMapping;
use crate::account::AccountId;

/// The changes from an older mapping to a newer one, in the listed AWS accounts
/// (`integration_mappings`). An account taken out of the list goes to the default from then on;
/// it is reported as removed even when the default is where it was listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MappingDiff {
    /// The default Lacework account, if it changed.
    pub default_changed: Option<DefaultChange>,
    /// AWS accounts listed only in the newer mapping, with their Lacework account.
    pub added: Vec<(AccountId, String)>,
    /// AWS accounts listed only in the older mapping, with the Lacework account they had.
    pub removed: Vec<(AccountId, String)>,
    /// AWS accounts listed in both, under different Lacework accounts.
    pub moved: Vec<MovedAccount>,
}

/// The default Lacework account changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DefaultChange {
    pub from: String,
    pub to: String,
}

/// An AWS account listed under another Lacework account than before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MovedAccount {
    pub account: AccountId,
    pub from: String,
    pub to: String,
}

impl AccountMapping {
    /// What changed from `self` to `newer`; see [`MappingDiff`]. Every list comes out sorted by
    /// AWS account id.
    pub fn diff(&self, newer: &AccountMapping) -> MappingDiff {
        let before = self.mapped_accounts();
        let after = newer.mapped_accounts();
        let mut diff = MappingDiff::default();
        if self.default_account() != newer.default_account() {
            diff.default_changed = Some(DefaultChange {
                from: self.default_account().to_owned(),
                to: newer.default_account().to_owned(),
            });
        }
        for (&account, &from) in &before {
            match after.get(account) {
                None => diff.removed.push((account.clone(), from.to_owned())),
                Some(&to) if to != from => diff.moved.push(MovedAccount {
                    account: account.clone(),
                    from: from.to_owned(),
                    to: to.to_owned(),
                }),
                Some(_) => {}
            }
        }
        for (&account, &to) in &after {
            if !before.contains_key(account) {
                diff.added.push((account.clone(), to.to_owned()));
            }
        }
        diff
    }
}
