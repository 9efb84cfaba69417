//! The typed shapes of Lacework's `CloudAccounts` API: records and their integration data.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::secret::SecretString;
use crate::account::AccountId;
use crate::error::{Error, LaceworkErrorKind};
use crate::mapping::{AccountMapping, padded_account_id};
use crate::naming::Arn;

/// The data of one kind of cloud account integration (the record's `data` object).
pub trait IntegrationData:
    Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static
{
    /// The integration type on the wire (`type`), for example `AwsCfg`.
    const TYPE: &'static str;

    /// The role Lacework assumes, and the AWS account the data names (`awsAccountId`), if it
    /// does: every AWS integration has both.
    fn role_and_account(&self) -> (&CrossAccountCredentials, Option<&AccountId>);

    /// The AWS account this integration covers: `awsAccountId`, else the role's account.
    fn aws_account(&self) -> Option<AccountId> {
        let (role, account) = self.role_and_account();
        account.cloned().or_else(|| role.role_account())
    }

    /// Values in this data that must never be echoed (in an API error message, say).
    fn secrets(&self) -> Vec<&str> {
        vec![self.role_and_account().0.external_id.expose()]
    }

    /// Whether Lacework keeps at most one integration of this type per AWS account, so that a
    /// refused create may mean "it exists already" (then it is looked up by AWS account).
    const ONE_PER_AWS_ACCOUNT: bool = false;

    /// Whether this data (what Lacework holds) already is what `wanted` asks for. Optional
    /// fields that `wanted` leaves unset are not compared: an update leaves them as they are.
    fn satisfies(&self, wanted: &Self) -> bool;

    /// Sets the optional fields left unset here to what `held` (the record as Lacework holds
    /// it) has, so that an update sends the whole `data`: the same result whether Lacework
    /// merges `data` or replaces it (which is not known; the Go SDK and Terraform send it all).
    fn fill_unset_from(&mut self, held: &Self);
}

/// The role Lacework assumes, and the external id it presents (confidential).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossAccountCredentials {
    /// The ARN of the role Lacework assumes (`roleArn`).
    pub role_arn: String,
    /// The `sts:ExternalId` Lacework presents (`externalId`); confidential.
    pub external_id: SecretString,
}

impl CrossAccountCredentials {
    /// Credentials for the role `role_arn` with external id `external_id`.
    pub fn new(role_arn: impl Into<String>, external_id: impl Into<SecretString>) -> Self {
        Self {
            role_arn: role_arn.into(),
            external_id: external_id.into(),
        }
    }

    /// The account in the role ARN (`arn:<partition>:iam::<account>:role/<name>`), if it has one.
    pub fn role_account(&self) -> Option<AccountId> {
        let arn = Arn::parse(&self.role_arn).ok()?;
        arn.account
            .filter(|_| arn.service == "iam" && arn.region.is_none())
    }
}

/// `AwsCfg`: Lacework reads one AWS account's configuration through a cross-account role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsCfgData {
    /// The role Lacework assumes in the account.
    pub cross_account_credentials: CrossAccountCredentials,
    /// The AWS account (`awsAccountId`); Lacework can also tell it from the role ARN.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_account_id"
    )]
    pub aws_account_id: Option<AccountId>,
}

impl IntegrationData for AwsCfgData {
    const TYPE: &'static str = "AwsCfg";

    fn role_and_account(&self) -> (&CrossAccountCredentials, Option<&AccountId>) {
        (
            &self.cross_account_credentials,
            self.aws_account_id.as_ref(),
        )
    }

    const ONE_PER_AWS_ACCOUNT: bool = true;

    fn satisfies(&self, wanted: &Self) -> bool {
        self.cross_account_credentials == wanted.cross_account_credentials
            && unset_or_equal(&wanted.aws_account_id, &self.aws_account_id)
    }

    fn fill_unset_from(&mut self, held: &Self) {
        fill(&mut self.aws_account_id, &held.aws_account_id);
    }
}

