//! The `CloudAccounts` calls.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use reqwest::Method;
use reqwest::header::HeaderValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::rate_limit::RateLimitObserver;
use super::retry::RetryPolicy;
use super::search::{One, Page, SearchRequest};
use super::token::{KeyTokenSource, TokenSource};
use super::transport::{
    ClientOptions, Outgoing, Transport, decode, encode, endpoint, failure, kind_of, operation,
    parse_base_url, secret_header,
};
use lwct_domain::error::{Error, LaceworkErrorKind};
use lwct_domain::lacework::Credentials;
use lwct_domain::lacework::Scope;
use lwct_domain::lacework::{
    CloudAccount, CloudAccountSpec, IntegrationData, decode_error, json_path,
};

/// More pages than this in one listing means the API is looping; stop rather than spin.
const MAX_PAGES: usize = 10_000;

/// A Lacework API v2 client. Cheap to clone; clones share connections and the token source.
#[derive(Clone)]
pub struct Client {
    base: Url,
    transport: Transport,
    tokens: Arc<dyn TokenSource>,
}

impl Client {
    /// A client for `base_url` (`https://acme.lacework.net`) that takes its tokens from `tokens`.
    pub fn new(
        base_url: &str,
        tokens: Arc<dyn TokenSource>,
        options: &ClientOptions,
    ) -> Result<Self, Error> {
        Self::build(base_url, options, None, |_, _| tokens)
    }

    /// [`Client::new`], telling `observer` what each answer says about the key's rate limit.
    pub fn observed(
        base_url: &str,
        tokens: Arc<dyn TokenSource>,
        options: &ClientOptions,
        observer: Arc<dyn RateLimitObserver>,
    ) -> Result<Self, Error> {
        Self::build(base_url, options, Some(observer), |_, _| tokens)
    }

    /// A client that requests (and caches) its own tokens with an API key.
    pub fn with_keys(
        base_url: &str,
        credentials: Credentials,
        options: &ClientOptions,
    ) -> Result<Self, Error> {
        // The token source shares the client's connections.
        Self::build(base_url, options, None, |base, transport| {
            Arc::new(KeyTokenSource::with_transport(
                base,
                credentials,
                transport.clone(),
            ))
        })
    }

    fn build(
        base_url: &str,
        options: &ClientOptions,
        observer: Option<Arc<dyn RateLimitObserver>>,
        tokens: impl FnOnce(&Url, &Transport) -> Arc<dyn TokenSource>,
    ) -> Result<Self, Error> {
        let base = parse_base_url(base_url)?;
        let transport = Transport::new(options, observer)?;
        let tokens = tokens(&base, &transport);
        Ok(Self {
            base,
            transport,
            tokens,
        })
    }

    /// `POST /api/v2/CloudAccounts`: creates an integration.
    pub async fn create<D: IntegrationData>(
        &self,
        scope: &Scope,
        spec: &CloudAccountSpec<D>,
    ) -> Result<CloudAccount<D>, Error> {
        let url = self.endpoint(&["CloudAccounts"]);
        let secrets = spec.data.secrets();
        let body = encode(&operation(&Method::POST, &url), spec)?;
        // Not idempotent: names are not unique, so a create sent twice can make two.
        let (operation, answer) = self
            .send(Method::POST, url, scope, Some(&body), &secrets, false)
            .await?;
        let one: One<CloudAccount> = decode(&operation, &answer, &secrets)?;
        typed(one.data, &operation)
    }

    /// `GET /api/v2/CloudAccounts/{intgGuid}`, as type `D` (an error if it is another type).
    pub async fn get<D: IntegrationData>(
        &self,
        scope: &Scope,
        intg_guid: &str,
    ) -> Result<CloudAccount<D>, Error> {
        let record = self.get_any(scope, intg_guid).await?;
        let url = self.endpoint(&["CloudAccounts", intg_guid]);
        typed(record, &operation(&Method::GET, &url))
    }

    /// `GET /api/v2/CloudAccounts/{intgGuid}`, whatever its type.
    pub async fn get_any(&self, scope: &Scope, intg_guid: &str) -> Result<CloudAccount, Error> {
        let url = self.endpoint(&["CloudAccounts", intg_guid]);
        let (operation, answer) = self.send(Method::GET, url, scope, None, &[], true).await?;
        let one: One<CloudAccount> = decode(&operation, &answer, &[])?;
        Ok(one.data)
    }

