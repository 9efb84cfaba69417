//! Strict validation of CloudAccounts request bodies (pure; no state).
//!
//! Every problem becomes a 400 whose message starts with the JSON path of the bad field.
//! External ids are secrets: their values never appear in a message.

use serde_json::{Map, Value};

use crate::mapping_file;

/// Every cloud account type the real API knows (from Lacework's Go SDK); `GET
/// /CloudAccounts/{Type}` accepts these, `POST` only the two this product uses.
pub const KNOWN_TYPES: &[&str] = &[
    "AwsCfg",
    "AwsCtSqs",
    "AwsEksAudit",
    "AwsSidekick",
    "AwsSidekickOrg",
    "AwsUsGovCfg",
    "AwsUsGovCtSqs",
    "AzureAdAl",
    "AzureAlSeq",
    "AzureCfg",
    "AzureSidekick",
    "GcpAlPubSub",
    "GcpAtSes",
    "GcpCfg",
    "GcpGkeAudit",
    "GcpSidekick",
    "OciCfg",
];

/// The cloud account types the emulator can store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationType {
    /// AWS Config (one AWS account's configuration).
    AwsCfg,
    /// CloudTrail through an SQS queue.
    AwsCtSqs,
}

impl IntegrationType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationType::AwsCfg => "AwsCfg",
            IntegrationType::AwsCtSqs => "AwsCtSqs",
        }
    }

    fn parse(path: &str, value: &str) -> Result<Self, String> {
        match value {
            "AwsCfg" => Ok(IntegrationType::AwsCfg),
            "AwsCtSqs" => Ok(IntegrationType::AwsCtSqs),
            other if KNOWN_TYPES.contains(&other) => Err(format!(
                "{path}: type {other:?} is a Lacework type this emulator does not store (only AwsCfg and AwsCtSqs)"
            )),
            other => Err(format!(
                "{path}: unknown cloud account type {other:?} (known: {})",
                KNOWN_TYPES.join(", ")
            )),
        }
    }
}

/// Where a request acts: facts the validation needs about its scope.
pub struct Level<'a> {
    /// `Org-Access: true`.
    pub org: bool,
    /// Every Lacework account of the organization (lower case), for mapping files.
    pub org_accounts: &'a [String],
}

/// A request body that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidIntegration {
    /// Integration name.
    pub name: String,
    /// Its type.
    pub kind: IntegrationType,
    /// 0 or 1.
    pub enabled: u8,
    /// The `data` object exactly as sent (it passed validation).
    pub data: Map<String, Value>,
    /// The AWS account the integration covers: `data.awsAccountId`, else the role ARN's account.
    pub aws_account: String,
    /// The decoded account mapping file, when one was sent.
    pub mapping: Option<Value>,
}

/// Validates a `POST /CloudAccounts` body.
pub fn validate_create(body: &Value, level: &Level<'_>) -> Result<ValidIntegration, String> {
    let object = body
        .as_object()
        .ok_or_else(|| format!("$: the body must be a JSON object, got {}", kind_of(body)))?;
    check_top_level_fields(object, &["name", "type", "enabled", "data"])?;
    let name = required_name(object)?;
    let kind = match object.get("type") {
        None => return Err("$.type: required field is missing".to_string()),
        Some(Value::String(text)) => IntegrationType::parse("$.type", text)?,
        Some(other) => return Err(format!("$.type: must be a string, got {}", kind_of(other))),
    };
    let enabled = match object.get("enabled") {
        None => return Err("$.enabled: required field is missing (0 or 1)".to_string()),
        Some(value) => parse_enabled(value)?,
    };
    let data = match object.get("data") {
        None => return Err("$.data: required field is missing".to_string()),
        Some(Value::Object(data)) => data.clone(),
        Some(other) => return Err(format!("$.data: must be an object, got {}", kind_of(other))),
    };
    let checked = validate_data(kind, &data, level)?;
    Ok(ValidIntegration {
        name,
        kind,
        enabled,
        data,
        aws_account: checked.aws_account,
        mapping: checked.mapping,
    })
}

