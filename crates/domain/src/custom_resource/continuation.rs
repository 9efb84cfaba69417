//! One custom resource request served by several Lambda invocations.
//!
//! An invocation lasts at most 15 minutes, but the stack waits for the answer up to the
//! resource's `ServiceTimeout` (at most an hour) from the moment it sent the request. Work that
//! outlasts an invocation is handed to a fresh invocation of the same function, asynchronously,
//! with the very request it serves plus a [`Continuation`] record under
//! `$.TowerContinuation`; only the invocation that finishes the work answers. The record says
//! when the first invocation started, so that every invocation knows when the stack stops
//! waiting, and answers FAILED before that rather than hand the work on once more.
//!
//! CloudFormation never sends the field; a request without it is the first invocation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::error::{Error, json_type, quoted};
use crate::json::At;

use super::{Request, problem};

/// The request field that carries the [`Continuation`] record.
pub const CONTINUATION_FIELD: &str = "TowerContinuation";

/// How long the stack waits when the resource sets no `ServiceTimeout`: CloudFormation's
/// default, which is also the most it allows.
pub const MAX_SERVICE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Kept off the stack's wait: the stack's clock starts when CloudFormation sends the request,
/// a little before the first invocation starts its own.
pub const STACK_CLOCK_MARGIN: Duration = Duration::from_secs(30);

/// A record this old (from its first invocation) cannot belong to a stack still waiting: a
/// replayed or forged event.
const OLDEST_RECORD: Duration = Duration::from_secs(2 * 3600);

/// Tolerated difference between two invocations' clocks.
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Which invocation of a request this is, and when the first one started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Continuation {
    /// 1 for CloudFormation's own delivery, then 2, 3, ...
    pub invocation: u32,
    /// When the first invocation started, in milliseconds since the Unix epoch.
    pub first_started_ms: u64,
}

impl Continuation {
    /// The record of CloudFormation's own delivery, starting `now`.
    pub fn first(now: SystemTime) -> Continuation {
        Continuation {
            invocation: 1,
            first_started_ms: millis_since_epoch(now),
        }
    }

    /// The record `request` carries, or a first one starting `now` when it carries none. The
    /// error names the field that is wrong.
    pub fn of_request(request: &Value, now: SystemTime) -> Result<Continuation, Error> {
        let Some(record) = request.get(CONTINUATION_FIELD) else {
            return Ok(Continuation::first(now));
        };
        let record = At::new(
            record,
            format!("$.{CONTINUATION_FIELD}"),
            Error::CustomResource,
        );
        record.object("the record of an earlier invocation")?;
        let number = |name: &str| -> Result<u64, Error> {
            let at = record.required(name)?;
            at.value.as_u64().ok_or_else(|| {
                at.problem(format!("must be a whole number, not {}", shown(at.value)))
            })
        };
        let number_given = number("invocation")?;
        let invocation = u32::try_from(number_given)
            .ok()
            .filter(|n| *n >= 2)
            .ok_or_else(|| {
                record.child_problem(
                    "invocation",
                    format!(
                        "must be 2 or more (the first invocation carries no record), not {number_given}"
                    ),
                )
            })?;
        let first_started_ms = number("firstStartedMs")?;
        let now_ms = millis_since_epoch(now);
        let wrong_start = |why: String| {
            Err(record.child_problem("firstStartedMs", format!("{first_started_ms} {why}")))
        };
        if first_started_ms > now_ms.saturating_add(millis(CLOCK_SKEW)) {
            return wrong_start(format!("is in the future (now is {now_ms})"));
        }
        if now_ms.saturating_sub(first_started_ms) > millis(OLDEST_RECORD) {
            return wrong_start(format!(
                "is more than {} hours ago: no stack waits that long for an answer",
                OLDEST_RECORD.as_secs() / 3600
            ));
        }
        Ok(Continuation {
            invocation,
            first_started_ms,
        })
    }

    /// The record of the invocation that takes over from this one.
    pub fn next(&self) -> Continuation {
        Continuation {
            invocation: self.invocation.saturating_add(1),
            first_started_ms: self.first_started_ms,
        }
    }