    /// `GET /api/v2/CloudAccounts`: every integration in the scope, of every type.
    pub async fn list(&self, scope: &Scope) -> Result<Vec<CloudAccount>, Error> {
        let url = self.endpoint(&["CloudAccounts"]);
        let (operation, answer) = self.send(Method::GET, url, scope, None, &[], true).await?;
        self.all_pages(scope, &operation, &answer).await
    }

    /// `GET /api/v2/CloudAccounts/{type}`: every integration of type `D` in the scope.
    pub async fn list_by_type<D: IntegrationData>(
        &self,
        scope: &Scope,
    ) -> Result<Vec<CloudAccount<D>>, Error> {
        let (operation, records) = self.list_by_type_any::<D>(scope).await?;
        records
            .into_iter()
            .map(|record| typed(record, &operation))
            .collect()
    }

    /// Like [`Client::list_by_type`], with the data not yet read as `D`.
    pub(crate) async fn list_by_type_any<D: IntegrationData>(
        &self,
        scope: &Scope,
    ) -> Result<(String, Vec<CloudAccount>), Error> {
        let url = self.endpoint(&["CloudAccounts", D::TYPE]);
        let (operation, answer) = self.send(Method::GET, url, scope, None, &[], true).await?;
        let records = self.all_pages(scope, &operation, &answer).await?;
        Ok((operation, records))
    }

