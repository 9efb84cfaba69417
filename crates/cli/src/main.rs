//! `lwct`: the user's tool for account mappings, Control Tower events and CloudTrail
//! notifications - and the product's black-box test surface.
//!
//! Results are JSON on stdout; errors are plain words on stderr. Exit codes: 0 the input is
//! valid, 1 the input is invalid (stdout then carries `{"valid": false, "problems": [...]}`),
//! 2 the command itself is wrong (unknown flag, missing or unreadable file).

mod commands;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lwct_domain::AccountId;

use commands::Failure;

#[derive(Debug, Parser)]
#[command(
    name = "lwct",
    version,
    about = "Check account mappings and explain the events and notifications of the Lacework Control Tower integration.",
    after_help = "Every FILE may be `-` to read standard input.\nExit codes: 0 valid, 1 invalid input, 2 usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Account mapping files: which AWS account goes to which Lacework account.
    #[command(subcommand)]
    Mapping(MappingCommand),
    /// Control Tower lifecycle and Organizations events.
    #[command(subcommand)]
    Event(EventCommand),
    /// CloudTrail delivery notifications (SNS or S3 event notifications).
    #[command(subcommand)]
    Notification(NotificationCommand),
    /// Where each account of the organization stands: OU, state, member instance, Lacework
    /// sub-account, mapping file entry, and what is out of place (exit 1 when anything is).
    ///
    /// Reads the installation's settings from the functions' environment variables
    /// (AWS_REGION, TOWER_NAME_PREFIX, LACEWORK_URL, LACEWORK_ACCOUNT, LACEWORK_SECRET_ARN,
    /// LACEWORK_OU_RULES, TOWER_LOG_ARCHIVE_ACCOUNT_ID, TOWER_AUDIT_ACCOUNT_ID, ...) and AWS
    /// credentials as the AWS CLI does; changes nothing.
    Status {
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum MappingCommand {
    /// Check a mapping file and report every problem with its JSON path.
    Validate {
        /// The mapping file (JSON), or `-` for standard input.
        file: PathBuf,
    },
    /// Print a valid mapping file in Lacework's wire form (`data:application/json;...`).
    Encode {
        /// The mapping file (JSON), or `-` for standard input.
        file: PathBuf,
    },
    /// Turn Lacework's wire form back into the mapping file (pretty JSON).
    Decode {
        /// A file holding the wire string; standard input when omitted or `-`.
        #[arg(default_value = "-")]
        file: PathBuf,
    },
    /// Tell which Lacework account an AWS account's data goes to.
    Resolve {
        /// The mapping file (JSON), or `-` for standard input.
        file: PathBuf,
        /// The 12-digit AWS account id.
        #[arg(value_parser = AccountId::parse)]
        account_id: AccountId,
    },
}

#[derive(Debug, Subcommand)]
enum EventCommand {
    /// Say what an event means for the product: kind, account, OU, state, or why it is ignored.
    ///
    /// Accepts the event bare (EventBridge) or wrapped (SNS, SQS, SQS of SNS). Prints one JSON
    /// object for one event and an array when the envelope carried several.
    Parse {
        /// The event (JSON), or `-` for standard input.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum NotificationCommand {
    /// List the CloudTrail log objects a notification announces: bucket, key, account, region,
    /// kind.
    Parse {
        /// The notification (JSON), or `-` for standard input.
        file: PathBuf,
    },
}

/// `lwct status`: 0 when everything is in place, 1 when something is not, 2 when the state
/// could not be read.
fn show_status(json: bool) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("lwct: no runtime to read the installation with: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(status::read()) {
        Ok(found) => {
            if json {
                println!("{:#}", serde_json::json!(found));
            } else {
                print!("{}", found.table());
                for drift in &found.drift {
                    eprintln!("lwct: {drift}");
                }
                for reason in &found.other_dead_letters {
                    eprintln!("lwct: dead-lettered work naming no account: {reason}");
                }
            }
            if found.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(err) => {
            eprintln!("lwct: {err}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Status { json } => return show_status(json),
        Command::Mapping(MappingCommand::Validate { file }) => commands::mapping_validate(&file),
        Command::Mapping(MappingCommand::Encode { file }) => commands::mapping_encode(&file),
        Command::Mapping(MappingCommand::Decode { file }) => commands::mapping_decode(&file),
        Command::Mapping(MappingCommand::Resolve { file, account_id }) => {
            commands::mapping_resolve(&file, &account_id)
        }
        Command::Event(EventCommand::Parse { file }) => commands::event_parse(&file),
        Command::Notification(NotificationCommand::Parse { file }) => {
            commands::notification_parse(&file)
        }
    };
    match outcome {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(message)) => {
            eprintln!("lwct: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Invalid(error)) => {
            let problems = serde_json::json!({ "valid": false, "problems": error.problems() });
            println!("{problems:#}");
            eprintln!("lwct: {error}");
            ExitCode::from(1)
        }
    }
}
