//! CloudTrail object keys: where CloudTrail puts its log, digest and insight files in S3.
//!
//! ```text
//! [prefix/]AWSLogs/[o-orgid/]<account>/<folder>/<region>/<yyyy>/<mm>/<dd>/<file name>
//! ```
//!
//! `<folder>` is `CloudTrail` (log files), `CloudTrail-Digest` (digest files) or
//! `CloudTrail-Insight` (Insights events); the organization folder is there for organization
//! trails (Control Tower's trail also uses the organization id as its key prefix). The file name
//! repeats the account, the region and the date, as CloudTrail documents it:
//!
//! * log and insight: `<account>_CloudTrail_<region>_<YYYYMMDD>T<HHmm>Z_<unique>.json.gz`
//!   (`CloudTrail-Insight` for insights);
//! * digest: `<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<YYYYMMDD>T<HHmmss>Z.json.gz`,
//!   with `_backfill` before `.json.gz` for backfill digests.
//!
//! A file name that disagrees with its folders is refused: such a key was not written by
//! CloudTrail, and trusting either half would route the file to the wrong account.

use serde::{Serialize, Serializer};
use time::macros::format_description;
use time::{Date, PrimitiveDateTime};

use crate::account::AccountId;
use crate::error::Error;
use crate::event::is_lower_alphanumeric;

/// The general shape, quoted in errors so a reader can compare.
const SHAPE: &str = "[prefix/]AWSLogs/[o-orgid/]account/CloudTrail/region/yyyy/mm/dd/file.json.gz";

/// What a CloudTrail object holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogKind {
    /// A log file of management and data events (`CloudTrail` folder).
    Log,
    /// A digest file for log file integrity validation (`CloudTrail-Digest` folder).
    Digest,
    /// A file of Insights events (`CloudTrail-Insight` folder).
    Insight,
}

impl LogKind {
    /// The folder CloudTrail writes this kind of file under; the file name repeats it.
    pub fn folder(self) -> &'static str {
        match self {
            Self::Log => "CloudTrail",
            Self::Digest => "CloudTrail-Digest",
            Self::Insight => "CloudTrail-Insight",
        }
    }

    fn from_folder(folder: &str) -> Option<Self> {
        [Self::Log, Self::Digest, Self::Insight]
            .into_iter()
            .find(|kind| kind.folder() == folder)
    }
}

/// The parts of a CloudTrail object key.
///
/// `date` is the date folder (`yyyy/mm/dd`) as a [`time::Date`]; it serializes as
/// `"YYYY-MM-DD"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectKey {
    /// The trail's S3 key prefix, without the `/` that joins it to `AWSLogs`; `None` when the key
    /// starts with `AWSLogs/`.
    pub prefix: Option<String>,
    /// The organization id folder (`o-...`) of an organization trail.
    pub organization_id: Option<String>,
    /// The AWS account the events belong to.
    pub account: AccountId,
    /// The region the events happened in.
    pub region: String,
    /// The date folder.
    #[serde(serialize_with = "serialize_date")]
    pub date: Date,
    pub kind: LogKind,
    /// The last segment of the key, e.g. `222233334444_CloudTrail_us-east-1_20240517T1405Z_Xk2pQ9rT4vLm8NaB.json.gz`.
    pub file_name: String,
}

