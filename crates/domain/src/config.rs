//! Configuration of the four functions, read from environment variables into typed structs.
//!
//! [`EnvReader`] is a pure reader: it takes the variables as pairs (tests pass a list; the
//! functions call `from_process_env()`), reads typed values, and collects every problem, so a
//! misconfigured stack hears about all of them at once (`Error::Config`, each problem's path
//! being the variable's name). Problems never quote free-text values (URLs, ARNs, names),
//! in case a secret was pasted into the wrong variable.
//!
//! # Variables
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `AWS_REGION` | region the function runs in (set by Lambda) | required |
//! | `LACEWORK_URL` | Lacework API base URL, `https://<account>.lacework.net` (`http` only for `127.0.0.1`/`localhost`) | required |
//! | `LACEWORK_ACCOUNT` | Lacework account (tenant) name, as in the external id | required |
//! | `LACEWORK_SUB_ACCOUNT` | sub-account for accounts no OU rule maps | none (the account itself) |
//! | `LACEWORK_OU_RULES` | OU -> sub-account rules text, parsed by `crate::mapping::OuRules::parse` | none |
//! | `LACEWORK_SECRET_ARN` | ARN of the Secrets Manager secret with the API key id, secret key, token and external id suffix | required |
//! | `LACEWORK_PRINCIPAL_ARN` | the principal Lacework's roles trust | `arn:aws:iam::434813966438:role/lacework-platform` |
//! | `TOWER_NAME_PREFIX` | prefix of every name the product creates | `lacework-ct` |
//! | `TOWER_CAPABILITY` | `CloudTrail`, `Config` or `Both` (`CloudTrail+Config`) | `Both` |
//! | `TOWER_MONITOR_EXISTING_ACCOUNTS` | onboard the organization's ACTIVE accounts at setup (`true`/`false`) | `false` |
//! | `TOWER_TRAIL_NAME` | the Control Tower trail (name or ARN) | `aws-controltower-BaselineCloudTrail` |
//! | `TOWER_KMS_KEY_ARN` | KMS key that encrypts the trail's logs, for `kms:Decrypt` | none |
//! | `TOWER_LOG_ARCHIVE_ACCOUNT_ID` / `_NAME` | Log Archive account id / expected name | required / `Log Archive` |
//! | `TOWER_AUDIT_ACCOUNT_ID` / `_NAME` | Audit account id / expected name | required / `Audit` |
//! | `TOWER_RESPONSE_URL_ALLOW` | comma-separated `host[:port]` list of extra custom resource `ResponseURL` hosts (local landing zone only) | none |
//! | `TOWER_REFRESH_WINDOW_SECONDS` | renew the Lacework token when it has less than this left (300-86400) | `21600` |
//! | `TOWER_REGISTRATION_BUDGET` | Lacework API requests one run of the registration drain may make (1-480) while Lacework's answers do not report the key's limit (`RateLimit-*` headers; then the run takes a twelfth of the reported limit if that is more); with a run every 5 minutes the default uses 360 of Lacework's ~480 requests an hour, leaving the rest to `setup` and `auth-refresh` | `30` |
//! | `TOWER_REGISTRATION_RESERVE` | when Lacework reports what is left of the key's limit, the requests of it a drain run never spends (0-480): room for the other functions and any other user of the key | `5` |
//!
//! The AWS SDK reads its own variables (`AWS_ENDPOINT_URL`, credentials); they are not
//! repeated here. Secrets never come from the environment: a `LACEWORK_*` or `TOWER_*`
//! variable whose name suggests a secret (`LACEWORK_SECRET_KEY`, `LACEWORK_API_TOKEN`, ...)
//! is refused with a problem that says to put it in Secrets Manager.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;

use url::Url;

use crate::account::AccountId;
use crate::custom_resource::{AllowedHost, ResponseUrlPolicy, is_loopback};
use crate::error::{Error, Problem};
use crate::mapping::OuRules;
use crate::naming::{Arn, NamePrefix, Names, Region};
use crate::object_key::is_trail_name;

pub const AWS_REGION: &str = "AWS_REGION";
pub const LACEWORK_URL: &str = "LACEWORK_URL";
pub const LACEWORK_ACCOUNT: &str = "LACEWORK_ACCOUNT";
pub const LACEWORK_SUB_ACCOUNT: &str = "LACEWORK_SUB_ACCOUNT";
pub const LACEWORK_OU_RULES: &str = "LACEWORK_OU_RULES";
pub const LACEWORK_SECRET_ARN: &str = "LACEWORK_SECRET_ARN";
pub const LACEWORK_PRINCIPAL_ARN: &str = "LACEWORK_PRINCIPAL_ARN";
pub const TOWER_NAME_PREFIX: &str = "TOWER_NAME_PREFIX";
pub const TOWER_CAPABILITY: &str = "TOWER_CAPABILITY";
pub const TOWER_MONITOR_EXISTING_ACCOUNTS: &str = "TOWER_MONITOR_EXISTING_ACCOUNTS";
pub const TOWER_TRAIL_NAME: &str = "TOWER_TRAIL_NAME";
pub const TOWER_KMS_KEY_ARN: &str = "TOWER_KMS_KEY_ARN";
pub const TOWER_LOG_ARCHIVE_ACCOUNT_ID: &str = "TOWER_LOG_ARCHIVE_ACCOUNT_ID";
pub const TOWER_LOG_ARCHIVE_ACCOUNT_NAME: &str = "TOWER_LOG_ARCHIVE_ACCOUNT_NAME";
pub const TOWER_AUDIT_ACCOUNT_ID: &str = "TOWER_AUDIT_ACCOUNT_ID";
pub const TOWER_AUDIT_ACCOUNT_NAME: &str = "TOWER_AUDIT_ACCOUNT_NAME";
pub const TOWER_RESPONSE_URL_ALLOW: &str = "TOWER_RESPONSE_URL_ALLOW";
pub const TOWER_REFRESH_WINDOW_SECONDS: &str = "TOWER_REFRESH_WINDOW_SECONDS";
pub const TOWER_REGISTRATION_BUDGET: &str = "TOWER_REGISTRATION_BUDGET";
pub const TOWER_REGISTRATION_RESERVE: &str = "TOWER_REGISTRATION_RESERVE";

/// The principal Lacework's roles trust, unless `LACEWORK_PRINCIPAL_ARN` says otherwise.
pub const DEFAULT_LACEWORK_PRINCIPAL_ARN: &str = "arn:aws:iam::434813966438:role/lacework-platform";

