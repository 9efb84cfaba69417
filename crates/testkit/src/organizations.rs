//! An organization in memory: its tree, its management account, and the ways AWS
//! Organizations fails (throttling) or a bug shows (a panic).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use lwct_aws::organizations::{MemberAccount, Organizations};
use lwct_domain::mapping::{OrganizationAccount, OrganizationTree};
use lwct_domain::{AccountId, Error};

/// [`Organizations`] over a tree held in memory.
#[derive(Debug)]
pub struct MemoryOrganizations {
    tree: Mutex<OrganizationTree>,
    management: AccountId,
    tree_reads: AtomicUsize,
    account_listings: AtomicUsize,
    /// Calls of any kind.
    calls: AtomicUsize,
    /// The next this many listings (of the accounts or the tree) are throttled.
    throttled_reads: AtomicU32,
    /// The next call panics (a stand-in for a bug).
    panic_next: AtomicBool,
}

impl MemoryOrganizations {
    pub fn new(tree: OrganizationTree, management: AccountId) -> Self {
        Self {
            tree: Mutex::new(tree),
            management,
            tree_reads: AtomicUsize::new(0),
            account_listings: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
            throttled_reads: AtomicU32::new(0),
            panic_next: AtomicBool::new(false),
        }
    }

    fn tree(&self) -> MutexGuard<'_, OrganizationTree> {
        // A test that panicked while holding the lock has failed already.
        self.tree
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Moves an account under another parent (`MoveAccount`).
    pub fn move_account(&self, account: &AccountId, parent: &str) {
        let mut tree = self.tree();
        if let Some(found) = tree.account(account).cloned() {
            tree.add_account(OrganizationAccount {
                parent_id: parent.to_owned(),
                ..found
            });
        }
    }

    /// How often the whole tree was read.
    pub fn tree_reads(&self) -> usize {
        self.tree_reads.load(Ordering::SeqCst)
    }

    /// How often every account was listed (`ListAccounts`).
    pub fn account_listings(&self) -> usize {
        self.account_listings.load(Ordering::SeqCst)
    }

    /// How many calls were made, of any kind.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Throttles the next `reads` listings of the accounts or of the tree, the calls that
    /// Organizations throttles first.
    pub fn throttle_next_reads(&self, reads: u32) {
        self.throttled_reads.store(reads, Ordering::SeqCst);
    }

    /// Reads still to be throttled.
    pub fn throttled_reads_left(&self) -> u32 {
        self.throttled_reads.load(Ordering::SeqCst)
    }

    /// Makes the next call panic.
    pub fn panic_next(&self) {
        self.panic_next.store(true, Ordering::SeqCst);
    }

    fn read(&self, operation: &str, listing: bool) -> Result<(), Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.panic_next.swap(false, Ordering::SeqCst) {
            panic!("the organization in memory was told to panic");
        }
        let throttled = listing
            && self
                .throttled_reads
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if throttled {
            return Err(Error::Aws {
                operation: operation.to_owned(),
                code: Some("TooManyRequestsException".to_owned()),
                message: "AWS Organizations can't complete your request because another request is already in progress".to_owned(),
                retryable: true,
            });
        }
        Ok(())
    }
}

impl Organizations for MemoryOrganizations {
    async fn management_account(&self) -> Result<AccountId, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.panic_next.swap(false, Ordering::SeqCst) {
            panic!("the organization in memory was told to panic");
        }
        Ok(self.management.clone())
    }

    async fn describe_account(&self, account: &AccountId) -> Result<Option<MemberAccount>, Error> {
        self.read("organizations:DescribeAccount", false)?;
        Ok(self.tree().account(account).map(member))
    }

    async fn list_accounts(&self) -> Result<Vec<MemberAccount>, Error> {
        self.account_listings.fetch_add(1, Ordering::SeqCst);
        self.read("organizations:ListAccounts", true)?;
        Ok(self.tree().accounts().map(member).collect())
    }

    async fn organization_tree(&self) -> Result<OrganizationTree, Error> {
        self.tree_reads.fetch_add(1, Ordering::SeqCst);
        self.read("organizations:ListAccountsForParent", true)?;
        Ok(self.tree().clone())
    }
}

fn member(account: &OrganizationAccount) -> MemberAccount {
    MemberAccount {
        id: account.id.clone(),
        name: account.name.clone(),
        status: account.status,
    }
}
