//! The events AWS sends the functions, built the way AWS builds them:
//!
//! * Control Tower lifecycle events and Organizations API-call events, as EventBridge delivers
//!   them, from the real-shaped fixtures in `events/lifecycle/` with this landing zone's ids
//!   and the current time put in (the fixtures stay the one description of their shape);
//! * EventBridge's `Scheduled Event`, for the functions that run on a schedule.
//!
//! The Lambda shapes of SQS and SNS deliveries are in [`crate::event_source`] and
//! [`crate::registration_topic`].

use std::path::{Path, PathBuf};

use lwct_domain::AccountId;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::aws::REGION;
use crate::error::{Error, Result};
use crate::runtime_api::random_request_id;
use crate::seed::{Account, OrganizationalUnit};

/// The account the fixtures use for the management account.
const FIXTURE_MANAGEMENT_ACCOUNT: &str = "111111111111";

/// `2024-05-14T09:42:17Z`: EventBridge's `time` and CloudTrail's `eventTime`.
pub fn event_time(at: OffsetDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

/// `2024-05-14T09:42:16+0000`: Control Tower's `requestedTimestamp` and `completedTimestamp`.
fn control_tower_time(at: OffsetDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]+0000"
    ))
    .unwrap_or_default()
}

/// Builds lifecycle events for one organization from the fixtures in `events/lifecycle/`.
#[derive(Debug, Clone)]
pub struct LifecycleEvents {
    /// `events/lifecycle` of the repository.
    pub fixtures: PathBuf,
    /// The management account: where EventBridge and CloudTrail record the events.
    pub management: AccountId,
}

impl LifecycleEvents {
    /// Events of the organization whose management account is `management`, from the
    /// fixtures of the repository at `root`.
    pub fn new(root: &Path, management: &AccountId) -> LifecycleEvents {
        LifecycleEvents {
            fixtures: root.join("events/lifecycle"),
            management: management.clone(),
        }
    }

    /// Control Tower's `CreateManagedAccount` (`SUCCEEDED`): Account Factory enrolled
    /// `account` in `ou`.
    pub fn create_managed_account(
        &self,
        account: &Account,
        ou: &OrganizationalUnit,
    ) -> Result<Value> {
        let mut event = self.fixture("create-managed-account-succeeded.json")?;
        let status = "createManagedAccountStatus";
        let now = OffsetDateTime::now_utc();
        let requested = now - time::Duration::minutes(20);
        let account = json!({"accountName": account.name, "accountId": account.id.as_str()});
        let ou = json!({"organizationalUnitName": ou.name(), "organizationalUnitId": ou.id});
        for (field, value) in [
            ("account", account),
            ("organizationalUnit", ou),
            ("completedTimestamp", json!(control_tower_time(now))),
            ("requestedTimestamp", json!(control_tower_time(requested))),
        ] {
            set(
                &mut event,
                &["detail", "serviceEventDetails", status, field],
                value,
            )?;
        }
        Ok(event)
    }

    /// Organizations' `MoveAccount`: `account` moved from parent `source` to `destination`
    /// (OU or root ids).
    pub fn move_account(
        &self,
        account: &AccountId,
        source: &str,
        destination: &str,
    ) -> Result<Value> {
        let mut event = self.fixture("move-account.json")?;
        let parameters = json!({
            "accountId": account.as_str(),
            "sourceParentId": source,
            "destinationParentId": destination,
        });
        set(&mut event, &["detail", "requestParameters"], parameters)?;
        Ok(event)
    }

    /// Organizations' `CloseAccount` of `account`.
    pub fn close_account(&self, account: &AccountId) -> Result<Value> {
        let mut event = self.fixture("close-account.json")?;
        let parameters = json!({"accountId": account.as_str()});
        set(&mut event, &["detail", "requestParameters"], parameters)?;
        Ok(event)
    }

    /// The fixture `name` with the management account, fresh ids and the current time put in.
    fn fixture(&self, name: &str) -> Result<Value> {
        let path = self.fixtures.join(name);
        let text = std::fs::read_to_string(&path).map_err(|err| Error::file(&path, err))?;
        // The fixtures' management account appears in ARNs too: replace it everywhere.
        let text = text.replace(FIXTURE_MANAGEMENT_ACCOUNT, self.management.as_str());
        let mut event: Value =
            serde_json::from_str(&text).map_err(|err| Error::file(&path, err))?;
        let now = event_time(OffsetDateTime::now_utc());
        set(&mut event, &["id"], json!(random_request_id()))?;
        set(&mut event, &["time"], json!(now))?;
        set(&mut event, &["region"], json!(REGION))?;
        set(&mut event, &["detail", "eventTime"], json!(now))?;
        set(
            &mut event,
            &["detail", "eventID"],
            json!(random_request_id()),
        )?;
        Ok(event)
    }
}

