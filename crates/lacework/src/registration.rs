//! Idempotent registration: running the same registration twice (at-least-once delivery)
//! changes nothing the second time, and an AWS account Lacework already knows is found and
//! brought up to date rather than reported as a failure.

use std::collections::HashSet;
use std::time::Duration;

use super::client::Client;
use super::search::{Filter, SearchRequest};
use super::transport::{failure, kind_of};
use lwct_domain::account::AccountId;
use lwct_domain::error::{Error, LaceworkErrorKind};
use lwct_domain::lacework::Scope;
use lwct_domain::lacework::{CloudAccount, CloudAccountSpec, IntegrationData};

/// What a registration had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// There was no integration; one was created.
    Created,
    /// An integration existed (by name, or for the same AWS account) and was changed to match.
    Updated,
    /// The integration already was exactly as asked.
    Unchanged,
}

/// The integration after a registration, and what it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration<D> {
    /// What had to be done.
    pub outcome: Outcome,
    /// The integration as Lacework now holds it.
    pub record: CloudAccount<D>,
}

impl Client {
    /// Makes sure an integration like `spec` exists in `scope`, whatever state it was in:
    ///
    /// 1. one with the same name and type exists: it is updated if it differs;
    /// 2. else one is created;
    /// 3. if the create fails in a way that may have created it anyway (timeout, 5xx, lost
    ///    connection), the whole lookup-then-create is tried again after a backoff, so a
    ///    create that did succeed is found by name instead of made twice;
    /// 4. if Lacework refuses the create of a type it keeps once per AWS account (`AwsCfg`)
    ///    with a 4xx other than 401/403/429, the integration of that AWS account is looked up
    ///    and updated to `spec` (renamed too, so the next run finds it by name in one call).
    ///    The text "aws account is already used" is recognised too, but no public source shows
    ///    the service's real text, so any such refusal is checked this way.
    pub async fn register_or_reconcile<D: IntegrationData>(
        &self,
        scope: &Scope,
        spec: &CloudAccountSpec<D>,
    ) -> Result<Registration<D>, Error> {
        let retry = self.retry_policy();
        let max_attempts = retry.max_attempts.max(1);
        let mut attempt = 1;
        let refused = loop {
            if let Some(existing) = self
                .find_by_name::<D>(scope, &spec.name)
                .await?
                .into_iter()
                .next()
            {
                return self.reconcile(scope, existing, spec).await;
            }
            match self.create(scope, spec).await {
                Ok(record) => return Ok(created(scope, record, attempt)),
                Err(error) if may_have_happened(&error) && attempt < max_attempts => {
                    let delay = retry.next_delay(attempt, retry_after_of(&error));
                    tracing::warn!(
                        %scope,
                        name = %spec.name,
                        kind = D::TYPE,
                        attempt,
                        %error,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "create may or may not have happened; looking it up again before retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) if may_mean_exists::<D>(&error) => break error,
                Err(error) => return Err(error),
            }
        };
        self.reconcile_refused(scope, spec, refused).await
    }

    /// After Lacework `refused` the create of `spec` in a way that may mean its AWS account
    /// is integrated already: that integration, looked up by account and brought to `spec`.
    async fn reconcile_refused<D: IntegrationData>(
        &self,
        scope: &Scope,
        spec: &CloudAccountSpec<D>,
        refused: Error,
    ) -> Result<Registration<D>, Error> {
        let Some(account) = spec.data.aws_account() else {
            return Err(refused);
        };
        // The service's message is logged so that its real text for a duplicate can be learnt.
        tracing::warn!(
            %scope,
            aws_account = %account,
            kind = D::TYPE,
            error = %refused,
            "Lacework refused the create; looking the AWS account up in case it is integrated already"
        );
        match self
            .find_by_aws_account::<D>(scope, &account)
            .await?
            .into_iter()
            .next()
        {
            Some(existing) => {
                tracing::info!(
                    %scope,
                    aws_account = %account,
                    integration = %existing.intg_guid,
                    "AWS account already integrated; reconciling that integration"
                );
                self.reconcile(scope, existing, spec).await
            }
            None if kind_of(&refused) == Some(LaceworkErrorKind::Conflict) => Err(failure(
                LaceworkErrorKind::Conflict,
                format!("register {} {}", D::TYPE, spec.name),
                format!(
                    "Lacework says AWS account {account} is already used, but no {} integration \
                     for it is visible in {scope}; it is probably registered in another \
                     sub-account ({refused})",
                    D::TYPE
                ),
            )),
            None => Err(refused),
        }
    }

    /// Integrations of type `D` named `name` in `scope`.
    pub async fn find_by_name<D: IntegrationData>(
        &self,
        scope: &Scope,
        name: &str,
    ) -> Result<Vec<CloudAccount<D>>, Error> {
        self.find::<D>(scope, |record| record.name == name).await
    }

    /// Integrations of type `D` in `scope` that cover AWS account `account` (by
    /// `awsAccountId`, or else by the account in the role ARN).
    pub async fn find_by_aws_account<D: IntegrationData>(
        &self,
        scope: &Scope,
        account: &AccountId,
    ) -> Result<Vec<CloudAccount<D>>, Error> {
        self.find::<D>(scope, |record| {
            record.data.aws_account().as_ref() == Some(account)
        })
        .await
    }

    /// Deletes every integration of type `D` in `scope` that covers `account`; returns how
    /// many were deleted. Nothing to delete is not an error (it may be a second delivery).
    pub async fn deregister_aws_account<D: IntegrationData>(
        &self,
        scope: &Scope,
        account: &AccountId,
    ) -> Result<usize, Error> {
        let mut listing = Listing::new(
            self.find_by_aws_account::<D>(scope, account).await?,
            Sees::Everything,
        );
        self.deregister_listed(scope, account, &mut listing).await
    }

    /// Deletes an integration; `false` if it was already gone.
    pub async fn delete_if_exists(&self, scope: &Scope, intg_guid: &str) -> Result<bool, Error> {
        match self.delete(scope, intg_guid).await {
            Ok(()) => Ok(true),
            Err(error) if kind_of(&error) == Some(LaceworkErrorKind::NotFound) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Records of type `D` that satisfy `wanted` ([`readable`]).
    async fn find<D: IntegrationData>(
        &self,
        scope: &Scope,
        wanted: impl Fn(&CloudAccount<D>) -> bool,
    ) -> Result<Vec<CloudAccount<D>>, Error> {
        let (_, records) = self.list_by_type_any::<D>(scope).await?;
        Ok(readable(scope, records, wanted))
    }

    async fn reconcile<D: IntegrationData>(
        &self,
        scope: &Scope,
        existing: CloudAccount<D>,
        spec: &CloudAccountSpec<D>,
    ) -> Result<Registration<D>, Error> {
        if existing.matches(spec) {
            tracing::info!(
                %scope,
                integration = %existing.intg_guid,
                name = %existing.name,
                "Lacework integration already as wanted"
            );
            return Ok(Registration {
                outcome: Outcome::Unchanged,
                record: existing,
            });
        }
        // Send the whole wanted data: fields the spec leaves unset keep what Lacework holds,
        // whether the service merges `data` on PATCH or replaces it.
        let mut wanted = spec.clone();
        wanted.data.fill_unset_from(&existing.data);
        let record = self.update(scope, &existing.intg_guid, &wanted).await?;
        tracing::info!(
            %scope,
            integration = %record.intg_guid,
            name = %record.name,
            "updated Lacework integration"
        );
        Ok(Registration {
            outcome: Outcome::Updated,
            record,
        })
    }
}

/// The integrations of type `D` in one scope - all of them ([`Client::listing`]) or those of
/// some AWS accounts ([`Client::listing_of`]) - read once and kept current by the
/// registrations and removals made through it. A run that registers many accounts reads each
/// scope once instead of looking before every create: a new account then costs one request
/// (its create), one already as wanted none.
#[derive(Debug, Clone)]
pub struct Listing<D> {
    held: Vec<Held<D>>,
    sees: Sees,
}

/// What a listing was read for.
#[derive(Debug, Clone)]
enum Sees {
    /// Every integration of the scope.
    Everything,
    /// The integrations of these AWS accounts (by `data.awsAccountId`).
    Accounts(HashSet<AccountId>),
}

/// A listed integration and its AWS account, read once: a run looks every account up in
/// listings of thousands of records, and reading each role ARN at each look was most of its work.
#[derive(Debug, Clone)]
struct Held<D> {
    record: CloudAccount<D>,
    account: Option<AccountId>,
}

impl<D: IntegrationData> Held<D> {
    fn new(record: CloudAccount<D>) -> Self {
        let account = record.data.aws_account();
        Self { record, account }
    }

    fn covers(&self, account: &AccountId) -> bool {
        self.account.as_ref() == Some(account)
    }
}

impl<D: IntegrationData> Listing<D> {
    /// A scope that holds no integration of type `D` (one Lacework does not let us see).
    pub fn empty() -> Self {
        Self::new(Vec::new(), Sees::Everything)
    }

    /// The `records` of what the listing `sees`.
    fn new(records: Vec<CloudAccount<D>>, sees: Sees) -> Self {
        Self {
            held: records.into_iter().map(Held::new).collect(),
            sees,
        }
    }

    /// Whether the listing holds every integration of the scope.
    pub fn sees_everything(&self) -> bool {
        matches!(self.sees, Sees::Everything)
    }

    /// Whether the listing would hold `account`'s integrations, if it had any.
    pub fn sees(&self, account: &AccountId) -> bool {
        match &self.sees {
            Sees::Everything => true,
            Sees::Accounts(accounts) => accounts.contains(account),
        }
    }

    /// Adds what a listing of more accounts of the same scope found.
    pub fn add(&mut self, more: Listing<D>) {
        match (&mut self.sees, more.sees) {
            (Sees::Accounts(seen), Sees::Accounts(also)) => seen.extend(also),
            (sees, Sees::Everything) => *sees = Sees::Everything,
            (Sees::Everything, Sees::Accounts(_)) => {}
        }
        for held in more.held {
            self.keep(held.record);
        }
    }

    /// The integrations held, as last seen.
    pub fn records(&self) -> impl Iterator<Item = &CloudAccount<D>> {
        self.held.iter().map(|held| &held.record)
    }

    /// The integration to bring to `spec`: the one of that name, else the one of its AWS
    /// account (enabled ones first, as [`Client::find_by_aws_account`] orders them).
    fn position_for(&self, spec: &CloudAccountSpec<D>) -> Option<usize> {
        if let Some(at) = self.held.iter().position(|h| h.record.name == spec.name) {
            return Some(at);
        }
        let account = spec.data.aws_account()?;
        self.held
            .iter()
            .position(|h| h.record.enabled && h.covers(&account))
            .or_else(|| self.position_of_account(&account))
    }

    /// The position of an integration of `account`, if one is held.
    fn position_of_account(&self, account: &AccountId) -> Option<usize> {
        self.held.iter().position(|h| h.covers(account))
    }

    /// Takes the record at `at` out of the listing.
    fn take(&mut self, at: usize) -> CloudAccount<D> {
        self.held.swap_remove(at).record
    }

    fn keep(&mut self, record: CloudAccount<D>) {
        let record = Held::new(record);
        match self
            .held
            .iter_mut()
            .find(|h| h.record.intg_guid == record.record.intg_guid)
        {
            Some(held) => *held = record,
            None => self.held.push(record),
        }
    }
}

impl Client {
    /// Every integration of type `D` in `scope`, for registering many accounts there. A record
    /// whose data cannot be read as `D` is skipped with a warning, as the lookups do.
    pub async fn listing<D: IntegrationData>(&self, scope: &Scope) -> Result<Listing<D>, Error> {
        let records = self.find::<D>(scope, |_| true).await?;
        Ok(Listing::new(records, Sees::Everything))
    }

    /// The integrations of type `D` in `scope` of these AWS accounts, in one search (`type`
    /// is `D::TYPE`, `data.awsAccountId` one of `accounts`): the answer's size is that of the
    /// batch, not of the scope. Only records of those accounts are kept, whatever the service
    /// answered, so a listing never claims to have seen more than it asked for. A record
    /// without `data.awsAccountId` (made by something else) is not found this way: a create
    /// for its account is refused as a duplicate, and [`Client::register_listed`] then looks
    /// the account up in the whole scope.
    pub async fn listing_of<D: IntegrationData>(
        &self,
        scope: &Scope,
        accounts: &[AccountId],
    ) -> Result<Listing<D>, Error> {
        let asked: HashSet<AccountId> = accounts.iter().cloned().collect();
        if asked.is_empty() {
            return Ok(Listing::new(Vec::new(), Sees::Accounts(asked)));
        }
        let request = SearchRequest::new(vec![
            Filter::eq("type", D::TYPE),
            Filter::any_of("data.awsAccountId", accounts.iter().map(AccountId::as_str)),
        ]);
        let mut records: Vec<CloudAccount> = self.search(scope, &request).await?;
        records.retain(|record| record.kind == D::TYPE);
        let found = readable(scope, records, |record: &CloudAccount<D>| {
            (record.data.aws_account()).is_some_and(|account| asked.contains(&account))
        });
        Ok(Listing::new(found, Sees::Accounts(asked)))
    }

    /// [`Client::register_or_reconcile`] over a listing of the scope: no lookup before the
    /// create. When the create fails, the listing may be out of date (a create that timed out
    /// may have happened; Lacework may know the AWS account under another name): the caller
    /// should list the scope again before its next registration there. A create Lacework
    /// refuses as if the AWS account were integrated already (a record the listing could not
    /// show) is followed by a lookup of that account. A listing that was not read for the
    /// spec's account cannot tell: [`Client::register_or_reconcile`] looks first.
    pub async fn register_listed<D: IntegrationData>(
        &self,
        scope: &Scope,
        spec: &CloudAccountSpec<D>,
        listing: &mut Listing<D>,
    ) -> Result<Registration<D>, Error> {
        let seen = listing.sees_everything()
            || spec
                .data
                .aws_account()
                .is_some_and(|account| listing.sees(&account));
        if !seen {
            // The listing cannot tell whether the integration exists: look it up.
            let registration = self.register_or_reconcile(scope, spec).await?;
            listing.keep(registration.record.clone());
            return Ok(registration);
        }
        let registration = match listing.position_for(spec) {
            Some(at) => {
                let existing = listing.take(at);
                self.reconcile(scope, existing, spec).await?
            }
            None => match self.create(scope, spec).await {
                Ok(record) => created(scope, record, 1),
                Err(error) if may_mean_exists::<D>(&error) => {
                    self.reconcile_refused(scope, spec, error).await?
                }
                Err(error) => return Err(error),
            },
        };
        listing.keep(registration.record.clone());
        Ok(registration)
    }

    /// [`Client::deregister_aws_account`] over a listing of the scope: a request only for
    /// each integration of `account` it holds.
    pub async fn deregister_listed<D: IntegrationData>(
        &self,
        scope: &Scope,
        account: &AccountId,
        listing: &mut Listing<D>,
    ) -> Result<usize, Error> {
        if !listing.sees(account) {
            // The lookup reads the whole scope anyway: keep all of it, so that the next
            // account the listing was not read for costs nothing.
            listing.add(self.listing::<D>(scope).await?);
        }
        let mut deleted = 0;
        while let Some(at) = listing.position_of_account(account) {
            let record = listing.take(at);
            if self.delete_if_exists(scope, &record.intg_guid).await? {
                deleted += 1;
                tracing::info!(
                    %scope,
                    aws_account = %account,
                    integration = %record.intg_guid,
                    "deleted Lacework integration"
                );
            }
        }
        Ok(deleted)
    }
}

/// The records that read as `D` and satisfy `wanted`, enabled ones first (if there are
/// several, the live one is the one to keep). A record whose data cannot be read as `D`
/// (someone else's, made by hand) is skipped with a warning rather than failing the lookup.
fn readable<D: IntegrationData>(
    scope: &Scope,
    records: Vec<CloudAccount>,
    wanted: impl Fn(&CloudAccount<D>) -> bool,
) -> Vec<CloudAccount<D>> {
    let mut found = Vec::new();
    for record in records {
        let guid = record.intg_guid.clone();
        match record.typed::<D>() {
            Ok(record) if wanted(&record) => found.push(record),
            Ok(_) => {}
            Err(error) => tracing::warn!(
                %scope,
                integration = %guid,
                %error,
                "skipping a Lacework integration whose data cannot be read"
            ),
        }
    }
    found.sort_by_key(|record| !record.enabled);
    found
}

/// The registration of a record just created (at the `attempt`th try), logged.
fn created<D: IntegrationData>(
    scope: &Scope,
    record: CloudAccount<D>,
    attempt: u32,
) -> Registration<D> {
    tracing::info!(
        %scope,
        integration = %record.intg_guid,
        name = %record.name,
        kind = D::TYPE,
        attempt,
        "created Lacework integration"
    );
    Registration {
        outcome: Outcome::Created,
        record,
    }
}

/// A refused create that may mean "the integration exists already": a conflict by its text,
/// or, for a type Lacework keeps once per AWS account, any 4xx that is not about the token,
/// access or the rate limit.
fn may_mean_exists<D: IntegrationData>(error: &Error) -> bool {
    let Error::Lacework { kind, status, .. } = error else {
        return false;
    };
    let refused_4xx =
        status.is_some_and(|s| (400..500).contains(&s) && ![401, 403, 429].contains(&s));
    *kind == LaceworkErrorKind::Conflict || (D::ONE_PER_AWS_ACCOUNT && refused_4xx)
}

/// A failed create that the service may have carried out all the same. A 429 is not one (it
/// was refused, and the transport already waited for it as far as it may).
fn may_have_happened(error: &Error) -> bool {
    use LaceworkErrorKind::*;
    matches!(kind_of(error), Some(Server | Timeout | Transport))
}

fn retry_after_of(error: &Error) -> Option<Duration> {
    match error {
        Error::Lacework { retry_after, .. } => retry_after.map(Duration::from_secs),
        _ => None,
    }
}
