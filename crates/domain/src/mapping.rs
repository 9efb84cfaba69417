//! The account mapping of seed 001: which Lacework (sub-)account receives the CloudTrail
//! activity of which AWS account.
//!
//! The file Lacework takes looks like this (all three fields are required):
//!
//! ```json
//! {
//!   "defaultLaceworkAccountAws": "lw_account_1",
//!   "integration_mappings": {
//!     "lw_account_2": { "aws_accounts": ["000234556677", "000774564564"] }
//!   }
//! }
//! ```
//!
//! An AWS account listed under a Lacework account goes there; every other AWS account goes to
//! the default. Lacework account names are not case-sensitive, so the model keeps them in lower
//! case (the form Lacework's `Account-Name` header uses). An AWS account maps to exactly one
//! Lacework account.
//!
//! * [`AccountMapping::from_json_str`] / [`AccountMapping::from_value`] validate a file and
//!   report every problem with its JSON path; [`AccountMapping::to_value`] writes it back.
//! * [`AccountMapping::to_wire`] / [`AccountMapping::from_wire`]: Lacework's encoding of the
//!   file in an integration's `data.accountMappingFile`.
//! * [`AccountMapping::resolve`]: AWS account -> Lacework account.
//! * [`AccountMapping::diff`]: what changed between two mappings.
//! * [`AccountMapping::build`]: a mapping from the organization tree and OU -> sub-account
//!   rules ([`OrganizationTree`], [`OuRules`]).

mod diff;
mod organization;
mod rules;
mod validate;
mod wire;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::account::AccountId;
use crate::error::{Error, Problem, quoted};

pub use diff::{DefaultChange, MappingDiff, MovedAccount};
pub use organization::{AccountStatus, OrganizationAccount, OrganizationTree, OrganizationalUnit};
pub use rules::{OuRule, OuRules};
pub use wire::WIRE_PREFIX;
pub(crate) use wire::padded_account_id;

/// The field naming the Lacework account that receives every AWS account not listed.
pub const DEFAULT_FIELD: &str = "defaultLaceworkAccountAws";
/// The field holding Lacework account name -> `{"aws_accounts": [...]}`.
pub const MAPPINGS_FIELD: &str = "integration_mappings";
/// The field listing the AWS accounts of one Lacework account.
pub const AWS_ACCOUNTS_FIELD: &str = "aws_accounts";

/// A valid account mapping: a default Lacework account and, for some Lacework accounts, the
/// AWS accounts sent there. Lacework account names are kept in lower case; each AWS account
/// appears under at most one Lacework account. Ordered maps keep every output deterministic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountMapping {
    default_account: String,
    lacework_accounts: BTreeMap<String, BTreeSet<AccountId>>,
}

/// Where one AWS account's activity goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Resolution<'a> {
    /// The Lacework account (lower case).
    pub lacework_account: &'a str,
    /// `true` if the AWS account is listed in `integration_mappings`, `false` if it goes to the
    /// default because it is not.
    pub mapped: bool,
}

impl AccountMapping {
    /// A mapping that sends every AWS account to `default_account`.
    pub fn new(default_account: &str) -> Result<Self, Error> {
        let default_account = lacework_account_name(default_account).map_err(|problem| {
            Error::Mapping(vec![problem.at(&member_path("$", DEFAULT_FIELD))])
        })?;
        Ok(Self {
            default_account,
            lacework_accounts: BTreeMap::new(),
        })
    }

    /// Parses and validates a mapping file. Text that is not JSON gets one problem with the
    /// line and column; otherwise every problem of the document is reported, including keys
    /// that appear twice in one object (JSON parsers silently keep only the last one).
    pub fn from_json_str(text: &str) -> Result<Self, Error> {
        // Editors on Windows like to start files with a byte order mark; it is not JSON.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value = json_document(text)?;
        let mut problems = validate::duplicate_keys(text);
        match validate::mapping(&value).map_err(|more| problems.extend(more)) {
            Ok(mapping) if problems.is_empty() => Ok(mapping),
            _ => Err(Error::Mapping(problems)),
        }
    }

    /// Validates a parsed mapping file; the error lists every problem, each with its JSON path
    /// (for example `$.integration_mappings.lw_account_2.aws_accounts[0]`).
    pub fn from_value(value: &Value) -> Result<Self, Error> {
        validate::mapping(value).map_err(Error::Mapping)
    }

    /// The mapping as the seed-001 document. Keys come out sorted (Lacework accounts by name,
    /// AWS accounts by id), so equal mappings give equal documents.
    pub fn to_value(&self) -> Value {
        let mappings: Map<String, Value> = self
            .lacework_accounts
            .iter()
            .map(|(name, accounts)| (name.clone(), json!({ AWS_ACCOUNTS_FIELD: accounts })))
            .collect();
        json!({ DEFAULT_FIELD: self.default_account, MAPPINGS_FIELD: mappings })
    }