/// The trail Control Tower creates.
pub const DEFAULT_TRAIL_NAME: &str = "aws-controltower-BaselineCloudTrail";

/// Control Tower's default names for its two shared accounts.
pub const DEFAULT_LOG_ARCHIVE_NAME: &str = "Log Archive";
pub const DEFAULT_AUDIT_NAME: &str = "Audit";

/// Default token refresh window: renew when less than six hours are left.
pub const DEFAULT_REFRESH_WINDOW_SECONDS: u64 = 6 * 3600;

/// Default Lacework requests per run of the registration drain: a run every 5 minutes makes
/// at most 360 requests an hour, below Lacework's ~480 per key, with room left for `setup`
/// and `auth-refresh`.
pub const DEFAULT_REGISTRATION_BUDGET: u32 = 30;

/// The most a single drain run may be given: Lacework's whole hourly allowance.
pub const MAX_REGISTRATION_BUDGET: u32 = 480;

/// Default requests of the key's window a drain run leaves unspent when Lacework reports what
/// is left: auth-refresh renews the token at most once an hour (and tolerates a failed run),
/// setup's few calls wait out a short `Retry-After`, and the reconcile keeps the reserve too.
pub const DEFAULT_REGISTRATION_RESERVE: u32 = 5;

/// The prefixes of the variables that belong to this product (checked for secrets).
const OWN_PREFIXES: [&str; 2] = ["LACEWORK_", "TOWER_"];

/// Words in a variable name that suggest it holds a secret value.
const SECRET_HINTS: [&str; 11] = [
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "KEY_ID",
    "PRIVATE_KEY",
    "CREDENTIAL",
    "EXTERNAL_ID",
];

/// Reads typed values from environment variables and collects every problem.
///
/// Each read returns the value, or `None` (or the default) after recording a problem;
/// [`EnvReader::read_all`] then reports all problems at once. Values are trimmed, and an empty
/// value counts as unset (CloudFormation passes an unset optional parameter as `""`).
#[derive(Debug)]
pub struct EnvReader {
    vars: BTreeMap<String, String>,
    problems: Vec<Problem>,
}

impl EnvReader {
    /// A reader over the given variables.
    pub fn new(
        vars: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
    ) -> EnvReader {
        EnvReader {
            vars: vars
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
            problems: Vec::new(),
        }
    }

    /// A reader over this process's environment. A variable of ours that is not valid
    /// UTF-8 is a problem; others are skipped (`std::env::vars` would panic on them).
    pub fn from_process_env() -> EnvReader {
        let mut vars = BTreeMap::new();
        let mut problems = Vec::new();
        for (name, value) in std::env::vars_os() {
            match (name.into_string(), value.into_string()) {
                (Ok(name), Ok(value)) => {
                    vars.insert(name, value);
                }
                (Ok(name), Err(_)) if is_own_variable(&name) => {
                    problems.push(Problem::new(name, "is not valid UTF-8"));
                }
                _ => {}
            }
        }
        EnvReader { vars, problems }
    }

    /// The trimmed value of `name`, or `None` when unset or empty.
    fn value(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    }

    fn problem(&mut self, name: &str, message: impl Into<String>) {
        self.problems.push(Problem::new(name, message));
    }

    /// A required value read by `parse` (whose problem is placed at the variable); `what` says
    /// what the variable should hold, for the "is required" problem.
    pub fn required<T>(
        &mut self,
        name: &str,
        what: &str,
        parse: impl FnOnce(&str) -> Result<T, Problem>,
    ) -> Option<T> {
        if self.value(name).is_none() {
            self.problem(name, format!("is required: {what}"));
        }
        self.optional(name, parse)
    }

    /// An optional value read by `parse`; `None` when unset or wrong (wrong is a problem).
    pub fn optional<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, Problem>,
    ) -> Option<T> {
        let text = self.value(name)?;
        parse(&text)
            .map_err(|problem| self.problems.push(problem.at(name)))
            .ok()
    }

    /// A value read by `parse`, or `default` when unset (or wrong, after recording the
    /// problem).
    pub fn with_default<T>(
        &mut self,
        name: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, Problem>,
    ) -> T {
        self.optional(name, parse).unwrap_or(default)
    }

    /// OU -> sub-account rules (`crate::mapping::OuRules::parse`), none when unset; each
    /// problem is recorded with the rule's position.
    pub fn ou_rules(&mut self, name: &str) -> OuRules {
        let Some(text) = self.value(name) else {
            return OuRules::default();
        };
        OuRules::parse(&text).unwrap_or_else(|problems| {
            for problem in problems {
                self.problem(name, problem.to_string());
            }
            OuRules::default()
        })
    }

    /// An integer within `range`, or `default` when unset.
    pub fn integer_or<T>(&mut self, name: &str, range: RangeInclusive<T>, default: T) -> T
    where
        T: std::str::FromStr + PartialOrd + fmt::Display,
    {
        self.with_default(name, default, |text| parse_integer(text, &range))
    }

    /// The `ResponseURL` policy: S3 plus the `host[:port]` entries of `name`, a
    /// comma-separated list whose blank entries are skipped.
    pub fn response_url_policy(&mut self, name: &str) -> ResponseUrlPolicy {
        let text = self.value(name).unwrap_or_default();
        let entries = text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty());
        let mut allowed = Vec::new();
        for (index, entry) in entries.enumerate() {
            match AllowedHost::parse(entry) {
                Ok(host) => allowed.push(host),
                Err(problem) => {
                    self.problem(name, format!("entry {}: {}", index + 1, problem.message));
                }
            }
        }
        ResponseUrlPolicy::with_allowed_hosts(allowed)
    }

    /// Reads a whole configuration with `read`, then ends reading: every problem recorded,
    /// plus a problem for each variable of ours whose name suggests it holds a secret. `read`
    /// returns `None` only when a read failed, which is then among the problems.
    pub fn read_all<T>(
        mut self,
        read: impl FnOnce(&mut EnvReader) -> Option<T>,
    ) -> Result<T, Error> {
        let value = read(&mut self);
        for name in self.vars.keys().filter(|name| looks_like_a_secret(name)) {
            self.problems.push(Problem::new(
                name,
                format!(
                    "looks like it holds a secret; secrets never go in environment variables: put the Lacework API key and token in the Secrets Manager secret named by {LACEWORK_SECRET_ARN}, and remove this variable"
                ),
            ));
        }
        match value {
            Some(value) if self.problems.is_empty() => Ok(value),
            _ if !self.problems.is_empty() => Err(Error::Config(self.problems)),
            _ => Err(Error::Config(vec![Problem::new(
                "$",
                "configuration could not be assembled although no variable was reported wrong",
            )])),
        }
    }
}

