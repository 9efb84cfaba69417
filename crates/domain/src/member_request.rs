//! The checks a member stack's registration request passes before anything is queued
//! (`sns-custom-resource`), without I/O.
//!
//! The member stacks' custom resource (`Custom::LaceworkAccountRegistration` in
//! `stacksets/member.yaml`) reaches this function through an SNS topic, which any principal of
//! the organization may publish to; the request itself says which account to register. So a
//! request is acted on only if the account that owns the stack (from `StackId`), the account
//! of the role (from `RoleArn`) and the account to register (`AccountId`) are one and the same,
//! the role is the one the member StackSet creates, and an `ExternalId`, if given, belongs to
//! that account and this Lacework account. (Whether the account is an ACTIVE member of the
//! organization is asked of AWS Organizations by the caller.)
//!
//! Every refusal is a [`Problem`] that names the field (`$.ResourceProperties.RoleArn`); no
//! refusal quotes an external id.

use crate::AccountId;
use crate::config::{Installation, parse_role_arn};
use crate::custom_resource::{Request, RequestType};
use crate::error::{Error, Problem, quoted};
use crate::external_id::ExternalId;
use crate::naming::Arn;

/// The resource type of the member stacks' custom resource.
pub const RESOURCE_TYPE: &str = "Custom::LaceworkAccountRegistration";

/// The request fields checked here more than once.
const ROLE_ARN: &str = "$.ResourceProperties.RoleArn";
const EXTERNAL_ID: &str = "$.ResourceProperties.ExternalId";

/// What every physical resource id of this function starts with.
pub const PHYSICAL_ID_PREFIX: &str = "lacework-cfg-";

/// The physical resource id for `account`: the same for every Create and Update of that
/// account, whatever sub-account it is registered in, so CloudFormation never takes an Update
/// (a move to another OU) for a replacement.
pub fn physical_resource_id(account: &AccountId) -> String {
    format!("{PHYSICAL_ID_PREFIX}{account}")
}

/// What a request that passed the checks asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// Create or Update: register `account` with Lacework, Lacework assuming `role_arn`.
    Register {
        account: AccountId,
        role_arn: String,
    },
    /// Delete: remove every registration of `account`.
    Deregister { account: AccountId },
    /// Delete of a resource whose Create failed: nothing was ever registered or queued.
    Nothing,
}

/// Checks `request` against this installation (`lacework_account` is the Lacework account
/// name external ids are built with). The problem is the reason for a FAILED answer.
pub fn check(
    request: &Request,
    installation: &Installation,
    lacework_account: &str,
) -> Result<Asked, Problem> {
    if request.resource_type != RESOURCE_TYPE {
        return Err(Problem::new(
            "$.ResourceType",
            format!(
                "is {}; this function only handles {RESOURCE_TYPE} (the member stacks' registration)",
                quoted(&request.resource_type)
            ),
        ));
    }
    if request.request_type == RequestType::Delete && request.is_failed_create_placeholder() {
        return Ok(Asked::Nothing);
    }
    let account = request
        .property_account_id("AccountId")
        .map_err(Error::into_problem)?;
    let stack_account = request.stack_account_id().map_err(Error::into_problem)?;
    if stack_account != account {
        return Err(Problem::new(
            "$.ResourceProperties.AccountId",
            format!(
                "asks to register account {account}, but the stack ($.StackId) belongs to account {stack_account}; a member stack registers only its own account"
            ),
        ));
    }
    let role_arn = request
        .property_str("RoleArn")
        .map_err(Error::into_problem)?;
    let role = parse_role_arn(role_arn).map_err(|problem| problem.at(ROLE_ARN))?;
    // `parse_role_arn` refuses a role ARN without an account.
    if let Some(role_account) = role.account.as_ref().filter(|theirs| **theirs != account) {
        return Err(Problem::new(
            ROLE_ARN,
            format!(
                "the role is in account {role_account}, not in account {account} that is to be registered"
            ),
        ));
    }
    let named = request
        .physical_resource_id()
        .and_then(|id| id.strip_prefix(PHYSICAL_ID_PREFIX));
    if let Some(named) = named.filter(|named| *named != account.as_str()) {
        return Err(Problem::new(
            "$.PhysicalResourceId",
            format!(
                "names account {}, but $.ResourceProperties.AccountId is {account}; a registration cannot change its account",
                quoted(named)
            ),
        ));
    }
    if request.request_type == RequestType::Delete {
        // Deregistering needs only the account. The role and external id are not checked:
        // they may follow an older installation's names, and a Delete refused for that would
        // leave the stack instance undeletable.
        return Ok(Asked::Deregister { account });
    }
    check_role_name(&role, installation)?;
    check_external_id(request, &account, lacework_account)?;
    Ok(Asked::Register {
        account,
        role_arn: role_arn.to_owned(),
    })
}

