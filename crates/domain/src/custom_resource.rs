//! The CloudFormation custom resource protocol: the request a function receives, the answer
//! it PUTs to `ResponseURL`, and the policy that decides which `ResponseURL`s it may answer.
//!
//! A request carries `RequestType` (`Create`, `Update`, `Delete`), `ResponseURL`, `StackId`,
//! `RequestId`, `LogicalResourceId`, `ResourceType`, `PhysicalResourceId` (Update and Delete),
//! `ResourceProperties` and `OldResourceProperties` (Update). The answer is
//! `{Status, Reason, PhysicalResourceId, StackId, RequestId, LogicalResourceId, NoEcho?, Data}`,
//! at most 4,096 bytes.
//!
//! `aws_lambda_events::event::cloudformation` has typed requests and a response, but they do
//! not fit here: the request is an internally tagged enum whose serde errors neither give a
//! `$.Field` path nor let a handler recover the reply address of a request it cannot read (it
//! must still answer, or the stack hangs for an hour), and the response always sends `NoEcho`
//! and a `null` `Reason`. So this module reads the JSON itself.
//!
//! The `ResponseURL` is checked by [`ResponseUrlPolicy`] before anything is sent to it: an
//! SNS-backed custom resource can be published by any principal the topic allows, and the
//! answer must not go to a host of the publisher's choosing. Pre-signed URLs are credentials
//! (they let their holder answer for the stack), so `Debug` of a [`Request`] and every error
//! here show only the URL's host.
//!
//! Everything here is pure: the answer is sent once by `lwct_runtime::answer`.

pub mod continuation;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value, json};
use url::{Host, Url};

use crate::account::AccountId;
use crate::config::parse_arn_of;
use crate::error::{Error, Problem, json_type, quoted};
use crate::naming::Region;

/// CloudFormation refuses answers longer than this many bytes.
pub const MAX_RESPONSE_BYTES: usize = 4096;

/// Appended to a `Reason` that was shortened to fit the answer.
const TRUNCATION_MARKER: &str = " [truncated]";

/// What CloudFormation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

impl RequestType {
    /// The word CloudFormation uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::Create => "Create",
            RequestType::Update => "Update",
            RequestType::Delete => "Delete",
        }
    }
}

impl fmt::Display for RequestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where and for whom an answer goes: the part of a request a handler needs to answer it,
/// even when the rest of the request cannot be read.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplyTo {
    /// The pre-signed URL the answer is PUT to. Check it with [`ResponseUrlPolicy::check`]
    /// first, and send to the [`Url`] that returns.
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    /// Present in Update and Delete requests.
    pub physical_resource_id: Option<String>,
}

impl ReplyTo {
    /// Reads the reply address of a request, whatever else is wrong with it. The error names
    /// the first field that is missing or not a non-empty string.
    pub fn from_value(request: &Value) -> Result<ReplyTo, Error> {
        let fields = request_object(request)?;
        Ok(ReplyTo {
            response_url: required_str(fields, "ResponseURL")?.to_owned(),
            stack_id: required_str(fields, "StackId")?.to_owned(),
            request_id: required_str(fields, "RequestId")?.to_owned(),
            logical_resource_id: required_str(fields, "LogicalResourceId")?.to_owned(),
            physical_resource_id: optional_str(fields, "PhysicalResourceId")?.map(str::to_owned),
        })
    }

    /// The `PhysicalResourceId` to send with a failure when the handler has none of its own:
    /// the request's, or for a Create (which has none yet) a stable placeholder built from
    /// the logical id and request id. CloudFormation sends that placeholder back in the
    /// rollback's Delete, where [`Request::is_failed_create_placeholder`] recognises it.
    pub fn fallback_physical_id(&self) -> String {
        self.physical_resource_id.clone().unwrap_or_else(|| {
            format!(
                "{}-create-failed-{}",
                self.logical_resource_id, self.request_id
            )
        })
    }
}

impl fmt::Debug for ReplyTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyTo")
            .field("response_url", &RedactedUrl(&self.response_url))
            .field("stack_id", &self.stack_id)
            .field("request_id", &self.request_id)
            .field("logical_resource_id", &self.logical_resource_id)
            .field("physical_resource_id", &self.physical_resource_id)
            .finish()
    }
}

/// Shows a URL's host only: its path and query are a pre-signed credential.
struct RedactedUrl<'a>(&'a str);

impl fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Url::parse(self.0)
            .ok()
            .and_then(|url| url.host().map(|h| h.to_string()))
        {
            Some(host) => write!(f, "\"{host}/***\""),
            None => f.write_str("\"***\""),
        }
    }
}

/// A custom resource request, read from the JSON Lambda receives.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub request_type: RequestType,
    pub reply_to: ReplyTo,
    /// For example `Custom::LaceworkSetup`.
    pub resource_type: String,
    /// The Lambda function or SNS topic ARN the request was sent to, when present.
    pub service_token: Option<String>,
    /// `ResourceProperties` (an empty object when absent). CloudFormation passes every
    /// scalar as a string.
    pub resource_properties: Map<String, Value>,
    /// `OldResourceProperties` of an Update.
    pub old_resource_properties: Option<Map<String, Value>>,
}

