//! The product's Lacework API secret: the JSON kept in its Secrets Manager secret.
//!
//! ```json
//! {"keyId": "...", "secretKey": "...", "token": "...", "expiresAt": "<RFC 3339>", "externalIdSuffix": "..."}
//! ```
//!
//! The SAM template creates the secret with `keyId` and `secretKey` only; `setup` adds the
//! first token and draws the installation's external id suffix; `auth-refresh` renews the
//! token. Everything here is pure: reading the secret from Secrets Manager and writing it back
//! is `crate::aws::secrets`.
//!
//! The secret key, the token and the suffix are confidential: `Debug` redacts them, and a
//! problem with the JSON names the field (`secret.keyId`) and what is wrong, never its value.
//! [`ApiSecret::to_json`] is the only place the secret key is written out.

use std::time::Duration;

use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::error::{Error, Problem, json_type};
use crate::external_id::ExternalIdSuffix;
use crate::lacework::{Credentials, SecretString, Token};

/// Field names in the secret's JSON.
const KEY_ID: &str = "keyId";
const SECRET_KEY: &str = "secretKey";
const TOKEN: &str = "token";
const EXPIRES_AT: &str = "expiresAt";
const EXTERNAL_ID_SUFFIX: &str = "externalIdSuffix";

/// What problem paths start with: the secret itself.
const ROOT: &str = "secret";

/// The contents of the Lacework API secret. `Debug` shows no secret: the secret key, the
/// token's value and the suffix each redact themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSecret {
    /// The Lacework API key id (`keyId`); not confidential.
    pub key_id: String,
    /// The API secret key (`secretKey`).
    pub secret_key: SecretString,
    /// The current access token and its expiry (`token`, `expiresAt`), once `setup` got one.
    pub token: Option<Token>,
    /// The installation's external id suffix (`externalIdSuffix`), once `setup` drew it.
    pub external_id_suffix: Option<ExternalIdSuffix>,
}

impl ApiSecret {
    /// A secret with an API key only, as the template creates it.
    pub fn new(key_id: impl Into<String>, secret_key: impl Into<SecretString>) -> ApiSecret {
        ApiSecret {
            key_id: key_id.into(),
            secret_key: secret_key.into(),
            token: None,
            external_id_suffix: None,
        }
    }

    /// Reads the secret's JSON, reporting every problem at once as [`Error::Config`] with
    /// paths like `secret.keyId`. No message quotes a value.
    ///
    /// `keyId` and `secretKey` are required and trimmed (pasted values often carry a stray
    /// newline). `token` and `expiresAt` come together or not at all. A field set to `null`
    /// counts as absent, and fields this product does not know are ignored.
    pub fn from_json(text: &str) -> Result<ApiSecret, Error> {
        let value: Value = serde_json::from_str(text).map_err(|err| {
            let kind = match err.classify() {
                serde_json::error::Category::Eof => "it ends too early",
                _ => "syntax error",
            };
            Error::Config(vec![Problem::new(
                ROOT,
                format!(
                    "is not valid JSON ({kind} at line {}, column {})",
                    err.line(),
                    err.column()
                ),
            )])
        })?;
        let Value::Object(fields) = value else {
            return Err(Error::Config(vec![Problem::new(
                ROOT,
                format!(
                    "must be a JSON object with {KEY_ID} and {SECRET_KEY}, found {}",
                    json_type(&value)
                ),
            )]));
        };

        let mut problems = Vec::new();
        let key_id = required_text(&fields, KEY_ID, "the Lacework API key id", &mut problems);
        let secret_key = required_text(
            &fields,
            SECRET_KEY,
            "the Lacework API secret key",
            &mut problems,
        );
        let token = read_token(&fields, &mut problems);
        let external_id_suffix = optional_text(&fields, EXTERNAL_ID_SUFFIX, &mut problems)
            .and_then(|text| {
                ExternalIdSuffix::parse(text)
                    .map_err(|err| problems.push(problem(EXTERNAL_ID_SUFFIX, err.reason())))
                    .ok()
            });

        match (key_id, secret_key) {
            (Some(key_id), Some(secret_key)) if problems.is_empty() => Ok(ApiSecret {
                key_id,
                secret_key: SecretString::new(secret_key),
                token,
                external_id_suffix,
            }),
            _ => Err(Error::Config(problems)),
        }
    }