    /// `PATCH /api/v2/CloudAccounts/{intgGuid}`: makes the integration what `spec` says.
    ///
    /// The body is the whole record, `intgGuid` included, as the Go SDK and Terraform send it.
    /// Whether Lacework merges or replaces `data` is not known, so optional fields `spec`
    /// leaves unset may be erased: fill them first ([`IntegrationData::fill_unset_from`]), as
    /// [`Client::register_or_reconcile`] does.
    pub async fn update<D: IntegrationData>(
        &self,
        scope: &Scope,
        intg_guid: &str,
        spec: &CloudAccountSpec<D>,
    ) -> Result<CloudAccount<D>, Error> {
        #[derive(Serialize)]
        struct Patch<'a, D: IntegrationData> {
            #[serde(rename = "intgGuid")]
            intg_guid: &'a str,
            #[serde(flatten)]
            spec: &'a CloudAccountSpec<D>,
        }
        let url = self.endpoint(&["CloudAccounts", intg_guid]);
        let secrets = spec.data.secrets();
        let body = encode(&operation(&Method::PATCH, &url), &Patch { intg_guid, spec })?;
        let (operation, answer) = self
            .send(Method::PATCH, url, scope, Some(&body), &secrets, true)
            .await?;
        let one: One<CloudAccount> = decode(&operation, &answer, &secrets)?;
        typed(one.data, &operation)
    }

    /// `DELETE /api/v2/CloudAccounts/{intgGuid}`.
    pub async fn delete(&self, scope: &Scope, intg_guid: &str) -> Result<(), Error> {
        let url = self.endpoint(&["CloudAccounts", intg_guid]);
        self.send(Method::DELETE, url, scope, None, &[], true)
            .await?;
        Ok(())
    }

    /// `POST /api/v2/CloudAccounts/search`, every page. `T` is what each row reads as: a
    /// [`CloudAccount`], or a smaller type when `request.returns` asks for some fields only.
    /// Such a type must take (ignore) fields it did not ask for: the service may not cut rows
    /// down to `returns` (the Control Tower anchor reads `data` from such a search). A search
    /// that finds nothing (204, no body) gives no rows.
    pub async fn search<T: DeserializeOwned>(
        &self,
        scope: &Scope,
        request: &SearchRequest,
    ) -> Result<Vec<T>, Error> {
        let url = self.endpoint(&["CloudAccounts", "search"]);
        let body = encode(&operation(&Method::POST, &url), request)?;
        let (operation, answer) = self
            .send(Method::POST, url, scope, Some(&body), &[], true)
            .await?;
        self.all_pages(scope, &operation, &answer).await
    }

    /// The rows of a first page and of every page after it (`paging.urls.nextPage`, fetched
    /// with GET in the same scope).
    async fn all_pages<T: DeserializeOwned>(
        &self,
        scope: &Scope,
        operation: &str,
        first: &[u8],
    ) -> Result<Vec<T>, Error> {
        let page: Page<T> = decode_page(operation, first)?;
        let mut next = page.next_page().map(str::to_owned);
        let mut rows = page.data;
        let mut seen = HashSet::new();
        while let Some(address) = next {
            let url = self.next_page_url(operation, &address)?;
            if !seen.insert(url.clone()) || seen.len() > MAX_PAGES {
                return Err(decode_error(
                    operation.to_owned(),
                    format!(
                        "{}: the pages do not end (page {} repeats or is past {MAX_PAGES})",
                        json_path("$", "paging.urls.nextPage"),
                        seen.len() + 1
                    ),
                ));
            }
            let (page_operation, answer) =
                self.send(Method::GET, url, scope, None, &[], true).await?;
            let page: Page<T> = decode_page(&page_operation, &answer)?;
            next = page.next_page().map(str::to_owned);
            rows.extend(page.data);
        }
        Ok(rows)
    }

    /// Where to GET a `nextPage` address. The token goes with it, so it is only ever sent to
    /// the configured base:
    /// * absolute on the base's origin, or starting with `/`: as given;
    /// * relative without a leading `/` (`Entities/X/abc?startTime=...`, as in the Go SDK's
    ///   tests): under `<base>/api/v2/`, query kept;
    /// * absolute on another origin (the service naming its canonical host while the client
    ///   was given an alias): its path and query re-based onto the base when the path is under
    ///   `/api/v2/`, as both SDKs do; refused otherwise.
    fn next_page_url(&self, operation: &str, address: &str) -> Result<Url, Error> {
        let base = &self.base;
        let refuse = |why: String| {
            decode_error(
                operation.to_owned(),
                format!("$.paging.urls.nextPage: {why}"),
            )
        };
        let joined = match Url::parse(address) {
            Ok(absolute) => Ok(absolute),
            Err(_) if address.starts_with('/') => base.join(address),
            Err(_) => base
                .join("api/v2/")
                .and_then(|api_root| api_root.join(address)),
        };
        let url = joined.map_err(|e| refuse(format!("{address:?} is not a URL: {e}")))?;
        if url.origin() == base.origin() {
            return Ok(url);
        }
        if url.path().starts_with("/api/v2/") && url.fragment().is_none() {
            let mut rebased = base.clone();
            rebased.set_path(url.path());
            rebased.set_query(url.query());
            tracing::warn!(
                operation,
                next_page_origin = %url.origin().ascii_serialization(),
                base = %base.origin().ascii_serialization(),
                "Lacework named another host for the next page; fetching its path from the configured host"
            );
            return Ok(rebased);
        }
        Err(refuse(format!(
            "{address:?} is not on {} and not under /api/v2/; not following it",
            base.origin().ascii_serialization()
        )))
    }

    fn endpoint(&self, segments: &[&str]) -> Url {
        endpoint(&self.base, segments)
    }

    /// The retry policy, for sequences of calls retried as a whole.
    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        self.transport.retry
    }

    /// Sends one call with the current token; if the API answers 401, renews the token once
    /// and sends it again (a 401 was not acted on). Returns the operation name with the answer.
    /// `idempotent`: whether sending it twice does no harm (all but a create).
    async fn send(
        &self,
        method: Method,
        url: Url,
        scope: &Scope,
        body: Option<&[u8]>,
        secrets: &[&str],
        idempotent: bool,
    ) -> Result<(String, Vec<u8>), Error> {
        let operation = operation(&method, &url);
        let scope_headers = scope_headers(scope, &operation)?;
        let mut token = self.tokens.current().await?;
        let mut renewed = false;
        loop {
            let mut headers = scope_headers.clone();
            let bearer = format!("Bearer {}", token.value().expose());
            headers.push((
                "Authorization",
                secret_header(&bearer, &operation, "the access token")?,
            ));
            let mut all_secrets = secrets.to_vec();
            all_secrets.push(token.value().expose());
            let result = self
                .transport
                .send(&Outgoing {
                    method: method.clone(),
                    url: url.clone(),
                    operation: &operation,
                    headers,
                    body,
                    secrets: &all_secrets,
                    idempotent,
                })
                .await;
            match result {
                Err(error)
                    if kind_of(&error) == Some(LaceworkErrorKind::Unauthorized) && !renewed =>
                {
                    tracing::info!(
                        operation = %operation,
                        %scope,
                        "Lacework refused the access token; renewing it once"
                    );
                    renewed = true;
                    token = self.tokens.renew(&token).await?;
                }
                result => return result.map(|answer| (operation, answer)),
            }
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

fn typed<D: IntegrationData>(
    record: CloudAccount,
    operation: &str,
) -> Result<CloudAccount<D>, Error> {
    record.typed::<D>().map_err(|mut error| {
        if let Error::Lacework {
            operation: named, ..
        } = &mut error
        {
            operation.clone_into(named);
        }
        error
    })
}

/// A page, or no rows at all for an empty answer - a 204, or a 2xx with nothing but whitespace
/// in its body (Lacework answers a search that finds nothing so): never a decoding error for
/// that. (A 204 never has a body: HTTP clients read none.)
fn decode_page<T: DeserializeOwned>(operation: &str, body: &[u8]) -> Result<Page<T>, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Page {
            data: Vec::new(),
            paging: None,
        });
    }
    decode(operation, body, &[])
}