fn is_own_variable(name: &str) -> bool {
    OWN_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

fn looks_like_a_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    is_own_variable(&upper)
        // The one variable of ours whose name has a secret word in it (a test checks the
        // others have none): it holds where the secret is, not the secret.
        && name != LACEWORK_SECRET_ARN
        && SECRET_HINTS.iter().any(|hint| upper.contains(hint))
}

/// `true`/`false`, `yes`/`no`, `1`/`0`, in any case.
pub fn parse_bool(text: &str) -> Result<bool, Problem> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(Problem::of_value("must be true or false")),
    }
}

/// A whole number within `range`.
pub fn parse_integer<T>(text: &str, range: &RangeInclusive<T>) -> Result<T, Problem>
where
    T: std::str::FromStr + PartialOrd + fmt::Display,
{
    match text.parse::<T>() {
        Ok(number) if range.contains(&number) => Ok(number),
        _ => Err(Problem::of_value(format!(
            "must be a whole number from {} to {}",
            range.start(),
            range.end()
        ))),
    }
}

/// A 12-digit AWS account id.
fn parse_account_id(text: &str) -> Result<AccountId, Problem> {
    AccountId::parse(text).map_err(|err| Problem::of_value(err.reason()))
}

/// The base URL of a service such as the Lacework API: `https` (or `http` on a loopback
/// host), a host, no user, path, query or fragment.
pub fn parse_service_url(text: &str) -> Result<Url, Problem> {
    let wrong = |why: &str| {
        Problem::of_value(format!(
            "{why}; it must be a base URL like https://acme.lacework.net"
        ))
    };
    let url = Url::parse(text).map_err(|_| wrong("is not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(wrong(
            "must not carry a user or password (credentials belong in Secrets Manager)",
        ));
    }
    let host = url.host().ok_or_else(|| wrong("has no host"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => {
            return Err(Problem::of_value(
                "must use https (http is accepted only for 127.0.0.1 and localhost)",
            ));
        }
        _ => return Err(wrong("must use https")),
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(wrong(
            "must have no path, query or fragment (the client adds /api/v2)",
        ));
    }
    Ok(url)
}

/// A Lacework account or sub-account name: letters, digits, `-`, `_` and `.`, at most 128
/// characters. Lacework compares names case-insensitively; they are kept in lower case.
pub fn parse_lacework_name(text: &str) -> Result<String, Problem> {
    if text.len() > 128 {
        return Err(Problem::of_value(
            "a Lacework account name is at most 128 characters",
        ));
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(Problem::of_value(
            "a Lacework account name may contain only letters, digits, '-', '_' and '.' (give the name, like acme, not the URL)",
        ));
    }
    Ok(text.to_ascii_lowercase())
}

/// An ARN of `service` whose resource starts with `resource_start`, with an account (and a
/// region when `regional`); `shape` describes it for the problem.
pub(crate) fn parse_arn_of(
    text: &str,
    (service, resource_start, regional): (&str, &str, bool),
    shape: &str,
) -> Result<Arn, Problem> {
    let wrong = |why: &str| Problem::of_value(format!("must be {shape}; it {why}"));
    let arn = Arn::parse(text).map_err(|problem| wrong(&problem.message))?;
    if arn.service != service {
        return Err(wrong(&format!("is not a {service} ARN")));
    }
    if !arn.resource.starts_with(resource_start) {
        return Err(wrong(&format!("does not name a {resource_start} resource")));
    }
    if arn.account.is_none() {
        return Err(wrong("has no account"));
    }
    if regional && arn.region.is_none() {
        return Err(wrong("has no region"));
    }
    Ok(arn)
}

/// The ARN of a Secrets Manager secret.
pub fn parse_secret_arn(text: &str) -> Result<Arn, Problem> {
    parse_arn_of(
        text,
        ("secretsmanager", "secret:", true),
        "a Secrets Manager secret ARN (arn:<partition>:secretsmanager:<region>:<account>:secret:<name>)",
    )
}

/// The ARN of a KMS key (not an alias: IAM grants `kms:Decrypt` on keys).
pub fn parse_kms_key_arn(text: &str) -> Result<Arn, Problem> {
    parse_arn_of(
        text,
        ("kms", "key/", true),
        "a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>)",
    )
}

/// The ARN of an IAM role.
pub fn parse_role_arn(text: &str) -> Result<Arn, Problem> {
    parse_arn_of(
        text,
        ("iam", "role/", false),
        "an IAM role ARN (arn:<partition>:iam::<account>:role/<name>)",
    )
}

/// A CloudTrail trail name (3-128 letters, digits, `.`, `_`, `-`, starting with a letter or
/// digit) or trail ARN.
pub fn parse_trail_name(text: &str) -> Result<String, Problem> {
    if text.starts_with("arn:") {
        parse_arn_of(
            text,
            ("cloudtrail", "trail/", false),
            "a trail name or ARN (arn:<partition>:cloudtrail:<region>:<account>:trail/<name>)",
        )?;
        return Ok(text.to_owned());
    }
    let starts_well = text.starts_with(|c: char| c.is_ascii_alphanumeric());
    if !(3..=128).contains(&text.len()) || !starts_well || !is_trail_name(text) {
        return Err(Problem::of_value(
            "must be a trail name (3-128 letters, digits, '.', '_' or '-', starting with a letter or digit) or a trail ARN",
        ));
    }
    Ok(text.to_owned())
}

/// What Lacework monitors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// CloudTrail log analysis only (the Log Archive and Audit side).
    CloudTrail,
    /// Configuration assessment only (a role in each member account).
    Config,
    /// Both.
    Both,
}

impl Capability {
    /// `CloudTrail`, `Config`, `Both` or `CloudTrail+Config`, in any case.
    pub fn parse(text: &str) -> Result<Capability, Problem> {
        match text.to_ascii_lowercase().as_str() {
            "cloudtrail" => Ok(Capability::CloudTrail),
            "config" => Ok(Capability::Config),
            "both" | "cloudtrail+config" => Ok(Capability::Both),
            _ => Err(Problem::of_value("must be CloudTrail, Config or Both")),
        }
    }

