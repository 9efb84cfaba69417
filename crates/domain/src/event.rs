//! Control Tower lifecycle events and Organizations API calls, as the `account-lifecycle`
//! function and the CLI receive them.
//!
//! An event arrives bare from EventBridge, or wrapped: in an SNS event (one per record), in an
//! SQS event (one per record), or in an SQS event whose bodies are SNS notifications. [`parse`]
//! unwraps all of these; [`parse_message`] reads one record's body.
//!
//! Three outcomes, never a panic:
//! * an event we act on becomes a [`LifecycleEvent`];
//! * an event that does not concern us (another source, another Control Tower event, an API
//!   call that failed) is [`Parsed::Ignored`] with the reason;
//! * an event that claims to concern us but is malformed is an [`Error::Event`] whose path
//!   (`$.detail.serviceEventDetails`, `$.Records[2].body.detail...`) shows where.
//!
//! The JSON is walked by hand rather than deserialized into `aws_lambda_events`' Control Tower
//! types: those require every CloudTrail field (user agent, timestamps, ...) even though only a
//! few matter here, and serde's errors do not say where in the document the problem is. The
//! fixtures in `events/lifecycle/` are checked against those types in the tests instead.

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::account::AccountId;
use crate::error::{Error, json_type};
use crate::json::{At, decode};

/// `detail-type` of Control Tower lifecycle events.
const SERVICE_EVENT: &str = "AWS Service Event via CloudTrail";
/// `detail-type` of API calls recorded by CloudTrail (the Organizations calls).
const API_CALL: &str = "AWS API Call via CloudTrail";

/// Every event found in the input, in order: a bare EventBridge event gives one; an SNS envelope
/// gives one per record; an SQS event gives one per record (each record body an EventBridge
/// event or an SNS envelope of one).
///
/// One malformed record makes the whole input an error; a handler that must settle each SQS
/// record on its own calls [`parse_message`] per record instead.
pub fn parse(input: &serde_json::Value) -> Result<Vec<Parsed>, Error> {
    let root = At::root(input, Error::Event);
    root.object("an EventBridge event, or an SNS or SQS event carrying one")?;
    match root.field("Records") {
        None => Ok(vec![parse_document(input, "$")?]),
        Some(records) => records.items()?.iter().map(read_record).collect(),
    }
}

/// The text of one SQS record body or SNS message: an EventBridge event, or an SNS notification
/// carrying one. `path` is where the text sits in the delivery (for example
/// `$.Records[3].body`); problems are reported below it.
pub fn parse_message(text: &str, path: &str) -> Result<Parsed, Error> {
    parse_document(&decode(text, path).map_err(Error::Event)?, path)
}

/// [`parse_message`] of a message already read as JSON.
pub fn parse_document(value: &Value, path: &str) -> Result<Parsed, Error> {
    let at = At::new(value, path.to_owned(), Error::Event);
    if is_sns_notification(value) {
        read_sns_notification(&at)
    } else {
        read_event(&at)
    }
}

/// What an input event turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// An event this product acts on.
    Lifecycle(LifecycleEvent),
    /// An event that does not concern us.
    Ignored {
        /// Why it does not concern us, for the logs.
        reason: String,
    },
}

/// A lifecycle event shows as its own fields; an ignored one as `{"ignored": true, "reason": ..}`.
impl Serialize for Parsed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Parsed::Lifecycle(event) => event.serialize(serializer),
            Parsed::Ignored { reason } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("ignored", &true)?;
                map.serialize_entry("reason", reason)?;
                map.end()
            }
        }
    }
}

/// A Control Tower lifecycle event or an Organizations API call that changes which accounts
/// exist, where they sit, or how the landing zone looks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind")]
pub enum LifecycleEvent {
    /// Account Factory created (enrolled) an account.
    CreateManagedAccount(ManagedAccountChange),
    /// Account Factory updated an account, for example moved it to another OU.
    UpdateManagedAccount(ManagedAccountChange),
    /// Control Tower now governs an OU.
    RegisterOrganizationalUnit(OrganizationalUnitChange),
    /// Control Tower no longer governs an OU.
    DeregisterOrganizationalUnit(OrganizationalUnitChange),
    /// The landing zone was set up (its shared accounts and OUs exist).
    SetupLandingZone(LandingZoneChange),
    /// The landing zone was updated or repaired.
    UpdateLandingZone(LandingZoneChange),
    /// Organizations `CloseAccount`: the account is closing (then SUSPENDED).
    CloseAccount(AccountExit),
    /// Organizations `RemoveAccountFromOrganization`: the account leaves the organization.
    RemoveAccountFromOrganization(AccountExit),
    /// Organizations `MoveAccount`: the account now sits under another parent.
    MoveAccount(AccountMove),
}

/// The outcome of a Control Tower action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// Every step of the action completed.
    Succeeded,
    /// Some step failed; what the event names may be half done.
    Failed {
        /// Control Tower's explanation, when it gave one.
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

/// An AWS account as Control Tower names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// The 12-digit account id.
    pub id: AccountId,
    /// The account's name.
    pub name: String,
}

/// An organizational unit as Control Tower names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrganizationalUnit {
    /// `ou-<root part>-<own part>`.
    pub id: String,
    /// The OU's name.
    pub name: String,
}

/// Where an event came from; the ids make handling idempotent and logs traceable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The EventBridge event id (`$.id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// When EventBridge says it happened (`$.time`), as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// `$.region`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The CloudTrail record id (`$.detail.eventID`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloudtrail_event_id: Option<String>,
}

/// `CreateManagedAccount` or `UpdateManagedAccount`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManagedAccountChange {
    /// Whether the action succeeded.
    #[serde(flatten)]
    pub state: State,
    /// The account created or updated.
    pub account: Account,
    /// The OU the account is enrolled in (after the update, for an update).
    pub organizational_unit: OrganizationalUnit,
    /// Where the event came from.
    #[serde(flatten)]
    pub origin: Origin,
}

/// `RegisterOrganizationalUnit` or `DeregisterOrganizationalUnit`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrganizationalUnitChange {
    /// Whether the action succeeded.
    #[serde(flatten)]
    pub state: State,
    /// The OU (de)registered.
    pub organizational_unit: OrganizationalUnit,
    /// Where the event came from.
    #[serde(flatten)]
    pub origin: Origin,
}

/// `SetupLandingZone` or `UpdateLandingZone`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LandingZoneChange {
    /// Whether the action succeeded.
    #[serde(flatten)]
    pub state: State,
    /// The organization's root (`r-...`), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_id: Option<String>,
    /// The OUs Control Tower set up (for example Security and Sandbox).
    pub organizational_units: Vec<OrganizationalUnit>,
    /// The shared accounts (Audit, Log Archive).
    pub accounts: Vec<Account>,
    /// Where the event came from.
    #[serde(flatten)]
    pub origin: Origin,
}

