//! `POST /CloudAccounts/search` bodies: filters (`eq`, `in`, `like`) and `returns`.

use serde_json::{Map, Value};

use crate::validate::{Invalid, Object};

/// The fields a filter may name.
pub const FILTER_FIELDS: &[&str] = &["name", "type", "data.awsAccountId"];

/// The top-level record fields `returns` may name.
pub const RETURN_FIELDS: &[&str] = &[
    "intgGuid",
    "name",
    "type",
    "enabled",
    "isOrg",
    "createdOrUpdatedTime",
    "createdOrUpdatedBy",
    "state",
    "data",
];

/// Expressions of the real API that this emulator does not evaluate (they get a clear 400
/// rather than a silently wrong answer).
const UNSUPPORTED_EXPRESSIONS: &[&str] = &[
    "ne",
    "not_in",
    "ilike",
    "not_like",
    "not_ilike",
    "rlike",
    "not_rlike",
    "gt",
    "ge",
    "lt",
    "le",
    "between",
];

/// One filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `field == value`.
    Eq { field: String, value: String },
    /// `field` is one of `values`.
    In { field: String, values: Vec<String> },
    /// SQL `LIKE` where `%` matches any run of characters (case-sensitive).
    Like { field: String, pattern: String },
}

/// A parsed search request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Search {
    /// All must match.
    pub filters: Vec<Filter>,
    /// Fields to keep; empty keeps whole records.
    pub returns: Vec<String>,
}

impl Search {
    /// Parses and checks a search body; a problem names its JSON path.
    pub fn parse(body: &Value) -> Result<Search, Invalid> {
        const ALLOWED: &[&str] = &["filters", "returns"];
        let body = Object::body(body)?;
        match body.unknown(ALLOWED).next() {
            Some(("timeFilter", _)) => {
                return Err(Invalid::field(
                    "$.timeFilter",
                    "not supported for CloudAccounts search by this emulator",
                ));
            }
            Some((_, problem)) => return Err(problem),
            None => {}
        }
        let filters = body
            .array("filters")?
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(index, filter)| parse_filter(format!("$.filters[{index}]"), filter))
            .collect::<Result<_, _>>()?;
        let returns = body
            .array("returns")?
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(index, field)| {
                let path = format!("$.returns[{index}]");
                match field.as_str() {
                    Some(name) if RETURN_FIELDS.contains(&name) => Ok(name.to_string()),
                    Some(name) => Err(Invalid::field(
                        path,
                        format!(
                            "unknown field {name:?} (allowed: {})",
                            RETURN_FIELDS.join(", ")
                        ),
                    )),
                    None => Err(Invalid::kind(path, "a string", field)),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Search { filters, returns })
    }

    /// Whether a rendered record matches every filter.
    #[cfg(test)]
    pub fn matches(&self, record: &Value) -> bool {
        self.matches_fields(|field| field_value(record, field))
    }

    /// Whether a record whose filter fields read as `field` says matches every filter (the
    /// store filters its records before rendering them: a search of a few among thousands
    /// renders only those few).
    pub fn matches_fields<'a>(&self, field: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.filters.iter().all(|filter| filter.matches(&field))
    }

    /// The record cut down to `returns` (the whole record when `returns` is empty).
    pub fn project(&self, record: &Value) -> Value {
        if self.returns.is_empty() {
            return record.clone();
        }
        let mut projected = Map::new();
        for field in &self.returns {
            if let Some(value) = record.get(field) {
                projected.insert(field.clone(), value.clone());
            }
        }
        Value::Object(projected)
    }
}

impl Filter {
    fn matches<'a>(&self, value_of: impl Fn(&str) -> Option<&'a str>) -> bool {
        match self {
            Filter::Eq { field, value } => value_of(field) == Some(value.as_str()),
            Filter::In { field, values } => {
                value_of(field).is_some_and(|actual| values.iter().any(|v| v == actual))
            }
            Filter::Like { field, pattern } => {
                value_of(field).is_some_and(|actual| like(pattern, actual))
            }
        }
    }
}

#[cfg(test)]
fn field_value<'a>(record: &'a Value, field: &str) -> Option<&'a str> {
    let mut current = record;
    for part in field.split('.') {
        current = current.get(part)?;
    }
    current.as_str()
}

