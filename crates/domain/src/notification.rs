//! CloudTrail delivery notifications: the messages that say a new CloudTrail file is in S3.
//!
//! The Audit queue receives one of these documents, either raw (SNS raw message delivery) or
//! inside an SNS envelope:
//!
//! * the trail's own SNS message: `{"s3Bucket": "...", "s3ObjectKey": ["...", ...]}` (keys as
//!   they are);
//! * an S3 event notification: `{"Records": [{"eventName": "ObjectCreated:Put", "s3":
//!   {"bucket": {"name": ...}, "object": {"key": ...}}}]}` (keys URL-encoded, `+` for a space);
//!   records for any event other than `ObjectCreated:*` announce no new file and are skipped;
//! * S3's test event, sent once when a bucket notification is configured:
//!   `{"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "..."}`.
//!
//! Envelopes: an SNS notification as SQS receives it without raw delivery
//! (`{"Type": "Notification", "Message": "<the document as a JSON string>", ...}`), or a Lambda
//! SNS event (`{"Records": [{"EventSource": "aws:sns", "Sns": {"Message": ...}}]}`).
//!
//! Errors name the JSON path of the bad value. Inside an envelope the path goes on into the
//! document that `Message` holds as a string: `$.Message.Records[0].s3.object.key`. A key that is
//! not CloudTrail's is reported the same way, as an [`Error::Notification`] at the key's path,
//! with [`ObjectKey::parse`]'s reason.
//!
//! An SQS event (`Records[].body`) is a batch of separate messages; parse each body on its own
//! (see [`parse_body`]) so one bad message does not fail the others.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Problem};
use crate::json::{At, decode};
use crate::object_key::ObjectKey;

/// What a delivery notification announces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notification {
    /// S3's test event for a newly configured bucket notification: nothing to read.
    Test { bucket: String },
    /// CloudTrail files to read. May be empty: an S3 event about anything but object creation
    /// announces no file.
    Objects(Vec<LogObject>),
}

/// One CloudTrail file in S3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogObject {
    pub bucket: String,
    /// The object key, URL-decoded if it came from an S3 event.
    pub key: String,
    #[serde(flatten)]
    pub object: ObjectKey,
}

/// Reads a delivery notification, raw or in an SNS envelope (see the module documentation).
pub fn parse(input: &Value) -> Result<Notification, Error> {
    document(&At::root(input, Error::Notification), false)
}

/// Reads a notification from message text, such as an SQS message body.
pub fn parse_body(body: &str) -> Result<Notification, Error> {
    parse(&decode(body, "$").map_err(Error::Notification)?)
}

fn problem(path: &str, message: impl Into<String>) -> Error {
    Error::Notification(Problem::new(path, message))
}

/// An optional string member that, when present (even as `null`), must equal `expected`.
fn check_source(object: &At<'_>, name: &str, expected: &str) -> Result<(), Error> {
    if object.value.get(name).is_none() {
        return Ok(());
    }
    match object.required_str(name)? {
        source if source == expected => Ok(()),
        source => Err(object.child_problem(name, format!("is {source:?}, not {expected:?}"))),
    }
}

const SHAPES: &str = "expected an SNS notification (Type, Message), an S3 event (Records[].s3), \
                      CloudTrail's message (s3Bucket, s3ObjectKey) or the S3 test event";

/// A notification document; `in_envelope` when it came out of an SNS message (which never
/// holds another envelope).
fn document(at: &At<'_>, in_envelope: bool) -> Result<Notification, Error> {
    let object = at.object("a delivery notification")?;
    let envelope_in_envelope = || {
        at.problem(
            "is an SNS envelope inside an SNS message; expected the S3 event or CloudTrail's message",
        )
    };
    if object.contains_key("Type") {
        if in_envelope {
            return Err(envelope_in_envelope());
        }
        return sns_message(at);
    }
    if let Some(records) = at.field("Records") {
        let items = records.items()?;
        let Some(first) = items.first() else {
            return Err(records.problem("is empty; a notification names at least one object"));
        };
        let first = first.object("an SNS, SQS or S3 event record")?;
        if first.contains_key("Sns") || first.get("EventSource").is_some_and(|s| s == "aws:sns") {
            if in_envelope {
                return Err(envelope_in_envelope());
            }
            return lambda_sns_event(&items);
        }
        if first.contains_key("body") || first.get("eventSource").is_some_and(|s| s == "aws:sqs") {
            return Err(records.problem(
                "is an SQS event, a batch of separate messages: parse each record's body on its own",
            ));
        }
        return s3_event(&items);
    }
    if object.contains_key("s3Bucket") || object.contains_key("s3ObjectKey") {
        return cloudtrail_message(at);
    }
    if object.contains_key("Event") {
        return s3_test_event(at);
    }
    Err(at.problem(format!(
        "is not a CloudTrail delivery notification: {SHAPES}"
    )))
}

