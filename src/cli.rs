//! The command line: parse with clap, dispatch to the library, map errors to exit codes.

use crate::backend::{self, InstallRequest, Installation};
use crate::preset;
use crate::spec::Spec;
use crate::state::{default_state_root, write_atomic, ServicePaths, STATE_DIR_ENV};
use crate::status::{StatusReport, EXIT_NOT_INSTALLED};
use crate::supervisor::{self, logs, Control, Supervisor};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// Exit code for bad input (a spec that can't be used, a bad argument).
pub const EXIT_BAD_INPUT: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "respawn",
    version,
    about = "Keep a long-running program up as a real OS service, with honest restarts."
)]
pub struct Cli {
    /// Folder for services' state, logs and locks (default: the platform's state dir).
    #[arg(long, global = true, env = STATE_DIR_ENV, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Supervise the service in the foreground (what every backend runs).
    Run {
        /// The service's spec (TOML).
        #[arg(long, value_name = "FILE")]
        spec: PathBuf,
        /// Who keeps this supervisor up; shown by status.
        #[arg(long, default_value = "foreground", hide = true)]
        managed_by: String,
    },
    /// What the Windows service manager starts (not for use by hand).
    #[command(hide = true)]
    ServiceHost {
        /// The service's spec (TOML).
        #[arg(long, value_name = "FILE")]
        spec: PathBuf,
    },
    /// Check a spec and print what it means, without running anything.
    Check {
        /// The service's spec (TOML).
        #[arg(long, value_name = "FILE")]
        spec: PathBuf,
    },
    /// Print the spec a preset makes on this machine, to read, edit and install.
    Spec {
        #[command(flatten)]
        preset: PresetArgs,
    },
    /// Install the service with a backend (see `respawn install --help`).
    Install {
        /// The service's spec (TOML).
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "preset",
            conflicts_with = "preset"
        )]
        spec: Option<PathBuf>,
        /// Install a ready-made spec instead of a file (`respawn spec --preset NAME` shows it).
        #[arg(long, value_name = "NAME")]
        preset: Option<String>,
        /// The preset's profile: a second, separate instance with its own home
        /// (with --spec, write `profile = "NAME"` in the spec instead).
        #[arg(
            long,
            value_name = "NAME",
            requires = "preset",
            conflicts_with = "spec"
        )]
        profile: Option<String>,
        /// Print what was installed as JSON.
        #[arg(long)]
        json: bool,
        /// Backend to use instead of this OS's default.
        #[arg(long)]
        backend: Option<String>,
        /// Install for the current user only.
        #[arg(long, conflicts_with = "system")]
        user: bool,
        /// Install a system-wide service (systemd: the default as root; needs root).
        #[arg(long)]
        system: bool,
        /// Let the service manager run the program itself instead of respawn's
        /// supervisor (systemd, launchd); see docs/backends.md for what differs.
        #[arg(long)]
        native: bool,
        /// systemd --user: enable lingering, so the service runs without a login session.
        #[arg(long)]
        linger: bool,
    },
    /// Stop the service and remove it from its backend.
    Uninstall {
        /// The service: its spec's `name`, or `name-profile`.
        name: String,
    },
    /// Start an installed service.
    Start {
        /// The service: its spec's `name`, or `name-profile`.
        name: String,
    },
    /// Stop a service gracefully.
    Stop {
        /// The service: its spec's `name`, or `name-profile`.
        name: String,
    },
    /// Restart the service's child (a planned restart, not counted as a failure).
    Restart {
        /// The service: its spec's `name`, or `name-profile`.
        name: String,
    },
    /// Stop the service, run CMD (e.g. `pip install -U hermes-agent`), start it
    /// again and wait until it is ready; when CMD fails, start the old version again.
    Update {
        /// The service: its spec's `name`, or `name-profile`.
        name: String,
        /// The update command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        cmd: Vec<String>,
    },
    /// Show a service's state. Exit code: 0 running, 3 not running, 4 unknown.
    Status {
        /// The service: its spec's `name`, or `name-profile`.
        name: String,
        /// Print the status as JSON (same fields, same exit code).
        #[arg(long)]
        json: bool,
    },
    /// Check an installed service (or this machine) and explain each problem with a fix.
    Doctor {
        /// The service to check; without it, only the machine-wide checks run.
        name: Option<String>,
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print shell completions (bash, zsh, fish, powershell, elvish).
    Completions {
        #[arg(value_name = "SHELL")]
        shell: String,
    },
    /// Print the man page (roff) to stdout.
    Man,
    /// Show the service's captured output.
    Logs {
        /// The service: its spec's `name`, or `name-profile`.
        name: String,
        /// Keep printing what is appended.
        #[arg(short, long)]
        follow: bool,
        /// How many lines to show.
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: usize,
    },
}