/// `CloseAccount` or `RemoveAccountFromOrganization` that succeeded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountExit {
    /// The account leaving (`requestParameters.accountId`).
    pub account_id: AccountId,
    /// Where the event came from.
    #[serde(flatten)]
    pub origin: Origin,
}

/// `MoveAccount` that succeeded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountMove {
    /// The account moved (`requestParameters.accountId`).
    pub account_id: AccountId,
    /// The root or OU the account left.
    pub source_parent_id: String,
    /// The root or OU the account now sits under.
    pub destination_parent_id: String,
    /// Where the event came from.
    #[serde(flatten)]
    pub origin: Origin,
}

impl LifecycleEvent {
    /// The event's name as AWS spells it (`UpdateManagedAccount`, `MoveAccount`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::CreateManagedAccount(_) => "CreateManagedAccount",
            Self::UpdateManagedAccount(_) => "UpdateManagedAccount",
            Self::RegisterOrganizationalUnit(_) => "RegisterOrganizationalUnit",
            Self::DeregisterOrganizationalUnit(_) => "DeregisterOrganizationalUnit",
            Self::SetupLandingZone(_) => "SetupLandingZone",
            Self::UpdateLandingZone(_) => "UpdateLandingZone",
            Self::CloseAccount(_) => "CloseAccount",
            Self::RemoveAccountFromOrganization(_) => "RemoveAccountFromOrganization",
            Self::MoveAccount(_) => "MoveAccount",
        }
    }

    /// The one account the event is about; `None` for OU and landing zone events.
    pub fn account_id(&self) -> Option<&AccountId> {
        match self {
            Self::CreateManagedAccount(change) | Self::UpdateManagedAccount(change) => {
                Some(&change.account.id)
            }
            Self::CloseAccount(exit) | Self::RemoveAccountFromOrganization(exit) => {
                Some(&exit.account_id)
            }
            Self::MoveAccount(moved) => Some(&moved.account_id),
            Self::RegisterOrganizationalUnit(_)
            | Self::DeregisterOrganizationalUnit(_)
            | Self::SetupLandingZone(_)
            | Self::UpdateLandingZone(_) => None,
        }
    }

    /// The Control Tower outcome; `None` for Organizations calls (failed calls are ignored, so
    /// the ones that remain succeeded).
    pub fn state(&self) -> Option<&State> {
        self.state_and_origin().0
    }

    /// Event ids, time and region.
    pub fn origin(&self) -> &Origin {
        self.state_and_origin().1
    }

    fn state_and_origin(&self) -> (Option<&State>, &Origin) {
        match self {
            Self::CreateManagedAccount(c) | Self::UpdateManagedAccount(c) => {
                (Some(&c.state), &c.origin)
            }
            Self::RegisterOrganizationalUnit(c) | Self::DeregisterOrganizationalUnit(c) => {
                (Some(&c.state), &c.origin)
            }
            Self::SetupLandingZone(c) | Self::UpdateLandingZone(c) => (Some(&c.state), &c.origin),
            Self::CloseAccount(exit) | Self::RemoveAccountFromOrganization(exit) => {
                (None, &exit.origin)
            }
            Self::MoveAccount(moved) => (None, &moved.origin),
        }
    }
}

/// One line for logs and the CLI, for example
/// `UpdateManagedAccount SUCCEEDED: account 222233334444 (payments-prod) in OU ou-ab12-9f8e7d6c (Sandbox)`.
impl fmt::Display for LifecycleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            Self::CreateManagedAccount(change) | Self::UpdateManagedAccount(change) => write!(
                f,
                "{name} {}: account {} in OU {}{}",
                state_word(&change.state),
                change.account,
                change.organizational_unit,
                failure_suffix(&change.state)
            ),
            Self::RegisterOrganizationalUnit(change)
            | Self::DeregisterOrganizationalUnit(change) => write!(
                f,
                "{name} {}: OU {}{}",
                state_word(&change.state),
                change.organizational_unit,
                failure_suffix(&change.state)
            ),
            Self::SetupLandingZone(change) | Self::UpdateLandingZone(change) => {
                write!(f, "{name} {}: ", state_word(&change.state))?;
                if let Some(root) = &change.root_id {
                    write!(f, "root {root}, ")?;
                }
                write!(
                    f,
                    "{} OUs, {} accounts{}",
                    change.organizational_units.len(),
                    change.accounts.len(),
                    failure_suffix(&change.state)
                )
            }
            Self::CloseAccount(exit) | Self::RemoveAccountFromOrganization(exit) => {
                write!(f, "{name}: account {}", exit.account_id)
            }
            Self::MoveAccount(moved) => write!(
                f,
                "{name}: account {} from {} to {}",
                moved.account_id, moved.source_parent_id, moved.destination_parent_id
            ),
        }
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.id, self.name)
    }
}

impl fmt::Display for OrganizationalUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.id, self.name)
    }
}

fn state_word(state: &State) -> &'static str {
    match state {
        State::Succeeded => "SUCCEEDED",
        State::Failed { .. } => "FAILED",
    }
}

fn failure_suffix(state: &State) -> String {
    match state {
        State::Failed {
            message: Some(message),
        } => format!(": {message}"),
        _ => String::new(),
    }
}

