//! The scheduled reconcile, without I/O: from one read of the organization, the member
//! StackSet's instances and Lacework's integrations, the differences from what the product
//! would have made, each turned into the ordinary work that repairs it.
//!
//! Events get lost in real life (Organizations events arrive only in us-east-1, a function or
//! a queue is down, someone deletes an integration or an instance by hand); the reconcile
//! finds what they would have done and queues it as if they had arrived. It only ever touches
//! what the product creates: integrations named `<prefix>-<account id>` and the member
//! StackSet's instances. Running it again on the repaired state finds nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::account::AccountId;
use crate::drain::{SubAccountRouting, account_integration_name};
use crate::error::Error;
use crate::lacework::SubAccount;
use crate::lifecycle::{AccountToOnboard, InstanceState};
use crate::mapping::{AccountMapping, AccountStatus, OrganizationTree};
use crate::naming::{NamePrefix, Partition, iam_role_arn};
use crate::registration::RegistrationWork;

/// Why reconcile queued work, in `cause` fields and logs.
pub const CAUSE: &str = "reconcile";

/// One `AwsCfg` integration as Lacework lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The integration's name.
    pub name: String,
    /// The AWS account it is for (`data.awsAccountId`).
    pub account: AccountId,
    /// The sub-account it is in.
    pub sub_account: SubAccount,
}

/// What one read found.
#[derive(Debug, Clone)]
pub struct Observed {
    pub tree: OrganizationTree,
    pub management: Option<AccountId>,
    /// The member StackSet's instances in the home region.
    pub instances: BTreeMap<AccountId, InstanceState>,
    /// Every `AwsCfg` integration of the sub-accounts the configuration names, ours or not.
    pub registrations: Vec<Registration>,
    /// The org-level CloudTrail integration's mapping file; `None` at account level.
    pub mapping: Option<AccountMapping>,
}

/// What the installation is.
#[derive(Debug, Clone)]
pub struct Installation<'a> {
    pub prefix: &'a NamePrefix,
    pub routing: &'a SubAccountRouting,
    pub partition: Partition,
    /// The member role's name (`Names::member_role`).
    pub member_role: &'a str,
    /// Whether accounts get member instances and registrations (configuration assessment).
    pub member_instances: bool,
}

/// One difference from what the product would have made: the account it is about, and what
/// is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub account: AccountId,
    #[serde(flatten)]
    pub kind: DriftKind,
}

/// What is wrong with an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum DriftKind {
    /// An active member account without a member stack instance.
    MissingInstance,
    /// An account with a current member instance but no registration of ours.
    MissingRegistration,
    /// Registered in a sub-account other than the one its OU maps to.
    MisplacedRegistration { found: String, wanted: String },
    /// The mapping file sends the account's trail activity elsewhere than its OU maps to.
    StaleMapping { found: String, wanted: String },
    /// A member instance of an account that is closed or left the organization.
    InstanceOfGoneAccount,
    /// A registration of ours for an account that is closed or left the organization.
    RegistrationOfGoneAccount,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let account = &self.account;
        match &self.kind {
            DriftKind::MissingInstance => {
                write!(f, "account {account} has no member stack instance")
            }
            DriftKind::MissingRegistration => {
                write!(f, "account {account} is not registered in Lacework")
            }
            DriftKind::MisplacedRegistration { found, wanted } => write!(
                f,
                "account {account} is registered in {found}, its OU maps it to {wanted}"
            ),
            DriftKind::StaleMapping { found, wanted } => write!(
                f,
                "the mapping file sends account {account} to {found}, its OU maps it to {wanted}"
            ),
            DriftKind::InstanceOfGoneAccount => write!(
                f,
                "account {account} is closed or gone but keeps its member stack instance"
            ),
            DriftKind::RegistrationOfGoneAccount => write!(
                f,
                "account {account} is closed or gone but is still registered in Lacework"
            ),
        }
    }
}

/// The differences found, and the ordinary work that repairs them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repairs {
    pub drift: Vec<Drift>,
    /// For the account queue (`OnboardAccounts`): their instances' custom resources then
    /// register them.
    pub onboard: Vec<AccountToOnboard>,
    /// For the registration queue.
    pub registrations: Vec<RegistrationWork>,
    /// Member instances to delete, keeping their stacks (the accounts cannot be reached).
    pub retire: Vec<AccountId>,
}

