//! Validation of a mapping document: every problem, each with its JSON path.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{
    AWS_ACCOUNTS_FIELD, AccountMapping, DEFAULT_FIELD, MAPPINGS_FIELD, lacework_account_name,
    lacework_account_problem, member_path, quoted,
};
use crate::account::{AccountId, account_id_problem};
use crate::error::Problem;

/// Checks a whole mapping document and returns the model, or every problem found.
pub(super) fn mapping(value: &Value) -> Result<AccountMapping, Vec<Problem>> {
    let Some(root) = value.as_object() else {
        return Err(vec![Problem::new(
            "$",
            format!(
                "must be a JSON object with {DEFAULT_FIELD:?} and {MAPPINGS_FIELD:?}, found {}",
                describe(value)
            ),
        )]);
    };
    let mut problems = Vec::new();
    unknown_fields(root, "$", &[DEFAULT_FIELD, MAPPINGS_FIELD], &mut problems);

    let default_account = match root.get(DEFAULT_FIELD) {
        None => Err(
            "is missing; it names the Lacework account that receives every AWS account \
             not listed in integration_mappings"
                .to_owned(),
        ),
        Some(Value::String(name)) => lacework_account_name(name).map_err(|problem| problem.message),
        Some(other) => Err(format!(
            "must be a string (a Lacework account name), found {}",
            describe(other)
        )),
    }
    .map_err(|message| problems.push(Problem::new(member_path("$", DEFAULT_FIELD), message)))
    .ok();

    let mappings_path = member_path("$", MAPPINGS_FIELD);
    let mut lacework_accounts = BTreeMap::new();
    match root.get(MAPPINGS_FIELD) {
        None => problems.push(Problem::new(
            mappings_path,
            "is missing; it maps Lacework account names to {\"aws_accounts\": [...]} \
             (write {} if every AWS account goes to the default)",
        )),
        Some(Value::Object(entries)) => {
            lacework_accounts = integration_mappings(entries, &mappings_path, &mut problems);
        }
        Some(other) => problems.push(Problem::new(
            mappings_path,
            format!(
                "must be an object of Lacework account name -> {{\"aws_accounts\": [...]}}, found {}",
                describe(other)
            ),
        )),
    }

    match default_account {
        Some(default_account) if problems.is_empty() => Ok(AccountMapping {
            default_account,
            lacework_accounts,
        }),
        _ => Err(problems),
    }
}