fn parse_filter(path: String, filter: &Value) -> Result<Filter, Invalid> {
    let filter = Object::new(path, filter)?;
    filter.only(&["field", "expression", "value", "values"])?;
    let field = match filter.required_string("field")? {
        field if FILTER_FIELDS.contains(&field) => field.to_string(),
        field => {
            return Err(Invalid::field(
                filter.path("field"),
                format!(
                    "cannot filter on {field:?} (allowed: {})",
                    FILTER_FIELDS.join(", ")
                ),
            ));
        }
    };
    let expression = filter.required_string("expression")?;
    let single = || -> Result<String, Invalid> {
        if filter.get("values").is_some() {
            return Err(Invalid::field(
                filter.path("values"),
                format!("expression {expression:?} takes \"value\", not \"values\""),
            ));
        }
        filter.string("value")?.map(str::to_string).ok_or_else(|| {
            Invalid::field(
                filter.path("value"),
                format!("required for expression {expression:?}"),
            )
        })
    };
    match expression {
        "eq" => Ok(Filter::Eq {
            field,
            value: single()?,
        }),
        "like" => Ok(Filter::Like {
            field,
            pattern: single()?,
        }),
        "in" => {
            if filter.get("value").is_some() {
                return Err(Invalid::field(
                    filter.path("value"),
                    "expression \"in\" takes \"values\" (an array), not \"value\"",
                ));
            }
            let path = filter.path("values");
            let values = match filter.array("values")? {
                None => return Err(Invalid::field(path, "required for expression \"in\"")),
                Some(values) if values.is_empty() => {
                    return Err(Invalid::field(path, "must not be empty"));
                }
                Some(values) => values
                    .iter()
                    .enumerate()
                    .map(|(index, value)| {
                        value.as_str().map(str::to_string).ok_or_else(|| {
                            Invalid::kind(format!("{path}[{index}]"), "a string", value)
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            };
            Ok(Filter::In { field, values })
        }
        other if UNSUPPORTED_EXPRESSIONS.contains(&other) => Err(Invalid::field(
            filter.path("expression"),
            format!(
                "{other:?} is a Lacework expression this emulator does not evaluate (supported: eq, in, like)"
            ),
        )),
        other => Err(Invalid::field(
            filter.path("expression"),
            format!("unknown expression {other:?} (supported: eq, in, like)"),
        )),
    }
}

/// SQL `LIKE` with `%` as the only wildcard; everything else is literal and case-sensitive.
pub fn like(pattern: &str, text: &str) -> bool {
    let pieces: Vec<&str> = pattern.split('%').collect();
    let [first, middles @ .., last] = pieces.as_slice() else {
        // No '%' at all: a plain comparison.
        return pattern == text;
    };
    let Some(rest) = text.strip_prefix(first) else {
        return false;
    };
    let Some(mut rest) = rest.strip_suffix(last) else {
        return false;
    };
    for middle in middles {
        match rest.split_once(middle) {
            Some((_, after)) => rest = after,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn like_patterns() {
        assert!(like("abc", "abc"));
        assert!(!like("abc", "abcd"));
        assert!(like("a%", "abc"));
        assert!(like("%c", "abc"));
        assert!(like("%b%", "abc"));
        assert!(like("%", ""));
        assert!(like("a%c%e", "abcde"));
        assert!(!like("a%c%e", "abcd"));
        assert!(!like("ab%bc", "abc"), "pieces may not overlap");
        assert!(like("lw_%", "lw_x"));
        assert!(!like("lw_%", "lwax"), "_ is literal");
        assert!(!like("A%", "abc"), "case-sensitive");
    }

    #[test]
    fn parses_and_matches() {
        let search = Search::parse(&json!({
            "filters": [
                {"field": "type", "expression": "eq", "value": "AwsCfg"},
                {"field": "data.awsAccountId", "expression": "in", "values": ["111111111111", "222222222222"]},
                {"field": "name", "expression": "like", "value": "tower-%"}
            ],
            "returns": ["intgGuid", "name"]
        }))
        .unwrap();
        let record = json!({"intgGuid": "G", "name": "tower-1", "type": "AwsCfg", "data": {"awsAccountId": "222222222222"}});
        assert!(search.matches(&record));
        assert_eq!(
            search.project(&record),
            json!({"intgGuid": "G", "name": "tower-1"})
        );
        let other = json!({"intgGuid": "G", "name": "tower-1", "type": "AwsCfg", "data": {}});
        assert!(!search.matches(&other), "a missing field never matches");
    }

    #[test]
    fn empty_search_matches_everything() {
        let search = Search::parse(&json!({})).unwrap();
        assert!(search.matches(&json!({"name": "x"})));
        assert_eq!(search.project(&json!({"name": "x"})), json!({"name": "x"}));
    }

    #[test]
    fn bad_requests_name_the_field() {
        let cases = [
            (json!([]), "$:"),
            (json!({"filters": {}}), "$.filters"),
            (
                json!({"filters": [{"field": "enabled", "expression": "eq", "value": "1"}]}),
                "$.filters[0].field",
            ),
            (
                json!({"filters": [{"field": "name", "expression": "ne", "value": "x"}]}),
                "$.filters[0].expression",
            ),
            (
                json!({"filters": [{"field": "name", "expression": "zz", "value": "x"}]}),
                "$.filters[0].expression",
            ),
            (
                json!({"filters": [{"field": "name", "expression": "eq"}]}),
                "$.filters[0].value",
            ),
            (
                json!({"filters": [{"field": "name", "expression": "eq", "value": 1}]}),
                "$.filters[0].value",
            ),
            (
                json!({"filters": [{"field": "name", "expression": "in", "value": "x"}]}),
                "$.filters[0].value",
            ),
            (
                json!({"filters": [{"field": "name", "expression": "in", "values": []}]}),
                "$.filters[0].values",
            ),
            (
                json!({"filters": [{"field": "name", "expression": "in", "values": [1]}]}),
                "$.filters[0].values[0]",
            ),
            (
                json!({"filters": [{"field": "name", "expression": "eq", "value": "x", "values": ["x"]}]}),
                "$.filters[0].values",
            ),
            (
                json!({"filters": [{"expression": "eq", "value": "x"}]}),
                "$.filters[0].field",
            ),
            (
                json!({"filters": [{"field": "name", "expression": "eq", "value": "x", "op": 1}]}),
                "$.filters[0].op",
            ),
            (json!({"returns": ["secret"]}), "$.returns[0]"),
            (json!({"returns": "name"}), "$.returns"),
            (json!({"timeFilter": {}}), "$.timeFilter"),
            (json!({"other": 1}), "$.other"),
        ];
        for (body, path) in cases {
            let message = Search::parse(&body).unwrap_err().to_string();
            assert!(
                message.starts_with(path),
                "{message} should start with {path}"
            );
        }
    }
}
