//! The trail bucket's event notifications, for trails without an SNS topic: plain data and the
//! decisions about it, without I/O.
//!
//! `PutBucketNotificationConfiguration` replaces a bucket's whole configuration, and S3 refuses
//! one in which two configurations share an event type for keys that both of their filters
//! can match. So setup reads the configuration, keeps every configuration that is not ours
//! exactly as it is, replaces only ours (found by its Id), checks for an overlap before
//! writing, and writes the result back. Removing ours works the same way.
//!
//! The model holds everything S3's configuration can hold (topic, queue and Lambda
//! configurations with their Ids, events and key filter rules, and EventBridge), so a read
//! and a write change nothing but ours.

use std::fmt;

use crate::naming::NamePrefix;

/// The event setup asks for: every way an object can be created (CloudTrail uses PUT, but a
/// copy or multipart upload is a log file too).
pub const OBJECT_CREATED: &str = "s3:ObjectCreated:*";

/// Where S3 sends the events of one configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// An SNS topic ARN (`TopicConfigurations`).
    Topic(String),
    /// An SQS queue ARN (`QueueConfigurations`).
    Queue(String),
    /// A Lambda function ARN (`LambdaFunctionConfigurations`).
    LambdaFunction(String),
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Topic(arn) => write!(f, "SNS topic {arn}"),
            Self::Queue(arn) => write!(f, "SQS queue {arn}"),
            Self::LambdaFunction(arn) => write!(f, "Lambda function {arn}"),
        }
    }
}

/// One key filter rule: `prefix` or `suffix` (the only names S3 takes; the adapter reads
/// S3's `Prefix` as `prefix`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FilterRule {
    pub name: String,
    pub value: String,
}

impl FilterRule {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// One event notification configuration of a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventNotification {
    /// S3 makes one up when none is given.
    pub id: Option<String>,
    pub destination: Destination,
    /// Such as `s3:ObjectCreated:*` or `s3:ObjectRemoved:Delete`.
    pub events: Vec<String>,
    pub filter_rules: Vec<FilterRule>,
}

impl EventNotification {
    /// The value of the filter rule `name` (`prefix` or `suffix`; S3 ignores case).
    fn rule(&self, name: &str) -> Option<&str> {
        self.filter_rules
            .iter()
            .find(|rule| rule.name.eq_ignore_ascii_case(name))
            .map(|rule| rule.value.as_str())
    }

    /// The key prefix it is filtered on; empty = every key.
    pub fn prefix(&self) -> &str {
        self.rule("prefix").unwrap_or_default()
    }

    /// The key suffix it is filtered on; empty = every key.
    pub fn suffix(&self) -> &str {
        self.rule("suffix").unwrap_or_default()
    }

    /// Whether S3 would refuse this and `other` in the same configuration: a shared event
    /// type for keys both filters can match.
    pub fn overlaps(&self, other: &EventNotification) -> bool {
        let events = self
            .events
            .iter()
            .any(|a| other.events.iter().any(|b| events_overlap(a, b)));
        let (p, q) = (self.prefix(), other.prefix());
        let (s, t) = (self.suffix(), other.suffix());
        events && (p.starts_with(q) || q.starts_with(p)) && (s.ends_with(t) || t.ends_with(s))
    }
}

/// Whether two event types share an event: equal, or one is the other's family wildcard
/// (`s3:ObjectCreated:*` and `s3:ObjectCreated:Put`). The `s3:` is optional, as in S3.
fn events_overlap(a: &str, b: &str) -> bool {
    let a = a.strip_prefix("s3:").unwrap_or(a);
    let b = b.strip_prefix("s3:").unwrap_or(b);
    let covers = |wide: &str, narrow: &str| {
        wide.strip_suffix('*')
            .is_some_and(|family| narrow.starts_with(family))
    };
    a == b || covers(a, b) || covers(b, a)
}

/// A bucket's whole event notification configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationConfiguration {
    /// In S3's order, topics then queues then Lambda functions.
    pub notifications: Vec<EventNotification>,
    /// Whether events also go to Amazon EventBridge.
    pub event_bridge: bool,
}

/// What [`NotificationConfiguration::with`] did to ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Replaced,
    /// Ours was already there, exactly so: nothing to write.
    Unchanged,
}