/// Checks `integration_mappings` and returns what is valid of it.
fn integration_mappings(
    entries: &Map<String, Value>,
    path: &str,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, BTreeSet<AccountId>> {
    let mut lacework_accounts: BTreeMap<String, BTreeSet<AccountId>> = BTreeMap::new();
    // Lower-case name -> path of the first key with that name.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    // AWS account -> (lower-case Lacework account, path) of its first listing.
    let mut listed: BTreeMap<AccountId, (String, String)> = BTreeMap::new();

    // Sorted keys make the order of problems independent of how the JSON map is built.
    let mut keys: Vec<&String> = entries.keys().collect();
    keys.sort();
    for key in keys {
        let Some(entry) = entries.get(key) else {
            continue;
        };
        let entry_path = member_path(path, key);
        let name = key.to_lowercase();
        let mut name_problems = Vec::from_iter(lacework_account_problem(key));
        if let Some(first) = names.get(&name) {
            name_problems.push(format!(
                "names the same Lacework account as {first} (account names are not \
                 case-sensitive), so the file is ambiguous; merge the two into one"
            ));
        } else {
            names.insert(name.clone(), entry_path.clone());
        }
        let name_is_valid = name_problems.is_empty();
        for problem in name_problems {
            problems.push(Problem::new(entry_path.clone(), problem));
        }

        for (account, account_path) in aws_accounts(entry, &entry_path, problems) {
            match listed.get(&account) {
                Some((first_name, first_path)) if *first_name == name => {
                    problems.push(Problem::new(
                        account_path,
                        format!(
                            "AWS account {account} is listed twice for the same Lacework \
                             account; it is already at {first_path}"
                        ),
                    ));
                }
                Some((first_name, first_path)) => {
                    problems.push(Problem::new(
                        account_path,
                        format!(
                            "AWS account {account} is already mapped to Lacework account \
                             {first_name:?} at {first_path}; an AWS account maps to exactly \
                             one Lacework account"
                        ),
                    ));
                }
                None => {
                    listed.insert(account.clone(), (name.clone(), account_path));
                    if name_is_valid {
                        lacework_accounts
                            .entry(name.clone())
                            .or_default()
                            .insert(account);
                    }
                }
            }
        }
        if name_is_valid {
            lacework_accounts.entry(name).or_default();
        }
    }
    lacework_accounts
}

/// Checks one `{"aws_accounts": [...]}` entry and returns its valid account ids with their
/// paths.
fn aws_accounts(
    entry: &Value,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Vec<(AccountId, String)> {
    let Some(fields) = entry.as_object() else {
        problems.push(Problem::new(
            path,
            format!(
                "must be an object with {AWS_ACCOUNTS_FIELD:?} (a list of AWS account ids), found {}",
                describe(entry)
            ),
        ));
        return Vec::new();
    };
    unknown_fields(fields, path, &[AWS_ACCOUNTS_FIELD], problems);
    let list_path = member_path(path, AWS_ACCOUNTS_FIELD);
    let items = match fields.get(AWS_ACCOUNTS_FIELD) {
        Some(Value::Array(items)) => items,
        found => {
            let message = match found {
                None => "is missing; list the AWS account ids (12-digit strings) that go to \
                         this Lacework account"
                    .to_owned(),
                Some(other) => format!(
                    "must be a list of AWS account ids (12-digit strings), found {}",
                    describe(other)
                ),
            };
            problems.push(Problem::new(list_path, message));
            return Vec::new();
        }
    };

    let mut accounts = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{list_path}[{index}]");
        match item {
            Value::String(text) => match AccountId::parse(text) {
                Ok(account) => accounts.push((account, item_path)),
                Err(_) => {
                    let problem = account_id_problem(text)
                        .unwrap_or_else(|| "is not an AWS account id".to_owned());
                    problems.push(Problem::new(
                        item_path,
                        format!("AWS account id {}: {problem}", quoted(text)),
                    ));
                }
            },
            Value::Number(number) => {
                let digits = number.to_string();
                let advice = match account_id_problem(&digits) {
                    None => format!("write it in quotes: \"{digits}\""),
                    Some(problem) => format!("as an AWS account id it {problem}"),
                };
                problems.push(Problem::new(
                    item_path,
                    format!(
                        "AWS account id {digits} must be a string, not a number (numbers \
                         lose leading zeros); {advice}"
                    ),
                ));
            }
            other => problems.push(Problem::new(
                item_path,
                format!(
                    "must be an AWS account id (a string of 12 digits), found {}",
                    describe(other)
                ),
            )),
        }
    }
    accounts
}

/// Reports fields the mapping format does not have: they would be dropped when the mapping
/// is written back, and they are usually a misspelt required field.
fn unknown_fields(
    fields: &Map<String, Value>,
    path: &str,
    known: &[&str],
    problems: &mut Vec<Problem>,
) {
    let mut keys: Vec<&String> = fields.keys().collect();
    keys.sort();
    for key in keys {
        if !known.contains(&key.as_str()) {
            let expected = known
                .iter()
                .map(|field| format!("{field:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            problems.push(Problem::new(
                member_path(path, key),
                format!("is not a field of an account mapping file here (expected {expected})"),
            ));
        }
    }
}

/// A JSON value's type, with the value itself when it is short, for messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {}", quoted(s)),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// Keys that appear more than once in one object of `text` (which must already be known to
/// be valid JSON). `serde_json::Value` keeps only the last of them, so they are found here,
/// on the text.
pub(super) fn duplicate_keys(text: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let scan = KeyScan {
        path: "$".to_owned(),
        problems: &mut problems,
    };
    // The text already parsed as a `Value`, so this cannot fail; if it somehow did, the
    // document's other problems are still reported by the caller.
    let _ = scan.deserialize(&mut deserializer);
    problems
}

/// Walks a JSON document, noting repeated keys with their paths.
struct KeyScan<'p> {
    path: String,
    problems: &'p mut Vec<Problem>,
}

impl<'de> DeserializeSeed<'de> for KeyScan<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyScan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for index in 0.. {
            let element = KeyScan {
                path: format!("{}[{index}]", self.path),
                problems: &mut *self.problems,
            };
            if seq.next_element_seed(element)?.is_none() {
                break;
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = member_path(&self.path, &key);
            if !seen.insert(key) {
                self.problems.push(Problem::new(
                    path.clone(),
                    "appears more than once in the same object; JSON readers keep only the \
                     last one, so the others would be silently lost",
                ));
            }
            map.next_value_seed(KeyScan {
                path,
                problems: &mut *self.problems,
            })?;
        }
        Ok(())
    }
}