    /// Whether CloudTrail logs are analysed.
    pub fn includes_cloudtrail(self) -> bool {
        matches!(self, Capability::CloudTrail | Capability::Both)
    }

    /// Whether member accounts' configuration is assessed.
    pub fn includes_config(self) -> bool {
        matches!(self, Capability::Config | Capability::Both)
    }
}

/// The Lacework side: where the API is, which account, how accounts map to sub-accounts, and
/// where the credentials are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct LaceworkSettings {
    /// Base URL of the API, such as `https://acme.lacework.net/`.
    pub api_url: Url,
    /// The Lacework account (tenant), lower case.
    pub account: String,
    /// Sub-account for AWS accounts that no OU rule maps, lower case; `None` means the
    /// account itself.
    pub default_sub_account: Option<String>,
    /// The OU -> sub-account rules; none means account level.
    pub ou_rules: OuRules,
    /// The Secrets Manager secret with the API key id, secret key, token and external id
    /// suffix (never the values themselves).
    pub secret_arn: Arn,
}

impl LaceworkSettings {
    /// Reads the Lacework variables; `None` when one is wrong (recorded in `env`).
    pub fn read(env: &mut EnvReader) -> Option<LaceworkSettings> {
        let api_url = read_api_url(env);
        let account = env.required(
            LACEWORK_ACCOUNT,
            "the Lacework account name, like acme",
            parse_lacework_name,
        );
        let default_sub_account = env.optional(LACEWORK_SUB_ACCOUNT, parse_lacework_name);
        let ou_rules = env.ou_rules(LACEWORK_OU_RULES);
        let secret_arn = read_secret_arn(env);
        Some(LaceworkSettings {
            api_url: api_url?,
            account: account?,
            default_sub_account,
            ou_rules,
            secret_arn: secret_arn?,
        })
    }
}

fn read_api_url(env: &mut EnvReader) -> Option<Url> {
    env.required(
        LACEWORK_URL,
        "the Lacework API URL, like https://acme.lacework.net",
        parse_service_url,
    )
}

fn read_secret_arn(env: &mut EnvReader) -> Option<Arn> {
    env.required(
        LACEWORK_SECRET_ARN,
        "the ARN of the Secrets Manager secret that holds the Lacework API key",
        parse_secret_arn,
    )
}

/// The two shared accounts of the landing zone, with the names setup expects them to have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandingZoneAccounts {
    pub log_archive: AccountId,
    pub log_archive_name: String,
    pub audit: AccountId,
    pub audit_name: String,
}

impl LandingZoneAccounts {
    /// Reads the Log Archive and Audit variables; `None` when one is wrong.
    pub fn read(env: &mut EnvReader) -> Option<LandingZoneAccounts> {
        let log_archive = env.required(
            TOWER_LOG_ARCHIVE_ACCOUNT_ID,
            "the 12-digit id of the Log Archive account",
            parse_account_id,
        );
        let log_archive_name = env
            .value(TOWER_LOG_ARCHIVE_ACCOUNT_NAME)
            .unwrap_or_else(|| DEFAULT_LOG_ARCHIVE_NAME.to_owned());
        let audit = env.required(
            TOWER_AUDIT_ACCOUNT_ID,
            "the 12-digit id of the Audit account",
            parse_account_id,
        );
        let audit_name = env
            .value(TOWER_AUDIT_ACCOUNT_NAME)
            .unwrap_or_else(|| DEFAULT_AUDIT_NAME.to_owned());
        if log_archive.is_some() && log_archive == audit {
            env.problem(
                TOWER_AUDIT_ACCOUNT_ID,
                format!(
                    "is the same account as {TOWER_LOG_ARCHIVE_ACCOUNT_ID}; Control Tower's Log Archive and Audit are two accounts"
                ),
            );
            return None;
        }
        Some(LandingZoneAccounts {
            log_archive: log_archive?,
            log_archive_name,
            audit: audit?,
            audit_name,
        })
    }
}

/// The Control Tower trail whose logs Lacework reads.
#[derive(Debug, Clone, PartialEq)]
pub struct TrailSettings {
    /// Trail name or ARN.
    pub trail_name: String,
    /// KMS key of the logs, when they are encrypted with one.
    pub kms_key_arn: Option<Arn>,
}

impl TrailSettings {
    /// Reads the trail variables.
    pub fn read(env: &mut EnvReader) -> TrailSettings {
        TrailSettings {
            trail_name: env.with_default(
                TOWER_TRAIL_NAME,
                DEFAULT_TRAIL_NAME.to_owned(),
                parse_trail_name,
            ),
            kms_key_arn: env.optional(TOWER_KMS_KEY_ARN, parse_kms_key_arn),
        }
    }
}

/// What every function shares about this installation.
#[derive(Debug, Clone, PartialEq)]
pub struct Installation {
    /// The region the functions run in (and its partition).
    pub region: Region,
    pub prefix: NamePrefix,
    /// Every name, derived from `prefix`.
    pub names: Names,
    /// The principal Lacework's roles trust.
    pub lacework_principal_arn: Arn,
}

impl Installation {
    /// Reads the region, prefix and principal.
    pub fn read(env: &mut EnvReader) -> Option<Installation> {
        let region = env.required(AWS_REGION, "the AWS region, like us-east-1", Region::parse);
        let prefix = env.with_default(TOWER_NAME_PREFIX, NamePrefix::default(), |text| {
            NamePrefix::parse(text).map_err(|err| Problem::of_value(err.reason()))
        });
        // The built-in default parses (a test says so); if it did not, `read_all` would report
        // that the configuration could not be assembled.
        let principal = env
            .optional(LACEWORK_PRINCIPAL_ARN, parse_role_arn)
            .or_else(|| Arn::parse(DEFAULT_LACEWORK_PRINCIPAL_ARN).ok());
        Some(Installation {
            region: region?,
            names: Names::new(&prefix),
            prefix,
            lacework_principal_arn: principal?,
        })
    }
}

/// A function's configuration, read from environment variables with every problem reported
/// at once.
pub trait FromEnv: Sized {
    /// Reads it from `env`; `None` when a problem was recorded there.
    fn read(env: &mut EnvReader) -> Option<Self>;