fn scope_headers(
    scope: &Scope,
    operation: &str,
) -> Result<Vec<(&'static str, HeaderValue)>, Error> {
    scope
        .headers()
        .into_iter()
        .map(|(name, value)| {
            HeaderValue::from_str(value)
                .map(|value| (name, value))
                .map_err(|_| {
                    failure(
                        LaceworkErrorKind::BadRequest,
                        operation,
                        format!("{name} {value:?} cannot be sent as an HTTP header"),
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StaticTokenSource;
    use lwct_domain::lacework::Token;
    use time::macros::datetime;

    fn client() -> Client {
        let token = Token::new("tok-secret-123", datetime!(2030-01-01 0:00 UTC));
        Client::new(
            "https://acme.lacework.net",
            Arc::new(StaticTokenSource::new(token)),
            &ClientOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn empty_answers_are_no_rows() {
        for empty in [&b""[..], b" \r\n"] {
            let page: Page<serde_json::Value> = decode_page("op", empty).unwrap();
            assert!(page.data.is_empty() && page.paging.is_none());
        }
        assert!(decode_page::<serde_json::Value>("op", b"{}").is_err());
    }

    #[test]
    fn next_page_must_stay_on_the_api_host() {
        let client = client();
        let url = |address: &str| client.next_page_url("op", address).map(String::from);
        assert_eq!(
            url("https://acme.lacework.net/api/v2/NextPage/abc").unwrap(),
            "https://acme.lacework.net/api/v2/NextPage/abc"
        );
        assert_eq!(
            url("/api/v2/NextPage/abc").unwrap(),
            "https://acme.lacework.net/api/v2/NextPage/abc"
        );
        for elsewhere in [
            "https://evil.example/steal",
            "https://evil.example/",
            "http://acme.lacework.net/other/x",
            "//evil.example/steal",
        ] {
            let err = url(elsewhere).unwrap_err().to_string();
            assert!(err.contains("$.paging.urls.nextPage"), "{elsewhere}: {err}");
        }
    }

    #[test]
    fn relative_next_page_is_under_api_v2_with_its_query() {
        // The Go SDK's TestPaginationQuery fixture.
        let next = "Entities/MachineDetails/eeee==?startTime=2022-10-13T20:23:28.316Z&endTime=2022-10-19T20:23:28.316Z";
        assert_eq!(
            client().next_page_url("op", next).unwrap().as_str(),
            "https://acme.lacework.net/api/v2/Entities/MachineDetails/eeee==?startTime=2022-10-13T20:23:28.316Z&endTime=2022-10-19T20:23:28.316Z"
        );
    }

    #[test]
    fn next_page_on_another_host_is_rebased_onto_the_configured_one() {
        let client = client();
        for (foreign, rebased) in [
            (
                "https://canonical.lacework.net/api/v2/NextPage/abc?x=1",
                "https://acme.lacework.net/api/v2/NextPage/abc?x=1",
            ),
            (
                "http://acme.lacework.net/api/v2/NextPage/abc",
                "https://acme.lacework.net/api/v2/NextPage/abc",
            ),
            (
                "https://acme.lacework.net:8443/api/v2/x",
                "https://acme.lacework.net/api/v2/x",
            ),
        ] {
            assert_eq!(
                client.next_page_url("op", foreign).unwrap().as_str(),
                rebased,
                "{foreign}"
            );
        }
    }

    #[test]
    fn debug_shows_no_token() {
        let shown = format!("{:?}", client());
        assert!(shown.contains("acme.lacework.net"), "{shown}");
        assert!(!shown.contains("tok-secret-123"), "{shown}");
    }

    #[test]
    fn authorization_header_is_sensitive() {
        let token = Token::new("tok-secret-123", datetime!(2030-01-01 0:00 UTC));
        let bearer = format!("Bearer {}", token.value().expose());
        let header = secret_header(&bearer, "op", "the access token").unwrap();
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("tok-secret-123"));
        let err = secret_header("Bearer tok\nsecret", "op", "the access token")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }
}
