//! The Lacework API secret in Secrets Manager: reading it, changing it safely when several
//! runs overlap, and a [`TokenSource`] that takes the Lacework token from it.
//!
//! # Overlapping writers
//!
//! `setup`, `auth-refresh` and the token source of any function may change the secret at the
//! same time. Secrets Manager has no conditional `PutSecretValue`, but moving the `AWSCURRENT`
//! label is conditional: `UpdateSecretVersionStage` with `RemoveFromVersionId` fails unless
//! that version still holds the label. So every change is a compare-and-swap:
//!
//! 1. `GetSecretValue` (`AWSCURRENT`) gives the contents and their `VersionId`;
//! 2. the change is applied to exactly those contents;
//! 3. `PutSecretValue` stores the result as a new version labelled only `TOWER_PROPOSED`
//!    (so readers still see the old `AWSCURRENT`);
//! 4. `UpdateSecretVersionStage` moves `AWSCURRENT` to the new version, removing it from the
//!    version read in step 1. If another writer moved it meanwhile, this fails, nothing
//!    readers see has changed, and the change is applied again to the newer contents
//!    ([`SecretPort::update`], at most [`MAX_ATTEMPTS`] times).
//!
//! Hence a change never overwrites one it did not see: a token renewal cannot drop an external
//! id suffix that `setup` stored a moment earlier, two `setup` runs cannot each store a
//! different suffix, and the secret is always one complete JSON document (versions are
//! written whole). Two overlapping renewals may each get a token from Lacework; one of them
//! ends up in the secret, and the other is simply not used. A loser's proposed version keeps
//! the `TOWER_PROPOSED` label until the next write takes it; it is never `AWSCURRENT`.
//!
//! If the label move succeeded but its answer was lost (a timeout), the secret is read again:
//! finding our version current counts as success.
//!
//! # A secret rewritten whole
//!
//! The stack owns the secret's `keyId` and `secretKey`: rotating the key through the stack's
//! parameters (or a rollback) makes CloudFormation write a new version holding those two
//! only, without the installation's external id suffix. Drawing a new suffix would change
//! every external id - every role's trust and every integration. So a writer that finds no
//! suffix in `AWSCURRENT` takes it from the newest earlier version that has one
//! ([`SecretPort::earlier_external_id_suffix`]: `AWSPREVIOUS` first, then older versions,
//! newest first), and the next write stores it again.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::aws_error;
use lwct_domain::api_secret::ApiSecret;
use lwct_domain::error::{Error, Problem};
use lwct_domain::external_id::ExternalIdSuffix;
use lwct_domain::lacework::Token;
use lwct_lacework::{KeyTokenRequester, TokenFuture, TokenRequester, TokenSource};

/// The label that holds every version while it waits to become `AWSCURRENT`.
pub const PROPOSED_STAGE: &str = "TOWER_PROPOSED";

/// The label of the version readers get.
const CURRENT_STAGE: &str = "AWSCURRENT";

/// How many earlier versions are read, at most, looking for the external id suffix.
pub const SUFFIX_LOOKBACK: usize = 10;

/// The label Secrets Manager gives the version that was `AWSCURRENT` before the current one.
const PREVIOUS_STAGE: &str = "AWSPREVIOUS";

/// How many times a change is applied again after other writers got in first. Each retry
/// follows a write that completed, so this bounds the work, not the waiting.
pub const MAX_ATTEMPTS: usize = 5;

/// The secret as it is now, and the version that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedSecret {
    pub secret: ApiSecret,
    /// The Secrets Manager `VersionId` of the `AWSCURRENT` version.
    pub version_id: String,
}

/// What [`SecretPort::replace_current`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaceOutcome {
    /// The new contents are `AWSCURRENT` now, in this version.
    Replaced { version_id: String },
    /// Another writer changed the secret first; nothing was changed.
    CurrentMoved,
}

/// The secret's storage, narrowed to the two operations everything else is built on. The real
/// one is [`SecretStore`]; [`MemorySecretStore`] keeps the same rules in memory for tests.
pub trait SecretPort: Send + Sync {
    /// The `AWSCURRENT` contents and their version.
    fn read_current(&self) -> impl Future<Output = Result<VersionedSecret, Error>> + Send;

    /// Makes `secret` current if `expected_version` still is; otherwise changes nothing and
    /// says so.
    fn replace_current(
        &self,
        expected_version: &str,
        secret: &ApiSecret,
    ) -> impl Future<Output = Result<ReplaceOutcome, Error>> + Send;

