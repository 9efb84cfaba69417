//! HTTP handling: one entry point that logs, injects faults, authenticates, rate-limits,
//! resolves the scope and routes. Routing is a plain `match` so the order of those steps is
//! visible in one place.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::Options;
use crate::search::Search;
use crate::store::{Fault, Integration, LogEntry, Scope, Store, Token, WindowLeft, rfc3339_millis};
use crate::validate::{self, Invalid, KNOWN_TYPES, Object};

/// Bodies larger than this are refused (a mapping file for thousands of accounts fits easily).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The longest token the real API issues on request (`expiryTime`), in seconds.
const MAX_EXPIRY_SECONDS: u64 = 86_400;

/// What every request handler shares.
pub struct Shared {
    /// The options, `account` trimmed and lower-cased.
    options: Options,
    /// The primary account and every sub-account, lower case, primary first, no repeats.
    accounts: Vec<String>,
    /// `http://127.0.0.1:PORT`, for absolute `nextPage` URLs.
    url: String,
    store: Mutex<Store>,
    /// How far the emulator's clock is ahead of the real one.
    clock_ahead: Mutex<Duration>,
}

impl Shared {
    /// A fresh emulator's state, served at `url`.
    pub fn new(options: Options, accounts: Vec<String>, url: String) -> Shared {
        Shared {
            options,
            accounts,
            url,
            store: Mutex::new(Store::default()),
            clock_ahead: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves the emulator's clock `by` ahead ([`crate::Emulator::advance_clock`]).
    pub fn advance_clock(&self, by: Duration) {
        *lock(&self.clock_ahead) += by;
    }

    /// The emulator's clock: token lifetimes and rate windows are measured on it.
    pub fn now(&self) -> Instant {
        Instant::now() + *lock(&self.clock_ahead)
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
}

/// A panic elsewhere cannot leave the state half-written in a way that matters for a test
/// server: keep serving rather than poisoning every later request.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An API error: `{"message": ...}` with a status (and `Retry-After` for 429).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
    /// The rate-limit headers a 429 carries, when the emulator sends them.
    rate_limit: Option<WindowLeft>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
            rate_limit: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, axum::Json(json!({"message": self.message}))).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(rate_limit) = self.rate_limit {
            rate_limit.add_to(&mut response);
        }
        response
    }
}

/// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (the IETF draft's names),
/// sent only with `--rate-limit-headers`: no Lacework source shows them (facts C49, C50).
impl WindowLeft {
    fn add_to(self, response: &mut Response) {
        let headers = response.headers_mut();
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset_seconds));
    }
}

// A body that fails validation is a 400 naming the field.
impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        ApiError::bad_request(invalid.to_string())
    }
}

type ApiResult = Result<Response, ApiError>;

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// The single entry point for every request.
pub async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let started = Instant::now();
    let arrived = OffsetDateTime::now_utc();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let headers = request.headers().clone();
    let body = to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is larger than {MAX_BODY_BYTES} bytes"),
            )
        });

    if let Some(rest) = path.strip_prefix("/__emulator/") {
        // Inspection and control calls are neither logged, faulted nor rate limited.
        return body
            .and_then(|body| inspection(&shared, &method, rest, &body))
            .unwrap_or_else(IntoResponse::into_response);
    }

    let (response, fault) = match body {
        Ok(body) => api(&shared, &method, &path, &headers, &body).await,
        Err(error) => (error.into_response(), false),
    };
    let header_text = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let duration = started.elapsed();
    let entry = LogEntry {
        time: rfc3339_millis(arrived),
        method: method.to_string(),
        path,
        account_name: header_text("account-name"),
        org_access: header_text("org-access"),
        authorization: if headers.contains_key(header::AUTHORIZATION) {
            "<redacted>"
        } else {
            ""
        },
        status: response.status().as_u16(),
        fault,
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        duration_micros: u64::try_from(duration.as_micros()).unwrap_or(u64::MAX),
    };
    shared.store().log(entry);
    response
}

