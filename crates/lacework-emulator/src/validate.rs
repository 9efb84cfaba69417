//! Strict validation of CloudAccounts request bodies (pure; no state), and the reading of
//! JSON bodies that every endpoint shares.
//!
//! Every problem becomes a 400 whose message starts with the JSON path of the bad field.
//! External ids are secrets: their values never appear in a message.

use std::ops::RangeInclusive;

use serde_json::{Map, Value, json};

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

/// Why a request body was refused (the emulator answers 400 with it): the JSON path of the
/// bad field, then what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct Invalid {
    path: String,
    problem: String,
}

impl Invalid {
    /// What is wrong with the field at `path`.
    pub fn field(path: impl Into<String>, problem: impl Into<String>) -> Invalid {
        Invalid {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// The field at `path` holds `got` (shown as [`shown`] shows it), which is not `expected`
    /// ("a string", ...).
    pub fn kind(path: impl Into<String>, expected: &str, got: &Value) -> Invalid {
        Invalid::field(path, format!("must be {expected}, got {}", shown(got)))
    }

    /// A required field was not sent.
    fn missing(path: String) -> Invalid {
        Invalid::field(path, "required field is missing")
    }
}

/// A JSON object of a request body and its path, read so that every problem names its field.
pub struct Object<'a> {
    path: String,
    fields: &'a Map<String, Value>,
}

impl<'a> Object<'a> {
    /// A request body, which must be a JSON object.
    pub fn body(value: &'a Value) -> Result<Self, Invalid> {
        Object::new("$".to_string(), value)
    }

    /// `value`, at `path`, which must be an object.
    pub fn new(path: String, value: &'a Value) -> Result<Self, Invalid> {
        match value {
            Value::Object(fields) => Ok(Object { path, fields }),
            other => Err(Invalid::kind(path, "a JSON object", other)),
        }
    }

    /// The fields as sent.
    pub fn fields(&self) -> &'a Map<String, Value> {
        self.fields
    }

    /// The path of the field `name`.
    pub fn path(&self, name: &str) -> String {
        format!("{}.{name}", self.path)
    }

    /// The field `name`, if it was sent.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.fields.get(name)
    }

    /// The field `name`, which must have been sent.
    pub fn required(&self, name: &str) -> Result<&'a Value, Invalid> {
        self.get(name)
            .ok_or_else(|| Invalid::missing(self.path(name)))
    }

    /// The fields not in `allowed`, each with its problem.
    pub fn unknown(
        &self,
        allowed: &'static [&'static str],
    ) -> impl Iterator<Item = (&'a str, Invalid)> + '_ {
        let fields: &'a Map<String, Value> = self.fields;
        fields
            .keys()
            .filter(|key| !allowed.contains(&key.as_str()))
            .map(move |key| {
                let problem = format!("unknown field (allowed: {})", allowed.join(", "));
                (key.as_str(), Invalid::field(self.path(key), problem))
            })
    }

    /// Refuses the first field not in `allowed`.
    pub fn only(&self, allowed: &'static [&'static str]) -> Result<(), Invalid> {
        self.unknown(allowed)
            .next()
            .map_or(Ok(()), |(_, problem)| Err(problem))
    }

    /// The field `name` if it was sent, which must be `expected` (what `read` takes it as).
    pub fn typed<T>(
        &self,
        name: &str,
        expected: &'static str,
        read: fn(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, Invalid> {
        self.get(name)
            .map(|value| read(value).ok_or_else(|| Invalid::kind(self.path(name), expected, value)))
            .transpose()
    }

    /// The field `name` if it was sent, which must be a string.
    pub fn string(&self, name: &str) -> Result<Option<&'a str>, Invalid> {
        self.typed(name, "a string", Value::as_str)
    }

    /// The field `name`, which must be a string.
    pub fn required_string(&self, name: &str) -> Result<&'a str, Invalid> {
        self.string(name)?
            .ok_or_else(|| Invalid::missing(self.path(name)))
    }

    /// The field `name` if it was sent, which must be an array.
    pub fn array(&self, name: &str) -> Result<Option<&'a Vec<Value>>, Invalid> {
        self.typed(name, "an array", Value::as_array)
    }

    /// The field `name`, which must be an array.
    pub fn required_array(&self, name: &str) -> Result<&'a Vec<Value>, Invalid> {
        self.array(name)?
            .ok_or_else(|| Invalid::missing(self.path(name)))
    }

    /// The field `name` if it was sent (and not null), which must be a whole number in `range`.
    pub fn whole_number(
        &self,
        name: &str,
        range: RangeInclusive<u64>,
    ) -> Result<Option<u64>, Invalid> {
        let Some(value) = self.get(name).filter(|value| !value.is_null()) else {
            return Ok(None);
        };
        let (low, high) = (range.start(), range.end());
        let problem = format!("must be a whole number from {low} to {high}, got {value}");
        match value.as_u64() {
            Some(number) if range.contains(&number) => Ok(Some(number)),
            _ => Err(Invalid::field(self.path(name), problem)),
        }
    }

    /// The field `name`, which must be an object.
    pub fn object(&self, name: &str) -> Result<Object<'a>, Invalid> {
        Object::new(self.path(name), self.required(name)?)
    }
}

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

    /// `$.type` of a create.
    fn parse(value: &str) -> Result<Self, Invalid> {
        match value {
            "AwsCfg" => Ok(IntegrationType::AwsCfg),
            "AwsCtSqs" => Ok(IntegrationType::AwsCtSqs),
            other if KNOWN_TYPES.contains(&other) => Err(Invalid::field(
                "$.type",
                format!(
                    "type {other:?} is a Lacework type this emulator does not store (only AwsCfg and AwsCtSqs)"
                ),
            )),
            other => Err(Invalid::field(
                "$.type",
                format!(
                    "unknown cloud account type {other:?} (known: {})",
                    KNOWN_TYPES.join(", ")
                ),
            )),
        }
    }
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

