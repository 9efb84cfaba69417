//! OU -> sub-account rules: which Lacework sub-account receives the accounts of which OU.

use serde::Serialize;

use super::{OrganizationTree, lacework_account_name, quoted, same_name};
use crate::account::AccountId;
use crate::error::{Error, Problem};

/// Accounts under the OU named `ou_name` (at any depth, unless a nearer OU has its own rule)
/// go to the Lacework sub-account `sub_account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OuRule {
    /// The OU's name as configured; compared with OU names case-insensitively.
    pub ou_name: String,
    /// The Lacework sub-account, lower case.
    pub sub_account: String,
}

/// The configured rules, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OuRules {
    rules: Vec<OuRule>,
}

impl OuRules {
    /// Parses the configuration text `"Security=secops, Workloads=prod"`: comma-separated
    /// `OU name=sub-account` pairs, spaces around each part ignored. Blank text means no rules.
    /// Every problem is returned, with paths `rules[0]`, `rules[1]`, ... (the position of the
    /// pair in the text). The same OU given twice with the same sub-account is accepted; with
    /// different sub-accounts it is a problem. OU names containing `,` or `=` cannot be written
    /// in this form.
    pub fn parse(text: &str) -> Result<Self, Vec<Problem>> {
        let mut rules: Vec<(usize, OuRule)> = Vec::new();
        let mut problems = Vec::new();
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        for (index, pair) in text.split(',').enumerate() {
            let path = format!("rules[{index}]");
            let pair = pair.trim();
            let Some((ou_name, sub_account)) = pair.split_once('=') else {
                let message = if pair.is_empty() {
                    "is empty; write rules as \"OU name=sub-account\" separated by commas, \
                     with no comma at the end"
                        .to_owned()
                } else {
                    format!(
                        "{} has no '='; write it as \"OU name=sub-account\"",
                        quoted(pair)
                    )
                };
                problems.push(Problem::new(path, message));
                continue;
            };
            let ou_name = ou_name.trim();
            let sub_account = sub_account.trim();
            let mut valid = true;
            if ou_name.is_empty() {
                problems.push(Problem::new(
                    path.clone(),
                    format!("{} has no OU name before '='", quoted(pair)),
                ));
                valid = false;
            }
            let sub_account = if sub_account.is_empty() {
                Err(format!("{} has no sub-account after '='", quoted(pair)))
            } else if sub_account.contains('=') {
                Err(format!(
                    "{} has more than one '='; write it as \"OU name=sub-account\"",
                    quoted(pair)
                ))
            } else {
                lacework_account_name(sub_account).map_err(|problem| problem.message)
            }
            .map_err(|message| problems.push(Problem::new(path.clone(), message)))
            .ok();
            let (Some(sub_account), true) = (sub_account, valid) else {
                continue;
            };
            match rules
                .iter()
                .find(|(_, rule)| same_name(&rule.ou_name, ou_name))
            {
                Some((_, rule)) if rule.sub_account == sub_account => {}
                Some((first, rule)) => problems.push(Problem::new(
                    path,
                    format!(
                        "OU {ou_name:?} already has a rule at rules[{first}] (sub-account \
                         {:?}); an OU's accounts can go to only one sub-account",
                        rule.sub_account
                    ),
                )),
                None => rules.push((
                    index,
                    OuRule {
                        ou_name: ou_name.to_owned(),
                        sub_account,
                    },
                )),
            }
        }
        if problems.is_empty() {
            Ok(Self {
                rules: rules.into_iter().map(|(_, rule)| rule).collect(),
            })
        } else {
            Err(problems)
        }
    }

    /// The rules, in configuration order.
    pub fn rules(&self) -> &[OuRule] {
        &self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The sub-account of the rule for the OU named `ou_name` (case-insensitive), if any.
    pub fn sub_account_for_ou(&self, ou_name: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|rule| same_name(&rule.ou_name, ou_name))
            .map(|rule| rule.sub_account.as_str())
    }

    /// The sub-account for `account`: the rule of its nearest ancestor OU that has one, or
    /// `None` (the account goes to the default). An account not in the tree or a broken tree
    /// is an error (see [`OrganizationTree::ancestors_of`]).
    pub fn sub_account_for(
        &self,
        tree: &OrganizationTree,
        account: &AccountId,
    ) -> Result<Option<&str>, Error> {
        // Nearest first: the first OU with a rule wins.
        let ancestors = tree.ancestors_of(account)?;
        Ok(ancestors
            .iter()
            .find_map(|unit| self.sub_account_for_ou(&unit.name)))
    }
}