/// The configuration to write, and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub configuration: NotificationConfiguration,
    pub change: Change,
    /// How many configurations of others are kept as they were.
    pub kept: usize,
}

/// Another configuration that S3 would refuse next to ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    pub theirs: EventNotification,
    pub ours: EventNotification,
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.theirs.id.as_deref().unwrap_or("(no Id)");
        let prefix = match self.theirs.prefix() {
            "" => "every key".to_owned(),
            prefix => format!("keys under {prefix:?}"),
        };
        write!(
            f,
            "the bucket's event notification {id:?} already sends {} for {prefix} to {}, which overlaps {} for keys under {:?}; S3 refuses two configurations that share an event type for overlapping prefixes",
            self.theirs.events.join(", "),
            self.theirs.destination,
            self.ours.events.join(", "),
            self.ours.prefix()
        )
    }
}

impl NotificationConfiguration {
    /// The configuration with Id `id`.
    pub fn find(&self, id: &str) -> Option<&EventNotification> {
        self.notifications
            .iter()
            .find(|n| n.id.as_deref() == Some(id))
    }

    /// This configuration with `ours` in place of the one with the same Id (or added), every
    /// other configuration kept as it is; `Err` names one that S3 would refuse next to ours.
    pub fn with(&self, ours: &EventNotification) -> Result<Merged, Box<Overlap>> {
        let is_ours = |n: &EventNotification| n.id.is_some() && n.id == ours.id;
        if let Some(theirs) = self
            .notifications
            .iter()
            .find(|n| !is_ours(n) && n.overlaps(ours))
        {
            return Err(Box::new(Overlap {
                theirs: theirs.clone(),
                ours: ours.clone(),
            }));
        }
        let mut configuration = self.clone();
        let kept = self.notifications.iter().filter(|n| !is_ours(n)).count();
        let change = match configuration.notifications.iter().position(is_ours) {
            Some(at) if configuration.notifications[at] == *ours => Change::Unchanged,
            Some(at) => {
                // A duplicate Id cannot be written: ours goes where the first one was.
                configuration.notifications.retain(|n| !is_ours(n));
                configuration.notifications.insert(at, ours.clone());
                Change::Replaced
            }
            None => {
                configuration.notifications.push(ours.clone());
                Change::Added
            }
        };
        Ok(Merged {
            configuration,
            change,
            kept,
        })
    }

    /// This configuration without the one(s) with Id `id`; `None` when there is none.
    pub fn without(&self, id: &str) -> Option<NotificationConfiguration> {
        self.find(id)?;
        let mut configuration = self.clone();
        configuration
            .notifications
            .retain(|n| n.id.as_deref() != Some(id));
        Some(configuration)
    }
}

/// The Id of the product's configuration on the trail bucket; stable, so setup finds and
/// replaces its own configuration and nobody else's.
pub fn notification_id(prefix: &NamePrefix) -> String {
    format!("{prefix}-cloudtrail-log-files")
}

/// The key prefix of the trail's log files: `[<key prefix>/]AWSLogs/`.
pub fn log_files_prefix(key_prefix: Option<&str>) -> String {
    match key_prefix
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
    {
        Some(prefix) => format!("{prefix}/AWSLogs/"),
        None => "AWSLogs/".to_owned(),
    }
}

