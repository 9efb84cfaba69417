//! The `auth-refresh` handler: keeps a Lacework token with time left in the API secret.
//!
//! Each scheduled run reads the secret; when its token is missing or expires within the
//! refresh window, it requests a new one with the secret's API key and stores it through
//! [`SecretPort::update`], which re-applies the change if another run (or `setup`) wrote the
//! secret meanwhile - so overlapping runs never drop the external id suffix, and a run that
//! finds the token already renewed by another leaves it alone. The answer is
//! `{"refreshed": bool, "expiresAt": "<RFC 3339>"}`; the token itself is never logged.

use std::time::Duration;

use lambda_runtime::LambdaEvent;
use lwct_aws::secrets::{SecretPort, SecretStore};
use lwct_domain::Error;
use lwct_domain::config::AuthRefreshConfig;
use lwct_lacework::{ClientOptions, KeyTokenRequester, TokenRequester};
use lwct_runtime::{Aws, Failure};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Renews the token in the secret when it expires within `window`.
#[derive(Debug)]
pub struct Refresher<P, R> {
    secrets: P,
    tokens: R,
    window: Duration,
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether this run stored a new token.
    pub refreshed: bool,
    /// When the token the secret now holds expires.
    pub expires_at: OffsetDateTime,
}

impl Outcome {
    /// The function's answer: `{"refreshed": bool, "expiresAt": "<RFC 3339>"}`.
    pub fn to_json(&self) -> Value {
        let expires_at = self
            .expires_at
            .format(&Rfc3339)
            .unwrap_or_else(|_| self.expires_at.to_string());
        json!({"refreshed": self.refreshed, "expiresAt": expires_at})
    }
}

impl<P: SecretPort, R: TokenRequester> Refresher<P, R> {
    /// A refresher over the secret `secrets` that gets tokens from `tokens`.
    pub fn new(secrets: P, tokens: R, window: Duration) -> Self {
        Refresher {
            secrets,
            tokens,
            window,
        }
    }

    /// Renews the token if, at `now`, it is missing or expires within the window.
    pub async fn refresh(&self, now: OffsetDateTime) -> Result<Outcome, Error> {
        let secret = self.secrets.read().await?;
        let key_id = secret.key_id.as_str();
        if let Some(token) = secret
            .token
            .as_ref()
            .filter(|_| !secret.needs_refresh(now, self.window))
        {
            tracing::info!(
                key_id,
                expires_at = %token.expires_at(),
                "the Lacework token has enough time left; leaving it alone"
            );
            return Ok(Outcome {
                refreshed: false,
                expires_at: token.expires_at(),
            });
        }
        tracing::info!(
            key_id,
            expires_at = ?secret.token.as_ref().map(|token| token.expires_at()),
            window_seconds = self.window.as_secs(),
            "the Lacework token is missing or expires soon; requesting a new one"
        );

        let fresh = self.tokens.request_token(&secret.credentials()).await?;
        if fresh.expires_within(self.window, now) {
            tracing::warn!(
                expires_at = %fresh.expires_at(),
                window_seconds = self.window.as_secs(),
                "Lacework gave a token that already expires within the refresh window; every run will renew it"
            );
        }
        let stored = self
            .secrets
            .update(|latest| {
                // Another run may have renewed it since we read it: then keep that token.
                Ok(latest
                    .needs_refresh(now, self.window)
                    .then(|| latest.clone().with_token(fresh.clone())))
            })
            .await?;

        let refreshed = stored.token.as_ref() == Some(&fresh);
        let expires_at = stored
            .token
            .as_ref()
            .map_or(fresh.expires_at(), |token| token.expires_at());
        if refreshed {
            tracing::info!(key_id, expires_at = %expires_at, "stored a new Lacework token");
        } else {
            tracing::info!(
                key_id,
                expires_at = %expires_at,
                "another run renewed the Lacework token first; kept its token"
            );
        }
        Ok(Outcome {
            refreshed,
            expires_at,
        })
    }
}