/// An SNS notification (SQS's view, or the `Sns` member of a Lambda SNS record).
fn sns_message(sns: &At<'_>) -> Result<Notification, Error> {
    match sns.required_text("Type")? {
        "Notification" => {}
        kind @ ("SubscriptionConfirmation" | "UnsubscribeConfirmation") => {
            return Err(sns.child_problem(
                "Type",
                format!(
                    "is {kind:?}: SNS asks about the subscription itself; it carries no CloudTrail delivery"
                ),
            ));
        }
        other => {
            return Err(sns.child_problem(
                "Type",
                format!("is {other:?}; an SNS notification has Type \"Notification\""),
            ));
        }
    }
    let message = sns.required("Message")?;
    let inner = message.decoded()?;
    document(&At::new(&inner, message.path, Error::Notification), true)
}

/// A Lambda SNS event. SNS gives Lambda one record at a time, but nothing is lost if there are
/// more: their objects are put together (test events among them add nothing).
fn lambda_sns_event(records: &[At<'_>]) -> Result<Notification, Error> {
    let mut objects = Vec::new();
    let mut test_bucket = None;
    let mut announces_objects = false;
    for record in records {
        record.object("a Lambda SNS record")?;
        check_source(record, "EventSource", "aws:sns")?;
        let sns = record.required("Sns")?;
        sns.object("an SNS message")?;
        match sns_message(&sns)? {
            Notification::Test { bucket } => {
                test_bucket.get_or_insert(bucket);
            }
            Notification::Objects(found) => {
                announces_objects = true;
                objects.extend(found);
            }
        }
    }
    Ok(match test_bucket {
        Some(bucket) if !announces_objects => Notification::Test { bucket },
        _ => Notification::Objects(objects),
    })
}

/// An S3 event notification: every `ObjectCreated:*` record is a new object; other records
/// (removals, restores, replication, ...) announce no new file and are skipped.
fn s3_event(records: &[At<'_>]) -> Result<Notification, Error> {
    let mut objects = Vec::new();
    for record in records {
        record.object("an S3 event record")?;
        check_source(record, "eventSource", "aws:s3")?;
        if !record
            .required_text("eventName")?
            .starts_with("ObjectCreated:")
        {
            continue;
        }
        let s3 = record.required("s3")?;
        s3.object("the record's bucket and object")?;
        let bucket = s3.required("bucket")?;
        bucket.object("a bucket")?;
        let bucket_name = bucket.required_text("name")?;
        let object = s3.required("object")?;
        object.object("an object")?;
        let key_path = format!("{}.key", object.path);
        let key = decode_key(object.required_text("key")?, &key_path)?;
        objects.push(LogObject {
            bucket: bucket_name.to_owned(),
            object: object_key(&key, &key_path)?,
            key,
        });
    }
    Ok(Notification::Objects(objects))
}

/// CloudTrail's own SNS message; its keys are not URL-encoded.
fn cloudtrail_message(message: &At<'_>) -> Result<Notification, Error> {
    let bucket = message.required_text("s3Bucket")?;
    let keys = message.required("s3ObjectKey")?.items()?;
    if keys.is_empty() {
        return Err(message.child_problem(
            "s3ObjectKey",
            "is empty; CloudTrail names at least one object",
        ));
    }
    let mut objects = Vec::with_capacity(keys.len());
    for key_at in &keys {
        let key = key_at.string()?;
        objects.push(LogObject {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            object: object_key(key, &key_at.path)?,
        });
    }
    Ok(Notification::Objects(objects))
}

fn s3_test_event(message: &At<'_>) -> Result<Notification, Error> {
    let event = message.required_text("Event")?;
    if event != "s3:TestEvent" {
        return Err(message.child_problem(
            "Event",
            format!("is {event:?}; the only S3 message of this shape is \"s3:TestEvent\""),
        ));
    }
    check_source(message, "Service", "Amazon S3")?;
    Ok(Notification::Test {
        bucket: message.required_text("Bucket")?.to_owned(),
    })
}

/// S3 event keys are form-encoded: `+` is a space and `%XX` a byte (so `%2B` is a `+`).
fn decode_key(encoded: &str, path: &str) -> Result<String, Error> {
    let spaced = encoded.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| problem(path, format!("{encoded:?} does not decode to UTF-8 text")))
}

fn object_key(key: &str, path: &str) -> Result<ObjectKey, Error> {
    ObjectKey::parse(key).map_err(|err| match err {
        Error::ObjectKey { key, reason } => problem(
            path,
            format!("{key:?} is not a CloudTrail object key: {reason}"),
        ),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::AccountMapping;
    use crate::object_key::LogKind;
    use aws_lambda_events::event::s3::S3Event;
    use aws_lambda_events::event::sns::{SnsEvent, SnsMessage};
    use proptest::prelude::*;
    use serde_json::json;
    use std::path::PathBuf;

    const BUCKET: &str = "aws-controltower-logs-111111111111-us-east-1";

    fn fixtures_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/notifications")
    }

    fn fixture(name: &str) -> Value {
        let text = std::fs::read_to_string(fixtures_dir().join(name))
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{name}: {err}"))
    }

    fn objects(name: &str) -> Vec<LogObject> {
        match parse(&fixture(name)) {
            Ok(Notification::Objects(objects)) => objects,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn problem_of(result: Result<Notification, Error>) -> Problem {
        match result {
            Err(Error::Notification(problem)) => problem,
            other => panic!("expected a notification problem, got {other:?}"),
        }
    }

    #[test]
    fn trail_sns_notification_in_an_sns_envelope() {
        let found = objects("cloudtrail-sns-notification.json");
        assert_eq!(found.len(), 1);
        let log = &found[0];
        assert_eq!(log.bucket, BUCKET);
        assert_eq!(log.object.account.as_str(), "222233334444");
        assert_eq!(log.object.region, "eu-west-1");
        assert_eq!(log.object.organization_id.as_deref(), Some("o-a1b2c3d4e5"));
        assert_eq!(log.object.prefix.as_deref(), Some("o-a1b2c3d4e5"));
        assert_eq!(log.object.kind, LogKind::Log);
        assert_eq!(log.key, log.object.to_key());
    }

    #[test]
    fn trail_sns_notification_raw_lists_every_key() {
        let found = objects("cloudtrail-sns-raw.json");
        let accounts: Vec<(&str, &str)> = found
            .iter()
            .map(|o| (o.object.account.as_str(), o.object.region.as_str()))
            .collect();
        assert_eq!(
            accounts,
            [
                ("222233334444", "us-east-1"),
                ("555566667777", "eu-central-1")
            ]
        );
        assert!(found.iter().all(|o| o.bucket == BUCKET));
    }

    #[test]
    fn s3_event_raw() {
        let found = objects("s3-event-raw.json");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].bucket, BUCKET);
        assert_eq!(found[0].object.account.as_str(), "222233334444");
        assert_eq!(found[0].object.region, "us-east-1");
        assert_eq!(found[0].object.kind, LogKind::Log);
    }

    #[test]
    fn sns_wrapped_s3_event_with_url_encoded_key_gives_account_and_region() {
        let found = objects("s3-event-in-sns.json");
        assert_eq!(found.len(), 1);
        let log = &found[0];
        assert_eq!(log.object.account.as_str(), "222233334444");
        assert_eq!(log.object.region, "ap-southeast-2");
        assert_eq!(log.object.prefix.as_deref(), Some("ct logs:prod+archive"));
        assert!(
            log.key
                .starts_with("ct logs:prod+archive/AWSLogs/222233334444/"),
            "{}",
            log.key
        );
        assert_eq!(log.key, log.object.to_key());
    }

    #[test]
    fn digest_and_insight_objects_carry_their_kind() {
        let digest = objects("s3-event-digest.json");
        assert_eq!(digest[0].object.kind, LogKind::Digest);
        assert_eq!(digest[0].object.region, "us-west-2");
        let insight = objects("lambda-sns-event-s3.json");
        assert_eq!(insight.len(), 1);
        assert_eq!(insight[0].object.kind, LogKind::Insight);
        assert_eq!(insight[0].object.account.as_str(), "222233334444");
        assert_eq!(insight[0].object.region, "ca-central-1");
    }

    #[test]
    fn s3_test_event_raw_and_in_sns() {
        for name in ["s3-test-event.json", "s3-test-event-in-sns.json"] {
            assert_eq!(
                parse(&fixture(name)).unwrap(),
                Notification::Test {
                    bucket: BUCKET.to_owned()
                },
                "{name}"
            );
        }
    }

    #[test]
    fn records_other_than_object_creation_are_skipped() {
        assert_eq!(objects("s3-event-object-removed.json"), Vec::new());
        // Skipped even when the rest of the record would not be a CloudTrail key.
        let mut event = fixture("s3-event-raw.json");
        event["Records"][0]["eventName"] = json!("ObjectRemoved:Delete");
        event["Records"][0]["s3"]["object"]["key"] = json!("anything");
        assert_eq!(parse(&event).unwrap(), Notification::Objects(Vec::new()));
        // A batch keeps its created objects and drops the rest.
        let mut batch = fixture("s3-event-raw.json");
        let created = batch["Records"][0].clone();
        let mut removed = created.clone();
        removed["eventName"] = json!("ObjectRemoved:Delete");
        batch["Records"] = json!([removed, created]);
        assert_eq!(objects_of(&batch).len(), 1);
    }

    fn objects_of(value: &Value) -> Vec<LogObject> {
        match parse(value).unwrap() {
            Notification::Objects(objects) => objects,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn url_decoding_of_s3_keys() {
        assert_eq!(decode_key("ct+logs%3Aprod", "$").unwrap(), "ct logs:prod");
        assert_eq!(decode_key("a%2Bb+c", "$").unwrap(), "a+b c");
        assert_eq!(decode_key("caf%C3%A9", "$").unwrap(), "café");
        assert_eq!(
            decode_key("plain/key.json.gz", "$").unwrap(),
            "plain/key.json.gz"
        );
        let bad = problem_of(decode_key("bad%FF", "$.k").map(|_| Notification::Test {
            bucket: String::new(),
        }));
        assert_eq!(bad.path, "$.k");
        assert!(bad.message.contains("UTF-8"), "{}", bad.message);
    }

    #[test]
    fn cloudtrail_message_keys_are_not_url_decoded() {
        let key = "my+logs/AWSLogs/222233334444/CloudTrail/us-east-1/2024/05/17/222233334444_CloudTrail_us-east-1_20240517T1405Z_Xk2pQ9rT4vLm8NaB.json.gz";
        let found = objects_of(&json!({"s3Bucket": BUCKET, "s3ObjectKey": [key]}));
        assert_eq!(found[0].key, key);
        assert_eq!(found[0].object.prefix.as_deref(), Some("my+logs"));
    }

    #[test]
    fn every_fixture_is_either_good_or_broken_at_its_path() {
        let broken: &[(&str, &str, &str)] = &[
            (
                "broken-sns-message-not-json.json",
                "$.Message",
                "is not JSON",
            ),
            ("broken-sns-missing-message.json", "$.Message", "is missing"),
            (
                "broken-sns-subscription-confirmation.json",
                "$.Type",
                "SubscriptionConfirmation",
            ),
            (
                "broken-s3-event-missing-key.json",
                "$.Records[0].s3.object.key",
                "is missing",
            ),
            (
                "broken-s3-event-config-key.json",
                "$.Records[0].s3.object.key",
                "folder \"Config\" after the account holds no CloudTrail files",
            ),
            (
                "broken-s3-event-file-name-mismatch.json",
                "$.Records[0].s3.object.key",
                "names account \"999988887777\"",
            ),
            (
                "broken-s3-event-in-sns-missing-bucket-name.json",
                "$.Message.Records[0].s3.bucket.name",
                "is missing",
            ),
            (
                "broken-cloudtrail-sns-key-not-string.json",
                "$.s3ObjectKey[1]",
                "must be a string, not a number",
            ),
            (
                "broken-cloudtrail-sns-no-keys.json",
                "$.s3ObjectKey",
                "is empty",
            ),
            (
                "broken-lambda-sns-message-not-string.json",
                "$.Records[0].Sns.Message",
                "must be a string, not an object",
            ),
            (
                "broken-sqs-event.json",
                "$.Records",
                "parse each record's body",
            ),
            (
                "broken-unknown-shape.json",
                "$",
                "is not a CloudTrail delivery notification",
            ),
        ];
        let mut seen = 0;
        for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !name.ends_with(".json") {
                continue;
            }
            seen += 1;
            let result = parse(&fixture(&name));
            if name.starts_with("broken-") {
                let Some((_, path, words)) = broken.iter().find(|(n, _, _)| *n == name) else {
                    panic!("{name} has no expected path in this test");
                };
                let problem = problem_of(result);
                assert_eq!(problem.path, *path, "{name}: {problem}");
                assert!(problem.message.contains(words), "{name}: {problem}");
            } else if name != "object-keys.json" {
                assert!(result.is_ok(), "{name}: {result:?}");
            }
        }
        assert!(seen >= broken.len() + 9, "only {seen} fixtures");
    }

    #[test]
    fn object_key_examples_file() {
        let examples = fixture("object-keys.json");
        for example in examples["valid"].as_array().unwrap() {
            let key = example["key"].as_str().unwrap();
            let parsed = ObjectKey::parse(key).unwrap_or_else(|err| panic!("{err}"));
            let shown = serde_json::to_value(&parsed).unwrap();
            for field in [
                "account",
                "region",
                "kind",
                "date",
                "organization_id",
                "prefix",
            ] {
                assert_eq!(shown[field], example[field], "{key}: {field}");
            }
            assert_eq!(parsed.to_key(), key);
        }
        for example in examples["invalid"].as_array().unwrap() {
            let key = example["key"].as_str().unwrap();
            let reason = match ObjectKey::parse(key) {
                Err(Error::ObjectKey { reason, .. }) => reason,
                other => panic!("{key}: {other:?}"),
            };
            let expected = example["reason_contains"].as_str().unwrap();
            assert!(reason.contains(expected), "{key}: {reason}");
        }
    }

    /// The fixtures have the shapes AWS sends: the typed events of `aws_lambda_events` read them.
    #[test]
    fn fixtures_have_aws_shapes() {
        for name in [
            "s3-event-raw.json",
            "s3-event-digest.json",
            "s3-event-object-removed.json",
        ] {
            serde_json::from_value::<S3Event>(fixture(name))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for name in [
            "cloudtrail-sns-notification.json",
            "s3-event-in-sns.json",
            "s3-test-event-in-sns.json",
        ] {
            let message = serde_json::from_value::<SnsMessage>(fixture(name))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            if name == "s3-event-in-sns.json" {
                serde_json::from_str::<S3Event>(&message.message).unwrap();
            }
        }
        let lambda =
            serde_json::from_value::<SnsEvent>(fixture("lambda-sns-event-s3.json")).unwrap();
        serde_json::from_str::<S3Event>(&lambda.records[0].sns.message).unwrap();
    }

    #[test]
    fn serializes_for_the_cli() {
        let found = objects("s3-event-raw.json");
        let shown = serde_json::to_value(&found[0]).unwrap();
        assert_eq!(shown["bucket"], BUCKET);
        assert_eq!(shown["account"], "222233334444");
        assert_eq!(shown["region"], "us-east-1");
        assert_eq!(shown["kind"], "log");
        assert_eq!(shown["key"], found[0].key.as_str());
        let test = serde_json::to_value(Notification::Test { bucket: "b".into() }).unwrap();
        assert_eq!(test, json!({"test": {"bucket": "b"}}));
    }

    #[test]
    fn smaller_shape_problems_have_paths() {
        let cases = [
            (
                json!([]),
                "$",
                "must be an object (a delivery notification), not an array",
            ),
            (json!({"Records": []}), "$.Records", "is empty"),
            (json!({"Records": {}}), "$.Records", "must be an array"),
            (
                json!({"Records": [{"eventSource": "aws:s3"}]}),
                "$.Records[0].eventName",
                "is missing",
            ),
            (
                json!({"Records": [{"eventSource": "aws:dynamodb", "eventName": "INSERT"}]}),
                "$.Records[0].eventSource",
                "not \"aws:s3\"",
            ),
            (
                json!({"Type": "Notification", "Message": 3}),
                "$.Message",
                "must be a string",
            ),
            (
                json!({"Type": "Receipt", "Message": "{}"}),
                "$.Type",
                "has Type \"Notification\"",
            ),
            (
                json!({"Type": "Notification", "Message": "{\"Type\":\"Notification\",\"Message\":\"{}\"}"}),
                "$.Message",
                "SNS envelope inside an SNS message",
            ),
            (
                json!({"Type": "Notification", "Message": "{\"s3Bucket\":\"b\",\"s3ObjectKey\":[\"x\"]}"}),
                "$.Message.s3ObjectKey[0]",
                "\"x\" is not a CloudTrail object key: has no AWSLogs folder",
            ),
            (
                json!({"Event": "s3:Other", "Bucket": "b"}),
                "$.Event",
                "s3:TestEvent",
            ),
            (
                json!({"Service": "Amazon S3", "Event": "s3:TestEvent"}),
                "$.Bucket",
                "is missing",
            ),
            (json!({"s3ObjectKey": ["x"]}), "$.s3Bucket", "is missing"),
            (
                json!({"Records": [{"EventSource": "aws:sns", "Sns": "x"}]}),
                "$.Records[0].Sns",
                "must be an object",
            ),
        ];
        for (input, path, words) in cases {
            let problem = problem_of(parse(&input));
            assert_eq!(problem.path, path, "{input}: {problem}");
            assert!(problem.message.contains(words), "{input}: {problem}");
        }
    }

    #[test]
    fn body_text_that_is_not_json_is_a_problem_at_the_root() {
        let problem = problem_of(parse_body("{\"Records\": ["));
        assert_eq!(problem.path, "$");
        assert!(problem.message.starts_with("is not JSON"));
        let text = serde_json::to_string(&fixture("s3-event-raw.json")).unwrap();
        assert_eq!(
            parse_body(&text).unwrap(),
            parse(&fixture("s3-event-raw.json")).unwrap()
        );
    }

    #[test]
    fn lambda_event_with_several_records_keeps_every_object() {
        let mut event = fixture("lambda-sns-event-s3.json");
        let record = event["Records"][0].clone();
        let mut test = record.clone();
        test["Sns"]["Message"] =
            json!(serde_json::to_string(&fixture("s3-test-event.json")).unwrap());
        event["Records"] = json!([record.clone(), test.clone(), record]);
        assert_eq!(objects_of(&event).len(), 2);
        event["Records"] = json!([test]);
        assert!(matches!(parse(&event).unwrap(), Notification::Test { .. }));
    }

    #[test]
    fn each_object_goes_to_its_accounts_lacework_account() {
        let mapping = AccountMapping::from_json_str(
            r#"{"defaultLaceworkAccountAws": "main",
                "integration_mappings": {"Payments": {"aws_accounts": ["555566667777"]}}}"#,
        )
        .unwrap();
        let found = objects("cloudtrail-sns-raw.json");
        let routed: Vec<(&str, bool)> = found
            .iter()
            .map(|o| {
                let resolution = mapping.resolve(&o.object.account);
                (resolution.lacework_account, resolution.mapped)
            })
            .collect();
        assert_eq!(routed, [("main", false), ("payments", true)]);
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let words = prop_oneof![
            Just("Records"),
            Just("s3"),
            Just("bucket"),
            Just("object"),
            Just("key"),
            Just("name"),
            Just("eventName"),
            Just("eventSource"),
            Just("Type"),
            Just("Message"),
            Just("Sns"),
            Just("EventSource"),
            Just("s3Bucket"),
            Just("s3ObjectKey"),
            Just("Event"),
            Just("Bucket"),
            Just("Service"),
            Just("body"),
        ]
        .prop_map(str::to_owned);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "\\PC{0,20}".prop_map(Value::from),
            prop_oneof![
                Just("Notification"), Just("aws:s3"), Just("aws:sns"), Just("ObjectCreated:Put"),
                Just("s3:TestEvent"), Just("%FF+%3A"),
                Just("AWSLogs/222233334444/CloudTrail/us-east-1/2024/05/17/222233334444_CloudTrail_us-east-1_20240517T1405Z_Xk2pQ9rT4vLm8NaB.json.gz"),
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(words.clone(), inner.clone(), 0..5)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
                // A message that holds JSON as text, as SNS does.
                inner.prop_map(|value| Value::from(value.to_string())),
            ]
        })
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_errors_have_paths(value in any_json()) {
            match parse(&value) {
                Ok(_) => {}
                Err(Error::Notification(problem)) => prop_assert!(problem.path.starts_with('$')),
                Err(other) => prop_assert!(false, "unexpected error kind: {other}"),
            }
            let wrapped = json!({"Type": "Notification", "Message": value.to_string()});
            let _ = parse(&wrapped);
        }

        #[test]
        fn parse_body_never_panics(body in "\\PC{0,200}") {
            let _ = parse_body(&body);
        }
    }
}