    /// The external id suffix of the newest version before `AWSCURRENT` that has one
    /// (`AWSPREVIOUS` first, then older versions, newest first, at most [`SUFFIX_LOOKBACK`]);
    /// `None` when none has. Versions that cannot be read as the secret are passed over.
    fn earlier_external_id_suffix(
        &self,
    ) -> impl Future<Output = Result<Option<ExternalIdSuffix>, Error>> + Send;

    /// The current contents.
    fn read(&self) -> impl Future<Output = Result<ApiSecret, Error>> + Send {
        async move { Ok(self.read_current().await?.secret) }
    }

    /// Applies `change` to the current contents and stores the result, again on newer
    /// contents whenever another writer got in first. `change` answers `None` (or the same
    /// contents) when nothing needs to be written. Returns the contents the secret holds
    /// afterwards.
    fn update<F>(&self, change: F) -> impl Future<Output = Result<ApiSecret, Error>> + Send
    where
        F: FnMut(&ApiSecret) -> Result<Option<ApiSecret>, Error> + Send,
    {
        async move {
            let mut change = change;
            for _ in 0..MAX_ATTEMPTS {
                let mut current = self.read_current().await?;
                if current.secret.external_id_suffix.is_none() {
                    if let Some(suffix) = self.earlier_external_id_suffix().await? {
                        tracing::warn!(
                            operation = "secretsmanager:ListSecretVersionIds",
                            "the Lacework API secret was rewritten without the external id suffix (as a key rotation through the stack does); keeping the installation's suffix from an earlier version"
                        );
                        current.secret.external_id_suffix = Some(suffix);
                    }
                }
                let next = match change(&current.secret)? {
                    Some(next) if next != current.secret => next,
                    _ => return Ok(current.secret),
                };
                match self.replace_current(&current.version_id, &next).await? {
                    ReplaceOutcome::Replaced { .. } => return Ok(next),
                    ReplaceOutcome::CurrentMoved => {
                        tracing::info!(
                            operation = "secretsmanager:UpdateSecretVersionStage",
                            "the Lacework API secret changed while we wrote it; applying the change again"
                        );
                    }
                }
            }
            Err(Error::Aws {
                operation: "secretsmanager:UpdateSecretVersionStage".to_owned(),
                code: None,
                message: format!(
                    "the Lacework API secret kept changing under us; gave up after {MAX_ATTEMPTS} attempts"
                ),
                retryable: true,
            })
        }
    }

    /// Stores `secret` merged onto whatever the secret holds when it is written
    /// ([`ApiSecret::merged_onto`]): a stored external id suffix and a longer-lived stored token
    /// are kept. Fails with [`Error::ExternalId`] if `secret` carries a suffix different from
    /// the stored one. Prefer [`SecretPort::update`] when the change depends on what is stored.
    fn write(&self, secret: &ApiSecret) -> impl Future<Output = Result<(), Error>> + Send {
        async move {
            self.update(|stored| secret.clone().merged_onto(stored).map(Some))
                .await
                .map(drop)
        }
    }
}

impl<P: SecretPort + ?Sized> SecretPort for Arc<P> {
    fn read_current(&self) -> impl Future<Output = Result<VersionedSecret, Error>> + Send {
        (**self).read_current()
    }

    fn replace_current(
        &self,
        expected_version: &str,
        secret: &ApiSecret,
    ) -> impl Future<Output = Result<ReplaceOutcome, Error>> + Send {
        (**self).replace_current(expected_version, secret)
    }

    fn earlier_external_id_suffix(
        &self,
    ) -> impl Future<Output = Result<Option<ExternalIdSuffix>, Error>> + Send {
        (**self).earlier_external_id_suffix()
    }
}

/// The Lacework API secret in Secrets Manager. Cheap to clone.
///
/// IAM: `secretsmanager:GetSecretValue` to read; `secretsmanager:PutSecretValue` and
/// `secretsmanager:UpdateSecretVersionStage` to write (plus `kms:Decrypt` /
/// `kms:GenerateDataKey` if the secret uses a customer managed KMS key).
#[derive(Clone)]
pub struct SecretStore {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretStore {
    /// The secret `secret_id` (its ARN or name).
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        SecretStore {
            client,
            secret_id: secret_id.into(),
        }
    }

    /// The secret's ARN or name, as given.
    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    /// The current contents (`GetSecretValue`, `AWSCURRENT`).
    pub async fn read(&self) -> Result<ApiSecret, Error> {
        SecretPort::read(self).await
    }

    /// The current contents and their `VersionId`.
    pub async fn read_versioned(&self) -> Result<VersionedSecret, Error> {
        self.read_current().await
    }