#[derive(clap::Args, Debug)]
pub struct PresetArgs {
    /// The preset (available: hermes).
    #[arg(long, value_name = "NAME")]
    pub preset: String,
    /// The preset's profile: a second, separate instance with its own home.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

/// An error for the user: a one-line message, an optional hint, and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn bad_input(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError {
            code: EXIT_BAD_INPUT,
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError {
            code: 1,
            message: format!("{e:#}"),
            hint: None,
        }
    }
}

pub fn main() -> i32 {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("respawn: error: {}", e.message);
            if let Some(h) = e.hint {
                eprintln!("  hint: {h}");
            }
            e.code
        }
    }
}

fn dispatch(cli: Cli) -> Result<i32, CliError> {
    // Absolute, because installs record it and services start from another directory.
    let state_root = std::path::absolute(cli.state_dir.clone().unwrap_or_else(default_state_root))
        .map_err(anyhow::Error::from)?;
    match cli.command {
        Command::Run { spec, managed_by } => run(&spec, &state_root, &managed_by),
        Command::ServiceHost { spec } => service_host(&spec, &state_root),
        Command::Check { spec } => {
            let spec = load_spec(&spec)?;
            preflight(&spec)?;
            println!(
                "{}: ok ({} → {} {:?})",
                spec.id(),
                spec.id(),
                spec.command,
                spec.args
            );
            Ok(0)
        }
        Command::Spec { preset } => {
            let (text, _) = preset_spec(&preset.preset, preset.profile.as_deref())?;
            print!("{text}");
            Ok(0)
        }
        Command::Install {
            spec: spec_path,
            preset,
            profile,
            json,
            backend,
            user,
            system,
            native,
            linger,
        } => {
            let (spec, spec_path, generated) = match (spec_path, preset) {
                (Some(path), _) => {
                    let spec = load_spec(&path)?;
                    (spec, absolute(&path)?, None)
                }
                (None, Some(preset)) => {
                    let (text, spec) = preset_spec(&preset, profile.as_deref())?;
                    let path = ServicePaths::new(&state_root, &spec.id()).generated_spec();
                    (spec, path.clone(), Some((path, text)))
                }
                (None, None) => unreachable!("clap requires --spec or --preset"),
            };
            preflight(&spec)?;
            // A preset's spec is saved in the service's state dir; an install that
            // fails puts back what was there before.
            let saved_spec = match &generated {
                Some((path, text)) => Some(GeneratedSpec::save(path, text)?),
                None => None,
            };
            let exe =
                std::env::current_exe().map_err(|e| CliError::from(anyhow::Error::from(e)))?;
            // Only an automatic choice of backend falls back (Windows, not elevated).
            #[cfg_attr(not(windows), allow(unused_variables))]
            let explicit = backend.is_some();
            let backend_name = backend.unwrap_or_else(|| {
                // On Windows, --user means the per-user login entry instead of a service.
                if user && cfg!(windows) {
                    "user"
                } else {
                    backend::default_backend()
                }
                .to_string()
            });
            let backend = backend::by_name(&backend_name)
                .map_err(|e| CliError::bad_input(e.to_string(), "see `respawn install --help`"))?;
            // Flags a backend would silently ignore are refused instead.
            let unsupported = match backend_name.as_str() {
                "systemd" => None,
                "launchd" => linger.then_some("--linger"),
                _ => native
                    .then_some("--native")
                    .or(linger.then_some("--linger")),
            };
            if let Some(flag) = unsupported {
                return Err(CliError::bad_input(
                    format!("{flag} does not apply to the {backend_name} backend"),
                    "--native works with systemd and launchd, --linger with systemd",
                ));
            }
            let req = InstallRequest {
                spec: &spec,
                spec_path: &spec_path,
                state_root: &state_root,
                respawn_exe: &exe,
                user_scope: user,
                system_scope: system,
                native,
                linger,
            };
            let since = std::time::SystemTime::now();
            let (result, fallback_reason) = match backend.install(&req) {
                #[cfg(windows)]
                Err(e) if !explicit && e.downcast_ref::<backend::scm::NotElevated>().is_some() => (
                    backend::by_name("user").and_then(|b| b.install(&req)),
                    Some(
                        "not running elevated, so no Windows service was installed; installed a per-user \
                         login entry instead (it starts the same supervisor, hidden, at every login)",
                    ),
                ),
                other => (other, None),
            };
            let inst = match result {
                Ok(inst) => inst,
                Err(e) => {
                    if let Some(saved) = saved_spec {
                        saved.roll_back();
                    }
                    return Err(e.into());
                }
            };
            // Some backends start the service as part of install (systemd's enable --now,
            // launchd's bootstrap); say which way it went rather than guess.
            let state = status(&state_root, &inst.service)
                .map(|r| r.state)
                .unwrap_or_else(|_| "unknown".into());
            report_install(&inst, fallback_reason, &state, json);
            // Started by the install: wait for ready (`[health]`), as `start` does.
            if !json && matches!(state.as_str(), "running" | "starting") {
                return Ok(crate::update::report_ready(&inst, since)?);
            }
            Ok(0)
        }
        Command::Uninstall { name } => {
            let inst = installed(&state_root, &name)?;
            backend::for_installation(&inst)?.uninstall(&inst)?;
            println!("uninstalled {name}");
            Ok(0)
        }
        Command::Start { name } => with_backend_ready(&state_root, &name, false, |b, i| b.start(i)),
        Command::Stop { name } => with_backend(&state_root, &name, |b, i| b.stop(i)),
        Command::Restart { name } => {
            with_backend_ready(&state_root, &name, true, |b, i| b.restart(i))
        }
        Command::Update { name, cmd } => Ok(crate::update::update(&state_root, &name, &cmd)?),
        Command::Status { name, json } => {
            let report = status(&state_root, &name)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("serializes")
                );
            } else {
                print!("{}", report.render_text());
            }
            Ok(report.exit_code())
        }
        Command::Logs {
            name,
            follow,
            lines,
        } => show_logs(&state_root, &name, follow, lines),
        Command::Doctor { name, json } => crate::doctor::run(&state_root, name.as_deref(), json),
        Command::Completions { shell } => crate::cli_docs::completions(&shell),
        Command::Man => crate::cli_docs::man(),
    }
}

