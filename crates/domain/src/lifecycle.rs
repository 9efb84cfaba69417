//! The decisions of the `account-lifecycle` function, without I/O.
//!
//! The function reads one SQS batch from the account queue. Each record is either a batch of
//! existing accounts that `setup` queued ([`AccountWork`]), or an EventBridge event (Control
//! Tower lifecycle, Organizations account exits and moves), bare or in an SNS envelope.
//! [`read_message`] reads one record's body into a [`Message`]; [`plan`] takes every record
//! of the invocation, the organization tree, the member StackSet's instances and the
//! management account (each read once per invocation) and decides:
//!
//! * which member stack instances to create (all accounts of the batch in one operation: the
//!   instance has no per-account parameter, so one operation can cover thousands), which to
//!   repair and which to delete;
//! * which [`RegistrationWork`] to put on the paced registration queue (a move re-maps the
//!   account, an exit deregisters it);
//! * what happens to each record: acted on, acknowledged with the reason nothing was needed,
//!   retried later, or dead-lettered with the reason it cannot be read. Every record gets
//!   exactly one [`Fate`].
//!
//! Who decides the Lacework sub-account: not this function. The instance is the same in every
//! account; the registration drain resolves the sub-account from the OU when it registers. The
//! plan names the sub-account the rules give today only to make the logs useful.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::account::AccountId;
use crate::backoff::Backoff;
use crate::error::{Problem, json_type};
use crate::event::{self, LifecycleEvent, Parsed, State};
use crate::fate::Fate;
use crate::json::decode;
use crate::lacework::json_path;
use crate::mapping::{AccountStatus, OrganizationTree, OuRules};
use crate::registration::RegistrationWork;

/// The `type` of the batches of existing accounts `setup` queues.
pub const ONBOARD_ACCOUNTS: &str = "OnboardAccounts";

/// The `type` of the batches of accounts the reconcile found closed or gone with an instance.
pub const RETIRE_ACCOUNTS: &str = "RetireAccounts";

/// Work `setup` puts on the account queue, as JSON:
///
/// ```json
/// {"type": "OnboardAccounts", "source": "setup",
///  "accounts": [{"id": "222233334444", "name": "Log Archive"}]}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AccountWork {
    /// Onboard these accounts (create their member stack instances).
    OnboardAccounts {
        /// Which function queued it (`setup`).
        source: String,
        accounts: Vec<AccountToOnboard>,
    },
    /// These accounts closed or left the organization: retire their instances (keeping the
    /// stacks) and deregister them, as their `CloseAccount` event would have.
    RetireAccounts {
        /// Which function queued it (`sns-custom-resource`'s reconcile).
        source: String,
        accounts: Vec<AccountId>,
    },
}

impl AccountWork {
    /// The JSON message body.
    pub fn to_message(&self) -> String {
        // A plain enum of strings always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// How many accounts the batch names.
    pub fn account_count(&self) -> usize {
        match self {
            AccountWork::OnboardAccounts { accounts, .. } => accounts.len(),
            AccountWork::RetireAccounts { accounts, .. } => accounts.len(),
        }
    }
}

/// One account of an [`AccountWork::OnboardAccounts`] batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountToOnboard {
    pub id: AccountId,
    pub name: String,
}

/// The body of an account work message without its tag, read with paths (`source` is only
/// for the logs).
#[derive(Deserialize)]
struct WorkBody<A> {
    #[allow(dead_code)]
    source: String,
    accounts: Vec<A>,
}

/// What one record of the account queue asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Existing accounts to onboard, from `setup` or the reconcile.
    Onboard(Vec<AccountToOnboard>),
    /// Accounts that closed or left, from the reconcile.
    Retire(Vec<AccountId>),
    /// A lifecycle event (which may still need nothing: a `FAILED` state, an OU event).
    Event(LifecycleEvent),
    /// An event that does not concern us, and why.
    Ignored { reason: String },
    /// A body that cannot be read, and what is wrong with it (a JSON path and a problem).
    Unreadable { reason: String },
}

/// Reads one SQS body of the account queue. `path` is where the body sits in the delivery
/// (`$.Records[3].body`); problems name places below it. Never fails: a body that cannot be
/// read is [`Message::Unreadable`] with the reason.
pub fn read_message(body: Option<&str>, path: &str) -> Message {
    read_body(body, path).unwrap_or_else(|problem| Message::Unreadable {
        reason: problem.to_string(),
    })
}

fn read_body(body: Option<&str>, path: &str) -> Result<Message, Problem> {
    let text = body.ok_or_else(|| Problem::new(path, "is missing"))?;
    if text.trim().is_empty() {
        return Err(Problem::new(path, "is empty"));
    }
    let value = decode(text, path)?;
    // Account work carries `type`; EventBridge events never do, and SNS envelopes spell it
    // `Type`.
    if let Some(kind) = value.get("type") {
        return match kind.as_str() {
            Some(ONBOARD_ACCOUNTS) => read_work(value, path, ONBOARD_ACCOUNTS, Message::Onboard),
            Some(RETIRE_ACCOUNTS) => read_work(value, path, RETIRE_ACCOUNTS, Message::Retire),
            Some(other) => Err(Problem::new(
                format!("{path}.type"),
                format!(
                    "{other:?} is not account work; the account queue takes {ONBOARD_ACCOUNTS:?} and {RETIRE_ACCOUNTS:?} batches and EventBridge events"
                ),
            )),
            None => Err(Problem::new(
                format!("{path}.type"),
                format!(
                    "must be the string {ONBOARD_ACCOUNTS:?}, not {}",
                    json_type(kind)
                ),
            )),
        };
    }
    Ok(match event::parse_document(&value, path) {
        Ok(Parsed::Lifecycle(event)) => Message::Event(event),
        Ok(Parsed::Ignored { reason }) => Message::Ignored { reason },
        Err(err) => Message::Unreadable {
            reason: err.to_string(),
        },
    })
}

fn read_work<A: serde::de::DeserializeOwned>(
    value: Value,
    path: &str,
    kind: &str,
    message: impl FnOnce(Vec<A>) -> Message,
) -> Result<Message, Problem> {
    serde_path_to_error::deserialize::<_, WorkBody<A>>(value)
        .map(|body| message(body.accounts))
        .map_err(|err| {
            Problem::new(
                json_path(path, &err.path().to_string()),
                format!("not a well-formed {kind} batch: {}", err.inner()),
            )
        })
}

