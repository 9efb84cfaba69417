//! The `lwct` subcommands: read the input, ask `lwct-domain`, shape the answer.

use std::path::Path;

use lwct_domain::mapping::AccountMapping;
use lwct_domain::notification::Notification;
use lwct_domain::{AccountId, Error, Problem, event, notification};
use serde_json::{Value, json};

/// Why a command did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The command line is wrong or its file cannot be read (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The input was read and is invalid (exit 1).
    #[error(transparent)]
    Invalid(#[from] Error),
}

/// What a command prints on success: JSON, or a plain line (the wire string).
pub enum Output {
    Json(Value),
    Line(String),
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Json(value) => write!(f, "{value:#}"),
            Self::Line(line) => f.write_str(line),
        }
    }
}

/// Reads FILE, or standard input for `-`.
fn read_input(file: &Path) -> Result<String, Failure> {
    let read = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    };
    read.map_err(|err| Failure::Usage(format!("cannot read {}: {err}", file.display())))
}

/// Parses JSON input; a syntax error is invalid input at `$`, with its line and column.
fn read_json(file: &Path, invalid: fn(Problem) -> Error) -> Result<Value, Failure> {
    let text = read_input(file)?;
    serde_json::from_str(&text)
        .map_err(|err| Failure::Invalid(invalid(Problem::new("$", format!("not JSON: {err}")))))
}

fn read_mapping(file: &Path) -> Result<AccountMapping, Failure> {
    Ok(AccountMapping::from_json_str(&read_input(file)?)?)
}

pub fn mapping_validate(file: &Path) -> Result<Output, Failure> {
    let mapping = read_mapping(file)?;
    Ok(Output::Json(json!({
        "valid": true,
        "defaultLaceworkAccountAws": mapping.default_account(),
        "lacework_accounts": mapping.lacework_accounts().count(),
        "aws_accounts": mapping.mapped_accounts().len(),
    })))
}

pub fn mapping_encode(file: &Path) -> Result<Output, Failure> {
    Ok(Output::Line(read_mapping(file)?.to_wire()))
}

pub fn mapping_decode(file: &Path) -> Result<Output, Failure> {
    let text = read_input(file)?;
    let text = text.trim();
    // Accept the wire string as printed by `encode`, or quoted as it appears in API JSON.
    let wire = serde_json::from_str::<String>(text).unwrap_or_else(|_| text.to_owned());
    Ok(Output::Json(AccountMapping::from_wire(&wire)?.to_value()))
}

pub fn mapping_resolve(file: &Path, account: &AccountId) -> Result<Output, Failure> {
    let mapping = read_mapping(file)?;
    let resolution = mapping.resolve(account);
    Ok(Output::Json(json!({
        "aws_account": account,
        "lacework_account": resolution.lacework_account,
        "mapped": resolution.mapped,
    })))
}

pub fn event_parse(file: &Path) -> Result<Output, Failure> {
    let input = read_json(file, Error::Event)?;
    let mut events = event::parse(&input)?;
    if events.len() == 1 {
        json_of(events.remove(0))
    } else {
        json_of(events)
    }
}

/// `result` as the command's JSON output.
fn json_of(result: impl serde::Serialize) -> Result<Output, Failure> {
    serde_json::to_value(result)
        .map(Output::Json)
        .map_err(|err| Failure::Usage(format!("cannot show the result: {err}")))
}

pub fn notification_parse(file: &Path) -> Result<Output, Failure> {
    let input = read_json(file, Error::Notification)?;
    let objects = match notification::parse(&input)? {
        Notification::Test { bucket } => {
            eprintln!("lwct: an S3 test event for bucket {bucket}: it announces no log object");
            Vec::new()
        }
        Notification::Objects(objects) => objects,
    };
    json_of(objects)
}