    /// Reads the configuration from `vars`.
    fn from_env(
        vars: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
    ) -> Result<Self, Error> {
        EnvReader::new(vars).read_all(Self::read)
    }

    /// Reads the configuration from this process's environment.
    fn from_process_env() -> Result<Self, Error> {
        EnvReader::from_process_env().read_all(Self::read)
    }
}

/// What the `setup` function needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SetupConfig {
    pub installation: Installation,
    pub lacework: LaceworkSettings,
    pub accounts: LandingZoneAccounts,
    pub trail: TrailSettings,
    pub capability: Capability,
    pub monitor_existing_accounts: bool,
    /// Which `ResponseURL`s setup answers (it is CloudFormation's custom resource).
    pub response_urls: ResponseUrlPolicy,
}

impl FromEnv for SetupConfig {
    fn read(env: &mut EnvReader) -> Option<SetupConfig> {
        let installation = Installation::read(env);
        let lacework = LaceworkSettings::read(env);
        let accounts = LandingZoneAccounts::read(env);
        let trail = TrailSettings::read(env);
        let capability = env.with_default(TOWER_CAPABILITY, Capability::Both, Capability::parse);
        let monitor_existing_accounts =
            env.with_default(TOWER_MONITOR_EXISTING_ACCOUNTS, false, parse_bool);
        let response_urls = env.response_url_policy(TOWER_RESPONSE_URL_ALLOW);
        Some(SetupConfig {
            installation: installation?,
            lacework: lacework?,
            accounts: accounts?,
            trail,
            capability,
            monitor_existing_accounts,
            response_urls,
        })
    }
}

/// What the `account-lifecycle` function needs.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountLifecycleConfig {
    pub installation: Installation,
    pub lacework: LaceworkSettings,
    /// Log Archive and Audit are set up by setup, not as members.
    pub accounts: LandingZoneAccounts,
    pub capability: Capability,
}

impl FromEnv for AccountLifecycleConfig {
    fn read(env: &mut EnvReader) -> Option<AccountLifecycleConfig> {
        let installation = Installation::read(env);
        let lacework = LaceworkSettings::read(env);
        let accounts = LandingZoneAccounts::read(env);
        let capability = env.with_default(TOWER_CAPABILITY, Capability::Both, Capability::parse);
        Some(AccountLifecycleConfig {
            installation: installation?,
            lacework: lacework?,
            accounts: accounts?,
            capability,
        })
    }
}

/// What the `auth-refresh` function needs.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthRefreshConfig {
    /// Base URL of the Lacework API (the token endpoint is under it).
    pub api_url: Url,
    /// The secret that holds the key and the token.
    pub secret_arn: Arn,
    /// Renew the token when it has less than this many seconds left.
    pub refresh_window_seconds: u64,
}

impl FromEnv for AuthRefreshConfig {
    fn read(env: &mut EnvReader) -> Option<AuthRefreshConfig> {
        let api_url = read_api_url(env);
        let secret_arn = read_secret_arn(env);
        let refresh_window_seconds = env.integer_or(
            TOWER_REFRESH_WINDOW_SECONDS,
            300..=86_400,
            DEFAULT_REFRESH_WINDOW_SECONDS,
        );
        Some(AuthRefreshConfig {
            api_url: api_url?,
            secret_arn: secret_arn?,
            refresh_window_seconds,
        })
    }
}

/// What the `sns-custom-resource` function needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsCustomResourceConfig {
    pub installation: Installation,
    pub lacework: LaceworkSettings,
    /// Which `ResponseURL`s it answers.
    pub response_urls: ResponseUrlPolicy,
    /// Lacework API requests one run of the registration drain may make while Lacework does
    /// not report the key's limit (`TOWER_REGISTRATION_BUDGET`).
    pub registration_budget: u32,
    /// Requests of the key's window a drain run leaves unspent when Lacework reports what is
    /// left (`TOWER_REGISTRATION_RESERVE`).
    pub registration_reserve: u32,
    /// Without `Config`, the drain registers no `AwsCfg` integration (there is no member
    /// role to assume) and only keeps the CloudTrail mapping file current.
    pub capability: Capability,
}