fn ignored(reason: impl Into<String>) -> Parsed {
    Parsed::Ignored {
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Envelopes

/// One record of an SNS or SQS event.
fn read_record(record: &At<'_>) -> Result<Parsed, Error> {
    record.object("an SNS or SQS record")?;
    if let Some(sns) = record.field("Sns") {
        sns.object("an SNS message")?;
        return read_sns_notification(&sns);
    }
    if let Some(body) = record.field("body") {
        return parse_message(body.string()?, &body.path);
    }
    let source = record
        .field("eventSource")
        .or_else(|| record.field("EventSource"))
        .and_then(|source| source.value.as_str());
    match source {
        Some("aws:sqs") => {
            Err(record.child_problem("body", "is missing; an SQS record carries the event there"))
        }
        Some("aws:sns") => {
            Err(record.child_problem("Sns", "is missing; an SNS record carries the event there"))
        }
        Some(other) => Ok(ignored(format!(
            "{} comes from {other}, not from SNS or SQS",
            record.path
        ))),
        None => {
            Err(record
                .problem("is neither an SNS record (with `Sns`) nor an SQS record (with `body`)"))
        }
    }
}

/// Whether a decoded SQS body is an SNS message (the topic did not use raw delivery) rather
/// than the event itself. EventBridge events never carry these two fields.
fn is_sns_notification(value: &Value) -> bool {
    value.get("Type").is_some() && value.get("TopicArn").is_some()
}

/// An SNS message (`Type`, `Message`, ...), as in an SNS record or an SQS body.
fn read_sns_notification(sns: &At<'_>) -> Result<Parsed, Error> {
    if let Some(kind) = sns
        .optional_str("Type")?
        .filter(|kind| *kind != "Notification")
    {
        return Ok(ignored(format!(
            "{} is an SNS {kind} message, not a notification",
            sns.path
        )));
    }
    let message = sns.required("Message")?;
    let value = message.decoded()?;
    read_event(&At::new(&value, message.path, Error::Event))
}

// ---------------------------------------------------------------------------------------------
// EventBridge events

fn read_event(event: &At<'_>) -> Result<Parsed, Error> {
    event.object("an EventBridge event")?;
    let source = event.required_str("source")?;
    let detail_type = event.required_str("detail-type")?;
    match source {
        "aws.controltower" => read_control_tower(event, detail_type),
        "aws.organizations" => read_organizations(event, detail_type),
        other => Ok(ignored(format!(
            "a {detail_type:?} event from {other}; only aws.controltower and aws.organizations events concern account onboarding"
        ))),
    }
}

/// The key under `serviceEventDetails` that holds a Control Tower event's outcome: each event
/// has its own, named after it (`updateManagedAccountStatus`: an update's outcome is *not*
/// under `createManagedAccountStatus`).
fn status_key(name: &str) -> String {
    let mut letters = name.chars();
    let first = letters.next().map(|c| c.to_ascii_lowercase());
    format!("{}{}Status", first.unwrap_or_default(), letters.as_str())
}

/// What a Control Tower event's outcome is read as, and the event made of it.
enum Becomes {
    Account(fn(ManagedAccountChange) -> LifecycleEvent),
    Unit(fn(OrganizationalUnitChange) -> LifecycleEvent),
    LandingZone(fn(LandingZoneChange) -> LifecycleEvent),
}

/// The CloudTrail record an event carries in `detail`, and its `eventName`.
fn cloudtrail_record<'a>(event: &At<'a>) -> Result<(At<'a>, &'a str), Error> {
    let detail = event.required("detail")?;
    detail.object("a CloudTrail record")?;
    let name = detail.required_str("eventName")?;
    Ok((detail, name))
}

fn read_control_tower(event: &At<'_>, detail_type: &str) -> Result<Parsed, Error> {
    if detail_type != SERVICE_EVENT {
        return Ok(ignored(format!(
            "a Control Tower {detail_type:?} event; lifecycle events are {SERVICE_EVENT:?}"
        )));
    }
    let (detail, name) = cloudtrail_record(event)?;
    // The Control Tower lifecycle events this product acts on, and the event each becomes.
    let becomes = match name {
        "CreateManagedAccount" => Becomes::Account(LifecycleEvent::CreateManagedAccount),
        "UpdateManagedAccount" => Becomes::Account(LifecycleEvent::UpdateManagedAccount),
        "RegisterOrganizationalUnit" => Becomes::Unit(LifecycleEvent::RegisterOrganizationalUnit),
        "DeregisterOrganizationalUnit" => {
            Becomes::Unit(LifecycleEvent::DeregisterOrganizationalUnit)
        }
        "SetupLandingZone" => Becomes::LandingZone(LifecycleEvent::SetupLandingZone),
        "UpdateLandingZone" => Becomes::LandingZone(LifecycleEvent::UpdateLandingZone),
        _ => {
            return Ok(ignored(format!(
                "Control Tower lifecycle event {name} does not change which accounts are monitored"
            )));
        }
    };
    let origin = read_origin(event, &detail)?;
    let details = detail.required("serviceEventDetails")?;
    let found = details.object("the outcome of the Control Tower action")?;
    let key = status_key(name);
    let Some(status) = details.field(&key) else {
        let mut message = format!("is missing; {name} events carry their outcome there");
        if !found.is_empty() {
            let others: Vec<&str> = found.keys().map(String::as_str).collect();
            message.push_str(&format!(", this one has only {}", others.join(", ")));
        }
        return Err(details.child_problem(&key, message));
    };
    status.object("the outcome of the Control Tower action")?;
    let state = read_state(&status)?;

    let unit = || read_organizational_unit(&status.required("organizationalUnit")?);
    let event = match becomes {
        Becomes::Account(make) => {
            if let State::Failed { message } = &state {
                // An account that failed before Organizations gave it an id does not exist:
                // there is nothing to onboard or clean up.
                if lacks_account_id(&status) {
                    return Ok(ignored(format!(
                        "{name} FAILED before the account had an id ({}); there is no account to act on",
                        message.as_deref().unwrap_or("no message")
                    )));
                }
            }
            make(ManagedAccountChange {
                state,
                account: read_account(&status.required("account")?)?,
                organizational_unit: unit()?,
                origin,
            })
        }
        Becomes::Unit(make) => make(OrganizationalUnitChange {
            state,
            organizational_unit: unit()?,
            origin,
        }),
        Becomes::LandingZone(make) => make(LandingZoneChange {
            state,
            root_id: status
                .field("rootOrganizationalId")
                .map(|root| read_id(&root, is_root_id, ROOT_ID))
                .transpose()?,
            organizational_units: status.list("organizationalUnits", read_organizational_unit)?,
            accounts: status.list("accounts", read_account)?,
            origin,
        }),
    };
    Ok(Parsed::Lifecycle(event))
}

fn read_state(status: &At<'_>) -> Result<State, Error> {
    let state = status.required("state")?;
    match state.string()? {
        "SUCCEEDED" => Ok(State::Succeeded),
        "FAILED" => Ok(State::Failed {
            message: status.optional_str("message")?.map(str::to_owned),
        }),
        other => Err(state.problem(format!(
            "must be \"SUCCEEDED\" or \"FAILED\", found {other:?}"
        ))),
    }
}

/// Whether `account.accountId` is absent or empty (as in a failed account creation).
fn lacks_account_id(status: &At<'_>) -> bool {
    status
        .value
        .pointer("/account/accountId")
        .is_none_or(|id| id.is_null() || id == "")
}

fn read_account(account: &At<'_>) -> Result<Account, Error> {
    account.object("an account (accountId, accountName)")?;
    Ok(Account {
        id: read_account_id(account, "accountId")?,
        name: account.required_str("accountName")?.to_owned(),
    })
}

fn read_organizational_unit(unit: &At<'_>) -> Result<OrganizationalUnit, Error> {
    unit.object("an organizational unit (organizationalUnitId, organizationalUnitName)")?;
    Ok(OrganizationalUnit {
        id: read_id(&unit.required("organizationalUnitId")?, is_ou_id, OU_ID)?,
        name: unit.required_str("organizationalUnitName")?.to_owned(),
    })
}

/// What a root id and an OU id look like, for problems.
const ROOT_ID: &str = "a root id (\"r-\" and 4 to 32 lower-case letters or digits)";
const OU_ID: &str = "an OU id (\"ou-\", 4 to 32 lower-case letters or digits, \"-\", 8 to 32 more)";

/// A string that `is_id` accepts; `what` names the kind of id for the problem.
fn read_id(at: &At<'_>, is_id: fn(&str) -> bool, what: &str) -> Result<String, Error> {
    match at.string()? {
        id if is_id(id) => Ok(id.to_owned()),
        id => Err(at.problem(format!("{id:?} is not {what}"))),
    }
}

fn read_account_id(parent: &At<'_>, key: &str) -> Result<AccountId, Error> {
    let at = parent.required(key)?;
    let Some(text) = at.value.as_str() else {
        return Err(at.problem(format!(
            "must be a string of 12 digits (in quotes, so leading zeros survive), not {}",
            json_type(at.value)
        )));
    };
    AccountId::parse(text).map_err(|err| match err {
        Error::AccountId { value, reason } => at.problem(format!("{value:?} {reason}")),
        other => at.problem(other.to_string()),
    })
}

fn read_origin(event: &At<'_>, detail: &At<'_>) -> Result<Origin, Error> {
    let owned = |text: Option<&str>| text.map(str::to_owned);
    Ok(Origin {
        event_id: owned(event.optional_str("id")?),
        time: owned(event.optional_str("time")?),
        region: owned(event.optional_str("region")?),
        cloudtrail_event_id: owned(detail.optional_str("eventID")?),
    })
}

// ---------------------------------------------------------------------------------------------
// Organizations API calls

fn read_organizations(event: &At<'_>, detail_type: &str) -> Result<Parsed, Error> {
    if detail_type != API_CALL {
        return Ok(ignored(format!(
            "an Organizations {detail_type:?} event; account exits and moves arrive as {API_CALL:?}"
        )));
    }
    let (detail, name) = cloudtrail_record(event)?;
    if !matches!(
        name,
        "CloseAccount" | "RemoveAccountFromOrganization" | "MoveAccount"
    ) {
        return Ok(ignored(format!(
            "Organizations call {name} does not change which accounts are monitored"
        )));
    }
    if let Some(code) = detail.optional_str("errorCode")? {
        let message = detail
            .optional_str("errorMessage")?
            .map(|message| format!(" ({message})"))
            .unwrap_or_default();
        return Ok(ignored(format!(
            "{name} failed with {code}{message}; nothing changed"
        )));
    }
    let origin = read_origin(event, &detail)?;
    let parameters = detail.required("requestParameters")?;
    parameters.object("the call's parameters")?;
    let account_id = read_account_id(&parameters, "accountId")?;
    let event = match name {
        "CloseAccount" => LifecycleEvent::CloseAccount(AccountExit { account_id, origin }),
        "RemoveAccountFromOrganization" => {
            LifecycleEvent::RemoveAccountFromOrganization(AccountExit { account_id, origin })
        }
        _ => LifecycleEvent::MoveAccount(AccountMove {
            account_id,
            source_parent_id: read_parent_id(&parameters, "sourceParentId")?,
            destination_parent_id: read_parent_id(&parameters, "destinationParentId")?,
            origin,
        }),
    };
    Ok(Parsed::Lifecycle(event))
}

fn read_parent_id(parameters: &At<'_>, key: &str) -> Result<String, Error> {
    read_id(
        &parameters.required(key)?,
        |id| is_root_id(id) || is_ou_id(id),
        "a root id (\"r-...\") or an OU id (\"ou-...-...\")",
    )
}

/// Organizations' root id pattern: `r-` and 4 to 32 lower-case letters or digits.
fn is_root_id(id: &str) -> bool {
    id.strip_prefix("r-")
        .is_some_and(|rest| is_lower_alphanumeric(rest, 4, 32))
}

/// Organizations' OU id pattern: `ou-`, 4 to 32 lower-case letters or digits, `-`, 8 to 32 more.
fn is_ou_id(id: &str) -> bool {
    id.strip_prefix("ou-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(root, own)| {
            is_lower_alphanumeric(root, 4, 32) && is_lower_alphanumeric(own, 8, 32)
        })
}

