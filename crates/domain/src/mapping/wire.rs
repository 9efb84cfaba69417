//! Lacework's encoding of a mapping file in an integration's `data.accountMappingFile`: a
//! `data:` URL (RFC 2397) holding the JSON in standard base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{AccountMapping, quoted};
use crate::error::{Error, Problem};

/// What Lacework's own clients put before the base64 of the mapping file.
pub const WIRE_PREFIX: &str = "data:application/json;name=i.json;base64,";

/// The same data URL without its `name=` parameter. RFC 2397 makes parameters optional and
/// `name` only labels the payload as a file, so a value written by another client without it
/// means the same document; it is the only variation accepted.
const PREFIX_WITHOUT_NAME: &str = "data:application/json;base64,";

/// The path given to problems with the encoding (as opposed to the decoded document).
const WIRE_PATH: &str = "accountMappingFile";

pub(super) fn encode(mapping: &AccountMapping) -> String {
    // `Value`'s `Display` is compact JSON; the model's ordered maps fix the key order.
    let json = mapping.to_value().to_string();
    format!("{WIRE_PREFIX}{}", STANDARD.encode(json))
}

pub(super) fn decode(wire: &str) -> Result<AccountMapping, Error> {
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
    let bytes = STANDARD.decode(payload).map_err(|err| {
        problem(format!(
            "the text after the prefix is not standard base64 with padding: {err}"
        ))
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| problem("the decoded mapping file is not UTF-8 text"))?;
    AccountMapping::from_json_str(&text)
}

fn problem(message: impl Into<String>) -> Error {
    Error::Mapping(vec![Problem::new(WIRE_PATH, message)])
}