    /// `request` with this record in [`CONTINUATION_FIELD`] (replacing any record it had).
    pub fn attach_to(&self, request: &Value) -> Result<Value, Error> {
        let mut request = request.clone();
        let Some(fields) = request.as_object_mut() else {
            return Err(problem(
                "$",
                format!("must be a JSON object, not {}", json_type(&request)),
            ));
        };
        fields.insert(
            CONTINUATION_FIELD.to_owned(),
            json!({
                "invocation": self.invocation,
                "firstStartedMs": self.first_started_ms,
            }),
        );
        Ok(request)
    }

    /// When the first invocation started.
    pub fn first_started(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.first_started_ms)
    }

    /// When the answer must have been sent: the stack stops waiting `service_timeout` after
    /// the request, less [`STACK_CLOCK_MARGIN`].
    pub fn answer_due(&self, service_timeout: Duration) -> SystemTime {
        self.first_started() + service_timeout.saturating_sub(STACK_CLOCK_MARGIN)
    }
}

/// How long the stack waits for the answer: the resource's `ServiceTimeout` property (whole
/// seconds, 1 to 3600, which CloudFormation passes as a string), or an hour when unset.
pub fn service_timeout(request: &Request) -> Result<Duration, Error> {
    const NAME: &str = "ServiceTimeout";
    let path = format!("$.ResourceProperties.{NAME}");
    let value = match request.resource_properties.get(NAME) {
        None | Some(Value::Null) => return Ok(MAX_SERVICE_TIMEOUT),
        Some(Value::String(text)) if text.is_empty() => return Ok(MAX_SERVICE_TIMEOUT),
        Some(value) => value,
    };
    let seconds = match value {
        Value::String(text) => text.parse::<u64>().ok(),
        Value::Number(number) => number.as_u64(),
        _ => None,
    };
    match seconds {
        Some(seconds) if (1..=MAX_SERVICE_TIMEOUT.as_secs()).contains(&seconds) => {
            Ok(Duration::from_secs(seconds))
        }
        _ => Err(problem(
            path,
            format!(
                "must be a whole number of seconds from 1 to {}, not {}",
                MAX_SERVICE_TIMEOUT.as_secs(),
                shown(value)
            ),
        )),
    }
}

/// A number field of a request as messages show it: a string (CloudFormation's form) cut to a
/// readable length, a number as sent, anything else by its JSON type.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => quoted(text),
        Value::Number(number) => number.to_string(),
        other => json_type(other).to_string(),
    }
}

