//! `landing-zone`: a local AWS Control Tower landing zone (moto + the Lacework emulator) that
//! runs the product's functions as real Lambda processes. See crates/landing-zone/README.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use landing_zone::flows::{DrainLimits, Schedule};
use landing_zone::{LandingZone, Options, RunningState, find_repository_root, process};
use lwct_domain::AccountId;
use serde_json::{Value, json};

/// A local AWS Control Tower landing zone for the Lacework integration.
///
/// Every subcommand prints JSON on stdout (demo prints a readable account on stderr too).
#[derive(Parser)]
#[command(name = "landing-zone", version)]
struct Cli {
    /// Repository root (default: the nearest folder above the current one, or above this
    /// program, that holds requirements-dev.txt and tools/venv.sh).
    #[arg(long, env = "LANDING_ZONE_ROOT", global = true)]
    root: Option<PathBuf>,
    /// Folder of the function binaries and lacework-emulator (default: this program's).
    #[arg(long, env = "LANDING_ZONE_BIN_DIR", global = true)]
    bin_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start moto and the emulator, seed the organization, and leave them running.
    Up {
        /// Function variable, NAME=VALUE (repeatable), for every later command, such as
        /// LACEWORK_OU_RULES=Prod=prod,Dev=dev.
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
    },
    /// Deliver EVENT_FILE to FUNCTION as AWS would and print what came of it: setup gets a
    /// CloudFormation custom resource request (answered on loopback); account-lifecycle gets
    /// the event through the account queue (then the custom resource requests of the stack
    /// instances it changed go to sns-custom-resource); sns-custom-resource gets a custom
    /// resource request through the registration topic, anything else as it is.
    Invoke {
        /// setup, account-lifecycle, auth-refresh or sns-custom-resource.
        function: String,
        /// JSON event file.
        event_file: PathBuf,
        /// Extra function variable, NAME=VALUE (repeatable).
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
    },
    /// Deliver what waits in the account queue to account-lifecycle, as Lambda's event
    /// source mapping does (and the custom resource requests that follow).
    Poll,
    /// Run a schedule once: auth-refresh, drain (sns-custom-resource's registration drain) or
    /// reconcile (its reconcile).
    Tick {
        /// auth-refresh, drain or reconcile.
        schedule: String,
        /// drain: run again until the registration queue is empty (bounded).
        #[arg(long)]
        until_empty: bool,
    },
    /// Change the organization in moto and deliver the event AWS would emit.
    Account {
        #[command(subcommand)]
        change: AccountChange,
    },
    /// Show stack sets and instances, Lacework integrations and queued work.
    State,
    /// Where each account stands, as `lwct status` reads it: the table on stderr, the JSON on
    /// stdout; exit 1 when anything is out of place.
    Status,
    /// Stop what `up` started.
    Down,
    /// Start a fresh landing zone, run the setup flow, check it, and stop (exit 0 on success).
    Demo {
        /// Leave the landing zone running afterwards (as after `up`).
        #[arg(long)]
        keep: bool,
    },
}

