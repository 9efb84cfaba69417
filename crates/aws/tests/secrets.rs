//! The secret's port and the token source built on it, over the in-memory secret (and the
//! Lacework emulator for tokens); the SDK adapter against moto.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lacework_emulator::Options;
use lwct_aws::secrets::*;
use lwct_domain::Error;
use lwct_domain::api_secret::ApiSecret;
use lwct_domain::error::LaceworkErrorKind;
use lwct_domain::external_id::ExternalIdSuffix;
use lwct_domain::lacework::{Credentials, Scope, SubAccount, Token};
use lwct_lacework::{
    Client, ClientOptions, KeyTokenRequester, RetryPolicy, TokenRequester, TokenSource,
};
use lwct_testkit::secrets::MemorySecretStore;
use time::OffsetDateTime;
use time::macros::datetime;

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
    let requester = Arc::new(CountingRequester::default());
    let source = SecretsManagerTokenSource::new(store.clone(), requester.clone());
    assert_eq!(source.current().await.unwrap(), token);
    assert_eq!(source.current().await.unwrap(), token);
    assert_eq!(store.reads(), 1);
    assert_eq!(store.writes(), 0);
    assert_eq!(requester.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn without_a_usable_token_one_is_requested_and_written_back() {
    let expired = Token::new("old", datetime!(2020-01-01 0:00 UTC));
    let stored = ApiSecret {
        external_id_suffix: Some(suffix()),
        ..keys_only().with_token(expired)
    };
    let store = Arc::new(MemorySecretStore::new(&stored));
    let requester = Arc::new(CountingRequester::default());
    let source = SecretsManagerTokenSource::new(store.clone(), requester.clone());
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
    let requester = Arc::new(CountingRequester::default());
    let source = SecretsManagerTokenSource::new(store.clone(), requester.clone());
    assert_eq!(source.current().await.unwrap(), rejected);

    // auth-refresh renews it meanwhile.
    let newer = in_an_hour("newer");
    store
        .update(|current| Ok(Some(current.clone().with_token(newer.clone()))))
        .await
        .unwrap();
    assert_eq!(source.renew(&rejected).await.unwrap(), newer);
    assert_eq!(requester.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn concurrent_renewals_share_one_request() {
    let rejected = in_an_hour("rejected");
    let store = Arc::new(MemorySecretStore::new(
        &keys_only().with_token(rejected.clone()),
    ));
    let requester = Arc::new(CountingRequester::default());
    let source = SecretsManagerTokenSource::new(store.clone(), requester.clone());
    let (a, b, c, d) = tokio::join!(
        source.renew(&rejected),
        source.renew(&rejected),
        source.current(),
        source.renew(&rejected),
    );
    for token in [a, b, c, d] {
        assert_eq!(token.unwrap().value().expose(), "tok-1");
    }
    assert_eq!(requester.calls.load(Ordering::SeqCst), 1);
    assert_eq!(store.writes(), 1);
}

#[tokio::test]
async fn a_token_that_cannot_be_written_back_is_still_used() {
    let store = Arc::new(MemorySecretStore::new(&keys_only()));
    store.deny_writes(true);
    let requester = Arc::new(CountingRequester::default());
    let source = SecretsManagerTokenSource::new(store.clone(), requester.clone());
    let token = source.current().await.unwrap();
    assert_eq!(token.value().expose(), "tok-1");
    assert_eq!(store.writes(), 0);
    // And it is kept in memory: no second request.
    assert_eq!(source.current().await.unwrap(), token);
    assert_eq!(requester.calls.load(Ordering::SeqCst), 1);
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