impl Refresher<SecretStore, KeyTokenRequester> {
    /// The refresher over the AWS SDK and the Lacework API. A refresh window not shorter
    /// than a token's life is allowed, with a warning: every run renews the token.
    pub async fn over_aws(config: AuthRefreshConfig) -> Self {
        let window = Duration::from_secs(config.refresh_window_seconds);
        let requester = KeyTokenRequester::new(config.api_url.as_str(), ClientOptions::default());
        let lifetime = KeyTokenRequester::DEFAULT_LIFETIME;
        if window >= lifetime {
            tracing::warn!(
                refresh_window_seconds = config.refresh_window_seconds,
                token_lifetime_seconds = lifetime.as_secs(),
                "the refresh window is not shorter than a token's life: every run will renew the token"
            );
        }
        let store = Aws::from_env().await.secret(config.secret_arn.to_string());
        Refresher::new(store, requester, window)
    }
}

/// The Lambda entry point: any JSON input (the EventBridge scheduled event) triggers one
/// refresh.
pub async fn handle<P: SecretPort, R: TokenRequester>(
    refresher: &Refresher<P, R>,
    event: LambdaEvent<Value>,
) -> Result<Value, Failure> {
    tracing::debug!(request_id = %event.context.request_id, "auth-refresh invoked");
    match refresher.refresh(OffsetDateTime::now_utc()).await {
        Ok(outcome) => Ok(outcome.to_json()),
        Err(err) => {
            tracing::error!(
                error = %err,
                retryable = err.is_retryable(),
                "could not refresh the Lacework token"
            );
            Err(Failure(err))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use lacework_emulator::{Emulator, Options};
    use lwct_aws::secrets::{ReplaceOutcome, VersionedSecret};
    use lwct_domain::api_secret::ApiSecret;
    use lwct_domain::error::LaceworkErrorKind;
    use lwct_domain::external_id::ExternalIdSuffix;
    use lwct_domain::lacework::{Credentials, Scope, SubAccount, Token};
    use lwct_lacework::KeyTokenRequester;
    use lwct_lacework::{Client, ClientOptions, RetryPolicy, StaticTokenSource};
    use lwct_testkit::secrets::MemorySecretStore;
    use tokio::sync::Barrier;

    use lambda_runtime::Diagnostic;

    use super::*;

    const KEY_ID: &str = "ACME_KEY";
    const SECRET_KEY: &str = "_s3cretKey";
    const SUFFIX: &str = "StoredSuffix0123";
    /// What the emulator's tokens live (its default).
    const TOKEN_TTL: Duration = Duration::from_secs(3600);

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

    async fn emulator() -> Emulator {
        lacework_emulator::start(Options {
            key_id: KEY_ID.into(),
            secret: SECRET_KEY.into(),
            token_ttl: TOKEN_TTL,
            ..Options::default()
        })
        .await
        .expect("the emulator starts")
    }

    fn suffix() -> ExternalIdSuffix {
        ExternalIdSuffix::parse(SUFFIX).unwrap()
    }

    fn secret_with(token: Option<Token>) -> ApiSecret {
        ApiSecret {
            token,
            external_id_suffix: Some(suffix()),
            ..ApiSecret::new(KEY_ID, SECRET_KEY)
        }
    }

    fn token_expiring_in(value: &str, seconds: i64) -> Token {
        Token::new(
            value,
            OffsetDateTime::now_utc() + time::Duration::seconds(seconds),
        )
    }

    /// Counts token requests and, with a gate, holds each one until every party of the gate
    /// got there (so that overlapping runs all read the secret before any writes).
    struct Requests<R> {
        inner: R,
        calls: AtomicUsize,
        gate: Option<Arc<Barrier>>,
    }

    impl<R> Requests<R> {
        fn counting(inner: R) -> Self {
            Requests {
                inner,
                calls: AtomicUsize::new(0),
                gate: None,
            }
        }

        fn gated(inner: R, gate: &Arc<Barrier>) -> Self {
            Requests {
                gate: Some(gate.clone()),
                ..Self::counting(inner)
            }
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    impl<R: TokenRequester> TokenRequester for Requests<R> {
        async fn request_token(&self, credentials: &Credentials) -> Result<Token, Error> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let token = self.inner.request_token(credentials).await;
            if let Some(gate) = &self.gate {
                gate.wait().await;
            }
            token
        }
    }

    /// The in-memory secret, yielding to other tasks between every read and write so that
    /// overlapping runs interleave the way they do against Secrets Manager.
    struct Interleaving(Arc<MemorySecretStore>);

    impl SecretPort for Interleaving {
        async fn read_current(&self) -> Result<VersionedSecret, Error> {
            let read = self.0.read_current().await;
            tokio::task::yield_now().await;
            read
        }

        async fn replace_current(
            &self,
            expected_version: &str,
            secret: &ApiSecret,
        ) -> Result<ReplaceOutcome, Error> {
            tokio::task::yield_now().await;
            self.0.replace_current(expected_version, secret).await
        }

        async fn earlier_external_id_suffix(&self) -> Result<Option<ExternalIdSuffix>, Error> {
            self.0.earlier_external_id_suffix().await
        }
    }

    fn refresher(
        store: &Arc<MemorySecretStore>,
        emulator: &Emulator,
        window: Duration,
    ) -> Refresher<Arc<MemorySecretStore>, Requests<KeyTokenRequester>> {
        Refresher::new(
            store.clone(),
            Requests::counting(KeyTokenRequester::new(&emulator.url, fast())),
            window,
        )
    }

    /// Whether the API accepts `token`.
    async fn accepted(emulator: &Emulator, token: &Token) -> bool {
        let client = Client::new(
            &emulator.url,
            Arc::new(StaticTokenSource::new(token.clone())),
            &fast(),
        )
        .unwrap();
        let scope = Scope::Account(SubAccount::new("acme").unwrap());
        client.list(&scope).await.is_ok()
    }

    fn stored(store: &MemorySecretStore) -> ApiSecret {
        ApiSecret::from_json(&store.current_json()).expect("the secret stays valid")
    }

    #[tokio::test]
    async fn a_token_near_expiry_is_renewed_and_written() {
        let emulator = emulator().await;
        let old = token_expiring_in("old-token", 120);
        let store = Arc::new(MemorySecretStore::new(&secret_with(Some(old.clone()))));
        let refresher = refresher(&store, &emulator, Duration::from_secs(300));

        let outcome = refresher.refresh(OffsetDateTime::now_utc()).await.unwrap();

        assert!(outcome.refreshed);
        assert_eq!(store.writes(), 1);
        let now = stored(&store);
        let token = now.token.clone().unwrap();
        assert_ne!(token, old);
        assert_eq!(outcome.expires_at, token.expires_at());
        assert_eq!(now.external_id_suffix, Some(suffix()));
        assert_eq!(now.key_id, KEY_ID);
        assert!(accepted(&emulator, &token).await);
    }

    #[tokio::test]
    async fn a_token_far_from_expiry_is_left_alone() {
        let emulator = emulator().await;
        let current = token_expiring_in("current-token", 2 * 3600);
        let store = Arc::new(MemorySecretStore::new(&secret_with(Some(current.clone()))));
        let refresher = refresher(&store, &emulator, Duration::from_secs(300));

        let outcome = refresher.refresh(OffsetDateTime::now_utc()).await.unwrap();

        assert_eq!(
            outcome,
            Outcome {
                refreshed: false,
                expires_at: current.expires_at()
            }
        );
        assert_eq!(store.writes(), 0);
        assert_eq!(refresher.tokens.calls(), 0);
    }

    #[tokio::test]
    async fn a_secret_without_a_token_gets_one() {
        let emulator = emulator().await;
        let store = Arc::new(MemorySecretStore::new(&ApiSecret::new(KEY_ID, SECRET_KEY)));
        let refresher = refresher(&store, &emulator, Duration::from_secs(300));

        let outcome = refresher.refresh(OffsetDateTime::now_utc()).await.unwrap();

        assert!(outcome.refreshed);
        assert_eq!(store.writes(), 1);
        let token = stored(&store).token.unwrap();
        assert!(accepted(&emulator, &token).await);
        // The suffix is setup's to draw, not ours.
        assert_eq!(stored(&store).external_id_suffix, None);
    }

    #[tokio::test]
    async fn a_wrong_key_is_a_clear_error_and_the_secret_is_untouched() {
        let emulator = emulator().await;
        let wrong = ApiSecret {
            secret_key: "_not-the-key".into(),
            ..secret_with(None)
        };
        let store = Arc::new(MemorySecretStore::new(&wrong));
        let before = store.current_json();
        let refresher = refresher(&store, &emulator, Duration::from_secs(300));

        let err = refresher
            .refresh(OffsetDateTime::now_utc())
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
        assert_eq!(store.writes(), 0);
        assert_eq!(store.current_json(), before);
        let shown = format!("{err} {err:?}");
        let reported = Diagnostic::from(Failure(err));
        assert_eq!(reported.error_type, "Permanent.Lacework.Unauthorized");
        let shown = format!("{shown} {reported:?}");
        assert!(!shown.contains("_not-the-key"), "{shown}");
    }

    #[tokio::test]
    async fn a_broken_secret_names_the_field() {
        let emulator = emulator().await;
        let store = Arc::new(MemorySecretStore::from_json(r#"{"secretKey": "_hush"}"#));
        let refresher = refresher(&store, &emulator, Duration::from_secs(300));
        let err = refresher
            .refresh(OffsetDateTime::now_utc())
            .await
            .unwrap_err();
        let reported = Diagnostic::from(Failure(err));
        assert_eq!(reported.error_type, "Permanent.Config");
        assert!(
            reported.error_message.contains("secret.keyId"),
            "{reported:?}"
        );
        assert!(!reported.error_message.contains("_hush"));
        assert_eq!(refresher.tokens.calls(), 0);
    }

    #[tokio::test]
    async fn overlapping_runs_store_one_token_and_keep_the_suffix() {
        let emulator = emulator().await;
        let old = token_expiring_in("old-token", 60);
        let store = Arc::new(MemorySecretStore::new(&secret_with(Some(old))));
        let run = || {
            Refresher::new(
                Interleaving(store.clone()),
                Requests::counting(KeyTokenRequester::new(&emulator.url, fast())),
                Duration::from_secs(300),
            )
        };
        let (first, second) = (run(), run());
        let now = OffsetDateTime::now_utc();

        let (a, b) = tokio::join!(first.refresh(now), second.refresh(now));

        let (a, b) = (a.unwrap(), b.unwrap());
        // Both asked Lacework; one token won and both runs report it.
        assert_eq!(first.tokens.calls() + second.tokens.calls(), 2);
        assert_eq!(
            usize::from(a.refreshed) + usize::from(b.refreshed),
            1,
            "{a:?} {b:?}"
        );
        assert_eq!(a.expires_at, b.expires_at);
        assert_eq!(store.writes(), 1);
        let now = stored(&store);
        assert_eq!(now.external_id_suffix, Some(suffix()));
        assert!(accepted(&emulator, &now.token.unwrap()).await);
    }

    #[tokio::test]
    async fn renewals_overlapping_setup_never_drop_the_suffix() {
        let emulator = emulator().await;
        // A window longer than the tokens live: every run writes, the worst case for overlap.
        let window = TOKEN_TTL * 2;
        let store = Arc::new(MemorySecretStore::new(&ApiSecret::new(KEY_ID, SECRET_KEY)));
        // Setup draws the suffix once both renewals hold their tokens, so that it writes
        // between their reads and their writes.
        let gate = Arc::new(Barrier::new(3));
        let requests = Arc::new(Requests::gated(
            KeyTokenRequester::new(&emulator.url, fast()),
            &gate,
        ));
        let run = || Refresher::new(Interleaving(store.clone()), requests.clone(), window);
        let (first, second) = (run(), run());
        let setup = Interleaving(store.clone());
        let now = OffsetDateTime::now_utc();

        let (drawn, a, b) = tokio::join!(
            async {
                gate.wait().await;
                setup
                    .update(|current| {
                        let (next, drawn) = current.clone().ensure_external_id_suffix()?;
                        Ok(drawn.then_some(next))
                    })
                    .await
            },
            first.refresh(now),
            second.refresh(now),
        );

        let (a, b, drawn) = (a.unwrap(), b.unwrap(), drawn.unwrap());
        assert!(a.refreshed && b.refreshed, "{a:?} {b:?}");
        let now = stored(&store);
        assert!(now.external_id_suffix.is_some());
        assert_eq!(now.external_id_suffix, drawn.external_id_suffix);
        // The last of the two renewals holds the secret; both tokens are valid.
        let token = now.token.unwrap();
        assert!(token.expires_at() == a.expires_at || token.expires_at() == b.expires_at);
        assert!(accepted(&emulator, &token).await);
        assert_eq!(store.writes(), 3);
    }

    #[tokio::test]
    async fn the_lambda_answers_with_the_outcome_for_any_input() {
        let emulator = emulator().await;
        let store = Arc::new(MemorySecretStore::new(&secret_with(None)));
        let refresher = refresher(&store, &emulator, Duration::from_secs(300));
        let scheduled = serde_json::json!({
            "version": "0",
            "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2030-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/lacework-ct-auth-refresh"],
            "detail": {}
        });
        for input in [scheduled, Value::Null] {
            let event = LambdaEvent::new(input, lambda_runtime::Context::default());
            let answer = handle(&refresher, event).await.unwrap();
            let token = stored(&store).token.unwrap();
            let expires_at = token.expires_at().format(&Rfc3339).unwrap();
            assert_eq!(answer["expiresAt"], expires_at.as_str());
            assert_eq!(answer.as_object().unwrap().len(), 2, "{answer}");
            assert!(!answer.to_string().contains(token.value().expose()));
        }
        // The first run renewed it, the second found it fresh.
        assert_eq!(store.writes(), 1);
    }

    #[test]
    fn the_answer_has_the_documented_shape() {
        let outcome = Outcome {
            refreshed: true,
            expires_at: time::macros::datetime!(2030-01-01 12:00:00.5 UTC),
        };
        assert_eq!(
            outcome.to_json(),
            json!({"refreshed": true, "expiresAt": "2030-01-01T12:00:00.5Z"})
        );
    }

    /// The real adapter against moto's Secrets Manager (an HTTP API with version stages and
    /// the conditional label move), with the emulator for tokens.
    mod against_moto {
        use std::path::PathBuf;
        use std::process::{Child, Command, Stdio};

        use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
        use lwct_aws::secrets::SecretStore;

        use super::*;

        /// A moto_server we started; stopped when dropped.
        struct Moto {
            child: Child,
            url: String,
        }

        impl Drop for Moto {
            fn drop(&mut self) {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }

        /// `$MOTO_SERVER`, the project's `.venv`, or `moto_server` on `PATH`.
        fn moto_server() -> Option<PathBuf> {
            let venv =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server");
            let on_path: Vec<PathBuf> = std::env::var_os("PATH")
                .map(|path| {
                    std::env::split_paths(&path)
                        .map(|dir| dir.join("moto_server"))
                        .collect()
                })
                .unwrap_or_default();
            std::env::var_os("MOTO_SERVER")
                .map(PathBuf::from)
                .into_iter()
                .chain([venv])
                .chain(on_path)
                .find(|candidate| candidate.is_file())
        }

        async fn start_moto() -> Option<Moto> {
            let Some(program) = moto_server() else {
                eprintln!(
                    "skipped: moto_server is not installed (set MOTO_SERVER, create .venv with requirements-dev.txt, or put it on PATH)"
                );
                return None;
            };
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free port")
                .port();
            let child = Command::new(&program)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|err| panic!("cannot start {}: {err}", program.display()));
            let moto = Moto {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
            for _ in 0..300 {
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    return Some(moto);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("moto_server did not listen on port {port} within 30 s");
        }

        fn secrets_manager(moto: &Moto) -> aws_sdk_secretsmanager::Client {
            let config = aws_sdk_secretsmanager::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(&moto.url)
                .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
                .build();
            aws_sdk_secretsmanager::Client::from_conf(config)
        }

        async fn version_count(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> usize {
            client
                .list_secret_version_ids()
                .secret_id(secret_id)
                .include_deprecated(true)
                .send()
                .await
                .unwrap()
                .versions()
                .len()
        }

        #[tokio::test]
        async fn refreshes_and_overlaps_against_secrets_manager() {
            let Some(moto) = start_moto().await else {
                return;
            };
            let emulator = emulator().await;
            let client = secrets_manager(&moto);
            let created = client
                .create_secret()
                .name("lacework-ct-lacework-api")
                .secret_string(ApiSecret::new(KEY_ID, SECRET_KEY).to_json())
                .send()
                .await
                .unwrap();
            let arn = created.arn().unwrap().to_owned();
            let store = SecretStore::new(client.clone(), arn.clone());
            assert_eq!(
                store.read().await.unwrap(),
                ApiSecret::new(KEY_ID, SECRET_KEY)
            );

            // Two renewals (each writing, the window being longer than a token's life) and
            // setup drawing the suffix, all at once.
            let gate = Arc::new(Barrier::new(3));
            let requests = Arc::new(Requests::gated(
                KeyTokenRequester::new(&emulator.url, fast()),
                &gate,
            ));
            let run = || Refresher::new(store.clone(), requests.clone(), TOKEN_TTL * 2);
            let (first, second) = (run(), run());
            let now = OffsetDateTime::now_utc();
            let (drawn, a, b) = tokio::join!(
                async {
                    gate.wait().await;
                    store
                        .update(|current| {
                            let (next, drawn) = current.clone().ensure_external_id_suffix()?;
                            Ok(drawn.then_some(next))
                        })
                        .await
                },
                first.refresh(now),
                second.refresh(now),
            );
            let (a, b, drawn) = (a.unwrap(), b.unwrap(), drawn.unwrap());
            assert!(a.refreshed && b.refreshed, "{a:?} {b:?}");
            let current = store.read_current().await.unwrap();
            assert!(current.secret.external_id_suffix.is_some());
            assert_eq!(current.secret.external_id_suffix, drawn.external_id_suffix);
            let token = current.secret.token.clone().unwrap();
            assert!(accepted(&emulator, &token).await);

            // A fresh token is left alone: no new version.
            let versions = version_count(&client, &arn).await;
            let calm = Refresher::new(
                store.clone(),
                Requests::counting(KeyTokenRequester::new(&emulator.url, fast())),
                Duration::from_secs(300),
            );
            let outcome = calm.refresh(OffsetDateTime::now_utc()).await.unwrap();
            assert!(!outcome.refreshed);
            assert_eq!(outcome.expires_at, token.expires_at());
            assert_eq!(version_count(&client, &arn).await, versions);

            // A writer that lost the race changes nothing readers see.
            let stale = current;
            store
                .update(|latest| {
                    Ok(Some(
                        latest.clone().with_token(token_expiring_in("other", 7200)),
                    ))
                })
                .await
                .unwrap();
            let winner = store.read().await.unwrap();
            let outcome = store
                .replace_current(&stale.version_id, &stale.secret)
                .await
                .unwrap();
            assert_eq!(outcome, ReplaceOutcome::CurrentMoved);
            assert_eq!(store.read().await.unwrap(), winner);

            // A missing secret is an AWS error naming the operation and AWS's code.
            let missing = SecretStore::new(client.clone(), "no-such-secret");
            match missing.read().await.unwrap_err() {
                Error::Aws {
                    operation, code, ..
                } => {
                    assert_eq!(operation, "secretsmanager:GetSecretValue");
                    assert_eq!(code.as_deref(), Some("ResourceNotFoundException"));
                }
                other => panic!("expected an AWS error, got {other:?}"),
            }
        }
    }
}