/// Applies an injected fault, if one matches, then handles the request.
async fn api(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> (Response, bool) {
    let fault = shared.store().take_fault(method.as_str(), path);
    if let Some(fault) = &fault {
        if fault.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(fault.delay_ms)).await;
        }
        if fault.status != 0 {
            return (fault_response(fault.status), true);
        }
    }
    let response =
        route(shared, method, path, headers, body).unwrap_or_else(IntoResponse::into_response);
    (response, fault.is_some())
}

fn fault_response(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = format!(
        "injected fault: the emulator was told to answer {}",
        status.as_u16()
    );
    let busy = [
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::SERVICE_UNAVAILABLE,
    ]
    .contains(&status);
    ApiError {
        retry_after: busy.then_some(1),
        ..ApiError::new(status, message)
    }
    .into_response()
}

/// The API's paths, under `/api/v2/`.
enum Route<'a> {
    Tokens,
    CloudAccounts,
    Search,
    SearchPage(&'a str),
    CloudAccount(&'a str),
}

fn parse_route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/api/v2/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        ["access", "tokens"] => Some(Route::Tokens),
        ["CloudAccounts"] => Some(Route::CloudAccounts),
        ["CloudAccounts", "search"] => Some(Route::Search),
        // The Go SDK's paging fixture uses `/api/v2/NextPage/<opaque id>`; clients must treat
        // the address as opaque, so the emulator uses the only shape a public source shows.
        ["NextPage", id] if !id.is_empty() => Some(Route::SearchPage(id)),
        ["CloudAccounts", param] if !param.is_empty() => Some(Route::CloudAccount(param)),
        _ => None,
    }
}

fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult {
    let Some(route) = parse_route(path) else {
        return Err(ApiError::not_found(format!("no such API path: {path}")));
    };
    let allowed: &[Method] = match route {
        Route::Tokens | Route::Search => &[Method::POST],
        Route::CloudAccounts => &[Method::GET, Method::POST],
        Route::SearchPage(_) => &[Method::GET],
        Route::CloudAccount(_) => &[Method::GET, Method::PATCH, Method::DELETE],
    };
    if !allowed.contains(method) {
        let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{method} is not allowed on {path} (allowed: {})",
                names.join(", ")
            ),
        ));
    }
    let body = || json_body(headers, body);
    if let Route::Tokens = route {
        return issue_token(shared, headers, &body()?);
    }

    let now = shared.now();
    let key_id = authenticate(shared, headers, now)?;
    let rate_limit = rate_check(shared, &key_id, now)?;
    let scope = resolve_scope(shared, headers)?;
    let mut answer = match (route, method) {
        (Route::CloudAccounts, &Method::GET) => list(shared, &scope, None),
        (Route::CloudAccounts, _) => create(shared, &scope, &key_id, &body()?),
        (Route::Search, _) => search(shared, &scope, &key_id, &body()?),
        (Route::SearchPage(id), _) => search_page(shared, &scope, &key_id, id),
        (Route::CloudAccount(param), &Method::GET) => {
            if KNOWN_TYPES.contains(&param) {
                list(shared, &scope, Some(param))
            } else {
                get(shared, &scope, checked_guid(param)?)
            }
        }
        (Route::CloudAccount(param), &Method::PATCH) => {
            update(shared, &scope, &key_id, checked_guid(param)?, &body()?)
        }
        (Route::CloudAccount(param), _) => delete(shared, &scope, checked_guid(param)?),
        (Route::Tokens, _) => Err(ApiError::not_found("unreachable")),
    };
    // A counted request's answer says what is left, whether it succeeded or not.
    if let Some(rate_limit) = rate_limit {
        match &mut answer {
            Ok(response) => rate_limit.add_to(response),
            Err(error) => error.rate_limit = Some(rate_limit),
        }
    }
    answer
}