    /// The secret's JSON, in the shape [`ApiSecret::from_json`] reads. Absent fields are left
    /// out. This is the only place the secret key is written out: send it to Secrets Manager
    /// and nowhere else.
    pub fn to_json(&self) -> String {
        let mut fields = json!({KEY_ID: self.key_id, SECRET_KEY: self.secret_key.expose()});
        if let Some(token) = &self.token {
            fields[TOKEN] = token.value().expose().into();
            fields[EXPIRES_AT] = rfc3339_utc(token.expires_at()).into();
        }
        if let Some(suffix) = &self.external_id_suffix {
            fields[EXTERNAL_ID_SUFFIX] = suffix.expose().into();
        }
        fields.to_string()
    }

    /// The API key, to request a token with.
    pub fn credentials(&self) -> Credentials {
        Credentials::new(self.key_id.clone(), self.secret_key.clone())
    }

    /// The same secret holding `token` instead of the one it had.
    pub fn with_token(self, token: Token) -> ApiSecret {
        ApiSecret {
            token: Some(token),
            ..self
        }
    }

    /// The same secret with an external id suffix: the one it has, or - only when it has none -
    /// one drawn now from the OS CSPRNG. The flag says whether it was drawn now (and so must be
    /// written back before anyone uses it). Fails only if the random number generator does.
    pub fn ensure_external_id_suffix(self) -> Result<(ApiSecret, bool), Error> {
        if self.external_id_suffix.is_some() {
            return Ok((self, false));
        }
        let suffix = ExternalIdSuffix::generate()?;
        Ok((
            ApiSecret {
                external_id_suffix: Some(suffix),
                ..self
            },
            true,
        ))
    }

    /// Whether the token should be renewed at `now`: there is none, or it is expired or will
    /// be within `window`.
    pub fn needs_refresh(&self, now: OffsetDateTime, window: Duration) -> bool {
        self.token
            .as_ref()
            .is_none_or(|token| token.expires_within(window, now))
    }

    /// This secret written over `stored` (what the secret holds now, which may have changed
    /// since this one was read) without losing what only `stored` has:
    ///
    /// * the API key is this secret's;
    /// * the token is whichever of the two expires later (both are valid; the longer-lived
    ///   one is kept);
    /// * a stored external id suffix is never removed or replaced: with none here, the stored
    ///   one is kept; with a different one here, this fails with [`Error::ExternalId`] (two
    ///   runs drew a suffix at the same time; the caller must read the secret again and use
    ///   the stored suffix).
    pub fn merged_onto(self, stored: &ApiSecret) -> Result<ApiSecret, Error> {
        let external_id_suffix = match (self.external_id_suffix, &stored.external_id_suffix) {
            (Some(ours), Some(theirs)) if ours != *theirs => {
                return Err(Error::ExternalId(
                    "the secret already holds a different external id suffix (another run stored \
                     one meanwhile); read the secret again and use the stored suffix"
                        .to_owned(),
                ));
            }
            (_, Some(theirs)) => Some(theirs.clone()),
            (ours, None) => ours,
        };
        let token = match (self.token, &stored.token) {
            (Some(ours), Some(theirs)) if theirs.expires_at() > ours.expires_at() => {
                Some(theirs.clone())
            }
            (None, theirs) => theirs.clone(),
            (ours, _) => ours,
        };
        Ok(ApiSecret {
            key_id: self.key_id,
            secret_key: self.secret_key,
            token,
            external_id_suffix,
        })
    }
}