/// Reads a custom resource request. The error names the first field that is missing or
/// wrong (`$.ResponseURL`, `$.RequestType`, ...). A handler that gets an error should still
/// answer FAILED when [`ReplyTo::from_value`] can read the reply address.
pub fn parse_request(request: &Value) -> Result<Request, Error> {
    let reply_to = ReplyTo::from_value(request)?;
    let fields = request_object(request)?;
    let text = required_str(fields, "RequestType")?;
    let request_type = [
        RequestType::Create,
        RequestType::Update,
        RequestType::Delete,
    ]
    .into_iter()
    .find(|kind| kind.as_str() == text)
    .ok_or_else(|| {
        problem(
            "$.RequestType",
            format!("must be Create, Update or Delete, not {}", quoted(text)),
        )
    })?;
    if request_type != RequestType::Create && reply_to.physical_resource_id.is_none() {
        return Err(problem(
            "$.PhysicalResourceId",
            format!("is missing; CloudFormation always sends it with {request_type}"),
        ));
    }
    let resource_type = required_str(fields, "ResourceType")?.to_owned();
    let service_token = optional_str(fields, "ServiceToken")?.map(str::to_owned);
    let resource_properties = optional_object(fields, "ResourceProperties")?.unwrap_or_default();
    let old_resource_properties = optional_object(fields, "OldResourceProperties")?;
    Ok(Request {
        request_type,
        reply_to,
        resource_type,
        service_token,
        resource_properties,
        old_resource_properties,
    })
}

impl Request {
    pub fn stack_id(&self) -> &str {
        &self.reply_to.stack_id
    }

    pub fn request_id(&self) -> &str {
        &self.reply_to.request_id
    }

    pub fn logical_resource_id(&self) -> &str {
        &self.reply_to.logical_resource_id
    }

    /// The request's `PhysicalResourceId` (Update and Delete).
    pub fn physical_resource_id(&self) -> Option<&str> {
        self.reply_to.physical_resource_id.as_deref()
    }

    /// The account that owns the stack, read from its ARN `StackId`
    /// (`arn:aws:cloudformation:us-east-1:222233334444:stack/name/guid`). The SNS-backed custom
    /// resource compares it with the account it is asked to register.
    pub fn stack_account_id(&self) -> Result<AccountId, Error> {
        let arn = parse_arn_of(
            self.stack_id(),
            ("cloudformation", "stack/", true),
            "a CloudFormation stack ARN (arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>)",
        )
        .map_err(|wrong| Error::CustomResource(wrong.at("$.StackId")))?;
        arn.account
            .ok_or_else(|| problem("$.StackId", "has no account"))
    }

    /// Whether this request's `PhysicalResourceId` is the placeholder sent when its Create
    /// failed, so there is nothing to update or delete.
    pub fn is_failed_create_placeholder(&self) -> bool {
        let placeholder_start = format!("{}-create-failed-", self.logical_resource_id());
        self.physical_resource_id()
            .is_some_and(|id| id.starts_with(&placeholder_start))
    }

    /// A required string property; the error names `$.ResourceProperties.<name>`.
    pub fn property_str(&self, name: &str) -> Result<&str, Error> {
        self.optional_property_str(name)?
            .ok_or_else(|| problem(property_path(name), "is missing"))
    }

    /// An optional string property; absent and empty are both `None` (CloudFormation passes
    /// an unset optional parameter as `""`).
    pub fn optional_property_str(&self, name: &str) -> Result<Option<&str>, Error> {
        string_at(self.resource_properties.get(name), || property_path(name))
    }

    /// A required property holding a 12-digit AWS account id.
    pub fn property_account_id(&self, name: &str) -> Result<AccountId, Error> {
        let text = self.property_str(name)?;
        AccountId::parse(text).map_err(|err| problem(property_path(name), err.to_string()))
    }
}

/// Whether the custom resource did what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Success,
    Failed,
}

impl Status {
    /// The word CloudFormation expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "SUCCESS",
            Status::Failed => "FAILED",
        }
    }
}

/// The answer PUT to `ResponseURL`, serialized with CloudFormation's field names (`NoEcho`
/// only when set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub status: Status,
    /// Shown in the CloudFormation console; shortened by [`Response::to_body`] if the answer
    /// would not fit in [`MAX_RESPONSE_BYTES`].
    pub reason: String,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    /// Hides `Data` from `Fn::GetAtt` output in the console (not from the response itself).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_echo: bool,
    /// Values the template reads with `Fn::GetAtt`. Never put a secret here: whoever holds
    /// the `ResponseURL` can read the answer.
    pub data: BTreeMap<String, String>,
}

impl Response {
    /// The request was done; `physical_id` names what it created or manages.
    pub fn success(
        request: &Request,
        physical_id: impl Into<String>,
        data: BTreeMap<String, String>,
    ) -> Response {
        Response {
            data,
            ..Response::answer(
                &request.reply_to,
                Status::Success,
                format!("{} succeeded", request.request_type),
                physical_id.into(),
            )
        }
    }

    /// The request failed because of `reason`. Without a `physical_id` of its own the
    /// answer uses [`ReplyTo::fallback_physical_id`], so a failed Create still has one.
    pub fn failure(
        request: &Request,
        physical_id: Option<&str>,
        reason: impl Into<String>,
    ) -> Response {
        let mut response = Response::failure_to(&request.reply_to, reason);
        if let Some(id) = physical_id {
            response.physical_resource_id = id.to_owned();
        }
        response
    }