/// Validates a `PATCH /CloudAccounts/{intgGuid}` body against the stored integration and
/// returns the merged result: `name` and `enabled` replace, `data` is merged as a JSON merge
/// patch (RFC 7396: objects merge, `null` removes a key, anything else replaces), and the
/// merged integration is validated as a create would be.
pub fn validate_update(
    body: &Value,
    guid: &str,
    current: &ValidIntegration,
    level: &Level<'_>,
) -> Result<ValidIntegration, String> {
    let object = body
        .as_object()
        .ok_or_else(|| format!("$: the body must be a JSON object, got {}", kind_of(body)))?;
    check_top_level_fields(object, &["intgGuid", "name", "type", "enabled", "data"])?;
    if let Some(sent) = object.get("intgGuid") {
        if sent.as_str() != Some(guid) {
            return Err(format!(
                "$.intgGuid: must equal the intgGuid in the path ({guid:?}) when present, got {sent}"
            ));
        }
    }
    let name = if object.contains_key("name") {
        required_name(object)?
    } else {
        current.name.clone()
    };
    if let Some(sent) = object.get("type") {
        if sent.as_str() != Some(current.kind.as_str()) {
            return Err(format!(
                "$.type: the type of an integration cannot change (it is {:?}), got {sent}",
                current.kind.as_str()
            ));
        }
    }
    let enabled = match object.get("enabled") {
        None => current.enabled,
        Some(value) => parse_enabled(value)?,
    };
    let mut merged = Value::Object(current.data.clone());
    match object.get("data") {
        None => {}
        Some(patch @ Value::Object(_)) => merge_patch(&mut merged, patch),
        Some(other) => return Err(format!("$.data: must be an object, got {}", kind_of(other))),
    }
    let data = match merged {
        Value::Object(data) => data,
        _ => return Err("$.data: must be an object".to_string()),
    };
    let checked = validate_data(current.kind, &data, level)?;
    Ok(ValidIntegration {
        name,
        kind: current.kind,
        enabled,
        data,
        aws_account: checked.aws_account,
        mapping: checked.mapping,
    })
}

fn check_top_level_fields(object: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    const READ_ONLY: &[&str] = &[
        "intgGuid",
        "isOrg",
        "state",
        "createdOrUpdatedTime",
        "createdOrUpdatedBy",
    ];
    for key in object.keys() {
        if allowed.contains(&key.as_str()) {
            continue;
        }
        if READ_ONLY.contains(&key.as_str()) {
            return Err(format!("$.{key}: read-only field; do not send it"));
        }
        return Err(format!(
            "$.{key}: unknown field (allowed: {})",
            allowed.join(", ")
        ));
    }
    Ok(())
}

fn required_name(object: &Map<String, Value>) -> Result<String, String> {
    match object.get("name") {
        None => Err("$.name: required field is missing".to_string()),
        Some(Value::String(name)) if name.trim().is_empty() => {
            Err("$.name: must not be empty".to_string())
        }
        Some(Value::String(name)) if name.chars().count() > 256 => {
            Err("$.name: longer than 256 characters".to_string())
        }
        Some(Value::String(name)) => Ok(name.clone()),
        Some(other) => Err(format!("$.name: must be a string, got {}", kind_of(other))),
    }
}

fn parse_enabled(value: &Value) -> Result<u8, String> {
    match value.as_u64() {
        Some(0) => Ok(0),
        Some(1) => Ok(1),
        _ => Err(format!("$.enabled: must be the number 0 or 1, got {value}")),
    }
}

struct CheckedData {
    aws_account: String,
    mapping: Option<Value>,
}