fn run(spec_path: &Path, state_root: &Path, mode: &str) -> Result<i32, CliError> {
    let spec = load_spec(spec_path)?;
    preflight(&spec)?;
    let paths = ServicePaths::new(state_root, &spec.id());
    if let Some(holder) = crate::update::held_by_operation(&paths) {
        // Started by a service manager in the middle of an update: the updater
        // starts the service itself when it is done.
        eprintln!("respawn[{}]: not starting: {holder}", spec.id());
        return Ok(0);
    }
    let sup = Supervisor::prepare(spec, paths, mode).map_err(|e| CliError {
        code: 1,
        message: e.to_string(),
        hint: None,
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)?;
    let outcome = runtime.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        crate::signals::forward_to(tx).map_err(anyhow::Error::from)?;
        Ok::<_, anyhow::Error>(sup.run(rx).await)
    })?;
    Ok(outcome.exit_code())
}

#[cfg(windows)]
fn service_host(spec_path: &Path, state_root: &Path) -> Result<i32, CliError> {
    let spec = load_spec(spec_path)?;
    crate::service_host::run(spec, state_root.to_path_buf())?;
    Ok(0)
}

#[cfg(not(windows))]
fn service_host(_spec_path: &Path, _state_root: &Path) -> Result<i32, CliError> {
    Err(CliError::bad_input(
        "service-host exists only on Windows",
        "use `respawn run --spec FILE` to supervise in the foreground",
    ))
}

