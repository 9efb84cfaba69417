//! AWS Organizations: the management account, one account's name and state, every account,
//! and the tree of OUs and accounts the account mapping is built from.
//!
//! [`Organizations`] is the port; [`OrganizationsClient`] the adapter over the AWS SDK. Every
//! listing follows its pages to the end.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::{Account, AccountStatus as SdkAccountStatus};

use crate::{aws_error, every_page, not_retryable, unless_missing};
use lwct_domain::account::AccountId;
use lwct_domain::error::{Error, Problem};
use lwct_domain::mapping::{
    AccountStatus, OrganizationAccount, OrganizationTree, OrganizationalUnit,
};
use tokio::time::Instant;

/// An account of the organization, as `DescribeAccount` and `ListAccounts` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAccount {
    pub id: AccountId,
    pub name: String,
    pub status: AccountStatus,
}

/// What the functions ask AWS Organizations.
pub trait Organizations: Send + Sync {
    /// The organization's management account (`DescribeOrganization`).
    fn management_account(&self) -> impl Future<Output = Result<AccountId, Error>> + Send;

    /// One account (`DescribeAccount`); `None` when it is not in the organization.
    fn describe_account(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Option<MemberAccount>, Error>> + Send;

    /// Every account of the organization, in any state (`ListAccounts`, every page).
    fn list_accounts(&self) -> impl Future<Output = Result<Vec<MemberAccount>, Error>> + Send;

    /// The root, every OU and every account with its parent (`ListRoots`,
    /// `ListOrganizationalUnitsForParent`, `ListAccountsForParent`, every page).
    fn organization_tree(&self) -> impl Future<Output = Result<OrganizationTree, Error>> + Send;
}

/// The organization tree a warm container last read, and when: reading the tree of a large
/// organization costs a call per 20 accounts, so a function may decide with one it read a
/// little earlier when the decision allows.
#[derive(Debug, Default)]
pub struct KeptTree {
    last: Mutex<Option<(Instant, Arc<OrganizationTree>)>>,
}

impl KeptTree {
    /// The kept tree when it was read less than `max_age` ago and `serves` accepts it; else
    /// the tree `read` reads now (the whole tree, or less of the organization: see
    /// [`OrganizationTree::accounts_only`]), which is kept instead.
    pub async fn current_or(
        &self,
        max_age: Duration,
        serves: impl FnOnce(&OrganizationTree) -> bool,
        read: impl Future<Output = Result<OrganizationTree, Error>>,
    ) -> Result<Arc<OrganizationTree>, Error> {
        let kept = self
            .last()
            .as_ref()
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, tree)| tree.clone());
        if let Some(tree) = kept.filter(|tree| serves(tree)) {
            return Ok(tree);
        }
        let tree = Arc::new(read.await?);
        *self.last() = Some((Instant::now(), tree.clone()));
        Ok(tree)
    }

    fn last(&self) -> MutexGuard<'_, Option<(Instant, Arc<OrganizationTree>)>> {
        // Only ever replaced whole: a panic elsewhere cannot leave it half written.
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// [`Organizations`] over the AWS SDK.
#[derive(Debug, Clone)]
pub struct OrganizationsClient {
    client: Client,
}

impl OrganizationsClient {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl Organizations for OrganizationsClient {
    async fn management_account(&self) -> Result<AccountId, Error> {
        const OPERATION: &str = "organizations:DescribeOrganization";
        let output = self
            .client
            .describe_organization()
            .send()
            .await
            .map_err(|err| aws_error(OPERATION, err))?;
        let id = output
            .organization()
            .and_then(|organization| organization.master_account_id())
            .ok_or_else(|| not_retryable(OPERATION, "the answer has no management account id"))?;
        AccountId::parse(id).map_err(|err| not_retryable(OPERATION, err.to_string()))
    }

    async fn describe_account(&self, account: &AccountId) -> Result<Option<MemberAccount>, Error> {
        const OPERATION: &str = "organizations:DescribeAccount";
        let sent = self
            .client
            .describe_account()
            .account_id(account.as_str())
            .send()
            .await;
        let Some(output) = unless_missing(OPERATION, sent, |e| e.is_account_not_found_exception())?
        else {
            return Ok(None);
        };
        let described = output
            .account()
            .ok_or_else(|| not_retryable(OPERATION, "the answer has no account"))?;
        member_account(described)
            .map(Some)
            .map_err(|problem| not_retryable(OPERATION, problem.to_string()))
    }

    async fn list_accounts(&self) -> Result<Vec<MemberAccount>, Error> {
        const OPERATION: &str = "organizations:ListAccounts";
        let listing = self.client.list_accounts().into_paginator().send();
        let pages = every_page(OPERATION, listing).await?;
        let listed = pages.iter().flat_map(|page| page.accounts());
        Ok(readable_accounts(OPERATION, listed))
    }