/// One record of the invocation: its SQS message id and what it asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub message_id: String,
    pub message: Message,
}

impl Received {
    /// Whether deciding about this record needs the organization and the instances (reading
    /// them is skipped when no record does).
    pub fn needs_findings(&self) -> bool {
        settle(&self.message).1.is_none()
    }
}

/// How old an organization tree may be to decide onboarding batches with, when every account
/// they name is an ACTIVE member in it. Setup queues its batches of 50 from one read of the
/// tree, and account-lifecycle takes them ten at a time: reading the whole tree again for each
/// invocation (a page per 20 accounts) cost about half an AWS call per account at 5,000
/// accounts. Lifecycle events, and a batch naming an account the tree does not show ACTIVE,
/// read it afresh.
pub const ONBOARD_TREE_MAX_AGE: Duration = Duration::from_secs(600);

/// Whether `tree` can decide `received` although it was read earlier: every record that
/// needs the tree is an onboarding batch (`setup`'s or the reconcile's, made from a tree read
/// moments before), and each account it names is ACTIVE in `tree`.
pub fn tree_serves(tree: &OrganizationTree, received: &[Received]) -> bool {
    let active = |account: &AccountToOnboard| {
        tree.account(&account.id)
            .is_some_and(|member| member.status == AccountStatus::Active)
    };
    received
        .iter()
        .filter(|record| record.needs_findings())
        .all(|record| match &record.message {
            Message::Onboard(accounts) => accounts.iter().all(active),
            _ => false,
        })
}

/// A member stack instance as far as the decisions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// Up to date with the StackSet.
    Current,
    /// An operation is working on it (`PENDING`, `RUNNING`).
    Busy,
    /// Left `OUTDATED` by an operation that failed or stopped: it must be applied again.
    Outdated,
    /// A delete failed and left it `INOPERABLE`; only a delete that retains the stack helps.
    Inoperable,
}

impl InstanceState {
    /// From `ListStackInstances`' `Status` (`CURRENT`, `OUTDATED`, `INOPERABLE`) and
    /// `StackInstanceStatus.DetailedStatus` (`PENDING`, `RUNNING`, `SUCCEEDED`, `FAILED`, ...).
    pub fn from_status(status: &str, detailed_status: Option<&str>) -> Self {
        match (status, detailed_status) {
            (_, Some("PENDING" | "RUNNING")) => Self::Busy,
            ("INOPERABLE", _) => Self::Inoperable,
            ("OUTDATED", _) => Self::Outdated,
            _ => Self::Current,
        }
    }
}

/// What the invocation found, each read once: the organization, the member StackSet's
/// instances in this region, and the rules that say which sub-account an OU goes to.
#[derive(Debug, Clone, Copy)]
pub struct Findings<'a> {
    pub tree: &'a OrganizationTree,
    /// StackSets cannot reach the management account through `AWSControlTowerExecution`.
    pub management: &'a AccountId,
    pub rules: &'a OuRules,
    /// The member StackSet's instances in this function's region, by account.
    pub instances: &'a BTreeMap<AccountId, InstanceState>,
    /// Whether accounts get a member instance at all (configuration assessment is on); when
    /// it is off, moves and exits still change the registrations (the CloudTrail mapping).
    pub member_instances: bool,
}

/// The plan for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPlan {
    pub message_id: String,
    pub fate: Fate,
    /// One line per account the record names: what was decided and why.
    pub notes: Vec<String>,
}

/// Member stack instances to create, repair or delete in one StackSet operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceChange {
    /// Sorted, each once.
    pub accounts: Vec<AccountId>,
    /// The records (positions in the invocation) that asked for it.
    pub records: Vec<usize>,
    /// Names this exact request: the sorted accounts and the message ids of its records. A
    /// redelivery of the same messages gets the same tag (and so the same operation id); a
    /// new message about the same accounts gets a new one.
    pub request_tag: String,
}

/// Registration work to queue, and the records that asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRegistration {
    pub work: RegistrationWork,
    pub records: Vec<usize>,
}

/// Everything one invocation does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// One per record, in the order received.
    pub records: Vec<RecordPlan>,
    /// The member instances to change, by what is done to them: new ones
    /// (`CreateStackInstances`), ones left `OUTDATED` by a failed operation, applied again
    /// (`UpdateStackInstances`), and those of accounts that left or closed
    /// (`DeleteStackInstances`, stacks retained).
    pub instances: BTreeMap<InstanceAction, InstanceChange>,
    /// Work for the registration queue, one per account and kind.
    pub registrations: Vec<PlannedRegistration>,
}

/// What an [`InstanceChange`] does (in this order: creations, repairs, deletions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InstanceAction {
    Create,
    Repair,
    Delete,
}

impl InstanceAction {
    /// The word used in operation ids and logs.
    pub fn word(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Repair => "repair",
            Self::Delete => "delete",
        }
    }
}

impl fmt::Display for InstanceAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// What a record asks about one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Intent {
    /// It should be monitored: make sure it has its instance.
    Ensure,
    /// It may sit under another OU now: re-map its registration.
    Remap,
    /// It closed or left the organization.
    Exit,
}

fn intents_of(event: &LifecycleEvent) -> Vec<(AccountId, Intent)> {
    match event {
        LifecycleEvent::CreateManagedAccount(change) if change.state == State::Succeeded => {
            vec![(change.account.id.clone(), Intent::Ensure)]
        }
        LifecycleEvent::UpdateManagedAccount(change) if change.state == State::Succeeded => vec![
            (change.account.id.clone(), Intent::Ensure),
            (change.account.id.clone(), Intent::Remap),
        ],
        LifecycleEvent::MoveAccount(moved) => vec![
            (moved.account_id.clone(), Intent::Ensure),
            (moved.account_id.clone(), Intent::Remap),
        ],
        LifecycleEvent::CloseAccount(exit)
        | LifecycleEvent::RemoveAccountFromOrganization(exit) => {
            vec![(exit.account_id.clone(), Intent::Exit)]
        }
        _ => Vec::new(),
    }
}

