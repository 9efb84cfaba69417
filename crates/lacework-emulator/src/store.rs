//! The emulator's in-memory state: integrations per scope, tokens, search pages, faults,
//! rate-limit windows and the request log. Held behind one mutex; nothing here awaits.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::validate::{IntegrationType, Invalid, ValidIntegration};
use crate::{Options, RateLimit};

/// At most this many request-log entries are kept (oldest dropped first).
const LOG_CAPACITY: usize = 10_000;
/// At most this many search pages are kept (oldest dropped first).
const PAGE_CAPACITY: usize = 10_000;

/// Where a request acts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// `Org-Access: true`.
    Org,
    /// One Lacework account (lower case).
    Account(String),
}

impl Scope {
    /// The name used in `/__emulator/state`: `"org"` or the account.
    pub fn label(&self) -> String {
        match self {
            Scope::Org => "org".to_string(),
            Scope::Account(name) => name.clone(),
        }
    }

    /// Whether this is the organization scope.
    pub fn is_org(&self) -> bool {
        matches!(self, Scope::Org)
    }
}

/// As messages name it: `the organization` or `account "prod"`.
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Org => f.write_str("the organization"),
            Scope::Account(name) => write!(f, "account {name:?}"),
        }
    }
}

/// One stored cloud account integration.
#[derive(Debug, Clone)]
pub struct Integration {
    /// `intgGuid`.
    pub guid: String,
    /// The validated fields.
    pub valid: ValidIntegration,
    /// Created at organization level.
    pub is_org: bool,
    /// `createdOrUpdatedTime`.
    pub updated_at: OffsetDateTime,
    /// `createdOrUpdatedBy`: the API key id that wrote it last.
    pub updated_by: String,
}

impl Integration {
    /// The text of a field a search may filter on ([`crate::search::FILTER_FIELDS`]) as the
    /// rendered record would hold it.
    pub fn filter_field(&self, field: &str) -> Option<&str> {
        match field {
            "name" => Some(&self.valid.name),
            "type" => Some(self.valid.kind.as_str()),
            "data.awsAccountId" => self.valid.data.get("awsAccountId")?.as_str(),
            _ => None,
        }
    }

    /// The record as the API returns it.
    pub fn render(&self) -> Value {
        let millis = unix_millis(self.updated_at);
        json!({
            "intgGuid": self.guid,
            "name": self.valid.name,
            "type": self.valid.kind.as_str(),
            "enabled": self.valid.enabled,
            "isOrg": u8::from(self.is_org),
            "createdOrUpdatedTime": rfc3339_millis(self.updated_at),
            "createdOrUpdatedBy": self.updated_by,
            "state": {
                "ok": true,
                "lastUpdatedTime": millis,
                "lastSuccessfulTime": millis,
                "details": {}
            },
            "data": Value::Object(self.valid.data.clone()),
        })
    }
}

/// An issued access token (the value is the map key and is never shown).
#[derive(Debug, Clone)]
pub struct Token {
    /// The key that asked for it.
    pub key_id: String,
    /// When it stops working.
    pub expires: Instant,
}

/// One page of search results waiting for its `nextPage` GET.
#[derive(Debug, Clone)]
pub struct Page {
    /// The scope the search ran in; the page is served only to the same scope.
    pub scope: Scope,
    /// The key whose token ran the search; the page is served only to that key.
    pub key_id: String,
    /// The rows of this page.
    pub rows: Vec<Value>,
    /// Rows across all pages.
    pub total: usize,
    /// The id of the page after this one.
    pub next: Option<String>,
}

/// An injected fault (see `POST /__emulator/faults`), shown as it was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// Applies to requests whose path starts with this.
    pub path_prefix: String,
    /// Applies only to this method (`POST`, ...); every method when `None`.
    pub method: Option<String>,
    /// Answer with this status; 0 = only delay, then handle normally.
    pub status: u16,
    /// How many more requests it applies to.
    #[serde(rename = "count")]
    pub remaining: u32,
    /// Wait this long before answering.
    pub delay_ms: u64,
}

/// One line of the request log. Holds no secrets: no bodies, no tokens, no `X-LW-UAKS`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// When the request arrived (RFC 3339).
    pub time: String,
    /// HTTP method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The `Account-Name` header as sent.
    pub account_name: Option<String>,
    /// The `Org-Access` header as sent.
    pub org_access: Option<String>,
    /// `<redacted>` when an `Authorization` header was sent (its value is never kept), else
    /// empty.
    pub authorization: &'static str,
    /// The status answered.
    pub status: u16,
    /// Whether an injected fault touched the request.
    pub fault: bool,
    /// How long the answer took to make (its body included, its sending not), in
    /// milliseconds.
    pub duration_ms: u64,
    /// The same in microseconds: what a benchmark subtracts from a function's time to see its
    /// own share.
    pub duration_micros: u64,
}