    /// Stores `secret` without losing a stored external id suffix or a longer-lived token; see
    /// [`SecretPort::write`].
    pub async fn write(&self, secret: &ApiSecret) -> Result<(), Error> {
        SecretPort::write(self, secret).await
    }

    /// Applies `change` to the current contents; see [`SecretPort::update`].
    pub async fn update<F>(&self, change: F) -> Result<ApiSecret, Error>
    where
        F: FnMut(&ApiSecret) -> Result<Option<ApiSecret>, Error> + Send,
    {
        SecretPort::update(self, change).await
    }

    /// Moves `AWSCURRENT` from `expected_version` to `new_version`.
    async fn move_current(&self, expected_version: &str, new_version: &str) -> Result<(), Error> {
        self.client
            .update_secret_version_stage()
            .secret_id(&self.secret_id)
            .version_stage(CURRENT_STAGE)
            .remove_from_version_id(expected_version)
            .move_to_version_id(new_version)
            .send()
            .await
            .map(drop)
            .map_err(|err| aws_error("secretsmanager:UpdateSecretVersionStage", err))
    }
}

impl SecretPort for SecretStore {
    async fn read_current(&self) -> Result<VersionedSecret, Error> {
        const OPERATION: &str = "secretsmanager:GetSecretValue";
        let answer = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(CURRENT_STAGE)
            .send()
            .await
            .map_err(|err| aws_error(OPERATION, err))?;
        let Some(text) = answer.secret_string() else {
            return Err(Error::Config(vec![Problem::new(
                "secret",
                "holds binary data; expected a JSON text with keyId and secretKey",
            )]));
        };
        let secret = ApiSecret::from_json(text)?;
        let version_id = answer.version_id().ok_or_else(|| Error::Aws {
            operation: OPERATION.to_owned(),
            code: None,
            message: "the answer carries no VersionId".to_owned(),
            retryable: false,
        })?;
        Ok(VersionedSecret {
            secret,
            version_id: version_id.to_owned(),
        })
    }

    async fn replace_current(
        &self,
        expected_version: &str,
        secret: &ApiSecret,
    ) -> Result<ReplaceOutcome, Error> {
        const OPERATION: &str = "secretsmanager:PutSecretValue";
        // The SDK fills in ClientRequestToken and keeps it across its own retries, so a
        // retried put cannot create a second version.
        let put = self
            .client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(secret.to_json())
            .version_stages(PROPOSED_STAGE)
            .send()
            .await
            .map_err(|err| aws_error(OPERATION, err))?;
        let new_version = put
            .version_id()
            .ok_or_else(|| Error::Aws {
                operation: OPERATION.to_owned(),
                code: None,
                message: "the answer carries no VersionId".to_owned(),
                retryable: false,
            })?
            .to_owned();

        let moved = self.move_current(expected_version, &new_version).await;
        let outcome = match moved {
            Ok(()) => ReplaceOutcome::Replaced {
                version_id: new_version,
            },
            // The move is refused when another writer moved AWSCURRENT first; it may
            // also have succeeded with its answer lost. The secret itself says which.
            Err(err) => match self.read_current().await {
                Ok(now) if now.version_id == new_version => ReplaceOutcome::Replaced {
                    version_id: new_version,
                },
                Ok(now) if now.version_id != expected_version => ReplaceOutcome::CurrentMoved,
                _ => return Err(err),
            },
        };
        if let ReplaceOutcome::Replaced { version_id } = &outcome {
            tracing::info!(
                operation = "secretsmanager:UpdateSecretVersionStage",
                secret_id = %self.secret_id,
                version_id = %version_id,
                "stored a new version of the Lacework API secret"
            );
        }
        Ok(outcome)
    }
    async fn earlier_external_id_suffix(&self) -> Result<Option<ExternalIdSuffix>, Error> {
        let listed = self
            .client
            .list_secret_version_ids()
            .secret_id(&self.secret_id)
            .include_deprecated(true)
            .max_results(100)
            .send()
            .await
            .map_err(|err| aws_error("secretsmanager:ListSecretVersionIds", err))?;
        let mut earlier: Vec<_> = listed
            .versions()
            .iter()
            .filter(|version| {
                !version
                    .version_stages()
                    .iter()
                    .any(|stage| stage == CURRENT_STAGE)
            })
            .filter_map(|version| {
                let previous = version
                    .version_stages()
                    .iter()
                    .any(|stage| stage == PREVIOUS_STAGE);
                let created = version.created_date().map(|date| date.as_nanos());
                Some((previous, created, version.version_id()?.to_owned()))
            })
            .collect();
        // AWSPREVIOUS first (it was current), then the newest.
        earlier.sort_by_key(|(previous, created, _)| std::cmp::Reverse((*previous, *created)));
        for (_, _, version_id) in earlier.into_iter().take(SUFFIX_LOOKBACK) {
            let answer = self
                .client
                .get_secret_value()
                .secret_id(&self.secret_id)
                .version_id(&version_id)
                .send()
                .await
                .map_err(|err| aws_error("secretsmanager:GetSecretValue", err))?;
            let suffix = answer
                .secret_string()
                .and_then(|text| ApiSecret::from_json(text).ok())
                .and_then(|secret| secret.external_id_suffix);
            if suffix.is_some() {
                tracing::info!(
                    operation = "secretsmanager:GetSecretValue",
                    version_id = %version_id,
                    "found the external id suffix in an earlier version of the secret"
                );
                return Ok(suffix);
            }
        }
        Ok(None)
    }
}

