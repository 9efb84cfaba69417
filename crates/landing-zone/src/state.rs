//! What the landing zone is and holds: the record of a running landing zone
//! (`.cache/landing-zone/state.json`, written by `up`, read by `invoke`, `state` and `down`),
//! and inspection of moto and the emulator (stack sets and instances, Lacework integrations,
//! queued work).

use std::collections::BTreeMap;
use std::path::Path;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{self, Error, Result};
use crate::loopback::json_or_text;
use crate::registration_topic::RegistrationDeliveries;
use crate::seed::{Organization, ProductResources, Trail};

/// A running landing zone, as recorded in `state.json`. Holds no secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunningState {
    pub moto: Endpoint,
    pub lacework: LaceworkEndpoint,
    pub organization: Organization,
    pub trail: Trail,
    pub product: ProductResources,
    /// The StackId of the (pretend) product stack in the management account.
    pub stack_id: String,
    /// Where the function binaries are.
    pub bin_dir: String,
    /// The landing zone's queue on the registration topic (see [`crate::registration_topic`]).
    #[serde(default)]
    pub registration_deliveries: RegistrationDeliveries,
    /// Function variables given to `up` (`--env`), for every later command. Holds no secret
    /// (the API key is in the secret, not in the functions' variables).
    #[serde(default)]
    pub function_env: BTreeMap<String, String>,
}

/// A service the landing zone started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub url: String,
    /// The process id, while `up` left it running.
    pub pid: Option<u32>,
}

/// The Lacework emulator and its tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaceworkEndpoint {
    /// `url` and `pid`, beside the tenant's fields in `state.json`.
    #[serde(flatten)]
    pub emulator: Endpoint,
    pub account: String,
    pub sub_accounts: Vec<String>,
    pub key_id: String,
}

impl RunningState {
    /// Reads `state.json`.
    pub fn load(path: &Path) -> Result<RunningState> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            Error::file(
                path,
                format!("{err}; is a landing zone up? (landing-zone up)"),
            )
        })?;
        serde_json::from_str(&text).map_err(|err| Error::file(path, err))
    }

    /// Writes `state.json`.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(|err| Error::file(folder, err))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|err| Error::file(path, err))?;
        std::fs::write(path, text + "\n").map_err(|err| Error::file(path, err))
    }
}

/// A stack set and its instances.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackSetView {
    pub name: String,
    pub status: String,
    pub instances: Vec<StackInstanceView>,
}

/// One stack instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackInstanceView {
    pub account: String,
    pub region: String,
    pub status: String,
}

/// The stack sets of the management account that are not deleted, with their instances.
pub async fn stack_sets(management: &SdkConfig) -> Result<Vec<StackSetView>> {
    use aws_sdk_cloudformation::types::StackSetStatus;
    let client = aws_sdk_cloudformation::Client::new(management);
    let listed = client
        .list_stack_sets()
        .status(StackSetStatus::Active)
        .send()
        .await
        .map_err(|err| error::aws("cloudformation:ListStackSets", err))?;
    let mut views = Vec::new();
    for summary in listed.summaries() {
        // moto ignores the status filter: skip deleted ones here.
        let status = summary
            .status()
            .filter(|status| **status == StackSetStatus::Active);
        if let (Some(name), Some(status)) = (summary.stack_set_name(), status) {
            views.push(StackSetView {
                name: name.to_owned(),
                status: status.as_str().to_owned(),
                instances: stack_instances(&client, name).await?,
            });
        }
    }
    Ok(views)
}

/// The instances of stack set `stack_set` (`ListStackInstances`).
pub async fn stack_instances(
    client: &aws_sdk_cloudformation::Client,
    stack_set: &str,
) -> Result<Vec<StackInstanceView>> {
    Ok(client
        .list_stack_instances()
        .stack_set_name(stack_set)
        .send()
        .await
        .map_err(|err| error::aws("cloudformation:ListStackInstances", err))?
        .summaries()
        .iter()
        .map(|instance| StackInstanceView {
            account: text(instance.account()),
            region: text(instance.region()),
            status: text(instance.status().map(|status| status.as_str())),
        })
        .collect())
}

/// What the SDK answered, or the empty string when it left it out.
fn text(value: Option<&str>) -> String {
    value.unwrap_or_default().to_owned()
}

/// One subscription of a topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView {
    pub protocol: String,
    pub endpoint: String,
}

/// The subscriptions of `topic_arn`, seen from `config` (the topic's account).
pub async fn subscriptions(config: &SdkConfig, topic_arn: &str) -> Result<Vec<SubscriptionView>> {
    let sns = aws_sdk_sns::Client::new(config);
    Ok(crate::aws::topic_subscriptions(&sns, topic_arn)
        .await?
        .iter()
        .map(|subscription| SubscriptionView {
            protocol: text(subscription.protocol()),
            endpoint: text(subscription.endpoint()),
        })
        .collect())
}

