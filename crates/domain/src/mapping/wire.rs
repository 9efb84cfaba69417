//! Lacework's encoding of a mapping file in an integration's `data.accountMappingFile`: a
//! `data:` URL (RFC 2397) holding the JSON in standard base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use serde_json::Value;

use super::{
    AWS_ACCOUNTS_FIELD, AccountMapping, MAPPINGS_FIELD, json_document, member_path, quoted,
};
use crate::error::{Error, Problem};

/// What Lacework's own clients put before the base64 of the mapping file.
pub const WIRE_PREFIX: &str = "data:application/json;name=i.json;base64,";

/// The same data URL without its `name=` parameter. RFC 2397 makes parameters optional and
/// `name` only labels the payload as a file, so a value written by another client without it
/// means the same document; it is the only variation accepted.
const PREFIX_WITHOUT_NAME: &str = "data:application/json;base64,";

/// The path given to problems with the encoding (as opposed to the decoded document).
const WIRE_PATH: &str = "accountMappingFile";

impl AccountMapping {
    /// The mapping as Lacework stores it in `data.accountMappingFile`:
    /// [`WIRE_PREFIX`] followed by the standard base64 (with padding) of the compact JSON of
    /// [`to_value`](Self::to_value). Deterministic: equal mappings give equal strings.
    pub fn to_wire(&self) -> String {
        // `Value`'s `Display` is compact JSON; the model's ordered maps fix the key order.
        let json = self.to_value().to_string();
        format!("{WIRE_PREFIX}{}", STANDARD.encode(json))
    }

    /// Reads `data.accountMappingFile` as Lacework returns it. A wrong prefix, bad base64,
    /// text that is not UTF-8 or JSON, or an invalid mapping is an [`Error::Mapping`]; problems
    /// with the encoding itself have the path `accountMappingFile`, problems inside the decoded
    /// document have JSON paths as for [`from_json_str`](Self::from_json_str).
    pub fn from_wire(wire: &str) -> Result<AccountMapping, Error> {
        // Surrounding whitespace comes from files and copy-paste, never from the encoding.
        let wire = wire.trim();
        if wire.is_empty() {
            return Err(problem(
                "is empty: there is no account mapping file to decode",
            ));
        }
        let payload = wire
            .strip_prefix(WIRE_PREFIX)
            .or_else(|| wire.strip_prefix(PREFIX_WITHOUT_NAME))
            .ok_or_else(|| {
                problem(format!(
                    "is not a Lacework account mapping file: it must start with {WIRE_PREFIX:?}, \
                     found {}",
                    quoted(wire)
                ))
            })?;
        if payload.is_empty() {
            return Err(problem(
                "has nothing after the prefix; the base64 of the mapping file is missing",
            ));
        }
        AccountMapping::from_json_str(&decoded_text(payload)?)
    }

    /// Reads `data.accountMappingFile` as Lacework holds it, which may be less strict than
    /// what this product writes: any `data:...,` prefix, and AWS account ids of fewer than 12
    /// digits (as in Lacework's own examples), read with their leading zeros restored. Returns
    /// the mapping with the problems that were healed, to be reported. Writing stays strict
    /// ([`to_wire`](Self::to_wire)); what cannot be healed is an error as for
    /// [`from_wire`](Self::from_wire). The prefix rule is the Go SDK's (it decodes whatever
    /// follows the first comma); Lacework's own examples use 9-digit ids.
    pub fn from_wire_lenient(wire: &str) -> Result<(AccountMapping, Vec<Problem>), Error> {
        let wire = wire.trim();
        let mut healed = Vec::new();
        let payload = match wire.strip_prefix(WIRE_PREFIX) {
            Some(payload) => payload,
            None => match wire.split_once(',') {
                Some((prefix, payload)) if prefix.starts_with("data:") => {
                    healed.push(Problem::new(
                        WIRE_PATH,
                        format!(
                            "starts with {} instead of {WIRE_PREFIX:?}; read what follows the first comma",
                            quoted(prefix)
                        ),
                    ));
                    payload
                }
                _ => return AccountMapping::from_wire(wire).map(|mapping| (mapping, healed)),
            },
        };
        let text = decoded_text(payload.trim())?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut value = json_document(text)?;
        pad_short_account_ids(&mut value, &mut healed);
        let mapping = AccountMapping::from_value(&value)?;
        Ok((mapping, healed))
    }
}

/// The text the base64 `payload` holds.
fn decoded_text(payload: &str) -> Result<String, Error> {
    let bytes = STANDARD.decode(payload).map_err(|err| {
        problem(format!(
            "the text after the prefix is not standard base64 with padding: {err}"
        ))
    })?;
    String::from_utf8(bytes).map_err(|_| problem("the decoded mapping file is not UTF-8 text"))
}

/// `"234556677"` -> `"000234556677"`, for every all-digit id shorter than 12 digits.
fn pad_short_account_ids(value: &mut Value, healed: &mut Vec<Problem>) {
    let Some(entries) = value.get_mut(MAPPINGS_FIELD).and_then(Value::as_object_mut) else {
        return;
    };
    let mappings_path = member_path("$", MAPPINGS_FIELD);
    for (name, entry) in entries.iter_mut() {
        let Some(ids) = entry
            .get_mut(AWS_ACCOUNTS_FIELD)
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        let ids_path = member_path(&member_path(&mappings_path, name), AWS_ACCOUNTS_FIELD);
        for (index, id) in ids.iter_mut().enumerate() {
            if let Some(padded) = id.as_str().and_then(padded_account_id) {
                healed.push(Problem::new(
                    format!("{ids_path}[{index}]"),
                    format!(
                        "{id} has fewer than 12 digits; read as {padded:?} (leading zeros restored)"
                    ),
                ));
                *id = Value::String(padded);
            }
        }
    }
}

/// The 12-digit form of an all-digit id of 1 to 11 digits; `None` for anything else.
pub(crate) fn padded_account_id(id: &str) -> Option<String> {
    (!id.is_empty() && id.len() < 12 && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{id:0>12}"))
}

fn problem(message: impl Into<String>) -> Error {
    Error::Mapping(vec![Problem::new(WIRE_PATH, message)])
}