/// `AwsCtSqs`: Lacework reads CloudTrail logs announced on an SQS queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsCtSqsData {
    /// The role Lacework assumes to read the trail bucket and the queue.
    pub cross_account_credentials: CrossAccountCredentials,
    /// The SQS queue that announces new CloudTrail log files (`queueUrl`).
    pub queue_url: String,
    /// The AWS account (`awsAccountId`) the integration belongs to, if given.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_account_id"
    )]
    pub aws_account_id: Option<AccountId>,
    /// The account mapping file as Lacework carries it:
    /// `data:application/json;name=i.json;base64,<base64 of the mapping JSON>`. Accepted only on
    /// an organization-level call.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_text"
    )]
    pub account_mapping_file: Option<String>,
}

impl IntegrationData for AwsCtSqsData {
    const TYPE: &'static str = "AwsCtSqs";

    fn role_and_account(&self) -> (&CrossAccountCredentials, Option<&AccountId>) {
        (
            &self.cross_account_credentials,
            self.aws_account_id.as_ref(),
        )
    }

    fn satisfies(&self, wanted: &Self) -> bool {
        let same_mapping = match (&wanted.account_mapping_file, &self.account_mapping_file) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(wanted_file), Some(held_file)) => {
                // Lacework may encode the same mapping differently (key order, spacing), and
                // may hold what its own clients wrote (short ids): compare by meaning.
                wanted_file == held_file
                    || matches!(
                        (
                            AccountMapping::from_wire_lenient(wanted_file),
                            AccountMapping::from_wire_lenient(held_file)
                        ),
                        (Ok((a, _)), Ok((b, _))) if a == b
                    )
            }
        };
        self.cross_account_credentials == wanted.cross_account_credentials
            && self.queue_url == wanted.queue_url
            && unset_or_equal(&wanted.aws_account_id, &self.aws_account_id)
            && same_mapping
    }

    fn fill_unset_from(&mut self, held: &Self) {
        fill(&mut self.aws_account_id, &held.aws_account_id);
        fill(&mut self.account_mapping_file, &held.account_mapping_file);
    }
}

impl AwsCtSqsData {
    /// The account mapping file, read and validated; `None` when the integration has none.
    /// It is read as Lacework may hold it ([`AccountMapping::from_wire_lenient`]); what had
    /// to be healed is logged as a warning.
    pub fn account_mapping(&self) -> Result<Option<AccountMapping>, Error> {
        let Some(wire) = self.account_mapping_file.as_deref() else {
            return Ok(None);
        };
        let (mapping, healed) = AccountMapping::from_wire_lenient(wire)?;
        for problem in &healed {
            tracing::warn!(
                path = %problem.path,
                problem = %problem.message,
                "the account mapping file Lacework holds is not as this product writes it; read it leniently"
            );
        }
        Ok(Some(mapping))
    }

    /// Sets the account mapping file (in Lacework's encoding) from a mapping.
    pub fn set_account_mapping(&mut self, mapping: &AccountMapping) {
        self.account_mapping_file = Some(mapping.to_wire());
    }
}

fn unset_or_equal<T: PartialEq>(wanted: &Option<T>, held: &Option<T>) -> bool {
    wanted.is_none() || wanted == held
}

fn fill<T: Clone>(wanted: &mut Option<T>, held: &Option<T>) {
    if wanted.is_none() {
        wanted.clone_from(held);
    }
}

/// `awsAccountId` as Lacework holds it. `""` and `null` both mean "no account id" (Lacework
/// returns either for an unset field). Reading is lenient, since the service holds what any
/// client wrote: an all-digit id of fewer than 12 digits (as in Lacework's own examples) is
/// read with its leading zeros restored, and anything else that is not an account id is read
/// as unset (the role ARN still tells the account), with a warning, rather than making the
/// whole record unreadable.
fn optional_account_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AccountId>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(id) = AccountId::parse(&text) {
        return Ok(Some(id));
    }
    if let Some(id) = padded_account_id(&text).and_then(|padded| AccountId::parse(&padded).ok()) {
        tracing::warn!(
            held = %text,
            read_as = %id,
            "awsAccountId has fewer than 12 digits; read with its leading zeros restored"
        );
        return Ok(Some(id));
    }
    tracing::warn!(
        held = %text,
        "awsAccountId is not an AWS account id; read as unset (the role ARN tells the account)"
    );
    Ok(None)
}