fn validate_data(
    kind: IntegrationType,
    data: &Map<String, Value>,
    level: &Level<'_>,
) -> Result<CheckedData, String> {
    let allowed: &[&str] = match kind {
        IntegrationType::AwsCfg => &["crossAccountCredentials", "awsAccountId"],
        IntegrationType::AwsCtSqs => &[
            "crossAccountCredentials",
            "queueUrl",
            "awsAccountId",
            "accountMappingFile",
        ],
    };
    for key in data.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(format!(
                "$.data.{key}: unknown field for {} (allowed: {})",
                kind.as_str(),
                allowed.join(", ")
            ));
        }
    }
    let role_account = match data.get("crossAccountCredentials") {
        None => {
            return Err("$.data.crossAccountCredentials: required field is missing".to_string());
        }
        Some(Value::Object(credentials)) => validate_credentials(credentials)?,
        Some(other) => {
            return Err(format!(
                "$.data.crossAccountCredentials: must be an object, got {}",
                kind_of(other)
            ));
        }
    };
    let aws_account_id = match data.get("awsAccountId") {
        None => None,
        Some(Value::String(id)) if is_aws_account_id(id) => Some(id.clone()),
        Some(Value::String(id)) => {
            return Err(format!(
                "$.data.awsAccountId: must be a 12-digit AWS account id, got {id:?}"
            ));
        }
        Some(other) => {
            return Err(format!(
                "$.data.awsAccountId: must be a string of 12 digits, got {}",
                kind_of(other)
            ));
        }
    };
    if kind == IntegrationType::AwsCfg {
        if let Some(id) = &aws_account_id {
            if *id != role_account {
                return Err(format!(
                    "$.data.awsAccountId: {id:?} differs from the account of crossAccountCredentials.roleArn ({role_account:?}); an AwsCfg role lives in the account it reads"
                ));
            }
        }
    }
    if kind == IntegrationType::AwsCtSqs {
        match data.get("queueUrl") {
            None => return Err("$.data.queueUrl: required field is missing".to_string()),
            Some(Value::String(url)) => check_queue_url(url)?,
            Some(other) => {
                return Err(format!(
                    "$.data.queueUrl: must be a string, got {}",
                    kind_of(other)
                ));
            }
        }
    }
    let mapping = match data.get("accountMappingFile") {
        None => None,
        Some(_) if !level.org => {
            return Err("$.data.accountMappingFile: AccountMappingFile or AccountMapping is for Org Level Cloud trail Integration only. (send Org-Access: true)".to_string());
        }
        Some(Value::String(uri)) => Some(
            mapping_file::decode_and_validate(uri, level.org_accounts)
                .map_err(|problem| format!("$.data.accountMappingFile: {problem}"))?,
        ),
        Some(other) => {
            return Err(format!(
                "$.data.accountMappingFile: must be a string, got {}",
                kind_of(other)
            ));
        }
    };
    Ok(CheckedData {
        aws_account: aws_account_id.unwrap_or(role_account),
        mapping,
    })
}

/// Checks `crossAccountCredentials` and returns the role's AWS account.
fn validate_credentials(credentials: &Map<String, Value>) -> Result<String, String> {
    for key in credentials.keys() {
        if key != "roleArn" && key != "externalId" {
            return Err(format!(
                "$.data.crossAccountCredentials.{key}: unknown field (allowed: roleArn, externalId)"
            ));
        }
    }
    let account = match credentials.get("roleArn") {
        None => {
            return Err(
                "$.data.crossAccountCredentials.roleArn: required field is missing".to_string(),
            );
        }
        Some(Value::String(arn)) => role_arn_account(arn).ok_or_else(|| {
            format!(
                "$.data.crossAccountCredentials.roleArn: must be an IAM role ARN (arn:<aws|aws-us-gov|aws-cn>:iam::<12-digit account>:role/<name>), got {arn:?}"
            )
        })?,
        Some(other) => {
            return Err(format!(
                "$.data.crossAccountCredentials.roleArn: must be a string, got {}",
                kind_of(other)
            ));
        }
    };
    match credentials.get("externalId") {
        None => {
            Err("$.data.crossAccountCredentials.externalId: required field is missing".to_string())
        }
        Some(Value::String(id)) => {
            check_external_id(id)?;
            Ok(account)
        }
        Some(other) => Err(format!(
            "$.data.crossAccountCredentials.externalId: must be a string, got {}",
            kind_of(other)
        )),
    }
}