// ---- authentication, rate limiting, scope ----

fn issue_token(shared: &Shared, headers: &HeaderMap, body: &Value) -> ApiResult {
    let body = Object::body(body)?;
    body.only(&["keyId", "expiryTime"])?;
    let key_id = match body.required_string("keyId")? {
        "" => return Err(Invalid::field("$.keyId", "must not be empty").into()),
        id => id.to_string(),
    };
    let expiry_seconds = body
        .whole_number("expiryTime", 1..=MAX_EXPIRY_SECONDS)?
        .ok_or_else(|| {
            Invalid::field(
                "$.expiryTime",
                "required field is missing (seconds, 1 to 86400)",
            )
        })?;
    let secret = headers
        .get("x-lw-uaks")
        .ok_or_else(|| {
            ApiError::unauthorized("X-LW-UAKS header is missing (send the API secret key)")
        })?
        .as_bytes();
    let options = &shared.options;
    // Compare both whole values every time, so neither tells how much of it was right.
    let key_ok = same_bytes(key_id.as_bytes(), options.key_id.as_bytes());
    let secret_ok = same_bytes(secret, options.secret.as_bytes());
    if !(key_ok && secret_ok) {
        return Err(ApiError::unauthorized("invalid API key id or secret key"));
    }
    let now = shared.now();
    let rate_limit = rate_check(shared, &key_id, now)?;

    let lifetime = Duration::from_secs(expiry_seconds).min(options.token_ttl);
    let token = format!("_{}", random_text(HEX_DIGITS, 64)?);
    let expires_at = OffsetDateTime::now_utc() + lifetime;
    shared.store().add_token(
        token.clone(),
        Token {
            key_id,
            expires: now + lifetime,
        },
    );
    let mut response = json_response(
        StatusCode::CREATED,
        json!({"token": token, "expiresAt": rfc3339_millis(expires_at)}),
    );
    if let Some(rate_limit) = rate_limit {
        rate_limit.add_to(&mut response);
    }
    Ok(response)
}

fn same_bytes(left: &[u8], right: &[u8]) -> bool {
    let mut difference = u8::from(left.len() != right.len());
    for (index, byte) in left.iter().enumerate() {
        difference |= byte ^ right.get(index).copied().unwrap_or(0);
    }
    difference == 0
}

fn authenticate(shared: &Shared, headers: &HeaderMap, now: Instant) -> Result<String, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("Authorization header is missing (send the access token)")
    })?;
    let text = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("Authorization header is not readable text"))?
        .trim();
    let token = match text.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => {
            return Err(ApiError::unauthorized(
                "Authorization header: expected \"<token>\" or \"Bearer <token>\"",
            ));
        }
        None => text,
    };
    if token.is_empty() {
        return Err(ApiError::unauthorized(
            "Authorization header holds no token",
        ));
    }
    shared
        .store()
        .token_key(token, now)
        .map_err(ApiError::unauthorized)
}

/// Counts the request against the key's window; what is left of it, when the emulator sends
/// rate-limit headers.
fn rate_check(shared: &Shared, key_id: &str, now: Instant) -> Result<Option<WindowLeft>, ApiError> {
    let Some(limit) = shared.options.rate_limit else {
        return Ok(None);
    };
    let headers = |left| shared.options.rate_limit_headers.then_some(left);
    match shared.store().rate_check(key_id, limit, now) {
        Ok(left) => Ok(headers(left)),
        Err(seconds) => Err(ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!(
                "rate limit exceeded: at most {} requests per {} seconds for this API key; retry after {seconds} seconds",
                limit.requests,
                limit.per.as_secs()
            ),
            retry_after: Some(seconds),
            rate_limit: headers(WindowLeft {
                limit: limit.requests,
                remaining: 0,
                reset_seconds: seconds,
            }),
        }),
    }
}