/// A preset's spec for this machine: (text, parsed). Bad names and a missing program
/// are bad input (exit 2).
fn preset_spec(name: &str, profile: Option<&str>) -> Result<(String, Spec), CliError> {
    let fail = |e: preset::PresetError| {
        let hint = match e {
            preset::PresetError::Unknown(_) => "see `respawn spec --help`",
            _ => "`respawn spec --preset NAME` prints the spec; save and edit it, then `respawn install --spec FILE`",
        };
        CliError::bad_input(e.to_string(), hint)
    };
    let preset = preset::get(name).map_err(fail)?;
    let facts = preset::locate::facts(&preset, profile).map_err(fail)?;
    preset.spec(&facts, profile).map_err(fail)
}

/// A spec file written by `install --preset`, with what it replaced, so a failed
/// install can put things back as they were.
struct GeneratedSpec {
    path: PathBuf,
    previous: Option<Vec<u8>>,
}

impl GeneratedSpec {
    fn save(path: &Path, text: &str) -> Result<GeneratedSpec, CliError> {
        let previous = std::fs::read(path).ok();
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(path.parent().expect("in a service dir"))?;
            write_atomic(path, text.as_bytes())
        };
        write().map_err(|e| CliError {
            code: 1,
            message: format!("cannot save the spec to {}: {e}", path.display()),
            hint: Some("check that the state dir is writable, or pass --state-dir".into()),
        })?;
        Ok(GeneratedSpec {
            path: path.to_path_buf(),
            previous,
        })
    }

    fn roll_back(self) {
        let _ = match self.previous {
            Some(bytes) => write_atomic(&self.path, &bytes),
            None => std::fs::remove_file(&self.path),
        };
    }
}

/// Say what `install` did, as a sentence or as JSON for programs that call respawn.
fn report_install(inst: &Installation, fallback_reason: Option<&str>, state: &str, json: bool) {
    if json {
        let mut value = serde_json::to_value(inst).expect("serializes");
        value["fallback_reason"] = fallback_reason.into();
        value["state"] = state.into();
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("serializes")
        );
        return;
    }
    if let Some(reason) = fallback_reason {
        println!("{reason}");
    }
    let next = match state {
        "running" | "starting" => format!("it is {state}; see `respawn status {}`", inst.service),
        _ => format!("start it with `respawn start {}`", inst.service),
    };
    println!(
        "installed {} with the {} backend ({}); {next}",
        inst.service, inst.backend, inst.os_name
    );
}

/// Read and validate a spec file; any problem is bad input (exit 2).
pub fn load_spec(path: &Path) -> Result<Spec, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::bad_input(
            format!("cannot read spec {}: {e}", path.display()),
            "pass the path of a TOML spec, e.g. --spec examples/echo.toml",
        )
    })?;
    let base = absolute(path)?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Spec::parse(&text, Some(path), &base).map_err(|e| CliError {
        code: EXIT_BAD_INPUT,
        message: e.to_string(),
        hint: Some("the spec format is described in README.md (\"The spec\")".into()),
    })
}

