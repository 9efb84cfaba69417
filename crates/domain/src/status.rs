//! Where each account of the organization stands, for `lwct status`: one row per account (its
//! OU, state, member instance, Lacework sub-account, mapping file entry) and what is out of
//! place, from the same read and the same comparison as the reconcile.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::account::AccountId;
use crate::error::Error;
use crate::lifecycle::{self, InstanceState, Message};
use crate::reconcile::{Drift, Installation, Observed, reconcile};
use crate::registration::RegistrationWork;

/// One account's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRow {
    pub account: AccountId,
    pub name: String,
    /// The OU path from the root (`Workloads/Prod`), empty at the root.
    pub ou: String,
    /// The account's status in Organizations (`ACTIVE`, `SUSPENDED`, ...), or `GONE` for an
    /// account the organization no longer has.
    pub state: String,
    /// The member stack instance: `current`, `busy`, `outdated`, `inoperable` or none.
    pub instance: Option<String>,
    /// Where the account is registered in Lacework, if it is.
    pub sub_account: Option<String>,
    /// Where the mapping file sends its trail activity (organization level only).
    pub mapping: Option<String>,
    /// What is out of place, in words (dead-lettered work with its reason among it); empty
    /// when nothing is.
    pub problems: Vec<String>,
}

/// A message of a dead-letter queue: its body and the reason it was given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub body: String,
    pub reason: String,
}

impl DeadLetter {
    /// The accounts the message was about: registration work names one, account work and
    /// lifecycle events the accounts they carry.
    pub fn accounts(&self) -> Vec<AccountId> {
        if let Ok(work) = RegistrationWork::from_message(&self.body) {
            return vec![work.account().clone()];
        }
        match lifecycle::read_message(Some(&self.body), "$") {
            Message::Onboard(accounts) => accounts.into_iter().map(|a| a.id).collect(),
            Message::Retire(accounts) => accounts,
            Message::Event(event) => event.account_id().cloned().into_iter().collect(),
            Message::Ignored { .. } | Message::Unreadable { .. } => Vec::new(),
        }
    }
}

/// The installation's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub accounts: Vec<AccountRow>,
    pub drift: Vec<Drift>,
    /// Dead-lettered messages that name no account, with their reasons.
    pub other_dead_letters: Vec<String>,
    /// How many dead-lettered messages there are in all.
    pub dead_letters: usize,
}

impl Status {
    /// Whether anything is out of place (`lwct status` then exits non-zero).
    pub fn is_clean(&self) -> bool {
        self.drift.is_empty() && self.dead_letters == 0
    }

    /// The rows as a fixed-width table.
    pub fn table(&self) -> String {
        let header = [
            "ACCOUNT",
            "NAME",
            "OU",
            "STATE",
            "INSTANCE",
            "SUB-ACCOUNT",
            "MAPPING",
            "PROBLEM",
        ];
        let or_dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
        let rows = self.accounts.iter().map(|row| {
            let problems = (!row.problems.is_empty()).then(|| row.problems.join("; "));
            [
                row.account.to_string(),
                row.name.clone(),
                if row.ou.is_empty() {
                    "/".into()
                } else {
                    row.ou.clone()
                },
                row.state.clone(),
                or_dash(&row.instance),
                or_dash(&row.sub_account),
                or_dash(&row.mapping),
                or_dash(&problems),
            ]
        });
        let cells: Vec<[String; 8]> = std::iter::once(header.map(String::from))
            .chain(rows)
            .collect();
        let mut widths = [0; 8];
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        // Columns two spaces apart, no spaces at the end of a line.
        let line = |cells: &[String; 8]| {
            let padded: Vec<String> = (cells.iter().zip(widths))
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            format!("{}\n", padded.join("  ").trim_end())
        };
        cells.iter().map(line).collect()
    }
}

