//! `landing-zone demo`: the setup flow on a fresh landing zone, checked step by step, with a
//! summary a person can read.

use std::io::Write;

use serde::Serialize;
use serde_json::{Value, json};

use crate::LandingZone;
use crate::error::Result;
use crate::seed::Account;
use crate::state;

/// One thing the demo verified.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// What the demo did and found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoReport {
    pub checks: Vec<Check>,
    /// `landing-zone state` after setup (not printed by `demo`: use `demo --keep` and `state`).
    #[serde(skip)]
    pub state: Value,
    /// setup's answer to CloudFormation.
    pub setup_response: Option<Value>,
}

impl DemoReport {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
    }
}

/// The ids of the organization's accounts that appear in some message of the account queue
/// (the message format is the functions' business; an account is queued if its id is in a
/// message).
pub async fn queued_accounts(zone: &LandingZone) -> Result<Vec<Account>> {
    let queue = state::peek_queue(zone.management(), &zone.product.account_queue_url).await?;
    let texts: Vec<String> = queue.messages.iter().map(Value::to_string).collect();
    Ok(zone
        .organization
        .accounts
        .iter()
        .filter(|account| texts.iter().any(|text| text.contains(account.id.as_str())))
        .cloned()
        .collect())
}

/// Runs setup's Create on `zone`, checks what it left behind, and writes a readable account
/// of it to `out`.
pub async fn run(zone: &LandingZone, out: &mut dyn Write) -> Result<DemoReport> {
    let organization = &zone.organization;
    let _ = writeln!(out, "Local landing zone");
    let _ = writeln!(out, "  moto (AWS):         {}", zone.moto_url);
    let _ = writeln!(out, "  Lacework emulator:  {}", zone.lacework_url);
    let _ = writeln!(out, "  management account: {}", organization.management);
    for account in &organization.accounts {
        let _ = writeln!(
            out,
            "  {:<18}  {}  {:<15} {}",
            account.name, account.id, account.ou, account.status
        );
    }
    let _ = writeln!(
        out,
        "  trail {} -> bucket {}, topic {}",
        zone.trail.name, zone.trail.bucket, zone.trail.topic_arn
    );
    let _ = writeln!(out, "\nInvoking setup (CloudFormation Create) ...");

    let created = zone.setup("Create", None).await?;
    let mut checks = Vec::new();
    let mut check = |name: &str, passed: bool, detail: String| {
        checks.push(Check {
            name: name.to_owned(),
            passed,
            detail,
        });
    };
    check(
        "setup answered CloudFormation SUCCESS, exactly once",
        created.status() == Some("SUCCESS") && created.answers_received == 1,
        format!(
            "{} answer(s), status {:?}, reason {:?}; function: {}",
            created.answers_received,
            created.status(),
            created.reason(),
            json!(created.invocation.answer)
        ),
    );

    let log_archive_resources = state::instance_resources(
        zone.management(),
        &zone.moto_url,
        &organization.log_archive,
        &zone.names.log_archive_stack_set,
    )
    .await?;
    let role = log_archive_resources.iter().find(|resource| {
        resource.resource_type == "AWS::IAM::Role"
            && resource
                .physical_id
                .contains(&zone.names.cross_account_role)
    });
    check(
        "cross-account role in Log Archive",
        role.is_some(),
        role.map(|role| format!("{} ({})", role.physical_id, role.status))
            .unwrap_or_else(|| format!("resources: {}", json!(log_archive_resources))),
    );

    let subscriptions = zone.trail_topic_subscriptions().await?;
    let audit_prefix = format!("arn:aws:sqs:{}:{}:", crate::aws::REGION, organization.audit);
    let audit_subscription = subscriptions
        .iter()
        .find(|subscription| subscription.endpoint.starts_with(&audit_prefix));
    check(
        "Audit queue subscribed to the trail topic",
        audit_subscription.is_some(),
        audit_subscription
            .map(|subscription| subscription.endpoint.clone())
            .unwrap_or_else(|| format!("subscriptions: {}", json!(subscriptions))),
    );

    let lacework = zone.lacework_state().await?;
    let integrations = state::lacework_integrations(&lacework);
    let cloudtrail: Vec<&Value> = integrations
        .iter()
        .filter(|integration| integration["type"] == "AwsCtSqs")
        .collect();
    check(
        "CloudTrail integration (AwsCtSqs) registered in Lacework",
        cloudtrail.len() == 1,
        json!(cloudtrail).to_string(),
    );

    let queued = queued_accounts(zone).await?;
    let expected: Vec<&Account> = organization
        .workload_accounts()
        .filter(|account| account.status == "ACTIVE")
        .collect();
    let missing: Vec<&str> = expected
        .iter()
        .filter(|account| !queued.iter().any(|queued| queued.id == account.id))
        .map(|account| account.name.as_str())
        .collect();
    check(
        "every ACTIVE member account queued for onboarding",
        missing.is_empty(),
        format!(
            "queued: {}; missing: {}",
            names(queued.iter()),
            missing.join(", ")
        ),
    );
    let suspended_queued: Vec<&Account> = queued
        .iter()
        .filter(|account| account.status == "SUSPENDED")
        .collect();
    check(
        "SUSPENDED account not queued",
        suspended_queued.is_empty(),
        format!("queued suspended: {}", names(suspended_queued.into_iter())),
    );

    let inspected = zone.inspect().await?;
    let _ = writeln!(out, "\nStack sets:");
    for stack_set in inspected["stackSets"].as_array().into_iter().flatten() {
        let instances: Vec<String> = stack_set["instances"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|instance| {
                format!(
                    "{} {}",
                    instance["account"].as_str().unwrap_or_default(),
                    instance["status"].as_str().unwrap_or_default()
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "  {}: {}",
            stack_set["name"].as_str().unwrap_or_default(),
            if instances.is_empty() {
                "no instances".to_owned()
            } else {
                instances.join(", ")
            }
        );
    }
    let _ = writeln!(out, "Lacework integrations:");
    for integration in &integrations {
        let _ = writeln!(
            out,
            "  [{}] {} {}",
            integration["scope"].as_str().unwrap_or_default(),
            integration["type"].as_str().unwrap_or_default(),
            integration["name"].as_str().unwrap_or_default()
        );
    }
    let _ = writeln!(
        out,
        "Queued accounts ({}): {}",
        queued.len(),
        names(queued.iter())
    );
    let _ = writeln!(out, "\nChecks:");
    for check in &checks {
        let mark = if check.passed { "PASS" } else { "FAIL" };
        let _ = writeln!(out, "  {mark}  {}", check.name);
        if !check.passed {
            let _ = writeln!(out, "        {}", check.detail);
        }
    }
    let _ = writeln!(
        out,
        "\nFunction logs: {}",
        zone.options.work_dir.join("logs").display()
    );
    Ok(DemoReport {
        checks,
        state: inspected,
        setup_response: created.response,
    })
}

fn names<'a>(accounts: impl Iterator<Item = &'a Account>) -> String {
    let names: Vec<&str> = accounts.map(|account| account.name.as_str()).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
