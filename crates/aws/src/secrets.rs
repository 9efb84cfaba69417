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
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::{aws_error, not_retryable};
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
/// one is [`SecretStore`]; `lwct_testkit::secrets::MemorySecretStore` keeps the same rules in memory for tests.
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

    /// The current contents (`GetSecretValue`, `AWSCURRENT`), without [`SecretPort`] in scope.
    pub async fn read(&self) -> Result<ApiSecret, Error> {
        SecretPort::read(self).await
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
        let version_id = answer
            .version_id()
            .ok_or_else(|| not_retryable(OPERATION, "the answer carries no VersionId"))?;
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
            .ok_or_else(|| not_retryable(OPERATION, "the answer carries no VersionId"))?
            .to_owned();

        // Moves `AWSCURRENT` only if `expected_version` still holds it.
        let moved = self
            .client
            .update_secret_version_stage()
            .secret_id(&self.secret_id)
            .version_stage(CURRENT_STAGE)
            .remove_from_version_id(expected_version)
            .move_to_version_id(&new_version)
            .send()
            .await;
        let outcome = match moved {
            Ok(_) => ReplaceOutcome::Replaced {
                version_id: new_version,
            },
            // The move is refused when another writer moved AWSCURRENT first; it may
            // also have succeeded with its answer lost. The secret itself says which.
            Err(err) => match self.read_current().await {
                Ok(now) if now.version_id == new_version => ReplaceOutcome::Replaced {
                    version_id: new_version,
                },
                Ok(now) if now.version_id != expected_version => ReplaceOutcome::CurrentMoved,
                _ => return Err(aws_error("secretsmanager:UpdateSecretVersionStage", err)),
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
            .filter_map(|version| {
                let has = |label: &str| version.version_stages().iter().any(|s| s == label);
                let created = version.created_date().map(|date| date.as_nanos());
                let id = version.version_id()?.to_owned();
                (!has(CURRENT_STAGE)).then_some((has(PREVIOUS_STAGE), created, id))
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