    async fn organization_tree(&self) -> Result<OrganizationTree, Error> {
        const OPERATION: &str = "organizations:ListRoots";
        let pages = every_page(OPERATION, self.client.list_roots().into_paginator().send()).await?;
        let root_id = pages
            .iter()
            .flat_map(|page| page.roots())
            .next()
            .and_then(|root| root.id())
            .ok_or_else(|| not_retryable(OPERATION, "the organization has no root"))?
            .to_owned();
        let mut tree = OrganizationTree::new(root_id.clone());
        // Breadth first from the root; every parent is listed once.
        let mut parents = vec![root_id];
        while let Some(parent_id) = parents.pop() {
            let request = self.client.list_organizational_units_for_parent();
            let listing = request.parent_id(&parent_id).into_paginator().send();
            let pages =
                every_page("organizations:ListOrganizationalUnitsForParent", listing).await?;
            for unit in pages.iter().flat_map(|page| page.organizational_units()) {
                let (Some(id), Some(name)) = (unit.id(), unit.name()) else {
                    tracing::warn!(parent = %parent_id, "skipping an OU listed without id or name");
                    continue;
                };
                if tree.unit(id).is_none() {
                    parents.push(id.to_owned());
                }
                tree.add_unit(OrganizationalUnit {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    parent_id: parent_id.clone(),
                });
            }
            const OPERATION: &str = "organizations:ListAccountsForParent";
            let request = self.client.list_accounts_for_parent();
            let listing = request.parent_id(&parent_id).into_paginator().send();
            let pages = every_page(OPERATION, listing).await?;
            let listed = pages.iter().flat_map(|page| page.accounts());
            for account in readable_accounts(OPERATION, listed) {
                tree.add_account(OrganizationAccount {
                    id: account.id,
                    name: account.name,
                    parent_id: parent_id.clone(),
                    status: account.status,
                });
            }
        }
        Ok(tree)
    }
}

/// The accounts of a listing that can be read; the others are logged and left out (an
/// account in a state this version does not know is not one to monitor).
fn readable_accounts<'a>(
    operation: &str,
    listed: impl IntoIterator<Item = &'a Account>,
) -> Vec<MemberAccount> {
    listed
        .into_iter()
        .filter_map(|account| match member_account(account) {
            Ok(account) => Some(account),
            Err(problem) => {
                tracing::warn!(operation, %problem, "skipping an account that cannot be read");
                None
            }
        })
        .collect()
}

/// An SDK account read into a [`MemberAccount`], or which of its fields is wrong and how.
pub fn member_account(account: &Account) -> Result<MemberAccount, Problem> {
    let id_text = account
        .id()
        .ok_or_else(|| Problem::new("Id", "is missing"))?;
    let id = AccountId::parse(id_text).map_err(|err| Problem::new("Id", err.to_string()))?;
    let name = account.name().unwrap_or_default().to_owned();
    let status_text = account.status().map(SdkAccountStatus::as_str).unwrap_or("");
    let status = AccountStatus::from_aws(status_text).ok_or_else(|| {
        let reason =
            format!("{status_text:?} of account {id} is a state this version does not know");
        Problem::new("Status", reason)
    })?;
    Ok(MemberAccount { id, name, status })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk_account(id: &str, name: &str, status: &str) -> Account {
        Account::builder()
            .id(id)
            .name(name)
            .status(SdkAccountStatus::from(status))
            .build()
    }

    #[test]
    fn accounts_are_read_with_their_status() {
        let account =
            member_account(&sdk_account("000011112222", "Log Archive", "ACTIVE")).unwrap();
        assert_eq!(account.id.as_str(), "000011112222");
        assert_eq!(account.name, "Log Archive");
        assert_eq!(account.status, AccountStatus::Active);
        let suspended = member_account(&sdk_account("000011112223", "Old", "SUSPENDED")).unwrap();
        assert_eq!(suspended.status, AccountStatus::Suspended);
    }

    #[test]
    fn unreadable_accounts_are_left_out_of_listings() {
        let listed = [
            sdk_account("000011112222", "ok", "ACTIVE"),
            sdk_account("1111", "short id", "ACTIVE"),
            sdk_account("000011112224", "new state", "HIBERNATING"),
            Account::builder().name("no id").build(),
        ];
        let read = readable_accounts("organizations:ListAccounts", &listed);
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].name, "ok");
        let reason = member_account(&listed[2]).unwrap_err().to_string();
        assert!(reason.contains("HIBERNATING"), "{reason}");
    }
}