fn optional_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|text| !text.is_empty()))
}

/// An integration's health as Lacework last saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationState {
    /// Whether the last check succeeded.
    #[serde(default)]
    pub ok: bool,
    /// Epoch milliseconds or a date, depending on the API version: kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated_time: Option<serde_json::Value>,
    /// When it last succeeded, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<serde_json::Value>,
    /// Lacework's details of the last check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// One cloud account integration as Lacework returns it. `D` is the typed `data`; a list of
/// mixed types uses `serde_json::Value` and converts each record with [`CloudAccount::typed`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudAccount<D = serde_json::Value> {
    /// Lacework's id of the integration (`intgGuid`).
    pub intg_guid: String,
    /// The integration's name, unique by convention only.
    pub name: String,
    /// The integration type (`type`), for example `AwsCfg`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether Lacework uses the integration (`enabled`, 0/1 on the wire).
    #[serde(with = "flag")]
    pub enabled: bool,
    /// Whether it is an organization-level integration (`isOrg`).
    #[serde(default, with = "flag")]
    pub is_org: bool,
    /// When it was created or last changed, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_or_updated_time: Option<String>,
    /// Who created or last changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_or_updated_by: Option<String>,
    /// Lacework's view of its health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<IntegrationState>,
    /// The type-specific settings (`data`).
    pub data: D,
}

impl CloudAccount<serde_json::Value> {
    /// This record with typed data, if it is of type `T` and its data reads as `T`.
    pub fn typed<T: IntegrationData>(self) -> Result<CloudAccount<T>, Error> {
        let operation = format!("read {} integration {}", T::TYPE, self.intg_guid);
        if self.kind != T::TYPE {
            return Err(decode_error(
                operation,
                format!("$.type: is {:?}, expected {:?}", self.kind, T::TYPE),
            ));
        }
        // As in reading a page: the path is tracked only to name what failed.
        let data = T::deserialize(&self.data)
            .or_else(|_| serde_path_to_error::deserialize(self.data))
            .map_err(|e| {
                decode_error(
                    operation,
                    format!(
                        "{}: {}",
                        json_path("$.data", &e.path().to_string()),
                        e.inner()
                    ),
                )
            })?;
        Ok(CloudAccount {
            intg_guid: self.intg_guid,
            name: self.name,
            kind: self.kind,
            enabled: self.enabled,
            is_org: self.is_org,
            created_or_updated_time: self.created_or_updated_time,
            created_or_updated_by: self.created_or_updated_by,
            state: self.state,
            data,
        })
    }
}

impl<D: IntegrationData> CloudAccount<D> {
    /// Whether this record already is what `spec` asks for (see [`IntegrationData::satisfies`]).
    pub fn matches(&self, spec: &CloudAccountSpec<D>) -> bool {
        self.kind == D::TYPE
            && self.name == spec.name
            && self.enabled == spec.enabled
            && self.data.satisfies(&spec.data)
    }
}

/// What an integration should be: the body of a create (`POST`) or update (`PATCH`).
#[derive(Debug, Clone, PartialEq)]
pub struct CloudAccountSpec<D> {
    /// The integration's name.
    pub name: String,
    /// Whether Lacework should use it.
    pub enabled: bool,
    /// The type-specific settings.
    pub data: D,
}

impl<D: IntegrationData> CloudAccountSpec<D> {
    /// An enabled integration called `name`.
    pub fn new(name: impl Into<String>, data: D) -> Self {
        Self {
            name: name.into(),
            enabled: true,
            data,
        }
    }
}

impl<D: IntegrationData> Serialize for CloudAccountSpec<D> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a, D> {
            name: &'a str,
            #[serde(rename = "type")]
            kind: &'static str,
            enabled: u8,
            data: &'a D,
        }
        Wire {
            name: &self.name,
            kind: D::TYPE,
            enabled: u8::from(self.enabled),
            data: &self.data,
        }
        .serialize(serializer)
    }
}