/// A queue's counts and the messages waiting in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueView {
    pub url: String,
    /// `visible`, `inFlight` and `delayed`, beside the URL.
    #[serde(flatten)]
    pub counts: QueueCounts,
    /// Bodies of the visible messages (as JSON when they are JSON), peeked without consuming.
    pub messages: Vec<Value>,
}

/// A queue's message counts (from its attributes; nothing is received).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueCounts {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

impl QueueCounts {
    /// Every message the queue holds, whether visible or not.
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// The approximate counts of the queue at `url`.
pub async fn queue_counts(config: &SdkConfig, url: &str) -> Result<QueueCounts> {
    let attributes = aws_sdk_sqs::Client::new(config)
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(|err| error::aws("sqs:GetQueueAttributes", err))?;
    let count = |name: QueueAttributeName| {
        attributes
            .attributes()
            .and_then(|map| map.get(&name))
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or_default()
    };
    Ok(QueueCounts {
        visible: count(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    })
}

/// Most messages a peek collects (a bound, should a queue be flooded).
const PEEK_LIMIT: usize = 1000;

/// The queue's counts and its visible messages, peeked: received with a visibility timeout,
/// then made visible again at once (their receive count goes up by one, nothing else changes).
pub async fn peek_queue(config: &SdkConfig, url: &str) -> Result<QueueView> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let counts = queue_counts(config, url).await?;
    let mut messages = Vec::new();
    let mut receipts = Vec::new();
    while messages.len() < PEEK_LIMIT {
        let received = crate::aws::receive_now(&sqs, url, Some(60)).await?;
        if received.is_empty() {
            break;
        }
        for message in &received {
            let body = message.body().unwrap_or_default();
            messages.push(json_or_text(body.as_bytes()));
            if let Some(receipt) = message.receipt_handle() {
                receipts.push(receipt.to_owned());
            }
        }
    }
    for receipt in receipts {
        sqs.change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|err| error::aws("sqs:ChangeMessageVisibility", err))?;
    }
    Ok(QueueView {
        url: url.to_owned(),
        counts,
        messages,
    })
}

/// The integrations of the emulator's state, one object each with its `scope` (`org` or the
/// account), external ids left out.
pub fn lacework_integrations(emulator_state: &Value) -> Vec<Value> {
    let Some(scopes) = emulator_state
        .get("integrations")
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    let mut integrations = Vec::new();
    for (scope, records) in scopes {
        for record in records.as_array().into_iter().flatten() {
            let data = record.get("data").cloned().unwrap_or(Value::Null);
            let credentials = data.get("crossAccountCredentials");
            integrations.push(json!({
                "scope": scope,
                "type": record.get("type"),
                "name": record.get("name"),
                "intgGuid": record.get("intgGuid"),
                "isOrg": record.get("isOrg"),
                "awsAccountId": data.get("awsAccountId"),
                "roleArn": credentials.and_then(|c| c.get("roleArn")),
                "queueUrl": data.get("queueUrl"),
                "hasAccountMappingFile": data.get("accountMappingFile").is_some(),
            }));
        }
    }
    integrations
}

/// An AWS account's configuration integration (`AwsCfg`) in Lacework.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// The Lacework sub-account (`Account-Name`) it is in.
    pub sub_account: String,
    /// The AWS account: `data.awsAccountId`, or else the account of the role ARN.
    pub account: String,
    pub name: String,
    pub intg_guid: String,
    pub role_arn: String,
}

/// Every `AwsCfg` integration of the emulator's state, sorted by sub-account and account.
pub fn account_registrations(emulator_state: &Value) -> Vec<Registration> {
    let text = |value: &Value, key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut registrations: Vec<Registration> = lacework_integrations(emulator_state)
        .iter()
        .filter(|integration| integration["type"] == "AwsCfg")
        .map(|integration| {
            let role_arn = text(integration, "roleArn");
            let account = match integration.get("awsAccountId").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => id.to_owned(),
                // arn:<partition>:iam::<account>:role/<name>
                _ => role_arn.split(':').nth(4).unwrap_or_default().to_owned(),
            };
            Registration {
                sub_account: text(integration, "scope"),
                account,
                name: text(integration, "name"),
                intg_guid: text(integration, "intgGuid"),
                role_arn,
            }
        })
        .collect();
    registrations.sort_by(|a, b| (&a.sub_account, &a.account).cmp(&(&b.sub_account, &b.account)));
    registrations
}