fn resolve_scope(shared: &Shared, headers: &HeaderMap) -> Result<Scope, ApiError> {
    if let Some(value) = headers.get("org-access") {
        let text = value.to_str().unwrap_or("").trim();
        if text.eq_ignore_ascii_case("true") {
            return Ok(Scope::Org);
        }
        if !text.eq_ignore_ascii_case("false") {
            return Err(ApiError::bad_request(format!(
                "Org-Access header: must be \"true\" or \"false\", got {text:?}"
            )));
        }
    }
    let Some(value) = headers.get("account-name") else {
        return Ok(Scope::Account(shared.options.account.clone()));
    };
    let name = value
        .to_str()
        .map_err(|_| ApiError::bad_request("Account-Name header is not readable text"))?
        .trim()
        .to_ascii_lowercase();
    if name.is_empty() {
        return Err(ApiError::bad_request("Account-Name header is empty"));
    }
    if shared.accounts.contains(&name) {
        Ok(Scope::Account(name))
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "Account-Name: {name:?} is not an account of this organization, or the API key has no access to it"
            ),
        ))
    }
}

// ---- CloudAccounts ----

/// The organization's accounts when `scope` is the organization (for mapping files).
fn org_accounts<'a>(shared: &'a Shared, scope: &Scope) -> Option<&'a [String]> {
    scope.is_org().then_some(shared.accounts.as_slice())
}

fn list(shared: &Shared, scope: &Scope, kind: Option<&str>) -> ApiResult {
    let store = shared.store();
    let data: Vec<Value> = store
        .list(scope)
        .iter()
        .filter(|i| kind.is_none_or(|k| i.valid.kind.as_str() == k))
        .map(Integration::render)
        .collect();
    Ok(json_response(StatusCode::OK, json!({"data": data})))
}

fn get(shared: &Shared, scope: &Scope, guid: &str) -> ApiResult {
    let store = shared.store();
    let integration = store
        .get(scope, guid)
        .ok_or_else(|| not_found_in(scope, guid))?;
    Ok(json_response(
        StatusCode::OK,
        json!({"data": integration.render()}),
    ))
}

fn create(shared: &Shared, scope: &Scope, key_id: &str, body: &Value) -> ApiResult {
    let valid = validate::validate_create(body, org_accounts(shared, scope))?;
    let prefix = guid_prefix(match scope {
        Scope::Org => &shared.options.account,
        Scope::Account(name) => name,
    });
    let mut store = shared.store();
    let guid = loop {
        let candidate = format!("{prefix}_{}", random_text(GUID_ALPHABET, GUID_SUFFIX_LEN)?);
        if !store.guid_taken(&candidate) {
            break candidate;
        }
    };
    let integration = Integration {
        guid,
        valid,
        is_org: scope.is_org(),
        updated_at: OffsetDateTime::now_utc(),
        updated_by: key_id.to_string(),
    };
    let record = store.create(scope, integration)?;
    Ok(json_response(StatusCode::CREATED, json!({"data": record})))
}

fn update(shared: &Shared, scope: &Scope, key_id: &str, guid: &str, body: &Value) -> ApiResult {
    let mut store = shared.store();
    let current = store
        .get(scope, guid)
        .ok_or_else(|| not_found_in(scope, guid))?;
    let valid = validate::validate_update(body, guid, &current.valid, org_accounts(shared, scope))?;
    let record = store
        .update(scope, guid, valid, key_id, OffsetDateTime::now_utc())?
        .ok_or_else(|| not_found_in(scope, guid))?;
    Ok(json_response(StatusCode::OK, json!({"data": record})))
}

fn delete(shared: &Shared, scope: &Scope, guid: &str) -> ApiResult {
    if shared.store().delete(scope, guid) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found_in(scope, guid))
    }
}