/// Why an event that is read fine needs nothing.
fn nothing_to_do(event: &LifecycleEvent) -> String {
    match event.state() {
        Some(State::Failed { message }) => format!(
            "{event}: Control Tower did not finish, so there is nothing to onboard or change; the event that reports its success will be acted on{}",
            if message.is_some() {
                ""
            } else {
                " (no failure message given)"
            }
        ),
        _ => format!("{event}: does not change which accounts are monitored"),
    }
}

/// The cause written into registration work: the event id when there is one.
fn cause_of(message_id: &str, message: &Message) -> String {
    match message {
        Message::Event(event) => {
            let origin = event.origin();
            let id = origin
                .event_id
                .as_deref()
                .or(origin.cloudtrail_event_id.as_deref())
                .unwrap_or(message_id);
            format!("lifecycle:{} {id}", event.name())
        }
        _ => format!("account-queue:{message_id}"),
    }
}

/// What a record asks about which accounts, or - when it names none - its fate.
fn settle(message: &Message) -> (Vec<(AccountId, Intent)>, Option<Fate>) {
    let settled = |fate: Fate| (Vec::new(), Some(fate));
    let acknowledge = |reason: String| settled(Fate::Done { note: Some(reason) });
    let mut intents = match message {
        Message::Unreadable { reason } => {
            return settled(Fate::DeadLetter {
                reason: reason.clone(),
            });
        }
        Message::Ignored { reason } => return acknowledge(reason.clone()),
        Message::Onboard(accounts) if accounts.is_empty() => {
            return acknowledge(format!("an {ONBOARD_ACCOUNTS} batch without accounts"));
        }
        Message::Onboard(accounts) => accounts
            .iter()
            .map(|account| (account.id.clone(), Intent::Ensure))
            .collect(),
        Message::Retire(accounts) if accounts.is_empty() => {
            return acknowledge(format!("a {RETIRE_ACCOUNTS} batch without accounts"));
        }
        Message::Retire(accounts) => accounts
            .iter()
            .map(|account| (account.clone(), Intent::Exit))
            .collect(),
        Message::Event(event) => {
            let intents = intents_of(event);
            if intents.is_empty() {
                return acknowledge(nothing_to_do(event));
            }
            intents
        }
    };
    intents.sort();
    intents.dedup();
    (intents, None)
}

/// The plan when the organization or the instances could not be read: records that need
/// them come back later (`reason` says why), the others are settled as [`plan`] would; no
/// instance changes, no registration work.
pub fn plan_without_findings(records: &[Received], reason: &str) -> Plan {
    let records = records
        .iter()
        .map(|record| RecordPlan {
            message_id: record.message_id.clone(),
            fate: settle(&record.message).1.unwrap_or_else(|| Fate::Retry {
                reason: reason.to_owned(),
            }),
            notes: Vec::new(),
        })
        .collect();
    Plan {
        records,
        ..Plan::default()
    }
}

/// Decides what the invocation does; see the module documentation.
pub fn plan(records: &[Received], findings: &Findings<'_>) -> Plan {
    // What each record asks, account by account.
    let (asked, mut fates): (Vec<_>, Vec<_>) =
        records.iter().map(|record| settle(&record.message)).unzip();

    // Accounts leaving: named by an exit event, or found closing or closed in the tree. An
    // exit wins over anything else asked about the same account in this invocation.
    let leaving: BTreeSet<&AccountId> = asked
        .iter()
        .flatten()
        .filter(|(account, intent)| {
            *intent == Intent::Exit
                || findings.tree.account(account).is_some_and(|member| {
                    matches!(
                        member.status,
                        AccountStatus::Suspended
                            | AccountStatus::PendingClosure
                            | AccountStatus::Closed
                    )
                })
        })
        .map(|(account, _)| account)
        .collect();

    let mut changes = InstanceChanges::new();
    let mut registrations: BTreeMap<(u8, AccountId), (RegistrationWork, BTreeSet<usize>)> =
        BTreeMap::new();
    let mut notes: Vec<Vec<String>> = vec![Vec::new(); records.len()];
    let mut retry: Vec<Option<String>> = vec![None; records.len()];

    for (index, intents) in asked.iter().enumerate() {
        let record = &records[index];
        let cause = || cause_of(&record.message_id, &record.message);
        // Registration work, one per account and kind (deregistrations first).
        let mut ask = |order: u8, work: RegistrationWork| {
            registrations
                .entry((order, work.account().clone()))
                .or_insert((work, BTreeSet::new()))
                .1
                .insert(index);
        };
        let note = &mut notes[index];
        let mut by_account: BTreeMap<&AccountId, BTreeSet<Intent>> = BTreeMap::new();
        for (account, intent) in intents {
            by_account.entry(account).or_default().insert(*intent);
        }
        for (account, wanted) in by_account {
            let member = findings.tree.account(account);
            if leaving.contains(account) {
                let status = member.map_or("not in the organization", |m| m.status.as_aws());
                if findings.member_instances && findings.instances.contains_key(account) {
                    change(&mut changes, InstanceAction::Delete, account, index);
                    note.push(format!(
                        "{account} ({status}) is leaving: delete its member instance, keeping the stack (the account can no longer be reached), and deregister it"
                    ));
                } else {
                    note.push(format!(
                        "{account} ({status}) is leaving: it has no member instance here; deregister it"
                    ));
                }
                ask(
                    0,
                    RegistrationWork::Deregister {
                        account: account.clone(),
                        cause: cause(),
                    },
                );
                continue;
            }
            let Some(member) = member else {
                note.push(format!(
                    "{account} is not in the organization (any more); nothing to onboard or re-map"
                ));
                continue;
            };
            if member.status != AccountStatus::Active {
                // Not active yet (PENDING_ACTIVATION): it will be, so look again later.
                let reason = format!(
                    "{account} is {} in the organization, not ACTIVE yet",
                    member.status.as_aws()
                );
                note.push(reason.clone());
                retry[index].get_or_insert(reason);
                continue;
            }
            if wanted.contains(&Intent::Remap) {
                ask(
                    1,
                    RegistrationWork::Remap {
                        account: account.clone(),
                        cause: cause(),
                    },
                );
                note.push(format!(
                    "{account} may sit under another OU: re-map its registration ({})",
                    sub_account_words(findings, account)
                ));
            }
            if wanted.contains(&Intent::Ensure) {
                note.push(ensure_instance(findings, account, index, &mut changes));
            }
        }
    }

    let instances: BTreeMap<InstanceAction, InstanceChange> = changes
        .into_iter()
        .map(|(action, accounts)| (action, instance_change(records, accounts)))
        .collect();
    let registrations: Vec<PlannedRegistration> = registrations
        .into_values()
        .map(|(work, records)| PlannedRegistration {
            work,
            records: records.into_iter().collect(),
        })
        .collect();

    let mut acting: BTreeSet<usize> = BTreeSet::new();
    for change in instances.values() {
        acting.extend(change.records.iter().copied());
    }
    for planned in &registrations {
        acting.extend(planned.records.iter().copied());
    }

    let records = records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let notes = std::mem::take(&mut notes[index]);
            let fate = match (fates[index].take(), retry[index].take()) {
                (Some(settled), _) => settled,
                (None, Some(reason)) => Fate::Retry { reason },
                (None, None) if acting.contains(&index) => Fate::DONE,
                (None, None) => Fate::Done {
                    note: Some(if notes.is_empty() {
                        "nothing to do".to_owned()
                    } else {
                        notes.join("; ")
                    }),
                },
            };
            RecordPlan {
                message_id: record.message_id.clone(),
                fate,
                notes,
            }
        })
        .collect();

    Plan {
        records,
        instances,
        registrations,
    }
}