/// Validates a `POST /CloudAccounts` body. `org_accounts`: every Lacework account of the
/// organization (lower case) when the request acts at organization level (`Org-Access:
/// true`), the only level where a mapping file may be sent; `None` elsewhere.
pub fn validate_create(
    body: &Value,
    org_accounts: Option<&[String]>,
) -> Result<ValidIntegration, Invalid> {
    let body = Object::body(body)?;
    check_top_level_fields(&body, &["name", "type", "enabled", "data"])?;
    let name = required_name(&body)?;
    let kind = IntegrationType::parse(body.required_string("type")?)?;
    let enabled = parse_enabled(
        body.get("enabled")
            .ok_or_else(|| Invalid::field("$.enabled", "required field is missing (0 or 1)"))?,
    )?;
    // The data's rules depend on the type.
    let data = body.object("data")?;
    let allowed: &'static [&'static str] = match kind {
        IntegrationType::AwsCfg => &["crossAccountCredentials", "awsAccountId"],
        IntegrationType::AwsCtSqs => &[
            "crossAccountCredentials",
            "queueUrl",
            "awsAccountId",
            "accountMappingFile",
        ],
    };
    if let Some((key, _)) = data.unknown(allowed).next() {
        return Err(Invalid::field(
            data.path(key),
            format!(
                "unknown field for {} (allowed: {})",
                kind.as_str(),
                allowed.join(", ")
            ),
        ));
    }
    let role_account = validate_credentials(&data.object("crossAccountCredentials")?)?;
    let aws_account_id = data
        .get("awsAccountId")
        .map(|id| aws_account_id(&data.path("awsAccountId"), id))
        .transpose()?;
    if kind == IntegrationType::AwsCfg
        && let Some(id) = aws_account_id.filter(|id| *id != role_account)
    {
        return Err(Invalid::field(
            "$.data.awsAccountId",
            format!(
                "{id:?} differs from the account of crossAccountCredentials.roleArn ({role_account:?}); an AwsCfg role lives in the account it reads"
            ),
        ));
    }
    if kind == IntegrationType::AwsCtSqs {
        check_queue_url(data.required_string("queueUrl")?)?;
    }
    // Sent at account level, whatever its value, the file gets the real API's own refusal.
    let mapping = match (data.get("accountMappingFile"), org_accounts) {
        (None, _) => None,
        (Some(_), Some(accounts)) => data
            .string("accountMappingFile")?
            .map(|uri| mapping_file::decode_and_validate(uri, accounts))
            .transpose()?,
        (Some(_), None) => {
            return Err(Invalid::field(
                "$.data.accountMappingFile",
                "AccountMappingFile or AccountMapping is for Org Level Cloud trail Integration only. (send Org-Access: true)",
            ));
        }
    };
    Ok(ValidIntegration {
        name,
        kind,
        enabled,
        data: data.fields().clone(),
        aws_account: aws_account_id.unwrap_or(&role_account).to_string(),
        mapping,
    })
}