/// Lacework's 0/1 flags (`enabled`, `isOrg`); `true`/`false` are accepted on reads too.
mod flag {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &bool, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(u8::from(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Flag {
            Number(u64),
            Bool(bool),
        }
        match Flag::deserialize(deserializer) {
            Ok(Flag::Number(0)) | Ok(Flag::Bool(false)) => Ok(false),
            Ok(Flag::Number(1)) | Ok(Flag::Bool(true)) => Ok(true),
            Ok(Flag::Number(n)) => {
                Err(serde::de::Error::custom(format!("is {n}; expected 0 or 1")))
            }
            Err(_) => Err(serde::de::Error::custom("expected 0, 1, true or false")),
        }
    }
}

pub fn decode_error(operation: String, message: String) -> Error {
    Error::Lacework {
        kind: LaceworkErrorKind::Decode,
        operation,
        status: None,
        message,
        retry_after: None,
    }
}

/// `$.data` + `[0].name` (serde_path_to_error's `.` is its root) -> `$.data[0].name`.
pub fn json_path(root: &str, inner: &str) -> String {
    match inner {
        "" | "." => root.to_owned(),
        rest if rest.starts_with('[') => format!("{root}{rest}"),
        rest => format!("{root}.{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn cfg_data() -> AwsCfgData {
        AwsCfgData {
            cross_account_credentials: CrossAccountCredentials::new(
                "arn:aws:iam::123456789012:role/lacework-cfg",
                "lweid:aws:v2:acme:123456789012:SUFFIX",
            ),
            aws_account_id: Some(AccountId::parse("123456789012").unwrap()),
        }
    }

    #[test]
    fn spec_serializes_with_type_and_numeric_enabled() {
        let spec = CloudAccountSpec::new("acme-123456789012", cfg_data());
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            json!({
                "name": "acme-123456789012",
                "type": "AwsCfg",
                "enabled": 1,
                "data": {
                    "crossAccountCredentials": {
                        "roleArn": "arn:aws:iam::123456789012:role/lacework-cfg",
                        "externalId": "lweid:aws:v2:acme:123456789012:SUFFIX"
                    },
                    "awsAccountId": "123456789012"
                }
            })
        );
    }

    #[test]
    fn ct_sqs_optional_fields_are_left_out_when_unset() {
        let data = AwsCtSqsData {
            cross_account_credentials: CrossAccountCredentials::new("arn:aws:iam::1:role/r", "x"),
            queue_url: "https://sqs.us-east-1.amazonaws.com/123456789012/q".into(),
            aws_account_id: None,
            account_mapping_file: None,
        };
        let value = serde_json::to_value(&data).unwrap();
        assert_eq!(
            value,
            json!({
                "crossAccountCredentials": {"roleArn": "arn:aws:iam::1:role/r", "externalId": "x"},
                "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q"
            })
        );
    }

    #[test]
    fn record_reads_the_api_shape_and_converts_to_typed_data() {
        let record: CloudAccount = serde_json::from_value(json!({
            "intgGuid": "ACME_0123",
            "name": "acme-123456789012",
            "type": "AwsCfg",
            "enabled": 1,
            "isOrg": 0,
            "createdOrUpdatedTime": "2024-05-01T10:00:00.000Z",
            "state": {"ok": true, "lastUpdatedTime": 1714557600000u64, "details": {}},
            "data": {
                "crossAccountCredentials": {
                    "roleArn": "arn:aws:iam::123456789012:role/lacework-cfg",
                    "externalId": "lweid:aws:v2:acme:123456789012:SUFFIX"
                },
                "awsAccountId": "123456789012",
                "somethingNew": true
            }
        }))
        .unwrap();
        assert!(record.enabled);
        assert!(!record.is_org);
        let typed = record.typed::<AwsCfgData>().unwrap();
        assert_eq!(typed.data, cfg_data());
        assert!(typed.matches(&CloudAccountSpec::new("acme-123456789012", cfg_data())));
        assert!(!typed.matches(&CloudAccountSpec::new("other", cfg_data())));
    }

    #[test]
    fn typed_conversion_names_the_wrong_type_or_field() {
        let record: CloudAccount = serde_json::from_value(json!({
            "intgGuid": "G1", "name": "n", "type": "AwsCtSqs", "enabled": true,
            "data": {"crossAccountCredentials": {"roleArn": "r", "externalId": "e"}, "queueUrl": "q"}
        }))
        .unwrap();
        let err = record
            .clone()
            .typed::<AwsCfgData>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("$.type"), "{err}");

        let mut broken = record;
        broken.data["queueUrl"] = json!(12345);
        let err = broken.typed::<AwsCtSqsData>().unwrap_err().to_string();
        assert!(err.contains("$.data.queueUrl"), "{err}");
        assert!(err.contains("unreadable answer"), "{err}");
    }

