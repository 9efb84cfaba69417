//! Reading a JSON document whose shape is checked by hand (events and notifications come in
//! several shapes, told apart by which members they have), with every complaint naming its
//! place: `$.Records[0].Sns.Message`. Documents of one fixed shape are read with
//! `serde_path_to_error` instead.

use serde_json::{Map, Value};

use crate::error::{Error, Problem, json_type};

/// A JSON value and where it sits in the input. `wrap` says which input it is
/// ([`Error::Event`], [`Error::Notification`]); children keep it.
pub(crate) struct At<'a> {
    pub value: &'a Value,
    pub path: String,
    wrap: fn(Problem) -> Error,
}

impl<'a> At<'a> {
    /// The document itself, at `$`.
    pub fn root(value: &'a Value, wrap: fn(Problem) -> Error) -> Self {
        Self::new(value, "$".to_owned(), wrap)
    }

    pub fn new(value: &'a Value, path: String, wrap: fn(Problem) -> Error) -> Self {
        Self { value, path, wrap }
    }

    fn child(&self, value: &'a Value, path: String) -> Self {
        Self::new(value, path, self.wrap)
    }

    pub fn problem(&self, message: impl Into<String>) -> Error {
        (self.wrap)(Problem::new(self.path.clone(), message))
    }

    pub fn child_problem(&self, key: &str, message: impl Into<String>) -> Error {
        (self.wrap)(Problem::new(format!("{}.{key}", self.path), message))
    }

    /// The member `key`; `null` counts as absent (CloudTrail writes `"requestParameters": null`).
    pub fn field(&self, key: &str) -> Option<At<'a>> {
        match self.value.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some(self.child(value, format!("{}.{key}", self.path))),
        }
    }

    pub fn required(&self, key: &str) -> Result<At<'a>, Error> {
        match self.value.get(key) {
            None => Err(self.child_problem(key, "is missing")),
            Some(Value::Null) => Err(self.child_problem(key, "is null")),
            Some(value) => Ok(self.child(value, format!("{}.{key}", self.path))),
        }
    }

    pub fn required_str(&self, key: &str) -> Result<&'a str, Error> {
        self.required(key)?.string()
    }

    /// A string member that must not be empty.
    pub fn required_text(&self, key: &str) -> Result<&'a str, Error> {
        let at = self.required(key)?;
        match at.string()? {
            "" => Err(at.problem("is empty")),
            text => Ok(text),
        }
    }

    pub fn optional_str(&self, key: &str) -> Result<Option<&'a str>, Error> {
        self.field(key).map(|at| at.string()).transpose()
    }

    /// This value as an object; `what` says what was expected there.
    pub fn object(&self, what: &str) -> Result<&'a Map<String, Value>, Error> {
        self.value.as_object().ok_or_else(|| {
            self.problem(format!(
                "must be an object ({what}), not {}",
                json_type(self.value)
            ))
        })
    }

    pub fn string(&self) -> Result<&'a str, Error> {
        self.value
            .as_str()
            .ok_or_else(|| self.problem(format!("must be a string, not {}", json_type(self.value))))
    }

    pub fn items(&self) -> Result<Vec<At<'a>>, Error> {
        let items = self.value.as_array().ok_or_else(|| {
            self.problem(format!("must be an array, not {}", json_type(self.value)))
        })?;
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, item)| self.child(item, format!("{}[{i}]", self.path)))
            .collect())
    }

    /// The array member `key`, each item read with `read`; absent counts as empty.
    pub fn list<T>(
        &self,
        key: &str,
        read: fn(&At<'a>) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        match self.field(key) {
            None => Ok(Vec::new()),
            Some(list) => list.items()?.iter().map(read).collect(),
        }
    }

    /// This value, a string, read as the JSON document it holds (an SNS `Message`).
    pub fn decoded(&self) -> Result<Value, Error> {
        decode(self.string()?, &self.path).map_err(self.wrap)
    }
}

/// `text` (found at `path`: an SQS body, an SNS `Message`) read as the JSON document it holds.
/// The text itself is left out of the problem: it may be long, and it is not ours to log.
pub(crate) fn decode(text: &str, path: &str) -> Result<Value, Problem> {
    serde_json::from_str(text).map_err(|err| Problem::new(path, format!("is not JSON ({err})")))
}
