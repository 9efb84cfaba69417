//! The search call's body (`POST /api/v2/CloudAccounts/search`) and the envelopes of Lacework's
//! answers (`{"data": ...}`, and pages with `paging.urls.nextPage`).

use serde::{Deserialize, Serialize};

/// How a search filter compares (`expression`): the two comparisons this product sends, of
/// the API's `eq`, `ne`, `in`, `not_in`, `like`, `ilike`, `rlike`, `gt`, `between`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expression {
    /// Equal.
    Eq,
    /// One of `values`.
    In,
}

/// One search condition: `field` (a dotted path such as `data.awsAccountId`), how it
/// compares, and one value (`value`, for `eq`) or several (`values`, for `in`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// The field compared: `name`, `type`, or a dotted path such as `data.awsAccountId`.
    pub field: String,
    /// How it is compared.
    pub expression: Expression,
    /// The value, for `eq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// The values, for `in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<serde_json::Value>>,
}

impl Filter {
    /// `field` equals `value`.
    pub fn eq(field: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        Self {
            field: field.into(),
            expression: Expression::Eq,
            value: Some(value.into()),
            values: None,
        }
    }

    /// `field` is one of `values`.
    pub fn any_of<V: Into<serde_json::Value>>(
        field: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        Self {
            field: field.into(),
            expression: Expression::In,
            value: None,
            values: Some(values.into_iter().map(Into::into).collect()),
        }
    }
}

/// The body of `POST /api/v2/CloudAccounts/search`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SearchRequest {
    /// Conditions that must all hold.
    pub filters: Vec<Filter>,
    /// Only these fields of each record (all of them when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returns: Option<Vec<String>>,
}

impl SearchRequest {
    /// A search with these conditions, returning whole records.
    pub fn new(filters: Vec<Filter>) -> Self {
        Self {
            filters,
            returns: None,
        }
    }

    /// Ask for only these fields of each record.
    pub fn returning<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.returns = Some(fields.into_iter().map(Into::into).collect());
        self
    }
}

/// `{"data": ...}`, the envelope of single-record answers.
#[derive(Deserialize)]
pub struct One<T> {
    pub data: T,
}

/// `{"data": [...], "paging": {...}}`, the envelope of list and search answers (a missing
/// `paging`, `urls` or `nextPage` reads as none, as serde reads every absent `Option`).
#[derive(Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub paging: Option<Paging>,
}

#[derive(Deserialize)]
pub struct Paging {
    pub urls: Option<PagingUrls>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PagingUrls {
    pub next_page: Option<String>,
}

impl<T> Page<T> {
    /// The next page's address, if there is one.
    pub fn next_page(&self) -> Option<&str> {
        self.paging
            .as_ref()
            .and_then(|p| p.urls.as_ref())
            .and_then(|u| u.next_page.as_deref())
            .filter(|url| !url.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn search_request_shape() {
        let request = SearchRequest::new(vec![
            Filter::eq("data.awsAccountId", "123456789012"),
            Filter::any_of("type", ["AwsCfg", "AwsCtSqs"]),
        ])
        .returning(["intgGuid", "name"]);
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({
                "filters": [
                    {"field": "data.awsAccountId", "expression": "eq", "value": "123456789012"},
                    {"field": "type", "expression": "in", "values": ["AwsCfg", "AwsCtSqs"]}
                ],
                "returns": ["intgGuid", "name"]
            })
        );
    }

    #[test]
    fn next_page_is_read_from_paging_urls() {
        let page: Page<serde_json::Value> = serde_json::from_value(json!({
            "data": [], "paging": {"rows": 0, "totalRows": 10, "urls": {"nextPage": "https://x/p2"}}
        }))
        .unwrap();
        assert_eq!(page.next_page(), Some("https://x/p2"));
        let last: Page<serde_json::Value> =
            serde_json::from_value(json!({"data": [], "paging": {"urls": {"nextPage": null}}}))
                .unwrap();
        assert_eq!(last.next_page(), None);
        let bare: Page<serde_json::Value> = serde_json::from_value(json!({"data": [1]})).unwrap();
        assert_eq!(bare.next_page(), None);
    }
}
