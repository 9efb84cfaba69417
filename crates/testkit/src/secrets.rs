//! The product's secret in memory, with Secrets Manager's rules (whole versions, a conditional
//! move of `AWSCURRENT`).

use std::sync::Mutex;

use lwct_aws::secrets::{ReplaceOutcome, SUFFIX_LOOKBACK, SecretPort, VersionedSecret};
use lwct_domain::Error;
use lwct_domain::api_secret::ApiSecret;
use lwct_domain::external_id::ExternalIdSuffix;

/// The secret kept in memory with Secrets Manager's rules (whole versions, a conditional move
/// of `AWSCURRENT`), for tests of everything built on [`SecretPort`] and for local runs.
#[derive(Debug, Default)]
pub struct MemorySecretStore {
    state: Mutex<MemoryState>,
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
            state: Mutex::new(MemoryState {
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
