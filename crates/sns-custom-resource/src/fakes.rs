//! The function's ports in tests (the test kit's doubles and the real token requester,
//! against the emulator) and the organization of the tests.

use lwct_domain::AccountId;
use lwct_domain::mapping::{AccountStatus, OrganizationAccount, OrganizationTree};
use lwct_lacework::KeyTokenRequester;
use lwct_testkit::organizations::MemoryOrganizations;
use lwct_testkit::queues::MemoryQueues;
use lwct_testkit::secrets::MemorySecretStore;
use lwct_testkit::stack_sets::InMemoryStackSets;

use crate::function::Ports;

/// The ports of the tests: fakes for AWS, the real token requester (against the emulator).
pub struct TestPorts;

impl Ports for TestPorts {
    type Organizations = MemoryOrganizations;
    type StackSets = InMemoryStackSets;
    type Queues = MemoryQueues;
    type Secrets = MemorySecretStore;
    type Tokens = KeyTokenRequester;
}

/// The organization of the tests: Security (-> secops) and Workloads (-> prod) under the root.
pub fn organization() -> OrganizationTree {
    use lwct_domain::mapping::OrganizationalUnit;
    let mut tree = OrganizationTree::new("r-root");
    for (id, name) in [("ou-sec", "Security"), ("ou-work", "Workloads")] {
        tree.add_unit(OrganizationalUnit {
            id: id.into(),
            name: name.into(),
            parent_id: "r-root".into(),
        });
    }
    let mut add = |id: &str, parent: &str, status: AccountStatus| {
        tree.add_account(OrganizationAccount {
            id: AccountId::parse(id).unwrap(),
            name: format!("account {id}"),
            parent_id: parent.into(),
            status,
        });
    };
    add(SECURITY_ACCOUNT, "ou-sec", AccountStatus::Active);
    add(WORKLOAD_ACCOUNT, "ou-work", AccountStatus::Active);
    add(ROOT_ACCOUNT, "r-root", AccountStatus::Active);
    add(SUSPENDED_ACCOUNT, "ou-work", AccountStatus::Suspended);
    for index in 0..20 {
        add(&many_account(index), "r-root", AccountStatus::Active);
    }
    tree
}

/// An ACTIVE account in Security.
pub const SECURITY_ACCOUNT: &str = "222233334444";
/// An ACTIVE account in Workloads.
pub const WORKLOAD_ACCOUNT: &str = "333344445555";
/// An ACTIVE account directly under the root.
pub const ROOT_ACCOUNT: &str = "444455556666";
/// A SUSPENDED account in Workloads.
pub const SUSPENDED_ACCOUNT: &str = "555566667777";
/// An account that is not in the organization.
pub const STRANGER_ACCOUNT: &str = "777788889999";

/// Ten more ACTIVE accounts under the root.
pub fn many_account(index: usize) -> String {
    format!("1000000000{index:02}")
}