/// Validates a `PATCH /CloudAccounts/{intgGuid}` body against the stored integration: the
/// stored record is merged with the body as a JSON merge patch (RFC 7396: objects merge - so
/// `data` does -, `null` removes a key, anything else replaces - so `name` and `enabled` do)
/// and validated as a create (`org_accounts` as there). `intgGuid` and `type` may be sent
/// only as they are.
pub fn validate_update(
    body: &Value,
    guid: &str,
    current: &ValidIntegration,
    org_accounts: Option<&[String]>,
) -> Result<ValidIntegration, Invalid> {
    let patch = Object::body(body)?;
    check_top_level_fields(&patch, &["intgGuid", "name", "type", "enabled", "data"])?;
    if let Some(sent) = patch
        .get("intgGuid")
        .filter(|sent| sent.as_str() != Some(guid))
    {
        return Err(Invalid::field(
            "$.intgGuid",
            format!("must equal the intgGuid in the path ({guid:?}) when present, got {sent}"),
        ));
    }
    let kind = current.kind.as_str();
    if let Some(sent) = patch.get("type").filter(|sent| sent.as_str() != Some(kind)) {
        return Err(Invalid::field(
            "$.type",
            format!("the type of an integration cannot change (it is {kind:?}), got {sent}"),
        ));
    }
    let mut changes = patch.fields().clone();
    changes.remove("intgGuid");
    let mut record: Map<String, Value> = [
        ("name", json!(current.name)),
        ("type", json!(kind)),
        ("enabled", json!(current.enabled)),
        ("data", Value::Object(current.data.clone())),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value))
    .collect();
    merge_patch(&mut record, &changes);
    validate_create(&Value::Object(record), org_accounts)
}

fn check_top_level_fields(
    body: &Object<'_>,
    allowed: &'static [&'static str],
) -> Result<(), Invalid> {
    const READ_ONLY: &[&str] = &[
        "intgGuid",
        "isOrg",
        "state",
        "createdOrUpdatedTime",
        "createdOrUpdatedBy",
    ];
    match body.unknown(allowed).next() {
        Some((key, _)) if READ_ONLY.contains(&key) => Err(Invalid::field(
            body.path(key),
            "read-only field; do not send it",
        )),
        Some((_, problem)) => Err(problem),
        None => Ok(()),
    }
}

fn required_name(body: &Object<'_>) -> Result<String, Invalid> {
    let name = body.required_string("name")?;
    if name.trim().is_empty() {
        Err(Invalid::field("$.name", "must not be empty"))
    } else if name.chars().count() > 256 {
        Err(Invalid::field("$.name", "longer than 256 characters"))
    } else {
        Ok(name.to_string())
    }
}

fn parse_enabled(value: &Value) -> Result<u8, Invalid> {
    match value.as_u64() {
        Some(0) => Ok(0),
        Some(1) => Ok(1),
        _ => Err(Invalid::field(
            "$.enabled",
            format!("must be the number 0 or 1, got {value}"),
        )),
    }
}

/// Checks `crossAccountCredentials` and returns the role's AWS account.
fn validate_credentials(credentials: &Object<'_>) -> Result<String, Invalid> {
    credentials.only(&["roleArn", "externalId"])?;
    let arn = credentials.required_string("roleArn")?;
    let account = role_arn_account(arn).ok_or_else(|| {
        Invalid::field(
            credentials.path("roleArn"),
            format!("must be an IAM role ARN (arn:<aws|aws-us-gov|aws-cn>:iam::<12-digit account>:role/<name>), got {arn:?}"),
        )
    })?;
    check_external_id(credentials.required_string("externalId")?)?;
    Ok(account)
}