/// `at` in UTC as RFC 3339. A moment RFC 3339 cannot write (before year 0 or after 9999) is
/// clamped to the nearest one it can, which keeps "expired" and "far from expiry" true.
fn rfc3339_utc(at: OffsetDateTime) -> String {
    const EARLIEST: &str = "0000-01-01T00:00:00Z";
    const LATEST: &str = "9999-12-31T23:59:59.999999999Z";
    let Some(utc) = at.checked_to_offset(UtcOffset::UTC) else {
        return if at.year() < 0 { EARLIEST } else { LATEST }.to_owned();
    };
    utc.format(&Rfc3339)
        .unwrap_or_else(|_| if utc.year() < 0 { EARLIEST } else { LATEST }.to_owned())
}

fn problem(field: &str, message: impl Into<String>) -> Problem {
    Problem::new(format!("{ROOT}.{field}"), message)
}

/// The trimmed text of an optional field: `None` when absent or `null`; a problem (and
/// `None`) when it is not a string or is blank.
fn optional_text<'a>(
    fields: &'a Map<String, Value>,
    field: &str,
    problems: &mut Vec<Problem>,
) -> Option<&'a str> {
    match fields.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => {
            problems.push(problem(field, "is empty"));
            None
        }
        Some(Value::String(text)) => Some(text.trim()),
        Some(other) => {
            problems.push(problem(
                field,
                format!("must be a string, found {}", json_type(other)),
            ));
            None
        }
    }
}

/// The trimmed text of a required field, or a problem saying what is missing.
fn required_text(
    fields: &Map<String, Value>,
    field: &str,
    what: &str,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    if matches!(fields.get(field), None | Some(Value::Null)) {
        problems.push(problem(field, format!("is missing ({what})")));
        return None;
    }
    optional_text(fields, field, problems).map(str::to_owned)
}