fn search(shared: &Shared, scope: &Scope, key_id: &str, body: &Value) -> ApiResult {
    let search = Search::parse(body)?;
    let mut store = shared.store();
    let rows: Vec<Value> = store
        .list(scope)
        .iter()
        .filter(|integration| search.matches_fields(|field| integration.filter_field(field)))
        .map(|integration| search.project(&integration.render()))
        .collect();
    let total = rows.len();
    if total == 0 {
        // Lacework answers a search that finds nothing with 204 and no body (the Python
        // SDK's http_session.py substitutes `{"data": []}` for it).
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut pages = rows.chunks(shared.options.page_size);
    let first = pages.next().unwrap_or_default();
    let later = pages
        .map(|rows| Ok((random_text(HEX_DIGITS, 32)?, rows.to_vec())))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let next = store.add_pages(scope, key_id, later, total);
    Ok(page_response(shared, first, total, next.as_deref()))
}

fn search_page(shared: &Shared, scope: &Scope, key_id: &str, id: &str) -> ApiResult {
    let store = shared.store();
    let page = store.page(id, scope, key_id).ok_or_else(|| {
        ApiError::not_found(format!(
            "no search page {id:?} for this API key and scope (pages live until a reset; send the same Account-Name/Org-Access as the search)"
        ))
    })?;
    Ok(page_response(
        shared,
        &page.rows,
        page.total,
        page.next.as_deref(),
    ))
}

fn page_response(shared: &Shared, rows: &[Value], total: usize, next: Option<&str>) -> Response {
    let next_url = next.map(|id| format!("{}/api/v2/NextPage/{id}", shared.url));
    json_response(
        StatusCode::OK,
        json!({
            "data": rows,
            "paging": {
                "rows": rows.len(),
                "totalRows": total,
                "urls": {"nextPage": next_url},
            }
        }),
    )
}

fn not_found_in(scope: &Scope, guid: &str) -> ApiError {
    ApiError::not_found(format!(
        "no cloud account with intgGuid {guid:?} in {scope}"
    ))
}

/// The part of an intgGuid before `_`: the scope's account in upper case (`ACME`), as in
/// Lacework's own guids; the Go SDK's mock guids use `MOCK`.
fn guid_prefix(account: &str) -> String {
    account
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether a path parameter is shaped like an intgGuid: `PREFIX_` + 47 characters from
/// `A-Z0-9` (the Go SDK's `internal/intgguid` draws from that set, not from hex digits).
pub fn is_guid(text: &str) -> bool {
    let Some((prefix, suffix)) = text.rsplit_once('_') else {
        return false;
    };
    !prefix.is_empty()
        && prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && suffix.len() == GUID_SUFFIX_LEN
        && suffix.bytes().all(|b| GUID_ALPHABET.contains(&b))
}

fn checked_guid(param: &str) -> Result<&str, ApiError> {
    if is_guid(param) {
        Ok(param)
    } else {
        Err(ApiError::bad_request(format!(
            "{param:?} is neither a cloud account type ({}) nor an intgGuid (ACCOUNT_ followed by 47 characters from A-Z and 0-9)",
            KNOWN_TYPES.join(", ")
        )))
    }
}

// ---- bodies and randomness ----

fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type must be application/json, got {content_type:?}"),
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "$: the request body is empty; send a JSON object",
        ));
    }
    parse_json(body)
}

fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!("$: the request body is not valid JSON: {error}"))
    })
}

/// The characters after the `_` of an intgGuid.
const GUID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// How many there are.
const GUID_SUFFIX_LEN: usize = 47;

/// Hex digits, for tokens and search page ids.
const HEX_DIGITS: &[u8] = b"0123456789ABCDEF";