/// The product's configuration: every created object under the log files' prefix to `topic_arn`.
pub fn log_files_notification(
    id: &str,
    topic_arn: &str,
    key_prefix: Option<&str>,
) -> EventNotification {
    EventNotification {
        id: Some(id.to_owned()),
        destination: Destination::Topic(topic_arn.to_owned()),
        events: vec![OBJECT_CREATED.to_owned()],
        filter_rules: vec![FilterRule::new("prefix", log_files_prefix(key_prefix))],
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:222233334444:lacework-ct-s3-notifications";

    fn ours() -> EventNotification {
        log_files_notification("lacework-ct-cloudtrail-log-files", TOPIC, Some("o-abc"))
    }

    fn theirs(id: &str, events: &[&str], rules: &[(&str, &str)]) -> EventNotification {
        EventNotification {
            id: Some(id.to_owned()),
            destination: Destination::Queue("arn:aws:sqs:us-east-1:222233334444:siem".into()),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            filter_rules: rules.iter().map(|(n, v)| FilterRule::new(*n, *v)).collect(),
        }
    }

    #[test]
    fn the_prefix_is_the_log_files_folder() {
        assert_eq!(log_files_prefix(None), "AWSLogs/");
        assert_eq!(log_files_prefix(Some("")), "AWSLogs/");
        assert_eq!(log_files_prefix(Some("o-abc")), "o-abc/AWSLogs/");
        assert_eq!(log_files_prefix(Some("/a/b/")), "a/b/AWSLogs/");
        let id = notification_id(&NamePrefix::parse("acme-lw").unwrap());
        assert_eq!(id, "acme-lw-cloudtrail-log-files");
        assert_eq!(ours().prefix(), "o-abc/AWSLogs/");
        assert_eq!(ours().suffix(), "");
    }

    #[test]
    fn ours_is_added_after_the_others_which_stay_as_they_were() {
        let other = theirs("deleted-files", &["s3:ObjectRemoved:*"], &[]);
        let current = NotificationConfiguration {
            notifications: vec![other.clone()],
            event_bridge: true,
        };
        let merged = current.with(&ours()).unwrap();
        assert_eq!(merged.change, Change::Added);
        assert_eq!(merged.kept, 1);
        assert_eq!(merged.configuration.notifications, [other, ours()]);
        assert!(merged.configuration.event_bridge);

        let again = merged.configuration.with(&ours()).unwrap();
        assert_eq!(again.change, Change::Unchanged);
        assert_eq!(again.configuration, merged.configuration);
    }

    #[test]
    fn ours_is_replaced_in_place() {
        let before = theirs("a", &["s3:ObjectRemoved:*"], &[]);
        let after = theirs("b", &["s3:ObjectTagging:*"], &[]);
        let mut old = ours();
        old.destination = Destination::Topic("arn:aws:sns:us-east-1:1:old".into());
        let current = NotificationConfiguration {
            notifications: vec![before.clone(), old.clone(), after.clone(), old],
            event_bridge: false,
        };
        let merged = current.with(&ours()).unwrap();
        assert_eq!(merged.change, Change::Replaced);
        assert_eq!(merged.configuration.notifications, [before, ours(), after]);
    }

    #[test]
    fn an_overlapping_configuration_is_named() {
        for (events, rules) in [
            (&["s3:ObjectCreated:Put"][..], &[][..]),
            (&["s3:ObjectCreated:*"], &[("Prefix", "o-abc/")]),
            (&["ObjectCreated:*"], &[("prefix", "o-abc/AWSLogs/123")]),
            (&["s3:ObjectCreated:Copy"], &[("Suffix", ".json.gz")]),
        ] {
            let other = theirs("siem-feed", events, rules);
            let current = NotificationConfiguration {
                notifications: vec![other.clone()],
                event_bridge: false,
            };
            let overlap = current.with(&ours()).unwrap_err();
            assert_eq!(overlap.theirs, other);
            let said = overlap.to_string();
            assert!(said.contains("\"siem-feed\""), "{said}");
            assert!(said.contains("\"o-abc/AWSLogs/\""), "{said}");
            assert!(said.contains("SQS queue arn:aws:sqs"), "{said}");
        }
    }

    #[test]
    fn configurations_that_do_not_overlap_are_fine() {
        for (events, rules) in [
            (&["s3:ObjectRemoved:*"][..], &[][..]),
            (&["s3:ObjectCreated:*"], &[("Prefix", "other/")]),
            (&["s3:ObjectCreated:*"], &[("Prefix", "o-abc/Config/")]),
            (&["s3:ObjectRestore:*", "s3:ObjectAcl:Put"], &[]),
        ] {
            let current = NotificationConfiguration {
                notifications: vec![theirs("x", events, rules)],
                event_bridge: false,
            };
            assert!(current.with(&ours()).is_ok(), "{events:?} {rules:?}");
        }
    }

    #[test]
    fn ours_is_removed_and_only_ours() {
        let other = theirs("x", &["s3:ObjectRemoved:*"], &[]);
        let current = NotificationConfiguration {
            notifications: vec![other.clone(), ours()],
            event_bridge: true,
        };
        let id = "lacework-ct-cloudtrail-log-files";
        let left = current.without(id).unwrap();
        assert_eq!(left.notifications, [other]);
        assert!(left.event_bridge);
        assert_eq!(left.without(id), None, "nothing to remove the second time");
    }

    fn event() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("s3:ObjectCreated:*".to_owned()),
            Just("s3:ObjectCreated:Put".to_owned()),
            Just("s3:ObjectRemoved:*".to_owned()),
            Just("s3:ObjectRemoved:Delete".to_owned()),
            Just("s3:ObjectRestore:Post".to_owned()),
            Just("s3:ObjectTagging:*".to_owned()),
        ]
    }

    fn notification() -> impl Strategy<Value = EventNotification> {
        (
            prop_oneof![
                3 => proptest::option::of("[a-z]{1,6}"),
                1 => Just(Some("lacework-ct-cloudtrail-log-files".to_owned())),
            ],
            prop_oneof![
                "[a-z]{1,4}".prop_map(Destination::Topic),
                "[a-z]{1,4}".prop_map(Destination::Queue),
                "[a-z]{1,4}".prop_map(Destination::LambdaFunction),
            ],
            proptest::collection::vec(event(), 1..3),
            proptest::option::of(prop_oneof![
                Just("".to_owned()),
                Just("o-abc/".to_owned()),
                Just("o-abc/AWSLogs/".to_owned()),
                Just("other/".to_owned()),
                Just("AWSLogs/".to_owned()),
            ]),
            proptest::option::of(prop_oneof![
                Just(".gz".to_owned()),
                Just(".json".to_owned())
            ]),
        )
            .prop_map(|(id, destination, events, prefix, suffix)| {
                let mut filter_rules = Vec::new();
                filter_rules.extend(prefix.map(|p| FilterRule::new("Prefix", p)));
                filter_rules.extend(suffix.map(|s| FilterRule::new("Suffix", s)));
                EventNotification {
                    id,
                    destination,
                    events,
                    filter_rules,
                }
            })
    }

    fn configuration() -> impl Strategy<Value = NotificationConfiguration> {
        (
            proptest::collection::vec(notification(), 0..6),
            any::<bool>(),
        )
            .prop_map(|(notifications, event_bridge)| NotificationConfiguration {
                notifications,
                event_bridge,
            })
    }

    proptest! {
        #[test]
        fn merging_keeps_the_others_and_holds_ours_once(current in configuration()) {
            let ours = ours();
            let id = ours.id.clone().unwrap();
            match current.with(&ours) {
                Ok(merged) => {
                    let written = &merged.configuration;
                    prop_assert_eq!(written.event_bridge, current.event_bridge);
                    let count = written.notifications.iter().filter(|n| **n == ours).count();
                    prop_assert_eq!(count, 1);
                    prop_assert!(written.notifications.iter()
                        .all(|n| n.id.as_deref() != Some(id.as_str()) || *n == ours));
                    // The others, in their order, untouched.
                    let others = |c: &NotificationConfiguration| -> Vec<EventNotification> {
                        c.notifications.iter()
                            .filter(|n| n.id.as_deref() != Some(id.as_str()))
                            .cloned().collect()
                    };
                    prop_assert_eq!(others(written), others(&current));
                    prop_assert_eq!(merged.kept, others(&current).len());
                    // What was accepted, S3 accepts: no other overlaps ours.
                    prop_assert!(others(written).iter().all(|n| !n.overlaps(&ours)));
                    // Merging again changes nothing.
                    let again = written.with(&ours).unwrap();
                    prop_assert_eq!(again.change, Change::Unchanged);
                    prop_assert_eq!(&again.configuration, written);
                    // Removing ours leaves exactly the others.
                    let left = written.without(&id).unwrap();
                    prop_assert_eq!(left.notifications, others(&current));
                }
                Err(overlap) => {
                    prop_assert!(overlap.theirs.id.as_deref() != Some(id.as_str()));
                    prop_assert!(overlap.theirs.overlaps(&ours));
                    prop_assert!(current.notifications.contains(&overlap.theirs));
                }
            }
        }

        #[test]
        fn overlap_is_symmetric(a in notification(), b in notification()) {
            prop_assert_eq!(a.overlaps(&b), b.overlaps(&a));
        }
    }
}