    /// The Lacework account that receives `account`'s activity: the one it is listed under, or
    /// the default.
    pub fn resolve(&self, account: &AccountId) -> Resolution<'_> {
        let listed = self.lacework_account_of(account);
        Resolution {
            lacework_account: listed.unwrap_or(&self.default_account),
            mapped: listed.is_some(),
        }
    }

    /// The Lacework account that receives every AWS account not listed (lower case).
    pub fn default_account(&self) -> &str {
        &self.default_account
    }

    /// The Lacework account `account` is listed under, if it is listed at all.
    pub fn lacework_account_of(&self, account: &AccountId) -> Option<&str> {
        // Organizations have a handful of Lacework accounts, so a scan is cheap and keeps a
        // single source of truth.
        self.lacework_accounts
            .iter()
            .find(|(_, accounts)| accounts.contains(account))
            .map(|(name, _)| name.as_str())
    }

    /// Each Lacework account of `integration_mappings` (lower case, sorted) with its AWS
    /// accounts.
    pub fn lacework_accounts(&self) -> impl Iterator<Item = (&str, &BTreeSet<AccountId>)> {
        self.lacework_accounts
            .iter()
            .map(|(name, accounts)| (name.as_str(), accounts))
    }

    /// Every listed AWS account with its Lacework account, sorted by AWS account id.
    pub fn mapped_accounts(&self) -> BTreeMap<&AccountId, &str> {
        self.lacework_accounts
            .iter()
            .flat_map(|(name, accounts)| accounts.iter().map(move |id| (id, name.as_str())))
            .collect()
    }

    /// Lists `account` under `lacework_account`, taking it away from any other Lacework
    /// account (an AWS account maps to exactly one). Returns the Lacework account it was listed
    /// under before, if any. A Lacework account left with no AWS accounts is dropped.
    pub fn assign(
        &mut self,
        account: AccountId,
        lacework_account: &str,
    ) -> Result<Option<String>, Error> {
        let name = lacework_account_name(lacework_account).map_err(|problem| {
            Error::Mapping(vec![problem.at(&member_path(
                &member_path("$", MAPPINGS_FIELD),
                lacework_account,
            ))])
        })?;
        let previous = self.unassign(&account);
        self.lacework_accounts
            .entry(name)
            .or_default()
            .insert(account);
        Ok(previous)
    }

    /// Takes `account` out of `integration_mappings` (it then goes to the default). Returns the
    /// Lacework account it was listed under. A Lacework account left with no AWS accounts is
    /// dropped.
    pub fn unassign(&mut self, account: &AccountId) -> Option<String> {
        let name = self.lacework_account_of(account)?.to_owned();
        if let Some(accounts) = self.lacework_accounts.get_mut(&name) {
            accounts.remove(account);
            if accounts.is_empty() {
                self.lacework_accounts.remove(&name);
            }
        }
        Some(name)
    }

    /// Builds the mapping of an organization: each ACTIVE account goes to the sub-account of
    /// the rule of its nearest ancestor OU that has one ([`OuRules::sub_account_for`]).
    ///
    /// Only accounts whose sub-account differs from `default_account` are listed: the others
    /// go to the default anyway, and a short file is easier to read and to diff. Accounts that
    /// are not ACTIVE (suspended, closing, not yet activated) are left out. A broken tree (an
    /// OU whose parent is unknown, a cycle) is an error listing every place found broken.
    pub fn build(
        tree: &OrganizationTree,
        rules: &OuRules,
        default_account: &str,
    ) -> Result<Self, Error> {
        let mut mapping = Self::new(default_account)?;
        let mut problems: Vec<Problem> = Vec::new();
        // Accounts under one OU map alike: each OU's ancestors are walked once, not once per
        // account (a broken link is not remembered, so that each account reports its own).
        let mut by_parent: BTreeMap<&str, Option<&str>> = BTreeMap::new();
        for account in tree.accounts() {
            if account.status != AccountStatus::Active {
                continue;
            }
            let parent = account.parent_id.as_str();
            let resolved = match by_parent.get(parent) {
                Some(known) => Ok(*known),
                None => rules.sub_account_for(tree, &account.id).inspect(|found| {
                    by_parent.insert(parent, *found);
                }),
            };
            match resolved {
                Ok(Some(sub_account)) if sub_account != mapping.default_account => {
                    mapping
                        .lacework_accounts
                        .entry(sub_account.to_owned())
                        .or_default()
                        .insert(account.id.clone());
                }
                Ok(_) => {}
                Err(err) => {
                    for problem in err.problems() {
                        // One broken OU breaks every account below it; say it once.
                        if !problems.contains(&problem) {
                            problems.push(problem);
                        }
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(mapping)
        } else {
            Err(Error::Mapping(problems))
        }
    }
}

/// What is wrong with `name` as a Lacework account name, or `None` if nothing is.
///
/// Names are compared case-insensitively, so case is never a problem; an empty name, or one
/// with spaces or control characters, cannot name a Lacework account.
pub fn lacework_account_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("a Lacework account name must not be empty".to_owned())
    } else if name.trim().is_empty() {
        Some("a Lacework account name must not be blank".to_owned())
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some(format!(
            "{} is not a Lacework account name: it contains spaces or control characters",
            quoted(name)
        ))
    } else {
        None
    }
}

/// The canonical (lower-case) form of a Lacework account name, or what is wrong with it.
pub fn lacework_account_name(name: &str) -> Result<String, Problem> {
    match lacework_account_problem(name) {
        Some(problem) => Err(Problem::of_value(problem)),
        None => Ok(name.to_lowercase()),
    }
}

/// Whether two names are equal but for case (Lacework account names, OU names).
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// A mapping file's text read as JSON (not yet checked as a mapping).
fn json_document(text: &str) -> Result<Value, Error> {
    serde_json::from_str(text)
        .map_err(|err| Error::Mapping(vec![Problem::new("$", format!("is not valid JSON: {err}"))]))
}

/// The JSON path of `key` inside the object at `parent`: `parent.key` for plain keys,
/// `parent["key"]` for anything else (empty keys, spaces, dots, quotes).
pub(crate) fn member_path(parent: &str, key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}[{}]", Value::String(key.to_owned()))
    }
}

#[cfg(test)]
mod tests;