/// Decides whether an ACTIVE account that stays needs its member instance created or
/// repaired; returns the note for the logs.
fn ensure_instance(
    findings: &Findings<'_>,
    account: &AccountId,
    index: usize,
    changes: &mut InstanceChanges,
) -> String {
    if account == findings.management {
        return format!(
            "{account} is the management account: StackSets cannot deploy there through AWSControlTowerExecution, so it gets no member instance"
        );
    }
    if !findings.member_instances {
        return format!(
            "{account}: configuration assessment is off, so accounts get no member instance"
        );
    }
    match findings.instances.get(account) {
        None => {
            change(changes, InstanceAction::Create, account, index);
            format!(
                "{account}: create its member instance ({} when it registers)",
                sub_account_words(findings, account)
            )
        }
        Some(InstanceState::Outdated) => {
            change(changes, InstanceAction::Repair, account, index);
            format!(
                "{account}: its member instance is OUTDATED (an operation failed or stopped): apply it again"
            )
        }
        Some(InstanceState::Current) => format!("{account} already has its member instance"),
        Some(InstanceState::Busy) => {
            format!("{account}: an operation is already working on its member instance")
        }
        Some(InstanceState::Inoperable) => format!(
            "{account}: its member instance is INOPERABLE (a delete failed); an operator must delete it, retaining the stack, before it can be created again"
        ),
    }
}

/// The sub-account the rules give the account today, in words for the logs.
fn sub_account_words(findings: &Findings<'_>, account: &AccountId) -> String {
    match findings.rules.sub_account_for(findings.tree, account) {
        Ok(Some(sub_account)) => format!("sub-account {sub_account} by its OU"),
        Ok(None) => "the default sub-account".to_owned(),
        Err(err) => format!("sub-account unknown: {err}"),
    }
}

/// The accounts whose member instance each action changes, with the records asking for it.
type InstanceChanges = BTreeMap<InstanceAction, BTreeMap<AccountId, BTreeSet<usize>>>;

/// Record `index` asks for `action` on the member instance of `account`.
fn change(
    changes: &mut InstanceChanges,
    action: InstanceAction,
    account: &AccountId,
    index: usize,
) {
    let accounts = changes.entry(action).or_default();
    accounts.entry(account.clone()).or_default().insert(index);
}

fn instance_change(
    records: &[Received],
    accounts: BTreeMap<AccountId, BTreeSet<usize>>,
) -> InstanceChange {
    let indices: BTreeSet<usize> = accounts.values().flatten().copied().collect();
    let message_ids: BTreeSet<&str> = indices
        .iter()
        .filter_map(|index| records.get(*index))
        .map(|record| record.message_id.as_str())
        .collect();
    // The accounts, then the message ids.
    let request_tag = accounts
        .keys()
        .map(AccountId::as_str)
        .chain(message_ids)
        .collect::<Vec<_>>()
        .join("-");
    InstanceChange {
        accounts: accounts.into_keys().collect(),
        records: indices.into_iter().collect(),
        request_tag,
    }
}