    #[test]
    fn empty_account_id_and_mapping_file_read_as_absent() {
        let data: AwsCtSqsData = serde_json::from_value(json!({
            "crossAccountCredentials": {"roleArn": "r", "externalId": "e"},
            "queueUrl": "q", "awsAccountId": "", "accountMappingFile": ""
        }))
        .unwrap();
        assert_eq!(data.aws_account_id, None);
        assert_eq!(data.account_mapping_file, None);
    }

    #[test]
    fn account_ids_lacework_holds_are_read_leniently() {
        let read = |id: Value| {
            let data: AwsCfgData = serde_json::from_value(json!({
                "crossAccountCredentials": {
                    "roleArn": "arn:aws:iam::210987654321:role/r", "externalId": "e"
                },
                "awsAccountId": id
            }))
            .unwrap();
            data
        };
        // Lacework's own examples use 9-digit ids.
        let short = read(json!("234556677"));
        assert_eq!(short.aws_account_id.unwrap().as_str(), "000234556677");
        // Not an account id at all: unset, and the role ARN still tells the account.
        let junk = read(json!("not-an-id"));
        assert_eq!(junk.aws_account_id, None);
        assert_eq!(junk.aws_account().unwrap().as_str(), "210987654321");
        assert_eq!(
            read(json!("123456789012")).aws_account_id.unwrap().as_str(),
            "123456789012"
        );
    }

    #[test]
    fn a_mapping_file_with_short_ids_reads_and_compares_by_meaning() {
        use base64::Engine;
        let held_doc = r#"{"defaultLaceworkAccountAws": "acme", "integration_mappings": {"prod": {"aws_accounts": ["333333333"]}}}"#;
        let mut held = ct_sqs_data();
        held.account_mapping_file = Some(format!(
            "data:application/json;name=i.json;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(held_doc)
        ));
        let mapping = held.account_mapping().unwrap().unwrap();
        let padded = AccountId::parse("000333333333").unwrap();
        assert_eq!(mapping.lacework_account_of(&padded), Some("prod"));
        let mut wanted = ct_sqs_data();
        wanted.set_account_mapping(&mapping);
        assert!(held.satisfies(&wanted), "same meaning: no update needed");
    }

    #[test]
    fn unset_optional_fields_are_filled_from_what_lacework_holds() {
        let mut held = ct_sqs_data();
        held.aws_account_id = Some(AccountId::parse("111111111111").unwrap());
        held.account_mapping_file = Some("data:application/json;name=i.json;base64,e30=".into());
        let mut wanted = ct_sqs_data();
        wanted.queue_url.push('2');
        wanted.fill_unset_from(&held);
        assert_eq!(wanted.aws_account_id, held.aws_account_id);
        assert_eq!(wanted.account_mapping_file, held.account_mapping_file);
        assert!(wanted.queue_url.ends_with('2'), "set fields are kept");

        let mut set = ct_sqs_data();
        set.account_mapping_file = Some("data:application/json;name=i.json;base64,bmV3".into());
        set.fill_unset_from(&held);
        assert_eq!(
            set.account_mapping_file.as_deref(),
            Some("data:application/json;name=i.json;base64,bmV3")
        );

        let mut cfg = AwsCfgData {
            aws_account_id: None,
            ..cfg_data()
        };
        cfg.fill_unset_from(&cfg_data());
        assert_eq!(cfg, cfg_data());
        const { assert!(AwsCfgData::ONE_PER_AWS_ACCOUNT) };
        const { assert!(!AwsCtSqsData::ONE_PER_AWS_ACCOUNT) };
    }