impl Repairs {
    fn found(&mut self, account: &AccountId, kind: DriftKind) {
        self.drift.push(Drift {
            account: account.clone(),
            kind,
        });
    }
}

/// Compares what was observed with what the installation would have made.
pub fn reconcile(observed: &Observed, installation: &Installation<'_>) -> Result<Repairs, Error> {
    let mut repairs = Repairs::default();
    let ours: BTreeMap<&AccountId, &Registration> = observed
        .registrations
        .iter()
        .filter(|r| r.name == account_integration_name(installation.prefix, &r.account))
        .map(|r| (&r.account, r))
        .collect();
    let mut remapped: BTreeSet<AccountId> = BTreeSet::new();
    let mut seen: BTreeSet<&AccountId> = BTreeSet::new();

    for account in observed.tree.accounts() {
        let id = &account.id;
        seen.insert(id);
        if observed.management.as_ref() == Some(id) {
            continue;
        }
        if account.status != AccountStatus::Active {
            gone(id, observed, &ours, &mut repairs);
            continue;
        }
        let wanted = installation.routing.sub_account_for(&observed.tree, id)?;
        let instance = observed.instances.get(id);
        match (installation.member_instances, instance, ours.get(id)) {
            (false, ..) => {}
            (true, None, _) => {
                repairs.found(id, DriftKind::MissingInstance);
                repairs.onboard.push(AccountToOnboard {
                    id: id.clone(),
                    name: account.name.clone(),
                });
                // The new instance's custom resource registers the account.
                continue;
            }
            (true, Some(InstanceState::Current), None) => {
                repairs.found(id, DriftKind::MissingRegistration);
                repairs.registrations.push(RegistrationWork::Register {
                    account: id.clone(),
                    role_arn: iam_role_arn(installation.partition, id, installation.member_role),
                    cause: CAUSE.to_owned(),
                });
            }
            (true, Some(InstanceState::Current), Some(found)) if found.sub_account != wanted => {
                let found = found.sub_account.as_str().to_owned();
                let wanted = wanted.as_str().to_owned();
                repairs.found(id, DriftKind::MisplacedRegistration { found, wanted });
                remapped.insert(id.clone());
            }
            // Registered where it belongs; or operations are working on the instance, or
            // account-lifecycle repairs it.
            _ => {}
        }
        if let Some(mapping) = &observed.mapping {
            let found = mapping.resolve(id).lacework_account;
            if found != wanted.as_str() {
                let (found, wanted) = (found.to_owned(), wanted.as_str().to_owned());
                repairs.found(id, DriftKind::StaleMapping { found, wanted });
                remapped.insert(id.clone());
            }
        }
    }

    // Instances and registrations of accounts the organization no longer has.
    let unknown: BTreeSet<&AccountId> = observed
        .instances
        .keys()
        .chain(ours.keys().copied())
        .filter(|id| !seen.contains(id))
        .collect();
    for id in unknown {
        gone(id, observed, &ours, &mut repairs);
    }

    // A remap both moves the registration and brings the mapping file up to date: one each.
    repairs
        .registrations
        .extend(remapped.into_iter().map(|account| RegistrationWork::Remap {
            account,
            cause: CAUSE.to_owned(),
        }));
    Ok(repairs)
}