/// `token` and `expiresAt`, which are stored together.
fn read_token(fields: &Map<String, Value>, problems: &mut Vec<Problem>) -> Option<Token> {
    let present = |field: &str| !matches!(fields.get(field), None | Some(Value::Null));
    let value = optional_text(fields, TOKEN, problems);
    let expires_at = optional_text(fields, EXPIRES_AT, problems);
    for (given, missing) in [(TOKEN, EXPIRES_AT), (EXPIRES_AT, TOKEN)] {
        if present(given) && !present(missing) {
            let message = format!("is missing; it is required with {ROOT}.{given}");
            problems.push(problem(missing, message));
        }
    }
    let expires_at = expires_at.and_then(|text| {
        let wrong = "is not an RFC 3339 date and time (like 2030-01-01T12:00:00.000Z)";
        OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|_| problems.push(problem(EXPIRES_AT, wrong)))
            .ok()
    });
    Some(Token::new(value?, expires_at?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const SECRET_KEY_VALUE: &str = "_s3cr3tKeyValue";
    const TOKEN_VALUE: &str = "tok-Sup3rSecret";
    const SUFFIX_VALUE: &str = "SuffixS3cretXyz9";

    fn full_json() -> String {
        format!(
            r#"{{"keyId":"ACME_KEY","secretKey":"{SECRET_KEY_VALUE}","token":"{TOKEN_VALUE}","expiresAt":"2030-01-01T12:00:00.123Z","externalIdSuffix":"{SUFFIX_VALUE}"}}"#
        )
    }

    fn problems_of(text: &str) -> Vec<Problem> {
        match ApiSecret::from_json(text) {
            Err(Error::Config(problems)) => problems,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    fn paths(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.path.as_str()).collect()
    }

    fn token(value: &str, expires_at: OffsetDateTime) -> Token {
        Token::new(value, expires_at)
    }

    #[test]
    fn reads_every_field() {
        let secret = ApiSecret::from_json(&full_json()).unwrap();
        assert_eq!(secret.key_id, "ACME_KEY");
        assert_eq!(secret.secret_key.expose(), SECRET_KEY_VALUE);
        let token = secret.token.as_ref().unwrap();
        assert_eq!(token.value().expose(), TOKEN_VALUE);
        assert_eq!(token.expires_at(), datetime!(2030-01-01 12:00:00.123 UTC));
        assert_eq!(
            secret.external_id_suffix.as_ref().unwrap().expose(),
            SUFFIX_VALUE
        );
        let credentials = secret.credentials();
        assert_eq!(credentials.key_id, "ACME_KEY");
        assert_eq!(credentials.secret_key.expose(), SECRET_KEY_VALUE);
    }

    #[test]
    fn the_template_shape_has_only_the_key() {
        let secret =
            ApiSecret::from_json(r#"{"keyId": " ACME_KEY ", "secretKey": "abc\n"}"#).unwrap();
        assert_eq!(secret, ApiSecret::new("ACME_KEY", "abc"));
        assert!(secret.token.is_none());
        assert!(secret.external_id_suffix.is_none());
        // null counts as absent; unknown fields are ignored.
        let same = ApiSecret::from_json(
            r#"{"keyId":"ACME_KEY","secretKey":"abc","token":null,"expiresAt":null,"externalIdSuffix":null,"note":"x"}"#,
        )
        .unwrap();
        assert_eq!(same, secret);
    }

    #[test]
    fn round_trips_through_json() {
        let secret = ApiSecret::from_json(&full_json()).unwrap();
        let json = secret.to_json();
        assert_eq!(ApiSecret::from_json(&json).unwrap(), secret);
        let value: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["expiresAt"], "2030-01-01T12:00:00.123Z");
        assert_eq!(value["secretKey"], SECRET_KEY_VALUE);

        let bare = ApiSecret::new("K", "S");
        let value: Value = serde_json::from_str(&bare.to_json()).unwrap();
        assert_eq!(value, serde_json::json!({"keyId": "K", "secretKey": "S"}));
    }

    #[test]
    fn expiry_is_written_in_utc() {
        let at = datetime!(2030-01-01 14:00 +02:00);
        let secret = ApiSecret::new("K", "S").with_token(token("t", at));
        let value: Value = serde_json::from_str(&secret.to_json()).unwrap();
        assert_eq!(value["expiresAt"], "2030-01-01T12:00:00Z");
        let back = ApiSecret::from_json(&secret.to_json()).unwrap();
        assert_eq!(back.token.unwrap().expires_at(), at);
    }

    #[test]
    fn unwritable_expiries_are_clamped_not_lost() {
        let far = datetime!(9999-12-31 23:00 -05:00);
        let secret = ApiSecret::new("K", "S").with_token(token("t", far));
        let back = ApiSecret::from_json(&secret.to_json()).unwrap();
        assert!(!back.needs_refresh(datetime!(2030-01-01 0:00 UTC), Duration::from_secs(60)));

        let ancient = datetime!(-0001-06-01 0:00 UTC);
        let secret = ApiSecret::new("K", "S").with_token(token("t", ancient));
        let back = ApiSecret::from_json(&secret.to_json()).unwrap();
        assert!(back.needs_refresh(datetime!(2030-01-01 0:00 UTC), Duration::ZERO));
    }

    #[test]
    fn debug_shows_no_secret() {
        let secret = ApiSecret::from_json(&full_json()).unwrap();
        let shown = format!("{secret:?} {secret:#?}");
        assert!(shown.contains("ACME_KEY"), "{shown}");
        assert!(
            shown.contains("2030-01-01 12:00:00.123"),
            "the expiry: {shown}"
        );
        for value in [SECRET_KEY_VALUE, TOKEN_VALUE, SUFFIX_VALUE] {
            assert!(!shown.contains(value), "{shown}");
        }
    }

    #[test]
    fn missing_and_wrong_fields_are_all_named() {
        let problems = problems_of(r#"{"secretKey": 5, "externalIdSuffix": "short"}"#);
        assert_eq!(
            paths(&problems),
            [
                "secret.keyId",
                "secret.secretKey",
                "secret.externalIdSuffix"
            ]
        );
        assert!(problems[0].message.contains("is missing"), "{problems:?}");
        assert_eq!(problems[1].message, "must be a string, found a number");
        assert!(problems[2].message.contains("at least 10"), "{problems:?}");

        let problems = problems_of(r#"{"keyId": "  ", "secretKey": ""}"#);
        assert_eq!(paths(&problems), ["secret.keyId", "secret.secretKey"]);
        assert!(problems.iter().all(|p| p.message == "is empty"));
    }

    #[test]
    fn token_and_expiry_come_together() {
        let problems = problems_of(r#"{"keyId":"K","secretKey":"S","token":"t"}"#);
        assert_eq!(paths(&problems), ["secret.expiresAt"]);
        let problems =
            problems_of(r#"{"keyId":"K","secretKey":"S","expiresAt":"2030-01-01T00:00:00Z"}"#);
        assert_eq!(paths(&problems), ["secret.token"]);
        let problems =
            problems_of(r#"{"keyId":"K","secretKey":"S","token":"t","expiresAt":"next tuesday"}"#);
        assert_eq!(paths(&problems), ["secret.expiresAt"]);
        assert!(problems[0].message.contains("RFC 3339"));
    }

    #[test]
    fn problems_never_quote_a_value() {
        let cases = [
            format!(
                r#"{{"keyId":"K","secretKey":"{SECRET_KEY_VALUE}","token":"{TOKEN_VALUE}","expiresAt":"{SECRET_KEY_VALUE}"}}"#
            ),
            format!(r#"{{"keyId":"K","secretKey":"S","externalIdSuffix":"{SUFFIX_VALUE} !"}}"#),
            format!(r#"{{"keyId":"K","secretKey":"{SECRET_KEY_VALUE}","token":"{TOKEN_VALUE}"}}"#),
            format!(r#"{{"keyId":"K","secretKey":"{SECRET_KEY_VALUE}"#),
            format!(r#"{{"keyId":"K","secretKey":"{SECRET_KEY_VALUE}"}} trailing"#),
            format!(r#"["{SECRET_KEY_VALUE}"]"#),
            format!(r#""{SECRET_KEY_VALUE}""#),
            SECRET_KEY_VALUE.to_owned(),
        ];
        for text in &cases {
            let err = ApiSecret::from_json(text).unwrap_err();
            let shown = format!("{err} {err:?}");
            for value in [SECRET_KEY_VALUE, TOKEN_VALUE, SUFFIX_VALUE] {
                assert!(!shown.contains(value), "{shown}");
            }
            assert!(shown.contains("secret"), "{shown}");
        }
    }

    #[test]
    fn not_an_object_is_refused_plainly() {
        let problems = problems_of("[1, 2]");
        assert_eq!(paths(&problems), ["secret"]);
        assert!(problems[0].message.contains("found an array"));
        let problems = problems_of(r#"{"keyId": "#);
        assert!(
            problems[0].message.contains("not valid JSON"),
            "{problems:?}"
        );
        assert!(problems[0].message.contains("line 1"), "{problems:?}");
    }

    #[test]
    fn a_suffix_is_drawn_once_and_never_replaced() {
        let (secret, drawn) = ApiSecret::new("K", "S")
            .ensure_external_id_suffix()
            .unwrap();
        assert!(drawn);
        let suffix = secret.external_id_suffix.clone().unwrap();
        assert_eq!(suffix.expose().len(), ExternalIdSuffix::GENERATED_LEN);
        let (again, drawn) = secret.ensure_external_id_suffix().unwrap();
        assert!(!drawn);
        assert_eq!(again.external_id_suffix, Some(suffix));
    }

    #[test]
    fn refresh_is_needed_without_a_token_or_near_expiry() {
        let now = datetime!(2030-01-01 12:00 UTC);
        let window = Duration::from_secs(3600);
        assert!(ApiSecret::new("K", "S").needs_refresh(now, window));
        let near = ApiSecret::new("K", "S").with_token(token("t", datetime!(2030-01-01 12:30 UTC)));
        assert!(near.needs_refresh(now, window));
        let expired =
            ApiSecret::new("K", "S").with_token(token("t", datetime!(2030-01-01 11:00 UTC)));
        assert!(expired.needs_refresh(now, Duration::ZERO));
        let far = ApiSecret::new("K", "S").with_token(token("t", datetime!(2030-01-01 14:00 UTC)));
        assert!(!far.needs_refresh(now, window));
    }

    #[test]
    fn merging_keeps_the_stored_suffix_and_the_longer_lived_token() {
        let suffix = ExternalIdSuffix::parse(SUFFIX_VALUE).unwrap();
        let early = token("early", datetime!(2030-01-01 12:00 UTC));
        let late = token("late", datetime!(2030-01-02 12:00 UTC));
        let stored = ApiSecret {
            external_id_suffix: Some(suffix.clone()),
            ..ApiSecret::new("K", "S").with_token(late.clone())
        };

        // A writer that read the secret before the suffix and the late token were stored.
        let ours = ApiSecret::new("K", "S").with_token(early.clone());
        let merged = ours.merged_onto(&stored).unwrap();
        assert_eq!(merged.external_id_suffix, Some(suffix.clone()));
        assert_eq!(merged.token, Some(late.clone()));

        // A newer token of ours wins; a stored secret without a suffix takes ours.
        let ours = ApiSecret::new("K2", "S2").with_token(late.clone());
        let stored_old = ApiSecret::new("K", "S").with_token(early.clone());
        let (ours, _) = ours.ensure_external_id_suffix().unwrap();
        let merged = ours.clone().merged_onto(&stored_old).unwrap();
        assert_eq!(merged, ours);

        // No token of ours keeps the stored one.
        let merged = ApiSecret::new("K", "S").merged_onto(&stored).unwrap();
        assert_eq!(merged.token, Some(late));
    }

    #[test]
    fn merging_refuses_to_replace_a_stored_suffix() {
        let stored = ApiSecret {
            external_id_suffix: Some(ExternalIdSuffix::parse(SUFFIX_VALUE).unwrap()),
            ..ApiSecret::new("K", "S")
        };
        let (ours, drawn) = ApiSecret::new("K", "S")
            .ensure_external_id_suffix()
            .unwrap();
        assert!(drawn);
        let err = ours.merged_onto(&stored).unwrap_err();
        assert!(matches!(err, Error::ExternalId(_)), "{err:?}");
        assert!(!err.to_string().contains(SUFFIX_VALUE));
    }

    proptest! {
        #[test]
        fn any_valid_secret_round_trips(
            key_id in "[A-Za-z0-9_]{1,40}",
            secret_key in "[!-~]{1,60}",
            token_value in proptest::option::of("[!-~]{1,80}"),
            unix in 0i64..253_402_300_799,
            millis in 0u16..1000,
            suffix in proptest::option::of("[A-Za-z0-9_+=,.@:/-]{10,60}"),
        ) {
            let expires_at = OffsetDateTime::from_unix_timestamp(unix).unwrap()
                + time::Duration::milliseconds(i64::from(millis));
            let secret = ApiSecret {
                key_id,
                secret_key: SecretString::new(secret_key),
                token: token_value.map(|value| Token::new(value, expires_at)),
                external_id_suffix: suffix.map(|s| ExternalIdSuffix::parse(&s).unwrap()),
            };
            let back = ApiSecret::from_json(&secret.to_json()).unwrap();
            prop_assert_eq!(back, secret);
        }

        #[test]
        fn reading_never_panics(text in ".{0,200}") {
            let _ = ApiSecret::from_json(&text);
        }
    }
}
