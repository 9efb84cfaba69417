//! `landing-zone demo`: the whole product on a fresh landing zone - setup, the existing
//! accounts onboarded, a new account enrolled, one moved, one closed, the token refreshed -
//! checked step by step, with a summary a person can read at a glance.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use crate::LandingZone;
use crate::error::{Error, Result};
use crate::flows::{AccountQueueRun, DrainLimits, Schedule};
use lwct_domain::AccountId;

use crate::seed::Account;
use crate::state;

/// The OU -> Lacework sub-account rules the demo installs (`LACEWORK_OU_RULES`).
pub const OU_RULES: [(&str, &str); 2] = [("Prod", "prod"), ("Dev", "dev")];

/// The account the demo enrolls through Account Factory, and its OU.
pub const NEW_ACCOUNT: (&str, &str) = ("Prod Analytics", "Workloads/Prod");

/// The account the demo moves, and where to.
pub const MOVED_ACCOUNT: (&str, &str) = ("Dev Web", "Workloads/Prod");

/// The account the demo closes.
pub const CLOSED_ACCOUNT: &str = "Sandbox Alice";

/// `LACEWORK_OU_RULES` for [`OU_RULES`].
pub fn ou_rules_variable() -> String {
    OU_RULES
        .iter()
        .map(|(ou, sub_account)| format!("{ou}={sub_account}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The sub-account an account in `ou_path` belongs to under [`OU_RULES`]: the rule of its
/// nearest OU, else `default`.
pub fn expected_sub_account(ou_path: &str, default: &str) -> String {
    ou_path
        .rsplit('/')
        .find_map(|ou| {
            OU_RULES
                .iter()
                .find(|(rule_ou, _)| rule_ou.eq_ignore_ascii_case(ou))
        })
        .map(|(_, sub_account)| (*sub_account).to_owned())
        .unwrap_or_else(|| default.to_owned())
}

/// One thing the demo verified.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// One step of the demo and how long it took.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub name: String,
    pub seconds: f64,
    pub result: String,
}

/// What the demo did and found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoReport {
    pub steps: Vec<Step>,
    pub checks: Vec<Check>,
    /// Every account: id, name, OU, status, instance, registrations, mapping.
    pub accounts: Vec<Value>,
    /// setup's answer to CloudFormation.
    pub setup_response: Option<Value>,
    pub seconds: f64,
}

/// Records steps and checks, and tells the reader as it goes.
struct Narrator<'a> {
    out: &'a mut dyn Write,
    steps: Vec<Step>,
    checks: Vec<Check>,
    /// When the step under way started (when the last one ended).
    started: Instant,
}

impl Narrator<'_> {
    fn step(&mut self, name: &str, result: String) {
        let seconds = self.started.elapsed().as_secs_f64();
        self.started = Instant::now();
        let _ = writeln!(self.out, "  {seconds:>5.1} s  {name}\n           {result}");
        self.steps.push(Step {
            name: name.to_owned(),
            seconds,
            result,
        });
    }

    /// Drains the registration queue after `run` (onboarding or an account change) and records
    /// both as step `name`.
    async fn drained_step(
        &mut self,
        zone: &LandingZone,
        name: &str,
        run: &AccountQueueRun,
    ) -> Result<()> {
        let drain = zone.drain_registrations(DrainLimits::default()).await?;
        let result = format!(
            "{}; drain: {} run(s), {} message(s) left",
            queue_run_words(run),
            drain.runs.len(),
            drain.remaining.total()
        );
        self.step(name, result);
        Ok(())
    }

    fn check(&mut self, name: &str, passed: bool, detail: String) {
        self.checks.push(Check {
            name: name.to_owned(),
            passed,
            detail,
        });
    }
}

/// What a run of the account queue did, in a few words.
fn queue_run_words(run: &AccountQueueRun) -> String {
    let answered = |status: Option<&str>| {
        run.registration_requests
            .iter()
            .filter(|request| request.status() == status)
            .count()
    };
    format!(
        "{} batch(es), {} left failed; custom resources: {} SUCCESS, {} FAILED, {} unanswered",
        run.batches.len(),
        run.failed_messages(),
        answered(Some("SUCCESS")),
        answered(Some("FAILED")),
        answered(None)
    )
}