/// The status of every account the organization has, or that still has an instance or a
/// registration of ours.
pub fn status(
    observed: &Observed,
    installation: &Installation<'_>,
    dead_letters: &[DeadLetter],
) -> Result<Status, Error> {
    let repairs = reconcile(observed, installation)?;
    let mut problems: BTreeMap<AccountId, Vec<String>> = BTreeMap::new();
    for drift in &repairs.drift {
        problems
            .entry(drift.account.clone())
            .or_default()
            .push(drift.to_string());
    }
    let mut other_dead_letters = Vec::new();
    for letter in dead_letters {
        let accounts = letter.accounts();
        if accounts.is_empty() {
            other_dead_letters.push(letter.reason.clone());
        }
        for account in accounts {
            problems
                .entry(account)
                .or_default()
                .push(format!("dead-lettered: {}", letter.reason));
        }
    }
    let registered: BTreeMap<&AccountId, &str> = observed
        .registrations
        .iter()
        .map(|r| (&r.account, r.sub_account.as_str()))
        .collect();
    let row = |account: &AccountId, name: String, ou: String, state: String| AccountRow {
        account: account.clone(),
        name,
        ou,
        state,
        instance: observed.instances.get(account).map(|state| {
            match state {
                InstanceState::Current => "current",
                InstanceState::Busy => "busy",
                InstanceState::Outdated => "outdated",
                InstanceState::Inoperable => "inoperable",
            }
            .to_owned()
        }),
        sub_account: registered.get(account).map(|s| (*s).to_owned()),
        mapping: observed
            .mapping
            .as_ref()
            .map(|mapping| mapping.resolve(account).lacework_account.to_owned()),
        problems: problems.get(account).cloned().unwrap_or_default(),
    };
    let mut accounts = Vec::new();
    for account in observed.tree.accounts() {
        let ou = observed
            .tree
            .ancestors_of(&account.id)?
            .iter()
            .rev()
            .map(|unit| unit.name.as_str())
            .collect::<Vec<_>>()
            .join("/");
        accounts.push(row(
            &account.id,
            account.name.clone(),
            ou,
            account.status.as_aws().to_owned(),
        ));
    }
    for account in problems.keys() {
        if observed.tree.account(account).is_none() {
            accounts.push(row(account, String::new(), String::new(), "GONE".into()));
        }
    }
    accounts.sort_by(|a, b| a.account.cmp(&b.account));
    Ok(Status {
        accounts,
        drift: repairs.drift,
        other_dead_letters,
        dead_letters: dead_letters.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::SubAccountRouting;
    use crate::mapping::{
        AccountStatus, OrganizationAccount, OrganizationTree, OrganizationalUnit, OuRules,
    };
    use crate::naming::{NamePrefix, Partition};

    #[test]
    fn each_account_has_a_row_and_what_is_out_of_place_is_named() {
        let mut tree = OrganizationTree::new("r-root");
        tree.add_unit(OrganizationalUnit {
            id: "ou-root-prod".into(),
            name: "Prod".into(),
            parent_id: "r-root".into(),
        });
        let id = |text: &str| AccountId::parse(text).unwrap();
        for (account, parent) in [("222233334444", "ou-root-prod"), ("222233335555", "r-root")] {
            tree.add_account(OrganizationAccount {
                id: id(account),
                name: format!("account {account}"),
                parent_id: parent.into(),
                status: AccountStatus::Active,
            });
        }
        let observed = Observed {
            tree,
            management: None,
            instances: BTreeMap::from([(id("222233334444"), InstanceState::Current)]),
            registrations: Vec::new(),
            mapping: None,
        };
        let prefix = NamePrefix::parse("lacework-ct").unwrap();
        let routing =
            SubAccountRouting::new("acme", None, OuRules::parse("Prod=prod").unwrap()).unwrap();
        let status = status(
            &observed,
            &Installation {
                prefix: &prefix,
                routing: &routing,
                partition: Partition::Aws,
                member_role: "lacework-ct-config-role",
                member_instances: true,
            },
            &[DeadLetter {
                body: r#"{"type":"Deregister","account":"222233335555","cause":"x"}"#.into(),
                reason: "Lacework refused it".into(),
            }],
        )
        .unwrap();
        assert!(!status.is_clean());
        assert_eq!(status.accounts.len(), 2);
        assert_eq!(status.accounts[0].ou, "Prod");
        assert_eq!(status.accounts[0].instance.as_deref(), Some("current"));
        assert_eq!(
            status.accounts[0].problems,
            ["account 222233334444 is not registered in Lacework"]
        );
        assert_eq!(
            status.accounts[1].problems,
            [
                "account 222233335555 has no member stack instance",
                "dead-lettered: Lacework refused it"
            ]
        );
        let table = status.table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("ACCOUNT       NAME"), "{table}");
        assert!(
            lines[1].contains("222233334444  account 222233334444  Prod"),
            "{table}"
        );
        assert!(lines[2].contains("  /     ACTIVE  -  "), "{table}");
    }
}