/// AWS's own rule for `sts:ExternalId`: 2 to 1224 characters of `[\w+=,.@:/-]`.
/// The value is a secret and is never echoed.
fn check_external_id(id: &str) -> Result<(), String> {
    const PATH: &str = "$.data.crossAccountCredentials.externalId";
    if id.is_empty() {
        return Err(format!("{PATH}: must not be empty"));
    }
    let length = id.chars().count();
    if !(2..=1224).contains(&length) {
        return Err(format!(
            "{PATH}: must be 2 to 1224 characters long (AWS's limit), got {length}"
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(*c)))
    {
        return Err(format!(
            "{PATH}: contains a character AWS does not allow in an external id ({bad:?})"
        ));
    }
    Ok(())
}

/// Whether `text` is exactly 12 ASCII digits.
pub fn is_aws_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The AWS account of an IAM role ARN, or `None` when `arn` is not one.
pub fn role_arn_account(arn: &str) -> Option<String> {
    let mut parts = arn.splitn(6, ':');
    let (prefix, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let partition_ok = matches!(partition, "aws" | "aws-us-gov" | "aws-cn");
    if prefix != "arn" || !partition_ok || service != "iam" || !region.is_empty() {
        return None;
    }
    if !is_aws_account_id(account) {
        return None;
    }
    let role_path_and_name = resource.strip_prefix("role/")?;
    let name = role_path_and_name.rsplit('/').next()?;
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    let path_ok = role_path_and_name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
    (name_ok && path_ok).then(|| account.to_string())
}

/// An SQS queue URL: `https://sqs.<region>.amazonaws.com[.cn]/<12 digits>/<queue>`, the legacy
/// `https://<region>.queue.amazonaws.com/...`, or - for the local landing zone, where moto
/// plays AWS - `http(s)://localhost|127.0.0.1[:port]/<12 digits>/<queue>`.
fn check_queue_url(url: &str) -> Result<(), String> {
    let problem = || {
        format!(
            "$.data.queueUrl: must be an SQS queue URL (https://sqs.<region>.amazonaws.com/<12-digit account>/<queue name>), got {url:?}"
        )
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(problem)?;
    let mut parts = rest.split('/');
    let host = parts.next().ok_or_else(problem)?;
    let account = parts.next().ok_or_else(problem)?;
    let queue = parts.next().ok_or_else(problem)?;
    if parts.next().is_some() || !is_aws_account_id(account) || !is_queue_name(queue) {
        return Err(problem());
    }
    let host_without_port = host.split(':').next().unwrap_or(host);
    let loopback = matches!(host_without_port, "localhost" | "127.0.0.1");
    if loopback {
        return if scheme == "http" || scheme == "https" {
            Ok(())
        } else {
            Err(problem())
        };
    }
    if scheme != "https" || host.contains(':') {
        return Err(problem());
    }
    let region = host
        .strip_prefix("sqs.")
        .and_then(|h| {
            h.strip_suffix(".amazonaws.com")
                .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
        })
        .or_else(|| host.strip_suffix(".queue.amazonaws.com"));
    match region {
        Some(region) if is_region(region) => Ok(()),
        _ => Err(problem()),
    }
}

fn is_queue_name(name: &str) -> bool {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    !base.is_empty()
        && name.len() <= 80
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `us-east-1`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-3`, ...
fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

/// RFC 7396 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target_fields) = target {
        for (key, value) in patch_fields {
            if value.is_null() {
                target_fields.remove(key);
            } else {
                merge_patch(
                    target_fields.entry(key.clone()).or_insert(Value::Null),
                    value,
                );
            }
        }
    }
}

/// A short name for a JSON value's kind, for messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ACCOUNTS: &[String] = &[];

    fn account_level() -> Level<'static> {
        Level {
            org: false,
            org_accounts: ACCOUNTS,
        }
    }

    fn cfg(data: Value) -> Value {
        json!({"name": "n", "type": "AwsCfg", "enabled": 1, "data": data})
    }

    fn good_cfg_data() -> Value {
        json!({
            "crossAccountCredentials": {
                "roleArn": "arn:aws:iam::123456789012:role/lacework-role",
                "externalId": "lweid:aws:v2:acme:123456789012:AbC12"
            },
            "awsAccountId": "123456789012"
        })
    }

    #[test]
    fn accepts_a_good_aws_cfg() {
        let valid = validate_create(&cfg(good_cfg_data()), &account_level()).unwrap();
        assert_eq!(valid.kind, IntegrationType::AwsCfg);
        assert_eq!(valid.aws_account, "123456789012");
        assert_eq!(valid.enabled, 1);
    }

    #[test]
    fn the_aws_account_comes_from_the_role_when_not_given() {
        let mut data = good_cfg_data();
        data.as_object_mut().unwrap().remove("awsAccountId");
        let valid = validate_create(&cfg(data), &account_level()).unwrap();
        assert_eq!(valid.aws_account, "123456789012");
    }

    #[test]
    fn role_arns() {
        assert_eq!(
            role_arn_account("arn:aws-us-gov:iam::123456789012:role/path/x.y@z").as_deref(),
            Some("123456789012")
        );
        for bad in [
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:iam::12345678901:role/x",
            "arn:aws:iam:us-east-1:123456789012:role/x",
            "arn:aws:sts::123456789012:role/x",
            "arn:azure:iam::123456789012:role/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/bad name",
            "arn:foo:bar",
            "",
        ] {
            assert_eq!(role_arn_account(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (
                json!({"type": "AwsCfg", "enabled": 1, "data": good_cfg_data()}),
                "$.name",
            ),
            (
                json!({"name": "n", "enabled": 1, "data": good_cfg_data()}),
                "$.type",
            ),
            (
                json!({"name": "n", "type": "AwsCfg", "data": good_cfg_data()}),
                "$.enabled",
            ),
            (
                json!({"name": "n", "type": "AwsCfg", "enabled": 1}),
                "$.data",
            ),
            (
                json!({"name": "n", "type": "Nope", "enabled": 1, "data": {}}),
                "$.type",
            ),
            (
                json!({"name": "n", "type": "GcpCfg", "enabled": 1, "data": {}}),
                "$.type",
            ),
            (
                json!({"name": "n", "type": "AwsCfg", "enabled": 2, "data": good_cfg_data()}),
                "$.enabled",
            ),
            (
                json!({"name": "n", "type": "AwsCfg", "enabled": true, "data": good_cfg_data()}),
                "$.enabled",
            ),
            (
                json!({"name": "n", "type": "AwsCfg", "enabled": 1, "isOrg": 0, "data": good_cfg_data()}),
                "$.isOrg",
            ),
            (
                json!({"name": "n", "type": "AwsCfg", "enabled": 1, "extra": 0, "data": good_cfg_data()}),
                "$.extra",
            ),
            (
                json!({"name": "", "type": "AwsCfg", "enabled": 1, "data": good_cfg_data()}),
                "$.name",
            ),
        ];
        for (body, path) in cases {
            let message = validate_create(&body, &account_level()).unwrap_err();
            assert!(
                message.starts_with(path),
                "{message} should start with {path}"
            );
        }
    }

    #[test]
    fn bad_data_fields_are_named() {
        let role = "arn:aws:iam::123456789012:role/r";
        let cases = [
            (
                json!({"crossAccountCredentials": {"roleArn": "arn:aws:iam::123456789012:user/u", "externalId": "abc"}}),
                "$.data.crossAccountCredentials.roleArn",
            ),
            (
                json!({"crossAccountCredentials": {"roleArn": role, "externalId": ""}}),
                "$.data.crossAccountCredentials.externalId",
            ),
            (
                json!({"crossAccountCredentials": {"roleArn": role}}),
                "$.data.crossAccountCredentials.externalId",
            ),
            (
                json!({"crossAccountCredentials": {"roleArn": role, "externalId": "a b"}}),
                "$.data.crossAccountCredentials.externalId",
            ),
            (
                json!({"crossAccountCredentials": {"roleArn": role, "externalId": "ab", "x": 1}}),
                "$.data.crossAccountCredentials.x",
            ),
            (
                json!({"crossAccountCredentials": {"roleArn": role, "externalId": "ab"}, "awsAccountId": "1234"}),
                "$.data.awsAccountId",
            ),
            (
                json!({"crossAccountCredentials": {"roleArn": role, "externalId": "ab"}, "awsAccountId": "210987654321"}),
                "$.data.awsAccountId",
            ),
            (
                json!({"crossAccountCredentials": {"roleArn": role, "externalId": "ab"}, "queueUrl": "x"}),
                "$.data.queueUrl",
            ),
            (json!({}), "$.data.crossAccountCredentials"),
        ];
        for (data, path) in cases {
            let message = validate_create(&cfg(data), &account_level()).unwrap_err();
            assert!(
                message.starts_with(path),
                "{message} should start with {path}"
            );
        }
    }

    #[test]
    fn external_ids_are_never_echoed() {
        let secret = "lweid:aws:v2:acme:123456789012:s3cr3t value";
        let data = json!({"crossAccountCredentials": {"roleArn": "arn:aws:iam::123456789012:role/r", "externalId": secret}});
        let message = validate_create(&cfg(data), &account_level()).unwrap_err();
        assert!(!message.contains("s3cr3t"), "{message}");
    }

    #[test]
    fn queue_urls() {
        for good in [
            "https://sqs.us-east-1.amazonaws.com/123456789012/lacework-ct",
            "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q.fifo",
            "https://us-west-2.queue.amazonaws.com/123456789012/q_1",
            "http://localhost:5000/123456789012/q",
            "http://127.0.0.1:5000/123456789012/q",
        ] {
            assert_eq!(check_queue_url(good), Ok(()), "{good}");
        }
        for bad in [
            "http://sqs.us-east-1.amazonaws.com/123456789012/q",
            "https://sqs.us-east-1.amazonaws.com/12345/q",
            "https://sqs.us-east-1.amazonaws.com/123456789012/",
            "https://sqs.us-east-1.amazonaws.com/123456789012/q/extra",
            "https://sqs.nowhere.amazonaws.com/123456789012/q",
            "https://example.com/123456789012/q",
            "https://sqs.us-east-1.amazonaws.com/123456789012/bad name",
            "ftp://localhost/123456789012/q",
            "sqs",
        ] {
            assert!(check_queue_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mapping_files_are_refused_at_account_level() {
        let body = json!({"name": "ct", "type": "AwsCtSqs", "enabled": 1, "data": {
            "crossAccountCredentials": {"roleArn": "arn:aws:iam::123456789012:role/r", "externalId": "ab"},
            "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
            "accountMappingFile": "data:application/json;name=i.json;base64,e30="
        }});
        let message = validate_create(&body, &account_level()).unwrap_err();
        assert!(
            message.starts_with("$.data.accountMappingFile"),
            "{message}"
        );
        assert!(message.contains("Org Level"), "{message}");
    }

    #[test]
    fn updates_merge_and_revalidate() {
        let current = validate_create(&cfg(good_cfg_data()), &account_level()).unwrap();
        let patch =
            json!({"enabled": 0, "data": {"crossAccountCredentials": {"externalId": "new-id"}}});
        let updated = validate_update(&patch, "G", &current, &account_level()).unwrap();
        assert_eq!(updated.enabled, 0);
        assert_eq!(updated.name, "n");
        assert_eq!(
            updated.data["crossAccountCredentials"],
            json!({"roleArn": "arn:aws:iam::123456789012:role/lacework-role", "externalId": "new-id"})
        );
        let removes = json!({"data": {"awsAccountId": null}});
        let updated = validate_update(&removes, "G", &current, &account_level()).unwrap();
        assert!(!updated.data.contains_key("awsAccountId"));
        let wrong_type = json!({"type": "AwsCtSqs"});
        assert!(
            validate_update(&wrong_type, "G", &current, &account_level())
                .unwrap_err()
                .starts_with("$.type")
        );
        let wrong_guid = json!({"intgGuid": "OTHER"});
        assert!(
            validate_update(&wrong_guid, "G", &current, &account_level())
                .unwrap_err()
                .starts_with("$.intgGuid")
        );
        let breaks_role = json!({"data": {"crossAccountCredentials": {"roleArn": "nope"}}});
        assert!(
            validate_update(&breaks_role, "G", &current, &account_level())
                .unwrap_err()
                .starts_with("$.data.crossAccountCredentials.roleArn")
        );
    }
}