impl ObjectKey {
    /// Reads a (URL-decoded) S3 object key. Anything that is not a CloudTrail log, digest or
    /// insight key is an [`Error::ObjectKey`] saying which part is wrong.
    pub fn parse(key: &str) -> Result<Self, Error> {
        if key.is_empty() {
            return Err(not_a_key(key, "is empty"));
        }
        let segments: Vec<&str> = key.split('/').collect();
        // The last `AWSLogs` folder is CloudTrail's: a prefix may contain the word, but nothing
        // CloudTrail writes after it can.
        let Some(logs_at) = segments.iter().rposition(|segment| *segment == "AWSLogs") else {
            return Err(not_a_key(
                key,
                format!("has no AWSLogs folder; CloudTrail keys look like {SHAPE}"),
            ));
        };
        let prefix = (logs_at > 0).then(|| segments[..logs_at].join("/"));

        // The folders after `AWSLogs`, taken one at a time; a missing one is named after the
        // last one there is.
        let mut at = logs_at;
        let mut next = |what: &str| {
            at += 1;
            segments.get(at).copied().ok_or_else(|| {
                let last = segments[at - 1];
                not_a_key(
                    key,
                    format!("ends after {last:?} where the {what} should follow ({SHAPE})"),
                )
            })
        };
        let first = next("account")?;
        let (organization_id, account_folder) = if first.starts_with("o-") {
            check_organization_id(key, first)?;
            (Some(first.to_owned()), next("account")?)
        } else {
            (None, first)
        };
        let account = AccountId::parse(account_folder).map_err(|err| {
            let problem = err.reason();
            not_a_key(
                key,
                format!("account folder {account_folder:?} is not an AWS account id: {problem}"),
            )
        })?;

        let folder = next("CloudTrail folder")?;
        let kind = LogKind::from_folder(folder).ok_or_else(|| {
            not_a_key(
                key,
                format!(
                    "folder {folder:?} after the account holds no CloudTrail files \
                 (expected CloudTrail, CloudTrail-Digest or CloudTrail-Insight)"
                ),
            )
        })?;
        let region = next("region")?;
        if !is_region(region) {
            return Err(not_a_key(
                key,
                format!("region folder {region:?} is not an AWS region name (like us-east-1)"),
            ));
        }
        let year = next("year")?;
        let month = next("month")?;
        let day = next("day")?;
        let date = folder_date(key, year, month, day)?;
        let file_name = next("file name")?;
        if let Some(extra) = segments.get(at + 1) {
            return Err(not_a_key(
                key,
                format!(
                    "has more folders than CloudTrail writes: {file_name:?} is followed by {extra:?} ({SHAPE})"
                ),
            ));
        }
        check_file_name(key, file_name, kind, &account, region, date)?;

        Ok(ObjectKey {
            prefix,
            organization_id,
            account,
            region: region.to_owned(),
            date,
            kind,
            file_name: file_name.to_owned(),
        })
    }
}

fn serialize_date<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&date_text(*date))
}