/// The account mapping file of the organization-level CloudTrail integration, decoded, if
/// there is one.
pub fn cloudtrail_mapping(emulator_state: &Value) -> Option<Value> {
    emulator_state
        .get("mappingFiles")?
        .as_array()?
        .iter()
        .find(|file| file.get("scope").and_then(Value::as_str) == Some("org"))
        .and_then(|file| file.get("mapping"))
        .cloned()
}

/// The Lacework account `account` maps to in a mapping file: the one whose `aws_accounts`
/// list it, else `defaultLaceworkAccountAws`.
pub fn mapped_lacework_account(mapping: &Value, account: &str) -> String {
    listing_lacework_account(mapping, account).unwrap_or_else(|| {
        mapping
            .get("defaultLaceworkAccountAws")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    })
}

/// The Lacework account whose entry of the mapping file lists `account`, if one does.
pub fn listing_lacework_account(mapping: &Value, account: &str) -> Option<String> {
    mapping
        .get("integration_mappings")
        .and_then(Value::as_object)
        .and_then(|mappings| {
            mappings.iter().find(|(_, entry)| {
                entry
                    .get("aws_accounts")
                    .and_then(Value::as_array)
                    .is_some_and(|accounts| accounts.iter().any(|a| a == account))
            })
        })
        .map(|(name, _)| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emulator_is_recorded_beside_its_tenant() {
        let lacework = LaceworkEndpoint {
            emulator: Endpoint {
                url: "http://127.0.0.1:1".to_owned(),
                pid: None,
            },
            account: "acme".to_owned(),
            sub_accounts: vec!["prod".to_owned()],
            key_id: "KEY".to_owned(),
        };
        let recorded = serde_json::to_value(&lacework).unwrap();
        assert_eq!(
            recorded,
            json!({"url": "http://127.0.0.1:1", "pid": null, "account": "acme",
                   "subAccounts": ["prod"], "keyId": "KEY"})
        );
        let read: LaceworkEndpoint = serde_json::from_value(recorded).unwrap();
        assert_eq!(read, lacework);
    }

    #[test]
    fn registrations_name_their_account_and_sub_account() {
        let state = json!({"integrations": {
            "org": [],
            "prod": [{"type": "AwsCfg", "name": "lacework-ct-111111111111", "intgGuid": "G1",
                      "data": {"crossAccountCredentials": {"roleArn": "arn:aws:iam::111111111111:role/r",
                               "externalId": "lweid:aws:v2:acme:111111111111:SUFFIX"}}}],
            "dev": [{"type": "AwsCfg", "name": "x", "intgGuid": "G2",
                     "data": {"awsAccountId": "222222222222",
                              "crossAccountCredentials": {"roleArn": "arn:aws:iam::222222222222:role/r"}}}]
        }});
        let registrations = account_registrations(&state);
        assert_eq!(registrations.len(), 2);
        assert_eq!(
            (
                registrations[0].sub_account.as_str(),
                registrations[0].account.as_str()
            ),
            ("dev", "222222222222")
        );
        assert_eq!(
            (
                registrations[1].sub_account.as_str(),
                registrations[1].account.as_str()
            ),
            ("prod", "111111111111")
        );
    }

    #[test]
    fn mapped_accounts_are_found_or_go_to_the_default() {
        let mapping = json!({"defaultLaceworkAccountAws": "acme",
            "integration_mappings": {"prod": {"aws_accounts": ["111111111111"]}}});
        assert_eq!(mapped_lacework_account(&mapping, "111111111111"), "prod");
        assert_eq!(mapped_lacework_account(&mapping, "999999999999"), "acme");
        let state = json!({"mappingFiles": [{"scope": "org", "mapping": mapping.clone()}]});
        assert_eq!(cloudtrail_mapping(&state), Some(mapping));
    }

    #[test]
    fn integrations_are_listed_per_scope_without_external_ids() {
        let state = json!({"integrations": {
            "org": [{"type": "AwsCtSqs", "name": "ct", "intgGuid": "ACME_1", "isOrg": 1,
                     "data": {"crossAccountCredentials": {"roleArn": "arn:aws:iam::111111111111:role/r",
                              "externalId": "lweid:aws:v2:acme:111111111111:SECRETSUFFIX"},
                              "queueUrl": "https://sqs.us-east-1.amazonaws.com/222222222222/q",
                              "accountMappingFile": "data:application/json;name=i.json;base64,e30="}}],
            "prod": []
        }});
        let listed = lacework_integrations(&state);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["scope"], "org");
        assert_eq!(listed[0]["hasAccountMappingFile"], true);
        assert_eq!(listed[0]["roleArn"], "arn:aws:iam::111111111111:role/r");
        assert!(!listed[0].to_string().contains("SECRETSUFFIX"));
    }
}