    /// A failure for a request that could not be read beyond its reply address.
    pub fn failure_to(reply_to: &ReplyTo, reason: impl Into<String>) -> Response {
        let physical_id = reply_to.fallback_physical_id();
        Response::answer(reply_to, Status::Failed, reason.into(), physical_id)
    }

    /// An answer to `reply_to` with no data.
    fn answer(reply_to: &ReplyTo, status: Status, reason: String, physical_id: String) -> Response {
        Response {
            status,
            reason,
            physical_resource_id: physical_id,
            stack_id: reply_to.stack_id.clone(),
            request_id: reply_to.request_id.clone(),
            logical_resource_id: reply_to.logical_resource_id.clone(),
            no_echo: false,
            data: BTreeMap::new(),
        }
    }

    /// The answer as JSON, with CloudFormation's field names.
    pub fn to_json(&self) -> Value {
        // Strings, a boolean and a map of strings always serialize.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The body to PUT: at most [`MAX_RESPONSE_BYTES`] bytes. A long `Reason` is cut and
    /// marked `[truncated]`; if `Data` alone is too large, the answer becomes a FAILED one
    /// that says so (CloudFormation would refuse it otherwise, and the stack would wait).
    pub fn to_body(&self) -> String {
        let body = self.to_json().to_string();
        if body.len() <= MAX_RESPONSE_BYTES {
            return body;
        }
        // The longest reason that fits, by binary search: a longer budget never gives a
        // shorter body, and escaping makes the body's length hard to predict directly.
        let body_with_reason_budget = |budget: usize| {
            Response {
                reason: truncate_reason(&self.reason, budget),
                ..self.clone()
            }
            .to_json()
            .to_string()
        };
        let budgets: Vec<usize> = (0..=self.reason.len().min(MAX_RESPONSE_BYTES)).collect();
        let fitting = budgets
            .partition_point(|budget| body_with_reason_budget(*budget).len() <= MAX_RESPONSE_BYTES);
        if fitting > 0 {
            return body_with_reason_budget(fitting - 1);
        }
        let data_bytes = json!(self.data).to_string().len();
        Response {
            status: Status::Failed,
            reason: format!(
                "the custom resource's Data is {data_bytes} bytes; a CloudFormation answer is at most {MAX_RESPONSE_BYTES} bytes"
            ),
            data: BTreeMap::new(),
            ..self.clone()
        }
        .to_json()
        .to_string()
    }
}

/// `reason` cut to at most `max_bytes` bytes (on a character boundary) including the
/// truncation marker; unchanged when it already fits.
fn truncate_reason(reason: &str, max_bytes: usize) -> String {
    if reason.len() <= max_bytes {
        return reason.to_owned();
    }
    let mut end = max_bytes.saturating_sub(TRUNCATION_MARKER.len());
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let kept = reason.get(..end).unwrap_or_default();
    format!("{kept}{TRUNCATION_MARKER}")
}

/// A `host[:port]` the operator allows as a `ResponseURL` host besides S3, such as the local
/// landing zone's loopback listener `127.0.0.1:4567`. Without a port, any port of the host
/// matches. Plain `http` is accepted only for loopback hosts (`127.0.0.0/8`, `::1`,
/// `localhost`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: Host<String>,
    port: Option<u16>,
}

impl AllowedHost {
    /// Reads one entry: `host`, `host:port`, `[ipv6]` or `[ipv6]:port`; the caller places the
    /// problem.
    pub fn parse(entry: &str) -> Result<AllowedHost, Problem> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(Problem::of_value("an allowed host cannot be empty"));
        }
        let wrong = |what: &str| Problem::of_value(format!("{}{what}", quoted(entry)));
        if entry
            .chars()
            .any(|c| c.is_whitespace() || "/\\@?#".contains(c))
        {
            return Err(wrong(
                " is not host or host:port (no scheme, path, user or query)",
            ));
        }
        let (host_text, port_text) = if entry.starts_with('[') {
            let (inside, rest) = entry
                .split_once(']')
                .ok_or_else(|| wrong(" has '[' without ']'"))?;
            let host = entry.get(..inside.len() + 1).unwrap_or(entry);
            match rest {
                "" => (host, None),
                _ => {
                    let port = rest
                        .strip_prefix(':')
                        .ok_or_else(|| wrong(" has text after ']'"))?;
                    (host, Some(port))
                }
            }
        } else {
            match entry.split_once(':') {
                Some((_, port)) if port.contains(':') => {
                    return Err(wrong(
                        ": write an IPv6 address in brackets, like [::1]:4567",
                    ));
                }
                Some((host, port)) => (host, Some(port)),
                None => (entry, None),
            }
        };
        let host = Host::parse(host_text)
            .map_err(|err| wrong(&format!(" is not a host name or address: {err}")))?;
        if let Host::Domain(name) = &host {
            let is_dns_name = name.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
            if !is_dns_name {
                return Err(wrong(" is not a host name or address"));
            }
        }
        let port = port_text
            .map(|text| match text.parse::<u16>() {
                Ok(port) if port > 0 => Ok(port),
                _ => Err(wrong(" has a port that is not a number from 1 to 65535")),
            })
            .transpose()?;
        Ok(AllowedHost { host, port })
    }

    fn matches(&self, url: &Url) -> bool {
        let same_host = url.host().map(|host| host.to_owned()).as_ref() == Some(&self.host);
        let same_port = self
            .port
            .is_none_or(|port| url.port_or_known_default() == Some(port));
        same_host && same_port
    }
}