/// `length` random characters from `alphabet` (rejection sampling keeps them uniform).
fn random_text(alphabet: &[u8], length: usize) -> Result<String, ApiError> {
    // The largest multiple of the alphabet size that fits in a byte: bytes at or above it
    // would favour the first characters, so they are drawn again.
    let limit = 256 - 256 % alphabet.len();
    let mut text = String::with_capacity(length + 64);
    let mut buffer = [0u8; 64];
    while text.len() < length {
        getrandom::fill(&mut buffer).map_err(|error| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the emulator could not get random bytes: {error}"),
            )
        })?;
        let fair = buffer
            .iter()
            .map(|&byte| usize::from(byte))
            .filter(|&byte| byte < limit);
        text.extend(fair.map(|byte| char::from(alphabet[byte % alphabet.len()])));
    }
    text.truncate(length);
    Ok(text)
}

// ---- /__emulator ----

fn inspection(shared: &Shared, method: &Method, rest: &str, body: &Bytes) -> ApiResult {
    match (rest, method) {
        ("state", &Method::GET) => {
            let now = shared.now();
            let state = shared
                .store()
                .snapshot(&shared.options, &shared.accounts, now);
            Ok(json_response(StatusCode::OK, state))
        }
        ("requests", &Method::GET) => Ok(json_response(
            StatusCode::OK,
            json!({"requests": shared.store().requests()}),
        )),
        ("requests", &Method::DELETE) => {
            shared.store().clear_requests();
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ("faults", &Method::GET) => Ok(json_response(
            StatusCode::OK,
            json!({"faults": shared.store().faults()}),
        )),
        ("faults", &Method::POST) => {
            let fault = parse_fault(&parse_json(body)?)?;
            let answer = json_response(StatusCode::CREATED, json!({"fault": fault}));
            shared.store().add_fault(fault);
            Ok(answer)
        }
        ("reset", &Method::POST) => {
            shared.store().reset();
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ("state" | "requests" | "faults" | "reset", _) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on /__emulator/{rest}"),
        )),
        _ => Err(ApiError::not_found(format!(
            "no such emulator path: /__emulator/{rest} (state, requests, faults, reset)"
        ))),
    }
}