impl fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretStore")
            .field("secret_id", &self.secret_id)
            .finish_non_exhaustive()
    }
}

/// The secret kept in memory with Secrets Manager's rules (whole versions, a conditional move
/// of `AWSCURRENT`), for tests of everything built on [`SecretPort`] and for local runs.
#[derive(Debug, Default)]
pub struct MemorySecretStore {
    state: StdMutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    /// Every version's JSON text, oldest first; the index is the version id.
    versions: Vec<String>,
    /// Index of the `AWSCURRENT` version.
    current: usize,
    /// How many times the secret was read.
    reads: usize,
    /// When set, writes fail as if IAM denied them.
    deny_writes: bool,
}

impl MemorySecretStore {
    /// A store whose first version holds `secret`.
    pub fn new(secret: &ApiSecret) -> Self {
        Self::from_json(secret.to_json())
    }

    /// A store whose first version holds `text` as it is (which may be invalid).
    pub fn from_json(text: impl Into<String>) -> Self {
        MemorySecretStore {
            state: StdMutex::new(MemoryState {
                versions: vec![text.into()],
                ..MemoryState::default()
            }),
        }
    }

    /// The current version's JSON text.
    pub fn current_json(&self) -> String {
        let state = self.lock();
        state
            .versions
            .get(state.current)
            .cloned()
            .unwrap_or_default()
    }

    /// How many versions were stored after the first.
    pub fn writes(&self) -> usize {
        self.lock().versions.len().saturating_sub(1)
    }

    /// How many times the secret was read.
    pub fn reads(&self) -> usize {
        self.lock().reads
    }

    /// Stores `text` as a new current version unconditionally, as CloudFormation does when
    /// the stack's key parameters change (or roll back).
    pub fn rewrite(&self, text: impl Into<String>) {
        let mut state = self.lock();
        state.versions.push(text.into());
        state.current = state.versions.len().saturating_sub(1);
    }

    /// Makes every later write fail with `AccessDeniedException` (or succeed again).
    pub fn deny_writes(&self, deny: bool) {
        self.lock().deny_writes = deny;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        // Every change below is a single push or assignment, so a panic elsewhere cannot
        // leave the state half-changed.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl SecretPort for MemorySecretStore {
    async fn read_current(&self) -> Result<VersionedSecret, Error> {
        let (text, version_id) = {
            let mut state = self.lock();
            state.reads += 1;
            let text = state.versions.get(state.current).cloned();
            (text.unwrap_or_default(), state.current.to_string())
        };
        Ok(VersionedSecret {
            secret: ApiSecret::from_json(&text)?,
            version_id,
        })
    }

    async fn replace_current(
        &self,
        expected_version: &str,
        secret: &ApiSecret,
    ) -> Result<ReplaceOutcome, Error> {
        let mut state = self.lock();
        if state.deny_writes {
            return Err(Error::Aws {
                operation: "secretsmanager:PutSecretValue".to_owned(),
                code: Some("AccessDeniedException".to_owned()),
                message: "not authorized to perform secretsmanager:PutSecretValue".to_owned(),
                retryable: false,
            });
        }
        if state.current.to_string() != expected_version {
            return Ok(ReplaceOutcome::CurrentMoved);
        }
        state.versions.push(secret.to_json());
        state.current = state.versions.len().saturating_sub(1);
        Ok(ReplaceOutcome::Replaced {
            version_id: state.current.to_string(),
        })
    }

    async fn earlier_external_id_suffix(&self) -> Result<Option<ExternalIdSuffix>, Error> {
        let state = self.lock();
        // Versions are kept in the order they were written, and every one was current.
        Ok(state
            .versions
            .iter()
            .take(state.current)
            .rev()
            .take(SUFFIX_LOOKBACK)
            .filter_map(|text| ApiSecret::from_json(text).ok())
            .find_map(|secret| secret.external_id_suffix))
    }
}

/// A token with less than this left is not handed out: the call using it could outlive it.
const USABLE_MARGIN: Duration = Duration::from_secs(60);

fn is_usable(token: &Token) -> bool {
    !token.expires_within(USABLE_MARGIN, OffsetDateTime::now_utc())
}

/// A [`TokenSource`] over the token kept in the secret.
///
/// [`TokenSource::current`] reads the secret once and keeps its token in memory while it is
/// good; [`TokenSource::renew`] first looks whether the secret already holds a newer token
/// (another function renewed it), and otherwise requests one with the secret's API key and
/// writes it back. Concurrent callers wait for one renewal and share its token. If writing
/// the new token back fails, it is still used (and the failure logged): `auth-refresh` keeps
/// the secret current.
pub struct SecretsManagerTokenSource<P = SecretStore, R = KeyTokenRequester> {
    secrets: P,
    requester: R,
    cached: Mutex<Option<Token>>,
}

impl<P: SecretPort, R: TokenRequester> SecretsManagerTokenSource<P, R> {
    /// A source over the secret `secrets` that renews tokens with `requester`.
    pub fn new(secrets: P, requester: R) -> Self {
        SecretsManagerTokenSource {
            secrets,
            requester,
            cached: Mutex::new(None),
        }
    }

