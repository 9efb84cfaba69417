//! The organization's account mapping file (seed 001) as it travels in
//! `data.accountMappingFile`: `data:application/json;name=i.json;base64,<base64 of JSON>`.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

use crate::validate::{Invalid, Object, aws_account_id};

/// The exact data-URI prefix Lacework's SDKs write.
pub const DATA_URI_PREFIX: &str = "data:application/json;name=i.json;base64,";

/// Where the file travels in a CloudAccounts body.
const PATH: &str = "$.data.accountMappingFile";

/// Decodes the data URI and validates the mapping; returns the decoded JSON.
///
/// Every problem found is reported (joined with "; "), each with its JSON path inside the
/// decoded file. `org_accounts` are the organization's Lacework accounts in lower case.
pub fn decode_and_validate(uri: &str, org_accounts: &[String]) -> Result<Value, Invalid> {
    let encoded = uri.strip_prefix(DATA_URI_PREFIX).ok_or_else(|| {
        Invalid::field(
            PATH,
            format!(
                "must start with {DATA_URI_PREFIX:?} followed by standard base64 of the JSON file"
            ),
        )
    })?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|error| {
            Invalid::field(
                PATH,
                format!("the part after \"base64,\" is not standard base64: {error}"),
            )
        })?;
    let mapping: Value = serde_json::from_slice(&bytes)
        .map_err(|error| Invalid::field(PATH, format!("the decoded file is not JSON: {error}")))?;
    let problems = problems(&mapping, org_accounts);
    if problems.is_empty() {
        return Ok(mapping);
    }
    let problems: Vec<String> = problems.iter().map(Invalid::to_string).collect();
    Err(Invalid::field(
        PATH,
        format!("invalid mapping file: {}", problems.join("; ")),
    ))
}

/// Every problem of a decoded mapping file, each starting with its JSON path.
pub fn problems(mapping: &Value, org_accounts: &[String]) -> Vec<Invalid> {
    let root = match Object::body(mapping) {
        Ok(root) => root,
        Err(problem) => return vec![problem],
    };
    let mut problems: Vec<Invalid> = root
        .unknown(&["defaultLaceworkAccountAws", "integration_mappings"])
        .map(|(_, problem)| problem)
        .collect();
    let stranger = |path: String, name: &str| {
        (!org_accounts.iter().any(|a| a.eq_ignore_ascii_case(name))).then(|| {
            Invalid::field(
                path,
                format!(
                    "{name:?} is not a Lacework account of this organization ({})",
                    org_accounts.join(", ")
                ),
            )
        })
    };
    match root.required_string("defaultLaceworkAccountAws") {
        Err(problem) => problems.push(problem),
        Ok("") => problems.push(Invalid::field(
            "$.defaultLaceworkAccountAws",
            "must not be empty",
        )),
        Ok(name) => problems.extend(stranger("$.defaultLaceworkAccountAws".to_string(), name)),
    }
    let mappings = match root.object("integration_mappings") {
        Ok(mappings) => mappings.fields(),
        Err(problem) => {
            problems.push(problem);
            return problems;
        }
    };
    // Names compare case-insensitively; an AWS account maps to exactly one Lacework account.
    let mut seen_names: BTreeMap<String, String> = BTreeMap::new();
    let mut owner_of: BTreeMap<String, String> = BTreeMap::new();
    for (name, entry) in mappings {
        let path = format!("$.integration_mappings[{name:?}]");
        if let Some(earlier) = seen_names.insert(name.to_ascii_lowercase(), name.clone()) {
            problems.push(Invalid::field(
                &path,
                format!("the same Lacework account as {earlier:?} (names are case-insensitive)"),
            ));
        }
        problems.extend(stranger(path.clone(), name));
        let entry = match Object::new(path, entry) {
            Ok(entry) => entry,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        problems.extend(entry.unknown(&["aws_accounts"]).map(|(_, problem)| problem));
        let accounts = match entry.required_array("aws_accounts") {
            Ok(accounts) => accounts,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        for (index, account) in accounts.iter().enumerate() {
            let item = format!("{}[{index}]", entry.path("aws_accounts"));
            match aws_account_id(&item, account) {
                Ok(id) => {
                    if let Some(owner) = owner_of.insert(id.to_string(), name.clone()) {
                        problems.push(Invalid::field(
                            item,
                            format!("AWS account {id} is already mapped to {owner:?}; an AWS account maps to exactly one Lacework account"),
                        ));
                    }
                }
                Err(problem) => problems.push(problem),
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn accounts() -> Vec<String> {
        vec!["acme".into(), "prod".into(), "dev".into()]
    }

    fn encode(value: &Value) -> String {
        let text = serde_json::to_string(value).unwrap();
        format!(
            "{DATA_URI_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(text)
        )
    }

    #[test]
    fn a_good_file_decodes() {
        let mapping = json!({
            "defaultLaceworkAccountAws": "acme",
            "integration_mappings": {"PROD": {"aws_accounts": ["123456789012"]}, "dev": {"aws_accounts": []}}
        });
        assert_eq!(
            decode_and_validate(&encode(&mapping), &accounts()),
            Ok(mapping)
        );
    }

    #[test]
    fn the_envelope_is_checked() {
        assert!(
            decode_and_validate("data:application/json;base64,e30=", &accounts())
                .unwrap_err()
                .to_string()
                .contains("must start with")
        );
        assert!(
            decode_and_validate(&format!("{DATA_URI_PREFIX}%%%"), &accounts())
                .unwrap_err()
                .to_string()
                .contains("base64")
        );
        let not_json = base64::engine::general_purpose::STANDARD.encode("nope");
        assert!(
            decode_and_validate(&format!("{DATA_URI_PREFIX}{not_json}"), &accounts())
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mapping = json!({
            "defaultLaceworkAccountAws": "nobody",
            "integration_mappings": {
                "prod": {"aws_accounts": ["123456789012", "12345", 7]},
                "Prod": {"aws_accounts": ["123456789012"]},
                "ghost": {"aws_accounts": [], "extra": true}
            },
            "more": 1
        });
        let found: Vec<String> = problems(&mapping, &accounts())
            .iter()
            .map(ToString::to_string)
            .collect();
        let expected_paths = [
            "$.more",
            "$.defaultLaceworkAccountAws",
            "$.integration_mappings[\"prod\"].aws_accounts[1]",
            "$.integration_mappings[\"prod\"].aws_accounts[2]",
            "$.integration_mappings[\"ghost\"]: \"ghost\" is not",
            "$.integration_mappings[\"ghost\"].extra",
        ];
        for path in expected_paths {
            assert!(
                found.iter().any(|p| p.starts_with(path)),
                "{path} missing in {found:#?}"
            );
        }
        assert!(
            found.iter().any(|p| p.contains("case-insensitive")),
            "{found:#?}"
        );
        assert!(
            found.iter().any(|p| p.contains("exactly one")),
            "{found:#?}"
        );
    }

    #[test]
    fn required_fields() {
        let found = problems(&json!({}), &accounts());
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            problems(&json!([]), &accounts())[0]
                .to_string()
                .starts_with("$: must be a JSON object")
        );
    }
}