/// `{"path_prefix", "method"?, "status"?, "count"?, "delay_ms"?}`.
pub fn parse_fault(value: &Value) -> Result<Fault, Invalid> {
    let body = Object::body(value)?;
    body.only(&["path_prefix", "method", "status", "count", "delay_ms"])?;
    let method = match body.get("method") {
        None | Some(Value::Null) => None,
        Some(Value::String(method))
            if ["GET", "POST", "PATCH", "DELETE", "PUT"].contains(&method.as_str()) =>
        {
            Some(method.clone())
        }
        Some(other) => {
            return Err(Invalid::field(
                "$.method",
                format!("must be one of GET, POST, PATCH, DELETE, PUT (upper case), got {other}"),
            ));
        }
    };
    let path_prefix = match body.required("path_prefix")? {
        Value::String(prefix) if prefix.starts_with('/') => prefix.clone(),
        other => {
            return Err(Invalid::field(
                "$.path_prefix",
                format!("must be a path starting with '/', got {other}"),
            ));
        }
    };
    let status = body.whole_number("status", 0..=599)?.unwrap_or(0);
    if status != 0 && status < 100 {
        return Err(Invalid::field(
            "$.status",
            format!("must be 0 (delay only) or an HTTP status from 100 to 599, got {status}"),
        ));
    }
    let count = body.whole_number("count", 1..=1_000_000)?.unwrap_or(1);
    let delay_ms = body.whole_number("delay_ms", 0..=600_000)?.unwrap_or(0);
    if status == 0 && delay_ms == 0 {
        return Err(Invalid::field("$", "give a status, a delay_ms, or both"));
    }
    Ok(Fault {
        path_prefix,
        method,
        status: u16::try_from(status).map_err(|_| Invalid::field("$.status", "out of range"))?,
        remaining: u32::try_from(count).map_err(|_| Invalid::field("$.count", "out of range"))?,
        delay_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids() {
        let guid = format!("ACME_{}", "0123456789ABCDEF".repeat(3).get(..47).unwrap());
        assert!(is_guid(&guid));
        assert!(is_guid(&format!("MY_ORG_{}", &guid[5..])));
        assert!(!is_guid("AwsCfg"));
        assert!(!is_guid(&guid.to_lowercase()));
        assert!(!is_guid(&guid[..guid.len() - 1]));
        assert!(!is_guid(&format!("_{}", &guid[5..])));
        // Real guids use all of A-Z, not only hex digits.
        let mock = format!(
            "MOCK_{}",
            "QWERTYUIOPASDFGHJKLZXCVBNM0123456789"
                .repeat(2)
                .get(..47)
                .unwrap()
        );
        assert!(is_guid(&mock), "{mock}");
        assert!(!is_guid(&format!("MOCK_{}", "a".repeat(47))));
        for _ in 0..20 {
            let suffix = random_text(GUID_ALPHABET, GUID_SUFFIX_LEN).unwrap();
            assert!(is_guid(&format!("ACME_{suffix}")), "{suffix}");
        }
        assert_eq!(guid_prefix("my-org"), "MY_ORG");
    }

    #[test]
    fn routes() {
        assert!(matches!(
            parse_route("/api/v2/access/tokens"),
            Some(Route::Tokens)
        ));
        assert!(matches!(
            parse_route("/api/v2/CloudAccounts"),
            Some(Route::CloudAccounts)
        ));
        assert!(matches!(
            parse_route("/api/v2/CloudAccounts/search"),
            Some(Route::Search)
        ));
        assert!(matches!(
            parse_route("/api/v2/NextPage/AB"),
            Some(Route::SearchPage("AB"))
        ));
        assert!(parse_route("/api/v2/NextPage/").is_none());
        assert!(parse_route("/api/v2/CloudAccounts/search/pages/AB").is_none());
        assert!(matches!(
            parse_route("/api/v2/CloudAccounts/AwsCfg"),
            Some(Route::CloudAccount("AwsCfg"))
        ));
        assert!(parse_route("/api/v2/cloudaccounts").is_none());
        assert!(parse_route("/api/v2/CloudAccounts/").is_none());
        assert!(parse_route("/api/v1/CloudAccounts").is_none());
    }

    #[test]
    fn faults_parse() {
        let fault = parse_fault(
            &json!({"path_prefix": "/api/v2/CloudAccounts", "status": 503, "count": 2}),
        )
        .unwrap();
        assert_eq!(fault.remaining, 2);
        assert_eq!(fault.status, 503);
        assert_eq!(fault.method, None);
        let post_only =
            parse_fault(&json!({"path_prefix": "/x", "method": "POST", "status": 503})).unwrap();
        assert_eq!(post_only.method.as_deref(), Some("POST"));
        let message = parse_fault(&json!({"path_prefix": "/x", "method": "post", "status": 503}))
            .unwrap_err()
            .to_string();
        assert!(message.starts_with("$.method:"), "{message}");
        assert_eq!(
            parse_fault(&json!({"path_prefix": "/x", "delay_ms": 5}))
                .unwrap()
                .status,
            0
        );
        for (body, path) in [
            (json!({"status": 500}), "$.path_prefix"),
            (json!({"path_prefix": "x", "status": 500}), "$.path_prefix"),
            (json!({"path_prefix": "/x"}), "$:"),
            (json!({"path_prefix": "/x", "status": 42}), "$.status"),
            (json!({"path_prefix": "/x", "status": 700}), "$.status"),
            (
                json!({"path_prefix": "/x", "status": 500, "count": 0}),
                "$.count",
            ),
            (
                json!({"path_prefix": "/x", "status": 500, "other": 0}),
                "$.other",
            ),
        ] {
            let message = parse_fault(&body).unwrap_err().to_string();
            assert!(
                message.starts_with(path),
                "{message} should start with {path}"
            );
        }
    }

    #[test]
    fn byte_comparison() {
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"abc", b"abcd"));
        assert!(!same_bytes(b"", b"a"));
        assert!(same_bytes(b"", b""));
    }
}