/// The role must be the member StackSet's, in this installation's partition: Lacework is told
/// to assume exactly the role this product created and trusts.
fn check_role_name(role: &Arn, installation: &Installation) -> Result<(), Problem> {
    let partition = installation.region.partition();
    if role.partition != partition {
        return Err(Problem::new(
            ROLE_ARN,
            format!(
                "is in partition {}, but this installation runs in {partition}",
                role.partition
            ),
        ));
    }
    let name = role.resource.rsplit('/').next().unwrap_or_default();
    let expected = &installation.names.member_role;
    if name != expected {
        return Err(Problem::new(
            ROLE_ARN,
            format!(
                "names role {}; the member StackSet creates the role {expected:?}",
                quoted(name)
            ),
        ));
    }
    Ok(())
}

/// An `ExternalId` property, when present, must be this Lacework account's id for this AWS
/// account. Its suffix is not compared here: the drain builds the id it registers from the
/// secret's suffix, not from the request.
fn check_external_id(
    request: &Request,
    account: &AccountId,
    lacework_account: &str,
) -> Result<(), Problem> {
    let Some(text) = request
        .optional_property_str("ExternalId")
        .map_err(Error::into_problem)?
    else {
        return Ok(());
    };
    let external_id =
        ExternalId::parse(text).map_err(|err| Problem::new(EXTERNAL_ID, err.to_string()))?;
    if external_id.aws_account() != account {
        return Err(Problem::new(
            EXTERNAL_ID,
            format!("is the external id of another AWS account than {account}"),
        ));
    }
    if !external_id
        .lacework_account()
        .eq_ignore_ascii_case(lacework_account)
    {
        return Err(Problem::new(
            EXTERNAL_ID,
            format!("names another Lacework account than {lacework_account:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{FromEnv, SnsCustomResourceConfig};
    use crate::custom_resource::parse_request;
    use serde_json::{Value, json};

    use super::*;

    const ACCOUNT: &str = "222233334444";
    const SUFFIX: &str = "StoredSuffix0123";

    fn installation() -> Installation {
        SnsCustomResourceConfig::from_env([
            ("AWS_REGION", "us-east-1"),
            ("LACEWORK_URL", "https://acme.lacework.net"),
            ("LACEWORK_ACCOUNT", "acme"),
            (
                "LACEWORK_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:lacework-ct-lacework-api-AbCdEf",
            ),
        ])
        .unwrap()
        .installation
    }

    fn create() -> Value {
        json!({
            "RequestType": "Create",
            "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?X-Amz-Signature=abc",
            "StackId": format!("arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/StackSet-lacework-ct-member-1/guid"),
            "RequestId": "req-1",
            "LogicalResourceId": "AccountRegistration",
            "ResourceType": RESOURCE_TYPE,
            "ResourceProperties": {
                "ServiceToken": "arn:aws:sns:us-east-1:111122223333:lacework-ct-registration-topic",
                "AccountId": ACCOUNT,
                "RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/lacework-ct-config-role"),
                "ExternalId": format!("lweid:aws:v2:acme:{ACCOUNT}:{SUFFIX}"),
            }
        })
    }

    fn with(mut value: Value, pointer: &str, replacement: Value) -> Value {
        if let Some(slot) = value.pointer_mut(pointer) {
            *slot = replacement;
        }
        value
    }

    fn checked(value: &Value) -> Result<Asked, String> {
        check(&parse_request(value).unwrap(), &installation(), "acme").map_err(|p| p.to_string())
    }

    fn account() -> AccountId {
        AccountId::parse(ACCOUNT).unwrap()
    }

    #[test]
    fn a_member_stack_registering_itself_passes() {
        assert_eq!(
            checked(&create()).unwrap(),
            Asked::Register {
                account: account(),
                role_arn: format!("arn:aws:iam::{ACCOUNT}:role/lacework-ct-config-role"),
            }
        );
        let mut update = with(create(), "/RequestType", json!("Update"));
        update["PhysicalResourceId"] = json!(physical_resource_id(&account()));
        assert!(matches!(checked(&update).unwrap(), Asked::Register { .. }));
        assert_eq!(
            physical_resource_id(&account()),
            "lacework-cfg-222233334444"
        );
    }

    #[test]
    fn spoofed_and_wrong_requests_are_refused_naming_the_field() {
        let other_stack = with(
            create(),
            "/StackId",
            json!("arn:aws:cloudformation:us-east-1:999988887777:stack/evil/guid"),
        );
        let other_role = with(
            create(),
            "/ResourceProperties/RoleArn",
            json!("arn:aws:iam::999988887777:role/lacework-ct-config-role"),
        );
        let other_name = with(
            create(),
            "/ResourceProperties/RoleArn",
            json!(format!("arn:aws:iam::{ACCOUNT}:role/admin")),
        );
        let not_a_role = with(
            create(),
            "/ResourceProperties/RoleArn",
            json!(format!(
                "arn:aws:iam::{ACCOUNT}:user/lacework-ct-config-role"
            )),
        );
        let gov_role = with(
            create(),
            "/ResourceProperties/RoleArn",
            json!(format!(
                "arn:aws-us-gov:iam::{ACCOUNT}:role/lacework-ct-config-role"
            )),
        );
        let other_id = with(
            create(),
            "/ResourceProperties/ExternalId",
            json!(format!("lweid:aws:v2:acme:999988887777:{SUFFIX}")),
        );
        let other_tenant = with(
            create(),
            "/ResourceProperties/ExternalId",
            json!(format!("lweid:aws:v2:evilcorp:{ACCOUNT}:{SUFFIX}")),
        );
        let garbled_id = with(
            create(),
            "/ResourceProperties/ExternalId",
            json!("not-an-external-id-SECRETPART"),
        );
        let short_account = with(create(), "/ResourceProperties/AccountId", json!("2222333"));
        let other_type = with(create(), "/ResourceType", json!("Custom::Other"));
        for (request, expected) in [
            (
                other_stack,
                "$.ResourceProperties.AccountId: asks to register account 222233334444, but the stack ($.StackId) belongs to account 999988887777",
            ),
            (
                other_role,
                "$.ResourceProperties.RoleArn: the role is in account 999988887777",
            ),
            (other_name, "names role \"admin\""),
            (not_a_role, "must be an IAM role ARN"),
            (gov_role, "partition aws-us-gov"),
            (
                other_id,
                "$.ResourceProperties.ExternalId: is the external id of another AWS account",
            ),
            (other_tenant, "names another Lacework account"),
            (garbled_id, "$.ResourceProperties.ExternalId"),
            (short_account, "$.ResourceProperties.AccountId"),
            (other_type, "$.ResourceType"),
        ] {
            let reason = checked(&request).unwrap_err();
            assert!(reason.contains(expected), "{reason}");
            assert!(
                !reason.contains(SUFFIX) && !reason.contains("SECRETPART"),
                "{reason}"
            );
        }
    }

    #[test]
    fn a_delete_needs_only_its_own_account() {
        let mut delete = with(create(), "/RequestType", json!("Delete"));
        delete["PhysicalResourceId"] = json!(physical_resource_id(&account()));
        // A role renamed since (another prefix) does not block the delete.
        let renamed = with(
            delete.clone(),
            "/ResourceProperties/RoleArn",
            json!(format!("arn:aws:iam::{ACCOUNT}:role/old-config-role")),
        );
        for request in [&delete, &renamed] {
            assert_eq!(
                checked(request).unwrap(),
                Asked::Deregister { account: account() }
            );
        }
        // Another account's registration cannot be deleted through this one's stack.
        let mut other = delete.clone();
        other["PhysicalResourceId"] = json!("lacework-cfg-999988887777");
        assert!(
            checked(&other)
                .unwrap_err()
                .contains("$.PhysicalResourceId")
        );
        let elsewhere = with(
            delete.clone(),
            "/StackId",
            json!("arn:aws:cloudformation:us-east-1:999988887777:stack/evil/guid"),
        );
        assert!(checked(&elsewhere).is_err());
        // The rollback of a Create that failed: nothing to do, whatever the properties.
        let mut placeholder = with(delete, "/ResourceProperties", json!({}));
        placeholder["PhysicalResourceId"] = json!("AccountRegistration-create-failed-req-1");
        assert_eq!(checked(&placeholder).unwrap(), Asked::Nothing);
    }
}