    /// A usable token other than `rejected`: the cached one, else the secret's, else a new
    /// one. Called with the cache locked.
    async fn usable_token(
        &self,
        cached: &mut Option<Token>,
        rejected: Option<&Token>,
    ) -> Result<Token, Error> {
        let acceptable = |token: &Token| is_usable(token) && Some(token) != rejected;
        if let Some(token) = cached.as_ref().filter(|token| acceptable(token)) {
            return Ok(token.clone());
        }
        let stored = self.secrets.read().await?;
        if let Some(token) = stored.token.as_ref().filter(|token| acceptable(token)) {
            *cached = Some(token.clone());
            return Ok(token.clone());
        }

        let fresh = self.requester.request_token(&stored.credentials()).await?;
        let seen = stored.token;
        let saved = self
            .secrets
            .update(|latest| {
                // Another function renewed it since we looked: keep that one.
                let renewed_meanwhile = latest
                    .token
                    .as_ref()
                    .is_some_and(|theirs| Some(theirs) != seen.as_ref() && acceptable(theirs));
                Ok((!renewed_meanwhile).then(|| latest.clone().with_token(fresh.clone())))
            })
            .await;
        let token = match saved {
            Ok(secret) => secret.token.unwrap_or(fresh),
            Err(err) => {
                tracing::warn!(
                    error = %err,
                    "could not write the new Lacework token to the secret; using it anyway"
                );
                fresh
            }
        };
        *cached = Some(token.clone());
        Ok(token)
    }
}

impl<P: SecretPort, R: TokenRequester> TokenSource for SecretsManagerTokenSource<P, R> {
    fn current(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            let mut cached = self.cached.lock().await;
            self.usable_token(&mut cached, None).await
        })
    }

    fn renew<'a>(&'a self, rejected: &'a Token) -> TokenFuture<'a> {
        Box::pin(async move {
            let mut cached = self.cached.lock().await;
            self.usable_token(&mut cached, Some(rejected)).await
        })
    }
}

