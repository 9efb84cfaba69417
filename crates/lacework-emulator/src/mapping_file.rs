//! The organization's account mapping file (seed 001) as it travels in
//! `data.accountMappingFile`: `data:application/json;name=i.json;base64,<base64 of JSON>`.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

use crate::validate::{is_aws_account_id, kind_of};

/// The exact data-URI prefix Lacework's SDKs write.
pub const DATA_URI_PREFIX: &str = "data:application/json;name=i.json;base64,";

/// Decodes the data URI and validates the mapping; returns the decoded JSON.
///
/// Every problem found is reported (joined with "; "), each with its JSON path inside the
/// decoded file. `org_accounts` are the organization's Lacework accounts in lower case.
pub fn decode_and_validate(uri: &str, org_accounts: &[String]) -> Result<Value, String> {
    let encoded = uri.strip_prefix(DATA_URI_PREFIX).ok_or_else(|| {
        format!("must start with {DATA_URI_PREFIX:?} followed by standard base64 of the JSON file")
    })?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|error| format!("the part after \"base64,\" is not standard base64: {error}"))?;
    let mapping: Value = serde_json::from_slice(&bytes)
        .map_err(|error| format!("the decoded file is not JSON: {error}"))?;
    let problems = problems(&mapping, org_accounts);
    if problems.is_empty() {
        Ok(mapping)
    } else {
        Err(format!("invalid mapping file: {}", problems.join("; ")))
    }
}

/// Every problem of a decoded mapping file, each starting with its JSON path.
pub fn problems(mapping: &Value, org_accounts: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(object) = mapping.as_object() else {
        problems.push(format!(
            "$: must be a JSON object, got {}",
            kind_of(mapping)
        ));
        return problems;
    };
    for key in object.keys() {
        if key != "defaultLaceworkAccountAws" && key != "integration_mappings" {
            problems.push(format!(
                "$.{key}: unknown field (allowed: defaultLaceworkAccountAws, integration_mappings)"
            ));
        }
    }
    let known = |name: &str| org_accounts.iter().any(|a| a.eq_ignore_ascii_case(name));
    match object.get("defaultLaceworkAccountAws") {
        None => problems.push("$.defaultLaceworkAccountAws: required field is missing".to_string()),
        Some(Value::String(name)) if name.is_empty() => {
            problems.push("$.defaultLaceworkAccountAws: must not be empty".to_string());
        }
        Some(Value::String(name)) if !known(name) => problems.push(format!(
            "$.defaultLaceworkAccountAws: {name:?} is not a Lacework account of this organization ({})",
            org_accounts.join(", ")
        )),
        Some(Value::String(_)) => {}
        Some(other) => problems.push(format!(
            "$.defaultLaceworkAccountAws: must be a string, got {}",
            kind_of(other)
        )),
    }
    let mappings = match object.get("integration_mappings") {
        None => {
            problems.push("$.integration_mappings: required field is missing".to_string());
            return problems;
        }
        Some(Value::Object(mappings)) => mappings,
        Some(other) => {
            problems.push(format!(
                "$.integration_mappings: must be an object, got {}",
                kind_of(other)
            ));
            return problems;
        }
    };
    // Names compare case-insensitively; an AWS account maps to exactly one Lacework account.
    let mut seen_names: BTreeMap<String, String> = BTreeMap::new();
    let mut owner_of: BTreeMap<String, String> = BTreeMap::new();
    for (name, entry) in mappings {
        let path = format!("$.integration_mappings[{name:?}]");
        if let Some(earlier) = seen_names.insert(name.to_ascii_lowercase(), name.clone()) {
            problems.push(format!(
                "{path}: the same Lacework account as {earlier:?} (names are case-insensitive)"
            ));
        }
        if !known(name) {
            problems.push(format!(
                "{path}: {name:?} is not a Lacework account of this organization ({})",
                org_accounts.join(", ")
            ));
        }
        let Some(entry) = entry.as_object() else {
            problems.push(format!("{path}: must be an object, got {}", kind_of(entry)));
            continue;
        };
        for key in entry.keys() {
            if key != "aws_accounts" {
                problems.push(format!(
                    "{path}.{key}: unknown field (allowed: aws_accounts)"
                ));
            }
        }
        let accounts = match entry.get("aws_accounts") {
            None => {
                problems.push(format!("{path}.aws_accounts: required field is missing"));
                continue;
            }
            Some(Value::Array(accounts)) => accounts,
            Some(other) => {
                problems.push(format!(
                    "{path}.aws_accounts: must be an array, got {}",
                    kind_of(other)
                ));
                continue;
            }
        };
        for (index, account) in accounts.iter().enumerate() {
            let item = format!("{path}.aws_accounts[{index}]");
            match account {
                Value::String(id) if is_aws_account_id(id) => {
                    if let Some(owner) = owner_of.insert(id.clone(), name.clone()) {
                        problems.push(format!(
                            "{item}: AWS account {id} is already mapped to {owner:?}; an AWS account maps to exactly one Lacework account"
                        ));
                    }
                }
                Value::String(id) => problems.push(format!(
                    "{item}: must be a 12-digit AWS account id, got {id:?}"
                )),
                other => problems.push(format!(
                    "{item}: must be a string of 12 digits, got {}",
                    kind_of(other)
                )),
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
                .contains("must start with")
        );
        assert!(
            decode_and_validate(&format!("{DATA_URI_PREFIX}%%%"), &accounts())
                .unwrap_err()
                .contains("base64")
        );
        let not_json = base64::engine::general_purpose::STANDARD.encode("nope");
        assert!(
            decode_and_validate(&format!("{DATA_URI_PREFIX}{not_json}"), &accounts())
                .unwrap_err()
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
        let found = problems(&mapping, &accounts());
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
        assert!(problems(&json!([]), &accounts())[0].starts_with("$: must be a JSON object"));
    }
}