#[derive(Subcommand)]
enum AccountChange {
    /// Create account NAME in OU (path such as Workloads/Prod) and deliver Control Tower's
    /// CreateManagedAccount.
    Create {
        name: String,
        #[arg(long)]
        ou: String,
    },
    /// Move account ID into OU and deliver Organizations' MoveAccount.
    Move {
        id: String,
        #[arg(long)]
        ou: String,
    },
    /// Close account ID and deliver Organizations' CloseAccount.
    Close { id: String },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok((output, success)) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&output).unwrap_or_default()
            );
            if success {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            println!("{}", json!({"error": err.to_string()}));
            eprintln!("landing-zone: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the subcommand; returns what to print and whether it succeeded.
async fn run(cli: Cli) -> landing_zone::Result<(Value, bool)> {
    let options = options(&cli)?;
    let bin_dir_given = cli.bin_dir.is_some();
    match cli.command {
        Command::Up { env } => {
            refuse_if_up(&options)?;
            let mut options = options;
            set_env(&mut options, env)?;
            let zone = LandingZone::start(options).await?;
            let described = zone.describe();
            let state_file = zone.options.state_file();
            let state = zone.detach();
            state.save(&state_file)?;
            Ok((
                json!({"up": described, "pids": {"moto": state.moto.pid, "laceworkEmulator": state.lacework.emulator.pid}, "stateFile": state_file}),
                true,
            ))
        }
        Command::Invoke {
            function,
            event_file,
            env,
        } => {
            let mut options = options;
            set_env(&mut options, env)?;
            let zone = attach(options, bin_dir_given).await?;
            let text = std::fs::read_to_string(&event_file)
                .map_err(|err| landing_zone::Error::file(&event_file, err))?;
            let event: Value = serde_json::from_str(&text).map_err(|err| {
                landing_zone::Error::file(&event_file, format!("not JSON: {err}"))
            })?;
            match function.as_str() {
                "setup" => {
                    let request = with_setup_defaults(&zone, event);
                    let outcome = zone.invoke_custom_resource(&function, request).await?;
                    Ok((json!(outcome), outcome.status() == Some("SUCCESS")))
                }
                "account-lifecycle" => {
                    let queue = zone.account_queue().await?;
                    for body in queue_messages(&event) {
                        queue.send(&body).await?;
                    }
                    let run = zone.run_account_queue().await?;
                    Ok((json!(run), run.succeeded()))
                }
                "sns-custom-resource" if event.get("RequestType").is_some() => {
                    // Answered on the harness's listener, never at a URL from the file.
                    let mut request = event;
                    if let Some(fields) = request.as_object_mut() {
                        fields.remove("ResponseURL");
                    }
                    let delivered = zone.publish_registration_request(request).await?;
                    let success = delivered
                        .iter()
                        .all(|request| request.status() == Some("SUCCESS"));
                    Ok((json!({"delivered": delivered}), success))
                }
                _ => {
                    let invoked = zone.invoke(&function, event).await?;
                    Ok((json!(invoked), invoked.answer.is_response()))
                }
            }
        }
        Command::Poll => {
            let zone = attach(options, bin_dir_given).await?;
            let run = zone.run_account_queue().await?;
            Ok((json!(run), run.succeeded()))
        }
        Command::Tick {
            schedule,
            until_empty,
        } => {
            let Some(schedule) = Schedule::parse(&schedule) else {
                return Err(landing_zone::Error::Usage(format!(
                    "tick {schedule:?}: the schedules are auth-refresh, drain and reconcile"
                )));
            };
            let zone = attach(options, bin_dir_given).await?;
            if until_empty && schedule == Schedule::Drain {
                let drained = zone.drain_registrations(DrainLimits::default()).await?;
                Ok((json!(drained), drained.emptied()))
            } else {
                let invoked = zone.tick(schedule).await?;
                Ok((json!(invoked), invoked.answer.is_response()))
            }
        }
        Command::Account { change } => {
            let state_file = options.state_file();
            let mut zone = attach(options, bin_dir_given).await?;
            let changed = async {
                Ok(match change {
                    AccountChange::Create { name, ou } => {
                        let (account, run) = zone.enroll_account(&name, &ou).await?;
                        json!({"account": account, "delivered": run})
                    }
                    AccountChange::Move { id, ou } => {
                        let run = zone.relocate_account(&account_id(&id)?, &ou).await?;
                        json!({"delivered": run})
                    }
                    AccountChange::Close { id } => {
                        let run = zone.retire_account(&account_id(&id)?).await?;
                        json!({"delivered": run})
                    }
                })
            }
            .await;
            // Keep the processes' record, with the organization as it is now: also when the
            // change was made in moto but its event could not be delivered.
            zone.state.save(&state_file)?;
            Ok((changed?, true))
        }
        Command::State => {
            let zone = attach(options, bin_dir_given).await?;
            Ok((zone.inspect().await?, true))
        }
        Command::Status => {
            let zone = attach(options, bin_dir_given).await?;
            let status = zone.status().await?;
            eprint!("{}", status.table());
            Ok((json!(status), status.is_clean()))
        }
        Command::Down => {
            let state_file = options.state_file();
            let state = RunningState::load(&state_file)?;
            let mut stopped = Vec::new();
            if let Some(pid) = state.moto.pid {
                if process::stop_recorded(pid, "moto_server")? {
                    stopped.push(json!({"moto": pid}));
                }
            }
            if let Some(pid) = state.lacework.emulator.pid {
                if process::stop_recorded(pid, "lacework-emulator")? {
                    stopped.push(json!({"laceworkEmulator": pid}));
                }
            }
            std::fs::remove_file(&state_file)
                .map_err(|err| landing_zone::Error::file(&state_file, err))?;
            Ok((json!({"stopped": stopped}), true))
        }
        Command::Demo { keep } => {
            if keep {
                refuse_if_up(&options)?;
            }
            let options = options.with_function_env(
                lwct_domain::config::LACEWORK_OU_RULES,
                &landing_zone::demo::ou_rules_variable(),
            );
            let mut zone = LandingZone::start(options).await?;
            let report = landing_zone::demo::run(&mut zone, &mut std::io::stderr()).await;
            let state_file = zone.options.state_file();
            if keep {
                zone.detach().save(&state_file)?;
            } else {
                // Dropping the landing zone kills the moto and emulator processes it started.
                drop(zone);
            }
            let report = report?;
            let passed = report.checks.iter().all(|check| check.passed);
            eprintln!(
                "\n{}",
                if passed {
                    "demo: every check passed"
                } else {
                    "demo: some checks FAILED"
                }
            );
            Ok((
                json!({"passed": passed, "report": report, "kept": keep}),
                passed,
            ))
        }
    }
}

fn options(cli: &Cli) -> landing_zone::Result<Options> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from));
    let root = match &cli.root {
        Some(root) => root.clone(),
        None => std::env::current_dir()
            .ok()
            .and_then(|dir| find_repository_root(&dir))
            .or_else(|| exe_dir.as_deref().and_then(find_repository_root))
            .ok_or_else(|| {
                landing_zone::Error::Usage(
                    "cannot find the repository (requirements-dev.txt, tools/venv.sh); run from inside it or pass --root"
                        .to_owned(),
                )
            })?,
    };
    let bin_dir = match (&cli.bin_dir, exe_dir) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) => dir,
        (None, None) => root.join("target/debug"),
    };
    Ok(Options::new(root, bin_dir))
}