/// Whether `text` is `min` to `max` lower-case letters or digits.
pub(crate) fn is_lower_alphanumeric(text: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Problem;
    use proptest::prelude::*;
    use serde_json::json;

    /// One EventBridge event (already unwrapped).
    fn parse_event(event: &Value) -> Result<Parsed, Error> {
        read_event(&At::root(event, Error::Event))
    }

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../events/lifecycle/", $name))
        };
    }

    fn load(text: &str) -> Value {
        serde_json::from_str(text).expect("fixtures are JSON")
    }

    fn one(text: &str) -> Parsed {
        let mut all = parse(&load(text)).expect("parses");
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    fn lifecycle(text: &str) -> LifecycleEvent {
        match one(text) {
            Parsed::Lifecycle(event) => event,
            other => panic!("expected a lifecycle event, got {other:?}"),
        }
    }

    fn reason(text: &str) -> String {
        match one(text) {
            Parsed::Ignored { reason } => reason,
            other => panic!("expected an ignored event, got {other:?}"),
        }
    }

    fn problem(text: &str) -> Problem {
        match parse(&load(text)) {
            Err(Error::Event(problem)) => problem,
            other => panic!("expected an event error, got {other:?}"),
        }
    }

    fn id(text: &str) -> AccountId {
        AccountId::parse(text).unwrap()
    }

    fn ou(id: &str, name: &str) -> OrganizationalUnit {
        OrganizationalUnit {
            id: id.into(),
            name: name.into(),
        }
    }

    fn account(account_id: &str, name: &str) -> Account {
        Account {
            id: id(account_id),
            name: name.into(),
        }
    }

    const CREATE: &str = fixture!("create-managed-account-succeeded.json");
    const UPDATE: &str = fixture!("update-managed-account-succeeded.json");
    const MOVE: &str = fixture!("move-account.json");
    const CLOSE: &str = fixture!("close-account.json");

    // --- every variant --------------------------------------------------------------------

    #[test]
    fn create_managed_account_succeeded() {
        let event = lifecycle(CREATE);
        assert_eq!(
            event,
            LifecycleEvent::CreateManagedAccount(ManagedAccountChange {
                state: State::Succeeded,
                account: account("222233334444", "payments-prod"),
                organizational_unit: ou("ou-ab12-cd34ef56", "Workloads"),
                origin: Origin {
                    event_id: Some("5d0b8a3e-2f4c-4c1e-9b8a-0e6f3c2d1a01".into()),
                    time: Some("2024-05-14T09:42:17Z".into()),
                    region: Some("us-east-1".into()),
                    cloudtrail_event_id: Some("0f4e6a1b-7c2d-4e8f-a9b0-c1d2e3f40001".into()),
                },
            })
        );
        assert_eq!(event.state(), Some(&State::Succeeded));
        assert_eq!(event.account_id(), Some(&id("222233334444")));
        assert_eq!(event.name(), "CreateManagedAccount");
    }

    #[test]
    fn create_managed_account_failed_keeps_the_message() {
        let event = lifecycle(fixture!("create-managed-account-failed.json"));
        let LifecycleEvent::CreateManagedAccount(change) = &event else {
            panic!("{event:?}")
        };
        assert_eq!(change.account, account("222233335555", "payments-dev"));
        let State::Failed {
            message: Some(message),
        } = &change.state
        else {
            panic!("{:?}", change.state)
        };
        assert!(message.contains("stack set operation failed"), "{message}");
        assert!(event.to_string().contains("FAILED"), "{event}");
    }

    #[test]
    fn create_failed_before_the_account_had_an_id_is_ignored() {
        let reason = reason(fixture!(
            "create-managed-account-failed-without-account-id.json"
        ));
        assert!(
            reason.contains("FAILED before the account had an id"),
            "{reason}"
        );
        assert!(
            reason.contains("email address is already in use"),
            "{reason}"
        );
    }

    #[test]
    fn update_managed_account_is_an_update_with_its_account_and_ou() {
        let event = lifecycle(UPDATE);
        let LifecycleEvent::UpdateManagedAccount(change) = &event else {
            panic!("an update must not read as anything else: {event:?}")
        };
        assert_eq!(change.state, State::Succeeded);
        assert_eq!(change.account, account("222233334444", "payments-prod"));
        assert_eq!(
            change.organizational_unit,
            ou("ou-ab12-9f8e7d6c", "Sandbox")
        );
        assert_eq!(
            event.to_string(),
            "UpdateManagedAccount SUCCEEDED: account 222233334444 (payments-prod) in OU ou-ab12-9f8e7d6c (Sandbox)"
        );
    }

    #[test]
    fn update_managed_account_failed() {
        let event = lifecycle(fixture!("update-managed-account-failed.json"));
        assert!(matches!(event, LifecycleEvent::UpdateManagedAccount(_)));
        assert!(matches!(event.state(), Some(State::Failed { .. })));
        assert_eq!(event.account_id(), Some(&id("222233334444")));
    }

    #[test]
    fn register_and_deregister_organizational_unit() {
        let registered = lifecycle(fixture!("register-organizational-unit.json"));
        let LifecycleEvent::RegisterOrganizationalUnit(change) = &registered else {
            panic!("{registered:?}")
        };
        assert_eq!(
            change.organizational_unit,
            ou("ou-ab12-cd34ef56", "Workloads")
        );
        assert_eq!(registered.account_id(), None);
        assert_eq!(registered.state(), Some(&State::Succeeded));

        let deregistered = lifecycle(fixture!("deregister-organizational-unit.json"));
        let LifecycleEvent::DeregisterOrganizationalUnit(change) = &deregistered else {
            panic!("{deregistered:?}")
        };
        assert_eq!(
            change.organizational_unit,
            ou("ou-ab12-9f8e7d6c", "Sandbox")
        );
    }

    #[test]
    fn setup_and_update_landing_zone() {
        for (text, setup) in [
            (fixture!("setup-landing-zone.json"), true),
            (fixture!("update-landing-zone.json"), false),
        ] {
            let event = lifecycle(text);
            let change = match (&event, setup) {
                (LifecycleEvent::SetupLandingZone(change), true)
                | (LifecycleEvent::UpdateLandingZone(change), false) => change,
                _ => panic!("{event:?}"),
            };
            assert_eq!(change.state, State::Succeeded);
            assert_eq!(change.root_id.as_deref(), Some("r-ab12"));
            assert_eq!(
                change.organizational_units,
                vec![
                    ou("ou-ab12-5a6b7c8d", "Security"),
                    ou("ou-ab12-9f8e7d6c", "Sandbox")
                ]
            );
            assert_eq!(
                change.accounts,
                vec![
                    account("333344445555", "Audit"),
                    account("444455556666", "Log Archive")
                ]
            );
            assert_eq!(event.account_id(), None);
        }
    }

    #[test]
    fn close_account_and_remove_account() {
        let closed = lifecycle(CLOSE);
        let LifecycleEvent::CloseAccount(exit) = &closed else {
            panic!("{closed:?}")
        };
        assert_eq!(exit.account_id, id("222233334444"));
        assert_eq!(
            exit.origin.cloudtrail_event_id.as_deref(),
            Some("3b2a1c0d-9e8f-4a7b-b6c5-d4e3f2a10101")
        );
        assert_eq!(closed.state(), None);

        let removed = lifecycle(fixture!("remove-account-from-organization.json"));
        assert!(matches!(
            removed,
            LifecycleEvent::RemoveAccountFromOrganization(_)
        ));
        assert_eq!(removed.account_id(), Some(&id("222233336666")));
    }

    #[test]
    fn move_account_names_both_parents() {
        let event = lifecycle(MOVE);
        let LifecycleEvent::MoveAccount(moved) = &event else {
            panic!("{event:?}")
        };
        assert_eq!(moved.account_id, id("222233334444"));
        assert_eq!(moved.source_parent_id, "ou-ab12-cd34ef56");
        assert_eq!(moved.destination_parent_id, "ou-ab12-9f8e7d6c");
        assert_eq!(
            event.to_string(),
            "MoveAccount: account 222233334444 from ou-ab12-cd34ef56 to ou-ab12-9f8e7d6c"
        );
    }

    #[test]
    fn move_from_the_root_is_accepted() {
        let mut event = load(MOVE);
        event["detail"]["requestParameters"]["sourceParentId"] = json!("r-ab12");
        let Ok(Parsed::Lifecycle(LifecycleEvent::MoveAccount(moved))) = parse_event(&event) else {
            panic!()
        };
        assert_eq!(moved.source_parent_id, "r-ab12");
    }

    // --- serialization -------------------------------------------------------------------

    #[test]
    fn json_output_is_flat_and_readable() {
        let value = serde_json::to_value(one(UPDATE)).unwrap();
        assert_eq!(
            value,
            json!({
                "kind": "UpdateManagedAccount",
                "state": "SUCCEEDED",
                "account": {"id": "222233334444", "name": "payments-prod"},
                "organizational_unit": {"id": "ou-ab12-9f8e7d6c", "name": "Sandbox"},
                "event_id": "5d0b8a3e-2f4c-4c1e-9b8a-0e6f3c2d1a04",
                "time": "2024-06-02T14:03:55Z",
                "region": "us-east-1",
                "cloudtrail_event_id": "0f4e6a1b-7c2d-4e8f-a9b0-c1d2e3f40004"
            })
        );
        let failed =
            serde_json::to_value(one(fixture!("create-managed-account-failed.json"))).unwrap();
        assert_eq!(failed["state"], "FAILED");
        assert!(
            failed["message"]
                .as_str()
                .unwrap()
                .contains("could not create")
        );
        let moved = serde_json::to_value(one(MOVE)).unwrap();
        assert_eq!(moved["kind"], "MoveAccount");
        assert_eq!(moved["account_id"], "222233334444");
        assert_eq!(moved["destination_parent_id"], "ou-ab12-9f8e7d6c");
        let ignored =
            serde_json::to_value(one(fixture!("ec2-instance-state-change.json"))).unwrap();
        assert_eq!(ignored["ignored"], true);
        assert!(ignored["reason"].as_str().unwrap().contains("aws.ec2"));
    }

    // --- envelopes -------------------------------------------------------------------------

    #[test]
    fn sns_envelope_gives_the_event_inside() {
        assert_eq!(
            lifecycle(fixture!("sns-create-managed-account.json")),
            lifecycle(CREATE)
        );
    }

    #[test]
    fn sqs_envelope_gives_the_event_inside() {
        assert_eq!(
            lifecycle(fixture!("sqs-create-managed-account.json")),
            lifecycle(CREATE)
        );
    }

    #[test]
    fn sqs_of_sns_gives_the_update_inside() {
        assert_eq!(
            lifecycle(fixture!("sqs-of-sns-update-managed-account.json")),
            lifecycle(UPDATE)
        );
    }

    #[test]
    fn sqs_batch_keeps_record_order_and_ignores_what_is_not_ours() {
        let all = parse(&load(fixture!("sqs-batch-create-ignored-move.json"))).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0], Parsed::Lifecycle(lifecycle(CREATE)));
        assert!(matches!(&all[1], Parsed::Ignored { reason } if reason.contains("aws.ec2")));
        assert_eq!(all[2], Parsed::Lifecycle(lifecycle(MOVE)));
    }

    #[test]
    fn empty_batch_gives_nothing() {
        assert_eq!(parse(&json!({"Records": []})).unwrap(), vec![]);
    }

    #[test]
    fn parse_message_reads_a_body_on_its_own() {
        let input = load(fixture!("sqs-of-sns-update-managed-account.json"));
        let body = input["Records"][0]["body"].as_str().unwrap();
        let parsed = parse_message(body, "$.Records[0].body").unwrap();
        assert_eq!(parsed, Parsed::Lifecycle(lifecycle(UPDATE)));

        let Err(Error::Event(problem)) = parse_message("{}", "$.Records[7].body") else {
            panic!()
        };
        assert_eq!(problem.path, "$.Records[7].body.source");
    }

    #[test]
    fn sns_subscription_confirmation_in_sqs_is_ignored() {
        let body = json!({"Type": "SubscriptionConfirmation", "TopicArn": "arn:aws:sns:us-east-1:111111111111:t", "Message": "You have chosen to subscribe"});
        let input = json!({"Records": [{"eventSource": "aws:sqs", "body": body.to_string()}]});
        let all = parse(&input).unwrap();
        assert!(
            matches!(&all[..], [Parsed::Ignored { reason }] if reason.contains("SubscriptionConfirmation")),
            "{all:?}"
        );
    }

    #[test]
    fn records_from_other_services_are_ignored_and_unknown_records_are_errors() {
        let all = parse(&json!({"Records": [{"eventSource": "aws:s3", "s3": {}}]})).unwrap();
        assert!(matches!(&all[..], [Parsed::Ignored { reason }] if reason.contains("aws:s3")));

        let Err(Error::Event(problem)) = parse(&json!({"Records": [{"eventSource": "aws:sqs"}]}))
        else {
            panic!()
        };
        assert_eq!(problem.path, "$.Records[0].body");

        let Err(Error::Event(problem)) = parse(&json!({"Records": [{}, 5]})) else {
            panic!()
        };
        assert_eq!(problem.path, "$.Records[0]");

        let Err(Error::Event(problem)) = parse(&json!({"Records": {"a": 1}})) else {
            panic!()
        };
        assert_eq!(problem.path, "$.Records");
        assert!(problem.message.contains("must be an array"), "{problem}");
    }

    // --- ignored -----------------------------------------------------------------------------

    #[test]
    fn unrelated_eventbridge_event_is_ignored_with_a_reason() {
        let reason = reason(fixture!("ec2-instance-state-change.json"));
        assert!(reason.contains("aws.ec2"), "{reason}");
        assert!(
            reason.contains("EC2 Instance State-change Notification"),
            "{reason}"
        );
    }

    #[test]
    fn other_control_tower_lifecycle_events_are_ignored() {
        let reason = reason(fixture!("enable-guardrail.json"));
        assert!(reason.contains("EnableGuardrail"), "{reason}");
    }

    #[test]
    fn control_tower_events_of_other_types_are_ignored() {
        let mut event = load(CREATE);
        event["detail-type"] = json!("AWS API Call via CloudTrail");
        let Ok(Parsed::Ignored { reason }) = parse_event(&event) else {
            panic!()
        };
        assert!(reason.contains("lifecycle events are"), "{reason}");
    }

    #[test]
    fn other_organizations_calls_and_failed_calls_are_ignored() {
        let reason_other = reason(fixture!("organizations-create-organizational-unit.json"));
        assert!(
            reason_other.contains("CreateOrganizationalUnit"),
            "{reason_other}"
        );

        let reason_failed = reason(fixture!("close-account-failed.json"));
        assert!(
            reason_failed.contains("AccountAlreadyClosedException"),
            "{reason_failed}"
        );
        assert!(reason_failed.contains("nothing changed"), "{reason_failed}");

        let mut event = load(CLOSE);
        event["detail-type"] = json!("AWS Service Event via CloudTrail");
        assert!(matches!(parse_event(&event), Ok(Parsed::Ignored { .. })));
    }

    // --- broken ------------------------------------------------------------------------------

    #[test]
    fn lifecycle_event_without_service_event_details_names_that_path() {
        let problem = problem(fixture!("broken-missing-service-event-details.json"));
        assert_eq!(problem.path, "$.detail.serviceEventDetails");
        assert_eq!(problem.message, "is missing");
    }

    #[test]
    fn account_id_not_12_digits_names_the_field_and_the_value() {
        let problem = problem(fixture!("broken-account-id-not-12-digits.json"));
        assert_eq!(
            problem.path,
            "$.detail.serviceEventDetails.createManagedAccountStatus.account.accountId"
        );
        assert!(problem.message.contains("\"22223333444\""), "{problem}");
        assert!(problem.message.contains("11 digits"), "{problem}");
    }

    #[test]
    fn update_with_its_outcome_under_the_create_key_is_an_error_not_a_create() {
        let problem = problem(fixture!("broken-update-under-create-key.json"));
        assert_eq!(
            problem.path,
            "$.detail.serviceEventDetails.updateManagedAccountStatus"
        );
        assert!(
            problem
                .message
                .contains("has only createManagedAccountStatus"),
            "{problem}"
        );
    }

    #[test]
    fn unknown_state_is_an_error() {
        let problem = problem(fixture!("broken-unknown-state.json"));
        assert_eq!(
            problem.path,
            "$.detail.serviceEventDetails.createManagedAccountStatus.state"
        );
        assert!(problem.message.contains("\"IN_PROGRESS\""), "{problem}");
    }

    #[test]
    fn missing_organizational_unit_is_an_error() {
        let problem = problem(fixture!("broken-missing-organizational-unit.json"));
        assert_eq!(
            problem.path,
            "$.detail.serviceEventDetails.updateManagedAccountStatus.organizationalUnit"
        );
    }

    #[test]
    fn move_without_destination_is_an_error() {
        let problem = problem(fixture!("broken-move-account-missing-destination.json"));
        assert_eq!(
            problem.path,
            "$.detail.requestParameters.destinationParentId"
        );
    }

    #[test]
    fn account_id_as_a_number_is_an_error_with_a_hint() {
        let problem = problem(fixture!("broken-close-account-id-is-a-number.json"));
        assert_eq!(problem.path, "$.detail.requestParameters.accountId");
        assert!(problem.message.contains("not a number"), "{problem}");
        assert!(problem.message.contains("leading zeros"), "{problem}");
    }

    #[test]
    fn sqs_record_error_names_the_record_and_the_field_inside_the_body() {
        let problem = problem(fixture!("broken-sqs-third-record-missing-account-id.json"));
        assert_eq!(
            problem.path,
            "$.Records[2].body.detail.serviceEventDetails.createManagedAccountStatus.account.accountId"
        );
        assert_eq!(problem.message, "is missing");
    }

    #[test]
    fn body_and_message_that_are_not_json_are_errors() {
        let problem_sqs = problem(fixture!("broken-sqs-body-not-json.json"));
        assert_eq!(problem_sqs.path, "$.Records[0].body");
        assert!(
            problem_sqs.message.starts_with("is not JSON"),
            "{problem_sqs}"
        );
        // The text itself is not repeated.
        assert!(
            !problem_sqs.message.contains("222233334444"),
            "{problem_sqs}"
        );

        let problem_sns = problem(fixture!("broken-sns-message-not-json.json"));
        assert_eq!(problem_sns.path, "$.Records[0].Sns.Message");
    }

    #[test]
    fn sqs_of_sns_error_path_goes_through_the_message() {
        let mut update = load(UPDATE);
        update["detail"]
            .as_object_mut()
            .unwrap()
            .remove("serviceEventDetails");
        let notification = json!({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:111111111111:t", "Message": update.to_string()});
        let input =
            json!({"Records": [{"eventSource": "aws:sqs", "body": notification.to_string()}]});
        let Err(Error::Event(problem)) = parse(&input) else {
            panic!()
        };
        assert_eq!(
            problem.path,
            "$.Records[0].body.Message.detail.serviceEventDetails"
        );
    }

    #[test]
    fn wrong_shapes_name_what_was_expected() {
        let cases = [
            (json!(42), "$", "not a number"),
            (json!({"detail-type": "x"}), "$.source", "is missing"),
            (
                json!({"source": 7, "detail-type": "x"}),
                "$.source",
                "must be a string",
            ),
            (
                json!({"source": "aws.controltower"}),
                "$.detail-type",
                "is missing",
            ),
            (
                json!({"source": "aws.controltower", "detail-type": SERVICE_EVENT}),
                "$.detail",
                "is missing",
            ),
            (
                json!({"source": "aws.controltower", "detail-type": SERVICE_EVENT, "detail": []}),
                "$.detail",
                "a CloudTrail record",
            ),
            (
                json!({"source": "aws.controltower", "detail-type": SERVICE_EVENT, "detail": {}}),
                "$.detail.eventName",
                "is missing",
            ),
            (
                json!({"source": "aws.organizations", "detail-type": API_CALL, "detail": {"eventName": "CloseAccount"}}),
                "$.detail.requestParameters",
                "is missing",
            ),
        ];
        for (input, path, message) in cases {
            let Err(Error::Event(problem)) = parse(&input) else {
                panic!("{input} should be an error")
            };
            assert_eq!(problem.path, path, "{input}");
            assert!(problem.message.contains(message), "{input}: {problem}");
        }
    }

    #[test]
    fn bad_ids_are_errors() {
        let mut event = load(CREATE);
        event["detail"]["serviceEventDetails"]["createManagedAccountStatus"]["organizationalUnit"]
            ["organizationalUnitId"] = json!("Workloads");
        let Err(Error::Event(problem)) = parse_event(&event) else {
            panic!()
        };
        assert!(
            problem
                .path
                .ends_with("organizationalUnit.organizationalUnitId")
        );
        assert!(problem.message.contains("not an OU id"), "{problem}");

        let mut event = load(MOVE);
        event["detail"]["requestParameters"]["destinationParentId"] = json!("ou-AB12-cd34ef56");
        let Err(Error::Event(problem)) = parse_event(&event) else {
            panic!()
        };
        assert_eq!(
            problem.path,
            "$.detail.requestParameters.destinationParentId"
        );
    }

    #[test]
    fn id_patterns_follow_organizations() {
        assert!(is_root_id("r-ab12"));
        assert!(is_root_id(&format!("r-{}", "a".repeat(32))));
        assert!(!is_root_id("r-ab1"));
        assert!(!is_root_id("r-AB12"));
        assert!(is_ou_id("ou-ab12-cd34ef56"));
        assert!(!is_ou_id("ou-ab12-cd34ef5"));
        assert!(!is_ou_id("ou-ab1-cd34ef56"));
        assert!(!is_ou_id("ou-ab12cd34ef56"));
        assert!(!is_ou_id("r-ab12"));
    }

    // --- fixtures agree with aws_lambda_events' types ------------------------------------------

    #[test]
    fn fixtures_have_the_shapes_aws_lambda_events_expects() {
        use aws_lambda_events::controltower::ControlTowerLifecycleEvent;
        use aws_lambda_events::eventbridge::EventBridgeEvent;
        use aws_lambda_events::sns::{SnsEvent, SnsMessage};
        use aws_lambda_events::sqs::SqsEvent;

        for text in [
            CREATE,
            UPDATE,
            fixture!("create-managed-account-failed.json"),
            fixture!("update-managed-account-failed.json"),
            fixture!("register-organizational-unit.json"),
            fixture!("deregister-organizational-unit.json"),
            fixture!("setup-landing-zone.json"),
            fixture!("update-landing-zone.json"),
            fixture!("enable-guardrail.json"),
        ] {
            let event: EventBridgeEvent<ControlTowerLifecycleEvent> =
                serde_json::from_str(text).unwrap();
            assert_eq!(event.source, "aws.controltower");
        }
        for text in [
            CLOSE,
            MOVE,
            fixture!("remove-account-from-organization.json"),
        ] {
            let event: EventBridgeEvent = serde_json::from_str(text).unwrap();
            assert_eq!(event.detail_type, API_CALL);
        }
        let sns: SnsEvent =
            serde_json::from_str(fixture!("sns-create-managed-account.json")).unwrap();
        assert_eq!(sns.records.len(), 1);
        let sqs: SqsEvent =
            serde_json::from_str(fixture!("sqs-of-sns-update-managed-account.json")).unwrap();
        let body = sqs.records[0].body.as_deref().unwrap();
        let message: SnsMessage = serde_json::from_str(body).unwrap();
        assert_eq!(message.sns_message_type, "Notification");
        let sqs: SqsEvent =
            serde_json::from_str(fixture!("sqs-batch-create-ignored-move.json")).unwrap();
        assert_eq!(sqs.records.len(), 3);
    }

    // --- never a panic -------------------------------------------------------------------------

    const FIXTURES: [&str; 12] = [
        CREATE,
        UPDATE,
        MOVE,
        CLOSE,
        fixture!("create-managed-account-failed.json"),
        fixture!("register-organizational-unit.json"),
        fixture!("setup-landing-zone.json"),
        fixture!("remove-account-from-organization.json"),
        fixture!("sns-create-managed-account.json"),
        fixture!("sqs-of-sns-update-managed-account.json"),
        fixture!("sqs-batch-create-ignored-move.json"),
        fixture!("ec2-instance-state-change.json"),
    ];

    /// Keys and strings this parser looks at, so random documents reach deep branches.
    const WORDS: [&str; 28] = [
        "Records",
        "Sns",
        "Message",
        "Type",
        "TopicArn",
        "Notification",
        "body",
        "eventSource",
        "aws:sqs",
        "source",
        "detail-type",
        "detail",
        "aws.controltower",
        "aws.organizations",
        SERVICE_EVENT,
        API_CALL,
        "eventName",
        "CreateManagedAccount",
        "UpdateManagedAccount",
        "MoveAccount",
        "serviceEventDetails",
        "createManagedAccountStatus",
        "account",
        "accountId",
        "state",
        "SUCCEEDED",
        "requestParameters",
        "222233334444",
    ];

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let text = prop_oneof![
            proptest::sample::select(WORDS.to_vec()).prop_map(str::to_owned),
            ".{0,12}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            text.clone().prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::vec((text.clone(), inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    #[derive(Debug, Clone)]
    enum Step {
        Key(String),
        Index(usize),
    }

    fn all_paths(value: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(here.clone());
        match value {
            Value::Object(members) => {
                for (key, member) in members {
                    here.push(Step::Key(key.clone()));
                    all_paths(member, here, out);
                    here.pop();
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    here.push(Step::Index(i));
                    all_paths(item, here, out);
                    here.pop();
                }
            }
            _ => {}
        }
    }

    /// Removes the member at `path` (or replaces it, for array items and the root).
    fn mutate(value: &mut Value, path: &[Step], replacement: Option<Value>) {
        let Some((last, parent_path)) = path.split_last() else {
            *value = replacement.unwrap_or(Value::Null);
            return;
        };
        let mut parent = value;
        for step in parent_path {
            parent = match step {
                Step::Key(key) => &mut parent[key.as_str()],
                Step::Index(i) => &mut parent[*i],
            };
        }
        match (last, replacement) {
            (Step::Key(key), None) => {
                parent.as_object_mut().unwrap().remove(key);
            }
            (Step::Key(key), Some(new)) => parent[key.as_str()] = new,
            (Step::Index(i), new) => parent[*i] = new.unwrap_or(Value::Null),
        }
    }

    fn check_error_path(result: &Result<Vec<Parsed>, Error>) -> Result<(), TestCaseError> {
        if let Err(err) = result {
            prop_assert!(matches!(err, Error::Event(_)), "{err:?}");
            for problem in err.problems() {
                prop_assert!(problem.path.starts_with('$'), "{problem}");
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_json(input in arbitrary_json()) {
            check_error_path(&parse(&input))?;
            let _ = parse_event(&input);
            let _ = parse_message(&input.to_string(), "$");
        }

        #[test]
        fn parse_never_panics_on_mutated_fixtures(
            which in 0..FIXTURES.len(),
            pick in any::<proptest::sample::Index>(),
            replacement in proptest::option::of(arbitrary_json()),
        ) {
            let mut input = load(FIXTURES[which]);
            let mut paths = Vec::new();
            all_paths(&input, &mut Vec::new(), &mut paths);
            let chosen: &Vec<Step> = pick.get(&paths);
            mutate(&mut input, chosen, replacement);
            check_error_path(&parse(&input))?;
        }

        /// Wrapping an event in SQS changes nothing but where errors point.
        #[test]
        fn an_sqs_wrapped_event_parses_like_the_bare_one(
            which in 0..4usize,
            pick in any::<proptest::sample::Index>(),
            replacement in proptest::option::of(arbitrary_json()),
        ) {
            let mut event = load(FIXTURES[which]);
            let mut paths = Vec::new();
            all_paths(&event, &mut Vec::new(), &mut paths);
            // Below the root only: a replaced root could itself look like an SNS message.
            paths.remove(0);
            let chosen: &Vec<Step> = pick.get(&paths);
            mutate(&mut event, chosen, replacement);
            let wrapped = json!({"Records": [{"eventSource": "aws:sqs", "body": event.to_string()}]});
            match (parse_event(&event), parse(&wrapped)) {
                (Ok(bare), Ok(all)) => prop_assert_eq!(vec![bare], all),
                (Err(Error::Event(bare)), Err(Error::Event(inner))) => {
                    let expected = format!("$.Records[0].body{}", &bare.path[1..]);
                    prop_assert_eq!(inner.path, expected);
                    prop_assert_eq!(inner.message, bare.message);
                }
                (bare, all) => prop_assert!(false, "bare {:?} but wrapped {:?}", bare, all),
            }
        }
    }
}