/// What is left of a key's rate window after a counted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLeft {
    /// Requests the key may make in one window.
    pub limit: u32,
    /// Requests the key may still make in the window.
    pub remaining: u32,
    /// Whole seconds until the oldest counted request leaves the window (at least 1).
    pub reset_seconds: u64,
}

/// Everything that changes while the emulator runs.
#[derive(Debug, Default)]
pub struct Store {
    integrations: BTreeMap<Scope, Vec<Integration>>,
    tokens: HashMap<String, Token>,
    tokens_issued: u64,
    pages: HashMap<String, Page>,
    page_order: VecDeque<String>,
    faults: VecDeque<Fault>,
    log: VecDeque<LogEntry>,
    rate_windows: HashMap<String, VecDeque<Instant>>,
}

impl Store {
    /// Forgets integrations, tokens, pages, faults, rate windows and the log.
    pub fn reset(&mut self) {
        *self = Store::default();
    }

    // ---- tokens ----

    /// Keeps a newly issued token.
    pub fn add_token(&mut self, value: String, token: Token) {
        self.tokens_issued += 1;
        self.tokens.insert(value, token);
    }

    /// The key id behind a live token, or why the token is refused (an expired token is
    /// forgotten).
    pub fn token_key(&mut self, value: &str, now: Instant) -> Result<String, &'static str> {
        match self.tokens.get(value) {
            None => Err("invalid access token"),
            Some(token) if token.expires <= now => {
                self.tokens.remove(value);
                Err("access token expired; request a new one")
            }
            Some(token) => Ok(token.key_id.clone()),
        }
    }

    // ---- rate limiting ----

    /// Counts a request against `key`'s sliding window and answers what is left of it;
    /// `Err(seconds)` when over the limit (the rejected request is not counted).
    pub fn rate_check(
        &mut self,
        key: &str,
        limit: RateLimit,
        now: Instant,
    ) -> Result<WindowLeft, u64> {
        let window = self.rate_windows.entry(key.to_string()).or_default();
        while window
            .front()
            .is_some_and(|at| now.duration_since(*at) >= limit.per)
        {
            window.pop_front();
        }
        let full = window.len() >= limit.requests as usize;
        if !full {
            window.push_back(now);
        }
        // Whole seconds until the oldest counted request leaves the window, at least 1.
        let oldest = window.front().copied().unwrap_or(now);
        let wait = oldest
            .checked_add(limit.per)
            .map_or(limit.per, |until| until.saturating_duration_since(now));
        let reset_seconds = ceil_seconds(wait).max(1);
        if full {
            return Err(reset_seconds);
        }
        Ok(WindowLeft {
            limit: limit.requests,
            remaining: limit
                .requests
                .saturating_sub(u32::try_from(window.len()).unwrap_or(u32::MAX)),
            reset_seconds,
        })
    }

    // ---- faults ----

    /// Queues a fault.
    pub fn add_fault(&mut self, fault: Fault) {
        self.faults.push_back(fault);
    }

    /// Takes one use of the first fault matching `path`.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let index = self.faults.iter().position(|f| {
            f.remaining > 0
                && path.starts_with(&f.path_prefix)
                && f.method.as_deref().is_none_or(|m| m == method)
        })?;
        let fault = self.faults.get_mut(index)?;
        fault.remaining -= 1;
        let taken = fault.clone();
        if fault.remaining == 0 {
            self.faults.remove(index);
        }
        Some(taken)
    }

    /// Pending faults.
    pub fn faults(&self) -> &VecDeque<Fault> {
        &self.faults
    }

    // ---- request log ----

    /// Appends to the request log.
    pub fn log(&mut self, entry: LogEntry) {
        if self.log.len() >= LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(entry);
    }

    /// Empties the request log (and nothing else).
    pub fn clear_requests(&mut self) {
        self.log.clear();
    }

    /// The request log, oldest first.
    pub fn requests(&self) -> &VecDeque<LogEntry> {
        &self.log
    }

    // ---- integrations ----

    /// Integrations of a scope, oldest first.
    pub fn list(&self, scope: &Scope) -> &[Integration] {
        self.integrations.get(scope).map_or(&[], Vec::as_slice)
    }

    /// One integration of a scope.
    pub fn get(&self, scope: &Scope, guid: &str) -> Option<&Integration> {
        self.list(scope).iter().find(|i| i.guid == guid)
    }

    /// Stores a new integration; refuses a second AwsCfg for the same AWS account in a scope.
    pub fn create(&mut self, scope: &Scope, integration: Integration) -> Result<Value, Invalid> {
        self.check_aws_account(scope, &integration.valid, None)?;
        let record = integration.render();
        self.integrations
            .entry(scope.clone())
            .or_default()
            .push(integration);
        Ok(record)
    }

    /// Replaces an integration's fields; `None` when the scope holds no such guid.
    pub fn update(
        &mut self,
        scope: &Scope,
        guid: &str,
        valid: ValidIntegration,
        updated_by: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Value>, Invalid> {
        self.check_aws_account(scope, &valid, Some(guid))?;
        let Some(integration) = self
            .integrations
            .get_mut(scope)
            .and_then(|list| list.iter_mut().find(|i| i.guid == guid))
        else {
            return Ok(None);
        };
        integration.valid = valid;
        integration.updated_at = now;
        integration.updated_by = updated_by.to_string();
        Ok(Some(integration.render()))
    }

    /// Removes an integration; whether the scope held it.
    pub fn delete(&mut self, scope: &Scope, guid: &str) -> bool {
        let Some(list) = self.integrations.get_mut(scope) else {
            return false;
        };
        let before = list.len();
        list.retain(|i| i.guid != guid);
        list.len() < before
    }

    /// Whether any scope already holds this guid (guids are unique across the emulator).
    pub fn guid_taken(&self, guid: &str) -> bool {
        self.integrations.values().flatten().any(|i| i.guid == guid)
    }

    fn check_aws_account(
        &self,
        scope: &Scope,
        valid: &ValidIntegration,
        except_guid: Option<&str>,
    ) -> Result<(), Invalid> {
        if valid.kind != IntegrationType::AwsCfg {
            return Ok(());
        }
        let clash = self.list(scope).iter().find(|other| {
            other.valid.kind == IntegrationType::AwsCfg
                && other.valid.aws_account == valid.aws_account
                && Some(other.guid.as_str()) != except_guid
        });
        match clash {
            None => Ok(()),
            Some(other) => Err(Invalid::field(
                "$.data.awsAccountId",
                format!(
                    "aws account is already used: {} is covered by AwsCfg integration {} ({:?}) in {scope}",
                    valid.aws_account, other.guid, other.valid.name,
                ),
            )),
        }
    }

    // ---- search pages ----

    /// Keeps the pages after the first, each with its id; returns the id of the second page.
    pub fn add_pages(
        &mut self,
        scope: &Scope,
        key_id: &str,
        pages: Vec<(String, Vec<Value>)>,
        total: usize,
    ) -> Option<String> {
        let mut next: Option<String> = None;
        for (id, rows) in pages.into_iter().rev() {
            self.pages.insert(
                id.clone(),
                Page {
                    scope: scope.clone(),
                    key_id: key_id.to_string(),
                    rows,
                    total,
                    next: next.take(),
                },
            );
            self.page_order.push_back(id.clone());
            next = Some(id);
        }
        while self.page_order.len() > PAGE_CAPACITY {
            if let Some(old) = self.page_order.pop_front() {
                self.pages.remove(&old);
            }
        }
        next
    }

    /// A kept page, if it belongs to this scope and key.
    pub fn page(&self, id: &str, scope: &Scope, key_id: &str) -> Option<&Page> {
        self.pages
            .get(id)
            .filter(|page| page.scope == *scope && page.key_id == key_id)
    }

    // ---- inspection ----

    /// `/__emulator/state`: integrations per scope with mapping files decoded, token counts
    /// only, and the options (no secret).
    pub fn snapshot(&self, options: &Options, accounts: &[String], now: Instant) -> Value {
        let mut integrations = serde_json::Map::new();
        let mut scopes: Vec<Scope> = vec![Scope::Org];
        scopes.extend(accounts.iter().map(|a| Scope::Account(a.clone())));
        let mut mapping_files = Vec::new();
        for scope in &scopes {
            let list = self.list(scope);
            integrations.insert(
                scope.label(),
                Value::Array(list.iter().map(Integration::render).collect()),
            );
            for integration in list {
                if let Some(mapping) = &integration.valid.mapping {
                    mapping_files.push(json!({
                        "scope": scope.label(),
                        "intgGuid": integration.guid,
                        "name": integration.valid.name,
                        "mapping": mapping,
                    }));
                }
            }
        }
        let active = self.tokens.values().filter(|t| t.expires > now).count();
        json!({
            "account": options.account,
            "subAccounts": accounts,
            "options": {
                "keyId": options.key_id,
                "tokenTtlSeconds": options.token_ttl.as_secs_f64(),
                "pageSize": options.page_size,
                "rateLimit": options.rate_limit.map(|l| json!({"requests": l.requests, "perSeconds": l.per.as_secs()})),
                "rateLimitHeaders": options.rate_limit_headers,
            },
            "integrations": integrations,
            "mappingFiles": mapping_files,
            "tokens": {"active": active, "issued": self.tokens_issued},
            "faults": self.faults(),
            "searchPages": self.pages.len(),
            "requestsLogged": self.log.len(),
        })
    }
}