/// Adds `--env NAME=VALUE` pairs to the functions' variables.
fn set_env(options: &mut Options, pairs: Vec<String>) -> landing_zone::Result<()> {
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(landing_zone::Error::Usage(format!(
                "--env {pair:?}: write it as NAME=VALUE"
            )));
        };
        options
            .function_env
            .insert(name.to_owned(), value.to_owned());
    }
    Ok(())
}

async fn attach(options: Options, bin_dir_given: bool) -> landing_zone::Result<LandingZone> {
    let state = RunningState::load(&options.state_file())?;
    let mut options = options;
    // The variables given to `up`, unless given again.
    for (name, value) in &state.function_env {
        options
            .function_env
            .entry(name.clone())
            .or_insert_with(|| value.clone());
    }
    // The binaries of the run that is up, unless told otherwise.
    if !bin_dir_given {
        options.bin_dir = PathBuf::from(&state.bin_dir);
    }
    LandingZone::attach(options, state).await
}

/// The account id given on the command line.
fn account_id(text: &str) -> landing_zone::Result<AccountId> {
    AccountId::parse(text)
        .map_err(|err| landing_zone::Error::Usage(format!("account {text:?}: {err}")))
}

/// The message bodies EventBridge would put on the account queue for `event`: the event
/// itself, or, for an `aws:sqs` event (as Lambda would hand it over), each record's body.
fn queue_messages(event: &Value) -> Vec<String> {
    let Some(records) = event.get("Records").and_then(Value::as_array) else {
        return vec![event.to_string()];
    };
    records
        .iter()
        .map(|record| {
            let body = record.get("body").and_then(Value::as_str);
            body.map_or_else(|| record.to_string(), str::to_owned)
        })
        .collect()
}

/// Fills in what CloudFormation always sends and a hand-written event may leave out.
fn with_setup_defaults(zone: &LandingZone, event: Value) -> Value {
    let request_type = event
        .get("RequestType")
        .and_then(Value::as_str)
        .unwrap_or("Create")
        .to_owned();
    let mut request = zone
        .setup_resource()
        .request(&request_type, None, json!({}));
    if let (Some(defaults), Value::Object(given)) = (request.as_object_mut(), event) {
        for (key, value) in given {
            defaults.insert(key, value);
        }
    }
    request
}

/// `up` (and `demo --keep`) would overwrite the record of a landing zone that is still up.
fn refuse_if_up(options: &Options) -> landing_zone::Result<()> {
    if let Ok(state) = RunningState::load(&options.state_file()) {
        if state
            .moto
            .pid
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
        {
            return Err(landing_zone::Error::Usage(format!(
                "a landing zone is already up (moto at {}); run landing-zone down first",
                state.moto.url
            )));
        }
    }
    Ok(())
}