impl FromEnv for SnsCustomResourceConfig {
    fn read(env: &mut EnvReader) -> Option<SnsCustomResourceConfig> {
        let installation = Installation::read(env);
        let lacework = LaceworkSettings::read(env);
        let response_urls = env.response_url_policy(TOWER_RESPONSE_URL_ALLOW);
        let registration_budget = env.integer_or(
            TOWER_REGISTRATION_BUDGET,
            1..=MAX_REGISTRATION_BUDGET,
            DEFAULT_REGISTRATION_BUDGET,
        );
        let registration_reserve = env.integer_or(
            TOWER_REGISTRATION_RESERVE,
            0..=MAX_REGISTRATION_BUDGET,
            DEFAULT_REGISTRATION_RESERVE,
        );
        let capability = env.with_default(TOWER_CAPABILITY, Capability::Both, Capability::parse);
        Some(SnsCustomResourceConfig {
            installation: installation?,
            lacework: lacework?,
            response_urls,
            registration_budget,
            registration_reserve,
            capability,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_secret_arn_variable_has_a_secret_word_in_its_name() {
        for name in [
            AWS_REGION,
            LACEWORK_URL,
            LACEWORK_ACCOUNT,
            LACEWORK_SUB_ACCOUNT,
            LACEWORK_OU_RULES,
            LACEWORK_SECRET_ARN,
            LACEWORK_PRINCIPAL_ARN,
            TOWER_NAME_PREFIX,
            TOWER_CAPABILITY,
            TOWER_MONITOR_EXISTING_ACCOUNTS,
            TOWER_TRAIL_NAME,
            TOWER_KMS_KEY_ARN,
            TOWER_LOG_ARCHIVE_ACCOUNT_ID,
            TOWER_LOG_ARCHIVE_ACCOUNT_NAME,
            TOWER_AUDIT_ACCOUNT_ID,
            TOWER_AUDIT_ACCOUNT_NAME,
            TOWER_RESPONSE_URL_ALLOW,
            TOWER_REFRESH_WINDOW_SECONDS,
            TOWER_REGISTRATION_BUDGET,
            TOWER_REGISTRATION_RESERVE,
        ] {
            assert!(!looks_like_a_secret(name), "{name}");
            let has_hint = SECRET_HINTS.iter().any(|hint| name.contains(hint));
            assert_eq!(has_hint, name == LACEWORK_SECRET_ARN, "{name}");
        }
    }

    const SECRET_ARN: &str =
        "arn:aws:secretsmanager:us-east-1:111122223333:secret:lacework-ct-lacework-api-AbCdEf";

    /// The smallest environment every function accepts.
    fn complete() -> Vec<(&'static str, &'static str)> {
        vec![
            (AWS_REGION, "us-east-1"),
            (LACEWORK_URL, "https://acme.lacework.net"),
            (LACEWORK_ACCOUNT, "Acme"),
            (LACEWORK_SECRET_ARN, SECRET_ARN),
            (TOWER_LOG_ARCHIVE_ACCOUNT_ID, "222233334444"),
            (TOWER_AUDIT_ACCOUNT_ID, "333344445555"),
            // Lambda sets these for every function; they are the SDK's, not ours.
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "not-ours"),
            ("AWS_SESSION_TOKEN", "not-ours-either"),
        ]
    }

    fn with(
        mut vars: Vec<(&'static str, &'static str)>,
        extra: &[(&'static str, &'static str)],
    ) -> Vec<(&'static str, &'static str)> {
        for (name, value) in extra {
            vars.retain(|(existing, _)| existing != name);
            vars.push((name, value));
        }
        vars
    }

    fn without(
        vars: Vec<(&'static str, &'static str)>,
        names: &[&str],
    ) -> Vec<(&'static str, &'static str)> {
        vars.into_iter()
            .filter(|(name, _)| !names.contains(name))
            .collect()
    }

    fn problems(err: Error) -> Vec<Problem> {
        match err {
            Error::Config(problems) => problems,
            other => panic!("expected a configuration error, got {other}"),
        }
    }

    fn paths(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.path.as_str()).collect()
    }

    #[test]
    fn setup_config_with_defaults() {
        let config = SetupConfig::from_env(complete()).unwrap();
        assert_eq!(config.installation.region.as_str(), "us-east-1");
        assert_eq!(config.installation.prefix.as_str(), "lacework-ct");
        assert_eq!(
            config.installation.names.member_stack_set,
            "lacework-ct-member"
        );
        assert_eq!(
            config.installation.lacework_principal_arn.to_string(),
            DEFAULT_LACEWORK_PRINCIPAL_ARN
        );
        assert_eq!(
            config.lacework.api_url.as_str(),
            "https://acme.lacework.net/"
        );
        assert_eq!(config.lacework.account, "acme");
        assert_eq!(config.lacework.default_sub_account, None);
        assert!(config.lacework.ou_rules.is_empty());
        assert_eq!(config.lacework.secret_arn.to_string(), SECRET_ARN);
        assert_eq!(config.accounts.log_archive.as_str(), "222233334444");
        assert_eq!(config.accounts.log_archive_name, "Log Archive");
        assert_eq!(config.accounts.audit.as_str(), "333344445555");
        assert_eq!(config.accounts.audit_name, "Audit");
        assert_eq!(config.trail.trail_name, DEFAULT_TRAIL_NAME);
        assert_eq!(config.trail.kms_key_arn, None);
        assert_eq!(config.capability, Capability::Both);
        assert!(!config.monitor_existing_accounts);
        assert_eq!(config.response_urls, ResponseUrlPolicy::default());
    }

    #[test]
    fn setup_config_with_every_variable_set() {
        let vars = with(
            complete(),
            &[
                (AWS_REGION, "us-gov-west-1"),
                (LACEWORK_URL, "https://acme.lacework.net/"),
                (LACEWORK_SUB_ACCOUNT, " Acme-Prod "),
                (
                    LACEWORK_OU_RULES,
                    "ou-abcd-11111111 = acme-dev, Sandbox = acme-dev",
                ),
                (
                    LACEWORK_SECRET_ARN,
                    "arn:aws-us-gov:secretsmanager:us-gov-west-1:111122223333:secret:x-AbCdEf",
                ),
                (
                    LACEWORK_PRINCIPAL_ARN,
                    "arn:aws-us-gov:iam::123456789012:role/lw",
                ),
                (TOWER_NAME_PREFIX, "acme-lw"),
                (TOWER_CAPABILITY, "cloudtrail+config"),
                (TOWER_MONITOR_EXISTING_ACCOUNTS, "Yes"),
                (TOWER_TRAIL_NAME, "org-trail"),
                (
                    TOWER_KMS_KEY_ARN,
                    "arn:aws-us-gov:kms:us-gov-west-1:222233334444:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                ),
                (TOWER_LOG_ARCHIVE_ACCOUNT_NAME, "Logs"),
                (TOWER_AUDIT_ACCOUNT_NAME, "Security"),
                (TOWER_RESPONSE_URL_ALLOW, "127.0.0.1:4567, localhost:4568,"),
            ],
        );
        let config = SetupConfig::from_env(vars).unwrap();
        assert_eq!(
            config.installation.region.partition(),
            crate::naming::Partition::AwsUsGov
        );
        assert_eq!(
            config.installation.names.cross_account_role,
            "acme-lw-cross-account-role"
        );
        assert_eq!(
            config.lacework.default_sub_account.as_deref(),
            Some("acme-prod")
        );
        assert_eq!(
            config.lacework.ou_rules,
            OuRules::parse("ou-abcd-11111111 = acme-dev, Sandbox = acme-dev").unwrap()
        );
        assert_eq!(config.capability, Capability::Both);
        assert!(config.monitor_existing_accounts);
        assert_eq!(config.trail.trail_name, "org-trail");
        assert!(config.trail.kms_key_arn.is_some());
        assert_eq!(config.accounts.log_archive_name, "Logs");
        assert_eq!(config.accounts.audit_name, "Security");
        let hosts =
            ["127.0.0.1:4567", "localhost:4568"].map(|host| AllowedHost::parse(host).unwrap());
        assert_eq!(config.response_urls.allowed_hosts, hosts);
        config
            .response_urls
            .check("http://127.0.0.1:4567/answer")
            .unwrap();
    }

    #[test]
    fn ou_rules_are_parsed_once_here_and_each_bad_rule_is_a_problem_with_its_position() {
        let config =
            SetupConfig::from_env(with(complete(), &[(LACEWORK_OU_RULES, "Security=secops")]))
                .unwrap();
        assert_eq!(
            config.lacework.ou_rules,
            OuRules::parse("Security=secops").unwrap()
        );
        let vars = with(complete(), &[(LACEWORK_OU_RULES, "Security, Sandbox=dev,")]);
        let problems = problems(SetupConfig::from_env(vars).unwrap_err());
        assert_eq!(paths(&problems), [LACEWORK_OU_RULES, LACEWORK_OU_RULES]);
        assert!(problems[0].message.starts_with("rules[0]"), "{problems:?}");
        assert!(problems[1].message.starts_with("rules[2]"), "{problems:?}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let vars = with(
            without(complete(), &[LACEWORK_ACCOUNT, AWS_REGION]),
            &[
                (LACEWORK_URL, "http://acme.lacework.net"),
                (TOWER_NAME_PREFIX, "9lives"),
                (TOWER_CAPABILITY, "Everything"),
                (TOWER_MONITOR_EXISTING_ACCOUNTS, "maybe"),
                (TOWER_LOG_ARCHIVE_ACCOUNT_ID, "22223333444"),
                (
                    TOWER_KMS_KEY_ARN,
                    "arn:aws:kms:us-east-1:222233334444:alias/ct",
                ),
                (TOWER_RESPONSE_URL_ALLOW, "127.0.0.1:4567,http://x"),
            ],
        );
        let problems = problems(SetupConfig::from_env(vars).unwrap_err());
        assert_eq!(
            paths(&problems),
            [
                AWS_REGION,
                TOWER_NAME_PREFIX,
                LACEWORK_URL,
                LACEWORK_ACCOUNT,
                TOWER_LOG_ARCHIVE_ACCOUNT_ID,
                TOWER_KMS_KEY_ARN,
                TOWER_CAPABILITY,
                TOWER_MONITOR_EXISTING_ACCOUNTS,
                TOWER_RESPONSE_URL_ALLOW,
            ],
            "{problems:#?}"
        );
        let message = |name: &str| {
            problems
                .iter()
                .find(|p| p.path == name)
                .map(|p| p.message.clone())
                .unwrap()
        };
        assert!(message(AWS_REGION).starts_with("is required"));
        assert!(message(LACEWORK_ACCOUNT).contains("Lacework account name"));
        assert!(message(LACEWORK_URL).contains("must use https"));
        assert!(message(TOWER_NAME_PREFIX).contains("start with a letter"));
        assert!(message(TOWER_LOG_ARCHIVE_ACCOUNT_ID).contains("11 digits"));
        assert!(message(TOWER_KMS_KEY_ARN).contains("key/"));
        assert!(message(TOWER_CAPABILITY).contains("CloudTrail, Config or Both"));
        assert!(message(TOWER_MONITOR_EXISTING_ACCOUNTS).contains("true or false"));
        assert!(message(TOWER_RESPONSE_URL_ALLOW).starts_with("entry 2:"));

        let shown = Error::Config(problems).to_string();
        assert!(
            shown.starts_with("invalid configuration (9 problems):"),
            "{shown}"
        );
    }

    #[test]
    fn secrets_in_the_environment_are_refused_without_quoting_them() {
        let vars = with(
            complete(),
            &[
                ("LACEWORK_SECRET_KEY", "_abc123verysecret"),
                ("LACEWORK_API_TOKEN", "tok-verysecret"),
                (
                    "TOWER_EXTERNAL_ID",
                    "lweid:aws:v2:acme:222233334444:verysecret",
                ),
                ("lacework_key_id", "ACME_verysecret"),
            ],
        );
        let err = AuthRefreshConfig::from_env(vars).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("verysecret"), "{shown}");
        let problems = problems(err);
        assert_eq!(
            paths(&problems),
            [
                "LACEWORK_API_TOKEN",
                "LACEWORK_SECRET_KEY",
                "TOWER_EXTERNAL_ID",
                "lacework_key_id"
            ]
        );
        for problem in &problems {
            assert!(problem.message.contains("Secrets Manager"), "{problem}");
            assert!(problem.message.contains(LACEWORK_SECRET_ARN), "{problem}");
        }
    }

    #[test]
    fn wrong_free_text_values_are_not_quoted() {
        let vars = with(
            complete(),
            &[
                (LACEWORK_SECRET_ARN, "_pasted-secret-value"),
                (
                    LACEWORK_URL,
                    "https://user:pasted-password@acme.lacework.net",
                ),
            ],
        );
        let err = SnsCustomResourceConfig::from_env(vars).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("pasted"), "{shown}");
        assert_eq!(paths(&problems(err)), [LACEWORK_URL, LACEWORK_SECRET_ARN]);
    }