impl<P, R> fmt::Debug for SecretsManagerTokenSource<P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsManagerTokenSource")
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use lacework_emulator::Options;
    use time::macros::datetime;

    use super::*;
    use lwct_domain::error::LaceworkErrorKind;
    use lwct_domain::external_id::ExternalIdSuffix;
    use lwct_domain::lacework::{Credentials, Scope, SubAccount};
    use lwct_lacework::{Client, ClientOptions, RetryPolicy};

    const SUFFIX: &str = "StoredSuffix0123";

    fn suffix() -> ExternalIdSuffix {
        ExternalIdSuffix::parse(SUFFIX).unwrap()
    }

    fn keys_only() -> ApiSecret {
        ApiSecret::new("ACME_KEY", "_secret")
    }

    fn in_an_hour(value: &str) -> Token {
        Token::new(value, OffsetDateTime::now_utc() + time::Duration::hours(1))
    }

    /// A port that lets another writer store `intruder` just before each of our first
    /// `times` replacements.
    struct Interleaved {
        inner: MemorySecretStore,
        intruder: ApiSecret,
        times: AtomicUsize,
    }

    impl SecretPort for Interleaved {
        fn read_current(&self) -> impl Future<Output = Result<VersionedSecret, Error>> + Send {
            self.inner.read_current()
        }

        async fn replace_current(
            &self,
            expected_version: &str,
            secret: &ApiSecret,
        ) -> Result<ReplaceOutcome, Error> {
            let left = self.times.load(Ordering::SeqCst);
            if left > 0 {
                self.times.store(left - 1, Ordering::SeqCst);
                let current = self.inner.read_current().await?;
                let done = self
                    .inner
                    .replace_current(&current.version_id, &self.intruder)
                    .await?;
                assert!(matches!(done, ReplaceOutcome::Replaced { .. }));
            }
            self.inner.replace_current(expected_version, secret).await
        }

        fn earlier_external_id_suffix(
            &self,
        ) -> impl Future<Output = Result<Option<ExternalIdSuffix>, Error>> + Send {
            self.inner.earlier_external_id_suffix()
        }
    }

    #[tokio::test]
    async fn update_writes_only_real_changes() {
        let store = MemorySecretStore::new(&keys_only());
        let same = store
            .update(|current| Ok(Some(current.clone())))
            .await
            .unwrap();
        assert_eq!(same, keys_only());
        store.update(|_| Ok(None)).await.unwrap();
        assert_eq!(store.writes(), 0);

        let token = in_an_hour("t1");
        let stored = store
            .update(|current| Ok(Some(current.clone().with_token(token.clone()))))
            .await
            .unwrap();
        assert_eq!(stored.token, Some(token));
        assert_eq!(store.writes(), 1);
        assert_eq!(ApiSecret::from_json(&store.current_json()).unwrap(), stored);
    }

    #[tokio::test]
    async fn a_change_is_applied_again_on_what_another_writer_stored() {
        // The other writer stores the suffix between our read and our write.
        let intruder = ApiSecret {
            external_id_suffix: Some(suffix()),
            ..keys_only()
        };
        let port = Interleaved {
            inner: MemorySecretStore::new(&keys_only()),
            intruder,
            times: AtomicUsize::new(1),
        };
        let token = in_an_hour("t1");
        let mut calls = 0;
        let stored = port
            .update(|current| {
                calls += 1;
                Ok(Some(current.clone().with_token(token.clone())))
            })
            .await
            .unwrap();
        assert_eq!(calls, 2);
        assert_eq!(stored.token, Some(token));
        assert_eq!(stored.external_id_suffix, Some(suffix()));
        let kept = ApiSecret::from_json(&port.inner.current_json()).unwrap();
        assert_eq!(kept, stored);
    }

    #[tokio::test]
    async fn update_gives_up_when_the_secret_keeps_changing() {
        let port = Interleaved {
            inner: MemorySecretStore::new(&keys_only()),
            intruder: keys_only().with_token(in_an_hour("theirs")),
            times: AtomicUsize::new(MAX_ATTEMPTS),
        };
        let err = port
            .update(|current| Ok(Some(current.clone().with_token(in_an_hour("ours")))))
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(err.to_string().contains("kept changing"), "{err}");
    }

    #[tokio::test]
    async fn write_never_loses_the_stored_suffix() {
        let stored = ApiSecret {
            external_id_suffix: Some(suffix()),
            ..keys_only()
        };
        let store = MemorySecretStore::new(&stored);
        // A writer that read the secret before the suffix was stored.
        store
            .write(&keys_only().with_token(in_an_hour("t1")))
            .await
            .unwrap();
        let now = store.read().await.unwrap();
        assert_eq!(now.external_id_suffix, Some(suffix()));
        assert!(now.token.is_some());

        // A writer that drew its own suffix meanwhile is refused, and nothing is written.
        let (drawn, _) = keys_only().ensure_external_id_suffix().unwrap();
        let err = store.write(&drawn).await.unwrap_err();
        assert!(matches!(err, Error::ExternalId(_)), "{err:?}");
        assert_eq!(store.writes(), 1);
        assert_eq!(store.read().await.unwrap(), now);
    }

    #[tokio::test]
    async fn a_secret_rewritten_whole_keeps_the_installations_suffix() {
        let with_suffix = ApiSecret {
            external_id_suffix: Some(suffix()),
            ..keys_only()
        }
        .with_token(in_an_hour("t1"));
        let store = MemorySecretStore::new(&with_suffix);
        // A key rotation through the stack, then its rollback: two versions without it.
        let rotated = ApiSecret::new("NEW_KEY", "_new_secret");
        store.rewrite(rotated.to_json());
        store.rewrite(keys_only().to_json());
        assert_eq!(store.read().await.unwrap().external_id_suffix, None);

        let stored = store
            .update(|current| {
                let (next, drawn) = current
                    .clone()
                    .with_token(in_an_hour("t2"))
                    .ensure_external_id_suffix()?;
                assert!(
                    !drawn,
                    "the earlier suffix is found before anything is drawn"
                );
                Ok(Some(next))
            })
            .await
            .unwrap();
        assert_eq!(stored.external_id_suffix, Some(suffix()));
        assert_eq!(stored.key_id, "ACME_KEY", "the rewritten key is kept");
        assert_eq!(
            store.read().await.unwrap().external_id_suffix,
            Some(suffix())
        );
    }

    #[tokio::test]
    async fn a_secret_that_never_had_a_suffix_gets_a_new_one() {
        let store = MemorySecretStore::new(&keys_only());
        store.rewrite(ApiSecret::new("NEW_KEY", "_new_secret").to_json());
        store.rewrite("not even JSON");
        store.rewrite(keys_only().to_json());
        assert_eq!(store.earlier_external_id_suffix().await.unwrap(), None);
        let stored = store
            .update(|current| Ok(Some(current.clone().ensure_external_id_suffix()?.0)))
            .await
            .unwrap();
        assert!(stored.external_id_suffix.is_some());
    }

    #[tokio::test]
    async fn only_the_last_versions_are_searched_for_the_suffix() {
        let store = MemorySecretStore::new(&ApiSecret {
            external_id_suffix: Some(suffix()),
            ..keys_only()
        });
        for _ in 0..SUFFIX_LOOKBACK {
            store.rewrite(keys_only().to_json());
        }
        assert_eq!(
            store.earlier_external_id_suffix().await.unwrap(),
            Some(suffix()),
            "{SUFFIX_LOOKBACK} versions back"
        );
        store.rewrite(keys_only().to_json());
        assert_eq!(
            store.earlier_external_id_suffix().await.unwrap(),
            None,
            "the version with the suffix is {} versions back",
            SUFFIX_LOOKBACK + 1
        );
    }

    #[tokio::test]
    async fn a_broken_secret_is_reported_without_its_contents() {
        let store =
            MemorySecretStore::from_json(r#"{"keyId": "K", "secretKey": "_hush", "token": "tok"}"#);
        let err = store.read().await.unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("secret.expiresAt"), "{shown}");
        assert!(
            !shown.contains("_hush") && !shown.contains("tok\""),
            "{shown}"
        );
    }

    /// Hands out `tok-1`, `tok-2`, ... (valid for an hour), or refuses every key.
    #[derive(Default)]
    struct CountingRequester {
        calls: AtomicUsize,
        refuse: bool,
    }

    impl TokenRequester for CountingRequester {
        async fn request_token(&self, _credentials: &Credentials) -> Result<Token, Error> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            // Give concurrent callers the chance to pile up behind this renewal.
            tokio::time::sleep(Duration::from_millis(20)).await;
            if self.refuse {
                return Err(Error::Lacework {
                    kind: LaceworkErrorKind::Unauthorized,
                    operation: "POST /api/v2/access/tokens".to_owned(),
                    status: Some(401),
                    message: "bad key".to_owned(),
                    retry_after: None,
                });
            }
            Ok(in_an_hour(&format!("tok-{n}")))
        }
    }

    #[tokio::test]
    async fn current_reads_the_secret_once() {
        let token = in_an_hour("stored");
        let store = Arc::new(MemorySecretStore::new(
            &keys_only().with_token(token.clone()),
        ));
        let source = SecretsManagerTokenSource::new(store.clone(), CountingRequester::default());
        assert_eq!(source.current().await.unwrap(), token);
        assert_eq!(source.current().await.unwrap(), token);
        assert_eq!(store.reads(), 1);
        assert_eq!(store.writes(), 0);
        assert_eq!(source.requester.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn without_a_usable_token_one_is_requested_and_written_back() {
        let expired = Token::new("old", datetime!(2020-01-01 0:00 UTC));
        let stored = ApiSecret {
            external_id_suffix: Some(suffix()),
            ..keys_only().with_token(expired)
        };
        let store = Arc::new(MemorySecretStore::new(&stored));
        let source = SecretsManagerTokenSource::new(store.clone(), CountingRequester::default());
        let token = source.current().await.unwrap();
        assert_eq!(token.value().expose(), "tok-1");
        let now = store.read().await.unwrap();
        assert_eq!(now.token, Some(token));
        assert_eq!(now.external_id_suffix, Some(suffix()));
        assert_eq!(store.writes(), 1);
    }

    #[tokio::test]
    async fn renew_takes_a_token_another_function_stored() {
        let rejected = in_an_hour("rejected");
        let store = Arc::new(MemorySecretStore::new(
            &keys_only().with_token(rejected.clone()),
        ));
        let source = SecretsManagerTokenSource::new(store.clone(), CountingRequester::default());
        assert_eq!(source.current().await.unwrap(), rejected);

        // auth-refresh renews it meanwhile.
        let newer = in_an_hour("newer");
        store
            .update(|current| Ok(Some(current.clone().with_token(newer.clone()))))
            .await
            .unwrap();
        assert_eq!(source.renew(&rejected).await.unwrap(), newer);
        assert_eq!(source.requester.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn concurrent_renewals_share_one_request() {
        let rejected = in_an_hour("rejected");
        let store = Arc::new(MemorySecretStore::new(
            &keys_only().with_token(rejected.clone()),
        ));
        let source = SecretsManagerTokenSource::new(store.clone(), CountingRequester::default());
        let (a, b, c, d) = tokio::join!(
            source.renew(&rejected),
            source.renew(&rejected),
            source.current(),
            source.renew(&rejected),
        );
        for token in [a, b, c, d] {
            assert_eq!(token.unwrap().value().expose(), "tok-1");
        }
        assert_eq!(source.requester.calls.load(Ordering::SeqCst), 1);
        assert_eq!(store.writes(), 1);
    }

    #[tokio::test]
    async fn a_token_that_cannot_be_written_back_is_still_used() {
        let store = Arc::new(MemorySecretStore::new(&keys_only()));
        store.deny_writes(true);
        let source = SecretsManagerTokenSource::new(store.clone(), CountingRequester::default());
        let token = source.current().await.unwrap();
        assert_eq!(token.value().expose(), "tok-1");
        assert_eq!(store.writes(), 0);
        // And it is kept in memory: no second request.
        assert_eq!(source.current().await.unwrap(), token);
        assert_eq!(source.requester.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_refused_key_leaves_the_secret_alone() {
        let store = Arc::new(MemorySecretStore::new(&keys_only()));
        let requester = CountingRequester {
            refuse: true,
            ..CountingRequester::default()
        };
        let source = SecretsManagerTokenSource::new(store.clone(), requester);
        let err = source.current().await.unwrap_err();
        assert!(matches!(
            err,
            Error::Lacework {
                kind: LaceworkErrorKind::Unauthorized,
                ..
            }
        ));
        assert_eq!(store.writes(), 0);
    }

    fn fast() -> ClientOptions {
        ClientOptions {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            retry: RetryPolicy {
                max_attempts: 2,
                base_delay: Duration::from_millis(2),
                max_delay: Duration::from_millis(10),
            },
        }
    }

    #[tokio::test]
    async fn key_requester_gets_tokens_from_the_emulator_and_names_a_bad_key() {
        let emulator = lacework_emulator::start(Options {
            key_id: "ACME_KEY".into(),
            secret: "_secret".into(),
            ..Options::default()
        })
        .await
        .unwrap();
        let requester = KeyTokenRequester::new(&emulator.url, fast());
        let token = requester
            .request_token(&keys_only().credentials())
            .await
            .unwrap();
        assert!(!token.expires_within(Duration::from_secs(600), OffsetDateTime::now_utc()));

        let err = requester
            .request_token(&Credentials::new("ACME_KEY", "_wrong"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Lacework {
                    kind: LaceworkErrorKind::Unauthorized,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!format!("{err} {err:?}").contains("_wrong"));
    }

    #[tokio::test]
    async fn a_client_renews_a_refused_token_through_the_secret() {
        let emulator = lacework_emulator::start(Options {
            key_id: "ACME_KEY".into(),
            secret: "_secret".into(),
            ..Options::default()
        })
        .await
        .unwrap();
        // The secret holds a token the API does not know (revoked, say), with a long life.
        let unknown = in_an_hour("not-a-real-token");
        let stored = ApiSecret {
            external_id_suffix: Some(suffix()),
            ..keys_only().with_token(unknown.clone())
        };
        let store = Arc::new(MemorySecretStore::new(&stored));
        let source = SecretsManagerTokenSource::new(
            store.clone(),
            KeyTokenRequester::new(&emulator.url, fast()),
        );
        let client = Client::new(&emulator.url, Arc::new(source), &fast()).unwrap();
        let scope = Scope::Account(SubAccount::new("acme").unwrap());
        client.list(&scope).await.unwrap();

        let now = store.read().await.unwrap();
        assert_ne!(now.token, Some(unknown));
        assert_eq!(now.external_id_suffix, Some(suffix()));
        assert_eq!(store.writes(), 1);
    }
}