/// How long a record that must come back waits before the queue hands it out again, in
/// seconds: 30 s after the first receive, doubling with every receive up to an hour, plus up
/// to a fifth more, derived from the message id so that records that failed together do not
/// all come back at the same moment (and the same record always waits the same).
pub fn retry_delay_seconds(receive_count: u32, message_id: &str) -> u32 {
    const RECORD_RETRY: Backoff = Backoff::new(Duration::from_secs(30), Duration::from_secs(3_600));
    let delay = RECORD_RETRY.spread(receive_count, message_id);
    u32::try_from(delay.as_secs()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::event::{AccountExit, AccountMove, ManagedAccountChange, Origin};
    use crate::mapping::{OrganizationAccount, OrganizationalUnit};

    const MANAGEMENT: &str = "111111111111";

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../events/lifecycle/", $name))
        };
    }

    fn id(n: u64) -> AccountId {
        AccountId::parse(&format!("{n:012}")).unwrap()
    }

    fn tree(accounts: &[(u64, AccountStatus, &str)]) -> OrganizationTree {
        let mut tree = OrganizationTree::new("r-ab12");
        tree.add_unit(OrganizationalUnit {
            id: "ou-ab12-11111111".into(),
            name: "Workloads".into(),
            parent_id: "r-ab12".into(),
        });
        tree.add_unit(OrganizationalUnit {
            id: "ou-ab12-22222222".into(),
            name: "Sandbox".into(),
            parent_id: "r-ab12".into(),
        });
        tree.add_account(OrganizationAccount {
            id: AccountId::parse(MANAGEMENT).unwrap(),
            name: "management".into(),
            parent_id: "r-ab12".into(),
            status: AccountStatus::Active,
        });
        for (n, status, parent) in accounts {
            tree.add_account(OrganizationAccount {
                id: id(*n),
                name: format!("account {n}"),
                parent_id: (*parent).into(),
                status: *status,
            });
        }
        tree
    }

    #[derive(Debug)]
    struct World {
        tree: OrganizationTree,
        management: AccountId,
        rules: OuRules,
        instances: BTreeMap<AccountId, InstanceState>,
        member_instances: bool,
    }

    impl World {
        fn new(accounts: &[(u64, AccountStatus, &str)]) -> Self {
            Self {
                tree: tree(accounts),
                management: AccountId::parse(MANAGEMENT).unwrap(),
                rules: OuRules::parse("Workloads=prod").unwrap(),
                instances: BTreeMap::new(),
                member_instances: true,
            }
        }

        fn findings(&self) -> Findings<'_> {
            Findings {
                tree: &self.tree,
                management: &self.management,
                rules: &self.rules,
                instances: &self.instances,
                member_instances: self.member_instances,
            }
        }

        /// What the instance changes of a plan leave behind, as a StackSet would.
        fn apply(&mut self, plan: &Plan) {
            for change in [
                planned(plan, InstanceAction::Create),
                planned(plan, InstanceAction::Repair),
            ]
            .into_iter()
            .flatten()
            {
                for account in &change.accounts {
                    self.instances
                        .insert(account.clone(), InstanceState::Current);
                }
            }
            if let Some(change) = planned(plan, InstanceAction::Delete) {
                for account in &change.accounts {
                    self.instances.remove(account);
                }
            }
        }
    }

    fn received(message_id: &str, message: Message) -> Received {
        Received {
            message_id: message_id.into(),
            message,
        }
    }

    fn onboard(ids: &[u64]) -> Message {
        Message::Onboard(
            ids.iter()
                .map(|n| AccountToOnboard {
                    id: id(*n),
                    name: format!("account {n}"),
                })
                .collect(),
        )
    }

    #[test]
    fn a_kept_tree_serves_only_onboarding_batches_of_accounts_active_in_it() {
        let kept = tree(&[
            (2, AccountStatus::Active, "ou-ab12-11111111"),
            (3, AccountStatus::Suspended, "ou-ab12-11111111"),
        ]);
        let ignored = received(
            "m-0",
            Message::Ignored {
                reason: "not ours".into(),
            },
        );
        assert!(tree_serves(
            &kept,
            &[received("m-1", onboard(&[2])), ignored]
        ));
        assert!(tree_serves(&kept, &[]));
        // Not ACTIVE in it, or not in it: the tree may be out of date for them.
        assert!(!tree_serves(&kept, &[received("m-1", onboard(&[2, 3]))]));
        assert!(!tree_serves(&kept, &[received("m-1", onboard(&[4]))]));
        // Anything else is decided on the organization as it is now.
        assert!(!tree_serves(
            &kept,
            &[
                received("m-1", onboard(&[2])),
                received("m-2", Message::Retire(vec![id(2)])),
            ]
        ));
    }

    fn origin(event_id: &str) -> Origin {
        Origin {
            event_id: Some(event_id.into()),
            ..Origin::default()
        }
    }

    fn managed(n: u64, state: State) -> ManagedAccountChange {
        ManagedAccountChange {
            state,
            account: crate::event::Account {
                id: id(n),
                name: format!("account {n}"),
            },
            organizational_unit: crate::event::OrganizationalUnit {
                id: "ou-ab12-11111111".into(),
                name: "Workloads".into(),
            },
            origin: origin(&format!("event-{n}")),
        }
    }

    fn created(n: u64) -> Message {
        Message::Event(LifecycleEvent::CreateManagedAccount(managed(
            n,
            State::Succeeded,
        )))
    }

    fn updated(n: u64) -> Message {
        Message::Event(LifecycleEvent::UpdateManagedAccount(managed(
            n,
            State::Succeeded,
        )))
    }

    fn moved(n: u64) -> Message {
        Message::Event(LifecycleEvent::MoveAccount(AccountMove {
            account_id: id(n),
            source_parent_id: "ou-ab12-22222222".into(),
            destination_parent_id: "ou-ab12-11111111".into(),
            origin: origin(&format!("move-{n}")),
        }))
    }

    fn closed(n: u64) -> Message {
        Message::Event(LifecycleEvent::CloseAccount(AccountExit {
            account_id: id(n),
            origin: origin(&format!("close-{n}")),
        }))
    }

    fn removed(n: u64) -> Message {
        Message::Event(LifecycleEvent::RemoveAccountFromOrganization(AccountExit {
            account_id: id(n),
            origin: origin(&format!("remove-{n}")),
        }))
    }

    fn accounts(change: Option<&InstanceChange>) -> Vec<AccountId> {
        change.map(|c| c.accounts.clone()).unwrap_or_default()
    }

    fn planned(plan: &Plan, action: InstanceAction) -> Option<&InstanceChange> {
        plan.instances.get(&action)
    }

    const WORKLOADS: &str = "ou-ab12-11111111";

    // --- reading ---------------------------------------------------------------------------

    #[test]
    fn a_retire_batch_retires_accounts_even_those_the_organization_no_longer_has() {
        let body =
            r#"{"type": "RetireAccounts", "source": "reconcile", "accounts": ["222233334444"]}"#;
        let message = read_message(Some(body), "$.Records[0].body");
        assert_eq!(
            message,
            Message::Retire(vec![AccountId::parse("222233334444").unwrap()])
        );
        let work = AccountWork::RetireAccounts {
            source: "reconcile".into(),
            accounts: vec![AccountId::parse("222233334444").unwrap()],
        };
        let value: Value = serde_json::to_value(&work).unwrap();
        assert_eq!(value["type"], "RetireAccounts");
        let (intents, fate) = settle(&message);
        assert_eq!(fate, None);
        assert_eq!(
            intents,
            [(AccountId::parse("222233334444").unwrap(), Intent::Exit)]
        );
        let broken = read_message(
            Some(r#"{"type": "RetireAccounts", "source": "reconcile", "accounts": [7]}"#),
            "$.Records[0].body",
        );
        assert!(
            matches!(&broken, Message::Unreadable { reason } if reason.starts_with("$.Records[0].body.accounts[0]")),
            "{broken:?}"
        );
    }

    #[test]
    fn reads_setup_batches_in_the_agreed_shape() {
        let work = AccountWork::OnboardAccounts {
            source: "setup".into(),
            accounts: vec![AccountToOnboard {
                id: id(222233334444),
                name: "Log Archive".into(),
            }],
        };
        let body = serde_json::to_string(&work).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"type": "OnboardAccounts", "source": "setup",
                   "accounts": [{"id": "222233334444", "name": "Log Archive"}]})
        );
        assert_eq!(
            read_message(Some(&body), "$.Records[0].body"),
            onboard_named(222233334444, "Log Archive")
        );
    }

    fn onboard_named(n: u64, name: &str) -> Message {
        Message::Onboard(vec![AccountToOnboard {
            id: id(n),
            name: name.into(),
        }])
    }

    #[test]
    fn reads_events_bare_and_in_sns() {
        let Message::Event(event) = read_message(
            Some(fixture!("create-managed-account-succeeded.json")),
            "$.Records[0].body",
        ) else {
            panic!()
        };
        assert_eq!(event.name(), "CreateManagedAccount");
        let sns = json!({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:111111111111:t",
                         "Message": fixture!("move-account.json")});
        let Message::Event(event) = read_message(Some(&sns.to_string()), "$") else {
            panic!()
        };
        assert_eq!(event.name(), "MoveAccount");
        assert!(matches!(
            read_message(Some(fixture!("ec2-instance-state-change.json")), "$"),
            Message::Ignored { .. }
        ));
    }

    #[test]
    fn unreadable_bodies_say_where_and_what() {
        let reason = |body: Option<&str>| match read_message(body, "$.Records[2].body") {
            Message::Unreadable { reason } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(None), "$.Records[2].body: is missing");
        assert_eq!(reason(Some("  ")), "$.Records[2].body: is empty");
        let not_json = reason(Some("account 222233334444 please"));
        assert!(
            not_json.starts_with("$.Records[2].body: is not JSON"),
            "{not_json}"
        );
        assert!(!not_json.contains("222233334444"), "{not_json}");
        let bad_id = reason(Some(
            r#"{"type":"OnboardAccounts","source":"setup","accounts":[{"id":"1","name":"x"}]}"#,
        ));
        assert!(
            bad_id.starts_with("$.Records[2].body.accounts[0].id"),
            "{bad_id}"
        );
        let other = reason(Some(r#"{"type":"Register","account":"222233334444"}"#));
        assert!(other.starts_with("$.Records[2].body.type"), "{other}");
        assert!(other.contains("\"Register\""), "{other}");
        let number = reason(Some(r#"{"type": 7}"#));
        assert!(number.contains("not a number"), "{number}");
        let event = reason(Some(fixture!("broken-missing-service-event-details.json")));
        assert!(
            event.contains("$.Records[2].body.detail.serviceEventDetails"),
            "{event}"
        );
    }

    // --- deciding --------------------------------------------------------------------------

    #[test]
    fn new_accounts_of_a_batch_are_created_in_one_change() {
        let world = World::new(&[
            (2, AccountStatus::Active, WORKLOADS),
            (3, AccountStatus::Active, "r-ab12"),
            (4, AccountStatus::Active, WORKLOADS),
        ]);
        let records = [received("m1", created(2)), received("m2", onboard(&[3, 4]))];
        let plan = plan(&records, &world.findings());
        let create = planned(&plan, InstanceAction::Create).unwrap();
        assert_eq!(create.accounts, [id(2), id(3), id(4)]);
        assert_eq!(create.records, [0, 1]);
        assert_eq!(
            create.request_tag,
            "000000000002-000000000003-000000000004-m1-m2"
        );
        assert!(
            planned(&plan, InstanceAction::Repair).is_none()
                && planned(&plan, InstanceAction::Delete).is_none()
        );
        assert!(plan.registrations.is_empty());
        assert!(plan.records.iter().all(|r| r.fate == Fate::DONE));
        assert!(
            plan.records[0].notes[0].contains("sub-account prod"),
            "{:?}",
            plan.records[0]
        );
        assert!(
            plan.records[1].notes[0].contains("default sub-account"),
            "{:?}",
            plan.records[1]
        );
    }

    #[test]
    fn existing_busy_and_outdated_instances() {
        let mut world = World::new(&[
            (2, AccountStatus::Active, WORKLOADS),
            (3, AccountStatus::Active, WORKLOADS),
            (4, AccountStatus::Active, WORKLOADS),
            (5, AccountStatus::Active, WORKLOADS),
        ]);
        world.instances.insert(id(2), InstanceState::Current);
        world.instances.insert(id(3), InstanceState::Busy);
        world.instances.insert(id(4), InstanceState::Outdated);
        world.instances.insert(id(5), InstanceState::Inoperable);
        let records = [received("m", onboard(&[2, 3, 4, 5]))];
        let plan = plan(&records, &world.findings());
        assert!(planned(&plan, InstanceAction::Create).is_none());
        assert_eq!(accounts(planned(&plan, InstanceAction::Repair)), [id(4)]);
        assert_eq!(plan.records[0].fate, Fate::DONE);
        let notes = plan.records[0].notes.join("\n");
        assert!(notes.contains("already has"), "{notes}");
        assert!(notes.contains("already working"), "{notes}");
        assert!(notes.contains("INOPERABLE"), "{notes}");
    }

    #[test]
    fn management_account_and_disabled_capability_get_no_instance() {
        let mut world = World::new(&[(2, AccountStatus::Active, WORKLOADS)]);
        let records = [received("m", onboard(&[111_111_111_111, 2]))];
        let first = plan(&records, &world.findings());
        assert_eq!(accounts(planned(&first, InstanceAction::Create)), [id(2)]);
        assert!(
            first.records[0].notes[1].contains("management account"),
            "{first:?}"
        );

        world.member_instances = false;
        let second = plan(&records, &world.findings());
        assert!(planned(&second, InstanceAction::Create).is_none());
        let Fate::Done { note: Some(reason) } = &second.records[0].fate else {
            panic!("{second:?}")
        };
        assert!(
            reason.contains("configuration assessment is off"),
            "{reason}"
        );
    }

    #[test]
    fn moves_remap_and_make_sure_of_the_instance() {
        let mut world = World::new(&[
            (2, AccountStatus::Active, WORKLOADS),
            (3, AccountStatus::Active, WORKLOADS),
        ]);
        world.instances.insert(id(2), InstanceState::Current);
        let records = [received("a", updated(2)), received("b", moved(3))];
        let plan = plan(&records, &world.findings());
        assert_eq!(accounts(planned(&plan, InstanceAction::Create)), [id(3)]);
        let works: Vec<&RegistrationWork> = plan.registrations.iter().map(|p| &p.work).collect();
        assert_eq!(
            works,
            [
                &RegistrationWork::Remap {
                    account: id(2),
                    cause: "lifecycle:UpdateManagedAccount event-2".into()
                },
                &RegistrationWork::Remap {
                    account: id(3),
                    cause: "lifecycle:MoveAccount move-3".into()
                },
            ]
        );
        assert!(plan.records.iter().all(|r| r.fate == Fate::DONE));
    }

    #[test]
    fn exits_delete_the_instance_and_deregister() {
        let mut world = World::new(&[
            (2, AccountStatus::Active, WORKLOADS),
            (3, AccountStatus::Suspended, WORKLOADS),
            (4, AccountStatus::Active, WORKLOADS),
        ]);
        world.instances.insert(id(2), InstanceState::Current);
        world.instances.insert(id(3), InstanceState::Outdated);
        let records = [
            received("a", closed(2)),
            // Found SUSPENDED while asked to onboard it.
            received("b", onboard(&[3])),
            // Removed: no longer in the tree, and it never had an instance.
            received("c", removed(9)),
            // Closed and created in the same batch: the exit wins.
            received("d", created(4)),
            received("e", closed(4)),
        ];
        let plan = plan(&records, &world.findings());
        assert!(planned(&plan, InstanceAction::Create).is_none(), "{plan:?}");
        assert!(planned(&plan, InstanceAction::Repair).is_none(), "{plan:?}");
        let delete = planned(&plan, InstanceAction::Delete).cloned().unwrap();
        assert_eq!(delete.accounts, [id(2), id(3)]);
        assert_eq!(delete.records, [0, 1]);
        let deregistered: Vec<&AccountId> = plan
            .registrations
            .iter()
            .filter(|p| matches!(p.work, RegistrationWork::Deregister { .. }))
            .map(|p| p.work.account())
            .collect();
        assert_eq!(deregistered, [&id(2), &id(3), &id(4), &id(9)]);
        let for_4 = plan
            .registrations
            .iter()
            .find(|p| p.work.account() == &id(4))
            .unwrap();
        assert_eq!(for_4.records, [3, 4]);
        assert!(
            plan.records.iter().all(|r| r.fate == Fate::DONE),
            "{plan:?}"
        );
    }

    #[test]
    fn failed_states_other_events_and_garbage_are_settled_at_once() {
        let world = World::new(&[(2, AccountStatus::Active, WORKLOADS)]);
        let failed = Message::Event(LifecycleEvent::CreateManagedAccount(managed(
            2,
            State::Failed {
                message: Some("AWS Control Tower cannot create an account".into()),
            },
        )));
        let records = [
            received("a", failed),
            received(
                "b",
                Message::Ignored {
                    reason: "an EC2 event".into(),
                },
            ),
            received(
                "c",
                Message::Unreadable {
                    reason: "$.Records[2].body: is not JSON".into(),
                },
            ),
            received("d", Message::Onboard(Vec::new())),
        ];
        let plan = plan(&records, &world.findings());
        assert!(planned(&plan, InstanceAction::Create).is_none() && plan.registrations.is_empty());
        let Fate::Done { note: Some(reason) } = &plan.records[0].fate else {
            panic!()
        };
        assert!(reason.contains("CreateManagedAccount FAILED"), "{reason}");
        assert!(reason.contains("cannot create an account"), "{reason}");
        assert_eq!(
            plan.records[1].fate,
            Fate::Done {
                note: Some("an EC2 event".into())
            }
        );
        assert_eq!(
            plan.records[2].fate,
            Fate::DeadLetter {
                reason: "$.Records[2].body: is not JSON".into()
            }
        );
        assert!(matches!(plan.records[3].fate, Fate::Done { note: Some(_) }));
        assert!(!records.iter().any(Received::needs_findings));
    }

    #[test]
    fn unknown_and_not_yet_active_accounts() {
        let world = World::new(&[(2, AccountStatus::PendingActivation, WORKLOADS)]);
        let records = [received("a", created(2)), received("b", created(7))];
        let plan = plan(&records, &world.findings());
        assert!(planned(&plan, InstanceAction::Create).is_none());
        assert!(matches!(plan.records[0].fate, Fate::Retry { .. }));
        let Fate::Done { note: Some(reason) } = &plan.records[1].fate else {
            panic!()
        };
        assert!(reason.contains("not in the organization"), "{reason}");
    }

    #[test]
    fn without_findings_only_records_that_need_none_are_settled() {
        let records = [
            received("a", created(2)),
            received(
                "b",
                Message::Ignored {
                    reason: "other".into(),
                },
            ),
            received(
                "c",
                Message::Unreadable {
                    reason: "$: is missing".into(),
                },
            ),
        ];
        assert!(records[0].needs_findings());
        let plan = plan_without_findings(&records, "Organizations is throttling");
        assert_eq!(
            plan.records[0].fate,
            Fate::Retry {
                reason: "Organizations is throttling".into()
            }
        );
        assert!(matches!(plan.records[1].fate, Fate::Done { note: Some(_) }));
        assert!(matches!(plan.records[2].fate, Fate::DeadLetter { .. }));
        assert!(plan.instances.is_empty() && plan.registrations.is_empty());
    }

    #[test]
    fn retry_delays_grow_to_an_hour_with_a_stable_spread() {
        let delays: Vec<u32> = (1..=9).map(|n| retry_delay_seconds(n, "m")).collect();
        for (n, delay) in delays.iter().enumerate() {
            let base = (30u32 << n).min(3_600);
            assert!((base..=base + base / 5).contains(delay), "{n}: {delay}");
        }
        assert_eq!(retry_delay_seconds(0, "m"), retry_delay_seconds(1, "m"));
        assert!(retry_delay_seconds(u32::MAX, "m") <= 4_320);
        assert_eq!(retry_delay_seconds(3, "abc"), retry_delay_seconds(3, "abc"));
        let spread: BTreeSet<u32> = (0..20)
            .map(|i| retry_delay_seconds(5, &format!("message-{i}")))
            .collect();
        assert!(spread.len() > 5, "{spread:?}");
    }

    #[test]
    fn instance_states_follow_the_listing() {
        assert_eq!(
            InstanceState::from_status("CURRENT", Some("SUCCEEDED")),
            InstanceState::Current
        );
        assert_eq!(
            InstanceState::from_status("OUTDATED", Some("RUNNING")),
            InstanceState::Busy
        );
        assert_eq!(
            InstanceState::from_status("OUTDATED", Some("PENDING")),
            InstanceState::Busy
        );
        assert_eq!(
            InstanceState::from_status("OUTDATED", Some("FAILED")),
            InstanceState::Outdated
        );
        assert_eq!(
            InstanceState::from_status("OUTDATED", None),
            InstanceState::Outdated
        );
        assert_eq!(
            InstanceState::from_status("INOPERABLE", Some("INOPERABLE")),
            InstanceState::Inoperable
        );
    }

    // --- properties ------------------------------------------------------------------------

    /// Accounts 2..=9 (status by position) plus the management account.
    const STATUSES: [AccountStatus; 5] = [
        AccountStatus::Active,
        AccountStatus::Active,
        AccountStatus::Suspended,
        AccountStatus::PendingClosure,
        AccountStatus::PendingActivation,
    ];

    fn any_message() -> impl Strategy<Value = Message> {
        let account = prop_oneof![2u64..=12, Just(111_111_111_111)];
        prop_oneof![
            proptest::collection::vec(account.clone(), 0..5).prop_map(|ids| onboard(&ids)),
            account.clone().prop_map(created),
            account.clone().prop_map(updated),
            account.clone().prop_map(moved),
            account.clone().prop_map(closed),
            account.clone().prop_map(removed),
            account.prop_map(
                |n| Message::Event(LifecycleEvent::UpdateManagedAccount(managed(
                    n,
                    State::Failed { message: None }
                )))
            ),
            Just(Message::Ignored {
                reason: "other".into()
            }),
            Just(Message::Unreadable {
                reason: "$: is not JSON".into()
            }),
        ]
    }

    fn any_world() -> impl Strategy<Value = World> {
        (
            proptest::collection::vec(0..STATUSES.len(), 8),
            proptest::collection::vec(0..5usize, 8),
            any::<bool>(),
        )
            .prop_map(|(statuses, instances, member_instances)| {
                let accounts: Vec<(u64, AccountStatus, &str)> = statuses
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (i as u64 + 2, STATUSES[*s], WORKLOADS))
                    .collect();
                let mut world = World::new(&accounts);
                for (i, state) in instances.iter().enumerate() {
                    let state = match state {
                        0 => InstanceState::Current,
                        1 => InstanceState::Busy,
                        2 => InstanceState::Outdated,
                        3 => InstanceState::Inoperable,
                        _ => continue,
                    };
                    world.instances.insert(id(i as u64 + 2), state);
                }
                world.member_instances = member_instances;
                world
            })
    }

    fn any_batch() -> impl Strategy<Value = Vec<Received>> {
        proptest::collection::vec(any_message(), 0..10).prop_map(|messages| {
            messages
                .into_iter()
                .enumerate()
                .map(|(i, message)| received(&format!("message-{i}"), message))
                .collect()
        })
    }

    proptest! {
        /// Every record ends in exactly one fate; records that act are in some change,
        /// and records that do not are in none.
        #[test]
        fn every_record_gets_exactly_one_outcome(world in any_world(), batch in any_batch()) {
            let plan = plan(&batch, &world.findings());
            prop_assert_eq!(plan.records.len(), batch.len());
            let mut referenced: BTreeSet<usize> = BTreeSet::new();
            for change in plan.instances.values() {
                referenced.extend(change.records.iter().copied());
                prop_assert!(!change.accounts.is_empty());
                prop_assert!(change.accounts.windows(2).all(|w| w[0] < w[1]));
                prop_assert!(!change.accounts.contains(&world.management));
            }
            for planned in &plan.registrations {
                referenced.extend(planned.records.iter().copied());
            }
            for (index, record) in plan.records.iter().enumerate() {
                prop_assert_eq!(&record.message_id, &batch[index].message_id);
                match &record.fate {
                    Fate::Done { note: None } => prop_assert!(referenced.contains(&index)),
                    Fate::Retry { .. } => {}
                    Fate::Done { note: Some(reason) } | Fate::DeadLetter { reason } => {
                        prop_assert!(!referenced.contains(&index), "{:?}", record);
                        prop_assert!(!reason.is_empty());
                    }
                }
                if matches!(batch[index].message, Message::Unreadable { .. }) {
                    prop_assert!(
                        matches!(record.fate, Fate::DeadLetter { .. }),
                        "{:?}",
                        record
                    );
                }
            }
            // An account is never both created and deleted, nor registered twice alike.
            let deleted = accounts(planned(&plan, InstanceAction::Delete));
            for account in accounts(planned(&plan, InstanceAction::Create)).iter().chain(&accounts(planned(&plan, InstanceAction::Repair))) {
                prop_assert!(!deleted.contains(account));
            }
            let keys: BTreeSet<(String, &AccountId)> = plan
                .registrations
                .iter()
                .map(|p| (format!("{:?}", std::mem::discriminant(&p.work)), p.work.account()))
                .collect();
            prop_assert_eq!(keys.len(), plan.registrations.len());
            if !world.member_instances {
                prop_assert!(planned(&plan, InstanceAction::Create).is_none() && planned(&plan, InstanceAction::Repair).is_none() && planned(&plan, InstanceAction::Delete).is_none());
            }
        }

        /// Once the instance changes of a plan have happened, the same batch delivered again
        /// changes no instance; and the same batch always gets the same request tags.
        #[test]
        fn a_redelivered_batch_plans_no_new_instance(mut world in any_world(), batch in any_batch()) {
            let first = plan(&batch, &world.findings());
            prop_assert_eq!(&plan(&batch, &world.findings()), &first);
            world.apply(&first);
            let second = plan(&batch, &world.findings());
            prop_assert!(planned(&second, InstanceAction::Create).is_none(), "{:?}", planned(&second, InstanceAction::Create));
            prop_assert!(planned(&second, InstanceAction::Repair).is_none(), "{:?}", planned(&second, InstanceAction::Repair));
            prop_assert!(planned(&second, InstanceAction::Delete).is_none(), "{:?}", planned(&second, InstanceAction::Delete));
        }
    }
}