/// Which `ResponseURL`s a handler may answer: HTTPS S3 pre-signed URLs, plus the hosts in
/// `allowed_hosts` (empty in AWS; the local landing zone adds its loopback listener).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseUrlPolicy {
    pub allowed_hosts: Vec<AllowedHost>,
}

impl ResponseUrlPolicy {
    /// S3 pre-signed URLs and the given hosts.
    pub fn with_allowed_hosts(allowed_hosts: Vec<AllowedHost>) -> ResponseUrlPolicy {
        ResponseUrlPolicy { allowed_hosts }
    }

    /// Accepts `url` if it is an `https` S3 pre-signed URL (the host is an S3 endpoint of
    /// the `amazonaws.com` or `amazonaws.com.cn` domains, on the default port, and the query
    /// has `X-Amz-Signature` or `Signature`), or its host and port are allowed explicitly.
    /// Send the answer to the returned [`Url`], not to the text: it is what was checked. The
    /// error names the host and what is wrong, never the path or query.
    pub fn check(&self, url: &str) -> Result<Url, Error> {
        let refuse = |why: String| Err(Error::ResponseUrl(why));
        let parsed = Url::parse(url)
            .map_err(|err| Error::ResponseUrl(format!("it is not a valid URL ({err})")))?;
        let host_text = parsed
            .host_str()
            .map(quoted)
            .unwrap_or_else(|| "(none)".to_owned());
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return refuse(format!(
                "it carries user information before its host {host_text}; a pre-signed S3 URL never does"
            ));
        }
        let Some(host) = parsed.host() else {
            return refuse("it has no host".to_owned());
        };
        let scheme = parsed.scheme();
        if let Some(allowed) = self.allowed_hosts.iter().find(|a| a.matches(&parsed)) {
            let loopback = is_loopback(&allowed.host);
            return match scheme {
                "https" => Ok(parsed),
                "http" if loopback => Ok(parsed),
                _ => refuse(format!(
                    "host {host_text} is allowed, but only over https{}",
                    if loopback { " or http" } else { "" }
                )),
            };
        }
        if scheme != "https" {
            return refuse(format!(
                "it uses {scheme:?}; answers go over https only (host {host_text})"
            ));
        }
        if !matches!(host, Host::Domain(name) if is_s3_endpoint(name)) {
            return refuse(format!(
                "host {host_text} is neither an S3 endpoint nor an allowed host"
            ));
        }
        if let Some(port) = parsed.port() {
            return refuse(format!(
                "it names port {port} on S3 host {host_text}; S3 answers on the default https port"
            ));
        }
        let signed = parsed.query_pairs().any(|(key, value)| {
            (key == "X-Amz-Signature" || key == "Signature") && !value.is_empty()
        });
        if !signed {
            return refuse(format!(
                "the URL for S3 host {host_text} is not pre-signed (no X-Amz-Signature or Signature in its query)"
            ));
        }
        Ok(parsed)
    }
}

/// Whether `host` (lower case, as `url` gives it) is an S3 endpoint: path style
/// (`s3.amazonaws.com`, `s3.<region>.amazonaws.com`, `s3-<region>.amazonaws.com`,
/// `s3.dualstack.<region>...`, `s3-fips...`, `s3-external-1...`) or virtual-hosted style
/// (`<bucket>.` before any of these), in `amazonaws.com` or `amazonaws.com.cn`.
fn is_s3_endpoint(host: &str) -> bool {
    let Some(rest) = host
        .strip_suffix(".amazonaws.com.cn")
        .or_else(|| host.strip_suffix(".amazonaws.com"))
    else {
        return false;
    };
    let labels: Vec<&str> = rest.split('.').collect();
    (0..labels.len()).any(|service_index| {
        let (bucket, from_service) = labels.split_at(service_index);
        let [service, after @ ..] = from_service else {
            return false;
        };
        is_bucket(bucket) && is_s3_service(service, after)
    })
}

/// Labels of a virtual-hosted bucket name (none for path style).
fn is_bucket(labels: &[&str]) -> bool {
    labels.iter().all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// Whether `service` followed by `after` is the S3 part of an endpoint name.
fn is_s3_service(service: &str, after: &[&str]) -> bool {
    let is_region = |label: &str| Region::parse(label).is_ok();
    match service {
        "s3" | "s3-fips" => match after {
            [] => true,
            [region] => is_region(region),
            ["dualstack", region] => is_region(region),
            _ => false,
        },
        "s3-external-1" => after.is_empty(),
        other => after.is_empty() && other.strip_prefix("s3-").is_some_and(is_region),
    }
}

/// Whether `host` is a loopback address: `localhost`, `127.0.0.0/8` or `::1`.
pub(crate) fn is_loopback<S: AsRef<str>>(host: &Host<S>) -> bool {
    match host {
        Host::Domain(name) => name.as_ref() == "localhost",
        Host::Ipv4(address) => address.is_loopback(),
        Host::Ipv6(address) => address.is_loopback(),
    }
}

pub(super) fn problem(path: impl Into<String>, message: impl Into<String>) -> Error {
    Error::CustomResource(Problem::new(path, message))
}

fn property_path(name: &str) -> String {
    format!("$.ResourceProperties.{name}")
}

fn request_object(request: &Value) -> Result<&Map<String, Value>, Error> {
    request.as_object().ok_or_else(|| {
        problem(
            "$",
            format!("must be a JSON object, not {}", json_type(request)),
        )
    })
}

fn required_str<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str, Error> {
    optional_str(fields, name)?.ok_or_else(|| problem(format!("$.{name}"), "is missing"))
}

/// A string field; absent, `null` and `""` are all `None`.
fn optional_str<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, Error> {
    string_at(fields.get(name), || format!("$.{name}"))
}

/// A string value at `path`; absent, `null` and `""` are all `None`.
fn string_at(value: Option<&Value>, path: impl FnOnce() -> String) -> Result<Option<&str>, Error> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(problem(
            path(),
            format!("must be a string, not {}", json_type(other)),
        )),
    }
}