fn ceil_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// `2024-05-01T12:00:00.123Z`.
pub fn rfc3339_millis(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    // Formatting fails only for a year past 9999.
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch.
pub fn unix_millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_714_564_800_123_456_789).unwrap();
        assert_eq!(rfc3339_millis(at), "2024-05-01T12:00:00.123Z");
        assert_eq!(unix_millis(at), 1_714_564_800_123);
    }

    #[test]
    fn the_rate_window_slides() {
        let mut store = Store::default();
        let limit = RateLimit {
            requests: 2,
            per: Duration::from_secs(10),
        };
        let start = Instant::now();
        let left = |remaining, reset_seconds| {
            Ok(WindowLeft {
                limit: 2,
                remaining,
                reset_seconds,
            })
        };
        assert_eq!(store.rate_check("k", limit, start), left(1, 10));
        assert_eq!(
            store.rate_check("k", limit, start + Duration::from_secs(1)),
            left(0, 9)
        );
        assert_eq!(
            store.rate_check("k", limit, start + Duration::from_millis(2500)),
            Err(8)
        );
        assert_eq!(
            store.rate_check("other", limit, start),
            left(1, 10),
            "per key"
        );
        assert_eq!(
            store.rate_check("k", limit, start + Duration::from_secs(10)),
            left(0, 1)
        );
    }

    #[test]
    fn faults_are_used_up_in_order() {
        let mut store = Store::default();
        store.add_fault(Fault {
            path_prefix: "/api/v2/CloudAccounts".into(),
            method: None,
            status: 500,
            remaining: 2,
            delay_ms: 0,
        });
        store.add_fault(Fault {
            path_prefix: "/api/v2".into(),
            method: None,
            status: 503,
            remaining: 1,
            delay_ms: 0,
        });
        assert_eq!(
            store
                .take_fault("GET", "/api/v2/access/tokens")
                .map(|f| f.status),
            Some(503)
        );
        assert_eq!(
            store
                .take_fault("GET", "/api/v2/CloudAccounts")
                .map(|f| f.status),
            Some(500)
        );
        assert_eq!(
            store
                .take_fault("DELETE", "/api/v2/CloudAccounts/x")
                .map(|f| f.status),
            Some(500)
        );
        assert_eq!(store.take_fault("GET", "/api/v2/CloudAccounts"), None);
        assert!(store.faults().is_empty());
    }

    #[test]
    fn a_fault_with_a_method_skips_other_methods() {
        let mut store = Store::default();
        store.add_fault(Fault {
            path_prefix: "/api/v2/CloudAccounts".into(),
            method: Some("POST".into()),
            status: 503,
            remaining: 1,
            delay_ms: 0,
        });
        assert_eq!(store.take_fault("GET", "/api/v2/CloudAccounts"), None);
        assert_eq!(
            store
                .take_fault("POST", "/api/v2/CloudAccounts")
                .map(|f| f.status),
            Some(503)
        );
        assert!(store.faults().is_empty());
    }

    #[test]
    fn tokens_expire() {
        let mut store = Store::default();
        let now = Instant::now();
        store.add_token(
            "t".into(),
            Token {
                key_id: "K".into(),
                expires: now + Duration::from_secs(1),
            },
        );
        assert_eq!(store.token_key("t", now), Ok("K".to_string()));
        assert_eq!(store.token_key("x", now), Err("invalid access token"));
        assert_eq!(
            store.token_key("t", now + Duration::from_secs(1)),
            Err("access token expired; request a new one")
        );
    }
}