    #[test]
    fn enabled_flag_rejects_other_numbers() {
        let err = serde_json::from_value::<CloudAccount>(json!({
            "intgGuid": "G", "name": "n", "type": "AwsCfg", "enabled": 2, "data": {}
        }))
        .unwrap_err()
        .to_string();
        assert!(err.contains("expected 0 or 1"), "{err}");
    }

    #[test]
    fn aws_account_comes_from_the_id_or_else_the_role_arn() {
        let mut data = cfg_data();
        data.aws_account_id = None;
        assert_eq!(data.aws_account().unwrap().as_str(), "123456789012");
        data.cross_account_credentials.role_arn = "arn:aws-us-gov:iam::210987654321:role/x".into();
        assert_eq!(data.aws_account().unwrap().as_str(), "210987654321");
        data.cross_account_credentials.role_arn = "not an arn".into();
        assert_eq!(data.aws_account(), None);
        data.cross_account_credentials.role_arn = "arn:aws:s3:::bucket".into();
        assert_eq!(data.aws_account(), None);
    }

    fn ct_sqs_data() -> AwsCtSqsData {
        AwsCtSqsData {
            cross_account_credentials: CrossAccountCredentials::new(
                "arn:aws:iam::111111111111:role/lacework-ct",
                "lweid:aws:v2:acme:111111111111:SUFFIX",
            ),
            queue_url: "https://sqs.us-east-1.amazonaws.com/222222222222/lacework-ct".into(),
            aws_account_id: None,
            account_mapping_file: None,
        }
    }

    #[test]
    fn unset_optional_fields_are_not_compared() {
        let wanted = ct_sqs_data();
        let mut held = wanted.clone();
        held.aws_account_id = Some(AccountId::parse("111111111111").unwrap());
        held.account_mapping_file = Some("data:application/json;name=i.json;base64,e30=".into());
        assert!(held.satisfies(&wanted));
        assert!(!wanted.satisfies(&held));

        let mut other_queue = held.clone();
        other_queue.queue_url.push('2');
        assert!(!other_queue.satisfies(&wanted));

        let mut cfg = cfg_data();
        let wanted_cfg = AwsCfgData {
            aws_account_id: None,
            ..cfg.clone()
        };
        assert!(cfg.satisfies(&wanted_cfg));
        cfg.cross_account_credentials.external_id = "lweid:other".into();
        assert!(!cfg.satisfies(&wanted_cfg));
    }

    #[test]
    fn mapping_files_compare_by_meaning() {
        use base64::Engine;
        let mapping = AccountMapping::from_json_str(
            r#"{"defaultLaceworkAccountAws": "acme", "integration_mappings": {"prod": {"aws_accounts": ["333333333333"]}}}"#,
        )
        .unwrap();
        let mut wanted = ct_sqs_data();
        wanted.set_account_mapping(&mapping);
        assert_eq!(wanted.account_mapping().unwrap(), Some(mapping.clone()));

        // The same mapping with other spacing and key order, as another encoder may write it.
        let spaced = r#"{ "integration_mappings": { "prod": { "aws_accounts": [ "333333333333" ] } }, "defaultLaceworkAccountAws": "ACME" }"#;
        let mut held = ct_sqs_data();
        held.account_mapping_file = Some(format!(
            "data:application/json;name=i.json;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(spaced)
        ));
        assert!(held.satisfies(&wanted));

        let mut moved = mapping.to_value();
        moved["integration_mappings"]["prod"]["aws_accounts"][0] = json!("444444444444");
        held.set_account_mapping(&AccountMapping::from_value(&moved).unwrap());
        assert!(!held.satisfies(&wanted));
        assert_eq!(ct_sqs_data().account_mapping().unwrap(), None);
    }

    #[test]
    fn record_debug_hides_the_external_id() {
        let shown = format!("{:?}", CloudAccountSpec::new("n", cfg_data()));
        assert!(!shown.contains("SUFFIX"), "{shown}");
        assert!(shown.contains("lacework-cfg"), "{shown}");
    }

    #[test]
    fn json_paths_join_cleanly() {
        assert_eq!(json_path("$.data", "."), "$.data");
        assert_eq!(json_path("$.data", "[2].name"), "$.data[2].name");
        assert_eq!(json_path("$.data", "awsAccountId"), "$.data.awsAccountId");
    }
}