fn optional_object(
    fields: &Map<String, Value>,
    name: &str,
) -> Result<Option<Map<String, Value>>, Error> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map.clone())),
        Some(other) => Err(problem(
            format!("$.{name}"),
            format!("must be an object, not {}", json_type(other)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CREATE: &str = include_str!("../../../events/custom-resource/create.json");
    const UPDATE: &str = include_str!("../../../events/custom-resource/update.json");
    const DELETE: &str = include_str!("../../../events/custom-resource/delete.json");
    const MISSING_RESPONSE_URL: &str =
        include_str!("../../../events/custom-resource/missing-response-url.json");
    const FOREIGN_RESPONSE_URL: &str =
        include_str!("../../../events/custom-resource/foreign-response-url.json");
    const UNKNOWN_REQUEST_TYPE: &str =
        include_str!("../../../events/custom-resource/unknown-request-type.json");

    fn value(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn request(text: &str) -> Request {
        parse_request(&value(text)).unwrap()
    }

    fn stack_account_id(stack_id: &str) -> Result<AccountId, Error> {
        let mut req = request(CREATE);
        req.reply_to.stack_id = stack_id.to_owned();
        req.stack_account_id()
    }

    fn problem_of(err: Error) -> Problem {
        match err {
            Error::CustomResource(problem) => problem,
            other => panic!("expected a custom resource problem, got {other}"),
        }
    }

    #[test]
    fn create_fixture_is_read() {
        let req = request(CREATE);
        assert_eq!(req.request_type, RequestType::Create);
        assert_eq!(req.resource_type, "Custom::LaceworkSetup");
        assert_eq!(req.logical_resource_id(), "LaceworkSetup");
        assert_eq!(req.physical_resource_id(), None);
        assert_eq!(req.old_resource_properties, None);
        assert!(
            req.service_token
                .as_deref()
                .unwrap()
                .starts_with("arn:aws:lambda:")
        );
        assert_eq!(req.stack_account_id().unwrap().as_str(), "111122223333");
        assert_eq!(req.property_str("TemplateVersion").unwrap(), "1");
        ResponseUrlPolicy::default()
            .check(&req.reply_to.response_url)
            .unwrap();
    }

    #[test]
    fn update_and_delete_fixtures_are_read() {
        let update = request(UPDATE);
        assert_eq!(update.request_type, RequestType::Update);
        assert_eq!(update.physical_resource_id(), Some("lacework-ct-setup"));
        let old = update.old_resource_properties.as_ref().unwrap();
        assert_eq!(old.get("TemplateVersion"), Some(&json!("1")));
        assert_eq!(update.property_str("TemplateVersion").unwrap(), "2");

        let delete = request(DELETE);
        assert_eq!(delete.request_type, RequestType::Delete);
        assert_eq!(delete.physical_resource_id(), Some("lacework-ct-setup"));
        assert!(!delete.is_failed_create_placeholder());
        ResponseUrlPolicy::default()
            .check(&delete.reply_to.response_url)
            .unwrap();
    }

    #[test]
    fn broken_fixtures_name_their_problem() {
        let missing = problem_of(parse_request(&value(MISSING_RESPONSE_URL)).unwrap_err());
        assert_eq!(missing.path, "$.ResponseURL");
        assert_eq!(missing.message, "is missing");

        let unknown = problem_of(parse_request(&value(UNKNOWN_REQUEST_TYPE)).unwrap_err());
        assert_eq!(unknown.path, "$.RequestType");
        assert!(
            unknown.message.contains("\"Replace\""),
            "{}",
            unknown.message
        );
        // It can still be answered.
        let reply_to = ReplyTo::from_value(&value(UNKNOWN_REQUEST_TYPE)).unwrap();
        let body = Response::failure_to(&reply_to, unknown.to_string()).to_json();
        assert_eq!(body["Status"], "FAILED");

        let foreign = request(FOREIGN_RESPONSE_URL);
        let err = ResponseUrlPolicy::default()
            .check(&foreign.reply_to.response_url)
            .unwrap_err()
            .to_string();
        assert!(err.contains("neither an S3 endpoint"), "{err}");
        assert!(!err.contains("X-Amz-Signature="), "{err}");
    }

    #[test]
    fn every_missing_field_is_named() {
        for field in [
            "ResponseURL",
            "StackId",
            "RequestId",
            "LogicalResourceId",
            "RequestType",
            "ResourceType",
        ] {
            let mut req = value(CREATE);
            req.as_object_mut().unwrap().remove(field);
            let problem = problem_of(parse_request(&req).unwrap_err());
            assert_eq!(problem.path, format!("$.{field}"));
            assert_eq!(problem.message, "is missing");
        }
        let mut delete = value(DELETE);
        delete.as_object_mut().unwrap().remove("PhysicalResourceId");
        let problem = problem_of(parse_request(&delete).unwrap_err());
        assert_eq!(problem.path, "$.PhysicalResourceId");
        assert!(problem.message.contains("Delete"), "{}", problem.message);
    }

    #[test]
    fn wrong_shapes_are_named() {
        let problem = problem_of(parse_request(&json!([])).unwrap_err());
        assert_eq!(problem.path, "$");
        assert!(problem.message.contains("an array"));

        let mut req = value(CREATE);
        req["StackId"] = json!(42);
        let problem = problem_of(parse_request(&req).unwrap_err());
        assert_eq!(problem.path, "$.StackId");
        assert_eq!(problem.message, "must be a string, not a number");

        let mut req = value(CREATE);
        req["ResourceProperties"] = json!("x");
        let problem = problem_of(parse_request(&req).unwrap_err());
        assert_eq!(problem.path, "$.ResourceProperties");
    }

    #[test]
    fn typed_property_access() {
        let mut req = request(CREATE);
        req.resource_properties
            .insert("Monitor".into(), json!("TRUE"));
        req.resource_properties.insert("Flag".into(), json!(false));
        req.resource_properties.insert("Empty".into(), json!(""));
        req.resource_properties.insert("Count".into(), json!(3));
        req.resource_properties
            .insert("Audit".into(), json!("444455556666"));
        req.resource_properties
            .insert("Short".into(), json!("4444"));

        assert_eq!(req.optional_property_str("Empty").unwrap(), None);
        assert_eq!(
            req.property_account_id("Audit").unwrap().as_str(),
            "444455556666"
        );

        let problem = problem_of(req.property_str("Absent").unwrap_err());
        assert_eq!(problem.path, "$.ResourceProperties.Absent");
        assert_eq!(problem.message, "is missing");
        let problem = problem_of(req.property_str("Count").unwrap_err());
        assert_eq!(problem.message, "must be a string, not a number");
        let problem = problem_of(req.property_account_id("Short").unwrap_err());
        assert_eq!(problem.path, "$.ResourceProperties.Short");
        assert!(problem.message.contains("4 digits"), "{}", problem.message);
    }

    #[test]
    fn stack_account_comes_from_the_stack_arn() {
        for (arn, account) in [
            (
                "arn:aws:cloudformation:us-east-1:222233334444:stack/name/guid",
                "222233334444",
            ),
            (
                "arn:aws-us-gov:cloudformation:us-gov-west-1:000011112222:stack/s/1",
                "000011112222",
            ),
            (
                "arn:aws-cn:cloudformation:cn-north-1:333344445555:stack/s/1",
                "333344445555",
            ),
        ] {
            assert_eq!(stack_account_id(arn).unwrap().as_str(), account);
        }
        for bad in [
            "",
            "lacework-ct",
            "arn:aws:sqs:us-east-1:222233334444:stack/name/guid",
            "arn:aws:cloudformation:us-east-1:222233334444:stackset/name:guid",
            "arn:aws:cloudformation:us-east-1:22223333:stack/name/guid",
            "arn:aws:cloudformation::222233334444:stack/name/guid",
        ] {
            let problem = problem_of(stack_account_id(bad).unwrap_err());
            assert_eq!(problem.path, "$.StackId", "{bad}");
            assert!(
                problem
                    .message
                    .contains("must be a CloudFormation stack ARN")
            );
        }
    }

    #[test]
    fn success_serializes_to_exactly_cloudformation_fields() {
        let req = request(CREATE);
        let data = BTreeMap::from([("RoleArn".to_owned(), "arn:aws:iam::1:role/r".to_owned())]);
        let body: Value =
            serde_json::from_str(&Response::success(&req, "pid-1", data).to_body()).unwrap();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = vec![
            "Data",
            "LogicalResourceId",
            "PhysicalResourceId",
            "Reason",
            "RequestId",
            "StackId",
            "Status",
        ];
        expected.sort_unstable();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort_unstable();
        assert_eq!(keys_sorted, expected);
        assert_eq!(body["Status"], "SUCCESS");
        assert_eq!(body["Reason"], "Create succeeded");
        assert_eq!(body["PhysicalResourceId"], "pid-1");
        assert_eq!(body["StackId"], req.stack_id());
        assert_eq!(body["RequestId"], req.request_id());
        assert_eq!(body["LogicalResourceId"], "LaceworkSetup");
        assert_eq!(body["Data"]["RoleArn"], "arn:aws:iam::1:role/r");

        let hidden = Response {
            no_echo: true,
            ..Response::success(&req, "pid-1", BTreeMap::new())
        };
        assert_eq!(hidden.to_json()["NoEcho"], true);
    }

    #[test]
    fn a_failed_create_still_has_a_stable_physical_id() {
        let req = request(CREATE);
        let first = Response::failure(&req, None, "boom");
        let second = Response::failure(&req, None, "boom again");
        assert_eq!(first.status, Status::Failed);
        assert_eq!(first.to_json()["Status"], "FAILED");
        assert_eq!(first.to_json()["Data"], json!({}));
        assert!(!first.physical_resource_id.is_empty());
        assert_eq!(first.physical_resource_id, second.physical_resource_id);
        assert!(first.physical_resource_id.contains(req.request_id()));

        // The rollback's Delete recognises it.
        let mut delete = value(DELETE);
        delete["PhysicalResourceId"] = json!(first.physical_resource_id);
        assert!(
            parse_request(&delete)
                .unwrap()
                .is_failed_create_placeholder()
        );

        // Update and Delete failures keep the request's id unless told otherwise.
        let update = request(UPDATE);
        assert_eq!(
            Response::failure(&update, None, "x").physical_resource_id,
            "lacework-ct-setup"
        );
        assert_eq!(
            Response::failure(&update, Some("other"), "x").physical_resource_id,
            "other"
        );
    }

    #[test]
    fn long_reasons_are_truncated_to_fit() {
        let req = request(CREATE);
        for reason in [
            "x".repeat(10_000),
            "é".repeat(5_000),
            "\"quoted\"\n".repeat(2_000),
            "\u{1}".repeat(5_000),
        ] {
            let body = Response::failure(&req, None, reason.clone()).to_body();
            assert!(body.len() <= MAX_RESPONSE_BYTES, "{}", body.len());
            let parsed: Value = serde_json::from_str(&body).unwrap();
            let shown = parsed["Reason"].as_str().unwrap();
            assert!(shown.ends_with(" [truncated]"), "{shown}");
            assert!(
                body.len() > MAX_RESPONSE_BYTES - 16,
                "cut too much: {}",
                body.len()
            );
            assert_eq!(parsed["Status"], "FAILED");
        }
        let short = Response::failure(&req, None, "short").to_body();
        assert!(short.contains("\"Reason\":\"short\""));
    }

    #[test]
    fn oversized_data_becomes_a_failure_that_says_so() {
        let req = request(CREATE);
        let data = BTreeMap::from([("Big".to_owned(), "v".repeat(5_000))]);
        let body = Response::success(&req, "pid", data).to_body();
        assert!(body.len() <= MAX_RESPONSE_BYTES);
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["Status"], "FAILED");
        assert!(parsed["Reason"].as_str().unwrap().contains("Data is"));
        assert_eq!(parsed["PhysicalResourceId"], "pid");
    }

    #[test]
    fn debug_of_a_request_hides_the_presigned_url() {
        let req = request(CREATE);
        let shown = format!("{req:?}");
        assert!(!shown.contains("X-Amz-Signature"), "{shown}");
        assert!(!shown.contains("X-Amz-Credential"), "{shown}");
        assert!(
            shown.contains("cloudformation-custom-resource-response-useast1.s3.amazonaws.com/***")
        );
    }

    const SIGNED: &str = "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc123";

    fn check(url: &str) -> Result<Url, Error> {
        ResponseUrlPolicy::default().check(url)
    }

    #[test]
    fn s3_endpoints_are_accepted() {
        for host in [
            "s3.amazonaws.com",
            "s3.us-west-2.amazonaws.com",
            "s3-us-west-2.amazonaws.com",
            "s3-external-1.amazonaws.com",
            "s3.dualstack.eu-west-1.amazonaws.com",
            "s3-fips.us-gov-west-1.amazonaws.com",
            "s3.us-gov-west-1.amazonaws.com",
            "s3-us-gov-west-1.amazonaws.com",
            "my-bucket.s3.amazonaws.com",
            "my.dotted.bucket.s3.eu-central-1.amazonaws.com",
            "cloudformation-custom-resource-response-useast1.s3.amazonaws.com",
            "cloudformation-custom-resource-response-uswest2.s3-us-west-2.amazonaws.com",
            "cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn",
            "s3.cn-northwest-1.amazonaws.com.cn",
            "S3.AMAZONAWS.COM",
        ] {
            let url = format!("https://{host}/path/obj{SIGNED}");
            assert!(check(&url).is_ok(), "{host}: {:?}", check(&url));
        }
        // SigV2 pre-signatures too.
        check("https://s3.amazonaws.com/b/k?AWSAccessKeyId=AKIA&Expires=1&Signature=xyz%3D")
            .unwrap();
        // Explicit default port is the same URL.
        check(&format!("https://s3.amazonaws.com:443/b/k{SIGNED}")).unwrap();
    }

    #[test]
    fn look_alikes_and_tricks_are_refused() {
        for (url, expected) in [
            (
                format!("https://s3.amazonaws.com.evil.example/x{SIGNED}"),
                "neither an S3",
            ),
            (
                format!("https://evil.com/s3.amazonaws.com{SIGNED}"),
                "neither an S3",
            ),
            (
                format!("https://s3.amazonaws.com@evil.com/{SIGNED}"),
                "user information",
            ),
            (
                format!("https://user:pw@s3.amazonaws.com/{SIGNED}"),
                "user information",
            ),
            (
                format!("https://evil-s3.amazonaws.com/{SIGNED}"),
                "neither an S3",
            ),
            (
                format!("https://s3.evil.amazonaws.com/{SIGNED}"),
                "neither an S3",
            ),
            (
                format!("https://sqs.us-east-1.amazonaws.com/{SIGNED}"),
                "neither an S3",
            ),
            (
                format!("https://s3.amazonaws.com./{SIGNED}"),
                "neither an S3",
            ),
            (format!("https://amazonaws.com/{SIGNED}"), "neither an S3"),
            (
                format!("https://s3.amazonaws.com%2eevil.com/{SIGNED}"),
                "neither an S3",
            ),
            (
                format!("https://evil.com#.s3.amazonaws.com/{SIGNED}"),
                "neither an S3",
            ),
            (
                format!("https://bucket.s3-website-us-east-1.amazonaws.com/{SIGNED}"),
                "neither an S3",
            ),
            (format!("https://52.216.0.1/{SIGNED}"), "neither an S3"),
            (format!("https://127.0.0.1:4567/{SIGNED}"), "neither an S3"),
            (format!("http://s3.amazonaws.com/x{SIGNED}"), "https only"),
            (format!("ftp://s3.amazonaws.com/x{SIGNED}"), "https only"),
            (
                format!("https://s3.amazonaws.com:8443/x{SIGNED}"),
                "port 8443",
            ),
            (
                "https://s3.amazonaws.com/bucket/key".to_owned(),
                "not pre-signed",
            ),
            (
                "https://s3.amazonaws.com/bucket/key?Signature=".to_owned(),
                "not pre-signed",
            ),
            (
                "https://s3.amazonaws.com/X-Amz-Signature=1".to_owned(),
                "not pre-signed",
            ),
            ("not a url".to_owned(), "not a valid URL"),
            ("".to_owned(), "not a valid URL"),
        ] {
            let err = check(&url).unwrap_err();
            assert!(matches!(err, Error::ResponseUrl(_)));
            let message = err.to_string();
            assert!(message.contains(expected), "{url}: {message}");
            assert!(!message.contains("abc123"), "{url}: {message}");
        }
    }

    #[test]
    fn allowed_hosts_are_matched_by_host_and_port() {
        let policy = ResponseUrlPolicy::with_allowed_hosts(vec![
            AllowedHost::parse("127.0.0.1:4567").unwrap(),
            AllowedHost::parse("localhost").unwrap(),
            AllowedHost::parse("callbacks.example.com:8443").unwrap(),
            AllowedHost::parse("[::1]:9000").unwrap(),
        ]);
        policy.check("http://127.0.0.1:4567/answer/1").unwrap();
        policy.check("https://127.0.0.1:4567/answer/1").unwrap();
        policy.check("http://localhost:1234/x").unwrap();
        policy.check("http://LOCALHOST/x").unwrap();
        policy.check("http://[::1]:9000/x").unwrap();
        policy
            .check("https://callbacks.example.com:8443/x")
            .unwrap();
        // S3 still works with extra hosts.
        policy
            .check(&format!("https://s3.amazonaws.com/b/k{SIGNED}"))
            .unwrap();

        for (url, expected) in [
            ("http://127.0.0.1:4568/answer", "https only"),
            ("https://127.0.0.1:4568/answer", "neither an S3"),
            ("http://127.0.0.2:4567/answer", "https only"),
            ("http://callbacks.example.com:8443/x", "only over https"),
            ("https://callbacks.example.com/x", "neither an S3"),
            ("http://user@127.0.0.1:4567/x", "user information"),
        ] {
            let message = policy.check(url).unwrap_err().to_string();
            assert!(message.contains(expected), "{url}: {message}");
        }
    }

    #[test]
    fn allowed_host_entries_are_checked() {
        let host = |text: &str, port| AllowedHost {
            host: url::Host::parse(text).unwrap(),
            port,
        };
        assert_eq!(
            AllowedHost::parse(" 127.0.0.1:4567 ").unwrap(),
            host("127.0.0.1", Some(4567))
        );
        assert_eq!(AllowedHost::parse("[::1]").unwrap(), host("[::1]", None));
        assert!(is_loopback(&AllowedHost::parse("127.0.0.1").unwrap().host));
        assert!(is_loopback(
            &AllowedHost::parse("127.9.9.9:1").unwrap().host
        ));
        assert!(!is_loopback(
            &AllowedHost::parse("example.com").unwrap().host
        ));
        for (bad, expected) in [
            ("", "cannot be empty"),
            ("http://127.0.0.1:4567", "not host or host:port"),
            ("127.0.0.1:4567/x", "not host or host:port"),
            ("user@host", "not host or host:port"),
            ("host:0", "port"),
            ("host:99999", "port"),
            ("host:abc", "port"),
            ("::1", "brackets"),
            ("[::1", "without ']'"),
            ("[::1]x", "after ']'"),
            ("bad_host!:80", "not a host name"),
        ] {
            let reason = AllowedHost::parse(bad).unwrap_err();
            assert!(reason.message.contains(expected), "{bad:?}: {reason}");
        }
    }

    proptest! {
        #[test]
        fn check_never_panics(text in ".{0,200}") {
            let _ = check(&text);
        }

        #[test]
        fn check_never_panics_on_url_like_text(
            host in "[a-z0-9.@:\\[\\]%-]{0,60}",
            path in "[ -~]{0,60}",
        ) {
            let policy = ResponseUrlPolicy::with_allowed_hosts(vec![
                AllowedHost::parse("127.0.0.1:4567").unwrap(),
            ]);
            for scheme in ["https", "http"] {
                let url = format!("{scheme}://{host}/{path}");
                if let Ok(accepted) = policy.check(&url) {
                    let host = accepted.host_str().unwrap_or_default();
                    prop_assert!(
                        host == "127.0.0.1" || host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"),
                        "accepted {}", url
                    );
                }
            }
        }

        #[test]
        fn allowed_host_parse_never_panics(text in ".{0,60}") {
            let _ = AllowedHost::parse(&text);
        }

        #[test]
        fn bodies_always_fit(reason in ".{0,6000}") {
            let req = request(CREATE);
            let body = Response::failure(&req, None, reason).to_body();
            prop_assert!(body.len() <= MAX_RESPONSE_BYTES);
        }
    }
}
