//! `landing-zone`: a local AWS Control Tower landing zone (moto + the Lacework emulator) that
//! runs the product's functions as real Lambda processes. See crates/landing-zone/README.md.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use landing_zone::{LandingZone, Options, RunningState, find_repository_root, process};
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
    Up,
    /// Deliver EVENT_FILE to FUNCTION as AWS would and print its answer (setup gets a
    /// CloudFormation custom resource request, answered on loopback).
    Invoke {
        /// setup, account-lifecycle, auth-refresh or sns-custom-resource.
        function: String,
        /// JSON event file.
        event_file: PathBuf,
        /// Extra function variable, NAME=VALUE (repeatable).
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
    },
    /// Show stack sets and instances, Lacework integrations and queued work.
    State,
    /// Stop what `up` started.
    Down,
    /// Start a fresh landing zone, run the setup flow, check it, and stop (exit 0 on success).
    Demo {
        /// Leave the landing zone running afterwards (as after `up`).
        #[arg(long)]
        keep: bool,
    },
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
        Command::Up => {
            refuse_if_up(&options)?;
            let zone = LandingZone::start(options).await?;
            let described = zone.describe();
            let state_file = zone.options.state_file();
            let state = zone.detach();
            state.save(&state_file)?;
            Ok((
                json!({"up": described, "pids": {"moto": state.moto.pid, "laceworkEmulator": state.lacework.pid}, "stateFile": state_file}),
                true,
            ))
        }
        Command::Invoke {
            function,
            event_file,
            env,
        } => {
            let mut options = options;
            for pair in env {
                let Some((name, value)) = pair.split_once('=') else {
                    return Err(landing_zone::Error::Usage(format!(
                        "--env {pair:?}: write it as NAME=VALUE"
                    )));
                };
                options
                    .function_env
                    .insert(name.to_owned(), value.to_owned());
            }
            let zone = attach(options, bin_dir_given).await?;
            let text = std::fs::read_to_string(&event_file)
                .map_err(|err| landing_zone::Error::file(&event_file, err))?;
            let event: Value = serde_json::from_str(&text).map_err(|err| {
                landing_zone::Error::file(&event_file, format!("not JSON: {err}"))
            })?;
            if function == "setup" {
                let request = with_setup_defaults(&zone, event);
                let outcome = zone.invoke_custom_resource(&function, request).await?;
                let success = outcome.status() == Some("SUCCESS");
                Ok((json!(outcome), success))
            } else {
                let invoked = zone.invoke(&function, event).await?;
                let success = invoked.answer.is_response();
                Ok((json!(invoked), success))
            }
        }
        Command::State => {
            let zone = attach(options, bin_dir_given).await?;
            Ok((zone.inspect().await?, true))
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
            if let Some(pid) = state.lacework.pid {
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
            let zone = LandingZone::start(options).await?;
            let report = landing_zone::demo::run(&zone, &mut std::io::stderr()).await;
            let state_file = zone.options.state_file();
            if keep {
                zone.detach().save(&state_file)?;
            } else {
                zone.stop();
            }
            let report = report?;
            let passed = report.passed();
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

async fn attach(options: Options, bin_dir_given: bool) -> landing_zone::Result<LandingZone> {
    let state = RunningState::load(&options.state_file())?;
    let mut options = options;
    // The binaries of the run that is up, unless told otherwise.
    if !bin_dir_given {
        options.bin_dir = PathBuf::from(&state.bin_dir);
    }
    LandingZone::attach(options, state).await
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
        if state.moto.pid.is_some_and(is_running) {
            return Err(landing_zone::Error::Usage(format!(
                "a landing zone is already up (moto at {}); run landing-zone down first",
                state.moto.url
            )));
        }
    }
    Ok(())
}

fn is_running(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