/// AWS's own rule for `sts:ExternalId`: 2 to 1224 characters of `[\w+=,.@:/-]`.
/// The value is a secret and is never echoed.
fn check_external_id(id: &str) -> Result<(), Invalid> {
    const PATH: &str = "$.data.crossAccountCredentials.externalId";
    if id.is_empty() {
        return Err(Invalid::field(PATH, "must not be empty"));
    }
    let length = id.chars().count();
    if !(2..=1224).contains(&length) {
        return Err(Invalid::field(
            PATH,
            format!("must be 2 to 1224 characters long (AWS's limit), got {length}"),
        ));
    }
    match id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(*c)))
    {
        Some(bad) => Err(Invalid::field(
            PATH,
            format!("contains a character AWS does not allow in an external id ({bad:?})"),
        )),
        None => Ok(()),
    }
}

/// Whether `text` is exactly 12 ASCII digits.
pub fn is_aws_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `value`, at `path`, which must be a 12-digit AWS account id.
pub fn aws_account_id<'a>(path: &str, value: &'a Value) -> Result<&'a str, Invalid> {
    match value.as_str() {
        Some(id) if is_aws_account_id(id) => Ok(id),
        Some(id) => Err(Invalid::field(
            path,
            format!("must be a 12-digit AWS account id, got {id:?}"),
        )),
        None => Err(Invalid::kind(path, "a string of 12 digits", value)),
    }
}

