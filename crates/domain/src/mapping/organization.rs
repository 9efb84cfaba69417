//! A small, pure model of an AWS Organizations tree: the root, the OUs and the accounts, as a
//! caller lists them (`ListRoots`, `ListOrganizationalUnitsForParent`,
//! `ListAccountsForParent`).

use std::collections::BTreeMap;

use serde::de::value::{self, StrDeserializer};
use serde::{Deserialize, Serialize};

use super::member_path;
use crate::account::AccountId;
use crate::error::{Error, Problem};

/// An account's state in the organization (the `Status` of `ListAccountsForParent`, or the
/// newer `State`, which adds `PENDING_ACTIVATION` and `CLOSED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountStatus {
    Active,
    Suspended,
    PendingClosure,
    PendingActivation,
    Closed,
}

impl AccountStatus {
    /// Reads AWS's spelling (`ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`, `PENDING_ACTIVATION`,
    /// `CLOSED`); `None` for anything else.
    pub fn from_aws(text: &str) -> Option<Self> {
        // The serde names are AWS's spelling.
        Self::deserialize(StrDeserializer::<value::Error>::new(text)).ok()
    }

    /// AWS's spelling.
    pub fn as_aws(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Suspended => "SUSPENDED",
            Self::PendingClosure => "PENDING_CLOSURE",
            Self::PendingActivation => "PENDING_ACTIVATION",
            Self::Closed => "CLOSED",
        }
    }
}

/// An organizational unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationalUnit {
    /// `ou-...`.
    pub id: String,
    pub name: String,
    /// The root (`r-...`) or another OU.
    pub parent_id: String,
}

/// An account of the organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationAccount {
    pub id: AccountId,
    pub name: String,
    /// The root (`r-...`) or an OU.
    pub parent_id: String,
    pub status: AccountStatus,
}

/// The organization: one root, OUs under it (nested), accounts under the root or an OU.
/// Built by callers one listing at a time; nothing is checked until it is walked, and then a
/// broken tree (an unknown parent, a cycle) is an error, never a hang.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationTree {
    root_id: String,
    units: BTreeMap<String, OrganizationalUnit>,
    accounts: BTreeMap<AccountId, OrganizationAccount>,
}

impl OrganizationTree {
    /// An organization with only its root (`r-...`).
    pub fn new(root_id: impl Into<String>) -> Self {
        Self {
            root_id: root_id.into(),
            units: BTreeMap::new(),
            accounts: BTreeMap::new(),
        }
    }

    /// The organization as `ListAccounts` lists it: every account and its state, no OUs.
    /// That listing does not name the root either, so the root's id is empty and every account
    /// stands directly under it, with no ancestors: a tree for decisions that only ask whether
    /// an account is a member and in what state, never where it sits.
    pub fn accounts_only(
        accounts: impl IntoIterator<Item = (AccountId, String, AccountStatus)>,
    ) -> Self {
        let mut tree = Self::new("");
        for (id, name, status) in accounts {
            tree.add_account(OrganizationAccount {
                id,
                name,
                parent_id: String::new(),
                status,
            });
        }
        tree
    }

    pub fn root_id(&self) -> &str {
        &self.root_id
    }

    /// Adds an OU, replacing any earlier one with the same id (listings may repeat).
    pub fn add_unit(&mut self, unit: OrganizationalUnit) {
        self.units.insert(unit.id.clone(), unit);
    }

    /// Adds an account, replacing any earlier one with the same id (listings may repeat).
    pub fn add_account(&mut self, account: OrganizationAccount) {
        self.accounts.insert(account.id.clone(), account);
    }

    pub fn unit(&self, id: &str) -> Option<&OrganizationalUnit> {
        self.units.get(id)
    }

    pub fn account(&self, id: &AccountId) -> Option<&OrganizationAccount> {
        self.accounts.get(id)
    }

    /// Every OU, sorted by id.
    pub fn units(&self) -> impl Iterator<Item = &OrganizationalUnit> {
        self.units.values()
    }

    /// Every account, sorted by id.
    pub fn accounts(&self) -> impl Iterator<Item = &OrganizationAccount> {
        self.accounts.values()
    }

    /// The OUs above `account`, nearest first (an account directly under the root has none).
    /// An account not in the tree, an unknown parent or a cycle is an [`Error::Mapping`] whose
    /// path names the broken link, for example `organization.units["ou-a1"].parent_id`.
    pub fn ancestors_of(&self, account: &AccountId) -> Result<Vec<&OrganizationalUnit>, Error> {
        // Called for every account of the organization: the error's words are only put
        // together when a link is broken.
        let account_path = || member_path("organization.accounts", account.as_str());
        let member = self
            .accounts
            .get(account)
            .ok_or_else(|| broken(account_path(), "is not in the organization tree".to_owned()))?;
        let mut ancestors: Vec<&OrganizationalUnit> = Vec::new();
        let mut parent_id = member.parent_id.as_str();
        while parent_id != self.root_id {
            let Some(unit) = self.units.get(parent_id) else {
                let (child_path, child) = match ancestors.last() {
                    None => (
                        format!("{}.parent_id", account_path()),
                        format!("account {account}"),
                    ),
                    Some(child) => (
                        format!("{}.parent_id", unit_path(&child.id)),
                        format!("OU {:?} ({})", child.id, child.name),
                    ),
                };
                return Err(broken(
                    child_path,
                    format!(
                        "the parent {parent_id:?} of {child} is neither the root {:?} nor a \
                         known OU",
                        self.root_id
                    ),
                ));
            };
            // OUs nest a few levels deep, so a look back is cheaper than a set.
            if ancestors.iter().any(|seen| seen.id == unit.id) {
                return Err(self.cycle_through(unit));
            }
            ancestors.push(unit);
            parent_id = unit.parent_id.as_str();
        }
        Ok(ancestors)
    }

    /// The error for the cycle `start` is on, described from its smallest OU id so that every
    /// account below the cycle reports the same problem.
    fn cycle_through(&self, start: &OrganizationalUnit) -> Error {
        let mut ids: Vec<&str> = vec![start.id.as_str()];
        let mut next = start.parent_id.as_str();
        while next != start.id && ids.len() <= self.units.len() {
            ids.push(next);
            let Some(unit) = self.units.get(next) else {
                break;
            };
            next = unit.parent_id.as_str();
        }
        let smallest = ids
            .iter()
            .enumerate()
            .min_by_key(|(_, id)| **id)
            .map_or(0, |(index, _)| index);
        ids.rotate_left(smallest);
        let first = ids.first().copied().unwrap_or(start.id.as_str());
        let chain = format!("{} -> {first}", ids.join(" -> "));
        broken(
            format!("{}.parent_id", unit_path(first)),
            format!(
                "OU parents form a cycle ({chain}) that never reaches the root {:?}",
                self.root_id
            ),
        )
    }
}

fn unit_path(id: &str) -> String {
    member_path("organization.units", id)
}

fn broken(path: String, message: String) -> Error {
    Error::Mapping(vec![Problem::new(path, message)])
}