/// Checks that need the file system: the program exists and is executable, the
/// working directory exists. Run before anything is created.
pub fn preflight(spec: &Spec) -> Result<(), CliError> {
    if let Some(dir) = &spec.working_dir {
        if !dir.is_dir() {
            return Err(CliError::bad_input(
                format!("working_dir {} does not exist", dir.display()),
                "create it, or fix working_dir in the spec",
            ));
        }
    }
    supervisor::resolve_program(spec).map_err(|e| {
        CliError::bad_input(
            format!("command {e}"),
            "install the program, use its full path, or set PATH in the spec's [env]",
        )
    })?;
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf, CliError> {
    std::path::absolute(path).map_err(|e| {
        CliError::bad_input(
            format!("bad path {}: {e}", path.display()),
            "pass an existing file",
        )
    })
}

fn installed(state_root: &Path, name: &str) -> Result<Installation, CliError> {
    let paths = ServicePaths::new(state_root, name);
    Installation::read(&paths)
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| CliError {
            code: EXIT_NOT_INSTALLED,
            message: format!(
                "{name} is not installed (no record in {})",
                paths.dir.display()
            ),
            hint: Some(
                "install it with `respawn install --spec FILE`, or check the name and --state-dir"
                    .into(),
            ),
        })
}

fn with_backend(
    state_root: &Path,
    name: &str,
    action: impl FnOnce(&dyn backend::Backend, &Installation) -> anyhow::Result<()>,
) -> Result<i32, CliError> {
    let inst = installed(state_root, name)?;
    let backend = backend::for_installation(&inst)?;
    action(backend.as_ref(), &inst)?;
    Ok(0)
}

/// A start or restart, then the wait for ready (`[health]`).
fn with_backend_ready(
    state_root: &Path,
    name: &str,
    restart: bool,
    action: impl FnOnce(&dyn backend::Backend, &Installation) -> anyhow::Result<()>,
) -> Result<i32, CliError> {
    let paths = ServicePaths::new(state_root, name);
    if let Some(holder) = crate::update::held_by_operation(&paths) {
        return Err(CliError {
            code: 1,
            message: format!("{name} is busy: {holder}"),
            hint: Some("wait until it is done; it starts the service itself".into()),
        });
    }
    let since = match restart {
        true => std::time::SystemTime::now(),
        false => crate::update::start_baseline(&paths),
    };
    with_backend(state_root, name, action)?;
    let inst = installed(state_root, name)?;
    Ok(crate::update::report_ready(&inst, since)?)
}

fn status(state_root: &Path, name: &str) -> Result<StatusReport, CliError> {
    let paths = ServicePaths::new(state_root, name);
    match Installation::read(&paths).map_err(anyhow::Error::from)? {
        Some(inst) => Ok(backend::for_installation(&inst)?.status(&inst)?),
        // Not installed, but maybe run in the foreground with `respawn run`.
        None => Ok(backend::portable::supervisor_status(&paths, name, None)),
    }
}

fn show_logs(state_root: &Path, name: &str, follow: bool, lines: usize) -> Result<i32, CliError> {
    let paths = ServicePaths::new(state_root, name);
    let state = crate::state::ServiceState::read(&paths.state_file());
    let log_file = state
        .map(|s| s.log_file)
        .unwrap_or_else(|_| paths.default_log_file());
    let keep = 100; // read as many rotated files as exist, up to a sane bound
    match logs::tail_lines(&log_file, lines, keep) {
        Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !follow => {
            return Err(CliError {
                code: EXIT_NOT_INSTALLED,
                message: format!("no logs for {name}: {e}"),
                hint: Some("has the service run yet? check the name and --state-dir".into()),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(anyhow::Error::from(e).into()),
    }
    if follow {
        logs::follow(&log_file, &mut std::io::stdout()).map_err(anyhow::Error::from)?;
    }
    Ok(0)
}

/// Used by tests and the supervisor alike: a control channel type alias.
pub type ControlSender = tokio::sync::mpsc::UnboundedSender<Control>;