fn account<'a>(zone: &'a LandingZone, name: &str) -> Result<&'a Account> {
    zone.state
        .organization
        .account_named(name)
        .ok_or_else(|| Error::Usage(format!("the seed has no account named {name:?}")))
}

/// Runs the whole product on `zone` (started with [`ou_rules_variable`] as
/// `LACEWORK_OU_RULES`), checks what it left behind, and writes a readable account to `out`.
pub async fn run(zone: &mut LandingZone, out: &mut dyn Write) -> Result<DemoReport> {
    let demo_started = Instant::now();
    let _ = writeln!(
        out,
        "Local landing zone: moto {}, Lacework emulator {}, management account {}",
        zone.state.moto.url, zone.state.lacework.emulator.url, zone.state.organization.management
    );
    let _ = writeln!(out, "\nSteps:");
    let mut narrator = Narrator {
        out,
        steps: Vec::new(),
        checks: Vec::new(),
        started: Instant::now(),
    };

    let created = zone.setup("Create", None).await?;
    narrator.step(
        "setup: CloudFormation Create",
        format!("{:?}", created.status().unwrap_or("no answer")),
    );
    narrator.check(
        "setup answered CloudFormation SUCCESS, exactly once",
        created.status() == Some("SUCCESS") && created.answers_received == 1,
        format!(
            "{} answer(s), reason {:?}; function: {}",
            created.answers_received,
            created.reason(),
            json!(created.invocation.answer)
        ),
    );

    let onboarded = zone.run_account_queue().await?;
    let name = "existing accounts onboarded (account queue, then drain)";
    narrator.drained_step(zone, name, &onboarded).await?;

    let (new_account, enrolled) = zone.enroll_account(NEW_ACCOUNT.0, NEW_ACCOUNT.1).await?;
    let (name, ou) = NEW_ACCOUNT;
    let step = format!("new account {name:?} in {ou}: CreateManagedAccount");
    narrator.drained_step(zone, &step, &enrolled).await?;

    let moved = account(zone, MOVED_ACCOUNT.0)?.clone();
    let relocated = zone.relocate_account(&moved.id, MOVED_ACCOUNT.1).await?;
    let step = format!(
        "{:?} moved {} -> {}: MoveAccount",
        moved.name, moved.ou, MOVED_ACCOUNT.1
    );
    narrator.drained_step(zone, &step, &relocated).await?;

    let closed = account(zone, CLOSED_ACCOUNT)?.clone();
    let retired = zone.retire_account(&closed.id).await?;
    let step = format!("{:?} closed: CloseAccount", closed.name);
    narrator.drained_step(zone, &step, &retired).await?;

    let refreshed = zone.tick(Schedule::AuthRefresh).await?;
    narrator.step(
        "auth-refresh: Scheduled Event",
        json!(refreshed.answer).to_string(),
    );
    narrator.check(
        "auth-refresh answered",
        refreshed.answer.is_response(),
        json!(refreshed.answer).to_string(),
    );

    // What the landing zone holds now.
    let lacework = zone.lacework_state().await?;
    let registrations = state::account_registrations(&lacework);
    let mapping = state::cloudtrail_mapping(&lacework);
    let instances = zone.member_instances().await?;
    let default_sub_account = zone.options.lacework.account.to_ascii_lowercase();
    let registered_in = |id: &AccountId| -> Vec<&str> {
        registrations
            .iter()
            .filter(|registration| registration.account == id.as_str())
            .map(|registration| registration.sub_account.as_str())
            .collect()
    };
    let has_instance = |id: &AccountId| {
        instances
            .iter()
            .any(|instance| instance.account == id.as_str())
    };
    let mapped_to = |id: &AccountId| {
        let mapped = |mapping| state::mapped_lacework_account(mapping, id.as_str());
        mapping.as_ref().map(mapped)
    };
    let mut accounts = Vec::new();
    // The summary's table, one line per account.
    let mut rows = Vec::new();
    let mut wrong = Vec::new();
    for account in &zone.state.organization.accounts {
        let active = account.status == "ACTIVE";
        let expected = expected_sub_account(&account.ou, &default_sub_account);
        let has_instance = has_instance(&account.id);
        let registered = registered_in(&account.id);
        let mapped = mapped_to(&account.id);
        let as_expected = if active {
            has_instance && registered == [expected.as_str()]
        } else {
            !has_instance && registered.is_empty()
        };
        if !as_expected {
            wrong.push(format!(
                "{} ({}, {}): instance {has_instance}, registered in {registered:?}, expected {}",
                account.name,
                account.ou,
                account.status,
                if active { expected.as_str() } else { "nothing" }
            ));
        }
        rows.push(format!(
            "  {:<16} {:<13} {:<15} {:<10} {:<9} {:<12} {}",
            account.name,
            account.id.as_str(),
            account.ou,
            account.status,
            if has_instance { "yes" } else { "-" },
            if registered.is_empty() {
                "-".to_owned()
            } else {
                registered.join(",")
            },
            mapped.as_deref().unwrap_or("-"),
        ));
        accounts.push(json!({
            "name": account.name, "id": account.id, "ou": account.ou, "status": account.status,
            "stackInstance": has_instance, "registeredIn": registered, "expected": if active { Some(&expected) } else { None },
            "mappingFile": mapped,
        }));
    }
    narrator.check(
        "every ACTIVE member account has one instance and is registered in its sub-account only; no other account has either",
        wrong.is_empty(),
        wrong.join("; "),
    );
    let sub_account_of = |ou: &str| expected_sub_account(ou, &default_sub_account);
    let (new_sub_account, moved_to) = (
        sub_account_of(&new_account.ou),
        sub_account_of(MOVED_ACCOUNT.1),
    );
    for (account, name, sub_account) in [
        (
            &new_account,
            format!(
                "new account {:?} registered in {new_sub_account}",
                new_account.name
            ),
            new_sub_account,
        ),
        (
            &moved,
            format!(
                "moved account {:?} re-mapped from {} to {moved_to} (registration and mapping file)",
                moved.name,
                sub_account_of(&moved.ou)
            ),
            moved_to,
        ),
    ] {
        let (registered, mapped) = (registered_in(&account.id), mapped_to(&account.id));
        narrator.check(
            &name,
            registered == [sub_account.as_str()] && mapped.as_deref() == Some(sub_account.as_str()),
            format!("registered in {registered:?}; the mapping file maps it to {mapped:?}"),
        );
    }
    let closed_registered = registered_in(&closed.id);
    let closed_instance = has_instance(&closed.id);
    let closed_listed = mapping
        .as_ref()
        .and_then(|mapping| state::listing_lacework_account(mapping, closed.id.as_str()));
    let delivered = zone.delivered_requests();
    let closed_deleted = delivered.iter().any(|request| {
        request.request_type == "Delete"
            && request.account == closed.id.as_str()
            && request.status() == Some("SUCCESS")
    });
    narrator.check(
        &format!(
            "closed account {:?}: its instance deleted (custom resource Delete answered), deregistered, not in the mapping file",
            closed.name
        ),
        closed_deleted && closed_registered.is_empty() && !closed_instance && closed_listed.is_none(),
        format!(
            "Delete answered SUCCESS {closed_deleted}, registered in {closed_registered:?}, instance {closed_instance}, listed in the mapping file under {closed_listed:?}"
        ),
    );
    let not_answered: Vec<String> = delivered
        .iter()
        .filter(|request| {
            request.status() != Some("SUCCESS") || request.outcome.answers_received != 1
        })
        .map(|request| {
            format!(
                "{} {}: {:?} ({} answers) {}",
                request.request_type,
                request.account,
                request.status(),
                request.outcome.answers_received,
                request.outcome.reason()
            )
        })
        .collect();
    narrator.check(
        &format!(
            "every member custom resource request ({}) answered SUCCESS exactly once",
            delivered.len()
        ),
        !delivered.is_empty() && not_answered.is_empty(),
        not_answered.join("; "),
    );
    let mut queues = Vec::new();
    for (label, url) in zone.state.product.queues() {
        let counts = state::queue_counts(zone.management(), url).await?;
        if counts.total() > 0 {
            queues.push(format!("{label}: {counts:?}"));
        }
    }
    narrator.check(
        "no work left or dead-lettered in the product's queues",
        queues.is_empty(),
        queues.join("; "),
    );

    // What an operator sees: `lwct status` over the same landing zone.
    let status = zone.status().await?;
    narrator.check(
        "lwct status finds every account in place",
        status.is_clean(),
        status
            .drift
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    );

    let Narrator {
        out, steps, checks, ..
    } = narrator;
    write_summary(out, zone, &rows, &lacework, mapping.as_ref()).await?;
    let _ = writeln!(out, "\nStatus (lwct status):");
    for line in status.table().lines() {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(out, "\nChecks:");
    for check in &checks {
        let mark = if check.passed { "PASS" } else { "FAIL" };
        let _ = writeln!(out, "  {mark}  {}", check.name);
        if !check.passed {
            let _ = writeln!(out, "        {}", check.detail);
        }
    }
    let seconds = demo_started.elapsed().as_secs_f64();
    let _ = writeln!(
        out,
        "\nDemo took {seconds:.1} s. Function logs: {}",
        zone.options.work_dir.join("logs").display()
    );
    Ok(DemoReport {
        steps,
        checks,
        accounts,
        setup_response: created.response,
        seconds,
    })
}

/// Accounts, stack sets, integrations per sub-account and the mapping file.
async fn write_summary(
    out: &mut dyn Write,
    zone: &LandingZone,
    rows: &[String],
    lacework: &Value,
    mapping: Option<&Value>,
) -> Result<()> {
    let text = |value: &Value| value.as_str().unwrap_or("-").to_owned();
    let _ = writeln!(out, "\nAccounts:");
    let _ = writeln!(
        out,
        "  {:<16} {:<13} {:<15} {:<10} {:<9} {:<12} mapping file",
        "name", "id", "OU", "status", "instance", "registered"
    );
    for row in rows {
        let _ = writeln!(out, "{row}");
    }
    let _ = writeln!(out, "\nStack sets:");
    for set in state::stack_sets(zone.management()).await? {
        let _ = writeln!(
            out,
            "  {:<28} {} instance(s)",
            set.name,
            set.instances.len()
        );
    }
    let _ = writeln!(out, "\nLacework integrations per sub-account:");
    let mut per_scope: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for integration in state::lacework_integrations(lacework) {
        per_scope
            .entry(text(&integration["scope"]))
            .or_default()
            .push(format!(
                "{} {}",
                text(&integration["type"]),
                integration["awsAccountId"]
                    .as_str()
                    .map_or_else(|| text(&integration["name"]), str::to_owned)
            ));
    }
    for (scope, integrations) in &per_scope {
        let _ = writeln!(
            out,
            "  {scope:<6} ({}) {}",
            integrations.len(),
            integrations.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\nMapping file of the organization's CloudTrail integration:"
    );
    let Some(mapping) = mapping else {
        let _ = writeln!(out, "  none");
        return Ok(());
    };
    let default = text(&mapping["defaultLaceworkAccountAws"]);
    let _ = writeln!(out, "  default: {default}");
    for (name, entry) in mapping["integration_mappings"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let ids: Vec<String> = entry["aws_accounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        let _ = writeln!(out, "  {name}: {}", ids.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_ou_with_a_rule_decides() {
        assert_eq!(expected_sub_account("Workloads/Prod", "acme"), "prod");
        assert_eq!(expected_sub_account("Workloads/Dev/Team", "acme"), "dev");
        assert_eq!(expected_sub_account("Sandbox", "acme"), "acme");
        assert_eq!(ou_rules_variable(), "Prod=prod,Dev=dev");
    }
}