fn millis_since_epoch(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(millis)
        .unwrap_or_default()
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::custom_resource::parse_request;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    const NOW: u64 = 1_795_000_000_000;

    fn request() -> Value {
        json!({
            "RequestType": "Create",
            "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/lacework-ct/6f9a1c20",
            "RequestId": "r-1",
            "LogicalResourceId": "LaceworkSetup",
            "ResourceType": "Custom::LaceworkSetup",
            "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f", "ServiceTimeout": "900"}
        })
    }

    fn path_of(err: Error) -> String {
        match err {
            Error::CustomResource(problem) => problem.path,
            other => panic!("expected a custom resource problem, got {other}"),
        }
    }

    #[test]
    fn a_request_from_cloudformation_is_the_first_invocation() {
        let first = Continuation::of_request(&request(), at(NOW)).unwrap();
        assert_eq!(first.invocation, 1);
        assert_eq!(first.first_started(), at(NOW));
    }

    #[test]
    fn the_record_travels_with_the_request_and_counts_invocations() {
        let first = Continuation::first(at(NOW));
        let handed = first.next().attach_to(&request()).unwrap();
        assert_eq!(
            handed["RequestId"], "r-1",
            "the request itself is unchanged"
        );
        assert_eq!(
            handed[CONTINUATION_FIELD],
            json!({"invocation": 2, "firstStartedMs": NOW})
        );
        let second = Continuation::of_request(&handed, at(NOW + 900_000)).unwrap();
        assert_eq!(second.invocation, 2);
        assert_eq!(second.first_started_ms, NOW);
        let third = second.next().attach_to(&handed).unwrap();
        assert_eq!(third[CONTINUATION_FIELD]["invocation"], 3);
        assert!(parse_request(&third).is_ok(), "still a readable request");
    }

    #[test]
    fn the_answer_is_due_before_the_stack_stops_waiting() {
        let first = Continuation::first(at(NOW));
        assert_eq!(
            first.answer_due(Duration::from_secs(3600)),
            at(NOW + 3_570_000)
        );
        assert_eq!(first.answer_due(Duration::from_secs(10)), at(NOW));
    }

    #[test]
    fn bad_records_name_their_field() {
        let with = |record: Value| {
            let mut request = request();
            request[CONTINUATION_FIELD] = record;
            Continuation::of_request(&request, at(NOW)).unwrap_err()
        };
        assert_eq!(path_of(with(json!("2"))), "$.TowerContinuation");
        assert_eq!(path_of(with(json!([3, NOW]))), "$.TowerContinuation");
        // A forged record's text is shown cut short.
        let long = with(json!({"invocation": "9".repeat(500), "firstStartedMs": NOW}));
        assert!(long.to_string().contains("(500 characters)"), "{long}");
        assert_eq!(
            path_of(with(json!({"firstStartedMs": NOW}))),
            "$.TowerContinuation.invocation"
        );
        assert_eq!(
            path_of(with(json!({"invocation": 1, "firstStartedMs": NOW}))),
            "$.TowerContinuation.invocation"
        );
        assert_eq!(
            path_of(with(json!({"invocation": -2, "firstStartedMs": NOW}))),
            "$.TowerContinuation.invocation"
        );
        assert_eq!(
            path_of(with(json!({"invocation": 2}))),
            "$.TowerContinuation.firstStartedMs"
        );
        let future = with(json!({"invocation": 2, "firstStartedMs": NOW + 3_600_000}));
        assert!(future.to_string().contains("in the future"), "{future}");
        let stale = with(json!({"invocation": 2, "firstStartedMs": NOW - 3 * 3_600_000}));
        assert!(stale.to_string().contains("no stack waits"), "{stale}");
    }

    #[test]
    fn service_timeout_is_read_from_the_properties() {
        let timeout_of = |value: Value| {
            let mut request = request();
            request["ResourceProperties"]["ServiceTimeout"] = value;
            service_timeout(&parse_request(&request).unwrap())
        };
        assert_eq!(timeout_of(json!("900")).unwrap(), Duration::from_secs(900));
        assert_eq!(timeout_of(json!(60)).unwrap(), Duration::from_secs(60));
        assert_eq!(timeout_of(json!("")).unwrap(), MAX_SERVICE_TIMEOUT);
        assert_eq!(timeout_of(Value::Null).unwrap(), MAX_SERVICE_TIMEOUT);
        for bad in [json!("0"), json!("3601"), json!("ten"), json!(true)] {
            let err = timeout_of(bad.clone()).unwrap_err();
            assert_eq!(path_of(err), "$.ResourceProperties.ServiceTimeout", "{bad}");
        }
        // Whatever a template passes, the message shows only the start of it, or its type.
        let long = timeout_of(json!("9".repeat(500))).unwrap_err();
        assert!(long.to_string().contains("(500 characters)"), "{long}");
        assert!(long.to_string().len() < 200, "{long}");
        let object = timeout_of(json!({"seconds": 60})).unwrap_err();
        assert!(object.to_string().ends_with("not an object"), "{object}");
        let zero = timeout_of(json!(0)).unwrap_err();
        assert!(zero.to_string().ends_with("not 0"), "{zero}");
    }

    proptest! {
        #[test]
        fn any_record_read_back_is_the_one_attached(
            invocation in 2u32..10_000,
            age_ms in 0u64..7_200_000,
        ) {
            let record = Continuation { invocation, first_started_ms: NOW - age_ms };
            let handed = record.attach_to(&request()).unwrap();
            prop_assert_eq!(Continuation::of_request(&handed, at(NOW)).unwrap(), record);
        }

        #[test]
        fn any_record_value_is_read_or_refused_without_panicking(
            invocation in any::<i64>(),
            first in any::<i64>(),
        ) {
            let mut request = request();
            request[CONTINUATION_FIELD] = json!({"invocation": invocation, "firstStartedMs": first});
            let _ = Continuation::of_request(&request, at(NOW));
        }
    }
}