/// An account that is closed or left: its instance retired, its registration removed.
fn gone(
    id: &AccountId,
    observed: &Observed,
    ours: &BTreeMap<&AccountId, &Registration>,
    repairs: &mut Repairs,
) {
    if observed.instances.contains_key(id) {
        repairs.found(id, DriftKind::InstanceOfGoneAccount);
        repairs.retire.push(id.clone());
    }
    if ours.contains_key(id) {
        repairs.found(id, DriftKind::RegistrationOfGoneAccount);
        repairs.registrations.push(RegistrationWork::Deregister {
            account: id.clone(),
            cause: CAUSE.to_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::mapping::{OrganizationAccount, OrganizationalUnit, OuRules};

    const MANAGEMENT: &str = "111111111111";

    #[test]
    fn a_drift_is_shown_as_its_kind_with_the_account_and_what_was_found() {
        let drift = Drift {
            account: id(7),
            kind: DriftKind::StaleMapping {
                found: "prod".into(),
                wanted: "secops".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&drift).unwrap(),
            serde_json::json!({
                "kind": "staleMapping",
                "account": drift.account,
                "found": "prod",
                "wanted": "secops",
            })
        );
        let gone = Drift {
            account: id(7),
            kind: DriftKind::InstanceOfGoneAccount,
        };
        assert_eq!(
            serde_json::to_value(&gone).unwrap(),
            serde_json::json!({"kind": "instanceOfGoneAccount", "account": gone.account})
        );
    }

    fn id(n: u64) -> AccountId {
        AccountId::parse(&format!("{n:012}")).unwrap()
    }

    fn prefix() -> NamePrefix {
        NamePrefix::parse("lacework-ct").unwrap()
    }

    fn routing() -> SubAccountRouting {
        SubAccountRouting::new("acme", None, OuRules::parse("Prod=prod").unwrap()).unwrap()
    }

    fn tree(accounts: &[(u64, &str, AccountStatus)]) -> OrganizationTree {
        let mut tree = OrganizationTree::new("r-root");
        tree.add_unit(OrganizationalUnit {
            id: "ou-root-prod".into(),
            name: "Prod".into(),
            parent_id: "r-root".into(),
        });
        tree.add_account(OrganizationAccount {
            id: AccountId::parse(MANAGEMENT).unwrap(),
            name: "Management".into(),
            parent_id: "r-root".into(),
            status: AccountStatus::Active,
        });
        for (n, parent, status) in accounts {
            tree.add_account(OrganizationAccount {
                id: id(*n),
                name: format!("account {n}"),
                parent_id: (*parent).into(),
                status: *status,
            });
        }
        tree
    }

    fn ours(account: &AccountId, sub_account: &str) -> Registration {
        Registration {
            name: account_integration_name(&prefix(), account),
            account: account.clone(),
            sub_account: SubAccount::new(sub_account).unwrap(),
        }
    }

    fn run(observed: &Observed) -> Repairs {
        let prefix = prefix();
        let routing = routing();
        reconcile(
            observed,
            &Installation {
                prefix: &prefix,
                routing: &routing,
                partition: Partition::Aws,
                member_role: "lacework-ct-config-role",
                member_instances: true,
            },
        )
        .unwrap()
    }

    /// The state once every repair is done (what the functions would make of the work).
    fn repaired(observed: &Observed, repairs: &Repairs) -> Observed {
        let mut next = observed.clone();
        let routing = routing();
        let wanted = |account: &AccountId| routing.sub_account_for(&next.tree, account).unwrap();
        let mut placed: Vec<(AccountId, SubAccount)> = Vec::new();
        for onboarded in &repairs.onboard {
            next.instances
                .insert(onboarded.id.clone(), InstanceState::Current);
            placed.push((onboarded.id.clone(), wanted(&onboarded.id)));
        }
        for work in &repairs.registrations {
            match work {
                RegistrationWork::Register { account, .. }
                | RegistrationWork::Remap { account, .. } => {
                    placed.push((account.clone(), wanted(account)));
                }
                RegistrationWork::Deregister { account, .. } => {
                    next.registrations.retain(|r| &r.account != account);
                }
            }
        }
        for (account, sub_account) in placed {
            next.registrations.retain(|r| r.account != account);
            next.registrations
                .push(ours(&account, sub_account.as_str()));
            if let Some(mapping) = &mut next.mapping {
                if sub_account.as_str() == mapping.default_account() {
                    mapping.unassign(&account);
                } else {
                    mapping
                        .assign(account.clone(), sub_account.as_str())
                        .unwrap();
                }
            }
        }
        for account in &repairs.retire {
            next.instances.remove(account);
        }
        next
    }

    #[test]
    fn the_three_kinds_of_lost_work_are_found_and_repaired_as_ordinary_work() {
        use AccountStatus::*;
        let (created, deleted_integration, deleted_instance, closed) = (id(2), id(3), id(4), id(5));
        let observed = Observed {
            tree: tree(&[
                (2, "ou-root-prod", Active),
                (3, "r-root", Active),
                (4, "ou-root-prod", Active),
                (5, "r-root", Suspended),
            ]),
            management: Some(AccountId::parse(MANAGEMENT).unwrap()),
            instances: BTreeMap::from([
                (deleted_integration.clone(), InstanceState::Current),
                (closed.clone(), InstanceState::Current),
            ]),
            registrations: vec![ours(&deleted_instance, "prod"), ours(&closed, "acme")],
            mapping: None,
        };
        let repairs = run(&observed);
        assert_eq!(
            repairs.onboard.iter().map(|a| &a.id).collect::<Vec<_>>(),
            [&created, &deleted_instance]
        );
        assert_eq!(
            repairs.registrations,
            [
                RegistrationWork::Register {
                    account: deleted_integration.clone(),
                    role_arn: "arn:aws:iam::000000000003:role/lacework-ct-config-role".into(),
                    cause: CAUSE.into(),
                },
                RegistrationWork::Deregister {
                    account: closed.clone(),
                    cause: CAUSE.into(),
                },
            ]
        );
        assert_eq!(repairs.retire, [closed]);
        assert_eq!(repairs.drift.len(), 5, "{:#?}", repairs.drift);
        assert!(run(&repaired(&observed, &repairs)).drift.is_empty());
    }

    #[test]
    fn what_the_product_did_not_create_is_left_alone() {
        let account = id(7);
        let observed = Observed {
            tree: tree(&[(7, "r-root", AccountStatus::Suspended)]),
            management: Some(AccountId::parse(MANAGEMENT).unwrap()),
            instances: BTreeMap::new(),
            registrations: vec![Registration {
                name: "hand-made".into(),
                account: account.clone(),
                sub_account: SubAccount::new("acme").unwrap(),
            }],
            mapping: None,
        };
        assert!(run(&observed).drift.is_empty());
    }

    #[test]
    fn a_moved_account_and_a_stale_mapping_are_one_remap() {
        let account = id(8);
        let mut mapping = AccountMapping::new("acme").unwrap();
        mapping.assign(account.clone(), "acme-old").unwrap();
        let observed = Observed {
            tree: tree(&[(8, "ou-root-prod", AccountStatus::Active)]),
            management: Some(AccountId::parse(MANAGEMENT).unwrap()),
            instances: BTreeMap::from([(account.clone(), InstanceState::Current)]),
            registrations: vec![ours(&account, "acme")],
            mapping: Some(mapping),
        };
        let repairs = run(&observed);
        assert_eq!(repairs.drift.len(), 2, "{:#?}", repairs.drift);
        assert_eq!(
            repairs.registrations,
            [RegistrationWork::Remap {
                account,
                cause: CAUSE.into()
            }]
        );
        assert!(run(&repaired(&observed, &repairs)).drift.is_empty());
    }

    fn status() -> impl Strategy<Value = AccountStatus> {
        prop_oneof![
            4 => Just(AccountStatus::Active),
            1 => Just(AccountStatus::Suspended),
        ]
    }

    proptest! {
        /// Whatever the drift, one round of repairs leaves nothing to repair, and nothing
        /// that is not the product's is ever touched.
        #[test]
        fn one_round_of_repairs_is_enough(
            accounts in proptest::collection::btree_map(2u64..40, (any::<bool>(), status()), 0..20),
            instances in proptest::collection::btree_set(2u64..50, 0..20),
            registered in proptest::collection::btree_map(2u64..50, any::<bool>(), 0..20),
            org_level in any::<bool>(),
        ) {
            let observed = Observed {
                tree: tree(&accounts
                    .iter()
                    .map(|(n, (prod, status))| (*n, if *prod { "ou-root-prod" } else { "r-root" }, *status))
                    .collect::<Vec<_>>()),
                management: Some(AccountId::parse(MANAGEMENT).unwrap()),
                instances: instances.iter().map(|n| (id(*n), InstanceState::Current)).collect(),
                registrations: registered
                    .iter()
                    .map(|(n, prod)| ours(&id(*n), if *prod { "prod" } else { "acme" }))
                    .chain([Registration {
                        name: "someone-elses".into(),
                        account: id(99),
                        sub_account: SubAccount::new("acme").unwrap(),
                    }])
                    .collect(),
                mapping: org_level.then(|| AccountMapping::new("acme").unwrap()),
            };
            let repairs = run(&observed);
            prop_assert!(repairs.registrations.iter().all(|w| w.account() != &id(99)));
            let again = run(&repaired(&observed, &repairs));
            prop_assert!(again.drift.is_empty(), "{:#?}", again.drift);
        }
    }
}