/// Sets the existing field at `path` of a fixture; a missing one means the fixture changed
/// shape, which is an error naming the field.
fn set(event: &mut Value, path: &[&str], value: Value) -> Result<()> {
    let mut at = &mut *event;
    for key in path {
        at = at.get_mut(*key).ok_or_else(|| {
            Error::Usage(format!(
                "lifecycle fixture: $.{} is missing; the fixture no longer has the expected shape",
                path.join(".")
            ))
        })?;
    }
    *at = value;
    Ok(())
}

/// EventBridge's `Scheduled Event` for rule `rule` of the management account.
pub fn scheduled_event(management: &AccountId, rule: &str) -> Value {
    json!({
        "version": "0",
        "id": random_request_id(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": management.as_str(),
        "time": event_time(OffsetDateTime::now_utc()),
        "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:{management}:rule/{rule}")],
        "detail": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> LifecycleEvents {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        LifecycleEvents::new(&root, &AccountId::parse("123456789012").unwrap())
    }

    fn account() -> Account {
        Account {
            id: AccountId::parse("222233335555").unwrap(),
            name: "Prod Analytics".to_owned(),
            ou: "Workloads/Prod".to_owned(),
            status: "ACTIVE".to_owned(),
        }
    }

    fn ou() -> OrganizationalUnit {
        OrganizationalUnit {
            id: "ou-abcd-11112222".to_owned(),
            path: "Workloads/Prod".to_owned(),
        }
    }

    #[test]
    fn managed_account_events_carry_this_organization() {
        let event = events().create_managed_account(&account(), &ou()).unwrap();
        assert_eq!(event["account"], "123456789012");
        assert_eq!(event["detail"]["recipientAccountId"], "123456789012");
        assert_eq!(event["detail"]["eventName"], "CreateManagedAccount");
        let status = &event["detail"]["serviceEventDetails"]["createManagedAccountStatus"];
        assert_eq!(status["account"]["accountId"], "222233335555");
        assert_eq!(status["account"]["accountName"], "Prod Analytics");
        assert_eq!(
            status["organizationalUnit"]["organizationalUnitName"],
            "Prod"
        );
        assert_eq!(
            status["organizationalUnit"]["organizationalUnitId"],
            "ou-abcd-11112222"
        );
        assert_eq!(status["state"], "SUCCEEDED");
        assert!(!event.to_string().contains(FIXTURE_MANAGEMENT_ACCOUNT));
        let again = events().create_managed_account(&account(), &ou()).unwrap();
        assert_ne!(event["id"], again["id"], "each event is a new one");
    }

    #[test]
    fn organizations_events_name_the_account() {
        let id = AccountId::parse("222233335555").unwrap();
        let moved = events()
            .move_account(&id, "ou-abcd-1", "ou-abcd-2")
            .unwrap();
        assert_eq!(moved["source"], "aws.organizations");
        assert_eq!(
            moved["detail"]["requestParameters"],
            json!({"accountId": "222233335555", "sourceParentId": "ou-abcd-1", "destinationParentId": "ou-abcd-2"})
        );
        let closed = events().close_account(&id).unwrap();
        assert_eq!(closed["detail"]["eventName"], "CloseAccount");
        assert_eq!(
            closed["detail"]["requestParameters"]["accountId"],
            "222233335555"
        );
        assert!(!moved.to_string().contains(FIXTURE_MANAGEMENT_ACCOUNT));
    }

    #[test]
    fn events_parse_as_the_functions_read_them() {
        use aws_lambda_events::event::eventbridge::EventBridgeEvent;
        let event = events().create_managed_account(&account(), &ou()).unwrap();
        let parsed: EventBridgeEvent<Value> = serde_json::from_value(event).unwrap();
        assert_eq!(parsed.source, "aws.controltower");
        let schedule = scheduled_event(
            &AccountId::parse("123456789012").unwrap(),
            "lacework-ct-token-refresh",
        );
        let parsed: EventBridgeEvent<Value> = serde_json::from_value(schedule).unwrap();
        assert_eq!(parsed.detail_type, "Scheduled Event");
        assert_eq!(
            parsed.resources.unwrap_or_default(),
            ["arn:aws:events:us-east-1:123456789012:rule/lacework-ct-token-refresh"]
        );
    }

    #[test]
    fn a_fixture_of_another_shape_is_named() {
        let mut value = json!({"detail": {}});
        let err = set(&mut value, &["detail", "requestParameters"], json!(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("$.detail.requestParameters"), "{err}");
    }
}