fn date_text(date: Date) -> String {
    // A date of nothing but a year, month and day always formats.
    date.format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

/// Why `key` is not a CloudTrail object key.
fn not_a_key(key: &str, reason: impl Into<String>) -> Error {
    Error::ObjectKey {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// AWS Organizations ids: `o-` and 10 to 32 lower-case letters or digits.
fn check_organization_id(key: &str, folder: &str) -> Result<(), Error> {
    let tail = folder.strip_prefix("o-").unwrap_or(folder);
    if is_lower_alphanumeric(tail, 10, 32) {
        Ok(())
    } else {
        Err(not_a_key(
            key,
            format!(
                "organization folder {folder:?} is not an organization id \
             (o- and 10 to 32 lower-case letters or digits)"
            ),
        ))
    }
}

/// Region names: lower-case words joined by `-`, ending in a number (`us-east-1`,
/// `us-gov-west-1`, `cn-north-1`).
fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let words = parts.len().saturating_sub(1);
    parts.len() >= 3
        && parts
            .iter()
            .take(words)
            .all(|word| !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

fn folder_date(key: &str, year: &str, month: &str, day: &str) -> Result<Date, Error> {
    let is_yyyy_mm_dd = [(year, 4), (month, 2), (day, 2)]
        .iter()
        .all(|(text, width)| text.len() == *width && text.bytes().all(|b| b.is_ascii_digit()));
    if !is_yyyy_mm_dd {
        return Err(not_a_key(
            key,
            format!("date folders {year:?}/{month:?}/{day:?} are not yyyy/mm/dd"),
        ));
    }
    Date::parse(
        &format!("{year}{month}{day}"),
        format_description!("[year][month][day]"),
    )
    .map_err(|_| {
        not_a_key(
            key,
            format!("date folders {year}/{month}/{day} are not a real date"),
        )
    })
}

/// The date of a file-name time stamp: `YYYYMMDDTHHmmZ`, or `YYYYMMDDTHHmmssZ` for digests.
fn stamp_date(stamp: &str, with_seconds: bool) -> Option<Date> {
    let format = if with_seconds {
        format_description!("[year][month][day]T[hour][minute][second]Z")
    } else {
        format_description!("[year][month][day]T[hour][minute]Z")
    };
    // `time` would take a sign before the year; CloudTrail writes none.
    if !stamp.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    PrimitiveDateTime::parse(stamp, format)
        .ok()
        .map(PrimitiveDateTime::date)
}

fn is_unique_part(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Trail names: letters, digits, `.`, `_` and `-`.
pub(crate) fn is_trail_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Checks that the file name is the one CloudTrail writes in these folders.
fn check_file_name(
    key: &str,
    name: &str,
    kind: LogKind,
    account: &AccountId,
    region: &str,
    date: Date,
) -> Result<(), Error> {
    if name.is_empty() {
        return Err(not_a_key(
            key,
            "has an empty file name (the key ends with \"/\")",
        ));
    }
    let word = kind.folder();
    let expected = match kind {
        LogKind::Log | LogKind::Insight => {
            format!("{account}_{word}_{region}_YYYYMMDDTHHmmZ_<unique>.json.gz")
        }
        LogKind::Digest => {
            format!("{account}_{word}_{region}_<trail>_<home region>_YYYYMMDDTHHmmssZ.json.gz")
        }
    };
    let wrong = |problem: String| {
        not_a_key(
            key,
            format!("file name {name:?} {problem}; CloudTrail names this file {expected}"),
        )
    };

    let stem = name
        .strip_suffix(".json.gz")
        .ok_or_else(|| wrong("does not end with .json.gz".to_owned()))?;
    let mut parts = stem.splitn(4, '_');
    let (Some(file_account), Some(file_word), Some(file_region), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(wrong("does not have CloudTrail's parts".to_owned()));
    };
    if file_account != account.as_str() {
        return Err(wrong(format!(
            "names account {file_account:?} but lies in account {account}'s folder"
        )));
    }
    if file_word != word {
        return Err(wrong(format!(
            "says {file_word:?} but lies in the {word} folder"
        )));
    }
    if file_region != region {
        return Err(wrong(format!(
            "names region {file_region:?} but lies in the {region} folder"
        )));
    }
    let stamp = match kind {
        LogKind::Log | LogKind::Insight => {
            let Some((stamp, unique)) = rest.split_once('_') else {
                return Err(wrong("has no unique part after the time".to_owned()));
            };
            if !is_unique_part(unique) {
                return Err(wrong(format!(
                    "has unique part {unique:?}; CloudTrail uses letters and digits only"
                )));
            }
            stamp
        }
        LogKind::Digest => {
            let rest = rest.strip_suffix("_backfill").unwrap_or(rest);
            let Some((trail_and_home, stamp)) = rest.rsplit_once('_') else {
                return Err(wrong("has no time".to_owned()));
            };
            let Some((trail, home)) = trail_and_home.rsplit_once('_') else {
                return Err(wrong("has no trail name and home region".to_owned()));
            };
            if !is_trail_name(trail) {
                return Err(wrong(format!(
                    "has trail name {trail:?}, which no trail can have"
                )));
            }
            if !is_region(home) {
                return Err(wrong(format!(
                    "has home region {home:?}, which is not a region name"
                )));
            }
            stamp
        }
    };
    let file_date = stamp_date(stamp, kind == LogKind::Digest)
        .ok_or_else(|| wrong(format!("has time {stamp:?}, which is not a UTC time stamp")))?;
    if file_date != date {
        return Err(wrong(format!(
            "is dated {} but lies in the {} folder",
            date_text(file_date),
            date_text(date)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    impl ObjectKey {
        /// The S3 object key these parts make (only tests build keys);
        /// `ObjectKey::parse(&k.to_key())` gives `k` back.
        pub(crate) fn to_key(&self) -> String {
            let date = date_text(self.date).replace('-', "/");
            let folders = [
                self.prefix.as_deref(),
                Some("AWSLogs"),
                self.organization_id.as_deref(),
                Some(self.account.as_str()),
                Some(self.kind.folder()),
                Some(&self.region),
                Some(&date),
                Some(&self.file_name),
            ];
            folders.into_iter().flatten().collect::<Vec<_>>().join("/")
        }
    }

    const LOG: &str = "AWSLogs/222233334444/CloudTrail/us-east-1/2024/05/17/222233334444_CloudTrail_us-east-1_20240517T1405Z_Xk2pQ9rT4vLm8NaB.json.gz";
    const CONTROL_TOWER_LOG: &str = "o-a1b2c3d4e5/AWSLogs/o-a1b2c3d4e5/222233334444/CloudTrail/eu-west-1/2024/05/17/222233334444_CloudTrail_eu-west-1_20240517T2355Z_Qm7HkS2dPw9ZbR4t.json.gz";
    const DIGEST: &str = "AWSLogs/o-a1b2c3d4e5/222233334444/CloudTrail-Digest/us-west-2/2024/05/17/222233334444_CloudTrail-Digest_us-west-2_aws-controltower-BaselineCloudTrail_us-east-1_20240517T150131Z.json.gz";
    const INSIGHT: &str = "trails/prod/AWSLogs/222233334444/CloudTrail-Insight/ca-central-1/2024/05/17/222233334444_CloudTrail-Insight_ca-central-1_20240517T0516Z_KL5e9VCV2SS7IqzB.json.gz";

    fn reason(key: &str) -> String {
        match ObjectKey::parse(key) {
            Err(Error::ObjectKey {
                key: echoed,
                reason,
            }) => {
                assert_eq!(echoed, key);
                reason
            }
            other => panic!("{key:?} gave {other:?}"),
        }
    }

    #[test]
    fn log_key_without_prefix_or_organization() {
        let key = ObjectKey::parse(LOG).unwrap();
        assert_eq!(key.prefix, None);
        assert_eq!(key.organization_id, None);
        assert_eq!(key.account.as_str(), "222233334444");
        assert_eq!(key.region, "us-east-1");
        assert_eq!(key.date, date!(2024 - 05 - 17));
        assert_eq!(key.kind, LogKind::Log);
        assert_eq!(
            key.file_name,
            "222233334444_CloudTrail_us-east-1_20240517T1405Z_Xk2pQ9rT4vLm8NaB.json.gz"
        );
        assert_eq!(key.to_key(), LOG);
    }

    #[test]
    fn control_tower_key_has_the_organization_as_prefix_and_folder() {
        let key = ObjectKey::parse(CONTROL_TOWER_LOG).unwrap();
        assert_eq!(key.prefix.as_deref(), Some("o-a1b2c3d4e5"));
        assert_eq!(key.organization_id.as_deref(), Some("o-a1b2c3d4e5"));
        assert_eq!(key.region, "eu-west-1");
        assert_eq!(key.to_key(), CONTROL_TOWER_LOG);
    }

    #[test]
    fn digest_key_with_organization_and_no_prefix() {
        let key = ObjectKey::parse(DIGEST).unwrap();
        assert_eq!(key.kind, LogKind::Digest);
        assert_eq!(key.prefix, None);
        assert_eq!(key.organization_id.as_deref(), Some("o-a1b2c3d4e5"));
        assert_eq!(key.region, "us-west-2");
        assert_eq!(key.to_key(), DIGEST);
    }

    #[test]
    fn backfill_digest_is_a_digest() {
        let backfill = DIGEST.replace("150131Z.json.gz", "150131Z_backfill.json.gz");
        assert_eq!(ObjectKey::parse(&backfill).unwrap().kind, LogKind::Digest);
    }

    #[test]
    fn digest_of_a_trail_whose_name_has_underscores() {
        let key = "AWSLogs/222233334444/CloudTrail-Digest/us-east-1/2024/05/17/222233334444_CloudTrail-Digest_us-east-1_my_org_trail_us-east-1_20240517T150131Z.json.gz";
        assert_eq!(ObjectKey::parse(key).unwrap().kind, LogKind::Digest);
    }

    #[test]
    fn insight_key_with_a_multi_folder_prefix() {
        let key = ObjectKey::parse(INSIGHT).unwrap();
        assert_eq!(key.kind, LogKind::Insight);
        assert_eq!(key.prefix.as_deref(), Some("trails/prod"));
        assert_eq!(key.region, "ca-central-1");
        assert_eq!(key.to_key(), INSIGHT);
    }

    #[test]
    fn partitions_other_than_aws_have_regions_too() {
        for region in ["us-gov-west-1", "cn-north-1", "us-isob-east-1"] {
            let key = LOG.replace("us-east-1", region);
            assert_eq!(ObjectKey::parse(&key).unwrap().region, region);
        }
    }

    #[test]
    fn a_prefix_may_itself_contain_awslogs() {
        let key = format!("AWSLogs/{LOG}");
        let parsed = ObjectKey::parse(&key).unwrap();
        assert_eq!(parsed.prefix.as_deref(), Some("AWSLogs"));
        assert_eq!(parsed.to_key(), key);
    }

    #[test]
    fn serializes_kind_and_date_as_words() {
        let value = serde_json::to_value(ObjectKey::parse(DIGEST).unwrap()).unwrap();
        assert_eq!(value["kind"], "digest");
        assert_eq!(value["date"], "2024-05-17");
        assert_eq!(value["account"], "222233334444");
        assert_eq!(value["organization_id"], "o-a1b2c3d4e5");
        assert_eq!(value["prefix"], serde_json::Value::Null);
        let kinds: Vec<String> = [LogKind::Log, LogKind::Digest, LogKind::Insight]
            .iter()
            .map(|k| {
                serde_json::to_value(k)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(kinds, ["log", "digest", "insight"]);
    }

    #[test]
    fn keys_that_are_not_cloudtrail_say_what_is_wrong() {
        let cases = [
            ("", "is empty"),
            ("reports/2024/summary.csv", "no AWSLogs folder"),
            (
                "o-a1b2c3d4e5/AWSLogs/222233334444/Config/us-east-1/2024/5/17/ConfigHistory/x.json.gz",
                "folder \"Config\" after the account holds no CloudTrail files",
            ),
            (
                "AWSLogs/o-A1/222233334444/CloudTrail/us-east-1/2024/05/17/x.json.gz",
                "organization folder \"o-A1\"",
            ),
            (
                "AWSLogs/22223333444/CloudTrail/us-east-1/2024/05/17/x.json.gz",
                "has 11 digits",
            ),
            (
                "AWSLogs/222233334444/CloudTrail/us-east-1",
                "where the year should follow",
            ),
            ("AWSLogs/222233334444/", "folder \"\" after the account"),
            ("AWSLogs//CloudTrail", "account folder \"\""),
            (
                "AWSLogs/222233334444",
                "where the CloudTrail folder should follow",
            ),
            (
                "AWSLogs/222233334444/CloudTrail/US-EAST-1/2024/05/17/x.json.gz",
                "region folder \"US-EAST-1\"",
            ),
            (
                "AWSLogs/222233334444/CloudTrail/us-east-1/2024/5/17/x.json.gz",
                "are not yyyy/mm/dd",
            ),
            (
                "AWSLogs/222233334444/CloudTrail/us-east-1/2024/02/30/x.json.gz",
                "2024/02/30 are not a real date",
            ),
            (
                "AWSLogs/222233334444/CloudTrail/us-east-1/2024/05/17/",
                "empty file name",
            ),
            (
                &format!("{LOG}/extra"),
                "more folders than CloudTrail writes",
            ),
            (
                &LOG.replace(".json.gz", ".json"),
                "does not end with .json.gz",
            ),
        ];
        for (key, expected) in cases {
            let reason = reason(key);
            assert!(reason.contains(expected), "{key:?}: {reason}");
        }
    }

    #[test]
    fn file_name_must_agree_with_its_folders() {
        let cases = [
            (
                LOG.replacen("/222233334444_", "/999988887777_", 1),
                "names account \"999988887777\"",
            ),
            (
                LOG.replacen("_us-east-1_", "_us-west-2_", 1),
                "names region \"us-west-2\"",
            ),
            (
                LOG.replacen("20240517T", "20240516T", 1),
                "is dated 2024-05-16 but lies in the 2024-05-17 folder",
            ),
            (
                LOG.replacen("_CloudTrail_", "_CloudTrail-Digest_", 1),
                "says \"CloudTrail-Digest\" but lies in the CloudTrail folder",
            ),
            (LOG.replacen("T1405Z", "T2505Z", 1), "not a UTC time stamp"),
            (LOG.replacen("T1405Z", "T14059Z", 1), "not a UTC time stamp"),
            (
                LOG.replacen("_20240517T", "_+20240517T", 1),
                "not a UTC time stamp",
            ),
            (LOG.replacen("_Xk2pQ9rT4vLm8NaB", "", 1), "no unique part"),
            (
                LOG.replacen("Xk2pQ9rT4vLm8NaB", "Xk2p-Q9", 1),
                "unique part",
            ),
            (
                DIGEST.replacen("T150131Z", "T1501Z", 1),
                "not a UTC time stamp",
            ),
            (
                DIGEST.replacen("_us-east-1_2024", "_nowhere_2024", 1),
                "home region",
            ),
            (
                DIGEST.replacen("aws-controltower-BaselineCloudTrail_", "", 1),
                "has no trail name and home region",
            ),
        ];
        for (key, expected) in cases {
            let reason = reason(&key);
            assert!(reason.contains(expected), "{key:?}: {reason}");
            assert!(reason.contains("CloudTrail names this file"), "{reason}");
        }
    }

    #[test]
    fn error_names_the_key() {
        let err = ObjectKey::parse("notes.txt").unwrap_err().to_string();
        assert!(
            err.starts_with("not a CloudTrail object key: \"notes.txt\": "),
            "{err}"
        );
    }

    fn valid_key() -> impl Strategy<Value = ObjectKey> {
        let prefix = proptest::option::of("[A-Za-z0-9 ._:-]{1,12}(/[A-Za-z0-9 ._-]{1,8}){0,2}");
        let organization = proptest::option::of("o-[a-z0-9]{10,32}");
        let account = "[0-9]{12}";
        let region = "[a-z]{2}(-[a-z]{2,9}){1,2}-[0-9]{1,2}";
        let date = (0i32..60_000).prop_map(|n| Date::from_julian_day(2_440_588 + n).unwrap());
        let kind = prop_oneof![
            Just(LogKind::Log),
            Just(LogKind::Digest),
            Just(LogKind::Insight)
        ];
        let hour_minute_second = (0u8..24, 0u8..60, 0u8..60);
        let unique = "[A-Za-z0-9]{16}";
        let trail = "[A-Za-z0-9][A-Za-z0-9._-]{0,30}";
        let backfill = any::<bool>();
        (
            (prefix, organization, account, region, date, kind),
            (hour_minute_second, unique, trail, region, backfill),
        )
            .prop_map(
                |(
                    (prefix, organization_id, account, region, date, kind),
                    ((h, m, s), unique, trail, home, backfill),
                )| {
                    let day = format!(
                        "{:04}{:02}{:02}",
                        date.year(),
                        u8::from(date.month()),
                        date.day()
                    );
                    let word = kind.folder();
                    let file_name = match kind {
                        LogKind::Digest => format!(
                            "{account}_{word}_{region}_{trail}_{home}_{day}T{h:02}{m:02}{s:02}Z{}.json.gz",
                            if backfill { "_backfill" } else { "" }
                        ),
                        _ => format!("{account}_{word}_{region}_{day}T{h:02}{m:02}Z_{unique}.json.gz"),
                    };
                    ObjectKey {
                        prefix,
                        organization_id,
                        account: AccountId::parse(&account).unwrap(),
                        region,
                        date,
                        kind,
                        file_name,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn valid_keys_round_trip(key in valid_key()) {
            let text = key.to_key();
            prop_assert_eq!(ObjectKey::parse(&text).unwrap(), key);
        }

        #[test]
        fn parse_never_panics_and_what_it_accepts_round_trips(text in "\\PC{0,200}") {
            if let Ok(key) = ObjectKey::parse(&text) {
                prop_assert_eq!(key.to_key(), text);
            }
        }

        #[test]
        fn damaged_keys_never_panic(key in valid_key(), at in any::<prop::sample::Index>(), with in "[\\PC/_.]{0,3}") {
            let text = key.to_key();
            let cut = at.index(text.len() + 1);
            // Cut on a character boundary (prefixes may hold non-ASCII).
            let cut = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            let damaged = format!("{}{}{}", &text[..cut], with, &text[cut..].chars().skip(1).collect::<String>());
            if let Ok(parsed) = ObjectKey::parse(&damaged) {
                prop_assert_eq!(parsed.to_key(), damaged);
            }
        }
    }
}