    #[test]
    fn lacework_url_rules() {
        for good in [
            "https://acme.lacework.net",
            "https://acme.lacework.net/",
            "http://127.0.0.1:8080",
            "http://localhost:8080/",
            "http://[::1]:8080",
        ] {
            assert!(parse_service_url(good).is_ok(), "{good}");
        }
        for (bad, expected) in [
            ("acme.lacework.net", "is not a URL"),
            ("http://acme.lacework.net", "http is accepted only"),
            ("http://10.0.0.1:8080", "http is accepted only"),
            ("ftp://acme.lacework.net", "must use https"),
            ("https://acme.lacework.net/api/v2", "no path"),
            ("https://acme.lacework.net/?a=b", "no path"),
            ("https://u@acme.lacework.net", "user or password"),
        ] {
            let reason = parse_service_url(bad).unwrap_err();
            assert!(reason.message.contains(expected), "{bad}: {reason}");
        }
    }

    #[test]
    fn typed_reads() {
        let mut env = EnvReader::new([
            ("T1", "TRUE"),
            ("T2", "0"),
            ("N1", "600"),
            ("N2", "10"),
            ("N3", "-1"),
            ("E", "   "),
            ("L", "a, B ,,c"),
            ("S", "Acme-Dev,bad name"),
            ("R", "cn-north-1"),
        ]);
        assert!(env.with_default("T1", false, parse_bool));
        assert!(!env.with_default("T2", true, parse_bool));
        assert!(env.with_default("UNSET", true, parse_bool));
        assert_eq!(env.integer_or("N1", 300..=900, 1), 600);
        assert_eq!(env.integer_or("N2", 300..=900, 400), 400);
        assert_eq!(env.integer_or("N3", 300..=900, 400), 400);
        assert_eq!(env.integer_or("UNSET", 300..=900, 400), 400);
        assert_eq!(env.value("E"), None);
        assert_eq!(env.required("E", "something", |text| Ok(text.len())), None);
        let hosts = env.response_url_policy("L").allowed_hosts;
        assert_eq!(
            hosts,
            ["a", "b", "c"].map(|host| AllowedHost::parse(host).unwrap())
        );
        assert_eq!(env.response_url_policy("S").allowed_hosts.len(), 1);
        assert_eq!(
            env.required("R", "a region", Region::parse)
                .map(|r| r.partition()),
            Some(crate::naming::Partition::AwsCn)
        );
        let problems = problems(env.read_all(|_| Some(())).unwrap_err());
        assert_eq!(paths(&problems), ["N2", "N3", "E", "S"]);
        assert_eq!(
            problems[0].message,
            "must be a whole number from 300 to 900"
        );
        assert_eq!(problems[2].message, "is required: something");
        assert!(problems[3].message.starts_with("entry 2:"));
    }