/// The AWS account of an IAM role ARN, or `None` when `arn` is not one.
pub fn role_arn_account(arn: &str) -> Option<String> {
    let [prefix, partition, service, region, account, resource] =
        arn.splitn(6, ':').collect::<Vec<_>>()[..]
    else {
        return None;
    };
    let partition_ok = matches!(partition, "aws" | "aws-us-gov" | "aws-cn");
    let account_ok = is_aws_account_id(account);
    if prefix != "arn" || !partition_ok || service != "iam" || !region.is_empty() || !account_ok {
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
fn check_queue_url(url: &str) -> Result<(), Invalid> {
    if is_queue_url(url) {
        return Ok(());
    }
    Err(Invalid::field(
        "$.data.queueUrl",
        format!(
            "must be an SQS queue URL (https://sqs.<region>.amazonaws.com/<12-digit account>/<queue name>), got {url:?}"
        ),
    ))
}

fn is_queue_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let [host, account, queue] = rest.split('/').collect::<Vec<_>>()[..] else {
        return false;
    };
    let (host_name, port) = host
        .split_once(':')
        .map_or((host, None), |(n, p)| (n, Some(p)));
    let host_ok = if matches!(host_name, "localhost" | "127.0.0.1") {
        matches!(scheme, "http" | "https")
    } else {
        let region = host
            .strip_prefix("sqs.")
            .and_then(|h| {
                h.strip_suffix(".amazonaws.com")
                    .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
            })
            .or_else(|| host.strip_suffix(".queue.amazonaws.com"));
        scheme == "https" && port.is_none() && region.is_some_and(is_region)
    };
    host_ok && is_aws_account_id(account) && is_queue_name(queue)
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

/// RFC 7396 JSON merge patch of one object into another: objects merge, `null` removes a
/// key, anything else replaces.
fn merge_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(fields) => {
                let inner = target.entry(key.clone()).or_insert(Value::Null);
                if !inner.is_object() {
                    *inner = Value::Object(Map::new());
                }
                if let Value::Object(inner) = inner {
                    merge_patch(inner, fields);
                }
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

/// A JSON value as messages show it: null and booleans as sent (they cannot hold a secret);
/// numbers, strings, arrays and objects only by their kind, as any of them may carry an
/// external id.
pub fn shown(value: &Value) -> String {
    let kind = match value {
        Value::Null | Value::Bool(_) => return value.to_string(),
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    kind.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A request at account level: no organization accounts for a mapping file.
    fn account_level() -> Option<&'static [String]> {
        None
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
        let valid = validate_create(&cfg(good_cfg_data()), account_level()).unwrap();
        assert_eq!(valid.kind, IntegrationType::AwsCfg);
        assert_eq!(valid.aws_account, "123456789012");
        assert_eq!(valid.enabled, 1);
    }

    #[test]
    fn the_aws_account_comes_from_the_role_when_not_given() {
        let mut data = good_cfg_data();
        data.as_object_mut().unwrap().remove("awsAccountId");
        let valid = validate_create(&cfg(data), account_level()).unwrap();
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
            let message = validate_create(&body, account_level())
                .unwrap_err()
                .to_string();
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
            let message = validate_create(&cfg(data), account_level())
                .unwrap_err()
                .to_string();
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
        let message = validate_create(&cfg(data), account_level())
            .unwrap_err()
            .to_string();
        assert!(!message.contains("s3cr3t"), "{message}");
        let number = json!({"crossAccountCredentials": {"roleArn": "arn:aws:iam::123456789012:role/r", "externalId": 987_654_321}});
        let message = validate_create(&cfg(number), account_level())
            .unwrap_err()
            .to_string();
        assert!(message.ends_with("got a number"), "{message}");
    }

    #[test]
    fn values_are_shown_only_where_they_cannot_be_secrets() {
        assert_eq!(shown(&json!(true)), "true");
        assert_eq!(shown(&json!(null)), "null");
        assert_eq!(shown(&json!(5)), "a number");
        assert_eq!(shown(&json!("secret")), "a string");
        assert_eq!(shown(&json!(["secret"])), "an array");
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
        // Whatever the file holds, even a value of the wrong type, the refusal is the same.
        for file in [
            json!("data:application/json;name=i.json;base64,e30="),
            json!(5),
        ] {
            let body = json!({"name": "ct", "type": "AwsCtSqs", "enabled": 1, "data": {
                "crossAccountCredentials": {"roleArn": "arn:aws:iam::123456789012:role/r", "externalId": "ab"},
                "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
                "accountMappingFile": file
            }});
            let message = validate_create(&body, account_level())
                .unwrap_err()
                .to_string();
            assert!(
                message.starts_with("$.data.accountMappingFile"),
                "{message}"
            );
            assert!(message.contains("Org Level"), "{message}");
        }
    }

    #[test]
    fn updates_merge_and_revalidate() {
        let current = validate_create(&cfg(good_cfg_data()), account_level()).unwrap();
        let patch =
            json!({"enabled": 0, "data": {"crossAccountCredentials": {"externalId": "new-id"}}});
        let updated = validate_update(&patch, "G", &current, account_level()).unwrap();
        assert_eq!(updated.enabled, 0);
        assert_eq!(updated.name, "n");
        assert_eq!(
            updated.data["crossAccountCredentials"],
            json!({"roleArn": "arn:aws:iam::123456789012:role/lacework-role", "externalId": "new-id"})
        );
        let removes = json!({"data": {"awsAccountId": null}});
        let updated = validate_update(&removes, "G", &current, account_level()).unwrap();
        assert!(!updated.data.contains_key("awsAccountId"));
        let wrong_type = json!({"type": "AwsCtSqs"});
        assert!(
            validate_update(&wrong_type, "G", &current, account_level())
                .unwrap_err()
                .to_string()
                .starts_with("$.type")
        );
        let wrong_guid = json!({"intgGuid": "OTHER"});
        assert!(
            validate_update(&wrong_guid, "G", &current, account_level())
                .unwrap_err()
                .to_string()
                .starts_with("$.intgGuid")
        );
        let removes_name = json!({"name": null});
        assert!(
            validate_update(&removes_name, "G", &current, account_level())
                .unwrap_err()
                .to_string()
                .starts_with("$.name: required field is missing")
        );
        let breaks_role = json!({"data": {"crossAccountCredentials": {"roleArn": "nope"}}});
        assert!(
            validate_update(&breaks_role, "G", &current, account_level())
                .unwrap_err()
                .to_string()
                .starts_with("$.data.crossAccountCredentials.roleArn")
        );
    }
}