    #[test]
    fn log_archive_and_audit_must_differ() {
        let vars = with(complete(), &[(TOWER_AUDIT_ACCOUNT_ID, "222233334444")]);
        let problems = problems(AccountLifecycleConfig::from_env(vars).unwrap_err());
        assert_eq!(paths(&problems), [TOWER_AUDIT_ACCOUNT_ID]);
        assert!(problems[0].message.contains("same account"));
    }

    #[test]
    fn each_function_reads_only_what_it_needs() {
        let auth = AuthRefreshConfig::from_env([
            (LACEWORK_URL, "https://acme.lacework.net"),
            (LACEWORK_SECRET_ARN, SECRET_ARN),
            (TOWER_REFRESH_WINDOW_SECONDS, "3600"),
        ])
        .unwrap();
        assert_eq!(auth.refresh_window_seconds, 3600);
        assert_eq!(auth.secret_arn.to_string(), SECRET_ARN);
        let default_window = AuthRefreshConfig::from_env([
            (LACEWORK_URL, "https://acme.lacework.net"),
            (LACEWORK_SECRET_ARN, SECRET_ARN),
        ])
        .unwrap();
        assert_eq!(
            default_window.refresh_window_seconds,
            DEFAULT_REFRESH_WINDOW_SECONDS
        );

        let sns = SnsCustomResourceConfig::from_env(without(
            complete(),
            &[TOWER_LOG_ARCHIVE_ACCOUNT_ID, TOWER_AUDIT_ACCOUNT_ID],
        ))
        .unwrap();
        assert_eq!(
            sns.installation.names.registration_topic,
            "lacework-ct-registration-topic"
        );
        assert_eq!(sns.registration_budget, DEFAULT_REGISTRATION_BUDGET);
        assert_eq!(sns.registration_reserve, DEFAULT_REGISTRATION_RESERVE);

        let lifecycle =
            AccountLifecycleConfig::from_env(with(complete(), &[(TOWER_CAPABILITY, "Config")]))
                .unwrap();
        assert!(lifecycle.capability.includes_config());
        assert!(!lifecycle.capability.includes_cloudtrail());

        let problems =
            problems(AuthRefreshConfig::from_env(Vec::<(String, String)>::new()).unwrap_err());
        assert_eq!(paths(&problems), [LACEWORK_URL, LACEWORK_SECRET_ARN]);
    }

    #[test]
    fn arn_variables_are_checked_for_service_and_resource() {
        assert!(parse_secret_arn(SECRET_ARN).is_ok());
        for bad in [
            "arn:aws:ssm:us-east-1:111122223333:parameter/x",
            "arn:aws:secretsmanager:us-east-1:111122223333:x",
            "arn:aws:secretsmanager::111122223333:secret:x",
            "lacework-ct-lacework-api",
        ] {
            assert!(parse_secret_arn(bad).is_err(), "{bad}");
        }
        assert!(parse_role_arn(DEFAULT_LACEWORK_PRINCIPAL_ARN).is_ok());
        assert!(parse_role_arn("arn:aws:iam::434813966438:user/lw").is_err());
        assert!(parse_trail_name("arn:aws:cloudtrail:us-east-1:111122223333:trail/t").is_ok());
        assert!(parse_trail_name("arn:aws:s3:::bucket").is_err());
        assert!(parse_trail_name("ab").is_err());
        assert!(parse_trail_name("-trail").is_err());
        assert!(parse_trail_name("my trail").is_err());
    }

    #[test]
    fn capability_words() {
        assert_eq!(Capability::parse("CloudTrail"), Ok(Capability::CloudTrail));
        assert_eq!(Capability::parse("config"), Ok(Capability::Config));
        assert_eq!(Capability::parse("BOTH"), Ok(Capability::Both));
        assert!(Capability::CloudTrail.includes_cloudtrail());
        assert!(!Capability::CloudTrail.includes_config());
        assert!(Capability::Both.includes_cloudtrail() && Capability::Both.includes_config());
        assert!(Capability::parse("CloudTrail,Config").is_err());
    }

    #[test]
    fn process_environment_is_readable() {
        // The test runner's own environment has none of our required variables set (or
        // has them set correctly); either way reading it must not panic.
        let _ = AuthRefreshConfig::from_process_env();
        let _ = SetupConfig::from_process_env();
    }

    #[test]
    fn registration_budget_and_reserve_are_numbers_of_requests_within_the_hourly_limit() {
        let vars = without(
            complete(),
            &[TOWER_LOG_ARCHIVE_ACCOUNT_ID, TOWER_AUDIT_ACCOUNT_ID],
        );
        let sns = SnsCustomResourceConfig::from_env(with(
            vars.clone(),
            &[
                (TOWER_REGISTRATION_BUDGET, "3"),
                (TOWER_REGISTRATION_RESERVE, "0"),
            ],
        ))
        .unwrap();
        assert_eq!((sns.registration_budget, sns.registration_reserve), (3, 0));
        assert_eq!(sns.capability, Capability::Both);
        let refused: [(&str, &[&str]); 2] = [
            (TOWER_REGISTRATION_BUDGET, &["0", "481", "many", "-1"]),
            (TOWER_REGISTRATION_RESERVE, &["481", "some", "-5"]),
        ];
        for (variable, bads) in refused {
            for bad in bads {
                let problems = problems(
                    SnsCustomResourceConfig::from_env(with(vars.clone(), &[(variable, bad)]))
                        .unwrap_err(),
                );
                assert_eq!(paths(&problems), [variable], "{variable}={bad}");
            }
        }
    }
}
